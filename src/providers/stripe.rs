//! [Stripe](https://docs.stripe.com/webhooks#verify-events): `Stripe-Signature:
//! t=<unix>,v1=<hex>` over `{t}.{body}`, events named by `type`, deduplicated by `id`.
//!
//! While you roll a secret, Stripe signs with each active one and sends a `v1=` entry per
//! secret: any entry matching any of your secrets is accepted, and `v0=` (test-mode legacy)
//! entries are ignored. The timestamp must be within 5 minutes of now, in both directions
//! (Stripe's libraries bound the age only; a future-dated signature would outlive the dedup
//! window). The payload handed to typed handlers is `data.object` (the PaymentIntent, the
//! Invoice, ...).
//!
//! ```
//! # #[cfg(feature = "testing")]
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), webhook_receiver::BoxError> {
//! use http::StatusCode;
//! use tower::ServiceExt;
//! use webhook_receiver::json::JsonEvent;
//! use webhook_receiver::providers::stripe;
//! use webhook_receiver::testing;
//!
//! let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
//! let webhooks = stripe::webhooks(["whsec_test_secret"])?
//!     .state(tx)
//!     .on_group("payment_intent.*", |event: JsonEvent<serde_json::Value>, ctx| async move {
//!         ctx.state().send(event.id().map(str::to_owned)).unwrap();
//!     })
//!     .spawn();
//! let body = r#"{"id":"evt_1","type":"payment_intent.succeeded","data":{"object":{"id":"pi_1"}}}"#;
//! let req = testing::stripe_request::<axum::body::Body>("/", "whsec_test_secret", testing::unix_now(), body);
//! assert_eq!(webhooks.clone().oneshot(req).await?.status(), StatusCode::OK);
//! assert_eq!(rx.recv().await.unwrap().as_deref(), Some("evt_1"));
//! # webhooks.drain(std::time::Duration::from_secs(5)).await?;
//! # Ok(())
//! # }
//! # #[cfg(not(feature = "testing"))]
//! # fn main() {}
//! ```

use serde_json::Value;

use crate::json::JsonFormat;
use crate::verify::{ConfigError, HmacSha256};
use crate::webhooks::{Webhooks, WebhooksBuilder};

/// The signature header: `t=<unix seconds>,v1=<hex>[,v1=<hex>...]`.
///
/// ```
/// use webhook_receiver::providers::stripe;
/// let scheme = stripe::scheme(["whsec_test_secret"]).unwrap();
/// assert_eq!(scheme.header_name(), stripe::SIGNATURE_HEADER);
/// ```
pub const SIGNATURE_HEADER: &str = "stripe-signature";
/// The field of [`SIGNATURE_HEADER`] holding the timestamp.
///
/// ```
/// let value = format!("{}=1700000000", webhook_receiver::providers::stripe::TIMESTAMP_FIELD);
/// assert_eq!(value, "t=1700000000");
/// ```
pub const TIMESTAMP_FIELD: &str = "t";
/// The field of [`SIGNATURE_HEADER`] holding a signature (one per secret being signed with).
///
/// ```
/// use webhook_receiver::providers::stripe;
/// let scheme = stripe::scheme(["whsec_test_secret"]).unwrap();
/// assert!(scheme.sign(1_700_000_000, b"{}").contains(&format!(",{}=", stripe::SIGNATURE_FIELD)));
/// ```
pub const SIGNATURE_FIELD: &str = "v1";
/// What Stripe signs: the timestamp, a dot, the raw body.
///
/// ```
/// use webhook_receiver::providers::stripe;
/// let scheme = stripe::scheme(["whsec_test_secret"]).unwrap();
/// assert_eq!(scheme.signed_content().to_string(), stripe::SIGNED_CONTENT);
/// ```
pub const SIGNED_CONTENT: &str = "{t}.{body}";

/// Stripe's signature scheme, accepting any of `secrets` (the endpoint's `whsec_...` signing
/// secrets, used as given: several while rolling).
///
/// ```
/// use std::time::Duration;
/// use webhook_receiver::providers::stripe;
///
/// let scheme = stripe::scheme(["whsec_new", "whsec_old"]).unwrap();
/// assert_eq!(scheme.secret_count(), 2);
/// assert_eq!(scheme.timestamp_tolerance(), Duration::from_secs(300));
/// ```
///
/// # Errors
///
/// [`ConfigError`] if there is no secret or one is empty.
pub fn scheme<I, T>(secrets: I) -> Result<HmacSha256, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    HmacSha256::new(secrets)?
        .header(SIGNATURE_HEADER)?
        .signature_list(TIMESTAMP_FIELD, SIGNATURE_FIELD, SIGNED_CONTENT)
}

/// Stripe's event envelope: name from `type`, dedup key from `id` (`evt_...`, the same on
/// every retry), typed payload from `data.object`.
///
/// ```
/// use webhook_receiver::event::Format;
/// use webhook_receiver::providers::stripe;
///
/// let body = br#"{"id":"evt_1","type":"invoice.paid","data":{"object":{"id":"in_1"}}}"#;
/// let decoded = stripe::format::<serde_json::Value>().decode(&http::HeaderMap::new(), body).unwrap();
/// assert_eq!((decoded.event_name(), decoded.id()), ("invoice.paid", Some("evt_1")));
/// ```
pub fn format<E>() -> JsonFormat<E> {
    JsonFormat::new()
        .name_field("/type")
        .key_field("/id")
        .data_field("/data/object")
}

/// A Stripe receiver: [`scheme`] and [`format`](fn@format) with [`serde_json::Value`] payloads. Add
/// handlers, then [`spawn`](WebhooksBuilder::spawn). See the [module docs](self).
///
/// ```
/// use webhook_receiver::providers::stripe;
/// assert!(stripe::webhooks(["whsec_test_secret"]).is_ok());
/// assert!(stripe::webhooks([""]).is_err());
/// ```
///
/// # Errors
///
/// [`ConfigError`] if there is no secret or one is empty.
pub fn webhooks<I, T>(
    secrets: I,
) -> Result<WebhooksBuilder<JsonFormat<Value>, HmacSha256>, ConfigError>
where
    I: IntoIterator<Item = T>,
    T: AsRef<[u8]>,
{
    Ok(Webhooks::builder(format(), scheme(secrets)?))
}
