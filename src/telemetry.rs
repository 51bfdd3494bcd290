//! What the receiver tells you about itself: `tracing` spans and metrics through the
//! [`metrics`](https://docs.rs/metrics) facade.
//!
//! # Spans
//!
//! - `webhook_delivery` (level `debug`), one per request through the verify layer, with the
//!   fields `event` (type name), `key` (dedup key), `secret` (the index of the secret or
//!   signing key that matched), `outcome` (`accepted`, `duplicate` or `rejected`), `status` and,
//!   for a rejection, `reason` (its `code`).
//! - `webhook_handler` (level `debug`), one per handler attempt, a child of the delivery's span
//!   (so a subscriber shows the whole life of one event, from the request to its last
//!   attempt, though the attempts run after the response), with `handler`, `attempt`, `event`,
//!   `key`, and once it ends `duration_ms` and `error`.
//! - `webhook_dispatch` (level `debug`), one per job a runner takes (an event's handlers, or a
//!   retry of those that failed), with `event`, `key` and `attempt`, around the whole job. It is
//!   a root span (runners are tasks of their own); the handler spans it runs are children of
//!   the delivery's span, not of it.
//!
//! At the usual `info` level nothing is logged per request: failed attempts are `warn` (retried)
//! or `error` (last attempt), dead letters `error`, a full queue `warn`. Enable the spans with
//! e.g. `RUST_LOG=webhook_receiver=debug`.
//!
//! # Metrics
//!
//! Recorded through the `metrics` facade: the library installs no exporter. Install one in
//! your binary, e.g. `metrics-exporter-prometheus`, as the examples do with `METRICS_ADDR`,
//! **before you build the receiver** (or its dispatcher, or a `MokaStore`): the metrics of
//! every request (the 200s' counters, the dispatcher's gauges, the queue wait, the dedup keys)
//! are registered once, when those are built, and kept as handles, so that a request neither
//! builds a metric key nor looks the recorder up; a recorder installed later sees only the
//! rejections, dead letters and handler metrics (each handler registers its own on its first
//! attempt). With no recorder installed, recording through a handle is one branch.
//! Registered at build, the 200s' counters start at zero, which a Prometheus dashboard reads
//! as "none yet" rather than a missing series.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `webhook_deliveries_total` | counter | `outcome` (`accepted`, `duplicate`, `rejected`), `status` (`200`, `400`, `401`, `403`, `405`, `413`, `415`, `503`, or `other`), `reason` | requests answered, by outcome; `reason` is the rejection's `code` (`invalid_credentials`, `queue_full`, `claim_in_flight`, ...), empty when accepted |
//! | `webhook_handler_attempts_total` | counter | `handler`, `result` (`ok`, `error`, `panic`, `timeout`, `no_payload`) | handler attempts, by how they ended |
//! | `webhook_handler_retries_total` | counter | `handler` | failed attempts that will be retried |
//! | `webhook_dead_letters_total` | counter | `reason` (`exhausted`, `no_payload`, `no_handler`, `shutdown`, `runtime_dropped`) | events (or a handler's share of one) that will not be handled |
//! | `webhook_queue_wait_seconds` | histogram | | from the 200 (or a retry's due time) to the start of the job |
//! | `webhook_handler_duration_seconds` | histogram | `handler` | one attempt, however it ended |
//! | `webhook_queue_depth` | gauge | | accepted events waiting for a handler |
//! | `webhook_retries_waiting` | gauge | | handlers waiting for their next attempt |
//! | `webhook_handlers_running` | gauge | | jobs being run |
//! | `webhook_dedup_fallbacks_total` | counter | | claims a [`RedisStore`](crate::store::RedisStore) made in process memory because Redis failed (only with `fallback_to_memory`; the name is [`store::FALLBACKS`](crate::store::FALLBACKS)) |
//! | `webhook_dedup_keys` | gauge | | keys the default store (moka's own count, which it updates lazily: approximate) or the durable inbox (exact) remembers; not recorded by the Redis stores |
//!
//! `handler` is the label the handler was registered with: the event type (`on`), the pattern
//! (`on_group`), or `fallback`.
//!
//! ```
//! // The names, for dashboards and tests.
//! assert_eq!(webhook_receiver::telemetry::DELIVERIES, "webhook_deliveries_total");
//! ```

use std::sync::Arc;
use std::time::Duration;

use http::StatusCode;

use crate::error::Rejection;

