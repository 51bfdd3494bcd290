//! Secrets per request (`verify::PerTenant`) through the real receiver: one lookup per tenant
//! within the TTL, concurrent first requests sharing one lookup, 503 and 401 that remember
//! nothing and are not cached, rotation, expiry and invalidation, every built-in scheme, and
//! dedup keys scoped by tenant.
#![cfg(all(
    feature = "hmac",
    feature = "standard-webhooks",
    feature = "testing",
    feature = "axum"
))]

mod support;

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use http::request::Parts;
use http::{Request, StatusCode};
use support::{error_body, json_body};
use tower::ServiceExt;
use webhook_receiver::dispatch::EventContext;
use webhook_receiver::event::Received;
use webhook_receiver::json::{JsonEvent, JsonFormat};
use webhook_receiver::testing::{
    hmac_sha256_request, shared_secret_request, standard_webhooks_request, unix_now,
};
use webhook_receiver::verify::{
    HmacSha256, PerTenant, ResolveSecrets, SharedSecret, StandardWebhooks, TENANT_HEADER, Tenant,
    Verified, VerifyRequest,
};
use webhook_receiver::{BoxError, DedupKey, ResponseBody, Webhooks};

/// A tenants table behind an async lookup: counts lookups, can be made to fail or to be slow.
#[derive(Clone, Default)]
struct Db {
    rows: Arc<Mutex<HashMap<String, Vec<String>>>>,
    lookups: Arc<Mutex<HashMap<String, usize>>>,
    fail: Arc<AtomicBool>,
    delay: Duration,
}

impl Db {
    fn with(rows: &[(&str, &[&str])]) -> Self {
        let db = Self::default();
        for (tenant, secrets) in rows {
            db.set(tenant, secrets);
        }
        db
    }

    fn set(&self, tenant: &str, secrets: &[&str]) {
        let secrets = secrets.iter().map(|s| (*s).to_owned()).collect();
        self.rows.lock().unwrap().insert(tenant.to_owned(), secrets);
    }

    fn lookups(&self, tenant: &str) -> usize {
        self.lookups
            .lock()
            .unwrap()
            .get(tenant)
            .copied()
            .unwrap_or(0)
    }

    fn total_lookups(&self) -> usize {
        self.lookups.lock().unwrap().values().sum()
    }
}

impl ResolveSecrets for Db {
    type Secrets = Vec<String>;

    fn tenant(&self, request: &Parts) -> Option<Tenant> {
        let name = request.uri.path().strip_prefix("/webhooks/")?;
        (!name.is_empty() && !name.contains('/')).then(|| Tenant::from(name))
    }

    async fn secrets(&self, tenant: &Tenant) -> Result<Option<Vec<String>>, BoxError> {
        *self
            .lookups
            .lock()
            .unwrap()
            .entry(tenant.to_string())
            .or_default() += 1;
        if !self.delay.is_zero() {
            tokio::time::sleep(self.delay).await;
        }
        if self.fail.load(Ordering::SeqCst) {
            return Err(std::io::Error::other("the tenants database is down").into());
        }
        Ok(self.rows.lock().unwrap().get(tenant.as_str()).cloned())
    }
}

type Ev = JsonEvent<serde_json::Value>;
/// (id, key) per handler run.
type Log = Arc<Mutex<Vec<(String, DedupKey)>>>;

fn receiver<V>(verifier: V, log: &Log) -> Webhooks<JsonFormat<serde_json::Value>, V>
where
    V: VerifyRequest<Body>,
{
    Webhooks::builder(JsonFormat::<serde_json::Value>::new(), verifier)
        .state(Arc::clone(log))
        .fallback(|_: Received<Ev>, ctx: EventContext<Log>| async move {
            let id = ctx.id().unwrap_or_default().to_owned();
            ctx.state().lock().unwrap().push((id, ctx.key()));
        })
        .spawn()
}

fn hmac_per_tenant(db: &Db) -> PerTenant<Db, HmacSha256> {
    PerTenant::new(db.clone(), |secrets: Vec<String>| HmacSha256::new(secrets))
}

fn event(id: &str) -> String {
    format!(
        r#"{{"id":"{id}","type":"user.created","created_at":"2026-01-15T12:30:00Z","data":{{}}}}"#
    )
}

fn signed(tenant: &str, secret: &str, id: &str) -> Request<Body> {
    hmac_sha256_request(&format!("/webhooks/{tenant}"), secret, event(id))
}

