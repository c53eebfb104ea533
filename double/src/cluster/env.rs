//! A container's environment as the kubelet and containerd build it.
//!
//! upstream: pkg/kubelet/kubelet_pods.go (`makeEnvironmentVariables`, `getServiceEnvVarMap`:
//! the `kubernetes` Service of `default` always, the namespace's Services when enableServiceLinks;
//! `podFieldSelectorRuntimeValue`: status.podIPs comma-joined, podIP = podIPs[0]);
//! pkg/kubelet/envvars/envvars.go (`FromServices`, `makeLinkVariables`, `makeEnvVariableName`);
//! third_party/forked/golang/expansion (`$(VAR)` references). containerd puts the image's `PATH`
//! first and `HOSTNAME`; busybox's shell adds `HOME=/root`. The kubelet orders its variables via a Go
//! map; the model keeps declaration order, then the service variables sorted by Service name.

use serde_json::Value;

use crate::model::family::IpFamily;
use crate::store::Store;

pub const DEFAULT_PATH: &str = "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin";

/// `status.podIPs` as strings.
pub fn pod_ips(pod: &Value) -> Vec<String> {
    pod["status"]["podIPs"]
        .as_array()
        .map(|ips| {
            ips.iter()
                .filter_map(|p| p["ip"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

fn host_ips(pod: &Value) -> Vec<String> {
    pod["status"]["hostIPs"]
        .as_array()
        .map(|ips| {
            ips.iter()
                .filter_map(|p| p["ip"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// `makeEnvVariableName`.
fn env_name(s: &str) -> String {
    s.replace('-', "_").to_uppercase()
}

/// `envvars.FromServices` for one Service (ClusterIP set, i.e. not headless/ExternalName).
pub fn service_env(svc: &Value) -> Vec<(String, String)> {
    let spec = &svc["spec"];
    let Some(ip) = spec["clusterIP"]
        .as_str()
        .filter(|ip| !ip.is_empty() && *ip != "None")
    else {
        return vec![];
    };
    let Some(ports) = spec["ports"].as_array().filter(|p| !p.is_empty()) else {
        return vec![];
    };
    let prefix = env_name(svc["metadata"]["name"].as_str().unwrap_or_default());
    let host_port = |port: i64| match IpFamily::of_str(ip) {
        Some(IpFamily::IPv6) => format!("[{ip}]:{port}"),
        _ => format!("{ip}:{port}"),
    };
    let mut out = vec![(format!("{prefix}_SERVICE_HOST"), ip.to_string())];
    let first_port = ports[0]["port"].as_i64().unwrap_or(0);
    out.push((format!("{prefix}_SERVICE_PORT"), first_port.to_string()));
    for p in ports {
        if let Some(name) = p["name"].as_str().filter(|n| !n.is_empty()) {
            out.push((
                format!("{prefix}_SERVICE_PORT_{}", env_name(name)),
                p["port"].as_i64().unwrap_or(0).to_string(),
            ));
        }
    }
    for (i, p) in ports.iter().enumerate() {
        let port = p["port"].as_i64().unwrap_or(0);
        let proto = p["protocol"].as_str().unwrap_or("TCP");
        let url = format!("{}://{}", proto.to_lowercase(), host_port(port));
        if i == 0 {
            out.push((format!("{prefix}_PORT"), url.clone()));
        }
        let pp = format!("{prefix}_PORT_{port}_{}", proto.to_uppercase());
        out.push((pp.clone(), url));
        out.push((format!("{pp}_PROTO"), proto.to_lowercase()));
        out.push((format!("{pp}_PORT"), port.to_string()));
        out.push((format!("{pp}_ADDR"), ip.to_string()));
    }
    out
}

/// Deviations of the kubelet's environment from upstream (see double/src/deviation.rs).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct EnvQuirks {
    /// `downward-pod-ips-first-only`: `status.podIPs` gives only the first pod IP.
    pub first_pod_ip_only: bool,
    /// `service-links-ignore-disable`: the namespace's Services even with `enableServiceLinks: false`.
    pub service_links_ignore_disable: bool,
    /// `service-links-drop-kubernetes`: no `kubernetes` Service variables with `enableServiceLinks: false`.
    pub service_links_drop_kubernetes: bool,
    /// `service-env-no-docker-links`: only `_SERVICE_HOST` / `_SERVICE_PORT*`, no docker-link variables.
    pub no_docker_links: bool,
}

/// `getServiceEnvVarMap`: the master `kubernetes` Service always, the namespace's when enabled.
pub fn service_links(
    store: &Store,
    namespace: &str,
    enable_service_links: bool,
    quirks: EnvQuirks,
) -> Vec<(String, String)> {
    let mut services: Vec<Value> = Vec::new();
    let drop_master = quirks.service_links_drop_kubernetes && !enable_service_links;
    if !drop_master && let Some(k) = store.get("services", Some("default"), "kubernetes") {
        services.push(k);
    }
    if enable_service_links || quirks.service_links_ignore_disable {
        for svc in store.list("services", Some(namespace)) {
            if !(namespace == "default" && svc["metadata"]["name"] == "kubernetes") {
                services.push(svc);
            }
        }
    }
    services.sort_by(|a, b| {
        a["metadata"]["name"]
            .as_str()
            .cmp(&b["metadata"]["name"].as_str())
    });
    let mut vars: Vec<(String, String)> = services.iter().flat_map(service_env).collect();
    if quirks.no_docker_links {
        vars.retain(|(name, _)| name.contains("_SERVICE_"));
    }
    vars
}

/// `third_party/forked/golang/expansion.Expand`: `$(VAR)` from earlier variables, `$$` escapes.
pub fn expand(value: &str, lookup: &dyn Fn(&str) -> Option<String>) -> String {
    let mut out = String::new();
    let mut rest = value;
    while let Some(pos) = rest.find('$') {
        out.push_str(&rest[..pos]);
        let after = &rest[pos + 1..];
        if let Some(stripped) = after.strip_prefix('$') {
            out.push('$');
            rest = stripped;
        } else if let Some(inner) = after.strip_prefix('(') {
            match inner.find(')') {
                Some(end) => {
                    let name = &inner[..end];
                    match lookup(name) {
                        Some(v) => out.push_str(&v),
                        None => out.push_str(&format!("$({name})")),
                    }
                    rest = &inner[end + 1..];
                }
                None => {
                    out.push_str("$(");
                    rest = inner;
                }
            }
        } else {
            out.push('$');
            rest = after;
        }
    }
    out.push_str(rest);
    out
}

/// `podFieldSelectorRuntimeValue` (plus the metadata fields the downward API supports).
pub fn field_ref(pod: &Value, path: &str, first_pod_ip_only: bool) -> String {
    let ips = pod_ips(pod);
    let meta = &pod["metadata"];
    let bracketed = |prefix: &str| -> Option<String> {
        let key = path
            .strip_prefix(prefix)?
            .strip_prefix("['")?
            .strip_suffix("']")?;
        Some(
            meta[&prefix[9..]][key]
                .as_str()
                .unwrap_or_default()
                .to_string(),
        )
    };
    match path {
        "metadata.name" => meta["name"].as_str().unwrap_or_default().to_string(),
        "metadata.namespace" => meta["namespace"].as_str().unwrap_or_default().to_string(),
        "metadata.uid" => meta["uid"].as_str().unwrap_or_default().to_string(),
        "spec.nodeName" => pod["spec"]["nodeName"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        "spec.serviceAccountName" => pod["spec"]["serviceAccountName"]
            .as_str()
            .unwrap_or_default()
            .to_string(),
        "status.hostIP" => host_ips(pod).first().cloned().unwrap_or_default(),
        "status.hostIPs" => host_ips(pod).join(","),
        "status.podIP" => ips.first().cloned().unwrap_or_default(),
        "status.podIPs" if first_pod_ip_only => ips.first().cloned().unwrap_or_default(),
        "status.podIPs" => ips.join(","),
        _ => bracketed("metadata.labels")
            .or_else(|| bracketed("metadata.annotations"))
            .unwrap_or_default(),
    }
}

/// The full environment of `container` in `pod`, in the order `env` prints it.
pub fn container_env(
    store: &Store,
    pod: &Value,
    container: &Value,
    hostname: &str,
    quirks: EnvQuirks,
) -> Vec<(String, String)> {
    let first_pod_ip_only = quirks.first_pod_ip_only;
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let enable_links = pod["spec"]["enableServiceLinks"].as_bool().unwrap_or(true);
    let services = service_links(store, namespace, enable_links, quirks);
    let mut declared: Vec<(String, String)> = Vec::new();
    let set = |list: &mut Vec<(String, String)>, k: String, v: String| match list
        .iter_mut()
        .find(|(n, _)| *n == k)
    {
        Some(e) => e.1 = v,
        None => list.push((k, v)),
    };
    for from in container["envFrom"].as_array().into_iter().flatten() {
        let prefix = from["prefix"].as_str().unwrap_or_default();
        if let Some(name) = from["configMapRef"]["name"].as_str()
            && let Some(cm) = store.get("configmaps", Some(namespace), name)
        {
            for (k, v) in cm["data"].as_object().into_iter().flatten() {
                set(
                    &mut declared,
                    format!("{prefix}{k}"),
                    v.as_str().unwrap_or_default().to_string(),
                );
            }
        }
    }
    for var in container["env"].as_array().into_iter().flatten() {
        let Some(name) = var["name"].as_str() else {
            continue;
        };
        let value = if let Some(v) = var["value"].as_str().filter(|v| !v.is_empty()) {
            let snapshot = declared.clone();
            let lookup = |n: &str| {
                snapshot
                    .iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v.clone())
                    .or_else(|| {
                        services
                            .iter()
                            .find(|(k, _)| k == n)
                            .map(|(_, v)| v.clone())
                    })
            };
            expand(v, &lookup)
        } else if let Some(path) = var["valueFrom"]["fieldRef"]["fieldPath"].as_str() {
            field_ref(pod, path, first_pod_ip_only)
        } else if let Some(cm_ref) = var["valueFrom"]["configMapKeyRef"].as_object() {
            let cm_name = cm_ref
                .get("name")
                .and_then(Value::as_str)
                .unwrap_or_default();
            let key = cm_ref
                .get("key")
                .and_then(Value::as_str)
                .unwrap_or_default();
            match store
                .get("configmaps", Some(namespace), cm_name)
                .and_then(|cm| cm["data"][key].as_str().map(str::to_string))
            {
                Some(v) => v,
                None => continue,
            }
        } else {
            String::new()
        };
        set(&mut declared, name.to_string(), value);
    }
    let mut env = vec![
        ("PATH".to_string(), DEFAULT_PATH.to_string()),
        ("HOSTNAME".to_string(), hostname.to_string()),
    ];
    for (k, v) in declared.iter().cloned() {
        set(&mut env, k, v);
    }
    for (k, v) in services {
        if !declared.iter().any(|(n, _)| *n == k) {
            set(&mut env, k, v);
        }
    }
    if !env.iter().any(|(k, _)| k == "HOME") {
        env.push(("HOME".to_string(), "/root".to_string()));
    }
    env
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn service_link_variables_like_envvars_go() {
        let svc = json!({"metadata": {"name": "my-service"}, "spec": {"clusterIP": "10.96.0.5", "ports": [
            {"name": "http", "port": 80, "protocol": "TCP"}, {"name": "dns", "port": 53, "protocol": "UDP"}]}});
        let env = service_env(&svc);
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("MY_SERVICE_SERVICE_HOST"), Some("10.96.0.5"));
        assert_eq!(get("MY_SERVICE_SERVICE_PORT"), Some("80"));
        assert_eq!(get("MY_SERVICE_SERVICE_PORT_DNS"), Some("53"));
        assert_eq!(get("MY_SERVICE_PORT"), Some("tcp://10.96.0.5:80"));
        assert_eq!(get("MY_SERVICE_PORT_53_UDP"), Some("udp://10.96.0.5:53"));
        assert_eq!(get("MY_SERVICE_PORT_53_UDP_PROTO"), Some("udp"));
        assert_eq!(get("MY_SERVICE_PORT_80_TCP_ADDR"), Some("10.96.0.5"));
        let v6 = json!({"metadata": {"name": "v6"}, "spec": {"clusterIP": "fd00:10:96::5", "ports": [{"port": 80}]}});
        assert!(service_env(&v6).contains(&("V6_PORT".into(), "tcp://[fd00:10:96::5]:80".into())));
        let headless = json!({"metadata": {"name": "h"}, "spec": {"clusterIP": "None", "ports": [{"port": 80}]}});
        assert!(service_env(&headless).is_empty());
    }

    #[test]
    fn downward_api_pod_ips() {
        let pod = json!({"metadata": {"name": "pod01", "namespace": "default", "labels": {"app": "x"}},
            "spec": {"nodeName": "netconform-worker"},
            "status": {"podIPs": [{"ip": "10.244.1.4"}, {"ip": "fd00:10:244:1::4"}], "hostIPs": [{"ip": "172.18.0.3"}]}});
        assert_eq!(
            field_ref(&pod, "status.podIPs", false),
            "10.244.1.4,fd00:10:244:1::4"
        );
        assert_eq!(field_ref(&pod, "status.podIPs", true), "10.244.1.4");
        assert_eq!(field_ref(&pod, "status.podIP", false), "10.244.1.4");
        assert_eq!(field_ref(&pod, "spec.nodeName", false), "netconform-worker");
        assert_eq!(field_ref(&pod, "metadata.labels['app']", false), "x");
    }

    #[test]
    fn expansion() {
        let lookup = |n: &str| (n == "A").then(|| "1".to_string());
        assert_eq!(expand("x$(A)y$(B)$$", &lookup), "x1y$(B)$");
    }
}
