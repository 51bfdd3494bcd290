//! [Standard Webhooks](https://www.standardwebhooks.com/) signatures (Svix and others): `v1`
//! (HMAC-SHA256 with `whsec_` secrets) here, `v1a` (ed25519 with `whpk_` public keys) in `v1a.rs`.

mod v1a;

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use ::hmac::{Hmac, Mac};
use base64::Engine as _;
use ed25519_dalek::{Signature, VerifyingKey};
use http::{HeaderMap, HeaderValue};
use sha2::Sha256;
use subtle::ConstantTimeEq;

use super::tolerance::Tolerance;
use super::{ConfigError, Verified, VerifySignature};
use crate::error::{HeaderProblem, Rejection};

/// The message id header: unique per message, the same across retries.
///
/// ```
/// use http::{HeaderMap, StatusCode};
/// use webhook_receiver::Rejection;
/// use webhook_receiver::verify::{StandardWebhooks, VerifySignature, WEBHOOK_ID_HEADER};
///
/// let scheme = StandardWebhooks::new(["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]).unwrap();
/// let rejection = scheme.check_headers(&HeaderMap::new()).unwrap_err();
/// assert!(matches!(rejection, Rejection::BadHeader { header: WEBHOOK_ID_HEADER, .. }));
/// assert_eq!(rejection.status(), StatusCode::BAD_REQUEST);
/// ```
pub const WEBHOOK_ID_HEADER: &str = "webhook-id";
/// The timestamp header: unix seconds at which the message was signed.
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::Rejection;
/// use webhook_receiver::verify::{StandardWebhooks, VerifySignature};
/// use webhook_receiver::verify::{
///     WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
/// };
///
/// let scheme = StandardWebhooks::new(["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]).unwrap();
/// let mut headers = HeaderMap::new();
/// headers.insert(WEBHOOK_ID_HEADER, "msg_1".parse().unwrap());
/// headers.insert(WEBHOOK_TIMESTAMP_HEADER, "1649367553".parse().unwrap()); // April 2022
/// # let signature = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
/// headers.insert(WEBHOOK_SIGNATURE_HEADER, signature.parse().unwrap());
/// assert!(matches!(scheme.check_headers(&headers), Err(Rejection::StaleTimestamp { .. })));
/// ```
pub const WEBHOOK_TIMESTAMP_HEADER: &str = "webhook-timestamp";
/// The signature header: space-separated `v1,<base64>` (HMAC) and `v1a,<base64>` (ed25519)
/// entries.
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use http::HeaderMap;
/// use webhook_receiver::verify::{StandardWebhooks, VerifySignature};
/// use webhook_receiver::verify::{
///     WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
/// };
///
/// let signed_at = UNIX_EPOCH + Duration::from_secs(1_649_367_553);
/// let scheme = StandardWebhooks::new(["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"])
///     .unwrap()
///     .clock(move || signed_at);
/// let mut headers = HeaderMap::new();
/// # headers.insert(WEBHOOK_ID_HEADER, "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk".parse().unwrap());
/// # headers.insert(WEBHOOK_TIMESTAMP_HEADER, "1649367553".parse().unwrap());
/// // Other versions are skipped; any matching `v1` entry will do.
/// let signatures = "v2,bm90IHlldA== v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";
/// headers.insert(WEBHOOK_SIGNATURE_HEADER, signatures.parse().unwrap());
/// let body = br#"{"email":"test@example.com","username":"test_user"}"#;
/// assert!(scheme.verify_body(&headers, body).is_ok());
/// ```
pub const WEBHOOK_SIGNATURE_HEADER: &str = "webhook-signature";

/// Svix's branded names for the same headers, read when the unbranded one is absent.
const SVIX_ID_HEADER: &str = "svix-id";
const SVIX_TIMESTAMP_HEADER: &str = "svix-timestamp";
const SVIX_SIGNATURE_HEADER: &str = "svix-signature";

