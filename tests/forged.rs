//! Nobody without a secret gets in: 10,000 forged requests per scheme (shared secret,
//! HMAC-SHA256, Standard Webhooks) through the whole `Webhooks` stack, each scheme with two
//! secrets configured (rotation: old and new) and forged variants of both. Every one is refused
//! (401, or the documented 400 for a missing or malformed Standard Webhooks header, counted
//! apart), none is dispatched, none is remembered: afterwards a genuine delivery of every id
//! used is dispatched. The PRNG is seeded, so a failure names a case that reproduces.
#![cfg(all(feature = "chirp", feature = "hmac", feature = "standard-webhooks"))]

mod support;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use axum::body::Body;
use base64::Engine;
use hmac::{Hmac, Mac};
use http::{HeaderName, HeaderValue, Request, StatusCode};
use sha2::Sha256;
use tower::ServiceExt;
use webhook_receiver::chirp;
use webhook_receiver::json::JsonFormat;
use webhook_receiver::verify::{ConfigError, HmacSha256, SharedSecret, StandardWebhooks};
use webhook_receiver::{Webhooks, WebhooksBuilder};

fn unix_now() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

const SEED: u64 = 0x5EED_F0E5;
const N: usize = 10_000;

const SHARED: [&str; 2] = ["chirp-secret-2025-new", "chirp-secret-2024-old"];
const HMAC: [&str; 2] = ["hmac-secret-new-0123456789", "hmac-secret-old-9876543210"];
// 24 and 32 bytes.
const STANDARD: [&str; 2] = [
    "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
    "whsec_C2FVsBQIhrscChlQIMV+b5sSYspob7oDAAECAwQFBgc=",
];

type Counter = Arc<AtomicUsize>;

/// Every dispatch, whatever the event, goes to the fallback and is counted.
fn counting<F, V>(builder: WebhooksBuilder<F, V>, count: &Counter) -> Webhooks<F, V>
where
    F: webhook_receiver::Format,
    V: Send + Sync + 'static,
{
    let count = count.clone();
    builder
        .queue_capacity(4 * N)
        .fallback(move |_, _| {
            let count = count.clone();
            async move {
                count.fetch_add(1, Ordering::SeqCst);
            }
        })
        .spawn()
}

fn sw_key(secret: &str) -> Vec<u8> {
    base64::engine::general_purpose::STANDARD
        .decode(secret.strip_prefix("whsec_").unwrap())
        .unwrap()
}

fn hmac(key: &[u8], msg: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).unwrap();
    mac.update(msg);
    mac.finalize().into_bytes().to_vec()
}

