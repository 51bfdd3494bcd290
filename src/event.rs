//! Events: the [`Event`] trait, the [`DecodeEvent`] format trait, [`DedupKey`], and the typed
//! handler marker [`EventType`].
//!
//! Parsing is two steps, as in octocrab: a format ([`DecodeEvent`]) reads the envelope to learn the
//! event's type name, then deserializes `data` into the typed payload for that name. An unknown
//! name is never an error (the event enum keeps it in an `Unknown` variant), and a known name
//! whose `data` does not fit its schema becomes an [`InvalidPayload`] that is acknowledged and handed
//! to the fallback handler with the raw data and the error.
//!
//! # Example
//!
//! ```
//! use webhook_receiver::event::DedupKey;
//!
//! let a = DedupKey::from_parts(&[b"messages.sms.sent", b"msg_1"]);
//! let b = DedupKey::from_parts(&[b"messages.sms.delivered", b"msg_1"]);
//! assert_ne!(a, b);
//! assert_eq!(a, DedupKey::from_parts(&[b"messages.sms.sent", b"msg_1"]));
//! assert_eq!(a.to_string().len(), 32);
//! ```

use std::fmt;

use http::HeaderMap;
use serde_json::Value;
use sha2::{Digest, Sha256};

#[cfg(doc)]
use crate::error::DecodeError;
use crate::error::Rejection;

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
/// The receiver calls [`decode`](DecodeEvent::decode) once per request, after authentication and
/// the body limit. Return [`DecodeError`] only when the body is not an event at all (not JSON, no
/// type name, ...): that answers 400. A recognised envelope whose payload does not fit its typed
/// schema should be returned as [`Decoded::invalid`] so that it is acknowledged and reaches the
/// fallback handler instead of being retried forever by the sender.
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::event::{DecodeEvent, Decoded, DedupKey, Event};
/// use webhook_receiver::{DecodeError, Rejection};
///
/// #[derive(Clone, Debug)]
/// struct Line(String);
/// impl Event for Line {
///     fn event_name(&self) -> &str { "line" }
/// }
///
/// struct LineFormat;
/// impl DecodeEvent for LineFormat {
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
pub trait DecodeEvent: Send + Sync + 'static {
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

/// The result of decoding one request: the item to dispatch and its dedup key.
#[derive(Debug, Clone)]
pub struct Decoded<E> {
    item: Received<E>,
    key: DedupKey,
    id: Option<Box<str>>,
}

impl<E: Event> Decoded<E> {
    /// A typed event with its dedup key.
    pub fn new(event: E, key: DedupKey) -> Self {
        Self {
            item: Received::Event(event),
            key,
            id: None,
        }
    }

    /// A known event type whose payload did not fit its schema.
    pub fn invalid(invalid: InvalidPayload, key: DedupKey) -> Self {
        Self {
            item: Received::Invalid(invalid),
            key,
            id: None,
        }
    }

    /// The event type name.
    pub fn event_name(&self) -> &str {
        self.item.event_name()
    }

    /// The dedup key.
    pub fn key(&self) -> DedupKey {
        self.key
    }

    /// The decoded item.
    pub fn item(&self) -> &Received<E> {
        &self.item
    }

    /// Replaces the dedup key (used by key overrides).
    #[must_use]
    pub fn with_key(mut self, key: DedupKey) -> Self {
        self.key = key;
        self
    }

    /// Records the sender's id for the event (Chirp's `data.id`, a top-level `id`, a
    /// `webhook-id` header), given to handlers as [`EventContext::id`](crate::dispatch::EventContext::id).
    #[must_use]
    pub fn with_id(mut self, id: impl Into<Box<str>>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The sender's id for the event, if the format knows one.
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Splits into the item, the key and the id.
    pub fn into_parts(self) -> (Received<E>, DedupKey, Option<Box<str>>) {
        (self.item, self.key, self.id)
    }
}

/// What gets dispatched: a typed event, or an event whose payload did not fit its schema.
#[derive(Debug, Clone)]
pub enum Received<E> {
    /// A typed event (this includes the event enum's own `Unknown` variant, if it has one).
    Event(E),
    /// A known event type whose `data` did not deserialize; only the fallback receives it.
    Invalid(InvalidPayload),
}

impl<E: Event> Received<E> {
    /// The event type name.
    pub fn event_name(&self) -> &str {
        match self {
            Self::Event(e) => e.event_name(),
            Self::Invalid(i) => &i.event_name,
        }
    }
}

/// A known event type whose payload did not fit its typed schema.
///
/// It is acknowledged (a 400 would only make the sender retry the same bytes and then give up),
/// logged with the field path, and handed to the fallback handler with the raw data.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvalidPayload {
    /// The event type name from the envelope.
    pub event_name: String,
    /// The raw `data` as received.
    pub data: Value,
    /// The JSON path of the field that failed, e.g. `error.provider.code` (`.` for the root).
    pub path: String,
    /// The deserializer's message.
    pub error: String,
}

