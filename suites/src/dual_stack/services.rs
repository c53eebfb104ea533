//! Services: which IP families and cluster IPs the apiserver settles on for each documented combination of
//! `.spec.ipFamilyPolicy`, `.spec.ipFamilies` and headlessness.
//! upstream: pkg/registry/core/service/storage/alloc.go `initIPFamilyFields` (policy defaulting: SingleStack,
//! RequireDualStack for headless without selector; families from the first service range, the secondary
//! appended for PreferDualStack/RequireDualStack) and `allocClusterIPs` (one IP per family, in
//! `ipFamilies` order; `clusterIP` = `clusterIPs[0]`); test/e2e/network/dual_stack.go
//! `validateServiceAndClusterIPFamily` (the same checks upstream).

use k8s_openapi::api::core::v1::Service;
use k8s_openapi::apimachinery::pkg::util::intstr::IntOrString;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::{IpFamily, family_of_ip};

use super::{
    DEFAULT_SVC, IPV6_SVC, PREFERRED_IPFAMILIES_SVC, family_names, primary_service_family,
};
use crate::doc::DocFile;
use crate::doc_file;
use crate::shared::services::{PREFERRED_SVC, SvcView, create_service};

const DOC_DEFAULT_GET: DocFile =
    doc_file!("doc-outputs/validate-dual-stack/svc-default-get-yaml.txt");
const DOC_IPV6_GET: DocFile = doc_file!("doc-outputs/validate-dual-stack/svc-ipv6-get-yaml.txt");
const DOC_PREFERRED_DESCRIBE: DocFile =
    doc_file!("doc-outputs/validate-dual-stack/svc-preferred-describe.txt");
const DOC_HEADLESS_GET: DocFile =
    doc_file!("doc-outputs/dual-stack/existing-headless-svc-get-yaml.txt");

/// What a Service should show.
pub(crate) struct Want {
    pub policy: &'static str,
    pub families: Vec<IpFamily>,
    pub headless: bool,
}

impl Want {
    fn describe(&self) -> String {
        let ips = if self.headless {
            "clusterIP: None\nclusterIPs: [None]".to_string()
        } else {
            let per_family: Vec<&str> = self.families.iter().map(|f| f.as_str()).collect();
            format!(
                "clusterIPs: one {} address each, in that order\nclusterIP: clusterIPs[0]",
                per_family.join(" and one ")
            )
        };
        format!(
            "ipFamilyPolicy: {}\nipFamilies: [{}]\n{ips}",
            self.policy,
            family_names(&self.families).join(", ")
        )
    }
}

/// How `svc` differs from `want` (empty when it matches).
fn differences(view: &SvcView, want: &Want) -> Vec<String> {
    let mut problems = Vec::new();
    if view.policy.as_deref() != Some(want.policy) {
        problems.push(format!(
            "ipFamilyPolicy is {}, not {}",
            view.policy.as_deref().unwrap_or("unset"),
            want.policy
        ));
    }
    if view.families != family_names(&want.families) {
        problems.push(format!(
            "ipFamilies are [{}], not [{}]",
            view.families.join(", "),
            family_names(&want.families).join(", ")
        ));
    }
    if want.headless {
        if view.cluster_ips != ["None"] || view.cluster_ip.as_deref() != Some("None") {
            problems.push("clusterIP/clusterIPs are not None".to_string());
        }
        return problems;
    }
    let got: Vec<Option<IpFamily>> = view
        .cluster_ips
        .iter()
        .map(|ip| family_of_ip(ip).ok())
        .collect();
    let wanted: Vec<Option<IpFamily>> = want.families.iter().copied().map(Some).collect();
    if got != wanted {
        problems.push(format!(
            "clusterIPs [{}] are not one address per family in ipFamilies order",
            view.cluster_ips.join(", ")
        ));
    }
    if view.cluster_ip.is_none() || view.cluster_ip.as_ref() != view.cluster_ips.first() {
        problems.push("clusterIP is not clusterIPs[0]".to_string());
    }
    problems
}