/// The prefix of Standard Webhooks secrets.
const SECRET_PREFIX: &str = "whsec_";
/// The symmetric signature version (HMAC-SHA256); `v1a` is in `v1a.rs`, other versions are
/// ignored.
const SIGNATURE_VERSION: &str = "v1";
/// The most `v1a` entries one request may carry: each costs an ed25519 verification per public
/// key, so a header stuffed with them would be a cheap way to burn the receiver's CPU.
const MAX_V1A_SIGNATURES: usize = 8;
const _: () = assert!(MAX_V1A_SIGNATURES == 8, "the 400's text and the docs say 8");
/// Length of an HMAC-SHA256 tag.
const TAG_LEN: usize = 32;

/// Standard alphabet, padding optional (secrets are often shared without it).
const BASE64_LENIENT: base64::engine::GeneralPurpose = base64::engine::GeneralPurpose::new(
    &base64::alphabet::STANDARD,
    base64::engine::GeneralPurposeConfig::new()
        .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
);

/// The [Standard Webhooks](https://www.standardwebhooks.com/) signature scheme, as sent by Svix
/// and others.
///
/// The sender signs `{webhook-id}.{webhook-timestamp}.{raw body}` and sends the signatures in
/// `webhook-signature`, space-separated `version,<base64>` entries (several while it rotates
/// keys):
///
/// | Entry | Signature | Verified with | Configured by |
/// |---|---|---|---|
/// | `v1,<base64>` | HMAC-SHA256, 32 bytes | a shared secret, `whsec_<base64>` (the prefix is optional) | [`new`](Self::new) |
/// | `v1a,<base64>` | ed25519, 64 bytes | a public key, `whpk_<base64 of 32 bytes>` (the prefix is required) | [`with_public_keys`](Self::with_public_keys), [`public_keys`](Self::public_keys) |
///
/// The sender keeps the ed25519 private key (`whsk_...`); the receiver only ever holds the
/// public key, so a leak of the receiver's configuration cannot forge webhooks.
///
/// - Several secrets and public keys can be accepted at once (rotation), and one header may
///   mix `v1` and `v1a` entries: a request passes when any entry matches any configured key.
///   The index of the matching key is logged at `debug` and recorded as [`Verified`]: secrets
///   are numbered first, in the order given, then public keys, continuing from the number of
///   secrets (with secrets `[s0, s1]` and public keys `[k0]`, `k0` is index 2; with public keys
///   alone, the first key is index 0). If several match, the lowest index is reported.
/// - Every `v1` signature is compared in constant time against every secret's tag, and every
///   `v1a` signature is verified (RFC 8032, strict) against every public key, without early
///   exit: the time taken depends on how many keys and entries there are, not on which one
///   matched. A request may carry at most 8 `v1a` entries (each costs one ed25519
///   verification per key); more is a 400.
/// - Entries the scheme cannot check are skipped, not errors: other versions (`v2,...`),
///   malformed entries, `v1a` entries when no public key is configured, `v1` entries when no
///   secret is.
/// - The timestamp must be within the [tolerance](Self::tolerance) (5 minutes by default) of
///   now, in both directions. It is checked before any HMAC is computed, and before the body
///   is read.
/// - The `svix-id`, `svix-timestamp` and `svix-signature` headers are read when the
///   `webhook-*` ones are absent. [`JsonFormat::key_header("webhook-id")`](crate::json::JsonFormat::key_header)
///   reads the id by the same rule, so the key is the id that was verified, whatever the brand.
/// - `Debug` shows the tolerance and how many secrets there are, never their values.
///
/// | Request | Answer |
/// |---|---|
/// | `webhook-id`, `webhook-timestamp` or `webhook-signature` missing, timestamp not an integer, more than 8 `v1a` entries | 400 [`Rejection::BadHeader`] |
/// | timestamp outside the tolerance | 401 [`Rejection::StaleTimestamp`] |
/// | no `v1` or `v1a` signature matches | 401 [`Rejection::Unauthorized`] |
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::verify::{StandardWebhooks}; use webhook_receiver::stack::VerifyWebhookLayer;
///
/// let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
///     .unwrap()
///     .tolerance(Duration::from_secs(60));
/// assert!(!format!("{scheme:?}").contains("MfKQ9r8"));
/// let layer = VerifyWebhookLayer::new(scheme);
/// # let _ = layer;
/// ```
///
/// Asymmetric signatures, while the sender moves from a shared secret to a key pair (the
/// `whpk_` keys are the sender's to publish; these two are derived from fixed seeds):
///
/// ```
/// use webhook_receiver::verify::StandardWebhooks;
///
/// // Only `v1a` entries, signed by either key.
/// let scheme = StandardWebhooks::with_public_keys([
///     "whpk_a13m6rZjnWnEP0qNmTxSsR1skd99yB5XBTGpuTV8iuU=", // new
///     "whpk_oz41CbRf8Nfa3ad387G/lHB+/Kgwnyay1fFSEdx4s1Y=", // old
/// ])
/// .unwrap();
/// assert_eq!((scheme.secret_count(), scheme.public_key_count()), (0, 2));
///
/// // `v1` and `v1a` in one header: the secret is index 0, the public key index 1.
/// let both = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
///     .unwrap()
///     .public_keys(["whpk_a13m6rZjnWnEP0qNmTxSsR1skd99yB5XBTGpuTV8iuU="])
///     .unwrap();
/// assert_eq!((both.secret_count(), both.public_key_count()), (1, 1));
/// ```
#[derive(Clone)]
pub struct StandardWebhooks {
    /// One keyed MAC per secret, cloned for each request (`v1`). May be empty when there are
    /// public keys.
    macs: Arc<[Hmac<Sha256>]>,
    /// ed25519 public keys (`v1a`); their [`Verified`] indexes follow the secrets'.
    public_keys: Arc<[VerifyingKey]>,
    tolerance: Tolerance,
}

