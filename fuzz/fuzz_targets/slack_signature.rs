//! Slack's two headers: `X-Slack-Request-Timestamp` (its own header, signed) and
//! `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`, through the Slack preset with a
//! fixed clock. Verification never panics; a missing or malformed timestamp is a 400, never an
//! acceptance; `check_headers` accepts whatever `verify_body` accepts; the request future
//! agrees; an accepted request carries digits within 300 s of the clock and, independently
//! recomputed, the HMAC of `v0:{t}:{body}`.
//!
//! Input: one selector byte (bit 0: send the timestamp twice; bit 1: the clock 300 s earlier),
//! then `timestamp \n signature \n body`.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderValue, Request, StatusCode};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use webhook_receiver::providers::slack;
use webhook_receiver::verify::{VerifyRequest, VerifySignature};

/// Slack's documented signing secret, and another.
const SECRETS: [&str; 2] = [
    "8f742231b10e8888abcd99yyyzzz85a5",
    "e6b19c573432dcc6b075501d51b51bb8",
];
/// Slack's documented timestamp.
const T: u64 = 1_531_420_618;

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(3, |&b| b == b'\n');
    let (Some(ts), Some(sig)) = (parts.next(), parts.next()) else {
        return;
    };
    let body = parts.next().unwrap_or_default();
    let now = if selector & 2 != 0 { T - 300 } else { T };
    let scheme = slack::scheme(SECRETS)
        .unwrap()
        .clock(move || UNIX_EPOCH + Duration::from_secs(now));
    let (Ok(ts_value), Ok(sig_value)) = (HeaderValue::from_bytes(ts), HeaderValue::from_bytes(sig))
    else {
        return;
    };
    let mut request = Request::post("/");
    let headers = request.headers_mut().unwrap();
    if selector & 1 != 0 {
        headers.append(slack::TIMESTAMP_HEADER, ts_value.clone());
    }
    headers.append(slack::TIMESTAMP_HEADER, ts_value.clone());
    headers.append(slack::SIGNATURE_HEADER, sig_value.clone());
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();

    let scheme = Arc::new(scheme);
    let header_check = scheme.check_headers(request.headers());
    let well_formed = selector & 1 == 0
        && !ts.is_empty()
        && ts.len() <= 18
        && ts.iter().all(u8::is_ascii_digit)
        && sig.starts_with(b"v0=")
        && sig.len() == 67
        && sig[3..].iter().all(u8::is_ascii_hexdigit);
    if let Err(rejection) = &header_check {
        if rejection.status() == StatusCode::BAD_REQUEST {
            let ts_ok = selector & 1 == 0 && !ts.is_empty() && ts.iter().all(u8::is_ascii_digit);
            assert!(
                !ts_ok || ts.len() > 18,
                "400 for a well-formed timestamp {ts:?}"
            );
        }
    }
    let direct = scheme.verify_body(request.headers(), body);
    if direct.is_ok() {
        assert!(
            header_check.is_ok(),
            "verify_body accepted what check_headers rejected"
        );
        assert!(well_formed, "accepted malformed headers");
    }
    let through_future = futures_executor::block_on(Arc::clone(&scheme).verify(request, 1 << 20));
    assert_eq!(
        direct.is_ok(),
        through_future.is_ok(),
        "verify_body and the future disagree"
    );

    if let Ok(verified) = direct {
        let t: u64 = std::str::from_utf8(ts).unwrap().parse().unwrap();
        assert!(
            t.abs_diff(now) <= 300,
            "accepted a timestamp {t} out of tolerance at {now}"
        );
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(SECRETS[verified.secret_index()].as_bytes())
                .unwrap();
        mac.update(b"v0:");
        mac.update(ts);
        mac.update(b":");
        mac.update(body);
        let expected: String = mac
            .finalize()
            .into_bytes()
            .iter()
            .map(|b| format!("{b:02x}"))
            .collect();
        assert_eq!(
            std::str::from_utf8(&sig[3..]).unwrap().to_ascii_lowercase(),
            expected,
            "accepted a signature that is not the HMAC of v0:{{t}}:{{body}}"
        );
    }
});
