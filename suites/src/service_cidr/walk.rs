//! The docs' page is one walk: fill the default range (`test-1` ..), add `newcidr1`, create `test-13` ..
//! `test-16` from it, delete newcidr1 while they hold its addresses, delete them, and see newcidr1 go.
//! Six checks read that walk, a shared scenario ([`netconform::scenario`]): it runs once per run, for
//! whichever of them reads it first, and each reports its step from it with the log of the steps up to it.
//! Filling a range is slow and disruptive, and each check re-walking every step before its own multiplied
//! both (about 50 s against 15 s on the double). A rerun of a check walks again (see the scenario module).
//!
//! The walk holds every service address of the run's budget until newcidr1 is being deleted and the
//! default range is emptied again; its last steps only wait on the controller and hold none.
//!
//! upstream: pkg/controller/servicecidrs/servicecidrs_controller.go (`sync`: the finalizer and `Ready=True`
//! for live ServiceCIDRs; for deleted ones `canDeleteCIDR`, `Ready=False` with reason
//! `ServiceCIDRReasonTerminating` while IPAddresses would be orphaned, and the finalizer removed
//! `deletionGracePeriod` (10 s) after the deletion timestamp once they are gone);
//! pkg/registry/core/service/ipallocator/cidrallocator.go (a ServiceCIDR's allocator serves while it is
//! ready and not being deleted).

use std::net::IpAddr;

use ipnet::Ipv4Net;

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::scenario::{Scenario, Scene};
use netconform::wait::budgets;

use super::api::{
    FINALIZER, RANGE_FULL, apply_newcidr1, cluster_ip_service, delete_service_cidr,
    delete_services, has_finalizer, ipv4_cluster_ip, is_range_full, ready_condition, restore,
    taken_ranges, wait_deletion_blocked, wait_gone, wait_marked_for_deletion, wait_ready,
    wait_released,
};
use super::exhaustion::{Exhausted, exhaust};
use super::ranges::{expansion_range, hands_out};
use super::{
    DOC_CREATE_SERVICES_13_16, DOC_NEWCIDR1_DELETING, check_blocked_condition, mismatch_with_doc,
    newcidr1_name,
};

/// The walk's steps, in the docs' order; each is one check, and part `step as usize` of the walk's log.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Step {
    RangeFull,
    NewcidrReady,
    AllocatesFromNew,
    TerminatingWithFinalizer,
    ReadyFalse,
    Released,
}

/// The docs create four Services (`test-13` .. `test-16`) once newcidr1 exists.
const ADDED_SERVICES: usize = 4;

/// The steps the walk reached, in order, with their verdicts: up to the first that failed.
type Steps = Vec<(Step, Result<(), TrialError>)>;

static WALK: Scenario<Steps> = Scenario {
    name: "service_cidr::walk",
    compute: |scene| Box::pin(walk(scene)),
};

/// The check for `step`, from this run's walk; the check's log is the walk's up to `step`.
pub async fn check(ctx: Ctx, step: Step) -> Result<(), TrialError> {
    let walk = WALK.read(&ctx, ..=step as usize).await?;
    verdict(&walk.value, step)
}

/// `step`'s verdict; a step the walk never reached fails with the failure that stopped it.
fn verdict(steps: &[(Step, Result<(), TrialError>)], step: Step) -> Result<(), TrialError> {
    if let Some((_, result)) = steps.iter().find(|(s, _)| *s == step) {
        return result.clone();
    }
    match steps
        .iter()
        .find_map(|(s, r)| r.as_ref().err().map(|e| (s, e)))
    {
        Some((stopped, e)) => Err(TrialError::Harness(format!(
            "not reached: the docs' scenario stopped at its {stopped:?} step:\n{e}"
        ))),
        None => Err(TrialError::Harness(format!(
            "the walk has no record of its {step:?} step"
        ))),
    }
}

/// Records each step's verdict as the walk goes, and ends its part of the log there.
struct Recorder<'a> {
    scene: &'a mut Scene,
    steps: Steps,
}

impl Recorder<'_> {
    /// Records `step`'s verdict; true when the walk may go on.
    fn record(&mut self, step: Step, result: Result<(), TrialError>) -> bool {
        let ok = result.is_ok();
        self.steps.push((step, result));
        self.scene.end_part();
        ok
    }
}

