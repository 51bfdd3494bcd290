//! How the axum example receivers serve: hyper-util's connection builder with a header-read
//! timeout, a whole-request timeout (tower-http) and an idle timeout on every socket, so that a
//! slow client (slowloris) holds neither a connection nor the shutdown for long.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::extract::ConnectInfo;
use http::StatusCode;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tokio::time::{Instant, Sleep};
use tower_http::timeout::TimeoutLayer;

use super::env_or;

/// The three limits on a connection, from `HEADER_TIMEOUT_SECS`, `BODY_TIMEOUT_SECS` and
/// `IDLE_TIMEOUT_SECS`.
#[derive(Debug, Clone, Copy)]
pub struct Timeouts {
    /// `HEADER_TIMEOUT_SECS` (default 10): how long the server waits for a request's complete
    /// head (request line and headers), counted from the accept, or on a kept-alive connection
    /// from the previous response (hyper's HTTP/1 `header_read_timeout`). Then the connection
    /// is closed without an answer.
    pub header: Duration,
    /// `BODY_TIMEOUT_SECS` (default 30): how long a request may take once its head is in,
    /// reading its body included; then it is answered 408 and its connection closed. Also the
    /// grace that in-flight requests get at shutdown.
    pub body: Duration,
    /// `IDLE_TIMEOUT_SECS` (default 60): a connection that moved no byte either way for this
    /// long is closed (a client that stopped reading its response; under TLS, a silent HTTP/2
    /// connection).
    /// A kept-alive HTTP/1 connection waiting for its next request is closed by the header
    /// timeout already, whichever is shorter.
    pub idle: Duration,
}

impl Timeouts {
    /// Reads `HEADER_TIMEOUT_SECS`, `BODY_TIMEOUT_SECS` and `IDLE_TIMEOUT_SECS` (seconds, a
    /// fraction allowed: `0.5`); 0 is refused.
    pub fn from_env() -> Result<Self, webhook_receiver::BoxError> {
        let secs = |name: &str, default: f64| -> Result<Duration, webhook_receiver::BoxError> {
            let v: f64 = env_or(name, default)?;
            Duration::try_from_secs_f64(v)
                .ok()
                .filter(|d| !d.is_zero())
                .ok_or_else(|| format!("invalid {name}={v}: a positive number of seconds").into())
        };
        Ok(Self {
            header: secs("HEADER_TIMEOUT_SECS", 10.0)?,
            body: secs("BODY_TIMEOUT_SECS", 30.0)?,
            idle: secs("IDLE_TIMEOUT_SECS", 60.0)?,
        })
    }
}

/// `app` with `timeouts.body` on every request, from its complete head to its response: the
/// receiver reads the body inside this time. A late one is answered 408, and as its body was not
/// read to the end, hyper closes the connection.
pub fn with_request_timeout(app: axum::Router, timeouts: Timeouts) -> axum::Router {
    app.layer(TimeoutLayer::with_status_code(
        StatusCode::REQUEST_TIMEOUT,
        timeouts.body,
    ))
}

/// The acceptor that puts [`IdleTimeout`] under axum-server's TLS acceptor (`tls_receiver`):
/// `RustlsAcceptor::new(tls).acceptor(IdleAcceptor(timeouts))`.
#[derive(Debug, Clone, Copy)]
pub struct IdleAcceptor(pub Timeouts);

impl<I, S> axum_server::accept::Accept<I, S> for IdleAcceptor {
    type Stream = IdleTimeout<I>;
    type Service = S;
    type Future = std::future::Ready<io::Result<(IdleTimeout<I>, S)>>;

    fn accept(&self, stream: I, service: S) -> Self::Future {
        std::future::ready(Ok((IdleTimeout::new(stream, self.0.idle), service)))
    }
}

