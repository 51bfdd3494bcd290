use std::convert::Infallible;
use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, SystemTime};

use http::{HeaderMap, HeaderValue, Method, Request, Response, StatusCode, header};
use http_body::Body;
use tower_service::Service;

use super::{ResponseFuture, WebhookServiceBuilder};
use crate::body::{ResponseBody, content_length, read_limited};
use crate::dedup::{DedupKey, MokaStore};
use crate::dispatch::{Dispatcher, EnqueueError, RetryAfter};
use crate::error::{BoxError, Rejection};
use crate::event::{Format, Received};
use crate::store::{Accepted, Incoming, Pending, Store};

/// A user-supplied dedup key function.
pub(crate) type KeyFn<E> = Arc<dyn Fn(&E, &HeaderMap) -> DedupKey + Send + Sync>;

/// `Retry-After` of a 503 for [`Accepted::InFlight`]: short, since the other claim is normally
/// confirmed or given back within a round trip to the store.
const IN_FLIGHT_RETRY_AFTER: Duration = Duration::from_secs(1);

/// The terminal webhook service: content checks, body limit, decoding, dedup, enqueue, 200.
///
/// `Error = Infallible`: every rejection is a response with the JSON error shape. Mount it with
/// axum's `Router::route_service`, or at the bottom of any tower stack, behind a
/// [`VerifyWebhookLayer`](crate::stack::VerifyWebhookLayer). Clones share everything.
///
/// See the [module docs](crate::stack) for the order of checks and an example.
///
/// ```
/// use axum::{Router, body::Body};
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
/// use webhook_receiver::stack::WebhookService;
///
/// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
/// # use webhook_receiver::stack::{Dispatcher, Handlers};
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
pub struct WebhookService<F: Format, St = MokaStore> {
    inner: Arc<Inner<F, St>>,
}

pub(crate) struct Inner<F: Format, St> {
    pub(crate) format: F,
    pub(crate) store: St,
    pub(crate) dispatcher: Dispatcher<F::Event>,
    pub(crate) body_limit: usize,
    pub(crate) retry_after: RetryAfter,
    pub(crate) key_fn: Option<KeyFn<F::Event>>,
    /// The counters of accepted requests, registered when the service was built.
    pub(crate) deliveries: crate::telemetry::DeliveryMetrics,
}

impl<F: Format, St> Clone for WebhookService<F, St> {
    fn clone(&self) -> Self {
        Self {
            inner: Arc::clone(&self.inner),
        }
    }
}

impl<F: Format + fmt::Debug, St: fmt::Debug> fmt::Debug for WebhookService<F, St> {
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

impl<F: Format> WebhookService<F, MokaStore> {
    /// Configures a service decoding with `format` and queueing on `dispatcher`.
    ///
    /// ```
    /// use webhook_receiver::store::DEFAULT_TTL;
    /// use webhook_receiver::stack::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
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

impl<F: Format, St: Store> WebhookService<F, St> {
    pub(crate) fn from_inner(inner: Inner<F, St>) -> Self {
        Self {
            inner: Arc::new(inner),
        }
    }

    /// The store.
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use webhook_receiver::stack::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
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

