//! "DNS for Services and Pods" and "Service": DNS beyond the cluster's own records, read off the scenario
//! `dns::records` (suites/src/dns/scene.rs).
//!
//! - ClusterFirst: a name outside the cluster domain is forwarded to the upstream nameserver. On kind that
//!   is the node's resolver, Docker's embedded DNS, which knows the node containers' names offline: kind's
//!   node entrypoint (images/base/files/usr/local/bin/entrypoint `enable_network_magic`) rewrites the node's
//!   /etc/resolv.conf from Docker's 127.0.0.11 to the node's address and DNATs it to the embedded DNS;
//!   kubeadm's Corefile (cmd/kubeadm/app/phases/addons/dns/manifests.go `CoreDNSConfigMap`) has
//!   `forward . /etc/resolv.conf`, and CoreDNS's pod has the node's resolv.conf (dnsPolicy Default).
//!   So a node's name answers, per family, the node's InternalIP (kind's `--node-ip` is the container's
//!   address on the kind network). Elsewhere, node names are usually in the nodes' DNS as well.
//! - ExternalName: the Service's name answers a CNAME to `spec.externalName` and no address of its own
//!   (no ClusterIP: nothing to proxy; kube-proxy skips ExternalName Services, pkg/proxy/servicechangetracker.go
//!   `serviceToServiceMap`). CoreDNS plugin/kubernetes answers the CNAME and, for A/AAAA, resolves the target
//!   through its upstream (plugin/backend_lookup.go `A`/`AAAA`: `b.Lookup` of the CNAME's target).

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::IpFamily;
use netconform::trial::TrialDef;

use super::DNS_PAGE;
use super::cluster::cluster_ips;
use super::lookup::show;
use super::scene::{CLIENT, EXTERNAL_NAME_SERVICE, canonical_names, records};
use crate::deviations::{Breaks, Deviation};
use crate::family::trials;

const SERVICE_EXTERNAL_NAME_PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/service/#externalname";

pub const TRIALS: &[TrialDef] = trials![
    per_family {
        name: "dns::upstream_forward",
        claim: [
            "with dnsPolicy ClusterFirst a name outside the cluster domain is forwarded to the upstream nameserver: a node's name (on kind, a node container's, which the node's resolver answers) gets its ",
            " InternalIP from the cluster DNS (seed row [P48])",
        ],
        doc_url: DNS_PAGE,
        needs: [],
        run: upstream_forward,
    },
    TrialDef {
        name: "dns::beyond::external_name_cname",
        claim: "an ExternalName Service maps its name to `spec.externalName` with a CNAME record and is not proxied: no ClusterIP, its name answers a CNAME to the target and the target's own address (seed row [P14])",
        doc_url: SERVICE_EXTERNAL_NAME_PAGE,
        needs: &[],
        run: |ctx| Box::pin(external_name_cname(ctx)),
    },
];

/// Every trial above.
const EVERY_TRIAL: &[&str] = &[
    "dns::upstream_forward::ipv4",
    "dns::upstream_forward::ipv6",
    "dns::beyond::external_name_cname",
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (Deviation::PodsImagePullBackoff, EVERY_TRIAL),
    (Deviation::ResolvMissingSearch, EVERY_TRIAL),
    (Deviation::DnsServerUnreachable, EVERY_TRIAL),
    (Deviation::ResolvWrongClusterDns, EVERY_TRIAL),
    (Deviation::ResolvLinkLocalClusterDns, EVERY_TRIAL),
    (Deviation::DnsNoForward, EVERY_TRIAL),
    (
        Deviation::DnsNoExternalName,
        &["dns::beyond::external_name_cname"],
    ),
    (
        Deviation::DnsUpstreamIpv4Only,
        &["dns::upstream_forward::ipv6"],
    ),
];

async fn upstream_forward(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let part = match family {
        IpFamily::IPv4 => 6,
        IpFamily::IPv6 => 7,
    };
    let shared = records(&ctx, part..=part).await?;
    let records = shared.outcome()?;
    let Some(upstream) = records.upstream.iter().find(|u| u.family == family) else {
        return Err(TrialError::Harness(format!(
            "the scenario looked up no node name for {}",
            family.as_str()
        )));
    };
    let lookup = upstream.lookup.as_ref().map_err(Clone::clone)?;
    ensure(
        !upstream.expected.is_empty() && lookup.addresses() == upstream.expected,
        &format!(
            "`nslookup` of node {}'s name from pod {CLIENT} (dnsPolicy ClusterFirst)",
            upstream.node
        ),
        format!(
            "its {} InternalIP {}",
            family.as_str(),
            show(&upstream.expected)
        ),
        format!("{}\n{}", show(&lookup.addresses()), lookup.describe()),
    )
}

async fn external_name_cname(ctx: Ctx) -> Result<(), TrialError> {
    let shared = records(&ctx, 5..=5).await?;
    let records = shared.outcome()?;
    let external = records.external.as_ref().map_err(Clone::clone)?;
    let own = cluster_ips(&external.service);
    ensure(
        own.is_empty(),
        &format!("spec.clusterIP(s) of ExternalName Service {EXTERNAL_NAME_SERVICE}"),
        "none: an ExternalName Service is not proxied",
        show(&own),
    )?;
    let cnames: Vec<(String, String)> = canonical_names(&external.cname).collect();
    let target = external.target.to_ascii_lowercase();
    ensure(
        cnames == [(external.fqdn.to_ascii_lowercase(), target.clone())],
        &format!("`nslookup -type=cname {}`", external.fqdn),
        format!("one CNAME record: {} -> {target}", external.fqdn),
        format!("{cnames:?}\n{}", external.cname.describe()),
    )?;
    let address = external.address.as_ref().map_err(Clone::clone)?;
    let via: Vec<(String, String)> = canonical_names(address).collect();
    ensure(
        address.addresses() == external.target_ips && via.iter().any(|(_, t)| *t == target),
        &format!(
            "`nslookup` of {} for its {} address",
            external.fqdn,
            external.family.as_str()
        ),
        format!(
            "the CNAME to {target} and {target}'s address {}",
            show(&external.target_ips)
        ),
        format!(
            "{} (CNAME records {via:?})\n{}",
            show(&address.addresses()),
            address.describe()
        ),
    )
}
