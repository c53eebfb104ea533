//! The EndpointSlices the endpointslice controller keeps for a Service with a selector.
//!
//! upstream: pkg/controller/endpointslice/reconciler.go (one slice set per address type of the
//! Service, a placeholder slice when there are no endpoints), staging/src/k8s.io/endpointslice/utils.go
//! (`podToEndpoint`: ready/serving/terminating, nodeName, targetRef, hostname; `getEndpointAddresses`;
//! `getEndpointPorts`; `newEndpointSlice`: generateName `<service>-`, labels, owner reference),
//! staging/src/k8s.io/endpointslice/util/controller_utils.go (`ShouldPodBeInEndpoints`,
//! `getAddressTypesForService`).

use std::collections::BTreeMap;

use serde_json::{Map, Value, json};

use super::family::IpFamily;

pub const LABEL_SERVICE_NAME: &str = "kubernetes.io/service-name";
pub const LABEL_MANAGED_BY: &str = "endpointslice.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpointslice-controller.k8s.io";
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";

/// `labels.SelectorFromSet(service.Spec.Selector)`: every selector pair is on the pod.
pub fn selector_matches(selector: &Map<String, Value>, labels: &Value) -> bool {
    selector.iter().all(|(k, v)| labels.get(k) == Some(v))
}

/// `podutil.IsPodReady`.
pub fn is_pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"].as_array().is_some_and(|cs| {
        cs.iter()
            .any(|c| c["type"] == "Ready" && c["status"] == "True")
    })
}

/// `ShouldPodBeInEndpoints(pod, includeTerminating=true)`: not terminal and has an IP.
pub fn should_pod_be_in_endpoints(pod: &Value) -> bool {
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    pod["status"]["podIP"]
        .as_str()
        .is_some_and(|ip| !ip.is_empty())
}

/// `getAddressTypesForService`: the Service's ipFamilies, else the families of its ClusterIPs.
pub fn address_types(svc: &Value) -> Vec<IpFamily> {
    let from_families: Vec<IpFamily> = svc["spec"]["ipFamilies"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|s| IpFamily::parse(s.as_str()?))
                .collect()
        })
        .unwrap_or_default();
    if !from_families.is_empty() {
        return from_families;
    }
    let from_ips: Vec<IpFamily> = svc["spec"]["clusterIPs"]
        .as_array()
        .map(|ips| {
            ips.iter()
                .filter_map(|ip| IpFamily::of_str(ip.as_str()?))
                .collect()
        })
        .unwrap_or_default();
    if from_ips.is_empty() {
        vec![IpFamily::IPv4]
    } else {
        from_ips
    }
}

/// `podutil.FindPort`: a number, or a named container port of the pod.
fn find_port(pod: &Value, target: &Value) -> Option<i64> {
    if let Some(n) = target.as_i64() {
        return Some(n);
    }
    let name = target.as_str()?;
    if let Ok(n) = name.parse::<i64>() {
        return Some(n);
    }
    pod["spec"]["containers"].as_array()?.iter().find_map(|c| {
        c["ports"]
            .as_array()?
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
            .and_then(|p| p["containerPort"].as_i64())
    })
}

/// `getEndpointPorts`.
pub fn endpoint_ports(svc: &Value, pod: &Value) -> Vec<Value> {
    svc["spec"]["ports"]
        .as_array()
        .map(|ports| {
            ports
                .iter()
                .filter_map(|sp| {
                    let target = if sp["targetPort"].is_null() {
                        &sp["port"]
                    } else {
                        &sp["targetPort"]
                    };
                    let num = find_port(pod, target)?;
                    let mut port = json!({
                        "name": sp["name"].as_str().unwrap_or(""),
                        "port": num,
                        "protocol": sp["protocol"].as_str().unwrap_or("TCP"),
                    });
                    if let Some(app) = sp["appProtocol"].as_str() {
                        port["appProtocol"] = json!(app);
                    }
                    Some(port)
                })
                .collect()
        })
        .unwrap_or_default()
}

