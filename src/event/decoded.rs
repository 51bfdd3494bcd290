//! What a format decodes a request into: [`Decoded`] (the item, its key and the sender's id),
//! [`Received`] (a typed event or an invalid payload) and [`InvalidPayload`].

use std::fmt;

use serde_json::Value;
use serde_json::value::RawValue;

use super::{Event, RawJson};
use crate::dedup::DedupKey;

/// The result of decoding one request: the received event to dispatch and its dedup key.
///
/// ```
/// use webhook_receiver::DedupKey;
/// use webhook_receiver::event::{Decoded, Received};
/// # #[derive(Clone, Debug)] struct Ping;
/// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
///
/// let key = DedupKey::from_parts(&[b"ping", b"1"]);
/// let (received, k, id) = Decoded::new(Ping, key).with_id("1").into_parts();
/// assert!(matches!(received, Received::Event(Ping)));
/// assert_eq!((k, id.as_deref()), (key, Some("1")));
/// ```
#[derive(Debug, Clone)]
pub struct Decoded<E> {
    received: Received<E>,
    key: DedupKey,
    id: Option<Box<str>>,
}

impl<E: Event> Decoded<E> {
    /// A typed event with its dedup key.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::{Decoded, Received};
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let decoded = Decoded::new(Ping, DedupKey::from_parts(&[b"ping", b"1"]));
    /// assert!(matches!(decoded.received(), Received::Event(Ping)));
    /// assert_eq!(decoded.id(), None);
    /// ```
    pub fn new(event: E, key: DedupKey) -> Self {
        Self {
            received: Received::Event(event),
            key,
            id: None,
        }
    }

