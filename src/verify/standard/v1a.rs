//! Standard Webhooks asymmetric signatures: `v1a,<base64 ed25519 signature>` entries, verified
//! with `whpk_` public keys.
//!
//! Only what is specific to `v1a` lives here (the key format, the entry format, the ed25519
//! check); the headers, the timestamp and the order of the checks are shared with `v1` in
//! [`StandardWebhooks`](super::StandardWebhooks).

use base64::Engine as _;
use ed25519_dalek::{PUBLIC_KEY_LENGTH, SIGNATURE_LENGTH, Signature, VerifyingKey};

use super::BASE64_LENIENT;
use crate::verify::ConfigError;

/// The prefix of Standard Webhooks public keys (required: it tells them from `whsec_` secrets).
pub(super) const PUBLIC_KEY_PREFIX: &str = "whpk_";
/// The signature version of ed25519 signatures.
pub(super) const SIGNATURE_VERSION: &str = "v1a";

/// Parses one `whpk_<base64 of 32 bytes>` public key; `index` names it in the error.
///
/// A key that is not a point of the curve, or a weak (small-order) one, for which signatures
/// could be forged without the private key, is refused here rather than never matching later.
pub(super) fn public_key(index: usize, key: &str) -> Result<VerifyingKey, ConfigError> {
    let invalid = |problem| ConfigError::InvalidPublicKey { index, problem };
    let encoded = key
        .strip_prefix(PUBLIC_KEY_PREFIX)
        .ok_or_else(|| invalid("missing the `whpk_` prefix"))?;
    let bytes = BASE64_LENIENT
        .decode(encoded)
        .map_err(|_| invalid("not base64 after `whpk_`"))?;
    let bytes: [u8; PUBLIC_KEY_LENGTH] =
        bytes.try_into().map_err(|_| invalid("not 32 bytes long"))?;
    let key = VerifyingKey::from_bytes(&bytes).map_err(|_| invalid("not an ed25519 point"))?;
    if key.is_weak() {
        return Err(invalid("a weak (small-order) ed25519 key"));
    }
    Ok(key)
}

/// Decodes a `v1a,<base64>` entry to its 64-byte signature; `None` for other versions or
/// malformed entries.
pub(super) fn signature(entry: &[u8]) -> Option<Signature> {
    let encoded = entry
        .strip_prefix(SIGNATURE_VERSION.as_bytes())?
        .strip_prefix(b",")?;
    // Room for any 88-character input; longer ones fail as too large.
    let mut buf = [0u8; SIGNATURE_LENGTH + 4];
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(encoded, &mut buf)
        .ok()?;
    let bytes: [u8; SIGNATURE_LENGTH] = buf.get(..n)?.try_into().ok()?;
    Some(Signature::from_bytes(&bytes))
}

/// The index of the first key in `keys` that signed `{id}.{timestamp}.{body}` with one of
/// `signatures`.
///
/// Every key is tried against every signature, whatever matched before: the time taken depends
/// on how many keys and signatures there are, not on which key matched. Verification is strict
/// (RFC 8032 with canonical `S` and no small-order `R`), so a signature has one valid encoding.
pub(super) fn matching_key(
    keys: &[VerifyingKey],
    signatures: &[Signature],
    id: &[u8],
    timestamp: &[u8],
    body: &[u8],
) -> Option<usize> {
    if keys.is_empty() || signatures.is_empty() {
        return None;
    }
    // ed25519 hashes the message twice, so it needs it in one piece.
    let mut message = Vec::with_capacity(id.len() + timestamp.len() + body.len() + 2);
    message.extend_from_slice(id);
    message.push(b'.');
    message.extend_from_slice(timestamp);
    message.push(b'.');
    message.extend_from_slice(body);

    let mut found = None;
    for (i, key) in keys.iter().enumerate() {
        let mut matched = false;
        for signature in signatures {
            matched |= key.verify_strict(&message, signature).is_ok();
        }
        if matched && found.is_none() {
            found = Some(i);
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn whpk(key: &SigningKey) -> String {
        let encoded =
            base64::engine::general_purpose::STANDARD.encode(key.verifying_key().as_bytes());
        format!("{PUBLIC_KEY_PREFIX}{encoded}")
    }

    #[test]
    fn parses_public_keys_with_and_without_padding() {
        let signer = key(7);
        let padded = whpk(&signer);
        assert!(padded.ends_with('='));
        assert_eq!(public_key(0, &padded).unwrap(), signer.verifying_key());
        let bare = padded.trim_end_matches('=');
        assert_eq!(public_key(0, bare).unwrap(), signer.verifying_key());
    }

    #[test]
    fn rejects_malformed_public_keys_by_index_and_reason() {
        let good = whpk(&key(7));
        let cases = [
            (good.trim_start_matches("whpk_").to_owned(), "prefix"),
            ("whpk_".to_owned(), "32 bytes"),
            ("whpk_!!!!".to_owned(), "base64"),
            (format!("{good}AAAA"), "base64"),
            ("whpk_AAAA".to_owned(), "32 bytes"),
            // The identity point: small order.
            (
                format!(
                    "whpk_{}",
                    base64::engine::general_purpose::STANDARD.encode({
                        let mut b = [0u8; 32];
                        b[0] = 1;
                        b
                    })
                ),
                "weak",
            ),
        ];
        for (bad, why) in cases {
            match public_key(3, &bad) {
                Err(ConfigError::InvalidPublicKey { index: 3, problem }) => {
                    assert!(problem.contains(why), "{bad}: {problem}");
                    // The error never echoes the key.
                    let shown = ConfigError::InvalidPublicKey { index: 3, problem }.to_string();
                    assert!(!shown.contains(&good[5..20]), "{shown}");
                }
                other => panic!("{bad}: {other:?}"),
            }
        }
    }

    #[test]
    fn decodes_only_v1a_entries_of_the_right_length() {
        let signer = key(1);
        let sig = signer.sign(b"m");
        let b64 = base64::engine::general_purpose::STANDARD.encode(sig.to_bytes());
        assert_eq!(signature(format!("v1a,{b64}").as_bytes()), Some(sig));
        for entry in [
            format!("v1,{b64}"),
            format!("v1a {b64}"),
            format!("v1a,{}", &b64[..b64.len() - 4]),
            format!("v1a,{b64}AAAA"),
            "v1a,".to_owned(),
            "v1a".to_owned(),
            format!("v1b,{b64}"),
        ] {
            assert_eq!(signature(entry.as_bytes()), None, "{entry}");
        }
    }

    #[test]
    fn finds_the_first_matching_key_whatever_the_order_of_signatures() {
        let (a, b, c) = (key(1), key(2), key(3));
        let keys = [a.verifying_key(), b.verifying_key()];
        let message = b"msg_1.1700000000.{}";
        let by_b = b.sign(message);
        let by_c = c.sign(message);
        let at = |sigs: &[Signature]| matching_key(&keys, sigs, b"msg_1", b"1700000000", b"{}");
        assert_eq!(at(&[by_c, by_b]), Some(1));
        assert_eq!(at(&[by_b, a.sign(message)]), Some(0));
        assert_eq!(at(&[by_c]), None);
        assert_eq!(at(&[]), None);
        // Another message: no match.
        assert_eq!(
            matching_key(&keys, &[by_b], b"msg_1", b"1700000000", b"{} "),
            None
        );
    }
}
