//! The connectivity suite's probes: a busybox client pod on a chosen node fetching `http://IP:PORT/PATH`
//! with `wget`, and agnhost `netexec` backends on chosen nodes with chosen labels and port.
//!
//! - [`schedulable_nodes`] / [`schedulable`]: where pods can be pinned (by `kubernetes.io/hostname`).
//! - [`client_pod`] / [`netexec_pod`] build the pods, [`start`] / [`started`] create them and wait until
//!   they run (in the trial's namespace or another one, e.g. from `Ctx::extra_namespace`); [`start_pair`]
//!   is the usual client + backend on two different nodes.
//! - [`request`]: ONE bounded `wget -T`, classified as [`Reply::Answered`], [`Reply::Refused`],
//!   [`Reply::Dropped`], [`Reply::Unreachable`] or [`Reply::Failed`].
//! - [`fetch`]: the body of an answer, retried for the [`REACHABLE`] budget (the dataplane is programmed
//!   asynchronously).
//! - Negative results, each request waiting [`NO_ANSWER`] for an answer that must not come:
//!   [`expect_no_answer`] is ONE request, for a path no state of a conforming cluster ever answers (a
//!   Service whose only pod never became ready, a Local Service without a local endpoint: before kube-proxy
//!   programs it nothing answers either), so waiting could not change the verdict. [`eventually_no_answer`]
//!   retries for the [`REACHABLE`] budget until [`UNANSWERED_IN_A_ROW`] requests in a row go unanswered,
//!   for a path that answered until the caller changed something (a NetworkPolicy created) and that the
//!   dataplane closes asynchronously; such a caller first shows the path answering (with [`fetch`]).
//! - [`url`] brackets IPv6 addresses; [`remote_host`] reads netexec's `/clientip` answer;
//!   [`primary_cluster_ip`] is the address a client probes a Service at.
//!
//! upstream: test/images/agnhost/netexec/netexec.go (`/hostname` is the hostname, `/clientip` is
//! `r.RemoteAddr`); busybox networking/wget.c (`-T` timeout: `download timed out`; connect errors:
//! `can't connect to remote host (IP): <errno text>`); test/e2e/network/ (upstream's e2e pins client and
//! server with a node selector the same way).

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Pod, Service};
use kube::api::Api;
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::exec::{self, ExecOutput};
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip, parse_ip};
use netconform::preflight::is_schedulable;
use netconform::wait::{Budget, Expect, Pace, Paced};

use super::listing;
use super::nodes::list_nodes;
use crate::pods::{from_json, pod_ips};

/// The client image: the docs' busybox (its `wget` is the probe).
pub(crate) const CLIENT_IMAGE: &str = "busybox:1.28";
/// The server image upstream's e2e uses (test/utils/image/manifest.go `Agnhost`).
pub(crate) const AGNHOST: &str = "registry.k8s.io/e2e-test-images/agnhost:2.52";
/// The container name of [`client_pod`].
pub(crate) const CLIENT_CONTAINER: &str = "client";
/// The container name of [`netexec_pod`].
pub(crate) const NETEXEC_CONTAINER: &str = "netexec";
/// How long a request may keep failing before the path counts as broken: kube-proxy (and a network
/// plugin) program a new Service or policy within seconds; there is no object to watch for that.
/// A request is repeated after 0.5 s at first, backing off to 5 s.
pub(crate) const REACHABLE: Paced = Paced::new(
    Budget::new("dataplane-programming", 30),
    Pace::Backoff {
        first: Duration::from_millis(500),
        max: Duration::from_secs(5),
    },
);
/// `wget -T` of one attempt of [`fetch`].
pub(crate) const ATTEMPT_TIMEOUT_SECS: u64 = 5;
/// How long one request of [`expect_no_answer`] / [`eventually_no_answer`] waits for an answer that must
/// not come (one `wget -T`).
pub(crate) const NO_ANSWER: Budget = Budget::new("no-answer", 5);
/// How many requests in a row [`eventually_no_answer`] wants unanswered: one stray timeout (a lost SYN,
/// a busy node) on a path that still answers must not pass for the dataplane having closed it.
pub(crate) const UNANSWERED_IN_A_ROW: usize = 3;
/// Extra time the exec session gets beyond `wget -T` before the client gives up on it. busybox applies
/// `-T` to `connect()` and to every read (networking/wget.c `set_alarm` around `xconnect_stream`), so a
/// session still running then is stuck in the exec path, not in the network: its request ended
/// [`Reply::Failed`], never as a drop a negative check could take for the dataplane's answer.
pub(crate) const EXEC_GRACE: Duration = Duration::from_secs(10);