    /// A known event type whose payload did not fit its schema.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::{Decoded, InvalidPayload, RawJson, Received};
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let data = RawJson::from_string(r#"{"seq": "one"}"#.to_owned()).unwrap();
    /// let key = DedupKey::from_raw_json("ping", data.as_raw());
    /// let invalid = InvalidPayload::new("ping", data, "seq", "expected u64");
    /// let decoded = Decoded::<Ping>::invalid(invalid, key);
    /// assert!(matches!(decoded.received(), Received::Invalid(i) if i.path == "seq"));
    /// ```
    pub fn invalid(invalid: InvalidPayload, key: DedupKey) -> Self {
        Self {
            received: Received::Invalid(invalid),
            key,
            id: None,
        }
    }

    /// The event type name.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::Decoded;
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let decoded = Decoded::new(Ping, DedupKey::from_parts(&[b"ping", b"1"]));
    /// assert_eq!(decoded.event_name(), "ping");
    /// ```
    pub fn event_name(&self) -> &str {
        self.received.event_name()
    }

    /// The dedup key.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::Decoded;
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let key = DedupKey::from_parts(&[b"ping", b"1"]);
    /// assert_eq!(Decoded::new(Ping, key).key(), key);
    /// ```
    pub fn key(&self) -> DedupKey {
        self.key
    }

    /// What was received: a typed event or an invalid payload.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::{Decoded, Received};
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let decoded = Decoded::new(Ping, DedupKey::from_parts(&[b"ping", b"1"]));
    /// match decoded.received() {
    ///     Received::Event(Ping) => {}
    ///     Received::Invalid(invalid) => panic!("{invalid}"),
    /// }
    /// ```
    pub fn received(&self) -> &Received<E> {
        &self.received
    }

    /// Replaces the dedup key (used by key overrides).
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::Decoded;
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let decoded = Decoded::new(Ping, DedupKey::from_parts(&[b"body digest"]));
    /// let delivery = DedupKey::from_parts(&[b"delivery-42"]);
    /// assert_eq!(decoded.with_key(delivery).key(), delivery);
    /// ```
    #[must_use]
    pub fn with_key(mut self, key: DedupKey) -> Self {
        self.key = key;
        self
    }

    /// Records the sender's id for the event (Chirp's `data.id`, a top-level `id`, a
    /// `webhook-id` header), given to handlers as [`EventContext::id`](crate::dispatch::EventContext::id).
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::Decoded;
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let decoded = Decoded::new(Ping, DedupKey::from_parts(&[b"evt_1"])).with_id("evt_1");
    /// assert_eq!(decoded.id(), Some("evt_1"));
    /// ```
    #[must_use]
    pub fn with_id(mut self, id: impl Into<Box<str>>) -> Self {
        self.id = Some(id.into());
        self
    }

    /// The sender's id for the event, if the format knows one.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::Decoded;
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let decoded = Decoded::new(Ping, DedupKey::from_parts(&[b"ping", b"1"]));
    /// assert_eq!(decoded.id(), None);
    /// assert_eq!(decoded.with_id("1").id(), Some("1"));
    /// ```
    pub fn id(&self) -> Option<&str> {
        self.id.as_deref()
    }

    /// Splits into the received event, the key and the id.
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::{Decoded, Received};
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let key = DedupKey::from_parts(&[b"ping", b"1"]);
    /// let (received, k, id) = Decoded::new(Ping, key).into_parts();
    /// assert!(matches!(received, Received::Event(Ping)));
    /// assert_eq!((k, id), (key, None));
    /// ```
    pub fn into_parts(self) -> (Received<E>, DedupKey, Option<Box<str>>) {
        (self.received, self.key, self.id)
    }
}

/// What gets dispatched: a typed event, or an event whose payload did not fit its schema.
///
/// ```
/// use webhook_receiver::event::{InvalidPayload, RawJson, Received};
/// # #[derive(Clone, Debug)] struct Ping;
/// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
///
/// let data = RawJson::from_string("[]".to_owned()).unwrap();
/// let events = [
///     Received::Event(Ping),
///     Received::Invalid(InvalidPayload::new("ping", data, ".", "expected a map")),
/// ];
/// let typed = events.iter().filter(|r| matches!(r, Received::Event(_))).count();
/// assert_eq!(typed, 1);
/// ```
#[derive(Debug, Clone)]
pub enum Received<E> {
    /// A typed event (this includes the event enum's own `Unknown` variant, if it has one).
    Event(E),
    /// A known event type whose `data` did not deserialize; only the fallback receives it.
    Invalid(InvalidPayload),
}

impl<E: Event> Received<E> {
    /// The event type name.
    ///
    /// ```
    /// use webhook_receiver::event::{InvalidPayload, RawJson, Received};
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// assert_eq!(Received::Event(Ping).event_name(), "ping");
    /// let data = RawJson::from_string("{}".to_owned()).unwrap();
    /// let invalid = InvalidPayload::new("user.created", data, "id", "missing field `id`");
    /// assert_eq!(Received::<Ping>::Invalid(invalid).event_name(), "user.created");
    /// ```
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
/// logged with the field path, and handed to the fallback handler with the raw data, kept as
/// its text ([`RawJson`]), not as a tree.
///
/// ```
/// use serde_json::value::RawValue;
/// use webhook_receiver::event::InvalidPayload;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Delivery { at: u64 }
/// let data: Box<RawValue> = serde_json::from_str(r#"{"id": "d_1", "at": "noon"}"#).unwrap();
/// let invalid = InvalidPayload::parse::<Delivery>("delivery.done", &data).unwrap_err();
/// assert_eq!(invalid.path, "at");
/// assert_eq!(invalid.data.get(), r#"{"id": "d_1", "at": "noon"}"#);
/// assert_eq!(invalid.data.to_value().unwrap()["at"], "noon");
/// assert!(invalid.to_string().starts_with("`delivery.done` payload invalid at `at`:"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvalidPayload {
    /// The event type name from the envelope.
    pub event_name: String,
    /// The raw `data` as received, as its JSON text (also when it is valid JSON that a
    /// `serde_json::Value` cannot hold: a number beyond `f64`, a lone surrogate escape, nesting
    /// deeper than 128; then `path` is `.`).
    pub data: RawJson,
    /// The JSON path of the field that failed, e.g. `error.provider.code` (`.` for the root).
    pub path: String,
    /// The deserializer's message.
    pub error: String,
}

impl InvalidPayload {
    /// Builds an invalid event from a path-aware deserialization error.
    ///
    /// ```
    /// use webhook_receiver::event::{InvalidPayload, RawJson};
    ///
    /// let data = RawJson::from_string(r#"{"id": 5}"#.to_owned()).unwrap();
    /// let invalid = InvalidPayload::new("user.created", data, "id", "expected a string");
    /// assert_eq!(invalid.to_string(), "`user.created` payload invalid at `id`: expected a string");
    /// ```
    pub fn new(
        event_name: impl Into<String>,
        data: RawJson,
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
    /// `data` is read as a [`Value`] tree first (for the path, and so that a key given twice
    /// keeps its last value, as a tree does); the tree is dropped before this returns.
    ///
    /// # Errors
    ///
    /// The [`InvalidPayload`] (with `event_name`, the raw data, the path and the message) when `data` does
    /// not fit `T`, or cannot be read as a tree (path `.`).
    ///
    /// ```
    /// use serde_json::value::RawValue;
    /// use webhook_receiver::event::InvalidPayload;
    /// #[derive(serde::Deserialize, Debug)]
    /// struct P { id: String }
    /// let data: Box<RawValue> = serde_json::from_str(r#"{"id": 5}"#).unwrap();
    /// let err = InvalidPayload::parse::<P>("x", &data).unwrap_err();
    /// assert_eq!(err.path, "id");
    /// let huge: Box<RawValue> = serde_json::from_str(r#"{"id": 1e400}"#).unwrap();
    /// let err = InvalidPayload::parse::<P>("x", &huge).unwrap_err();
    /// assert_eq!((err.path.as_str(), err.data.get()), (".", r#"{"id": 1e400}"#));
    /// ```
    pub fn parse<T: serde::de::DeserializeOwned>(
        event_name: &str,
        data: &RawValue,
    ) -> Result<T, Self> {
        match serde_json::from_str::<Value>(data.get()) {
            Ok(tree) => Self::parse_tree(event_name, &tree, data),
            Err(e) => Err(Self::new(
                event_name,
                RawJson::from_raw(data),
                ".",
                e.to_string(),
            )),
        }
    }

    /// [`parse`](Self::parse) from the tree of `raw`, already built.
    pub(crate) fn parse_tree<T: serde::de::DeserializeOwned>(
        event_name: &str,
        tree: &Value,
        raw: &RawValue,
    ) -> Result<T, Self> {
        serde_path_to_error::deserialize::<_, T>(tree).map_err(|e| {
            let path = e.path().to_string();
            let error = e.into_inner().to_string();
            Self::new(event_name, RawJson::from_raw(raw), path, error)
        })
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
