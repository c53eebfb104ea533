//! ClusterIP allocation over ServiceCIDRs and the ServiceCIDR controller's decisions.
//!
//! upstream: pkg/registry/core/service/ipallocator/ipallocator.go (`NewIPAllocator`: the network
//! address is never handed out, nor the broadcast address for IPv4; `allocateNextService`: a random
//! start in the upper sub-range, then the lower one; `createIPAddress`: the IPAddress object),
//! bitmap.go `calculateRangeOffset` (KEP-3070), cidrallocator.go (`MetaAllocator`: one allocator per
//! CIDR of every ServiceCIDR, tried in Go map order, ready only while the ServiceCIDR is Ready and
//! not being deleted; `getAllocator` for a requested IP), allocator.go (error texts), and
//! pkg/controller/servicecidrs/servicecidrs_controller.go (finalizer, Ready condition,
//! `canDeleteCIDR`, the 10 s deletion grace period).

use std::collections::HashSet;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::time::Duration;

use ipnet::IpNet;
use rand::Rng;
use rand::seq::SliceRandom;
use serde_json::{Value, json};

use super::family::IpFamily;
use crate::api_error::Cause;

/// `ServiceCIDRProtectionFinalizer`.
pub const FINALIZER: &str = "networking.k8s.io/service-cidr-finalizer";
/// `deletionGracePeriod`: the controller waits this long after deletionTimestamp before removing the finalizer.
pub const DELETION_GRACE_PERIOD: Duration = Duration::from_secs(10);
/// `networkingv1.LabelIPAddressFamily`.
pub const LABEL_IP_FAMILY: &str = "ipaddress.kubernetes.io/ip-family";
/// `networkingv1.LabelManagedBy`.
pub const LABEL_MANAGED_BY: &str = "ipaddress.kubernetes.io/managed-by";
/// `ipallocator.ControllerName`.
pub const ALLOCATOR_NAME: &str = "ipallocator.k8s.io";
/// Name of the default ServiceCIDR the apiserver creates from `--service-cluster-ip-range`.
pub const DEFAULT_SERVICE_CIDR_NAME: &str = "kubernetes";
/// pkg/controlplane/controller/defaultservicecidr: the default ServiceCIDR's Ready message.
pub const DEFAULT_READY_MESSAGE: &str = "Kubernetes default Service CIDR is ready";
/// servicecidrs_controller.go: Ready message for other ServiceCIDRs.
pub const READY_MESSAGE: &str = "Kubernetes Service CIDR is ready";
/// `networkingv1.ServiceCIDRReasonTerminating` — current code; the docs (v1alpha1 era) show `OrphanIPAddress`.
pub const REASON_TERMINATING: &str = "Terminating";
/// servicecidrs_controller.go: the message while IPs still block the deletion.
pub const TERMINATING_MESSAGE: &str = "There are still IPAddresses referencing the ServiceCIDR, please remove them or create a new ServiceCIDR";

/// Allocation failures (upstream allocator.go error values).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AllocError {
    Full,
    Allocated,
    NotInRange { ip: IpAddr, range: String },
    MismatchedNetwork,
}

impl fmt::Display for AllocError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            AllocError::Full => write!(f, "range is full"),
            AllocError::Allocated => write!(f, "provided IP is already allocated"),
            AllocError::NotInRange { ip, range } => {
                write!(
                    f,
                    "the provided IP ({ip}) is not in the valid range. The range of valid IPs is {range}"
                )
            }
            AllocError::MismatchedNetwork => {
                write!(f, "the provided network does not match the current range")
            }
        }
    }
}

fn to_u128(ip: IpAddr) -> u128 {
    match ip {
        IpAddr::V4(v4) => u32::from(v4) as u128,
        IpAddr::V6(v6) => u128::from(v6),
    }
}

