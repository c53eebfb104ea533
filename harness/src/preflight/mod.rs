//! What the target can do, detected once per run, and why a trial's need is unmet (its skip reason).
//!
//! Detection is cheap and errs towards "unmet": a trial skipped with a clear reason (and an override
//! variable) is better than a failure blamed on the cluster for a capability it never claimed.

mod detect;
mod evidence;

use std::collections::BTreeSet;

use crate::cluster::{Target, TargetKind};
use crate::config::{Settings, Toggle};
use crate::ipfamily::{IpFamily, family_of_cidr};

pub use detect::{
    NodeInfo, cluster_families, detect, free_ipv4_addresses, is_schedulable, node_info,
};
pub use evidence::{
    COREDNS_CONFIG, corefile_pods_mode, load_balancer_evidence, network_policy_evidence,
    pod_dns_records_evidence,
};

/// A capability a trial needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Need {
    /// The cluster is configured dual-stack: its default ServiceCIDR or a node covers both families.
    DualStack,
    /// The cluster is configured single-stack (the claim is about such a cluster): the opposite of
    /// [`Need::DualStack`]. Not a capability a dual-stack cluster lacks, so `NETCONFORM_REQUIRE_CLUSTER=1` does
    /// not refuse the run for it: the trial is skipped with the reason.
    SingleStack,
    Ipv4,
    Ipv6,
    /// `networking.k8s.io/v1` `servicecidrs` is served (GA in Kubernetes v1.33).
    ServiceCidrApi,
    /// A controller assigns LoadBalancer Service addresses.
    LoadBalancer,
    /// NetworkPolicy is enforced.
    NetworkPolicy,
    /// The trial changes cluster-wide state (e.g. exhausts the Service IP range).
    Disruptive,
    /// The default ServiceCIDR's IPv4 range hands out at most [`MAX_EXHAUSTIBLE_ADDRESSES`] addresses,
    /// so a trial can take them all (the docs' example range is a /28: 14 addresses).
    SmallServiceRange,
    /// The trial holds up to this many addresses of the default IPv4 service range at once. The runner lets
    /// trials run side by side only while their sum fits the free addresses (the kind config's range is a /28).
    ServiceAddresses(u8),
    /// No other trial may allocate IPv4 service addresses while it runs (it adds a ServiceCIDR that the
    /// allocator would otherwise hand to other trials' Services: upstream MetaAllocator tries every range).
    ServiceAllocatorAlone,
    /// At least this many nodes take ordinary pods (not cordoned, no NoSchedule/NoExecute taint): the trial
    /// places pods on different nodes (kind's config has two workers).
    SchedulableNodes(u8),
    /// The claim is about this part of this image's own behaviour (busybox 1.28's `nslookup`, say), so a
    /// stand-in for it (`NETCONFORM_IMAGES` with `standIn`) cannot show it unless the map says it reproduces
    /// that part: the trial is skipped, never passed.
    DocImage(&'static str, &'static str),
    /// The cluster DNS serves the deprecated `<a-b-c-d>.<namespace>.pod.<domain>` records: CoreDNS's
    /// Corefile (ConfigMap kube-system/coredns) sets `pods insecure` or `pods verified`.
    PodDnsRecords,
    /// A client outside the cluster on the nodes' network (it reaches their InternalIPs, not the pod and
    /// Service ranges): netconform starts one on kind ([`crate::outside`]).
    ExternalClient,
}

/// The largest IPv4 service range (allocatable addresses: a /24) a trial exhausts.
pub const MAX_EXHAUSTIBLE_ADDRESSES: u64 = 254;

/// Whether a capability was found, with the evidence either way.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Detected {
    pub present: bool,
    pub evidence: String,
}

/// What the target was found to offer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Capabilities {
    pub target: Option<TargetKind>,
    /// `gitVersion` (`unknown` without a target).
    pub server_version: String,
    pub nodes: Vec<NodeInfo>,
    /// Families every node has.
    pub families: BTreeSet<IpFamily>,
    pub service_cidr_api: bool,
    /// `spec.cidrs` of the ServiceCIDR named `kubernetes` (the API server's own range), if the API is served.
    pub default_service_cidrs: Option<Vec<String>>,
    /// Addresses of the default ServiceCIDR's IPv4 range not yet taken (IPAddress objects), if known.
    pub free_ipv4_service_addresses: Option<u64>,
    pub load_balancer: Detected,
    pub network_policy: Detected,
    /// CoreDNS serves pod records (its Corefile's `pods` mode).
    pub pod_dns_records: Detected,
    /// netconform can start a client outside the cluster, on the nodes' network ([`crate::outside`]).
    pub external_client: Detected,
}

