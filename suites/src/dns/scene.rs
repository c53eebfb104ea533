//! The DNS page's pods, set up once for the checks of `dns::pods` and `dns::beyond` (the scenario
//! `dns::records`): the page's busybox-subdomain example (headless Service `busybox-subdomain`, pods
//! `busybox1` and `busybox2` with hostnames `busybox-1`/`busybox-2`, `busybox:1.28`), an ExternalName
//! Service `my-service` naming a node, and one client pod with a current busybox (its `nslookup` asks for
//! record types and prints RCODEs). Three pods serve eight checks; every lookup is made here and each check
//! judges its own part.
//!
//! The parts of the scenario's log: 0 setup (pods, Service, EndpointSlice hostnames, cluster domain),
//! 1 both pods' FQDNs, 2 the seed's `.pod.` form, 3 `hostname` in busybox1, 4 `nslookup busybox1`,
//! 5 the ExternalName Service, 6 and 7 a node's name per family (IPv4, IPv6).

use std::collections::BTreeSet;
use std::net::IpAddr;
use std::sync::Arc;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::DynamicObject;
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::exec::ExecOutput;
use netconform::failure::TrialError;
use netconform::ipfamily::IpFamily;
use netconform::scenario::{Computed, Scenario, Scene};

use super::CURRENT_BUSYBOX;
use super::cluster::{cluster_domain_of, ip_families, pod_ips_of_families};
use super::lookup::{Lookup, expect_addresses, nslookup, show};
use crate::doc::DocFile;
use crate::doc_file;
use crate::pods::from_json;

pub(super) const SUBDOMAIN_EXAMPLE: DocFile =
    doc_file!("inline/dns-pod-service/busybox-subdomain.yaml");

/// The client pod (and its container) the lookups beyond the page's two pods run in.
pub(super) const CLIENT: &str = "dns-client";
/// The ExternalName Service (the Service page's example name).
pub(super) const EXTERNAL_NAME_SERVICE: &str = "my-service";

/// One pod's FQDN looked up from the other pod.
pub(super) struct HostnameLookup {
    pub fqdn: String,
    pub expected: BTreeSet<IpAddr>,
    pub lookup: Result<Lookup, TrialError>,
}

/// The ExternalName Service and its lookups.
pub(super) struct External {
    pub service: Service,
    /// The node name it points at, and that node's addresses of the family asked.
    pub target: String,
    pub target_ips: BTreeSet<IpAddr>,
    pub family: IpFamily,
    pub fqdn: String,
    /// `nslookup -type=cname <fqdn>`.
    pub cname: Lookup,
    /// `nslookup -type=a|aaaa <fqdn>`.
    pub address: Result<Lookup, TrialError>,
}

/// A node's name looked up through the cluster DNS, for one family.
pub(super) struct Upstream {
    pub family: IpFamily,
    pub node: String,
    pub expected: BTreeSet<IpAddr>,
    pub lookup: Result<Lookup, TrialError>,
}

pub(super) struct Records {
    pub domain: String,
    pub namespace: String,
    pub hostnames: Vec<HostnameLookup>,
    /// The seed's `busybox-1.busybox-subdomain.<ns>.pod.<domain>`: the name and the client's lookup.
    pub pod_form: (String, Result<Lookup, TrialError>),
    /// `hostname` in busybox1.
    pub hostname: Result<ExecOutput, TrialError>,
    /// `nslookup busybox1` (the pod's name) from the client.
    pub pod_name: Result<Lookup, TrialError>,
    pub external: Result<External, TrialError>,
    pub upstream: Vec<Upstream>,
}

static RECORDS: Scenario<Result<Records, TrialError>> = Scenario {
    name: "dns::records",
    compute: |scene| Box::pin(compute(scene)),
};

/// This run's scenario, with the log of `parts`.
pub(super) async fn records(
    ctx: &Ctx,
    parts: impl std::ops::RangeBounds<usize>,
) -> Result<Arc<Computed<Result<Records, TrialError>>>, TrialError> {
    RECORDS.read(ctx, parts).await
}

