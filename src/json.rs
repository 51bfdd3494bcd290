//! Your own events: plug any JSON webhook sender into the pipeline with a serde type.
//!
//! [`JsonFormat<E>`] reads the event type name and the dedup key from where you say (a field of
//! the envelope, a header, or a closure), deserializes the payload into your serde type `E`, and
//! dispatches a [`JsonEvent<E>`]: handlers are registered per type with typed payloads through
//! [`EventType`](crate::EventType) constants, as for Chirp.
//!
//! `E` is a plain serde enum with one variant per type, renamed to the wire name
//! (`#[serde(rename = "user.created")] UserCreated(User)`); the type name picks the variant and
//! the payload (`data` by default) fills it, so a field that does not fit is reported with its
//! path. `E` may also be a struct, deserialized from the payload whatever the type.
//!
//! Unknown types never break the receiver: a type name with no variant is dispatched with
//! [`JsonEvent::typed`] = `None` and the raw body kept (as text, [`RawJson`]), and reaches `on_group` handlers or the
//! fallback. A known type whose payload does not fit reaches the fallback as
//! [`Received::Invalid`](crate::event::Received::Invalid) (acknowledged, not retried).
//!
//! The defaults fit the common envelope `{"id", "type", "created_at", "data"}` (the generic
//! HMAC-signed format): type from `/type`, dedup key from `/id`.
//!
//! # Dedup key
//!
//! The key is the id alone, as text, with its JSON type: the number `1` and the string `"1"`
//! are two keys (a JSON number is keyed by its value as serde_json reads it, exact up to 64-bit
//! integers; send larger ids as strings). The event type is not part of the key: in the
//! generic format `id` is the event's own id (`evt_...`, one per event whatever its type) and a
//! redelivery repeats both, so a redelivery still collapses. A sender whose ids are unique per
//! type only can say so with [`key_with`](JsonFormat::key_with)
//! (`format!("{type}:{id}")`).
//!
//! # Replay guard
//!
//! Deduplication only remembers an id for its TTL. A captured, correctly signed request replayed
//! after its id has left the cache would be accepted again. [`JsonFormat::max_age`] rejects events
//! whose own timestamp (e.g. `created_at`) is older than a window — set it no longer than the
//! dedup TTL, so that every replayable request is either remembered or too old — and events
//! dated more than [`max_future_skew`](JsonFormat::max_future_skew) ahead of now (5 minutes by
//! default), which would otherwise stay "fresh" long after their id is forgotten. A missing
//! timestamp is a 400, like any missing envelope field. (Standard Webhooks does the same with
//! its signed `webhook-timestamp`, ±5 minutes.)
//!
//! # Example
//!
//! ```
//! use serde::Deserialize;
//! use webhook_receiver::json::{JsonEvent, JsonFormat};
//! use webhook_receiver::{DecodeEvent, EventType};
//!
//! #[derive(Debug, Clone, Deserialize)]
//! struct User { id: String, name: String }
//!
//! #[derive(Debug, Clone, Deserialize)]
//! enum MyEvent {
//!     #[serde(rename = "user.created")]
//!     UserCreated(User),
//!     #[serde(rename = "user.deleted")]
//!     UserDeleted { id: String },
//! }
//!
//! const USER_CREATED: EventType<JsonEvent<MyEvent>, User> =
//!     EventType::new("user.created", |e| match e.typed()? {
//!         MyEvent::UserCreated(u) => Some(u),
//!         _ => None,
//!     });
//!
//! let format = JsonFormat::<MyEvent>::new(); // type from /type, key from /id
//! let body = br#"{"id":"evt_1","type":"user.created","created_at":"2026-01-15T12:30:00Z",
//!                 "data":{"id":"user_1","name":"Ada"}}"#;
//! let decoded = format.decode(&http::HeaderMap::new(), body).unwrap();
//! assert_eq!(decoded.event_name(), "user.created");
//! # use webhook_receiver::event::Received;
//! let Received::Event(event) = decoded.received() else { panic!() };
//! assert_eq!(USER_CREATED.payload(event).unwrap().name, "Ada");
//! assert_eq!(event.id(), Some("evt_1"));
//!
//! // A type the enum does not know is still an event, with its raw body (kept as text).
//! let body = br#"{"id":"evt_2","type":"file.uploaded","data":{"id":"f_1"}}"#;
//! let decoded = format.decode(&http::HeaderMap::new(), body).unwrap();
//! let Received::Event(event) = decoded.received() else { panic!() };
//! assert!(event.typed().is_none());
//! assert_eq!(event.raw().get(), std::str::from_utf8(body).unwrap());
//! assert_eq!(event.raw().to_value().unwrap()["data"]["id"], "f_1");
//! ```

use std::collections::HashMap;
use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use http::header::HeaderName;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use crate::dedup::DedupKey;
use crate::error::{DecodeError, Rejection};
use crate::event::{DecodeEvent, Decoded, Event, InvalidPayload, RawJson};

