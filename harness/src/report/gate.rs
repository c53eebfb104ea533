//! `netconform gate BASELINE.xml CANDIDATE.xml`: the upgrade gate. Reads two JUnit reports the suite wrote
//! (e.g. the current node image and the candidate one), matches trials by name, classifies each, and renders a
//! Markdown summary for `$GITHUB_STEP_SUMMARY` or a PR comment: regressions first, with their failure.
//!
//! Exit status: 0 no regression, 1 one or more (see [`Class::fails_gate`]), 2 an input is missing, unreadable,
//! not a netconform report or from a run that did not finish, the two reports come from one run, or they come
//! from different kinds of target (without `--force`).

use std::collections::BTreeSet;
use std::path::PathBuf;

use super::RunStatus;
use super::markdown as md;
use super::read::{
    self, Finding, ReadError, ReportStatus, RunReport, TargetClass, TrialResult, TrialState,
};
use crate::failure::FailureKind;

pub const EXIT_PASSED: u8 = 0;
pub const EXIT_REGRESSED: u8 = 1;
pub const EXIT_INPUT: u8 = 2;

pub const USAGE: &str = "netconform gate BASELINE.xml CANDIDATE.xml [--force] [--allow-removed TRIAL]... [--markdown OUT.md]";

/// Lines of a regression's failure shown in the summary (the JUnit report has it all).
const FAILURE_LINES: usize = 40;
const DIAGNOSTICS_LINES: usize = 40;
/// Characters of failure details in one summary; later regressions get their headline only. GitHub caps a
/// PR comment at 65,536 characters and a step summary at 1 MiB.
const DETAIL_BUDGET: usize = 40_000;

#[derive(Debug, thiserror::Error)]
pub enum GateError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(
        "refusing to compare a {baseline} report ({}) with a {candidate} report ({}): different kinds of target; --force compares them anyway",
        baseline_path.display(),
        candidate_path.display()
    )]
    MixedTargets {
        baseline: String,
        baseline_path: PathBuf,
        candidate: String,
        candidate_path: PathBuf,
    },
    #[error(
        "refusing to gate on {}: {}",
        path.display(),
        incomplete_reason(status)
    )]
    Incomplete { path: PathBuf, status: ReportStatus },
    /// Both reports come from one run (the same file twice, or two copies): nothing would be compared.
    #[error(
        "refusing to compare {} with {}: both are reports of run {run_id}, and the gate compares two runs",
        baseline_path.display(),
        candidate_path.display()
    )]
    SameRun {
        run_id: String,
        baseline_path: PathBuf,
        candidate_path: PathBuf,
    },
    #[error(
        "--allow-removed {name}: the baseline {} has no such trial",
        baseline_path.display()
    )]
    AllowedUnknown {
        name: String,
        baseline_path: PathBuf,
    },
    #[error("cannot write {}: {source}", path.display())]
    WriteMarkdown {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Why a report of a run that did not finish cannot speak for it.
fn incomplete_reason(status: &ReportStatus) -> String {
    match status {
        ReportStatus::Known(RunStatus::Interrupted) => {
            "the run was interrupted, so the trials that had not ended are missing".into()
        }
        ReportStatus::Known(RunStatus::Running) => {
            "the run had not finished when the report was written (still going, or killed)".into()
        }
        ReportStatus::Missing => {
            "the report does not say whether its run finished (no `netconform.run.status`)".into()
        }
        ReportStatus::Known(status @ RunStatus::Finished) => {
            format!("the run ended as {:?}, not finished", status.label())
        }
        ReportStatus::Other(other) => format!("the run ended as {other:?}, not finished"),
    }
}

impl GateError {
    pub fn exit_code(&self) -> u8 {
        EXIT_INPUT
    }
}

/// What happened to one trial between the baseline and the candidate, in the order the summary lists them.
///
/// Passed → skipped ([`Class::LostCoverage`]) FAILS the gate, like a regression. The gate exists to block an
/// upgrade that breaks networking, and a trial goes from "passed" to "skipped" when the candidate cluster lost
/// what it needs: its IPv6 family, the ServiceCIDR API, a LoadBalancer controller, a second schedulable node.
/// On an upgrade those losses are breakage, not noise, and a gate that passes whenever a capability turns off
/// can be silenced by exactly the failure it should catch. It is its own class, listed right after the
/// regressions with the candidate's skip reason, so the reader sees "not checked" and not "broken". To accept
/// it on purpose, say so in both runs: deselect the trial (`-- --skip NAME`) or turn the capability off
/// (e.g. `NETCONFORM_LOAD_BALANCER=no`).
/// A trial that was already failing and is now skipped does not fail the gate (nothing that worked stopped).
///
/// A trial in the baseline and missing from the candidate ([`Class::Removed`]) fails the gate too: a candidate
/// that ran 1 trial of 88 must not pass. `--allow-removed NAME` accepts one by name ([`Class::RemovedAllowed`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Class {
    /// Passed in the baseline (possibly on a rerun), fails in the candidate.
    Regressed,
    /// Passed in the baseline, skipped in the candidate.
    LostCoverage,
    /// Only in the baseline: the candidate did not run it.
    Removed,
    /// Passed in the candidate only on a rerun, whatever the baseline did.
    Flaky,
    /// Failed in the baseline, passes in the candidate at the first attempt.
    Fixed,
    StillFailing,
    /// Skipped in one report and run in the other (skipped → passed/failed, failed → skipped).
    SkippedInOne,
    /// Only in the candidate.
    New,
    /// Only in the baseline, and named by `--allow-removed`.
    RemovedAllowed,
    StillSkipped,
    StillPassing,
}

impl Class {
    pub const ALL: [Class; 11] = [
        Class::Regressed,
        Class::LostCoverage,
        Class::Removed,
        Class::Flaky,
        Class::Fixed,
        Class::StillFailing,
        Class::SkippedInOne,
        Class::New,
        Class::RemovedAllowed,
        Class::StillSkipped,
        Class::StillPassing,
    ];