/// Creates the doc's Service manifest verbatim and fails unless it shows `want`.
pub(crate) async fn apply_and_check(
    ctx: &Ctx,
    manifest: &DocFile,
    want: &Want,
    what: &str,
    doc: Option<&DocFile>,
) -> Result<Service, TrialError> {
    let svc = create_service(ctx, &manifest.object()?).await?;
    check(&svc, want, what, doc)?;
    Ok(svc)
}

/// Fails unless `svc` shows `want`; the expected side quotes the doc's output when there is one.
pub(crate) fn check(
    svc: &Service,
    want: &Want,
    what: &str,
    doc: Option<&DocFile>,
) -> Result<(), TrialError> {
    let view = SvcView::of(svc);
    let problems = differences(&view, want);
    if problems.is_empty() {
        return Ok(());
    }
    let excerpt = doc
        .map(|d| format!("\n\n{}", d.excerpt()))
        .unwrap_or_default();
    Err(TrialError::Mismatch {
        what: what.to_string(),
        expected: format!("{}{excerpt}", want.describe()),
        observed: format!("{}\n\n{}", view.describe(), problems.join("\n")),
    })
}

async fn default_service(ctx: &Ctx) -> Result<Service, TrialError> {
    create_service(ctx, &DEFAULT_SVC.object()?).await
}

/// The defaults the docs' outputs show for every Service they create: `sessionAffinity: None` and
/// `type: ClusterIP` (`kubectl describe`: `Session Affinity: None`, `Type: ClusterIP`), which the manifests
/// never set. upstream: pkg/apis/core/v1/defaults.go `SetDefaults_Service` (`SessionAffinity` None,
/// `Type` ClusterIP when empty).
pub(crate) fn check_defaults(svc: &Service, what: &str, doc: &DocFile) -> Result<(), TrialError> {
    let spec = svc.spec.clone().unwrap_or_default();
    let affinity = spec.session_affinity.unwrap_or_else(|| "(unset)".into());
    let kind = spec.type_.unwrap_or_else(|| "(unset)".into());
    if affinity == "None" && kind == "ClusterIP" {
        return Ok(());
    }
    Err(TrialError::Mismatch {
        what: format!("the defaults of {what} (neither field is set by the manifest)"),
        expected: format!(
            "sessionAffinity: None\ntype: ClusterIP\n\n{}",
            doc.excerpt()
        ),
        observed: format!("sessionAffinity: {affinity}\ntype: {kind}"),
    })
}

pub(crate) async fn default_single_stack(ctx: Ctx) -> Result<(), TrialError> {
    let primary = primary_service_family(&ctx).await?;
    let svc = default_service(&ctx).await?;
    let want = Want {
        policy: "SingleStack",
        families: vec![primary],
        headless: false,
    };
    let what = "service my-service of dual-stack-default-svc.yaml (no ipFamilyPolicy)";
    check(&svc, &want, what, Some(&DOC_DEFAULT_GET))?;
    check_defaults(&svc, what, &DOC_DEFAULT_GET)?;
    // The doc's output shows `targetPort: 9376`, which the manifest never sets: the apiserver defaults
    // targetPort to the port (upstream: pkg/apis/core/v1/defaults.go SetDefaults_Service).
    let target = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .and_then(|p| p.first())
        .and_then(|p| p.target_port.clone());
    if target != Some(IntOrString::Int(9376)) {
        let shown = match target {
            Some(IntOrString::Int(n)) => n.to_string(),
            Some(IntOrString::String(s)) => s,
            None => "(unset)".into(),
        };
        ctx.finding(
            "`kubectl get svc my-service -o yaml` shows `targetPort: 9376` (and `kubectl describe` `TargetPort: 9376/TCP`) for dual-stack-default-svc.yaml, which sets no targetPort",
            format!("targetPort {shown}: the apiserver defaults targetPort to the Service port"),
        );
    }
    Ok(())
}

