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
pub struct VerifyWebhook<S, V> {
    inner: S,
    verifier: Arc<V>,
    body_limit: usize,
}

impl<S, V> VerifyWebhook<S, V> {
    /// Wraps `inner`, verifying with `verifier` (signed bodies read up to 1 MiB).
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
    pub fn with_body_limit(inner: S, verifier: V, body_limit: usize) -> Self {
        Self::from_parts(inner, Arc::new(verifier), body_limit)
    }

    /// A [`VerifyWebhookLayer`] for `verifier`.
    pub fn layer(verifier: V) -> VerifyWebhookLayer<V> {
        VerifyWebhookLayer::new(verifier)
    }

    /// The verifier.
    pub fn verifier(&self) -> &V {
        &self.verifier
    }

    /// The largest body a signature scheme buffers.
    pub fn body_limit(&self) -> usize {
        self.body_limit
    }

    /// The inner service.
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
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