    /// Whether one trial of this class makes the gate exit 1.
    pub fn fails_gate(self) -> bool {
        matches!(
            self,
            Class::Regressed | Class::LostCoverage | Class::Removed
        )
    }

    pub fn title(self) -> &'static str {
        match self {
            Class::Regressed => "regressed",
            Class::LostCoverage => "passed → skipped",
            Class::Flaky => "flaky",
            Class::Fixed => "fixed",
            Class::StillFailing => "still failing",
            Class::SkippedInOne => "skipped in one",
            Class::New => "new",
            Class::Removed => "removed",
            Class::RemovedAllowed => "removed (allowed)",
            Class::StillSkipped => "still skipped",
            Class::StillPassing => "still passing",
        }
    }
}

/// Classifies one trial from its state in the baseline and in the candidate (`None`: not in that report;
/// `None` back only when it is in neither).
pub fn classify(baseline: Option<&TrialState>, candidate: Option<&TrialState>) -> Option<Class> {
    use TrialState::{Failed, Flaky, Passed, Skipped};
    let (Some(baseline), Some(candidate)) = (baseline, candidate) else {
        return match (baseline, candidate) {
            (None, Some(_)) => Some(Class::New),
            (Some(_), None) => Some(Class::Removed),
            _ => None,
        };
    };
    Some(match (baseline, candidate) {
        (_, Flaky { .. }) => Class::Flaky,
        (Passed | Flaky { .. }, Failed { .. }) => Class::Regressed,
        (Passed | Flaky { .. }, Skipped { .. }) => Class::LostCoverage,
        (Passed | Flaky { .. }, Passed) => Class::StillPassing,
        (Failed { .. }, Passed) => Class::Fixed,
        (Failed { .. }, Failed { .. }) => Class::StillFailing,
        (Skipped { .. }, Skipped { .. }) => Class::StillSkipped,
        (Skipped { .. }, Passed | Failed { .. }) | (Failed { .. }, Skipped { .. }) => {
            Class::SkippedInOne
        }
    })
}

/// One trial in both (or either) reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Entry {
    pub name: String,
    pub class: Class,
    pub baseline: Option<TrialResult>,
    pub candidate: Option<TrialResult>,
}

impl Entry {
    /// The candidate's view of the trial when it has one (its claim and doc URL are the current ones).
    fn trial(&self) -> Option<&TrialResult> {
        self.candidate.as_ref().or(self.baseline.as_ref())
    }
}

/// A doc finding the candidate records and the baseline did not (same trial, same "doc says").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewFinding {
    pub trial: String,
    pub doc_url: String,
    pub finding: Finding,
}

/// Two reports, trial by trial.
#[derive(Debug, Clone)]
pub struct Comparison {
    pub baseline: RunReport,
    pub candidate: RunReport,
    /// Ordered by [`Class`], then by trial name.
    pub entries: Vec<Entry>,
    pub new_findings: Vec<NewFinding>,
    /// The reports come from different kinds of target and `--force` compared them anyway.
    pub forced: bool,
}

impl Comparison {
    /// Compares two reports; reports of different kinds of target (the test double vs a cluster) are refused
    /// unless `force`: a simulated baseline says nothing about a real cluster.
    pub fn new(
        baseline: RunReport,
        candidate: RunReport,
        force: bool,
    ) -> Result<Comparison, GateError> {
        Comparison::allowing_removed(baseline, candidate, force, &[])
    }

    /// As [`Comparison::new`], with the trials `allow_removed` names allowed to be missing from the candidate.
    /// A report of a run that did not finish is refused on either side, and so are two reports of one run:
    /// a gate given the same report twice (a slip in a CI job) would pass without comparing anything.
    pub fn allowing_removed(
        baseline: RunReport,
        candidate: RunReport,
        force: bool,
        allow_removed: &[String],
    ) -> Result<Comparison, GateError> {
        for report in [&baseline, &candidate] {
            if !report.finished() {
                return Err(GateError::Incomplete {
                    path: report.path.clone(),
                    status: report.status.clone(),
                });
            }
        }
        // A report without a run id (none so far) cannot be told from another run's by it.
        if !baseline.run_id.is_empty() && baseline.run_id == candidate.run_id {
            return Err(GateError::SameRun {
                run_id: baseline.run_id.clone(),
                baseline_path: baseline.path.clone(),
                candidate_path: candidate.path.clone(),
            });
        }
        if let Some(name) = allow_removed.iter().find(|n| baseline.trial(n).is_none()) {
            return Err(GateError::AllowedUnknown {
                name: name.clone(),
                baseline_path: baseline.path.clone(),
            });
        }
        let mixed = baseline.target_class() != candidate.target_class();
        if mixed && !force {
            return Err(GateError::MixedTargets {
                baseline: baseline.target.to_string(),
                baseline_path: baseline.path.clone(),
                candidate: candidate.target.to_string(),
                candidate_path: candidate.path.clone(),
            });
        }
        let mut entries: Vec<Entry> = Vec::new();
        let names = baseline.trials.iter().map(|t| &t.name).chain(
            candidate
                .trials
                .iter()
                .map(|t| &t.name)
                .filter(|n| baseline.trial(n).is_none()),
        );
        for name in names {
            let (b, c) = (baseline.trial(name), candidate.trial(name));
            if let Some(mut class) = classify(b.map(|b| &b.state), c.map(|c| &c.state)) {
                if class == Class::Removed && allow_removed.contains(name) {
                    class = Class::RemovedAllowed;
                }
                entries.push(Entry {
                    name: name.clone(),
                    class,
                    baseline: b.cloned(),
                    candidate: c.cloned(),
                });
            }
        }
        // Within a class by name: reports list trials in the order they finished, which varies run to run.
        entries.sort_by(|a, b| (a.class, &a.name).cmp(&(b.class, &b.name)));
        let new_findings = new_findings(&baseline, &candidate);
        Ok(Comparison {
            baseline,
            candidate,
            entries,
            new_findings,
            forced: mixed,
        })
    }

