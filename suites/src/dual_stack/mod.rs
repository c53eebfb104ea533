//! "Validate IPv4/IPv6 dual-stack" (https://kubernetes.io/docs/tasks/network/validate-dual-stack/) and the
//! Service scenarios of "IPv4/IPv6 dual-stack" (https://kubernetes.io/docs/concepts/services-networking/dual-stack/).
//!
//! One module per part of the pages: node addressing, pod addressing (`pod01`), Services (the docs' example
//! manifests and the remaining policy/family combinations), switching single/dual stack, EndpointSlices
//! and the IPv6-first LoadBalancer (connectivity per family is in the `connectivity` suite).
//! upstream: pkg/registry/core/service/storage/alloc.go (family defaulting and allocation),
//! pkg/apis/core/validation/validation.go (dual-stack rules), pkg/kubelet/kubelet_pods.go (pod IPs),
//! staging/src/k8s.io/endpointslice (slices per address type), test/e2e/network/dual_stack.go (upstream's e2e).

mod endpointslices;
mod host_network;
mod load_balancer;
pub(crate) mod nodes;
mod pod01;
mod services;
mod switching;

use k8s_openapi::api::core::v1::Service;
use kube::api::Api;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::{IpFamily, family_of_ip};
use netconform::preflight::Need;
use netconform::retry::retrying;
use netconform::trial::TrialDef;

use crate::doc::DocFile;
use crate::doc_file;
use crate::family::trials;

pub(crate) const VALIDATE_PAGE: &str =
    "https://kubernetes.io/docs/tasks/network/validate-dual-stack/";
pub(crate) const CONCEPT_PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/dual-stack/";

pub(crate) const DEFAULT_SVC: DocFile = doc_file!("service/networking/dual-stack-default-svc.yaml");
pub(crate) const IPV6_SVC: DocFile =
    doc_file!("service/networking/dual-stack-ipfamilies-ipv6.yaml");
pub(crate) const PREFERRED_IPFAMILIES_SVC: DocFile =
    doc_file!("service/networking/dual-stack-preferred-ipfamilies-svc.yaml");
pub(crate) const PREFER_IPV6_LB_SVC: DocFile =
    doc_file!("service/networking/dual-stack-prefer-ipv6-lb-svc.yaml");

const DUAL: &[Need] = &[Need::DualStack];

