//! Errors: [`Rejection`] (what the sender is told, with its status code), [`DecodeError`] (why a
//! body is not an event), [`StoreError`], [`SecretsError`] and [`BoxError`].
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

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderValue, Response, StatusCode, header};

/// A boxed error, as tower uses.
///
/// ```
/// use webhook_receiver::BoxError;
///
/// let err: BoxError = "connection reset".into();
/// assert_eq!(err.to_string(), "connection reset");
/// let err: BoxError = Box::new(std::io::Error::other("disk full"));
/// assert!(err.is::<std::io::Error>());
/// ```
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Why a request was not accepted. Each variant maps to one status code.
///
/// ```
/// use std::time::Duration;
/// use http::StatusCode;
/// use webhook_receiver::{DecodeError, Rejection};
///
/// let r = Rejection::from(DecodeError::NotObject);
/// assert_eq!(r.status(), StatusCode::BAD_REQUEST);
/// assert_eq!(r.to_string(), "body must be a JSON object");
/// let r = Rejection::Overloaded { retry_after: Duration::from_secs(5) };
/// assert_eq!(r.status(), StatusCode::SERVICE_UNAVAILABLE);
/// ```
#[derive(Debug)]
#[non_exhaustive]
pub enum Rejection {
    /// 401: the authentication header or signature is missing or wrong.
    Unauthorized,
    /// 401: the request names no tenant, or one the secrets resolver does not know
    /// ([`PerTenant`](crate::verify::PerTenant)). Nothing is remembered, not even that the
    /// tenant is unknown: a tenant added later is accepted on the next request.
    ///
    /// Its own code (`unknown_tenant`) rather than `invalid_credentials`: the tenant is part of
    /// the URL the sender was configured with, not a secret, and a lookup that misses already
    /// takes a different time than a signature check, so hiding it would hide nothing from an
    /// attacker and a lot from the operator reading the sender's delivery log.
    UnknownTenant,
    /// 401: the signed timestamp is further from now than the tolerance (Standard Webhooks).
    StaleTimestamp {
        /// How far the timestamp is from now.
        skew: Duration,
        /// Whether it is ahead of now (else behind).
        ahead: bool,
        /// The accepted distance.
        tolerance: Duration,
    },
    /// 401: the event's own timestamp is older than the replay window
    /// ([`JsonFormat::max_age`](crate::json::JsonFormat::max_age)).
    EventTooOld {
        /// How old the event is.
        age: Duration,
        /// The replay window.
        max_age: Duration,
    },
    /// 403: the client's address is not in the IP allowlist, or could not be determined
    /// ([`IpAllowlist`](crate::allowlist::IpAllowlist)).
    IpNotAllowed {
        /// The client's address, as resolved (the peer, or the first untrusted hop of a trusted
        /// proxy's forwarded-for header); `None` if there was no peer address or the header
        /// could not be read.
        addr: Option<std::net::IpAddr>,
    },
    /// 400: a header the scheme needs is missing or malformed (e.g. `webhook-id`).
    BadHeader {
        /// The header.
        header: &'static str,
        /// What is wrong with it.
        problem: HeaderProblem,
    },
    /// 413: the body is larger than the limit.
    PayloadTooLarge {
        /// The limit in bytes.
        limit: usize,
    },
    /// 415: the `Content-Type` is not JSON.
    UnsupportedMediaType {
        /// The `Content-Type` sent, if any.
        found: Option<HeaderValue>,
    },
    /// 405: only `POST` delivers webhooks.
    MethodNotAllowed(http::Method),
    /// 400: the body is not an event.
    Decode(DecodeError),
    /// 400: the body could not be read (connection error mid-body).
    BodyRead(BoxError),
    /// 503: the dispatch queue is full; nothing was remembered, retry later.
    Overloaded {
        /// Sent as `Retry-After`.
        retry_after: Duration,
    },
    /// 503: the receiver is shutting down and takes no new events; retry later.
    ShuttingDown {
        /// Sent as `Retry-After`.
        retry_after: Duration,
    },
    /// 503: the dedup store failed; nothing was remembered, retry later.
    StoreUnavailable {
        /// Sent as `Retry-After`.
        retry_after: Duration,
        /// The store's error.
        source: StoreError,
    },
    /// 503: the tenant's secrets could not be had (the resolver failed, or what it returned is
    /// not a valid configuration for the scheme: [`PerTenant`](crate::verify::PerTenant));
    /// nothing was remembered, retry later.
    SecretsUnavailable {
        /// Sent as `Retry-After`.
        retry_after: Duration,
        /// Why.
        source: SecretsError,
    },
    /// 503: another claim of this event's key is in flight, not yet confirmed
    /// ([`Claim::InFlight`](crate::store::Claim::InFlight): another replica is accepting it
    /// right now, or gave up or died doing so); nothing was remembered, retry shortly.
    ClaimInFlight {
        /// Sent as `Retry-After` (the receiver sends 1 s).
        retry_after: Duration,
    },
}