/// What the target is, for [`Capabilities::unmet`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct TargetFacts {
    pub kind: Option<TargetKind>,
    /// A cluster netconform created, in this run or an earlier one ([`crate::cluster::provenance`]):
    /// disposable, so disruptive trials may run.
    pub made_by_netconform: bool,
}

impl From<&Target> for TargetFacts {
    fn from(target: &Target) -> TargetFacts {
        TargetFacts {
            kind: Some(target.kind),
            made_by_netconform: target.provenance.is_some(),
        }
    }
}

/// Only the kind is known: the cluster counts as not created by netconform (disruptive trials then need
/// `NETCONFORM_ALLOW_DISRUPTIVE=1`, except on the test double). Prefer `TargetFacts::from(&target)`.
impl From<TargetKind> for TargetFacts {
    fn from(kind: TargetKind) -> TargetFacts {
        TargetFacts {
            kind: Some(kind),
            made_by_netconform: false,
        }
    }
}

impl Capabilities {
    /// Nothing detected (no target): every need is unmet.
    pub fn none() -> Capabilities {
        let absent = Detected {
            present: false,
            evidence: "no target".into(),
        };
        Capabilities {
            target: None,
            server_version: "unknown".into(),
            nodes: Vec::new(),
            families: BTreeSet::new(),
            service_cidr_api: false,
            default_service_cidrs: None,
            free_ipv4_service_addresses: None,
            load_balancer: absent.clone(),
            network_policy: absent.clone(),
            pod_dns_records: absent.clone(),
            external_client: absent,
        }
    }

    /// `["IPv4", "IPv6"]`, for the report.
    pub fn family_names(&self) -> Vec<String> {
        self.families
            .iter()
            .map(|f| f.as_str().to_string())
            .collect()
    }

    /// `None` if `need` is met, else a one-line reason (the trial's skip reason).
    pub fn unmet(
        &self,
        need: Need,
        settings: &Settings,
        target: impl Into<TargetFacts>,
    ) -> Option<String> {
        let target: TargetFacts = target.into();
        match need {
            Need::DualStack => self.unmet_dual_stack(),
            Need::SingleStack => self.unmet_dual_stack().is_none().then(|| {
                "the claim is about a single-stack cluster and this cluster is configured dual-stack (run it on a single-stack one, e.g. NETCONFORM_KIND_CONFIG=ipv4)".to_string()
            }),
            Need::Ipv4 => self.unmet_family(IpFamily::IPv4),
            Need::Ipv6 => self.unmet_family(IpFamily::IPv6),
            Need::ServiceCidrApi => (!self.service_cidr_api).then(|| {
                let version = &self.server_version;
                format!("networking.k8s.io/v1 servicecidrs is not served (ServiceCIDR is GA from Kubernetes v1.33; the server is {version})")
            }),
            Need::LoadBalancer => toggled(settings.load_balancer, "NETCONFORM_LOAD_BALANCER", "a LoadBalancer controller", &self.load_balancer),
            Need::NetworkPolicy => toggled(settings.network_policy, "NETCONFORM_NETWORK_POLICY", "NetworkPolicy enforcement", &self.network_policy),
            Need::Disruptive => {
                // The test double is started by this run and thrown away after it, like a kind cluster we created.
                let disposable = target.made_by_netconform || target.kind == Some(TargetKind::Simulated);
                (!disposable && !settings.allow_disruptive).then(|| {
                    "disruptive trial (it changes cluster-wide state) on a cluster netconform did not create; set NETCONFORM_ALLOW_DISRUPTIVE=1 to run it".to_string()
                })
            }
            Need::SmallServiceRange => self.unmet_small_service_range(),
            Need::ServiceAllocatorAlone => None,
            Need::SchedulableNodes(n) => self.unmet_schedulable_nodes(n),
            Need::DocImage(image, part) => settings.images.stand_in_without(image, part).map(|stand_in| {
                format!("the claim is about {image}'s own {part}, and NETCONFORM_IMAGES runs a stand-in for it: {stand_in}")
            }),
            Need::PodDnsRecords => (!self.pod_dns_records.present).then(|| {
                format!("the cluster DNS serves no pod records: {}", self.pod_dns_records.evidence)
            }),
            Need::ExternalClient => (!self.external_client.present).then(|| {
                format!("no client outside the cluster: {}", self.external_client.evidence)
            }),
            Need::ServiceAddresses(n) => self.free_ipv4_service_addresses.filter(|free| u64::from(n) > *free).map(|free| {
                format!("the trial holds {n} IPv4 service addresses at once; the default service range has {free} free")
            }),
        }
    }