/// A decoded JSON event: the type name, the id (if the format has one), your typed event, and
/// the raw body (as its text: see [`raw`](Self::raw)).
///
/// ```
/// use webhook_receiver::event::{DecodeEvent, Received};
/// use webhook_receiver::json::JsonFormat;
///
/// #[derive(Debug, Clone, serde::Deserialize)]
/// enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
///
/// let body = br#"{"id": "evt_1", "type": "order.paid", "data": {"amount": 12}}"#;
/// let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
/// let Received::Event(event) = decoded.received() else { panic!("invalid") };
/// assert!(matches!(event.typed(), Some(MyEvent::OrderPaid { amount: 12 })));
/// ```
#[derive(Debug, Clone)]
pub struct JsonEvent<E> {
    event_name: String,
    id: Option<String>,
    event: Option<E>,
    raw: RawJson,
}

impl<E> JsonEvent<E> {
    /// The event type name.
    ///
    /// ```
    /// # use webhook_receiver::event::{DecodeEvent, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let event = decode(br#"{"id": "1", "type": "order.paid", "data": {"amount": 12}}"#);
    /// assert_eq!(event.event_name(), "order.paid");
    /// ```
    pub fn event_name(&self) -> &str {
        &self.event_name
    }

    /// The event id, when the key source is a field or header holding one.
    ///
    /// ```
    /// # use webhook_receiver::event::{DecodeEvent, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let event = decode(br#"{"id": "evt_1", "type": "order.paid", "data": {"amount": 12}}"#);
    /// assert_eq!(event.id(), Some("evt_1"));
    /// ```
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Your typed event, or `None` for a type your enum has no variant for (see
    /// [`raw`](Self::raw) for its data).
    ///
    /// ```
    /// # use webhook_receiver::event::{DecodeEvent, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let paid = decode(br#"{"id": "1", "type": "order.paid", "data": {"amount": 12}}"#);
    /// assert!(matches!(paid.typed(), Some(MyEvent::OrderPaid { amount: 12 })));
    /// let refunded = decode(br#"{"id": "2", "type": "order.refunded", "data": {}}"#);
    /// assert!(refunded.typed().is_none()); // no variant: still an event
    /// ```
    pub fn typed(&self) -> Option<&E> {
        self.event.as_ref()
    }

    /// The whole body as received, as its JSON text (for unknown types, logging, or archiving);
    /// [`RawJson::parse`] reads it into your type, [`RawJson::to_value`] into a tree. It is
    /// kept as text because a queued event would hold a tree for as long as it waits, and a
    /// tree takes many times the bytes of its text.
    ///
    /// ```
    /// # use webhook_receiver::event::{DecodeEvent, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let event = decode(br#"{"id": "2", "type": "order.refunded", "data": {"amount": 5}}"#);
    /// assert_eq!(event.raw().get(), r#"{"id": "2", "type": "order.refunded", "data": {"amount": 5}}"#);
    /// let body = event.raw().to_value().unwrap();
    /// assert_eq!((&body["type"], &body["data"]["amount"]), (&"order.refunded".into(), &5.into()));
    /// ```
    pub fn raw(&self) -> &RawJson {
        &self.raw
    }

    /// Consumes `self`, returning your typed event (`None` for an unknown type).
    ///
    /// ```
    /// # use webhook_receiver::event::{DecodeEvent, Received};
    /// # use webhook_receiver::json::{JsonEvent, JsonFormat};
    /// # #[derive(Debug, Clone, serde::Deserialize)]
    /// # enum MyEvent { #[serde(rename = "order.paid")] OrderPaid { amount: u64 } }
    /// # fn decode(body: &[u8]) -> JsonEvent<MyEvent> {
    /// #     let decoded = JsonFormat::<MyEvent>::new().decode(&http::HeaderMap::new(), body).unwrap();
    /// #     let (Received::Event(event), _, _) = decoded.into_parts() else { panic!("invalid") };
    /// #     event
    /// # }
    /// let event = decode(br#"{"id": "1", "type": "order.paid", "data": {"amount": 12}}"#);
    /// let Some(MyEvent::OrderPaid { amount }) = event.into_typed() else { panic!("unknown") };
    /// assert_eq!(amount, 12);
    /// ```
    pub fn into_typed(self) -> Option<E> {
        self.event
    }
}

impl<E: Clone + Send + Sync + fmt::Debug + 'static> Event for JsonEvent<E> {
    fn event_name(&self) -> &str {
        &self.event_name
    }
}

/// The Standard Webhooks message id header, and Svix's brand of it.
const WEBHOOK_ID: &str = "webhook-id";
const SVIX_ID: &str = "svix-id";

/// Where a string (type name or id) comes from.
#[derive(Clone)]
enum Source {
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
enum IdKind {
    Text,
    Number,
}

impl Source {
    fn get(&self, body: &Value, headers: &HeaderMap) -> Result<Option<String>, DecodeError> {
        Ok(self.get_with_kind(body, headers)?.map(|(s, _)| s))
    }

