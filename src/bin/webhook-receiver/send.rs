//! `replay-file`: posts exported events (JSON lines of `export`) to a receiver, signed, the way
//! to reproduce a production event on a local receiver.

use std::time::Duration;

use bytes::Bytes;
use http::{HeaderName, HeaderValue, Request};
use http_body_util::{BodyExt, Full};
use hyper_util::client::legacy::Client;
use hyper_util::rt::TokioExecutor;
use webhook_receiver::BoxError;
use webhook_receiver::store::EventDetail;
use webhook_receiver::testing;
use webhook_receiver::verify::HmacSha256;

/// How a posted event is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scheme {
    /// The shared secret in a header (`X-Webhook-Secret` by default): Chirp.
    SharedSecret,
    /// The hex HMAC-SHA256 of the body in a header (`X-Webhook-Signature` by default).
    Hmac,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` (now) and `webhook-signature`.
    Standard,
    /// Stripe: `Stripe-Signature: t=<now>,v1=<hex>` (`providers::stripe`).
    Stripe,
    /// GitHub: `X-Hub-Signature-256: sha256=<hex>` (`providers::github`); the exported event's
    /// `X-GitHub-Event` and `X-GitHub-Delivery` are sent as they were.
    Github,
    /// Slack: `X-Slack-Request-Timestamp: <now>` and `X-Slack-Signature: v0=<hex>`
    /// (`providers::slack`).
    Slack,
    /// Shopify: `X-Shopify-Hmac-Sha256: <base64>` (`providers::shopify`); the exported event's
    /// `X-Shopify-Topic` and ids are sent as they were.
    Shopify,
}

impl Scheme {
    /// The preset's verifier for the provider schemes, whose `sign` makes the sender's headers.
    fn provider(self, secret: &str) -> Result<Option<HmacSha256>, BoxError> {
        use webhook_receiver::providers::{github, shopify, slack, stripe};
        Ok(Some(match self {
            Self::SharedSecret | Self::Hmac | Self::Standard => return Ok(None),
            Self::Stripe => stripe::scheme([secret])?,
            Self::Github => github::scheme([secret])?,
            Self::Slack => slack::scheme([secret])?,
            Self::Shopify => shopify::scheme([secret])?,
        }))
    }
}

/// Headers never copied from an exported event (the connection's, and the signature's, which is
/// made again).
const NOT_COPIED: &[&str] = &[
    "host",
    "content-length",
    "transfer-encoding",
    "connection",
    "webhook-timestamp",
    "webhook-signature",
];

/// What became of one posted event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Sent {
    /// 200, new.
    Accepted,
    /// 200 `"duplicate": true`: the receiver had it already.
    Duplicate,
}

/// Posts events to `url`, signed with `secret`.
pub(crate) struct Sender {
    pub(crate) url: String,
    pub(crate) scheme: Scheme,
    pub(crate) header: Option<String>,
    pub(crate) secret: String,
    pub(crate) client: Client<hyper_util::client::legacy::connect::HttpConnector, Full<Bytes>>,
}

impl Sender {
    pub(crate) fn new(url: String, scheme: Scheme, header: Option<String>, secret: String) -> Self {
        Self {
            url,
            scheme,
            header,
            secret,
            client: Client::builder(TokioExecutor::new()).build_http(),
        }
    }

    fn signed(&self, event: &EventDetail) -> Result<Request<Full<Bytes>>, BoxError> {
        let mut request = Request::post(&self.url);
        let headers = request.headers_mut().ok_or("invalid --url")?;
        for (name, value) in &event.headers {
            if NOT_COPIED.contains(&name.as_str()) {
                continue;
            }
            headers.append(
                HeaderName::from_bytes(name.as_bytes())?,
                HeaderValue::from_str(value)?,
            );
        }
        if !headers.contains_key(http::header::CONTENT_TYPE) {
            headers.insert(
                http::header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
        }
        let header = |default: &'static str| -> Result<HeaderName, BoxError> {
            Ok(HeaderName::from_bytes(
                self.header.as_deref().unwrap_or(default).as_bytes(),
            )?)
        };
        match self.scheme {
            Scheme::SharedSecret => {
                let mut value = HeaderValue::from_str(&self.secret)?;
                value.set_sensitive(true);
                headers.insert(header("x-webhook-secret")?, value);
            }
            Scheme::Hmac => {
                let signature = testing::hmac_sha256_hex(&self.secret, &event.body);
                headers.insert(
                    header("x-webhook-signature")?,
                    HeaderValue::from_str(&signature)?,
                );
            }
            Scheme::Standard => {
                let id = match headers.get("webhook-id") {
                    Some(id) => id.to_str()?.to_owned(),
                    None => format!("replay_{}", event.summary.id),
                };
                let now = testing::unix_now();
                let signature =
                    testing::standard_webhooks_signature(&self.secret, &id, now, &event.body);
                headers.insert("webhook-id", HeaderValue::from_str(&id)?);
                headers.insert("webhook-timestamp", HeaderValue::from(now));
                headers.insert("webhook-signature", HeaderValue::from_str(&signature)?);
            }
            Scheme::Stripe | Scheme::Github | Scheme::Slack | Scheme::Shopify => {
                let scheme = self
                    .scheme
                    .provider(&self.secret)?
                    .ok_or("not a provider")?;
                let now = testing::unix_now();
                if let Some(timestamp) = scheme.timestamp_header_name() {
                    headers.insert(timestamp, HeaderValue::from(now));
                }
                let signature = scheme.sign(now, &event.body);
                headers.insert(
                    scheme.header_name().clone(),
                    HeaderValue::from_str(&signature)?,
                );
            }
        }
        Ok(request.body(Full::new(event.body.clone()))?)
    }

    /// Posts `event`: accepted or a duplicate, or why not.
    pub(crate) async fn send(&self, event: &EventDetail) -> Result<Sent, BoxError> {
        let request = self.signed(event)?;
        let response = tokio::time::timeout(Duration::from_secs(30), self.client.request(request))
            .await
            .map_err(|_| format!("{}: no answer within 30 s", self.url))??;
        let status = response.status();
        let body = response.into_body().collect().await?.to_bytes();
        if !status.is_success() {
            return Err(format!(
                "event {}: {status} {}",
                event.summary.id,
                String::from_utf8_lossy(&body)
            )
            .into());
        }
        let answer: serde_json::Value = serde_json::from_slice(&body).unwrap_or_default();
        Ok(if answer["duplicate"] == true {
            Sent::Duplicate
        } else {
            Sent::Accepted
        })
    }
}

#[cfg(test)]
mod tests {
    use std::time::SystemTime;

    use webhook_receiver::store::{EventState, EventSummary, StoredId};
    use webhook_receiver::verify::VerifySignature;

    use super::*;

    /// What `replay-file` signs for each provider is what that provider's preset accepts.
    #[test]
    fn provider_schemes_sign_what_their_presets_verify() {
        let summary = EventSummary::new(StoredId::new(7), EventState::Dead, SystemTime::now());
        let mut event = EventDetail::new(summary, Bytes::from_static(br#"{"type":"ping"}"#));
        event.headers = vec![("x-github-event".into(), "ping".into())];
        for scheme in [
            Scheme::Stripe,
            Scheme::Github,
            Scheme::Slack,
            Scheme::Shopify,
        ] {
            let sender = Sender::new("http://127.0.0.1:1/".into(), scheme, None, "s3cr3t".into());
            let request = sender.signed(&event).unwrap();
            let verifier = scheme.provider("s3cr3t").unwrap().unwrap();
            let headers = request.headers();
            assert!(
                verifier.verify_body(headers, &event.body).is_ok(),
                "{scheme:?}"
            );
            assert!(verifier.verify_body(headers, b"{}").is_err(), "{scheme:?}");
            let other = scheme.provider("other").unwrap().unwrap();
            assert!(
                other.verify_body(headers, &event.body).is_err(),
                "{scheme:?}"
            );
        }
    }
}
