//! The admin router (feature `admin`): the operator API ([`InboxAdmin`]) of a store that keeps
//! events, as JSON endpoints.
//!
//! **It refuses nothing by itself.** Anyone who reaches it can read every kept event (bodies
//! included), replay and delete them: mount it behind your own authentication layer, on an
//! address only operators reach, as below.
//!
//! | method and path | does | answers |
//! |---|---|---|
//! | `GET /events?state=&type=&received_after=&received_before=&cursor=&limit=` | one page of a listing ([`InboxAdmin::list`]; times RFC 3339, `limit` default 100, at most 1000) | [`EventPage`] |
//! | `GET /events/{id}` | one event ([`InboxAdmin::inspect`]) | [`EventDetail`] |
//! | `DELETE /events/{id}` | deletes it ([`InboxAdmin::delete`]) | `{"deleted": 1}` |
//! | `POST /events/{id}/replay?scope=failed\|all` | replays it ([`InboxAdmin::replay`]) | `{"matched": 1, "replayed": 0 or 1}` |
//! | `POST /replay?state=&type=&...&scope=&dry_run=true` | replays every match ([`InboxAdmin::replay_matching`]), or counts them | `{"matched": N, "replayed": N}`, or `{"matched": N}` for the dry run |
//! | `POST /prune?state=dead&older_than_secs=N&dry_run=true` | deletes the events of a state older than that ([`InboxAdmin::prune`]), or counts them | `{"matched": N, "deleted": N}`, or `{"matched": N}` |
//!
//! Errors answer `{"error": {"type", "message"}}` with the status of [`AdminError::status`]
//! (404 `not_found`, 400 `invalid_request` / `invalid_cursor`, 503 `store_error`).
//!
//! # Example
//!
//! Behind a bearer token (compared in constant time), on its own listener:
//!
//! ```
//! use axum::extract::Request;
//! use axum::middleware::{self, Next};
//! use axum::response::{IntoResponse, Response};
//! use http::StatusCode;
//! use subtle::ConstantTimeEq;
//! use webhook_receiver::admin;
//! use webhook_receiver::store::DurableInbox;
//!
//! async fn bearer(request: Request, next: Next) -> Response {
//!     let expected = b"Bearer a-long-random-operator-token";
//!     let given = request.headers().get(http::header::AUTHORIZATION).map(|v| v.as_bytes());
//!     match given {
//!         Some(given) if bool::from(given.ct_eq(expected)) => next.run(request).await,
//!         _ => StatusCode::UNAUTHORIZED.into_response(),
//!     }
//! }
//!
//! # fn main() -> Result<(), webhook_receiver::BoxError> {
//! # let dir = std::env::temp_dir().join(format!("wr-doc-{}-admin-router", std::process::id()));
//! let inbox = DurableInbox::open(&dir)?; // the same inbox the receiver was given (a clone)
//! let app: axum::Router = admin::router(inbox).layer(middleware::from_fn(bearer));
//! # drop(app); std::fs::remove_dir_all(&dir).ok();
//! # Ok(()) }
//! ```
//!
//! [`InboxAdmin`]: crate::store::InboxAdmin
//! [`InboxAdmin::list`]: crate::store::InboxAdmin::list
//! [`InboxAdmin::inspect`]: crate::store::InboxAdmin::inspect
//! [`InboxAdmin::delete`]: crate::store::InboxAdmin::delete
//! [`InboxAdmin::replay`]: crate::store::InboxAdmin::replay
//! [`InboxAdmin::replay_matching`]: crate::store::InboxAdmin::replay_matching
//! [`InboxAdmin::prune`]: crate::store::InboxAdmin::prune
//! [`EventPage`]: crate::store::EventPage
//! [`EventDetail`]: crate::store::EventDetail
//! [`AdminError::status`]: crate::store::AdminError::status

mod query;

use std::sync::Arc;

use axum::Json;
use axum::extract::{Path, Query, State};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use serde_json::json;

use crate::store::{AdminError, InboxAdmin, ReplayOutcome, StoredId};
use query::{FilterQuery, ListQuery, PruneQuery, ReplayOneQuery, ReplayQuery};

/// The most events one listing page answers (`limit` is clamped to it; the default is 100).
///
/// ```
/// assert_eq!(webhook_receiver::admin::MAX_LIMIT, 1000);
/// ```
pub const MAX_LIMIT: usize = 1000;

