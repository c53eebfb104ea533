//! The modelled cluster: a kind dual-stack cluster named `netconform` with one control-plane node
//! and two workers, as `kind create cluster --config kind-configs/...` would give with
//! `networking.ipFamily: dual` and `serviceSubnet: 10.96.0.0/28,fd00:10:96::/112`.
//!
//! Addressing follows kind's defaults (kubernetes-sigs/kind pkg/apis/config/v1alpha4/default.go:
//! dual-stack pod subnet `10.244.0.0/16,fd00:10:244::/56`, service subnet `10.96.0.0/16,fd00:10:96::/112`
//! — the IPv4 service range is narrowed to a /28 here like the docs' ServiceCIDR exhaustion example)
//! and the docker network kind creates (`kind`: 172.18.0.0/16 and fc00:f853:ccd:e793::/64, gateway .1).
//! Node podCIDRs are what kube-controller-manager's range allocator hands out in registration order
//! with the default node mask sizes (/24 and /64).

use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use ipnet::{IpNet, Ipv4Net, Ipv6Net};
use serde_json::{Value, json};

use super::family::IpFamily;
use crate::profile::{self, Profiles};

pub const CLUSTER_NAME: &str = "netconform";
pub const CLUSTER_DOMAIN: &str = "cluster.local";
/// The kubelet/apiserver version of the modelled kind node image (kindest/node:v1.33.1).
pub const KUBERNETES_VERSION: &str = "v1.33.1";
/// `kube-dns` ClusterIP: kubeadm's default, the 10th address of the service range (inside the /28).
pub const KUBE_DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 10);
/// `kube-dns` ClusterIP of the `ipv6-primary` profile: the 10th address of `fd00:10:96::/112`.
pub const KUBE_DNS_IPV6: Ipv6Addr = Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0xa);
/// The `kubernetes` Service ClusterIP: the first address of the primary service range.
pub const KUBERNETES_SERVICE_IP: Ipv4Addr = Ipv4Addr::new(10, 96, 0, 1);
/// A `--cluster-dns` left from another service range (the docs' example kube-dns IP): where a
/// misconfigured kubelet sends pods' DNS queries (deviation `resolv-wrong-cluster-dns`).
pub const STALE_CLUSTER_DNS_IP: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 10);
/// NodeLocal DNSCache's link-local address (kubernetes cluster/addons/dns/nodelocaldns/README.md).
pub const NODE_LOCAL_DNS_IP: Ipv4Addr = Ipv4Addr::new(169, 254, 20, 10);
/// What a wildcard upstream resolver answers for every name (deviation `dns-upstream-wildcard`).
pub const UPSTREAM_WILDCARD_IP: Ipv4Addr = Ipv4Addr::new(198, 51, 100, 7);
/// The docker network gateway, which kind's entrypoint writes as the node's nameserver
/// (kubernetes-sigs/kind images/base/files/usr/local/bin/entrypoint `enable_network_magic`
/// replaces docker's embedded DNS 127.0.0.11 with the default gateway).
pub const DOCKER_GATEWAY: Ipv4Addr = Ipv4Addr::new(172, 18, 0, 1);

/// Role of a node in the kind cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Role {
    ControlPlane,
    Worker,
}

/// One kind node (a docker container) and what the cluster assigned it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeSpec {
    pub name: String,
    pub role: Role,
    pub ipv4: Ipv4Addr,
    pub ipv6: Ipv6Addr,
    pub pod_cidr_v4: Ipv4Net,
    pub pod_cidr_v6: Ipv6Net,
    /// The cluster's primary family: the order of `--node-ip` and `--cluster-cidr`.
    pub primary: IpFamily,
    /// The cluster has the primary family only (profile `ipv4-only`).
    pub single_stack: bool,
}

impl NodeSpec {
    /// InternalIPs in the kubelet's `--node-ip` order (kind passes `ipv4,ipv6`; an IPv6-primary
    /// cluster `ipv6,ipv4`).
    pub fn internal_ips(&self) -> Vec<IpAddr> {
        let mut ips = primary_first(self.primary, IpAddr::V4(self.ipv4), IpAddr::V6(self.ipv6));
        ips.truncate(if self.single_stack { 1 } else { 2 });
        ips
    }

