//! "DNS for Services and Pods", Pods: `hostname` + `subdomain` with a matching headless Service give the
//! pod the name `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>` (the page's busybox-subdomain
//! example); the deprecated `<a-b-c-d>.<namespace>.pod.<cluster domain>` form where the cluster serves it.
//! upstream: kubernetes/dns docs/specification.md 2.4.1 (endpoint hostnames) and 2.6 (deprecated pod
//! records); pkg/controller/endpointslice (`hostname` set when the pod's subdomain names the Service);
//! coredns plugin/kubernetes (`pods insecure|verified|disabled`).

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::api::DynamicObject;
use kube::runtime::watcher;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::preflight::Need;
use netconform::trial::TrialDef;
use netconform::wait::{Verdict, budgets};

use super::cluster::{cluster_domain_of, ip_families, pod_ips_of_families};
use super::lookup::{expect_addresses, nslookup_until, show};
use super::{CURRENT_BUSYBOX, DNS_PAGE, run_sleeper};
use crate::doc::DocFile;
use crate::doc_file;
use crate::pods::{from_json, pod_ips};

const SUBDOMAIN_EXAMPLE: DocFile = doc_file!("inline/dns-pod-service/busybox-subdomain.yaml");

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "dns::pods::hostname_subdomain",
        claim: "a pod with hostname busybox-1 and subdomain busybox-subdomain, beside a headless Service busybox-subdomain in its namespace, has an A/AAAA record busybox-1.busybox-subdomain.<namespace>.svc.<cluster domain> pointing to the pod's IP",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(hostname_subdomain(ctx)),
    },
    TrialDef {
        name: "dns::pods::pod_ip_record",
        claim: "a pod has the A record `<pod-ipv4-address with dashes>.<namespace>.pod.<cluster domain>` resolving to its IP, where the cluster DNS still serves these deprecated records (CoreDNS `pods insecure|verified`)",
        doc_url: DNS_PAGE,
        needs: &[Need::Ipv4, Need::PodDnsRecords],
        run: |ctx| Box::pin(pod_ip_record(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::PodsImagePullBackoff,
        &["dns::pods::hostname_subdomain", "dns::pods::pod_ip_record"],
    ),
    (
        Deviation::ResolvMissingSearch,
        &["dns::pods::hostname_subdomain", "dns::pods::pod_ip_record"],
    ),
    (
        Deviation::DnsServerUnreachable,
        &["dns::pods::pod_ip_record", "dns::pods::hostname_subdomain"],
    ),
    (
        Deviation::ResolvWrongClusterDns,
        &["dns::pods::hostname_subdomain", "dns::pods::pod_ip_record"],
    ),
    (
        Deviation::ResolvLinkLocalClusterDns,
        &["dns::pods::hostname_subdomain", "dns::pods::pod_ip_record"],
    ),
    (
        Deviation::DnsHeadlessEmpty,
        &["dns::pods::hostname_subdomain"],
    ),
    (
        Deviation::DnsNoPodHostnameRecords,
        &["dns::pods::hostname_subdomain"],
    ),
    (
        Deviation::DnsPodRecordsServfail,
        &["dns::pods::pod_ip_record"],
    ),
    (
        Deviation::DnsPodRecordsNxdomain,
        &["dns::pods::pod_ip_record"],
    ),
];

fn typed<K: serde::de::DeserializeOwned>(object: &DynamicObject) -> Result<K, TrialError> {
    from_json(serde_json::to_value(object).map_err(|e| TrialError::Harness(e.to_string()))?)
}

async fn hostname_subdomain(ctx: Ctx) -> Result<(), TrialError> {
    let mut service: Option<Service> = None;
    for object in SUBDOMAIN_EXAMPLE.objects()? {
        match object.types.as_ref().map(|t| t.kind.as_str()) {
            Some("Service") => service = Some(ctx.create(&typed::<Service>(&object)?).await?),
            Some("Pod") => {
                ctx.create(&typed::<Pod>(&object)?).await?;
            }
            other => {
                return Err(TrialError::Harness(format!(
                    "manifests/{}: unexpected kind {other:?}",
                    SUBDOMAIN_EXAMPLE.path
                )));
            }
        }
    }
    let service = service.ok_or_else(|| {
        TrialError::Harness(format!("manifests/{}: no Service", SUBDOMAIN_EXAMPLE.path))
    })?;
    let busybox1 = ctx.wait_pod_running("busybox1").await?;
    ctx.wait_pod_running("busybox2").await?;
    let expected = pod_ips_of_families(&busybox1, &ip_families(&service));
    wait_for_hostname(&ctx, "busybox-subdomain", "busybox-1", &expected).await?;
    let domain = cluster_domain_of(&ctx, "busybox2", "busybox").await?;
    let fqdn = format!(
        "busybox-1.busybox-subdomain.{}.svc.{domain}",
        ctx.namespace()
    );
    let what = format!(
        "`nslookup {fqdn}` from busybox2 (busybox1's IPs: {})",
        show(&expected)
    );
    expect_addresses(
        &ctx,
        "busybox2",
        "busybox",
        &[&fqdn],
        &what,
        &expected,
        &SUBDOMAIN_EXAMPLE.excerpt(),
    )
    .await
    .map(|_| ())
}

/// Waits until the Service's EndpointSlices list `ips` ready under `hostname` (the DNS server's source).
async fn wait_for_hostname(
    ctx: &Ctx,
    service: &str,
    hostname: &str,
    ips: &BTreeSet<IpAddr>,
) -> Result<(), TrialError> {
    let config =
        watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
    let awaited = format!(
        "EndpointSlices of {service} to list {} ready with hostname {hostname}",
        show(ips)
    );
    let describe = |s: &EndpointSlice| {
        let eps: Vec<String> = s
            .endpoints
            .iter()
            .map(|e| {
                format!(
                    "{} hostname={}",
                    e.addresses.join(","),
                    e.hostname.as_deref().unwrap_or("-")
                )
            })
            .collect();
        format!("EndpointSlice {}: [{}]", s.name_any(), eps.join("; "))
    };
    ctx.wait::<EndpointSlice>(budgets::ENDPOINTS)
        .awaiting(awaited)
        .showing(describe)
        .until_all(config, |slices: &[EndpointSlice]| {
            let listed: BTreeSet<IpAddr> = slices
                .iter()
                .flat_map(|s| s.endpoints.iter())
                .filter(|e| {
                    e.hostname.as_deref() == Some(hostname)
                        && e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false)
                })
                .flat_map(|e| e.addresses.iter().filter_map(|a| a.parse().ok()))
                .collect();
            if ips.is_subset(&listed) && !ips.is_empty() {
                Verdict::Done
            } else {
                Verdict::Pending
            }
        })
        .await
        .map(|_| ())
}

