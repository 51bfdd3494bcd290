use std::fmt;
use std::future::{Ready, ready};
use std::sync::Arc;

use http::Request;
use http::header::HeaderName;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{ConfigError, Verified, VerifyRequest};
use crate::error::Rejection;

/// The default shared-secret header (Chirp's).
///
/// ```
/// use webhook_receiver::verify::{DEFAULT_SECRET_HEADER, SharedSecret};
///
/// assert_eq!(DEFAULT_SECRET_HEADER, "x-webhook-secret");
/// assert_eq!(SharedSecret::new(["s3cr3t"]).unwrap().header_name(), DEFAULT_SECRET_HEADER);
/// ```
pub const DEFAULT_SECRET_HEADER: &str = "x-webhook-secret";

/// A shared-secret header scheme: the sender puts a secret in a header (Chirp's
/// `X-Webhook-Secret`) and the receiver compares it with the ones it accepts.
///
/// - The comparison is constant-time and leaks neither the content nor the length of the
///   secrets: both sides are reduced to SHA-256 digests (the accepted secrets' once, at
///   construction) and the 32-byte digests are compared with `subtle`, every accepted secret
///   every time, without early exit.
/// - Several secrets are accepted at once, for rotation; the index of the matching one is logged
///   at `debug` and recorded as [`Verified`] in the request extensions.
/// - The header is checked before the body is read, and marked sensitive so that logging
///   middleware further in redacts it.
/// - `Debug` shows the header name and how many secrets there are, never their values.
///
/// ```
/// use webhook_receiver::verify::SharedSecret;
///
/// let scheme = SharedSecret::new(["new-secret", "old-secret"]).unwrap();
/// assert_eq!(scheme.secret_count(), 2);
/// assert!(!format!("{scheme:?}").contains("old-secret"));
///
/// let custom = SharedSecret::with_header("x-my-token", ["s3cr3t"]).unwrap();
/// assert_eq!(custom.header_name(), "x-my-token");
/// ```
#[derive(Clone)]
pub struct SharedSecret {
    header: HeaderName,
    digests: Arc<[[u8; 32]]>,
}

impl SharedSecret {
    /// Accepts any of `secrets` in the `X-Webhook-Secret` header.
    ///
    /// ```
    /// use webhook_receiver::verify::{ConfigError, SharedSecret};
    ///
    /// let scheme = SharedSecret::new(["secret-2025", "secret-2024"]).unwrap();
    /// assert_eq!(scheme.header_name(), "x-webhook-secret");
    /// assert!(matches!(SharedSecret::new(Vec::<String>::new()), Err(ConfigError::NoSecrets)));
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
        Self::with_header(DEFAULT_SECRET_HEADER, secrets)
    }

    /// Accepts any of `secrets` in the header `header` (case-insensitive).
    ///
    /// ```
    /// use webhook_receiver::verify::{ConfigError, SharedSecret};
    ///
    /// let scheme = SharedSecret::with_header("X-Chirp-Token", ["s3cr3t"]).unwrap();
    /// assert_eq!(scheme.header_name(), "x-chirp-token");
    /// let invalid = SharedSecret::with_header("bad header", ["s3cr3t"]);
    /// assert!(matches!(invalid, Err(ConfigError::InvalidHeader(_))));
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError`] if the header name is invalid, there is no secret, or one is empty.
    pub fn with_header<I, T>(header: &str, secrets: I) -> Result<Self, ConfigError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<[u8]>,
    {
        let header = HeaderName::from_bytes(header.as_bytes())?;
        let mut digests = Vec::new();
        for (i, secret) in secrets.into_iter().enumerate() {
            let secret = secret.as_ref();
            if secret.is_empty() {
                return Err(ConfigError::EmptySecret(i));
            }
            digests.push(digest(secret));
        }
        if digests.is_empty() {
            return Err(ConfigError::NoSecrets);
        }
        Ok(Self {
            header,
            digests: digests.into(),
        })
    }

    /// The header carrying the secret.
    ///
    /// ```
    /// use webhook_receiver::verify::SharedSecret;
    /// assert_eq!(SharedSecret::new(["s3cr3t"]).unwrap().header_name(), "x-webhook-secret");
    /// ```
    pub fn header_name(&self) -> &HeaderName {
        &self.header
    }

    /// How many secrets are accepted.
    ///
    /// ```
    /// use webhook_receiver::verify::SharedSecret;
    /// assert_eq!(SharedSecret::new(["secret-2025", "secret-2024"]).unwrap().secret_count(), 2);
    /// ```
    pub fn secret_count(&self) -> usize {
        self.digests.len()
    }

    /// Checks a presented value; returns the index of the matching secret.
    ///
    /// Every accepted secret is compared, whatever matches, so the time taken does not tell
    /// which one did.
    ///
    /// ```
    /// use webhook_receiver::verify::SharedSecret;
    /// let s = SharedSecret::new(["a-secret", "b-secret"]).unwrap();
    /// assert_eq!(s.check(b"b-secret"), Some(1));
    /// assert_eq!(s.check(b"b-secre"), None);
    /// ```
    pub fn check(&self, presented: &[u8]) -> Option<usize> {
        let presented = digest(presented);
        let mut found: Option<usize> = None;
        for (i, d) in self.digests.iter().enumerate() {
            let eq: bool = d.ct_eq(&presented).into();
            if eq && found.is_none() {
                found = Some(i);
            }
        }
        found
    }
}

