//! The objects a fresh kind cluster has: nodes, the four system namespaces, the default
//! ServiceCIDR, the `kubernetes` and `kube-dns` Services (with their IPAddresses), default
//! ServiceAccounts, the two CoreDNS pods behind kube-dns and the kindnet and kube-proxy DaemonSets.
//! upstream: pkg/controlplane/controller/kubernetesservice (the `kubernetes` Service, port 443 ->
//! 6443), pkg/controlplane/controller/defaultservicecidr, kubeadm's CoreDNS addon manifests
//! (cmd/kubeadm/app/phases/addons/dns/manifests.go: Service `kube-dns` ports dns/dns-tcp/metrics).

use serde_json::{Value, json};

use super::Cluster;
use crate::deviation::Deviation;
use crate::model::servicecidr;
use crate::model::time;
use crate::model::topology;
use crate::store::Store;
use crate::{ApiError, DoubleError};

fn seeded(resource: &str, name: &str, r: Result<Value, ApiError>) -> Result<Value, DoubleError> {
    r.map_err(|source| DoubleError::Seed {
        resource: resource.to_string(),
        name: name.to_string(),
        source,
    })
}

pub(crate) fn default_service_account(namespace: &str) -> Value {
    json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "default", "namespace": namespace}})
}

pub(crate) fn seed(store: &Store, cluster: &Cluster) -> Result<(), DoubleError> {
    let now = time::now();
    for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
        if store.get("namespaces", None, ns).is_none() {
            let obj = json!({"apiVersion": "v1", "kind": "Namespace",
                "metadata": {"name": ns, "labels": {"kubernetes.io/metadata.name": ns}},
                "spec": {"finalizers": ["kubernetes"]}, "status": {"phase": "Active"}});
            seeded("namespaces", ns, store.create("namespaces", None, obj))?;
        }
        if store.get("serviceaccounts", Some(ns), "default").is_none() {
            seeded(
                "serviceaccounts",
                "default",
                store.create("serviceaccounts", Some(ns), default_service_account(ns)),
            )?;
        }
    }
    let single_podcidr = cluster.has(Deviation::NodesSingleStackPodcidr);
    for node in &cluster.topology.nodes {
        let mut obj = topology::node_object(node, &now, single_podcidr);
        // `nodes-single-internal-ip`: the kubelet's --node-ip names only the IPv4 address.
        if cluster.has(Deviation::NodesSingleInternalIp)
            && let Some(addresses) = obj["status"]["addresses"].as_array_mut()
        {
            addresses.retain(|a| {
                !(a["type"] == "InternalIP"
                    && a["address"].as_str().is_some_and(|ip| ip.contains(':')))
            });
        }
        // `nodes-no-hostname-address`: no Hostname entry beside the InternalIPs.
        if cluster.has(Deviation::NodesNoHostnameAddress)
            && let Some(addresses) = obj["status"]["addresses"].as_array_mut()
        {
            addresses.retain(|a| a["type"] != "Hostname");
        }
        // `node-cidr-mask-size-not-default`: /25 and /80 blocks (the same networks) instead of /24 and /64.
        if cluster.has(Deviation::NodeCidrMaskSizeNotDefault) {
            let narrowed: Vec<String> = obj["spec"]["podCIDRs"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(|c| c.as_str()?.parse::<ipnet::IpNet>().ok())
                .filter_map(|net| {
                    let len = if net.addr().is_ipv4() { 25 } else { 80 };
                    ipnet::IpNet::new(net.network(), len).ok()
                })
                .map(|n| n.to_string())
                .collect();
            obj["spec"]["podCIDR"] = json!(narrowed.first());
            obj["spec"]["podCIDRs"] = json!(narrowed);
        }
        let created = seeded(
            "nodes",
            &node.name,
            store.create("nodes", None, obj.clone()),
        )?;
        // The status as the kubelet posts it (the create may drop it for a status subresource).
        let mut with_status = created;
        with_status["status"] = obj["status"].clone();
        seeded(
            "nodes",
            &node.name,
            store.update_status("nodes", None, with_status),
        )?;
    }
    let mut cidrs: Vec<String> = cluster
        .topology
        .service_cidrs()
        .iter()
        .map(|c| c.to_string())
        .collect();
    seed_kube_apiserver_pod(store, cluster, &cidrs.join(","))?;
    seed_kube_controller_manager_pod(store, cluster, &cidrs.join(","))?;
    // `servicecidr-default-stale-range`: the default ServiceCIDR kept the /24 an earlier apiserver flag
    // gave it (upstream defaultservicecidr only reports such a mismatch, it does not fix it).
    if cluster.has(Deviation::ServicecidrDefaultStaleRange)
        && let Ok(stale) = ipnet::Ipv4Net::new(cluster.topology.service_subnet_v4.network(), 24)
        && let Some(primary) = cidrs.first_mut()
    {
        *primary = stale.trunc().to_string();
    }
    let cidr = json!({"apiVersion": "networking.k8s.io/v1", "kind": "ServiceCIDR",
        "metadata": {"name": servicecidr::DEFAULT_SERVICE_CIDR_NAME}, "spec": {"cidrs": cidrs}});
    let mut created = seeded(
        "servicecidrs",
        "kubernetes",
        store.create("servicecidrs", None, cidr),
    )?;
    created["status"] = json!({"conditions": [servicecidr::ready_condition(servicecidr::DEFAULT_READY_MESSAGE, &now)]});
    seeded(
        "servicecidrs",
        "kubernetes",
        store.update_status("servicecidrs", None, created),
    )?;

    // `kubernetes-service-not-first-address`: the second address of the range instead of the first.
    let first = cluster.topology.kubernetes_service_ip();
    let kubernetes_ip = if cluster.has(Deviation::KubernetesServiceNotFirstAddress) {
        match first {
            std::net::IpAddr::V4(v4) => std::net::IpAddr::V4((u32::from(v4) + 1).into()),
            std::net::IpAddr::V6(v6) => std::net::IpAddr::V6((u128::from(v6) + 1).into()),
        }
    } else {
        first
    };
    let kubernetes = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "kubernetes", "namespace": "default", "labels": {"component": "apiserver", "provider": "kubernetes"}},
        "spec": {"clusterIP": kubernetes_ip.to_string(), "ipFamilyPolicy": "SingleStack",
                 "ports": [{"name": "https", "port": 443, "protocol": "TCP", "targetPort": 6443}]}});
    seeded(
        "services",
        "kubernetes",
        store.create("services", Some("default"), kubernetes),
    )?;
    // `kube-dns-service-renamed`: the DNS Service under a distribution's own name (RKE2's chart).
    let dns_service = if cluster.has(Deviation::KubeDnsServiceRenamed) {
        "rke2-coredns-rke2-coredns"
    } else {
        "kube-dns"
    };
    let kube_dns = json!({"apiVersion": "v1", "kind": "Service",
        "metadata": {"name": dns_service, "namespace": "kube-system",
            "labels": {"k8s-app": "kube-dns", "kubernetes.io/cluster-service": "true", "kubernetes.io/name": "CoreDNS"},
            "annotations": {"prometheus.io/port": "9153", "prometheus.io/scrape": "true"}},
        "spec": {"clusterIP": cluster.topology.dns_ip.to_string(), "selector": {"k8s-app": "kube-dns"},
            "ports": [
                {"name": "dns", "port": 53, "protocol": "UDP", "targetPort": 53},
                {"name": "dns-tcp", "port": 53, "protocol": "TCP", "targetPort": 53},
                {"name": "metrics", "port": 9153, "protocol": "TCP", "targetPort": 9153}]}});
    seeded(
        "services",
        dns_service,
        store.create("services", Some("kube-system"), kube_dns),
    )?;

    let corefile = json!({"apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": "coredns", "namespace": "kube-system"},
        "data": {"Corefile": topology::corefile(&cluster.topology)}});
    seeded(
        "configmaps",
        "coredns",
        store.create("configmaps", Some("kube-system"), corefile),
    )?;
    let coredns_sa = json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "coredns", "namespace": "kube-system"}});
    seeded(
        "serviceaccounts",
        "coredns",
        store.create("serviceaccounts", Some("kube-system"), coredns_sa),
    )?;
    let control_plane = cluster
        .topology
        .nodes
        .iter()
        .find(|n| n.is_control_plane())
        .map(|n| n.name.clone())
        .unwrap_or_default();
    for suffix in ["668d6bf9bc-4xk2p", "668d6bf9bc-9w7tq"] {
        let name = format!("coredns-{suffix}");
        let pod = json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": "kube-system", "labels": {"k8s-app": "kube-dns", "pod-template-hash": "668d6bf9bc"}},
            "spec": {"nodeName": control_plane, "priorityClassName": "system-cluster-critical", "dnsPolicy": "Default",
                "serviceAccountName": "coredns", "automountServiceAccountToken": false,
                "tolerations": [{"key": "CriticalAddonsOnly", "operator": "Exists"},
                                {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}],
                "containers": [{"name": "coredns", "image": "registry.k8s.io/coredns/coredns:v1.12.0", "args": ["-conf", "/etc/coredns/Corefile"],
                    "ports": [{"name": "dns", "containerPort": 53, "protocol": "UDP"}, {"name": "dns-tcp", "containerPort": 53, "protocol": "TCP"},
                              {"name": "metrics", "containerPort": 9153, "protocol": "TCP"}]}]}});
        seeded(
            "pods",
            &name,
            store.create("pods", Some("kube-system"), pod),
        )?;
    }
    seed_node_daemonsets(store, cluster)
}

