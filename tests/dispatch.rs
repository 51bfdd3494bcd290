//! Dispatch: typed handlers, groups, fallback, state, errors and panics, overload.

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use support::*;
use tokio::sync::Semaphore;
use tower::{ServiceBuilder, ServiceExt};
use webhook_receiver::chirp::{self, Chirp, ChirpEvent, MessageStatus};
use webhook_receiver::dispatch::{HandlerError, HandlerFailure, RetryPolicy};
use webhook_receiver::stack::WebhookService;
use webhook_receiver::stack::{Dispatcher, Handlers};
use webhook_receiver::stack::{VerifyWebhook, VerifyWebhookLayer};
use webhook_receiver::verify::SharedSecret;

/// The low-level pieces, as a tower user assembles them without the facade.
type LowLevelStack = VerifyWebhook<WebhookService<Chirp>, SharedSecret>;

fn stack_for<S: Clone + Send + Sync + 'static>(
    handlers: Handlers<ChirpEvent, S>,
    queue: usize,
    concurrency: usize,
) -> (LowLevelStack, Dispatcher<ChirpEvent>) {
    let dispatcher = Dispatcher::builder(handlers)
        .queue_capacity(queue)
        .concurrency_limit(concurrency)
        .spawn();
    let svc = WebhookService::builder(Chirp, dispatcher.clone())
        .retry_after(Duration::from_secs(7))
        .build();
    let stack = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(
            SharedSecret::new([SECRET]).unwrap(),
        ))
        .service(svc);
    (stack, dispatcher)
}

#[tokio::test]
async fn several_handlers_per_type_all_run_with_typed_payload_and_state() {
    #[derive(Clone, Default)]
    struct App {
        ids: Arc<std::sync::Mutex<Vec<String>>>,
        group_calls: Arc<AtomicUsize>,
    }
    let app = App::default();
    let handlers = Handlers::with_state(app.clone())
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| async move {
            ctx.state().ids.lock().unwrap().push(format!("a:{}", s.id));
        })
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| async move {
            ctx.state().ids.lock().unwrap().push(format!("b:{}", s.id));
            Ok::<_, std::io::Error>(())
        })
        .on_group("messages.sms.*", |_e: ChirpEvent, ctx| async move {
            ctx.state().group_calls.fetch_add(1, Ordering::SeqCst);
        });
    let (stack, d) = stack_for(handlers, 16, 4);
    assert_accepted(&stack, delivered("m1")).await;
    d.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(*app.ids.lock().unwrap(), ["a:m1", "b:m1"]);
    assert_eq!(app.group_calls.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn handler_errors_and_panics_are_reported_and_never_stop_the_dispatcher() {
    let errors = Arc::new(std::sync::Mutex::new(Vec::<(String, String, bool)>::new()));
    let after = Arc::new(AtomicUsize::new(0));
    let handlers = Handlers::with_state(after.clone())
        // One attempt each: retries are tested in tests/retry.rs.
        .retry_policy(RetryPolicy::never())
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, _ctx| async move {
            if s.id == "boom" {
                panic!("handler exploded");
            }
            Err::<(), _>(std::io::Error::other("db unavailable"))
        })
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            ctx.state().fetch_add(1, Ordering::SeqCst);
        })
        .on_error({
            let errors = errors.clone();
            move |e: &HandlerError| {
                let panicked = matches!(e.failure, HandlerFailure::Panic(_));
                errors
                    .lock()
                    .unwrap()
                    .push((e.event_name.clone(), e.key.to_string(), panicked));
            }
        });
    let (stack, d) = stack_for(handlers, 16, 1);
    for id in ["boom", "fails", "boom"] {
        assert_accepted(&stack, delivered(id)).await;
    }
    d.drain(Duration::from_secs(10)).await.unwrap();
    let errors = errors.lock().unwrap().clone();
    assert_eq!(errors.len(), 2, "{errors:?}"); // the third is a duplicate of the first
    assert!(
        errors
            .iter()
            .all(|(kind, key, _)| kind == "messages.sms.delivered" && key.len() == 32)
    );
    assert_eq!(
        errors.iter().filter(|e| e.2).count(),
        1,
        "one panic, one error"
    );
    assert_eq!(
        after.load(Ordering::SeqCst),
        2,
        "the second handler ran despite the first failing"
    );
}

