//! Signed requests for your own tests (feature `testing`).
//!
//! Build a request the way a sender would, then drive your service through the real
//! [`VerifyWebhookLayer`](crate::stack::VerifyWebhookLayer) with `tower::ServiceExt::oneshot`
//! (or your axum `Router`). The body type is generic: anything `From<Bytes>`, such as
//! `axum::body::Body` or `http_body_util::Full<Bytes>`.
//!
//! Every request is a `POST` with `Content-Type: application/json`; add or change headers on the
//! returned [`Request`] as needed.
//!
//! | Scheme | Helpers |
//! |---|---|
//! | [`SharedSecret`](crate::verify::SharedSecret) | [`shared_secret_request`] |
//! | `HmacSha256` (feature `hmac`) | `hmac_sha256_request`, `hmac_sha256_hex` |
//! | `StandardWebhooks` (feature `standard-webhooks`) | `standard_webhooks_request`, `standard_webhooks_signature`, [`unix_now`] |
//! | `StandardWebhooks` `v1a`, ed25519 (feature `standard-webhooks`) | `standard_webhooks_v1a_request`, `standard_webhooks_v1a_signature`, `standard_webhooks_signing_key`, `standard_webhooks_public_key` |
//! | the [`providers`](crate::providers) presets (feature `providers`) | `stripe_request`, `stripe_signature`, `github_request`, `slack_request`, `shopify_request` |
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use webhook_receiver::testing;
//! use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhookLayer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let svc = ServiceBuilder::new()
//!     .layer(VerifyWebhookLayer::new(SharedSecret::new(["s3cr3t"]).unwrap()))
//!     .service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
//!     });
//!
//! let req = testing::shared_secret_request("/webhooks", "s3cr3t", r#"{"id":"evt_1"}"#);
//! assert_eq!(svc.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
//!
//! let req = testing::shared_secret_request("/webhooks", "wrong", r#"{"id":"evt_1"}"#);
//! assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
//! # }
//! ```
//!
//! # Testing your handlers
//!
//! Build correctly signed requests and drive your real stack with `oneshot`: the
//! [`Webhooks`](crate::Webhooks) value [`spawn`](crate::WebhooksBuilder::spawn) returned, or the
//! axum app it is mounted on. The handlers run after the 200, as in production, so let them
//! report to your test (here through a channel in the state) and
//! [`drain`](crate::Webhooks::drain) before checking what did not happen.
//!
//! ```
//! # #[cfg(feature = "chirp")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), webhook_receiver::BoxError> {
//! use std::time::Duration;
//! use http::StatusCode;
//! use tower::ServiceExt;
//! use webhook_receiver::chirp::{self, MessageStatus};
//! use webhook_receiver::testing::shared_secret_request;
//!
//! let (tx, mut ran) = tokio::sync::mpsc::unbounded_channel::<String>();
//! let webhooks = chirp::webhooks(["secret"])?
//!     .state(tx)
//!     .on(chirp::SMS_DELIVERED, |status: MessageStatus, ctx| async move {
//!         ctx.state().send(status.id).unwrap();
//!     })
//!     .spawn();
//!
//! let body = r#"{"event":"messages.sms.delivered","data":{"id":"msg_1","status":"delivered"}}"#;
//! let post = || shared_secret_request::<axum::body::Body>("/webhooks/chirp", "secret", body);
//! let res = webhooks.clone().oneshot(post()).await?;
//! assert_eq!(res.status(), StatusCode::OK);
//! assert_eq!(ran.recv().await.as_deref(), Some("msg_1")); // the handler ran
//!
//! let res = webhooks.clone().oneshot(post()).await?; // a redelivery: 200, not run again
//! assert_eq!(res.status(), StatusCode::OK);
//! webhooks.drain(Duration::from_secs(5)).await?;
//! assert!(ran.try_recv().is_err());
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "chirp"))]
//! # fn main() {}
//! ```

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use http::{Request, header};

use crate::verify::DEFAULT_SECRET_HEADER;

