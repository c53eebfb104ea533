//! Deployments and ReplicaSets: the apiserver's defaulting and validation, and what the deployment and
//! replicaset controllers compute (the objects they create and the status they post).
//!
//! upstream: pkg/apis/apps/v1/defaults.go (`SetDefaults_Deployment`, `SetDefaults_ReplicaSet`),
//! pkg/apis/apps/validation/validation.go (selector required and matching the template labels),
//! pkg/controller/controller_utils.go (`ComputeHash`, `GetPodFromTemplate`, `ActivePods` ordering),
//! pkg/controller/deployment/util/deployment_util.go (revision and replica annotations, `MaxUnavailable`,
//! `ResolveFenceposts`, `DeploymentComplete`), pkg/controller/deployment/sync.go (`calculateStatus`,
//! `getNewReplicaSet`), pkg/controller/replicaset/replica_set_utils.go (`calculateStatus`),
//! staging/src/k8s.io/apimachinery/pkg/util/rand/rand.go (`SafeEncodeString`).
//!
//! Simplifications (documented where they matter): the pod-template hash is FNV-32a over the template's
//! canonical JSON (upstream hashes Go's spew dump, so the values differ from a real cluster's); a rollout
//! scales the new ReplicaSet to `spec.replicas` at once and the old ones to 0 once the new one is fully
//! available (no maxSurge/maxUnavailable steps); orphaned pods are not adopted.

use serde_json::{Map, Value, json};

use super::labels::label_selector_matches;
use super::pod_defaults;
use crate::api_error::Cause;

pub const LABEL_POD_TEMPLATE_HASH: &str = "pod-template-hash";
pub const ANNOTATION_REVISION: &str = "deployment.kubernetes.io/revision";
pub const ANNOTATION_DESIRED_REPLICAS: &str = "deployment.kubernetes.io/desired-replicas";
pub const ANNOTATION_MAX_REPLICAS: &str = "deployment.kubernetes.io/max-replicas";

/// `SetDefaults_Deployment` plus the pod template defaults that change the template hash.
pub fn default_deployment(deploy: &mut Value) {
    let spec = &mut deploy["spec"];
    if spec["replicas"].is_null() {
        spec["replicas"] = json!(1);
    }
    if spec["strategy"]["type"].is_null() {
        spec["strategy"]["type"] = json!("RollingUpdate");
    }
    if spec["strategy"]["type"] == "RollingUpdate" {
        for key in ["maxUnavailable", "maxSurge"] {
            if spec["strategy"]["rollingUpdate"][key].is_null() {
                spec["strategy"]["rollingUpdate"][key] = json!("25%");
            }
        }
    }
    if spec["revisionHistoryLimit"].is_null() {
        spec["revisionHistoryLimit"] = json!(10);
    }
    if spec["progressDeadlineSeconds"].is_null() {
        spec["progressDeadlineSeconds"] = json!(600);
    }
    default_template(&mut spec["template"]);
}

/// `SetDefaults_ReplicaSet` plus the pod template defaults.
pub fn default_replica_set(rs: &mut Value) {
    if rs["spec"]["replicas"].is_null() {
        rs["spec"]["replicas"] = json!(1);
    }
    default_template(&mut rs["spec"]["template"]);
}

/// The pod defaults of a pod template (`SetDefaults_PodSpec` / `SetDefaults_Container`).
fn default_template(template: &mut Value) {
    if !template.is_object() {
        return;
    }
    let spec = &mut template["spec"];
    if !spec.is_object() {
        return;
    }
    pod_defaults::default_pod_spec(spec);
    for key in ["containers", "initContainers"] {
        for c in spec[key].as_array_mut().into_iter().flatten() {
            pod_defaults::default_container(c);
        }
    }
}

/// `ValidateDeploymentSpec` / `ValidateReplicaSetSpec`: a non-empty selector that selects the template's labels.
pub fn validate_workload(obj: &Value) -> Vec<Cause> {
    let spec = &obj["spec"];
    let mut causes = Vec::new();
    let selector = &spec["selector"];
    let empty = selector["matchLabels"]
        .as_object()
        .is_none_or(Map::is_empty)
        && selector["matchExpressions"]
            .as_array()
            .is_none_or(Vec::is_empty);
    if empty {
        causes.push(Cause::required("spec.selector", ""));
    } else if !label_selector_matches(selector, &spec["template"]["metadata"]["labels"]) {
        causes.push(Cause::invalid_value(
            "spec.template.metadata.labels",
            &spec["template"]["metadata"]["labels"],
            "`selector` does not match template `labels`",
        ));
    }
    if spec["replicas"].as_i64().is_some_and(|r| r < 0) {
        causes.push(Cause::invalid_value(
            "spec.replicas",
            &spec["replicas"],
            "must be greater than or equal to 0",
        ));
    }
    causes
}