#[tokio::test]
async fn full_queue_is_503_with_retry_after_and_remembers_nothing() {
    let gate = Arc::new(Semaphore::new(0));
    let done = Arc::new(AtomicUsize::new(0));
    let handlers = Handlers::with_state((gate.clone(), done.clone())).on(
        chirp::SMS_DELIVERED,
        |_s: MessageStatus, ctx| async move {
            let (gate, done) = ctx.state();
            gate.acquire().await.unwrap().forget();
            done.fetch_add(1, Ordering::SeqCst);
        },
    );
    // One running (blocked) + one queued; the third has nowhere to go.
    let (stack, d) = stack_for(handlers, 1, 1);
    assert_accepted(&stack, delivered("m1")).await;
    // Wait until the worker has taken m1 out of the queue.
    while d.queued() > 0 || d.running() == 0 {
        tokio::task::yield_now().await;
    }
    assert_accepted(&stack, delivered("m2")).await;
    let res = stack
        .clone()
        .oneshot(chirp_request(delivered("m3")))
        .await
        .unwrap();
    assert_eq!(res.headers()["retry-after"], "7");
    let err = error_body(res, 503, "api_error").await;
    assert_eq!(err["code"], "queue_full");

    gate.add_permits(1);
    while done.load(Ordering::SeqCst) < 1 || d.queued() > 0 {
        tokio::task::yield_now().await;
    }
    // The retry of m3 is accepted as new: the 503 remembered nothing.
    let res = stack
        .clone()
        .oneshot(chirp_request(delivered("m3")))
        .await
        .unwrap();
    assert_eq!(json_body(res).await, serde_json::json!({"received": true}));
    gate.add_permits(10);
    d.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 3);
}

#[tokio::test]
async fn shutting_down_dispatcher_answers_503_and_drains_accepted_events() {
    let done = Arc::new(AtomicUsize::new(0));
    let handlers = Handlers::with_state(done.clone()).on(
        chirp::SMS_DELIVERED,
        |_s: MessageStatus, ctx| async move {
            tokio::time::sleep(Duration::from_millis(20)).await;
            ctx.state().fetch_add(1, Ordering::SeqCst);
        },
    );
    let (stack, d) = stack_for(handlers, 100, 2);
    for i in 0..10 {
        assert_accepted(&stack, delivered(&format!("m{i}"))).await;
    }
    d.drain(Duration::from_secs(30)).await.unwrap();
    assert_eq!(
        done.load(Ordering::SeqCst),
        10,
        "every accepted event ran before shutdown returned"
    );
    let res = stack
        .oneshot(chirp_request(delivered("late")))
        .await
        .unwrap();
    let err = error_body(res, 503, "api_error").await;
    assert_eq!(err["code"], "shutting_down");
}

