//! The names of the properties a netconform JUnit report carries, and the values that stand for "none":
//! [`super::junit`] writes them and [`super::read`] reads them back, from this one table.

// The run's, on every `<testsuite>`.
/// `kind`, `existing`, `simulated` or [`NO_TARGET`]; a report without it is not netconform's.
pub const TARGET: &str = "netconform.target";
pub const NO_TARGET: &str = "none";
pub const TARGET_DESCRIPTION: &str = "netconform.target.description";
pub const SERVER_VERSION: &str = "netconform.server-version";
/// The server version of a run that could not tell.
pub const UNKNOWN_VERSION: &str = "unknown";
pub const NODE_IMAGE: &str = "netconform.node-image";
/// The node image of a target that has none.
pub const NO_NODE_IMAGE: &str = "n/a";
/// `IPv4,IPv6`: the families every node has.
pub const IP_FAMILIES: &str = "netconform.ip-families";
pub const RUN_ID: &str = "netconform.run-id";
/// `running`, `finished` or `interrupted` ([`super::RunStatus`]).
pub const STATUS: &str = "netconform.run.status";
/// The libtest selection, or [`NO_FILTER`].
pub const FILTER: &str = "netconform.run.filter";
pub const NO_FILTER: &str = "none";
/// The trials' durations summed, in seconds (`testsuites time` is the wall time).
pub const TRIAL_TIME: &str = "netconform.run.trial-time-seconds";
/// Pods started in the run's namespaces ([`crate::pod_tally`]); absent where not counted.
pub const PODS_STARTED: &str = "netconform.run.pods-started";
pub const DEVIATIONS: &str = "netconform.sim.deviations";
pub const FAULTS: &str = "netconform.sim.faults";

// A trial's, on its `<testcase>`.
pub const CLAIM: &str = "netconform.claim";
pub const DOC_URL: &str = "netconform.doc-url";
/// A failure's fields ([`crate::failure::Failure`]); its kind is the `<failure type>`, its text the
/// description.
pub const FAILURE_CHECK: &str = "netconform.failure.check";
pub const FAILURE_EXPECTED: &str = "netconform.failure.expected";
pub const FAILURE_OBSERVED: &str = "netconform.failure.observed";
/// `netconform.finding.N.doc-says` and `.cluster-shows`, N from 1.
const FINDING_PREFIX: &str = "netconform.finding.";
pub const DOC_SAYS: &str = "doc-says";
pub const CLUSTER_SHOWS: &str = "cluster-shows";

/// The name of the `n`th finding's `field` ([`DOC_SAYS`] or [`CLUSTER_SHOWS`]).
pub fn finding(n: usize, field: &str) -> String {
    format!("{FINDING_PREFIX}{n}.{field}")
}

/// The finding number and field a property name holds, `None` for another property.
pub fn parse_finding(name: &str) -> Option<(usize, &str)> {
    let (n, field) = name.strip_prefix(FINDING_PREFIX)?.split_once('.')?;
    Some((n.parse().ok()?, field))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finding_names_read_back() {
        assert_eq!(finding(2, DOC_SAYS), "netconform.finding.2.doc-says");
        assert_eq!(
            parse_finding(&finding(12, CLUSTER_SHOWS)),
            Some((12, CLUSTER_SHOWS))
        );
        assert_eq!(parse_finding(CLAIM), None);
        assert_eq!(parse_finding("netconform.finding.x.doc-says"), None);
    }
}
