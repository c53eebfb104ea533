//! Pods the suites build when a doc shows a command rather than a manifest, and what the suites read off pods.

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use netconform::failure::TrialError;

/// `kubectl run NAME --image IMAGE`: a pod named NAME with label `run=NAME` and one container NAME.
/// upstream: staging/src/k8s.io/kubectl/pkg/cmd/run/run.go (generator `run-pod/v1`).
pub fn kubectl_run(name: &str, image: &str) -> Result<Pod, TrialError> {
    from_json(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": { "run": name } },
        "spec": { "containers": [ { "name": name, "image": image } ] }
    }))
}

/// A typed object from JSON the suite wrote itself.
pub fn from_json<K: serde::de::DeserializeOwned>(
    value: serde_json::Value,
) -> Result<K, TrialError> {
    serde_json::from_value(value)
        .map_err(|e| TrialError::Harness(format!("building an object: {e}")))
}

/// `status.podIPs` in order (the order is the cluster's family order).
pub fn pod_ips(pod: &Pod) -> Vec<String> {
    pod.status
        .as_ref()
        .and_then(|s| s.pod_ips.as_ref())
        .map(|ips| ips.iter().map(|p| p.ip.clone()).collect())
        .unwrap_or_default()
}

/// `status.podIP`.
pub fn pod_ip(pod: &Pod) -> Option<String> {
    pod.status.as_ref().and_then(|s| s.pod_ip.clone())
}
