//! Reading the hops of `X-Forwarded-For` and RFC 7239 `Forwarded` headers.

use std::net::{IpAddr, SocketAddr};

use http::HeaderMap;
use http::header::FORWARDED;

/// One hop of a forwarded-for header, right to left: an address, or an entry that is not one
/// (garbage, `unknown`, an obfuscated identifier, a `Forwarded` element without `for=`).
pub(super) type Hop = Option<IpAddr>;

/// The hops of `X-Forwarded-For` (every field line, in order), rightmost first.
pub(super) fn x_forwarded_for(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for value in headers.get_all("x-forwarded-for") {
        let Ok(text) = value.to_str() else {
            hops.push(None);
            continue;
        };
        hops.extend(text.split(',').map(parse_node));
    }
    hops.reverse();
    hops
}

/// The `for=` nodes of RFC 7239 `Forwarded` (every field line, in order), rightmost first.
pub(super) fn forwarded(headers: &HeaderMap) -> Vec<Hop> {
    let mut hops = Vec::new();
    for value in headers.get_all(FORWARDED) {
        let Ok(text) = value.to_str() else {
            hops.push(None);
            continue;
        };
        hops.extend(split_unquoted(text, ',').into_iter().map(forwarded_for));
    }
    hops.reverse();
    hops
}

/// The `for=` of one `Forwarded` element (`for=192.0.2.60;proto=http;by=203.0.113.43`).
fn forwarded_for(element: &str) -> Hop {
    let mut found = None;
    for pair in split_unquoted(element, ';') {
        let (name, value) = pair.split_once('=')?;
        if name.trim().eq_ignore_ascii_case("for") {
            if found.is_some() {
                return None; // two `for=` in one element: not a hop we can trust
            }
            found = Some(unquote(value.trim())?);
        }
    }
    parse_node(found?)
}

/// An address as forwarded-for headers write it: `192.0.2.1`, `192.0.2.1:4711`, `2001:db8::1`,
/// `[2001:db8::1]`, `[2001:db8::1]:4711`. Anything else (`unknown`, `_hidden`, garbage) is
/// `None`.
fn parse_node(node: &str) -> Hop {
    let node = node.trim();
    if let Ok(ip) = node.parse::<IpAddr>() {
        return Some(ip.to_canonical());
    }
    if let Ok(addr) = node.parse::<SocketAddr>() {
        return Some(addr.ip().to_canonical());
    }
    let inner = node.strip_prefix('[')?.strip_suffix(']')?;
    inner
        .parse::<std::net::Ipv6Addr>()
        .ok()
        .map(|ip| IpAddr::V6(ip).to_canonical())
}

/// `"quoted"` or token; a quoted string may hold `\`-escapes. `None` if a quote is unbalanced.
fn unquote(value: &str) -> Option<&str> {
    match value.strip_prefix('"') {
        // Addresses never need escapes; one makes the value unusable rather than reinterpreted.
        Some(rest) => rest.strip_suffix('"').filter(|v| !v.contains(['"', '\\'])),
        None => (!value.contains('"')).then_some(value),
    }
}

/// Splits on `sep` outside double quotes.
fn split_unquoted(text: &str, sep: char) -> Vec<&str> {
    let mut parts = Vec::new();
    let (mut start, mut quoted, mut escaped) = (0, false, false);
    for (i, c) in text.char_indices() {
        match c {
            _ if escaped => escaped = false,
            '\\' if quoted => escaped = true,
            '"' => quoted = !quoted,
            c if c == sep && !quoted => {
                parts.push(&text[start..i]);
                start = i + c.len_utf8();
            }
            _ => {}
        }
    }
    parts.push(&text[start..]);
    parts
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(name: &'static str, values: &[&str]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for v in values {
            h.append(name, v.parse().unwrap());
        }
        h
    }

    fn ip(s: &str) -> Hop {
        Some(s.parse().unwrap())
    }

    #[test]
    fn x_forwarded_for_is_read_right_to_left_across_lines() {
        let h = headers(
            "x-forwarded-for",
            &[
                "203.0.113.7, 10.0.0.1:8080",
                "[2001:db8::1]:443,garbage, ::ffff:192.0.2.9",
            ],
        );
        assert_eq!(
            x_forwarded_for(&h),
            vec![
                ip("192.0.2.9"),
                None,
                ip("2001:db8::1"),
                ip("10.0.0.1"),
                ip("203.0.113.7")
            ]
        );
        assert_eq!(
            x_forwarded_for(&headers("x-forwarded-for", &[""])),
            vec![None]
        );
    }

    #[test]
    fn forwarded_reads_for_nodes() {
        let h = headers(
            "forwarded",
            &[
                r#"for=192.0.2.60;proto=http;by=203.0.113.43, For="[2001:db8:cafe::17]:4711""#,
                "for=unknown, proto=https",
            ],
        );
        assert_eq!(
            forwarded(&h),
            vec![None, None, ip("2001:db8:cafe::17"), ip("192.0.2.60")]
        );
        // A quoted comma does not split elements; unbalanced quotes and doubled `for=` are unusable.
        let h = headers(
            "forwarded",
            &[r#"for="_a,b";by=x, for="192.0.2.1, for=1.2.3.4"#],
        );
        assert_eq!(forwarded(&h), vec![None, None]);
        let h = headers("forwarded", &["for=1.2.3.4;for=5.6.7.8"]);
        assert_eq!(forwarded(&h), vec![None]);
    }
}
