//! Pod to Service: the ClusterIP of each family, NodePort (allocation and every node's InternalIP of each
//! family) and `internalTrafficPolicy: Local`.
//!
//! ClusterIP, as upstream's e2e (test/e2e/network/dual_stack.go "Granular Checks: Services Secondary IP
//! Family"): the docs' PreferDualStack `my-service`, an agnhost `netexec` backend on one node and a busybox
//! client on another; the backend must answer through the ClusterIP of the family and see the client's pod
//! IP of that family. upstream: pkg/proxy (one proxier per IP family, DNAT to the endpoints of the Service's
//! EndpointSlices of that family; masquerade only for off-cluster sources and hairpin,
//! pkg/proxy/iptables/proxier.go `KUBE-MARK-MASQ`).

mod node_port;
mod traffic_policy;

use k8s_openapi::api::core::v1::Service;

use crate::deviations::{Breaks, Deviation};
use crate::family::trials;
use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::{IpFamily, family_of_ip};
use netconform::preflight::Need;
use netconform::trial::TrialDef;

use crate::shared::probe::{check_answers_without_nat, start_pair, wait_ready_endpoint};
use crate::shared::services::{PREFERRED_SVC, SvcView, create_service};

const SERVICE_PAGE: &str = "https://kubernetes.io/docs/concepts/services-networking/service/";
const NODE_PORT_PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/service/#type-nodeport";
const TRAFFIC_POLICY_PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/service-traffic-policy/";

