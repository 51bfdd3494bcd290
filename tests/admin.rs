//! The operator API (`store::InboxAdmin`) and the admin router, on both stores that keep
//! events: dead letters are kept; after the handler is fixed, a dry run counts them, a replay
//! runs each once (only the handler that failed, as a replay), and a second replay runs
//! nothing. On a stopped receiver's redb file a replay is marked for the next start. The admin
//! router behind an auth layer refuses a request without the token before the store.
#![cfg(all(
    feature = "durable",
    feature = "redis",
    feature = "admin",
    feature = "chirp"
))]

mod support;

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use http::{Request, StatusCode};
use support::operator::*;
use support::redis_server::RedisServer;
use tower::ServiceExt;
use webhook_receiver::admin;
use webhook_receiver::store::{
    AdminError, Cursor, DurableInbox, EventDetail, EventFilter, EventPage, EventState, InboxAdmin,
    RedisInbox, ReplayOutcome, ReplayReport, ReplayScope, StoredId,
};

/// Checks what inspect shows of a dead event: its body, headers without the secret, and
/// handler `b` dead with its last error.
fn check_dead_detail(event: &EventDetail) {
    assert_eq!(event.summary.state, EventState::Dead);
    assert_eq!(
        event.summary.event_type.as_deref(),
        Some("messages.sms.delivered")
    );
    assert!(
        std::str::from_utf8(&event.body)
            .unwrap()
            .contains("\"m000\"")
    );
    assert!(
        event
            .headers
            .iter()
            .all(|(name, _)| name != "x-webhook-secret"),
        "no credentials: {:?}",
        event.headers
    );
    let dead: Vec<_> = event.handlers.iter().filter(|h| h.dead).collect();
    assert_eq!(dead.len(), 1, "only b is dead: {:?}", event.handlers);
    assert_eq!(dead[0].attempts, 2);
    assert_eq!(dead[0].reason.as_deref(), Some("exhausted"));
    assert!(
        dead[0].last_error.as_deref().unwrap().contains("b is down"),
        "{:?}",
        dead[0]
    );
}

#[tokio::test]
async fn durable_dead_letters_are_kept_and_replayed_once_in_the_running_receiver() {
    let dir = TempDir::new("running");
    let inbox = DurableInbox::open(&dir.0).unwrap();
    dead_letter_all(&inbox, 20).await;
    // Dead events are kept, and not run again at a start.
    let page = inbox.list(&dead(), None, 100).await.unwrap();
    assert_eq!(page.events.len(), 20);
    assert!(page.next.is_none());
    check_dead_detail(&inbox.inspect(page.events[0].id).await.unwrap());

    // The fix is deployed: a new receiver on the same file; nothing dead runs by itself.
    let runs: Runs = Arc::default();
    let webhooks = receiver(inbox.clone(), &runs, false);
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert!(
        runs.lock().unwrap().is_empty(),
        "dead events wait for an operator"
    );
    assert_eq!(inbox.count(&dead()).await.unwrap(), 20, "the dry run");

    let report = inbox
        .replay_matching(&dead(), ReplayScope::Failed)
        .await
        .unwrap();
    assert_eq!(report, ReplayReport::new(20, 20));
    wait_until("every replay ran", async || {
        runs.lock().unwrap().len() >= 20
    })
    .await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let (b, a_ran) = b_runs(&runs);
    assert_eq!(b, replayed_once(20), "b ran once per event, as a replay");
    assert!(!a_ran, "a had succeeded: not run again");
    assert_eq!(inbox.pending_count().unwrap(), 0, "done: deleted");

    let again = inbox
        .replay_matching(&dead(), ReplayScope::Failed)
        .await
        .unwrap();
    assert_eq!(
        again,
        ReplayReport::new(0, 0),
        "a second replay runs nothing"
    );
}

