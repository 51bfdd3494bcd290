//! Where a JSON event's type name and dedup key come from: a field, a header, or a closure.

use std::fmt;
use std::sync::Arc;

use http::HeaderMap;
use http::header::HeaderName;
use serde_json::Value;

use crate::dedup::DedupKey;
use crate::error::DecodeError;

/// The Standard Webhooks message id header, and Svix's brand of it.
pub(super) const WEBHOOK_ID: &str = "webhook-id";
pub(super) const SVIX_ID: &str = "svix-id";

/// Where a string (type name or id) comes from.
#[derive(Clone)]
pub(super) enum Source {
    /// A JSON pointer into the body, e.g. `/type`.
    Pointer(&'static str),
    /// A request header.
    Header(HeaderName),
    /// The Standard Webhooks message id: `webhook-id`, else `svix-id`, the header
    /// [`StandardWebhooks`](crate::verify) verified.
    WebhookId,
    /// A closure.
    Fn(Arc<dyn Fn(&Value, &HeaderMap) -> Option<String> + Send + Sync>),
}

/// Whether an id was a JSON number (else text: a string, a header, a closure's).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum IdKind {
    Text,
    Number,
}

impl Source {
    pub(super) fn get(
        &self,
        body: &Value,
        headers: &HeaderMap,
    ) -> Result<Option<String>, DecodeError> {
        Ok(self.get_with_kind(body, headers)?.map(|(s, _)| s))
    }

    pub(super) fn get_with_kind(
        &self,
        body: &Value,
        headers: &HeaderMap,
    ) -> Result<Option<(String, IdKind)>, DecodeError> {
        let header = |name: &str| {
            headers
                .get(name)
                .and_then(|v| v.to_str().ok())
                .map(|v| (v.to_owned(), IdKind::Text))
        };
        Ok(match self {
            Self::Pointer(p) => match body.pointer(p) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some((s.clone(), IdKind::Text)),
                Some(Value::Number(n)) => Some((n.to_string(), IdKind::Number)),
                Some(other) => {
                    return Err(DecodeError::WrongType {
                        field: field_name(p),
                        expected: "a string",
                        found: json_type(other),
                    });
                }
            },
            Self::Header(h) => header(h.as_str()),
            // The same rule as the verifier's: the first of the two names present.
            Self::WebhookId => [WEBHOOK_ID, SVIX_ID]
                .into_iter()
                .find(|name| headers.contains_key(*name))
                .and_then(header),
            Self::Fn(f) => f(body, headers).map(|s| (s, IdKind::Text)),
        })
    }

    pub(super) fn missing(&self) -> DecodeError {
        match self {
            Self::Pointer(p) => DecodeError::MissingField(field_name(p)),
            Self::Header(_) | Self::WebhookId | Self::Fn(_) => DecodeError::MissingField("key"),
        }
    }
}

/// The dedup key of an id: its text, and for a JSON number a tag too, so that the number `1`
/// and the string `"1"` are two keys. The event type is not part of it.
pub(super) fn id_key(id: &str, kind: IdKind) -> DedupKey {
    match kind {
        IdKind::Text => DedupKey::from_parts(&[id.as_bytes()]),
        IdKind::Number => DedupKey::from_parts(&[b"json-number", id.as_bytes()]),
    }
}

/// What kind of JSON value `value` is, for error messages.
pub(super) fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// A header name in any case (stored lowercase, as `HeaderName` compares).
#[track_caller]
pub(super) fn header_name(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes())
        .unwrap_or_else(|_| panic!("`{name}` is not a valid header name"))
}

pub(super) fn field_name(pointer: &'static str) -> &'static str {
    pointer.rsplit('/').next().unwrap_or(pointer)
}

impl fmt::Debug for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Pointer(p) => write!(f, "Pointer({p:?})"),
            Self::Header(h) => write!(f, "Header({h:?})"),
            Self::WebhookId => f.write_str("WebhookId"),
            Self::Fn(_) => f.write_str("Fn(..)"),
        }
    }
}
