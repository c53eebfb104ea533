//! Switching a Service between single-stack and dual-stack, and the immutable primary family.
//!
//! The page says to edit only `.spec.ipFamilyPolicy`; the suite does that with a merge patch (as
//! `kubectl patch` or `kubectl edit` would). A real apiserver accepts it both ways: on an upgrade it
//! appends the missing family and allocates its IP; on a downgrade to SingleStack with `clusterIPs` and
//! `ipFamilies` unchanged it trims both to their first element ("clear intent"), so no field has to be
//! cleared by the client.
//! upstream: pkg/registry/core/service/storage/alloc.go `initIPFamilyFields` (the "Update-only prep work"
//! trimming for SingleStack; appending the secondary family) and `updateClusterIPs` (allocate/release the
//! secondary IP); storage.go `beginUpdate` (`patchAllocatedValues` keeps allocated IPs the client omits).
//! Changing `ipFamilies[0]` is rejected: with the allocated `clusterIPs` kept, `initIPFamilyFields` first
//! runs `ValidateServiceClusterIPsRelatedFields` (`expected an IPv6 value as indicated by
//! `ipFamilies[0]``); `validateUpgradeDowngradeIPFamilies` (`may not change once set`) would be next
//! (pkg/apis/core/validation/validation.go). BeginUpdate runs before the strategy's validation
//! (staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go Update).

use k8s_openapi::api::core::v1::Service;
use kube::api::{Api, DeleteParams, Patch, PatchParams};
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::IpFamily;
use netconform::retry::retrying;
use netconform::wait::{budgets, conditions};

use super::services::{Want, check, with_policy};
use super::{DEFAULT_SVC, primary_service_family};
use crate::shared::services::{PREFERRED_SVC, SvcView, create_service, get_service};

/// `kubectl patch svc NAME --type merge -p PATCH`.
async fn merge_patch(
    ctx: &Ctx,
    name: &str,
    patch: serde_json::Value,
) -> Result<Service, kube::Error> {
    let api: Api<Service> = ctx.api();
    ctx.log(format!("merge patch of service {name}: {patch}"));
    let (params, patch) = (PatchParams::default(), Patch::Merge(&patch));
    retrying(|| api.patch(name, &params, &patch)).await
}

fn rejected(what: &str, expected: &str, error: &kube::Error) -> TrialError {
    TrialError::Mismatch {
        what: what.to_string(),
        expected: expected.to_string(),
        observed: format!("the apiserver rejected it: {error}"),
    }
}

/// The doc's default Service, checked SingleStack in the primary family before a switch.
async fn single_stack_default(ctx: &Ctx) -> Result<(IpFamily, Service), TrialError> {
    let primary = primary_service_family(ctx).await?;
    let before = create_service(ctx, &DEFAULT_SVC.object()?).await?;
    let single = Want {
        policy: "SingleStack",
        families: vec![primary],
        headless: false,
    };
    check(
        &before,
        &single,
        "service my-service before the change (dual-stack-default-svc.yaml)",
        None,
    )?;
    Ok((primary, before))
}

pub(crate) async fn prefer_dual_adds_family(ctx: Ctx) -> Result<(), TrialError> {
    adds_family(&ctx, "PreferDualStack").await
}

/// Seed row [A14]'s other path: "from SingleStack to PreferDualStack or RequireDualStack".
pub(crate) async fn require_dual_adds_family(ctx: Ctx) -> Result<(), TrialError> {
    adds_family(&ctx, "RequireDualStack").await
}

