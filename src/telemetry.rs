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
//!
//! At the usual `info` level nothing is logged per request: failed attempts are `warn` (retried)
//! or `error` (last attempt), dead letters `error`, a full queue `warn`. Enable the spans with
//! e.g. `RUST_LOG=webhook_receiver=debug`.
//!
//! # Metrics
//!
//! Recorded through the `metrics` facade: the library installs no exporter. With no recorder
//! installed they cost a few nanoseconds each (every label is a static string or an `Arc`
//! already held; measured with `cargo bench --bench pipeline`, see benches/README.md). Install
//! one in your binary, e.g. `metrics-exporter-prometheus`, as the examples do with
//! `METRICS_ADDR`.
//!
//! | name | type | labels | what |
//! |---|---|---|---|
//! | `webhook_deliveries_total` | counter | `outcome` (`accepted`, `duplicate`, `rejected`), `status`, `reason` | requests answered, by outcome; `reason` is the rejection's `code` (`invalid_credentials`, `queue_full`, ...), empty when accepted |
//! | `webhook_handler_attempts_total` | counter | `handler`, `result` (`ok`, `error`, `panic`, `timeout`, `no_payload`) | handler attempts, by how they ended |
//! | `webhook_handler_retries_total` | counter | `handler` | failed attempts that will be retried |
//! | `webhook_dead_letters_total` | counter | `reason` (`exhausted`, `no_payload`, `no_handler`, `shutdown`, `runtime_dropped`) | events (or a handler's share of one) that will not be handled |
//! | `webhook_queue_wait_seconds` | histogram | | from the 200 (or a retry's due time) to the start of the job |
//! | `webhook_handler_duration_seconds` | histogram | `handler` | one attempt, however it ended |
//! | `webhook_queue_depth` | gauge | | accepted events waiting for a handler |
//! | `webhook_retries_waiting` | gauge | | handlers waiting for their next attempt |
//! | `webhook_handlers_running` | gauge | | jobs being run |
//! | `webhook_dedup_keys` | gauge | | keys the default store (moka's own count, which it updates lazily: approximate) or the durable inbox (exact) remembers |
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
pub const DELIVERIES: &str = "webhook_deliveries_total";
/// Counter: handler attempts, by `handler` and `result`.
pub const HANDLER_ATTEMPTS: &str = "webhook_handler_attempts_total";
/// Counter: failed attempts that will be retried, by `handler`.
pub const HANDLER_RETRIES: &str = "webhook_handler_retries_total";
/// Counter: dead letters, by `reason`.
pub const DEAD_LETTERS: &str = "webhook_dead_letters_total";
/// Histogram: seconds from the 200 (or a retry's due time) to the start of the job.
pub const QUEUE_WAIT: &str = "webhook_queue_wait_seconds";
/// Histogram: seconds one handler attempt took, by `handler`.
pub const HANDLER_DURATION: &str = "webhook_handler_duration_seconds";
/// Gauge: accepted events waiting for a handler.
pub const QUEUE_DEPTH: &str = "webhook_queue_depth";
/// Gauge: handlers waiting for their next attempt.
pub const RETRIES_WAITING: &str = "webhook_retries_waiting";
/// Gauge: jobs being run.
pub const HANDLERS_RUNNING: &str = "webhook_handlers_running";
/// Gauge: keys remembered by the default store or the durable inbox.
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

/// An accepted request (`duplicate`: a redelivery): counted, and recorded on the delivery span.
pub(crate) fn accepted(duplicate: bool) {
    let outcome = if duplicate { "duplicate" } else { "accepted" };
    metrics::counter!(DELIVERIES, "outcome" => outcome, "status" => "200", "reason" => "")
        .increment(1);
    let span = tracing::Span::current();
    if !span.is_disabled() {
        span.record("outcome", outcome);
        span.record("status", 200);
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

/// One handler attempt's end: its result, and its duration.
pub(crate) fn attempt(handler: &Arc<str>, result: &'static str, took: Duration) {
    metrics::counter!(HANDLER_ATTEMPTS, "handler" => Arc::clone(handler), "result" => result)
        .increment(1);
    metrics::histogram!(HANDLER_DURATION, "handler" => Arc::clone(handler))
        .record(took.as_secs_f64());
}

/// A failed attempt that will be retried.
pub(crate) fn retried(handler: &Arc<str>) {
    metrics::counter!(HANDLER_RETRIES, "handler" => Arc::clone(handler)).increment(1);
}

/// A dead letter.
pub(crate) fn dead_letter(reason: &'static str) {
    metrics::counter!(DEAD_LETTERS, "reason" => reason).increment(1);
}

/// How long a job waited for a runner.
pub(crate) fn queue_wait(waited: Duration) {
    metrics::histogram!(QUEUE_WAIT).record(waited.as_secs_f64());
}

/// The dispatcher's counts.
pub(crate) fn dispatcher_gauges(queued: usize, retrying: usize, running: usize) {
    metrics::gauge!(QUEUE_DEPTH).set(queued as f64);
    metrics::gauge!(RETRIES_WAITING).set(retrying as f64);
    metrics::gauge!(HANDLERS_RUNNING).set(running as f64);
}

/// Keys the dedup store remembers.
pub(crate) fn dedup_keys(keys: u64) {
    #[allow(clippy::cast_precision_loss)]
    metrics::gauge!(DEDUP_KEYS).set(keys as f64);
}
