//! Signature schemes against the shared test vectors, through the public API and the real layer.
#![cfg(all(feature = "hmac", feature = "standard-webhooks", feature = "testing"))]

use std::convert::Infallible;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine as _;
use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use webhook_receiver::stack::VerifyWebhookLayer;
use webhook_receiver::testing;
use webhook_receiver::verify::{
    ConfigError, HmacSha256, SignatureEncoding, StandardWebhooks, Verified, VerifyRequest,
};

const VECTORS: &str = include_str!("fixtures/signatures.json");
const SECRET_INDEX: &str = "x-secret-index";

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("fixture is JSON")
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key}"))
}

/// What the inner service saw, or the rejection.
#[derive(Debug)]
struct Outcome {
    status: StatusCode,
    secret_index: Option<usize>,
    body: Bytes,
}

impl Outcome {
    /// The `error.code` of a rejection body.
    fn error_code(&self) -> String {
        let v: Value = serde_json::from_slice(&self.body).expect("rejection body is JSON");
        v["error"]["code"].as_str().unwrap_or_default().to_owned()
    }
}

/// Echoes the verified body, and the matching secret's index in `x-secret-index`.
async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let index = req
        .extensions()
        .get::<Verified>()
        .map(Verified::secret_index);
    let body = req.into_body().collect().await?.to_bytes();
    let mut res = Response::new(Full::new(body));
    if let Some(index) = index {
        res.headers_mut().insert(SECRET_INDEX, index.into());
    }
    Ok(res)
}

async fn send_with<V>(layer: VerifyWebhookLayer<V>, req: Request<Full<Bytes>>) -> Outcome
where
    V: VerifyRequest<Full<Bytes>>,
{
    let svc = ServiceBuilder::new().layer(layer).service_fn(echo);
    let res = svc.oneshot(req).await.expect("infallible");
    let status = res.status();
    let secret_index = res
        .headers()
        .get(SECRET_INDEX)
        .map(|v| v.to_str().unwrap().parse().unwrap());
    let body = res.into_body().collect().await.unwrap().to_bytes();
    Outcome {
        status,
        secret_index,
        body,
    }
}

async fn send<V>(scheme: V, req: Request<Full<Bytes>>) -> Outcome
where
    V: VerifyRequest<Full<Bytes>>,
{
    send_with(VerifyWebhookLayer::new(scheme), req).await
}

fn post(headers: &[(&str, &str)], body: impl Into<Bytes>) -> Request<Full<Bytes>> {
    let mut builder = Request::post("/webhooks").header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder.body(Full::new(body.into())).unwrap()
}

// ---------------------------------------------------------------------------------------------
// HMAC-SHA256 of the raw body
// ---------------------------------------------------------------------------------------------

struct HexVector {
    secret: String,
    body: String,
    hex: String,
}

fn hex_vectors() -> Vec<HexVector> {
    let all = vectors();
    let list = all["hex_hmac_sha256_raw_body"].as_array().unwrap();
    assert_eq!(list.len(), 3);
    list.iter()
        .map(|v| HexVector {
            secret: str_of(v, "secret").to_owned(),
            body: str_of(v, "body").to_owned(),
            hex: str_of(v, "hex").to_owned(),
        })
        .collect()
}

#[tokio::test]
async fn every_hex_vector_passes_in_every_form() {
    for v in hex_vectors() {
        let tag = hex::decode(&v.hex).unwrap();
        let b64 = base64::engine::general_purpose::STANDARD.encode(&tag);
        let prefixed = format!("sha256={}", v.hex);
        let cases = [
            (
                HmacSha256::new([&v.secret]).unwrap(),
                "x-webhook-signature",
                v.hex.clone(),
            ),
            (
                HmacSha256::new([&v.secret]).unwrap(),
                "X-Webhook-Signature",
                v.hex.to_uppercase(),
            ),
            (
                HmacSha256::new([&v.secret])
                    .unwrap()
                    .encoding(SignatureEncoding::Base64),
                "x-webhook-signature",
                b64.clone(),
            ),
            (
                HmacSha256::github([&v.secret]).unwrap(),
                "X-Hub-Signature-256",
                prefixed.clone(),
            ),
            (
                HmacSha256::new([&v.secret])
                    .unwrap()
                    .header("X-Signature")
                    .unwrap()
                    .prefix("sha256=")
                    .encoding(SignatureEncoding::Base64),
                "x-signature",
                format!("sha256={b64}"),
            ),
        ];
        for (scheme, header, value) in cases {
            let out = send(scheme, post(&[(header, &value)], v.body.clone())).await;
            assert_eq!(out.status, StatusCode::OK, "{header}: {value}");
            assert_eq!(
                out.body,
                v.body.as_bytes(),
                "the inner service gets the exact body"
            );
            assert_eq!(out.secret_index, Some(0));
        }
    }
}

