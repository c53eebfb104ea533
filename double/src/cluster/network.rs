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
//! - agnhost `netexec` (test/images/agnhost/netexec/netexec.go) listens on `--http-port` (8080):
//!   `/hostname` is `os.Hostname()` (the pod's hostname, no newline), `/clientip` is `r.RemoteAddr`
//!   (`IP:PORT`, `[IP]:PORT` for IPv6), `/echo?msg=M` is `M`, every other path is the root handler
//!   (`NOW: <time>`). Other servers are not modelled (their ports refuse).
//!
//! - A node's InternalIP and a `nodePort` of a NodePort/LoadBalancer Service with a ClusterIP of that
//!   family reach a ready endpoint of the family on any node, source-NATed to the receiving node's IP;
//!   other ports of node IPs refuse. `internalTrafficPolicy: Local` limits ClusterIP traffic to endpoints
//!   on the client's node and drops it when there is none.
//!
//! - kube-proxy spreads a Service's connections over its usable endpoints: each connection goes to one
//!   picked at random (iptables `-m statistic --mode random`, nftables `numgen random`).
//! - UDP: a Service's UDP ports are translated as its TCP ones; netexec answers the UDP commands
//!   `hostname`, `echo TEXT` and `clientip` on `--udp-port` (8081, -1: off), and its HTTP `/dial` handler
//!   (`/dial?request=R&protocol=udp&host=H&port=P&tries=N`) sends them and answers
//!   `{"responses":[..]}` / `{"errors":[..]}` as JSON (other protocols of `/dial` are not modelled).
//! - Loopback (127.0.0.0/8, ::1) reaches the listeners of every container of the pod: they share one
//!   network namespace.
//!
//! Deviations: `service-single-endpoint` (every connection goes to the first endpoint in address order),
//! `service-udp-not-proxied` (UDP to a ClusterIP is dropped), `pod-containers-separate-netns` (loopback
//! reaches only the calling container's own listeners), `service-ipv6-unreachable` (kube-proxy programs no IPv6 ClusterIPs: dropped),
//! `service-masquerade` (pod-to-Service traffic is SNATed to the client node's IP),
//! `pod-to-pod-ipv6-dropped` (no IPv6 routes between nodes: cross-node IPv6 to pods is dropped),
//! `pod-to-pod-masquerade` (traffic leaving a node is SNATed to that node's IP), `nodeport-ipv6-not-served`
//! (IPv6 node addresses refuse NodePorts), `nodeport-only-on-endpoint-nodes` (nodes without a ready
//! endpoint refuse), `internal-traffic-policy-ignored` (Local is treated as Cluster),
//! `proxy-uses-unready-endpoints` (endpoints listed `ready: false` are picked too).

use std::net::IpAddr;

use rand::Rng;
use serde_json::Value;

use super::Cluster;
use super::commands::{self, HttpReply};
use crate::deviation::Deviation;
use crate::model::endpointslices::LABEL_SERVICE_NAME;
use crate::model::family::IpFamily;
use crate::model::network_policy;
use crate::model::time;
use crate::store::Store;

/// The first IP of `family` in a pod's `status.podIPs`.
fn pod_ip_of(pod: &Value, family: IpFamily) -> Option<IpAddr> {
    pod["status"]["podIPs"]
        .as_array()?
        .iter()
        .filter_map(|p| p["ip"].as_str()?.parse::<IpAddr>().ok())
        .find(|ip| IpFamily::of(ip) == family)
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

/// A transport protocol of a Service port (`spec.ports[].protocol`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Protocol {
    Tcp,
    Udp,
}

impl Protocol {
    fn as_str(self) -> &'static str {
        match self {
            Protocol::Tcp => "TCP",
            Protocol::Udp => "UDP",
        }
    }
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

