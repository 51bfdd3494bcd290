//! A test sender, like `stripe trigger`: posts one delivery of every event type to a receiver,
//! authenticated as the real sender would, and prints what the receiver answered.
//!
//! Run with (the receiver in another terminal, `CHIRP_WEBHOOK_SECRET=s cargo run --example
//! chirp_receiver`):
//!
//! ```sh
//! cargo run --example send -- --secret s
//! cargo run --example send -- --secret s --redeliver 2 --tamper
//! # examples/generic_receiver.rs, examples/standard_receiver.rs
//! cargo run --example send -- --scheme hmac --secret s
//! cargo run --example send -- --scheme standard --secret whsec_...
//! # standard_receiver with STANDARD_WEBHOOKS_PUBLIC_KEY=whpk_... (v1a, ed25519)
//! cargo run --example send -- --scheme standard --signing-key whsk_...
//! cargo run --example send -- --signing-key whsk_... --print-public-key
//! # examples/provider_receiver.rs (PROVIDER=stripe|github|slack|shopify)
//! cargo run --example send -- --scheme stripe --secret whsec_...
//! # examples/tls_receiver.rs
//! cargo run --example send -- --url https://localhost:3443/webhooks/chirp \
//!   --cacert cert.pem --secret s
//! ```
//!
//! See `--help` for every option. Each event gets a fresh id per run, so a second run is not
//! deduplicated against the first. Prints one line per delivery on stdout,
//! `<event type> <what> <HTTP status> <response body>`, where `<what>` is `delivery`,
//! `redelivery#N`, or a tampered case (`wrong-secret`, `wrong-signature`, `altered-body`,
//! `missing-header`); a summary goes to stderr. Exits 1 if a genuine delivery was not answered
//! 2xx or a tampered one was, 2 on a usage error.
#![allow(clippy::print_stdout, clippy::print_stderr)]

use std::collections::hash_map::RandomState;
use std::hash::{BuildHasher, Hasher};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use base64::Engine;
use bytes::Bytes;
use http::{Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::pem::PemObject;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};
use webhook_receiver::verify::{
    DEFAULT_SECRET_HEADER, DEFAULT_SIGNATURE_HEADER, StandardWebhooks, WEBHOOK_SIGNATURE_HEADER,
};

const HELP: &str = "\
send: post one delivery of every event type to a webhook receiver, correctly authenticated,
and print each answer (like `stripe trigger`).

USAGE:
    cargo run --example send -- [OPTIONS]

