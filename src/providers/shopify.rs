//! [Shopify](https://shopify.dev/docs/apps/build/webhooks/verify-deliveries):
//! `X-Shopify-Hmac-Sha256: <base64>` over the body, events named by `X-Shopify-Topic`,
//! deduplicated by `X-Shopify-Event-Id`.
//!
//! The dedup key is `X-Shopify-Event-Id`, the header Shopify's
//! [Ignore duplicate webhooks](https://shopify.dev/docs/apps/build/webhooks/ignore-duplicates)
//! guide names: the same value on every delivery of one event. A delivery without it is keyed
//! by `X-Shopify-Webhook-Id` instead (what Shopify's app libraries call the webhook's
//! idempotency key), so that it is not refused: a 400 would be retried and, after 8 failures,
//! the subscription deleted. Several subscriptions to one topic each receive the event; the
//! guide does not say whether they share an event id, so give each subscription its own
//! receiver (its own dedup store) rather than rely on either. The secret is the app's client
//! secret. The typed payload is the whole body (the order, the product, ...).
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

use super::header;
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
/// headers.insert(shopify::WEBHOOK_ID_HEADER, "w-1".parse().unwrap());
/// headers.insert(shopify::EVENT_ID_HEADER, "e-1".parse().unwrap());
/// let decoded = shopify::format::<serde_json::Value>().decode(&headers, b"{}").unwrap();
/// assert_eq!(decoded.id(), Some("e-1"));
/// ```
pub const EVENT_ID_HEADER: &str = "x-shopify-event-id";
/// The webhook id header: the dedup key of a delivery without [`EVENT_ID_HEADER`].
///
/// ```
/// use webhook_receiver::event::Format;
/// use webhook_receiver::providers::shopify;
///
/// let format = shopify::format::<serde_json::Value>();
/// let mut headers = http::HeaderMap::new();
/// headers.insert(shopify::TOPIC_HEADER, "orders/paid".parse().unwrap());
/// // Neither id: 400.
/// assert!(format.decode(&headers, b"{}").is_err());
/// headers.insert(shopify::WEBHOOK_ID_HEADER, "w-1".parse().unwrap());
/// assert_eq!(format.decode(&headers, b"{}").unwrap().id(), Some("w-1"));
/// ```
pub const WEBHOOK_ID_HEADER: &str = "x-shopify-webhook-id";

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

/// Shopify's format: name `X-Shopify-Topic`, dedup key `X-Shopify-Event-Id` (else
/// `X-Shopify-Webhook-Id`), typed payload the whole body.
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
        .key_with(|_, headers| {
            [EVENT_ID_HEADER, WEBHOOK_ID_HEADER]
                .into_iter()
                .find_map(|name| header(headers, name).filter(|id| !id.is_empty()))
                .map(str::to_owned)
        })
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
