//! A multi-tenant receiver: one URL per tenant, `POST /webhooks/{tenant}`, each tenant with its
//! own HMAC secrets looked up per request (`verify::PerTenant`) from a table behind an async
//! lookup that stands in for your database. The generic HMAC-signed format
//! (`{"id", "type", "created_at", "data"}`, header `X-Webhook-Signature` = lowercase hex
//! HMAC-SHA256 of the raw body), as `generic_receiver`.
//!
//! Run with: `TENANT_SECRETS=acme=s1,globex=s2 cargo run --release --example tenant_receiver`
//!
//! Environment (all optional):
//! - `ADDR` (default `127.0.0.1:3005`)
//! - `TENANT_SECRETS`: the table, comma-separated `tenant=secret` entries; `tenant=new|old`
//!   accepts both while the tenant rotates. Unset: tenants `acme` and `globex` with generated
//!   development secrets, printed on stderr
//! - `TENANT_LOOKUP_FAIL=1`: every lookup fails, as if the database were down (503
//!   `secrets_unavailable` with `Retry-After` for every tenant not cached yet)
//! - `TENANT_CACHE_TTL_SECS` (default 300): how long a tenant's secrets are kept after their
//!   lookup, the longest a secret removed from the table would still be accepted
//! - `ALLOWED_IPS`, `TRUSTED_PROXIES`, `HANDLER_DELAY_MS`, `HANDLER_FAIL_FIRST`,
//!   `RETRY_MAX_ATTEMPTS`, `RETRY_BACKOFF_MS`, `WEBHOOK_CONCURRENCY`, `WEBHOOK_QUEUE_CAPACITY`,
//!   `DEDUP_TTL_SECS`, `DEDUP_CAPACITY`, `RETRY_AFTER_SECS`, `RETRY_AFTER_MAX_SECS`,
//!   `MAX_BODY_BYTES`, `INBOX_PATH`, `REDIS_URL`, `REDIS_PREFIX`, `REDIS_FALLBACK`, `INBOX`,
//!   `INBOX_VISIBILITY_SECS`, `INBOX_MAX_BACKLOG`, `DATABASE_URL`, `INBOX_SCHEMA`,
//!   `INBOX_LEASE_SECS`, `DATABASE_MAX_CONNECTIONS`, `HANDLER_SINK`, `METRICS_ADDR`,
//!   `DRAIN_TIMEOUT_SECS`, `HEADER_TIMEOUT_SECS`, `BODY_TIMEOUT_SECS`, `IDLE_TIMEOUT_SECS`,
//!   `RUST_LOG`: as for `chirp_receiver`
//!
//! Every successful handler run prints one JSON line on stdout,
//! `{"event": "<type>", "id": "<top-level id>", "key": "<dedup key>", "tenant": "<tenant>",
//! "attempt": n}`: the same id sent to two tenants prints two lines with two keys (the key is
//! scoped by the tenant) and their tenants (`EventContext::tenant`). An unknown tenant is 401 `unknown_tenant`, a failed
//! lookup 503 `secrets_unavailable`. SIGTERM/Ctrl-C drains and exits 0.
//!
//! Sign a request by hand:
//! ```sh
//! body='{"id":"evt_1","type":"user.created","created_at":"2026-01-15T12:30:00Z","data":{"id":"user_123"}}'
//! sig=$(printf '%s' "$body" | openssl dgst -sha256 -hmac s1 -hex | sed 's/.* //')
//! curl -si localhost:3005/webhooks/acme -H 'content-type: application/json' -H "x-webhook-signature: $sig" -d "$body"
//! ```

mod support;

use std::collections::HashMap;
use std::time::Duration;

use http::request::Parts;
use webhook_receiver::dispatch::EventContext;
use webhook_receiver::event::Received;
use webhook_receiver::json::{JsonEvent, JsonFormat};
use webhook_receiver::verify::{HmacSha256, PerTenant, ResolveSecrets, Tenant};
use webhook_receiver::{BoxError, Webhooks};

/// The tenants table, behind an async lookup that stands in for a database query.
#[derive(Debug)]
struct TenantTable {
    rows: HashMap<String, Vec<String>>,
    /// `TENANT_LOOKUP_FAIL=1`: the "database" is down.
    fail: bool,
}

impl ResolveSecrets for TenantTable {
    type Secrets = Vec<String>;

    /// The last path segment of `/webhooks/{tenant}`; what cannot be a tenant name is refused
    /// here, without a lookup.
    fn tenant(&self, request: &Parts) -> Option<Tenant> {
        let name = request.uri.path().strip_prefix("/webhooks/")?;
        let valid = !name.is_empty()
            && name.len() <= 64
            && name
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
        valid.then(|| Tenant::from(name))
    }

