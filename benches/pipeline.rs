//! Per-request cost of the receiver, in process.
//!
//! Run with: `cargo bench --bench pipeline` (short: `-- --warm-up-time 1 --measurement-time 3`)
//!
//! Each request goes through an axum `Router` with `tower::ServiceExt::oneshot`: no socket, no
//! HTTP parsing, so what is left is the cost of this crate. Every group puts the receiver
//! (`chirp`, or the scheme's name) beside `bare`, an axum route that reads the body and answers
//! 200, fed the same requests; the difference is the overhead per request.
//!
//! - `pipeline/sms_delivered_300B`, `pipeline/whatsapp_failed_2KB`: the full Chirp pipeline
//!   (secret check, body read, typed parse, dedup claim of a new key, enqueue, 200), with a
//!   unique `data.id` per request.
//! - `pipeline/duplicate_300B`: the same body every time, so the claim hits (200, not queued).
//! - `pipeline/wrong_secret_401`: rejected by the verify layer before the body is read.
//! - `pipeline/hmac_sha256_300B`, `pipeline/standard_webhooks_300B`: the signature schemes
//!   (the layer buffers and verifies the body, then the same receiver).
//! - `dedup_claim/{new,duplicate}/{10k,100k,1M}`: `Store::accept` alone on a store that
//!   already remembers that many ids (generic over the store, like governor's benches).
//! - `parts/*`: pieces of the pipeline alone, to see where its time goes: the shared-secret
//!   check, decoding a body into its typed event and key, deriving the key of a decoded event.
//! - `dispatch/after_ack`: what an accepted event costs after its 200: the worker takes it from
//!   the queue, opens its span, spawns its task, routes it and runs a do-nothing handler.
//!
//! A `tracing_subscriber::fmt` subscriber at `info`, writing to a sink, is installed as the
//! `chirp_receiver` example does by default, so per-event spans cost what they cost there.
//!
//! Each receiver's dedup store is first filled to its default capacity (1M ids), the state of a
//! server that has been up for a day, so a new key also forces the oldest one out (as TTL expiry
//! does). Requests are built outside the timed region, in chunks of [`CHUNK`]; between chunks, untimed,
//! the dispatcher drains its queue (its handlers do nothing), so the queue never fills and the
//! timings hold only the acknowledgement path. The runtime is current-thread: nothing else runs
//! while a request is timed.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use axum::Router;
use axum::body::Body;
use axum::routing::post;
use bytes::Bytes;
use criterion::{BenchmarkId, Criterion, Throughput};
use http::{Request, StatusCode};
use tower::ServiceExt;
use webhook_receiver::chirp::{Chirp, ChirpEvent};
use webhook_receiver::event::Received;
use webhook_receiver::stack::Dispatcher;
use webhook_receiver::store::{Claim, Incoming, MokaStore, Store};
use webhook_receiver::verify::{SharedSecret, VerifyRequest};
use webhook_receiver::{DedupKey, Webhooks};

/// The route both the receiver and the bare handler are mounted on.
const URI: &str = "/webhooks/chirp";
/// The shared secret (and HMAC key).
const SECRET: &str = "bench-secret-0123456789abcdef";
/// A `messages.sms.delivered` event, 286 bytes with its id (`__ID__` is replaced).
const SMS_DELIVERED: &str = include_str!("payloads/sms_delivered.json");
/// An enriched `messages.whatsapp.failed` event (Meta Health Status), 2017 bytes with its id.
const WHATSAPP_FAILED: &str = include_str!("payloads/whatsapp_failed_enriched.json");
/// Requests built and timed per batch; below the dispatcher's default queue capacity (1024).
const CHUNK: u64 = 512;

/// Ids unique across the whole run, so that every "new" request claims a new key.
static NEXT_ID: AtomicU64 = AtomicU64::new(0);