/// A node pods can be pinned to.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct NodeRef {
    /// `metadata.name`.
    pub name: String,
    /// The `kubernetes.io/hostname` label (what a nodeSelector pins by).
    pub hostname: String,
}

/// Schedulable nodes (no NoSchedule/NoExecute taint, not cordoned), sorted by name.
pub(crate) fn schedulable(nodes: &[Node]) -> Vec<NodeRef> {
    let mut out: Vec<NodeRef> = nodes
        .iter()
        .filter(|n| is_schedulable(n))
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            let hostname = n
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/hostname").cloned())
                .unwrap_or_else(|| name.clone());
            Some(NodeRef { name, hostname })
        })
        .collect();
    out.sort();
    out
}

/// The schedulable nodes of the cluster.
pub(crate) async fn schedulable_nodes(ctx: &Ctx) -> Result<Vec<NodeRef>, TrialError> {
    Ok(schedulable(&list_nodes(ctx).await?))
}

/// A busybox pod that sleeps, pinned to `node` when given, with `labels`.
pub(crate) fn client_pod(
    name: &str,
    node: Option<&NodeRef>,
    labels: &[(&str, &str)],
) -> Result<Pod, TrialError> {
    let container =
        json!({"name": CLIENT_CONTAINER, "image": CLIENT_IMAGE, "command": ["sleep", "3600"]});
    pod(name, node, labels, container)
}

/// An agnhost `netexec` pod serving HTTP on `port`, pinned to `node` when given, with `labels`.
pub(crate) fn netexec_pod(
    name: &str,
    node: Option<&NodeRef>,
    labels: &[(&str, &str)],
    port: u16,
) -> Result<Pod, TrialError> {
    let container = json!({"name": NETEXEC_CONTAINER, "image": AGNHOST,
        "args": ["netexec", format!("--http-port={port}")],
        "ports": [{"containerPort": port, "protocol": "TCP"}]});
    pod(name, node, labels, container)
}

fn pod(
    name: &str,
    node: Option<&NodeRef>,
    labels: &[(&str, &str)],
    container: serde_json::Value,
) -> Result<Pod, TrialError> {
    let labels: serde_json::Map<String, serde_json::Value> = labels
        .iter()
        .map(|(k, v)| (k.to_string(), json!(v)))
        .collect();
    let mut spec = json!({"containers": [container]});
    if let Some(node) = node {
        spec["nodeSelector"] = json!({"kubernetes.io/hostname": node.hostname});
    }
    from_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": labels},
        "spec": spec
    }))
}

/// A running pod a probe uses: where it runs and its addresses.
#[derive(Debug, Clone)]
pub(crate) struct Running {
    pub namespace: String,
    pub name: String,
    /// The container commands run in (the pod's first container).
    pub container: String,
    /// `spec.nodeName`.
    pub node: String,
    /// `status.podIPs` in order.
    pub ips: Vec<String>,
}

impl Running {
    /// What a probe needs of `pod`, a pod of `namespace`.
    pub fn of(namespace: &str, pod: &Pod) -> Running {
        let spec = pod.spec.as_ref();
        Running {
            namespace: namespace.to_string(),
            name: pod.metadata.name.clone().unwrap_or_default(),
            container: spec
                .and_then(|s| s.containers.first())
                .map(|c| c.name.clone())
                .unwrap_or_default(),
            node: spec.and_then(|s| s.node_name.clone()).unwrap_or_default(),
            ips: pod_ips(pod),
        }
    }

