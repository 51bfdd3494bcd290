//! What an [`HmacSha256`](super::HmacSha256) signature covers: the body alone, or a template
//! that puts the signed timestamp before it (`{t}.{body}`, `v0:{t}:{body}`).

use std::fmt;
use std::sync::Arc;

use ::hmac::{Hmac, Mac};
use sha2::Sha256;

use crate::verify::ConfigError;

/// The placeholder for the timestamp, as the sender wrote it.
const TIMESTAMP: &str = "{t}";
/// The placeholder for the raw body; it must end the template.
const BODY: &str = "{body}";

/// What the sender signs, as a template over the timestamp `{t}` and the raw body `{body}`.
///
/// | Sender | Template |
/// |---|---|
/// | GitHub, Shopify, the generic format | `{body}` ([`SignedContent::body`], the default) |
/// | Stripe | `{t}.{body}` |
/// | Slack | `v0:{t}:{body}` |
///
/// `{body}` ends the template; `{t}` appears at most once, before it; anything else is
/// literal text. `{t}` stands for the timestamp exactly as it was sent (its own header, or the
/// `t=` field of the signature header), never re-formatted. The content is fed to the HMAC in
/// pieces: nothing is copied.
///
/// ```
/// use webhook_receiver::verify::{ConfigError, SignedContent};
///
/// let slack = SignedContent::template("v0:{t}:{body}").unwrap();
/// assert!(slack.has_timestamp());
/// assert_eq!(slack.to_string(), "v0:{t}:{body}");
/// assert!(!SignedContent::body().has_timestamp());
/// assert!(matches!(
///     SignedContent::template("{body}.{t}"),
///     Err(ConfigError::InvalidSignedContent(_))
/// ));
/// ```
#[derive(Clone, PartialEq, Eq)]
pub struct SignedContent {
    /// Literal text before the timestamp (or before the body when there is no timestamp).
    before: Arc<str>,
    /// `Some(text between the timestamp and the body)` when the template has `{t}`.
    after_timestamp: Option<Arc<str>>,
}

impl SignedContent {
    /// The raw body alone (`{body}`): GitHub, Shopify, the generic format.
    ///
    /// ```
    /// use webhook_receiver::verify::SignedContent;
    /// assert_eq!(SignedContent::body().to_string(), "{body}");
    /// ```
    pub fn body() -> Self {
        Self {
            before: Arc::from(""),
            after_timestamp: None,
        }
    }

    /// Parses a template such as `{t}.{body}` (Stripe) or `v0:{t}:{body}` (Slack).
    ///
    /// ```
    /// use webhook_receiver::verify::SignedContent;
    ///
    /// let stripe = SignedContent::template("{t}.{body}").unwrap();
    /// assert!(stripe.has_timestamp());
    /// assert!(SignedContent::template("{t}").is_err()); // no {body}
    /// assert!(SignedContent::template("{t}{t}{body}").is_err()); // two {t}
    /// ```
    ///
    /// # Errors
    ///
    /// [`ConfigError::InvalidSignedContent`] if the template does not end with `{body}`, has
    /// `{body}` more than once, or `{t}` more than once.
    pub fn template(template: &str) -> Result<Self, ConfigError> {
        let head = template
            .strip_suffix(BODY)
            .ok_or(ConfigError::InvalidSignedContent("it must end with {body}"))?;
        if head.contains(BODY) {
            return Err(ConfigError::InvalidSignedContent(
                "{body} may appear only once",
            ));
        }
        let mut parts = head.split(TIMESTAMP);
        let before = parts.next().unwrap_or_default();
        let after = parts.next();
        if parts.next().is_some() {
            return Err(ConfigError::InvalidSignedContent(
                "{t} may appear only once",
            ));
        }
        Ok(Self {
            before: Arc::from(before),
            after_timestamp: after.map(Arc::from),
        })
    }

    /// Whether the template signs a timestamp (`{t}`).
    ///
    /// ```
    /// use webhook_receiver::verify::SignedContent;
    /// assert!(SignedContent::template("{t}.{body}").unwrap().has_timestamp());
    /// ```
    pub fn has_timestamp(&self) -> bool {
        self.after_timestamp.is_some()
    }

    /// Feeds the signed content to `mac`: the literals, the timestamp text and the body.
    pub(super) fn update(&self, mac: &mut Hmac<Sha256>, timestamp: &[u8], body: &[u8]) {
        mac.update(self.before.as_bytes());
        if let Some(after) = &self.after_timestamp {
            mac.update(timestamp);
            mac.update(after.as_bytes());
        }
        mac.update(body);
    }
}

impl Default for SignedContent {
    fn default() -> Self {
        Self::body()
    }
}

impl fmt::Display for SignedContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.before)?;
        if let Some(after) = &self.after_timestamp {
            write!(f, "{TIMESTAMP}{after}")?;
        }
        f.write_str(BODY)
    }
}

impl fmt::Debug for SignedContent {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "SignedContent({:?})", self.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn signed(content: &SignedContent, t: &[u8], body: &[u8]) -> Vec<u8> {
        // The same pieces `update` feeds, concatenated.
        let mut out = content.before.as_bytes().to_vec();
        if let Some(after) = &content.after_timestamp {
            out.extend_from_slice(t);
            out.extend_from_slice(after.as_bytes());
        }
        out.extend_from_slice(body);
        out
    }

    #[test]
    fn templates_round_trip_and_sign_the_documented_strings() {
        for (template, expected) in [
            ("{body}", &b"{\"a\":1}"[..]),
            ("{t}.{body}", b"1700000000.{\"a\":1}"),
            ("v0:{t}:{body}", b"v0:1700000000:{\"a\":1}"),
            ("prefix-{body}", b"prefix-{\"a\":1}"),
        ] {
            let content = SignedContent::template(template).unwrap();
            assert_eq!(content.to_string(), template);
            assert_eq!(signed(&content, b"1700000000", b"{\"a\":1}"), expected);
        }
        assert_eq!(
            SignedContent::template("{body}").unwrap(),
            SignedContent::body()
        );
    }

    #[test]
    fn rejects_malformed_templates() {
        for bad in [
            "",
            "{t}",
            "{body}{t}",
            "{body}{body}",
            "{t}{t}{body}",
            "{t}.{body} ",
        ] {
            assert!(
                matches!(
                    SignedContent::template(bad),
                    Err(ConfigError::InvalidSignedContent(_))
                ),
                "{bad}"
            );
        }
    }
}
