//! The Chirp event table, declared once: each event type's variant, payload type, wire name
//! and constant. [`event`](super::event) builds the enum and the constants from it, and
//! [`decode`](super::decode) the name dispatch of the decoder, each by passing its own macro to
//! [`chirp_table!`].

/// Calls the macro `$then` with the event table: one row per event type,
/// `Variant(Payload) = "wire.name", CONSTANT;` with its docs.
macro_rules! chirp_table {
    ($then:ident) => {
        $then! {
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
            TemplateCreated(ResourceChange) = "templates.whatsapp.created", TEMPLATE_CREATED;
            /// `templates.whatsapp.updated`: a WhatsApp message template changed (e.g. its review
            /// status).
            TemplateUpdated(ResourceChange) = "templates.whatsapp.updated", TEMPLATE_UPDATED;
            /// `templates.whatsapp.deleted`: a WhatsApp message template was deleted.
            TemplateDeleted(ResourceChange) = "templates.whatsapp.deleted", TEMPLATE_DELETED;
            /// `templates.whatsapp.connected`: a WhatsApp message template was connected to the app.
            TemplateConnected(ResourceChange) = "templates.whatsapp.connected", TEMPLATE_CONNECTED;
            /// `contacts.whatsapp.created`: a WhatsApp contact was created.
            ContactCreated(ResourceChange) = "contacts.whatsapp.created", CONTACT_CREATED;
            /// `contacts.whatsapp.updated`: a WhatsApp contact changed.
            ContactUpdated(ResourceChange) = "contacts.whatsapp.updated", CONTACT_UPDATED;
            /// `contacts.whatsapp.deleted`: a WhatsApp contact was deleted.
            ContactDeleted(ResourceChange) = "contacts.whatsapp.deleted", CONTACT_DELETED;
            /// `whatsapp.account.connected`: a WhatsApp Business account was connected.
            AccountConnected(ResourceChange) = "whatsapp.account.connected", ACCOUNT_CONNECTED;
            /// `whatsapp.account.disconnected`: a WhatsApp Business account was disconnected.
            AccountDisconnected(ResourceChange) = "whatsapp.account.disconnected", ACCOUNT_DISCONNECTED;

        }
    };
}

pub(super) use chirp_table;
