//! The core/v1 Endpoints object the endpoints controller keeps for a Service with a selector.
//!
//! upstream: pkg/controller/endpoint/endpoints_controller.go (`syncService`: pods matching the selector,
//! `ShouldPodBeInEndpoints(pod, publishNotReadyAddresses)`, `podToEndpointAddressForService`: the pod IP of
//! the Service's first IP family, `addEndpointSubset`: ready pods under `addresses`, the others under
//! `notReadyAddresses`, one `EndpointPort` per Service port via `podutil.FindPort`; labels: the Service's,
//! `service.kubernetes.io/headless` when it has no ClusterIP and, since v1.33,
//! `endpoints.kubernetes.io/managed-by: endpoint-controller`), pkg/api/v1/endpoints/util.go (`RepackSubsets`:
//! one subset per distinct set of addresses, addresses sorted by IP; upstream orders subsets and ports by an
//! md5 of their Go dump, the model by their JSON).

use std::collections::BTreeMap;

use serde_json::{Value, json};

use super::endpointslices::{endpoint_ports, is_pod_ready, selector_matches};
use super::family::IpFamily;

pub const LABEL_MANAGED_BY: &str = "endpoints.kubernetes.io/managed-by";
pub const CONTROLLER_NAME: &str = "endpoint-controller";
pub const LABEL_HEADLESS: &str = "service.kubernetes.io/headless";
pub const ANNOTATION_TRIGGER_TIME: &str = "endpoints.kubernetes.io/last-change-trigger-time";

/// `ShouldPodBeInEndpoints(pod, includeTerminating)`: not terminal, has an IP, and not terminating
/// unless the Service publishes not-ready addresses.
fn should_pod_be_in_endpoints(pod: &Value, include_terminating: bool) -> bool {
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    if phase == "Succeeded" || phase == "Failed" {
        return false;
    }
    let has_ip = pod["status"]["podIP"]
        .as_str()
        .is_some_and(|ip| !ip.is_empty())
        || pod["status"]["podIPs"]
            .as_array()
            .is_some_and(|ips| !ips.is_empty());
    has_ip && (include_terminating || pod["metadata"]["deletionTimestamp"].is_null())
}

/// `podToEndpointAddressForService`: the pod's IP of the Service's first family (its ClusterIP's family,
/// or for a headless Service without ipFamilies the family of the pod's primary IP).
fn endpoint_address(svc: &Value, pod: &Value) -> Option<Value> {
    let family = svc["spec"]["ipFamilies"][0]
        .as_str()
        .and_then(IpFamily::parse)
        .or_else(|| {
            svc["spec"]["clusterIP"]
                .as_str()
                .filter(|ip| !ip.is_empty() && *ip != "None")
                .and_then(IpFamily::of_str)
        })
        .or_else(|| pod["status"]["podIP"].as_str().and_then(IpFamily::of_str))
        .unwrap_or(IpFamily::IPv4);
    let ip = pod["status"]["podIPs"]
        .as_array()?
        .iter()
        .filter_map(|p| p["ip"].as_str())
        .find(|ip| IpFamily::of_str(ip) == Some(family))?;
    let meta = &pod["metadata"];
    let mut address = json!({
        "ip": ip,
        "nodeName": pod["spec"]["nodeName"].as_str().unwrap_or_default(),
        "targetRef": {"kind": "Pod", "namespace": meta["namespace"], "name": meta["name"], "uid": meta["uid"]},
    });
    // `ShouldSetHostname`: spec.hostname set and spec.subdomain names this Service.
    let hostname = pod["spec"]["hostname"].as_str().unwrap_or_default();
    if !hostname.is_empty()
        && pod["spec"]["subdomain"] == svc["metadata"]["name"]
        && meta["namespace"] == svc["metadata"]["namespace"]
    {
        address["hostname"] = json!(hostname);
    }
    Some(address)
}

/// An `EndpointPort` as JSON omits an empty name.
fn endpoint_port(slice_port: &Value) -> Value {
    let mut port = slice_port.clone();
    if port["name"] == ""
        && let Some(p) = port.as_object_mut()
    {
        p.remove("name");
    }
    port
}

/// (ip, pod uid) -> (the `EndpointAddress`, ready): upstream's `addressSet`, keyed as `LessEndpointAddress`
/// orders addresses.
type AddressSet = BTreeMap<(String, String), (Value, bool)>;

