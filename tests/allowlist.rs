//! The IP allowlist in front of the whole receiver: allowed and refused peers (IPv4, IPv6),
//! spoofed forwarded-for headers, trusted proxy chains, `Forwarded`, malformed values, no peer
//! address, the 403 body, and the Chirp example with `ALLOWED_IPS`.
#![cfg(feature = "chirp")]

mod support;

use std::net::SocketAddr;

use axum::body::Body;
use http::{HeaderValue, Request, StatusCode};
use support::{Recorder, capture_logs, chirp_request, delivered, error_body};
use tower::{Layer, ServiceExt};
use webhook_receiver::allowlist::{AllowlistError, ForwardedHeader, IpAllowlist, IpAllowlistLayer};

/// A genuine delivery (right secret, new id) from `peer`, with extra headers.
fn from(peer: &str, id: &str, headers: &[(&str, &str)]) -> Request<Body> {
    let mut req = chirp_request(delivered(id));
    for (k, v) in headers {
        req.headers_mut().append(
            http::HeaderName::from_bytes(k.as_bytes()).unwrap(),
            HeaderValue::from_str(v).unwrap(),
        );
    }
    req.extensions_mut()
        .insert(peer.parse::<SocketAddr>().unwrap());
    req
}

/// The Chirp receiver with recording handlers behind `layer`.
fn guarded(layer: &IpAllowlistLayer, rec: &Recorder) -> IpAllowlist<support::Stack> {
    let (webhooks, _) = support::stack(rec);
    layer.layer(webhooks)
}

async fn status(svc: &IpAllowlist<support::Stack>, req: Request<Body>) -> StatusCode {
    svc.clone().oneshot(req).await.unwrap().status()
}

fn layer(allowed: &[&str], trusted: &[&str]) -> IpAllowlistLayer {
    IpAllowlistLayer::new(allowed)
        .unwrap()
        .trusted_proxies(trusted)
        .unwrap()
}

#[tokio::test]
async fn peers_in_the_allowed_networks_pass_others_get_403_ipv4_and_ipv6() {
    let rec = Recorder::default();
    let svc = guarded(&layer(&["203.0.113.0/24", "2001:db8::/32"], &[]), &rec);
    assert_eq!(
        status(&svc, from("203.0.113.9:5000", "m1", &[])).await,
        StatusCode::OK
    );
    assert_eq!(
        status(&svc, from("[2001:db8::9]:443", "m2", &[])).await,
        StatusCode::OK
    );
    // An IPv4-mapped IPv6 peer (a dual-stack socket) is judged as its IPv4 address.
    assert_eq!(
        status(&svc, from("[::ffff:203.0.113.10]:1", "m3", &[])).await,
        StatusCode::OK
    );
    for peer in [
        "203.0.114.1:5000",
        "[2001:db9::1]:443",
        "127.0.0.1:1",
        "[::1]:1",
    ] {
        assert_eq!(
            status(&svc, from(peer, "m4", &[])).await,
            StatusCode::FORBIDDEN,
            "{peer}"
        );
    }
    let seen = rec.wait_for(3).await;
    assert_eq!(seen.len(), 3);
}

#[tokio::test]
async fn the_403_has_the_error_shape_and_comes_before_the_secret_check() {
    let rec = Recorder::default();
    let svc = guarded(&layer(&["10.0.0.0/8"], &[]), &rec);
    // A wrong secret from a refused address: 403, not 401 (the allowlist is outermost).
    let mut req = from("192.0.2.1:4000", "m1", &[]);
    req.headers_mut()
        .insert("x-webhook-secret", HeaderValue::from_static("wrong"));
    let res = svc.clone().oneshot(req).await.unwrap();
    assert!(res.headers().get("www-authenticate").is_none());
    let err = error_body(res, 403, "authentication_error").await;
    assert_eq!(err["code"], "ip_not_allowed");
    assert_eq!(
        err["message"],
        "address 192.0.2.1 is not allowed to deliver webhooks"
    );
    // A refused genuine delivery is not remembered: the same id from an allowed peer is new.
    assert_eq!(
        status(&svc, from("192.0.2.1:4000", "m2", &[])).await,
        StatusCode::FORBIDDEN
    );
    let res = svc
        .clone()
        .oneshot(from("10.1.2.3:4000", "m2", &[]))
        .await
        .unwrap();
    assert_eq!(
        support::json_body(res).await,
        serde_json::json!({"received": true})
    );
    assert_eq!(rec.wait_for(1).await.len(), 1);
}

