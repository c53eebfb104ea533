//! The conformance runner: resolves the target, runs preflight, turns each [`TrialDef`] into a libtest-mimic
//! trial in its own namespace, and writes JUnit + JSON reports as it goes (so an aborted run still leaves one).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::{Instant, SystemTime};

use futures::FutureExt;
use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use libtest_mimic::{Arguments, Completion, Failed, Trial};
use rand::Rng;

use crate::cleanup::{Cleanup, Owned};
use crate::cluster::{self, Resolution, Target};
use crate::config::{Settings, Toggle};
use crate::ctx::{Ctx, RunState};
use crate::diagnostics;
use crate::failure::TrialError;
use crate::labels;
use crate::preflight::{self, Need, TargetFacts};
use crate::report::{self, RunInfo, TrialOutcome, TrialRecord};
use crate::retry::retrying;
use crate::schedule::{Lease, Schedule, start_order};
use crate::trial::TrialDef;

/// Trials at once unless `--test-threads` says otherwise. Trials wait on the cluster, not on a core; the
/// scarce resource (the /28 IPv4 service range) is shared by declaration (`Need::ServiceAddresses`).
pub const DEFAULT_TEST_THREADS: usize = 64;

/// Exit status when a run is interrupted (128 + SIGINT), as shells report it.
pub const EXIT_INTERRUPTED: i32 = 130;

/// Entry point of the `conformance` test binary.
pub fn main(all: Vec<TrialDef>) -> ! {
    let (mut args, filters) = arguments(std::env::args());
    // Trials spend their time waiting on the cluster, not on a core: run more of them than there are cores.
    args.test_threads = args.test_threads.or(Some(DEFAULT_TEST_THREADS));
    let trials: Vec<TrialDef> = all
        .into_iter()
        .filter(|t| {
            filters.is_empty()
                || filters.iter().any(|f| {
                    if args.exact {
                        t.name == f
                    } else {
                        t.name.contains(f.as_str())
                    }
                })
        })
        .collect();
    let selected: Vec<TrialDef> = trials
        .iter()
        .copied()
        .filter(|t| !args.is_filtered_out(&placeholder(t)))
        .collect();
    if args.list || selected.is_empty() {
        // Listing and empty selections never touch a cluster (no kind cluster for `cargo test some_unit_test`).
        libtest_mimic::run(&args, trials.iter().map(placeholder).collect()).exit();
    }
    let settings = Settings::from_env().unwrap_or_else(|e| die(&e.to_string(), e.exit_code()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("cannot start the async runtime: {e}"), 1));
    let code = runtime.block_on(prepare(&settings, &selected));
    let prepared = match code {
        Ok(p) => p,
        Err((line, code)) => die(&line, code),
    };
    match prepared {
        Prepared::NoTarget { reason, info } => {
            eprintln!("netconform: no target, every conformance trial is ignored: {reason}");
            let reporter = Arc::new(Reporter::new(&settings, info));
            let libtest = trials
                .iter()
                .map(|def| {
                    let (def, reporter, reason) = (*def, reporter.clone(), reason.clone());
                    Trial::ignorable_test(def.name, move || {
                        reporter.record(skipped(&def, &reason));
                        Ok(Completion::ignored_with(reason))
                    })
                })
                .collect();
            let conclusion = libtest_mimic::run(&args, libtest);
            reporter.finish();
            conclusion.exit();
        }
        Prepared::Ready {
            state,
            target,
            info,
        } => {
            let reporter = Arc::new(Reporter::new(&settings, info));
            let schedule = Schedule::new(&state.capabilities);
            let handle = runtime.handle().clone();
            install_interrupt_handler(&runtime, state.clone(), reporter.clone());
            let libtest = start_order(&trials)
                .iter()
                .map(|def| {
                    let (def, state, reporter, schedule, handle) = (
                        *def,
                        state.clone(),
                        reporter.clone(),
                        schedule.clone(),
                        handle.clone(),
                    );
                    Trial::ignorable_test(def.name, move || {
                        let record = handle.block_on(run_trial(state, schedule, def));
                        let verdict = libtest_verdict(&record);
                        reporter.record(record);
                        verdict
                    })
                })
                .collect();
            let conclusion = libtest_mimic::run(&args, libtest);
            reporter.finish();
            runtime.block_on(async {
                for problem in state.cleanup.delete_all().await {
                    eprintln!("netconform: cleanup: {problem}");
                }
                target.teardown().await;
            });
            conclusion.exit();
        }
    }
}

