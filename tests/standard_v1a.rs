//! Standard Webhooks `v1a` (ed25519) against vectors made by an independent implementation
//! (Python's `cryptography`, i.e. OpenSSL: `tests/vectors/standard_v1a.py`, output
//! `tests/vectors/standard_v1a.json`; `tests/vectors/standard_v1a_check.mjs` re-decides every
//! case with Node's `crypto`), through the public API and the real layer; and the `testing`
//! signer against the same vectors.
#![cfg(all(feature = "standard-webhooks", feature = "testing"))]

use std::convert::Infallible;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::{Duration, UNIX_EPOCH};

use bytes::Bytes;
use http::{HeaderMap, Request, Response, StatusCode};
use http_body::{Body, Frame};
use http_body_util::{BodyExt, Full};
use serde_json::Value;
use tower::{ServiceBuilder, ServiceExt};
use webhook_receiver::stack::VerifyWebhookLayer;
use webhook_receiver::testing;
use webhook_receiver::verify::{
    ConfigError, StandardWebhooks, Verified, VerifyRequest, VerifySignature,
};
use webhook_receiver::{HeaderProblem, Rejection};

const VECTORS: &str = include_str!("vectors/standard_v1a.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("the vectors are JSON")
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .expect("an array")
        .iter()
        .map(|s| s.as_str().expect("a string").to_owned())
        .collect()
}

fn str_of<'v>(v: &'v Value, key: &str) -> &'v str {
    v[key]
        .as_str()
        .unwrap_or_else(|| panic!("missing string {key}"))
}

/// The receiver a case describes: its secrets, public keys and clock.
fn scheme(case: &Value) -> StandardWebhooks {
    let secrets = strings(&case["secrets"]);
    let public_keys = strings(&case["public_keys"]);
    let scheme = match (secrets.is_empty(), public_keys.is_empty()) {
        (true, false) => StandardWebhooks::with_public_keys(&public_keys).unwrap(),
        (false, true) => StandardWebhooks::new(&secrets).unwrap(),
        (false, false) => StandardWebhooks::new(&secrets)
            .unwrap()
            .public_keys(&public_keys)
            .unwrap(),
        (true, true) => panic!("{}: no key at all", case["name"]),
    };
    let now = UNIX_EPOCH + Duration::from_secs(case["now"].as_u64().expect("now"));
    scheme.clock(move || now)
}

fn headers(case: &Value) -> HeaderMap {
    let mut headers = HeaderMap::new();
    for (name, value) in case["headers"].as_object().expect("headers") {
        let name: http::HeaderName = name.parse().unwrap();
        headers.insert(name, value.as_str().unwrap().parse().unwrap());
    }
    headers
}

fn request<B: From<Bytes>>(case: &Value) -> Request<B> {
    let mut req = Request::post("/webhook")
        .body(B::from(Bytes::from(str_of(case, "body").to_owned())))
        .unwrap();
    *req.headers_mut() = headers(case);
    req
}

/// A body that fails the test if anything polls it: a request rejected on its headers must be
/// answered without reading the body.
#[derive(Debug)]
struct Untouchable;

impl From<Bytes> for Untouchable {
    fn from(_: Bytes) -> Self {
        Self
    }
}

impl Body for Untouchable {
    type Data = Bytes;
    type Error = Infallible;

