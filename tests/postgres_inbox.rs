//! `PostgresInbox` against a real PostgreSQL server (started by each test with `initdb` and
//! `pg_ctl` on a free loopback port): the conformance suite, accepts shared by replicas, the
//! take-over of a dead replica's events from their recorded attempt, dead letters as rows,
//! transactional handlers (exactly-once effects across a crash before and after the commit),
//! an outage mid-load, a long-running transaction beside the load, migrations, pruning and the
//! backlog bound.
#![cfg(all(feature = "postgres", feature = "chirp"))]
// Two tests print what they measured (run with `--nocapture`).
#![allow(clippy::print_stderr)]

mod support;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sqlx::PgPool;
use sqlx::postgres::PgPoolOptions;
use support::postgres_server::PostgresServer;
use support::*;
use tower::ServiceExt;
use webhook_receiver::chirp::{self, MessageStatus};
use webhook_receiver::dispatch::{EventContext, RetryPolicy};
use webhook_receiver::store::{Accepted, InboxError, Incoming, PostgresInbox, Store, conformance};

/// What the handlers saw: (replica, message id, attempt, is_replay).
type Seen = Arc<Mutex<Vec<(usize, String, u32, bool)>>>;

async fn pool(server: &PostgresServer) -> PgPool {
    PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_secs(2))
        .connect(&server.url())
        .await
        .expect("connect to the test's PostgreSQL")
}

async fn inbox(server: &PostgresServer, lease: Duration) -> PostgresInbox {
    PostgresInbox::builder(pool(server).await)
        .lease(lease)
        .poll_interval(Duration::from_millis(200))
        .connect()
        .await
        .expect("create the inbox")
}

/// A Chirp receiver on `inbox` whose SMS-delivered handler records into `seen`.
fn replica(
    n: usize,
    inbox: PostgresInbox,
    seen: &Seen,
) -> webhook_receiver::Webhooks<chirp::Chirp, webhook_receiver::verify::SharedSecret, PostgresInbox>
{
    chirp::webhooks([SECRET])
        .unwrap()
        .state((n, Arc::clone(seen)))
        .on(
            chirp::SMS_DELIVERED,
            |s: MessageStatus, ctx: EventContext<(usize, Seen)>| async move {
                let (n, seen) = ctx.state();
                seen.lock()
                    .unwrap()
                    .push((*n, s.id.clone(), ctx.attempt(), ctx.is_replay()));
            },
        )
        .store(inbox)
        .spawn()
}