/// The node agents of a kind cluster, which is where preflight reads the network plugin from: kind's
/// `kindnet` (kindnetd, with kube-network-policies built in since kind v0.24: NetworkPolicy is enforced;
/// kind v0.33 ships kindnetd v20260820-69b56db7; upstream kind pkg/build/nodeimage/const_cni.go) and
/// kubeadm's `kube-proxy` (cmd/kubeadm/app/phases/addons/proxy/manifests.go).
fn seed_node_daemonsets(store: &Store, cluster: &Cluster) -> Result<(), DoubleError> {
    let kindnet =
        json!({"name": "kindnet-cni", "image": "docker.io/kindest/kindnetd:v20260820-69b56db7"});
    let kube_proxy = json!({"name": "kube-proxy",
        "image": format!("registry.k8s.io/kube-proxy:{}", crate::model::topology::KUBERNETES_VERSION),
        "command": ["/usr/local/bin/kube-proxy", "--config=/var/lib/kube-proxy/config.conf", "--hostname-override=$(NODE_NAME)"]});
    let nodes = cluster.topology.nodes.len();
    for (name, label, container) in [
        ("kindnet", "app", kindnet),
        ("kube-proxy", "k8s-app", kube_proxy),
    ] {
        let ds = json!({"apiVersion": "apps/v1", "kind": "DaemonSet",
            "metadata": {"name": name, "namespace": "kube-system", "labels": {label: name}},
            "spec": {"selector": {"matchLabels": {label: name}},
                "template": {"metadata": {"labels": {label: name}},
                    "spec": {"hostNetwork": true, "tolerations": [{"operator": "Exists"}], "containers": [container]}}}});
        let mut created = seeded(
            "daemonsets",
            name,
            store.create("daemonsets", Some("kube-system"), ds),
        )?;
        created["status"] = json!({"currentNumberScheduled": nodes, "desiredNumberScheduled": nodes,
            "numberAvailable": nodes, "numberMisscheduled": 0, "numberReady": nodes,
            "updatedNumberScheduled": nodes, "observedGeneration": 1});
        seeded(
            "daemonsets",
            name,
            store.update_status("daemonsets", Some("kube-system"), created),
        )?;
    }
    Ok(())
}