#[tokio::test]
async fn wrong_secret_tampered_body_and_bad_headers_are_401() {
    let v = &hex_vectors()[0];
    let scheme = || HmacSha256::new([&v.secret]).unwrap();
    let sig = |value: &str| post(&[("x-webhook-signature", value)], v.body.clone());

    let wrong = HmacSha256::new(["not the secret"]).unwrap();
    assert_eq!(
        send(wrong, sig(&v.hex)).await.status,
        StatusCode::UNAUTHORIZED
    );

    let tampered = post(&[("x-webhook-signature", &v.hex)], format!("{} ", v.body));
    let out = send(scheme(), tampered).await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.error_code(), "invalid_credentials");
    assert_eq!(out.secret_index, None);

    let missing = post(&[], v.body.clone());
    assert_eq!(
        send(scheme(), missing).await.status,
        StatusCode::UNAUTHORIZED
    );

    for garbled in [
        String::new(),
        "not-hex".to_owned(),
        v.hex[..63].to_owned(),
        format!("{}ab", v.hex),
        format!("sha256={}", v.hex),
        format!("{} ", &v.hex[..63]),
    ] {
        let out = send(scheme(), sig(&garbled)).await;
        assert_eq!(out.status, StatusCode::UNAUTHORIZED, "{garbled:?}");
    }

    // GitHub's format needs its prefix.
    let github = HmacSha256::github([&v.secret]).unwrap();
    let out = send(
        github,
        post(&[("x-hub-signature-256", &v.hex)], v.body.clone()),
    )
    .await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);

    // Sent twice: ambiguous.
    let mut twice = sig(&v.hex);
    twice
        .headers_mut()
        .append("x-webhook-signature", v.hex.parse().unwrap());
    assert_eq!(send(scheme(), twice).await.status, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn rotated_hmac_secret_matches_by_index() {
    let vs = hex_vectors();
    let scheme = || HmacSha256::new([&vs[0].secret, &vs[1].secret, &vs[2].secret]).unwrap();
    for (i, v) in vs.iter().enumerate() {
        let out = send(
            scheme(),
            post(&[("x-webhook-signature", &v.hex)], v.body.clone()),
        )
        .await;
        assert_eq!(out.status, StatusCode::OK);
        assert_eq!(out.secret_index, Some(i));
    }
}

#[tokio::test]
async fn body_over_the_limit_is_413() {
    let body = "x".repeat(64);
    let hex = testing::hmac_sha256_hex("s3cr3t", &body);
    let layer = || VerifyWebhookLayer::new(HmacSha256::new(["s3cr3t"]).unwrap()).body_limit(32);

    let out = send_with(
        layer(),
        post(&[("x-webhook-signature", &hex)], body.clone()),
    )
    .await;
    assert_eq!(out.status, StatusCode::PAYLOAD_TOO_LARGE);

    let declared = post(
        &[("x-webhook-signature", &hex), ("content-length", "64")],
        body.clone(),
    );
    assert_eq!(
        send_with(layer(), declared).await.status,
        StatusCode::PAYLOAD_TOO_LARGE
    );

    // Exactly at the limit is fine.
    let body = "x".repeat(32);
    let hex = testing::hmac_sha256_hex("s3cr3t", &body);
    let out = send_with(layer(), post(&[("x-webhook-signature", &hex)], body)).await;
    assert_eq!(out.status, StatusCode::OK);
}

#[test]
fn hmac_config_errors() {
    assert!(matches!(
        HmacSha256::new(Vec::<&str>::new()),
        Err(ConfigError::NoSecrets)
    ));
    assert!(matches!(
        HmacSha256::new([""]),
        Err(ConfigError::EmptySecret(0))
    ));
    assert!(matches!(
        HmacSha256::github(["ok", ""]),
        Err(ConfigError::EmptySecret(1))
    ));
    assert!(matches!(
        HmacSha256::new(["ok"]).unwrap().header("no spaces"),
        Err(ConfigError::InvalidHeader(_))
    ));
    let dbg = format!("{:?}", HmacSha256::new(["hunter2"]).unwrap());
    assert!(!dbg.contains("hunter2"), "{dbg}");
}

// ---------------------------------------------------------------------------------------------
// Standard Webhooks
// ---------------------------------------------------------------------------------------------

struct SwVector {
    secret: String,
    msg_id: String,
    timestamp: i64,
    payload: String,
    signature: String,
}

fn sw_vectors() -> Vec<SwVector> {
    let all = vectors();
    let list = all["standard_webhooks_v1"].as_array().unwrap();
    assert_eq!(list.len(), 2);
    list.iter()
        .map(|v| SwVector {
            secret: str_of(v, "secret").to_owned(),
            msg_id: str_of(v, "msg_id").to_owned(),
            timestamp: v["timestamp"].as_i64().unwrap(),
            payload: str_of(v, "payload").to_owned(),
            signature: str_of(v, "signature").to_owned(),
        })
        .collect()
}

fn negatives() -> Value {
    vectors()["standard_webhooks_negative"].clone()
}

fn clock_at(ts: i64) -> impl Fn() -> SystemTime + Send + Sync + 'static {
    let now = UNIX_EPOCH + Duration::from_secs(ts.try_into().unwrap());
    move || now
}

