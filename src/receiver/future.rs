use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use http::Response;

use crate::body::ResponseBody;

type Handling = Pin<Box<dyn Future<Output = Result<Response<ResponseBody>, Infallible>> + Send>>;

/// Response future of [`WebhookService`](super::WebhookService).
///
/// An opaque type: a request that is rejected on its head is answered without an allocation;
/// one whose body is read is handled in one boxed future (its internals may change).
///
/// ```
/// use http::{Request, StatusCode};
/// use tower::Service;
/// use webhook_receiver::stack::{ServiceResponseFuture as ResponseFuture, WebhookService};
///
/// # use webhook_receiver::chirp::{Chirp, ChirpEvent};
/// # use webhook_receiver::stack::{Dispatcher, Handlers};
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// # let dispatcher = Dispatcher::builder(Handlers::<ChirpEvent>::new()).spawn();
/// let mut svc = WebhookService::builder(Chirp, dispatcher).build();
/// // A `GET` is answered on its head, without reading the body.
/// let future: ResponseFuture = svc.call(Request::get("/").body(String::new()).unwrap());
/// assert_eq!(future.await.unwrap().status(), StatusCode::METHOD_NOT_ALLOWED);
/// # }
/// ```
pub struct ResponseFuture {
    state: State,
}

enum State {
    Ready(Option<Response<ResponseBody>>),
    Handling(Handling),
}

impl ResponseFuture {
    pub(crate) fn ready(response: Response<ResponseBody>) -> Self {
        Self {
            state: State::Ready(Some(response)),
        }
    }

    pub(crate) fn handling(
        future: impl Future<Output = Result<Response<ResponseBody>, Infallible>> + Send + 'static,
    ) -> Self {
        Self {
            state: State::Handling(Box::pin(future)),
        }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<ResponseBody>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        match &mut self.state {
            State::Ready(response) => {
                Poll::Ready(Ok(response.take().expect("future polled after completion")))
            }
            State::Handling(future) => future.as_mut().poll(cx),
        }
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
