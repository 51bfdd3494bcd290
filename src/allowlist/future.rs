use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Response;
use pin_project_lite::pin_project;

use crate::error::Rejection;

pin_project! {
    /// Response future of [`IpAllowlist`](super::IpAllowlist): the inner service's future, or
    /// the 403 of a refused client.
    ///
    /// ```
    /// use http::{Request, StatusCode};
    /// use tower::{Service, ServiceExt};
    /// use webhook_receiver::allowlist::{IpAllowlist, IpAllowlistLayer, ResponseFuture};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    /// let mut svc = IpAllowlist::new(inner, &IpAllowlistLayer::new(["10.0.0.0/8"]).unwrap());
    /// let mut req = Request::post("/").body(Full::<Bytes>::default()).unwrap();
    /// req.extensions_mut().insert("192.0.2.1:443".parse::<std::net::SocketAddr>().unwrap());
    /// let future: ResponseFuture<_> = svc.ready().await.unwrap().call(req);
    /// assert_eq!(future.await.unwrap().status(), StatusCode::FORBIDDEN);
    /// # }
    /// ```
    pub struct ResponseFuture<F> {
        #[pin]
        kind: Kind<F>,
    }
}

pin_project! {
    #[project = KindProj]
    enum Kind<F> {
        Called { #[pin] future: F },
        Refused { rejection: Option<Rejection> },
    }
}

impl<F> ResponseFuture<F> {
    pub(super) fn called(future: F) -> Self {
        Self {
            kind: Kind::Called { future },
        }
    }

    pub(super) fn refused(rejection: Rejection) -> Self {
        Self {
            kind: Kind::Refused {
                rejection: Some(rejection),
            },
        }
    }
}

impl<F, ResBody, E> Future for ResponseFuture<F>
where
    F: Future<Output = Result<Response<ResBody>, E>>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, E>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match self.project().kind.project() {
            KindProj::Called { future } => future.poll(cx),
            KindProj::Refused { rejection } => {
                let rejection = rejection.take().expect("future polled after completion");
                Poll::Ready(Ok(rejection.into_response()))
            }
        }
    }
}

impl<F> std::fmt::Debug for ResponseFuture<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
