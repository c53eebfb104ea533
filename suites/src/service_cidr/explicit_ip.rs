//! The non-disruptive variant: the same finalizer behaviour without exhausting anything. The trial adds the
//! docs' newcidr1 over a free /30 of TEST-NET-1 and Services with explicit ClusterIPs take both of its
//! addresses, so other trials' Services never get one (a full range is skipped by the allocator).
//!
//! upstream: test/e2e/network/service_cidrs.go (a ServiceCIDR in a documentation range, a Service with an
//! explicit ClusterIP in it once it is Ready), pkg/registry/core/service/ipallocator/cidrallocator.go
//! (`AllocateService`: a ready range that contains the requested IP), ipallocator.go `createIPAddress`,
//! pkg/controller/servicecidrs/servicecidrs_controller.go (finalizer, `canDeleteCIDR`, grace period).

use std::net::IpAddr;

use ipnet::Ipv4Net;
use k8s_openapi::api::networking::v1::ServiceCIDR;

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};

use super::api::{
    FINALIZER, apply_newcidr1, apply_newcidr1_named, cluster_ip_service, create_with_explicit_ip,
    delete_service_cidr, delete_services, get_ip_address, has_finalizer, ipv4_cluster_ip,
    list_ip_addresses, parent_ref_text, ready_condition, restore, taken_ranges,
    wait_deletion_blocked, wait_gone, wait_gone_unless, wait_marked_for_deletion, wait_ready,
};
use super::ranges::{allocatable, variant_range};
use super::{DOC_NEWCIDR1_DELETING, check_blocked_condition, newcidr1_name};

/// The ServiceCIDR and the Services holding its addresses.
struct Claimed {
    name: String,
    cidr: Ipv4Net,
    services: Vec<(String, IpAddr)>,
}

/// Adds newcidr1 over a free /30 of this trial's slot and takes its addresses with explicit ClusterIPs.
async fn claim(ctx: &Ctx, slot: u32) -> Result<Claimed, TrialError> {
    let taken = taken_ranges(ctx).await?;
    let cidr = variant_range(slot, &taken).ok_or_else(|| {
        TrialError::Harness(format!(
            "no free /30 left in {}",
            super::ranges::VARIANT_POOL
        ))
    })?;
    let name = apply_newcidr1(ctx, cidr).await?;
    // The apiserver's allocators follow the ServiceCIDR informer; Ready says the controller has seen it too.
    wait_ready(ctx, &name).await?;
    let mut services = Vec::new();
    for (i, ip) in allocatable(&cidr).into_iter().enumerate() {
        let svc_name = format!("explicit-{}", i + 1);
        let requested = IpAddr::V4(ip);
        match create_with_explicit_ip(ctx, &cluster_ip_service(&svc_name, Some(requested))?).await {
            Ok(svc) => {
                let got = ipv4_cluster_ip(&svc);
                ctx.log(format!("{svc_name}: requested {requested}, got {got:?}"));
                ensure(
                    got == Some(requested),
                    &format!(
                        "spec.clusterIP of Service {svc_name} (requested inside ServiceCIDR {name})"
                    ),
                    requested,
                    got.map(|g| g.to_string()).unwrap_or_else(|| "none".into()),
                )?;
                services.push((svc_name, requested));
            }
            // Another trial's Service got the address between Ready and this create: it is not ours to check.
            Err(e) => {
                if !taken_by_others(ctx, requested).await {
                    return Err(e);
                }
                ctx.log(format!(
                    "{svc_name}: {requested} was taken by another namespace's Service: {e}"
                ));
            }
        }
    }
    if services.is_empty() {
        return Err(TrialError::Harness(format!(
            "every address of {cidr} was taken by other trials' Services"
        )));
    }
    Ok(Claimed {
        name,
        cidr,
        services,
    })
}

async fn taken_by_others(ctx: &Ctx, ip: IpAddr) -> bool {
    match get_ip_address(ctx, &ip.to_string()).await {
        Ok(Some(found)) => !parent_ref_text(&found).contains(&format!("/{}/", ctx.namespace())),
        _ => false,
    }
}

/// Deletes the claimed ServiceCIDR and waits until it is marked for deletion and reports `Ready=False`.
async fn delete_claimed(
    ctx: &Ctx,
    claimed: &Claimed,
) -> Result<(ServiceCIDR, ServiceCIDR), TrialError> {
    let name = &claimed.name;
    delete_service_cidr(ctx, name).await?;
    let holders = "a Service";
    let marked = wait_marked_for_deletion(ctx, name, holders).await?;
    let blocked = wait_deletion_blocked(ctx, name, holders).await?;
    Ok((marked, blocked))
}

/// Runs `checks`, then deletes the trial's Services (waiting for their addresses) and its ServiceCIDR.
/// Its /30 is this trial's alone, so nothing waits for the ServiceCIDR to be gone.
async fn restoring<F>(ctx: &Ctx, checks: F) -> Result<(), TrialError>
where
    F: Future<Output = Result<(), TrialError>>,
{
    let result = checks.await;
    let name = newcidr1_name(ctx);
    restore(ctx, &[name.clone(), cover_name(&name)], false).await;
    result
}

/// The second ServiceCIDR [`covered_deleted_at_once`] adds over newcidr1's range.
fn cover_name(newcidr1: &str) -> String {
    format!("{newcidr1}-cover")
}

