//! Middleware that authenticates webhook requests before anything else happens.
//!
//! [`VerifyWebhookLayer`] wraps any `Service<http::Request<B>>`. A request that fails verification
//! is answered 401 (or 400 for a malformed scheme header, 413 for an oversized signed body) with
//! the JSON error shape and never reaches the inner service.
//!
//! Schemes:
//! - [`SharedSecret`]: a shared-secret header (Chirp's `X-Webhook-Secret`), compared in constant
//!   time on fixed-size digests, checked **before the body is read**: an unauthenticated request
//!   never gets its body buffered.
//! - Signature schemes ([`VerifySignature`]) sign the raw body: the layer checks their headers
//!   first, then reads the body up to the limit, verifies the exact received bytes, and hands the
//!   inner service a request whose body is those bytes.
//!
//! Several secrets can be accepted at once (rotation). The index of the one that matched is
//! logged at `debug` and put in the request's extensions as [`Verified`]; the secret itself is
//! never logged and is redacted in `Debug`.
//!
//! # Signature schemes
//!
//! **Shared secret** (Chirp): [`SharedSecret::new([..])`](SharedSecret::new) reads
//! `X-Webhook-Secret`, [`SharedSecret::with_header("x-token", [..])`](SharedSecret::with_header)
//! another header. Both sides are reduced to SHA-256 digests and compared with `subtle`, every
//! accepted secret every time, so neither content nor length leaks; the header is checked before
//! the body is read.
//!
//! **HMAC-SHA256** ([`HmacSha256`], feature `hmac`): one configurable scheme, verified over the
//! exact received bytes, never re-serialized JSON, with `hmac`'s constant-time `verify_slice`
//! against every secret and every presented signature. It says what is signed
//! ([`SignedContent`]: the body, `{t}.{body}`, `v0:{t}:{body}`), where the signature is (a
//! header, a prefix, hex or base64), and where the signed timestamp is: its own header
//! ([`timestamp_header`](HmacSha256::timestamp_header), Slack) or a field of a `key=value`
//! signature list that may hold several signatures
//! ([`signature_list`](HmacSha256::signature_list), Stripe's `t=..,v1=..,v1=..`), within a
//! [tolerance](HmacSha256::tolerance) of an injectable [clock](HmacSha256::clock), in both
//! directions. Every header is checked before the body is read.
//!
//! **Presets** ([`providers`](crate::providers), feature `providers`): Stripe, GitHub, Slack and
//! Shopify are settings of `HmacSha256` plus the sender's event name and id
//! (`providers::stripe::webhooks(secrets)?`, ...), tested against signatures made by each
//! sender's own code.
//!
//! **Standard Webhooks** ([`StandardWebhooks`], feature `standard-webhooks`: Svix and others):
//! `StandardWebhooks::new(["whsec_..."])?` checks `webhook-id`, `webhook-timestamp` (±300 s,
//! [`tolerance(..)`](StandardWebhooks::tolerance), injectable
//! [`clock(..)`](StandardWebhooks::clock)) and every `v1,` signature in `webhook-signature`
//! (other versions ignored) over `id.timestamp.body`. Asymmetric `v1a,` signatures (ed25519)
//! are verified with the sender's `whpk_` public keys:
//! [`StandardWebhooks::with_public_keys(["whpk_..."])?`](StandardWebhooks::with_public_keys)
//! accepts them alone, [`.public_keys([..])?`](StandardWebhooks::public_keys) beside the
//! secrets' `v1` (one header may carry both; [`Verified`] numbers the secrets first, then the
//! keys). Dedup by `webhook-id` with
//! [`JsonFormat::new().key_header("webhook-id")`](crate::json::JsonFormat::key_header). Tested
//! against the reference libraries' vectors and, for `v1a`, vectors made with OpenSSL
//! (`tests/signatures.rs`, `tests/standard_v1a.rs` in the repository).
//!
//! ```
//! # #[cfg(all(feature = "hmac", feature = "standard-webhooks"))]
//! # fn main() -> Result<(), webhook_receiver::verify::ConfigError> {
//! use std::time::Duration;
//! use webhook_receiver::json::JsonFormat;
//! use webhook_receiver::verify::{HmacSha256, SharedSecret, SignatureEncoding, StandardWebhooks};
//!
//! let chirp = SharedSecret::new(["secret-2025", "secret-2024"])?; // X-Webhook-Secret: <secret>
//! let token = SharedSecret::with_header("x-token", ["secret"])?; // X-Token: <secret>
//! let generic = HmacSha256::new(["secret"])?; // X-Webhook-Signature: <hex>
//! let github = HmacSha256::github(["secret"])?; // X-Hub-Signature-256: sha256=<hex>
//! let custom = HmacSha256::new(["secret"])?.header("x-sig")?.encoding(SignatureEncoding::Base64);
//! // Stripe-Signature: t=<unix>,v1=<hex>[,v1=..] over `{t}.{body}`, ±5 minutes.
//! let stripe = HmacSha256::new(["whsec_..."])?
//!     .header("stripe-signature")?
//!     .signature_list("t", "v1", "{t}.{body}")?;
//! // X-Slack-Signature: v0=<hex> over `v0:{t}:{body}`, the timestamp in its own header.
//! let slack = HmacSha256::new(["signing-secret"])?
//!     .header("x-slack-signature")?
//!     .prefix("v0=")
//!     .timestamp_header("x-slack-request-timestamp", "v0:{t}:{body}")?
//!     .tolerance(Duration::from_secs(300));
//! let standard = StandardWebhooks::new(["whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"])?
//!     .tolerance(Duration::from_secs(60)); // webhook-id, webhook-timestamp, webhook-signature
//! let asymmetric = // webhook-signature: v1a,<base64 ed25519 signature>
//!     StandardWebhooks::with_public_keys(["whpk_a13m6rZjnWnEP0qNmTxSsR1skd99yB5XBTGpuTV8iuU="])?;
//! let format = JsonFormat::<serde_json::Value>::new().key_header("webhook-id");
//!
//! assert_eq!((chirp.secret_count(), token.header_name().as_str()), (2, "x-token"));
//! assert_eq!(generic.header_name(), "x-webhook-signature");
//! assert_eq!(github.header_name(), "x-hub-signature-256");
//! assert_eq!(github.signature_prefix(), "sha256=");
//! assert_eq!(custom.signature_encoding(), SignatureEncoding::Base64);
//! assert_eq!(stripe.signed_content().to_string(), "{t}.{body}");
//! assert_eq!(slack.timestamp_header_name(), Some("x-slack-request-timestamp"));
//! assert_eq!(standard.timestamp_tolerance(), Duration::from_secs(60));
//! assert_eq!(asymmetric.public_key_count(), 1);
//! # let _ = format;
//! # Ok(())
//! # }
//! # #[cfg(not(all(feature = "hmac", feature = "standard-webhooks")))]
//! # fn main() {}
//! ```
//!
//! # Secrets per request
//!
//! A multi-tenant receiver (one URL per customer, `POST /webhooks/{tenant}`, each with its own
//! secret in your database) wraps its scheme in [`PerTenant`]: your [`ResolveSecrets`] names the
//! request's tenant from its head and looks that tenant's secrets up (async), and the scheme is
//! built from them, e.g. `PerTenant::new(table, |secrets| HmacSha256::new(secrets))`. It works
//! for every scheme, yours included, wherever a verifier goes
//! ([`Webhooks::builder`](crate::Webhooks::builder), `VerifyWebhookLayer::new`).
//!
//! - Each tenant's scheme is cached (moka, [`ttl`](PerTenant::ttl) default 5 minutes,
//!   [`max_tenants`](PerTenant::max_tenants) default 10,000); concurrent first requests of a
//!   tenant wait for one lookup. A removed secret is accepted until the cached scheme expires,
//!   or until [`invalidate`](PerTenant::invalidate).
//! - No tenant, or an unknown one: 401 `unknown_tenant`. The lookup failed, or the stored
//!   secrets are invalid: 503 `secrets_unavailable` with `Retry-After`, logged at `error`.
//!   Neither is cached and nothing is remembered, so the sender's retry is looked up afresh.
//! - The verified [`Tenant`] goes in the request's extensions, and the receiver scopes the
//!   event's dedup key with it: two tenants' events with the same id are two events, the same
//!   tenant's redelivery a duplicate. Handlers see the tenant
//!   ([`EventContext::tenant`](crate::dispatch::EventContext::tenant)) and the scoped key; the
//!   receiver keeps the tenant with the event in the header [`TENANT_HEADER`] (set by itself,
//!   stripped from requests not verified per tenant), so an inbox's replay has it too.
//!
//! ```
//! # #[cfg(feature = "hmac")]
//! # fn main() {
//! use std::collections::HashMap;
//! use http::request::Parts;
//! use webhook_receiver::BoxError;
//! use webhook_receiver::json::JsonFormat;
//! use webhook_receiver::Webhooks;
//! use webhook_receiver::verify::{HmacSha256, PerTenant, ResolveSecrets, Tenant};
//!
//! struct Table(HashMap<String, Vec<String>>); // your database
//!
//! impl ResolveSecrets for Table {
//!     type Secrets = Vec<String>;
//!     fn tenant(&self, request: &Parts) -> Option<Tenant> {
//!         request.uri.path().strip_prefix("/webhooks/").map(Tenant::from)
//!     }
//!     async fn secrets(&self, tenant: &Tenant) -> Result<Option<Vec<String>>, BoxError> {
//!         Ok(self.0.get(tenant.as_str()).cloned())
//!     }
//! }
//!
//! let table = Table(HashMap::from([("acme".into(), vec!["s1".into()])]));
//! let verifier = PerTenant::new(table, |secrets| HmacSha256::new(secrets));
//! let builder = Webhooks::builder(JsonFormat::<serde_json::Value>::new(), verifier);
//! # let _ = builder;
//! # }
//! # #[cfg(not(feature = "hmac"))]
//! # fn main() {}
//! ```
//!
//! # Order
//!
//! With `tower::ServiceBuilder`, layers added first see the request first: put
//! `VerifyWebhookLayer` outermost (before timeouts, tracing of bodies, or anything that buffers).
//!
//! # Example
//!
//! ```
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use webhook_receiver::verify::{SharedSecret}; use webhook_receiver::stack::VerifyWebhookLayer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let secret = SharedSecret::new(["s3cr3t"]).unwrap();
//! let svc = ServiceBuilder::new()
//!     .layer(VerifyWebhookLayer::new(secret))
//!     .service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
//!     });
//!
//! let req = Request::post("/").body(Full::<Bytes>::default()).unwrap();
//! let res = svc.clone().oneshot(req).await.unwrap();
//! assert_eq!(res.status(), StatusCode::UNAUTHORIZED);
//!
//! let req = Request::post("/")
//!     .header("x-webhook-secret", "s3cr3t")
//!     .body(Full::<Bytes>::default())
//!     .unwrap();
//! assert_eq!(svc.oneshot(req).await.unwrap().status(), StatusCode::OK);
//! # }
//! ```

