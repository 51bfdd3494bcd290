//! Helpers of `tests/hostile.rs`: a whole `Webhooks` stack on its own current-thread runtime,
//! driven synchronously from proptest cases, with every dispatch counted.
#![allow(dead_code, unreachable_pub)]

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use http::Request;
use http_body_util::BodyExt;
use proptest::strategy::Strategy;
use proptest::test_runner::{Config, TestCaseError, TestRunner};
use tower::ServiceExt;
use webhook_receiver::store::MokaStore;
use webhook_receiver::verify::VerifyRequest;
use webhook_receiver::{Format, Webhooks, WebhooksBuilder};

/// Cases per class.
pub const CASES: u32 = 1000;
/// The body limit of every stack: small, so oversize cases are cheap.
pub const LIMIT: usize = 16 * 1024;

/// One stack, its runtime, and what its fallback saw.
pub struct Harness<F: Format, V> {
    pub rt: tokio::runtime::Runtime,
    pub webhooks: Webhooks<F, V, MokaStore>,
    pub count: Arc<AtomicUsize>,
    pub names: Arc<Mutex<BTreeMap<String, usize>>>,
    next_id: AtomicUsize,
}

/// What one request is expected to get, and the id it used (for the genuine redelivery).
pub struct Expect {
    pub status: u16,
    pub id: String,
}

/// The tally of one class.
#[derive(Default, Debug)]
pub struct Tally {
    pub sent: usize,
    pub accepted: usize,
    pub rejected_ids: Vec<String>,
    pub by_status: BTreeMap<u16, usize>,
}

impl<F, V> Harness<F, V>
where
    F: Format,
    V: VerifyRequest<Body> + Send + Sync + 'static,
{
    /// Builds the stack from `builder` with a queue large enough that no 503 happens, the
    /// small body limit, and a fallback that counts every dispatch.
    pub fn new(builder: impl FnOnce() -> WebhooksBuilder<F, V>) -> Self {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let count = Arc::new(AtomicUsize::new(0));
        let names = Arc::new(Mutex::new(BTreeMap::new()));
        let webhooks = {
            let _guard = rt.enter();
            let (count, names) = (count.clone(), names.clone());
            builder()
                .queue_capacity(100_000)
                .body_limit(LIMIT)
                .fallback(move |_, ctx| {
                    let (count, names) = (count.clone(), names.clone());
                    async move {
                        *names
                            .lock()
                            .unwrap()
                            .entry(ctx.event_name().to_owned())
                            .or_insert(0) += 1;
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                })
                .spawn()
        };
        Self {
            rt,
            webhooks,
            count,
            names,
            next_id: AtomicUsize::new(0),
        }
    }

    /// A fresh id, unique in this harness (so no case is a duplicate of another).
    pub fn id(&self, prefix: &str) -> String {
        format!("{prefix}{}", self.next_id.fetch_add(1, Ordering::SeqCst))
    }

    /// Sends one request: its status and whether it was answered as a duplicate.
    pub fn send(&self, req: Request<Body>) -> (u16, bool) {
        self.rt.block_on(async {
            let res =
                tokio::time::timeout(Duration::from_secs(10), self.webhooks.clone().oneshot(req))
                    .await
                    .expect("no answer within 10 s")
                    .unwrap();
            let status = res.status().as_u16();
            let bytes = res.into_body().collect().await.unwrap().to_bytes();
            let body: serde_json::Value = serde_json::from_slice(&bytes)
                .unwrap_or_else(|e| panic!("not JSON ({e}): {bytes:?}"));
            (status, body.get("duplicate").is_some())
        })
    }

    /// Waits until `n` dispatches were counted (a liveness bound), then checks it stays there.
    pub fn settled(&self, n: usize) {
        self.rt.block_on(async {
            let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
            while self.count.load(Ordering::SeqCst) < n && tokio::time::Instant::now() < deadline {
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        });
        assert_eq!(self.count.load(Ordering::SeqCst), n, "dispatches");
    }

    /// Runs `CASES` generated requests of one class: each must get its expected status, an
    /// accepted one must not be a duplicate (every case uses fresh ids).
    pub fn class<S>(
        &self,
        name: &str,
        strategy: S,
        make: impl Fn(&Self, S::Value) -> (Request<Body>, Expect),
    ) -> Tally
    where
        S: Strategy,
    {
        let tally = RefCell::new(Tally::default());
        let mut runner = TestRunner::new(Config {
            cases: CASES,
            failure_persistence: None,
            max_shrink_iters: 200,
            ..Config::default()
        });
        let before = self.count.load(Ordering::SeqCst);
        let result = runner.run(&strategy, |input| {
            let shown = format!("{input:?}");
            let (req, expect) = make(self, input);
            let (status, duplicate) = self.send(req);
            let mut t = tally.borrow_mut();
            t.sent += 1;
            *t.by_status.entry(status).or_default() += 1;
            if status != expect.status {
                return Err(TestCaseError::fail(format!(
                    "{name}: expected {}, got {status} for {shown}",
                    expect.status
                )));
            }
            if status >= 500 {
                return Err(TestCaseError::fail(format!("{name}: {status} for {shown}")));
            }
            if status == 200 {
                if duplicate {
                    return Err(TestCaseError::fail(format!(
                        "{name}: a fresh event answered as a duplicate: {shown}"
                    )));
                }
                t.accepted += 1;
            } else {
                t.rejected_ids.push(expect.id);
            }
            Ok(())
        });
        if let Err(e) = result {
            panic!("{name}: {e}");
        }
        let tally = tally.into_inner();
        assert!(tally.sent >= CASES as usize, "{name}: {tally:?}");
        self.settled(before + tally.accepted);
        tally
    }

    /// The keys remembered now.
    pub fn remembered(&self) -> u64 {
        self.webhooks.store().len()
    }
}