    fn unmet_schedulable_nodes(&self, wanted: u8) -> Option<String> {
        let schedulable: Vec<&str> = self
            .nodes
            .iter()
            .filter(|n| n.schedulable)
            .map(|n| n.name.as_str())
            .collect();
        (schedulable.len() < usize::from(wanted)).then(|| {
            format!(
                "the trial places pods on {wanted} different nodes; the cluster has {} schedulable node(s) [{}] (cordoned or NoSchedule/NoExecute-tainted nodes do not count)",
                schedulable.len(),
                schedulable.join(", ")
            )
        })
    }

    fn unmet_small_service_range(&self) -> Option<String> {
        let Some(cidrs) = &self.default_service_cidrs else {
            return Some("the default ServiceCIDR \"kubernetes\" was not found, so the service range is unknown".into());
        };
        let Some(v4) = cidrs.iter().find_map(|c| match c.parse::<ipnet::IpNet>() {
            Ok(ipnet::IpNet::V4(v4)) => Some(v4),
            _ => None,
        }) else {
            return Some(format!(
                "the default ServiceCIDR \"kubernetes\" has no IPv4 range (cidrs [{}])",
                cidrs.join(", ")
            ));
        };
        let addresses = (1u64 << (32 - u32::from(v4.prefix_len()))).saturating_sub(2);
        (addresses > MAX_EXHAUSTIBLE_ADDRESSES).then(|| {
            format!(
                "the IPv4 service range {v4} hands out {addresses} addresses; exhausting it would take as many Services \
                 (at most {MAX_EXHAUSTIBLE_ADDRESSES}, a /24; the docs' example and netconform's kind config use a /28)"
            )
        })
    }

    /// Same as [`Capabilities::unmet`] (the runner's name for it).
    /// Dual-stack is *configured* when the default ServiceCIDR or any node's pod ranges cover both families.
    /// On such a cluster a node or range that lacks a family is a failure the trials report, not a reason to
    /// skip them; only a cluster configured single-stack skips the dual-stack trials.
    fn unmet_dual_stack(&self) -> Option<String> {
        let both: BTreeSet<IpFamily> = [IpFamily::IPv4, IpFamily::IPv6].into();
        let service_families: Option<BTreeSet<IpFamily>> =
            self.default_service_cidrs.as_ref().map(|cidrs| {
                cidrs
                    .iter()
                    .filter_map(|c| family_of_cidr(c).ok())
                    .collect()
            });
        if service_families.as_ref() == Some(&both)
            || self.nodes.iter().any(|n| n.families() == both)
        {
            return None;
        }
        let Some(node) = self.nodes.first() else {
            return Some("the cluster has no nodes".into());
        };
        let services = match (&self.default_service_cidrs, &service_families) {
            (Some(cidrs), Some(families)) => format!(
                "; the default ServiceCIDR \"kubernetes\" is {} with cidrs [{}]",
                describe_families(families),
                cidrs.join(", ")
            ),
            _ => String::new(),
        };
        Some(format!(
            "cluster is single-stack ({}): node {} {}{services}",
            describe_families(&node.families()),
            node.name,
            node.evidence()
        ))
    }

    fn unmet_family(&self, family: IpFamily) -> Option<String> {
        if self.nodes.is_empty() {
            return Some("the cluster has no nodes".into());
        }
        let node = self
            .nodes
            .iter()
            .find(|n| !n.families().contains(&family))?;
        Some(format!(
            "cluster has no {} on every node: node {} {}",
            family.as_str(),
            node.name,
            node.evidence()
        ))
    }
}

fn describe_families(families: &BTreeSet<IpFamily>) -> String {
    match families.iter().collect::<Vec<_>>().as_slice() {
        [] => "no IP family".to_string(),
        [one] => format!("{} only", one.as_str()),
        _ => "IPv4 and IPv6".to_string(),
    }
}

