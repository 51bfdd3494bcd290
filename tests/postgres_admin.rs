//! The operator API (`store::InboxAdmin`) on the Postgres inbox, against a real PostgreSQL
//! server (started by each test with `initdb` and `pg_ctl`): dead events are kept as rows;
//! after the handler is fixed, a dry run counts them, a replay runs each once (only the handler
//! that failed, as a replay), a second replay runs nothing; replays are counted across deaths;
//! a replay of every handler, delete and prune; and the dead-letter conformance suite.
#![cfg(all(
    feature = "postgres",
    feature = "durable",
    feature = "admin",
    feature = "chirp"
))]

mod support;

use std::sync::Arc;
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use support::operator::*;
use support::postgres_server::PostgresServer;
use webhook_receiver::store::{
    AdminError, Cursor, EventFilter, EventState, InboxAdmin, PostgresInbox, ReplayOutcome,
    ReplayReport, ReplayScope, StoredId, conformance,
};

async fn pool(server: &PostgresServer) -> PgPool {
    PgPoolOptions::new()
        .max_connections(8)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&server.url())
        .await
        .expect("connect to the test's PostgreSQL")
}

async fn inbox(server: &PostgresServer) -> PostgresInbox {
    PostgresInbox::builder(pool(server).await)
        .poll_interval(Duration::from_millis(100))
        .connect()
        .await
        .expect("create the inbox")
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

#[tokio::test]
async fn postgres_dead_letters_are_kept_and_replayed_once() {
    let server = PostgresServer::start();
    let inbox = inbox(&server).await;
    dead_letter_all(&inbox, 20).await;
    assert_eq!(
        inbox.backlog().await.unwrap(),
        0,
        "dead events left `events`"
    );
    assert_eq!(
        inbox.dead_letters().await.unwrap(),
        20,
        "one dead letter (b's) per event"
    );

    // Listed in pages, oldest first, each once; the dry run agrees.
    let mut listed = Vec::new();
    let mut cursor = None;
    loop {
        let page = inbox.list(&dead(), cursor.as_ref(), 7).await.unwrap();
        assert!(page.events.len() <= 7);
        listed.extend(page.events);
        match page.next {
            Some(next) => cursor = Some(next),
            None => break,
        }
    }
    assert_eq!(listed.len(), 20);
    assert!(listed.windows(2).all(|w| w[0].id < w[1].id), "by id");
    assert!(listed.iter().all(|e| e.state == EventState::Dead
        && e.attempts == 2
        && e.event_type.as_deref() == Some("messages.sms.delivered")));
    assert_eq!(inbox.count(&dead()).await.unwrap(), 20, "the dry run");
    assert_eq!(
        inbox
            .count(&EventFilter::new().state(EventState::Waiting))
            .await
            .unwrap(),
        0
    );
    assert_eq!(
        inbox
            .count(&dead().event_type("messages.sms.sent"))
            .await
            .unwrap(),
        0,
        "filtered by event type"
    );
    assert!(matches!(
        inbox.list(&dead(), Some(&Cursor::new("x")), 2).await,
        Err(AdminError::InvalidCursor(_))
    ));
    let hour_ago = std::time::SystemTime::now() - Duration::from_secs(3600);
    assert_eq!(
        inbox.count(&dead().received_after(hour_ago)).await.unwrap(),
        20,
        "received in the last hour"
    );
    assert_eq!(
        inbox
            .count(&dead().received_before(hour_ago))
            .await
            .unwrap(),
        0,
        "none before"
    );

    // Inspect: the body, headers without the secret, b dead with its last error.
    let event = inbox.inspect(listed[0].id).await.unwrap();
    assert_eq!(event.summary.state, EventState::Dead);
    assert!(
        std::str::from_utf8(&event.body)
            .unwrap()
            .contains("\"m000\"")
    );
    assert!(!event.headers.is_empty());
    assert!(
        event
            .headers
            .iter()
            .all(|(name, _)| name != "x-webhook-secret"),
        "no credentials: {:?}",
        event.headers
    );
    let dead_handlers: Vec<_> = event.handlers.iter().filter(|h| h.dead).collect();
    assert_eq!(dead_handlers.len(), 1, "only b: {:?}", event.handlers);
    assert_eq!(dead_handlers[0].attempts, 2);
    // b's route id (a hash of its label and place), the same for every event.
    let b_route = dead_handlers[0].route.expect("b's route");
    let last = inbox.inspect(listed[19].id).await.unwrap();
    assert!(
        last.handlers
            .iter()
            .any(|h| h.dead && h.route == Some(b_route))
    );
    assert_eq!(dead_handlers[0].reason.as_deref(), Some("exhausted"));
    assert!(
        dead_handlers[0]
            .last_error
            .as_deref()
            .unwrap()
            .contains("b is down")
    );
    assert!(event.key.is_some());

    // The fix is deployed: nothing dead runs by itself.
    let runs: Runs = Arc::default();
    let webhooks = receiver(inbox.clone(), &runs, false);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert!(
        runs.lock().unwrap().is_empty(),
        "dead events wait for an operator"
    );
    let report = inbox
        .replay_matching(&dead(), ReplayScope::Failed)
        .await
        .unwrap();
    assert_eq!(report, ReplayReport::new(20, 20));
    wait_until("every replay ran", async || {
        runs.lock().unwrap().len() >= 20 && inbox.backlog().await.unwrap() == 0
    })
    .await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let (b, a_ran) = b_runs(&runs);
    assert_eq!(b, replayed_once(20), "b ran once per event, as a replay");
    assert!(!a_ran, "a had succeeded: not run again");
    assert_eq!(inbox.dead_letters().await.unwrap(), 0);
    assert_eq!(inbox.count(&EventFilter::new()).await.unwrap(), 0, "done");
    assert_eq!(
        inbox
            .replay_matching(&dead(), ReplayScope::Failed)
            .await
            .unwrap(),
        ReplayReport::new(0, 0),
        "a second replay runs nothing"
    );
    assert!(matches!(
        inbox.replay(listed[0].id, ReplayScope::Failed).await,
        Err(AdminError::NotFound(_))
    ));
}

#[tokio::test]
async fn postgres_replays_are_counted_when_an_event_dies_again() {
    let server = PostgresServer::start();
    let inbox = inbox(&server).await;
    dead_letter_all(&inbox, 3).await;
    let ids: Vec<StoredId> = inbox
        .list(&dead(), None, 10)
        .await
        .unwrap()
        .events
        .iter()
        .map(|e| e.id)
        .collect();
    for round in 1..=2u32 {
        let runs: Runs = Arc::default();
        let webhooks = receiver(inbox.clone(), &runs, true);
        let report = inbox
            .replay_matching(&dead(), ReplayScope::Failed)
            .await
            .unwrap();
        assert_eq!(report, ReplayReport::new(3, 3));
        // Right after the replay: live again, under the same id, counted.
        wait_until("every replay died again", async || {
            inbox.count(&dead()).await.unwrap() == 3 && inbox.backlog().await.unwrap() == 0
        })
        .await;
        webhooks.drain(Duration::from_secs(10)).await.unwrap();
        let (b, a_ran) = b_runs(&runs);
        assert_eq!(b.len(), 6, "b's two attempts per event, again");
        assert!(!a_ran);
        let page = inbox.list(&dead(), None, 10).await.unwrap();
        let again: Vec<StoredId> = page.events.iter().map(|e| e.id).collect();
        assert_eq!(again, ids, "a replayed event keeps its id");
        for event in &page.events {
            assert_eq!(event.replays, round, "{event:?}");
            assert!(event.last_replayed_at.is_some());
            assert_eq!(event.attempts, 2);
        }
        let detail = inbox.inspect(ids[0]).await.unwrap();
        assert_eq!(detail.summary.replays, round);
    }
}

#[tokio::test]
async fn postgres_replay_while_stopped_then_all_delete_and_prune() {
    let server = PostgresServer::start();
    let inbox = inbox(&server).await;
    dead_letter_all(&inbox, 4).await;
    let page = inbox.list(&dead(), None, 2).await.unwrap();
    assert_eq!(page.events.len(), 2, "a page of two");
    let rest = inbox.list(&dead(), page.next.as_ref(), 2).await.unwrap();
    assert_eq!(rest.events.len(), 2);
    let (first, second, third) = (page.events[0].id, page.events[1].id, rest.events[0].id);

    let b_route = inbox.inspect(second).await.unwrap().handlers[0].route;
    assert!(b_route.is_some());
    // No receiver runs: the replayed event waits in `events`, as a replay, counted.
    assert_eq!(
        inbox.replay(second, ReplayScope::Failed).await.unwrap(),
        ReplayOutcome::Replayed
    );
    let waiting = inbox.inspect(second).await.unwrap();
    assert_eq!(waiting.summary.state, EventState::Waiting);
    assert_eq!(waiting.summary.replays, 1);
    assert!(waiting.summary.last_replayed_at.is_some());
    assert_eq!(
        waiting
            .handlers
            .iter()
            .map(|h| (h.route, h.attempts, h.done, h.dead))
            .collect::<Vec<_>>(),
        [(b_route, 0, false, false)],
        "only b is to run, from its first attempt"
    );
    assert_eq!(
        inbox.replay(second, ReplayScope::Failed).await.unwrap(),
        ReplayOutcome::NotDead(EventState::Waiting),
        "not dead any more: left as it is"
    );
    assert_eq!(inbox.backlog().await.unwrap(), 1);

    inbox.delete(third).await.unwrap();
    assert!(matches!(inbox.inspect(third).await, Err(AdminError::NotFound(id)) if id == third));
    assert!(matches!(
        inbox.delete(StoredId::new(9_999)).await,
        Err(AdminError::NotFound(_))
    ));
    assert_eq!(
        InboxAdmin::prune(&inbox, EventState::Dead, Duration::from_secs(3600))
            .await
            .unwrap(),
        0,
        "younger than an hour: kept"
    );

    // A receiver starts: the waiting replay runs b only; a replay of every handler runs both.
    let runs: Runs = Arc::default();
    let webhooks = receiver(inbox.clone(), &runs, false);
    assert_eq!(
        inbox.replay(first, ReplayScope::All).await.unwrap(),
        ReplayOutcome::Replayed
    );
    wait_until("the replays ran", async || {
        runs.lock().unwrap().len() >= 3 && inbox.backlog().await.unwrap() == 0
    })
    .await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let mut seen = runs.lock().unwrap().clone();
    seen.sort();
    assert_eq!(
        seen,
        [
            ("a", "m000".into(), 1, true),
            ("b", "m000".into(), 1, true),
            ("b", "m001".into(), 1, true)
        ]
    );
    assert_eq!(
        inbox.count(&EventFilter::new()).await.unwrap(),
        1,
        "the fourth"
    );

    // Pruned: dead events older than the age given.
    let pool = inbox.pool().clone();
    assert_eq!(
        InboxAdmin::prune(&inbox, EventState::Dead, Duration::ZERO)
            .await
            .unwrap(),
        1
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM webhook_inbox.dead_letters").await,
        0
    );
}

#[tokio::test]
async fn the_postgres_inbox_passes_the_dead_letter_conformance_suite() {
    let server = PostgresServer::start();
    let pool = pool(&server).await;
    conformance::check_dead_letters(|| async {
        PostgresInbox::builder(pool.clone())
            .poll_interval(Duration::from_millis(100))
            .connect()
            .await
            .unwrap()
    })
    .await;
}

#[tokio::test]
async fn a_version_1_schema_is_migrated_and_its_dead_letters_are_listed_and_replayed() {
    let server = PostgresServer::start();
    let pool = pool(&server).await;
    let connect = || {
        PostgresInbox::builder(pool.clone())
            .schema("old_inbox")
            .connect()
    };
    drop(connect().await.unwrap());
    // Back to version 1 (its columns), with a dead letter written by the version-1 crate.
    sqlx::raw_sql(
        r#"ALTER TABLE old_inbox.dead_letters
               DROP COLUMN route, DROP COLUMN replays, DROP COLUMN last_replayed_at;
           DROP INDEX old_inbox.dead_letters_event_id;
           ALTER TABLE old_inbox.events
               DROP COLUMN replays, DROP COLUMN last_replayed_at, DROP COLUMN listed_only;
           UPDATE old_inbox.schema_version SET version = 1;
           INSERT INTO old_inbox.dead_letters
               (event_id, key, body, headers, received_at, handler, reason, attempts, error)
           VALUES (7, '\x000102030405060708090a0b0c0d0e0f', '{"type":"invoice.paid"}',
               '', now(), 'b', 'exhausted', 2, 'b is down');"#,
    )
    .execute(&pool)
    .await
    .unwrap();
    let inbox = connect().await.unwrap();
    assert_eq!(
        scalar(&pool, "SELECT version::int8 FROM old_inbox.schema_version").await,
        3
    );
    let page = inbox.list(&dead(), None, 10).await.unwrap();
    assert_eq!(page.events.len(), 1);
    let event = &page.events[0];
    assert_eq!(event.id, StoredId::new(7));
    assert_eq!(event.event_type.as_deref(), Some("invoice.paid"));
    assert_eq!((event.attempts, event.replays), (2, 0));
    let detail = inbox.inspect(event.id).await.unwrap();
    assert_eq!(
        detail
            .handlers
            .iter()
            .map(|h| (
                h.route,
                h.handler.as_deref(),
                h.dead,
                h.last_error.as_deref()
            ))
            .collect::<Vec<_>>(),
        [(None, Some("b"), true, Some("b is down"))]
    );
    // A letter with no route: every handler runs again.
    assert_eq!(
        inbox.replay(event.id, ReplayScope::Failed).await.unwrap(),
        ReplayOutcome::Replayed
    );
    let (listed_only, replays): (bool, i32) =
        sqlx::query_as("SELECT listed_only, replays FROM old_inbox.events WHERE id = 7")
            .fetch_one(&pool)
            .await
            .unwrap();
    assert_eq!((listed_only, replays), (false, 1));
    assert_eq!(inbox.count(&dead()).await.unwrap(), 0);
}

#[tokio::test]
async fn an_event_with_a_dead_handler_and_one_still_retrying_is_live() {
    let server = PostgresServer::start();
    let inbox = inbox(&server).await;
    let pool = inbox.pool().clone();
    // As the bookkeeping leaves it: handler 5 gave up (its progress row and its letter),
    // handler 6 waits for its second attempt; no replica holds it (no feed runs here).
    let id: i64 = sqlx::query_scalar(
        r#"INSERT INTO webhook_inbox.events (key, body, headers, received_at)
           VALUES ('\x000102030405060708090a0b0c0d0e0f', '{"type":"invoice.paid"}', '', now())
           RETURNING id"#,
    )
    .fetch_one(&pool)
    .await
    .unwrap();
    sqlx::raw_sql(&format!(
        r#"INSERT INTO webhook_inbox.routes (event_id, route, attempts, next_at, done)
           VALUES ({id}, 5, 2, NULL, false), ({id}, 6, 1, now() + interval '1 hour', false);
           INSERT INTO webhook_inbox.dead_letters
               (event_id, key, body, headers, received_at, handler, route, reason, attempts, error)
           SELECT id, key, body, headers, received_at, 'b', 5, 'exhausted', 2, 'b is down'
           FROM webhook_inbox.events WHERE id = {id};"#
    ))
    .execute(&pool)
    .await
    .unwrap();
    let id = StoredId::new(u64::try_from(id).unwrap());

    assert_eq!(
        inbox.count(&dead()).await.unwrap(),
        0,
        "not dead while 6 runs"
    );
    let page = inbox.list(&EventFilter::new(), None, 10).await.unwrap();
    assert_eq!(
        page.events
            .iter()
            .map(|e| (e.id, e.state, e.attempts))
            .collect::<Vec<_>>(),
        [(id, EventState::Retrying, 2)]
    );
    let detail = inbox.inspect(id).await.unwrap();
    assert_eq!(detail.summary.state, EventState::Retrying);
    let mut handlers: Vec<_> = detail
        .handlers
        .iter()
        .map(|h| (h.route, h.attempts, h.dead, h.next_at.is_some()))
        .collect();
    handlers.sort();
    assert_eq!(
        handlers,
        [(Some(5), 2, true, false), (Some(6), 1, false, true)],
        "the dead handler once, by its letter"
    );
    assert_eq!(
        inbox.replay(id, ReplayScope::Failed).await.unwrap(),
        ReplayOutcome::NotDead(EventState::Retrying)
    );
    assert_eq!(inbox.dead_letters().await.unwrap(), 1, "left as it was");
    inbox.delete(id).await.unwrap();
    assert_eq!(inbox.backlog().await.unwrap(), 0);
    assert_eq!(inbox.dead_letters().await.unwrap(), 0);
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM webhook_inbox.routes").await,
        0
    );
}
