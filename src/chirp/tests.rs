//! Unit tests of the Chirp format: every seed payload, keys, the one-pass and two-pass decoders.

use chrono::{DateTime, TimeZone, Utc};
use serde_json::json;

use http::HeaderMap;

use super::decode::{decode_in_one_pass, decode_in_two_passes};
use super::*;
use crate::dedup::DedupKey;
use crate::error::{DecodeError, Rejection};
use crate::event::{Decoded, Event, EventType, Format, InvalidPayload, Received};
use serde_json::Value;

const SMS_RECEIVED_JSON: &str = include_str!("../../tests/fixtures/chirp/sms_received.json");
const SMS_SENT_JSON: &str = include_str!("../../tests/fixtures/chirp/sms_sent.json");
const SMS_DELIVERED_JSON: &str = include_str!("../../tests/fixtures/chirp/sms_delivered.json");
const SMS_FAILED_JSON: &str = include_str!("../../tests/fixtures/chirp/sms_failed.json");
const WA_RECEIVED_JSON: &str = include_str!("../../tests/fixtures/chirp/whatsapp_received.json");
const WA_SENT_JSON: &str = include_str!("../../tests/fixtures/chirp/whatsapp_sent.json");
const WA_DELIVERED_JSON: &str = include_str!("../../tests/fixtures/chirp/whatsapp_delivered.json");
const WA_READ_JSON: &str = include_str!("../../tests/fixtures/chirp/whatsapp_read.json");
const WA_FAILED_JSON: &str = include_str!("../../tests/fixtures/chirp/whatsapp_failed.json");
const WA_FAILED_ENRICHED_JSON: &str =
    include_str!("../../tests/fixtures/chirp/whatsapp_failed_enriched.json");
const TEMPLATE_UPDATED_JSON: &str =
    include_str!("../../tests/fixtures/chirp/template_updated.json");
const CONTACT_CREATED_JSON: &str = include_str!("../../tests/fixtures/chirp/contact_created.json");
const ACCOUNT_CONNECTED_JSON: &str =
    include_str!("../../tests/fixtures/chirp/account_connected.json");
const UNKNOWN_EVENT_JSON: &str = include_str!("../../tests/fixtures/chirp/unknown_event.json");

const ALL_FIXTURES: [&str; 14] = [
    SMS_RECEIVED_JSON,
    SMS_SENT_JSON,
    SMS_DELIVERED_JSON,
    SMS_FAILED_JSON,
    WA_RECEIVED_JSON,
    WA_SENT_JSON,
    WA_DELIVERED_JSON,
    WA_READ_JSON,
    WA_FAILED_JSON,
    WA_FAILED_ENRICHED_JSON,
    TEMPLATE_UPDATED_JSON,
    CONTACT_CREATED_JSON,
    ACCOUNT_CONNECTED_JSON,
    UNKNOWN_EVENT_JSON,
];

fn decode(body: impl AsRef<[u8]>) -> Decoded<ChirpEvent> {
    Chirp
        .decode(&HeaderMap::new(), body.as_ref())
        .expect("body should decode")
}

fn event_of(body: impl AsRef<[u8]>) -> ChirpEvent {
    match decode(body).into_parts().0 {
        Received::Event(event) => event,
        Received::Invalid(invalid) => panic!("unexpected invalid payload: {invalid}"),
    }
}

fn invalid_of(body: impl AsRef<[u8]>) -> InvalidPayload {
    match decode(body).into_parts().0 {
        Received::Invalid(invalid) => invalid,
        Received::Event(event) => panic!("expected an invalid payload, got {event:?}"),
    }
}

fn error_of(body: impl AsRef<[u8]>) -> DecodeError {
    Chirp
        .decode_body(body.as_ref())
        .expect_err("body should be rejected")
}

fn time(rfc3339: &str) -> DateTime<Utc> {
    DateTime::parse_from_rfc3339(rfc3339).unwrap().to_utc()
}

fn json_of(fixture: &str) -> Value {
    serde_json::from_str(fixture).unwrap()
}

/// The fixture with the value at each JSON pointer replaced (or, for a new key, inserted).
fn edit(fixture: &str, edits: &[(&str, Value)]) -> Vec<u8> {
    let mut doc = json_of(fixture);
    for (pointer, value) in edits {
        let (parent, key) = pointer.rsplit_once('/').unwrap();
        match doc.pointer_mut(parent).unwrap() {
            Value::Object(map) => {
                map.insert(key.to_owned(), value.clone());
            }
            Value::Array(items) => items[key.parse::<usize>().unwrap()] = value.clone(),
            other => panic!("{pointer}: parent is {other}"),
        }
    }
    serde_json::to_vec(&doc).unwrap()
}

/// The fixture with the value at `pointer` replaced (or, for a new key, inserted).
fn with(fixture: &str, pointer: &str, value: Value) -> Vec<u8> {
    edit(fixture, &[(pointer, value)])
}

/// The fixture without the field at `pointer`.
fn without(fixture: &str, pointer: &str) -> Vec<u8> {
    let mut doc = json_of(fixture);
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    doc.pointer_mut(parent)
        .unwrap()
        .as_object_mut()
        .unwrap()
        .remove(key)
        .unwrap();
    serde_json::to_vec(&doc).unwrap()
}

// ---- fixtures ------------------------------------------------------------------------

#[test]
fn every_fixture_decodes_with_its_kind_and_key() {
    for fixture in ALL_FIXTURES {
        let doc = json_of(fixture);
        let name = doc["event"].as_str().unwrap();
        let decoded = decode(fixture);
        assert_eq!(decoded.event_name(), name);
        let Received::Event(event) = decoded.received() else {
            panic!("{name}: invalid");
        };
        assert_eq!(event.event_name(), name);
        assert_eq!(decoded.key(), event.dedup_key(), "{name}");
        assert_eq!(event.id(), doc["data"]["id"].as_str(), "{name}");
        if name != "calls.voice.started" {
            assert!(EVENT_TYPES.contains(&name), "{name}");
            assert!(!matches!(event, ChirpEvent::Unknown { .. }), "{name}");
        }
    }
}

#[test]
fn sms_delivered_fixture() {
    let ChirpEvent::SmsDelivered(m) = event_of(SMS_DELIVERED_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(m.id, "550e8400-e29b-41d4-a716-446655440000");
    assert_eq!(m.from.as_deref(), Some("+15551234567"));
    assert_eq!(m.to.as_deref(), Some("+15559876543"));
    assert_eq!(m.status, MessageState::Delivered);
    assert_eq!(
        m.delivered_at,
        Some(Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 0).unwrap())
    );
    assert_eq!(m.status_time(), m.delivered_at);
    assert_eq!((m.sent_at, m.read_at, m.failed_at), (None, None, None));
    assert_eq!(m.error, None);
}