OPTIONS:
    --url URL           where to POST (default per scheme: chirp http://127.0.0.1:3000/webhooks/chirp,
                        hmac http://127.0.0.1:3001/webhook, standard http://127.0.0.1:3002/webhook,
                        stripe|github|slack|shopify http://127.0.0.1:3004/webhooks/<scheme>);
                        https:// URLs need --cacert
    --cacert PEM        for https: trust the certificates in this PEM file (e.g. the self-signed
                        one of examples/tls_receiver.rs); no system trust store is used
    --secret S          the shared secret (chirp), HMAC key (hmac, and the providers' signing
                        secrets) or whsec_... secret (standard); default: the first of
                        $CHIRP_WEBHOOK_SECRET (chirp) or $WEBHOOK_SECRET (the others), the
                        variables the example receivers read
    --scheme SCHEME     chirp (default): Chirp's {\"event\", \"data\"} envelope, all 18 event types,
                            the secret in X-Webhook-Secret (examples/chirp_receiver.rs)
                        hmac: the generic format {\"id\", \"type\", \"created_at\", \"data\"}, its 9 event
                            types, X-Webhook-Signature = hex HMAC-SHA256 of the body
                            (examples/generic_receiver.rs)
                        standard: Standard Webhooks, {\"type\", \"timestamp\", \"data\"} bodies of the same
                            9 types, webhook-id / webhook-timestamp / webhook-signature
                            (examples/standard_receiver.rs)
                        stripe, github, slack, shopify: a few of each sender's event types, with
                            its own envelope, headers and signature (Stripe-Signature t=,v1=;
                            X-Hub-Signature-256; X-Slack-Signature v0= over v0:{t}:{body};
                            X-Shopify-Hmac-Sha256 base64), signed here from each sender's
                            documentation (examples/provider_receiver.rs; slack includes the
                            url_verification handshake)
    --signing-key K     standard only: also sign `v1a` (ed25519) with this whsk_... key (the
                        base64 of a 32-byte seed or of the 64-byte seed + public key pair);
                        with it, --secret is optional and $WEBHOOK_SECRET is not read: the
                        header carries `v1a` alone, or `v1` and `v1a` when --secret is given
                        too. For examples/standard_receiver.rs started with
                        STANDARD_WEBHOOKS_PUBLIC_KEY=<the key's whpk_...>
    --print-public-key  print the whpk_... public key of --signing-key (what the receiver's
                        STANDARD_WEBHOOKS_PUBLIC_KEY needs) and exit
    --event NAME        send only this event type
    --redeliver N       send each event N times in all (default 1), with the same id: the
                        receiver should answer the later ones {\"received\":true,\"duplicate\":true}
                        (standard, stripe, slack: each attempt is signed anew with the current
                        timestamp, as senders retry)
    --tamper            for each event, first send tampered copies, which must be rejected:
                        a wrong secret or signature, an altered body under the original signature
                        (not chirp: a shared secret does not sign the body), and the
                        authentication header missing; expected 401 (standard: a missing header
                        is 400). They go before the genuine delivery, which then must be new.
    -h, --help          this text

OUTPUT:
    one line per request on stdout: <event type> <what> <HTTP status> <response body>, where
    <what> is delivery, redelivery#N, wrong-secret, wrong-signature, altered-body or
    missing-header; a summary on stderr.

EXIT STATUS:
    0 every genuine delivery was answered 2xx (and, with --tamper, no tampered one was)
    1 otherwise, or a request failed
    2 usage error
";

/// Chirp's event types (`webhook_receiver::chirp::EVENT_TYPES`) and a payload of each: the
/// seeds' examples (`tests/fixtures/chirp/`) where they document one; the seeds only name the
/// template, contact and account types, so those payloads follow the documented ones' style.
fn chirp_payload(event: &str) -> Option<&'static str> {
    Some(match event {
        "messages.sms.received" => include_str!("../tests/fixtures/chirp/sms_received.json"),
        "messages.sms.sent" => include_str!("../tests/fixtures/chirp/sms_sent.json"),
        "messages.sms.delivered" => include_str!("../tests/fixtures/chirp/sms_delivered.json"),
        "messages.sms.failed" => include_str!("../tests/fixtures/chirp/sms_failed.json"),
        "messages.whatsapp.received" => {
            include_str!("../tests/fixtures/chirp/whatsapp_received.json")
        }
        "messages.whatsapp.sent" => include_str!("../tests/fixtures/chirp/whatsapp_sent.json"),
        "messages.whatsapp.delivered" => {
            include_str!("../tests/fixtures/chirp/whatsapp_delivered.json")
        }
        "messages.whatsapp.read" => include_str!("../tests/fixtures/chirp/whatsapp_read.json"),
        "messages.whatsapp.failed" => include_str!("../tests/fixtures/chirp/whatsapp_failed.json"),
        "templates.whatsapp.created" => {
            r#"{"event":"templates.whatsapp.created","data":{"id":"tpl_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
            "name":"order_confirmation","status":"PENDING","language":"en_US","category":"UTILITY",
            "createdAt":"2024-01-15T11:00:00.000Z"}}"#
        }
        "templates.whatsapp.updated" => {
            include_str!("../tests/fixtures/chirp/template_updated.json")
        }
        "templates.whatsapp.deleted" => {
            r#"{"event":"templates.whatsapp.deleted","data":{"id":"tpl_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
            "name":"order_confirmation","deletedAt":"2024-01-15T13:00:00.000Z"}}"#
        }
        "templates.whatsapp.connected" => {
            r#"{"event":"templates.whatsapp.connected","data":{"id":"tpl_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
            "name":"order_confirmation","status":"APPROVED","language":"en_US","category":"UTILITY",
            "connectedAt":"2024-01-15T12:30:00.000Z"}}"#
        }
        "contacts.whatsapp.created" => include_str!("../tests/fixtures/chirp/contact_created.json"),
        "contacts.whatsapp.updated" => {
            r#"{"event":"contacts.whatsapp.updated","data":{"id":"con_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
            "phoneNumber":"+15559876543","name":"Ada King","updatedAt":"2024-01-15T12:10:00.000Z"}}"#
        }
        "contacts.whatsapp.deleted" => {
            r#"{"event":"contacts.whatsapp.deleted","data":{"id":"con_2DbBs7GWhGvVNJGrDXr5RG0mBWI",
            "phoneNumber":"+15559876543","deletedAt":"2024-01-15T12:20:00.000Z"}}"#
        }
        "whatsapp.account.connected" => {
            include_str!("../tests/fixtures/chirp/account_connected.json")
        }
        "whatsapp.account.disconnected" => {
            r#"{"event":"whatsapp.account.disconnected","data":{"id":"1472866130489042",
            "name":"Acme Support","disconnectedAt":"2024-01-16T09:00:00.000Z"}}"#
        }
        _ => return None,
    })
}

/// The generic format's event types (generic-webhooks-hmac.md) and the `data` of each.
fn generic_data(event: &str, rng: &mut Rng) -> Option<Value> {
    let user = |rng: &mut Rng, status: &str| json!({"id": rng.id("user_", 12), "name": "John Doe", "email": "john@example.com", "status": status});
    let project = |rng: &mut Rng| json!({"id": rng.id("proj_", 12), "name": "Website redesign"});
    Some(match event {
        "user.created" => user(rng, "active"),
        "user.updated" => user(rng, "active"),
        "user.deleted" => user(rng, "deleted"),
        "project.created" | "project.updated" | "project.deleted" => project(rng),
        "file.uploaded" => {
            json!({"id": rng.id("file_", 12), "name": "report.pdf", "size": 48213, "content_type": "application/pdf"})
        }
        "payment.succeeded" => {
            json!({"id": rng.id("pay_", 12), "amount": 2500, "currency": "usd", "status": "succeeded"})
        }
        "payment.failed" => {
            json!({"id": rng.id("pay_", 12), "amount": 2500, "currency": "usd", "status": "failed", "failure_reason": "card_declined"})
        }
        _ => return None,
    })
}

const GENERIC_EVENT_TYPES: [&str; 9] = [
    "user.created",
    "user.updated",
    "user.deleted",
    "project.created",
    "project.updated",
    "project.deleted",
    "file.uploaded",
    "payment.succeeded",
    "payment.failed",
];