    /// The kubelet's first node IP (`hostIP`, and the family `sortPodIPs` puts first).
    pub fn first_ip(&self) -> IpAddr {
        match self.primary {
            IpFamily::IPv4 => IpAddr::V4(self.ipv4),
            IpFamily::IPv6 => IpAddr::V6(self.ipv6),
        }
    }

    /// podCIDRs in the cluster's family order (as `--cluster-cidr` lists it).
    pub fn pod_cidrs(&self) -> Vec<IpNet> {
        let mut cidrs = primary_first(
            self.primary,
            IpNet::V4(self.pod_cidr_v4),
            IpNet::V6(self.pod_cidr_v6),
        );
        cidrs.truncate(if self.single_stack { 1 } else { 2 });
        cidrs
    }

    pub fn is_control_plane(&self) -> bool {
        self.role == Role::ControlPlane
    }
}

/// `[v4, v6]` or `[v6, v4]`, primary family first.
fn primary_first<T>(primary: IpFamily, v4: T, v6: T) -> Vec<T> {
    match primary {
        IpFamily::IPv4 => vec![v4, v6],
        IpFamily::IPv6 => vec![v6, v4],
    }
}

/// The whole modelled cluster.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Topology {
    pub nodes: Vec<NodeSpec>,
    pub pod_subnet_v4: Ipv4Net,
    pub pod_subnet_v6: Ipv6Net,
    pub service_subnet_v4: Ipv4Net,
    pub service_subnet_v6: Ipv6Net,
    pub cluster_domain: String,
    pub dns_ip: IpAddr,
    /// The first family of `--service-cluster-ip-range`, `--cluster-cidr` and `--node-ip`.
    pub primary: IpFamily,
    /// The nodes' `/etc/resolv.conf` (the kubelet's `--resolv-conf`).
    pub node_resolv_conf: String,
    /// CoreDNS serves pod records (kubeadm's Corefile: `pods insecure`).
    pub pod_dns_records: bool,
    /// How long after an added ServiceCIDR turned Ready the apiserver's allocator starts to serve it.
    pub service_cidr_allocator_lag: std::time::Duration,
    /// Only the primary family is configured (profile `ipv4-only`).
    pub single_stack: bool,
}

fn v4net(a: [u8; 4], len: u8) -> Ipv4Net {
    // Constant prefixes below are all valid (len <= 32).
    Ipv4Net::new(Ipv4Addr::from(a), len).unwrap_or_default()
}

fn v6net(a: Ipv6Addr, len: u8) -> Ipv6Net {
    Ipv6Net::new(a, len).unwrap_or_default()
}

impl Topology {
    /// The `netconform` cluster.
    pub fn netconform() -> Topology {
        Topology::with_profiles(&Profiles::default())
    }

    /// The `netconform` cluster as the profiles vary it (double/src/profile.rs): `ipv6-primary` is
    /// kind's dual-stack config with the IPv6 ranges first (`podSubnet: fd00:10:244::/56,10.244.0.0/16`,
    /// `serviceSubnet: fd00:10:96::/112,10.96.0.0/28`), whose kubeadm gives kube-dns the 10th address of
    /// the first service range (cmd/kubeadm/app/constants `GetDNSIP`) and whose kubelets get
    /// `--node-ip=<ipv6>,<ipv4>`.
    pub fn with_profiles(profiles: &Profiles) -> Topology {
        let primary = if profiles.has(profile::IPV6_PRIMARY) {
            IpFamily::IPv6
        } else {
            IpFamily::IPv4
        };
        let single_stack = profiles.has(profile::IPV4_ONLY);
        let node = |i: u8, name: &str, role| NodeSpec {
            name: name.to_string(),
            role,
            ipv4: Ipv4Addr::new(172, 18, 0, 2 + i),
            ipv6: Ipv6Addr::new(0xfc00, 0xf853, 0xccd, 0xe793, 0, 0, 0, 2 + i as u16),
            pod_cidr_v4: v4net([10, 244, i, 0], 24),
            pod_cidr_v6: v6net(Ipv6Addr::new(0xfd00, 0x10, 0x244, i as u16, 0, 0, 0, 0), 64),
            primary,
            single_stack,
        };
        let dns_ip = match primary {
            IpFamily::IPv4 => IpAddr::V4(KUBE_DNS_IP),
            IpFamily::IPv6 => IpAddr::V6(KUBE_DNS_IPV6),
        };
        Topology {
            nodes: vec![
                node(0, "netconform-control-plane", Role::ControlPlane),
                node(1, "netconform-worker", Role::Worker),
                node(2, "netconform-worker2", Role::Worker),
            ],
            pod_subnet_v4: v4net([10, 244, 0, 0], 16),
            pod_subnet_v6: v6net(Ipv6Addr::new(0xfd00, 0x10, 0x244, 0, 0, 0, 0, 0), 56),
            service_subnet_v4: v4net([10, 96, 0, 0], 28),
            service_subnet_v6: v6net(Ipv6Addr::new(0xfd00, 0x10, 0x96, 0, 0, 0, 0, 0), 112),
            cluster_domain: CLUSTER_DOMAIN.to_string(),
            dns_ip,
            primary,
            node_resolv_conf: node_resolv_conf_for(profiles),
            pod_dns_records: !profiles.has(profile::COREDNS_PODS_DISABLED),
            service_cidr_allocator_lag: if profiles.has(profile::SERVICECIDR_ALLOCATOR_LAG) {
                std::time::Duration::from_secs(2)
            } else {
                std::time::Duration::ZERO
            },
            single_stack,
        }
    }

