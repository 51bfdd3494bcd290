//! Middleware that lets only listed IP networks deliver webhooks (Chirp: "restrict webhook access
//! to Chirp's IP addresses").
//!
//! [`IpAllowlistLayer`] wraps any `Service<http::Request<B>>`. A request whose client address is
//! not in one of the allowed networks (CIDRs, IPv4 or IPv6, via [`ipnet`](https://docs.rs/ipnet))
//! is answered **403** in the error shape, `{"error": {"type": "authentication_error", "code":
//! "ip_not_allowed", ..}}`, and never reaches the inner service.
//!
//! # Where the address comes from
//!
//! The peer address is read from the request's extensions, where the server puts it:
//!
//! - **axum**: serve with `app.into_make_service_with_connect_info::<SocketAddr>()` (plain
//!   `axum::serve(listener, app)` records no peer address); with this crate's feature `axum`,
//!   `ConnectInfo<SocketAddr>` is read directly. Without the feature, pass
//!   `.peer_addr_with(|ext| ext.get::<ConnectInfo<SocketAddr>>().map(|c| c.0.ip()))`.
//! - **other stacks** (hyper, axum-server, tests): insert the connection's `SocketAddr` in the
//!   request's extensions; it is read by default. Or read your own type with
//!   [`peer_addr_with`](IpAllowlistLayer::peer_addr_with).
//!
//! A request with **no peer address** is refused (403) and logged at `warn`: that is a
//! misconfigured server, and letting it through would make the allowlist a no-op.
//!
//! # Behind a proxy
//!
//! Behind a load balancer every peer is the proxy. List the proxies you run in
//! [`trusted_proxies`](IpAllowlistLayer::trusted_proxies): when (and only when) the peer is one
//! of them, the forwarded-for header ([`ForwardedHeader`]: `X-Forwarded-For` by default, or RFC
//! 7239 `Forwarded: for=`) is walked from the **rightmost** entry leftwards, skipping entries
//! that are trusted proxies; the first untrusted entry is the client, and it is the one
//! judged. Entries to its left were written by the client or by proxies you do not run, and
//! are ignored. An entry that had to be read but is not an address (garbage, `unknown`, an
//! obfuscated name) makes the client unknown: 403. If every entry is a trusted proxy, the
//! leftmost one is the client.
//!
//! A request whose peer is **not** a trusted proxy is judged by its peer address alone: its
//! forwarded-for headers are the sender's own claim and are ignored, so they cannot be spoofed.
//! Configure the header your proxies actually set: a proxy that appends `X-Forwarded-For` passes
//! a client's forged `Forwarded` through untouched.
//!
//! IPv4-mapped IPv6 peers (`::ffff:192.0.2.1`, from dual-stack sockets) are judged as their
//! IPv4 address: list IPv4 networks as IPv4.
//!
//! # Order
//!
//! Put the allowlist outermost, before the verify layer (and before [`Webhooks`](crate::Webhooks)):
//! a refused request is answered without its secret being checked or its body read. With
//! `tower::ServiceBuilder`, layers added first see the request first:
//!
//! ```
//! use std::net::SocketAddr;
//! use tower::ServiceBuilder;
//! use webhook_receiver::allowlist::IpAllowlistLayer;
//! use webhook_receiver::chirp;
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), webhook_receiver::BoxError> {
//! let webhooks = chirp::webhooks(["s3cr3t"])?.spawn();
//! let allowlist = IpAllowlistLayer::new(["203.0.113.0/24", "2001:db8::/32"])?
//!     .trusted_proxies(["10.0.0.0/8"])?;
//! let service = ServiceBuilder::new().layer(allowlist).service(webhooks.clone());
//! let app: axum::Router = axum::Router::new().route_service("/webhooks/chirp", service);
//! // axum::serve(listener, app.into_make_service_with_connect_info::<SocketAddr>())
//! # let _ = app.into_make_service_with_connect_info::<SocketAddr>();
//! # Ok(())
//! # }
//! ```
//!
//! # Example
//!
//! ```
//! use std::net::SocketAddr;
//! use bytes::Bytes;
//! use http::{Request, Response, StatusCode};
//! use http_body_util::Full;
//! use tower::{ServiceBuilder, ServiceExt};
//! use webhook_receiver::allowlist::IpAllowlistLayer;
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() {
//! let svc = ServiceBuilder::new()
//!     .layer(IpAllowlistLayer::new(["192.0.2.0/24"]).unwrap())
//!     .service_fn(|_req: Request<Full<Bytes>>| async {
//!         Ok::<_, std::convert::Infallible>(Response::new(Full::<Bytes>::default()))
//!     });
//!
//! let from = |peer: &str| {
//!     let mut req = Request::post("/").body(Full::<Bytes>::default()).unwrap();
//!     req.extensions_mut().insert(peer.parse::<SocketAddr>().unwrap());
//!     req
//! };
//! assert_eq!(svc.clone().oneshot(from("192.0.2.7:5000")).await.unwrap().status(), StatusCode::OK);
//! let res = svc.oneshot(from("198.51.100.1:5000")).await.unwrap();
//! assert_eq!(res.status(), StatusCode::FORBIDDEN);
//! # }
//! ```

mod forwarded;
mod future;
mod layer;
mod rules;
mod service;

pub use future::ResponseFuture;
pub use layer::IpAllowlistLayer;
pub use service::IpAllowlist;

/// Which header a trusted proxy writes the client's address in.
///
/// ```
/// use webhook_receiver::allowlist::{ForwardedHeader, IpAllowlistLayer};
///
/// let layer = IpAllowlistLayer::new(["192.0.2.0/24"]).unwrap()
///     .trusted_proxies(["10.0.0.1"]).unwrap()
///     .forwarded_header(ForwardedHeader::Forwarded);
/// assert_eq!(layer.header(), ForwardedHeader::Forwarded);
/// assert_eq!(ForwardedHeader::default(), ForwardedHeader::XForwardedFor);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub enum ForwardedHeader {
    /// `X-Forwarded-For: client, proxy1, proxy2` (nginx, most load balancers). The default.
    #[default]
    XForwardedFor,
    /// RFC 7239 `Forwarded: for=client, for=proxy1` (the `for=` of each element).
    Forwarded,
}

/// An allowlist could not be built from its configuration.
///
/// ```
/// use webhook_receiver::allowlist::{AllowlistError, IpAllowlistLayer};
///
/// let err = IpAllowlistLayer::new(["10.0.0.0/8", "10.0.0.0/33"]).unwrap_err();
/// assert!(matches!(err, AllowlistError::InvalidNetwork { index: 1, .. }));
/// assert_eq!(
///     err.to_string(),
///     "allowed networks: entry #1 `10.0.0.0/33` is not an IP address or CIDR network",
/// );
/// assert!(std::error::Error::source(&err).is_some());
/// assert!(matches!(IpAllowlistLayer::new(["a", ""]), Err(AllowlistError::InvalidNetwork { index: 0, .. })));
/// assert!(matches!(IpAllowlistLayer::new(["::1", " "]), Err(AllowlistError::EmptyEntry { index: 1, .. })));
/// assert!(matches!(IpAllowlistLayer::new(Vec::<String>::new()), Err(AllowlistError::NoNetworks)));
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AllowlistError {
    /// No allowed network was given: nothing could ever be let in.
    #[error("at least one allowed network is required")]
    NoNetworks,
    /// An entry is empty (e.g. `a,,b` in a comma-separated list).
    #[error("{list}: entry #{index} is empty")]
    EmptyEntry {
        /// Which list (`allowed networks` or `trusted proxies`).
        list: &'static str,
        /// The entry's index in the list.
        index: usize,
    },
    /// An entry is neither an address nor a CIDR network.
    #[error("{list}: entry #{index} `{entry}` is not an IP address or CIDR network")]
    InvalidNetwork {
        /// Which list (`allowed networks` or `trusted proxies`).
        list: &'static str,
        /// The entry's index in the list.
        index: usize,
        /// The entry, as given.
        entry: String,
        /// The parser's error.
        #[source]
        source: InvalidCidr,
    },
}

/// Why an entry did not parse as a CIDR network (the source of
/// [`AllowlistError::InvalidNetwork`]; wraps `ipnet`'s parse error).
///
/// ```
/// use webhook_receiver::allowlist::{AllowlistError, IpAllowlistLayer};
///
/// let Err(AllowlistError::InvalidNetwork { source, .. }) = IpAllowlistLayer::new(["300.0.0.0/8"])
/// else { panic!() };
/// assert_eq!(source.to_string(), "invalid IP address syntax");
/// ```
#[derive(Debug, Clone, thiserror::Error)]
#[error("{0}")]
pub struct InvalidCidr(ipnet::AddrParseError);