// ===== arguments =====

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Scheme {
    Chirp,
    Hmac,
    Standard,
    Provider(Provider),
}

impl Scheme {
    fn name(self) -> &'static str {
        match self {
            Self::Chirp => "chirp",
            Self::Hmac => "hmac",
            Self::Standard => "standard",
            Self::Provider(p) => p.name(),
        }
    }

    fn default_url(self) -> &'static str {
        match self {
            Self::Chirp => "http://127.0.0.1:3000/webhooks/chirp",
            Self::Hmac => "http://127.0.0.1:3001/webhook",
            Self::Standard => "http://127.0.0.1:3002/webhook",
            Self::Provider(p) => p.default_url(),
        }
    }

    fn secret_var(self) -> &'static str {
        match self {
            Self::Chirp => "CHIRP_WEBHOOK_SECRET",
            Self::Hmac | Self::Standard | Self::Provider(_) => "WEBHOOK_SECRET",
        }
    }

    fn event_types(self) -> &'static [&'static str] {
        match self {
            Self::Chirp => &webhook_receiver::chirp::EVENT_TYPES,
            Self::Hmac | Self::Standard => &GENERIC_EVENT_TYPES,
            Self::Provider(p) => p.event_types(),
        }
    }

    /// The header that authenticates a request (left out by the `missing-header` case).
    fn auth_header(self) -> &'static str {
        match self {
            Self::Chirp => DEFAULT_SECRET_HEADER,
            Self::Hmac => DEFAULT_SIGNATURE_HEADER,
            Self::Standard => WEBHOOK_SIGNATURE_HEADER,
            Self::Provider(p) => p.signature_header(),
        }
    }
}

struct Args {
    url: Uri,
    /// For `https` URLs.
    tls: Option<TlsConnector>,
    secret: String,
    /// `--signing-key`: standard only, signs `v1a`.
    signing_key: Option<ed25519_dalek::SigningKey>,
    scheme: Scheme,
    event: Option<String>,
    redeliver: u32,
    tamper: bool,
}

/// `Ok(None)`: `--help` was asked for.
fn parse_args(mut args: impl Iterator<Item = String>) -> Result<Option<Args>, String> {
    let (mut url, mut secret, mut scheme, mut event) = (None, None, Scheme::Chirp, None);
    let mut cacert = None;
    let (mut redeliver, mut tamper) = (1, false);
    let (mut signing_key, mut print_public_key) = (None, false);
    while let Some(arg) = args.next() {
        // `--name value` and `--name=value` alike.
        let (name, inline) = match arg.split_once('=') {
            Some((n, v)) if n.starts_with("--") => (n.to_owned(), Some(v.to_owned())),
            _ => (arg, None),
        };
        let mut value = || {
            inline
                .clone()
                .or_else(|| args.next())
                .ok_or_else(|| format!("{name} needs a value"))
        };
        match name.as_str() {
            "-h" | "--help" => return Ok(None),
            "--url" => url = Some(value()?),
            "--secret" => secret = Some(value()?),
            "--cacert" => cacert = Some(value()?),
            "--event" => event = Some(value()?),
            "--scheme" => {
                scheme = match value()?.as_str() {
                    "chirp" => Scheme::Chirp,
                    "hmac" => Scheme::Hmac,
                    "standard" => Scheme::Standard,
                    other => match Provider::from_name(other) {
                        Some(p) => Scheme::Provider(p),
                        None => {
                            return Err(format!(
                                "unknown scheme {other:?}: chirp, hmac, standard, stripe, github, slack or shopify"
                            ));
                        }
                    },
                }
            }
            "--redeliver" => {
                let v = value()?;
                redeliver = match v.parse() {
                    Ok(n) if n >= 1 => n,
                    _ => return Err(format!("--redeliver {v:?}: a count of at least 1")),
                };
            }
            "--tamper" => tamper = true,
            "--signing-key" => signing_key = Some(v1a_signing_key(&value()?)?),
            "--print-public-key" => print_public_key = true,
            other => return Err(format!("unknown argument {other:?} (see --help)")),
        }
    }

    if print_public_key {
        let key = signing_key.ok_or("--print-public-key needs --signing-key whsk_...")?;
        line(format_args!("{}", v1a_public_key(&key)));
        std::process::exit(0);
    }
    if signing_key.is_some() && scheme != Scheme::Standard {
        return Err("--signing-key is for --scheme standard".to_owned());
    }
    let url: Uri = url
        .as_deref()
        .unwrap_or(scheme.default_url())
        .parse()
        .map_err(|e| format!("--url: {e}"))?;
    let not_a_url = || format!("--url {url}: an http(s)://host[:port]/path URL");
    if url.host().is_none() {
        return Err(not_a_url());
    }
    let tls = match (url.scheme_str(), cacert) {
        (Some("http"), None) => None,
        (Some("https"), Some(pem)) => Some(tls_connector(&pem)?),
        (Some("https"), None) => return Err("an https URL needs --cacert PEM".to_owned()),
        (Some("http"), Some(_)) => return Err("--cacert is for https URLs".to_owned()),
        _ => return Err(not_a_url()),
    };
    let var = scheme.secret_var();
    let secret = match secret {
        Some(s) => s,
        // v1a alone.
        None if signing_key.is_some() => String::new(),
        None => std::env::var(var)
            .ok()
            .and_then(|v| {
                v.split(',')
                    .map(str::trim)
                    .find(|s| !s.is_empty())
                    .map(str::to_owned)
            })
            .ok_or_else(|| format!("no secret: pass --secret or set {var}"))?,
    };
    if scheme == Scheme::Standard && !secret.is_empty() {
        StandardWebhooks::new([secret.as_str()]).map_err(|e| {
            format!("--secret: not a Standard Webhooks secret (whsec_<base64>): {e}")
        })?;
    }
    if matches!(scheme, Scheme::Provider(_)) && secret.is_empty() {
        return Err("--secret: the signing secret is empty".to_owned());
    }
    if let Some(name) = &event {
        if !scheme.event_types().contains(&name.as_str()) {
            return Err(format!(
                "unknown event type {name:?} for --scheme {}; one of: {}",
                scheme.name(),
                scheme.event_types().join(", ")
            ));
        }
    }
    Ok(Some(Args {
        url,
        tls,
        secret,
        signing_key,
        scheme,
        event,
        redeliver,
        tamper,
    }))
}