/// A scheme for `v`'s secret whose clock reads `v`'s timestamp.
fn sw_scheme(v: &SwVector) -> StandardWebhooks {
    StandardWebhooks::new([&v.secret])
        .unwrap()
        .clock(clock_at(v.timestamp))
}

fn sw_request(id: &str, ts: i64, signature: &str, body: &str) -> Request<Full<Bytes>> {
    post(
        &[
            ("webhook-id", id),
            ("webhook-timestamp", &ts.to_string()),
            ("webhook-signature", signature),
        ],
        body.to_owned(),
    )
}

#[tokio::test]
async fn standard_vectors_pass_at_their_timestamp() {
    for v in sw_vectors() {
        assert_eq!(
            sw_scheme(&v).sign(&v.msg_id, v.timestamp, v.payload.as_bytes()),
            v.signature
        );
        let req = sw_request(&v.msg_id, v.timestamp, &v.signature, &v.payload);
        let out = send(sw_scheme(&v), req).await;
        assert_eq!(out.status, StatusCode::OK);
        assert_eq!(out.body, v.payload.as_bytes());
        assert_eq!(out.secret_index, Some(0));

        // The same request today is stale.
        let today = StandardWebhooks::new([&v.secret]).unwrap();
        let req = sw_request(&v.msg_id, v.timestamp, &v.signature, &v.payload);
        let out = send(today, req).await;
        assert_eq!(out.status, StatusCode::UNAUTHORIZED);
        assert_eq!(out.error_code(), "timestamp_out_of_tolerance");
    }
}

