//! The host outside the cluster: what netconform's external client is on a kind cluster, a container on
//! the `kind` docker network beside the nodes, outside every pod and Service range. It runs agnhost: its
//! busybox `wget` is the client, and `netexec` listens on 8080 for pods that reach out.
//!
//! Connections from it, as the nodes' network delivers them:
//! - to a node's InternalIP: a hostPort of a pod on that node (the CNI portmap plugin DNATs it to the pod,
//!   keeping the client's address: upstream containernetworking/plugins plugins/meta/portmap, whose SNAT is
//!   only for hairpin and localhost traffic), else a NodePort of a NodePort/LoadBalancer Service with a
//!   ClusterIP of that family; with `externalTrafficPolicy: Cluster` any ready endpoint answers, source-NATed
//!   to the receiving node's address; with `Local` only an endpoint on the receiving node does, seeing the
//!   client's own address, and a node without one drops the connection (upstream: pkg/proxy/iptables/
//!   proxier.go, `KUBE-EXT-*` masquerades only for Cluster, and "has no local endpoints" is a DROP);
//! - to a LoadBalancer Service's `status.loadBalancer.ingress` address at one of its ports: a ready
//!   endpoint, as cloud-provider-kind's proxy on the same network forwards it to the nodes;
//! - to anything else (a ClusterIP, a pod IP): nothing routes it there (the host's default route leads
//!   away from the cluster), so the packets are dropped.
//!
//! A pod's connection to the host's address reaches its netexec, source-NATed to the pod's node address
//! (kindnetd masquerades pod traffic to destinations outside the cluster's pod ranges).
//!
//! Deviations: `cluster-ip-routed-externally` (a ClusterIP answers from outside), `external-traffic-policy-
//! ignored` (Local is Cluster), `host-port-not-forwarded` (no portmap: the node refuses), `pod-egress-not-
//! masqueraded` (the listener sees the pod's address), `lb-address-not-served` (nothing answers on ingress
//! addresses); `nodeport-ipv6-not-served` and `nodeport-only-on-endpoint-nodes` apply as for pods.

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::{Value, json};

use super::super::Cluster;
use super::super::commands::HttpReply;
use super::super::netexec;
use super::{
    Protocol, cluster_ips, deliver, node_at, node_ip_of, pick, pod_ip_of, ready_endpoints,
    service_at, service_at_node_port,
};
use crate::deviation::Deviation;
use crate::model::family::IpFamily;
use crate::store::Store;

/// The host's addresses on the nodes' network (kind's docker network: nodes are .2 up, load balancer
/// containers follow them).
pub(crate) const OUTSIDE_IPV4: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 200);
pub(crate) const OUTSIDE_IPV6: Ipv6Addr =
    Ipv6Addr::new(0xfc00, 0xf853, 0xccd, 0xe793, 0, 0, 0, 0x200);
/// Its name (a container's hostname).
pub(crate) const OUTSIDE_NAME: &str = "netconform-outside";
/// Where its netexec listens.
pub(crate) const OUTSIDE_PORT: u16 = 8080;

/// The host's addresses of the cluster's families.
pub(crate) fn addresses(cluster: &Cluster) -> Vec<IpAddr> {
    cluster
        .topology
        .families()
        .into_iter()
        .map(|f| match f {
            IpFamily::IPv4 => IpAddr::V4(OUTSIDE_IPV4),
            IpFamily::IPv6 => IpAddr::V6(OUTSIDE_IPV6),
        })
        .collect()
}

/// The host as a client the pod network model takes (no namespace, on no node unless `via` names the
/// node a connection entered the cluster through).
pub(crate) fn as_client(cluster: &Cluster, via: &str) -> Value {
    let ips: Vec<Value> = addresses(cluster)
        .iter()
        .map(|ip| json!({"ip": ip.to_string()}))
        .collect();
    json!({
        "metadata": {"name": OUTSIDE_NAME, "uid": OUTSIDE_NAME},
        "spec": {"nodeName": via},
        "status": {"phase": "Running", "podIPs": ips}
    })
}

