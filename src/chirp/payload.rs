//! Payload types of Chirp's webhook events (the `data` object of each delivery).
//!
//! Every struct accepts fields it does not know (Chirp may add some at any time), and every
//! string code is an enum with an `Other(String)` variant, so an unknown value never fails a
//! delivery: it is kept verbatim and serialized back unchanged.

use std::fmt;

use chrono::{DateTime, Utc};
use serde::{Deserialize, Deserializer, Serialize, Serializer, de};
use serde_json::{Map, Number, Value};

use super::time::Timestamp;

/// Declares a string code enum: one unit variant per known wire value plus `Other(String)`, with
/// `as_str`, `Display`, `From<&str>`, `From<String>` and string (de)serialization that maps an
/// unknown value to `Other` and writes every variant back as its wire string.
macro_rules! string_enum {
    (
        $(#[$meta:meta])*
        pub enum $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $variant:ident = $wire:literal,
            )+
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq, Eq, Hash)]
        #[non_exhaustive]
        pub enum $name {
            $(
                $(#[doc = $doc])*
                $variant,
            )+
            /// A value this version of the crate does not know, kept verbatim.
            ///
            /// Deserialization and the `From` conversions never put a known value here; build
            /// values with `From` rather than `Other(..)` directly to keep comparisons exact.
            Other(String),
        }

        impl $name {
            /// The value as it appears on the wire.
            ///
            #[doc = "```"]
            #[doc = concat!("use webhook_receiver::chirp::", stringify!($name), ";")]
            #[doc = ""]
            #[doc = concat!("let value = ", stringify!($name), "::from(\"not_yet_known\");")]
            #[doc = concat!("assert!(matches!(value, ", stringify!($name), "::Other(_)));")]
            #[doc = "assert_eq!(value.as_str(), \"not_yet_known\"); // kept verbatim"]
            #[doc = "```"]
            pub fn as_str(&self) -> &str {
                match self {
                    $( Self::$variant => $wire, )+
                    Self::Other(other) => other,
                }
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(self.as_str())
            }
        }

        impl From<&str> for $name {
            fn from(value: &str) -> Self {
                match value {
                    $( $wire => Self::$variant, )+
                    other => Self::Other(other.to_owned()),
                }
            }
        }

        impl From<String> for $name {
            fn from(value: String) -> Self {
                match value.as_str() {
                    $( $wire => Self::$variant, )+
                    _ => Self::Other(value),
                }
            }
        }

        impl Serialize for $name {
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                serializer.serialize_str(self.as_str())
            }
        }

        impl<'de> Deserialize<'de> for $name {
            fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
                struct CodeVisitor;

                impl de::Visitor<'_> for CodeVisitor {
                    type Value = $name;

                    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                        f.write_str("a string")
                    }

                    fn visit_str<E: de::Error>(self, value: &str) -> Result<$name, E> {
                        Ok($name::from(value))
                    }

                    fn visit_string<E: de::Error>(self, value: String) -> Result<$name, E> {
                        Ok($name::from(value))
                    }
                }

                deserializer.deserialize_str(CodeVisitor)
            }
        }
    };
}

// `Deserialize` is written by hand below, as the derive with `#[serde(flatten)]` would be.
/// An inbound message: the payload of `messages.sms.received` and `messages.whatsapp.received`.
///
/// Only `id` is required. Fields this type does not name (media, conversation window, direction,
/// ...: they vary with the message type) are kept in [`extra`](Self::extra).
///
/// ```
/// use webhook_receiver::chirp::InboundMessage;
///
/// let msg: InboundMessage = serde_json::from_str(
///     r#"{"id": "msg_1", "from": "+15551234567", "text": "Hi", "type": "text", "context": null}"#,
/// )
/// .unwrap();
/// assert_eq!(msg.text.as_deref(), Some("Hi"));
/// assert_eq!(msg.message_type.as_deref(), Some("text"));
/// assert!(msg.extra.contains_key("context"));
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct InboundMessage {
    /// Chirp's message id (e.g. `msg_wa_...` for WhatsApp).
    pub id: String,
    /// The sender's phone number (E.164).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The receiving phone number, yours (E.164).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The text content, if any (absent or null for media-only messages).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// The message type as sent by Chirp (`text`, `image`, `audio`, `location`, ... for
    /// WhatsApp).
    #[serde(rename = "type", skip_serializing_if = "Option::is_none")]
    pub message_type: Option<String>,
    /// When Chirp received the message (`receivedAt`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub received_at: Option<DateTime<Utc>>,
    /// Every other field of the payload, as received (e.g. `media`, `conversationWindow`).
    #[serde(flatten)]
    pub extra: Map<String, Value>,
}

/// The keys of an [`InboundMessage`]; any other goes to `extra`.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "camelCase")]
enum InboundField {
    Id,
    From,
    To,
    Text,
    #[serde(rename = "type")]
    Type,
    ReceivedAt,
    Other(String),
}

