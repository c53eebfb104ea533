use netconform::config::{Settings, TargetChoice};
use netconform::report::TrialOutcome;
use netconform::runner::run_all;
use netconform::trial::TrialDef;
use netconform_double::deviation::DEVIATIONS;
use netconform_suites::all_trials;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn mine() {
    let trials = all_trials();
    let mut problems = Vec::new();
    for deviation in DEVIATIONS.iter().filter(|d| d.fails.iter().any(|f| f.starts_with("service_cidr::"))) {
        let selected: Vec<TrialDef> = trials.iter().copied().filter(|t| deviation.fails.contains(&t.name)).collect();
        assert_eq!(selected.len(), deviation.fails.len(), "{}", deviation.name);
        let settings = Settings { timeout_scale: 0.02, target: TargetChoice::Sim, sim_deviations: vec![deviation.name.to_string()], ..Settings::default() };
        for record in run_all(&settings, &selected, 4).await.unwrap_or_else(|e| panic!("{} {e:?}", deviation.name)) {
            match &record.outcome {
                TrialOutcome::Failed { message, .. } if message.contains(&record.claim) => {
                    eprintln!("OK {} under {}: {}", record.name, deviation.name, message.lines().nth(2).unwrap_or(""));
                }
                other => problems.push(format!("{} under {}: {other:?}", record.name, deviation.name)),
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn faults() {
    use netconform::config::SimFaults;
    let trials: Vec<TrialDef> = all_trials().into_iter().filter(|t| t.name.starts_with("service_cidr::")).collect();
    for seed in [7u64, 11] {
        let settings = Settings { target: TargetChoice::Sim, sim_faults: SimFaults { error_rate: 0.10, watch_drop: Some(std::time::Duration::from_secs(2)), latency: None, seed: Some(seed) }, ..Settings::default() };
        let records = run_all(&settings, &trials, 4).await.unwrap();
        let bad: Vec<String> = records.iter().filter(|r| !matches!(r.outcome, TrialOutcome::Passed)).map(|r| format!("{}: {:?}\n{}", r.name, r.outcome, r.log)).collect();
        assert!(bad.is_empty(), "seed {seed}: {}", bad.join("\n\n"));
    }
}
