//! Address arithmetic of the ServiceCIDR trials: which addresses a range hands out, and which free
//! ranges the trials may add without touching anything the cluster already uses.
//!
//! upstream: pkg/registry/core/service/ipallocator/ipallocator.go `NewIPAllocator` (the network address
//! is never handed out, nor the broadcast address for IPv4) and pkg/controlplane/services.go
//! `ServiceIPRange` (the `kubernetes` Service takes index 1 of the primary range).

use std::net::{IpAddr, Ipv4Addr};

use ipnet::{IpNet, Ipv4Net};

/// The docs' example: the default range and the ServiceCIDR `newcidr1` that extends it.
pub const DOC_DEFAULT_RANGE: &str = "10.96.0.0/28";
pub const DOC_NEWCIDR1_RANGE: &str = "10.96.0.0/24";
/// Where the non-disruptive variant looks for a free /30: TEST-NET-1 (RFC 5737), reserved for
/// documentation, so no real network uses it (upstream's e2e uses TEST-NET-3 for the same reason,
/// test/e2e/network/service_cidrs.go).
pub const VARIANT_POOL: &str = "192.0.2.0/24";
/// A /30 is the smallest IPv4 range that hands out addresses (two: .1 and .2).
pub const VARIANT_PREFIX_LEN: u8 = 30;
/// How many trials pick variant ranges at once; trial `slot` only uses blocks `slot`, `slot + SLOTS`, ...
/// so concurrent trials never pick the same block.
pub const VARIANT_SLOTS: u32 = 4;
/// Ranges larger than this are not exhausted (that would create more Services than is reasonable).
pub const MAX_EXHAUSTIBLE: u64 = 254;

/// The first IPv4 CIDR of a list (the primary range on IPv4-primary clusters, the secondary on IPv6-primary).
pub fn ipv4_range(cidrs: &[IpNet]) -> Option<Ipv4Net> {
    cidrs.iter().find_map(|c| match c {
        IpNet::V4(v4) => Some(v4.trunc()),
        IpNet::V6(_) => None,
    })
}

/// Parses CIDR strings, keeping the ones that parse (as a canonical, truncated network).
pub fn parse_cidrs<S: AsRef<str>>(cidrs: &[S]) -> Vec<IpNet> {
    cidrs
        .iter()
        .filter_map(|c| c.as_ref().trim().parse::<IpNet>().ok())
        .map(|n| n.trunc())
        .collect()
}

/// The first address the allocator may hand out (`GetIndexedIP(range, 1)`).
pub fn first_address(range: &IpNet) -> IpAddr {
    match range {
        IpNet::V4(v4) => IpAddr::V4(Ipv4Addr::from(u32::from(v4.network()).saturating_add(1))),
        IpNet::V6(v6) => IpAddr::V6(std::net::Ipv6Addr::from(
            u128::from(v6.network()).saturating_add(1),
        )),
    }
}

/// The addresses an IPv4 range hands out: all but the network and broadcast addresses.
pub fn allocatable(range: &Ipv4Net) -> Vec<Ipv4Addr> {
    let (network, broadcast) = (u32::from(range.network()), u32::from(range.broadcast()));
    if broadcast <= network.saturating_add(1) {
        return Vec::new();
    }
    (network + 1..broadcast).map(Ipv4Addr::from).collect()
}

/// How many addresses an IPv4 range hands out.
pub fn allocatable_count(range: &Ipv4Net) -> u64 {
    let size = 1u64 << (32 - u32::from(range.prefix_len()));
    size.saturating_sub(2)
}

/// Whether `ip` is one of the addresses `range` hands out.
pub fn hands_out(range: &Ipv4Net, ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => range.contains(&v4) && v4 != range.network() && v4 != range.broadcast(),
        IpAddr::V6(_) => false,
    }
}

fn overlaps(a: &Ipv4Net, b: &Ipv4Net) -> bool {
    a.contains(&b.network()) || b.contains(&a.network())
}

fn is_free(candidate: &Ipv4Net, taken: &[Ipv4Net]) -> bool {
    !taken.iter().any(|t| overlaps(candidate, t))
}

/// The range the expansion trials add. With the docs' default range, the docs' `10.96.0.0/24` (it contains
/// the default range, as in the docs) unless another ServiceCIDR already overlaps it. Otherwise a range
/// derived from the default: its supernet 16 times larger (like /28 -> /24), then the blocks of that size
/// that follow it, the first that overlaps nothing in `taken` except the default range itself.
pub fn expansion_range(default: &Ipv4Net, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    let others: Vec<Ipv4Net> = taken.iter().copied().filter(|t| t != default).collect();
    let doc_default: Ipv4Net = DOC_DEFAULT_RANGE.parse().ok()?;
    let doc_new: Ipv4Net = DOC_NEWCIDR1_RANGE.parse().ok()?;
    if *default == doc_default && is_free(&doc_new, &others) {
        return Some(doc_new);
    }
    let len = default.prefix_len().saturating_sub(4).max(8);
    let supernet = Ipv4Net::new(default.network(), len).ok()?.trunc();
    if is_free(&supernet, &others) {
        return Some(supernet);
    }
    let size = 1u64 << (32 - u32::from(len));
    let start = u64::from(u32::from(supernet.network()));
    (1..=64u64)
        .map(|i| start + i * size)
        .take_while(|n| *n <= u64::from(u32::MAX))
        .filter_map(|n| Ipv4Net::new(Ipv4Addr::from(n as u32), len).ok())
        .find(|c| !c.contains(&default.network()) && is_free(c, &others) && is_free(c, &[*default]))
}

