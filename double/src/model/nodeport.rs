//! The apiserver's NodePort allocation for Services of type NodePort and LoadBalancer.
//!
//! upstream: pkg/registry/core/service/storage/alloc.go `initNodePorts` (ports with the same `port`
//! share one nodePort; a requested `nodePort` is allocated as given, else the next free one; type
//! LoadBalancer only with `allocateLoadBalancerNodePorts`), pkg/registry/core/service/portallocator/
//! allocator.go (`--service-node-port-range`, default 30000-32767; `ErrAllocated` "provided port is
//! already allocated", `ErrNotInRange` "provided port is not in the valid range. The range of valid
//! ports is 30000-32767"; dynamic allocation prefers the range above the static band of
//! `calculateRangeOffset`: min(max(16, size/32), 128) ports); a failed request is
//! `field.Invalid(spec.ports[i].nodePort, np, err)` (422), a full range an internal error
//! "failed to allocate a nodePort: range is full".
//!
//! Deviations: `nodeport-outside-range` (allocates from 20000-22767), `nodeport-requested-ignored`
//! (a requested nodePort is replaced by an allocated one), `nodeport-duplicate-allowed` (an allocated
//! port is handed out again), `nodeport-range-unchecked` (a requested port outside the range is kept),
//! `lb-nodeport-not-allocated` (a LoadBalancer Service gets none unless it requests one).

use std::collections::{BTreeMap, BTreeSet};

use rand::Rng;
use serde_json::{Value, json};

use crate::api_error::Cause;

/// The default `--service-node-port-range`.
pub const DEFAULT_RANGE: (u16, u16) = (30000, 32767);
/// The range the `nodeport-outside-range` deviation allocates from.
const WRONG_RANGE: (u16, u16) = (20000, 22767);

/// What the allocation behaves like (deviations bend it).
#[derive(Debug, Clone, Copy, Default)]
pub struct Quirks {
    pub outside_range: bool,
    pub requested_ignored: bool,
    pub duplicates_allowed: bool,
    pub range_unchecked: bool,
    /// A LoadBalancer Service gets no nodePort allocated (requested ones are still honoured).
    pub lb_not_allocated: bool,
}

/// Why a Service's nodePorts could not be allocated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NodePortError {
    /// 422 Invalid with this cause.
    Invalid(Cause),
    /// 500: "failed to allocate a nodePort: range is full".
    RangeFull,
}

/// Whether `svc` gets nodePorts allocated: NodePort, and LoadBalancer unless
/// `allocateLoadBalancerNodePorts: false` (requested ports are still honoured then).
fn allocates(svc: &Value, quirks: Quirks) -> Option<bool> {
    match svc["spec"]["type"].as_str() {
        Some("NodePort") => Some(true),
        Some("LoadBalancer") => Some(
            !quirks.lb_not_allocated
                && svc["spec"]["allocateLoadBalancerNodePorts"]
                    .as_bool()
                    .unwrap_or(true),
        ),
        _ => None,
    }
}

/// The nodePorts `svc` holds.
pub fn node_ports(svc: &Value) -> BTreeSet<u16> {
    svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p["nodePort"].as_u64())
        .filter_map(|p| u16::try_from(p).ok())
        .filter(|p| *p != 0)
        .collect()
}

/// A free port of `range`, preferring the dynamic band above the static offset.
fn next_free(range: (u16, u16), used: &BTreeSet<u16>) -> Option<u16> {
    let size = u32::from(range.1 - range.0) + 1;
    let offset = if size <= 16 {
        0
    } else {
        (size / 32).clamp(16, 128)
    };
    let start = range.0 + offset as u16;
    let free = |lo: u16, hi: u16| -> Vec<u16> { (lo..=hi).filter(|p| !used.contains(p)).collect() };
    let mut candidates = free(start, range.1);
    if candidates.is_empty() && start > range.0 {
        candidates = free(range.0, start - 1);
    }
    if candidates.is_empty() {
        return None;
    }
    let at = rand::rng().random_range(0..candidates.len());
    Some(candidates[at])
}