#[tokio::test]
async fn durable_replay_on_a_stopped_file_runs_at_the_next_start_and_is_recorded() {
    let dir = TempDir::new("stopped");
    {
        let inbox = DurableInbox::open(&dir.0).unwrap();
        dead_letter_all(&inbox, 5).await;
    }
    // The receiver is stopped: the operator opens its file.
    {
        let inbox = DurableInbox::open(&dir.0).unwrap();
        let first = inbox.list(&dead(), None, 100).await.unwrap().events[0].id;
        let report = inbox
            .replay_matching(&dead(), ReplayScope::Failed)
            .await
            .unwrap();
        assert_eq!(report, ReplayReport::new(5, 5));
        let event = inbox.inspect(first).await.unwrap();
        assert_eq!(event.summary.state, EventState::Waiting);
        assert_eq!(event.summary.replays, 1);
        assert!(event.summary.last_replayed_at.is_some());
        assert_eq!(
            inbox.replay(first, ReplayScope::Failed).await.unwrap(),
            ReplayOutcome::NotDead(EventState::Waiting),
            "not dead any more: left as it is"
        );
    }
    let runs: Runs = Arc::default();
    let inbox = DurableInbox::open(&dir.0).unwrap();
    let webhooks = receiver(inbox.clone(), &runs, false);
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let (b, a_ran) = b_runs(&runs);
    assert_eq!(b, replayed_once(5));
    assert!(!a_ran);
    assert_eq!(inbox.count(&EventFilter::new()).await.unwrap(), 0);
}

#[tokio::test]
async fn durable_replay_of_every_handler_runs_the_one_that_succeeded_too_and_delete_removes() {
    let dir = TempDir::new("all");
    let inbox = DurableInbox::open(&dir.0).unwrap();
    dead_letter_all(&inbox, 3).await;
    let page = inbox.list(&dead(), None, 2).await.unwrap();
    assert_eq!(page.events.len(), 2, "a page of two");
    let next = page.next.clone().expect("a cursor to the third");
    let rest = inbox.list(&dead(), Some(&next), 2).await.unwrap();
    assert_eq!(rest.events.len(), 1);
    assert!(
        matches!(
            inbox.list(&dead(), Some(&Cursor::new("x")), 2).await,
            Err(AdminError::InvalidCursor(_))
        ),
        "a cursor this store did not write"
    );

    let (first, second, third) = (page.events[0].id, page.events[1].id, rest.events[0].id);
    inbox.delete(third).await.unwrap();
    assert!(matches!(inbox.inspect(third).await, Err(AdminError::NotFound(id)) if id == third));
    assert!(matches!(
        inbox.delete(StoredId::new(9_999)).await,
        Err(AdminError::NotFound(_))
    ));
    assert_eq!(
        inbox
            .prune(EventState::Dead, Duration::from_secs(3600))
            .await
            .unwrap(),
        0,
        "younger than an hour: kept"
    );

    let runs: Runs = Arc::default();
    let webhooks = receiver(inbox.clone(), &runs, false);
    assert_eq!(
        inbox.replay(first, ReplayScope::All).await.unwrap(),
        ReplayOutcome::Replayed
    );
    wait_until("a and b ran", async || runs.lock().unwrap().len() >= 2).await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let mut seen = runs.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [("a", "m000".into(), 1, true), ("b", "m000".into(), 1, true)]
    );
    assert_eq!(
        inbox.prune(EventState::Dead, Duration::ZERO).await.unwrap(),
        1,
        "the other dead event is pruned"
    );
    assert!(matches!(
        inbox.inspect(second).await,
        Err(AdminError::NotFound(_))
    ));
}

/// A request to the admin router.
async fn call(
    app: &axum::Router,
    method: &str,
    uri: &str,
    token: Option<&str>,
) -> (StatusCode, serde_json::Value) {
    let mut request = Request::builder().method(method).uri(uri);
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    let res = app
        .clone()
        .oneshot(request.body(Body::empty()).unwrap())
        .await
        .unwrap();
    let status = res.status();
    let bytes = http_body_util::BodyExt::collect(res.into_body())
        .await
        .unwrap()
        .to_bytes();
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(serde_json::Value::Null),
    )
}

