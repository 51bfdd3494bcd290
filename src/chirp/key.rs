//! How Chirp events are deduplicated: Chirp's payloads carry no event id, so the key is
//! derived from what identifies one event of each type.

use serde_json::value::RawValue;

use super::ChirpEvent;
use super::event::Shape;
use super::payload::{InboundMessage, MessageState, MessageStatus, ResourceChange};
use super::time;
use crate::dedup::DedupKey;
use crate::event::Event;

/// Whether events with this payload type are keyed by a digest of their `data` (which the
/// decoder then reads as raw text first) rather than by their id.
pub(super) trait KeyedByContent {
    const KEYED_BY_CONTENT: bool;
}

impl KeyedByContent for MessageStatus {
    const KEYED_BY_CONTENT: bool = false;
}

impl KeyedByContent for InboundMessage {
    const KEYED_BY_CONTENT: bool = false;
}

impl KeyedByContent for ResourceChange {
    const KEYED_BY_CONTENT: bool = true;
}

impl ChirpEvent {
    /// The deduplication key of this event.
    ///
    /// - Message status events (`messages.*.sent`, `.delivered`, `.read`, `.failed`):
    ///   `DedupKey::from_parts(&[event name, data.id, status time])`, where the status time is
    ///   [`MessageStatus::status_time`](super::MessageStatus::status_time) in RFC 3339 UTC (`2024-01-15T12:00:05Z`, fractional
    ///   seconds only when non-zero), or empty when absent. The `sent`, `delivered` and `read`
    ///   updates of one message are three distinct events; a redelivery of one collapses. A
    ///   `status` this version does not know (`"queued"`) has no timestamp of its own, so the
    ///   key is `[event name, data.id, status, sentAt, deliveredAt, readAt, failedAt]`, each
    ///   time as above (empty when absent): two updates at different times stay two events.
    /// - Received messages (`messages.*.received`): `DedupKey::from_parts(&[event name,
    ///   data.id])`.
    /// - Template, contact and account events: a digest of the event name and the canonical
    ///   payload. Two updates of one template with different content are two events.
    /// - [`Unknown`](Self::Unknown): the same digest of `event` and `data`.
    ///
    /// A known event type whose payload does not fit its schema is keyed like an unknown one by
    /// the decoder.
    ///
    /// Keys do not depend on key order or whitespace in the body. The decoder hashes the
    /// payload digests from the raw text of `data` ([`DedupKey::from_raw_json`]), numbers as
    /// written, so `{"n": 18446744073709551616}` and `{"n": 18446744073709551617}` are two
    /// events (the spelling counts too: `1` and `1.0` are two keys). This method has only the
    /// decoded event, whose numbers are what serde_json holds, and uses
    /// [`DedupKey::from_json`]: it gives the decoder's key whenever every number is written in
    /// serde_json's form (`12`, `0.5`), as senders write them.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use webhook_receiver::chirp::Chirp;
    /// use webhook_receiver::event::Format;
    ///
    /// let sent = br#"{"event": "messages.whatsapp.sent",
    ///     "data": {"id": "msg_1", "status": "sent", "sentAt": "2024-01-15T12:00:00.000Z"}}"#;
    /// let again = br#"{"data": {"sentAt": "2024-01-15T12:00:00Z", "status": "sent",
    ///     "id": "msg_1"},
    ///     "event": "messages.whatsapp.sent"}"#;
    /// let read = br#"{"event": "messages.whatsapp.read",
    ///     "data": {"id": "msg_1", "status": "read", "readAt": "2024-01-15T12:00:10.000Z"}}"#;
    ///
    /// let key = |body: &[u8]| Chirp.decode(&HeaderMap::new(), body).unwrap().key();
    /// assert_eq!(key(sent), key(again));
    /// assert_ne!(key(sent), key(read));
    /// ```
    pub fn dedup_key(&self) -> DedupKey {
        let event_name = self.event_name().as_bytes();
        match self.shape() {
            Shape::Status(m) => match &m.status {
                MessageState::Other(status) => {
                    // A status this version does not know has no timestamp of its own: every
                    // one the payload carries goes into the key.
                    let times = [m.sent_at, m.delivered_at, m.read_at, m.failed_at]
                        .map(|t| t.map(time::Rfc3339::new));
                    let [sent, delivered, read, failed] = times
                        .each_ref()
                        .map(|t| t.as_ref().map_or(&[][..], |t| t.as_bytes()));
                    DedupKey::from_parts(&[
                        event_name,
                        m.id.as_bytes(),
                        status.as_bytes(),
                        sent,
                        delivered,
                        read,
                        failed,
                    ])
                }
                _ => {
                    let at = m.status_time().map(time::Rfc3339::new);
                    let at = at.as_ref().map_or(&[][..], time::Rfc3339::as_bytes);
                    DedupKey::from_parts(&[event_name, m.id.as_bytes(), at])
                }
            },
            Shape::Inbound(m) => DedupKey::from_parts(&[event_name, m.id.as_bytes()]),
            Shape::Resource(r) => DedupKey::from_json(self.event_name(), &r.to_value()),
            Shape::Unknown { name, data, .. } => DedupKey::from_raw_json(name, data.as_raw()),
        }
    }

    /// The decoder's key: [`dedup_key`](Self::dedup_key), with the payload digest of
    /// content-keyed events taken from `data`'s raw text (exact numbers).
    pub(super) fn dedup_key_from(&self, data: &RawValue) -> DedupKey {
        match self.shape() {
            Shape::Resource(_) | Shape::Unknown { .. } => {
                DedupKey::from_raw_json(self.event_name(), data)
            }
            Shape::Status(_) | Shape::Inbound(_) => self.dedup_key(),
        }
    }
}
