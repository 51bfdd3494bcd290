//! HMAC-SHA256 of the raw body, in one header: the generic format and GitHub's.

use std::fmt;
use std::sync::Arc;

use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use http::HeaderMap;
use http::header::HeaderName;
use sha2::Sha256;

use super::{ConfigError, Verified, VerifySignature};
use crate::error::Rejection;

/// The default signature header of [`HmacSha256`].
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::verify::{DEFAULT_SIGNATURE_HEADER, HmacSha256, VerifySignature};
///
/// let scheme = HmacSha256::new(["It's a Secret to Everybody"]).unwrap();
/// assert_eq!(scheme.header_name(), DEFAULT_SIGNATURE_HEADER);
/// # let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
/// let mut headers = HeaderMap::new();
/// headers.insert(DEFAULT_SIGNATURE_HEADER, hex.parse().unwrap()); // hex HMAC-SHA256 of the body
/// assert!(scheme.verify_body(&headers, b"Hello, World!").is_ok());
/// ```
pub const DEFAULT_SIGNATURE_HEADER: &str = "x-webhook-signature";
/// GitHub's signature header, used by [`HmacSha256::github`].
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::verify::{GITHUB_SIGNATURE_HEADER, HmacSha256, VerifySignature};
///
/// let github = HmacSha256::github(["It's a Secret to Everybody"]).unwrap();
/// assert_eq!(github.header_name(), GITHUB_SIGNATURE_HEADER);
/// # let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
/// let mut headers = HeaderMap::new();
/// headers.insert(GITHUB_SIGNATURE_HEADER, format!("sha256={hex}").parse().unwrap());
/// assert!(github.verify_body(&headers, b"Hello, World!").is_ok());
/// ```
pub const GITHUB_SIGNATURE_HEADER: &str = "x-hub-signature-256";
/// GitHub's signature prefix, used by [`HmacSha256::github`].
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::verify::{GITHUB_SIGNATURE_PREFIX, HmacSha256, VerifySignature};
///
/// let github = HmacSha256::github(["It's a Secret to Everybody"]).unwrap();
/// assert_eq!(github.signature_prefix(), GITHUB_SIGNATURE_PREFIX);
/// # let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
/// let mut headers = HeaderMap::new();
/// headers.insert("x-hub-signature-256", hex.parse().unwrap()); // without the prefix
/// assert!(github.check_headers(&headers).is_err()); // 401, before the body is read
/// ```
pub const GITHUB_SIGNATURE_PREFIX: &str = "sha256=";

/// Length of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

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
    /// Hexadecimal, 64 characters (either case is accepted). The default, and GitHub's.
    #[default]
    Hex,
    /// Standard base64 (`+` and `/`), with or without `=` padding.
    Base64,
}