    pub fn of(&self, class: Class) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(move |e| e.class == class)
    }

    pub fn count(&self, class: Class) -> usize {
        self.of(class).count()
    }

    /// True when no trial fails the gate.
    pub fn passed(&self) -> bool {
        !self.entries.iter().any(|e| e.class.fails_gate())
    }

    pub fn exit_code(&self) -> u8 {
        if self.passed() {
            EXIT_PASSED
        } else {
            EXIT_REGRESSED
        }
    }

    /// The summary for `$GITHUB_STEP_SUMMARY` or a PR comment.
    pub fn markdown(&self) -> String {
        let mut out = String::new();
        out.push_str(&self.heading());
        out.push_str(&self.runs_table());
        out.push_str(&self.notes());
        let mut budget = DETAIL_BUDGET;
        out.push_str(&self.regressions(&mut budget));
        out.push_str(&self.lost_coverage());
        out.push_str(&self.removed());
        out.push_str(&self.counts_table());
        out.push_str(&self.flaky());
        out.push_str(&table_section(
            "Fixed",
            "failed in the baseline, pass in the candidate",
            &self.of(Class::Fixed).collect::<Vec<_>>(),
            &["baseline"],
            |e| vec![state_of(&e.baseline)],
        ));
        out.push_str(&table_section(
            "Still failing",
            "failed in both",
            &self.of(Class::StillFailing).collect::<Vec<_>>(),
            &["baseline", "candidate"],
            |e| vec![state_of(&e.baseline), state_of(&e.candidate)],
        ));
        out.push_str(&table_section(
            "Skipped in one",
            "run in one report, skipped in the other",
            &self.of(Class::SkippedInOne).collect::<Vec<_>>(),
            &["baseline", "candidate"],
            |e| vec![state_of(&e.baseline), state_of(&e.candidate)],
        ));
        out.push_str(&table_section(
            "New",
            "only in the candidate",
            &self.of(Class::New).collect::<Vec<_>>(),
            &["candidate"],
            |e| vec![state_of(&e.candidate)],
        ));
        out.push_str(&table_section(
            "Removed (allowed)",
            "only in the baseline, allowed by `--allow-removed`",
            &self.of(Class::RemovedAllowed).collect::<Vec<_>>(),
            &["baseline"],
            |e| vec![state_of(&e.baseline)],
        ));
        out.push_str(&self.findings());
        out.push_str(&self.collapsed(Class::StillSkipped));
        out.push_str(&self.collapsed(Class::StillPassing));
        out
    }

    fn heading(&self) -> String {
        let failing: Vec<String> = Class::ALL
            .iter()
            .filter(|c| c.fails_gate())
            .map(|c| (c, self.count(*c)))
            .filter(|(_, n)| *n > 0)
            .map(|(c, n)| format!("{n} {}", c.title()))
            .collect();
        let flaky = self.count(Class::Flaky);
        let flaky = if flaky > 0 {
            format!(" ({flaky} flaky)")
        } else {
            String::new()
        };
        if failing.is_empty() {
            format!("## netconform gate: ✅ passed — no regression{flaky}\n\n")
        } else {
            format!(
                "## netconform gate: ❌ FAILED — {}{flaky}\n\n",
                failing.join(", ")
            )
        }
    }

    fn runs_table(&self) -> String {
        let (b, c) = (&self.baseline, &self.candidate);
        let mut out = String::from("| | baseline | candidate |\n|---|---|---|\n");
        let mut row = |label: &str, b: &str, c: &str| {
            out.push_str(&format!(
                "| {label} | {} | {} |\n",
                md::cell(b),
                md::cell(c)
            ));
        };
        row("target", &b.target.to_string(), &c.target.to_string());
        row("server version", &b.server_version, &c.server_version);
        row("node image", &b.node_image, &c.node_image);
        row("IP families", &b.ip_families, &c.ip_families);
        row("run id", &b.run_id, &c.run_id);
        row("selection", &b.filter, &c.filter);
        row("trials", &b.totals_line(), &c.totals_line());
        out.push_str(&format!(
            "| report | {} | {} |\n\n",
            md::code(&b.path.display().to_string()),
            md::code(&c.path.display().to_string())
        ));
        out
    }

    fn notes(&self) -> String {
        let mut out = String::new();
        let simulated = [&self.baseline, &self.candidate]
            .iter()
            .any(|r| r.target_class() == TargetClass::Simulated);
        if simulated {
            out.push_str("> **Simulated**: a report comes from the netconform-double test double, not a cluster; its results say nothing about a real cluster.\n\n");
        }
        for (which, report) in [("baseline", &self.baseline), ("candidate", &self.candidate)] {
            if report.target_class() == TargetClass::NoTarget {
                out.push_str(&format!(
                    "> **No target**: the {which} ran without a cluster; every trial in it was skipped.\n\n"
                ));
            }
        }
        if self.forced {
            out.push_str(&format!(
                "> **Forced** (`--force`): the baseline ran on a {} target and the candidate on a {} target; differences may come from the targets, not the upgrade.\n\n",
                md::text(&self.baseline.target.to_string()),
                md::text(&self.candidate.target.to_string())
            ));
        }
        out
    }

    /// The regressions grouped by failure kind, the cluster contradicting the doc first: a timeout or an
    /// API error says the claim was not checked to the end, not that the cluster broke it.
    fn regressions(&self, budget: &mut usize) -> String {
        let entries: Vec<&Entry> = self.of(Class::Regressed).collect();
        if entries.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "### ❌ Regressed ({}): passed in the baseline, fail in the candidate\n\n",
            entries.len()
        );
        for kind in FailureKind::ALL {
            let of_kind: Vec<&Entry> = entries
                .iter()
                .copied()
                .filter(|e| regression_kind(e) == kind)
                .collect();
            if of_kind.is_empty() {
                continue;
            }
            out.push_str(&format!(
                "**{}** ({}): {}\n\n",
                kind.label(),
                of_kind.len(),
                kind.meaning()
            ));
            out.push_str(&regression_details(&of_kind, budget));
        }
        out
    }

    fn lost_coverage(&self) -> String {
        let entries: Vec<&Entry> = self.of(Class::LostCoverage).collect();
        if entries.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "### ⚠️ Passed → skipped ({}): no longer checked in the candidate (fails the gate)\n\n\
             The candidate lacks what these trials need; on an upgrade, a lost capability is breakage too.\n\n\
             | trial | claim | candidate's skip reason |\n|---|---|---|\n",
            entries.len()
        );
        for e in entries {
            let reason = match e.candidate.as_ref().map(|c| &c.state) {
                Some(TrialState::Skipped { reason }) => reason.as_str(),
                _ => "",
            };
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                md::code(&e.name),
                claim_cell(e),
                md::cell(reason)
            ));
        }
        out.push('\n');
        out
    }

    fn removed(&self) -> String {
        let entries: Vec<&Entry> = self.of(Class::Removed).collect();
        if entries.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "### ❌ Removed ({}): in the baseline, not run by the candidate (fails the gate)\n\n\
             A candidate that runs fewer trials checks less; `--allow-removed TRIAL` accepts one on purpose.\n\n\
             | trial | claim | baseline |\n|---|---|---|\n",
            entries.len()
        );
        for e in entries {
            out.push_str(&format!(
                "| {} | {} | {} |\n",
                md::code(&e.name),
                claim_cell(e),
                md::cell(&state_of(&e.baseline))
            ));
        }
        out.push('\n');
        out
    }

    fn counts_table(&self) -> String {
        let mut out = String::from("### Counts\n\n| class | trials |\n|---|---:|\n");
        for class in Class::ALL {
            let n = self.count(class);
            let title = if class.fails_gate() && n > 0 {
                format!("**{}**", class.title())
            } else {
                class.title().to_string()
            };
            out.push_str(&format!("| {title} | {n} |\n"));
        }
        out.push_str(&format!(
            "| new doc findings | {} |\n\n",
            self.new_findings.len()
        ));
        out
    }

    fn flaky(&self) -> String {
        table_section(
            "Flaky",
            "passed in the candidate only on a rerun (`NETCONFORM_RETRIES`)",
            &self.of(Class::Flaky).collect::<Vec<_>>(),
            &["baseline", "failed attempts", "first failure"],
            |e| match e.candidate.as_ref().map(|c| &c.state) {
                Some(TrialState::Flaky {
                    failed_attempts,
                    first_failure,
                }) => vec![
                    state_of(&e.baseline),
                    failed_attempts.to_string(),
                    read::headline(first_failure).to_string(),
                ],
                _ => vec![state_of(&e.baseline), String::new(), String::new()],
            },
        )
    }

    fn findings(&self) -> String {
        if self.new_findings.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "### Doc findings new in the candidate ({})\n\nThe docs and the candidate cluster disagree (the trials still pass).\n\n",
            self.new_findings.len()
        );
        for f in &self.new_findings {
            out.push_str(&format!(
                "- {} ({}): the doc says {}; the cluster shows {}\n",
                md::code(&f.trial),
                md::link(md::doc_page(&f.doc_url), &f.doc_url),
                md::cell(&f.finding.doc_says),
                md::cell(read::headline(&f.finding.cluster_shows))
            ));
        }
        out.push('\n');
        out
    }

    fn collapsed(&self, class: Class) -> String {
        let entries: Vec<&Entry> = self.of(class).collect();
        if entries.is_empty() {
            return String::new();
        }
        let mut out = format!(
            "<details><summary>{} ({})</summary>\n\n",
            class.title(),
            entries.len()
        );
        for e in entries {
            match e.candidate.as_ref().map(|c| &c.state) {
                Some(TrialState::Skipped { reason }) => out.push_str(&format!(
                    "- {}: {}\n",
                    md::code(&e.name),
                    md::cell(read::headline(reason))
                )),
                _ => out.push_str(&format!("- {}\n", md::code(&e.name))),
            }
        }
        out.push_str("\n</details>\n\n");
        out
    }
}