/// `podToEndpoint` for one address type; `None` when the pod has no IP of that family.
pub fn pod_to_endpoint(svc: &Value, pod: &Value, family: IpFamily) -> Option<Value> {
    let addresses: Vec<String> = pod["status"]["podIPs"]
        .as_array()
        .map(|ips| {
            ips.iter()
                .filter_map(|p| p["ip"].as_str())
                .filter(|ip| IpFamily::of_str(ip) == Some(family))
                .map(str::to_string)
                .collect()
        })
        .unwrap_or_default();
    if addresses.is_empty() {
        return None;
    }
    let serving = is_pod_ready(pod);
    let terminating = !pod["metadata"]["deletionTimestamp"].is_null();
    let publish_not_ready = svc["spec"]["publishNotReadyAddresses"]
        .as_bool()
        .unwrap_or(false);
    let ready = publish_not_ready || (serving && !terminating);
    let meta = &pod["metadata"];
    let mut ep = json!({
        "addresses": addresses,
        "conditions": {"ready": ready, "serving": serving, "terminating": terminating},
        "targetRef": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
    });
    if let Some(node) = pod["spec"]["nodeName"].as_str().filter(|n| !n.is_empty()) {
        ep["nodeName"] = json!(node);
    }
    // `ShouldSetHostname`: spec.hostname set and spec.subdomain names this Service.
    let hostname = pod["spec"]["hostname"].as_str().unwrap_or_default();
    if !hostname.is_empty()
        && pod["spec"]["subdomain"] == svc["metadata"]["name"]
        && pod["metadata"]["namespace"] == svc["metadata"]["namespace"]
    {
        ep["hostname"] = json!(hostname);
    }
    Some(ep)
}

/// What one slice of a Service should hold.
#[derive(Debug, Clone, PartialEq)]
pub struct DesiredSlice {
    pub address_type: IpFamily,
    /// `None` for the placeholder slice (served as `null`).
    pub endpoints: Option<Vec<Value>>,
    pub ports: Option<Vec<Value>>,
}

/// The slices the controller wants for `svc` given the pods of its namespace; empty for Services
/// without a selector (their slices are managed by users). With `families_only` set, only the listed
/// address types are produced (used by the `endpointslice-missing-ipv6` deviation).
pub fn desired_slices(
    svc: &Value,
    pods: &[Value],
    families_only: Option<&[IpFamily]>,
) -> Vec<DesiredSlice> {
    let Some(selector) = svc["spec"]["selector"]
        .as_object()
        .filter(|s| !s.is_empty())
    else {
        return vec![];
    };
    if svc["spec"]["type"] == "ExternalName" {
        return vec![];
    }
    let ns = &svc["metadata"]["namespace"];
    let mut members: Vec<&Value> = pods
        .iter()
        .filter(|p| &p["metadata"]["namespace"] == ns)
        .filter(|p| selector_matches(selector, &p["metadata"]["labels"]))
        .filter(|p| should_pod_be_in_endpoints(p))
        .collect();
    members.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    address_types(svc)
        .into_iter()
        .filter(|f| families_only.is_none_or(|only| only.contains(f)))
        .map(|family| {
            let mut endpoints = Vec::new();
            // Ports are grouped per distinct port set upstream; one set is typical and modelled.
            let mut ports: Option<Vec<Value>> = None;
            for pod in &members {
                if let Some(ep) = pod_to_endpoint(svc, pod, family) {
                    endpoints.push(ep);
                    if ports.is_none() {
                        ports = Some(endpoint_ports(svc, pod));
                    }
                }
            }
            if endpoints.is_empty() {
                DesiredSlice {
                    address_type: family,
                    endpoints: None,
                    ports: None,
                }
            } else {
                DesiredSlice {
                    address_type: family,
                    endpoints: Some(endpoints),
                    ports,
                }
            }
        })
        .collect()
}

/// The labels of a Service's slices (`setEndpointSliceLabels`): the Service's own labels (minus
/// the reserved keys), the service-name and managed-by labels, and the headless marker.
pub fn slice_labels(svc: &Value) -> Value {
    let mut labels: BTreeMap<String, Value> = BTreeMap::new();
    if let Some(own) = svc["metadata"]["labels"].as_object() {
        for (k, v) in own {
            if k != LABEL_SERVICE_NAME && k != LABEL_MANAGED_BY {
                labels.insert(k.clone(), v.clone());
            }
        }
    }
    if svc["spec"]["clusterIP"] == "None" {
        labels.insert(LABEL_HEADLESS.into(), json!(""));
    }
    labels.insert(LABEL_SERVICE_NAME.into(), svc["metadata"]["name"].clone());
    labels.insert(LABEL_MANAGED_BY.into(), json!(CONTROLLER_NAME));
    json!(labels)
}

/// A new EndpointSlice object for `svc` (`newEndpointSlice`).
pub fn slice_object(svc: &Value, desired: &DesiredSlice, now: &str) -> Value {
    let meta = &svc["metadata"];
    let name = meta["name"].as_str().unwrap_or_default();
    json!({
        "apiVersion": "discovery.k8s.io/v1",
        "kind": "EndpointSlice",
        "metadata": {
            "generateName": format!("{name}-"),
            "namespace": meta["namespace"],
            "labels": slice_labels(svc),
            "annotations": {"endpoints.kubernetes.io/last-change-trigger-time": now},
            "ownerReferences": [{
                "apiVersion": "v1",
                "kind": "Service",
                "name": name,
                "uid": meta["uid"],
                "controller": true,
                "blockOwnerDeletion": true,
            }],
        },
        "addressType": desired.address_type.as_str(),
        "endpoints": desired.endpoints,
        "ports": desired.ports,
    })
}