fn from_u128(family: IpFamily, n: u128) -> IpAddr {
    match family {
        IpFamily::IPv4 => IpAddr::V4(Ipv4Addr::from(n as u32)),
        IpFamily::IPv6 => IpAddr::V6(Ipv6Addr::from(n)),
    }
}

/// One CIDR's allocator (`ipallocator.Allocator` without its storage).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Range {
    pub prefix: IpNet,
    pub family: IpFamily,
    first: u128,
    last: u128,
    range_offset: u128,
    /// Whether allocations may come from it (its ServiceCIDR is Ready and not being deleted).
    pub ready: bool,
}

/// upstream bitmap.go `calculateRangeOffset`: `min(max(16, size/16), 256)`, 0 for ranges of 16 or fewer.
pub fn range_offset(prefix: &IpNet) -> u128 {
    let bits = prefix.max_prefix_len() - prefix.prefix_len();
    let size: u128 = if bits >= 127 {
        u128::MAX
    } else {
        1u128 << bits
    };
    if size <= 16 {
        return 0;
    }
    (size / 16).clamp(16, 256)
}

impl Range {
    pub fn new(prefix: IpNet, ready: bool) -> Range {
        let prefix = prefix.trunc();
        let family = match prefix {
            IpNet::V4(_) => IpFamily::IPv4,
            IpNet::V6(_) => IpFamily::IPv6,
        };
        let network = to_u128(prefix.network());
        let broadcast = to_u128(prefix.broadcast());
        let first = network.saturating_add(1);
        // IPv4 keeps the broadcast address out; IPv6 may use it.
        let last = if family == IpFamily::IPv4 {
            broadcast.saturating_sub(1)
        } else {
            broadcast
        };
        Range {
            prefix,
            family,
            first,
            last,
            range_offset: range_offset(&prefix),
            ready,
        }
    }

    pub fn contains(&self, ip: IpAddr) -> bool {
        IpFamily::of(&ip) == self.family && (self.first..=self.last).contains(&to_u128(ip))
    }

    /// Number of allocatable addresses.
    pub fn size(&self) -> u128 {
        if self.last < self.first {
            0
        } else {
            self.last - self.first + 1
        }
    }

    /// upstream `allocateNextService`: a random start in `[first+offset, last]`, wrapping; then the
    /// lower sub-range `[first, first+offset)`.
    pub fn allocate_next(
        &self,
        used: &HashSet<IpAddr>,
        rng: &mut impl Rng,
    ) -> Result<IpAddr, AllocError> {
        let size = self.size();
        let upper_start = self.first + self.range_offset.min(size);
        let scan = |lo: u128, hi: u128, rng: &mut dyn rand::RngCore| -> Option<IpAddr> {
            if hi < lo || lo > self.last {
                return None;
            }
            let span = hi - lo + 1;
            let start = if span > u64::MAX as u128 {
                rng.random::<u64>() as u128
            } else {
                rng.random_range(0..span as u64) as u128
            };
            // Linear probe from the random start, as the iterator does; bounded for huge IPv6 ranges.
            let limit = span.min(1 << 20);
            (0..limit)
                .map(|i| lo + (start + i) % span)
                .map(|n| from_u128(self.family, n))
                .find(|ip| !used.contains(ip))
        };
        if let Some(ip) = scan(upper_start, self.last, rng) {
            return Ok(ip);
        }
        if self.range_offset != 0
            && let Some(ip) = scan(self.first, upper_start.saturating_sub(1), rng)
        {
            return Ok(ip);
        }
        Err(AllocError::Full)
    }
}

/// The CIDRs of a ServiceCIDR object.
pub fn cidrs_of(service_cidr: &Value) -> Vec<IpNet> {
    service_cidr["spec"]["cidrs"]
        .as_array()
        .map(|c| {
            c.iter()
                .filter_map(|s| s.as_str()?.parse::<IpNet>().ok())
                .collect()
        })
        .unwrap_or_default()
}

