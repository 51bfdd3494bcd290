use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use tower_service::Service;

use super::settings::KeyFn;
use super::{ResponseFuture, WebhookServiceBuilder};
use crate::body::{ResponseBody, content_length, read_limited};
use crate::dedup::DedupKey;
use crate::dedup::{Claim, DedupStore, MokaStore};
use crate::dispatch::{Dispatcher, EnqueueError, RetryAfter};
use crate::error::{BoxError, Rejection};
use crate::event::{DecodeEvent, Received};

/// `Retry-After` of a 503 for [`Claim::InFlight`]: short, since the other claim is normally
/// confirmed or given back within a round trip to the store.
const IN_FLIGHT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The terminal webhook service: content checks, body limit, decoding, dedup, enqueue, 200.
///
/// `Error = Infallible`: every rejection is a response with the JSON error shape. Mount it with
/// axum's `Router::route_service`, or at the bottom of any tower stack, behind a
/// [`VerifyWebhookLayer`](crate::verify::VerifyWebhookLayer). Clones share everything.
///
/// See the [module docs](crate::receiver) for the order of checks and an example.
///
/// ```
/// use axum::{Router, body::Body};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
/// use webhook_receiver::receiver::WebhookService;
///
/// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
/// # use webhook_receiver::dispatch::{Dispatcher, Handlers};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
/// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
/// let svc = WebhookService::builder(Chirp, dispatcher).build();
/// let app = Router::new().route_service("/webhooks", svc);
/// let req = Request::post("/webhooks").header("content-type", "application/json");
/// let res = app.oneshot(req.body(Body::from(delivered)).unwrap()).await.unwrap();
/// assert_eq!(res.status(), StatusCode::OK);
/// # }
/// ```
pub struct WebhookService<F: DecodeEvent, St = MokaStore> {
    inner: Arc<Inner<F, St>>,
}

pub(crate) struct Inner<F: DecodeEvent, St> {
    pub(crate) format: F,
    pub(crate) store: St,
    pub(crate) dispatcher: Dispatcher<F::Event>,
    pub(crate) body_limit: usize,
    pub(crate) retry_after: RetryAfter,
    pub(crate) key_fn: Option<KeyFn<F::Event>>,
    /// With a durable inbox, the key and the raw event are committed there, and `store` is not
    /// used.
    #[cfg(feature = "inbox")]
    pub(crate) inbox: Option<std::sync::Arc<dyn crate::inbox::Inbox>>,
}

impl<F: DecodeEvent, St> Clone for WebhookService<F, St> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F: DecodeEvent + fmt::Debug, St: fmt::Debug> fmt::Debug for WebhookService<F, St> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("WebhookService")
            .field("format", &self.inner.format)
            .field("store", &self.inner.store)
            .field("dispatcher", &self.inner.dispatcher)
            .field("body_limit", &self.inner.body_limit)
            .field("retry_after", &self.inner.retry_after)
            .finish_non_exhaustive()
    }
}

impl<F: DecodeEvent> WebhookService<F, MokaStore> {
    /// Configures a service decoding with `format` and queueing on `dispatcher`.
    ///
    /// ```
    /// use webhook_receiver::dedup::DEFAULT_TTL;
    /// use webhook_receiver::receiver::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::dispatch::{Dispatcher, Handlers};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// let svc = WebhookService::builder(Chirp, dispatcher).build();
    /// assert_eq!(svc.store().ttl(), DEFAULT_TTL); // the default store, with the default settings
    /// # }
    /// ```
    pub fn builder(
        format: F,
        dispatcher: Dispatcher<F::Event>,
    ) -> WebhookServiceBuilder<F, MokaStore> {
        WebhookServiceBuilder::new(format, dispatcher)
    }
}

