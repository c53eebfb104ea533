//! The pod network as an HTTP request from a pod sees it: kube-proxy's ClusterIP translation and
//! delivery to pod IPs across nodes, per IP family, with the servers the model knows (agnhost netexec).
//!
//! - A ClusterIP (any `spec.clusterIPs` entry) and port of a Service is translated to one ready endpoint
//!   of the *same family* from the Service's EndpointSlices of that address type; no ready endpoint is
//!   a REJECT (`Connection refused`). upstream: pkg/proxy (one proxier per IP family, fed by the
//!   EndpointSlices of its address type; `categorizeEndpoints` keeps ready endpoints; iptables
//!   `KUBE-SVC-*` with no endpoints -> `REJECT`).
//! - Pod IPs are routed between nodes without NAT (kindnet routes every node's podCIDRs of both families):
//!   the server sees the client's pod IP of the family in use. kube-proxy does not masquerade pod-to-
//!   Service traffic from inside the cluster CIDR (iptables `KUBE-MARK-MASQ` only for off-cluster
//!   sources and hairpin).
//! - A port nobody listens on refuses; an address no pod holds drops the packets (timeout).
//! - The servers are agnhost `netexec` (double/src/cluster/netexec.rs); others are not modelled (their ports
//!   refuse).
//! - A node's InternalIP and a `nodePort` of a NodePort/LoadBalancer Service with a ClusterIP of that
//!   family reach a ready endpoint of the family on any node, source-NATed to the receiving node's IP;
//!   other ports of node IPs refuse. `internalTrafficPolicy: Local` limits ClusterIP traffic to endpoints
//!   on the client's node and drops it when there is none.
//!
//! - kube-proxy spreads a Service's connections over its usable endpoints: each connection goes to one
//!   picked at random (iptables `-m statistic --mode random`, nftables `numgen random`).
//! - UDP: a Service's UDP ports are translated as its TCP ones (netexec's `/dial` sends the datagrams).
//! - Loopback (127.0.0.0/8, ::1) reaches the listeners of every container of the pod: they share one
//!   network namespace.
//!
//! Deviations: `service-single-endpoint` (every connection goes to the first endpoint in address order),
//! `service-udp-not-proxied` (UDP to a ClusterIP is dropped), `pod-containers-separate-netns` (loopback
//! reaches only the calling container's own listeners), `service-ipv6-unreachable` (kube-proxy programs no
//! IPv6 ClusterIPs: dropped),
//! `service-masquerade` (pod-to-Service traffic is SNATed to the client node's IP),
//! `pod-to-pod-ipv6-dropped` (no IPv6 routes between nodes: cross-node IPv6 to pods is dropped),
//! `pod-to-pod-masquerade` (traffic leaving a node is SNATed to that node's IP), `nodeport-ipv6-not-served`
//! (IPv6 node addresses refuse NodePorts), `nodeport-only-on-endpoint-nodes` (nodes without a ready
//! endpoint refuse), `internal-traffic-policy-ignored` (Local is treated as Cluster),
//! `proxy-uses-unready-endpoints` (endpoints listed `ready: false` are picked too), `node-to-pod-dropped`
//! and `node-to-pod-ipv6-dropped` (traffic from a node's network namespace, hostNetwork pods and the
//! kubelet's probes, to pods is dropped), `node-to-pod-masquerade` (hostNetwork traffic to pods on other
//! nodes arrives from the receiving node's address).
//! - A hostNetwork pod sends from its node's InternalIP of the family (ptp/kindnet: the route to another
//!   node's pod range is via that node's InternalIP on eth0); the kubelet's probes are such traffic.

use std::net::IpAddr;

use rand::Rng;
use serde_json::Value;

use super::Cluster;
use super::commands::HttpReply;
use super::netexec::{self, Protocol, serves_netexec, serves_netexec_on};
use crate::deviation::Deviation;
use crate::model::endpointslices::LABEL_SERVICE_NAME;
use crate::model::family::IpFamily;
use crate::model::network_policy;
use crate::store::Store;

pub(crate) mod outside;

/// The first IP of `family` in a pod's `status.podIPs`.
fn pod_ip_of(pod: &Value, family: IpFamily) -> Option<IpAddr> {
    pod["status"]["podIPs"]
        .as_array()?
        .iter()
        .filter_map(|p| p["ip"].as_str()?.parse::<IpAddr>().ok())
        .find(|ip| IpFamily::of(ip) == family)
}

