//! What the DNS checks read off the cluster: Service addresses, the kube-dns Service, a pod's
//! resolv.conf, the cluster domain and the node's resolv.conf.

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::Api;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::parse::resolv::ResolvConf;
use netconform::retry::retrying;

use crate::pods::{read_file, read_node_file};

/// Namespace and name of the cluster DNS Service the docs query (`kubectl get svc -n kube-system`).
pub(crate) const KUBE_DNS: (&str, &str) = ("kube-system", "kube-dns");

/// A Service of any namespace, or `None` when it does not exist.
pub(crate) async fn service(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
) -> Result<Option<Service>, TrialError> {
    let api: Api<Service> = Api::namespaced(ctx.client(), namespace);
    retrying(|| api.get_opt(name))
        .await
        .map_err(TrialError::api(format!(
            "reading Service {namespace}/{name}"
        )))
}

/// A Service that must exist (the trial created it, or the docs say every cluster has it).
pub(crate) async fn existing_service(
    ctx: &Ctx,
    namespace: &str,
    name: &str,
) -> Result<Service, TrialError> {
    service(ctx, namespace, name)
        .await?
        .ok_or_else(|| TrialError::Mismatch {
            what: format!("Service {namespace}/{name}"),
            expected: "it exists".to_string(),
            observed: "no such Service (NotFound)".to_string(),
        })
}

/// `spec.clusterIPs` (or `spec.clusterIP`) that are addresses (a headless Service has none).
pub(crate) fn cluster_ips(svc: &Service) -> BTreeSet<IpAddr> {
    let spec = svc.spec.as_ref();
    let listed: Vec<String> = spec
        .and_then(|s| s.cluster_ips.clone())
        .or_else(|| spec.and_then(|s| s.cluster_ip.clone()).map(|ip| vec![ip]))
        .unwrap_or_default();
    listed.iter().filter_map(|ip| ip.parse().ok()).collect()
}

/// `spec.ipFamilies` of a Service, e.g. `["IPv4"]`.
pub(crate) fn ip_families(svc: &Service) -> Vec<String> {
    svc.spec
        .as_ref()
        .and_then(|s| s.ip_families.clone())
        .unwrap_or_default()
}

/// The pod's IPs of the given families (`IPv4`/`IPv6`): what a headless Service of those families serves.
pub(crate) fn pod_ips_of_families(pod: &Pod, families: &[String]) -> BTreeSet<IpAddr> {
    crate::pods::pod_ips(pod)
        .iter()
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .filter(|ip| families.iter().any(|f| (f == "IPv4") == ip.is_ipv4()))
        .collect()
}

/// `cat /etc/resolv.conf` in a container: the text and its parse.
pub(crate) async fn resolv_conf(
    ctx: &Ctx,
    pod: &str,
    container: &str,
) -> Result<(String, ResolvConf), TrialError> {
    read_file(ctx, pod, container, "/etc/resolv.conf")
        .await
        .map(|text| {
            let conf = ResolvConf::parse(&text);
            (text, conf)
        })
}

/// The cluster domain, read off the search entry `<namespace>.svc.<cluster domain>` the kubelet writes
/// first for ClusterFirst pods (upstream: pkg/kubelet/network/dns/dns.go generateSearchesForDNSClusterFirst).
pub(crate) fn cluster_domain(conf: &ResolvConf, namespace: &str) -> Option<String> {
    let prefix = format!("{namespace}.svc.");
    conf.search
        .iter()
        .find_map(|s| s.strip_prefix(&prefix))
        .map(|d| d.trim_end_matches('.').to_string())
        .filter(|d| !d.is_empty())
}

/// [`cluster_domain`] of a ClusterFirst pod, failing with its resolv.conf when there is none.
pub(crate) async fn cluster_domain_of(
    ctx: &Ctx,
    pod: &str,
    container: &str,
) -> Result<String, TrialError> {
    let (text, conf) = resolv_conf(ctx, pod, container).await?;
    cluster_domain(&conf, ctx.namespace()).ok_or_else(|| TrialError::Mismatch {
        what: format!("the search list of {pod}'s /etc/resolv.conf (dnsPolicy ClusterFirst), to learn the cluster domain"),
        expected: format!("an entry `{}.svc.<cluster domain>`", ctx.namespace()),
        observed: text,
    })
}

/// The node's `/etc/resolv.conf`, read through a hostPath volume by a pod pinned to `node`. It is the
/// kubelet's `--resolv-conf` on kind nodes (kubeadm picks /run/systemd/resolve/resolv.conf instead where
/// systemd-resolved runs). Returns the text and its parse.
pub(crate) async fn node_resolv_conf(
    ctx: &Ctx,
    node: &str,
) -> Result<(String, ResolvConf), TrialError> {
    let text = read_node_file(ctx, node, "/etc/resolv.conf", "node-resolv-reader").await?;
    let conf = ResolvConf::parse(&text);
    Ok((text, conf))
}

/// `spec.nodeName` of a scheduled pod.
pub(crate) fn node_of(pod: &Pod) -> Result<String, TrialError> {
    pod.spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .ok_or_else(|| TrialError::Harness("a running pod has no spec.nodeName".to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_domain_from_any_namespace_entry() {
        let conf = ResolvConf::parse(
            "search nc-x.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\n",
        );
        assert_eq!(
            cluster_domain(&conf, "nc-x").as_deref(),
            Some("cluster.local")
        );
        assert_eq!(cluster_domain(&conf, "other"), None);
        let conf = ResolvConf::parse("search example.com nc-x.svc.k8s.example.\n");
        assert_eq!(
            cluster_domain(&conf, "nc-x").as_deref(),
            Some("k8s.example")
        );
    }
}
