//! Service and pod traffic beyond one answering backend, from one setup (the scenario
//! `connectivity::traffic`): a PreferDualStack Service `traffic` with a TCP port (80 -> 8080) and a UDP port
//! (90 -> 8081) over two agnhost `netexec` backends on two nodes, and a client pod of two containers (busybox
//! and a netexec sidecar). Three pods serve six checks:
//!
//! - containers of a pod reach each other on localhost (busybox -> the sidecar's 127.0.0.1:8080);
//! - per family, the ClusterIP spreads connections over both ready endpoints;
//! - per family, the Service's UDP port answers from every backend (netexec's `/dial`, sent from the
//!   sidecar): the kube-proxy page's "round robin TCP, UDP, and SCTP forwarding across a set of backends";
//! - the ClusterIP stays the same across an update of the Service that changes its endpoints;
//! - per family, with `internalTrafficPolicy` unset (defaulted to Cluster), a client reaches the endpoint
//!   on another node as well as the one on its own node;
//! - a fourth pod, the hostNetwork `node-agent` beside backend-0, serves the node-to-pod checks of
//!   `node_agents` (the kubelet's probes, a hostNetwork pod's requests).
//!
//! upstream: pkg/proxy/iptables/proxier.go and pkg/proxy/nftables/proxier.go (one rule set per Service port
//! and protocol, TCP, UDP and SCTP alike; each new connection picks an endpoint at random: iptables
//! `-m statistic --mode random --probability 1/n` per endpoint, nftables `numgen random mod n`);
//! pkg/registry/core/service/storage/alloc.go `allocUpdate` (an update allocates only a family being added
//! and releases only one being dropped: the ClusterIPs are kept); pkg/kubelet/kuberuntime
//! `createPodSandbox` (one sandbox, and with it one network namespace, per pod, which every container
//! joins); test/images/agnhost/netexec/netexec.go (`/hostname`, `--udp-port` (8081) serving the UDP
//! commands `hostname`, `echo` and `clientip`, and `/dial?request=hostname&protocol=udp&host=H&port=P&tries=1`,
//! which sends the UDP request and answers `{"responses":[..]}` or `{"errors":[..]}`; upstream's e2e reaches
//! UDP Services the same way: test/e2e/framework/network/utils.go `DialFromContainer`);
//! pkg/apis/core/v1/defaults.go `SetDefaults_Service` (`internalTrafficPolicy` defaults to Cluster),
//! pkg/proxy/topology.go `CategorizeEndpoints` (with Cluster every ready endpoint is usable, on any node).

use std::collections::BTreeSet;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{Patch, PatchParams};
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use crate::family::trials;
use crate::pods::from_json;
use crate::shared::services::{SvcView, get_service};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip};
use netconform::preflight::Need;
use netconform::retry::retrying;
use netconform::scenario::{Computed, Scenario, Scene};
use netconform::trial::TrialDef;
use netconform::wait::Expect;

use super::node_agents::{self, NodeAgents};
use crate::shared::listing;
use crate::shared::probe::{
    self, AGNHOST, CLIENT_CONTAINER, CLIENT_IMAGE, NodeRef, Probe, REACHABLE, Reply, Running,
};

const SERVICE_PAGE: &str = "https://kubernetes.io/docs/concepts/services-networking/service/";
const KUBE_PROXY_PAGE: &str =
    "https://kubernetes.io/docs/reference/command-line-tools-reference/kube-proxy/";
const CONNECT_PAGE: &str =
    "https://kubernetes.io/docs/tutorials/services/connect-applications-service/";
const TRAFFIC_POLICY_PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/service-traffic-policy/";
const POD_NETWORKING_PAGE: &str =
    "https://kubernetes.io/docs/concepts/workloads/pods/#pod-networking";

const NEEDS: [Need; 2] = [Need::ServiceAddresses(1), Need::SchedulableNodes(2)];