impl<F: DecodeEvent, St: DedupStore> WebhookService<F, St> {
    pub(crate) fn from_inner(inner: Inner<F, St>) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The dedup store (not used when the receiver has a durable inbox: the inbox deduplicates).
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use webhook_receiver::receiver::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::dispatch::{Dispatcher, Handlers};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// # let post = |body: &str| http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let svc = WebhookService::builder(Chirp, dispatcher).build();
    /// svc.clone().oneshot(post(delivered)).await.unwrap();
    /// svc.clone().oneshot(post(delivered)).await.unwrap(); // a duplicate
    /// assert_eq!(svc.store().len(), 1);
    /// # }
    /// ```
    pub fn store(&self) -> &St {
        &self.inner.store
    }

    /// The inbox, if the receiver has one.
    #[cfg(feature = "inbox")]
    pub(crate) fn inbox(&self) -> Option<&dyn crate::inbox::Inbox> {
        self.inner.inbox.as_deref()
    }

    /// Runs what the inbox hands over: the events an earlier run left are queued before this
    /// returns (before any new request); a shared inbox's consumer then goes on handing events
    /// over, one whenever the dispatcher has room, until the dispatcher closes. An event that
    /// no longer decodes stays in the inbox and is logged at `error`.
    #[cfg(feature = "inbox")]
    pub(crate) fn start_inbox_feed(&self) {
        let Some(inbox) = &self.inner.inbox else {
            return;
        };
        let stop = tokio_util::sync::CancellationToken::new();
        let mut rx = inbox.feed(stop.clone());
        let mut replayed = 0usize;
        loop {
            match rx.try_recv() {
                Ok(pending) => {
                    replayed += 1;
                    self.inner.run_pending(pending);
                }
                Err(tokio::sync::mpsc::error::TryRecvError::Empty) => break,
                Err(tokio::sync::mpsc::error::TryRecvError::Disconnected) => {
                    if replayed > 0 {
                        tracing::info!(events = replayed, inbox = %inbox.location(), "replayed the inbox's pending webhook events");
                    }
                    return;
                }
            }
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            let _stop = stop.drop_guard();
            loop {
                // One at a time, and only with room: what this replica cannot run yet stays in
                // the shared inbox for the others.
                if !inner.dispatcher.wait_for_room().await {
                    return;
                }
                let Some(pending) = rx.recv().await else {
                    return;
                };
                inner.run_pending(pending);
            }
        });
    }

    /// The dispatcher (for [`drain`](Dispatcher::drain)).
    ///
    /// ```
    /// use std::sync::Arc;
    /// use std::sync::atomic::{AtomicUsize, Ordering};
    /// use std::time::Duration;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp::{self, Chirp, MessageStatus};
    /// use webhook_receiver::dispatch::{Dispatcher, Handlers};
    /// use webhook_receiver::receiver::WebhookService;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let post = |body: &str| http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let handled = Arc::new(AtomicUsize::new(0));
    /// let handlers = Handlers::with_state(Arc::clone(&handled))
    ///     .on(chirp::SMS_DELIVERED, |_: MessageStatus, ctx| async move {
    ///         ctx.state().fetch_add(1, Ordering::Relaxed);
    ///     });
    /// let svc = WebhookService::builder(Chirp, Dispatcher::builder(handlers).spawn()).build();
    /// svc.clone().oneshot(post(delivered)).await.unwrap();
    /// svc.dispatcher().drain(Duration::from_secs(5)).await.unwrap(); // runs what was accepted
    /// assert_eq!(handled.load(Ordering::Relaxed), 1);
    /// # }
    /// ```
    pub fn dispatcher(&self) -> &Dispatcher<F::Event> {
        &self.inner.dispatcher
    }

    /// The format.
    ///
    /// ```
    /// use webhook_receiver::DecodeEvent;
    /// use webhook_receiver::receiver::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::dispatch::{Dispatcher, Handlers};
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let svc = WebhookService::builder(Chirp, dispatcher).build();
    /// let decoded = svc.format().decode(&http::HeaderMap::new(), delivered.as_bytes()).unwrap();
    /// assert_eq!(decoded.event_name(), "messages.sms.delivered");
    /// # }
    /// ```
    pub fn format(&self) -> &F {
        &self.inner.format
    }
}

