//! `netconform claims REPORT.xml...`: the doc-claims matrix, the view a platform team reads before an upgrade.
//! Rows are the docs' claims (one per trial, grouped by doc page and linked to it), columns the Kubernetes
//! versions of the reports (oldest first), cells what each version did with the claim. Pages and trials are
//! sorted, so the matrices of two upgrades can be diffed. Each trial names the seed claims it checks, from the
//! claims index; `--coverage` prints the index's coverage of the seeds instead ([`super::coverage`]).

use std::collections::BTreeMap;
use std::path::PathBuf;

use super::markdown as md;
use super::read::{self, ReadError, RunReport, TargetClass, TrialResult, TrialState};
use crate::claims_index::ClaimsIndex;
use crate::failure::FailureKind;

pub const USAGE: &str =
    "netconform claims (REPORT.xml... | --coverage) [--index PATH] [--markdown OUT.md]";

#[derive(Debug, thiserror::Error)]
pub enum ClaimsError {
    #[error(transparent)]
    Read(#[from] ReadError),
    #[error(transparent)]
    Index(#[from] crate::claims_index::IndexError),
    #[error("cannot write {}: {source}", path.display())]
    WriteMarkdown {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

impl ClaimsError {
    /// Like the gate: 2 for an input or output problem.
    pub fn exit_code(&self) -> u8 {
        2
    }
}

/// What one version did with one claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cell {
    Pass,
    /// Failed, of this kind: the cluster contradicts the doc, or the harness could not tell.
    Fail(FailureKind),
    /// Passed, and the doc and the cluster disagree (a doc finding).
    Finding,
    Skipped,
    /// Passed on a rerun.
    Flaky,
    /// Not in that report.
    Absent,
}

impl Cell {
    pub fn of(trial: Option<&TrialResult>) -> Cell {
        match trial {
            None => Cell::Absent,
            Some(t) => match &t.state {
                TrialState::Passed if t.findings.is_empty() => Cell::Pass,
                TrialState::Passed => Cell::Finding,
                TrialState::Flaky { .. } => Cell::Flaky,
                TrialState::Failed { failure, .. } => Cell::Fail(failure.kind),
                TrialState::Skipped { .. } => Cell::Skipped,
            },
        }
    }

    pub fn markdown(self) -> &'static str {
        match self {
            Cell::Pass => "pass",
            // A report written before kinds reads as it did.
            Cell::Fail(FailureKind::Assertion | FailureKind::Unknown) => "**FAIL**",
            Cell::Fail(FailureKind::Timeout) => "**FAIL** (timeout)",
            Cell::Fail(FailureKind::ApiError) => "**FAIL** (api-error)",
            Cell::Fail(FailureKind::Setup) => "**FAIL** (setup)",
            Cell::Finding => "finding",
            Cell::Skipped => "skipped",
            Cell::Flaky => "flaky",
            Cell::Absent => "—",
        }
    }
}

/// One claim (one trial) across the reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Row {
    pub trial: String,
    pub claim: String,
    pub cells: Vec<Cell>,
}

/// The claims of one doc page.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Page {
    pub doc_url: String,
    pub rows: Vec<Row>,
    /// (trial, doc says, cluster shows as the newest report saw it, labels of the columns that saw it).
    pub findings: Vec<(String, String, String, Vec<String>)>,
}

#[derive(Debug, Clone)]
pub struct Matrix {
    /// The reports, oldest server version first.
    pub reports: Vec<RunReport>,
    /// Column headers, one per report.
    pub labels: Vec<String>,
    pub pages: Vec<Page>,
    /// Each trial's seed claim ids, from the claims index (empty without one).
    pub seed_claims: BTreeMap<String, Vec<String>>,
}

