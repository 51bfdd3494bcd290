//! The Chirp example's admin router (`ADMIN_ADDR`, `ADMIN_TOKEN`): it refuses to start without a
//! token, and serves the operator API only to requests that carry it; with `INBOX=postgres` it
//! serves the Postgres inbox's dead events.
#![cfg(all(unix, feature = "chirp", feature = "durable", feature = "admin"))]

use std::process::{Command, Stdio};
use std::time::Duration;

mod support;

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("wr-example-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    dir
}

fn example(dir: &std::path::Path, admin: std::net::SocketAddr) -> Command {
    let mut cmd = Command::new(support::process::example_binary("chirp_receiver"));
    cmd.env("ADDR", support::process::free_port().to_string())
        .env("CHIRP_WEBHOOK_SECRET", support::SECRET)
        .env("INBOX_PATH", dir)
        .env("ADMIN_ADDR", admin.to_string())
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    cmd
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_refuses_to_start_its_admin_router_without_a_token() {
    let dir = temp_dir("admin-no-token");
    let out = tokio::task::spawn_blocking(move || {
        let out = example(&dir, support::process::free_port())
            .env_remove("ADMIN_TOKEN")
            .output()
            .unwrap();
        let _ = std::fs::remove_dir_all(&dir);
        out
    })
    .await
    .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("ADMIN_TOKEN"), "{stderr}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_admin_router_answers_only_with_the_token() {
    let dir = temp_dir("admin-token");
    let admin = support::process::free_port();
    let token = "example-admin-token-0123456789";
    let mut cmd = example(&dir, admin);
    cmd.env("ADMIN_TOKEN", token);
    let child = cmd.spawn().unwrap();
    support::process::wait_until_listening(admin).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let get = |auth: Option<&str>| {
        let mut req = http::Request::get(format!("http://{admin}/events?state=dead"));
        if let Some(auth) = auth {
            req = req.header("authorization", auth);
        }
        client.request(req.body(http_body_util::Full::default()).unwrap())
    };
    let refused = get(None).await.unwrap();
    assert_eq!(refused.status(), 401);
    let wrong = get(Some("Bearer not-the-token")).await.unwrap();
    assert_eq!(wrong.status(), 401);
    let ok = tokio::time::timeout(
        Duration::from_secs(10),
        get(Some(&format!("Bearer {token}"))),
    )
    .await
    .unwrap()
    .unwrap();
    assert_eq!(ok.status(), 200);
    let body = http_body_util::BodyExt::collect(ok.into_body())
        .await
        .unwrap()
        .to_bytes();
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(page["events"], serde_json::json!([]));
    let exited = support::process::signal_and_wait(child, "-TERM").await;
    assert!(exited.success, "{}", exited.stderr);
    let _ = std::fs::remove_dir_all(&dir);
}

#[cfg(feature = "postgres")]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_examples_admin_router_serves_the_postgres_inbox() {
    use support::operator::dead_letter_all;
    use webhook_receiver::store::PostgresInbox;

    let server = support::postgres_server::PostgresServer::start();
    let pool = sqlx::PgPool::connect(&server.url()).await.unwrap();
    let inbox = PostgresInbox::builder(pool)
        .schema("example_inbox")
        .poll_interval(Duration::from_millis(100))
        .connect()
        .await
        .unwrap();
    dead_letter_all(&inbox, 3).await;
    drop(inbox);

    let admin = support::process::free_port();
    let token = "example-admin-token-0123456789";
    let mut cmd = Command::new(support::process::example_binary("chirp_receiver"));
    cmd.env("ADDR", support::process::free_port().to_string())
        .env("CHIRP_WEBHOOK_SECRET", support::SECRET)
        .env("INBOX", "postgres")
        .env("DATABASE_URL", server.url())
        .env("INBOX_SCHEMA", "example_inbox")
        .env("ADMIN_ADDR", admin.to_string())
        .env("ADMIN_TOKEN", token)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = cmd.spawn().unwrap();
    support::process::wait_until_listening(admin).await;
    let client = hyper_util::client::legacy::Client::builder(hyper_util::rt::TokioExecutor::new())
        .build_http::<http_body_util::Full<bytes::Bytes>>();
    let req = http::Request::get(format!("http://{admin}/events?state=dead"))
        .header("authorization", format!("Bearer {token}"))
        .body(http_body_util::Full::default())
        .unwrap();
    let ok = tokio::time::timeout(Duration::from_secs(10), client.request(req))
        .await
        .unwrap()
        .unwrap();
    assert_eq!(ok.status(), 200);
    let body = http_body_util::BodyExt::collect(ok.into_body())
        .await
        .unwrap()
        .to_bytes();
    let page: serde_json::Value = serde_json::from_slice(&body).unwrap();
    let events = page["events"].as_array().expect("events");
    assert_eq!(events.len(), 3, "{page}");
    assert!(events.iter().all(|e| e["state"] == "dead"), "{page}");
    let exited = support::process::signal_and_wait(child, "-TERM").await;
    assert!(exited.success, "{}", exited.stderr);
}