/// A `POST` to `uri` with a JSON content type, `headers`, and `body`.
fn post<B: From<Bytes>>(uri: &str, headers: &[(&str, &str)], body: Bytes) -> Request<B> {
    let mut builder = Request::post(uri).header(header::CONTENT_TYPE, "application/json");
    for (name, value) in headers {
        builder = builder.header(*name, *value);
    }
    builder
        .body(B::from(body))
        .expect("invalid URI or header value for a test request")
}

/// A request authenticated with a shared secret in `X-Webhook-Secret`
/// ([`SharedSecret`](crate::verify::SharedSecret)'s default header).
///
/// ```
/// use http_body_util::Full;
/// use bytes::Bytes;
/// use webhook_receiver::testing::shared_secret_request;
///
/// let req = shared_secret_request::<Full<Bytes>>("/webhooks", "s3cr3t", r#"{"id":"evt_1"}"#);
/// assert_eq!(req.method(), http::Method::POST);
/// assert_eq!(req.headers()["x-webhook-secret"], "s3cr3t");
/// assert_eq!(req.headers()["content-type"], "application/json");
/// ```
///
/// # Panics
///
/// If `uri` is not a valid URI or `secret` is not a valid header value.
pub fn shared_secret_request<B: From<Bytes>>(
    uri: &str,
    secret: &str,
    body: impl Into<Bytes>,
) -> Request<B> {
    post(uri, &[(DEFAULT_SECRET_HEADER, secret)], body.into())
}

/// The lowercase-hex HMAC-SHA256 of `body` keyed with `secret`: the value of
/// `X-Webhook-Signature` for [`HmacSha256`](crate::verify::HmacSha256) (prefix it with
/// `sha256=` for GitHub's `X-Hub-Signature-256`).
///
/// ```
/// use webhook_receiver::testing::hmac_sha256_hex;
///
/// assert_eq!(
///     hmac_sha256_hex("It's a Secret to Everybody", "Hello, World!"),
///     "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
/// );
///
/// // A GitHub-style request.
/// let body = r#"{"zen":"Keep it logically awesome."}"#;
/// let req = http::Request::post("/github")
///     .header("x-github-event", "ping")
///     .header("x-hub-signature-256", format!("sha256={}", hmac_sha256_hex("s3cr3t", body)))
///     .body(body.to_owned())
///     .unwrap();
/// # let _ = req;
/// ```
#[cfg(feature = "hmac")]
#[cfg_attr(docsrs, doc(cfg(feature = "hmac")))]
pub fn hmac_sha256_hex(secret: impl AsRef<[u8]>, body: impl AsRef<[u8]>) -> String {
    use ::hmac::{Hmac, Mac};

    let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_ref())
        .expect("HMAC accepts keys of any length");
    mac.update(body.as_ref());
    hex::encode(mac.finalize().into_bytes())
}

/// A request signed with [`HmacSha256`](crate::verify::HmacSha256)'s default format:
/// `X-Webhook-Signature: <hex HMAC-SHA256 of the body>`.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{ServiceBuilder, ServiceExt};
/// use webhook_receiver::testing::hmac_sha256_request;
/// use webhook_receiver::verify::{HmacSha256}; use webhook_receiver::stack::VerifyWebhookLayer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let svc = ServiceBuilder::new()
///     .layer(VerifyWebhookLayer::new(HmacSha256::new(["s3cr3t"]).unwrap()))
///     .service_fn(|_req: Request<Full<Bytes>>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
///     });
///
/// let req = hmac_sha256_request("/webhooks", "s3cr3t", r#"{"id":"evt_1"}"#);
/// assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::OK);
/// # }
/// ```
///
/// # Panics
///
/// If `uri` is not a valid URI.
#[cfg(feature = "hmac")]
#[cfg_attr(docsrs, doc(cfg(feature = "hmac")))]
pub fn hmac_sha256_request<B: From<Bytes>>(
    uri: &str,
    secret: impl AsRef<[u8]>,
    body: impl Into<Bytes>,
) -> Request<B> {
    let body = body.into();
    let signature = hmac_sha256_hex(secret, &body);
    post(
        uri,
        &[(crate::verify::DEFAULT_SIGNATURE_HEADER, &signature)],
        body,
    )
}