    fn get_with_kind(
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

    fn missing(&self) -> DecodeError {
        match self {
            Self::Pointer(p) => DecodeError::MissingField(field_name(p)),
            Self::Header(_) | Self::WebhookId | Self::Fn(_) => DecodeError::MissingField("key"),
        }
    }
}

/// The dedup key of an id: its text, and for a JSON number a tag too, so that the number `1`
/// and the string `"1"` are two keys. The event type is not part of it.
fn id_key(id: &str, kind: IdKind) -> DedupKey {
    match kind {
        IdKind::Text => DedupKey::from_parts(&[id.as_bytes()]),
        IdKind::Number => DedupKey::from_parts(&[b"json-number", id.as_bytes()]),
    }
}

/// What kind of JSON value `value` is, for error messages.
fn json_type(value: &Value) -> &'static str {
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
fn header_name(name: &str) -> HeaderName {
    HeaderName::from_bytes(name.as_bytes())
        .unwrap_or_else(|_| panic!("`{name}` is not a valid header name"))
}

fn field_name(pointer: &'static str) -> &'static str {
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

/// A JSON wire format for your serde type `E`. See the [module docs](crate::json).
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::event::DecodeEvent;
/// use webhook_receiver::json::JsonFormat;
///
/// // `{"event": ..., "payload": {...}}`, deduplicated by a delivery header.
/// let format = JsonFormat::<serde_json::Value>::new()
///     .name_field("/event")
///     .data_field("/payload")
///     .key_header("x-delivery");
/// let mut headers = HeaderMap::new();
/// headers.insert("x-delivery", "d-1".parse().unwrap());
/// let decoded = format.decode(&headers, br#"{"event": "build.done", "payload": {}}"#).unwrap();
/// assert_eq!((decoded.event_name(), decoded.id()), ("build.done", Some("d-1")));
/// ```
pub struct JsonFormat<E> {
    name: Source,
    key: Source,
    data: &'static str,
    max_age: Option<(&'static str, Duration)>,
    max_future_skew: Duration,
    _event: PhantomData<fn() -> E>,
}

impl<E> Clone for JsonFormat<E> {
    fn clone(&self) -> Self {
        Self {
            name: self.name.clone(),
            key: self.key.clone(),
            data: self.data,
            max_age: self.max_age,
            max_future_skew: self.max_future_skew,
            _event: PhantomData,
        }
    }
}

impl<E> fmt::Debug for JsonFormat<E> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("JsonFormat")
            .field("name", &self.name)
            .field("key", &self.key)
            .field("data", &self.data)
            .field("max_age", &self.max_age)
            .field("max_future_skew", &self.max_future_skew)
            .finish()
    }
}

impl<E> Default for JsonFormat<E> {
    fn default() -> Self {
        Self::new()
    }
}

impl<E> JsonFormat<E> {
    /// Type name from the `type` field, dedup key from the `id` field, payload in `data`, no
    /// replay guard.
    ///
    /// ```
    /// use webhook_receiver::event::DecodeEvent;
    /// use webhook_receiver::json::JsonFormat;
    ///
    /// let format = JsonFormat::<serde_json::Value>::new();
    /// let body = br#"{"id": "evt_1", "type": "ping", "data": {}}"#;
    /// let decoded = format.decode(&http::HeaderMap::new(), body).unwrap();
    /// assert_eq!((decoded.event_name(), decoded.id()), ("ping", Some("evt_1")));
    /// ```
    pub fn new() -> Self {
        Self {
            name: Source::Pointer("/type"),
            key: Source::Pointer("/id"),
            data: "/data",
            max_age: None,
            max_future_skew: Self::DEFAULT_MAX_FUTURE_SKEW,
            _event: PhantomData,
        }
    }

    /// Reads the type name at a JSON pointer (e.g. `/event`, `/meta/type`).
    ///
    /// ```
    /// # use webhook_receiver::event::DecodeEvent;
    /// # use webhook_receiver::json::JsonFormat;
    /// let format = JsonFormat::<serde_json::Value>::new().name_field("/meta/type");
    /// let body = br#"{"id": "1", "meta": {"type": "order.paid"}, "data": {}}"#;
    /// let decoded = format.decode(&http::HeaderMap::new(), body).unwrap();
    /// assert_eq!(decoded.event_name(), "order.paid");
    /// ```
    #[must_use]
    pub fn name_field(mut self, pointer: &'static str) -> Self {
        self.name = Source::Pointer(pointer);
        self
    }

    /// Reads the payload your type is deserialized from at a JSON pointer (default `/data`;
    /// `""` is the whole body).
    ///
    /// ```
    /// # use webhook_receiver::event::{DecodeEvent, Received};
    /// # use webhook_receiver::json::JsonFormat;
    /// #[derive(Clone, Debug, serde::Deserialize)]
    /// struct Order { amount: u64 }
    ///
    /// let format = JsonFormat::<Order>::new().data_field(""); // fields at the top level
    /// let body = br#"{"id": "1", "type": "order.paid", "amount": 12}"#;
    /// let decoded = format.decode(&http::HeaderMap::new(), body).unwrap();
    /// let Received::Event(event) = decoded.received() else { panic!("invalid") };
    /// assert_eq!(event.typed().unwrap().amount, 12);
    /// ```
    #[must_use]
    pub fn data_field(mut self, pointer: &'static str) -> Self {
        self.data = pointer;
        self
    }

    /// Reads the type name from a header (e.g. GitHub's `X-GitHub-Event`). Header names are
    /// case-insensitive: any case is accepted.
    ///
    /// ```
    /// # use webhook_receiver::event::DecodeEvent;
    /// # use webhook_receiver::json::JsonFormat;
    /// let format = JsonFormat::<serde_json::Value>::new().name_header("X-GitHub-Event");
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("x-github-event", "push".parse().unwrap());
    /// let decoded = format.decode(&headers, br#"{"id": "1", "data": {}}"#).unwrap();
    /// assert_eq!(decoded.event_name(), "push");
    /// ```
    ///
    /// # Panics
    ///
    /// If `header` is not a valid header name (a programming error).
    #[must_use]
    #[track_caller]
    pub fn name_header(mut self, header: &str) -> Self {
        self.name = Source::Header(header_name(header));
        self
    }

    /// Computes the type name with a closure over the body and the headers.
    ///
    /// ```
    /// # use webhook_receiver::event::DecodeEvent;
    /// # use webhook_receiver::json::JsonFormat;
    /// let format = JsonFormat::<serde_json::Value>::new().name_with(|body, _headers| {
    ///     Some(format!("{}.{}", body["object"].as_str()?, body["action"].as_str()?))
    /// });
    /// let body = br#"{"id": "1", "object": "invoice", "action": "paid", "data": {}}"#;
    /// let decoded = format.decode(&http::HeaderMap::new(), body).unwrap();
    /// assert_eq!(decoded.event_name(), "invoice.paid");
    /// ```
    #[must_use]
    pub fn name_with(
        mut self,
        f: impl Fn(&Value, &HeaderMap) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.name = Source::Fn(Arc::new(f));
        self
    }

    /// Dedups by the string (or number) at a JSON pointer (e.g. `/id`, `/event_id`). See the
    /// [module docs](crate::json#dedup-key) for the key.
    ///
    /// ```
    /// # use webhook_receiver::event::DecodeEvent;
    /// # use webhook_receiver::json::JsonFormat;
    /// let format = JsonFormat::<serde_json::Value>::new().key_field("/event_id");
    /// let decode = |body: &[u8]| format.decode(&http::HeaderMap::new(), body).unwrap();
    /// let first = decode(br#"{"event_id": "e1", "type": "ping", "data": {"try": 1}}"#);
    /// let again = decode(br#"{"event_id": "e1", "type": "ping", "data": {"try": 2}}"#);
    /// assert_eq!(first.key(), again.key()); // same id: a redelivery
    /// ```
    #[must_use]
    pub fn key_field(mut self, pointer: &'static str) -> Self {
        self.key = Source::Pointer(pointer);
        self
    }

    /// Dedups by a header (e.g. `webhook-id`, `X-GitHub-Delivery`). Header names are
    /// case-insensitive: any case is accepted.
    ///
    /// `webhook-id` is the Standard Webhooks message id, and reads the header
    /// [`StandardWebhooks`](crate::verify) verified: `webhook-id`, or Svix's `svix-id` when
    /// there is no `webhook-id` (the verifier accepts both brands, by the same rule), so a
    /// Svix sender is keyed by its message id too.
    ///
    /// ```
    /// # use webhook_receiver::event::DecodeEvent;
    /// # use webhook_receiver::json::JsonFormat;
    /// let format = JsonFormat::<serde_json::Value>::new().key_header("webhook-id");
    /// let mut headers = http::HeaderMap::new();
    /// headers.insert("webhook-id", "msg_1".parse().unwrap());
    /// let decoded = format.decode(&headers, br#"{"type": "ping", "data": {}}"#).unwrap();
    /// assert_eq!(decoded.id(), Some("msg_1"));
    /// // Svix-branded headers: the same id.
    /// let mut svix = http::HeaderMap::new();
    /// svix.insert("svix-id", "msg_1".parse().unwrap());
    /// let branded = format.decode(&svix, br#"{"type": "ping", "data": {}}"#).unwrap();
    /// assert_eq!((branded.id(), branded.key()), (Some("msg_1"), decoded.key()));
    /// // Without the header the request is rejected (400).
    /// assert!(format.decode(&http::HeaderMap::new(), br#"{"type": "ping"}"#).is_err());
    /// ```
    ///
    /// # Panics
    ///
    /// If `header` is not a valid header name (a programming error).
    #[must_use]
    #[track_caller]
    pub fn key_header(mut self, header: &str) -> Self {
        let header = header_name(header);
        self.key = if header == WEBHOOK_ID {
            Source::WebhookId
        } else {
            Source::Header(header)
        };
        self
    }

    /// Dedups by a string computed from the body and headers.
    ///
    /// ```
    /// # use webhook_receiver::event::DecodeEvent;
    /// # use webhook_receiver::json::JsonFormat;
    /// let format = JsonFormat::<serde_json::Value>::new().key_with(|body, _headers| {
    ///     Some(format!("{}@{}", body["data"]["order"].as_str()?, body["created_at"].as_str()?))
    /// });
    /// let body = br#"{"type": "order.paid", "created_at": "2026-01-15", "data": {"order": "o_1"}}"#;
    /// let decoded = format.decode(&http::HeaderMap::new(), body).unwrap();
    /// assert_eq!(decoded.id(), Some("o_1@2026-01-15"));
    /// ```
    #[must_use]
    pub fn key_with(
        mut self,
        f: impl Fn(&Value, &HeaderMap) -> Option<String> + Send + Sync + 'static,
    ) -> Self {
        self.key = Source::Fn(Arc::new(f));
        self
    }

    /// Replay guard: rejects (401 `event_too_old`) events whose timestamp at `pointer` (RFC 3339
    /// string or Unix seconds) is older than `max_age`, and (401 `timestamp_out_of_tolerance`)
    /// those dated further ahead of now than [`max_future_skew`](Self::max_future_skew) (5
    /// minutes by default). Set `max_age` no longer than the dedup TTL. See the
    /// [module docs](crate::json#replay-guard).
    ///
    /// A missing, null or malformed timestamp is a 400 (`missing_field` / `invalid_field`), as
    /// any other envelope field the format needs: the body is not an event of this format,
    /// whereas a 401 says the credentials are wrong, which they are not.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    /// # use webhook_receiver::event::DecodeEvent;
    /// # use webhook_receiver::json::JsonFormat;
    ///
    /// let format =
    ///     JsonFormat::<serde_json::Value>::new().max_age("/created_at", Duration::from_secs(300));
    /// let old = br#"{"id": "1", "type": "ping", "created_at": "2020-01-01T00:00:00Z"}"#;
    /// let err = format.decode(&http::HeaderMap::new(), old).unwrap_err();
    /// assert_eq!((err.status().as_u16(), err.code()), (401, "event_too_old"));
    /// let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    /// let fresh = format!(r#"{{"id": "2", "type": "ping", "created_at": {now}}}"#);
    /// assert!(format.decode(&http::HeaderMap::new(), fresh.as_bytes()).is_ok());
    /// let ahead = format!(r#"{{"id": "3", "type": "ping", "created_at": {}}}"#, now + 3600);
    /// let err = format.decode(&http::HeaderMap::new(), ahead.as_bytes()).unwrap_err();
    /// assert_eq!((err.status().as_u16(), err.code()), (401, "timestamp_out_of_tolerance"));
    /// let missing = br#"{"id": "4", "type": "ping"}"#;
    /// let err = format.decode(&http::HeaderMap::new(), missing).unwrap_err();
    /// assert_eq!((err.status().as_u16(), err.code()), (400, "missing_field"));
    /// ```
    #[must_use]
    pub fn max_age(mut self, pointer: &'static str, max_age: Duration) -> Self {
        self.max_age = Some((pointer, max_age));
        self
    }

    /// The default [`max_future_skew`](Self::max_future_skew): 5 minutes, Standard Webhooks'
    /// tolerance.
    ///
    /// ```
    /// use std::time::Duration;
    /// use webhook_receiver::json::JsonFormat;
    /// assert_eq!(JsonFormat::<serde_json::Value>::DEFAULT_MAX_FUTURE_SKEW, Duration::from_secs(300));
    /// ```
    pub const DEFAULT_MAX_FUTURE_SKEW: Duration = Duration::from_secs(5 * 60);

    /// With [`max_age`](Self::max_age): how far ahead of now an event's timestamp may be (the
    /// sender's clock running fast); further is rejected with 401
    /// [`Rejection::StaleTimestamp`] (`timestamp_out_of_tolerance`, `ahead: true`). Default
    /// [5 minutes](Self::DEFAULT_MAX_FUTURE_SKEW). Without a bound, a future-dated event
    /// would stay replayable past its dedup TTL.
    ///
    /// ```
    /// use std::time::{Duration, SystemTime, UNIX_EPOCH};
    /// # use webhook_receiver::event::DecodeEvent;
    /// # use webhook_receiver::json::JsonFormat;
    ///
    /// let format = JsonFormat::<serde_json::Value>::new()
    ///     .max_age("/created_at", Duration::from_secs(300))
    ///     .max_future_skew(Duration::from_secs(30));
    /// let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_secs();
    /// let ahead = format!(r#"{{"id": "1", "type": "ping", "created_at": {}}}"#, now + 120);
    /// let err = format.decode(&http::HeaderMap::new(), ahead.as_bytes()).unwrap_err();
    /// assert_eq!(err.code(), "timestamp_out_of_tolerance");
    /// ```
    #[must_use]
    pub fn max_future_skew(mut self, skew: Duration) -> Self {
        self.max_future_skew = skew;
        self
    }
}

impl<E> JsonFormat<E>
where
    E: DeserializeOwned + Clone + Send + Sync + fmt::Debug + 'static,
{
    fn check_age(&self, body: &Value) -> Result<(), Rejection> {
        let Some((pointer, max_age)) = self.max_age else {
            return Ok(());
        };
        let at = match body.pointer(pointer) {
            Some(Value::String(s)) => chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| DecodeError::InvalidField {
                    field: field_name(pointer),
                    source: Box::new(e),
                })?
                .timestamp(),
            Some(Value::Number(n)) => n.as_i64().ok_or(DecodeError::WrongType {
                field: field_name(pointer),
                expected: "an RFC 3339 string or integer Unix seconds",
                found: "a number out of range",
            })?,
            _ => return Err(DecodeError::MissingField(field_name(pointer)).into()),
        };
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() as i64);
        let ahead = at.saturating_sub(now);
        if ahead > i64::try_from(self.max_future_skew.as_secs()).unwrap_or(i64::MAX) {
            return Err(Rejection::StaleTimestamp {
                skew: Duration::from_secs(ahead.unsigned_abs()),
                ahead: true,
                tolerance: self.max_future_skew,
            });
        }
        let age = now.saturating_sub(at);
        if age > max_age.as_secs() as i64 {
            return Err(Rejection::EventTooOld {
                age: Duration::from_secs(age.unsigned_abs()),
                max_age,
            });
        }
        Ok(())
    }
}

impl<E> DecodeEvent for JsonFormat<E>
where
    E: DeserializeOwned + Clone + Send + Sync + fmt::Debug + 'static,
{
    type Event = JsonEvent<E>;

    fn decode(&self, headers: &HeaderMap, body: &[u8]) -> Result<Decoded<JsonEvent<E>>, Rejection> {
        let text = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
        if text.trim().is_empty() {
            return Err(DecodeError::Empty.into());
        }
        let value: Value = match serde_json::from_str(text) {
            Ok(value) => value,
            Err(error) => return self.decode_unrepresentable(headers, text, error),
        };
        if !value.is_object() {
            return Err(DecodeError::NotObject.into());
        }
        let event_name = self
            .name
            .get(&value, headers)?
            .ok_or_else(|| self.name.missing())?;
        let (id, kind) = self
            .key
            .get_with_kind(&value, headers)?
            .ok_or_else(|| self.key.missing())?;
        self.check_age(&value)?;
        let key = id_key(&id, kind);
        let data = value.pointer(self.data).unwrap_or(&Value::Null);
        let unknown = std::cell::Cell::new(false);
        let parsed = serde_path_to_error::deserialize::<_, E>(Tagged {
            event_name: &event_name,
            data,
            unknown: &unknown,
        });
        let event = match parsed {
            Ok(event) => Some(event),
            Err(_) if unknown.get() => None,
            Err(e) => {
                let path = payload_path(e.path(), &event_name);
                let error = e.into_inner().to_string();
                tracing::warn!(event = %event_name, %path, %error, "payload does not fit its type; handing it to the fallback");
                let data = raw_at(text, self.data);
                return Ok(Decoded::invalid(
                    InvalidPayload::new(event_name, data, path, error),
                    key,
                )
                .with_id(id));
            }
        };
        drop(value);
        // `text` is valid JSON (it parsed into `value`).
        let raw = RawJson::from_string(text.trim_matches(is_json_whitespace).to_owned())
            .map_err(DecodeError::NotJson)?;
        let event = JsonEvent {
            event_name,
            id: Some(id.clone()),
            event,
            raw,
        };
        Ok(Decoded::new(event, key).with_id(id))
    }
}

impl<E: DeserializeOwned + Clone + Send + Sync + fmt::Debug + 'static> JsonFormat<E> {
    /// A body that is valid JSON but not a `serde_json::Value` (a number beyond `f64`, a lone
    /// surrogate escape, nesting deeper than 128). When only the payload field is affected (and
    /// it is a top-level field, as `/data`), the envelope still routes the event: it is
    /// acknowledged as [`Received::Invalid`](crate::event::Received::Invalid) with the payload's
    /// raw text, so that the sender does not retry the same bytes until it gives up. Anywhere
    /// else it is a 400 ([`DecodeError::NotJson`]), as any body that is not JSON.
    #[cold]
    fn decode_unrepresentable(
        &self,
        headers: &HeaderMap,
        text: &str,
        error: serde_json::Error,
    ) -> Result<Decoded<JsonEvent<E>>, Rejection> {
        let field = match self.data.strip_prefix('/') {
            Some(field) if !field.is_empty() && !field.contains('/') => field,
            _ => return Err(DecodeError::NotJson(error).into()),
        };
        let Ok(fields) =
            serde_json::from_str::<std::collections::BTreeMap<String, Box<RawValue>>>(text)
        else {
            return Err(DecodeError::NotJson(error).into());
        };
        let mut envelope = serde_json::Map::new();
        let mut raw_data = None;
        for (name, raw) in fields {
            if name == field {
                raw_data = Some(raw);
                continue;
            }
            // The envelope itself must be representable: it routes the event.
            let Ok(value) = serde_json::from_str::<Value>(raw.get()) else {
                return Err(DecodeError::NotJson(error).into());
            };
            envelope.insert(name, value);
        }
        let Some(raw_data) = raw_data else {
            return Err(DecodeError::NotJson(error).into());
        };
        let envelope = Value::Object(envelope);
        let event_name = self
            .name
            .get(&envelope, headers)?
            .ok_or_else(|| self.name.missing())?;
        let (id, kind) = self
            .key
            .get_with_kind(&envelope, headers)?
            .ok_or_else(|| self.key.missing())?;
        self.check_age(&envelope)?;
        tracing::warn!(event = %event_name, %error, "payload cannot be represented (number out of range, lone surrogate or nesting past 128); handing its raw text to the fallback");
        let invalid =
            InvalidPayload::new(event_name, RawJson::from(raw_data), ".", error.to_string());
        Ok(Decoded::invalid(invalid, id_key(&id, kind)).with_id(id))
    }
}

