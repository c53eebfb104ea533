//! Traffic across the cluster's edge, from one setup (the scenario `connectivity::outside`): one agnhost
//! `netexec` backend pod on a worker (with a hostPort), three Services over it (NodePort with
//! `externalTrafficPolicy: Local`, NodePort with the default Cluster policy, and a LoadBalancer where the
//! cluster has a controller), and the run's client outside the cluster (`netconform::outside`: on kind an
//! agnhost container on the nodes' docker network). Per IP family:
//!
//! - the NodePort answers on every node's InternalIP from outside [P11];
//! - the same Service's ClusterIP does not answer there (once its NodePort answered the same client) [P10];
//! - with `externalTrafficPolicy: Local` the node with the endpoint answers and the backend sees the
//!   client's own address; the other nodes (which answered the Cluster Service created after it) do not
//!   [P69];
//! - the hostPort forwards the node's port to the pod [P28];
//! - the pod reaches the listener outside, which sees the pod's node address (source NAT) [A16];
//! - the LoadBalancer Service gets a nodePort and answers on its external IP [P12, D14].
//!
//! upstream: pkg/proxy/iptables/proxier.go and pkg/proxy/nftables/proxier.go (NodePorts on the node's
//! addresses of each family, pkg/proxy/util/nodeport_addresses.go; `KUBE-EXT-*`: "masquerade traffic for
//! ... external destinations" only with externalTrafficPolicy Cluster, and with Local "has no local
//! endpoints" is a DROP; ClusterIPs are matched by destination only, so only what routes to a node reaches
//! them: kind's docker network routes nothing of the service range); containernetworking/plugins
//! plugins/meta/portmap (DNAT of `hostPort` to the pod, on the addresses of the family; SNAT only for
//! hairpin and localhost traffic); kindnetd (kubernetes-sigs/kind images/kindnetd/cmd/kindnetd/masq.go:
//! `ip-masq-agent`-like rules masquerade pod traffic to every destination outside the cluster's pod
//! ranges, both families); cloud-provider-kind / MetalLB (the external IP forwards to the Service).

use std::net::IpAddr;
use std::sync::Arc;

use futures::future::join_all;
use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::ResourceExt;
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use crate::family::trials;
use crate::pods::from_json;
use crate::shared::nodes::list_nodes;
use crate::shared::outside as client;
use crate::shared::probe::{self, AGNHOST, NodeRef, Running, remote_host, url};
use crate::shared::services::get_service;
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip, parse_ip};
use netconform::outside::Host;
use netconform::preflight::{Need, node_info};
use netconform::scenario::{Computed, Scenario, Scene};
use netconform::trial::TrialDef;
use netconform::wait::{budgets, conditions};

const SERVICE_PAGE: &str = "https://kubernetes.io/docs/concepts/services-networking/service/";
const DUAL_STACK_PAGE: &str = "https://kubernetes.io/docs/concepts/services-networking/dual-stack/";
const POD_PAGE: &str = "https://kubernetes.io/docs/concepts/workloads/pods/#pod-networking";

