//! End-to-end checks of the cluster model over a store (no HTTP).

use std::sync::Arc;
use std::time::Duration;

use serde_json::{Value, json};

use super::install;
use crate::DoubleConfig;
use crate::runtime::ContainerRuntime;
use crate::store::Store;

async fn start(deviations: &[&str]) -> (Store, Arc<dyn ContainerRuntime>) {
    let store = Store::new();
    let config = DoubleConfig {
        deviations: deviations.iter().map(|s| s.to_string()).collect(),
        ..DoubleConfig::default()
    };
    let runtime = install(&store, &config).unwrap();
    (store, runtime)
}

async fn wait_for(
    store: &Store,
    resource: &str,
    ns: Option<&str>,
    name: &str,
    pred: impl Fn(&Value) -> bool,
) -> Value {
    for _ in 0..500 {
        if let Some(obj) = store.get(resource, ns, name)
            && pred(&obj)
        {
            return obj;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    panic!(
        "timed out waiting for {resource} {name}: {:?}",
        store.get(resource, ns, name)
    );
}

fn exec(
    rt: &Arc<dyn ContainerRuntime>,
    store: &Store,
    pod: &Value,
    container: &str,
    argv: &[&str],
) -> (String, String, i32) {
    let argv: Vec<String> = argv.iter().map(|s| s.to_string()).collect();
    let out = rt.exec(store, pod, container, &argv);
    (
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
        out.exit_code,
    )
}

fn phase_is(p: &'static str) -> impl Fn(&Value) -> bool {
    move |pod: &Value| pod["status"]["phase"] == p
}

#[tokio::test]
async fn seeds_a_dual_stack_kind_cluster() {
    let (store, _) = start(&[]).await;
    assert_eq!(store.list("nodes", None).len(), 3);
    let k = store
        .get("services", Some("default"), "kubernetes")
        .unwrap();
    assert_eq!(k["spec"]["clusterIP"], "10.96.0.1");
    assert_eq!(k["spec"]["ipFamilies"], json!(["IPv4"]));
    let ip = store.get("ipaddresses", None, "10.96.0.1").unwrap();
    assert_eq!(
        ip["spec"]["parentRef"],
        json!({"group": "", "resource": "services", "namespace": "default", "name": "kubernetes"})
    );
    assert_eq!(
        ip["metadata"]["labels"]["ipaddress.kubernetes.io/managed-by"],
        "ipallocator.k8s.io"
    );
    let dns = store
        .get("services", Some("kube-system"), "kube-dns")
        .unwrap();
    assert_eq!(dns["spec"]["clusterIP"], "10.96.0.10");
    let cidr = store.get("servicecidrs", None, "kubernetes").unwrap();
    assert_eq!(
        cidr["spec"]["cidrs"],
        json!(["10.96.0.0/28", "fd00:10:96::/112"])
    );
    assert_eq!(cidr["status"]["conditions"][0]["status"], "True");
    assert_eq!(
        cidr["metadata"]["finalizers"],
        json!(["networking.k8s.io/service-cidr-finalizer"])
    );
    let coredns = wait_for(
        &store,
        "pods",
        Some("kube-system"),
        "coredns-668d6bf9bc-4xk2p",
        phase_is("Running"),
    )
    .await;
    assert_eq!(
        coredns["status"]["podIP"]
            .as_str()
            .map(|ip| ip.starts_with("10.244.0.")),
        Some(true)
    );
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        assert!(
            store.get("serviceaccounts", Some(ns), "default").is_some(),
            "{ns}"
        );
    }
}

#[tokio::test]
async fn hostaliases_pod_logs_match_the_docs() {
    let (store, rt) = start(&[]).await;
    let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "hostaliases-pod"}, "spec": {
        "restartPolicy": "Never",
        "hostAliases": [{"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]}, {"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]}],
        "containers": [{"name": "cat-hosts", "image": "busybox:1.28", "command": ["cat"], "args": ["/etc/hosts"]}]}});
    store.create("pods", Some("default"), pod).unwrap();
    let done = wait_for(
        &store,
        "pods",
        Some("default"),
        "hostaliases-pod",
        phase_is("Succeeded"),
    )
    .await;
    let ips: Vec<&str> = done["status"]["podIPs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ip"].as_str().unwrap())
        .collect();
    assert_eq!(ips.len(), 2);
    assert!(
        ips[0].starts_with("10.244.") && ips[1].starts_with("fd00:10:244:"),
        "{ips:?}"
    );
    assert_eq!(done["status"]["podIP"], ips[0]);
    assert_eq!(
        done["status"]["containerStatuses"][0]["state"]["terminated"]["reason"],
        "Completed"
    );
    assert_eq!(done["spec"]["dnsPolicy"], "ClusterFirst");
    assert_eq!(
        done["spec"]["containers"][0]["imagePullPolicy"],
        "IfNotPresent"
    );
    let logs = rt.logs(&store, &done, "cat-hosts").unwrap();
    let expected = format!(
        "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\nfe00::0\tip6-localnet\nfe00::0\tip6-mcastprefix\nfe00::1\tip6-allnodes\nfe00::2\tip6-allrouters\n{}\thostaliases-pod\n{}\thostaliases-pod\n\n# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\tbar.remote\n",
        ips[0], ips[1]
    );
    assert_eq!(logs, expected);
}