    async fn secrets(&self, tenant: &Tenant) -> Result<Option<Vec<String>>, BoxError> {
        // SELECT secret FROM webhook_secrets WHERE tenant = $1 ORDER BY created_at DESC
        tokio::time::sleep(Duration::from_millis(20)).await;
        if self.fail {
            return Err("the tenants database is unavailable (TENANT_LOOKUP_FAIL=1)".into());
        }
        tracing::info!(%tenant, "tenant secrets looked up");
        Ok(self.rows.get(tenant.as_str()).cloned())
    }
}

/// `TENANT_SECRETS=acme=s1,globex=s2|s0`; unset, two tenants with generated secrets (printed
/// on stderr, as the other examples print theirs).
#[allow(clippy::print_stderr)]
fn table_from_env() -> Result<HashMap<String, Vec<String>>, BoxError> {
    let value = std::env::var("TENANT_SECRETS").unwrap_or_default();
    let mut rows = HashMap::new();
    if value.trim().is_empty() {
        for tenant in ["acme", "globex"] {
            let mut random = [0u8; 16];
            getrandom::fill(&mut random).map_err(|e| format!("no OS randomness: {e}"))?;
            let secret = format!("dev-{}", hex::encode(random));
            eprintln!(
                "WARNING: TENANT_SECRETS is not set; tenant {tenant} has the secret {secret}"
            );
            rows.insert(tenant.to_owned(), vec![secret]);
        }
        return Ok(rows);
    }
    for (i, entry) in value.split(',').enumerate() {
        let Some((tenant, secrets)) = entry.trim().split_once('=') else {
            return Err(format!("invalid TENANT_SECRETS: entry #{i} is not tenant=secret").into());
        };
        let secrets: Vec<String> = secrets.split('|').map(|s| s.trim().to_owned()).collect();
        if tenant.trim().is_empty() || secrets.iter().any(String::is_empty) {
            return Err(format!(
                "invalid TENANT_SECRETS: entry #{i} has an empty tenant or secret"
            )
            .into());
        }
        if rows.insert(tenant.trim().to_owned(), secrets).is_some() {
            return Err(format!("invalid TENANT_SECRETS: tenant {tenant} is listed twice").into());
        }
    }
    Ok(rows)
}

type Ev = JsonEvent<serde_json::Value>;

#[tokio::main]
async fn main() -> Result<(), BoxError> {
    support::init_tracing();
    support::init_metrics()?;
    let config = support::Config::from_env("127.0.0.1:3005")?;
    let rows = table_from_env()?;
    let fail = std::env::var("TENANT_LOOKUP_FAIL").is_ok_and(|v| v.trim() == "1");
    let ttl = std::env::var("TENANT_CACHE_TTL_SECS")
        .ok()
        .map(|v| v.trim().parse::<u64>())
        .transpose()
        .map_err(|e| format!("invalid TENANT_CACHE_TTL_SECS: {e}"))?
        .map_or(Duration::from_secs(300), Duration::from_secs);
    let mut tenants: Vec<&String> = rows.keys().collect();
    tenants.sort();
    tracing::info!(?tenants, lookup_fails = fail, "tenants table loaded");

    // Each tenant's HmacSha256 is built from its row when first needed, and kept for `ttl`.
    let verifier = PerTenant::new(TenantTable { rows, fail }, |secrets: Vec<String>| {
        HmacSha256::new(secrets)
    })
    .ttl(ttl);
    let webhooks = Webhooks::builder(JsonFormat::<serde_json::Value>::new(), verifier)
        .state(config.behaviour)
        .fallback(|_: Received<Ev>, ctx| emit(ctx));
    let webhooks = config.apply(webhooks).await?.spawn();
    let app =
        axum::Router::new().route_service("/webhooks/{tenant}", config.allowlist(webhooks.clone()));

    let listener = tokio::net::TcpListener::bind(config.addr).await?;
    tracing::info!(addr = %listener.local_addr()?, "tenant receiver on POST /webhooks/{{tenant}} listening");
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

/// One line with the type, the top-level id, the (tenant-scoped) dedup key and the tenant.
async fn emit(ctx: EventContext<support::Behaviour>) -> Result<(), BoxError> {
    let line = support::Line {
        event: ctx.event_name(),
        id: ctx.id(),
        key: Some(ctx.key()),
        tenant: ctx.tenant(),
        ..Default::default()
    };
    support::emit(&ctx, line).await
}
