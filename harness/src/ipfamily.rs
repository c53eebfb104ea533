//! IP families of addresses and CIDRs, and the dual-stack checks the suites make with them.
//!
//! Family rules follow Kubernetes (`k8s.io/utils/net`: `IsIPv6String` is `ip.To4() == nil`), so an
//! IPv4-mapped IPv6 address such as `::ffff:10.0.0.1` counts as IPv4, as it does for the API server.
//! Strings are trimmed of surrounding whitespace (command output ends in newlines), nothing else is forgiven.

use std::fmt;
use std::net::IpAddr;
use std::str::FromStr;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// An IP family, spelled as the API spells it (`Service.spec.ipFamilies`: `"IPv4"`, `"IPv6"`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum IpFamily {
    #[serde(rename = "IPv4")]
    IPv4,
    #[serde(rename = "IPv6")]
    IPv6,
}

/// Why a value could not be given a family, or why a dual-stack check failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum IpFamilyError {
    #[error("not an ip address: {0:?}")]
    NotAnIp(String),
    #[error("not a cidr (want address/prefix): {0:?}")]
    NotACidr(String),
    #[error("unknown ip family {0:?} (want \"IPv4\" or \"IPv6\")")]
    UnknownFamily(String),
    #[error("empty element in ip list {0:?}")]
    EmptyListElement(String),
    #[error("want {want} values, got {got}: {values:?}")]
    WrongCount {
        want: usize,
        got: usize,
        values: Vec<String>,
    },
    #[error("want one IPv4 and one IPv6 value, both are {family}: {values:?}")]
    SameFamily {
        family: IpFamily,
        values: Vec<String>,
    },
    #[error("families out of order: want {want:?}, got {got:?} for {values:?}")]
    WrongOrder {
        want: Vec<IpFamily>,
        got: Vec<IpFamily>,
        values: Vec<String>,
    },
}

impl IpFamily {
    /// The API spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            IpFamily::IPv4 => "IPv4",
            IpFamily::IPv6 => "IPv6",
        }
    }

    /// The other family.
    pub fn other(self) -> IpFamily {
        match self {
            IpFamily::IPv4 => IpFamily::IPv6,
            IpFamily::IPv6 => IpFamily::IPv4,
        }
    }

    /// Family of a parsed address; IPv4-mapped IPv6 is IPv4 (see the module note).
    pub fn of_addr(ip: IpAddr) -> IpFamily {
        match normalise_mapped(ip) {
            IpAddr::V4(_) => IpFamily::IPv4,
            IpAddr::V6(_) => IpFamily::IPv6,
        }
    }

    /// Family of a parsed network.
    pub fn of_net(net: &IpNet) -> IpFamily {
        IpFamily::of_addr(net.addr())
    }
}

impl fmt::Display for IpFamily {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for IpFamily {
    type Err = IpFamilyError;

    /// Exactly the API values; the API server rejects other spellings too.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "IPv4" => Ok(IpFamily::IPv4),
            "IPv6" => Ok(IpFamily::IPv6),
            other => Err(IpFamilyError::UnknownFamily(other.to_string())),
        }
    }
}

/// `::ffff:a.b.c.d` becomes `a.b.c.d`; every other address is returned as is.
fn normalise_mapped(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => IpAddr::V6(v6),
        },
        v4 => v4,
    }
}

/// Parses an address (surrounding whitespace trimmed).
pub fn parse_ip(s: &str) -> Result<IpAddr, IpFamilyError> {
    s.trim()
        .parse::<IpAddr>()
        .map_err(|_| IpFamilyError::NotAnIp(s.to_string()))
}

/// Parses a CIDR `address/prefix` (surrounding whitespace trimmed). Host bits may be set, as Go's
/// `net.ParseCIDR` allows; use [`is_canonical_cidr`] where the API demands the network address.
pub fn parse_cidr(s: &str) -> Result<IpNet, IpFamilyError> {
    let trimmed = s.trim();
    if !trimmed.contains('/') {
        return Err(IpFamilyError::NotACidr(s.to_string()));
    }
    trimmed
        .parse::<IpNet>()
        .map_err(|_| IpFamilyError::NotACidr(s.to_string()))
}

