//! [`RawJson`]: a payload kept as the JSON text it arrived as, parsed when a handler asks.

use std::fmt;
use std::sync::Arc;

use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

/// Valid JSON kept as the text it was received as: the payload of an event that is not typed
/// (an unknown event type, a payload that did not fit its schema, a generic event's body).
///
/// Queued events hold it instead of a [`serde_json::Value`] tree, which takes many times the
/// bytes of its text (about 16 times for an array of small numbers); a handler parses it when
/// it needs it, with [`parse`](Self::parse) or [`to_value`](Self::to_value). The text is
/// exact: numbers as written (`1e400`, `0.10000000000000001`), keys in their order, escapes
/// unexpanded. Cloning is cheap (a reference count), so an event's retries share one copy.
///
/// ```
/// use webhook_receiver::event::RawJson;
///
/// let raw = RawJson::from_string(r#"{"id": "call_1", "n": 1e400}"#.to_owned()).unwrap();
/// assert_eq!(raw.get(), r#"{"id": "call_1", "n": 1e400}"#); // as received
///
/// #[derive(serde::Deserialize)]
/// struct Call { id: String }
/// assert_eq!(raw.parse::<Call>().unwrap().id, "call_1");
/// assert!(raw.to_value().is_err()); // `1e400` is beyond what a `Value` can hold
/// ```
#[derive(Clone)]
pub struct RawJson(Arc<RawValue>);

impl RawJson {
    /// Validates `json` and keeps it as it is.
    ///
    /// # Errors
    ///
    /// The parser's error when `json` is not valid JSON (one value, whitespace around it
    /// allowed).
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// assert_eq!(RawJson::from_string("[0, 0]".to_owned()).unwrap().get(), "[0, 0]");
    /// assert!(RawJson::from_string("[0,".to_owned()).is_err());
    /// ```
    pub fn from_string(json: String) -> Result<Self, serde_json::Error> {
        RawValue::from_string(json).map(Self::from)
    }

    /// Copies a borrowed raw value (a field of a body being decoded).
    ///
    /// ```
    /// use serde_json::value::RawValue;
    /// use webhook_receiver::event::RawJson;
    ///
    /// let body = r#"{"data": {"id": 1}}"#;
    /// #[derive(serde::Deserialize)]
    /// struct Envelope<'a> { #[serde(borrow)] data: &'a RawValue }
    /// let envelope: Envelope<'_> = serde_json::from_str(body).unwrap();
    /// assert_eq!(RawJson::from_raw(envelope.data).get(), r#"{"id": 1}"#);
    /// ```
    pub fn from_raw(raw: &RawValue) -> Self {
        Self(Arc::from(raw.to_owned()))
    }

    /// The JSON text, as received.
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// let raw = RawJson::from_string(r#"{ "a" : 1 }"#.to_owned()).unwrap();
    /// assert_eq!(raw.get(), r#"{ "a" : 1 }"#);
    /// ```
    pub fn get(&self) -> &str {
        self.0.get()
    }

    /// The text as a [`RawValue`] (for [`DedupKey::from_raw_json`](crate::DedupKey::from_raw_json),
    /// or to embed it unchanged in another serialized value).
    ///
    /// ```
    /// use webhook_receiver::DedupKey;
    /// use webhook_receiver::event::RawJson;
    ///
    /// let raw = RawJson::from_string(r#"{"b": 2, "a": 1}"#.to_owned()).unwrap();
    /// let same: serde_json::Value = serde_json::from_str(r#"{"a": 1, "b": 2}"#).unwrap();
    /// assert_eq!(DedupKey::from_raw_json("t", raw.as_raw()), DedupKey::from_json("t", &same));
    /// ```
    pub fn as_raw(&self) -> &RawValue {
        &self.0
    }

    /// The length of the text in bytes.
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// assert_eq!(RawJson::from_string("[0,0]".to_owned()).unwrap().len(), 5);
    /// ```
    pub fn len(&self) -> usize {
        self.get().len()
    }