/// What `#[derive(Deserialize)]` with `#[serde(flatten)] extra` does (same fields, defaults,
/// errors and messages), without flatten's cost: the derive buffers every unknown field in an
/// intermediate tree and converts it to the map at the end, where this deserializes it into
/// the map directly.
impl<'de> Deserialize<'de> for InboundMessage {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct InboundVisitor;

        impl<'de> de::Visitor<'de> for InboundVisitor {
            type Value = InboundMessage;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct InboundMessage")
            }

            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<InboundMessage, A::Error> {
                let mut id = None;
                let (mut from, mut to, mut text, mut message_type) = (None, None, None, None);
                let mut received_at: Option<Option<Timestamp>> = None;
                let mut extra = Map::new();
                while let Some(field) = map.next_key()? {
                    match field {
                        InboundField::Id => next_value_once(&mut map, &mut id, "id")?,
                        InboundField::From => next_value_once(&mut map, &mut from, "from")?,
                        InboundField::To => next_value_once(&mut map, &mut to, "to")?,
                        InboundField::Text => next_value_once(&mut map, &mut text, "text")?,
                        InboundField::Type => {
                            next_value_once(&mut map, &mut message_type, "type")?;
                        }
                        InboundField::ReceivedAt => {
                            next_value_once(&mut map, &mut received_at, "receivedAt")?;
                        }
                        InboundField::Other(key) => {
                            extra.insert(key, map.next_value()?);
                        }
                    }
                }
                Ok(InboundMessage {
                    id: id.ok_or_else(|| de::Error::missing_field("id"))?,
                    from: from.flatten(),
                    to: to.flatten(),
                    text: text.flatten(),
                    message_type: message_type.flatten(),
                    received_at: received_at.flatten().map(DateTime::from),
                    extra,
                })
            }
        }

        deserializer.deserialize_map(InboundVisitor)
    }
}

/// A delivery status update of an outbound message: the payload of `messages.sms.sent`,
/// `messages.sms.delivered`, `messages.sms.failed`, `messages.whatsapp.sent`,
/// `messages.whatsapp.delivered`, `messages.whatsapp.read` and `messages.whatsapp.failed`.
///
/// ```
/// use webhook_receiver::chirp::{MessageStatus, MessageState};
///
/// let status: MessageStatus = serde_json::from_str(
///     r#"{"id": "msg_1", "status": "read", "readAt": "2024-01-15T12:00:10.000Z"}"#,
/// )
/// .unwrap();
/// assert_eq!(status.status, MessageState::Read);
/// assert_eq!(status.status_time(), status.read_at);
/// assert_eq!(status.status_time().unwrap().to_rfc3339(), "2024-01-15T12:00:10+00:00");
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[serde(rename_all = "camelCase")]
#[non_exhaustive]
pub struct MessageStatus {
    /// Chirp's message id: the id returned when the message was sent.
    pub id: String,
    /// The sending phone number (E.164).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub from: Option<String>,
    /// The recipient's phone number (E.164).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub to: Option<String>,
    /// The status this update reports.
    pub status: MessageState,
    /// When the message was handed to the carrier or to WhatsApp (`sentAt`).
    #[serde(
        default,
        deserialize_with = "super::time::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub sent_at: Option<DateTime<Utc>>,
    /// When the message reached the recipient (`deliveredAt`).
    #[serde(
        default,
        deserialize_with = "super::time::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub delivered_at: Option<DateTime<Utc>>,
    /// When the recipient read the message (`readAt`, WhatsApp only).
    #[serde(
        default,
        deserialize_with = "super::time::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub read_at: Option<DateTime<Utc>>,
    /// When delivery failed (`failedAt`).
    #[serde(
        default,
        deserialize_with = "super::time::deserialize",
        skip_serializing_if = "Option::is_none"
    )]
    pub failed_at: Option<DateTime<Utc>>,
    /// Why delivery failed (on `failed` events).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ChirpError>,
}

impl MessageStatus {
    /// The timestamp that goes with [`status`](Self::status): `sentAt` for `sent`,
    /// `deliveredAt` for `delivered`, `readAt` for `read`, `failedAt` for `failed`; `None` when
    /// that field is absent or the status is not one of these.
    ///
    /// ```
    /// use webhook_receiver::chirp::MessageStatus;
    ///
    /// let status: MessageStatus = serde_json::from_str(r#"{"id": "m1", "status": "delivered",
    ///     "sentAt": "2024-01-15T12:00:00Z", "deliveredAt": "2024-01-15T12:00:05Z"}"#).unwrap();
    /// assert_eq!(status.status_time(), status.delivered_at); // not `sentAt`
    /// assert_eq!(status.status_time().unwrap().to_rfc3339(), "2024-01-15T12:00:05+00:00");
    /// ```
    pub fn status_time(&self) -> Option<DateTime<Utc>> {
        match self.status {
            MessageState::Sent => self.sent_at,
            MessageState::Delivered => self.delivered_at,
            MessageState::Read => self.read_at,
            MessageState::Failed => self.failed_at,
            MessageState::Other(_) => None,
        }
    }
}

