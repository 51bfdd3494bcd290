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
//! [`JsonEvent::typed`] = `None` and the raw body kept (as text, [`RawJson`](crate::event::RawJson)), and reaches `on_group` handlers or the
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

mod event;
mod format;
mod macros;
mod raw;
mod source;

#[cfg(test)]
mod tests;

pub use event::JsonEvent;
pub use format::JsonFormat;