pub const TRIALS: &[TrialDef] = trials![
    per_family {
        name: "connectivity::node_port_from_outside",
        claim: [
            "a NodePort Service answers at `<NodeIP>:<NodePort>` from outside the cluster on every node: a client on the nodes' network gets the backend's answer at each node's ",
            " InternalIP (seed row [P11])",
        ],
        doc_url: SERVICE_PAGE,
        needs: [
            Need::ExternalClient,
            Need::ServiceAddresses(3),
            Need::SchedulableNodes(1)
        ],
        run: node_port,
    },
    per_family {
        name: "connectivity::cluster_ip_from_outside",
        claim: [
            "a ClusterIP is reachable only inside the cluster: the ",
            " ClusterIP of a Service whose NodePort answers a client outside the cluster does not answer that client (seed row [P10])",
        ],
        doc_url: SERVICE_PAGE,
        needs: [
            Need::ExternalClient,
            Need::ServiceAddresses(3),
            Need::SchedulableNodes(1)
        ],
        run: cluster_ip_unreachable,
    },
    per_family {
        name: "connectivity::external_traffic_policy_local",
        claim: [
            "externalTrafficPolicy: Local keeps external traffic on the node that received it: from outside the cluster, at each node's ",
            " InternalIP, the node with the endpoint answers and the backend sees the client's own address; nodes without one do not answer (seed row [P69])",
        ],
        doc_url: SERVICE_PAGE,
        needs: [
            Need::ExternalClient,
            Need::ServiceAddresses(3),
            Need::SchedulableNodes(1)
        ],
        run: external_traffic_policy_local,
    },
    per_family {
        name: "connectivity::host_port",
        claim: [
            "a container's hostPort forwards that port of its node to the pod (the portmap plugin): a client outside the cluster gets the pod's answer at its node's ",
            " InternalIP (seed row [P28])",
        ],
        doc_url: POD_PAGE,
        needs: [
            Need::ExternalClient,
            Need::ServiceAddresses(3),
            Need::SchedulableNodes(1)
        ],
        run: host_port,
    },
    per_family {
        name: "connectivity::load_balancer_from_outside",
        claim: [
            "a LoadBalancer Service is a NodePort Service with an external load balancer: it gets a nodePort, and its ",
            " EXTERNAL-IP (status.loadBalancer.ingress) answers a client outside the cluster (seed rows [P12], [D14])",
        ],
        doc_url: SERVICE_PAGE,
        needs: [
            Need::ExternalClient,
            Need::LoadBalancer,
            Need::ServiceAddresses(3),
            Need::SchedulableNodes(1)
        ],
        run: load_balancer,
    },
    per_family {
        name: "connectivity::pod_egress_source_nat",
        claim: [
            "pods reach destinations outside the cluster over ",
            ", source-NATed (masqueraded) to their node's address: a listener outside the cluster sees the pod's node InternalIP (seed row [A16])",
        ],
        doc_url: DUAL_STACK_PAGE,
        needs: [
            Need::ExternalClient,
            Need::ServiceAddresses(3),
            Need::SchedulableNodes(1)
        ],
        run: source_nat,
    },
];

/// The test double's deviations that must fail these trials: exactly these (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::ClusterIpRoutedExternally,
        &[
            "connectivity::cluster_ip_from_outside::ipv4",
            "connectivity::cluster_ip_from_outside::ipv6",
        ],
    ),
    (
        Deviation::ExternalTrafficPolicyIgnored,
        &[
            "connectivity::external_traffic_policy_local::ipv4",
            "connectivity::external_traffic_policy_local::ipv6",
        ],
    ),
    (
        Deviation::HostPortNotForwarded,
        &[
            "connectivity::host_port::ipv4",
            "connectivity::host_port::ipv6",
        ],
    ),
    (
        Deviation::PodEgressNotMasqueraded,
        &[
            "connectivity::pod_egress_source_nat::ipv4",
            "connectivity::pod_egress_source_nat::ipv6",
        ],
    ),
    (
        Deviation::LbAddressNotServed,
        &[
            "connectivity::load_balancer_from_outside::ipv4",
            "connectivity::load_balancer_from_outside::ipv6",
        ],
    ),
    (
        Deviation::EndpointsUseServicePort,
        &[
            "connectivity::node_port_from_outside::ipv4",
            "connectivity::node_port_from_outside::ipv6",
            "connectivity::cluster_ip_from_outside::ipv4",
            "connectivity::cluster_ip_from_outside::ipv6",
            "connectivity::external_traffic_policy_local::ipv4",
            "connectivity::external_traffic_policy_local::ipv6",
            "connectivity::load_balancer_from_outside::ipv4",
            "connectivity::load_balancer_from_outside::ipv6",
        ],
    ),
    (
        Deviation::EndpointsliceMissingIpv6,
        &[
            "connectivity::node_port_from_outside::ipv6",
            "connectivity::cluster_ip_from_outside::ipv6",
            "connectivity::external_traffic_policy_local::ipv6",
            "connectivity::load_balancer_from_outside::ipv6",
        ],
    ),
    (
        // NodePort traffic received on one node crosses to the backend's node over the pod network.
        Deviation::PodToPodIpv6Dropped,
        &[
            "connectivity::node_port_from_outside::ipv6",
            "connectivity::external_traffic_policy_local::ipv6",
        ],
    ),
    (
        Deviation::NodeportIpv6NotServed,
        &[
            "connectivity::node_port_from_outside::ipv6",
            "connectivity::cluster_ip_from_outside::ipv6",
            "connectivity::external_traffic_policy_local::ipv6",
        ],
    ),
    (
        Deviation::NodeportOnlyOnEndpointNodes,
        &[
            "connectivity::node_port_from_outside::ipv4",
            "connectivity::node_port_from_outside::ipv6",
            "connectivity::external_traffic_policy_local::ipv4",
            "connectivity::external_traffic_policy_local::ipv6",
        ],
    ),
];