string_enum! {
    /// The `status` of a [`MessageStatus`].
    ///
    /// ```
    /// use webhook_receiver::chirp::MessageState;
    ///
    /// let state: MessageState = serde_json::from_str(r#""delivered""#).unwrap();
    /// assert_eq!(state, MessageState::Delivered);
    /// assert_eq!(state.as_str(), "delivered");
    /// // A status this version does not know is kept, not rejected.
    /// assert_eq!(MessageState::from("queued"), MessageState::Other("queued".into()));
    /// ```
    pub enum MessageState {
        /// `sent`: handed to the carrier or to WhatsApp.
        Sent = "sent",
        /// `delivered`: reached the recipient.
        Delivered = "delivered",
        /// `read`: read by the recipient (WhatsApp).
        Read = "read",
        /// `failed`: could not be delivered; see [`MessageStatus::error`].
        Failed = "failed",
    }
}

/// Chirp's error object, the same shape as its API error responses: the `error` of a failed
/// message.
///
/// ```
/// use webhook_receiver::chirp::{ChirpError, ErrorCode, ErrorType, ProviderCode};
///
/// let err: ChirpError = serde_json::from_str(
///     r#"{"type": "provider_error", "code": "message_undeliverable", "message": "Not delivered",
///         "provider": {"source": "meta", "code": 131047, "message": "Re-engagement message"}}"#,
/// )
/// .unwrap();
/// assert_eq!(err.error_type, ErrorType::Provider);
/// assert_eq!(err.code, Some(ErrorCode::MessageUndeliverable));
/// assert_eq!(err.provider.unwrap().code.as_i64(), Some(131047));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct ChirpError {
    /// The error category (`type`).
    #[serde(rename = "type")]
    pub error_type: ErrorType,
    /// Chirp's machine-readable code, mapped from the provider's own code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<ErrorCode>,
    /// A human-readable message.
    pub message: String,
    /// Documentation for this error code.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub doc_url: Option<String>,
    /// The request parameter that caused the error.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub param: Option<String>,
    /// Remediation hints (e.g. from Meta's Health Status API). Best-effort: often empty.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_info: Vec<String>,
    /// The upstream provider's original error, for debugging.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub provider: Option<ProviderError>,
}

impl fmt::Display for ChirpError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.code {
            Some(code) => write!(f, "{} ({code}): {}", self.error_type, self.message),
            None => write!(f, "{}: {}", self.error_type, self.message),
        }
    }
}

impl std::error::Error for ChirpError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.provider
            .as_ref()
            .map(|p| p as &(dyn std::error::Error + 'static))
    }
}

string_enum! {
    /// The `type` of a [`ChirpError`].
    ///
    /// ```
    /// use webhook_receiver::chirp::ErrorType;
    ///
    /// assert_eq!(ErrorType::from("provider_error"), ErrorType::Provider);
    /// assert_eq!(ErrorType::Api.to_string(), "api_error");
    /// let json = serde_json::to_string(&ErrorType::Authentication).unwrap();
    /// assert_eq!(json, r#""authentication_error""#);
    /// ```
    pub enum ErrorType {
        /// `invalid_request_error`: the request was invalid.
        InvalidRequest = "invalid_request_error",
        /// `authentication_error`: missing or invalid credentials.
        Authentication = "authentication_error",
        /// `provider_error`: the upstream provider (Meta, Telnyx, LiveKit) refused or failed;
        /// see [`ChirpError::provider`].
        Provider = "provider_error",
        /// `api_error`: an error inside Chirp.
        Api = "api_error",
    }
}

