//! The network model against a seeded cluster: both families, the deviations, NodePorts, traffic policy,
//! loopback and netexec's UDP.

use super::*;
use crate::DoubleConfig;
use crate::cluster::install;
use crate::runtime::ContainerRuntime;
use serde_json::json;
use std::sync::Arc;
use std::time::Duration;

async fn until(store: &Store, resource: &str, name: &str, pred: impl Fn(&Value) -> bool) -> Value {
    for _ in 0..500 {
        let found = store
            .list(resource, Some("default"))
            .into_iter()
            .find(|o| (o["metadata"]["name"] == name || name.is_empty()) && pred(o));
        if let Some(obj) = found {
            return obj;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!("timed out waiting for {resource} {name}");
}

/// A client on netconform-worker and a netexec backend on netconform-worker2 behind a dual-stack Service.
async fn cluster(deviations: &[&str]) -> (Store, Arc<dyn ContainerRuntime>, Value, Value) {
    let store = Store::new();
    let config = DoubleConfig {
        deviations: deviations.iter().map(|d| d.to_string()).collect(),
        ..DoubleConfig::default()
    };
    let runtime = install(&store, &config).unwrap();
    let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default"},
        "spec": {"ipFamilyPolicy": "PreferDualStack", "selector": {"app": "web"}, "ports": [{"port": 80}]}});
    store.create("services", Some("default"), svc).unwrap();
    let pod = |name: &str, node: &str, container: Value| {
        json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name, "namespace": "default", "labels": {"app": name}},
            "spec": {"nodeSelector": {"kubernetes.io/hostname": node}, "containers": [container]}})
    };
    let web = pod(
        "web",
        "netconform-worker2",
        json!({"name": "web", "image": "registry.k8s.io/e2e-test-images/agnhost:2.52", "args": ["netexec", "--http-port=80"]}),
    );
    let client = pod(
        "client",
        "netconform-worker",
        json!({"name": "client", "image": "busybox:1.28", "command": ["sleep", "3600"]}),
    );
    store.create("pods", Some("default"), web).unwrap();
    store.create("pods", Some("default"), client).unwrap();
    let running = |p: &Value| p["status"]["phase"] == "Running";
    until(&store, "pods", "web", running).await;
    let client = until(&store, "pods", "client", running).await;
    let svc = until(&store, "services", "web", |_| true).await;
    until(&store, "endpointslices", "", |s| {
        s["addressType"] == "IPv6" && s["endpoints"].is_array()
    })
    .await;
    until(&store, "endpointslices", "", |s| {
        s["addressType"] == "IPv4" && s["endpoints"].is_array()
    })
    .await;
    (store, runtime, client, svc)
}