    /// The pod's address of `family`; a mismatch naming `status.podIPs` when it has none.
    pub fn ip(&self, family: IpFamily) -> Result<String, TrialError> {
        self.ips
            .iter()
            .find(|ip| family_of_ip(ip).ok() == Some(family))
            .cloned()
            .ok_or_else(|| TrialError::Mismatch {
                what: format!("status.podIPs of pod {}", self.name),
                expected: format!("an {family} address"),
                observed: format!("[{}]", self.ips.join(", ")),
            })
    }

    /// `pod NAME (node NODE)` for messages.
    pub fn describe(&self) -> String {
        format!("pod {} (node {})", self.name, self.node)
    }
}

/// Creates `pods` in `namespace` (None: the trial's) and waits until every one runs and is ready.
/// Creating them all first lets their images pull and their containers start side by side.
pub(crate) async fn start(
    ctx: &Ctx,
    namespace: Option<&str>,
    pods: &[Pod],
) -> Result<Vec<Running>, TrialError> {
    let namespace = namespace.unwrap_or(ctx.namespace()).to_string();
    for pod in pods {
        ctx.create_in(&namespace, pod).await?;
    }
    let mut out = Vec::with_capacity(pods.len());
    for pod in pods {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let running = ctx.wait_pod_running_in(&namespace, &name).await?;
        out.push(Running::of(&namespace, &running));
    }
    Ok(out)
}

/// [`start`] for a fixed number of pods: them running, in order.
pub(crate) async fn started<const N: usize>(
    ctx: &Ctx,
    namespace: Option<&str>,
    pods: &[Pod; N],
) -> Result<[Running; N], TrialError> {
    start(ctx, namespace, pods)
        .await?
        .try_into()
        .map_err(|_| TrialError::Harness(format!("starting {N} pods")))
}

/// A client and a backend (netexec on `port`, with `labels`), on two different schedulable nodes when the
/// cluster has two (else on the one node, logged), in the trial's namespace.
pub(crate) struct Pair {
    pub client: Running,
    pub backend: Running,
}

pub(crate) async fn start_pair(
    ctx: &Ctx,
    client: &str,
    backend: &str,
    labels: &[(&str, &str)],
    port: u16,
) -> Result<Pair, TrialError> {
    let nodes = schedulable_nodes(ctx).await?;
    let (client_node, backend_node) = match nodes.as_slice() {
        [a, b, ..] => (Some(a), Some(b)),
        [a] => {
            ctx.log(format!(
                "only one schedulable node ({}): client and backend share it",
                a.name
            ));
            (Some(a), Some(a))
        }
        [] => (None, None),
    };
    let pods = [
        netexec_pod(backend, backend_node, labels, port)?,
        client_pod(client, client_node, &[])?,
    ];
    let [backend, client] = started(ctx, None, &pods).await?;
    Ok(Pair { client, backend })
}

/// The Service's `spec.clusterIP` (the address of its primary family) and that family: where a client
/// reaches it.
pub(crate) fn primary_cluster_ip(svc: &Service) -> Result<(String, IpFamily), TrialError> {
    let name = svc.metadata.name.as_deref().unwrap_or_default();
    let ip = svc
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .filter(|ip| !ip.is_empty() && ip != "None")
        .ok_or_else(|| TrialError::Mismatch {
            what: format!("spec.clusterIP of the Service {name}"),
            expected: "an allocated ClusterIP".into(),
            observed: "none".into(),
        })?;
    let family = family_of_ip(&ip).map_err(|e| TrialError::Harness(e.to_string()))?;
    Ok((ip, family))
}