impl StandardWebhooks {
    /// The default timestamp tolerance: 5 minutes, in both directions.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::verify::StandardWebhooks;
    /// assert_eq!(StandardWebhooks::DEFAULT_TOLERANCE, Duration::from_secs(300));
    /// ```
    pub const DEFAULT_TOLERANCE: Duration = Duration::from_secs(5 * 60);

    /// The shortest secret accepted, in decoded bytes: 24, the lower bound of the Standard
    /// Webhooks spec's key sizes (24 to 64 bytes; Svix issues 24). A shorter `whsec_` key is a
    /// configuration error, not a weak key silently used.
    ///
    /// ```
    /// use webhook_receiver::verify::StandardWebhooks;
    ///
    /// assert_eq!(StandardWebhooks::MIN_SECRET_LEN, 24);
    /// // whsec_ + 32 base64 characters = 24 bytes, the size Svix issues.
    /// assert!(StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).is_ok());
    /// ```
    pub const MIN_SECRET_LEN: usize = 24;

    /// Accepts signatures made with any of `secrets` (`whsec_<base64>`, or the bare base64).
    ///
    /// ```
    /// use webhook_receiver::verify::{StandardWebhooks, ConfigError};
    ///
    /// let scheme = StandardWebhooks::new([
    ///     "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD", // new
    ///     "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",       // old, without the prefix
    /// ])
    /// .unwrap();
    /// assert_eq!(scheme.secret_count(), 2);
    ///
    /// assert!(matches!(StandardWebhooks::new(["whsec_"]), Err(ConfigError::EmptySecret(0))));
    /// assert!(matches!(StandardWebhooks::new(["whsec_!!"]), Err(ConfigError::InvalidSecret(0))));
    /// assert!(matches!(StandardWebhooks::new(Vec::<&str>::new()), Err(ConfigError::NoSecrets)));
    /// // "whsec_" + base64 of 6 bytes: shorter than the spec's 24.
    /// assert!(matches!(
    ///     StandardWebhooks::new(["whsec_c2VjcmV0"]),
    ///     Err(ConfigError::SecretTooShort { index: 0, len: 6, min: 24 })
    /// ));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if there is no secret, or one is empty (or only `whsec_`), not base64,
    /// or shorter than [`MIN_SECRET_LEN`](Self::MIN_SECRET_LEN) decoded bytes.
    pub fn new<I, T>(secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let mut macs = Vec::new();
        for (i, secret) in secrets.into_iter().enumerate() {
            let secret = secret.as_ref();
            let encoded = secret.strip_prefix(SECRET_PREFIX).unwrap_or(secret);
            if encoded.is_empty() {
                return Err(ConfigError::EmptySecret(i));
            }
            let key = BASE64_LENIENT
                .decode(encoded)
                .map_err(|_| ConfigError::InvalidSecret(i))?;
            if key.is_empty() {
                return Err(ConfigError::EmptySecret(i));
            }
            if key.len() < Self::MIN_SECRET_LEN {
                return Err(ConfigError::SecretTooShort {
                    index: i,
                    len: key.len(),
                    min: Self::MIN_SECRET_LEN,
                });
            }
            macs.push(
                Hmac::<Sha256>::new_from_slice(&key).expect("HMAC accepts keys of any length"),
            );
        }
        if macs.is_empty() {
            return Err(ConfigError::NoSecrets);
        }
        Ok(Self {
            macs: macs.into(),
            public_keys: Arc::new([]),
            tolerance: Tolerance::new(Self::DEFAULT_TOLERANCE),
        })
    }

