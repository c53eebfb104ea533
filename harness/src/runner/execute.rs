//! One trial, from needs check to cleanup, with its reruns; what libtest prints of it; and the heartbeat
//! that says what running trials wait for.

use std::panic::AssertUnwindSafe;
use std::sync::Arc;
use std::time::Instant;

use futures::FutureExt;
use libtest_mimic::{Completion, Failed};

use crate::ctx::Ctx;
use crate::failure::TrialError;
use crate::preflight::TargetFacts;
use crate::report::{self, TrialOutcome, TrialRecord};
use crate::run::RunState;
use crate::schedule::{Lease, Schedule};
use crate::trial::TrialDef;
use crate::wait;

/// Runs one trial, from needs check to cleanup, rerunning a failure up to `NETCONFORM_RETRIES` times;
/// a pass after failed attempts keeps them (the report marks it flaky). Never panics.
pub(super) async fn run_trial(
    state: Arc<RunState>,
    schedule: Arc<Schedule>,
    def: TrialDef,
) -> TrialRecord {
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
pub(super) async fn attempt(
    state: &Arc<RunState>,
    def: TrialDef,
    lease: &Arc<Lease>,
) -> TrialRecord {
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

pub(super) fn panic_message(panic: &Box<dyn std::any::Any + Send>) -> String {
    panic
        .downcast_ref::<String>()
        .cloned()
        .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "unknown panic".into())
}

pub(super) fn record(
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

pub(super) fn skipped(def: &TrialDef, reason: &str) -> TrialRecord {
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

pub(super) fn failed(
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
pub(super) fn libtest_verdict(record: &TrialRecord) -> Result<Completion, Failed> {
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

/// How often a run that waits says what it waits for.
pub(super) const HEARTBEAT: std::time::Duration = std::time::Duration::from_secs(30);

/// Waits named in one heartbeat; the rest are counted.
pub(super) const HEARTBEAT_LINES: usize = 8;

/// Every [`HEARTBEAT`], what the trials wait for: a run on a real cluster can wait minutes in silence.
pub(super) async fn heartbeat() {
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
pub(super) fn heartbeat_text(waits: &[wait::Waiting], now: Instant) -> Option<String> {
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