/// `http://IP:PORT/PATH` with IPv6 addresses in brackets.
pub(crate) fn url(ip: &str, port: u16, path: &str) -> String {
    match family_of_ip(ip) {
        Ok(IpFamily::IPv6) => format!("http://[{ip}]:{port}{path}"),
        _ => format!("http://{ip}:{port}{path}"),
    }
}

/// The host part of `IP:PORT` / `[IP]:PORT` (Go's `r.RemoteAddr`, netexec's `/clientip`).
pub(crate) fn remote_host(remote_addr: &str) -> Option<&str> {
    let (host, port) = remote_addr.trim().rsplit_once(':')?;
    port.parse::<u16>().ok()?;
    let host = host.trim_start_matches('[').trim_end_matches(']');
    parse_ip(host).ok().map(|_| host)
}

/// How one request ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Reply {
    /// The server answered 2xx with this body.
    Answered(String),
    /// `Connection refused`: nothing listens, or a REJECT rule (kube-proxy for a Service without
    /// endpoints).
    Refused,
    /// No answer within the timeout: the packets were dropped.
    Dropped,
    /// `Network is unreachable` / `No route to host` (no route, or an ICMP unreachable).
    Unreachable,
    /// Anything else (an HTTP error status, a bad address, an exec session the client gave up on).
    Failed,
}

impl Reply {
    /// Reads wget's exit code and stderr. upstream: busybox networking/wget.c.
    pub fn classify(out: &ExecOutput) -> Reply {
        if out.exit_code == 0 {
            return Reply::Answered(out.stdout.clone());
        }
        let err = &out.stderr;
        if err.contains("Connection refused") {
            Reply::Refused
        } else if err.contains("timed out") {
            Reply::Dropped
        } else if err.contains("unreachable") || err.contains("No route to host") {
            Reply::Unreachable
        } else {
            Reply::Failed
        }
    }

    /// Whether no server answered (dropped, refused or unreachable).
    pub fn no_answer(&self) -> bool {
        matches!(self, Reply::Refused | Reply::Dropped | Reply::Unreachable)
    }
}

/// One request and its transcript.
#[derive(Debug, Clone)]
pub(crate) struct Probe {
    pub command: Vec<String>,
    pub output: ExecOutput,
    pub reply: Reply,
}

impl Probe {
    /// The command, its exit code, stdout and stderr.
    pub fn describe(&self) -> String {
        let command: Vec<&str> = self.command.iter().map(String::as_str).collect();
        self.output.describe(&command)
    }

    /// How it ended, then [`Probe::describe`].
    pub fn outcome(&self) -> String {
        format!("{:?}:\n{}", self.reply, self.describe())
    }
}

/// One `wget -T timeout_secs -qO- URL` in `client` (no retry).
pub(crate) async fn request(
    ctx: &Ctx,
    client: &Running,
    url: &str,
    timeout_secs: u64,
) -> Result<Probe, TrialError> {
    let timeout = timeout_secs.max(1).to_string();
    let command = ["wget", "-T", timeout.as_str(), "-qO-", url];
    let api: Api<Pod> = Api::namespaced(ctx.client(), &client.namespace);
    let session = exec::exec(&api, &client.name, &client.container, &command);
    let limit = Duration::from_secs(timeout_secs) + EXEC_GRACE;
    let output = match tokio::time::timeout(limit, session).await {
        Ok(result) => result.map_err(|e| TrialError::Harness(e.to_string()))?,
        Err(_) => ExecOutput {
            stdout: String::new(),
            stderr: format!(
                "(the client gave up on the exec session after {}s: outcome unknown)\n",
                limit.as_secs()
            ),
            exit_code: -1,
        },
    };
    ctx.log(format!(
        "exec in {}/{}:\n{}",
        client.name,
        client.container,
        output.describe(&command)
    ));
    Ok(Probe {
        command: command.iter().map(|s| s.to_string()).collect(),
        reply: Reply::classify(&output),
        output,
    })
}

