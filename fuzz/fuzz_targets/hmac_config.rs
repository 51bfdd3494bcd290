//! The configurable parts of `HmacSha256`: a signed-content template (`{t}.{body}`,
//! `v0:{t}:{body}`, ...), a prefix and an encoding. Parsing a template never panics and its
//! `Display` parses back to the same template; with an arbitrary prefix and either encoding, an
//! accepted signature header is exactly the prefix followed by, independently recomputed, the
//! HMAC of the body (hex in either case, or base64 with or without padding).
//!
//! Input: one selector byte (bit 0: base64), then `template \n prefix \n header value \n body`.
#![no_main]

use base64::Engine as _;
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue};
use libfuzzer_sys::fuzz_target;
use webhook_receiver::verify::{HmacSha256, SignatureEncoding, SignedContent, VerifySignature};

const SECRETS: [&str; 2] = [
    "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",
    "It's a Secret to Everybody",
];

fuzz_target!(|data: &[u8]| {
    let Some((&selector, rest)) = data.split_first() else {
        return;
    };
    let mut parts = rest.splitn(4, |&b| b == b'\n');
    let (Some(template), Some(prefix), Some(value)) = (parts.next(), parts.next(), parts.next())
    else {
        return;
    };
    let body = parts.next().unwrap_or_default();

    if let Ok(template) = std::str::from_utf8(template) {
        if let Ok(content) = SignedContent::template(template) {
            let shown = content.to_string();
            assert_eq!(shown, template, "Display is not the template");
            assert_eq!(SignedContent::template(&shown).unwrap(), content);
            assert_eq!(content.has_timestamp(), template.contains("{t}"));
            // A scheme signing a timestamp takes exactly the templates with {t}.
            let timed = HmacSha256::new(SECRETS)
                .unwrap()
                .timestamp_header("x-ts", template);
            assert_eq!(timed.is_ok(), content.has_timestamp());
        }
    }

    let Ok(prefix) = std::str::from_utf8(prefix) else {
        return;
    };
    let encoding = if selector & 1 != 0 {
        SignatureEncoding::Base64
    } else {
        SignatureEncoding::Hex
    };
    let scheme = HmacSha256::new(SECRETS)
        .unwrap()
        .prefix(prefix)
        .encoding(encoding);
    let Ok(header) = HeaderValue::from_bytes(value) else {
        return;
    };
    let mut headers = HeaderMap::new();
    headers.insert(scheme.header_name(), header);
    let direct = scheme.verify_body(&headers, body);
    if direct.is_ok() {
        assert!(scheme.check_headers(&headers).is_ok());
    }
    if let Ok(verified) = direct {
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(SECRETS[verified.secret_index()].as_bytes())
                .unwrap();
        mac.update(body);
        let tag = mac.finalize().into_bytes();
        let text = value
            .strip_prefix(prefix.as_bytes())
            .expect("accepted without the prefix");
        let presented = match encoding {
            SignatureEncoding::Hex => hex_decode(text),
            _ => base64::engine::GeneralPurpose::new(
                &base64::alphabet::STANDARD,
                base64::engine::GeneralPurposeConfig::new()
                    .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
            )
            .decode(text)
            .expect("accepted invalid base64"),
        };
        assert_eq!(
            presented.as_slice(),
            tag.as_slice(),
            "accepted a signature that is not the body's HMAC"
        );
    }
});

fn hex_decode(text: &[u8]) -> Vec<u8> {
    let s = std::str::from_utf8(text).expect("accepted non-UTF-8 hex");
    assert_eq!(s.len(), 64, "accepted hex of the wrong length");
    (0..32)
        .map(|i| u8::from_str_radix(&s[2 * i..2 * i + 2], 16).expect("accepted non-hex"))
        .collect()
}
