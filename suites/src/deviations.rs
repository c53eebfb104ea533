//! Which of the test double's deviations must break which trials. Each suite module declares, beside its
//! trials, the deviations that must fail them (its `BREAKS`); `tests/against_double.rs` runs every deviation
//! over the whole suites of the trials it breaks and checks that exactly those fail, with their claim.

use std::collections::BTreeSet;

pub use netconform_deviation::Deviation;

use crate::SUITES;

/// A deviation and the trials of one suite module it must fail.
pub type Breaks = (Deviation, &'static [&'static str]);

/// Trials whose outcome under a deviation varies from run to run on the double (they race the deviation's
/// effect against their own waits), so the exactness check takes them either way. Each entry is a defect of
/// the double's model to settle, not a licence: keep this list short.
pub const UNSETTLED: &[Breaks] = &[
    (
        Deviation::PodToPodIpv6Dropped,
        &[
            // Cross-node IPv6 is dropped before any policy: these fail when the scheduler puts their pods on
            // two nodes (the IPv4 variants of the per-family ones run on regardless).
            "connectivity::network_policy::db_egress_limited",
            "connectivity::network_policy::effect_follows_enforcement",
            "connectivity::network_policy::frontend_reaches_db",
            "connectivity::network_policy_ip_block_egress::ipv6",
            "connectivity::network_policy_ip_block_except::ipv6",
            "connectivity::network_policy::other_port_dropped",
            "connectivity::network_policy_own_node_admitted::ipv6",
            "connectivity::network_policy_policies_add_up::ipv6",
            "connectivity::network_policy::project_namespace_reaches_db",
            "connectivity::network_policy::unlabelled_pod_dropped",
        ],
    ),
    (
        Deviation::PodToPodMasquerade,
        &[
            "connectivity::network_policy::frontend_reaches_db",
            // A cross-node client is seen as its node: outside the re-addressed ipBlock, and no role=frontend pod.
            "connectivity::network_policy_ip_block_except::ipv4",
            "connectivity::network_policy_ip_block_except::ipv6",
            "connectivity::network_policy::other_port_dropped",
            "connectivity::network_policy_policies_add_up::ipv4",
            "connectivity::network_policy_policies_add_up::ipv6",
            "connectivity::network_policy::project_namespace_reaches_db",
        ],
    ),
    (
        Deviation::EndpointsStaleReadiness,
        &[
            "connectivity::cluster_ip::ipv4",
            "connectivity::cluster_ip::ipv6",
            "connectivity::cluster_ip_lifetime::kept_across_update",
            "connectivity::expose::cluster_ip_port_reaches_pods",
            "connectivity::expose::endpoints_carry_target_port",
            "connectivity::expose::endpoints_list_the_pods",
            "connectivity::expose::replaced_pod_keeps_service",
            "connectivity::internal_traffic_policy_cluster::ipv4",
            "connectivity::internal_traffic_policy_cluster::ipv6",
            "connectivity::internal_traffic_policy::local_endpoint_only",
            "connectivity::internal_traffic_policy::no_local_endpoint_dropped",
            "connectivity::load_balancing::ipv4",
            "connectivity::load_balancing::ipv6",
            "connectivity::node_port::ipv4",
            "connectivity::node_port::ipv6",
            "connectivity::readiness::deleted_pod_leaves",
            "connectivity::readiness::unready_gets_no_traffic",
            "connectivity::udp_service::ipv4",
            "connectivity::udp_service::ipv6",
            "connectivity::node_port_from_outside::ipv4",
            "connectivity::node_port_from_outside::ipv6",
            "connectivity::cluster_ip_from_outside::ipv4",
            "connectivity::cluster_ip_from_outside::ipv6",
            "connectivity::external_traffic_policy_local::ipv4",
            "connectivity::external_traffic_policy_local::ipv6",
            "connectivity::load_balancer_from_outside::ipv4",
            "connectivity::load_balancer_from_outside::ipv6",
        ],
    ),
];

/// The trials `deviation` must fail, over every suite module.
pub fn breaks(deviation: Deviation) -> BTreeSet<&'static str> {
    trials_of(deviation, SUITES.iter().flat_map(|s| s.breaks))
}

/// The trials [`UNSETTLED`] lists for `deviation`.
pub fn unsettled(deviation: Deviation) -> BTreeSet<&'static str> {
    trials_of(deviation, UNSETTLED)
}

fn trials_of<'a>(
    deviation: Deviation,
    table: impl IntoIterator<Item = &'a Breaks>,
) -> BTreeSet<&'static str> {
    table
        .into_iter()
        .filter(|(d, _)| *d == deviation)
        .flat_map(|(_, trials)| trials.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A module's `BREAKS` name only its own trials, each deviation at most once, and every deviation breaks
    /// at least one trial (a deviation that breaks none proves nothing).
    #[test]
    fn every_deviation_breaks_trials_of_the_module_that_names_them() {
        for suite in SUITES {
            let own: BTreeSet<&str> = suite.trials.iter().map(|t| t.name).collect();
            let mut seen = BTreeSet::new();
            for (deviation, trials) in suite.breaks {
                assert!(seen.insert(deviation), "{deviation} twice in one BREAKS");
                assert!(!trials.is_empty(), "{deviation} names no trial");
                for trial in *trials {
                    assert!(
                        own.contains(trial),
                        "{deviation} names {trial}, which is not a trial of the module that names it"
                    );
                }
            }
        }
        for deviation in Deviation::ALL {
            assert!(
                !breaks(*deviation).is_empty(),
                "{deviation} breaks no trial"
            );
        }
        let every: BTreeSet<&str> = crate::all_trials().iter().map(|t| t.name).collect();
        for (deviation, trials) in UNSETTLED {
            for trial in *trials {
                assert!(
                    every.contains(trial),
                    "UNSETTLED: {deviation} names {trial}, no trial"
                );
            }
        }
    }
}
