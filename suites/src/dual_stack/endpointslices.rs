//! EndpointSlices of dual-stack and single-stack Services: one set of slices per address type the Service
//! requests, each holding the pods' addresses of that family, and none for a family it did not request.
//! upstream: pkg/controller/endpointslice/reconciler.go `reconcile` (slices per address type of
//! `getAddressTypesForService`: the Service's `ipFamilies`), staging/src/k8s.io/endpointslice/utils.go
//! `getEndpointAddresses` (a pod's IPs of the slice's family).

use std::collections::{BTreeMap, BTreeSet};

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::{IpFamily, family_of_ip};
use netconform::retry::retrying;
use netconform::wait::{Verdict, budgets};

use super::IPV6_SVC;
use crate::pods::{from_json, pod_ips};
use crate::shared::services::{PREFERRED_SVC, SvcView, create_service, get_service};

/// The server image upstream's e2e uses (test/utils/image/manifest.go `Agnhost`).
pub(crate) const AGNHOST: &str = "registry.k8s.io/e2e-test-images/agnhost:2.52";
const SERVICE_LABEL: &str = "kubernetes.io/service-name=my-service";

/// An agnhost `netexec` pod serving HTTP on port 80 with the label the docs' Services select.
pub(crate) fn backend(name: &str, node_hostname: Option<&str>) -> Result<Pod, TrialError> {
    let mut spec = json!({
        "containers": [{"name": "netexec", "image": AGNHOST, "args": ["netexec", "--http-port=80"],
                        "ports": [{"containerPort": 80, "protocol": "TCP"}]}]
    });
    if let Some(host) = node_hostname {
        spec["nodeSelector"] = json!({"kubernetes.io/hostname": host});
    }
    from_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "labels": {"app.kubernetes.io/name": "MyApp"}},
        "spec": spec
    }))
}

/// Ready addresses per address type, over all slices.
fn ready_addresses(slices: &[EndpointSlice]) -> BTreeMap<String, BTreeSet<String>> {
    let mut by_type: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for slice in slices {
        let entry = by_type.entry(slice.address_type.clone()).or_default();
        for ep in &slice.endpoints {
            if ep.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true) {
                entry.extend(ep.addresses.iter().cloned());
            }
        }
    }
    by_type
}

fn describe_slice(slice: &EndpointSlice) -> String {
    let eps: Vec<String> = slice
        .endpoints
        .iter()
        .map(|e| {
            let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
            format!(
                "{}{}",
                e.addresses.join("/"),
                if ready { "" } else { " (not ready)" }
            )
        })
        .collect();
    format!(
        "EndpointSlice {} addressType {}: [{}]",
        slice.metadata.name.as_deref().unwrap_or("?"),
        slice.address_type,
        eps.join(", ")
    )
}

/// Creates `svc` and two backends, then waits until the slices of every family in `families` hold the
/// backends' ready addresses of that family. Returns the backends' IPs per family and the slices seen.
async fn service_with_backends(
    ctx: &Ctx,
    svc: &Service,
    families: &[IpFamily],
) -> Result<(BTreeMap<String, BTreeSet<String>>, Vec<EndpointSlice>), TrialError> {
    create_service(ctx, svc).await?;
    let mut expected: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    for name in ["backend-1", "backend-2"] {
        ctx.create(&backend(name, None)?).await?;
    }
    for name in ["backend-1", "backend-2"] {
        let pod = ctx.wait_pod_running(name).await?;
        for ip in pod_ips(&pod) {
            if let Ok(family) = family_of_ip(&ip) {
                expected
                    .entry(family.as_str().to_string())
                    .or_default()
                    .insert(ip);
            }
        }
    }
    let wanted: BTreeMap<String, BTreeSet<String>> = expected
        .iter()
        .filter(|(f, _)| families.iter().any(|w| w.as_str() == f.as_str()))
        .map(|(f, ips)| (f.clone(), ips.clone()))
        .collect();
    let awaited = format!(
        "EndpointSlices of my-service holding the backends' ready addresses per family: {}",
        wanted
            .iter()
            .map(|(f, ips)| format!(
                "{f} [{}]",
                ips.iter().cloned().collect::<Vec<_>>().join(", ")
            ))
            .collect::<Vec<_>>()
            .join("; ")
    );
    let config = watcher::Config::default().labels(SERVICE_LABEL);
    let slices = ctx
        .wait::<EndpointSlice>(budgets::ENDPOINTS)
        .awaiting(awaited)
        .showing(describe_slice)
        .until_all(config, |slices: &[EndpointSlice]| {
            let ready = ready_addresses(slices);
            let complete = wanted
                .iter()
                .all(|(family, ips)| ready.get(family).is_some_and(|have| have.is_superset(ips)));
            if complete {
                Verdict::Done
            } else {
                Verdict::Pending
            }
        })
        .await?;
    Ok((expected, slices))
}

pub(crate) async fn one_per_family(ctx: Ctx) -> Result<(), TrialError> {
    let manifest: Service = PREFERRED_SVC.object()?;
    let both = [IpFamily::IPv4, IpFamily::IPv6];
    let (expected, slices) = service_with_backends(&ctx, &manifest, &both).await?;
    let svc = get_service(&ctx, "my-service").await?;
    let families: BTreeSet<String> = SvcView::of(&svc).families.into_iter().collect();
    let ready = ready_addresses(&slices);
    let types: BTreeSet<String> = ready.keys().cloned().collect();
    // Every address of a slice is of the slice's family, and every requested family has its slice.
    let misplaced: Vec<String> = ready
        .iter()
        .flat_map(|(t, ips)| {
            ips.iter()
                .filter(move |ip| family_of_ip(ip).map(|f| f.as_str()) != Ok(t.as_str()))
                .map(move |ip| format!("{ip} in a {t} slice"))
        })
        .collect();
    if types != families || !misplaced.is_empty() {
        return Err(TrialError::Mismatch {
            what: "the EndpointSlices of the dual-stack my-service (dual-stack-preferred-svc.yaml)"
                .into(),
            expected: format!(
                "slices of address types [{}], holding the backends' addresses of their family: {expected:?}",
                families.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            observed: format!(
                "{}\n{}",
                slices
                    .iter()
                    .map(describe_slice)
                    .collect::<Vec<_>>()
                    .join("\n"),
                misplaced.join("\n")
            ),
        });
    }
    Ok(())
}

pub(crate) async fn none_for_unrequested_family(ctx: Ctx) -> Result<(), TrialError> {
    let manifest: Service = IPV6_SVC.object()?;
    service_with_backends(&ctx, &manifest, &[IpFamily::IPv6]).await?;
    // The controller writes every slice of a Service in one sync; read them all again.
    let api: Api<EndpointSlice> = ctx.api();
    let params = ListParams::default().labels(SERVICE_LABEL);
    let slices = retrying(|| api.list(&params))
        .await
        .map_err(TrialError::api("listing the EndpointSlices of my-service"))?
        .items;
    let unrequested: Vec<&EndpointSlice> =
        slices.iter().filter(|s| s.address_type != "IPv6").collect();
    if unrequested.is_empty() {
        return Ok(());
    }
    Err(TrialError::Mismatch {
        what: "the EndpointSlices of the single-stack IPv6 my-service (dual-stack-ipfamilies-ipv6.yaml)".into(),
        expected: "slices of address type IPv6 only".into(),
        observed: slices.iter().map(describe_slice).collect::<Vec<_>>().join("\n"),
    })
}
