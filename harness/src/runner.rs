//! The conformance runner: resolves the target, runs preflight, turns each [`TrialDef`] into a libtest-mimic
//! trial in its own namespace, and writes JUnit + JSON reports as it goes (so an aborted run still leaves one).

use std::panic::AssertUnwindSafe;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use futures::FutureExt;
use libtest_mimic::{Arguments, Completion, Failed, Trial};

use crate::cleanup::Cleanup;
use crate::cluster::{self, Resolution, Target, TargetKind};
use crate::config::{Settings, Toggle};
use crate::ctx::Ctx;
use crate::error::HarnessError;
use crate::failure::TrialError;
use crate::preflight::{self, Need, TargetFacts};
use crate::report::{self, RunInfo, RunStatus, TrialOutcome, TrialRecord};
use crate::run::{RunState, new_run_id};
use crate::schedule::{Lease, Schedule, start_order};
use crate::trial::TrialDef;
use crate::wait;

/// Trials at once unless `--test-threads` says otherwise. Trials wait on the cluster, not on a core; the
/// scarce resource (the /28 IPv4 service range) is shared by declaration (`Need::ServiceAddresses`).
pub const DEFAULT_TEST_THREADS: usize = 64;

/// Entry point of the `conformance` test binary.
pub fn main(all: Vec<TrialDef>) -> ! {
    let created = Arc::new(cluster::CreatedCluster::default());
    // The trials catch their own panics; one anywhere else must not leave the cluster this run created.
    match created.delete_on_panic(|| run_main(all, &created)) {}
}