/// Serves `app` on `listener` until `signal` completes, then: stops accepting, gives the open
/// connections `timeouts.body` to finish the request they are in (idle ones close at once), and
/// closes those still open. Each request carries the peer address as axum's
/// `ConnectInfo<SocketAddr>` (for the IP allowlist), as `into_make_service_with_connect_info`
/// would put it. HTTP/1.1 only: `axum::serve` also spoke HTTP/2 with prior knowledge (h2c), which
/// webhook senders do not use and for which hyper has no header timeout.
pub async fn serve(
    listener: TcpListener,
    app: axum::Router,
    timeouts: Timeouts,
    signal: impl Future<Output = ()>,
) -> io::Result<()> {
    let app = with_request_timeout(app, timeouts);
    // HTTP/1 only: hyper's header timeout is HTTP/1's, and it starts at once only when the
    // builder does not first wait for bytes that tell HTTP/1 from HTTP/2 (prior knowledge).
    let mut builder = auto::Builder::new(TokioExecutor::new()).http1_only();
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header);

    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut signal = std::pin::pin!(signal);
    loop {
        let (stream, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of file descriptors, mostly: back off instead of spinning.
                    tracing::warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            // Reap finished connections as they go, so the set holds only open ones.
            Some(_) = connections.join_next(), if !connections.is_empty() => continue,
            () = &mut signal => break,
        };
        let service = tower::ServiceBuilder::new()
            .layer(axum::Extension(ConnectInfo(peer)))
            .service(app.clone());
        let conn = builder
            .serve_connection(
                TokioIo::new(IdleTimeout::new(stream, timeouts.idle)),
                TowerToHyperService::new(service),
            )
            .into_owned();
        let conn = graceful.watch(conn);
        connections.spawn(async move {
            // A timed-out or vanished client ends its connection with an error: not news.
            if let Err(e) = conn.await {
                tracing::debug!(%peer, error = %e, "connection closed");
            }
        });
    }
    drop(listener);
    let open = connections.len();
    tracing::info!(
        open,
        grace_secs = timeouts.body.as_secs_f64(),
        "stopped accepting; letting open connections finish"
    );
    if tokio::time::timeout(timeouts.body, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            lingering = connections.len(),
            "closing the connections still open after the grace"
        );
    }
    connections.shutdown().await;
    Ok(())
}

pin_project_lite::pin_project! {
    /// An I/O stream that fails with `TimedOut` once `limit` has passed without a byte read or
    /// written. The timer is reset lazily: a read or write only records the time.
    pub struct IdleTimeout<T> {
        #[pin]
        io: T,
        // Boxed, so that the stream is `Unpin` as axum-server's TLS acceptor wants.
        sleep: Pin<Box<Sleep>>,
        idle: Duration,
        last: Instant,
    }
}

impl<T> IdleTimeout<T> {
    fn new(io: T, idle: Duration) -> Self {
        let now = Instant::now();
        Self {
            io,
            sleep: Box::pin(tokio::time::sleep_until(now + idle)),
            idle,
            last: now,
        }
    }
}

impl<T> IdleTimeout<T> {
    /// Called when the stream is not ready: an error if it has been idle too long.
    fn poll_idle(self: Pin<&mut Self>, cx: &mut Context<'_>) -> io::Result<()> {
        let this = self.project();
        loop {
            if this.sleep.as_mut().poll(cx).is_pending() {
                return Ok(());
            }
            let deadline = *this.last + *this.idle;
            if deadline <= Instant::now() {
                return Err(io::Error::new(io::ErrorKind::TimedOut, "connection idle"));
            }
            this.sleep.as_mut().reset(deadline);
        }
    }
}

impl<T: AsyncRead> AsyncRead for IdleTimeout<T> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        match self.as_mut().project().io.poll_read(cx, buf) {
            Poll::Ready(res) => {
                if buf.filled().len() > before {
                    *self.project().last = Instant::now();
                }
                Poll::Ready(res)
            }
            Poll::Pending => {
                self.poll_idle(cx)?;
                Poll::Pending
            }
        }
    }
}

impl<T: AsyncWrite> AsyncWrite for IdleTimeout<T> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.as_mut().project().io.poll_write(cx, buf) {
            Poll::Ready(res) => {
                *self.project().last = Instant::now();
                Poll::Ready(res)
            }
            Poll::Pending => {
                self.poll_idle(cx)?;
                Poll::Pending
            }
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.as_mut().project().io.poll_write_vectored(cx, bufs) {
            Poll::Ready(res) => {
                *self.project().last = Instant::now();
                Poll::Ready(res)
            }
            Poll::Pending => {
                self.poll_idle(cx)?;
                Poll::Pending
            }
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        self.project().io.poll_shutdown(cx)
    }
}
