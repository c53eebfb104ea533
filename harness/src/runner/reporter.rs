//! The reports as the run goes: records collected and the JUnit and JSON rewritten after each one, and the
//! closing table per suite.

use std::sync::Mutex;
use std::time::Instant;

use crate::config::Settings;
use crate::pod_tally::PodTally;
use crate::report::{self, RunInfo, RunStatus, TrialRecord};

/// Collects records and rewrites the reports after each one, so an interrupted run still leaves them.
pub(super) struct Reporter {
    info: RunInfo,
    started: Instant,
    junit: std::path::PathBuf,
    summary: std::path::PathBuf,
    records: Mutex<Vec<TrialRecord>>,
    /// Counts the pods the run starts; `None` without a cluster.
    pods: Option<PodTally>,
}

impl Reporter {
    pub(super) fn new(settings: &Settings, info: RunInfo) -> Reporter {
        Reporter {
            info,
            started: Instant::now(),
            junit: settings.junit_path(),
            summary: settings.summary_path(),
            records: Mutex::new(Vec::new()),
            pods: None,
        }
    }

    /// The same, with the pods the run starts counted in its reports.
    pub(super) fn counting_pods(self, pods: PodTally) -> Reporter {
        Reporter {
            pods: Some(pods),
            ..self
        }
    }

    pub(super) fn record(&self, record: TrialRecord) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        records.push(record);
        self.write(&records, RunStatus::Running);
    }

    pub(super) fn write(&self, records: &[TrialRecord], status: RunStatus) {
        let info = RunInfo {
            wall_time: self.started.elapsed(),
            pods_started: self.pods.as_ref().map(PodTally::count),
            status,
            ..self.info.clone()
        };
        if let Err(e) = report::write_junit(&self.junit, &info, records) {
            eprintln!("netconform: {e}");
        }
        if let Err(e) = report::write_summary_json(&self.summary, &info, records) {
            eprintln!("netconform: {e}");
        }
    }

    /// Final write, and the doc findings printed once at the end of the run.
    pub(super) fn finish(&self, status: RunStatus) {
        let Ok(records) = self.records.lock() else {
            return;
        };
        self.write(&records, status);
        // The same finding seen by several trials is printed once, with the trials that saw it.
        let mut findings: std::collections::BTreeMap<(&str, &str, &str), Vec<&str>> =
            Default::default();
        for r in records.iter() {
            if r.is_flaky() {
                eprintln!(
                    "netconform: flaky: {} passed after {} failed attempt(s)",
                    r.name,
                    r.failed_attempts.len()
                );
            }
            for f in &r.findings {
                findings
                    .entry((&f.doc_url, &f.doc_says, &f.cluster_shows))
                    .or_default()
                    .push(&r.name);
            }
        }
        let shown_by = self.info.shown_by();
        for ((url, doc_says, cluster_shows), trials) in findings {
            eprintln!(
                "netconform: doc finding in {}: the doc says {doc_says}; {shown_by} shows {cluster_shows} ({url})",
                trials.join(", ")
            );
        }
        if !records.is_empty() {
            eprintln!("{}", suite_table(&records));
            let pods = self.pods.as_ref().map_or(String::new(), |p| {
                format!(", {} pods started in its namespaces", p.count())
            });
            eprintln!(
                "netconform: wall time {:.1}s{pods}",
                self.started.elapsed().as_secs_f64()
            );
        }
        eprintln!(
            "netconform: reports: {} and {}",
            self.junit.display(),
            self.summary.display()
        );
    }
}

/// The run's closing table: per suite, passed, failed, skipped, flaky and the trials' time.
pub(super) fn suite_table(records: &[TrialRecord]) -> String {
    let mut suites: Vec<(&str, Vec<&TrialRecord>)> = Vec::new();
    for r in records {
        match suites.iter_mut().find(|(s, _)| *s == r.suite) {
            Some((_, rs)) => rs.push(r),
            None => suites.push((&r.suite, vec![r])),
        }
    }
    suites.sort_by_key(|(s, _)| *s);
    let mut text = format!(
        "{:<14} {:>6} {:>6} {:>7} {:>5} {:>9}",
        "suite", "passed", "failed", "skipped", "flaky", "time"
    );
    let all: Vec<&TrialRecord> = records.iter().collect();
    for (name, rs) in suites
        .iter()
        .map(|(n, rs)| (*n, rs))
        .chain([("total", &all)])
    {
        let owned: Vec<TrialRecord> = rs.iter().map(|r| (*r).clone()).collect();
        let t = report::totals(&owned);
        let time: std::time::Duration = rs.iter().map(|r| r.duration).sum();
        text.push_str(&format!(
            "\n{name:<14} {:>6} {:>6} {:>7} {:>5} {:>8.1}s",
            t.passed,
            t.failed,
            t.skipped,
            t.flaky,
            time.as_secs_f64()
        ));
    }
    text
}
