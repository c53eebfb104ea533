//! Pods the suites build when a doc shows a command rather than a manifest, and what the suites read off pods.

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use netconform::ctx::Ctx;
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

/// `cat PATH` in a container; a non-zero exit is a harness error naming the file.
pub(crate) async fn read_file(
    ctx: &Ctx,
    pod: &str,
    container: &str,
    path: &str,
) -> Result<String, TrialError> {
    let out = ctx.exec(pod, container, &["cat", path]).await?;
    if out.exit_code != 0 {
        return Err(TrialError::Harness(format!(
            "`cat {path}` in {pod}/{container} exited {}: {}",
            out.exit_code,
            out.stderr.trim_end()
        )));
    }
    Ok(out.stdout)
}

/// A file of `node` (`/etc/hosts`, `/etc/resolv.conf`), read through a hostPath volume by a busybox pod
/// named `reader` pinned to that node.
pub(crate) async fn read_node_file(
    ctx: &Ctx,
    node: &str,
    path: &str,
    reader: &str,
) -> Result<String, TrialError> {
    const MOUNT: &str = "/node";
    let file = path.rsplit('/').next().unwrap_or(path);
    let pod: Pod = from_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": reader },
        "spec": {
            "nodeName": node,
            "volumes": [ { "name": "node-file", "hostPath": { "path": path, "type": "File" } } ],
            "containers": [ {
                "name": "reader", "image": "busybox:1.28", "command": ["sleep", "3600"],
                "volumeMounts": [ { "name": "node-file", "mountPath": format!("{MOUNT}/{file}"), "readOnly": true } ]
            } ]
        }
    }))?;
    ctx.create(&pod).await?;
    ctx.wait_pod_running(reader).await?;
    read_file(ctx, reader, "reader", &format!("{MOUNT}/{file}")).await
}