/// The `webhook-signature` value (`v1,<base64>`) for a Standard Webhooks message signed with
/// `secret` (`whsec_<base64>`).
///
/// ```
/// use webhook_receiver::testing::standard_webhooks_signature;
///
/// let signature = standard_webhooks_signature(
///     "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
///     "msg_p5jXN8AQM9LWM0D4loKWxJek",
///     1_614_265_330,
///     r#"{"test": 2432232314}"#,
/// );
/// assert_eq!(signature, "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE=");
/// ```
///
/// # Panics
///
/// If `secret` is not a valid Standard Webhooks secret.
#[cfg(feature = "standard-webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "standard-webhooks")))]
pub fn standard_webhooks_signature(
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: impl AsRef<[u8]>,
) -> String {
    crate::verify::StandardWebhooks::new([secret])
        .expect("invalid Standard Webhooks secret")
        .sign(msg_id, timestamp, body.as_ref())
}

/// A request signed with the Standard Webhooks scheme: `webhook-id: msg_id`,
/// `webhook-timestamp: timestamp` and `webhook-signature: v1,<base64>`.
///
/// Pass [`unix_now()`] as the timestamp to test against the system clock.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{ServiceBuilder, ServiceExt};
/// use webhook_receiver::testing::{standard_webhooks_request, unix_now};
/// use webhook_receiver::verify::{StandardWebhooks}; use webhook_receiver::stack::VerifyWebhookLayer;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// let svc = ServiceBuilder::new()
///     .layer(VerifyWebhookLayer::new(StandardWebhooks::new([secret]).unwrap()))
///     .service_fn(|_req: Request<Full<Bytes>>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
///     });
///
/// let req = standard_webhooks_request("/webhooks", secret, "msg_1", unix_now(), r#"{"id":"evt_1"}"#);
/// assert_eq!(req.headers()["webhook-id"], "msg_1");
/// assert_eq!(svc.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
///
/// // An hour old: rejected as stale.
/// let req = standard_webhooks_request("/webhooks", secret, "msg_1", unix_now() - 3600, "{}");
/// assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
/// # }
/// ```
///
/// # Panics
///
/// If `uri` is not a valid URI, `msg_id` not a valid header value, or `secret` not a valid
/// Standard Webhooks secret.
#[cfg(feature = "standard-webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "standard-webhooks")))]
pub fn standard_webhooks_request<B: From<Bytes>>(
    uri: &str,
    secret: &str,
    msg_id: &str,
    timestamp: i64,
    body: impl Into<Bytes>,
) -> Request<B> {
    use crate::verify::{WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER};

    let body = body.into();
    let signature = standard_webhooks_signature(secret, msg_id, timestamp, &body);
    post(
        uri,
        &[
            (WEBHOOK_ID_HEADER, msg_id),
            (WEBHOOK_TIMESTAMP_HEADER, &timestamp.to_string()),
            (WEBHOOK_SIGNATURE_HEADER, &signature),
        ],
        body,
    )
}

/// The current unix time in seconds, from the system clock: a timestamp the default
/// `StandardWebhooks` clock accepts.
///
/// ```
/// let now = webhook_receiver::testing::unix_now();
/// assert!(now > 1_700_000_000);
/// ```
pub fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

// ===== Standard Webhooks v1a (ed25519) =====
//
// The sender's side of `v1a`: a `whsk_` signing key signs, its `whpk_` public key is what the
// receiver is configured with (`StandardWebhooks::with_public_keys`).

/// The `whsk_` prefix of Standard Webhooks ed25519 signing (secret) keys.
#[cfg(feature = "standard-webhooks")]
const SIGNING_KEY_PREFIX: &str = "whsk_";

