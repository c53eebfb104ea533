//! "DNS for Services and Pods", Services: A/AAAA records for a Service name, reached through the search
//! list from the Service's namespace and with `<service>.<namespace>` from another one (the page's
//! `data` / `data.prod` example), headless Services answering their ready pods, SRV for named ports.
//! upstream: kubernetes/dns docs/specification.md 2.3 (ClusterIP) and 2.4 (headless); coredns
//! plugin/kubernetes (`Records`, `findServices`: only ready endpoints are served).

use std::collections::BTreeSet;
use std::net::IpAddr;

use k8s_openapi::api::core::v1::{Pod, Service};
use k8s_openapi::api::discovery::v1::EndpointSlice;
use kube::ResourceExt;
use kube::runtime::watcher;
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::preflight::Need;
use netconform::trial::TrialDef;
use netconform::wait::{Verdict, budgets, conditions};

use super::cluster::{cluster_domain_of, cluster_ips, ip_families, pod_ips_of_families};
use super::lookup::{expect_addresses, nslookup, nslookup_until, show};
use super::{CURRENT_BUSYBOX, DNS_PAGE, docs_busybox, run_sleeper, sleeper};
use crate::doc::DocFile;
use crate::doc_file;
use crate::pods::{from_json, pod_ips};

const DUAL_STACK_SVC: DocFile = doc_file!("service/networking/dual-stack-preferred-svc.yaml");

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "dns::services::same_namespace_name",
        claim: "a Service gets a DNS name: a pod queries `data` in the Service's own namespace and gets its ClusterIP (the search list expands it to data.<namespace>.svc.<cluster domain>)",
        doc_url: DNS_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(same_namespace_name(ctx)),
    },
    TrialDef {
        name: "dns::services::cross_namespace_name",
        claim: "to reach a Service in another namespace the query names the namespace: a pod in namespace test querying `data.prod` gets the ClusterIP of Service data in namespace prod",
        doc_url: DNS_PAGE,
        // `data.prod` is found through the search list only by busybox 1.28 (libc resolver, ndots:5).
        needs: &[
            Need::DocImage("busybox:1.28", "nslookup"),
            Need::ServiceAddresses(1),
        ],
        run: |ctx| Box::pin(cross_namespace_name(ctx)),
    },
    TrialDef {
        name: "dns::services::bare_name_other_namespace",
        claim: "DNS queries that don't name a namespace are limited to the pod's namespace: a pod in namespace test querying `data` gets no result when Service data is in namespace prod",
        doc_url: DNS_PAGE,
        // `data.prod` is found through the search list only by busybox 1.28 (libc resolver, ndots:5).
        needs: &[
            Need::DocImage("busybox:1.28", "nslookup"),
            Need::ServiceAddresses(1),
        ],
        run: |ctx| Box::pin(bare_name_other_namespace(ctx)),
    },
    TrialDef {
        name: "dns::services::dual_stack_a_aaaa",
        claim: "a Service has A and AAAA records: the name of a dual-stack Service answers both of its ClusterIPs, IPv4 and IPv6",
        doc_url: DNS_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(dual_stack_a_aaaa(ctx)),
    },
    TrialDef {
        name: "dns::services::headless_ready_pods",
        claim: "a headless Service's name answers the IPs of the ready pods it selects (and not of pods that are not ready)",
        doc_url: DNS_PAGE,
        needs: &[],
        run: |ctx| Box::pin(headless_ready_pods(ctx)),
    },
    TrialDef {
        name: "dns::services::srv_named_port",
        claim: "a named port of a Service has an SRV record `_<port name>._<protocol>.<service>.<namespace>.svc.<cluster domain>` giving the port number and the Service's name",
        doc_url: DNS_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(srv_named_port(ctx)),
    },
];

