//! What a run produced, as the runner records it, and the files written from it: JUnit XML for CI
//! ([`junit`]) and a JSON summary beside it ([`summary`]). Reports read back ([`read`]) feed the upgrade
//! gate ([`gate`]) and the doc-claims matrix ([`claims`]); the claims index's coverage of the seeds is
//! [`coverage`].

mod args;
pub mod claims;
pub mod coverage;
pub mod fidelity;
pub mod gate;
pub mod junit;
pub mod markdown;
pub mod property;
pub mod read;
pub mod summary;

use std::io::Write;
use std::path::Path;
use std::time::{Duration, SystemTime};

use crate::cluster::TargetKind;
use crate::error::HarnessError;
pub use crate::failure::{Failure, FailureKind};

pub use junit::write_junit;
pub use summary::write_summary_json;

/// The run as a whole: where it ran and when.
#[derive(Debug, Clone)]
pub struct RunInfo {
    pub run_id: String,
    /// `None`: no target was found, every trial was skipped.
    pub target: Option<TargetKind>,
    pub target_description: String,
    pub server_version: Option<String>,
    pub node_image: Option<String>,
    /// `IPv4`, `IPv6`: the families every node has.
    pub ip_families: Vec<String>,
    pub started_at: SystemTime,
    /// More run properties, by name: the image map's substitutions (`netconform.image.<docs' image>`) and what
    /// the offline testbed built (`netconform.testbed.<key>`).
    pub properties: Vec<(String, String)>,
    /// Time since the run started when the report was written (the run's wall time once it finished).
    pub wall_time: Duration,
    /// Pods started in the run's namespaces so far (`None` where not counted: no cluster, or an old report).
    pub pods_started: Option<u64>,
    /// Whether the run got to its end; the gate compares only finished runs.
    pub status: RunStatus,
    /// The libtest selection the run was given (`--exact a b`, `--skip c`), `None` for the whole suite.
    pub filter: Option<String>,
    /// `NETCONFORM_SIM_DEVIATIONS` of a simulated run: its failures are injected on purpose.
    pub deviations: Vec<String>,
    /// `NETCONFORM_SIM_FAULTS` of a simulated run, as set; `None` without faults.
    pub faults: Option<String>,
}

/// How far a run got. A report is rewritten after every trial, so one read mid-run (or after `kill -9`)
/// says `running`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RunStatus {
    Running,
    Finished,
    /// Ctrl-C or SIGTERM: the trials that had not ended are missing.
    Interrupted,
}

impl RunStatus {
    pub const ALL: [RunStatus; 3] = [
        RunStatus::Running,
        RunStatus::Finished,
        RunStatus::Interrupted,
    ];

    /// The status a report's label names; `None` for one this version does not know.
    pub fn from_label(label: &str) -> Option<RunStatus> {
        RunStatus::ALL.into_iter().find(|s| s.label() == label)
    }

    pub fn label(self) -> &'static str {
        match self {
            RunStatus::Running => "running",
            RunStatus::Finished => "finished",
            RunStatus::Interrupted => "interrupted",
        }
    }
}

impl RunInfo {
    /// A run that has just started, before its target is known.
    pub fn starting(run_id: String) -> RunInfo {
        RunInfo {
            run_id,
            target: None,
            target_description: "no target".into(),
            server_version: None,
            node_image: None,
            ip_families: Vec::new(),
            started_at: SystemTime::now(),
            wall_time: Duration::ZERO,
            pods_started: None,
            status: RunStatus::Running,
            filter: None,
            deviations: Vec::new(),
            faults: None,
            properties: Vec::new(),
        }
    }

    /// `kind`, `existing`, `simulated` or `none`.
    pub fn target_label(&self) -> String {
        self.target
            .map(|t| t.to_string())
            .unwrap_or_else(|| "none".to_string())
    }

    /// Who showed a doc finding: `the double` on the test double, else `the cluster`.
    pub fn shown_by(&self) -> &'static str {
        match self.target {
            Some(TargetKind::Simulated) => "the double",
            _ => "the cluster",
        }
    }

    /// The report's title; a simulated run says so, so nobody mistakes it for a cluster's result.
    pub fn title(&self) -> String {
        match self.target {
            Some(TargetKind::Simulated) => {
                "netconform (simulated: netconform-double test double)".to_string()
            }
            Some(kind) => format!("netconform ({kind})"),
            None => "netconform (no target: every trial skipped)".to_string(),
        }
    }
}

