//! Standard Webhooks `v1a` (ed25519): the `whpk_` public-key parser, and the
//! `webhook-signature` parser on headers that mix `v1` and `v1a` entries.
//!
//! Input: one flags byte, then the rest.
//! - Bit 7 set: the rest is a public key. `StandardWebhooks::with_public_keys` never panics,
//!   and accepts exactly the strings that are `whpk_` + base64 (padding optional) of 32 bytes
//!   that ed25519-dalek reads as a point that is not of small order.
//! - Otherwise the rest is `id \n timestamp \n signature \n body` (as in `standard_webhooks`;
//!   a missing part is a missing header). The receiver has one `whsec_` secret (index 0) and two
//!   public keys (1 and 2), or with bit 3 the two public keys alone (0 and 1). Bits 0-2 send
//!   id/timestamp/signature under the `svix-` name. Bit 6 appends a genuine `v1a` entry by the
//!   first key over the raw header bytes, so that the accepting path is reached with arbitrary
//!   ids, timestamps and bodies. Verification never panics, the request future agrees with
//!   `verify_body`, an accepted request carries an entry that verifies (checked here with
//!   ed25519-dalek or HMAC) under the key its index names, with a timestamp within 300 s, and
//!   a request with a genuine entry whose headers pass is accepted.
#![no_main]

use std::sync::Arc;
use std::time::{Duration, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use ed25519_dalek::{Signature, Signer, SigningKey, Verifier, VerifyingKey};
use hmac::{Hmac, Mac};
use http::{HeaderMap, HeaderValue, Request};
use http_body_util::Full;
use libfuzzer_sys::fuzz_target;
use sha2::Sha256;
use webhook_receiver::verify::{StandardWebhooks, VerifyRequest, VerifySignature};

const SECRET: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// The seeds of the two keys (tests/vectors/standard_v1a.py's "key A" and "key B").
const SEEDS: [&str; 2] = [
    "47474f377561679ac535327cddfb7c36bb0e81b5d797df6f0b6a777c4628e5c7",
    "a4c53f7ba30e5239a05ec5b5817163abde7adf568f489efd79a69f00500aa253",
];
const NOW: u64 = 1_700_000_000;

fn signing_key(i: usize) -> SigningKey {
    let seed: [u8; 32] = hex_decode(SEEDS[i]).try_into().unwrap();
    SigningKey::from_bytes(&seed)
}

fn hex_decode(s: &str) -> Vec<u8> {
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&s[i..i + 2], 16).unwrap())
        .collect()
}

fn whpk(key: &VerifyingKey) -> String {
    format!(
        "whpk_{}",
        base64::engine::general_purpose::STANDARD.encode(key.as_bytes())
    )
}

/// The oracle for the key parser, written apart from the crate's.
fn valid_public_key(key: &str) -> bool {
    let Some(encoded) = key.strip_prefix("whpk_") else {
        return false;
    };
    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let Ok(bytes) = lenient.decode(encoded) else {
        return false;
    };
    let Ok(bytes) = <[u8; 32]>::try_from(bytes.as_slice()) else {
        return false;
    };
    VerifyingKey::from_bytes(&bytes).is_ok_and(|k| !k.is_weak())
}

fn public_key_parser(input: &[u8]) {
    let Ok(key) = std::str::from_utf8(input) else {
        return;
    };
    let parsed = StandardWebhooks::with_public_keys([key]);
    assert_eq!(
        parsed.is_ok(),
        valid_public_key(key),
        "with_public_keys({key:?}) = {:?}",
        parsed.as_ref().map(|_| ())
    );
    if let Err(e) = parsed {
        // Key material is never shown (the shortest key that could be is 8 characters).
        let shown = format!("{e} {e:?}");
        let material = key.trim_start_matches("whpk_");
        assert!(material.len() < 8 || !shown.contains(material), "{shown}");
    }
}

/// Whether some entry of the signature headers verifies under key `index` of the scheme.
fn carried(headers: &HeaderMap, index: usize, with_secret: bool, message: &[u8]) -> bool {
    let sig_name = if headers.contains_key("webhook-signature") {
        "webhook-signature"
    } else {
        "svix-signature"
    };
    let entries = headers
        .get_all(sig_name)
        .iter()
        .flat_map(|value| value.as_bytes().split(|&b| b == b' '));
    let b64 = base64::engine::general_purpose::STANDARD;
    if with_secret && index == 0 {
        let key = b64.decode(SECRET.trim_start_matches("whsec_")).unwrap();
        let mut mac = Hmac::<Sha256>::new_from_slice(&key).unwrap();
        mac.update(message);
        let expected = mac.finalize().into_bytes();
        return entries
            .filter_map(|entry| entry.strip_prefix(b"v1,"))
            .filter_map(|tag| b64.decode(tag).ok())
            .any(|tag| tag == expected.as_slice());
    }
    let key = signing_key(index - usize::from(with_secret)).verifying_key();
    entries
        .filter_map(|entry| entry.strip_prefix(b"v1a,"))
        .filter_map(|sig| b64.decode(sig).ok())
        .filter_map(|sig| <[u8; 64]>::try_from(sig.as_slice()).ok())
        .any(|sig| key.verify(message, &Signature::from_bytes(&sig)).is_ok())
}