/// What is wrong with a header in [`Rejection::BadHeader`].
///
/// ```
/// use webhook_receiver::{HeaderProblem, Rejection};
///
/// let r = Rejection::BadHeader { header: "webhook-id", problem: HeaderProblem::Missing };
/// assert_eq!(r.status(), http::StatusCode::BAD_REQUEST);
/// assert_eq!(r.to_string(), "missing header webhook-id");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum HeaderProblem {
    /// It is not there.
    Missing,
    /// It is there but empty.
    Empty,
    /// It is there more than once.
    Duplicate,
    /// Its value is not of the expected form (the expected form).
    Malformed(&'static str),
}

impl fmt::Display for HeaderProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Missing => f.write_str("missing"),
            Self::Empty => f.write_str("empty"),
            Self::Duplicate => f.write_str("duplicate"),
            Self::Malformed(expected) => write!(f, "malformed (expected {expected})"),
        }
    }
}

impl fmt::Display for Rejection {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Unauthorized => f.write_str("missing or invalid webhook credentials"),
            Self::UnknownTenant => f.write_str("unknown tenant"),
            Self::StaleTimestamp {
                skew,
                ahead,
                tolerance,
            } => {
                let (skew, tolerance) = (skew.as_secs(), tolerance.as_secs());
                if *ahead {
                    write!(
                        f,
                        "timestamp is too far in the future: {skew} s ahead, tolerance is {tolerance} s"
                    )
                } else {
                    write!(
                        f,
                        "timestamp is too old: {skew} s ago, tolerance is {tolerance} s"
                    )
                }
            }
            Self::EventTooOld { age, max_age } => write!(
                f,
                "event is {} s old, older than the {} s replay window",
                age.as_secs(),
                max_age.as_secs()
            ),
            Self::IpNotAllowed { addr: Some(addr) } => {
                write!(f, "address {addr} is not allowed to deliver webhooks")
            }
            Self::IpNotAllowed { addr: None } => {
                f.write_str("the client address could not be determined")
            }
            Self::BadHeader {
                header,
                problem: HeaderProblem::Malformed(expected),
            } => write!(f, "malformed header {header}: expected {expected}"),
            Self::BadHeader { header, problem } => write!(f, "{problem} header {header}"),
            Self::PayloadTooLarge { limit } => write!(f, "body exceeds the limit of {limit} bytes"),
            Self::UnsupportedMediaType { found: Some(found) } => write!(
                f,
                "unsupported Content-Type {found:?}: expected application/json"
            ),
            Self::UnsupportedMediaType { found: None } => {
                f.write_str("no Content-Type: expected application/json")
            }
            Self::MethodNotAllowed(method) => write!(
                f,
                "method {method} not allowed: webhooks are delivered with POST"
            ),
            Self::Decode(e) => fmt::Display::fmt(e, f),
            Self::BodyRead(e) => write!(f, "could not read the request body: {e}"),
            Self::Overloaded { .. } => f.write_str("webhook queue is full; retry later"),
            Self::ShuttingDown { .. } => {
                f.write_str("webhook receiver is shutting down; retry later")
            }
            Self::StoreUnavailable { .. } => f.write_str("dedup store unavailable; retry later"),
            Self::SecretsUnavailable { .. } => {
                f.write_str("webhook secrets unavailable; retry later")
            }
            Self::ClaimInFlight { .. } => {
                f.write_str("this event is being accepted by another request; retry shortly")
            }
        }
    }
}

impl std::error::Error for Rejection {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Self::Decode(e) => Some(e),
            Self::BodyRead(e) => Some(&**e),
            Self::StoreUnavailable { source, .. } => Some(source),
            Self::SecretsUnavailable { source, .. } => Some(source),
            _ => None,
        }
    }
}

