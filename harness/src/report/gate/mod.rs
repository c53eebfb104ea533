//! `netconform gate BASELINE.xml CANDIDATE.xml`: the upgrade gate. Reads two JUnit reports the suite wrote
//! (e.g. the current node image and the candidate one), matches trials by name, classifies each, and renders a
//! Markdown summary for `$GITHUB_STEP_SUMMARY` or a PR comment: regressions first, with their failure.
//!
//! Exit status: 0 no regression, 1 one or more (see [`Class::fails_gate`]), 2 an input is missing, unreadable,
//! not a netconform report or from a run that did not finish, the two reports come from one run, or they come
//! from different kinds of target (without `--force`).

mod classify;
mod cli;
mod compare;
mod markdown;

use std::path::PathBuf;

use super::RunStatus;
use super::read::{ReadError, ReportStatus};

pub use classify::{Class, classify};
pub use cli::{GateArgs, GateRun, run};
pub use compare::{Comparison, Entry, NewFinding};

pub const EXIT_PASSED: u8 = 0;
pub const EXIT_REGRESSED: u8 = 1;
pub const EXIT_INPUT: u8 = 2;

pub const USAGE: &str = "netconform gate BASELINE.xml CANDIDATE.xml [--force] [--allow-removed TRIAL]... [--markdown OUT.md]";

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

#[cfg(test)]
mod tests {
    use super::super::read::TrialState;
    use super::super::read::tests::{failed, flaky, parse, record, with_finding};
    use super::super::{RunInfo, RunStatus, TrialOutcome, TrialRecord, fixtures};
    use super::*;
    use crate::cluster::TargetKind;
    use crate::failure::FailureKind;

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
