//! The docs' scenario after exhaustion: add `newcidr1`, allocate from it, delete it while in use, release it.
//!
//! upstream: pkg/controller/servicecidrs/servicecidrs_controller.go (`sync`: the finalizer and `Ready=True`
//! for live ServiceCIDRs; for deleted ones `canDeleteCIDR`, `Ready=False` with reason
//! `ServiceCIDRReasonTerminating` while IPAddresses would be orphaned, and the finalizer removed
//! `deletionGracePeriod` (10 s) after the deletion timestamp once they are gone);
//! pkg/registry/core/service/ipallocator/cidrallocator.go (a ServiceCIDR's allocator serves while it is
//! ready and not being deleted).

use std::net::IpAddr;

use ipnet::Ipv4Net;
use k8s_openapi::api::networking::v1::ServiceCIDR;

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};

use super::api::{
    FINALIZER, apply_newcidr1, cluster_ip_service, delete_service_cidr, delete_services,
    has_finalizer, ipv4_cluster_ip, is_range_full, ready_condition, restore, taken_ranges,
    wait_deletion_blocked, wait_gone, wait_marked_for_deletion, wait_ready,
};
use super::exhaustion::{Exhausted, exhaust};
use super::ranges::{expansion_range, hands_out};
use super::{
    DOC_CREATE_SERVICES_13_16, DOC_NEWCIDR1_DELETING, check_blocked_condition, mismatch_with_doc,
    newcidr1_name,
};

/// The docs create four Services (`test-13` .. `test-16`) once newcidr1 exists.
const ADDED_SERVICES: usize = 4;

/// newcidr1 added to the exhausted cluster.
struct Added {
    exhausted: Exhausted,
    name: String,
    cidr: Ipv4Net,
}

/// Exhausts the default range and creates this trial's newcidr1 (not yet awaited).
async fn add_newcidr1(ctx: &Ctx) -> Result<Added, TrialError> {
    let exhausted = exhaust(ctx).await?;
    let taken = taken_ranges(ctx).await?;
    let cidr = expansion_range(&exhausted.range, &taken).ok_or_else(|| {
        TrialError::Harness(format!(
            "no free IPv4 range near {} for newcidr1",
            exhausted.range
        ))
    })?;
    let name = apply_newcidr1(ctx, cidr).await?;
    Ok(Added {
        exhausted,
        name,
        cidr,
    })
}

/// newcidr1 Ready and the Services the docs create after it, with their ClusterIPs.
struct Expanded {
    added: Added,
    services: Vec<(String, IpAddr)>,
}

/// `for i in $(seq 13 16); do kubectl create service clusterip "test-$i" --tcp 80 ...; done`: every one
/// must get an address of newcidr1 outside the full default range.
async fn expand(ctx: &Ctx) -> Result<Expanded, TrialError> {
    let added = add_newcidr1(ctx).await?;
    wait_ready(ctx, &added.name).await?;
    let (old, new) = (added.exhausted.range, added.cidr);
    let mut services = Vec::new();
    for number in added.exhausted.next..added.exhausted.next + ADDED_SERVICES {
        let name = format!("test-{number}");
        let created = match ctx.create(&cluster_ip_service(&name, None)?).await {
            Ok(svc) => svc,
            Err(e) if is_range_full(&e) => {
                return Err(mismatch_with_doc(
                    &format!(
                        "creating Service {name} after ServiceCIDR {} ({new}) became Ready",
                        added.name
                    ),
                    &format!("a ClusterIP from {new}"),
                    &e.to_string(),
                    &DOC_CREATE_SERVICES_13_16,
                ));
            }
            Err(e) => return Err(e),
        };
        let ip = ipv4_cluster_ip(&created)
            .ok_or_else(|| TrialError::Harness(format!("Service {name} has no IPv4 ClusterIP")))?;
        ctx.log(format!("{name}: {ip}"));
        if !hands_out(&new, ip) || hands_out(&old, ip) {
            return Err(mismatch_with_doc(
                &format!(
                    "the ClusterIP of Service {name}, created after {} filled up and newcidr1 was added",
                    old
                ),
                &format!("an address of newcidr1 {new} outside {old}"),
                &ip.to_string(),
                &DOC_CREATE_SERVICES_13_16,
            ));
        }
        services.push((name, ip));
    }
    Ok(Expanded { added, services })
}

