//! Node to pod: what a node's own network namespace (the kubelet, node daemons, hostNetwork pods) reaches,
//! per IP family, from one hostNetwork pod `node-agent` of the `connectivity::traffic` scenario, pinned to
//! the node of backend-0 (the other backend runs on a second node):
//!
//! - the kubelet's httpGet and tcpSocket readiness probes reach a pod at its address of each family: four
//!   busybox containers of `node-agent` (`http-ipv4`, `tcp-ipv4`, `http-ipv6`, `tcp-ipv6`) whose only
//!   readiness probe is an httpGet of `/hostname` or a tcpSocket on port 8080 with `host:` backend-0's
//!   address of that family; a container is ready only once its probe reached netexec there;
//! - the `agent` container (hostNetwork) reaches netexec on both backends, on its own node and on the
//!   other, at each family's address, and netexec's `/clientip` sees an address of the agent's node (its
//!   InternalIP of the family, or its own address on the node's pod network: no NAT).
//!
//! Why `host:`: without it the kubelet probes `status.PodIP`, the pod's primary address only (one family);
//! naming the address is the only way a probe reaches a given family. The probe containers sit in the
//! hostNetwork pod (whose own `status.podIP` is its node's address) so that they add no pod: the kubelet
//! runs every probe from the node's network namespace, whatever the probed pod's network.
//!
//! upstream: pkg/kubelet/prober/prober.go (`runProbe`: httpGet through `httpprobe.NewRequestForHTTPGetAction`,
//! tcpSocket `host := p.TCPSocket.Host; if host == "" { host = status.PodIP }`), pkg/probe/http/request.go
//! (`NewRequestForHTTPGetAction`: `host := httpGet.Host; if host == "" { host = podIP }`), pkg/probe/http/http.go
//! (`DoHTTPProbe`: 200 <= code < 400 is success), pkg/probe/tcp/tcp.go (`DoTCPProbe`: a connection that
//! opens is success, closed at once), pkg/kubelet/prober/worker.go (readiness starts as failure);
//! the CNI ptp plugin (plugins/main/ptp/ptp.go `setupHostVeth`: the host end of each pod's veth holds the
//! pod range's gateway address, with a host route to the pod; what kindnetd and the testbed's podnet
//! configure), so a node reaches its own pods from that address and other nodes' pods over the route via
//! their InternalIP, from its own InternalIP; test/images/agnhost/netexec/netexec.go (`/clientip` is
//! `r.RemoteAddr`).

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use crate::family::trials;
use crate::pods::from_json;
use crate::shared::probe::{self, CLIENT_IMAGE, NodeRef, Running};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip, parse_ip};
use netconform::preflight::Need;
use netconform::retry::retrying;
use netconform::wait::{Budget, Verdict, conditions};

use super::traffic::{PART_NODE_AGENTS, read_traffic};

const PROBES_PAGE: &str =
    "https://kubernetes.io/docs/concepts/workloads/pods/pod-lifecycle/#container-probes";
const NETWORK_MODEL_PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/#the-kubernetes-network-model";

pub const TRIALS: &[netconform::trial::TrialDef] = trials![
    per_family {
        name: "connectivity::kubelet_probe_http_get",
        claim: [
            "the kubelet's httpGet readiness probe reaches a pod across the pod network at its ",
            " address: a container whose readinessProbe is `httpGet` of /hostname on port 8080 of a netexec pod's ",
            " address (`host:`) on the same node becomes ready (status 200-399 succeeds; node agents such as the kubelet reach every pod on their node) (seed rows [P7], [P26])",
        ],
        doc_url: PROBES_PAGE,
        needs: [Need::ServiceAddresses(1), Need::SchedulableNodes(2)],
        run: http_get,
    },
    per_family {
        name: "connectivity::kubelet_probe_tcp_socket",
        claim: [
            "the kubelet's tcpSocket readiness probe reaches a pod across the pod network at its ",
            " address: a container whose readinessProbe is `tcpSocket` on port 8080 of a netexec pod's ",
            " address (`host:`) on the same node becomes ready (an open port succeeds; node agents such as the kubelet reach every pod on their node) (seed rows [P7], [P26])",
        ],
        doc_url: PROBES_PAGE,
        needs: [Need::ServiceAddresses(1), Need::SchedulableNodes(2)],
        run: tcp_socket,
    },
    per_family {
        name: "connectivity::host_network_reaches_pods",
        claim: [
            "pods attached to the host network of a node can still communicate with all pods on all nodes without NAT: a hostNetwork pod reaches netexec pods on its own node and on another node at their ",
            " addresses, and each sees as the client an ",
            " address of the hostNetwork pod's node (seed rows [P27], [P26])",
        ],
        doc_url: NETWORK_MODEL_PAGE,
        needs: [Need::ServiceAddresses(1), Need::SchedulableNodes(2)],
        run: reaches_pods_without_nat,
    },
];

