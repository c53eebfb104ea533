//! Named deviations: single misbehaviours a real (broken or misconfigured) cluster could show,
//! which the double simulates on request so the suite's own tests can prove each check catches one.

use std::collections::BTreeSet;

/// One deviation from upstream behaviour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Deviation {
    pub name: &'static str,
    pub description: &'static str,
    /// Trials (`suite::scenario::check`) expected to fail under this deviation.
    // TODO(lead): replace the guessed trial names with the final ones.
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
        ],
    },
    Deviation {
        name: "hosts-no-alias-section",
        description: "the kubelet writes /etc/hosts without the `# Entries added by HostAliases.` section",
        fails: &["hostaliases::hostaliases_pod::alias_section"],
    },
    Deviation {
        name: "hosts-missing-header",
        description: "the kubelet-managed /etc/hosts lacks the `# Kubernetes-managed hosts file.` header line",
        fails: &[
            "hostaliases::nginx::managed_header",
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::hostaliases_pod::alias_section",
        ],
    },
    Deviation {
        name: "hosts-single-ip",
        description: "the kubelet writes only the first pod IP into /etc/hosts of a dual-stack pod",
        fails: &[
            "hostaliases::nginx::pod_ip_entries",
            "dualstack::pod_addressing::hosts_has_both_ips",
        ],
    },
    Deviation {
        name: "pods-single-stack",
        description: "pods get one IP (IPv4 only) although their node has IPv4 and IPv6 podCIDRs",
        fails: &[
            "dualstack::pod_addressing::pod_ips_both_families",
            "dualstack::pod_addressing::downward_pod_ips",
        ],
    },
    Deviation {
        name: "pod-ip-order-reversed",
        description: "status.podIPs lists the IPv6 address first on an IPv4-primary cluster",
        fails: &["dualstack::pod_addressing::pod_ip_is_primary_family"],
    },
    Deviation {
        name: "downward-pod-ips-first-only",
        description: "the downward API status.podIPs gives only the first pod IP",
        fails: &["dualstack::pod_addressing::downward_pod_ips"],
    },
    Deviation {
        name: "service-ignores-ipfamilies-order",
        description: "the apiserver allocates ClusterIPs in the cluster's family order, ignoring spec.ipFamilies order",
        fails: &["dualstack::services::prefer_dual_ipv6_first"],
    },
    Deviation {
        name: "service-prefer-dual-single",
        description: "a PreferDualStack Service gets a single IP family on a dual-stack cluster",
        fails: &["dualstack::services::prefer_dual_stack_two_ips"],
    },
    Deviation {
        name: "service-family-mutable",
        description: "changing spec.ipFamilies[0] of a Service is accepted (and its ClusterIPs reallocated)",
        fails: &["dualstack::services::primary_family_immutable"],
    },
    Deviation {
        name: "headless-no-selector-single-stack",
        description: "a headless Service without selector defaults to SingleStack instead of RequireDualStack",
        fails: &["dualstack::services::headless_selectorless_dual"],
    },
    Deviation {
        name: "endpointslice-missing-ipv6",
        description: "the endpointslice controller publishes no IPv6 EndpointSlice for dual-stack Services",
        fails: &["dualstack::services::endpointslices_per_family"],
    },
    Deviation {
        name: "nodes-single-stack-podcidr",
        description: "nodes get only an IPv4 podCIDR (node IPAM not configured for IPv6)",
        fails: &["dualstack::node_addressing::pod_cidrs_both_families"],
    },
    Deviation {
        name: "dns-no-cross-namespace",
        description: "cluster DNS answers only for Services in the querying pod's namespace (svc.other-ns fails)",
        fails: &["dns::services::cross_namespace_name"],
    },
    Deviation {
        name: "resolv-missing-search",
        description: "pods' /etc/resolv.conf has no search line (kubelet without --cluster-domain)",
        fails: &[
            "dns::pod_dns::resolv_conf_search",
            "dns::busybox::nslookup_kubernetes_default",
        ],
    },
    Deviation {
        name: "servicecidr-no-finalizer",
        description: "ServiceCIDRs get no protection finalizer and are deleted at once while IPs are in use",
        fails: &["servicecidr::extend::deletion_blocked"],
    },
    Deviation {
        name: "servicecidr-ignored-by-allocator",
        description: "the ClusterIP allocator uses only the default ServiceCIDR; added ServiceCIDRs never serve IPs",
        fails: &["servicecidr::extend::allocates_from_new_cidr"],
    },
    Deviation {
        name: "ipaddress-wrong-parentref",
        description: "IPAddress objects reference their Service with resource `service` instead of `services`",
        fails: &["servicecidr::default::ipaddress_parent_ref"],
    },
    Deviation {
        name: "pods-never-ready",
        description: "containers start but pods never become Ready",
        fails: &["hostaliases::nginx::default_entries"],
    },
];

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
        let mut active = BTreeSet::new();
        for name in names {
            match find(name) {
                Some(d) => {
                    active.insert(d.name);
                }
                None => {
                    let known: Vec<&str> = DEVIATIONS.iter().map(|d| d.name).collect();
                    return Err(DeviationError::Unknown {
                        name: name.clone(),
                        known: known.join(", "),
                    });
                }
            }
        }
        Ok(Deviations { active })
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
            err.starts_with(
                "unknown deviation \"nope\"; known deviations: hosts-no-alias-section, "
            )
        );
    }
}