use std::future::Future;
use std::sync::Arc;

use http::{HeaderMap, Request};

use crate::error::Rejection;

pub(crate) mod future;
#[cfg(feature = "hmac")]
mod hmac;
pub(crate) mod layer;
pub(crate) mod service;
mod shared_secret;
mod signature;
#[cfg(feature = "standard-webhooks")]
mod standard;
mod tenant;
#[cfg(any(feature = "hmac", feature = "standard-webhooks"))]
mod tolerance;

pub(crate) use future::ResponseFuture;
#[cfg(feature = "hmac")]
#[cfg_attr(docsrs, doc(cfg(feature = "hmac")))]
pub use hmac::{
    DEFAULT_SIGNATURE_HEADER, GITHUB_SIGNATURE_HEADER, GITHUB_SIGNATURE_PREFIX, HmacSha256,
    SignatureEncoding, SignedContent,
};
pub(crate) use layer::VerifyWebhookLayer;
pub(crate) use service::VerifyWebhook;
pub use shared_secret::{DEFAULT_SECRET_HEADER, SharedSecret};
pub use signature::SignatureFuture;
#[cfg(feature = "standard-webhooks")]
#[cfg_attr(docsrs, doc(cfg(feature = "standard-webhooks")))]
pub use standard::{
    StandardWebhooks, WEBHOOK_ID_HEADER, WEBHOOK_SIGNATURE_HEADER, WEBHOOK_TIMESTAMP_HEADER,
};
pub use tenant::{PerTenant, PerTenantFuture, ResolveSecrets, TENANT_HEADER, Tenant};