/// `template` with a fresh, fixed-length message id.
fn unique_body(template: &str) -> Bytes {
    let n = NEXT_ID.fetch_add(1, Ordering::Relaxed);
    Bytes::from(template.replacen("__ID__", &format!("msg_{n:032}"), 1))
}

/// A JSON POST to [`URI`] with `headers`.
fn post_request(body: Bytes, headers: &[(&str, String)]) -> Request<Body> {
    let mut req = Request::post(URI).header("content-type", "application/json");
    for (name, value) in headers {
        req = req.header(*name, value);
    }
    req.body(Body::from(body)).expect("valid request")
}

/// A request authenticated with the shared secret.
fn secret_request(body: Bytes) -> Request<Body> {
    post_request(body, &[("x-webhook-secret", SECRET.to_owned())])
}

/// What is measured: an axum app, and the dispatcher to drain between chunks (if any).
struct Target {
    app: Router,
    dispatcher: Option<Dispatcher<ChirpEvent>>,
    store: Option<MokaStore>,
}

impl Target {
    /// The bare baseline: reads the body, answers 200.
    fn bare() -> Self {
        let app = Router::new().route(
            URI,
            post(|body: Bytes| async move {
                black_box(body);
                StatusCode::OK
            }),
        );
        Self {
            app,
            dispatcher: None,
            store: None,
        }
    }

    /// The [`Webhooks`] facade for Chirp's format behind `verifier`, with a do-nothing
    /// fallback handler and the default (moka) store.
    fn receiver<V>(verifier: V) -> Self
    where
        V: VerifyRequest<Body>,
    {
        let webhooks = Webhooks::builder(Chirp, verifier)
            .fallback(|item: Received<ChirpEvent>, _ctx| async move {
                black_box(item);
            })
            .spawn();
        Self {
            dispatcher: Some(webhooks.dispatcher().clone()),
            store: Some(webhooks.store().clone()),
            app: Router::new().route_service(URI, webhooks),
        }
    }

    /// The Chirp receiver behind the shared-secret check, as in the `chirp_receiver` example.
    fn chirp() -> Self {
        Self::receiver(SharedSecret::new([SECRET]).expect("secret"))
    }

    /// Fills the dedup store to its default capacity (1M keys), as on a server that has been
    /// up for a day: from then on every new key also forces the oldest one out.
    fn fill_store(&self) {
        if let Some(store) = &self.store {
            for i in 0..webhook_receiver::store::DEFAULT_CAPACITY {
                store.claim_now(DedupKey::from_parts(&[b"prefill", &i.to_le_bytes()]));
            }
        }
    }

    /// Sends one request; returns the status and the body.
    async fn send(&self, req: Request<Body>) -> (StatusCode, Bytes) {
        use http_body_util::BodyExt;
        let res = self.app.clone().oneshot(req).await.expect("infallible");
        let status = res.status();
        let body = res.into_body().collect().await.expect("body").to_bytes();
        (status, body)
    }

    /// Lets the dispatcher take everything queued so far and run its (empty) handlers.
    async fn drain(&self) {
        if let Some(d) = &self.dispatcher {
            while d.queued() > 0 || d.running() > 0 {
                tokio::task::yield_now().await;
            }
        }
    }

    /// Times `iters` requests made by `make`, each expected to answer `expect`.
    fn time(
        &self,
        rt: &tokio::runtime::Runtime,
        iters: u64,
        expect: StatusCode,
        make: &mut dyn FnMut() -> Request<Body>,
    ) -> Duration {
        rt.block_on(async {
            let mut total = Duration::ZERO;
            let mut left = iters;
            while left > 0 {
                let n = left.min(CHUNK);
                let requests: Vec<_> = (0..n).map(|_| make()).collect();
                let mut unexpected = 0u32;
                let start = Instant::now();
                for req in requests {
                    let res = self.app.clone().oneshot(req).await.expect("infallible");
                    unexpected += u32::from(res.status() != expect);
                    drop(black_box(res));
                }
                total += start.elapsed();
                assert_eq!(unexpected, 0, "a response was not {expect}");
                self.drain().await;
                left -= n;
            }
            total
        })
    }
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime")
}