#[tokio::test]
async fn wrong_signature_is_401() {
    let v = &sw_vectors()[1];
    let neg = negatives();
    let wrong = str_of(&neg, "wrong_signature_for_second_vector");
    let out = send(
        sw_scheme(v),
        sw_request(&v.msg_id, v.timestamp, wrong, &v.payload),
    )
    .await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);
    assert_eq!(out.error_code(), "invalid_credentials");

    // Right signature, another message id or timestamp: the signed content differs.
    let req = sw_request("msg_other", v.timestamp, &v.signature, &v.payload);
    assert_eq!(
        send(sw_scheme(v), req).await.status,
        StatusCode::UNAUTHORIZED
    );
    let req = sw_request(&v.msg_id, v.timestamp + 1, &v.signature, &v.payload);
    assert_eq!(
        send(sw_scheme(v), req).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn decoys_are_skipped_but_never_match() {
    let v = &sw_vectors()[1];
    let neg = negatives();
    let decoys: Vec<&str> = neg["decoys_to_skip_in_multi_signature_header"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d.as_str().unwrap())
        .collect();

    let mut with_right = decoys.clone();
    with_right.insert(2, &v.signature);
    let req = sw_request(&v.msg_id, v.timestamp, &with_right.join(" "), &v.payload);
    let out = send(sw_scheme(v), req).await;
    assert_eq!(out.status, StatusCode::OK);

    let req = sw_request(&v.msg_id, v.timestamp, &decoys.join(" "), &v.payload);
    assert_eq!(
        send(sw_scheme(v), req).await.status,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn empty_truncated_and_unknown_version_signatures_are_401() {
    let v = &sw_vectors()[0];
    let b64 = v.signature.strip_prefix("v1,").unwrap();
    for sig in [
        "v1,".to_owned(),
        v.signature[..v.signature.len() - 4].to_owned(),
        v.signature[..20].to_owned(),
        format!("v2,{b64}"),
        "v2,Ceo5qEr07ixe2NLpvHk3FH9bwy/WavXrAFQ/9tdO6mc=".to_owned(),
        b64.to_owned(),
        format!("V1,{b64}"),
    ] {
        let req = sw_request(&v.msg_id, v.timestamp, &sig, &v.payload);
        let out = send(sw_scheme(v), req).await;
        assert_eq!(out.status, StatusCode::UNAUTHORIZED, "{sig}");
    }
}

#[tokio::test]
async fn timestamp_tolerance_is_300_s_both_ways() {
    let v = &sw_vectors()[0];
    for (skew, expected) in [
        (-301, StatusCode::UNAUTHORIZED),
        (301, StatusCode::UNAUTHORIZED),
        (-299, StatusCode::OK),
        (299, StatusCode::OK),
        (-300, StatusCode::OK),
        (300, StatusCode::OK),
    ] {
        // Signed correctly at `timestamp + skew`; the clock reads `timestamp`.
        let ts = v.timestamp + skew;
        let sig = testing::standard_webhooks_signature(&v.secret, &v.msg_id, ts, &v.payload);
        let out = send(sw_scheme(v), sw_request(&v.msg_id, ts, &sig, &v.payload)).await;
        assert_eq!(out.status, expected, "skew {skew}");
        if expected == StatusCode::UNAUTHORIZED {
            assert_eq!(out.error_code(), "timestamp_out_of_tolerance");
        }
    }

    // A wider tolerance accepts an hour.
    let ts = v.timestamp - 3600;
    let sig = testing::standard_webhooks_signature(&v.secret, &v.msg_id, ts, &v.payload);
    let wide = sw_scheme(v).tolerance(Duration::from_secs(3600));
    let out = send(wide, sw_request(&v.msg_id, ts, &sig, &v.payload)).await;
    assert_eq!(out.status, StatusCode::OK);
}

#[tokio::test]
async fn each_missing_header_is_400() {
    let v = &sw_vectors()[0];
    for missing in ["webhook-id", "webhook-timestamp", "webhook-signature"] {
        let mut req = sw_request(&v.msg_id, v.timestamp, &v.signature, &v.payload);
        req.headers_mut().remove(missing);
        let out = send(sw_scheme(v), req).await;
        assert_eq!(out.status, StatusCode::BAD_REQUEST, "{missing}");
        assert_eq!(out.error_code(), "invalid_header");
        let body = String::from_utf8(out.body.to_vec()).unwrap();
        assert!(
            body.contains(&format!("missing header {missing}")),
            "{body}"
        );
    }

    let mut req = sw_request(&v.msg_id, v.timestamp, &v.signature, &v.payload);
    req.headers_mut()
        .insert("webhook-timestamp", "yesterday".parse().unwrap());
    assert_eq!(
        send(sw_scheme(v), req).await.status,
        StatusCode::BAD_REQUEST
    );
}

#[test]
fn standard_webhooks_config_errors() {
    assert!(matches!(
        StandardWebhooks::new(["whsec_"]),
        Err(ConfigError::EmptySecret(0))
    ));
    assert!(matches!(
        StandardWebhooks::new([""]),
        Err(ConfigError::EmptySecret(0))
    ));
    assert!(matches!(
        StandardWebhooks::new(["whsec_%%%"]),
        Err(ConfigError::InvalidSecret(0))
    ));
    assert!(matches!(
        StandardWebhooks::new(Vec::<&str>::new()),
        Err(ConfigError::NoSecrets)
    ));
    let v = &sw_vectors()[0];
    let bare = v.secret.strip_prefix("whsec_").unwrap();
    let scheme = StandardWebhooks::new([bare]).unwrap();
    assert_eq!(
        scheme.sign(&v.msg_id, v.timestamp, v.payload.as_bytes()),
        v.signature
    );
    assert!(!format!("{scheme:?}").contains(bare));
}

#[tokio::test]
async fn standard_secrets_rotate_and_signatures_accumulate() {
    let vs = sw_vectors();
    let (old, new) = (&vs[0], &vs[1]);
    let scheme = || {
        StandardWebhooks::new([&new.secret, &old.secret])
            .unwrap()
            .clock(clock_at(new.timestamp))
    };

    // Signed with the old secret only.
    let sig =
        testing::standard_webhooks_signature(&old.secret, &new.msg_id, new.timestamp, &new.payload);
    let out = send(
        scheme(),
        sw_request(&new.msg_id, new.timestamp, &sig, &new.payload),
    )
    .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.secret_index, Some(1));

    // The sender sends both signatures while it rotates: the first secret is reported.
    let both = format!("{sig} {}", new.signature);
    let out = send(
        scheme(),
        sw_request(&new.msg_id, new.timestamp, &both, &new.payload),
    )
    .await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.secret_index, Some(0));
}

#[tokio::test]
async fn reserialized_json_does_not_verify() {
    for v in sw_vectors() {
        let reserialized =
            serde_json::to_string_pretty(&serde_json::from_str::<Value>(&v.payload).unwrap())
                .unwrap();
        assert_ne!(reserialized, v.payload);
        let req = sw_request(&v.msg_id, v.timestamp, &v.signature, &reserialized);
        let out = send(sw_scheme(&v), req).await;
        assert_eq!(out.status, StatusCode::UNAUTHORIZED);
    }
    // The same holds for the raw-body HMAC.
    let v = &hex_vectors()[1];
    let compact = serde_json::to_string(&serde_json::from_str::<Value>(&v.body).unwrap()).unwrap();
    let spaced = compact.replace(':', ": ");
    let scheme = HmacSha256::new([&v.secret]).unwrap();
    let out = send(scheme, post(&[("x-webhook-signature", &v.hex)], spaced)).await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);
}

