//! How an isolated pod's rules combine (seed rows [P20], [P18]), from one scenario
//! (`connectivity::network_policy::rules`, four pods, both families):
//!
//! - policies are additive: a second policy `allow-frontend-8080` (role=frontend may reach role=db on TCP
//!   8080, ingress only) is created first and shown in force (an unlabelled pod stops reaching db on 6379);
//!   then the docs' `test-network-policy` (role=frontend on 6379, and db's egress limited), shown in force
//!   by db's egress to the frontend stopping. With both, a role=frontend pod reaches db on 6379 (only the
//!   docs' policy allows it) and on 8080 (only the second allows it);
//! - an ingress-isolated pod accepts connections from its own node: a hostNetwork pod on db's node reaches
//!   db on 8080 from the node's address, which neither policy lists (kubelet probes rely on it).
//!
//! upstream: staging/src/k8s.io/api/networking/v1/types.go ("If multiple NetworkPolicies select the same
//! pod, the allowed connections are the union"); kube-router pkg/controllers/netpol/pod.go (a pod's
//! firewall chain jumps to the chain of every policy that selects it, and its first rule accepts traffic
//! whose source is `-m addrtype --src-type LOCAL`: "rule to permit the traffic traffic to pods when source
//! is the pod's local node"); kube-network-policies pkg/networkpolicy/networkpolicy.go (the evaluator ORs
//! the policies); test/e2e/network/netpol/network_policy.go ("should allow ingress access from updated
//! pod", "should enforce multiple, stacked policies with overlapping podSelectors").

use futures::future::join_all;
use k8s_openapi::api::core::v1::Pod;
use k8s_openapi::api::networking::v1::NetworkPolicy;
use serde_json::json;

use super::{
    DB_PORT, OTHER_PORT, PAGE, answers_as, baseline, db_pod, docs_policy, dropped, families, pod,
    quick, with_policy,
};
use crate::deviations::{Breaks, Deviation};
use crate::family::trials;
use crate::pods::from_json;
use crate::shared::probe::{NodeRef, Running, schedulable_nodes, started, url};
use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::IpFamily;
use netconform::preflight::Need;
use netconform::scenario::{Scenario, Scene};
use netconform::trial::TrialDef;

const SECOND_POLICY: &str = "allow-frontend-8080";

pub const TRIALS: &[TrialDef] = trials![
    per_family {
        name: "connectivity::network_policy_policies_add_up",
        claim: [
            "NetworkPolicies are additive: with test-network-policy (role=frontend on TCP 6379) and a second policy (role=frontend on TCP 8080) selecting role=db pods, a role=frontend pod connects to them over ",
            " on both ports (the second policy created first, the docs' one after it) (seed row [P20])"
        ],
        doc_url: PAGE,
        needs: [Need::NetworkPolicy],
        run: policies_add_up,
    },
    per_family {
        name: "connectivity::network_policy_own_node_admitted",
        claim: [
            "an ingress-isolated pod still accepts connections from its own node: a hostNetwork pod on a role=db pod's node connects to it over ",
            " on TCP 8080, which neither test-network-policy nor any other policy allows (seed row [P18])"
        ],
        doc_url: PAGE,
        needs: [Need::NetworkPolicy],
        run: own_node_admitted,
    },
];

const ALL: &[&str] = &[
    "connectivity::network_policy_policies_add_up::ipv4",
    "connectivity::network_policy_policies_add_up::ipv6",
    "connectivity::network_policy_own_node_admitted::ipv4",
    "connectivity::network_policy_own_node_admitted::ipv6",
];

