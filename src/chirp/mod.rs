//! [Chirp](https://buildwithchirp.com) (SMS and WhatsApp) webhooks: the wire format [`Chirp`],
//! the typed event enum [`ChirpEvent`], its payload types and one [`EventType`](crate::EventType) constant per
//! event type for typed handler registration.
//!
//! # Wire format
//!
//! Chirp POSTs a JSON envelope `{"event": "<type name>", "data": {...}}` and authenticates it
//! with a shared secret in a custom header, conventionally [`SECRET_HEADER`]
//! (`X-Webhook-Secret`). [`Chirp`] reads the envelope without building a JSON tree, then
//! deserializes `data` straight from the request bytes into the payload type of the event:
//!
//! | `event` | variant | payload | constant |
//! |---|---|---|---|
//! | `messages.sms.received` | [`SmsReceived`](ChirpEvent::SmsReceived) | [`InboundMessage`] | [`SMS_RECEIVED`] |
//! | `messages.sms.sent` | [`SmsSent`](ChirpEvent::SmsSent) | [`MessageStatus`] | [`SMS_SENT`] |
//! | `messages.sms.delivered` | [`SmsDelivered`](ChirpEvent::SmsDelivered) | [`MessageStatus`] | [`SMS_DELIVERED`] |
//! | `messages.sms.failed` | [`SmsFailed`](ChirpEvent::SmsFailed) | [`MessageStatus`] | [`SMS_FAILED`] |
//! | `messages.whatsapp.received` | [`WhatsappReceived`](ChirpEvent::WhatsappReceived) | [`InboundMessage`] | [`WHATSAPP_RECEIVED`] |
//! | `messages.whatsapp.sent` | [`WhatsappSent`](ChirpEvent::WhatsappSent) | [`MessageStatus`] | [`WHATSAPP_SENT`] |
//! | `messages.whatsapp.delivered` | [`WhatsappDelivered`](ChirpEvent::WhatsappDelivered) | [`MessageStatus`] | [`WHATSAPP_DELIVERED`] |
//! | `messages.whatsapp.read` | [`WhatsappRead`](ChirpEvent::WhatsappRead) | [`MessageStatus`] | [`WHATSAPP_READ`] |
//! | `messages.whatsapp.failed` | [`WhatsappFailed`](ChirpEvent::WhatsappFailed) | [`MessageStatus`] | [`WHATSAPP_FAILED`] |
//! | `templates.whatsapp.created` | [`TemplateCreated`](ChirpEvent::TemplateCreated) | [`ResourceChange`] | [`TEMPLATE_CREATED`] |
//! | `templates.whatsapp.updated` | [`TemplateUpdated`](ChirpEvent::TemplateUpdated) | [`ResourceChange`] | [`TEMPLATE_UPDATED`] |
//! | `templates.whatsapp.deleted` | [`TemplateDeleted`](ChirpEvent::TemplateDeleted) | [`ResourceChange`] | [`TEMPLATE_DELETED`] |
//! | `templates.whatsapp.connected` | [`TemplateConnected`](ChirpEvent::TemplateConnected) | [`ResourceChange`] | [`TEMPLATE_CONNECTED`] |
//! | `contacts.whatsapp.created` | [`ContactCreated`](ChirpEvent::ContactCreated) | [`ResourceChange`] | [`CONTACT_CREATED`] |
//! | `contacts.whatsapp.updated` | [`ContactUpdated`](ChirpEvent::ContactUpdated) | [`ResourceChange`] | [`CONTACT_UPDATED`] |
//! | `contacts.whatsapp.deleted` | [`ContactDeleted`](ChirpEvent::ContactDeleted) | [`ResourceChange`] | [`CONTACT_DELETED`] |
//! | `whatsapp.account.connected` | [`AccountConnected`](ChirpEvent::AccountConnected) | [`ResourceChange`] | [`ACCOUNT_CONNECTED`] |
//! | `whatsapp.account.disconnected` | [`AccountDisconnected`](ChirpEvent::AccountDisconnected) | [`ResourceChange`] | [`ACCOUNT_DISCONNECTED`] |
//!
//! - An event type not in this table is **not an error**: it becomes
//!   [`ChirpEvent::Unknown`] with its name and raw `data`, so that Chirp adding an event type
//!   never makes deliveries fail.
//! - A known event type whose `data` does not fit its payload type becomes
//!   [`Received::Invalid`](crate::event::Received::Invalid) with the path of the failing field (e.g.
//!   `deliveredAt`); it is logged at `warn`, acknowledged, and handed to the fallback handler
//!   with the raw data.
//! - Only a body that is not an envelope at all (empty, not UTF-8, not JSON, not an object,
//!   `event` or `data` missing or of the wrong type) is rejected, with a [`DecodeError`](crate::DecodeError)
//!   ([`Rejection::Decode`](crate::Rejection::Decode), answered 400).
//!
//! Unknown fields are accepted everywhere, and every string code (statuses, error types and
//! codes, provider sources, Health Status values) has an `Other(String)` variant that keeps a
//! value this version does not know.
//!
//! # Deduplication
//!
//! Chirp may deliver an event more than once, and its envelope `{"event", "data"}` has no event
//! id: the same `data.id` appears in several events (a message is sent, then delivered, then
//! read). The key is derived per event type ([`ChirpEvent::dedup_key`]), as a 128-bit digest
//! ([`DedupKey`](crate::DedupKey): fixed size, whatever the id):
//!
//! | event types | key parts | why |
//! |---|---|---|
//! | `messages.*.sent`, `.delivered`, `.read`, `.failed` | event name, `data.id`, the status timestamp (`sentAt`/`deliveredAt`/`readAt`/`failedAt`, normalised to RFC 3339 UTC); for a `status` this version does not know (`queued`), the status and every one of the four timestamps the payload carries | the three updates of one message are three events; a second failure of the same message at another time is a new event; a redelivery of one update collapses |
//! | `messages.*.received` | event name, `data.id` | an inbound message has its own id |
//! | `templates.*`, `contacts.*`, `whatsapp.account.*`, unknown types, invalid payloads | event name, digest of the canonical `data` (keys sorted, no whitespace), hashed from the raw text with numbers exactly as written | no per-event id or timestamp in the seeds: two updates of one template with different content are two events, an identical redelivery (its keys reordered or not) is one |
//!
//! Keys do not depend on key order, whitespace or string escapes (`"\u0041"` is `"A"`). They do
//! depend on how a number is spelled: numbers are hashed as written, so `18446744073709551616`
//! and `18446744073709551617`, or `0.1` and `0.10000000000000001`, are distinct events even
//! though one `f64` holds both, and `1` and `1.0` are two keys too (a sender writes a number the
//! same way on every delivery). Override the rule with
//! [`dedup_key(|event, headers| ..)`](crate::WebhooksBuilder::dedup_key) on the builder.
//!
//! How long keys are remembered, and how many, is the store's: 24 hours and 1,000,000 keys by
//! default ([`MokaStore`](crate::store::MokaStore) has why, and what it costs in memory).
//!
//! # Example
//!
//! ```
//! use http::HeaderMap;
//! use webhook_receiver::chirp::{self, Chirp, ChirpEvent, MessageState};
//! use webhook_receiver::event::{Format, Received};
//!
//! let body = br#"{
//!     "event": "messages.sms.delivered",
//!     "data": {
//!         "id": "550e8400-e29b-41d4-a716-446655440000",
//!         "from": "+15551234567",
//!         "to": "+15559876543",
//!         "status": "delivered",
//!         "deliveredAt": "2024-01-15T12:00:00.000Z"
//!     }
//! }"#;
//!
//! let decoded = Chirp.decode(&HeaderMap::new(), body)?;
//! assert_eq!(decoded.event_name(), "messages.sms.delivered");
//!
//! let Received::Event(event) = decoded.received() else { panic!("not a typed event") };
//! // Typed access without a `match`, as handlers registered with the constant get it:
//! let status = chirp::SMS_DELIVERED.payload(event).expect("an SMS delivery");
//! assert_eq!(status.status, MessageState::Delivered);
//! assert_eq!(status.to.as_deref(), Some("+15559876543"));
//! assert!(matches!(event, ChirpEvent::SmsDelivered(_)));
//! assert_eq!(decoded.key(), event.dedup_key());
//!
//! // An event type this version does not know is not an error.
//! let body = br#"{"event": "calls.voice.started", "data": {"id": "call_1"}}"#;
//! let decoded = Chirp.decode(&HeaderMap::new(), body)?;
//! assert!(matches!(
//!     decoded.received(),
//!     Received::Event(ChirpEvent::Unknown { name, .. }) if name == "calls.voice.started"
//! ));
//! # Ok::<(), webhook_receiver::Rejection>(())
//! ```

mod decode;
mod event;
mod key;
mod payload;
mod preset;
mod table;
#[cfg(test)]
mod tests;
mod time;

pub use decode::Chirp;
pub use event::*;
pub use payload::*;
pub use preset::{ChirpWebhooks, webhooks};

/// The header Chirp's documentation uses for the shared secret (`X-Webhook-Secret`), in the
/// lowercase form `http` header names take.
///
/// Chirp sends whatever custom headers the webhook was created with; this is the conventional
/// one.
pub const SECRET_HEADER: &str = "x-webhook-secret";
