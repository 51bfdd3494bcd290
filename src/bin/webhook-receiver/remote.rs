//! A running receiver's admin router, over HTTP: the operator API as a client.

use std::fmt;
use std::time::SystemTime;

use bytes::Bytes;
use http::{Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use serde::de::DeserializeOwned;
use webhook_receiver::BoxError;
use webhook_receiver::store::{
    AdminError, Cursor, EventDetail, EventFilter, EventPage, EventState, InboxAdmin, ReplayOutcome,
    ReplayScope, StoredId,
};

/// The admin router at `base`, with its bearer token.
pub(crate) struct Remote {
    base: String,
    token: Option<String>,
    client: Client<HttpConnector, Full<Bytes>>,
}

impl fmt::Debug for Remote {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Remote")
            .field("base", &self.base)
            .field("token", &self.token.as_ref().map(|_| "[redacted]"))
            .finish_non_exhaustive()
    }
}

/// Percent-encodes a query value.
pub(crate) fn encode(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for byte in value.bytes() {
        if byte.is_ascii_alphanumeric() || b"-_.~".contains(&byte) {
            out.push(char::from(byte));
        } else {
            out.push_str(&format!("%{byte:02X}"));
        }
    }
    out
}

fn rfc3339(t: SystemTime) -> String {
    chrono::DateTime::<chrono::Utc>::from(t).to_rfc3339_opts(chrono::SecondsFormat::Millis, true)
}

/// `filter` as the admin router's query parameters (without the leading `?`).
pub(crate) fn filter_query(filter: &EventFilter) -> Vec<String> {
    let mut q = Vec::new();
    if let Some(state) = filter.state {
        q.push(format!("state={state}"));
    }
    if let Some(t) = &filter.event_type {
        q.push(format!("type={}", encode(t)));
    }
    if let Some(t) = filter.received_after {
        q.push(format!("received_after={}", encode(&rfc3339(t))));
    }
    if let Some(t) = filter.received_before {
        q.push(format!("received_before={}", encode(&rfc3339(t))));
    }
    q
}

impl Remote {
    pub(crate) fn new(base: &str, token: Option<&str>) -> Result<Self, BoxError> {
        let base = base.trim_end_matches('/').to_owned();
        if !base.starts_with("http://") {
            return Err(format!(
                "--admin-url {base:?}: an http:// URL (serve the admin router on a private address; tunnel it for TLS)"
            )
            .into());
        }
        Ok(Self {
            base,
            token: token.map(str::to_owned),
            client: Client::builder(TokioExecutor::new()).build_http(),
        })
    }

    async fn call<T: DeserializeOwned>(
        &self,
        method: Method,
        path_and_query: &str,
        id: Option<StoredId>,
    ) -> Result<T, AdminError> {
        let mut request = Request::builder()
            .method(method)
            .uri(format!("{}{path_and_query}", self.base));
        if let Some(token) = &self.token {
            request = request.header(http::header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let request = request
            .body(Full::new(Bytes::new()))
            .map_err(|e| AdminError::Invalid(e.to_string()))?;
        let response = self
            .client
            .request(request)
            .await
            .map_err(|e| AdminError::Other(format!("{}: {e}", self.base)))?;
        let status = response.status();
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|e| AdminError::Other(format!("{}: {e}", self.base)))?
            .to_bytes();
        if status.is_success() {
            return serde_json::from_slice(&body).map_err(|e| {
                AdminError::Other(format!("unexpected answer from the admin router: {e}"))
            });
        }
        let error: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        let kind = error["error"]["type"].as_str().unwrap_or_default();
        let message = error["error"]["message"].as_str().map_or_else(
            || String::from_utf8_lossy(&body).into_owned(),
            str::to_owned,
        );
        Err(match (status, kind, id) {
            (StatusCode::UNAUTHORIZED | StatusCode::FORBIDDEN, _, _) => AdminError::Other(format!(
                "the admin router refused the request ({status}): check --token"
            )),
            (_, "not_found", Some(id)) => AdminError::NotFound(id),
            (_, "invalid_cursor", _) => AdminError::InvalidCursor(message),
            (_, "invalid_request", _) => AdminError::Invalid(message),
            _ => AdminError::Other(format!("{status}: {message}")),
        })
    }
}

/// The answer of `POST /events/{id}/replay`.
#[derive(serde::Deserialize)]
struct ReplayAnswer {
    replayed: u64,
    state: Option<EventState>,
}

impl InboxAdmin for Remote {
    async fn list(
        &self,
        filter: &EventFilter,
        cursor: Option<&Cursor>,
        limit: usize,
    ) -> Result<EventPage, AdminError> {
        let mut q = filter_query(filter);
        q.push(format!("limit={limit}"));
        if let Some(cursor) = cursor {
            q.push(format!("cursor={}", encode(cursor.as_str())));
        }
        self.call(Method::GET, &format!("/events?{}", q.join("&")), None)
            .await
    }

    async fn inspect(&self, id: StoredId) -> Result<EventDetail, AdminError> {
        self.call(Method::GET, &format!("/events/{id}"), Some(id))
            .await
    }

    async fn replay(&self, id: StoredId, scope: ReplayScope) -> Result<ReplayOutcome, AdminError> {
        let scope = match scope {
            ReplayScope::All => "all",
            _ => "failed",
        };
        let answer: ReplayAnswer = self
            .call(
                Method::POST,
                &format!("/events/{id}/replay?scope={scope}"),
                Some(id),
            )
            .await?;
        Ok(match answer {
            ReplayAnswer { replayed: 1, .. } => ReplayOutcome::Replayed,
            ReplayAnswer { state, .. } => {
                ReplayOutcome::NotDead(state.unwrap_or(EventState::Waiting))
            }
        })
    }

    async fn delete(&self, id: StoredId) -> Result<(), AdminError> {
        let _: serde_json::Value = self
            .call(Method::DELETE, &format!("/events/{id}"), Some(id))
            .await?;
        Ok(())
    }
}
