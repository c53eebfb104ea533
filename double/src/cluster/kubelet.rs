//! The kubelets of the three nodes: pod sandbox IPs, container starts through the command model,
//! and the pod status they post.
//!
//! Pod IPs come from the node's podCIDRs the way kind's CNI (kindnet with host-local IPAM) hands
//! them out: sequentially from `.2` per range, one per family, in the cluster's family order
//! (upstream kubelet `sortPodIPs` keeps the node's primary family first); hostNetwork pods report
//! the node's InternalIPs. Status shapes follow pkg/kubelet/kubelet_pods.go
//! (`generateAPIPodStatus`, `getPhase`, `convertToAPIContainerStatuses`) and
//! pkg/kubelet/status/generate.go (Ready/ContainersReady reasons).

use std::collections::{HashMap, HashSet};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::Rng;
use serde_json::{Value, json};
use tokio::sync::broadcast;

use super::commands::{self, Block, Outcome};
use super::prober::{Check, Prober};
use super::{Cluster, PodContainer, StartedContainer};
use crate::deviation::Deviation;
use crate::model::time;
use crate::model::topology::NodeSpec;
use crate::store::{EventType, Store};

pub(crate) fn spawn(store: &Store, cluster: &Arc<Cluster>) {
    let store = store.clone();
    let cluster = cluster.clone();
    let mut events = store.subscribe();
    let ipam = Arc::new(Mutex::new(HashMap::<String, u32>::new()));
    tokio::spawn(async move {
        let mut handled: HashSet<String> = HashSet::new();
        let consider = |pod: &Value, handled: &mut HashSet<String>| {
            let uid = pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
            if uid.is_empty() || handled.contains(&uid) || cluster.topology.node(node).is_none() {
                return;
            }
            if !pod["metadata"]["deletionTimestamp"].is_null()
                || !pod["status"]["startTime"].is_null()
            {
                return;
            }
            handled.insert(uid);
            tokio::spawn(run_pod(
                store.clone(),
                cluster.clone(),
                ipam.clone(),
                pod.clone(),
            ));
        };
        for pod in store.list("pods", None) {
            consider(&pod, &mut handled);
        }
        loop {
            match events.recv().await {
                Ok(ev) if ev.resource == "pods" => {
                    if ev.kind == EventType::Deleted {
                        if let Some(uid) = ev.object["metadata"]["uid"].as_str() {
                            cluster.forget_pod(uid);
                            handled.remove(uid);
                        }
                    } else {
                        consider(&ev.object, &mut handled);
                    }
                }
                Ok(_) => {}
                Err(broadcast::error::RecvError::Lagged(_)) => {
                    for pod in store.list("pods", None) {
                        consider(&pod, &mut handled);
                    }
                }
                Err(broadcast::error::RecvError::Closed) => return,
            }
        }
    });
}

/// host-local style allocation: the next free index after the last one handed out on this node.
fn allocate_index(store: &Store, ipam: &Mutex<HashMap<String, u32>>, node: &NodeSpec) -> u32 {
    let in_use: HashSet<String> = store
        .list("pods", None)
        .iter()
        .filter(|p| p["spec"]["nodeName"].as_str() == Some(node.name.as_str()))
        .filter(|p| !matches!(p["status"]["phase"].as_str(), Some("Succeeded" | "Failed")))
        .filter(|p| !p["spec"]["hostNetwork"].as_bool().unwrap_or(false))
        .filter_map(|p| p["status"]["podIP"].as_str().map(str::to_string))
        .collect();
    let mut map = ipam.lock().unwrap_or_else(|p| p.into_inner());
    let last = map.get(&node.name).copied().unwrap_or(1);
    let mut idx = last;
    for _ in 0..253 {
        idx = if idx >= 254 { 2 } else { idx + 1 };
        let candidate = Ipv4Addr::from(u32::from(node.pod_cidr_v4.network()) + idx).to_string();
        if !in_use.contains(&candidate) {
            break;
        }
    }
    map.insert(node.name.clone(), idx);
    idx
}

