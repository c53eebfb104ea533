//! Server-side printing (`Accept: application/json;as=Table;v=v1;g=meta.k8s.io`), which `kubectl get`
//! asks for. Columns as upstream's printers for the resources served.
//! upstream: pkg/printers/internalversion/printers.go (AddHandlers, printPod, printService, ...),
//! staging/src/k8s.io/apiserver/pkg/registry/rest/table.go (default: Name, Created At).

use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{Value, json};

use crate::Object;
use crate::model::time;
use crate::resources::ResourceDef;

/// Whether the client asked for a Table (kubectl get with human-readable output).
pub(crate) fn wants_table(accept: &str) -> bool {
    accept
        .split(',')
        .next()
        .is_some_and(|first| first.contains("as=Table") && first.contains("g=meta.k8s.io"))
}

/// Whether the client asked for metadata only (`as=PartialObjectMetadata[List]`, kube's
/// `list_metadata`/`watch_metadata`, client-go's metadata informers).
pub(crate) fn wants_partial_metadata(accept: &str) -> bool {
    accept.split(',').next().is_some_and(|first| {
        first.contains("as=PartialObjectMetadata") && first.contains("g=meta.k8s.io")
    })
}

/// An object reduced to `meta.k8s.io/v1` `PartialObjectMetadata`.
pub(crate) fn partial_metadata(obj: &Object) -> Value {
    json!({"kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": obj["metadata"]})
}

/// How rows carry their object (`?includeObject=`); kubectl relies on the metadata.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum IncludeObject {
    None,
    Metadata,
    Object,
}

impl IncludeObject {
    pub fn from_query(value: Option<&str>) -> Self {
        match value {
            Some("None") => IncludeObject::None,
            Some("Object") => IncludeObject::Object,
            _ => IncludeObject::Metadata,
        }
    }
}

/// A `meta.k8s.io/v1` Table of `items`.
pub(crate) fn to_table(
    def: &ResourceDef,
    items: &[Object],
    continue_token: Option<&str>,
    include: IncludeObject,
) -> Value {
    let columns = columns(def.plural);
    let definitions: Vec<Value> = columns
        .iter()
        .map(|(name, kind, priority)| {
            let format = if *name == "Name" { "name" } else { "" };
            json!({"name": name, "type": kind, "format": format, "description": "", "priority": priority})
        })
        .collect();
    let rows: Vec<Value> = items
        .iter()
        .map(|obj| {
            let mut row = json!({"cells": cells(def.plural, obj)});
            match include {
                IncludeObject::None => {}
                IncludeObject::Object => row["object"] = obj.clone(),
                IncludeObject::Metadata => {
                    row["object"] = json!({
                        "kind": "PartialObjectMetadata",
                        "apiVersion": "meta.k8s.io/v1",
                        "metadata": obj["metadata"],
                    })
                }
            }
            row
        })
        .collect();
    let mut metadata = json!({});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
    }
    json!({"kind": "Table", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "columnDefinitions": definitions, "rows": rows})
}

type Column = (&'static str, &'static str, u8);

fn columns(plural: &str) -> Vec<Column> {
    let s = |name| (name, "string", 0);
    let wide = |name| (name, "string", 1);
    match plural {
        "pods" => vec![
            s("Name"),
            s("Ready"),
            s("Status"),
            ("Restarts", "string", 0),
            s("Age"),
            wide("IP"),
            wide("Node"),
            wide("Nominated Node"),
            wide("Readiness Gates"),
        ],
        "services" => vec![
            s("Name"),
            s("Type"),
            s("Cluster-IP"),
            s("External-IP"),
            s("Port(s)"),
            s("Age"),
            wide("Selector"),
        ],
        "namespaces" => vec![s("Name"), s("Status"), s("Age")],
        "nodes" => vec![
            s("Name"),
            s("Status"),
            s("Roles"),
            s("Age"),
            s("Version"),
            wide("Internal-IP"),
            wide("External-IP"),
            wide("OS-Image"),
            wide("Kernel-Version"),
            wide("Container-Runtime"),
        ],
        "configmaps" => vec![s("Name"), ("Data", "integer", 0), s("Age")],
        "serviceaccounts" => vec![s("Name"), ("Secrets", "integer", 0), s("Age")],
        "endpoints" => vec![s("Name"), s("Endpoints"), s("Age")],
        "endpointslices" => vec![
            s("Name"),
            s("AddressType"),
            s("Ports"),
            s("Endpoints"),
            s("Age"),
        ],
        "servicecidrs" => vec![s("Name"), s("CIDRs"), s("Age")],
        "ipaddresses" => vec![s("Name"), s("ParentRef")],
        "networkpolicies" => vec![s("Name"), s("Pod-Selector"), s("Age")],
        // upstream: printDeployment, printReplicaSet, printDaemonSet
        "deployments" => vec![
            s("Name"),
            s("Ready"),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            s("Age"),
            wide("Containers"),
            wide("Images"),
            wide("Selector"),
        ],
        "replicasets" => vec![
            s("Name"),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            s("Age"),
            wide("Containers"),
            wide("Images"),
            wide("Selector"),
        ],
        "daemonsets" => vec![
            s("Name"),
            ("Desired", "integer", 0),
            ("Current", "integer", 0),
            ("Ready", "integer", 0),
            ("Up-to-date", "integer", 0),
            ("Available", "integer", 0),
            s("Node Selector"),
            s("Age"),
            wide("Containers"),
            wide("Images"),
            wide("Selector"),
        ],
        "events" => vec![
            s("Last Seen"),
            s("Type"),
            s("Reason"),
            s("Object"),
            s("Message"),
        ],
        _ => vec![s("Name"), ("Created At", "date", 0)],
    }
}

