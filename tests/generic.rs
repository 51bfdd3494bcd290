//! Users' own event enums through the full pipeline: the generic HMAC format and Standard
//! Webhooks, signed with the `testing` helpers.
#![cfg(all(feature = "hmac", feature = "standard-webhooks", feature = "testing"))]

mod support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use http::StatusCode;
use serde::Deserialize;
use support::{error_body, json_body};
use tower::{ServiceBuilder, ServiceExt};
use webhook_receiver::dispatch::EventContext;
use webhook_receiver::event::Received;
use webhook_receiver::json::{JsonEvent, JsonFormat};
use webhook_receiver::stack::VerifyWebhookLayer;
use webhook_receiver::stack::WebhookService;
use webhook_receiver::stack::{Dispatcher, Handlers};
use webhook_receiver::testing::{
    hmac_sha256_request, standard_webhooks_request, standard_webhooks_signature, unix_now,
};
use webhook_receiver::verify::{HmacSha256, StandardWebhooks};
use webhook_receiver::{DedupKey, EventType};

#[derive(Debug, Clone, Deserialize, PartialEq)]
struct User {
    id: String,
    name: String,
}

#[derive(Debug, Clone, Deserialize)]
enum AppEvent {
    #[serde(rename = "user.created")]
    UserCreated(User),
}

type Ev = JsonEvent<AppEvent>;

const USER_CREATED: EventType<Ev, User> = EventType::new("user.created", |e| match e.typed()? {
    AppEvent::UserCreated(u) => Some(u),
});

/// (handler, kind, id) per handler call.
type Log = Arc<Mutex<Vec<(String, String, Option<String>)>>>;

fn handlers(log: Log) -> Handlers<Ev, Log> {
    Handlers::with_state(log)
        .on(USER_CREATED, |u: User, ctx: EventContext<Log>| async move {
            ctx.state().lock().unwrap().push((
                format!("user:{}", u.name),
                ctx.event_name().into(),
                ctx.id().map(Into::into),
            ));
        })
        .fallback(|item: Received<Ev>, ctx: EventContext<Log>| async move {
            let what = match item {
                Received::Event(e) => format!("event:{:?}", e.typed()),
                Received::Invalid(bad) => format!("invalid:{}", bad.path),
            };
            ctx.state().lock().unwrap().push((
                what,
                ctx.event_name().into(),
                ctx.id().map(Into::into),
            ));
        })
}

const SECRET: &str = "It's a Secret to Everybody";

