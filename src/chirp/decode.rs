//! The wire format [`Chirp`]: the envelope `{"event", "data"}` decoded in one pass when it can
//! be, in two passes (with precise errors) when it cannot.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use http::HeaderMap;
use serde::Deserialize;
use serde::de::value::MapAccessDeserializer;
use serde::de::{self, DeserializeOwned, DeserializeSeed, Deserializer, IgnoredAny, MapAccess};
use serde_json::Value;
use serde_json::value::RawValue;

use super::ChirpEvent;
use super::key::KeyedByContent;
use super::payload::{InboundMessage, MessageStatus, ResourceChange};
use super::table::chirp_table;
use crate::dedup::DedupKey;
use crate::error::{DecodeError, Rejection};
use crate::event::{Decoded, Format, InvalidPayload, RawJson};

/// Chirp's wire format: decodes `{"event": ..., "data": {...}}` into a [`ChirpEvent`] and its
/// [`DedupKey`]. Headers are not used (authentication is the shared secret header, checked
/// before decoding).
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::DecodeError;
/// use webhook_receiver::chirp::Chirp;
/// use webhook_receiver::event::{Format, Received};
///
/// // A known event type whose payload does not fit: acknowledged, for the fallback handler.
/// let body = br#"{"event": "messages.sms.delivered", "data": {"id": 5, "status": "delivered"}}"#;
/// let decoded = Chirp.decode(&HeaderMap::new(), body).unwrap();
/// let Received::Invalid(invalid) = decoded.received() else { panic!("expected an invalid payload") };
/// assert_eq!(invalid.path, "id");
///
/// // Not an event at all: rejected with 400.
/// let err = Chirp.decode(&HeaderMap::new(), br#"{"data": {}}"#).unwrap_err();
/// assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
/// assert!(matches!(
///     Chirp.decode_body(br#"{"data": {}}"#).unwrap_err(),
///     DecodeError::MissingField("event"),
/// ));
/// ```
#[derive(Debug, Clone, Copy, Default)]
pub struct Chirp;

impl Chirp {
    /// Decodes a body: [`Format::decode`] without the headers, which Chirp's format does
    /// not use, and with the precise [`DecodeError`] (which `decode` wraps in
    /// [`Rejection::Decode`]).
    ///
    /// ```
    /// use webhook_receiver::DecodeError;
    /// use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// use webhook_receiver::event::Received;
    ///
    /// let decoded = Chirp.decode_body(br#"{"event": "messages.sms.received", "data": {"id": "m1"}}"#)?;
    /// assert!(matches!(decoded.received(), Received::Event(ChirpEvent::SmsReceived(m)) if m.id == "m1"));
    /// assert!(matches!(Chirp.decode_body(b"[]"), Err(DecodeError::NotObject)));
    /// assert!(matches!(Chirp.decode_body(b" "), Err(DecodeError::Empty)));
    /// # Ok::<(), DecodeError>(())
    /// ```
    ///
    /// # Errors
    ///
    /// A [`DecodeError`] when the body is not a Chirp envelope: empty, not UTF-8, not JSON,
    /// not an object, `event` missing, null, empty or not a string, `data` missing, null or not
    /// an object.
    pub fn decode_body(&self, body: &[u8]) -> Result<Decoded<ChirpEvent>, DecodeError> {
        let text = std::str::from_utf8(body).map_err(|_| DecodeError::NotUtf8)?;
        match text
            .trim_start_matches(is_json_whitespace)
            .as_bytes()
            .first()
        {
            None => return Err(DecodeError::Empty),
            Some(b'{') => {}
            Some(_) => return Err(not_an_object(text)),
        }
        match decode_in_one_pass(text) {
            Some(decoded) => Ok(decoded),
            None => decode_in_two_passes(text),
        }
    }
}

impl Format for Chirp {
    type Event = ChirpEvent;

    fn decode(&self, _headers: &HeaderMap, body: &[u8]) -> Result<Decoded<ChirpEvent>, Rejection> {
        self.decode_body(body).map_err(Rejection::Decode)
    }
}

// ===== one pass =====

