//! The receiver: status codes, error shape, body limits, and "nothing remembered" after a non-200.

mod support;

use std::time::Duration;

use axum::body::Body;
use bytes::Bytes;
use futures_util::{StreamExt, stream};
use http::{Request, StatusCode};
use http_body::Frame;
use support::*;
use tower::ServiceExt;
use webhook_receiver::chirp::ChirpEvent;
use webhook_receiver::event::Received;

#[tokio::test]
async fn accepts_every_seed_payload_and_dispatches_after_200() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let names = support::FIXTURES;
    for name in names {
        let res = stack
            .clone()
            .oneshot(chirp_request(fixture(name)))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "{name}");
        assert_eq!(json_body(res).await["received"], true);
    }
    let seen = rec.wait_for(names.len()).await;
    let handler_of = |kind: &str| seen.iter().find(|s| s.kind == kind).map(|s| s.handler);
    assert_eq!(handler_of("messages.sms.delivered"), Some("sms_status"));
    assert_eq!(handler_of("messages.sms.received"), Some("sms_received"));
    assert_eq!(handler_of("messages.whatsapp.read"), Some("whatsapp"));
    assert_eq!(handler_of("templates.whatsapp.updated"), Some("fallback"));
    let unknown = seen
        .iter()
        .find(|s| matches!(s.item, Received::Event(ChirpEvent::Unknown { .. })))
        .unwrap();
    assert_eq!(unknown.handler, "fallback");
}

#[tokio::test]
async fn non_json_content_type_is_415() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    for ct in [
        Some("text/plain"),
        Some("application/x-www-form-urlencoded"),
        None,
    ] {
        let mut b = Request::post(URI).header("x-webhook-secret", SECRET);
        if let Some(ct) = ct {
            b = b.header("content-type", ct);
        }
        let res = stack
            .clone()
            .oneshot(b.body(Body::from(fixture("sms_delivered"))).unwrap())
            .await
            .unwrap();
        let err = error_body(res, 415, "invalid_request_error").await;
        assert_eq!(err["code"], "unsupported_media_type");
    }
    let req = Request::post(URI)
        .header("x-webhook-secret", SECRET)
        .header("content-type", "application/vnd.chirp+json; charset=utf-8")
        .body(Body::from(fixture("sms_delivered")))
        .unwrap();
    assert_eq!(stack.oneshot(req).await.unwrap().status(), StatusCode::OK);
}