/// `kubectl delete servicecidr newcidr1` while the added Services hold its addresses: it must stay,
/// marked for deletion.
async fn delete_in_use(ctx: &Ctx) -> Result<(Expanded, ServiceCIDR), TrialError> {
    let expanded = expand(ctx).await?;
    let name = expanded.added.name.clone();
    delete_service_cidr(ctx, &name).await?;
    let holders: Vec<String> = expanded
        .services
        .iter()
        .map(|(n, ip)| format!("{n} ({ip})"))
        .collect();
    let found =
        wait_marked_for_deletion(ctx, &name, &format!("Services {}", holders.join(", "))).await?;
    Ok((expanded, found))
}

/// Runs `checks`, then puts the cluster back (Services released, newcidr1 gone) on every path.
async fn restoring<F>(ctx: &Ctx, checks: F) -> Result<(), TrialError>
where
    F: Future<Output = Result<(), TrialError>>,
{
    let result = checks.await;
    let name = newcidr1_name(ctx);
    restore(ctx, &[name], true).await;
    result
}

pub async fn becomes_ready(ctx: Ctx) -> Result<(), TrialError> {
    restoring(&ctx, async {
        let added = add_newcidr1(&ctx).await?;
        let ready = wait_ready(&ctx, &added.name).await?;
        let message = ready_condition(&ready)
            .map(|c| c.message.clone())
            .unwrap_or_default();
        ctx.log(format!("{}: Ready=True ({message})", added.name));
        Ok(())
    })
    .await
}

pub async fn allocates_from_new_range(ctx: Ctx) -> Result<(), TrialError> {
    restoring(&ctx, async { expand(&ctx).await.map(|_| ()) }).await
}

pub async fn terminating_with_finalizer(ctx: Ctx) -> Result<(), TrialError> {
    restoring(&ctx, async {
        let (_, found) = delete_in_use(&ctx).await?;
        ensure(
            has_finalizer(&found),
            &format!(
                "metadata.finalizers of ServiceCIDR {} after its deletion, while in use",
                found.metadata.name.as_deref().unwrap_or("")
            ),
            format!("{FINALIZER}\n\n{}", DOC_NEWCIDR1_DELETING.excerpt()),
            format!(
                "[{}]",
                found
                    .metadata
                    .finalizers
                    .clone()
                    .unwrap_or_default()
                    .join(", ")
            ),
        )
    })
    .await
}

pub async fn ready_false_ips_remain(ctx: Ctx) -> Result<(), TrialError> {
    restoring(&ctx, async {
        let (expanded, _) = delete_in_use(&ctx).await?;
        let blocked = wait_deletion_blocked(&ctx, &expanded.added.name, "its Services").await?;
        check_blocked_condition(&ctx, &blocked)
    })
    .await
}

pub async fn deleted_after_services(ctx: Ctx) -> Result<(), TrialError> {
    restoring(&ctx, async {
        let (expanded, _) = delete_in_use(&ctx).await?;
        let name = expanded.added.name.clone();
        wait_deletion_blocked(&ctx, &name, "its Services").await?;
        // `for i in $(seq 13 16); do kubectl delete service "test-$i"; done`
        let holders: Vec<String> = expanded.services.iter().map(|(n, _)| n.clone()).collect();
        delete_services(&ctx, &holders).await?;
        let started = std::time::Instant::now();
        let awaited = format!("ServiceCIDR {name} to be gone once Services {} are deleted (the controller waits ~10 s)", holders.join(", "));
        wait_gone(&ctx, &name, &awaited).await?;
        ctx.log(format!("{name} was gone {:.1} s after its Services were deleted", started.elapsed().as_secs_f64()));
        Ok(())
    })
    .await
}
