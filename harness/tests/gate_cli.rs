//! The `netconform gate` and `netconform claims` binaries on JUnit reports the conformance runner wrote
//! (tests/fixtures/gate/, simulated runs against the netconform-double TEST DOUBLE), regenerated with:
//!
//!   T="hostaliases::hostaliases_pod::alias_section hostaliases::nginx::default_entries dual_stack::prefer_ipv6_lb_svc::external_ip_first_family"
//!   NETCONFORM_TARGET=sim NETCONFORM_RUN_ID=baseline NETCONFORM_JUNIT=/tmp/baseline.xml \
//!     cargo test -p netconform-suites --test conformance -- --exact $T hostaliases::subdomain::fqdn_entries
//!   NETCONFORM_TARGET=sim NETCONFORM_RUN_ID=candidate NETCONFORM_SIM_DEVIATIONS=hosts-no-alias-section \
//!     NETCONFORM_LOAD_BALANCER=no NETCONFORM_JUNIT=/tmp/candidate.xml \
//!     cargo test -p netconform-suites --test conformance -- --exact $T hostaliases::own_mount::not_managed
//!
//! Every class of the gate is covered on live runs by suites/tests/gate_reports.rs; this file checks the
//! binary itself: stdout, the one stderr line, exit codes 0/1/2, `--markdown`, `--force`.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

const NETCONFORM: &str = env!("CARGO_BIN_EXE_netconform");

fn fixture(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures/gate")
        .join(name)
}

fn netconform(args: &[&Path]) -> Output {
    Command::new(NETCONFORM).args(args).output().unwrap()
}

fn stdout(out: &Output) -> String {
    String::from_utf8(out.stdout.clone()).unwrap()
}

/// Errors and verdicts are one line on stderr.
fn stderr_line(out: &Output) -> String {
    let text = String::from_utf8(out.stderr.clone()).unwrap();
    assert_eq!(text.trim_end().lines().count(), 1, "{text}");
    text.trim_end().to_string()
}