/// The body the server at `url` answers to `client`, its request repeated for the [`REACHABLE`] budget.
/// `server` says who should answer (for the timeout), e.g. "backend pod b (node w2)".
pub(crate) async fn fetch(
    ctx: &Ctx,
    client: &Running,
    url: &str,
    server: &str,
) -> Result<String, TrialError> {
    fetch_until(
        ctx,
        client,
        url,
        &format!("an answer (exit code 0) from {server}"),
        |_| true,
    )
    .await
}

/// `client` gets an answer from `url` served by `hostname` (netexec's `/hostname`), within the dataplane's
/// programming budget: after an endpoint change kube-proxy reprograms some time after the EndpointSlice shows
/// it, so until then a request may still reach an endpoint that is gone (an answer awaited, not read once).
pub(crate) async fn fetch_from(
    ctx: &Ctx,
    client: &Running,
    url: &str,
    hostname: &str,
) -> Result<String, TrialError> {
    let served = format!("an answer served by {hostname}");
    fetch_until(ctx, client, url, &served, |body| body.trim() == hostname).await
}

/// [`fetch`] until one of `hostnames` answers (`/hostname`): the answer's body.
pub(crate) async fn fetch_from_any(
    ctx: &Ctx,
    client: &Running,
    url: &str,
    hostnames: &[String],
) -> Result<String, TrialError> {
    let served = format!("an answer served by one of {}", hostnames.join(", "));
    fetch_until(ctx, client, url, &served, |body| {
        hostnames.iter().any(|h| body.trim() == h)
    })
    .await
}

/// Requests from `client` to `url` until one is answered with a body `accept` takes (`awaited` says which).
async fn fetch_until(
    ctx: &Ctx,
    client: &Running,
    url: &str,
    awaited: &str,
    accept: impl Fn(&str) -> bool + Send + Sync,
) -> Result<String, TrialError> {
    let answered = Expect::that(
        format!(
            "{awaited} to an HTTP request from {} to {url}",
            client.describe()
        ),
        move |probe: &Probe| matches!(&probe.reply, Reply::Answered(body) if accept(body)),
    )
    .showing(Probe::outcome);
    let probe = ctx
        .eventually(
            REACHABLE,
            || request(ctx, client, url, ATTEMPT_TIMEOUT_SECS),
            answered,
        )
        .await?;
    Ok(probe.output.stdout)
}

/// `client` gets an answer from `url` ([`fetch`], `server` says who should answer) and it is `hostname`
/// (netexec's `/hostname`: the pod that served it); `what` names the check.
pub(crate) async fn expect_hostname(
    ctx: &Ctx,
    client: &Running,
    url: &str,
    server: &str,
    hostname: &str,
    what: &str,
) -> Result<(), TrialError> {
    let answer = fetch(ctx, client, url, server).await?;
    ensure(answer.trim() == hostname, what, hostname, answer.trim())
}

/// A time-bounded negative result for a path no state of a conforming cluster answers: ONE request that
/// must get no answer within [`NO_ANSWER`] (scaled). Returns how it ended (dropped, refused, unreachable)
/// so a caller can tell a drop from a reject; an answer is a mismatch saying `why` nothing should answer.
/// A path that answered until the caller changed something wants [`eventually_no_answer`].
pub(crate) async fn expect_no_answer(
    ctx: &Ctx,
    client: &Running,
    url: &str,
    why: &str,
) -> Result<Probe, TrialError> {
    let secs = NO_ANSWER.scaled(ctx.scale()).as_secs().max(1);
    let probe = request(ctx, client, url, secs).await?;
    match &probe.reply {
        Reply::Answered(_) | Reply::Failed => Err(TrialError::Mismatch {
            what: format!(
                "an HTTP request from {} to {url}, which {why}",
                client.describe()
            ),
            expected: format!(
                "no answer within {secs}s ({}): dropped or refused",
                NO_ANSWER.name
            ),
            observed: probe.outcome(),
        }),
        _ => Ok(probe),
    }
}

