//! Named profiles: conforming clusters that differ from the default kind dual-stack cluster in ways a
//! check must allow for. Unlike a deviation, a profile is upstream behaviour: every trial passes on it,
//! or is skipped with the reason.

use std::collections::BTreeSet;

/// One conforming variant of the modelled cluster.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Profile {
    pub name: &'static str,
    pub description: &'static str,
}

pub const IPV6_PRIMARY: &str = "ipv6-primary";
pub const IPV4_ONLY: &str = "ipv4-only";
pub const NODE_RESOLV_SEARCH_DOT: &str = "node-resolv-search-dot";
pub const NODE_RESOLV_OPTIONS_LINES: &str = "node-resolv-options-lines";
pub const COREDNS_PODS_DISABLED: &str = "coredns-pods-disabled";
pub const SERVICECIDR_ALLOCATOR_LAG: &str = "servicecidr-allocator-lag";
pub const LOAD_BALANCER_FRESH: &str = "load-balancer-fresh";
pub const SLOW_NAMESPACE_TEARDOWN: &str = "slow-namespace-teardown";

pub const PROFILES: &[Profile] = &[
    Profile {
        name: IPV6_PRIMARY,
        description: "dual-stack with IPv6 first (node IPs, podCIDRs, service ranges, kube-dns and the default Service family); the runtime reports each pod's IPv4 address first, so the kubelet's /etc/hosts lists it first while status.podIPs lists IPv6 first",
    },
    Profile {
        name: IPV4_ONLY,
        description: "single-stack IPv4, as kind-configs/ipv4.yaml makes it: one InternalIP and one podCIDR per node, an IPv4-only service range and default ServiceCIDR, IPv4 pod IPs; the apiserver serves one family (a PreferDualStack Service gets one address, RequireDualStack is refused)",
    },
    Profile {
        name: NODE_RESOLV_SEARCH_DOT,
        description: "the nodes' resolv.conf is systemd-resolved's for a host without search domains: `search .`",
    },
    Profile {
        name: NODE_RESOLV_OPTIONS_LINES,
        description: "the nodes' resolv.conf has two `options` lines that set ndots twice",
    },
    Profile {
        name: COREDNS_PODS_DISABLED,
        description: "CoreDNS's Corefile has no `pods insecure` (CoreDNS's default `pods disabled`): `<a-b-c-d>.<ns>.pod` names get NXDOMAIN",
    },
    Profile {
        name: SERVICECIDR_ALLOCATOR_LAG,
        description: "the apiserver's ClusterIP allocator serves an added ServiceCIDR only about 2 s after it shows Ready (a loaded apiserver's informer): creations in between get `range is full`",
    },
    Profile {
        name: LOAD_BALANCER_FRESH,
        description: "a fresh cluster served by a LoadBalancer controller (cloud-provider-kind): no LoadBalancer Service has an ingress address yet",
    },
    Profile {
        name: SLOW_NAMESPACE_TEARDOWN,
        description: "a loaded control plane: a deleted namespace's Services (and their ClusterIPs) go 3 s after the namespace is marked Terminating",
    },
];

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProfileError {
    #[error("unknown profile {name:?}; known profiles: {known}")]
    Unknown { name: String, known: String },
}

/// The validated set of active profiles.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Profiles {
    active: BTreeSet<&'static str>,
}

impl Profiles {
    /// Validates the configured names; an unknown name is an error listing the known ones.
    pub fn from_names(names: &[String]) -> Result<Profiles, ProfileError> {
        let known: Vec<&'static str> = PROFILES.iter().map(|p| p.name).collect();
        names
            .iter()
            .map(|name| {
                known
                    .iter()
                    .copied()
                    .find(|k| k == name)
                    .ok_or_else(|| ProfileError::Unknown {
                        name: name.clone(),
                        known: known.join(", "),
                    })
            })
            .collect::<Result<_, _>>()
            .map(|active| Profiles { active })
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
        for (i, a) in PROFILES.iter().enumerate() {
            assert!(PROFILES[i + 1..].iter().all(|b| b.name != a.name));
        }
        let p = Profiles::from_names(&[IPV6_PRIMARY.into()]).unwrap();
        assert!(p.has(IPV6_PRIMARY));
        assert!(!p.has(NODE_RESOLV_SEARCH_DOT));
        let err = Profiles::from_names(&["ipv7".into()])
            .unwrap_err()
            .to_string();
        assert!(
            err.starts_with("unknown profile \"ipv7\"; known profiles: ipv6-primary"),
            "{err}"
        );
    }
}