impl InvalidPayload {
    /// Builds an invalid event from a path-aware deserialization error.
    pub fn new(
        event_name: impl Into<String>,
        data: Value,
        path: impl Into<String>,
        error: impl Into<String>,
    ) -> Self {
        Self {
            event_name: event_name.into(),
            data,
            path: path.into(),
            error: error.into(),
        }
    }

    /// Tries to deserialize `data` as `T`, reporting the failing field's path.
    ///
    /// # Errors
    ///
    /// The [`InvalidPayload`] (with `event_name`, the raw data, the path and the message) when `data` does
    /// not fit `T`.
    ///
    /// ```
    /// use webhook_receiver::event::InvalidPayload;
    /// #[derive(serde::Deserialize, Debug)]
    /// struct P { id: String }
    /// let err = InvalidPayload::parse::<P>("x", serde_json::json!({"id": 5})).unwrap_err();
    /// assert_eq!(err.path, "id");
    /// ```
    pub fn parse<T: serde::de::DeserializeOwned>(event_name: &str, data: Value) -> Result<T, Self> {
        match serde_path_to_error::deserialize::<_, T>(&data) {
            Ok(v) => Ok(v),
            Err(e) => {
                let path = e.path().to_string();
                let error = e.into_inner().to_string();
                Err(Self::new(event_name, data, path, error))
            }
        }
    }
}

impl fmt::Display for InvalidPayload {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "`{}` payload invalid at `{}`: {}",
            self.event_name, self.path, self.error
        )
    }
}

/// A compact, fixed-size deduplication key: 128 bits of SHA-256 over the key material.
///
/// Fixed size keeps memory per remembered id small and constant whatever the id's length, and the
/// digest never holds the payload itself. Build it from the parts that identify one event
/// ([`from_parts`](Self::from_parts)) or from a canonical form of the whole payload
/// ([`from_json`](Self::from_json)).
///
/// ```
/// use webhook_receiver::event::DedupKey;
/// // parts are length-prefixed: ("ab", "c") and ("a", "bc") differ
/// assert_ne!(DedupKey::from_parts(&[b"ab", b"c"]), DedupKey::from_parts(&[b"a", b"bc"]));
/// ```
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct DedupKey([u8; 16]);

impl DedupKey {
    /// Wraps 16 raw bytes.
    pub const fn from_bytes(bytes: [u8; 16]) -> Self {
        Self(bytes)
    }

    /// The raw bytes.
    pub const fn as_bytes(&self) -> &[u8; 16] {
        &self.0
    }

    /// Digest of several parts, each length-prefixed so that boundaries cannot shift.
    pub fn from_parts(parts: &[&[u8]]) -> Self {
        let mut h = Sha256::new();
        for p in parts {
            h.update((p.len() as u64).to_le_bytes());
            h.update(p);
        }
        Self::finish(h)
    }

    /// Digest of a type name and the canonical form of a JSON value (object keys sorted, no
    /// whitespace), so that two deliveries of the same content give the same key whatever their
    /// key order or spacing, and any change of content gives a different key.
    ///
    /// ```
    /// use serde_json::json;
    /// use webhook_receiver::event::DedupKey;
    /// let a = DedupKey::from_json("t", &json!({"a": 1, "b": 2}));
    /// let b: serde_json::Value = serde_json::from_str(r#"{ "b": 2, "a": 1 }"#).unwrap();
    /// assert_eq!(a, DedupKey::from_json("t", &b));
    /// assert_ne!(a, DedupKey::from_json("t", &json!({"a": 1, "b": 3})));
    /// ```
    pub fn from_json(event_name: &str, value: &Value) -> Self {
        let mut h = Sha256::new();
        h.update((event_name.len() as u64).to_le_bytes());
        h.update(event_name.as_bytes());
        canonical(value, &mut h);
        Self::finish(h)
    }

    fn finish(h: Sha256) -> Self {
        let digest = h.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }
}

/// Feeds the canonical form of `value` to the hasher: object keys sorted (whatever
/// serde_json's `preserve_order` feature says), no whitespace, strings and numbers as serde_json
/// writes them.
fn canonical(value: &Value, h: &mut Sha256) {
    match value {
        Value::Object(map) => {
            let mut entries: Vec<(&String, &Value)> = map.iter().collect();
            entries.sort_unstable_by(|a, b| a.0.cmp(b.0));
            h.update(b"{");
            for (i, (k, v)) in entries.into_iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                h.update(
                    serde_json::to_string(k.as_str())
                        .unwrap_or_default()
                        .as_bytes(),
                );
                h.update(b":");
                canonical(v, h);
            }
            h.update(b"}");
        }
        Value::Array(items) => {
            h.update(b"[");
            for (i, v) in items.iter().enumerate() {
                if i > 0 {
                    h.update(b",");
                }
                canonical(v, h);
            }
            h.update(b"]");
        }
        scalar => h.update(serde_json::to_string(scalar).unwrap_or_default().as_bytes()),
    }
}