/// The test double's deviations that must fail these trials: exactly these (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::NodeToPodDropped,
        &[
            "connectivity::kubelet_probe_http_get::ipv4",
            "connectivity::kubelet_probe_http_get::ipv6",
            "connectivity::kubelet_probe_tcp_socket::ipv4",
            "connectivity::kubelet_probe_tcp_socket::ipv6",
            "connectivity::host_network_reaches_pods::ipv4",
            "connectivity::host_network_reaches_pods::ipv6",
        ],
    ),
    (
        Deviation::NodeToPodIpv6Dropped,
        &[
            "connectivity::kubelet_probe_http_get::ipv6",
            "connectivity::kubelet_probe_tcp_socket::ipv6",
            "connectivity::host_network_reaches_pods::ipv6",
        ],
    ),
    (
        Deviation::PodToPodIpv6Dropped,
        &["connectivity::host_network_reaches_pods::ipv6"],
    ),
    (
        Deviation::NodeToPodMasquerade,
        &[
            "connectivity::host_network_reaches_pods::ipv4",
            "connectivity::host_network_reaches_pods::ipv6",
        ],
    ),
];

/// The hostNetwork pod.
const POD: &str = "node-agent";
/// Its container that sends the requests (the pod's first: where [`Running`] execs).
const AGENT: &str = "agent";
/// The backends' netexec port.
const NETEXEC_HTTP: u16 = 8080;
/// How long the probe containers may take to turn ready once the pod runs: probes run every second
/// (`periodSeconds: 1`) from the container's start, and one success makes a container ready.
const PROBES_PASS: Budget = Budget::new("readiness-probes", 30);

/// The two probe kinds, by the container-name prefix they get.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Kind {
    HttpGet,
    TcpSocket,
}

impl Kind {
    fn prefix(self) -> &'static str {
        match self {
            Kind::HttpGet => "http",
            Kind::TcpSocket => "tcp",
        }
    }

    fn container(self, family: IpFamily) -> String {
        let suffix = match family {
            IpFamily::IPv4 => "ipv4",
            IpFamily::IPv6 => "ipv6",
        };
        format!("{}-{suffix}", self.prefix())
    }

    /// The readinessProbe of the container that probes `host`.
    fn probe(self, host: &str) -> serde_json::Value {
        let action = match self {
            Kind::HttpGet => {
                json!({"httpGet": {"host": host, "port": NETEXEC_HTTP, "path": "/hostname"}})
            }
            Kind::TcpSocket => json!({"tcpSocket": {"host": host, "port": NETEXEC_HTTP}}),
        };
        let mut probe = json!({"periodSeconds": 1, "timeoutSeconds": 1});
        if let (Some(p), Some(a)) = (probe.as_object_mut(), action.as_object()) {
            p.extend(a.clone());
        }
        probe
    }
}

