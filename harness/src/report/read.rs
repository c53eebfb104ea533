//! A netconform JUnit report read back (quick-junit's deserializer): where the run went and each trial's
//! result, for the gate ([`super::gate`]) and the doc-claims matrix ([`super::claims`]).
//!
//! The property names are the ones [`super::junit`] writes, from one table ([`super::property`]).

use std::collections::BTreeSet;
use std::fmt;
use std::path::{Path, PathBuf};

use quick_junit::{Property, Report, TestCase, TestCaseStatus};

use super::property as names;
use super::{Failure, RunStatus, failure_text};
use crate::cluster::TargetKind;
use crate::failure::FailureKind;

#[derive(Debug, thiserror::Error)]
pub enum ReadError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a JUnit report: {reason}", path.display())]
    NotJunit { path: PathBuf, reason: String },
    #[error("{} is not a netconform report: it has no `netconform.target` property (no netconform trial)", path.display())]
    NotNetconform { path: PathBuf },
    #[error("{} lists trial {name} twice", path.display())]
    DuplicateTrial { path: PathBuf, name: String },
}

/// One run, as its JUnit report tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RunReport {
    pub path: PathBuf,
    pub target: ReportTarget,
    pub target_description: String,
    /// `unknown` when the run could not tell.
    pub server_version: String,
    /// `n/a` when the target has no node image.
    pub node_image: String,
    /// `IPv4,IPv6`
    pub ip_families: String,
    pub run_id: String,
    pub status: ReportStatus,
    /// The libtest selection the run was given, `none` for the whole suite.
    pub filter: String,
    /// In report order.
    pub trials: Vec<TrialResult>,
}

/// The target a report names (`netconform.target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportTarget {
    /// `kind`, `existing` or `simulated`.
    Known(TargetKind),
    /// `none`: no target was found, every trial was skipped.
    None,
    /// A label this version does not know.
    Other(String),
}

impl ReportTarget {
    pub fn from_label(label: &str) -> ReportTarget {
        let kinds = [
            TargetKind::Kind,
            TargetKind::Existing,
            TargetKind::Simulated,
        ];
        match kinds.into_iter().find(|k| k.to_string() == label) {
            Some(kind) => ReportTarget::Known(kind),
            None if label == names::NO_TARGET => ReportTarget::None,
            None => ReportTarget::Other(label.to_string()),
        }
    }
}

impl fmt::Display for ReportTarget {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            ReportTarget::Known(kind) => kind.fmt(f),
            ReportTarget::None => f.write_str(names::NO_TARGET),
            ReportTarget::Other(label) => f.write_str(label),
        }
    }
}

/// How far a report says its run got (`netconform.run.status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReportStatus {
    Known(RunStatus),
    /// The report does not say (written before runs recorded it).
    Missing,
    /// A label this version does not know.
    Other(String),
}

impl ReportStatus {
    pub fn from_label(label: Option<&str>) -> ReportStatus {
        match label {
            None => ReportStatus::Missing,
            Some(label) => RunStatus::from_label(label).map_or_else(
                || ReportStatus::Other(label.to_string()),
                ReportStatus::Known,
            ),
        }
    }
}

/// What a report's target is, for telling whether two reports may be compared.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TargetClass {
    /// The netconform-double test double: its results say nothing about a real cluster.
    Simulated,
    /// A real cluster: `kind` or `existing` (the gate compares a kind baseline with an existing candidate).
    Cluster,
    /// No target was found: every trial was skipped.
    NoTarget,
    /// A label this version does not know.
    Other(String),
}

impl RunReport {
    pub fn target_class(&self) -> TargetClass {
        match &self.target {
            ReportTarget::Known(TargetKind::Simulated) => TargetClass::Simulated,
            ReportTarget::Known(TargetKind::Kind | TargetKind::Existing) => TargetClass::Cluster,
            ReportTarget::None => TargetClass::NoTarget,
            ReportTarget::Other(label) => TargetClass::Other(label.clone()),
        }
    }

    /// Whether the run got to its end (an interrupted or killed run lists only the trials that ended).
    pub fn finished(&self) -> bool {
        self.status == ReportStatus::Known(RunStatus::Finished)
    }

    pub fn trial(&self, name: &str) -> Option<&TrialResult> {
        self.trials.iter().find(|t| t.name == name)
    }