/// A time-bounded negative result for a path that answered until the caller changed something the
/// dataplane programs asynchronously (a NetworkPolicy created): `client`'s requests to `url` stop being
/// answered (dropped, or rejected) at the latest once that is programmed ([`REACHABLE`]); each request
/// waits [`NO_ANSWER`] for an answer. It takes [`UNANSWERED_IN_A_ROW`] unanswered requests in a row and
/// returns the last of them. Any other outcome breaks the row and, after the usual dataplane pause, the
/// next row begins; the requests of a row follow each other at once (so a row begun within the budget is
/// finished). No row within the budget is a timeout saying `why` no answer should come and `since` when
/// (e.g. "after the policy was created"), showing the last request that broke a row.
pub(crate) async fn eventually_no_answer(
    ctx: &Ctx,
    client: &Running,
    url: &str,
    why: &str,
    since: &str,
) -> Result<Probe, TrialError> {
    let secs = NO_ANSWER.scaled(ctx.scale()).as_secs().max(1);
    // One observation is a row: requests until UNANSWERED_IN_A_ROW went unanswered or one broke it.
    let row = || async move {
        let mut unanswered = 0;
        loop {
            let probe = request(ctx, client, url, secs).await?;
            if !probe.reply.no_answer() {
                return Ok((0, probe));
            }
            unanswered += 1;
            if unanswered >= UNANSWERED_IN_A_ROW {
                return Ok((unanswered, probe));
            }
        }
    };
    let unanswered = Expect::that(
        format!(
            "no answer within {secs}s ({}) to {UNANSWERED_IN_A_ROW} HTTP requests in a row from {} to {url}, which {why}, {since}: the connection dropped (or rejected)",
            NO_ANSWER.name,
            client.describe()
        ),
        |(row, _): &(usize, Probe)| *row >= UNANSWERED_IN_A_ROW,
    )
    .showing(|(_, breaker): &(usize, Probe)| breaker.outcome());
    let (row, probe) = ctx.eventually(REACHABLE, row, unanswered).await?;
    ctx.log(format!(
        "{url} from {}: {:?}, {row} requests in a row",
        client.describe(),
        probe.reply
    ));
    Ok(probe)
}

/// Waits until `service`'s EndpointSlices of `family` hold `ip` as a ready endpoint: kube-proxy acts on
/// those (upstream: pkg/proxy/endpointslicecache.go).
pub(crate) async fn wait_ready_endpoint(
    ctx: &Ctx,
    service: &str,
    family: IpFamily,
    ip: &str,
) -> Result<(), TrialError> {
    listing::wait_slices(
        ctx,
        service,
        family,
        &format!("{ip} as a ready endpoint"),
        |listed| listed.iter().any(|e| e.ip == ip && e.ready),
    )
    .await?;
    Ok(())
}