fn wget(
    store: &Store,
    runtime: &Arc<dyn ContainerRuntime>,
    client: &Value,
    url: &str,
) -> (i32, String, String) {
    let argv: Vec<String> = ["wget", "-T", "5", "-qO-", url]
        .iter()
        .map(|s| s.to_string())
        .collect();
    let out = runtime.exec(store, client, "client", &argv);
    (
        out.exit_code,
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[tokio::test]
async fn loopback_stays_in_the_pod_and_netexec_dials_udp() {
    let (store, runtime, client, _) = cluster(&[]).await;
    let web = store.get("pods", Some("default"), "web").unwrap();
    let run = |pod: &Value, container: &str, url: &str| {
        let argv: Vec<String> = ["wget", "-T", "5", "-qO-", url]
            .iter()
            .map(|s| s.to_string())
            .collect();
        let out = runtime.exec(&store, pod, container, &argv);
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr)
    };
    assert_eq!(run(&web, "web", "http://127.0.0.1:80/hostname"), "web");
    // Nothing listens in the client pod.
    let refused = run(&client, "client", "http://127.0.0.1:80/hostname");
    assert!(refused.contains("Connection refused"), "{refused}");
    // netexec's UDP server listens on 8081 by default; `/dial` reports its answer as JSON.
    let web_v6 = web["status"]["podIPs"][1]["ip"].as_str().unwrap();
    let dial = format!(
        "http://127.0.0.1:80/dial?request=hostname&protocol=udp&host={web_v6}&port=8081&tries=2"
    );
    assert_eq!(run(&web, "web", &dial), r#"{"responses":["web","web"]}"#);
    let closed = dial.replace("port=8081", "port=9");
    assert!(run(&web, "web", &closed).starts_with(r#"{"errors":["#));
}

#[tokio::test]
async fn both_families_through_cluster_ips_and_pod_ips() {
    let (store, runtime, client, svc) = cluster(&[]).await;
    let (v4, v6) = (
        svc["spec"]["clusterIPs"][0].as_str().unwrap(),
        svc["spec"]["clusterIPs"][1].as_str().unwrap(),
    );
    assert_eq!(
        wget(
            &store,
            &runtime,
            &client,
            &format!("http://{v4}:80/hostname")
        )
        .1,
        "web"
    );
    let (_, seen, _) = wget(
        &store,
        &runtime,
        &client,
        &format!("http://[{v6}]:80/clientip"),
    );
    let client_v6 = client["status"]["podIPs"][1]["ip"].as_str().unwrap();
    assert!(seen.starts_with(&format!("[{client_v6}]:")), "{seen}");
    let web = store.get("pods", Some("default"), "web").unwrap();
    let web_v6 = web["status"]["podIPs"][1]["ip"].as_str().unwrap();
    assert_eq!(
        wget(
            &store,
            &runtime,
            &client,
            &format!("http://[{web_v6}]:80/hostname")
        )
        .1,
        "web"
    );
    let refused = wget(&store, &runtime, &client, &format!("http://[{web_v6}]:81/"));
    assert_eq!(refused.0, 1);
    assert!(refused.2.ends_with("Connection refused\n"), "{}", refused.2);
}

#[tokio::test]
async fn deviations_drop_and_masquerade() {
    let (store, runtime, client, svc) =
        cluster(&["service-ipv6-unreachable", "pod-to-pod-masquerade"]).await;
    let v6 = svc["spec"]["clusterIPs"][1].as_str().unwrap();
    assert_eq!(
        wget(
            &store,
            &runtime,
            &client,
            &format!("http://[{v6}]:80/hostname")
        )
        .2,
        "wget: download timed out\n"
    );
    let v4 = svc["spec"]["clusterIPs"][0].as_str().unwrap();
    let (_, seen, _) = wget(
        &store,
        &runtime,
        &client,
        &format!("http://{v4}:80/clientip"),
    );
    assert!(
        seen.starts_with("172.18.0.3:"),
        "the worker's InternalIP, not the pod's: {seen}"
    );
}

/// Creates `svc` (selecting `app: web`) and waits until its slices of each of its families list `ready` endpoints.
async fn service_with_endpoints(store: &Store, svc: Value, ready: usize) -> Value {
    let name = svc["metadata"]["name"].as_str().unwrap().to_string();
    let created = store.create("services", Some("default"), svc).unwrap();
    for family in created["spec"]["ipFamilies"].as_array().unwrap() {
        until(store, "endpointslices", "", |s| {
            s["metadata"]["labels"][LABEL_SERVICE_NAME] == name.as_str()
                && s["addressType"] == *family
                && s["endpoints"].as_array().is_some_and(|e| e.len() == ready)
        })
        .await;
    }
    until(store, "services", &name, |_| true).await
}

fn node_port_svc(name: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": name, "namespace": "default"},
        "spec": {"type": "NodePort", "ipFamilyPolicy": "PreferDualStack", "selector": {"app": "web"},
                 "ports": [{"name": "1248-80", "port": 1248, "targetPort": 80}]}})
}

#[tokio::test]
async fn node_ports_answer_on_every_node_ip_of_both_families() {
    let (store, runtime, client, _) = cluster(&[]).await;
    let svc = service_with_endpoints(&store, node_port_svc("np"), 1).await;
    let np = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    assert!((30000..=32767).contains(&np), "{np}");
    let nodes = crate::model::topology::Topology::netconform().nodes;
    assert!(nodes.len() >= 2);
    for node in &nodes {
        for ip in node.internal_ips() {
            let target = match ip {
                IpAddr::V4(_) => format!("http://{ip}:{np}/hostname"),
                IpAddr::V6(_) => format!("http://[{ip}]:{np}/hostname"),
            };
            assert_eq!(
                wget(&store, &runtime, &client, &target).1,
                "web",
                "{target}"
            );
        }
    }
    // Masqueraded: the backend sees the receiving node's address, not the client pod's.
    let worker = &nodes
        .iter()
        .find(|n| n.name == "netconform-worker")
        .unwrap()
        .internal_ips()[0];
    let (_, seen, _) = wget(
        &store,
        &runtime,
        &client,
        &format!("http://{worker}:{np}/clientip"),
    );
    assert!(seen.starts_with(&format!("{worker}:")), "{seen}");
    // Another port of a node refuses.
    let refused = wget(
        &store,
        &runtime,
        &client,
        &format!("http://{worker}:{}/", np + 1),
    );
    assert!(refused.2.ends_with("Connection refused\n"), "{}", refused.2);
}

#[tokio::test]
async fn node_port_deviations() {
    let (store, runtime, client, _) = cluster(&[
        "nodeport-ipv6-not-served",
        "nodeport-only-on-endpoint-nodes",
    ])
    .await;
    let svc = service_with_endpoints(&store, node_port_svc("np"), 1).await;
    let np = svc["spec"]["ports"][0]["nodePort"].as_u64().unwrap();
    let topology = crate::model::topology::Topology::netconform();
    let ips = |name: &str| topology.node(name).unwrap().internal_ips();
    // web runs on worker2: its IPv4 answers, the client's own node (no endpoint) refuses, IPv6 refuses.
    let w2 = ips("netconform-worker2");
    assert_eq!(
        wget(
            &store,
            &runtime,
            &client,
            &format!("http://{}:{np}/hostname", w2[0])
        )
        .1,
        "web"
    );
    let v6 = wget(
        &store,
        &runtime,
        &client,
        &format!("http://[{}]:{np}/hostname", w2[1]),
    );
    assert!(v6.2.ends_with("Connection refused\n"), "{}", v6.2);
    let w1 = ips("netconform-worker");
    let own = wget(
        &store,
        &runtime,
        &client,
        &format!("http://{}:{np}/hostname", w1[0]),
    );
    assert!(own.2.ends_with("Connection refused\n"), "{}", own.2);
}

/// A second netexec backend `web-local` (label app=web) on the client's node.
async fn local_backend(store: &Store) {
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web-local", "namespace": "default", "labels": {"app": "web"}},
        "spec": {"nodeSelector": {"kubernetes.io/hostname": "netconform-worker"},
                 "containers": [{"name": "web", "image": "registry.k8s.io/e2e-test-images/agnhost:2.52", "args": ["netexec", "--http-port=80"]}]}});
    store.create("pods", Some("default"), pod).unwrap();
    until(store, "pods", "web-local", |p| {
        p["status"]["phase"] == "Running"
    })
    .await;
}