fn pod_ips_for(
    cluster: &Cluster,
    store: &Store,
    ipam: &Mutex<HashMap<String, u32>>,
    pod: &Value,
    node: &NodeSpec,
) -> Vec<String> {
    if pod["spec"]["hostNetwork"].as_bool().unwrap_or(false) {
        // upstream: kubelet_pods.go `generateAPIPodStatus` (the node's host IPs, one per family;
        // `host-network-pod-ips-primary-only`: the first only).
        let ips = node.internal_ips();
        let keep = match cluster.has(Deviation::HostNetworkPodIpsPrimaryOnly) {
            true => 1,
            false => ips.len(),
        };
        return ips.iter().take(keep).map(IpAddr::to_string).collect();
    }
    let idx = allocate_index(store, ipam, node);
    let v4 = Ipv4Addr::from(u32::from(node.pod_cidr_v4.network()) + idx).to_string();
    let v6 = Ipv6Addr::from(u128::from(node.pod_cidr_v6.network()) + idx as u128).to_string();
    let single_stack = cluster.has(Deviation::PodsSingleStack)
        || cluster.has(Deviation::NodesSingleStackPodcidr)
        || node.single_stack;
    if single_stack {
        return vec![v4];
    }
    // The runtime reports IPv4 first; status.podIPs is `sortPodIPs` of that (`pod-ip-order-reversed`:
    // the family of the node IP last).
    let mut sorted = sort_pod_ips(&[v4, v6], node.first_ip().is_ipv6());
    if cluster.has(Deviation::PodIpOrderReversed) {
        sorted.reverse();
    }
    sorted
}

/// upstream: pkg/kubelet/kubelet_pods.go `sortPodIPs` — the first IP of the node IP's family, then the
/// first of the other family; status.podIPs and the downward API get this order.
pub(crate) fn sort_pod_ips(ips: &[String], ipv6_node: bool) -> Vec<String> {
    let is_v6 = |ip: &&String| ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv6());
    let is_v4 = |ip: &&String| ip.parse::<IpAddr>().is_ok_and(|a| a.is_ipv4());
    let (primary, secondary): (Vec<&String>, Vec<&String>) = if ipv6_node {
        (
            ips.iter().filter(is_v6).collect(),
            ips.iter().filter(is_v4).collect(),
        )
    } else {
        (
            ips.iter().filter(is_v4).collect(),
            ips.iter().filter(is_v6).collect(),
        )
    };
    primary
        .first()
        .into_iter()
        .chain(secondary.first())
        .map(|ip| ip.to_string())
        .collect()
}

/// The pod IPs in the order the double's runtime reports them (`determinePodSandboxIPs`): IPv4 first.
/// The kubelet writes `/etc/hosts` in this order.
pub(crate) fn runtime_order(status_ips: &[String]) -> Vec<String> {
    let mut ips = status_ips.to_vec();
    ips.sort_by_key(|ip| ip.contains(':'));
    ips
}

/// `docker.io/library/busybox:1.28` from `busybox:1.28` (containerd's normalized reference).
pub(crate) fn normalize_image(image: &str) -> String {
    let (name, digest) = match image.split_once('@') {
        Some((n, d)) => (n, Some(d)),
        None => (image, None),
    };
    let has_tag = name.rsplit_once(':').is_some_and(|(_, t)| !t.contains('/'));
    let first = name.split('/').next().unwrap_or(name);
    let domain_given =
        name.contains('/') && (first.contains('.') || first.contains(':') || first == "localhost");
    let mut full = match (domain_given, name.contains('/')) {
        (true, _) => name.to_string(),
        (false, true) => format!("docker.io/{name}"),
        (false, false) => format!("docker.io/library/{name}"),
    };
    if !has_tag && digest.is_none() {
        full.push_str(":latest");
    }
    if let Some(d) = digest {
        full.push('@');
        full.push_str(d);
    }
    full
}

fn hex_id(seed: &str) -> String {
    // A stable pseudo digest (FNV-1a expanded), enough to look like an image/container ID.
    let mut out = String::new();
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for round in 0u8..4 {
        for b in seed.bytes().chain([round]) {
            h ^= b as u64;
            h = h.wrapping_mul(0x100_0000_01b3);
        }
        out.push_str(&format!("{h:016x}"));
    }
    out
}

/// One run of a container.
struct Run {
    name: String,
    image: String,
    container_id: String,
    started_at: String,
    outcome: Outcome,
    /// When a `Block::For` process ends.
    deadline: Option<Instant>,
    /// (exit code, finishedAt) once it ended.
    finished: Option<(i32, String)>,
}