    pub fn node(&self, name: &str) -> Option<&NodeSpec> {
        self.nodes.iter().find(|n| n.name == name)
    }

    pub fn workers(&self) -> impl Iterator<Item = &NodeSpec> {
        self.nodes.iter().filter(|n| n.role == Role::Worker)
    }

    /// Service CIDRs in `--service-cluster-ip-range` order (primary family first).
    pub fn service_cidrs(&self) -> Vec<IpNet> {
        let mut cidrs = primary_first(
            self.primary,
            IpNet::V4(self.service_subnet_v4),
            IpNet::V6(self.service_subnet_v6),
        );
        cidrs.truncate(self.families().len());
        cidrs
    }

    /// The cluster's families, primary first.
    pub fn families(&self) -> Vec<IpFamily> {
        if self.single_stack {
            return vec![self.primary];
        }
        vec![self.primary, self.primary.other()]
    }

    /// The `kubernetes` Service ClusterIP: the first address of the primary service range.
    pub fn kubernetes_service_ip(&self) -> IpAddr {
        match self.primary {
            IpFamily::IPv4 => IpAddr::V4(KUBERNETES_SERVICE_IP),
            IpFamily::IPv6 => IpAddr::V6(Ipv6Addr::from(
                u128::from(self.service_subnet_v6.network()) + 1,
            )),
        }
    }
}

/// The nodes' `/etc/resolv.conf` under the profiles: docker's file ([`node_resolv_conf`]), or
/// systemd-resolved's for a host without search domains (`search .`: systemd's src/resolve/resolved-resolv-conf.c writes it when the
/// search list is empty), or one with two
/// `options` lines. The nameserver stays the docker gateway so the node still resolves.
pub fn node_resolv_conf_for(profiles: &Profiles) -> String {
    if profiles.has(profile::NODE_RESOLV_SEARCH_DOT) {
        return format!(
            "# This is /run/systemd/resolve/resolv.conf managed by man:systemd-resolved(8).\n\
             # Do not edit.\n\
             #\n\
             # This file might be symlinked as /etc/resolv.conf. If you're looking at\n\
             # /etc/resolv.conf and seeing this text, you have followed the symlink.\n\
             \n\
             nameserver {DOCKER_GATEWAY}\n\
             search .\n"
        );
    }
    if profiles.has(profile::NODE_RESOLV_OPTIONS_LINES) {
        return format!(
            "nameserver {DOCKER_GATEWAY}\n\
             search example.internal\n\
             options ndots:1 edns0\n\
             options timeout:2 ndots:0\n"
        );
    }
    node_resolv_conf()
}

