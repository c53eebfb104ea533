//! A LoadBalancer controller like cloud-provider-kind (kubernetes-sigs/cloud-provider-kind), which
//! serves LoadBalancer Services of kind clusters: one envoy container per Service on the `kind` docker
//! network, whose addresses become `status.loadBalancer.ingress`.
//!
//! upstream: cloud-provider-kind pkg/loadbalancer/server.go `GetLoadBalancer`: an IPv4 entry when the
//! Service's `ipFamilies` include IPv4, then an IPv6 entry when they include IPv6 (always in that order,
//! whatever the order of `ipFamilies`), each with `ipMode: Proxy` and the Service's ports.
//! Container addresses are the next free ones on the docker network after the nodes (.2-.4).
//!
//! The cluster also holds one LoadBalancer Service already served (as a cluster with a load balancer
//! controller typically does: an ingress controller's Service), which is the evidence netconform's
//! preflight looks for (harness/src/preflight/evidence.rs `load_balancer_evidence`).
//!
//! Deviation `lb-ingress-ipv4-only`: the controller publishes only an IPv4 address (a provider without
//! IPv6 load balancers).

use std::collections::BTreeSet;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::Arc;

use serde_json::{Value, json};

use super::Cluster;
use super::controllers::spawn_controller;
use crate::DoubleError;
use crate::deviation::Deviation;
use crate::store::Store;

/// The already-served LoadBalancer Service the cluster starts with.
pub(crate) const EVIDENCE_NAMESPACE: &str = "ingress-nginx";
pub(crate) const EVIDENCE_SERVICE: &str = "ingress-nginx-controller";

fn is_load_balancer(svc: &Value) -> bool {
    svc["spec"]["type"] == "LoadBalancer" && svc["metadata"]["deletionTimestamp"].is_null()
}

/// The docker-network addresses of the `index`-th load balancer container.
fn container_ips(cluster: &Cluster, index: u16) -> (Ipv4Addr, Ipv6Addr) {
    let host = (2 + cluster.topology.nodes.len() as u16).saturating_add(index);
    (
        Ipv4Addr::new(172, 18, 0, host.min(254) as u8),
        Ipv6Addr::new(0xfc00, 0xf853, 0xccd, 0xe793, 0, 0, 0, host),
    )
}

/// The container index an existing ingress points at (from its IPv6 or IPv4 entry).
fn index_of(cluster: &Cluster, svc: &Value) -> Option<u16> {
    let base = 2 + cluster.topology.nodes.len() as u16;
    svc["status"]["loadBalancer"]["ingress"]
        .as_array()?
        .iter()
        .find_map(|i| {
            let host = match i["ip"].as_str()?.parse::<IpAddr>().ok()? {
                IpAddr::V4(v4) => u16::from(v4.octets()[3]),
                IpAddr::V6(v6) => v6.segments()[7],
            };
            host.checked_sub(base)
        })
}

/// `GetLoadBalancer`'s status for a Service served by container `index`.
fn ingress(cluster: &Cluster, svc: &Value, index: u16) -> Value {
    let families: Vec<&str> = svc["spec"]["ipFamilies"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(Value::as_str)
        .collect();
    let ports: Vec<Value> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| json!({"port": p["port"], "protocol": p["protocol"].as_str().unwrap_or("TCP")}))
        .collect();
    let (v4, v6) = container_ips(cluster, index);
    let ipv4_only = cluster.has(Deviation::LbIngressIpv4Only);
    let mut entries = Vec::new();
    if families.contains(&"IPv4") || ipv4_only {
        entries.push(json!({"ip": v4.to_string(), "ipMode": "Proxy", "ports": ports}));
    }
    if families.contains(&"IPv6") && !ipv4_only {
        entries.push(json!({"ip": v6.to_string(), "ipMode": "Proxy", "ports": ports}));
    }
    json!(entries)
}

