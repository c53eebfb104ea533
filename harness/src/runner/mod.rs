//! The conformance runner: resolves the target, runs preflight, turns each [`TrialDef`] into a libtest-mimic
//! trial in its own namespace, and writes JUnit + JSON reports as it goes (so an aborted run still leaves one).

mod args;
mod execute;
mod prepare;
mod reporter;
mod signals;

use std::sync::Arc;

use libtest_mimic::{Completion, Trial};

use crate::cluster::{self, Resolution};
use crate::config::Settings;
use crate::error::HarnessError;
use crate::report::{RunStatus, TrialRecord};
use crate::schedule::{Schedule, start_order};
use crate::trial::TrialDef;
use crate::wait;
use args::{arguments, describe_selection, placeholder, select};
use execute::{heartbeat, libtest_verdict, run_trial, skipped};
use prepare::{Prepared, prepare, prepare_with};
use reporter::Reporter;
use signals::{Interrupt, install_interrupt_handler, interrupted, release_lease};

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
            let pods = {
                let _runtime = runtime.enter();
                crate::pod_tally::PodTally::start(&state.client, &state.run_id)
            };
            let reporter = Arc::new(Reporter::new(&settings, info).counting_pods(pods));
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

/// One clear line and a distinct exit status for bad input; never a panic.
fn die(line: &str, code: i32) -> ! {
    eprintln!("netconform: {line}");
    std::process::exit(code)
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use libtest_mimic::Arguments;

    use super::execute::{heartbeat_text, record};
    use super::prepare::{declared_absent, reported_target};
    use super::reporter::suite_table;
    use super::*;
    use crate::cluster::TargetKind;
    use crate::config::Toggle;
    use crate::failure::TrialError;
    use crate::preflight::Need;
    use crate::report::TrialOutcome;

    #[cfg(feature = "double")]
    #[test]
    fn the_double_version_mark_is_the_doubles() {
        assert_eq!(
            super::prepare::DOUBLE_VERSION_MARK,
            netconform_double::VERSION_MARK
        );
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