/// True when the CIDR is written with its network address (`10.96.0.0/24`, not `10.96.0.5/24`).
pub fn is_canonical_cidr(s: &str) -> Result<bool, IpFamilyError> {
    let net = parse_cidr(s)?;
    Ok(net.addr() == net.network())
}

/// Family of an address string.
pub fn family_of_ip(s: &str) -> Result<IpFamily, IpFamilyError> {
    parse_ip(s).map(IpFamily::of_addr)
}

/// Family of a CIDR string.
pub fn family_of_cidr(s: &str) -> Result<IpFamily, IpFamilyError> {
    parse_cidr(s).map(|net| IpFamily::of_net(&net))
}

/// Family of an address or a CIDR (a value containing `/` is read as a CIDR).
pub fn family_of(s: &str) -> Result<IpFamily, IpFamilyError> {
    if s.contains('/') {
        family_of_cidr(s)
    } else {
        family_of_ip(s)
    }
}

/// Families of addresses or CIDRs, in order; the first bad value is the error.
pub fn families_of(values: &[&str]) -> Result<Vec<IpFamily>, IpFamilyError> {
    values.iter().map(|v| family_of(v)).collect()
}

/// Splits a comma-separated address list such as `MY_POD_IPS` (the kubelet joins `status.podIPs` with `,`:
/// upstream pkg/kubelet/kubelet_pods.go podFieldSelectorRuntimeValue). Each element must be an address.
pub fn split_ip_list(s: &str) -> Result<Vec<IpAddr>, IpFamilyError> {
    let trimmed = s.trim();
    if trimmed.is_empty() {
        return Ok(Vec::new());
    }
    trimmed
        .split(',')
        .map(|part| {
            if part.trim().is_empty() {
                Err(IpFamilyError::EmptyListElement(s.to_string()))
            } else {
                parse_ip(part)
            }
        })
        .collect()
}

/// Is `ip` inside `cidr`? Values of different families are simply not contained.
pub fn ip_in_cidr(ip: &str, cidr: &str) -> Result<bool, IpFamilyError> {
    let addr = normalise_mapped(parse_ip(ip)?);
    let net = parse_cidr(cidr)?;
    Ok(net.contains(&addr))
}

/// The first CIDR in `cidrs` that contains `ip`, if any.
pub fn containing_cidr<'a>(ip: &str, cidrs: &[&'a str]) -> Result<Option<&'a str>, IpFamilyError> {
    for cidr in cidrs {
        if ip_in_cidr(ip, cidr)? {
            return Ok(Some(cidr));
        }
    }
    Ok(None)
}

/// Exactly two values (addresses or CIDRs) of different families, as every dual-stack list in the API
/// must be (`podIPs`, `clusterIPs`, node `podCIDRs`). Returns their families in the given order.
pub fn check_dual_stack_pair(values: &[&str]) -> Result<[IpFamily; 2], IpFamilyError> {
    let owned = || values.iter().map(|v| v.to_string()).collect::<Vec<_>>();
    if values.len() != 2 {
        return Err(IpFamilyError::WrongCount {
            want: 2,
            got: values.len(),
            values: owned(),
        });
    }
    let first = family_of(values[0])?;
    let second = family_of(values[1])?;
    if first == second {
        return Err(IpFamilyError::SameFamily {
            family: first,
            values: owned(),
        });
    }
    Ok([first, second])
}

/// True when the values are exactly two of different families; errors only for unparsable values.
pub fn is_dual_stack_pair(values: &[&str]) -> Result<bool, IpFamilyError> {
    match check_dual_stack_pair(values) {
        Ok(_) => Ok(true),
        Err(IpFamilyError::WrongCount { .. } | IpFamilyError::SameFamily { .. }) => Ok(false),
        Err(other) => Err(other),
    }
}