fn temp_dir(name: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("netconform-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

#[test]
fn a_regression_exits_1_with_the_summary_on_stdout() {
    let (baseline, candidate) = (fixture("baseline.xml"), fixture("candidate.xml"));
    let out = netconform(&[Path::new("gate"), &baseline, &candidate]);
    assert_eq!(out.status.code(), Some(1));
    let md = stdout(&out);
    assert!(
        md.starts_with(
            "## netconform gate: ❌ FAILED — 1 regressed, 1 passed → skipped, 1 removed\n"
        ),
        "{md}"
    );
    for needle in [
        "| server version | v1.33.1+netconform-double | v1.33.1+netconform-double |",
        "#### `hostaliases::hostaliases_pod::alias_section`",
        "check: the end of the hostaliases-pod log",
        "| `dual_stack::prefer_ipv6_lb_svc::external_ip_first_family` |",
        "NETCONFORM_LOAD_BALANCER=no",
        "### New (1)",
        "### ❌ Removed (1): in the baseline, not run by the candidate (fails the gate)",
        "| `hostaliases::subdomain::fqdn_entries` |",
        "> **Simulated**",
    ] {
        assert!(md.contains(needle), "{needle:?} not in\n{md}");
    }
    assert_eq!(
        stderr_line(&out),
        format!(
            "netconform: gate failed: 3 trial(s) regressed or no longer run in {}",
            candidate.display()
        )
    );
}

#[test]
fn no_regression_exits_0_and_markdown_writes_the_same_summary() {
    let dir = temp_dir("gate-cli-md");
    let out_md = dir.join("summary.md");
    let out = netconform(&[
        Path::new("gate"),
        &fixture("candidate.xml"),
        &fixture("baseline.xml"),
        Path::new("--markdown"),
        &out_md,
        // Only the candidate fixture runs it: as a baseline it is missing from the other, and allowed here.
        Path::new("--allow-removed"),
        Path::new("hostaliases::own_mount::not_managed"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let md = stdout(&out);
    assert!(
        md.starts_with("## netconform gate: ✅ passed — no regression\n"),
        "{md}"
    );
    assert!(md.contains("### Fixed (1)"), "{md}");
    assert!(
        md.contains("### Doc findings new in the candidate (1)"),
        "{md}"
    );
    assert_eq!(std::fs::read_to_string(&out_md).unwrap(), md);
    assert!(out.stderr.is_empty());
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn bad_inputs_exit_2_with_one_line() {
    let baseline = fixture("baseline.xml");
    let candidate = fixture("candidate.xml");
    let cases: [(&[&Path], &str); 6] = [
        (
            &[
                Path::new("gate"),
                &baseline,
                Path::new("/nonexistent/c.xml"),
            ],
            "netconform: cannot read /nonexistent/c.xml: ",
        ),
        (
            &[
                Path::new("gate"),
                &baseline,
                Path::new(env!("CARGO_MANIFEST_PATH")),
            ],
            "is not a JUnit report",
        ),
        (
            &[Path::new("gate"), &baseline],
            "netconform: gate takes two reports, got 1; usage: netconform gate BASELINE.xml CANDIDATE.xml [--force] [--allow-removed TRIAL]... [--markdown OUT.md]",
        ),
        (
            &[
                Path::new("gate"),
                &baseline,
                &candidate,
                Path::new("--allow-removed"),
                Path::new("hostaliases::subdomain::fqdn_entrie"),
            ],
            "netconform: --allow-removed hostaliases::subdomain::fqdn_entrie: the baseline ",
        ),
        (
            &[
                Path::new("claims"),
                &baseline,
                Path::new("/nonexistent/c.xml"),
            ],
            "netconform: cannot read /nonexistent/c.xml: ",
        ),
        (
            &[Path::new("claims")],
            "netconform: claims takes one or more reports",
        ),
    ];
    for (args, expected) in cases {
        let out = netconform(args);
        assert_eq!(out.status.code(), Some(2), "{args:?}");
        assert!(out.stdout.is_empty(), "{args:?}");
        let line = stderr_line(&out);
        assert!(line.contains(expected), "{line}");
    }
}

#[test]
fn every_command_takes_help_and_does_nothing_else() {
    for command in ["sweep", "sim", "gate", "claims"] {
        for help in ["--help", "-h"] {
            // An unreachable kubeconfig: a sweep that ran would fail with exit 3 or 4.
            let out = Command::new(NETCONFORM)
                .args([command, "--dry-run", help])
                .env("KUBECONFIG", "/nonexistent/kubeconfig")
                .output()
                .unwrap();
            assert_eq!(out.status.code(), Some(0), "{command} {help}: {out:?}");
            let text = stdout(&out);
            assert!(
                text.starts_with(&format!("usage: netconform {command}")),
                "{command}: {text}"
            );
            assert!(out.stderr.is_empty(), "{command}: {out:?}");
        }
    }
}

#[test]
fn a_report_of_an_interrupted_run_is_refused_as_either_side() {
    let dir = temp_dir("gate-cli-interrupted");
    let interrupted = dir.join("interrupted.xml");
    let xml = std::fs::read_to_string(fixture("candidate.xml")).unwrap();
    let relabelled = xml.replace(
        r#"name="netconform.run.status" value="finished""#,
        r#"name="netconform.run.status" value="interrupted""#,
    );
    assert_ne!(relabelled, xml);
    std::fs::write(&interrupted, relabelled).unwrap();
    let baseline = fixture("baseline.xml");
    for pair in [[&baseline, &interrupted], [&interrupted, &baseline]] {
        let out = netconform(&[Path::new("gate"), pair[0], pair[1], Path::new("--force")]);
        assert_eq!(out.status.code(), Some(2));
        assert!(out.stdout.is_empty());
        let line = stderr_line(&out);
        assert!(
            line.ends_with(
                "interrupted.xml: the run was interrupted, so the trials that had not ended are missing"
            ),
            "{line}"
        );
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

/// `gate a.xml a.xml` (a copy-paste slip in a CI job) used to pass with "no regression", comparing nothing.
#[test]
fn a_report_compared_with_itself_or_a_copy_of_its_run_is_refused() {
    let dir = temp_dir("gate-cli-same-run");
    let baseline = fixture("baseline.xml");
    let copy = dir.join("copy.xml");
    std::fs::copy(&baseline, &copy).unwrap();
    for candidate in [&baseline, &copy] {
        // `--force` accepts different kinds of target, not one run twice.
        for force in [None, Some(Path::new("--force"))] {
            let mut args = vec![Path::new("gate"), baseline.as_path(), candidate.as_path()];
            args.extend(force);
            let out = netconform(&args);
            assert_eq!(out.status.code(), Some(2), "{out:?}");
            assert!(out.stdout.is_empty());
            assert_eq!(
                stderr_line(&out),
                format!(
                    "netconform: refusing to compare {} with {}: both are reports of run baseline, and the gate compares two runs",
                    baseline.display(),
                    candidate.display()
                )
            );
        }
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn a_plain_junit_report_is_not_a_netconform_report() {
    let dir = temp_dir("gate-cli-plain");
    let plain = dir.join("cargo.xml");
    std::fs::write(
        &plain,
        r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites name="nextest-run" tests="1" failures="0" errors="0">
  <testsuite name="unit" tests="1" skipped="0" errors="0" failures="0"><testcase name="a"/></testsuite>
</testsuites>
"#,
    )
    .unwrap();
    let out = netconform(&[Path::new("gate"), &plain, &fixture("candidate.xml")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(stderr_line(&out).ends_with(
        "cargo.xml is not a netconform report: it has no `netconform.target` property (no netconform trial)"
    ));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn mixed_targets_are_refused_unless_forced() {
    let dir = temp_dir("gate-cli-mixed");
    let kind = dir.join("kind.xml");
    let xml = std::fs::read_to_string(fixture("candidate.xml")).unwrap();
    let relabelled = xml.replace(
        r#"name="netconform.target" value="simulated""#,
        r#"name="netconform.target" value="kind""#,
    );
    assert_ne!(relabelled, xml);
    std::fs::write(&kind, relabelled).unwrap();
    let baseline = fixture("baseline.xml");
    let out = netconform(&[Path::new("gate"), &baseline, &kind]);
    assert_eq!(out.status.code(), Some(2));
    assert!(out.stdout.is_empty());
    let line = stderr_line(&out);
    assert!(
        line.starts_with("netconform: refusing to compare a simulated report (")
            && line.ends_with("different kinds of target; --force compares them anyway"),
        "{line}"
    );
    let out = netconform(&[Path::new("gate"), &baseline, &kind, Path::new("--force")]);
    assert_eq!(out.status.code(), Some(1));
    assert!(stdout(&out).contains("> **Forced** (`--force`)"));
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn claims_prints_the_matrix() {
    let out = netconform(&[
        Path::new("claims"),
        &fixture("baseline.xml"),
        &fixture("candidate.xml"),
    ]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let md = stdout(&out);
    assert!(
        md.starts_with(
            "## netconform doc claims: 5 claim(s) × 2 report(s), 1 FAIL in at least one\n"
        ),
        "{md}"
    );
    // Both runs served the same version: the run id tells the columns apart.
    let row = md
        .lines()
        .find(|l| l.contains("`hostaliases::hostaliases_pod::alias_section`"))
        .unwrap();
    assert!(row.ends_with("| pass | **FAIL** |"), "{row}");
    assert!(
        md.contains("| v1.33.1+netconform-double · baseline (simulated) | v1.33.1+netconform-double · candidate (simulated) |"),
        "{md}"
    );
}