pub const TRIALS: &[TrialDef] = trials![
    TrialDef {
        name: "connectivity::pod_network::containers_share_localhost",
        claim: "containers of a Pod share its network namespace and reach each other on localhost: a busybox container gets the answer of its pod's netexec sidecar at 127.0.0.1 (seed row [P4])",
        doc_url: POD_NETWORKING_PAGE,
        needs: &NEEDS,
        run: |ctx| Box::pin(containers_share_localhost(ctx)),
    },
    per_family {
        name: "connectivity::load_balancing",
        claim: [
            "a Service load-balances over its pods: connections to its ",
            " ClusterIP reach every ready endpoint, not one (two backends, up to 40 requests) (seed row [P15])",
        ],
        doc_url: SERVICE_PAGE,
        needs: [Need::ServiceAddresses(1), Need::SchedulableNodes(2)],
        run: load_balancing,
    },
    per_family {
        name: "connectivity::udp_service",
        claim: [
            "kube-proxy forwards UDP across a set of backends: datagrams to a Service's UDP port at its ",
            " ClusterIP reach every ready endpoint, whose answers come back (two backends, up to 40 requests) (seed row [P70])",
        ],
        doc_url: KUBE_PROXY_PAGE,
        needs: [Need::ServiceAddresses(1), Need::SchedulableNodes(2)],
        run: udp_service,
    },
    per_family {
        name: "connectivity::internal_traffic_policy_cluster",
        claim: [
            "when `.spec.internalTrafficPolicy` is Cluster or unset, kube-proxy selects all Service endpoints: a pod reaches the endpoints on its own node and on another node through the ",
            " ClusterIP of a Service that leaves the policy unset (defaulted to Cluster) (seed row [P56])",
        ],
        doc_url: TRAFFIC_POLICY_PAGE,
        needs: [Need::ServiceAddresses(1), Need::SchedulableNodes(2)],
        run: cluster_reaches_every_endpoint,
    },
    TrialDef {
        name: "connectivity::cluster_ip_lifetime::kept_across_update",
        claim: "a Service's clusterIP is tied to its lifespan and does not change while the Service exists: an update of its selector, and the endpoint change that follows, leave its clusterIPs as they were, and the clusterIP still answers (seed row [P63])",
        doc_url: CONNECT_PAGE,
        needs: &NEEDS,
        run: |ctx| Box::pin(kept_across_update(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::PodContainersSeparateNetns,
        &["connectivity::pod_network::containers_share_localhost"],
    ),
    (
        Deviation::ServiceSingleEndpoint,
        &[
            "connectivity::internal_traffic_policy_cluster::ipv4",
            "connectivity::internal_traffic_policy_cluster::ipv6",
            "connectivity::load_balancing::ipv4",
            "connectivity::load_balancing::ipv6",
            "connectivity::udp_service::ipv4",
            "connectivity::udp_service::ipv6",
        ],
    ),
    (
        Deviation::EndpointsUseServicePort,
        &[
            "connectivity::internal_traffic_policy_cluster::ipv4",
            "connectivity::internal_traffic_policy_cluster::ipv6",
            "connectivity::load_balancing::ipv4",
            "connectivity::load_balancing::ipv6",
            "connectivity::udp_service::ipv4",
            "connectivity::udp_service::ipv6",
            "connectivity::cluster_ip_lifetime::kept_across_update",
        ],
    ),
    (
        Deviation::EndpointsliceMissingIpv6,
        &[
            "connectivity::internal_traffic_policy_cluster::ipv6",
            "connectivity::load_balancing::ipv6",
            "connectivity::udp_service::ipv6",
        ],
    ),
    (
        Deviation::ServiceIpv6Unreachable,
        &[
            "connectivity::internal_traffic_policy_cluster::ipv6",
            "connectivity::load_balancing::ipv6",
            "connectivity::udp_service::ipv6",
        ],
    ),
    (
        Deviation::PodToPodIpv6Dropped,
        &[
            "connectivity::internal_traffic_policy_cluster::ipv6",
            "connectivity::load_balancing::ipv6",
            "connectivity::udp_service::ipv6",
        ],
    ),
    (
        Deviation::ServiceUdpNotProxied,
        &[
            "connectivity::udp_service::ipv4",
            "connectivity::udp_service::ipv6",
        ],
    ),
    (
        Deviation::ServiceIpReallocatedOnSelectorChange,
        &["connectivity::cluster_ip_lifetime::kept_across_update"],
    ),
];

const SERVICE: &str = "traffic";
const HTTP_PORT: u16 = 80;
const UDP_PORT: u16 = 90;
/// netexec's HTTP and UDP ports (its defaults).
const NETEXEC_HTTP: u16 = 8080;
const NETEXEC_UDP: u16 = 8081;
const SIDECAR: &str = "sidecar";
/// The backends: `(name, slot label)`.
const BACKENDS: [(&str, &str); 2] = [("backend-0", "0"), ("backend-1", "1")];
/// Requests to the ClusterIP until both backends answered. Each connection picks one of the two endpoints
/// at random with probability 1/2 (iptables `statistic --mode random`, nftables `numgen random`), so 40
/// in a row at one backend on a spreading kube-proxy has probability 2 * 2^-40 = 2^-39 (below 2e-12);
/// IPVS's round robin alternates at once. Against that, a kube-proxy that sends all to one endpoint fails
/// after 40 requests, a few seconds.
const SPREAD_REQUESTS: usize = 40;

/// What one family showed.
struct FamilyTraffic {
    family: IpFamily,
    /// The Service's ClusterIP of the family.
    cluster_ip: Result<String, TrialError>,
    /// Who answered each request to the ClusterIP's `/hostname`, in order.
    spread: Result<Vec<String>, TrialError>,
    /// Who answered each UDP `hostname` request to the ClusterIP's UDP port, in order.
    udp: Result<Vec<String>, TrialError>,
}

/// The ClusterIPs before and after the selector update, and who answered at the primary one afterwards.
struct Lifetime {
    before: Vec<String>,
    after: Vec<String>,
    answered: String,
}

pub(super) struct Traffic {
    client: String,
    /// The client's node.
    client_node: String,
    backends: Vec<String>,
    /// `(name, node)` of each backend.
    backend_nodes: Vec<(String, String)>,
    /// The Service's `spec.internalTrafficPolicy` as created (the apiserver's default).
    internal_traffic_policy: Option<String>,
    /// The sidecar's `/hostname` answer to the busybox container at 127.0.0.1.
    localhost: Result<String, TrialError>,
    families: Vec<FamilyTraffic>,
    lifetime: Result<Lifetime, TrialError>,
    /// What the hostNetwork node agent showed (`node_agents`).
    pub(super) node_agents: Result<NodeAgents, TrialError>,
}

/// Parts of the scenario's log: 0 setup, 1 localhost, then per family (IPv4, IPv6) its spread and its UDP
/// request, then the update, last the node agent's.
const PART_SETUP: usize = 0;
const PART_LOCALHOST: usize = 1;
const PART_LIFETIME: usize = 6;
pub(super) const PART_NODE_AGENTS: usize = 7;

fn family_part(family: IpFamily, udp: bool) -> usize {
    let at = match family {
        IpFamily::IPv4 => 2,
        IpFamily::IPv6 => 4,
    };
    at + usize::from(udp)
}

static TRAFFIC: Scenario<Result<Traffic, TrialError>> = Scenario {
    name: "connectivity::traffic",
    compute: |scene| Box::pin(run_traffic(scene)),
};

fn service() -> Result<Service, TrialError> {
    from_json(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": SERVICE},
        "spec": {
            "ipFamilyPolicy": "PreferDualStack",
            "selector": {"app": SERVICE},
            "ports": [
                {"name": "http", "protocol": "TCP", "port": HTTP_PORT, "targetPort": NETEXEC_HTTP},
                {"name": "udp", "protocol": "UDP", "port": UDP_PORT, "targetPort": NETEXEC_UDP}
            ]
        }
    }))
}