impl From<DecodeError> for Rejection {
    fn from(e: DecodeError) -> Self {
        Self::Decode(e)
    }
}

impl Rejection {
    /// The HTTP status code this rejection answers with.
    ///
    /// ```
    /// use http::{Method, StatusCode};
    /// use webhook_receiver::Rejection;
    ///
    /// assert_eq!(Rejection::Unauthorized.status(), StatusCode::UNAUTHORIZED);
    /// assert_eq!(Rejection::PayloadTooLarge { limit: 1024 }.status(), StatusCode::PAYLOAD_TOO_LARGE);
    /// assert_eq!(Rejection::MethodNotAllowed(Method::GET).status(), StatusCode::METHOD_NOT_ALLOWED);
    /// assert_eq!(Rejection::IpNotAllowed { addr: None }.status(), StatusCode::FORBIDDEN);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthorized
            | Self::UnknownTenant
            | Self::StaleTimestamp { .. }
            | Self::EventTooOld { .. } => StatusCode::UNAUTHORIZED,
            Self::IpNotAllowed { .. } => StatusCode::FORBIDDEN,
            Self::BadHeader { .. } | Self::Decode(_) | Self::BodyRead(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType { .. } => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Overloaded { .. }
            | Self::ShuttingDown { .. }
            | Self::StoreUnavailable { .. }
            | Self::SecretsUnavailable { .. }
            | Self::ClaimInFlight { .. } => StatusCode::SERVICE_UNAVAILABLE,
        }
    }

    /// The error `type` of the seeds' error shape.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::Rejection;
    ///
    /// assert_eq!(Rejection::Unauthorized.error_type(), "authentication_error");
    /// assert_eq!(Rejection::PayloadTooLarge { limit: 1024 }.error_type(), "invalid_request_error");
    /// let r = Rejection::ShuttingDown { retry_after: Duration::from_secs(1) };
    /// assert_eq!(r.error_type(), "api_error");
    /// ```
    pub fn error_type(&self) -> &'static str {
        match self {
            Self::Unauthorized
            | Self::UnknownTenant
            | Self::StaleTimestamp { .. }
            | Self::EventTooOld { .. }
            | Self::IpNotAllowed { .. } => "authentication_error",
            Self::Overloaded { .. }
            | Self::ShuttingDown { .. }
            | Self::StoreUnavailable { .. }
            | Self::SecretsUnavailable { .. }
            | Self::ClaimInFlight { .. } => "api_error",
            _ => "invalid_request_error",
        }
    }

    /// A machine-readable `code`.
    ///
    /// ```
    /// use webhook_receiver::{DecodeError, Rejection};
    ///
    /// assert_eq!(Rejection::Unauthorized.code(), "invalid_credentials");
    /// let r = Rejection::IpNotAllowed { addr: Some([192, 0, 2, 1].into()) };
    /// assert_eq!((r.code(), r.error_type()), ("ip_not_allowed", "authentication_error"));
    /// assert_eq!(r.to_string(), "address 192.0.2.1 is not allowed to deliver webhooks");
    /// // A decode error answers with its own code.
    /// assert_eq!(Rejection::from(DecodeError::NotUtf8).code(), "invalid_utf8");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::Unauthorized => "invalid_credentials",
            Self::UnknownTenant => "unknown_tenant",
            Self::StaleTimestamp { .. } => "timestamp_out_of_tolerance",
            Self::EventTooOld { .. } => "event_too_old",
            Self::IpNotAllowed { .. } => "ip_not_allowed",
            Self::BadHeader { .. } => "invalid_header",
            Self::PayloadTooLarge { .. } => "payload_too_large",
            Self::UnsupportedMediaType { .. } => "unsupported_media_type",
            Self::MethodNotAllowed(_) => "method_not_allowed",
            Self::Decode(p) => p.code(),
            Self::BodyRead(_) => "body_read_error",
            Self::Overloaded { .. } => "queue_full",
            Self::ShuttingDown { .. } => "shutting_down",
            Self::StoreUnavailable { .. } => "store_unavailable",
            Self::SecretsUnavailable { .. } => "secrets_unavailable",
            Self::ClaimInFlight { .. } => "claim_in_flight",
        }
    }

    /// The JSON body: `{"error": {"type", "code", "message"}}`.
    ///
    /// ```
    /// use webhook_receiver::Rejection;
    ///
    /// let body = Rejection::PayloadTooLarge { limit: 1024 }.body();
    /// let body: serde_json::Value = serde_json::from_slice(&body).unwrap();
    /// assert_eq!(body["error"]["code"], "payload_too_large");
    /// assert_eq!(body["error"]["message"], "body exceeds the limit of 1024 bytes");
    /// ```
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
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::{Method, Response};
    /// use webhook_receiver::{Rejection, ResponseBody};
    ///
    /// let res: Response<ResponseBody> =
    ///     Rejection::Overloaded { retry_after: Duration::from_secs(30) }.into_response();
    /// assert_eq!(res.status(), 503);
    /// assert_eq!(res.headers()["retry-after"], "30");
    /// assert_eq!(res.headers()["content-type"], "application/json");
    /// let res = Rejection::MethodNotAllowed(Method::GET).into_response::<ResponseBody>();
    /// assert_eq!(res.headers()["allow"], "POST");
    /// ```
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
            | Self::StoreUnavailable { retry_after, .. }
            | Self::SecretsUnavailable { retry_after, .. }
            | Self::ClaimInFlight { retry_after } => {
                h.insert(
                    header::RETRY_AFTER,
                    HeaderValue::from(retry_after.as_secs().max(1)),
                );
            }
            Self::MethodNotAllowed(_) => {
                h.insert(header::ALLOW, HeaderValue::from_static("POST"));
            }
            Self::Unauthorized
            | Self::UnknownTenant
            | Self::StaleTimestamp { .. }
            | Self::EventTooOld { .. } => {
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
///
/// ```
/// use webhook_receiver::DecodeError;
///
/// let err = DecodeError::MissingField("event");
/// assert_eq!(err.to_string(), "missing required field `event`");
/// assert_eq!(err.code(), "missing_field");
/// let json = serde_json::from_str::<serde_json::Value>("{").unwrap_err();
/// assert!(std::error::Error::source(&DecodeError::NotJson(json)).is_some());
/// ```
#[derive(Debug, thiserror::Error)]
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
    NotJson(#[source] serde_json::Error),
    /// The body is JSON but not an object.
    #[error("body must be a JSON object")]
    NotObject,
    /// A required envelope field is missing.
    #[error("missing required field `{0}`")]
    MissingField(&'static str),
    /// An envelope field is of the wrong JSON type.
    #[error("field `{field}` must be {expected}, found {found}")]
    WrongType {
        /// The envelope field.
        field: &'static str,
        /// What it must be (`a string`, `an object`, ...).
        expected: &'static str,
        /// What it is.
        found: &'static str,
    },
    /// An envelope field that must not be empty is.
    #[error("field `{0}` must not be empty")]
    EmptyField(&'static str),
    /// An envelope field did not parse (past the nesting limit, a malformed timestamp, ...).
    #[error("field `{field}` is invalid: {source}")]
    InvalidField {
        /// The envelope field.
        field: &'static str,
        /// Why.
        #[source]
        source: BoxError,
    },
}

impl DecodeError {
    /// A machine-readable code for the error body.
    ///
    /// ```
    /// use webhook_receiver::DecodeError;
    ///
    /// assert_eq!(DecodeError::Empty.code(), "empty_body");
    /// let err = DecodeError::WrongType { field: "event", expected: "a string", found: "a number" };
    /// assert_eq!(err.code(), "invalid_field");
    /// ```
    pub fn code(&self) -> &'static str {
        match self {
            Self::Empty => "empty_body",
            Self::NotUtf8 => "invalid_utf8",
            Self::NotJson(_) => "invalid_json",
            Self::NotObject => "not_an_object",
            Self::MissingField(_) => "missing_field",
            Self::WrongType { .. } | Self::EmptyField(_) | Self::InvalidField { .. } => {
                "invalid_field"
            }
        }
    }

    /// Maps a `serde_json` error on the envelope to a decode error.
    #[cfg_attr(not(feature = "chirp"), allow(dead_code))]
    pub(crate) fn from_json(e: serde_json::Error) -> Self {
        use serde_json::error::Category;
        match e.classify() {
            Category::Data => Self::InvalidField {
                field: "envelope",
                source: Box::new(e),
            },
            _ => Self::NotJson(e),
        }
    }
}

/// A store failed (e.g. a network store is unreachable, or a shared store's backlog is full).
/// The request is answered 503 and nothing is remembered.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::{Rejection, StoreError};
///
/// let err = StoreError::new("connection refused");
/// assert_eq!(err.to_string(), "store error: connection refused");
/// let r = Rejection::StoreUnavailable { retry_after: Duration::from_secs(5), source: err };
/// assert_eq!((r.status().as_u16(), r.code()), (503, "store_unavailable"));
/// ```
#[derive(Debug, thiserror::Error)]
#[error("store error: {source}")]
pub struct StoreError {
    #[source]
    source: BoxError,
    backlog: Option<u64>,
}

impl StoreError {
    /// Wraps a store's own error.
    ///
    /// ```
    /// use std::error::Error;
    /// use webhook_receiver::StoreError;
    ///
    /// let io = std::io::Error::new(std::io::ErrorKind::TimedOut, "redis timed out");
    /// let err = StoreError::new(io);
    /// assert!(err.source().unwrap().is::<std::io::Error>());
    /// ```
    pub fn new(source: impl Into<BoxError>) -> Self {
        Self {
            source: source.into(),
            backlog: None,
        }
    }

    /// A shared store's backlog holds `limit` events not yet done: the receiver answers 503 as
    /// for a full queue (`queue_full`), not as for a store that is down.
    ///
    /// ```
    /// use webhook_receiver::StoreError;
    /// let err = StoreError::backlog_full(10_000);
    /// assert_eq!(err.backlog_limit(), Some(10_000));
    /// assert_eq!(StoreError::new("down").backlog_limit(), None);
    /// ```
    #[must_use]
    pub fn backlog_full(limit: u64) -> Self {
        Self {
            source: format!("the backlog is full ({limit} events not yet done)").into(),
            backlog: Some(limit),
        }
    }

    /// The backlog's limit, if this is [`backlog_full`](Self::backlog_full).
    ///
    /// ```
    /// # use webhook_receiver::StoreError;
    /// assert!(StoreError::backlog_full(1).backlog_limit().is_some());
    /// ```
    #[must_use]
    pub const fn backlog_limit(&self) -> Option<u64> {
        self.backlog
    }
}

/// A tenant's webhook secrets could not be had ([`Rejection::SecretsUnavailable`], 503): the
/// resolver failed, or what it returned does not make a valid verifier. Cheap to clone (the
/// error is shared), so every request waiting on the same lookup gets it.
///
/// ```
/// use std::error::Error;
/// use std::time::Duration;
/// use webhook_receiver::Rejection;
/// use webhook_receiver::error::SecretsError;
///
/// let err = SecretsError::lookup(std::io::Error::other("connection refused"));
/// assert_eq!(err.to_string(), "the secrets lookup failed: connection refused");
/// assert!(err.source().is_some());
/// let r = Rejection::SecretsUnavailable { retry_after: Duration::from_secs(5), source: err };
/// assert_eq!((r.status().as_u16(), r.code()), (503, "secrets_unavailable"));
/// assert_eq!(r.into_response::<webhook_receiver::ResponseBody>().headers()["retry-after"], "5");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum SecretsError {
    /// The resolver's lookup failed (its database is down, ...).
    #[error("the secrets lookup failed: {0}")]
    Lookup(#[source] Arc<dyn std::error::Error + Send + Sync>),
    /// The resolver returned secrets the scheme refuses (an empty secret, a malformed
    /// `whsec_` key, ...): a configuration error on the receiver's side.
    #[error("the tenant's secrets are not a valid configuration: {0}")]
    InvalidConfig(#[source] Arc<dyn std::error::Error + Send + Sync>),
}

impl SecretsError {
    /// A failed lookup.
    ///
    /// ```
    /// use webhook_receiver::error::SecretsError;
    /// assert!(matches!(SecretsError::lookup("timeout"), SecretsError::Lookup(_)));
    /// ```
    pub fn lookup(error: impl Into<BoxError>) -> Self {
        Self::Lookup(Arc::from(error.into()))
    }

    /// Secrets the scheme refused.
    ///
    /// ```
    /// use webhook_receiver::error::SecretsError;
    /// use webhook_receiver::verify::SharedSecret;
    ///
    /// let refused = SharedSecret::new([""]).unwrap_err();
    /// let err = SecretsError::invalid_config(refused);
    /// assert_eq!(err.to_string(), "the tenant's secrets are not a valid configuration: secret #0 is empty");
    /// ```
    pub fn invalid_config(error: impl Into<BoxError>) -> Self {
        Self::InvalidConfig(Arc::from(error.into()))
    }
}