async fn post<V: VerifyRequest<Body>>(
    webhooks: &Webhooks<JsonFormat<serde_json::Value>, V>,
    req: Request<Body>,
) -> http::Response<ResponseBody> {
    webhooks.clone().oneshot(req).await.unwrap()
}

async fn drain<V>(webhooks: &Webhooks<JsonFormat<serde_json::Value>, V>) {
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
}

#[tokio::test]
async fn two_tenants_same_event_id_are_both_handled_and_redelivery_is_duplicate() {
    let db = Db::with(&[("acme", &["s1"]), ("globex", &["s2"])]);
    let log = Log::default();
    let webhooks = receiver(hmac_per_tenant(&db), &log);

    let res = post(&webhooks, signed("acme", "s1", "evt_1")).await;
    assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    // The same id for another tenant is another event.
    let res = post(&webhooks, signed("globex", "s2", "evt_1")).await;
    assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    // A redelivery to the same tenant is a duplicate, for both.
    for (tenant, secret) in [("acme", "s1"), ("globex", "s2")] {
        let res = post(&webhooks, signed(tenant, secret, "evt_1")).await;
        let body = json_body(res).await;
        assert_eq!(
            body,
            serde_json::json!({"received": true, "duplicate": true})
        );
    }
    // One tenant's secret does not open another's URL.
    let res = post(&webhooks, signed("acme", "s2", "evt_2")).await;
    error_body(res, 401, "authentication_error").await;
    assert_eq!(webhooks.store().len(), 2);

    drain(&webhooks).await;
    let log = log.lock().unwrap();
    assert_eq!(log.len(), 2, "{log:?}");
    assert!(log.iter().all(|(id, _)| id == "evt_1"));
    assert_ne!(log[0].1, log[1].1, "the keys are scoped by tenant");
    // Neither is the unscoped key: a receiver without tenants keys evt_1 differently.
    assert!(
        log.iter()
            .all(|(_, key)| *key != DedupKey::from_parts(&[b"evt_1"]))
    );
}