/// Runs `trials` against the target `settings` selects, `concurrency` at a time, and returns their records.
/// The project's own tests use this to run the suites against the double in-process.
pub async fn run_all(
    settings: &Settings,
    trials: &[TrialDef],
    concurrency: usize,
) -> Result<Vec<TrialRecord>, (String, i32)> {
    use futures::StreamExt;
    match prepare(settings, trials).await? {
        Prepared::NoTarget { reason, .. } => {
            Ok(trials.iter().map(|d| skipped(d, &reason)).collect())
        }
        Prepared::Ready { state, target, .. } => {
            let schedule = Schedule::new(&state.capabilities);
            let records = futures::stream::iter(start_order(trials))
                .map(|def| run_trial(state.clone(), schedule.clone(), def))
                .buffer_unordered(concurrency.max(1))
                .collect::<Vec<_>>()
                .await;
            state.cleanup.delete_all().await;
            target.teardown().await;
            Ok(records)
        }
    }
}

/// libtest's options that take a value (`--skip X`), so that value is not taken for a filter.
const VALUE_OPTIONS: &[&str] = &[
    "--test-threads",
    "--logfile",
    "--skip",
    "--color",
    "--format",
    "-Z",
];

/// libtest runs a trial that matches any of several filters (`cargo test -- dns connectivity`); libtest-mimic
/// takes one. The filters are split off here and applied by [`main`]; the rest goes to libtest-mimic.
fn arguments(raw: impl IntoIterator<Item = String>) -> (Arguments, Vec<String>) {
    let mut options = Vec::new();
    let mut filters = Vec::new();
    let mut raw = raw.into_iter();
    options.extend(raw.next());
    while let Some(arg) = raw.next() {
        if VALUE_OPTIONS.contains(&arg.as_str()) {
            options.push(arg);
            options.extend(raw.next());
        } else if arg.starts_with('-') {
            options.push(arg);
        } else {
            filters.push(arg);
        }
    }
    (Arguments::from_iter(options), filters)
}

/// A libtest trial that only carries the name, for filtering and `--list`.
fn placeholder(def: &TrialDef) -> Trial {
    Trial::test(def.name, || Ok(()))
}

/// One clear line and a distinct exit status for bad input; never a panic.
fn die(line: &str, code: i32) -> ! {
    eprintln!("netconform: {line}");
    std::process::exit(code)
}

enum Prepared {
    NoTarget {
        reason: String,
        info: RunInfo,
    },
    Ready {
        state: Arc<RunState>,
        target: Target,
        info: RunInfo,
    },
}