/// The Services: NodePort with the default (Cluster) external policy, NodePort with Local, LoadBalancer.
const CLUSTER_SVC: &str = "outside";
const LOCAL_SVC: &str = "outside-local";
const LB_SVC: &str = "outside-lb";
const BACKEND: &str = "backend";
const PORT: u16 = 80;
/// netexec's port in the backend.
const NETEXEC_PORT: u16 = 8080;
/// The backend's hostPort: outside the NodePort range (kube-proxy's NodePorts and portmap's DNAT on one
/// port would shadow each other).
const HOST_PORT: u16 = 28080;

/// A node address and what the client outside got there.
struct AtNode {
    node: String,
    ip: String,
    got: Result<String, TrialError>,
}

/// What one family showed.
struct Edge {
    family: IpFamily,
    /// The client's address of the family.
    host_ip: Result<String, TrialError>,
    /// `/hostname` at the Cluster Service's NodePort on each node.
    node_port: Result<Vec<AtNode>, TrialError>,
    /// The one request to the Cluster Service's ClusterIP: `(url, how it ended)`.
    cluster_ip: Result<(String, String), TrialError>,
    /// `/clientip` at the Local Service's NodePort on the endpoint's node.
    local_answer: Result<AtNode, TrialError>,
    /// The one request to the Local NodePort on each other node: how it ended.
    local_silent: Result<Vec<AtNode>, TrialError>,
    /// `/hostname` at the hostPort on the backend's node.
    host_port: Result<AtNode, TrialError>,
    /// `/clientip` at the listener outside, fetched by the backend pod.
    egress: Result<String, TrialError>,
    /// `(nodePort, URL, /hostname)` of the LoadBalancer Service's external IP.
    lb: Result<(i32, String, String), TrialError>,
}

struct Outside {
    host: Host,
    backend: Running,
    /// The backend node's InternalIPs.
    backend_node_ips: Vec<String>,
    families: Vec<Edge>,
}

/// Parts of the scenario's log: 0 setup, then one per family.
const PART_SETUP: usize = 0;

fn family_part(family: IpFamily) -> usize {
    match family {
        IpFamily::IPv4 => 1,
        IpFamily::IPv6 => 2,
    }
}

static OUTSIDE: Scenario<Result<Outside, TrialError>> = Scenario {
    name: "connectivity::outside",
    compute: |scene| Box::pin(run_outside(scene)),
};

fn service(name: &str, kind: &str, local: bool) -> Result<Service, TrialError> {
    let mut spec = json!({
        "type": kind,
        "ipFamilyPolicy": "PreferDualStack",
        "selector": {"app": CLUSTER_SVC},
        "ports": [{"name": "http", "protocol": "TCP", "port": PORT, "targetPort": NETEXEC_PORT}]
    });
    if local {
        spec["externalTrafficPolicy"] = json!("Local");
    }
    from_json(
        json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name}, "spec": spec}),
    )
}

fn backend_pod(node: &NodeRef) -> Result<Pod, TrialError> {
    from_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": BACKEND, "labels": {"app": CLUSTER_SVC}},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node.hostname},
            "terminationGracePeriodSeconds": 0,
            "containers": [{
                "name": "netexec", "image": AGNHOST,
                "args": ["netexec", format!("--http-port={NETEXEC_PORT}"), "--udp-port=-1"],
                "ports": [{"containerPort": NETEXEC_PORT, "hostPort": HOST_PORT, "protocol": "TCP"}]
            }]
        }
    }))
}

/// The `http` port's nodePort of a Service.
fn node_port_of(svc: &Service) -> Option<i32> {
    svc.spec.as_ref()?.ports.as_ref()?.first()?.node_port
}

