//! The suites against the netconform-double TEST DOUBLE, in-process (simulated, not a cluster):
//! - every trial passes on the double as it models upstream behaviour;
//! - every named deviation makes exactly the trials it names fail (their suites run whole under it), with
//!   the trial's doc claim in the message, which shows each check can fail when a cluster misbehaves;
//! - under injected API faults (10 % errors, watches dropped every 2 s) every trial still passes.

use std::collections::BTreeSet;
use std::time::Duration;

use netconform::config::{Settings, SimFaults, TargetChoice};
use netconform::report::{TrialOutcome, TrialRecord};
use netconform::runner::run_all;
use netconform::trial::TrialDef;
use netconform_suites::all_trials;
use netconform_suites::deviations::{self, Deviation};

/// As many trials at once as a CI machine runs threads by default.
const CONCURRENCY: usize = 4;

fn sim_settings(deviations: &[Deviation]) -> Settings {
    Settings {
        target: TargetChoice::Sim,
        sim_deviations: deviations.iter().map(|d| d.name().to_string()).collect(),
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
            TrialOutcome::Failed { failure, .. } => Some(format!(
                "{} failed:\n{}\n{}",
                r.name,
                r.failure_message(failure),
                r.log
            )),
            // The double is dual-stack: a claim about single-stack clusters is skipped, with that reason.
            TrialOutcome::Skipped { reason }
                if single_stack_only(&r.name) && reason.contains("configured dual-stack") =>
            {
                None
            }
            TrialOutcome::Skipped { reason } => Some(format!("{} skipped: {reason}", r.name)),
        })
        .collect()
}