impl Run {
    fn start(cluster: &Cluster, store: &Store, pod: &Value, spec: &Value) -> Run {
        let view = PodContainer::new(cluster, store, pod, spec);
        let argv = commands::entrypoint(spec);
        let outcome = commands::start(&view, &argv);
        let name = spec["name"].as_str().unwrap_or_default().to_string();
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let log = format!("{}{}", outcome.stdout, outcome.stderr);
        cluster.record_start(
            uid,
            &name,
            StartedContainer {
                env: view.env.clone(),
                log,
                files: Default::default(),
            },
        );
        let now = time::now();
        let deadline = match outcome.blocks {
            Some(Block::For(d)) => Some(Instant::now() + d),
            _ => None,
        };
        let finished = outcome
            .blocks
            .is_none()
            .then(|| (outcome.exit_code, now.clone()));
        Run {
            container_id: format!(
                "containerd://{}",
                hex_id(&format!("{uid}/{name}/{}", rand::rng().random::<u64>()))
            ),
            image: spec["image"].as_str().unwrap_or_default().to_string(),
            name,
            started_at: now,
            outcome,
            deadline,
            finished,
        }
    }

    fn running(&self) -> bool {
        self.finished.is_none()
    }
}

fn terminated_state(run: &Run, exit: i32, finished_at: &str) -> Value {
    json!({"terminated": {
        "exitCode": exit,
        "reason": if exit == 0 { "Completed" } else { "Error" },
        "startedAt": run.started_at,
        "finishedAt": finished_at,
        "containerID": run.container_id,
    }})
}

/// `ContainerStatus` of a run under the pod's restart policy.
fn container_status(run: &Run, restart_policy: &str, ready_allowed: bool, pod: &Value) -> Value {
    let image = normalize_image(&run.image);
    let repo = image.split([':', '@']).next().unwrap_or(&image).to_string();
    let base = json!({
        "name": run.name,
        "image": image,
        "imageID": format!("{repo}@sha256:{}", hex_id(&image)),
        "containerID": run.container_id,
    });
    let mut status = base;
    match &run.finished {
        None => {
            status["state"] = json!({"running": {"startedAt": run.started_at}});
            status["lastState"] = json!({});
            status["ready"] = json!(ready_allowed);
            status["started"] = json!(true);
            status["restartCount"] = json!(0);
        }
        Some((exit, finished_at)) => {
            let restarts =
                restart_policy == "Always" || (restart_policy == "OnFailure" && *exit != 0);
            if restarts {
                let msg = format!(
                    "back-off 10s restarting failed container={} pod={}_{}({})",
                    run.name,
                    pod["metadata"]["name"].as_str().unwrap_or_default(),
                    pod["metadata"]["namespace"].as_str().unwrap_or_default(),
                    pod["metadata"]["uid"].as_str().unwrap_or_default()
                );
                status["state"] =
                    json!({"waiting": {"reason": "CrashLoopBackOff", "message": msg}});
                status["lastState"] = terminated_state(run, *exit, finished_at);
                status["restartCount"] = json!(1);
            } else {
                status["state"] = terminated_state(run, *exit, finished_at);
                status["lastState"] = json!({});
                status["restartCount"] = json!(0);
            }
            status["ready"] = json!(false);
            status["started"] = json!(false);
        }
    }
    status
}

fn condition(
    kind: &str,
    ok: bool,
    reason: Option<&str>,
    message: Option<String>,
    now: &str,
) -> Value {
    let mut c = json!({"type": kind, "status": if ok { "True" } else { "False" }, "lastProbeTime": null, "lastTransitionTime": now});
    if let Some(r) = reason {
        c["reason"] = json!(r);
    }
    if let Some(m) = message {
        c["message"] = json!(m);
    }
    c
}