    /// Accepts `v1a` (ed25519) signatures made by the private key of any of `public_keys`
    /// (`whpk_<base64 of the 32-byte key>`), and nothing else: `v1` entries are skipped.
    ///
    /// ```
    /// use webhook_receiver::verify::{ConfigError, StandardWebhooks};
    ///
    /// let scheme =
    ///     StandardWebhooks::with_public_keys(["whpk_a13m6rZjnWnEP0qNmTxSsR1skd99yB5XBTGpuTV8iuU="])
    ///         .unwrap();
    /// assert_eq!((scheme.secret_count(), scheme.public_key_count()), (0, 1));
    ///
    /// let err = StandardWebhooks::with_public_keys(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]);
    /// assert!(matches!(err, Err(ConfigError::InvalidPublicKey { index: 0, .. })));
    /// let err = StandardWebhooks::with_public_keys(Vec::<String>::new());
    /// assert!(matches!(err, Err(ConfigError::NoPublicKeys)));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::NoPublicKeys`] if there is no key, [`ConfigError::InvalidPublicKey`] if
    /// one lacks the `whpk_` prefix, is not base64, does not decode to 32 bytes, is not an
    /// ed25519 point, or is a weak (small-order) key.
    pub fn with_public_keys<I, T>(public_keys: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        Ok(Self {
            macs: Arc::new([]),
            public_keys: parse_public_keys(public_keys)?,
            tolerance: Tolerance::new(Self::DEFAULT_TOLERANCE),
        })
    }

    /// Also accepts `v1a` (ed25519) signatures by any of `public_keys` (`whpk_...`), beside the
    /// secrets' `v1` ones, so that one header may carry both. Replaces public keys set before.
    /// Their [`Verified`] indexes follow the secrets'.
    ///
    /// ```
    /// use webhook_receiver::verify::StandardWebhooks;
    ///
    /// let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    ///     .unwrap()
    ///     .public_keys([
    ///         "whpk_a13m6rZjnWnEP0qNmTxSsR1skd99yB5XBTGpuTV8iuU=", // Verified index 1
    ///         "whpk_oz41CbRf8Nfa3ad387G/lHB+/Kgwnyay1fFSEdx4s1Y=", // Verified index 2
    ///     ])
    ///     .unwrap();
    /// assert_eq!(scheme.public_key_count(), 2);
    /// ```
    ///
    /// # Errors
    ///
    /// As for [`with_public_keys`](Self::with_public_keys).
    pub fn public_keys<I, T>(self, public_keys: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        Ok(Self {
            public_keys: parse_public_keys(public_keys)?,
            ..self
        })
    }

