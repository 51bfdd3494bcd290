//! [`JsonFormat`]: reads the type name and the key, deserializes the payload into your type.

use std::fmt;
use std::marker::PhantomData;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use http::HeaderMap;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;

use super::event::JsonEvent;
use super::raw::{Tagged, is_json_whitespace, payload_path, raw_at};
use super::source::{Source, WEBHOOK_ID, field_name, header_name, id_key};
use crate::error::{DecodeError, Rejection};
use crate::event::{Decoded, Format, InvalidPayload, RawJson};

/// A JSON wire format for your serde type `E`. See the [module docs](crate::json).
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::event::Format;
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
    /// use webhook_receiver::event::Format;
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
    /// # use webhook_receiver::event::Format;
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
    /// # use webhook_receiver::event::{Format, Received};
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
    /// # use webhook_receiver::event::Format;
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
    /// # use webhook_receiver::event::Format;
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
    /// # use webhook_receiver::event::Format;
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
    /// # use webhook_receiver::event::Format;
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
    /// # use webhook_receiver::event::Format;
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
    /// # use webhook_receiver::event::Format;
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
    /// # use webhook_receiver::event::Format;
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

impl<E> Format for JsonFormat<E>
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