/// `rand.SafeEncodeString`: each byte to one of 27 characters that never spell words.
fn safe_encode(s: &str) -> String {
    const ALPHANUMS: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    s.bytes()
        .map(|b| ALPHANUMS[usize::from(b) % ALPHANUMS.len()] as char)
        .collect()
}

/// `controller.ComputeHash(template, collisionCount)`: FNV-32a, printed in decimal and safe-encoded.
/// The model hashes the template's canonical JSON (upstream hashes a spew dump of the Go struct).
pub fn template_hash(template: &Value, collision_count: Option<i64>) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    let mut feed = |bytes: &[u8]| {
        for b in bytes {
            hash ^= u32::from(*b);
            hash = hash.wrapping_mul(0x0100_0193);
        }
    };
    feed(canonical(template).as_bytes());
    if let Some(count) = collision_count {
        feed(&count.to_le_bytes());
    }
    safe_encode(&hash.to_string())
}

/// JSON with object keys sorted (serde_json's map is ordered by insertion unless told otherwise).
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort();
            let items: Vec<String> = keys
                .iter()
                .map(|k| format!("{}:{}", json!(k), canonical(&map[k.as_str()])))
                .collect();
            format!("{{{}}}", items.join(","))
        }
        Value::Array(items) => format!(
            "[{}]",
            items.iter().map(canonical).collect::<Vec<_>>().join(",")
        ),
        other => other.to_string(),
    }
}

/// An owner reference with `controller: true` (what the controllers set on what they create).
pub fn controller_ref(owner: &Value) -> Value {
    json!({
        "apiVersion": owner["apiVersion"],
        "kind": owner["kind"],
        "name": owner["metadata"]["name"],
        "uid": owner["metadata"]["uid"],
        "controller": true,
        "blockOwnerDeletion": true,
    })
}

/// Whether `owner` is the controller of `obj` (`metav1.IsControlledBy`).
pub fn is_controlled_by(obj: &Value, owner: &Value) -> bool {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|r| r["controller"] == true && r["uid"] == owner["metadata"]["uid"])
}

/// `deployment_util.Revision`: the revision annotation as a number (0 when absent).
pub fn revision(obj: &Value) -> i64 {
    obj["metadata"]["annotations"][ANNOTATION_REVISION]
        .as_str()
        .and_then(|r| r.parse().ok())
        .unwrap_or(0)
}

fn int_or_percent(value: &Value, total: i64, round_up: bool) -> i64 {
    match (value.as_i64(), value.as_str()) {
        (Some(n), _) => n,
        (None, Some(s)) => {
            let pct: i64 = s.trim_end_matches('%').parse().unwrap_or(0);
            let scaled = pct * total;
            if round_up {
                (scaled + 99) / 100
            } else {
                scaled / 100
            }
        }
        _ => 0,
    }
}

/// `ResolveFenceposts`: (maxSurge rounded up, maxUnavailable rounded down; never both 0).
pub fn surge_and_unavailable(deploy: &Value) -> (i64, i64) {
    let spec = &deploy["spec"];
    if spec["strategy"]["type"] != "RollingUpdate" {
        return (0, 0);
    }
    let replicas = spec["replicas"].as_i64().unwrap_or(1);
    let rolling = &spec["strategy"]["rollingUpdate"];
    let surge = int_or_percent(&rolling["maxSurge"], replicas, true);
    let unavailable = int_or_percent(&rolling["maxUnavailable"], replicas, false);
    if surge == 0 && unavailable == 0 {
        (0, 1)
    } else {
        (surge, unavailable.min(replicas))
    }
}

