//! Connectivity per IP family, as upstream's e2e checks it (test/e2e/network/dual_stack.go "should be able
//! to reach pod on ipv4 and ipv6 ip" and the "Granular Checks: Services Secondary IP Family"): an agnhost
//! `netexec` backend on one node, a busybox client on another, and HTTP requests from the client to the
//! backend's pod IP and to the Service's ClusterIP of each family.
//!
//! The backend answers `/hostname` with its hostname (the pod name) and `/clientip` with the address the
//! connection came from (`r.RemoteAddr`): inside the cluster neither the pod network nor kube-proxy
//! translates the source, so it is the client's pod IP of that family.
//! upstream: test/images/agnhost/netexec/netexec.go (`hostnameHandler`, `clientIPHandler`); pkg/proxy
//! (one proxier per family, DNAT to endpoints of the Service's EndpointSlices of that family; masquerade
//! only for traffic from outside the cluster CIDR).

use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use k8s_openapi::api::core::v1::{Node, Pod};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::Api;
use kube::runtime::watcher;
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::exec::ExecOutput;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip, parse_ip};
use netconform::wait::{Budget, Verdict, budgets, wait_list};

use super::endpointslices::backend;
use super::nodes::list_nodes;
use super::{PREFERRED_SVC, SvcView, create_service};
use crate::pods::{from_json, pod_ips};

const CLIENT: &str = "client";
const BACKEND: &str = "backend";
/// How long a request may keep failing before the path counts as broken: kube-proxy programs a new
/// Service within seconds of its EndpointSlices (its sync period); there is no object to watch for that.
const REACHABLE: Budget = Budget::new("dataplane-programming", 30);

/// Schedulable nodes (no NoSchedule/NoExecute taint, not cordoned) as (name, `kubernetes.io/hostname`).
fn schedulable(nodes: &[Node]) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = nodes
        .iter()
        .filter(|n| {
            let spec = n.spec.as_ref();
            let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
            let tainted = spec.and_then(|s| s.taints.as_ref()).is_some_and(|ts| {
                ts.iter()
                    .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
            });
            !cordoned && !tainted
        })
        .filter_map(|n| {
            let name = n.metadata.name.clone()?;
            let host = n
                .metadata
                .labels
                .as_ref()
                .and_then(|l| l.get("kubernetes.io/hostname").cloned())
                .unwrap_or_else(|| name.clone());
            Some((name, host))
        })
        .collect();
    out.sort();
    out
}

/// The client and backend pods, on two different nodes when the cluster has two schedulable nodes.
struct Pair {
    client: Pod,
    backend: Pod,
}

async fn start_pair(ctx: &Ctx) -> Result<Pair, TrialError> {
    let nodes = schedulable(&list_nodes(ctx).await?);
    let (client_node, backend_node) = match nodes.as_slice() {
        [a, b, ..] => (Some(a.clone()), Some(b.clone())),
        [a] => {
            ctx.log(format!(
                "only one schedulable node ({}): client and backend share it",
                a.0
            ));
            (Some(a.clone()), Some(a.clone()))
        }
        [] => (None, None),
    };
    ctx.create(&backend(
        BACKEND,
        backend_node.as_ref().map(|n| n.1.as_str()),
    )?)
    .await?;
    let mut client_spec = json!({"containers": [{"name": CLIENT, "image": "busybox:1.28", "command": ["sleep", "3600"]}]});
    if let Some((_, host)) = &client_node {
        client_spec["nodeSelector"] = json!({"kubernetes.io/hostname": host});
    }
    let client: Pod = from_json(
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": CLIENT}, "spec": client_spec}),
    )?;
    ctx.create(&client).await?;
    let backend = ctx.wait_pod_running(BACKEND).await?;
    let client = ctx.wait_pod_running(CLIENT).await?;
    Ok(Pair { client, backend })
}

fn node_of(pod: &Pod) -> String {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default()
}

fn ip_of(pod: &Pod, family: IpFamily) -> Result<String, TrialError> {
    let ips = pod_ips(pod);
    ips.iter()
        .find(|ip| family_of_ip(ip).ok() == Some(family))
        .cloned()
        .ok_or_else(|| TrialError::Mismatch {
            what: format!(
                "status.podIPs of pod {}",
                pod.metadata.name.as_deref().unwrap_or("?")
            ),
            expected: format!("an {family} address"),
            observed: format!("[{}]", ips.join(", ")),
        })
}

/// `http://IP:PORT/PATH` with IPv6 addresses in brackets.
fn url(ip: &str, port: u16, path: &str) -> String {
    match family_of_ip(ip) {
        Ok(IpFamily::IPv6) => format!("http://[{ip}]:{port}{path}"),
        _ => format!("http://{ip}:{port}{path}"),
    }
}

enum Attempt {
    Failed(ExecOutput),
    Harness(TrialError),
}