    /// Accepts timestamps up to `tolerance` away from now, in either direction (whole seconds;
    /// [`DEFAULT_TOLERANCE`](Self::DEFAULT_TOLERANCE) by default).
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::verify::StandardWebhooks;
    ///
    /// let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    ///     .unwrap()
    ///     .tolerance(Duration::from_secs(60));
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
    /// use webhook_receiver::verify::StandardWebhooks;
    ///
    /// let signed_at = SystemTime::UNIX_EPOCH + Duration::from_secs(1_614_265_330);
    /// let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
    ///     .unwrap()
    ///     .clock(move || signed_at);
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

    /// The timestamp tolerance.
    ///
    /// ```
    /// use webhook_receiver::verify::StandardWebhooks;
    /// let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
    /// assert_eq!(scheme.timestamp_tolerance(), StandardWebhooks::DEFAULT_TOLERANCE);
    /// ```
    pub fn timestamp_tolerance(&self) -> Duration {
        self.tolerance.window()
    }

    /// How many secrets (`v1`) are accepted.
    ///
    /// ```
    /// use webhook_receiver::verify::StandardWebhooks;
    /// let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
    /// assert_eq!(scheme.secret_count(), 1);
    /// ```
    pub fn secret_count(&self) -> usize {
        self.macs.len()
    }

    /// How many public keys (`v1a`) are accepted.
    ///
    /// ```
    /// use webhook_receiver::verify::StandardWebhooks;
    /// let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
    /// assert_eq!(scheme.public_key_count(), 0);
    /// ```
    pub fn public_key_count(&self) -> usize {
        self.public_keys.len()
    }

    /// Signs a message with the first secret, as a sender does: returns the `webhook-signature`
    /// value, `v1,<base64>`.
    ///
    /// ```
    /// use webhook_receiver::verify::StandardWebhooks;
    ///
    /// let scheme = StandardWebhooks::new(["whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]).unwrap();
    /// let signature = scheme.sign(
    ///     "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk",
    ///     1_649_367_553,
    ///     br#"{"email":"test@example.com","username":"test_user"}"#,
    /// );
    /// assert_eq!(signature, "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=");
    /// ```
    ///
    /// # Panics
    ///
    /// If the scheme has no secret (built by [`with_public_keys`](Self::with_public_keys)):
    /// `v1a` signatures need the sender's private key, which a receiver does not hold (the
    /// `testing` feature signs them for tests).
    #[track_caller]
    pub fn sign(&self, msg_id: &str, timestamp: i64, body: &[u8]) -> String {
        let first = self.macs.first().expect(
            "StandardWebhooks::sign needs a whsec_ secret; this scheme has only public keys",
        );
        let tag = tag(
            first,
            msg_id.as_bytes(),
            timestamp.to_string().as_bytes(),
            body,
        );
        let encoded = base64::engine::general_purpose::STANDARD.encode(tag);
        format!("{SIGNATURE_VERSION},{encoded}")
    }

    /// Parses the headers and checks the timestamp (all but the HMAC).
    fn parse<'h>(&self, headers: &'h HeaderMap) -> Result<Signed<'h>, Rejection> {
        let id = single(headers, WEBHOOK_ID_HEADER, SVIX_ID_HEADER)?;
        let timestamp = single(headers, WEBHOOK_TIMESTAMP_HEADER, SVIX_TIMESTAMP_HEADER)?;
        let signatures = all(headers, WEBHOOK_SIGNATURE_HEADER, SVIX_SIGNATURE_HEADER)?;

        let ts: i64 = std::str::from_utf8(timestamp)
            .ok()
            .and_then(|t| t.parse().ok())
            .ok_or(Rejection::BadHeader {
                header: WEBHOOK_TIMESTAMP_HEADER,
                problem: HeaderProblem::Malformed("integer Unix seconds"),
            })?;
        self.tolerance.check(ts)?;

        // Only the entries a configured key could match.
        let (mut v1, mut v1a) = (Vec::new(), Vec::new());
        let entries = signatures.flat_map(|value| value.as_bytes().split(|&b| b == b' '));
        for entry in entries {
            if !self.macs.is_empty() {
                if let Some(tag) = v1_signature(entry) {
                    v1.push(tag);
                    continue;
                }
            }
            if !self.public_keys.is_empty() {
                if let Some(signature) = v1a::signature(entry) {
                    if v1a.len() == MAX_V1A_SIGNATURES {
                        return Err(Rejection::BadHeader {
                            header: WEBHOOK_SIGNATURE_HEADER,
                            problem: HeaderProblem::Malformed("at most 8 `v1a` entries"),
                        });
                    }
                    v1a.push(signature);
                }
            }
        }
        if v1.is_empty() && v1a.is_empty() {
            // Nothing this scheme could match: no need to read the body.
            return Err(Rejection::Unauthorized);
        }
        Ok(Signed {
            id,
            timestamp,
            v1,
            v1a,
        })
    }
}