pub(crate) async fn ipv6_single_stack(ctx: Ctx) -> Result<(), TrialError> {
    let want = Want {
        policy: "SingleStack",
        families: vec![IpFamily::IPv6],
        headless: false,
    };
    apply_and_check(
        &ctx,
        &IPV6_SVC,
        &want,
        "service my-service of dual-stack-ipfamilies-ipv6.yaml (ipFamilies: [IPv6])",
        Some(&DOC_IPV6_GET),
    )
    .await
    .map(|_| ())
}

pub(crate) async fn prefer_dual_both_families(ctx: Ctx) -> Result<(), TrialError> {
    let primary = primary_service_family(&ctx).await?;
    let want = Want {
        policy: "PreferDualStack",
        families: vec![primary, primary.other()],
        headless: false,
    };
    let what = "service my-service of dual-stack-preferred-svc.yaml (PreferDualStack)";
    let svc = apply_and_check(
        &ctx,
        &PREFERRED_SVC,
        &want,
        what,
        Some(&DOC_PREFERRED_DESCRIBE),
    )
    .await?;
    check_defaults(&svc, what, &DOC_PREFERRED_DESCRIBE)
}

/// The page's dual-stack-preferred-svc.yaml with `ipFamilyPolicy: RequireDualStack` and no `ipFamilies`: "on
/// a dual-stack cluster RequireDualStack behaves the same as PreferDualStack" (seed row [A5]): both families,
/// the primary first, `clusterIP` = `clusterIPs[0]`.
pub(crate) async fn require_dual_both_families(ctx: Ctx) -> Result<(), TrialError> {
    let primary = primary_service_family(&ctx).await?;
    let svc = create_service(&ctx, &with_policy(&PREFERRED_SVC, "RequireDualStack")?).await?;
    let want = Want {
        policy: "RequireDualStack",
        families: vec![primary, primary.other()],
        headless: false,
    };
    check(
        &svc,
        &want,
        "service my-service of dual-stack-preferred-svc.yaml with ipFamilyPolicy RequireDualStack (no ipFamilies)",
        Some(&DOC_PREFERRED_DESCRIBE),
    )
}

/// On a single-stack cluster a PreferDualStack Service lists one address in `.spec.clusterIPs` and
/// `.spec.clusterIP` (seed row [A8]): upstream alloc.go `initIPFamilyFields` appends the secondary family only
/// when the cluster has one (`len(al.serviceIPAllocatorsByFamily) == 2`), and keeps the policy as set.
pub(crate) async fn prefer_dual_on_single_stack(ctx: Ctx) -> Result<(), TrialError> {
    let primary = primary_service_family(&ctx).await?;
    let want = Want {
        policy: "PreferDualStack",
        families: vec![primary],
        headless: false,
    };
    apply_and_check(
        &ctx,
        &PREFERRED_SVC,
        &want,
        "service my-service of dual-stack-preferred-svc.yaml (PreferDualStack) on a single-stack cluster",
        None,
    )
    .await
    .map(|_| ())
}

/// `manifest` with `.spec.ipFamilyPolicy` replaced.
pub(crate) fn with_policy(manifest: &DocFile, policy: &str) -> Result<Service, TrialError> {
    let mut svc: Service = manifest.object()?;
    if let Some(spec) = svc.spec.as_mut() {
        spec.ip_family_policy = Some(policy.into());
    }
    Ok(svc)
}

/// dual-stack-default-svc.yaml with `.spec.ipFamilies` set to `families` (and `policy`, when given).
fn default_with_families(
    families: &[IpFamily],
    policy: Option<&str>,
) -> Result<Service, TrialError> {
    let mut svc: Service = DEFAULT_SVC.object()?;
    if let Some(spec) = svc.spec.as_mut() {
        spec.ip_families = Some(family_names(families));
        spec.ip_family_policy = policy.map(str::to_string);
    }
    Ok(svc)
}

