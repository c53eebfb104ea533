//! "Network policies are implemented by the network plugin ... Creating a NetworkPolicy resource without a
//! controller that implements it will have no effect" (seed row [P21]). The trial runs on every cluster:
//! it applies the docs' `test-network-policy` and probes the path it closes (an unlabelled pod to a
//! role=db pod on 6379), then holds what it sees against what netconform knows of the cluster
//! (`NETCONFORM_NETWORK_POLICY`, else preflight's evidence: an enforcing plugin's DaemonSet):
//!
//! - an enforcing plugin: the path must close (as in `unlabelled_pod_dropped`); if it stays open the
//!   plugin does not enforce (kindnetd fails open on a kernel without nfqueue), and that fails;
//! - no enforcing plugin: the path stays open for as long as an enforcing plugin would get to close it
//!   (the dataplane-programming budget the other NetworkPolicy checks give), and the run reports it
//!   as a doc finding (the policy had no effect, as the docs say), never as a failure. A path that closes
//!   anyway is reported too (a plugin netconform does not know), also not as a failure.
//!
//! upstream: the apiserver stores NetworkPolicies and nothing in Kubernetes itself acts on them
//! (pkg/registry/networking/networkpolicy/strategy.go: validation and storage only; no controller of
//! kube-controller-manager watches them): enforcement is the network plugin's
//! (kube-router pkg/controllers/netpol, kube-network-policies, Calico, Cilium...).

use futures::future::join_all;

use super::{DB_PORT, PAGE, baseline, db_pod, docs_policy, dropped, families, pod, quick};
use crate::deviations::{Breaks, Deviation};
use crate::shared::probe::{NO_ANSWER, Probe, REACHABLE, Reply, Running, request, started, url};
use netconform::config::Toggle;
use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::trial::TrialDef;
use netconform::wait::Expect;

pub const TRIALS: &[TrialDef] = &[TrialDef {
    name: "connectivity::network_policy::effect_follows_enforcement",
    claim: "a NetworkPolicy takes effect only through a network plugin that enforces it: with test-network-policy applied, a pod without role=frontend is cut off from role=db pods where the cluster runs an enforcing plugin, and where it runs none the policy has no effect, which is reported, not failed (seed row [P21])",
    doc_url: PAGE,
    needs: &[],
    run: |ctx| Box::pin(effect_follows_enforcement(ctx)),
}];

/// The test double's deviations that must fail this trial: exactly these (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::NetworkPolicyNotEnforced,
        &["connectivity::network_policy::effect_follows_enforcement"],
    ),
    (
        Deviation::NetworkPolicyIpv4Only,
        &["connectivity::network_policy::effect_follows_enforcement"],
    ),
];

/// The docs' sentence this trial checks.
const NO_CONTROLLER: &str =
    "creating a NetworkPolicy resource without a controller that implements it will have no effect";

/// Whether netconform expects NetworkPolicy to be enforced, and why.
fn expected(ctx: &Ctx) -> (bool, String) {
    let detected = &ctx.capabilities().network_policy;
    match ctx.run().settings.network_policy {
        Toggle::Yes => (true, "NETCONFORM_NETWORK_POLICY=yes".into()),
        Toggle::No => (false, "NETCONFORM_NETWORK_POLICY=no".into()),
        Toggle::Auto => (detected.present, detected.evidence.clone()),
    }
}

async fn effect_follows_enforcement(ctx: Ctx) -> Result<(), TrialError> {
    let pods = [quick(db_pod()?), quick(pod("plain", &[], &[])?)];
    let [db, plain] = started(&ctx, None, &pods).await?;
    let urls = families(&ctx, &db)?
        .into_iter()
        .map(|family| Ok(url(&db.ip(family)?, DB_PORT, "/hostname")))
        .collect::<Result<Vec<String>, TrialError>>()?;
    baseline(&ctx, &plain, &db, &urls).await?;
    ctx.create(&docs_policy()?).await?;
    let (enforced, why) = expected(&ctx);
    ctx.log(format!(
        "created test-network-policy; NetworkPolicy enforcement expected: {enforced} ({why})"
    ));
    if enforced {
        let reason = format!(
            "comes from a pod without role=frontend, and the cluster enforces NetworkPolicy ({why})"
        );
        let closed = join_all(
            urls.iter()
                .map(|u| dropped(&ctx, &plain, std::slice::from_ref(u), &reason)),
        )
        .await;
        return closed.into_iter().collect();
    }
    let mut closed = Vec::new();
    for u in &urls {
        if let Some(reply) = stays_open(&ctx, &plain, u).await? {
            closed.push(format!("{u}: {reply:?}"));
        }
    }
    match closed.is_empty() {
        true => ctx.finding(
            NO_CONTROLLER,
            format!(
                "no NetworkPolicy enforcement ({why}): with test-network-policy applied, pod {} still reached role=db pod {} at [{}] for the {} s an enforcing plugin gets to act: the policy had no effect",
                plain.name,
                db.name,
                urls.join(", "),
                REACHABLE.budget.scaled(ctx.scale()).as_secs()
            ),
        ),
        false => ctx.finding(
            NO_CONTROLLER,
            format!(
                "netconform found no NetworkPolicy enforcement ({why}), yet test-network-policy cut pod {} off ({}): the cluster enforces it through a plugin netconform does not know (set NETCONFORM_NETWORK_POLICY=yes to run the NetworkPolicy trials)",
                plain.name,
                closed.join("; ")
            ),
        ),
    }
    Ok(())
}

/// Whether the policy closes the path from `client` to `url` within the time an enforcing plugin gets
/// to program it ([`REACHABLE`], the budget the other NetworkPolicy checks give it): `None` when every
/// request of that window is answered (the path stayed open), else how the first unanswered one ended.
async fn stays_open(ctx: &Ctx, client: &Running, url: &str) -> Result<Option<Reply>, TrialError> {
    let secs = NO_ANSWER.scaled(ctx.scale()).as_secs().max(1);
    let closed = Expect::that(
        format!(
            "the policy to cut {} off from {url} (it does not, without an enforcing plugin)",
            client.describe()
        ),
        |probe: &Probe| probe.reply.no_answer(),
    )
    .showing(Probe::outcome);
    match ctx
        .eventually(REACHABLE, || request(ctx, client, url, secs), closed)
        .await
    {
        Ok(probe) => Ok(Some(probe.reply)),
        Err(TrialError::Timeout { .. }) => Ok(None),
        Err(e) => Err(e),
    }
}
