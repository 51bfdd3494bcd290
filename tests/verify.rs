//! The shared-secret layer: 401 matrix, rotation, redaction, and no body read before auth.

mod support;

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::task::{Context, Poll};

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderValue, Request, Response, StatusCode};
use http_body::Frame;
use http_body_util::Full;
use support::*;
use tower::{ServiceBuilder, ServiceExt};
use webhook_receiver::stack::VerifyWebhookLayer;
use webhook_receiver::verify::{SharedSecret, Verified};

fn echo_stack(
    scheme: SharedSecret,
) -> impl tower::Service<
    Request<Body>,
    Response = Response<Full<Bytes>>,
    Error = std::convert::Infallible,
> + Clone {
    ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(scheme))
        .service_fn(|req: Request<Body>| async move {
            let index = req.extensions().get::<Verified>().map(|v| v.secret_index());
            let sensitive = req
                .headers()
                .get("x-webhook-secret")
                .map(HeaderValue::is_sensitive);
            let body = format!(
                r#"{{"index":{},"sensitive":{}}}"#,
                index.unwrap(),
                sensitive.unwrap()
            );
            Ok(Response::new(Full::new(Bytes::from(body))))
        })
}

fn request(secret: Option<&[u8]>) -> Request<Body> {
    let mut b = Request::post("/").header("content-type", "application/json");
    if let Some(s) = secret {
        b = b.header("x-webhook-secret", HeaderValue::from_bytes(s).unwrap());
    }
    b.body(Body::from("{}")).unwrap()
}

#[tokio::test]
async fn rejects_missing_wrong_and_malformed_secrets() {
    let svc = echo_stack(SharedSecret::new(["right-secret"]).unwrap());
    let cases: [Option<&[u8]>; 6] = [
        None,
        Some(b"wrong-secret"),
        Some(b"right-secre"),           // prefix: shorter
        Some(b"right-secret-and-more"), // longer
        Some(b"RIGHT-SECRET"),
        Some(b"\xff\xfe-not-utf8"),
    ];
    for case in cases {
        let res = svc.clone().oneshot(request(case)).await.unwrap();
        let err = error_body(res, 401, "authentication_error").await;
        assert_eq!(err["code"], "invalid_credentials");
    }
}

#[tokio::test]
async fn rejects_secret_sent_twice() {
    let svc = echo_stack(SharedSecret::new(["right-secret"]).unwrap());
    let req = Request::post("/")
        .header("x-webhook-secret", "right-secret")
        .header("x-webhook-secret", "right-secret")
        .body(Body::empty())
        .unwrap();
    assert_eq!(
        svc.oneshot(req).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn accepts_every_rotated_secret_and_records_which() {
    let svc = echo_stack(SharedSecret::new(["new-secret", "old-secret"]).unwrap());
    for (secret, index) in [(&b"new-secret"[..], 0), (b"old-secret", 1)] {
        let res = svc.clone().oneshot(request(Some(secret))).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK);
        let body = json_body(res).await;
        assert_eq!(body["index"], index);
        assert_eq!(
            body["sensitive"], true,
            "the secret header is marked sensitive"
        );
    }
}

#[tokio::test]
async fn header_name_is_configurable() {
    let svc = echo_stack(SharedSecret::with_header("X-Chirp-Token", ["tok"]).unwrap());
    let res = svc.clone().oneshot(request(Some(b"tok"))).await.unwrap();
    assert_eq!(
        res.status(),
        StatusCode::UNAUTHORIZED,
        "default header no longer accepted"
    );
    let req = Request::post("/")
        .header("x-chirp-token", "tok")
        .body(Body::empty())
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(
            SharedSecret::with_header("X-Chirp-Token", ["tok"]).unwrap(),
        ))
        .service_fn(|_req: Request<Body>| async {
            Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
        });
    assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::OK);
}

/// A body that records whether anyone polled it.
struct Tripwire(Arc<AtomicBool>);

impl http_body::Body for Tripwire {
    type Data = Bytes;
    type Error = std::convert::Infallible;
    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Self::Error>>> {
        self.0.store(true, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(Bytes::from_static(b"{}")))))
    }
}

#[tokio::test]
async fn unauthenticated_body_is_never_read() {
    let rec = Recorder::default();
    let (stack, _dispatcher) = stack(&rec);
    let polled = Arc::new(AtomicBool::new(false));
    let req = Request::post(URI)
        .header("content-type", "application/json")
        .header("x-webhook-secret", "nope")
        .body(Body::new(Tripwire(polled.clone())))
        .unwrap();
    let res = stack.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    assert!(
        !polled.load(Ordering::SeqCst),
        "the body of an unauthenticated request was read"
    );
}

#[test]
fn debug_never_shows_secrets() {
    let scheme = SharedSecret::new(["hunter2-secret-value", "another-one"]).unwrap();
    let layer = VerifyWebhookLayer::new(scheme);
    let dbg = format!("{layer:?}");
    assert!(
        !dbg.contains("hunter2") && !dbg.contains("another-one"),
        "{dbg}"
    );
    assert!(dbg.contains("x-webhook-secret"), "{dbg}");
}