/// Every trial above: a deviation that breaks every lookup through the cluster DNS breaks them all.
const EVERY_TRIAL: &[&str] = &[
    "dns::services::bare_name_other_namespace",
    "dns::services::cross_namespace_name",
    "dns::services::dual_stack_a_aaaa",
    "dns::services::headless_ready_pods",
    "dns::services::same_namespace_name",
    "dns::services::srv_named_port",
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (Deviation::PodsImagePullBackoff, EVERY_TRIAL),
    (
        Deviation::DnsNoCrossNamespace,
        &[
            "dns::services::cross_namespace_name",
            "dns::services::bare_name_other_namespace",
        ],
    ),
    (Deviation::ResolvMissingSearch, EVERY_TRIAL),
    (Deviation::DnsServerUnreachable, EVERY_TRIAL),
    (Deviation::ResolvWrongClusterDns, EVERY_TRIAL),
    (Deviation::ResolvLinkLocalClusterDns, EVERY_TRIAL),
    (
        Deviation::DnsUpstreamWildcard,
        &["dns::services::bare_name_other_namespace"],
    ),
    (Deviation::DnsNoAaaa, &["dns::services::dual_stack_a_aaaa"]),
    (
        Deviation::DnsHeadlessEmpty,
        &["dns::services::headless_ready_pods"],
    ),
    (
        Deviation::DnsHeadlessIncludesUnready,
        &["dns::services::headless_ready_pods"],
    ),
    (Deviation::DnsNoSrv, &["dns::services::srv_named_port"]),
];

/// `kubectl create service clusterip data --tcp=80:80` (seed 004 creates Services this way):
/// selector `app=data`, port `80-80` (kubectl names the port after the `--tcp` value).
fn data_service() -> Result<Service, TrialError> {
    from_json(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "data", "labels": { "app": "data" } },
        "spec": { "type": "ClusterIP", "selector": { "app": "data" },
                  "ports": [ { "name": "80-80", "port": 80, "protocol": "TCP", "targetPort": 80 } ] }
    }))
}

/// Creates `svc` in `namespace` and returns its ClusterIPs.
async fn create_service(
    ctx: &Ctx,
    namespace: &str,
    svc: &Service,
) -> Result<(Service, BTreeSet<IpAddr>), TrialError> {
    let created = ctx.create_in(namespace, svc).await?;
    let ips = cluster_ips(&created);
    ensure(
        !ips.is_empty(),
        &format!(
            "spec.clusterIPs of Service {namespace}/{}",
            created.name_any()
        ),
        "at least one address",
        "none",
    )?;
    Ok((created, ips))
}

async fn same_namespace_name(ctx: Ctx) -> Result<(), TrialError> {
    let namespace = ctx.namespace().to_string();
    let (_, ips) = create_service(&ctx, &namespace, &data_service()?).await?;
    docs_busybox(&ctx).await?;
    let what =
        format!("`nslookup data` from a pod of namespace {namespace}, where Service data is");
    expect_addresses(&ctx, "busybox", "busybox", &["data"], &what, &ips, "")
        .await
        .map(|_| ())
}

/// The page's example: Service `data` in a second namespace ("prod"), the busybox pod in the trial's ("test").
async fn data_in_other_namespace(ctx: &Ctx) -> Result<(String, BTreeSet<IpAddr>), TrialError> {
    let prod = ctx.extra_namespace("prod").await?;
    let (_, ips) = create_service(ctx, &prod, &data_service()?).await?;
    docs_busybox(ctx).await?;
    Ok((prod, ips))
}

async fn cross_namespace_name(ctx: Ctx) -> Result<(), TrialError> {
    let (prod, ips) = data_in_other_namespace(&ctx).await?;
    let name = format!("data.{prod}");
    let what = format!(
        "`nslookup {name}` from a pod of namespace {}",
        ctx.namespace()
    );
    expect_addresses(&ctx, "busybox", "busybox", &[&name], &what, &ips, "")
        .await
        .map(|_| ())
}