/// Allocates the nodePorts of a Service being created, given the ports other Services hold.
/// Returns the ports it took.
pub fn allocate(
    svc: &mut Value,
    used: &BTreeSet<u16>,
    quirks: Quirks,
) -> Result<BTreeSet<u16>, NodePortError> {
    let Some(allocate_new) = allocates(svc, quirks) else {
        return Ok(BTreeSet::new());
    };
    let range = if quirks.outside_range {
        WRONG_RANGE
    } else {
        DEFAULT_RANGE
    };
    let mut taken: BTreeSet<u16> = BTreeSet::new();
    let mut by_port: BTreeMap<u64, u16> = BTreeMap::new();
    let Some(ports) = svc["spec"]["ports"].as_array_mut() else {
        return Ok(taken);
    };
    let requested_for = |port: u64, ports: &[Value]| -> Option<u64> {
        ports
            .iter()
            .find(|p| p["port"].as_u64() == Some(port) && p["nodePort"].as_u64().unwrap_or(0) != 0)
            .and_then(|p| p["nodePort"].as_u64())
    };
    for i in 0..ports.len() {
        let port = ports[i]["port"].as_u64().unwrap_or(0);
        if let Some(np) = by_port.get(&port) {
            ports[i]["nodePort"] = json!(np);
            continue;
        }
        let requested = requested_for(port, ports).filter(|_| !quirks.requested_ignored);
        let np = match requested {
            Some(np) => {
                let in_range = u16::try_from(np)
                    .ok()
                    .filter(|p| (range.0..=range.1).contains(p));
                let np16 = match (in_range, quirks.range_unchecked) {
                    (Some(p), _) => p,
                    (None, true) => u16::try_from(np).unwrap_or(0),
                    (None, false) => {
                        return Err(NodePortError::Invalid(Cause::invalid_value(
                            format!("spec.ports[{i}].nodePort"),
                            &json!(np),
                            &format!(
                                "provided port is not in the valid range. The range of valid ports is {}-{}",
                                range.0, range.1
                            ),
                        )));
                    }
                };
                let busy = used.contains(&np16) || taken.contains(&np16);
                if busy && !quirks.duplicates_allowed {
                    return Err(NodePortError::Invalid(Cause::invalid_value(
                        format!("spec.ports[{i}].nodePort"),
                        &json!(np),
                        "provided port is already allocated",
                    )));
                }
                np16
            }
            None if !allocate_new => continue,
            None => {
                let mut busy: BTreeSet<u16> = taken.clone();
                if !quirks.duplicates_allowed {
                    busy.extend(used);
                }
                next_free(range, &busy).ok_or(NodePortError::RangeFull)?
            }
        };
        taken.insert(np);
        by_port.insert(port, np);
        ports[i]["nodePort"] = json!(np);
    }
    Ok(taken)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(ty: &str, ports: Value) -> Value {
        json!({"metadata": {"name": "s"}, "spec": {"type": ty, "ports": ports}})
    }

    #[test]
    fn allocates_in_the_dynamic_band_of_the_default_range() {
        for _ in 0..50 {
            let mut s = svc("NodePort", json!([{"port": 1248, "targetPort": 80}]));
            let taken = allocate(&mut s, &BTreeSet::new(), Quirks::default()).unwrap();
            let np = s["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
            assert!((30086..=32767).contains(&np), "{np}");
            assert_eq!(taken, BTreeSet::from([np as u16]));
        }
    }

    #[test]
    fn clusterip_services_get_none_and_same_port_shares() {
        let mut s = svc("ClusterIP", json!([{"port": 80}]));
        assert!(
            allocate(&mut s, &BTreeSet::new(), Quirks::default())
                .unwrap()
                .is_empty()
        );
        assert!(s["spec"]["ports"][0]["nodePort"].is_null());
        let mut s = svc(
            "NodePort",
            json!([{"port": 53, "protocol": "TCP"}, {"port": 53, "protocol": "UDP", "nodePort": 30053}]),
        );
        let taken = allocate(&mut s, &BTreeSet::new(), Quirks::default()).unwrap();
        assert_eq!(taken, BTreeSet::from([30053]));
        assert_eq!(s["spec"]["ports"][0]["nodePort"], 30053);
        assert_eq!(s["spec"]["ports"][1]["nodePort"], 30053);
        let mut lb = svc("LoadBalancer", json!([{"port": 80}]));
        lb["spec"]["allocateLoadBalancerNodePorts"] = json!(false);
        assert!(
            allocate(&mut lb, &BTreeSet::new(), Quirks::default())
                .unwrap()
                .is_empty()
        );
    }

    #[test]
    fn requested_ports_are_honoured_or_rejected_as_upstream() {
        let used = BTreeSet::from([30080]);
        let mut ok = svc("NodePort", json!([{"port": 80, "nodePort": 30081}]));
        allocate(&mut ok, &used, Quirks::default()).unwrap();
        assert_eq!(ok["spec"]["ports"][0]["nodePort"], 30081);

        let mut dup = svc("NodePort", json!([{"port": 80, "nodePort": 30080}]));
        let Err(NodePortError::Invalid(cause)) = allocate(&mut dup, &used, Quirks::default())
        else {
            panic!("duplicate accepted");
        };
        assert_eq!(
            cause.full_message(),
            "spec.ports[0].nodePort: Invalid value: 30080: provided port is already allocated"
        );

        let mut out = svc("NodePort", json!([{"port": 80, "nodePort": 29999}]));
        let Err(NodePortError::Invalid(cause)) = allocate(&mut out, &used, Quirks::default())
        else {
            panic!("out of range accepted");
        };
        assert_eq!(
            cause.full_message(),
            "spec.ports[0].nodePort: Invalid value: 29999: provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
    }

    #[test]
    fn a_full_range_is_an_error() {
        let used: BTreeSet<u16> = (30000..=32767).collect();
        let mut s = svc("NodePort", json!([{"port": 80}]));
        assert_eq!(
            allocate(&mut s, &used, Quirks::default()),
            Err(NodePortError::RangeFull)
        );
        // The static band is used once the dynamic one is full.
        let used: BTreeSet<u16> = (30086..=32767).collect();
        let mut s = svc("NodePort", json!([{"port": 80}]));
        let taken = allocate(&mut s, &used, Quirks::default()).unwrap();
        assert!(taken.iter().all(|p| (30000..30086).contains(p)));
    }

    #[test]
    fn deviations_bend_allocation() {
        let used = BTreeSet::from([30080]);
        let mut s = svc("NodePort", json!([{"port": 80}]));
        let q = Quirks {
            outside_range: true,
            ..Quirks::default()
        };
        let np = *allocate(&mut s, &used, q).unwrap().first().unwrap();
        assert!(!(30000..=32767).contains(&np));
        let mut s = svc("NodePort", json!([{"port": 80, "nodePort": 30080}]));
        let q = Quirks {
            duplicates_allowed: true,
            ..Quirks::default()
        };
        assert_eq!(allocate(&mut s, &used, q).unwrap(), BTreeSet::from([30080]));
        let mut s = svc("NodePort", json!([{"port": 80, "nodePort": 30081}]));
        let q = Quirks {
            requested_ignored: true,
            ..Quirks::default()
        };
        assert_ne!(allocate(&mut s, &used, q).unwrap(), BTreeSet::from([30081]));
        let mut s = svc("NodePort", json!([{"port": 80, "nodePort": 80}]));
        let q = Quirks {
            range_unchecked: true,
            ..Quirks::default()
        };
        assert_eq!(allocate(&mut s, &used, q).unwrap(), BTreeSet::from([80]));
        // lb-nodeport-not-allocated: a LoadBalancer gets none, a NodePort still one.
        let q = Quirks {
            lb_not_allocated: true,
            ..Quirks::default()
        };
        let mut s = svc("LoadBalancer", json!([{"port": 80}]));
        assert!(allocate(&mut s, &used, q).unwrap().is_empty());
        assert!(node_ports(&s).is_empty(), "{s}");
        let mut s = svc("NodePort", json!([{"port": 80}]));
        assert_eq!(allocate(&mut s, &used, q).unwrap().len(), 1);
    }
}
