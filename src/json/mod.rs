//! Your own events: plug any JSON webhook sender into the pipeline with a serde type.
//!
//! [`JsonFormat<E>`] reads the event type name and the dedup key from where you say (a field of
//! the envelope, a header, or a closure), deserializes the payload into your serde type `E`, and
//! dispatches a [`JsonEvent<E>`]: handlers are registered per type with typed payloads through
//! [`EventType`](crate::EventType) constants, as for Chirp.
//!
//! `E` is a plain serde enum with one variant per type, each renamed to its wire name; a handler
//! for one type is registered with an `EventType` constant that picks its variant's payload.
//! [`json_events!`](crate::json_events) declares both with each wire name written once (see the
//! [example](#example) below). By hand (a renamed dependency, or variants that are not newtypes),
//! `"user.created" => UserCreated(User) as USER_CREATED` is:
//!
//! ```
//! # use serde::Deserialize;
//! use webhook_receiver::EventType;
//! use webhook_receiver::json::JsonEvent;
//! # #[derive(Debug, Clone, Deserialize)]
//! # pub struct User { pub id: String }
//!
//! #[derive(Debug, Clone, Deserialize)]
//! pub enum AppEvent {
//!     #[serde(rename = "user.created")]
//!     UserCreated(User),
//!     #[serde(rename = "user.deleted")]
//!     UserDeleted { id: String },
//! }
//!
//! pub const USER_CREATED: EventType<JsonEvent<AppEvent>, User> =
//!     EventType::new("user.created", |e| match e.typed()? {
//!         AppEvent::UserCreated(user) => Some(user),
//!         _ => None,
//!     });
//! # assert_eq!(USER_CREATED.name(), "user.created");
//! ```
//!
//! The type name picks the variant and the payload (`data` by default) fills it, so a field that
//! does not fit is reported with its path. `E` may also be a struct, deserialized from the
//! payload whatever the type.
//!
//! Unknown types never break the receiver: a type name with no variant is dispatched with
//! [`JsonEvent::typed`] = `None` and the raw body kept (as text,
//! [`RawJson`](crate::event::RawJson)), and reaches `on_group` handlers or the fallback. A known
//! type whose payload does not fit reaches the fallback as
//! [`Received::Invalid`](crate::event::Received::Invalid) (acknowledged, not retried).
//!
//! # Where the name, the key and the payload come from
//!
//! The defaults fit the common envelope `{"id", "type", "created_at", "data"}` (the generic
//! HMAC-signed format): type from `/type`, dedup key from `/id`, payload in `/data`. The type
//! name and key can come instead from a field ([`name_field`](JsonFormat::name_field),
//! [`key_field`](JsonFormat::key_field), JSON pointers), a header
//! ([`name_header`](JsonFormat::name_header), [`key_header`](JsonFormat::key_header): e.g.
//! Standard Webhooks' `webhook-id`) or a closure ([`name_with`](JsonFormat::name_with),
//! [`key_with`](JsonFormat::key_with)); the payload from another field
//! ([`data_field`](JsonFormat::data_field)).
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
//! A receiver for an HMAC-signed sender (feature `hmac`), and what its format makes of a body:
//!
//! ```
//! # #[cfg(feature = "hmac")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), webhook_receiver::BoxError> {
//! use std::time::Duration;
//! use serde::Deserialize;
//! use webhook_receiver::Webhooks;
//! use webhook_receiver::event::{Format, Received};
//! use webhook_receiver::json::JsonFormat;
//! use webhook_receiver::verify::HmacSha256;
//!
//! #[derive(Debug, Clone, Deserialize)]
//! pub struct User { pub id: String, pub name: String }
//!
//! #[derive(Debug, Clone, Deserialize)]
//! pub struct Payment { pub id: String, pub amount: u64 }
//!
//! webhook_receiver::json_events! {
//!     /// What the sender sends.
//!     pub enum AppEvent {
//!         "user.created" => UserCreated(User) as USER_CREATED,
//!         "payment.failed" => PaymentFailed(Payment) as PAYMENT_FAILED,
//!     }
//! }
//!
//! let format = JsonFormat::<AppEvent>::new() // type from /type, key from /id, payload in /data
//!     .max_age("/created_at", Duration::from_secs(24 * 3600)); // replay guard, <= dedup TTL
//! let webhooks = Webhooks::builder(format.clone(), HmacSha256::new(["secret"])?)
//!     .on(USER_CREATED, |user: User, _ctx| async move {
//!         tracing::info!(user = %user.id, name = %user.name, "signed up");
//!     })
//!     .on(PAYMENT_FAILED, |payment: Payment, ctx| async move {
//!         tracing::warn!(payment = %payment.id, amount = payment.amount, key = %ctx.key());
//!     })
//!     .spawn();
//!
//! // What the receiver does with a body once its signature is checked:
//! let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
//! let body = format!(
//!     r#"{{"id":"evt_1","type":"user.created","created_at":{now},
//!         "data":{{"id":"user_1","name":"Ada"}}}}"#
//! );
//! let decoded = format.decode(&http::HeaderMap::new(), body.as_bytes())?;
//! assert_eq!(decoded.event_name(), "user.created");
//! let Received::Event(event) = decoded.received() else { panic!("invalid payload") };
//! assert_eq!(USER_CREATED.payload(event).unwrap().name, "Ada");
//! assert!(PAYMENT_FAILED.payload(event).is_none());
//! assert_eq!(event.id(), Some("evt_1"));
//!
//! // A type the enum does not know is still an event, with its raw body (kept as text).
//! let body = format!(r#"{{"id":"evt_2","type":"file.uploaded","created_at":{now},"data":{{}}}}"#);
//! let decoded = format.decode(&http::HeaderMap::new(), body.as_bytes())?;
//! let Received::Event(event) = decoded.received() else { panic!("invalid payload") };
//! assert!(event.typed().is_none());
//! assert_eq!(event.raw().get(), body);
//!
//! // A correctly signed request replayed a year later is refused, whatever the dedup store
//! // still remembers.
//! let old = br#"{"id":"evt_3","type":"user.created","created_at":"2020-01-01T00:00:00Z",
//!               "data":{"id":"user_3","name":"Eve"}}"#;
//! let rejection = format.decode(&http::HeaderMap::new(), old).unwrap_err();
//! assert_eq!((rejection.status().as_u16(), rejection.code()), (401, "event_too_old"));
//! # webhooks.drain(Duration::from_secs(1)).await?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "hmac"))]
//! # fn main() {}
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