/// cidrallocator.go `isReady`: a Ready condition decides; no condition counts as ready.
pub fn is_ready(service_cidr: &Value) -> bool {
    service_cidr["status"]["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
        .map(|c| c["status"] == "True")
        .unwrap_or(true)
}

pub fn is_deleting(obj: &Value) -> bool {
    !obj["metadata"]["deletionTimestamp"].is_null()
}

/// `MetaAllocator.syncAllocators`: one range per distinct CIDR of `family`, ready if any of its
/// ServiceCIDRs is ready and not being deleted.
pub fn ranges(service_cidrs: &[Value], family: IpFamily) -> Vec<Range> {
    let mut out: Vec<Range> = Vec::new();
    for sc in service_cidrs {
        let ready = is_ready(sc) && !is_deleting(sc);
        for cidr in cidrs_of(sc) {
            let range = Range::new(cidr, ready);
            if range.family != family {
                continue;
            }
            match out.iter_mut().find(|r| r.prefix == range.prefix) {
                Some(existing) => existing.ready |= ready,
                None => out.push(range),
            }
        }
    }
    out
}

/// `MetaAllocator.AllocateNextService`: tries the ready ranges in random (Go map) order.
pub fn allocate_next(
    ranges: &[Range],
    used: &HashSet<IpAddr>,
    rng: &mut impl Rng,
) -> Result<IpAddr, AllocError> {
    let mut order: Vec<&Range> = ranges.iter().filter(|r| r.ready).collect();
    order.shuffle(rng);
    for range in order {
        if let Ok(ip) = range.allocate_next(used, rng) {
            return Ok(ip);
        }
    }
    Err(AllocError::Full)
}

/// `MetaAllocator.AllocateService` for a requested IP: a ready range must contain it and it must be free.
pub fn allocate_specific(
    ranges: &[Range],
    ip: IpAddr,
    used: &HashSet<IpAddr>,
) -> Result<(), AllocError> {
    let Some(range) = ranges.iter().find(|r| r.ready && r.prefix.contains(&ip)) else {
        return Err(AllocError::MismatchedNetwork);
    };
    if !range.contains(ip) {
        return Err(AllocError::NotInRange {
            ip,
            range: range.prefix.to_string(),
        });
    }
    if used.contains(&ip) {
        return Err(AllocError::Allocated);
    }
    Ok(())
}

/// The IPAddress object the allocator creates (`createIPAddress`, `serviceToRef`).
pub fn ip_address_object(ip: IpAddr, svc_namespace: &str, svc_name: &str) -> Value {
    json!({
        "apiVersion": "networking.k8s.io/v1",
        "kind": "IPAddress",
        "metadata": {
            "name": ip.to_string(),
            "labels": {
                LABEL_IP_FAMILY: IpFamily::of(&ip).as_str(),
                LABEL_MANAGED_BY: ALLOCATOR_NAME,
            },
        },
        "spec": {
            "parentRef": {"group": "", "resource": "services", "namespace": svc_namespace, "name": svc_name},
        },
    })
}

/// A ServiceCIDR `Ready` condition as the controllers apply it (no reason: applied without one).
pub fn ready_condition(message: &str, now: &str) -> Value {
    json!({"type": "Ready", "status": "True", "lastTransitionTime": now, "reason": "", "message": message})
}

/// The condition the controller sets while IPAddresses block the deletion; `short` keeps the message's
/// first clause only (deviation `servicecidr-blocked-message-short`).
pub fn terminating_condition(now: &str, short: bool) -> Value {
    let message = match TERMINATING_MESSAGE.split_once(", please") {
        Some((first, _)) if short => first,
        _ => TERMINATING_MESSAGE,
    };
    json!({"type": "Ready", "status": "False", "lastTransitionTime": now, "reason": REASON_TERMINATING, "message": message})
}

/// upstream `canDeleteCIDR`: deletable when every CIDR is also covered by another ServiceCIDR, or
/// when no allocator-managed IPAddress would be left with this ServiceCIDR as its only container.
/// With `ignore_cover` (deviation `servicecidr-cover-ignored`) another ServiceCIDR covering it counts for
/// nothing: only its own IPAddresses decide.
pub fn can_delete(
    service_cidr: &Value,
    all: &[Value],
    ip_addresses: &[Value],
    ignore_cover: bool,
) -> bool {
    let others: Vec<Value>;
    let all = if ignore_cover {
        others = all
            .iter()
            .filter(|sc| sc["metadata"]["name"] == service_cidr["metadata"]["name"])
            .cloned()
            .collect();
        others.as_slice()
    } else {
        all
    };
    let name = service_cidr["metadata"]["name"]
        .as_str()
        .unwrap_or_default();
    let own = cidrs_of(service_cidr);
    let containing = |prefix: &IpNet| -> Vec<&str> {
        all.iter()
            .filter(|sc| cidrs_of(sc).iter().any(|c| c.contains(prefix)))
            .filter_map(|sc| sc["metadata"]["name"].as_str())
            .collect()
    };
    let has_parent = own.iter().all(|p| {
        let c = containing(p);
        !(c.is_empty() || (c.len() == 1 && c[0] == name))
    });
    if has_parent {
        return true;
    }
    for ip_obj in ip_addresses {
        if ip_obj["metadata"]["labels"][LABEL_MANAGED_BY].as_str() != Some(ALLOCATOR_NAME) {
            continue;
        }
        let Some(ip) = ip_obj["metadata"]["name"]
            .as_str()
            .and_then(|n| n.parse::<IpAddr>().ok())
        else {
            continue;
        };
        if !own.iter().any(|p| p.contains(&ip)) {
            continue;
        }
        let holders: Vec<&str> = all
            .iter()
            .filter(|sc| cidrs_of(sc).iter().any(|c| c.contains(&ip)))
            .filter_map(|sc| sc["metadata"]["name"].as_str())
            .collect();
        if holders.len() == 1 && holders[0] == name {
            return false;
        }
    }
    true
}

/// Validation of a ServiceCIDR (pkg/apis/networking/validation `ValidateServiceCIDR`,
/// `ValidateServiceCIDRUpdate`): 1-2 CIDRs, valid prefixes, at most one per family; on update the
/// CIDRs may only grow from single- to dual-stack.
pub fn validate(obj: &Value, old: Option<&Value>) -> Vec<Cause> {
    let path = "spec.cidrs";
    let raw: Vec<String> = obj["spec"]["cidrs"]
        .as_array()
        .map(|c| {
            c.iter()
                .map(|s| s.as_str().unwrap_or_default().to_string())
                .collect()
        })
        .unwrap_or_default();
    let mut causes = Vec::new();
    if raw.is_empty() {
        causes.push(Cause::required(path, "at least one CIDR required"));
        return causes;
    }
    let slice = super::gofmt::string_slice("string", Some(&raw));
    if raw.len() > 2 {
        causes.push(Cause::new(
            path,
            "FieldValueInvalid",
            format!("Invalid value: {slice}: may only hold up to 2 values"),
        ));
        return causes;
    }
    let mut families = Vec::new();
    for (i, c) in raw.iter().enumerate() {
        match c.parse::<IpNet>() {
            Ok(net) if net.trunc() == net => families.push(IpFamily::of(&net.addr())),
            Ok(net) => causes.push(Cause::new(
                format!("{path}[{i}]"),
                "FieldValueInvalid",
                format!("Invalid value: {}: must be a CIDR value (e.g. {})", super::gofmt::quote(c), net.trunc()),
            )),
            Err(_) => causes.push(Cause::new(
                format!("{path}[{i}]"),
                "FieldValueInvalid",
                format!("Invalid value: {}: must be a valid CIDR value, (e.g. 10.9.8.0/24 or 2001:db8::/64)", super::gofmt::quote(c)),
            )),
        }
    }
    if families.len() == 2 && families[0] == families[1] {
        causes.push(Cause::new(
            path,
            "FieldValueInvalid",
            format!("Invalid value: {slice}: may specify no more than one IP for each IP family, i.e 192.168.0.0/24 and 2001:db8::/64"),
        ));
    }
    if let Some(old) = old {
        let old_raw: Vec<String> = old["spec"]["cidrs"]
            .as_array()
            .map(|c| {
                c.iter()
                    .map(|s| s.as_str().unwrap_or_default().to_string())
                    .collect()
            })
            .unwrap_or_default();
        let grew_to_dual = old_raw.len() == 1 && raw.len() == 2 && raw[0] == old_raw[0];
        if raw != old_raw && !grew_to_dual {
            causes.push(Cause::new(
                path,
                "FieldValueInvalid",
                format!("Invalid value: {slice}: field is immutable"),
            ));
        }
    }
    causes
}

#[cfg(test)]
mod tests {
    use super::*;
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    fn sc(name: &str, cidrs: &[&str]) -> Value {
        json!({"metadata": {"name": name}, "spec": {"cidrs": cidrs}})
    }

    #[test]
    fn a_slash_28_has_14_addresses_and_no_offset() {
        let r = Range::new("10.96.0.0/28".parse().unwrap(), true);
        assert_eq!(r.size(), 14);
        assert_eq!(range_offset(&"10.96.0.0/28".parse().unwrap()), 0);
        assert_eq!(range_offset(&"10.96.0.0/24".parse().unwrap()), 16);
        assert_eq!(range_offset(&"fd00:10:96::/112".parse().unwrap()), 256);
        assert!(!r.contains("10.96.0.0".parse().unwrap()));
        assert!(!r.contains("10.96.0.15".parse().unwrap()));
        assert!(r.contains("10.96.0.14".parse().unwrap()));
        let v6 = Range::new("fd00:10:96::/112".parse().unwrap(), true);
        assert!(v6.contains("fd00:10:96::ffff".parse().unwrap()));
    }

    /// The docs' exhaustion example: `kubernetes` (.1) and kube-dns (.10) taken, 12 more fit, the 13th fails.
    #[test]
    fn exhausting_the_default_range() {
        let mut rng = StdRng::seed_from_u64(7);
        let cidrs = vec![sc("kubernetes", &["10.96.0.0/28", "fd00:10:96::/112"])];
        let ranges = ranges(&cidrs, IpFamily::IPv4);
        let mut used: HashSet<IpAddr> = ["10.96.0.1", "10.96.0.10"]
            .iter()
            .map(|s| s.parse().unwrap())
            .collect();
        for _ in 0..12 {
            let ip = allocate_next(&ranges, &used, &mut rng).unwrap();
            assert!(used.insert(ip));
        }
        assert_eq!(
            allocate_next(&ranges, &used, &mut rng),
            Err(AllocError::Full)
        );
        assert_eq!(AllocError::Full.to_string(), "range is full");
        // A new ServiceCIDR extends the range; allocations come from its upper sub-range.
        let cidrs = vec![cidrs[0].clone(), sc("newcidr1", &["10.96.0.0/24"])];
        let ranges = super::ranges(&cidrs, IpFamily::IPv4);
        let ip = allocate_next(&ranges, &used, &mut rng).unwrap();
        let n = match ip {
            IpAddr::V4(v4) => v4.octets()[3],
            _ => 0,
        };
        assert!((17..=254).contains(&n), "{ip}");
    }

    #[test]
    fn deleting_or_unready_ranges_do_not_allocate() {
        let mut rng = StdRng::seed_from_u64(1);
        let mut cidr = sc("newcidr1", &["10.100.0.0/24"]);
        cidr["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        let ranges = ranges(&[cidr], IpFamily::IPv4);
        assert_eq!(
            allocate_next(&ranges, &HashSet::new(), &mut rng),
            Err(AllocError::Full)
        );
        assert_eq!(
            allocate_specific(&ranges, "10.100.0.5".parse().unwrap(), &HashSet::new()),
            Err(AllocError::MismatchedNetwork)
        );
    }

    #[test]
    fn specific_ips() {
        let ranges = ranges(&[sc("kubernetes", &["10.96.0.0/28"])], IpFamily::IPv4);
        let used: HashSet<IpAddr> = ["10.96.0.1".parse().unwrap()].into();
        assert_eq!(
            allocate_specific(&ranges, "10.96.0.1".parse().unwrap(), &used),
            Err(AllocError::Allocated)
        );
        assert_eq!(
            allocate_specific(&ranges, "10.96.0.5".parse().unwrap(), &used),
            Ok(())
        );
        assert_eq!(
            allocate_specific(&ranges, "10.96.0.15".parse().unwrap(), &used)
                .unwrap_err()
                .to_string(),
            "the provided IP (10.96.0.15) is not in the valid range. The range of valid IPs is 10.96.0.0/28"
        );
    }

    #[test]
    fn deletion_is_blocked_by_orphan_ips() {
        let default = sc("kubernetes", &["10.96.0.0/28"]);
        let newcidr = sc("newcidr1", &["10.96.0.0/24"]);
        let ip = ip_address_object("10.96.0.48".parse().unwrap(), "default", "test-13");
        assert_eq!(ip["metadata"]["labels"][LABEL_MANAGED_BY], ALLOCATOR_NAME);
        assert_eq!(ip["spec"]["parentRef"]["resource"], "services");
        let all = vec![default.clone(), newcidr.clone()];
        assert!(!can_delete(
            &newcidr,
            &all,
            std::slice::from_ref(&ip),
            false
        ));
        assert!(can_delete(&newcidr, &all, &[], false));
        // An IP inside the /28 is still covered by `kubernetes`.
        let inner = ip_address_object("10.96.0.5".parse().unwrap(), "default", "x");
        assert!(can_delete(
            &newcidr,
            &all,
            std::slice::from_ref(&inner),
            false
        ));
        assert!(!can_delete(&newcidr, &all, &[inner], true));
        // A ServiceCIDR contained in a larger one (or an equal one) is always deletable.
        assert!(can_delete(&default, &all, std::slice::from_ref(&ip), false));
        let twin = sc("twin", &["10.96.0.0/28"]);
        let inside = ip_address_object("10.96.0.6".parse().unwrap(), "default", "y");
        let with_twin = vec![default.clone(), twin];
        assert!(can_delete(
            &default,
            &with_twin,
            std::slice::from_ref(&inside),
            false
        ));
        // Unless the controller ignores the others.
        assert!(!can_delete(&default, &with_twin, &[inside], true));
    }

    #[test]
    fn the_blocked_message_is_whole_unless_short() {
        let whole = terminating_condition("t", false);
        assert_eq!(whole["message"], TERMINATING_MESSAGE);
        let short = terminating_condition("t", true);
        assert_eq!(
            short["message"],
            "There are still IPAddresses referencing the ServiceCIDR"
        );
    }

    #[test]
    fn validation() {
        assert!(validate(&sc("a", &["10.96.0.0/24"]), None).is_empty());
        assert_eq!(
            validate(&sc("a", &[]), None)[0].message,
            "Required value: at least one CIDR required"
        );
        assert_eq!(
            validate(&sc("a", &["10.0.0.0/24", "10.1.0.0/24"]), None).len(),
            1
        );
        assert_eq!(validate(&sc("a", &["10.0.0.1/24"]), None).len(), 1);
        assert!(
            validate(
                &sc("a", &["10.0.0.0/24", "fd00::/64"]),
                Some(&sc("a", &["10.0.0.0/24"]))
            )
            .is_empty()
        );
        assert_eq!(
            validate(&sc("a", &["10.2.0.0/24"]), Some(&sc("a", &["10.0.0.0/24"]))).len(),
            1
        );
    }
}
