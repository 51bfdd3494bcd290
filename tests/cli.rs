//! The `webhook-receiver` tool (feature `cli`), run as a process: on a stopped receiver's redb
//! file (a replay runs at the next start), on a running receiver through its admin router
//! (refused without the token), on a Redis inbox, on a Postgres inbox, and `export` + `replay-file` to reproduce
//! dead events on another receiver.
#![cfg(all(feature = "cli", feature = "chirp"))]

mod support;

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};
use support::operator::*;
use support::redis_server::RedisServer;
use support::{SECRET, URI};
use webhook_receiver::admin;
use webhook_receiver::store::{DurableInbox, InboxAdmin, MokaStore, PostgresInbox, RedisInbox};

/// Runs the tool with `args`: its exit status, stdout as JSON (`null` if it is not JSON), and
/// stderr.
async fn tool(args: &[&str]) -> (i32, Value, String) {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-receiver"))
        .args(args)
        .env_remove("WEBHOOK_ADMIN_TOKEN")
        .output()
        .await
        .expect("run the tool");
    let stdout = String::from_utf8_lossy(&out.stdout);
    (
        out.status.code().unwrap_or(-1),
        serde_json::from_str(stdout.trim()).unwrap_or(Value::Null),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// Serves `app` on a free loopback port.
async fn serve(app: axum::Router) -> std::net::SocketAddr {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    addr
}

#[tokio::test]
async fn on_a_stopped_redb_file_the_replay_is_marked_and_runs_at_the_next_start() {
    let dir = TempDir::new("cli-stopped");
    {
        let inbox = DurableInbox::open(&dir.0).unwrap();
        dead_letter_all(&inbox, 10).await;
    }
    let path = dir.0.to_str().unwrap();
    let (code, dry, err) = tool(&[
        "--inbox",
        path,
        "replay",
        "--state",
        "dead",
        "--dry-run",
        "--json",
    ])
    .await;
    assert_eq!((code, dry), (0, json!({"matched": 10})), "{err}");
    let (_, page, _) = tool(&["--inbox", path, "dead", "--json"]).await;
    let events = page["events"].as_array().unwrap();
    assert_eq!(events.len(), 10);
    let id = events[0]["id"].to_string();
    let (code, event, _) = tool(&["--inbox", path, "inspect", &id, "--json"]).await;
    assert_eq!(code, 0);
    assert_eq!(event["state"], "dead");
    let dead: Vec<_> = event["handlers"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|h| h["dead"] == true)
        .collect();
    assert_eq!(dead.len(), 1, "{event}");
    assert!(
        dead[0]["last_error"]
            .as_str()
            .unwrap()
            .contains("b is down")
    );

    let (code, report, err) = tool(&["--inbox", path, "replay", "--state", "dead", "--json"]).await;
    assert_eq!(
        (code, report),
        (0, json!({"matched": 10, "replayed": 10})),
        "{err}"
    );
    let (_, again, _) = tool(&["--inbox", path, "replay", "--state", "dead", "--json"]).await;
    assert_eq!(
        again,
        json!({"matched": 0, "replayed": 0}),
        "a second replay runs nothing"
    );

    // The next start runs them: only the handler that failed, once each, as replays.
    let runs: Runs = Arc::default();
    let inbox = DurableInbox::open(&dir.0).unwrap();
    let webhooks = receiver(inbox.clone(), &runs, false);
    // While the receiver holds the file, the tool says to go through the admin router.
    let (code, _, err) = tool(&["--inbox", path, "dead"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("--admin-url"), "{err}");
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let (b, a_ran) = b_runs(&runs);
    assert_eq!(b, replayed_once(10));
    assert!(!a_ran);
}

#[tokio::test]
async fn through_the_admin_router_and_on_redis_a_replay_runs_each_dead_event_once() {
    let server = RedisServer::start();
    let connect = || async {
        RedisInbox::builder(server.url())
            .prefix("cli:")
            .connect()
            .await
            .unwrap()
    };
    {
        let inbox = connect().await;
        dead_letter_all(&inbox, 10).await;
    }
    let inbox = connect().await;
    let runs: Runs = Arc::default();
    let webhooks = receiver(inbox.clone(), &runs, false);
    let addr = serve(behind_token(admin::router(inbox.clone()), "cli-token")).await;
    let url = format!("http://{addr}");

    let (code, _, err) = tool(&["--admin-url", &url, "dead", "--json"]).await;
    assert_eq!(code, 1, "refused without the token");
    assert!(err.contains("check --token"), "{err}");
    let (code, dry, err) = tool(&[
        "--admin-url",
        &url,
        "--token",
        "cli-token",
        "replay",
        "--state",
        "dead",
        "--dry-run",
        "--json",
    ])
    .await;
    assert_eq!((code, dry), (0, json!({"matched": 10})), "{err}");
    let redis = ["--redis", &server.url(), "--prefix", "cli:"];
    let (_, dry, _) = tool(
        &[
            &redis[..],
            &["replay", "--state", "dead", "--dry-run", "--json"],
        ]
        .concat(),
    )
    .await;
    assert_eq!(
        dry,
        json!({"matched": 10}),
        "the same count on Redis directly"
    );

    let (code, report, err) = tool(&[
        "--admin-url",
        &url,
        "--token",
        "cli-token",
        "replay",
        "--state",
        "dead",
        "--json",
    ])
    .await;
    assert_eq!(
        (code, report),
        (0, json!({"matched": 10, "replayed": 10})),
        "{err}"
    );
    wait_until("every replay ran", async || {
        runs.lock().unwrap().len() >= 10
    })
    .await;
    let (_, again, _) =
        tool(&[&redis[..], &["replay", "--state", "dead", "--json"]].concat()).await;
    assert_eq!(again, json!({"matched": 0, "replayed": 0}));
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let (b, a_ran) = b_runs(&runs);
    assert_eq!(b, replayed_once(10), "b ran once per event, as a replay");
    assert!(!a_ran);
    assert_eq!(inbox.count(&dead()).await.unwrap(), 0);
}

#[tokio::test]
async fn on_postgres_the_dry_run_counts_and_a_replay_runs_each_dead_event_once() {
    let server = support::postgres_server::PostgresServer::start();
    let pool = sqlx::PgPool::connect(&server.url()).await.unwrap();
    let inbox = PostgresInbox::builder(pool)
        .schema("cli_inbox")
        .poll_interval(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    dead_letter_all(&inbox, 10).await;
    let runs: Runs = Arc::default();
    let webhooks = receiver(inbox.clone(), &runs, false);
    let url = server.url();
    let pg = ["--postgres", &url, "--schema", "cli_inbox"];
    let (code, dry, err) = tool(
        &[
            &pg[..],
            &["replay", "--state", "dead", "--dry-run", "--json"],
        ]
        .concat(),
    )
    .await;
    assert_eq!((code, dry), (0, json!({"matched": 10})), "{err}");
    let (code, listed, err) = tool(&[&pg[..], &["dead", "--json"]].concat()).await;
    assert_eq!(code, 0, "{err}");
    assert_eq!(
        listed.to_string().matches("\"dead\"").count(),
        10,
        "{listed}"
    );
    let (code, report, err) =
        tool(&[&pg[..], &["replay", "--state", "dead", "--json"]].concat()).await;
    assert_eq!(
        (code, report),
        (0, json!({"matched": 10, "replayed": 10})),
        "{err}"
    );
    wait_until("every replay ran", async || {
        runs.lock().unwrap().len() >= 10 && inbox.backlog().await.unwrap() == 0
    })
    .await;
    let (_, again, _) = tool(&[&pg[..], &["replay", "--state", "dead", "--json"]].concat()).await;
    assert_eq!(again, json!({"matched": 0, "replayed": 0}));
    webhooks.drain(Duration::from_secs(10)).await.unwrap();
    let (b, a_ran) = b_runs(&runs);
    assert_eq!(b, replayed_once(10), "b ran once per event, as a replay");
    assert!(!a_ran);
    let (code, _, err) = tool(&["--postgres", &url, "--redis", "redis://x", "dead"]).await;
    assert_eq!(code, 1);
    assert!(err.contains("exactly one of"), "{err}");
}

#[tokio::test]
async fn export_and_replay_file_reproduce_dead_events_on_another_receiver() {
    let dir = TempDir::new("cli-export");
    {
        let inbox = DurableInbox::open(&dir.0).unwrap();
        dead_letter_all(&inbox, 5).await;
    }
    let file = dir.0.join("dead.jsonl");
    let (code, done, err) = tool(&[
        "--inbox",
        dir.0.to_str().unwrap(),
        "export",
        "--state",
        "dead",
        "--output",
        file.to_str().unwrap(),
        "--json",
    ])
    .await;
    assert_eq!((code, done), (0, json!({"exported": 5})), "{err}");
    let text = std::fs::read_to_string(&file).unwrap();
    assert_eq!(text.lines().count(), 5);
    assert!(!text.contains(SECRET), "no credential is exported");

    // A fresh local receiver (in memory): the exported events, signed again, run there.
    let runs: Runs = Arc::default();
    let local = receiver(MokaStore::new(), &runs, false);
    let addr = serve(axum::Router::new().route_service(URI, local.clone())).await;
    let url = format!("http://{addr}{URI}");
    let send = [
        "replay-file",
        file.to_str().unwrap(),
        "--url",
        &url,
        "--secret",
        SECRET,
        "--json",
    ];
    let (code, sent, err) = tool(&send).await;
    assert_eq!(
        (code, sent),
        (0, json!({"sent": 5, "accepted": 5, "duplicates": 0})),
        "{err}"
    );
    let (_, again, _) = tool(&send).await;
    assert_eq!(
        again,
        json!({"sent": 5, "accepted": 0, "duplicates": 5}),
        "deduplicated"
    );
    let (code, _, err) = tool(&[
        "replay-file",
        file.to_str().unwrap(),
        "--url",
        &url,
        "--secret",
        "wrong-secret-0123456789",
    ])
    .await;
    assert_eq!(code, 1, "a wrong secret is refused by the receiver");
    assert!(err.contains("401"), "{err}");
    local.drain(Duration::from_secs(10)).await.unwrap();
    let mut ids: Vec<String> = runs
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.0 == "a")
        .map(|r| r.1.clone())
        .collect();
    ids.sort();
    assert_eq!(ids, ["m000", "m001", "m002", "m003", "m004"]);
}

/// The durable inbox, with each replay taking 50 ms (a slow store), to interrupt a long replay.
#[derive(Clone)]
struct Slow(DurableInbox);

impl InboxAdmin for Slow {
    async fn list(
        &self,
        filter: &webhook_receiver::store::EventFilter,
        cursor: Option<&webhook_receiver::store::Cursor>,
        limit: usize,
    ) -> Result<webhook_receiver::store::EventPage, webhook_receiver::store::AdminError> {
        self.0.list(filter, cursor, limit).await
    }

    async fn inspect(
        &self,
        id: webhook_receiver::store::StoredId,
    ) -> Result<webhook_receiver::store::EventDetail, webhook_receiver::store::AdminError> {
        self.0.inspect(id).await
    }

    async fn replay(
        &self,
        id: webhook_receiver::store::StoredId,
        scope: webhook_receiver::store::ReplayScope,
    ) -> Result<webhook_receiver::store::ReplayOutcome, webhook_receiver::store::AdminError> {
        tokio::time::sleep(Duration::from_millis(50)).await;
        self.0.replay(id, scope).await
    }

    async fn delete(
        &self,
        id: webhook_receiver::store::StoredId,
    ) -> Result<(), webhook_receiver::store::AdminError> {
        self.0.delete(id).await
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ctrl_c_stops_a_long_replay_between_two_events_and_reports_what_was_done() {
    let dir = TempDir::new("cli-interrupt");
    let inbox = DurableInbox::open(&dir.0).unwrap();
    dead_letter_all(&inbox, 60).await;
    let addr = serve(behind_token(
        admin::router(Slow(inbox.clone())),
        "cli-token",
    ))
    .await;
    let url = format!("http://{addr}");
    let child = tokio::process::Command::new(env!("CARGO_BIN_EXE_webhook-receiver"))
        .args([
            "--admin-url",
            &url,
            "--token",
            "cli-token",
            "replay",
            "--state",
            "dead",
            "--json",
        ])
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    tokio::time::sleep(Duration::from_millis(800)).await;
    let pid = child.id().unwrap().to_string();
    let killed = tokio::process::Command::new("kill")
        .args(["-INT", &pid])
        .status()
        .await
        .unwrap();
    assert!(killed.success());
    let out = child.wait_with_output().await.unwrap();
    let report: Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(&out.stderr)));
    assert_eq!(out.status.code(), Some(130), "{report}");
    assert_eq!(report["interrupted"], true, "{report}");
    let replayed = report["replayed"].as_u64().unwrap();
    assert_eq!(report["matched"].as_u64(), Some(replayed), "{report}");
    assert!(replayed > 0 && replayed < 60, "stopped part way: {report}");
    // None half done: every event is either still dead or replayed (waiting to run).
    let still_dead = inbox.count(&dead()).await.unwrap();
    let waiting = inbox
        .count(
            &webhook_receiver::store::EventFilter::new()
                .state(webhook_receiver::store::EventState::Waiting),
        )
        .await
        .unwrap();
    assert_eq!((still_dead, waiting), (60 - replayed, replayed));
}