/// The failing field's path inside the payload, without the variant (type name) segment.
fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The raw text at a JSON pointer into `text` (valid JSON), found without a tree: of a key given
/// twice, the last, as [`Value::pointer`] finds it; `null` where the pointer finds nothing (the
/// payload the type was given).
#[cold]
fn raw_at(text: &str, pointer: &str) -> RawJson {
    fn step<'a>(current: &'a RawValue, token: &str) -> Option<&'a RawValue> {
        match current.get().as_bytes().first() {
            Some(b'{') => {
                let token = token.replace("~1", "/").replace("~0", "~");
                let mut fields: HashMap<String, &'a RawValue> =
                    serde_json::from_str(current.get()).ok()?;
                fields.remove(&token)
            }
            Some(b'[') => {
                // The indices `Value::pointer` takes: digits, no leading zero.
                if token.starts_with('+') || (token.len() > 1 && token.starts_with('0')) {
                    return None;
                }
                let index = token.parse::<usize>().ok()?;
                let items: Vec<&'a RawValue> = serde_json::from_str(current.get()).ok()?;
                items.get(index).copied()
            }
            _ => None,
        }
    }
    let found = serde_json::from_str::<&RawValue>(text)
        .ok()
        .and_then(|root| {
            if pointer.is_empty() {
                return Some(root);
            }
            pointer.strip_prefix('/')?.split('/').try_fold(root, step)
        });
    match found {
        Some(raw) => RawJson::from_raw(raw),
        None => RawJson::from_string("null".to_owned()).expect("`null` is JSON"),
    }
}

