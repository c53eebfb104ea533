//! The docs' `test-network-policy` with its ipBlocks re-addressed to the cluster (seed row [P16]): its
//! ingress ipBlock (172.17.0.0/16 except 172.17.1.0/24) and its egress ipBlock (10.0.0.0/24, TCP 5978)
//! hold no address of a kind cluster, so the example as written never exercises them. Here they keep
//! their shape and move onto pod addresses, per family: the ingress `cidr` is the longest prefix holding
//! two client pods (`inside` and `excepted`) and its `except` holds `excepted` alone; the egress `cidr` is
//! the /24 (IPv6: /120) of `inside`, which serves TCP 5978 (the rule's port) and 8080. The rest of the
//! policy is the docs' own. One scenario (`connectivity::network_policy::ip_blocks`, three pods, one
//! policy with both families' blocks) answers the trials of both families.
//!
//! Each positive check follows a negative one that shows the policy in force for that direction:
//! `excepted` stops reaching db on 6379 (ingress), db stops reaching `inside` on 8080 (egress); only then
//! must `inside` reach db on 6379 and db reach `inside` on 5978.
//!
//! upstream: staging/src/k8s.io/api/networking/v1/types.go `IPBlock` ("Except is a slice of CIDRs that
//! should not be included within an IPBlock"); kube-router pkg/controllers/netpol/policy.go (an ipBlock
//! peer is an ipset of its cidr with each `except` added `nomatch`, per family); kube-network-policies
//! pkg/networkpolicy/networkpolicy.go `evaluateIPBlocks`; test/e2e/network/netpol/network_policy.go
//! ("should allow ingress access from namespace on one named port" ff.: upstream's e2e derives its ipBlocks
//! from the pods' addresses the same way).

use std::net::IpAddr;

use futures::future::join_all;
use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use k8s_openapi::api::networking::v1::{IPBlock, NetworkPolicy, NetworkPolicyPeer};

use super::{
    DB_PORT, OTHER_PORT, PAGE, answers_as, baseline, db_pod, docs_policy, dropped, families, pod,
    quick, with_policy,
};
use crate::deviations::{Breaks, Deviation};
use crate::family::trials;
use crate::shared::probe::{Running, started, url};
use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::IpFamily;
use netconform::preflight::Need;
use netconform::scenario::{Scenario, Scene};
use netconform::trial::TrialDef;

/// The port of the example's egress rule.
const EGRESS_PORT: u16 = 5978;

pub const TRIALS: &[TrialDef] = trials![
    per_family {
        name: "connectivity::network_policy_ip_block_except",
        claim: [
            "test-network-policy's ipBlock peer admits the addresses of its cidr but not those of its except: re-addressed to two ",
            " pod addresses (cidr: their common prefix, except: one of them), the other pod connects to role=db pods on TCP 6379 and the excepted one cannot (seed row [P16])"
        ],
        doc_url: PAGE,
        needs: [Need::NetworkPolicy],
        run: ip_block_except,
    },
    per_family {
        name: "connectivity::network_policy_ip_block_egress",
        claim: [
            "test-network-policy's egress rule lets role=db pods connect to its ipBlock on TCP 5978 only: re-addressed to the /24 (/120) of an ",
            " pod address, a role=db pod connects to that pod on 5978 and not on 8080 (seed row [P16])"
        ],
        doc_url: PAGE,
        needs: [Need::NetworkPolicy],
        run: ip_block_egress,
    },
];