impl<F, St, B> Service<Request<B>> for WebhookService<F, St>
where
    F: DecodeEvent,
    St: DedupStore,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = ResponseFuture;

    fn poll_ready(&mut self, _cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        // Always ready: overload is answered 503 per request, never by backpressure.
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, req: Request<B>) -> Self::Future {
        let received_at = SystemTime::now();
        if let Err(rejection) = check_head(&req) {
            return ResponseFuture::ready(reject(rejection));
        }
        // Only the headers and the body go into the future, which is allocated per request:
        // with the whole request it took 1.2 KB, and glibc's malloc is slower from 1 KB up.
        let (parts, body) = req.into_parts();
        let span = tracing::Span::current();
        if !span.is_disabled() {
            if let Some(verified) = parts.extensions.get::<crate::verify::Verified>() {
                span.record("secret", verified.secret_index());
            }
        }
        let headers = parts.headers;
        let inner = Arc::clone(&self.inner);
        ResponseFuture::handling(async move {
            Ok(match inner.handle(&headers, body, received_at).await {
                Ok(outcome) => outcome.into_response(),
                Err(rejection) => reject(rejection),
            })
        })
    }
}

fn reject(rejection: Rejection) -> Response<ResponseBody> {
    tracing::debug!(status = %rejection.status(), reason = %rejection, "webhook rejected");
    crate::telemetry::rejected(&rejection);
    rejection.into_response()
}

/// What happened to an accepted request.
enum Outcome {
    Accepted,
    Duplicate,
}

impl Outcome {
    fn into_response(self) -> Response<ResponseBody> {
        crate::telemetry::accepted(matches!(self, Self::Duplicate));
        let body: &'static [u8] = match self {
            Self::Accepted => br#"{"received":true}"#,
            Self::Duplicate => br#"{"received":true,"duplicate":true}"#,
        };
        let mut res = Response::new(ResponseBody::from_static(body));
        *res.status_mut() = StatusCode::OK;
        res.headers_mut().insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        );
        res
    }
}

impl<F: DecodeEvent, St: DedupStore> Inner<F, St> {
    async fn handle<B>(
        &self,
        headers: &HeaderMap,
        body: B,
        received_at: SystemTime,
    ) -> Result<Outcome, Rejection>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let declared = content_length(headers);
        let bytes = read_limited(body, self.body_limit, declared).await?;
        let (item, key, id) = self.decode(headers, &bytes)?;
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("event", item.event_name());
            span.record("key", tracing::field::display(key));
        }

        // A shared inbox (Redis) bounds its own backlog, and whichever replica's consumer takes
        // the event runs it: no local slot.
        #[cfg(feature = "inbox")]
        if let Some(inbox) = self.inbox.as_ref().filter(|inbox| inbox.is_shared()) {
            if self.dispatcher.is_closing() {
                return Err(Rejection::ShuttingDown {
                    retry_after: self.retry_after.without_backlog(),
                });
            }
            let decoded = (item, key, id);
            return accept_in_inbox(
                inbox,
                None,
                headers,
                bytes,
                decoded,
                received_at,
                self.retry_after.without_backlog(),
            )
            .await;
        }

        // Order matters for "nothing remembered unless queued": reserve a slot and the body's
        // bytes first (503 if either is spent), then claim the key, then send on the reserved
        // slot, which cannot fail. There is no await point between a successful claim and the
        // send.
        let slot = self
            .dispatcher
            .try_reserve(bytes.len())
            .map_err(|e| match e {
                EnqueueError::Full => {
                    let retry_after = self
                        .retry_after
                        .when_full(|max| self.dispatcher.retry_after_when_full(max));
                    tracing::warn!(
                        event = item.event_name(),
                        retry_after_secs = retry_after.as_secs(),
                        "webhook queue full: answering 503"
                    );
                    Rejection::Overloaded { retry_after }
                }
                EnqueueError::Closed => Rejection::ShuttingDown {
                    retry_after: self.retry_after.without_backlog(),
                },
            })?;
        #[cfg(feature = "inbox")]
        if let Some(inbox) = &self.inbox {
            let decoded = (item, key, id);
            return accept_in_inbox(
                inbox,
                Some(slot),
                headers,
                bytes,
                decoded,
                received_at,
                self.retry_after.without_backlog(),
            )
            .await;
        }
        // Only what the claim needs lives across its await (not the body's bytes).
        drop(bytes);
        match self.store.claim(key).await {
            Ok(Claim::New) => {
                tracing::debug!(event = item.event_name(), %key, "webhook accepted");
                slot.send(item, key, id, received_at);
                Ok(Outcome::Accepted)
            }
            Ok(Claim::Duplicate) => {
                tracing::debug!(event = item.event_name(), %key, "duplicate webhook acknowledged, not dispatched");
                Ok(Outcome::Duplicate)
            }
            Ok(Claim::InFlight) => {
                tracing::debug!(event = item.event_name(), %key, "another claim of this webhook is in flight: answering 503");
                Err(Rejection::ClaimInFlight {
                    retry_after: IN_FLIGHT_RETRY_AFTER,
                })
            }
            Err(error) => {
                tracing::error!(%error, "dedup store failed: answering 503");
                Err(Rejection::StoreUnavailable {
                    retry_after: self.retry_after.without_backlog(),
                    source: error,
                })
            }
        }
    }
}