    /// Whether the text is empty: never, since it is one JSON value (for clippy's
    /// `len_without_is_empty`).
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// assert!(!RawJson::from_string("0".to_owned()).unwrap().is_empty());
    /// ```
    pub fn is_empty(&self) -> bool {
        self.get().is_empty()
    }

    /// Deserializes the text as `T`.
    ///
    /// # Errors
    ///
    /// The deserializer's error when the JSON does not fit `T`.
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// let raw = RawJson::from_string(r#"{"id": "tpl_1", "tags": ["a"]}"#.to_owned()).unwrap();
    /// #[derive(serde::Deserialize)]
    /// struct Template { id: String, tags: Vec<String> }
    /// let tpl: Template = raw.parse().unwrap();
    /// assert_eq!((tpl.id.as_str(), tpl.tags.len()), ("tpl_1", 1));
    /// assert!(raw.parse::<Vec<u8>>().is_err());
    /// ```
    pub fn parse<T: DeserializeOwned>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.get())
    }

    /// Parses the text into a [`Value`] tree (which takes many times the text's bytes; see the
    /// [type docs](Self)).
    ///
    /// # Errors
    ///
    /// When the JSON is valid but a [`Value`] cannot hold it: a number beyond `f64` (`1e400`),
    /// a lone surrogate escape (`"\ud800"`), nesting deeper than 128.
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// let raw = RawJson::from_string(r#"{"id": "call_1"}"#.to_owned()).unwrap();
    /// assert_eq!(raw.to_value().unwrap()["id"], "call_1");
    /// ```
    pub fn to_value(&self) -> Result<Value, serde_json::Error> {
        self.parse()
    }
}

impl From<Box<RawValue>> for RawJson {
    /// Keeps an owned raw value without copying its text.
    ///
    /// ```
    /// use serde_json::value::RawValue;
    /// use webhook_receiver::event::RawJson;
    ///
    /// let raw: Box<RawValue> = serde_json::from_str("[1, 2]").unwrap();
    /// assert_eq!(RawJson::from(raw).get(), "[1, 2]");
    /// ```
    fn from(raw: Box<RawValue>) -> Self {
        Self(Arc::from(raw))
    }
}

impl PartialEq for RawJson {
    /// Equal texts (not equal values: `{"a":1}` and `{ "a": 1 }` differ).
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// let raw = |s: &str| RawJson::from_string(s.to_owned()).unwrap();
    /// assert!(raw("[0]") == raw("[0]"));
    /// assert!(raw("[0]") != raw("[ 0 ]"));
    /// ```
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

impl Eq for RawJson {}

impl fmt::Debug for RawJson {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("RawJson").field(&self.get()).finish()
    }
}

impl fmt::Display for RawJson {
    /// The JSON text.
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// assert_eq!(RawJson::from_string("[0, 0]".to_owned()).unwrap().to_string(), "[0, 0]");
    /// ```
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl serde::Serialize for RawJson {
    /// Serializes the text unchanged.
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// let raw = RawJson::from_string(r#"{"n": 1e400}"#.to_owned()).unwrap();
    /// assert_eq!(serde_json::to_string(&raw).unwrap(), r#"{"n": 1e400}"#);
    /// ```
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(serializer)
    }
}

impl<'de> serde::Deserialize<'de> for RawJson {
    /// Keeps the value's text (from a JSON deserializer, which alone can give it).
    ///
    /// ```
    /// use webhook_receiver::event::RawJson;
    ///
    /// #[derive(serde::Deserialize)]
    /// struct Envelope { data: RawJson }
    /// let envelope: Envelope = serde_json::from_str(r#"{"data": [0, 0]}"#).unwrap();
    /// assert_eq!(envelope.data.get(), "[0, 0]");
    /// ```
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Box::<RawValue>::deserialize(deserializer).map(Self::from)
    }
}