/// netexec serving HTTP and UDP on its default ports.
fn netexec(name: &str) -> serde_json::Value {
    json!({"name": name, "image": AGNHOST,
        "args": ["netexec", format!("--http-port={NETEXEC_HTTP}"), format!("--udp-port={NETEXEC_UDP}")]})
}

fn pinned(
    name: &str,
    node: &NodeRef,
    labels: serde_json::Value,
    containers: serde_json::Value,
) -> Result<Pod, TrialError> {
    from_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": {
            "nodeSelector": {"kubernetes.io/hostname": node.hostname},
            // busybox's `sleep` as PID 1 ignores SIGTERM: no 30 s grace to wait out when the scenario's
            // namespace goes, which its readers wait for.
            "terminationGracePeriodSeconds": 0,
            "containers": containers
        }
    }))
}

/// The client: busybox (the probes' `wget`) and a netexec sidecar, in one pod.
fn client_pod(node: &NodeRef) -> Result<Pod, TrialError> {
    let busybox =
        json!({"name": CLIENT_CONTAINER, "image": CLIENT_IMAGE, "command": ["sleep", "3600"]});
    pinned(
        "client",
        node,
        json!({}),
        json!([busybox, netexec(SIDECAR)]),
    )
}

async fn run_traffic(scene: &mut Scene) -> Result<Traffic, TrialError> {
    let ctx = scene.ctx().clone();
    let nodes = probe::schedulable_nodes(&ctx).await?;
    let [first, second, ..] = nodes.as_slice() else {
        // Preflight asked for two (`Need::SchedulableNodes`); one went away since.
        return Err(TrialError::Harness(format!(
            "two schedulable nodes are needed, {} found",
            nodes.len()
        )));
    };
    let svc = ctx.create(&service()?).await?;
    let before = SvcView::of(&svc).cluster_ips;
    let internal_traffic_policy = svc
        .spec
        .as_ref()
        .and_then(|s| s.internal_traffic_policy.clone());
    ctx.log(format!(
        "service {SERVICE}: clusterIPs [{}]",
        before.join(", ")
    ));
    let mut pods = Vec::new();
    for ((name, slot), node) in BACKENDS.iter().zip([first, second]) {
        let labels = json!({"app": SERVICE, "slot": slot});
        pods.push(pinned(name, node, labels, json!([netexec("netexec")]))?);
    }
    pods.push(client_pod(first)?);
    let mut running = probe::start(&ctx, None, &pods).await?;
    let Some(client) = running.pop() else {
        return Err(TrialError::Harness("starting the client".into()));
    };
    let backends = running;
    // The node agent starts now and is read last, so its pod starts while the other parts run.
    let agent_created = match backends.first() {
        Some(target) => match node_agents::node_agent_pod(first, target) {
            Ok(pod) => ctx.create(&pod).await.map(|_| ()),
            Err(e) => Err(e),
        },
        None => Err(TrialError::Harness("starting the backends".into())),
    };
    scene.end_part();

    let localhost = probe::fetch(
        &ctx,
        &client,
        &probe::url("127.0.0.1", NETEXEC_HTTP, "/hostname"),
        &format!("the {SIDECAR} container of pod client"),
    )
    .await;
    scene.end_part();

    let mut families = Vec::new();
    for family in [IpFamily::IPv4, IpFamily::IPv6] {
        let cluster_ip = before
            .iter()
            .find(|ip| family_of_ip(ip).ok() == Some(family))
            .cloned()
            .ok_or_else(|| TrialError::Mismatch {
                what: format!("the clusterIPs of the PreferDualStack Service {SERVICE}"),
                expected: format!("an {family} ClusterIP"),
                observed: format!("[{}]", before.join(", ")),
            });
        let ready = match &cluster_ip {
            Ok(_) => wait_backends(&ctx, &backends, family).await,
            Err(e) => Err(e.clone()),
        };
        let spread = match (&cluster_ip, &ready) {
            (Ok(ip), Ok(())) => spread(&ctx, &client, &backends, ip).await,
            (_, Err(e)) => Err(e.clone()),
            (Err(e), _) => Err(e.clone()),
        };
        scene.end_part();
        let udp = match (&cluster_ip, &ready) {
            (Ok(ip), Ok(())) => udp_spread(&ctx, &client, &backends, ip).await,
            (_, Err(e)) => Err(e.clone()),
            (Err(e), _) => Err(e.clone()),
        };
        scene.end_part();
        families.push(FamilyTraffic {
            family,
            cluster_ip,
            spread,
            udp,
        });
    }

    let lifetime = update_selector(&ctx, &client, &backends, before).await;
    scene.end_part();
    let node_agents = match agent_created {
        Ok(()) => Ok(node_agents::observe(&ctx, first, &backends).await),
        Err(e) => Err(e),
    };
    Ok(Traffic {
        client: client.name,
        client_node: client.node,
        backend_nodes: backends
            .iter()
            .map(|b| (b.name.clone(), b.node.clone()))
            .collect(),
        backends: backends.into_iter().map(|b| b.name).collect(),
        internal_traffic_policy,
        localhost,
        families,
        lifetime,
        node_agents,
    })
}