/// The test double's deviations that must fail these trials: exactly these (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::NetworkPolicyNotEnforced,
        &[
            "connectivity::network_policy_ip_block_except::ipv4",
            "connectivity::network_policy_ip_block_except::ipv6",
            "connectivity::network_policy_ip_block_egress::ipv4",
            "connectivity::network_policy_ip_block_egress::ipv6",
        ],
    ),
    (
        Deviation::NetworkPolicyIpv4Only,
        &[
            "connectivity::network_policy_ip_block_except::ipv6",
            "connectivity::network_policy_ip_block_egress::ipv6",
        ],
    ),
    (
        Deviation::NetworkPolicyEgressIgnored,
        &[
            "connectivity::network_policy_ip_block_egress::ipv4",
            "connectivity::network_policy_ip_block_egress::ipv6",
        ],
    ),
    (
        Deviation::NetworkPolicyPortsIgnored,
        &[
            "connectivity::network_policy_ip_block_egress::ipv4",
            "connectivity::network_policy_ip_block_egress::ipv6",
        ],
    ),
    (
        Deviation::NetworkPolicyRepliesNotTracked,
        &[
            "connectivity::network_policy_ip_block_except::ipv4",
            "connectivity::network_policy_ip_block_except::ipv6",
            "connectivity::network_policy_ip_block_egress::ipv4",
            "connectivity::network_policy_ip_block_egress::ipv6",
        ],
    ),
    (
        Deviation::NetworkPolicyIpBlockExceptIgnored,
        &[
            "connectivity::network_policy_ip_block_except::ipv4",
            "connectivity::network_policy_ip_block_except::ipv6",
        ],
    ),
    (
        Deviation::NetworkPolicyIpBlocksIgnored,
        &[
            "connectivity::network_policy_ip_block_except::ipv4",
            "connectivity::network_policy_ip_block_except::ipv6",
            "connectivity::network_policy_ip_block_egress::ipv4",
            "connectivity::network_policy_ip_block_egress::ipv6",
        ],
    ),
];

/// What one family showed: the ingress ipBlock with its except, and the egress ipBlock.
struct FamilyBlocks {
    family: IpFamily,
    except: Result<(), TrialError>,
    egress: Result<(), TrialError>,
}

static IP_BLOCKS: Scenario<Result<Vec<FamilyBlocks>, TrialError>> = Scenario {
    name: "connectivity::network_policy::ip_blocks",
    compute: |scene| Box::pin(run_ip_blocks(scene)),
};

/// One family's re-addressed blocks and the URLs its checks probe.
struct Plan {
    family: IpFamily,
    ingress: IPBlock,
    egress: IPBlock,
    /// db at 6379, as `inside` and `excepted` reach it.
    db_url: String,
    /// `inside` at 5978 and at 8080, as db reaches it.
    inside_allowed: String,
    inside_other: String,
}

fn plan(
    family: IpFamily,
    db: &Running,
    inside: &Running,
    excepted: &Running,
) -> Result<Plan, TrialError> {
    let parse = |pod: &Running| -> Result<IpAddr, TrialError> {
        let ip = pod.ip(family)?;
        ip.parse()
            .map_err(|e| TrialError::Harness(format!("pod {}: address {ip}: {e}", pod.name)))
    };
    let (inside_ip, excepted_ip) = (parse(inside)?, parse(excepted)?);
    let cidr = common_prefix(inside_ip, excepted_ip).ok_or_else(|| {
        TrialError::Harness(format!("no common prefix of {inside_ip} and {excepted_ip}"))
    })?;
    let except = IpNet::from(excepted_ip);
    let egress = network_of(inside_ip);
    Ok(Plan {
        family,
        ingress: IPBlock {
            cidr: cidr.to_string(),
            except: Some(vec![except.to_string()]),
        },
        egress: IPBlock {
            cidr: egress.to_string(),
            except: None,
        },
        db_url: url(&db.ip(family)?, DB_PORT, "/hostname"),
        inside_allowed: url(&inside.ip(family)?, EGRESS_PORT, "/hostname"),
        inside_other: url(&inside.ip(family)?, OTHER_PORT, "/hostname"),
    })
}

/// The longest prefix holding both addresses (of one family).
fn common_prefix(a: IpAddr, b: IpAddr) -> Option<IpNet> {
    match (a, b) {
        (IpAddr::V4(a), IpAddr::V4(b)) => {
            let len = (u32::from(a) ^ u32::from(b)).leading_zeros();
            Ipv4Net::new(a, u8::try_from(len).ok()?)
                .ok()
                .map(|n| IpNet::V4(n.trunc()))
        }
        (IpAddr::V6(a), IpAddr::V6(b)) => {
            let len = (u128::from(a) ^ u128::from(b)).leading_zeros();
            Ipv6Net::new(a, u8::try_from(len).ok()?)
                .ok()
                .map(|n| IpNet::V6(n.trunc()))
        }
        _ => None,
    }
}