/// The kind of a regression's candidate failure.
fn regression_kind(e: &Entry) -> FailureKind {
    match e.candidate.as_ref().map(|c| &c.state) {
        Some(TrialState::Failed { failure, .. }) => failure.kind,
        _ => FailureKind::Unknown,
    }
}

/// Each regression with its claim, its failure and diagnostics while `budget` lasts.
fn regression_details(entries: &[&Entry], budget: &mut usize) -> String {
    let mut out = String::new();
    for e in entries {
        out.push_str(&format!("#### {}\n\n", md::code(&e.name)));
        out.push_str(&claim_line(e));
        out.push_str(&format!(
            "baseline: {} · candidate: ",
            md::text(&state_of(&e.baseline))
        ));
        let Some(TrialState::Failed {
            failure,
            diagnostics,
            attempts,
            ..
        }) = e.candidate.as_ref().map(|c| &c.state)
        else {
            out.push_str("FAILED\n\n");
            continue;
        };
        if *attempts > 1 {
            out.push_str(&format!("FAILED all {attempts} attempts\n\n"));
        } else {
            out.push_str("FAILED\n\n");
        }
        let details = md::block(&failure.text, FAILURE_LINES);
        if details.len() > *budget {
            out.push_str(&format!(
                "> {}\n\n(details omitted to keep the summary short: see the candidate's JUnit report)\n\n",
                md::text(read::headline(&failure.text))
            ));
            continue;
        }
        *budget -= details.len();
        out.push_str(&details);
        out.push('\n');
        if !diagnostics.trim().is_empty() {
            let block = md::block(diagnostics, DIAGNOSTICS_LINES);
            if block.len() <= *budget {
                *budget -= block.len();
                out.push_str(&format!(
                    "<details><summary>diagnostics</summary>\n\n{block}\n</details>\n\n"
                ));
            }
        }
    }
    out
}

