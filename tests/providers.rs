//! The Stripe, GitHub, Slack and Shopify presets: against signatures made by each sender's own
//! published code or documented examples (`tests/vectors/providers.json`, made by
//! `tests/vectors/generate.sh`), their header checks, and end to end through the receiver.
#![cfg(all(feature = "providers", feature = "testing", feature = "axum"))]

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use axum::body::Body;
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Request, StatusCode};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;
use tower::ServiceExt;
use webhook_receiver::event::Received;
use webhook_receiver::json::JsonEvent;
use webhook_receiver::providers::{github, shopify, slack, stripe};
use webhook_receiver::testing;
use webhook_receiver::verify::{ConfigError, HmacSha256, Verified, VerifyRequest, VerifySignature};
use webhook_receiver::{Rejection, Webhooks};

const VECTORS: &str = include_str!("vectors/providers.json");

#[derive(Debug, Deserialize)]
struct Vector {
    provider: String,
    name: String,
    source: String,
    secrets: Vec<String>,
    now: u64,
    headers: std::collections::BTreeMap<String, String>,
    body: String,
    valid: bool,
    secret_index: Option<usize>,
}

fn vectors() -> Vec<Vector> {
    serde_json::from_str(VECTORS).expect("tests/vectors/providers.json is a list of vectors")
}

fn at(secs: u64) -> impl Fn() -> SystemTime + Send + Sync + 'static {
    move || UNIX_EPOCH + Duration::from_secs(secs)
}

/// The preset's scheme for `provider`.
fn scheme(provider: &str, secrets: &[String]) -> HmacSha256 {
    match provider {
        "stripe" => stripe::scheme(secrets),
        "github" => github::scheme(secrets),
        "slack" => slack::scheme(secrets),
        "shopify" => shopify::scheme(secrets),
        other => panic!("unknown provider {other}"),
    }
    .unwrap()
}

fn header_map(pairs: impl IntoIterator<Item = (String, String)>) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in pairs {
        headers.append(
            HeaderName::from_bytes(name.as_bytes()).unwrap(),
            HeaderValue::from_str(&value).unwrap(),
        );
    }
    headers
}

#[test]
fn every_provider_has_vectors_with_their_source() {
    let vectors = vectors();
    for provider in ["stripe", "github", "slack", "shopify"] {
        let of: Vec<_> = vectors.iter().filter(|v| v.provider == provider).collect();
        assert!(
            of.iter().filter(|v| v.valid).count() >= 2,
            "{provider}: valid vectors"
        );
        assert!(of.iter().any(|v| !v.valid), "{provider}: invalid vectors");
        assert!(
            of.iter().all(|v| v.source.len() > 20),
            "{provider}: sources"
        );
    }
}

#[tokio::test]
async fn verifies_the_senders_own_signatures() {
    for v in vectors() {
        let scheme = scheme(&v.provider, &v.secrets).clock(at(v.now));
        let headers = header_map(v.headers.clone());
        let label = format!("{} / {}", v.provider, v.name);

        let direct = scheme.verify_body(&headers, v.body.as_bytes());
        match (v.valid, &direct) {
            (true, Ok(verified)) => {
                assert_eq!(Some(verified.secret_index()), v.secret_index, "{label}");
            }
            (false, Err(rejection)) => assert_eq!(
                rejection.status(),
                StatusCode::UNAUTHORIZED,
                "{label}: {rejection}"
            ),
            _ => panic!("{label}: expected valid={}, got {direct:?}", v.valid),
        }

        // The request future (headers first, then the body) agrees.
        let mut req = Request::post("/").body(Body::from(v.body.clone())).unwrap();
        *req.headers_mut() = headers.clone();
        let through = std::sync::Arc::new(scheme.clone())
            .verify(req, 1 << 20)
            .await;
        assert_eq!(
            through.is_ok(),
            v.valid,
            "{label}: through the request future"
        );
        if let Ok(req) = through {
            let bytes = req.into_body().collect().await.unwrap().to_bytes();
            assert_eq!(
                bytes,
                v.body.as_bytes(),
                "{label}: body handed on as received"
            );
        }
    }
}

