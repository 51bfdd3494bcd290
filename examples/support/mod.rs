//! What the example receivers share that is specific to them: their environment variables,
//! their stdout line and how they serve. (Not an example itself.)
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

mod admin;
mod serve;
mod store;
// Not every example uses every item.
#[allow(unused_imports)]
pub use admin::serve_admin;
#[allow(unused_imports)]
pub use serve::{IdleAcceptor, Timeouts, serve, with_request_timeout};
pub use store::AnyStore;

use std::io::Write;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use webhook_receiver::allowlist::{IpAllowlist, IpAllowlistLayer};
use webhook_receiver::dispatch::{DeadLetter, RetryAfter, RetryPolicy};
use webhook_receiver::event::Format;
use webhook_receiver::{BoxError, DedupKey, WebhooksBuilder};

/// Logs to stderr (stdout carries only the JSON lines), filtered by `RUST_LOG` (default `info`).
pub fn init_tracing() {
    tracing_subscriber::fmt()
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .with_env_filter(
            EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")),
        )
        .init();
}

/// `METRICS_ADDR` (e.g. `127.0.0.1:9000`): serves the receiver's metrics (see
/// `webhook_receiver::telemetry`) on `GET /metrics` in the Prometheus text format, with
/// `metrics-exporter-prometheus`. Unset: no exporter, and the metrics cost next to nothing.
/// Call it inside the Tokio runtime.
pub fn init_metrics() -> Result<(), BoxError> {
    let Some(addr) = env_opt::<std::net::SocketAddr>("METRICS_ADDR")? else {
        return Ok(());
    };
    metrics_exporter_prometheus::PrometheusBuilder::new()
        .with_http_listener(addr)
        // Histograms as Prometheus histograms (seconds), not summaries.
        .set_buckets(&[
            0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1.0, 5.0, 30.0,
        ])?
        .install()?;
    tracing::info!(%addr, "metrics on http://{addr}/metrics");
    Ok(())
}

/// The knobs every example receiver reads from the environment.
#[derive(Debug)]
pub struct Config {
    pub addr: std::net::SocketAddr,
    /// `HANDLER_DELAY_MS` and `HANDLER_FAIL_FIRST`: what every handler does besides printing.
    pub behaviour: Behaviour,
    /// `DRAIN_TIMEOUT_SECS` (default 300): how long shutdown waits for accepted events.
    pub drain_timeout: Duration,
    /// `HEADER_TIMEOUT_SECS`, `BODY_TIMEOUT_SECS`, `IDLE_TIMEOUT_SECS`: see [`serve`].
    pub timeouts: Timeouts,
    concurrency: Option<usize>,
    queue_capacity: Option<usize>,
    queue_bytes: Option<usize>,
    dedup_ttl_secs: Option<u64>,
    dedup_capacity: Option<u64>,
    retry_after_secs: Option<u64>,
    retry_after_max_secs: Option<u64>,
    max_body_bytes: Option<usize>,
    retry_max_attempts: Option<u32>,
    retry_backoff_ms: Option<u64>,
    inbox_path: Option<std::path::PathBuf>,
    /// `REDIS_URL`, `REDIS_PREFIX`, `REDIS_FALLBACK`.
    redis: Option<store::RedisConfig>,
    /// `INBOX=postgres`, `DATABASE_URL`, `INBOX_SCHEMA`, `INBOX_LEASE_SECS`.
    postgres: Option<store::PostgresConfig>,
    /// `ALLOWED_IPS` and `TRUSTED_PROXIES` (comma-separated CIDRs), parsed.
    allowlist: Option<IpAllowlistLayer>,
}

/// What every example handler does before it prints its line: sleeps `delay`
/// (`HANDLER_DELAY_MS`), then fails if its attempt is one of the first `fail_first`
/// (`HANDLER_FAIL_FIRST`), to show retries and dead letters from outside.
#[derive(Debug, Clone, Copy)]
pub struct Behaviour {
    pub delay: Duration,
    pub fail_first: u32,
    /// `HANDLER_SINK=postgres`: each handler inserts `(key, handler)` into the table `handled`
    /// in the Postgres inbox's transaction, and prints its line after the commit.
    pub postgres_sink: bool,
}