fn toggled(setting: Toggle, variable: &str, what: &str, detected: &Detected) -> Option<String> {
    match setting {
        Toggle::Yes => None,
        Toggle::No => Some(format!("{what} declared absent ({variable}=no)")),
        Toggle::Auto if detected.present => None,
        Toggle::Auto => Some(format!(
            "no evidence of {what}: {}; set {variable}=yes if the cluster has it",
            detected.evidence
        )),
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::apps::v1::DaemonSet;
    use k8s_openapi::api::core::v1::{ConfigMap, Node, Service};

    use super::*;

    fn node(json: serde_json::Value) -> NodeInfo {
        node_info(&serde_json::from_value::<Node>(json).unwrap())
    }

    fn dual(name: &str, n: u8) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {"podCIDR": format!("10.244.{n}.0/24"), "podCIDRs": [format!("10.244.{n}.0/24"), format!("fd00:10:244:{n}::/64")]},
            "status": {"addresses": [
                {"type": "InternalIP", "address": format!("172.18.0.{n}")},
                {"type": "InternalIP", "address": format!("fc00:f853:ccd:e793::{n}")},
                {"type": "Hostname", "address": name}
            ]}
        })
    }

    #[test]
    fn schedulable_nodes_leave_out_cordoned_and_tainted_ones() {
        let mut control_plane = dual("cp", 1);
        control_plane["spec"]["taints"] = serde_json::json!([
            {"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}
        ]);
        let mut cordoned = dual("cordoned", 3);
        cordoned["spec"]["unschedulable"] = serde_json::json!(true);
        let mut soft = dual("soft", 4);
        soft["spec"]["taints"] = serde_json::json!([{"key": "x", "effect": "PreferNoSchedule"}]);
        let nodes = vec![
            node(control_plane),
            node(dual("worker", 2)),
            node(cordoned),
            node(soft),
        ];
        let ready: Vec<&str> = nodes
            .iter()
            .filter(|n| n.schedulable)
            .map(|n| n.name.as_str())
            .collect();
        assert_eq!(ready, ["worker", "soft"]);
        let c = caps(nodes);
        let s = Settings::default();
        assert_eq!(
            c.unmet(Need::SchedulableNodes(2), &s, TargetKind::Kind),
            None
        );
        let reason = c
            .unmet(Need::SchedulableNodes(3), &s, TargetKind::Kind)
            .unwrap();
        assert!(
            reason.contains("3 different nodes")
                && reason.contains("2 schedulable node(s) [worker, soft]"),
            "{reason}"
        );
    }

    fn ipv4_only(name: &str, n: u8) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {"podCIDR": format!("10.244.{n}.0/24"), "podCIDRs": [format!("10.244.{n}.0/24")]},
            "status": {"addresses": [{"type": "InternalIP", "address": format!("172.18.0.{n}")}]}
        })
    }

    fn ipv6_only(name: &str) -> serde_json::Value {
        serde_json::json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": name},
            "spec": {"podCIDR": "fd00:10:244:1::/64", "podCIDRs": ["fd00:10:244:1::/64"]},
            "status": {"addresses": [{"type": "InternalIP", "address": "fc00::2"}]}
        })
    }

    fn caps(nodes: Vec<NodeInfo>) -> Capabilities {
        Capabilities {
            target: Some(TargetKind::Kind),
            server_version: "v1.37.0".into(),
            families: cluster_families(&nodes),
            nodes,
            service_cidr_api: true,
            default_service_cidrs: Some(vec!["10.96.0.0/28".into(), "fd00:10:96::/112".into()]),
            free_ipv4_service_addresses: Some(12),
            load_balancer: Detected {
                present: false,
                evidence: "no LoadBalancer service has an ingress address".into(),
            },
            pod_dns_records: Detected {
                present: true,
                evidence: "pods insecure".into(),
            },
            external_client: Detected {
                present: true,
                evidence: "kind".into(),
            },
            network_policy: Detected {
                present: false,
                evidence: "none".into(),
            },
        }
    }

    const OURS: TargetFacts = TargetFacts {
        kind: Some(TargetKind::Kind),
        made_by_netconform: true,
    };
    const THEIRS: TargetFacts = TargetFacts {
        kind: Some(TargetKind::Existing),
        made_by_netconform: false,
    };

    #[test]
    fn dual_stack_cluster_meets_family_needs() {
        let c = caps(vec![
            node(dual("netconform-control-plane", 1)),
            node(dual("netconform-worker", 2)),
        ]);
        assert_eq!(c.family_names(), vec!["IPv4", "IPv6"]);
        let s = Settings::default();
        for need in [
            Need::DualStack,
            Need::Ipv4,
            Need::Ipv6,
            Need::ServiceCidrApi,
            Need::Disruptive,
        ] {
            assert_eq!(c.unmet(need, &s, OURS), None, "{need:?}");
        }
        assert_eq!(
            c.nodes[0].internal_ips,
            vec!["172.18.0.1", "fc00:f853:ccd:e793::1"]
        );
    }

    #[test]
    fn ipv4_only_cluster_is_single_stack_with_the_node_named() {
        let mut c = caps(vec![
            node(ipv4_only("netconform-control-plane", 0)),
            node(ipv4_only("netconform-worker", 1)),
        ]);
        c.default_service_cidrs = Some(vec!["10.96.0.0/28".into()]);
        let s = Settings::default();
        assert_eq!(
            c.unmet(Need::DualStack, &s, OURS).unwrap(),
            "cluster is single-stack (IPv4 only): node netconform-control-plane has podCIDRs [10.244.0.0/24]; the default ServiceCIDR \"kubernetes\" is IPv4 only with cidrs [10.96.0.0/28]"
        );
        assert_eq!(c.unmet(Need::Ipv4, &s, OURS), None);
        assert!(
            c.unmet(Need::Ipv6, &s, OURS)
                .unwrap()
                .starts_with("cluster has no IPv6 on every node: node netconform-control-plane")
        );
        assert_eq!(c.unmet(Need::SingleStack, &s, OURS), None);
    }

    #[test]
    fn a_dual_stack_cluster_skips_the_single_stack_claims() {
        let mut c = caps(vec![node(dual("netconform-control-plane", 0))]);
        c.default_service_cidrs = Some(vec!["10.96.0.0/28".into(), "fd00:10:96::/112".into()]);
        let reason = c
            .unmet(Need::SingleStack, &Settings::default(), OURS)
            .unwrap();
        assert!(reason.contains("configured dual-stack"), "{reason}");
    }

    #[test]
    fn ipv6_only_and_mixed_clusters() {
        let mut c = caps(vec![node(ipv6_only("v6"))]);
        c.default_service_cidrs = None;
        let s = Settings::default();
        assert_eq!(
            c.unmet(Need::DualStack, &s, OURS).unwrap(),
            "cluster is single-stack (IPv6 only): node v6 has podCIDRs [fd00:10:244:1::/64]"
        );
        assert!(c.unmet(Need::Ipv4, &s, OURS).is_some());
        assert_eq!(c.unmet(Need::Ipv6, &s, OURS), None);

        let mixed = caps(vec![
            node(dual("a", 1)),
            node(ipv4_only("netconform-worker", 2)),
        ]);
        assert_eq!(mixed.family_names(), vec!["IPv4"]);
        // Configured dual-stack (node a) with one node lacking IPv6: the trials run and report the node.
        assert_eq!(mixed.unmet(Need::DualStack, &s, OURS), None);
    }

    #[test]
    fn nodes_without_pod_cidrs_use_internal_ips() {
        let n = node(serde_json::json!({
            "apiVersion": "v1", "kind": "Node", "metadata": {"name": "n"}, "spec": {},
            "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.5"}, {"type": "InternalIP", "address": "2001:db8::5"}]}
        }));
        assert_eq!(n.families(), [IpFamily::IPv4, IpFamily::IPv6].into());
        let single = node(
            serde_json::json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "s"}, "spec": {}, "status": {"addresses": [{"type": "InternalIP", "address": "10.0.0.6"}]}}),
        );
        assert_eq!(
            single.evidence(),
            "has no podCIDRs and InternalIPs [10.0.0.6]"
        );
    }

    #[test]
    fn free_ipv4_addresses_count_the_range_less_reserved_and_taken() {
        let cidrs = vec!["10.96.0.0/28".to_string(), "fd00:10:96::/112".to_string()];
        let taken = ["10.96.0.1", "10.96.0.10", "fd00:10:96::1", "10.96.1.5"].map(String::from);
        assert_eq!(free_ipv4_addresses(&cidrs, &taken), Some(12));
        assert_eq!(free_ipv4_addresses(&cidrs[1..], &taken), None);
        let mut c = caps(vec![node(dual("a", 1))]);
        c.free_ipv4_service_addresses = Some(1);
        assert!(
            c.unmet(Need::ServiceAddresses(2), &Settings::default(), OURS)
                .unwrap()
                .contains("1 free")
        );
        assert_eq!(
            c.unmet(Need::ServiceAddresses(1), &Settings::default(), OURS),
            None
        );
    }

    #[test]
    fn dual_stack_is_configured_by_the_service_range_or_any_node() {
        let mut c = caps(vec![node(ipv4_only("a", 1))]);
        c.default_service_cidrs = Some(vec!["10.96.0.0/16".into()]);
        assert_eq!(
            c.unmet(Need::DualStack, &Settings::default(), OURS)
                .unwrap(),
            "cluster is single-stack (IPv4 only): node a has podCIDRs [10.244.1.0/24]; the default ServiceCIDR \"kubernetes\" is IPv4 only with cidrs [10.96.0.0/16]"
        );
        // Services dual-stack, nodes not: configured dual-stack, so node trials run and fail.
        c.default_service_cidrs = Some(vec!["10.96.0.0/16".into(), "fd00:10:96::/112".into()]);
        assert_eq!(c.unmet(Need::DualStack, &Settings::default(), OURS), None);
    }

    #[test]
    fn small_service_range_is_the_default_servicecidrs_ipv4_range() {
        let mut c = caps(vec![node(dual("a", 1))]);
        let s = Settings::default();
        assert_eq!(
            c.unmet(Need::SmallServiceRange, &s, OURS),
            None,
            "the docs' /28"
        );
        c.default_service_cidrs = Some(vec!["fd00:10:96::/112".into(), "10.96.0.0/24".into()]);
        assert_eq!(
            c.unmet(Need::SmallServiceRange, &s, OURS),
            None,
            "a /24 is the largest"
        );
        c.default_service_cidrs = Some(vec!["10.96.0.0/16".into()]);
        let reason = c.unmet(Need::SmallServiceRange, &s, OURS).unwrap();
        assert!(
            reason.starts_with("the IPv4 service range 10.96.0.0/16 hands out 65534 addresses"),
            "{reason}"
        );
        c.default_service_cidrs = Some(vec!["fd00:10:96::/112".into()]);
        assert!(
            c.unmet(Need::SmallServiceRange, &s, OURS)
                .unwrap()
                .contains("no IPv4 range")
        );
        c.default_service_cidrs = None;
        assert!(c.unmet(Need::SmallServiceRange, &s, OURS).is_some());
    }

    #[test]
    fn no_nodes_and_no_target() {
        let none = Capabilities::none();
        let facts = TargetFacts {
            kind: None,
            made_by_netconform: false,
        };
        assert_eq!(
            none.unmet(Need::DualStack, &Settings::default(), facts)
                .unwrap(),
            "the cluster has no nodes"
        );
        assert!(
            none.unmet(Need::ServiceCidrApi, &Settings::default(), facts)
                .unwrap()
                .contains("server is unknown")
        );
    }

    #[test]
    fn disruptive_needs_our_cluster_or_permission() {
        let c = caps(vec![node(dual("a", 1))]);
        let mut s = Settings::default();
        assert!(
            c.unmet(Need::Disruptive, &s, THEIRS)
                .unwrap()
                .contains("NETCONFORM_ALLOW_DISRUPTIVE=1")
        );
        let reused_kind = TargetFacts {
            kind: Some(TargetKind::Kind),
            made_by_netconform: false,
        };
        assert!(c.unmet(Need::Disruptive, &s, reused_kind).is_some());
        // A cluster an earlier run created and kept, reached as kind or through the kubeconfig it exported.
        for kind in [TargetKind::Kind, TargetKind::Existing] {
            let kept = TargetFacts {
                kind: Some(kind),
                made_by_netconform: true,
            };
            assert_eq!(c.unmet(Need::Disruptive, &s, kept), None, "{kind}");
        }
        let sim = TargetFacts {
            kind: Some(TargetKind::Simulated),
            made_by_netconform: false,
        };
        assert_eq!(c.unmet(Need::Disruptive, &s, sim), None);
        s.allow_disruptive = true;
        assert_eq!(c.unmet(Need::Disruptive, &s, THEIRS), None);
    }

    #[cfg(feature = "double")]
    #[tokio::test]
    async fn detects_the_double() {
        let double = netconform_double::Double::start(netconform_double::DoubleConfig::default())
            .await
            .unwrap();
        let client = crate::cluster::kubeconfig::connect_yaml(&double.kubeconfig_yaml(), "double")
            .await
            .unwrap()
            .client;
        let caps = detect(&client, &TargetKind::Simulated).await.unwrap();
        assert_eq!(
            caps.server_version,
            netconform_double::DEFAULT_SERVER_VERSION
        );
        assert!(
            caps.service_cidr_api,
            "the double serves networking.k8s.io/v1 servicecidrs"
        );
        assert_eq!(caps.target, Some(TargetKind::Simulated));
        // The double seeds kind's kindnet DaemonSet, whose kindnetd enforces NetworkPolicy.
        assert!(caps.network_policy.present, "{:?}", caps.network_policy);
        assert!(
            caps.network_policy
                .evidence
                .starts_with("daemonset kube-system/kindnet: kindnetd v20260820-69b56db7"),
            "{:?}",
            caps.network_policy
        );
        double.shutdown().await;
    }

    /// kubeadm's Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go, v1.37.2) as kind installs it.
    const KUBEADM_COREFILE: &str = ".:53 {
    errors
    health {
       lameduck 5s
    }
    ready
    kubernetes cluster.local in-addr.arpa ip6.arpa {
       pods insecure
       fallthrough in-addr.arpa ip6.arpa
       ttl 30
    }
    prometheus :9153
    forward . /etc/resolv.conf {
       max_concurrent 1000
    }
    cache 30 {
       disable success cluster.local
       disable denial cluster.local
    }
    loop
    reload
    loadbalance
}
";

    #[test]
    fn corefile_pods_mode_and_evidence() {
        assert_eq!(
            corefile_pods_mode(KUBEADM_COREFILE).as_deref(),
            Some("insecure")
        );
        let verified = KUBEADM_COREFILE.replace("pods insecure", "pods verified");
        assert_eq!(corefile_pods_mode(&verified).as_deref(), Some("verified"));
        let without = KUBEADM_COREFILE.replace("       pods insecure\n", "");
        assert_eq!(corefile_pods_mode(&without).as_deref(), Some("disabled"));
        // `pods` of another plugin block does not count
        let elsewhere =
            without.replace("    ready\n", "    ready {\n       pods insecure\n    }\n");
        assert_eq!(corefile_pods_mode(&elsewhere).as_deref(), Some("disabled"));
        assert_eq!(
            corefile_pods_mode(".:53 {\n    forward . 8.8.8.8\n}\n"),
            None
        );
        let config = |corefile: &str| ConfigMap {
            data: Some([("Corefile".to_string(), corefile.to_string())].into()),
            ..ConfigMap::default()
        };
        assert!(pod_dns_records_evidence(Ok(Some(&config(KUBEADM_COREFILE)))).present);
        let disabled = pod_dns_records_evidence(Ok(Some(&config(&without))));
        assert!(!disabled.present);
        assert!(
            disabled.evidence.contains("pods disabled"),
            "{}",
            disabled.evidence
        );
        assert!(!pod_dns_records_evidence(Ok(None)).present);
    }

    #[test]
    fn load_balancer_and_network_policy_evidence_and_overrides() {
        let pending: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "pending", "namespace": "a"}, "spec": {"type": "LoadBalancer"}, "status": {"loadBalancer": {}}
        }))
        .unwrap();
        let served: Service = serde_json::from_value(serde_json::json!({
            "metadata": {"name": "web", "namespace": "b"}, "spec": {"type": "LoadBalancer"},
            "status": {"loadBalancer": {"ingress": [{"ip": "172.18.0.100"}]}}
        }))
        .unwrap();
        assert!(!load_balancer_evidence(Some(std::slice::from_ref(&pending))).present);
        let found = load_balancer_evidence(Some(&[pending, served]));
        assert_eq!(
            found,
            Detected {
                present: true,
                evidence: "LoadBalancer service b/web has an ingress address".into()
            }
        );
        assert!(!load_balancer_evidence(None).present);

        let ds = |name: &str| -> DaemonSet {
            serde_json::from_value(
                serde_json::json!({"metadata": {"name": name, "namespace": "kube-system"}}),
            )
            .unwrap()
        };
        assert!(network_policy_evidence(Some(&[ds("kube-proxy"), ds("calico-node")])).present);
        let kube_router = |args: &[&str]| -> DaemonSet {
            serde_json::from_value(serde_json::json!({
                "metadata": {"name": "kube-router", "namespace": "kube-system"},
                "spec": {"selector": {"matchLabels": {"k8s-app": "kube-router"}}, "template": {"spec": {"containers": [
                    {"name": "kube-router", "image": "kube-router", "args": args}]}}}
            }))
            .unwrap()
        };
        // The testbed's firewall-only kube-router (testbed/manifests/kube-router.yaml), and one without it.
        let firewall_only = [
            "--run-firewall=true",
            "--run-router=false",
            "--run-service-proxy=false",
        ];
        assert!(network_policy_evidence(Some(&[kube_router(&firewall_only)])).present);
        let no_firewall = network_policy_evidence(Some(&[kube_router(&[
            "--run-firewall=false",
            "--run-router=true",
        ])]));
        assert!(
            !no_firewall.present && no_firewall.evidence.contains("--run-firewall=false"),
            "{no_firewall:?}"
        );
        let kindnet = network_policy_evidence(Some(&[ds("kube-proxy"), ds("kindnet")]));
        assert!(
            !kindnet.present && kindnet.evidence.contains("run no kindnetd image"),
            "{kindnet:?}"
        );

        let mut c = caps(vec![node(dual("a", 1))]);
        c.network_policy = kindnet;
        let mut s = Settings::default();
        let reason = c.unmet(Need::NetworkPolicy, &s, THEIRS).unwrap();
        assert!(
            reason.starts_with("no evidence of NetworkPolicy enforcement: ")
                && reason.ends_with("set NETCONFORM_NETWORK_POLICY=yes if the cluster has it"),
            "{reason}"
        );
        s.network_policy = Toggle::Yes;
        assert_eq!(c.unmet(Need::NetworkPolicy, &s, THEIRS), None);
        s.load_balancer = Toggle::No;
        c.load_balancer.present = true;
        assert_eq!(
            c.unmet(Need::LoadBalancer, &s, THEIRS).unwrap(),
            "a LoadBalancer controller declared absent (NETCONFORM_LOAD_BALANCER=no)"
        );
    }

    fn kindnet(image: &str, args: &[&str]) -> DaemonSet {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "kindnet", "namespace": "kube-system"},
            "spec": {"selector": {"matchLabels": {"app": "kindnet"}}, "template": {"spec": {"containers": [
                {"name": "kindnet-cni", "image": image, "args": args}]}}}
        }))
        .unwrap()
    }

    #[test]
    fn kindnet_enforces_network_policy_from_kind_v0_24() {
        // kind v0.33 / kindest/node v1.37.
        let current = network_policy_evidence(Some(&[kindnet(
            "docker.io/kindest/kindnetd:v20260820-69b56db7",
            &[],
        )]));
        assert!(current.present, "{current:?}");
        assert!(
            current.evidence.starts_with(
                "daemonset kube-system/kindnet: kindnetd v20260820-69b56db7 embeds kube-network-policies"
            ),
            "{current:?}"
        );
        // kind v0.24.0's kindnetd, the first release with it; kind v0.23.0's did not have it.
        assert!(
            network_policy_evidence(Some(&[kindnet(
                "docker.io/kindest/kindnetd:v20240813-c6f155d6@sha256:abc",
                &[]
            )]))
            .present
        );
        let old = network_policy_evidence(Some(&[kindnet(
            "docker.io/kindest/kindnetd:v20240513-cd2ac642",
            &[],
        )]));
        assert!(
            !old.present && old.evidence.contains("predates kube-network-policies"),
            "{old:?}"
        );
        let off = network_policy_evidence(Some(&[kindnet(
            "docker.io/kindest/kindnetd:v20260820-69b56db7",
            &["--network-policy=false"],
        )]));
        assert!(
            !off.present && off.evidence.contains("--network-policy=false"),
            "{off:?}"
        );
        assert!(
            network_policy_evidence(Some(&[kindnet("ghcr.io/aojea/kindnetd:v1.8.5", &[])])).present
        );
        let unknown =
            network_policy_evidence(Some(&[kindnet("ghcr.io/aojea/kindnetd:stable", &[])]));
        assert!(
            !unknown.present && unknown.evidence.contains("not one netconform knows"),
            "{unknown:?}"
        );
    }
}