/// A Standard Webhooks signing key made from a fixed 32-byte ed25519 seed (RFC 8032's secret
/// key): `whsk_` and the base64 of the 64-byte key pair (seed, then public key). Tests derive
/// their keys this way so that they need no randomness and stay reproducible.
///
/// ```
/// use webhook_receiver::testing::{standard_webhooks_public_key, standard_webhooks_signing_key};
///
/// let signing_key = standard_webhooks_signing_key([7; 32]);
/// assert!(signing_key.starts_with("whsk_"));
/// let public_key = standard_webhooks_public_key(&signing_key); // whpk_...
/// // As Python's `cryptography` (OpenSSL) derives it from the same seed.
/// assert_eq!(public_key, "whpk_6kpsY+KcUgq+9VB7Ey7F+ZVHdq6+vnuSQh7qaRRG0iw=");
/// ```
#[cfg(feature = "standard-webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "standard-webhooks")))]
pub fn standard_webhooks_signing_key(seed: [u8; 32]) -> String {
    use base64::Engine as _;

    let key = ed25519_dalek::SigningKey::from_bytes(&seed);
    let encoded = base64::engine::general_purpose::STANDARD.encode(key.to_keypair_bytes());
    format!("{SIGNING_KEY_PREFIX}{encoded}")
}

/// The `whpk_` public key of a `whsk_` signing key: what the receiver is configured with.
///
/// ```
/// use webhook_receiver::testing::{standard_webhooks_public_key, standard_webhooks_signing_key};
/// use webhook_receiver::verify::StandardWebhooks;
///
/// let signing_key = standard_webhooks_signing_key([7; 32]);
/// let scheme = StandardWebhooks::with_public_keys([standard_webhooks_public_key(&signing_key)]);
/// assert_eq!(scheme.unwrap().public_key_count(), 1);
/// ```
///
/// # Panics
///
/// If `signing_key` is not a Standard Webhooks signing key (see
/// [`standard_webhooks_v1a_signature`]).
#[cfg(feature = "standard-webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "standard-webhooks")))]
pub fn standard_webhooks_public_key(signing_key: &str) -> String {
    use base64::Engine as _;

    let key = parse_signing_key(signing_key).verifying_key();
    let encoded = base64::engine::general_purpose::STANDARD.encode(key.as_bytes());
    format!("whpk_{encoded}")
}