/// The ReplicaSet `getNewReplicaSet` creates for `deploy`'s current template.
pub fn new_replica_set(deploy: &Value, hash: &str, replicas: i64, revision: i64) -> Value {
    let name = deploy["metadata"]["name"].as_str().unwrap_or_default();
    let spec = &deploy["spec"];
    let mut template = spec["template"].clone();
    template["metadata"]["labels"][LABEL_POD_TEMPLATE_HASH] = json!(hash);
    let mut selector = spec["selector"].clone();
    selector["matchLabels"][LABEL_POD_TEMPLATE_HASH] = json!(hash);
    let (surge, _) = surge_and_unavailable(deploy);
    let desired = spec["replicas"].as_i64().unwrap_or(1);
    json!({
        "apiVersion": "apps/v1",
        "kind": "ReplicaSet",
        "metadata": {
            "name": format!("{name}-{hash}"),
            "namespace": deploy["metadata"]["namespace"],
            "labels": template["metadata"]["labels"],
            "annotations": {
                ANNOTATION_DESIRED_REPLICAS: desired.to_string(),
                ANNOTATION_MAX_REPLICAS: (desired + surge).to_string(),
                ANNOTATION_REVISION: revision.to_string(),
            },
            "ownerReferences": [controller_ref(deploy)],
        },
        "spec": {
            "replicas": replicas,
            "minReadySeconds": spec["minReadySeconds"].as_i64().unwrap_or(0),
            "selector": selector,
            "template": template,
        },
    })
}

/// `controller.GetPodFromTemplate`: a pod of `rs` named `<rs name>-<random>`.
pub fn pod_from_template(rs: &Value) -> Value {
    let template = &rs["spec"]["template"];
    let name = rs["metadata"]["name"].as_str().unwrap_or_default();
    let mut metadata = json!({
        "generateName": format!("{name}-"),
        "namespace": rs["metadata"]["namespace"],
        "labels": template["metadata"]["labels"],
        "ownerReferences": [controller_ref(rs)],
    });
    if template["metadata"]["annotations"].is_object() {
        metadata["annotations"] = template["metadata"]["annotations"].clone();
    }
    json!({"apiVersion": "v1", "kind": "Pod", "metadata": metadata, "spec": template["spec"]})
}

fn is_pod_ready(pod: &Value) -> bool {
    pod["status"]["conditions"]
        .as_array()
        .into_iter()
        .flatten()
        .any(|c| c["type"] == "Ready" && c["status"] == "True")
}

/// `controller.FilterActivePods`: not terminal and not being deleted.
pub fn is_active(pod: &Value) -> bool {
    let phase = pod["status"]["phase"].as_str().unwrap_or_default();
    phase != "Succeeded" && phase != "Failed" && pod["metadata"]["deletionTimestamp"].is_null()
}

/// `controller.ActivePods` order: the pods a scale-down deletes first come first (unscheduled before
/// scheduled, Pending before Running, not ready before ready, newer before older).
pub fn deletion_order(pods: &mut [Value]) {
    let rank = |p: &Value| {
        let scheduled = p["spec"]["nodeName"]
            .as_str()
            .is_some_and(|n| !n.is_empty());
        let phase = match p["status"]["phase"].as_str() {
            Some("Pending") => 0,
            Some("Running") => 2,
            _ => 1,
        };
        (scheduled, phase, is_pod_ready(p))
    };
    pods.sort_by(|a, b| {
        rank(a).cmp(&rank(b)).then_with(|| {
            // Newer first: a later creationTimestamp sorts earlier.
            b["metadata"]["creationTimestamp"]
                .as_str()
                .cmp(&a["metadata"]["creationTimestamp"].as_str())
        })
    });
}

/// The replicaset controller's `calculateStatus` for the active pods it owns. Availability needs
/// `minReadySeconds` of readiness; the model counts a ready pod as available when that is 0.
pub fn replica_set_status(rs: &Value, owned_active: &[Value]) -> Value {
    let template_labels = &rs["spec"]["template"]["metadata"]["labels"];
    let fully_labeled = owned_active
        .iter()
        .filter(|p| {
            template_labels.as_object().is_none_or(|m| {
                m.iter()
                    .all(|(k, v)| p["metadata"]["labels"].get(k) == Some(v))
            })
        })
        .count();
    let ready = owned_active.iter().filter(|p| is_pod_ready(p)).count();
    let available = if rs["spec"]["minReadySeconds"].as_i64().unwrap_or(0) == 0 {
        ready
    } else {
        0
    };
    let mut status = json!({"replicas": owned_active.len()});
    for (key, n) in [
        ("fullyLabeledReplicas", fully_labeled),
        ("readyReplicas", ready),
        ("availableReplicas", available),
    ] {
        if n > 0 {
            status[key] = json!(n);
        }
    }
    if let Some(generation) = rs["metadata"]["generation"].as_i64() {
        status["observedGeneration"] = json!(generation);
    }
    status
}

fn status_count(rs: &Value, key: &str) -> i64 {
    rs["status"][key].as_i64().unwrap_or(0)
}

