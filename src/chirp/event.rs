//! The [`ChirpEvent`] enum, one [`EventType`] constant per event type, and the accessors that
//! treat several event types alike. The event table is declared once, in [`table`](super::table).

use super::payload::{InboundMessage, MessageStatus, ResourceChange};
use super::table::chirp_table;
use crate::event::{Event, EventType, RawJson};

/// From the event table: the [`ChirpEvent`] variants, their wire names, the [`EventType`]
/// constants and [`EVENT_TYPES`].
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
    };
}

chirp_table!(chirp_events);

/// The shape of an event's payload: one exhaustive match over the variants, which the
/// accessors below and the dedup key rule share, so that a new variant must be placed once.
pub(super) enum Shape<'a> {
    Status(&'a MessageStatus),
    Inbound(&'a InboundMessage),
    Resource(&'a ResourceChange),
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
    pub fn resource(&self) -> Option<&ResourceChange> {
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
