//! Named deviations: single misbehaviours a real (broken or misconfigured) cluster could show,
//! which the double simulates on request so the suite's own tests can prove each check catches one.

use std::collections::BTreeSet;

/// One deviation from upstream behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deviation {
    pub name: &'static str,
    pub description: &'static str,
    /// Trials (`suite::scenario::check`) that fail under this deviation: exactly these, no fewer and no more,
    /// over their whole suites (`suites/tests/against_double.rs` checks it).
    pub fails: &'static [&'static str],
}

pub const DEVIATIONS: &[Deviation] = &[
    Deviation {
        name: "hosts-spaces-not-tabs",
        description: "the hosts file separates addresses and names with spaces instead of the kubelet's TABs",
        fails: &[
            "hostaliases::nginx::default_entries",
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::host_network::header_and_aliases",
            "hostaliases::subdomain::fqdn_entries",
        ],
    },
    Deviation {
        name: "hosts-no-fqdn",
        description: "the kubelet ignores spec.subdomain: pod lines carry only the hostname, not the FQDN",
        fails: &["hostaliases::subdomain::fqdn_entries"],
    },
    Deviation {
        name: "hosts-host-network-unmanaged",
        description: "a hostNetwork pod gets the node's hosts file as it is: no managed header, no HostAliases section",
        fails: &["hostaliases::host_network::header_and_aliases"],
    },
    Deviation {
        name: "hosts-host-network-stale-node-file",
        description: "a hostNetwork pod's /etc/hosts carries a stale copy of the node's file (without the node's own address lines)",
        fails: &["hostaliases::host_network::header_and_aliases"],
    },
    Deviation {
        name: "hosts-overrides-own-mount",
        description: "the kubelet mounts its managed /etc/hosts over a container's own /etc/hosts mount",
        fails: &["hostaliases::own_mount::not_managed"],
    },
    Deviation {
        name: "pods-image-pull-backoff",
        description: "images cannot be pulled: containers stay waiting in ImagePullBackOff and pods stay Pending",
        fails: &[
            "hostaliases::hostaliases_pod::completes",
            "hostaliases::nginx::managed_header",
            "dns::busybox::runs",
            "dns::busybox::current_busybox_needs_fqdn",
            "dns::busybox::nameserver_is_kube_dns",
            "dns::busybox::nslookup_kubernetes_default",
            "dns::pods::hostname_subdomain",
            "dns::pods::pod_ip_record",
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
            "dns::resolv::default_policy",
            "dns::resolv::dns_config_merge",
            "dns::resolv::host_network_falls_back",
            "dns::resolv::none_dns_config",
            "dns::services::bare_name_other_namespace",
            "dns::services::cross_namespace_name",
            "dns::services::dual_stack_a_aaaa",
            "dns::services::headless_ready_pods",
            "dns::services::same_namespace_name",
            "dns::services::srv_named_port",
            "hostaliases::host_network::header_and_aliases",
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::nginx::default_entries",
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::own_mount::not_managed",
            "hostaliases::subdomain::fqdn_entries",
        ],
    },
    Deviation {
        name: "hosts-no-alias-section",
        description: "the kubelet writes /etc/hosts without the `# Entries added by HostAliases.` section",
        fails: &[
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::host_network::header_and_aliases",
        ],
    },
    Deviation {
        name: "hosts-missing-header",
        description: "the kubelet-managed /etc/hosts lacks the `# Kubernetes-managed hosts file.` header line",
        fails: &[
            "hostaliases::nginx::managed_header",
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::host_network::header_and_aliases",
            "hostaliases::nginx::default_entries",
            "hostaliases::subdomain::fqdn_entries",
        ],
    },
    Deviation {
        name: "hosts-single-ip",
        description: "the kubelet writes only the first pod IP into /etc/hosts of a dual-stack pod",
        fails: &[
            "hostaliases::nginx::pod_ip_entries",
            "dual_stack::pod01::etc_hosts_both_ips",
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::subdomain::fqdn_entries",
        ],
    },
    Deviation {
        name: "pods-single-stack",
        description: "pods get one IP (IPv4 only) although their node has IPv4 and IPv6 podCIDRs",
        fails: &[
            "dual_stack::pod01::pod_ips_both_families",
            "dual_stack::pod01::my_pod_ips_downward",
            "dual_stack::pod01::etc_hosts_both_ips",
            "dual_stack::pod01::primary_family_first",
        ],
    },
    Deviation {
        name: "pod-ip-order-reversed",
        description: "status.podIPs lists the IPv6 address first on an IPv4-primary cluster",
        fails: &["dual_stack::pod01::primary_family_first"],
    },
    Deviation {
        name: "pod-ip-not-first",
        description: "status.podIP holds the pod's last IP instead of status.podIPs[0]",
        fails: &["dual_stack::pod01::pod_ip_is_first_pod_ip"],
    },
    Deviation {
        name: "downward-pod-ips-first-only",
        description: "the downward API status.podIPs gives only the first pod IP",
        fails: &["dual_stack::pod01::my_pod_ips_downward"],
    },
    Deviation {
        name: "service-ignores-ipfamilies-order",
        description: "the apiserver allocates ClusterIPs in the cluster's family order, ignoring spec.ipFamilies order",
        fails: &[
            "dual_stack::preferred_ipfamilies_svc::ipv6_first",
            "dual_stack::require_dual_ipfamilies_svc::ipv6_first",
            "dual_stack::prefer_ipv6_lb_svc::cluster_ips_ipv6_first",
        ],
    },
    Deviation {
        name: "service-prefer-dual-single",
        description: "a PreferDualStack Service gets (or keeps) a single IP family on a dual-stack cluster",
        fails: &[
            "dual_stack::preferred_svc::both_families_in_order",
            "dual_stack::switch_stack::prefer_dual_adds_family",
            "dual_stack::endpointslices::one_per_family",
            "dual_stack::prefer_ipv6_lb_svc::cluster_ips_ipv6_first",
            "dual_stack::preferred_ipfamilies_svc::ipv6_first",
            "dual_stack::switch_stack::single_stack_keeps_first",
        ],
    },
    Deviation {
        name: "service-default-prefer-dual",
        description: "the apiserver defaults a missing spec.ipFamilyPolicy to PreferDualStack instead of SingleStack",
        fails: &[
            "dual_stack::default_svc::single_stack_first_family",
            "dual_stack::ipfamilies_ipv6_svc::single_stack_ipv6",
            "dual_stack::headless::with_selector_single_stack",
            "dual_stack::endpointslices::none_for_unrequested_family",
            "dual_stack::switch_stack::prefer_dual_adds_family",
            "dual_stack::switch_stack::primary_family_immutable",
        ],
    },
    Deviation {
        name: "service-single-stack-primary-only",
        description: "SingleStack Services always get a ClusterIP of the primary family, whatever spec.ipFamilies asks",
        fails: &[
            "dual_stack::ipfamilies_ipv6_svc::single_stack_ipv6",
            "dual_stack::endpointslices::none_for_unrequested_family",
        ],
    },
    Deviation {
        name: "service-downgrade-rejected",
        description: "setting ipFamilyPolicy SingleStack on a dual-stack Service is rejected unless clusterIPs and ipFamilies are trimmed by the client",
        fails: &["dual_stack::switch_stack::single_stack_keeps_first"],
    },
    Deviation {
        name: "service-family-mutable",
        description: "changing spec.ipFamilies[0] of a Service is accepted (and its ClusterIPs reallocated)",
        fails: &["dual_stack::switch_stack::primary_family_immutable"],
    },
    Deviation {
        name: "headless-no-selector-single-stack",
        description: "a headless Service without selector defaults to SingleStack instead of RequireDualStack",
        fails: &["dual_stack::headless::without_selector_require_dual"],
    },
    Deviation {
        name: "endpointslice-missing-ipv6",
        description: "the endpointslice controller publishes no IPv6 EndpointSlice for dual-stack Services",
        fails: &[
            "dual_stack::endpointslices::one_per_family",
            "connectivity::cluster_ip::ipv6",
            "connectivity::node_port::ipv6",
            "dual_stack::endpointslices::none_for_unrequested_family",
        ],
    },
    Deviation {
        name: "endpointslice-all-families",
        description: "the endpointslice controller publishes slices of both address types whatever the Service's ipFamilies",
        fails: &["dual_stack::endpointslices::none_for_unrequested_family"],
    },
    Deviation {
        name: "nodes-single-stack-podcidr",
        description: "nodes get only an IPv4 podCIDR (node IPAM not configured for IPv6)",
        fails: &[
            "dual_stack::nodes::pod_cidrs_both_families",
            "dual_stack::pod01::etc_hosts_both_ips",
            "dual_stack::pod01::my_pod_ips_downward",
            "dual_stack::pod01::pod_ips_both_families",
            "dual_stack::pod01::primary_family_first",
        ],
    },
    Deviation {
        name: "nodes-single-internal-ip",
        description: "nodes report only an IPv4 InternalIP (kubelet --node-ip without the IPv6 address)",
        fails: &["dual_stack::nodes::internal_ips_both_families"],
    },
    Deviation {
        name: "service-ipv6-unreachable",
        description: "kube-proxy programs no rules for IPv6 ClusterIPs: connections to them time out",
        fails: &["connectivity::cluster_ip::ipv6"],
    },
    Deviation {
        name: "service-masquerade",
        description: "kube-proxy masquerades pod-to-Service traffic: the backend sees the client node's IP, not the pod's",
        fails: &[
            "connectivity::cluster_ip::ipv4",
            "connectivity::cluster_ip::ipv6",
        ],
    },
    Deviation {
        name: "pod-to-pod-ipv6-dropped",
        description: "the network plugin installs no IPv6 routes between nodes: IPv6 traffic to pods on other nodes is dropped",
        fails: &[
            "connectivity::pod_to_pod::ipv6",
            "connectivity::cluster_ip::ipv6",
            "connectivity::node_port::ipv6",
        ],
    },
    Deviation {
        name: "pod-to-pod-masquerade",
        description: "the network plugin SNATs pod traffic leaving a node to the node's IP",
        fails: &[
            "connectivity::pod_to_pod::ipv4",
            "connectivity::pod_to_pod::ipv6",
            "connectivity::cluster_ip::ipv4",
            "connectivity::cluster_ip::ipv6",
        ],
    },
    Deviation {
        name: "nodeport-outside-range",
        description: "the apiserver allocates nodePorts from 20000-22767 instead of the default --service-node-port-range 30000-32767",
        fails: &[
            "connectivity::node_port::allocated_in_range",
            "connectivity::node_port::requested_port_allocated",
        ],
    },
    Deviation {
        name: "nodeport-requested-ignored",
        description: "the apiserver ignores a requested spec.ports[].nodePort and allocates another port",
        fails: &[
            "connectivity::node_port::requested_port_allocated",
            "connectivity::node_port::requested_port_in_use_rejected",
            "connectivity::node_port::requested_port_out_of_range_rejected",
        ],
    },
    Deviation {
        name: "nodeport-duplicate-allowed",
        description: "the NodePort allocator hands out ports another Service holds (no 'provided port is already allocated')",
        fails: &["connectivity::node_port::requested_port_in_use_rejected"],
    },
    Deviation {
        name: "nodeport-range-unchecked",
        description: "a requested nodePort outside the node port range is accepted",
        fails: &["connectivity::node_port::requested_port_out_of_range_rejected"],
    },
    Deviation {
        name: "nodeport-ipv6-not-served",
        description: "kube-proxy's IPv6 proxier programs no NodePorts: the nodes' IPv6 addresses refuse them",
        fails: &["connectivity::node_port::ipv6"],
    },
    Deviation {
        name: "nodeport-only-on-endpoint-nodes",
        description: "a NodePort answers only on nodes that run a ready endpoint of the Service (others refuse)",
        fails: &[
            "connectivity::node_port::ipv4",
            "connectivity::node_port::ipv6",
        ],
    },
    Deviation {
        name: "internal-traffic-policy-ignored",
        description: "kube-proxy ignores internalTrafficPolicy: Local and sends pod traffic to endpoints on any node",
        fails: &[
            "connectivity::internal_traffic_policy::local_endpoint_only",
            "connectivity::internal_traffic_policy::no_local_endpoint_dropped",
        ],
    },
    Deviation {
        name: "lb-ingress-ipv4-only",
        description: "the LoadBalancer controller publishes only an IPv4 ingress address, even for IPv6-first Services",
        fails: &["dual_stack::prefer_ipv6_lb_svc::external_ip_first_family"],
    },
    Deviation {
        name: "dns-no-cross-namespace",
        description: "cluster DNS answers only for Services in the querying pod's namespace (svc.other-ns fails)",
        fails: &[
            "dns::services::cross_namespace_name",
            "dns::busybox::current_busybox_needs_fqdn",
            "dns::busybox::nslookup_kubernetes_default",
            "dns::services::bare_name_other_namespace",
        ],
    },
    Deviation {
        name: "resolv-missing-search",
        description: "pods' /etc/resolv.conf has no search line (kubelet without --cluster-domain)",
        fails: &[
            "dns::resolv::cluster_first",
            "dns::busybox::nslookup_kubernetes_default",
            "dns::services::same_namespace_name",
            "dns::busybox::current_busybox_needs_fqdn",
            "dns::pods::hostname_subdomain",
            "dns::pods::pod_ip_record",
            "dns::resolv::cluster_first_with_host_net",
            "dns::resolv::dns_config_merge",
            "dns::services::bare_name_other_namespace",
            "dns::services::cross_namespace_name",
            "dns::services::dual_stack_a_aaaa",
            "dns::services::headless_ready_pods",
            "dns::services::srv_named_port",
        ],
    },
    Deviation {
        name: "dns-server-unreachable",
        description: "nothing answers DNS on the kube-dns ClusterIP (CoreDNS down or its Service not programmed): every query times out",
        fails: &[
            "dns::busybox::nslookup_kubernetes_default",
            "dns::busybox::current_busybox_needs_fqdn",
            "dns::services::same_namespace_name",
            "dns::services::srv_named_port",
            "dns::pods::pod_ip_record",
            "dns::pods::hostname_subdomain",
            "dns::services::bare_name_other_namespace",
            "dns::services::cross_namespace_name",
            "dns::services::dual_stack_a_aaaa",
            "dns::services::headless_ready_pods",
        ],
    },
    Deviation {
        name: "kube-dns-service-renamed",
        description: "the cluster DNS Service is not called kube-dns (RKE2's chart names it rke2-coredns-rke2-coredns)",
        fails: &[
            "dns::busybox::kube_dns_service",
            "dns::busybox::nameserver_is_kube_dns",
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
        ],
    },
    Deviation {
        name: "resolv-wrong-cluster-dns",
        description: "the kubelet's --cluster-dns is a stale address (10.0.0.10), not the kube-dns ClusterIP: pods query a server that does not answer",
        fails: &[
            "dns::busybox::nameserver_is_kube_dns",
            "dns::busybox::nslookup_kubernetes_default",
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
            "dns::busybox::current_busybox_needs_fqdn",
            "dns::pods::hostname_subdomain",
            "dns::pods::pod_ip_record",
            "dns::services::bare_name_other_namespace",
            "dns::services::cross_namespace_name",
            "dns::services::dual_stack_a_aaaa",
            "dns::services::headless_ready_pods",
            "dns::services::same_namespace_name",
            "dns::services::srv_named_port",
        ],
    },
    Deviation {
        name: "resolv-link-local-cluster-dns",
        description: "the kubelet's --cluster-dns is NodeLocal DNSCache's 169.254.20.10 but no node-local-dns DaemonSet runs: pods query an address nothing serves",
        // Every lookup through the cluster DNS goes to that address and gets no answer, and every
        // ClusterFirst resolv.conf names it.
        fails: &[
            "dns::busybox::nameserver_is_kube_dns",
            "dns::busybox::nslookup_kubernetes_default",
            "dns::busybox::current_busybox_needs_fqdn",
            "dns::pods::hostname_subdomain",
            "dns::pods::pod_ip_record",
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
            "dns::services::bare_name_other_namespace",
            "dns::services::cross_namespace_name",
            "dns::services::dual_stack_a_aaaa",
            "dns::services::headless_ready_pods",
            "dns::services::same_namespace_name",
            "dns::services::srv_named_port",
        ],
    },
    Deviation {
        name: "dns-upstream-wildcard",
        description: "the upstream resolver answers every name (a wildcard record): a bare Service name from another namespace resolves after the search list",
        fails: &["dns::services::bare_name_other_namespace"],
    },
    Deviation {
        name: "dns-no-aaaa",
        description: "cluster DNS answers AAAA queries with no records: dual-stack Services resolve to their IPv4 address only",
        fails: &["dns::services::dual_stack_a_aaaa"],
    },
    Deviation {
        name: "dns-headless-empty",
        description: "cluster DNS serves no endpoint records for headless Services (NXDOMAIN for their names and their pods' hostnames)",
        fails: &[
            "dns::services::headless_ready_pods",
            "dns::pods::hostname_subdomain",
        ],
    },
    Deviation {
        name: "dns-headless-includes-unready",
        description: "cluster DNS serves not-ready endpoints of headless Services as if publishNotReadyAddresses were set",
        fails: &["dns::services::headless_ready_pods"],
    },
    Deviation {
        name: "dns-no-srv",
        description: "cluster DNS serves no SRV records for named Service ports",
        fails: &["dns::services::srv_named_port"],
    },
    Deviation {
        name: "dns-no-pod-hostname-records",
        description: "cluster DNS ignores endpoint hostnames: `<hostname>.<subdomain>.<ns>.svc` names of pods do not resolve",
        fails: &["dns::pods::hostname_subdomain"],
    },
    Deviation {
        name: "dns-pod-records-servfail",
        description: "cluster DNS fails (SERVFAIL) on `<a-b-c-d>.<ns>.pod` names instead of answering or denying them",
        fails: &["dns::pods::pod_ip_record"],
    },
    Deviation {
        name: "dns-pod-records-nxdomain",
        description: "cluster DNS answers NXDOMAIN for `<a-b-c-d>.<ns>.pod` names although its Corefile says `pods insecure`",
        fails: &["dns::pods::pod_ip_record"],
    },
    Deviation {
        name: "resolv-wrong-ndots",
        description: "the kubelet writes `options ndots:1` for cluster DNS pods instead of ndots:5",
        fails: &[
            "dns::resolv::cluster_first",
            "dns::resolv::cluster_first_with_host_net",
        ],
    },
    Deviation {
        name: "resolv-default-uses-cluster-dns",
        description: "the kubelet handles dnsPolicy Default like ClusterFirst (cluster DNS instead of the node's resolv.conf)",
        fails: &["dns::resolv::default_policy"],
    },
    Deviation {
        name: "dnsconfig-ignored",
        description: "the kubelet ignores spec.dnsConfig (dnsPolicy None pods get the node's resolv.conf)",
        fails: &[
            "dns::resolv::none_dns_config",
            "dns::resolv::dns_config_merge",
        ],
    },
    Deviation {
        name: "dnsconfig-no-dedup",
        description: "the kubelet appends spec.dnsConfig without omitting duplicate nameservers, searches and options",
        fails: &["dns::resolv::dns_config_merge"],
    },
    Deviation {
        name: "resolv-hostnet-no-fallback",
        description: "a hostNetwork pod with dnsPolicy ClusterFirst gets the cluster DNS instead of falling back to Default",
        fails: &["dns::resolv::host_network_falls_back"],
    },
    Deviation {
        name: "resolv-hostnet-ignores-cluster-first-with-host-net",
        description: "the kubelet handles ClusterFirstWithHostNet like Default: hostNetwork pods never get the cluster DNS",
        fails: &["dns::resolv::cluster_first_with_host_net"],
    },
    Deviation {
        name: "servicecidr-no-finalizer",
        description: "ServiceCIDRs get no protection finalizer and are deleted at once while IPs are in use",
        fails: &[
            "service_cidr::deletion_in_use::terminating_with_finalizer",
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::explicit_ip::deletion_blocked",
            "service_cidr::explicit_ip::released",
            "service_cidr::release::deleted_after_services",
        ],
    },
    Deviation {
        name: "servicecidr-ignored-by-allocator",
        description: "the ClusterIP allocator uses only the default ServiceCIDR; added ServiceCIDRs never serve IPs",
        fails: &[
            "service_cidr::expansion::allocates_from_new_range",
            "service_cidr::explicit_ip::allocated_inside",
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::deletion_in_use::terminating_with_finalizer",
            "service_cidr::explicit_ip::deletion_blocked",
            "service_cidr::explicit_ip::released",
            "service_cidr::release::deleted_after_services",
        ],
    },
    Deviation {
        name: "ipaddress-wrong-parentref",
        description: "IPAddress objects reference their Service with resource `service` instead of `services`",
        fails: &[
            "service_cidr::default::ipaddress_parent_ref",
            "service_cidr::explicit_ip::allocated_inside",
        ],
    },
    Deviation {
        name: "servicecidr-default-stale-range",
        description: "the default ServiceCIDR `kubernetes` holds a stale IPv4 range (a /24) that differs from the apiserver's --service-cluster-ip-range",
        fails: &["service_cidr::default::cidrs_match_service_ranges"],
    },
    Deviation {
        name: "kubernetes-service-not-first-address",
        description: "the `kubernetes` Service takes the second address of the service range instead of the first",
        fails: &["service_cidr::default::kubernetes_service_first_address"],
    },
    Deviation {
        name: "range-never-full",
        description: "once the IPv4 ranges are full the allocator hands out addresses beyond them (it ignores the ServiceCIDR's prefix length) instead of `range is full`",
        fails: &[
            "service_cidr::exhaustion::range_is_full",
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::deletion_in_use::terminating_with_finalizer",
            "service_cidr::expansion::allocates_from_new_range",
            "service_cidr::expansion::becomes_ready",
            "service_cidr::release::deleted_after_services",
        ],
    },
    Deviation {
        name: "servicecidr-never-ready",
        description: "the ServiceCIDR controller never sets the Ready condition of added ServiceCIDRs",
        fails: &[
            "service_cidr::expansion::becomes_ready",
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::deletion_in_use::terminating_with_finalizer",
            "service_cidr::expansion::allocates_from_new_range",
            "service_cidr::explicit_ip::allocated_inside",
            "service_cidr::explicit_ip::deletion_blocked",
            "service_cidr::explicit_ip::released",
            "service_cidr::release::deleted_after_services",
        ],
    },
    Deviation {
        name: "servicecidr-terminating-stays-ready",
        description: "a ServiceCIDR whose deletion IPAddresses block keeps Ready=True instead of Ready=False with the blocking message",
        fails: &[
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::explicit_ip::deletion_blocked",
            "service_cidr::explicit_ip::released",
            "service_cidr::release::deleted_after_services",
        ],
    },
    Deviation {
        name: "servicecidr-never-released",
        description: "the ServiceCIDR controller never removes the finalizer of a deleted ServiceCIDR, even once no IPAddress needs it",
        fails: &[
            "service_cidr::release::deleted_after_services",
            "service_cidr::explicit_ip::released",
        ],
    },
    Deviation {
        name: "pods-never-ready",
        description: "containers start but pods never become Ready",
        fails: &[
            "hostaliases::nginx::default_entries",
            "hostaliases::host_network::header_and_aliases",
            "hostaliases::nginx::managed_header",
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::own_mount::not_managed",
            "hostaliases::subdomain::fqdn_entries",
        ],
    },
    Deviation {
        name: "network-policy-not-enforced",
        description: "the network plugin ignores NetworkPolicy: every connection passes",
        fails: &[
            "connectivity::network_policy::frontend_reaches_db",
            "connectivity::network_policy::project_namespace_reaches_db",
            "connectivity::network_policy::unlabelled_pod_dropped",
            "connectivity::network_policy::other_port_dropped",
            "connectivity::network_policy::db_egress_limited",
        ],
    },
    Deviation {
        name: "network-policy-ignores-namespace-selector",
        description: "NetworkPolicy peers with a namespaceSelector match no pod (only the policy's own namespace is known)",
        fails: &["connectivity::network_policy::project_namespace_reaches_db"],
    },
    Deviation {
        name: "network-policy-egress-ignored",
        description: "the network plugin enforces only ingress: policyTypes Egress isolates no pod",
        fails: &["connectivity::network_policy::db_egress_limited"],
    },
    Deviation {
        name: "network-policy-ports-ignored",
        description: "NetworkPolicy rules match every port: their `ports` lists are ignored",
        fails: &["connectivity::network_policy::other_port_dropped"],
    },
    Deviation {
        name: "network-policy-replies-not-tracked",
        description: "the network plugin filters without connection tracking: replies of allowed connections must pass the server's egress rules, so an egress-isolated server answers nobody",
        fails: &[
            "connectivity::network_policy::frontend_reaches_db",
            "connectivity::network_policy::project_namespace_reaches_db",
            "connectivity::network_policy::other_port_dropped",
        ],
    },
    Deviation {
        name: "network-policy-ipv4-only",
        description: "the network plugin enforces NetworkPolicy on IPv4 only: IPv6 connections are never filtered",
        fails: &[
            "connectivity::network_policy::frontend_reaches_db",
            "connectivity::network_policy::project_namespace_reaches_db",
            "connectivity::network_policy::unlabelled_pod_dropped",
            "connectivity::network_policy::other_port_dropped",
            "connectivity::network_policy::db_egress_limited",
        ],
    },
    // connectivity::expose, connectivity::readiness, connectivity::service_env (helper A2)
    Deviation {
        name: "replicaset-single-pod",
        description: "the replicaset controller keeps one pod per ReplicaSet whatever spec.replicas says",
        fails: &[
            "connectivity::expose::deployment_replicas_ready",
            "connectivity::expose::cluster_ip_port_reaches_pods",
            "connectivity::expose::endpoints_list_the_pods",
        ],
    },
    Deviation {
        name: "endpoints-controller-disabled",
        description: "kube-controller-manager runs without the endpoints controller (--controllers=*,-endpoint): core/v1 Endpoints are never written",
        fails: &[
            "connectivity::expose::endpoints_list_the_pods",
            "connectivity::expose::endpoints_carry_target_port",
            "connectivity::readiness::deleted_pod_leaves",
            "connectivity::readiness::ready_moves_to_addresses",
            "connectivity::readiness::unready_gets_no_traffic",
            "connectivity::readiness::unready_listed_not_ready",
        ],
    },
    Deviation {
        name: "endpoints-use-service-port",
        description: "the endpoint controllers publish the Service's port instead of resolving its targetPort on the pods",
        fails: &[
            "connectivity::expose::endpoints_carry_target_port",
            "connectivity::expose::cluster_ip_port_reaches_pods",
            "connectivity::internal_traffic_policy::local_endpoint_only",
            "connectivity::internal_traffic_policy::no_local_endpoint_dropped",
            "connectivity::node_port::ipv4",
            "connectivity::node_port::ipv6",
            "connectivity::readiness::deleted_pod_leaves",
            "connectivity::readiness::ready_moves_to_addresses",
            "connectivity::readiness::unready_gets_no_traffic",
            "connectivity::readiness::unready_listed_not_ready",
        ],
    },
    Deviation {
        name: "endpoints-include-unready",
        description: "the endpoint controllers publish pods that are not ready as ready endpoints (kube-proxy then sends them traffic)",
        fails: &[
            "connectivity::readiness::unready_listed_not_ready",
            "connectivity::readiness::unready_gets_no_traffic",
        ],
    },
    Deviation {
        name: "proxy-uses-unready-endpoints",
        description: "kube-proxy sends Service traffic to endpoints whose EndpointSlice condition is ready: false",
        fails: &["connectivity::readiness::unready_gets_no_traffic"],
    },
    Deviation {
        name: "endpoints-stale-readiness",
        description: "the endpoint controllers keep each pod's readiness as first seen: a pod that becomes ready stays listed not ready",
        fails: &["connectivity::readiness::ready_moves_to_addresses"],
    },
    Deviation {
        name: "endpoints-keep-deleted-pods",
        description: "the endpoint controllers keep endpoints of deleted pods",
        fails: &["connectivity::readiness::deleted_pod_leaves"],
    },
    Deviation {
        name: "service-env-no-docker-links",
        description: "the kubelet sets only the {SVCNAME}_SERVICE_HOST/_SERVICE_PORT variables, not the docker-link ones ({SVCNAME}_PORT, _PORT_<port>_<proto>...)",
        fails: &[
            "connectivity::service_env::docker_link_variables",
            "connectivity::service_env::enable_service_links_false",
            "connectivity::service_env::only_earlier_services",
        ],
    },
    Deviation {
        name: "service-env-follows-new-services",
        description: "containers see variables of Services created after they started (the environment is read again instead of fixed at start)",
        fails: &["connectivity::service_env::only_earlier_services"],
    },
    Deviation {
        name: "service-links-ignore-disable",
        description: "the kubelet ignores enableServiceLinks: false and sets the variables of every Service of the namespace",
        fails: &["connectivity::service_env::enable_service_links_false"],
    },
    Deviation {
        name: "service-links-drop-kubernetes",
        description: "with enableServiceLinks: false the kubelet also drops the `kubernetes` Service's variables",
        fails: &["connectivity::service_env::enable_service_links_false"],
    },
];

