//! Handler retries, dead letters, and the ways an accepted event can end unhandled: each is
//! retried or reported, never dropped silently.

mod support;

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use support::*;
use tower::ServiceExt;
use webhook_receiver::chirp::{self, ChirpEvent, MessageStatus};
use webhook_receiver::dispatch::{
    DeadLetter, DeadLetterReason, EventContext, HandlerError, HandlerFailure, RetryPolicy,
};
use webhook_receiver::event::{Decoded, Event, EventType};
use webhook_receiver::stack::{Dispatcher, Handlers};
use webhook_receiver::{DedupKey, Format};

/// Retries after 5–10 ms: the tests wait for retries, not for the default backoff.
fn quick(attempts: u32) -> RetryPolicy {
    RetryPolicy::default()
        .max_attempts(attempts)
        .initial_backoff(Duration::from_millis(10))
}

/// What the hooks saw.
#[derive(Clone, Default)]
struct Hooks {
    /// (handler, attempt, retried?, failure)
    errors: Arc<Mutex<Vec<(String, u32, bool, String)>>>,
    dead: Arc<Mutex<Vec<DeadLetter<ChirpEvent>>>>,
}

impl Hooks {
    fn install<S: Clone + Send + Sync + 'static>(
        &self,
        handlers: Handlers<ChirpEvent, S>,
    ) -> Handlers<ChirpEvent, S> {
        let errors = Arc::clone(&self.errors);
        let dead = Arc::clone(&self.dead);
        handlers
            .on_error(move |e: &HandlerError| {
                errors.lock().unwrap().push((
                    e.handler.clone(),
                    e.attempt,
                    e.retry_in.is_some(),
                    e.failure.to_string(),
                ));
            })
            .on_dead_letter(move |letter| dead.lock().unwrap().push(letter))
    }

    fn errors(&self) -> Vec<(String, u32, bool, String)> {
        self.errors.lock().unwrap().clone()
    }

    /// (handler, attempts, reason, last error) of every dead letter.
    fn dead(&self) -> Vec<(Option<String>, u32, DeadLetterReason, Option<String>)> {
        self.dead
            .lock()
            .unwrap()
            .iter()
            .map(|d| {
                (
                    d.handler.clone(),
                    d.attempts,
                    d.reason,
                    d.last_error.as_ref().map(ToString::to_string),
                )
            })
            .collect()
    }
}

fn decoded(id: &str) -> Decoded<ChirpEvent> {
    chirp::Chirp
        .decode(&http::HeaderMap::new(), delivered(id).as_bytes())
        .unwrap()
}

/// Attempts seen per handler, and the attempt numbers the context gave.
type Attempts = Arc<Mutex<Vec<(&'static str, u32)>>>;

#[tokio::test]
async fn only_the_failed_handler_is_retried_with_its_attempt_number_until_it_succeeds() {
    let hooks = Hooks::default();
    let attempts: Attempts = Arc::default();
    let handlers = Handlers::with_state(Arc::clone(&attempts))
        .retry_policy(quick(5))
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            ctx.state().lock().unwrap().push(("steady", ctx.attempt()));
        })
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            ctx.state().lock().unwrap().push(("flaky", ctx.attempt()));
            if ctx.attempt() < 3 {
                return Err(std::io::Error::other("db down"));
            }
            Ok(())
        });
    let d = Dispatcher::builder(hooks.install(handlers)).spawn();
    d.try_enqueue(decoded("m1")).unwrap();
    d.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        *attempts.lock().unwrap(),
        [("steady", 1), ("flaky", 1), ("flaky", 2), ("flaky", 3)],
        "the steady handler ran once; the flaky one until its third attempt"
    );
    let errors = hooks.errors();
    assert_eq!(errors.len(), 2, "on_error sees every failed attempt");
    assert!(
        errors
            .iter()
            .zip(1..)
            .all(|(e, n)| e.0 == "messages.sms.delivered" && e.1 == n && e.2 && e.3 == "db down"),
        "{errors:?}"
    );
    assert!(hooks.dead().is_empty(), "it succeeded: no dead letter");
}