fn new_findings(baseline: &RunReport, candidate: &RunReport) -> Vec<NewFinding> {
    let known: BTreeSet<(&str, &str)> = baseline
        .trials
        .iter()
        .flat_map(|t| {
            t.findings
                .iter()
                .map(move |f| (t.name.as_str(), f.doc_says.as_str()))
        })
        .collect();
    candidate
        .trials
        .iter()
        .flat_map(|t| t.findings.iter().map(move |f| (t, f)))
        // Keyed on what the doc says: what the cluster shows may carry addresses that change every run.
        .filter(|(t, f)| !known.contains(&(t.name.as_str(), f.doc_says.as_str())))
        .map(|(t, f)| NewFinding {
            trial: t.name.clone(),
            doc_url: t.doc_url.clone(),
            finding: f.clone(),
        })
        .collect()
}

fn state_of(trial: &Option<TrialResult>) -> String {
    trial
        .as_ref()
        .map_or_else(|| "—".to_string(), |t| t.state.summary())
}

/// `claim: … — [tasks/network/…](url)`
fn claim_line(e: &Entry) -> String {
    match e.trial() {
        Some(t) => format!(
            "claim: {} — {}\n\n",
            md::cell(&t.claim),
            md::link(md::doc_page(&t.doc_url), &t.doc_url)
        ),
        None => String::new(),
    }
}

fn claim_cell(e: &Entry) -> String {
    match e.trial() {
        Some(t) if t.doc_url.is_empty() => md::cell(&t.claim),
        Some(t) => format!("{} ({})", md::cell(&t.claim), md::link("doc", &t.doc_url)),
        None => String::new(),
    }
}

/// `### Title (n): what it means` and a table: trial, claim, then `columns`.
fn table_section(
    title: &str,
    meaning: &str,
    entries: &[&Entry],
    columns: &[&str],
    cells: impl Fn(&Entry) -> Vec<String>,
) -> String {
    if entries.is_empty() {
        return String::new();
    }
    let mut out = format!(
        "### {title} ({}): {meaning}\n\n| trial | claim | {} |\n|---|---|{}\n",
        entries.len(),
        columns.join(" | "),
        "---|".repeat(columns.len())
    );
    for e in entries {
        let values: Vec<String> = cells(e).iter().map(|c| md::cell(c)).collect();
        out.push_str(&format!(
            "| {} | {} | {} |\n",
            md::code(&e.name),
            claim_cell(e),
            values.join(" | ")
        ));
    }
    out.push('\n');
    out
}

/// `netconform gate`'s command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateArgs {
    pub baseline: PathBuf,
    pub candidate: PathBuf,
    pub force: bool,
    /// `--allow-removed NAME`: trials the candidate may lack.
    pub allow_removed: Vec<String>,
    /// Also write the summary here (it is always printed on stdout).
    pub markdown: Option<PathBuf>,
}

impl GateArgs {
    /// Parses the arguments after `gate`; the error is one line with the usage.
    pub fn parse(args: &[String]) -> Result<GateArgs, String> {
        let parsed = super::args::parse(args, &["--force"], &["--allow-removed"], USAGE)?;
        let force = parsed.has("--force");
        let allow_removed = parsed.values_of("--allow-removed");
        match <[PathBuf; 2]>::try_from(parsed.paths) {
            Ok([baseline, candidate]) => Ok(GateArgs {
                baseline,
                candidate,
                force,
                allow_removed,
                markdown: parsed.markdown,
            }),
            Err(paths) => Err(format!(
                "gate takes two reports, got {}; usage: {USAGE}",
                paths.len()
            )),
        }
    }
}

/// What `netconform gate` prints and exits with.
#[derive(Debug, Clone)]
pub struct GateRun {
    pub markdown: String,
    pub exit_code: u8,
    pub comparison: Comparison,
}

/// Everything `netconform gate` does but printing: read both reports, compare, render, write `--markdown`.
pub fn run(args: &GateArgs) -> Result<GateRun, GateError> {
    let baseline = read::read_report(&args.baseline)?;
    let candidate = read::read_report(&args.candidate)?;
    let comparison =
        Comparison::allowing_removed(baseline, candidate, args.force, &args.allow_removed)?;
    let markdown = comparison.markdown();
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).map_err(|source| GateError::WriteMarkdown {
            path: path.clone(),
            source,
        })?;
    }
    Ok(GateRun {
        exit_code: comparison.exit_code(),
        markdown,
        comparison,
    })
}

#[cfg(test)]
mod tests {
    use super::super::read::tests::{failed, flaky, parse, record, with_finding};
    use super::super::{RunInfo, RunStatus, TrialOutcome, TrialRecord, fixtures};
    use super::*;
    use crate::cluster::TargetKind;

    fn skipped(reason: &str) -> TrialOutcome {
        TrialOutcome::Skipped {
            reason: reason.into(),
        }
    }

    /// A run of `kind` on `version`; its run id tells it from a run on another target or version.
    fn info(kind: TargetKind, version: &str) -> RunInfo {
        RunInfo {
            run_id: format!("{kind}-{version}"),
            server_version: Some(version.into()),
            ..fixtures::run_info(Some(kind))
        }
    }

    /// One trial per class, by name.
    fn pair() -> (Vec<TrialRecord>, Vec<TrialRecord>) {
        let baseline = vec![
            record("a::regressed::x", TrialOutcome::Passed),
            record("a::lost::x", TrialOutcome::Passed),
            record("a::flaky::x", TrialOutcome::Passed),
            record("a::fixed::x", failed("check: old")),
            record("a::still_failing::x", failed("check: both")),
            record("a::skipped_in_one::x", skipped("no load balancer")),
            record("a::removed::x", TrialOutcome::Passed),
            record("a::still_skipped::x", skipped("not disruptive")),
            with_finding(record("a::passing::x", TrialOutcome::Passed), "old finding"),
        ];
        let candidate = vec![
            record(
                "a::regressed::x",
                failed("check: the hosts file\nexpected: a\nobserved: b"),
            ),
            record("a::lost::x", skipped("the cluster is IPv4-only")),
            flaky("a::flaky::x"),
            record("a::fixed::x", TrialOutcome::Passed),
            record("a::still_failing::x", failed("check: both")),
            record("a::skipped_in_one::x", TrialOutcome::Passed),
            record("a::new::x", TrialOutcome::Passed),
            record("a::still_skipped::x", skipped("not disruptive")),
            with_finding(
                with_finding(record("a::passing::x", TrialOutcome::Passed), "old finding"),
                "new <TAB> finding",
            ),
        ];
        (baseline, candidate)
    }