#[test]
fn signs_as_the_senders_do() {
    let mut checked = 0;
    for v in vectors().into_iter().filter(|v| v.valid) {
        let secret = &v.secrets[v.secret_index.unwrap()];
        let ours = scheme(&v.provider, std::slice::from_ref(secret));
        let label = format!("{} / {}", v.provider, v.name);
        match v.provider.as_str() {
            "stripe" => {
                let header = &v.headers["stripe-signature"];
                let t: i64 = header
                    .split(',')
                    .find_map(|item| item.strip_prefix("t="))
                    .unwrap()
                    .parse()
                    .unwrap();
                let signed = ours.sign(t, v.body.as_bytes());
                let (stamp, signature) = signed.split_once(',').unwrap();
                assert_eq!(stamp, format!("t={t}"), "{label}");
                assert!(
                    header.split(',').any(|item| item == signature),
                    "{label}: {signed}"
                );
            }
            "slack" => {
                let t: i64 = v.headers["x-slack-request-timestamp"].parse().unwrap();
                assert_eq!(
                    ours.sign(t, v.body.as_bytes()),
                    v.headers["x-slack-signature"],
                    "{label}"
                );
            }
            "github" => assert_eq!(
                ours.sign(0, v.body.as_bytes()),
                v.headers["x-hub-signature-256"],
                "{label}"
            ),
            "shopify" => assert_eq!(
                ours.sign(0, v.body.as_bytes()),
                v.headers["x-shopify-hmac-sha256"],
                "{label}"
            ),
            other => panic!("{other}"),
        }
        checked += 1;
    }
    assert!(checked >= 10, "only {checked} valid vectors");
}

// ===== Stripe: rotation and tolerance =====

const STRIPE_SECRET: &str = "whsec_test_secret";
const T: u64 = 1_700_000_000;

fn stripe_headers(value: &str) -> HeaderMap {
    header_map([("stripe-signature".to_owned(), value.to_owned())])
}

#[test]
fn stripe_accepts_any_v1_entry_under_any_secret() {
    let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let t = T as i64;
    let new = testing::stripe_signature("whsec_new", t, body);
    let old = testing::stripe_signature(STRIPE_SECRET, t, body);
    let (new_v1, old_v1) = (
        new.split_once(',').unwrap().1,
        old.split_once(',').unwrap().1,
    );
    let header = format!("t={t},{new_v1},{old_v1},v0=6ffbb59b2300aae63f272406069a9788598b792a");

    for (secrets, index) in [
        (vec!["whsec_new"], 0),
        (vec![STRIPE_SECRET], 0),
        (vec!["whsec_other", STRIPE_SECRET], 1),
        (vec!["whsec_other", "whsec_new", STRIPE_SECRET], 1),
    ] {
        let scheme = stripe::scheme(&secrets).unwrap().clock(at(T));
        let verified = scheme.verify_body(&stripe_headers(&header), body).unwrap();
        assert_eq!(verified, Verified::new(index), "{secrets:?}");
    }
    let scheme = stripe::scheme(["whsec_other"]).unwrap().clock(at(T));
    assert!(matches!(
        scheme.verify_body(&stripe_headers(&header), body),
        Err(Rejection::Unauthorized)
    ));
}

