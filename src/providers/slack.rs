//! [Slack's Events API](https://api.slack.com/authentication/verifying-requests-from-slack):
//! `X-Slack-Signature: v0=<hex>` over `v0:{timestamp}:{body}` with the timestamp in
//! `X-Slack-Request-Timestamp`, events named by `event.type`, deduplicated by `event_id`.
//!
//! - The event name is the inner `event.type` of an `event_callback` (`app_mention`,
//!   `message`, `reaction_added`, ...), else the top-level `type` (`url_verification`,
//!   `app_rate_limited`). The typed payload is the inner `event`.
//! - The dedup key is `event_id` (Slack's retries, with `X-Slack-Retry-Num`, keep it). The
//!   two envelopes without one get a key of their own: `url_verification:{challenge}` and
//!   `app_rate_limited:{team_id}:{minute_rate_limited}`.
//! - The timestamp must be within 5 minutes of now, in both directions (Slack's advice).
//!
//! # The URL verification handshake
//!
//! When you set the request URL, Slack posts a signed `{"type":"url_verification",
//! "challenge":..}` and expects the challenge back in the response. The receiver answers every
//! accepted request the same way (`{"received":true}`) and runs handlers after the 200, so it
//! cannot answer it: route the handshake before the receiver with [`challenge`], after
//! checking the signature with the same [`scheme`]. A complete axum route is in
//! `examples/provider_receiver.rs`; the core of it:
//!
//! ```
//! use http::HeaderMap;
//! use webhook_receiver::providers::slack;
//! use webhook_receiver::verify::{HmacSha256, VerifySignature};
//!
//! /// `Some(response body)` for a genuine handshake, `None` to hand the request on.
//! fn handshake(scheme: &HmacSha256, headers: &HeaderMap, body: &[u8]) -> Option<String> {
//!     let challenge = slack::challenge(body)?;
//!     scheme.verify_body(headers, body).ok()?;
//!     Some(serde_json::json!({ "challenge": challenge }).to_string())
//! }
//! # let _ = handshake;
//! ```
//!
//! Slash commands and interactivity payloads (form-encoded) are signed the same way:
//! [`scheme`] verifies them too, but [`format`](fn@format) reads JSON only.

use serde_json::Value;

use crate::json::JsonFormat;
use crate::verify::{ConfigError, HmacSha256};
use crate::webhooks::{Webhooks, WebhooksBuilder};

/// The signature header: `v0=<hex>`.
///
/// ```
/// use webhook_receiver::providers::slack;
/// let scheme = slack::scheme(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap();
/// assert_eq!(scheme.header_name(), slack::SIGNATURE_HEADER);
/// ```
pub const SIGNATURE_HEADER: &str = "x-slack-signature";
/// The prefix of the signature (the version of the scheme).
///
/// ```
/// use webhook_receiver::providers::slack;
/// let scheme = slack::scheme(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap();
/// assert_eq!(scheme.signature_prefix(), slack::SIGNATURE_PREFIX);
/// ```
pub const SIGNATURE_PREFIX: &str = "v0=";
/// The timestamp header (Unix seconds), signed.
///
/// ```
/// use webhook_receiver::providers::slack;
/// let scheme = slack::scheme(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap();
/// assert_eq!(scheme.timestamp_header_name(), Some(slack::TIMESTAMP_HEADER));
/// ```
pub const TIMESTAMP_HEADER: &str = "x-slack-request-timestamp";
/// What Slack signs.
///
/// ```
/// use webhook_receiver::providers::slack;
/// let scheme = slack::scheme(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap();
/// assert_eq!(scheme.signed_content().to_string(), slack::SIGNED_CONTENT);
/// ```
pub const SIGNED_CONTENT: &str = "v0:{t}:{body}";