/// [`main`]'s body; it ends the process on every path but a panic.
fn run_main(
    all: Vec<TrialDef>,
    created: &Arc<cluster::CreatedCluster>,
) -> std::convert::Infallible {
    let (mut args, filters) = arguments(std::env::args());
    // Trials spend their time waiting on the cluster, not on a core: run more of them than there are cores.
    args.test_threads = args.test_threads.or(Some(DEFAULT_TEST_THREADS));
    let selection = describe_selection(&filters, &args);
    let total = all.len();
    let trials = select(all, &filters, &mut args)
        .unwrap_or_else(|line| die(&line, crate::error::EXIT_NO_MATCH));
    let selected: Vec<TrialDef> = trials
        .iter()
        .copied()
        .filter(|t| !args.is_filtered_out(&placeholder(t)))
        .collect();
    if filters.len() > 1 && !args.list {
        // libtest-mimic saw only the matching trials, so its "filtered out" counts just `--skip`.
        eprintln!(
            "netconform: the filters {} select {} of {total} trials",
            filters.join(", "),
            trials.len()
        );
    }
    if args.list || selected.is_empty() {
        // Listing and empty selections never touch a cluster (no kind cluster for `cargo test some_unit_test`).
        libtest_mimic::run(&args, trials.iter().map(placeholder).collect()).exit();
    }
    let settings = Settings::from_env().unwrap_or_else(|e| die(&e.to_string(), e.exit_code()));
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap_or_else(|e| die(&format!("cannot start the async runtime: {e}"), 1));
    let interrupt = Interrupt::listen(&runtime);
    let prepared = runtime.block_on(async {
        tokio::select! {
            prepared = prepare(&settings, &selected, created) => Some(prepared),
            () = interrupt.wait() => None,
        }
    });
    let mut prepared = match prepared {
        Some(Ok(p)) => p,
        // `prepare` deleted the cluster it created before it returned the error.
        Some(Err((line, code))) => die(&line, code),
        None => {
            // `prepare` was dropped, and with it a `kind create` still running (its process is killed).
            eprintln!("netconform: interrupted before any trial ran");
            runtime.block_on(created.delete());
            std::process::exit(crate::error::EXIT_INTERRUPTED)
        }
    };
    match &mut prepared {
        Prepared::NoTarget { info, .. } | Prepared::Ready { info, .. } => {
            info.filter = selection;
        }
    }
    match prepared {
        Prepared::NoTarget { reason, hint, info } => {
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
            reporter.finish(RunStatus::Finished);
            // The last lines: libtest's summary says "ok", which must not read as "tested".
            eprintln!("{}", nothing_tested(&reason, &hint));
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
            install_interrupt_handler(
                &runtime,
                interrupt,
                state.clone(),
                reporter.clone(),
                created.clone(),
            );
            runtime.spawn(heartbeat());
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
                        let record = handle
                            .block_on(wait::TRIAL.scope(def.name, run_trial(state, schedule, def)));
                        let verdict = libtest_verdict(&record);
                        reporter.record(record);
                        verdict
                    })
                })
                .collect();
            let conclusion = libtest_mimic::run(&args, libtest);
            reporter.finish(RunStatus::Finished);
            runtime.block_on(async {
                for problem in state.cleanup.delete_all().await {
                    eprintln!("netconform: cleanup: {problem}");
                }
                release_lease(&state).await;
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
    let run = run_interruptible(settings, trials, concurrency, std::future::pending()).await?;
    Ok(run.records)
}

/// What [`run_interruptible`] ran.
#[derive(Debug)]
pub struct InterruptibleRun {
    /// The trials that ended (all of them unless interrupted).
    pub records: Vec<TrialRecord>,
    /// `Some` when `interrupt` came first: what the interrupt's cleanup left on the cluster (one line each).
    pub left_after_interrupt: Option<Vec<String>>,
}

/// As [`run_all`], but `interrupt` ending first is a Ctrl-C: the run's cleanup on interrupt runs while the
/// trials still run (as they do in the `conformance` binary), then they are dropped.
pub async fn run_interruptible(
    settings: &Settings,
    trials: &[TrialDef],
    concurrency: usize,
    interrupt: impl std::future::Future<Output = ()>,
) -> Result<InterruptibleRun, (String, i32)> {
    let created = Arc::new(cluster::CreatedCluster::default());
    let resolution = cluster::resolve(settings, created.clone());
    run_resolved(
        settings,
        trials,
        concurrency,
        interrupt,
        &created,
        resolution,
    )
    .await
}

/// [`run_interruptible`] on a given resolution of the target (tests script `kind` through it); `created`
/// is the slot that resolution records a cluster it creates in.
pub async fn run_resolved(
    settings: &Settings,
    trials: &[TrialDef],
    concurrency: usize,
    interrupt: impl std::future::Future<Output = ()>,
    created: &cluster::CreatedCluster,
    resolution: impl std::future::Future<Output = Result<Resolution, HarnessError>>,
) -> Result<InterruptibleRun, (String, i32)> {
    use futures::StreamExt;
    let mut interrupt = std::pin::pin!(interrupt);
    let prepared = tokio::select! {
        prepared = prepare_with(settings, trials, created, resolution) => prepared?,
        () = &mut interrupt => {
            created.delete().await;
            return Ok(InterruptibleRun { records: Vec::new(), left_after_interrupt: Some(Vec::new()) });
        }
    };
    match prepared {
        Prepared::NoTarget { reason, .. } => Ok(InterruptibleRun {
            records: trials.iter().map(|d| skipped(d, &reason)).collect(),
            left_after_interrupt: None,
        }),
        Prepared::Ready { state, target, .. } => {
            let schedule = Schedule::new(&state.capabilities);
            let order = start_order(trials);
            let (run_state, run_schedule) = (state.clone(), schedule.clone());
            // Aborted if this future is dropped, as a killed process stops its trials.
            let mut run = AbortOnDrop(tokio::spawn(async move {
                futures::stream::iter(order)
                    .map(|def| {
                        wait::TRIAL.scope(
                            def.name,
                            run_trial(run_state.clone(), run_schedule.clone(), def),
                        )
                    })
                    .buffer_unordered(concurrency.max(1))
                    .collect::<Vec<_>>()
                    .await
            }));
            let outcome = tokio::select! {
                records = &mut run.0 => InterruptibleRun {
                    records: records.unwrap_or_default(),
                    left_after_interrupt: None,
                },
                () = &mut interrupt => {
                    let left = interrupted(&state, created).await;
                    run.0.abort();
                    InterruptibleRun { records: Vec::new(), left_after_interrupt: Some(left) }
                }
            };
            state.cleanup.delete_all().await;
            release_lease(&state).await;
            target.teardown().await;
            Ok(outcome)
        }
    }
}

/// The trials to hand libtest-mimic for the name `filters`. One filter becomes libtest-mimic's own, so its
/// summary counts the trials it filtered out; several are applied here. A filter that matches no trial is
/// an error (a typo in a CI job must not pass as a green run of nothing), except for `--list`.
fn select(
    all: Vec<TrialDef>,
    filters: &[String],
    args: &mut Arguments,
) -> Result<Vec<TrialDef>, String> {
    let exact = args.exact;
    if !args.list
        && !filters.is_empty()
        && !all
            .iter()
            .any(|t| filters.iter().any(|f| matches(t, f, exact)))
    {
        let names: Vec<String> = filters.iter().map(|f| format!("{f:?}")).collect();
        return Err(format!(
            "no trial matches the filter {}{} ({} trials; `-- --list` lists them)",
            names.join(", "),
            if exact { " (--exact)" } else { "" },
            all.len()
        ));
    }
    Ok(match filters {
        [one] => {
            args.filter = Some(one.clone());
            all
        }
        _ => all
            .into_iter()
            .filter(|t| filters.is_empty() || filters.iter().any(|f| matches(t, f, exact)))
            .collect(),
    })
}

/// The closing lines of a run without a target: that nothing was tested and why, then how to get a cluster.
fn nothing_tested(reason: &str, hint: &str) -> String {
    format!(
        "netconform: nothing was tested: every trial was ignored because there is no cluster ({reason}).\nnetconform: {hint}"
    )
}

/// A task that ends when its handle is dropped.
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// Whether trial `def` matches the libtest name filter `filter`.
fn matches(def: &TrialDef, filter: &str, exact: bool) -> bool {
    if exact {
        def.name == filter
    } else {
        def.name.contains(filter)
    }
}

/// The selection as the reports record it (`--exact a b --skip c`), `None` for the whole suite.
fn describe_selection(filters: &[String], args: &Arguments) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if args.exact && !filters.is_empty() {
        parts.push("--exact".into());
    }
    parts.extend(filters.iter().cloned());
    for skip in &args.skip {
        parts.push(format!("--skip {skip}"));
    }
    if args.ignored {
        parts.push("--ignored".into());
    }
    (!parts.is_empty()).then(|| parts.join(" "))
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
        hint: String,
        info: RunInfo,
    },
    Ready {
        state: Arc<RunState>,
        // Boxed: a target is far larger than the other variant.
        target: Box<Target>,
        info: RunInfo,
    },
}

