use std::fmt;
use std::sync::Arc;

use tower_layer::Layer;

use super::VerifyWebhook;

use crate::body::DEFAULT_BODY_LIMIT;

/// Layer that applies [`VerifyWebhook`]: authenticates every request with the verifier `V`.
///
/// See the [module docs](crate::verify) for an example.
///
/// ```
/// use http::{Request, StatusCode};
/// use tower::{ServiceBuilder, ServiceExt};
/// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhookLayer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use bytes::Bytes;
/// # use http_body_util::Full;
/// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
/// # });
/// let layer = VerifyWebhookLayer::new(SharedSecret::new(["s3cr3t"]).unwrap());
/// let svc = ServiceBuilder::new().layer(layer).service(inner);
/// let req = Request::post("/").header("x-webhook-secret", "wrong");
/// let res = svc.oneshot(req.body(Full::<Bytes>::default()).unwrap()).await.unwrap();
/// assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
/// # }
/// ```
pub struct VerifyWebhookLayer<V> {
    verifier: Arc<V>,
    body_limit: usize,
}

impl<V> VerifyWebhookLayer<V> {
    /// Verifies with `verifier`; signed bodies are read up to 1 MiB
    /// ([`DEFAULT_BODY_LIMIT`](crate::stack::DEFAULT_BODY_LIMIT)).
    ///
    /// ```
    /// use tower::Layer;
    /// use webhook_receiver::stack::DEFAULT_BODY_LIMIT;
    /// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhookLayer;
    ///
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    ///
    /// let layer = VerifyWebhookLayer::new(SharedSecret::new(["s3cr3t"]).unwrap());
    /// let svc = layer.layer(inner);
    /// assert_eq!(svc.body_limit(), DEFAULT_BODY_LIMIT);
    /// ```
    pub fn new(verifier: V) -> Self {
        Self {
            verifier: Arc::new(verifier),
            body_limit: DEFAULT_BODY_LIMIT,
        }
    }

    /// Sets the largest body a signature scheme will buffer (413 past it). Header-only schemes
    /// such as [`SharedSecret`](super::SharedSecret) never read the body.
    ///
    /// ```
    /// use http::{Request, StatusCode};
    /// use tower::{Layer, ServiceExt};
    /// use webhook_receiver::verify::{HmacSha256}; use webhook_receiver::stack::VerifyWebhookLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    /// let layer = VerifyWebhookLayer::new(HmacSha256::new(["s3cr3t"]).unwrap()).body_limit(16);
    /// let req = Request::post("/").header("x-webhook-signature", "00".repeat(32));
    /// let req = req.body(Full::from("more than sixteen bytes")).unwrap();
    /// let res = layer.layer(inner).oneshot(req).await.unwrap();
    /// assert_eq!(res.status(), StatusCode::PAYLOAD_TOO_LARGE);
    /// # }
    /// ```
    #[must_use]
    pub fn body_limit(mut self, limit: usize) -> Self {
        self.body_limit = limit;
        self
    }

    /// The verifier.
    ///
    /// ```
    /// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhookLayer;
    ///
    /// let secrets = SharedSecret::new(["secret-2025", "secret-2024"]).unwrap();
    /// let layer = VerifyWebhookLayer::new(secrets);
    /// assert_eq!(layer.verifier().secret_count(), 2);
    /// ```
    pub fn verifier(&self) -> &V {
        &self.verifier
    }
}

impl<V> Clone for VerifyWebhookLayer<V> {
    fn clone(&self) -> Self {
        Self {
            verifier: Arc::clone(&self.verifier),
            body_limit: self.body_limit,
        }
    }
}

impl<V: fmt::Debug> fmt::Debug for VerifyWebhookLayer<V> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VerifyWebhookLayer")
            .field("verifier", &self.verifier)
            .field("body_limit", &self.body_limit)
            .finish()
    }
}

impl<S, V> Layer<S> for VerifyWebhookLayer<V> {
    type Service = VerifyWebhook<S, V>;

    fn layer(&self, inner: S) -> Self::Service {
        VerifyWebhook::from_parts(inner, Arc::clone(&self.verifier), self.body_limit)
    }
}