/// The JSON endpoints of the operator API over `admin` (see the [module docs](self) for the
/// routes). Mount it behind your own authentication layer: it refuses nothing.
///
/// ```
/// use webhook_receiver::admin;
/// use webhook_receiver::store::DurableInbox;
///
/// # fn main() -> Result<(), webhook_receiver::BoxError> {
/// # let dir = std::env::temp_dir().join(format!("wr-doc-{}-admin-fn", std::process::id()));
/// let inbox = DurableInbox::open(&dir)?;
/// let app: axum::Router = axum::Router::new().nest("/admin", admin::router(inbox));
/// # drop(app); std::fs::remove_dir_all(&dir).ok();
/// # Ok(()) }
/// ```
pub fn router<A: InboxAdmin>(admin: A) -> axum::Router {
    axum::Router::new()
        .route("/events", get(list::<A>))
        .route("/events/{id}", get(inspect::<A>).delete(delete::<A>))
        .route("/events/{id}/replay", post(replay_one::<A>))
        .route("/replay", post(replay::<A>))
        .route("/prune", post(prune::<A>))
        .with_state(Arc::new(admin))
}

/// An [`AdminError`] as the receiver's error shape.
struct ErrorResponse(AdminError);

impl IntoResponse for ErrorResponse {
    fn into_response(self) -> Response {
        let status = self.0.status();
        let body = json!({"error": {"type": self.0.kind(), "message": self.0.to_string()}});
        (status, Json(body)).into_response()
    }
}

impl From<AdminError> for ErrorResponse {
    fn from(error: AdminError) -> Self {
        Self(error)
    }
}

type Answer = Result<Response, ErrorResponse>;

fn parse_id(id: &str) -> Result<StoredId, ErrorResponse> {
    id.parse::<u64>()
        .map(StoredId::new)
        .map_err(|_| AdminError::Invalid(format!("invalid event id {id:?}")).into())
}

async fn list<A: InboxAdmin>(State(admin): State<Arc<A>>, Query(q): Query<ListQuery>) -> Answer {
    let filter = q.filter.to_filter()?;
    let limit = q.limit()?.unwrap_or(100).clamp(1, MAX_LIMIT);
    let page = admin.list(&filter, q.cursor.as_ref(), limit).await?;
    Ok(Json(page).into_response())
}

async fn inspect<A: InboxAdmin>(State(admin): State<Arc<A>>, Path(id): Path<String>) -> Answer {
    let event = admin.inspect(parse_id(&id)?).await?;
    Ok(Json(event).into_response())
}

async fn delete<A: InboxAdmin>(State(admin): State<Arc<A>>, Path(id): Path<String>) -> Answer {
    admin.delete(parse_id(&id)?).await?;
    Ok(Json(json!({"deleted": 1})).into_response())
}

async fn replay_one<A: InboxAdmin>(
    State(admin): State<Arc<A>>,
    Path(id): Path<String>,
    Query(q): Query<ReplayOneQuery>,
) -> Answer {
    let outcome = admin
        .replay(parse_id(&id)?, q.scope.unwrap_or_default())
        .await?;
    let body = match outcome {
        ReplayOutcome::Replayed => json!({"matched": 1, "replayed": 1}),
        ReplayOutcome::NotDead(state) => json!({"matched": 1, "replayed": 0, "state": state}),
    };
    Ok(Json(body).into_response())
}

async fn replay<A: InboxAdmin>(
    State(admin): State<Arc<A>>,
    Query(q): Query<ReplayQuery>,
) -> Answer {
    let filter = q.filter.to_filter()?;
    if q.dry_run {
        let matched = admin.count(&filter).await?;
        return Ok(Json(json!({"matched": matched})).into_response());
    }
    let report = admin
        .replay_matching(&filter, q.scope.unwrap_or_default())
        .await?;
    Ok(Json(report).into_response())
}

async fn prune<A: InboxAdmin>(State(admin): State<Arc<A>>, Query(q): Query<PruneQuery>) -> Answer {
    let (state, older_than) = q.parse()?;
    if q.dry_run {
        let filter = FilterQuery::older_than(state, older_than);
        let matched = admin.count(&filter).await?;
        return Ok(Json(json!({"matched": matched})).into_response());
    }
    let deleted = admin.prune(state, older_than).await?;
    Ok(Json(json!({"matched": deleted, "deleted": deleted})).into_response())
}
