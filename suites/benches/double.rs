//! Two figures of the harness against the netconform-double TEST DOUBLE (simulated, not a cluster):
//!
//! 1. wake-up latency: from a state change on the server to the watch-driven wait that awaited it returning
//!    (goal: p95 under 20 ms; upstream e2e polls every 2 s);
//! 2. parallelism: the whole suite's wall time with realistic pod start latencies (1-2 s), divided by its
//!    longest single trial, at the runner's default thread count (goal: at most 1.3).

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use k8s_openapi::api::core::v1::ConfigMap;
use kube::api::{Api, Patch, PatchParams, PostParams};
use netconform::cluster::{self, Resolution};
use netconform::config::{Settings, TargetChoice};
use netconform::preflight::Need;
use netconform::report::TrialRecord;
use netconform::runner::{DEFAULT_TEST_THREADS, run_all};
use netconform::wait::{Budget, Verdict, Wait};
use netconform_suites::all_trials;

const SAMPLES: usize = 200;

#[tokio::main(flavor = "multi_thread")]
async fn main() -> Result<(), String> {
    let sim = Settings {
        target: TargetChoice::Sim,
        ..Settings::default()
    };
    let latencies = wake_up_latencies(&sim).await?;
    let p50 = percentile(&latencies, 0.50);
    let p95 = percentile(&latencies, 0.95);
    println!(
        "wake-up latency over {SAMPLES} state changes: p50 {p50:?}, p95 {p95:?} (goal: p95 < 20ms)"
    );

    let realistic = Settings {
        sim_pod_start: Some((Duration::from_secs(1), Duration::from_secs(2))),
        ..sim
    };
    let trials = all_trials();
    let (records, wall, longest) = timed_run(&realistic, &trials).await?;
    let failed = records
        .iter()
        .filter(|r| matches!(r.outcome, netconform::report::TrialOutcome::Failed { .. }))
        .count();
    for r in &records {
        if let netconform::report::TrialOutcome::Failed { failure, .. } = &r.outcome {
            println!(
                "failed: {}: {}",
                r.name,
                failure.text.lines().take(6).collect::<Vec<_>>().join(" | ")
            );
        }
    }
    let disruptive = |t: &netconform::trial::TrialDef| t.needs.contains(&Need::Disruptive);
    let walked: Duration = records
        .iter()
        .filter(|r| trials.iter().any(|t| disruptive(t) && t.name == r.name))
        .map(|r| r.duration)
        .max()
        .unwrap_or_default();
    println!("disruptive trials (the allocator to themselves): the longest took {walked:.2?}");
    println!(
        "suite: {} trials ({failed} failed) in {wall:.2?} with pod start 1-2 s at {DEFAULT_TEST_THREADS} threads; longest trial {} {:.2?}; ratio {:.2} (goal: <= 1.3)",
        records.len(),
        longest.name,
        longest.duration,
        wall.as_secs_f64() / longest.duration.as_secs_f64()
    );
    // The disruptive service_cidr trials hold every service address while they walk the docs' scenario;
    // the same figure without them shows what the rest of the suite achieves side by side.
    let shared: Vec<_> = trials.iter().copied().filter(|t| !disruptive(t)).collect();
    let (records, wall, longest) = timed_run(&realistic, &shared).await?;
    println!(
        "suite without disruptive trials: {} trials in {wall:.2?}; longest trial {} {:.2?}; ratio {:.2}",
        records.len(),
        longest.name,
        longest.duration,
        wall.as_secs_f64() / longest.duration.as_secs_f64()
    );
    Ok(())
}

/// Runs `trials` at the default thread count: their records, the wall time and the longest trial.
async fn timed_run(
    settings: &Settings,
    trials: &[netconform::trial::TrialDef],
) -> Result<(Vec<TrialRecord>, Duration, TrialRecord), String> {
    let started = Instant::now();
    let records = run_all(settings, trials, DEFAULT_TEST_THREADS)
        .await
        .map_err(|(line, _)| line)?;
    let wall = started.elapsed();
    let longest = records
        .iter()
        .max_by_key(|r| r.duration)
        .cloned()
        .ok_or("no trials")?;
    Ok((records, wall, longest))
}

/// Flips a ConfigMap's data while a wait for that value is pending; measures flip-sent -> wait-returned.
async fn wake_up_latencies(settings: &Settings) -> Result<Vec<Duration>, String> {
    let Resolution::Ready(target) = cluster::resolve(settings, Default::default())
        .await
        .map_err(|e| e.to_string())?
    else {
        return Err("the double did not start".into());
    };
    let api: Api<ConfigMap> = Api::namespaced(target.client.clone(), "default");
    let cm = ConfigMap {
        metadata: kube::api::ObjectMeta {
            name: Some("bench".into()),
            ..Default::default()
        },
        data: Some(BTreeMap::from([("n".to_string(), "0".to_string())])),
        ..Default::default()
    };
    api.create(&PostParams::default(), &cm)
        .await
        .map_err(|e| e.to_string())?;
    let mut latencies = Vec::with_capacity(SAMPLES);
    for n in 1..=SAMPLES {
        let want = n.to_string();
        let waiter = {
            let api = api.clone();
            let want = want.clone();
            tokio::spawn(async move {
                let done = Wait::new(api, Budget::new("bench", 10), 1.0)
                    .awaiting("the bench value")
                    .showing(|c: &ConfigMap| format!("{:?}", c.data))
                    .until("bench", |c: Option<&ConfigMap>| {
                        match c.and_then(|c| c.data.as_ref()).and_then(|d| d.get("n")) {
                            Some(v) if *v == want => Verdict::Done,
                            _ => Verdict::Pending,
                        }
                    })
                    .await;
                (done.is_ok(), Instant::now())
            })
        };
        // Let the wait list and start watching before the change (its first evaluation must be Pending).
        tokio::time::sleep(Duration::from_millis(20)).await;
        let sent = Instant::now();
        let patch = serde_json::json!({ "data": { "n": want } });
        api.patch("bench", &PatchParams::default(), &Patch::Merge(&patch))
            .await
            .map_err(|e| e.to_string())?;
        let (ok, returned) = waiter.await.map_err(|e| e.to_string())?;
        if !ok {
            return Err(format!("the wait for value {n} did not return"));
        }
        latencies.push(returned.saturating_duration_since(sent));
    }
    target.teardown().await;
    Ok(latencies)
}

fn percentile(samples: &[Duration], q: f64) -> Duration {
    let mut sorted = samples.to_vec();
    sorted.sort();
    sorted[((sorted.len() as f64 - 1.0) * q).round() as usize]
}