/// Decodes the envelope in one pass when it is well-formed and `event` comes before `data` (as
/// Chirp sends it): the `data` of a message event is deserialized straight from the body into
/// its payload type, with no [`RawValue`] scan first; the `data` of a content-keyed event
/// (template, contact, account, unknown) is borrowed as a [`RawValue`], whose text its key is
/// hashed from, and decoded as the two passes decode it.
///
/// `None` for anything else (`data` first, a missing, duplicate, null or mistyped field, a
/// message payload that does not fit its type, trailing characters, ...): those bodies go through
/// [`decode_in_two_passes`], which alone decides their error, [`InvalidPayload`] or (for
/// duplicate keys in `data`) value. A body this accepts is one that the two passes decode to
/// the same event: the bytes and the deserializers are the same, and the one-pass path only has
/// less nesting depth to spare.
pub(super) fn decode_in_one_pass(text: &str) -> Option<Decoded<ChirpEvent>> {
    let mut de = serde_json::Deserializer::from_str(text);
    let decoded = de.deserialize_map(OnePass).ok()?;
    de.end().ok()?;
    Some(decoded)
}

/// The envelope's keys, as the one-pass visitor tells them apart.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum EnvelopeField {
    Event,
    Data,
    #[serde(other)]
    Other,
}

/// Visits the envelope in one pass; see [`decode_in_one_pass`]. Errors only mean "take the
/// two-pass path", so their messages are never shown.
struct OnePass;

impl<'de> de::Visitor<'de> for OnePass {
    type Value = Decoded<ChirpEvent>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a Chirp envelope with `event` before `data`")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Decoded<ChirpEvent>, A::Error> {
        let mut name: Option<Cow<'de, str>> = None;
        let mut event = None;
        while let Some(field) = map.next_key()? {
            match field {
                EnvelopeField::Event if name.is_none() => {
                    let JsonStr(value) = map.next_value()?;
                    if value.is_empty() {
                        return Err(de::Error::custom("empty event name"));
                    }
                    name = Some(value);
                }
                EnvelopeField::Data if event.is_none() => {
                    let name = name
                        .as_deref()
                        .ok_or_else(|| de::Error::custom("`data` before `event`"))?;
                    event = Some(if keyed_by_content(name) {
                        let data: &'de RawValue = map.next_value()?;
                        let data = data_object(Some(data)).map_err(de::Error::custom)?;
                        decode_data(Cow::Borrowed(name), data).map_err(de::Error::custom)?
                    } else {
                        keyed(map.next_value_seed(DataSeed(name))?)
                    });
                }
                EnvelopeField::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
                EnvelopeField::Event | EnvelopeField::Data => {
                    return Err(de::Error::custom("duplicate envelope field"));
                }
            }
        }
        event.ok_or_else(|| de::Error::missing_field("data"))
    }
}

/// Deserializes `data` as the payload of the event it names.
struct DataSeed<'a>(&'a str);

impl<'de> DeserializeSeed<'de> for DataSeed<'_> {
    type Value = ChirpEvent;

    fn deserialize<D: Deserializer<'de>>(self, data: D) -> Result<ChirpEvent, D::Error> {
        deserialize_data(self.0, data)
    }
}

/// A visitor that accepts only a JSON object and deserializes it as `T`: a derived struct
/// would also take an array, and [`Value`] anything, where `data` must be an object.
pub(super) struct Object<T>(PhantomData<fn() -> T>);

impl<T> Object<T> {
    pub(super) const fn new() -> Self {
        Self(PhantomData)
    }
}

impl<'de, T: Deserialize<'de>> de::Visitor<'de> for Object<T> {
    type Value = T;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object")
    }

    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
        T::deserialize(MapAccessDeserializer::new(map))
    }
}

// ===== two passes =====

/// Decodes the envelope in two passes: `event` and `data` as raw JSON first, so that their
/// types can be reported precisely, then `data` into its payload type. Every body that
/// [`decode_in_one_pass`] does not take ends here.
pub(super) fn decode_in_two_passes(text: &str) -> Result<Decoded<ChirpEvent>, DecodeError> {
    let envelope: Envelope<'_> = serde_json::from_str(text).map_err(DecodeError::from_json)?;
    let name = event_name(envelope.event)?;
    let data = data_object(envelope.data)?;
    decode_data(name, data)
}

/// The envelope, borrowed from the body: both fields are kept as raw JSON so that their
/// types can be reported precisely.
#[derive(Deserialize)]
struct Envelope<'a> {
    #[serde(borrow, default)]
    event: Option<&'a RawValue>,
    #[serde(borrow, default)]
    data: Option<&'a RawValue>,
}

