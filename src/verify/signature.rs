//! The blanket [`VerifyRequest`] impl for signature schemes: headers first, then the raw body
//! read up to the limit, verified as received, and handed on.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

use bytes::Bytes;
use http::Request;
use http_body::Body;

use super::{VerifyRequest, VerifySignature};
use crate::body::{content_length, read_limited};
use crate::error::{BoxError, Rejection};

type Verifying<B> = Pin<Box<dyn Future<Output = Result<Request<B>, Rejection>> + Send>>;

/// The verification future of a [`VerifySignature`] scheme: checks the headers, reads the body
/// up to the limit, verifies the exact received bytes, and resolves to the request with those
/// bytes as its body.
///
/// An opaque type: its internals (one allocation per request, for the body read) may change.
///
/// ```
/// use std::sync::Arc;
/// use bytes::Bytes;
/// use http::Request;
/// use http_body_util::Full;
/// use webhook_receiver::Rejection;
/// use webhook_receiver::verify::{HmacSha256, SignatureFuture, VerifyRequest};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let scheme = Arc::new(HmacSha256::new(["s3cr3t"]).unwrap());
/// let req = Request::post("/").header("x-webhook-signature", "00".repeat(32));
/// let req = req.body(Full::<Bytes>::from("{}")).unwrap();
/// let future: SignatureFuture<Full<Bytes>> = scheme.verify(req, 1024);
/// assert!(matches!(future.await, Err(Rejection::Unauthorized))); // body read, signature wrong
/// # }
/// ```
pub struct SignatureFuture<B> {
    inner: Verifying<B>,
}

impl<B> Future for SignatureFuture<B> {
    type Output = Result<Request<B>, Rejection>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        self.inner.as_mut().poll(cx)
    }
}

impl<B> fmt::Debug for SignatureFuture<B> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SignatureFuture").finish_non_exhaustive()
    }
}

impl<B, T> VerifyRequest<B> for T
where
    T: VerifySignature,
    B: Body + From<Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Future = SignatureFuture<B>;

    fn verify(self: Arc<Self>, request: Request<B>, body_limit: usize) -> Self::Future {
        SignatureFuture {
            inner: Box::pin(async move {
                // Headers first: no signature header, no body buffering.
                self.check_headers(request.headers())?;
                let (mut parts, body) = request.into_parts();
                let bytes = read_limited(body, body_limit, content_length(&parts.headers)).await?;
                let verified = self.verify_body(&parts.headers, &bytes)?;
                parts.extensions.insert(verified);
                Ok(Request::from_parts(parts, B::from(bytes)))
            }),
        }
    }
}