/// The docs' egress block is a /24: the /24 of an IPv4 address, the /120 (as many addresses) of an IPv6 one.
fn network_of(ip: IpAddr) -> IpNet {
    match ip {
        IpAddr::V4(v4) => Ipv4Net::new(v4, 24).map(|n| IpNet::V4(n.trunc())),
        IpAddr::V6(v6) => Ipv6Net::new(v6, 120).map(|n| IpNet::V6(n.trunc())),
    }
    .unwrap_or_else(|_| IpNet::from(ip))
}

/// The docs' policy with its ingress ipBlock peer replaced by `plans`' ingress blocks (the selector peers
/// kept) and its egress ipBlock by their egress blocks.
fn readdressed(plans: &[Plan]) -> Result<NetworkPolicy, TrialError> {
    let mut policy = docs_policy()?;
    let block = |b: &IPBlock| NetworkPolicyPeer {
        ip_block: Some(b.clone()),
        ..Default::default()
    };
    let spec = policy
        .spec
        .as_mut()
        .ok_or_else(|| TrialError::Harness("test-network-policy has no spec".into()))?;
    let rule = spec
        .ingress
        .as_mut()
        .and_then(|i| i.first_mut())
        .ok_or_else(|| TrialError::Harness("test-network-policy has no ingress rule".into()))?;
    let mut from: Vec<NetworkPolicyPeer> = plans.iter().map(|p| block(&p.ingress)).collect();
    from.extend(
        rule.from
            .take()
            .unwrap_or_default()
            .into_iter()
            .filter(|peer| peer.ip_block.is_none()),
    );
    rule.from = Some(from);
    let rule = spec
        .egress
        .as_mut()
        .and_then(|e| e.first_mut())
        .ok_or_else(|| TrialError::Harness("test-network-policy has no egress rule".into()))?;
    rule.to = Some(plans.iter().map(|p| block(&p.egress)).collect());
    Ok(policy)
}

async fn run_ip_blocks(scene: &mut Scene) -> Result<Vec<FamilyBlocks>, TrialError> {
    let ctx = scene.ctx().clone();
    let pods = [
        quick(db_pod()?),
        quick(pod("inside", &[], &[EGRESS_PORT, OTHER_PORT])?),
        quick(pod("excepted", &[], &[])?),
    ];
    let [db, inside, excepted] = started(&ctx, None, &pods).await?;
    let plans = families(&ctx, &db)?
        .into_iter()
        .map(|family| plan(family, &db, &inside, &excepted))
        .collect::<Result<Vec<Plan>, TrialError>>()?;
    // Each family's baseline: a family whose pod network fails fails its own trials only.
    let mut baselines = Vec::new();
    for p in &plans {
        let shown = match baseline(&ctx, &excepted, &db, std::slice::from_ref(&p.db_url)).await {
            Ok(()) => {
                baseline(
                    &ctx,
                    &db,
                    &inside,
                    &[p.inside_other.clone(), p.inside_allowed.clone()],
                )
                .await
            }
            Err(e) => Err(e),
        };
        baselines.push(shown);
        ctx.log(format!(
            "{}: ingress ipBlock {} except {:?}, egress ipBlock {} (TCP {EGRESS_PORT})",
            p.family, p.ingress.cidr, p.ingress.except, p.egress.cidr
        ));
    }
    ctx.create(&readdressed(&plans)?).await?;
    ctx.log("created test-network-policy with the ipBlocks above");
    scene.end_part();

    // The policy in force, both directions of every family at once (each negative check waits out its
    // requests' timeouts).
    let in_force = join_all(plans.iter().zip(baselines).map(|(p, shown)| {
        let ctx = &ctx;
        let (db, excepted) = (&db, &excepted);
        async move {
            if let Err(e) = shown {
                return (Err(e.clone()), Err(e));
            }
            let ingress = dropped(
                ctx,
                excepted,
                std::slice::from_ref(&p.db_url),
                "comes from an address in the ipBlock's except",
            )
            .await;
            let egress = dropped(
                ctx,
                db,
                std::slice::from_ref(&p.inside_other),
                &format!("is TCP {OTHER_PORT}, not the egress rule's {EGRESS_PORT}"),
            )
            .await;
            (ingress, egress)
        }
    }))
    .await;
    scene.end_part();

    let mut out = Vec::new();
    for (p, (ingress, egress)) in plans.iter().zip(in_force) {
        let except = match ingress {
            Ok(()) => answers_as(
                &ctx,
                &inside,
                &db,
                std::slice::from_ref(&p.db_url),
                &format!("the ipBlock {} (not in its except)", p.ingress.cidr),
            )
            .await
            .map_err(with_policy),
            Err(e) => Err(e),
        };
        let egress = match egress {
            Ok(()) => answers_as(
                &ctx,
                &db,
                &inside,
                std::slice::from_ref(&p.inside_allowed),
                &format!("the egress ipBlock {} on TCP {EGRESS_PORT}", p.egress.cidr),
            )
            .await
            .map_err(with_policy),
            Err(e) => Err(e),
        };
        scene.end_part();
        out.push(FamilyBlocks {
            family: p.family,
            except,
            egress,
        });
    }
    Ok(out)
}

