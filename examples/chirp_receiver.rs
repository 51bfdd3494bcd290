//! A Chirp webhook receiver: verify, dedup, typed events, handlers after the 200.
//!
//! Run with: `cargo run --release --example chirp_receiver`
//!
//! Environment (all optional):
//! - `ADDR` (default `127.0.0.1:3000`)
//! - `CHIRP_WEBHOOK_SECRET`: accepted `X-Webhook-Secret` values, comma-separated (rotation);
//!   unset, a random development secret is generated and printed on stderr
//! - `HANDLER_DELAY_MS` (default 0): every handler sleeps this long first
//! - `HANDLER_FAIL_FIRST` (default 0): every handler fails its first N attempts of every
//!   event, to see retries and dead letters from outside
//! - `RETRY_MAX_ATTEMPTS` (default 5), `RETRY_BACKOFF_MS` (default 1000): the handlers' retry
//!   policy (attempts in all; the first backoff, doubling after each failure)
//! - `WEBHOOK_CONCURRENCY`, `WEBHOOK_QUEUE_CAPACITY`, `DEDUP_TTL_SECS`, `DEDUP_CAPACITY`,
//!   `MAX_BODY_BYTES`: the library's defaults when unset (64, 1024, 86400, 1000000, 1048576)
//! - `RETRY_AFTER_SECS`: a fixed `Retry-After` on every 503; `RETRY_AFTER_MAX_SECS`: the
//!   maximum of the adaptive one (the default, computed from the backlog, at most 60 s)
//! - `METRICS_ADDR` (e.g. `127.0.0.1:9000`): serves Prometheus metrics on `GET /metrics`
//! - `INBOX_PATH`: a directory; turns on the durable inbox there (build with
//!   `--features durable`): every accepted event is fsync'd before its 200 and survives a crash
//!   or `kill -9`; the next start runs what was left (at least once)
//! - `REDIS_URL` (e.g. `redis://127.0.0.1:6379`; `scripts/redis.sh` starts one): dedup on Redis,
//!   shared by every replica given the same URL (build with `--features redis`; Redis 7.0 or
//!   later); `REDIS_PREFIX` (default `webhook:dedup:`): its keys' prefix; `REDIS_FALLBACK=memory`:
//!   while Redis is down, dedup in process instead of answering 503 (a redelivery to another
//!   replica may then run again). `DEDUP_TTL_SECS` applies to it too
//! - `INBOX=redis` (with `REDIS_URL`; `--features redis`): the Redis inbox instead: every
//!   accepted event is in a Redis Stream before its 200, and every replica given the same
//!   `REDIS_URL` runs events from it; a replica killed with events in hand loses none, the others
//!   take them over once idle for `INBOX_VISIBILITY_SECS` (default 30); `INBOX_MAX_BACKLOG`
//!   (default 100,000; 0: none): events the stream may hold not done, 503 past it
//! - `INBOX=postgres` with `DATABASE_URL` (`postgres://user@host/db`; `--features postgres`;
//!   PostgreSQL 12 or later): the Postgres inbox instead: every accepted event is committed to
//!   the database (tables in `INBOX_SCHEMA`, default `webhook_inbox`, created at start) before
//!   its 200, and every replica given the same database runs events from it; a replica killed
//!   with events in hand loses none, the others claim them once their lease
//!   (`INBOX_LEASE_SECS`, default 30) expires; `INBOX_MAX_BACKLOG` (default 100,000; 0: none):
//!   events accepted and not done, 503 past it. `DATABASE_MAX_CONNECTIONS` (default 32): the pool
//! - `HANDLER_SINK=postgres` (with `INBOX=postgres`): each handler also inserts one row
//!   `(key, handler)` into the table `handled` (created at start; no unique constraint) in the
//!   inbox's transaction (`PostgresInbox::transactional`), and prints its line only after that
//!   commit, and only in the run that committed it: a handler that ran before a crash and
//!   committed is not run again
//! - `ALLOWED_IPS`: comma-separated CIDRs or addresses (`10.0.0.0/8,2001:db8::/32`); when set,
//!   only those clients may deliver (others get 403 `ip_not_allowed`, before the secret is
//!   checked); `TRUSTED_PROXIES`: the proxies (CIDRs) whose `X-Forwarded-For` names the client,
//!   read right to left
//! - `HEADER_TIMEOUT_SECS` (default 10): a connection that has not sent a complete request head
//!   (request line and headers) this long after it opened, or after its previous response, is
//!   closed; so is one that sent nothing at all
//! - `BODY_TIMEOUT_SECS` (default 30): a request not answered this long after its head was in
//!   (its body still coming) is answered 408 and its connection closed
//! - `IDLE_TIMEOUT_SECS` (default 60): a connection that moved no byte either way this long is
//!   closed (a client that stopped reading its answer); an idle kept-alive connection is closed
//!   by `HEADER_TIMEOUT_SECS` first, if that is shorter
//! - `ADMIN_ADDR` (e.g. `127.0.0.1:9100`; build with `--features admin` and a store that keeps
//!   events, `INBOX_PATH`, `INBOX=redis` or `INBOX=postgres`): serves the operator API (`webhook_receiver::admin`:
//!   list, inspect, replay, delete and prune the inbox's events, dead letters included) there,
//!   behind `Authorization: Bearer <ADMIN_TOKEN>`; it refuses to start without an `ADMIN_TOKEN`
//!   of at least 16 characters. The `webhook-receiver` tool (`--features cli`) talks to it with
//!   `--admin-url http://127.0.0.1:9100 --token ...`
//! - `DRAIN_TIMEOUT_SECS` (default 300), `RUST_LOG` (default `info`; logs go to stderr)
//!
//! Route `POST /webhooks/chirp`. Every successful handler run prints exactly one JSON line on
//! stdout, `{"event": "<event type>", "id": "<data.id>", "key": "<dedup key>", "handler":
//! "<which>", "attempt": n}`. An event that will not be handled (retries used up, drain deadline
//! passed) prints one line `{"event", "id", "key", "handler", "dead_letter": true, "attempts": n,
//! "reason": ".."}`; nothing else goes to stdout. SIGTERM or Ctrl-C stops accepting, gives open
//! connections `BODY_TIMEOUT_SECS` to finish their request (idle ones close at once), closes the
//! rest, runs every accepted event's handlers (retries included), and exits 0; if `DRAIN_TIMEOUT_SECS` passes
//! first, what is left is dead-lettered (one line each) and the exit status is 1.

