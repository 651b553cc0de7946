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

/// A link to a page of a Kommune (its Impressum, its privacy notice): an `https` URL of at
/// most 500 characters; an empty value is no link.
///
/// # Errors
/// When the value is neither empty nor such a URL.
pub fn public_link(s: &str) -> Result<Option<String>, &'static str> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(None);
    }
    let ok = s.len() <= 500
        && url::Url::parse(s).is_ok_and(|u| u.scheme() == "https" && u.host_str().is_some());
    if ok {
        Ok(Some(s.to_owned()))
    } else {
        Err("must be an https URL of at most 500 characters")
    }
}

#[cfg(test)]
mod link_tests {
    use super::public_link;

    #[test]
    fn only_https_links() {
        assert_eq!(public_link(" ").ok(), Some(None));
        assert_eq!(
            public_link("https://gemeinde-a.de/impressum")
                .ok()
                .flatten()
                .as_deref(),
            Some("https://gemeinde-a.de/impressum")
        );
        assert!(public_link("http://gemeinde-a.de").is_err());
        assert!(public_link("javascript:alert(1)").is_err());
        assert!(public_link(&format!("https://a.de/{}", "x".repeat(500))).is_err());
    }
}