/// What a group measures beside `bare`: `target`, reported as `label`, answering `expect`.
struct Subject<'a> {
    label: &'a str,
    target: &'a Target,
    expect: StatusCode,
}

/// One group: the subject beside `bare`, both fed requests from `make`.
fn compare(
    c: &mut Criterion,
    rt: &tokio::runtime::Runtime,
    group: &str,
    subject: &Subject<'_>,
    bytes: usize,
    make: &mut dyn FnMut() -> Request<Body>,
) {
    let bare = Target::bare();
    let mut g = c.benchmark_group(group);
    g.throughput(Throughput::Bytes(bytes as u64));
    g.bench_function(subject.label, |b| {
        b.iter_custom(|iters| subject.target.time(rt, iters, subject.expect, make));
    });
    g.bench_function("bare", |b| {
        b.iter_custom(|iters| bare.time(rt, iters, StatusCode::OK, make));
    });
    g.finish();
}

/// Checks once that `req` gets `status` and a body containing `needle` (so that a bench never
/// measures an error path by mistake).
fn check(
    rt: &tokio::runtime::Runtime,
    target: &Target,
    req: Request<Body>,
    status: StatusCode,
    needle: &str,
) {
    let (got, body) = rt.block_on(target.send(req));
    let text = String::from_utf8_lossy(&body);
    assert_eq!(got, status, "{text}");
    assert!(text.contains(needle), "expected {needle:?} in {text}");
    rt.block_on(target.drain());
}

/// The full Chirp pipeline on new events, the duplicate path and the 401 path.
fn bench_chirp(c: &mut Criterion) {
    let rt = runtime();
    let chirp = rt.block_on(async { Target::chirp() });
    chirp.fill_store();

    for (group, template) in [
        ("pipeline/sms_delivered_300B", SMS_DELIVERED),
        ("pipeline/whatsapp_failed_2KB", WHATSAPP_FAILED),
    ] {
        let len = unique_body(template).len();
        check(
            &rt,
            &chirp,
            secret_request(unique_body(template)),
            StatusCode::OK,
            r#"{"received":true}"#,
        );
        let mut make = || secret_request(unique_body(template));
        compare(
            c,
            &rt,
            group,
            &Subject {
                label: "chirp",
                target: &chirp,
                expect: StatusCode::OK,
            },
            len,
            &mut make,
        );
    }

    // The same event again and again: the claim hits, nothing is queued.
    let same = unique_body(SMS_DELIVERED);
    check(
        &rt,
        &chirp,
        secret_request(same.clone()),
        StatusCode::OK,
        r#"{"received":true}"#,
    );
    check(
        &rt,
        &chirp,
        secret_request(same.clone()),
        StatusCode::OK,
        r#""duplicate":true"#,
    );
    let mut make = || secret_request(same.clone());
    compare(
        c,
        &rt,
        "pipeline/duplicate_300B",
        &Subject {
            label: "chirp",
            target: &chirp,
            expect: StatusCode::OK,
        },
        same.len(),
        &mut make,
    );

    // A wrong secret: 401 from the layer, the body is never read.
    let wrong = || {
        post_request(
            unique_body(SMS_DELIVERED),
            &[("x-webhook-secret", "not-the-secret".to_owned())],
        )
    };
    check(
        &rt,
        &chirp,
        wrong(),
        StatusCode::UNAUTHORIZED,
        "authentication_error",
    );
    let mut make = wrong;
    compare(
        c,
        &rt,
        "pipeline/wrong_secret_401",
        &Subject {
            label: "chirp",
            target: &chirp,
            expect: StatusCode::UNAUTHORIZED,
        },
        same.len(),
        &mut make,
    );
}