fn cells(plural: &str, obj: &Object) -> Vec<Value> {
    let name = json!(obj["metadata"]["name"].as_str().unwrap_or(""));
    let age_cell = json!(age(obj["metadata"]["creationTimestamp"].as_str()));
    let text = |v: &Value| {
        v.as_str()
            .filter(|s| !s.is_empty())
            .unwrap_or("<none>")
            .to_string()
    };
    match plural {
        "pods" => {
            let statuses = obj["status"]["containerStatuses"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            let total = obj["spec"]["containers"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            let ready = statuses.iter().filter(|c| c["ready"] == true).count();
            let restarts: i64 = statuses
                .iter()
                .filter_map(|c| c["restartCount"].as_i64())
                .sum();
            let gates = obj["spec"]["readinessGates"]
                .as_array()
                .map(Vec::len)
                .unwrap_or(0);
            vec![
                name,
                json!(format!("{ready}/{total}")),
                json!(pod_status(obj)),
                json!(restarts.to_string()),
                age_cell.clone(),
                json!(text(&obj["status"]["podIP"])),
                json!(text(&obj["spec"]["nodeName"])),
                json!(text(&obj["status"]["nominatedNodeName"])),
                json!(if gates == 0 {
                    "<none>".to_string()
                } else {
                    format!("0/{gates}")
                }),
            ]
        }
        "services" => vec![
            name,
            json!(obj["spec"]["type"].as_str().unwrap_or("ClusterIP")),
            json!(text(&obj["spec"]["clusterIP"])),
            json!(external_ips(obj)),
            json!(service_ports(obj)),
            age_cell,
            json!(selector_text(&obj["spec"]["selector"])),
        ],
        "namespaces" => vec![
            name,
            json!(obj["status"]["phase"].as_str().unwrap_or("")),
            age_cell,
        ],
        "nodes" => {
            let ready = obj["status"]["conditions"]
                .as_array()
                .and_then(|cs| cs.iter().find(|c| c["type"] == "Ready"))
                .map(|c| {
                    if c["status"] == "True" {
                        "Ready"
                    } else {
                        "NotReady"
                    }
                })
                .unwrap_or("Unknown");
            let status = if obj["spec"]["unschedulable"] == true {
                format!("{ready},SchedulingDisabled")
            } else {
                ready.to_string()
            };
            let mut roles: Vec<String> = obj["metadata"]["labels"]
                .as_object()
                .map(|labels| {
                    labels
                        .keys()
                        .filter_map(|k| {
                            k.strip_prefix("node-role.kubernetes.io/")
                                .map(str::to_string)
                        })
                        .collect()
                })
                .unwrap_or_default();
            roles.sort();
            let address = |kind: &str| {
                obj["status"]["addresses"]
                    .as_array()
                    .and_then(|a| a.iter().find(|x| x["type"] == kind))
                    .and_then(|x| x["address"].as_str())
                    .unwrap_or("<none>")
                    .to_string()
            };
            let info = &obj["status"]["nodeInfo"];
            vec![
                name,
                json!(status),
                json!(if roles.is_empty() {
                    "<none>".to_string()
                } else {
                    roles.join(",")
                }),
                age_cell.clone(),
                json!(info["kubeletVersion"].as_str().unwrap_or("")),
                json!(address("InternalIP")),
                json!(address("ExternalIP")),
                json!(info["osImage"].as_str().unwrap_or("<unknown>")),
                json!(info["kernelVersion"].as_str().unwrap_or("<unknown>")),
                json!(
                    info["containerRuntimeVersion"]
                        .as_str()
                        .unwrap_or("<unknown>")
                ),
            ]
        }
        "configmaps" => {
            let count = obj["data"].as_object().map(|m| m.len()).unwrap_or(0)
                + obj["binaryData"].as_object().map(|m| m.len()).unwrap_or(0);
            vec![name, json!(count), age_cell]
        }
        "serviceaccounts" => vec![
            name,
            json!(obj["secrets"].as_array().map(Vec::len).unwrap_or(0)),
            age_cell,
        ],
        "endpoints" => {
            let mut addresses = Vec::new();
            for subset in obj["subsets"].as_array().into_iter().flatten() {
                let ports: Vec<i64> = subset["ports"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .filter_map(|p| p["port"].as_i64())
                    .collect();
                for a in subset["addresses"].as_array().into_iter().flatten() {
                    let ip = a["ip"].as_str().unwrap_or("");
                    if ports.is_empty() {
                        addresses.push(ip.to_string());
                    }
                    for p in &ports {
                        addresses.push(if ip.contains(':') {
                            format!("[{ip}]:{p}")
                        } else {
                            format!("{ip}:{p}")
                        });
                    }
                }
            }
            vec![name, json!(first_three(&addresses)), age_cell]
        }
        "endpointslices" => {
            let ports: Vec<String> = obj["ports"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|p| p["port"].as_i64().map(|n| n.to_string()))
                .collect();
            let addresses: Vec<String> = obj["endpoints"]
                .as_array()
                .into_iter()
                .flatten()
                .flat_map(|e| e["addresses"].as_array().cloned().unwrap_or_default())
                .filter_map(|a| a.as_str().map(str::to_string))
                .collect();
            vec![
                name,
                json!(obj["addressType"].as_str().unwrap_or("")),
                json!(if ports.is_empty() {
                    "<unset>".to_string()
                } else {
                    ports.join(",")
                }),
                json!(first_three(&addresses)),
                age_cell.clone(),
            ]
        }
        "servicecidrs" => {
            let cidrs: Vec<&str> = obj["spec"]["cidrs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            vec![name, json!(cidrs.join(",")), age_cell]
        }
        "ipaddresses" => {
            let parent = &obj["spec"]["parentRef"];
            let resource = parent["resource"].as_str().unwrap_or("");
            let group = parent["group"].as_str().filter(|g| !g.is_empty());
            let qualified = match group {
                Some(g) => format!("{resource}.{g}"),
                None => resource.to_string(),
            };
            let ns = parent["namespace"].as_str().filter(|n| !n.is_empty());
            let parent_name = parent["name"].as_str().unwrap_or("");
            let text = match ns {
                Some(ns) => format!("{qualified}/{ns}/{parent_name}"),
                None => format!("{qualified}/{parent_name}"),
            };
            vec![name, json!(text)]
        }
        "networkpolicies" => vec![
            name,
            json!(label_selector_text(&obj["spec"]["podSelector"])),
            age_cell,
        ],
        "deployments" | "replicasets" | "daemonsets" => workload_cells(plural, obj, name, age_cell),
        "events" => {
            let seen = obj["lastTimestamp"]
                .as_str()
                .or(obj["eventTime"].as_str())
                .or(obj["metadata"]["creationTimestamp"].as_str());
            let involved = &obj["involvedObject"];
            vec![
                json!(age(seen)),
                json!(obj["type"].as_str().unwrap_or("")),
                json!(obj["reason"].as_str().unwrap_or("")),
                json!(format!(
                    "{}/{}",
                    involved["kind"].as_str().unwrap_or("").to_lowercase(),
                    involved["name"].as_str().unwrap_or("")
                )),
                json!(obj["message"].as_str().unwrap_or("").trim()),
            ]
        }
        _ => vec![
            name,
            json!(obj["metadata"]["creationTimestamp"].as_str().unwrap_or("")),
        ],
    }
}

/// The STATUS column of `kubectl get pods`. upstream: printPod in pkg/printers/internalversion/printers.go
fn pod_status(pod: &Object) -> String {
    let mut reason = pod["status"]["reason"]
        .as_str()
        .or(pod["status"]["phase"].as_str())
        .unwrap_or("Pending")
        .to_string();
    let mut has_running = false;
    for c in pod["status"]["containerStatuses"]
        .as_array()
        .into_iter()
        .flatten()
        .rev()
    {
        let state = &c["state"];
        if let Some(r) = state["waiting"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = r.to_string();
        } else if let Some(r) = state["terminated"]["reason"]
            .as_str()
            .filter(|r| !r.is_empty())
        {
            reason = r.to_string();
        } else if state["terminated"].is_object() {
            reason = match state["terminated"]["signal"].as_i64().filter(|s| *s != 0) {
                Some(signal) => format!("Signal:{signal}"),
                None => format!(
                    "ExitCode:{}",
                    state["terminated"]["exitCode"].as_i64().unwrap_or(0)
                ),
            };
        } else if c["ready"] == true && state["running"].is_object() {
            has_running = true;
        }
    }
    if reason == "Completed" && has_running {
        reason = "Running".to_string();
    }
    if !pod["metadata"]["deletionTimestamp"].is_null() {
        reason = "Terminating".to_string();
    }
    reason
}

fn external_ips(svc: &Object) -> String {
    let mut ips: Vec<String> = svc["spec"]["externalIPs"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|v| v.as_str().map(str::to_string))
        .collect();
    match svc["spec"]["type"].as_str().unwrap_or("ClusterIP") {
        "LoadBalancer" => {
            for ingress in svc["status"]["loadBalancer"]["ingress"]
                .as_array()
                .into_iter()
                .flatten()
            {
                if let Some(ip) = ingress["ip"].as_str().or(ingress["hostname"].as_str()) {
                    ips.push(ip.to_string());
                }
            }
            if ips.is_empty() {
                "<pending>".to_string()
            } else {
                ips.join(",")
            }
        }
        "ExternalName" => svc["spec"]["externalName"]
            .as_str()
            .unwrap_or("<none>")
            .to_string(),
        _ => {
            if ips.is_empty() {
                "<none>".to_string()
            } else {
                ips.join(",")
            }
        }
    }
}

fn service_ports(svc: &Object) -> String {
    let ports: Vec<String> = svc["spec"]["ports"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|p| {
            let port = p["port"].as_i64().unwrap_or(0);
            let protocol = p["protocol"].as_str().unwrap_or("TCP");
            match p["nodePort"].as_i64().filter(|n| *n != 0) {
                Some(node_port) => format!("{port}:{node_port}/{protocol}"),
                None => format!("{port}/{protocol}"),
            }
        })
        .collect();
    if ports.is_empty() {
        "<none>".to_string()
    } else {
        ports.join(",")
    }
}

fn selector_text(selector: &Value) -> String {
    let mut pairs: Vec<String> = selector
        .as_object()
        .map(|m| {
            m.iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or("")))
                .collect()
        })
        .unwrap_or_default();
    pairs.sort();
    if pairs.is_empty() {
        "<none>".to_string()
    } else {
        pairs.join(",")
    }
}

fn label_selector_text(selector: &Value) -> String {
    let mut parts: Vec<String> = Vec::new();
    if let Some(labels) = selector["matchLabels"].as_object() {
        parts.extend(
            labels
                .iter()
                .map(|(k, v)| format!("{k}={}", v.as_str().unwrap_or(""))),
        );
    }
    for expr in selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
    {
        let key = expr["key"].as_str().unwrap_or("");
        let values: Vec<&str> = expr["values"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        parts.push(match expr["operator"].as_str().unwrap_or("") {
            "In" => format!("{key} in ({})", values.join(",")),
            "NotIn" => format!("{key} notin ({})", values.join(",")),
            "Exists" => key.to_string(),
            "DoesNotExist" => format!("!{key}"),
            other => format!("{key} {other}"),
        });
    }
    parts.sort();
    if parts.is_empty() {
        "<none>".to_string()
    } else {
        parts.join(",")
    }
}

/// Rows of `kubectl get deployments|replicasets|daemonsets`. upstream: printDeployment, printReplicaSet,
/// printDaemonSet in pkg/printers/internalversion/printers.go.
fn workload_cells(plural: &str, obj: &Object, name: Value, age_cell: Value) -> Vec<Value> {
    let count = |v: &Value| v.as_i64().unwrap_or(0);
    let status = &obj["status"];
    let spec = &obj["spec"];
    let containers: Vec<&Value> = spec["template"]["spec"]["containers"]
        .as_array()
        .into_iter()
        .flatten()
        .collect();
    let names: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["name"].as_str())
        .collect();
    let images: Vec<&str> = containers
        .iter()
        .filter_map(|c| c["image"].as_str())
        .collect();
    let wide = [
        json!(names.join(",")),
        json!(images.join(",")),
        json!(label_selector_text(&spec["selector"])),
    ];
    let mut cells = match plural {
        "deployments" => vec![
            name,
            json!(format!(
                "{}/{}",
                count(&status["readyReplicas"]),
                count(&spec["replicas"])
            )),
            json!(count(&status["updatedReplicas"])),
            json!(count(&status["availableReplicas"])),
            age_cell,
        ],
        "replicasets" => vec![
            name,
            json!(count(&spec["replicas"])),
            json!(count(&status["replicas"])),
            json!(count(&status["readyReplicas"])),
            age_cell,
        ],
        _ => {
            let node_selector = spec["template"]["spec"]["nodeSelector"].clone();
            vec![
                name,
                json!(count(&status["desiredNumberScheduled"])),
                json!(count(&status["currentNumberScheduled"])),
                json!(count(&status["numberReady"])),
                json!(count(&status["updatedNumberScheduled"])),
                json!(count(&status["numberAvailable"])),
                json!(selector_text(&node_selector)),
                age_cell,
            ]
        }
    };
    cells.extend(wide);
    cells
}

fn first_three(items: &[String]) -> String {
    match items.len() {
        0 => "<none>".to_string(),
        n if n > 3 => format!("{} + {} more...", items[..3].join(","), n - 3),
        _ => items.join(","),
    }
}

fn age(timestamp: Option<&str>) -> String {
    let Some(then) = timestamp
        .and_then(time::parse_rfc3339)
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map(|d| d.as_secs())
    else {
        return "<unknown>".to_string();
    };
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    human_duration(now as i64 - then as i64)
}

/// upstream: staging/src/k8s.io/apimachinery/pkg/util/duration/duration.go (HumanDuration)
fn human_duration(seconds: i64) -> String {
    if seconds < -1 {
        return "<invalid>".to_string();
    }
    if seconds < 0 {
        return "0s".to_string();
    }
    if seconds < 120 {
        return format!("{seconds}s");
    }
    let minutes = seconds / 60;
    if minutes < 10 {
        let s = seconds % 60;
        return if s == 0 {
            format!("{minutes}m")
        } else {
            format!("{minutes}m{s}s")
        };
    }
    if minutes < 180 {
        return format!("{minutes}m");
    }
    let hours = seconds / 3600;
    if hours < 8 {
        let m = minutes % 60;
        return if m == 0 {
            format!("{hours}h")
        } else {
            format!("{hours}h{m}m")
        };
    }
    if hours < 48 {
        return format!("{hours}h");
    }
    if hours < 24 * 8 {
        let h = hours % 24;
        return if h == 0 {
            format!("{}d", hours / 24)
        } else {
            format!("{}d{h}h", hours / 24)
        };
    }
    if hours < 24 * 365 * 2 {
        return format!("{}d", hours / 24);
    }
    if hours < 24 * 365 * 8 {
        let dy = (hours / 24) % 365;
        return if dy == 0 {
            format!("{}y", hours / 24 / 365)
        } else {
            format!("{}y{dy}d", hours / 24 / 365)
        };
    }
    format!("{}y", hours / 24 / 365)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn detects_table_requests() {
        assert!(wants_table(
            "application/json;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1beta1;g=meta.k8s.io,application/json"
        ));
        assert!(!wants_table("application/json"));
    }

    #[test]
    fn detects_metadata_requests() {
        assert!(wants_partial_metadata(
            "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"
        ));
        assert!(!wants_partial_metadata("application/json"));
    }

    #[test]
    fn human_durations() {
        assert_eq!(human_duration(5), "5s");
        assert_eq!(human_duration(150), "2m30s");
        assert_eq!(human_duration(3600 * 3 + 60), "3h1m");
        assert_eq!(human_duration(86400 * 3), "3d");
    }

    #[test]
    fn pod_rows() {
        let pod = json!({
            "metadata": {"name": "web", "creationTimestamp": "2020-01-01T00:00:00Z"},
            "spec": {"containers": [{"name": "c"}], "nodeName": "n1"},
            "status": {"phase": "Running", "podIP": "10.244.0.5",
                       "containerStatuses": [{"name": "c", "ready": true, "restartCount": 0, "state": {"running": {}}}]}
        });
        let cells = cells("pods", &pod);
        assert_eq!(cells[1], "1/1");
        assert_eq!(cells[2], "Running");
        assert_eq!(cells[5], "10.244.0.5");
    }
}
