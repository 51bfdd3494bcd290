//! What the example receivers share that is specific to them: their environment variables and
//! their stdout line. (Not an example itself.)
#![allow(dead_code, unreachable_pub, clippy::print_stderr)]

use std::hash::{BuildHasher, Hasher};
use std::io::Write;
use std::time::Duration;

use tracing_subscriber::EnvFilter;
use webhook_receiver::event::DecodeEvent;
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

/// The knobs every example receiver reads from the environment.
#[derive(Debug)]
pub struct Config {
    pub addr: std::net::SocketAddr,
    /// `HANDLER_DELAY_MS`: every handler sleeps this long first.
    pub handler_delay: Duration,
    /// `DRAIN_TIMEOUT_SECS` (default 300): how long shutdown waits for accepted events.
    pub drain_timeout: Duration,
    concurrency: Option<usize>,
    queue_capacity: Option<usize>,
    dedup_ttl_secs: Option<u64>,
    max_body_bytes: Option<usize>,
}

impl Config {
    /// Reads `ADDR` (default `default_addr`), `HANDLER_DELAY_MS`, `WEBHOOK_CONCURRENCY`,
    /// `WEBHOOK_QUEUE_CAPACITY`, `DEDUP_TTL_SECS`, `MAX_BODY_BYTES`, `DRAIN_TIMEOUT_SECS`.
    pub fn from_env(default_addr: &str) -> Result<Self, BoxError> {
        Ok(Self {
            addr: env_or("ADDR", default_addr.parse()?)?,
            handler_delay: Duration::from_millis(env_or("HANDLER_DELAY_MS", 0)?),
            drain_timeout: Duration::from_secs(env_or("DRAIN_TIMEOUT_SECS", 300)?),
            concurrency: env_opt("WEBHOOK_CONCURRENCY")?,
            queue_capacity: env_opt("WEBHOOK_QUEUE_CAPACITY")?,
            dedup_ttl_secs: env_opt("DEDUP_TTL_SECS")?,
            max_body_bytes: env_opt("MAX_BODY_BYTES")?,
        })
    }

    /// Applies `WEBHOOK_CONCURRENCY`, `WEBHOOK_QUEUE_CAPACITY`, `DEDUP_TTL_SECS` and
    /// `MAX_BODY_BYTES` (the library's defaults when unset).
    pub fn apply<F: DecodeEvent, V, S>(
        &self,
        mut builder: WebhooksBuilder<F, V, S>,
    ) -> WebhooksBuilder<F, V, S> {
        if let Some(n) = self.concurrency {
            builder = builder.concurrency_limit(n);
        }
        if let Some(n) = self.queue_capacity {
            builder = builder.queue_capacity(n);
        }
        if let Some(secs) = self.dedup_ttl_secs {
            builder = builder.dedup_ttl(Duration::from_secs(secs));
        }
        if let Some(bytes) = self.max_body_bytes {
            builder = builder.body_limit(bytes);
        }
        builder
    }
}

/// Sleeps `delay` (if any), then prints one JSON line on stdout and flushes.
pub async fn emit(delay: Duration, line: Line<'_>) {
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    // The whole line is built first, then written with one `write(2)`: stdout is line-buffered,
    // and writing a complete line through it goes straight out, flushed.
    let mut buf = Vec::with_capacity(192);
    serde_json::to_writer(&mut buf, &line).expect("a line serializes");
    buf.push(b'\n');
    // A closed stdout must not take the receiver down; the event was already acknowledged.
    let mut out = std::io::stdout().lock();
    let _ = out.write_all(&buf).and_then(|()| out.flush());
}

/// One stdout line: `{"event": .., "id": .., "key": .., "handler": ..}` (absent fields omitted).
#[derive(serde::Serialize)]
pub struct Line<'a> {
    pub event: &'a str,
    pub id: Option<&'a str>,
    /// The dedup key, as hex.
    #[serde(skip_serializing_if = "Option::is_none", serialize_with = "display")]
    pub key: Option<DedupKey>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub handler: Option<&'a str>,
}

fn display<S: serde::Serializer>(key: &Option<DedupKey>, s: S) -> Result<S::Ok, S::Error> {
    match key {
        Some(key) => s.collect_str(key),
        None => s.serialize_none(),
    }
}

/// Comma-separated secrets from `var`; when unset, a random development secret (formatted by
/// `format`) printed on stderr with a warning.
pub fn secrets_from_env(var: &str, format: impl Fn(&[u8; 24]) -> String) -> Vec<String> {
    let list: Vec<String> = std::env::var(var)
        .unwrap_or_default()
        .split(',')
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect();
    if !list.is_empty() {
        return list;
    }
    let mut random = [0u8; 24];
    for chunk in random.chunks_mut(8) {
        let n = std::collections::hash_map::RandomState::new()
            .build_hasher()
            .finish();
        chunk.copy_from_slice(&n.to_le_bytes());
    }
    let dev = format(&random);
    eprintln!("WARNING: {var} is not set; using a generated development secret:");
    eprintln!("WARNING:   {var}={dev}");
    vec![dev]
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