fn of_family(ips: &[String], family: IpFamily) -> Option<String> {
    ips.iter()
        .find(|ip| family_of_ip(ip).ok() == Some(family))
        .cloned()
}

fn missing(what: &str, family: IpFamily, observed: String) -> TrialError {
    TrialError::Mismatch {
        what: what.to_string(),
        expected: format!("an {family} address"),
        observed,
    }
}

async fn run_outside(scene: &mut Scene) -> Result<Outside, TrialError> {
    let ctx = scene.ctx().clone();
    let workers = probe::schedulable_nodes(&ctx).await?;
    let Some(worker) = workers.first() else {
        return Err(TrialError::Harness("no schedulable node".into()));
    };
    // Local before Cluster: a node whose kube-proxy answers the Cluster Service has seen the Local one.
    let local = ctx.create(&service(LOCAL_SVC, "NodePort", true)?).await?;
    let cluster = ctx
        .create(&service(CLUSTER_SVC, "NodePort", false)?)
        .await?;
    let with_lb = ctx
        .capabilities()
        .unmet(Need::LoadBalancer, &ctx.run().settings, ctx.run().target)
        .is_none();
    if with_lb {
        ctx.create(&service(LB_SVC, "LoadBalancer", false)?).await?;
    }
    ctx.create(&backend_pod(worker)?).await?;
    let host = client::host(&ctx).await?;
    ctx.log(format!("started {}", client::describe(&host)));
    let backend = ctx.wait_pod_running(BACKEND).await?;
    let backend = Running::of(ctx.namespace(), &backend);
    let nodes = list_nodes(&ctx).await?;
    let backend_node_ips = nodes
        .iter()
        .find(|n| n.name_any() == backend.node)
        .map(|n| node_info(n).internal_ips)
        .unwrap_or_default();
    let ports = (node_port_of(&cluster), node_port_of(&local));
    ctx.log(format!(
        "services {CLUSTER_SVC} nodePort {:?}, {LOCAL_SVC} nodePort {:?}; backend {} on node IPs [{}]",
        ports.0,
        ports.1,
        backend.describe(),
        backend_node_ips.join(", ")
    ));
    scene.end_part();
    let mut families = Vec::new();
    for family in [IpFamily::IPv4, IpFamily::IPv6] {
        families.push(
            edge(
                &ctx,
                family,
                &host,
                &backend,
                &backend_node_ips,
                &nodes,
                ports,
                with_lb,
            )
            .await,
        );
        scene.end_part();
    }
    Ok(Outside {
        host,
        backend,
        backend_node_ips,
        families,
    })
}

/// Waits until the backend is a ready endpoint of `service` of `family`.
async fn ready(
    ctx: &Ctx,
    service: &str,
    backend: &Running,
    family: IpFamily,
) -> Result<(), TrialError> {
    probe::wait_ready_endpoint(ctx, service, family, &backend.ip(family)?).await
}

fn port(p: Option<i32>, service: &str) -> Result<u16, TrialError> {
    p.and_then(|p| u16::try_from(p).ok())
        .ok_or_else(|| TrialError::Mismatch {
            what: format!("the nodePort of Service {service}"),
            expected: "an allocated port".into(),
            observed: format!("{p:?}"),
        })
}