/// Walks the docs' scenario up to its first failing step, then puts the cluster back (Services released,
/// newcidr1 gone) on every path; what that logs goes with the last step reached.
async fn walk(scene: &mut Scene) -> Steps {
    let ctx = scene.ctx().clone();
    let mut rec = Recorder {
        scene,
        steps: Vec::new(),
    };
    walk_steps(&ctx, &mut rec).await;
    restore(&ctx, &[newcidr1_name(&ctx)], true).await;
    rec.steps
}

async fn walk_steps(ctx: &Ctx, rec: &mut Recorder<'_>) {
    let exhausted = match exhaust(ctx).await {
        Ok(done) => {
            ctx.log(format!(
                "{} Services filled {}; the next one got: {}",
                done.services.len(),
                done.range,
                done.full_message
            ));
            if !done.full_message.contains(RANGE_FULL) {
                ctx.finding(
                    format!("creating a Service in the full range fails with `{RANGE_FULL}`"),
                    format!(
                        "the apiserver names the Service: {} (pkg/registry/core/service/storage/alloc.go allocIPs, v1.36 and later)",
                        done.full_message
                    ),
                );
            }
            rec.record(Step::RangeFull, Ok(()));
            done
        }
        Err(e) => {
            rec.record(Step::RangeFull, Err(e));
            return;
        }
    };
    let (name, cidr) = match add_newcidr1(ctx, &exhausted).await {
        Ok(added) => added,
        Err(e) => {
            rec.record(Step::NewcidrReady, Err(e));
            return;
        }
    };
    rec.record(Step::NewcidrReady, Ok(()));
    let services = match allocate(ctx, &exhausted, &name, cidr).await {
        Ok(services) => services,
        Err(e) => {
            rec.record(Step::AllocatesFromNew, Err(e));
            return;
        }
    };
    rec.record(Step::AllocatesFromNew, Ok(()));
    let holders: Vec<String> = services.iter().map(|(n, _)| n.clone()).collect();
    if !rec.record(
        Step::TerminatingWithFinalizer,
        delete_in_use(ctx, &name, &services).await,
    ) {
        return;
    }
    // newcidr1 is being deleted (no allocator serves it any more); once test-1 .. are gone the default
    // range is whole again and the rest of the walk only waits on the controller: other trials may go on.
    let filled: Vec<String> = exhausted.services.iter().map(|(n, _)| n.clone()).collect();
    match delete_services(ctx, &filled).await {
        Ok(()) => match wait_released(ctx, &filled).await {
            Ok(()) => ctx.release_service_addresses(),
            Err(e) => ctx.log(format!("the default range stays held: {e}")),
        },
        Err(e) => ctx.log(format!("the default range stays held: {e}")),
    }
    if !rec.record(Step::ReadyFalse, blocked(ctx, &name).await) {
        return;
    }
    rec.record(Step::Released, release(ctx, &name, &holders).await);
}

/// `kubectl apply` of newcidr1 next to the full range, and it becoming Ready.
async fn add_newcidr1(ctx: &Ctx, exhausted: &Exhausted) -> Result<(String, Ipv4Net), TrialError> {
    let taken = taken_ranges(ctx).await?;
    let cidr = expansion_range(&exhausted.range, &taken).ok_or_else(|| {
        TrialError::Harness(format!(
            "no free IPv4 range near {} for newcidr1",
            exhausted.range
        ))
    })?;
    let name = apply_newcidr1(ctx, cidr).await?;
    let ready = wait_ready(ctx, &name).await?;
    let message = ready_condition(&ready)
        .map(|c| c.message.clone())
        .unwrap_or_default();
    ctx.log(format!("{name}: Ready=True ({message})"));
    Ok((name, cidr))
}