fn digest(bytes: &[u8]) -> [u8; 32] {
    Sha256::digest(bytes).into()
}

impl fmt::Debug for SharedSecret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SharedSecret")
            .field("header", &self.header)
            .field(
                "secrets",
                &format_args!("[{} redacted]", self.digests.len()),
            )
            .finish()
    }
}

impl<B: Send + 'static> VerifyRequest<B> for SharedSecret {
    type Future = Ready<Result<Request<B>, Rejection>>;

    fn verify(self: Arc<Self>, mut request: Request<B>, _body_limit: usize) -> Self::Future {
        let mut values = request.headers().get_all(&self.header).iter();
        let matched = match (values.next(), values.next()) {
            (Some(value), None) => self.check(value.as_bytes()),
            // Missing, or sent more than once: ambiguous, reject.
            _ => None,
        };
        ready(match matched {
            Some(index) => {
                tracing::debug!(secret_index = index, "webhook secret matched");
                if let Some(v) = request.headers_mut().get_mut(&self.header) {
                    v.set_sensitive(true);
                }
                request.extensions_mut().insert(Verified::new(index));
                Ok(request)
            }
            None => Err(Rejection::Unauthorized),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_empty_and_missing_secrets() {
        assert!(matches!(
            SharedSecret::new(Vec::<&str>::new()),
            Err(ConfigError::NoSecrets)
        ));
        assert!(matches!(
            SharedSecret::new(["a", ""]),
            Err(ConfigError::EmptySecret(1))
        ));
        assert!(matches!(
            SharedSecret::with_header("bad header", ["a"]),
            Err(ConfigError::InvalidHeader(_))
        ));
    }

    #[test]
    fn matches_each_rotated_secret_by_index() {
        let s = SharedSecret::new(["one", "two", "three"]).unwrap();
        assert_eq!(s.check(b"one"), Some(0));
        assert_eq!(s.check(b"three"), Some(2));
        assert_eq!(s.check(b"four"), None);
        assert_eq!(s.check(b""), None);
        assert_eq!(s.check(b"one "), None);
    }

    #[test]
    fn debug_redacts_secrets() {
        let s = SharedSecret::new(["hunter2-very-secret"]).unwrap();
        let dbg = format!("{s:?}");
        assert!(!dbg.contains("hunter2"), "{dbg}");
        assert!(dbg.contains("1 redacted"), "{dbg}");
    }
}