async fn wait_until(what: &str, mut done: impl FnMut() -> bool) {
    for _ in 0..1500 {
        if done() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("timed out waiting until {what}");
}

async fn scalar(pool: &PgPool, sql: &str) -> i64 {
    sqlx::query_scalar(sql).fetch_one(pool).await.unwrap()
}

async fn wait_for_rows(pool: &PgPool, sql: &str, want: i64) {
    for _ in 0..1500 {
        if scalar(pool, sql).await == want {
            return;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    panic!("{sql} never gave {want}: {}", scalar(pool, sql).await);
}

/// `POST`s `body` until it is answered 200 (503s during an outage are retried, as a sender
/// would); whether the 200 said duplicate.
async fn post_until_200<S>(webhooks: &S, body: &str) -> bool
where
    S: tower::Service<
            http::Request<axum::body::Body>,
            Response = http::Response<webhook_receiver::ResponseBody>,
            Error = std::convert::Infallible,
        > + Clone,
{
    post_counting_503(webhooks, body, &AtomicUsize::new(0)).await
}

/// [`post_until_200`], counting the 503s in `unavailable`.
async fn post_counting_503<S>(webhooks: &S, body: &str, unavailable: &AtomicUsize) -> bool
where
    S: tower::Service<
            http::Request<axum::body::Body>,
            Response = http::Response<webhook_receiver::ResponseBody>,
            Error = std::convert::Infallible,
        > + Clone,
{
    for _ in 0..600 {
        let res = webhooks
            .clone()
            .oneshot(chirp_request(body.to_owned()))
            .await
            .unwrap();
        match res.status().as_u16() {
            200 => return json_body(res).await.get("duplicate").is_some(),
            503 => {
                unavailable.fetch_add(1, Ordering::Relaxed);
                assert!(res.headers().contains_key("retry-after"));
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            other => panic!("unexpected status {other}"),
        }
    }
    panic!("never answered 200");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_inbox_passes_the_store_conformance_suite() {
    let server = PostgresServer::start();
    conformance::check_dedup(&inbox(&server, Duration::from_secs(30)).await).await;
    // Each "restart" is a new replica (a new lease owner) on the same tables: what the stopped
    // one held it gave back when its entries were dropped.
    conformance::check_kept_events(|| {
        let url = server.url();
        async move {
            PostgresInbox::builder(PgPool::connect(&url).await.unwrap())
                .schema("kept")
                .lease(Duration::from_secs(2))
                .poll_interval(Duration::from_millis(100))
                .connect()
                .await
                .unwrap()
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_posted_to_every_replica_runs_once_and_leaves_the_events_table() {
    let server = PostgresServer::start();
    let seen: Seen = Arc::default();
    let mut replicas = Vec::new();
    for n in 0..3 {
        replicas.push(replica(
            n,
            inbox(&server, Duration::from_secs(30)).await,
            &seen,
        ));
    }
    for i in 0..30 {
        let body = delivered(&format!("shared-{i}"));
        let answers = futures_util::future::join_all(
            replicas
                .iter()
                .map(|r| r.clone().oneshot(chirp_request(body.clone()))),
        )
        .await;
        let mut new = 0;
        for res in answers {
            let res = res.unwrap();
            assert_eq!(res.status(), 200);
            if json_body(res).await.get("duplicate").is_none() {
                new += 1;
            }
        }
        assert_eq!(new, 1, "exactly one replica accepted shared-{i}");
    }
    wait_until("30 events ran", || seen.lock().unwrap().len() >= 30).await;
    let inbox = replicas[0].store().clone();
    for r in &replicas {
        r.drain(Duration::from_secs(5)).await.unwrap();
    }
    let seen = seen.lock().unwrap().clone();
    let mut ids: Vec<_> = seen.iter().map(|s| s.1.clone()).collect();
    ids.sort();
    ids.dedup();
    assert_eq!((seen.len(), ids.len()), (30, 30), "each ran once: {seen:?}");
    assert!(seen.iter().all(|s| s.2 == 1 && !s.3), "first attempts");
    wait_for_rows(inbox.pool(), "SELECT count(*) FROM webhook_inbox.events", 0).await;
    assert_eq!(
        scalar(inbox.pool(), "SELECT count(*) FROM webhook_inbox.keys").await,
        30,
        "the dedup keys stay"
    );
    // A late redelivery is still a duplicate, on a fresh replica.
    let fresh = replica(9, inbox, &Arc::default());
    let res = fresh
        .clone()
        .oneshot(chirp_request(delivered("shared-7")))
        .await
        .unwrap();
    assert_eq!(json_body(res).await["duplicate"], true);
}

#[test]
fn a_dead_replicas_event_is_taken_over_and_resumes_from_its_recorded_attempt() {
    let server = PostgresServer::start();
    let seen: Seen = Arc::default();

    // Replica 0, on a runtime of its own: its handler fails the first attempt, with a retry due
    // in 2 s. The runtime is then dropped, which ends its tasks and closes its connections:
    // a crash, as seen from PostgreSQL.
    let rt = tokio::runtime::Runtime::new().unwrap();
    let seen0 = Arc::clone(&seen);
    rt.block_on(async {
        let inbox = inbox(&server, Duration::from_secs(1)).await;
        let webhooks = chirp::webhooks([SECRET])
            .unwrap()
            .retry_policy(
                RetryPolicy::default()
                    .initial_backoff(Duration::from_secs(2))
                    .without_jitter(),
            )
            .state(Arc::clone(&seen0))
            .on(
                chirp::SMS_DELIVERED,
                |s: MessageStatus, ctx: EventContext<Seen>| async move {
                    ctx.state().lock().unwrap().push((
                        0,
                        s.id.clone(),
                        ctx.attempt(),
                        ctx.is_replay(),
                    ));
                    Err::<(), _>(std::io::Error::other("first replica fails"))
                },
            )
            .store(inbox.clone())
            .spawn();
        let res = webhooks
            .clone()
            .oneshot(chirp_request(delivered("orphan")))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
        wait_until("replica 0 tried once", || seen0.lock().unwrap().len() == 1).await;
        // Its attempt is a row before the crash.
        wait_for_rows(
            inbox.pool(),
            "SELECT count(*) FROM webhook_inbox.routes WHERE attempts = 1 AND next_at IS NOT NULL",
            1,
        )
        .await;
        std::mem::forget(webhooks); // no drain: the process "dies"
    });
    drop(rt);

    // Replica 1 claims the event once its lease expired, and runs attempt 2 (not 1) when its
    // retry is due, as a replay.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let inbox = inbox(&server, Duration::from_secs(1)).await;
        let webhooks = replica(1, inbox.clone(), &seen);
        wait_until("replica 1 ran it", || seen.lock().unwrap().len() == 2).await;
        let seen = seen.lock().unwrap().clone();
        assert_eq!(seen[0], (0, "orphan".to_owned(), 1, false));
        assert_eq!(seen[1], (1, "orphan".to_owned(), 2, true));
        webhooks.drain(Duration::from_secs(5)).await.unwrap();
        wait_for_rows(inbox.pool(), "SELECT count(*) FROM webhook_inbox.events", 0).await;
        assert_eq!(
            scalar(inbox.pool(), "SELECT count(*) FROM webhook_inbox.routes").await,
            0,
            "routes go with their event"
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_handler_that_gives_up_leaves_a_dead_letter_row_with_the_body_and_the_last_error() {
    let server = PostgresServer::start();
    let inbox = inbox(&server, Duration::from_secs(30)).await;
    let webhooks = chirp::webhooks([SECRET])
        .unwrap()
        .retry_policy(
            RetryPolicy::default()
                .max_attempts(2)
                .initial_backoff(Duration::from_millis(10)),
        )
        .on(
            chirp::SMS_DELIVERED,
            |_s: MessageStatus, ctx: EventContext| async move {
                Err::<(), _>(std::io::Error::other(format!(
                    "downstream is down (attempt {})",
                    ctx.attempt()
                )))
            },
        )
        .store(inbox.clone())
        .spawn();
    assert!(!post_until_200(&webhooks, &delivered("doomed")).await);
    wait_for_rows(
        inbox.pool(),
        "SELECT count(*) FROM webhook_inbox.dead_letters",
        1,
    )
    .await;
    wait_for_rows(inbox.pool(), "SELECT count(*) FROM webhook_inbox.events", 0).await;
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
    let (reason, attempts, error, body, headers): (String, i32, String, Vec<u8>, Vec<u8>) =
        sqlx::query_as(
            "SELECT reason, attempts, error, body, headers FROM webhook_inbox.dead_letters",
        )
        .fetch_one(inbox.pool())
        .await
        .unwrap();
    assert_eq!((reason.as_str(), attempts), ("exhausted", 2));
    assert!(error.contains("downstream is down (attempt 2)"), "{error}");
    assert!(body.windows(6).any(|w| w == b"doomed"), "the body is kept");
    let headers = String::from_utf8(headers).unwrap();
    assert!(
        headers.contains("content-type: application/json"),
        "{headers}"
    );
    assert!(
        !headers.to_ascii_lowercase().contains(SECRET),
        "no credential: {headers}"
    );
    assert_eq!(inbox.dead_letters().await.unwrap(), 1);
}

/// A receiver whose SMS-delivered handler is transactional: it inserts `(key, 'tx')` into
/// `handled` in the inbox's transaction, counts its runs in `runs`, then waits on `gate` (if
/// any) before returning (so that a test can crash the process between the handler's write
/// and the commit).
fn tx_replica(
    inbox: &PostgresInbox,
    runs: &Arc<AtomicUsize>,
    gate: Option<Arc<tokio::sync::Notify>>,
    plain_fails: bool,
) -> webhook_receiver::Webhooks<chirp::Chirp, webhook_receiver::verify::SharedSecret, PostgresInbox>
{
    let runs = Arc::clone(runs);
    let handler = inbox.transactional("tx", move |_s: MessageStatus, ctx: EventContext, conn| {
        let runs = Arc::clone(&runs);
        let gate = gate.clone();
        Box::pin(async move {
            sqlx::query("INSERT INTO handled (key, handler) VALUES ($1, 'tx')")
                .bind(ctx.key().to_string())
                .execute(&mut *conn)
                .await?;
            runs.fetch_add(1, Ordering::SeqCst);
            if let Some(gate) = gate {
                gate.notified().await;
            }
            Ok::<_, sqlx::Error>(())
        })
    });
    chirp::webhooks([SECRET])
        .unwrap()
        .retry_policy(RetryPolicy::default().initial_backoff(Duration::from_millis(50)))
        .on(chirp::SMS_DELIVERED, handler)
        // A second, plain handler: while it fails, the event is not done and keeps running.
        .on(
            chirp::SMS_DELIVERED,
            move |_s: MessageStatus, _ctx: EventContext| async move {
                if plain_fails {
                    Err(std::io::Error::other("plain handler fails"))
                } else {
                    Ok(())
                }
            },
        )
        .store(inbox.clone())
        .spawn()
}

async fn create_handled(pool: &PgPool) {
    sqlx::query("CREATE TABLE IF NOT EXISTS handled (key text NOT NULL, handler text NOT NULL)")
        .execute(pool)
        .await
        .unwrap();
}

#[test]
fn a_crash_before_the_commit_rolls_back_the_transactional_handlers_write_and_it_runs_again() {
    let server = PostgresServer::start();
    let runs = Arc::new(AtomicUsize::new(0));

    // Replica 0 runs the handler, which writes its row and then waits for ever: the process
    // dies (its runtime is dropped, its connections closed) before the commit.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let inbox = inbox(&server, Duration::from_secs(1)).await;
        create_handled(inbox.pool()).await;
        let gate = Arc::new(tokio::sync::Notify::new());
        let webhooks = tx_replica(&inbox, &runs, Some(gate), false);
        assert!(!post_until_200(&webhooks, &delivered("crash-before")).await);
        wait_until("the handler wrote", || runs.load(Ordering::SeqCst) == 1).await;
        std::mem::forget(webhooks);
    });
    drop(rt);

    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let inbox = inbox(&server, Duration::from_secs(1)).await;
        assert_eq!(
            scalar(inbox.pool(), "SELECT count(*) FROM handled").await,
            0,
            "the uncommitted write rolled back"
        );
        assert_eq!(
            scalar(inbox.pool(), "SELECT count(*) FROM webhook_inbox.effects").await,
            0,
            "and its mark with it"
        );
        // Replica 1 claims the event after the lease and runs the handler again, to the commit.
        let webhooks = tx_replica(&inbox, &runs, None, false);
        wait_until("the handler ran again", || runs.load(Ordering::SeqCst) == 2).await;
        wait_for_rows(inbox.pool(), "SELECT count(*) FROM webhook_inbox.events", 0).await;
        webhooks.drain(Duration::from_secs(5)).await.unwrap();
        assert_eq!(
            scalar(inbox.pool(), "SELECT count(*) FROM handled").await,
            1
        );
        assert_eq!(
            scalar(inbox.pool(), "SELECT count(*) FROM webhook_inbox.effects").await,
            1
        );
    });
}

#[test]
fn after_the_commit_a_replay_does_not_run_the_transactional_handler_again() {
    let server = PostgresServer::start();
    let runs = Arc::new(AtomicUsize::new(0));

    // Replica 0: the transactional handler commits; a plain handler of the same event keeps
    // failing, so the event is not done when the process dies.
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let inbox = inbox(&server, Duration::from_secs(1)).await;
        create_handled(inbox.pool()).await;
        let webhooks = tx_replica(&inbox, &runs, None, true);
        assert!(!post_until_200(&webhooks, &delivered("crash-after")).await);
        wait_for_rows(inbox.pool(), "SELECT count(*) FROM handled", 1).await;
        std::mem::forget(webhooks);
    });
    drop(rt);
    assert_eq!(runs.load(Ordering::SeqCst), 1);

    // Replica 1 takes the event over. Whether or not the route's completion was recorded
    // before the crash, the transactional handler is not run again: its mark committed with
    // its write. The plain handler runs (and succeeds now).
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async {
        let inbox = inbox(&server, Duration::from_secs(1)).await;
        // Forget the recorded route progress, so that the dispatcher does run every route again
        // and only the mark can keep the transactional one from running.
        sqlx::query("DELETE FROM webhook_inbox.routes")
            .execute(inbox.pool())
            .await
            .unwrap();
        let webhooks = tx_replica(&inbox, &runs, None, false);
        wait_for_rows(inbox.pool(), "SELECT count(*) FROM webhook_inbox.events", 0).await;
        webhooks.drain(Duration::from_secs(5)).await.unwrap();
        assert_eq!(runs.load(Ordering::SeqCst), 1, "not run again");
        assert_eq!(
            scalar(inbox.pool(), "SELECT count(*) FROM handled").await,
            1
        );
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn while_postgres_is_down_the_answer_is_503_and_nothing_is_remembered() {
    let mut server = PostgresServer::start();
    let seen: Seen = Arc::default();
    let inbox = PostgresInbox::builder(
        PgPoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_millis(500))
            .connect(&server.url())
            .await
            .unwrap(),
    )
    .accept_timeout(Duration::from_millis(500))
    .poll_interval(Duration::from_millis(100))
    .connect()
    .await
    .unwrap();
    let webhooks = replica(0, inbox, &seen);
    server.pg_stop();
    let res = webhooks
        .clone()
        .oneshot(chirp_request(delivered("outage")))
        .await
        .unwrap();
    assert_eq!(res.status(), 503);
    assert!(res.headers().contains_key("retry-after"));
    let body = json_body(res).await;
    assert!(body["error"]["type"].is_string(), "{body}");
    server.pg_start();
    // The sender retries until the server is back: the first 200 is new, not a duplicate.
    assert!(!post_until_200(&webhooks, &delivered("outage")).await);
    wait_until("it ran", || seen.lock().unwrap().len() == 1).await;
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stopping_the_server_mid_load_neither_loses_nor_doubles_a_committed_effect() {
    let mut server = PostgresServer::start();
    let pool = PgPoolOptions::new()
        .max_connections(16)
        .acquire_timeout(Duration::from_millis(500))
        .connect(&server.url())
        .await
        .unwrap();
    create_handled(&pool).await;
    let inbox = PostgresInbox::builder(pool)
        .accept_timeout(Duration::from_millis(500))
        .lease(Duration::from_secs(2))
        .poll_interval(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let webhooks = tx_replica(&inbox, &runs, None, false);
    const N: usize = 1000;
    let unavailable = Arc::new(AtomicUsize::new(0));
    let senders = tokio::spawn({
        let webhooks = webhooks.clone();
        let unavailable = Arc::clone(&unavailable);
        async move {
            let mut acked = 0;
            let jobs = futures_util::stream::iter(0..N).map(|i| {
                let webhooks = webhooks.clone();
                let unavailable = Arc::clone(&unavailable);
                async move {
                    post_counting_503(&webhooks, &delivered(&format!("load-{i}")), &unavailable)
                        .await
                }
            });
            use futures_util::StreamExt;
            let mut answers = jobs.buffer_unordered(16);
            while let Some(_duplicate) = answers.next().await {
                acked += 1;
            }
            acked
        }
    });
    // Mid-load: some events accepted and run, some accepted and not yet run, some not sent.
    wait_until("some effects committed", || {
        runs.load(Ordering::SeqCst) >= 50
    })
    .await;
    server.pg_stop();
    tokio::time::sleep(Duration::from_millis(1500)).await;
    server.pg_start();
    assert_eq!(
        senders.await.unwrap(),
        N,
        "every event got its 200 in the end"
    );
    assert!(
        unavailable.load(Ordering::Relaxed) > 0,
        "the outage answered 503s (else it missed the load)"
    );
    eprintln!(
        "{} answers 503 during the outage; handler runs {} for {N} events",
        unavailable.load(Ordering::Relaxed),
        runs.load(Ordering::SeqCst)
    );
    let check = PgPool::connect(&server.url()).await.unwrap();
    wait_for_rows(&check, "SELECT count(*) FROM webhook_inbox.events", 0).await;
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    assert_eq!(
        scalar(&check, "SELECT count(DISTINCT key) FROM handled").await,
        N as i64,
        "every acknowledged event's effect committed"
    );
    assert_eq!(
        scalar(&check, "SELECT count(*) FROM handled").await,
        N as i64,
        "and none twice"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_running_transaction_beside_the_load_does_not_stop_the_inbox() {
    let server = PostgresServer::start();
    let seen: Seen = Arc::default();
    let inbox = inbox(&server, Duration::from_secs(30)).await;
    // A transaction that holds back the xmin horizon for the whole test (as a long report or a
    // forgotten `BEGIN` would): the rows the inbox deletes cannot be vacuumed meanwhile.
    let mut long = inbox.pool().begin().await.unwrap();
    let _: i64 = sqlx::query_scalar("SELECT txid_current()")
        .fetch_one(&mut *long)
        .await
        .unwrap();
    let _: i64 = sqlx::query_scalar("SELECT count(*) FROM webhook_inbox.events")
        .fetch_one(&mut *long)
        .await
        .unwrap();
    let webhooks = replica(0, inbox.clone(), &seen);
    const N: usize = 2000;
    use futures_util::StreamExt;
    let started = std::time::Instant::now();
    let acked: Vec<bool> = futures_util::stream::iter(0..N)
        .map(|i| {
            let webhooks = webhooks.clone();
            async move { post_until_200(&webhooks, &delivered(&format!("long-{i}"))).await }
        })
        .buffer_unordered(32)
        .collect()
        .await;
    assert_eq!(acked.len(), N);
    wait_until("every event ran", || seen.lock().unwrap().len() >= N).await;
    wait_for_rows(inbox.pool(), "SELECT count(*) FROM webhook_inbox.events", 0).await;
    let elapsed = started.elapsed();
    // The long transaction is still open: the inbox's work did not wait for it.
    let still: i64 = sqlx::query_scalar("SELECT 1::int8")
        .fetch_one(&mut *long)
        .await
        .unwrap();
    assert_eq!(still, 1);
    long.rollback().await.unwrap();
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(seen.lock().unwrap().len(), N, "each once");
    eprintln!("{N} events accepted and run beside a long transaction in {elapsed:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_schema_is_created_once_migrated_idempotently_and_refused_when_newer() {
    let server = PostgresServer::start();
    let pool = pool(&server).await;
    // Replicas starting together: one migrates, the others find it done.
    let inboxes = futures_util::future::join_all((0..4).map(|_| {
        PostgresInbox::builder(pool.clone())
            .schema("custom_inbox")
            .connect()
    }))
    .await;
    for inbox in &inboxes {
        assert_eq!(inbox.as_ref().unwrap().schema(), "custom_inbox");
    }
    assert_eq!(
        scalar(
            &pool,
            "SELECT version::int8 FROM custom_inbox.schema_version"
        )
        .await,
        3
    );
    let bad = PostgresInbox::builder(pool.clone())
        .schema("Robert'); DROP TABLE students;--")
        .connect()
        .await
        .unwrap_err();
    assert!(matches!(bad, InboxError::Connect { .. }), "{bad}");
    sqlx::query("UPDATE custom_inbox.schema_version SET version = 99")
        .execute(&pool)
        .await
        .unwrap();
    let newer = PostgresInbox::builder(pool.clone())
        .schema("custom_inbox")
        .connect()
        .await
        .unwrap_err();
    assert!(
        matches!(
            newer,
            InboxError::UnsupportedFormat {
                found: 99,
                supported: 3
            }
        ),
        "{newer}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expired_keys_of_done_events_are_pruned_with_their_marks_and_the_key_is_new_again() {
    let server = PostgresServer::start();
    let pool = pool(&server).await;
    create_handled(&pool).await;
    let inbox = PostgresInbox::builder(pool.clone())
        .dedup_ttl(Duration::from_millis(300))
        .poll_interval(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    let runs = Arc::new(AtomicUsize::new(0));
    let webhooks = tx_replica(&inbox, &runs, None, false);
    assert!(!post_until_200(&webhooks, &delivered("short-lived")).await);
    wait_for_rows(&pool, "SELECT count(*) FROM webhook_inbox.events", 0).await;
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM webhook_inbox.effects").await,
        1
    );
    // Within the TTL and before a prune: a duplicate.
    assert!(post_until_200(&webhooks, &delivered("short-lived")).await);
    tokio::time::sleep(Duration::from_millis(400)).await;
    assert_eq!(inbox.prune().await.unwrap(), 1);
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM webhook_inbox.keys").await,
        0
    );
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM webhook_inbox.effects").await,
        0
    );
    // Forgotten: a new event, whose transactional handler runs again.
    assert!(!post_until_200(&webhooks, &delivered("short-lived")).await);
    wait_until("ran again", || runs.load(Ordering::SeqCst) == 2).await;
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn past_max_backlog_accepts_answer_503_remember_nothing_and_resume_once_it_drains() {
    let server = PostgresServer::start();
    let pool = pool(&server).await;
    let inbox = PostgresInbox::builder(pool.clone())
        .max_backlog(3)
        .poll_interval(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    // Handlers hold their events (rows of `events`) until the gate opens.
    let gate = Arc::new(tokio::sync::Semaphore::new(0));
    let ran = Arc::new(AtomicUsize::new(0));
    let webhooks = chirp::webhooks([SECRET])
        .unwrap()
        .state((Arc::clone(&gate), Arc::clone(&ran)))
        .on(
            chirp::SMS_DELIVERED,
            |_: MessageStatus,
             ctx: EventContext<(Arc<tokio::sync::Semaphore>, Arc<AtomicUsize>)>| async move {
                let (gate, ran) = ctx.state();
                gate.acquire().await.unwrap().forget();
                ran.fetch_add(1, Ordering::SeqCst);
            },
        )
        .store(inbox.clone())
        .spawn();

    for id in ["b1", "b2", "b3"] {
        let res = webhooks
            .clone()
            .oneshot(chirp_request(delivered(id)))
            .await
            .unwrap();
        assert_eq!(res.status(), 200, "{id}");
    }
    assert_eq!(inbox.backlog().await.unwrap(), 3);

    // Full: a new event and a redelivery alike get 503 with Retry-After, in the error shape.
    for id in ["b4", "b1"] {
        let res = webhooks
            .clone()
            .oneshot(chirp_request(delivered(id)))
            .await
            .unwrap();
        assert_eq!(res.status(), 503, "{id}");
        assert!(res.headers().contains_key("retry-after"));
        let error = error_body(res, 503, "api_error").await;
        assert_eq!(error["code"], "queue_full", "{error}");
    }
    // Nothing of the refused event was remembered.
    assert_eq!(
        scalar(&pool, "SELECT count(*) FROM webhook_inbox.keys").await,
        3
    );
    assert_eq!(inbox.backlog().await.unwrap(), 3);

    // Once the handlers finish, the backlog drains and the refused event is accepted as new
    // (within one recount of the backlog, 250 ms).
    gate.add_permits(3);
    wait_until("the backlog drained", || ran.load(Ordering::SeqCst) == 3).await;
    wait_for_rows(&pool, "SELECT count(*) FROM webhook_inbox.events", 0).await;
    assert!(
        !post_until_200(&webhooks, &delivered("b4")).await,
        "b4 is new"
    );
    gate.add_permits(1);
    wait_until("b4 ran", || ran.load(Ordering::SeqCst) == 4).await;
    assert!(
        post_until_200(&webhooks, &delivered("b1")).await,
        "b1 is a duplicate"
    );
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
    assert_eq!(ran.load(Ordering::SeqCst), 4);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_event_runs_on_the_replica_that_accepted_it_when_that_one_has_room() {
    let server = PostgresServer::start();
    let seen: Seen = Arc::default();
    let replicas = [
        replica(0, inbox(&server, Duration::from_secs(30)).await, &seen),
        replica(1, inbox(&server, Duration::from_secs(30)).await, &seen),
    ];
    // With room, each replica runs what it accepted: stored leased to it, not claimed.
    for i in 0..20 {
        let res = replicas[i % 2]
            .clone()
            .oneshot(chirp_request(delivered(&format!("here-{i}"))))
            .await
            .unwrap();
        assert_eq!(res.status(), 200);
    }
    wait_until("20 ran", || seen.lock().unwrap().len() == 20).await;
    for (replica, id, attempt, replay) in seen.lock().unwrap().iter() {
        let i: usize = id.strip_prefix("here-").unwrap().parse().unwrap();
        assert_eq!((*replica, *attempt, *replay), (i % 2, 1, false), "{id}");
    }

    // The seam: without a local slot the event is stored for any replica; with one, it is
    // stored leased to this inbox and comes back with its entry.
    let store = inbox(&server, Duration::from_secs(30)).await;
    let (body, headers) = (
        bytes::Bytes::from(delivered("seam-1")),
        http::HeaderMap::new(),
    );
    let key = webhook_receiver::DedupKey::from_parts(&[b"seam-1"]);
    let stored = store
        .accept(Incoming::new(key, &body, &headers))
        .await
        .unwrap();
    assert!(matches!(stored, Accepted::Stored));
    let key = webhook_receiver::DedupKey::from_parts(&[b"seam-2"]);
    let body = bytes::Bytes::from(delivered("seam-2"));
    let event = Incoming::new(key, &body, &headers).with_local_slot(true);
    let Ok(Accepted::New(Some(entry))) = store.accept(event).await else {
        panic!("a local slot gets the event leased to this replica");
    };
    let owner: String =
        sqlx::query_scalar("SELECT lease_owner FROM webhook_inbox.events WHERE key = $1")
            .bind(key.as_bytes().to_vec())
            .fetch_one(store.pool())
            .await
            .unwrap();
    assert_eq!(owner, store.owner());
    // Given back unfinished (as a drain does), it is claimed and run by a replica: both run
    // there, replica 0 or 1, decoded from the stored body.
    drop(entry);
    wait_until("both seam events ran", || seen.lock().unwrap().len() == 22).await;
    let pool = store.pool().clone();
    for r in &replicas {
        r.drain(Duration::from_secs(5)).await.unwrap();
    }
    wait_for_rows(&pool, "SELECT count(*) FROM webhook_inbox.events", 0).await;
}