/// A TLS client trusting only the certificates in the PEM file `path`, on rustls's ring provider.
fn tls_connector(path: &str) -> Result<TlsConnector, String> {
    let mut roots = RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(path).map_err(|e| format!("--cacert {path}: {e}"))? {
        let cert = cert.map_err(|e| format!("--cacert {path}: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("--cacert {path}: {e}"))?;
    }
    if roots.is_empty() {
        return Err(format!("--cacert {path}: no certificate in the file"));
    }
    // The process-wide provider from rustls' crate features: ring alone here (no aws-lc C
    // build). `ring::default_provider()` is deprecated since rustls 0.23.48.
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

// ===== fresh ids =====

/// A small PRNG (splitmix64) seeded from the OS-random `RandomState`, the time and the pid:
/// ids only need to differ between runs, not to be secret.
struct Rng(u64);

impl Rng {
    fn new() -> Self {
        let mut h = RandomState::new().build_hasher();
        let nanos = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos());
        h.write_u128(nanos);
        h.write_u32(std::process::id());
        Self(h.finish())
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn pick(&mut self, alphabet: &[u8], n: usize) -> String {
        (0..n)
            .map(|_| {
                let i = usize::try_from(self.next() % alphabet.len() as u64).unwrap_or(0);
                char::from(alphabet[i])
            })
            .collect()
    }

    /// `prefix` and `n` random alphanumerics (a KSUID-like id, as Chirp's `msg_wa_...`).
    fn id(&mut self, prefix: &str, n: usize) -> String {
        const ALNUM: &[u8] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
        format!("{prefix}{}", self.pick(ALNUM, n))
    }

    /// A random id shaped like `original`: a UUID for a UUID, digits for digits, otherwise the
    /// same `prefix_` and as many random alphanumerics.
    fn like(&mut self, original: &str) -> String {
        let b = original.as_bytes();
        if b.len() == 36 && [8, 13, 18, 23].iter().all(|&i| b[i] == b'-') {
            // Version 4, RFC 4122 variant.
            let h = self.pick(b"0123456789abcdef", 32);
            let variant = self.pick(b"89ab", 1);
            return format!(
                "{}-{}-4{}-{variant}{}-{}",
                &h[..8],
                &h[8..12],
                &h[13..16],
                &h[17..20],
                &h[20..]
            );
        }
        if !b.is_empty() && b.iter().all(u8::is_ascii_digit) {
            return format!(
                "{}{}",
                self.pick(b"123456789", 1),
                self.pick(b"0123456789", b.len() - 1)
            );
        }
        let (prefix, rest) = original
            .rfind('_')
            .map_or(("", original), |i| original.split_at(i + 1));
        self.id(prefix, rest.len().max(12))
    }
}

// ===== events =====

/// One event to deliver: its type, body, and the id the receiver dedups it by (Chirp's
/// `data.id`, the generic format's top-level `id`, or the Standard Webhooks `webhook-id`).
#[derive(Debug)]
struct Event {
    name: &'static str,
    body: String,
    id: String,
}

fn rfc3339_now() -> String {
    chrono::Utc::now().to_rfc3339_opts(chrono::SecondsFormat::Secs, true)
}

fn events(scheme: Scheme, only: Option<&str>, rng: &mut Rng) -> Vec<Event> {
    let names = scheme
        .event_types()
        .iter()
        .copied()
        .filter(|n| only.is_none_or(|only| only == *n));
    names
        .map(|name| match scheme {
            Scheme::Chirp => {
                let template = chirp_payload(name).expect("a payload for every Chirp event type");
                let mut v: Value = serde_json::from_str(template).expect("payloads are JSON");
                assert_eq!(v["event"], name, "payload of {name}");
                let id = rng.like(v["data"]["id"].as_str().expect("data.id"));
                v["data"]["id"] = Value::from(id.clone());
                Event {
                    name,
                    body: v.to_string(),
                    id,
                }
            }
            Scheme::Hmac => {
                let data = generic_data(name, rng).expect("data for every generic event type");
                let id = rng.id("evt_", 27);
                let body =
                    json!({"id": id, "type": name, "created_at": rfc3339_now(), "data": data});
                Event {
                    name,
                    body: body.to_string(),
                    id,
                }
            }
            Scheme::Standard => {
                let data = generic_data(name, rng).expect("data for every generic event type");
                let body = json!({"type": name, "timestamp": rfc3339_now(), "data": data});
                Event {
                    name,
                    body: body.to_string(),
                    id: rng.id("msg_", 27),
                }
            }
            Scheme::Provider(p) => p.event(name, rng),
        })
        .collect()
}

// ===== providers: Stripe, GitHub, Slack, Shopify (examples/provider_receiver.rs) =====

/// A sender the crate has a preset for: its envelope, headers and signature.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Provider {
    Stripe,
    Github,
    Slack,
    Shopify,
}

impl Provider {
    fn from_name(name: &str) -> Option<Self> {
        Some(match name {
            "stripe" => Self::Stripe,
            "github" => Self::Github,
            "slack" => Self::Slack,
            "shopify" => Self::Shopify,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Stripe => "stripe",
            Self::Github => "github",
            Self::Slack => "slack",
            Self::Shopify => "shopify",
        }
    }

    fn default_url(self) -> &'static str {
        match self {
            Self::Stripe => "http://127.0.0.1:3004/webhooks/stripe",
            Self::Github => "http://127.0.0.1:3004/webhooks/github",
            Self::Slack => "http://127.0.0.1:3004/webhooks/slack",
            Self::Shopify => "http://127.0.0.1:3004/webhooks/shopify",
        }
    }

    /// The event names the receiver reports (GitHub's are `X-GitHub-Event[.action]`).
    fn event_types(self) -> &'static [&'static str] {
        match self {
            Self::Stripe => &[
                "payment_intent.succeeded",
                "payment_intent.payment_failed",
                "charge.refunded",
                "customer.subscription.created",
                "invoice.paid",
            ],
            Self::Github => &["ping", "push", "issues.opened", "pull_request.closed"],
            Self::Slack => &[
                "url_verification",
                "app_mention",
                "message",
                "reaction_added",
            ],
            Self::Shopify => &[
                "orders/create",
                "orders/paid",
                "products/update",
                "app/uninstalled",
            ],
        }
    }

    fn signature_header(self) -> &'static str {
        match self {
            Self::Stripe => "stripe-signature",
            Self::Github => "x-hub-signature-256",
            Self::Slack => "x-slack-signature",
            Self::Shopify => "x-shopify-hmac-sha256",
        }
    }

    /// A realistic delivery of `name` with fresh ids; `id` is what the receiver dedups by.
    fn event(self, name: &'static str, rng: &mut Rng) -> Event {
        let now = unix_now();
        match self {
            Self::Stripe => {
                let id = rng.id("evt_", 24);
                let object = match name {
                    "payment_intent.succeeded" | "payment_intent.payment_failed" => {
                        let failed = name.ends_with("failed");
                        json!({"id": rng.id("pi_", 24), "object": "payment_intent", "amount": 2000,
                            "currency": "usd", "status": if failed { "requires_payment_method" } else { "succeeded" },
                            "last_payment_error": if failed { json!({"code": "card_declined"}) } else { Value::Null }})
                    }
                    "charge.refunded" => {
                        json!({"id": rng.id("ch_", 24), "object": "charge", "amount": 2000, "amount_refunded": 2000, "refunded": true})
                    }
                    "customer.subscription.created" => {
                        json!({"id": rng.id("sub_", 24), "object": "subscription", "customer": rng.id("cus_", 14), "status": "active"})
                    }
                    _ => {
                        json!({"id": rng.id("in_", 24), "object": "invoice", "amount_paid": 4900, "currency": "usd", "status": "paid"})
                    }
                };
                let body = json!({"id": id, "object": "event", "api_version": "2024-06-20", "created": now,
                    "type": name, "livemode": false, "pending_webhooks": 1,
                    "request": {"id": rng.id("req_", 14), "idempotency_key": null}, "data": {"object": object}});
                Event {
                    name,
                    body: body.to_string(),
                    id,
                }
            }
            Self::Github => {
                let repo =
                    json!({"id": 1_296_269, "full_name": "octocat/Hello-World", "private": false});
                let sender = json!({"login": "octocat", "id": 1});
                let body = match name {
                    "ping" => {
                        json!({"zen": "Keep it logically awesome.", "hook_id": 30, "repository": repo, "sender": sender})
                    }
                    "push" => {
                        json!({"ref": "refs/heads/main", "before": rng.pick(b"0123456789abcdef", 40),
                        "after": rng.pick(b"0123456789abcdef", 40), "repository": repo, "sender": sender})
                    }
                    "issues.opened" => {
                        json!({"action": "opened", "issue": {"number": 1347, "title": "Found a bug", "state": "open"},
                        "repository": repo, "sender": sender})
                    }
                    _ => {
                        json!({"action": "closed", "number": 42, "pull_request": {"number": 42, "merged": true},
                        "repository": repo, "sender": sender})
                    }
                };
                Event {
                    name,
                    body: body.to_string(),
                    id: rng.like("72d3162e-cc78-11e3-81ab-4c9367dc0958"),
                }
            }
            Self::Slack => {
                if name == "url_verification" {
                    let challenge = rng.id("", 48);
                    let body = json!({"token": "Jhj5dZrVaK7ZwHHjRyZWjbDl", "challenge": challenge, "type": "url_verification"});
                    return Event {
                        name,
                        body: body.to_string(),
                        id: format!("url_verification:{challenge}"),
                    };
                }
                let id = rng.id("Ev", 9);
                let ts = format!("{now}.{}", rng.pick(b"0123456789", 6));
                let event = match name {
                    "app_mention" => {
                        json!({"type": "app_mention", "user": "U061F7AUR", "text": "<@U0LAN0Z89> is it everything a river should be?", "ts": ts, "channel": "C0LAN2Q65", "event_ts": ts})
                    }
                    "message" => {
                        json!({"type": "message", "channel": "C2147483705", "user": "U2147483697", "text": "Hello world", "ts": ts})
                    }
                    _ => {
                        json!({"type": "reaction_added", "user": "U024BE7LH", "reaction": "thumbsup", "item_user": "U0G9QF9C6",
                        "item": {"type": "message", "channel": "C0G9QF9GZ", "ts": "1360782400.498405"}, "event_ts": ts})
                    }
                };
                let body = json!({"token": "XXYYZZ", "team_id": "T123ABC456", "api_app_id": "A123ABC456", "event": event,
                    "type": "event_callback", "event_id": id, "event_time": now,
                    "authorizations": [{"team_id": "T123ABC456", "user_id": "U123ABC456", "is_bot": true}]});
                Event {
                    name,
                    body: body.to_string(),
                    id,
                }
            }
            Self::Shopify => {
                let body = match name {
                    "orders/create" | "orders/paid" => {
                        json!({"id": rng.like("820982911946154508"), "email": "jon@example.com",
                        "total_price": "403.00", "currency": "USD", "financial_status": if name == "orders/paid" { "paid" } else { "pending" },
                        "line_items": [{"id": rng.like("866550311766439020"), "title": "IPod Nano - 8GB", "quantity": 1, "price": "199.00"}]})
                    }
                    "products/update" => {
                        json!({"id": rng.like("788032119674292922"), "title": "Example T-Shirt", "vendor": "Acme", "status": "active"})
                    }
                    _ => {
                        json!({"id": rng.like("548380009"), "name": "Super Toys", "domain": "example.myshopify.com"})
                    }
                };
                Event {
                    name,
                    body: body.to_string(),
                    id: rng.like("98880550-7158-44d4-b7cd-2c97c8a091b5"),
                }
            }
        }
    }

    /// The headers a delivery of `event` carries, signed with `secret` as the sender signs:
    /// computed here with the `hmac` crate from each sender's documentation, independently of
    /// the crate's presets, so that a run is a check of the presets from outside.
    fn headers(self, secret: &str, event: &Event) -> Vec<(&'static str, String)> {
        use hmac::{Hmac, Mac};

        let now = unix_now();
        let mac = |parts: &[&[u8]]| {
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes keys of any length");
            for part in parts {
                mac.update(part);
            }
            mac.finalize().into_bytes()
        };
        let (t, body) = (now.to_string(), event.body.as_bytes());
        match self {
            // Stripe-Signature: t=<unix>,v1=<hex HMAC of "{t}.{body}">
            Self::Stripe => {
                let v1 = hex::encode(mac(&[t.as_bytes(), b".", body]));
                vec![("stripe-signature", format!("t={t},v1={v1}"))]
            }
            Self::Github => vec![
                (
                    "x-hub-signature-256",
                    format!("sha256={}", hex::encode(mac(&[body]))),
                ),
                (
                    "x-github-event",
                    event
                        .name
                        .split('.')
                        .next()
                        .unwrap_or(event.name)
                        .to_owned(),
                ),
                ("x-github-delivery", event.id.clone()),
                ("x-github-hook-id", "30".to_owned()),
            ],
            // X-Slack-Signature: v0=<hex HMAC of "v0:{t}:{body}">
            Self::Slack => {
                let v0 = hex::encode(mac(&[b"v0:", t.as_bytes(), b":", body]));
                vec![
                    ("x-slack-request-timestamp", t),
                    ("x-slack-signature", format!("v0={v0}")),
                ]
            }
            Self::Shopify => vec![
                (
                    "x-shopify-hmac-sha256",
                    base64::engine::general_purpose::STANDARD.encode(mac(&[body])),
                ),
                ("x-shopify-topic", event.name.to_owned()),
                ("x-shopify-event-id", event.id.clone()),
                ("x-shopify-webhook-id", format!("{}-w", event.id)),
                ("x-shopify-shop-domain", "example.myshopify.com".to_owned()),
                ("x-shopify-api-version", "2025-01".to_owned()),
            ],
        }
    }
}

fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX))
}

// ===== requests =====

/// What a request is: genuine, or one of the tampered cases.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Case {
    Delivery(u32),
    WrongSecret,
    AlteredBody,
    MissingHeader,
}

impl Case {
    fn label(self, scheme: Scheme) -> String {
        match self {
            Self::Delivery(1) => "delivery".to_owned(),
            Self::Delivery(n) => format!("redelivery#{n}"),
            Self::WrongSecret if scheme == Scheme::Chirp => "wrong-secret".to_owned(),
            Self::WrongSecret => "wrong-signature".to_owned(),
            Self::AlteredBody => "altered-body".to_owned(),
            Self::MissingHeader => "missing-header".to_owned(),
        }
    }

    /// The status the receiver should answer a tampered case with (`None`: genuine, any 2xx).
    fn expected_rejection(self, scheme: Scheme) -> Option<u16> {
        match self {
            Self::Delivery(_) => None,
            // The library answers a missing Standard Webhooks header 400, not 401.
            Self::MissingHeader if scheme == Scheme::Standard => Some(400),
            Self::WrongSecret | Self::AlteredBody | Self::MissingHeader => Some(401),
        }
    }
}

/// The request for `event` in `case`, authenticated as the scheme's sender does: the shared
/// secret in `X-Webhook-Secret`, an HMAC-SHA256 (hex) of the body in `X-Webhook-Signature`, or
/// the Standard Webhooks headers signed with the crate's own `StandardWebhooks::sign`.
fn request(args: &Args, event: &Event, case: Case, rng: &mut Rng) -> Request<Full<Bytes>> {
    let path = args.url.path_and_query().map_or("/", |p| p.as_str());
    let wrong;
    let secret = if case == Case::WrongSecret {
        wrong = match args.scheme {
            // Another valid secret, so that the signature is well-formed but wrong.
            Scheme::Standard => {
                let mut key = [0u8; 24];
                for chunk in key.chunks_mut(8) {
                    chunk.copy_from_slice(&rng.next().to_le_bytes());
                }
                format!(
                    "whsec_{}",
                    base64::engine::general_purpose::STANDARD.encode(key)
                )
            }
            Scheme::Chirp | Scheme::Hmac | Scheme::Provider(_) => {
                format!("wrong-{}", args.secret)
            }
        };
        wrong.as_str()
    } else {
        args.secret.as_str()
    };
    let body = event.body.clone();
    let headers: Vec<(&str, String)> = match args.scheme {
        Scheme::Chirp => vec![("x-webhook-secret", secret.to_owned())],
        Scheme::Hmac => {
            use hmac::{Hmac, Mac};
            let mut mac = Hmac::<sha2::Sha256>::new_from_slice(secret.as_bytes())
                .expect("HMAC takes keys of any length");
            mac.update(body.as_bytes());
            let signature = hex::encode(mac.finalize().into_bytes());
            vec![("x-webhook-signature", signature)]
        }
        Scheme::Standard => {
            let now = SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map_or(0, |d| i64::try_from(d.as_secs()).unwrap_or(i64::MAX));
            let mut entries = Vec::new();
            if !args.secret.is_empty() {
                let scheme = webhook_receiver::verify::StandardWebhooks::new([secret])
                    .expect("a whsec_ secret (checked when the arguments were read)");
                entries.push(scheme.sign(&event.id, now, body.as_bytes()));
            }
            if let Some(key) = &args.signing_key {
                // A wrong signature: another key's, well-formed.
                let wrong = (case == Case::WrongSecret).then(|| {
                    let mut seed = [0u8; 32];
                    for chunk in seed.chunks_mut(8) {
                        chunk.copy_from_slice(&rng.next().to_le_bytes());
                    }
                    ed25519_dalek::SigningKey::from_bytes(&seed)
                });
                let key = wrong.as_ref().unwrap_or(key);
                entries.push(v1a_entry(key, &event.id, now, body.as_bytes()));
            }
            let signature = entries.join(" ");
            vec![
                ("webhook-id", event.id.clone()),
                ("webhook-timestamp", now.to_string()),
                ("webhook-signature", signature),
            ]
        }
        Scheme::Provider(p) => p.headers(secret, event),
    };
    let mut builder = Request::post(path).header("content-type", "application/json");
    for (name, value) in headers {
        builder = builder.header(name, value);
    }
    let mut req: Request<Full<Bytes>> = builder
        .body(Full::new(Bytes::from(body)))
        .expect("a valid request");
    match case {
        Case::AlteredBody => {
            // The same signature headers over a body with one field changed.
            let mut v: Value = serde_json::from_str(&event.body).expect("bodies are JSON");
            v["data"]["tampered"] = Value::Bool(true);
            *req.body_mut() = Full::new(Bytes::from(v.to_string()));
        }
        Case::MissingHeader => {
            req.headers_mut().remove(args.scheme.auth_header());
        }
        Case::Delivery(_) | Case::WrongSecret => {}
    }
    let host = args.url.authority().expect("checked: the URL has a host");
    let host = http::HeaderValue::from_str(host.as_str()).expect("an authority is a header value");
    req.headers_mut().insert(http::header::HOST, host);
    req.headers_mut().insert(
        http::header::USER_AGENT,
        http::HeaderValue::from_static("webhook-receiver-send/0.1"),
    );
    req
}