    /// Runs what the store hands over ([`Store::feed`]): the events an earlier run left are
    /// queued before this returns (before any new request); the feed then goes on handing
    /// events over, one whenever the dispatcher has room, until the dispatcher closes. An event
    /// that no longer decodes is reported to its entry and logged at `error`.
    pub(crate) fn start_feed(&self) {
        let Some(mut rx) = self.inner.store.feed() else {
            return;
        };
        // A store that keeps events in this process hands over, until it has flushed, events
        // accepted before the drain whose request went away mid-commit: the drain waits for
        // them. A shared store's events are left for the other replicas instead.
        let hold = (!self.inner.store.is_shared()).then(|| self.inner.dispatcher.hold());
        let mut replayed = 0usize;
        while let Ok(pending) = rx.try_recv() {
            replayed += 1;
            self.inner.run_pending(pending);
        }
        if replayed > 0 {
            tracing::info!(events = replayed, store = %self.inner.store.location(), "replaying the store's pending webhook events");
        }
        let inner = Arc::clone(&self.inner);
        tokio::spawn(async move {
            loop {
                // One at a time, and only with room: what this replica cannot run yet stays in
                // a shared store for the others.
                let room = tokio::select! {
                    room = inner.dispatcher.wait_for_room() => room,
                    () = inner.dispatcher.closed() => false,
                };
                let pending = if room {
                    tokio::select! {
                        pending = rx.recv() => pending,
                        () = inner.dispatcher.closed() => None,
                    }
                } else {
                    None
                };
                match pending {
                    Some(pending) => inner.run_pending(pending),
                    None => break,
                }
            }
            if let Some(hold) = hold {
                // Closing: every accept sent to the store before now is settled once it has
                // flushed; run what it handed over, then let the drain finish. A store that
                // cannot flush keeps the rest for the next start.
                let flush = inner.store.flush();
                tokio::pin!(flush);
                loop {
                    tokio::select! {
                        flushed = &mut flush => {
                            if let Err(error) = flushed {
                                tracing::error!(%error, store = %inner.store.location(), "the store could not be flushed: what it holds runs at the next start");
                            }
                            break;
                        }
                        Some(pending) = rx.recv() => inner.run_pending(pending),
                    }
                }
                while let Ok(pending) = rx.try_recv() {
                    inner.run_pending(pending);
                }
                drop(hold);
            }
            // Dropping the receiver stops the store's feed (and lets go of the store).
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
    /// use webhook_receiver::stack::{Dispatcher, Handlers};
    /// use webhook_receiver::stack::WebhookService;
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
    /// use webhook_receiver::Format;
    /// use webhook_receiver::stack::WebhookService;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
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
    F: Format,
    St: Store,
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
        // Verified per tenant: the dedup key is scoped by the tenant, and the tenant is kept with
        // the event (a header an inbox stores) for the handlers; a request not verified per
        // tenant cannot name one.
        let tenant = parts.extensions.get::<crate::verify::Tenant>().cloned();
        let mut headers = parts.headers;
        match &tenant {
            Some(tenant) => {
                if let Ok(value) = http::HeaderValue::from_str(tenant.as_str()) {
                    headers.insert(crate::verify::TENANT_HEADER, value);
                }
            }
            None => {
                headers.remove(crate::verify::TENANT_HEADER);
            }
        }
        let inner = Arc::clone(&self.inner);
        ResponseFuture::handling(async move {
            let handled = inner.handle(&headers, tenant.as_ref(), body, received_at);
            Ok(match handled.await {
                Ok(outcome) => outcome.into_response(&inner.deliveries),
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
    fn into_response(
        self,
        deliveries: &crate::telemetry::DeliveryMetrics,
    ) -> Response<ResponseBody> {
        deliveries.accepted(matches!(self, Self::Duplicate));
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

impl<F: Format, St: Store> Inner<F, St> {
    async fn handle<B>(
        &self,
        headers: &HeaderMap,
        tenant: Option<&crate::verify::Tenant>,
        body: B,
        received_at: SystemTime,
    ) -> Result<Outcome, Rejection>
    where
        B: Body,
        B::Error: Into<BoxError>,
    {
        let declared = content_length(headers);
        let bytes = read_limited(body, self.body_limit, declared).await?;
        let (item, key, id) = self.decode(headers, tenant, &bytes)?;
        let span = tracing::Span::current();
        if !span.is_disabled() {
            span.record("event", item.event_name());
            span.record("key", tracing::field::display(key));
        }

        // Order matters for "nothing remembered unless queued": reserve a slot and the body's
        // bytes first (503 if either is spent), then accept, then send on the reserved slot,
        // which cannot fail. There is no await point between a new accept and the send. A
        // shared store bounds its own backlog, and whichever replica's feed takes the event
        // runs it; a slot is offered if one is free (the store may then lease the event to
        // this process as it stores it and answer `New`), and none is no refusal.
        let slot = if self.store.is_shared() {
            if self.dispatcher.is_closing() {
                return Err(Rejection::ShuttingDown {
                    retry_after: self.retry_after.without_backlog(),
                });
            }
            self.dispatcher.try_reserve(bytes.len()).ok()
        } else {
            Some(self.reserve(&item, bytes.len())?)
        };
        let incoming =
            Incoming::arrived(key, &bytes, headers, received_at).with_local_slot(slot.is_some());
        match self.store.accept(incoming).await {
            Ok(Accepted::New(entry)) => {
                tracing::debug!(event = item.event_name(), %key, "webhook accepted");
                match slot {
                    Some(slot) => slot.send(item, key, id, received_at, entry, tenant.cloned()),
                    None => tracing::error!(
                        %key,
                        "a shared store answered New without a local slot: the event runs when its feed hands it over"
                    ),
                }
                Ok(Outcome::Accepted)
            }
            Ok(Accepted::Stored) => {
                tracing::debug!(event = item.event_name(), %key, "webhook accepted and stored");
                Ok(Outcome::Accepted)
            }
            Ok(Accepted::Duplicate) => {
                tracing::debug!(event = item.event_name(), %key, "duplicate webhook acknowledged, not dispatched");
                Ok(Outcome::Duplicate)
            }
            Ok(Accepted::InFlight) => {
                tracing::debug!(event = item.event_name(), %key, "another claim of this webhook is in flight: answering 503");
                Err(Rejection::ClaimInFlight {
                    retry_after: IN_FLIGHT_RETRY_AFTER,
                })
            }
            Err(error) if error.backlog_limit().is_some() => {
                tracing::warn!(%key, %error, "the shared store's backlog is full: answering 503");
                Err(Rejection::Overloaded {
                    retry_after: self.retry_after.without_backlog(),
                })
            }
            Err(error) => {
                tracing::error!(%error, "store failed: answering 503");
                Err(Rejection::StoreUnavailable {
                    retry_after: self.retry_after.without_backlog(),
                    source: error,
                })
            }
        }
    }

    /// Reserves a queue slot and the body's bytes, or says why not (503).
    fn reserve(
        &self,
        item: &Received<F::Event>,
        bytes: usize,
    ) -> Result<crate::dispatch::Slot<'_, F::Event>, Rejection> {
        self.dispatcher.try_reserve(bytes).map_err(|e| match e {
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
        })
    }
}

impl<F: Format, St> Inner<F, St> {
    /// Queues an event the store handed over, decoded again from its kept body and headers.
    fn run_pending(&self, pending: Pending)
    where
        St: Store,
    {
        let Pending {
            request: event,
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
                    store = %self.store.location(),
                    "a stored webhook event no longer decodes"
                );
                entry.undecodable(&rejection.to_string());
            }
        }
    }

    /// Decodes the body; applies the user's key function, then scopes the key by the tenant
    /// the request was verified for, if any. (A stored event keeps the key it was accepted
    /// with: [`run_pending`](Self::run_pending) does not derive it again.)
    fn decode(
        &self,
        headers: &HeaderMap,
        tenant: Option<&crate::verify::Tenant>,
        bytes: &[u8],
    ) -> Result<(Received<F::Event>, DedupKey, Option<Box<str>>), Rejection> {
        let (item, mut key, id) = self.format.decode(headers, bytes)?.into_parts();
        if let (Some(key_fn), Received::Event(event)) = (&self.key_fn, &item) {
            key = key_fn(event, headers);
        }
        if let Some(tenant) = tenant {
            key = key.scoped(tenant.as_str());
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