    fn compare(b: &[TrialRecord], c: &[TrialRecord]) -> Comparison {
        Comparison::new(
            parse(&info(TargetKind::Kind, "v1.33.1"), b),
            parse(&info(TargetKind::Existing, "v1.34.0"), c),
            false,
        )
        .unwrap()
    }

    #[test]
    fn every_class_from_runner_reports() {
        let (b, c) = pair();
        let cmp = compare(&b, &c);
        let classes: Vec<(&str, Class)> = cmp
            .entries
            .iter()
            .map(|e| (e.name.as_str(), e.class))
            .collect();
        assert_eq!(
            classes,
            vec![
                ("a::regressed::x", Class::Regressed),
                ("a::lost::x", Class::LostCoverage),
                ("a::removed::x", Class::Removed),
                ("a::flaky::x", Class::Flaky),
                ("a::fixed::x", Class::Fixed),
                ("a::still_failing::x", Class::StillFailing),
                ("a::skipped_in_one::x", Class::SkippedInOne),
                ("a::new::x", Class::New),
                ("a::still_skipped::x", Class::StillSkipped),
                ("a::passing::x", Class::StillPassing),
            ]
        );
        assert!(!cmp.passed());
        assert_eq!(cmp.exit_code(), EXIT_REGRESSED);
        assert_eq!(cmp.new_findings.len(), 1);
        assert_eq!(cmp.new_findings[0].finding.doc_says, "new <TAB> finding");
        assert!(!cmp.forced, "kind and existing are both clusters");
    }

    #[test]
    fn the_state_table() {
        use TrialState::*;
        let flaky = Flaky {
            failed_attempts: 1,
            first_failure: "x".into(),
        };
        let failed = Failed {
            failure: crate::failure::Failure::from_text(FailureKind::Assertion, "x"),
            diagnostics: String::new(),
            attempts: 1,
        };
        let skipped = Skipped { reason: "r".into() };
        let cases = [
            (Some(&Passed), Some(&Passed), Some(Class::StillPassing)),
            (Some(&flaky), Some(&Passed), Some(Class::StillPassing)),
            (Some(&Passed), Some(&flaky), Some(Class::Flaky)),
            (Some(&failed), Some(&flaky), Some(Class::Flaky)),
            (Some(&skipped), Some(&flaky), Some(Class::Flaky)),
            (Some(&flaky), Some(&failed), Some(Class::Regressed)),
            (Some(&flaky), Some(&skipped), Some(Class::LostCoverage)),
            (Some(&failed), Some(&skipped), Some(Class::SkippedInOne)),
            (Some(&skipped), Some(&failed), Some(Class::SkippedInOne)),
            (Some(&skipped), Some(&skipped), Some(Class::StillSkipped)),
            (Some(&failed), None, Some(Class::Removed)),
            (None, Some(&failed), Some(Class::New)),
            (None, None, None),
        ];
        for (b, c, want) in cases {
            assert_eq!(classify(b, c), want, "{b:?} -> {c:?}");
        }
    }

    #[test]
    fn no_regression_exits_0_even_with_flaky_and_fixed() {
        let b = vec![
            record("a::b::c", failed("check: x")),
            record("a::b::d", TrialOutcome::Passed),
            record("a::b::e", failed("check: y")),
        ];
        let c = vec![
            record("a::b::c", TrialOutcome::Passed),
            flaky("a::b::d"),
            record("a::b::e", skipped("no IPv6")),
        ];
        let cmp = compare(&b, &c);
        assert!(cmp.passed());
        assert_eq!(cmp.exit_code(), EXIT_PASSED);
        let md = cmp.markdown();
        assert!(
            md.starts_with("## netconform gate: ✅ passed — no regression (1 flaky)\n"),
            "{md}"
        );
    }

