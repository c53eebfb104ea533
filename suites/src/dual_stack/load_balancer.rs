//! The IPv6-first dual-stack LoadBalancer (dual-stack-prefer-ipv6-lb-svc.yaml): its cluster IPs, and the
//! external address a LoadBalancer controller publishes in `status.loadBalancer.ingress` (kubectl's
//! EXTERNAL-IP column).
//! upstream: alloc.go (families and cluster IPs as for any PreferDualStack Service); the cloud provider's
//! `EnsureLoadBalancer` fills the ingress (staging/src/k8s.io/cloud-provider/controllers/service). On kind,
//! cloud-provider-kind publishes one entry per family of the Service, IPv4 first (pkg/loadbalancer/server.go
//! `GetLoadBalancer`), so kubectl shows both addresses where the page shows only an IPv6 one. MetalLB, the
//! offline testbed's controller, does the same: for a PreferDualStack Service on a dual-stack cluster it
//! takes one address of each family and publishes them IPv4 first, whatever ipFamilies[0] is
//! (go.universe.tf/metallb v0.15.2 internal/allocator/allocation.go `selectIPsForFamilyAndPolicy`:
//! `[]net.IP{ipv4, ipv6}`; controller/service.go `convergeService` writes them in that order). The check is
//! the page's claim, an EXTERNAL-IP of the IPv6 family; where the page's single IPv6 address and kubectl's
//! list differ, that is a doc finding, not a failure.
//! A LoadBalancer Service is also a NodePort Service (the page's PORT(S) `80:30790/TCP`): the apiserver
//! defaults `allocateLoadBalancerNodePorts` to true (pkg/apis/core/v1/defaults.go `SetDefaults_Service`)
//! and then allocates a nodePort as for type NodePort (pkg/registry/core/service/storage/alloc.go
//! `shouldAllocateNodePorts`), without any LoadBalancer controller.

use k8s_openapi::api::core::v1::Service;

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip};
use netconform::wait::{budgets, conditions};

use super::PREFER_IPV6_LB_SVC;
use super::services::{Want, apply_and_check};
use crate::doc::DocFile;
use crate::doc_file;
use crate::shared::services::{DEFAULT_NODE_PORT_RANGE, create_service};

const DOC_GET_SVC: DocFile =
    doc_file!("doc-outputs/validate-dual-stack/svc-prefer-ipv6-lb-get-svc.txt");

pub(crate) async fn cluster_ips_ipv6_first(ctx: Ctx) -> Result<(), TrialError> {
    let want = Want {
        policy: "PreferDualStack",
        families: vec![IpFamily::IPv6, IpFamily::IPv4],
        headless: false,
    };
    apply_and_check(
        &ctx,
        &PREFER_IPV6_LB_SVC,
        &want,
        "LoadBalancer service my-service of dual-stack-prefer-ipv6-lb-svc.yaml",
        Some(&DOC_GET_SVC),
    )
    .await
    .map(|_| ())
}

/// The ingress addresses (IPs, or host names where the provider gives no IP).
fn ingress(svc: &Service) -> Vec<String> {
    svc.status
        .as_ref()
        .and_then(|s| s.load_balancer.as_ref())
        .and_then(|lb| lb.ingress.as_ref())
        .map(|i| {
            i.iter()
                .filter_map(|e| e.ip.clone().or_else(|| e.hostname.clone()))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) async fn external_ip_first_family(ctx: Ctx) -> Result<(), TrialError> {
    let created = create_service(&ctx, &PREFER_IPV6_LB_SVC.object()?).await?;
    let first = created
        .spec
        .as_ref()
        .and_then(|s| s.ip_families.as_ref())
        .and_then(|f| f.first())
        .and_then(|f| f.parse::<IpFamily>().ok())
        .unwrap_or(IpFamily::IPv6);
    let served = ctx
        .wait::<Service>(budgets::LOAD_BALANCER)
        .awaiting("an EXTERNAL-IP for my-service (status.loadBalancer.ingress)")
        .showing(|s: &Service| format!("service my-service: ingress [{}]", ingress(s).join(", ")))
        .object(
            "my-service",
            conditions::holds(|s: &Service| !ingress(s).is_empty()),
        )
        .await?;
    let addresses = ingress(&served);
    let of_first: Vec<&String> = addresses
        .iter()
        .filter(|a| family_of_ip(a).ok() == Some(first))
        .collect();
    if of_first.is_empty() {
        return Err(TrialError::Mismatch {
            what: "the EXTERNAL-IP (status.loadBalancer.ingress) of my-service of dual-stack-prefer-ipv6-lb-svc.yaml".into(),
            expected: format!("an {first} address, the family of ipFamilies[0]\n\n{}", DOC_GET_SVC.excerpt()),
            observed: format!("[{}]", addresses.join(", ")),
        });
    }
    if addresses.len() != 1 || addresses.first() != of_first.first().copied() {
        ctx.finding(
            "`kubectl get svc` shows one EXTERNAL-IP, of the IPv6 family (`2603:1030:805::5`)",
            format!(
                "EXTERNAL-IP {} (status.loadBalancer.ingress in the provider's order)",
                addresses.join(",")
            ),
        );
    }
    Ok(())
}

/// PORT(S) as `kubectl get svc` shows them: `80:30790/TCP`, or `80/TCP` without a nodePort.
fn kubectl_ports(svc: &Service) -> String {
    let ports: Vec<String> = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .into_iter()
        .flatten()
        .map(|p| {
            let protocol = p.protocol.as_deref().unwrap_or("TCP");
            match p.node_port {
                Some(np) => format!("{}:{np}/{protocol}", p.port),
                None => format!("{}/{protocol}", p.port),
            }
        })
        .collect();
    ports.join(",")
}

pub(crate) async fn node_port_allocated(ctx: Ctx) -> Result<(), TrialError> {
    let svc = create_service(&ctx, &PREFER_IPV6_LB_SVC.object()?).await?;
    let ports = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.clone())
        .unwrap_or_default();
    let allocated = matches!(&ports[..], [p] if p.port == 80
        && p.node_port.is_some_and(|np| DEFAULT_NODE_PORT_RANGE.contains(&np)));
    ensure(
        allocated,
        "the PORT(S) of LoadBalancer service my-service of dual-stack-prefer-ipv6-lb-svc.yaml (spec.ports[0].nodePort)",
        format!(
            "80:<nodePort>/TCP, a nodePort in 30000-32767 (the default --service-node-port-range), as the page's 80:30790/TCP\n\n{}",
            DOC_GET_SVC.excerpt()
        ),
        format!("PORT(S) {}", kubectl_ports(&svc)),
    )
}