#[tokio::test]
async fn running_pod_env_resolv_and_nslookup() {
    let (store, rt) = start(&[]).await;
    let pod = json!({"metadata": {"name": "busybox"}, "spec": {"containers": [{"name": "busybox", "image": "busybox:1.28",
        "command": ["sleep", "3600"],
        "env": [{"name": "MY_POD_IPS", "valueFrom": {"fieldRef": {"fieldPath": "status.podIPs"}}}]}]}});
    store.create("pods", Some("default"), pod).unwrap();
    let running = wait_for(&store, "pods", Some("default"), "busybox", |p| {
        p["status"]["conditions"].as_array().is_some_and(|c| {
            c.iter()
                .any(|c| c["type"] == "Ready" && c["status"] == "True")
        })
    })
    .await;
    assert_eq!(running["status"]["phase"], "Running");
    let node = running["spec"]["nodeName"].as_str().unwrap();
    assert!(node.starts_with("netconform-worker"), "{node}");
    let ips: Vec<&str> = running["status"]["podIPs"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["ip"].as_str().unwrap())
        .collect();
    let (env, _, code) = exec(&rt, &store, &running, "busybox", &["env"]);
    assert_eq!(code, 0);
    assert!(
        env.contains(&format!("MY_POD_IPS={}\n", ips.join(","))),
        "{env}"
    );
    assert!(env.contains("KUBERNETES_SERVICE_HOST=10.96.0.1\n"));
    let (resolv, _, _) = exec(
        &rt,
        &store,
        &running,
        "busybox",
        &["cat", "/etc/resolv.conf"],
    );
    assert_eq!(
        resolv,
        "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
    );
    let (out, _, code) = exec(
        &rt,
        &store,
        &running,
        "busybox",
        &["nslookup", "kubernetes.default"],
    );
    assert_eq!(
        (out.as_str(), code),
        (
            "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\nName:      kubernetes.default\nAddress 1: 10.96.0.1 kubernetes.default.svc.cluster.local\n",
            0
        )
    );
    let (hosts, _, _) = exec(&rt, &store, &running, "busybox", &["cat", "/etc/hosts"]);
    assert!(
        hosts.ends_with(&format!("{}\tbusybox\n{}\tbusybox\n", ips[0], ips[1])),
        "{hosts}"
    );
}