#[tokio::test]
async fn the_same_event_without_tenants_keeps_its_unscoped_key() {
    let log = Log::default();
    let webhooks = receiver(HmacSha256::new(["s1"]).unwrap(), &log);
    let res = post(&webhooks, signed("acme", "s1", "evt_1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    drain(&webhooks).await;
    let log = log.lock().unwrap();
    assert_eq!(log[0].1, DedupKey::from_parts(&[b"evt_1"]));
}

#[tokio::test]
async fn resolver_is_called_once_per_tenant_within_the_ttl() {
    let db = Db::with(&[("acme", &["s1"]), ("globex", &["s2"])]);
    let log = Log::default();
    let webhooks = receiver(hmac_per_tenant(&db), &log);

    for i in 0..5 {
        let res = post(&webhooks, signed("acme", "s1", &format!("evt_{i}"))).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    for i in 0..3 {
        let res = post(&webhooks, signed("globex", "s2", &format!("evt_{i}"))).await;
        assert_eq!(res.status(), StatusCode::OK);
    }
    // A bad signature does not cause a lookup either once the tenant is cached.
    let res = post(&webhooks, signed("acme", "wrong", "evt_9")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert_eq!((db.lookups("acme"), db.lookups("globex")), (1, 1));
    drain(&webhooks).await;
    assert_eq!(log.lock().unwrap().len(), 8);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_first_requests_of_a_tenant_share_one_lookup() {
    let mut db = Db::with(&[("acme", &["s1"])]);
    db.delay = Duration::from_millis(300);
    let log = Log::default();
    let webhooks = receiver(hmac_per_tenant(&db), &log);

    let mut tasks = Vec::new();
    for i in 0..16 {
        let webhooks = webhooks.clone();
        tasks.push(tokio::spawn(async move {
            let req = signed("acme", "s1", &format!("evt_{i}"));
            webhooks.oneshot(req).await.unwrap().status()
        }));
    }
    for task in tasks {
        assert_eq!(task.await.unwrap(), StatusCode::OK);
    }
    assert_eq!(db.lookups("acme"), 1);
    drain(&webhooks).await;
    assert_eq!(log.lock().unwrap().len(), 16);
}

#[tokio::test]
async fn lookup_failure_answers_503_with_retry_after_and_remembers_nothing() {
    let db = Db::with(&[("acme", &["s1"])]);
    db.fail.store(true, Ordering::SeqCst);
    let log = Log::default();
    let verifier = hmac_per_tenant(&db).retry_after(Duration::from_secs(7));
    let webhooks = receiver(verifier, &log);

    let res = post(&webhooks, signed("acme", "s1", "evt_1")).await;
    assert_eq!(res.headers()["retry-after"], "7");
    let err = error_body(res, 503, "api_error").await;
    assert_eq!(err["code"], "secrets_unavailable");
    assert!(
        !err["message"].as_str().unwrap().contains("database"),
        "the resolver's error is logged, not sent: {err}"
    );
    assert!(webhooks.store().is_empty(), "no dedup claim");

    // The database is back: the retry is looked up again (the failure was not cached) and is a
    // new event, not a duplicate.
    db.fail.store(false, Ordering::SeqCst);
    let res = post(&webhooks, signed("acme", "s1", "evt_1")).await;
    assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    assert_eq!(db.lookups("acme"), 2);
    drain(&webhooks).await;
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn unknown_tenant_answers_401_and_is_not_cached() {
    let db = Db::with(&[("acme", &["s1"])]);
    let log = Log::default();
    let webhooks = receiver(hmac_per_tenant(&db), &log);

    let res = post(&webhooks, signed("initech", "s3", "evt_1")).await;
    assert_eq!(res.headers()["www-authenticate"], "Webhook");
    let err = error_body(res, 401, "authentication_error").await;
    assert_eq!(err["code"], "unknown_tenant");
    assert!(webhooks.store().is_empty());

    // No tenant in the path: refused without a lookup.
    let res = post(&webhooks, signed("", "s1", "evt_1")).await;
    assert_eq!(
        error_body(res, 401, "authentication_error").await["code"],
        "unknown_tenant"
    );
    assert_eq!(db.total_lookups(), 1);

    // The tenant signs up: its next delivery is accepted (the miss was not remembered).
    db.set("initech", &["s3"]);
    let res = post(&webhooks, signed("initech", "s3", "evt_1")).await;
    assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    assert_eq!(db.lookups("initech"), 2);
    drain(&webhooks).await;
    assert_eq!(log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn invalid_stored_secret_answers_503_and_is_not_cached() {
    let db = Db::with(&[("acme", &[""])]); // an empty secret in the row
    let log = Log::default();
    let webhooks = receiver(hmac_per_tenant(&db), &log);

    let res = post(&webhooks, signed("acme", "", "evt_1")).await;
    assert_eq!(res.headers()["retry-after"], "5");
    let err = error_body(res, 503, "api_error").await;
    assert_eq!(err["code"], "secrets_unavailable");
    assert!(webhooks.store().is_empty());

    db.set("acme", &["s1"]);
    let res = post(&webhooks, signed("acme", "s1", "evt_1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(db.lookups("acme"), 2);
}

#[tokio::test]
async fn rotation_accepts_every_secret_of_the_tenant() {
    let db = Db::with(&[("acme", &["s1-new", "s1-old"])]);
    let verifier = Arc::new(hmac_per_tenant(&db));

    let verify = |secret: &str, id: &str| {
        let verifier = Arc::clone(&verifier);
        let req = hmac_sha256_request::<Body>("/webhooks/acme", secret, event(id));
        async move { verifier.verify(req, 1 << 20).await }
    };
    // The old secret still works while the sender rotates; the extensions say which matched
    // and for which tenant.
    let req = verify("s1-old", "evt_1").await.unwrap();
    assert_eq!(req.extensions().get::<Verified>(), Some(&Verified::new(1)));
    assert_eq!(
        req.extensions().get::<Tenant>(),
        Some(&Tenant::from("acme"))
    );
    let req = verify("s1-new", "evt_2").await.unwrap();
    assert_eq!(req.extensions().get::<Verified>(), Some(&Verified::new(0)));
    assert!(verify("s1-older", "evt_3").await.is_err());
    assert_eq!(db.lookups("acme"), 1);
}

#[tokio::test]
async fn cached_scheme_expires_after_the_ttl() {
    let db = Db::with(&[("acme", &["s1"])]);
    let log = Log::default();
    let verifier = hmac_per_tenant(&db).ttl(Duration::from_secs(2));
    let webhooks = receiver(verifier, &log);

    let res = post(&webhooks, signed("acme", "s1", "evt_1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    // The secret is replaced in the table: the cached scheme still accepts the old one until
    // it expires (the revocation delay is the TTL).
    db.set("acme", &["s2"]);
    let res = post(&webhooks, signed("acme", "s1", "evt_2")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(db.lookups("acme"), 1);

    tokio::time::sleep(Duration::from_millis(3500)).await;
    let res = post(&webhooks, signed("acme", "s1", "evt_3")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(&webhooks, signed("acme", "s2", "evt_3")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(db.lookups("acme"), 2);
}

#[tokio::test]
async fn invalidate_revokes_a_tenants_secret_at_once() {
    let db = Db::with(&[("acme", &["s1"])]);
    let log = Log::default();
    let webhooks = receiver(hmac_per_tenant(&db), &log);

    let res = post(&webhooks, signed("acme", "s1", "evt_1")).await;
    assert_eq!(res.status(), StatusCode::OK);
    db.set("acme", &["s2"]);
    webhooks.verifier().invalidate("acme").await;
    let res = post(&webhooks, signed("acme", "s1", "evt_2")).await;
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let res = post(&webhooks, signed("acme", "s2", "evt_2")).await;
    assert_eq!(res.status(), StatusCode::OK);
    assert_eq!(db.lookups("acme"), 2);
}

#[tokio::test]
async fn shared_secret_per_tenant() {
    let db = Db::with(&[("acme", &["s1"]), ("globex", &["s2"])]);
    let log = Log::default();
    let verifier = PerTenant::new(db.clone(), |secrets: Vec<String>| {
        SharedSecret::new(secrets)
    });
    let webhooks = receiver(verifier, &log);

    for (tenant, secret) in [("acme", "s1"), ("globex", "s2")] {
        let req = shared_secret_request(&format!("/webhooks/{tenant}"), secret, event("evt_1"));
        let res = post(&webhooks, req).await;
        assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    }
    let req = shared_secret_request("/webhooks/globex", "s1", event("evt_2"));
    error_body(post(&webhooks, req).await, 401, "authentication_error").await;
    drain(&webhooks).await;
    assert_eq!(log.lock().unwrap().len(), 2);
}

#[tokio::test]
async fn standard_webhooks_per_tenant() {
    const ACME: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    const GLOBEX: &str = "whsec_dGhpcy1pcy1nbG9iZXgtc2VjcmV0LWtleQ==";
    let db = Db::with(&[("acme", &[ACME]), ("globex", &[GLOBEX])]);
    let log = Log::default();
    let verifier = PerTenant::new(db.clone(), |secrets: Vec<String>| {
        StandardWebhooks::new(secrets)
    });
    let format = JsonFormat::<serde_json::Value>::new().key_header("webhook-id");
    let webhooks = Webhooks::builder(format, verifier)
        .state(Arc::clone(&log))
        .fallback(|_: Received<Ev>, ctx: EventContext<Log>| async move {
            let id = ctx.id().unwrap_or_default().to_owned();
            ctx.state().lock().unwrap().push((id, ctx.key()));
        })
        .spawn();

    let body = r#"{"type":"user.created","data":{}}"#;
    let request = |tenant: &str, secret: &str| {
        standard_webhooks_request::<Body>(
            &format!("/webhooks/{tenant}"),
            secret,
            "msg_1",
            unix_now(),
            body,
        )
    };
    for (tenant, secret) in [("acme", ACME), ("globex", GLOBEX)] {
        let res = webhooks
            .clone()
            .oneshot(request(tenant, secret))
            .await
            .unwrap();
        assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    }
    let res = webhooks
        .clone()
        .oneshot(request("acme", ACME))
        .await
        .unwrap();
    assert_eq!(json_body(res).await["duplicate"], true);
    let res = webhooks
        .clone()
        .oneshot(request("acme", GLOBEX))
        .await
        .unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(log.lock().unwrap().len(), 2);
}

/// Handlers see the tenant the request was verified for; the header the receiver keeps it in
/// (what an inbox stores) holds the verified tenant, and nothing for a request not verified per
/// tenant, whatever the sender put there.
#[tokio::test]
async fn handlers_see_the_tenant_and_a_sender_cannot_name_one() {
    use webhook_receiver::store::{Accepted, Incoming, Store, StoreError};

    /// Remembers nothing; records the tenant header each accepted event would be stored with.
    #[derive(Clone, Default)]
    struct Kept(Arc<Mutex<Vec<Option<String>>>>);
    impl Store for Kept {
        async fn accept(&self, event: Incoming<'_>) -> Result<Accepted, StoreError> {
            let kept = event
                .kept_headers()
                .find(|(name, _)| name.as_str() == TENANT_HEADER)
                .map(|(_, value)| value.to_str().unwrap().to_owned());
            self.0.lock().unwrap().push(kept);
            Ok(Accepted::New(None))
        }
    }

    type Tenants = Arc<Mutex<Vec<(String, Option<String>)>>>;
    fn recording<V: VerifyRequest<Body>>(
        verifier: V,
        seen: &Tenants,
        kept: &Kept,
    ) -> Webhooks<JsonFormat<serde_json::Value>, V, Kept> {
        Webhooks::builder(JsonFormat::<serde_json::Value>::new(), verifier)
            .state(Arc::clone(seen))
            .fallback(|_: Received<Ev>, ctx: EventContext<Tenants>| async move {
                let id = ctx.id().unwrap_or_default().to_owned();
                let tenant = ctx.tenant().map(str::to_owned);
                ctx.state().lock().unwrap().push((id, tenant));
            })
            .store(kept.clone())
            .spawn()
    }
    let db = Db::with(&[("acme", &["s1"]), ("globex", &["s2"])]);
    let (seen, kept) = (Tenants::default(), Kept::default());
    let per_tenant = recording(hmac_per_tenant(&db), &seen, &kept);
    // A sender's own `webhook-receiver-tenant` header is replaced by the verified tenant.
    let mut req = signed("acme", "s1", "evt_a");
    req.headers_mut()
        .insert(TENANT_HEADER, "globex".parse().unwrap());
    assert_eq!(
        per_tenant.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    let req = signed("globex", "s2", "evt_g");
    assert_eq!(
        per_tenant.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    per_tenant.drain(Duration::from_secs(10)).await.unwrap();

    // Without tenants, the header is not kept: it names nothing.
    let plain = recording(HmacSha256::new(["s1"]).unwrap(), &seen, &kept);
    let mut req: Request<Body> = hmac_sha256_request("/webhook", "s1", event("evt_p"));
    req.headers_mut()
        .insert(TENANT_HEADER, "acme".parse().unwrap());
    assert_eq!(
        plain.clone().oneshot(req).await.unwrap().status(),
        StatusCode::OK
    );
    plain.drain(Duration::from_secs(10)).await.unwrap();

    assert_eq!(
        *kept.0.lock().unwrap(),
        [Some("acme".to_owned()), Some("globex".to_owned()), None]
    );
    let mut seen = seen.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("evt_a".to_owned(), Some("acme".to_owned())),
            ("evt_g".to_owned(), Some("globex".to_owned())),
            ("evt_p".to_owned(), None),
        ]
    );
}

/// The durable inbox keeps the scoped key with the event: what it replays after a restart runs
/// under that key, and redeliveries after the restart are recognised per tenant.
#[cfg(feature = "durable")]
#[tokio::test]
async fn replayed_events_keep_their_tenant_scoped_keys() {
    use webhook_receiver::store::DurableInbox;

    let dir = std::env::temp_dir().join(format!("wr-tenant-replay-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let db = Db::with(&[("acme", &["s1"]), ("globex", &["s2"])]);

    // First run: the handler blocks on the first event, the others stay queued at the drain
    // deadline, kept in the inbox for the next start.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let first = Webhooks::builder(JsonFormat::<serde_json::Value>::new(), hmac_per_tenant(&db))
        .state(Arc::clone(&gate))
        .fallback(|_: Received<Ev>, ctx: EventContext<_>| async move {
            let _permit = ctx.state().acquire().await;
        })
        .concurrency_limit(1)
        .store(DurableInbox::open(&dir).unwrap())
        .spawn();
    for (tenant, secret, id) in [
        ("acme", "s1", "evt_0"),
        ("acme", "s1", "evt_1"),
        ("globex", "s2", "evt_1"),
    ] {
        let res = first
            .clone()
            .oneshot(signed(tenant, secret, id))
            .await
            .unwrap();
        assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    }
    first.drain(Duration::from_millis(100)).await.unwrap_err();
    drop(first);
    gate.add_permits(1);
    tokio::time::sleep(Duration::from_millis(50)).await;

    // Second run: both evt_1 are replayed, each under its own tenant's key, and the handler
    // sees each one's tenant (kept with the event by the inbox).
    let log = Log::default();
    let second = Webhooks::builder(JsonFormat::<serde_json::Value>::new(), hmac_per_tenant(&db))
        .state(Arc::clone(&log))
        .fallback(|_: Received<Ev>, ctx: EventContext<Log>| async move {
            let id = ctx.id().unwrap_or_default();
            let id = format!("{id}@{}", ctx.tenant().unwrap_or("-"));
            ctx.state().lock().unwrap().push((id, ctx.key()));
        })
        .store(DurableInbox::open(&dir).unwrap())
        .spawn();
    tokio::time::timeout(Duration::from_secs(30), async {
        while log.lock().unwrap().len() < 2 {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await
    .expect("the two queued events are replayed");
    let scoped = |tenant: &str, id: &str| {
        let unscoped = DedupKey::from_parts(&[id.as_bytes()]);
        DedupKey::from_parts(&[b"tenant", tenant.as_bytes(), unscoped.as_bytes()])
    };
    let mut replayed = log.lock().unwrap().clone();
    replayed.sort_by_key(|(_, key)| *key);
    let mut expected = vec![
        ("evt_1@acme".to_owned(), scoped("acme", "evt_1")),
        ("evt_1@globex".to_owned(), scoped("globex", "evt_1")),
    ];
    expected.sort_by_key(|(_, key)| *key);
    assert_eq!(replayed, expected);

    // Redeliveries after the restart: duplicates for their own tenant only.
    for (tenant, secret) in [("acme", "s1"), ("globex", "s2")] {
        let res = second
            .clone()
            .oneshot(signed(tenant, secret, "evt_1"))
            .await
            .unwrap();
        assert_eq!(json_body(res).await["duplicate"], true);
    }
    let res = second
        .clone()
        .oneshot(signed("globex", "s2", "evt_0"))
        .await
        .unwrap();
    assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    second.drain(Duration::from_secs(10)).await.unwrap();
    drop(second);
    let _ = std::fs::remove_dir_all(&dir);
}

/// `examples/tenant_receiver.rs` from outside: two tenants with the same id both print a line
/// (two keys), a redelivery is a duplicate, an unknown tenant is 401, the rotated-out secret
/// still works while listed; with `TENANT_LOOKUP_FAIL=1`, 503.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_serves_each_tenant_with_its_own_secrets() {
    use support::process::Running;

    let post = |addr, tenant: &str, secret: &str| {
        let body = event("evt_1");
        let sig = webhook_receiver::testing::hmac_sha256_hex(secret, &body);
        let path = format!("/webhooks/{tenant}");
        async move {
            let headers = [
                ("content-type", "application/json"),
                ("x-webhook-signature", sig.as_str()),
            ];
            support::post(addr, &path, &headers, body).await
        }
    };
    let running = Running::start(
        "tenant_receiver",
        &[("TENANT_SECRETS", "acme=s1,globex=s2|s2-old")],
    )
    .await;
    let addr = running.addr;
    assert_eq!(
        post(addr, "acme", "s1").await,
        (200, r#"{"received":true}"#.into())
    );
    assert_eq!(
        post(addr, "globex", "s2").await,
        (200, r#"{"received":true}"#.into())
    );
    let duplicate = (200, r#"{"received":true,"duplicate":true}"#.to_owned());
    assert_eq!(post(addr, "acme", "s1").await, duplicate);
    assert_eq!(post(addr, "globex", "s2-old").await, duplicate);
    let (status, body) = post(addr, "initech", "s1").await;
    assert_eq!(
        (status, body.contains("unknown_tenant")),
        (401, true),
        "{body}"
    );
    let (status, body) = post(addr, "acme", "s2").await;
    assert_eq!(
        (status, body.contains("invalid_credentials")),
        (401, true),
        "{body}"
    );
    let lines = running.stop().await;
    assert_eq!(lines.len(), 2, "{lines:?}");
    assert!(lines.iter().all(|l| l["id"] == "evt_1"));
    assert_ne!(lines[0]["key"], lines[1]["key"]);
    let mut tenants: Vec<_> = lines.iter().map(|l| l["tenant"].to_string()).collect();
    tenants.sort();
    assert_eq!(tenants, [r#""acme""#, r#""globex""#]);

    let running = Running::start(
        "tenant_receiver",
        &[("TENANT_SECRETS", "acme=s1"), ("TENANT_LOOKUP_FAIL", "1")],
    )
    .await;
    let (status, body) = post(running.addr, "acme", "s1").await;
    assert_eq!(
        (status, body.contains("secrets_unavailable")),
        (503, true),
        "{body}"
    );
    assert!(running.stop().await.is_empty());
}
