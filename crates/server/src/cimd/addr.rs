//! Which addresses a metadata document may be fetched from (the CIMD draft's "Server-Side
//! Request Forgery (SSRF)" consideration: the client chooses the URL, so without this
//! check any caller could make Valet send requests into its own network). Only public
//! unicast addresses pass: the IANA special-purpose registries (RFC 6890 and its
//! updates) for IPv4 and IPv6 are refused, and an IPv6 address that embeds an IPv4 one
//! (mapped, compatible, NAT64, 6to4) is judged by what it reaches.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// Why an address is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refused {
    /// 127.0.0.0/8 or ::1: allowed by `--dev-allow-loopback-metadata`, nothing else is.
    Loopback,
    /// Any other special-use range, named.
    Special(&'static str),
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Loopback => f.write_str("a loopback address"),
            Self::Special(what) => write!(f, "a {what} address"),
        }
    }
}

/// `Ok` for an address metadata may be fetched from.
pub fn check(ip: IpAddr, allow_loopback: bool) -> Result<(), Refused> {
    match classify(ip) {
        Err(Refused::Loopback) if allow_loopback => Ok(()),
        other => other,
    }
}

pub fn classify(ip: IpAddr) -> Result<(), Refused> {
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => classify_v6(v6),
    }
}

/// The IPv4 Special-Purpose Address Registry, and multicast and the reserved 240/4.
fn classify_v4(ip: Ipv4Addr) -> Result<(), Refused> {
    let [a, b, c, _] = ip.octets();
    let special = |what| Err(Refused::Special(what));
    match (a, b, c) {
        (127, ..) => Err(Refused::Loopback),
        (0, ..) => special("\"this network\" (0.0.0.0/8)"),
        (10, ..) => special("private (10.0.0.0/8)"),
        (100, 64..=127, _) => special("shared carrier-grade NAT (100.64.0.0/10)"),
        (169, 254, _) => special("link-local (169.254.0.0/16)"),
        (172, 16..=31, _) => special("private (172.16.0.0/12)"),
        (192, 0, 0) => special("IETF protocol assignment (192.0.0.0/24)"),
        (192, 0, 2) | (198, 51, 100) | (203, 0, 113) => special("documentation (TEST-NET)"),
        (192, 88, 99) => special("6to4 relay anycast (192.88.99.0/24)"),
        (192, 168, _) => special("private (192.168.0.0/16)"),
        (198, 18..=19, _) => special("benchmarking (198.18.0.0/15)"),
        (224..=239, ..) => special("multicast (224.0.0.0/4)"),
        (240..=255, ..) => special("reserved or broadcast (240.0.0.0/4)"),
        _ => Ok(()),
    }
}