/// Waits until both backends are ready endpoints of `traffic` of `family`.
async fn wait_backends(
    ctx: &Ctx,
    backends: &[Running],
    family: IpFamily,
) -> Result<(), TrialError> {
    for backend in backends {
        probe::wait_ready_endpoint(ctx, SERVICE, family, &backend.ip(family)?).await?;
    }
    Ok(())
}

/// Requests to `cluster_ip`'s `/hostname` from the busybox container until every backend answered, at
/// most [`SPREAD_REQUESTS`]; who answered each.
async fn spread(
    ctx: &Ctx,
    client: &Running,
    backends: &[Running],
    cluster_ip: &str,
) -> Result<Vec<String>, TrialError> {
    let url = probe::url(cluster_ip, HTTP_PORT, "/hostname");
    let all: BTreeSet<&str> = backends.iter().map(|b| b.name.as_str()).collect();
    let mut answers = Vec::new();
    for _ in 0..SPREAD_REQUESTS {
        let answer = probe::fetch(ctx, client, &url, &format!("Service {SERVICE}")).await?;
        answers.push(answer.trim().to_string());
        let seen: BTreeSet<&str> = answers.iter().map(String::as_str).collect();
        if all.is_subset(&seen) {
            break;
        }
    }
    ctx.log(format!("{url}: answered by {}", answers.join(", ")));
    Ok(answers)
}