/// Builds the matrix; reports are ordered by server version (unparsable versions last, in input order).
pub fn matrix(mut reports: Vec<RunReport>) -> Matrix {
    reports.sort_by_key(|r| version_key(&r.server_version).map_or((1, (0, 0, 0)), |v| (0, v)));
    let labels = labels(&reports);
    // A claim's text and page come from the newest report that has the trial.
    let mut newest: BTreeMap<&str, &TrialResult> = BTreeMap::new();
    let mut order: Vec<&str> = Vec::new();
    for report in &reports {
        for trial in &report.trials {
            if newest.insert(&trial.name, trial).is_none() {
                order.push(&trial.name);
            }
        }
    }
    let mut pages: Vec<Page> = Vec::new();
    for name in order {
        let Some(trial) = newest.get(name) else {
            continue;
        };
        let in_each: Vec<Option<&TrialResult>> = reports.iter().map(|r| r.trial(name)).collect();
        let row = Row {
            trial: name.to_string(),
            claim: trial.claim.clone(),
            cells: in_each.iter().map(|t| Cell::of(*t)).collect(),
        };
        let index = match pages.iter().position(|p| p.doc_url == trial.doc_url) {
            Some(i) => i,
            None => {
                pages.push(Page {
                    doc_url: trial.doc_url.clone(),
                    rows: Vec::new(),
                    findings: Vec::new(),
                });
                pages.len() - 1
            }
        };
        let page = &mut pages[index];
        page.rows.push(row);
        for (label, t) in labels.iter().zip(&in_each) {
            for f in t.iter().flat_map(|t| &t.findings) {
                match page
                    .findings
                    .iter_mut()
                    .find(|(n, says, _, _)| n == name && *says == f.doc_says)
                {
                    Some((_, _, shows, seen)) => {
                        *shows = f.cluster_shows.clone();
                        seen.push(label.clone());
                    }
                    None => page.findings.push((
                        name.to_string(),
                        f.doc_says.clone(),
                        f.cluster_shows.clone(),
                        vec![label.clone()],
                    )),
                }
            }
        }
    }
    // Reports list trials in the order they finished: sorted, two matrices of the same runs read the same.
    pages.sort_by(|a, b| a.doc_url.cmp(&b.doc_url));
    for page in &mut pages {
        page.rows.sort_by(|a, b| a.trial.cmp(&b.trial));
        page.findings.sort();
    }
    Matrix {
        reports,
        labels,
        pages,
        seed_claims: BTreeMap::new(),
    }
}