/// The parsed, timely headers of a request.
struct Signed<'h> {
    id: &'h [u8],
    timestamp: &'h [u8],
    /// The `v1` tags (none when no secret is configured).
    v1: Vec<[u8; TAG_LEN]>,
    /// The `v1a` signatures (none when no public key is configured).
    v1a: Vec<Signature>,
}

/// Parses `whpk_` public keys; at least one.
fn parse_public_keys<I, T>(public_keys: I) -> Result<Arc<[VerifyingKey]>, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    let keys = public_keys
        .into_iter()
        .enumerate()
        .map(|(i, key)| v1a::public_key(i, key.as_ref()))
        .collect::<Result<Vec<_>, _>>()?;
    if keys.is_empty() {
        return Err(ConfigError::NoPublicKeys);
    }
    Ok(keys.into())
}

/// The value of a header that must be present exactly once and non-empty.
fn single<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
    branded: &'static str,
) -> Result<&'h [u8], Rejection> {
    let mut values = all(headers, name, branded)?;
    match (values.next(), values.next()) {
        (Some(value), None) if !value.is_empty() => Ok(value.as_bytes()),
        (Some(_), None) => Err(Rejection::BadHeader {
            header: name,
            problem: HeaderProblem::Empty,
        }),
        _ => Err(Rejection::BadHeader {
            header: name,
            problem: HeaderProblem::Duplicate,
        }),
    }
}

/// The values of a header that must be present (unbranded name first, then Svix's).
fn all<'h>(
    headers: &'h HeaderMap,
    name: &'static str,
    branded: &'static str,
) -> Result<http::header::ValueIter<'h, HeaderValue>, Rejection> {
    let present = [name, branded]
        .into_iter()
        .find(|n| headers.contains_key(*n))
        .ok_or(Rejection::BadHeader {
            header: name,
            problem: HeaderProblem::Missing,
        })?;
    Ok(headers.get_all(present).iter())
}

/// Decodes a `v1,<base64>` entry to its tag; `None` for other versions or malformed entries.
fn v1_signature(entry: &[u8]) -> Option<[u8; TAG_LEN]> {
    let encoded = entry
        .strip_prefix(SIGNATURE_VERSION.as_bytes())?
        .strip_prefix(b",")?;
    // Room for any 44-character input; longer ones fail as too large.
    let mut buf = [0u8; TAG_LEN + 4];
    let n = base64::engine::general_purpose::STANDARD
        .decode_slice(encoded, &mut buf)
        .ok()?;
    buf.get(..n)?.try_into().ok()
}

/// HMAC-SHA256 of `{id}.{timestamp}.{body}`.
fn tag(mac: &Hmac<Sha256>, id: &[u8], timestamp: &[u8], body: &[u8]) -> [u8; TAG_LEN] {
    let mut mac = mac.clone();
    mac.update(id);
    mac.update(b".");
    mac.update(timestamp);
    mac.update(b".");
    mac.update(body);
    mac.finalize().into_bytes().into()
}

impl fmt::Debug for StandardWebhooks {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("StandardWebhooks")
            .field("tolerance", &self.tolerance)
            .field("secrets", &format_args!("[{} redacted]", self.macs.len()))
            .field("public_keys", &self.public_keys.len())
            .finish()
    }
}

