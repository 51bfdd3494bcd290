//! Standard Webhooks: the `webhook-id`, `webhook-timestamp` and `webhook-signature` headers
//! (or Svix's `svix-*` names) and the body all come from the input. Verification never panics,
//! the request future agrees with `verify_body`, and an accepted request really carries an
//! HMAC of `{id}.{timestamp}.{body}` under the secret it names.
//!
//! Input: one flags byte, then `id \n timestamp \n signature \n body` (the body is the rest; a
//! missing part is a missing header; a part that is not a valid header value is skipped).
//! Flags: bits 0-2 send id/timestamp/signature under the `svix-` name, bit 3 sends the
//! signature header twice, bit 4 also sends an empty `webhook-id`.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use hmac::{Hmac, Mac};
use http::{HeaderValue, Request};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use webhook_receiver::verify::{StandardWebhooks, VerifyRequest, VerifySignature};

/// The two public test vectors' secrets; the clock is fixed at the second one's timestamp.
const SECRETS: [&str; 2] = [
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD",
];
const NOW: u64 = 1_649_367_553;

fn scheme() -> StandardWebhooks {
    StandardWebhooks::new(SECRETS)
        .unwrap()
        .clock(|| UNIX_EPOCH + Duration::from_secs(NOW))
}

fn key(secret: &str) -> Vec<u8> {
    let encoded = secret.strip_prefix("whsec_").unwrap_or(secret);
    base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .unwrap()
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(4, |&b| b == b'\n');
    let id = parts.next();
    let timestamp = parts.next();
    let signature = parts.next();
    let body = parts.next().unwrap_or_default();

    let mut request = Request::post("/");
    let named = |bit: u8, plain: &'static str, svix: &'static str| {
        if flags & (1 << bit) != 0 { svix } else { plain }
    };
    let headers = request.headers_mut().unwrap();
    for (bit, (plain, svix), value) in [
        (0, ("webhook-id", "svix-id"), id),
        (1, ("webhook-timestamp", "svix-timestamp"), timestamp),
        (2, ("webhook-signature", "svix-signature"), signature),
    ] {
        let Some(Ok(value)) = value.map(HeaderValue::from_bytes) else {
            continue;
        };
        let name = named(bit, plain, svix);
        if bit == 2 && flags & (1 << 3) != 0 {
            headers.append(name, value.clone());
        }
        headers.append(name, value);
    }
    if flags & (1 << 4) != 0 {
        headers.append("webhook-id", HeaderValue::from_static(""));
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();

    let scheme = Arc::new(scheme());
    let direct = scheme.verify_body(request.headers(), body);
    let headers_ok = scheme.check_headers(request.headers()).is_ok();
    if direct.is_ok() {
        assert!(
            headers_ok,
            "verify_body accepted what check_headers rejected"
        );
    }
    let headers = request.headers().clone();
    let through_future = futures_executor::block_on(scheme.verify(request, 1 << 20));
    assert_eq!(
        direct.is_ok(),
        through_future.is_ok(),
        "verify_body and the request future disagree: {direct:?} vs {:?}",
        through_future.as_ref().map(|_| ())
    );

    if let Ok(verified) = direct {
        // The accepted request carries the tag of `{id}.{timestamp}.{body}` under the secret
        // it names, computed here from the raw header bytes.
        let id = headers
            .get("webhook-id")
            .or_else(|| headers.get("svix-id"))
            .unwrap();
        let ts = headers
            .get("webhook-timestamp")
            .or_else(|| headers.get("svix-timestamp"))
            .unwrap();
        let mut mac =
            Hmac::<Sha256>::new_from_slice(&key(SECRETS[verified.secret_index()])).unwrap();
        mac.update(id.as_bytes());
        mac.update(b".");
        mac.update(ts.as_bytes());
        mac.update(b".");
        mac.update(body);
        let expected = mac.finalize().into_bytes();
        let sig_name = if headers.contains_key("webhook-signature") {
            "webhook-signature"
        } else {
            "svix-signature"
        };
        let carried = headers.get_all(sig_name).iter().any(|value| {
            value
                .as_bytes()
                .split(|&b| b == b' ')
                .filter_map(|entry| entry.strip_prefix(b"v1,"))
                .filter_map(|b64| base64::engine::general_purpose::STANDARD.decode(b64).ok())
                .any(|tag| tag == expected.as_slice())
        });
        assert!(carried, "accepted without a matching v1 signature");
        let ts: i64 = std::str::from_utf8(ts.as_bytes()).unwrap().parse().unwrap();
        assert!(
            ts.abs_diff(NOW as i64) <= 300,
            "accepted a stale timestamp {ts}"
        );
    }
});
