//! The wire syntax of [`HmacSha256`](super::HmacSha256)'s headers: the signature's encoding,
//! the `key=value` list (Stripe's `t=..,v1=..,v1=..`), and timestamps. Header-only: nothing
//! here reads the body.

use base64::Engine as _;

/// Length of an HMAC-SHA256 tag.
pub(super) const TAG_LEN: usize = 32;

/// The most signatures one request may present (Stripe sends one `v1` entry per active
/// secret: one or two). More is answered 401, so a forged header cannot multiply the work.
pub(super) const MAX_SIGNATURES: usize = 8;

/// How the signature is written in its header.
///
/// ```
/// use webhook_receiver::verify::{HmacSha256, SignatureEncoding};
///
/// let scheme = HmacSha256::new(["s3cr3t"]).unwrap().encoding(SignatureEncoding::Base64);
/// assert_eq!(scheme.signature_encoding(), SignatureEncoding::Base64);
/// assert_eq!(SignatureEncoding::default(), SignatureEncoding::Hex);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
#[non_exhaustive]
pub enum SignatureEncoding {
    /// Hexadecimal, 64 characters (either case is accepted). The default; GitHub's, Stripe's
    /// and Slack's.
    #[default]
    Hex,
    /// Standard base64 (`+` and `/`), with or without `=` padding; Shopify's.
    Base64,
}

impl SignatureEncoding {
    /// Decodes a 32-byte tag, or `None` if `text` is not one in this encoding.
    pub(super) fn decode(self, text: &[u8]) -> Option<[u8; TAG_LEN]> {
        let mut tag = [0u8; TAG_LEN];
        match self {
            Self::Hex => hex::decode_to_slice(text, &mut tag).ok()?,
            Self::Base64 => {
                // Room for any 44-character input; longer ones fail as too large.
                let mut buf = [0u8; TAG_LEN + 4];
                let n = BASE64_LENIENT.decode_slice(text, &mut buf).ok()?;
                tag.copy_from_slice(buf.get(..n).filter(|b| b.len() == TAG_LEN)?);
            }
        }
        Some(tag)
    }

    /// Encodes a tag (lowercase hex, or padded standard base64), as senders write it.
    pub(super) fn encode(self, tag: &[u8]) -> String {
        match self {
            Self::Hex => hex::encode(tag),
            Self::Base64 => base64::engine::general_purpose::STANDARD.encode(tag),
        }
    }
}

/// Standard alphabet, padding optional.
const BASE64_LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The signatures a request presents: one (a plain header) or several (a list).
#[derive(Debug)]
pub(super) struct Tags {
    tags: [[u8; TAG_LEN]; MAX_SIGNATURES],
    len: usize,
}

impl Tags {
    pub(super) fn new() -> Self {
        Self {
            tags: [[0; TAG_LEN]; MAX_SIGNATURES],
            len: 0,
        }
    }

    /// Adds a tag; `false` if there are already [`MAX_SIGNATURES`].
    pub(super) fn push(&mut self, tag: [u8; TAG_LEN]) -> bool {
        let Some(slot) = self.tags.get_mut(self.len) else {
            return false;
        };
        *slot = tag;
        self.len += 1;
        true
    }

    pub(super) fn as_slice(&self) -> &[[u8; TAG_LEN]] {
        &self.tags[..self.len]
    }
}

/// A parsed `key=value` signature list (Stripe's `t=1492774577,v1=5257a8..,v0=6ffbb5..`).
#[derive(Debug)]
pub(super) struct List<'h> {
    /// The value of the timestamp field, if any.
    pub(super) timestamp: Option<&'h [u8]>,
    /// Every well-formed signature field's tag.
    pub(super) tags: Tags,
}

/// Why a list was refused.
#[derive(Debug, PartialEq, Eq)]
pub(super) enum ListError {
    /// The timestamp field appears more than once: ambiguous.
    DuplicateTimestamp,
    /// More than [`MAX_SIGNATURES`] well-formed signatures.
    TooManySignatures,
}