/// Every check of one family.
#[allow(clippy::too_many_arguments)]
async fn edge(
    ctx: &Ctx,
    family: IpFamily,
    host: &Host,
    backend: &Running,
    backend_node_ips: &[String],
    nodes: &[Node],
    ports: (Option<i32>, Option<i32>),
    with_lb: bool,
) -> Edge {
    let host_ip = host
        .addresses
        .iter()
        .map(IpAddr::to_string)
        .find(|a| family_of_ip(a).ok() == Some(family))
        .ok_or_else(|| {
            missing(
                "the addresses of the client outside the cluster",
                family,
                format!("{:?}", host.addresses),
            )
        });
    let at_nodes: Vec<(String, String)> = nodes
        .iter()
        .filter_map(|n| Some((n.name_any(), of_family(&node_info(n).internal_ips, family)?)))
        .collect();
    let prepared = async {
        let cluster_port = port(ports.0, CLUSTER_SVC)?;
        let local_port = port(ports.1, LOCAL_SVC)?;
        ready(ctx, LOCAL_SVC, backend, family).await?;
        ready(ctx, CLUSTER_SVC, backend, family).await?;
        if at_nodes.is_empty() {
            return Err(missing("the nodes' InternalIPs", family, "none".into()));
        }
        Ok((cluster_port, local_port))
    };
    let hostname = |body: &str| body.trim() == BACKEND;
    let fetch_at = |ip: String, port: u16, path: &'static str, node: String| async move {
        let target = url(&ip, port, path);
        let awaited = format!("an answer from the backend {BACKEND} (on node {node})");
        let got = client::fetch_until(ctx, &target, &awaited, |_| true).await;
        AtNode { node, ip, got }
    };
    let endpoint_ip = of_family(backend_node_ips, family).ok_or_else(|| {
        missing(
            &format!("the InternalIPs of node {}", backend.node),
            family,
            format!("{backend_node_ips:?}"),
        )
    });
    // Through the Services (once the backend is their ready endpoint), the hostPort and the way out, side
    // by side: none of them waits for another.
    let services = async {
        let (cluster_port, local_port) = prepared.await?;
        let every = join_all(
            at_nodes
                .iter()
                .map(|(node, ip)| fetch_at(ip.clone(), cluster_port, "/hostname", node.clone())),
        );
        let local = async {
            let ip = endpoint_ip.clone()?;
            Ok::<_, TrialError>(fetch_at(ip, local_port, "/clientip", backend.node.clone()).await)
        };
        let (every, local) = futures::join!(every, local);
        Ok::<_, TrialError>((every, local, local_port))
    };
    let host_port = async {
        let ip = endpoint_ip.clone()?;
        Ok::<_, TrialError>(fetch_at(ip, HOST_PORT, "/hostname", backend.node.clone()).await)
    };
    let egress = async {
        let target = url(
            host_ip.as_ref().map_err(Clone::clone)?,
            netconform::outside::LISTEN_PORT,
            "/clientip",
        );
        probe::fetch(ctx, backend, &target, "the listener outside the cluster").await
    };
    let (services, host_port, egress) = futures::join!(services, host_port, egress);
    let (node_port, local_answer, local_port) = match services {
        Ok((every, local, local_port)) => (Ok(every), local, Ok(local_port)),
        Err(e) => (Err(e.clone()), Err(e.clone()), Err(e)),
    };
    let answered_on = |node: &str| {
        node_port.as_ref().is_ok_and(|all| {
            all.iter()
                .any(|a| a.node == node && a.got.as_ref().is_ok_and(|b| hostname(b)))
        })
    };
    // The negative checks, once the same client got answers from the same Service's NodePort (and, for the
    // Local Service, from the node asked, through the Cluster Service created after it): one bounded request each.
    let cluster_ip = async {
        let svc = get_service(ctx, CLUSTER_SVC).await?;
        let ips = svc
            .spec
            .as_ref()
            .and_then(|s| s.cluster_ips.clone())
            .unwrap_or_default();
        let ip = of_family(&ips, family).ok_or_else(|| {
            missing(
                &format!("spec.clusterIPs of Service {CLUSTER_SVC}"),
                family,
                format!("{ips:?}"),
            )
        })?;
        if !at_nodes.iter().any(|(n, _)| answered_on(n)) {
            return Err(TrialError::Harness(format!(
                "no node answered Service {CLUSTER_SVC}'s NodePort from outside: the path to the ClusterIP was not proven"
            )));
        }
        let target = url(&ip, PORT, "/hostname");
        let probe = client::expect_no_answer(ctx, &target, &format!("is the {family} ClusterIP of Service {CLUSTER_SVC}, whose NodePort answered this client")).await?;
        Ok((target, format!("{:?}", probe.reply)))
    };
    let local_silent = async {
        let local_port = local_port.clone()?;
        let others = at_nodes.iter().filter(|(n, _)| *n != backend.node);
        let checks = others.map(|(node, ip)| async move {
            let got = if answered_on(node) {
                let target = url(ip, local_port, "/hostname");
                let why = format!("is node {node}, which has no endpoint of Service {LOCAL_SVC} (externalTrafficPolicy: Local)");
                client::expect_no_answer(ctx, &target, &why).await.map(|p| format!("{:?}", p.reply))
            } else {
                Err(TrialError::Harness(format!(
                    "node {node} did not answer Service {CLUSTER_SVC}'s NodePort from outside: its silence for {LOCAL_SVC} would prove nothing"
                )))
            };
            AtNode { node: node.clone(), ip: ip.clone(), got }
        });
        Ok(join_all(checks).await)
    };
    let lb = async {
        if !with_lb {
            return Err(TrialError::Harness(
                "no LoadBalancer controller: not computed".into(),
            ));
        }
        ready(ctx, LB_SVC, backend, family).await?;
        lb_answer(ctx, family).await
    };
    let (cluster_ip, local_silent, lb) = futures::join!(cluster_ip, local_silent, lb);
    Edge {
        family,
        host_ip,
        node_port,
        cluster_ip,
        local_answer,
        local_silent,
        host_port,
        egress,
        lb,
    }
}