// ===== v1a (ed25519) =====

/// A `whsk_` signing key: the base64 of a 32-byte seed or of the 64-byte key pair (seed, then
/// public key, checked to match).
fn v1a_signing_key(key: &str) -> Result<ed25519_dalek::SigningKey, String> {
    let usage = "--signing-key: not a Standard Webhooks signing key (whsk_ and the base64 of a \
                 32-byte seed or a 64-byte key pair)";
    let encoded = key.strip_prefix("whsk_").ok_or(usage)?;
    let bytes = base64::engine::general_purpose::STANDARD
        .decode(encoded)
        .map_err(|_| usage)?;
    match bytes.len() {
        32 => Ok(ed25519_dalek::SigningKey::from_bytes(
            &bytes.try_into().expect("32 bytes"),
        )),
        64 => ed25519_dalek::SigningKey::from_keypair_bytes(&bytes.try_into().expect("64 bytes"))
            .map_err(|_| "--signing-key: the public half does not match the seed".to_owned()),
        _ => Err(usage.to_owned()),
    }
}

/// The `whpk_` public key of `key`.
fn v1a_public_key(key: &ed25519_dalek::SigningKey) -> String {
    let public = key.verifying_key();
    format!(
        "whpk_{}",
        base64::engine::general_purpose::STANDARD.encode(public.as_bytes())
    )
}