/// `X-Webhook-Signature: <hex HMAC-SHA256 of the body>` ([`HmacSha256`]'s default format).
#[cfg(feature = "hmac")]
fn bench_hmac(c: &mut Criterion) {
    use hmac::{Hmac, Mac};
    use webhook_receiver::verify::HmacSha256;

    let rt = runtime();
    let target =
        rt.block_on(async { Target::receiver(HmacSha256::new([SECRET]).expect("secret")) });
    target.fill_store();
    let signed = || {
        let body = unique_body(SMS_DELIVERED);
        let mut mac =
            Hmac::<sha2::Sha256>::new_from_slice(SECRET.as_bytes()).expect("any key length");
        mac.update(&body);
        let signature = hex::encode(mac.finalize().into_bytes());
        post_request(body, &[("x-webhook-signature", signature)])
    };
    check(
        &rt,
        &target,
        signed(),
        StatusCode::OK,
        r#"{"received":true}"#,
    );
    let len = unique_body(SMS_DELIVERED).len();
    let mut make = signed;
    compare(
        c,
        &rt,
        "pipeline/hmac_sha256_300B",
        &Subject {
            label: "hmac_sha256",
            target: &target,
            expect: StatusCode::OK,
        },
        len,
        &mut make,
    );
}

#[cfg(not(feature = "hmac"))]
fn bench_hmac(_: &mut Criterion) {}

/// Standard Webhooks: `webhook-id`, `webhook-timestamp`, `webhook-signature: v1,<base64>`.
#[cfg(feature = "standard-webhooks")]
fn bench_standard(c: &mut Criterion) {
    use webhook_receiver::verify::StandardWebhooks;

    const KEY: &str = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let rt = runtime();
    let scheme = StandardWebhooks::new([KEY]).expect("secret");
    let target = rt.block_on(async { Target::receiver(scheme.clone()) });
    target.fill_store();
    let signed = || {
        let body = unique_body(SMS_DELIVERED);
        let id = format!("msg_{}", NEXT_ID.fetch_add(1, Ordering::Relaxed));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("after 1970")
            .as_secs() as i64;
        let signature = scheme.sign(&id, now, &body);
        post_request(
            body,
            &[
                ("webhook-id", id),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", signature),
            ],
        )
    };
    check(
        &rt,
        &target,
        signed(),
        StatusCode::OK,
        r#"{"received":true}"#,
    );
    let len = unique_body(SMS_DELIVERED).len();
    let mut make = signed;
    compare(
        c,
        &rt,
        "pipeline/standard_webhooks_300B",
        &Subject {
            label: "standard_webhooks",
            target: &target,
            expect: StatusCode::OK,
        },
        len,
        &mut make,
    );
}

#[cfg(not(feature = "standard-webhooks"))]
fn bench_standard(_: &mut Criterion) {}

/// A key as the receiver derives them (16-byte digest).
fn key(i: u64) -> DedupKey {
    DedupKey::from_parts(&[b"messages.sms.delivered", &i.to_le_bytes()])
}

/// One accept of `key` with an empty body and no headers (neither allocates).
async fn claim<S: Store>(store: &S, key: DedupKey) -> Claim {
    let (body, headers) = (bytes::Bytes::new(), http::HeaderMap::new());
    let accepted = store.accept(Incoming::new(key, &body, &headers)).await;
    accepted.expect("accept").claim()
}