/// A dual-stack node's `spec.podCIDRs`: "a single IPv4 block and a single IPv6 block" (validate-dual-stack
/// task), both written as networks. Returns (IPv4 net, IPv6 net) whatever the order on the node.
pub fn check_node_pod_cidrs(pod_cidrs: &[&str]) -> Result<(IpNet, IpNet), IpFamilyError> {
    check_dual_stack_pair(pod_cidrs)?;
    let mut v4 = None;
    let mut v6 = None;
    for cidr in pod_cidrs {
        let net = parse_cidr(cidr)?;
        match IpFamily::of_net(&net) {
            IpFamily::IPv4 => v4 = Some(net),
            IpFamily::IPv6 => v6 = Some(net),
        }
    }
    match (v4, v6) {
        (Some(v4), Some(v6)) => Ok((v4, v6)),
        // unreachable after check_dual_stack_pair, but no panics on data
        _ => Err(IpFamilyError::WrongCount {
            want: 2,
            got: pod_cidrs.len(),
            values: pod_cidrs.iter().map(|v| v.to_string()).collect(),
        }),
    }
}

/// The families of `values` are exactly `want`, in order (e.g. `clusterIPs` against `ipFamilies`, or
/// `podIPs` against the node's `podCIDRs` families).
pub fn check_family_order(values: &[&str], want: &[IpFamily]) -> Result<(), IpFamilyError> {
    let got = families_of(values)?;
    if got != want {
        return Err(IpFamilyError::WrongOrder {
            want: want.to_vec(),
            got,
            values: values.iter().map(|v| v.to_string()).collect(),
        });
    }
    Ok(())
}

/// Parses API family names (`["IPv6", "IPv4"]`).
pub fn parse_families(names: &[&str]) -> Result<Vec<IpFamily>, IpFamilyError> {
    names.iter().map(|n| n.parse()).collect()
}