/// The hostNetwork pod on `node`: the `agent` container, and a probe container per kind and per address
/// of `target` (backend-0).
pub(super) fn node_agent_pod(node: &NodeRef, target: &Running) -> Result<Pod, TrialError> {
    let sleep =
        |name: &str| json!({"name": name, "image": CLIENT_IMAGE, "command": ["sleep", "3600"]});
    let mut containers = vec![sleep(AGENT)];
    for ip in &target.ips {
        let family = family_of_ip(ip).map_err(|e| TrialError::Harness(e.to_string()))?;
        for kind in [Kind::HttpGet, Kind::TcpSocket] {
            let mut container = sleep(&kind.container(family));
            container["readinessProbe"] = kind.probe(ip);
            containers.push(container);
        }
    }
    from_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": POD},
        "spec": {
            "hostNetwork": true,
            "nodeSelector": {"kubernetes.io/hostname": node.hostname},
            // busybox's `sleep` ignores SIGTERM: no grace to wait out at cleanup.
            "terminationGracePeriodSeconds": 0,
            "containers": containers
        }
    }))
}

/// One probe container as it ended up.
#[derive(Debug, Clone)]
pub(super) struct ProbeSeen {
    container: String,
    ready: bool,
}

/// One request from the agent to a backend's `/clientip`.
#[derive(Debug, Clone)]
pub(super) struct ClientIp {
    family: IpFamily,
    target: String,
    same_node: bool,
    url: String,
    seen: Result<String, TrialError>,
}

/// What the node agent showed.
#[derive(Debug, Clone)]
pub(super) struct NodeAgents {
    node: String,
    /// The target of the probes (backend-0) and its addresses.
    target: String,
    target_ips: Vec<String>,
    probes: Result<Vec<ProbeSeen>, TrialError>,
    /// The agent node's InternalIPs and podCIDRs (the addresses it may send from without NAT).
    node_ips: Vec<String>,
    pod_cidrs: Vec<String>,
    client_ips: Vec<ClientIp>,
}

fn container_ready(pod: &Pod, name: &str) -> bool {
    pod.status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .any(|c| c.name == name && c.ready)
}

fn describe(pod: &Pod) -> String {
    let statuses: Vec<String> = pod
        .status
        .as_ref()
        .and_then(|s| s.container_statuses.as_ref())
        .into_iter()
        .flatten()
        .map(|c| format!("{} ready={}", c.name, c.ready))
        .collect();
    format!(
        "pod {POD}: phase {}; {}",
        pod.status
            .as_ref()
            .and_then(|s| s.phase.as_deref())
            .unwrap_or("-"),
        statuses.join(", ")
    )
}

