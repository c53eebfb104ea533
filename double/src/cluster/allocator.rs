//! The apiserver's ClusterIP allocator over the store: ranges from ServiceCIDR objects, allocations
//! recorded as IPAddress objects (upstream: pkg/registry/core/service/ipallocator/cidrallocator.go,
//! ipallocator.go `createIPAddress`).

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::Value;

use super::Cluster;
use crate::deviation::Deviation;
use crate::model::family::IpFamily;
use crate::model::servicecidr::{self, AllocError, DEFAULT_SERVICE_CIDR_NAME, Range};
use crate::model::services::IpAllocator;
use crate::store::Store;

pub(crate) struct StoreAllocator<'a> {
    pub store: &'a Store,
    pub cluster: &'a Cluster,
    pub svc_namespace: String,
    pub svc_name: String,
    /// IPs this allocator created (released again when the request fails).
    pub created: Vec<IpAddr>,
}

/// When the Ready condition of a ServiceCIDR turned True.
fn ready_since(service_cidr: &Value) -> Option<std::time::SystemTime> {
    service_cidr["status"]["conditions"]
        .as_array()?
        .iter()
        .find(|c| c["type"] == "Ready" && c["status"] == "True")?["lastTransitionTime"]
        .as_str()
        .and_then(crate::model::time::parse_rfc3339)
}

impl<'a> StoreAllocator<'a> {
    pub fn new(store: &'a Store, cluster: &'a Cluster, svc: &Value) -> StoreAllocator<'a> {
        StoreAllocator {
            store,
            cluster,
            svc_namespace: svc["metadata"]["namespace"]
                .as_str()
                .unwrap_or("default")
                .to_string(),
            svc_name: svc["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
            created: Vec::new(),
        }
    }

    fn ranges(&self, family: IpFamily) -> Vec<Range> {
        let mut cidrs = self.store.list("servicecidrs", None);
        if self.cluster.has(Deviation::ServicecidrIgnoredByAllocator) {
            cidrs.retain(|c| c["metadata"]["name"] == DEFAULT_SERVICE_CIDR_NAME);
        }
        // Profile `servicecidr-allocator-lag`: upstream's MetaAllocator learns of ServiceCIDRs from an
        // informer and a work queue (pkg/registry/core/service/ipallocator/cidrallocator.go
        // `enqueueServiceCIDR` -> `syncAllocators`), so a ServiceCIDR can show Ready before this
        // apiserver allocates from it.
        let lag = self.cluster.topology.service_cidr_allocator_lag;
        if !lag.is_zero() {
            let now = std::time::SystemTime::now();
            cidrs.retain(|c| {
                c["metadata"]["name"] == DEFAULT_SERVICE_CIDR_NAME
                    || ready_since(c)
                        .is_some_and(|t| now.duration_since(t).unwrap_or_default() >= lag)
            });
        }
        servicecidr::ranges(&cidrs, family)
    }

    fn used(&self) -> HashSet<IpAddr> {
        self.store
            .list("ipaddresses", None)
            .iter()
            .filter_map(|ip| ip["metadata"]["name"].as_str()?.parse().ok())
            .collect()
    }

    fn record(&mut self, ip: IpAddr) -> Result<(), AllocError> {
        let mut obj = servicecidr::ip_address_object(ip, &self.svc_namespace, &self.svc_name);
        if self.cluster.has(Deviation::IpaddressWrongParentref) {
            obj["spec"]["parentRef"]["resource"] = serde_json::json!("service");
        }
        match self.store.create("ipaddresses", None, obj) {
            Ok(_) => {
                self.created.push(ip);
                Ok(())
            }
            Err(e) if e.code == 409 => Err(AllocError::Allocated),
            Err(_) => Err(AllocError::Full),
        }
    }

    /// Deletes the IPAddress objects this allocator created.
    pub fn rollback(&mut self) {
        for ip in self.created.drain(..) {
            let _ = self.store.delete("ipaddresses", None, &ip.to_string());
        }
    }
}