/// The doc's default Service switched from SingleStack to `policy`: the missing family is allocated and the
/// existing cluster IP kept first.
async fn adds_family(ctx: &Ctx, policy: &'static str) -> Result<(), TrialError> {
    let (primary, before) = single_stack_default(ctx).await?;
    let first_ip = SvcView::of(&before)
        .cluster_ips
        .first()
        .cloned()
        .unwrap_or_default();
    let what = format!("changing ipFamilyPolicy of my-service from SingleStack to {policy}");
    merge_patch(
        ctx,
        "my-service",
        json!({"spec": {"ipFamilyPolicy": policy}}),
    )
    .await
    .map_err(|e| rejected(&what, "the change is accepted", &e))?;
    let after = get_service(ctx, "my-service").await?;
    let dual = Want {
        policy,
        families: vec![primary, primary.other()],
        headless: false,
    };
    check(
        &after,
        &dual,
        &format!("service my-service after the change to {policy}"),
        None,
    )?;
    let view = SvcView::of(&after);
    ensure(
        view.cluster_ips.first() == Some(&first_ip),
        "clusterIPs[0] of my-service after adding the secondary family",
        format!("the existing cluster IP {first_ip}, kept"),
        view.describe(),
    )
}

pub(crate) async fn single_stack_keeps_first(ctx: Ctx) -> Result<(), TrialError> {
    keeps_first(
        &ctx,
        &PREFERRED_SVC.object()?,
        "PreferDualStack",
        "dual-stack-preferred-svc.yaml",
    )
    .await
}

/// Seed row [A15]'s other path: "from PreferDualStack or RequireDualStack to SingleStack".
pub(crate) async fn require_dual_keeps_first(ctx: Ctx) -> Result<(), TrialError> {
    let manifest = with_policy(&PREFERRED_SVC, "RequireDualStack")?;
    keeps_first(
        &ctx,
        &manifest,
        "RequireDualStack",
        "dual-stack-preferred-svc.yaml with ipFamilyPolicy RequireDualStack",
    )
    .await
}

/// `manifest` (a dual-stack Service of `policy`) switched to SingleStack by its policy alone: the first
/// cluster IP and its family are kept, the rest released.
async fn keeps_first(
    ctx: &Ctx,
    manifest: &Service,
    policy: &'static str,
    source: &str,
) -> Result<(), TrialError> {
    let primary = primary_service_family(ctx).await?;
    let before = create_service(ctx, manifest).await?;
    let dual = Want {
        policy,
        families: vec![primary, primary.other()],
        headless: false,
    };
    check(
        &before,
        &dual,
        &format!("service my-service before the change ({source})"),
        None,
    )?;
    let first_ip = SvcView::of(&before)
        .cluster_ips
        .first()
        .cloned()
        .unwrap_or_default();
    let what = format!(
        "changing ipFamilyPolicy of my-service from {policy} to SingleStack (nothing else)"
    );
    merge_patch(
        ctx,
        "my-service",
        json!({"spec": {"ipFamilyPolicy": "SingleStack"}}),
    )
    .await
    .map_err(|e| {
        rejected(
            &what,
            "the change is accepted; clusterIPs and ipFamilies keep their first element",
            &e,
        )
    })?;
    let after = get_service(ctx, "my-service").await?;
    let single = Want {
        policy: "SingleStack",
        families: vec![primary],
        headless: false,
    };
    check(
        &after,
        &single,
        "service my-service after the change to SingleStack",
        None,
    )?;
    let view = SvcView::of(&after);
    ensure(
        view.cluster_ips == [first_ip.clone()]
            && view.cluster_ip.as_deref() == Some(first_ip.as_str()),
        "clusterIP and clusterIPs of my-service after the change to SingleStack",
        format!("clusterIP {first_ip}, clusterIPs [{first_ip}] (the first element kept)"),
        view.describe(),
    )
}

pub(crate) async fn primary_family_immutable(ctx: Ctx) -> Result<(), TrialError> {
    let (primary, before) = single_stack_default(&ctx).await?;
    let other = primary.other();
    let patch = json!({"spec": {"ipFamilies": [other.as_str()]}});
    let what = format!("changing ipFamilies of my-service from [{primary}] to [{other}]");
    primary_change_rejected(&ctx, &before, other, patch, &what).await
}