/// Resolves the target and runs preflight. Errors are (one line, exit status).
async fn prepare(
    settings: &Settings,
    selected: &[TrialDef],
    created: &Arc<cluster::CreatedCluster>,
) -> Result<Prepared, (String, i32)> {
    let resolution = cluster::resolve(settings, created.clone());
    prepare_with(settings, selected, created, resolution).await
}

/// [`prepare`] on a given resolution. An error after netconform created a cluster (a refused cluster, a
/// failed readiness wait, the lease) deletes it before it is returned.
async fn prepare_with(
    settings: &Settings,
    selected: &[TrialDef],
    created: &cluster::CreatedCluster,
    resolution: impl std::future::Future<Output = Result<Resolution, HarnessError>>,
) -> Result<Prepared, (String, i32)> {
    let prepared = prepare_target(settings, selected, resolution).await;
    if prepared.is_err() {
        created.delete().await;
    }
    prepared
}

async fn prepare_target(
    settings: &Settings,
    selected: &[TrialDef],
    resolution: impl std::future::Future<Output = Result<Resolution, HarnessError>>,
) -> Result<Prepared, (String, i32)> {
    let run_id = settings.run_id.clone().unwrap_or_else(new_run_id);
    let mut info = RunInfo::starting(run_id.clone());
    info.properties = run_properties(settings);
    let mut target = match resolution
        .await
        .map_err(|e| (e.to_string(), e.exit_code()))?
    {
        Resolution::NoTarget { reason, hint } => {
            if settings.require_cluster {
                return Err((
                    format!("no target and NETCONFORM_REQUIRE_CLUSTER=1: {reason}"),
                    crate::error::EXIT_NO_TARGET,
                ));
            }
            info.target_description = format!("no target: {reason}");
            return Ok(Prepared::NoTarget { reason, hint, info });
        }
        Resolution::Ready(target) => target,
    };
    let client = target.client.clone();
    target.provenance = provenance(&mut target, &run_id).await?;
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
    info.target = Some(reported_target(target.kind, &capabilities.server_version));
    if info.target == Some(TargetKind::Simulated) {
        info.deviations = settings.sim_deviations.clone();
        info.faults = settings.sim_faults.describe();
    }
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
    // Taken before the opening sweep, so that runs starting together see each other as live.
    let lease = crate::liveness::RunLease::acquire(&client, &run_id)
        .await
        .map_err(|e| (e.to_string(), e.exit_code()))?;
    let leftovers = crate::sweep::SweepOptions {
        older_than: Some(crate::sweep::LEFTOVER_AGE),
        exclude_run: Some(run_id.clone()),
        ..Default::default()
    };
    match crate::sweep::sweep(&client, &leftovers).await {
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
        made_by_netconform: target.provenance.is_some(),
        capabilities,
        settings: settings.clone(),
        cleanup: Cleanup::new(client),
        lease,
        scenarios: Default::default(),
    });
    Ok(Prepared::Ready {
        state,
        target: Box::new(target),
        info,
    })
}

