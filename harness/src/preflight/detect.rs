//! Detection: the handful of list and get requests that find what the target can do, and what a node offers
//! (its addresses, pod CIDRs and whether pods schedule on it).

use std::collections::BTreeSet;

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Node, Service};
use k8s_openapi::api::networking::v1::{IPAddress, ServiceCIDR};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use crate::cluster::TargetKind;
use crate::error::HarnessError;
use crate::ipfamily::{IpFamily, family_of_cidr, family_of_ip};
use crate::retry::retrying;

use super::Capabilities;
use super::evidence::{
    COREDNS_CONFIG, load_balancer_evidence, network_policy_evidence, pod_dns_records_evidence,
};

/// One node's addressing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    pub name: String,
    /// `spec.podCIDRs` (or the legacy `spec.podCIDR`).
    pub pod_cidrs: Vec<String>,
    /// `status.addresses` of type InternalIP.
    pub internal_ips: Vec<String>,
    /// Takes ordinary pods: see [`is_schedulable`].
    pub schedulable: bool,
}

impl NodeInfo {
    /// The node's families: from its podCIDRs, or from its InternalIPs when the network plugin does not use
    /// node podCIDRs. Unparsable values are ignored (they are reported by the trials that read them).
    pub fn families(&self) -> BTreeSet<IpFamily> {
        let from_cidrs: BTreeSet<IpFamily> = self
            .pod_cidrs
            .iter()
            .filter_map(|c| family_of_cidr(c).ok())
            .collect();
        if !from_cidrs.is_empty() {
            return from_cidrs;
        }
        self.internal_ips
            .iter()
            .filter_map(|ip| family_of_ip(ip).ok())
            .collect()
    }

    /// `has podCIDRs [10.244.1.0/24]` (or its InternalIPs when it has no podCIDRs), for skip reasons.
    pub fn evidence(&self) -> String {
        if self.pod_cidrs.is_empty() {
            format!(
                "has no podCIDRs and InternalIPs [{}]",
                self.internal_ips.join(", ")
            )
        } else {
            format!("has podCIDRs [{}]", self.pod_cidrs.join(", "))
        }
    }
}

/// Detects the target's capabilities (a handful of list/get requests).
pub async fn detect(client: &Client, target: &TargetKind) -> Result<Capabilities, HarnessError> {
    let server_version = retrying(|| client.apiserver_version())
        .await
        .map_err(|e| HarnessError::api("reading /version", &e))?
        .git_version;
    let all = ListParams::default();
    let nodes_api = Api::<Node>::all(client.clone());
    let nodes: Vec<NodeInfo> = retrying(|| nodes_api.list(&all))
        .await
        .map_err(|e| HarnessError::api("listing nodes", &e))?
        .items
        .iter()
        .map(node_info)
        .collect();
    let service_cidr_api = serves(client, "networking.k8s.io/v1", "servicecidrs").await?;
    let (default_service_cidrs, free_ipv4_service_addresses) = if service_cidr_api {
        let cidrs_api = Api::<ServiceCIDR>::all(client.clone());
        let cidrs = retrying(|| cidrs_api.get_opt("kubernetes"))
            .await
            .map_err(|e| HarnessError::api("reading servicecidr kubernetes", &e))?
            .and_then(|s| s.spec)
            .and_then(|s| s.cidrs);
        let addresses_api = Api::<IPAddress>::all(client.clone());
        let taken: Vec<String> = retrying(|| addresses_api.list_metadata(&all))
            .await
            .map(|l| {
                l.items
                    .into_iter()
                    .filter_map(|a| a.metadata.name)
                    .collect()
            })
            .unwrap_or_default();
        let free = cidrs
            .as_deref()
            .and_then(|c| free_ipv4_addresses(c, &taken));
        (cidrs, free)
    } else {
        (None, None)
    };
    // Services and DaemonSets are only evidence: a forbidden or absent list means "no evidence", not an error.
    let services_api = Api::<Service>::all(client.clone());
    let services = retrying(|| services_api.list(&all))
        .await
        .map(|l| l.items)
        .ok();
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), COREDNS_CONFIG.0);
    let coredns = retrying(|| config_maps.get_opt(COREDNS_CONFIG.1)).await;
    let daemonsets_api = Api::<DaemonSet>::all(client.clone());
    let daemonsets = retrying(|| daemonsets_api.list(&all))
        .await
        .map(|l| l.items)
        .ok();
    Ok(Capabilities {
        target: Some(*target),
        server_version,
        families: cluster_families(&nodes),
        nodes,
        service_cidr_api,
        default_service_cidrs,
        free_ipv4_service_addresses,
        load_balancer: load_balancer_evidence(services.as_deref()),
        network_policy: network_policy_evidence(daemonsets.as_deref()),
        pod_dns_records: pod_dns_records_evidence(coredns.as_ref().map(Option::as_ref)),
        external_client: crate::outside::evidence(*target),
    })
}