/// One byte of a [`OneByteChunks`] body, counted in `alive` while it exists.
#[cfg(feature = "hmac")]
struct CountedByte {
    byte: [u8; 1],
    read: bool,
    alive: Arc<std::sync::atomic::AtomicUsize>,
}

#[cfg(feature = "hmac")]
impl bytes::Buf for CountedByte {
    fn remaining(&self) -> usize {
        usize::from(!self.read)
    }
    fn chunk(&self) -> &[u8] {
        if self.read { &[] } else { &self.byte }
    }
    fn advance(&mut self, cnt: usize) {
        assert!(cnt <= self.remaining());
        self.read |= cnt == 1;
    }
}

#[cfg(feature = "hmac")]
impl Drop for CountedByte {
    fn drop(&mut self) {
        self.alive.fetch_sub(1, Ordering::SeqCst);
    }
}

/// A body sent one byte per chunk, as a slow or hostile client can. Each time the reader asks
/// for the next chunk, it records how many of the chunks it handed out are still alive.
#[cfg(feature = "hmac")]
enum OneByteChunks {
    Wire {
        bytes: Bytes,
        sent: usize,
        alive: Arc<std::sync::atomic::AtomicUsize>,
        most_alive: Arc<std::sync::atomic::AtomicUsize>,
    },
    /// The body the verify layer passes on.
    Whole(Bytes),
}

#[cfg(feature = "hmac")]
impl From<Bytes> for OneByteChunks {
    fn from(bytes: Bytes) -> Self {
        Self::Whole(bytes)
    }
}

#[cfg(feature = "hmac")]
impl http_body::Body for OneByteChunks {
    type Data = CountedByte;
    type Error = std::convert::Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<CountedByte>, Self::Error>>> {
        let Self::Wire {
            bytes,
            sent,
            alive,
            most_alive,
        } = self.get_mut()
        else {
            unreachable!("only the wire body is read")
        };
        most_alive.fetch_max(alive.load(Ordering::SeqCst), Ordering::SeqCst);
        let Some(&byte) = bytes.get(*sent) else {
            return Poll::Ready(None);
        };
        *sent += 1;
        alive.fetch_add(1, Ordering::SeqCst);
        Poll::Ready(Some(Ok(Frame::data(CountedByte {
            byte: [byte],
            read: false,
            alive: Arc::clone(alive),
        }))))
    }
}

/// Verifies `body`, sent in 1-byte chunks with `signature`, with HMAC-SHA256 and the default
/// body limit; returns the outcome and the most chunks the reader held at once.
#[cfg(feature = "hmac")]
async fn verify_one_byte_chunks(
    body: &'static [u8],
    signature: &str,
) -> (
    Result<Request<OneByteChunks>, webhook_receiver::Rejection>,
    usize,
) {
    use webhook_receiver::stack::DEFAULT_BODY_LIMIT;
    use webhook_receiver::verify::{HmacSha256, VerifyRequest};
    let most_alive = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let request = Request::post("/")
        .header("x-webhook-signature", signature)
        .body(OneByteChunks::Wire {
            bytes: Bytes::from_static(body),
            sent: 0,
            alive: Arc::default(),
            most_alive: Arc::clone(&most_alive),
        })
        .unwrap();
    let scheme = Arc::new(HmacSha256::new(["It's a Secret to Everybody"]).unwrap());
    let result = scheme.verify(request, DEFAULT_BODY_LIMIT).await;
    (result, most_alive.load(Ordering::SeqCst))
}

/// Memory before authentication (issue 21, item 8): a false signature is only found after the
/// body is read, and a body in 1-byte chunks was held as one handle per chunk (33 bytes held
/// per byte sent, `benches/verify_memory.rs`). Each chunk is now copied and dropped.
#[cfg(feature = "hmac")]
#[tokio::test]
async fn a_signed_body_in_one_byte_chunks_is_not_held_chunk_by_chunk() {
    static BODY: [u8; 64 * 1024] = [b'x'; 64 * 1024];
    let (result, most_alive) = verify_one_byte_chunks(&BODY, &"00".repeat(32)).await;
    assert!(
        matches!(result, Err(webhook_receiver::Rejection::Unauthorized)),
        "{:?}",
        result.err()
    );
    assert!(
        most_alive <= 1,
        "{most_alive} chunks of 1 byte were held at once while reading"
    );
}

#[cfg(feature = "hmac")]
#[tokio::test]
async fn a_genuine_body_in_one_byte_chunks_is_passed_on_byte_for_byte() {
    // The test vector of `VerifySignature`'s docs.
    let signature = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
    let (result, most_alive) = verify_one_byte_chunks(b"Hello, World!", signature).await;
    let request = result.unwrap();
    assert!(most_alive <= 1, "{most_alive}");
    assert_eq!(
        request.extensions().get::<Verified>(),
        Some(&Verified::new(0))
    );
    let OneByteChunks::Whole(body) = request.into_body() else {
        panic!("the wire body was passed on")
    };
    assert_eq!(body, Bytes::from_static(b"Hello, World!"));
}