/// `wget -T 5 -qO- URL` in the client until it succeeds or the REACHABLE budget is spent.
async fn fetch(ctx: &Ctx, pair: &Pair, target: &str) -> Result<String, TrialError> {
    let command = ["wget", "-T", "5", "-qO-", target];
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(500))
        .with_max_delay(Duration::from_secs(5))
        .without_max_times()
        .with_total_delay(Some(REACHABLE.scaled(ctx.scale())));
    let attempt = || async {
        match ctx.exec(CLIENT, CLIENT, &command).await {
            Ok(out) if out.exit_code == 0 => Ok(out.stdout),
            Ok(out) => Err(Attempt::Failed(out)),
            Err(e) => Err(Attempt::Harness(e)),
        }
    };
    match attempt
        .retry(policy)
        .when(|e| matches!(e, Attempt::Failed(_)))
        .await
    {
        Ok(body) => Ok(body),
        Err(Attempt::Harness(e)) => Err(e),
        Err(Attempt::Failed(out)) => Err(TrialError::Mismatch {
            what: format!(
                "an HTTP request from pod {CLIENT} (node {}) to {target} (backend pod {BACKEND} on node {}), retried for {}s ({})",
                node_of(&pair.client),
                node_of(&pair.backend),
                REACHABLE.scaled(ctx.scale()).as_secs(),
                REACHABLE.name
            ),
            expected: "the backend's answer (exit code 0)".into(),
            observed: out.describe(&command),
        }),
    }
}

/// The backend answers with its hostname and sees the client's pod IP of `family`.
async fn check_path(
    ctx: &Ctx,
    pair: &Pair,
    ip: &str,
    port: u16,
    family: IpFamily,
) -> Result<(), TrialError> {
    let backend_name = pair.backend.metadata.name.clone().unwrap_or_default();
    let hostname = fetch(ctx, pair, &url(ip, port, "/hostname")).await?;
    ensure(
        hostname.trim() == backend_name,
        &format!(
            "the answer of {} from pod {CLIENT}",
            url(ip, port, "/hostname")
        ),
        &backend_name,
        &hostname,
    )?;
    let client_ip = ip_of(&pair.client, family)?;
    let seen = fetch(ctx, pair, &url(ip, port, "/clientip")).await?;
    // `IP:PORT` or `[IP]:PORT` (Go's r.RemoteAddr).
    let host = seen
        .trim()
        .rsplit_once(':')
        .map(|(h, _)| h.trim_start_matches('[').trim_end_matches(']'))
        .unwrap_or_default();
    let same = parse_ip(host).ok() == parse_ip(&client_ip).ok() && !host.is_empty();
    ensure(
        same,
        &format!(
            "the client address the backend saw for {} (no NAT inside the cluster)",
            url(ip, port, "/clientip")
        ),
        format!("{client_ip} (pod {CLIENT}'s {family} address), any port"),
        seen.trim(),
    )
}

pub(crate) async fn pod_ip(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let pair = start_pair(&ctx).await?;
    let target = ip_of(&pair.backend, family)?;
    check_path(&ctx, &pair, &target, 80, family).await
}

pub(crate) async fn cluster_ip(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let svc = create_service(&ctx, &PREFERRED_SVC.object()?).await?;
    let view = SvcView::of(&svc);
    let Some(cluster_ip) = view
        .cluster_ips
        .iter()
        .find(|ip| family_of_ip(ip).ok() == Some(family))
        .cloned()
    else {
        return Err(TrialError::Mismatch {
            what: "the ClusterIPs of my-service (dual-stack-preferred-svc.yaml)".into(),
            expected: format!("an {family} cluster IP"),
            observed: view.describe(),
        });
    };
    let pair = start_pair(&ctx).await?;
    let backend_ip = ip_of(&pair.backend, family)?;
    // Wait until the backend is a ready endpoint of the family's slice: kube-proxy acts on those.
    let api: Api<EndpointSlice> = ctx.api();
    let config = watcher::Config::default().labels("kubernetes.io/service-name=my-service");
    let awaited =
        format!("an {family} EndpointSlice of my-service with the backend {backend_ip} ready");
    wait_list(
        &api,
        config,
        &awaited,
        budgets::ENDPOINTS,
        ctx.scale(),
        &|s: &EndpointSlice| {
            format!(
                "{} {}: {:?}",
                s.address_type,
                s.metadata.name.as_deref().unwrap_or("?"),
                s.endpoints
                    .iter()
                    .map(|e| e.addresses.join("/"))
                    .collect::<Vec<_>>()
            )
        },
        |slices| {
            let ready = slices
                .iter()
                .filter(|s| s.address_type == family.as_str())
                .flat_map(|s| &s.endpoints)
                .any(|e| {
                    e.addresses.contains(&backend_ip)
                        && e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true)
                });
            if ready {
                Verdict::Done
            } else {
                Verdict::Pending
            }
        },
    )
    .await?;
    check_path(&ctx, &pair, &cluster_ip, 80, family).await
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
        let names: Vec<String> = schedulable(&nodes).into_iter().map(|(n, _)| n).collect();
        assert_eq!(names, vec!["w1", "w2"]);
    }
}
