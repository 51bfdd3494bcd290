use std::convert::Infallible;
use std::fmt;
use std::task::{Context, Poll};
use std::time::Duration;

use http::{Request, Response};
use http_body::Body;
use tower_service::Service;

use super::WebhooksBuilder;
use crate::body::ResponseBody;
use crate::dedup::MokaStore;
use crate::dispatch::{Dispatcher, DrainTimeout};
use crate::error::BoxError;
use crate::event::Format;
use crate::receiver::WebhookService;
use crate::store::Store;
use crate::verify::{VerifyRequest, VerifyWebhook};

/// A webhook receiver: the verify layer over the receiving service, with its dispatcher.
///
/// Built by [`Webhooks::builder`] (or a provider preset such as
/// [`chirp::webhooks`](crate::chirp::webhooks)) and [`spawn`](WebhooksBuilder::spawn). It is a
/// `tower::Service<http::Request<B>>` with `Error = Infallible` (every rejection is a response in
/// the error shape) and always ready (overload is a 503 per request, never backpressure), so it
/// mounts with axum's `Router::route_service` and wraps into any tower stack. Clones are cheap
/// and share everything.
///
/// Before the process exits, call [`drain`](Self::drain): it stops intake and runs every
/// acknowledged event. If the last clone is dropped while events are still queued or running,
/// that is logged at `error`.
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::chirp::{self, MessageStatus};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), webhook_receiver::BoxError> {
/// let webhooks = chirp::webhooks(["secret-2025", "secret-2024"])?
///     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
///         tracing::info!(message = %status.id, key = %ctx.key(), "delivered");
///     })
///     .spawn();
/// let app: axum::Router = axum::Router::new().route_service("/webhooks/chirp", webhooks.clone());
/// # drop(app);
/// // ... axum::serve(listener, app).with_graceful_shutdown(webhook_receiver::shutdown_signal())
/// webhooks.drain(Duration::from_secs(30)).await?;
/// # Ok(())
/// # }
/// ```
#[must_use]
pub struct Webhooks<F: Format, V, St = MokaStore> {
    service: VerifyWebhook<WebhookService<F, St>, V>,
}

impl<F: Format, V> Webhooks<F, V> {
    /// Configures a receiver that decodes with `format` and authenticates with `verifier`.
    ///
    /// ```
    /// use http::{Request, StatusCode};
    /// use tower::ServiceExt;
    /// use webhook_receiver::{Webhooks, chirp::Chirp, verify::SharedSecret};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// // Chirp, with the secret in a header of your choosing.
    /// let verifier = SharedSecret::with_header("x-chirp-token", ["s3cr3t"]).unwrap();
    /// let webhooks = Webhooks::builder(Chirp, verifier).spawn();
    /// let req = Request::post("/").header("x-chirp-token", "s3cr3t");
    /// let req = req.header("content-type", "application/json").body(delivered.to_owned());
    /// let res = webhooks.clone().oneshot(req.unwrap()).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::OK);
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn builder(format: F, verifier: V) -> WebhooksBuilder<F, V> {
        WebhooksBuilder::new(format, verifier)
    }
}

impl<F: Format, V, St: Store> Webhooks<F, V, St> {
    pub(super) fn from_service(service: VerifyWebhook<WebhookService<F, St>, V>) -> Self {
        Self { service }
    }

    /// Stops taking events (requests are answered 503 with `Retry-After` from now on), runs
    /// the handlers of every event already acknowledged, and resolves when they are all done or
    /// `deadline` has passed.
    ///
    /// With axum, call it after `axum::serve(..).with_graceful_shutdown(..)` returns: the
    /// server has then finished every in-flight request, so every acknowledged event is queued.
    ///
    /// ```
    /// use std::time::Duration;
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp::{self, MessageStatus};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel::<String>();
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap()
    ///     .state(tx)
    ///     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
    ///         ctx.state().send(status.id).unwrap();
    ///     })
    ///     .spawn();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// webhooks.drain(Duration::from_secs(30)).await.unwrap();
    /// assert_eq!(rx.try_recv().unwrap(), "msg_1"); // the acknowledged event was handled
    /// let res = webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::SERVICE_UNAVAILABLE); // and no new ones are taken
    /// # }
    /// ```
    ///
    /// # Errors
    ///
    /// [`DrainTimeout`] if anything was left at the deadline: every event still queued and every
    /// retry still waiting has then been logged at `error` and given to the dead-letter hook
    /// (reason `shutdown`); handlers still running keep running in the background as long as the
    /// runtime does.
    pub async fn drain(&self, deadline: Duration) -> Result<(), DrainTimeout> {
        let dispatcher = self.dispatcher();
        tracing::info!(
            queued = dispatcher.queued(),
            retrying = dispatcher.retrying(),
            running = dispatcher.running(),
            "draining accepted webhook events"
        );
        let drained = dispatcher.drain(deadline).await;
        // What the handlers recorded is made durable before the process exits.
        let store = self.store();
        if let Err(error) = store.flush().await {
            tracing::error!(%error, store = %store.location(), "the store could not be flushed");
        }
        drained?;
        tracing::info!("every accepted webhook event was handled or dead-lettered");
        Ok(())
    }

    /// The dispatcher: its queue, and the low-level [`Dispatcher::drain`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let webhooks = webhook_receiver::chirp::webhooks(["s3cr3t"]).unwrap().spawn();
    /// let d = webhooks.dispatcher();
    /// assert_eq!((d.queued(), d.running(), d.is_closing()), (0, 0, false));
    /// assert_eq!(webhooks.store().len(), 0); // the default moka store
    /// # }
    /// ```
    pub fn dispatcher(&self) -> &Dispatcher<F::Event> {
        self.service.get_ref().dispatcher()
    }

    /// The store, as given to [`WebhooksBuilder::store`] (a [`MokaStore`](crate::store::MokaStore)
    /// by default).
    ///
    /// ```
    /// use tower::ServiceExt;
    /// use webhook_receiver::chirp;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # // A Chirp delivery, authenticated with the secret `s3cr3t`.
    /// # let post = |body: &str| http::Request::post("/").header("x-webhook-secret", "s3cr3t").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// # let delivered = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap().spawn();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap();
    /// webhooks.clone().oneshot(post(delivered)).await.unwrap(); // a duplicate
    /// assert_eq!(webhooks.store().len(), 1);
    /// # webhooks.drain(std::time::Duration::from_secs(5)).await.unwrap();
    /// # }
    /// ```
    pub fn store(&self) -> &St {
        self.service.get_ref().store()
    }

    /// The verifier.
    ///
    /// ```
    /// use webhook_receiver::chirp;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let webhooks = chirp::webhooks(["secret-2025", "secret-2024"]).unwrap().spawn();
    /// assert_eq!(webhooks.verifier().secret_count(), 2);
    /// assert_eq!(webhooks.verifier().header_name(), "x-webhook-secret");
    /// # }
    /// ```
    pub fn verifier(&self) -> &V {
        self.service.verifier()
    }

    /// The stack inside: the verify layer over the receiving service.
    ///
    /// ```
    /// use webhook_receiver::chirp;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let webhooks = chirp::webhooks(["s3cr3t"]).unwrap().body_limit(256 * 1024).spawn();
    /// let stack = webhooks.as_service();
    /// assert_eq!(stack.body_limit(), 256 * 1024); // the verify layer's limit, also the receiver's
    /// assert!(stack.get_ref().store().is_empty()); // the receiving service
    /// # }
    /// ```
    pub fn as_service(&self) -> &VerifyWebhook<WebhookService<F, St>, V> {
        &self.service
    }
}

#[cfg(feature = "axum")]
impl<F, V, St> Webhooks<F, V, St>
where
    F: Format,
    V: VerifyRequest<axum::body::Body>,
    St: Store,
{
    /// An axum router that serves this receiver on `path` (feature `axum`), to
    /// [`merge`](axum::Router::merge) or [`nest`](axum::Router::nest) into your own.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let webhooks = webhook_receiver::chirp::webhooks(["s3cr3t"]).unwrap().spawn();
    /// let app: axum::Router = axum::Router::new().merge(webhooks.router("/webhooks/chirp"));
    /// # drop(app);
    /// # }
    /// ```
    ///
    /// # Panics
    ///
    /// If `path` is not a valid axum route (it must start with `/`).
    pub fn router<S: Clone + Send + Sync + 'static>(&self, path: &str) -> axum::Router<S> {
        axum::Router::new().route_service(path, self.clone())
    }
}

impl<F: Format, V, St> Clone for Webhooks<F, V, St> {
    fn clone(&self) -> Self {
        Self {
            service: self.service.clone(),
        }
    }
}

impl<F, V, St> fmt::Debug for Webhooks<F, V, St>
where
    F: Format + fmt::Debug,
    V: fmt::Debug,
    St: fmt::Debug,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Webhooks")
            .field("service", &self.service)
            .finish()
    }
}

impl<F, V, St, B> Service<Request<B>> for Webhooks<F, V, St>
where
    F: Format,
    V: VerifyRequest<B>,
    St: Store,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Response = Response<ResponseBody>;
    type Error = Infallible;
    type Future = super::ResponseFuture<F, V, St, B>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Always ready: the receiver answers overload with 503 per request.
        <VerifyWebhook<WebhookService<F, St>, V> as Service<Request<B>>>::poll_ready(
            &mut self.service,
            cx,
        )
    }

    fn call(&mut self, request: Request<B>) -> Self::Future {
        super::ResponseFuture::new(self.service.call(request))
    }
}