/// The test double's deviations that must fail these trials: exactly these (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (Deviation::NetworkPolicyNotEnforced, ALL),
    (
        Deviation::NetworkPolicyIpv4Only,
        &[
            "connectivity::network_policy_policies_add_up::ipv6",
            "connectivity::network_policy_own_node_admitted::ipv6",
        ],
    ),
    // db's egress to the frontend never stops: the docs' policy is never shown in force.
    (Deviation::NetworkPolicyEgressIgnored, ALL),
    (Deviation::NetworkPolicyRepliesNotTracked, ALL),
    (
        Deviation::NetworkPolicyNotAdditive,
        &[
            "connectivity::network_policy_policies_add_up::ipv4",
            "connectivity::network_policy_policies_add_up::ipv6",
        ],
    ),
    // The scenario's baseline, before any policy, is the node's own connection to db (a hostNetwork pod).
    (Deviation::NodeToPodDropped, ALL),
    (
        Deviation::NodeToPodIpv6Dropped,
        &[
            "connectivity::network_policy_policies_add_up::ipv6",
            "connectivity::network_policy_own_node_admitted::ipv6",
        ],
    ),
    (
        Deviation::NetworkPolicyNodeNotExempt,
        &[
            "connectivity::network_policy_own_node_admitted::ipv4",
            "connectivity::network_policy_own_node_admitted::ipv6",
        ],
    ),
];

/// What one family showed: both policies' rules together, and the node's connection.
struct FamilyRules {
    family: IpFamily,
    additive: Result<(), TrialError>,
    own_node: Result<(), TrialError>,
}

static RULES: Scenario<Result<Vec<FamilyRules>, TrialError>> = Scenario {
    name: "connectivity::network_policy::rules",
    compute: |scene| Box::pin(run_rules(scene)),
};

/// The second policy: role=frontend may reach role=db on TCP 8080 (ingress only).
fn second_policy() -> Result<NetworkPolicy, TrialError> {
    from_json(json!({
        "apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
        "metadata": {"name": SECOND_POLICY},
        "spec": {
            "podSelector": {"matchLabels": {"role": "db"}},
            "policyTypes": ["Ingress"],
            "ingress": [{
                "from": [{"podSelector": {"matchLabels": {"role": "frontend"}}}],
                "ports": [{"protocol": "TCP", "port": OTHER_PORT}]
            }]
        }
    }))
}

/// `pod` pinned to `node`.
fn pinned(mut pod: Pod, node: &NodeRef) -> Pod {
    if let Some(spec) = pod.spec.as_mut() {
        spec.node_selector =
            Some([("kubernetes.io/hostname".to_string(), node.hostname.clone())].into());
    }
    pod
}

/// A busybox client in the node's network namespace (its requests leave from the node's addresses).
fn node_client(node: &NodeRef) -> Result<Pod, TrialError> {
    let mut client = pinned(quick(pod("node-client", &[], &[])?), node);
    if let Some(spec) = client.spec.as_mut() {
        spec.host_network = Some(true);
    }
    Ok(client)
}

/// The URLs of one family: db at 6379 and 8080, the frontend at 8080.
struct Urls {
    family: IpFamily,
    db: String,
    db_other: String,
    frontend: String,
}