fn payload_path(path: &serde_path_to_error::Path, event_name: &str) -> String {
    let full = path.to_string();
    match full.strip_prefix(event_name) {
        Some("") => ".".to_owned(),
        Some(rest) => rest.trim_start_matches('.').to_owned(),
        None => full,
    }
}

/// Presents `(type name, payload)` to serde as an externally tagged enum `{type: payload}`,
/// without building that map, and records whether the type name matched no variant (an unknown
/// type, as opposed to a payload that does not fit). Non-enum types deserialize from the payload.
struct Tagged<'de, 'a> {
    event_name: &'a str,
    data: &'de Value,
    unknown: &'a std::cell::Cell<bool>,
}

impl<'de> serde::Deserializer<'de> for Tagged<'de, '_> {
    type Error = serde_json::Error;

    fn deserialize_any<V: serde::de::Visitor<'de>>(
        self,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_any(self.data, visitor)
    }

    fn deserialize_enum<V: serde::de::Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        visitor.visit_enum(self)
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf option
        unit unit_struct newtype_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

impl<'de> serde::de::EnumAccess<'de> for Tagged<'de, '_> {
    type Error = serde_json::Error;
    type Variant = Self;

    fn variant_seed<V: serde::de::DeserializeSeed<'de>>(
        self,
        seed: V,
    ) -> Result<(V::Value, Self), Self::Error> {
        use serde::de::IntoDeserializer;
        let name: serde::de::value::StrDeserializer<'_, serde_json::Error> =
            self.event_name.into_deserializer();
        match seed.deserialize(name) {
            Ok(variant) => Ok((variant, self)),
            Err(e) => {
                self.unknown.set(true);
                Err(e)
            }
        }
    }
}

