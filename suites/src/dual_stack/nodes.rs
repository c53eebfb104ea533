//! Node addressing: `.spec.podCIDRs` (node IPAM of kube-controller-manager, `--cluster-cidr` with one range
//! per family and `--node-cidr-mask-size-ipv4|ipv6`) and the InternalIPs the kubelet reports
//! (`--node-ip` with an address of each family).
//! upstream: pkg/controller/nodeipam/ipam/range_allocator.go (one CIDR per cluster CIDR, i.e. per family);
//! test/e2e/network/dual_stack.go "should have ipv4 and ipv6 internal node ip" (two InternalIPs of different
//! families); pkg/apis/core/validation `ValidateNode` (at most one podCIDR per family).

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::{check_dual_stack_pair, check_node_pod_cidrs};
use netconform::preflight::{NodeInfo, node_info};

use crate::doc::DocFile;
use crate::doc_file;
use crate::shared::nodes::list_nodes;

const DOC_PODCIDRS: DocFile = doc_file!("doc-outputs/validate-dual-stack/node-podcidrs.txt");
const DOC_ADDRESSES: DocFile = doc_file!("doc-outputs/validate-dual-stack/node-addresses.txt");

/// Checks `values_of` for every node; fails naming each node that does not hold an IPv4 and an IPv6 value.
async fn every_node(
    ctx: &Ctx,
    what: &str,
    doc: &DocFile,
    values_of: fn(&NodeInfo) -> &Vec<String>,
    check: fn(&[&str]) -> Result<(), String>,
) -> Result<(), TrialError> {
    let nodes: Vec<NodeInfo> = list_nodes(ctx).await?.iter().map(node_info).collect();
    if nodes.is_empty() {
        return Err(TrialError::Mismatch {
            what: what.into(),
            expected: "at least one node".into(),
            observed: "no nodes".into(),
        });
    }
    let mut observed = Vec::new();
    let mut failed = false;
    for node in &nodes {
        let values: Vec<&str> = values_of(node).iter().map(String::as_str).collect();
        let verdict = match check(&values) {
            Ok(()) => "ok".to_string(),
            Err(e) => {
                failed = true;
                e
            }
        };
        observed.push(format!(
            "{}: [{}] ({verdict})",
            node.name,
            values.join(", ")
        ));
    }
    if !failed {
        return Ok(());
    }
    Err(TrialError::Mismatch {
        what: what.into(),
        expected: format!(
            "one IPv4 and one IPv6 value on every node\n\n{}",
            doc.excerpt()
        ),
        observed: observed.join("\n"),
    })
}

pub(crate) async fn pod_cidrs_both_families(ctx: Ctx) -> Result<(), TrialError> {
    every_node(
        &ctx,
        "spec.podCIDRs of every node (`kubectl get nodes NODE -o go-template --template='{{range .spec.podCIDRs}}{{printf \"%s\\n\" .}}{{end}}'`)",
        &DOC_PODCIDRS,
        |n| &n.pod_cidrs,
        |cidrs| check_node_pod_cidrs(cidrs).map(|_| ()).map_err(|e| e.to_string()),
    )
    .await
}

pub(crate) async fn internal_ips_both_families(ctx: Ctx) -> Result<(), TrialError> {
    every_node(
        &ctx,
        "InternalIP addresses of every node (`kubectl get nodes NODE -o go-template --template='{{range .status.addresses}}{{printf \"%s: %s\\n\" .type .address}}{{end}}'`)",
        &DOC_ADDRESSES,
        |n| &n.internal_ips,
        |ips| check_dual_stack_pair(ips).map(|_| ()).map_err(|e| e.to_string()),
    )
    .await
}