/// Waits for the node agent (created with [`node_agent_pod`] on `node`) to run, for its probe containers
/// to turn ready, and sends the agent's requests to every backend; `backends[0]` is the probes' target.
pub(super) async fn observe(ctx: &Ctx, node: &NodeRef, backends: &[Running]) -> NodeAgents {
    let target = backends.first();
    let mut seen = NodeAgents {
        node: node.name.clone(),
        target: target.map(|t| t.name.clone()).unwrap_or_default(),
        target_ips: target.map(|t| t.ips.clone()).unwrap_or_default(),
        probes: Err(TrialError::Harness("the node agent did not start".into())),
        node_ips: Vec::new(),
        pod_cidrs: Vec::new(),
        client_ips: Vec::new(),
    };
    // Running, ready or not: its readiness is what the probes show.
    let running = ctx
        .wait::<Pod>(netconform::wait::budgets::POD_START)
        .awaiting(format!("pod {POD} (hostNetwork) to be Running"))
        .showing(describe)
        .object(POD, conditions::pod_running_with(|_| true))
        .await;
    let pod = match running {
        Ok(pod) => pod,
        Err(e) => {
            seen.probes = Err(e);
            return seen;
        }
    };
    let probe_containers: Vec<String> = pod
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .filter(|c| c.readiness_probe.is_some())
        .map(|c| c.name.clone())
        .collect();
    let all_ready = |p: Option<&Pod>| match p {
        Some(p) if probe_containers.iter().all(|c| container_ready(p, c)) => Verdict::Done,
        _ => Verdict::Pending,
    };
    // One wait for all; on a timeout each container's last state is what counts.
    let waited = ctx
        .wait::<Pod>(PROBES_PASS)
        .awaiting(format!(
            "the probe containers of pod {POD} ({}) to be ready",
            probe_containers.join(", ")
        ))
        .showing(describe)
        .object(POD, all_ready)
        .await;
    let last = match waited {
        Ok(pod) => Ok(pod),
        Err(e) => {
            ctx.log(format!("{e}"));
            let api = ctx.api::<Pod>();
            retrying(|| api.get(POD))
                .await
                .map_err(TrialError::api(format!("reading pod {POD}")))
        }
    };
    seen.probes = last.map(|p| {
        ctx.log(describe(&p));
        probe_containers
            .iter()
            .map(|c| ProbeSeen {
                container: c.clone(),
                ready: container_ready(&p, c),
            })
            .collect()
    });

    let api: Api<Node> = Api::all(ctx.client());
    match retrying(|| api.get(&node.name)).await {
        Ok(n) => {
            seen.node_ips = n
                .status
                .as_ref()
                .and_then(|s| s.addresses.as_ref())
                .into_iter()
                .flatten()
                .filter(|a| a.type_ == "InternalIP")
                .map(|a| a.address.clone())
                .collect();
            seen.pod_cidrs = n
                .spec
                .as_ref()
                .and_then(|s| s.pod_cidrs.clone())
                .unwrap_or_default();
        }
        Err(e) => ctx.log(format!("reading node {}: {e}", node.name)),
    }
    ctx.log(format!(
        "node {}: InternalIPs [{}], podCIDRs [{}]",
        node.name,
        seen.node_ips.join(", "),
        seen.pod_cidrs.join(", ")
    ));
    let agent = Running {
        container: AGENT.into(),
        ..Running::of(ctx.namespace(), &pod)
    };
    for backend in backends {
        for ip in &backend.ips {
            let Ok(family) = family_of_ip(ip) else {
                continue;
            };
            let url = probe::url(ip, NETEXEC_HTTP, "/clientip");
            let answer = probe::fetch(ctx, &agent, &url, &backend.describe()).await;
            ctx.log(format!("{url} from {POD}: {answer:?}"));
            seen.client_ips.push(ClientIp {
                family,
                target: backend.describe(),
                same_node: backend.node == node.name,
                url,
                seen: answer,
            });
        }
    }
    seen
}

async fn node_agents(ctx: &Ctx) -> Result<NodeAgents, TrialError> {
    let shared = read_traffic(ctx, PART_NODE_AGENTS).await?;
    let traffic = shared.outcome()?;
    traffic.node_agents.clone()
}

async fn probe_reaches(ctx: Ctx, family: IpFamily, kind: Kind) -> Result<(), TrialError> {
    let seen = node_agents(&ctx).await?;
    let container = kind.container(family);
    let address = seen
        .target_ips
        .iter()
        .find(|ip| family_of_ip(ip).ok() == Some(family))
        .cloned()
        .ok_or_else(|| TrialError::Mismatch {
            what: format!("status.podIPs of pod {}", seen.target),
            expected: format!("an {family} address"),
            observed: format!("[{}]", seen.target_ips.join(", ")),
        })?;
    let probes = seen.probes.clone()?;
    let ready = probes
        .iter()
        .find(|p| p.container == container)
        .map(|p| p.ready);
    let action = match kind {
        Kind::HttpGet => format!(
            "httpGet {}",
            probe::url(&address, NETEXEC_HTTP, "/hostname")
        ),
        Kind::TcpSocket => format!("tcpSocket {address} port {NETEXEC_HTTP}"),
    };
    ensure(
        ready == Some(true),
        &format!(
            "containerStatuses[{container}].ready of pod {POD} on node {}, whose readinessProbe is {action} (netexec in pod {} on the same node), within {} s",
            seen.node,
            seen.target,
            PROBES_PASS.limit.as_secs()
        ),
        "true: the kubelet's probe reached the pod at that address",
        match ready {
            Some(r) => format!("ready={r}"),
            None => format!("no container {container}"),
        },
    )
}

async fn http_get(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    probe_reaches(ctx, family, Kind::HttpGet).await
}

async fn tcp_socket(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    probe_reaches(ctx, family, Kind::TcpSocket).await
}