/// Runs `check` for every family at once and returns its results in the families' order.
async fn each<'a, F, Fut>(urls: &'a [Urls], check: F) -> Vec<Result<(), TrialError>>
where
    F: Fn(&'a Urls) -> Fut,
    Fut: std::future::Future<Output = Result<(), TrialError>>,
{
    join_all(urls.iter().map(check)).await
}

async fn run_rules(scene: &mut Scene) -> Result<Vec<FamilyRules>, TrialError> {
    let ctx = scene.ctx().clone();
    let nodes = schedulable_nodes(&ctx).await?;
    let node = nodes
        .first()
        .ok_or_else(|| TrialError::Harness("no schedulable node".into()))?;
    let pods = [
        pinned(quick(db_pod()?), node),
        quick(pod("frontend", &[("role", "frontend")], &[OTHER_PORT])?),
        quick(pod("plain", &[], &[])?),
        node_client(node)?,
    ];
    let [db, frontend, plain, node_client] = started(&ctx, None, &pods).await?;
    let urls = families(&ctx, &db)?
        .into_iter()
        .map(|family| {
            Ok(Urls {
                family,
                db: url(&db.ip(family)?, DB_PORT, "/hostname"),
                db_other: url(&db.ip(family)?, OTHER_PORT, "/hostname"),
                frontend: url(&frontend.ip(family)?, OTHER_PORT, "/hostname"),
            })
        })
        .collect::<Result<Vec<Urls>, TrialError>>()?;
    // Each family's baseline: a family whose pod network fails fails its own trials only.
    let mut baselines = Vec::new();
    for u in &urls {
        let paths = [
            (&plain, &db, &u.db),
            (&frontend, &db, &u.db_other),
            (&node_client, &db, &u.db_other),
            (&db, &frontend, &u.frontend),
        ];
        let mut shown = Ok(());
        for (client, server, url) in paths {
            shown = baseline(&ctx, client, server, std::slice::from_ref(url)).await;
            if shown.is_err() {
                break;
            }
        }
        baselines.push(shown);
    }
    ctx.create(&second_policy()?).await?;
    ctx.log(format!("created NetworkPolicy {SECOND_POLICY}"));
    let why =
        format!("comes from a pod without role=frontend, which {SECOND_POLICY} does not allow");
    let second = each(&urls, |u| {
        dropped(&ctx, &plain, std::slice::from_ref(&u.db), &why)
    })
    .await;
    scene.end_part();
    ctx.create(&docs_policy()?).await?;
    ctx.log("created test-network-policy");
    let docs = each(&urls, |u| {
        dropped(
            &ctx,
            &db,
            std::slice::from_ref(&u.frontend),
            "leaves a role=db pod, which test-network-policy isolates for egress (10.0.0.0/24:5978 only)",
        )
    })
    .await;
    scene.end_part();

    let mut out = Vec::new();
    for (((u, shown), second), docs) in urls.iter().zip(baselines).zip(second).zip(docs) {
        let in_force = shown.and(second).and(docs);
        let additive = match &in_force {
            Ok(()) => both_ports(&ctx, &frontend, &db, u).await,
            Err(e) => Err(e.clone()),
        };
        scene.end_part();
        let own_node = match &in_force {
            Ok(()) => answers_as(
                &ctx,
                &node_client,
                &db,
                std::slice::from_ref(&u.db_other),
                "the exemption of the pod's own node (no policy allows this port)",
            )
            .await
            .map_err(with_policy),
            Err(e) => Err(e.clone()),
        };
        scene.end_part();
        out.push(FamilyRules {
            family: u.family,
            additive,
            own_node,
        });
    }
    Ok(out)
}

/// The frontend reaches db on 6379 (test-network-policy's rule) and on 8080 (the second policy's).
async fn both_ports(
    ctx: &Ctx,
    frontend: &Running,
    db: &Running,
    u: &Urls,
) -> Result<(), TrialError> {
    answers_as(
        ctx,
        frontend,
        db,
        std::slice::from_ref(&u.db),
        "test-network-policy",
    )
    .await
    .map_err(with_policy)?;
    answers_as(
        ctx,
        frontend,
        db,
        std::slice::from_ref(&u.db_other),
        &format!("{SECOND_POLICY} (role=frontend on TCP {OTHER_PORT})"),
    )
    .await
}

async fn family_result(
    ctx: &Ctx,
    family: IpFamily,
    pick: impl Fn(&FamilyRules) -> &Result<(), TrialError>,
) -> Result<(), TrialError> {
    let computed = RULES.read(ctx, ..).await?;
    let families = computed.outcome()?;
    let shown = families
        .iter()
        .find(|f| f.family == family)
        .ok_or_else(|| {
            TrialError::Harness(format!("the scenario covered no {family} addresses"))
        })?;
    pick(shown).clone()
}

async fn policies_add_up(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    family_result(&ctx, family, |f| &f.additive).await
}

async fn own_node_admitted(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    family_result(&ctx, family, |f| &f.own_node).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_second_policy_allows_the_frontend_on_the_other_port() {
        let policy = serde_json::to_value(second_policy().unwrap()).unwrap();
        assert_eq!(policy["spec"]["policyTypes"], json!(["Ingress"]));
        assert_eq!(policy["spec"]["ingress"][0]["ports"][0]["port"], 8080);
    }

    #[test]
    fn the_node_client_is_pinned_in_the_host_network() {
        let node = NodeRef {
            name: "w1".into(),
            hostname: "w1".into(),
        };
        let pod = serde_json::to_value(node_client(&node).unwrap()).unwrap();
        assert_eq!(pod["spec"]["hostNetwork"], true);
        assert_eq!(pod["spec"]["nodeSelector"]["kubernetes.io/hostname"], "w1");
    }
}