/// Whether the pod runs in its node's network namespace (`hostNetwork: true`).
fn on_host_network(pod: &Value) -> bool {
    pod["spec"]["hostNetwork"].as_bool().unwrap_or(false)
}

/// The address `client`'s packets of `family` leave with: its pod IP of the family, or for a hostNetwork
/// pod its node's InternalIP of the family (the node's own address, whatever its `status.podIPs` say; the
/// route to other nodes' pod ranges goes via their InternalIPs, so the kernel picks this one).
fn source_of(cluster: &Cluster, client: &Value, family: IpFamily) -> Option<IpAddr> {
    if on_host_network(client) {
        return node_ip_of(cluster, client, family);
    }
    pod_ip_of(client, family)
}

/// The InternalIP of `family` of the node the pod runs on (the address a masquerade rewrites to).
fn node_ip_of(cluster: &Cluster, pod: &Value, family: IpFamily) -> Option<IpAddr> {
    let node = cluster.topology.node(pod["spec"]["nodeName"].as_str()?)?;
    node.internal_ips()
        .into_iter()
        .find(|ip| IpFamily::of(ip) == family)
}

/// A Service's `spec.clusterIPs` that parse.
fn cluster_ips(svc: &Value) -> impl Iterator<Item = IpAddr> + '_ {
    svc["spec"]["clusterIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|ip| ip.as_str()?.parse::<IpAddr>().ok())
}

/// The name of the Service's `protocol` port whose `field` (`port` or `nodePort`) is `number`.
fn port_name(svc: &Value, field: &str, number: u16, protocol: Protocol) -> Option<String> {
    svc["spec"]["ports"].as_array()?.iter().find_map(|p| {
        let same = p["protocol"].as_str().unwrap_or("TCP") == protocol.as_str();
        (same && p[field].as_u64() == Some(u64::from(number)))
            .then(|| p["name"].as_str().unwrap_or("").to_string())
    })
}

/// The Service whose ClusterIPs hold `dest` with a `protocol` port `port`, and that port's name.
fn service_at(
    store: &Store,
    dest: IpAddr,
    port: u16,
    protocol: Protocol,
) -> Option<(Value, String)> {
    store.list("services", None).into_iter().find_map(|svc| {
        if !cluster_ips(&svc).any(|ip| ip == dest) {
            return None;
        }
        let port_name = port_name(&svc, "port", port, protocol)?;
        Some((svc, port_name))
    })
}

/// A ready endpoint kube-proxy may pick: address, target port, `nodeName`.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
struct Endpoint {
    ip: IpAddr,
    port: u16,
    node: String,
}

/// The ready endpoints of the Service's slices of `family`, with their port for `port_name`, in address
/// order. upstream: pkg/proxy/endpointslicecache.go (endpoints per address type), pkg/proxy/topology.go
/// `CategorizeEndpoints` (ready endpoints; a not-ready one only as a serving-and-terminating fallback,
/// which the double does not model). Under `proxy-uses-unready-endpoints` every listed endpoint.
fn ready_endpoints(
    cluster: &Cluster,
    store: &Store,
    svc: &Value,
    port_name: &str,
    family: IpFamily,
) -> Vec<Endpoint> {
    let with_unready = cluster.has(Deviation::ProxyUsesUnreadyEndpoints);
    let Some(ns) = svc["metadata"]["namespace"].as_str() else {
        return Vec::new();
    };
    let name = &svc["metadata"]["name"];
    let mut candidates: Vec<Endpoint> = store
        .list("endpointslices", Some(ns))
        .iter()
        .filter(|s| {
            s["metadata"]["labels"][LABEL_SERVICE_NAME] == *name
                && s["addressType"] == family.as_str()
        })
        .flat_map(|slice| {
            let port = slice["ports"]
                .as_array()
                .and_then(|ps| {
                    ps.iter()
                        .find(|p| p["name"].as_str().unwrap_or("") == port_name)
                })
                .and_then(|p| p["port"].as_u64())
                .and_then(|p| u16::try_from(p).ok());
            slice["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .filter(|ep| with_unready || ep["conditions"]["ready"].as_bool().unwrap_or(true))
                .filter_map(move |ep| {
                    Some(Endpoint {
                        ip: ep["addresses"]
                            .as_array()?
                            .first()?
                            .as_str()?
                            .parse()
                            .ok()?,
                        port: port?,
                        node: ep["nodeName"].as_str().unwrap_or_default().to_string(),
                    })
                })
                .collect::<Vec<_>>()
        })
        .collect();
    candidates.sort();
    candidates
}

/// kube-proxy's choice among `endpoints` for one connection: one at random (upstream:
/// pkg/proxy/iptables/proxier.go `-m statistic --mode random --probability 1/n` per endpoint chain,
/// pkg/proxy/nftables/proxier.go `numgen random mod n`). Under `service-single-endpoint` always the first
/// in address order.
fn pick<'a>(cluster: &Cluster, endpoints: &'a [Endpoint]) -> Option<&'a Endpoint> {
    if endpoints.is_empty() || cluster.has(Deviation::ServiceSingleEndpoint) {
        return endpoints.first();
    }
    endpoints.get(rand::rng().random_range(0..endpoints.len()))
}

