//! The apiserver's ClusterIP allocator over the store: ranges from ServiceCIDR objects, allocations
//! recorded as IPAddress objects (upstream: pkg/registry/core/service/ipallocator/cidrallocator.go,
//! ipallocator.go `createIPAddress`).

use std::collections::HashSet;
use std::net::IpAddr;

use serde_json::Value;

use super::Cluster;
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
        if self.cluster.has("servicecidr-ignored-by-allocator") {
            cidrs.retain(|c| c["metadata"]["name"] == DEFAULT_SERVICE_CIDR_NAME);
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
        if self.cluster.has("ipaddress-wrong-parentref") {
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
                Err(AllocError::Full) if self.cluster.has("range-never-full") => {
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