pub const TRIALS: &[TrialDef] = trials![
    // Node addressing: on a cluster configured dual-stack (preflight), every node must be.
    TrialDef {
        name: "dual_stack::nodes::pod_cidrs_both_families",
        claim: "each dual-stack node is allocated a single IPv4 block and a single IPv6 block (`.spec.podCIDRs`)",
        doc_url: VALIDATE_PAGE,
        needs: DUAL,
        run: |ctx| Box::pin(nodes::pod_cidrs_both_families(ctx)),
    },
    TrialDef {
        name: "dual_stack::nodes::internal_ips_both_families",
        claim: "the node has detected an IPv4 and an IPv6 interface: `.status.addresses` has an IPv4 and an IPv6 InternalIP",
        doc_url: VALIDATE_PAGE,
        needs: DUAL,
        run: |ctx| Box::pin(nodes::internal_ips_both_families(ctx)),
    },
    TrialDef {
        name: "dual_stack::nodes::hostname_address",
        claim: "`.status.addresses` of each node lists a `Hostname` entry, the node's name, beside its InternalIPs (seed row [D2])",
        doc_url: VALIDATE_PAGE,
        needs: &[],
        run: |ctx| Box::pin(nodes::hostname_address(ctx)),
    },
    per_family {
        name: "dual_stack::pod_cidr_mask_size",
        claim: [
            "each node's ",
            " podCIDR has kube-controller-manager's node mask size: /24 for IPv4 and /64 for IPv6 by default (`--node-cidr-mask-size-ipv4|ipv6`, seed row [A2])"
        ],
        doc_url: CONCEPT_PAGE,
        needs: [],
        run: nodes::pod_cidr_mask_size,
    },
    // Pod addressing (pod01 with MY_POD_IPS).
    TrialDef {
        name: "dual_stack::pod01::pod_ip_is_first_pod_ip",
        claim: "a pod's `.status.podIP` is the first entry of `.status.podIPs`",
        doc_url: VALIDATE_PAGE,
        needs: &[],
        run: |ctx| Box::pin(pod01::pod_ip_is_first_pod_ip(ctx)),
    },
    TrialDef {
        name: "dual_stack::pod01::pod_ips_both_families",
        claim: "the pod has an IPv4 and an IPv6 address allocated (`.status.podIPs`)",
        doc_url: VALIDATE_PAGE,
        needs: DUAL,
        run: |ctx| Box::pin(pod01::pod_ips_both_families(ctx)),
    },
    TrialDef {
        name: "dual_stack::pod01::primary_family_first",
        claim: "the first pod IP is of the node's primary IP family (the kubelet orders podIPs by its node IP family)",
        doc_url: VALIDATE_PAGE,
        needs: &[],
        run: |ctx| Box::pin(pod01::primary_family_first(ctx)),
    },
    TrialDef {
        name: "dual_stack::pod01::my_pod_ips_downward",
        claim: "`MY_POD_IPS` from the downward API (`status.podIPs`) is a comma-separated list of the pod's IPv4 and IPv6 addresses",
        doc_url: VALIDATE_PAGE,
        needs: DUAL,
        run: |ctx| Box::pin(pod01::my_pod_ips_downward(ctx)),
    },
    TrialDef {
        name: "dual_stack::pod01::etc_hosts_both_ips",
        claim: "the pod IPs are written to /etc/hosts in the container: both the IPv4 and the IPv6 address of the pod",
        doc_url: VALIDATE_PAGE,
        needs: DUAL,
        run: |ctx| Box::pin(pod01::etc_hosts_both_ips(ctx)),
    },
    TrialDef {
        name: "dual_stack::host_network::pod_ips_match_node_addresses",
        claim: "a Pod in HostNetwork mode reports its IP addresses in `.status.podIPs`, matching the node's `.status.addresses`: one of each IP family of the cluster (on dual-stack both), each an address of its node (seed row [A4])",
        doc_url: CONCEPT_PAGE,
        needs: &[],
        run: |ctx| Box::pin(host_network::pod_ips_match_node_addresses(ctx)),
    },
    // Services: the docs' examples.
    TrialDef {
        name: "dual_stack::default_svc::single_stack_first_family",
        claim: "a Service that does not set `.spec.ipFamilyPolicy` gets `SingleStack` and one cluster IP from the first configured service-cluster-ip-range; its output shows the defaults `sessionAffinity: None` and `type: ClusterIP` (seed rows [D6], [D7])",
        doc_url: VALIDATE_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(services::default_single_stack(ctx)),
    },
    TrialDef {
        name: "dual_stack::ipfamilies_ipv6_svc::single_stack_ipv6",
        claim: "a Service with `IPv6` as the first element of `.spec.ipFamilies` gets a cluster IP from the IPv6 range and `.spec.ipFamilyPolicy` `SingleStack`",
        doc_url: VALIDATE_PAGE,
        needs: &[Need::Ipv6],
        run: |ctx| Box::pin(services::ipv6_single_stack(ctx)),
    },
    TrialDef {
        name: "dual_stack::preferred_svc::both_families_in_order",
        claim: "a `PreferDualStack` Service gets an IPv4 and an IPv6 cluster IP; `.spec.clusterIP` is `.spec.clusterIPs[0]`, of the family of `.spec.ipFamilies[0]`; `kubectl describe` shows `Type: ClusterIP` and `Session Affinity: None` (seed rows [D9], [D7])",
        doc_url: VALIDATE_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(services::prefer_dual_both_families(ctx)),
    },
    TrialDef {
        name: "dual_stack::preferred_ipfamilies_svc::ipv6_first",
        claim: "with `.spec.ipFamilies: [IPv6, IPv4]` and `PreferDualStack`, `.spec.clusterIP` is the IPv6 address, the first of `.spec.clusterIPs`",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(services::prefer_dual_ipv6_first(ctx)),
    },
    TrialDef {
        name: "dual_stack::require_dual_ipfamilies_svc::ipv6_first",
        claim: "on a dual-stack cluster `RequireDualStack` behaves as `PreferDualStack`: with `.spec.ipFamilies: [IPv6, IPv4]` the IPv6 cluster IP comes first",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(services::require_dual_ipv6_first(ctx)),
    },
    TrialDef {
        name: "dual_stack::require_dual_svc::both_families_in_order",
        claim: "a non-headless `RequireDualStack` Service without `.spec.ipFamilies` gets an IPv4 and an IPv6 cluster IP like PreferDualStack, `.spec.clusterIP` from the first family (seed row [A5])",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(services::require_dual_both_families(ctx)),
    },
    TrialDef {
        name: "dual_stack::ipfamilies_svc::single_stack_ipv4",
        claim: "a Service with `.spec.ipFamilies: [IPv4]` set explicitly gets `SingleStack` and an IPv4 `.spec.clusterIP` (seed row [A7])",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::Ipv4, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(services::ipv4_single_stack(ctx)),
    },
    TrialDef {
        name: "dual_stack::ipfamilies_svc::ipv4_first",
        claim: "a `PreferDualStack` Service with `.spec.ipFamilies: [IPv4, IPv6]` gets the IPv4 address first in `.spec.clusterIPs` and as `.spec.clusterIP` (seed row [A7])",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(services::prefer_dual_ipv4_first(ctx)),
    },
    TrialDef {
        name: "dual_stack::without_selector::single_stack_first_family",
        claim: "a Service without a selector behaves like one without `.spec.ipFamilyPolicy`: `SingleStack`, one cluster IP from the first service range (seed row [A10])",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(services::without_selector_single_stack(ctx)),
    },
    TrialDef {
        name: "dual_stack::single_stack_cluster::prefer_dual_one_address",
        claim: "on a single-stack cluster a `PreferDualStack` Service lists one address in `.spec.clusterIPs` and `.spec.clusterIP` (seed row [A8])",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::SingleStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(services::prefer_dual_on_single_stack(ctx)),
    },
    // Switching single/dual stack.
    TrialDef {
        name: "dual_stack::switch_stack::prefer_dual_adds_family",
        claim: "changing `.spec.ipFamilyPolicy` from `SingleStack` to `PreferDualStack` makes Kubernetes assign the missing address family",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(switching::prefer_dual_adds_family(ctx)),
    },
    TrialDef {
        name: "dual_stack::switch_stack::single_stack_keeps_first",
        claim: "changing `.spec.ipFamilyPolicy` to `SingleStack` keeps only the first element of `.spec.clusterIPs`, sets `.spec.clusterIP` to it and `.spec.ipFamilies` to its family",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(switching::single_stack_keeps_first(ctx)),
    },
    TrialDef {
        name: "dual_stack::switch_stack::primary_family_immutable",
        claim: "you cannot change the primary IP address family (`.spec.ipFamilies[0]`) of an existing Service",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(switching::primary_family_immutable(ctx)),
    },
    TrialDef {
        name: "dual_stack::switch_stack::require_dual_adds_family",
        claim: "changing `.spec.ipFamilyPolicy` from `SingleStack` to `RequireDualStack` makes Kubernetes assign the missing address family (seed row [A14])",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(switching::require_dual_adds_family(ctx)),
    },
    TrialDef {
        name: "dual_stack::switch_stack::require_dual_to_single_keeps_first",
        claim: "changing `.spec.ipFamilyPolicy` from `RequireDualStack` to `SingleStack` keeps only the first element of `.spec.clusterIPs`, sets `.spec.clusterIP` to it and `.spec.ipFamilies` to its family (seed row [A15])",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(switching::require_dual_keeps_first(ctx)),
    },
    per_family {
        name: "dual_stack::ip_families_immutable",
        claim: [
            "`.spec.ipFamilies` of an existing ",
            " Service cannot be changed: a new first family or reordering is refused (a list that grows with the policy is a doc finding); delete and recreate the Service to change it (seed row [A6])"
        ],
        doc_url: CONCEPT_PAGE,
        // Deleted and created again, the Service may take its new IPv4 address (the IPv6 variant's) before
        // the old one's IPAddress is released: two at once.
        needs: [Need::DualStack, Need::ServiceAddresses(2)],
        run: switching::ip_families_immutable,
    },
    // Headless Services.
    TrialDef {
        name: "dual_stack::headless::with_selector_single_stack",
        claim: "a headless Service with a selector and no `.spec.ipFamilyPolicy` gets `SingleStack` and the family of the first service range",
        doc_url: CONCEPT_PAGE,
        needs: &[],
        run: |ctx| Box::pin(services::headless_with_selector(ctx)),
    },
    TrialDef {
        name: "dual_stack::headless::without_selector_require_dual",
        claim: "for a headless Service without selector and without `.spec.ipFamilyPolicy`, the policy defaults to `RequireDualStack`",
        doc_url: CONCEPT_PAGE,
        needs: &[],
        run: |ctx| Box::pin(services::headless_without_selector(ctx)),
    },
    // EndpointSlices.
    TrialDef {
        name: "dual_stack::endpointslices::one_per_family",
        claim: "a dual-stack Service gets EndpointSlices of address type IPv4 and IPv6, each with the pods' addresses of that family",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(endpointslices::one_per_family(ctx)),
    },
    TrialDef {
        name: "dual_stack::endpointslices::none_for_unrequested_family",
        claim: "a single-stack IPv6 Service gets IPv6 EndpointSlices only: no slice for a family it did not request",
        doc_url: CONCEPT_PAGE,
        needs: &[Need::Ipv6],
        run: |ctx| Box::pin(endpointslices::none_for_unrequested_family(ctx)),
    },
    // The IPv6-first LoadBalancer.
    TrialDef {
        name: "dual_stack::prefer_ipv6_lb_svc::cluster_ips_ipv6_first",
        claim: "a `PreferDualStack` LoadBalancer Service with `IPv6` first in `.spec.ipFamilies` receives its CLUSTER-IP from the IPv6 address block",
        doc_url: VALIDATE_PAGE,
        needs: &[Need::DualStack, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(load_balancer::cluster_ips_ipv6_first(ctx)),
    },
    TrialDef {
        name: "dual_stack::prefer_ipv6_lb_svc::external_ip_first_family",
        claim: "a `PreferDualStack` LoadBalancer Service with `IPv6` first receives an EXTERNAL-IP of the IPv6 family",
        doc_url: VALIDATE_PAGE,
        needs: &[
            Need::DualStack,
            Need::LoadBalancer,
            Need::ServiceAddresses(1),
        ],
        run: |ctx| Box::pin(load_balancer::external_ip_first_family(ctx)),
    },
    TrialDef {
        name: "dual_stack::prefer_ipv6_lb_svc::node_port_allocated",
        claim: "a LoadBalancer Service builds on NodePort: the control plane allocates `my-service` a nodePort, shown as PORT(S) `80:30790/TCP` (seed row [P12], its NodePort part)",
        doc_url: VALIDATE_PAGE,
        needs: &[Need::Ipv6, Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(load_balancer::node_port_allocated(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::HostsSingleIp,
        &["dual_stack::pod01::etc_hosts_both_ips"],
    ),
    (
        Deviation::PodsSingleStack,
        &[
            "dual_stack::pod01::pod_ips_both_families",
            "dual_stack::pod01::my_pod_ips_downward",
            "dual_stack::pod01::etc_hosts_both_ips",
        ],
    ),
    (
        Deviation::PodIpOrderReversed,
        &["dual_stack::pod01::primary_family_first"],
    ),
    (
        Deviation::PodIpNotFirst,
        &["dual_stack::pod01::pod_ip_is_first_pod_ip"],
    ),
    (
        Deviation::DownwardPodIpsFirstOnly,
        &["dual_stack::pod01::my_pod_ips_downward"],
    ),
    (
        Deviation::ServiceIgnoresIpfamiliesOrder,
        &[
            "dual_stack::preferred_ipfamilies_svc::ipv6_first",
            "dual_stack::require_dual_ipfamilies_svc::ipv6_first",
            "dual_stack::prefer_ipv6_lb_svc::cluster_ips_ipv6_first",
        ],
    ),
    (
        Deviation::ServicePreferDualSingle,
        &[
            "dual_stack::preferred_svc::both_families_in_order",
            "dual_stack::switch_stack::prefer_dual_adds_family",
            "dual_stack::endpointslices::one_per_family",
            "dual_stack::prefer_ipv6_lb_svc::cluster_ips_ipv6_first",
            "dual_stack::preferred_ipfamilies_svc::ipv6_first",
            "dual_stack::switch_stack::single_stack_keeps_first",
            "dual_stack::ipfamilies_svc::ipv4_first",
            "dual_stack::ip_families_immutable::ipv4",
            "dual_stack::ip_families_immutable::ipv6",
        ],
    ),
    (
        Deviation::ServiceDefaultPreferDual,
        &[
            "dual_stack::default_svc::single_stack_first_family",
            "dual_stack::ipfamilies_ipv6_svc::single_stack_ipv6",
            "dual_stack::headless::with_selector_single_stack",
            "dual_stack::endpointslices::none_for_unrequested_family",
            "dual_stack::switch_stack::prefer_dual_adds_family",
            "dual_stack::switch_stack::primary_family_immutable",
            "dual_stack::ipfamilies_svc::single_stack_ipv4",
            "dual_stack::without_selector::single_stack_first_family",
            "dual_stack::ip_families_immutable::ipv4",
            "dual_stack::ip_families_immutable::ipv6",
            "dual_stack::switch_stack::require_dual_adds_family",
        ],
    ),
    (
        Deviation::ServiceSingleStackPrimaryOnly,
        &[
            "dual_stack::ipfamilies_ipv6_svc::single_stack_ipv6",
            "dual_stack::endpointslices::none_for_unrequested_family",
            "dual_stack::ip_families_immutable::ipv4",
            "dual_stack::ip_families_immutable::ipv6",
        ],
    ),
    (
        Deviation::ServiceDowngradeRejected,
        &[
            "dual_stack::switch_stack::single_stack_keeps_first",
            "dual_stack::switch_stack::require_dual_to_single_keeps_first",
        ],
    ),
    (
        Deviation::ServiceFamilyMutable,
        &[
            "dual_stack::switch_stack::primary_family_immutable",
            "dual_stack::ip_families_immutable::ipv4",
            "dual_stack::ip_families_immutable::ipv6",
        ],
    ),
    (
        Deviation::HeadlessNoSelectorSingleStack,
        &["dual_stack::headless::without_selector_require_dual"],
    ),
    (
        Deviation::EndpointsliceMissingIpv6,
        &[
            "dual_stack::endpointslices::one_per_family",
            "dual_stack::endpointslices::none_for_unrequested_family",
        ],
    ),
    (
        Deviation::EndpointsliceAllFamilies,
        &["dual_stack::endpointslices::none_for_unrequested_family"],
    ),
    (
        Deviation::NodesSingleStackPodcidr,
        &[
            "dual_stack::nodes::pod_cidrs_both_families",
            "dual_stack::pod01::etc_hosts_both_ips",
            "dual_stack::pod01::my_pod_ips_downward",
            "dual_stack::pod01::pod_ips_both_families",
        ],
    ),
    (
        Deviation::NodesSingleInternalIp,
        &[
            "dual_stack::nodes::internal_ips_both_families",
            "dual_stack::host_network::pod_ips_match_node_addresses",
        ],
    ),
    (
        Deviation::HostNetworkPodIpsPrimaryOnly,
        &["dual_stack::host_network::pod_ips_match_node_addresses"],
    ),
    (
        Deviation::LbIngressIpv4Only,
        &["dual_stack::prefer_ipv6_lb_svc::external_ip_first_family"],
    ),
    (
        Deviation::LbNodeportNotAllocated,
        &["dual_stack::prefer_ipv6_lb_svc::node_port_allocated"],
    ),
    (
        Deviation::NodeportOutsideRange,
        &["dual_stack::prefer_ipv6_lb_svc::node_port_allocated"],
    ),
    (
        Deviation::ServiceRequireDualSingle,
        &[
            "dual_stack::require_dual_svc::both_families_in_order",
            "dual_stack::require_dual_ipfamilies_svc::ipv6_first",
            "dual_stack::switch_stack::require_dual_adds_family",
            "dual_stack::switch_stack::require_dual_to_single_keeps_first",
        ],
    ),
    (
        Deviation::ServiceSessionAffinityClientIp,
        &[
            "dual_stack::default_svc::single_stack_first_family",
            "dual_stack::preferred_svc::both_families_in_order",
        ],
    ),
    (
        Deviation::ServicePreferDualRejectedOnSingleStack,
        &["dual_stack::single_stack_cluster::prefer_dual_one_address"],
    ),
    (
        Deviation::NodesNoHostnameAddress,
        &["dual_stack::nodes::hostname_address"],
    ),
    (
        Deviation::NodeCidrMaskSizeNotDefault,
        &[
            "dual_stack::pod_cidr_mask_size::ipv4",
            "dual_stack::pod_cidr_mask_size::ipv6",
        ],
    ),
];

/// The cluster's primary service IP family: the family of the `kubernetes` Service's ClusterIP, which the
/// apiserver takes from the first `--service-cluster-ip-range` (upstream:
/// pkg/controlplane/controller/kubernetesservice; alloc.go `defaultServiceIPFamily`).
pub(crate) async fn primary_service_family(ctx: &Ctx) -> Result<IpFamily, TrialError> {
    let api: Api<Service> = Api::namespaced(ctx.client(), "default");
    let kubernetes = retrying(|| api.get("kubernetes"))
        .await
        .map_err(TrialError::api("reading service default/kubernetes"))?;
    let ip = kubernetes
        .spec
        .and_then(|s| s.cluster_ip)
        .unwrap_or_default();
    family_of_ip(&ip).map_err(|e| {
        TrialError::Harness(format!("the ClusterIP of service default/kubernetes: {e}"))
    })
}

/// The family names of `families`, as `.spec.ipFamilies` spells them.
pub(crate) fn family_names(families: &[IpFamily]) -> Vec<String> {
    families.iter().map(|f| f.as_str().to_string()).collect()
}
