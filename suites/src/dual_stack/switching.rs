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
use kube::api::{Api, Patch, PatchParams};
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::IpFamily;
use netconform::retry::retrying;

use super::services::{Want, check};
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
    let (primary, before) = single_stack_default(&ctx).await?;
    let first_ip = SvcView::of(&before)
        .cluster_ips
        .first()
        .cloned()
        .unwrap_or_default();
    let what = "changing ipFamilyPolicy of my-service from SingleStack to PreferDualStack";
    merge_patch(
        &ctx,
        "my-service",
        json!({"spec": {"ipFamilyPolicy": "PreferDualStack"}}),
    )
    .await
    .map_err(|e| rejected(what, "the change is accepted", &e))?;
    let after = get_service(&ctx, "my-service").await?;
    let dual = Want {
        policy: "PreferDualStack",
        families: vec![primary, primary.other()],
        headless: false,
    };
    check(
        &after,
        &dual,
        "service my-service after the change to PreferDualStack",
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
    let primary = primary_service_family(&ctx).await?;
    let before = create_service(&ctx, &PREFERRED_SVC.object()?).await?;
    let dual = Want {
        policy: "PreferDualStack",
        families: vec![primary, primary.other()],
        headless: false,
    };
    check(
        &before,
        &dual,
        "service my-service before the change (dual-stack-preferred-svc.yaml)",
        None,
    )?;
    let first_ip = SvcView::of(&before)
        .cluster_ips
        .first()
        .cloned()
        .unwrap_or_default();
    let what =
        "changing ipFamilyPolicy of my-service from PreferDualStack to SingleStack (nothing else)";
    merge_patch(
        &ctx,
        "my-service",
        json!({"spec": {"ipFamilyPolicy": "SingleStack"}}),
    )
    .await
    .map_err(|e| {
        rejected(
            what,
            "the change is accepted; clusterIPs and ipFamilies keep their first element",
            &e,
        )
    })?;
    let after = get_service(&ctx, "my-service").await?;
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
    let view_before = SvcView::of(&before);
    let ip = view_before.cluster_ips.first().cloned().unwrap_or_default();
    let what = format!("changing ipFamilies of my-service from [{primary}] to [{other}]");
    // The upstream texts (see the module note): the first when clusterIPs are kept, as a merge patch keeps them.
    let texts = [
        format!(
            "spec.clusterIPs[0]: Invalid value: \"{ip}\": expected an {other} value as indicated by `ipFamilies[0]`"
        ),
        "spec.ipFamilies[0]: Invalid value:".to_string(),
    ];
    let expected = format!(
        "422 Invalid, naming `{}` or `{}... may not change once set`",
        texts[0], texts[1]
    );
    match merge_patch(
        &ctx,
        "my-service",
        json!({"spec": {"ipFamilies": [other.as_str()]}}),
    )
    .await
    {
        Ok(changed) => {
            return Err(TrialError::Mismatch {
                what,
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
            let detail = format!("expected an {other} value as indicated by `ipFamilies[0]`");
            let has = |s: &str| status.message.contains(s);
            let named = has(&texts[0])
                || (has("spec.clusterIPs[0]: Invalid value:") && has(&detail))
                || (has(&texts[1]) && has("may not change once set"));
            ensure(
                status.code == 422 && status.reason == "Invalid" && named,
                &what,
                &expected,
                format!("{} {}: {}", status.code, status.reason, status.message),
            )?;
        }
        Err(other_error) => return Err(TrialError::api(what)(other_error)),
    }
    let after = get_service(&ctx, "my-service").await?;
    let view = SvcView::of(&after);
    ensure(
        view.families == view_before.families && view.cluster_ips == view_before.cluster_ips,
        "ipFamilies and clusterIPs of my-service after the rejected change",
        view_before.describe(),
        view.describe(),
    )
}