#[tokio::test]
async fn drain_deadline_is_reported() {
    let handlers = Handlers::new().on(chirp::SMS_DELIVERED, |_s: MessageStatus, _ctx| async move {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    let (stack, d) = stack_for(handlers, 10, 1);
    for id in ["a", "b"] {
        assert_accepted(&stack, delivered(id)).await;
    }
    let err = d.drain(Duration::from_millis(100)).await.unwrap_err();
    assert_eq!(err.running + err.queued, 2, "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handler_concurrency_is_bounded() {
    #[derive(Clone, Default)]
    struct Gauge {
        now: Arc<AtomicUsize>,
        max: Arc<AtomicUsize>,
        done: Arc<AtomicUsize>,
    }
    let gauge = Gauge::default();
    let handlers = Handlers::with_state(gauge.clone()).on(
        chirp::SMS_DELIVERED,
        |_s: MessageStatus, ctx| async move {
            let g = ctx.state();
            let now = g.now.fetch_add(1, Ordering::SeqCst) + 1;
            g.max.fetch_max(now, Ordering::SeqCst);
            tokio::time::sleep(Duration::from_millis(20)).await;
            g.now.fetch_sub(1, Ordering::SeqCst);
            g.done.fetch_add(1, Ordering::SeqCst);
        },
    );
    let (stack, d) = stack_for(handlers, 100, 3);
    for i in 0..30 {
        assert_accepted(&stack, delivered(&format!("m{i}"))).await;
    }
    d.drain(Duration::from_secs(30)).await.unwrap();
    assert_eq!(gauge.done.load(Ordering::SeqCst), 30);
    assert!(
        gauge.max.load(Ordering::SeqCst) <= 3,
        "max concurrent {}",
        gauge.max.load(Ordering::SeqCst)
    );
    assert!(
        gauge.max.load(Ordering::SeqCst) >= 2,
        "handlers did run concurrently"
    );
}

/// A payload that counts its clones.
#[derive(Debug)]
struct Counted(Arc<AtomicUsize>);

impl Clone for Counted {
    fn clone(&self) -> Self {
        self.0.fetch_add(1, Ordering::SeqCst);
        Self(Arc::clone(&self.0))
    }
}

#[derive(Debug, Clone)]
enum Counting {
    Ping(Counted),
}

impl webhook_receiver::Event for Counting {
    fn event_name(&self) -> &str {
        "ping"
    }
}

const PING: webhook_receiver::EventType<Counting, Counted> =
    webhook_receiver::EventType::new("ping", |e| match e {
        Counting::Ping(p) => Some(p),
    });

#[tokio::test]
async fn every_handler_gets_its_own_clone_and_the_event_is_kept_for_retries() {
    let clones = Arc::new(AtomicUsize::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let mut handlers = Handlers::with_state(Arc::clone(&ran));
    for _ in 0..3 {
        handlers = handlers.on(PING, |_p: Counted, ctx| async move {
            ctx.state().fetch_add(1, Ordering::SeqCst);
        });
    }
    let dispatcher = Dispatcher::builder(handlers).spawn();
    let key = webhook_receiver::DedupKey::from_parts(&[b"ping"]);
    let event = Counting::Ping(Counted(Arc::clone(&clones)));
    dispatcher
        .try_enqueue(webhook_receiver::event::Decoded::new(event, key))
        .unwrap();
    dispatcher.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 3, "every handler ran");
    assert_eq!(clones.load(Ordering::SeqCst), 3);
}

/// A `Counting` event whose key is `n`.
fn ping(n: usize) -> webhook_receiver::event::Decoded<Counting> {
    let key = webhook_receiver::DedupKey::from_parts(&[&n.to_le_bytes()]);
    webhook_receiver::event::Decoded::new(Counting::Ping(Counted(Arc::default())), key)
}

#[tokio::test]
async fn queued_events_run_in_acceptance_order() {
    let seen = Arc::new(std::sync::Mutex::new(Vec::new()));
    let gate = Arc::new(Semaphore::new(0));
    let handlers = Handlers::with_state((Arc::clone(&seen), Arc::clone(&gate))).on(
        PING,
        |_p: Counted, ctx| async move {
            let (seen, gate) = ctx.state();
            gate.acquire().await.unwrap().forget();
            seen.lock().unwrap().push(ctx.key());
        },
    );
    let d = Dispatcher::builder(handlers)
        .concurrency_limit(1)
        .queue_capacity(100)
        .spawn();
    let keys: Vec<_> = (0..20)
        .map(|n| {
            let decoded = ping(n);
            let key = decoded.key();
            d.try_enqueue(decoded).unwrap();
            key
        })
        .collect();
    // One event runs (blocked on the gate), the others wait in the queue.
    tokio::task::yield_now().await;
    assert_eq!((d.running(), d.queued()), (1, 19));
    gate.add_permits(20);
    d.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(*seen.lock().unwrap(), keys);
    assert_eq!((d.running(), d.queued()), (0, 0));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_from_many_threads_all_run_once() {
    const THREADS: usize = 4;
    const PER_THREAD: usize = 5_000;
    let runs = Arc::new(AtomicUsize::new(0));
    let handlers =
        Handlers::with_state(Arc::clone(&runs)).on(PING, |_p: Counted, ctx| async move {
            // Every other handler yields, so that runners overlap with the senders.
            if ctx.key().as_bytes()[0] % 2 == 0 {
                tokio::task::yield_now().await;
            }
            ctx.state().fetch_add(1, Ordering::SeqCst);
        });
    let d = Dispatcher::builder(handlers)
        .concurrency_limit(3)
        .queue_capacity(THREADS * PER_THREAD)
        .spawn();
    // Plain threads, outside the runtime: enqueueing needs no runtime context.
    let senders: Vec<_> = (0..THREADS)
        .map(|t| {
            let d = d.clone();
            std::thread::spawn(move || {
                for n in 0..PER_THREAD {
                    d.try_enqueue(ping(t * PER_THREAD + n)).unwrap();
                }
            })
        })
        .collect();
    for s in senders {
        s.join().unwrap();
    }
    // Without a shutdown: the runners take every queued event, then park.
    while runs.load(Ordering::SeqCst) < THREADS * PER_THREAD || d.running() > 0 {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    assert_eq!(d.queued(), 0);
    d.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(runs.load(Ordering::SeqCst), THREADS * PER_THREAD);
}