/// Counter: requests answered, by `outcome`, `status` and `reason`.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// # use tower::ServiceExt;
/// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap().spawn();
/// let forged = http::Request::post("/").header("x-webhook-secret", "guess").body(String::new()).unwrap();
/// assert_eq!(webhooks.clone().oneshot(forged).await.unwrap().status(), 401);
/// let deliveries = metric(telemetry::DELIVERIES);
/// assert!(deliveries.contains(&(
///     "outcome=rejected,status=401,reason=invalid_credentials".to_owned(),
///     DebugValue::Counter(1),
/// )));
/// // The counters of 200s are registered when the receiver is built: they start at zero.
/// assert!(deliveries.contains(&("outcome=accepted,status=200,reason=".to_owned(), DebugValue::Counter(0))));
/// # webhooks.drain(Duration::from_secs(5)).await.unwrap();
/// # }
/// ```
pub const DELIVERIES: &str = "webhook_deliveries_total";
/// Counter: handler attempts, by `handler` and `result`.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// let handlers = Handlers::<ChirpEvent>::new().on(chirp::SMS_DELIVERED, |_status, _ctx| async {});
/// # let dispatcher = Dispatcher::builder(handlers).spawn();
/// # dispatcher.try_enqueue(event()).unwrap();
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// // Every result's series exists from the handler's first attempt on (at 0 until it happens).
/// let attempts = metric(telemetry::HANDLER_ATTEMPTS);
/// assert_eq!(attempts.len(), 5);
/// assert!(attempts.contains(&(
///     "handler=messages.sms.delivered,result=ok".to_owned(),
///     DebugValue::Counter(1),
/// )));
/// assert!(attempts.contains(&(
///     "handler=messages.sms.delivered,result=error".to_owned(),
///     DebugValue::Counter(0),
/// )));
/// # }
/// ```
pub const HANDLER_ATTEMPTS: &str = "webhook_handler_attempts_total";
/// Counter: failed attempts that will be retried, by `handler`.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// let handlers = Handlers::<ChirpEvent>::new()
///     .retry_policy(RetryPolicy::default().max_attempts(2).initial_backoff(Duration::ZERO))
///     .fallback(|_, _| async { Err::<(), _>(std::io::Error::other("db down")) });
/// # let dispatcher = Dispatcher::builder(handlers).spawn();
/// # dispatcher.try_enqueue(event()).unwrap();
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// // Two attempts: the first one was retried.
/// assert_eq!(metric(telemetry::HANDLER_RETRIES), [("handler=fallback".to_owned(), DebugValue::Counter(1))]);
/// # }
/// ```
pub const HANDLER_RETRIES: &str = "webhook_handler_retries_total";
/// Counter: dead letters, by `reason`.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// let handlers = Handlers::<ChirpEvent>::new(); // no handler for anything
/// # let dispatcher = Dispatcher::builder(handlers).spawn();
/// # dispatcher.try_enqueue(event()).unwrap();
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// assert_eq!(metric(telemetry::DEAD_LETTERS), [("reason=no_handler".to_owned(), DebugValue::Counter(1))]);
/// # }
/// ```
pub const DEAD_LETTERS: &str = "webhook_dead_letters_total";
/// Histogram: seconds from the 200 (or a retry's due time) to the start of the job.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
/// # let dispatcher = Dispatcher::builder(handlers).spawn();
/// # dispatcher.try_enqueue(event()).unwrap();
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// let waits = metric(telemetry::QUEUE_WAIT);
/// assert!(matches!(&waits[..], [(_, DebugValue::Histogram(seconds))] if seconds.len() == 1));
/// # }
/// ```
pub const QUEUE_WAIT: &str = "webhook_queue_wait_seconds";
/// Histogram: seconds one handler attempt took, by `handler`.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {
///     tokio::time::sleep(Duration::from_millis(20)).await;
/// });
/// # let dispatcher = Dispatcher::builder(handlers).spawn();
/// # dispatcher.try_enqueue(event()).unwrap();
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// let [(labels, DebugValue::Histogram(seconds))] = &metric(telemetry::HANDLER_DURATION)[..] else { panic!() };
/// assert_eq!((labels.as_str(), seconds.len()), ("handler=fallback", 1));
/// assert!(*seconds[0] >= 0.02);
/// # }
/// ```
pub const HANDLER_DURATION: &str = "webhook_handler_duration_seconds";
/// Gauge: accepted events waiting for a handler.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
/// let dispatcher = Dispatcher::builder(handlers).concurrency_limit(1).spawn();
/// dispatcher.try_enqueue(event()).unwrap(); // runs
/// dispatcher.try_enqueue(event()).unwrap(); // waits
/// assert_eq!(metric(telemetry::QUEUE_DEPTH), [(String::new(), DebugValue::Gauge(1.0.into()))]);
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// # }
/// ```
pub const QUEUE_DEPTH: &str = "webhook_queue_depth";
/// Gauge: handlers waiting for their next attempt.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// let handlers = Handlers::<ChirpEvent>::new()
///     .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_secs(3600)))
///     .fallback(|_, _| async { Err::<(), _>(std::io::Error::other("db down")) });
/// # let dispatcher = Dispatcher::builder(handlers).spawn();
/// # dispatcher.try_enqueue(event()).unwrap();
/// # while dispatcher.retrying() == 0 { tokio::task::yield_now().await; }
/// assert_eq!(dispatcher.retrying(), 1);
/// assert_eq!(metric(telemetry::RETRIES_WAITING), [(String::new(), DebugValue::Gauge(1.0.into()))]);
/// # dispatcher.drain(Duration::from_millis(10)).await.unwrap_err();
/// # }
/// ```
pub const RETRIES_WAITING: &str = "webhook_retries_waiting";
/// Gauge: jobs being run.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// let handlers = Handlers::<ChirpEvent>::new().fallback(|_, _| async {});
/// let dispatcher = Dispatcher::builder(handlers).spawn();
/// dispatcher.try_enqueue(event()).unwrap();
/// assert_eq!(metric(telemetry::HANDLERS_RUNNING), [(String::new(), DebugValue::Gauge(1.0.into()))]);
/// # dispatcher.drain(Duration::from_secs(5)).await.unwrap();
/// # }
/// ```
pub const HANDLERS_RUNNING: &str = "webhook_handlers_running";
/// Gauge: keys remembered by the default store or the durable inbox.
///
/// ```
/// use metrics_util::debugging::{DebugValue, DebuggingRecorder};
/// use webhook_receiver::telemetry;
/// # use std::time::Duration;
/// # use webhook_receiver::chirp::{self, ChirpEvent};
/// # use webhook_receiver::dispatch::{RetryPolicy}; use webhook_receiver::stack::{Dispatcher, Handlers};
/// # use webhook_receiver::Format;
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let body = br#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// # let event = || webhook_receiver::chirp::Chirp.decode(&http::HeaderMap::new(), body).unwrap();
/// let recorder = DebuggingRecorder::new(); // a test recorder, on this thread only
/// # let snapshotter = recorder.snapshotter();
/// # let _guard = metrics::set_default_local_recorder(&recorder);
/// # // Each metric of that name: its labels (`k=v,k=v`) and value.
/// # let metric = |name: &str| -> Vec<(String, DebugValue)> {
/// #     snapshotter.snapshot().into_vec().into_iter()
/// #         .filter(|(key, ..)| key.key().name() == name)
/// #         .map(|(key, _, _, value)| {
/// #             let labels: Vec<String> = key.key().labels().map(|l| format!("{}={}", l.key(), l.value())).collect();
/// #             (labels.join(","), value)
/// #         })
/// #         .collect()
/// # };
/// use webhook_receiver::{DedupKey, store::MokaStore};
/// let store = MokaStore::new();
/// for id in [b"evt_1", b"evt_2"] {
///     store.len(); // moka counts lazily: let it apply the writes
///     store.claim_now(DedupKey::from_parts(&[id]));
/// }
/// // Approximate for this store: moka applies writes in batches, and counts them then.
/// let keys = metric(telemetry::DEDUP_KEYS);
/// assert!(matches!(&keys[..], [(_, DebugValue::Gauge(n))] if **n >= 1.0 && **n <= 2.0));
/// # }
/// ```
pub const DEDUP_KEYS: &str = "webhook_dedup_keys";