    fn poll_frame(
        self: Pin<&mut Self>,
        _: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, Infallible>>> {
        panic!("the body was read before the headers were checked");
    }
}

/// Echoes the matching key's index in `x-key-index`.
async fn echo(req: Request<Full<Bytes>>) -> Result<Response<Full<Bytes>>, Infallible> {
    let index = req.extensions().get::<Verified>().map(|v| v.secret_index());
    let mut res = Response::new(Full::default());
    if let Some(index) = index {
        res.headers_mut().insert("x-key-index", index.into());
    }
    Ok(res)
}

/// The rejection a case expects, checked against `rejection`.
fn assert_rejected_as(case: &Value, rejection: &Rejection) {
    let name = &case["name"];
    let expect = &case["expect"];
    match (str_of(expect, "rejected"), rejection) {
        ("unauthorized", Rejection::Unauthorized) => {}
        ("stale_timestamp", Rejection::StaleTimestamp { ahead, .. }) => {
            assert_eq!(Some(*ahead), expect["ahead"].as_bool(), "{name}");
        }
        ("bad_header", Rejection::BadHeader { .. }) => {}
        (want, got) => panic!("{name}: expected {want}, got {got:?}"),
    }
}

#[tokio::test]
async fn every_vector_has_its_outcome_directly_and_through_the_layer() {
    let vectors = vectors();
    let cases = vectors["cases"].as_array().unwrap();
    assert!(cases.len() >= 30, "{} cases", cases.len());
    let (mut accepted, mut rejected) = (0, 0);
    for case in cases {
        let name = &case["name"];
        let scheme = scheme(case);
        let headers = headers(case);
        let body = str_of(case, "body").as_bytes();
        let direct = scheme.verify_body(&headers, body);

        let res = ServiceBuilder::new()
            .layer(VerifyWebhookLayer::new(scheme.clone()))
            .service_fn(echo)
            .oneshot(request::<Full<Bytes>>(case))
            .await
            .unwrap();
        let index = res
            .headers()
            .get("x-key-index")
            .map(|v| v.to_str().unwrap().parse::<usize>().unwrap());

        if let Some(want) = case["expect"]["verified"].as_u64() {
            let want = usize::try_from(want).unwrap();
            assert_eq!(direct.unwrap(), Verified::new(want), "{name}");
            assert_eq!(res.status(), StatusCode::OK, "{name}");
            assert_eq!(index, Some(want), "{name}");
            accepted += 1;
        } else {
            let rejection = direct.expect_err(&name.to_string());
            assert_rejected_as(case, &rejection);
            assert_eq!(res.status(), rejection.status(), "{name}");
            assert_eq!(index, None, "{name}");
            rejected += 1;
        }
    }
    assert!(
        accepted >= 10 && rejected >= 20,
        "{accepted} accepted, {rejected} rejected"
    );
}

#[tokio::test]
async fn header_level_rejections_never_read_the_body() {
    let vectors = vectors();
    let mut header_level = 0;
    for case in vectors["cases"].as_array().unwrap() {
        let name = &case["name"];
        let scheme = Arc::new(scheme(case));
        let checked = scheme.check_headers(&headers(case));
        let expect = &case["expect"];
        match expect["rejected"].as_str() {
            // Stale, malformed, or nothing in the header a configured key could match.
            Some("stale_timestamp" | "bad_header") => {
                assert_rejected_as(case, checked.as_ref().unwrap_err());
            }
            Some("unauthorized") if checked.is_err() => {
                assert_rejected_as(case, checked.as_ref().unwrap_err());
            }
            _ => {
                assert!(checked.is_ok(), "{name}: {checked:?}");
                continue;
            }
        }
        header_level += 1;
        // Through the request future, with a body that panics when read.
        let outcome = scheme.verify(request::<Untouchable>(case), 1 << 20).await;
        assert_rejected_as(case, &outcome.expect_err(&name.to_string()));
    }
    // The stale, future, malformed, too-many-entries and nothing-to-match cases at least.
    assert!(header_level >= 10, "{header_level}");
}

#[test]
fn malformed_public_keys_are_typed_errors_that_do_not_show_the_key() {
    let vectors = vectors();
    let good = str_of(&vectors["keys"][0], "whpk");
    for bad in vectors["invalid_public_keys"].as_array().unwrap() {
        let key = str_of(bad, "key");
        let why = str_of(bad, "problem");
        // Alone, and as the second key after a good one.
        for (keys, index) in [(vec![key], 0), (vec![good, key], 1)] {
            let err = StandardWebhooks::with_public_keys(&keys).unwrap_err();
            match &err {
                ConfigError::InvalidPublicKey { index: i, problem } => {
                    assert_eq!(*i, index, "{key}");
                    assert!(problem.contains(why), "{key}: {problem}, expected {why}");
                }
                other => panic!("{key}: {other:?}"),
            }
            let shown = format!("{err} {err:?}");
            let material = key.trim_start_matches("whpk_").trim_start_matches("whsec_");
            assert!(material.len() < 8 || !shown.contains(material), "{shown}");
            // The same through the builder method on a symmetric verifier.
            let err = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
                .unwrap()
                .public_keys(&keys)
                .unwrap_err();
            assert!(matches!(err, ConfigError::InvalidPublicKey { index: i, .. } if i == index));
        }
    }
    assert!(matches!(
        StandardWebhooks::with_public_keys(Vec::<&str>::new()),
        Err(ConfigError::NoPublicKeys)
    ));
}

#[test]
fn debug_shows_counts_not_keys() {
    let vectors = vectors();
    let keys: Vec<&str> = vectors["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| str_of(k, "whpk"))
        .collect();
    let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        .unwrap()
        .public_keys(&keys)
        .unwrap();
    assert_eq!((scheme.secret_count(), scheme.public_key_count()), (1, 3));
    let shown = format!("{scheme:?}");
    assert!(shown.contains("public_keys: 3"), "{shown}");
    for key in keys {
        assert!(!shown.contains(&key[5..15]), "{shown}");
    }
    assert!(!shown.contains("MfKQ9r8"), "{shown}");
}

#[test]
fn public_keys_replace_earlier_ones_and_keep_the_secrets() {
    let vectors = vectors();
    let case = vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "one_key")
        .unwrap();
    let (a, b) = (
        str_of(&vectors["keys"][0], "whpk"),
        str_of(&vectors["keys"][1], "whpk"),
    );
    let now = UNIX_EPOCH + Duration::from_secs(case["now"].as_u64().unwrap());
    let scheme = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])
        .unwrap()
        .clock(move || now)
        .public_keys([a])
        .unwrap()
        .public_keys([b])
        .unwrap();
    assert_eq!((scheme.secret_count(), scheme.public_key_count()), (1, 1));
    // Signed by A, which is no longer configured.
    let body = str_of(case, "body").as_bytes();
    assert!(matches!(
        scheme.verify_body(&headers(case), body),
        Err(Rejection::Unauthorized)
    ));
    let scheme = scheme.public_keys([b, a]).unwrap();
    assert_eq!(
        scheme.verify_body(&headers(case), body).unwrap(),
        Verified::new(2)
    );
}

