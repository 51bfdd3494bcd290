use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Response;
use http_body_util::Full;

/// Response future of [`WebhookService`](super::WebhookService).
pub struct ResponseFuture {
    inner: BoxFuture<'static, Result<Response<Full<Bytes>>, Infallible>>,
}

impl ResponseFuture {
    pub(crate) fn new(
        inner: BoxFuture<'static, Result<Response<Full<Bytes>>, Infallible>>,
    ) -> Self {
        Self { inner }
    }
}

impl Future for ResponseFuture {
    type Output = Result<Response<Full<Bytes>>, Infallible>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl std::fmt::Debug for ResponseFuture {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ResponseFuture").finish_non_exhaustive()
    }
}
