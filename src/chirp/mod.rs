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
//! | `templates.whatsapp.created` | [`TemplateCreated`](ChirpEvent::TemplateCreated) | [`ResourceEvent`] | [`TEMPLATE_CREATED`] |
//! | `templates.whatsapp.updated` | [`TemplateUpdated`](ChirpEvent::TemplateUpdated) | [`ResourceEvent`] | [`TEMPLATE_UPDATED`] |
//! | `templates.whatsapp.deleted` | [`TemplateDeleted`](ChirpEvent::TemplateDeleted) | [`ResourceEvent`] | [`TEMPLATE_DELETED`] |
//! | `templates.whatsapp.connected` | [`TemplateConnected`](ChirpEvent::TemplateConnected) | [`ResourceEvent`] | [`TEMPLATE_CONNECTED`] |
//! | `contacts.whatsapp.created` | [`ContactCreated`](ChirpEvent::ContactCreated) | [`ResourceEvent`] | [`CONTACT_CREATED`] |
//! | `contacts.whatsapp.updated` | [`ContactUpdated`](ChirpEvent::ContactUpdated) | [`ResourceEvent`] | [`CONTACT_UPDATED`] |
//! | `contacts.whatsapp.deleted` | [`ContactDeleted`](ChirpEvent::ContactDeleted) | [`ResourceEvent`] | [`CONTACT_DELETED`] |
//! | `whatsapp.account.connected` | [`AccountConnected`](ChirpEvent::AccountConnected) | [`ResourceEvent`] | [`ACCOUNT_CONNECTED`] |
//! | `whatsapp.account.disconnected` | [`AccountDisconnected`](ChirpEvent::AccountDisconnected) | [`ResourceEvent`] | [`ACCOUNT_DISCONNECTED`] |
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
//! Chirp may deliver an event more than once and its payloads carry no event id, so the key is
//! derived from the content ([`ChirpEvent::dedup_key`]):
//!
//! - **message status events** (`sent`, `delivered`, `read`, `failed`): the event name, the
//!   message id and the timestamp of the status (`sentAt`, `deliveredAt`, `readAt` or
//!   `failedAt`, normalized to RFC 3339 UTC). The `sent`, `delivered` and `read` updates of one
//!   message are three events; a redelivery of one of them is a duplicate.
//! - **received messages**: the event name and the message id.
//! - **template, contact and account events**, unknown event types, and known event types
//!   with an invalid payload: the event name and a digest of the canonical `data` (keys sorted,
//!   whitespace removed). Two `templates.whatsapp.updated` of one template with different
//!   content are two events; the same content with its keys reordered is a duplicate.
//!
//! # Example
//!
//! ```
//! use http::HeaderMap;
//! use webhook_receiver::chirp::{self, Chirp, ChirpEvent, MessageState};
//! use webhook_receiver::event::{DecodeEvent, Received};
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