fn local_svc() -> Value {
    json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "local", "namespace": "default"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": 80}], "internalTrafficPolicy": "Local"}})
}

#[tokio::test]
async fn internal_traffic_policy_local() {
    let (store, runtime, client, _) = cluster(&[]).await;
    // Only web (on worker2) backs the Service: the client on worker has no local endpoint: dropped.
    let svc = service_with_endpoints(&store, local_svc(), 1).await;
    let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    let url = format!("http://{ip}:80/hostname");
    assert_eq!(
        wget(&store, &runtime, &client, &url).2,
        "wget: download timed out\n"
    );
    // With a backend on the client's node, only that one answers.
    local_backend(&store).await;
    until(&store, "endpointslices", "", |s| {
        s["metadata"]["labels"][LABEL_SERVICE_NAME] == "local"
            && s["addressType"] == "IPv4"
            && s["endpoints"].as_array().is_some_and(|e| e.len() == 2)
    })
    .await;
    assert_eq!(wget(&store, &runtime, &client, &url).1, "web-local");
}

#[tokio::test]
async fn internal_traffic_policy_ignored() {
    let (store, runtime, client, _) = cluster(&["internal-traffic-policy-ignored"]).await;
    let svc = service_with_endpoints(&store, local_svc(), 1).await;
    let ip = svc["spec"]["clusterIP"].as_str().unwrap().to_string();
    assert_eq!(
        wget(
            &store,
            &runtime,
            &client,
            &format!("http://{ip}:80/hostname")
        )
        .1,
        "web"
    );
}