/// Free addresses of the IPv4 range in `cidrs`: its size less network and broadcast (upstream:
/// pkg/registry/core/service/ipallocator/bitmap.go reserves both) less the IPAddress objects inside it.
pub fn free_ipv4_addresses(cidrs: &[String], taken: &[String]) -> Option<u64> {
    let v4 = cidrs.iter().find_map(|c| match c.parse::<ipnet::IpNet>() {
        Ok(ipnet::IpNet::V4(v4)) => Some(v4),
        _ => None,
    })?;
    let size = (1u64 << (32 - u32::from(v4.prefix_len()))).saturating_sub(2);
    let inside = taken
        .iter()
        .filter_map(|t| t.parse::<std::net::Ipv4Addr>().ok())
        .filter(|ip| v4.contains(ip))
        .count();
    Some(size.saturating_sub(inside as u64))
}

/// Is `resource` served in `api_version`? (discovery; a 404 for the whole group/version means no).
async fn serves(client: &Client, api_version: &str, resource: &str) -> Result<bool, HarnessError> {
    match client.list_api_group_resources(api_version).await {
        Ok(list) => Ok(list.resources.iter().any(|r| r.name == resource)),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(false),
        Err(e) => Err(HarnessError::api(format!("discovering {api_version}"), &e)),
    }
}

pub fn node_info(node: &Node) -> NodeInfo {
    let spec = node.spec.as_ref();
    let mut pod_cidrs = spec.and_then(|s| s.pod_cidrs.clone()).unwrap_or_default();
    if pod_cidrs.is_empty()
        && let Some(single) = spec.and_then(|s| s.pod_cidr.clone())
    {
        pod_cidrs.push(single);
    }
    let internal_ips = node
        .status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .map(|addrs| {
            addrs
                .iter()
                .filter(|a| a.type_ == "InternalIP")
                .map(|a| a.address.clone())
                .collect()
        })
        .unwrap_or_default();
    NodeInfo {
        name: node.name_any(),
        pod_cidrs,
        internal_ips,
        schedulable: is_schedulable(node),
    }
}

/// Whether the scheduler places a pod without tolerations on `node`: not cordoned (`spec.unschedulable`)
/// and no `NoSchedule`/`NoExecute` taint (kind's control-plane node has `NoSchedule`).
pub fn is_schedulable(node: &Node) -> bool {
    let spec = node.spec.as_ref();
    let cordoned = spec.and_then(|s| s.unschedulable).unwrap_or(false);
    let tainted = spec.and_then(|s| s.taints.as_ref()).is_some_and(|taints| {
        taints
            .iter()
            .any(|t| t.effect == "NoSchedule" || t.effect == "NoExecute")
    });
    !cordoned && !tainted
}

/// Families every node has (empty when there are no nodes).
pub fn cluster_families(nodes: &[NodeInfo]) -> BTreeSet<IpFamily> {
    let mut iter = nodes.iter().map(NodeInfo::families);
    let Some(first) = iter.next() else {
        return BTreeSet::new();
    };
    iter.fold(first, |acc, f| acc.intersection(&f).copied().collect())
}