impl fmt::Display for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        // One write of 32 hex digits: this runs for every dispatched event (the dispatch span,
        // handlers' logs), where 16 formatted writes showed in profiles.
        let mut hex = [0u8; 32];
        hex::encode_to_slice(self.0, &mut hex).map_err(|_| fmt::Error)?;
        f.write_str(std::str::from_utf8(&hex).map_err(|_| fmt::Error)?)
    }
}

impl fmt::Debug for DedupKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "DedupKey({self})")
    }
}

/// A typed event type of an event enum `E` whose payload is `P`: the name handlers are routed by
/// and how to reach the payload. Handlers registered with it get `P` directly, no `match`.
///
/// Providers ship constants (e.g. [`chirp::SMS_DELIVERED`](crate::chirp::SMS_DELIVERED)); for
/// your own enum, one line per variant:
///
/// ```
/// use webhook_receiver::{Event, EventType};
///
/// #[derive(Clone, Debug)]
/// struct User { id: String }
/// #[derive(Clone, Debug)]
/// enum MyEvent { UserCreated(User), Other }
/// impl Event for MyEvent {
///     fn event_name(&self) -> &str {
///         match self { Self::UserCreated(_) => "user.created", Self::Other => "other" }
///     }
/// }
///
/// const USER_CREATED: EventType<MyEvent, User> = EventType::new("user.created", |e| match e {
///     MyEvent::UserCreated(u) => Some(u),
///     _ => None,
/// });
///
/// let e = MyEvent::UserCreated(User { id: "u1".into() });
/// assert_eq!(USER_CREATED.payload(&e).unwrap().id, "u1");
/// assert_eq!(USER_CREATED.name(), "user.created");
/// ```
///
/// Handlers take their payload by value. The dispatcher clones it for every handler of an event
/// but the last one, which gets the event's own payload if the type says how to take it out
/// ([`taking`](Self::taking)); without that, the last handler gets a clone too.
pub struct EventType<E, P> {
    name: &'static str,
    extract: fn(&E) -> Option<&P>,
    take: Option<fn(E) -> Option<P>>,
}

impl<E, P> EventType<E, P> {
    /// Declares an event type by its wire name and its payload accessor.
    pub const fn new(name: &'static str, extract: fn(&E) -> Option<&P>) -> Self {
        Self {
            name,
            extract,
            take: None,
        }
    }

    /// Says how to move the payload out of an event, so that the last handler of an event gets
    /// it without a clone (worth it for large payloads).
    ///
    /// ```
    /// use webhook_receiver::{Event, EventType};
    ///
    /// #[derive(Clone, Debug)]
    /// struct User { id: String }
    /// #[derive(Clone, Debug)]
    /// enum MyEvent { UserCreated(User), Other }
    /// impl Event for MyEvent {
    ///     fn event_name(&self) -> &str {
    ///         match self { Self::UserCreated(_) => "user.created", Self::Other => "other" }
    ///     }
    /// }
    ///
    /// const USER_CREATED: EventType<MyEvent, User> = EventType::new("user.created", |e| match e {
    ///     MyEvent::UserCreated(u) => Some(u),
    ///     _ => None,
    /// })
    /// .taking(|e| match e {
    ///     MyEvent::UserCreated(u) => Some(u),
    ///     _ => None,
    /// });
    ///
    /// let e = MyEvent::UserCreated(User { id: "u1".into() });
    /// assert_eq!(USER_CREATED.take(e).unwrap().id, "u1");
    /// ```
    #[must_use]
    pub const fn taking(self, take: fn(E) -> Option<P>) -> Self {
        Self {
            take: Some(take),
            ..self
        }
    }

    /// The wire name.
    pub const fn name(&self) -> &'static str {
        self.name
    }

    /// The payload, if `event` is of this type.
    pub fn payload<'a>(&self, event: &'a E) -> Option<&'a P> {
        (self.extract)(event)
    }

    /// The payload by value, if `event` is of this type: moved out when the type was declared
    /// [`taking`](Self::taking) it, cloned otherwise.
    pub fn take(&self, event: E) -> Option<P>
    where
        P: Clone,
    {
        match self.take {
            Some(take) => take(event),
            None => self.payload(&event).cloned(),
        }
    }
}

impl<E, P> Clone for EventType<E, P> {
    fn clone(&self) -> Self {
        *self
    }
}
impl<E, P> Copy for EventType<E, P> {}

impl<E, P> fmt::Debug for EventType<E, P> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("EventType").field(&self.name).finish()
    }
}