impl IpAllocator for StoreAllocator<'_> {
    fn allocate_next(&mut self, family: IpFamily) -> Result<IpAddr, AllocError> {
        let ranges = self.ranges(family);
        // A concurrent request may take the chosen IP first (IPAddress AlreadyExists): pick again.
        for _ in 0..16 {
            let used = self.used();
            let next = match servicecidr::allocate_next(&ranges, &used, &mut rand::rng()) {
                // `range-never-full`: a full range is searched again as if its prefix were 4 bits shorter.
                Err(AllocError::Full) if self.cluster.has(Deviation::RangeNeverFull) => {
                    let wider: Vec<Range> = ranges
                        .iter()
                        .map(|r| {
                            Range::new(
                                ipnet::IpNet::new(
                                    r.prefix.network(),
                                    r.prefix.prefix_len().saturating_sub(4),
                                )
                                .unwrap_or(r.prefix),
                                r.ready,
                            )
                        })
                        .collect();
                    servicecidr::allocate_next(&wider, &used, &mut rand::rng())
                }
                other => other,
            };
            let ip = next?;
            match self.record(ip) {
                Ok(()) => return Ok(ip),
                Err(AllocError::Allocated) => continue,
                Err(e) => return Err(e),
            }
        }
        Err(AllocError::Full)
    }

    fn allocate(&mut self, ip: IpAddr) -> Result<(), AllocError> {
        let ranges = self.ranges(IpFamily::of(&ip));
        servicecidr::allocate_specific(&ranges, ip, &self.used())?;
        self.record(ip)
    }
}

/// Deletes the IPAddress objects of `ips` (the allocator's `Release`; errors are ignored as upstream).
pub(crate) fn release(store: &Store, ips: &[IpAddr]) {
    for ip in ips {
        let _ = store.delete("ipaddresses", None, &ip.to_string());
    }
}

/// The apiserver's NodePort allocator over the store. Allocated ports are those the stored Services
/// hold (a deleted Service releases its ports) plus those of creates still in flight: admission runs
/// outside the store lock, so two concurrent creates must not both take one free port. upstream keeps a
/// bitmap in etcd (pkg/registry/core/service/portallocator/storage) and repairs it from the Services
/// (pkg/registry/core/service/portallocator/controller/repair.go).
#[derive(Default)]
pub(crate) struct NodePortAllocator {
    /// (namespace, name, ports, when) of creates/updates admitted but maybe not stored yet.
    in_flight: std::sync::Mutex<
        Vec<(
            String,
            String,
            std::collections::BTreeSet<u16>,
            std::time::Instant,
        )>,
    >,
}

/// How long a reservation outlives its admission (the store write follows at once).
const IN_FLIGHT: std::time::Duration = std::time::Duration::from_secs(5);