/// Trials whose outcome under a deviation varies from run to run on the double (they race the deviation's
/// effect against their own waits), so the exactness check in `suites/tests/against_double.rs` takes them either
/// way. Each entry is a defect of the double's model to settle, not a licence: keep this list short.
pub const UNSETTLED: &[(&str, &[&str])] = &[
    (
        "pod-to-pod-ipv6-dropped",
        &[
            "connectivity::network_policy::db_egress_limited",
            "connectivity::network_policy::frontend_reaches_db",
            "connectivity::network_policy::other_port_dropped",
            "connectivity::network_policy::project_namespace_reaches_db",
            "connectivity::network_policy::unlabelled_pod_dropped",
        ],
    ),
    (
        "pod-to-pod-masquerade",
        &[
            "connectivity::network_policy::frontend_reaches_db",
            "connectivity::network_policy::other_port_dropped",
            "connectivity::network_policy::project_namespace_reaches_db",
        ],
    ),
    (
        "endpoints-stale-readiness",
        &[
            "connectivity::cluster_ip::ipv4",
            "connectivity::cluster_ip::ipv6",
            "connectivity::expose::cluster_ip_port_reaches_pods",
            "connectivity::expose::endpoints_carry_target_port",
            "connectivity::expose::endpoints_list_the_pods",
            "connectivity::internal_traffic_policy::local_endpoint_only",
            "connectivity::internal_traffic_policy::no_local_endpoint_dropped",
            "connectivity::node_port::ipv4",
            "connectivity::node_port::ipv6",
            "connectivity::readiness::deleted_pod_leaves",
            "connectivity::readiness::unready_gets_no_traffic",
        ],
    ),
];

