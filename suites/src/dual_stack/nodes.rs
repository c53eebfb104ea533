//! Node addressing: `.spec.podCIDRs` (node IPAM of kube-controller-manager, `--cluster-cidr` with one range
//! per family and `--node-cidr-mask-size-ipv4|ipv6`) and the InternalIPs the kubelet reports
//! (`--node-ip` with an address of each family).
//! upstream: pkg/controller/nodeipam/ipam/range_allocator.go (one CIDR per cluster CIDR, i.e. per family);
//! test/e2e/network/dual_stack.go "should have ipv4 and ipv6 internal node ip" (two InternalIPs of different
//! families); pkg/apis/core/validation `ValidateNode` (at most one podCIDR per family).

use ipnet::IpNet;
use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, ListParams};

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::{IpFamily, check_dual_stack_pair, check_node_pod_cidrs};
use netconform::preflight::{NodeInfo, node_info};
use netconform::retry::retrying;

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

/// Seed row [D2]: `.status.addresses` shows a `Hostname` entry (`Hostname: k8s-linuxpool1-34450317-0`, the
/// node's name) beside the InternalIPs. upstream: pkg/kubelet/nodestatus/setters.go `NodeAddress` (without a
/// cloud provider the kubelet reports its `--node-ip` addresses as InternalIPs and a `Hostname` entry with its
/// hostname); cmd/kubelet/app/server.go (`nodeutil.GetHostname(--hostname-override)`, and without a cloud
/// provider the node's name is that hostname).
pub(crate) async fn hostname_address(ctx: Ctx) -> Result<(), TrialError> {
    let nodes = list_nodes(&ctx).await?;
    let mut observed = Vec::new();
    let mut failed = nodes.is_empty();
    for node in &nodes {
        let name = node.metadata.name.clone().unwrap_or_default();
        let hostnames: Vec<String> = node
            .status
            .as_ref()
            .and_then(|s| s.addresses.as_ref())
            .map(|a| {
                a.iter()
                    .filter(|a| a.type_ == "Hostname")
                    .map(|a| a.address.clone())
                    .collect()
            })
            .unwrap_or_default();
        let ok = hostnames == [name.clone()];
        failed |= !ok;
        observed.push(format!(
            "{name}: Hostname [{}] ({})",
            hostnames.join(", "),
            if ok {
                "ok"
            } else {
                "not one entry with the node's name"
            }
        ));
    }
    if !failed {
        return Ok(());
    }
    Err(TrialError::Mismatch {
        what: "the Hostname address of every node (`kubectl get nodes NODE -o go-template --template='{{range .status.addresses}}{{printf \"%s: %s\\n\" .type .address}}{{end}}'`)".into(),
        expected: format!(
            "one `Hostname` entry per node, the node's name\n\n{}",
            DOC_ADDRESSES.excerpt()
        ),
        observed: if observed.is_empty() {
            "no nodes".into()
        } else {
            observed.join("\n")
        },
    })
}

/// kube-controller-manager's defaults: `defaultNodeMaskCIDRIPv4 = 24`, `defaultNodeMaskCIDRIPv6 = 64`
/// (cmd/kube-controller-manager/app/core.go).
const DEFAULT_MASK_IPV4: u8 = 24;
const DEFAULT_MASK_IPV6: u8 = 64;

/// The node mask size kube-controller-manager uses for `family`, given its command line: upstream
/// cmd/kube-controller-manager/app/core.go `setNodeCIDRMaskSizes` takes `--node-cidr-mask-size-ipv4|ipv6` when
/// set, else `--node-cidr-mask-size` (single-stack only; dual-stack refuses it), else the family's default.
/// Returns the size and where it comes from.
fn mask_size_for(args: &[String], family: IpFamily) -> (u8, String) {
    let flag = |name: &str| -> Option<u8> {
        let prefix = format!("--{name}=");
        args.iter()
            .rev()
            .find_map(|a| a.strip_prefix(&prefix))
            .and_then(|v| v.trim().parse().ok())
            .filter(|v: &u8| *v != 0)
    };
    let (specific, default) = match family {
        IpFamily::IPv4 => ("node-cidr-mask-size-ipv4", DEFAULT_MASK_IPV4),
        IpFamily::IPv6 => ("node-cidr-mask-size-ipv6", DEFAULT_MASK_IPV6),
    };
    if let Some(size) = flag(specific) {
        return (size, format!("--{specific}={size}"));
    }
    if let Some(size) = flag("node-cidr-mask-size") {
        return (size, format!("--node-cidr-mask-size={size}"));
    }
    (
        default,
        format!("the default for {family} (no mask size flag set)"),
    )
}

