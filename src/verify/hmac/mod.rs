//! HMAC-SHA256 signatures, configurable enough for the common senders: what is signed (the body,
//! `{t}.{body}`, `v0:{t}:{body}`), where the signature and the timestamp are, the prefix, the
//! list syntax, hex or base64, and the timestamp tolerance.

mod content;
mod header;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::hmac::{Hmac, Mac};
use http::HeaderMap;
use http::header::HeaderName;
use sha2::Sha256;

pub use content::SignedContent;
pub use header::SignatureEncoding;
use header::{List, Tags, parse_list, parse_timestamp};

use super::tolerance::Tolerance;
use super::{ConfigError, Verified, VerifySignature};
use crate::error::{HeaderProblem, Rejection};

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

/// An HMAC-SHA256 signature of the raw request body, sent in a header: the one configurable
/// HMAC scheme, of which the generic format, GitHub, Stripe, Slack and Shopify are settings.
///
/// By default the sender puts the lowercase-hex HMAC-SHA256 of the exact body bytes, keyed with
/// the shared secret, in `X-Webhook-Signature`. Each part can be changed:
///
/// | Setting | Method | Examples |
/// |---|---|---|
/// | where the signature is | [`header`](Self::header) | `X-Hub-Signature-256`, `Stripe-Signature` |
/// | a prefix before it | [`prefix`](Self::prefix) | GitHub's `sha256=`, Slack's `v0=` |
/// | hex or base64 | [`encoding`](Self::encoding) | Shopify: base64 |
/// | a signed timestamp in its own header, and what is signed | [`timestamp_header`](Self::timestamp_header) | Slack: `X-Slack-Request-Timestamp`, `v0:{t}:{body}` |
/// | a `key=value` list holding the timestamp and several signatures, and what is signed | [`signature_list`](Self::signature_list) | Stripe: `t=..,v1=..,v1=..`, `{t}.{body}` |
/// | how far the timestamp may be from now, and the clock | [`tolerance`](Self::tolerance), [`clock`](Self::clock) | 5 minutes |
///
/// The presets in [`providers`](crate::providers) (feature `providers`) are these settings,
/// tested against each sender's own published code; [`github`](Self::github) is GitHub's.
///
/// - Every header is checked before the body is read: a request without a well-formed
///   signature, or whose timestamp is out of tolerance, never gets its body buffered.
/// - The tag of every accepted secret (rotation) is checked in constant time (`hmac`'s
///   `verify_slice`) against every presented signature (Stripe sends one `v1` per active
///   secret), without early exit; the index of the matching secret is logged at `debug` and
///   recorded as [`Verified`] in the request extensions.
/// - `Debug` shows the settings and how many secrets there are, never their values.
///
/// | Request | Answer |
/// |---|---|
/// | signature header missing, duplicated or malformed; no signature that decodes; the list's timestamp missing, duplicated or not integer seconds | 401 [`Rejection::Unauthorized`] |
/// | the timestamp header missing, empty, duplicated or not integer seconds | 400 [`Rejection::BadHeader`] |
/// | timestamp further from now than the tolerance, either direction | 401 [`Rejection::StaleTimestamp`] |
/// | no signature matches | 401 [`Rejection::Unauthorized`] |
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
/// // Slack: `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`.
/// let slack = HmacSha256::new(["8f742231b10e8888abcd99yyyzzz85a5"])
///     .unwrap()
///     .header("x-slack-signature")
///     .unwrap()
///     .prefix("v0=")
///     .timestamp_header("x-slack-request-timestamp", "v0:{t}:{body}")
///     .unwrap();
/// assert_eq!(slack.signed_content().to_string(), "v0:{t}:{body}");
///
/// let layer = VerifyWebhookLayer::new(github);
/// # let _ = layer;
/// ```
#[derive(Clone)]
pub struct HmacSha256 {
    header: HeaderName,
    prefix: Arc<str>,
    encoding: SignatureEncoding,
    /// Where the timestamp is, if one is signed.
    timestamp: Timestamp,
    content: SignedContent,
    tolerance: Tolerance,
    /// One keyed MAC per secret, cloned for each request.
    macs: Arc<[Hmac<Sha256>]>,
}

/// Where the signed timestamp is.
#[derive(Clone, Debug)]
enum Timestamp {
    /// No timestamp: the signature header holds one signature.
    None,
    /// In its own header (Slack); the signature header holds one signature.
    Header(&'static str),
    /// The signature header is a `key=value` list (Stripe): the timestamp in one field, a
    /// signature in each of the other.
    List {
        timestamp_field: Arc<str>,
        signature_field: Arc<str>,
    },
}

/// A request's parsed, timely headers.
struct Presented<'h> {
    /// The timestamp as sent (empty when none is signed).
    timestamp: &'h [u8],
    tags: Tags,
}