/// netexec on the host answering `path` from `source`.
fn own_netexec(cluster: &Cluster, source: IpAddr, port: u16, path: &str) -> HttpReply {
    if port != OUTSIDE_PORT {
        return HttpReply::ConnectError("Connection refused".into());
    }
    let host = as_client(cluster, "");
    let no_udp = |_: IpAddr, _: u16, _: &str| Err("udp dial failed".to_string());
    netexec::answer(cluster, &host, source, path, &no_udp)
}

/// A pod's connection to `dest:port` when `dest` is the host's: answered by its netexec, seen from the
/// pod's node address (masquerade), or from the pod's own under `pod-egress-not-masqueraded`.
pub(crate) fn from_pod(
    cluster: &Cluster,
    client: &Value,
    dest: IpAddr,
    port: u16,
    path: &str,
) -> Option<HttpReply> {
    if !addresses(cluster).contains(&dest) {
        return None;
    }
    let family = IpFamily::of(&dest);
    let pod_ip = pod_ip_of(client, family)?;
    let source = match cluster.has(Deviation::PodEgressNotMasqueraded) {
        true => pod_ip,
        false => node_ip_of(cluster, client, family).unwrap_or(pod_ip),
    };
    Some(own_netexec(cluster, source, port, path))
}

/// The running pod on `node` with a TCP `hostPort` `port` (on `dest` or every address), and the
/// container port it forwards to.
fn host_port_pod(store: &Store, node: &str, dest: IpAddr, port: u16) -> Option<(Value, u16)> {
    store.list("pods", None).into_iter().find_map(|pod| {
        if pod["status"]["phase"] != "Running" || pod["spec"]["nodeName"] != node {
            return None;
        }
        let forwarded = pod["spec"]["containers"]
            .as_array()?
            .iter()
            .flat_map(|c| c["ports"].as_array().into_iter().flatten())
            .find_map(|p| {
                let tcp = p["protocol"].as_str().unwrap_or("TCP") == "TCP";
                let host_ip = p["hostIP"].as_str().unwrap_or("");
                let on = host_ip.is_empty()
                    || host_ip == "0.0.0.0"
                    || host_ip == "::"
                    || host_ip.parse::<IpAddr>().ok() == Some(dest);
                (tcp && on && p["hostPort"].as_u64() == Some(u64::from(port)))
                    .then(|| p["containerPort"].as_u64())
                    .flatten()
            })?;
        Some((pod.clone(), u16::try_from(forwarded).ok()?))
    })
}

/// Whether the Service keeps external traffic on the receiving node.
fn local_policy(cluster: &Cluster, svc: &Value) -> bool {
    svc["spec"]["externalTrafficPolicy"] == "Local"
        && !cluster.has(Deviation::ExternalTrafficPolicyIgnored)
}

/// A connection from the host to `node`'s address `dest:port`.
fn to_node(
    cluster: &Cluster,
    store: &Store,
    node: &str,
    dest: IpAddr,
    port: u16,
    path: &str,
) -> HttpReply {
    let family = IpFamily::of(&dest);
    let refused = || HttpReply::ConnectError("Connection refused".into());
    let Some(own) = addresses(cluster)
        .into_iter()
        .find(|ip| IpFamily::of(ip) == family)
    else {
        return HttpReply::ConnectError("Network is unreachable".into());
    };
    let via = as_client(cluster, node);
    if !cluster.has(Deviation::HostPortNotForwarded)
        && let Some((pod, target)) = host_port_pod(store, node, dest, port)
        && let Some(pod_ip) = pod_ip_of(&pod, family)
    {
        return deliver(cluster, store, &via, own, pod_ip, target, path);
    }
    if family == IpFamily::IPv6 && cluster.has(Deviation::NodeportIpv6NotServed) {
        return refused();
    }
    let Some((svc, port_name)) = service_at_node_port(store, port, family) else {
        return refused();
    };
    let endpoints = ready_endpoints(cluster, store, &svc, &port_name, family);
    if cluster.has(Deviation::NodeportOnlyOnEndpointNodes)
        && !endpoints.iter().any(|e| e.node == node)
    {
        return refused();
    }
    if endpoints.is_empty() {
        return refused();
    }
    let (usable, source) = if local_policy(cluster, &svc) {
        let local: Vec<_> = endpoints.into_iter().filter(|e| e.node == node).collect();
        (local, own)
    } else {
        (
            endpoints,
            cluster_node_ip(cluster, node, family).unwrap_or(dest),
        )
    };
    match pick(cluster, &usable) {
        Some(e) => deliver(cluster, store, &via, source, e.ip, e.port, path),
        None => HttpReply::TimedOut,
    }
}