pub const TRIALS: &[TrialDef] = trials![
    per_family {
        name: "connectivity::cluster_ip",
        claim: [
            "a Service's ",
            " cluster IP and port reach its backend: a pod reaches a backend on another node, which sees the pod's ",
            " address",
        ],
        doc_url: SERVICE_PAGE,
        needs: [Need::ServiceAddresses(1), Need::SchedulableNodes(2)],
        run: cluster_ip,
    },
    TrialDef {
        name: "connectivity::node_port::allocated_in_range",
        claim: "for a NodePort Service the control plane allocates a port from the range set by --service-node-port-range (default: 30000-32767) and reports it in `.spec.ports[*].nodePort`",
        doc_url: NODE_PORT_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(node_port::allocated_in_range(ctx)),
    },
    TrialDef {
        name: "connectivity::node_port::requested_port_allocated",
        claim: "if you specify a value in the `nodePort` field, the control plane allocates you that port",
        doc_url: NODE_PORT_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(node_port::requested_port_allocated(ctx)),
    },
    TrialDef {
        name: "connectivity::node_port::requested_port_in_use_rejected",
        claim: "a requested `nodePort` that another Service already holds is not allocated: the API transaction fails (you need to take care of possible port collisions yourself)",
        doc_url: NODE_PORT_PAGE,
        needs: &[Need::ServiceAddresses(2)],
        run: |ctx| Box::pin(node_port::requested_port_in_use_rejected(ctx)),
    },
    TrialDef {
        name: "connectivity::node_port::requested_port_out_of_range_rejected",
        claim: "a requested `nodePort` must be a valid port number within the configured range for NodePort use: a port outside it makes the API transaction fail",
        doc_url: NODE_PORT_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(node_port::requested_port_out_of_range_rejected(ctx)),
    },
    per_family {
        name: "connectivity::node_port",
        claim: [
            "each node proxies that port (the same port number on every Node) into the Service: the nodePort answers on every node's ",
            " InternalIP",
        ],
        doc_url: NODE_PORT_PAGE,
        needs: [Need::ServiceAddresses(1)],
        run: node_port::every_node,
    },
    TrialDef {
        name: "connectivity::internal_traffic_policy::local_endpoint_only",
        claim: "with `.spec.internalTrafficPolicy: Local`, kube-proxy only uses node local endpoints for cluster internal traffic: a pod reaches only the endpoint on its own node",
        doc_url: TRAFFIC_POLICY_PAGE,
        needs: &[Need::ServiceAddresses(1), Need::SchedulableNodes(2)],
        run: |ctx| Box::pin(traffic_policy::local_endpoint_only(ctx)),
    },
    TrialDef {
        name: "connectivity::internal_traffic_policy::no_local_endpoint_dropped",
        claim: "for pods on nodes with no endpoints for a Service with `internalTrafficPolicy: Local`, the Service behaves as if it has zero endpoints, even if it has endpoints on other nodes",
        doc_url: TRAFFIC_POLICY_PAGE,
        needs: &[Need::ServiceAddresses(2), Need::SchedulableNodes(2)],
        run: |ctx| Box::pin(traffic_policy::no_local_endpoint_dropped(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::EndpointsliceMissingIpv6,
        &[
            "connectivity::cluster_ip::ipv6",
            "connectivity::node_port::ipv6",
        ],
    ),
    (
        Deviation::ServiceIpv6Unreachable,
        &["connectivity::cluster_ip::ipv6"],
    ),
    (
        Deviation::ServiceMasquerade,
        &[
            "connectivity::cluster_ip::ipv4",
            "connectivity::cluster_ip::ipv6",
        ],
    ),
    (
        Deviation::PodToPodIpv6Dropped,
        &[
            "connectivity::cluster_ip::ipv6",
            "connectivity::node_port::ipv6",
        ],
    ),
    (
        Deviation::PodToPodMasquerade,
        &[
            "connectivity::cluster_ip::ipv4",
            "connectivity::cluster_ip::ipv6",
        ],
    ),
    (
        Deviation::NodeportOutsideRange,
        &[
            "connectivity::node_port::allocated_in_range",
            "connectivity::node_port::requested_port_allocated",
        ],
    ),
    (
        Deviation::NodeportRequestedIgnored,
        &[
            "connectivity::node_port::requested_port_allocated",
            "connectivity::node_port::requested_port_in_use_rejected",
            "connectivity::node_port::requested_port_out_of_range_rejected",
        ],
    ),
    (
        Deviation::NodeportDuplicateAllowed,
        &["connectivity::node_port::requested_port_in_use_rejected"],
    ),
    (
        Deviation::NodeportRangeUnchecked,
        &["connectivity::node_port::requested_port_out_of_range_rejected"],
    ),
    (
        Deviation::NodeportIpv6NotServed,
        &["connectivity::node_port::ipv6"],
    ),
    (
        Deviation::NodeportOnlyOnEndpointNodes,
        &[
            "connectivity::node_port::ipv4",
            "connectivity::node_port::ipv6",
        ],
    ),
    (
        Deviation::InternalTrafficPolicyIgnored,
        &[
            "connectivity::internal_traffic_policy::local_endpoint_only",
            "connectivity::internal_traffic_policy::no_local_endpoint_dropped",
        ],
    ),
    (
        Deviation::EndpointsUseServicePort,
        &[
            "connectivity::internal_traffic_policy::local_endpoint_only",
            "connectivity::internal_traffic_policy::no_local_endpoint_dropped",
            "connectivity::node_port::ipv4",
            "connectivity::node_port::ipv6",
        ],
    ),
];

/// The Service's cluster IP of `family`, or a mismatch showing its addresses.
fn cluster_ip_of(svc: &Service, family: IpFamily, what: &str) -> Result<String, TrialError> {
    let view = SvcView::of(svc);
    view.cluster_ips
        .iter()
        .find(|ip| family_of_ip(ip).ok() == Some(family))
        .cloned()
        .ok_or_else(|| TrialError::Mismatch {
            what: what.to_string(),
            expected: format!("an {family} cluster IP"),
            observed: view.describe(),
        })
}

async fn cluster_ip(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let svc = create_service(&ctx, &PREFERRED_SVC.object()?).await?;
    let cluster_ip = cluster_ip_of(
        &svc,
        family,
        "the ClusterIPs of my-service (dual-stack-preferred-svc.yaml)",
    )?;
    // The docs' my-service selects `app.kubernetes.io/name: MyApp` on port 80 (targetPort = port).
    let pair = start_pair(
        &ctx,
        "client",
        "backend",
        &[("app.kubernetes.io/name", "MyApp")],
        80,
    )
    .await?;
    let backend_ip = pair.backend.ip(family)?;
    wait_ready_endpoint(&ctx, "my-service", family, &backend_ip).await?;
    check_answers_without_nat(&ctx, &pair, &cluster_ip, 80, family).await
}