#[tokio::test]
async fn redis_dead_letters_are_kept_and_replayed_once_over_the_admin_router() {
    let server = RedisServer::start();
    let connect = || async {
        RedisInbox::builder(server.url())
            .prefix("adm:")
            .connect()
            .await
            .unwrap()
    };
    {
        let inbox = connect().await;
        dead_letter_all(&inbox, 20).await;
        assert_eq!(
            inbox.backlog().await.unwrap(),
            0,
            "dead events left the stream"
        );
        assert_eq!(
            inbox.dead_letters().await.unwrap(),
            20,
            "and are in <prefix>dead too"
        );
        // Dropped, as at a process exit: its connections close (a stopped receiver's last
        // blocking read would otherwise still take the next entry, until the visibility timeout).
    }

    // A restart without the failure: a new replica (consumer).
    let inbox = connect().await;
    let runs: Runs = Arc::default();
    let webhooks = receiver(inbox.clone(), &runs, false);
    let app = behind_token(admin::router(inbox.clone()), "op-token");

    let (status, page) = call(&app, "GET", "/events?state=dead&limit=5", Some("op-token")).await;
    assert_eq!(status, StatusCode::OK, "{page}");
    let page: EventPage = serde_json::from_value(page).unwrap();
    assert_eq!(page.events.len(), 5);
    let cursor = page.next.expect("more");
    let (_, rest) = call(
        &app,
        "GET",
        &format!("/events?state=dead&limit=100&cursor={cursor}"),
        Some("op-token"),
    )
    .await;
    assert_eq!(rest["events"].as_array().unwrap().len(), 15, "{rest}");
    let (status, detail) = call(
        &app,
        "GET",
        &format!("/events/{}", page.events[0].id),
        Some("op-token"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{detail}");
    check_dead_detail(&serde_json::from_value(detail).unwrap());

    let (status, dry) = call(
        &app,
        "POST",
        "/replay?state=dead&dry_run=true",
        Some("op-token"),
    )
    .await;
    assert_eq!(
        (status, dry),
        (StatusCode::OK, serde_json::json!({"matched": 20}))
    );
    let (_, report) = call(&app, "POST", "/replay?state=dead", Some("op-token")).await;
    assert_eq!(report, serde_json::json!({"matched": 20, "replayed": 20}));
    wait_until("every replay ran", async || {
        runs.lock().unwrap().len() >= 20
    })
    .await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let (b, a_ran) = b_runs(&runs);
    assert_eq!(b, replayed_once(20), "b ran once per event, as a replay");
    assert!(!a_ran, "a had succeeded: not run again");
    assert_eq!(inbox.backlog().await.unwrap(), 0);
    let (_, again) = call(&app, "POST", "/replay?state=dead", Some("op-token")).await;
    assert_eq!(again, serde_json::json!({"matched": 0, "replayed": 0}));

    let (status, missing) = call(&app, "GET", "/events/42", Some("op-token")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["error"]["type"], "not_found");
    let (status, bad) = call(&app, "GET", "/events?state=gone", Some("op-token")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_eq!(bad["error"]["type"], "invalid_request");
}

/// The durable inbox, counting the operator calls that reach it.
#[derive(Clone)]
struct Counting {
    inbox: DurableInbox,
    calls: Arc<AtomicUsize>,
}

impl InboxAdmin for Counting {
    async fn list(
        &self,
        filter: &EventFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<EventPage, AdminError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inbox.list(filter, cursor, limit).await
    }

    async fn inspect(&self, id: StoredId) -> Result<EventDetail, AdminError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inbox.inspect(id).await
    }

    async fn replay(&self, id: StoredId, scope: ReplayScope) -> Result<ReplayOutcome, AdminError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inbox.replay(id, scope).await
    }

    async fn delete(&self, id: StoredId) -> Result<(), AdminError> {
        self.calls.fetch_add(1, Ordering::SeqCst);
        self.inbox.delete(id).await
    }
}

#[tokio::test]
async fn a_request_without_the_token_is_refused_by_the_auth_layer_and_never_reaches_the_store() {
    let dir = TempDir::new("auth");
    let inbox = DurableInbox::open(&dir.0).unwrap();
    dead_letter_all(&inbox, 1).await;
    let calls = Arc::new(AtomicUsize::new(0));
    let store = Counting {
        inbox: inbox.clone(),
        calls: Arc::clone(&calls),
    };
    let app = behind_token(admin::router(store), "op-token");
    for (method, uri) in [
        ("GET", "/events"),
        ("GET", "/events/1"),
        ("POST", "/events/1/replay"),
        ("DELETE", "/events/1"),
        ("POST", "/replay?state=dead"),
        ("POST", "/prune?state=dead&older_than_secs=0"),
    ] {
        for token in [None, Some("wrong-token")] {
            let (status, _) = call(&app, method, uri, token).await;
            assert_eq!(status, StatusCode::UNAUTHORIZED, "{method} {uri} {token:?}");
        }
    }
    assert_eq!(calls.load(Ordering::SeqCst), 0, "nothing reached the store");
    assert_eq!(inbox.count(&dead()).await.unwrap(), 1, "nothing changed");
    let (status, _) = call(&app, "GET", "/events", Some("op-token")).await;
    assert_eq!(status, StatusCode::OK);
    assert!(calls.load(Ordering::SeqCst) > 0, "with the token it does");
}

#[tokio::test]
async fn the_durable_inbox_passes_the_dead_letter_conformance_suite() {
    let dir = TempDir::new("conformance");
    webhook_receiver::store::conformance::check_dead_letters(|| async {
        DurableInbox::open(&dir.0).unwrap()
    })
    .await;
}

#[tokio::test]
async fn the_redis_inbox_passes_the_dead_letter_conformance_suite() {
    let server = RedisServer::start();
    webhook_receiver::store::conformance::check_dead_letters(|| async {
        RedisInbox::builder(server.url())
            .prefix("conf:")
            .connect()
            .await
            .unwrap()
    })
    .await;
}

/// Replays every dead event of the store `open` gives (each round a receiver of its own) while
/// handler `b` still fails: they die again, and each replay is counted and timed in the store.
async fn replays_are_recorded_across_deaths<S>(open: impl AsyncFn() -> S)
where
    S: webhook_receiver::store::Store + Clone + InboxAdmin,
{
    for round in 1..=2u32 {
        let store = &open().await;
        let runs: Runs = Arc::default();
        let webhooks = receiver(store.clone(), &runs, true);
        let report = store
            .replay_matching(&dead(), ReplayScope::Failed)
            .await
            .unwrap();
        assert_eq!(report, ReplayReport::new(3, 3));
        wait_until("every replay died again", async || {
            store.count(&dead()).await.unwrap() == 3
        })
        .await;
        webhooks.drain(Duration::from_secs(10)).await.unwrap();
        let (b, a_ran) = b_runs(&runs);
        assert_eq!(b.len(), 6, "b's two attempts per event, again");
        assert!(!a_ran);
        let page = store.list(&dead(), None, 10).await.unwrap();
        for event in &page.events {
            assert_eq!(event.replays, round, "{event:?}");
            assert!(event.last_replayed_at.is_some());
            assert_eq!(event.attempts, 2);
        }
    }
}

#[tokio::test]
async fn durable_replays_are_counted_when_an_event_dies_again() {
    let dir = TempDir::new("again");
    let inbox = DurableInbox::open(&dir.0).unwrap();
    dead_letter_all(&inbox, 3).await;
    replays_are_recorded_across_deaths(async || inbox.clone()).await;
}

#[tokio::test]
async fn redis_replays_are_counted_when_an_event_dies_again() {
    let server = RedisServer::start();
    // A new connection per receiver, as a process restart gives: a stopped receiver's last
    // blocking read (still on the server) would otherwise take one replayed entry until the
    // visibility timeout.
    let connect = async || {
        RedisInbox::builder(server.url())
            .prefix("again:")
            .connect()
            .await
            .unwrap()
    };
    dead_letter_all(&connect().await, 3).await;
    replays_are_recorded_across_deaths(connect).await;
}
