use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use super::{ResponseFuture, VerifyRequest, VerifyWebhookLayer};

/// Middleware that authenticates webhook requests with a [`VerifyRequest`] scheme before calling
/// the inner service; rejected requests are answered with the JSON error shape.
///
/// The error type is the inner service's: rejections are responses, never errors, so the
/// connection is not torn down. See the [module docs](crate::verify) for an example.
///
/// ```
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
/// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhook;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use bytes::Bytes;
/// # use http_body_util::Full;
/// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
/// # });
/// let svc = VerifyWebhook::new(inner, SharedSecret::new(["s3cr3t"]).unwrap());
/// let req = Request::post("/").header("x-webhook-secret", "s3cr3t");
/// let res = svc.oneshot(req.body(Full::<Bytes>::default()).unwrap()).await.unwrap();
/// assert_eq!(res.status(), StatusCode::OK);
/// # }
/// ```
pub struct VerifyWebhook<S, V> {
    inner: S,
    verifier: Arc<V>,
    body_limit: usize,
}

impl<S, V> VerifyWebhook<S, V> {
    /// Wraps `inner`, verifying with `verifier` (signed bodies read up to 1 MiB).
    ///
    /// ```
    /// use http::{Request, StatusCode};
    /// use tower::ServiceExt;
    /// use webhook_receiver::stack::DEFAULT_BODY_LIMIT;
    /// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhook;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    /// let svc = VerifyWebhook::new(inner, SharedSecret::new(["s3cr3t"]).unwrap());
    /// assert_eq!(svc.body_limit(), DEFAULT_BODY_LIMIT);
    /// let req = Request::post("/").body(Full::<Bytes>::default()).unwrap(); // no secret
    /// let res = svc.oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    /// # }
    /// ```
    pub fn new(inner: S, verifier: V) -> Self {
        Self::from_parts(inner, Arc::new(verifier), crate::body::DEFAULT_BODY_LIMIT)
    }

    pub(crate) fn from_parts(inner: S, verifier: Arc<V>, body_limit: usize) -> Self {
        Self {
            inner,
            verifier,
            body_limit,
        }
    }

    /// Wraps `inner`, verifying with `verifier`; signed bodies are read up to `body_limit`.
    ///
    /// ```
    /// use webhook_receiver::verify::{HmacSha256}; use webhook_receiver::stack::VerifyWebhook;
    ///
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    ///
    /// let scheme = HmacSha256::new(["s3cr3t"]).unwrap();
    /// let svc = VerifyWebhook::with_body_limit(inner, scheme, 64 * 1024);
    /// assert_eq!(svc.body_limit(), 64 * 1024);
    /// ```
    pub fn with_body_limit(inner: S, verifier: V, body_limit: usize) -> Self {
        Self::from_parts(inner, Arc::new(verifier), body_limit)
    }

    /// A [`VerifyWebhookLayer`] for `verifier`.
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhook;
    ///
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    ///
    /// // `S` is not inferred from the arguments: name it (any type will do), or call
    /// // `VerifyWebhookLayer::new`.
    /// let layer = VerifyWebhook::<(), _>::layer(SharedSecret::new(["s3cr3t"]).unwrap());
    /// let svc = ServiceBuilder::new().layer(layer).service(inner);
    /// assert_eq!(svc.verifier().secret_count(), 1);
    /// ```
    pub fn layer(verifier: V) -> VerifyWebhookLayer<V> {
        VerifyWebhookLayer::new(verifier)
    }

    /// The verifier.
    ///
    /// ```
    /// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhook;
    ///
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    ///
    /// let scheme = SharedSecret::with_header("x-token", ["s3cr3t"]).unwrap();
    /// let svc = VerifyWebhook::new(inner, scheme);
    /// assert_eq!(svc.verifier().header_name(), "x-token");
    /// ```
    pub fn verifier(&self) -> &V {
        &self.verifier
    }

    /// The largest body a signature scheme buffers.
    ///
    /// ```
    /// use webhook_receiver::verify::{StandardWebhooks}; use webhook_receiver::stack::VerifyWebhook;
    ///
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    ///
    /// let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
    /// let svc = VerifyWebhook::with_body_limit(inner, scheme, 256 * 1024);
    /// assert_eq!(svc.body_limit(), 256 * 1024);
    /// ```
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The inner service.
    ///
    /// ```
    /// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhook;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
    /// # use webhook_receiver::stack::WebhookService;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// # let receiver = WebhookService::builder(Chirp, dispatcher).build();
    /// let svc = VerifyWebhook::new(receiver, SharedSecret::new(["s3cr3t"]).unwrap());
    /// assert!(svc.get_ref().store().is_empty()); // the receiver's dedup store
    /// # }
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use http::StatusCode;
    /// use tower::ServiceExt;
    /// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhook;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
    /// # use webhook_receiver::stack::WebhookService;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// # let receiver = WebhookService::builder(Chirp, dispatcher).build();
    /// # let body = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
    /// # let unsigned = http::Request::post("/").header("content-type", "application/json").body(body.to_owned()).unwrap();
    /// let mut svc = VerifyWebhook::new(receiver, SharedSecret::new(["s3cr3t"]).unwrap());
    /// // A request sent to the inner service directly is not verified.
    /// let res = svc.get_mut().oneshot(unsigned).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::OK);
    /// # }
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    ///
    /// ```
    /// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhook;
    ///
    /// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
    /// # use webhook_receiver::stack::{Dispatcher, Handlers};
    /// # use webhook_receiver::stack::WebhookService;
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
    /// # let receiver = WebhookService::builder(Chirp, dispatcher).build();
    /// let svc = VerifyWebhook::new(receiver, SharedSecret::new(["s3cr3t"]).unwrap());
    /// let receiver = svc.into_inner(); // the `WebhookService`, without the verification
    /// assert!(receiver.store().is_empty());
    /// # }
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Clone, V> Clone for VerifyWebhook<S, V> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            verifier: Arc::clone(&self.verifier),
            body_limit: self.body_limit,
        }
    }
}

impl<S: fmt::Debug, V: fmt::Debug> fmt::Debug for VerifyWebhook<S, V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyWebhook")
            .field("inner", &self.inner)
            .field("verifier", &self.verifier)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl<S, V, ReqBody, ResBody> Service<Request<ReqBody>> for VerifyWebhook<S, V>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>> + Clone,
    V: VerifyRequest<ReqBody>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S, V::Future, ReqBody>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        // Take the service that was made ready and leave a clone in its place
        // (tower-service docs, "Be careful when cloning inner services").
        let clone = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, clone);
        let span = crate::telemetry::delivery_span();
        let verifying = {
            let _entered = (!span.is_disabled()).then(|| span.enter());
            Arc::clone(&self.verifier).verify(req, self.body_limit)
        };
        ResponseFuture::new(verifying, inner, span)
    }
}