impl HmacSha256 {
    /// The default [`tolerance`](Self::tolerance): 5 minutes either way (Stripe's and Slack's).
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::verify::HmacSha256;
    /// assert_eq!(HmacSha256::DEFAULT_TOLERANCE, Duration::from_secs(300));
    /// ```
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

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
            timestamp: Timestamp::None,
            content: SignedContent::body(),
            tolerance: Tolerance::new(Self::DEFAULT_TOLERANCE),
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
    /// Matched case-sensitively. Empty by default. In a [`signature_list`](Self::signature_list),
    /// it is expected before each signature field's value.
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

    /// Signs a timestamp sent in its own header `name` (Unix seconds), with the content
    /// `signed` (a [`SignedContent::template`] with `{t}`, e.g. Slack's `v0:{t}:{body}`), and
    /// checks it is within the [tolerance](Self::tolerance) of now. Replaces a
    /// [`signature_list`](Self::signature_list).
    ///
    /// ```
    /// use http::HeaderMap;
    /// use webhook_receiver::Rejection;
    /// use webhook_receiver::verify::{HmacSha256, VerifySignature};
    ///
    /// let scheme = HmacSha256::new(["s3cr3t"])
    ///     .unwrap()
    ///     .timestamp_header("x-request-timestamp", "{t}:{body}")
    ///     .unwrap();
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-webhook-signature", "00".repeat(32).parse().unwrap());
    /// // No timestamp header: 400, before the body is read.
    /// assert!(matches!(scheme.check_headers(&headers), Err(Rejection::BadHeader { .. })));
    ///
    /// // The template must sign the timestamp.
    /// assert!(HmacSha256::new(["s"]).unwrap().timestamp_header("x-ts", "{body}").is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidHeader`] if `name` is not a valid header name,
    /// [`ConfigError::InvalidSignedContent`] if `signed` is not a template or has no `{t}`
    /// (a timestamp that is not signed could be changed by anyone).
    pub fn timestamp_header(self, name: &'static str, signed: &str) -> Result<Self, ConfigError> {
        HeaderName::from_bytes(name.as_bytes())?;
        Ok(Self {
            timestamp: Timestamp::Header(name),
            content: timestamped(signed)?,
            ..self
        })
    }

    /// Reads the signature header as a comma-separated `key=value` list, as Stripe sends
    /// `Stripe-Signature: t=1492774577,v1=5257a8..,v1=..,v0=..`: the timestamp (Unix seconds)
    /// in the field `timestamp_field` (exactly once), a signature in each `signature_field`
    /// field (one per secret the sender is signing with while it rotates; up to 8), signed over
    /// `signed` (a [`SignedContent::template`] with `{t}`, Stripe's `{t}.{body}`). Other keys
    /// (`v0`, a future `v2`) are ignored. Replaces a [`timestamp_header`](Self::timestamp_header).
    ///
    /// ```
    /// use std::time::{Duration, UNIX_EPOCH};
    /// use http::HeaderMap;
    /// use webhook_receiver::verify::{HmacSha256, Verified, VerifySignature};
    ///
    /// let signed_at = UNIX_EPOCH + Duration::from_secs(1_700_000_000);
    /// let stripe = HmacSha256::new(["whsec_test_secret"])
    ///     .unwrap()
    ///     .header("stripe-signature")
    ///     .unwrap()
    ///     .signature_list("t", "v1", "{t}.{body}")
    ///     .unwrap()
    ///     .clock(move || signed_at);
    /// let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    /// let value = stripe.sign(1_700_000_000, body); // t=1700000000,v1=<hex>
    /// let mut headers = HeaderMap::new();
    /// headers.insert("stripe-signature", format!("{value},v0=ignored").parse().unwrap());
    /// assert_eq!(stripe.verify_body(&headers, body).unwrap(), Verified::new(0));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSignedContent`] if `signed` is not a template or has no `{t}`,
    /// [`ConfigError::InvalidSignatureList`] if a field name is empty or holds `,` or `=`, or
    /// both are the same.
    pub fn signature_list(
        self,
        timestamp_field: &str,
        signature_field: &str,
        signed: &str,
    ) -> Result<Self, ConfigError> {
        let bad = |f: &str| f.is_empty() || f.contains([',', '=']) || f.trim() != f;
        if bad(timestamp_field) || bad(signature_field) || timestamp_field == signature_field {
            return Err(ConfigError::InvalidSignatureList);
        }
        Ok(Self {
            timestamp: Timestamp::List {
                timestamp_field: Arc::from(timestamp_field),
                signature_field: Arc::from(signature_field),
            },
            content: timestamped(signed)?,
            ..self
        })
    }

