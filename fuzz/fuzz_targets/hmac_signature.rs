//! HMAC-SHA256 signature headers: hex (the generic `X-Webhook-Signature`), base64, GitHub's
//! `X-Hub-Signature-256: sha256=<hex>`, and a custom prefix. Verification never panics, the
//! request future agrees with `verify_body`, and an accepted request really carries the HMAC
//! of its body.
//!
//! Input: one selector byte (low 2 bits: hex, base64, github, `v1=` prefixed base64; bit 2:
//! send the header twice), then `header value \n body`.
#![no_main]

use std::sync::Arc;

use bytes::Bytes;
use http::{HeaderValue, Request};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use webhook_receiver::testing::hmac_sha256_hex;
use webhook_receiver::verify::{HmacSha256, SignatureEncoding, VerifyRequest, VerifySignature};

/// The public test vectors' secrets.
const SECRETS: [&str; 3] = ["It's a Secret to Everybody", "mysecret", "42"];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let (value, body) = match rest.iter().position(|&b| b == b'\n') {
        Some(i) => (&rest[..i], &rest[i + 1..]),
        None => (rest, &[][..]),
    };
    let scheme = match selector & 3 {
        0 => HmacSha256::new(SECRETS).unwrap(),
        1 => HmacSha256::new(SECRETS)
            .unwrap()
            .encoding(SignatureEncoding::Base64),
        2 => HmacSha256::github(SECRETS).unwrap(),
        _ => HmacSha256::new(SECRETS)
            .unwrap()
            .header("X-Signature")
            .unwrap()
            .prefix("v1=")
            .encoding(SignatureEncoding::Base64),
    };
    let Ok(value) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut request = Request::post("/");
    let headers = request.headers_mut().unwrap();
    if selector & 4 != 0 {
        headers.append(scheme.header_name(), value.clone());
    }
    headers.append(scheme.header_name(), value.clone());
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
        assert!(selector & 4 == 0, "accepted a duplicated signature header");
    }
    let through_future = futures_executor::block_on(Arc::clone(&scheme).verify(request, 1 << 20));
    assert_eq!(
        direct.is_ok(),
        through_future.is_ok(),
        "verify_body and the request future disagree"
    );

    if let Ok(verified) = direct {
        let expected = hmac_sha256_hex(SECRETS[verified.secret_index()], body);
        let text = std::str::from_utf8(value.as_bytes()).expect("accepted a non-UTF-8 header");
        let text = text
            .strip_prefix(scheme.signature_prefix())
            .expect("accepted without the prefix");
        let presented = match scheme.signature_encoding() {
            SignatureEncoding::Hex => text.to_ascii_lowercase(),
            SignatureEncoding::Base64 => {
                use base64::Engine as _;
                let engine = base64::engine::GeneralPurpose::new(
                    &base64::alphabet::STANDARD,
                    base64::engine::GeneralPurposeConfig::new()
                        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
                );
                hex_lower(&engine.decode(text).expect("accepted invalid base64"))
            }
            _ => return,
        };
        assert_eq!(
            presented, expected,
            "accepted a signature that is not the body's HMAC"
        );
    }
});

fn hex_lower(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
