//! Errors: [`Rejection`] (what the sender is told, with its status code), [`DecodeError`] (why a
//! body is not an event), [`StoreError`] and [`BoxError`].
//!
//! Every rejection answers with the seeds' error shape:
//!
//! ```json
//! {"error": {"type": "invalid_request_error", "code": "invalid_json", "message": "..."}}
//! ```
//!
//! # Example
//!
//! ```
//! use http::StatusCode;
//! use webhook_receiver::Rejection;
//!
//! let r = Rejection::Unauthorized;
//! assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
//! assert_eq!(r.error_type(), "authentication_error");
//! let body: serde_json::Value = serde_json::from_slice(&r.body()).unwrap();
//! assert_eq!(body["error"]["type"], "authentication_error");
//! ```

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

/// A boxed error, as tower uses.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request was not accepted. Each variant maps to one status code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum Rejection {
    /// 401: the authentication header or signature is missing or wrong.
    #[error("missing or invalid webhook credentials")]
    Unauthorized,
    /// 401: the signed timestamp is outside the tolerance, or the event is older than the replay
    /// window.
    #[error("{0}")]
    Stale(String),
    /// 400: a header the scheme needs is missing or malformed (e.g. `webhook-id`).
    #[error("{0}")]
    BadHeader(String),
    /// 413: the body is larger than the limit.
    #[error("body exceeds the limit of {limit} bytes")]
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the `Content-Type` is not JSON.
    #[error("unsupported Content-Type {0:?}: expected application/json")]
    UnsupportedMediaType(String),
    /// 405: only `POST` delivers webhooks.
    #[error("method {0} not allowed: webhooks are delivered with POST")]
    MethodNotAllowed(http::Method),
    /// 400: the body is not an event.
    #[error(transparent)]
    Decode(#[from] DecodeError),
    /// 400: the body could not be read (connection error mid-body).
    #[error("could not read the request body: {0}")]
    BodyRead(String),
    /// 503: the dispatch queue is full or shutting down; nothing was remembered, retry later.
    #[error("webhook queue is full; retry later")]
    Overloaded {
        /// Sent as `Retry-After`.
        retry_after: Duration,
    },
    /// 503: the receiver is shutting down and takes no new events; retry later.
    #[error("webhook receiver is shutting down; retry later")]
    ShuttingDown {
        /// Sent as `Retry-After`.
        retry_after: Duration,
    },
    /// 503: the dedup store failed; nothing was remembered, retry later.
    #[error("dedup store unavailable; retry later")]
    StoreUnavailable {
        /// Sent as `Retry-After`.
        retry_after: Duration,
    },
}

impl Rejection {
    /// The HTTP status code this rejection answers with.
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized | Self::Stale(_) => StatusCode::UNAUTHORIZED,
            Self::BadHeader(_) | Self::Decode(_) | Self::BodyRead(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Overloaded { .. } | Self::ShuttingDown { .. } | Self::StoreUnavailable { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
        }
    }

    /// The error `type` of the seeds' error shape.
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Unauthorized | Self::Stale(_) => "authentication_error",
            Self::Overloaded { .. } | Self::ShuttingDown { .. } | Self::StoreUnavailable { .. } => {
                "api_error"
            }
            _ => "invalid_request_error",
        }
    }

    /// A machine-readable `code`.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "invalid_credentials",
            Self::Stale(_) => "timestamp_out_of_tolerance",
            Self::BadHeader(_) => "invalid_header",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType(_) => "unsupported_media_type",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Decode(p) => p.code(),
            Self::BodyRead(_) => "body_read_error",
            Self::Overloaded { .. } => "queue_full",
            Self::ShuttingDown { .. } => "shutting_down",
            Self::StoreUnavailable { .. } => "store_unavailable",
        }
    }

    /// The JSON body: `{"error": {"type", "code", "message"}}`.
    pub fn body(&self) -> Bytes {
        let v = serde_json::json!({
            "error": {
                "type": self.error_type(),
                "code": self.code(),
                "message": self.to_string(),
            }
        });
        Bytes::from(serde_json::to_vec(&v).unwrap_or_default())
    }

    /// The full HTTP response, with `Retry-After` on 503 and `Allow` on 405.
    pub fn into_response<B: From<Bytes>>(self) -> Response<B> {
        let mut res = Response::new(B::from(self.body()));
        *res.status_mut() = self.status();
        let h = res.headers_mut();
        h.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        match &self {
            Self::Overloaded { retry_after }
            | Self::ShuttingDown { retry_after }
            | Self::StoreUnavailable { retry_after } => {
                h.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs().max(1)),
                );
            }
            Self::MethodNotAllowed(_) => {
                h.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            Self::Unauthorized | Self::Stale(_) => {
                h.insert(
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static("Webhook"),
                );
            }
            _ => {}
        }
        res
    }
}

/// Why a body is not an event (answered 400).
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum DecodeError {
    /// The body is empty.
    #[error("body is empty: expected a JSON object")]
    Empty,
    /// The body is not UTF-8.
    #[error("body is not valid UTF-8")]
    NotUtf8,
    /// The body is not JSON.
    #[error("body is not valid JSON: {0}")]
    NotJson(String),
    /// The body is JSON but not an object.
    #[error("body must be a JSON object")]
    NotObject,
    /// A required envelope field is missing.
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    /// An envelope field has the wrong type.
    #[error("field `{field}` is invalid: {message}")]
    InvalidField {
        /// The envelope field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl DecodeError {
    /// A machine-readable code for the error body.
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_body",
            Self::NotUtf8 => "invalid_utf8",
            Self::NotJson(_) => "invalid_json",
            Self::NotObject => "not_an_object",
            Self::MissingField(_) => "missing_field",
            Self::InvalidField { .. } => "invalid_field",
        }
    }

    /// Maps a `serde_json` error on the envelope to a payload error.
    #[cfg_attr(not(feature = "chirp"), allow(dead_code))]
    pub(crate) fn from_json(e: &serde_json::Error) -> Self {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => Self::InvalidField {
                field: "envelope",
                message: e.to_string(),
            },
            _ => Self::NotJson(e.to_string()),
        }
    }
}

/// A dedup store failed (e.g. a network store is unreachable). The request is answered 503 and
/// nothing is remembered.
#[derive(Debug, thiserror::Error)]
#[error("dedup store error: {source}")]
pub struct StoreError {
    #[source]
    source: BoxError,
}

impl StoreError {
    /// Wraps a store's own error.
    pub fn new(source: impl Into<BoxError>) -> Self {
        Self {
            source: source.into(),
        }
    }
}