string_enum! {
    /// Chirp's machine-readable error `code` of a [`ChirpError`].
    ///
    /// ```
    /// use webhook_receiver::chirp::ErrorCode;
    ///
    /// let code: ErrorCode = serde_json::from_str(r#""conversation_window_expired""#).unwrap();
    /// assert_eq!(code, ErrorCode::ConversationWindowExpired);
    /// let new: ErrorCode = serde_json::from_str(r#""quota_exhausted""#).unwrap();
    /// assert_eq!(serde_json::to_string(&new).unwrap(), r#""quota_exhausted""#); // written back as is
    /// ```
    pub enum ErrorCode {
        /// `message_undeliverable`: the message could not be delivered.
        MessageUndeliverable = "message_undeliverable",
        /// `conversation_window_expired`: the WhatsApp 24-hour customer service window has
        /// closed.
        ConversationWindowExpired = "conversation_window_expired",
        /// `recipient_not_on_whatsapp`: the recipient has no WhatsApp account.
        RecipientNotOnWhatsapp = "recipient_not_on_whatsapp",
        /// `phone_number_not_assigned`: the sending number is not assigned to the app.
        PhoneNumberNotAssigned = "phone_number_not_assigned",
        /// `unsupported_message_type`: the message type is not supported.
        UnsupportedMessageType = "unsupported_message_type",
        /// `media_too_large`: a media attachment is over the size limit.
        MediaTooLarge = "media_too_large",
        /// `invalid_phone_number`: a phone number is not valid.
        InvalidPhoneNumber = "invalid_phone_number",
        /// `template_not_found`: the WhatsApp template does not exist.
        TemplateNotFound = "template_not_found",
        /// `template_parameter_mismatch`: the parameters do not match the template.
        TemplateParameterMismatch = "template_parameter_mismatch",
        /// `groups_not_eligible`: groups are not eligible for this operation.
        GroupsNotEligible = "groups_not_eligible",
        /// `account_restricted`: the WhatsApp Business account is restricted or locked.
        AccountRestricted = "account_restricted",
        /// `display_name_not_approved`: the WhatsApp display name is not approved.
        DisplayNameNotApproved = "display_name_not_approved",
        /// `whatsapp_not_configured`: WhatsApp is not set up for the app.
        WhatsappNotConfigured = "whatsapp_not_configured",
        /// `meta_api_error`: Meta's API returned an error.
        MetaApiError = "meta_api_error",
        /// `meta_api_unavailable`: Meta's API could not be reached.
        MetaApiUnavailable = "meta_api_unavailable",
        /// `telnyx_api_error`: Telnyx's API returned an error.
        TelnyxApiError = "telnyx_api_error",
        /// `telnyx_api_unavailable`: Telnyx's API could not be reached.
        TelnyxApiUnavailable = "telnyx_api_unavailable",
        /// `rate_limit_exceeded`: Chirp's rate limit was exceeded.
        RateLimitExceeded = "rate_limit_exceeded",
        /// `whatsapp_rate_limited`: WhatsApp rate-limited the sender.
        WhatsappRateLimited = "whatsapp_rate_limited",
        /// `resource_already_exists`: the resource already exists.
        ResourceAlreadyExists = "resource_already_exists",
        /// `test_app_required`: the operation needs a test app.
        TestAppRequired = "test_app_required",
        /// `call_not_found`: the call does not exist.
        CallNotFound = "call_not_found",
        /// `call_already_ended`: the call has already ended.
        CallAlreadyEnded = "call_already_ended",
        /// `call_failed`: the call failed.
        CallFailed = "call_failed",
        /// `call_rejected`: the callee rejected the call.
        CallRejected = "call_rejected",
        /// `call_timeout`: the call was not answered in time.
        CallTimeout = "call_timeout",
        /// `call_busy`: the callee was busy.
        CallBusy = "call_busy",
        /// `calling_not_configured`: calling is not set up for the app.
        CallingNotConfigured = "calling_not_configured",
        /// `calling_disabled`: calling is disabled.
        CallingDisabled = "calling_disabled",
        /// `max_concurrent_calls_reached`: too many calls at once.
        MaxConcurrentCallsReached = "max_concurrent_calls_reached",
        /// `recording_not_found`: the recording does not exist.
        RecordingNotFound = "recording_not_found",
        /// `recording_already_in_progress`: the call is already being recorded.
        RecordingAlreadyInProgress = "recording_already_in_progress",
        /// `recording_failed`: the recording failed.
        RecordingFailed = "recording_failed",
        /// `voicemail_not_found`: the voicemail does not exist.
        VoicemailNotFound = "voicemail_not_found",
        /// `voicemail_disabled`: voicemail is disabled.
        VoicemailDisabled = "voicemail_disabled",
        /// `invalid_call_command`: the call command is not valid.
        InvalidCallCommand = "invalid_call_command",
        /// `command_not_applicable`: the command does not apply to the call in its current
        /// state.
        CommandNotApplicable = "command_not_applicable",
        /// `whatsapp_calling_not_enabled`: WhatsApp calling is not enabled.
        WhatsappCallingNotEnabled = "whatsapp_calling_not_enabled",
        /// `whatsapp_call_permission_required`: the user has not granted permission to be
        /// called.
        WhatsappCallPermissionRequired = "whatsapp_call_permission_required",
        /// `whatsapp_call_permission_limit`: the limit of call permission requests was reached.
        WhatsappCallPermissionLimit = "whatsapp_call_permission_limit",
        /// `whatsapp_pstn_bridge_forbidden`: bridging the WhatsApp call to the phone network is
        /// not allowed.
        WhatsappPstnBridgeForbidden = "whatsapp_pstn_bridge_forbidden",
        /// `livekit_api_error`: LiveKit's API returned an error.
        LivekitApiError = "livekit_api_error",
        /// `livekit_room_error`: a LiveKit room error.
        LivekitRoomError = "livekit_room_error",
        /// `sip_trunk_error`: a SIP trunk error.
        SipTrunkError = "sip_trunk_error",
    }
}