/// netexec's `/dial` answer: the UDP responses it got.
fn dial_responses(body: &str) -> Vec<String> {
    serde_json::from_str::<serde_json::Value>(body)
        .ok()
        .and_then(|v| {
            v["responses"].as_array().map(|r| {
                r.iter()
                    .filter_map(|s| s.as_str().map(str::to_string))
                    .collect()
            })
        })
        .unwrap_or_default()
}

/// UDP requests `hostname` to `cluster_ip`'s UDP port until every backend answered, at most
/// [`SPREAD_REQUESTS`] (each from a new socket, so a new conntrack entry and a new pick: the bound's
/// reasoning is [`SPREAD_REQUESTS`]'s); who answered each.
async fn udp_spread(
    ctx: &Ctx,
    client: &Running,
    backends: &[Running],
    cluster_ip: &str,
) -> Result<Vec<String>, TrialError> {
    let all: BTreeSet<&str> = backends.iter().map(|b| b.name.as_str()).collect();
    let mut answers = Vec::new();
    for _ in 0..SPREAD_REQUESTS {
        answers.push(udp_hostname(ctx, client, cluster_ip).await?);
        let seen: BTreeSet<&str> = answers.iter().map(String::as_str).collect();
        if all.is_subset(&seen) {
            break;
        }
    }
    ctx.log(format!(
        "{cluster_ip} port {UDP_PORT}/UDP: answered by {}",
        answers.join(", ")
    ));
    Ok(answers)
}

/// The sidecar sends the UDP request `hostname` to `cluster_ip`'s UDP port (netexec `/dial`, asked over
/// the sidecar's own loopback, so this does not depend on the containers sharing it); the answer, repeated
/// for the dataplane's programming budget.
async fn udp_hostname(ctx: &Ctx, client: &Running, cluster_ip: &str) -> Result<String, TrialError> {
    let sidecar = Running {
        container: SIDECAR.into(),
        ..client.clone()
    };
    let url = probe::url(
        "127.0.0.1",
        NETEXEC_HTTP,
        &format!("/dial?request=hostname&protocol=udp&host={cluster_ip}&port={UDP_PORT}&tries=1"),
    );
    // netexec waits 5 s for the UDP answer: the HTTP request gets longer than that.
    let answered = Expect::that(
        format!(
            "a UDP answer from a backend of Service {SERVICE} ({cluster_ip} port {UDP_PORT}/UDP), as netexec's `/dial` reports it (`{{\"responses\":[..]}}`) in {}",
            sidecar.describe()
        ),
        |probe: &Probe| match &probe.reply {
            Reply::Answered(body) => !dial_responses(body).is_empty(),
            _ => false,
        },
    )
    .showing(Probe::outcome);
    let probe = ctx
        .eventually(
            REACHABLE,
            || probe::request(ctx, &sidecar, &url, 10),
            answered,
        )
        .await?;
    let responses = dial_responses(&probe.output.stdout);
    Ok(responses.join(","))
}

