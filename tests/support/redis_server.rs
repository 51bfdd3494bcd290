//! A real `redis-server` for the tests: started on a free loopback port, with no persistence,
//! stopped (and waited for) on drop. A test that needs one fails with a clear message when it
//! cannot start one: never a silent skip.

use std::net::SocketAddr;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// A running `redis-server` child process.
#[derive(Debug)]
pub struct RedisServer {
    pub port: u16,
    child: Option<Child>,
}

impl RedisServer {
    /// Starts one on a free port and waits until it answers.
    pub fn start() -> Self {
        let port = super::process::free_port().port();
        Self::start_on(port)
    }

    /// Starts one on `port` (e.g. again after [`stop`](Self::stop)).
    pub fn start_on(port: u16) -> Self {
        Self::start_with_on(port, &[])
    }

    /// Starts one on a free port with `extra` arguments after the usual ones (e.g.
    /// `["--requirepass", "pw"]`, `["--maxmemory-policy", "allkeys-lru"]`), and waits until it
    /// listens.
    pub fn start_with(extra: &[&str]) -> Self {
        Self::start_with_on(super::process::free_port().port(), extra)
    }

    /// Starts one on `port` with `extra` arguments after the usual ones.
    fn start_with_on(port: u16, extra: &[&str]) -> Self {
        let child = Command::new("redis-server")
            .args([
                "--port",
                &port.to_string(),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
            ])
            .args(extra)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|e| {
                panic!(
                    "cannot start redis-server ({e}): run the tests with scripts/test, which installs it (Debian: apt-get install redis-server)"
                )
            });
        let mut server = Self {
            port,
            child: Some(child),
        };
        let addr = SocketAddr::from(([127, 0, 0, 1], port));
        let deadline = Instant::now() + Duration::from_secs(10);
        while std::net::TcpStream::connect(addr).is_err() {
            if Instant::now() > deadline {
                server.stop();
                panic!("redis-server {extra:?} did not listen on {addr} within 10 s");
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        server
    }

    /// `redis://127.0.0.1:<port>`.
    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// The OS process id (for SIGSTOP/SIGCONT).
    pub fn pid(&self) -> u32 {
        self.child.as_ref().expect("running").id()
    }

    /// Kills it and waits for it.
    pub fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The first [`redis::RedisError`] in `error`'s chain of sources.
#[cfg(feature = "redis")]
pub fn redis_cause<'a>(
    error: &'a (dyn std::error::Error + 'static),
) -> Option<&'a redis::RedisError> {
    let mut next = Some(error);
    while let Some(e) = next {
        if let Some(cause) = e.downcast_ref::<redis::RedisError>() {
            return Some(cause);
        }
        next = e.source();
    }
    None
}
