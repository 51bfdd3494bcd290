//! Stripe's `Stripe-Signature: t=<unix>,v1=<hex>[,v1=..][,v0=..]` list, through the Stripe
//! preset with a fixed clock. Verification never panics, `check_headers` accepts whatever
//! `verify_body` accepts, the request future agrees with `verify_body`, and an accepted request
//! really carries, independently recomputed, the HMAC of `{t}.{body}` under the matching
//! secret in one of its `v1` entries, with exactly one timestamp within 300 s of the clock.
//!
//! Input: one selector byte (bit 0: send the header twice; bit 1: the clock 300 s later), then
//! `header value \n body`.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderValue, Request};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use webhook_receiver::providers::stripe;
use webhook_receiver::verify::{VerifyRequest, VerifySignature};

/// The vectors' secrets (tests/vectors/providers.json).
const SECRETS: [&str; 2] = ["whsec_test_secret", "whsec_rotated_2f9c1e7d4b"];
/// The vectors' timestamp.
const T: u64 = 1_700_000_000;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (value, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let now = if selector & 2 != 0 { T + 300 } else { T };
    let scheme = stripe::scheme(SECRETS)
        .unwrap()
        .clock(move || UNIX_EPOCH + Duration::from_secs(now));
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut request = Request::post("/");
    let headers = request.headers_mut().unwrap();
    if selector & 1 != 0 {
        headers.append(stripe::SIGNATURE_HEADER, value.clone());
    }
    headers.append(stripe::SIGNATURE_HEADER, value.clone());
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();

    let scheme = Arc::new(scheme);
    let direct = scheme.verify_body(request.headers(), body);
    if direct.is_ok() {
        assert!(
            scheme.check_headers(request.headers()).is_ok(),
            "verify_body accepted what check_headers rejected"
        );
        assert!(selector & 1 == 0, "accepted a duplicated signature header");
    }
    let through_future = futures_executor::block_on(Arc::clone(&scheme).verify(request, 1 << 20));
    assert_eq!(
        direct.is_ok(),
        through_future.is_ok(),
        "verify_body and the future disagree"
    );

    if let Ok(verified) = direct {
        // Bytes, not text: entries the scheme does not read (`v0=`, `v2=`) may hold any
        // header byte, and are ignored as Stripe's libraries ignore them.
        let items: Vec<(&[u8], &[u8])> = value
            .as_bytes()
            .split(|&b| b == b',')
            .filter_map(|item| {
                let item = item.trim_ascii();
                let eq = item.iter().position(|&b| b == b'=')?;
                Some((&item[..eq], &item[eq + 1..]))
            })
            .collect();
        let stamps: Vec<&[u8]> = items
            .iter()
            .filter(|(k, _)| *k == b"t")
            .map(|(_, v)| *v)
            .collect();
        assert_eq!(stamps.len(), 1, "accepted {} timestamps", stamps.len());
        let stamp = std::str::from_utf8(stamps[0]).expect("accepted a non-UTF-8 timestamp");
        let t: u64 = stamp
            .parse()
            .expect("accepted a timestamp that is not digits");
        assert!(
            t.abs_diff(now) <= 300,
            "accepted a timestamp {t} out of tolerance at {now}"
        );
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(SECRETS[verified.secret_index()].as_bytes())
                .unwrap();
        mac.update(stamp.as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = hex_lower(&mac.finalize().into_bytes());
        assert!(
            items
                .iter()
                .any(|(k, v)| *k == b"v1" && v.to_ascii_lowercase() == expected.as_bytes()),
            "accepted without a v1 entry carrying the HMAC of {{t}}.{{body}}"
        );
    }
});

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