/// Narrows the Service's selector to backend-0 (an update of the Service), waits until its EndpointSlices
/// of the primary family list only backend-0 (the endpoint change), and reads the ClusterIPs again; the
/// primary ClusterIP must still answer, now from backend-0.
async fn update_selector(
    ctx: &Ctx,
    client: &Running,
    backends: &[Running],
    before: Vec<String>,
) -> Result<Lifetime, TrialError> {
    let (primary, family) = match before.first() {
        Some(ip) => (
            ip.clone(),
            family_of_ip(ip).map_err(|e| TrialError::Harness(e.to_string()))?,
        ),
        None => {
            return Err(TrialError::Mismatch {
                what: format!("spec.clusterIPs of Service {SERVICE}"),
                expected: "an allocated ClusterIP".into(),
                observed: "none".into(),
            });
        }
    };
    let (Some(kept), Some(_)) = (backends.first(), backends.get(1)) else {
        return Err(TrialError::Harness("starting the backends".into()));
    };
    let (kept_name, kept_slot) = BACKENDS[0];
    let api = ctx.api::<Service>();
    let patch = Patch::Merge(json!({"spec": {"selector": {"app": SERVICE, "slot": kept_slot}}}));
    let params = PatchParams::default();
    retrying(|| api.patch(SERVICE, &params, &patch))
        .await
        .map_err(TrialError::api(format!(
            "updating the selector of Service {SERVICE}"
        )))?;
    ctx.log(format!(
        "service {SERVICE}: selector narrowed to slot={kept_slot}"
    ));
    let only: BTreeSet<String> = [kept.ip(family)?].into();
    listing::wait_slices(ctx, SERVICE, family, &format!("only {kept_name}"), |l| {
        listing::lists_exactly(l, &only)
    })
    .await?;
    let after = SvcView::of(&get_service(ctx, SERVICE).await?).cluster_ips;
    ctx.log(format!(
        "service {SERVICE}: clusterIPs [{}]",
        after.join(", ")
    ));
    // The ClusterIP still answers, from the one endpoint left once the dataplane follows the slice.
    let answered = probe::fetch_from(
        ctx,
        client,
        &probe::url(&primary, HTTP_PORT, "/hostname"),
        kept_name,
    )
    .await?;
    Ok(Lifetime {
        before,
        after,
        answered: answered.trim().to_string(),
    })
}

/// This run's scenario, with the log of the parts up to `part` (the setup's first).
pub(super) async fn read_traffic(
    ctx: &Ctx,
    part: usize,
) -> Result<Arc<Computed<Result<Traffic, TrialError>>>, TrialError> {
    traffic(ctx, part).await
}

async fn traffic(
    ctx: &Ctx,
    part: usize,
) -> Result<Arc<Computed<Result<Traffic, TrialError>>>, TrialError> {
    let computed = TRAFFIC.read(ctx, PART_SETUP..=part).await?;
    Ok(computed)
}

fn of_family(traffic: &Traffic, family: IpFamily) -> Result<&FamilyTraffic, TrialError> {
    traffic
        .families
        .iter()
        .find(|f| f.family == family)
        .ok_or_else(|| TrialError::Harness(format!("the scenario has no {family} part")))
}

async fn containers_share_localhost(ctx: Ctx) -> Result<(), TrialError> {
    let shared = traffic(&ctx, PART_LOCALHOST).await?;
    let traffic = shared.outcome()?;
    let answer = traffic.localhost.clone()?;
    ensure(
        answer.trim() == traffic.client,
        &format!(
            "who answered http://127.0.0.1:{NETEXEC_HTTP}/hostname in container {CLIENT_CONTAINER} of pod {}",
            traffic.client
        ),
        format!(
            "the {SIDECAR} container's netexec: the pod's hostname {}",
            traffic.client
        ),
        answer.trim(),
    )
}

/// Every backend is among `answers` (who answered each request `what` names).
fn every_backend_answered(
    traffic: &Traffic,
    answers: &[String],
    what: &str,
) -> Result<(), TrialError> {
    let answered: BTreeSet<&str> = answers.iter().map(String::as_str).collect();
    let all: BTreeSet<&str> = traffic.backends.iter().map(String::as_str).collect();
    ensure(
        all.is_subset(&answered),
        what,
        format!("every backend: {}", traffic.backends.join(", ")),
        format!(
            "{} requests, answered by {}",
            answers.len(),
            answers.join(", ")
        ),
    )
}

async fn load_balancing(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let shared = traffic(&ctx, family_part(family, false)).await?;
    let traffic = shared.outcome()?;
    let seen = of_family(traffic, family)?;
    let cluster_ip = seen.cluster_ip.clone()?;
    every_backend_answered(
        traffic,
        &seen.spread.clone()?,
        &format!(
            "who answered up to {SPREAD_REQUESTS} requests to {} (Service {SERVICE}, two ready endpoints)",
            probe::url(&cluster_ip, HTTP_PORT, "/hostname")
        ),
    )
}