    /// `3 passed, 1 failed, 2 skipped (1 flaky)`.
    pub fn totals_line(&self) -> String {
        let count = |f: fn(&TrialState) -> bool| self.trials.iter().filter(|t| f(&t.state)).count();
        let flaky = count(|s| matches!(s, TrialState::Flaky { .. }));
        let mut line = format!(
            "{} passed, {} failed, {} skipped",
            count(TrialState::passed),
            count(|s| matches!(s, TrialState::Failed { .. })),
            count(|s| matches!(s, TrialState::Skipped { .. })),
        );
        if flaky > 0 {
            line.push_str(&format!(" ({flaky} flaky)"));
        }
        line
    }
}

/// One trial's result.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrialResult {
    /// `suite::scenario::check`
    pub name: String,
    pub claim: String,
    pub doc_url: String,
    pub state: TrialState,
    pub findings: Vec<Finding>,
}

/// A place where the docs and the cluster disagree (the trial may still pass).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Finding {
    pub doc_says: String,
    pub cluster_shows: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrialState {
    Passed,
    /// Passed on a rerun (`NETCONFORM_RETRIES`), after `failed_attempts` failures.
    Flaky {
        failed_attempts: usize,
        /// What the first failed attempt reported (without the claim and doc lines).
        first_failure: String,
    },
    Failed {
        /// Its kind (the JUnit `type`; [`FailureKind::Unknown`] in reports written before kinds were
        /// recorded), its fields (none in reports written before they were recorded) and its text (without
        /// the claim and doc lines the runner prefixes).
        failure: Failure,
        /// Events, pod status and logs the runner collected.
        diagnostics: String,
        /// Attempts in all (1 + reruns).
        attempts: usize,
    },
    Skipped {
        reason: String,
    },
}

impl TrialState {
    /// Passed, at the first attempt or on a rerun.
    pub fn passed(&self) -> bool {
        matches!(self, TrialState::Passed | TrialState::Flaky { .. })
    }

    /// `passed`, `flaky`, `FAILED`, `skipped`.
    pub fn label(&self) -> &'static str {
        match self {
            TrialState::Passed => "passed",
            TrialState::Flaky { .. } => "flaky",
            TrialState::Failed { .. } => "FAILED",
            TrialState::Skipped { .. } => "skipped",
        }
    }

    /// The state in a few words: `skipped: cluster is single-stack`, `FAILED: check: …`.
    pub fn summary(&self) -> String {
        match self {
            TrialState::Passed => "passed".to_string(),
            TrialState::Flaky {
                failed_attempts,
                first_failure,
            } => format!(
                "flaky: passed after {failed_attempts} failed attempt(s); first: {}",
                headline(first_failure)
            ),
            TrialState::Failed { failure, .. } => format!("FAILED: {}", headline(&failure.text)),
            TrialState::Skipped { reason } => format!("skipped: {}", headline(reason)),
        }
    }
}

/// The first non-empty line.
pub fn headline(text: &str) -> &str {
    super::first_line(text)
}

/// Reads and parses the report at `path`.
pub fn read_report(path: &Path) -> Result<RunReport, ReadError> {
    let xml = std::fs::read_to_string(path).map_err(|source| ReadError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    parse_report(path, &xml)
}

/// Parses a report's XML; `path` names it in errors.
pub fn parse_report(path: &Path, xml: &str) -> Result<RunReport, ReadError> {
    let report = Report::deserialize_from_str(xml).map_err(|e| ReadError::NotJunit {
        path: path.to_path_buf(),
        reason: e.to_string(),
    })?;
    // Every suite carries the run's properties; the first that has them speaks for the run.
    let run = report
        .test_suites
        .iter()
        .map(|s| s.properties.as_slice())
        .find(|p| property(p, names::TARGET).is_some())
        .ok_or_else(|| ReadError::NotNetconform {
            path: path.to_path_buf(),
        })?;
    let get = |name: &str, none: &str| property(run, name).unwrap_or(none).to_string();
    let mut seen = BTreeSet::new();
    let mut trials = Vec::new();
    for case in report.test_suites.iter().flat_map(|s| &s.test_cases) {
        let trial = trial_result(case);
        if !seen.insert(trial.name.clone()) {
            return Err(ReadError::DuplicateTrial {
                path: path.to_path_buf(),
                name: trial.name,
            });
        }
        trials.push(trial);
    }
    Ok(RunReport {
        path: path.to_path_buf(),
        target: ReportTarget::from_label(&get(names::TARGET, names::NO_TARGET)),
        target_description: get(names::TARGET_DESCRIPTION, ""),
        server_version: get(names::SERVER_VERSION, names::UNKNOWN_VERSION),
        node_image: get(names::NODE_IMAGE, names::NO_NODE_IMAGE),
        ip_families: get(names::IP_FAMILIES, ""),
        run_id: get(names::RUN_ID, ""),
        status: ReportStatus::from_label(property(run, names::STATUS)),
        filter: get(names::FILTER, names::NO_FILTER),
        trials,
    })
}

fn property<'a>(properties: &'a [Property], name: &str) -> Option<&'a str> {
    properties
        .iter()
        .find(|p| p.name.as_str() == name)
        .map(|p| p.value.as_str())
}

