//! The test double's deviations by name: single misbehaviours a real (broken or misconfigured) cluster could
//! show, which netconform-double simulates on request so the suite's own tests can prove each check catches
//! one. One variant per deviation, with its setting name and description beside it, so a misspelt deviation
//! is a compile error. It is its own crate, with no dependencies of weight, so that the settings and the
//! suites' expectations (`suites/src/<suite>`: `BREAKS`) name deviations in every build, including the users'
//! one, which leaves the double itself out.

use std::collections::BTreeSet;

/// Declares [`Deviation`]: each line is `Variant = "setting-name": "description"`.
macro_rules! deviations {
    ($($variant:ident = $name:literal: $description:literal,)+) => {
        /// One deviation from upstream behaviour the double can simulate.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
        pub enum Deviation {
            $($variant,)+
        }

        impl Deviation {
            /// Every deviation, in declaration order.
            pub const ALL: &[Deviation] = &[$(Deviation::$variant,)+];

            /// The name `NETCONFORM_SIM_DEVIATIONS` and `netconform sim --deviate` take (kebab-case).
            pub fn name(self) -> &'static str {
                match self {
                    $(Deviation::$variant => $name,)+
                }
            }

            /// What the double does wrong under it.
            pub fn description(self) -> &'static str {
                match self {
                    $(Deviation::$variant => $description,)+
                }
            }
        }
    };
}