#[test]
fn too_many_v1a_entries_is_a_400_naming_the_header() {
    let vectors = vectors();
    let case = vectors["cases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["name"] == "nine_v1a_entries")
        .unwrap();
    match scheme(case).check_headers(&headers(case)) {
        Err(
            r @ Rejection::BadHeader {
                header: "webhook-signature",
                problem: HeaderProblem::Malformed(_),
            },
        ) => assert_eq!(r.status(), StatusCode::BAD_REQUEST),
        other => panic!("{other:?}"),
    }
    // A receiver without public keys skips v1a entries, however many.
    let secret_only = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"]).unwrap();
    let now = UNIX_EPOCH + Duration::from_secs(case["now"].as_u64().unwrap());
    assert!(matches!(
        secret_only.clock(move || now).check_headers(&headers(case)),
        Err(Rejection::Unauthorized)
    ));
}

#[test]
fn the_testing_signer_reproduces_the_independent_signatures() {
    let vectors = vectors();
    let signing = &vectors["signing"];
    let key = vectors["keys"]
        .as_array()
        .unwrap()
        .iter()
        .find(|k| k["name"] == signing["key"])
        .unwrap();
    let (id, ts, body) = (
        str_of(signing, "id"),
        signing["timestamp"].as_i64().unwrap(),
        str_of(signing, "body"),
    );
    // ed25519 is deterministic: the same key and message give OpenSSL's exact bytes, from
    // either form of the signing key.
    for form in ["whsk", "whsk_seed"] {
        let signing_key = str_of(key, form);
        assert_eq!(
            testing::standard_webhooks_v1a_signature(signing_key, id, ts, body.as_bytes()),
            str_of(signing, "signature"),
            "{form}"
        );
        assert_eq!(
            testing::standard_webhooks_public_key(signing_key),
            str_of(key, "whpk"),
            "{form}"
        );
    }
    // The seed form of every key, re-encoded as a key pair, is the script's whsk.
    for key in vectors["keys"].as_array().unwrap() {
        let seed: [u8; 32] = hex::decode(str_of(key, "seed_hex"))
            .unwrap()
            .try_into()
            .unwrap();
        assert_eq!(
            testing::standard_webhooks_signing_key(seed),
            str_of(key, "whsk")
        );
    }
}

#[test]
#[should_panic(expected = "public half")]
fn the_testing_signer_refuses_a_mismatched_key_pair() {
    let vectors = vectors();
    // Seed of key A with the public key of key B.
    let seed = hex::decode(str_of(&vectors["keys"][0], "seed_hex")).unwrap();
    let b = str_of(&vectors["keys"][1], "whpk").trim_start_matches("whpk_");
    let b = base64::Engine::decode(&base64::engine::general_purpose::STANDARD, b).unwrap();
    let pair = [seed, b].concat();
    let key = format!(
        "whsk_{}",
        base64::Engine::encode(&base64::engine::general_purpose::STANDARD, pair)
    );
    testing::standard_webhooks_v1a_signature(&key, "msg_1", 0, b"{}");
}

#[tokio::test]
async fn testing_requests_pass_a_mixed_receiver_and_rotation_reports_the_key() {
    let old_secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
    let new_key = testing::standard_webhooks_signing_key([42; 32]);
    let other_key = testing::standard_webhooks_signing_key([43; 32]);
    let scheme = StandardWebhooks::new([old_secret])
        .unwrap()
        .public_keys([
            testing::standard_webhooks_public_key(&other_key),
            testing::standard_webhooks_public_key(&new_key),
        ])
        .unwrap();
    let svc = ServiceBuilder::new()
        .layer(VerifyWebhookLayer::new(scheme))
        .service_fn(echo);
    let index = |res: &Response<Full<Bytes>>| {
        res.headers()
            .get("x-key-index")
            .map(|v| v.to_str().unwrap().to_owned())
    };

    let now = testing::unix_now();
    let req = testing::standard_webhooks_v1a_request("/", &new_key, "msg_1", now, "{}");
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(
        (res.status(), index(&res).as_deref()),
        (StatusCode::OK, Some("2"))
    );

    // Both entries in one header, as a sender in the middle of the move sends them.
    let mut req: Request<Full<Bytes>> =
        testing::standard_webhooks_request("/", old_secret, "msg_2", now, "{}");
    let v1 = req.headers()["webhook-signature"]
        .to_str()
        .unwrap()
        .to_owned();
    let v1a = testing::standard_webhooks_v1a_signature(&new_key, "msg_2", now, b"{}");
    req.headers_mut()
        .insert("webhook-signature", format!("{v1a} {v1}").parse().unwrap());
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(
        (res.status(), index(&res).as_deref()),
        (StatusCode::OK, Some("0"))
    );

    // An hour old: the same tolerance as v1.
    let req = testing::standard_webhooks_v1a_request("/", &new_key, "msg_3", now - 3600, "{}");
    let res = svc.clone().oneshot(req).await.unwrap();
    assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
    let body = res.into_body().collect().await.unwrap().to_bytes();
    assert!(
        String::from_utf8_lossy(&body).contains("timestamp"),
        "{body:?}"
    );
}

// ===== the example receiver and the test sender, as separate processes =====

#[cfg(all(unix, feature = "chirp", feature = "hmac"))]
mod support;

/// `send --signing-key` against `standard_receiver` started with the key `send
/// --print-public-key` printed: genuine `v1a` deliveries accepted once, tampered ones rejected.
#[cfg(all(unix, feature = "chirp", feature = "hmac"))]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_example_sender_signs_v1a_for_the_example_receiver() {
    use support::process::{Running, example_binary};

    let signing_key = testing::standard_webhooks_signing_key([42; 32]);
    let send = |args: Vec<String>| async move {
        let out = tokio::process::Command::new(example_binary("send"))
            .args(&args)
            .output()
            .await
            .unwrap();
        (
            out.status.code(),
            String::from_utf8(out.stdout).unwrap(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    };
    let args = |more: &[&str]| -> Vec<String> {
        ["--signing-key", signing_key.as_str()]
            .iter()
            .chain(more)
            .map(|s| (*s).to_owned())
            .collect()
    };
    let (code, printed, _) = send(args(&["--print-public-key"])).await;
    assert_eq!(code, Some(0));
    let public_key = printed.trim().to_owned();
    assert_eq!(
        public_key,
        testing::standard_webhooks_public_key(&signing_key)
    );

    let receiver = Running::start(
        "standard_receiver",
        &[("STANDARD_WEBHOOKS_PUBLIC_KEY", public_key.as_str())],
    )
    .await;
    let url = format!("http://{}/webhook", receiver.addr);
    let (code, stdout, stderr) = send(args(&[
        "--scheme",
        "standard",
        "--url",
        &url,
        "--event",
        "user.created",
        "--tamper",
        "--redeliver",
        "2",
    ]))
    .await;
    assert_eq!(code, Some(0), "{stdout}{stderr}");
    let answers: Vec<(&str, &str)> = stdout
        .lines()
        .map(|line| {
            let mut words = line.split_whitespace().skip(1);
            (words.next().unwrap(), words.next().unwrap())
        })
        .collect();
    assert_eq!(
        answers,
        [
            ("wrong-signature", "401"),
            ("altered-body", "401"),
            ("missing-header", "400"),
            ("delivery", "200"),
            ("redelivery#2", "200"),
        ]
    );
    assert!(stdout.contains(r#""duplicate":true"#), "{stdout}");
    let lines = receiver.stop().await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event"], "user.created");
}