async fn bare_name_other_namespace(ctx: Ctx) -> Result<(), TrialError> {
    let (prod, ips) = data_in_other_namespace(&ctx).await?;
    // First show that the cluster serves the record at all, then that the bare name does not reach it.
    let name = format!("data.{prod}");
    let what = format!(
        "`nslookup {name}` from a pod of namespace {}",
        ctx.namespace()
    );
    expect_addresses(&ctx, "busybox", "busybox", &[&name], &what, &ips, "").await?;
    let bare = nslookup(&ctx, "busybox", "busybox", &["data"]).await?;
    ensure(
        !bare.resolved(),
        &format!(
            "`nslookup data` from a pod of namespace {} (Service data is in namespace {prod})",
            ctx.namespace()
        ),
        format!(
            "no answer: the search list only adds {}.svc.<cluster domain>, svc.<cluster domain> and <cluster domain>",
            ctx.namespace()
        ),
        format!("answers {}\n{}", show(&bare.addresses()), bare.describe()),
    )
}

async fn dual_stack_a_aaaa(ctx: Ctx) -> Result<(), TrialError> {
    // The page's PreferDualStack example `my-service`, as the dual-stack page shows it.
    let svc: Service = DUAL_STACK_SVC.object()?;
    let namespace = ctx.namespace().to_string();
    let (_, ips) = create_service(&ctx, &namespace, &svc).await?;
    ensure(
        ips.iter().any(IpAddr::is_ipv4) && ips.iter().any(IpAddr::is_ipv6),
        "spec.clusterIPs of the PreferDualStack Service my-service on a dual-stack cluster",
        "an IPv4 and an IPv6 address",
        show(&ips),
    )?;
    docs_busybox(&ctx).await?;
    // busybox 1.28 asks getaddrinfo(AF_UNSPEC): one AAAA and one A query, both printed.
    let what = "`nslookup my-service` for a dual-stack Service (A and AAAA records)";
    expect_addresses(
        &ctx,
        "busybox",
        "busybox",
        &["my-service"],
        what,
        &ips,
        &DUAL_STACK_SVC.excerpt(),
    )
    .await
    .map(|_| ())
}

/// A pod selected by the headless Service; `ready: false` adds a readiness probe that never passes.
fn web_pod(name: &str, ready: bool) -> Result<Pod, TrialError> {
    let mut pod = sleeper(name, "busybox:1.28")?;
    pod.metadata.labels = Some([("app".to_string(), "web".to_string())].into());
    if !ready && let Some(container) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        container.readiness_probe = Some(from_json(
            json!({ "exec": { "command": ["cat", "/tmp/never-ready"] }, "periodSeconds": 2 }),
        )?);
    }
    Ok(pod)
}

fn describe_slice(slice: &EndpointSlice) -> String {
    let endpoints: Vec<String> = slice
        .endpoints
        .iter()
        .map(|e| {
            format!(
                "{} ready={}",
                e.addresses.join(","),
                e.conditions
                    .as_ref()
                    .and_then(|c| c.ready)
                    .map_or("-".to_string(), |r| r.to_string())
            )
        })
        .collect();
    format!(
        "EndpointSlice {}: [{}]",
        slice.name_any(),
        endpoints.join("; ")
    )
}