/// `v1.34.0+netconform-double` -> (1, 34, 0).
fn version_key(version: &str) -> Option<(u64, u64, u64)> {
    let core = version.trim().trim_start_matches('v');
    let core = core.split(['+', '-']).next().unwrap_or(core);
    let mut parts = core.split('.').map(|p| p.parse::<u64>().ok());
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// The server version; the node image (then the run id, then a number) when versions tie.
fn labels(reports: &[RunReport]) -> Vec<String> {
    let mut labels: Vec<String> = reports.iter().map(|r| r.server_version.clone()).collect();
    let extras: [fn(&RunReport) -> &str; 2] = [|r| &r.node_image, |r| &r.run_id];
    for extra in extras {
        // Appended where labels tie and the value tells the tied reports apart.
        let tells_apart: Vec<bool> = (0..labels.len())
            .map(|i| {
                let tied: Vec<&str> = (0..labels.len())
                    .filter(|j| labels[*j] == labels[i])
                    .map(|j| extra(&reports[j]))
                    .collect();
                tied.iter().any(|v| *v != extra(&reports[i]))
            })
            .collect();
        for ((label, report), append) in labels.iter_mut().zip(reports).zip(tells_apart) {
            let value = extra(report);
            if append && !value.is_empty() && value != "n/a" {
                label.push_str(&format!(" · {value}"));
            }
        }
    }
    let counts: Vec<usize> = labels
        .iter()
        .map(|l| labels.iter().filter(|o| *o == l).count())
        .collect();
    let mut numbered = Vec::new();
    for (i, (label, count)) in labels.iter().zip(counts).enumerate() {
        numbered.push(if count > 1 {
            format!("{label} #{}", i + 1)
        } else {
            label.clone()
        });
    }
    numbered
        .into_iter()
        .zip(reports)
        .map(|(label, r)| {
            if r.target_class() == TargetClass::Simulated {
                format!("{label} (simulated)")
            } else {
                label
            }
        })
        .collect()
}

impl Matrix {
    pub fn markdown(&self) -> String {
        let rows: usize = self.pages.iter().map(|p| p.rows.len()).sum();
        let fails = self
            .pages
            .iter()
            .flat_map(|p| &p.rows)
            .filter(|r| r.cells.iter().any(|c| matches!(c, Cell::Fail(_))))
            .count();
        let mut out = format!(
            "## netconform doc claims: {rows} claim(s) × {} report(s){}\n\n",
            self.reports.len(),
            if fails > 0 {
                format!(", {fails} FAIL in at least one")
            } else {
                String::new()
            }
        );
        out.push_str(
            "| column | target | server version | node image | IP families | run id | report |\n|---|---|---|---|---|---|---|\n",
        );
        for (label, r) in self.labels.iter().zip(&self.reports) {
            out.push_str(&format!(
                "| {} | {} | {} | {} | {} | {} | {} |\n",
                md::cell(label),
                md::cell(&r.target.to_string()),
                md::cell(&r.server_version),
                md::cell(&r.node_image),
                md::cell(&r.ip_families),
                md::cell(&r.run_id),
                md::code(&r.path.display().to_string())
            ));
        }
        if self
            .reports
            .iter()
            .any(|r| r.target_class() == TargetClass::Simulated)
        {
            out.push_str("\n> **Simulated** columns come from the netconform-double test double, not a cluster.\n");
        }
        out.push_str(
            "\nCells: pass · **FAIL** (the cluster contradicts the doc; in a report written before failure kinds, any failure) · **FAIL** (timeout, api-error or setup: a wait ran out, an API call failed, or the harness could not run the trial) · finding (passes; the doc and the cluster disagree, listed under the table) · flaky (passed on a rerun) · skipped · — (not in that report)\n\n",
        );
        for page in &self.pages {
            out.push_str(&format!(
                "### {}\n\n| claim | trial |{}\n|---|---|{}\n",
                if page.doc_url.is_empty() {
                    "(no doc page)".to_string()
                } else {
                    md::link(md::doc_page(&page.doc_url), &page.doc_url)
                },
                self.labels
                    .iter()
                    .map(|l| format!(" {} |", md::cell(l)))
                    .collect::<String>(),
                ":-:|".repeat(self.labels.len())
            ));
            for row in &page.rows {
                let seed_claims = match self.seed_claims.get(&row.trial) {
                    Some(ids) => format!(" (seed {})", ids.join(", ")),
                    None => String::new(),
                };
                out.push_str(&format!(
                    "| {} | {}{seed_claims} |{}\n",
                    md::cell(&row.claim),
                    md::code(&row.trial),
                    row.cells
                        .iter()
                        .map(|c| format!(" {} |", c.markdown()))
                        .collect::<String>()
                ));
            }
            if !page.findings.is_empty() {
                out.push_str("\nDoc findings:\n\n");
                for (trial, says, shows, seen) in &page.findings {
                    out.push_str(&format!(
                        "- {} ({}): the doc says {}; the cluster shows {}\n",
                        md::code(trial),
                        md::cell(&seen.join(", ")),
                        md::cell(says),
                        md::cell(read::headline(shows))
                    ));
                }
            }
            out.push('\n');
        }
        out
    }
}

/// `netconform claims`' command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimsArgs {
    pub reports: Vec<PathBuf>,
    pub markdown: Option<PathBuf>,
    /// `--index PATH`: the claims index; by default `suites/claims.yaml` under the workspace root.
    pub index: Option<PathBuf>,
    /// `--coverage`: the index's coverage of the seeds, no reports.
    pub coverage: bool,
}