fn typed<K: serde::de::DeserializeOwned>(object: &DynamicObject) -> Result<K, TrialError> {
    from_json(serde_json::to_value(object).map_err(|e| TrialError::Harness(e.to_string()))?)
}

/// The node whose name the lookups ask for, and its InternalIPs: the first node with an address of
/// each family the cluster has (kind's node containers, whose names Docker's embedded DNS answers).
fn upstream_node(ctx: &Ctx) -> Option<(String, Vec<IpAddr>)> {
    let families = &ctx.capabilities().families;
    let nodes = &ctx.capabilities().nodes;
    let ips = |n: &netconform::preflight::NodeInfo| -> Vec<IpAddr> {
        n.internal_ips
            .iter()
            .filter_map(|ip| ip.parse().ok())
            .collect()
    };
    nodes
        .iter()
        .find(|n| {
            families
                .iter()
                .all(|f| ips(n).iter().any(|ip| IpFamily::of_addr(*ip) == *f))
        })
        .or_else(|| nodes.first())
        .map(|n| (n.name.clone(), ips(n)))
}

fn of_family(ips: &[IpAddr], family: IpFamily) -> BTreeSet<IpAddr> {
    ips.iter()
        .copied()
        .filter(|ip| IpFamily::of_addr(*ip) == family)
        .collect()
}

fn qtype(family: IpFamily) -> &'static str {
    match family {
        IpFamily::IPv4 => "-type=a",
        IpFamily::IPv6 => "-type=aaaa",
    }
}

async fn compute(scene: &mut Scene) -> Result<Records, TrialError> {
    let ctx = scene.ctx().clone();
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
    let node = upstream_node(&ctx);
    // The Service page's ExternalName example, pointed at a node's name (which the node's resolver knows
    // offline, on kind) instead of my.database.example.com.
    let external_service = match &node {
        Some((name, _)) => Some(
            ctx.create(&from_json::<Service>(json!({
                "apiVersion": "v1", "kind": "Service",
                "metadata": { "name": EXTERNAL_NAME_SERVICE },
                "spec": { "type": "ExternalName", "externalName": name }
            }))?)
            .await,
        ),
        None => None,
    };
    ctx.create(&super::sleeper(CLIENT, CURRENT_BUSYBOX)?)
        .await?;
    let busybox1 = ctx.wait_pod_running("busybox1").await?;
    let busybox2 = ctx.wait_pod_running("busybox2").await?;
    ctx.wait_pod_running(CLIENT).await?;
    let families = ip_families(&service);
    let domain = cluster_domain_of(&ctx, CLIENT, CLIENT).await?;
    let namespace = ctx.namespace().to_string();
    scene.end_part();

    // Part 1: each pod's FQDN, looked up from the other pod (a pod's own name is in its /etc/hosts, which
    // busybox 1.28's libc resolver reads first).
    let mut hostnames = Vec::new();
    for (pod, hostname, running, from) in [
        ("busybox1", "busybox-1", &busybox1, "busybox2"),
        ("busybox2", "busybox-2", &busybox2, "busybox1"),
    ] {
        let expected = pod_ips_of_families(running, &families);
        let fqdn = format!("{hostname}.busybox-subdomain.{namespace}.svc.{domain}");
        let lookup = async {
            super::pods::wait_for_hostname(&ctx, "busybox-subdomain", hostname, &expected).await?;
            let what = format!(
                "`nslookup {fqdn}` from {from} ({pod}'s IPs of the Service's families {}: {})",
                families.join(","),
                show(&expected)
            );
            expect_addresses(
                &ctx,
                from,
                "busybox",
                &[&fqdn],
                &what,
                &expected,
                &SUBDOMAIN_EXAMPLE.excerpt(),
            )
            .await
        }
        .await;
        hostnames.push(HostnameLookup {
            fqdn,
            expected,
            lookup,
        });
    }
    scene.end_part();

    // Part 2: the seed's `.pod.` form of busybox-1's name.
    let pod_form_name = format!("busybox-1.busybox-subdomain.{namespace}.pod.{domain}");
    let pod_form = nslookup(&ctx, CLIENT, CLIENT, &["-type=a", &pod_form_name]).await;
    scene.end_part();

    // Part 3: the container's own hostname.
    let hostname = ctx.exec("busybox1", "busybox", &["hostname"]).await;
    scene.end_part();

    // Part 4: the pod's name as a DNS name (the seed's `nslookup <pod name>`), after part 1 showed the
    // same server answering.
    let pod_name = nslookup(&ctx, CLIENT, CLIENT, &["busybox1"]).await;
    scene.end_part();

    // Part 5: the ExternalName Service.
    let external = match (external_service, &node) {
        (Some(created), Some((target, ips))) => {
            external(&ctx, created?, target, ips, &namespace, &domain).await
        }
        _ => Err(TrialError::Harness(
            "the cluster lists no node: no name to point an ExternalName Service at".to_string(),
        )),
    };
    scene.end_part();

    // Parts 6 and 7: a node's name, per family.
    let mut upstream = Vec::new();
    for family in [IpFamily::IPv4, IpFamily::IPv6] {
        if let Some((name, ips)) = &node
            && ctx.capabilities().families.contains(&family)
        {
            let expected = of_family(ips, family);
            // A trailing dot: the name as is, outside every search domain.
            let query = format!("{name}.");
            let what = format!(
                "`nslookup {} {query}` (node {name}, whose InternalIPs of {family} are {})",
                qtype(family),
                show(&expected),
                family = family.as_str()
            );
            let lookup = expect_addresses(
                &ctx,
                CLIENT,
                CLIENT,
                &[qtype(family), &query],
                &what,
                &expected,
                "",
            )
            .await;
            upstream.push(Upstream {
                family,
                node: name.clone(),
                expected,
                lookup,
            });
        }
        scene.end_part();
    }
    Ok(Records {
        domain,
        namespace,
        hostnames,
        pod_form: (pod_form_name, pod_form),
        hostname,
        pod_name,
        external,
        upstream,
    })
}