/// Parses a comma-separated `key=value` list, as Stripe's libraries do: items are split at
/// their first `=` (ASCII spaces around an item are ignored); the item whose key is
/// `timestamp_field` is the timestamp (at most once); each item whose key is `signature_field`
/// is a signature, `prefix` then `encoding`. Other keys (`v0`, a future `v2`), items without
/// `=` and signatures that do not decode are skipped: they cannot match.
pub(super) fn parse_list<'h>(
    value: &'h [u8],
    timestamp_field: &[u8],
    signature_field: &[u8],
    prefix: &[u8],
    encoding: SignatureEncoding,
) -> Result<List<'h>, ListError> {
    let mut list = List {
        timestamp: None,
        tags: Tags::new(),
    };
    for item in value.split(|&b| b == b',') {
        let item = item.trim_ascii();
        let Some(eq) = item.iter().position(|&b| b == b'=') else {
            continue;
        };
        let (key, field) = (&item[..eq], &item[eq + 1..]);
        if key == timestamp_field {
            if list.timestamp.replace(field).is_some() {
                return Err(ListError::DuplicateTimestamp);
            }
        } else if key == signature_field {
            let tag = field
                .strip_prefix(prefix)
                .and_then(|text| encoding.decode(text));
            if let Some(tag) = tag {
                if !list.tags.push(tag) {
                    return Err(ListError::TooManySignatures);
                }
            }
        }
    }
    Ok(list)
}

/// Parses Unix seconds written as ASCII digits (no sign, no spaces, at most 18 digits).
pub(super) fn parse_timestamp(text: &[u8]) -> Option<i64> {
    if text.is_empty() || text.len() > 18 || !text.iter().all(u8::is_ascii_digit) {
        return None;
    }
    std::str::from_utf8(text).ok()?.parse().ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    const HEX: &str = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";

    fn list(value: &str) -> Result<List<'_>, ListError> {
        parse_list(value.as_bytes(), b"t", b"v1", b"", SignatureEncoding::Hex)
    }

    #[test]
    fn parses_stripe_lists() {
        let value = format!("t=1492774577,v1={HEX},v0=6ffbb59b2300aae63f272406069a9788598b792a");
        let parsed = list(&value).unwrap();
        assert_eq!(parsed.timestamp, Some(&b"1492774577"[..]));
        assert_eq!(parsed.tags.as_slice().len(), 1);
        assert_eq!(hex::encode(parsed.tags.as_slice()[0]), HEX);

        // Rotation: two v1 entries; spaces around items; unknown keys and junk skipped.
        let value = format!("t=1, v1={HEX} ,v1={},junk,v2=zz,v1=nothex", "00".repeat(32));
        let parsed = list(&value).unwrap();
        assert_eq!(parsed.tags.as_slice().len(), 2);

        let parsed = list("v1=").unwrap();
        assert_eq!((parsed.timestamp, parsed.tags.as_slice().len()), (None, 0));
    }

    #[test]
    fn refuses_ambiguous_or_oversized_lists() {
        assert_eq!(list("t=1,t=2").unwrap_err(), ListError::DuplicateTimestamp);
        let many = vec![format!("v1={HEX}"); MAX_SIGNATURES + 1].join(",");
        assert_eq!(list(&many).unwrap_err(), ListError::TooManySignatures);
        let enough = vec![format!("v1={HEX}"); MAX_SIGNATURES].join(",");
        assert_eq!(list(&enough).unwrap().tags.as_slice().len(), MAX_SIGNATURES);
    }

    #[test]
    fn parses_only_plain_unix_seconds() {
        assert_eq!(parse_timestamp(b"1531420618"), Some(1_531_420_618));
        assert_eq!(parse_timestamp(b"0"), Some(0));
        for bad in [
            &b""[..],
            b"-1",
            b"+1",
            b" 1",
            b"1.5",
            b"1e9",
            b"9999999999999999999",
        ] {
            assert_eq!(parse_timestamp(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn encodings_round_trip() {
        let tag = [7u8; TAG_LEN];
        for encoding in [SignatureEncoding::Hex, SignatureEncoding::Base64] {
            let text = encoding.encode(&tag);
            assert_eq!(encoding.decode(text.as_bytes()), Some(tag));
        }
    }
}
