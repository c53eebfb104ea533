//! Service defaulting, IP family selection, ClusterIP allocation and the dual-stack validation rules.
//!
//! upstream: pkg/apis/core/v1/defaults.go `SetDefaults_Service`; pkg/registry/core/service/strategy.go
//! (`normalizeClusterIPs`); pkg/registry/core/service/storage/alloc.go (`initIPFamilyFields`,
//! `allocClusterIPs`, `allocIPs`, `updateClusterIPs`, `isMatchingPreferDualStackClusterIPFields`);
//! pkg/apis/core/validation/validation.go (`ValidateServiceClusterIPsRelatedFields`,
//! `validateUpgradeDowngradeClusterIPs`, `validateUpgradeDowngradeIPFamilies`). Field-error bodies are
//! rendered as apimachinery `field.Error.ErrorBody` does (Go `%#v` of the internal types).

use std::net::IpAddr;

use serde_json::{Value, json};

use super::family::IpFamily;
use super::gofmt::{quote, string_slice};
use super::servicecidr::AllocError;
use crate::api_error::{ApiError, Cause};

pub const SINGLE_STACK: &str = "SingleStack";
pub const PREFER_DUAL_STACK: &str = "PreferDualStack";
pub const REQUIRE_DUAL_STACK: &str = "RequireDualStack";
pub const CLUSTER_IP_NONE: &str = "None";

fn strings(v: &Value) -> Option<Vec<String>> {
    v.as_array().map(|a| {
        a.iter()
            .map(|s| s.as_str().unwrap_or_default().to_string())
            .collect()
    })
}

pub fn cluster_ips(svc: &Value) -> Vec<String> {
    strings(&svc["spec"]["clusterIPs"]).unwrap_or_default()
}

pub fn ip_families(svc: &Value) -> Vec<String> {
    strings(&svc["spec"]["ipFamilies"]).unwrap_or_default()
}

pub fn policy(svc: &Value) -> Option<&str> {
    svc["spec"]["ipFamilyPolicy"].as_str()
}

fn svc_type(svc: &Value) -> &str {
    svc["spec"]["type"].as_str().unwrap_or("ClusterIP")
}

fn has_selector(svc: &Value) -> bool {
    svc["spec"]["selector"]
        .as_object()
        .is_some_and(|m| !m.is_empty())
}

/// `isHeadlessService` (validation): exactly one clusterIP, `None`.
pub fn is_headless(svc: &Value) -> bool {
    let ips = cluster_ips(svc);
    ips.len() == 1 && ips[0] == CLUSTER_IP_NONE
}

/// The allocated ClusterIPs (not `None`).
pub fn allocated_ips(svc: &Value) -> Vec<IpAddr> {
    cluster_ips(svc)
        .iter()
        .filter_map(|ip| ip.parse().ok())
        .collect()
}

/// `SetDefaults_Service` and the strategy's `normalizeClusterIPs` on create.
pub fn set_defaults(svc: &mut Value) {
    let spec = &mut svc["spec"];
    if !spec.is_object() {
        *spec = json!({});
    }
    if spec["sessionAffinity"].is_null() {
        spec["sessionAffinity"] = json!("None");
    }
    if spec["type"].is_null() {
        spec["type"] = json!("ClusterIP");
    }
    let ty = spec["type"].as_str().unwrap_or("ClusterIP").to_string();
    if let Some(ports) = spec["ports"].as_array_mut() {
        for port in ports {
            if port["protocol"].is_null() {
                port["protocol"] = json!("TCP");
            }
            let targetless = port["targetPort"].is_null()
                || port["targetPort"] == json!(0)
                || port["targetPort"] == json!("");
            if targetless {
                port["targetPort"] = port["port"].clone();
            }
        }
    }
    if (ty == "NodePort" || ty == "LoadBalancer") && spec["externalTrafficPolicy"].is_null() {
        spec["externalTrafficPolicy"] = json!("Cluster");
    }
    if ty != "ExternalName" && spec["internalTrafficPolicy"].is_null() {
        spec["internalTrafficPolicy"] = json!("Cluster");
    }
    if ty == "LoadBalancer" && spec["allocateLoadBalancerNodePorts"].is_null() {
        spec["allocateLoadBalancerNodePorts"] = json!(true);
    }
    // normalizeClusterIPs: a lone clusterIP seeds clusterIPs.
    if let Some(ip) = spec["clusterIP"].as_str().filter(|ip| !ip.is_empty())
        && spec["clusterIPs"].as_array().is_none_or(|a| a.is_empty())
    {
        spec["clusterIPs"] = json!([ip]);
    }
    if svc["status"].is_null() {
        svc["status"] = json!({"loadBalancer": {}});
    }
}