impl ClaimsArgs {
    pub fn parse(args: &[String]) -> Result<ClaimsArgs, String> {
        let parsed = super::args::parse(args, &["--coverage"], &["--index"], USAGE)?;
        let coverage = parsed.has("--coverage");
        if parsed.paths.is_empty() && !coverage {
            return Err(format!(
                "claims takes one or more reports, or --coverage; usage: {USAGE}"
            ));
        }
        if !parsed.paths.is_empty() && coverage {
            return Err(format!("--coverage takes no reports; usage: {USAGE}"));
        }
        let index = parsed.values_of("--index").pop().map(PathBuf::from);
        Ok(ClaimsArgs {
            reports: parsed.paths,
            markdown: parsed.markdown,
            index,
            coverage,
        })
    }
}

/// Everything `netconform claims` does but printing: read, build, render, write `--markdown`.
pub fn run(args: &ClaimsArgs) -> Result<String, ClaimsError> {
    let markdown = if args.coverage {
        // Shown as given, or as the default's path in the workspace (not this machine's absolute path).
        let shown = args.index.as_ref().map_or(
            PathBuf::from(crate::claims_index::DEFAULT_PATH),
            PathBuf::clone,
        );
        super::coverage::markdown(&ClaimsIndex::load(&index_path(args))?, &shown)
    } else {
        let reports = args
            .reports
            .iter()
            .map(|p| read::read_report(p))
            .collect::<Result<Vec<_>, _>>()?;
        let mut matrix = matrix(reports);
        // Without a checkout (no index at the default path) the matrix goes without seed claim ids.
        let path = index_path(args);
        if args.index.is_some() || path.exists() {
            matrix.seed_claims = seed_claims(&ClaimsIndex::load(&path)?);
        }
        matrix.markdown()
    };
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).map_err(|source| ClaimsError::WriteMarkdown {
            path: path.clone(),
            source,
        })?;
    }
    Ok(markdown)
}

/// `--index`, else the default path under the workspace root of the current directory.
fn index_path(args: &ClaimsArgs) -> PathBuf {
    args.index.clone().unwrap_or_else(|| {
        let cwd = std::env::current_dir().unwrap_or_else(|_| PathBuf::from("."));
        ClaimsIndex::default_path(&cwd)
    })
}

