//! The TLS example as Chirp sees it: a separate process serving HTTPS with a certificate made
//! at test time, a client that trusts only that certificate, real HTTP over TLS, stdout lines.
#![cfg(all(
    unix,
    feature = "chirp",
    feature = "hmac",
    feature = "standard-webhooks",
    feature = "testing"
))]

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use bytes::Bytes;
use http::Request;
use http_body_util::{BodyExt, Full};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_rustls::TlsConnector;
use tokio_rustls::rustls::pki_types::{CertificateDer, ServerName};
use tokio_rustls::rustls::{ClientConfig, RootCertStore};

mod support;

use support::process::{Running, example_binary};

/// A temporary directory, removed on drop.
struct TempDir(PathBuf);

impl TempDir {
    fn new() -> Self {
        static N: AtomicUsize = AtomicUsize::new(0);
        let dir = std::env::temp_dir().join(format!(
            "webhook-receiver-tls-{}-{}",
            std::process::id(),
            N.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }
}

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A self-signed certificate for `localhost` and `127.0.0.1`.
struct Cert {
    der: CertificateDer<'static>,
    cert_pem: PathBuf,
    key_pem: PathBuf,
}

fn self_signed(dir: &TempDir) -> Cert {
    let names = vec!["localhost".to_owned(), "127.0.0.1".to_owned()];
    let rcgen::CertifiedKey { cert, signing_key } =
        rcgen::generate_simple_self_signed(names).unwrap();
    let cert_pem = dir.0.join("cert.pem");
    let key_pem = dir.0.join("key.pem");
    std::fs::write(&cert_pem, cert.pem()).unwrap();
    std::fs::write(&key_pem, signing_key.serialize_pem()).unwrap();
    Cert {
        der: cert.der().clone(),
        cert_pem,
        key_pem,
    }
}

/// Starts the TLS example with `cert` and the test secret.
async fn start(cert: &Cert) -> Running {
    let (cert_pem, key_pem) = (
        cert.cert_pem.to_str().unwrap(),
        cert.key_pem.to_str().unwrap(),
    );
    Running::start(
        "tls_receiver",
        &[
            ("TLS_CERT", cert_pem),
            ("TLS_KEY", key_pem),
            ("CHIRP_WEBHOOK_SECRET", support::SECRET),
        ],
    )
    .await
}

/// A TLS client (rustls, ring) that trusts `root` only.
fn connector(root: &CertificateDer<'static>) -> TlsConnector {
    let mut roots = RootCertStore::empty();
    roots.add(root.clone()).unwrap();
    // The process-wide provider from rustls' crate features: ring alone here (no aws-lc C
    // build). `ring::default_provider()` is deprecated since rustls 0.23.48.
    let config = ClientConfig::builder()
        .with_root_certificates(roots)
        .with_no_client_auth();
    TlsConnector::from(Arc::new(config))
}

/// POSTs a Chirp payload with the test secret over HTTPS (server name `localhost`); returns
/// status and body, or the TLS or HTTP error.
async fn https_post_chirp(
    addr: SocketAddr,
    tls: &TlsConnector,
    body: String,
) -> Result<(u16, String), String> {
    let tcp = tokio::net::TcpStream::connect(addr).await.unwrap();
    let name = ServerName::try_from("localhost").unwrap();
    let stream = tls.connect(name, tcp).await.map_err(|e| e.to_string())?;
    let io = hyper_util::rt::TokioIo::new(stream);
    let (mut sender, conn) = hyper::client::conn::http1::handshake(io)
        .await
        .map_err(|e| e.to_string())?;
    tokio::spawn(conn);
    let req = Request::post(support::URI)
        .header("host", format!("localhost:{}", addr.port()))
        .header("content-type", "application/json")
        .header("x-webhook-secret", support::SECRET)
        .body(Full::new(Bytes::from(body)))
        .unwrap();
    let res = sender.send_request(req).await.map_err(|e| e.to_string())?;
    let status = res.status().as_u16();
    let bytes = res.into_body().collect().await.unwrap().to_bytes();
    Ok((status, String::from_utf8_lossy(&bytes).into_owned()))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn https_delivery_is_acknowledged_and_handled() {
    let dir = TempDir::new();
    let cert = self_signed(&dir);
    let receiver = start(&cert).await;
    let tls = connector(&cert.der);

    let body = support::fixture("sms_delivered");
    let answer = https_post_chirp(receiver.addr, &tls, body.clone()).await;
    assert_eq!(answer, Ok((200, r#"{"received":true}"#.to_owned())));
    let answer = https_post_chirp(receiver.addr, &tls, body).await;
    assert_eq!(
        answer,
        Ok((200, r#"{"received":true,"duplicate":true}"#.to_owned()))
    );

    let lines = receiver.stop().await;
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert_eq!(lines[0]["event"], "messages.sms.delivered");
    assert_eq!(lines[0]["id"], "550e8400-e29b-41d4-a716-446655440000");
    assert_eq!(lines[0]["handler"], "sms_status");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn plain_http_and_clients_that_do_not_trust_the_certificate_get_nothing() {
    let dir = TempDir::new();
    let cert = self_signed(&dir);
    let receiver = start(&cert).await;

    // Plain HTTP on the TLS port: no HTTP response, the connection is closed.
    let body = support::fixture("sms_sent");
    let mut tcp = tokio::net::TcpStream::connect(receiver.addr).await.unwrap();
    let request = format!(
        "POST {} HTTP/1.1\r\nhost: localhost\r\ncontent-type: application/json\r\n\
         x-webhook-secret: {}\r\ncontent-length: {}\r\n\r\n{body}",
        support::URI,
        support::SECRET,
        body.len()
    );
    tcp.write_all(request.as_bytes()).await.unwrap();
    let mut reply = Vec::new();
    let read = tokio::time::timeout(Duration::from_secs(15), tcp.read_to_end(&mut reply)).await;
    assert!(read.is_ok(), "the server closes a plain-HTTP connection");
    assert!(
        !reply.starts_with(b"HTTP/"),
        "an HTTP answer on the TLS port: {:?}",
        String::from_utf8_lossy(&reply)
    );

    // A client trusting another certificate fails the handshake.
    let other = self_signed(&TempDir::new());
    let answer = https_post_chirp(receiver.addr, &connector(&other.der), body).await;
    let err = answer.expect_err("an untrusted certificate is refused by the client");
    assert!(err.contains("certificate"), "{err}");

    assert!(receiver.stop().await.is_empty(), "nothing was accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn send_example_delivers_every_event_type_over_https() {
    let dir = TempDir::new();
    let cert = self_signed(&dir);
    let receiver = start(&cert).await;

    let url = format!("https://127.0.0.1:{}{}", receiver.addr.port(), support::URI);
    let out = tokio::process::Command::new(example_binary("send"))
        .args([
            "--url",
            &url,
            "--secret",
            support::SECRET,
            "--redeliver",
            "2",
        ])
        .arg("--cacert")
        .arg(&cert.cert_pem)
        .output()
        .await
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}");
    let types = webhook_receiver::chirp::EVENT_TYPES;
    assert_eq!(stdout.lines().count(), 2 * types.len(), "{stdout}");
    for line in stdout.lines() {
        let words: Vec<&str> = line.split_whitespace().collect();
        let expected = match words.get(1) {
            Some(&"delivery") => r#"{"received":true}"#,
            _ => r#"{"received":true,"duplicate":true}"#,
        };
        assert_eq!(words.get(2..), Some(&["200", expected][..]), "{line}");
    }

    let lines = receiver.stop().await;
    assert_eq!(lines.len(), types.len(), "one line per event: {lines:?}");
}
