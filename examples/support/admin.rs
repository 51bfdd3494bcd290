//! `ADMIN_ADDR` and `ADMIN_TOKEN`: the operator API of the example's store (`admin::router`,
//! build with `--features admin`), served on its own listener behind a bearer token, for the
//! `webhook-receiver` tool's `--admin-url` (or curl).

use std::net::SocketAddr;

use webhook_receiver::BoxError;

use super::AnyStore;

/// The shortest `ADMIN_TOKEN` accepted.
const MIN_TOKEN_LEN: usize = 16;

/// Serves the admin router on `ADMIN_ADDR`, if set, behind `Authorization: Bearer
/// <ADMIN_TOKEN>` (compared in constant time), until `shutdown` resolves; refuses to start
/// without a token of at least 16 characters, or with a store that keeps no events. Returns the
/// address it listens on.
pub async fn serve_admin(
    store: &AnyStore,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> Result<Option<SocketAddr>, BoxError> {
    let Some(addr) = std::env::var("ADMIN_ADDR")
        .ok()
        .filter(|v| !v.trim().is_empty())
    else {
        return Ok(None);
    };
    let addr: SocketAddr = addr
        .trim()
        .parse()
        .map_err(|e| format!("invalid ADMIN_ADDR={addr:?}: {e}"))?;
    let token = std::env::var("ADMIN_TOKEN").unwrap_or_default();
    if token.trim().len() < MIN_TOKEN_LEN {
        return Err(format!(
            "ADMIN_ADDR is set but ADMIN_TOKEN is not (or shorter than {MIN_TOKEN_LEN} characters): \
             the admin router refuses nothing by itself, so it is served only behind a bearer token"
        )
        .into());
    }
    let app = router(store)?.layer(axum::middleware::from_fn(move |request, next| {
        bearer(format!("Bearer {}", token.trim()), request, next)
    }));
    let listener = tokio::net::TcpListener::bind(addr).await?;
    let local = listener.local_addr()?;
    tracing::info!(addr = %local, "admin router listening (bearer token from ADMIN_TOKEN)");
    tokio::spawn(async move {
        if let Err(error) = axum::serve(listener, app)
            .with_graceful_shutdown(shutdown)
            .await
        {
            tracing::error!(%error, "the admin router stopped");
        }
    });
    Ok(Some(local))
}

#[cfg(feature = "admin")]
fn router(store: &AnyStore) -> Result<axum::Router, BoxError> {
    use webhook_receiver::admin;
    match store {
        #[cfg(feature = "durable")]
        AnyStore::Durable(inbox) => Ok(admin::router(inbox.clone())),
        #[cfg(feature = "redis")]
        AnyStore::RedisInbox(inbox) => Ok(admin::router(inbox.clone())),
        #[cfg(feature = "postgres")]
        AnyStore::Postgres(inbox) => Ok(admin::router(inbox.clone())),
        #[allow(unreachable_patterns)]
        _ => Err(
            "ADMIN_ADDR needs a store that keeps events: INBOX_PATH (durable inbox), INBOX=redis or INBOX=postgres"
                .into(),
        ),
    }
}

#[cfg(not(feature = "admin"))]
fn router(_: &AnyStore) -> Result<axum::Router, BoxError> {
    Err("ADMIN_ADDR needs the `admin` feature: cargo run --release --features admin,durable --example ...".into())
}

/// Lets the request through only with the expected `Authorization` header.
async fn bearer(
    expected: String,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    use axum::response::IntoResponse;
    use subtle::ConstantTimeEq;
    let given = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .map(http::HeaderValue::as_bytes);
    if given.is_some_and(|given| bool::from(given.ct_eq(expected.as_bytes()))) {
        next.run(request).await
    } else {
        let body = serde_json::json!({"error": {"type": "authentication_error", "message": "missing or wrong bearer token"}});
        (http::StatusCode::UNAUTHORIZED, axum::Json(body)).into_response()
    }
}