/// netexec at `ip:port` (reached from the pair's client) answers `/hostname` with the backend's name and
/// `/clientip` with the client's pod IP of `family`: delivered, and not source-NATed.
/// upstream: pkg/proxy (no masquerade for traffic from the cluster CIDR to a ClusterIP; pod-to-pod is
/// routed without NAT by the network model).
pub(crate) async fn check_answers_without_nat(
    ctx: &Ctx,
    pair: &Pair,
    ip: &str,
    port: u16,
    family: IpFamily,
) -> Result<(), TrialError> {
    let server = format!("backend {}", pair.backend.describe());
    let hostname_url = url(ip, port, "/hostname");
    expect_hostname(
        ctx,
        &pair.client,
        &hostname_url,
        &server,
        &pair.backend.name,
        &format!(
            "the answer of {hostname_url} from {}",
            pair.client.describe()
        ),
    )
    .await?;
    let client_ip = pair.client.ip(family)?;
    let clientip_url = url(ip, port, "/clientip");
    let seen = fetch(ctx, &pair.client, &clientip_url, &server).await?;
    let same = remote_host(&seen).and_then(|h| parse_ip(h).ok()) == parse_ip(&client_ip).ok();
    ensure(
        same,
        &format!(
            "the client address the backend saw for {clientip_url} (no NAT inside the cluster)"
        ),
        format!(
            "{client_ip} (pod {}'s {family} address), any port",
            pair.client.name
        ),
        seen.trim(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn urls_bracket_ipv6() {
        assert_eq!(
            url("10.96.0.5", 80, "/hostname"),
            "http://10.96.0.5:80/hostname"
        );
        assert_eq!(
            url("fd00:10:96::5", 80, "/clientip"),
            "http://[fd00:10:96::5]:80/clientip"
        );
    }

    #[test]
    fn remote_addrs() {
        assert_eq!(remote_host("10.244.1.5:40312"), Some("10.244.1.5"));
        assert_eq!(
            remote_host("[fd00:10:244:1::5]:40312\n"),
            Some("fd00:10:244:1::5")
        );
        assert_eq!(remote_host("NOW: 2024"), None);
        assert_eq!(remote_host(""), None);
    }

    #[test]
    fn tainted_and_cordoned_nodes_are_skipped() {
        let node = |name: &str, extra: serde_json::Value| -> Node {
            let mut n = json!({"metadata": {"name": name, "labels": {"kubernetes.io/hostname": name}}, "spec": {}});
            n["spec"] = extra;
            serde_json::from_value(n).unwrap()
        };
        let nodes = vec![
            node(
                "cp",
                json!({"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}),
            ),
            node("w2", json!({})),
            node("w1", json!({})),
            node("cordoned", json!({"unschedulable": true})),
        ];
        let names: Vec<String> = schedulable(&nodes).into_iter().map(|n| n.name).collect();
        assert_eq!(names, vec!["w1", "w2"]);
    }

    #[test]
    fn replies_from_busybox_wget() {
        let out = |code: i32, stdout: &str, stderr: &str| ExecOutput {
            stdout: stdout.into(),
            stderr: stderr.into(),
            exit_code: code,
        };
        assert_eq!(
            Reply::classify(&out(0, "backend", "")),
            Reply::Answered("backend".into())
        );
        assert_eq!(
            Reply::classify(&out(
                1,
                "",
                "wget: can't connect to remote host (10.96.0.9): Connection refused\n"
            )),
            Reply::Refused
        );
        assert_eq!(
            Reply::classify(&out(1, "", "wget: download timed out\n")),
            Reply::Dropped
        );
        assert_eq!(
            Reply::classify(&out(
                1,
                "",
                "wget: can't connect to remote host (fd00::1): Network is unreachable\n"
            )),
            Reply::Unreachable
        );
        assert_eq!(
            Reply::classify(&out(
                1,
                "",
                "wget: server returned error: HTTP/1.1 404 Not Found\n"
            )),
            Reply::Failed
        );
        assert!(Reply::Dropped.no_answer() && !Reply::Failed.no_answer());
        // A session the client gave up on is no evidence of a drop.
        assert_eq!(
            Reply::classify(&out(
                -1,
                "",
                "(the client gave up on the exec session after 15s: outcome unknown)\n"
            )),
            Reply::Failed
        );
    }

    #[test]
    fn pods_pin_and_label() {
        let node = NodeRef {
            name: "w1".into(),
            hostname: "w1-host".into(),
        };
        let pod = netexec_pod("db", Some(&node), &[("role", "db")], 6379).unwrap();
        let v = serde_json::to_value(&pod).unwrap();
        assert_eq!(v["metadata"]["labels"]["role"], "db");
        assert_eq!(
            v["spec"]["nodeSelector"]["kubernetes.io/hostname"],
            "w1-host"
        );
        assert_eq!(v["spec"]["containers"][0]["args"][1], "--http-port=6379");
        let client = client_pod("c", None, &[]).unwrap();
        let v = serde_json::to_value(&client).unwrap();
        assert!(v["spec"]["nodeSelector"].is_null());
        assert_eq!(v["spec"]["containers"][0]["image"], "busybox:1.28");
    }
}
