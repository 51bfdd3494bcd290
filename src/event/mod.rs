//! Events: the [`Event`] trait, the [`Format`] format trait and what it decodes into
//! ([`Decoded`], [`Received`], [`InvalidPayload`]), the raw JSON text untyped payloads are kept
//! as ([`RawJson`]), and the typed handler marker [`EventType`].
//!
//! Parsing is two steps, as in octocrab: a format ([`Format`]) reads the envelope to learn the
//! event's type name, then deserializes `data` into the typed payload for that name. An unknown
//! name is never an error (the event enum keeps it in an `Unknown` variant), and a known name
//! whose `data` does not fit its schema becomes an [`InvalidPayload`] that is acknowledged and handed
//! to the fallback handler with the raw data and the error.
//!
//! # Example
//!
//! ```
//! use webhook_receiver::DedupKey;
//! use webhook_receiver::event::{Decoded, Event, Received};
//!
//! #[derive(Clone, Debug)]
//! struct Ping;
//! impl Event for Ping {
//!     fn event_name(&self) -> &str { "ping" }
//! }
//!
//! let decoded = Decoded::new(Ping, DedupKey::from_parts(&[b"ping", b"1"])).with_id("1");
//! assert_eq!(decoded.event_name(), "ping");
//! assert_eq!(decoded.id(), Some("1"));
//! assert!(matches!(decoded.received(), Received::Event(Ping)));
//! ```

use http::HeaderMap;

#[cfg(doc)]
use crate::dedup::DedupKey;
#[cfg(doc)]
use crate::error::DecodeError;
use crate::error::Rejection;

mod decoded;
mod event_type;
mod raw;

pub use decoded::{Decoded, InvalidPayload, Received};
pub use event_type::EventType;
pub use raw::RawJson;

/// A typed webhook event: something with a type name that handlers are routed by.
///
/// Implemented by provider event enums such as [`ChirpEvent`](crate::chirp::ChirpEvent) and by
/// users' own enums (see [`JsonFormat`](crate::json::JsonFormat)).
///
/// ```
/// use webhook_receiver::Event;
///
/// #[derive(Clone, Debug)]
/// enum MyEvent { Ping }
///
/// impl Event for MyEvent {
///     fn event_name(&self) -> &str { "ping" }
/// }
/// assert_eq!(MyEvent::Ping.event_name(), "ping");
/// ```
pub trait Event: Clone + Send + Sync + 'static {
    /// The event's type name on the wire, e.g. `messages.sms.delivered`.
    fn event_name(&self) -> &str;
}

/// A wire format: turns a verified request (headers and raw body) into an event and its dedup key.
///
/// The receiver calls [`decode`](Format::decode) once per request, after authentication and
/// the body limit. Return [`DecodeError`] only when the body is not an event at all (not JSON, no
/// type name, ...): that answers 400. A recognised envelope whose payload does not fit its typed
/// schema should be returned as [`Decoded::invalid`] so that it is acknowledged and reaches the
/// fallback handler instead of being retried forever by the sender.
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::event::{Format, Decoded, Event};
/// use webhook_receiver::{DecodeError, DedupKey, Rejection};
///
/// #[derive(Clone, Debug)]
/// struct Line(String);
/// impl Event for Line {
///     fn event_name(&self) -> &str { "line" }
/// }
///
/// struct LineFormat;
/// impl Format for LineFormat {
///     type Event = Line;
///     fn decode(&self, _: &HeaderMap, body: &[u8]) -> Result<Decoded<Line>, Rejection> {
///         let text = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
///         Ok(Decoded::new(Line(text.to_owned()), DedupKey::from_parts(&[body])))
///     }
/// }
///
/// let decoded = LineFormat.decode(&HeaderMap::new(), b"hello").unwrap();
/// assert_eq!(decoded.event_name(), "line");
/// ```
pub trait Format: Send + Sync + 'static {
    /// The event type this format produces.
    type Event: Event;

    /// Decodes one request body.
    ///
    /// # Errors
    ///
    /// The [`Rejection`] to answer with when the body is not an acceptable event of this format
    /// (usually a [`DecodeError`], answered 400); the receiver remembers nothing.
    fn decode(&self, headers: &HeaderMap, body: &[u8]) -> Result<Decoded<Self::Event>, Rejection>;
}
