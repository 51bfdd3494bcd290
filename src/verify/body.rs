//! Reading a body under a limit, and the blanket [`VerifyRequest`] impl for signature schemes.

use std::sync::Arc;

use bytes::Bytes;
use futures_util::future::BoxFuture;
use http::Request;
use http_body::Body;
use http_body_util::{BodyExt, LengthLimitError, Limited};

use super::{VerifyRequest, VerifySignature};
use crate::error::{BoxError, Rejection};

/// Reads the whole body, answering 413 past `limit` (early, from `Content-Length`, when the
/// sender declares it).
pub(crate) async fn read_limited<B>(
    body: B,
    limit: usize,
    declared: Option<u64>,
) -> Result<Bytes, Rejection>
where
    B: Body,
    B::Error: Into<BoxError>,
{
    if declared.is_some_and(|len| len > limit as u64) {
        return Err(Rejection::PayloadTooLarge { limit });
    }
    match Limited::new(body, limit).collect().await {
        Ok(collected) => Ok(collected.to_bytes()),
        Err(e) if e.is::<LengthLimitError>() => Err(Rejection::PayloadTooLarge { limit }),
        Err(e) => Err(Rejection::BodyRead(e.to_string())),
    }
}

/// The declared `Content-Length`, if any and well-formed.
pub(crate) fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

impl<B, T> VerifyRequest<B> for T
where
    T: VerifySignature,
    B: Body + From<Bytes> + Send + 'static,
    B::Data: Send,
    B::Error: Into<BoxError>,
{
    type Future = BoxFuture<'static, Result<Request<B>, Rejection>>;

    fn verify(self: Arc<Self>, request: Request<B>, body_limit: usize) -> Self::Future {
        Box::pin(async move {
            // Headers first: no signature header, no body buffering.
            self.check_headers(request.headers())?;
            let (mut parts, body) = request.into_parts();
            let bytes = read_limited(body, body_limit, content_length(&parts.headers)).await?;
            let verified = self.verify_body(&parts.headers, &bytes)?;
            parts.extensions.insert(verified);
            Ok(Request::from_parts(parts, B::from(bytes)))
        })
    }
}