/// The InternalIP `dest` belongs to: the node's name. kube-proxy serves NodePorts on every local address
/// of its family (pkg/proxy/util/nodeport_addresses.go: no `--nodeport-addresses` = all; `primary` = the
/// node's InternalIPs).
fn node_at(cluster: &Cluster, dest: IpAddr) -> Option<String> {
    cluster
        .topology
        .nodes
        .iter()
        .find(|n| n.internal_ips().contains(&dest))
        .map(|n| n.name.clone())
}

/// The NodePort or LoadBalancer Service with a TCP `nodePort` `port` and a ClusterIP of `family` (each
/// family's proxier only knows the Services with a ClusterIP of its family: pkg/proxy/servicechangetracker.go),
/// and that port's name.
fn service_at_node_port(store: &Store, port: u16, family: IpFamily) -> Option<(Value, String)> {
    store.list("services", None).into_iter().find_map(|svc| {
        let typed = matches!(
            svc["spec"]["type"].as_str(),
            Some("NodePort" | "LoadBalancer")
        );
        let of_family = cluster_ips(&svc).any(|ip| IpFamily::of(&ip) == family);
        if !typed || !of_family {
            return None;
        }
        let port_name = port_name(&svc, "nodePort", port, Protocol::Tcp)?;
        Some((svc, port_name))
    })
}

/// A connection to `node`'s address `dest` at `port`: a NodePort of a Service, else refused.
/// upstream: pkg/proxy/iptables/proxier.go (`KUBE-NODEPORTS` for local destinations -> `KUBE-EXT-*`,
/// "masquerade traffic for ... external destinations" with externalTrafficPolicy Cluster, so the
/// backend sees the receiving node's address; pod sources skip externalTrafficPolicy Local, "pod
/// traffic for ... external destinations", so it is not modelled).
fn node_port(
    cluster: &Cluster,
    store: &Store,
    client: &Value,
    node: &str,
    dest: IpAddr,
    port: u16,
    path: &str,
) -> HttpReply {
    let family = IpFamily::of(&dest);
    let refused = || HttpReply::ConnectError("Connection refused".into());
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
    // No endpoints: the filter table REJECTs.
    let Some(endpoint) = pick(cluster, &endpoints) else {
        return refused();
    };
    let source = cluster
        .topology
        .node(node)
        .and_then(|n| {
            n.internal_ips()
                .into_iter()
                .find(|ip| IpFamily::of(ip) == family)
        })
        .unwrap_or(dest);
    deliver(
        cluster,
        store,
        client,
        source,
        endpoint.ip,
        endpoint.port,
        path,
    )
}

/// The running pod that holds `ip`.
fn pod_at(store: &Store, ip: IpAddr) -> Option<Value> {
    store.list("pods", None).into_iter().find(|p| {
        p["status"]["phase"] == "Running"
            && p["status"]["podIPs"].as_array().is_some_and(|ips| {
                ips.iter()
                    .any(|e| e["ip"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) == Some(ip))
            })
    })
}