mod support;

use webhook_receiver::chirp::{self, ChirpEvent, InboundMessage, MessageStatus};
use webhook_receiver::dispatch::EventContext;
use webhook_receiver::event::Received;

#[tokio::main]
async fn main() -> Result<(), webhook_receiver::BoxError> {
    support::init_tracing();
    support::init_metrics()?;
    let config = support::Config::from_env("127.0.0.1:3000")?;
    let secrets = support::secrets_from_env("CHIRP_WEBHOOK_SECRET", |r| {
        format!("dev-{}", hex::encode(r))
    })?;

    // Handlers per event type, with typed payloads; they run after the 200.
    let webhooks = chirp::webhooks(&secrets)?
        .state(config.behaviour)
        .on(chirp::SMS_RECEIVED, |m: InboundMessage, ctx| {
            emit(ctx, "sms_received", Some(m.id))
        })
        .on(chirp::SMS_SENT, |s: MessageStatus, ctx| {
            emit(ctx, "sms_status", Some(s.id))
        })
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| {
            emit(ctx, "sms_status", Some(s.id))
        })
        .on(chirp::SMS_FAILED, |s: MessageStatus, ctx| {
            emit(ctx, "sms_status", Some(s.id))
        })
        // A group: every WhatsApp message event.
        .on_group("messages.whatsapp.*", |e: ChirpEvent, ctx| {
            emit(ctx, "whatsapp", e.id().map(str::to_owned))
        })
        // Everything else: templates, contacts, accounts, unknown types, invalid payloads.
        .fallback(|received: Received<ChirpEvent>, ctx| {
            let id = match &received {
                Received::Event(e) => e.id().map(str::to_owned),
                // The decoder read `data.id` (the payload is kept as text).
                Received::Invalid(_) => ctx.id().map(str::to_owned),
            };
            emit(ctx, "fallback", id)
        });
    let webhooks = config.apply(webhooks).await?.spawn();
    let app =
        axum::Router::new().route_service("/webhooks/chirp", config.allowlist(webhooks.clone()));

    // The operator API, on its own address behind a bearer token (`ADMIN_ADDR`, `ADMIN_TOKEN`).
    support::serve_admin(webhooks.store(), webhook_receiver::shutdown_signal()).await?;

    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "chirp receiver listening on POST /webhooks/chirp");
    // Header, body and idle timeouts on every connection; the peer address for `ALLOWED_IPS`.
    support::serve(
        listener,
        app,
        config.timeouts,
        webhook_receiver::shutdown_signal(),
    )
    .await?;
    webhooks
        .drain(config.drain_timeout)
        .await
        .map_err(|timeout| timeout.to_string())?;
    Ok(())
}

async fn emit(
    ctx: EventContext<support::Behaviour>,
    handler: &'static str,
    id: Option<String>,
) -> Result<(), webhook_receiver::BoxError> {
    let line = support::Line {
        event: ctx.event_name(),
        id: id.as_deref(),
        key: Some(ctx.key()),
        handler: Some(handler),
        ..Default::default()
    };
    support::emit(&ctx, line).await
}
