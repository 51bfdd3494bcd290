//! [Shopify](https://shopify.dev/docs/apps/build/webhooks/verify-deliveries):
//! `X-Shopify-Hmac-Sha256: <base64>` over the body, events named by `X-Shopify-Topic`,
//! deduplicated by `X-Shopify-Event-Id`.
//!
//! The dedup key is `X-Shopify-Event-Id`, the header Shopify's "Ignore duplicate webhooks"
//! guide names: the same value on every delivery of one event. (Each subscription to a topic
//! receives its own delivery of the event: mount one receiver per subscription, or expect the
//! second to be acknowledged as a duplicate.) The secret is the app's client secret. The
//! typed payload is the whole body (the order, the product, ...).
//!
//! Shopify signs no timestamp (`X-Shopify-Triggered-At` is not signed): only dedup, for its
//! TTL, stops a replay.
//!
//! ```
//! use webhook_receiver::event::Format;
//! use webhook_receiver::providers::shopify;
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-shopify-topic", "orders/create".parse().unwrap());
//! headers.insert("x-shopify-event-id", "98880550-7158-44d4-b7cd-2c97c8a091b5".parse().unwrap());
//! let decoded = shopify::format::<serde_json::Value>().decode(&headers, br#"{"id":1}"#).unwrap();
//! assert_eq!(decoded.event_name(), "orders/create");
//! assert_eq!(decoded.id(), Some("98880550-7158-44d4-b7cd-2c97c8a091b5"));
//! ```

use serde_json::Value;

use crate::json::JsonFormat;
use crate::verify::{ConfigError, HmacSha256, SignatureEncoding};
use crate::webhooks::{Webhooks, WebhooksBuilder};

/// The signature header: base64 HMAC-SHA256 of the body.
///
/// ```
/// use webhook_receiver::providers::shopify;
/// let scheme = shopify::scheme(["shpss_secret"]).unwrap();
/// assert_eq!(scheme.header_name(), shopify::SIGNATURE_HEADER);
/// ```
pub const SIGNATURE_HEADER: &str = "x-shopify-hmac-sha256";
/// The topic header (`orders/create`, `products/update`, `app/uninstalled`, ...).
///
/// ```
/// use webhook_receiver::event::Format;
/// use webhook_receiver::providers::shopify;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert(shopify::TOPIC_HEADER, "app/uninstalled".parse().unwrap());
/// headers.insert(shopify::EVENT_ID_HEADER, "e-1".parse().unwrap());
/// let decoded = shopify::format::<serde_json::Value>().decode(&headers, b"{}").unwrap();
/// assert_eq!(decoded.event_name(), "app/uninstalled");
/// ```
pub const TOPIC_HEADER: &str = "x-shopify-topic";
/// The event id header: the same on every delivery of one event; the dedup key.
///
/// ```
/// use webhook_receiver::event::Format;
/// use webhook_receiver::providers::shopify;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert(shopify::TOPIC_HEADER, "orders/paid".parse().unwrap());
/// // Without an event id: 400 (`X-Shopify-Webhook-Id` alone is not read).
/// headers.insert("x-shopify-webhook-id", "w-1".parse().unwrap());
/// assert!(shopify::format::<serde_json::Value>().decode(&headers, b"{}").is_err());
/// ```
pub const EVENT_ID_HEADER: &str = "x-shopify-event-id";

/// Shopify's signature scheme, accepting any of `secrets` (the app's client secret; after a
/// rotation Shopify may sign with the old one for up to an hour, so keep both).
///
/// ```
/// use webhook_receiver::providers::shopify;
/// use webhook_receiver::verify::SignatureEncoding;
///
/// let scheme = shopify::scheme(["shpss_new", "shpss_old"]).unwrap();
/// assert_eq!(scheme.signature_encoding(), SignatureEncoding::Base64);
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
    Ok(HmacSha256::new(secrets)?
        .header(SIGNATURE_HEADER)?
        .encoding(SignatureEncoding::Base64))
}

/// Shopify's format: name `X-Shopify-Topic`, dedup key `X-Shopify-Event-Id`, typed payload the
/// whole body.
///
/// ```
/// use webhook_receiver::event::Format;
/// use webhook_receiver::providers::shopify;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-shopify-topic", "products/update".parse().unwrap());
/// headers.insert("x-shopify-event-id", "e-2".parse().unwrap());
/// let decoded = shopify::format::<serde_json::Value>().decode(&headers, br#"{"id":2}"#).unwrap();
/// assert_eq!(decoded.event_name(), "products/update");
/// ```
pub fn format<E>() -> JsonFormat<E> {
    JsonFormat::new()
        .name_header(TOPIC_HEADER)
        .key_header(EVENT_ID_HEADER)
        .data_field("")
}

/// A Shopify receiver: [`scheme`] and [`format`](fn@format) with [`serde_json::Value`] payloads. Add
/// handlers, then [`spawn`](WebhooksBuilder::spawn).
///
/// ```
/// use webhook_receiver::providers::shopify;
/// assert!(shopify::webhooks(["shpss_secret"]).is_ok());
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