pub async fn allocated_inside(ctx: Ctx) -> Result<(), TrialError> {
    restoring(&ctx, async {
        let claimed = claim(&ctx, 0).await?;
        for (svc, ip) in &claimed.services {
            let found = get_ip_address(&ctx, &ip.to_string()).await?;
            let observed = found
                .as_ref()
                .map(parent_ref_text)
                .unwrap_or_else(|| "no IPAddress of that name".into());
            let expected = format!("services/{}/{svc}", ctx.namespace());
            ensure(
                observed == expected,
                &format!(
                    "spec.parentRef of the IPAddress {ip} (Service {svc}'s ClusterIP in {})",
                    claimed.cidr
                ),
                expected,
                observed,
            )?;
        }
        Ok(())
    })
    .await
}

pub async fn deletion_blocked(ctx: Ctx) -> Result<(), TrialError> {
    restoring(&ctx, async {
        let claimed = claim(&ctx, 1).await?;
        let (marked, blocked) = delete_claimed(&ctx, &claimed).await?;
        ensure(
            has_finalizer(&marked),
            &format!(
                "metadata.finalizers of ServiceCIDR {} after its deletion, while in use",
                claimed.name
            ),
            format!("{FINALIZER}\n\n{}", DOC_NEWCIDR1_DELETING.excerpt()),
            format!(
                "[{}]",
                marked
                    .metadata
                    .finalizers
                    .clone()
                    .unwrap_or_default()
                    .join(", ")
            ),
        )?;
        check_blocked_condition(&ctx, &blocked)
    })
    .await
}

pub async fn released(ctx: Ctx) -> Result<(), TrialError> {
    restoring(&ctx, async {
        let claimed = claim(&ctx, 2).await?;
        delete_claimed(&ctx, &claimed).await?;
        // No allocator serves a ServiceCIDR being deleted: the wait below needs the allocator no more.
        ctx.release_service_addresses();
        let names: Vec<String> = claimed.services.iter().map(|(n, _)| n.clone()).collect();
        delete_services(&ctx, &names).await?;
        let name = &claimed.name;
        let awaited = format!("ServiceCIDR {name} to be gone once Services {} are deleted (the controller waits ~10 s)", names.join(", "));
        let gone = wait_gone(&ctx, name, &awaited).await;
        if let Err(e) = gone {
            // Another trial's Service holding one of its addresses is a race of the harness, not a finding.
            let cidr = claimed.cidr;
            let foreign: Vec<String> = list_ip_addresses(&ctx)
                .await?
                .iter()
                .filter(|ip| ip.metadata.name.as_deref().and_then(|n| n.parse::<std::net::Ipv4Addr>().ok()).is_some_and(|a| cidr.contains(&a)))
                .map(|ip| format!("{} held by {}", ip.metadata.name.as_deref().unwrap_or(""), parent_ref_text(ip)))
                .filter(|held| !held.contains(&format!("/{}/", ctx.namespace())))
                .collect();
            if !foreign.is_empty() {
                return Err(TrialError::Harness(format!("{e}\n(not a finding: addresses of {cidr} were taken by other trials: {})", foreign.join(", "))));
            }
            return Err(e);
        }
        Ok(())
    })
    .await
}

/// Seed row [S4]: "the finalizer is removed only when another ServiceCIDR contains the IPs or no IPs belong to
/// it", the first branch: newcidr1 with Services holding its addresses, a second ServiceCIDR over the same
/// range, then newcidr1 deleted: it goes without ever reporting its deletion blocked (`Ready=False`), after the
/// controller's grace period, while the Services keep their addresses. upstream:
/// pkg/controller/servicecidrs/servicecidrs_controller.go `canDeleteCIDR` (`servicecidr.ContainsPrefix`: "a
/// larger subnet that contains the existing one, or another ServiceCIDR with the same subnet" → deletable),
/// `sync` (the finalizer removed `deletionGracePeriod`, 10 s, after the deletion timestamp).
pub async fn covered_deleted_at_once(ctx: Ctx) -> Result<(), TrialError> {
    restoring(&ctx, async {
        let claimed = claim(&ctx, 3).await?;
        let cover = apply_newcidr1_named(&ctx, cover_name(&claimed.name), claimed.cidr).await?;
        wait_ready(&ctx, &cover).await?;
        let name = &claimed.name;
        delete_service_cidr(&ctx, name).await?;
        let holders: Vec<String> = claimed
            .services
            .iter()
            .map(|(svc, ip)| format!("{svc} ({ip})"))
            .collect();
        let awaited = format!(
            "ServiceCIDR {name} to be gone although Services {} hold its addresses, as ServiceCIDR {cover} covers them (the controller waits ~10 s)",
            holders.join(", ")
        );
        wait_gone_unless(&ctx, name, &awaited, |sc| {
            ready_condition(sc)
                .filter(|c| c.status == "False")
                .map(|c| {
                    format!(
                        "the deletion is blocked although another ServiceCIDR covers its addresses: Ready=False reason={} message={:?}",
                        c.reason, c.message
                    )
                })
        })
        .await?;
        for (svc, ip) in &claimed.services {
            let found = get_ip_address(&ctx, &ip.to_string()).await?;
            let observed = found
                .as_ref()
                .map(parent_ref_text)
                .unwrap_or_else(|| "no IPAddress of that name".into());
            let expected = format!("services/{}/{svc}", ctx.namespace());
            ensure(
                observed == expected,
                &format!("the IPAddress {ip} of Service {svc} once {name} is gone (kept, inside {cover})"),
                expected,
                observed,
            )?;
        }
        Ok(())
    })
    .await
}
