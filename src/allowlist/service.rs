use std::fmt;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::{Request, Response};
use tower_service::Service;

use super::rules::Rules;
use super::{IpAllowlistLayer, ResponseFuture};
use crate::error::Rejection;

/// Middleware that answers 403 to clients outside the allowed networks, before calling the inner
/// service. See the [module docs](crate::allowlist) for how the client's address is found.
///
/// The error type is the inner service's: a refusal is a response, never an error.
///
/// ```
/// use std::net::SocketAddr;
/// use http::{Request, StatusCode};
/// use tower::ServiceExt;
/// use webhook_receiver::allowlist::{IpAllowlist, IpAllowlistLayer};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # use bytes::Bytes;
/// # use http_body_util::Full;
/// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
/// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
/// # });
/// let svc = IpAllowlist::new(inner, &IpAllowlistLayer::new(["127.0.0.0/8"]).unwrap());
/// // No peer address in the extensions (a server that does not record it): refused.
/// let req = Request::post("/").body(Full::<Bytes>::default()).unwrap();
/// assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::FORBIDDEN);
/// # }
/// ```
pub struct IpAllowlist<S> {
    inner: S,
    rules: Arc<Rules>,
}

impl<S> IpAllowlist<S> {
    /// Wraps `inner` with the configuration of `layer`.
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use http::{Request, StatusCode};
    /// use tower::ServiceExt;
    /// use webhook_receiver::allowlist::{IpAllowlist, IpAllowlistLayer};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    /// let svc = IpAllowlist::new(inner, &IpAllowlistLayer::new(["::1"]).unwrap());
    /// let mut req = Request::post("/").body(Full::<Bytes>::default()).unwrap();
    /// req.extensions_mut().insert("[::1]:4000".parse::<SocketAddr>().unwrap());
    /// assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::OK);
    /// # }
    /// ```
    pub fn new(inner: S, layer: &IpAllowlistLayer) -> Self {
        Self::from_parts(inner, Arc::clone(layer.rules()))
    }

    pub(super) fn from_parts(inner: S, rules: Arc<Rules>) -> Self {
        Self { inner, rules }
    }

    /// The same as [`IpAllowlistLayer::new`].
    ///
    /// ```
    /// use tower::ServiceBuilder;
    /// use webhook_receiver::allowlist::IpAllowlist;
    ///
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    /// let layer = IpAllowlist::<()>::layer(["10.0.0.0/8"]).unwrap();
    /// let svc = ServiceBuilder::new().layer(layer).service(inner);
    /// # let _ = svc;
    /// ```
    ///
    /// # Errors
    ///
    /// [`AllowlistError`](super::AllowlistError) if the list is empty or an entry is empty or
    /// does not parse.
    pub fn layer<I, T>(allowed: I) -> Result<IpAllowlistLayer, super::AllowlistError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        IpAllowlistLayer::new(allowed)
    }

    /// The inner service.
    ///
    /// ```
    /// use webhook_receiver::allowlist::{IpAllowlist, IpAllowlistLayer};
    ///
    /// let svc = IpAllowlist::new(42, &IpAllowlistLayer::new(["10.0.0.0/8"]).unwrap());
    /// assert_eq!(*svc.get_ref(), 42);
    /// ```
    pub fn get_ref(&self) -> &S {
        &self.inner
    }

    /// The inner service, mutably.
    ///
    /// ```
    /// use webhook_receiver::allowlist::{IpAllowlist, IpAllowlistLayer};
    ///
    /// let mut svc = IpAllowlist::new(1, &IpAllowlistLayer::new(["10.0.0.0/8"]).unwrap());
    /// *svc.get_mut() += 1;
    /// assert_eq!(*svc.get_ref(), 2);
    /// ```
    pub fn get_mut(&mut self) -> &mut S {
        &mut self.inner
    }

    /// Consumes `self`, returning the inner service.
    ///
    /// ```
    /// use webhook_receiver::allowlist::{IpAllowlist, IpAllowlistLayer};
    ///
    /// let svc = IpAllowlist::new("inner", &IpAllowlistLayer::new(["10.0.0.0/8"]).unwrap());
    /// assert_eq!(svc.into_inner(), "inner");
    /// ```
    pub fn into_inner(self) -> S {
        self.inner
    }

    fn check<B>(&self, req: &Request<B>) -> Result<(), Rejection> {
        let Some(peer) = (self.rules.peer_addr)(req.extensions()) else {
            tracing::warn!(
                "webhook request refused (403): no peer address in the request's extensions; \
                 serve axum with `into_make_service_with_connect_info::<SocketAddr>()`, or insert \
                 the connection's `SocketAddr` (see the webhook_receiver::allowlist docs)"
            );
            return Err(Rejection::IpNotAllowed { addr: None });
        };
        match self.rules.client(peer, req.headers()) {
            Some(client) if self.rules.allows(client) => Ok(()),
            Some(client) => {
                tracing::debug!(%client, %peer, "webhook request refused (403): address not allowed");
                Err(Rejection::IpNotAllowed { addr: Some(client) })
            }
            None => {
                tracing::warn!(
                    %peer,
                    "webhook request refused (403): a trusted proxy's forwarded-for header has an \
                     entry that is not an address"
                );
                Err(Rejection::IpNotAllowed { addr: None })
            }
        }
    }
}

impl<S: Clone> Clone for IpAllowlist<S> {
    fn clone(&self) -> Self {
        Self {
            inner: self.inner.clone(),
            rules: Arc::clone(&self.rules),
        }
    }
}

impl<S: fmt::Debug> fmt::Debug for IpAllowlist<S> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("IpAllowlist")
            .field("inner", &self.inner)
            .field("allowed", &self.rules.allowed)
            .field("trusted_proxies", &self.rules.trusted)
            .field("header", &self.rules.header)
            .finish_non_exhaustive()
    }
}

impl<S, ReqBody, ResBody> Service<Request<ReqBody>> for IpAllowlist<S>
where
    S: Service<Request<ReqBody>, Response = Response<ResBody>>,
    ResBody: From<Bytes>,
{
    type Response = Response<ResBody>;
    type Error = S::Error;
    type Future = ResponseFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request<ReqBody>) -> Self::Future {
        match self.check(&req) {
            Ok(()) => ResponseFuture::called(self.inner.call(req)),
            Err(rejection) => {
                crate::telemetry::rejected(&rejection);
                ResponseFuture::refused(rejection)
            }
        }
    }
}
