//! "DNS for Services and Pods", Pods: `hostname` + `subdomain` with a matching headless Service give each
//! pod the name `<hostname>.<subdomain>.<namespace>.svc.<cluster domain>` (the page's busybox-subdomain
//! example, both pods); the seed's `.pod.` form of that name (a doc finding where the cluster serves none);
//! `spec.hostname` as the container's hostname; a pod's name is no DNS name; the deprecated
//! `<a-b-c-d>.<namespace>.pod.<cluster domain>` form where the cluster serves it. All but the last read the
//! scenario `dns::records` (suites/src/dns/scene.rs).
//! upstream: kubernetes/dns docs/specification.md 2.4.1 (endpoint hostnames) and 2.6 (deprecated pod
//! records); pkg/controller/endpointslice (`hostname` set when the pod's subdomain names the Service);
//! coredns plugin/kubernetes (`pods insecure|verified|disabled`; parse.go `parseRequest`: in the `pod`
//! zone only `<dashed IP>.<namespace>` names; endpoint names live in the `svc` zone).

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::runtime::watcher;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::parse::nslookup::LookupError;
use netconform::preflight::Need;
use netconform::trial::TrialDef;
use netconform::wait::{Verdict, budgets};

use super::cluster::cluster_domain_of;
use super::lookup::{Lookup, nslookup_until, show};
use super::scene::{CLIENT, HostnameLookup, Records, records};
use super::{CURRENT_BUSYBOX, DNS_PAGE, run_sleeper};
use crate::pods::pod_ips;

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "dns::pods::hostname_subdomain",
        claim: "pods with hostnames busybox-1 and busybox-2 and subdomain busybox-subdomain, beside a headless Service busybox-subdomain in their namespace, each have an A/AAAA record <hostname>.busybox-subdomain.<namespace>.svc.<cluster domain> pointing to the pod's IP (seed row [P43])",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(hostname_subdomain(ctx)),
    },
    TrialDef {
        name: "dns::pods::pod_form_hostname",
        claim: "the seed's form `<hostname>.<subdomain>.<namespace>.pod.<cluster domain>` of a pod's name: the pod's IP where the cluster DNS serves it, else a doc finding (the record is the `.svc.` one) (seed row [P45])",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(pod_form_hostname(ctx)),
    },
    TrialDef {
        name: "dns::pods::container_hostname",
        claim: "a pod's `spec.hostname` takes precedence over its name: in pod busybox1 with hostname busybox-1 the container's `hostname` prints busybox-1 (seed row [P30])",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(container_hostname(ctx)),
    },
    TrialDef {
        name: "dns::pods::pod_name_not_found",
        claim: "a pod's name is not a DNS name: `nslookup busybox1` finds no address (every cluster-domain expansion NXDOMAIN), while the same server answers the pod's hostname FQDN (seed row [P46])",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(pod_name_not_found(ctx)),
    },
    TrialDef {
        name: "dns::pods::pod_ip_record",
        claim: "a pod has the A record `<pod-ipv4-address with dashes>.<namespace>.pod.<cluster domain>` resolving to its IP, where the cluster DNS still serves these deprecated records (CoreDNS `pods insecure|verified`)",
        doc_url: DNS_PAGE,
        needs: &[Need::Ipv4, Need::PodDnsRecords],
        run: |ctx| Box::pin(pod_ip_record(ctx)),
    },
];