/// The pod at `dest` that packets from `client` (sent from `source`) to `dest:port` reach, and the source
/// address it sees; `None` when they are dropped (no such pod, no route, or no NetworkPolicy allows them:
/// enforcing plugins drop, so the client sees a timeout).
fn routed(
    cluster: &Cluster,
    store: &Store,
    client: &Value,
    source: IpAddr,
    dest: IpAddr,
    port: u16,
) -> Option<(Value, IpAddr)> {
    let family = IpFamily::of(&dest);
    let server = pod_at(store, dest)?;
    let cross_node = server["spec"]["nodeName"] != client["spec"]["nodeName"];
    let from_node = on_host_network(client);
    if from_node
        && (cluster.has(Deviation::NodeToPodDropped)
            || (family == IpFamily::IPv6 && cluster.has(Deviation::NodeToPodIpv6Dropped)))
    {
        return None;
    }
    if cross_node && family == IpFamily::IPv6 && cluster.has(Deviation::PodToPodIpv6Dropped) {
        return None;
    }
    let source = match cross_node && cluster.has(Deviation::PodToPodMasquerade) {
        true => node_ip_of(cluster, client, family).unwrap_or(source),
        false => source,
    };
    let source = match from_node && cross_node && cluster.has(Deviation::NodeToPodMasquerade) {
        true => node_ip_of(cluster, &server, family).unwrap_or(source),
        false => source,
    };
    let allowed = network_policy::allows(
        store,
        &cluster.deviations,
        client,
        source,
        &server,
        dest,
        port,
    );
    allowed.then_some((server, source))
}

/// Delivers a connection from `client` (seen as `source`) to `dest:port`, a pod IP.
fn deliver(
    cluster: &Cluster,
    store: &Store,
    client: &Value,
    source: IpAddr,
    dest: IpAddr,
    port: u16,
    path: &str,
) -> HttpReply {
    let Some((server, source)) = routed(cluster, store, client, source, dest, port) else {
        return HttpReply::TimedOut;
    };
    if !serves_netexec(cluster, &server, port) {
        return HttpReply::ConnectError("Connection refused".into());
    }
    netexec::answer(
        cluster,
        &server,
        source,
        path,
        &dial_from(cluster, store, &server),
    )
}

/// An HTTP GET from `container` of `pod` to its loopback address `dest`: the pod's containers share one
/// network namespace (the pause container's), so any of them listening on `port` answers. Under
/// `pod-containers-separate-netns` only `container`'s own listeners do.
pub(crate) fn loopback_get(
    cluster: &Cluster,
    store: &Store,
    pod: &Value,
    container: &str,
    dest: IpAddr,
    port: u16,
    path: &str,
) -> HttpReply {
    let only = cluster
        .has(Deviation::PodContainersSeparateNetns)
        .then_some(container);
    if !serves_netexec_on(cluster, pod, only, port, Protocol::Tcp) {
        return HttpReply::ConnectError("Connection refused".into());
    }
    netexec::answer(cluster, pod, dest, path, &dial_from(cluster, store, pod))
}

/// `reading from udp connection failed` after netexec's 5 s read deadline: nothing answered.
fn udp_timeout(dest: IpAddr, port: u16) -> String {
    let addr = match dest {
        IpAddr::V4(_) => format!("{dest}:{port}"),
        IpAddr::V6(_) => format!("[{dest}]:{port}"),
    };
    format!("reading from udp connection failed. err:'read udp {addr}: i/o timeout'")
}

/// One UDP datagram `request` from `client` to `dest:port` and netexec's reply (netexec.go
/// `startUDPServer`: `hostname`, `echo TEXT`, `clientip`), through a Service's UDP port as kube-proxy
/// translates it; the error text of netexec's `dialUDP` when nothing answers.
fn udp_exchange(
    cluster: &Cluster,
    store: &Store,
    client: &Value,
    dest: IpAddr,
    port: u16,
    request: &str,
) -> Result<String, String> {
    let family = IpFamily::of(&dest);
    let timeout = || Err(udp_timeout(dest, port));
    let Some(source) = source_of(cluster, client, family) else {
        return Err("udp dial failed. err:dial udp: connect: network is unreachable".into());
    };
    let (target, target_port) = match service_at(store, dest, port, Protocol::Udp) {
        Some((svc, name)) => {
            if cluster.has(Deviation::ServiceUdpNotProxied)
                || (family == IpFamily::IPv6 && cluster.has(Deviation::ServiceIpv6Unreachable))
            {
                return timeout();
            }
            let refused = format!(
                "reading from udp connection failed. err:'read udp {dest}: connection refused'"
            );
            let endpoints = ready_endpoints(cluster, store, &svc, &name, family);
            // No endpoints: kube-proxy REJECTs (an ICMP error: the read fails at once).
            if endpoints.is_empty() {
                return Err(refused);
            }
            let usable = usable_endpoints(cluster, client, &svc, endpoints);
            match pick(cluster, &usable) {
                Some(e) => (e.ip, e.port),
                None => return timeout(),
            }
        }
        None => (dest, port),
    };
    let Some((server, source)) = routed(cluster, store, client, source, target, target_port) else {
        return timeout();
    };
    if !serves_netexec_on(cluster, &server, None, target_port, Protocol::Udp) {
        return Err(format!(
            "reading from udp connection failed. err:'read udp {dest}: connection refused'"
        ));
    }
    // netexec answers nothing else.
    netexec::udp_answer(cluster, &server, source, request).map_or_else(timeout, Ok)
}