fn trial_result(case: &TestCase) -> TrialResult {
    let text = |s: &Option<quick_junit::XmlString>| {
        s.as_ref()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default()
    };
    let property = |name: &str| property(&case.properties, name).unwrap_or("").to_string();
    let state = match &case.status {
        TestCaseStatus::Success { flaky_runs } if flaky_runs.is_empty() => TrialState::Passed,
        TestCaseStatus::Success { flaky_runs } => TrialState::Flaky {
            failed_attempts: flaky_runs.len(),
            first_failure: flaky_runs
                .first()
                .map(|r| description(&text(&r.description), &text(&r.message)).0)
                .unwrap_or_default(),
        },
        // `error` (not written by the runner, but JUnit allows it) counts as a failure.
        TestCaseStatus::NonSuccess {
            message,
            ty,
            description: whole,
            reruns,
            ..
        } => {
            let (text, diagnostics) = description(&text(whole), &text(message));
            TrialState::Failed {
                failure: Failure {
                    kind: FailureKind::from_label(ty.as_ref().map(|t| t.as_str())),
                    check: property(names::FAILURE_CHECK),
                    expected: property(names::FAILURE_EXPECTED),
                    observed: property(names::FAILURE_OBSERVED),
                    text,
                },
                diagnostics,
                attempts: 1 + reruns.runs.len(),
            }
        }
        TestCaseStatus::Skipped {
            message,
            description,
            ..
        } => TrialState::Skipped {
            reason: Some(text(description))
                .filter(|d| !d.trim().is_empty())
                .unwrap_or_else(|| text(message)),
        },
    };
    TrialResult {
        name: case.name.as_str().to_string(),
        claim: property(names::CLAIM),
        doc_url: property(names::DOC_URL),
        state,
        findings: findings(&case.properties),
    }
}

/// A failure element's text and diagnostics: from its description ([`failure_text`]), or its message when
/// the description is empty.
fn description(description: &str, message: &str) -> (String, String) {
    let whole = if description.trim().is_empty() {
        message
    } else {
        description
    };
    let (text, diagnostics) = failure_text(whole);
    if text.is_empty() {
        (message.trim().to_string(), diagnostics)
    } else {
        (text, diagnostics)
    }
}