/// A deployment condition, keeping `lastTransitionTime` when the status did not change.
fn condition(
    previous: &Value,
    kind: &str,
    ok: bool,
    reason: &str,
    message: String,
    now: &str,
) -> Value {
    let status = if ok { "True" } else { "False" };
    let old = previous["conditions"]
        .as_array()
        .and_then(|cs| cs.iter().find(|c| c["type"] == kind));
    let transition = match old {
        Some(c) if c["status"] == status => c["lastTransitionTime"].clone(),
        _ => json!(now),
    };
    let update = match old {
        Some(c) if c["status"] == status && c["reason"] == reason => c["lastUpdateTime"].clone(),
        _ => json!(now),
    };
    json!({"type": kind, "status": status, "lastUpdateTime": update,
           "lastTransitionTime": transition, "reason": reason, "message": message})
}

/// The deployment controller's `calculateStatus` and its Available/Progressing conditions.
pub fn deployment_status(deploy: &Value, new_rs: &Value, all: &[Value], now: &str) -> Value {
    let desired = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
    let sum = |key: &str| all.iter().map(|rs| status_count(rs, key)).sum::<i64>();
    let spec_total: i64 = all
        .iter()
        .map(|rs| rs["spec"]["replicas"].as_i64().unwrap_or(0))
        .sum();
    let replicas = sum("replicas");
    let updated = status_count(new_rs, "replicas");
    let ready = sum("readyReplicas");
    let available = sum("availableReplicas");
    let unavailable = (spec_total - available).max(0);
    let previous = &deploy["status"];
    let mut status = json!({});
    if let Some(generation) = deploy["metadata"]["generation"].as_i64() {
        status["observedGeneration"] = json!(generation);
    }
    for (key, n) in [
        ("replicas", replicas),
        ("updatedReplicas", updated),
        ("readyReplicas", ready),
        ("availableReplicas", available),
        ("unavailableReplicas", unavailable),
    ] {
        if n > 0 {
            status[key] = json!(n);
        }
    }
    let (_, max_unavailable) = surge_and_unavailable(deploy);
    let available_ok = available >= desired - max_unavailable;
    let available_condition = if available_ok {
        condition(
            previous,
            "Available",
            true,
            "MinimumReplicasAvailable",
            "Deployment has minimum availability.".into(),
            now,
        )
    } else {
        condition(
            previous,
            "Available",
            false,
            "MinimumReplicasUnavailable",
            "Deployment does not have minimum availability.".into(),
            now,
        )
    };
    let rs_name = new_rs["metadata"]["name"].as_str().unwrap_or_default();
    // `DeploymentComplete`: every replica updated and available, none of older ReplicaSets left.
    let complete = updated == desired && replicas == desired && available == desired;
    let progressing = if complete {
        condition(
            previous,
            "Progressing",
            true,
            "NewReplicaSetAvailable",
            format!("ReplicaSet \"{rs_name}\" has successfully progressed."),
            now,
        )
    } else {
        condition(
            previous,
            "Progressing",
            true,
            "ReplicaSetUpdated",
            format!("ReplicaSet \"{rs_name}\" is progressing."),
            now,
        )
    };
    status["conditions"] = json!([available_condition, progressing]);
    status
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The docs' run-my-nginx Deployment (content/en/examples/service/networking/run-my-nginx.yaml).
    fn my_nginx() -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment",
            "metadata": {"name": "my-nginx", "namespace": "default", "uid": "d-uid", "generation": 1},
            "spec": {"selector": {"matchLabels": {"run": "my-nginx"}}, "replicas": 2,
                "template": {"metadata": {"labels": {"run": "my-nginx"}},
                    "spec": {"containers": [{"name": "my-nginx", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}})
    }

    #[test]
    fn defaults_and_validation() {
        let mut d = my_nginx();
        d["spec"].as_object_mut().unwrap().remove("replicas");
        default_deployment(&mut d);
        assert_eq!(d["spec"]["replicas"], 1);
        assert_eq!(d["spec"]["strategy"]["rollingUpdate"]["maxSurge"], "25%");
        assert_eq!(d["spec"]["template"]["spec"]["restartPolicy"], "Always");
        let c = &d["spec"]["template"]["spec"]["containers"][0];
        assert_eq!(c["imagePullPolicy"], "Always");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert!(validate_workload(&d).is_empty());
        let mut bad = my_nginx();
        bad["spec"]["selector"]["matchLabels"]["run"] = json!("other");
        assert_eq!(validate_workload(&bad).len(), 1);
        bad["spec"].as_object_mut().unwrap().remove("selector");
        assert_eq!(validate_workload(&bad).len(), 1);
    }

    #[test]
    fn hash_is_stable_and_safe() {
        let d = my_nginx();
        let h = template_hash(&d["spec"]["template"], None);
        assert_eq!(h, template_hash(&d["spec"]["template"], None));
        assert!(h.chars().all(|c| "bcdfghjklmnpqrstvwxz2456789".contains(c)));
        assert_ne!(h, template_hash(&d["spec"]["template"], Some(1)));
        let mut other = d["spec"]["template"].clone();
        other["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        assert_ne!(h, template_hash(&other, None));
        // Key order does not matter.
        let reordered: Value = serde_json::from_str(
            r#"{"spec": {"containers": [{"ports": [{"containerPort": 80}], "image": "nginx", "name": "my-nginx"}]}, "metadata": {"labels": {"run": "my-nginx"}}}"#,
        )
        .unwrap();
        assert_eq!(h, template_hash(&reordered, None));
    }

    #[test]
    fn replica_set_and_pods_carry_the_hash() {
        let mut d = my_nginx();
        default_deployment(&mut d);
        let rs = new_replica_set(&d, "abc12", 2, 1);
        assert_eq!(rs["metadata"]["name"], "my-nginx-abc12");
        assert_eq!(
            rs["spec"]["selector"]["matchLabels"],
            json!({"run": "my-nginx", "pod-template-hash": "abc12"})
        );
        assert_eq!(rs["metadata"]["annotations"][ANNOTATION_REVISION], "1");
        assert_eq!(rs["metadata"]["annotations"][ANNOTATION_MAX_REPLICAS], "3");
        assert!(is_controlled_by(&rs, &d));
        let mut rs = rs;
        rs["metadata"]["uid"] = json!("rs-uid");
        let pod = pod_from_template(&rs);
        assert_eq!(pod["metadata"]["generateName"], "my-nginx-abc12-");
        assert_eq!(pod["metadata"]["labels"]["pod-template-hash"], "abc12");
        assert!(is_controlled_by(&pod, &rs));
    }

    #[test]
    fn statuses_and_conditions() {
        let d = my_nginx();
        let mut rs = new_replica_set(&d, "abc12", 2, 1);
        let ready = json!({"metadata": {"labels": {"run": "my-nginx", "pod-template-hash": "abc12"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "True"}]}});
        let unready = json!({"metadata": {"labels": {"run": "my-nginx", "pod-template-hash": "abc12"}},
            "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": "False"}]}});
        rs["status"] = replica_set_status(&rs, &[ready.clone(), unready]);
        assert_eq!(
            rs["status"],
            json!({"replicas": 2, "fullyLabeledReplicas": 2, "readyReplicas": 1, "availableReplicas": 1})
        );
        let status = deployment_status(&d, &rs, &[rs.clone()], "t0");
        assert_eq!(status["availableReplicas"], 1);
        assert_eq!(status["unavailableReplicas"], 1);
        assert_eq!(status["conditions"][0]["status"], "False");
        assert_eq!(status["conditions"][1]["reason"], "ReplicaSetUpdated");
        rs["status"] = replica_set_status(&rs, &[ready.clone(), ready]);
        let mut d2 = d.clone();
        d2["status"] = status;
        let done = deployment_status(&d2, &rs, &[rs.clone()], "t1");
        assert_eq!(done["observedGeneration"], 1);
        assert!(done.get("unavailableReplicas").is_none());
        assert_eq!(done["conditions"][0]["lastTransitionTime"], "t1");
        assert_eq!(done["conditions"][1]["reason"], "NewReplicaSetAvailable");
        assert_eq!(done["conditions"][1]["lastTransitionTime"], "t0");
    }

    #[test]
    fn scale_down_prefers_unready_and_newer() {
        let pod = |name: &str, ready: bool, created: &str| {
            json!({"metadata": {"name": name, "creationTimestamp": created}, "spec": {"nodeName": "n"},
                "status": {"phase": "Running", "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}})
        };
        let mut pods = vec![
            pod("old-ready", true, "2024-01-01T00:00:00Z"),
            pod("new-ready", true, "2024-01-02T00:00:00Z"),
            pod("unready", false, "2024-01-01T00:00:00Z"),
        ];
        deletion_order(&mut pods);
        let names: Vec<&str> = pods
            .iter()
            .map(|p| p["metadata"]["name"].as_str().unwrap())
            .collect();
        assert_eq!(names, ["unready", "new-ready", "old-ready"]);
    }
}