/// netexec's `/dial` in `pod`: its UDP requests go out over the network as `pod` sees it.
fn dial_from<'a>(
    cluster: &'a Cluster,
    store: &'a Store,
    pod: &'a Value,
) -> impl Fn(IpAddr, u16, &str) -> Result<String, String> + 'a {
    move |dest, port, request| udp_exchange(cluster, store, pod, dest, port, request)
}

/// The endpoints `client`'s kube-proxy may send the Service's traffic to: with internalTrafficPolicy Local
/// only those on the client's node (none there is a DROP). upstream: pkg/proxy/topology.go
/// `CategorizeEndpoints`, pkg/proxy/iptables/proxier.go ("has no local endpoints" -> DROP).
fn usable_endpoints(
    cluster: &Cluster,
    client: &Value,
    svc: &Value,
    endpoints: Vec<Endpoint>,
) -> Vec<Endpoint> {
    let local_only = svc["spec"]["internalTrafficPolicy"] == "Local"
        && !cluster.has(Deviation::InternalTrafficPolicyIgnored);
    let client_node = client["spec"]["nodeName"].as_str().unwrap_or_default();
    endpoints
        .into_iter()
        .filter(|e| !local_only || e.node == client_node)
        .collect()
}

/// An HTTP GET from `node`'s own network namespace (the kubelet's httpGet and tcpSocket probes) to
/// `dest:port`: the node's traffic, as a hostNetwork pod's on that node.
pub(crate) fn node_get(
    cluster: &Cluster,
    store: &Store,
    node: &str,
    dest: IpAddr,
    port: u16,
    path: &str,
) -> HttpReply {
    let agent = serde_json::json!({
        "metadata": {"name": format!("kubelet@{node}")},
        "spec": {"nodeName": node, "hostNetwork": true}
    });
    http_get(cluster, store, &agent, dest, port, path)
}

/// An HTTP GET from `client` to `dest:port`.
pub(crate) fn http_get(
    cluster: &Cluster,
    store: &Store,
    client: &Value,
    dest: IpAddr,
    port: u16,
    path: &str,
) -> HttpReply {
    let family = IpFamily::of(&dest);
    // A pod without an address of the family has no route for it.
    let Some(source) = source_of(cluster, client, family) else {
        return HttpReply::ConnectError("Network is unreachable".into());
    };
    if let Some(reply) = outside::from_pod(cluster, client, dest, port, path) {
        return reply;
    }
    if let Some(node) = node_at(cluster, dest) {
        return node_port(cluster, store, client, &node, dest, port, path);
    }
    let Some((svc, port_name)) = service_at(store, dest, port, Protocol::Tcp) else {
        return deliver(cluster, store, client, source, dest, port, path);
    };
    if family == IpFamily::IPv6 && cluster.has(Deviation::ServiceIpv6Unreachable) {
        return HttpReply::TimedOut;
    }
    let source = match cluster.has(Deviation::ServiceMasquerade) {
        true => node_ip_of(cluster, client, family).unwrap_or(source),
        false => source,
    };
    let endpoints = ready_endpoints(cluster, store, &svc, &port_name, family);
    if endpoints.is_empty() {
        return HttpReply::ConnectError("Connection refused".into());
    }
    let usable = usable_endpoints(cluster, client, &svc, endpoints);
    match pick(cluster, &usable) {
        Some(e) => deliver(cluster, store, client, source, e.ip, e.port, path),
        None => HttpReply::TimedOut,
    }
}

#[cfg(test)]
mod tests;
