//! The gate's Markdown summary for `$GITHUB_STEP_SUMMARY` or a PR comment: regressions first, with their
//! failure, while the budget lasts.

use super::classify::Class;
use super::compare::{Comparison, Entry};
use crate::failure::FailureKind;
use crate::report::markdown as md;
use crate::report::read::{self, TargetClass, TrialResult, TrialState};

/// Lines of a regression's failure shown in the summary (the JUnit report has it all).
const FAILURE_LINES: usize = 40;

const DIAGNOSTICS_LINES: usize = 40;

/// Characters of failure details in one summary; later regressions get their headline only. GitHub caps a
/// PR comment at 65,536 characters and a step summary at 1 MiB.
const DETAIL_BUDGET: usize = 40_000;

impl Comparison {
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