/// Patches `before` (my-service) with `patch`, which changes `ipFamilies[0]` to `new_first`, and fails unless
/// the apiserver refuses it (422 naming the upstream texts, see the module note) and the Service is unchanged.
async fn primary_change_rejected(
    ctx: &Ctx,
    before: &Service,
    new_first: IpFamily,
    patch: serde_json::Value,
    what: &str,
) -> Result<(), TrialError> {
    let view_before = SvcView::of(before);
    let ip = view_before.cluster_ips.first().cloned().unwrap_or_default();
    // The upstream texts (see the module note): the first when clusterIPs are kept, as a merge patch keeps them.
    let texts = [
        format!(
            "spec.clusterIPs[0]: Invalid value: \"{ip}\": expected an {new_first} value as indicated by `ipFamilies[0]`"
        ),
        "spec.ipFamilies[0]: Invalid value:".to_string(),
    ];
    let expected = format!(
        "422 Invalid, naming `{}` or `{}... may not change once set`",
        texts[0], texts[1]
    );
    match merge_patch(ctx, "my-service", patch).await {
        Ok(changed) => {
            return Err(TrialError::Mismatch {
                what: what.to_string(),
                expected,
                observed: format!(
                    "the change was accepted:\n{}",
                    SvcView::of(&changed).describe()
                ),
            });
        }
        Err(kube::Error::Api(status)) => {
            ctx.log(format!(
                "rejected: {} {}: {}",
                status.code, status.reason, status.message
            ));
            // The field and the detail; the value's rendering is left to the server's version.
            let detail = format!("expected an {new_first} value as indicated by `ipFamilies[0]`");
            let has = |s: &str| status.message.contains(s);
            let named = has(&texts[0])
                || (has("spec.clusterIPs[0]: Invalid value:") && has(&detail))
                || (has(&texts[1]) && has("may not change once set"));
            ensure(
                status.code == 422 && status.reason == "Invalid" && named,
                what,
                &expected,
                format!("{} {}: {}", status.code, status.reason, status.message),
            )?;
        }
        Err(other_error) => return Err(TrialError::api(what.to_string())(other_error)),
    }
    unchanged(ctx, &view_before, "after the rejected change").await
}

/// Fails unless my-service still has the families and cluster IPs of `before`.
async fn unchanged(ctx: &Ctx, before: &SvcView, when: &str) -> Result<(), TrialError> {
    let after = get_service(ctx, "my-service").await?;
    let view = SvcView::of(&after);
    ensure(
        view.families == before.families && view.cluster_ips == before.cluster_ips,
        &format!("ipFamilies and clusterIPs of my-service {when}"),
        before.describe(),
        view.describe(),
    )
}

