//! A cluster netconform just created is not ready when `kind create cluster` returns: nodes join NotReady
//! until the CNI writes its config, carry the `node.kubernetes.io/not-ready` taint until the node lifecycle
//! controller removes it, and CoreDNS starts only then. Preflight and the first trials would otherwise see a
//! half-made cluster (pods Pending on tainted nodes, DNS lookups failing), so the harness waits, watch-driven
//! under a named budget, until every node is Ready without that taint and CoreDNS is available.

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::Node;
use kube::api::Api;
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::error::HarnessError;
use crate::wait::{Budget, Verdict, Wait, conditions};

/// Node join, CNI start and CoreDNS start on a fresh kind cluster; on 2 cores with three nodes they take
/// minutes, not seconds.
pub const CLUSTER_READY: Budget = Budget::new("cluster-ready", 300);

/// The taint the node lifecycle controller keeps on a node until it is Ready
/// (pkg/controller/nodelifecycle: `TaintNodeNotReady`).
const NOT_READY_TAINT: &str = "node.kubernetes.io/not-ready";

/// kubeadm's CoreDNS Deployment (cmd/kubeadm/app/phases/addons/dns/manifests.go: `coredns` in kube-system).
const COREDNS: (&str, &str) = ("kube-system", "coredns");

/// Whether a node is Ready (condition `Ready=True`) and free of the not-ready taint; the reason if not.
pub fn node_unready(node: &Node) -> Option<String> {
    let ready = node
        .status
        .as_ref()
        .and_then(|s| s.conditions.as_ref())
        .and_then(|c| c.iter().find(|c| c.type_ == "Ready"));
    match ready {
        Some(c) if c.status == "True" => {}
        Some(c) => {
            return Some(format!(
                "Ready={} ({})",
                c.status,
                c.reason.as_deref().unwrap_or("no reason")
            ));
        }
        None => return Some("no Ready condition yet".into()),
    }
    let tainted = node
        .spec
        .as_ref()
        .and_then(|s| s.taints.as_ref())
        .is_some_and(|t| t.iter().any(|t| t.key == NOT_READY_TAINT));
    tainted.then(|| format!("Ready but still tainted {NOT_READY_TAINT}"))
}

fn deployment_available(d: &Deployment) -> Result<(), String> {
    let want = d.spec.as_ref().and_then(|s| s.replicas).unwrap_or(1);
    let available = d
        .status
        .as_ref()
        .and_then(|s| s.available_replicas)
        .unwrap_or(0);
    if want >= 1 && available >= want {
        Ok(())
    } else {
        Err(format!("{available}/{want} replicas available"))
    }
}

/// Waits until every one of `expected_nodes` nodes is Ready and untainted, then until CoreDNS is available.
pub async fn wait_until_ready(
    client: &Client,
    expected_nodes: usize,
    scale: f64,
) -> Result<(), HarnessError> {
    let not_ready = |e: crate::failure::TrialError| {
        HarnessError::NotReady(crate::text::one_line(&e.to_string()))
    };
    let nodes: Api<Node> = Api::all(client.clone());
    let describe = |n: &Node| {
        format!(
            "node {}: {}",
            n.name_any(),
            node_unready(n).unwrap_or_else(|| "Ready".into())
        )
    };
    Wait::new(nodes, CLUSTER_READY, scale)
        .awaiting(format!(
            "{expected_nodes} nodes Ready without the {NOT_READY_TAINT} taint"
        ))
        .showing(describe)
        .until_all(watcher::Config::default(), |nodes: &[Node]| {
            if nodes.len() >= expected_nodes && nodes.iter().all(|n| node_unready(n).is_none()) {
                Verdict::Done
            } else {
                Verdict::Pending
            }
        })
        .await
        .map_err(not_ready)?;
    let (namespace, name) = COREDNS;
    let deployments: Api<Deployment> = Api::namespaced(client.clone(), namespace);
    Wait::new(deployments, CLUSTER_READY, scale)
        .awaiting("Deployment kube-system/coredns available")
        .showing(|d: &Deployment| match deployment_available(d) {
            Ok(()) => "available".into(),
            Err(why) => why,
        })
        .until(name, conditions::holds(|d| deployment_available(d).is_ok()))
        .await
        .map_err(not_ready)?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(ready: &str, tainted: bool) -> Node {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "n"},
            "spec": {"taints": if tainted { serde_json::json!([{"key": NOT_READY_TAINT, "effect": "NoSchedule"}]) } else { serde_json::json!([]) }},
            "status": {"conditions": [{"type": "Ready", "status": ready, "reason": "KubeletNotReady"}]}
        }))
        .unwrap()
    }

    #[test]
    fn a_node_is_ready_only_when_its_condition_is_true_and_the_taint_is_gone() {
        assert_eq!(
            node_unready(&node("False", true)).as_deref(),
            Some("Ready=False (KubeletNotReady)")
        );
        assert_eq!(
            node_unready(&node("True", true)).as_deref(),
            Some("Ready but still tainted node.kubernetes.io/not-ready")
        );
        assert_eq!(node_unready(&node("True", false)), None);
    }
}