/// This run's scenario, and what it showed for `family`.
async fn family_result<T>(
    ctx: &Ctx,
    family: IpFamily,
    pick: impl Fn(&FamilyBlocks) -> Result<T, TrialError>,
) -> Result<T, TrialError> {
    let computed = IP_BLOCKS.read(ctx, ..).await?;
    let families = computed.outcome()?;
    let shown = families
        .iter()
        .find(|f| f.family == family)
        .ok_or_else(|| {
            TrialError::Harness(format!("the scenario covered no {family} addresses"))
        })?;
    pick(shown)
}

async fn ip_block_except(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    family_result(&ctx, family, |f| f.except.clone()).await
}

async fn ip_block_egress(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    family_result(&ctx, family, |f| f.egress.clone()).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn common_prefix_and_network() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap();
        assert_eq!(
            common_prefix(ip("10.244.1.5"), ip("10.244.2.7"))
                .unwrap()
                .to_string(),
            "10.244.0.0/22"
        );
        assert_eq!(
            common_prefix(ip("fd00:10:244:1::5"), ip("fd00:10:244:1::6"))
                .unwrap()
                .to_string(),
            "fd00:10:244:1::4/126"
        );
        assert!(common_prefix(ip("10.0.0.1"), ip("fd00::1")).is_none());
        assert_eq!(network_of(ip("10.244.1.5")).to_string(), "10.244.1.0/24");
        assert_eq!(
            network_of(ip("fd00:10:244:1::5")).to_string(),
            "fd00:10:244:1::/120"
        );
    }

    #[test]
    fn readdressed_keeps_the_selector_peers() {
        let running = |name: &str, v4: &str, v6: &str| Running {
            namespace: "ns".into(),
            name: name.into(),
            container: "client".into(),
            node: "w".into(),
            ips: vec![v4.into(), v6.into()],
        };
        let db = running("db", "10.244.1.2", "fd00:10:244:1::2");
        let inside = running("inside", "10.244.1.5", "fd00:10:244:1::5");
        let excepted = running("excepted", "10.244.2.7", "fd00:10:244:2::7");
        let plans: Vec<Plan> = [IpFamily::IPv4, IpFamily::IPv6]
            .into_iter()
            .map(|f| plan(f, &db, &inside, &excepted).unwrap())
            .collect();
        let policy = serde_json::to_value(readdressed(&plans).unwrap()).unwrap();
        let from = &policy["spec"]["ingress"][0]["from"];
        assert_eq!(from[0]["ipBlock"]["cidr"], "10.244.0.0/22");
        assert_eq!(from[0]["ipBlock"]["except"][0], "10.244.2.7/32");
        assert_eq!(from[1]["ipBlock"]["except"][0], "fd00:10:244:2::7/128");
        assert_eq!(
            from[2]["namespaceSelector"]["matchLabels"]["project"],
            "myproject"
        );
        assert_eq!(from[3]["podSelector"]["matchLabels"]["role"], "frontend");
        let to = &policy["spec"]["egress"][0]["to"];
        assert_eq!(to[0]["ipBlock"]["cidr"], "10.244.1.0/24");
        assert_eq!(to[1]["ipBlock"]["cidr"], "fd00:10:244:1::/120");
        assert_eq!(policy["spec"]["egress"][0]["ports"][0]["port"], 5978);
    }
}