/// Waits until the Service's EndpointSlices list `ready` as ready and `unready` as not ready: what the
/// DNS server serves from (upstream: pkg/controller/endpointslice, podToEndpoint).
async fn wait_for_slices(
    ctx: &Ctx,
    service: &str,
    ready: &BTreeSet<IpAddr>,
    unready: &BTreeSet<IpAddr>,
) -> Result<(), TrialError> {
    let config =
        watcher::Config::default().labels(&format!("kubernetes.io/service-name={service}"));
    let awaited = format!(
        "EndpointSlices of {service} to list {} ready and {} not ready",
        show(ready),
        show(unready)
    );
    ctx.wait::<EndpointSlice>(budgets::ENDPOINTS)
        .awaiting(awaited)
        .showing(describe_slice)
        .until_all(config, |slices: &[EndpointSlice]| {
            let listed = |want_ready: bool| -> BTreeSet<IpAddr> {
                slices
                    .iter()
                    .flat_map(|s| s.endpoints.iter())
                    .filter(|e| {
                        e.conditions.as_ref().and_then(|c| c.ready).unwrap_or(false) == want_ready
                    })
                    .flat_map(|e| e.addresses.iter().filter_map(|a| a.parse().ok()))
                    .collect()
            };
            if listed(true) == *ready && unready.is_subset(&listed(false)) {
                Verdict::Done
            } else {
                Verdict::Pending
            }
        })
        .await
        .map(|_| ())
}

async fn headless_ready_pods(ctx: Ctx) -> Result<(), TrialError> {
    let svc: Service = from_json(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "web" },
        "spec": { "clusterIP": "None", "selector": { "app": "web" }, "ports": [ { "name": "http", "port": 80 } ] }
    }))?;
    let created = ctx.create(&svc).await?;
    let families = ip_families(&created);
    ctx.create(&web_pod("web-ready", true)?).await?;
    ctx.create(&web_pod("web-unready", false)?).await?;
    let ready_pod = ctx.wait_pod_running("web-ready").await?;
    let unready_pod = ctx
        .wait::<Pod>(budgets::POD_START)
        .awaiting("pod web-unready to have an IP")
        .object(
            "web-unready",
            conditions::holds(|p: &Pod| !pod_ips(p).is_empty()),
        )
        .await?;
    let expected = pod_ips_of_families(&ready_pod, &families);
    let unready = pod_ips_of_families(&unready_pod, &families);
    wait_for_slices(&ctx, "web", &expected, &unready).await?;
    docs_busybox(&ctx).await?;
    let what = format!(
        "`nslookup web` for headless Service web ({}) selecting web-ready (ready, {}) and web-unready (not ready, {})",
        families.join(","),
        show(&expected),
        show(&unready)
    );
    expect_addresses(&ctx, "busybox", "busybox", &["web"], &what, &expected, "")
        .await
        .map(|_| ())
}

async fn srv_named_port(ctx: Ctx) -> Result<(), TrialError> {
    let svc: Service = from_json(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": { "name": "data" },
        "spec": { "selector": { "app": "data" }, "ports": [ { "name": "http", "port": 8080, "protocol": "TCP", "targetPort": 80 } ] }
    }))?;
    ctx.create(&svc).await?;
    // busybox 1.28's nslookup cannot ask for a record type; upstream's e2e (test/e2e/network/dns.go) uses
    // dig, the current page a dnsutils image; busybox 1.36.1 `nslookup -type=srv` prints
    // `<name>\tservice = <priority> <weight> <port> <target>`.
    let pod = "srv-client";
    run_sleeper(&ctx, pod, CURRENT_BUSYBOX).await?;
    let domain = cluster_domain_of(&ctx, pod, pod).await?;
    let target = format!("data.{}.svc.{domain}", ctx.namespace());
    let name = format!("_http._tcp.{target}");
    let awaited = format!("SRV records of `{name}` (Service data, port http 8080/TCP)");
    let lookup = nslookup_until(&ctx, pod, pod, &["-type=srv", &name], awaited, |l| {
        !l.srv_records().is_empty()
    })
    .await?;
    let found: Vec<(u16, String)> = lookup
        .srv_records()
        .into_iter()
        .map(|s| (s.port, s.target.trim_end_matches('.').to_string()))
        .collect();
    // kubernetes/dns specification 2.3.2: one SRV per named port, target the Service's own name.
    ensure(
        found == [(8080, target.clone())],
        &format!("SRV records of `{name}` (Service data, port http 8080/TCP)"),
        format!("one record: port 8080, target {target}"),
        format!("{found:?}\n{}", lookup.describe()),
    )
}
