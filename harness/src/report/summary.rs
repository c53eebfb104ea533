//! The JSON summary beside the JUnit file: the same run in a shape scripts can read without an XML parser,
//! with the doc findings gathered in one list.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::{
    DocFinding, Failure, FailureKind, RunInfo, RunStatus, Totals, TrialOutcome, TrialRecord,
    totals, write_atomically,
};
use crate::cluster::TargetKind;
use crate::error::HarnessError;

/// The JSON summary, as written and as read back (`netconform fidelity` reads it).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Summary {
    pub title: String,
    pub run: RunJson,
    pub totals: Totals,
    pub trials: Vec<TrialJson>,
    /// Every doc finding of the run, with the trial that made it.
    pub findings: Vec<FindingJson>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RunJson {
    pub run_id: String,
    /// `kind`, `existing`, `simulated` or `none`.
    pub target: String,
    /// True for the test double: its results say nothing about a real cluster.
    pub simulated: bool,
    pub target_description: String,
    pub server_version: Option<String>,
    pub node_image: Option<String>,
    pub ip_families: Vec<String>,
    /// RFC 3339, UTC.
    pub started_at: String,
    /// The image map's substitutions and the testbed's record ([`RunInfo::properties`]).
    pub properties: BTreeMap<String, String>,
    /// `running` (the run had not ended when this was written), `finished` or `interrupted`.
    pub status: RunStatus,
    pub interrupted: bool,
    /// The libtest selection (`--exact a b`, `--skip c`); `null` for the whole suite.
    pub filter: Option<String>,
    /// Since the run started; trials run side by side, so it is much less than `trial_time_seconds`.
    pub wall_time_seconds: f64,
    /// The trials' durations summed.
    pub trial_time_seconds: f64,
    /// Pods started in the run's namespaces; absent where not counted (no cluster, or an older report).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pods_started: Option<u64>,
    /// `NETCONFORM_SIM_DEVIATIONS`: failures injected on purpose.
    pub deviations: Vec<String>,
    /// `NETCONFORM_SIM_FAULTS`.
    pub faults: Option<String>,
}

/// A trial's verdict in the JSON: a pass after a failed attempt is `flaky`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Verdict {
    Passed,
    Failed,
    Skipped,
    Flaky,
}