impl SignatureEncoding {
    /// Decodes a 32-byte tag, or `None` if `text` is not one in this encoding.
    fn decode(self, text: &[u8]) -> Option<[u8; TAG_LEN]> {
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
}

/// Standard alphabet, padding optional.
const BASE64_LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// An HMAC-SHA256 signature of the raw request body, sent in one header.
///
/// By default the sender puts the lowercase-hex HMAC-SHA256 of the exact body bytes, keyed with
/// the shared secret, in `X-Webhook-Signature`. The header name, a prefix before the signature
/// (GitHub's `sha256=`) and the encoding (hex or base64) can be changed;
/// [`github`](Self::github) is GitHub's format.
///
/// - A missing, duplicated or malformed signature header is answered 401 before the body is read.
/// - The tag is checked in constant time (`hmac`'s `verify_slice`), against every accepted secret
///   (rotation) without early exit; the index of the matching one is logged at `debug` and
///   recorded as [`Verified`] in the request extensions.
/// - `Debug` shows the header, prefix, encoding and how many secrets there are, never their
///   values.
///
/// ```
/// use webhook_receiver::verify::{HmacSha256}; use webhook_receiver::stack::VerifyWebhookLayer;
///
/// // `X-Webhook-Signature: <hex>`, accepting the new and the old secret during a rotation.
/// let generic = HmacSha256::new(["new-secret", "old-secret"]).unwrap();
/// assert_eq!(generic.secret_count(), 2);
/// assert!(!format!("{generic:?}").contains("old-secret"));
///
/// // `X-Hub-Signature-256: sha256=<hex>`.
/// let github = HmacSha256::github(["It's a Secret to Everybody"]).unwrap();
/// assert_eq!(github.header_name(), "x-hub-signature-256");
/// assert_eq!(github.signature_prefix(), "sha256=");
///
/// let layer = VerifyWebhookLayer::new(github);
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct HmacSha256 {
    header: HeaderName,
    prefix: Arc<str>,
    encoding: SignatureEncoding,
    /// One keyed MAC per secret, cloned for each request.
    macs: Arc<[Hmac<Sha256>]>,
}

impl HmacSha256 {
    /// Accepts the hex HMAC-SHA256 of the body under any of `secrets`, in `X-Webhook-Signature`,
    /// without prefix.
    ///
    /// ```
    /// use webhook_receiver::verify::{ConfigError, HmacSha256};
    ///
    /// assert!(HmacSha256::new(["s3cr3t"]).is_ok());
    /// assert!(matches!(HmacSha256::new(Vec::<String>::new()), Err(ConfigError::NoSecrets)));
    /// assert!(matches!(HmacSha256::new(["a", ""]), Err(ConfigError::EmptySecret(1))));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if there is no secret or one is empty.
    pub fn new<I, T>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let mut macs = Vec::new();
        for (i, secret) in secrets.into_iter().enumerate() {
            let secret = secret.as_ref();
            if secret.is_empty() {
                return Err(ConfigError::EmptySecret(i));
            }
            macs.push(keyed(secret));
        }
        if macs.is_empty() {
            return Err(ConfigError::NoSecrets);
        }
        Ok(Self {
            header: HeaderName::from_static(DEFAULT_SIGNATURE_HEADER),
            prefix: Arc::from(""),
            encoding: SignatureEncoding::Hex,
            macs: macs.into(),
        })
    }