/// kubeadm's kube-apiserver static pod (its mirror pod), which is where a cluster shows its
/// `--service-cluster-ip-range` (upstream: cmd/kubeadm/app/phases/controlplane/manifests.go
/// `getAPIServerCommand`, `service-cluster-ip-range` from the ClusterConfiguration's serviceSubnet;
/// labels `component=kube-apiserver`, `tier=control-plane` from cmd/kubeadm/app/util/staticpod).
fn seed_kube_apiserver_pod(
    store: &Store,
    cluster: &Cluster,
    service_ranges: &str,
) -> Result<(), DoubleError> {
    let Some(node) = cluster.topology.nodes.iter().find(|n| n.is_control_plane()) else {
        return Ok(());
    };
    let name = format!("kube-apiserver-{}", node.name);
    let command: Vec<String> = [
        "kube-apiserver".to_string(),
        format!("--advertise-address={}", node.ipv4),
        "--allow-privileged=true".into(),
        "--authorization-mode=Node,RBAC".into(),
        "--client-ca-file=/etc/kubernetes/pki/ca.crt".into(),
        "--enable-admission-plugins=NodeRestriction".into(),
        "--enable-bootstrap-token-auth=true".into(),
        "--etcd-servers=https://127.0.0.1:2379".into(),
        "--runtime-config=".into(),
        "--secure-port=6443".into(),
        format!(
            "--service-account-issuer=https://kubernetes.default.svc.{}",
            cluster.topology.cluster_domain
        ),
        "--service-account-key-file=/etc/kubernetes/pki/sa.pub".into(),
        "--service-account-signing-key-file=/etc/kubernetes/pki/sa.key".into(),
        format!("--service-cluster-ip-range={service_ranges}"),
        "--tls-cert-file=/etc/kubernetes/pki/apiserver.crt".into(),
        "--tls-private-key-file=/etc/kubernetes/pki/apiserver.key".into(),
    ]
    .into();
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system",
            "labels": {"component": "kube-apiserver", "tier": "control-plane"},
            "annotations": {"kubeadm.kubernetes.io/kube-apiserver.advertise-address.endpoint": format!("{}:6443", node.ipv4),
                "kubernetes.io/config.source": "file"}},
        "spec": {"nodeName": node.name, "hostNetwork": true, "priorityClassName": "system-node-critical",
            "automountServiceAccountToken": false,
            "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
            "containers": [{"name": "kube-apiserver", "image": format!("registry.k8s.io/kube-apiserver:{}", crate::model::topology::KUBERNETES_VERSION),
                "command": command}]}});
    seeded(
        "pods",
        &name,
        store.create("pods", Some("kube-system"), pod),
    )?;
    Ok(())
}