/// Who made the cluster. One this run created is marked as netconform's own; on any other real cluster the
/// mark of an earlier run is read, so a cluster kept with `NETCONFORM_KEEP_CLUSTER=1` may be disrupted again
/// and one made by hand may not ([`cluster::provenance`]).
async fn provenance(
    target: &mut Target,
    run_id: &str,
) -> Result<Option<cluster::provenance::Provenance>, (String, i32)> {
    let client = &target.client;
    if target.created_by_us {
        cluster::provenance::mark(client, run_id)
            .await
            .map_err(|e| (e.to_string(), e.exit_code()))?;
        return Ok(Some(cluster::provenance::Provenance {
            created_by_run: run_id.to_string(),
        }));
    }
    if target.kind == TargetKind::Simulated {
        return Ok(None);
    }
    match cluster::provenance::read(client).await {
        Ok(Some(made)) => {
            target.description = format!(
                "{}; created by netconform run {}",
                target.description, made.created_by_run
            );
            Ok(Some(made))
        }
        Ok(None) => Ok(None),
        // Unreadable (no right to read kube-system's ConfigMaps): the cluster counts as not netconform's.
        Err(e) => {
            eprintln!(
                "netconform: cannot tell whether netconform created this cluster, so it counts as not: {e}"
            );
            Ok(None)
        }
    }
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

/// What every version the double serves carries (`netconform_double::VERSION_MARK`; a test keeps them equal).
/// Known without the double: a served double is recognised in the users' build too.
const DOUBLE_VERSION_MARK: &str = "+netconform-double";

/// The target kind a report names: an `existing` context that points at a served double (its version carries
/// `+netconform-double`) is simulated; its results say nothing about a cluster.
fn reported_target(kind: TargetKind, server_version: &str) -> TargetKind {
    if server_version.contains(DOUBLE_VERSION_MARK) {
        TargetKind::Simulated
    } else {
        kind
    }
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

/// Runs one trial, from needs check to cleanup, rerunning a failure up to `NETCONFORM_RETRIES` times;
/// a pass after failed attempts keeps them (the report marks it flaky). Never panics.
async fn run_trial(state: Arc<RunState>, schedule: Arc<Schedule>, def: TrialDef) -> TrialRecord {
    for need in def.needs {
        let facts = TargetFacts {
            kind: Some(state.target),
            made_by_netconform: state.made_by_netconform,
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
                failure,
                diagnostics,
            } if failed_attempts.len() < state.settings.retries as usize => {
                failed_attempts.push(report::FailedAttempt {
                    failure,
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
    let ctx = match Ctx::open(state.clone(), def.id(), lease.clone()).await {
        Ok(ctx) => ctx,
        Err(e) => return failed(&def, started, &e, String::new(), String::new(), Vec::new()),
    };
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
        Err(_) => ctx.diagnostics().await,
    };
    let mut log = ctx.take_log();
    log.push_str(&ctx.close().await);
    match result {
        Ok(()) => record(
            &def,
            TrialOutcome::Passed,
            started.elapsed(),
            log,
            ctx.take_findings(),
        ),
        Err(e) => failed(&def, started, &e, diagnostics, log, ctx.take_findings()),
    }
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
    error: &TrialError,
    diagnostics: String,
    log: String,
    findings: Vec<report::DocFinding>,
) -> TrialRecord {
    record(
        def,
        TrialOutcome::Failed {
            failure: error.failure(),
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
            failure,
            diagnostics,
        } => {
            let mut text = record.failure_message(failure);
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
    started: Instant,
    junit: std::path::PathBuf,
    summary: std::path::PathBuf,
    records: Mutex<Vec<TrialRecord>>,
}

impl Reporter {
    fn new(settings: &Settings, info: RunInfo) -> Reporter {
        Reporter {
            info,
            started: Instant::now(),
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
        self.write(&records, RunStatus::Running);
    }

    fn write(&self, records: &[TrialRecord], status: RunStatus) {
        let info = RunInfo {
            wall_time: self.started.elapsed(),
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
    fn finish(&self, status: RunStatus) {
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
        }
        eprintln!(
            "netconform: reports: {} and {}",
            self.junit.display(),
            self.summary.display()
        );
    }
}

/// Ctrl-C or SIGTERM (what CI systems send when they cancel a job), as a value each phase of a run awaits.
#[derive(Clone)]
struct Interrupt(tokio::sync::watch::Receiver<bool>);

impl Interrupt {
    /// From here on, Ctrl-C and SIGTERM no longer end the process: whoever awaits [`Interrupt::wait`] does.
    fn listen(runtime: &tokio::runtime::Runtime) -> Interrupt {
        let (fired, receiver) = tokio::sync::watch::channel(false);
        runtime.spawn(async move {
            wait_for_interrupt().await;
            let _ = fired.send(true);
            // The sender stays alive: a closed channel must not read as an interrupt.
            std::future::pending::<()>().await
        });
        Interrupt(receiver)
    }

    async fn wait(&self) {
        let mut receiver = self.0.clone();
        if receiver.wait_for(|fired| *fired).await.is_err() {
            std::future::pending::<()>().await
        }
    }
}

/// On an interrupt: delete what the run owns, write the reports, and exit 130.
fn install_interrupt_handler(
    runtime: &tokio::runtime::Runtime,
    interrupt: Interrupt,
    state: Arc<RunState>,
    reporter: Arc<Reporter>,
    created: Arc<cluster::CreatedCluster>,
) {
    runtime.spawn(async move {
        interrupt.wait().await;
        let left = interrupted(&state, &created).await;
        for problem in &left {
            eprintln!("netconform: cleanup: {problem}");
        }
        if left.is_empty() {
            eprintln!(
                "netconform: interrupted; everything run {} created is gone",
                state.run_id
            );
        }
        reporter.finish(RunStatus::Interrupted);
        std::process::exit(crate::error::EXIT_INTERRUPTED);
    });
}

/// How often a run that waits says what it waits for.
const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);
/// Waits named in one heartbeat; the rest are counted.
const HEARTBEAT_LINES: usize = 8;

/// Every [`HEARTBEAT`], what the trials wait for: a run on a real cluster can wait minutes in silence.
async fn heartbeat() {
    let mut every = tokio::time::interval(HEARTBEAT);
    every.tick().await;
    loop {
        every.tick().await;
        if let Some(text) = heartbeat_text(&wait::waiting(), Instant::now()) {
            eprintln!("{text}");
        }
    }
}

/// `netconform: waiting: 3 trial wait(s)` and one line per wait: trial, what, budget, how long.
fn heartbeat_text(waits: &[wait::Waiting], now: Instant) -> Option<String> {
    if waits.is_empty() {
        return None;
    }
    let mut text = format!("netconform: waiting: {} trial wait(s)", waits.len());
    for w in waits.iter().take(HEARTBEAT_LINES) {
        text.push_str(&format!(
            "\n  {}: {} ({} budget, {}s of {}s)",
            w.trial,
            w.awaited,
            w.budget,
            now.saturating_duration_since(w.since).as_secs(),
            w.limit.as_secs()
        ));
    }
    if waits.len() > HEARTBEAT_LINES {
        text.push_str(&format!("\n  … and {} more", waits.len() - HEARTBEAT_LINES));
    }
    Some(text)
}

/// The run's closing table: per suite, passed, failed, skipped, flaky and the trials' time.
fn suite_table(records: &[TrialRecord]) -> String {
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

/// The run is over: its lease goes, so sweeps no longer take it for live.
async fn release_lease(state: &RunState) {
    if let Some(lease) = &state.lease {
        lease.release().await;
    }
}

/// Ctrl-C/SIGTERM: the run gives up its lease (its own cleanup sweeps by its run id, and a sweep leaves a
/// live run's objects alone), then deletes what it created; returns what is left. A cluster this run created
/// goes whole, which is quicker than its namespaces one by one (a cancelled CI job has seconds).
async fn interrupted(state: &RunState, created: &cluster::CreatedCluster) -> Vec<String> {
    if let Some(name) = created.name() {
        eprintln!(
            "netconform: interrupted; deleting kind cluster {name:?}, which this run created"
        );
        created.delete().await;
        return Vec::new();
    }
    eprintln!(
        "netconform: interrupted; deleting what run {} created and waiting until it is gone",
        state.run_id
    );
    release_lease(state).await;
    state
        .cleanup
        .shutdown(&state.run_id, state.settings.timeout_scale)
        .await
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

    #[cfg(feature = "double")]
    #[test]
    fn the_double_version_mark_is_the_doubles() {
        assert_eq!(DOUBLE_VERSION_MARK, netconform_double::VERSION_MARK);
    }

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

    fn def(name: &'static str) -> TrialDef {
        TrialDef {
            name,
            claim: "c",
            doc_url: "https://kubernetes.io/docs/",
            needs: &[],
            run: |_| Box::pin(async { Ok(()) }),
        }
    }

    #[test]
    fn a_filter_that_matches_nothing_is_an_error_naming_it() {
        let all = vec![def("dns::a::b"), def("dns::a::c"), def("hostaliases::x::y")];
        let (mut args, filters) = split("conformance dsn");
        let err = select(all.clone(), &filters, &mut args).unwrap_err();
        assert_eq!(
            err,
            "no trial matches the filter \"dsn\" (3 trials; `-- --list` lists them)"
        );
        let (mut args, filters) = split("conformance --exact dns::a");
        let err = select(all.clone(), &filters, &mut args).unwrap_err();
        assert!(err.contains("\"dns::a\" (--exact)"), "{err}");
        // One typo among good filters still runs the good ones, as libtest does.
        let (mut args, filters) = split("conformance hostaliases dsn");
        let picked = select(all.clone(), &filters, &mut args).unwrap();
        assert_eq!(picked.len(), 1);
        // `--list` lists nothing for it, as libtest does.
        let (mut args, filters) = split("conformance dsn --list");
        assert!(select(all.clone(), &filters, &mut args).is_ok());
    }

    /// libtest-mimic said `0 filtered out` for `-- dns`: the filter was applied before it saw the trials.
    #[test]
    fn one_filter_is_libtest_mimics_own_so_it_counts_what_it_filtered_out() {
        let all = vec![def("dns::a::b"), def("dns::a::c"), def("hostaliases::x::y")];
        let (mut args, filters) = split("conformance dns");
        let picked = select(all.clone(), &filters, &mut args).unwrap();
        assert_eq!(picked.len(), 3, "libtest-mimic gets every trial");
        assert_eq!(args.filter.as_deref(), Some("dns"));
        let run: Vec<Trial> = picked.iter().map(placeholder).collect();
        let conclusion = libtest_mimic::run(
            &Arguments {
                quiet: true,
                ..args
            },
            run,
        );
        assert_eq!(conclusion.num_filtered_out, 1);
        assert_eq!(conclusion.num_passed, 2);
    }

    #[test]
    fn a_run_without_a_cluster_ends_saying_nothing_was_tested_and_how_to_get_one() {
        let text = nothing_tested(
            "tried: no kubeconfig",
            &crate::cluster::how_to_get_a_cluster(false),
        );
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert_eq!(
            lines[0],
            "netconform: nothing was tested: every trial was ignored because there is no cluster (tried: no kubeconfig)."
        );
        assert!(lines[1].contains("eval \"$(testbed/build)\""), "{text}");
        assert!(lines[1].contains("NETCONFORM_TARGET=sim"), "{text}");
    }

    #[test]
    fn the_heartbeat_names_each_wait_its_budget_and_how_long() {
        let now = Instant::now();
        assert_eq!(
            heartbeat_text(&[], now),
            None,
            "nothing waits: nothing to say"
        );
        let waits: Vec<wait::Waiting> = (0..10)
            .map(|i| wait::Waiting {
                trial: "dns::busybox::runs",
                awaited: format!("pod busybox{i} to be Running and Ready"),
                budget: "pod-start",
                limit: std::time::Duration::from_secs(180),
                since: now - std::time::Duration::from_secs(42),
            })
            .collect();
        let text = heartbeat_text(&waits, now).unwrap();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines[0], "netconform: waiting: 10 trial wait(s)");
        assert_eq!(
            lines[1],
            "  dns::busybox::runs: pod busybox0 to be Running and Ready (pod-start budget, 42s of 180s)"
        );
        assert_eq!(lines.last(), Some(&"  … and 2 more"));
    }

    #[test]
    fn the_run_ends_with_a_table_per_suite() {
        let rec = |name: &str, outcome: TrialOutcome| TrialRecord {
            duration: std::time::Duration::from_millis(1500),
            ..record(
                &def(Box::leak(name.to_string().into_boxed_str())),
                outcome,
                std::time::Duration::ZERO,
                String::new(),
                Vec::new(),
            )
        };
        let records = vec![
            rec("dns::a::b", TrialOutcome::Passed),
            rec(
                "hostaliases::a::b",
                TrialOutcome::Skipped { reason: "r".into() },
            ),
            rec(
                "dns::a::c",
                TrialOutcome::Failed {
                    failure: TrialError::Harness("m".into()).failure(),
                    diagnostics: String::new(),
                },
            ),
        ];
        let table = suite_table(&records);
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), 4, "{table}");
        assert!(
            lines[0].starts_with("suite") && lines[0].contains("flaky"),
            "{table}"
        );
        assert_eq!(
            lines[1].split_whitespace().collect::<Vec<_>>(),
            ["dns", "1", "1", "0", "0", "3.0s"]
        );
        assert_eq!(
            lines[3].split_whitespace().collect::<Vec<_>>(),
            ["total", "1", "1", "1", "0", "4.5s"]
        );
    }

    #[test]
    fn a_served_double_is_reported_simulated_whatever_the_target_setting() {
        assert_eq!(
            reported_target(TargetKind::Existing, "v1.33.1+netconform-double"),
            TargetKind::Simulated
        );
        assert_eq!(
            reported_target(TargetKind::Existing, "v1.33.1"),
            TargetKind::Existing
        );
        assert_eq!(
            reported_target(TargetKind::Kind, "v1.37.0"),
            TargetKind::Kind
        );
    }

    #[test]
    fn the_selection_is_described_for_the_reports() {
        let (args, filters) = split("conformance --exact a::b::c d::e::f --skip dns");
        assert_eq!(
            describe_selection(&filters, &args).as_deref(),
            Some("--exact a::b::c d::e::f --skip dns")
        );
        let (args, filters) = split("conformance");
        assert_eq!(describe_selection(&filters, &args), None);
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
