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
use webhook_receiver::verify::{SharedSecret, Verified, VerifyWebhookLayer};

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
