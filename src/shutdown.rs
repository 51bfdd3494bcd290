//! [`shutdown_signal`]: the future to hand to a server's graceful shutdown.

/// Resolves on Ctrl-C or (on Unix) SIGTERM, the signals an operator or an orchestrator sends to
/// stop a service; logs which one at `info`.
///
/// Hand it to axum's `with_graceful_shutdown` (or hyper-util's graceful shutdown), then call
/// [`Webhooks::drain`](crate::Webhooks::drain) once the server has returned:
///
/// ```no_run
/// # use std::time::Duration;
/// # #[tokio::main] async fn main() -> Result<(), webhook_receiver::BoxError> {
/// # let webhooks = webhook_receiver::chirp::webhooks(["s3cr3t"])?.spawn();
/// # let app = axum::Router::new().route_service("/webhooks/chirp", webhooks.clone());
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:3000").await?;
/// axum::serve(listener, app)
///     .with_graceful_shutdown(webhook_receiver::shutdown_signal())
///     .await?;
/// webhooks.drain(Duration::from_secs(30)).await?;
/// # Ok(()) }
/// ```
///
/// If a signal handler cannot be installed, that is logged at `error` and the other signal is
/// still awaited.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        match tokio::signal::ctrl_c().await {
            Ok(()) => "Ctrl-C",
            Err(error) => {
                tracing::error!(%error, "cannot listen for Ctrl-C");
                std::future::pending().await
            }
        }
    };
    #[cfg(unix)]
    let terminate = async {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut sigterm) => {
                sigterm.recv().await;
                "SIGTERM"
            }
            Err(error) => {
                tracing::error!(%error, "cannot listen for SIGTERM");
                std::future::pending().await
            }
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<&str>();
    let signal = tokio::select! {
        signal = ctrl_c => signal,
        signal = terminate => signal,
    };
    tracing::info!(signal, "shutdown signal received: no new connections");
}