impl Config {
    /// Reads `ADDR` (default `default_addr`), `HANDLER_DELAY_MS`, `HANDLER_FAIL_FIRST`,
    /// `WEBHOOK_CONCURRENCY`, `WEBHOOK_QUEUE_CAPACITY`, `WEBHOOK_QUEUE_BYTES`, `DEDUP_TTL_SECS`,
    /// `DEDUP_CAPACITY`, `RETRY_AFTER_SECS`, `RETRY_AFTER_MAX_SECS`, `MAX_BODY_BYTES`,
    /// `RETRY_MAX_ATTEMPTS`, `RETRY_BACKOFF_MS`, `INBOX_PATH`, `INBOX`, `INBOX_VISIBILITY_SECS`,
    /// `DATABASE_URL`, `INBOX_SCHEMA`, `INBOX_LEASE_SECS`, `HANDLER_SINK`,
    /// `REDIS_URL`, `REDIS_PREFIX`, `REDIS_FALLBACK`, `DRAIN_TIMEOUT_SECS`,
    /// `ALLOWED_IPS`, `TRUSTED_PROXIES`, `HEADER_TIMEOUT_SECS`, `BODY_TIMEOUT_SECS`,
    /// `IDLE_TIMEOUT_SECS`.
    pub fn from_env(default_addr: &str) -> Result<Self, BoxError> {
        Ok(Self {
            addr: env_or("ADDR", default_addr.parse()?)?,
            behaviour: Behaviour {
                delay: Duration::from_millis(env_or("HANDLER_DELAY_MS", 0)?),
                fail_first: env_or("HANDLER_FAIL_FIRST", 0)?,
                postgres_sink: match std::env::var("HANDLER_SINK").ok().as_deref().map(str::trim) {
                    None | Some("") => false,
                    Some("postgres") => true,
                    Some(other) => {
                        return Err(format!(
                            "invalid HANDLER_SINK={other:?}: the only sink is `postgres` (with INBOX=postgres)"
                        )
                        .into());
                    }
                },
            },
            drain_timeout: Duration::from_secs(env_or("DRAIN_TIMEOUT_SECS", 300)?),
            timeouts: Timeouts::from_env()?,
            concurrency: env_opt("WEBHOOK_CONCURRENCY")?,
            queue_capacity: env_opt("WEBHOOK_QUEUE_CAPACITY")?,
            queue_bytes: env_opt("WEBHOOK_QUEUE_BYTES")?,
            dedup_ttl_secs: env_opt("DEDUP_TTL_SECS")?,
            dedup_capacity: env_opt("DEDUP_CAPACITY")?,
            retry_after_secs: env_opt("RETRY_AFTER_SECS")?,
            retry_after_max_secs: env_opt("RETRY_AFTER_MAX_SECS")?,
            max_body_bytes: env_opt("MAX_BODY_BYTES")?,
            retry_max_attempts: env_opt("RETRY_MAX_ATTEMPTS")?,
            retry_backoff_ms: env_opt("RETRY_BACKOFF_MS")?,
            inbox_path: env_opt("INBOX_PATH")?,
            redis: store::RedisConfig::from_env()?,
            postgres: store::PostgresConfig::from_env()?,
            allowlist: allowlist_from_env()?,
        })
    }

    /// `service` behind the IP allowlist of `ALLOWED_IPS` (outermost: checked before the
    /// secret), or as it is when `ALLOWED_IPS` is unset. The peer address is axum's
    /// `ConnectInfo<SocketAddr>`: [`serve`] puts it in every request (with axum-server, serve
    /// `into_make_service_with_connect_info::<SocketAddr>()`).
    pub fn allowlist<S>(&self, service: S) -> tower::util::Either<IpAllowlist<S>, S> {
        tower::ServiceBuilder::new()
            .option_layer(self.allowlist.clone())
            .service(service)
    }

