use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll, ready};

use bytes::Bytes;
use http::{Request, Response};
use pin_project_lite::pin_project;
use tower_service::Service;

use crate::error::Rejection;

pin_project! {
    /// Response future of [`VerifyWebhook`](super::VerifyWebhook): verification, then the inner
    /// service's future.
    ///
    /// ```
    /// use http::{Request, StatusCode};
    /// use tower::{Service, ServiceExt};
    /// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::{VerifyResponseFuture as ResponseFuture, VerifyWebhook};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    /// let mut svc = VerifyWebhook::new(inner, SharedSecret::new(["s3cr3t"]).unwrap());
    /// let req = Request::post("/").body(Full::<Bytes>::default()).unwrap(); // no secret
    /// let future: ResponseFuture<_, _, _> = svc.ready().await.unwrap().call(req);
    /// assert_eq!(future.await.unwrap().status(), StatusCode::UNAUTHORIZED);
    /// # }
    /// ```
    pub struct ResponseFuture<S, VF, B>
    where
        S: Service<Request<B>>,
    {
        #[pin]
        state: State<S, VF, S::Future>,
        // The delivery's span, entered while this future is polled (unless disabled).
        span: tracing::Span,
    }
}

pin_project! {
    #[project = StateProj]
    enum State<S, VF, F> {
        Verifying { #[pin] verifying: VF, inner: Option<S> },
        Calling { #[pin] future: F },
    }
}

impl<S, VF, B> ResponseFuture<S, VF, B>
where
    S: Service<Request<B>>,
{
    pub(crate) fn new(verifying: VF, inner: S, span: tracing::Span) -> Self {
        Self {
            state: State::Verifying {
                verifying,
                inner: Some(inner),
            },
            span,
        }
    }
}

impl<S, VF, B, ResBody> Future for ResponseFuture<S, VF, B>
where
    S: Service<Request<B>, Response = Response<ResBody>>,
    VF: Future<Output = Result<Request<B>, Rejection>>,
    ResBody: From<Bytes>,
{
    type Output = Result<Response<ResBody>, S::Error>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let mut this = self.project();
        let _entered = (!this.span.is_disabled()).then(|| this.span.enter());
        loop {
            match this.state.as_mut().project() {
                StateProj::Verifying { verifying, inner } => match ready!(verifying.poll(cx)) {
                    Ok(request) => {
                        let mut inner = inner.take().expect("future polled after completion");
                        let future = inner.call(request);
                        this.state.set(State::Calling { future });
                    }
                    Err(rejection) => {
                        tracing::debug!(status = %rejection.status(), reason = %rejection, "webhook request rejected");
                        crate::telemetry::rejected(&rejection);
                        return Poll::Ready(Ok(rejection.into_response()));
                    }
                },
                StateProj::Calling { future } => return future.poll(cx),
            }
        }
    }
}

impl<S, VF, B> std::fmt::Debug for ResponseFuture<S, VF, B>
where
    S: Service<Request<B>>,
{
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