/// A JSON string, borrowed from the body unless it has escapes.
#[derive(Deserialize)]
#[serde(transparent)]
struct JsonStr<'a>(#[serde(borrow)] Cow<'a, str>);

fn is_json_whitespace(c: char) -> bool {
    matches!(c, ' ' | '\t' | '\n' | '\r')
}

/// The error for a body that does not start with `{`: not JSON at all, or JSON but no object.
#[cold]
fn not_an_object(text: &str) -> DecodeError {
    match serde_json::from_str::<IgnoredAny>(text) {
        Ok(_) => DecodeError::NotObject,
        Err(e) => DecodeError::NotJson(e),
    }
}

/// What kind of JSON value `raw` is, for error messages (`raw` is valid JSON).
fn json_kind(raw: &RawValue) -> &'static str {
    match raw.get().as_bytes().first() {
        Some(b'{') => "an object",
        Some(b'[') => "an array",
        Some(b'"') => "a string",
        Some(b't' | b'f') => "a boolean",
        Some(b'n') => "null",
        _ => "a number",
    }
}

fn event_name(raw: Option<&RawValue>) -> Result<Cow<'_, str>, DecodeError> {
    let raw = raw.ok_or(DecodeError::MissingField("event"))?;
    let JsonStr(name) = serde_json::from_str(raw.get()).map_err(|_| DecodeError::WrongType {
        field: "event",
        expected: "a string",
        found: json_kind(raw),
    })?;
    if name.is_empty() {
        return Err(DecodeError::EmptyField("event"));
    }
    Ok(name)
}

fn data_object(raw: Option<&RawValue>) -> Result<&RawValue, DecodeError> {
    let raw = raw.ok_or(DecodeError::MissingField("data"))?;
    if raw.get().starts_with('{') {
        Ok(raw)
    } else {
        Err(DecodeError::WrongType {
            field: "data",
            expected: "an object",
            found: json_kind(raw),
        })
    }
}

/// Parses `data` into a tree, for invalid events (dropped once their path is found).
fn data_value(data: &RawValue) -> Result<Value, DecodeError> {
    // `data` is valid JSON; this only fails past serde_json's nesting limit.
    serde_json::from_str(data.get()).map_err(|e| DecodeError::InvalidField {
        field: "data",
        source: Box::new(e),
    })
}

/// A decoded event with its key; see [`keyed_from`] for content-keyed events.
pub(super) fn keyed(event: ChirpEvent) -> Decoded<ChirpEvent> {
    let key = event.dedup_key();
    with_key(event, key)
}

/// A decoded event with its key, payload digests hashed from the raw `data`.
pub(super) fn keyed_from(event: ChirpEvent, data: &RawValue) -> Decoded<ChirpEvent> {
    let key = event.dedup_key_from(data);
    with_key(event, key)
}

fn with_key(event: ChirpEvent, key: DedupKey) -> Decoded<ChirpEvent> {
    let id = event.id().map(Box::<str>::from);
    let decoded = Decoded::new(event, key);
    match id {
        Some(id) => decoded.with_id(id),
        None => decoded,
    }
}

/// Decodes a known event type: straight from the bytes, with no intermediate tree.
pub(super) fn decode_typed<P: DeserializeOwned>(
    event_name: &'static str,
    data: &RawValue,
    wrap: fn(Box<P>) -> ChirpEvent,
) -> Result<Decoded<ChirpEvent>, DecodeError> {
    match serde_json::from_str::<Box<P>>(data.get()) {
        Ok(payload) => Ok(keyed_from(wrap(payload), data)),
        Err(_) => decode_invalid(event_name, data, wrap),
    }
}