/// Verifies one request. Implemented by [`SharedSecret`] (headers only) and, through a blanket
/// impl, by every [`VerifySignature`] scheme (headers, then the raw body).
///
/// `body_limit` is the layer's limit; a scheme that reads the body must answer 413 past it.
///
/// ```
/// use std::sync::Arc;
/// use http::Request;
/// use webhook_receiver::verify::{SharedSecret, VerifyRequest};
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let scheme = Arc::new(SharedSecret::new(["s3cr3t"]).unwrap());
/// let req = Request::post("/").header("x-webhook-secret", "s3cr3t").body(()).unwrap();
/// assert!(Arc::clone(&scheme).verify(req, 1024).await.is_ok()); // the request to pass on
/// let req = Request::post("/").body(()).unwrap();
/// assert!(scheme.verify(req, 1024).await.is_err()); // the rejection to answer with (401)
/// # }
/// ```
pub trait VerifyRequest<B>: Send + Sync + 'static {
    /// The verification future. Resolves to the request to pass on, or a rejection.
    type Future: Future<Output = Result<Request<B>, Rejection>> + Send + 'static;

    /// Verifies `request`.
    fn verify(self: Arc<Self>, request: Request<B>, body_limit: usize) -> Self::Future;
}

/// A verifier could not be built from its configuration. Secrets are named by index, never
/// shown.
///
/// ```
/// use webhook_receiver::verify::{ConfigError, SharedSecret};
/// assert!(matches!(SharedSecret::new(["a", ""]), Err(ConfigError::EmptySecret(1))));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// No secret was given.
    #[error("at least one secret is required")]
    NoSecrets,
    /// One of the secrets is empty (or, for Standard Webhooks, only the `whsec_` prefix).
    #[error("secret #{0} is empty")]
    EmptySecret(usize),
    /// One of the secrets is malformed (Standard Webhooks: not base64 after `whsec_`).
    #[error("secret #{0} is not valid base64 (expected `whsec_<base64>`)")]
    InvalidSecret(usize),
    /// One of the secrets is shorter than the scheme accepts (Standard Webhooks: fewer than
    /// 24 decoded bytes, `StandardWebhooks::MIN_SECRET_LEN`).
    #[error("secret #{index} is {len} bytes long; at least {min} are required")]
    SecretTooShort {
        /// The secret's index.
        index: usize,
        /// Its length in (decoded) bytes.
        len: usize,
        /// The minimum.
        min: usize,
    },
    /// The header name is not a valid HTTP header name.
    #[error("invalid header name: {0}")]
    InvalidHeader(#[from] http::header::InvalidHeaderName),
    /// No public key was given (Standard Webhooks `v1a`).
    #[error("at least one public key is required")]
    NoPublicKeys,
    /// One of the public keys is not a usable ed25519 key (Standard Webhooks `v1a`: `whpk_` and
    /// the base64 of 32 bytes). Named by index; the key is not shown.
    #[error("public key #{index} is not a valid `whpk_` ed25519 public key: {problem}")]
    InvalidPublicKey {
        /// The key's index, in the order given.
        index: usize,
        /// What is wrong with it, e.g. "not 32 bytes long".
        problem: &'static str,
    },
    /// What an HMAC scheme signs is not a valid template (`HmacSha256`: it must end with
    /// `{body}`, have `{t}` at most once, and have `{t}` when a timestamp is signed).
    ///
    /// ```
    /// # #[cfg(feature = "hmac")] {
    /// use webhook_receiver::verify::{ConfigError, SignedContent};
    /// let err = SignedContent::template("{t}").unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidSignedContent(_)));
    /// assert_eq!(err.to_string(), "invalid signed content template: it must end with {body}");
    /// # }
    /// ```
    #[error("invalid signed content template: {0}")]
    InvalidSignedContent(&'static str),
    /// A `key=value` signature list's field names are empty, hold `,`, `=` or surrounding
    /// spaces, or are the same (`HmacSha256::signature_list`).
    ///
    /// ```
    /// # #[cfg(feature = "hmac")] {
    /// use webhook_receiver::verify::{ConfigError, HmacSha256};
    /// let scheme = HmacSha256::new(["s"]).unwrap();
    /// let err = scheme.signature_list("v1", "v1", "{t}.{body}").unwrap_err();
    /// assert!(matches!(err, ConfigError::InvalidSignatureList));
    /// # }
    /// ```
    #[error(
        "invalid signature list fields: two different non-empty names without `,`, `=` or surrounding spaces are required"
    )]
    InvalidSignatureList,
}