/// kube-controller-manager's command line, from its (kubeadm static) pod in kube-system, when there is one.
async fn controller_manager_args(ctx: &Ctx) -> Result<Option<(String, Vec<String>)>, TrialError> {
    let api: Api<Pod> = Api::namespaced(ctx.client(), "kube-system");
    let params = ListParams::default().labels("component=kube-controller-manager");
    let pods = retrying(|| api.list(&params))
        .await
        .map_err(TrialError::api(
            "listing kube-system pods labelled component=kube-controller-manager",
        ))?;
    Ok(pods.items.first().map(|pod| {
        let name = pod.metadata.name.clone().unwrap_or_default();
        let args = pod
            .spec
            .as_ref()
            .and_then(|s| s.containers.first())
            .map(|c| {
                let mut all = c.command.clone().unwrap_or_default();
                all.extend(c.args.clone().unwrap_or_default());
                all
            })
            .unwrap_or_default();
        (name, args)
    }))
}

/// Seed row [A2]: "`--node-cidr-mask-size-ipv4|--node-cidr-mask-size-ipv6`: /24 for IPv4 and /64 for IPv6
/// by default". Every node's podCIDR of `family` has kube-controller-manager's mask size for it: the default
/// unless its command line sets one (kind's sets none: upstream kind pkg/cluster/internal/kubeadm/config.go,
/// whose controllerManager extraArgs are `enable-hostpath-provisioner` and `bind-address`, the pod subnet going
/// to kubeadm's `networking.podSubnet`, i.e. `--cluster-cidr`).
/// upstream: pkg/controller/nodeipam/ipam/range_allocator.go (one CIDR of that size per cluster CIDR).
pub(crate) async fn pod_cidr_mask_size(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let (size, source) = match controller_manager_args(&ctx).await? {
        Some((pod, args)) => {
            let (size, from) = mask_size_for(&args, family);
            (size, format!("{from}; kube-controller-manager pod {pod}"))
        }
        None => {
            let (size, from) = mask_size_for(&[], family);
            (
                size,
                format!(
                    "{from}; no kube-controller-manager pod is visible, so its flags are unknown"
                ),
            )
        }
    };
    ctx.log(format!(
        "expected {family} node mask size: /{size} ({source})"
    ));
    let nodes = list_nodes(&ctx).await?;
    let mut observed = Vec::new();
    let mut failed = nodes.is_empty();
    for node in nodes.iter().map(node_info) {
        let of_family: Vec<IpNet> = node
            .pod_cidrs
            .iter()
            .filter_map(|c| c.parse::<IpNet>().ok())
            .filter(|n| IpFamily::of_net(n) == family)
            .collect();
        let ok = of_family.len() == 1 && of_family.iter().all(|n| n.prefix_len() == size);
        failed |= !ok;
        let shown: Vec<String> = of_family.iter().map(IpNet::to_string).collect();
        observed.push(format!(
            "{}: {family} podCIDRs [{}] ({})",
            node.name,
            shown.join(", "),
            if ok { "ok" } else { "not one /{size}" }
        ));
    }
    if !failed {
        return Ok(());
    }
    Err(TrialError::Mismatch {
        what: format!("the {family} podCIDR mask size of every node (`.spec.podCIDRs`)"),
        expected: format!(
            "one {family} podCIDR of /{size} per node ({source}; seed: /24 for IPv4 and /64 for IPv6 by default)\n\n{}",
            DOC_PODCIDRS.excerpt()
        ),
        observed: if observed.is_empty() {
            "no nodes".into()
        } else {
            observed.join("\n")
        },
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn mask_size_follows_kube_controller_manager_precedence() {
        assert_eq!(mask_size_for(&[], IpFamily::IPv4).0, 24);
        assert_eq!(mask_size_for(&[], IpFamily::IPv6).0, 64);
        let kind = args(&[
            "kube-controller-manager",
            "--allocate-node-cidrs=true",
            "--cluster-cidr=10.244.0.0/16,fd00:10:244::/56",
        ]);
        assert_eq!(mask_size_for(&kind, IpFamily::IPv6).0, 64);
        let specific = args(&[
            "--node-cidr-mask-size-ipv6=80",
            "--node-cidr-mask-size-ipv4=26",
        ]);
        assert_eq!(
            mask_size_for(&specific, IpFamily::IPv6),
            (80, "--node-cidr-mask-size-ipv6=80".into())
        );
        assert_eq!(mask_size_for(&specific, IpFamily::IPv4).0, 26);
        let general = args(&["--node-cidr-mask-size=25"]);
        assert_eq!(mask_size_for(&general, IpFamily::IPv4).0, 25);
        assert_eq!(
            mask_size_for(&args(&["--node-cidr-mask-size-ipv4=0"]), IpFamily::IPv4).0,
            24
        );
    }
}