#[test]
fn stripe_and_slack_reject_timestamps_out_of_tolerance_both_ways() {
    let body = br#"{"id":"evt_1","type":"charge.succeeded"}"#;
    let header = testing::stripe_signature(STRIPE_SECRET, T as i64, body);
    let slack_req = testing::slack_request::<Body>("/", "slack-secret", T as i64, &body[..]);

    for (now, ok, ahead) in [
        (T, true, false),
        (T + 300, true, false),
        (T - 300, true, false),
        (T + 301, false, false), // signed 301 s ago
        (T - 301, false, true),  // signed 301 s in the future
        (T + 86_400, false, false),
        (0, false, true),
    ] {
        let stripe = stripe::scheme([STRIPE_SECRET]).unwrap().clock(at(now));
        let slack = slack::scheme(["slack-secret"]).unwrap().clock(at(now));
        for (name, result, header_only) in [
            (
                "stripe",
                stripe.verify_body(&stripe_headers(&header), body),
                stripe.check_headers(&stripe_headers(&header)),
            ),
            (
                "slack",
                slack.verify_body(slack_req.headers(), body),
                slack.check_headers(slack_req.headers()),
            ),
        ] {
            assert_eq!(result.is_ok(), ok, "{name} at {now}");
            // The tolerance is checked from the headers alone, before the body.
            assert_eq!(header_only.is_ok(), ok, "{name} at {now}");
            if !ok {
                match result.unwrap_err() {
                    Rejection::StaleTimestamp {
                        ahead: got,
                        tolerance,
                        ..
                    } => {
                        assert_eq!(got, ahead, "{name} at {now}");
                        assert_eq!(tolerance, Duration::from_secs(300));
                    }
                    other => panic!("{name} at {now}: {other:?}"),
                }
            }
        }
    }

    // A tighter tolerance.
    let tight = stripe::scheme([STRIPE_SECRET])
        .unwrap()
        .tolerance(Duration::from_secs(10))
        .clock(at(T + 11));
    assert!(matches!(
        tight.verify_body(&stripe_headers(&header), body),
        Err(Rejection::StaleTimestamp { .. })
    ));
}

#[test]
fn rejects_malformed_headers_before_the_body() {
    let now = T as i64;
    let hex = "5257a869e7ecebeda32affa62cdca3fa51cad7e77a0e56ff536d0ce8e108d8bd";
    let stripe = stripe::scheme([STRIPE_SECRET]).unwrap().clock(at(T));
    for (value, why) in [
        ("", "empty"),
        (&format!("v1={hex}") as &str, "no timestamp"),
        (&format!("t={now}"), "no signature"),
        (&format!("t={now},t={now},v1={hex}"), "two timestamps"),
        (&format!("t=abc,v1={hex}"), "timestamp not a number"),
        (&format!("t=-{now},v1={hex}"), "negative timestamp"),
        (&format!("t={now},v1=zz"), "signature not hex"),
        (&format!("t={now},v1={}", &hex[..62]), "short signature"),
        (&format!("t={now},v0={hex}"), "only v0"),
        (
            &format!("t={now},v1=sha256={hex}"),
            "a prefix Stripe does not send",
        ),
        (
            &format!("t={now},{}", vec![format!("v1={hex}"); 9].join(",")),
            "nine signatures",
        ),
    ] {
        assert!(
            matches!(
                stripe.check_headers(&stripe_headers(value)),
                Err(Rejection::Unauthorized)
            ),
            "stripe: {why}"
        );
    }
    let mut twice = stripe_headers(&format!("t={now},v1={hex}"));
    twice.append(
        "stripe-signature",
        format!("t={now},v1={hex}").parse().unwrap(),
    );
    assert!(matches!(
        stripe.check_headers(&twice),
        Err(Rejection::Unauthorized)
    ));
    assert!(matches!(
        stripe.check_headers(&HeaderMap::new()),
        Err(Rejection::Unauthorized)
    ));

    // Slack: the signature is 401, the timestamp header 400 (as Standard Webhooks' is).
    let slack = slack::scheme(["slack-secret"]).unwrap().clock(at(T));
    let slack_headers = |ts: Option<&str>, sig: Option<&str>| {
        let mut pairs = Vec::new();
        if let Some(ts) = ts {
            pairs.push(("x-slack-request-timestamp".to_owned(), ts.to_owned()));
        }
        if let Some(sig) = sig {
            pairs.push(("x-slack-signature".to_owned(), sig.to_owned()));
        }
        header_map(pairs)
    };
    let ts = now.to_string();
    let sig = format!("v0={hex}");
    for (headers, status, why) in [
        (slack_headers(Some(&ts), None), 401, "no signature"),
        (slack_headers(Some(&ts), Some(hex)), 401, "no v0= prefix"),
        (
            slack_headers(Some(&ts), Some("v0=")),
            401,
            "empty signature",
        ),
        (slack_headers(None, Some(&sig)), 400, "no timestamp"),
        (
            slack_headers(Some("soon"), Some(&sig)),
            400,
            "timestamp not a number",
        ),
        (
            slack_headers(Some("1.7e9"), Some(&sig)),
            400,
            "timestamp not an integer",
        ),
    ] {
        let rejection = slack.check_headers(&headers).unwrap_err();
        assert_eq!(
            rejection.status().as_u16(),
            status,
            "slack: {why}: {rejection}"
        );
    }
    let mut two_stamps = slack_headers(Some(&ts), Some(&sig));
    two_stamps.append("x-slack-request-timestamp", ts.parse().unwrap());
    assert!(matches!(
        slack.check_headers(&two_stamps),
        Err(Rejection::BadHeader {
            header: "x-slack-request-timestamp",
            ..
        })
    ));

    let github = github::scheme(["s"]).unwrap();
    let shopify = shopify::scheme(["s"]).unwrap();
    for (scheme, name, value) in [
        (&github, "x-hub-signature-256", hex.to_owned()),
        (&github, "x-hub-signature-256", format!("sha1={hex}")),
        (&shopify, "x-shopify-hmac-sha256", hex.to_owned()), // hex, not base64
        (&shopify, "x-shopify-hmac-sha256", "c2hvcnQ=".to_owned()),
    ] {
        let headers = header_map([(name.to_owned(), value.clone())]);
        assert!(
            matches!(scheme.check_headers(&headers), Err(Rejection::Unauthorized)),
            "{name}: {value}"
        );
    }
}