/// The node's `/etc/resolv.conf`: docker's generated file for a container on a user network,
/// after kind's entrypoint swapped the embedded DNS 127.0.0.11 for the gateway. The host's search
/// domains would follow docker's `search` line; the modelled host has none.
pub fn node_resolv_conf() -> String {
    format!(
        "# Generated by Docker Engine.\n\
         # This file can be edited; Docker Engine will not make further changes once it\n\
         # has been modified.\n\
         \n\
         nameserver {DOCKER_GATEWAY}\n\
         options edns0 trust-ad ndots:0\n\
         \n\
         # Based on host file: '/etc/resolv.conf' (internal resolver)\n\
         # ExtServers: [host(127.0.0.53)]\n\
         # Overrides: []\n\
         # Option ndots from: internal\n"
    )
}

/// CoreDNS's Corefile as kubeadm writes it (cmd/kubeadm/app/phases/addons/dns/manifests.go
/// `CoreDNSConfigMap`, v1.37.2), without the `pods insecure` line when the cluster serves no pod records.
pub fn corefile(topology: &Topology) -> String {
    let domain = &topology.cluster_domain;
    let pods = if topology.pod_dns_records {
        "           pods insecure\n"
    } else {
        ""
    };
    format!(
        ".:53 {{\n    errors\n    health {{\n       lameduck 5s\n    }}\n    ready\n    \
         kubernetes {domain} in-addr.arpa ip6.arpa {{\n{pods}       fallthrough in-addr.arpa ip6.arpa\n       ttl 30\n    }}\n    \
         prometheus :9153\n    forward . /etc/resolv.conf {{\n       max_concurrent 1000\n    }}\n    \
         cache 30 {{\n       disable success {domain}\n       disable denial {domain}\n    }}\n    \
         loop\n    reload\n    loadbalance\n}}\n"
    )
}

/// The node's `/etc/hosts` as docker writes it for the node container
/// (upstream: moby/moby libnetwork/etchosts/etchosts.go `defaultContent`, then one record per
/// endpoint address with the container's hostname).
pub fn node_hosts_file(node: &NodeSpec) -> String {
    format!(
        "127.0.0.1\tlocalhost\n\
         ::1\tlocalhost ip6-localhost ip6-loopback\n\
         fe00::0\tip6-localnet\n\
         ff00::0\tip6-mcastprefix\n\
         ff02::1\tip6-allnodes\n\
         ff02::2\tip6-allrouters\n\
         {}\t{}\n\
         {}\t{}\n",
        node.ipv4, node.name, node.ipv6, node.name
    )
}