/// The port of an agnhost `netexec` argv's `flag` (`--F=N` or `--F N`), else `default`; a negative value
/// (`--udp-port=-1`) turns that server off.
fn netexec_flag_port(argv: &[String], flag: &str, default: u16) -> Option<u16> {
    let at = argv.iter().position(|a| a == "netexec")?;
    let flags = &argv[at + 1..];
    let with_value = format!("{flag}=");
    for (i, given) in flags.iter().enumerate() {
        if let Some(v) = given.strip_prefix(&with_value) {
            return v.parse().ok();
        }
        if given == flag {
            return flags.get(i + 1)?.parse().ok();
        }
    }
    Some(default)
}

/// The HTTP port of an agnhost `netexec` argv (`--http-port=N` or `--http-port N`, default 8080).
fn netexec_port(argv: &[String]) -> Option<u16> {
    netexec_flag_port(argv, "--http-port", 8080)
}

/// The UDP port of an agnhost `netexec` argv (`--udp-port`, default 8081, -1: none).
fn netexec_udp_port(argv: &[String]) -> Option<u16> {
    netexec_flag_port(argv, "--udp-port", 8081)
}

/// Whether a started container of `pod` (only `only` when given) serves netexec on `port` of `protocol`.
fn serves_netexec_on(
    cluster: &Cluster,
    pod: &Value,
    only: Option<&str>,
    port: u16,
    protocol: Protocol,
) -> bool {
    let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
    pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|c| only.is_none_or(|name| c["name"].as_str() == Some(name)))
        .any(|c| {
            let started = cluster
                .started(uid, c["name"].as_str().unwrap_or_default())
                .is_some();
            let argv = commands::entrypoint(c);
            let listens = match protocol {
                Protocol::Tcp => netexec_port(&argv),
                Protocol::Udp => netexec_udp_port(&argv),
            };
            started && listens == Some(port)
        })
}

/// Whether a started container of `pod` serves netexec's HTTP on `port`.
fn serves_netexec(cluster: &Cluster, pod: &Value, port: u16) -> bool {
    serves_netexec_on(cluster, pod, None, port, Protocol::Tcp)
}

fn ok(body: String) -> HttpReply {
    HttpReply::Response {
        status: 200,
        reason: "OK".into(),
        body,
    }
}

/// `source` as Go's `RemoteAddr` shows it, with an ephemeral port of the client (Linux
/// ip_local_port_range 32768-60999).
fn remote_addr(source: IpAddr) -> String {
    let port: u16 = rand::rng().random_range(32768..=60999);
    match source {
        IpAddr::V4(_) => format!("{source}:{port}"),
        IpAddr::V6(_) => format!("[{source}]:{port}"),
    }
}

/// The value of `key` in a query string (no percent-decoding: the model's callers send plain values).
fn query_value<'a>(query: &'a str, key: &str) -> Option<&'a str> {
    query.split('&').find_map(|kv| {
        let (k, v) = kv.split_once('=')?;
        (k == key).then_some(v)
    })
}

/// netexec's `/dial` (netexec.go `dialHandler`): `tries` UDP exchanges of `request` with `host:port`
/// from `pod`, answered as JSON `{"responses":[..]}` and/or `{"errors":[..]}`.
fn netexec_dial(cluster: &Cluster, store: &Store, pod: &Value, query: &str) -> HttpReply {
    let bad = |text: String| HttpReply::Response {
        status: 400,
        reason: "Bad Request".into(),
        body: format!("{text}\n"),
    };
    let request = query_value(query, "request").unwrap_or_default();
    if request.is_empty() {
        return bad("request parameter not specified. <nil>".into());
    }
    let Ok(tries) = query_value(query, "tries").unwrap_or("1").parse::<usize>() else {
        return bad("tries parameter is invalid.".into());
    };
    let protocol = query_value(query, "protocol").unwrap_or_default();
    if !protocol.eq_ignore_ascii_case("udp") {
        return bad(format!("unsupported protocol. {protocol}"));
    }
    let host = query_value(query, "host").unwrap_or_default();
    let host = host.trim_start_matches('[').trim_end_matches(']');
    let (Ok(dest), Ok(port)) = (
        host.parse::<IpAddr>(),
        query_value(query, "port")
            .unwrap_or_default()
            .parse::<u16>(),
    ) else {
        return bad("host and/or port param are invalid.".into());
    };
    let (mut responses, mut errors) = (Vec::new(), Vec::new());
    for _ in 0..tries {
        match udp_exchange(cluster, store, pod, dest, port, request) {
            Ok(answer) => responses.push(answer),
            Err(e) => errors.push(e),
        }
    }
    let mut output = serde_json::Map::new();
    if !responses.is_empty() {
        output.insert("responses".into(), responses.into());
    }
    if !errors.is_empty() {
        output.insert("errors".into(), errors.into());
    }
    ok(Value::Object(output).to_string())
}

