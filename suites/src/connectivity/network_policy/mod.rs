//! "Network Policies" (https://kubernetes.io/docs/concepts/services-networking/network-policies/): the
//! docs' `test-network-policy` (manifests/service/networking/networkpolicy.yaml), applied verbatim in
//! the trial's namespace (its `metadata.namespace: default` is dropped, as for the other suites' doc
//! manifests), and the connections it allows and drops.
//!
//! The example isolates `role=db` pods both ways: in, only TCP 6379 from `role=frontend` pods of its
//! namespace, from pods of namespaces labelled `project=myproject` and from 172.17.0.0/16 except
//! 172.17.1.0/24; out, only TCP 5978 to 10.0.0.0/24. The `role=db` pod here is agnhost `netexec` serving
//! HTTP on 6379 (and on 8080, the "other port"), with a busybox container whose `wget` probes from the
//! pod's own address. Every negative check first shows the path answering without the policy, then
//! expects it to stop answering once the plugin has programmed the policy (time-bounded); every positive
//! check comes after such a drop, so that it judges the policy in force rather than a plugin that has not
//! acted on it yet.
//!
//! Each check covers every IP family of the cluster, probing the pods' addresses of that family: the
//! policy is family-agnostic and kube-network-policies filters both (its nftables table is `inet`, with
//! IPv4 and IPv6 sets of the pods' IPs: pkg/networkpolicy/controller.go `initializeNFTablesRules`; pods
//! are looked up by any of their `status.podIPs`). The example's ipBlocks are IPv4 only, and an IPv6
//! address lies in no IPv4 CIDR (Go's `net.IPNet.Contains` is false across families:
//! pkg/networkpolicy/networkpolicy.go `evaluateIPBlocks`), so over IPv6 only the selector peers admit:
//! role=frontend pods of the namespace and pods of project=myproject namespaces; db's egress, an ipBlock
//! alone, admits no IPv6 destination at all. Every expected result is therefore the same in both families.
//!
//! upstream: staging/src/k8s.io/api/networking/v1/types.go (isolation per direction, rules combined
//! additively, peers, ports); pkg/apis/networking/v1/defaults.go (policyTypes, protocol TCP);
//! test/e2e/network/netpol/network_policy.go (the same cases probed pod to pod, each expected result
//! re-probed after a wait because enforcement is programmed asynchronously); kind's kindnetd embeds
//! kubernetes-sigs/kube-network-policies (pkg/networkpolicy/networkpolicy.go, the evaluator); the offline
//! testbed runs kube-router's policy controller instead (iptables + ipset per family,
//! pkg/controllers/netpol: the same semantics, filtering both families).
//!
//! Beyond the docs' example as written: `ip_blocks` (its ipBlocks re-addressed onto pod addresses, [P16]),
//! `rules` (policies add up [P20]; the pod's own node is always let in [P18]) and `effect` (a policy has
//! no effect without an enforcing plugin [P21]).

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Container, Namespace, Pod};
use k8s_openapi::api::networking::v1::NetworkPolicy;
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::IpFamily;
use netconform::preflight::Need;
use netconform::retry::retrying;
use netconform::trial::TrialDef;

mod effect;
mod ip_blocks;
mod rules;

pub use effect::{BREAKS as EFFECT_BREAKS, TRIALS as EFFECT_TRIALS};
pub use ip_blocks::{BREAKS as IP_BLOCK_BREAKS, TRIALS as IP_BLOCK_TRIALS};
pub use rules::{BREAKS as RULES_BREAKS, TRIALS as RULES_TRIALS};

use crate::doc::DocFile;
use crate::doc_file;
use crate::pods::from_json;
use crate::shared::probe::{
    AGNHOST, Running, client_pod, eventually_no_answer, fetch, started, url,
};

