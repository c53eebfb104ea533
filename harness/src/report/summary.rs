//! The JSON summary beside the JUnit file: the same run in a shape scripts can read without an XML parser,
//! with the doc findings gathered in one list.

use std::path::Path;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::Serialize;

use super::{
    DocFinding, RunInfo, RunStatus, Totals, TrialOutcome, TrialRecord, first_line, totals,
    write_atomically,
};
use crate::cluster::TargetKind;
use crate::error::HarnessError;

#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub title: String,
    pub run: RunJson<'a>,
    pub totals: Totals,
    pub trials: Vec<TrialJson<'a>>,
    /// Every doc finding of the run, with the trial that made it.
    pub findings: Vec<FindingJson<'a>>,
}

#[derive(Debug, Serialize)]
pub struct RunJson<'a> {
    pub run_id: &'a str,
    /// `kind`, `existing`, `simulated` or `none`.
    pub target: String,
    /// True for the test double: its results say nothing about a real cluster.
    pub simulated: bool,
    pub target_description: &'a str,
    pub server_version: Option<&'a str>,
    pub node_image: Option<&'a str>,
    pub ip_families: &'a [String],
    /// RFC 3339, UTC.
    pub started_at: String,
    /// The image map's substitutions and the testbed's record ([`RunInfo::properties`]).
    pub properties: std::collections::BTreeMap<&'a str, &'a str>,
    /// `running` (the run had not ended when this was written), `finished` or `interrupted`.
    pub status: &'static str,
    pub interrupted: bool,
    /// The libtest selection (`--exact a b`, `--skip c`); `null` for the whole suite.
    pub filter: Option<&'a str>,
    /// Since the run started; trials run side by side, so it is much less than `trial_time_seconds`.
    pub wall_time_seconds: f64,
    /// The trials' durations summed.
    pub trial_time_seconds: f64,
    /// `NETCONFORM_SIM_DEVIATIONS`: failures injected on purpose.
    pub deviations: &'a [String],
    /// `NETCONFORM_SIM_FAULTS`.
    pub faults: Option<&'a str>,
}

#[derive(Debug, Serialize)]
pub struct TrialJson<'a> {
    pub name: &'a str,
    pub suite: &'a str,
    pub claim: &'a str,
    pub doc_url: &'a str,
    /// `passed`, `failed`, `skipped` or `flaky` (passed after a failed attempt).
    pub outcome: &'static str,
    /// A failure's `check: expected …; observed …` on one line, or the skip reason.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub details: Option<&'a str>,
    /// A failure's `type`, `check`, `expected` and `observed`.
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    pub failure: Option<&'a super::Failure>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diagnostics: Option<&'a str>,
    pub duration_seconds: f64,
    pub failed_attempts: Vec<AttemptJson<'a>>,
    pub findings: &'a [DocFinding],
}

#[derive(Debug, Serialize)]
pub struct AttemptJson<'a> {
    /// The attempt's failure kind, as the trial's `type`.
    #[serde(rename = "type")]
    pub kind: &'static str,
    pub message: &'a str,
    pub diagnostics: &'a str,
    pub duration_seconds: f64,
}

#[derive(Debug, Serialize)]
pub struct FindingJson<'a> {
    pub trial: &'a str,
    #[serde(flatten)]
    pub finding: &'a DocFinding,
}

pub fn build_summary<'a>(run: &'a RunInfo, trials: &'a [TrialRecord]) -> Summary<'a> {
    let started: DateTime<Utc> = run.started_at.into();
    Summary {
        title: run.title(),
        run: RunJson {
            run_id: &run.run_id,
            target: run.target_label(),
            simulated: run.target == Some(TargetKind::Simulated),
            target_description: &run.target_description,
            server_version: run.server_version.as_deref(),
            node_image: run.node_image.as_deref(),
            ip_families: &run.ip_families,
            started_at: started.to_rfc3339_opts(SecondsFormat::Secs, true),
            properties: run
                .properties
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str()))
                .collect(),
            status: run.status.label(),
            interrupted: run.status == RunStatus::Interrupted,
            filter: run.filter.as_deref(),
            wall_time_seconds: run.wall_time.as_secs_f64(),
            trial_time_seconds: trials.iter().map(|t| t.duration.as_secs_f64()).sum(),
            deviations: &run.deviations,
            faults: run.faults.as_deref(),
        },
        totals: totals(trials),
        trials: trials.iter().map(trial_json).collect(),
        findings: trials
            .iter()
            .flat_map(|t| {
                t.findings.iter().map(move |f| FindingJson {
                    trial: &t.name,
                    finding: f,
                })
            })
            .collect(),
    }
}

fn trial_json(trial: &TrialRecord) -> TrialJson<'_> {
    let (outcome, message, details, diagnostics) = match &trial.outcome {
        TrialOutcome::Passed if trial.is_flaky() => ("flaky", None, None, None),
        TrialOutcome::Passed => ("passed", None, None, None),
        TrialOutcome::Failed {
            message,
            diagnostics,
        } => (
            "failed",
            Some(match &trial.failure {
                Some(failure) => failure.one_line(),
                None => first_line(message).to_string(),
            }),
            Some(message.as_str()),
            Some(diagnostics.as_str()),
        ),
        TrialOutcome::Skipped { reason } => ("skipped", Some(reason.clone()), None, None),
    };
    TrialJson {
        name: &trial.name,
        suite: &trial.suite,
        claim: &trial.claim,
        doc_url: &trial.doc_url,
        outcome,
        message,
        details,
        failure: trial.failure.as_ref(),
        diagnostics,
        duration_seconds: trial.duration.as_secs_f64(),
        failed_attempts: trial
            .failed_attempts
            .iter()
            .map(|a| AttemptJson {
                kind: a.kind.label(),
                message: &a.message,
                diagnostics: &a.diagnostics,
                duration_seconds: a.duration.as_secs_f64(),
            })
            .collect(),
        findings: &trial.findings,
    }
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
        trials[1].failure = Some(
            crate::failure::ensure(false, "the hosts file", "127.0.0.1\tfoo.local", "nothing")
                .unwrap_err()
                .failure(),
        );
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