/// The slow path of a known event type whose payload did not deserialize: find the failing
/// field's path and hand the raw data on as an [`InvalidPayload`].
#[cold]
fn decode_invalid<P: DeserializeOwned>(
    event_name: &'static str,
    data: &RawValue,
    wrap: fn(Box<P>) -> ChirpEvent,
) -> Result<Decoded<ChirpEvent>, DecodeError> {
    let value = match data_value(data) {
        Ok(value) => value,
        Err(error) => return Ok(unrepresentable(event_name, data, &error)),
    };
    match InvalidPayload::parse_tree::<P>(event_name, &value, data) {
        // The tree can accept what the streaming parser refused (a duplicate key: the tree keeps
        // the last value), in which case the event is valid after all.
        Ok(payload) => Ok(keyed_from(wrap(Box::new(payload)), data)),
        Err(invalid) => {
            tracing::warn!(
                event = event_name,
                path = %invalid.path,
                error = %invalid.error,
                "Chirp event payload does not match its schema; passing it to the fallback handler",
            );
            let key = DedupKey::from_raw_json(event_name, data);
            let id = value
                .get("id")
                .and_then(serde_json::Value::as_str)
                .map(Box::<str>::from);
            let decoded = Decoded::invalid(invalid, key);
            Ok(match id {
                Some(id) => decoded.with_id(id),
                None => decoded,
            })
        }
    }
}

/// Decodes an event type this version does not know: its `data` is kept as text, with no tree
/// (so whatever valid JSON it holds, `1e400` included).
pub(super) fn decode_unknown(
    name: Cow<'_, str>,
    data: &RawValue,
) -> Result<Decoded<ChirpEvent>, DecodeError> {
    Ok(keyed_from(unknown_event(name.into_owned(), data), data))
}

/// An event whose `data` is valid JSON that `serde_json::Value` cannot hold: a number beyond
/// `f64` (`1e400`), a lone surrogate escape (`"\ud800"`), nesting deeper than 128. The envelope
/// routed it, so it is not refused (a 400 would only make the sender retry the same bytes until
/// it gives up): it is acknowledged and handed to the fallback as [`Received::Invalid`], with
/// the raw text of `data`, path `.`, and serde's message. Its key is hashed from
/// the raw text, as for every content-keyed event.
#[cold]
fn unrepresentable(event_name: &str, data: &RawValue, error: &DecodeError) -> Decoded<ChirpEvent> {
    tracing::warn!(
        event = event_name,
        %error,
        "Chirp event data cannot be represented (number out of range, lone surrogate or nesting past 128); passing its raw text to the fallback handler"
    );
    let invalid = InvalidPayload::new(event_name, RawJson::from_raw(data), ".", error.to_string());
    Decoded::invalid(invalid, DedupKey::from_raw_json(event_name, data))
}

/// An event type this version does not know, with its raw data and `data.id` (read without a
/// tree; `None` unless it is a string).
pub(super) fn unknown_event(name: String, data: &RawValue) -> ChirpEvent {
    #[derive(Deserialize)]
    struct IdField {
        id: Option<String>,
    }
    tracing::debug!(event = %name, "unknown Chirp event type");
    let id = serde_json::from_str::<IdField>(data.get())
        .ok()
        .and_then(|f| f.id);
    ChirpEvent::Unknown {
        name,
        id,
        data: RawJson::from_raw(data),
    }
}

/// From the event table: the decoder's dispatch on the event name.
macro_rules! name_dispatch {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident($payload:ident) = $name:literal, $konst:ident;
    )+) => {
        /// Decodes `data` according to the event name (second pass of the two-pass path).
        pub(super) fn decode_data(
            name: Cow<'_, str>,
            data: &RawValue,
        ) -> Result<Decoded<ChirpEvent>, DecodeError> {
            match name.as_ref() {
                $( $name => decode_typed($name, data, ChirpEvent::$variant), )+
                _ => decode_unknown(name, data),
            }
        }

        /// Whether events named `name` are keyed by a digest of their `data` (resource and
        /// unknown types), which the decoder reads as raw text first.
        pub(super) fn keyed_by_content(name: &str) -> bool {
            match name {
                $( $name => <$payload as KeyedByContent>::KEYED_BY_CONTENT, )+
                _ => true,
            }
        }

        /// Deserializes `data`, which must be an object, straight into the payload type of the
        /// event named `name` (one-pass path).
        pub(super) fn deserialize_data<'de, D: Deserializer<'de>>(
            name: &str,
            data: D,
        ) -> Result<ChirpEvent, D::Error> {
            Ok(match name {
                $( $name => ChirpEvent::$variant(data.deserialize_map(Object::new())?), )+
                // Content-keyed, so never asked for: the one-pass path reads its raw text.
                _ => return Err(de::Error::custom("an unknown event is decoded from its raw text")),
            })
        }
    };
}

chirp_table!(name_dispatch);
