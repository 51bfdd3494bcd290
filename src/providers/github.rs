//! [GitHub](https://docs.github.com/en/webhooks/using-webhooks/validating-webhook-deliveries):
//! `X-Hub-Signature-256: sha256=<hex>` over the body, events named by `X-GitHub-Event`
//! (with the body's `action`), deduplicated by `X-GitHub-Delivery`.
//!
//! The event name is `{X-GitHub-Event}.{action}` when the body has a string `action`
//! (`issues.opened`, `pull_request.closed`: the names Octokit's `webhooks.on(..)` uses), and
//! `X-GitHub-Event` alone otherwise (`push`, `ping`). `on_group("issues.*")` takes every
//! action of one event. The typed payload is the whole body.
//!
//! GitHub signs no timestamp: a captured delivery can be replayed, and only dedup (its
//! delivery id, for the dedup TTL) stops it. Redeliveries from GitHub's UI keep the
//! delivery id.
//!
//! ```
//! use webhook_receiver::event::Format;
//! use webhook_receiver::providers::github;
//!
//! let mut headers = http::HeaderMap::new();
//! headers.insert("x-github-event", "issues".parse().unwrap());
//! headers.insert("x-github-delivery", "72d3162e-cc78-11e3-81ab-4c9367dc0958".parse().unwrap());
//! let body = br#"{"action":"opened","issue":{"number":1}}"#;
//! let decoded = github::format::<serde_json::Value>().decode(&headers, body).unwrap();
//! assert_eq!(decoded.event_name(), "issues.opened");
//! assert_eq!(decoded.id(), Some("72d3162e-cc78-11e3-81ab-4c9367dc0958"));
//! ```

use serde_json::Value;

use super::header;
use crate::json::JsonFormat;
use crate::verify::{ConfigError, HmacSha256};
use crate::webhooks::{Webhooks, WebhooksBuilder};

pub use crate::verify::{
    GITHUB_SIGNATURE_HEADER as SIGNATURE_HEADER, GITHUB_SIGNATURE_PREFIX as SIGNATURE_PREFIX,
};

/// The event type header (`issues`, `push`, `ping`, ...).
///
/// ```
/// use webhook_receiver::event::Format;
/// use webhook_receiver::providers::github;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert(github::EVENT_HEADER, "push".parse().unwrap());
/// headers.insert(github::DELIVERY_HEADER, "d-1".parse().unwrap());
/// let decoded = github::format::<serde_json::Value>().decode(&headers, b"{}").unwrap();
/// assert_eq!(decoded.event_name(), "push");
/// ```
pub const EVENT_HEADER: &str = "x-github-event";
/// The delivery id header: unique per delivery, kept by redeliveries; the dedup key.
///
/// ```
/// use webhook_receiver::event::Format;
/// use webhook_receiver::providers::github;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert(github::EVENT_HEADER, "push".parse().unwrap());
/// // No delivery id: 400.
/// assert!(github::format::<serde_json::Value>().decode(&headers, b"{}").is_err());
/// ```
pub const DELIVERY_HEADER: &str = "x-github-delivery";

/// GitHub's signature scheme ([`HmacSha256::github`]), accepting any of `secrets`.
///
/// ```
/// use webhook_receiver::providers::github;
///
/// let scheme = github::scheme(["It's a Secret to Everybody"]).unwrap();
/// assert_eq!(
///     scheme.sign(0, b"Hello, World!"),
///     "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
/// );
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
    HmacSha256::github(secrets)
}

/// GitHub's format: name `{X-GitHub-Event}[.{action}]`, dedup key `X-GitHub-Delivery`, typed
/// payload the whole body. See the [module docs](self).
///
/// ```
/// use webhook_receiver::event::Format;
/// use webhook_receiver::providers::github;
///
/// let mut headers = http::HeaderMap::new();
/// headers.insert("x-github-event", "pull_request".parse().unwrap());
/// headers.insert("x-github-delivery", "d-2".parse().unwrap());
/// let decoded = github::format::<serde_json::Value>()
///     .decode(&headers, br#"{"action":"closed","number":7}"#)
///     .unwrap();
/// assert_eq!(decoded.event_name(), "pull_request.closed");
/// ```
pub fn format<E>() -> JsonFormat<E> {
    JsonFormat::new()
        .name_with(|body, headers| {
            let event = header(headers, EVENT_HEADER).filter(|e| !e.is_empty())?;
            Some(match body.get("action").and_then(Value::as_str) {
                Some(action) => format!("{event}.{action}"),
                None => event.to_owned(),
            })
        })
        .key_header(DELIVERY_HEADER)
        .data_field("")
}

/// A GitHub receiver: [`scheme`] and [`format`](fn@format) with [`serde_json::Value`] payloads. Add
/// handlers, then [`spawn`](WebhooksBuilder::spawn).
///
/// ```
/// use webhook_receiver::providers::github;
/// assert!(github::webhooks(["github-secret"]).is_ok());
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
