//! A netconform JUnit report read back (quick-junit's deserializer): where the run went and each trial's
//! result, for the gate ([`super::gate`]) and the doc-claims matrix ([`super::claims`]).
//!
//! The property names are the ones [`super::junit`] writes.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use quick_junit::{Property, Report, TestCase, TestCaseStatus};

use crate::failure::FailureKind;

const TARGET: &str = "netconform.target";
const TARGET_DESCRIPTION: &str = "netconform.target.description";
const SERVER_VERSION: &str = "netconform.server-version";
const NODE_IMAGE: &str = "netconform.node-image";
const IP_FAMILIES: &str = "netconform.ip-families";
const RUN_ID: &str = "netconform.run-id";
const CLAIM: &str = "netconform.claim";
const DOC_URL: &str = "netconform.doc-url";
const FINDING_PREFIX: &str = "netconform.finding.";
use super::junit::names;

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
    /// `kind`, `existing`, `simulated` or `none`.
    pub target: String,
    pub target_description: String,
    /// `unknown` when the run could not tell.
    pub server_version: String,
    /// `n/a` when the target has no node image.
    pub node_image: String,
    /// `IPv4,IPv6`
    pub ip_families: String,
    pub run_id: String,
    /// `finished`, `interrupted`, `running`, or `unknown` (a report that does not say).
    pub status: String,
    /// The libtest selection the run was given, `none` for the whole suite.
    pub filter: String,
    /// In report order.
    pub trials: Vec<TrialResult>,
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
        match self.target.as_str() {
            "simulated" => TargetClass::Simulated,
            "kind" | "existing" => TargetClass::Cluster,
            "none" => TargetClass::NoTarget,
            other => TargetClass::Other(other.to_string()),
        }
    }

    /// Whether the run got to its end (an interrupted or killed run lists only the trials that ended).
    pub fn finished(&self) -> bool {
        self.status == super::RunStatus::Finished.label()
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
        /// Whether the cluster contradicts the doc or the harness could not tell (the JUnit `type`;
        /// [`FailureKind::Unknown`] in reports written before kinds were recorded).
        kind: FailureKind,
        /// The check that failed, expected and observed (without the claim and doc lines the runner prefixes).
        failure: String,
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
            TrialState::Failed { failure, .. } => format!("FAILED: {}", headline(failure)),
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
        .find(|p| property(p, TARGET).is_some())
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
        target: get(TARGET, "none"),
        target_description: get(TARGET_DESCRIPTION, ""),
        server_version: get(SERVER_VERSION, "unknown"),
        node_image: get(NODE_IMAGE, "n/a"),
        ip_families: get(IP_FAMILIES, ""),
        run_id: get(RUN_ID, ""),
        status: get(names::STATUS, "unknown"),
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
    let state = match &case.status {
        TestCaseStatus::Success { flaky_runs } if flaky_runs.is_empty() => TrialState::Passed,
        TestCaseStatus::Success { flaky_runs } => TrialState::Flaky {
            failed_attempts: flaky_runs.len(),
            first_failure: flaky_runs
                .first()
                .map(|r| split_failure(&text(&r.description), &text(&r.message)).0)
                .unwrap_or_default(),
        },
        // `error` (not written by the runner, but JUnit allows it) counts as a failure.
        TestCaseStatus::NonSuccess {
            message,
            ty,
            description,
            reruns,
            ..
        } => {
            let (failure, diagnostics) = split_failure(&text(description), &text(message));
            TrialState::Failed {
                kind: FailureKind::from_label(ty.as_ref().map(|t| t.as_str())),
                failure,
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
        claim: property(&case.properties, CLAIM).unwrap_or("").to_string(),
        doc_url: property(&case.properties, DOC_URL)
            .unwrap_or("")
            .to_string(),
        state,
        findings: findings(&case.properties),
    }
}

/// `netconform.finding.N.doc-says` / `.cluster-shows`, in N order.
fn findings(properties: &[Property]) -> Vec<Finding> {
    let mut numbered: Vec<(usize, Finding)> = Vec::new();
    for p in properties {
        let Some((n, field)) = p
            .name
            .as_str()
            .strip_prefix(FINDING_PREFIX)
            .and_then(|rest| rest.split_once('.'))
        else {
            continue;
        };
        let Ok(n) = n.parse::<usize>() else { continue };
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
            "doc-says" => numbered[index].1.doc_says = p.value.as_str().to_string(),
            "cluster-shows" => numbered[index].1.cluster_shows = p.value.as_str().to_string(),
            _ => {}
        }
    }
    numbered.sort_by_key(|(n, _)| *n);
    numbered.into_iter().map(|(_, f)| f).collect()
}

/// The runner's failure text is `claim: …`, `doc: …`, the error, then `\n\ndiagnostics:\n…`
/// (report/junit.rs `full_failure`, runner.rs `failed`). Returns (error, diagnostics); the claim and doc
/// lines are dropped, the trial carries them.
fn split_failure(description: &str, message: &str) -> (String, String) {
    let whole = if description.trim().is_empty() {
        message
    } else {
        description
    };
    let (body, diagnostics) = whole
        .split_once("\n\ndiagnostics:\n")
        .unwrap_or((whole, ""));
    let error: Vec<&str> = body
        .lines()
        .skip_while(|l| l.starts_with("claim: ") || l.starts_with("doc: "))
        .collect();
    let error = error.join("\n").trim().to_string();
    let error = if error.is_empty() {
        message.trim().to_string()
    } else {
        error
    };
    (error, diagnostics.trim_end().to_string())
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
            failure: None,
        }
    }

    /// What the runner's `failed` records: claim and doc lines, the error, diagnostics apart.
    pub fn failed(claim: &str, error: &str) -> TrialOutcome {
        TrialOutcome::Failed {
            message: format!("claim: {claim}\ndoc: https://kubernetes.io/x/\n{error}"),
            diagnostics: "=== pod p ===\nphase Running".into(),
        }
    }

    pub fn flaky(name: &str) -> TrialRecord {
        let mut r = record(name, TrialOutcome::Passed);
        r.failed_attempts.push(FailedAttempt {
            kind: FailureKind::Timeout,
            message: "claim: c\ndoc: d\ncheck: nslookup\ntimed out".into(),
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

    #[test]
    fn runner_output_reads_back() {
        let run = fixtures::run_info(Some(TargetKind::Simulated));
        let report = parse(&run, &fixtures::trials());
        assert_eq!(report.target, "simulated");
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
                ..
            } => {
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
        let mut r = record("dns::a::b", failed("the claim", "check: x\nexpected: 1"));
        r.failed_attempts.push(FailedAttempt {
            kind: FailureKind::Unknown,
            message: "claim: the claim\ndoc: d\nfirst".into(),
            diagnostics: String::new(),
            duration: Duration::ZERO,
            log: String::new(),
        });
        let report = parse(&run, &[r]);
        assert_eq!(
            report.trials[0].state,
            TrialState::Failed {
                kind: FailureKind::Unknown,
                failure: "check: x\nexpected: 1".into(),
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
            report.target = label.into();
            assert_eq!(report.target_class(), class);
        }
    }

    /// A record that failed with `error`, as the runner's `failed` records it (its kind included).
    pub fn failed_with(name: &str, error: crate::failure::TrialError) -> TrialRecord {
        TrialRecord {
            failure: Some(error.failure()),
            ..record(
                name,
                failed(&format!("claim of {name}"), &error.to_string()),
            )
        }
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
            matches!(failed, Some(TrialState::Failed { kind: FailureKind::Unknown, failure, .. }) if failure.contains("the end of the hostaliases-pod log")),
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
                TrialState::Failed { kind, .. } => *kind,
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
            report.trials[1].state,
            TrialState::Failed {
                kind: FailureKind::Unknown,
                ..
            }
        ));
    }
}
