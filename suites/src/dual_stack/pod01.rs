//! Pod addressing with the page's `pod01` (its `MY_POD_IPS` downward-API snippet in a busybox pod,
//! manifests/inline/validate-dual-stack/pod01-my-pod-ips.yaml).
//! upstream: pkg/kubelet/kubelet_pods.go `sortPodIPs` (the first pod IP is of the family of the node's
//! first IP, then one of the other family), `podFieldSelectorRuntimeValue` (`status.podIPs` joined with
//! `,`), `managedHostsFileContent` (one `<ip>\t<hostname>` line per pod IP, in the runtime's order:
//! `makeMounts` gets `determinePodSandboxIPs` unsorted); the API keeps `podIP` equal
//! to `podIPs[0]` (pkg/apis/core/v1/conversion.go); test/e2e/network/dual_stack.go "should create pod,
//! add ipv6 and ipv4 ip to pod ips".

use std::ops::RangeBounds;
use std::sync::Arc;

use k8s_openapi::api::core::v1::Pod;

use netconform::ctx::Ctx;
use netconform::exec::ExecOutput;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{check_dual_stack_pair, family_of_ip, split_ip_list};
use netconform::scenario::{Computed, Scenario, Scene};

use crate::doc::DocFile;
use crate::doc_file;
use crate::pods::{pod_ip, pod_ips};

const POD01: DocFile = doc_file!("inline/validate-dual-stack/pod01-my-pod-ips.yaml");
const DOC_POD_IPS: DocFile = doc_file!("doc-outputs/validate-dual-stack/pod-ips.txt");
const DOC_MY_POD_IPS: DocFile = doc_file!("doc-outputs/validate-dual-stack/my-pod-ips.txt");
const DOC_HOSTS: DocFile = doc_file!("doc-outputs/validate-dual-stack/etc-hosts-dual-stack.txt");

/// pod01 running, and what the page runs in it.
struct Pod01 {
    pod: Pod,
    /// `cat /etc/hosts`.
    hosts: Result<ExecOutput, TrialError>,
    /// The page's `set` (a shell builtin, see [`my_pod_ips_downward`]), then `env`.
    set: Result<ExecOutput, TrialError>,
    env: Result<ExecOutput, TrialError>,
}

/// One pod01 for the five `dual_stack::pod01::*` checks. Its log's parts: 0 the pod, 1 `cat /etc/hosts`,
/// 2 `set` and `env`.
static POD01_RUN: Scenario<Result<Pod01, TrialError>> = Scenario {
    name: "dual_stack::pod01",
    compute: |scene| Box::pin(run_pod01(scene)),
};

/// Applies pod01, waits for it to run, and runs the page's commands in it.
async fn run_pod01(scene: &mut Scene) -> Result<Pod01, TrialError> {
    let ctx = scene.ctx().clone();
    ctx.create(&POD01.object::<Pod>()?).await?;
    let pod = ctx.wait_pod_running("pod01").await?;
    scene.end_part();
    let hosts = ctx.exec("pod01", "pod01", &["cat", "/etc/hosts"]).await;
    scene.end_part();
    let set = ctx.exec("pod01", "pod01", &["set"]).await;
    let env = ctx.exec("pod01", "pod01", &["env"]).await;
    Ok(Pod01 {
        pod,
        hosts,
        set,
        env,
    })
}

/// This run's pod01, with the log of `parts` (see [`POD01_RUN`]).
async fn pod01(
    ctx: &Ctx,
    parts: impl RangeBounds<usize>,
) -> Result<Arc<Computed<Result<Pod01, TrialError>>>, TrialError> {
    POD01_RUN.read(ctx, parts).await
}

fn mismatch(
    what: &str,
    expected: impl Into<String>,
    observed: impl Into<String>,
    doc: &DocFile,
) -> TrialError {
    TrialError::Mismatch {
        what: what.into(),
        expected: format!("{}\n\n{}", expected.into(), doc.excerpt()),
        observed: observed.into(),
    }
}

