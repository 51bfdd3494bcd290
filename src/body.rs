//! Bodies: reading a request body under a limit (for the verify layer and the receiver alike),
//! and [`ResponseBody`], the body of every response this crate sends.

use std::convert::Infallible;
use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::{Buf, Bytes};
use http_body::{Body, Frame, SizeHint};
use http_body_util::BodyExt;

use crate::error::{BoxError, Rejection};

/// Default body limit: 1 MiB.
///
/// ```
/// use webhook_receiver::stack::DEFAULT_BODY_LIMIT;
/// use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhook;
///
/// assert_eq!(DEFAULT_BODY_LIMIT, 1024 * 1024);
/// let verify = VerifyWebhook::new((), SharedSecret::new(["s3cr3t"]).unwrap());
/// assert_eq!(verify.body_limit(), DEFAULT_BODY_LIMIT);
/// ```
pub const DEFAULT_BODY_LIMIT: usize = 1024 * 1024;

/// Reads the whole body, answering 413 past `limit` (early, from `Content-Length`, when the
/// sender declares it).
///
/// What a request can make the process hold here is bounded by the bytes it has sent, never
/// more than `limit` plus one read's worth of the server's buffer: the chunks are copied into
/// one contiguous buffer as they arrive and dropped at once (a body in one chunk is kept as
/// is, without a copy). Collecting the chunks instead (`http_body_util`'s `collect`) kept a
/// `Bytes` handle (32 bytes) and its share of the server's read buffer per chunk: 1 MiB sent
/// in 1-byte chunks held 33 MiB (`benches/verify_memory.rs`). The buffer grows geometrically
/// and never beyond the declared `Content-Length` (or `limit` without one); it is not reserved
/// from `Content-Length` up front, so headers alone make the process hold nothing.
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
    // At most `limit` (checked above), so the conversion cannot fail.
    let most = declared.map_or(limit, |len| usize::try_from(len).unwrap_or(limit));
    let mut body = std::pin::pin!(body);
    let mut read = Read::Empty;
    let mut len = 0usize;
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| Rejection::BodyRead(e.into()))?;
        let Ok(mut data) = frame.into_data() else {
            continue; // trailers: not part of the signed bytes
        };
        let n = data.remaining();
        len = match len.checked_add(n) {
            Some(len) if len <= limit => len,
            _ => return Err(Rejection::PayloadTooLarge { limit }),
        };
        if n == 0 {
            continue;
        }
        read = match read {
            Read::Empty => Read::One(data.copy_to_bytes(n)),
            Read::One(first) => {
                let mut buf = Vec::new();
                grow(&mut buf, len, most.max(len));
                buf.extend_from_slice(&first);
                put(&mut buf, &mut data);
                Read::Many(buf)
            }
            Read::Many(mut buf) => {
                grow(&mut buf, len, most.max(len));
                put(&mut buf, &mut data);
                Read::Many(buf)
            }
        };
    }
    Ok(match read {
        Read::Empty => Bytes::new(),
        Read::One(bytes) => bytes,
        Read::Many(mut buf) => {
            // Kept while the event is queued: give back what the doubling over-reserved.
            if buf.capacity() > buf.len() {
                buf.shrink_to_fit();
            }
            Bytes::from(buf)
        }
    })
}

/// What [`read_limited`] has read so far.
enum Read {
    Empty,
    /// One chunk, kept without a copy.
    One(Bytes),
    /// Two or more, copied into one buffer.
    Many(Vec<u8>),
}

/// Makes room in `buf` for `needed` bytes in all: at least double its capacity (so the copies
/// stay linear in the body's size) but never more than `most` (the declared length or the
/// limit), nor less than 8 KiB at first.
fn grow(buf: &mut Vec<u8>, needed: usize, most: usize) {
    if needed <= buf.capacity() {
        return;
    }
    let target = buf
        .capacity()
        .saturating_mul(2)
        .max(8 * 1024)
        .min(most)
        .max(needed);
    buf.reserve_exact(target - buf.len());
}

/// Appends all of `data` to `buf` (a `Buf` may be in several pieces).
fn put(buf: &mut Vec<u8>, data: &mut impl Buf) {
    while data.has_remaining() {
        let chunk = data.chunk();
        buf.extend_from_slice(chunk);
        let n = chunk.len();
        data.advance(n);
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