#[tokio::test]
async fn the_last_failed_attempt_is_dead_lettered_exactly_once_with_everything_needed() {
    let hooks = Hooks::default();
    let handlers = Handlers::new().retry_policy(quick(3)).on(
        chirp::SMS_DELIVERED,
        |_s: MessageStatus, ctx| async move {
            Err::<(), _>(std::io::Error::other(format!("failed {}", ctx.attempt())))
        },
    );
    let d = Dispatcher::builder(hooks.install(handlers)).spawn();
    let event = decoded("m2");
    let key = event.key();
    d.try_enqueue(event).unwrap();
    d.drain(Duration::from_secs(10)).await.unwrap();

    let errors = hooks.errors();
    let retried: Vec<bool> = errors.iter().map(|e| e.2).collect();
    assert_eq!(
        retried,
        [true, true, false],
        "the third attempt is the last"
    );
    let dead = hooks.dead.lock().unwrap();
    assert_eq!(dead.len(), 1, "exactly one dead letter");
    let letter = &dead[0];
    assert_eq!(letter.key, key);
    assert_eq!(letter.id.as_deref(), Some("m2"));
    assert_eq!(letter.handler.as_deref(), Some("messages.sms.delivered"));
    assert_eq!(letter.attempts, 3);
    assert_eq!(letter.reason, DeadLetterReason::Exhausted);
    assert_eq!(
        letter
            .last_error
            .as_ref()
            .map(ToString::to_string)
            .as_deref(),
        Some("failed 3")
    );
    assert_eq!(letter.event.event_name(), "messages.sms.delivered");
}

#[tokio::test]
async fn a_panic_and_a_timeout_are_failed_attempts_and_the_timed_out_future_is_dropped() {
    struct SetOnDrop(Arc<AtomicBool>);
    impl Drop for SetOnDrop {
        fn drop(&mut self) {
            self.0.store(true, Ordering::SeqCst);
        }
    }
    let hooks = Hooks::default();
    let dropped = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let handlers = Handlers::with_state((Arc::clone(&dropped), Arc::clone(&done)))
        .retry_policy(quick(3).attempt_timeout(Duration::from_millis(50)))
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, ctx| async move {
            let (dropped, done) = ctx.state();
            match ctx.attempt() {
                1 => panic!("first attempt panics"),
                2 => {
                    let _guard = SetOnDrop(Arc::clone(dropped));
                    std::future::pending::<()>().await;
                }
                _ => {
                    done.fetch_add(1, Ordering::SeqCst);
                }
            }
        });
    let d = Dispatcher::builder(hooks.install(handlers)).spawn();
    d.try_enqueue(decoded("m3")).unwrap();
    d.drain(Duration::from_secs(10)).await.unwrap();
    let failures: Vec<String> = hooks.errors().into_iter().map(|e| e.3).collect();
    assert_eq!(
        failures,
        ["panicked: first attempt panics", "timed out after 50ms"]
    );
    assert!(
        dropped.load(Ordering::SeqCst),
        "the timed-out future was dropped"
    );
    assert_eq!(done.load(Ordering::SeqCst), 1, "the third attempt ran");
    assert!(hooks.dead().is_empty());
}

#[tokio::test]
async fn a_waiting_retry_holds_no_runner_and_no_concurrency_slot() {
    let ran = Arc::new(Mutex::new(Vec::new()));
    let handlers = Handlers::with_state(Arc::clone(&ran))
        .retry_policy(
            RetryPolicy::default()
                .initial_backoff(Duration::from_secs(3600))
                .without_jitter(),
        )
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| async move {
            ctx.state().lock().unwrap().push(s.id.clone());
            if s.id == "fails" {
                return Err(std::io::Error::other("later"));
            }
            Ok(())
        });
    let d = Dispatcher::builder(handlers).concurrency_limit(1).spawn();
    d.try_enqueue(decoded("fails")).unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while d.retrying() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!((d.running(), d.queued(), d.retrying()), (0, 0, 1));
    // With the one concurrency slot free, the next events run while the retry waits an hour.
    for id in ["a", "b"] {
        d.try_enqueue(decoded(id)).unwrap();
    }
    tokio::time::timeout(Duration::from_secs(10), async {
        while ran.lock().unwrap().len() < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .expect("the later events ran while the retry waited");
    assert_eq!(*ran.lock().unwrap(), ["fails", "a", "b"]);
    assert_eq!(d.retrying(), 1);
    // The drain cannot wait an hour: at its deadline the waiting retry is reported.
    let err = d.drain(Duration::from_millis(200)).await.unwrap_err();
    assert_eq!((err.running, err.queued, err.retrying), (0, 0, 1));
}

#[tokio::test]
async fn retries_count_against_the_queue_so_a_storm_of_failures_gets_503() {
    let rec = Recorder::default();
    let (webhooks, d) = stack_with(&rec, |b| {
        b.queue_capacity(3)
            .concurrency_limit(1)
            .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_secs(3600)))
            .on(chirp::SMS_DELIVERED, |_s, _ctx| async {
                Err::<(), _>(std::io::Error::other("always"))
            })
    });
    for n in 0..3 {
        assert_accepted(&webhooks, delivered(&format!("s{n}"))).await;
    }
    tokio::time::timeout(Duration::from_secs(10), async {
        while d.retrying() < 3 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    })
    .await
    .unwrap();
    assert_eq!((d.running(), d.queued()), (0, 0), "nothing runs or queues");
    let res = webhooks
        .clone()
        .oneshot(chirp_request(delivered("s3")))
        .await
        .unwrap();
    let body = error_body(res, 503, "api_error").await;
    assert_eq!(body["code"], "queue_full");
    let err = d.drain(Duration::from_millis(100)).await.unwrap_err();
    assert_eq!(err.retrying, 3);
}