/// Claims the key and stores the raw event in the inbox (one atomic, durable step), then, for a
/// local inbox, sends the event on its reserved slot.
///
/// For a local inbox both happen in a task of their own, which the request only waits for: a
/// request dropped while the commit is in flight (the client went away) must not leave the
/// event stored and claimed but not queued, where only the next start would run it.
#[cfg(feature = "inbox")]
async fn accept_in_inbox<E: crate::event::Event>(
    inbox: &std::sync::Arc<dyn crate::inbox::Inbox>,
    slot: Option<crate::dispatch::Slot<'_, E>>,
    headers: &HeaderMap,
    body: bytes::Bytes,
    (item, key, id): (Received<E>, DedupKey, Option<Box<str>>),
    received_at: SystemTime,
    retry_after: std::time::Duration,
) -> Result<Outcome, Rejection> {
    use crate::inbox::Accepted;
    let event = crate::inbox::NewEvent {
        key,
        body,
        headers: stored_headers(headers),
        received_at,
    };
    let accept = inbox.accept(event);
    let outcome = match slot.map(crate::dispatch::Slot::into_owned) {
        // A shared inbox: nothing is queued here, so a request dropped mid-accept leaves nothing
        // half done (the accept is one atomic step: the event is in the shared inbox or not).
        None => accept
            .await
            .map(|accepted| !matches!(accepted, Accepted::Duplicate)),
        Some(slot) => {
            let accepted = tokio::spawn(async move {
                match accept.await? {
                    Accepted::Local(entry) => {
                        slot.send_persisted(item, key, id, received_at, entry);
                        Ok(true)
                    }
                    Accepted::Shared => Ok(true),
                    Accepted::Duplicate => Ok(false),
                }
            });
            match accepted.await {
                Ok(outcome) => outcome,
                // The runtime is shutting down: the event may or may not be stored; either way
                // the sender gets no 200 and retries.
                Err(join) => Err(crate::inbox::InboxError::Closed).inspect_err(|_| {
                    tracing::error!(error = %join, "inbox commit task did not finish");
                }),
            }
        }
    };
    match outcome {
        Ok(true) => {
            tracing::debug!(%key, "webhook accepted and stored");
            Ok(Outcome::Accepted)
        }
        Ok(false) => {
            tracing::debug!(%key, "duplicate webhook acknowledged, not dispatched");
            Ok(Outcome::Duplicate)
        }
        Err(crate::inbox::InboxError::Backlog { .. }) => {
            tracing::warn!(%key, "the shared inbox's backlog is full: answering 503");
            Err(Rejection::Overloaded { retry_after })
        }
        Err(error) => {
            tracing::error!(%error, "inbox failed: answering 503");
            Err(Rejection::StoreUnavailable {
                retry_after,
                source: crate::error::StoreError::new(error),
            })
        }
    }
}