/// The first value's family: the "primary" family of a dual-stack list (`clusterIP` is `clusterIPs[0]`,
/// `podIP` is `podIPs[0]`). `None` for an empty list.
pub fn primary_family(values: &[&str]) -> Result<Option<IpFamily>, IpFamilyError> {
    values.first().map(|v| family_of(v)).transpose()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn family_names_match_the_api() {
        assert_eq!(serde_json::to_string(&IpFamily::IPv4).unwrap(), "\"IPv4\"");
        assert_eq!(serde_json::to_string(&IpFamily::IPv6).unwrap(), "\"IPv6\"");
        let fams: Vec<IpFamily> = serde_json::from_str(r#"["IPv6","IPv4"]"#).unwrap();
        assert_eq!(fams, vec![IpFamily::IPv6, IpFamily::IPv4]);
        assert!(serde_json::from_str::<IpFamily>("\"ipv4\"").is_err());
        assert_eq!("IPv6".parse::<IpFamily>().unwrap(), IpFamily::IPv6);
        assert_eq!(
            "ipv6".parse::<IpFamily>(),
            Err(IpFamilyError::UnknownFamily("ipv6".into()))
        );
        assert_eq!(IpFamily::IPv4.to_string(), "IPv4");
        assert_eq!(IpFamily::IPv4.other(), IpFamily::IPv6);
    }

    #[test]
    fn families_of_addresses_and_cidrs() {
        assert_eq!(family_of_ip("10.244.1.4").unwrap(), IpFamily::IPv4);
        assert_eq!(family_of_ip("2001:db8::4\n").unwrap(), IpFamily::IPv6);
        assert_eq!(family_of_ip("fe00::0").unwrap(), IpFamily::IPv6);
        // as k8s.io/utils/net: an IPv4-mapped address is IPv4
        assert_eq!(family_of_ip("::ffff:10.0.0.1").unwrap(), IpFamily::IPv4);
        assert_eq!(family_of_cidr("10.244.1.0/24").unwrap(), IpFamily::IPv4);
        assert_eq!(family_of_cidr("2001:db8::/64").unwrap(), IpFamily::IPv6);
        assert_eq!(family_of("fd00:10:96::/112").unwrap(), IpFamily::IPv6);
        assert_eq!(family_of("10.96.0.1").unwrap(), IpFamily::IPv4);
    }

    #[test]
    fn bad_values_give_clear_errors() {
        assert_eq!(
            family_of_ip("10.244.1"),
            Err(IpFamilyError::NotAnIp("10.244.1".into()))
        );
        assert_eq!(family_of_ip(""), Err(IpFamilyError::NotAnIp("".into())));
        assert_eq!(
            family_of_ip("<none>").unwrap_err().to_string(),
            "not an ip address: \"<none>\""
        );
        // leading zeros are rejected, as Go's parser does since 1.17
        assert!(family_of_ip("010.0.0.1").is_err());
        assert_eq!(
            family_of_cidr("10.244.1.0"),
            Err(IpFamilyError::NotACidr("10.244.1.0".into()))
        );
        assert!(family_of_cidr("10.244.1.0/33").is_err());
        assert!(family_of_cidr("2001:db8::/129").is_err());
        assert_eq!(
            families_of(&["10.0.0.1", "x"]),
            Err(IpFamilyError::NotAnIp("x".into()))
        );
    }

    #[test]
    fn cidr_canonical_form() {
        assert!(is_canonical_cidr("10.96.0.0/24").unwrap());
        assert!(!is_canonical_cidr("10.96.0.5/24").unwrap());
        assert!(is_canonical_cidr("2001:db8::/64").unwrap());
    }

    // The docs' own values (validate-dual-stack; seeds 000:165-166, 192-193, 213).
    #[test]
    fn docs_node_pod_cidrs_are_dual_stack() {
        let (v4, v6) = check_node_pod_cidrs(&["10.244.1.0/24", "2001:db8::/64"]).unwrap();
        assert_eq!(v4.to_string(), "10.244.1.0/24");
        assert_eq!(v6.to_string(), "2001:db8::/64");
        // order on the node does not matter for this check
        let (v4, _) = check_node_pod_cidrs(&["2001:db8::/64", "10.244.1.0/24"]).unwrap();
        assert_eq!(v4.to_string(), "10.244.1.0/24");
        assert!(matches!(
            check_node_pod_cidrs(&["10.244.1.0/24"]),
            Err(IpFamilyError::WrongCount {
                want: 2,
                got: 1,
                ..
            })
        ));
        assert!(matches!(
            check_node_pod_cidrs(&["10.244.1.0/24", "10.244.2.0/24"]),
            Err(IpFamilyError::SameFamily {
                family: IpFamily::IPv4,
                ..
            })
        ));
        assert_eq!(
            check_node_pod_cidrs(&["10.244.1.0/24", "2001:db8::4"]),
            Err(IpFamilyError::NotACidr("2001:db8::4".into()))
        );
    }

    #[test]
    fn docs_pod_ips_are_in_the_node_pod_cidrs() {
        let cidrs = ["10.244.1.0/24", "2001:db8::/64"];
        assert_eq!(
            check_dual_stack_pair(&["10.244.1.4", "2001:db8::4"]).unwrap(),
            [IpFamily::IPv4, IpFamily::IPv6]
        );
        assert!(ip_in_cidr("10.244.1.4", cidrs[0]).unwrap());
        assert!(ip_in_cidr("2001:db8::4", cidrs[1]).unwrap());
        assert!(!ip_in_cidr("2001:db8::4", cidrs[0]).unwrap());
        assert!(!ip_in_cidr("10.244.2.4", cidrs[0]).unwrap());
        assert!(ip_in_cidr("::ffff:10.244.1.4", cidrs[0]).unwrap());
        assert_eq!(
            containing_cidr("2001:db8::4", &cidrs).unwrap(),
            Some("2001:db8::/64")
        );
        assert_eq!(containing_cidr("192.0.2.1", &cidrs).unwrap(), None);
        assert!(ip_in_cidr("10.244.1.4", "nonsense").is_err());
        // pod IPs follow the order of the node's podCIDRs families
        let want = families_of(&cidrs).unwrap();
        check_family_order(&["10.244.1.4", "2001:db8::4"], &want).unwrap();
        assert!(matches!(
            check_family_order(&["2001:db8::4", "10.244.1.4"], &want),
            Err(IpFamilyError::WrongOrder { .. })
        ));
    }

    #[test]
    fn docs_my_pod_ips_value() {
        // seed 000:213: MY_POD_IPS=10.244.1.4,2001:db8::4
        let line = "MY_POD_IPS=10.244.1.4,2001:db8::4\n";
        let value = line.trim().strip_prefix("MY_POD_IPS=").unwrap();
        let ips = split_ip_list(value).unwrap();
        let strs: Vec<String> = ips.iter().map(|ip| ip.to_string()).collect();
        assert_eq!(strs, ["10.244.1.4", "2001:db8::4"]);
        let refs: Vec<&str> = strs.iter().map(String::as_str).collect();
        assert!(is_dual_stack_pair(&refs).unwrap());
        assert_eq!(primary_family(&refs).unwrap(), Some(IpFamily::IPv4));
        assert!(split_ip_list("").unwrap().is_empty());
        assert_eq!(
            split_ip_list("10.244.1.4,,2001:db8::4"),
            Err(IpFamilyError::EmptyListElement(
                "10.244.1.4,,2001:db8::4".into()
            ))
        );
        assert!(split_ip_list("10.244.1.4,pod01").is_err());
    }

    // validate-dual-stack: describe shows `IP Families: IPv4,IPv6`, `IPs: 10.0.216.242,2001:db8:fd00::af55`;
    // the LoadBalancer example shows an IPv6 CLUSTER-IP first.
    #[test]
    fn docs_service_cluster_ips_follow_ip_families() {
        let families = parse_families(&["IPv4", "IPv6"]).unwrap();
        let ips: Vec<&str> = "10.0.216.242,2001:db8:fd00::af55".split(',').collect();
        check_family_order(&ips, &families).unwrap();
        assert!(is_dual_stack_pair(&ips).unwrap());
        assert_eq!(
            primary_family(&["2001:db8:fd00::7ebc"]).unwrap(),
            Some(IpFamily::IPv6)
        );
        assert_eq!(
            primary_family(&["2001:db8:fd00::5118"]).unwrap(),
            Some(IpFamily::IPv6)
        );
        assert_eq!(primary_family(&[]).unwrap(), None);
        assert!(!is_dual_stack_pair(&["10.0.217.164"]).unwrap());
        assert!(!is_dual_stack_pair(&["10.0.0.1", "10.0.0.2"]).unwrap());
        assert!(is_dual_stack_pair(&["10.0.0.1", "bogus"]).is_err());
        assert!(parse_families(&["IPv4", "IPv7"]).is_err());
        let err = check_family_order(&["10.0.216.242"], &families).unwrap_err();
        assert_eq!(
            err.to_string(),
            "families out of order: want [IPv4, IPv6], got [IPv4] for [\"10.0.216.242\"]"
        );
    }

    // extend-service-ip-ranges: 10.96.0.0/28 then newcidr1 10.96.0.0/24 (seed 002:113-172).
    #[test]
    fn docs_service_cidr_values() {
        assert!(ip_in_cidr("10.96.0.1", "10.96.0.0/28").unwrap());
        for ip in ["10.96.0.48", "10.96.0.200", "10.96.0.121", "10.96.0.144"] {
            assert!(!ip_in_cidr(ip, "10.96.0.0/28").unwrap(), "{ip}");
            assert!(ip_in_cidr(ip, "10.96.0.0/24").unwrap(), "{ip}");
        }
        for ip in ["10.96.0.11", "10.96.0.5", "10.96.0.14", "10.96.0.2"] {
            assert!(ip_in_cidr(ip, "10.96.0.0/28").unwrap(), "{ip}");
        }
    }
}