/// Runs one readiness check of `container`: an exec probe's command in the container (exit 0 passes); an
/// httpGet or tcpSocket probe a connection from the pod's node to `host` or the pod's `status.podIP`.
/// upstream: pkg/kubelet/prober/prober.go (`runProbe`: exec via the runtime, success on exit code 0;
/// tcpSocket `host := p.TCPSocket.Host; if host == "" { host = status.PodIP }`), pkg/probe/http/request.go
/// (`NewRequestForHTTPGetAction`: the same for httpGet), pkg/probe/http/http.go (200 <= code < 400
/// passes), pkg/probe/tcp/tcp.go (a connection passes), pkg/probe/util.go (`ResolveContainerPort`).
fn probe_passes(
    cluster: &Cluster,
    store: &Store,
    pod: &Value,
    container: &str,
    check: &Check,
) -> bool {
    let spec = super::find_container(pod, container);
    let connect = |host: &Option<String>, port: &Value, path: &str| {
        let dest = host
            .as_deref()
            .or_else(|| pod["status"]["podIP"].as_str())
            .and_then(|h| h.parse::<IpAddr>().ok());
        let port = spec.and_then(|s| resolve_port(s, port));
        let node = pod["spec"]["nodeName"].as_str().unwrap_or_default();
        match (dest, port) {
            (Some(dest), Some(port)) => {
                super::network::node_get(cluster, store, node, dest, port, path)
            }
            _ => commands::HttpReply::ConnectError("no address".into()),
        }
    };
    match (check, spec) {
        (Check::Exec(argv), Some(spec)) => {
            commands::exec(&PodContainer::new(cluster, store, pod, spec), argv).exit_code == 0
        }
        (Check::Exec(_), None) => false,
        (Check::HttpGet { host, port, path }, _) => matches!(
            connect(host, port, path),
            commands::HttpReply::Response { status, .. } if (200..400).contains(&status)
        ),
        (Check::TcpSocket { host, port }, _) => matches!(
            connect(host, port, "/"),
            commands::HttpReply::Response { .. }
        ),
        (Check::Serving, _) => true,
    }
}