/// The `v1a,<base64>` entry: ed25519 over `{id}.{timestamp}.{body}`.
fn v1a_entry(key: &ed25519_dalek::SigningKey, id: &str, timestamp: i64, body: &[u8]) -> String {
    use ed25519_dalek::Signer as _;
    let mut message = format!("{id}.{timestamp}.").into_bytes();
    message.extend_from_slice(body);
    let signature = key.sign(&message).to_bytes();
    format!(
        "v1a,{}",
        base64::engine::general_purpose::STANDARD.encode(signature)
    )
}

/// Sends `req` on a new HTTP/1.1 connection to the URL's host (over TLS for `https`); returns
/// status and body.
async fn send(args: &Args, req: Request<Full<Bytes>>) -> Result<(u16, String), String> {
    let host = args.url.host().expect("checked: the URL has a host");
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let port = args
        .url
        .port_u16()
        .unwrap_or(if args.tls.is_some() { 443 } else { 80 });
    let exchange = async {
        let stream = tokio::net::TcpStream::connect((host, port))
            .await
            .map_err(|e| format!("connect {host}:{port}: {e}"))?;
        match &args.tls {
            None => exchange(stream, req).await,
            Some(tls) => {
                let name =
                    ServerName::try_from(host.to_owned()).map_err(|e| format!("{host}: {e}"))?;
                let stream = tls
                    .connect(name, stream)
                    .await
                    .map_err(|e| format!("TLS handshake: {e}"))?;
                exchange(stream, req).await
            }
        }
    };
    tokio::time::timeout(Duration::from_secs(30), exchange)
        .await
        .map_err(|_| "no answer within 30 s".to_owned())?
}