/// Whether `seen` is an address of the agent's node of `family`: one of its InternalIPs, or an address in
/// one of its podCIDRs (its own end of the pod network: the ptp gateway on the pods' veths).
fn of_node(node_ips: &[String], pod_cidrs: &[String], seen: &str) -> bool {
    let Ok(seen) = parse_ip(seen) else {
        return false;
    };
    let internal = node_ips.iter().any(|ip| parse_ip(ip).ok() == Some(seen));
    let own_range = pod_cidrs
        .iter()
        .filter_map(|c| c.parse::<IpNet>().ok())
        .any(|net| net.contains(&seen));
    internal || own_range
}

async fn reaches_pods_without_nat(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let seen = node_agents(&ctx).await?;
    let requests: Vec<&ClientIp> = seen
        .client_ips
        .iter()
        .filter(|c| c.family == family)
        .collect();
    let mut lines = Vec::new();
    let mut ok = requests.iter().any(|c| c.same_node) && requests.iter().any(|c| !c.same_node);
    for request in &requests {
        let answer = request.seen.clone()?;
        let host = probe::remote_host(&answer).unwrap_or_default().to_string();
        let good = of_node(&seen.node_ips, &seen.pod_cidrs, &host);
        ok &= good;
        lines.push(format!(
            "{} ({}, {} node): client {}",
            request.url,
            request.target,
            if request.same_node { "same" } else { "other" },
            answer.trim()
        ));
    }
    let own: Vec<&String> = seen
        .node_ips
        .iter()
        .filter(|ip| family_of_ip(ip).ok() == Some(family))
        .collect();
    ensure(
        ok,
        &format!(
            "the client address netexec's /clientip saw for requests from the hostNetwork pod {POD} (node {}) to pods on its own node and on another node at their {family} addresses",
            seen.node
        ),
        format!(
            "an answer from a pod on each node, each seeing an address of node {}: its InternalIP {} or its own address in its podCIDRs [{}] (no NAT)",
            seen.node,
            own.iter()
                .map(|s| s.as_str())
                .collect::<Vec<_>>()
                .join(", "),
            seen.pod_cidrs.join(", ")
        ),
        lines.join("\n"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn probe_containers_name_the_target_address() {
        let node = NodeRef {
            name: "w1".into(),
            hostname: "w1".into(),
        };
        let target = Running {
            namespace: "ns".into(),
            name: "backend-0".into(),
            container: "netexec".into(),
            node: "w1".into(),
            ips: vec!["10.244.1.5".into(), "fd00:10:244:1::5".into()],
        };
        let v = serde_json::to_value(node_agent_pod(&node, &target).unwrap()).unwrap();
        assert_eq!(v["spec"]["hostNetwork"], true);
        let c = &v["spec"]["containers"];
        assert_eq!(c[0]["name"], AGENT);
        assert_eq!(c[1]["name"], "http-ipv4");
        assert_eq!(c[1]["readinessProbe"]["httpGet"]["host"], "10.244.1.5");
        assert_eq!(c[2]["readinessProbe"]["tcpSocket"]["port"], 8080);
        assert_eq!(
            c[4]["readinessProbe"]["tcpSocket"]["host"],
            "fd00:10:244:1::5"
        );
        assert_eq!(c[4]["name"], "tcp-ipv6");
    }

    #[test]
    fn node_addresses_and_own_pod_range_are_not_nat() {
        let ips = [
            "172.18.0.3".to_string(),
            "fc00:f853:ccd:e793::3".to_string(),
        ];
        let cidrs = [
            "10.244.1.0/24".to_string(),
            "fd00:10:244:1::/64".to_string(),
        ];
        assert!(of_node(&ips, &cidrs, "172.18.0.3"));
        assert!(of_node(&ips, &cidrs, "10.244.1.1"));
        assert!(of_node(&ips, &cidrs, "fd00:10:244:1::1"));
        assert!(!of_node(&ips, &cidrs, "172.18.0.4"), "another node's");
        assert!(!of_node(&ips, &cidrs, "10.244.2.1"), "another node's range");
        assert!(!of_node(&ips, &cidrs, ""));
    }
}