fn generic_body(id: &str, ty: &str, data: &str) -> String {
    format!(r#"{{"id":"{id}","type":"{ty}","created_at":"2026-01-15T12:30:00Z","data":{data}}}"#)
}

async fn drain(d: &Dispatcher<Ev>) {
    d.drain(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn generic_hmac_format_typed_by_a_user_enum() {
    let log = Log::default();
    let dispatcher = Dispatcher::builder(handlers(log.clone())).spawn();
    let svc = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(HmacSha256::new([SECRET]).unwrap()))
        .service(
            WebhookService::builder(JsonFormat::<AppEvent>::new(), dispatcher.clone()).build(),
        );

    let created = generic_body(
        "evt_1",
        "user.created",
        r#"{"id":"user_123","name":"John Doe","email":"j@example.com"}"#,
    );
    let res = svc
        .clone()
        .oneshot(hmac_sha256_request::<Body>(
            "/webhook",
            SECRET,
            created.clone(),
        ))
        .await
        .unwrap();
    assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    // Redelivery of the same top-level id: acknowledged, not dispatched.
    let res = svc
        .clone()
        .oneshot(hmac_sha256_request::<Body>("/webhook", SECRET, created))
        .await
        .unwrap();
    assert_eq!(json_body(res).await["duplicate"], true);
    // A type the enum does not model reaches the fallback as `Other`.
    let unknown = generic_body("evt_2", "file.uploaded", r#"{"id":"file_1"}"#);
    let res = svc
        .clone()
        .oneshot(hmac_sha256_request::<Body>("/webhook", SECRET, unknown))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // A modelled type whose data does not fit: acknowledged, fallback gets it as invalid.
    let bad = generic_body("evt_3", "user.created", r#"{"id":"user_9","name":5}"#);
    let res = svc
        .clone()
        .oneshot(hmac_sha256_request::<Body>("/webhook", SECRET, bad))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    // No id: 400 naming the field.
    let no_id = r#"{"type":"user.created","data":{"id":"u","name":"n"}}"#;
    let res = svc
        .clone()
        .oneshot(hmac_sha256_request::<Body>("/webhook", SECRET, no_id))
        .await
        .unwrap();
    let err = error_body(res, 400, "invalid_request_error").await;
    assert!(err["message"].as_str().unwrap().contains("id"), "{err}");
    // Wrong secret: 401.
    let other = generic_body("evt_4", "user.created", r#"{"id":"u","name":"n"}"#);
    let res = svc
        .clone()
        .oneshot(hmac_sha256_request::<Body>(
            "/webhook",
            "not the secret",
            other,
        ))
        .await
        .unwrap();
    error_body(res, 401, "authentication_error").await;

    drain(&dispatcher).await;
    let log = log.lock().unwrap().clone();
    assert_eq!(
        log,
        [
            (
                "user:John Doe".to_owned(),
                "user.created".to_owned(),
                Some("evt_1".to_owned())
            ),
            (
                "event:None".to_owned(),
                "file.uploaded".to_owned(),
                Some("evt_2".to_owned())
            ),
            (
                "invalid:name".to_owned(),
                "user.created".to_owned(),
                Some("evt_3".to_owned())
            ),
        ]
    );
}

#[tokio::test]
async fn replay_guard_rejects_events_older_than_the_window() {
    let log = Log::default();
    let dispatcher = Dispatcher::builder(handlers(log.clone())).spawn();
    let format = JsonFormat::<AppEvent>::new().max_age("/created_at", Duration::from_secs(3600));
    let svc = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(HmacSha256::new([SECRET]).unwrap()))
        .service(WebhookService::builder(format, dispatcher.clone()).build());
    let fresh = chrono::Utc::now().to_rfc3339();
    let old = (chrono::Utc::now() - chrono::Duration::hours(2)).to_rfc3339();
    for (id, at, status) in [("a", fresh.as_str(), 200), ("b", old.as_str(), 401)] {
        let body = format!(
            r#"{{"id":"{id}","type":"user.created","created_at":"{at}","data":{{"id":"u","name":"n"}}}}"#
        );
        let res = svc
            .clone()
            .oneshot(hmac_sha256_request::<Body>("/webhook", SECRET, body))
            .await
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{id}");
    }
    // Unix seconds are accepted too; a missing timestamp is a 400.
    let body = format!(
        r#"{{"id":"c","type":"user.created","created_at":{},"data":{{"id":"u","name":"n"}}}}"#,
        unix_now()
    );
    let res = svc
        .clone()
        .oneshot(hmac_sha256_request::<Body>("/webhook", SECRET, body))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let body = r#"{"id":"d","type":"user.created","data":{"id":"u","name":"n"}}"#;
    let res = svc
        .clone()
        .oneshot(hmac_sha256_request::<Body>("/webhook", SECRET, body))
        .await
        .unwrap();
    error_body(res, 400, "invalid_request_error").await;
    drain(&dispatcher).await;
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn standard_webhooks_dedup_by_webhook_id() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let log = Log::default();
    let dispatcher = Dispatcher::builder(handlers(log.clone())).spawn();
    let format = JsonFormat::<AppEvent>::new().key_header("webhook-id");
    let svc = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(
            StandardWebhooks::new([secret]).unwrap(),
        ))
        .service(WebhookService::builder(format, dispatcher.clone()).build());
    let body = r#"{"type":"user.created","timestamp":"2026-01-15T12:30:00Z","data":{"id":"u1","name":"Ada"}}"#;
    let now = unix_now();
    let send = |id: &'static str, ts: i64| {
        let svc = svc.clone();
        async move {
            svc.oneshot(standard_webhooks_request::<Body>(
                "/webhook", secret, id, ts, body,
            ))
            .await
            .unwrap()
        }
    };
    assert_eq!(
        json_body(send("msg_1", now).await).await,
        serde_json::json!({"received": true})
    );
    // The sender retries the same message later, re-signed with a new timestamp: a duplicate.
    assert_eq!(
        json_body(send("msg_1", now + 30).await).await["duplicate"],
        true
    );
    // Same body, new message id: a new event.
    assert_eq!(
        json_body(send("msg_2", now).await).await,
        serde_json::json!({"received": true})
    );
    // Outside the tolerance: 401.
    error_body(send("msg_3", now - 301).await, 401, "authentication_error").await;
    // Missing headers: 400.
    let req = http::Request::post("/webhook")
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    error_body(
        svc.clone().oneshot(req).await.unwrap(),
        400,
        "invalid_request_error",
    )
    .await;
    drain(&dispatcher).await;
    let ids: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, id)| id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["msg_1", "msg_2"]);
}