fn b64(bytes: &[u8]) -> String {
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

fn sw_sign(key: &[u8], id: &str, ts: i64, body: &str) -> String {
    format!(
        "v1,{}",
        b64(&hmac(key, format!("{id}.{ts}.{body}").as_bytes()))
    )
}

fn printable(rng: &mut fastrand::Rng, len: std::ops::Range<usize>) -> Vec<u8> {
    let len = rng.usize(len);
    (0..len).map(|_| rng.u8(0x21..0x7f)).collect()
}

/// `s` with one byte changed to another printable byte.
fn near_miss(rng: &mut fastrand::Rng, s: &[u8]) -> Vec<u8> {
    let mut v = s.to_vec();
    let i = rng.usize(..v.len());
    let old = v[i];
    while v[i] == old {
        v[i] = rng.u8(0x21..0x7f);
    }
    v
}

/// A wrong key near a real one: one byte changed, a proper prefix, an extension, or random.
fn wrong_key(rng: &mut fastrand::Rng, real: &[u8]) -> (&'static str, Vec<u8>) {
    match rng.u8(..4) {
        0 => ("key_one_byte_changed", near_miss(rng, real)),
        1 => ("key_prefix", real[..rng.usize(..real.len())].to_vec()),
        2 => {
            let mut v = real.to_vec();
            v.extend(printable(rng, 1..9));
            ("key_extension", v)
        }
        _ => {
            let len = 0..80;
            ("key_random", printable(rng, len))
        }
    }
}

fn request(uri: &str, body: String, headers: &[(&str, Vec<u8>)]) -> Request<Body> {
    let mut req = Request::post(uri)
        .header("content-type", "application/json")
        .body(Body::from(body))
        .unwrap();
    for (name, value) in headers {
        if let Ok(value) = HeaderValue::from_bytes(value) {
            req.headers_mut()
                .append(HeaderName::from_bytes(name.as_bytes()).unwrap(), value);
        }
    }
    req
}

#[derive(Default)]
struct Tally {
    by_case: BTreeMap<(&'static str, u16), usize>,
}

impl Tally {
    fn add(&mut self, case: &'static str, status: StatusCode) {
        *self.by_case.entry((case, status.as_u16())).or_default() += 1;
    }
    fn count(&self, status: u16) -> usize {
        self.by_case
            .iter()
            .filter(|((_, s), _)| *s == status)
            .map(|(_, n)| n)
            .sum()
    }
}

/// Waits until `count` reaches `n` (a liveness bound), then checks it stays there.
async fn settled(count: &Counter, n: usize) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while count.load(Ordering::SeqCst) < n && tokio::time::Instant::now() < deadline {
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_eq!(count.load(Ordering::SeqCst), n);
}

/// Sends `req` through `webhooks`, records its status under `case`, and fails on a status other
/// than 401 (or 400 where `may_be_400`).
async fn forged<F, V>(
    webhooks: &Webhooks<F, V>,
    tally: &mut Tally,
    n: usize,
    case: &'static str,
    may_be_400: bool,
    req: Request<Body>,
) where
    F: webhook_receiver::Format,
    V: webhook_receiver::verify::VerifyRequest<Body>,
{
    let status = webhooks.clone().oneshot(req).await.unwrap().status();
    let ok =
        status == StatusCode::UNAUTHORIZED || (may_be_400 && status == StatusCode::BAD_REQUEST);
    assert!(
        ok,
        "seed {SEED:#x}, request #{n} ({case}): answered {status}"
    );
    tally.add(case, status);
}

#[tokio::test]
async fn ten_thousand_forged_shared_secrets_are_all_refused() {
    let count = Counter::default();
    let webhooks = counting(chirp::webhooks(SHARED).unwrap(), &count);
    let mut rng = fastrand::Rng::with_seed(SEED);
    let mut tally = Tally::default();
    for n in 0..N {
        let real = SHARED[n % 2].as_bytes();
        let (case, value): (&'static str, Option<Vec<u8>>) = match rng.u8(..7) {
            0 => ("one_byte_changed", Some(near_miss(&mut rng, real))),
            1 => ("prefix", Some(real[..rng.usize(..real.len())].to_vec())),
            2 => {
                let mut v = real.to_vec();
                v.extend(printable(&mut rng, 1..9));
                ("extension", Some(v))
            }
            3 => ("other_scheme_secret", Some(HMAC[n % 2].as_bytes().to_vec())),
            4 => (
                "both_secrets_joined",
                Some([SHARED[0], SHARED[1]].join(",").into_bytes()),
            ),
            5 => ("missing", None),
            _ => {
                let len = 0..96;
                ("random", Some(printable(&mut rng, len)))
            }
        };
        let headers: Vec<(&str, Vec<u8>)> =
            value.into_iter().map(|v| ("x-webhook-secret", v)).collect();
        let req = request(support::URI, support::delivered(&format!("f{n}")), &headers);
        forged(&webhooks, &mut tally, n, case, false, req).await;
    }
    assert_eq!(tally.count(401), N, "{:?}", tally.by_case);
    settled(&count, 0).await;
    assert!(
        webhooks.store().is_empty(),
        "a forged request was remembered"
    );
    // Every id is still new: its genuine delivery (either secret) is dispatched.
    for n in 0..N {
        let req = request(
            support::URI,
            support::delivered(&format!("f{n}")),
            &[("x-webhook-secret", SHARED[n % 2].as_bytes().to_vec())],
        );
        let res = webhooks.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "genuine #{n}");
    }
    settled(&count, N).await;
}

#[tokio::test]
async fn ten_thousand_forged_hmac_signatures_are_all_refused() {
    let count = Counter::default();
    let format = JsonFormat::<serde_json::Value>::new();
    let webhooks = counting(
        Webhooks::builder(format, HmacSha256::new(HMAC).unwrap()),
        &count,
    );
    let body = |n: usize| format!(r#"{{"type":"user.created","id":"f{n}","data":{{"n":{n}}}}}"#);
    let mut rng = fastrand::Rng::with_seed(SEED ^ 1);
    let mut tally = Tally::default();
    for n in 0..N {
        let secret = HMAC[n % 2].as_bytes();
        let b = body(n);
        let real = hex::encode(hmac(secret, b.as_bytes()));
        let (case, sig, sent): (&'static str, Option<String>, String) = match rng.u8(..8) {
            0 => {
                let (case, key) = wrong_key(&mut rng, secret);
                (case, Some(hex::encode(hmac(&key, b.as_bytes()))), b)
            }
            1 => (
                "sig_one_char_changed",
                Some(String::from_utf8(near_miss_hex(&mut rng, &real)).unwrap()),
                b,
            ),
            2 => (
                "sig_truncated",
                Some(real[..rng.usize(..real.len())].to_owned()),
                b,
            ),
            3 => (
                "sig_extended",
                Some(format!("{real}{}", hex::encode(printable(&mut rng, 1..4)))),
                b,
            ),
            4 => {
                // Signed, then one byte of the body altered.
                let mut altered = b.into_bytes();
                let i = rng.usize(..altered.len());
                altered[i] = if altered[i] == b'0' { b'1' } else { b'0' };
                (
                    "body_altered",
                    Some(real),
                    String::from_utf8(altered).unwrap(),
                )
            }
            5 => (
                "other_body_signed",
                Some(hex::encode(hmac(secret, body(n + N).as_bytes()))),
                b,
            ),
            6 => ("missing", None, b),
            _ => ("random", Some(hex::encode(printable(&mut rng, 32..33))), b),
        };
        let headers: Vec<(&str, Vec<u8>)> = sig
            .into_iter()
            .map(|s| ("x-webhook-signature", s.into_bytes()))
            .collect();
        let req = request("/webhook", sent, &headers);
        forged(&webhooks, &mut tally, n, case, false, req).await;
    }
    assert_eq!(tally.count(401), N, "{:?}", tally.by_case);
    settled(&count, 0).await;
    assert!(
        webhooks.store().is_empty(),
        "a forged request was remembered"
    );
    for n in 0..N {
        let b = body(n);
        let sig = hex::encode(hmac(HMAC[n % 2].as_bytes(), b.as_bytes()));
        let req = request("/webhook", b, &[("x-webhook-signature", sig.into_bytes())]);
        let res = webhooks.clone().oneshot(req).await.unwrap();
        assert_eq!(res.status(), StatusCode::OK, "genuine #{n}");
    }
    settled(&count, N).await;
}

/// A hex string with one digit changed to another hex digit.
fn near_miss_hex(rng: &mut fastrand::Rng, hex: &str) -> Vec<u8> {
    let mut v = hex.as_bytes().to_vec();
    let i = rng.usize(..v.len());
    let old = v[i];
    while v[i] == old {
        v[i] = b"0123456789abcdef"[rng.usize(..16)];
    }
    v
}

#[tokio::test]
async fn ten_thousand_forged_standard_webhooks_are_all_refused() {
    let count = Counter::default();
    let format = JsonFormat::<serde_json::Value>::new().key_header("webhook-id");
    let webhooks = counting(
        Webhooks::builder(format, StandardWebhooks::new(STANDARD).unwrap()),
        &count,
    );
    let keys = [sw_key(STANDARD[0]), sw_key(STANDARD[1])];
    let body = |n: usize| {
        format!(
            r#"{{"type":"invoice.paid","timestamp":"2026-01-15T12:30:00Z","data":{{"n":{n}}}}}"#
        )
    };
    let now = unix_now();
    let mut rng = fastrand::Rng::with_seed(SEED ^ 2);
    let mut tally = Tally::default();
    for n in 0..N {
        let key = &keys[n % 2];
        let id = format!("msg_f{n}");
        let b = body(n);
        let real = sw_sign(key, &id, now, &b);
        let mut ts = now.to_string();
        let mut sent_id = id.clone();
        let mut sent_body = b.clone();
        let (case, sig, may_be_400): (&'static str, Option<String>, bool) = match rng.u8(..11) {
            0 => {
                let (case, wrong) = wrong_key(&mut rng, key);
                (case, Some(sw_sign(&wrong, &id, now, &b)), false)
            }
            1 => {
                // One base64 character of the real signature changed.
                let mut v = real.clone().into_bytes();
                let i = rng.usize(3..v.len() - 1);
                let old = v[i];
                while v[i] == old {
                    v[i] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/"
                        [rng.usize(..64)];
                }
                (
                    "sig_one_char_changed",
                    Some(String::from_utf8(v).unwrap()),
                    false,
                )
            }
            2 => (
                "sig_truncated",
                Some(real[..rng.usize(3..real.len() - 1)].to_owned()),
                false,
            ),
            3 => ("other_version", Some(real.replacen("v1,", "v2,", 1)), false),
            4 => {
                ts = (now + rng.i64(1..200)).to_string();
                ("timestamp_altered", Some(real), false)
            }
            5 => {
                // Correctly signed, but outside the tolerance (a replay of an old capture).
                let old = now - rng.i64(301..100_000);
                ts = old.to_string();
                ("stale_but_signed", Some(sw_sign(key, &id, old, &b)), false)
            }
            6 => {
                sent_id = format!("msg_g{n}");
                ("id_altered", Some(real), false)
            }
            7 => {
                sent_body = body(n + N);
                ("body_altered", Some(real), false)
            }
            8 => {
                let fake = format!("v1,{}", b64(&printable(&mut rng, 32..33)));
                (
                    "several_wrong",
                    Some(format!(
                        "{fake} {}",
                        sw_sign(&near_miss(&mut rng, key), &id, now, &b)
                    )),
                    false,
                )
            }
            9 => ("missing_signature", None, true),
            _ => {
                ts = ["", "abc", "1e9", "-"][rng.usize(..4)].to_owned();
                ("timestamp_malformed", Some(real), true)
            }
        };
        let mut headers: Vec<(&str, Vec<u8>)> = vec![
            ("webhook-id", sent_id.into_bytes()),
            ("webhook-timestamp", ts.into_bytes()),
        ];
        headers.extend(sig.map(|s| ("webhook-signature", s.into_bytes())));
        let req = request("/webhook", sent_body, &headers);
        forged(&webhooks, &mut tally, n, case, may_be_400, req).await;
    }
    assert_eq!(
        tally.count(401) + tally.count(400),
        N,
        "{:?}",
        tally.by_case
    );
    assert!(
        tally.count(400) > 0 && tally.count(401) > 0,
        "{:?}",
        tally.by_case
    );
    settled(&count, 0).await;
    assert!(
        webhooks.store().is_empty(),
        "a forged request was remembered"
    );
    for n in 0..N {
        let (id, b) = (format!("msg_f{n}"), body(n));
        let sig = sw_sign(&keys[n % 2], &id, now, &b);
        let headers = [
            ("webhook-id", id.into_bytes()),
            ("webhook-timestamp", now.to_string().into_bytes()),
            ("webhook-signature", sig.into_bytes()),
        ];
        let res = webhooks
            .clone()
            .oneshot(request("/webhook", b, &headers))
            .await
            .unwrap();
        assert_eq!(res.status(), StatusCode::OK, "genuine #{n}");
    }
    settled(&count, N).await;
}

#[test]
fn empty_and_short_secrets_are_refused_at_startup() {
    assert!(matches!(
        SharedSecret::new(["a", ""]),
        Err(ConfigError::EmptySecret(1))
    ));
    assert!(matches!(
        SharedSecret::new(Vec::<&str>::new()),
        Err(ConfigError::NoSecrets)
    ));
    assert!(matches!(
        chirp::webhooks([""]),
        Err(ConfigError::EmptySecret(0))
    ));
    assert!(matches!(
        HmacSha256::new(["a", ""]),
        Err(ConfigError::EmptySecret(1))
    ));
    assert!(matches!(
        StandardWebhooks::new([STANDARD[0], "whsec_"]),
        Err(ConfigError::EmptySecret(1))
    ));
    // The spec's keys are 24 to 64 bytes; 23 is refused, with a message that says so.
    let short = format!("whsec_{}", b64(&[7; 23]));
    let err = StandardWebhooks::new([STANDARD[0], short.as_str()]).unwrap_err();
    assert!(matches!(
        err,
        ConfigError::SecretTooShort {
            index: 1,
            len: 23,
            min: 24
        }
    ));
    assert_eq!(
        err.to_string(),
        "secret #1 is 23 bytes long; at least 24 are required"
    );
    assert!(StandardWebhooks::new([format!("whsec_{}", b64(&[7; 24]))]).is_ok());
}

/// The examples' comma-separated lists: an empty entry stops the start.
#[cfg(unix)]
#[test]
fn the_examples_refuse_an_empty_entry_in_a_secret_list() {
    let bin = support::process::example_binary("chirp_receiver");
    for list in ["a,,b", "a,", ",a"] {
        let out = std::process::Command::new(&bin)
            .env("ADDR", support::process::free_port().to_string())
            .env("CHIRP_WEBHOOK_SECRET", list)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{list}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(
            stderr.contains("CHIRP_WEBHOOK_SECRET") && stderr.contains("empty"),
            "{stderr}"
        );
    }
}
