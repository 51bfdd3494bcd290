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

/// How a posted event is signed.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Scheme {
    /// The shared secret in a header (`X-Webhook-Secret` by default): Chirp.
    SharedSecret,
    /// The hex HMAC-SHA256 of the body in a header (`X-Webhook-Signature` by default).
    Hmac,
    /// Standard Webhooks: `webhook-id`, `webhook-timestamp` (now) and `webhook-signature`.
    Standard,
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
