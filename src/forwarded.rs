//! Which address a request comes from, for rate limiting and the failed-key
//! budget: the connection's peer, or, when that peer is a proxy the operator
//! trusts (`--trusted-proxies`), the client it names in `X-Forwarded-For`.
//!
//! Only the last `X-Forwarded-For` line is read, from its right end: the nearest
//! proxy appends the address it saw there (nginx's `$proxy_add_x_forwarded_for`)
//! or adds a line of its own (HAProxy's `option forwardfor`). Entries that are
//! themselves trusted proxies are skipped; the first other one is the client.
//! Everything to its left was written by the client and proves nothing. A
//! trusted peer that names no usable address is its own client, so its
//! requests share one budget rather than escaping every budget.
//!
//! Allocation-free: this runs on every public request.

use std::net::IpAddr;

/// Entries of an `X-Forwarded-For` line looked at, from the right, at most.
const MAX_ENTRIES_EXAMINED: usize = 16;

/// Networks whose connections are proxies allowed to name the client.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TrustedProxies {
    /// (network address, prefix length in bits), IPv4-mapped addresses unmapped.
    nets: Vec<(IpAddr, u8)>,
}

impl TrustedProxies {
    /// Parses a comma-separated list of addresses and CIDR networks
    /// (`127.0.0.1, 10.0.0.0/8, ::1, fd00::/8`); an empty list trusts nobody.
    pub fn parse(text: &str) -> Result<TrustedProxies, String> {
        let mut nets = Vec::new();
        for item in text.split(',').map(str::trim).filter(|s| !s.is_empty()) {
            let (addr, prefix) = match item.split_once('/') {
                Some((addr, bits)) => (addr, Some(bits)),
                None => (item, None),
            };
            let addr: IpAddr = addr
                .parse()
                .map_err(|_| format!("`{item}` is not an IP address or CIDR network"))?;
            let addr = unmapped(addr);
            let max_bits = if addr.is_ipv4() { 32 } else { 128 };
            let bits = match prefix {
                None => max_bits,
                Some(bits) => bits
                    .parse::<u8>()
                    .ok()
                    .filter(|&b| b <= max_bits)
                    .ok_or_else(|| format!("`{item}`: the prefix must be 0..={max_bits}"))?,
            };
            nets.push((addr, bits));
        }
        Ok(TrustedProxies { nets })
    }

    pub fn is_empty(&self) -> bool {
        self.nets.is_empty()
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        let ip = unmapped(ip);
        self.nets.iter().any(|&(net, bits)| in_net(ip, net, bits))
    }

    /// The address a request counts against: `peer`, unless `peer` is trusted and
    /// `forwarded_for` (the last `X-Forwarded-For` line) names someone else.
    /// Inlined: without trusted proxies (the default) it is one length check.
    #[inline]
    pub fn client_ip(&self, peer: IpAddr, forwarded_for: Option<&[u8]>) -> IpAddr {
        if self.nets.is_empty() {
            return peer;
        }
        self.forwarded_client(peer, forwarded_for)
    }

    fn forwarded_client(&self, peer: IpAddr, forwarded_for: Option<&[u8]>) -> IpAddr {
        if !self.contains(peer) {
            return peer;
        }
        let Some(line) = forwarded_for else {
            return peer;
        };
        // Bounded: only a client inside the trusted ranges could send a long run of
        // trusted entries, and looking further would buy nothing.
        for entry in line.rsplit(|&b| b == b',').take(MAX_ENTRIES_EXAMINED) {
            match parse_entry(entry) {
                Some(ip) if self.contains(ip) => continue,
                Some(ip) => return ip,
                // A garbled entry: what lies left of it cannot be trusted either.
                None => return peer,
            }
        }
        peer
    }
}