/// Go `%#v` of `*core.IPFamilyPolicy` after ErrorBody dereferences it.
fn policy_value(svc: &Value) -> String {
    policy(svc).map(quote).unwrap_or_else(|| "null".to_string())
}

fn families_value(svc: &Value) -> String {
    string_slice(
        "core.IPFamily",
        strings(&svc["spec"]["ipFamilies"]).as_deref(),
    )
}

fn cluster_ips_value(svc: &Value) -> String {
    string_slice("string", strings(&svc["spec"]["clusterIPs"]).as_deref())
}

fn invalid(field: &str, value: String, detail: &str) -> Cause {
    Cause::new(
        field,
        "FieldValueInvalid",
        format!("Invalid value: {value}: {detail}"),
    )
}

/// `ValidateServiceClusterIPsRelatedFields`.
pub fn validate_cluster_ips_related(svc: &Value) -> Vec<Cause> {
    if svc_type(svc) == "ExternalName" {
        return vec![];
    }
    let mut errs = Vec::new();
    let spec = &svc["spec"];
    let ips = cluster_ips(svc);
    match spec["clusterIP"].as_str().filter(|s| !s.is_empty()) {
        Some(ip) => {
            if ips.is_empty() {
                errs.push(Cause::required("spec.clusterIPs", ""));
            } else if ips[0] != ip {
                errs.push(invalid(
                    "spec.clusterIPs",
                    cluster_ips_value(svc),
                    "first value must match `clusterIP`",
                ));
            }
        }
        None => {
            if !ips.is_empty() {
                errs.push(invalid(
                    "spec.clusterIPs",
                    cluster_ips_value(svc),
                    "must be empty when `clusterIP` is not specified",
                ));
            }
        }
    }
    let mut seen = Vec::new();
    for (i, fam) in ip_families(svc).iter().enumerate() {
        if IpFamily::parse(fam).is_none() {
            errs.push(Cause::new(
                format!("spec.ipFamilies[{i}]"),
                "FieldValueNotSupported",
                format!(
                    "Unsupported value: {}: supported values: \"IPv4\", \"IPv6\"",
                    quote(fam)
                ),
            ));
        }
        if seen.contains(fam) {
            errs.push(Cause::new(
                format!("spec.ipFamilies[{i}]"),
                "FieldValueDuplicate",
                format!("Duplicate value: {}", quote(fam)),
            ));
        }
        seen.push(fam.clone());
    }
    if let Some(p) = policy(svc)
        && ![SINGLE_STACK, PREFER_DUAL_STACK, REQUIRE_DUAL_STACK].contains(&p)
    {
        errs.push(Cause::new(
            "spec.ipFamilyPolicy",
            "FieldValueNotSupported",
            format!("Unsupported value: {}: supported values: \"PreferDualStack\", \"RequireDualStack\", \"SingleStack\"", quote(p)),
        ));
    }
    let mut has_invalid_ips = false;
    for (i, ip) in ips.iter().enumerate() {
        if i == 0 && ip == CLUSTER_IP_NONE {
            if ips.len() > 1 {
                has_invalid_ips = true;
                errs.push(invalid(
                    "spec.clusterIPs",
                    cluster_ips_value(svc),
                    "'None' must be the first and only value",
                ));
            }
            continue;
        }
        if ip.parse::<IpAddr>().is_err() {
            has_invalid_ips = true;
            errs.push(invalid(
                &format!("spec.clusterIPs[{i}]"),
                quote(ip),
                "must be a valid IP address, (e.g. 10.9.8.7 or 2001:db8::ffff)",
            ));
        }
    }
    if ips.len() > 2 {
        errs.push(invalid(
            "spec.clusterIPs",
            cluster_ips_value(svc),
            "may only hold up to 2 values",
        ));
    }
    if has_invalid_ips {
        return errs;
    }
    if ips.len() > 1 {
        let fams: Vec<Option<IpFamily>> = ips.iter().map(|ip| IpFamily::of_str(ip)).collect();
        let dual = fams.len() == 2 && fams[0].is_some() && fams[1].is_some() && fams[0] != fams[1];
        if !dual {
            errs.push(invalid(
                "spec.clusterIPs",
                cluster_ips_value(svc),
                "may specify no more than one IP for each IP family",
            ));
        }
    }
    let fams = ip_families(svc);
    if !is_headless(svc) && !ips.is_empty() && !fams.is_empty() {
        for (i, ip) in ips.iter().enumerate() {
            let Some(fam) = fams.get(i) else { break };
            let is_v6 = IpFamily::of_str(ip) == Some(IpFamily::IPv6);
            if fam == "IPv4" && is_v6 {
                errs.push(invalid(
                    &format!("spec.clusterIPs[{i}]"),
                    quote(ip),
                    &format!("expected an IPv4 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
            if fam == "IPv6" && !is_v6 {
                errs.push(invalid(
                    &format!("spec.clusterIPs[{i}]"),
                    quote(ip),
                    &format!("expected an IPv6 value as indicated by `ipFamilies[{i}]`"),
                ));
            }
        }
    }
    errs
}

fn same(a: &Value, b: &Value, key: &str) -> bool {
    strings(&a["spec"][key]).unwrap_or_default() == strings(&b["spec"][key]).unwrap_or_default()
}

/// alloc.go `isMatchingPreferDualStackClusterIPFields`.
fn is_matching_prefer_dual_stack(svc: &Value, old: Option<&Value>) -> bool {
    let Some(old) = old else { return false };
    let Some(p) = policy(svc) else { return false };
    svc_type(old) == svc_type(svc)
        && ["ClusterIP", "NodePort", "LoadBalancer"].contains(&svc_type(svc))
        && p == PREFER_DUAL_STACK
        && policy(old).is_none_or(|o| o == PREFER_DUAL_STACK)
        && same(old, svc, "clusterIPs")
        && same(old, svc, "ipFamilies")
}

/// Options that deviate from upstream (set only by deviations).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct FamilyQuirks {
    /// Headless services without a selector default to SingleStack (`headless-no-selector-single-stack`).
    pub headless_selectorless_single_stack: bool,
    /// A missing policy defaults to PreferDualStack instead of SingleStack (`service-default-prefer-dual`).
    pub default_prefer_dual: bool,
    /// Setting SingleStack does not trim the secondary clusterIP/family (`service-downgrade-rejected`).
    pub no_single_stack_trim: bool,
}

/// alloc.go `initIPFamilyFields`: defaults `ipFamilyPolicy` and `ipFamilies` from the cluster's
/// service families (`cluster_families`, primary first) and rejects impossible combinations.
pub fn init_ip_family_fields(
    svc: &mut Value,
    old: Option<&Value>,
    cluster_families: &[IpFamily],
    quirks: FamilyQuirks,
) -> Result<(), Vec<Cause>> {
    if svc_type(svc) == "ExternalName" {
        return Ok(());
    }
    if is_matching_prefer_dual_stack(svc, old) {
        return Ok(());
    }
    let headless_selectorless =
        svc["spec"]["clusterIP"].as_str() == Some(CLUSTER_IP_NONE) && !has_selector(svc);
    if policy(svc).is_none() {
        let inherited = old.and_then(|o| policy(o)).map(str::to_string);
        let chosen = match inherited {
            Some(p) => p,
            None if headless_selectorless && !quirks.headless_selectorless_single_stack => {
                REQUIRE_DUAL_STACK.to_string()
            }
            None if quirks.default_prefer_dual => PREFER_DUAL_STACK.to_string(),
            None => SINGLE_STACK.to_string(),
        };
        svc["spec"]["ipFamilyPolicy"] = json!(chosen);
    }
    let errs = validate_cluster_ips_related(svc);
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut errs = Vec::new();
    let single = policy(svc) == Some(SINGLE_STACK);
    if let Some(old) = old {
        if single {
            // Setting SingleStack with unchanged fields is clear intent: drop the secondary.
            if same(old, svc, "clusterIPs")
                && cluster_ips(svc).len() > 1
                && !quirks.no_single_stack_trim
            {
                let first = cluster_ips(svc)[0].clone();
                svc["spec"]["clusterIPs"] = json!([first]);
            }
            if same(old, svc, "ipFamilies")
                && ip_families(svc).len() > 1
                && !quirks.no_single_stack_trim
            {
                let first = ip_families(svc)[0].clone();
                svc["spec"]["ipFamilies"] = json!([first]);
            }
        } else {
            let reduced = |key: &str| {
                let new_len = strings(&svc["spec"][key]).map(|v| v.len()).unwrap_or(0);
                new_len != 0 && new_len < strings(&old["spec"][key]).map(|v| v.len()).unwrap_or(0)
            };
            if reduced("clusterIPs") {
                errs.push(invalid(
                    "spec.ipFamilyPolicy",
                    policy_value(svc),
                    "must be 'SingleStack' to release the secondary cluster IP",
                ));
            }
            if reduced("ipFamilies") {
                errs.push(invalid(
                    "spec.ipFamilyPolicy",
                    policy_value(svc),
                    "must be 'SingleStack' to release the secondary IP family",
                ));
            }
        }
    }
    if single {
        if cluster_ips(svc).len() == 2 {
            errs.push(invalid("spec.ipFamilyPolicy", policy_value(svc), "must be 'RequireDualStack' or 'PreferDualStack' when multiple cluster IPs are specified"));
        }
        if ip_families(svc).len() == 2 {
            errs.push(invalid("spec.ipFamilyPolicy", policy_value(svc), "must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"));
        }
    }
    // Infer ipFamilies from clusterIPs.
    let ips = cluster_ips(svc);
    for (i, ip) in ips.iter().enumerate() {
        if ip == CLUSTER_IP_NONE {
            break;
        }
        let Some(fam) = IpFamily::of_str(ip) else {
            continue;
        };
        if i >= ip_families(svc).len() {
            if !cluster_families.contains(&fam) {
                errs.push(invalid(
                    &format!("spec.clusterIPs[{i}]"),
                    cluster_ips_value(svc),
                    &format!("{} is not configured on this cluster", fam.as_str()),
                ));
            } else {
                let mut fams = ip_families(svc);
                fams.push(fam.as_str().to_string());
                svc["spec"]["ipFamilies"] = json!(fams);
            }
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let primary = cluster_families.first().copied().unwrap_or(IpFamily::IPv4);
    if headless_selectorless {
        let mut fams = ip_families(svc);
        if fams.is_empty() {
            fams.push(primary.as_str().to_string());
        }
        if fams.len() < 2
            && policy(svc) != Some(SINGLE_STACK)
            && let Some(f) = IpFamily::parse(&fams[0])
        {
            fams.push(f.other().as_str().to_string());
        }
        svc["spec"]["ipFamilies"] = json!(fams);
        return Ok(());
    }
    if policy(svc) == Some(REQUIRE_DUAL_STACK) && cluster_families.len() < 2 {
        errs.push(invalid(
            "spec.ipFamilyPolicy",
            policy_value(svc),
            "this cluster is not configured for dual-stack services",
        ));
    }
    for (i, fam) in ip_families(svc).iter().enumerate() {
        if !IpFamily::parse(fam).is_some_and(|f| cluster_families.contains(&f)) {
            errs.push(invalid(
                &format!("spec.ipFamilies[{i}]"),
                quote(fam),
                "not configured on this cluster",
            ));
        }
    }
    if !errs.is_empty() {
        return Err(errs);
    }
    let mut fams = ip_families(svc);
    if fams.is_empty() {
        fams.push(primary.as_str().to_string());
    }
    if policy(svc) != Some(SINGLE_STACK)
        && fams.len() == 1
        && cluster_families.len() == 2
        && let Some(f) = IpFamily::parse(&fams[0])
    {
        fams.push(f.other().as_str().to_string());
    }
    svc["spec"]["ipFamilies"] = json!(fams);
    Ok(())
}

/// `validateUpgradeDowngradeClusterIPs` + `validateUpgradeDowngradeIPFamilies` (update only).
pub fn validate_update(old: &Value, svc: &Value) -> Vec<Cause> {
    let mut errs = Vec::new();
    if svc_type(svc) == "ExternalName" || svc_type(old) == "ExternalName" {
        return errs;
    }
    let (old_h, new_h) = (is_headless(old), is_headless(svc));
    let (old_ips, new_ips) = (cluster_ips(old), cluster_ips(svc));
    let not_single = policy(svc) != Some(SINGLE_STACK);
    if !(old_h && new_h) {
        if old_ips.len() == new_ips.len() {
            for (i, ip) in old_ips.iter().enumerate() {
                if *ip != new_ips[i] {
                    errs.push(invalid(
                        &format!("spec.clusterIPs[{i}]"),
                        cluster_ips_value(svc),
                        "may not change once set",
                    ));
                }
            }
        } else if old_ips.len() > new_ips.len() {
            if new_ips.is_empty() {
                errs.push(invalid(
                    "spec.clusterIPs[0]",
                    cluster_ips_value(svc),
                    "primary clusterIP can not be unset",
                ));
            }
            if !old_ips.is_empty() && !new_ips.is_empty() && new_ips[0] != old_ips[0] {
                errs.push(invalid(
                    "spec.clusterIPs[0]",
                    cluster_ips_value(svc),
                    "may not change once set",
                ));
            }
            if new_ips.len() == 1 && not_single {
                errs.push(invalid(
                    "spec.ipFamilyPolicy",
                    policy_value(svc),
                    "must be set to 'SingleStack' when releasing the secondary clusterIP",
                ));
            }
        } else if !old_ips.is_empty() && new_ips[0] != old_ips[0] {
            errs.push(invalid(
                "spec.clusterIPs[0]",
                cluster_ips_value(svc),
                "may not change once set",
            ));
        }
    }
    if old_h != new_h || new_h {
        return errs;
    }
    let (old_f, new_f) = (ip_families(old), ip_families(svc));
    if old_f.len() == new_f.len() {
        for (i, f) in old_f.iter().enumerate() {
            if *f != new_f[i] {
                errs.push(invalid(
                    "spec.ipFamilies[0]",
                    families_value(svc),
                    "may not change once set",
                ));
            }
        }
    } else if old_f.len() > new_f.len() {
        if new_ips.is_empty() {
            errs.push(invalid(
                "spec.ipFamilies[0]",
                families_value(svc),
                "primary ipFamily can not be unset",
            ));
        }
        if !new_f.is_empty() && new_f[0] != old_f[0] {
            errs.push(invalid(
                "spec.ipFamilies[0]",
                cluster_ips_value(svc),
                "may not change once set",
            ));
        }
        if new_f.len() == 1 && not_single {
            errs.push(invalid(
                "spec.ipFamilyPolicy",
                policy_value(svc),
                "must be set to 'SingleStack' when releasing the secondary ipFamily",
            ));
        }
    } else if !old_f.is_empty() && !new_f.is_empty() && new_f[0] != old_f[0] {
        errs.push(invalid(
            "spec.ipFamilies[0]",
            cluster_ips_value(svc),
            "may not change once set",
        ));
    }
    errs
}

/// Where ClusterIPs come from (the ServiceCIDR allocators over the IPAddress objects).
pub trait IpAllocator {
    fn allocate_next(&mut self, family: IpFamily) -> Result<IpAddr, AllocError>;
    fn allocate(&mut self, ip: IpAddr) -> Result<(), AllocError>;
}

fn alloc_ips(
    svc: &Value,
    wanted: &[(IpFamily, String)],
    alloc: &mut dyn IpAllocator,
) -> Result<Vec<(IpFamily, IpAddr)>, ApiError> {
    let name = svc["metadata"]["name"].as_str().unwrap_or_default();
    let mut out = Vec::new();
    for (family, ip) in wanted {
        if ip.is_empty() {
            match alloc.allocate_next(*family) {
                Ok(ip) => out.push((*family, ip)),
                // upstream allocIPs (pkg/registry/core/service/storage/alloc.go, v1.36 and later):
                // NewInternalError(fmt.Errorf("failed to allocate a serviceIP for Service %q: %w", ...)),
                // as the real kind v1.37.2 cluster answers; the docs show the older form without the name.
                Err(e) => {
                    return Err(ApiError::internal(&format!(
                        "failed to allocate a serviceIP for Service \"{name}\": {e}"
                    )));
                }
            }
        } else {
            let parsed: IpAddr = ip.parse().map_err(|_| {
                ApiError::invalid(
                    "Service",
                    name,
                    vec![invalid(
                        "spec.clusterIPs",
                        cluster_ips_value(svc),
                        "must be a valid IP address",
                    )],
                )
            })?;
            if let Err(e) = alloc.allocate(parsed) {
                let detail = format!("failed to allocate IP {ip}: {e}");
                return Err(ApiError::invalid(
                    "Service",
                    name,
                    vec![invalid("spec.clusterIPs", cluster_ips_value(svc), &detail)],
                ));
            }
            out.push((*family, parsed));
        }
    }
    Ok(out)
}

/// alloc.go `allocClusterIPs` on create: one IP per `ipFamilies` entry (requested or next free);
/// sets `clusterIP`/`clusterIPs`. Returns what was allocated (to release if the create fails).
pub fn alloc_cluster_ips(
    svc: &mut Value,
    alloc: &mut dyn IpAllocator,
) -> Result<Vec<IpAddr>, ApiError> {
    if svc_type(svc) == "ExternalName" {
        return Ok(vec![]);
    }
    let mut ips = cluster_ips(svc);
    if ips.first().map(String::as_str) == Some(CLUSTER_IP_NONE) {
        svc["spec"]["clusterIP"] = json!(CLUSTER_IP_NONE);
        return Ok(vec![]);
    }
    let fams: Vec<IpFamily> = ip_families(svc)
        .iter()
        .filter_map(|f| IpFamily::parse(f))
        .collect();
    while ips.len() < fams.len() {
        ips.push(String::new());
    }
    let wanted: Vec<(IpFamily, String)> = fams.iter().copied().zip(ips.iter().cloned()).collect();
    let allocated = alloc_ips(svc, &wanted, alloc)?;
    let result: Vec<String> = allocated.iter().map(|(_, ip)| ip.to_string()).collect();
    if let Some(first) = result.first() {
        svc["spec"]["clusterIP"] = json!(first);
    }
    svc["spec"]["clusterIPs"] = json!(result);
    Ok(allocated.into_iter().map(|(_, ip)| ip).collect())
}

/// alloc.go `updateClusterIPs`: upgrade (allocate the secondary), downgrade (release it), type
/// changes to/from ExternalName. Returns (allocated, to_release).
pub fn update_cluster_ips(
    old: &Value,
    svc: &mut Value,
    alloc: &mut dyn IpAllocator,
) -> Result<(Vec<IpAddr>, Vec<IpAddr>), ApiError> {
    if is_matching_prefer_dual_stack(svc, Some(old)) {
        return Ok((vec![], vec![]));
    }
    if svc_type(old) == "ExternalName" && svc_type(svc) != "ExternalName" {
        return Ok((alloc_cluster_ips(svc, alloc)?, vec![]));
    }
    if cluster_ips(old).first().map(String::as_str) == Some(CLUSTER_IP_NONE) {
        return Ok((vec![], vec![]));
    }
    if svc_type(old) != "ExternalName" && svc_type(svc) == "ExternalName" {
        return Ok((vec![], allocated_ips(old)));
    }
    let (old_f, new_f) = (ip_families(old), ip_families(svc));
    if old_f.len() == 1 && new_f.len() == 2 {
        let mut ips = cluster_ips(svc);
        if ips.len() < 2 {
            ips.resize(2, String::new());
        }
        let Some(fam) = IpFamily::parse(&new_f[1]) else {
            return Ok((vec![], vec![]));
        };
        let allocated = alloc_ips(svc, &[(fam, ips[1].clone())], alloc)?;
        if let Some((_, ip)) = allocated.first() {
            ips[1] = ip.to_string();
        }
        svc["spec"]["clusterIPs"] = json!(ips);
        return Ok((allocated.into_iter().map(|(_, ip)| ip).collect(), vec![]));
    }
    if old_f.len() == 2 && new_f.len() == 1 {
        let release = cluster_ips(old)
            .get(1)
            .and_then(|ip| ip.parse().ok())
            .into_iter()
            .collect();
        return Ok((vec![], release));
    }
    Ok((vec![], vec![]))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    const DUAL: &[IpFamily] = &[IpFamily::IPv4, IpFamily::IPv6];

    struct Seq {
        used: HashSet<IpAddr>,
        next_v4: u8,
        next_v6: u16,
        full: bool,
    }

    impl IpAllocator for Seq {
        fn allocate_next(&mut self, family: IpFamily) -> Result<IpAddr, AllocError> {
            if self.full {
                return Err(AllocError::Full);
            }
            let ip: IpAddr = match family {
                IpFamily::IPv4 => {
                    self.next_v4 += 1;
                    format!("10.96.0.{}", self.next_v4).parse().unwrap()
                }
                IpFamily::IPv6 => {
                    self.next_v6 += 1;
                    format!("fd00:10:96::{:x}", self.next_v6).parse().unwrap()
                }
            };
            self.used.insert(ip);
            Ok(ip)
        }
        fn allocate(&mut self, ip: IpAddr) -> Result<(), AllocError> {
            if !self.used.insert(ip) {
                Err(AllocError::Allocated)
            } else {
                Ok(())
            }
        }
    }

    fn alloc() -> Seq {
        Seq {
            used: HashSet::new(),
            next_v4: 4,
            next_v6: 0,
            full: false,
        }
    }

    fn svc(spec: Value) -> Value {
        let mut s =
            json!({"metadata": {"name": "my-service", "namespace": "default"}, "spec": spec});
        set_defaults(&mut s);
        s
    }

    fn create(spec: Value, families: &[IpFamily]) -> Result<Value, String> {
        let mut s = svc(spec);
        init_ip_family_fields(&mut s, None, families, FamilyQuirks::default())
            .map_err(|e| e[0].full_message())?;
        alloc_cluster_ips(&mut s, &mut alloc()).map_err(|e| e.message)?;
        Ok(s)
    }

    /// The docs' dual-stack-default-svc: SingleStack, IPv4 from the first range.
    #[test]
    fn default_is_single_stack_primary_family() {
        let s = create(json!({"selector": {"app.kubernetes.io/name": "MyApp"}, "ports": [{"protocol": "TCP", "port": 80}]}), DUAL).unwrap();
        assert_eq!(s["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(s["spec"]["clusterIPs"], json!(["10.96.0.5"]));
        assert_eq!(s["spec"]["clusterIP"], "10.96.0.5");
        assert_eq!(s["spec"]["ports"][0]["targetPort"], 80);
        assert_eq!(s["spec"]["sessionAffinity"], "None");
        assert_eq!(s["spec"]["internalTrafficPolicy"], "Cluster");
    }

    #[test]
    fn ipv6_family_and_prefer_dual_stack() {
        let s = create(
            json!({"ipFamilies": ["IPv6"], "ports": [{"port": 80}]}),
            DUAL,
        )
        .unwrap();
        assert_eq!(
            (
                s["spec"]["ipFamilyPolicy"].as_str(),
                s["spec"]["clusterIP"].as_str()
            ),
            (Some("SingleStack"), Some("fd00:10:96::1"))
        );
        let s = create(
            json!({"ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 80}]}),
            DUAL,
        )
        .unwrap();
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        assert_eq!(
            s["spec"]["clusterIPs"],
            json!(["10.96.0.5", "fd00:10:96::1"])
        );
        let s = create(json!({"ipFamilyPolicy": "PreferDualStack", "ipFamilies": ["IPv6", "IPv4"], "type": "LoadBalancer", "ports": [{"port": 80}]}), DUAL).unwrap();
        assert_eq!(s["spec"]["clusterIP"], "fd00:10:96::1");
        assert_eq!(s["spec"]["clusterIPs"][1], "10.96.0.5");
        // PreferDualStack on a single-stack cluster gets one family.
        let s = create(
            json!({"ipFamilyPolicy": "PreferDualStack", "ports": [{"port": 80}]}),
            &[IpFamily::IPv4],
        )
        .unwrap();
        assert_eq!(s["spec"]["ipFamilies"], json!(["IPv4"]));
    }

    #[test]
    fn require_dual_stack_on_single_stack_cluster() {
        let err = create(
            json!({"ipFamilyPolicy": "RequireDualStack", "ports": [{"port": 80}]}),
            &[IpFamily::IPv4],
        )
        .unwrap_err();
        assert_eq!(
            err,
            "spec.ipFamilyPolicy: Invalid value: \"RequireDualStack\": this cluster is not configured for dual-stack services"
        );
        let err = create(
            json!({"ipFamilies": ["IPv6"], "ports": [{"port": 80}]}),
            &[IpFamily::IPv4],
        )
        .unwrap_err();
        assert_eq!(
            err,
            "spec.ipFamilies[0]: Invalid value: \"IPv6\": not configured on this cluster"
        );
        let err = create(json!({"ipFamilyPolicy": "SingleStack", "ipFamilies": ["IPv4", "IPv6"], "ports": [{"port": 80}]}), DUAL).unwrap_err();
        assert_eq!(
            err,
            "spec.ipFamilyPolicy: Invalid value: \"SingleStack\": must be 'RequireDualStack' or 'PreferDualStack' when multiple IP families are specified"
        );
    }

    #[test]
    fn headless_rules() {
        let with_selector = create(
            json!({"clusterIP": "None", "selector": {"app": "x"}, "ports": [{"port": 80}]}),
            DUAL,
        )
        .unwrap();
        assert_eq!(with_selector["spec"]["ipFamilyPolicy"], "SingleStack");
        assert_eq!(with_selector["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(with_selector["spec"]["clusterIPs"], json!(["None"]));
        let selectorless =
            create(json!({"clusterIP": "None", "ports": [{"port": 80}]}), DUAL).unwrap();
        assert_eq!(selectorless["spec"]["ipFamilyPolicy"], "RequireDualStack");
        assert_eq!(selectorless["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        let mut quirky = svc(json!({"clusterIP": "None", "ports": [{"port": 80}]}));
        init_ip_family_fields(
            &mut quirky,
            None,
            DUAL,
            FamilyQuirks {
                headless_selectorless_single_stack: true,
                ..FamilyQuirks::default()
            },
        )
        .unwrap();
        assert_eq!(quirky["spec"]["ipFamilies"], json!(["IPv4"]));
    }

    fn update(
        old: &Value,
        change: impl FnOnce(&mut Value),
    ) -> Result<(Value, Vec<IpAddr>, Vec<IpAddr>), String> {
        let mut new = old.clone();
        change(&mut new);
        init_ip_family_fields(&mut new, Some(old), DUAL, FamilyQuirks::default())
            .map_err(|e| e[0].full_message())?;
        let errs = validate_update(old, &new);
        if let Some(e) = errs.first() {
            return Err(e.full_message());
        }
        let mut a = alloc();
        a.next_v6 = 4;
        let (added, released) = update_cluster_ips(old, &mut new, &mut a).map_err(|e| e.message)?;
        Ok((new, added, released))
    }

    #[test]
    fn switching_single_and_dual() {
        let single = create(json!({"ports": [{"port": 80}]}), DUAL).unwrap();
        let (dual, added, _) = update(&single, |s| {
            s["spec"]["ipFamilyPolicy"] = json!("PreferDualStack")
        })
        .unwrap();
        assert_eq!(dual["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
        assert_eq!(
            dual["spec"]["clusterIPs"],
            json!(["10.96.0.5", "fd00:10:96::5"])
        );
        assert_eq!(added.len(), 1);
        let (back, _, released) = update(&dual, |s| {
            s["spec"]["ipFamilyPolicy"] = json!("SingleStack")
        })
        .unwrap();
        assert_eq!(back["spec"]["clusterIPs"], json!(["10.96.0.5"]));
        assert_eq!(back["spec"]["ipFamilies"], json!(["IPv4"]));
        assert_eq!(released, vec!["fd00:10:96::5".parse::<IpAddr>().unwrap()]);
    }

    #[test]
    fn primary_family_is_immutable() {
        let single = create(json!({"ports": [{"port": 80}]}), DUAL).unwrap();
        // With the clusterIPs kept (kubectl apply), the family/IP mismatch is reported first, as
        // initIPFamilyFields validates before the upgrade/downgrade rules.
        let err = update(&single, |s| s["spec"]["ipFamilies"] = json!(["IPv6"])).unwrap_err();
        assert_eq!(
            err,
            "spec.clusterIPs[0]: Invalid value: \"10.96.0.5\": expected an IPv6 value as indicated by `ipFamilies[0]`"
        );
        let mut changed = single.clone();
        changed["spec"]["ipFamilies"] = json!(["IPv6"]);
        assert_eq!(
            validate_update(&single, &changed)[0].full_message(),
            "spec.ipFamilies[0]: Invalid value: []core.IPFamily{\"IPv6\"}: may not change once set"
        );
        let err = update(&single, |s| {
            s["spec"]["clusterIP"] = json!("10.96.0.9");
            s["spec"]["clusterIPs"] = json!(["10.96.0.9"]);
        })
        .unwrap_err();
        assert_eq!(
            err,
            "spec.clusterIPs[0]: Invalid value: []string{\"10.96.0.9\"}: may not change once set"
        );
    }

    #[test]
    fn full_range_is_an_internal_error() {
        let mut s = svc(json!({"ports": [{"port": 80}]}));
        init_ip_family_fields(&mut s, None, DUAL, FamilyQuirks::default()).unwrap();
        let mut a = alloc();
        a.full = true;
        let err = alloc_cluster_ips(&mut s, &mut a).unwrap_err();
        assert_eq!(err.code, 500);
        // v1.36+ names the Service (pkg/registry/core/service/storage/alloc.go allocIPs).
        assert!(
            err.message.starts_with(
                "Internal error occurred: failed to allocate a serviceIP for Service \""
            ) && err.message.ends_with("\": range is full"),
            "{}",
            err.message
        );
    }
}