// ---------------------------------------------------------------------------------------------
// The testing helpers round-trip through the layer
// ---------------------------------------------------------------------------------------------

#[tokio::test]
async fn testing_helpers_produce_accepted_requests() {
    use webhook_receiver::verify::SharedSecret;

    let body = r#"{"id":"evt_1","type":"message.sent"}"#;

    let req = testing::shared_secret_request("/webhooks", "s3cr3t", body);
    let out = send(SharedSecret::new(["s3cr3t"]).unwrap(), req).await;
    assert_eq!(out.status, StatusCode::OK);
    let req = testing::shared_secret_request("/webhooks", "other", body);
    let out = send(SharedSecret::new(["s3cr3t"]).unwrap(), req).await;
    assert_eq!(out.status, StatusCode::UNAUTHORIZED);

    let req = testing::hmac_sha256_request("/webhooks", "s3cr3t", body);
    assert_eq!(req.headers()["content-type"], "application/json");
    let out = send(HmacSha256::new(["s3cr3t"]).unwrap(), req).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.body, body.as_bytes());

    for v in hex_vectors() {
        assert_eq!(testing::hmac_sha256_hex(&v.secret, &v.body), v.hex);
    }

    let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let req =
        testing::standard_webhooks_request("/webhooks", secret, "msg_1", testing::unix_now(), body);
    let out = send(StandardWebhooks::new([secret]).unwrap(), req).await;
    assert_eq!(out.status, StatusCode::OK);
    assert_eq!(out.body, body.as_bytes());

    for v in sw_vectors() {
        let req = testing::standard_webhooks_request(
            "/webhooks",
            &v.secret,
            &v.msg_id,
            v.timestamp,
            v.payload.clone(),
        );
        assert_eq!(req.headers()["webhook-signature"], v.signature.as_str());
        assert_eq!(send(sw_scheme(&v), req).await.status, StatusCode::OK);
    }
}

#[tokio::test]
async fn testing_helpers_work_with_an_axum_router() {
    use axum::Router;
    use axum::body::Body;
    use axum::routing::post as axum_post;

    let secret = "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oD";
    let app = Router::new()
        .route("/webhooks", axum_post(|body: Bytes| async move { body }))
        .layer(VerifyWebhookLayer::new(
            StandardWebhooks::new([secret]).unwrap(),
        ));

    let req: Request<Body> =
        testing::standard_webhooks_request("/webhooks", secret, "msg_1", testing::unix_now(), "{}");
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::OK);
    let echoed = res.into_body().collect().await.unwrap().to_bytes();
    assert_eq!(echoed, "{}");

    // Signed with another secret.
    let other = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let req: Request<Body> =
        testing::standard_webhooks_request("/webhooks", other, "msg_1", testing::unix_now(), "{}");
    let res = app.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);

    // Not a Standard Webhooks request at all: the headers are missing.
    let req: Request<Body> = testing::hmac_sha256_request("/webhooks", "s3cr3t", "{}");
    let res = app.oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::BAD_REQUEST);
}
