//! Who is on the other end of the connection: the client address that sign-in throttles
//! key on. It is the TCP peer, unless the peer is a trusted proxy (`trusted_proxies`), in
//! which case `X-Forwarded-For` is read from the right, skipping trusted proxies, and the
//! first address that is not one is the client. Anyone can write `X-Forwarded-For`, so it
//! is never read from an untrusted peer.

use std::net::IpAddr;

use actix_web::HttpRequest;
use ipnet::IpNet;

/// The networks whose `X-Forwarded-For` is believed.
#[derive(Debug, Clone, Default)]
pub struct TrustedProxies(Vec<IpNet>);

impl TrustedProxies {
    /// Parses CIDRs (`10.0.0.0/8`) and single addresses (`192.0.2.7`).
    pub fn parse<S: AsRef<str>>(entries: &[S]) -> Result<Self, String> {
        entries
            .iter()
            .map(|entry| {
                let entry = entry.as_ref().trim();
                entry
                    .parse::<IpNet>()
                    .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                    .map_err(|_| format!("`{entry}` is not an address or CIDR"))
            })
            .collect::<Result<_, _>>()
            .map(Self)
    }

    fn trust(&self, address: IpAddr) -> bool {
        self.0.iter().any(|net| net.contains(&address))
    }

    /// The client address of `peer`, which sent `forwarded_for` (every `X-Forwarded-For`
    /// value, in order).
    pub fn client(&self, peer: IpAddr, forwarded_for: &[&str]) -> IpAddr {
        let mut client = peer.to_canonical();
        if !self.trust(client) {
            return client;
        }
        let hops = forwarded_for.iter().flat_map(|value| value.split(',')).map(str::trim).collect::<Vec<_>>();
        for hop in hops.iter().rev() {
            // An entry that is not an address ends the chain: what lies left of it was
            // written by whoever we cannot vouch for.
            let Ok(address) = hop.parse::<IpAddr>().map(|a| a.to_canonical()) else {
                break;
            };
            client = address;
            if !self.trust(address) {
                break;
            }
        }
        client
    }
}

/// The client address of `request`; `None` only when actix has no peer (never over TCP).
pub fn address(request: &HttpRequest, trusted: &TrustedProxies) -> Option<IpAddr> {
    let peer = request.peer_addr()?.ip();
    let forwarded: Vec<&str> =
        request.headers().get_all("x-forwarded-for").filter_map(|value| value.to_str().ok()).collect();
    Some(trusted.client(peer, &forwarded))
}

/// What throttles count under: the address itself for IPv4, its /64 for IPv6 (one
/// subscriber usually holds a whole /64, so single IPv6 addresses cost an attacker nothing).
pub fn throttle_key(address: IpAddr) -> IpAddr {
    match address {
        IpAddr::V4(_) => address,
        IpAddr::V6(v6) => {
            let bits = u128::from(v6) & !((1u128 << 64) - 1);
            IpAddr::V6(bits.into())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap()
    }

    #[test]
    fn without_trusted_proxies_the_peer_is_the_client_whatever_it_forwards() {
        let none = TrustedProxies::default();
        assert_eq!(none.client(ip("198.51.100.1"), &["203.0.113.9"]), ip("198.51.100.1"));
    }

    #[test]
    fn a_trusted_proxy_is_read_from_the_right_skipping_other_trusted_hops() {
        let trusted = TrustedProxies::parse(&["10.0.0.0/8", "192.0.2.7"]).unwrap();
        assert_eq!(trusted.client(ip("10.1.2.3"), &["203.0.113.9"]), ip("203.0.113.9"));
        // The client wrote a fake first entry; the proxies appended the real one.
        assert_eq!(trusted.client(ip("10.1.2.3"), &["1.1.1.1, 203.0.113.9", "192.0.2.7"]), ip("203.0.113.9"));
        assert_eq!(trusted.client(ip("10.1.2.3"), &["garbage, 10.9.9.9"]), ip("10.9.9.9"));
        assert_eq!(trusted.client(ip("10.1.2.3"), &[]), ip("10.1.2.3"));
        assert_eq!(trusted.client(ip("198.51.100.1"), &["203.0.113.9"]), ip("198.51.100.1"), "an untrusted peer");
    }

    #[test]
    fn bad_entries_are_reported() {
        assert!(TrustedProxies::parse(&["10.0.0.0/33"]).is_err());
        assert!(TrustedProxies::parse(&["proxy.example"]).is_err());
        assert!(TrustedProxies::parse(&["::1", "fd00::/8"]).is_ok());
    }

    #[test]
    fn ipv6_clients_are_counted_by_their_64() {
        assert_eq!(throttle_key(ip("2001:db8:1:2:aaaa::1")), throttle_key(ip("2001:db8:1:2:bbbb::9")));
        assert_ne!(throttle_key(ip("2001:db8:1:2::1")), throttle_key(ip("2001:db8:1:3::1")));
        assert_eq!(throttle_key(ip("192.0.2.1")), ip("192.0.2.1"));
    }
}