/// True when an existing slice already holds what `desired` wants.
pub fn slice_matches(existing: &Value, svc: &Value, desired: &DesiredSlice) -> bool {
    existing["endpoints"] == json!(desired.endpoints)
        && existing["ports"] == json!(desired.ports)
        && existing["metadata"]["labels"] == slice_labels(svc)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc(families: &[&str]) -> Value {
        json!({
            "metadata": {"name": "my-service", "namespace": "default", "uid": "svc-uid", "labels": {"app.kubernetes.io/name": "MyApp"}},
            "spec": {"selector": {"app.kubernetes.io/name": "MyApp"}, "ipFamilies": families, "clusterIP": "10.96.0.5",
                     "ports": [{"port": 80, "protocol": "TCP", "targetPort": "http"}]},
        })
    }

    fn pod(name: &str, ready: bool, ips: &[&str]) -> Value {
        json!({
            "metadata": {"name": name, "namespace": "default", "uid": format!("{name}-uid"), "labels": {"app.kubernetes.io/name": "MyApp"}},
            "spec": {"nodeName": "netconform-worker", "containers": [{"name": "c", "ports": [{"name": "http", "containerPort": 8080}]}]},
            "status": {"phase": "Running", "podIP": ips[0], "podIPs": ips.iter().map(|ip| json!({"ip": ip})).collect::<Vec<_>>(),
                       "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]},
        })
    }

    #[test]
    fn one_slice_per_family_with_conditions() {
        let pods = vec![
            pod("b", false, &["10.244.1.3", "fd00:10:244:1::3"]),
            pod("a", true, &["10.244.2.4", "fd00:10:244:2::4"]),
        ];
        let slices = desired_slices(&svc(&["IPv4", "IPv6"]), &pods, None);
        assert_eq!(slices.len(), 2);
        assert_eq!(slices[0].address_type, IpFamily::IPv4);
        let eps = slices[1].endpoints.as_ref().unwrap();
        assert_eq!(eps[0]["addresses"], json!(["fd00:10:244:2::4"]));
        assert_eq!(
            eps[0]["conditions"],
            json!({"ready": true, "serving": true, "terminating": false})
        );
        assert_eq!(eps[1]["conditions"]["ready"], false);
        assert_eq!(eps[0]["targetRef"]["name"], "a");
        assert_eq!(eps[0]["nodeName"], "netconform-worker");
        assert_eq!(
            slices[0].ports.as_ref().unwrap()[0],
            json!({"name": "", "port": 8080, "protocol": "TCP"})
        );
        let obj = slice_object(&svc(&["IPv4"]), &slices[0], "2024-01-01T00:00:00Z");
        assert_eq!(obj["metadata"]["labels"][LABEL_MANAGED_BY], CONTROLLER_NAME);
        assert_eq!(obj["metadata"]["labels"][LABEL_SERVICE_NAME], "my-service");
        assert_eq!(obj["metadata"]["generateName"], "my-service-");
        assert_eq!(obj["addressType"], "IPv4");
    }

    #[test]
    fn placeholder_and_selectorless() {
        let slices = desired_slices(&svc(&["IPv4"]), &[], None);
        assert_eq!(
            slices,
            vec![DesiredSlice {
                address_type: IpFamily::IPv4,
                endpoints: None,
                ports: None
            }]
        );
        let mut no_selector = svc(&["IPv4"]);
        no_selector["spec"]
            .as_object_mut()
            .unwrap()
            .remove("selector");
        assert!(desired_slices(&no_selector, &[], None).is_empty());
        let finished = {
            let mut p = pod("done", true, &["10.244.1.9"]);
            p["status"]["phase"] = json!("Succeeded");
            p
        };
        assert_eq!(
            desired_slices(&svc(&["IPv4"]), &[finished], None)[0].endpoints,
            None
        );
    }

    #[test]
    fn hostname_for_matching_subdomain() {
        let mut p = pod("web-0", true, &["10.244.1.3"]);
        p["spec"]["hostname"] = json!("web-0");
        p["spec"]["subdomain"] = json!("my-service");
        let ep = pod_to_endpoint(&svc(&["IPv4"]), &p, IpFamily::IPv4).unwrap();
        assert_eq!(ep["hostname"], "web-0");
    }
}
