//! Bodies: reading a request body under a limit (for the verify layer and the receiver alike),
//! and [`ResponseBody`], the body of every response this crate sends.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use http_body_util::{BodyExt, LengthLimitError, Limited};

use crate::error::{BoxError, Rejection};

/// Default body limit: 1 MiB.
///
/// ```
/// use webhook_receiver::receiver::DEFAULT_BODY_LIMIT;
/// use webhook_receiver::verify::{SharedSecret, VerifyWebhook};
///
/// assert_eq!(DEFAULT_BODY_LIMIT, 1024 * 1024);
/// let verify = VerifyWebhook::new((), SharedSecret::new(["s3cr3t"]).unwrap());
/// assert_eq!(verify.body_limit(), DEFAULT_BODY_LIMIT);
/// ```
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

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
        Err(e) => Err(Rejection::BodyRead(e)),
    }
}

/// The declared `Content-Length`, if any and well-formed.
pub(crate) fn content_length(headers: &http::HeaderMap) -> Option<u64> {
    headers
        .get(http::header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// The body of every response the receiver and the verify layer send: one short JSON
/// document, known in full up front (`{"received":true}`, or the error shape).
///
/// It implements [`http_body::Body`], so axum, hyper and any tower stack serve it as is.
///
/// ```
/// use bytes::Bytes;
/// use http_body::Body;
/// use webhook_receiver::ResponseBody;
///
/// let body = ResponseBody::from(Bytes::from_static(br#"{"received":true}"#));
/// assert_eq!(body.size_hint().exact(), Some(17));
/// assert!(!body.is_end_stream());
/// ```
#[derive(Debug, Default, Clone)]
pub struct ResponseBody {
    data: Option<Bytes>,
}

impl ResponseBody {
    pub(crate) const fn from_static(bytes: &'static [u8]) -> Self {
        Self {
            data: Some(Bytes::from_static(bytes)),
        }
    }
}

impl From<Bytes> for ResponseBody {
    fn from(bytes: Bytes) -> Self {
        Self {
            data: (!bytes.is_empty()).then_some(bytes),
        }
    }
}

impl Body for ResponseBody {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        Poll::Ready(self.get_mut().data.take().map(|data| Ok(Frame::data(data))))
    }

    fn is_end_stream(&self) -> bool {
        self.data.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        SizeHint::with_exact(self.data.as_ref().map_or(0, |d| d.len() as u64))
    }
}