/// A Svix sender: `svix-id`, `svix-timestamp` and `svix-signature`, keyed by the documented
/// `key_header("webhook-id")`.
#[tokio::test]
async fn standard_webhooks_svix_branded_headers_dedup_by_svix_id() {
    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let log = Log::default();
    let dispatcher = Dispatcher::builder(handlers(log.clone())).spawn();
    let format = JsonFormat::<AppEvent>::new().key_header("webhook-id");
    let svc = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(
            StandardWebhooks::new([secret]).unwrap(),
        ))
        .service(WebhookService::builder(format, dispatcher.clone()).build());
    let body = r#"{"type":"user.created","data":{"id":"u1","name":"Ada"}}"#;
    let now = unix_now();
    let send = |id: &'static str, ts: i64| {
        let svc = svc.clone();
        let signature = standard_webhooks_signature(secret, id, ts, body);
        let req = http::Request::post("/webhook")
            .header("content-type", "application/json")
            .header("svix-id", id)
            .header("svix-timestamp", ts.to_string())
            .header("svix-signature", signature)
            .body(Body::from(body))
            .unwrap();
        async move { svc.oneshot(req).await.unwrap() }
    };
    assert_eq!(
        json_body(send("msg_1", now).await).await,
        serde_json::json!({"received": true})
    );
    assert_eq!(
        json_body(send("msg_1", now + 30).await).await["duplicate"],
        true
    );
    assert_eq!(
        json_body(send("msg_2", now).await).await,
        serde_json::json!({"received": true})
    );
    drain(&dispatcher).await;
    let ids: Vec<_> = log
        .lock()
        .unwrap()
        .iter()
        .map(|(_, _, id)| id.clone().unwrap())
        .collect();
    assert_eq!(ids, ["msg_1", "msg_2"]);
}

#[test]
fn key_and_kind_sources_are_configurable() {
    use webhook_receiver::Format;
    let mut headers = http::HeaderMap::new();
    headers.insert("x-event", "user.created".parse().unwrap());
    headers.insert("x-delivery", "d-42".parse().unwrap());
    let body = br#"{"type":"user.created","data":{"id":"u","name":"n"},"meta":{"event_id":"m-7"}}"#;

    let by_header = JsonFormat::<AppEvent>::new()
        .name_header("x-event")
        .key_header("x-delivery");
    let d = by_header.decode(&headers, body).unwrap();
    assert_eq!((d.event_name(), d.id()), ("user.created", Some("d-42")));
    assert_eq!(d.key(), DedupKey::from_parts(&[b"d-42"]));

    let by_field = JsonFormat::<AppEvent>::new().key_field("/meta/event_id");
    assert_eq!(by_field.decode(&headers, body).unwrap().id(), Some("m-7"));

    let by_closure = JsonFormat::<AppEvent>::new()
        .name_with(|v, _| v["type"].as_str().map(|t| t.to_uppercase()))
        .key_with(|v, h| {
            Some(format!(
                "{}:{}",
                v["data"]["id"].as_str()?,
                h.get("x-delivery")?.to_str().ok()?
            ))
        });
    let d = by_closure.decode(&headers, body).unwrap();
    assert_eq!((d.event_name(), d.id()), ("USER.CREATED", Some("u:d-42")));
}