    /// Applies `WEBHOOK_CONCURRENCY`, `WEBHOOK_QUEUE_CAPACITY`, `WEBHOOK_QUEUE_BYTES`,
    /// `DEDUP_TTL_SECS`, `DEDUP_CAPACITY` (the capacity is ignored with an inbox, which
    /// deduplicates itself with the TTL), `RETRY_AFTER_SECS` (a fixed `Retry-After`) or
    /// `RETRY_AFTER_MAX_SECS` (the adaptive one's maximum), `MAX_BODY_BYTES`,
    /// `RETRY_MAX_ATTEMPTS`, `RETRY_BACKOFF_MS` (the library's defaults when unset),
    /// `INBOX_PATH` (a durable inbox in that directory), `REDIS_URL` (dedup on Redis, shared by
    /// replicas) and `INBOX=redis` (the Redis inbox), and prints a dead-letter line for every
    /// event that will not be handled.
    pub async fn apply<F: Format, V, S: Clone + Send + Sync + 'static>(
        &self,
        mut builder: WebhooksBuilder<F, V, S>,
    ) -> Result<WebhooksBuilder<F, V, S, AnyStore>, BoxError> {
        let ttl = self.dedup_ttl_secs.map(Duration::from_secs);
        if let Some(n) = self.concurrency {
            builder = builder.concurrency_limit(n);
        }
        if let Some(n) = self.queue_capacity {
            builder = builder.queue_capacity(n);
        }
        if let Some(bytes) = self.queue_bytes {
            builder = builder.queue_bytes(bytes);
        }
        match (self.retry_after_secs, self.retry_after_max_secs) {
            (Some(_), Some(_)) => {
                return Err(
                    "set RETRY_AFTER_SECS (fixed) or RETRY_AFTER_MAX_SECS (adaptive), not both"
                        .into(),
                );
            }
            (Some(secs), None) => builder = builder.retry_after(Duration::from_secs(secs)),
            (None, Some(max)) => {
                builder = builder.retry_after(RetryAfter::adaptive(Duration::from_secs(max)));
            }
            (None, None) => {}
        }
        if let Some(bytes) = self.max_body_bytes {
            builder = builder.body_limit(bytes);
        }
        let mut policy = RetryPolicy::default();
        if let Some(n) = self.retry_max_attempts {
            policy = policy.max_attempts(n);
        }
        if let Some(ms) = self.retry_backoff_ms {
            policy = policy.initial_backoff(Duration::from_millis(ms));
        }
        if self.behaviour.postgres_sink && self.postgres.is_none() {
            return Err("HANDLER_SINK=postgres needs INBOX=postgres (and DATABASE_URL)".into());
        }
        let store = store::connect(
            self.inbox_path.as_deref(),
            self.redis.as_ref(),
            self.postgres.as_ref(),
            ttl,
            self.dedup_capacity,
        )
        .await?;
        if self.behaviour.postgres_sink {
            store::create_sink(&store).await?;
        }
        Ok(builder.store(store).retry_policy(policy).on_dead_letter(
            |letter: DeadLetter<F::Event>| {
                print_line(&Line {
                    event: letter.event.event_name(),
                    id: letter.id.as_deref(),
                    key: Some(letter.key),
                    tenant: None,
                    handler: letter.handler.as_deref(),
                    attempt: None,
                    dead_letter: Some(true),
                    attempts: Some(letter.attempts),
                    reason: Some(letter.reason.as_str()),
                });
            },
        ))
    }
}

/// `ALLOWED_IPS` (comma-separated CIDRs or addresses: only those clients may deliver, others get
/// 403) and `TRUSTED_PROXIES` (the proxies whose `X-Forwarded-For` names the client). An empty
/// entry (`a,,b`) or a bad network is an error, not skipped.
///
/// Unset, `ALLOWED_IPS` means no allowlist. Set but blank (`""` or spaces, as a template leaves
/// an unfilled variable) it is an error: taking it as "off" would open the receiver to every
/// address without a word, while a typo in a list stops the start. A blank `TRUSTED_PROXIES` is
/// "no proxy trusted", the safe reading (it can refuse more clients, never let more in).
fn allowlist_from_env() -> Result<Option<IpAllowlistLayer>, BoxError> {
    let list = |name: &str| -> Option<Vec<String>> {
        let v = std::env::var(name).ok().filter(|v| !v.trim().is_empty())?;
        Some(v.split(',').map(|s| s.trim().to_owned()).collect())
    };
    let set = std::env::var_os("ALLOWED_IPS");
    if set.is_some_and(|v| v.to_str().is_some_and(|v| v.trim().is_empty())) {
        return Err(
            "ALLOWED_IPS is set but blank: list the networks allowed to deliver \
                    (comma-separated CIDRs or addresses), or unset it to turn the IP allowlist off"
                .into(),
        );
    }
    let trusted = list("TRUSTED_PROXIES");
    let Some(allowed) = list("ALLOWED_IPS") else {
        if trusted.is_some() {
            return Err("TRUSTED_PROXIES is set but ALLOWED_IPS is not".into());
        }
        return Ok(None);
    };
    let mut layer = IpAllowlistLayer::new(&allowed)
        .map_err(|e| format!("invalid ALLOWED_IPS: {e}"))?
        // The examples' default features do not include this crate's `axum` feature (which
        // reads `ConnectInfo` itself), so read it here.
        .peer_addr_with(|ext| {
            ext.get::<axum::extract::ConnectInfo<std::net::SocketAddr>>()
                .map(|info| info.0.ip())
        });
    if let Some(trusted) = &trusted {
        layer = layer
            .trusted_proxies(trusted)
            .map_err(|e| format!("invalid TRUSTED_PROXIES: {e}"))?;
    }
    tracing::info!(?allowed, trusted_proxies = ?trusted.unwrap_or_default(), "IP allowlist on");
    Ok(Some(layer))
}

