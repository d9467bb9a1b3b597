//! Target URLs: parsing `http(s)://host[:port]/path?query` and the loopback rule.

use std::net::{IpAddr, SocketAddr, ToSocketAddrs};

/// A parsed request URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Url {
    /// `https://` (or `--tls`): the connection speaks TLS.
    pub tls: bool,
    /// Host without brackets: `127.0.0.1`, `::1`, `localhost`.
    pub host: String,
    /// Explicit port, or 80/443 by scheme.
    pub port: u16,
    /// `host[:port]` as written in the URL, used for the `Host` header.
    pub authority: String,
    /// Path and query (`/` when the URL has none), fragment removed.
    pub path: String,
}

impl Url {
    /// The origin shared by every request of a run (scheme, host, port).
    pub fn origin(&self) -> (bool, &str, u16) {
        (self.tls, &self.host, self.port)
    }
}

/// Parses an absolute `http://` or `https://` URL.
pub fn parse_url(text: &str) -> Result<Url, String> {
    let bad = |why: &str| format!("bad URL {text:?}: {why}");
    let (tls, rest) = if let Some(rest) = strip_prefix_ci(text, "http://") {
        (false, rest)
    } else if let Some(rest) = strip_prefix_ci(text, "https://") {
        (true, rest)
    } else {
        return Err(bad("must start with http:// or https://"));
    };
    let rest = rest.split('#').next().unwrap_or(rest);
    let split = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(split);
    let path = match path.chars().next() {
        None => "/".to_owned(),
        Some('?') => format!("/{path}"),
        Some(_) => path.to_owned(),
    };
    if path.bytes().any(|b| b <= b' ' || b == 0x7f) {
        return Err(bad("spaces and control characters must be percent-encoded"));
    }
    if authority.contains('@') {
        return Err(bad("user info is not supported"));
    }
    let (host, port_text) = if let Some(v6) = authority.strip_prefix('[') {
        let end = v6.find(']').ok_or_else(|| bad("unclosed ["))?;
        let after = &v6[end + 1..];
        let port = match after.strip_prefix(':') {
            Some(p) => Some(p),
            None if after.is_empty() => None,
            None => return Err(bad("junk after ]")),
        };
        (&v6[..end], port)
    } else {
        match authority.rsplit_once(':') {
            Some((h, p)) => (h, Some(p)),
            None => (authority, None),
        }
    };
    if host.is_empty() {
        return Err(bad("no host"));
    }
    if !authority.starts_with('[') && host.contains(':') {
        return Err(bad("more than one ':' (an IPv6 address goes in [ ])"));
    }
    let port = match port_text {
        Some(p) => p
            .parse::<u16>()
            .ok()
            .filter(|&port| port != 0)
            .ok_or_else(|| bad("port is not 1..65535"))?,
        None if tls => 443,
        None => 80,
    };
    Ok(Url {
        tls,
        host: host.to_owned(),
        port,
        authority: authority.to_owned(),
        path,
    })
}

fn strip_prefix_ci<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// True for addresses of this machine: 127.0.0.0/8, ::1 and IPv4-mapped 127/8.
pub fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => {
            v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback())
        }
    }
}

/// Resolves the target to one socket address, enforcing the loopback rule unless
/// `allow_remote`: load is only ever aimed at this machine by default.
pub fn resolve(url: &Url, allow_remote: bool) -> Result<SocketAddr, String> {
    if let Ok(ip) = url.host.parse::<IpAddr>() {
        if !allow_remote && !is_loopback(ip) {
            return Err(remote_refusal(&url.host));
        }
        return Ok(SocketAddr::new(ip, url.port));
    }
    if !allow_remote && !url.host.eq_ignore_ascii_case("localhost") {
        return Err(remote_refusal(&url.host));
    }
    let addrs = (url.host.as_str(), url.port)
        .to_socket_addrs()
        .map_err(|e| format!("cannot resolve {}: {e}", url.host))?;
    let mut candidates = addrs.filter(|a| allow_remote || is_loopback(a.ip()));
    candidates
        .next()
        .ok_or_else(|| format!("{} resolves to no usable address", url.host))
}

fn remote_refusal(host: &str) -> String {
    format!(
        "refusing to load {host}: not a loopback address (127.0.0.0/8, ::1, localhost); \
         pass --allow-remote if you really mean to load another machine"
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_host_port_path_and_query() {
        let url = parse_url("http://127.0.0.1:8080/availability?tz=Asia/Tokyo").expect("valid");
        assert!(!url.tls);
        assert_eq!((url.host.as_str(), url.port), ("127.0.0.1", 8080));
        assert_eq!(url.authority, "127.0.0.1:8080");
        assert_eq!(url.path, "/availability?tz=Asia/Tokyo");
    }

    #[test]
    fn default_ports_and_paths() {
        let url = parse_url("HTTPS://localhost").expect("valid");
        assert!(url.tls);
        assert_eq!((url.port, url.path.as_str()), (443, "/"));
        let url = parse_url("http://localhost?x=1#frag").expect("valid");
        assert_eq!((url.port, url.path.as_str()), (80, "/?x=1"));
    }

    #[test]
    fn bracketed_ipv6() {
        let url = parse_url("http://[::1]:9000/health").expect("valid");
        assert_eq!((url.host.as_str(), url.port), ("::1", 9000));
        assert_eq!(url.authority, "[::1]:9000");
    }

    #[test]
    fn rejects_malformed_urls() {
        for bad in [
            "ftp://x/",
            "127.0.0.1:8080/",
            "http://:80/",
            "http://h:99999/",
            "http://u@h/",
            "http://h/a b",
            "http://[::1/",
            "http://::1/",
        ] {
            assert!(parse_url(bad).is_err(), "{bad}");
        }
        // A doubled port is named as such, not read as host "127.0.0.1:18090".
        let err = parse_url("http://127.0.0.1:18090:80/").expect_err("two ports");
        assert!(err.contains("more than one ':'"), "{err}");
    }

    #[test]
    fn loopback_rule() {
        let at = |s: &str| parse_url(s).expect("valid");
        assert!(resolve(&at("http://127.0.0.1:1/"), false).is_ok());
        assert!(resolve(&at("http://127.9.8.7:1/"), false).is_ok());
        assert!(resolve(&at("http://[::1]:1/"), false).is_ok());
        assert!(resolve(&at("http://[::ffff:127.0.0.1]:1/"), false).is_ok());
        assert!(resolve(&at("http://10.0.0.1:1/"), false).is_err());
        assert!(resolve(&at("http://[2001:db8::1]:1/"), false).is_err());
        assert!(resolve(&at("http://example.com/"), false).is_err());
        assert!(resolve(&at("http://10.0.0.1:1/"), true).is_ok());
    }
}