/// The upstream provider's original error (`error.provider`), kept for debugging and support
/// tickets.
///
/// ```
/// use webhook_receiver::chirp::{ProviderError, ProviderSource};
///
/// let err: ProviderError = serde_json::from_str(r#"{"source": "meta", "code": 131047,
///     "message": "Re-engagement message", "fbtrace_id": "A1b2"}"#).unwrap();
/// assert_eq!(err.source, ProviderSource::Meta);
/// assert_eq!(err.fbtrace_id.as_deref(), Some("A1b2"));
/// assert_eq!(err.to_string(), "meta error 131047: Re-engagement message");
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct ProviderError {
    /// Which provider reported the error.
    pub source: ProviderSource,
    /// The provider's native error code: a number for Meta (e.g. `131047`), possibly a string
    /// for others.
    pub code: ProviderCode,
    /// The provider's error message.
    pub message: String,
    /// Meta's trace id, for support tickets.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fbtrace_id: Option<String>,
    /// Meta's Health Status, when Chirp enriched the error (best-effort, often absent).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub health_status: Option<HealthStatus>,
}

impl fmt::Display for ProviderError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} error {}: {}", self.source, self.code, self.message)
    }
}

impl std::error::Error for ProviderError {}

string_enum! {
    /// The `source` of a [`ProviderError`].
    ///
    /// ```
    /// use webhook_receiver::chirp::ProviderSource;
    ///
    /// assert_eq!(ProviderSource::from("telnyx"), ProviderSource::Telnyx);
    /// assert_eq!(ProviderSource::Livekit.as_str(), "livekit");
    /// ```
    pub enum ProviderSource {
        /// `meta`: Meta (WhatsApp Cloud API).
        Meta = "meta",
        /// `telnyx`: Telnyx (SMS, voice).
        Telnyx = "telnyx",
        /// `livekit`: LiveKit (calls).
        Livekit = "livekit",
    }
}

/// A provider's native error code: the wire allows a number or a string.
///
/// ```
/// use webhook_receiver::chirp::ProviderCode;
///
/// let n: ProviderCode = serde_json::from_str("131047").unwrap();
/// assert_eq!(n.as_i64(), Some(131047));
/// let s: ProviderCode = serde_json::from_str(r#""40310""#).unwrap();
/// assert_eq!(s, ProviderCode::Text("40310".into()));
/// assert_eq!(s.to_string(), "40310");
/// ```
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ProviderCode {
    /// A numeric code, kept exactly as received.
    Number(Number),
    /// A textual code.
    Text(String),
}

impl ProviderCode {
    /// The code as an `i64`, if it is an integer number.
    ///
    /// ```
    /// use webhook_receiver::chirp::ProviderCode;
    ///
    /// assert_eq!(ProviderCode::from(131047).as_i64(), Some(131047));
    /// assert_eq!(ProviderCode::from("40310").as_i64(), None); // textual, even if it looks numeric
    /// ```
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Self::Number(n) => n.as_i64(),
            Self::Text(_) => None,
        }
    }

    /// The code as a string, if it is textual.
    ///
    /// ```
    /// use webhook_receiver::chirp::ProviderCode;
    ///
    /// assert_eq!(ProviderCode::from("40310").as_str(), Some("40310"));
    /// assert_eq!(ProviderCode::from(131047).as_str(), None);
    /// ```
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Self::Number(_) => None,
            Self::Text(s) => Some(s),
        }
    }
}

impl fmt::Display for ProviderCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::Number(n) => fmt::Display::fmt(n, f),
            Self::Text(s) => f.write_str(s),
        }
    }
}

impl From<i64> for ProviderCode {
    fn from(code: i64) -> Self {
        Self::Number(code.into())
    }
}

impl From<&str> for ProviderCode {
    fn from(code: &str) -> Self {
        Self::Text(code.to_owned())
    }
}

impl Serialize for ProviderCode {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Self::Number(n) => n.serialize(serializer),
            Self::Text(s) => serializer.serialize_str(s),
        }
    }
}

impl<'de> Deserialize<'de> for ProviderCode {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct CodeVisitor;

        impl de::Visitor<'_> for CodeVisitor {
            type Value = ProviderCode;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a number or a string")
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<ProviderCode, E> {
                Ok(ProviderCode::Number(v.into()))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<ProviderCode, E> {
                Ok(ProviderCode::Number(v.into()))
            }

            fn visit_f64<E: de::Error>(self, v: f64) -> Result<ProviderCode, E> {
                Number::from_f64(v)
                    .map(ProviderCode::Number)
                    .ok_or_else(|| E::invalid_value(de::Unexpected::Float(v), &self))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<ProviderCode, E> {
                Ok(ProviderCode::Text(v.to_owned()))
            }

            fn visit_string<E: de::Error>(self, v: String) -> Result<ProviderCode, E> {
                Ok(ProviderCode::Text(v))
            }
        }

        deserializer.deserialize_any(CodeVisitor)
    }
}

