//! Shared test helpers: fixtures, requests, a recording handler set, and a full stack.
#![allow(dead_code, unreachable_pub)]

use std::convert::Infallible;
use std::io::Write;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use http::{Request, Response};
use http_body_util::BodyExt;
use tokio::sync::Notify;
use webhook_receiver::chirp::{self, Chirp, ChirpEvent};
use webhook_receiver::dispatch::{EventContext, HandlerError};
use webhook_receiver::event::Received;
use webhook_receiver::stack::Dispatcher;
use webhook_receiver::verify::SharedSecret;
use webhook_receiver::{ResponseBody, Webhooks, WebhooksBuilder};

#[cfg(all(feature = "durable", feature = "admin"))]
pub mod operator;
#[cfg(feature = "postgres")]
pub mod postgres_server;
pub mod process;
#[cfg(feature = "redis")]
pub mod redis_server;

pub const SECRET: &str = "test-secret-0123456789";
pub const URI: &str = "/webhooks/chirp";

/// Every Chirp fixture: the seeds' payloads, one per event shape, and an unknown event type.
pub const FIXTURES: [&str; 14] = [
    "sms_received",
    "sms_sent",
    "sms_delivered",
    "sms_failed",
    "whatsapp_received",
    "whatsapp_sent",
    "whatsapp_delivered",
    "whatsapp_read",
    "whatsapp_failed",
    "whatsapp_failed_enriched",
    "template_updated",
    "contact_created",
    "account_connected",
    "unknown_event",
];

/// A Chirp fixture from `tests/fixtures/chirp/`.
pub fn fixture(name: &str) -> String {
    let path = format!(
        "{}/tests/fixtures/chirp/{name}.json",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{path}: {e}"))
}

/// A minimal `messages.sms.delivered` body for message `id`.
pub fn delivered(id: &str) -> String {
    format!(r#"{{"event":"messages.sms.delivered","data":{{"id":"{id}","status":"delivered"}}}}"#)
}

/// A POST with the secret and a JSON content type.
pub fn chirp_request(body: impl Into<Bytes>) -> Request<Body> {
    Request::post(URI)
        .header("content-type", "application/json")
        .header("x-webhook-secret", SECRET)
        .body(Body::from(body.into()))
        .unwrap()
}

/// The response body as JSON.
pub async fn json_body<B>(res: Response<B>) -> serde_json::Value
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    serde_json::from_slice(&bytes).unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"))
}

/// Asserts the seeds' error shape and returns the `error` object.
pub async fn error_body<B>(res: Response<B>, status: u16, kind: &str) -> serde_json::Value
where
    B: http_body::Body,
    B::Error: std::fmt::Debug,
{
    assert_eq!(res.status().as_u16(), status);
    assert_eq!(res.headers()["content-type"], "application/json");
    let body = json_body(res).await;
    let err = body["error"].clone();
    assert_eq!(err["type"], kind, "{body}");
    assert!(
        err["message"].as_str().is_some_and(|m| !m.is_empty()),
        "{body}"
    );
    err
}

/// What the handlers saw, in order: (handler label, event kind, dedup key).
#[derive(Clone, Default)]
pub struct Recorder {
    seen: Arc<Mutex<Vec<Seen>>>,
    errors: Arc<Mutex<Vec<(String, String, String)>>>,
    changed: Arc<Notify>,
}

#[derive(Clone, Debug)]
pub struct Seen {
    pub handler: &'static str,
    pub kind: String,
    pub key: String,
    pub item: Received<ChirpEvent>,
}

impl Recorder {
    pub fn record(
        &self,
        handler: &'static str,
        item: Received<ChirpEvent>,
        ctx: &EventContext<Self>,
    ) {
        self.seen.lock().unwrap().push(Seen {
            handler,
            kind: ctx.event_name().to_owned(),
            key: ctx.key().to_string(),
            item,
        });
        self.changed.notify_waiters();
    }

    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap().clone()
    }

    pub fn kinds(&self) -> Vec<String> {
        self.seen().into_iter().map(|s| s.kind).collect()
    }

    pub fn errors(&self) -> Vec<(String, String, String)> {
        self.errors.lock().unwrap().clone()
    }

    /// Waits until `n` handler invocations were recorded (a liveness bound, not a timing check).
    pub async fn wait_for(&self, n: usize) -> Vec<Seen> {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let notified = self.changed.notified();
            if self.seen.lock().unwrap().len() >= n {
                return self.seen();
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                panic!(
                    "timed out waiting for {n} handler calls; saw {:?}",
                    self.kinds()
                );
            }
        }
    }
}

