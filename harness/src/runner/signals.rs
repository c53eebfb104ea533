//! Ctrl-C and SIGTERM: the interrupt as a value each phase awaits, and what the run deletes on it.

use std::sync::Arc;

use super::reporter::Reporter;
use crate::cluster;
use crate::report::RunStatus;
use crate::run::RunState;

/// Ctrl-C or SIGTERM (what CI systems send when they cancel a job), as a value each phase of a run awaits.
#[derive(Clone)]
pub(super) struct Interrupt(tokio::sync::watch::Receiver<bool>);

impl Interrupt {
    /// From here on, Ctrl-C and SIGTERM no longer end the process: whoever awaits [`Interrupt::wait`] does.
    pub(super) fn listen(runtime: &tokio::runtime::Runtime) -> Interrupt {
        let (fired, receiver) = tokio::sync::watch::channel(false);
        runtime.spawn(async move {
            wait_for_interrupt().await;
            let _ = fired.send(true);
            // The sender stays alive: a closed channel must not read as an interrupt.
            std::future::pending::<()>().await
        });
        Interrupt(receiver)
    }

    pub(super) async fn wait(&self) {
        let mut receiver = self.0.clone();
        if receiver.wait_for(|fired| *fired).await.is_err() {
            std::future::pending::<()>().await
        }
    }
}

/// On an interrupt: delete what the run owns, write the reports, and exit 130.
pub(super) fn install_interrupt_handler(
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

/// The run is over: its lease goes, so sweeps no longer take it for live.
pub(super) async fn release_lease(state: &RunState) {
    if let Some(lease) = &state.lease {
        lease.release().await;
    }
}

/// Ctrl-C/SIGTERM: the run gives up its lease (its own cleanup sweeps by its run id, and a sweep leaves a
/// live run's objects alone), then deletes what it created; returns what is left. A cluster this run created
/// goes whole, which is quicker than its namespaces one by one (a cancelled CI job has seconds).
pub(super) async fn interrupted(
    state: &RunState,
    created: &cluster::CreatedCluster,
) -> Vec<String> {
    if let Some(name) = created.name() {
        eprintln!(
            "netconform: interrupted; deleting kind cluster {name:?}, which this run created"
        );
        // The external client's container is beside the cluster, not in it.
        let mut problems = state.cleanup.delete_containers().await;
        problems.extend(created.delete_checked().await);
        return problems;
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

pub(super) async fn wait_for_interrupt() {
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