/// Meta's Health Status (`error.provider.health_status`): which entity blocks sending, and how
/// to fix it. Chirp attaches it to vague WhatsApp failures (`account_restricted`,
/// `display_name_not_approved`) on a best-effort basis.
///
/// ```
/// use webhook_receiver::chirp::{CanSendMessage, HealthStatus};
///
/// let health: HealthStatus = serde_json::from_str(r#"{"can_send_message": "BLOCKED",
///     "entities": [{"entity_type": "PHONE_NUMBER", "id": "8528", "can_send_message": "BLOCKED"}]}"#,
/// ).unwrap();
/// assert_eq!(health.can_send_message, CanSendMessage::Blocked);
/// assert_eq!(health.entities[0].id, "8528");
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct HealthStatus {
    /// The overall verdict.
    pub can_send_message: CanSendMessage,
    /// The verdict per entity (phone number, template, WABA, business, app).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub entities: Vec<HealthEntity>,
}

impl HealthStatus {
    /// The entities that are not [`Available`](CanSendMessage::Available) (limited, blocked or
    /// an unknown value): where the problem is.
    ///
    /// ```
    /// # use webhook_receiver::chirp::HealthStatus;
    /// # let health: HealthStatus = serde_json::from_str(r#"{"can_send_message": "BLOCKED", "entities": [
    /// #     {"entity_type": "PHONE_NUMBER", "id": "8528", "can_send_message": "BLOCKED"},
    /// #     {"entity_type": "WABA", "id": "1472", "can_send_message": "AVAILABLE"},
    /// #     {"entity_type": "MESSAGE_TEMPLATE", "id": "tpl_9", "can_send_message": "LIMITED"}]}"#).unwrap();
    /// let ids: Vec<&str> = health.unavailable_entities().map(|e| e.id.as_str()).collect();
    /// assert_eq!(ids, ["8528", "tpl_9"]); // blocked and limited
    /// ```
    pub fn unavailable_entities(&self) -> impl Iterator<Item = &HealthEntity> {
        self.entities
            .iter()
            .filter(|e| e.can_send_message != CanSendMessage::Available)
    }
}

/// One entity of a [`HealthStatus`].
///
/// ```
/// use webhook_receiver::chirp::{CanSendMessage, EntityType, HealthEntity};
///
/// let entity: HealthEntity = serde_json::from_str(r#"{"entity_type": "MESSAGE_TEMPLATE",
///     "id": "tpl_9", "can_send_message": "LIMITED", "additional_info": ["Low quality"]}"#).unwrap();
/// assert_eq!(entity.entity_type, EntityType::MessageTemplate);
/// assert_eq!(entity.can_send_message, CanSendMessage::Limited);
/// assert!(entity.errors.is_empty());
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct HealthEntity {
    /// What kind of entity this is.
    pub entity_type: EntityType,
    /// Meta's id of the entity.
    pub id: String,
    /// Whether this entity allows sending.
    pub can_send_message: CanSendMessage,
    /// Whether this entity can receive SIP calls.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub can_receive_call_sip: Option<CanSendMessage>,
    /// Hints, present on `LIMITED` entities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub additional_info: Vec<String>,
    /// What is wrong, present on `BLOCKED` entities.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub errors: Vec<HealthError>,
}

/// One problem of a [`HealthEntity`], with Meta's suggested fix.
///
/// ```
/// use webhook_receiver::chirp::HealthError;
///
/// let err: HealthError = serde_json::from_str(r#"{"error_code": 131031,
///     "error_description": "Account has been locked",
///     "possible_solution": "Appeal via Business Manager."}"#).unwrap();
/// assert_eq!(err.error_code, 131031);
/// assert_eq!(err.possible_solution.as_deref(), Some("Appeal via Business Manager."));
/// ```
#[derive(Debug, Clone, PartialEq, Deserialize, Serialize)]
#[non_exhaustive]
pub struct HealthError {
    /// Meta's error code.
    pub error_code: i64,
    /// What is wrong.
    pub error_description: String,
    /// How to fix it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub possible_solution: Option<String>,
}

string_enum! {
    /// A Meta Health Status value (`can_send_message`, `can_receive_call_sip`).
    ///
    /// ```
    /// use webhook_receiver::chirp::CanSendMessage;
    ///
    /// assert_eq!(CanSendMessage::from("LIMITED"), CanSendMessage::Limited);
    /// assert_eq!(CanSendMessage::Blocked.as_str(), "BLOCKED");
    /// ```
    pub enum CanSendMessage {
        /// `AVAILABLE`: no restriction.
        Available = "AVAILABLE",
        /// `LIMITED`: works with limitations; see the entity's `additional_info`.
        Limited = "LIMITED",
        /// `BLOCKED`: does not work; see the entity's `errors`.
        Blocked = "BLOCKED",
    }
}