    #[test]
    fn mixed_targets_are_refused_unless_forced() {
        let (b, c) = pair();
        let sim = parse(
            &info(TargetKind::Simulated, "v1.33.1+netconform-double"),
            &b,
        );
        let kind = parse(&info(TargetKind::Kind, "v1.34.0"), &c);
        let err = Comparison::new(sim.clone(), kind.clone(), false).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_INPUT);
        assert_eq!(
            err.to_string(),
            "refusing to compare a simulated report (r.xml) with a kind report (r.xml): different kinds of target; --force compares them anyway"
        );
        let forced = Comparison::new(sim, kind, true).unwrap();
        assert!(forced.forced);
        let md = forced.markdown();
        assert!(md.contains("> **Forced** (`--force`)"), "{md}");
        assert!(md.contains("> **Simulated**"), "{md}");
        // A run that found no target is not a cluster either.
        let none = parse(&run_none(), &c);
        assert!(
            Comparison::new(
                parse(&info(TargetKind::Kind, "v1"), &b),
                none.clone(),
                false
            )
            .is_err()
        );
        let another_none = RunInfo {
            run_id: "another".into(),
            ..run_none()
        };
        let md = Comparison::new(none, parse(&another_none, &c), false)
            .unwrap()
            .markdown();
        assert!(
            md.contains("> **No target**: the baseline ran without a cluster")
                && md.contains("> **No target**: the candidate ran"),
            "{md}"
        );
    }

    fn run_none() -> RunInfo {
        fixtures::run_info(None)
    }

    /// Every needle is in `md`, each after the one before.
    fn assert_in_order(md: &str, order: &[&str]) {
        let positions: Vec<usize> = order
            .iter()
            .map(|n| md.find(n).unwrap_or_else(|| panic!("{n:?} not in\n{md}")))
            .collect();
        assert!(
            positions.windows(2).all(|w| w[0] < w[1]),
            "{order:?}\n{positions:?}\n{md}"
        );
    }

    #[test]
    fn markdown_lists_regressions_first_with_their_failure() {
        let (b, c) = pair();
        let md = compare(&b, &c).markdown();
        assert!(
            md.starts_with(
                "## netconform gate: ❌ FAILED — 1 regressed, 1 passed → skipped, 1 removed (1 flaky)\n"
            ),
            "{md}"
        );
        let at = |needle: &str| {
            md.find(needle)
                .unwrap_or_else(|| panic!("{needle:?} not in\n{md}"))
        };
        // Header: both runs.
        assert!(at("| server version | v1.33.1 | v1.34.0 |") < at("### ❌ Regressed (1)"));
        assert!(md.contains("| target | kind | existing |"));
        assert!(
            md.contains("| trials | 5 passed, 2 failed, 2 skipped |"),
            "{md}"
        );
        // Order: regressions, passed → skipped, counts, then the rest.
        let order = [
            "### ❌ Regressed (1)",
            "#### `a::regressed::x`",
            "claim: claim of a::regressed::x — [tasks/network/validate-dual-stack](https://kubernetes.io/docs/tasks/network/validate-dual-stack/)",
            "baseline: passed · candidate: FAILED",
            "```text\ncheck: the hosts file\nexpected: a\nobserved: b\n```",
            "<details><summary>diagnostics</summary>",
            "### ⚠️ Passed → skipped (1)",
            "| `a::lost::x` | claim of a::lost::x ([doc](https://kubernetes.io/docs/tasks/network/validate-dual-stack/)) | the cluster is IPv4-only |",
            "### ❌ Removed (1): in the baseline, not run by the candidate (fails the gate)",
            "| `a::removed::x` | claim of a::removed::x ([doc](https://kubernetes.io/docs/tasks/network/validate-dual-stack/)) | passed |",
            "### Counts",
            "| **regressed** | 1 |",
            "### Flaky (1)",
            "| `a::flaky::x` | claim of a::flaky::x ([doc](https://kubernetes.io/docs/tasks/network/validate-dual-stack/)) | passed | 1 | check: nslookup |",
            "### Fixed (1)",
            "| FAILED: check: old |",
            "### Still failing (1)",
            "### Skipped in one (1)",
            "| skipped: no load balancer | passed |",
            "### New (1)",
            "### Doc findings new in the candidate (1)",
            "- `a::passing::x` ([tasks/network/validate-dual-stack](https://kubernetes.io/docs/tasks/network/validate-dual-stack/)): the doc says new &lt;TAB&gt; finding; the cluster shows something else\n",
            "<details><summary>still skipped (1)</summary>",
            "- `a::still_skipped::x`: not disruptive",
            "<details><summary>still passing (1)</summary>",
        ];
        assert_in_order(&md, &order);
        assert!(!md.contains("old finding"), "{md}");
    }

    /// A candidate that ran 1 of 3 trials (`-- --exact`) used to pass with "Removed (2)".
    #[test]
    fn a_trial_missing_from_the_candidate_fails_unless_allowed_by_name() {
        let b = vec![
            record("a::b::one", TrialOutcome::Passed),
            record("a::b::two", TrialOutcome::Passed),
            record("a::b::three", failed("check: x")),
        ];
        let c = vec![record("a::b::one", TrialOutcome::Passed)];
        let cmp = compare(&b, &c);
        assert_eq!(cmp.exit_code(), EXIT_REGRESSED);
        assert_eq!(cmp.count(Class::Removed), 2);
        let md = cmp.markdown();
        assert!(
            md.starts_with("## netconform gate: ❌ FAILED — 2 removed\n"),
            "{md}"
        );
        assert!(md.contains("### ❌ Removed (2)"), "{md}");

        let allow = |names: &[&str]| {
            Comparison::allowing_removed(
                parse(&info(TargetKind::Kind, "v1.33.1"), &b),
                parse(&info(TargetKind::Kind, "v1.34.0"), &c),
                false,
                &names.iter().map(|n| n.to_string()).collect::<Vec<_>>(),
            )
        };
        let partly = allow(&["a::b::two"]).unwrap();
        assert_eq!(
            partly.exit_code(),
            EXIT_REGRESSED,
            "a::b::three is not allowed"
        );
        let all = allow(&["a::b::two", "a::b::three"]).unwrap();
        assert_eq!(all.exit_code(), EXIT_PASSED);
        assert_eq!(all.count(Class::RemovedAllowed), 2);
        assert!(all.markdown().contains("### Removed (allowed) (2)"));
        // A name the baseline does not have is a typo, not a permission.
        let err = allow(&["a::b::tow"]).unwrap_err();
        assert_eq!(err.exit_code(), EXIT_INPUT);
        assert!(
            err.to_string().starts_with("--allow-removed a::b::tow: "),
            "{err}"
        );
    }

    #[test]
    fn a_report_of_a_run_that_did_not_finish_is_refused_on_either_side() {
        let (b, c) = pair();
        for status in [RunStatus::Interrupted, RunStatus::Running] {
            let unfinished = RunInfo {
                status,
                ..info(TargetKind::Kind, "v1.34.0")
            };
            let done = || parse(&info(TargetKind::Kind, "v1.33.1"), &b);
            for (baseline, candidate) in [
                (done(), parse(&unfinished, &c)),
                (parse(&unfinished, &b), done()),
            ] {
                let err = Comparison::new(baseline, candidate, true).unwrap_err();
                assert_eq!(err.exit_code(), EXIT_INPUT);
                assert!(
                    err.to_string()
                        .starts_with("refusing to gate on r.xml: the run "),
                    "{err}"
                );
            }
        }
        // A report that does not say how its run ended is refused too: the gate fails closed.
        let mut silent = parse(&info(TargetKind::Kind, "v1.33.1"), &b);
        silent.status = ReportStatus::Missing;
        let done = parse(&info(TargetKind::Kind, "v1.33.1"), &b);
        assert!(matches!(
            Comparison::new(done, silent, false),
            Err(GateError::Incomplete { .. })
        ));
    }

    #[test]
    fn long_reports_keep_the_summary_short() {
        let long = (0..200)
            .map(|i| format!("observed line {i} {}", "x".repeat(100)))
            .collect::<Vec<_>>()
            .join("\n");
        let b: Vec<TrialRecord> = (0..40)
            .map(|i| record(&format!("a::b::t{i}"), TrialOutcome::Passed))
            .collect();
        let c: Vec<TrialRecord> = (0..40)
            .map(|i| {
                record(
                    &format!("a::b::t{i}"),
                    failed(&format!("check: {i}\n{long}")),
                )
            })
            .collect();
        let md = compare(&b, &c).markdown();
        assert!(md.len() < 60_000, "{}", md.len());
        assert!(
            md.contains("… 161 more line(s) in the JUnit report"),
            "{md}"
        );
        assert!(md.contains("> check: 39\n\n(details omitted"), "{md}");
    }

    #[test]
    fn arguments() {
        let args = |s: &str| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
        assert_eq!(
            GateArgs::parse(&args("a.xml --force b.xml --markdown out.md")),
            Ok(GateArgs {
                baseline: "a.xml".into(),
                candidate: "b.xml".into(),
                force: true,
                allow_removed: vec![],
                markdown: Some("out.md".into()),
            })
        );
        assert_eq!(
            GateArgs::parse(&args(
                "a.xml b.xml --allow-removed x::y::z --allow-removed p::q::r"
            ))
            .map(|a| a.allow_removed),
            Ok(vec!["x::y::z".to_string(), "p::q::r".to_string()])
        );
        for bad in [
            "a.xml",
            "a.xml b.xml c.xml",
            "a.xml b.xml --markdown",
            "a.xml b.xml --bogus",
            "a.xml b.xml --allow-removed",
        ] {
            let err = GateArgs::parse(&args(bad)).unwrap_err();
            assert!(err.ends_with(USAGE) && !err.contains('\n'), "{err}");
        }
    }

    /// The gate told "the cluster contradicts the doc" from "a wait ran out" only in the failure text.
    #[test]
    fn regressions_are_grouped_by_failure_kind_mismatches_first() {
        use super::super::read::tests::{failed_with, timeout};
        let names = ["a::z_mismatch::x", "a::a_timeout::x", "a::old::x"];
        let b: Vec<TrialRecord> = names
            .iter()
            .map(|n| record(n, TrialOutcome::Passed))
            .collect();
        let c = vec![
            failed_with(
                names[0],
                crate::failure::ensure(false, "the hosts file", "a", "b").unwrap_err(),
            ),
            failed_with(names[1], timeout()),
            record(names[2], failed("check: from an old runner")),
        ];
        let md = compare(&b, &c).markdown();
        let order = [
            "### ❌ Regressed (3)",
            "**assertion** (1): the cluster contradicts the doc\n",
            "#### `a::z_mismatch::x`",
            "**timeout** (1): a wait ran out of its budget",
            "#### `a::a_timeout::x`",
            "**unknown** (1): the report does not say why",
            "#### `a::old::x`",
            "### Counts",
        ];
        assert_in_order(&md, &order);
        assert!(
            !md.contains("**api-error**") && !md.contains("**setup**"),
            "{md}"
        );
    }

    #[test]
    fn run_reads_writes_and_exits() {
        let dir = std::env::temp_dir().join(format!("netconform-gate-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let (b, c) = pair();
        let write = |name: &str, version: &str, records: &[TrialRecord]| {
            let path = dir.join(name);
            super::super::write_junit(&path, &info(TargetKind::Kind, version), records).unwrap();
            path
        };
        let base = write("b.xml", "v1.33.1", &b);
        let cand = write("c.xml", "v1.34.0", &c);
        let args = GateArgs {
            baseline: base.clone(),
            candidate: cand.clone(),
            force: false,
            allow_removed: vec![],
            markdown: Some(dir.join("out.md")),
        };
        let out = run(&args).unwrap();
        assert_eq!(out.exit_code, EXIT_REGRESSED);
        assert_eq!(
            std::fs::read_to_string(dir.join("out.md")).unwrap(),
            out.markdown
        );
        // The baseline compared with itself, or with a copy of itself, used to pass: refused, even forced.
        let copy = dir.join("b-copy.xml");
        std::fs::copy(&base, &copy).unwrap();
        for candidate in [&base, &copy] {
            let same = run(&GateArgs {
                candidate: candidate.clone(),
                force: true,
                markdown: None,
                ..args.clone()
            })
            .unwrap_err();
            assert!(matches!(same, GateError::SameRun { .. }), "{same}");
            assert_eq!(same.exit_code(), EXIT_INPUT);
            assert_eq!(
                same.to_string(),
                format!(
                    "refusing to compare {} with {}: both are reports of run kind-v1.33.1, and the gate compares two runs",
                    base.display(),
                    candidate.display()
                )
            );
        }
        let missing = run(&GateArgs {
            candidate: dir.join("missing.xml"),
            ..args.clone()
        })
        .unwrap_err();
        assert_eq!(missing.exit_code(), EXIT_INPUT);
        assert!(missing.to_string().starts_with("cannot read "), "{missing}");
        let unwritable = run(&GateArgs {
            markdown: Some(dir.join("no/such/dir/out.md")),
            ..args
        })
        .unwrap_err();
        assert!(matches!(unwritable, GateError::WriteMarkdown { .. }));
        std::fs::remove_dir_all(&dir).unwrap();
    }
}