/// Resolves the target and runs preflight. Errors are (one line, exit status).
async fn prepare(settings: &Settings, selected: &[TrialDef]) -> Result<Prepared, (String, i32)> {
    let run_id = settings.run_id.clone().unwrap_or_else(new_run_id);
    let mut info = RunInfo {
        run_id: run_id.clone(),
        target: None,
        target_description: "no target".into(),
        server_version: None,
        node_image: None,
        ip_families: Vec::new(),
        started_at: SystemTime::now(),
        properties: run_properties(settings),
    };
    let target = match cluster::resolve(settings)
        .await
        .map_err(|e| (e.to_string(), e.exit_code()))?
    {
        Resolution::NoTarget { reason } => {
            if settings.require_cluster {
                return Err((
                    format!("no target and NETCONFORM_REQUIRE_CLUSTER=1: {reason}"),
                    crate::error::EXIT_NO_TARGET,
                ));
            }
            info.target_description = format!("no target: {reason}");
            return Ok(Prepared::NoTarget { reason, info });
        }
        Resolution::Ready(target) => target,
    };
    let client = target.client.clone();
    let mut capabilities = preflight::detect(&client, &target.kind)
        .await
        .map_err(|e| (e.to_string(), e.exit_code()))?;
    if !capabilities.load_balancer.present
        && let Some(evidence) = target.load_balancer_controller().await
    {
        capabilities.load_balancer = preflight::Detected {
            present: true,
            evidence,
        };
    }
    info.target = Some(target.kind);
    info.target_description = target.description.clone();
    info.server_version = Some(capabilities.server_version.clone());
    info.node_image = target.node_image.clone();
    info.ip_families = capabilities
        .families
        .iter()
        .map(|f| f.to_string())
        .collect();
    eprintln!(
        "netconform: target {} — {}; server {}; IP families [{}]; run id {run_id}",
        target.kind,
        target.description,
        capabilities.server_version,
        info.ip_families.join(", ")
    );
    if settings.require_cluster {
        // The gate must not read "ignored" as "fine": a cluster that lacks what a selected trial needs is an error.
        // Permission to disturb the cluster (and a service range small enough to exhaust) is not a capability.
        // Nor is a capability the user declared absent (`NETCONFORM_LOAD_BALANCER=no`): its trials are skipped
        // with that reason, as the user asked.
        let gated = |n: &&Need| {
            !matches!(**n, Need::Disruptive | Need::SmallServiceRange)
                && !declared_absent(**n, settings)
        };
        let unmet: Vec<String> = selected
            .iter()
            .flat_map(|def| {
                def.needs
                    .iter()
                    .filter(gated)
                    .filter_map(|n| capabilities.unmet(*n, settings, &target))
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unmet.is_empty() {
            return Err((
                format!(
                    "the cluster cannot run the selected trials (NETCONFORM_REQUIRE_CLUSTER=1): {}",
                    unmet.join("; ")
                ),
                crate::error::EXIT_CAPABILITY,
            ));
        }
    }
    match crate::sweep::sweep(&client, Some(crate::sweep::LEFTOVER_AGE), Some(&run_id)).await {
        Ok(swept) if !swept.deleted.is_empty() => eprintln!(
            "netconform: swept leftovers of earlier runs: {}",
            swept.deleted.join(", ")
        ),
        Ok(_) => {}
        Err(e) => eprintln!("netconform: could not sweep leftovers of earlier runs: {e}"),
    }
    let state = Arc::new(RunState {
        run_id,
        client: client.clone(),
        target: target.kind,
        created_by_us: target.created_by_us,
        capabilities,
        settings: settings.clone(),
        cleanup: Cleanup::new(client),
    });
    Ok(Prepared::Ready {
        state,
        target,
        info,
    })
}

/// The image map and the testbed's record, as report properties.
fn run_properties(settings: &Settings) -> Vec<(String, String)> {
    let images = settings.images.entries().map(|(from, r)| {
        let to = match &r.stand_in {
            Some(what) => format!("{} (stand-in: {what})", r.image),
            None => r.image.clone(),
        };
        (format!("netconform.image.{from}"), to)
    });
    let testbed = settings
        .testbed
        .iter()
        .map(|(k, v)| (format!("netconform.testbed.{k}"), v.clone()));
    images.chain(testbed).collect()
}

/// Whether the user declared the capability `need` absent (`NETCONFORM_LOAD_BALANCER=no`,
/// `NETCONFORM_NETWORK_POLICY=no`).
fn declared_absent(need: Need, settings: &Settings) -> bool {
    match need {
        Need::LoadBalancer => settings.load_balancer == Toggle::No,
        Need::NetworkPolicy => settings.network_policy == Toggle::No,
        // The user chose the stand-in in the image map.
        Need::DocImage(image) => settings.images.stand_in(image).is_some(),
        _ => false,
    }
}

fn new_run_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// Runs one trial, from needs check to cleanup, rerunning a failure up to `NETCONFORM_RETRIES` times;
/// a pass after failed attempts keeps them (the report marks it flaky). Never panics.
async fn run_trial(state: Arc<RunState>, schedule: Arc<Schedule>, def: TrialDef) -> TrialRecord {
    for need in def.needs {
        let facts = TargetFacts {
            kind: Some(state.target),
            created_by_us: state.created_by_us,
        };
        if let Some(reason) = state.capabilities.unmet(*need, &state.settings, facts) {
            return skipped(&def, &reason);
        }
    }
    // Trials run side by side within the service address budget.
    let lease = Arc::new(schedule.enter(&def).await);
    let mut failed_attempts = Vec::new();
    loop {
        lease.take_service_addresses().await;
        let mut record = attempt(&state, def, &lease).await;
        match record.outcome {
            TrialOutcome::Failed {
                message,
                diagnostics,
            } if failed_attempts.len() < state.settings.retries as usize => {
                failed_attempts.push(report::FailedAttempt {
                    message,
                    diagnostics,
                    duration: record.duration,
                    log: record.log,
                });
            }
            _ => {
                record.failed_attempts = failed_attempts;
                return record;
            }
        }
    }
}

/// One attempt in a fresh namespace; cleanup runs whatever the trial did.
async fn attempt(state: &Arc<RunState>, def: TrialDef, lease: &Arc<Lease>) -> TrialRecord {
    let started = Instant::now();
    let namespace = match create_namespace(state, &def).await {
        Ok(ns) => ns,
        Err(e) => {
            return failed(
                &def,
                started,
                format!("could not create the trial namespace: {e}"),
                String::new(),
                String::new(),
                Vec::new(),
            );
        }
    };
    if let Err(e) = crate::ctx::wait_default_service_account(
        &state.client,
        &namespace,
        state.settings.timeout_scale,
    )
    .await
    {
        return failed(
            &def,
            started,
            format!("the trial namespace is not ready: {e}"),
            String::new(),
            String::new(),
            Vec::new(),
        );
    }
    let ctx = Ctx::new(state.clone(), def, namespace.clone(), lease.clone());
    let result = match AssertUnwindSafe((def.run)(ctx.clone()))
        .catch_unwind()
        .await
    {
        Ok(result) => result,
        Err(panic) => Err(TrialError::Harness(format!(
            "the trial panicked: {}",
            panic_message(&panic)
        ))),
    };
    let diagnostics = match &result {
        Ok(()) => String::new(),
        Err(_) => diagnostics::collect(&state.client, &namespace).await,
    };
    let mut log = ctx.take_log();
    let owned: Vec<Owned> = ctx
        .take_owned()
        .into_iter()
        .chain([Owned::Namespace(namespace)])
        .collect();
    for owned in &owned {
        if let Err(problem) = state.cleanup.delete(owned).await {
            log.push_str(&format!("cleanup: {problem}\n"));
        }
    }
    // The trial's addresses go back to the budget only once the Services of its namespaces are gone (a
    // terminating namespace may keep them a while).
    if lease.holds_service_addresses() {
        for owned in &owned {
            if let Owned::Namespace(ns) = owned
                && let Err(problem) = crate::cleanup::wait_services_gone(
                    &state.client,
                    ns,
                    state.settings.timeout_scale,
                )
                .await
            {
                log.push_str(&format!("cleanup: {problem}\n"));
            }
        }
    }
    match result {
        Ok(()) => record(
            &def,
            TrialOutcome::Passed,
            started.elapsed(),
            log,
            ctx.take_findings(),
        ),
        Err(e) => failed(
            &def,
            started,
            e.to_string(),
            diagnostics,
            log,
            ctx.take_findings(),
        ),
    }
}

async fn create_namespace(state: &RunState, def: &TrialDef) -> Result<String, kube::Error> {
    let api: Api<Namespace> = Api::all(state.client.clone());
    let suite = def.suite().replace('_', "-");
    let name = format!("nc-{suite}-{}", &new_run_id()[..5]);
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.clone()),
            labels: Some(
                [
                    (
                        labels::MANAGED_BY_KEY.to_string(),
                        labels::MANAGED_BY_VALUE.to_string(),
                    ),
                    (labels::RUN_ID_KEY.to_string(), state.run_id.clone()),
                    (labels::SUITE_KEY.to_string(), suite),
                ]
                .into(),
            ),
            annotations: Some(
                [(labels::TRIAL_ANNOTATION.to_string(), def.name.to_string())].into(),
            ),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    // Registered before the create so an interrupt between the two still deletes it.
    state.cleanup.register(Owned::Namespace(name.clone()));
    let params = PostParams::default();
    retrying(|| api.create(&params, &ns))
        .await
        .or_else(|e| match e {
            kube::Error::Api(s) if s.code == 409 => Ok(ns.clone()),
            e => Err(e),
        })?;
    Ok(name)
}

fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

fn record(
    def: &TrialDef,
    outcome: TrialOutcome,
    duration: std::time::Duration,
    log: String,
    findings: Vec<report::DocFinding>,
) -> TrialRecord {
    TrialRecord {
        name: def.name.to_string(),
        suite: def.suite().to_string(),
        claim: def.claim.to_string(),
        doc_url: def.doc_url.to_string(),
        outcome,
        duration,
        log,
        findings,
        failed_attempts: Vec::new(),
    }
}

fn skipped(def: &TrialDef, reason: &str) -> TrialRecord {
    record(
        def,
        TrialOutcome::Skipped {
            reason: reason.to_string(),
        },
        std::time::Duration::ZERO,
        String::new(),
        Vec::new(),
    )
}

fn failed(
    def: &TrialDef,
    started: Instant,
    error: String,
    diagnostics: String,
    log: String,
    findings: Vec<report::DocFinding>,
) -> TrialRecord {
    let message = format!("claim: {}\ndoc: {}\n{error}", def.claim, def.doc_url);
    record(
        def,
        TrialOutcome::Failed {
            message,
            diagnostics,
        },
        started.elapsed(),
        log,
        findings,
    )
}

/// What libtest prints: the failure message, then the trial's buffered log and the diagnostics.
fn libtest_verdict(record: &TrialRecord) -> Result<Completion, Failed> {
    match &record.outcome {
        TrialOutcome::Passed => Ok(Completion::Completed),
        TrialOutcome::Skipped { reason } => Ok(Completion::ignored_with(reason)),
        TrialOutcome::Failed {
            message,
            diagnostics,
        } => {
            let mut text = message.clone();
            if !record.log.is_empty() {
                text.push_str(&format!("\n--- trial log ---\n{}", record.log));
            }
            if !diagnostics.is_empty() {
                text.push_str(&format!("\n--- diagnostics ---\n{diagnostics}"));
            }
            Err(text.into())
        }
    }
}

/// Collects records and rewrites the reports after each one, so an interrupted run still leaves them.
struct Reporter {
    info: RunInfo,
    junit: std::path::PathBuf,
    summary: std::path::PathBuf,
    records: Mutex<Vec<TrialRecord>>,
}

impl Reporter {
    fn new(settings: &Settings, info: RunInfo) -> Reporter {
        Reporter {
            info,
            junit: settings.junit_path(),
            summary: settings.summary_path(),
            records: Mutex::new(Vec::new()),
        }
    }

    fn record(&self, record: TrialRecord) {
        let Ok(mut records) = self.records.lock() else {
            return;
        };
        records.push(record);
        self.write(&records);
    }

    fn write(&self, records: &[TrialRecord]) {
        if let Err(e) = report::write_junit(&self.junit, &self.info, records) {
            eprintln!("netconform: {e}");
        }
        if let Err(e) = report::write_summary_json(&self.summary, &self.info, records) {
            eprintln!("netconform: {e}");
        }
    }

    /// Final write, and the doc findings printed once at the end of the run.
    fn finish(&self) {
        let Ok(records) = self.records.lock() else {
            return;
        };
        self.write(&records);
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
        for ((url, doc_says, cluster_shows), trials) in findings {
            eprintln!(
                "netconform: doc finding in {}: the doc says {doc_says}; the cluster shows {cluster_shows} ({url})",
                trials.join(", ")
            );
        }
        eprintln!(
            "netconform: reports: {} and {}",
            self.junit.display(),
            self.summary.display()
        );
    }
}

/// Ctrl-C / SIGTERM: delete what the run owns, write the reports, and exit 130.
fn install_interrupt_handler(
    runtime: &tokio::runtime::Runtime,
    state: Arc<RunState>,
    reporter: Arc<Reporter>,
) {
    runtime.spawn(async move {
        wait_for_interrupt().await;
        eprintln!(
            "netconform: interrupted; deleting {} object(s) this run owns",
            state.cleanup.live().len()
        );
        for problem in state.cleanup.delete_all().await {
            eprintln!("netconform: cleanup: {problem}");
        }
        reporter.finish();
        std::process::exit(EXIT_INTERRUPTED);
    });
}

async fn wait_for_interrupt() {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{SignalKind, signal};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => {
                tokio::select! {
                    _ = tokio::signal::ctrl_c() => {}
                    _ = term.recv() => {}
                }
            }
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_capabilities_the_user_declared_absent_escape_require_cluster() {
        let mut settings = Settings::default();
        assert!(
            !declared_absent(Need::LoadBalancer, &settings),
            "auto is not a declaration"
        );
        settings.load_balancer = Toggle::No;
        settings.network_policy = Toggle::No;
        assert!(declared_absent(Need::LoadBalancer, &settings));
        assert!(declared_absent(Need::NetworkPolicy, &settings));
        assert!(!declared_absent(Need::DualStack, &settings));
    }

    fn split(line: &str) -> (Arguments, Vec<String>) {
        arguments(line.split(' ').map(String::from))
    }

    #[test]
    fn several_filters_are_split_off_and_option_values_kept() {
        let (args, filters) =
            split("conformance --skip dns::resolv hostaliases --test-threads 2 dual_stack --exact");
        assert_eq!(filters, vec!["hostaliases", "dual_stack"]);
        assert_eq!(args.skip, vec!["dns::resolv"]);
        assert_eq!(args.test_threads, Some(2));
        assert!(args.exact);
        assert_eq!(args.filter, None);
        let (args, filters) = split("conformance --list");
        assert!(args.list && filters.is_empty());
    }
}
