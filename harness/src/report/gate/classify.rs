//! What became of one trial between the baseline and the candidate: the gate's classes.

use crate::report::read::TrialState;

/// What happened to one trial between the baseline and the candidate, in the order the summary lists them.
///
/// Passed → skipped ([`Class::LostCoverage`]) FAILS the gate, like a regression. The gate exists to block an
/// upgrade that breaks networking, and a trial goes from "passed" to "skipped" when the candidate cluster lost
/// what it needs: its IPv6 family, the ServiceCIDR API, a LoadBalancer controller, a second schedulable node.
/// On an upgrade those losses are breakage, not noise, and a gate that passes whenever a capability turns off
/// can be silenced by exactly the failure it should catch. It is its own class, listed right after the
/// regressions with the candidate's skip reason, so the reader sees "not checked" and not "broken". To accept
/// it on purpose, say so in both runs: deselect the trial (`-- --skip NAME`) or turn the capability off
/// (e.g. `NETCONFORM_LOAD_BALANCER=no`).
/// A trial that was already failing and is now skipped does not fail the gate (nothing that worked stopped).
///
/// A trial in the baseline and missing from the candidate ([`Class::Removed`]) fails the gate too: a candidate
/// that ran 1 trial of 88 must not pass. `--allow-removed NAME` accepts one by name ([`Class::RemovedAllowed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Passed in the baseline (possibly on a rerun), fails in the candidate.
    Regressed,
    /// Passed in the baseline, skipped in the candidate.
    LostCoverage,
    /// Only in the baseline: the candidate did not run it.
    Removed,
    /// Passed in the candidate only on a rerun, whatever the baseline did.
    Flaky,
    /// Failed in the baseline, passes in the candidate at the first attempt.
    Fixed,
    StillFailing,
    /// Skipped in one report and run in the other (skipped → passed/failed, failed → skipped).
    SkippedInOne,
    /// Only in the candidate.
    New,
    /// Only in the baseline, and named by `--allow-removed`.
    RemovedAllowed,
    StillSkipped,
    StillPassing,
}

impl Class {
    pub const ALL: [Class; 11] = [
        Class::Regressed,
        Class::LostCoverage,
        Class::Removed,
        Class::Flaky,
        Class::Fixed,
        Class::StillFailing,
        Class::SkippedInOne,
        Class::New,
        Class::RemovedAllowed,
        Class::StillSkipped,
        Class::StillPassing,
    ];

    /// Whether one trial of this class makes the gate exit 1.
    pub fn fails_gate(self) -> bool {
        matches!(
            self,
            Class::Regressed | Class::LostCoverage | Class::Removed
        )
    }

    pub fn title(self) -> &'static str {
        match self {
            Class::Regressed => "regressed",
            Class::LostCoverage => "passed → skipped",
            Class::Flaky => "flaky",
            Class::Fixed => "fixed",
            Class::StillFailing => "still failing",
            Class::SkippedInOne => "skipped in one",
            Class::New => "new",
            Class::Removed => "removed",
            Class::RemovedAllowed => "removed (allowed)",
            Class::StillSkipped => "still skipped",
            Class::StillPassing => "still passing",
        }
    }
}

/// Classifies one trial from its state in the baseline and in the candidate (`None`: not in that report;
/// `None` back only when it is in neither).
pub fn classify(baseline: Option<&TrialState>, candidate: Option<&TrialState>) -> Option<Class> {
    use TrialState::{Failed, Flaky, Passed, Skipped};
    let (Some(baseline), Some(candidate)) = (baseline, candidate) else {
        return match (baseline, candidate) {
            (None, Some(_)) => Some(Class::New),
            (Some(_), None) => Some(Class::Removed),
            _ => None,
        };
    };
    Some(match (baseline, candidate) {
        (_, Flaky { .. }) => Class::Flaky,
        (Passed | Flaky { .. }, Failed { .. }) => Class::Regressed,
        (Passed | Flaky { .. }, Skipped { .. }) => Class::LostCoverage,
        (Passed | Flaky { .. }, Passed) => Class::StillPassing,
        (Failed { .. }, Passed) => Class::Fixed,
        (Failed { .. }, Failed { .. }) => Class::StillFailing,
        (Skipped { .. }, Skipped { .. }) => Class::StillSkipped,
        (Skipped { .. }, Passed | Failed { .. }) | (Failed { .. }, Skipped { .. }) => {
            Class::SkippedInOne
        }
    })
}