/// `for i in $(seq 13 16); do kubectl create service clusterip "test-$i" --tcp 80 ...; done`: every one
/// must get an address of newcidr1 outside the full default range.
async fn allocate(
    ctx: &Ctx,
    exhausted: &Exhausted,
    name: &str,
    new: Ipv4Net,
) -> Result<Vec<(String, IpAddr)>, TrialError> {
    let old = exhausted.range;
    let mut services = Vec::new();
    for number in exhausted.next..exhausted.next + ADDED_SERVICES {
        let service = format!("test-{number}");
        let created = match create_once_allocator_serves(ctx, &service).await {
            Ok(svc) => svc,
            Err(e) if is_range_full(&e) => {
                return Err(mismatch_with_doc(
                    &format!(
                        "creating Service {service} after ServiceCIDR {name} ({new}) became Ready"
                    ),
                    &format!("a ClusterIP from {new}"),
                    &e.to_string(),
                    &DOC_CREATE_SERVICES_13_16,
                ));
            }
            Err(e) => return Err(e),
        };
        let ip = ipv4_cluster_ip(&created).ok_or_else(|| {
            TrialError::Harness(format!("Service {service} has no IPv4 ClusterIP"))
        })?;
        ctx.log(format!("{service}: {ip}"));
        if !hands_out(&new, ip) || hands_out(&old, ip) {
            return Err(mismatch_with_doc(
                &format!(
                    "the ClusterIP of Service {service}, created after {old} filled up and newcidr1 was added"
                ),
                &format!("an address of newcidr1 {new} outside {old}"),
                &ip.to_string(),
                &DOC_CREATE_SERVICES_13_16,
            ));
        }
        services.push((service, ip));
    }
    Ok(services)
}

/// Creates the Service, retrying `range is full` within [`budgets::SERVICE_CIDR_ALLOCATOR`]: the
/// apiserver's MetaAllocator picks up a Ready ServiceCIDR through an informer and a work queue
/// (pkg/registry/core/service/ipallocator/cidrallocator.go `enqueueServiceCIDR` -> `syncAllocators`), so
/// the first creations after Ready may still find the old range full; upstream's own e2e
/// (test/e2e/network/service_cidrs.go) retries the creation. The last error is returned once the budget is
/// spent.
async fn create_once_allocator_serves(
    ctx: &Ctx,
    service: &str,
) -> Result<k8s_openapi::api::core::v1::Service, TrialError> {
    let budget = budgets::SERVICE_CIDR_ALLOCATOR.scaled(ctx.scale());
    let started = std::time::Instant::now();
    let mut pause = std::time::Duration::from_millis(100);
    loop {
        match ctx.create(&cluster_ip_service(service, None)?).await {
            Err(e) if is_range_full(&e) && started.elapsed() + pause < budget => {
                ctx.log(format!(
                    "{service}: {e}; retrying while the allocator picks up the new ServiceCIDR ({} budget)",
                    budgets::SERVICE_CIDR_ALLOCATOR.name
                ));
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(std::time::Duration::from_secs(2));
            }
            other => return other,
        }
    }
}

/// `kubectl delete servicecidr newcidr1` while the added Services hold its addresses: it must stay,
/// marked for deletion, held by the finalizer.
async fn delete_in_use(
    ctx: &Ctx,
    name: &str,
    services: &[(String, IpAddr)],
) -> Result<(), TrialError> {
    delete_service_cidr(ctx, name).await?;
    let holders: Vec<String> = services
        .iter()
        .map(|(n, ip)| format!("{n} ({ip})"))
        .collect();
    let found =
        wait_marked_for_deletion(ctx, name, &format!("Services {}", holders.join(", "))).await?;
    let finalizers = found.metadata.finalizers.clone().unwrap_or_default();
    ensure(
        has_finalizer(&found),
        &format!("metadata.finalizers of ServiceCIDR {name} after its deletion, while in use"),
        format!("{FINALIZER}\n\n{}", DOC_NEWCIDR1_DELETING.excerpt()),
        format!("[{}]", finalizers.join(", ")),
    )
}

/// The controller's verdict on the blocked deletion: `Ready=False`, its message and reason.
async fn blocked(ctx: &Ctx, name: &str) -> Result<(), TrialError> {
    let found = wait_deletion_blocked(ctx, name, "its Services").await?;
    check_blocked_condition(ctx, &found)
}

/// `for i in $(seq 13 16); do kubectl delete service "test-$i"; done`: then newcidr1 goes.
async fn release(ctx: &Ctx, name: &str, holders: &[String]) -> Result<(), TrialError> {
    delete_services(ctx, holders).await?;
    let started = std::time::Instant::now();
    let awaited = format!(
        "ServiceCIDR {name} to be gone once Services {} are deleted (the controller waits ~10 s)",
        holders.join(", ")
    );
    wait_gone(ctx, name, &awaited).await?;
    ctx.log(format!(
        "{name} was gone {:.1} s after its Services were deleted",
        started.elapsed().as_secs_f64()
    ));
    Ok(())
}