async fn external(
    ctx: &Ctx,
    service: Service,
    target: &str,
    ips: &[IpAddr],
    namespace: &str,
    domain: &str,
) -> Result<External, TrialError> {
    let family = ips
        .iter()
        .map(|ip| IpFamily::of_addr(*ip))
        .find(|f| ctx.capabilities().families.contains(f))
        .unwrap_or(IpFamily::IPv4);
    let target_ips = of_family(ips, family);
    let fqdn = format!("{EXTERNAL_NAME_SERVICE}.{namespace}.svc.{domain}");
    let awaited = format!("`nslookup -type=cname {fqdn}` to answer a CNAME record");
    let cname =
        super::lookup::nslookup_until(ctx, CLIENT, CLIENT, &["-type=cname", &fqdn], awaited, |l| {
            canonical_names(l).next().is_some()
        })
        .await?;
    let what = format!(
        "`nslookup {} {fqdn}` (ExternalName {target}, whose {} addresses are {})",
        qtype(family),
        family.as_str(),
        show(&target_ips)
    );
    let address = expect_addresses(
        ctx,
        CLIENT,
        CLIENT,
        &[qtype(family), &fqdn],
        &what,
        &target_ips,
        "",
    )
    .await;
    Ok(External {
        service,
        target: target.to_string(),
        target_ips,
        family,
        fqdn,
        cname,
        address,
    })
}

/// The `canonical name` records a lookup printed: (owner, target), without trailing dots.
pub(super) fn canonical_names(lookup: &Lookup) -> impl Iterator<Item = (String, String)> + '_ {
    lookup
        .parsed
        .iter()
        .flat_map(|p| p.records.iter())
        .filter(|r| r.kind == "canonical name")
        .map(|r| {
            (
                r.owner.trim_end_matches('.').to_ascii_lowercase(),
                r.value.trim_end_matches('.').to_ascii_lowercase(),
            )
        })
}