/// The Node object as a kind node's kubelet registers it and the node IPAM controller completes it
/// (`spec.podCIDR`/`podCIDRs`). With `single_stack_podcidr` only the IPv4 podCIDR is set
/// (the `nodes-single-stack-podcidr` deviation).
pub fn node_object(node: &NodeSpec, now: &str, single_stack_podcidr: bool) -> Value {
    let mut labels = json!({
        "beta.kubernetes.io/arch": "amd64",
        "beta.kubernetes.io/os": "linux",
        "kubernetes.io/arch": "amd64",
        "kubernetes.io/hostname": node.name,
        "kubernetes.io/os": "linux",
    });
    let pod_cidrs: Vec<String> = if single_stack_podcidr {
        vec![node.pod_cidr_v4.to_string()]
    } else {
        node.pod_cidrs().iter().map(IpNet::to_string).collect()
    };
    let mut spec = json!({
        "podCIDR": pod_cidrs.first(),
        "podCIDRs": pod_cidrs,
        "providerID": format!("kind://docker/{CLUSTER_NAME}/{}", node.name),
    });
    if node.is_control_plane() {
        labels["node-role.kubernetes.io/control-plane"] = json!("");
        labels["node.kubernetes.io/exclude-from-external-load-balancers"] = json!("");
        spec["taints"] = json!([{
            "effect": "NoSchedule",
            "key": "node-role.kubernetes.io/control-plane",
        }]);
    }
    let condition = |type_: &str, status: &str, reason: &str, message: &str| {
        json!({
            "type": type_,
            "status": status,
            "lastHeartbeatTime": now,
            "lastTransitionTime": now,
            "reason": reason,
            "message": message,
        })
    };
    let resources = json!({
        "cpu": "2",
        "ephemeral-storage": "102626232Ki",
        "hugepages-1Gi": "0",
        "hugepages-2Mi": "0",
        "memory": "8129592Ki",
        "pods": "110",
    });
    json!({
        "apiVersion": "v1",
        "kind": "Node",
        "metadata": {
            "name": node.name,
            "labels": labels,
            "annotations": {
                "kubeadm.alpha.kubernetes.io/cri-socket": "unix:///run/containerd/containerd.sock",
                "node.alpha.kubernetes.io/ttl": "0",
                "volumes.kubernetes.io/controller-managed-attach-detach": "true",
            },
        },
        "spec": spec,
        "status": {
            "addresses": node.internal_ips().iter()
                .map(|ip| json!({"type": "InternalIP", "address": ip.to_string()}))
                .chain([json!({"type": "Hostname", "address": node.name})])
                .collect::<Vec<_>>(),
            "allocatable": resources.clone(),
            "capacity": resources,
            "conditions": [
                condition("MemoryPressure", "False", "KubeletHasSufficientMemory", "kubelet has sufficient memory available"),
                condition("DiskPressure", "False", "KubeletHasNoDiskPressure", "kubelet has no disk pressure"),
                condition("PIDPressure", "False", "KubeletHasSufficientPID", "kubelet has sufficient PID available"),
                condition("Ready", "True", "KubeletReady", "kubelet is posting ready status"),
            ],
            "daemonEndpoints": {"kubeletEndpoint": {"Port": 10250}},
            "nodeInfo": {
                "architecture": "amd64",
                "bootID": format!("{}-boot", node.name),
                "containerRuntimeVersion": "containerd://2.1.1",
                "kernelVersion": "6.8.0-generic",
                "kubeProxyVersion": "",
                "kubeletVersion": KUBERNETES_VERSION,
                "machineID": format!("{}-machine", node.name),
                "operatingSystem": "linux",
                "osImage": "Debian GNU/Linux 12 (bookworm)",
                "systemUUID": format!("{}-uuid", node.name),
            },
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn netconform_topology_is_dual_stack_kind() {
        let t = Topology::netconform();
        let names: Vec<&str> = t.nodes.iter().map(|n| n.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "netconform-control-plane",
                "netconform-worker",
                "netconform-worker2"
            ]
        );
        let w = t.node("netconform-worker").unwrap();
        assert_eq!(w.pod_cidr_v4.to_string(), "10.244.1.0/24");
        assert_eq!(w.pod_cidr_v6.to_string(), "fd00:10:244:1::/64");
        assert_eq!(w.ipv4.to_string(), "172.18.0.3");
        assert_eq!(w.ipv6.to_string(), "fc00:f853:ccd:e793::3");
        assert!(t.pod_subnet_v6.contains(&w.pod_cidr_v6));
        // kube-dns must be inside the /28 service range.
        assert!(t.service_subnet_v4.contains(&KUBE_DNS_IP));
        assert!(t.service_subnet_v4.contains(&KUBERNETES_SERVICE_IP));
        assert_eq!(t.workers().count(), 2);
    }

    #[test]
    fn node_object_has_both_families() {
        let t = Topology::netconform();
        let cp = node_object(&t.nodes[0], "2024-01-01T00:00:00Z", false);
        assert_eq!(
            cp["spec"]["podCIDRs"],
            json!(["10.244.0.0/24", "fd00:10:244::/64"])
        );
        assert_eq!(
            cp["spec"]["taints"][0]["key"],
            "node-role.kubernetes.io/control-plane"
        );
        assert_eq!(
            cp["status"]["addresses"][1]["address"],
            "fc00:f853:ccd:e793::2"
        );
        assert_eq!(
            cp["status"]["nodeInfo"]["kubeletVersion"],
            KUBERNETES_VERSION
        );
        let single = node_object(&t.nodes[1], "2024-01-01T00:00:00Z", true);
        assert_eq!(single["spec"]["podCIDRs"], json!(["10.244.1.0/24"]));
        assert!(single["spec"].get("taints").is_none());
    }

    #[test]
    fn node_files() {
        let t = Topology::netconform();
        assert!(node_resolv_conf().contains("nameserver 172.18.0.1\n"));
        assert!(
            node_hosts_file(&t.nodes[1]).ends_with("fc00:f853:ccd:e793::3\tnetconform-worker\n")
        );
    }
}