/// `.spec.ipFamilies: [IPv4]` set explicitly, no policy: SingleStack with an IPv4 cluster IP (seed row [A7]:
/// "the first family you list is used for the legacy `.spec.clusterIP`").
pub(crate) async fn ipv4_single_stack(ctx: Ctx) -> Result<(), TrialError> {
    let svc = create_service(&ctx, &default_with_families(&[IpFamily::IPv4], None)?).await?;
    let want = Want {
        policy: "SingleStack",
        families: vec![IpFamily::IPv4],
        headless: false,
    };
    check(
        &svc,
        &want,
        "service my-service (dual-stack-default-svc.yaml with ipFamilies: [IPv4])",
        None,
    )
}

/// `.spec.ipFamilies: [IPv4, IPv6]` with PreferDualStack: the IPv4 address first and in `clusterIP`, whatever
/// the cluster's primary family (seed row [A7]).
pub(crate) async fn prefer_dual_ipv4_first(ctx: Ctx) -> Result<(), TrialError> {
    let families = [IpFamily::IPv4, IpFamily::IPv6];
    let manifest = default_with_families(&families, Some("PreferDualStack"))?;
    let svc = create_service(&ctx, &manifest).await?;
    let want = Want {
        policy: "PreferDualStack",
        families: families.to_vec(),
        headless: false,
    };
    check(
        &svc,
        &want,
        "service my-service (dual-stack-default-svc.yaml with ipFamilyPolicy: PreferDualStack, ipFamilies: [IPv4, IPv6])",
        None,
    )
}

/// A Service without a selector (and not headless) behaves like dual-stack-default-svc.yaml: SingleStack, one
/// cluster IP of the first service range (seed row [A10]). The seed claims nothing of its endpoints, so no
/// EndpointSlice is made for it. upstream: alloc.go `initIPFamilyFields` (only a headless Service without
/// selector gets RequireDualStack).
pub(crate) async fn without_selector_single_stack(ctx: Ctx) -> Result<(), TrialError> {
    let primary = primary_service_family(&ctx).await?;
    let mut manifest: Service = DEFAULT_SVC.object()?;
    if let Some(spec) = manifest.spec.as_mut() {
        spec.selector = None;
    }
    let svc = create_service(&ctx, &manifest).await?;
    let want = Want {
        policy: "SingleStack",
        families: vec![primary],
        headless: false,
    };
    check(
        &svc,
        &want,
        "service my-service without selector (dual-stack-default-svc.yaml without its selector)",
        Some(&DOC_DEFAULT_GET),
    )
}

pub(crate) async fn prefer_dual_ipv6_first(ctx: Ctx) -> Result<(), TrialError> {
    let want = Want {
        policy: "PreferDualStack",
        families: vec![IpFamily::IPv6, IpFamily::IPv4],
        headless: false,
    };
    apply_and_check(&ctx, &PREFERRED_IPFAMILIES_SVC, &want,
        "service my-service of dual-stack-preferred-ipfamilies-svc.yaml (PreferDualStack, [IPv6, IPv4])",
        None,
    )
    .await
    .map(|_| ())
}

pub(crate) async fn require_dual_ipv6_first(ctx: Ctx) -> Result<(), TrialError> {
    // The page's dual-stack-preferred-ipfamilies-svc.yaml with the policy it says behaves the same.
    let mut manifest: Service = PREFERRED_IPFAMILIES_SVC.object()?;
    if let Some(spec) = manifest.spec.as_mut() {
        spec.ip_family_policy = Some("RequireDualStack".into());
    }
    let svc = create_service(&ctx, &manifest).await?;
    let want = Want {
        policy: "RequireDualStack",
        families: vec![IpFamily::IPv6, IpFamily::IPv4],
        headless: false,
    };
    check(
        &svc,
        &want,
        "service my-service of dual-stack-preferred-ipfamilies-svc.yaml with ipFamilyPolicy RequireDualStack",
        None,
    )
}