/// `netconform.finding.N.doc-says` / `.cluster-shows`, in N order.
fn findings(properties: &[Property]) -> Vec<Finding> {
    let mut numbered: Vec<(usize, Finding)> = Vec::new();
    for p in properties {
        let Some((n, field)) = names::parse_finding(p.name.as_str()) else {
            continue;
        };
        let index = match numbered.iter().position(|(k, _)| *k == n) {
            Some(i) => i,
            None => {
                numbered.push((
                    n,
                    Finding {
                        doc_says: String::new(),
                        cluster_shows: String::new(),
                    },
                ));
                numbered.len() - 1
            }
        };
        match field {
            names::DOC_SAYS => numbered[index].1.doc_says = p.value.as_str().to_string(),
            names::CLUSTER_SHOWS => numbered[index].1.cluster_shows = p.value.as_str().to_string(),
            _ => {}
        }
    }
    numbered.sort_by_key(|(n, _)| *n);
    numbered.into_iter().map(|(_, f)| f).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::super::{
        DocFinding, FailedAttempt, RunInfo, TrialOutcome, TrialRecord, fixtures, junit,
    };
    use super::*;
    use crate::cluster::TargetKind;
    use std::time::Duration;

    /// A report as the runner writes it, from records.
    pub fn xml(run: &RunInfo, trials: &[TrialRecord]) -> String {
        junit::build_report(run, trials).to_string().unwrap()
    }

    pub fn parse(run: &RunInfo, trials: &[TrialRecord]) -> RunReport {
        parse_report(Path::new("r.xml"), &xml(run, trials)).unwrap()
    }

    pub fn record(name: &str, outcome: TrialOutcome) -> TrialRecord {
        TrialRecord {
            name: name.into(),
            suite: name.split("::").next().unwrap().into(),
            claim: format!("claim of {name}"),
            doc_url: "https://kubernetes.io/docs/tasks/network/validate-dual-stack/".into(),
            outcome,
            duration: Duration::from_millis(10),
            log: String::new(),
            findings: vec![],
            failed_attempts: vec![],
        }
    }

    /// A failure known by its text only, as a report from before failure fields has it; diagnostics apart.
    pub fn failed(error: &str) -> TrialOutcome {
        TrialOutcome::Failed {
            failure: Failure::from_text(FailureKind::Unknown, error),
            diagnostics: "=== pod p ===\nphase Running".into(),
        }
    }

    pub fn flaky(name: &str) -> TrialRecord {
        let mut r = record(name, TrialOutcome::Passed);
        r.failed_attempts.push(FailedAttempt {
            failure: Failure::from_text(FailureKind::Timeout, "check: nslookup\ntimed out"),
            diagnostics: "pod".into(),
            duration: Duration::from_secs(1),
            log: String::new(),
        });
        r
    }

    pub fn with_finding(mut r: TrialRecord, doc_says: &str) -> TrialRecord {
        r.findings.push(DocFinding {
            claim: r.claim.clone(),
            doc_url: r.doc_url.clone(),
            doc_says: doc_says.into(),
            cluster_shows: "something else\nsecond line".into(),
        });
        r
    }

    /// What a report says of `record` once read back: the reader's view of the writer's record.
    fn as_read(record: &TrialRecord) -> TrialResult {
        let attempts = record.failed_attempts.len();
        let state = match &record.outcome {
            TrialOutcome::Passed => match record.failed_attempts.first() {
                None => TrialState::Passed,
                Some(first) => TrialState::Flaky {
                    failed_attempts: attempts,
                    first_failure: first.failure.text.clone(),
                },
            },
            TrialOutcome::Failed {
                failure,
                diagnostics,
            } => TrialState::Failed {
                failure: failure.clone(),
                diagnostics: diagnostics.clone(),
                attempts: 1 + attempts,
            },
            TrialOutcome::Skipped { reason } => TrialState::Skipped {
                reason: reason.clone(),
            },
        };
        TrialResult {
            name: record.name.clone(),
            claim: record.claim.clone(),
            doc_url: record.doc_url.clone(),
            state,
            findings: record
                .findings
                .iter()
                .map(|f| Finding {
                    doc_says: f.doc_says.clone(),
                    cluster_shows: f.cluster_shows.clone(),
                })
                .collect(),
        }
    }

    /// Written, read, compared: every outcome, with its failure's kind, fields and text, and the run.
    #[test]
    fn every_outcome_round_trips() {
        let records = fixtures::every_outcome();
        let kinds: BTreeSet<FailureKind> = records
            .iter()
            .filter_map(|r| match &r.outcome {
                TrialOutcome::Failed { failure, .. } => Some(failure.kind),
                _ => None,
            })
            .collect();
        assert_eq!(kinds, FailureKind::ALL.into_iter().collect());
        let runs = [
            fixtures::run_info(Some(TargetKind::Simulated)),
            RunInfo {
                status: RunStatus::Interrupted,
                filter: Some("--exact dual_stack::a::passed".into()),
                server_version: None,
                node_image: None,
                ..fixtures::run_info(None)
            },
        ];
        for run in runs {
            let report = parse(&run, &records);
            let expected: Vec<TrialResult> = records.iter().map(as_read).collect();
            assert_eq!(report.trials, expected);
            assert_eq!(
                report,
                RunReport {
                    path: PathBuf::from("r.xml"),
                    target: run.target.map_or(ReportTarget::None, ReportTarget::Known),
                    target_description: run.target_description.clone(),
                    server_version: run.server_version.clone().unwrap_or("unknown".into()),
                    node_image: run.node_image.clone().unwrap_or("n/a".into()),
                    ip_families: run.ip_families.join(","),
                    run_id: run.run_id.clone(),
                    status: ReportStatus::Known(run.status),
                    filter: run.filter.clone().unwrap_or("none".into()),
                    trials: expected,
                }
            );
        }
    }

    /// JUnit cannot carry a TAB: the fields come back with the visible mark the report shows.
    #[test]
    fn a_tab_in_a_failure_field_reads_back_as_its_mark() {
        let error = crate::failure::ensure(false, "hosts", "127.0.0.1\tfoo", "x").unwrap_err();
        let report = parse(
            &fixtures::run_info(Some(TargetKind::Kind)),
            &[failed_with("a::b::c", error)],
        );
        assert!(matches!(
            &report.trials[0].state,
            TrialState::Failed { failure, .. } if failure.expected == "127.0.0.1␉foo"
        ));
    }

    #[test]
    fn runner_output_reads_back() {
        let run = fixtures::run_info(Some(TargetKind::Simulated));
        let report = parse(&run, &fixtures::trials());
        assert_eq!(report.target, ReportTarget::Known(TargetKind::Simulated));
        assert_eq!(report.target_class(), TargetClass::Simulated);
        assert_eq!(report.server_version, "v1.37.0");
        assert_eq!(report.node_image, "kindest/node:v1.37.0");
        assert_eq!(report.ip_families, "IPv4,IPv6");
        assert_eq!(report.run_id, "r1a2b3");
        assert!(report.target_description.contains("simulated"));
        let states: Vec<&str> = report.trials.iter().map(|t| t.state.label()).collect();
        assert_eq!(states, vec!["passed", "FAILED", "skipped", "flaky"]);
        assert_eq!(
            report.trials[0].findings,
            vec![Finding {
                doc_says: "# Kubernetes-managed hosts file.".into(),
                cluster_shows: "# Kubernetes-managed hosts file (host network).".into(),
            }]
        );
        assert_eq!(report.trials[0].claim, "the kubelet manages /etc/hosts");
        assert!(
            report.trials[0]
                .doc_url
                .starts_with("https://kubernetes.io/")
        );
        match &report.trials[1].state {
            TrialState::Failed {
                failure,
                diagnostics,
                attempts,
            } => {
                let failure = &failure.text;
                assert!(failure.starts_with("/etc/hosts lacks"), "{failure}");
                assert!(failure.contains("whole file:"), "{failure}");
                assert_eq!(diagnostics, "pod hostaliases-pod: Running");
                assert_eq!(*attempts, 1);
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(
            report.trials[2].state.summary(),
            "skipped: cluster is single-stack (IPv4 only)"
        );
        assert!(matches!(
            &report.trials[3].state,
            TrialState::Flaky { failed_attempts: 1, first_failure } if first_failure.starts_with("nslookup timed out")
        ));
        assert_eq!(
            report.totals_line(),
            "2 passed, 1 failed, 1 skipped (1 flaky)"
        );
    }

    #[test]
    fn claim_and_doc_lines_are_dropped_from_failures() {
        let run = fixtures::run_info(Some(TargetKind::Kind));
        let mut r = record("dns::a::b", failed("check: x\nexpected: 1"));
        r.failed_attempts.push(FailedAttempt {
            failure: Failure::from_text(FailureKind::Unknown, "first"),
            diagnostics: String::new(),
            duration: Duration::ZERO,
            log: String::new(),
        });
        let report = parse(&run, &[r]);
        assert_eq!(
            report.trials[0].state,
            TrialState::Failed {
                failure: Failure::from_text(FailureKind::Unknown, "check: x\nexpected: 1"),
                diagnostics: "=== pod p ===\nphase Running".into(),
                attempts: 2,
            }
        );
        assert_eq!(report.trials[0].state.summary(), "FAILED: check: x");
    }

    #[test]
    fn inputs_that_are_not_netconform_reports_are_told_apart() {
        let p = Path::new("x.xml");
        assert!(matches!(
            parse_report(p, "not xml at all"),
            Err(ReadError::NotJunit { .. })
        ));
        assert!(matches!(
            parse_report(p, ""),
            Err(ReadError::NotJunit { .. })
        ));
        let plain = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="cargo" tests="1" failures="0" errors="0">
  <testsuite name="unit" tests="1" skipped="0" errors="0" failures="0"><testcase name="a"/></testsuite>
</testsuites>"#;
        let err = parse_report(p, plain).unwrap_err();
        assert!(matches!(err, ReadError::NotNetconform { .. }));
        assert_eq!(
            err.to_string(),
            "x.xml is not a netconform report: it has no `netconform.target` property (no netconform trial)"
        );
        let err = read_report(Path::new("/nonexistent/netconform/b.xml")).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("cannot read /nonexistent/netconform/b.xml: ")
        );
    }

    #[test]
    fn a_trial_listed_twice_is_refused() {
        let run = fixtures::run_info(Some(TargetKind::Kind));
        let r = record("dns::a::b", TrialOutcome::Passed);
        let xml = xml(&run, &[r.clone(), r]);
        assert!(matches!(
            parse_report(Path::new("d.xml"), &xml),
            Err(ReadError::DuplicateTrial { name, .. }) if name == "dns::a::b"
        ));
    }

    #[test]
    fn target_classes() {
        let run = fixtures::run_info(Some(TargetKind::Kind));
        let mut report = parse(&run, &[record("dns::a::b", TrialOutcome::Passed)]);
        // No trial, no suite, no properties: not recognisable as netconform's.
        assert!(matches!(
            parse_report(Path::new("e.xml"), &xml(&run, &[])),
            Err(ReadError::NotNetconform { .. })
        ));
        for (label, class) in [
            ("kind", TargetClass::Cluster),
            ("existing", TargetClass::Cluster),
            ("simulated", TargetClass::Simulated),
            ("none", TargetClass::NoTarget),
            ("mars", TargetClass::Other("mars".into())),
        ] {
            report.target = ReportTarget::from_label(label);
            assert_eq!(report.target_class(), class);
        }
    }

    /// A record that failed with `error`, as the runner's `failed` records it (its kind included).
    pub fn failed_with(name: &str, error: crate::failure::TrialError) -> TrialRecord {
        record(
            name,
            TrialOutcome::Failed {
                failure: error.failure(),
                diagnostics: "=== pod p ===\nphase Running".into(),
            },
        )
    }

    pub fn timeout() -> crate::failure::TrialError {
        crate::failure::TrialError::Timeout {
            awaited: "pod nginx to be Running and Ready".into(),
            budget: "pod-start",
            elapsed: Duration::from_secs(180),
            last_state: "pod nginx: Pending".into(),
        }
    }

    /// A report the runner wrote before failure kinds were read back: its failure has no `type`.
    #[test]
    fn a_report_from_before_kinds_reads_back_as_unknown() {
        let xml = include_str!("../../tests/fixtures/gate/candidate.xml");
        let report = parse_report(Path::new("candidate.xml"), xml).unwrap();
        let failed = report
            .trial("hostaliases::hostaliases_pod::alias_section")
            .map(|t| &t.state);
        assert!(
            matches!(failed, Some(TrialState::Failed { failure, .. }) if failure.kind == FailureKind::Unknown && failure.text.contains("the end of the hostaliases-pod log")),
            "{failed:?}"
        );
    }

    #[test]
    fn every_kind_the_runner_writes_reads_back() {
        let run = fixtures::run_info(Some(TargetKind::Kind));
        let errors = [
            crate::failure::ensure(false, "the hosts file", "a", "b").unwrap_err(),
            timeout(),
            crate::failure::TrialError::Harness("exec failed".into()),
        ];
        let records: Vec<TrialRecord> = errors
            .into_iter()
            .enumerate()
            .map(|(i, e)| failed_with(&format!("a::b::t{i}"), e))
            .collect();
        let kinds: Vec<FailureKind> = parse(&run, &records)
            .trials
            .iter()
            .map(|t| match &t.state {
                TrialState::Failed { failure, .. } => failure.kind,
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            kinds,
            [
                FailureKind::Assertion,
                FailureKind::Timeout,
                FailureKind::Setup
            ]
        );
        // A `type` this version does not know is not taken for one it knows.
        let xml = xml(&run, &records).replace(r#"type="timeout""#, r#"type="sideways""#);
        let report = parse_report(Path::new("r.xml"), &xml).unwrap();
        assert!(matches!(
            &report.trials[1].state,
            TrialState::Failed { failure, .. } if failure.kind == FailureKind::Unknown
        ));
    }
}
