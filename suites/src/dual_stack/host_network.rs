//! A hostNetwork pod's addresses: the kubelet reports the node's addresses as the pod's `status.podIPs`,
//! one of each family the node has ("if a Pod runs in HostNetwork mode on that node, it reports its IP
//! addresses in `.status.podIPs`; all podIPs of a node match the IP group of the node's `.status.addresses`").
//! upstream: pkg/kubelet/kubelet_pods.go `generateAPIPodStatus` (for a hostNetwork pod `PodIP` is the
//! first host IP and a second host IP of the other family is appended, kubernetes#105320), the host IPs
//! being the node's addresses chosen by `--node-ip` (pkg/kubelet/nodestatus/setters.go `NodeAddress`).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Node, Pod};
use kube::api::Api;
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip, parse_ip};
use netconform::retry::retrying;

use crate::pods::{from_json, pod_ips};
use crate::shared::probe::CLIENT_IMAGE;

const POD: &str = "hostnet";

fn host_network_pod() -> Result<Pod, TrialError> {
    from_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": {"name": POD},
        "spec": {
            "hostNetwork": true,
            // busybox's `sleep` as PID 1 ignores SIGTERM: no grace to wait out at cleanup.
            "terminationGracePeriodSeconds": 0,
            "containers": [{"name": POD, "image": CLIENT_IMAGE, "command": ["sleep", "3600"]}]
        }
    }))
}

/// The node's `.status.addresses` that are IP addresses (not host names).
fn node_addresses(node: &Node) -> Vec<String> {
    node.status
        .as_ref()
        .and_then(|s| s.addresses.as_ref())
        .into_iter()
        .flatten()
        .filter(|a| parse_ip(&a.address).is_ok())
        .map(|a| a.address.clone())
        .collect()
}

pub(crate) async fn pod_ips_match_node_addresses(ctx: Ctx) -> Result<(), TrialError> {
    ctx.create(&host_network_pod()?).await?;
    let pod = ctx.wait_pod_running(POD).await?;
    let node_name = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_default();
    let api: Api<Node> = Api::all(ctx.client());
    let node = retrying(|| api.get(&node_name))
        .await
        .map_err(TrialError::api(format!("reading node {node_name}")))?;
    let addresses = node_addresses(&node);
    let ips = pod_ips(&pod);
    ctx.log(format!(
        "pod {POD} on node {node_name}: status.podIPs [{}]; node .status.addresses [{}]",
        ips.join(", "),
        addresses.join(", ")
    ));
    let same =
        |a: &str, b: &str| parse_ip(a).ok().is_some() && parse_ip(a).ok() == parse_ip(b).ok();
    let foreign: Vec<&String> = ips
        .iter()
        .filter(|ip| !addresses.iter().any(|a| same(ip, a)))
        .collect();
    let have: BTreeSet<IpFamily> = ips.iter().filter_map(|ip| family_of_ip(ip).ok()).collect();
    // Each family the cluster's nodes have (on dual-stack both) must be among the pod's IPs.
    let families = &ctx.capabilities().families;
    let missing: Vec<&str> = families
        .iter()
        .filter(|f| !have.contains(f))
        .map(|f| f.as_str())
        .collect();
    let wanted: Vec<&str> = families.iter().map(|f| f.as_str()).collect();
    ensure(
        !ips.is_empty() && foreign.is_empty() && missing.is_empty(),
        &format!(
            "status.podIPs of the hostNetwork pod {POD} against .status.addresses of its node {node_name}"
        ),
        format!(
            "an address of each of the cluster's families ({}), each one of the node's addresses [{}]",
            wanted.join(", "),
            addresses.join(", ")
        ),
        format!(
            "[{}]{}{}",
            ips.join(", "),
            if foreign.is_empty() {
                String::new()
            } else {
                format!("; not the node's: {foreign:?}")
            },
            if missing.is_empty() {
                String::new()
            } else {
                format!("; no address of {}", missing.join(", "))
            }
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pod_is_on_the_host_network() {
        let v = serde_json::to_value(host_network_pod().unwrap()).unwrap();
        assert_eq!(v["spec"]["hostNetwork"], true);
    }

    #[test]
    fn only_ip_addresses_of_the_node_count() {
        let node: Node =
            serde_json::from_value(json!({"metadata": {"name": "w1"}, "status": {"addresses": [
                {"type": "InternalIP", "address": "172.18.0.2"},
                {"type": "InternalIP", "address": "fc00:f853:ccd:e793::2"},
                {"type": "Hostname", "address": "w1"}
            ]}}))
            .unwrap();
        assert_eq!(
            node_addresses(&node),
            ["172.18.0.2", "fc00:f853:ccd:e793::2"]
        );
    }
}
