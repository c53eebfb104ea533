//! The suites on each profile of the netconform-double TEST DOUBLE (simulated, not a cluster): conforming
//! clusters that differ from the default kind dual-stack one (IPv6 first; node resolv.conf files of other
//! hosts; a CoreDNS without pod records). Every trial passes, or is skipped with its reason: a check that fails here would fail on a
//! conforming cluster.

use netconform::config::{Settings, TargetChoice};
use netconform::report::TrialOutcome;
use netconform::runner::run_all;
use netconform_double::profile::PROFILES;
use netconform_suites::all_trials;

/// As many trials at once as a CI machine runs threads by default.
const CONCURRENCY: usize = 4;

async fn problems_on(profile: &str) -> Vec<String> {
    problems_of(profile, &all_trials(), |_| false).await
}

/// The problems of `trials` on `profile`; a trial for which `must_run` holds may not be skipped either.
async fn problems_of(
    profile: &str,
    trials: &[netconform::trial::TrialDef],
    must_run: impl Fn(&str) -> bool,
) -> Vec<String> {
    let settings = Settings {
        target: TargetChoice::Sim,
        sim_profiles: vec![profile.to_string()],
        ..Settings::default()
    };
    let records = match run_all(&settings, trials, CONCURRENCY).await {
        Ok(records) => records,
        Err((line, code)) => {
            panic!("the run on profile {profile} did not start (exit {code}): {line}")
        }
    };
    assert_eq!(records.len(), trials.len());
    records
        .iter()
        .filter_map(|r| match &r.outcome {
            TrialOutcome::Skipped { reason } if must_run(&r.name) => Some(format!(
                "{profile}: {} skipped, though it must run there: {reason}",
                r.name
            )),
            TrialOutcome::Passed => None,
            TrialOutcome::Failed { failure, .. } => Some(format!(
                "{profile}: {} failed:\n{}\n{}",
                r.name,
                r.failure_message(failure),
                r.log
            )),
            TrialOutcome::Skipped { reason } if reason.trim().is_empty() => {
                Some(format!("{profile}: {} skipped without a reason", r.name))
            }
            TrialOutcome::Skipped { .. } => None,
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_trial_passes_or_is_skipped_on_the_ipv6_primary_profile() {
    let problems = problems_on("ipv6-primary").await;
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// A single-stack IPv4 cluster (kind-configs/ipv4.yaml): the dual-stack suite's trials pass or are skipped
/// with the reason, and those about single-stack clusters (`Need::SingleStack`) run and pass.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn the_dual_stack_suite_on_the_ipv4_only_profile_runs_the_single_stack_claims() {
    use netconform::preflight::Need;
    let trials: Vec<_> = all_trials()
        .into_iter()
        .filter(|t| t.suite() == "dual_stack")
        .collect();
    let single: Vec<&str> = trials
        .iter()
        .filter(|t| t.needs.contains(&Need::SingleStack))
        .map(|t| t.name)
        .collect();
    assert!(!single.is_empty());
    let problems = problems_of("ipv4-only", &trials, |name| single.contains(&name)).await;
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_trial_passes_or_is_skipped_on_each_node_resolv_conf_profile() {
    let mut problems = Vec::new();
    for profile in PROFILES
        .iter()
        .filter(|p| p.name.starts_with("node-resolv-"))
    {
        problems.extend(problems_on(profile.name).await);
    }
    assert!(problems.is_empty(), "{}", problems.join("\n\n"));
}

/// cloud-provider-kind leaves nothing in a fresh cluster: the LoadBalancer trials must still run (not be
/// skipped for want of evidence) where the controller is known to run.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn load_balancer_trials_run_on_a_fresh_cluster_with_a_controller() {
    use netconform::preflight::Need;
    let settings = Settings {
        target: TargetChoice::Sim,
        sim_profiles: vec!["load-balancer-fresh".to_string()],
        ..Settings::default()
    };
    let trials: Vec<_> = all_trials()
        .into_iter()
        .filter(|t| t.needs.contains(&Need::LoadBalancer))
        .collect();
    assert!(!trials.is_empty());
    let records = match run_all(&settings, &trials, CONCURRENCY).await {
        Ok(records) => records,
        Err((line, code)) => panic!("the run did not start (exit {code}): {line}"),
    };
    let not_passed: Vec<String> = records
        .iter()
        .filter(|r| r.outcome != TrialOutcome::Passed)
        .map(|r| format!("{}: {:?}", r.name, r.outcome))
        .collect();
    assert!(not_passed.is_empty(), "{}", not_passed.join("\n"));
}