async fn udp_service(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let shared = traffic(&ctx, family_part(family, true)).await?;
    let traffic = shared.outcome()?;
    let seen = of_family(traffic, family)?;
    let cluster_ip = seen.cluster_ip.clone()?;
    every_backend_answered(
        traffic,
        &seen.udp.clone()?,
        &format!(
            "who answered up to {SPREAD_REQUESTS} UDP requests `hostname` to {cluster_ip} port {UDP_PORT}/UDP (Service {SERVICE}, two ready endpoints)"
        ),
    )
}

async fn cluster_reaches_every_endpoint(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let shared = traffic(&ctx, family_part(family, false)).await?;
    let traffic = shared.outcome()?;
    let policy = traffic.internal_traffic_policy.as_deref();
    ensure(
        matches!(policy, None | Some("Cluster")),
        &format!("spec.internalTrafficPolicy of Service {SERVICE}, created without it"),
        "Cluster (the default) or unset",
        policy.unwrap_or_default(),
    )?;
    let local = traffic
        .backend_nodes
        .iter()
        .filter(|(_, node)| *node == traffic.client_node)
        .count();
    ensure(
        local >= 1 && local < traffic.backend_nodes.len(),
        &format!("where the backends of Service {SERVICE} run"),
        format!(
            "one on the client's node {} and one on another node",
            traffic.client_node
        ),
        traffic
            .backend_nodes
            .iter()
            .map(|(b, n)| format!("{b} on {n}"))
            .collect::<Vec<_>>()
            .join(", "),
    )?;
    let seen = of_family(traffic, family)?;
    let cluster_ip = seen.cluster_ip.clone()?;
    every_backend_answered(
        traffic,
        &seen.spread.clone()?,
        &format!(
            "who answered up to {SPREAD_REQUESTS} requests from pod {} (node {}) to {} (Service {SERVICE}, internalTrafficPolicy {}, endpoints on two nodes)",
            traffic.client,
            traffic.client_node,
            probe::url(&cluster_ip, HTTP_PORT, "/hostname"),
            policy.unwrap_or("unset")
        ),
    )
}

async fn kept_across_update(ctx: Ctx) -> Result<(), TrialError> {
    let shared = traffic(&ctx, PART_LIFETIME).await?;
    let traffic = shared.outcome()?;
    let lifetime = match &traffic.lifetime {
        Ok(l) => l,
        Err(e) => return Err(e.clone()),
    };
    ensure(
        lifetime.after == lifetime.before,
        &format!(
            "spec.clusterIPs of Service {SERVICE} after its selector was updated and its endpoints changed"
        ),
        format!("as at creation: [{}]", lifetime.before.join(", ")),
        format!("[{}]", lifetime.after.join(", ")),
    )?;
    let kept = BACKENDS[0].0;
    ensure(
        lifetime.answered == kept,
        &format!(
            "who answered at the clusterIP {} after the update",
            lifetime
                .before
                .first()
                .map(String::as_str)
                .unwrap_or_default()
        ),
        kept,
        lifetime.answered.as_str(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dial_answers_parse() {
        assert_eq!(
            dial_responses(r#"{"responses":["backend-0"]}"#),
            ["backend-0"]
        );
        assert!(dial_responses(r#"{"errors":["reading from udp connection failed."]}"#).is_empty());
        assert!(dial_responses("NOW: 2026").is_empty());
    }

    #[test]
    fn the_service_has_a_tcp_and_a_udp_port() {
        let v = serde_json::to_value(service().unwrap()).unwrap();
        assert_eq!(v["spec"]["ports"][1]["protocol"], "UDP");
        assert_eq!(v["spec"]["ports"][1]["targetPort"], 8081);
        assert_eq!(v["spec"]["ipFamilyPolicy"], "PreferDualStack");
    }

    #[test]
    fn parts_are_distinct() {
        let parts: BTreeSet<usize> = [
            PART_SETUP,
            PART_LOCALHOST,
            family_part(IpFamily::IPv4, false),
            family_part(IpFamily::IPv4, true),
            family_part(IpFamily::IPv6, false),
            family_part(IpFamily::IPv6, true),
            PART_LIFETIME,
            PART_NODE_AGENTS,
        ]
        .into();
        assert_eq!(parts.len(), 8);
    }
}
