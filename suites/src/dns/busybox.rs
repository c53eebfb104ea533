//! "Debugging DNS Resolution" with the page's `busybox.yaml` (`busybox:1.28`): the pod runs,
//! `nslookup kubernetes.default` answers, the `kube-dns` Service exists and is the pods' nameserver;
//! and why the page pins busybox 1.28 (a current busybox queries `kubernetes.default` as is).

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::apps::v1::DaemonSet;
use kube::ResourceExt;
use kube::api::{Api, ListParams};

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::preflight::Need;
use netconform::retry::retrying;
use netconform::trial::TrialDef;

use super::cluster::{
    KUBE_DNS, cluster_domain_of, cluster_ips, existing_service, resolv_conf, service,
};
use super::lookup::{expect_addresses, nslookup, show};
use super::{CURRENT_BUSYBOX, DEBUGGING_PAGE, docs_busybox, run_sleeper};
use crate::doc::DocFile;
use crate::doc_file;

const DOC_NSLOOKUP_OK: DocFile =
    doc_file!("doc-outputs/dns-debugging-resolution/nslookup-kubernetes-default-ok.txt");
const DOC_GET_SVC: DocFile =
    doc_file!("doc-outputs/dns-debugging-resolution/get-svc-kube-system.txt");
const DOC_RESOLV: DocFile = doc_file!("doc-outputs/dns-debugging-resolution/resolv-conf.txt");

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "dns::busybox::runs",
        claim: "the page's busybox.yaml (busybox:1.28, `sleep 3600`) creates a pod that is Running",
        doc_url: DEBUGGING_PAGE,
        needs: &[],
        run: |ctx| Box::pin(runs(ctx)),
    },
    TrialDef {
        name: "dns::busybox::nslookup_kubernetes_default",
        claim: "`kubectl exec -ti busybox -- nslookup kubernetes.default` answers the address of the `kubernetes` Service (its ClusterIP)",
        doc_url: DEBUGGING_PAGE,
        // busybox 1.28's nslookup goes through the libc resolver and its search list; newer ones do not.
        needs: &[Need::DocImage("busybox:1.28", "nslookup")],
        run: |ctx| Box::pin(nslookup_kubernetes_default(ctx)),
    },
    TrialDef {
        name: "dns::busybox::kube_dns_service",
        claim: "the DNS Service `kube-dns` exists in namespace kube-system with a ClusterIP and ports 53/UDP and 53/TCP (`kubectl get svc --namespace=kube-system`)",
        doc_url: DEBUGGING_PAGE,
        needs: &[],
        run: |ctx| Box::pin(kube_dns_service(ctx)),
    },
    TrialDef {
        name: "dns::busybox::nameserver_is_kube_dns",
        claim: "the kubelet tells containers to use the DNS Service's IP: the busybox pod's /etc/resolv.conf names the kube-dns ClusterIP as its nameserver",
        doc_url: DEBUGGING_PAGE,
        needs: &[],
        run: |ctx| Box::pin(nameserver_is_kube_dns(ctx)),
    },
    TrialDef {
        name: "dns::busybox::current_busybox_needs_fqdn",
        claim: "`nslookup kubernetes.default` is meant for the page's busybox:1.28; with a current busybox (1.36.1), which does not apply the search list to names with a dot, the fully qualified `kubernetes.default.svc.<cluster domain>` answers the `kubernetes` Service's ClusterIP",
        doc_url: DEBUGGING_PAGE,
        // busybox 1.28's nslookup goes through the libc resolver and its search list; newer ones do not.
        needs: &[Need::DocImage("busybox:1.36.1", "nslookup")],
        run: |ctx| Box::pin(current_busybox_needs_fqdn(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::PodsImagePullBackoff,
        &[
            "dns::busybox::runs",
            "dns::busybox::current_busybox_needs_fqdn",
            "dns::busybox::nameserver_is_kube_dns",
            "dns::busybox::nslookup_kubernetes_default",
        ],
    ),
    (
        Deviation::DnsNoCrossNamespace,
        &[
            "dns::busybox::current_busybox_needs_fqdn",
            "dns::busybox::nslookup_kubernetes_default",
        ],
    ),
    (
        Deviation::ResolvMissingSearch,
        &[
            "dns::busybox::nslookup_kubernetes_default",
            "dns::busybox::current_busybox_needs_fqdn",
        ],
    ),
    (
        Deviation::DnsServerUnreachable,
        &[
            "dns::busybox::nslookup_kubernetes_default",
            "dns::busybox::current_busybox_needs_fqdn",
        ],
    ),
    (
        Deviation::KubeDnsServiceRenamed,
        &[
            "dns::busybox::kube_dns_service",
            "dns::busybox::nameserver_is_kube_dns",
        ],
    ),
    (
        Deviation::ResolvWrongClusterDns,
        &[
            "dns::busybox::nameserver_is_kube_dns",
            "dns::busybox::nslookup_kubernetes_default",
            "dns::busybox::current_busybox_needs_fqdn",
        ],
    ),
    // Every lookup through the cluster DNS goes to that address and gets no answer, and every
    // ClusterFirst resolv.conf names it.
    (
        Deviation::ResolvLinkLocalClusterDns,
        &[
            "dns::busybox::nameserver_is_kube_dns",
            "dns::busybox::nslookup_kubernetes_default",
            "dns::busybox::current_busybox_needs_fqdn",
        ],
    ),
];

async fn runs(ctx: Ctx) -> Result<(), TrialError> {
    docs_busybox(&ctx).await.map(|_| ())
}

/// The `kubernetes` Service's addresses (upstream: pkg/controlplane/controller/kubernetesservice).
async fn kubernetes_service_ips(
    ctx: &Ctx,
) -> Result<std::collections::BTreeSet<IpAddr>, TrialError> {
    let svc = existing_service(ctx, "default", "kubernetes").await?;
    let ips = cluster_ips(&svc);
    ensure(
        !ips.is_empty(),
        "spec.clusterIPs of Service default/kubernetes",
        "at least one address",
        "none",
    )?;
    Ok(ips)
}

async fn nslookup_kubernetes_default(ctx: Ctx) -> Result<(), TrialError> {
    docs_busybox(&ctx).await?;
    let expected = kubernetes_service_ips(&ctx).await?;
    // busybox 1.28 resolves through the libc resolver: `kubernetes.default` has fewer dots than ndots:5,
    // so the search list makes it `kubernetes.default.svc.<domain>` (kubernetes/dns specification 2.3.1).
    let what = "`nslookup kubernetes.default` in the busybox pod (busybox:1.28)";
    expect_addresses(
        &ctx,
        "busybox",
        "busybox",
        &["kubernetes.default"],
        what,
        &expected,
        &DOC_NSLOOKUP_OK.excerpt(),
    )
    .await
    .map(|_| ())
}

async fn kube_dns_service(ctx: Ctx) -> Result<(), TrialError> {
    let (namespace, name) = KUBE_DNS;
    let Some(svc) = service(&ctx, namespace, name).await? else {
        return Err(TrialError::Mismatch {
            what: format!("Service {namespace}/{name}"),
            expected: format!("it exists\n\n{}", DOC_GET_SVC.excerpt()),
            observed: "no such Service (NotFound)".to_string(),
        });
    };
    let ips = cluster_ips(&svc);
    ensure(
        !ips.is_empty(),
        "spec.clusterIP of Service kube-system/kube-dns",
        format!("an address\n\n{}", DOC_GET_SVC.excerpt()),
        "none (headless)",
    )?;
    let ports: Vec<String> = svc
        .spec
        .iter()
        .flat_map(|s| s.ports.iter().flatten())
        .map(|p| format!("{}/{}", p.port, p.protocol.as_deref().unwrap_or("TCP")))
        .collect();
    for wanted in ["53/UDP", "53/TCP"] {
        ensure(
            ports.iter().any(|p| p == wanted),
            &format!("ports of Service kube-system/kube-dns include {wanted}"),
            format!("{wanted}\n\n{}", DOC_GET_SVC.excerpt()),
            ports.join(","),
        )?;
    }
    Ok(())
}

async fn nameserver_is_kube_dns(ctx: Ctx) -> Result<(), TrialError> {
    docs_busybox(&ctx).await?;
    let (namespace, name) = KUBE_DNS;
    let kube_dns = existing_service(&ctx, namespace, name).await?;
    let kube_dns_ips = cluster_ips(&kube_dns);
    let (text, conf) = resolv_conf(&ctx, "busybox", "busybox").await?;
    // upstream: dns.go GetPodDNS, podDNSCluster: the kubelet's --cluster-dns addresses are the only nameservers.
    let first: Option<IpAddr> = conf.nameservers.first().and_then(|ns| ns.parse().ok());
    if first.is_some_and(|ip| kube_dns_ips.contains(&ip)) {
        return Ok(());
    }
    // NodeLocal DNSCache: the kubelet points pods at a node-local cache that forwards to kube-dns; it is
    // accepted only where its DaemonSet runs and listens on that address.
    let cache = node_local_dns_cache(&ctx).await?;
    if let (Some(ip), Some((daemonset, local_ips))) = (first, &cache)
        && local_ips.contains(&ip)
    {
        ctx.finding(
            format!("the pod's nameserver is the kube-dns Service IP ({})", show(&kube_dns_ips)),
            format!("the pod's nameserver is {ip}, the address of NodeLocal DNSCache (daemonset {daemonset} `-localip`)"),
        );
        return Ok(());
    }
    let cache = match &cache {
        Some((daemonset, ips)) => format!(
            ", or an address NodeLocal DNSCache (daemonset {daemonset}) listens on: {}",
            show(ips)
        ),
        None => " (no NodeLocal DNSCache daemonset runs in kube-system)".to_string(),
    };
    Err(TrialError::Mismatch {
        what: "the first nameserver of the busybox pod's /etc/resolv.conf".to_string(),
        expected: format!(
            "a ClusterIP of Service kube-system/kube-dns: {}{cache}\n\n{}",
            show(&kube_dns_ips),
            DOC_RESOLV.excerpt()
        ),
        observed: text,
    })
}

/// NodeLocal DNSCache, if it runs: its DaemonSet in kube-system (the one that runs the
/// `k8s-dns-node-cache` image) and the addresses of its `-localip` argument.
/// upstream: kubernetes cluster/addons/dns/nodelocaldns/nodelocaldns.yaml (DaemonSet `node-local-dns`,
/// image registry.k8s.io/dns/k8s-dns-node-cache, args `-localip <link-local>,<kube-dns IP>`).
async fn node_local_dns_cache(ctx: &Ctx) -> Result<Option<(String, BTreeSet<IpAddr>)>, TrialError> {
    let api: Api<DaemonSet> = Api::namespaced(ctx.client(), "kube-system");
    let params = ListParams::default();
    let list = retrying(|| api.list(&params))
        .await
        .map_err(TrialError::api("listing DaemonSets in kube-system"))?;
    Ok(list.items.iter().find_map(|ds| {
        let containers = &ds.spec.as_ref()?.template.spec.as_ref()?.containers;
        let cache = containers.iter().find(|c| {
            c.image
                .as_deref()
                .is_some_and(|i| i.contains("k8s-dns-node-cache"))
        })?;
        Some((
            format!("kube-system/{}", ds.name_any()),
            node_cache_local_ips(cache.args.as_deref().unwrap_or_default()),
        ))
    }))
}

/// The addresses of node-cache's `-localip a,b` (or `-localip=a,b`) argument.
fn node_cache_local_ips(args: &[String]) -> BTreeSet<IpAddr> {
    let mut value = None;
    for (i, arg) in args.iter().enumerate() {
        if let Some(v) = arg
            .strip_prefix("-localip=")
            .or(arg.strip_prefix("--localip="))
        {
            value = Some(v.to_string());
        } else if arg == "-localip" || arg == "--localip" {
            value = args.get(i + 1).cloned();
        }
    }
    value
        .unwrap_or_default()
        .split(',')
        .filter_map(|ip| ip.trim().parse().ok())
        .collect()
}

async fn current_busybox_needs_fqdn(ctx: Ctx) -> Result<(), TrialError> {
    let pod = "busybox-current";
    run_sleeper(&ctx, pod, CURRENT_BUSYBOX).await?;
    let expected = kubernetes_service_ips(&ctx).await?;
    let domain = cluster_domain_of(&ctx, pod, pod).await?;
    let fqdn = format!("kubernetes.default.svc.{domain}");
    let what = format!("`nslookup {fqdn}` with {CURRENT_BUSYBOX}");
    expect_addresses(&ctx, pod, pod, &[&fqdn], &what, &expected, "").await?;
    // busybox 1.3x `add_query_with_search`: a name with a dot is queried as is, so the page's
    // command finds nothing unless the upstream resolver knows `kubernetes.default`.
    let dotted = nslookup(&ctx, pod, pod, &["kubernetes.default"]).await?;
    if !dotted.resolved() {
        ctx.finding(
            "`kubectl exec -ti busybox -- nslookup kubernetes.default` answers the kubernetes Service (the page's busybox.yaml pins busybox:1.28)",
            format!(
                "with {CURRENT_BUSYBOX} the same command finds nothing (it queries `kubernetes.default` as is; exit status {}), while `{fqdn}` resolves: the page's command needs the page's image\n{}",
                dotted.exit_code,
                dotted.describe()
            ),
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The args of upstream's nodelocaldns.yaml once kubeadm's values are filled in.
    #[test]
    fn node_cache_local_ips_from_its_args() {
        let args: Vec<String> = [
            "-localip",
            "169.254.20.10,10.96.0.10",
            "-conf",
            "/etc/Corefile",
            "-upstreamsvc",
            "kube-dns-upstream",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let ips = node_cache_local_ips(&args);
        assert!(ips.contains(&"169.254.20.10".parse::<IpAddr>().unwrap()));
        assert_eq!(ips.len(), 2);
        assert_eq!(
            node_cache_local_ips(&["-localip=169.254.20.10".to_string()]).len(),
            1
        );
        assert!(node_cache_local_ips(&[]).is_empty());
    }
}