#[tokio::test]
async fn a_handler_can_have_its_own_policy() {
    let hooks = Hooks::default();
    let handlers = Handlers::new()
        .retry_policy(quick(4))
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, _ctx| async {
            Err::<(), _>(std::io::Error::other("a"))
        })
        .on_group("messages.*", |_e: ChirpEvent, _ctx| async {
            Err::<(), _>(std::io::Error::other("b"))
        })
        .retry_policy_for("messages.*", RetryPolicy::never());
    let d = Dispatcher::builder(hooks.install(handlers)).spawn();
    d.try_enqueue(decoded("m4")).unwrap();
    d.drain(Duration::from_secs(10)).await.unwrap();
    let mut dead = hooks.dead();
    dead.sort_by_key(|d| d.1);
    assert_eq!(
        dead,
        [
            (
                Some("messages.*".to_owned()),
                1,
                DeadLetterReason::Exhausted,
                Some("b".to_owned())
            ),
            (
                Some("messages.sms.delivered".to_owned()),
                4,
                DeadLetterReason::Exhausted,
                Some("a".to_owned())
            ),
        ]
    );
}

#[tokio::test]
async fn a_handlers_policy_is_set_by_label_before_or_after_it_is_registered() {
    let hooks = Hooks::default();
    // Set before the handler it names, and for a label two handlers share; the third handler,
    // registered in between, keeps the registry's policy.
    let handlers = Handlers::new()
        .retry_policy(quick(3))
        .retry_policy_for("messages.sms.delivered", RetryPolicy::never())
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, _ctx| async {
            Err::<(), _>(std::io::Error::other("a"))
        })
        .on_group("messages.*", |_e: ChirpEvent, _ctx| async {
            Err::<(), _>(std::io::Error::other("b"))
        })
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, _ctx| async {
            Err::<(), _>(std::io::Error::other("c"))
        });
    let d = Dispatcher::builder(hooks.install(handlers)).spawn();
    d.try_enqueue(decoded("m5")).unwrap();
    d.drain(Duration::from_secs(10)).await.unwrap();
    let mut attempts: Vec<_> = hooks
        .dead()
        .into_iter()
        .map(|(handler, attempts, _, error)| (error.unwrap(), handler.unwrap(), attempts))
        .collect();
    attempts.sort();
    assert_eq!(
        attempts,
        [
            ("a".to_owned(), "messages.sms.delivered".to_owned(), 1),
            ("b".to_owned(), "messages.*".to_owned(), 3),
            ("c".to_owned(), "messages.sms.delivered".to_owned(), 1),
        ]
    );
}