string_enum! {
    /// The `entity_type` of a [`HealthEntity`].
    ///
    /// ```
    /// use webhook_receiver::chirp::EntityType;
    ///
    /// let t: EntityType = serde_json::from_str(r#""WABA""#).unwrap();
    /// assert_eq!(t, EntityType::Waba);
    /// assert_eq!(EntityType::from("AD_ACCOUNT").as_str(), "AD_ACCOUNT"); // unknown, kept
    /// ```
    pub enum EntityType {
        /// `PHONE_NUMBER`: a business phone number.
        PhoneNumber = "PHONE_NUMBER",
        /// `MESSAGE_TEMPLATE`: a message template.
        MessageTemplate = "MESSAGE_TEMPLATE",
        /// `WABA`: the WhatsApp Business Account.
        Waba = "WABA",
        /// `BUSINESS`: the Meta business portfolio.
        Business = "BUSINESS",
        /// `APP`: the Meta app.
        App = "APP",
    }
}

// `Deserialize` is written by hand below, as the derive with `#[serde(flatten)]` would be.
/// The payload of template, contact and account events (`templates.whatsapp.*`,
/// `contacts.whatsapp.*`, `whatsapp.account.*`): the resource's `id` plus every other field as
/// received.
///
/// ```
/// use webhook_receiver::chirp::ResourceChange;
///
/// let tpl: ResourceChange =
///     serde_json::from_str(r#"{"id": "tpl_1", "name": "welcome", "status": "APPROVED"}"#)
///         .unwrap();
/// assert_eq!(tpl.id, "tpl_1");
/// assert_eq!(tpl.get_str("status"), Some("APPROVED"));
/// assert_eq!(tpl.to_value()["id"], "tpl_1");
/// ```
#[derive(Debug, Clone, PartialEq, Serialize)]
#[non_exhaustive]
pub struct ResourceChange {
    /// The resource's id (e.g. `tpl_...` for a template).
    pub id: String,
    /// Every other field of the payload, as received.
    #[serde(flatten)]
    pub rest: Map<String, Value>,
}

/// The keys of a [`ResourceChange`]; any other goes to `rest`.
#[derive(Deserialize)]
#[serde(field_identifier, rename_all = "lowercase")]
enum ResourceField {
    Id,
    Other(String),
}

/// What `#[derive(Deserialize)]` with `#[serde(flatten)] rest` does, without flatten's
/// intermediate tree; see [`InboundMessage`]'s.
impl<'de> Deserialize<'de> for ResourceChange {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct ResourceVisitor;

        impl<'de> de::Visitor<'de> for ResourceVisitor {
            type Value = ResourceChange;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("struct ResourceChange")
            }

            fn visit_map<A: de::MapAccess<'de>>(
                self,
                mut map: A,
            ) -> Result<ResourceChange, A::Error> {
                let mut id = None;
                let mut rest = Map::new();
                while let Some(field) = map.next_key()? {
                    match field {
                        ResourceField::Id => next_value_once(&mut map, &mut id, "id")?,
                        ResourceField::Other(key) => {
                            rest.insert(key, map.next_value()?);
                        }
                    }
                }
                Ok(ResourceChange {
                    id: id.ok_or_else(|| de::Error::missing_field("id"))?,
                    rest,
                })
            }
        }

        deserializer.deserialize_map(ResourceVisitor)
    }
}

/// Deserializes the value of a struct field into `slot`, failing as the derive does when the
/// field was already seen.
fn next_value_once<'de, A, T>(
    map: &mut A,
    slot: &mut Option<T>,
    field: &'static str,
) -> Result<(), A::Error>
where
    A: de::MapAccess<'de>,
    T: Deserialize<'de>,
{
    if slot.is_some() {
        return Err(de::Error::duplicate_field(field));
    }
    *slot = Some(map.next_value()?);
    Ok(())
}

impl ResourceChange {
    /// A field of the payload other than `id`.
    ///
    /// ```
    /// # use webhook_receiver::chirp::ResourceChange;
    /// let contact: ResourceChange = serde_json::from_str(r#"{"id": "ct_1", "tags": ["vip"]}"#).unwrap();
    /// assert_eq!(contact.get("tags"), Some(&serde_json::json!(["vip"])));
    /// assert_eq!(contact.get("id"), None); // `id` is a field of its own
    /// ```
    pub fn get(&self, field: &str) -> Option<&Value> {
        self.rest.get(field)
    }

    /// A string field of the payload other than `id`; `None` if absent or not a string.
    ///
    /// ```
    /// # use webhook_receiver::chirp::ResourceChange;
    /// let tpl: ResourceChange =
    ///     serde_json::from_str(r#"{"id": "tpl_1", "status": "APPROVED", "version": 3}"#).unwrap();
    /// assert_eq!(tpl.get_str("status"), Some("APPROVED"));
    /// assert_eq!(tpl.get_str("version"), None); // a number
    /// ```
    pub fn get_str(&self, field: &str) -> Option<&str> {
        self.rest.get(field).and_then(Value::as_str)
    }