fn cluster_node_ip(cluster: &Cluster, node: &str, family: IpFamily) -> Option<IpAddr> {
    cluster
        .topology
        .node(node)?
        .internal_ips()
        .into_iter()
        .find(|ip| IpFamily::of(ip) == family)
}

/// The LoadBalancer Service whose ingress holds `dest`, with a TCP port `port`, and that port's name.
fn load_balancer_at(store: &Store, dest: IpAddr, port: u16) -> Option<(Value, String)> {
    store.list("services", None).into_iter().find_map(|svc| {
        if svc["spec"]["type"] != "LoadBalancer" {
            return None;
        }
        let published = svc["status"]["loadBalancer"]["ingress"]
            .as_array()?
            .iter()
            .any(|i| i["ip"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) == Some(dest));
        if !published {
            return None;
        }
        let name = super::port_name(&svc, "port", port, Protocol::Tcp)?;
        Some((svc, name))
    })
}

/// A connection from the host to a LoadBalancer ingress address: the controller's proxy forwards it to a
/// ready endpoint of the family (through a node, which source-NATs it).
fn to_load_balancer(
    cluster: &Cluster,
    store: &Store,
    svc: &Value,
    port_name: &str,
    dest: IpAddr,
    path: &str,
) -> HttpReply {
    if cluster.has(Deviation::LbAddressNotServed) {
        return HttpReply::TimedOut;
    }
    let family = IpFamily::of(&dest);
    let endpoints = ready_endpoints(cluster, store, svc, port_name, family);
    let Some(endpoint) = pick(cluster, &endpoints) else {
        return HttpReply::ConnectError("Connection refused".into());
    };
    let source = cluster_node_ip(cluster, &endpoint.node, family).unwrap_or(dest);
    let via = as_client(cluster, &endpoint.node);
    deliver(
        cluster,
        store,
        &via,
        source,
        endpoint.ip,
        endpoint.port,
        path,
    )
}

/// An HTTP GET from the host to `dest:port`.
pub(crate) fn http_get(
    cluster: &Cluster,
    store: &Store,
    dest: IpAddr,
    port: u16,
    path: &str,
) -> HttpReply {
    let family = IpFamily::of(&dest);
    let Some(own) = addresses(cluster)
        .into_iter()
        .find(|ip| IpFamily::of(ip) == family)
    else {
        return HttpReply::ConnectError("Network is unreachable".into());
    };
    if dest.is_loopback() || dest == own {
        return own_netexec(cluster, dest, port, path);
    }
    if let Some(node) = node_at(cluster, dest) {
        return to_node(cluster, store, &node, dest, port, path);
    }
    if let Some((svc, name)) = load_balancer_at(store, dest, port) {
        return to_load_balancer(cluster, store, &svc, &name, dest, path);
    }
    if cluster.has(Deviation::ClusterIpRoutedExternally)
        && let Some((svc, name)) = service_at(store, dest, port, Protocol::Tcp)
        && cluster_ips(&svc).any(|ip| ip == dest)
    {
        let endpoints = ready_endpoints(cluster, store, &svc, &name, family);
        if let Some(e) = pick(cluster, &endpoints) {
            let source = cluster_node_ip(cluster, &e.node, family).unwrap_or(own);
            let via = as_client(cluster, &e.node);
            return deliver(cluster, store, &via, source, e.ip, e.port, path);
        }
    }
    HttpReply::TimedOut
}