/// dual-stack-default-svc.yaml made headless (`clusterIP: None`), optionally without its selector.
fn headless_default(keep_selector: bool) -> Result<Service, TrialError> {
    let mut manifest: Service = DEFAULT_SVC.object()?;
    if let Some(spec) = manifest.spec.as_mut() {
        spec.cluster_ip = Some("None".into());
        if !keep_selector {
            spec.selector = None;
        }
    }
    Ok(manifest)
}

pub(crate) async fn headless_with_selector(ctx: Ctx) -> Result<(), TrialError> {
    // "Services without selectors and headless Services with selectors will behave in this same way" as
    // dual-stack-default-svc.yaml; the page shows such a Service as `existing-headless-svc-get-yaml`.
    let primary = primary_service_family(&ctx).await?;
    let svc = create_service(&ctx, &headless_default(true)?).await?;
    let want = Want {
        policy: "SingleStack",
        families: vec![primary],
        headless: true,
    };
    check(
        &svc,
        &want,
        "headless service my-service with a selector (dual-stack-default-svc.yaml + clusterIP: None)",
        Some(&DOC_HEADLESS_GET),
    )
}

pub(crate) async fn headless_without_selector(ctx: Ctx) -> Result<(), TrialError> {
    let primary = primary_service_family(&ctx).await?;
    let svc = create_service(&ctx, &headless_default(false)?).await?;
    let want = Want {
        policy: "RequireDualStack",
        families: vec![primary, primary.other()],
        headless: true,
    };
    check(
        &svc,
        &want,
        "headless service my-service without selector (dual-stack-default-svc.yaml + clusterIP: None, no selector)",
        None,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn view(policy: &str, families: &[&str], ip: &str, ips: &[&str]) -> SvcView {
        SvcView {
            policy: Some(policy.into()),
            families: families.iter().map(|s| s.to_string()).collect(),
            cluster_ip: Some(ip.into()),
            cluster_ips: ips.iter().map(|s| s.to_string()).collect(),
        }
    }

    #[test]
    fn dual_stack_order_and_primary_ip() {
        let want = Want {
            policy: "PreferDualStack",
            families: vec![IpFamily::IPv6, IpFamily::IPv4],
            headless: false,
        };
        let good = view(
            "PreferDualStack",
            &["IPv6", "IPv4"],
            "fd00:10:96::5",
            &["fd00:10:96::5", "10.96.0.5"],
        );
        assert!(differences(&good, &want).is_empty());
        let reversed = view(
            "PreferDualStack",
            &["IPv4", "IPv6"],
            "10.96.0.5",
            &["10.96.0.5", "fd00:10:96::5"],
        );
        assert_eq!(differences(&reversed, &want).len(), 2);
        let stale_ip = view(
            "PreferDualStack",
            &["IPv6", "IPv4"],
            "10.96.0.5",
            &["fd00:10:96::5", "10.96.0.5"],
        );
        assert_eq!(
            differences(&stale_ip, &want),
            vec!["clusterIP is not clusterIPs[0]".to_string()]
        );
    }

    #[test]
    fn headless_and_single_stack() {
        let headless = Want {
            policy: "RequireDualStack",
            families: vec![IpFamily::IPv4, IpFamily::IPv6],
            headless: true,
        };
        assert!(
            differences(
                &view("RequireDualStack", &["IPv4", "IPv6"], "None", &["None"]),
                &headless
            )
            .is_empty()
        );
        let single = Want {
            policy: "SingleStack",
            families: vec![IpFamily::IPv4],
            headless: false,
        };
        let problems = differences(
            &view(
                "PreferDualStack",
                &["IPv4", "IPv6"],
                "10.96.0.5",
                &["10.96.0.5", "fd00::5"],
            ),
            &single,
        );
        assert_eq!(problems.len(), 3, "{problems:?}");
    }
}