/// What every example handler does: sleeps `HANDLER_DELAY_MS` (if any); fails attempts up to
/// `HANDLER_FAIL_FIRST`; with `HANDLER_SINK=postgres`, inserts its row into `handled` in the
/// inbox's transaction (see [`store::sink`]); else (or once that committed) prints one JSON
/// line on stdout (with `"attempt"`) and flushes.
pub async fn emit(
    ctx: &webhook_receiver::dispatch::EventContext<Behaviour>,
    mut line: Line<'_>,
) -> Result<(), BoxError> {
    let (behaviour, attempt) = (*ctx.state(), ctx.attempt());
    if !behaviour.delay.is_zero() {
        tokio::time::sleep(behaviour.delay).await;
    }
    if attempt <= behaviour.fail_first {
        return Err(format!(
            "HANDLER_FAIL_FIRST={}: attempt {attempt} fails on purpose",
            behaviour.fail_first
        )
        .into());
    }
    line.attempt = Some(attempt);
    if behaviour.postgres_sink {
        let handler = line.handler.unwrap_or(line.event);
        if !store::sink(ctx, handler).await? {
            // An earlier run committed this handler's row (and printed its line, unless its
            // process died between the commit and the print).
            return Ok(());
        }
    }
    print_line(&line);
    Ok(())
}

/// Prints one JSON line on stdout and flushes.
fn print_line(line: &Line<'_>) {
    // The whole line is built first, then written with one `write(2)`: stdout is line-buffered,
    // and writing a complete line through it goes straight out, flushed.
    let mut buf = Vec::with_capacity(192);
    serde_json::to_writer(&mut buf, line).expect("a line serializes");
    buf.push(b'\n');
    // A closed stdout must not take the receiver down; the event was already acknowledged.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&buf).and_then(|()| out.flush());
}

/// One stdout line: `{"event": .., "id": .., "key": .., "handler": .., "attempt": n}` for a
/// successful handler run, `{.., "dead_letter": true, "attempts": n, "reason": ..}` for an event
/// that will not be handled (absent fields omitted).
#[derive(serde::Serialize, Default)]
pub struct Line<'a> {
    pub event: &'a str,
    pub id: Option<&'a str>,
    /// The dedup key, as hex.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "display")]
    pub key: Option<DedupKey>,
    /// The tenant the request was verified for (`tenant_receiver`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tenant: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempt: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub dead_letter: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attempts: Option<u32>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub reason: Option<&'a str>,
}

fn display<S: serde::Serializer>(key: &Option<DedupKey>, s: S) -> Result<S::Ok, S::Error> {
    match key {
        Some(key) => s.collect_str(key),
        None => s.serialize_none(),
    }
}

/// Comma-separated secrets from `var`; when unset (or blank), a random development secret
/// (formatted by `format`) printed on stderr with a warning. An empty entry (`a,,b`, a trailing
/// comma) is an error: a typo must not silently shrink the list.
pub fn secrets_from_env(
    var: &str,
    format: impl Fn(&[u8; 24]) -> String,
) -> Result<Vec<String>, BoxError> {
    let value = std::env::var(var).unwrap_or_default();
    if !value.trim().is_empty() {
        let list: Vec<String> = value.split(',').map(|s| s.trim().to_owned()).collect();
        if let Some(i) = list.iter().position(String::is_empty) {
            return Err(
                format!("invalid {var}: secret #{i} of the comma-separated list is empty").into(),
            );
        }
        return Ok(list);
    }
    // From the operating system's CSPRNG: a development secret still authenticates.
    let mut random = [0u8; 24];
    getrandom::fill(&mut random).map_err(|e| format!("{var}: no OS randomness: {e}"))?;
    let dev = format(&random);
    eprintln!("WARNING: {var} is not set; using a generated development secret:");
    eprintln!("WARNING:   {var}={dev}");
    Ok(vec![dev])
}

fn env_opt<T: std::str::FromStr>(name: &str) -> Result<Option<T>, BoxError>
where
    T::Err: std::fmt::Display,
{
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .map(Some)
            .map_err(|e| format!("invalid {name}={v:?}: {e}").into()),
        _ => Ok(None),
    }
}

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> Result<T, BoxError>
where
    T::Err: std::fmt::Display,
{
    Ok(env_opt(name)?.unwrap_or(default))
}