/// A body that never ends: reading it would hang the test.
fn endless() -> Body {
    Body::from_stream(futures_util::stream::pending::<Result<Bytes, std::io::Error>>())
}

#[tokio::test]
async fn rejections_through_the_receiver_keep_the_error_shape_and_never_read_the_body() {
    let webhooks = slack::webhooks(["slack-secret"]).unwrap().spawn();
    let old = testing::unix_now() - 3600;
    let ahead = testing::unix_now() + 3600;
    for (ts, sig, status, code) in [
        (Some(old), true, 401, "timestamp_out_of_tolerance"),
        (Some(ahead), true, 401, "timestamp_out_of_tolerance"),
        (None, true, 400, "invalid_header"),
        (Some(testing::unix_now()), false, 401, "invalid_credentials"),
    ] {
        let mut req = Request::post("/").header("content-type", "application/json");
        if let Some(ts) = ts {
            req = req.header("x-slack-request-timestamp", ts.to_string());
        }
        if sig {
            req = req.header("x-slack-signature", format!("v0={}", "ab".repeat(32)));
        }
        let req = req.body(endless()).unwrap();
        let res = tokio::time::timeout(Duration::from_secs(5), webhooks.clone().oneshot(req))
            .await
            .expect("answered without reading the body")
            .unwrap();
        assert_eq!(res.status().as_u16(), status, "{code}");
        let body = res.into_body().collect().await.unwrap().to_bytes();
        let v: Value = serde_json::from_slice(&body).unwrap();
        assert_eq!(v["error"]["code"], code, "{v}");
        assert!(
            v["error"]["type"].is_string() && v["error"]["message"].is_string(),
            "{v}"
        );
        if code == "timestamp_out_of_tolerance" {
            let message = v["error"]["message"].as_str().unwrap();
            assert!(
                message.contains("3600") || message.contains("tolerance"),
                "{message}"
            );
        }
    }
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
}