/// `accept` alone (the key only, as the receiver passes it), on a full store remembering 10k, 100k and 1M ids (its capacity): a new key
/// (which forces the oldest one out, as on a server that has been up for a day) and a
/// duplicate (a remembered key).
fn bench_claim<S: Store>(c: &mut Criterion, store_name: &str, make_store: impl Fn(u64) -> S) {
    let rt = runtime();
    for (label, n) in [("10k", 10_000u64), ("100k", 100_000), ("1M", 1_000_000)] {
        let store = make_store(n);
        rt.block_on(async {
            for i in 0..n {
                assert_eq!(claim(&store, key(i)).await, Claim::New);
            }
        });
        let mut g = c.benchmark_group(format!("dedup_claim/{store_name}"));
        g.bench_with_input(BenchmarkId::new("duplicate", label), &n, |b, &n| {
            let mut i = 0u64;
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let k = left.min(CHUNK);
                        // A stride co-prime with n walks every remembered key (the
                        // duplicates run first, before `new` forces any out).
                        let keys: Vec<_> = (0..k)
                            .map(|_| {
                                i = (i + 7_919) % n;
                                key(i)
                            })
                            .collect();
                        let start = Instant::now();
                        for &key in &keys {
                            let claim = claim(&store, key).await;
                            debug_assert_eq!(claim, Claim::Duplicate);
                            black_box(claim);
                        }
                        total += start.elapsed();
                        left -= k;
                    }
                    total
                })
            });
        });
        g.bench_with_input(BenchmarkId::new("new", label), &n, |b, &n| {
            let mut next = n;
            b.iter_custom(|iters| {
                rt.block_on(async {
                    let mut total = Duration::ZERO;
                    let mut left = iters;
                    while left > 0 {
                        let k = left.min(CHUNK);
                        let keys: Vec<_> = (next..next + k).map(key).collect();
                        next += k;
                        let start = Instant::now();
                        for &key in &keys {
                            black_box(claim(&store, key).await);
                        }
                        total += start.elapsed();
                        left -= k;
                    }
                    total
                })
            });
        });
        g.finish();
    }
}

fn bench_dedup(c: &mut Criterion) {
    bench_claim(c, "moka", |n| MokaStore::builder().capacity(n).build());
}

/// The dispatcher alone: enqueue decoded events, then let the worker run their (empty)
/// handlers; the time per event covers both.
fn bench_dispatch(c: &mut Criterion) {
    use webhook_receiver::event::Format;

    let rt = runtime();
    let target = rt.block_on(async { Target::chirp() });
    let dispatcher = target.dispatcher.clone().expect("a dispatcher");
    let mut g = c.benchmark_group("dispatch");
    g.bench_function("after_ack", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let mut total = Duration::ZERO;
                let mut left = iters;
                while left > 0 {
                    let n = left.min(CHUNK);
                    let events: Vec<_> = (0..n)
                        .map(|_| {
                            let body = unique_body(SMS_DELIVERED);
                            Chirp
                                .decode(&http::HeaderMap::new(), &body)
                                .expect("a Chirp event")
                        })
                        .collect();
                    let start = Instant::now();
                    for decoded in events {
                        dispatcher.try_enqueue(decoded).expect("room in the queue");
                    }
                    target.drain().await;
                    total += start.elapsed();
                    left -= n;
                }
                total
            })
        });
    });
    g.finish();
}

