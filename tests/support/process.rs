//! Example binaries as separate processes: build them, start one on a free port, stop it with
//! SIGTERM and read its stdout lines.

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::time::Duration;

/// The features this test crate was compiled with, which the examples are built with too.
fn features() -> Vec<&'static str> {
    // `default` and `full` too, so that `--all-features` builds the same crate artifacts.
    let all = [
        ("default", cfg!(feature = "default")),
        ("full", cfg!(feature = "full")),
        ("chirp", cfg!(feature = "chirp")),
        ("hmac", cfg!(feature = "hmac")),
        ("standard-webhooks", cfg!(feature = "standard-webhooks")),
        ("providers", cfg!(feature = "providers")),
        ("axum", cfg!(feature = "axum")),
        ("testing", cfg!(feature = "testing")),
        ("durable", cfg!(feature = "durable")),
        ("redis", cfg!(feature = "redis")),
        ("admin", cfg!(feature = "admin")),
        ("cli", cfg!(feature = "cli")),
        ("postgres", cfg!(feature = "postgres")),
    ];
    all.into_iter()
        .filter(|(_, on)| *on)
        .map(|(f, _)| f)
        .collect()
}

/// The path of example `name`, built first (`cargo test --test NAME` builds only that test, not
/// the examples; a full `cargo test` has built them already and this is a no-op).
///
/// The build uses the test's own target directory, profile and features. Builds are serialised
/// within this process (cargo would also serialise them on its lock).
pub fn example_binary(name: &str) -> PathBuf {
    static BUILD: Mutex<()> = Mutex::new(());
    // tests run from <target>/<profile>/deps
    let exe = std::env::current_exe().unwrap();
    let profile_dir = exe.parent().and_then(Path::parent).unwrap();
    let target_dir = profile_dir.parent().unwrap();
    let bin = profile_dir.join("examples").join(name);

    let _guard = BUILD
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let mut cargo = Command::new(env!("CARGO"));
    // Without the variables cargo sets for the running test: build scripts that watch one
    // (ring's watches CARGO_MANIFEST_DIR) would otherwise rebuild on every switch between this
    // build and the user's own.
    for (name, _) in std::env::vars_os() {
        let Some(name) = name.to_str() else { continue };
        if name.starts_with("CARGO_PKG_")
            || name.starts_with("CARGO_BIN_")
            || [
                "CARGO_MANIFEST_DIR",
                "CARGO_MANIFEST_PATH",
                "CARGO_CRATE_NAME",
                "CARGO_PRIMARY_PACKAGE",
                "CARGO_TARGET_TMPDIR",
                "CARGO_RUSTC_CURRENT_DIR",
                "OUT_DIR",
            ]
            .contains(&name)
        {
            cargo.env_remove(name);
        }
    }
    cargo
        .args([
            "build",
            "--quiet",
            "--example",
            name,
            "--no-default-features",
        ])
        .arg("--features")
        .arg(features().join(","))
        .arg("--target-dir")
        .arg(target_dir)
        .current_dir(env!("CARGO_MANIFEST_DIR"));
    match profile_dir.file_name().and_then(|n| n.to_str()) {
        Some("debug") | None => {}
        Some("release") => {
            cargo.arg("--release");
        }
        Some(profile) => {
            cargo.args(["--profile", profile]);
        }
    }
    let status = cargo.status().expect("run cargo build");
    assert!(status.success(), "cargo build --example {name}: {status}");
    assert!(bin.exists(), "{} not built", bin.display());
    bin
}

/// A port that was free a moment ago.
pub fn free_port() -> SocketAddr {
    let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    l.local_addr().unwrap()
}

/// What an example process left when it exited.
#[derive(Debug)]
pub struct Exited {
    /// Its exit status was 0.
    pub success: bool,
    /// Its stdout lines, each parsed as JSON.
    pub lines: Vec<serde_json::Value>,
    /// Its stderr (empty unless it was piped).
    pub stderr: String,
}