fn seed_claims(index: &ClaimsIndex) -> BTreeMap<String, Vec<String>> {
    index
        .claims_by_trial()
        .into_iter()
        .map(|(trial, ids)| {
            (
                trial.to_string(),
                ids.into_iter().map(String::from).collect(),
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::read::tests::{failed, flaky, parse, record, with_finding};
    use super::super::{RunInfo, TrialOutcome, fixtures};
    use super::*;
    use crate::cluster::TargetKind;
    use std::path::Path;

    fn report(version: &str, image: &str, outcomes: Vec<super::super::TrialRecord>) -> RunReport {
        let run = RunInfo {
            server_version: Some(version.into()),
            node_image: Some(image.into()),
            ..fixtures::run_info(Some(TargetKind::Kind))
        };
        parse(&run, &outcomes)
    }

    fn one() -> Vec<super::super::TrialRecord> {
        vec![record("a::b::c", TrialOutcome::Passed)]
    }

    fn hosts(name: &str, outcome: TrialOutcome) -> super::super::TrialRecord {
        let mut r = record(name, outcome);
        r.doc_url =
            "https://kubernetes.io/docs/tasks/network/customize-hosts-file-for-pods/".into();
        r
    }

    #[test]
    fn columns_by_version_rows_by_page() {
        let newer = report(
            "v1.34.0",
            "kindest/node:v1.34.0",
            vec![
                hosts("hostaliases::a::x", failed("check: x")),
                with_finding(
                    record("dual_stack::b::y", TrialOutcome::Passed),
                    "four spaces",
                ),
                flaky("dual_stack::b::z"),
            ],
        );
        let older = report(
            "v1.33.1",
            "kindest/node:v1.33.1",
            vec![
                hosts("hostaliases::a::x", TrialOutcome::Passed),
                with_finding(
                    record("dual_stack::b::y", TrialOutcome::Passed),
                    "four spaces",
                ),
                record(
                    "dual_stack::b::w",
                    TrialOutcome::Skipped {
                        reason: "no LB".into(),
                    },
                ),
            ],
        );
        let m = matrix(vec![newer, older]);
        assert_eq!(m.labels, vec!["v1.33.1", "v1.34.0"]);
        assert_eq!(m.pages.len(), 2);
        assert_eq!(
            m.pages[0].rows[0],
            Row {
                trial: "hostaliases::a::x".into(),
                claim: "claim of hostaliases::a::x".into(),
                cells: vec![Cell::Pass, Cell::Fail(FailureKind::Unknown)],
            }
        );
        let cells: Vec<Vec<Cell>> = m.pages[1].rows.iter().map(|r| r.cells.clone()).collect();
        assert_eq!(
            cells,
            vec![
                vec![Cell::Skipped, Cell::Absent],
                vec![Cell::Finding, Cell::Finding],
                vec![Cell::Absent, Cell::Flaky],
            ]
        );
        assert_eq!(m.pages[1].findings.len(), 1);
        assert_eq!(m.pages[1].findings[0].3, vec!["v1.33.1", "v1.34.0"]);

        let md = m.markdown();
        assert!(
            md.starts_with(
                "## netconform doc claims: 4 claim(s) × 2 report(s), 1 FAIL in at least one\n"
            ),
            "{md}"
        );
        for needle in [
            "### [tasks/network/customize-hosts-file-for-pods](https://kubernetes.io/docs/tasks/network/customize-hosts-file-for-pods/)\n\n| claim | trial | v1.33.1 | v1.34.0 |\n|---|---|:-:|:-:|\n| claim of hostaliases::a::x | `hostaliases::a::x` | pass | **FAIL** |",
            "| claim of dual_stack::b::w | `dual_stack::b::w` | skipped | — |",
            "| claim of dual_stack::b::z | `dual_stack::b::z` | — | flaky |",
            "- `dual_stack::b::y` (v1.33.1, v1.34.0): the doc says four spaces; the cluster shows something else",
            "| v1.34.0 | kind | v1.34.0 | kindest/node:v1.34.0 | IPv4,IPv6 | r1a2b3 | `r.xml` |",
        ] {
            assert!(md.contains(needle), "{needle:?} not in\n{md}");
        }
        assert!(!md.contains("Simulated"), "{md}");
    }

    #[test]
    fn a_failed_cell_says_when_the_claim_was_not_checked_to_the_end() {
        use super::super::read::tests::{failed_with, timeout};
        let m = matrix(vec![report(
            "v1.34.0",
            "n/a",
            vec![
                failed_with("a::b::slow", timeout()),
                failed_with(
                    "a::b::wrong",
                    crate::failure::ensure(false, "x", "1", "2").unwrap_err(),
                ),
            ],
        )]);
        let cells: Vec<Cell> = m.pages[0]
            .rows
            .iter()
            .flat_map(|r| r.cells.clone())
            .collect();
        assert_eq!(
            cells,
            [
                Cell::Fail(FailureKind::Timeout),
                Cell::Fail(FailureKind::Assertion)
            ]
        );
        let md = m.markdown();
        assert!(md.contains("| `a::b::slow` | **FAIL** (timeout) |"), "{md}");
        assert!(md.contains("| `a::b::wrong` | **FAIL** |"), "{md}");
    }

    #[test]
    fn trials_name_their_seed_claims() {
        let mut m = matrix(vec![report(
            "v1.34.0",
            "n/a",
            vec![
                hosts("hostaliases::a::x", TrialOutcome::Passed),
                hosts("hostaliases::a::y", TrialOutcome::Passed),
            ],
        )]);
        m.seed_claims
            .insert("hostaliases::a::x".into(), vec!["H1".into(), "H4".into()]);
        let md = m.markdown();
        assert!(
            md.contains("| `hostaliases::a::x` (seed H1, H4) | pass |"),
            "{md}"
        );
        assert!(md.contains("| `hostaliases::a::y` | pass |"), "{md}");
    }

    /// The project's index, as `netconform claims --coverage` prints it.
    #[test]
    fn coverage_of_the_projects_index() {
        let index = crate::config::workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")))
            .join(crate::claims_index::DEFAULT_PATH);
        let md = run(&ClaimsArgs {
            reports: vec![],
            markdown: None,
            index: Some(index),
            coverage: true,
        })
        .unwrap();
        assert!(md.starts_with("## netconform seed coverage: "), "{md}");
    }

    #[test]
    fn tied_versions_take_the_node_image_then_a_number() {
        let a = report("v1.34.0", "kindest/node:v1.34.0@sha256:aa", one());
        let b = report("v1.34.0", "kindest/node:v1.34.0@sha256:bb", one());
        let c = report("v1.34.0", "kindest/node:v1.34.0@sha256:bb", one());
        assert_eq!(
            labels(&[a, b, c]),
            vec![
                "v1.34.0 · kindest/node:v1.34.0@sha256:aa",
                "v1.34.0 · kindest/node:v1.34.0@sha256:bb #2",
                "v1.34.0 · kindest/node:v1.34.0@sha256:bb #3",
            ]
        );
        let mut sim = report("v1.33.1+netconform-double", "n/a", one());
        sim.target = read::ReportTarget::Known(TargetKind::Simulated);
        assert_eq!(
            labels(&[sim]),
            vec!["v1.33.1+netconform-double (simulated)"]
        );
    }

    #[test]
    fn versions_sort_numerically_unknown_last() {
        assert_eq!(version_key("v1.33.1+netconform-double"), Some((1, 33, 1)));
        assert_eq!(version_key("v1.9.0"), Some((1, 9, 0)));
        assert_eq!(version_key("unknown"), None);
        let m = matrix(vec![
            report("unknown", "n/a", one()),
            report("v1.10.0", "n/a", one()),
            report("v1.9.3", "n/a", one()),
        ]);
        assert_eq!(m.labels, vec!["v1.9.3", "v1.10.0", "unknown"]);
    }

    #[test]
    fn arguments() {
        let args = |s: &str| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
        assert_eq!(
            ClaimsArgs::parse(&args("a.xml b.xml --markdown m.md")),
            Ok(ClaimsArgs {
                reports: vec!["a.xml".into(), "b.xml".into()],
                markdown: Some("m.md".into()),
                index: None,
                coverage: false,
            })
        );
        assert!(ClaimsArgs::parse(&args("--markdown m.md")).is_err());
        let coverage = ClaimsArgs::parse(&args("--coverage --index i.yaml")).unwrap();
        assert!(coverage.coverage && coverage.reports.is_empty());
        assert_eq!(coverage.index, Some("i.yaml".into()));
        assert!(ClaimsArgs::parse(&args("a.xml --coverage")).is_err());
        let no_index = ClaimsArgs::parse(&args("--coverage --index /nonexistent/i.yaml")).unwrap();
        assert_eq!(run(&no_index).unwrap_err().exit_code(), 2);
        assert!(ClaimsArgs::parse(&args("a.xml --x")).is_err());
        let missing = run(&ClaimsArgs::parse(&args("/nonexistent/a.xml")).unwrap()).unwrap_err();
        assert_eq!(missing.exit_code(), 2);
    }
}