/// Pieces of the pipeline alone.
fn bench_parts(c: &mut Criterion) {
    use webhook_receiver::event::{Format, Received};

    let secret = SharedSecret::new([SECRET]).expect("secret");
    let sms = unique_body(SMS_DELIVERED);
    let whatsapp = unique_body(WHATSAPP_FAILED);
    let headers = http::HeaderMap::new();
    let mut g = c.benchmark_group("parts");
    g.bench_function("shared_secret_check", |b| {
        b.iter(|| black_box(secret.check(black_box(SECRET.as_bytes()))));
    });
    g.bench_function("decode_sms_delivered_300B", |b| {
        b.iter(|| black_box(Chirp.decode(&headers, black_box(&sms)).expect("event")));
    });
    g.bench_function("decode_whatsapp_failed_2KB", |b| {
        b.iter(|| black_box(Chirp.decode(&headers, black_box(&whatsapp)).expect("event")));
    });
    let decoded = Chirp.decode(&headers, &sms).expect("event");
    let Received::Event(event) = decoded.received() else {
        panic!("a typed event")
    };
    g.bench_function("dedup_key_sms_delivered", |b| {
        b.iter(|| black_box(black_box(event).dedup_key()));
    });
    // What the receiver records per delivery and per handler attempt, with no metrics
    // recorder installed (this bench installs none), and the disabled `debug` spans.
    let handler: std::sync::Arc<str> = "messages.sms.delivered".into();
    // Before: a macro call per record (builds and hashes the key, looks the recorder up); now:
    // handles registered when the receiver and its dispatcher are built. Both, in one run.
    g.bench_function("telemetry_per_delivery_no_recorder/macro", |b| {
        b.iter(|| {
            metrics::counter!(
                webhook_receiver::telemetry::DELIVERIES,
                "outcome" => "accepted", "status" => "200", "reason" => ""
            )
            .increment(1);
            let span = tracing::debug_span!("webhook_delivery", outcome = tracing::field::Empty);
            black_box(span.is_disabled())
        });
    });
    let accepted = metrics::counter!(
        webhook_receiver::telemetry::DELIVERIES,
        "outcome" => "accepted", "status" => "200", "reason" => ""
    );
    g.bench_function("telemetry_per_delivery_no_recorder/handle", |b| {
        b.iter(|| {
            black_box(&accepted).increment(1);
            let span = tracing::debug_span!("webhook_delivery", outcome = tracing::field::Empty);
            black_box(span.is_disabled())
        });
    });
    // Per attempt: the handler's counter and histogram (handles since its first attempt), the
    // queue-wait histogram and three gauges (macro calls before, handles now).
    let attempts = metrics::counter!(
        webhook_receiver::telemetry::HANDLER_ATTEMPTS,
        "handler" => std::sync::Arc::clone(&handler), "result" => "ok"
    );
    let duration = metrics::histogram!(
        webhook_receiver::telemetry::HANDLER_DURATION,
        "handler" => std::sync::Arc::clone(&handler)
    );
    g.bench_function("telemetry_per_attempt_no_recorder/macro", |b| {
        b.iter(|| {
            black_box(&attempts).increment(1);
            black_box(&duration).record(black_box(0.001));
            metrics::histogram!(webhook_receiver::telemetry::QUEUE_WAIT).record(black_box(0.0001));
            for name in [
                webhook_receiver::telemetry::QUEUE_DEPTH,
                webhook_receiver::telemetry::RETRIES_WAITING,
                webhook_receiver::telemetry::HANDLERS_RUNNING,
            ] {
                metrics::gauge!(name).set(black_box(1.0));
            }
        });
    });
    let queue_wait = metrics::histogram!(webhook_receiver::telemetry::QUEUE_WAIT);
    let gauges = [
        metrics::gauge!(webhook_receiver::telemetry::QUEUE_DEPTH),
        metrics::gauge!(webhook_receiver::telemetry::RETRIES_WAITING),
        metrics::gauge!(webhook_receiver::telemetry::HANDLERS_RUNNING),
    ];
    g.bench_function("telemetry_per_attempt_no_recorder/handle", |b| {
        b.iter(|| {
            black_box(&attempts).increment(1);
            black_box(&duration).record(black_box(0.001));
            black_box(&queue_wait).record(black_box(0.0001));
            for gauge in &gauges {
                black_box(gauge).set(black_box(1.0));
            }
        });
    });
    g.finish();
}

// `criterion_group!`/`criterion_main!` spelled out, so the entry point has docs.
fn main() {
    // As the `chirp_receiver` example: `info` and above, formatted (here into a sink).
    tracing_subscriber::fmt()
        .with_writer(std::io::sink)
        .with_env_filter(tracing_subscriber::EnvFilter::new("info"))
        .init();
    let mut c = Criterion::default().configure_from_args();
    bench_chirp(&mut c);
    bench_hmac(&mut c);
    bench_standard(&mut c);
    bench_parts(&mut c);
    bench_dedup(&mut c);
    bench_dispatch(&mut c);
    c.final_summary();
}
