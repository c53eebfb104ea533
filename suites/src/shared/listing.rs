//! What a Service's EndpointSlices and its (legacy) Endpoints list: each address with its readiness and
//! ports, and watch-driven waits on them.
//!
//! upstream: staging/src/k8s.io/api/discovery/v1/types.go (`EndpointConditions.Ready`: "nil should be
//! interpreted as true"; slices labelled `kubernetes.io/service-name`), staging/src/k8s.io/api/core/v1/types.go
//! (`EndpointSubset`: `addresses` ready, `notReadyAddresses` not ready, `ports` for both).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::Endpoints;
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::runtime::watcher;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::IpFamily;
use netconform::wait::{Verdict, budgets, conditions};

/// One listed address.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Listed {
    pub ip: String,
    pub ready: bool,
    /// The port numbers listed with it (one per Service port).
    pub ports: Vec<i32>,
}

impl std::fmt::Display for Listed {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ports: Vec<String> = self.ports.iter().map(i32::to_string).collect();
        let state = if self.ready { "ready" } else { "not ready" };
        write!(f, "{} ports [{}] {state}", self.ip, ports.join(","))
    }
}

/// `a; b; c` or `nothing`.
pub(crate) fn show(listed: &BTreeSet<Listed>) -> String {
    if listed.is_empty() {
        return "nothing".into();
    }
    listed
        .iter()
        .map(Listed::to_string)
        .collect::<Vec<_>>()
        .join("; ")
}

/// The endpoints of the slices of `family`.
pub(crate) fn from_slices(slices: &[EndpointSlice], family: IpFamily) -> BTreeSet<Listed> {
    slices
        .iter()
        .filter(|s| s.address_type == family.as_str())
        .flat_map(|s| {
            let mut ports: Vec<i32> = s.ports.iter().flatten().filter_map(|p| p.port).collect();
            ports.sort();
            s.endpoints.iter().flat_map(move |e| {
                let ready = e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(true);
                let ports = ports.clone();
                e.addresses.iter().map(move |ip| Listed {
                    ip: ip.clone(),
                    ready,
                    ports: ports.clone(),
                })
            })
        })
        .collect()
}

/// The addresses of an Endpoints object: `addresses` ready, `notReadyAddresses` not.
pub(crate) fn from_endpoints(endpoints: &Endpoints) -> BTreeSet<Listed> {
    let mut out = BTreeSet::new();
    for subset in endpoints.subsets.iter().flatten() {
        let mut ports: Vec<i32> = subset.ports.iter().flatten().map(|p| p.port).collect();
        ports.sort();
        for (list, ready) in [
            (&subset.addresses, true),
            (&subset.not_ready_addresses, false),
        ] {
            for address in list.iter().flatten() {
                out.insert(Listed {
                    ip: address.ip.clone(),
                    ready,
                    ports: ports.clone(),
                });
            }
        }
    }
    out
}

fn describe_slice(slice: &EndpointSlice) -> String {
    let listed = from_slices(std::slice::from_ref(slice), IpFamily::IPv4)
        .into_iter()
        .chain(from_slices(std::slice::from_ref(slice), IpFamily::IPv6))
        .collect();
    format!(
        "EndpointSlice {} ({}): {}",
        slice.metadata.name.as_deref().unwrap_or("?"),
        slice.address_type,
        show(&listed)
    )
}

/// Waits until `service`'s EndpointSlices of `family` list what `done` accepts; returns that listing.
pub(crate) async fn wait_slices(
    ctx: &Ctx,
    service: &str,
    family: IpFamily,
    awaited: &str,
    done: impl Fn(&BTreeSet<Listed>) -> bool,
) -> Result<BTreeSet<Listed>, TrialError> {
    let config =
        watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
    let slices = ctx
        .wait::<EndpointSlice>(budgets::ENDPOINTS)
        .awaiting(format!(
            "the {family} EndpointSlices of Service {service} to list {awaited}"
        ))
        .showing(describe_slice)
        .until_all(config, |slices: &[EndpointSlice]| {
            if done(&from_slices(slices, family)) {
                Verdict::Done
            } else {
                Verdict::Pending
            }
        })
        .await?;
    Ok(from_slices(&slices, family))
}

/// Waits until the Endpoints of `service` list what `done` accepts; returns that listing.
pub(crate) async fn wait_endpoints(
    ctx: &Ctx,
    service: &str,
    awaited: &str,
    done: impl Fn(&BTreeSet<Listed>) -> bool,
) -> Result<BTreeSet<Listed>, TrialError> {
    let found = ctx
        .wait::<Endpoints>(budgets::ENDPOINTS)
        .awaiting(format!("the Endpoints {service} to list {awaited}"))
        .showing(|e: &Endpoints| format!("Endpoints {service}: {}", show(&from_endpoints(e))))
        .until(
            service,
            conditions::holds(|e: &Endpoints| done(&from_endpoints(e))),
        )
        .await?;
    Ok(found.as_ref().map(from_endpoints).unwrap_or_default())
}

/// Whether `listing` holds exactly the addresses `ips` (any readiness, any ports).
pub(crate) fn lists_exactly(listing: &BTreeSet<Listed>, ips: &BTreeSet<String>) -> bool {
    listing
        .iter()
        .map(|l| l.ip.clone())
        .collect::<BTreeSet<_>>()
        == *ips
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn slices_and_endpoints_read_alike() {
        let slice: EndpointSlice = serde_json::from_value(json!({
            "metadata": {"name": "web-abcde"}, "addressType": "IPv4",
            "ports": [{"name": "", "port": 8080, "protocol": "TCP"}],
            "endpoints": [
                {"addresses": ["10.244.1.5"], "conditions": {"ready": false, "serving": false, "terminating": false}},
                {"addresses": ["10.244.2.7"], "conditions": {}}
            ]
        }))
        .unwrap();
        let listed = from_slices(&[slice], IpFamily::IPv4);
        assert_eq!(
            show(&listed),
            "10.244.1.5 ports [8080] not ready; 10.244.2.7 ports [8080] ready"
        );
        let endpoints: Endpoints = serde_json::from_value(json!({
            "metadata": {"name": "web"},
            "subsets": [{"addresses": [{"ip": "10.244.2.7"}], "notReadyAddresses": [{"ip": "10.244.1.5"}],
                         "ports": [{"port": 8080, "protocol": "TCP"}]}]
        }))
        .unwrap();
        assert_eq!(from_endpoints(&endpoints), listed);
        let ips: BTreeSet<String> = ["10.244.1.5".to_string(), "10.244.2.7".to_string()].into();
        assert!(lists_exactly(&listed, &ips));
        assert_eq!(show(&BTreeSet::new()), "nothing");
    }
}