#[tokio::test]
async fn forwarded_for_from_a_peer_that_is_not_a_trusted_proxy_is_ignored() {
    let rec = Recorder::default();
    let svc = guarded(&layer(&["203.0.113.0/24"], &["10.0.0.0/8"]), &rec);
    // A refused peer claiming to forward for an allowed client.
    let spoof = [
        ("x-forwarded-for", "203.0.113.5"),
        ("forwarded", "for=203.0.113.5"),
        ("x-real-ip", "203.0.113.5"),
    ];
    assert_eq!(
        status(&svc, from("198.51.100.7:1", "m1", &spoof)).await,
        StatusCode::FORBIDDEN
    );
    // An allowed peer is judged by its own address, whatever it forwards.
    let other = [("x-forwarded-for", "198.51.100.7")];
    assert_eq!(
        status(&svc, from("203.0.113.9:1", "m2", &other)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_trusted_proxy_chain_is_walked_from_the_right_skipping_only_trusted_hops() {
    let rec = Recorder::default();
    let svc = guarded(
        &layer(&["203.0.113.0/24"], &["10.0.0.0/8", "fd00::/8"]),
        &rec,
    );
    let case = |xff: &'static str| [("x-forwarded-for", xff)];
    // client -> 10.0.0.3 -> 10.0.0.2 -> peer 10.0.0.1: the client is the rightmost untrusted.
    let ok = case("203.0.113.5, 10.0.0.3, 10.0.0.2");
    assert_eq!(
        status(&svc, from("10.0.0.1:1", "m1", &ok)).await,
        StatusCode::OK
    );
    // Several header lines are one list, in order.
    let mut req = from("10.0.0.1:1", "m2", &[("x-forwarded-for", "203.0.113.6")]);
    req.headers_mut().append(
        "x-forwarded-for",
        HeaderValue::from_static("fd00::2, 10.0.0.2"),
    );
    assert_eq!(status(&svc, req).await, StatusCode::OK);
    // The client forged an allowed address on the left; the first untrusted hop from the right
    // is its real address, and that one is judged.
    let forged = case("203.0.113.5, 198.51.100.7, 10.0.0.2");
    assert_eq!(
        status(&svc, from("10.0.0.1:1", "m3", &forged)).await,
        StatusCode::FORBIDDEN
    );
    // An untrusted proxy in the chain stops the walk: what it claims is not believed.
    let untrusted = case("203.0.113.5, 192.0.2.1");
    assert_eq!(
        status(&svc, from("10.0.0.1:1", "m4", &untrusted)).await,
        StatusCode::FORBIDDEN
    );
    // No header from a trusted proxy: the proxy itself is the client (here not allowed).
    assert_eq!(
        status(&svc, from("10.0.0.1:1", "m5", &[])).await,
        StatusCode::FORBIDDEN
    );
    // Every hop trusted: the leftmost is the client.
    let all = case("10.9.9.9, 10.0.0.2");
    assert_eq!(
        status(&svc, from("10.0.0.1:1", "m6", &all)).await,
        StatusCode::FORBIDDEN
    );
    let allowed_proxy = guarded(&layer(&["10.9.9.9"], &["10.0.0.0/8"]), &rec);
    assert_eq!(
        status(&allowed_proxy, from("10.0.0.1:1", "m7", &all)).await,
        StatusCode::OK
    );
    // Ports and brackets as proxies write them.
    let ports = case("[2001:db8::1]:5, 203.0.113.8:443, [fd00::1]:80");
    assert_eq!(
        status(&svc, from("[fd00::9]:1", "m8", &ports)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn the_rfc_7239_forwarded_header_when_configured() {
    let rec = Recorder::default();
    let fwd = layer(&["2001:db8::/32", "203.0.113.0/24"], &["10.0.0.0/8"])
        .forwarded_header(ForwardedHeader::Forwarded);
    let svc = guarded(&fwd, &rec);
    let h = [(
        "forwarded",
        r#"for=198.51.100.1, for="[2001:db8:cafe::17]:4711";proto=https, for=10.0.0.2;by=10.0.0.1"#,
    )];
    assert_eq!(
        status(&svc, from("10.0.0.1:1", "m1", &h)).await,
        StatusCode::OK
    );
    let h = [("forwarded", "for=203.0.113.5, for=198.51.100.1;proto=https")];
    assert_eq!(
        status(&svc, from("10.0.0.1:1", "m2", &h)).await,
        StatusCode::FORBIDDEN
    );
    // Only the configured header is read: a client's X-Forwarded-For passed through a proxy
    // that writes `Forwarded` proves nothing.
    let h = [
        ("x-forwarded-for", "203.0.113.5"),
        ("forwarded", "for=198.51.100.1"),
    ];
    assert_eq!(
        status(&svc, from("10.0.0.1:1", "m3", &h)).await,
        StatusCode::FORBIDDEN
    );
    // And the other way round with the default header.
    let xff = guarded(&layer(&["203.0.113.0/24"], &["10.0.0.0/8"]), &rec);
    let h = [
        ("forwarded", "for=203.0.113.5"),
        ("x-forwarded-for", "198.51.100.1"),
    ];
    assert_eq!(
        status(&xff, from("10.0.0.1:1", "m4", &h)).await,
        StatusCode::FORBIDDEN
    );
}

#[tokio::test]
async fn malformed_forwarded_values_make_the_client_unknown_only_where_they_are_read() {
    let rec = Recorder::default();
    let svc = guarded(&layer(&["203.0.113.0/24"], &["10.0.0.0/8"]), &rec);
    let fwd = guarded(
        &layer(&["203.0.113.0/24"], &["10.0.0.0/8"]).forwarded_header(ForwardedHeader::Forwarded),
        &rec,
    );
    let refused = [
        "203.0.113.5, garbage",
        "203.0.113.5, unknown",
        "203.0.113.5,,10.0.0.2",
        "203.0.113.5, 10.0.0.2, ",
        "203.0.113.5/24",
        "",
        "203.0.113.5 10.0.0.2",
    ];
    for (i, value) in refused.iter().enumerate() {
        let req = from(
            "10.0.0.1:1",
            &format!("x{i}"),
            &[("x-forwarded-for", value)],
        );
        let res = svc.clone().oneshot(req).await.unwrap();
        let err = error_body(res, 403, "authentication_error").await;
        assert_eq!(
            err["message"], "the client address could not be determined",
            "{value:?}"
        );
    }
    // Garbage left of the client was written by the client: never read.
    let h = [("x-forwarded-for", "garbage, unknown, 203.0.113.5, 10.0.0.2")];
    assert_eq!(
        status(&svc, from("10.0.0.1:1", "ok1", &h)).await,
        StatusCode::OK
    );
    // Not UTF-8.
    let mut req = from("10.0.0.1:1", "x9", &[]);
    req.headers_mut().insert(
        "x-forwarded-for",
        HeaderValue::from_bytes(b"203.0.113.5\xff").unwrap(),
    );
    assert_eq!(status(&svc, req).await, StatusCode::FORBIDDEN);
    for value in [
        "for=_hidden",
        "for=unknown",
        "proto=https",
        r#"for="203.0.113.5"#,
        "for=203.0.113.5;for=203.0.113.6",
        "for=",
    ] {
        let req = from("10.0.0.1:1", "f", &[("forwarded", value)]);
        assert_eq!(status(&fwd, req).await, StatusCode::FORBIDDEN, "{value:?}");
    }
    let h = [("forwarded", r#"for="_a,b", for=203.0.113.5:80"#)];
    assert_eq!(
        status(&fwd, from("10.0.0.1:1", "ok2", &h)).await,
        StatusCode::OK
    );
}

#[tokio::test]
async fn no_peer_address_is_403_and_a_warning() {
    let (logs, _guard) = capture_logs();
    let rec = Recorder::default();
    let svc = guarded(&layer(&["0.0.0.0/0", "::/0"], &[]), &rec);
    // Everything is allowed, but the server did not record who connected.
    let mut req = chirp_request(delivered("m1"));
    req.headers_mut()
        .insert("x-forwarded-for", HeaderValue::from_static("203.0.113.5"));
    let res = svc.clone().oneshot(req).await.unwrap();
    let err = error_body(res, 403, "authentication_error").await;
    assert_eq!(err["code"], "ip_not_allowed");
    let text = logs.text();
    assert!(text.contains("WARN"), "{text}");
    assert!(text.contains("no peer address"), "{text}");
    assert!(
        text.contains("into_make_service_with_connect_info"),
        "{text}"
    );
    // A custom peer source.
    let custom = layer(&["192.0.2.0/24"], &[])
        .peer_addr_with(|ext| ext.get::<&'static str>().and_then(|s| s.parse().ok()));
    let svc = guarded(&custom, &rec);
    let mut req = chirp_request(delivered("m2"));
    req.extensions_mut().insert("192.0.2.1");
    assert_eq!(status(&svc, req).await, StatusCode::OK);
}

#[tokio::test]
async fn axum_connect_info_over_a_real_socket() {
    let rec = Recorder::default();
    let connect_info = |ext: &http::Extensions| {
        ext.get::<axum::extract::ConnectInfo<SocketAddr>>()
            .map(|c| c.0.ip())
    };
    let serve = |allowed: &'static str| {
        let layer = IpAllowlistLayer::new([allowed]).unwrap();
        // With feature `axum` the default reads `ConnectInfo` itself.
        #[cfg(not(feature = "axum"))]
        let layer = layer.peer_addr_with(connect_info);
        #[cfg(feature = "axum")]
        let _ = connect_info;
        let svc = guarded(&layer, &rec);
        async move {
            let app = axum::Router::new().route_service(support::URI, svc);
            let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
            let addr = listener.local_addr().unwrap();
            tokio::spawn(async move {
                axum::serve(
                    listener,
                    app.into_make_service_with_connect_info::<SocketAddr>(),
                )
                .await
                .unwrap();
            });
            addr
        }
    };
    let addr = serve("127.0.0.0/8").await;
    assert_eq!(support::post_chirp(addr, delivered("s1")).await.0, 200);
    let addr = serve("10.0.0.0/8").await;
    let (status, body) = support::post_chirp(addr, delivered("s2")).await;
    assert_eq!(status, 403);
    assert!(body.contains("ip_not_allowed"), "{body}");
}

#[test]
fn bad_configuration_is_a_typed_error_at_startup() {
    assert!(matches!(
        IpAllowlistLayer::new(Vec::<&str>::new()),
        Err(AllowlistError::NoNetworks)
    ));
    assert!(matches!(
        IpAllowlistLayer::new(["10.0.0.0/8", "", "::1"]),
        Err(AllowlistError::EmptyEntry {
            list: "allowed networks",
            index: 1
        })
    ));
    for bad in [
        "10.0.0.0/33",
        "10.0.0/8",
        "::1/129",
        "example.com",
        "10.0.0.0/-1",
    ] {
        let err = IpAllowlistLayer::new([bad]).unwrap_err();
        assert!(
            matches!(err, AllowlistError::InvalidNetwork { index: 0, .. }),
            "{bad}"
        );
        assert!(std::error::Error::source(&err).is_some());
        assert!(err.to_string().contains(bad), "{err}");
    }
    let err = IpAllowlistLayer::new(["10.0.0.0/8"])
        .unwrap()
        .trusted_proxies(["10.0.0.1", "proxy"])
        .unwrap_err();
    assert_eq!(
        err.to_string(),
        "trusted proxies: entry #1 `proxy` is not an IP address or CIDR network"
    );
    // Host bits are ignored and bare addresses are one host.
    let l = IpAllowlistLayer::new(["10.1.2.3/8", "192.0.2.1"]).unwrap();
    assert!(l.allows("10.200.0.1".parse().unwrap()));
    assert!(!l.allows("192.0.2.2".parse().unwrap()));
}

#[test]
fn trusted_proxies_that_cover_a_whole_address_family_are_a_warning() {
    for everything in [
        &["0.0.0.0/0"][..],
        &["10.0.0.5", "::/0"],
        // Two halves make the whole IPv4 space.
        &["0.0.0.0/1", "128.0.0.0/1"],
    ] {
        let (logs, _guard) = capture_logs();
        let _layer = IpAllowlistLayer::new(["203.0.113.0/24"])
            .unwrap()
            .trusted_proxies(everything)
            .unwrap();
        let text = logs.text();
        assert!(text.contains("WARN"), "{everything:?}: {text}");
        assert!(text.contains("any client"), "{everything:?}: {text}");
        assert!(text.contains("/0"), "{everything:?}: {text}");
    }
    for some in [&["10.0.0.0/8", "2001:db8::/32"][..], &["0.0.0.0/1"], &[]] {
        let (logs, _guard) = capture_logs();
        let _layer = IpAllowlistLayer::new(["203.0.113.0/24"])
            .unwrap()
            .trusted_proxies(some)
            .unwrap();
        assert_eq!(logs.text(), "", "{some:?}");
    }
}

#[cfg(unix)]
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_chirp_example_applies_allowed_ips() {
    use support::process::Running;
    let secret = [("CHIRP_WEBHOOK_SECRET", support::SECRET)];
    let denied = Running::start(
        "chirp_receiver",
        &[secret[0], ("ALLOWED_IPS", "10.0.0.0/8")],
    )
    .await;
    let (status, body) = support::post_chirp(denied.addr, delivered("p1")).await;
    assert_eq!(status, 403, "{body}");
    assert!(body.contains("ip_not_allowed"), "{body}");
    assert!(denied.stop().await.is_empty());

    let allowed = Running::start(
        "chirp_receiver",
        &[
            secret[0],
            ("ALLOWED_IPS", "127.0.0.1/32, ::1"),
            ("TRUSTED_PROXIES", ""),
        ],
    )
    .await;
    let (status, body) = support::post_chirp(allowed.addr, delivered("p1")).await;
    assert_eq!((status, body.as_str()), (200, r#"{"received":true}"#));
    let lines = allowed.stop().await;
    assert_eq!(lines.len(), 1, "{lines:?}");

    // A bad list stops the start with an error naming the variable.
    let bin = support::process::example_binary("chirp_receiver");
    for bad in ["10.0.0.0/8,,127.0.0.1", "10.0.0.0/33"] {
        let out = std::process::Command::new(&bin)
            .env("ADDR", support::process::free_port().to_string())
            .env("CHIRP_WEBHOOK_SECRET", support::SECRET)
            .env("ALLOWED_IPS", bad)
            .output()
            .unwrap();
        assert!(!out.status.success(), "{bad}");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains("invalid ALLOWED_IPS"), "{stderr}");
    }
}

/// A blank `ALLOWED_IPS` (a template's unfilled variable) used to turn the allowlist off
/// without a word; it stops the start now. Each run ends one of two ways, with no deadline: the
/// process exits (checked: non-zero, with the message), or it listens, which means it started
/// with the allowlist off (the failure; it is killed).
#[cfg(unix)]
#[tokio::test]
async fn the_chirp_example_refuses_a_blank_allowed_ips() {
    use std::io::Read;
    let bin = support::process::example_binary("chirp_receiver");
    for blank in ["", "  "] {
        let addr = support::process::free_port();
        let mut child = std::process::Command::new(&bin)
            .env("ADDR", addr.to_string())
            .env("CHIRP_WEBHOOK_SECRET", support::SECRET)
            .env("ALLOWED_IPS", blank)
            .stdout(std::process::Stdio::null())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if tokio::net::TcpStream::connect(addr).await.is_ok() {
                child.kill().unwrap();
                child.wait().unwrap();
                panic!("ALLOWED_IPS={blank:?}: the example started, with no allowlist");
            }
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        };
        let mut stderr = String::new();
        child
            .stderr
            .take()
            .unwrap()
            .read_to_string(&mut stderr)
            .unwrap();
        assert!(!status.success(), "ALLOWED_IPS={blank:?}: {stderr}");
        assert!(
            stderr.contains("ALLOWED_IPS is set but blank"),
            "ALLOWED_IPS={blank:?}: {stderr}"
        );
    }
}