impl VerifySignature for StandardWebhooks {
    fn check_headers(&self, headers: &HeaderMap) -> Result<(), Rejection> {
        self.parse(headers).map(drop)
    }

    fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, Rejection> {
        let signed = self.parse(headers)?;
        // Every secret against every signature, without early exit.
        let mut found = None;
        if !signed.v1.is_empty() {
            for (i, mac) in self.macs.iter().enumerate() {
                let expected = tag(mac, signed.id, signed.timestamp, body);
                let mut matched = subtle::Choice::from(0);
                for signature in &signed.v1 {
                    matched |= expected.ct_eq(signature);
                }
                if bool::from(matched) && found.is_none() {
                    found = Some(i);
                }
            }
        }
        // Then every public key against every `v1a` signature, whether a secret matched or not.
        let by_key = v1a::matching_key(
            &self.public_keys,
            &signed.v1a,
            signed.id,
            signed.timestamp,
            body,
        );
        let found = found.or(by_key.map(|i| self.macs.len() + i));
        if let Some(index) = found {
            tracing::debug!(secret_index = index, "webhook signature matched");
            Ok(Verified::new(index))
        } else {
            tracing::debug!("no webhook-signature entry matched any secret");
            Err(Rejection::Unauthorized)
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::UNIX_EPOCH;

    use super::*;

    const SECRET: &str = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    const MSG_ID: &str = "msg_27UH4WbU6Z5A5EzD8u03UvzRbpk";
    const TS: i64 = 1_649_367_553;
    const BODY: &[u8] = br#"{"email":"test@example.com","username":"test_user"}"#;
    const SIGNATURE: &str = "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=";

    fn at(ts: i64) -> StandardWebhooks {
        let now = UNIX_EPOCH + Duration::from_secs(ts.try_into().unwrap());
        StandardWebhooks::new([SECRET]).unwrap().clock(move || now)
    }

    fn headers(id: &str, ts: &str, signature: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(WEBHOOK_ID_HEADER, id.parse().unwrap());
        h.insert(WEBHOOK_TIMESTAMP_HEADER, ts.parse().unwrap());
        h.insert(WEBHOOK_SIGNATURE_HEADER, signature.parse().unwrap());
        h
    }

    #[test]
    fn signs_and_verifies_reference_vector() {
        let scheme = at(TS);
        assert_eq!(scheme.sign(MSG_ID, TS, BODY), SIGNATURE);
        let h = headers(MSG_ID, &TS.to_string(), SIGNATURE);
        scheme.check_headers(&h).unwrap();
        assert_eq!(scheme.verify_body(&h, BODY).unwrap(), Verified::new(0));
    }

    #[test]
    fn reads_svix_branded_headers() {
        let mut h = HeaderMap::new();
        h.insert("svix-id", MSG_ID.parse().unwrap());
        h.insert("svix-timestamp", TS.to_string().parse().unwrap());
        h.insert("svix-signature", SIGNATURE.parse().unwrap());
        assert_eq!(at(TS).verify_body(&h, BODY).unwrap(), Verified::new(0));
    }

    #[test]
    fn rejects_missing_duplicate_and_malformed_headers() {
        let scheme = at(TS);
        for name in [
            WEBHOOK_ID_HEADER,
            WEBHOOK_TIMESTAMP_HEADER,
            WEBHOOK_SIGNATURE_HEADER,
        ] {
            let mut h = headers(MSG_ID, &TS.to_string(), SIGNATURE);
            h.remove(name);
            match scheme.check_headers(&h) {
                Err(Rejection::BadHeader { header, problem }) => {
                    assert_eq!((header, problem), (name, HeaderProblem::Missing));
                }
                other => panic!("{name}: {other:?}"),
            }
        }
        for ts in ["", "soon", "1649367553.5", "0x10"] {
            let h = headers(MSG_ID, ts, SIGNATURE);
            assert!(
                matches!(scheme.check_headers(&h), Err(Rejection::BadHeader { .. })),
                "{ts}"
            );
        }
        let mut h = headers(MSG_ID, &TS.to_string(), SIGNATURE);
        h.append(WEBHOOK_ID_HEADER, "msg_other".parse().unwrap());
        assert!(matches!(
            scheme.check_headers(&h),
            Err(Rejection::BadHeader { .. })
        ));
    }

    #[test]
    fn tolerance_is_inclusive_in_both_directions() {
        let h = headers(MSG_ID, &TS.to_string(), SIGNATURE);
        for skew in [-300, 300, 0, -1, 1] {
            assert!(at(TS + skew).verify_body(&h, BODY).is_ok(), "{skew}");
        }
        for skew in [-301, 301, i64::from(i32::MAX)] {
            assert!(
                matches!(
                    at(TS + skew).check_headers(&h),
                    Err(Rejection::StaleTimestamp { .. })
                ),
                "{skew}"
            );
        }
        let wide = at(TS + 3600).tolerance(Duration::from_secs(3600));
        assert!(wide.verify_body(&h, BODY).is_ok());
        // Extreme timestamps do not overflow.
        for ts in [i64::MIN, i64::MAX] {
            let h = headers(MSG_ID, &ts.to_string(), SIGNATURE);
            assert!(matches!(
                at(TS).check_headers(&h),
                Err(Rejection::StaleTimestamp { .. })
            ));
        }
    }

    #[test]
    fn skips_other_versions_and_malformed_entries() {
        let scheme = at(TS);
        let ts = TS.to_string();
        for sig in [
            "v1,",
            "v1",
            "v2,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=",
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kk",
            "v1,tZ1I4/hDygAJgO5TYxiSd6Sd0kDW6hPenDe+bTa3Kkw=AAAA",
            "v1,!!!!",
        ] {
            let h = headers(MSG_ID, &ts, sig);
            assert!(
                matches!(scheme.check_headers(&h), Err(Rejection::Unauthorized)),
                "{sig}"
            );
        }
        let h = headers(MSG_ID, &ts, &format!("v2,abc v1, {SIGNATURE}  v1,!!"));
        assert_eq!(scheme.verify_body(&h, BODY).unwrap(), Verified::new(0));
    }

    #[test]
    fn secrets_rotate_and_are_redacted() {
        let now = UNIX_EPOCH + Duration::from_secs(TS.try_into().unwrap());
        let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw", SECRET])
            .unwrap()
            .clock(move || now);
        let h = headers(MSG_ID, &TS.to_string(), SIGNATURE);
        assert_eq!(scheme.verify_body(&h, BODY).unwrap(), Verified::new(1));
        let dbg = format!("{scheme:?}");
        assert!(!dbg.contains("MfKQ") && !dbg.contains("C2FV"), "{dbg}");
        assert!(dbg.contains("2 redacted"), "{dbg}");
    }

    #[test]
    fn rejects_bad_secrets() {
        assert!(matches!(
            StandardWebhooks::new(["whsec_"]),
            Err(ConfigError::EmptySecret(0))
        ));
        assert!(matches!(
            StandardWebhooks::new([SECRET, ""]),
            Err(ConfigError::EmptySecret(1))
        ));
        assert!(matches!(
            StandardWebhooks::new(["whsec_not base64"]),
            Err(ConfigError::InvalidSecret(0))
        ));
        assert!(matches!(
            StandardWebhooks::new(Vec::<String>::new()),
            Err(ConfigError::NoSecrets)
        ));
        // Without the prefix, and without padding.
        assert!(StandardWebhooks::new(["C2FVsBQIhrscChlQIMV+b5sSYspob7oD"]).is_ok());
        assert!(StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAQ"]).is_ok());
        assert!(StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSwAQ=="]).is_ok());
        // Shorter than the spec's 24 bytes.
        assert!(matches!(
            StandardWebhooks::new(["whsec_c2VjcmV0"]),
            Err(ConfigError::SecretTooShort {
                index: 0,
                len: 6,
                min: 24
            })
        ));
    }
}