/// The LoadBalancer Service's nodePort and the answer at its external IP of `family`.
async fn lb_answer(ctx: &Ctx, family: IpFamily) -> Result<(i32, String, String), TrialError> {
    let ingress = |s: &Service| -> Vec<String> {
        s.status
            .as_ref()
            .and_then(|st| st.load_balancer.as_ref())
            .and_then(|lb| lb.ingress.as_ref())
            .map(|i| i.iter().filter_map(|e| e.ip.clone()).collect())
            .unwrap_or_default()
    };
    let served = ctx
        .wait::<Service>(budgets::LOAD_BALANCER)
        .awaiting(format!(
            "an {family} EXTERNAL-IP for {LB_SVC} (status.loadBalancer.ingress)"
        ))
        .showing(move |s: &Service| {
            format!("service {LB_SVC}: ingress [{}]", ingress(s).join(", "))
        })
        .object(
            LB_SVC,
            conditions::holds(move |s: &Service| of_family(&ingress(s), family).is_some()),
        )
        .await?;
    let node_port = node_port_of(&served).ok_or_else(|| TrialError::Mismatch {
        what: format!("spec.ports[0].nodePort of the LoadBalancer Service {LB_SVC}"),
        expected: "an allocated nodePort".into(),
        observed: "none".into(),
    })?;
    let ip = of_family(&ingress(&served), family).unwrap_or_default();
    let target = url(&ip, PORT, "/hostname");
    let body = client::fetch_until(
        ctx,
        &target,
        &format!("an answer from the backend {BACKEND}"),
        |_| true,
    )
    .await?;
    Ok((node_port, target, body))
}

async fn outside(
    ctx: &Ctx,
    family: IpFamily,
) -> Result<Arc<Computed<Result<Outside, TrialError>>>, TrialError> {
    OUTSIDE.read(ctx, PART_SETUP..=family_part(family)).await
}

fn edge_of(outside: &Outside, family: IpFamily) -> Result<&Edge, TrialError> {
    outside
        .families
        .iter()
        .find(|e| e.family == family)
        .ok_or_else(|| TrialError::Harness(format!("the scenario has no {family} part")))
}

/// The answers at the nodes: every one `accept`s, or the first failure.
fn judge_nodes(
    answers: &[AtNode],
    what: &str,
    expected: &str,
    accept: impl Fn(&str) -> bool,
) -> Result<(), TrialError> {
    let mut seen = Vec::new();
    let mut wrong = false;
    for at in answers {
        match &at.got {
            Ok(body) => {
                wrong |= !accept(body);
                seen.push(format!("node {} ({}): {:?}", at.node, at.ip, body.trim()));
            }
            Err(e) => return Err(e.clone()),
        }
    }
    ensure(
        !wrong && !answers.is_empty(),
        what,
        expected,
        seen.join("\n"),
    )
}

async fn node_port(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let shared = outside(&ctx, family).await?;
    let seen = shared.outcome()?;
    let edge = edge_of(seen, family)?;
    let answers = edge.node_port.as_ref().map_err(Clone::clone)?;
    judge_nodes(
        answers,
        &format!(
            "HTTP from {} to Service {CLUSTER_SVC}'s nodePort on every node's {family} InternalIP",
            client::describe(&seen.host)
        ),
        &format!("every node answers with the backend's hostname {BACKEND}"),
        |b| b.trim() == BACKEND,
    )
}