/// Sends `signal` (`"-TERM"`, `"-KILL"`) to `child`, waits for it to exit, and returns what it
/// left. Every stdout line must be JSON.
pub async fn signal_and_wait(child: Child, signal: &str) -> Exited {
    let pid = child.id().to_string();
    assert!(
        Command::new("kill")
            .args([signal, &pid])
            .status()
            .unwrap()
            .success()
    );
    let out = tokio::task::spawn_blocking(move || child.wait_with_output())
        .await
        .unwrap()
        .unwrap();
    let lines = String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    Exited {
        success: out.status.success(),
        lines,
        stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
    }
}

/// Spawns `cmd` and waits (up to 15 s) until it accepts connections on `addr`; a child that does
/// not is killed (and waited for) before the panic, so no test leaves one behind.
pub async fn spawn_listening(cmd: &mut Command, addr: SocketAddr) -> Child {
    let mut child = cmd.spawn().unwrap();
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return child;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let _ = child.kill();
    let _ = child.wait();
    panic!("{cmd:?} did not listen on {addr}");
}

/// Waits (up to 15 s) until something accepts TCP connections on `addr`.
pub async fn wait_until_listening(addr: SocketAddr) {
    for _ in 0..300 {
        if tokio::net::TcpStream::connect(addr).await.is_ok() {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("example did not listen on {addr}");
}

/// An example receiver running as a child process on `addr`, stdout piped.
#[derive(Debug)]
pub struct Running {
    pub name: String,
    pub addr: SocketAddr,
    /// `None` once stopped.
    child: Option<Child>,
}

impl Running {
    /// Builds and spawns example `name` with `ADDR` on a free port, `RUST_LOG=warn` and `env`,
    /// and waits until it listens.
    pub async fn start(name: &str, env: &[(&str, &str)]) -> Self {
        let addr = free_port();
        let mut cmd = Command::new(example_binary(name));
        cmd.env("ADDR", addr.to_string()).env("RUST_LOG", "warn");
        for (k, v) in env {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        wait_until_listening(addr).await;
        Self {
            name: name.to_owned(),
            addr,
            child: Some(child),
        }
    }

    /// The process id (while running).
    pub fn id(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Sends SIGTERM, asserts the example exits 0, and returns its stdout lines as JSON.
    pub async fn stop(mut self) -> Vec<serde_json::Value> {
        let mut child = self.child.take().expect("running");
        assert!(
            Command::new("kill")
                .args(["-TERM", &child.id().to_string()])
                .status()
                .unwrap()
                .success()
        );
        let stdout = child.stdout.take().unwrap();
        let status = tokio::task::spawn_blocking(move || child.wait())
            .await
            .unwrap()
            .unwrap();
        assert!(status.success(), "{} exit status {status}", self.name);
        BufReader::new(stdout)
            .lines()
            .map(|line| {
                let line = line.unwrap();
                serde_json::from_str(&line).unwrap_or_else(|e| panic!("not JSON ({e}): {line}"))
            })
            .collect()
    }
}

impl Drop for Running {
    /// A test that failed before [`stop`](Self::stop) does not leave the example running.
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

/// Spawns an example with `env`, waits for its port, runs `drive`, sends SIGTERM, and returns
/// its stdout lines as (event, id) once it has exited 0.
pub async fn run_example<F: std::future::Future<Output = ()>>(
    name: &str,
    env: &[(&str, &str)],
    drive: impl FnOnce(SocketAddr) -> F,
) -> Vec<(String, String)> {
    let running = Running::start(name, env).await;
    drive(running.addr).await;
    running
        .stop()
        .await
        .into_iter()
        .map(|v| {
            (
                v["event"].as_str().unwrap().to_owned(),
                v["id"].as_str().unwrap().to_owned(),
            )
        })
        .collect()
}