    /// GitHub's format: `X-Hub-Signature-256: sha256=<hex>`.
    ///
    /// ```
    /// use webhook_receiver::verify::HmacSha256;
    ///
    /// let github = HmacSha256::github(["It's a Secret to Everybody"]).unwrap();
    /// assert_eq!(github.header_name(), "x-hub-signature-256");
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if there is no secret or one is empty.
    pub fn github<I, T>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let scheme = Self::new(secrets)?.prefix(GITHUB_SIGNATURE_PREFIX);
        Ok(Self {
            header: HeaderName::from_static(GITHUB_SIGNATURE_HEADER),
            ..scheme
        })
    }

    /// Reads the signature from the header `name` (case-insensitive) instead.
    ///
    /// ```
    /// use webhook_receiver::verify::HmacSha256;
    ///
    /// let scheme = HmacSha256::new(["s3cr3t"]).unwrap().header("X-Signature").unwrap();
    /// assert_eq!(scheme.header_name(), "x-signature");
    /// assert!(HmacSha256::new(["s3cr3t"]).unwrap().header("bad header").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHeader`] if `name` is not a valid header name.
    pub fn header(self, name: &str) -> Result<Self, ConfigError> {
        Ok(Self {
            header: HeaderName::from_bytes(name.as_bytes())?,
            ..self
        })
    }

    /// Expects `prefix` before the signature (e.g. `sha256=`); a value without it is rejected.
    /// Matched case-sensitively. Empty by default.
    ///
    /// ```
    /// use webhook_receiver::verify::HmacSha256;
    ///
    /// let scheme = HmacSha256::new(["s3cr3t"]).unwrap().prefix("sha256=");
    /// assert_eq!(scheme.signature_prefix(), "sha256=");
    /// ```
    #[must_use]
    pub fn prefix(self, prefix: &str) -> Self {
        Self {
            prefix: Arc::from(prefix),
            ..self
        }
    }

    /// Expects the signature in `encoding` ([`SignatureEncoding::Hex`] by default).
    ///
    /// ```
    /// use webhook_receiver::verify::{HmacSha256, SignatureEncoding};
    ///
    /// let scheme = HmacSha256::new(["s3cr3t"]).unwrap().encoding(SignatureEncoding::Base64);
    /// assert_eq!(scheme.signature_encoding(), SignatureEncoding::Base64);
    /// ```
    #[must_use]
    pub fn encoding(self, encoding: SignatureEncoding) -> Self {
        Self { encoding, ..self }
    }

    /// The header carrying the signature.
    ///
    /// ```
    /// use webhook_receiver::verify::HmacSha256;
    /// assert_eq!(HmacSha256::new(["s"]).unwrap().header_name(), "x-webhook-signature");
    /// ```
    pub fn header_name(&self) -> &HeaderName {
        &self.header
    }

    /// The prefix expected before the signature (empty if none).
    ///
    /// ```
    /// use webhook_receiver::verify::HmacSha256;
    /// assert_eq!(HmacSha256::new(["s"]).unwrap().signature_prefix(), "");
    /// ```
    pub fn signature_prefix(&self) -> &str {
        &self.prefix
    }

    /// The encoding of the signature.
    ///
    /// ```
    /// use webhook_receiver::verify::{HmacSha256, SignatureEncoding};
    /// let scheme = HmacSha256::new(["s"]).unwrap();
    /// assert_eq!(scheme.signature_encoding(), SignatureEncoding::Hex);
    /// ```
    pub fn signature_encoding(&self) -> SignatureEncoding {
        self.encoding
    }

    /// How many secrets are accepted.
    ///
    /// ```
    /// use webhook_receiver::verify::HmacSha256;
    /// assert_eq!(HmacSha256::new(["a", "b"]).unwrap().secret_count(), 2);
    /// ```
    pub fn secret_count(&self) -> usize {
        self.macs.len()
    }

    /// Checks the signature `tag` of `body`; returns the index of the matching secret.
    ///
    /// Every secret is tried, whatever matches, so the time taken does not tell which one did.
    fn check(&self, body: &[u8], tag: &[u8; TAG_LEN]) -> Option<usize> {
        let mut found = None;
        for (i, mac) in self.macs.iter().enumerate() {
            let mut mac = mac.clone();
            mac.update(body);
            if mac.verify_slice(tag).is_ok() && found.is_none() {
                found = Some(i);
            }
        }
        found
    }

    /// The decoded signature: the header present exactly once, with the prefix, decoding to 32
    /// bytes.
    fn signature(&self, headers: &HeaderMap) -> Result<[u8; TAG_LEN], Rejection> {
        let mut values = headers.get_all(&self.header).iter();
        // Missing, or sent more than once (ambiguous): reject.
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Rejection::Unauthorized);
        };
        value
            .as_bytes()
            .strip_prefix(self.prefix.as_bytes())
            .and_then(|text| self.encoding.decode(text))
            .ok_or(Rejection::Unauthorized)
    }
}

/// An HMAC-SHA256 keyed with `secret`.
fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

impl fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HmacSha256")
            .field("header", &self.header)
            .field("prefix", &self.prefix)
            .field("encoding", &self.encoding)
            .field("secrets", &format_args!("[{} redacted]", self.macs.len()))
            .finish()
    }
}

impl VerifySignature for HmacSha256 {
    fn check_headers(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        self.signature(headers).map(drop)
    }

    fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, Rejection> {
        let tag = self.signature(headers)?;
        if let Some(index) = self.check(body, &tag) {
            tracing::debug!(secret_index = index, "webhook signature matched");
            Ok(Verified::new(index))
        } else {
            tracing::debug!(header = %self.header, "webhook signature did not match any secret");
            Err(Rejection::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use base64::Engine as _;

    use super::*;

    const GITHUB_SECRET: &str = "It's a Secret to Everybody";
    const GITHUB_HEX: &str = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

    fn headers(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            value.parse().unwrap(),
        );
        h
    }

    #[test]
    fn rejects_empty_and_missing_secrets() {
        assert!(matches!(
            HmacSha256::new(Vec::<&str>::new()),
            Err(ConfigError::NoSecrets)
        ));
        assert!(matches!(
            HmacSha256::github(["a", ""]),
            Err(ConfigError::EmptySecret(1))
        ));
        assert!(matches!(
            HmacSha256::new(["a"]).unwrap().header("bad header"),
            Err(ConfigError::InvalidHeader(_))
        ));
    }

    #[test]
    fn verifies_github_vector_in_every_form() {
        let body = b"Hello, World!";
        let generic = HmacSha256::new([GITHUB_SECRET]).unwrap();
        for hex in [GITHUB_HEX.to_owned(), GITHUB_HEX.to_uppercase()] {
            let h = headers(DEFAULT_SIGNATURE_HEADER, &hex);
            generic.check_headers(&h).unwrap();
            assert_eq!(generic.verify_body(&h, body).unwrap(), Verified::new(0));
        }

        let github = HmacSha256::github([GITHUB_SECRET]).unwrap();
        let h = headers("X-Hub-Signature-256", &format!("sha256={GITHUB_HEX}"));
        assert_eq!(github.verify_body(&h, body).unwrap(), Verified::new(0));
        // Without the prefix: rejected before the body.
        let h = headers("X-Hub-Signature-256", GITHUB_HEX);
        assert!(matches!(
            github.check_headers(&h),
            Err(Rejection::Unauthorized)
        ));

        let raw = hex::decode(GITHUB_HEX).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&raw);
        let b64_scheme = generic.encoding(SignatureEncoding::Base64);
        for value in [b64.as_str(), b64.trim_end_matches('=')] {
            let h = headers(DEFAULT_SIGNATURE_HEADER, value);
            assert_eq!(b64_scheme.verify_body(&h, body).unwrap(), Verified::new(0));
        }
    }

    #[test]
    fn rejects_garbled_duplicated_and_missing_headers() {
        let scheme = HmacSha256::new([GITHUB_SECRET]).unwrap();
        for bad in [
            "",
            "zz",
            &GITHUB_HEX[..62],
            &format!("{GITHUB_HEX}00"),
            &format!("sha256={GITHUB_HEX}"),
        ] {
            let h = headers(DEFAULT_SIGNATURE_HEADER, bad);
            assert!(
                matches!(scheme.check_headers(&h), Err(Rejection::Unauthorized)),
                "{bad}"
            );
        }
        assert!(matches!(
            scheme.check_headers(&HeaderMap::new()),
            Err(Rejection::Unauthorized)
        ));
        let mut twice = headers(DEFAULT_SIGNATURE_HEADER, GITHUB_HEX);
        twice.append(DEFAULT_SIGNATURE_HEADER, GITHUB_HEX.parse().unwrap());
        assert!(matches!(
            scheme.check_headers(&twice),
            Err(Rejection::Unauthorized)
        ));
    }

    #[test]
    fn matches_each_rotated_secret_by_index() {
        let scheme = HmacSha256::new(["other", GITHUB_SECRET]).unwrap();
        let h = headers(DEFAULT_SIGNATURE_HEADER, GITHUB_HEX);
        assert_eq!(
            scheme.verify_body(&h, b"Hello, World!").unwrap(),
            Verified::new(1)
        );
        assert!(matches!(
            scheme.verify_body(&h, b"Hello, World?"),
            Err(Rejection::Unauthorized)
        ));
    }

    #[test]
    fn debug_redacts_secrets() {
        let scheme = HmacSha256::github(["hunter2-very-secret"]).unwrap();
        let dbg = format!("{scheme:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("1 redacted"), "{dbg}");
    }
}