/// Seed row [A6], as the seed states it: "`.spec.ipFamilies` is immutable, because the system cannot
/// reallocate `.spec.ClusterIP` for an existing Service; to change it, delete and recreate the Service".
/// Upstream lets the list grow and shrink with the policy (a secondary family added by a change to
/// PreferDualStack or RequireDualStack, released by SingleStack) and keeps only `ipFamilies[0]` immutable
/// (pkg/apis/core/validation/validation.go `validateUpgradeDowngradeIPFamilies`; alloc.go
/// `initIPFamilyFields`: "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are
/// specified" for a SingleStack Service). So: a Service of `family` alone refuses a new first family, refuses a
/// second family while it stays SingleStack, and, where the cluster lets the list grow with the policy (a doc
/// finding), refuses a reordering of the grown list; deleted and recreated with the other family, it gets it.
pub(crate) async fn ip_families_immutable(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let other = family.other();
    let mut manifest: Service = DEFAULT_SVC.object()?;
    if let Some(spec) = manifest.spec.as_mut() {
        spec.ip_families = Some(vec![family.as_str().to_string()]);
    }
    let before = create_service(&ctx, &manifest).await?;
    let single = Want {
        policy: "SingleStack",
        families: vec![family],
        headless: false,
    };
    let source = format!("dual-stack-default-svc.yaml with ipFamilies: [{family}]");
    check(
        &before,
        &single,
        &format!("service my-service ({source})"),
        None,
    )?;
    let view_before = SvcView::of(&before);
    let first_ip = view_before.cluster_ips.first().cloned().unwrap_or_default();

    let what = format!("changing ipFamilies of my-service from [{family}] to [{other}]");
    let patch = json!({"spec": {"ipFamilies": [other.as_str()]}});
    primary_change_rejected(&ctx, &before, other, patch, &what).await?;

    let what = format!(
        "changing ipFamilies of my-service from [{family}] to [{family}, {other}] (ipFamilyPolicy left SingleStack)"
    );
    let patch = json!({"spec": {"ipFamilies": [family.as_str(), other.as_str()]}});
    match merge_patch(&ctx, "my-service", patch).await {
        Err(kube::Error::Api(status)) if status.code == 422 => {
            ctx.log(format!(
                "rejected: {} {}: {}",
                status.code, status.reason, status.message
            ));
        }
        Err(e) => return Err(TrialError::api(what)(e)),
        Ok(_) => ctx.log("accepted; its result is checked below".to_string()),
    }
    unchanged(
        &ctx,
        &view_before,
        "after a second family was asked for while SingleStack",
    )
    .await?;

    let what = format!(
        "changing ipFamilyPolicy of my-service to PreferDualStack with ipFamilies [{family}, {other}]"
    );
    let patch = json!({"spec": {"ipFamilyPolicy": "PreferDualStack", "ipFamilies": [family.as_str(), other.as_str()]}});
    match merge_patch(&ctx, "my-service", patch).await {
        Err(kube::Error::Api(status)) if status.code == 422 => {
            // The seed's reading: the list cannot change at all.
            ctx.log(format!(
                "rejected, as the seed says: {}: {}",
                status.reason, status.message
            ));
        }
        Err(e) => return Err(TrialError::api(what)(e)),
        Ok(_) => {
            let grown = get_service(&ctx, "my-service").await?;
            let dual = Want {
                policy: "PreferDualStack",
                families: vec![family, other],
                headless: false,
            };
            check(
                &grown,
                &dual,
                &format!("service my-service after {what} was accepted"),
                None,
            )?;
            let view = SvcView::of(&grown);
            ensure(
                view.cluster_ips.first() == Some(&first_ip),
                "clusterIPs[0] of my-service after its ipFamilies grew",
                format!("the existing cluster IP {first_ip}, kept"),
                view.describe(),
            )?;
            ctx.finding(
                "`.spec.ipFamilies` is immutable: to change it, delete and recreate the Service (seed 003, 说明 under §1.4)",
                format!(
                    "ipFamilies grew from [{family}] to [{family}, {other}] when ipFamilyPolicy changed to PreferDualStack with it; only ipFamilies[0] is immutable (upstream validateUpgradeDowngradeIPFamilies; the API reference of ServiceSpec.ipFamilies: \"conditionally mutable\")"
                ),
            );
            let what = format!("reordering ipFamilies of my-service to [{other}, {family}]");
            let patch = json!({"spec": {"ipFamilies": [other.as_str(), family.as_str()]}});
            primary_change_rejected(&ctx, &grown, other, patch, &what).await?;
        }
    }

    // The seed's way to change the family: delete the Service and create it again.
    let api: Api<Service> = ctx.api();
    let params = DeleteParams::default();
    retrying(|| api.delete("my-service", &params))
        .await
        .map_err(TrialError::api("deleting service my-service"))?;
    ctx.wait::<Service>(budgets::SERVICE_ALLOCATION)
        .awaiting("service my-service to be deleted")
        .until("my-service", conditions::is_deleted())
        .await?;
    if let Some(spec) = manifest.spec.as_mut() {
        spec.ip_families = Some(vec![other.as_str().to_string()]);
    }
    let recreated = create_service(&ctx, &manifest).await?;
    let want = Want {
        policy: "SingleStack",
        families: vec![other],
        headless: false,
    };
    check(
        &recreated,
        &want,
        &format!("service my-service deleted and created again with ipFamilies: [{other}]"),
        None,
    )
}