deviations! {
    HostsSpacesNotTabs = "hosts-spaces-not-tabs": "the hosts file separates addresses and names with spaces instead of the kubelet's TABs",
    HostsNoFqdn = "hosts-no-fqdn": "the kubelet ignores spec.subdomain: pod lines carry only the hostname, not the FQDN",
    HostsHostNetworkUnmanaged = "hosts-host-network-unmanaged": "a hostNetwork pod gets the node's hosts file as it is: no managed header, no HostAliases section",
    HostsHostNetworkStaleNodeFile = "hosts-host-network-stale-node-file": "a hostNetwork pod's /etc/hosts carries a stale copy of the node's file (without the node's own address lines)",
    HostsOverridesOwnMount = "hosts-overrides-own-mount": "the kubelet mounts its managed /etc/hosts over a container's own /etc/hosts mount",
    PodsImagePullBackoff = "pods-image-pull-backoff": "images cannot be pulled: containers stay waiting in ImagePullBackOff and pods stay Pending",
    HostsNoAliasSection = "hosts-no-alias-section": "the kubelet writes /etc/hosts without the `# Entries added by HostAliases.` section",
    HostsMissingHeader = "hosts-missing-header": "the kubelet-managed /etc/hosts lacks the `# Kubernetes-managed hosts file.` header line",
    HostsSingleIp = "hosts-single-ip": "the kubelet writes only the first pod IP into /etc/hosts of a dual-stack pod",
    PodsSingleStack = "pods-single-stack": "pods get one IP (IPv4 only) although their node has IPv4 and IPv6 podCIDRs",
    PodIpOrderReversed = "pod-ip-order-reversed": "status.podIPs lists the IPv6 address first on an IPv4-primary cluster",
    PodIpNotFirst = "pod-ip-not-first": "status.podIP holds the pod's last IP instead of status.podIPs[0]",
    DownwardPodIpsFirstOnly = "downward-pod-ips-first-only": "the downward API status.podIPs gives only the first pod IP",
    ServiceIgnoresIpfamiliesOrder = "service-ignores-ipfamilies-order": "the apiserver allocates ClusterIPs in the cluster's family order, ignoring spec.ipFamilies order",
    ServicePreferDualSingle = "service-prefer-dual-single": "a PreferDualStack Service gets (or keeps) a single IP family on a dual-stack cluster",
    ServiceDefaultPreferDual = "service-default-prefer-dual": "the apiserver defaults a missing spec.ipFamilyPolicy to PreferDualStack instead of SingleStack",
    ServiceSingleStackPrimaryOnly = "service-single-stack-primary-only": "SingleStack Services always get a ClusterIP of the primary family, whatever spec.ipFamilies asks",
    ServiceDowngradeRejected = "service-downgrade-rejected": "setting ipFamilyPolicy SingleStack on a dual-stack Service is rejected unless clusterIPs and ipFamilies are trimmed by the client",
    ServiceFamilyMutable = "service-family-mutable": "changing spec.ipFamilies[0] of a Service is accepted (and its ClusterIPs reallocated)",
    ServiceRequireDualSingle = "service-require-dual-single": "a non-headless RequireDualStack Service gets (or keeps) a single IP family on a dual-stack cluster",
    ServiceSessionAffinityClientIp = "service-session-affinity-client-ip": "the apiserver defaults a missing spec.sessionAffinity to ClientIP instead of None",
    ServicePreferDualRejectedOnSingleStack = "service-prefer-dual-rejected-on-single-stack": "on a single-stack cluster the apiserver rejects a PreferDualStack Service as it does RequireDualStack, instead of giving it the cluster's one family",
    HeadlessNoSelectorSingleStack = "headless-no-selector-single-stack": "a headless Service without selector defaults to SingleStack instead of RequireDualStack",
    EndpointsliceMissingIpv6 = "endpointslice-missing-ipv6": "the endpointslice controller publishes no IPv6 EndpointSlice for dual-stack Services",
    EndpointsliceAllFamilies = "endpointslice-all-families": "the endpointslice controller publishes slices of both address types whatever the Service's ipFamilies",
    NodesSingleStackPodcidr = "nodes-single-stack-podcidr": "nodes get only an IPv4 podCIDR (node IPAM not configured for IPv6)",
    NodesSingleInternalIp = "nodes-single-internal-ip": "nodes report only an IPv4 InternalIP (kubelet --node-ip without the IPv6 address)",
    NodesNoHostnameAddress = "nodes-no-hostname-address": "the kubelet reports no Hostname entry in the node's status.addresses (only its InternalIPs)",
    NodeCidrMaskSizeNotDefault = "node-cidr-mask-size-not-default": "kube-controller-manager hands nodes IPv4 podCIDRs of /25 and IPv6 ones of /80 although no --node-cidr-mask-size flag asks for them (not the /24 and /64 defaults)",
    ServiceIpv6Unreachable = "service-ipv6-unreachable": "kube-proxy programs no rules for IPv6 ClusterIPs: connections to them time out",
    ServiceMasquerade = "service-masquerade": "kube-proxy masquerades pod-to-Service traffic: the backend sees the client node's IP, not the pod's",
    PodToPodIpv6Dropped = "pod-to-pod-ipv6-dropped": "the network plugin installs no IPv6 routes between nodes: IPv6 traffic to pods on other nodes is dropped",
    PodToPodMasquerade = "pod-to-pod-masquerade": "the network plugin SNATs pod traffic leaving a node to the node's IP",
    NodeportOutsideRange = "nodeport-outside-range": "the apiserver allocates nodePorts from 20000-22767 instead of the default --service-node-port-range 30000-32767",
    NodeportRequestedIgnored = "nodeport-requested-ignored": "the apiserver ignores a requested spec.ports[].nodePort and allocates another port",
    NodeportDuplicateAllowed = "nodeport-duplicate-allowed": "the NodePort allocator hands out ports another Service holds (no 'provided port is already allocated')",
    NodeportRangeUnchecked = "nodeport-range-unchecked": "a requested nodePort outside the node port range is accepted",
    NodeportIpv6NotServed = "nodeport-ipv6-not-served": "kube-proxy's IPv6 proxier programs no NodePorts: the nodes' IPv6 addresses refuse them",
    NodeportOnlyOnEndpointNodes = "nodeport-only-on-endpoint-nodes": "a NodePort answers only on nodes that run a ready endpoint of the Service (others refuse)",
    InternalTrafficPolicyIgnored = "internal-traffic-policy-ignored": "kube-proxy ignores internalTrafficPolicy: Local and sends pod traffic to endpoints on any node",
    LbNodeportNotAllocated = "lb-nodeport-not-allocated": "the apiserver allocates no nodePort to a LoadBalancer Service that did not set allocateLoadBalancerNodePorts (as if it defaulted to false)",
    LbIngressIpv4Only = "lb-ingress-ipv4-only": "the LoadBalancer controller publishes only an IPv4 ingress address, even for IPv6-first Services",
    DnsNoCrossNamespace = "dns-no-cross-namespace": "cluster DNS answers only for Services in the querying pod's namespace (svc.other-ns fails)",
    ResolvMissingSearch = "resolv-missing-search": "pods' /etc/resolv.conf has no search line (kubelet without --cluster-domain)",
    DnsServerUnreachable = "dns-server-unreachable": "nothing answers DNS on the kube-dns ClusterIP (CoreDNS down or its Service not programmed): every query times out",
    KubeDnsServiceRenamed = "kube-dns-service-renamed": "the cluster DNS Service is not called kube-dns (RKE2's chart names it rke2-coredns-rke2-coredns)",
    ResolvWrongClusterDns = "resolv-wrong-cluster-dns": "the kubelet's --cluster-dns is a stale address (10.0.0.10), not the kube-dns ClusterIP: pods query a server that does not answer",
    ResolvLinkLocalClusterDns = "resolv-link-local-cluster-dns": "the kubelet's --cluster-dns is NodeLocal DNSCache's 169.254.20.10 but no node-local-dns DaemonSet runs: pods query an address nothing serves",
    DnsUpstreamWildcard = "dns-upstream-wildcard": "the upstream resolver answers every name (a wildcard record): a bare Service name from another namespace resolves after the search list",
    DnsNoAaaa = "dns-no-aaaa": "cluster DNS answers AAAA queries with no records: dual-stack Services resolve to their IPv4 address only",
    DnsHeadlessEmpty = "dns-headless-empty": "cluster DNS serves no endpoint records for headless Services (NXDOMAIN for their names and their pods' hostnames)",
    DnsHeadlessIncludesUnready = "dns-headless-includes-unready": "cluster DNS serves not-ready endpoints of headless Services as if publishNotReadyAddresses were set",
    DnsNoSrv = "dns-no-srv": "cluster DNS serves no SRV records for named Service ports",
    DnsNoPodHostnameRecords = "dns-no-pod-hostname-records": "cluster DNS ignores endpoint hostnames: `<hostname>.<subdomain>.<ns>.svc` names of pods do not resolve",
    DnsPodRecordsServfail = "dns-pod-records-servfail": "cluster DNS fails (SERVFAIL) on `<a-b-c-d>.<ns>.pod` names instead of answering or denying them",
    DnsPodRecordsNxdomain = "dns-pod-records-nxdomain": "cluster DNS answers NXDOMAIN for `<a-b-c-d>.<ns>.pod` names although its Corefile says `pods insecure`",
    DnsNoForward = "dns-no-forward": "CoreDNS forwards nothing outside the cluster domain (its Corefile lost `forward . /etc/resolv.conf`): such names get SERVFAIL",
    DnsNoExternalName = "dns-no-external-name": "cluster DNS serves no records for ExternalName Services (NXDOMAIN instead of the CNAME)",
    DnsUpstreamIpv4Only = "dns-upstream-ipv4-only": "the nodes' upstream resolver answers only A records (Docker's embedded DNS on a kind network without IPv6): AAAA queries for names beyond the cluster get no records",
    PodHostnameIgnoresSpec = "pod-hostname-ignores-spec": "the runtime names the container's host after the pod's name, ignoring spec.hostname",
    PodNameUnvalidated = "pod-name-unvalidated": "the API server accepts pod names that are not DNS subdomains (upper case, underscores)",
    PodDnsConfigUnvalidated = "pod-dns-config-unvalidated": "the API server accepts any spec.dnsConfig: no limit on nameservers or search paths, dnsPolicy None without a nameserver",
    ResolvWrongNdots = "resolv-wrong-ndots": "the kubelet writes `options ndots:1` for cluster DNS pods instead of ndots:5",
    ResolvDefaultUsesClusterDns = "resolv-default-uses-cluster-dns": "the kubelet handles dnsPolicy Default like ClusterFirst (cluster DNS instead of the node's resolv.conf)",
    DnsconfigIgnored = "dnsconfig-ignored": "the kubelet ignores spec.dnsConfig (dnsPolicy None pods get the node's resolv.conf)",
    DnsconfigNoDedup = "dnsconfig-no-dedup": "the kubelet appends spec.dnsConfig without omitting duplicate nameservers, searches and options",
    ResolvHostnetNoFallback = "resolv-hostnet-no-fallback": "a hostNetwork pod with dnsPolicy ClusterFirst gets the cluster DNS instead of falling back to Default",
    ResolvHostnetIgnoresClusterFirstWithHostNet = "resolv-hostnet-ignores-cluster-first-with-host-net": "the kubelet handles ClusterFirstWithHostNet like Default: hostNetwork pods never get the cluster DNS",
    ServicecidrNoFinalizer = "servicecidr-no-finalizer": "ServiceCIDRs get no protection finalizer and are deleted at once while IPs are in use",
    ServicecidrIgnoredByAllocator = "servicecidr-ignored-by-allocator": "the ClusterIP allocator uses only the default ServiceCIDR; added ServiceCIDRs never serve IPs",
    IpaddressWrongParentref = "ipaddress-wrong-parentref": "IPAddress objects reference their Service with resource `service` instead of `services`",
    ServicecidrDefaultStaleRange = "servicecidr-default-stale-range": "the default ServiceCIDR `kubernetes` holds a stale IPv4 range (a /24) that differs from the apiserver's --service-cluster-ip-range",
    KubernetesServiceNotFirstAddress = "kubernetes-service-not-first-address": "the `kubernetes` Service takes the second address of the service range instead of the first",
    RangeNeverFull = "range-never-full": "once the IPv4 ranges are full the allocator hands out addresses beyond them (it ignores the ServiceCIDR's prefix length) instead of `range is full`",
    ServicecidrNeverReady = "servicecidr-never-ready": "the ServiceCIDR controller never sets the Ready condition of added ServiceCIDRs",
    ServicecidrTerminatingStaysReady = "servicecidr-terminating-stays-ready": "a ServiceCIDR whose deletion IPAddresses block keeps Ready=True instead of Ready=False with the blocking message",
    ServicecidrNeverReleased = "servicecidr-never-released": "the ServiceCIDR controller never removes the finalizer of a deleted ServiceCIDR, even once no IPAddress needs it",
    ServicecidrCoverIgnored = "servicecidr-cover-ignored": "the ServiceCIDR controller keeps a deleted ServiceCIDR whose IPs are in use even when another ServiceCIDR covers them (it ignores the other ServiceCIDRs)",
    ServicecidrBlockedMessageShort = "servicecidr-blocked-message-short": "the Ready=False message of a ServiceCIDR whose deletion is blocked stops after its first clause (no `please remove them or create a new ServiceCIDR`)",
    PodsNeverReady = "pods-never-ready": "containers start but pods never become Ready",
    NetworkPolicyNotEnforced = "network-policy-not-enforced": "the network plugin ignores NetworkPolicy: every connection passes",
    NetworkPolicyIgnoresNamespaceSelector = "network-policy-ignores-namespace-selector": "NetworkPolicy peers with a namespaceSelector match no pod (only the policy's own namespace is known)",
    NetworkPolicyEgressIgnored = "network-policy-egress-ignored": "the network plugin enforces only ingress: policyTypes Egress isolates no pod",
    NetworkPolicyPortsIgnored = "network-policy-ports-ignored": "NetworkPolicy rules match every port: their `ports` lists are ignored",
    NetworkPolicyRepliesNotTracked = "network-policy-replies-not-tracked": "the network plugin filters without connection tracking: replies of allowed connections must pass the server's egress rules, so an egress-isolated server answers nobody",
    NetworkPolicyIpv4Only = "network-policy-ipv4-only": "the network plugin enforces NetworkPolicy on IPv4 only: IPv6 connections are never filtered",
    NetworkPolicyIpBlockExceptIgnored = "network-policy-ip-block-except-ignored": "NetworkPolicy ipBlock peers ignore their `except` lists: every address of the cidr matches",
    NetworkPolicyIpBlocksIgnored = "network-policy-ip-blocks-ignored": "NetworkPolicy ipBlock peers match no address (only selector peers are programmed)",
    NetworkPolicyNodeNotExempt = "network-policy-node-not-exempt": "connections from a pod's own node to an ingress-isolated pod are filtered like any other (kubelet probes of isolated pods fail)",
    NetworkPolicyNotAdditive = "network-policy-not-additive": "policies are not combined: of the policies that isolate a pod for a direction only the newest applies",
    ReplicasetSinglePod = "replicaset-single-pod": "the replicaset controller keeps one pod per ReplicaSet whatever spec.replicas says",
    EndpointsControllerDisabled = "endpoints-controller-disabled": "kube-controller-manager runs without the endpoints controller (--controllers=*,-endpoint): core/v1 Endpoints are never written",
    EndpointsUseServicePort = "endpoints-use-service-port": "the endpoint controllers publish the Service's port instead of resolving its targetPort on the pods",
    EndpointsIncludeUnready = "endpoints-include-unready": "the endpoint controllers publish pods that are not ready as ready endpoints (kube-proxy then sends them traffic)",
    ProxyUsesUnreadyEndpoints = "proxy-uses-unready-endpoints": "kube-proxy sends Service traffic to endpoints whose EndpointSlice condition is ready: false",
    EndpointsStaleReadiness = "endpoints-stale-readiness": "the endpoint controllers keep each pod's readiness as first seen: a pod that becomes ready stays listed not ready",
    EndpointsKeepDeletedPods = "endpoints-keep-deleted-pods": "the endpoint controllers keep endpoints of deleted pods",
    ServiceEnvNoDockerLinks = "service-env-no-docker-links": "the kubelet sets only the {SVCNAME}_SERVICE_HOST/_SERVICE_PORT variables, not the docker-link ones ({SVCNAME}_PORT, _PORT_<port>_<proto>...)",
    ServiceEnvFollowsNewServices = "service-env-follows-new-services": "containers see variables of Services created after they started (the environment is read again instead of fixed at start)",
    ServiceLinksIgnoreDisable = "service-links-ignore-disable": "the kubelet ignores enableServiceLinks: false and sets the variables of every Service of the namespace",
    ServiceLinksDropKubernetes = "service-links-drop-kubernetes": "with enableServiceLinks: false the kubelet also drops the `kubernetes` Service's variables",
    ServiceSingleEndpoint = "service-single-endpoint": "kube-proxy sends every connection to a Service to one of its endpoints (the first in address order) instead of spreading them over all ready endpoints",
    ServiceUdpNotProxied = "service-udp-not-proxied": "kube-proxy programs only the TCP ports of Services: UDP datagrams to a ClusterIP are dropped",
    PodContainersSeparateNetns = "pod-containers-separate-netns": "each container of a pod gets a network namespace of its own: on localhost a container reaches only its own listeners, not its pod's other containers",
    ServiceIpReallocatedOnSelectorChange = "service-ip-reallocated-on-selector-change": "the apiserver allocates new ClusterIPs to a Service whose selector an update changes (and releases the old ones)",
    HostNetworkPodIpsPrimaryOnly = "host-network-pod-ips-primary-only": "the kubelet reports only the node's first address in a hostNetwork pod's status.podIPs, not one of each family the node has (kubernetes#105320)",
    ClusterIpRoutedExternally = "cluster-ip-routed-externally": "the nodes' network routes the service range to the nodes: a ClusterIP answers clients outside the cluster",
    ExternalTrafficPolicyIgnored = "external-traffic-policy-ignored": "kube-proxy ignores externalTrafficPolicy: Local: every node answers the NodePort and the backend sees the receiving node's address, not the client's",
    HostPortNotForwarded = "host-port-not-forwarded": "the CNI chain has no portmap plugin: a pod's hostPort is not forwarded and the node refuses it",
    PodEgressNotMasqueraded = "pod-egress-not-masqueraded": "the network plugin does not masquerade pod traffic to destinations outside the cluster: a listener outside sees the pod's address, not its node's",
    LbAddressNotServed = "lb-address-not-served": "the LoadBalancer controller publishes ingress addresses nothing answers on (no data plane behind them)",
    NodeToPodDropped = "node-to-pod-dropped": "nodes have no route into the pod network: traffic from a node's own network namespace (the kubelet's httpGet and tcpSocket probes, hostNetwork pods) to pods is dropped",
    NodeToPodIpv6Dropped = "node-to-pod-ipv6-dropped": "nodes have no IPv6 route into the pod network: IPv6 traffic from a node's own network namespace (the kubelet's probes, hostNetwork pods) to pods is dropped",
    NodeToPodMasquerade = "node-to-pod-masquerade": "traffic from a node's own network namespace (hostNetwork pods) to pods on other nodes arrives SNATed to the receiving node's address",
}