pub(super) const PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/network-policies/";
pub(super) const POLICY: DocFile = doc_file!("service/networking/networkpolicy.yaml");
/// The port the example's ingress rule allows.
pub(super) const DB_PORT: u16 = 6379;
/// A port the `role=db` pod also serves but the rule does not list; frontend pods serve on it too.
pub(super) const OTHER_PORT: u16 = 8080;

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "connectivity::network_policy::frontend_reaches_db",
        claim: "with test-network-policy applied, pods labelled role=frontend in the policy's namespace connect to role=db pods on TCP port 6379",
        doc_url: PAGE,
        needs: &[Need::NetworkPolicy],
        run: |ctx| Box::pin(frontend_reaches_db(ctx)),
    },
    TrialDef {
        name: "connectivity::network_policy::unlabelled_pod_dropped",
        claim: "test-network-policy isolates role=db pods for ingress: a pod of the same namespace without role=frontend (and outside 172.17.0.0/16) cannot connect to them on TCP port 6379",
        doc_url: PAGE,
        needs: &[Need::NetworkPolicy],
        run: |ctx| Box::pin(unlabelled_pod_dropped(ctx)),
    },
    TrialDef {
        name: "connectivity::network_policy::project_namespace_reaches_db",
        claim: "with test-network-policy applied, any pod in a namespace labelled project=myproject connects to role=db pods on TCP port 6379",
        doc_url: PAGE,
        needs: &[Need::NetworkPolicy],
        run: |ctx| Box::pin(project_namespace_reaches_db(ctx)),
    },
    TrialDef {
        name: "connectivity::network_policy::other_port_dropped",
        claim: "test-network-policy allows ingress to role=db pods on TCP port 6379 only: a role=frontend pod cannot connect to them on another port",
        doc_url: PAGE,
        needs: &[Need::NetworkPolicy],
        run: |ctx| Box::pin(other_port_dropped(ctx)),
    },
    TrialDef {
        name: "connectivity::network_policy::db_egress_limited",
        claim: "test-network-policy isolates role=db pods for egress: they connect only to 10.0.0.0/24 on TCP port 5978, so not to a frontend pod",
        doc_url: PAGE,
        needs: &[Need::NetworkPolicy],
        run: |ctx| Box::pin(db_egress_limited(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::NetworkPolicyNotEnforced,
        &[
            "connectivity::network_policy::frontend_reaches_db",
            "connectivity::network_policy::project_namespace_reaches_db",
            "connectivity::network_policy::unlabelled_pod_dropped",
            "connectivity::network_policy::other_port_dropped",
            "connectivity::network_policy::db_egress_limited",
        ],
    ),
    (
        Deviation::NetworkPolicyIgnoresNamespaceSelector,
        &["connectivity::network_policy::project_namespace_reaches_db"],
    ),
    (
        Deviation::NetworkPolicyEgressIgnored,
        &["connectivity::network_policy::db_egress_limited"],
    ),
    (
        Deviation::NetworkPolicyPortsIgnored,
        &["connectivity::network_policy::other_port_dropped"],
    ),
    (
        Deviation::NetworkPolicyRepliesNotTracked,
        &[
            "connectivity::network_policy::frontend_reaches_db",
            "connectivity::network_policy::project_namespace_reaches_db",
            "connectivity::network_policy::other_port_dropped",
        ],
    ),
    (
        Deviation::NetworkPolicyIpv4Only,
        &[
            "connectivity::network_policy::frontend_reaches_db",
            "connectivity::network_policy::project_namespace_reaches_db",
            "connectivity::network_policy::unlabelled_pod_dropped",
            "connectivity::network_policy::other_port_dropped",
            "connectivity::network_policy::db_egress_limited",
        ],
    ),
];

/// A pod with `labels` whose first container is a busybox client (the probes run there, from the pod's
/// own address) and that serves netexec on each of `ports`. Only the first netexec keeps its UDP server
/// (port 8081): a second one in the same network namespace would fail to bind it and exit
/// (test/images/agnhost/netexec/netexec.go: `--udp-port=-1` turns it off).
pub(super) fn pod(name: &str, labels: &[(&str, &str)], ports: &[u16]) -> Result<Pod, TrialError> {
    let mut pod = client_pod(name, None, labels)?;
    for (i, port) in ports.iter().enumerate() {
        let mut args = vec!["netexec".to_string(), format!("--http-port={port}")];
        if i > 0 {
            args.push("--udp-port=-1".into());
        }
        let container: Container =
            from_json(json!({"name": format!("netexec-{port}"), "image": AGNHOST,
            "args": args, "ports": [{"containerPort": port, "protocol": "TCP"}]}))?;
        if let Some(spec) = pod.spec.as_mut() {
            spec.containers.push(container);
        }
    }
    Ok(pod)
}

/// `pod` with no termination grace: busybox's `sleep` as PID 1 ignores SIGTERM, and a shared scenario's
/// readers wait for its namespace to go.
pub(super) fn quick(mut pod: Pod) -> Pod {
    if let Some(spec) = pod.spec.as_mut() {
        spec.termination_grace_period_seconds = Some(0);
    }
    pod
}

/// The `role=db` pod of the example, serving on 6379 and on the other port.
pub(super) fn db_pod() -> Result<Pod, TrialError> {
    pod("db", &[("role", "db")], &[DB_PORT, OTHER_PORT])
}

/// The docs' `test-network-policy` for the trial's namespace (the manifest says `default`).
pub(super) fn docs_policy() -> Result<NetworkPolicy, TrialError> {
    let mut policy: NetworkPolicy = POLICY.object()?;
    policy.metadata.namespace = None;
    Ok(policy)
}

/// `kubectl apply -f networkpolicy.yaml` in the trial's namespace.
async fn apply_policy(ctx: &Ctx) -> Result<(), TrialError> {
    ctx.create(&docs_policy()?).await?;
    Ok(())
}

/// The IP families the checks cover: every family of the cluster (see the module comment); without
/// that knowledge, the family of `target`'s first address (the cluster's primary).
pub(super) fn families(ctx: &Ctx, target: &Running) -> Result<Vec<IpFamily>, TrialError> {
    let known: Vec<IpFamily> = ctx.capabilities().families.iter().copied().collect();
    if !known.is_empty() {
        return Ok(known);
    }
    let first = target.ips.first().ok_or_else(|| TrialError::Mismatch {
        what: format!("status.podIPs of pod {}", target.name),
        expected: "at least one pod IP".into(),
        observed: "none".into(),
    })?;
    let family = netconform::ipfamily::family_of_ip(first)
        .map_err(|e| TrialError::Harness(format!("pod {}: {e}", target.name)))?;
    Ok(vec![family])
}

/// For each family the checks cover, `target`'s URL at `port` (`/hostname`) and `client`'s address of
/// that family, which the policy sees as the source.
fn targets(
    ctx: &Ctx,
    client: &Running,
    target: &Running,
    port: u16,
) -> Result<Vec<(String, String)>, TrialError> {
    families(ctx, target)?
        .into_iter()
        .map(|family| {
            Ok((
                client.ip(family)?,
                url(&target.ip(family)?, port, "/hostname"),
            ))
        })
        .collect()
}

/// `server`'s URLs at `port` for `client` in each family the checks cover.
fn urls(
    ctx: &Ctx,
    client: &Running,
    server: &Running,
    port: u16,
) -> Result<Vec<String>, TrialError> {
    Ok(targets(ctx, client, server, port)?
        .into_iter()
        .map(|(_, url)| url)
        .collect())
}

/// Shows that `client` reaches `server` at each of `urls` before the policy exists: a drop seen afterwards
/// is then the policy's doing, not the pod network's.
pub(super) async fn baseline(
    ctx: &Ctx,
    client: &Running,
    server: &Running,
    urls: &[String],
) -> Result<(), TrialError> {
    for url in urls {
        fetch(
            ctx,
            client,
            url,
            &format!("{} before any NetworkPolicy", server.describe()),
        )
        .await?;
        ctx.log(format!(
            "without the policy {} reaches {url}",
            client.describe()
        ));
    }
    Ok(())
}

/// A mismatch or a data-plane timeout under the policy with the docs' manifest added to what was expected
/// (awaited).
pub(super) fn with_policy(e: TrialError) -> TrialError {
    match e {
        TrialError::Mismatch {
            what,
            expected,
            observed,
        } => TrialError::Mismatch {
            what,
            expected: format!("{expected}\n\n{}", POLICY.excerpt()),
            observed,
        },
        TrialError::Timeout {
            awaited,
            budget,
            elapsed,
            last_state,
        } => TrialError::Timeout {
            awaited: format!("{awaited}\n\n{}", POLICY.excerpt()),
            budget,
            elapsed,
            last_state,
        },
        other => other,
    }
}

/// A negative result under the policy: `client`'s requests to each of `urls` stop being answered once the
/// plugin has programmed the policy it has just been given ([`eventually_no_answer`]).
pub(super) async fn dropped(
    ctx: &Ctx,
    client: &Running,
    urls: &[String],
    why: &str,
) -> Result<(), TrialError> {
    for url in urls {
        eventually_no_answer(ctx, client, url, why, "after the policy was created")
            .await
            .map_err(with_policy)?;
    }
    Ok(())
}

/// A positive result under the policy: `client` gets `server`'s hostname from each of `urls`.
pub(super) async fn answers(
    ctx: &Ctx,
    client: &Running,
    server: &Running,
    urls: &[String],
) -> Result<(), TrialError> {
    answers_as(ctx, client, server, urls, "test-network-policy").await
}

/// [`answers`], the connection allowed by `allowed_by` (for the messages).
pub(super) async fn answers_as(
    ctx: &Ctx,
    client: &Running,
    server: &Running,
    urls: &[String],
    allowed_by: &str,
) -> Result<(), TrialError> {
    let who = format!("{}, allowed by {allowed_by}", server.describe());
    for url in urls {
        let body = fetch(ctx, client, url, &who).await.map_err(with_policy)?;
        ensure(
            body.trim() == server.name,
            &format!("the answer of {url} from {}", client.describe()),
            &server.name,
            body.trim(),
        )?;
    }
    Ok(())
}

async fn frontend_reaches_db(ctx: Ctx) -> Result<(), TrialError> {
    let pods = [
        db_pod()?,
        pod("frontend", &[("role", "frontend")], &[])?,
        pod("plain", &[], &[])?,
    ];
    let [db, frontend, plain] = started(&ctx, None, &pods).await?;
    policy_in_force(&ctx, &plain, &db).await?;
    answers(&ctx, &frontend, &db, &urls(&ctx, &frontend, &db, DB_PORT)?).await
}

/// Applies the policy and shows it in force on `db`'s node: `plain` (no role=frontend, in the policy's
/// namespace) reaches db on 6379 before the policy and stops reaching it after, in every family. The
/// trials that check an allowed connection do this first: the plugin acts on a policy asynchronously
/// (kube-network-policies diverts a pod's packets to its evaluator only once its sync has put the pod's IPs
/// in its `podips` sets: pkg/networkpolicy/controller.go `syncNFTablesRules`), so an allowed connection
/// checked right after the create would be answered even by a plugin that wrongly drops it.
async fn policy_in_force(ctx: &Ctx, plain: &Running, db: &Running) -> Result<(), TrialError> {
    let sources_and_urls = targets(ctx, plain, db, DB_PORT)?;
    // The example also admits 172.17.0.0/16 except 172.17.1.0/24, pod addresses included.
    if let Some((plain_ip, _)) = sources_and_urls.iter().find(|(ip, _)| in_docs_ip_block(ip)) {
        return Err(TrialError::Harness(format!(
            "pod {} has the address {plain_ip}, inside the example's ipBlock 172.17.0.0/16 (except 172.17.1.0/24), which the policy admits; the check needs a pod address outside it",
            plain.name
        )));
    }
    let urls: Vec<String> = sources_and_urls.into_iter().map(|(_, url)| url).collect();
    baseline(ctx, plain, db, &urls).await?;
    apply_policy(ctx).await?;
    dropped(
        ctx,
        plain,
        &urls,
        "comes from a pod without role=frontend in the policy's namespace",
    )
    .await
}

async fn unlabelled_pod_dropped(ctx: Ctx) -> Result<(), TrialError> {
    let pods = [db_pod()?, pod("plain", &[], &[])?];
    let [db, plain] = started(&ctx, None, &pods).await?;
    policy_in_force(&ctx, &plain, &db).await
}

async fn project_namespace_reaches_db(ctx: Ctx) -> Result<(), TrialError> {
    let project = ctx.extra_namespace("project").await?;
    label_namespace(&ctx, &project, "project", "myproject").await?;
    let [db, plain] = started(&ctx, None, &[db_pod()?, pod("plain", &[], &[])?]).await?;
    let [client] = started(&ctx, Some(&project), &[pod("client", &[], &[])?]).await?;
    policy_in_force(&ctx, &plain, &db).await?;
    answers(&ctx, &client, &db, &urls(&ctx, &client, &db, DB_PORT)?).await
}

async fn other_port_dropped(ctx: Ctx) -> Result<(), TrialError> {
    let pods = [db_pod()?, pod("frontend", &[("role", "frontend")], &[])?];
    let [db, frontend] = started(&ctx, None, &pods).await?;
    let other = urls(&ctx, &frontend, &db, OTHER_PORT)?;
    baseline(&ctx, &frontend, &db, &other).await?;
    apply_policy(&ctx).await?;
    dropped(
        &ctx,
        &frontend,
        &other,
        &format!("is TCP port {OTHER_PORT}, not the rule's 6379"),
    )
    .await?;
    // The allowed port still answers (checked once the drop shows the policy in force): the pod is
    // there, only the other port is cut.
    answers(&ctx, &frontend, &db, &urls(&ctx, &frontend, &db, DB_PORT)?).await
}

async fn db_egress_limited(ctx: Ctx) -> Result<(), TrialError> {
    let pods = [
        db_pod()?,
        pod("frontend", &[("role", "frontend")], &[OTHER_PORT])?,
    ];
    let [db, frontend] = started(&ctx, None, &pods).await?;
    let frontend_urls = urls(&ctx, &db, &frontend, OTHER_PORT)?;
    baseline(&ctx, &db, &frontend, &frontend_urls).await?;
    apply_policy(&ctx).await?;
    dropped(
        &ctx,
        &db,
        &frontend_urls,
        "leaves a role=db pod for a pod address outside 10.0.0.0/24, on a port other than 5978",
    )
    .await
}

/// `kubectl label namespace NAME KEY=VALUE`.
async fn label_namespace(ctx: &Ctx, name: &str, key: &str, value: &str) -> Result<(), TrialError> {
    let api: Api<Namespace> = Api::all(ctx.client());
    let patch = Patch::Merge(json!({"metadata": {"labels": {key: value}}}));
    let params = PatchParams::default();
    retrying(|| api.patch(name, &params, &patch))
        .await
        .map_err(TrialError::api(format!(
            "labelling namespace {name} {key}={value}"
        )))?;
    ctx.log(format!("labelled namespace {name} {key}={value}"));
    Ok(())
}

/// Whether `ip` lies in the example's ingress ipBlock: 172.17.0.0/16 except 172.17.1.0/24.
fn in_docs_ip_block(ip: &str) -> bool {
    let (Ok(ip), Ok(cidr), Ok(except)) = (
        ip.parse::<std::net::IpAddr>(),
        "172.17.0.0/16".parse::<IpNet>(),
        "172.17.1.0/24".parse::<IpNet>(),
    ) else {
        return false;
    };
    cidr.contains(&ip) && !except.contains(&ip)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docs_policy_is_the_canonical_example() {
        let policy: NetworkPolicy = POLICY.object().unwrap();
        let spec = policy.spec.unwrap();
        assert_eq!(
            spec.pod_selector.unwrap().match_labels.unwrap()["role"],
            "db"
        );
        assert_eq!(
            spec.policy_types.unwrap(),
            vec!["Ingress".to_string(), "Egress".to_string()]
        );
        let ingress = &spec.ingress.unwrap()[0];
        assert_eq!(ingress.from.as_ref().unwrap().len(), 3);
        assert_eq!(
            serde_json::to_value(&ingress.ports.as_ref().unwrap()[0]).unwrap(),
            json!({"protocol": "TCP", "port": 6379})
        );
        let egress = &spec.egress.unwrap()[0];
        assert_eq!(
            egress.to.as_ref().unwrap()[0]
                .ip_block
                .as_ref()
                .unwrap()
                .cidr,
            "10.0.0.0/24"
        );
    }

    #[test]
    fn pods_serve_each_port_with_one_udp_server() {
        let db = serde_json::to_value(db_pod().unwrap()).unwrap();
        let containers = db["spec"]["containers"].as_array().unwrap();
        assert_eq!(containers[0]["image"], crate::shared::probe::CLIENT_IMAGE);
        assert_eq!(
            containers[1]["args"],
            json!(["netexec", "--http-port=6379"])
        );
        assert_eq!(
            containers[2]["args"],
            json!(["netexec", "--http-port=8080", "--udp-port=-1"])
        );
        assert_eq!(db["metadata"]["labels"], json!({"role": "db"}));
    }

    #[test]
    fn docs_ip_block() {
        assert!(in_docs_ip_block("172.17.0.9"));
        assert!(!in_docs_ip_block("172.17.1.9"));
        assert!(!in_docs_ip_block("10.244.1.5"));
        assert!(!in_docs_ip_block("fd00:10:244:1::5"));
    }
}