/// The headers kept with a stored event, for decoding it again: all but credentials
/// (`Authorization`, `Proxy-Authorization`, `Cookie`, and values marked sensitive, as the
/// shared-secret verifier marks its header).
#[cfg(feature = "inbox")]
fn stored_headers(headers: &HeaderMap) -> Vec<(http::HeaderName, HeaderValue)> {
    headers
        .iter()
        .filter(|(name, value)| {
            !value.is_sensitive()
                && *name != header::AUTHORIZATION
                && *name != header::PROXY_AUTHORIZATION
                && *name != header::COOKIE
        })
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect()
}

impl<F: DecodeEvent, St> Inner<F, St> {
    /// Decodes the body; applies the user's key function.
    /// Queues an event the inbox handed over, decoded again from its stored body and headers.
    #[cfg(feature = "inbox")]
    fn run_pending(&self, pending: crate::inbox::Pending) {
        let crate::inbox::Pending {
            event,
            entry,
            replayed,
        } = pending;
        match self.format.decode(&event.headers, &event.body) {
            Ok(decoded) => {
                let (item, _, id) = decoded.into_parts();
                self.dispatcher.replay(&event, entry, replayed, item, id);
            }
            Err(rejection) => {
                tracing::error!(
                    key = %event.key,
                    error = %rejection,
                    inbox = %self.inbox.as_ref().map(|i| i.location()).unwrap_or_default(),
                    "a stored webhook event no longer decodes"
                );
                entry.undecodable(&rejection.to_string());
            }
        }
    }

    fn decode(
        &self,
        headers: &HeaderMap,
        bytes: &[u8],
    ) -> Result<(Received<F::Event>, DedupKey, Option<Box<str>>), Rejection> {
        let (item, mut key, id) = self.format.decode(headers, bytes)?.into_parts();
        if let (Some(key_fn), Received::Event(event)) = (&self.key_fn, &item) {
            key = key_fn(event, headers);
        }
        Ok((item, key, id))
    }
}

/// The method must be POST, the content type JSON.
fn check_head<B>(req: &Request<B>) -> Result<(), Rejection> {
    if req.method() != Method::POST {
        return Err(Rejection::MethodNotAllowed(req.method().clone()));
    }
    check_content_type(req.headers())
}

/// `application/json` and `application/*+json` (parameters such as `charset` allowed) are JSON.
fn check_content_type(headers: &HeaderMap) -> Result<(), Rejection> {
    let Some(value) = headers.get(header::CONTENT_TYPE) else {
        return Err(Rejection::UnsupportedMediaType { found: None });
    };
    let raw = value.to_str().unwrap_or("");
    let essence = raw.split(';').next().unwrap_or("").trim();
    let is_json = essence.split_once('/').is_some_and(|(ty, sub)| {
        ty.eq_ignore_ascii_case("application")
            && (sub.eq_ignore_ascii_case("json")
                || (sub.len() > 5 && sub[sub.len() - 5..].eq_ignore_ascii_case("+json")))
    });
    if is_json {
        Ok(())
    } else {
        Err(Rejection::UnsupportedMediaType {
            found: Some(value.clone()),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ct(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::CONTENT_TYPE, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn json_content_types() {
        for ok in [
            "application/json",
            "Application/JSON",
            "application/json; charset=utf-8",
            "application/cloudevents+json",
            "application/vnd.chirp+json;v=1",
        ] {
            assert!(check_content_type(&ct(ok)).is_ok(), "{ok}");
        }
        for bad in [
            "text/plain",
            "application/x-www-form-urlencoded",
            "application/jsonx",
            "application/+json",
            "json",
            "text/json",
            "",
        ] {
            assert!(check_content_type(&ct(bad)).is_err(), "{bad}");
        }
        assert!(check_content_type(&HeaderMap::new()).is_err());
    }
}