/// Slack's signature scheme, accepting any of `secrets` (the app's signing secret; keep the
/// old one while you regenerate it).
///
/// ```
/// use std::time::{Duration, UNIX_EPOCH};
/// use http::HeaderMap;
/// use webhook_receiver::providers::slack;
/// use webhook_receiver::verify::VerifySignature;
///
/// // Slack's documented example.
/// let at = UNIX_EPOCH + Duration::from_secs(1_531_420_618);
/// let scheme = slack::scheme(["8f742231b10e8888abcd99yyyzzz85a5"]).unwrap().clock(move || at);
/// # let body = "token=xyzz0WbapA4vBCDEFasx0q6G&team_id=T1DC2JH3J&team_domain=testteamnow&channel_id=G8PSS9T3V&channel_name=foobar&user_id=U2CERLKJA&user_name=roadrunner&command=%2Fwebhook-collect&text=&response_url=https%3A%2F%2Fhooks.slack.com%2Fcommands%2FT1DC2JH3J%2F397700885554%2F96rGlfmibIGlgcZRskXaIFfN&trigger_id=398738663015.47445629121.803a0bc887a14d10d2c447fce8b6703c";
/// let mut headers = HeaderMap::new();
/// headers.insert("x-slack-request-timestamp", "1531420618".parse().unwrap());
/// let signature = "v0=a2114d57b48eac39b9ad189dd8316235a7b4a8d21a10bd27519666489c69b503";
/// headers.insert("x-slack-signature", signature.parse().unwrap());
/// assert!(scheme.verify_body(&headers, body.as_bytes()).is_ok());
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
        .prefix(SIGNATURE_PREFIX)
        .timestamp_header(TIMESTAMP_HEADER, SIGNED_CONTENT)
}

/// The Events API's format. See the [module docs](self) for the name and the key.
///
/// ```
/// use webhook_receiver::event::Format;
/// use webhook_receiver::providers::slack;
///
/// let format = slack::format::<serde_json::Value>();
/// let headers = http::HeaderMap::new();
/// let body = br#"{"type":"event_callback","event_id":"Ev1","event":{"type":"app_mention"}}"#;
/// let decoded = format.decode(&headers, body).unwrap();
/// assert_eq!((decoded.event_name(), decoded.id()), ("app_mention", Some("Ev1")));
///
/// let body = br#"{"type":"url_verification","challenge":"abc","token":"t"}"#;
/// let decoded = format.decode(&headers, body).unwrap();
/// assert_eq!((decoded.event_name(), decoded.id()), ("url_verification", Some("url_verification:abc")));
/// ```
pub fn format<E>() -> JsonFormat<E> {
    JsonFormat::new()
        .name_with(|body, _| {
            let outer = body.get("type").and_then(Value::as_str)?;
            if outer == "event_callback" {
                return body.pointer("/event/type")?.as_str().map(str::to_owned);
            }
            Some(outer.to_owned())
        })
        .key_with(|body, _| {
            if let Some(id) = body.get("event_id").and_then(Value::as_str) {
                return Some(id.to_owned());
            }
            match body.get("type").and_then(Value::as_str)? {
                "url_verification" => {
                    let challenge = body.get("challenge")?.as_str()?;
                    Some(format!("url_verification:{challenge}"))
                }
                "app_rate_limited" => {
                    let team = body.get("team_id")?.as_str()?;
                    let minute = body.get("minute_rate_limited")?.as_i64()?;
                    Some(format!("app_rate_limited:{team}:{minute}"))
                }
                _ => None,
            }
        })
        .data_field("/event")
}

/// The `challenge` of a `url_verification` request body, `None` for any other body. It does
/// not check the signature: do that first (see the [module docs](self#the-url-verification-handshake)).
///
/// ```
/// use webhook_receiver::providers::slack;
///
/// let body = br#"{"token":"Jhj5dZrVaK7ZwHHjRyZWjbDl","challenge":"3eZbrw1aBm2rZgRNFdxV","type":"url_verification"}"#;
/// assert_eq!(slack::challenge(body).as_deref(), Some("3eZbrw1aBm2rZgRNFdxV"));
/// assert_eq!(slack::challenge(br#"{"type":"event_callback","challenge":"x"}"#), None);
/// assert_eq!(slack::challenge(b"not json"), None);
/// ```
pub fn challenge(body: &[u8]) -> Option<String> {
    #[derive(serde::Deserialize)]
    struct Handshake {
        #[serde(rename = "type")]
        kind: String,
        challenge: String,
    }
    let handshake: Handshake = serde_json::from_slice(body).ok()?;
    (handshake.kind == "url_verification").then_some(handshake.challenge)
}

/// A Slack Events API receiver: [`scheme`] and [`format`](fn@format) with [`serde_json::Value`]
/// payloads. Add handlers, then [`spawn`](WebhooksBuilder::spawn). Answer the URL
/// verification handshake before it (see the [module docs](self#the-url-verification-handshake)).
///
/// ```
/// use webhook_receiver::providers::slack;
/// assert!(slack::webhooks(["8f742231b10e8888abcd99yyyzzz85a5"]).is_ok());
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