    /// Accepts timestamps up to `tolerance` away from now, in either direction (whole seconds;
    /// [`DEFAULT_TOLERANCE`](Self::DEFAULT_TOLERANCE) by default). Only used with a timestamp.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::verify::HmacSha256;
    ///
    /// let scheme = HmacSha256::new(["s3cr3t"]).unwrap().tolerance(Duration::from_secs(60));
    /// assert_eq!(scheme.timestamp_tolerance(), Duration::from_secs(60));
    /// ```
    #[must_use]
    pub fn tolerance(self, tolerance: Duration) -> Self {
        Self {
            tolerance: self.tolerance.clone().with_window(tolerance),
            ..self
        }
    }

    /// Reads the current time from `clock` instead of the system clock (for tests, or a
    /// trusted time source).
    ///
    /// ```
    /// use std::time::{Duration, SystemTime};
    /// use webhook_receiver::verify::HmacSha256;
    ///
    /// let signed_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_531_420_618);
    /// let scheme = HmacSha256::new(["s3cr3t"]).unwrap().clock(move || signed_at);
    /// # let _ = scheme;
    /// ```
    #[must_use]
    pub fn clock<F>(self, clock: F) -> Self
    where
        F: Fn() -> SystemTime + Send + Sync + 'static,
    {
        Self {
            tolerance: self.tolerance.clone().with_clock(clock),
            ..self
        }
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

    /// What is signed.
    ///
    /// ```
    /// use webhook_receiver::verify::{HmacSha256, SignedContent};
    /// assert_eq!(*HmacSha256::new(["s"]).unwrap().signed_content(), SignedContent::body());
    /// ```
    pub fn signed_content(&self) -> &SignedContent {
        &self.content
    }

    /// The header carrying the timestamp, when it has its own
    /// ([`timestamp_header`](Self::timestamp_header)).
    ///
    /// ```
    /// use webhook_receiver::verify::HmacSha256;
    /// let scheme = HmacSha256::new(["s"]).unwrap();
    /// assert_eq!(scheme.timestamp_header_name(), None);
    /// let scheme = scheme.timestamp_header("x-ts", "{t}.{body}").unwrap();
    /// assert_eq!(scheme.timestamp_header_name(), Some("x-ts"));
    /// ```
    pub fn timestamp_header_name(&self) -> Option<&'static str> {
        match self.timestamp {
            Timestamp::Header(name) => Some(name),
            Timestamp::None | Timestamp::List { .. } => None,
        }
    }

    /// The timestamp tolerance.
    ///
    /// ```
    /// use webhook_receiver::verify::HmacSha256;
    /// let scheme = HmacSha256::new(["s"]).unwrap();
    /// assert_eq!(scheme.timestamp_tolerance(), HmacSha256::DEFAULT_TOLERANCE);
    /// ```
    pub fn timestamp_tolerance(&self) -> Duration {
        self.tolerance.window()
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

    /// Signs `body` with the first secret, as a sender does, and returns the signature
    /// header's value: `<prefix><signature>`, or for a [`signature_list`](Self::signature_list)
    /// `t=<timestamp>,v1=<prefix><signature>` (with its field names). `timestamp` (Unix
    /// seconds) is signed when the scheme signs one (send it in the
    /// [timestamp header](Self::timestamp_header) too), and ignored otherwise.
    ///
    /// ```
    /// use webhook_receiver::verify::HmacSha256;
    ///
    /// let github = HmacSha256::github(["It's a Secret to Everybody"]).unwrap();
    /// assert_eq!(
    ///     github.sign(0, b"Hello, World!"),
    ///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
    /// );
    /// ```
    pub fn sign(&self, timestamp: i64, body: &[u8]) -> String {
        let t = timestamp.to_string();
        let mut mac = self.macs[0].clone();
        self.content.update(&mut mac, t.as_bytes(), body);
        let signature = self.encoding.encode(&mac.finalize().into_bytes());
        match &self.timestamp {
            Timestamp::None | Timestamp::Header(_) => format!("{}{signature}", self.prefix),
            Timestamp::List {
                timestamp_field,
                signature_field,
            } => format!(
                "{timestamp_field}={t},{signature_field}={}{signature}",
                self.prefix
            ),
        }
    }

    /// Parses every header the scheme reads and checks the timestamp: all but the HMAC.
    fn presented<'h>(&self, headers: &'h HeaderMap) -> Result<Presented<'h>, Rejection> {
        let mut values = headers.get_all(&self.header).iter();
        // Missing, or sent more than once (ambiguous): reject.
        let (Some(value), None) = (values.next(), values.next()) else {
            return Err(Rejection::Unauthorized);
        };
        let value = value.as_bytes();
        let (tags, timestamp) = match &self.timestamp {
            Timestamp::None => (self.single(value)?, None),
            Timestamp::Header(name) => {
                (self.single(value)?, Some(timestamp_header(headers, name)?))
            }
            Timestamp::List {
                timestamp_field,
                signature_field,
            } => {
                let List { timestamp, tags } = parse_list(
                    value,
                    timestamp_field.as_bytes(),
                    signature_field.as_bytes(),
                    self.prefix.as_bytes(),
                    self.encoding,
                )
                .map_err(|problem| {
                    tracing::debug!(header = %self.header, ?problem, "signature list refused");
                    Rejection::Unauthorized
                })?;
                if tags.as_slice().is_empty() {
                    // Nothing this scheme could match: no need to read the body.
                    return Err(Rejection::Unauthorized);
                }
                let text = timestamp.ok_or(Rejection::Unauthorized)?;
                let ts = parse_timestamp(text).ok_or(Rejection::Unauthorized)?;
                (tags, Some((text, ts)))
            }
        };
        let timestamp = match timestamp {
            Some((text, ts)) => {
                self.tolerance.check(ts)?;
                text
            }
            None => &[][..],
        };
        Ok(Presented { timestamp, tags })
    }

    /// The one signature of a plain header: the prefix, then a tag in the encoding.
    fn single(&self, value: &[u8]) -> Result<Tags, Rejection> {
        let tag = value
            .strip_prefix(self.prefix.as_bytes())
            .and_then(|text| self.encoding.decode(text))
            .ok_or(Rejection::Unauthorized)?;
        let mut tags = Tags::new();
        tags.push(tag);
        Ok(tags)
    }

    /// Checks every presented tag against every secret's HMAC of the signed content; returns
    /// the index of the (first) matching secret.
    ///
    /// Every secret and every tag is tried, whatever matches, so the time taken does not tell
    /// which one did.
    fn check(&self, presented: &Presented<'_>, body: &[u8]) -> Option<usize> {
        let mut found = None;
        for (i, mac) in self.macs.iter().enumerate() {
            let mut mac = mac.clone();
            self.content.update(&mut mac, presented.timestamp, body);
            for tag in presented.tags.as_slice() {
                if mac.clone().verify_slice(tag).is_ok() && found.is_none() {
                    found = Some(i);
                }
            }
        }
        found
    }
}