/// The pod's IPs, failing unless they are one IPv4 and one IPv6 address.
fn dual_stack_ips(pod: &Pod) -> Result<Vec<String>, TrialError> {
    let ips = pod_ips(pod);
    let refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    check_dual_stack_pair(&refs).map_err(|e| {
        mismatch("status.podIPs of pod01 (`kubectl get pods pod01 -o go-template --template='{{range .status.podIPs}}{{printf \"%s\\n\" .ip}}{{end}}'`)", "an IPv4 and an IPv6 address", format!("[{}]: {e}", ips.join(", ")), &DOC_POD_IPS)
    })?;
    Ok(ips)
}

pub(crate) async fn pod_ip_is_first_pod_ip(ctx: Ctx) -> Result<(), TrialError> {
    let shared = pod01(&ctx, ..1).await?;
    let pod = &shared.outcome()?.pod;
    let ips = pod_ips(pod);
    let first = ips.first().cloned();
    ensure(
        first.is_some() && pod_ip(pod) == first,
        "status.podIP of pod01 against status.podIPs",
        format!(
            "podIP = podIPs[0] = {}",
            first.as_deref().unwrap_or("(no podIPs)")
        ),
        format!(
            "podIP {}, podIPs [{}]",
            pod_ip(pod).unwrap_or_default(),
            ips.join(", ")
        ),
    )
}

pub(crate) async fn pod_ips_both_families(ctx: Ctx) -> Result<(), TrialError> {
    let shared = pod01(&ctx, ..1).await?;
    dual_stack_ips(&shared.outcome()?.pod).map(|_| ())
}

pub(crate) async fn primary_family_first(ctx: Ctx) -> Result<(), TrialError> {
    let shared = pod01(&ctx, ..1).await?;
    let pod = &shared.outcome()?.pod;
    // On a single-stack cluster the one pod IP is of the node's family too: the claim holds on every cluster.
    let ips = pod_ips(pod);
    let Some(first_ip) = ips.first() else {
        return Err(mismatch(
            "status.podIPs of pod01",
            "at least one pod IP",
            "no podIPs",
            &DOC_POD_IPS,
        ));
    };
    let node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    // The kubelet's node IP: the node's first InternalIP (its --node-ip order), else the pod's hostIP.
    let node_ip = ctx
        .capabilities()
        .nodes
        .iter()
        .find(|n| n.name == node)
        .and_then(|n| n.internal_ips.first().cloned())
        .or_else(|| pod.status.as_ref().and_then(|s| s.host_ip.clone()))
        .unwrap_or_default();
    let primary = family_of_ip(&node_ip)
        .map_err(|e| TrialError::Harness(format!("the node IP of {node}: {e}")))?;
    let first = family_of_ip(first_ip).map_err(|e| TrialError::Harness(e.to_string()))?;
    ensure(
        first == primary,
        &format!("the family of the first pod IP of pod01 (node {node}, first node IP {node_ip})"),
        format!("{primary} first"),
        format!("podIPs [{}]: {first} first", ips.join(", ")),
    )
}

