//! Who the client is, and whether it may deliver.

use std::net::{IpAddr, SocketAddr};

use http::{Extensions, HeaderMap};
use ipnet::IpNet;

use super::{AllowlistError, ForwardedHeader, InvalidCidr, forwarded};

/// Reads the peer address from a request's extensions.
pub(super) type PeerAddrFn = fn(&Extensions) -> Option<IpAddr>;

/// The allowlist's configuration, shared by the layer and its services.
#[derive(Debug, Clone)]
pub(super) struct Rules {
    pub(super) allowed: Vec<IpNet>,
    pub(super) trusted: Vec<IpNet>,
    pub(super) header: ForwardedHeader,
    pub(super) peer_addr: PeerAddrFn,
}

impl Rules {
    /// The client's address: the peer's, unless the peer is a trusted proxy; then the first hop
    /// of the forwarded-for header, from the right, that is not a trusted proxy (or the
    /// leftmost hop if they all are; the peer itself without a header). `None` if a hop that
    /// had to be read is not an address.
    pub(super) fn client(&self, peer: IpAddr, headers: &HeaderMap) -> Option<IpAddr> {
        let mut client = peer.to_canonical();
        if !contains(&self.trusted, client) {
            // Not a proxy we trust: whatever its headers say is the client's own claim.
            return Some(client);
        }
        let hops = match self.header {
            ForwardedHeader::XForwardedFor => forwarded::x_forwarded_for(headers),
            ForwardedHeader::Forwarded => forwarded::forwarded(headers),
        };
        for hop in hops {
            client = hop?;
            if !contains(&self.trusted, client) {
                break;
            }
        }
        Some(client)
    }

    pub(super) fn allows(&self, ip: IpAddr) -> bool {
        contains(&self.allowed, ip.to_canonical())
    }
}

fn contains(nets: &[IpNet], ip: IpAddr) -> bool {
    nets.iter().any(|net| net.contains(&ip))
}

/// The default peer address: axum's `ConnectInfo<SocketAddr>` (feature `axum`), else a plain
/// `SocketAddr` extension.
pub(super) fn default_peer_addr(ext: &Extensions) -> Option<IpAddr> {
    #[cfg(feature = "axum")]
    if let Some(info) = ext.get::<axum::extract::ConnectInfo<SocketAddr>>() {
        return Some(info.0.ip());
    }
    ext.get::<SocketAddr>().map(SocketAddr::ip)
}

/// The whole address families that `nets` cover together (`0.0.0.0/0`, `::/0`): networks
/// merged with their neighbours, so `0.0.0.0/1` and `128.0.0.0/1` count as `0.0.0.0/0`.
pub(super) fn whole_families(nets: &[IpNet]) -> Vec<IpNet> {
    IpNet::aggregate(&nets.to_vec())
        .into_iter()
        .filter(|net| net.prefix_len() == 0)
        .collect()
}

/// Parses a list of networks (`10.0.0.0/8`, `2001:db8::/32`, or a bare address for one host).
pub(super) fn parse_list<I, T>(list: &'static str, entries: I) -> Result<Vec<IpNet>, AllowlistError>
where
    I: IntoIterator<Item = T>,
    T: AsRef<str>,
{
    entries
        .into_iter()
        .enumerate()
        .map(|(index, entry)| {
            let entry = entry.as_ref().trim();
            if entry.is_empty() {
                return Err(AllowlistError::EmptyEntry { list, index });
            }
            if let Ok(ip) = entry.parse::<IpAddr>() {
                return Ok(IpNet::from(ip.to_canonical()));
            }
            entry
                .parse::<IpNet>()
                .map(|net| net.trunc())
                .map_err(|source| AllowlistError::InvalidNetwork {
                    list,
                    index,
                    entry: entry.to_owned(),
                    source: InvalidCidr(source),
                })
        })
        .collect()
}