fn signature_header(flags: u8, rest: &[u8]) {
    let with_secret = flags & (1 << 3) == 0;
    let sign = flags & (1 << 6) != 0;
    let mut parts = rest.splitn(4, |&b| b == b'\n');
    let id = parts.next();
    let timestamp = parts.next();
    let signature = parts.next();
    let body = parts.next().unwrap_or_default();

    let mut request = Request::post("/");
    let headers = request.headers_mut().unwrap();
    let named = |bit: u8, plain: &'static str, svix: &'static str| {
        if flags & (1 << bit) != 0 { svix } else { plain }
    };
    for (bit, (plain, svix), value) in [
        (0, ("webhook-id", "svix-id"), id),
        (1, ("webhook-timestamp", "svix-timestamp"), timestamp),
        (2, ("webhook-signature", "svix-signature"), signature),
    ] {
        let Some(Ok(value)) = value.map(HeaderValue::from_bytes) else {
            continue;
        };
        headers.append(named(bit, plain, svix), value);
    }
    // The signed content as the receiver must see it: the raw id and timestamp header values.
    let message = |headers: &HeaderMap| -> Option<Vec<u8>> {
        let id = headers
            .get("webhook-id")
            .or_else(|| headers.get("svix-id"))?;
        let ts = headers
            .get("webhook-timestamp")
            .or_else(|| headers.get("svix-timestamp"))?;
        let mut m = id.as_bytes().to_vec();
        m.push(b'.');
        m.extend_from_slice(ts.as_bytes());
        m.push(b'.');
        m.extend_from_slice(body);
        Some(m)
    };
    let genuine = sign && message(headers).is_some();
    if genuine {
        let content = message(headers).unwrap();
        let sig = signing_key(0).sign(&content);
        let entry = format!(
            "v1a,{}",
            base64::engine::general_purpose::STANDARD.encode(sig.to_bytes())
        );
        let name = named(2, "webhook-signature", "svix-signature");
        headers.append(name, HeaderValue::from_str(&entry).unwrap());
    }
    let request = request
        .body(Full::new(Bytes::copy_from_slice(body)))
        .unwrap();

    let keys = [
        signing_key(0).verifying_key(),
        signing_key(1).verifying_key(),
    ]
    .map(|k| whpk(&k));
    let scheme = if with_secret {
        StandardWebhooks::new([SECRET])
            .unwrap()
            .public_keys(&keys)
            .unwrap()
    } else {
        StandardWebhooks::with_public_keys(&keys).unwrap()
    };
    let scheme = Arc::new(scheme.clock(|| UNIX_EPOCH + Duration::from_secs(NOW)));

    let direct = scheme.verify_body(request.headers(), body);
    let checked = scheme.check_headers(request.headers());
    if direct.is_ok() {
        assert!(
            checked.is_ok(),
            "verify_body accepted what check_headers rejected"
        );
    }
    if genuine && checked.is_ok() {
        let index = direct
            .as_ref()
            .expect("a genuine v1a entry was rejected")
            .secret_index();
        assert!(
            index <= usize::from(with_secret),
            "genuine entry matched key {index}"
        );
    }
    let headers = request.headers().clone();
    let through_future = futures_executor::block_on(Arc::clone(&scheme).verify(request, 1 << 20));
    assert_eq!(
        direct.is_ok(),
        through_future.is_ok(),
        "verify_body and the request future disagree: {direct:?} vs {:?}",
        through_future.as_ref().map(|_| ())
    );
    if let Ok(verified) = direct {
        let content = message(&headers).expect("accepted without id or timestamp");
        assert!(
            carried(&headers, verified.secret_index(), with_secret, &content),
            "accepted without an entry by key {}",
            verified.secret_index()
        );
        let ts = headers
            .get("webhook-timestamp")
            .or_else(|| headers.get("svix-timestamp"))
            .unwrap();
        let ts: i64 = std::str::from_utf8(ts.as_bytes()).unwrap().parse().unwrap();
        assert!(
            ts.abs_diff(NOW as i64) <= 300,
            "accepted a stale timestamp {ts}"
        );
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&flags, rest)) = data.split_first() else {
        return;
    };
    if flags & 0x80 != 0 {
        public_key_parser(rest);
    } else {
        signature_header(flags, rest);
    }
});