/// A Chirp receiver whose handlers record everything: typed SMS handlers, a WhatsApp group, a
/// fallback, and the error hook.
pub fn recording(rec: &Recorder) -> WebhooksBuilder<Chirp, SharedSecret, Recorder> {
    chirp::webhooks([SECRET])
        .unwrap()
        .state(rec.clone())
        .on(
            chirp::SMS_RECEIVED,
            |m, ctx: EventContext<Recorder>| async move {
                let item = Received::Event(ChirpEvent::SmsReceived(Box::new(m)));
                ctx.state().record("sms_received", item, &ctx);
            },
        )
        .on(
            chirp::SMS_SENT,
            |s, ctx: EventContext<Recorder>| async move {
                let item = Received::Event(ChirpEvent::SmsSent(Box::new(s)));
                ctx.state().record("sms_status", item, &ctx);
            },
        )
        .on(
            chirp::SMS_DELIVERED,
            |s, ctx: EventContext<Recorder>| async move {
                let item = Received::Event(ChirpEvent::SmsDelivered(Box::new(s)));
                ctx.state().record("sms_status", item, &ctx);
            },
        )
        .on(
            chirp::SMS_FAILED,
            |s, ctx: EventContext<Recorder>| async move {
                let item = Received::Event(ChirpEvent::SmsFailed(Box::new(s)));
                ctx.state().record("sms_status", item, &ctx);
            },
        )
        .on_group(
            "messages.whatsapp.*",
            |e, ctx: EventContext<Recorder>| async move {
                ctx.state().record("whatsapp", Received::Event(e), &ctx);
            },
        )
        .fallback(|item, ctx: EventContext<Recorder>| async move {
            ctx.state().record("fallback", item, &ctx);
        })
        .on_error({
            let rec = rec.clone();
            move |e: &HandlerError| {
                rec.errors.lock().unwrap().push((
                    e.event_name.clone(),
                    e.key.to_string(),
                    e.failure.to_string(),
                ));
            }
        })
}

/// The facade's Chirp receiver, as the tests build it.
pub type Stack = Webhooks<Chirp, SharedSecret>;

/// Sends `body` through `stack` (any tower service answering like the receiver) and asserts it
/// was accepted (200).
pub async fn assert_accepted<S>(stack: &S, body: impl Into<Bytes>)
where
    S: tower::Service<Request<Body>, Response = Response<ResponseBody>, Error = Infallible> + Clone,
{
    use tower::ServiceExt;
    let res = stack.clone().oneshot(chirp_request(body)).await.unwrap();
    assert_eq!(res.status(), http::StatusCode::OK);
}

/// The Chirp receiver with recording handlers (and its dispatcher).
pub fn stack(rec: &Recorder) -> (Stack, Dispatcher<ChirpEvent>) {
    stack_with(rec, |b| b)
}

/// The Chirp receiver with recording handlers and builder tweaks (and its dispatcher).
pub fn stack_with(
    rec: &Recorder,
    tweak: impl FnOnce(
        WebhooksBuilder<Chirp, SharedSecret, Recorder>,
    ) -> WebhooksBuilder<Chirp, SharedSecret, Recorder>,
) -> (Stack, Dispatcher<ChirpEvent>) {
    let webhooks = tweak(recording(rec)).spawn();
    let dispatcher = webhooks.dispatcher().clone();
    (webhooks, dispatcher)
}

/// POSTs over a real socket (one HTTP/1.1 connection per request); returns status and body.
pub async fn post(
    addr: std::net::SocketAddr,
    path: &str,
    headers: &[(&str, &str)],
    body: String,
) -> (u16, String) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io).await.unwrap();
    tokio::spawn(conn);
    let mut req = Request::post(path).header("host", addr.to_string());
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let req = req
        .body(http_body_util::Full::new(Bytes::from(body)))
        .unwrap();
    let res = sender.send_request(req).await.unwrap();
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    (status, String::from_utf8_lossy(&bytes).into_owned())
}

/// POSTs a Chirp payload with the test secret over a real socket.
pub async fn post_chirp(addr: std::net::SocketAddr, body: String) -> (u16, String) {
    post(
        addr,
        URI,
        &[
            ("content-type", "application/json"),
            ("x-webhook-secret", SECRET),
        ],
        body,
    )
    .await
}

/// A `tracing` writer that keeps what is written.
#[derive(Clone, Default)]
pub struct Captured(Arc<Mutex<Vec<u8>>>);

impl Write for Captured {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Captured {
    pub fn text(&self) -> String {
        String::from_utf8(self.0.lock().unwrap().clone()).unwrap()
    }
}

/// Captures this thread's `warn` and `error` events until the guard is dropped (the tests run
/// on a current-thread runtime, so the receiver's logs are on this thread).
pub fn capture_logs() -> (Captured, tracing::subscriber::DefaultGuard) {
    let logs = Captured::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt()
        .with_writer(move || writer.clone())
        .with_ansi(false)
        .with_max_level(tracing::Level::WARN)
        .finish();
    (logs, tracing::subscriber::set_default(subscriber))
}
