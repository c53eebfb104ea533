//! The apiserver's defaults for a pod spec and its containers, the subset the model's pods use: what the
//! pod admission applies to a created pod and the workload defaulting to a pod template (where they
//! change the template hash).
//!
//! upstream: pkg/apis/core/v1/defaults.go (`SetDefaults_PodSpec`, `SetDefaults_Container`,
//! `SetDefaults_ContainerPort`).

use serde_json::{Value, json};

/// `SetDefaults_PodSpec`: the fields both pods and pod templates get.
pub fn default_pod_spec(spec: &mut Value) {
    if !spec.is_object() {
        return;
    }
    for (key, value) in [
        ("restartPolicy", json!("Always")),
        ("dnsPolicy", json!("ClusterFirst")),
        ("terminationGracePeriodSeconds", json!(30)),
        ("schedulerName", json!("default-scheduler")),
        ("securityContext", json!({})),
    ] {
        if spec[key].is_null() {
            spec[key] = value;
        }
    }
}

/// `SetDefaults_Container` and `SetDefaults_ContainerPort` (protocol TCP), plus the empty `resources`
/// the apiserver shows.
pub fn default_container(container: &mut Value) {
    if !container.is_object() {
        return;
    }
    let image = container["image"].as_str().unwrap_or_default().to_string();
    for (key, value) in [
        ("terminationMessagePath", json!("/dev/termination-log")),
        ("terminationMessagePolicy", json!("File")),
        ("imagePullPolicy", json!(image_pull_policy(&image))),
        ("resources", json!({})),
    ] {
        if container[key].is_null() {
            container[key] = value;
        }
    }
    for port in container["ports"].as_array_mut().into_iter().flatten() {
        if port.is_object() && port["protocol"].is_null() {
            port["protocol"] = json!("TCP");
        }
    }
}

/// `SetDefaults_Container`: `Always` for `:latest` or untagged images, else `IfNotPresent`.
pub fn image_pull_policy(image: &str) -> &'static str {
    if image.contains('@') {
        return "IfNotPresent";
    }
    match image.rsplit_once(':') {
        Some((_, tag)) if !tag.contains('/') && tag != "latest" => "IfNotPresent",
        _ => "Always",
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pull_policy_by_tag() {
        assert_eq!(image_pull_policy("busybox:1.28"), "IfNotPresent");
        assert_eq!(image_pull_policy("busybox"), "Always");
        assert_eq!(image_pull_policy("busybox:latest"), "Always");
        assert_eq!(image_pull_policy("localhost:5000/busybox"), "Always");
        assert_eq!(image_pull_policy("busybox@sha256:abc"), "IfNotPresent");
    }

    #[test]
    fn containers_keep_what_they_set() {
        let mut c = json!({"name": "c", "image": "nginx", "imagePullPolicy": "Never",
            "ports": [{"containerPort": 80}, {"containerPort": 53, "protocol": "UDP"}]});
        default_container(&mut c);
        assert_eq!(c["imagePullPolicy"], "Never");
        assert_eq!(c["terminationMessagePolicy"], "File");
        assert_eq!(c["ports"][0]["protocol"], "TCP");
        assert_eq!(c["ports"][1]["protocol"], "UDP");
        let mut not_a_container = json!("c");
        default_container(&mut not_a_container);
        assert_eq!(not_a_container, json!("c"));
    }
}