/// One HTTP/1.1 request and its response on `io`.
async fn exchange<IO>(io: IO, req: Request<Full<Bytes>>) -> Result<(u16, String), String>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(|e| format!("handshake: {e}"))?;
    tokio::spawn(conn);
    let res = sender
        .send_request(req)
        .await
        .map_err(|e| format!("request: {e}"))?;
    let status = res.status().as_u16();
    let body = res
        .into_body()
        .collect()
        .await
        .map_err(|e| format!("response body: {e}"))?
        .to_bytes();
    Ok((status, String::from_utf8_lossy(&body).into_owned()))
}

// ===== main =====

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = match parse_args(std::env::args().skip(1)) {
        Ok(Some(args)) => args,
        Ok(None) => {
            print!("{HELP}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("send: {e}");
            return ExitCode::from(2);
        }
    };
    let mut rng = Rng::new();
    let events = events(args.scheme, args.event.as_deref(), &mut rng);
    let mut cases = Vec::new();
    if args.tamper {
        cases.push(Case::WrongSecret);
        if args.scheme == Scheme::Chirp {
            eprintln!(
                "send: --tamper with --scheme chirp sends no altered-body case: the shared secret \
                 does not sign the body"
            );
        } else {
            cases.push(Case::AlteredBody);
        }
        cases.push(Case::MissingHeader);
    }
    cases.extend((1..=args.redeliver).map(Case::Delivery));

    let width = events.iter().map(|e| e.name.len()).max().unwrap_or(0);
    let (mut genuine, mut genuine_bad, mut tampered, mut tampered_bad) = (0, 0, 0, 0);
    for event in &events {
        for &case in &cases {
            let req = request(&args, event, case, &mut rng);
            let label = case.label(args.scheme);
            let result = send(&args, req).await;
            let ok = match (&result, case.expected_rejection(args.scheme)) {
                (Ok((status, _)), None) => (200..300).contains(status),
                (Err(_), None) => false,
                // A tampered request fails the run only when accepted.
                (Ok((status, _)), Some(_)) => !(200..300).contains(status),
                (Err(_), Some(_)) => false,
            };
            match &result {
                Ok((status, body)) => {
                    line(format_args!(
                        "{:<width$} {label:<15} {status} {body}",
                        event.name
                    ));
                }
                Err(e) => line(format_args!("{:<width$} {label:<15} ERR {e}", event.name)),
            }
            if let (Ok((status, _)), Some(expected)) =
                (&result, case.expected_rejection(args.scheme))
            {
                if *status != expected && ok {
                    eprintln!(
                        "send: {} {label}: rejected with {status}, expected {expected}",
                        event.name
                    );
                }
            }
            match case {
                Case::Delivery(_) => {
                    genuine += 1;
                    genuine_bad += usize::from(!ok);
                }
                _ => {
                    tampered += 1;
                    tampered_bad += usize::from(!ok);
                }
            }
        }
    }

    eprintln!(
        "send: {} event(s) to {}: {genuine} genuine deliveries, {} answered 2xx",
        events.len(),
        args.url,
        genuine - genuine_bad
    );
    if args.tamper {
        eprintln!(
            "send: {tampered} tampered requests, {} rejected",
            tampered - tampered_bad
        );
    }
    if genuine_bad + tampered_bad == 0 {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

/// Prints one line on stdout; a closed stdout (`send ... | head`) ends the run quietly, as
/// command-line tools do, instead of panicking.
fn line(args: std::fmt::Arguments<'_>) {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    if writeln!(out, "{args}").is_err() {
        std::process::exit(0);
    }
}