/// The subsets for `svc` given the pods of its namespace; `None` when the controller leaves the Service
/// alone (no selector, or `type: ExternalName`).
pub fn desired_subsets(svc: &Value, pods: &[Value]) -> Option<Vec<Value>> {
    let selector = svc["spec"]["selector"].as_object()?;
    if svc["spec"]["type"] == "ExternalName" {
        return None;
    }
    let publish_not_ready = svc["spec"]["publishNotReadyAddresses"]
        .as_bool()
        .unwrap_or(false);
    let headless = svc["spec"]["clusterIP"] == "None";
    let has_ports = svc["spec"]["ports"]
        .as_array()
        .is_some_and(|p| !p.is_empty());
    // port (JSON) -> (address key -> (address, ready)); "not ready always trumps ready".
    let mut by_port: BTreeMap<String, AddressSet> = BTreeMap::new();
    let ns = &svc["metadata"]["namespace"];
    for pod in pods
        .iter()
        .filter(|p| &p["metadata"]["namespace"] == ns)
        .filter(|p| selector_matches(selector, &p["metadata"]["labels"]))
        .filter(|p| should_pod_be_in_endpoints(p, publish_not_ready))
    {
        let Some(address) = endpoint_address(svc, pod) else {
            continue;
        };
        let ready = publish_not_ready || is_pod_ready(pod);
        let ports: Vec<Value> = if has_ports {
            endpoint_ports(svc, pod).iter().map(endpoint_port).collect()
        } else if headless {
            // A sentinel for "no ports" (upstream RepackSubsets keeps portless headless endpoints).
            vec![Value::Null]
        } else {
            continue;
        };
        let key = (
            address["ip"].as_str().unwrap_or_default().to_string(),
            address["targetRef"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        );
        for port in ports {
            let set = by_port.entry(port.to_string()).or_default();
            let entry = set.entry(key.clone()).or_insert((address.clone(), ready));
            entry.1 = entry.1 && ready;
        }
    }
    // Ports that share one address set form one subset.
    let mut groups: BTreeMap<String, (Vec<Value>, AddressSet)> = BTreeMap::new();
    for (port, addresses) in by_port {
        let signature = addresses
            .iter()
            .map(|((ip, uid), (_, ready))| format!("{ip}/{uid}/{ready}"))
            .collect::<Vec<_>>()
            .join(",");
        let group = groups
            .entry(signature)
            .or_insert_with(|| (Vec::new(), addresses.clone()));
        if let Ok(port) = serde_json::from_str::<Value>(&port)
            && !port.is_null()
        {
            group.0.push(port);
        }
    }
    let mut subsets: Vec<Value> = groups
        .into_values()
        .map(|(ports, addresses)| {
            // Sorted by IP, then uid (`LessEndpointAddress`); the map's key order is exactly that.
            let (ready, not_ready): (Vec<_>, Vec<_>) =
                addresses.into_values().partition(|(_, r)| *r);
            let mut subset = json!({});
            if !ready.is_empty() {
                subset["addresses"] = json!(ready.into_iter().map(|(a, _)| a).collect::<Vec<_>>());
            }
            if !not_ready.is_empty() {
                subset["notReadyAddresses"] =
                    json!(not_ready.into_iter().map(|(a, _)| a).collect::<Vec<_>>());
            }
            if !ports.is_empty() {
                subset["ports"] = json!(ports);
            }
            subset
        })
        .collect();
    subsets.sort_by_key(|s| s.to_string());
    Some(subsets)
}

/// The labels of the Endpoints of `svc`: the Service's, the headless marker, the v1.33 managed-by label.
pub fn endpoints_labels(svc: &Value) -> Value {
    let mut labels = svc["metadata"]["labels"]
        .as_object()
        .cloned()
        .unwrap_or_default();
    let ip_set = svc["spec"]["clusterIP"]
        .as_str()
        .is_some_and(|ip| !ip.is_empty() && ip != "None");
    if ip_set {
        labels.remove(LABEL_HEADLESS);
    } else {
        labels.insert(LABEL_HEADLESS.into(), json!(""));
    }
    labels.insert(LABEL_MANAGED_BY.into(), json!(CONTROLLER_NAME));
    Value::Object(labels)
}

/// `existing` (or a new object when `None`) holding `subsets` for `svc`; `None` when nothing changes.
pub fn endpoints_object(
    svc: &Value,
    subsets: &[Value],
    existing: Option<&Value>,
    now: &str,
) -> Option<Value> {
    let labels = endpoints_labels(svc);
    let subsets_json = if subsets.is_empty() {
        Value::Null
    } else {
        json!(subsets)
    };
    if let Some(current) = existing
        && current["subsets"] == subsets_json
        && current["metadata"]["labels"] == labels
    {
        return None;
    }
    let mut obj = match existing {
        Some(current) => current.clone(),
        None => json!({
            "apiVersion": "v1",
            "kind": "Endpoints",
            "metadata": {"name": svc["metadata"]["name"], "namespace": svc["metadata"]["namespace"]},
        }),
    };
    obj["metadata"]["labels"] = labels;
    obj["metadata"]["annotations"][ANNOTATION_TRIGGER_TIME] = json!(now);
    match obj.as_object_mut() {
        Some(map) if subsets.is_empty() => {
            map.remove("subsets");
        }
        _ => obj["subsets"] = subsets_json,
    }
    Some(obj)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn svc() -> Value {
        json!({"metadata": {"name": "servicenginx41", "namespace": "ns", "labels": {"app": "nginx41"}},
            "spec": {"selector": {"app": "nginx41"}, "clusterIP": "10.96.0.7", "ipFamilies": ["IPv4"],
                "ports": [{"port": 8328, "protocol": "TCP", "targetPort": 80}]}})
    }

    fn pod(name: &str, ip: &str, ready: bool) -> Value {
        json!({"metadata": {"name": name, "namespace": "ns", "uid": format!("{name}-uid"), "labels": {"app": "nginx41"}},
            "spec": {"nodeName": "netconform-worker", "containers": [{"name": "nginx"}]},
            "status": {"phase": "Running", "podIP": ip, "podIPs": [{"ip": ip}, {"ip": format!("fd00::{}", &ip[ip.len() - 1..])}],
                "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
    }

    #[test]
    fn ready_and_not_ready_addresses_with_the_target_port() {
        let pods = vec![
            pod("b", "10.244.1.9", true),
            pod("a", "10.244.1.10", false),
            pod("c", "10.244.2.3", true),
        ];
        let subsets = desired_subsets(&svc(), &pods).unwrap();
        assert_eq!(subsets.len(), 1);
        let s = &subsets[0];
        let ips = |key: &str| -> Vec<&str> {
            s[key]
                .as_array()
                .unwrap()
                .iter()
                .map(|a| a["ip"].as_str().unwrap())
                .collect()
        };
        // Byte order of the IP strings, as upstream's LessEndpointAddress.
        assert_eq!(ips("addresses"), ["10.244.1.9", "10.244.2.3"]);
        assert_eq!(ips("notReadyAddresses"), ["10.244.1.10"]);
        assert_eq!(s["ports"], json!([{"port": 80, "protocol": "TCP"}]));
        assert_eq!(s["addresses"][0]["targetRef"]["name"], "b");
        assert_eq!(s["addresses"][0]["nodeName"], "netconform-worker");
    }

    #[test]
    fn selectorless_terminal_and_terminating() {
        let mut no_selector = svc();
        no_selector["spec"]
            .as_object_mut()
            .unwrap()
            .remove("selector");
        assert_eq!(desired_subsets(&no_selector, &[]), None);
        let mut done = pod("d", "10.244.1.4", true);
        done["status"]["phase"] = json!("Succeeded");
        let mut leaving = pod("e", "10.244.1.5", true);
        leaving["metadata"]["deletionTimestamp"] = json!("2024-01-01T00:00:00Z");
        assert_eq!(desired_subsets(&svc(), &[done, leaving]), Some(vec![]));
    }

    #[test]
    fn objects_and_labels() {
        let subsets = desired_subsets(&svc(), &[pod("b", "10.244.1.9", true)]).unwrap();
        let obj = endpoints_object(&svc(), &subsets, None, "t0").unwrap();
        assert_eq!(obj["metadata"]["name"], "servicenginx41");
        assert_eq!(
            obj["metadata"]["labels"],
            json!({"app": "nginx41", LABEL_MANAGED_BY: CONTROLLER_NAME})
        );
        assert_eq!(endpoints_object(&svc(), &subsets, Some(&obj), "t1"), None);
        let empty = endpoints_object(&svc(), &[], Some(&obj), "t1").unwrap();
        assert!(empty.get("subsets").is_none());
        let mut headless = svc();
        headless["spec"]["clusterIP"] = json!("None");
        headless["spec"]["ports"] = json!([]);
        let subsets = desired_subsets(&headless, &[pod("b", "10.244.1.9", true)]).unwrap();
        assert_eq!(
            subsets[0]["addresses"][0]["ip"], "10.244.1.9",
            "portless headless endpoints are kept"
        );
        assert!(subsets[0].get("ports").is_none());
        assert_eq!(endpoints_labels(&headless)[LABEL_HEADLESS], "");
    }
}