/// The trials [`UNSETTLED`] lists for the deviation `name`.
pub fn unsettled(name: &str) -> &'static [&'static str] {
    UNSETTLED
        .iter()
        .find(|(d, _)| *d == name)
        .map(|(_, trials)| *trials)
        .unwrap_or(&[])
}

/// The entries of `known` that `names` lists, or `(the first unknown name, every known name joined)`.
pub(crate) fn select_names(
    names: &[String],
    known: &[&'static str],
) -> Result<BTreeSet<&'static str>, (String, String)> {
    names
        .iter()
        .map(|name| {
            known
                .iter()
                .copied()
                .find(|k| k == name)
                .ok_or_else(|| (name.clone(), known.join(", ")))
        })
        .collect()
}

pub fn find(name: &str) -> Option<&'static Deviation> {
    DEVIATIONS.iter().find(|d| d.name == name)
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DeviationError {
    #[error("unknown deviation {name:?}; known deviations: {known}")]
    Unknown { name: String, known: String },
}

/// The validated set of active deviations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deviations {
    active: BTreeSet<&'static str>,
}

impl Deviations {
    /// Validates the configured names; an unknown name is an error listing the known ones.
    pub fn from_names(names: &[String]) -> Result<Deviations, DeviationError> {
        let known: Vec<&'static str> = DEVIATIONS.iter().map(|d| d.name).collect();
        select_names(names, &known)
            .map(|active| Deviations { active })
            .map_err(|(name, known)| DeviationError::Unknown { name, known })
    }

    pub fn has(&self, name: &str) -> bool {
        self.active.contains(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_unique_and_validated() {
        for (i, a) in DEVIATIONS.iter().enumerate() {
            assert!(DEVIATIONS[i + 1..].iter().all(|b| b.name != a.name));
            assert!(!a.fails.is_empty());
        }
        let d = Deviations::from_names(&["pods-single-stack".into()]).unwrap();
        assert!(d.has("pods-single-stack"));
        assert!(!d.has("hosts-single-ip"));
        let err = Deviations::from_names(&["nope".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("unknown deviation \"nope\"; known deviations: "),
            "{err}"
        );
        assert!(err.contains("hosts-no-alias-section"), "{err}");
    }
}