async fn cluster_ip_unreachable(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let shared = outside(&ctx, family).await?;
    let edge = edge_of(shared.outcome()?, family)?;
    let (target, ended) = edge.cluster_ip.clone()?;
    ctx.log(format!("{target} from outside the cluster: {ended}"));
    Ok(())
}

async fn external_traffic_policy_local(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let shared = outside(&ctx, family).await?;
    let seen = shared.outcome()?;
    let edge = edge_of(seen, family)?;
    let host_ip = edge.host_ip.clone()?;
    let answer = edge.local_answer.as_ref().map_err(Clone::clone)?;
    let body = answer.got.clone()?;
    let source = remote_host(&body).and_then(|h| parse_ip(h).ok());
    ensure(
        source.is_some() && source == parse_ip(&host_ip).ok(),
        &format!(
            "the client address backend {BACKEND} saw for {} (Service {LOCAL_SVC}, externalTrafficPolicy: Local, on node {} with the endpoint)",
            url(&answer.ip, 0, "/clientip").replace(":0/", ":<nodePort>/"),
            answer.node
        ),
        format!("{host_ip} (the client outside the cluster, not source-NATed), any port"),
        body.trim(),
    )?;
    for silent in edge.local_silent.as_ref().map_err(Clone::clone)? {
        let ended = silent.got.clone()?;
        ctx.log(format!("node {} ({}): {ended}", silent.node, silent.ip));
    }
    Ok(())
}

async fn host_port(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let shared = outside(&ctx, family).await?;
    let edge = edge_of(shared.outcome()?, family)?;
    let at = edge.host_port.as_ref().map_err(Clone::clone)?;
    let body = at.got.clone()?;
    ensure(
        body.trim() == BACKEND,
        &format!(
            "who answered {} from outside the cluster (hostPort {HOST_PORT} of pod {BACKEND} on node {})",
            url(&at.ip, HOST_PORT, "/hostname"),
            at.node
        ),
        BACKEND,
        body.trim(),
    )
}

async fn load_balancer(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let shared = outside(&ctx, family).await?;
    let edge = edge_of(shared.outcome()?, family)?;
    let (node_port, target, body) = edge.lb.clone()?;
    ctx.log(format!("{LB_SVC}: nodePort {node_port}"));
    ensure(
        body.trim() == BACKEND,
        &format!(
            "who answered {target} (the {family} EXTERNAL-IP of {LB_SVC}) from outside the cluster"
        ),
        BACKEND,
        body.trim(),
    )
}

async fn source_nat(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let shared = outside(&ctx, family).await?;
    let seen = shared.outcome()?;
    let edge = edge_of(seen, family)?;
    let body = edge.egress.clone()?;
    let node_ip = of_family(&seen.backend_node_ips, family).ok_or_else(|| {
        missing(
            &format!("the InternalIPs of node {}", seen.backend.node),
            family,
            format!("{:?}", seen.backend_node_ips),
        )
    })?;
    let source = remote_host(&body).and_then(|h| parse_ip(h).ok());
    ensure(
        source.is_some() && source == parse_ip(&node_ip).ok(),
        &format!(
            "the client address the listener outside the cluster ({}) saw for `/clientip` from {}",
            client::describe(&seen.host),
            seen.backend.describe()
        ),
        format!(
            "{node_ip} (node {}'s {family} InternalIP: the pod's traffic masqueraded), any port",
            seen.backend.node
        ),
        body.trim(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn services_and_backend() {
        let local = serde_json::to_value(service(LOCAL_SVC, "NodePort", true).unwrap()).unwrap();
        assert_eq!(local["spec"]["externalTrafficPolicy"], "Local");
        assert_eq!(local["spec"]["ipFamilyPolicy"], "PreferDualStack");
        let cluster =
            serde_json::to_value(service(CLUSTER_SVC, "NodePort", false).unwrap()).unwrap();
        assert!(cluster["spec"]["externalTrafficPolicy"].is_null());
        let node = NodeRef {
            name: "w".into(),
            hostname: "w".into(),
        };
        let pod = serde_json::to_value(backend_pod(&node).unwrap()).unwrap();
        assert_eq!(pod["spec"]["containers"][0]["ports"][0]["hostPort"], 28080);
        assert!(!(30000..=32767).contains(&HOST_PORT));
    }
}