    /// The whole payload as a JSON object, `id` included: the `data` that was received.
    ///
    /// ```
    /// # use webhook_receiver::chirp::ResourceChange;
    /// let data = serde_json::json!({"id": "acc_1", "name": "Acme"});
    /// let account: ResourceChange = serde_json::from_value(data.clone()).unwrap();
    /// assert_eq!(account.to_value(), data);
    /// ```
    pub fn to_value(&self) -> Value {
        let mut data = self.rest.clone();
        data.insert("id".to_owned(), Value::String(self.id.clone()));
        Value::Object(data)
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    /// The payload types as derived with `#[serde(flatten)]` (same names, for the same error
    /// messages): the reference for the hand-written `Deserialize` impls.
    mod derived {
        use super::*;

        #[derive(Debug, PartialEq, Deserialize)]
        #[serde(rename_all = "camelCase")]
        pub(super) struct InboundMessage {
            pub(super) id: String,
            #[serde(default)]
            pub(super) from: Option<String>,
            #[serde(default)]
            pub(super) to: Option<String>,
            #[serde(default)]
            pub(super) text: Option<String>,
            #[serde(rename = "type", default)]
            pub(super) message_type: Option<String>,
            #[serde(default)]
            pub(super) received_at: Option<DateTime<Utc>>,
            #[serde(flatten)]
            pub(super) extra: Map<String, Value>,
        }

        #[derive(Debug, PartialEq, Deserialize)]
        pub(super) struct ResourceChange {
            pub(super) id: String,
            #[serde(flatten)]
            pub(super) rest: Map<String, Value>,
        }
    }

    fn inbound(m: InboundMessage) -> derived::InboundMessage {
        derived::InboundMessage {
            id: m.id,
            from: m.from,
            to: m.to,
            text: m.text,
            message_type: m.message_type,
            received_at: m.received_at,
            extra: m.extra,
        }
    }

    fn resource(r: ResourceChange) -> derived::ResourceChange {
        derived::ResourceChange {
            id: r.id,
            rest: r.rest,
        }
    }

    /// Deserializes `input` from text and from a tree (with the failing path, as the decoder's
    /// slow path does): the results, or the errors as text.
    fn both_ways<T: serde::de::DeserializeOwned, U>(
        input: &str,
        into: impl Fn(T) -> U,
    ) -> (Result<U, String>, Option<Result<U, String>>) {
        let text = serde_json::from_str::<T>(input)
            .map(&into)
            .map_err(|e| e.to_string());
        let tree = serde_json::from_str::<Value>(input).ok().map(|value| {
            serde_path_to_error::deserialize::<_, T>(&value)
                .map(&into)
                .map_err(|e| format!("{} at {}", e.inner(), e.path()))
        });
        (text, tree)
    }

    #[test]
    fn flattened_payloads_deserialize_as_the_derive_does() {
        let inputs = [
            r#"{"id": "m", "from": "+1", "to": "+2", "text": "Hi", "type": "text",
                "receivedAt": "2024-01-15T11:58:30.000Z", "direction": "inbound"}"#,
            r#"{"id": "m", "receivedAt": "2024-01-15T13:00:05+01:00", "media": {"url": "u"}}"#,
            "{}",
            r#"{"from": "+1"}"#,
            r#"{"id": 5}"#,
            r#"{"id": null}"#,
            r#"{"id": "a", "id": "b"}"#,
            r#"{"id": "a", "from": "x", "from": "y"}"#,
            r#"{"id": "a", "ty\u0070e": "t", "type": "u"}"#,
            r#"{"id": "a", "x": 1, "x": [2]}"#,
            r#"{"id": "a", "name": "n", "status": "APPROVED", "id": "b"}"#,
            r#"{"id": "a", "receivedAt": "yesterday"}"#,
            r#"{"id": "a", "receivedAt": null, "text": null, "from": null}"#,
            r#"{"id": "a", "receivedAt": 5}"#,
            r#"{"id": "a", "text": ["Hi"]}"#,
            r#"{"id": "a", "Id": "b", "ID": "c", "received_at": "x", "Type": 1}"#,
            r#"{"id": "a", "n": 1.5, "m": -1, "u": 18446744073709551615, "e": 1e300}"#,
            r#"{"id": "a", "big": 1e400}"#,
            r#"{"id": "a", "k\n": "v\u00e9", "nested": {"b": [1, {"c": null}], "a": true}}"#,
            r#"{"id": "a", "x": }"#,
            "[]",
            r#"["a"]"#,
            r#""x""#,
            "null",
            "5",
        ];
        for input in inputs {
            assert_eq!(
                both_ways(input, inbound),
                both_ways(input, |m: derived::InboundMessage| m),
                "{input}"
            );
            assert_eq!(
                both_ways(input, resource),
                both_ways(input, |r: derived::ResourceChange| r),
                "{input}"
            );
        }
        // The cases above include successes of both.
        assert!(serde_json::from_str::<InboundMessage>(inputs[0]).is_ok());
        let r: ResourceChange = serde_json::from_str(inputs[16]).unwrap();
        assert_eq!(r.rest["u"], json!(u64::MAX));
    }
}