#[tokio::test]
async fn services_endpointslices_and_dns() {
    let (store, rt) = start(&[]).await;
    for i in 0..2 {
        let pod = json!({"metadata": {"name": format!("web-{i}"), "labels": {"app.kubernetes.io/name": "MyApp"}}, "spec": {
            "containers": [{"name": "web", "image": "registry.k8s.io/e2e-test-images/agnhost:2.53", "args": ["netexec", "--http-port=80"]}]}});
        store.create("pods", Some("default"), pod).unwrap();
    }
    let svc = json!({"metadata": {"name": "my-service", "labels": {"app.kubernetes.io/name": "MyApp"}}, "spec": {
        "ipFamilyPolicy": "PreferDualStack", "selector": {"app.kubernetes.io/name": "MyApp"}, "ports": [{"protocol": "TCP", "port": 80}]}});
    let created = store.create("services", Some("default"), svc).unwrap();
    assert_eq!(created["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
    let ips = created["spec"]["clusterIPs"].as_array().unwrap().clone();
    assert_eq!(ips.len(), 2);
    for ip in &ips {
        assert!(
            store
                .get("ipaddresses", None, ip.as_str().unwrap())
                .is_some()
        );
    }
    // Two slices, one per family, each with both pods once they are ready.
    for _ in 0..500 {
        let slices = store.list("endpointslices", Some("default"));
        let ready = slices
            .iter()
            .filter(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "my-service")
            .filter(|s| {
                s["endpoints"].as_array().is_some_and(|e| {
                    e.len() == 2 && e.iter().all(|e| e["conditions"]["ready"] == true)
                })
            })
            .count();
        if ready == 2 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let slices: Vec<Value> = store
        .list("endpointslices", Some("default"))
        .into_iter()
        .filter(|s| s["metadata"]["labels"]["kubernetes.io/service-name"] == "my-service")
        .collect();
    let mut types: Vec<&str> = slices
        .iter()
        .map(|s| s["addressType"].as_str().unwrap())
        .collect();
    types.sort();
    assert_eq!(types, ["IPv4", "IPv6"]);
    // Modern busybox resolves the FQDN to both ClusterIPs.
    let client = json!({"metadata": {"name": "client"}, "spec": {"containers": [{"name": "c", "image": "busybox:1.36", "command": ["sleep", "infinity"]}]}});
    store.create("pods", Some("default"), client).unwrap();
    let client = wait_for(
        &store,
        "pods",
        Some("default"),
        "client",
        phase_is("Running"),
    )
    .await;
    let (out, _, code) = exec(
        &rt,
        &store,
        &client,
        "c",
        &["nslookup", "my-service.default.svc.cluster.local"],
    );
    assert_eq!(code, 0);
    assert!(
        out.contains(&format!("Address: {}\n", ips[0].as_str().unwrap()))
            && out.contains(&format!("Address: {}\n", ips[1].as_str().unwrap())),
        "{out}"
    );
    // Deleting the Service releases its IPAddresses.
    store
        .delete("services", Some("default"), "my-service")
        .unwrap();
    for _ in 0..500 {
        if store
            .get("ipaddresses", None, ips[0].as_str().unwrap())
            .is_none()
        {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert!(
        store
            .get("ipaddresses", None, ips[0].as_str().unwrap())
            .is_none()
    );
}

#[tokio::test]
async fn service_validation_errors() {
    let (store, _) = start(&[]).await;
    let svc = |name: &str, spec: Value| json!({"metadata": {"name": name}, "spec": spec});
    let single = store
        .create(
            "services",
            Some("default"),
            svc("s", json!({"ports": [{"port": 80}]})),
        )
        .unwrap();
    let mut changed = single.clone();
    changed["spec"]["ipFamilies"] = json!(["IPv6"]);
    let err = store
        .update("services", Some("default"), changed)
        .unwrap_err();
    assert_eq!(err.code, 422);
    // Switching to PreferDualStack adds the IPv6 ClusterIP.
    let mut dual = store.get("services", Some("default"), "s").unwrap();
    dual["spec"]["ipFamilyPolicy"] = json!("PreferDualStack");
    let dual = store.update("services", Some("default"), dual).unwrap();
    assert_eq!(dual["spec"]["clusterIPs"].as_array().unwrap().len(), 2);
    let headless = store
        .create(
            "services",
            Some("default"),
            svc("h", json!({"clusterIP": "None", "ports": [{"port": 80}]})),
        )
        .unwrap();
    assert_eq!(headless["spec"]["ipFamilyPolicy"], "RequireDualStack");
    assert_eq!(headless["spec"]["ipFamilies"], json!(["IPv4", "IPv6"]));
}

#[tokio::test]
async fn exhausting_and_extending_the_service_range() {
    let (store, _) = start(&[]).await;
    let svc = |i: usize| json!({"metadata": {"name": format!("test-{i}")}, "spec": {"ports": [{"name": "80", "port": 80, "protocol": "TCP", "targetPort": 80}], "selector": {"app": format!("test-{i}")}}});
    for i in 1..=12 {
        store.create("services", Some("default"), svc(i)).unwrap();
    }
    let err = store
        .create("services", Some("default"), svc(13))
        .unwrap_err();
    assert_eq!(err.code, 500);
    // v1.36+ names the Service (pkg/registry/core/service/storage/alloc.go allocIPs).
    assert!(
        err.message
            .starts_with("Internal error occurred: failed to allocate a serviceIP for Service \"")
            && err.message.ends_with("\": range is full"),
        "{}",
        err.message
    );
    let cidr = json!({"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR", "metadata": {"name": "newcidr1"}, "spec": {"cidrs": ["10.96.0.0/24"]}});
    store.create("servicecidrs", None, cidr).unwrap();
    wait_for(&store, "servicecidrs", None, "newcidr1", |c| {
        c["status"]["conditions"][0]["status"] == "True"
    })
    .await;
    let created = store.create("services", Some("default"), svc(13)).unwrap();
    let ip = created["spec"]["clusterIP"].as_str().unwrap().to_string();
    let last: u8 = ip.rsplit('.').next().unwrap().parse().unwrap();
    assert!(last >= 17, "{ip}");
    // Deleting the ServiceCIDR is blocked while test-13's IP lives only in it.
    store.delete("servicecidrs", None, "newcidr1").unwrap();
    let blocked = wait_for(&store, "servicecidrs", None, "newcidr1", |c| {
        c["status"]["conditions"][0]["reason"] == "Terminating"
    })
    .await;
    assert_eq!(blocked["status"]["conditions"][0]["status"], "False");
    assert_eq!(
        blocked["metadata"]["finalizers"],
        json!(["networking.k8s.io/service-cidr-finalizer"])
    );
}

#[tokio::test]
async fn deviations_change_behaviour() {
    let (store, rt) = start(&["pods-single-stack", "hosts-missing-header"]).await;
    let pod = json!({"metadata": {"name": "p"}, "spec": {"containers": [{"name": "c", "image": "busybox", "command": ["sleep", "infinity"]}]}});
    store.create("pods", Some("default"), pod).unwrap();
    let running = wait_for(&store, "pods", Some("default"), "p", phase_is("Running")).await;
    assert_eq!(running["status"]["podIPs"].as_array().unwrap().len(), 1);
    let (hosts, _, _) = exec(&rt, &store, &running, "c", &["cat", "/etc/hosts"]);
    assert!(hosts.starts_with("127.0.0.1\tlocalhost\n"), "{hosts}");
    let bad = DoubleConfig {
        deviations: vec!["no-such-thing".into()],
        ..DoubleConfig::default()
    };
    assert!(install(&Store::new(), &bad).is_err());
}