impl Verdict {
    pub fn label(self) -> &'static str {
        match self {
            Verdict::Passed => "passed",
            Verdict::Failed => "failed",
            Verdict::Skipped => "skipped",
            Verdict::Flaky => "flaky",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TrialJson {
    pub name: String,
    pub suite: String,
    pub claim: String,
    pub doc_url: String,
    /// `passed`, `failed`, `skipped` or `flaky` (passed after a failed attempt).
    pub outcome: Verdict,
    /// A failure's `check: expected …; observed …` on one line, or the skip reason.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    /// A failure's claim and doc lines, then its text ([`TrialRecord::failure_message`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub details: Option<String>,
    /// A failure's `type`, `check`, `expected` and `observed` (its text is in `details`).
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub failure: Option<Failure>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<String>,
    pub duration_seconds: f64,
    pub failed_attempts: Vec<AttemptJson>,
    pub findings: Vec<DocFinding>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AttemptJson {
    /// The attempt's failure kind, as the trial's `type`.
    #[serde(rename = "type")]
    pub kind: FailureKind,
    /// The attempt's claim and doc lines, then its failure's text.
    pub message: String,
    pub diagnostics: String,
    pub duration_seconds: f64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FindingJson {
    pub trial: String,
    #[serde(flatten)]
    pub finding: DocFinding,
}

pub fn build_summary(run: &RunInfo, trials: &[TrialRecord]) -> Summary {
    let started: DateTime<Utc> = run.started_at.into();
    Summary {
        title: run.title(),
        run: RunJson {
            run_id: run.run_id.clone(),
            target: run.target_label(),
            simulated: run.target == Some(TargetKind::Simulated),
            target_description: run.target_description.clone(),
            server_version: run.server_version.clone(),
            node_image: run.node_image.clone(),
            ip_families: run.ip_families.clone(),
            started_at: started.to_rfc3339_opts(SecondsFormat::Secs, true),
            properties: run.properties.iter().cloned().collect(),
            status: run.status,
            interrupted: run.status == RunStatus::Interrupted,
            filter: run.filter.clone(),
            wall_time_seconds: run.wall_time.as_secs_f64(),
            trial_time_seconds: trials.iter().map(|t| t.duration.as_secs_f64()).sum(),
            pods_started: run.pods_started,
            deviations: run.deviations.clone(),
            faults: run.faults.clone(),
        },
        totals: totals(trials),
        trials: trials.iter().map(trial_json).collect(),
        findings: trials
            .iter()
            .flat_map(|t| {
                t.findings.iter().map(move |f| FindingJson {
                    trial: t.name.clone(),
                    finding: f.clone(),
                })
            })
            .collect(),
    }
}

fn trial_json(trial: &TrialRecord) -> TrialJson {
    let (outcome, message, details, failure, diagnostics) = match &trial.outcome {
        TrialOutcome::Passed if trial.is_flaky() => (Verdict::Flaky, None, None, None, None),
        TrialOutcome::Passed => (Verdict::Passed, None, None, None, None),
        TrialOutcome::Failed {
            failure,
            diagnostics,
        } => (
            Verdict::Failed,
            Some(failure.one_line()),
            Some(trial.failure_message(failure)),
            // A failure known by its text only has no fields to give.
            Some(failure.clone()).filter(Failure::has_fields),
            Some(diagnostics.clone()),
        ),
        TrialOutcome::Skipped { reason } => {
            (Verdict::Skipped, Some(reason.clone()), None, None, None)
        }
    };
    TrialJson {
        name: trial.name.clone(),
        suite: trial.suite.clone(),
        claim: trial.claim.clone(),
        doc_url: trial.doc_url.clone(),
        outcome,
        message,
        details,
        failure,
        diagnostics,
        duration_seconds: trial.duration.as_secs_f64(),
        failed_attempts: trial
            .failed_attempts
            .iter()
            .map(|a| AttemptJson {
                kind: a.failure.kind,
                message: trial.failure_message(&a.failure),
                diagnostics: a.diagnostics.clone(),
                duration_seconds: a.duration.as_secs_f64(),
            })
            .collect(),
        findings: trial.findings.clone(),
    }
}

/// Why a JSON summary could not be read.
#[derive(Debug, thiserror::Error)]
pub enum SummaryError {
    #[error("cannot read {}: {source}", path.display())]
    Unreadable {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{} is not a netconform JSON summary: {reason}", path.display())]
    NotSummary { path: PathBuf, reason: String },
}

/// Reads the JSON summary at `path`.
pub fn read_summary(path: &Path) -> Result<Summary, SummaryError> {
    let text = std::fs::read_to_string(path).map_err(|source| SummaryError::Unreadable {
        path: path.to_path_buf(),
        source,
    })?;
    parse_summary(path, &text)
}

/// Parses a JSON summary; `path` names it in errors. A failure's text comes back from its `details`.
pub fn parse_summary(path: &Path, json: &str) -> Result<Summary, SummaryError> {
    let mut summary: Summary =
        serde_json::from_str(json).map_err(|e| SummaryError::NotSummary {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    for trial in &mut summary.trials {
        if let (Some(failure), Some(details)) = (&mut trial.failure, &trial.details) {
            failure.text = super::failure_text(details).0;
        }
    }
    Ok(summary)
}

/// Writes the JSON summary to `path` (atomically, parent directories created).
pub fn write_summary_json(
    path: &Path,
    run: &RunInfo,
    trials: &[TrialRecord],
) -> Result<(), HarnessError> {
    let json = serde_json::to_vec_pretty(&build_summary(run, trials)).map_err(|e| {
        HarnessError::Report {
            path: path.to_path_buf(),
            reason: e.to_string(),
        }
    })?;
    write_atomically(path, &json)
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;

    /// The JSON had only the failure's first line (the claim); now its fields.
    #[test]
    fn a_failure_has_its_check_expected_observed_and_type() {
        let mut trials = fixtures::trials();
        trials[1].outcome = TrialOutcome::Failed {
            failure: crate::failure::ensure(
                false,
                "the hosts file",
                "127.0.0.1\tfoo.local",
                "nothing",
            )
            .unwrap_err()
            .failure(),
            diagnostics: "pod hostaliases-pod: Running".into(),
        };
        let run = fixtures::run_info(Some(TargetKind::Kind));
        let value = serde_json::to_value(build_summary(&run, &trials)).unwrap();
        let failed = &value["trials"][1];
        assert_eq!(failed["type"], "assertion");
        assert_eq!(failed["check"], "the hosts file");
        assert_eq!(failed["expected"], "127.0.0.1\tfoo.local");
        assert_eq!(failed["observed"], "nothing");
        assert_eq!(
            failed["message"],
            "the hosts file: expected 127.0.0.1\tfoo.local; observed nothing"
        );
        assert!(value["trials"][0].get("check").is_none());
        // Reruns keep their kind too.
        assert_eq!(value["trials"][3]["failed_attempts"][0]["type"], "timeout");

        let xml = super::super::junit::build_report(&run, &trials)
            .to_string()
            .unwrap();
        assert!(
            xml.contains(r#"message="the hosts file: expected 127.0.0.1␉foo.local; observed nothing" type="assertion""#),
            "{xml}"
        );
    }

    #[test]
    fn an_interrupted_run_says_so() {
        let run = RunInfo {
            status: RunStatus::Interrupted,
            filter: Some("dns".into()),
            deviations: vec!["hosts-no-fqdn".into()],
            ..fixtures::run_info(Some(TargetKind::Simulated))
        };
        let value = serde_json::to_value(build_summary(&run, &fixtures::trials())).unwrap();
        assert_eq!(value["run"]["status"], "interrupted");
        assert_eq!(value["run"]["interrupted"], true);
        assert_eq!(value["run"]["filter"], "dns");
        assert_eq!(value["run"]["deviations"][0], "hosts-no-fqdn");
    }

    /// Written, read, compared: every outcome, with its failure's kind, fields and text, and the run.
    #[test]
    fn every_outcome_round_trips() {
        let trials = fixtures::every_outcome();
        for run in [
            fixtures::run_info(Some(TargetKind::Simulated)),
            RunInfo {
                status: RunStatus::Interrupted,
                filter: Some("dual_stack".into()),
                deviations: vec!["hosts-no-fqdn".into()],
                faults: Some("errors=0.1".into()),
                properties: vec![("netconform.image.busybox".into(), "b:1".into())],
                ..fixtures::run_info(None)
            },
        ] {
            let written = build_summary(&run, &trials);
            let json = serde_json::to_string_pretty(&written).unwrap();
            let read = parse_summary(Path::new("junit.json"), &json).unwrap();
            assert_eq!(read, written);
            // The failure's text comes back too (the JSON keeps it in `details`).
            let texts: Vec<&str> = read
                .trials
                .iter()
                .filter_map(|t| t.failure.as_ref())
                .map(|f| f.text.as_str())
                .collect();
            assert!(
                texts.len() == 6 && texts.iter().all(|t| !t.is_empty()),
                "{texts:?}"
            );
        }
        let err = parse_summary(Path::new("x.json"), r#"{"trials": []}"#).unwrap_err();
        assert!(
            err.to_string()
                .starts_with("x.json is not a netconform JSON summary: "),
            "{err}"
        );
    }

    #[test]
    fn summary_json_round_trip() {
        let dir = std::env::temp_dir().join(format!("netconform-summary-{}", std::process::id()));
        let path = dir.join("junit.json");
        write_summary_json(
            &path,
            &fixtures::run_info(Some(TargetKind::Simulated)),
            &fixtures::trials(),
        )
        .unwrap();
        let value: serde_json::Value =
            serde_json::from_slice(&std::fs::read(&path).unwrap()).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(value["run"]["target"], "simulated");
        assert_eq!(value["run"]["status"], "finished");
        assert_eq!(value["run"]["interrupted"], false);
        assert_eq!(value["run"]["filter"], serde_json::Value::Null);
        assert_eq!(value["run"]["wall_time_seconds"], 2.0);
        assert_eq!(value["run"]["trial_time_seconds"], 6.0);
        assert_eq!(value["run"]["pods_started"], 7);
        assert_eq!(value["run"]["simulated"], true);
        assert_eq!(value["run"]["started_at"], "2026-09-21T14:13:20Z");
        assert!(value["title"].as_str().unwrap().contains("simulated"));
        assert_eq!(value["totals"]["failed"], 1);
        assert_eq!(value["totals"]["flaky"], 1);
        let outcomes: Vec<&str> = value["trials"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t["outcome"].as_str().unwrap())
            .collect();
        assert_eq!(outcomes, vec!["passed", "failed", "skipped", "flaky"]);
        assert_eq!(
            value["trials"][1]["message"],
            "/etc/hosts lacks 127.0.0.1 foo.local"
        );
        assert_eq!(
            value["trials"][2]["message"],
            "cluster is single-stack (IPv4 only)"
        );
        assert_eq!(
            value["findings"][0]["trial"],
            "hostaliases::default_hosts::kubelet_header"
        );
        assert_eq!(
            value["findings"][0]["doc_says"],
            "# Kubernetes-managed hosts file."
        );
    }
}