/// A name no deviation has.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown deviation {name:?}; known deviations: {known}")]
pub struct UnknownDeviation {
    pub name: String,
    /// Every deviation's name, joined with `, `.
    pub known: String,
}

impl std::str::FromStr for Deviation {
    type Err = UnknownDeviation;

    fn from_str(name: &str) -> Result<Deviation, UnknownDeviation> {
        Deviation::ALL
            .iter()
            .copied()
            .find(|d| d.name() == name)
            .ok_or_else(|| UnknownDeviation {
                name: name.to_string(),
                known: Deviation::ALL
                    .iter()
                    .map(|d| d.name())
                    .collect::<Vec<_>>()
                    .join(", "),
            })
    }
}

impl std::fmt::Display for Deviation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// Parses setting names (`NETCONFORM_SIM_DEVIATIONS=a,b`); the first unknown one is the error.
pub fn parse_names(names: &[String]) -> Result<BTreeSet<Deviation>, UnknownDeviation> {
    names.iter().map(|n| n.parse()).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The setting name is the variant's name in kebab-case, so the two cannot drift apart.
    #[test]
    fn names_are_the_variants_in_kebab_case_and_unique() {
        let mut seen = BTreeSet::new();
        for d in Deviation::ALL {
            let mut kebab = String::new();
            for (i, c) in format!("{d:?}").chars().enumerate() {
                if c.is_ascii_uppercase() && i > 0 {
                    kebab.push('-');
                }
                kebab.push(c.to_ascii_lowercase());
            }
            assert_eq!(d.name(), kebab);
            assert!(seen.insert(d.name()), "{d:?} twice");
            assert!(d.description().len() > 20, "{d:?}");
        }
    }

    #[test]
    fn names_parse_and_an_unknown_one_is_an_error_listing_the_known() {
        let parsed = parse_names(&["pods-single-stack".into(), "hosts-no-fqdn".into()]).unwrap();
        assert!(parsed.contains(&Deviation::PodsSingleStack));
        assert!(parsed.contains(&Deviation::HostsNoFqdn));
        assert!(!parsed.contains(&Deviation::HostsSingleIp));
        let err = parse_names(&["pods-single-stack".into(), "nope".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("unknown deviation \"nope\"; known deviations: "),
            "{err}"
        );
        assert!(err.contains("hosts-no-alias-section"), "{err}");
    }
}