impl<'de> serde::de::VariantAccess<'de> for Tagged<'de, '_> {
    type Error = serde_json::Error;

    fn unit_variant(self) -> Result<(), Self::Error> {
        Ok(())
    }

    fn newtype_variant_seed<T: serde::de::DeserializeSeed<'de>>(
        self,
        seed: T,
    ) -> Result<T::Value, Self::Error> {
        seed.deserialize(self.data)
    }

    fn tuple_variant<V: serde::de::Visitor<'de>>(
        self,
        _len: usize,
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_seq(self.data, visitor)
    }

    fn struct_variant<V: serde::de::Visitor<'de>>(
        self,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Self::Error> {
        serde::Deserializer::deserialize_struct(self.data, "", fields, visitor)
    }
}

#[cfg(test)]
mod tests {
    use http::HeaderMap;

    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (name, value) in pairs {
            h.insert(*name, value.parse().unwrap());
        }
        h
    }

    #[test]
    fn a_payload_serde_cannot_represent_is_acknowledged_as_invalid_and_the_envelope_400s() {
        let format = JsonFormat::<Value>::new();
        let decode = |body: &str| format.decode(&HeaderMap::new(), body.as_bytes());
        let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
        for data in [r#"{"n":1e400}"#, r#"{"s":"\ud800"}"#, deep.as_str()] {
            let body = format!(r#"{{"id":"evt_1","type":"user.created","data":{data}}}"#);
            let decoded = decode(&body).unwrap_or_else(|e| panic!("{data:.40}: {e}"));
            assert_eq!(
                (decoded.event_name(), decoded.id()),
                ("user.created", Some("evt_1"))
            );
            assert_eq!(
                decoded.key(),
                DedupKey::from_parts(&[b"evt_1"]),
                "keyed by its id"
            );
            let crate::event::Received::Invalid(invalid) = decoded.into_parts().0 else {
                panic!("expected Received::Invalid");
            };
            assert_eq!((invalid.path.as_str(), invalid.data.get()), (".", data));
        }
        // In the envelope: nothing routes it.
        for body in [
            r#"{"id":1e400,"type":"user.created","data":{}}"#,
            r#"{"id":"evt_1","type":"\ud800","data":{}}"#,
        ] {
            let err = decode(body).unwrap_err();
            assert_eq!(err.status(), http::StatusCode::BAD_REQUEST, "{body}");
        }
        // A payload pointer that is not one top-level field cannot be split off either.
        let whole = JsonFormat::<Value>::new().data_field("");
        let err = whole
            .decode(&HeaderMap::new(), br#"{"id":"e","type":"t","n":1e400}"#)
            .unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
    }

    #[test]
    fn header_sources_accept_any_case() {
        let format = JsonFormat::<Value>::new()
            .name_header("X-GitHub-Event")
            .key_header("X-GitHub-Delivery");
        let h = headers(&[("x-github-event", "push"), ("x-github-delivery", "d-1")]);
        let decoded = format.decode(&h, br#"{"data": {}}"#).unwrap();
        assert_eq!((decoded.event_name(), decoded.id()), ("push", Some("d-1")));
    }

    #[test]
    fn numeric_and_string_ids_are_distinct_keys() {
        let format = JsonFormat::<Value>::new();
        let key = |body: &[u8]| format.decode(&HeaderMap::new(), body).unwrap().key();
        let number = key(br#"{"id":1,"type":"user.updated"}"#);
        let string = key(br#"{"id":"1","type":"project.created"}"#);
        assert_ne!(number, string);
        // The type is not part of the key: the id is the event's own.
        assert_eq!(string, key(br#"{"id":"1","type":"user.updated"}"#));
        assert_eq!(number, key(br#"{"id":1,"type":"project.created"}"#));
        // String ids keep their key.
        assert_eq!(string, DedupKey::from_parts(&[b"1"]));
    }

    #[test]
    fn webhook_id_key_reads_svix_id_too() {
        let format = JsonFormat::<Value>::new().key_header("webhook-id");
        let body = br#"{"type":"ping","data":{}}"#;
        let standard = format.decode(&headers(&[("webhook-id", "msg_1")]), body);
        let svix = format.decode(&headers(&[("svix-id", "msg_1")]), body);
        let (standard, svix) = (standard.unwrap(), svix.unwrap());
        assert_eq!((svix.id(), svix.key()), (Some("msg_1"), standard.key()));
        // Both present: `webhook-id`, as the verifier reads it.
        let both = headers(&[("webhook-id", "msg_1"), ("svix-id", "msg_2")]);
        assert_eq!(format.decode(&both, body).unwrap().id(), Some("msg_1"));
    }

    #[test]
    fn replay_guard_bounds_future_timestamps() {
        let format = JsonFormat::<Value>::new().max_age("/at", Duration::from_secs(3600));
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs() as i64;
        let decode = |at: i64| {
            let body = format!(r#"{{"id":"e","type":"ping","at":{at}}}"#);
            format.decode(&HeaderMap::new(), body.as_bytes())
        };
        assert!(decode(now + 60).is_ok()); // a fast clock, within the default 5 min
        let err = decode(now + 10 * 365 * 24 * 3600).unwrap_err();
        assert!(
            matches!(err, Rejection::StaleTimestamp { ahead: true, tolerance, .. }
                if tolerance == JsonFormat::<Value>::DEFAULT_MAX_FUTURE_SKEW),
            "{err:?}"
        );
        assert_eq!(
            (err.status().as_u16(), err.code()),
            (401, "timestamp_out_of_tolerance")
        );
        let strict = format.clone().max_future_skew(Duration::from_secs(10));
        let body = format!(r#"{{"id":"e","type":"ping","at":{}}}"#, now + 60);
        assert!(strict.decode(&HeaderMap::new(), body.as_bytes()).is_err());
        // A missing timestamp is a malformed envelope: 400, as documented.
        let err = format
            .decode(&HeaderMap::new(), br#"{"id":"e","type":"ping"}"#)
            .unwrap_err();
        assert_eq!((err.status().as_u16(), err.code()), (400, "missing_field"));
    }

    #[test]
    #[should_panic(expected = "not a valid header name")]
    fn invalid_header_name_panics_with_its_name() {
        let _ = JsonFormat::<Value>::new().key_header("bad header");
    }
}