#[test]
fn config_errors_are_typed() {
    assert!(matches!(
        stripe::scheme(Vec::<&str>::new()),
        Err(ConfigError::NoSecrets)
    ));
    assert!(matches!(
        slack::scheme(["a", ""]),
        Err(ConfigError::EmptySecret(1))
    ));
    assert!(matches!(
        github::webhooks([""]),
        Err(ConfigError::EmptySecret(0))
    ));
    let base = HmacSha256::new(["s"]).unwrap();
    for (timestamp_field, signature_field) in [
        ("", "v1"),
        ("t", ""),
        ("t", "t"),
        ("t,", "v1"),
        ("t", "v=1"),
    ] {
        assert!(matches!(
            base.clone()
                .signature_list(timestamp_field, signature_field, "{t}.{body}"),
            Err(ConfigError::InvalidSignatureList)
        ));
    }
    assert!(matches!(
        base.clone().signature_list("t", "v1", "{body}"),
        Err(ConfigError::InvalidSignedContent(_))
    ));
    assert!(matches!(
        base.clone().timestamp_header("bad header", "{t}{body}"),
        Err(ConfigError::InvalidHeader(_))
    ));
    assert!(matches!(
        base.timestamp_header("x-ts", "{body}.{t}"),
        Err(ConfigError::InvalidSignedContent(_))
    ));
    // Secrets never show in Debug.
    let dbg = format!("{:?}", stripe::scheme(["whsec_hunter2"]).unwrap());
    assert!(
        !dbg.contains("hunter2") && dbg.contains("1 redacted"),
        "{dbg}"
    );
}

// ===== End to end: status, the handler's event, dedup by the provider's id =====

type Seen = mpsc::UnboundedSender<(String, Option<String>)>;

