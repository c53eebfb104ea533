//! Two reports matched trial by trial: each trial's class, and the doc findings the candidate adds.

use std::collections::BTreeSet;

use super::classify::{Class, classify};
use super::{EXIT_PASSED, EXIT_REGRESSED, GateError};
use crate::report::read::{Finding, RunReport, TrialResult};

/// One trial in both (or either) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub class: Class,
    pub baseline: Option<TrialResult>,
    pub candidate: Option<TrialResult>,
}

impl Entry {
    /// The candidate's view of the trial when it has one (its claim and doc URL are the current ones).
    pub(super) fn trial(&self) -> Option<&TrialResult> {
        self.candidate.as_ref().or(self.baseline.as_ref())
    }
}

/// A doc finding the candidate records and the baseline did not (same trial, same "doc says").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFinding {
    pub trial: String,
    pub doc_url: String,
    pub finding: Finding,
}

/// Two reports, trial by trial.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub baseline: RunReport,
    pub candidate: RunReport,
    /// Ordered by [`Class`], then by trial name.
    pub entries: Vec<Entry>,
    pub new_findings: Vec<NewFinding>,
    /// The reports come from different kinds of target and `--force` compared them anyway.
    pub forced: bool,
}

impl Comparison {
    /// Compares two reports; reports of different kinds of target (the test double vs a cluster) are refused
    /// unless `force`: a simulated baseline says nothing about a real cluster.
    pub fn new(
        baseline: RunReport,
        candidate: RunReport,
        force: bool,
    ) -> Result<Comparison, GateError> {
        Comparison::allowing_removed(baseline, candidate, force, &[])
    }

    /// As [`Comparison::new`], with the trials `allow_removed` names allowed to be missing from the candidate.
    /// A report of a run that did not finish is refused on either side, and so are two reports of one run:
    /// a gate given the same report twice (a slip in a CI job) would pass without comparing anything.
    pub fn allowing_removed(
        baseline: RunReport,
        candidate: RunReport,
        force: bool,
        allow_removed: &[String],
    ) -> Result<Comparison, GateError> {
        for report in [&baseline, &candidate] {
            if !report.finished() {
                return Err(GateError::Incomplete {
                    path: report.path.clone(),
                    status: report.status.clone(),
                });
            }
        }
        // A report without a run id (none so far) cannot be told from another run's by it.
        if !baseline.run_id.is_empty() && baseline.run_id == candidate.run_id {
            return Err(GateError::SameRun {
                run_id: baseline.run_id.clone(),
                baseline_path: baseline.path.clone(),
                candidate_path: candidate.path.clone(),
            });
        }
        if let Some(name) = allow_removed.iter().find(|n| baseline.trial(n).is_none()) {
            return Err(GateError::AllowedUnknown {
                name: name.clone(),
                baseline_path: baseline.path.clone(),
            });
        }
        let mixed = baseline.target_class() != candidate.target_class();
        if mixed && !force {
            return Err(GateError::MixedTargets {
                baseline: baseline.target.to_string(),
                baseline_path: baseline.path.clone(),
                candidate: candidate.target.to_string(),
                candidate_path: candidate.path.clone(),
            });
        }
        let mut entries: Vec<Entry> = Vec::new();
        let names = baseline.trials.iter().map(|t| &t.name).chain(
            candidate
                .trials
                .iter()
                .map(|t| &t.name)
                .filter(|n| baseline.trial(n).is_none()),
        );
        for name in names {
            let (b, c) = (baseline.trial(name), candidate.trial(name));
            if let Some(mut class) = classify(b.map(|b| &b.state), c.map(|c| &c.state)) {
                if class == Class::Removed && allow_removed.contains(name) {
                    class = Class::RemovedAllowed;
                }
                entries.push(Entry {
                    name: name.clone(),
                    class,
                    baseline: b.cloned(),
                    candidate: c.cloned(),
                });
            }
        }
        // Within a class by name: reports list trials in the order they finished, which varies run to run.
        entries.sort_by(|a, b| (a.class, &a.name).cmp(&(b.class, &b.name)));
        let new_findings = new_findings(&baseline, &candidate);
        Ok(Comparison {
            baseline,
            candidate,
            entries,
            new_findings,
            forced: mixed,
        })
    }

    pub fn of(&self, class: Class) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.class == class)
    }

    pub fn count(&self, class: Class) -> usize {
        self.of(class).count()
    }

    /// True when no trial fails the gate.
    pub fn passed(&self) -> bool {
        !self.entries.iter().any(|e| e.class.fails_gate())
    }

    pub fn exit_code(&self) -> u8 {
        if self.passed() {
            EXIT_PASSED
        } else {
            EXIT_REGRESSED
        }
    }
}

fn new_findings(baseline: &RunReport, candidate: &RunReport) -> Vec<NewFinding> {
    let known: BTreeSet<(&str, &str)> = baseline
        .trials
        .iter()
        .flat_map(|t| {
            t.findings
                .iter()
                .map(move |f| (t.name.as_str(), f.doc_says.as_str()))
        })
        .collect();
    candidate
        .trials
        .iter()
        .flat_map(|t| t.findings.iter().map(move |f| (t, f)))
        // Keyed on what the doc says: what the cluster shows may carry addresses that change every run.
        .filter(|(t, f)| !known.contains(&(t.name.as_str(), f.doc_says.as_str())))
        .map(|(t, f)| NewFinding {
            trial: t.name.clone(),
            doc_url: t.doc_url.clone(),
            finding: f.clone(),
        })
        .collect()
}
