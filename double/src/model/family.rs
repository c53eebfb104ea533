//! IP families as the Kubernetes API names them (`IPv4`, `IPv6`).

use std::net::IpAddr;

/// `core.IPFamily`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum IpFamily {
    IPv4,
    IPv6,
}

impl IpFamily {
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::IPv4 => "IPv4",
            IpFamily::IPv6 => "IPv6",
        }
    }

    /// Parses the API spelling; anything else is `None`.
    pub fn parse(s: &str) -> Option<IpFamily> {
        match s {
            "IPv4" => Some(IpFamily::IPv4),
            "IPv6" => Some(IpFamily::IPv6),
            _ => None,
        }
    }

    pub fn of(ip: &IpAddr) -> IpFamily {
        match ip {
            IpAddr::V4(_) => IpFamily::IPv4,
            IpAddr::V6(_) => IpFamily::IPv6,
        }
    }

    /// The family of an IP written as text; `None` when it is not an IP.
    pub fn of_str(ip: &str) -> Option<IpFamily> {
        ip.parse::<IpAddr>().ok().map(|ip| IpFamily::of(&ip))
    }

    pub fn other(self) -> IpFamily {
        match self {
            IpFamily::IPv4 => IpFamily::IPv6,
            IpFamily::IPv6 => IpFamily::IPv4,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_of_addresses() {
        assert_eq!(IpFamily::of_str("10.96.0.1"), Some(IpFamily::IPv4));
        assert_eq!(IpFamily::of_str("fd00:10:96::1"), Some(IpFamily::IPv6));
        assert_eq!(IpFamily::of_str("None"), None);
        assert_eq!(IpFamily::IPv4.other(), IpFamily::IPv6);
        assert_eq!(IpFamily::parse("IPv6"), Some(IpFamily::IPv6));
    }
}