impl NodePortAllocator {
    /// Allocates `svc`'s nodePorts (upstream: storage/alloc.go `initNodePorts`); `old` on update
    /// (its ports are kept for ports the new spec leaves without one, as `patchAllocatedValues`).
    pub fn allocate(
        &self,
        store: &Store,
        cluster: &Cluster,
        svc: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), crate::api_error::ApiError> {
        use crate::model::nodeport::{self, NodePortError, Quirks};
        let ns = svc["metadata"]["namespace"]
            .as_str()
            .unwrap_or("default")
            .to_string();
        let name = svc["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let gets_node_ports = matches!(
            svc["spec"]["type"].as_str(),
            Some("NodePort" | "LoadBalancer")
        );
        if let (true, Some(old), Some(ports)) =
            (gets_node_ports, old, svc["spec"]["ports"].as_array_mut())
        {
            for p in ports
                .iter_mut()
                .filter(|p| p["nodePort"].as_u64().unwrap_or(0) == 0)
            {
                let kept = old["spec"]["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .find(|o| o["port"] == p["port"] && o["protocol"] == p["protocol"]);
                if let Some(np) = kept.map(|o| o["nodePort"].clone()).filter(|n| n.is_u64()) {
                    p["nodePort"] = np;
                }
            }
        }
        let quirks = Quirks {
            outside_range: cluster.has(Deviation::NodeportOutsideRange),
            requested_ignored: cluster.has(Deviation::NodeportRequestedIgnored),
            duplicates_allowed: cluster.has(Deviation::NodeportDuplicateAllowed),
            range_unchecked: cluster.has(Deviation::NodeportRangeUnchecked),
            lb_not_allocated: cluster.has(Deviation::LbNodeportNotAllocated),
        };
        let mut in_flight = self.in_flight.lock().unwrap_or_else(|p| p.into_inner());
        // A stored Service's ports are counted from the store (and released when it is deleted).
        in_flight.retain(|(n, m, _, at)| {
            at.elapsed() < IN_FLIGHT && store.get("services", Some(n), m).is_none()
        });
        let mut used: std::collections::BTreeSet<u16> = store
            .list("services", None)
            .iter()
            .filter(|s| {
                s["metadata"]["namespace"].as_str() != Some(ns.as_str())
                    || s["metadata"]["name"].as_str() != Some(name.as_str())
            })
            .flat_map(nodeport::node_ports)
            .collect();
        for (n, m, ports, _) in in_flight.iter() {
            if (n, m) != (&ns, &name) {
                used.extend(ports);
            }
        }
        match nodeport::allocate(svc, &used, quirks) {
            Ok(taken) => {
                in_flight.retain(|(n, m, _, _)| (n, m) != (&ns, &name));
                if !taken.is_empty() {
                    in_flight.push((ns, name, taken, std::time::Instant::now()));
                }
                Ok(())
            }
            Err(NodePortError::Invalid(cause)) => Err(crate::api_error::ApiError::invalid(
                "Service",
                &name,
                vec![cause],
            )),
            Err(NodePortError::RangeFull) => Err(crate::api_error::ApiError::internal(
                "failed to allocate a nodePort: range is full",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::DoubleConfig;
    use crate::cluster::install;
    use crate::store::Store;
    use serde_json::json;

    fn node_port_svc(name: &str, node_port: Option<u16>) -> serde_json::Value {
        let mut port = json!({"port": 80});
        if let Some(np) = node_port {
            port["nodePort"] = json!(np);
        }
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "NodePort", "selector": {"app": name}, "ports": [port]}})
    }

    #[tokio::test]
    async fn node_ports_are_allocated_validated_and_released() {
        let store = Store::new();
        install(&store, &DoubleConfig::default()).unwrap();
        let a = store
            .create("services", Some("default"), node_port_svc("a", None))
            .unwrap();
        let np = a["spec"]["ports"][0]["nodePort"].as_u64().unwrap() as u16;
        assert!((30000..=32767).contains(&np));
        let err = store
            .create("services", Some("default"), node_port_svc("b", Some(np)))
            .unwrap_err();
        assert_eq!(err.code, 422);
        assert_eq!(
            err.message,
            format!(
                "Service \"b\" is invalid: spec.ports[0].nodePort: Invalid value: {np}: provided port is already allocated"
            )
        );
        let err = store
            .create("services", Some("default"), node_port_svc("c", Some(29999)))
            .unwrap_err();
        assert_eq!(
            err.message,
            "Service \"c\" is invalid: spec.ports[0].nodePort: Invalid value: 29999: provided port is not in the valid range. The range of valid ports is 30000-32767"
        );
        // Deleting the Service releases its port.
        store.delete("services", Some("default"), "a").unwrap();
        let b = store
            .create("services", Some("default"), node_port_svc("b", Some(np)))
            .unwrap();
        assert_eq!(b["spec"]["ports"][0]["nodePort"], np);
        // An update keeps the allocated port when the client leaves it out.
        let mut again = node_port_svc("b", None);
        again["metadata"]["resourceVersion"] = b["metadata"]["resourceVersion"].clone();
        for field in ["clusterIP", "clusterIPs", "ipFamilies", "ipFamilyPolicy"] {
            again["spec"][field] = b["spec"][field].clone();
        }
        let updated = store.update("services", Some("default"), again).unwrap();
        assert_eq!(updated["spec"]["ports"][0]["nodePort"], np);
    }
}