/// One `X-Forwarded-For` entry: `1.2.3.4`, `1.2.3.4:5678`, `2001:db8::1` or
/// `[2001:db8::1]:5678`, with optional spaces around it.
fn parse_entry(entry: &[u8]) -> Option<IpAddr> {
    let text = std::str::from_utf8(entry.trim_ascii()).ok()?;
    let ip = if let Some(rest) = text.strip_prefix('[') {
        rest.split_once(']')?.0.parse().ok()?
    } else if let Ok(ip) = text.parse::<IpAddr>() {
        ip
    } else {
        // IPv4 with a port (one colon); bare IPv6 parsed above.
        let (host, port) = text.rsplit_once(':')?;
        port.parse::<u16>().ok()?;
        IpAddr::V4(host.parse().ok()?)
    };
    Some(unmapped(ip))
}

fn unmapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        v4 => v4,
    }
}

fn in_net(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(ip), IpAddr::V4(net)) => {
            let mask = u32::MAX.checked_shl(32 - u32::from(bits)).unwrap_or(0);
            u32::from(ip) & mask == u32::from(net) & mask
        }
        (IpAddr::V6(ip), IpAddr::V6(net)) => {
            let mask = u128::MAX.checked_shl(128 - u32::from(bits)).unwrap_or(0);
            u128::from(ip) & mask == u128::from(net) & mask
        }
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn networks_parse_and_match() {
        let t = TrustedProxies::parse(" 127.0.0.1, 10.0.0.0/8 ,fd00::/8,::1").expect("parses");
        for inside in ["127.0.0.1", "10.1.2.3", "fd12::1", "::1", "::ffff:10.9.9.9"] {
            assert!(t.contains(ip(inside)), "{inside}");
        }
        for outside in ["127.0.0.2", "11.0.0.1", "fe80::1", "::2"] {
            assert!(!t.contains(ip(outside)), "{outside}");
        }
        assert!(
            TrustedProxies::parse("0.0.0.0/0")
                .expect("all")
                .contains(ip("8.8.8.8"))
        );
        assert!(TrustedProxies::parse("").expect("none").is_empty());
        for bad in [
            "10.0.0.0/33",
            "fd00::/129",
            "nonsense",
            "10.0.0.0/x",
            "1.2.3.4:80",
        ] {
            assert!(TrustedProxies::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_client_is_the_rightmost_untrusted_entry_of_a_trusted_peer() {
        let t = TrustedProxies::parse("127.0.0.1, 10.0.0.0/8").expect("parses");
        let proxy = ip("127.0.0.1");
        let cases: [(&[u8], &str); 11] = [
            (b"203.0.113.7", "203.0.113.7"),
            (b"1.1.1.1, 203.0.113.7", "203.0.113.7"),
            (b"203.0.113.7, 10.0.0.5", "203.0.113.7"),
            (b"203.0.113.7:4711", "203.0.113.7"),
            (b"[2001:db8::7]:4711", "2001:db8::7"),
            (b" 2001:db8::7 ", "2001:db8::7"),
            (b"::ffff:203.0.113.7", "203.0.113.7"),
            (b"10.0.0.5, 10.0.0.6", "127.0.0.1"),
            (b"203.0.113.7, garbage", "127.0.0.1"),
            // An IPv4 address with a port that is not one is garbled, not an address.
            (b"203.0.113.7:http", "127.0.0.1"),
            (b"203.0.113.7:65536", "127.0.0.1"),
        ];
        for (line, client) in cases {
            assert_eq!(
                t.client_ip(proxy, Some(line)),
                ip(client),
                "{}",
                line.escape_ascii()
            );
        }
        assert_eq!(
            t.client_ip(proxy, None),
            proxy,
            "no header: the proxy itself"
        );
        let stranger = ip("198.51.100.1");
        assert_eq!(
            t.client_ip(stranger, Some(b"203.0.113.7")),
            stranger,
            "an untrusted peer cannot name another client"
        );
        let long: Vec<u8> = std::iter::repeat_n(&b"10.0.0.1"[..], 5_000)
            .collect::<Vec<_>>()
            .join(&b","[..]);
        let long = [&b"203.0.113.7,"[..], &long].concat();
        assert_eq!(
            t.client_ip(proxy, Some(&long)),
            proxy,
            "past 16 trusted entries the line counts for nothing"
        );
        let nobody = TrustedProxies::default();
        assert_eq!(nobody.client_ip(proxy, Some(b"203.0.113.7")), proxy);
    }
}