/// The `webhook-signature` entry (`v1a,<base64>`) for a Standard Webhooks message signed with
/// the ed25519 key `signing_key`: `whsk_` and the base64 of either the 32-byte seed or the
/// 64-byte key pair (seed, then public key). ed25519 signatures are deterministic: the same
/// key and message always give the same entry. To send `v1` and `v1a` at once, join entries
/// with a space.
///
/// ```
/// use webhook_receiver::testing::{standard_webhooks_signature, standard_webhooks_v1a_signature};
///
/// let signing_key = "whsk_R0dPN3VhZ5rFNTJ83ft8NrsOgbXXl99vC2p3fEYo5cc="; // a 32-byte seed
/// let v1a = standard_webhooks_v1a_signature(signing_key, "msg_1", 1_700_000_000, b"{}");
/// assert!(v1a.starts_with("v1a,"));
/// let secret = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw";
/// let v1 = standard_webhooks_signature(secret, "msg_1", 1_700_000_000, b"{}");
/// let header = format!("{v1} {v1a}"); // a sender moving from whsec_ to whsk_
/// # assert_eq!(header.split(' ').count(), 2);
/// ```
///
/// # Panics
///
/// If `signing_key` lacks the `whsk_` prefix, is not base64, is neither 32 nor 64 bytes long,
/// or is a 64-byte pair whose public half does not belong to its seed.
#[cfg(feature = "standard-webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "standard-webhooks")))]
pub fn standard_webhooks_v1a_signature(
    signing_key: &str,
    msg_id: &str,
    timestamp: i64,
    body: &[u8],
) -> String {
    use base64::Engine as _;
    use ed25519_dalek::Signer as _;

    let key = parse_signing_key(signing_key);
    let mut message = format!("{msg_id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let signature = key.sign(&message);
    let encoded = base64::engine::general_purpose::STANDARD.encode(signature.to_bytes());
    format!("v1a,{encoded}")
}

/// A request signed with a Standard Webhooks ed25519 key: `webhook-id: msg_id`,
/// `webhook-timestamp: timestamp`, `webhook-signature: v1a,<base64>`.
///
/// ```
/// use bytes::Bytes;
/// use http::{Request, Response, StatusCode};
/// use http_body_util::Full;
/// use tower::{ServiceBuilder, ServiceExt};
/// use webhook_receiver::stack::VerifyWebhookLayer;
/// use webhook_receiver::testing::{self, unix_now};
/// use webhook_receiver::verify::StandardWebhooks;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let signing_key = testing::standard_webhooks_signing_key([7; 32]); // the sender's
/// let public_key = testing::standard_webhooks_public_key(&signing_key); // the receiver's
/// let scheme = StandardWebhooks::with_public_keys([public_key]).unwrap();
/// let svc = ServiceBuilder::new()
///     .layer(VerifyWebhookLayer::new(scheme))
///     .service_fn(|_req: Request<Full<Bytes>>| async {
///         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
///     });
///
/// let req = testing::standard_webhooks_v1a_request("/webhooks", &signing_key, "msg_1", unix_now(), "{}");
/// assert!(req.headers()["webhook-signature"].to_str().unwrap().starts_with("v1a,"));
/// assert_eq!(svc.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
///
/// // Signed by another key: rejected.
/// let other = testing::standard_webhooks_signing_key([8; 32]);
/// let req = testing::standard_webhooks_v1a_request("/webhooks", &other, "msg_1", unix_now(), "{}");
/// assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
/// # }
/// ```
///
/// # Panics
///
/// If `uri` is not a valid URI, `msg_id` not a valid header value, or `signing_key` not a
/// Standard Webhooks signing key (see [`standard_webhooks_v1a_signature`]).
#[cfg(feature = "standard-webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "standard-webhooks")))]
pub fn standard_webhooks_v1a_request<B: From<Bytes>>(
    uri: &str,
    signing_key: &str,
    msg_id: &str,
    timestamp: i64,
    body: impl Into<Bytes>,
) -> Request<B> {
    use crate::verify::{WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER};

    let body = body.into();
    let signature = standard_webhooks_v1a_signature(signing_key, msg_id, timestamp, &body);
    post(
        uri,
        &[
            (WEBHOOK_ID_HEADER, msg_id),
            (WEBHOOK_TIMESTAMP_HEADER, &timestamp.to_string()),
            (WEBHOOK_SIGNATURE_HEADER, &signature),
        ],
        body,
    )
}

/// Parses a `whsk_` signing key: a 32-byte seed or a 64-byte key pair (checked to be one).
#[cfg(feature = "standard-webhooks")]
#[track_caller]
fn parse_signing_key(signing_key: &str) -> ed25519_dalek::SigningKey {
    use base64::Engine as _;

    let lenient = base64::engine::GeneralPurpose::new(
        &base64::alphabet::STANDARD,
        base64::engine::GeneralPurposeConfig::new()
            .with_decode_padding_mode(base64::engine::DecodePaddingMode::Indifferent),
    );
    let encoded = signing_key
        .strip_prefix(SIGNING_KEY_PREFIX)
        .expect("a Standard Webhooks signing key starts with whsk_");
    let bytes = lenient
        .decode(encoded)
        .expect("a Standard Webhooks signing key is whsk_ and base64");
    if let Ok(seed) = <[u8; 32]>::try_from(bytes.as_slice()) {
        return ed25519_dalek::SigningKey::from_bytes(&seed);
    }
    let pair = <[u8; 64]>::try_from(bytes.as_slice())
        .expect("a Standard Webhooks signing key is a 32-byte seed or a 64-byte key pair");
    ed25519_dalek::SigningKey::from_keypair_bytes(&pair)
        .expect("the public half of the whsk_ key pair does not match its seed")
}

// ===== Provider presets (feature `providers`): Stripe, GitHub, Slack, Shopify =====
//
// Each request is signed the way the sender signs it, with the preset's own scheme
// (`HmacSha256::sign`), whose output `tests/providers.rs` checks against the senders' published
// code (`tests/vectors/providers.json`).

/// The `Stripe-Signature` value, `t=<timestamp>,v1=<hex>`, for `body` signed with `secret` (a
/// `whsec_...` endpoint secret) at `timestamp` (Unix seconds).
///
/// ```
/// use webhook_receiver::testing::stripe_signature;
///
/// // stripe-node's generateTestHeaderString gives the same (tests/vectors/providers.json).
/// let value = stripe_signature("whsec_test_secret", 1_700_000_000, "{}");
/// assert!(value.starts_with("t=1700000000,v1="));
/// assert_eq!(value.len(), "t=1700000000,v1=".len() + 64);
/// ```
#[cfg(feature = "providers")]
#[cfg_attr(docsrs, doc(cfg(feature = "providers")))]
pub fn stripe_signature(secret: &str, timestamp: i64, body: impl AsRef<[u8]>) -> String {
    provider_scheme(crate::providers::stripe::scheme([secret])).sign(timestamp, body.as_ref())
}

/// A request signed as Stripe signs it: `Stripe-Signature: t=<timestamp>,v1=<hex>`. Pass
/// [`unix_now()`] to test against the system clock.
///
/// ```
/// use http::StatusCode;
/// use tower::ServiceExt;
/// use webhook_receiver::providers::stripe;
/// use webhook_receiver::testing::{stripe_request, unix_now};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let webhooks = stripe::webhooks(["whsec_test_secret"]).unwrap().spawn();
/// let body = r#"{"id":"evt_1","type":"charge.succeeded","data":{"object":{}}}"#;
/// let req = stripe_request::<axum::body::Body>("/", "whsec_test_secret", unix_now(), body);
/// assert_eq!(webhooks.clone().oneshot(req).await.unwrap().status(), StatusCode::OK);
/// // Signed an hour ago: out of tolerance.
/// let req = stripe_request::<axum::body::Body>("/", "whsec_test_secret", unix_now() - 3600, body);
/// assert_eq!(webhooks.oneshot(req).await.unwrap().status(), StatusCode::UNAUTHORIZED);
/// # }
/// ```
///
/// # Panics
///
/// If `uri` is not a valid URI or `secret` is empty.
#[cfg(feature = "providers")]
#[cfg_attr(docsrs, doc(cfg(feature = "providers")))]
pub fn stripe_request<B: From<Bytes>>(
    uri: &str,
    secret: &str,
    timestamp: i64,
    body: impl Into<Bytes>,
) -> Request<B> {
    let body = body.into();
    let signature = stripe_signature(secret, timestamp, &body);
    post(
        uri,
        &[(crate::providers::stripe::SIGNATURE_HEADER, &signature)],
        body,
    )
}

/// A request signed as GitHub signs it: `X-Hub-Signature-256: sha256=<hex>`, with
/// `X-GitHub-Event: event` and `X-GitHub-Delivery: delivery`.
///
/// ```
/// use http::StatusCode;
/// use tower::ServiceExt;
/// use webhook_receiver::providers::github;
/// use webhook_receiver::testing::github_request;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let webhooks = github::webhooks(["s3cr3t"]).unwrap().spawn();
/// let req = github_request::<axum::body::Body>("/", "s3cr3t", "ping", "d-1", r#"{"zen":"Keep it logically awesome."}"#);
/// assert_eq!(req.headers()["x-github-event"], "ping");
/// assert_eq!(webhooks.oneshot(req).await.unwrap().status(), StatusCode::OK);
/// # }
/// ```
///
/// # Panics
///
/// If `uri` is not a valid URI, `event` or `delivery` not a valid header value, or `secret`
/// is empty.
#[cfg(feature = "providers")]
#[cfg_attr(docsrs, doc(cfg(feature = "providers")))]
pub fn github_request<B: From<Bytes>>(
    uri: &str,
    secret: &str,
    event: &str,
    delivery: &str,
    body: impl Into<Bytes>,
) -> Request<B> {
    use crate::providers::github;

    let body = body.into();
    let signature = provider_scheme(github::scheme([secret])).sign(0, &body);
    post(
        uri,
        &[
            (github::SIGNATURE_HEADER, &signature),
            (github::EVENT_HEADER, event),
            (github::DELIVERY_HEADER, delivery),
        ],
        body,
    )
}

/// A request signed as Slack signs it: `X-Slack-Request-Timestamp: timestamp` and
/// `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}`. Pass [`unix_now()`] to test
/// against the system clock.
///
/// ```
/// use webhook_receiver::testing::slack_request;
///
/// # let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
/// // Slack's documented example.
/// let req = slack_request::<http_body_util::Full<bytes::Bytes>>(
///     "/",
///     "8f742231b10e8888abcd99yyyzzz85a5",
///     1_531_420_618,
///     body,
/// );
/// assert_eq!(
///     req.headers()["x-slack-signature"],
///     "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503",
/// );
/// ```
///
/// # Panics
///
/// If `uri` is not a valid URI or `secret` is empty.
#[cfg(feature = "providers")]
#[cfg_attr(docsrs, doc(cfg(feature = "providers")))]
pub fn slack_request<B: From<Bytes>>(
    uri: &str,
    secret: &str,
    timestamp: i64,
    body: impl Into<Bytes>,
) -> Request<B> {
    use crate::providers::slack;

    let body = body.into();
    let signature = provider_scheme(slack::scheme([secret])).sign(timestamp, &body);
    post(
        uri,
        &[
            (slack::TIMESTAMP_HEADER, &timestamp.to_string()),
            (slack::SIGNATURE_HEADER, &signature),
        ],
        body,
    )
}

/// A request signed as Shopify signs it: `X-Shopify-Hmac-Sha256: <base64>`, with
/// `X-Shopify-Topic: topic` and `X-Shopify-Event-Id: event_id`.
///
/// ```
/// use http::StatusCode;
/// use tower::ServiceExt;
/// use webhook_receiver::providers::shopify;
/// use webhook_receiver::testing::shopify_request;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let webhooks = shopify::webhooks(["shpss_secret"]).unwrap().spawn();
/// let req = shopify_request::<axum::body::Body>("/", "shpss_secret", "orders/create", "e-1", r#"{"id":1}"#);
/// assert_eq!(webhooks.oneshot(req).await.unwrap().status(), StatusCode::OK);
/// # }
/// ```
///
/// # Panics
///
/// If `uri` is not a valid URI, `topic` or `event_id` not a valid header value, or `secret`
/// is empty.
#[cfg(feature = "providers")]
#[cfg_attr(docsrs, doc(cfg(feature = "providers")))]
pub fn shopify_request<B: From<Bytes>>(
    uri: &str,
    secret: &str,
    topic: &str,
    event_id: &str,
    body: impl Into<Bytes>,
) -> Request<B> {
    use crate::providers::shopify;

    let body = body.into();
    let signature = provider_scheme(shopify::scheme([secret])).sign(0, &body);
    post(
        uri,
        &[
            (shopify::SIGNATURE_HEADER, &signature),
            (shopify::TOPIC_HEADER, topic),
            (shopify::EVENT_ID_HEADER, event_id),
        ],
        body,
    )
}

/// A preset's scheme for a test secret.
#[cfg(feature = "providers")]
#[track_caller]
fn provider_scheme(
    scheme: Result<crate::verify::HmacSha256, crate::verify::ConfigError>,
) -> crate::verify::HmacSha256 {
    scheme.expect("an empty secret")
}