/// The /30 the non-disruptive variant adds: the first block of [`VARIANT_POOL`] in this trial's slot that
/// overlaps nothing in `taken`.
pub fn variant_range(slot: u32, taken: &[Ipv4Net]) -> Option<Ipv4Net> {
    let pool: Ipv4Net = VARIANT_POOL.parse().ok()?;
    let blocks = 1u32 << (u32::from(VARIANT_PREFIX_LEN) - u32::from(pool.prefix_len()));
    let base = u32::from(pool.network());
    (slot % VARIANT_SLOTS..blocks)
        .step_by(VARIANT_SLOTS as usize)
        .filter_map(|i| Ipv4Net::new(Ipv4Addr::from(base + i * 4), VARIANT_PREFIX_LEN).ok())
        .find(|c| is_free(c, taken))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn v4(s: &str) -> Ipv4Net {
        s.parse().unwrap()
    }

    #[test]
    fn the_docs_slash_28_hands_out_fourteen_addresses() {
        let r = v4(DOC_DEFAULT_RANGE);
        assert_eq!(allocatable_count(&r), 14);
        let all = allocatable(&r);
        assert_eq!(all.len(), 14);
        assert_eq!(all.first().unwrap().to_string(), "10.96.0.1");
        assert_eq!(all.last().unwrap().to_string(), "10.96.0.14");
        assert!(hands_out(&r, "10.96.0.10".parse().unwrap()));
        assert!(!hands_out(&r, "10.96.0.15".parse().unwrap()));
        assert!(!hands_out(&r, "10.96.0.0".parse().unwrap()));
        assert!(!hands_out(&r, "10.96.0.48".parse().unwrap()));
        assert_eq!(allocatable(&v4("10.0.0.0/30")).len(), 2);
        assert!(allocatable(&v4("10.0.0.0/31")).is_empty());
        assert_eq!(
            first_address(&"10.96.0.0/28".parse().unwrap()).to_string(),
            "10.96.0.1"
        );
        assert_eq!(
            first_address(&"fd00:10:96::/112".parse().unwrap()).to_string(),
            "fd00:10:96::1"
        );
    }

    #[test]
    fn ipv4_range_and_parsing() {
        let cidrs = parse_cidrs(&["fd00:10:96::/112", "10.96.0.0/28", "bogus"]);
        assert_eq!(cidrs.len(), 2);
        assert_eq!(ipv4_range(&cidrs), Some(v4("10.96.0.0/28")));
        assert_eq!(ipv4_range(&parse_cidrs(&["fd00::/64"])), None);
    }

    #[test]
    fn expansion_uses_the_docs_range_when_the_cluster_has_the_docs_range() {
        let default = v4(DOC_DEFAULT_RANGE);
        let pods = v4("10.244.0.0/16");
        assert_eq!(
            expansion_range(&default, &[default, pods]),
            Some(v4("10.96.0.0/24"))
        );
        // A leftover ServiceCIDR on the docs' range: derive another one.
        let leftover = v4("10.96.0.0/24");
        let derived = expansion_range(&default, &[default, leftover]).unwrap();
        assert_eq!(derived, v4("10.96.1.0/24"));
    }

    #[test]
    fn expansion_derives_a_free_range_for_other_clusters() {
        let default = v4("10.100.0.0/26");
        assert_eq!(
            expansion_range(&default, &[default]),
            Some(v4("10.100.0.0/22"))
        );
        let blocker = v4("10.100.1.0/24");
        let derived = expansion_range(&default, &[default, blocker]).unwrap();
        assert_eq!(derived, v4("10.100.4.0/22"));
        assert!(!derived.contains(&default.network()));
    }

    #[test]
    fn variant_slots_never_share_a_block() {
        let a = variant_range(0, &[]).unwrap();
        let b = variant_range(1, &[]).unwrap();
        assert_eq!(a, v4("192.0.2.0/30"));
        assert_eq!(b, v4("192.0.2.4/30"));
        // Slot 0 skips a taken block and stays in its own lane.
        assert_eq!(variant_range(0, &[a]).unwrap(), v4("192.0.2.16/30"));
        assert_eq!(variant_range(0, &[v4("192.0.2.0/24")]), None);
    }
}