/// The status as a static label.
fn status_label(status: StatusCode) -> &'static str {
    match status.as_u16() {
        200 => "200",
        400 => "400",
        401 => "401",
        403 => "403",
        405 => "405",
        413 => "413",
        415 => "415",
        503 => "503",
        _ => "other",
    }
}

/// A rejected request: counted, and recorded on the delivery span.
pub(crate) fn rejected(rejection: &Rejection) {
    let status = rejection.status();
    metrics::counter!(
        DELIVERIES,
        "outcome" => "rejected",
        "status" => status_label(status),
        "reason" => rejection.code()
    )
    .increment(1);
    let span = tracing::Span::current();
    if !span.is_disabled() {
        span.record("outcome", "rejected");
        span.record("status", status.as_u16());
        span.record("reason", rejection.code());
    }
}

/// The span of one delivery, while the request is handled (disabled unless `debug` is on for
/// this crate).
pub(crate) fn delivery_span() -> tracing::Span {
    tracing::debug_span!(
        "webhook_delivery",
        event = tracing::field::Empty,
        key = tracing::field::Empty,
        secret = tracing::field::Empty,
        outcome = tracing::field::Empty,
        status = tracing::field::Empty,
        reason = tracing::field::Empty,
    )
}

/// How a handler attempt ended, as the `result` label.
pub(crate) const RESULTS: [&str; 5] = ["ok", "error", "panic", "timeout", "no_payload"];