/// Whether `trial` is about a single-stack cluster (`Need::SingleStack`): the double models a dual-stack one,
/// where such a trial is skipped with the reason; its deviations run on the `ipv4-only` profile instead
/// (tests/double_profiles.rs runs it there without one).
fn single_stack_only(trial: &str) -> bool {
    all_trials()
        .iter()
        .any(|t| t.name == trial && t.needs.contains(&netconform::preflight::Need::SingleStack))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_trial_passes_on_the_double() {
    let records = run(&sim_settings(&[]), &all_trials()).await;
    assert_eq!(records.len(), all_trials().len());
    let failed = failures(&records);
    assert!(failed.is_empty(), "{}", failed.join("\n\n"));
}

/// Deviations checked at once, each against its own double.
const DEVIATIONS_AT_ONCE: usize = 8;
/// Trials at once within one deviation's run.
const DEVIATION_CONCURRENCY: usize = 16;
/// The timeout scale of the recheck of a trial that disagreed with its deviation's list.
const RECHECK_SCALE: f64 = 0.25;

/// Each deviation fails exactly the trials the suites' `BREAKS` name for it, no fewer and no more: its named
/// trials' whole suites run once under it (a test that ran only the named trials never saw a fourth failure).
/// Every failure names its claim.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_deviation_fails_exactly_the_trials_it_names_with_their_claim() {
    use futures::StreamExt;
    let trials = all_trials();
    let names: BTreeSet<&str> = trials.iter().map(|t| t.name).collect();
    let mut problems = Vec::new();
    let mut runnable = Vec::new();
    for &deviation in Deviation::ALL {
        let fails = deviations::breaks(deviation);
        let unknown: Vec<&str> = fails
            .iter()
            .copied()
            .filter(|n| !names.contains(n))
            .collect();
        if fails.is_empty() || !unknown.is_empty() {
            problems.push(format!(
                "deviation {deviation} names trials that do not exist: {unknown:?}"
            ));
        } else {
            runnable.push((deviation, fails));
        }
    }
    let checked: Vec<Vec<String>> = futures::stream::iter(runnable)
        .map(|(deviation, fails)| {
            let trials = trials.clone();
            async move {
                let suites: BTreeSet<&str> =
                    fails.iter().filter_map(|n| n.split("::").next()).collect();
                let selected: Vec<TrialDef> = trials
                    .iter()
                    .copied()
                    .filter(|t| suites.contains(t.suite()))
                    .collect();
                // Waits that can never end (pods stuck Pending) give up after 2 % of their budget. A deviation of
                // the trials about single-stack clusters runs on a single-stack double.
                let single_stack = fails.iter().any(|n| single_stack_only(n));
                let settings = Settings {
                    timeout_scale: 0.02,
                    sim_profiles: if single_stack {
                        vec!["ipv4-only".to_string()]
                    } else {
                        Vec::new()
                    },
                    ..sim_settings(&[deviation])
                };
                let records = match run_all(&settings, &selected, DEVIATION_CONCURRENCY).await {
                    Ok(records) => records,
                    Err((line, code)) => {
                        return vec![format!(
                            "deviation {deviation}: the run did not start (exit {code}): {line}"
                        )];
                    }
                };
                let first = exactness(deviation, &fails, &records);
                if first.is_empty() {
                    return first;
                }
                // Budgets at 2 % are short enough for a busy machine to miss one: a trial that disagrees with
                // the list is run again alone with budgets at 25 %, and that run decides.
                let disputed: Vec<TrialDef> = selected
                    .iter()
                    .copied()
                    .filter(|t| first.iter().any(|p| p.starts_with(&format!("{} ", t.name))))
                    .collect();
                let settings = Settings {
                    timeout_scale: RECHECK_SCALE,
                    ..settings
                };
                match run_all(&settings, &disputed, DEVIATION_CONCURRENCY).await {
                    Ok(again) => exactness(deviation, &fails, &again),
                    Err((line, code)) => vec![format!(
                        "deviation {deviation}: the recheck did not start (exit {code}): {line}"
                    )],
                }
            }
        })
        .buffer_unordered(DEVIATIONS_AT_ONCE)
        .collect()
        .await;
    problems.extend(checked.into_iter().flatten());
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// What is wrong with a deviation's run: a named trial that did not fail (or failed without its claim), or a
/// trial it does not name that failed.
fn exactness(deviation: Deviation, named: &BTreeSet<&str>, records: &[TrialRecord]) -> Vec<String> {
    let unsettled = deviations::unsettled(deviation);
    let mut problems = Vec::new();
    for record in records {
        if unsettled.contains(&record.name.as_str()) {
            continue;
        }
        let expected = named.contains(&record.name.as_str());
        // What libtest prints for a failure.
        let message = match &record.outcome {
            TrialOutcome::Failed { failure, .. } => record.failure_message(failure),
            _ => String::new(),
        };
        match (&record.outcome, expected) {
            (TrialOutcome::Failed { .. }, true) if !message.contains(&record.claim) => problems
                .push(format!(
                    "{} failed under {deviation} without naming its claim:\n{message}",
                    record.name
                )),
            (TrialOutcome::Failed { .. }, true) => {}
            (other, true) => problems.push(format!(
                "{} did not fail under deviation {deviation}: {other:?}",
                record.name
            )),
            (TrialOutcome::Failed { .. }, false) => problems.push(format!(
                "{} failed under deviation {deviation}, which does not name it:\n{message}",
                record.name
            )),
            (_, false) => {}
        }
    }
    problems
}

#[test]
fn exactness_flags_an_unnamed_failure_and_a_named_pass() {
    use netconform::report::{Failure, FailureKind};
    let record = |name: &str, outcome: TrialOutcome| TrialRecord {
        name: name.into(),
        suite: "a".into(),
        claim: "the claim".into(),
        doc_url: String::new(),
        outcome,
        duration: Duration::ZERO,
        log: String::new(),
        findings: vec![],
        failed_attempts: vec![],
    };
    let failed = || TrialOutcome::Failed {
        failure: Failure::from_text(FailureKind::Unknown, "check: x"),
        diagnostics: String::new(),
    };
    let records = [
        record("a::b::named", failed()),
        record("a::b::extra", failed()),
        record("a::b::passes", TrialOutcome::Passed),
    ];
    let d = Deviation::HostsNoFqdn;
    assert!(exactness(d, &BTreeSet::from(["a::b::named"]), &records[..1]).is_empty());
    let problems = exactness(
        d,
        &BTreeSet::from(["a::b::named", "a::b::passes"]),
        &records,
    );
    assert_eq!(problems.len(), 2, "{problems:?}");
    assert!(
        problems[0].starts_with(
            "a::b::extra failed under deviation hosts-no-fqdn, which does not name it"
        )
    );
    assert!(problems[1].starts_with("a::b::passes did not fail under deviation hosts-no-fqdn"));
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

/// The three `hostaliases::nginx::*` trials share one pod (netconform::scenario): their first attempts read
/// one computation, and a rerun computes it again instead of re-reading the failure it saw.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_shared_scenario_is_computed_once_and_a_rerun_computes_it_again() {
    use netconform::report::FailureKind;
    let nginx: Vec<TrialDef> = all_trials()
        .into_iter()
        .filter(|t| t.name.starts_with("hostaliases::nginx::"))
        .collect();
    assert_eq!(nginx.len(), 3);
    // Under hosts-spaces-not-tabs the header still matches; the other two fail, then fail their rerun.
    let settings = Settings {
        retries: 1,
        ..sim_settings(&[Deviation::HostsSpacesNotTabs])
    };
    let records = run(&settings, &nginx).await;
    // Each computation creates the pod once, in the scenario's own namespace.
    let pod_created = |log: &str| -> Vec<String> {
        log.lines()
            .filter(|l| l.starts_with("created Pod ") && l.ends_with("/nginx"))
            .map(str::to_string)
            .collect()
    };
    let mut first_reads = BTreeSet::new();
    let mut reruns = Vec::new();
    for r in &records {
        let attempts: Vec<&str> = r.failed_attempts.iter().map(|a| a.log.as_str()).collect();
        for log in attempts.iter().copied().chain([r.log.as_str()]) {
            assert_eq!(pod_created(log).len(), 1, "{}:\n{log}", r.name);
            assert!(!log.contains("cleanup: "), "{}:\n{log}", r.name);
        }
        if r.name.ends_with("::managed_header") {
            assert_eq!(r.outcome, TrialOutcome::Passed, "{}", r.log);
            assert!(r.failed_attempts.is_empty());
            first_reads.extend(pod_created(&r.log));
        } else {
            assert!(matches!(r.outcome, TrialOutcome::Failed { .. }), "{r:?}");
            assert_eq!(r.failed_attempts.len(), 1, "{}", r.name);
            assert_eq!(r.failed_attempts[0].failure.kind, FailureKind::Assertion);
            assert!(
                matches!(&r.outcome, TrialOutcome::Failed { failure, .. } if failure.kind == FailureKind::Assertion),
                "{r:?}"
            );
            first_reads.extend(pod_created(attempts[0]));
            reruns.extend(pod_created(&r.log));
        }
    }
    assert_eq!(
        first_reads.len(),
        1,
        "one pod for the three: {first_reads:?}"
    );
    assert!(
        reruns.iter().all(|pod| !first_reads.contains(pod)),
        "each rerun read a new computation: {reruns:?} vs {first_reads:?}"
    );
}