/// The trials that read the scenario `dns::records` through its setup and its FQDN lookups.
const ON_HOSTNAMES: &[&str] = &[
    "dns::pods::hostname_subdomain",
    "dns::pods::pod_form_hostname",
    "dns::pods::pod_name_not_found",
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::PodsImagePullBackoff,
        &[
            "dns::pods::hostname_subdomain",
            "dns::pods::pod_ip_record",
            "dns::pods::pod_form_hostname",
            "dns::pods::container_hostname",
            "dns::pods::pod_name_not_found",
        ],
    ),
    (
        Deviation::ResolvMissingSearch,
        &[
            "dns::pods::hostname_subdomain",
            "dns::pods::pod_ip_record",
            "dns::pods::pod_form_hostname",
            "dns::pods::container_hostname",
            "dns::pods::pod_name_not_found",
        ],
    ),
    (
        Deviation::DnsServerUnreachable,
        &[
            "dns::pods::pod_ip_record",
            "dns::pods::hostname_subdomain",
            "dns::pods::pod_form_hostname",
            "dns::pods::pod_name_not_found",
        ],
    ),
    (
        Deviation::ResolvWrongClusterDns,
        &[
            "dns::pods::hostname_subdomain",
            "dns::pods::pod_ip_record",
            "dns::pods::pod_form_hostname",
            "dns::pods::pod_name_not_found",
        ],
    ),
    (
        Deviation::ResolvLinkLocalClusterDns,
        &[
            "dns::pods::hostname_subdomain",
            "dns::pods::pod_ip_record",
            "dns::pods::pod_form_hostname",
            "dns::pods::pod_name_not_found",
        ],
    ),
    (Deviation::DnsHeadlessEmpty, ON_HOSTNAMES),
    (Deviation::DnsNoPodHostnameRecords, ON_HOSTNAMES),
    (
        Deviation::PodHostnameIgnoresSpec,
        &["dns::pods::container_hostname"],
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

/// Both pods' FQDN lookups of the scenario: the first failure, else the lookups.
fn hostname_lookups(records: &Records) -> Result<Vec<(&HostnameLookup, &Lookup)>, TrialError> {
    records
        .hostnames
        .iter()
        .map(|h| h.lookup.as_ref().map(|l| (h, l)).map_err(Clone::clone))
        .collect()
}

async fn hostname_subdomain(ctx: Ctx) -> Result<(), TrialError> {
    let shared = records(&ctx, ..=1).await?;
    let records = shared.outcome()?;
    let found = hostname_lookups(records)?;
    ensure(
        found.len() == 2,
        "the busybox-subdomain example's FQDN lookups",
        "one for busybox1 and one for busybox2",
        format!("{}", found.len()),
    )
}

async fn pod_form_hostname(ctx: Ctx) -> Result<(), TrialError> {
    let shared = records(&ctx, ..=2).await?;
    let records = shared.outcome()?;
    // The `.svc.` form answers first: the server serves busybox-1's records.
    let found = hostname_lookups(records)?;
    let Some((svc_form, _)) = found.first() else {
        return Err(TrialError::Harness("no FQDN lookup in the scenario".into()));
    };
    let (name, lookup) = &records.pod_form;
    let lookup = lookup.as_ref().map_err(Clone::clone)?;
    if lookup.addresses() == svc_form.expected {
        return Ok(());
    }
    let denied = lookup.parsed.as_ref().is_some_and(|p| {
        !p.errors.is_empty()
            && p.errors
                .iter()
                .all(|e| e.is_nxdomain() || matches!(e, LookupError::CantFind { .. }))
    });
    // coredns plugin/kubernetes parse.go `parseRequest`: in the `pod` zone only `<dashed IP>.<namespace>`
    // names are pod records; `<hostname>.<subdomain>` names are endpoint names of the `svc` zone
    // (kubernetes/dns docs/specification.md 2.4.1).
    if denied && lookup.addresses().is_empty() {
        ctx.finding(
            format!(
                "`hostname.subdomain.my-namespace.pod.cluster.local` resolves to the pod's IP (seed 004; the page gives the `.svc.` form, {})",
                svc_form.fqdn
            ),
            format!("no record for {name} (NXDOMAIN/no answer); the `.svc.` form answers {}", show(&svc_form.expected)),
        );
        return Ok(());
    }
    ensure(
        false,
        &format!("`nslookup -type=a {name}` (the seed's `.pod.` form of busybox-1's name)"),
        format!(
            "busybox1's address ({}) or a denial (NXDOMAIN, no answer)",
            show(&svc_form.expected)
        ),
        format!(
            "answers {}\n{}",
            show(&lookup.addresses()),
            lookup.describe()
        ),
    )
}

async fn container_hostname(ctx: Ctx) -> Result<(), TrialError> {
    let shared = records(&ctx, ..=3).await?;
    let records = shared.outcome()?;
    // pkg/kubelet/kubelet_pods.go `GeneratePodHostNameAndDomain`: spec.hostname when set, else the pod's
    // name; the runtime sets it as the sandbox's UTS hostname (kuberuntime `generatePodSandboxConfig`).
    let out = records.hostname.as_ref().map_err(Clone::clone)?;
    ensure(
        out.stdout.trim() == "busybox-1",
        "`hostname` in pod busybox1 (spec.hostname busybox-1, metadata.name busybox1)",
        "busybox-1",
        out.stdout.trim().to_string(),
    )
}

async fn pod_name_not_found(ctx: Ctx) -> Result<(), TrialError> {
    let shared = records(&ctx, ..=4).await?;
    let records = shared.outcome()?;
    hostname_lookups(records)?;
    let lookup = records.pod_name.as_ref().map_err(Clone::clone)?;
    let suffix = format!(".{}", records.domain);
    let in_zone: Vec<_> = lookup
        .parsed
        .iter()
        .flat_map(|p| p.errors.iter())
        .filter(|e| {
            e.name()
                .is_some_and(|n| n.trim_end_matches('.').ends_with(&suffix))
        })
        .collect();
    ensure(
        !lookup.resolved() && !in_zone.is_empty() && in_zone.iter().all(|e| e.is_nxdomain()),
        &format!(
            "`nslookup busybox1` from {CLIENT} (pod busybox1 runs in namespace {}; its hostname FQDN answered)",
            records.namespace
        ),
        "no address; the cluster-domain expansions answered NXDOMAIN",
        format!(
            "answers {}\n{}",
            show(&lookup.addresses()),
            lookup.describe()
        ),
    )
}

/// Waits until the Service's EndpointSlices list `ips` ready under `hostname` (the DNS server's source).
pub(super) async fn wait_for_hostname(
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
