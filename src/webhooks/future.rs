//! [`ResponseFuture`]: the response future of [`Webhooks`](super::Webhooks).

use std::convert::Infallible;
use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;
use http_body::Body;
use pin_project_lite::pin_project;

use crate::body::ResponseBody;
use crate::error::BoxError;
use crate::event::Format;
use crate::receiver::WebhookService;
use crate::store::Store;
use crate::verify::{self, VerifyRequest};

/// The stack inside, named once here and nowhere in the public API: it can change.
type Inner<F, V, St, B> =
    verify::ResponseFuture<WebhookService<F, St>, <V as VerifyRequest<B>>::Future, B>;

pin_project! {
    /// The response future of [`Webhooks`](super::Webhooks): resolves to the response, never to
    /// an error (every rejection is a response). Opaque: it does not name the stack inside.
    ///
    /// ```
    /// use tower::Service;
    /// use webhook_receiver::webhooks::ResponseFuture;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let mut webhooks = webhook_receiver::chirp::webhooks(["s3cr3t"]).unwrap().spawn();
    /// let req = http::Request::post("/").body(String::new()).unwrap(); // no secret
    /// // Always ready: overload is answered 503 per request.
    /// let future: ResponseFuture<_, _, _, String> = webhooks.call(req);
    /// assert_eq!(future.await.unwrap().status(), http::StatusCode::UNAUTHORIZED);
    /// # }
    /// ```
    pub struct ResponseFuture<F, V, St, B>
    where
        F: Format,
        V: VerifyRequest<B>,
        St: Store,
        B: Body,
        B: Send,
        B: 'static,
        B::Data: Send,
        B::Error: Into<BoxError>,
    {
        #[pin]
        inner: Inner<F, V, St, B>,
    }
}

impl<F, V, St, B> ResponseFuture<F, V, St, B>
where
    F: Format,
    V: VerifyRequest<B>,
    St: Store,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    pub(super) const fn new(inner: Inner<F, V, St, B>) -> Self {
        Self { inner }
    }
}

impl<F, V, St, B> Future for ResponseFuture<F, V, St, B>
where
    F: Format,
    V: VerifyRequest<B>,
    St: Store,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.project().inner.poll(cx)
    }
}

impl<F, V, St, B> fmt::Debug for ResponseFuture<F, V, St, B>
where
    F: Format,
    V: VerifyRequest<B>,
    St: Store,
    B: Body + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
