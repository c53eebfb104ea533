//! The default ServiceCIDR `kubernetes`, the `kubernetes` Service and its IPAddress.

use std::net::IpAddr;

use ipnet::IpNet;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::retry::retrying;

use super::api::{cidrs_of, default_service_cidr, get_ip_address, parent_ref_text};
use super::ranges::first_address;
use super::{
    DOC_GET_IPADDRESS, DOC_GET_SERVICE_KUBERNETES, DOC_GET_SERVICECIDR, mismatch_with_doc,
};

const RANGE_FLAG: &str = "--service-cluster-ip-range";

/// `--service-cluster-ip-range` of a kube-apiserver pod (`--flag=value` or `--flag value`), split at commas.
pub fn service_range_flag(pod: &Pod) -> Option<Vec<String>> {
    let spec = pod.spec.as_ref()?;
    spec.containers.iter().find_map(|c| {
        let argv: Vec<&String> = c
            .command
            .iter()
            .flatten()
            .chain(c.args.iter().flatten())
            .collect();
        argv.iter().enumerate().find_map(|(i, arg)| {
            let value = match arg.strip_prefix(RANGE_FLAG) {
                Some(rest) if rest.starts_with('=') => Some(rest[1..].to_string()),
                Some("") => argv.get(i + 1).map(|v| v.to_string()),
                _ => None,
            }?;
            Some(
                value
                    .split(',')
                    .map(|s| s.trim().to_string())
                    .filter(|s| !s.is_empty())
                    .collect(),
            )
        })
    })
}

/// The service ranges kube-apiserver was started with, read off its static pod (kubeadm and kind label it
/// `component=kube-apiserver` in kube-system; upstream cmd/kubeadm/app/phases/controlplane/manifests.go
/// passes `service-cluster-ip-range` from the ClusterConfiguration's serviceSubnet). None when no such pod
/// is visible (managed control planes).
async fn apiserver_service_ranges(ctx: &Ctx) -> Result<Option<(String, Vec<IpNet>)>, TrialError> {
    let pods: Api<Pod> = Api::namespaced(ctx.client(), "kube-system");
    let params = ListParams::default().labels("component=kube-apiserver");
    let listed = match retrying(|| pods.list(&params)).await {
        Ok(list) => list.items,
        Err(kube::Error::Api(s)) if s.code == 403 || s.code == 404 => return Ok(None),
        Err(e) => {
            return Err(TrialError::Api {
                context: "listing kube-apiserver pods in kube-system".into(),
                source: e.into(),
            });
        }
    };
    Ok(listed.iter().find_map(|pod| {
        let ranges = service_range_flag(pod)?;
        Some((
            format!("{RANGE_FLAG} of pod kube-system/{}", pod.name_any()),
            super::ranges::parse_cidrs(&ranges),
        ))
    }))
}

async fn service(ctx: &Ctx, namespace: &str, name: &str) -> Result<Service, TrialError> {
    let api: Api<Service> = Api::namespaced(ctx.client(), namespace);
    retrying(|| api.get_opt(name))
        .await
        .map_err(TrialError::api(format!(
            "reading service {namespace}/{name}"
        )))?
        .ok_or_else(|| TrialError::Mismatch {
            what: format!("the Service {namespace}/{name}"),
            expected: "present (the control plane creates it)".into(),
            observed: "not found".into(),
        })
}

fn cluster_ips(svc: &Service) -> Vec<String> {
    let spec = svc.spec.as_ref();
    spec.and_then(|s| s.cluster_ips.clone())
        .filter(|ips| !ips.is_empty())
        .or_else(|| spec.and_then(|s| s.cluster_ip.clone()).map(|ip| vec![ip]))
        .unwrap_or_default()
}