/// One trial's result.
#[derive(Debug, Clone)]
pub struct TrialRecord {
    /// `suite::scenario::check`.
    pub name: String,
    pub suite: String,
    pub claim: String,
    pub doc_url: String,
    pub outcome: TrialOutcome,
    pub duration: Duration,
    /// The trial's own log (printed for failures).
    pub log: String,
    pub findings: Vec<DocFinding>,
    /// Attempts that failed before the final one (`NETCONFORM_RETRIES`).
    pub failed_attempts: Vec<FailedAttempt>,
}

impl TrialRecord {
    /// Passed after failing at least once.
    pub fn is_flaky(&self) -> bool {
        matches!(self.outcome, TrialOutcome::Passed) && !self.failed_attempts.is_empty()
    }

    /// The trial's claim and doc lines, then `failure`'s text: what libtest prints, the JUnit failure's
    /// description and the JSON's `details` ([`failure_text`] takes the lines off again).
    pub fn failure_message(&self, failure: &Failure) -> String {
        format!(
            "claim: {}\ndoc: {}\n{}",
            self.claim, self.doc_url, failure.text
        )
    }
}

/// How a trial ended: a failure always has its [`Failure`], a pass never has one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TrialOutcome {
    Passed,
    Failed {
        failure: Failure,
        /// Events, pod status and logs the runner collected.
        diagnostics: String,
    },
    Skipped {
        reason: String,
    },
}

/// A place where the docs and a conforming cluster disagree (not a cluster failure).
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct DocFinding {
    pub claim: String,
    pub doc_url: String,
    pub doc_says: String,
    pub cluster_shows: String,
}

/// An attempt of a trial that failed before a rerun.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailedAttempt {
    pub failure: Failure,
    pub diagnostics: String,
    pub duration: Duration,
    pub log: String,
}

/// Counts over a run's trials.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Totals {
    pub total: usize,
    pub passed: usize,
    pub failed: usize,
    pub skipped: usize,
    /// Passed, but only after a failed attempt (also counted in `passed`).
    pub flaky: usize,
    pub findings: usize,
}

pub fn totals(trials: &[TrialRecord]) -> Totals {
    let mut t = Totals {
        total: trials.len(),
        ..Totals::default()
    };
    for trial in trials {
        match trial.outcome {
            TrialOutcome::Passed => t.passed += 1,
            TrialOutcome::Failed { .. } => t.failed += 1,
            TrialOutcome::Skipped { .. } => t.skipped += 1,
        }
        if trial.is_flaky() {
            t.flaky += 1;
        }
        t.findings += trial.findings.len();
    }
    t
}

/// The first non-empty line, for a failure's one-line message.
pub(crate) use crate::text::first_line;

/// What separates a failure's message from its diagnostics in a report's failure description.
const DIAGNOSTICS_HEADING: &str = "\n\ndiagnostics:\n";

/// A failure's description in a report: its message, then the diagnostics if there are any.
pub(crate) fn with_diagnostics(message: &str, diagnostics: &str) -> String {
    if diagnostics.trim().is_empty() {
        message.to_string()
    } else {
        format!("{message}{DIAGNOSTICS_HEADING}{diagnostics}")
    }
}

/// A failure's text and diagnostics from a report's failure description ([`with_diagnostics`] of
/// [`TrialRecord::failure_message`]); the claim and doc lines are dropped, the trial carries them.
pub(crate) fn failure_text(description: &str) -> (String, String) {
    let (message, diagnostics) = description
        .split_once(DIAGNOSTICS_HEADING)
        .unwrap_or((description, ""));
    let text: Vec<&str> = message
        .lines()
        .skip_while(|l| l.starts_with("claim: ") || l.starts_with("doc: "))
        .collect();
    (
        text.join("\n").trim().to_string(),
        diagnostics.trim_end().to_string(),
    )
}

/// Writes `bytes` to `path` atomically: parent directories created, a temporary file beside it, then a rename,
/// so a CI job never picks up half a report.
pub(crate) fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), HarnessError> {
    let fail = |reason: String| HarnessError::Report {
        path: path.to_path_buf(),
        reason,
    };
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)
            .map_err(|e| fail(format!("cannot create {}: {e}", parent.display())))?;
    }
    let file_name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .ok_or_else(|| fail("not a file path".to_string()))?;
    let temp = path.with_file_name(format!(".{file_name}.tmp-{}", std::process::id()));
    let result = (|| -> std::io::Result<()> {
        let mut file = std::fs::File::create(&temp)?;
        file.write_all(bytes)?;
        file.sync_all()?;
        std::fs::rename(&temp, path)
    })();
    result.map_err(|e| {
        let _ = std::fs::remove_file(&temp);
        fail(e.to_string())
    })
}

