//! Exhausting the default ServiceCIDR's IPv4 range, as the docs do with `test-1` .. `test-13`.
//!
//! upstream: pkg/registry/core/service/ipallocator/cidrallocator.go `AllocateNextService` (every ready
//! range is tried; when none has a free address: `ErrFull`), ipallocator.go `allocateFromRange` (an
//! address is free when no IPAddress object of that name exists) and
//! pkg/registry/core/service/storage/alloc.go (`failed to allocate a serviceIP: range is full`, a 500).

use std::net::IpAddr;

use ipnet::{IpNet, Ipv4Net};
use kube::ResourceExt;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;

use super::api::{
    DEFAULT_NAME, RANGE_FULL, cidrs_of, cluster_ip_service, default_service_cidr, ipv4_cluster_ip,
    is_deleting, is_range_full, list_ip_addresses, list_service_cidrs, ready_condition,
};
use super::ranges::{MAX_EXHAUSTIBLE, allocatable_count, hands_out, ipv4_range, parse_cidrs};
use super::{DOC_CREATE_SERVICES_1_13, mismatch_with_doc};

/// The state after the range reported full.
pub struct Exhausted {
    /// The default ServiceCIDR's IPv4 range.
    pub range: Ipv4Net,
    /// The trial's Services that took addresses of it, with their ClusterIPs.
    pub services: Vec<(String, IpAddr)>,
    /// The number the next `test-N` Service takes (the one that failed with `range is full`).
    pub next: usize,
    /// The apiserver's answer to that Service.
    pub full_message: String,
}

/// IPAddress objects of addresses `range` hands out.
async fn used_in(ctx: &Ctx, range: &Ipv4Net) -> Result<usize, TrialError> {
    let ips = list_ip_addresses(ctx).await?;
    Ok(ips
        .iter()
        .filter_map(|ip| ip.name_any().parse::<IpAddr>().ok())
        .filter(|ip| hands_out(range, *ip))
        .count())
}

/// Other ServiceCIDRs with free IPv4 addresses outside the default range (ready, not being deleted): the
/// allocator would use them too, so filling the default range would never answer `range is full`.
async fn other_free_ranges(ctx: &Ctx, range: &Ipv4Net) -> Result<Vec<String>, TrialError> {
    let used: Vec<IpAddr> = list_ip_addresses(ctx)
        .await?
        .iter()
        .filter_map(|ip| ip.name_any().parse::<IpAddr>().ok())
        .collect();
    let mut others = Vec::new();
    for sc in list_service_cidrs(ctx).await? {
        let ready = ready_condition(&sc).is_none_or(|c| c.status == "True");
        if sc.name_any() == DEFAULT_NAME || is_deleting(&sc) || !ready {
            continue;
        }
        for cidr in parse_cidrs(&cidrs_of(&sc)) {
            let IpNet::V4(v4) = cidr else { continue };
            let taken = used.iter().filter(|ip| hands_out(&v4, **ip)).count() as u64;
            let free = allocatable_count(&v4).saturating_sub(taken);
            if !range.contains(&v4) && free > 0 {
                others.push(format!("{} ({v4}, {free} free)", sc.name_any()));
            }
        }
    }
    Ok(others)
}

/// Creates `test-1`, `test-2`, ... until the apiserver answers `range is full`; each must get an address of
/// the default IPv4 range, and when the answer comes every address of the range must be taken.
pub async fn exhaust(ctx: &Ctx) -> Result<Exhausted, TrialError> {
    let (_, cidrs) = default_service_cidr(ctx).await?;
    let range = ipv4_range(&cidrs).ok_or_else(|| {
        TrialError::Harness(
            "the default ServiceCIDR kubernetes has no IPv4 range to exhaust".into(),
        )
    })?;
    let size = allocatable_count(&range);
    if size > MAX_EXHAUSTIBLE {
        return Err(TrialError::Harness(format!(
            "the IPv4 service range {range} is too large to exhaust ({size} addresses)"
        )));
    }
    let others = other_free_ranges(ctx, &range).await?;
    if !others.is_empty() {
        return Err(TrialError::Harness(format!(
            "other ServiceCIDRs have free IPv4 ClusterIPs, so filling {range} would not fill the cluster (delete them, or run `netconform sweep` for leftovers of earlier runs): {}",
            others.join("; ")
        )));
    }
    let before = used_in(ctx, &range).await?;
    ctx.log(format!(
        "{range}: {size} addresses, {before} taken before the trial"
    ));
    let mut services: Vec<(String, IpAddr)> = Vec::new();
    // A `range is full` while addresses are free is believed once (one may have been released meanwhile).
    let mut full_while_free = 0;
    let mut number = 1;
    // More creates than addresses means the range never filled; two spare for addresses released meanwhile.
    while number <= size as usize + 2 {
        let name = format!("test-{number}");
        match ctx.create(&cluster_ip_service(&name, None)?).await {
            Ok(svc) => {
                let ip = ipv4_cluster_ip(&svc).ok_or_else(|| {
                    TrialError::Harness(format!(
                        "Service {name} has no IPv4 ClusterIP: {:?}",
                        svc.spec
                    ))
                })?;
                ctx.log(format!("{name}: {ip}"));
                if !hands_out(&range, ip) {
                    return Err(mismatch_with_doc(
                        &format!(
                            "the ClusterIP of Service {name}, created while {range} still had free addresses"
                        ),
                        &format!("an address of {range}"),
                        &ip.to_string(),
                        &DOC_CREATE_SERVICES_1_13,
                    ));
                }
                services.push((name, ip));
                number += 1;
            }
            Err(e) if is_range_full(&e) => {
                let used = used_in(ctx, &range).await?;
                if used as u64 >= size {
                    ctx.log(format!("{name}: {e}"));
                    return Ok(Exhausted {
                        range,
                        services,
                        next: number,
                        full_message: e.to_string(),
                    });
                }
                full_while_free += 1;
                if full_while_free > 1 {
                    return Err(TrialError::Mismatch {
                        what: format!("the apiserver's answer to creating Service {name}"),
                        expected: format!(
                            "a ClusterIP: {} of the {size} addresses of {range} are free",
                            size - used as u64
                        ),
                        observed: e.to_string(),
                    });
                }
            }
            Err(e) => return Err(e),
        }
    }
    Err(mismatch_with_doc(
        &format!(
            "creating ClusterIP Services in {range} ({size} addresses, {before} taken before)"
        ),
        &format!("`{RANGE_FULL}` once every address of {range} is taken"),
        &format!(
            "{} Services created without that error; their ClusterIPs: {}",
            services.len(),
            services
                .iter()
                .map(|(_, ip)| ip.to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ),
        &DOC_CREATE_SERVICES_1_13,
    ))
}
