//! Connecting to Redis, for [`RedisStore`](super::RedisStore) and the Redis inbox alike: within
//! one deadline, with the URL's password redacted from every message, and with the server's
//! eviction policy checked.

use std::fmt;
use std::future::Future;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{AsyncConnectionConfig, Client, ErrorKind, RedisError, RedisResult};
use tokio::time::Instant;

use crate::error::BoxError;

/// Default bound of a whole connect: 5 s.
pub(crate) const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Pause between two connection attempts while the server cannot be reached.
const RETRY: Duration = Duration::from_millis(250);

/// The URL without its password: `redis://user:secret@host:6379/0` → `redis://…@host:6379/0`.
pub(crate) fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => format!("{}://…{}", &url[..scheme], &url[at..]),
        _ => url.to_owned(),
    }
}

/// Why a connect failed: the URL (redacted) and the cause.
#[derive(Debug)]
pub(crate) struct ConnectError {
    /// The URL, its password redacted.
    pub(crate) url: String,
    pub(crate) source: BoxError,
}

impl fmt::Display for ConnectError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "cannot connect to Redis at {}: {}",
            self.url, self.source
        )
    }
}

impl std::error::Error for ConnectError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&*self.source)
    }
}

/// The server could not be reached until the connect timeout.
#[derive(Debug)]
struct GaveUp {
    after: Duration,
    last: RedisError,
}

impl fmt::Display for GaveUp {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "not reachable within the connect timeout ({:?}): {}",
            self.after, self.last
        )
    }
}

impl std::error::Error for GaveUp {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.last)
    }
}

/// What a connect checks and how long it may take.
#[derive(Clone, Copy)]
struct Settings {
    timeout: Duration,
    require_noeviction: bool,
    /// What the server keeps for this store, for the eviction warning.
    keeps: &'static str,
}

/// A server found answering (and accepting the credentials) within the deadline; the
/// connections of the store are then made within what is left of it.
pub(crate) struct Connector {
    url: String,
    client: Client,
    deadline: Instant,
    timeout: Duration,
}

impl Connector {
    /// Connects once (trying again while the server cannot be reached, until `timeout` has
    /// passed; failing at once for anything else, such as a refused password), then reads the
    /// server's `maxmemory_policy`: anything but `noeviction` is logged at `warn` (naming what
    /// the store `keeps` there), or refused with `require_noeviction`.
    pub(crate) async fn open(
        url: &str,
        timeout: Duration,
        require_noeviction: bool,
        keeps: &'static str,
    ) -> Result<Self, ConnectError> {
        let settings = Settings {
            timeout,
            require_noeviction,
            keeps,
        };
        let redacted = redact(url);
        let error = |source: BoxError| ConnectError {
            url: redacted.clone(),
            source,
        };
        let client = Client::open(url).map_err(|e| error(e.into()))?;
        let deadline = Instant::now() + settings.timeout;
        let config = AsyncConnectionConfig::new()
            .set_connection_timeout(settings.timeout)
            .set_response_timeout(settings.timeout);
        let (_probe, info) = loop {
            let attempt = tokio::time::timeout_at(deadline, async {
                let mut conn = client
                    .get_multiplexed_async_connection_with_config(&config)
                    .await?;
                let info: String = redis::cmd("INFO")
                    .arg("memory")
                    .query_async(&mut conn)
                    .await?;
                RedisResult::Ok((conn, info))
            })
            .await;
            match attempt {
                Ok(Ok(conn)) => break conn,
                Ok(Err(e))
                    if e.kind() == ErrorKind::IoError && Instant::now() + RETRY < deadline =>
                {
                    tokio::time::sleep(RETRY).await;
                }
                Ok(Err(last)) if last.kind() == ErrorKind::IoError => {
                    return Err(error(Box::new(GaveUp {
                        after: settings.timeout,
                        last,
                    })));
                }
                Ok(Err(e)) => return Err(error(e.into())),
                Err(_) => return Err(error(timed_out(settings.timeout).into())),
            }
        };
        check_policy(&redacted, &info, settings)?;
        Ok(Self {
            url: redacted,
            client,
            deadline,
            timeout: settings.timeout,
        })
    }

    /// A connection manager (which reconnects on its own later), made within the deadline.
    pub(crate) async fn manager(
        &self,
        config: ConnectionManagerConfig,
    ) -> Result<ConnectionManager, ConnectError> {
        self.within(self.client.get_connection_manager_with_config(config))
            .await
    }

    /// `setup`, within the deadline.
    pub(crate) async fn within<T>(
        &self,
        setup: impl Future<Output = RedisResult<T>>,
    ) -> Result<T, ConnectError> {
        match tokio::time::timeout_at(self.deadline, setup).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(e)) => Err(self.error(e)),
            Err(_) => Err(self.error(timed_out(self.timeout))),
        }
    }

    /// A connect error about this server.
    pub(crate) fn error(&self, source: impl Into<BoxError>) -> ConnectError {
        ConnectError {
            url: self.url.clone(),
            source: source.into(),
        }
    }

    /// The URL, its password redacted.
    pub(crate) fn url(&self) -> &str {
        &self.url
    }
}

fn timed_out(timeout: Duration) -> RedisError {
    std::io::Error::new(
        std::io::ErrorKind::TimedOut,
        format!("no connection within the connect timeout ({timeout:?})"),
    )
    .into()
}

/// The `maxmemory_policy` line of `INFO memory`.
fn policy(info: &str) -> Option<&str> {
    info.lines()
        .find_map(|line| line.strip_prefix("maxmemory_policy:"))
        .map(str::trim)
}

/// Warns about (or, with `require_noeviction`, refuses) a server that may evict keys.
fn check_policy(url: &str, info: &str, settings: Settings) -> Result<(), ConnectError> {
    let refuse = |what: String| ConnectError {
        url: url.to_owned(),
        source: what.into(),
    };
    match policy(info) {
        Some("noeviction") => Ok(()),
        Some(policy) if settings.require_noeviction => Err(refuse(format!(
            "its maxmemory-policy is {policy}, and `require_noeviction` is set: run it with \
             maxmemory-policy noeviction"
        ))),
        None if settings.require_noeviction => Err(refuse(
            "its maxmemory-policy cannot be read (INFO memory), and `require_noeviction` is set"
                .to_owned(),
        )),
        policy => {
            tracing::warn!(
                url,
                policy = policy.unwrap_or("unknown"),
                "Redis may evict keys under memory pressure (maxmemory-policy is not noeviction): \
                 it keeps {} here; evicted, events run again or are lost. Run it with \
                 maxmemory-policy noeviction",
                settings.keeps
            );
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_url_is_logged_without_its_password() {
        assert_eq!(
            redact("redis://user:secret@host:6379/0"),
            "redis://…@host:6379/0"
        );
        assert_eq!(redact("rediss://:secret@host"), "rediss://…@host");
        assert_eq!(redact("redis://127.0.0.1:6379"), "redis://127.0.0.1:6379");
    }

    #[test]
    fn the_policy_is_read_from_info_memory() {
        let info = "# Memory\r\nused_memory:1\r\nmaxmemory_policy:allkeys-lru\r\nmem_fragmentation_ratio:1\r\n";
        assert_eq!(policy(info), Some("allkeys-lru"));
        assert_eq!(policy("# Memory\r\n"), None);
    }
}
