//! "DNS for Services and Pods", Pod's DNS Policy and Pod's DNS Config: the `/etc/resolv.conf` each
//! `dnsPolicy` gives a pod, compared with what the kubelet computes.
//! upstream: pkg/kubelet/network/dns/dns.go — `getPodDNSType` (ClusterFirst on the host network falls
//! back to Default), `GetPodDNS` (cluster DNS: the --cluster-dns addresses only, searches from
//! `generateSearchesForDNSClusterFirst`, options `defaultDNSOptions` = ndots:5; Default: the node's
//! resolv.conf as `parseResolvConf` reads it; None: empty), `appendDNSConfig` (nameservers and searches
//! appended, duplicates omitted; options merged by name through a Go map, so their order is not defined),
//! `formDNSConfigFitsLimits`. The computation itself is `netconform::parse::resolv::PodDns`.

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::parse::resolv::{DnsConfigOption, PodDns, ResolvConf};
use netconform::trial::TrialDef;

use super::cluster::{
    KUBE_DNS, cluster_domain, existing_service, node_of, node_resolv_conf, resolv_conf,
};
use super::{DNS_PAGE, sleeper};
use crate::doc::DocFile;
use crate::doc_file;
use crate::pods::from_json;

const CUSTOM_DNS: DocFile = doc_file!("service/networking/custom-dns.yaml");
const HOST_NETWORK_POD: DocFile = doc_file!("inline/dns-pod-service/busybox-hostnetwork.yaml");
const DOC_DNS_EXAMPLE: DocFile =
    doc_file!("doc-outputs/dns-pod-service/resolv-conf-dns-example.txt");