pub(crate) async fn my_pod_ips_downward(ctx: Ctx) -> Result<(), TrialError> {
    let shared = pod01(&ctx, ..).await?;
    let Pod01 { pod, set, env, .. } = shared.outcome()?;
    // The page runs `kubectl exec -it pod01 -- set | grep MY_POD_IPS`: `set` is a shell builtin, not a
    // program of the image, so the exec cannot start it. Try it as written, then read the environment
    // with `env`, whose `NAME=value` lines are what the page shows.
    let set_output = match set {
        Ok(out) if out.exit_code == 0 && out.stdout.contains("MY_POD_IPS=") => None,
        Ok(out) => Some(format!(
            "exit code {}: {}",
            out.exit_code,
            out.stderr.trim()
        )),
        Err(e) => Some(e.to_string()),
    };
    if let Some(shown) = set_output {
        ctx.finding(
            "`kubectl exec -it pod01 -- set | grep MY_POD_IPS` prints `MY_POD_IPS=10.244.1.4,2001:db8::4`",
            format!("`set` is a shell builtin, not an executable, so exec fails ({shown}); `kubectl exec pod01 -- env` (or `printenv MY_POD_IPS`) prints the line"),
        );
    }
    let env = env.clone()?;
    ensure(
        env.exit_code == 0,
        "`env` in pod01 exit code",
        0,
        env.exit_code,
    )?;
    let line = env.stdout.lines().find(|l| l.starts_with("MY_POD_IPS="));
    let value = line
        .and_then(|l| l.strip_prefix("MY_POD_IPS="))
        .unwrap_or_default();
    let ips = pod_ips(pod);
    let expected = format!("MY_POD_IPS={}", ips.join(","));
    if line != Some(expected.as_str()) {
        return Err(mismatch(
            "the MY_POD_IPS line of `env` in pod01",
            format!("{expected} (status.podIPs joined with commas)"),
            env.stdout,
            &DOC_MY_POD_IPS,
        ));
    }
    let parsed = split_ip_list(value).map_err(|e| {
        mismatch(
            "MY_POD_IPS of pod01",
            "a comma-separated IP list",
            e.to_string(),
            &DOC_MY_POD_IPS,
        )
    })?;
    let texts: Vec<String> = parsed.iter().map(|ip| ip.to_string()).collect();
    let refs: Vec<&str> = texts.iter().map(String::as_str).collect();
    check_dual_stack_pair(&refs).map(|_| ()).map_err(|e| {
        mismatch(
            "MY_POD_IPS of pod01",
            "the pod's IPv4 and IPv6 addresses",
            format!("{value}: {e}"),
            &DOC_MY_POD_IPS,
        )
    })
}

/// The hosts-file lines naming `pod01`, as (address, names) split on whitespace.
fn pod_lines(hosts: &str) -> Vec<(String, Vec<String>)> {
    hosts
        .lines()
        .filter_map(|l| {
            let mut fields = l.split_whitespace();
            let ip = fields.next()?.to_string();
            let names: Vec<String> = fields.map(str::to_string).collect();
            names.iter().any(|n| n == "pod01").then_some((ip, names))
        })
        .collect()
}

pub(crate) async fn etc_hosts_both_ips(ctx: Ctx) -> Result<(), TrialError> {
    let shared = pod01(&ctx, ..2).await?;
    let Pod01 { pod, hosts, .. } = shared.outcome()?;
    let ips = dual_stack_ips(pod)?;
    let out = hosts.clone()?;
    ensure(
        out.exit_code == 0,
        "`cat /etc/hosts` in pod01 exit code",
        0,
        out.exit_code,
    )?;
    let found: Vec<String> = pod_lines(&out.stdout)
        .into_iter()
        .map(|(ip, _)| ip)
        .collect();
    // The kubelet writes the IPs in the runtime's order, not sorted like status.podIPs
    // (netconform::parse::hosts::pod_ips_in_file_order): the lines must hold each pod IP once, in any order.
    let (mut found_sorted, mut ips_sorted) = (found.clone(), ips.clone());
    found_sorted.sort();
    ips_sorted.sort();
    if found_sorted != ips_sorted {
        let expected = ips
            .iter()
            .map(|ip| format!("{ip}<TAB>pod01"))
            .collect::<Vec<_>>()
            .join("\n");
        return Err(mismatch(
            "the pod01 lines of /etc/hosts in pod01: one per pod IP, in any order (the runtime's)",
            expected,
            out.stdout,
            &DOC_HOSTS,
        ));
    }
    if out.stdout.lines().any(|l| l.ends_with("\tpod01")) {
        ctx.finding(
            "the pod lines of /etc/hosts separate address and name with four spaces (`10.244.1.4    pod01`)",
            "the kubelet writes a TAB between address and name",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pod_lines_of_a_dual_stack_hosts_file() {
        let hosts = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n10.244.1.4\tpod01\nfd00:10:244:1::4\tpod01\n";
        let ips: Vec<String> = pod_lines(hosts).into_iter().map(|(ip, _)| ip).collect();
        assert_eq!(ips, vec!["10.244.1.4", "fd00:10:244:1::4"]);
        assert_eq!(pod_lines(DOC_HOSTS.text).len(), 2);
    }
}
