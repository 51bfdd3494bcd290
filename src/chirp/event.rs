//! The [`ChirpEvent`] enum, one [`EventType`] constant per event type, and the accessors that
//! treat several event types alike. The event table is declared once, in [`chirp_events!`].

use std::borrow::Cow;

use serde::de::{self, Deserializer};
use serde_json::value::RawValue;

use super::decode::{Object, decode_typed, decode_unknown};
use super::key::KeyedByContent;
use super::payload::{InboundMessage, MessageStatus, ResourceEvent};
use crate::error::DecodeError;
use crate::event::{Decoded, Event, EventType, RawJson};

/// Declares the event table once: the [`ChirpEvent`] variants, their wire names, the
/// [`EventType`] constants, [`EVENT_TYPES`] and the name dispatch of the decoder.
macro_rules! chirp_events {
    ($(
        $(#[doc = $doc:literal])*
        $variant:ident($payload:ident) = $name:literal, $konst:ident;
    )+) => {
        /// A Chirp webhook event: one variant per event type, holding its typed payload.
        ///
        /// Payloads are boxed to keep the enum small. Register handlers with the per-type
        /// constants ([`SMS_DELIVERED`], ...) to receive the payload directly, or `match` on
        /// this enum. See the [module documentation](super) for the table of event types.
        ///
        /// ```
        /// use webhook_receiver::Event;
        /// use webhook_receiver::chirp::ChirpEvent;
        ///
        /// let status = serde_json::from_str(r#"{"id": "msg_1", "status": "delivered"}"#).unwrap();
        /// let event = ChirpEvent::SmsDelivered(Box::new(status));
        /// assert_eq!(event.event_name(), "messages.sms.delivered");
        /// match &event {
        ///     ChirpEvent::SmsDelivered(status) => assert_eq!(status.id, "msg_1"),
        ///     other => panic!("unexpected {}", other.event_name()),
        /// }
        /// ```
        #[derive(Debug, Clone, PartialEq)]
        #[non_exhaustive]
        pub enum ChirpEvent {
            $(
                $(#[doc = $doc])*
                $variant(Box<$payload>),
            )+
            /// An event type this version of the crate does not know, kept as received: its
            /// `data` as JSON text, which a handler parses with [`RawJson::parse`] (a queued
            /// event holds the text, not a tree many times its size).
            Unknown {
                /// The event type name from the envelope.
                name: String,
                /// `data.id`, if it is a string.
                id: Option<String>,
                /// The raw `data` object, as received.
                data: RawJson,
            },
        }

        impl Event for ChirpEvent {
            fn event_name(&self) -> &str {
                match self {
                    $( Self::$variant(_) => $name, )+
                    Self::Unknown { name, .. } => name,
                }
            }
        }

        /// The names of all event types decoded into a typed variant, in the order of Chirp's
        /// API reference (the `events` a webhook can subscribe to).
        ///
        /// ```
        /// use webhook_receiver::chirp::{self, EVENT_TYPES};
        ///
        /// assert_eq!(EVENT_TYPES.len(), 18);
        /// assert!(EVENT_TYPES.contains(&chirp::WHATSAPP_READ.name()));
        /// assert!(!EVENT_TYPES.contains(&"calls.voice.started")); // decoded as `Unknown`
        /// ```
        pub const EVENT_TYPES: [&str; 18] = [$($name),+];

        $(
            #[doc = concat!(
                "The `", $name, "` event type: handlers registered with it receive a [`",
                stringify!($payload), "`] (the payload of [`ChirpEvent::", stringify!($variant),
                "`]).",
            )]
            #[doc = ""]
            #[doc = "```"]
            #[doc = "use webhook_receiver::chirp;"]
            #[doc = ""]
            #[doc = concat!("assert_eq!(chirp::", stringify!($konst), ".name(), \"", $name, "\");")]
            #[doc = "```"]
            pub const $konst: EventType<ChirpEvent, $payload> = EventType::<ChirpEvent, $payload>::new($name, |e| match e {
                ChirpEvent::$variant(payload) => Some(payload),
                _ => None,
            });
        )+

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

chirp_events! {
    /// `messages.sms.received`: an inbound SMS or MMS.
    SmsReceived(InboundMessage) = "messages.sms.received", SMS_RECEIVED;
    /// `messages.sms.sent`: an SMS was handed to the carrier.
    SmsSent(MessageStatus) = "messages.sms.sent", SMS_SENT;
    /// `messages.sms.delivered`: an SMS reached the recipient.
    SmsDelivered(MessageStatus) = "messages.sms.delivered", SMS_DELIVERED;
    /// `messages.sms.failed`: an SMS could not be delivered.
    SmsFailed(MessageStatus) = "messages.sms.failed", SMS_FAILED;
    /// `messages.whatsapp.received`: an inbound WhatsApp message.
    WhatsappReceived(InboundMessage) = "messages.whatsapp.received", WHATSAPP_RECEIVED;
    /// `messages.whatsapp.sent`: a WhatsApp message was handed to WhatsApp.
    WhatsappSent(MessageStatus) = "messages.whatsapp.sent", WHATSAPP_SENT;
    /// `messages.whatsapp.delivered`: a WhatsApp message reached the user's device.
    WhatsappDelivered(MessageStatus) = "messages.whatsapp.delivered", WHATSAPP_DELIVERED;
    /// `messages.whatsapp.read`: the user read a WhatsApp message.
    WhatsappRead(MessageStatus) = "messages.whatsapp.read", WHATSAPP_READ;
    /// `messages.whatsapp.failed`: a WhatsApp message could not be delivered.
    WhatsappFailed(MessageStatus) = "messages.whatsapp.failed", WHATSAPP_FAILED;
    /// `templates.whatsapp.created`: a WhatsApp message template was created.
    TemplateCreated(ResourceEvent) = "templates.whatsapp.created", TEMPLATE_CREATED;
    /// `templates.whatsapp.updated`: a WhatsApp message template changed (e.g. its review
    /// status).
    TemplateUpdated(ResourceEvent) = "templates.whatsapp.updated", TEMPLATE_UPDATED;
    /// `templates.whatsapp.deleted`: a WhatsApp message template was deleted.
    TemplateDeleted(ResourceEvent) = "templates.whatsapp.deleted", TEMPLATE_DELETED;
    /// `templates.whatsapp.connected`: a WhatsApp message template was connected to the app.
    TemplateConnected(ResourceEvent) = "templates.whatsapp.connected", TEMPLATE_CONNECTED;
    /// `contacts.whatsapp.created`: a WhatsApp contact was created.
    ContactCreated(ResourceEvent) = "contacts.whatsapp.created", CONTACT_CREATED;
    /// `contacts.whatsapp.updated`: a WhatsApp contact changed.
    ContactUpdated(ResourceEvent) = "contacts.whatsapp.updated", CONTACT_UPDATED;
    /// `contacts.whatsapp.deleted`: a WhatsApp contact was deleted.
    ContactDeleted(ResourceEvent) = "contacts.whatsapp.deleted", CONTACT_DELETED;
    /// `whatsapp.account.connected`: a WhatsApp Business account was connected.
    AccountConnected(ResourceEvent) = "whatsapp.account.connected", ACCOUNT_CONNECTED;
    /// `whatsapp.account.disconnected`: a WhatsApp Business account was disconnected.
    AccountDisconnected(ResourceEvent) = "whatsapp.account.disconnected", ACCOUNT_DISCONNECTED;
}

/// The shape of an event's payload: one exhaustive match over the variants, which the
/// accessors below and the dedup key rule share, so that a new variant must be placed once.
pub(super) enum Shape<'a> {
    Status(&'a MessageStatus),
    Inbound(&'a InboundMessage),
    Resource(&'a ResourceEvent),
    Unknown {
        name: &'a str,
        id: Option<&'a str>,
        data: &'a RawJson,
    },
}

impl ChirpEvent {
    pub(super) fn shape(&self) -> Shape<'_> {
        match self {
            Self::SmsSent(m)
            | Self::SmsDelivered(m)
            | Self::SmsFailed(m)
            | Self::WhatsappSent(m)
            | Self::WhatsappDelivered(m)
            | Self::WhatsappRead(m)
            | Self::WhatsappFailed(m) => Shape::Status(m),
            Self::SmsReceived(m) | Self::WhatsappReceived(m) => Shape::Inbound(m),
            Self::TemplateCreated(r)
            | Self::TemplateUpdated(r)
            | Self::TemplateDeleted(r)
            | Self::TemplateConnected(r)
            | Self::ContactCreated(r)
            | Self::ContactUpdated(r)
            | Self::ContactDeleted(r)
            | Self::AccountConnected(r)
            | Self::AccountDisconnected(r) => Shape::Resource(r),
            Self::Unknown { name, id, data } => Shape::Unknown {
                name,
                id: id.as_deref(),
                data,
            },
        }
    }

    /// The payload of a message status event (SMS or WhatsApp `sent`, `delivered`, `read`,
    /// `failed`), for handlers that treat them alike.
    ///
    /// ```
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::event::Received;
    /// # fn event(body: &str) -> ChirpEvent {
    /// #     let (Received::Event(event), _, _) = Chirp.decode_body(body.as_bytes()).unwrap().into_parts()
    /// #     else { panic!("invalid") };
    /// #     event
    /// # }
    /// let sent = event(r#"{"event": "messages.whatsapp.sent", "data": {"id": "m1", "status": "sent"}}"#);
    /// assert_eq!(sent.message_status().map(|m| m.id.as_str()), Some("m1"));
    /// let inbound = event(r#"{"event": "messages.sms.received", "data": {"id": "m2"}}"#);
    /// assert!(inbound.message_status().is_none());
    /// ```
    pub fn message_status(&self) -> Option<&MessageStatus> {
        match self.shape() {
            Shape::Status(m) => Some(m),
            _ => None,
        }
    }

    /// The payload of a received message event (SMS or WhatsApp).
    ///
    /// ```
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::event::Received;
    /// # fn event(body: &str) -> ChirpEvent {
    /// #     let (Received::Event(event), _, _) = Chirp.decode_body(body.as_bytes()).unwrap().into_parts()
    /// #     else { panic!("invalid") };
    /// #     event
    /// # }
    /// let sms = event(r#"{"event": "messages.sms.received", "data": {"id": "m2", "text": "Hi"}}"#);
    /// assert_eq!(sms.inbound_message().and_then(|m| m.text.as_deref()), Some("Hi"));
    /// let sent = event(r#"{"event": "messages.sms.sent", "data": {"id": "m1", "status": "sent"}}"#);
    /// assert!(sent.inbound_message().is_none());
    /// ```
    pub fn inbound_message(&self) -> Option<&InboundMessage> {
        match self.shape() {
            Shape::Inbound(m) => Some(m),
            _ => None,
        }
    }

    /// The payload of a template, contact or account event.
    ///
    /// ```
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::event::Received;
    /// # fn event(body: &str) -> ChirpEvent {
    /// #     let (Received::Event(event), _, _) = Chirp.decode_body(body.as_bytes()).unwrap().into_parts()
    /// #     else { panic!("invalid") };
    /// #     event
    /// # }
    /// let tpl = event(r#"{"event": "templates.whatsapp.updated",
    ///     "data": {"id": "tpl_1", "status": "APPROVED"}}"#);
    /// assert_eq!(tpl.resource().and_then(|r| r.get_str("status")), Some("APPROVED"));
    /// ```
    pub fn resource(&self) -> Option<&ResourceEvent> {
        match self.shape() {
            Shape::Resource(r) => Some(r),
            _ => None,
        }
    }

    /// The `id` of the payload (message, template, contact or account id); for
    /// [`Unknown`](Self::Unknown), `data.id` if it is a string.
    ///
    /// ```
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::event::Received;
    /// # fn event(body: &str) -> ChirpEvent {
    /// #     let (Received::Event(event), _, _) = Chirp.decode_body(body.as_bytes()).unwrap().into_parts()
    /// #     else { panic!("invalid") };
    /// #     event
    /// # }
    /// let tpl = event(r#"{"event": "templates.whatsapp.deleted", "data": {"id": "tpl_1"}}"#);
    /// assert_eq!(tpl.id(), Some("tpl_1"));
    /// let unknown = event(r#"{"event": "calls.voice.started", "data": {"id": "call_1"}}"#);
    /// assert_eq!(unknown.id(), Some("call_1"));
    /// ```
    pub fn id(&self) -> Option<&str> {
        match self.shape() {
            Shape::Status(m) => Some(&m.id),
            Shape::Inbound(m) => Some(&m.id),
            Shape::Resource(r) => Some(&r.id),
            Shape::Unknown { id, .. } => id,
        }
    }
}
