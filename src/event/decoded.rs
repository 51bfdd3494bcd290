//! What a format decodes a request into: [`Decoded`] (the item, its key and the sender's id),
//! [`Received`] (a typed event or an invalid payload) and [`InvalidPayload`].

use std::fmt;

use serde_json::Value;

use super::Event;
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
    /// use serde_json::json;
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::{Decoded, InvalidPayload, Received};
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// let data = json!({"seq": "one"});
    /// let key = DedupKey::from_json("ping", &data);
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
/// use serde_json::json;
/// use webhook_receiver::event::{InvalidPayload, Received};
/// # #[derive(Clone, Debug)] struct Ping;
/// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
///
/// let events = [
///     Received::Event(Ping),
///     Received::Invalid(InvalidPayload::new("ping", json!([]), ".", "expected a map")),
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
    /// use serde_json::json;
    /// use webhook_receiver::event::{InvalidPayload, Received};
    /// # #[derive(Clone, Debug)] struct Ping;
    /// # impl webhook_receiver::Event for Ping { fn event_name(&self) -> &str { "ping" } }
    ///
    /// assert_eq!(Received::Event(Ping).event_name(), "ping");
    /// let invalid = InvalidPayload::new("user.created", json!({}), "id", "missing field `id`");
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
/// logged with the field path, and handed to the fallback handler with the raw data.
///
/// ```
/// use webhook_receiver::event::InvalidPayload;
///
/// #[derive(Debug, serde::Deserialize)]
/// struct Delivery { at: u64 }
/// let data = serde_json::json!({"id": "d_1", "at": "noon"});
/// let invalid = InvalidPayload::parse::<Delivery>("delivery.done", data).unwrap_err();
/// assert_eq!(invalid.path, "at");
/// assert_eq!(invalid.data["at"], "noon");
/// assert!(invalid.to_string().starts_with("`delivery.done` payload invalid at `at`:"));
/// ```
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct InvalidPayload {
    /// The event type name from the envelope.
    pub event_name: String,
    /// The raw `data` as received; when it is valid JSON that `serde_json::Value` cannot hold
    /// (a number beyond `f64`, a lone surrogate escape, nesting deeper than 128), its raw text as
    /// a JSON string, with `path` `.`.
    pub data: Value,
    /// The JSON path of the field that failed, e.g. `error.provider.code` (`.` for the root).
    pub path: String,
    /// The deserializer's message.
    pub error: String,
}

impl InvalidPayload {
    /// Builds an invalid event from a path-aware deserialization error.
    ///
    /// ```
    /// use serde_json::json;
    /// use webhook_receiver::event::InvalidPayload;
    ///
    /// let invalid = InvalidPayload::new("user.created", json!({"id": 5}), "id", "expected a string");
    /// assert_eq!(invalid.to_string(), "`user.created` payload invalid at `id`: expected a string");
    /// ```
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
