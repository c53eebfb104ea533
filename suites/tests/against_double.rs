//! The suites against the netconform-double TEST DOUBLE, in-process (simulated, not a cluster):
//! - every trial passes on the double as it models upstream behaviour;
//! - every named deviation makes each trial it names fail, with the trial's doc claim in the message,
//!   which shows each check can fail when a cluster misbehaves;
//! - under injected API faults (10 % errors, watches dropped every 2 s) every trial still passes.

use std::collections::BTreeSet;
use std::time::Duration;

use netconform::config::{Settings, SimFaults, TargetChoice};
use netconform::report::{TrialOutcome, TrialRecord};
use netconform::runner::run_all;
use netconform::trial::TrialDef;
use netconform_double::deviation::DEVIATIONS;
use netconform_suites::all_trials;

/// As many trials at once as a CI machine runs threads by default.
const CONCURRENCY: usize = 4;

fn sim_settings(deviations: &[&str]) -> Settings {
    Settings {
        target: TargetChoice::Sim,
        sim_deviations: deviations.iter().map(|d| d.to_string()).collect(),
        ..Settings::default()
    }
}

async fn run(settings: &Settings, trials: &[TrialDef]) -> Vec<TrialRecord> {
    match run_all(settings, trials, CONCURRENCY).await {
        Ok(records) => records,
        Err((line, code)) => panic!("the run did not start (exit {code}): {line}"),
    }
}

fn failures(records: &[TrialRecord]) -> Vec<String> {
    records
        .iter()
        .filter_map(|r| match &r.outcome {
            TrialOutcome::Passed => None,
            TrialOutcome::Failed { message, .. } => {
                Some(format!("{} failed:\n{message}\n{}", r.name, r.log))
            }
            TrialOutcome::Skipped { reason } => Some(format!("{} skipped: {reason}", r.name)),
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_trial_passes_on_the_double() {
    let records = run(&sim_settings(&[]), &all_trials()).await;
    assert_eq!(records.len(), all_trials().len());
    let failed = failures(&records);
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_deviation_fails_the_trials_it_names_with_their_claim() {
    let trials = all_trials();
    let names: BTreeSet<&str> = trials.iter().map(|t| t.name).collect();
    let mut problems = Vec::new();
    for deviation in DEVIATIONS {
        let unknown: Vec<&str> = deviation
            .fails
            .iter()
            .copied()
            .filter(|n| !names.contains(n))
            .collect();
        if deviation.fails.is_empty() || !unknown.is_empty() {
            problems.push(format!(
                "deviation {} names trials that do not exist: {unknown:?}",
                deviation.name
            ));
            continue;
        }
        let selected: Vec<TrialDef> = trials
            .iter()
            .copied()
            .filter(|t| deviation.fails.contains(&t.name))
            .collect();
        // Waits that can never end (pods stuck Pending) give up after 2 % of their budget.
        let settings = Settings {
            timeout_scale: 0.02,
            ..sim_settings(&[deviation.name])
        };
        for record in run(&settings, &selected).await {
            match &record.outcome {
                TrialOutcome::Failed { message, .. } if message.contains(&record.claim) => {}
                TrialOutcome::Failed { message, .. } => problems.push(format!(
                    "{} failed under {} without naming its claim:\n{message}",
                    record.name, deviation.name
                )),
                other => problems.push(format!(
                    "{} did not fail under deviation {}: {other:?}",
                    record.name, deviation.name
                )),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults_cause_no_false_failures() {
    let settings = Settings {
        sim_faults: SimFaults {
            error_rate: 0.10,
            watch_drop: Some(Duration::from_secs(2)),
            latency: None,
            seed: Some(7),
        },
        ..sim_settings(&[])
    };
    let records = run(&settings, &all_trials()).await;
    let failed = failures(&records);
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}