async fn post(
    webhooks: &webhook_receiver::providers::ProviderWebhooks,
    req: Request<Body>,
) -> (StatusCode, Value) {
    let res = webhooks.clone().oneshot(req).await.unwrap();
    let status = res.status();
    let body = res.into_body().collect().await.unwrap().to_bytes();
    (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
}

/// Delivers `first` and `again` (a redelivery: same provider id, signed anew), and checks the
/// handler saw the first once, with `name` and `id`.
async fn delivers_once(
    builder: webhook_receiver::WebhooksBuilder<
        webhook_receiver::json::JsonFormat<Value>,
        HmacSha256,
    >,
    first: Request<Body>,
    again: Request<Body>,
    name: &str,
    id: &str,
) {
    let (tx, mut rx) = mpsc::unbounded_channel();
    let webhooks = builder
        .state::<Seen>(tx)
        .fallback(|received: Received<JsonEvent<Value>>, ctx| async move {
            let Received::Event(event) = received else {
                panic!("invalid payload")
            };
            ctx.state()
                .send((ctx.event_name().to_owned(), event.id().map(str::to_owned)))
                .unwrap();
        })
        .spawn();
    let (status, body) = post(&webhooks, first).await;
    assert_eq!(status, StatusCode::OK, "{name}: {body}");
    assert_eq!(body["duplicate"], Value::Null, "{name}: {body}");
    assert_eq!(
        rx.recv().await.unwrap(),
        (name.to_owned(), Some(id.to_owned()))
    );

    let (status, body) = post(&webhooks, again).await;
    assert_eq!(status, StatusCode::OK, "{name}: {body}");
    assert_eq!(body["duplicate"], true, "{name}: {body}");
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
    assert!(
        rx.try_recv().is_err(),
        "{name}: the redelivery ran the handler"
    );
}

#[tokio::test]
async fn stripe_end_to_end() {
    let body = r#"{"id":"evt_1NG8Du2eZvKYlo2CUI79vXWy","object":"event","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":2000}}}"#;
    let now = testing::unix_now();
    delivers_once(
        stripe::webhooks(["whsec_new", STRIPE_SECRET]).unwrap(),
        testing::stripe_request("/", STRIPE_SECRET, now, body),
        // Stripe retries with a fresh timestamp and signature, and the same event id.
        testing::stripe_request("/", "whsec_new", now + 60, body),
        "payment_intent.succeeded",
        "evt_1NG8Du2eZvKYlo2CUI79vXWy",
    )
    .await;
}

#[tokio::test]
async fn github_end_to_end() {
    let body = r#"{"action":"opened","issue":{"number":1347},"repository":{"full_name":"octocat/Hello-World"}}"#;
    let delivery = "72d3162e-cc78-11e3-81ab-4c9367dc0958";
    delivers_once(
        github::webhooks(["github-secret"]).unwrap(),
        testing::github_request("/", "github-secret", "issues", delivery, body),
        testing::github_request("/", "github-secret", "issues", delivery, body),
        "issues.opened",
        delivery,
    )
    .await;
}

#[tokio::test]
async fn slack_end_to_end() {
    let body = r#"{"type":"event_callback","event_id":"Ev08MFMKH6","event":{"type":"app_mention","text":"hi","channel":"C1"},"team_id":"T1"}"#;
    let now = testing::unix_now();
    let mut retry = testing::slack_request::<Body>("/", "slack-secret", now + 1, body);
    retry
        .headers_mut()
        .insert("x-slack-retry-num", HeaderValue::from_static("1"));
    delivers_once(
        slack::webhooks(["slack-secret"]).unwrap(),
        testing::slack_request("/", "slack-secret", now, body),
        retry,
        "app_mention",
        "Ev08MFMKH6",
    )
    .await;
}

#[tokio::test]
async fn slack_envelopes_without_event_id_are_accepted() {
    let now = testing::unix_now();
    for (body, name) in [
        (
            r#"{"token":"t","challenge":"3eZbrw1aBm2rZgRNFdxV","type":"url_verification"}"#,
            "url_verification",
        ),
        (
            r#"{"token":"t","type":"app_rate_limited","team_id":"T1","minute_rate_limited":1518467820,"api_app_id":"A1"}"#,
            "app_rate_limited",
        ),
    ] {
        let (tx, mut rx) = mpsc::unbounded_channel();
        let webhooks = slack::webhooks(["slack-secret"])
            .unwrap()
            .state::<Seen>(tx)
            .fallback(|_: Received<JsonEvent<Value>>, ctx| async move {
                ctx.state()
                    .send((ctx.event_name().to_owned(), None))
                    .unwrap();
            })
            .spawn();
        let (status, _) = post(
            &webhooks,
            testing::slack_request("/", "slack-secret", now, body),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{name}");
        assert_eq!(rx.recv().await.unwrap().0, name);
        webhooks.drain(Duration::from_secs(5)).await.unwrap();
    }
    // An event_callback without event_id is not an event this format can key: 400.
    let webhooks = slack::webhooks(["slack-secret"]).unwrap().spawn();
    let body = r#"{"type":"event_callback","event":{"type":"message"}}"#;
    let (status, _) = post(
        &webhooks,
        testing::slack_request("/", "slack-secret", now, body),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn shopify_end_to_end() {
    let body = r#"{"id":820982911946154508,"email":"jon@example.com","total_price":"403.00"}"#;
    let event = "98880550-7158-44d4-b7cd-2c97c8a091b5";
    delivers_once(
        shopify::webhooks(["shpss_secret"]).unwrap(),
        testing::shopify_request("/", "shpss_secret", "orders/create", event, body),
        testing::shopify_request("/", "shpss_secret", "orders/create", event, body),
        "orders/create",
        event,
    )
    .await;
}

#[tokio::test]
async fn shopify_without_an_event_id_is_keyed_by_its_webhook_id() {
    let body = r#"{"id":1}"#;
    let request = || {
        let mut req =
            testing::shopify_request::<Body>("/", "shpss_secret", "orders/paid", "", body);
        req.headers_mut().remove("x-shopify-event-id");
        req.headers_mut().insert(
            "x-shopify-webhook-id",
            HeaderValue::from_static("b54557e4-bdd9-4b37"),
        );
        req
    };
    delivers_once(
        shopify::webhooks(["shpss_secret"]).unwrap(),
        request(),
        request(),
        "orders/paid",
        "b54557e4-bdd9-4b37",
    )
    .await;
    // Neither id: 400.
    let webhooks = shopify::webhooks(["shpss_secret"]).unwrap().spawn();
    let mut req = request();
    req.headers_mut().remove("x-shopify-webhook-id");
    assert_eq!(post(&webhooks, req).await.0, StatusCode::BAD_REQUEST);
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
}

#[tokio::test]
async fn tampered_bodies_are_rejected_end_to_end() {
    let now = testing::unix_now();
    let cases: Vec<(webhook_receiver::providers::ProviderWebhooks, Request<Body>)> = vec![
        (
            stripe::webhooks([STRIPE_SECRET]).unwrap().spawn(),
            testing::stripe_request("/", STRIPE_SECRET, now, r#"{"id":"evt_1","type":"x"}"#),
        ),
        (
            github::webhooks(["s"]).unwrap().spawn(),
            testing::github_request("/", "s", "push", "d-1", r#"{"ref":"refs/heads/main"}"#),
        ),
        (
            slack::webhooks(["s"]).unwrap().spawn(),
            testing::slack_request(
                "/",
                "s",
                now,
                r#"{"type":"event_callback","event_id":"Ev1","event":{"type":"message"}}"#,
            ),
        ),
        (
            shopify::webhooks(["s"]).unwrap().spawn(),
            testing::shopify_request("/", "s", "orders/paid", "e-1", r#"{"id":1}"#),
        ),
    ];
    for (webhooks, req) in cases {
        let (parts, body) = req.into_parts();
        let mut bytes = body.collect().await.unwrap().to_bytes().to_vec();
        // One character changed, the signature headers kept.
        let last = bytes.len() - 2;
        bytes[last] ^= 1;
        let tampered = Request::from_parts(parts.clone(), Body::from(bytes));
        let (status, body) = post(&webhooks, tampered).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "{parts:?}: {body}");
        assert_eq!(body["error"]["code"], "invalid_credentials");
        webhooks.drain(Duration::from_secs(5)).await.unwrap();
    }
}

// ===== Typed events, and unknown types =====

#[derive(Debug, Clone, Deserialize)]
struct PaymentIntent {
    id: String,
    amount: u64,
}

webhook_receiver::json_events! {
    enum StripeEvent {
        "payment_intent.succeeded" => PaymentIntentSucceeded(PaymentIntent) as PAYMENT_INTENT_SUCCEEDED,
    }
}

#[tokio::test]
async fn typed_stripe_events_and_unknown_types() {
    let (tx, mut rx) = mpsc::unbounded_channel::<String>();
    let webhooks = Webhooks::builder(
        stripe::format::<StripeEvent>(),
        stripe::scheme([STRIPE_SECRET]).unwrap(),
    )
    .state(tx)
    .on(
        PAYMENT_INTENT_SUCCEEDED,
        |pi: PaymentIntent, ctx| async move {
            ctx.state()
                .send(format!("{} {}", pi.id, pi.amount))
                .unwrap();
        },
    )
    .fallback(
        |received: Received<JsonEvent<StripeEvent>>, ctx| async move {
            let Received::Event(event) = received else {
                panic!("invalid")
            };
            assert!(event.typed().is_none());
            ctx.state()
                .send(format!("unknown {}", ctx.event_name()))
                .unwrap();
        },
    )
    .spawn();
    let now = testing::unix_now();
    for body in [
        r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1","amount":2000}}}"#,
        r#"{"id":"evt_2","type":"billing.meter.created","data":{"object":{"id":"mtr_1"}}}"#,
    ] {
        let res = webhooks
            .clone()
            .oneshot(testing::stripe_request::<Body>(
                "/",
                STRIPE_SECRET,
                now,
                body,
            ))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK);
    }
    assert_eq!(rx.recv().await.unwrap(), "pi_1 2000");
    assert_eq!(rx.recv().await.unwrap(), "unknown billing.meter.created");
    webhooks.drain(Duration::from_secs(5)).await.unwrap();
}