/// A probe's port: a number, or the name of one of the container's ports.
fn resolve_port(container: &Value, port: &Value) -> Option<u16> {
    if let Some(n) = port.as_u64() {
        return u16::try_from(n).ok();
    }
    let name = port.as_str()?;
    container["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .find(|p| p["name"] == name)
        .and_then(|p| p["containerPort"].as_u64())
        .or_else(|| name.parse().ok())
        .and_then(|n| u16::try_from(n).ok())
}

/// Posts the pod status for the current runs (`generateAPIPodStatus` + `getPhase`).
fn post_status(
    store: &Store,
    cluster: &Cluster,
    pod: &Value,
    base: &Value,
    init: &[Run],
    runs: &[Run],
    prober: &Prober,
) -> Option<Value> {
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let current = store.get("pods", Some(ns), name)?;
    if current["metadata"]["uid"] != pod["metadata"]["uid"] {
        return None;
    }
    let restart_policy = pod["spec"]["restartPolicy"].as_str().unwrap_or("Always");
    let ready_allowed = !cluster.has(Deviation::PodsNeverReady);
    let now = time::now();
    let statuses: Vec<Value> = runs
        .iter()
        .map(|r| {
            let ready = ready_allowed && prober.ready(&r.name);
            container_status(r, restart_policy, ready, pod)
        })
        .collect();
    let init_statuses: Vec<Value> = init
        .iter()
        .map(|r| container_status(r, "Never", false, pod))
        .collect();
    let any_running = runs.iter().any(Run::running);
    let all_done = !runs.is_empty() && runs.iter().all(|r| !r.running());
    let restarting = statuses
        .iter()
        .any(|s| s["state"]["waiting"]["reason"] == "CrashLoopBackOff");
    let phase = if runs.is_empty() {
        "Pending"
    } else if any_running || restarting {
        "Running"
    } else if all_done
        && runs
            .iter()
            .all(|r| r.finished.as_ref().is_some_and(|(e, _)| *e == 0))
    {
        "Succeeded"
    } else {
        "Failed"
    };
    let unready: Vec<&str> = statuses
        .iter()
        .filter(|s| s["ready"] != true)
        .filter_map(|s| s["name"].as_str())
        .collect();
    let all_ready = !runs.is_empty() && unready.is_empty();
    let (ready_reason, ready_msg) = if all_ready {
        (None, None)
    } else if phase == "Succeeded" || phase == "Failed" {
        (Some("PodCompleted"), None)
    } else {
        (
            Some("ContainersNotReady"),
            Some(format!(
                "containers with unready status: [{}]",
                unready.join(" ")
            )),
        )
    };
    let init_done = init.iter().all(|r| !r.running());
    let mut status = base.clone();
    status["phase"] = json!(phase);
    status["conditions"] = json!([
        condition(
            "PodReadyToStartContainers",
            phase != "Succeeded" && phase != "Failed",
            None,
            None,
            &now
        ),
        condition(
            "Initialized",
            init_done,
            (!init_done).then_some("ContainersNotInitialized"),
            None,
            &now
        ),
        condition("Ready", all_ready, ready_reason, ready_msg.clone(), &now),
        condition("ContainersReady", all_ready, ready_reason, ready_msg, &now),
        condition("PodScheduled", true, None, None, &now),
    ]);
    if !runs.is_empty() {
        status["containerStatuses"] = json!(statuses);
    }
    if !init.is_empty() {
        status["initContainerStatuses"] = json!(init_statuses);
    }
    write_status(store, ns, name, current, status)
}

/// Writes `status` over the stored pod, re-reading it after a conflict with another writer (the scheduler's
/// condition): like the kubelet's status manager (pkg/kubelet/status/status_manager.go), which retries on
/// the next sync instead of giving the pod up.
fn write_status(
    store: &Store,
    ns: &str,
    name: &str,
    mut current: Value,
    status: Value,
) -> Option<Value> {
    const ATTEMPTS: usize = 5;
    for _ in 0..ATTEMPTS {
        let uid = current["metadata"]["uid"].clone();
        current["status"] = status.clone();
        match store.update_status("pods", Some(ns), current) {
            Ok(written) => return Some(written),
            Err(e) if e.code == 409 => {
                current = store
                    .get("pods", Some(ns), name)
                    .filter(|fresh| fresh["metadata"]["uid"] == uid)?;
            }
            Err(_) => return None,
        }
    }
    None
}

async fn run_pod(
    store: Store,
    cluster: Arc<Cluster>,
    ipam: Arc<Mutex<HashMap<String, u32>>>,
    pod: Value,
) {
    let Some(node) = pod["spec"]["nodeName"]
        .as_str()
        .and_then(|n| cluster.topology.node(n))
        .cloned()
    else {
        return;
    };
    let ns = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("default")
        .to_string();
    let name = pod["metadata"]["name"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    let ips = pod_ips_for(&cluster, &store, &ipam, &pod, &node);
    let now = time::now();
    let base = json!({
        "phase": "Pending",
        "hostIP": node.first_ip().to_string(),
        "hostIPs": node.internal_ips().iter().map(|ip| json!({"ip": ip.to_string()})).collect::<Vec<_>>(),
        // `pod-ip-not-first`: podIP out of step with podIPs[0] (upstream keeps them equal).
        "podIP": if cluster.has(Deviation::PodIpNotFirst) { ips.last() } else { ips.first() }.cloned().unwrap_or_default(),
        "podIPs": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
        "qosClass": "BestEffort",
        "startTime": now,
    });
    // Sandbox up, containers being created.
    let creating: Vec<Value> = pod["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|c| {
            json!({"name": c["name"], "image": c["image"], "imageID": "", "ready": false, "restartCount": 0, "started": false,
                   "lastState": {}, "state": {"waiting": {"reason": "ContainerCreating"}}})
        })
        .collect();
    // The scheduler writes its PodScheduled condition right after binding, racing this first write.
    let Some(current) = store.get("pods", Some(&ns), &name) else {
        return;
    };
    if current["metadata"]["uid"] != pod["metadata"]["uid"] {
        return;
    }
    let mut status = base.clone();
    status["conditions"] = json!([
        condition("PodReadyToStartContainers", true, None, None, &now),
        condition("Initialized", true, None, None, &now),
        condition("Ready", false, Some("ContainersNotReady"), None, &now),
        condition(
            "ContainersReady",
            false,
            Some("ContainersNotReady"),
            None,
            &now
        ),
        condition("PodScheduled", true, None, None, &now),
    ]);
    status["containerStatuses"] = json!(creating);
    let Some(posted) = write_status(&store, &ns, &name, current, status) else {
        return;
    };
    if cluster.has(Deviation::PodsImagePullBackoff) {
        // The registry never answers: containers stay waiting and the pod stays Pending.
        let waiting: Vec<Value> = creating
            .iter()
            .map(|c| {
                let mut c = c.clone();
                c["state"] = json!({"waiting": {"reason": "ImagePullBackOff",
                    "message": format!("Back-off pulling image \"{}\"", c["image"].as_str().unwrap_or_default())}});
                c
            })
            .collect();
        let mut status = posted["status"].clone();
        status["containerStatuses"] = json!(waiting);
        let _ = write_status(&store, &ns, &name, posted, status);
        return;
    }
    let (lo, hi) = cluster.pod_start_latency;
    let latency = if hi > lo {
        lo + Duration::from_secs_f64(rand::rng().random_range(0.0..(hi - lo).as_secs_f64()))
    } else {
        lo
    };
    tokio::time::sleep(latency).await;

    let Some(current) = store.get("pods", Some(&ns), &name) else {
        return;
    };
    if current["metadata"]["uid"] != pod["metadata"]["uid"]
        || !current["metadata"]["deletionTimestamp"].is_null()
    {
        return;
    }
    // Init containers run to completion one after another; one that does not end blocks the pod.
    let mut init_runs: Vec<Run> = Vec::new();
    for spec in current["spec"]["initContainers"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let run = Run::start(&cluster, &store, &current, spec);
        let failed = run.finished.as_ref().is_none_or(|(e, _)| *e != 0);
        init_runs.push(run);
        if failed {
            let no_probes = Prober::default();
            post_status(
                &store,
                &cluster,
                &current,
                &base,
                &init_runs,
                &[],
                &no_probes,
            );
            return;
        }
    }
    let mut runs: Vec<Run> = current["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|spec| Run::start(&cluster, &store, &current, spec))
        .collect();
    // Readiness probing starts with the containers (the first probe runs at once).
    let mut prober = Prober::for_pod(&current);
    prober.start(Instant::now());
    let probe = |container: &str, check: &Check| {
        let running = runs.iter().any(|r| r.name == container && r.running());
        running && probe_passes(&cluster, &store, &current, container, check)
    };
    prober.run_due(Instant::now(), &probe);
    if post_status(
        &store, &cluster, &current, &base, &init_runs, &runs, &prober,
    )
    .is_none()
    {
        return;
    }
    // Processes with a finite lifetime (`sleep N`) end later, and readiness probes run every period:
    // post the status when either changes it.
    loop {
        let exits = runs
            .iter()
            .filter(|r| r.finished.is_none())
            .filter_map(|r| r.deadline)
            .min();
        let probes = runs
            .iter()
            .any(Run::running)
            .then(|| prober.next_due())
            .flatten();
        let Some(next) = exits.into_iter().chain(probes).min() else {
            return;
        };
        tokio::time::sleep_until(tokio::time::Instant::from_std(next)).await;
        let now = Instant::now();
        let finished_at = time::now();
        let mut changed = false;
        for run in runs
            .iter_mut()
            .filter(|r| r.finished.is_none() && r.deadline.is_some_and(|d| d <= now))
        {
            run.finished = Some((run.outcome.exit_code, finished_at.clone()));
            changed = true;
        }
        // The pod is gone (or replaced): its probe workers stop with it.
        let alive = store
            .get("pods", Some(&ns), &name)
            .is_some_and(|p| p["metadata"]["uid"] == current["metadata"]["uid"]);
        if !alive {
            return;
        }
        let probe = |container: &str, check: &Check| {
            let running = runs.iter().any(|r| r.name == container && r.running());
            running && probe_passes(&cluster, &store, &current, container, check)
        };
        changed |= prober.run_due(now, &probe);
        if changed
            && post_status(
                &store, &cluster, &current, &base, &init_runs, &runs, &prober,
            )
            .is_none()
        {
            return;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn image_references_are_normalized() {
        assert_eq!(
            normalize_image("busybox:1.28"),
            "docker.io/library/busybox:1.28"
        );
        assert_eq!(
            normalize_image("busybox"),
            "docker.io/library/busybox:latest"
        );
        assert_eq!(
            normalize_image("registry.k8s.io/e2e-test-images/agnhost:2.53"),
            "registry.k8s.io/e2e-test-images/agnhost:2.53"
        );
        assert_eq!(
            normalize_image("bitnami/nginx"),
            "docker.io/bitnami/nginx:latest"
        );
        assert_eq!(hex_id("x").len(), 64);
    }
}