/// kubeadm's kube-controller-manager static pod as kind's config makes it: node IPAM on, the pod subnet as
/// `--cluster-cidr`, no `--node-cidr-mask-size*` flag (upstream kind pkg/cluster/internal/kubeadm/config.go;
/// kubeadm cmd/kubeadm/app/phases/controlplane/manifests.go `getControllerManagerCommand`).
fn seed_kube_controller_manager_pod(
    store: &Store,
    cluster: &Cluster,
    service_ranges: &str,
) -> Result<(), DoubleError> {
    let Some(node) = cluster.topology.nodes.iter().find(|n| n.is_control_plane()) else {
        return Ok(());
    };
    let name = format!("kube-controller-manager-{}", node.name);
    let topology = &cluster.topology;
    let v4 = topology.pod_subnet_v4.to_string();
    let v6 = topology.pod_subnet_v6.to_string();
    let mut subnets = match topology.primary {
        crate::model::family::IpFamily::IPv4 => vec![v4, v6],
        crate::model::family::IpFamily::IPv6 => vec![v6, v4],
    };
    subnets.truncate(topology.families().len());
    let pod_subnets = subnets.join(",");
    let command: Vec<String> = [
        "kube-controller-manager".to_string(),
        "--allocate-node-cidrs=true".into(),
        "--authentication-kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
        "--authorization-kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
        "--bind-address=127.0.0.1".into(),
        "--client-ca-file=/etc/kubernetes/pki/ca.crt".into(),
        format!("--cluster-cidr={pod_subnets}"),
        format!("--cluster-name={}", topology::CLUSTER_NAME),
        "--controllers=*,bootstrapsigner,tokencleaner".into(),
        "--enable-hostpath-provisioner=true".into(),
        "--kubeconfig=/etc/kubernetes/controller-manager.conf".into(),
        "--leader-elect=true".into(),
        format!("--service-cluster-ip-range={service_ranges}"),
        "--use-service-account-credentials=true".into(),
    ]
    .into();
    let pod = json!({"apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": name, "namespace": "kube-system",
            "labels": {"component": "kube-controller-manager", "tier": "control-plane"},
            "annotations": {"kubernetes.io/config.source": "file"}},
        "spec": {"nodeName": node.name, "hostNetwork": true, "priorityClassName": "system-node-critical",
            "automountServiceAccountToken": false,
            "tolerations": [{"operator": "Exists", "effect": "NoExecute"}],
            "containers": [{"name": "kube-controller-manager", "image": format!("registry.k8s.io/kube-controller-manager:{}", topology::KUBERNETES_VERSION),
                "command": command}]}});
    seeded(
        "pods",
        &name,
        store.create("pods", Some("kube-system"), pod),
    )?;
    Ok(())
}