#[test]
fn sms_sent_fixture() {
    let ChirpEvent::SmsSent(m) = event_of(SMS_SENT_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(m.id, "550e8400-e29b-41d4-a716-446655440000");
    assert_eq!(m.status, MessageState::Sent);
    assert_eq!(m.status_time(), Some(time("2024-01-15T11:59:58Z")));
}

#[test]
fn sms_received_fixture_keeps_extra_fields() {
    let ChirpEvent::SmsReceived(m) = event_of(SMS_RECEIVED_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(m.id, "7c9e6679-7425-40de-944b-e07fc1f90ae7");
    assert_eq!(m.from.as_deref(), Some("+15559876543"));
    assert_eq!(m.to.as_deref(), Some("+15551234567"));
    assert_eq!(m.text.as_deref(), Some("Is my order on its way?"));
    assert_eq!(m.message_type.as_deref(), Some("sms"));
    assert_eq!(m.received_at, Some(time("2024-01-15T11:58:30Z")));
    assert_eq!(m.extra.get("direction"), Some(&json!("inbound")));
    assert_eq!(m.extra.len(), 1);
}

#[test]
fn sms_failed_fixture_has_a_string_provider_code() {
    let ChirpEvent::SmsFailed(m) = event_of(SMS_FAILED_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(m.status, MessageState::Failed);
    assert_eq!(m.status_time(), Some(time("2024-01-15T12:00:02Z")));
    let err = m.error.as_ref().unwrap();
    assert_eq!(err.error_type, ErrorType::Provider);
    assert_eq!(err.code, Some(ErrorCode::InvalidPhoneNumber));
    assert_eq!(err.param.as_deref(), Some("to"));
    assert_eq!(
        err.doc_url.as_deref(),
        Some("https://docs.buildwithchirp.com/api_reference/error-codes#invalid_phone_number")
    );
    let provider = err.provider.as_ref().unwrap();
    assert_eq!(provider.source, ProviderSource::Telnyx);
    assert_eq!(provider.code, ProviderCode::Text("40310".to_owned()));
    assert_eq!(provider.code.as_str(), Some("40310"));
    assert_eq!(provider.code.as_i64(), None);
    assert_eq!(provider.message, "Invalid 'to' address");
    assert_eq!(provider.health_status, None);
}

#[test]
fn whatsapp_received_fixture() {
    let ChirpEvent::WhatsappReceived(m) = event_of(WA_RECEIVED_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(m.id, "msg_wa_2DbBs7GWhGvVNJGrDXr5RG0mBWI");
    assert_eq!(m.from.as_deref(), Some("+15551234567"));
    assert_eq!(m.to.as_deref(), Some("+15559876543"));
    assert_eq!(m.text.as_deref(), Some("Hello!"));
    assert_eq!(m.message_type.as_deref(), Some("text"));
    assert_eq!(
        m.received_at,
        Some(Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 0).unwrap())
    );
    assert!(m.extra.is_empty());
}

#[test]
fn whatsapp_status_fixtures() {
    let cases = [
        (WA_SENT_JSON, MessageState::Sent, "2024-01-15T12:00:00Z"),
        (
            WA_DELIVERED_JSON,
            MessageState::Delivered,
            "2024-01-15T12:00:05Z",
        ),
        (WA_READ_JSON, MessageState::Read, "2024-01-15T12:00:10Z"),
    ];
    for (fixture, status, at) in cases {
        let event = event_of(fixture);
        let m = event.message_status().unwrap();
        assert_eq!(m.id, "msg_wa_2DbBs7GWhGvVNJGrDXr5RG0mBWI");
        assert_eq!(m.status, status);
        assert_eq!(m.status_time(), Some(time(at)));
        assert_eq!((m.from.as_deref(), m.to.as_deref()), (None, None));
    }
    assert!(matches!(
        event_of(WA_SENT_JSON),
        ChirpEvent::WhatsappSent(_)
    ));
    assert!(matches!(
        event_of(WA_DELIVERED_JSON),
        ChirpEvent::WhatsappDelivered(_)
    ));
    let ChirpEvent::WhatsappRead(m) = event_of(WA_READ_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(m.read_at, Some(time("2024-01-15T12:00:10Z")));
}

#[test]
fn whatsapp_failed_fixture() {
    let ChirpEvent::WhatsappFailed(m) = event_of(WA_FAILED_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(m.status, MessageState::Failed);
    assert_eq!(m.failed_at, Some(time("2024-01-15T12:00:05Z")));
    let err = m.error.as_ref().unwrap();
    assert_eq!(err.error_type, ErrorType::Provider);
    assert_eq!(err.code, Some(ErrorCode::MessageUndeliverable));
    assert_eq!(err.message, "Re-engagement message was not delivered");
    assert_eq!((err.doc_url.as_deref(), err.param.as_deref()), (None, None));
    assert!(err.additional_info.is_empty());
    let provider = err.provider.as_ref().unwrap();
    assert_eq!(provider.source, ProviderSource::Meta);
    assert_eq!(provider.code, ProviderCode::from(131_047));
    assert_eq!(provider.code.as_i64(), Some(131_047));
    assert_eq!(
        provider.message,
        "Re-engagement message: Re-engagement message was not delivered"
    );
    assert_eq!(
        (
            provider.fbtrace_id.as_deref(),
            provider.health_status.as_ref()
        ),
        (None, None)
    );
    assert_eq!(
        err.to_string(),
        "provider_error (message_undeliverable): Re-engagement message was not delivered"
    );
    assert_eq!(
        provider.to_string(),
        "meta error 131047: Re-engagement message: Re-engagement message was not delivered"
    );
}

#[test]
fn whatsapp_failed_enriched_fixture() {
    let ChirpEvent::WhatsappFailed(m) = event_of(WA_FAILED_ENRICHED_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(m.failed_at, Some(time("2026-04-21T03:22:46Z")));
    let err = m.error.as_ref().unwrap();
    assert_eq!(err.code, Some(ErrorCode::AccountRestricted));
    assert_eq!(err.message, "Business Account locked");
    assert_eq!(err.additional_info, ["Appeal via Business Manager."]);
    let provider = err.provider.as_ref().unwrap();
    assert_eq!(provider.source, ProviderSource::Meta);
    assert_eq!(provider.code.as_i64(), Some(131_031));
    assert_eq!(provider.message, "Business account has been locked.");

    let health = provider.health_status.as_ref().unwrap();
    assert_eq!(health.can_send_message, CanSendMessage::Blocked);
    assert_eq!(health.entities.len(), 2);

    let phone = &health.entities[0];
    assert_eq!(phone.entity_type, EntityType::PhoneNumber);
    assert_eq!(phone.id, "852850827913949");
    assert_eq!(phone.can_send_message, CanSendMessage::Blocked);
    assert_eq!(phone.can_receive_call_sip, None);
    assert!(phone.additional_info.is_empty());
    assert_eq!(phone.errors.len(), 1);
    assert_eq!(phone.errors[0].error_code, 131_031);
    assert_eq!(phone.errors[0].error_description, "Account has been locked");
    assert_eq!(
        phone.errors[0].possible_solution.as_deref(),
        Some("Appeal via Business Manager.")
    );

    let waba = &health.entities[1];
    assert_eq!(waba.entity_type, EntityType::Waba);
    assert_eq!(waba.id, "1472866130489042");
    assert_eq!(waba.can_send_message, CanSendMessage::Available);
    assert!(waba.errors.is_empty());

    let unavailable: Vec<_> = health
        .unavailable_entities()
        .map(|e| e.id.as_str())
        .collect();
    assert_eq!(unavailable, ["852850827913949"]);
}

#[test]
fn resource_fixtures() {
    let ChirpEvent::TemplateUpdated(t) = event_of(TEMPLATE_UPDATED_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(t.id, "tpl_2DbBs7GWhGvVNJGrDXr5RG0mBWI");
    assert_eq!(t.get_str("name"), Some("order_confirmation"));
    assert_eq!(t.get_str("status"), Some("APPROVED"));
    assert_eq!(t.get_str("language"), Some("en_US"));
    assert_eq!(t.get_str("category"), Some("UTILITY"));
    assert_eq!(t.get("id"), None);
    assert_eq!(t.to_value(), json_of(TEMPLATE_UPDATED_JSON)["data"]);

    let ChirpEvent::ContactCreated(c) = event_of(CONTACT_CREATED_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(c.id, "con_2DbBs7GWhGvVNJGrDXr5RG0mBWI");
    assert_eq!(c.get_str("phoneNumber"), Some("+15559876543"));

    let ChirpEvent::AccountConnected(a) = event_of(ACCOUNT_CONNECTED_JSON) else {
        panic!("wrong variant");
    };
    assert_eq!(a.id, "1472866130489042");
    assert_eq!(a.get("phoneNumbers").unwrap()[0]["id"], "852850827913949");
    assert_eq!(event_of(ACCOUNT_CONNECTED_JSON).resource(), Some(&*a));
}

#[test]
fn unknown_event_keeps_name_and_data() {
    let event = event_of(UNKNOWN_EVENT_JSON);
    let ChirpEvent::Unknown { name, id, data } = &event else {
        panic!("wrong variant");
    };
    assert_eq!(name, "calls.voice.started");
    assert_eq!(event.event_name(), "calls.voice.started");
    // Kept as its text, exactly as it is in the body, and parsed on request.
    assert!(UNKNOWN_EVENT_JSON.contains(data.get()), "{data}");
    assert_eq!(
        data.to_value().unwrap(),
        json_of(UNKNOWN_EVENT_JSON)["data"]
    );
    assert_eq!(id.as_deref(), Some("call_2DbBs7GWhGvVNJGrDXr5RG0mBWI"));
    assert_eq!(event.id(), Some("call_2DbBs7GWhGvVNJGrDXr5RG0mBWI"));
    // The key of the text is the key the tree had.
    assert_eq!(
        event.dedup_key(),
        DedupKey::from_raw_json("calls.voice.started", data.as_raw())
    );
    assert_eq!(
        event.dedup_key(),
        DedupKey::from_json("calls.voice.started", &data.to_value().unwrap())
    );
}

#[test]
fn every_event_type_has_a_constant_and_a_variant() {
    fn check<P>(t: EventType<ChirpEvent, P>) {
        let body = json!({"event": t.name(), "data": {"id": "x", "status": "sent"}});
        let event = event_of(serde_json::to_vec(&body).unwrap());
        assert_eq!(event.event_name(), t.name());
        assert!(t.payload(&event).is_some(), "{}", t.name());
        assert!(!matches!(event, ChirpEvent::Unknown { .. }));
    }
    check(SMS_RECEIVED);
    check(SMS_SENT);
    check(SMS_DELIVERED);
    check(SMS_FAILED);
    check(WHATSAPP_RECEIVED);
    check(WHATSAPP_SENT);
    check(WHATSAPP_DELIVERED);
    check(WHATSAPP_READ);
    check(WHATSAPP_FAILED);
    check(TEMPLATE_CREATED);
    check(TEMPLATE_UPDATED);
    check(TEMPLATE_DELETED);
    check(TEMPLATE_CONNECTED);
    check(CONTACT_CREATED);
    check(CONTACT_UPDATED);
    check(CONTACT_DELETED);
    check(ACCOUNT_CONNECTED);
    check(ACCOUNT_DISCONNECTED);

    let mut names = EVENT_TYPES.to_vec();
    names.sort_unstable();
    names.dedup();
    assert_eq!(names.len(), EVENT_TYPES.len());

    // The constants only match their own variant.
    let delivered = event_of(SMS_DELIVERED_JSON);
    assert!(SMS_DELIVERED.payload(&delivered).is_some());
    assert!(SMS_SENT.payload(&delivered).is_none());
    assert!(WHATSAPP_DELIVERED.payload(&delivered).is_none());
    assert!(TEMPLATE_UPDATED.payload(&delivered).is_none());
}

#[test]
fn category_accessors() {
    assert!(event_of(SMS_RECEIVED_JSON).inbound_message().is_some());
    assert!(event_of(SMS_RECEIVED_JSON).message_status().is_none());
    assert!(event_of(WA_READ_JSON).message_status().is_some());
    assert!(event_of(WA_READ_JSON).resource().is_none());
    assert!(event_of(CONTACT_CREATED_JSON).resource().is_some());
    assert!(event_of(UNKNOWN_EVENT_JSON).inbound_message().is_none());
}

#[test]
fn one_pass_decodes_as_two_passes() {
    let mut bodies: Vec<Vec<u8>> = ALL_FIXTURES.map(|f| f.as_bytes().to_vec()).to_vec();
    bodies.extend(
        [
            r#"{"event": "messages.sms.deliver\u0065d", "data": {"id": "m", "status": "delivered"}}"#,
            r#"{"ev\u0065nt": "messages.sms.sent", "data": {"id": "m", "status": "sent"}, "x": [1]}"#,
            r#"{"event": "messages.sms.sent", "data": {"id": "m\n1", "status": "sent"}}"#,
            r#"{"x": null, "event": "calls.voice.started", "data": {"id": 1, "n": 1.5e3}} "#,
            r#"{"event": "messages.sms.sent", "data": {"id": "a", "status": "sent", "id": "b"}}"#,
            r#"{"event": "messages.sms.sent", "data": {"id": 5, "status": "sent"}}"#,
            r#"{"event": "messages.sms.sent", "data": []}"#,
            r#"{"event": "messages.sms.sent", "data": {}, "data": {}}"#,
            r#"{"event": "messages.sms.sent", "data": {}, "event": "x"}"#,
            r#"{"event": "messages.sms.sent", "data": {"id": "m", "status": "sent"}} x"#,
            r#"{"data": {"id": "m", "status": "sent"}, "event": "messages.sms.sent"}"#,
            r#"{"event": "", "data": {}}"#,
            r#"{"event": null, "data": {}}"#,
        ]
        .map(|b| b.as_bytes().to_vec()),
    );
    let deep = format!("{}{}", "[".repeat(126), "]".repeat(126));
    bodies.push(
        format!(r#"{{"event": "calls.voice.started", "data": {{"x": {deep}}}}}"#).into_bytes(),
    );

    let mut one_pass = 0;
    for body in &bodies {
        let text = std::str::from_utf8(body).unwrap();
        let two = decode_in_two_passes(text);
        let Some(one) = decode_in_one_pass(text) else {
            continue;
        };
        one_pass += 1;
        let two = two.expect("decodes in two passes");
        assert_eq!((one.key(), one.id()), (two.key(), two.id()), "{text}");
        match (one.into_parts().0, two.into_parts().0) {
            (Received::Event(a), Received::Event(b)) => assert_eq!(a, b, "{text}"),
            // Content-keyed events go through the two passes' own decoder.
            (Received::Invalid(a), Received::Invalid(b)) => {
                assert_eq!((a.path, a.data), (b.path, b.data), "{text}");
            }
            _ => panic!("one pass decodes as two passes: {text}"),
        }
    }
    // Every fixture (event first), the four other well-formed bodies event first, and the
    // deeply nested unknown one: a content-keyed `data` is borrowed as raw text in one pass,
    // so its nesting is not added to the envelope's.
    assert_eq!(one_pass, ALL_FIXTURES.len() + 5);
}

#[test]
fn escaped_event_names_are_unescaped() {
    let body = r#"{"event": "messages.sms.deliver\u0065d",
        "data": {"id": "m", "status": "delivered"}}"#;
    assert!(matches!(event_of(body), ChirpEvent::SmsDelivered(_)));
}

// ---- unknown values ------------------------------------------------------------------

#[test]
fn unknown_codes_are_kept_verbatim() {
    let body = edit(
        WA_FAILED_ENRICHED_JSON,
        &[
            ("/data/error/code", json!("brand_new_code")),
            ("/data/error/type", json!("quota_error")),
            ("/data/error/provider/source", json!("twilio")),
            (
                "/data/error/provider/health_status/entities/0/entity_type",
                json!("WHATSAPP_FLOW"),
            ),
            (
                "/data/error/provider/health_status/can_send_message",
                json!("DEGRADED"),
            ),
        ],
    );

    let ChirpEvent::WhatsappFailed(m) = event_of(&body) else {
        panic!("wrong variant");
    };
    let err = m.error.as_ref().unwrap();
    assert_eq!(
        err.code,
        Some(ErrorCode::Other("brand_new_code".to_owned()))
    );
    assert_eq!(err.error_type, ErrorType::Other("quota_error".to_owned()));
    let provider = err.provider.as_ref().unwrap();
    assert_eq!(provider.source, ProviderSource::Other("twilio".to_owned()));
    let health = provider.health_status.as_ref().unwrap();
    assert_eq!(
        health.can_send_message,
        CanSendMessage::Other("DEGRADED".to_owned())
    );
    assert_eq!(
        health.entities[0].entity_type,
        EntityType::Other("WHATSAPP_FLOW".to_owned())
    );

    // Serialized back to the same strings.
    let back = serde_json::to_value(err).unwrap();
    assert_eq!(back["code"], "brand_new_code");
    assert_eq!(back["type"], "quota_error");
    assert_eq!(back["provider"]["source"], "twilio");
    assert_eq!(
        back["provider"]["health_status"]["can_send_message"],
        "DEGRADED"
    );
    assert_eq!(
        back["provider"]["health_status"]["entities"][0]["entity_type"],
        "WHATSAPP_FLOW"
    );
}

#[test]
fn unknown_status_has_no_status_time() {
    let body = with(SMS_SENT_JSON, "/data/status", json!("queued"));
    let m = event_of(body).message_status().cloned().unwrap();
    assert_eq!(m.status, MessageState::Other("queued".to_owned()));
    assert_eq!(m.status.as_str(), "queued");
    assert_eq!(m.status_time(), None);
}

#[test]
fn all_error_codes_are_known_and_round_trip() {
    const CODES: [&str; 44] = [
        "message_undeliverable",
        "conversation_window_expired",
        "recipient_not_on_whatsapp",
        "phone_number_not_assigned",
        "unsupported_message_type",
        "media_too_large",
        "invalid_phone_number",
        "template_not_found",
        "template_parameter_mismatch",
        "groups_not_eligible",
        "account_restricted",
        "display_name_not_approved",
        "whatsapp_not_configured",
        "meta_api_error",
        "meta_api_unavailable",
        "telnyx_api_error",
        "telnyx_api_unavailable",
        "rate_limit_exceeded",
        "whatsapp_rate_limited",
        "resource_already_exists",
        "test_app_required",
        "call_not_found",
        "call_already_ended",
        "call_failed",
        "call_rejected",
        "call_timeout",
        "call_busy",
        "calling_not_configured",
        "calling_disabled",
        "max_concurrent_calls_reached",
        "recording_not_found",
        "recording_already_in_progress",
        "recording_failed",
        "voicemail_not_found",
        "voicemail_disabled",
        "invalid_call_command",
        "command_not_applicable",
        "whatsapp_calling_not_enabled",
        "whatsapp_call_permission_required",
        "whatsapp_call_permission_limit",
        "whatsapp_pstn_bridge_forbidden",
        "livekit_api_error",
        "livekit_room_error",
        "sip_trunk_error",
    ];
    let mut seen = Vec::new();
    for wire in CODES {
        let code: ErrorCode = serde_json::from_value(json!(wire)).unwrap();
        assert!(
            !matches!(code, ErrorCode::Other(_)),
            "{wire} is not a variant"
        );
        assert_eq!(code.as_str(), wire);
        assert_eq!(code.to_string(), wire);
        assert_eq!(ErrorCode::from(wire.to_owned()), code);
        assert_eq!(serde_json::to_value(&code).unwrap(), json!(wire));
        assert!(!seen.contains(&code), "{wire} maps to a taken variant");
        seen.push(code);
    }

    for wire in [
        "invalid_request_error",
        "authentication_error",
        "provider_error",
        "api_error",
    ] {
        let t = ErrorType::from(wire);
        assert!(!matches!(t, ErrorType::Other(_)));
        assert_eq!(t.as_str(), wire);
    }
    for wire in [
        "PHONE_NUMBER",
        "MESSAGE_TEMPLATE",
        "WABA",
        "BUSINESS",
        "APP",
    ] {
        assert!(!matches!(EntityType::from(wire), EntityType::Other(_)));
    }
    for wire in ["AVAILABLE", "LIMITED", "BLOCKED"] {
        assert!(!matches!(
            CanSendMessage::from(wire),
            CanSendMessage::Other(_)
        ));
    }
    for wire in ["meta", "telnyx", "livekit"] {
        assert!(!matches!(
            ProviderSource::from(wire),
            ProviderSource::Other(_)
        ));
    }
    // Codes are case-sensitive on the wire.
    assert_eq!(
        ProviderSource::from("Meta"),
        ProviderSource::Other("Meta".to_owned())
    );
}

#[test]
fn code_enums_reject_non_strings() {
    let body = with(WA_FAILED_JSON, "/data/error/code", json!(7));
    let invalid = invalid_of(body);
    assert_eq!(invalid.path, "error.code");
    assert!(
        invalid.error.contains("expected a string"),
        "{}",
        invalid.error
    );
}

#[test]
fn provider_code_variants() {
    let code: ProviderCode = serde_json::from_str("131047").unwrap();
    assert_eq!(code, ProviderCode::Number(131_047.into()));
    let code: ProviderCode = serde_json::from_str("-3").unwrap();
    assert_eq!(code.as_i64(), Some(-3));
    let code: ProviderCode = serde_json::from_str("1.5").unwrap();
    assert_eq!(code.as_i64(), None);
    assert_eq!(code.to_string(), "1.5");
    assert_eq!(serde_json::to_string(&code).unwrap(), "1.5");
    let code: ProviderCode = serde_json::from_str(r#""E42""#).unwrap();
    assert_eq!(code, ProviderCode::from("E42"));
    assert_eq!(serde_json::to_string(&code).unwrap(), r#""E42""#);
    assert!(serde_json::from_str::<ProviderCode>("true").is_err());
    assert!(serde_json::from_str::<ProviderCode>("null").is_err());
}

#[test]
fn payloads_round_trip_through_serde() {
    for fixture in [WA_FAILED_ENRICHED_JSON, SMS_FAILED_JSON, SMS_DELIVERED_JSON] {
        let m = event_of(fixture).message_status().cloned().unwrap();
        let back: MessageStatus =
            serde_json::from_value(serde_json::to_value(&m).unwrap()).unwrap();
        assert_eq!(back, m);
    }
    // Absent optional fields are not written as nulls.
    let m = event_of(WA_SENT_JSON).message_status().cloned().unwrap();
    assert_eq!(
        serde_json::to_value(&m).unwrap(),
        json!({
            "id": "msg_wa_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
            "status": "sent",
            "sentAt": "2024-01-15T12:00:00Z",
        })
    );
    let m = event_of(SMS_RECEIVED_JSON)
        .inbound_message()
        .cloned()
        .unwrap();
    let v = serde_json::to_value(&m).unwrap();
    assert_eq!(v["type"], "sms");
    assert_eq!(v["direction"], "inbound");
    assert_eq!(serde_json::from_value::<InboundMessage>(v).unwrap(), m);
}

// ---- unknown fields and timestamps ---------------------------------------------------

#[test]
fn unknown_fields_are_accepted_at_every_level() {
    let extra = json!({"nested": [1, {"deep": null}]});
    let edits = [
        "/newTopLevelField",
        "/data/newField",
        "/data/error/newField",
        "/data/error/provider/newField",
        "/data/error/provider/health_status/newField",
        "/data/error/provider/health_status/entities/0/newField",
        "/data/error/provider/health_status/entities/0/errors/0/newField",
    ]
    .map(|pointer| (pointer, extra.clone()));
    let body = edit(WA_FAILED_ENRICHED_JSON, &edits);
    let ChirpEvent::WhatsappFailed(m) = event_of(&body) else {
        panic!("wrong variant");
    };
    assert_eq!(
        *m,
        *event_of(WA_FAILED_ENRICHED_JSON).message_status().unwrap()
    );

    let body = with(
        WA_RECEIVED_JSON,
        "/data/conversationWindow",
        json!({"id": "wacw_1"}),
    );
    let m = event_of(body).inbound_message().cloned().unwrap();
    assert_eq!(m.extra["conversationWindow"]["id"], "wacw_1");
}

#[test]
fn optional_fields_may_be_null_or_absent() {
    let body = edit(
        SMS_DELIVERED_JSON,
        &[
            ("/data/from", Value::Null),
            ("/data/deliveredAt", Value::Null),
        ],
    );
    let m = event_of(body).message_status().cloned().unwrap();
    assert_eq!((m.from, m.delivered_at), (None, None));

    let body = r#"{"event": "messages.whatsapp.received", "data": {"id": "m"}}"#;
    let m = event_of(body).inbound_message().cloned().unwrap();
    assert_eq!(
        (m.from, m.text, m.message_type, m.received_at),
        (None, None, None, None)
    );
}

#[test]
fn timestamps_parse_to_the_right_instant() {
    for (wire, expected) in [
        (
            "2024-01-15T12:00:05.000Z",
            Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 5).unwrap(),
        ),
        (
            "2024-01-15T12:00:05Z",
            Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 5).unwrap(),
        ),
        (
            "2024-01-15T13:00:05+01:00",
            Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 5).unwrap(),
        ),
        (
            "2024-01-15T12:00:05.250Z",
            Utc.with_ymd_and_hms(2024, 1, 15, 12, 0, 5).unwrap()
                + chrono::Duration::milliseconds(250),
        ),
    ] {
        let body = with(WA_DELIVERED_JSON, "/data/deliveredAt", json!(wire));
        let m = event_of(body).message_status().cloned().unwrap();
        assert_eq!(m.delivered_at, Some(expected), "{wire}");
        assert_eq!(m.delivered_at.unwrap().timestamp(), 1_705_320_005);
    }
}

// ---- payload errors ------------------------------------------------------------------

#[test]
fn bodies_that_are_not_envelopes_are_rejected() {
    assert!(matches!(error_of(b""), DecodeError::Empty));
    assert!(matches!(error_of(b" \r\n\t"), DecodeError::Empty));
    assert!(matches!(error_of(b"\xff\xfe{}"), DecodeError::NotUtf8));
    assert!(matches!(
        error_of(b"{\"event\": \"a\xc3\"}"),
        DecodeError::NotUtf8
    ));
    for body in [
        "not json",
        "{",
        r#"{"event": "x", "data": {}"#,
        r#"{"event": "x", "data": {}} x"#,
        "[1,",
    ] {
        assert!(matches!(error_of(body), DecodeError::NotJson(_)), "{body}");
    }
    for body in [
        "[]",
        r#"[{"event": "messages.sms.sent", "data": {}}]"#,
        r#""text""#,
        "42",
        "null",
        "true",
    ] {
        assert!(matches!(error_of(body), DecodeError::NotObject), "{body}");
    }
}

#[test]
fn decode_rejects_with_invalid_payload() {
    let rejection = Chirp
        .decode(&HeaderMap::new(), b"[]")
        .expect_err("body should be rejected");
    assert!(matches!(
        rejection,
        Rejection::Decode(DecodeError::NotObject)
    ));
    assert_eq!(rejection.status(), http::StatusCode::BAD_REQUEST);
}

#[test]
fn missing_or_mistyped_envelope_fields_are_rejected() {
    assert!(matches!(
        error_of(r#"{"data": {"id": "m"}}"#),
        DecodeError::MissingField("event")
    ));
    assert!(matches!(
        error_of(r#"{"event": null, "data": {"id": "m"}}"#),
        DecodeError::MissingField("event")
    ));
    assert!(matches!(
        error_of(r#"{"event": "messages.sms.sent"}"#),
        DecodeError::MissingField("data")
    ));
    assert!(matches!(
        error_of(r#"{"event": "calls.voice.started", "data": null}"#),
        DecodeError::MissingField("data")
    ));
    assert!(matches!(error_of("{}"), DecodeError::MissingField("event")));

    for (body, found) in [
        (r#"{"event": 5, "data": {}}"#, "a number"),
        (
            r#"{"event": ["messages.sms.sent"], "data": {}}"#,
            "an array",
        ),
        (r#"{"event": {"name": "x"}, "data": {}}"#, "an object"),
        (r#"{"event": true, "data": {}}"#, "a boolean"),
    ] {
        assert!(
            matches!(
                error_of(body),
                DecodeError::WrongType {
                    field: "event",
                    expected: "a string",
                    found: f,
                } if f == found
            ),
            "{body}"
        );
    }
    assert!(matches!(
        error_of(r#"{"event": "", "data": {}}"#),
        DecodeError::EmptyField("event")
    ));

    for (body, found) in [
        (r#"{"event": "messages.sms.sent", "data": []}"#, "an array"),
        (r#"{"event": "messages.sms.sent", "data": "x"}"#, "a string"),
        (
            r#"{"event": "calls.voice.started", "data": 1.5}"#,
            "a number",
        ),
    ] {
        assert!(
            matches!(
                error_of(body),
                DecodeError::WrongType {
                    field: "data",
                    expected: "an object",
                    found: f,
                } if f == found
            ),
            "{body}"
        );
    }

    assert!(matches!(
        error_of(r#"{"event": "a", "event": "b", "data": {}}"#),
        DecodeError::InvalidField {
            field: "envelope",
            ..
        }
    ));
}

#[test]
fn data_nested_past_the_limit_is_acknowledged_with_its_raw_text() {
    // Until this round a 400 (`InvalidField { field: "data" }`), which the sender retried until
    // it gave up; see `data_serde_cannot_represent_is_acknowledged_as_invalid_not_rejected`.
    let deep = format!("{}{}", "[".repeat(200), "]".repeat(200));
    let data = format!(r#"{{"id": "tpl_1", "x": {deep}}}"#);
    // A known type whose payload needs a tree: invalid, with the raw text.
    let body = format!(r#"{{"event": "templates.whatsapp.updated", "data": {data}}}"#);
    let invalid = invalid_of(&body);
    assert_eq!(invalid.event_name, "templates.whatsapp.updated");
    assert_eq!(invalid.path, ".");
    assert_eq!(invalid.data.get(), data);
    // An unknown type is kept as text and never needs a tree: an event, with the raw text.
    let body = format!(r#"{{"event": "calls.voice.started", "data": {data}}}"#);
    let Received::Event(ChirpEvent::Unknown {
        name,
        id,
        data: raw,
    }) = decode(&body).into_parts().0
    else {
        panic!("expected an unknown event");
    };
    assert_eq!(
        (name.as_str(), id.as_deref()),
        ("calls.voice.started", Some("tpl_1"))
    );
    assert_eq!(raw.get(), data);
}

// ---- invalid payloads ----------------------------------------------------------------

#[test]
fn known_event_with_bad_data_is_invalid_with_its_path() {
    let body = with(SMS_DELIVERED_JSON, "/data/id", json!(5));
    let decoded = decode(&body);
    assert_eq!(decoded.event_name(), "messages.sms.delivered");
    let expected_data = serde_json::from_slice::<Value>(&body).unwrap()["data"].clone();
    assert_eq!(
        decoded.key(),
        DedupKey::from_json("messages.sms.delivered", &expected_data)
    );
    let Received::Invalid(invalid) = decoded.into_parts().0 else {
        panic!("expected an invalid payload");
    };
    assert_eq!(invalid.event_name, "messages.sms.delivered");
    assert_eq!(invalid.path, "id");
    assert_eq!(invalid.data.to_value().unwrap(), expected_data);
    let text = std::str::from_utf8(&body).unwrap();
    assert!(text.contains(invalid.data.get()), "the raw text of `data`");
    assert!(
        invalid.error.contains("expected a string"),
        "{}",
        invalid.error
    );

    let cases = [
        (
            with(SMS_DELIVERED_JSON, "/data/deliveredAt", json!("yesterday")),
            "deliveredAt",
        ),
        (without(SMS_DELIVERED_JSON, "/data/id"), "."),
        (without(SMS_DELIVERED_JSON, "/data/status"), "."),
        (
            with(WA_RECEIVED_JSON, "/data/receivedAt", json!("2024-13-45")),
            "receivedAt",
        ),
        (
            with(WA_RECEIVED_JSON, "/data/text", json!(["Hello!"])),
            "text",
        ),
        (
            with(WA_FAILED_JSON, "/data/error/provider/code", json!(true)),
            "error.provider.code",
        ),
        (without(WA_FAILED_JSON, "/data/error/message"), "error"),
        (
            with(
                WA_FAILED_ENRICHED_JSON,
                "/data/error/provider/health_status/entities/0/errors/0/error_code",
                json!("131031"),
            ),
            "error.provider.health_status.entities[0].errors[0].error_code",
        ),
        (with(TEMPLATE_UPDATED_JSON, "/data/id", json!(null)), "id"),
    ];
    for (body, path) in cases {
        let invalid = invalid_of(&body);
        assert_eq!(invalid.path, path, "{}", String::from_utf8_lossy(&body));
    }
}

#[test]
fn duplicate_keys_in_data_keep_the_last_value() {
    let body = r#"{"event": "messages.sms.sent",
        "data": {"id": "first", "status": "sent", "id": "second"}}"#;
    let event = event_of(body);
    assert_eq!(event.id(), Some("second"));
}

// ---- dedup keys ----------------------------------------------------------------------

#[test]
fn status_updates_of_one_message_are_distinct() {
    let sent = decode(WA_SENT_JSON).key();
    let delivered = decode(WA_DELIVERED_JSON).key();
    let read = decode(WA_READ_JSON).key();
    let failed = decode(WA_FAILED_JSON).key();
    assert_ne!(sent, delivered);
    assert_ne!(delivered, read);
    assert_ne!(sent, read);
    assert_ne!(delivered, failed);

    assert_eq!(
        sent,
        DedupKey::from_parts(&[
            b"messages.whatsapp.sent",
            b"msg_wa_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
            b"2024-01-15T12:00:00Z",
        ])
    );
    let no_time = without(WA_SENT_JSON, "/data/sentAt");
    assert_eq!(
        decode(no_time).key(),
        DedupKey::from_parts(&[
            b"messages.whatsapp.sent",
            b"msg_wa_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
            b""
        ])
    );
}

#[test]
fn redeliveries_collapse_whatever_the_formatting() {
    for fixture in ALL_FIXTURES {
        let key = decode(fixture).key();
        // Same bytes.
        assert_eq!(decode(fixture).key(), key);
        // Compact, keys sorted (a different order from the fixtures').
        let compact = serde_json::to_vec(&json_of(fixture)).unwrap();
        assert_ne!(compact, fixture.as_bytes());
        assert_eq!(decode(&compact).key(), key, "{fixture}");
        // Pretty-printed.
        let pretty = serde_json::to_vec_pretty(&json_of(fixture)).unwrap();
        assert_eq!(decode(&pretty).key(), key, "{fixture}");
    }

    // The same instant written differently is the same status update.
    let offset = with(
        WA_DELIVERED_JSON,
        "/data/deliveredAt",
        json!("2024-01-15T13:00:05+01:00"),
    );
    assert_eq!(decode(offset).key(), decode(WA_DELIVERED_JSON).key());
    // Another instant is another update.
    let later = with(
        WA_DELIVERED_JSON,
        "/data/deliveredAt",
        json!("2024-01-15T12:00:05.001Z"),
    );
    assert_ne!(decode(later).key(), decode(WA_DELIVERED_JSON).key());
}

#[test]
fn same_message_id_on_different_events_differs() {
    let sms_sent = decode(SMS_SENT_JSON).key();
    let as_whatsapp = with(SMS_SENT_JSON, "/event", json!("messages.whatsapp.sent"));
    assert_ne!(decode(as_whatsapp).key(), sms_sent);
}

#[test]
fn received_messages_are_keyed_by_id() {
    let key = decode(WA_RECEIVED_JSON).key();
    assert_eq!(
        key,
        DedupKey::from_parts(&[
            b"messages.whatsapp.received",
            b"msg_wa_2DbBs7GWhGvVNJGrDXr5RG0mBWI"
        ])
    );
    let other_id = with(WA_RECEIVED_JSON, "/data/id", json!("msg_wa_other"));
    assert_ne!(decode(other_id).key(), key);
}

#[test]
fn unknown_status_keeps_its_timestamp_in_the_key() {
    let body = |status: &str, field: &str, at: &str| {
        format!(
            r#"{{"event": "messages.sms.sent", "data": {{"id": "msg_1", "status": "{status}", "{field}": "{at}"}}}}"#
        )
    };
    let at = |status, field| {
        (
            decode(body(status, field, "2024-01-15T12:00:00Z")).key(),
            decode(body(status, field, "2024-01-15T12:05:00Z")).key(),
        )
    };
    for field in ["sentAt", "deliveredAt", "readAt", "failedAt"] {
        let (first, second) = at("queued", field);
        assert_ne!(first, second, "{field}");
        // A redelivery still collapses, whatever the time's spelling.
        let again = decode(body("queued", field, "2024-01-15T12:00:00.000Z")).key();
        assert_eq!(first, again, "{field}");
    }
    // Known statuses keep their key (one timestamp, the status's own).
    let (first, second) = at("sent", "sentAt");
    assert_ne!(first, second);
    assert_eq!(at("sent", "deliveredAt").0, at("sent", "deliveredAt").1);
}

#[test]
fn content_keys_keep_numbers_exact() {
    // One `f64` apart, yet distinct numbers: distinct events, whichever path decodes them.
    let pairs = [
        ("18446744073709551616", "18446744073709551617"),
        ("0.1", "0.10000000000000001"),
        ("1", "1.0"), // spelling counts (documented)
    ];
    for (a, b) in pairs {
        for (name, first) in [
            ("templates.whatsapp.updated", true),
            ("templates.whatsapp.updated", false),
            ("calls.voice.started", true),
            ("calls.voice.started", false),
        ] {
            let body = |n: &str| {
                let data = format!(r#"{{"id": "tpl_1", "version": {n}, "tags": [{n}]}}"#);
                if first {
                    format!(r#"{{"event": "{name}", "data": {data}}}"#)
                } else {
                    format!(r#"{{"data": {data}, "event": "{name}"}}"#)
                }
            };
            assert_ne!(
                decode(body(a)).key(),
                decode(body(b)).key(),
                "{name} {a} {b}"
            );
            // Key order and whitespace still do not count.
            let reordered = format!(
                r#"{{"event":"{name}","data":{{"tags":[{a}],"version":{a},"id":"tpl_1"}}}}"#
            );
            assert_eq!(decode(body(a)).key(), decode(reordered).key(), "{name}");
        }
        // An invalid payload (id not a string) is keyed by content too.
        let invalid = |n: &str| {
            format!(r#"{{"event": "templates.whatsapp.updated", "data": {{"id": 7, "n": {n}}}}}"#)
        };
        assert!(matches!(
            decode(invalid(a)).received(),
            Received::Invalid(_)
        ));
        assert_ne!(
            decode(invalid(a)).key(),
            decode(invalid(b)).key(),
            "{a} {b}"
        );
    }
}

#[test]
fn resource_events_are_keyed_by_content() {
    let key = decode(TEMPLATE_UPDATED_JSON).key();
    let data = json_of(TEMPLATE_UPDATED_JSON)["data"].clone();
    assert_eq!(
        key,
        DedupKey::from_json("templates.whatsapp.updated", &data)
    );

    // Another update of the same template is another event.
    let rejected = with(TEMPLATE_UPDATED_JSON, "/data/status", json!("REJECTED"));
    assert_ne!(decode(&rejected).key(), key);
    // The same content under another event type is another event.
    let created = with(
        TEMPLATE_UPDATED_JSON,
        "/event",
        json!("templates.whatsapp.created"),
    );
    assert_ne!(decode(created).key(), key);
    // Key order inside nested objects does not matter either.
    let a = r#"{"event": "whatsapp.account.connected",
        "data": {"id": "1", "meta": {"a": 1, "b": [2, 3]}}}"#;
    let b = r#"{"data": {"meta": {"b": [2, 3], "a": 1}, "id": "1"},
        "event": "whatsapp.account.connected"}"#;
    assert_eq!(decode(a).key(), decode(b).key());
}

#[test]
fn invalid_payload_keys_follow_content() {
    let a = with(SMS_DELIVERED_JSON, "/data/id", json!(5));
    let b = with(SMS_DELIVERED_JSON, "/data/id", json!(6));
    assert_eq!(decode(&a).key(), decode(&a).key());
    assert_ne!(decode(&a).key(), decode(&b).key());
}

#[test]
fn keys_are_stable_across_versions() {
    // Keys remembered by a dedup store must survive an upgrade: these are the keys computed
    // before the decoder was optimized, and must never change.
    let fixtures = [
        (SMS_RECEIVED_JSON, "2ac8741e241fa05935d3f350bfdbef32"),
        (SMS_SENT_JSON, "c2214e390e9a49e21afcae5d4e77d90b"),
        (SMS_DELIVERED_JSON, "cb222b9841e391051029831039e52f42"),
        (SMS_FAILED_JSON, "e819209babacbd255676030c80506058"),
        (WA_RECEIVED_JSON, "c682799ebea0b7d57c3ef46e970bbd4b"),
        (WA_SENT_JSON, "fe615ab7a369bab292d5cc6068ce2390"),
        (WA_DELIVERED_JSON, "b1a576da7def5ff21b3eedddbdbbabd2"),
        (WA_READ_JSON, "ec8b921311cd71d4d91da1939889d226"),
        (WA_FAILED_JSON, "063404d511ca7d48d99171b6bb48ffc7"),
        (WA_FAILED_ENRICHED_JSON, "cc178b661a2a4f59168ac36b3cc3ae41"),
        (TEMPLATE_UPDATED_JSON, "100a9d9f2b4b068225d872571a95cc62"),
        (CONTACT_CREATED_JSON, "c3f1978e21a188d919a2e87b23e449db"),
        (ACCOUNT_CONNECTED_JSON, "a527280053f8186578209204ce94c82b"),
        (UNKNOWN_EVENT_JSON, "bbdfaf3f64c8ca23fea3901bf4cabd96"),
    ];
    for (fixture, key) in fixtures {
        let decoded = decode(fixture);
        assert_eq!(decoded.key().to_string(), key, "{fixture}");
        assert_eq!(decoded.id(), json_of(fixture)["data"]["id"].as_str());
    }

    // Status times with every fractional precision, a leap second and the extreme years.
    let times = [
        (
            "2024-01-15T12:00:05.250Z",
            "4c047ee394f36a8832e57fc5a47c8350",
        ),
        (
            "2024-01-15T12:00:05.000001Z",
            "4504639f0bc4685f93cd754cfae70217",
        ),
        (
            "2024-01-15T12:00:05.123456789Z",
            "04759bb03f2fa499f9deaee70cdc73a4",
        ),
        (
            "2024-01-15T12:00:05.12Z",
            "f545a1484dae082fe4bf86557d2912f8",
        ),
        (
            "2024-01-15T13:00:05.5+01:00",
            "cbb080304002653147d5e44239e20774",
        ),
        ("2016-12-31T23:59:60.5Z", "14738f4dadadf230fcf81a897cbe119e"),
        ("2016-12-31T23:59:60Z", "2eab7ada919f0037f53dd9bdfbdc7471"),
        ("0001-01-01T00:00:00Z", "7badef356e4b7a9ccfc632cdf74415c3"),
        (
            "9999-12-31T23:59:59.999999999Z",
            "46dd9ac0dc731bf6777c3412d8ce3161",
        ),
    ];
    for (at, key) in times {
        let body = format!(
            r#"{{"event": "messages.whatsapp.delivered",
                "data": {{"id": "m1", "status": "delivered", "deliveredAt": "{at}"}}}}"#
        );
        assert_eq!(decode(&body).key().to_string(), key, "{at}");
        // The same with `data` first.
        let body = with(&body, "/data/deliveredAt", json!(at));
        assert_eq!(decode(&body).key().to_string(), key, "{at}");
    }
}

/// `data` nested `depth` arrays deep, around `inner`.
fn nested(depth: usize, inner: &str) -> String {
    format!("{}{inner}{}", "[".repeat(depth), "]".repeat(depth))
}

/// Valid JSON that serde's `Value` cannot hold (a number beyond `f64`, a lone surrogate escape,
/// nesting past 128) in `data` must not be a 400: the sender would retry the same bytes until
/// it gives up. The envelope routes the event, so it is acknowledged and handed to the fallback
/// as `Received::Invalid`, with the raw text; distinct bodies keep distinct keys.
#[test]
fn data_serde_cannot_represent_is_acknowledged_as_invalid_not_rejected() {
    let deep = nested(200, "1");
    let cases: Vec<(String, &str)> = vec![
        // Content-keyed types, an unknown type, and a known type whose field holds it.
        (
            r#"{"event":"template.updated","data":{"id":"t1","n":1e400}}"#.to_owned(),
            "template.updated",
        ),
        (
            format!(r#"{{"event":"contact.created","data":{{"id":"c1","deep":{deep}}}}}"#),
            "contact.created",
        ),
        (
            r#"{"event":"future.event","data":{"n":1e400}}"#.to_owned(),
            "future.event",
        ),
        (
            r#"{"event":"future.event","data":{"s":"\ud800"}}"#.to_owned(),
            "future.event",
        ),
        (
            r#"{"event":"messages.sms.delivered","data":{"id":"\ud800","status":"delivered"}}"#
                .to_owned(),
            "messages.sms.delivered",
        ),
    ];
    let mut keys = std::collections::HashSet::new();
    for (body, name) in &cases {
        let decoded = Chirp
            .decode(&HeaderMap::new(), body.as_bytes())
            .unwrap_or_else(|e| panic!("{body:.80}: {e}"));
        assert!(keys.insert(decoded.key()), "distinct bodies, distinct keys");
        match decoded.into_parts().0 {
            Received::Invalid(invalid) => {
                assert_eq!(invalid.event_name, *name);
                assert!(
                    body.contains(invalid.data.get()),
                    "the raw data text is kept: {:?}",
                    invalid.data
                );
            }
            Received::Event(ChirpEvent::Unknown { name: n, data, .. }) => {
                // An unknown type keeps its raw text, whatever JSON it holds.
                assert_eq!(n, *name);
                assert!(
                    body.contains(data.get()),
                    "the raw data text is kept: {data:?}"
                );
            }
            Received::Event(event) => {
                // Accepted as typed is fine too (serde skipped the value it cannot hold).
                assert_eq!(event.event_name(), *name);
            }
        }
    }
    // The same bytes again: the same key (a redelivery is still recognised).
    let again = Chirp
        .decode(&HeaderMap::new(), cases[0].0.as_bytes())
        .unwrap();
    assert!(keys.contains(&again.key()));
}

#[test]
fn an_envelope_serde_cannot_represent_is_still_a_400() {
    // The event name itself cannot be read: nothing can route it.
    let err = Chirp
        .decode(&HeaderMap::new(), br#"{"event":"\ud800","data":{}}"#)
        .unwrap_err();
    assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
}
