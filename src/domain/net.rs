//! Client addresses as counted by limits.

use std::net::IpAddr;

/// The counter key of a client address under `prefix`: IPv4 as it is, IPv6 by its /64
/// network (a household or device gets a whole /64, so a single address there limits
/// nothing). IPv4 mapped into IPv6 counts as IPv4.
#[must_use]
pub fn address_key(prefix: &str, ip: IpAddr) -> String {
    match ip.to_canonical() {
        IpAddr::V4(v4) => format!("{prefix}:{v4}"),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{prefix}:{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

#[cfg(test)]
mod tests {
    use super::address_key;

    #[test]
    fn ipv6_is_counted_per_64() {
        let a = address_key("x", "2001:db8:1:2:aaaa::1".parse().expect("ip"));
        let b = address_key("x", "2001:db8:1:2:bbbb::9".parse().expect("ip"));
        let c = address_key("x", "2001:db8:1:3::1".parse().expect("ip"));
        assert_eq!(a, b);
        assert_ne!(a, c);
        assert_eq!(
            address_key("x", "::ffff:192.0.2.7".parse().expect("ip")),
            "x:192.0.2.7"
        );
    }
}
