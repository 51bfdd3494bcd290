use std::net::IpAddr;
use std::sync::Arc;

use http::{Extensions, HeaderMap};
use tower_layer::Layer;

use super::rules::{self, Rules};
use super::{AllowlistError, ForwardedHeader, IpAllowlist};

/// Layer that applies [`IpAllowlist`]: only clients in the allowed networks reach the inner
/// service; the rest are answered 403.
///
/// See the [module docs](crate::allowlist) for where the address comes from, proxies, and an
/// example. Clones are cheap (the configuration is shared).
///
/// ```
/// use std::net::IpAddr;
/// use http::HeaderMap;
/// use webhook_receiver::allowlist::IpAllowlistLayer;
///
/// let layer = IpAllowlistLayer::new(["203.0.113.0/24", "2001:db8::/32"]).unwrap();
/// let peer: IpAddr = "2001:db8::7".parse().unwrap();
/// assert_eq!(layer.client_addr(peer, &HeaderMap::new()), Some(peer));
/// assert!(layer.allows(peer));
/// assert!(!layer.allows("198.51.100.1".parse().unwrap()));
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct IpAllowlistLayer {
    rules: Arc<Rules>,
}

impl IpAllowlistLayer {
    /// Lets in clients from `allowed`: CIDR networks (`10.0.0.0/8`, `2001:db8::/32`) or bare
    /// addresses (one host). Host bits below the prefix are ignored (`10.1.2.3/8` is
    /// `10.0.0.0/8`). No proxy is trusted: every request is judged by its peer address.
    ///
    /// ```
    /// use webhook_receiver::allowlist::IpAllowlistLayer;
    ///
    /// let layer = IpAllowlistLayer::new(["127.0.0.1", "10.0.0.0/8"]).unwrap();
    /// assert!(layer.allows("10.200.0.1".parse().unwrap()));
    /// assert!(IpAllowlistLayer::new(["10.0.0.0/8", "not-a-network"]).is_err());
    /// ```
    ///
    /// # Errors
    ///
    /// [`AllowlistError`] if the list is empty or an entry is empty or does not parse.
    pub fn new<I, T>(allowed: I) -> Result<Self, AllowlistError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let allowed = rules::parse_list("allowed networks", allowed)?;
        if allowed.is_empty() {
            return Err(AllowlistError::NoNetworks);
        }
        Ok(Self {
            rules: Arc::new(Rules {
                allowed,
                trusted: Vec::new(),
                header: ForwardedHeader::default(),
                peer_addr: rules::default_peer_addr,
            }),
        })
    }

    /// Trusts the proxies in `proxies` (networks or addresses) to say who their client is: when
    /// the peer is one of them, the client is read from the forwarded-for header, rightmost
    /// entry first, skipping the entries that are trusted proxies too. Replaces any earlier
    /// list; an empty list trusts no proxy.
    ///
    /// A list that covers every address of a family (`0.0.0.0/0`, `::/0`, or networks that add
    /// up to one, such as `0.0.0.0/1` and `128.0.0.0/1`) is accepted but logged at WARN: it lets
    /// any client choose the address the allowlist checks.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use webhook_receiver::allowlist::IpAllowlistLayer;
    ///
    /// let layer = IpAllowlistLayer::new(["203.0.113.0/24"]).unwrap()
    ///     .trusted_proxies(["10.0.0.0/8"]).unwrap();
    /// let mut headers = HeaderMap::new();
    /// // The client wrote the first entry itself; the two proxies appended the rest.
    /// headers.insert("x-forwarded-for", "203.0.113.5, 198.51.100.9, 10.0.0.2".parse().unwrap());
    /// let peer = "10.0.0.1".parse().unwrap();
    /// assert_eq!(layer.client_addr(peer, &headers), Some("198.51.100.9".parse().unwrap()));
    /// // The same headers from a peer that is not a trusted proxy are ignored.
    /// let peer = "203.0.113.5".parse().unwrap();
    /// assert_eq!(layer.client_addr(peer, &headers), Some(peer));
    /// ```
    ///
    /// # Errors
    ///
    /// [`AllowlistError`] if an entry is empty or does not parse.
    pub fn trusted_proxies<I, T>(mut self, proxies: I) -> Result<Self, AllowlistError>
    where
        I: IntoIterator<Item = T>,
        T: AsRef<str>,
    {
        let trusted = rules::parse_list("trusted proxies", proxies)?;
        for family in rules::whole_families(&trusted) {
            tracing::warn!(
                trusted_proxies = %family,
                "the trusted proxies cover every {} address: any client can send a forwarded-for \
                 header and choose the address the allowlist checks; trust only your proxies' \
                 addresses",
                if family.addr().is_ipv4() { "IPv4" } else { "IPv6" },
            );
        }
        Arc::make_mut(&mut self.rules).trusted = trusted;
        Ok(self)
    }

    /// The header the trusted proxies write the client's address in (default
    /// `X-Forwarded-For`). Only that header is read: set the one your proxies set.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use webhook_receiver::allowlist::{ForwardedHeader, IpAllowlistLayer};
    ///
    /// let layer = IpAllowlistLayer::new(["2001:db8::/32"]).unwrap()
    ///     .trusted_proxies(["127.0.0.1"]).unwrap()
    ///     .forwarded_header(ForwardedHeader::Forwarded);
    /// let mut headers = HeaderMap::new();
    /// headers.insert("forwarded", r#"for="[2001:db8::17]:4711";proto=https"#.parse().unwrap());
    /// let client = layer.client_addr("127.0.0.1".parse().unwrap(), &headers);
    /// assert_eq!(client, Some("2001:db8::17".parse().unwrap()));
    /// ```
    pub fn forwarded_header(mut self, header: ForwardedHeader) -> Self {
        Arc::make_mut(&mut self.rules).header = header;
        self
    }

    /// Reads the peer address with `peer_addr` instead of the default (axum's
    /// `ConnectInfo<SocketAddr>` with feature `axum`, else a `SocketAddr` extension). `None`
    /// means no peer address: 403.
    ///
    /// ```
    /// use std::net::IpAddr;
    /// use http::{Request, StatusCode};
    /// use tower::{Layer, ServiceExt};
    /// use webhook_receiver::allowlist::IpAllowlistLayer;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// # use bytes::Bytes;
    /// # use http_body_util::Full;
    /// # let inner = tower::service_fn(|_req: http::Request<Full<Bytes>>| async {
    /// #     Ok::<_, std::convert::Infallible>(http::Response::new(Full::<Bytes>::default()))
    /// # });
    /// #[derive(Clone)]
    /// struct RemoteIp(IpAddr); // your server's own type
    ///
    /// let layer = IpAllowlistLayer::new(["192.0.2.0/24"]).unwrap()
    ///     .peer_addr_with(|ext| ext.get::<RemoteIp>().map(|r| r.0));
    /// let mut req = Request::post("/").body(Full::<Bytes>::default()).unwrap();
    /// req.extensions_mut().insert(RemoteIp("192.0.2.1".parse().unwrap()));
    /// assert_eq!(layer.layer(inner).oneshot(req).await.unwrap().status(), StatusCode::OK);
    /// # }
    /// ```
    pub fn peer_addr_with(mut self, peer_addr: fn(&Extensions) -> Option<IpAddr>) -> Self {
        Arc::make_mut(&mut self.rules).peer_addr = peer_addr;
        self
    }

    /// The header read behind a trusted proxy.
    ///
    /// ```
    /// use webhook_receiver::allowlist::{ForwardedHeader, IpAllowlistLayer};
    ///
    /// let layer = IpAllowlistLayer::new(["192.0.2.0/24"]).unwrap();
    /// assert_eq!(layer.header(), ForwardedHeader::XForwardedFor);
    /// ```
    pub fn header(&self) -> ForwardedHeader {
        self.rules.header
    }

    /// The client's address for a request from `peer` with `headers`, as the layer resolves it
    /// (see the [module docs](crate::allowlist)); `None` if a forwarded-for entry that had to
    /// be read is not an address.
    ///
    /// ```
    /// use http::HeaderMap;
    /// use webhook_receiver::allowlist::IpAllowlistLayer;
    ///
    /// let layer = IpAllowlistLayer::new(["192.0.2.0/24"]).unwrap()
    ///     .trusted_proxies(["10.0.0.1"]).unwrap();
    /// let mut headers = HeaderMap::new();
    /// headers.insert("x-forwarded-for", "192.0.2.1, unknown".parse().unwrap());
    /// assert_eq!(layer.client_addr("10.0.0.1".parse().unwrap(), &headers), None);
    /// ```
    pub fn client_addr(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        self.rules.client(peer, headers)
    }

    /// Whether `addr` is in one of the allowed networks.
    ///
    /// ```
    /// use webhook_receiver::allowlist::IpAllowlistLayer;
    ///
    /// let layer = IpAllowlistLayer::new(["192.0.2.0/24"]).unwrap();
    /// assert!(layer.allows("::ffff:192.0.2.1".parse().unwrap())); // IPv4-mapped: as IPv4
    /// assert!(!layer.allows("192.0.3.1".parse().unwrap()));
    /// ```
    pub fn allows(&self, addr: IpAddr) -> bool {
        self.rules.allows(addr)
    }

    pub(super) fn rules(&self) -> &Arc<Rules> {
        &self.rules
    }
}

impl<S> Layer<S> for IpAllowlistLayer {
    type Service = IpAllowlist<S>;

    fn layer(&self, inner: S) -> Self::Service {
        IpAllowlist::from_parts(inner, Arc::clone(&self.rules))
    }
}