/// One handler's metric handles, registered with the recorder on its first attempt and kept:
/// building a labelled key allocates, so a recorded attempt then costs no allocation (and with
/// no recorder, next to nothing). A recorder installed after a handler's first attempt is not
/// seen by that handler's metrics: install it at startup, as exporters are meant to be.
#[derive(Debug)]
pub(crate) struct HandlerMetrics {
    attempts: [metrics::Counter; 5],
    retries: metrics::Counter,
    duration: metrics::Histogram,
}

impl HandlerMetrics {
    pub(crate) fn new(handler: &Arc<str>) -> Self {
        let attempts = RESULTS.map(|result| {
            metrics::counter!(HANDLER_ATTEMPTS, "handler" => Arc::clone(handler), "result" => result)
        });
        Self {
            attempts,
            retries: metrics::counter!(HANDLER_RETRIES, "handler" => Arc::clone(handler)),
            duration: metrics::histogram!(HANDLER_DURATION, "handler" => Arc::clone(handler)),
        }
    }

    /// One attempt's end: its result (an index into [`RESULTS`]) and its duration.
    pub(crate) fn attempt(&self, result: usize, took: Duration) {
        self.attempts[result].increment(1);
        self.duration.record(took.as_secs_f64());
    }

    /// A failed attempt that will be retried.
    pub(crate) fn retried(&self) {
        self.retries.increment(1);
    }
}

/// A dead letter.
pub(crate) fn dead_letter(reason: &'static str) {
    metrics::counter!(DEAD_LETTERS, "reason" => reason).increment(1);
}

/// The dispatcher's gauges, registered once, when the dispatcher is built: a `metrics::gauge!`
/// call builds and hashes its key and looks the recorder up each time, a handle does neither
/// (with no recorder installed, a set is one branch). Per attempt, with no recorder, the
/// macro calls took 82 ns and the handles 6.4 ns (`cargo bench --bench pipeline -- telemetry`).
#[derive(Debug)]
pub(crate) struct DispatcherMetrics {
    queue_depth: metrics::Gauge,
    retries_waiting: metrics::Gauge,
    handlers_running: metrics::Gauge,
}

impl DispatcherMetrics {
    pub(crate) fn new() -> Self {
        Self {
            queue_depth: metrics::gauge!(QUEUE_DEPTH),
            retries_waiting: metrics::gauge!(RETRIES_WAITING),
            handlers_running: metrics::gauge!(HANDLERS_RUNNING),
        }
    }

    #[allow(clippy::cast_precision_loss)]
    pub(crate) fn gauges(&self, queued: usize, retrying: usize, running: usize) {
        self.queue_depth.set(queued as f64);
        self.retries_waiting.set(retrying as f64);
        self.handlers_running.set(running as f64);
    }
}

/// The queue-wait histogram (how long a job waited for a runner), registered once, when the
/// dispatcher is built.
pub(crate) fn queue_wait() -> metrics::Histogram {
    metrics::histogram!(QUEUE_WAIT)
}

/// The two delivery counters every accepted request increments, registered once, when the
/// service is built (the rejections' counters, by status and reason, are looked up when one
/// happens).
#[derive(Debug)]
pub(crate) struct DeliveryMetrics {
    accepted: metrics::Counter,
    duplicate: metrics::Counter,
}

impl DeliveryMetrics {
    pub(crate) fn new() -> Self {
        let counter = |outcome: &'static str| metrics::counter!(DELIVERIES, "outcome" => outcome, "status" => "200", "reason" => "");
        Self {
            accepted: counter("accepted"),
            duplicate: counter("duplicate"),
        }
    }

    /// Counts a 200 and records its outcome on the delivery's span.
    pub(crate) fn accepted(&self, duplicate: bool) {
        let (counter, outcome) = if duplicate {
            (&self.duplicate, "duplicate")
        } else {
            (&self.accepted, "accepted")
        };
        counter.increment(1);
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("outcome", outcome);
            span.record("status", 200);
        }
    }
}

/// Keys the dedup store remembers (the durable inbox's count, set after each commit).
#[cfg(feature = "durable")]
pub(crate) fn dedup_keys(keys: u64) {
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(DEDUP_KEYS).set(keys as f64);
}

/// `webhook_dedup_keys`, for a store that sets it on every new key (registered once, when the
/// store is built).
pub(crate) fn dedup_keys_gauge() -> metrics::Gauge {
    metrics::gauge!(DEDUP_KEYS)
}