/// Global unicast (2000::/3) minus its special blocks, and the forms that embed IPv4.
fn classify_v6(ip: Ipv6Addr) -> Result<(), Refused> {
    let s = ip.segments();
    let special = |what| Err(Refused::Special(what));
    if ip.is_unspecified() {
        return special("unspecified (::)");
    }
    if ip.is_loopback() {
        return Err(Refused::Loopback);
    }
    // ::ffff:0:0/96: the socket talks IPv4 to the embedded address.
    if let Some(v4) = ip.to_ipv4_mapped() {
        return classify_v4(v4);
    }
    // ::/96, IPv4-compatible (deprecated by RFC 4291 §2.5.5.1), and the rest of ::/8.
    if s[0] == 0 {
        return special("IPv4-compatible or reserved (::/8)");
    }
    // 64:ff9b::/96 (RFC 6052): a NAT64 gateway reaches the embedded IPv4 address, which
    // must then be public itself (never loopback, even in development).
    if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
        let v4 = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
        return classify_v4(v4).map_err(|_| Refused::Special("NAT64 of a special-use IPv4"));
    }
    if s[0] == 0x64 && s[1] == 0xff9b && s[2] == 1 {
        return special("local-use NAT64 (64:ff9b:1::/48)");
    }
    match s[0] {
        0x0100 if s[1..4] == [0, 0, 0] => special("discard-only (100::/64)"),
        // 2001::/23 holds Teredo, ORCHID, benchmarking and other protocol assignments.
        0x2001 if s[1] < 0x0200 => special("IETF protocol assignment (2001::/23)"),
        0x2001 if s[1] == 0x0db8 => special("documentation (2001:db8::/32)"),
        // 6to4 (deprecated, RFC 7526) tunnels to an embedded IPv4 address.
        0x2002 => special("6to4 (2002::/16)"),
        0x3fff if s[1] < 0x1000 => special("documentation (3fff::/20)"),
        0x5f00 => special("SRv6 SID (5f00::/16)"),
        0xfc00..=0xfdff => special("unique-local (fc00::/7)"),
        0xfe80..=0xfebf => special("link-local (fe80::/10)"),
        0xfec0..=0xfeff => special("site-local (fec0::/10)"),
        0xff00..=0xffff => special("multicast (ff00::/8)"),
        0x2000..=0x3fff => Ok(()),
        _ => special("unallocated IPv6 (outside 2000::/3)"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn refused(ip: &str) -> bool {
        classify(ip.parse().unwrap()).is_err()
    }

    #[test]
    fn public_addresses_pass() {
        for ip in [
            "93.184.215.14",
            "1.1.1.1",
            "8.8.8.8",
            "100.63.255.255",
            "100.128.0.0",
            "172.15.255.255",
            "172.32.0.0",
            "192.0.1.1",
            "198.17.255.255",
            "198.20.0.0",
            "223.255.255.255",
            "2606:4700::1111",
            "2a00:1450:4001::200e",
            "64:ff9b::808:808",
            "::ffff:8.8.8.8",
            "2001:200::1",
        ] {
            assert!(!refused(ip), "{ip}");
        }
    }

    #[test]
    fn special_use_ipv4_is_refused() {
        for ip in [
            "0.0.0.0",
            "0.1.2.3",
            "10.0.0.1",
            "10.255.255.255",
            "100.64.0.1",
            "100.127.255.255",
            "127.0.0.1",
            "127.1.2.3",
            "169.254.169.254",
            "172.16.0.1",
            "172.31.255.255",
            "192.0.0.8",
            "192.0.2.1",
            "192.88.99.1",
            "192.168.1.1",
            "198.18.0.1",
            "198.19.255.255",
            "198.51.100.7",
            "203.0.113.9",
            "224.0.0.1",
            "239.255.255.250",
            "240.0.0.1",
            "255.255.255.255",
        ] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn special_use_ipv6_is_refused() {
        for ip in [
            "::",
            "::1",
            "::ffff:127.0.0.1",
            "::ffff:10.0.0.1",
            "::ffff:169.254.169.254",
            "::ffff:0.0.0.0",
            "::127.0.0.1",
            "::10.0.0.1",
            "64:ff9b::a00:1",
            "64:ff9b::7f00:1",
            "64:ff9b::a9fe:a9fe",
            "64:ff9b:1::1",
            "100::1",
            "2001::1",
            "2001:0:4136:e378::1",
            "2001:2::1",
            "2001:db8::1",
            "2002:7f00:1::",
            "2002:808:808::1",
            "3fff::1",
            "5f00::1",
            "fc00::1",
            "fd12:3456::1",
            "fe80::1",
            "febf::1",
            "fec0::1",
            "ff02::1",
            "4000::1",
            "1000::1",
        ] {
            assert!(refused(ip), "{ip}");
        }
    }

    #[test]
    fn the_dev_flag_lifts_loopback_and_nothing_else() {
        let ok = |ip: &str| check(ip.parse().unwrap(), true).is_ok();
        assert!(ok("127.0.0.1") && ok("::1") && ok("::ffff:127.0.0.1"));
        for ip in [
            "10.0.0.1",
            "169.254.169.254",
            "fc00::1",
            "fe80::1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "0.0.0.0",
            "::",
        ] {
            assert!(!ok(ip), "{ip}");
        }
        assert_eq!(
            check("127.0.0.1".parse().unwrap(), false),
            Err(Refused::Loopback)
        );
    }
}