fn reconcile(store: &Store, cluster: &Cluster) {
    let services = store.list("services", None);
    let mut used: BTreeSet<u16> = services
        .iter()
        .filter(|s| is_load_balancer(s))
        .filter_map(|s| index_of(cluster, s))
        .collect();
    for svc in &services {
        let ns = svc["metadata"]["namespace"].as_str().unwrap_or("default");
        let desired = if is_load_balancer(svc) {
            let index = index_of(cluster, svc).unwrap_or_else(|| {
                let free = (0u16..).find(|i| !used.contains(i)).unwrap_or(0);
                used.insert(free);
                free
            });
            ingress(cluster, svc, index)
        } else {
            // EnsureLoadBalancerDeleted: a Service that is no longer a LoadBalancer loses its ingress.
            json!(null)
        };
        let current = &svc["status"]["loadBalancer"]["ingress"];
        let unchanged = *current == desired
            || (desired.is_null() && current.as_array().is_none_or(|a| a.is_empty()));
        if unchanged {
            continue;
        }
        let mut updated = svc.clone();
        updated["status"]["loadBalancer"] = if desired.is_null() {
            json!({})
        } else {
            json!({"ingress": desired})
        };
        let _ = store.update_status("services", Some(ns), updated);
    }
}

pub(crate) fn spawn(store: &Store, cluster: &Arc<Cluster>) {
    let cluster = cluster.clone();
    spawn_controller(
        store,
        |e| e.resource == "services",
        move |store, _, _| reconcile(store, &cluster),
    );
}

/// Seeds the already-served LoadBalancer Service. It is IPv6 single-stack so that it takes no address
/// of the /28 IPv4 Service range (which the ServiceCIDR suite exhausts on purpose).
pub(crate) fn seed_evidence(store: &Store, cluster: &Cluster) -> Result<(), DoubleError> {
    if store.get("namespaces", None, EVIDENCE_NAMESPACE).is_none() {
        let ns = json!({"apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": EVIDENCE_NAMESPACE, "labels": {"kubernetes.io/metadata.name": EVIDENCE_NAMESPACE}},
            "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
        store
            .create("namespaces", None, ns)
            .map_err(|source| DoubleError::Seed {
                resource: "namespaces".into(),
                name: EVIDENCE_NAMESPACE.into(),
                source,
            })?;
    }
    let labels = json!({"app.kubernetes.io/name": "ingress-nginx", "app.kubernetes.io/component": "controller"});
    let svc = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": EVIDENCE_SERVICE, "namespace": EVIDENCE_NAMESPACE, "labels": labels},
        "spec": {"type": "LoadBalancer", "ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv6"], "selector": labels,
            "ports": [{"name": "http", "port": 80, "protocol": "TCP", "targetPort": "http"},
                      {"name": "https", "port": 443, "protocol": "TCP", "targetPort": "https"}]}});
    // Best effort: under deviations that break ClusterIP allocation the evidence is missing, as it would
    // be on such a cluster.
    if store
        .create("services", Some(EVIDENCE_NAMESPACE), svc)
        .is_ok()
    {
        reconcile(store, cluster);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::deviation::Deviations;
    use std::time::Duration;

    fn cluster(deviations: &[&str]) -> Cluster {
        let names: Vec<String> = deviations.iter().map(|d| d.to_string()).collect();
        Cluster::new(
            Deviations::from_names(&names).unwrap(),
            (Duration::ZERO, Duration::ZERO),
        )
    }

    #[test]
    fn ipv4_entry_first_like_cloud_provider_kind() {
        let c = cluster(&[]);
        let svc = json!({"spec": {"ipFamilies": ["IPv6", "IPv4"], "ports": [{"port": 80, "protocol": "TCP"}]}});
        let entries = ingress(&c, &svc, 0);
        assert_eq!(entries[0]["ip"], "172.18.0.5");
        assert_eq!(entries[1]["ip"], "fc00:f853:ccd:e793::5");
        assert_eq!(entries[1]["ipMode"], "Proxy");
        assert_eq!(
            entries[0]["ports"],
            json!([{"port": 80, "protocol": "TCP"}])
        );
        let mut served = svc.clone();
        served["status"]["loadBalancer"]["ingress"] = ingress(&c, &svc, 3);
        assert_eq!(index_of(&c, &served), Some(3));
        let only_v4 = ingress(&cluster(&["lb-ingress-ipv4-only"]), &svc, 0);
        assert_eq!(only_v4.as_array().map(Vec::len), Some(1));
        assert_eq!(only_v4[0]["ip"], "172.18.0.5");
    }
}