async fn pod_ip_record(ctx: Ctx) -> Result<(), TrialError> {
    // busybox 1.36.1: its nslookup prints the RCODE, so "not served" (NXDOMAIN) and "broken" (SERVFAIL,
    // no reply) can be told apart; 1.28 prints `can't resolve` for both.
    let pod = "pod-dns";
    let running = run_sleeper(&ctx, pod, CURRENT_BUSYBOX).await?;
    let Some(ip) = pod_ips(&running)
        .iter()
        .find_map(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
    else {
        return Err(TrialError::Harness(format!(
            "pod {pod} has no IPv4 address: {:?}",
            pod_ips(&running)
        )));
    };
    let domain = cluster_domain_of(&ctx, pod, pod).await?;
    let name = format!(
        "{}.{}.pod.{domain}",
        ip.to_string().replace('.', "-"),
        ctx.namespace()
    );
    let expected: BTreeSet<IpAddr> = [IpAddr::V4(ip)].into();
    // kubernetes/dns specification 2.6: deprecated; CoreDNS serves them only with `pods insecure|verified`,
    // which preflight read from the Corefile (Need::PodDnsRecords): here no answer is a failure too.
    let awaited = format!(
        "`nslookup -type=a {name}` for pod {pod} ({ip}) to answer; {}",
        ctx.capabilities().pod_dns_records.evidence
    );
    let lookup = nslookup_until(&ctx, pod, pod, &["-type=a", &name], awaited, |l| {
        l.resolved()
    })
    .await?;
    ensure(
        lookup.addresses() == expected,
        &format!("`nslookup -type=a {name}` for pod {pod} ({ip})"),
        format!("answers {ip}"),
        format!(
            "answers {}\n{}",
            show(&lookup.addresses()),
            lookup.describe()
        ),
    )
}