/// Which configured secret authenticated a request (its index in the order given), inserted in
/// the request's extensions by [`VerifyWebhook`]. For a `StandardWebhooks` verifier with
/// `v1a` public keys, the secrets are numbered first, then the public keys.
///
/// ```
/// use webhook_receiver::verify::Verified;
/// let v = Verified::new(1);
/// assert_eq!(v.secret_index(), 1);
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Verified {
    secret_index: usize,
}

impl Verified {
    /// Records that secret number `secret_index` matched.
    ///
    /// ```
    /// use webhook_receiver::verify::Verified;
    ///
    /// const FIRST: Verified = Verified::new(0);
    /// assert_eq!(FIRST.secret_index(), 0);
    /// ```
    pub const fn new(secret_index: usize) -> Self {
        Self { secret_index }
    }

    /// The index of the matching secret, in the order the secrets were configured.
    ///
    /// ```
    /// use std::sync::Arc;
    /// use webhook_receiver::verify::{SharedSecret, Verified, VerifyRequest};
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// let scheme = Arc::new(SharedSecret::new(["secret-2025", "secret-2024"]).unwrap());
    /// let req = http::Request::post("/").header("x-webhook-secret", "secret-2024");
    /// let req = req.body(()).unwrap();
    /// let req = scheme.verify(req, 0).await.unwrap();
    /// // The old secret matched: this sender has not rotated yet.
    /// assert_eq!(req.extensions().get::<Verified>().map(Verified::secret_index), Some(1));
    /// # }
    /// ```
    pub const fn secret_index(&self) -> usize {
        self.secret_index
    }
}