fn show(cidrs: &[IpNet]) -> String {
    format!(
        "[{}]",
        cidrs
            .iter()
            .map(|c| c.to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )
}

/// upstream: pkg/controlplane/controller/defaultservicecidr/default_servicecidr_controller.go creates
/// `kubernetes` with the primary range and, on dual-stack apiservers, the secondary one, in that order.
pub async fn cidrs_match_service_ranges(ctx: Ctx) -> Result<(), TrialError> {
    let (sc, cidrs) = default_service_cidr(&ctx).await?;
    ctx.log(format!(
        "servicecidr kubernetes: cidrs [{}]",
        cidrs_of(&sc).join(", ")
    ));
    if let Some((source, ranges)) = apiserver_service_ranges(&ctx).await? {
        ctx.log(format!(
            "the cluster's service ranges: {} ({source})",
            show(&ranges)
        ));
        if cidrs == ranges {
            return Ok(());
        }
        return Err(mismatch_with_doc(
            "spec.cidrs of the ServiceCIDR kubernetes",
            &format!("{} ({source})", show(&ranges)),
            &show(&cidrs),
            &DOC_GET_SERVICECIDR,
        ));
    }
    // No apiserver pod to read the flag from: every ClusterIP of the control plane's own Services must at
    // least lie in the default ServiceCIDR.
    ctx.log("no kube-apiserver pod shows --service-cluster-ip-range (managed control plane?); comparing with the ClusterIPs of default/kubernetes and kube-system/kube-dns");
    for (namespace, name) in [("default", "kubernetes"), ("kube-system", "kube-dns")] {
        let Ok(svc) = service(&ctx, namespace, name).await else {
            continue;
        };
        for ip in cluster_ips(&svc) {
            let inside = ip
                .parse::<IpAddr>()
                .is_ok_and(|ip| cidrs.iter().any(|c| c.contains(&ip)));
            ensure(
                inside,
                &format!(
                    "the ClusterIP {ip} of {namespace}/{name} against spec.cidrs of the ServiceCIDR kubernetes"
                ),
                format!("a range of {} containing it", show(&cidrs)),
                "no range contains it",
            )?;
        }
    }
    Ok(())
}

/// upstream: pkg/controlplane/services.go `ServiceIPRange` (`GetIndexedIP(&serviceClusterIPRange, 1)`).
pub async fn kubernetes_service_first_address(ctx: Ctx) -> Result<(), TrialError> {
    let primary = match apiserver_service_ranges(&ctx).await? {
        Some((_, ranges)) if !ranges.is_empty() => ranges[0],
        _ => {
            let (_, cidrs) = default_service_cidr(&ctx).await?;
            *cidrs.first().ok_or_else(|| {
                TrialError::Harness("the ServiceCIDR kubernetes has no cidrs".into())
            })?
        }
    };
    let expected = first_address(&primary).to_string();
    let svc = service(&ctx, "default", "kubernetes").await?;
    let observed = svc
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .unwrap_or_default();
    if observed == expected {
        return Ok(());
    }
    Err(mismatch_with_doc(
        "spec.clusterIP of the Service default/kubernetes",
        &format!("{expected} (the first address of the primary range {primary})"),
        &observed,
        &DOC_GET_SERVICE_KUBERNETES,
    ))
}

/// upstream: pkg/registry/core/service/ipallocator/ipallocator.go `createIPAddress` with `serviceToRef`
/// (group "", resource "services", the Service's namespace and name).
pub async fn ipaddress_parent_ref(ctx: Ctx) -> Result<(), TrialError> {
    let svc = service(&ctx, "default", "kubernetes").await?;
    let ip = svc
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .unwrap_or_default();
    let found = get_ip_address(&ctx, &ip).await?;
    let Some(found) = found else {
        return Err(mismatch_with_doc(
            &format!("the IPAddress {ip} (the ClusterIP of default/kubernetes)"),
            "an IPAddress object named after the ClusterIP",
            "not found",
            &DOC_GET_IPADDRESS,
        ));
    };
    let observed = parent_ref_text(&found);
    ensure(
        observed == "services/default/kubernetes",
        &format!("spec.parentRef of the IPAddress {ip} (group/resource/namespace/name)"),
        format!(
            "services/default/kubernetes\n\n{}",
            DOC_GET_IPADDRESS.excerpt()
        ),
        observed,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(command: &[&str], args: &[&str]) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kube-apiserver-x", "namespace": "kube-system"},
            "spec": {"containers": [{"name": "kube-apiserver", "command": command, "args": args}]}
        }))
        .unwrap()
    }

    #[test]
    fn reads_the_service_range_flag_in_both_spellings() {
        let joined = pod(
            &[
                "kube-apiserver",
                "--secure-port=6443",
                "--service-cluster-ip-range=10.96.0.0/28,fd00:10:96::/112",
            ],
            &[],
        );
        assert_eq!(
            service_range_flag(&joined),
            Some(vec![
                "10.96.0.0/28".to_string(),
                "fd00:10:96::/112".to_string()
            ])
        );
        let split = pod(
            &["kube-apiserver"],
            &["--service-cluster-ip-range", "10.0.0.0/16"],
        );
        assert_eq!(
            service_range_flag(&split),
            Some(vec!["10.0.0.0/16".to_string()])
        );
        assert_eq!(
            service_range_flag(&pod(
                &["kube-apiserver", "--service-cluster-ip-range-x=1"],
                &[]
            )),
            None
        );
        assert_eq!(service_range_flag(&pod(&["kube-apiserver"], &[])), None);
    }
}