/// A signed content that must sign the timestamp.
fn timestamped(template: &str) -> Result<SignedContent, ConfigError> {
    let content = SignedContent::template(template)?;
    if !content.has_timestamp() {
        return Err(ConfigError::InvalidSignedContent(
            "a signed timestamp needs {t} in what is signed",
        ));
    }
    Ok(content)
}

/// The timestamp header: present once, integer Unix seconds (else 400).
fn timestamp_header<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
) -> Result<(&'h [u8], i64), Rejection> {
    let bad = |problem| Rejection::BadHeader {
        header: name,
        problem,
    };
    let mut values = headers.get_all(name).iter();
    let value = match (values.next(), values.next()) {
        (None, _) => return Err(bad(HeaderProblem::Missing)),
        (Some(_), Some(_)) => return Err(bad(HeaderProblem::Duplicate)),
        (Some(v), None) if v.is_empty() => return Err(bad(HeaderProblem::Empty)),
        (Some(v), None) => v.as_bytes(),
    };
    let ts = parse_timestamp(value).ok_or(bad(HeaderProblem::Malformed("integer Unix seconds")))?;
    Ok((value, ts))
}

/// An HMAC-SHA256 keyed with `secret`.
fn keyed(secret: &[u8]) -> Hmac<Sha256> {
    // HMAC accepts keys of any length; this cannot fail.
    Hmac::<Sha256>::new_from_slice(secret).expect("HMAC accepts keys of any length")
}

impl fmt::Debug for HmacSha256 {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut d = f.debug_struct("HmacSha256");
        d.field("header", &self.header)
            .field("prefix", &self.prefix)
            .field("encoding", &self.encoding);
        match &self.timestamp {
            Timestamp::None => {}
            Timestamp::Header(name) => {
                d.field("timestamp_header", name);
            }
            Timestamp::List {
                timestamp_field,
                signature_field,
            } => {
                d.field("signature_list", &(timestamp_field, signature_field));
            }
        }
        if !matches!(self.timestamp, Timestamp::None) {
            d.field("signed_content", &self.content)
                .field("tolerance", &self.tolerance);
        }
        d.field("secrets", &format_args!("[{} redacted]", self.macs.len()))
            .finish()
    }
}

impl VerifySignature for HmacSha256 {
    fn check_headers(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        self.presented(headers).map(drop)
    }

    fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, Rejection> {
        let presented = self.presented(headers)?;
        if let Some(index) = self.check(&presented, body) {
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