/// netexec's answer to `path` from `source`.
fn netexec_answer(
    cluster: &Cluster,
    store: &Store,
    pod: &Value,
    source: IpAddr,
    path: &str,
) -> HttpReply {
    let (route, query) = path.split_once('?').unwrap_or((path, ""));
    match route {
        "/hostname" | "/hostName" => ok(cluster.hostname(pod)),
        "/clientip" => ok(remote_addr(source)),
        "/dial" => netexec_dial(cluster, store, pod, query),
        "/echo" => ok(query
            .split('&')
            .find_map(|kv| kv.strip_prefix("msg="))
            .unwrap_or("")
            .to_string()),
        "/healthz" => ok(String::new()),
        "/readyz" => ok("ok".into()),
        _ => ok(format!("NOW: {}", time::now())),
    }
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
    if cross_node && family == IpFamily::IPv6 && cluster.has(Deviation::PodToPodIpv6Dropped) {
        return None;
    }
    let source = match cross_node && cluster.has(Deviation::PodToPodMasquerade) {
        true => node_ip_of(cluster, client, family).unwrap_or(source),
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
    netexec_answer(cluster, store, &server, source, path)
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
    netexec_answer(cluster, store, pod, dest, path)
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
    let Some(source) = pod_ip_of(client, family) else {
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
    match request {
        "hostname" => Ok(cluster.hostname(&server)),
        "clientip" => Ok(remote_addr(source)),
        r => match r.strip_prefix("echo ") {
            Some(text) => Ok(text.to_string()),
            // netexec answers nothing else.
            None => timeout(),
        },
    }
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
    let Some(source) = pod_ip_of(client, family) else {
        return HttpReply::ConnectError("Network is unreachable".into());
    };
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
mod tests {
    use super::*;
    use crate::DoubleConfig;
    use crate::cluster::install;
    use crate::runtime::ContainerRuntime;
    use serde_json::json;
    use std::sync::Arc;
    use std::time::Duration;

    async fn until(
        store: &Store,
        resource: &str,
        name: &str,
        pred: impl Fn(&Value) -> bool,
    ) -> Value {
        for _ in 0..500 {
            let found = store
                .list(resource, Some("default"))
                .into_iter()
                .find(|o| (o["metadata"]["name"] == name || name.is_empty()) && pred(o));
            if let Some(obj) = found {
                return obj;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {resource} {name}");
    }

    /// A client on netconform-worker and a netexec backend on netconform-worker2 behind a dual-stack Service.
    async fn cluster(deviations: &[&str]) -> (Store, Arc<dyn ContainerRuntime>, Value, Value) {
        let store = Store::new();
        let config = DoubleConfig {
            deviations: deviations.iter().map(|d| d.to_string()).collect(),
            ..DoubleConfig::default()
        };
        let runtime = install(&store, &config).unwrap();
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
            "spec": {"ipFamilyPolicy": "PreferDualStack", "selector": {"app": "web"}, "ports": [{"port": 80}]}});
        store.create("services", Some("default"), svc).unwrap();
        let pod = |name: &str, node: &str, container: Value| {
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
                "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "containers": [container]}})
        };
        let web = pod(
            "web",
            "netconform-worker2",
            json!({"name": "web", "image": "registry.k8s.io/e2e-test-images/agnhost:2.52", "args": ["netexec", "--http-port=80"]}),
        );
        let client = pod(
            "client",
            "netconform-worker",
            json!({"name": "client", "image": "busybox:1.28", "command": ["sleep", "3600"]}),
        );
        store.create("pods", Some("default"), web).unwrap();
        store.create("pods", Some("default"), client).unwrap();
        let running = |p: &Value| p["status"]["phase"] == "Running";
        until(&store, "pods", "web", running).await;
        let client = until(&store, "pods", "client", running).await;
        let svc = until(&store, "services", "web", |_| true).await;
        until(&store, "endpointslices", "", |s| {
            s["addressType"] == "IPv6" && s["endpoints"].is_array()
        })
        .await;
        until(&store, "endpointslices", "", |s| {
            s["addressType"] == "IPv4" && s["endpoints"].is_array()
        })
        .await;
        (store, runtime, client, svc)
    }

    fn wget(
        store: &Store,
        runtime: &Arc<dyn ContainerRuntime>,
        client: &Value,
        url: &str,
    ) -> (i32, String, String) {
        let argv: Vec<String> = ["wget", "-T", "5", "-qO-", url]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = runtime.exec(store, client, "client", &argv);
        (
            out.exit_code,
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    #[tokio::test]
    async fn loopback_stays_in_the_pod_and_netexec_dials_udp() {
        let (store, runtime, client, _) = cluster(&[]).await;
        let web = store.get("pods", Some("default"), "web").unwrap();
        let run = |pod: &Value, container: &str, url: &str| {
            let argv: Vec<String> = ["wget", "-T", "5", "-qO-", url]
                .iter()
                .map(|s| s.to_string())
                .collect();
            let out = runtime.exec(&store, pod, container, &argv);
            String::from_utf8_lossy(&out.stdout).into_owned()
                + &String::from_utf8_lossy(&out.stderr)
        };
        assert_eq!(run(&web, "web", "http://127.0.0.1:80/hostname"), "web");
        // Nothing listens in the client pod.
        let refused = run(&client, "client", "http://127.0.0.1:80/hostname");
        assert!(refused.contains("Connection refused"), "{refused}");
        // netexec's UDP server listens on 8081 by default; `/dial` reports its answer as JSON.
        let web_v6 = web["status"]["podIPs"][1]["ip"].as_str().unwrap();
        let dial = format!(
            "http://127.0.0.1:80/dial?request=hostname&protocol=udp&host={web_v6}&port=8081&tries=2"
        );
        assert_eq!(run(&web, "web", &dial), r#"{"responses":["web","web"]}"#);
        let closed = dial.replace("port=8081", "port=9");
        assert!(run(&web, "web", &closed).starts_with(r#"{"errors":["#));
    }

    #[tokio::test]
    async fn both_families_through_cluster_ips_and_pod_ips() {
        let (store, runtime, client, svc) = cluster(&[]).await;
        let (v4, v6) = (
            svc["spec"]["clusterIPs"][0].as_str().unwrap(),
            svc["spec"]["clusterIPs"][1].as_str().unwrap(),
        );
        assert_eq!(
            wget(
                &store,
                &runtime,
                &client,
                &format!("http://{v4}:80/hostname")
            )
            .1,
            "web"
        );
        let (_, seen, _) = wget(
            &store,
            &runtime,
            &client,
            &format!("http://[{v6}]:80/clientip"),
        );
        let client_v6 = client["status"]["podIPs"][1]["ip"].as_str().unwrap();
        assert!(seen.starts_with(&format!("[{client_v6}]:")), "{seen}");
        let web = store.get("pods", Some("default"), "web").unwrap();
        let web_v6 = web["status"]["podIPs"][1]["ip"].as_str().unwrap();
        assert_eq!(
            wget(
                &store,
                &runtime,
                &client,
                &format!("http://[{web_v6}]:80/hostname")
            )
            .1,
            "web"
        );
        let refused = wget(&store, &runtime, &client, &format!("http://[{web_v6}]:81/"));
        assert_eq!(refused.0, 1);
        assert!(refused.2.ends_with("Connection refused\n"), "{}", refused.2);
    }

    #[tokio::test]
    async fn deviations_drop_and_masquerade() {
        let (store, runtime, client, svc) =
            cluster(&["service-ipv6-unreachable", "pod-to-pod-masquerade"]).await;
        let v6 = svc["spec"]["clusterIPs"][1].as_str().unwrap();
        assert_eq!(
            wget(
                &store,
                &runtime,
                &client,
                &format!("http://[{v6}]:80/hostname")
            )
            .2,
            "wget: download timed out\n"
        );
        let v4 = svc["spec"]["clusterIPs"][0].as_str().unwrap();
        let (_, seen, _) = wget(
            &store,
            &runtime,
            &client,
            &format!("http://{v4}:80/clientip"),
        );
        assert!(
            seen.starts_with("172.18.0.3:"),
            "the worker's InternalIP, not the pod's: {seen}"
        );
    }

    /// Creates `svc` (selecting `app: web`) and waits until its slices of each of its families list `ready` endpoints.
    async fn service_with_endpoints(store: &Store, svc: Value, ready: usize) -> Value {
        let name = svc["metadata"]["name"].as_str().unwrap().to_string();
        let created = store.create("services", Some("default"), svc).unwrap();
        for family in created["spec"]["ipFamilies"].as_array().unwrap() {
            until(store, "endpointslices", "", |s| {
                s["metadata"]["labels"][LABEL_SERVICE_NAME] == name.as_str()
                    && s["addressType"] == *family
                    && s["endpoints"].as_array().is_some_and(|e| e.len() == ready)
            })
            .await;
        }
        until(store, "services", &name, |_| true).await
    }

    fn node_port_svc(name: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
            "spec": {"type": "NodePort", "ipFamilyPolicy": "PreferDualStack", "selector": {"app": "web"},
                     "ports": [{"name": "1248-80", "port": 1248, "targetPort": 80}]}})
    }

    #[tokio::test]
    async fn node_ports_answer_on_every_node_ip_of_both_families() {
        let (store, runtime, client, _) = cluster(&[]).await;
        let svc = service_with_endpoints(&store, node_port_svc("np"), 1).await;
        let np = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
        assert!((30000..=32767).contains(&np), "{np}");
        let nodes = crate::model::topology::Topology::netconform().nodes;
        assert!(nodes.len() >= 2);
        for node in &nodes {
            for ip in node.internal_ips() {
                let target = match ip {
                    IpAddr::V4(_) => format!("http://{ip}:{np}/hostname"),
                    IpAddr::V6(_) => format!("http://[{ip}]:{np}/hostname"),
                };
                assert_eq!(
                    wget(&store, &runtime, &client, &target).1,
                    "web",
                    "{target}"
                );
            }
        }
        // Masqueraded: the backend sees the receiving node's address, not the client pod's.
        let worker = &nodes
            .iter()
            .find(|n| n.name == "netconform-worker")
            .unwrap()
            .internal_ips()[0];
        let (_, seen, _) = wget(
            &store,
            &runtime,
            &client,
            &format!("http://{worker}:{np}/clientip"),
        );
        assert!(seen.starts_with(&format!("{worker}:")), "{seen}");
        // Another port of a node refuses.
        let refused = wget(
            &store,
            &runtime,
            &client,
            &format!("http://{worker}:{}/", np + 1),
        );
        assert!(refused.2.ends_with("Connection refused\n"), "{}", refused.2);
    }

    #[tokio::test]
    async fn node_port_deviations() {
        let (store, runtime, client, _) = cluster(&[
            "nodeport-ipv6-not-served",
            "nodeport-only-on-endpoint-nodes",
        ])
        .await;
        let svc = service_with_endpoints(&store, node_port_svc("np"), 1).await;
        let np = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
        let topology = crate::model::topology::Topology::netconform();
        let ips = |name: &str| topology.node(name).unwrap().internal_ips();
        // web runs on worker2: its IPv4 answers, the client's own node (no endpoint) refuses, IPv6 refuses.
        let w2 = ips("netconform-worker2");
        assert_eq!(
            wget(
                &store,
                &runtime,
                &client,
                &format!("http://{}:{np}/hostname", w2[0])
            )
            .1,
            "web"
        );
        let v6 = wget(
            &store,
            &runtime,
            &client,
            &format!("http://[{}]:{np}/hostname", w2[1]),
        );
        assert!(v6.2.ends_with("Connection refused\n"), "{}", v6.2);
        let w1 = ips("netconform-worker");
        let own = wget(
            &store,
            &runtime,
            &client,
            &format!("http://{}:{np}/hostname", w1[0]),
        );
        assert!(own.2.ends_with("Connection refused\n"), "{}", own.2);
    }

    /// A second netexec backend `web-local` (label app=web) on the client's node.
    async fn local_backend(store: &Store) {
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-local", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": "netconform-worker"},
                     "containers": [{"name": "web", "image": "registry.k8s.io/e2e-test-images/agnhost:2.52", "args": ["netexec", "--http-port=80"]}]}});
        store.create("pods", Some("default"), pod).unwrap();
        until(store, "pods", "web-local", |p| {
            p["status"]["phase"] == "Running"
        })
        .await;
    }

    fn local_svc() -> Value {
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "local", "namespace": "default"},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], "internalTrafficPolicy": "Local"}})
    }

    #[tokio::test]
    async fn internal_traffic_policy_local() {
        let (store, runtime, client, _) = cluster(&[]).await;
        // Only web (on worker2) backs the Service: the client on worker has no local endpoint: dropped.
        let svc = service_with_endpoints(&store, local_svc(), 1).await;
        let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
        let url = format!("http://{ip}:80/hostname");
        assert_eq!(
            wget(&store, &runtime, &client, &url).2,
            "wget: download timed out\n"
        );
        // With a backend on the client's node, only that one answers.
        local_backend(&store).await;
        until(&store, "endpointslices", "", |s| {
            s["metadata"]["labels"][LABEL_SERVICE_NAME] == "local"
                && s["addressType"] == "IPv4"
                && s["endpoints"].as_array().is_some_and(|e| e.len() == 2)
        })
        .await;
        assert_eq!(wget(&store, &runtime, &client, &url).1, "web-local");
    }

    #[tokio::test]
    async fn internal_traffic_policy_ignored() {
        let (store, runtime, client, _) = cluster(&["internal-traffic-policy-ignored"]).await;
        let svc = service_with_endpoints(&store, local_svc(), 1).await;
        let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
        assert_eq!(
            wget(
                &store,
                &runtime,
                &client,
                &format!("http://{ip}:80/hostname")
            )
            .1,
            "web"
        );
    }

    fn argv(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn netexec_ports() {
        assert_eq!(
            netexec_port(&argv(&["/agnhost", "netexec", "--http-port=80"])),
            Some(80)
        );
        assert_eq!(
            netexec_port(&argv(&["/agnhost", "netexec", "--http-port", "9376"])),
            Some(9376)
        );
        assert_eq!(netexec_port(&argv(&["/agnhost", "netexec"])), Some(8080));
        assert_eq!(netexec_port(&argv(&["/agnhost", "pause"])), None);
    }
}