const DOC_NAMESPACES: DocFile = doc_file!("doc-outputs/dns-pod-service/resolv-conf-namespaces.txt");

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "dns::resolv::cluster_first",
        claim: "with dnsPolicy ClusterFirst (the default) the pod's resolv.conf has the cluster DNS Service IP as nameserver, search `<namespace>.svc.<cluster domain> svc.<cluster domain> <cluster domain>` followed by the node's search domains, and `options ndots:5`",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(cluster_first(ctx)),
    },
    TrialDef {
        name: "dns::resolv::default_policy",
        claim: "with dnsPolicy Default the pod inherits the name resolution configuration from the node it runs on",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(default_policy(ctx)),
    },
    TrialDef {
        name: "dns::resolv::none_dns_config",
        claim: "with dnsPolicy None the pod uses exactly its dnsConfig: the dns-example pod's resolv.conf is `nameserver 192.0.2.1`, `search ns1.svc.cluster-domain.example my.dns.search.suffix`, `options ndots:2 edns0`",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(none_dns_config(ctx)),
    },
    TrialDef {
        name: "dns::resolv::cluster_first_with_host_net",
        claim: "a hostNetwork pod with dnsPolicy ClusterFirstWithHostNet gets the cluster DNS configuration (cluster DNS nameserver, cluster search list, ndots:5)",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(cluster_first_with_host_net(ctx)),
    },
    TrialDef {
        name: "dns::resolv::host_network_falls_back",
        claim: "a pod running with hostNetwork and dnsPolicy ClusterFirst falls back to the behavior of the Default policy (the node's resolution configuration)",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(host_network_falls_back(ctx)),
    },
    TrialDef {
        name: "dns::resolv::dns_config_merge",
        claim: "dnsConfig is merged into the configuration the dnsPolicy generates: nameservers and searches are appended with duplicates removed, options are merged with duplicate entries removed (the pod's value wins)",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(dns_config_merge(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::PodsImagePullBackoff,
        &[
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
            "dns::resolv::default_policy",
            "dns::resolv::dns_config_merge",
            "dns::resolv::host_network_falls_back",
            "dns::resolv::none_dns_config",
        ],
    ),
    (
        Deviation::ResolvMissingSearch,
        &[
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
            "dns::resolv::dns_config_merge",
        ],
    ),
    (
        Deviation::KubeDnsServiceRenamed,
        &[
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
        ],
    ),
    (
        Deviation::ResolvWrongClusterDns,
        &[
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
        ],
    ),
    (
        Deviation::ResolvLinkLocalClusterDns,
        &[
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
        ],
    ),
    (
        Deviation::ResolvWrongNdots,
        &[
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
        ],
    ),
    (
        Deviation::ResolvDefaultUsesClusterDns,
        &["dns::resolv::default_policy"],
    ),
    (
        Deviation::DnsconfigIgnored,
        &[
            "dns::resolv::none_dns_config",
            "dns::resolv::dns_config_merge",
        ],
    ),
    (
        Deviation::DnsconfigNoDedup,
        &["dns::resolv::dns_config_merge"],
    ),
    (
        Deviation::ResolvHostnetNoFallback,
        &["dns::resolv::host_network_falls_back"],
    ),
    (
        Deviation::ResolvHostnetIgnoresClusterFirstWithHostNet,
        &["dns::resolv::cluster_first_with_host_net"],
    ),
];

/// Compares a pod's resolv.conf with the kubelet's computation (nameservers and searches in order,
/// options as a set), showing both files and, when given, the doc's.
fn compare(
    what: &str,
    expected: &PodDns,
    text: &str,
    doc: Option<&DocFile>,
) -> Result<(), TrialError> {
    let Err(difference) = expected.check(&ResolvConf::parse(text)) else {
        return Ok(());
    };
    let mut expected_text = format!("{}(options in any order)", expected.render());
    if let Some(doc) = doc {
        expected_text.push_str(&format!("\n\n{}", doc.excerpt()));
    }
    Err(TrialError::Mismatch {
        what: format!("{what}: {difference}"),
        expected: expected_text,
        observed: text.to_string(),
    })
}

/// A pod built from JSON and run; returns the running pod.
async fn run_pod(ctx: &Ctx, pod: &Pod) -> Result<Pod, TrialError> {
    ctx.create(pod).await?;
    ctx.wait_pod_running(pod.metadata.name.as_deref().unwrap_or_default())
        .await
}

/// A busybox:1.28 `sleep 3600` pod named `name` with `spec` fields merged in.
fn busybox_with(name: &str, spec: serde_json::Value) -> Result<Pod, TrialError> {
    let mut value = serde_json::to_value(sleeper(name, "busybox:1.28")?)
        .map_err(|e| TrialError::Harness(e.to_string()))?;
    if let (Some(target), Some(extra)) = (value["spec"].as_object_mut(), spec.as_object()) {
        target.extend(extra.clone());
    }
    from_json(value)
}

/// What the kubelet gives a ClusterFirst pod of this trial on the pod's node: the kube-dns ClusterIP
/// (kubeadm/kind set --cluster-dns to it), the cluster search list + the node's, ndots:5.
async fn cluster_first_expectation(
    ctx: &Ctx,
    pod: &Pod,
    pod_conf: &ResolvConf,
    pod_text: &str,
) -> Result<PodDns, TrialError> {
    let (namespace, name) = KUBE_DNS;
    let kube_dns = existing_service(ctx, namespace, name).await?;
    let dns_ip = kube_dns
        .spec
        .as_ref()
        .and_then(|s| s.cluster_ip.clone())
        .unwrap_or_default();
    let domain = cluster_domain(pod_conf, ctx.namespace()).ok_or_else(|| TrialError::Mismatch {
        what: format!(
            "the search list of a ClusterFirst pod in namespace {}",
            ctx.namespace()
        ),
        expected: format!(
            "first `{}.svc.<cluster domain>`, `svc.<cluster domain>`, `<cluster domain>`\n\n{}",
            ctx.namespace(),
            DOC_NAMESPACES.excerpt()
        ),
        observed: pod_text.to_string(),
    })?;
    let (_, node_conf) = node_resolv_conf(ctx, &node_of(pod)?).await?;
    let node = node_conf.kubelet_view();
    let node_search: Vec<&str> = node.searches.iter().map(String::as_str).collect();
    Ok(PodDns::cluster_first(ctx.namespace(), &domain, &[&dns_ip], &node_search).fit_limits())
}

async fn cluster_first(ctx: Ctx) -> Result<(), TrialError> {
    let pod = run_pod(&ctx, &sleeper("cluster-first", "busybox:1.28")?).await?;
    let (text, conf) = resolv_conf(&ctx, "cluster-first", "cluster-first").await?;
    let expected = cluster_first_expectation(&ctx, &pod, &conf, &text).await?;
    compare(
        "/etc/resolv.conf of a pod with dnsPolicy ClusterFirst",
        &expected,
        &text,
        Some(&DOC_NAMESPACES),
    )
}

/// The node's resolution configuration as the kubelet reads it (`parseResolvConf`).
async fn node_expectation(ctx: &Ctx, pod: &Pod) -> Result<(PodDns, String), TrialError> {
    let (node_text, node_conf) = node_resolv_conf(ctx, &node_of(pod)?).await?;
    Ok((node_conf.kubelet_view().fit_limits(), node_text))
}

async fn default_policy(ctx: Ctx) -> Result<(), TrialError> {
    let pod = run_pod(
        &ctx,
        &busybox_with("default-dns", json!({ "dnsPolicy": "Default" }))?,
    )
    .await?;
    let (text, _) = resolv_conf(&ctx, "default-dns", "default-dns").await?;
    let (expected, node_text) = node_expectation(&ctx, &pod).await?;
    ctx.log(format!("the node's /etc/resolv.conf:\n{node_text}"));
    compare(
        "/etc/resolv.conf of a pod with dnsPolicy Default, against its node's /etc/resolv.conf",
        &expected,
        &text,
        None,
    )
}

async fn none_dns_config(ctx: Ctx) -> Result<(), TrialError> {
    // The page's custom-dns.yaml; it names namespace default, the trial's namespace is used instead.
    let mut pod: Pod = CUSTOM_DNS.object()?;
    pod.metadata.namespace = None;
    run_pod(&ctx, &pod).await?;
    let (text, _) = resolv_conf(&ctx, "dns-example", "test").await?;
    let expected = PodDns::none()
        .with_dns_config(
            &pod_nameservers(&pod),
            &pod_searches(&pod),
            &pod_options(&pod),
        )
        .fit_limits();
    compare(
        "/etc/resolv.conf of the dns-example pod (dnsPolicy None)",
        &expected,
        &text,
        Some(&DOC_DNS_EXAMPLE),
    )
}

fn pod_nameservers(pod: &Pod) -> Vec<&str> {
    pod.spec
        .iter()
        .flat_map(|s| s.dns_config.iter())
        .flat_map(|c| c.nameservers.iter().flatten())
        .map(String::as_str)
        .collect()
}

fn pod_searches(pod: &Pod) -> Vec<&str> {
    pod.spec
        .iter()
        .flat_map(|s| s.dns_config.iter())
        .flat_map(|c| c.searches.iter().flatten())
        .map(String::as_str)
        .collect()
}

fn pod_options(pod: &Pod) -> Vec<DnsConfigOption> {
    pod.spec
        .iter()
        .flat_map(|s| s.dns_config.iter())
        .flat_map(|c| c.options.iter().flatten())
        .map(|o| DnsConfigOption {
            name: o.name.clone().unwrap_or_default(),
            value: o.value.clone(),
        })
        .collect()
}

async fn cluster_first_with_host_net(ctx: Ctx) -> Result<(), TrialError> {
    // The page's hostNetwork example; it names namespace default, the trial's namespace is used instead.
    let mut pod: Pod = HOST_NETWORK_POD.object()?;
    pod.metadata.namespace = None;
    let running = run_pod(&ctx, &pod).await?;
    let (text, conf) = resolv_conf(&ctx, "busybox", "busybox").await?;
    let expected = cluster_first_expectation(&ctx, &running, &conf, &text).await?;
    compare(
        "/etc/resolv.conf of a hostNetwork pod with dnsPolicy ClusterFirstWithHostNet",
        &expected,
        &text,
        Some(&HOST_NETWORK_POD),
    )
}

async fn host_network_falls_back(ctx: Ctx) -> Result<(), TrialError> {
    // The page's hostNetwork example without its `dnsPolicy: ClusterFirstWithHostNet` line: the
    // apiserver defaults dnsPolicy to ClusterFirst.
    let mut pod: Pod = HOST_NETWORK_POD.object()?;
    pod.metadata.namespace = None;
    if let Some(spec) = pod.spec.as_mut() {
        spec.dns_policy = None;
    }
    let running = run_pod(&ctx, &pod).await?;
    let (text, _) = resolv_conf(&ctx, "busybox", "busybox").await?;
    let (expected, node_text) = node_expectation(&ctx, &running).await?;
    ctx.log(format!("the node's /etc/resolv.conf:\n{node_text}"));
    compare(
        "/etc/resolv.conf of a hostNetwork pod with dnsPolicy ClusterFirst, against its node's /etc/resolv.conf",
        &expected,
        &text,
        None,
    )
}

async fn dns_config_merge(ctx: Ctx) -> Result<(), TrialError> {
    // The ClusterFirst configuration of this namespace and node, as the base the dnsConfig is merged into.
    let base_pod = run_pod(&ctx, &sleeper("base", "busybox:1.28")?).await?;
    let (base_text, base_conf) = resolv_conf(&ctx, "base", "base").await?;
    let base = PodDns {
        nameservers: base_conf.nameservers.clone(),
        searches: base_conf.search.clone(),
        options: base_conf.options.iter().map(ToString::to_string).collect(),
    };
    ctx.log(format!("base (ClusterFirst) resolv.conf:\n{base_text}"));
    // One duplicate and one new entry of each kind; ndots overrides the policy's value.
    let duplicate_server = base.nameservers.first().cloned().unwrap_or_default();
    let duplicate_search = base.searches.get(1).cloned().unwrap_or_default();
    let merged: Pod = busybox_with(
        "merged",
        json!({
            "nodeName": node_of(&base_pod)?,
            "dnsConfig": {
                "nameservers": [duplicate_server, "192.0.2.1"],
                "searches": [duplicate_search, "my.dns.search.suffix"],
                "options": [ { "name": "ndots", "value": "2" }, { "name": "edns0" } ]
            }
        }),
    )?;
    run_pod(&ctx, &merged).await?;
    let (text, _) = resolv_conf(&ctx, "merged", "merged").await?;
    let expected = base
        .with_dns_config(
            &pod_nameservers(&merged),
            &pod_searches(&merged),
            &pod_options(&merged),
        )
        .fit_limits();
    compare(
        "/etc/resolv.conf of a ClusterFirst pod with a dnsConfig repeating one nameserver and one search domain",
        &expected,
        &text,
        None,
    )
}
