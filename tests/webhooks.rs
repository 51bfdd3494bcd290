//! The `Webhooks` facade: a Clone tower service with `Error = Infallible`, one body limit for the
//! verify layer and the receiver, the drain, and the error log when the last handle is dropped
//! with events still queued.
#![cfg(all(
    feature = "chirp",
    feature = "hmac",
    feature = "standard-webhooks",
    feature = "testing"
))]

mod support;

use std::convert::Infallible;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use support::*;
use tokio::sync::Semaphore;
use tower::{ServiceBuilder, ServiceExt};
use webhook_receiver::chirp::{self, ChirpEvent, MessageStatus};
use webhook_receiver::json::{JsonEvent, JsonFormat};
use webhook_receiver::testing::{hmac_sha256_request, standard_webhooks_request, unix_now};
use webhook_receiver::verify::{HmacSha256, StandardWebhooks};
use webhook_receiver::{ResponseBody, Webhooks};

/// What axum's `route_service` and any tower stack need of the receiver.
fn assert_mountable<S>(_: &S)
where
    S: tower::Service<Request<Body>, Response = http::Response<ResponseBody>, Error = Infallible>
        + Clone
        + Send
        + Sync
        + 'static,
    S::Future: Send + 'static,
{
}

#[tokio::test]
async fn mounts_on_an_axum_route_and_inside_a_tower_stack() {
    let rec = Recorder::default();
    let (webhooks, dispatcher) = stack(&rec);
    assert_mountable(&webhooks);

    let app = axum::Router::new().route_service(URI, webhooks.clone());
    let res = app.oneshot(chirp_request(delivered("m1"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    // Wrapped in an ordinary tower stack (a timeout and a concurrency limit outside).
    let stack = ServiceBuilder::new()
        .timeout(Duration::from_secs(5))
        .concurrency_limit(16)
        .service(webhooks.clone());
    let res = stack.oneshot(chirp_request(delivered("m2"))).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);

    dispatcher.drain(Duration::from_secs(10)).await.unwrap();
    let mut ids: Vec<String> = rec
        .seen()
        .into_iter()
        .map(|s| match s.item {
            webhook_receiver::event::Received::Event(ChirpEvent::SmsDelivered(m)) => m.id,
            other => panic!("{other:?}"),
        })
        .collect();
    ids.sort();
    assert_eq!(ids, ["m1", "m2"]);
}

#[cfg(feature = "axum")]
#[tokio::test]
async fn router_serves_the_receiver_on_its_path_only() {
    let rec = Recorder::default();
    let (webhooks, _d) = stack(&rec);
    let app: axum::Router = axum::Router::new().merge(webhooks.router(URI));
    let res = app
        .clone()
        .oneshot(chirp_request(delivered("r1")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let elsewhere = Request::post("/other")
        .header("content-type", "application/json")
        .header("x-webhook-secret", SECRET)
        .body(Body::from(delivered("r2")))
        .unwrap();
    assert_eq!(
        app.oneshot(elsewhere).await.unwrap().status(),
        StatusCode::NOT_FOUND
    );
    rec.wait_for(1).await;
}

/// A generic-format body of about `len` bytes.
fn generic_body(id: &str, len: usize) -> String {
    format!(
        r#"{{"id":"{id}","type":"user.created","data":{{"id":"u","pad":"{}"}}}}"#,
        "a".repeat(len)
    )
}

#[derive(Debug, Clone, serde::Deserialize)]
enum AppEvent {
    #[serde(rename = "user.created")]
    UserCreated(#[allow(dead_code)] serde_json::Value),
}

#[tokio::test]
async fn one_body_limit_feeds_the_signature_layer_and_the_receiver() {
    const SECRET: &str = "hmac-secret";
    const SW_KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let big = 1536 * 1024; // over the default 1 MiB
    let limit = 2 * 1024 * 1024;

    let hmac = |limit: Option<usize>| {
        let b = Webhooks::builder(
            JsonFormat::<AppEvent>::new(),
            HmacSha256::new([SECRET]).unwrap(),
        )
        .on_group("*", |_e: JsonEvent<AppEvent>, _ctx| async {});
        match limit {
            Some(n) => b.body_limit(n).spawn(),
            None => b.spawn(),
        }
    };
    let status = |res: http::Response<ResponseBody>| res.status();

    // The default: 1 MiB, refused by the verify layer before the signature is checked.
    let req = hmac_sha256_request::<Body>("/webhook", SECRET, generic_body("e1", big));
    assert_eq!(
        status(hmac(None).oneshot(req).await.unwrap()),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    // Raised once on the builder: both the layer and the receiver accept it.
    let raised = hmac(Some(limit));
    let req = hmac_sha256_request::<Body>("/webhook", SECRET, generic_body("e2", big));
    assert_eq!(
        status(raised.clone().oneshot(req).await.unwrap()),
        StatusCode::OK
    );
    let req = hmac_sha256_request::<Body>("/webhook", SECRET, generic_body("e3", limit + 1));
    assert_eq!(
        status(raised.clone().oneshot(req).await.unwrap()),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    raised.drain(Duration::from_secs(10)).await.unwrap();

    // Standard Webhooks, the same way.
    let standard = Webhooks::builder(
        JsonFormat::<AppEvent>::new().key_header("webhook-id"),
        StandardWebhooks::new([SW_KEY]).unwrap(),
    )
    .on_group("*", |_e: JsonEvent<AppEvent>, _ctx| async {})
    .body_limit(limit)
    .spawn();
    let req = standard_webhooks_request::<Body>(
        "/webhook",
        SW_KEY,
        "msg_big",
        unix_now(),
        generic_body("e4", big),
    );
    assert_eq!(
        status(standard.clone().oneshot(req).await.unwrap()),
        StatusCode::OK
    );
    let req = standard_webhooks_request::<Body>(
        "/webhook",
        SW_KEY,
        "msg_huge",
        unix_now(),
        generic_body("e5", limit + 1),
    );
    assert_eq!(
        status(standard.clone().oneshot(req).await.unwrap()),
        StatusCode::PAYLOAD_TOO_LARGE
    );
    standard.drain(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn drain_runs_every_accepted_event_then_refuses_new_ones() {
    let rec = Recorder::default();
    let (webhooks, _d) = stack(&rec);
    for i in 0..20 {
        assert_accepted(&webhooks, delivered(&format!("d{i}"))).await;
    }
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        rec.seen().len(),
        20,
        "every acknowledged event ran before drain returned"
    );
    let res = webhooks
        .clone()
        .oneshot(chirp_request(delivered("late")))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(res.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn drain_reports_what_is_left_at_its_deadline() {
    let gate = Arc::new(Semaphore::new(0));
    let webhooks = chirp::webhooks([SECRET])
        .unwrap()
        .state(Arc::clone(&gate))
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            let _permit = ctx.state().acquire().await;
        })
        .concurrency_limit(1)
        .spawn();
    for i in 0..3 {
        assert_accepted(&webhooks, delivered(&format!("slow{i}"))).await;
    }
    let left = webhooks
        .drain(Duration::from_millis(100))
        .await
        .unwrap_err();
    assert_eq!((left.running, left.queued), (1, 2));
    gate.add_permits(3);
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test(flavor = "current_thread")]
async fn dropping_the_last_handle_with_queued_events_logs_an_error() {
    let (logs, _guard) = capture_logs();

    let gate = Arc::new(Semaphore::new(0));
    let ran = Arc::new(Mutex::new(0));
    let webhooks = chirp::webhooks([SECRET])
        .unwrap()
        .state((Arc::clone(&gate), Arc::clone(&ran)))
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            let (gate, ran) = ctx.state();
            let _permit = gate.acquire().await;
            *ran.lock().unwrap() += 1;
        })
        .concurrency_limit(1)
        .spawn();
    for i in 0..3 {
        assert_accepted(&webhooks, delivered(&format!("q{i}"))).await;
    }
    let clone = webhooks.clone();
    drop(webhooks);
    let before = logs.text();
    assert!(
        !before.contains("dropped"),
        "a clone is still alive: {before}"
    );
    drop(clone);
    let text = logs.text();
    assert!(
        text.contains("ERROR") && text.contains("dropped without a drain"),
        "{text}"
    );
    assert!(
        text.contains("queued=2") && text.contains("running=1"),
        "{text}"
    );

    // The runtime is still up: the events already accepted still run.
    gate.add_permits(3);
    tokio::time::timeout(Duration::from_secs(10), async {
        while *ran.lock().unwrap() < 3 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("queued events ran after the drop");
}

#[tokio::test(flavor = "current_thread")]
async fn a_drained_receiver_drops_silently() {
    let (logs, _guard) = capture_logs();
    let rec = Recorder::default();
    let (webhooks, dispatcher) = stack(&rec);
    assert_accepted(&webhooks, delivered("x")).await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    drop((webhooks, dispatcher));
    let text = logs.text();
    assert!(!text.contains("ERROR"), "{text}");
}

#[tokio::test]
async fn state_reaches_the_handlers_registered_after_it() {
    #[derive(Clone, Default)]
    struct App {
        seen: Arc<Mutex<Vec<String>>>,
    }
    let app = App::default();
    let webhooks = chirp::webhooks([SECRET])
        .unwrap()
        .state(app.clone())
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| async move {
            ctx.state().seen.lock().unwrap().push(s.id);
        })
        .spawn();
    assert_accepted(&webhooks, delivered("st1")).await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(*app.seen.lock().unwrap(), ["st1"]);
}