#[cfg(test)]
pub(crate) mod fixtures {
    use super::*;

    pub fn run_info(target: Option<TargetKind>) -> RunInfo {
        RunInfo {
            run_id: "r1a2b3".into(),
            target,
            target_description: match target {
                Some(TargetKind::Simulated) => "netconform-double (a test double on 127.0.0.1:43123 — simulated, not a real cluster)".into(),
                _ => "kind cluster \"netconform\"".into(),
            },
            server_version: Some("v1.37.0".into()),
            node_image: Some("kindest/node:v1.37.0".into()),
            ip_families: vec!["IPv4".into(), "IPv6".into()],
            started_at: SystemTime::UNIX_EPOCH + Duration::from_secs(1_790_000_000),
            properties: Vec::new(),
            wall_time: Duration::from_secs(2),
            pods_started: Some(7),
            status: RunStatus::Finished,
            filter: None,
            deviations: Vec::new(),
            faults: None,
        }
    }

    pub fn trials() -> Vec<TrialRecord> {
        let base = |name: &str, outcome: TrialOutcome| TrialRecord {
            name: name.into(),
            suite: name.split("::").next().unwrap().into(),
            claim: "the kubelet manages /etc/hosts".into(),
            doc_url: "https://kubernetes.io/docs/tasks/network/customize-hosts-file-for-pods/"
                .into(),
            outcome,
            duration: Duration::from_millis(1500),
            log: "applied hostaliases-pod\n".into(),
            findings: vec![],
            failed_attempts: vec![],
        };
        let mut with_finding = base(
            "hostaliases::default_hosts::kubelet_header",
            TrialOutcome::Passed,
        );
        with_finding.findings.push(DocFinding {
            claim: "header".into(),
            doc_url: "https://kubernetes.io/x".into(),
            doc_says: "# Kubernetes-managed hosts file.".into(),
            cluster_shows: "# Kubernetes-managed hosts file (host network).".into(),
        });
        let mut flaky = base(
            "dns::busybox::nslookup_kubernetes_default",
            TrialOutcome::Passed,
        );
        flaky.failed_attempts.push(FailedAttempt {
            failure: Failure::from_text(FailureKind::Timeout, "nslookup timed out\nafter 30s"),
            diagnostics: "pod busybox: Running".into(),
            duration: Duration::from_secs(30),
            log: "exec nslookup".into(),
        });
        vec![
            with_finding,
            base(
                "hostaliases::extended_hosts::aliases_appended",
                TrialOutcome::Failed {
                    failure: Failure::from_text(
                        FailureKind::Unknown,
                        "/etc/hosts lacks 127.0.0.1 foo.local\nwhole file:\n127.0.0.1 localhost",
                    ),
                    diagnostics: "pod hostaliases-pod: Running".into(),
                },
            ),
            base(
                "dualstack::services::prefer_dual_stack",
                TrialOutcome::Skipped {
                    reason: "cluster is single-stack (IPv4 only)".into(),
                },
            ),
            flaky,
        ]
    }
    /// A record of every outcome the runner writes: passed (with doc findings, flaky), failed with each kind of
    /// error (and after reruns, and one known by its text only), skipped (one line, several lines).
    pub fn every_outcome() -> Vec<TrialRecord> {
        use crate::failure::{TrialError, ensure};
        let record = |name: &str, outcome: TrialOutcome| TrialRecord {
            name: name.into(),
            suite: name.split("::").next().unwrap_or("").into(),
            claim: format!("the claim of {name}"),
            doc_url: "https://kubernetes.io/docs/concepts/services-networking/dual-stack/".into(),
            outcome,
            duration: Duration::from_millis(1250),
            log: String::new(),
            findings: vec![],
            failed_attempts: vec![],
        };
        let failed = |name: &str, error: TrialError| {
            record(
                name,
                TrialOutcome::Failed {
                    failure: error.failure(),
                    diagnostics: "=== pod p ===\nphase: Running\nevents: none".into(),
                },
            )
        };
        let timeout = TrialError::Timeout {
            awaited: "pod p to be Running and Ready".into(),
            budget: "pod-start",
            elapsed: Duration::from_secs(180),
            last_state: "pod p: Pending\nImagePullBackOff".into(),
        };
        let attempt = |error: &TrialError| FailedAttempt {
            failure: error.failure(),
            diagnostics: "pod p: Pending".into(),
            duration: Duration::from_secs(3),
            log: "created pod p\n".into(),
        };

        let mut findings = record("dual_stack::a::findings", TrialOutcome::Passed);
        for n in 1..=2 {
            findings.findings.push(DocFinding {
                claim: findings.claim.clone(),
                doc_url: findings.doc_url.clone(),
                doc_says: format!("the doc's value {n}"),
                cluster_shows: format!("the cluster's value {n}\non a second line"),
            });
        }
        let mut flaky = record("dual_stack::a::flaky", TrialOutcome::Passed);
        flaky.failed_attempts = vec![attempt(&timeout), attempt(&timeout)];
        let mut after_reruns = failed(
            "dual_stack::a::after_reruns",
            ensure(false, "the pod's IPs", "two", "one").unwrap_err(),
        );
        after_reruns.failed_attempts = vec![attempt(&timeout)];
        vec![
            record("dual_stack::a::passed", TrialOutcome::Passed),
            findings,
            flaky,
            failed(
                "dual_stack::a::mismatch",
                ensure(
                    false,
                    "/etc/hosts",
                    "127.0.0.1 a\n::1 a",
                    "127.0.0.1 b\n::1 b",
                )
                .unwrap_err(),
            ),
            failed("dual_stack::a::timeout", timeout.clone()),
            failed(
                "dual_stack::a::gave_up",
                TrialError::GaveUp {
                    awaited: "pod p to be Ready".into(),
                    why: "the pod failed".into(),
                    last_state: "pod p: Failed".into(),
                },
            ),
            failed(
                "dual_stack::a::api_error",
                TrialError::Api {
                    context: "create Service s".into(),
                    source: std::sync::Arc::new(kube::Error::Service("connection refused".into())),
                },
            ),
            failed(
                "dual_stack::a::setup",
                TrialError::Harness("exec failed: no shell".into()),
            ),
            after_reruns,
            record(
                "dual_stack::a::text_only",
                TrialOutcome::Failed {
                    failure: Failure::from_text(FailureKind::Unknown, "check: x\nexpected: 1"),
                    diagnostics: String::new(),
                },
            ),
            record(
                "dual_stack::a::skipped",
                TrialOutcome::Skipped {
                    reason: "the cluster is IPv4-only".into(),
                },
            ),
            record(
                "dual_stack::a::skipped_at_length",
                TrialOutcome::Skipped {
                    reason: "no LoadBalancer controller\nNETCONFORM_LOAD_BALANCER=no".into(),
                },
            ),
        ]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn totals_count_flaky_and_findings() {
        let t = totals(&fixtures::trials());
        assert_eq!(
            t,
            Totals {
                total: 4,
                passed: 2,
                failed: 1,
                skipped: 1,
                flaky: 1,
                findings: 1
            }
        );
    }

    #[test]
    fn titles_say_simulated() {
        assert!(
            fixtures::run_info(Some(TargetKind::Simulated))
                .title()
                .contains("simulated")
        );
        assert_eq!(
            fixtures::run_info(Some(TargetKind::Kind)).title(),
            "netconform (kind)"
        );
        assert_eq!(fixtures::run_info(None).target_label(), "none");
    }

    #[test]
    fn atomic_write_creates_parents_and_replaces() {
        let dir = std::env::temp_dir().join(format!("netconform-report-{}", std::process::id()));
        let path = dir.join("a/b/junit.xml");
        write_atomically(&path, b"one").unwrap();
        write_atomically(&path, b"two").unwrap();
        assert_eq!(std::fs::read_to_string(&path).unwrap(), "two");
        let leftovers: Vec<_> = std::fs::read_dir(path.parent().unwrap())
            .unwrap()
            .flatten()
            .map(|e| e.file_name())
            .collect();
        assert_eq!(leftovers.len(), 1, "{leftovers:?}");
        // A path under a regular file cannot be created: a report error, not a panic.
        let err = write_atomically(&path.join("x.xml"), b"z").unwrap_err();
        assert_eq!(err.exit_code(), 9);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