#[tokio::test]
async fn oversized_body_is_413_declared_or_streamed() {
    let rec = Recorder::default();
    let (stack, _d) = stack_with(&rec, |b| b.body_limit(1024));
    let big = format!(
        r#"{{"event":"messages.sms.delivered","data":{{"id":"m","pad":"{}"}}}}"#,
        "x".repeat(2000)
    );
    let res = stack
        .clone()
        .oneshot(chirp_request(big.clone()))
        .await
        .unwrap();
    error_body(res, 413, "invalid_request_error").await;

    // No Content-Length: a streamed body is cut at the limit.
    let chunks: Vec<Result<Frame<Bytes>, std::io::Error>> = big
        .as_bytes()
        .chunks(100)
        .map(|c| Ok(Frame::data(Bytes::copy_from_slice(c))))
        .collect();
    let body = Body::new(http_body_util::StreamBody::new(stream::iter(chunks)));
    let req = Request::post(URI)
        .header("content-type", "application/json")
        .header("x-webhook-secret", SECRET)
        .body(body)
        .unwrap();
    let res = stack.clone().oneshot(req).await.unwrap();
    error_body(res, 413, "invalid_request_error").await;

    // Exactly at the limit is fine.
    let ok = r#"{"event":"messages.sms.delivered","data":{"id":"m1","status":"delivered"}}"#;
    let res = stack.oneshot(chirp_request(ok)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
}

#[tokio::test]
async fn malformed_bodies_are_400_naming_the_problem() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let cases: [(&[u8], &str, &str); 7] = [
        (b"", "empty_body", "empty"),
        (b"{not json", "invalid_json", "JSON"),
        (b"\xff\xfe{}", "invalid_utf8", "UTF-8"),
        (b"[1,2]", "not_an_object", "object"),
        (br#"{"data":{"id":"x"}}"#, "missing_field", "event"),
        (br#"{"event":"messages.sms.sent"}"#, "missing_field", "data"),
        (br#"{"event":42,"data":{}}"#, "invalid_field", "event"),
    ];
    for (body, code, mentions) in cases {
        let res = stack
            .clone()
            .oneshot(chirp_request(Bytes::from_static(body)))
            .await
            .unwrap();
        let err = error_body(res, 400, "invalid_request_error").await;
        assert_eq!(err["code"], code, "{err}");
        assert!(err["message"].as_str().unwrap().contains(mentions), "{err}");
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(rec.seen().is_empty(), "nothing malformed may be dispatched");
}

#[tokio::test]
async fn only_post_is_accepted() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let req = Request::get(URI)
        .header("x-webhook-secret", SECRET)
        .body(Body::empty())
        .unwrap();
    let res = stack.oneshot(req).await.unwrap();
    assert_eq!(res.headers()["allow"], "POST");
    error_body(res, 405, "invalid_request_error").await;
}

#[tokio::test]
async fn forged_request_with_a_real_id_does_not_block_the_real_event() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let body = fixture("sms_delivered");
    let forged = Request::post(URI)
        .header("content-type", "application/json")
        .header("x-webhook-secret", "forged")
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(
        stack.clone().oneshot(forged).await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // A request that fails later (bad content type) after auth must not be remembered either.
    let wrong_ct = Request::post(URI)
        .header("content-type", "text/plain")
        .header("x-webhook-secret", SECRET)
        .body(Body::from(body.clone()))
        .unwrap();
    assert_eq!(
        stack.clone().oneshot(wrong_ct).await.unwrap().status(),
        StatusCode::UNSUPPORTED_MEDIA_TYPE
    );

    let res = stack.oneshot(chirp_request(body)).await.unwrap();
    assert_eq!(
        json_body(res).await,
        serde_json::json!({"received": true}),
        "the real event is new"
    );
    rec.wait_for(1).await;
}

#[tokio::test]
async fn invalid_payload_of_known_type_is_acknowledged_and_reaches_fallback() {
    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let body = r#"{"event":"messages.sms.delivered","data":{"id":"m1","status":"delivered","deliveredAt":"yesterday"}}"#;
    let res = stack.oneshot(chirp_request(body)).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let seen = rec.wait_for(1).await;
    assert_eq!(seen[0].handler, "fallback");
    match &seen[0].item {
        Received::Invalid(invalid) => {
            assert_eq!(invalid.event_name, "messages.sms.delivered");
            assert_eq!(invalid.path, "deliveredAt");
            // The raw text of `data`, byte for byte, parsed only on request.
            assert_eq!(
                invalid.data.get(),
                r#"{"id":"m1","status":"delivered","deliveredAt":"yesterday"}"#
            );
            assert_eq!(invalid.data.to_value().unwrap()["id"], "m1");
        }
        other @ Received::Event(_) => panic!("expected Invalid, got {other:?}"),
    }
}

#[tokio::test]
async fn request_dropped_mid_body_leaves_nothing_remembered() {
    use std::future::Future;
    use std::pin::pin;
    use std::task::Context;

    let rec = Recorder::default();
    let (stack, _d) = stack(&rec);
    let body = fixture("sms_delivered");
    // The first half of the body arrives, then the client goes silent; the request is dropped
    // (client disconnect, timeout) while the receiver waits for the rest.
    let (first, _) = body.split_at(body.len() / 2);
    let chunks = stream::iter([Ok::<_, std::io::Error>(Frame::data(Bytes::from(
        first.to_owned(),
    )))])
    .chain(stream::pending());
    let req = Request::post(URI)
        .header("content-type", "application/json")
        .header("x-webhook-secret", SECRET)
        .body(Body::new(http_body_util::StreamBody::new(chunks)))
        .unwrap();
    {
        let mut fut = pin!(stack.clone().oneshot(req));
        let waker = futures_util::task::noop_waker();
        for _ in 0..10 {
            assert!(
                fut.as_mut()
                    .poll(&mut Context::from_waker(&waker))
                    .is_pending()
            );
        }
    } // dropped here

    let res = stack.oneshot(chirp_request(body)).await.unwrap();
    assert_eq!(
        json_body(res).await,
        serde_json::json!({"received": true}),
        "the full delivery is new"
    );
    assert_eq!(rec.wait_for(1).await.len(), 1);
}