#[tokio::test(flavor = "current_thread")]
async fn at_the_drain_deadline_every_event_not_run_is_logged_counted_and_dead_lettered() {
    let (logs, _guard) = capture_logs();
    let hooks = Hooks::default();
    let handlers = Handlers::new()
        .on(chirp::SMS_DELIVERED, |_s: MessageStatus, _ctx| async {
            tokio::time::sleep(Duration::from_millis(1500)).await;
        })
        .on_group("messages.whatsapp.*", |_e: ChirpEvent, _ctx| async {
            Err::<(), _>(std::io::Error::other("retry me"))
        })
        .retry_policy_for(
            "messages.whatsapp.*",
            RetryPolicy::default()
                .initial_backoff(Duration::from_secs(60))
                .without_jitter(),
        );
    let d = Dispatcher::builder(hooks.install(handlers))
        .concurrency_limit(1)
        .queue_capacity(4)
        .spawn();
    // One WhatsApp event fails and waits a minute for its retry; then three slow SMS events.
    let wa = chirp::Chirp
        .decode(
            &http::HeaderMap::new(),
            fixture("whatsapp_delivered").as_bytes(),
        )
        .unwrap();
    let wa_key = wa.key();
    d.try_enqueue(wa).unwrap();
    while d.retrying() == 0 {
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    let keys: Vec<DedupKey> = ["q1", "q2", "q3"]
        .into_iter()
        .map(|id| {
            let e = decoded(id);
            let key = e.key();
            d.try_enqueue(e).unwrap();
            key
        })
        .collect();
    let err = d.drain(Duration::from_secs(1)).await.unwrap_err();
    assert_eq!(
        (err.running, err.queued, err.retrying, err.abandoned),
        (1, 2, 1, 3)
    );
    assert_eq!(
        err.to_string(),
        "drain deadline passed with 1 event(s) still running, 2 queued and 1 waiting for a retry; the 3 not run were logged and dead-lettered"
    );
    let dead = hooks.dead.lock().unwrap();
    let mut named: Vec<(DedupKey, Option<String>, u32, DeadLetterReason)> = dead
        .iter()
        .map(|d| (d.key, d.handler.clone(), d.attempts, d.reason))
        .collect();
    named.sort_by_key(|n| n.0.to_string());
    let mut expected = vec![
        (keys[1], None, 0, DeadLetterReason::Shutdown),
        (keys[2], None, 0, DeadLetterReason::Shutdown),
        (
            wa_key,
            Some("messages.whatsapp.*".to_owned()),
            1,
            DeadLetterReason::Shutdown,
        ),
    ];
    expected.sort_by_key(|n| n.0.to_string());
    assert_eq!(named, expected, "the two queued and the waiting retry");
    assert_eq!(
        dead.iter()
            .find(|d| d.key == wa_key)
            .and_then(|d| d.last_error.as_ref())
            .map(ToString::to_string)
            .as_deref(),
        Some("retry me"),
        "the retry's last error is kept"
    );
    let text = logs.text();
    for key in [keys[1], keys[2], wa_key] {
        let line = text
            .lines()
            .find(|l| l.contains(&key.to_string()) && l.contains("will not be handled"))
            .unwrap_or_else(|| panic!("no line names {key}: {text}"));
        assert!(
            line.contains("ERROR")
                && line.contains("reason=\"shutdown\"")
                && line.contains("event=messages."),
            "{line}"
        );
    }
}

#[tokio::test(flavor = "current_thread")]
async fn an_event_without_handler_or_fallback_is_logged_and_dead_lettered() {
    let (logs, _guard) = capture_logs();
    let hooks = Hooks::default();
    let handlers = Handlers::new().on(chirp::SMS_SENT, |_s: MessageStatus, _ctx| async {});
    let d = Dispatcher::builder(hooks.install(handlers)).spawn();
    let event = decoded("m5");
    let key = event.key();
    d.try_enqueue(event).unwrap();
    d.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(hooks.dead(), [(None, 0, DeadLetterReason::NoHandler, None)]);
    let text = logs.text();
    assert!(
        text.lines().any(|l| l.contains("ERROR")
            && l.contains(&key.to_string())
            && l.contains("no_handler")),
        "{text}"
    );
}

#[derive(Debug, Clone)]
enum Odd {
    Ping,
}

impl Event for Odd {
    fn event_name(&self) -> &str {
        "ping"
    }
}

/// A type named `ping` whose accessor finds no payload in the `Ping` variant: a registration
/// mistake the dispatcher cannot route around.
const PING_WITHOUT_PAYLOAD: EventType<Odd, u8> = EventType::new("ping", |_| None);

#[tokio::test]
async fn a_handler_that_gets_no_payload_is_reported_and_dead_lettered_not_retried() {
    let errors = Arc::new(Mutex::new(Vec::new()));
    let dead = Arc::new(Mutex::new(Vec::new()));
    let handlers = Handlers::new()
        .on(PING_WITHOUT_PAYLOAD, |_n: u8, _ctx: EventContext| async {})
        .on_error({
            let errors = Arc::clone(&errors);
            move |e: &HandlerError| {
                errors
                    .lock()
                    .unwrap()
                    .push(matches!(e.failure, HandlerFailure::NoPayload) && e.retry_in.is_none());
            }
        })
        .on_dead_letter({
            let dead = Arc::clone(&dead);
            move |d: DeadLetter<Odd>| dead.lock().unwrap().push((d.reason, d.attempts))
        });
    let d = Dispatcher::builder(handlers).spawn();
    d.try_enqueue(Decoded::new(Odd::Ping, DedupKey::from_bytes([7; 16])))
        .unwrap();
    d.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(*errors.lock().unwrap(), [true], "on_error saw it, once");
    assert_eq!(*dead.lock().unwrap(), [(DeadLetterReason::NoPayload, 1)]);
}

#[test]
fn when_the_handler_runtime_is_dropped_its_events_are_dead_lettered_and_the_drain_completes() {
    let handler_runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let hooks = Hooks::default();
    let handlers = Handlers::new().on(chirp::SMS_DELIVERED, |_s: MessageStatus, _ctx| async {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    });
    let d = {
        let _on = handler_runtime.enter();
        Dispatcher::builder(hooks.install(handlers))
            .concurrency_limit(1)
            .spawn()
    };
    let server = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    server.block_on(async {
        for id in ["r1", "r2", "r3"] {
            d.try_enqueue(decoded(id)).unwrap();
        }
        while d.running() == 0 {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    });
    drop(handler_runtime);
    let mut dead = hooks.dead();
    dead.sort_by_key(|d| d.1);
    assert_eq!(
        dead,
        vec![(None, 0, DeadLetterReason::RuntimeDropped, None); 3],
        "the running one and the two queued"
    );
    server.block_on(async {
        assert!(d.is_closing(), "no runtime to run new events: closed");
        assert_eq!(
            d.try_enqueue(decoded("r4")).unwrap_err(),
            webhook_receiver::stack::EnqueueError::Closed
        );
        d.drain(Duration::from_secs(10))
            .await
            .expect("nothing is left: the drain completes");
    });
}

// ===== a panic on a runner's own path (issue 21, item 6) =====

/// Waits (a liveness bound, not a timing) until `n` events were counted in `done`.
async fn until_done(done: &AtomicUsize, n: usize) {
    tokio::time::timeout(Duration::from_secs(10), async {
        while done.load(Ordering::SeqCst) < n {
            tokio::task::yield_now().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{n} event(s) handled"));
}

#[tokio::test]
async fn a_backoff_past_the_clocks_range_waits_capped_and_the_dispatcher_goes_on() {
    let hooks = Hooks::default();
    let done = Arc::new(AtomicUsize::new(0));
    let policy = RetryPolicy::default()
        .max_attempts(2)
        .initial_backoff(Duration::MAX)
        .max_backoff(Duration::MAX)
        .without_jitter();
    let handlers = Handlers::with_state(Arc::clone(&done))
        .retry_policy(policy)
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| async move {
            if s.id == "m-fails" {
                return Err(std::io::Error::other("db down"));
            }
            ctx.state().fetch_add(1, Ordering::SeqCst);
            Ok(())
        });
    let d = Dispatcher::builder(hooks.install(handlers)).spawn();
    d.try_enqueue(decoded("m-fails")).unwrap();
    tokio::time::timeout(Duration::from_secs(10), async {
        while d.retrying() == 0 {
            tokio::task::yield_now().await;
        }
    })
    .await
    .expect("the failed handler waits for its retry");
    assert!(!d.is_closing(), "the enormous backoff did not close it");
    d.try_enqueue(decoded("m-later")).unwrap();
    until_done(&done, 1).await;
    let errors = hooks.errors();
    assert_eq!(errors.len(), 1, "{errors:?}");
    assert!(errors[0].2, "the failure was reported as retried");
    // The retry waits (capped, far ahead): the drain deadline leaves it, reported.
    let left = d.drain(Duration::from_millis(50)).await.unwrap_err();
    assert_eq!((left.retrying, left.abandoned), (1, 1));
    assert_eq!(hooks.dead().len(), 1);
    assert_eq!(hooks.dead()[0].2, DeadLetterReason::Shutdown);
}

/// An error whose `Display` panics, as a user's error type may.
#[derive(Debug)]
struct PanickyDisplay;

impl std::fmt::Display for PanickyDisplay {
    fn fmt(&self, _: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        panic!("Display of a user's error panicked")
    }
}

impl std::error::Error for PanickyDisplay {}

#[tokio::test(flavor = "current_thread")]
async fn an_error_whose_display_panics_is_reported_and_the_dispatcher_goes_on() {
    // The log lines format the error (a subscriber must be listening for that).
    let (logs, _guard) = capture_logs();
    let done = Arc::new(AtomicUsize::new(0));
    let failed = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&failed);
    let handlers = Handlers::with_state(Arc::clone(&done))
        .retry_policy(RetryPolicy::never())
        .on(chirp::SMS_DELIVERED, |s: MessageStatus, ctx| async move {
            if s.id == "m-panicky" {
                return Err(PanickyDisplay);
            }
            ctx.state().fetch_add(1, Ordering::SeqCst);
            Ok(())
        })
        .on_error(move |e: &HandlerError| sink.lock().unwrap().push((e.attempt, e.retry_in)));
    let d = Dispatcher::builder(handlers).concurrency_limit(1).spawn();
    d.try_enqueue(decoded("m-panicky")).unwrap();
    d.try_enqueue(decoded("m-later")).unwrap();
    until_done(&done, 1).await;
    assert!(!d.is_closing(), "the panic in a log line did not close it");
    d.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        *failed.lock().unwrap(),
        [(1, None)],
        "the failure was reported"
    );
    let text = logs.text();
    assert!(
        text.contains("webhook handler failed on its last attempt"),
        "{text}"
    );
    assert!(text.contains("Display panicked"), "{text}");
}

/// An event whose `event_name` panics once armed, after the first call (the one made when it
/// is queued): the runner's own path calls it again, outside the handlers' panic catch.
#[derive(Debug, Clone)]
struct Brittle {
    armed: bool,
    names: Arc<AtomicUsize>,
}

impl Brittle {
    fn new(armed: bool) -> Self {
        Self {
            armed,
            names: Arc::default(),
        }
    }
}

impl Event for Brittle {
    fn event_name(&self) -> &str {
        let calls = self.names.fetch_add(1, Ordering::SeqCst);
        assert!(
            !self.armed || calls == 0,
            "event_name of a user's event panicked"
        );
        "brittle"
    }
}

#[tokio::test(flavor = "current_thread")]
async fn a_runner_that_panics_outside_a_handler_is_replaced_and_nothing_queued_is_lost() {
    let done = Arc::new(AtomicUsize::new(0));
    let dead = Arc::new(Mutex::new(Vec::new()));
    let sink = Arc::clone(&dead);
    let handlers = Handlers::with_state(Arc::clone(&done))
        .on_group("brittle", |_: Brittle, ctx| async move {
            ctx.state().fetch_add(1, Ordering::SeqCst);
        })
        .on_dead_letter(move |letter: DeadLetter<Brittle>| {
            sink.lock().unwrap().push((letter.key, letter.reason));
        });
    let d = Dispatcher::builder(handlers).concurrency_limit(1).spawn();
    let key = |n: u8| DedupKey::from_bytes([n; 16]);
    // The one runner takes the armed event first and panics; the three queued behind it wait.
    d.try_enqueue(Decoded::new(Brittle::new(true), key(1)))
        .unwrap();
    for n in 2..5 {
        d.try_enqueue(Decoded::new(Brittle::new(false), key(n)))
            .unwrap();
    }
    until_done(&done, 3).await;
    assert!(!d.is_closing(), "the panicked runner did not close it");
    d.try_enqueue(Decoded::new(Brittle::new(false), key(5)))
        .unwrap();
    d.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(done.load(Ordering::SeqCst), 4, "every later event ran");
    assert_eq!(
        *dead.lock().unwrap(),
        [(key(1), DeadLetterReason::Panicked)],
        "the event whose run panicked is reported, once"
    );
}
