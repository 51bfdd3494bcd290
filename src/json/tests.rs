//! The JSON format against the envelopes it reads.

use http::HeaderMap;

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::*;
use crate::dedup::DedupKey;
use crate::error::Rejection;
use crate::event::Format;

fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
    let mut h = HeaderMap::new();
    for (name, value) in pairs {
        h.insert(*name, value.parse().unwrap());
    }
    h
}

#[test]
fn a_payload_serde_cannot_represent_is_acknowledged_as_invalid_and_the_envelope_400s() {
    let format = JsonFormat::<Value>::new();
    let decode = |body: &str| format.decode(&HeaderMap::new(), body.as_bytes());
    let deep = format!("{}1{}", "[".repeat(200), "]".repeat(200));
    for data in [r#"{"n":1e400}"#, r#"{"s":"\ud800"}"#, deep.as_str()] {
        let body = format!(r#"{{"id":"evt_1","type":"user.created","data":{data}}}"#);
        let decoded = decode(&body).unwrap_or_else(|e| panic!("{data:.40}: {e}"));
        assert_eq!(
            (decoded.event_name(), decoded.id()),
            ("user.created", Some("evt_1"))
        );
        assert_eq!(
            decoded.key(),
            DedupKey::from_parts(&[b"evt_1"]),
            "keyed by its id"
        );
        let crate::event::Received::Invalid(invalid) = decoded.into_parts().0 else {
            panic!("expected Received::Invalid");
        };
        assert_eq!((invalid.path.as_str(), invalid.data.get()), (".", data));
    }
    // In the envelope: nothing routes it.
    for body in [
        r#"{"id":1e400,"type":"user.created","data":{}}"#,
        r#"{"id":"evt_1","type":"\ud800","data":{}}"#,
    ] {
        let err = decode(body).unwrap_err();
        assert_eq!(err.status(), http::StatusCode::BAD_REQUEST, "{body}");
    }
    // A payload pointer that is not one top-level field cannot be split off either.
    let whole = JsonFormat::<Value>::new().data_field("");
    let err = whole
        .decode(&HeaderMap::new(), br#"{"id":"e","type":"t","n":1e400}"#)
        .unwrap_err();
    assert_eq!(err.status(), http::StatusCode::BAD_REQUEST);
}

#[test]
fn header_sources_accept_any_case() {
    let format = JsonFormat::<Value>::new()
        .name_header("X-GitHub-Event")
        .key_header("X-GitHub-Delivery");
    let h = headers(&[("x-github-event", "push"), ("x-github-delivery", "d-1")]);
    let decoded = format.decode(&h, br#"{"data": {}}"#).unwrap();
    assert_eq!((decoded.event_name(), decoded.id()), ("push", Some("d-1")));
}

#[test]
fn numeric_and_string_ids_are_distinct_keys() {
    let format = JsonFormat::<Value>::new();
    let key = |body: &[u8]| format.decode(&HeaderMap::new(), body).unwrap().key();
    let number = key(br#"{"id":1,"type":"user.updated"}"#);
    let string = key(br#"{"id":"1","type":"project.created"}"#);
    assert_ne!(number, string);
    // The type is not part of the key: the id is the event's own.
    assert_eq!(string, key(br#"{"id":"1","type":"user.updated"}"#));
    assert_eq!(number, key(br#"{"id":1,"type":"project.created"}"#));
    // String ids keep their key.
    assert_eq!(string, DedupKey::from_parts(&[b"1"]));
}

#[test]
fn webhook_id_key_reads_svix_id_too() {
    let format = JsonFormat::<Value>::new().key_header("webhook-id");
    let body = br#"{"type":"ping","data":{}}"#;
    let standard = format.decode(&headers(&[("webhook-id", "msg_1")]), body);
    let svix = format.decode(&headers(&[("svix-id", "msg_1")]), body);
    let (standard, svix) = (standard.unwrap(), svix.unwrap());
    assert_eq!((svix.id(), svix.key()), (Some("msg_1"), standard.key()));
    // Both present: `webhook-id`, as the verifier reads it.
    let both = headers(&[("webhook-id", "msg_1"), ("svix-id", "msg_2")]);
    assert_eq!(format.decode(&both, body).unwrap().id(), Some("msg_1"));
}

#[test]
fn replay_guard_bounds_future_timestamps() {
    let format = JsonFormat::<Value>::new().max_age("/at", Duration::from_secs(3600));
    let now = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64;
    let decode = |at: i64| {
        let body = format!(r#"{{"id":"e","type":"ping","at":{at}}}"#);
        format.decode(&HeaderMap::new(), body.as_bytes())
    };
    assert!(decode(now + 60).is_ok()); // a fast clock, within the default 5 min
    let err = decode(now + 10 * 365 * 24 * 3600).unwrap_err();
    assert!(
        matches!(err, Rejection::StaleTimestamp { ahead: true, tolerance, .. }
            if tolerance == JsonFormat::<Value>::DEFAULT_MAX_FUTURE_SKEW),
        "{err:?}"
    );
    assert_eq!(
        (err.status().as_u16(), err.code()),
        (401, "timestamp_out_of_tolerance")
    );
    let strict = format.clone().max_future_skew(Duration::from_secs(10));
    let body = format!(r#"{{"id":"e","type":"ping","at":{}}}"#, now + 60);
    assert!(strict.decode(&HeaderMap::new(), body.as_bytes()).is_err());
    // A missing timestamp is a malformed envelope: 400, as documented.
    let err = format
        .decode(&HeaderMap::new(), br#"{"id":"e","type":"ping"}"#)
        .unwrap_err();
    assert_eq!((err.status().as_u16(), err.code()), (400, "missing_field"));
}

#[test]
#[should_panic(expected = "not a valid header name")]
fn invalid_header_name_panics_with_its_name() {
    let _ = JsonFormat::<Value>::new().key_header("bad header");
}