/// A scheme that signs the raw request body (HMAC-SHA256, Standard Webhooks, ...).
///
/// [`VerifyWebhook`] calls [`check_headers`](Self::check_headers) first, so a request without a
/// well-formed signature header is rejected without buffering its body; then it reads the body up
/// to the limit and calls [`verify_body`](Self::verify_body) on the exact received bytes.
///
/// ```
/// use http::HeaderMap;
/// use webhook_receiver::verify::{HmacSha256, Verified, VerifySignature};
///
/// let scheme = HmacSha256::new(["It's a Secret to Everybody"]).unwrap();
/// let mut headers = HeaderMap::new();
/// assert!(scheme.check_headers(&headers).is_err()); // no signature: the body is not read
/// # let hex = "757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";
/// headers.insert("x-webhook-signature", hex.parse().unwrap());
/// assert_eq!(scheme.verify_body(&headers, b"Hello, World!").unwrap(), Verified::new(0));
/// assert!(scheme.verify_body(&headers, b"Hello, World?").is_err());
/// ```
pub trait VerifySignature: Send + Sync + 'static {
    /// Cheap checks on the headers alone (presence and shape of the signature headers).
    ///
    /// # Errors
    ///
    /// The rejection to answer with.
    fn check_headers(&self, headers: &HeaderMap) -> Result<(), Rejection>;

    /// Verifies the signature over the exact received bytes; returns which secret matched.
    ///
    /// # Errors
    ///
    /// The rejection to answer with (401 for a bad signature).
    fn verify_body(&self, headers: &HeaderMap, body: &[u8]) -> Result<Verified, Rejection>;
}
