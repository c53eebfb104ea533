//! `netconform gate` and `netconform claims` on reports the suite itself writes: a few trials run by the
//! runner (`run_all`) against the netconform-double TEST DOUBLE, served on 127.0.0.1 as an `existing`
//! target, once as a baseline and once as a candidate with a deviation, a capability turned off and a rerun;
//! their records written by the runner's JUnit writer. The gate is then checked in both directions (the
//! reverse comparison turns regressed into fixed, passed → skipped into skipped-in-one, and so on), plus its
//! exit codes and its refusal of mixed targets, through `gate::run`, the function `netconform gate` calls.
//! (Its own test binary: it sets KUBECONFIG for the process.)

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::SystemTime;

use netconform::cluster::TargetKind;
use netconform::config::{Settings, TargetChoice, Toggle};
use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::report::claims::{self, ClaimsArgs};
use netconform::report::gate::{self, Class, Comparison, GateArgs, GateError};
use netconform::report::read::read_report;
use netconform::report::{RunInfo, RunStatus, write_junit};
use netconform::runner::run_all;
use netconform::trial::{TrialDef, TrialFuture};
use netconform_double::{Double, DoubleConfig};
use netconform_suites::all_trials;

const ALIAS_SECTION: &str = "hostaliases::hostaliases_pod::alias_section";
const HOST_NETWORK: &str = "hostaliases::host_network::header_and_aliases";
const DEFAULT_ENTRIES: &str = "hostaliases::nginx::default_entries";
const LOAD_BALANCER: &str = "dual_stack::prefer_ipv6_lb_svc::external_ip_first_family";
const EXHAUSTION: &str = "service_cidr::exhaustion::range_is_full";
const ONLY_BASELINE: &str = "hostaliases::subdomain::fqdn_entries";
const ONLY_CANDIDATE: &str = "hostaliases::own_mount::not_managed";
const RERUN: &str = "gate::rerun::fails_once";

/// Armed before the candidate run: the next attempt of [`fails_once`] fails, the rerun passes.
static FAIL_NEXT: AtomicBool = AtomicBool::new(false);

/// The one trial defined here: a deterministic flake (no check of the suites fails exactly once).
fn fails_once(_ctx: Ctx) -> TrialFuture {
    Box::pin(async {
        if FAIL_NEXT.swap(false, Ordering::SeqCst) {
            Err(TrialError::Harness("first attempt fails on purpose".into()))
        } else {
            Ok(())
        }
    })
}

const RERUN_TRIAL: TrialDef = TrialDef {
    name: RERUN,
    claim: "a trial that fails once and passes on the rerun is reported flaky",
    doc_url: "https://kubernetes.io/docs/tasks/network/customize-hosts-file-for-pods/",
    needs: &[],
    run: fails_once,
};

struct Run {
    file: &'static str,
    server_version: &'static str,
    deviations: &'static [&'static str],
    load_balancer: Toggle,
    retries: u32,
    trials: &'static [&'static str],
}

const BASELINE: Run = Run {
    file: "baseline.xml",
    server_version: "v1.33.1+netconform-double",
    deviations: &["hosts-host-network-unmanaged"],
    load_balancer: Toggle::Yes,
    retries: 0,
    trials: &[
        ALIAS_SECTION,
        HOST_NETWORK,
        DEFAULT_ENTRIES,
        LOAD_BALANCER,
        EXHAUSTION,
        ONLY_BASELINE,
        RERUN,
    ],
};

/// The upgrade broke the alias section, the LoadBalancer controller is gone, the flake shows up.
const CANDIDATE: Run = Run {
    file: "candidate.xml",
    server_version: "v1.34.0+netconform-double",
    deviations: &["hosts-host-network-unmanaged", "hosts-no-alias-section"],
    load_balancer: Toggle::No,
    retries: 1,
    trials: &[
        ALIAS_SECTION,
        HOST_NETWORK,
        DEFAULT_ENTRIES,
        LOAD_BALANCER,
        EXHAUSTION,
        ONLY_CANDIDATE,
        RERUN,
    ],
};

/// Serves a double for `run`, runs its trials through the runner, writes the JUnit report like the runner.
async fn produce(run: &Run, dir: &Path) -> PathBuf {
    let double = Double::start(DoubleConfig {
        deviations: run.deviations.iter().map(|d| d.to_string()).collect(),
        server_version: run.server_version.to_string(),
        ..DoubleConfig::default()
    })
    .await
    .unwrap();
    let kubeconfig = dir.join(format!("{}.kubeconfig", run.file));
    double.write_kubeconfig(&kubeconfig).unwrap();
    // SAFETY: this binary has one test, and nothing else reads the environment while it is set.
    unsafe { std::env::set_var("KUBECONFIG", &kubeconfig) };
    let settings = Settings {
        target: TargetChoice::Existing,
        load_balancer: run.load_balancer,
        retries: run.retries,
        run_id: Some(run.file.trim_end_matches(".xml").to_string()),
        ..Settings::default()
    };
    let mut defs: Vec<TrialDef> = all_trials()
        .into_iter()
        .filter(|t| run.trials.contains(&t.name))
        .collect();
    defs.push(RERUN_TRIAL);
    assert_eq!(
        defs.len(),
        run.trials.len(),
        "a trial of the subset is gone"
    );
    let started_at = SystemTime::now();
    FAIL_NEXT.store(run.retries > 0, Ordering::SeqCst);
    let records = run_all(&settings, &defs, 8).await.unwrap();
    double.shutdown().await;
    // What the runner's `prepare` fills in; the target is the test double, so the report says simulated.
    let info = RunInfo {
        target: Some(TargetKind::Simulated),
        target_description:
            "netconform-double (a test double on 127.0.0.1 — simulated, not a real cluster)".into(),
        server_version: Some(run.server_version.into()),
        node_image: None,
        ip_families: vec!["IPv4".into(), "IPv6".into()],
        started_at,
        status: RunStatus::Finished,
        ..RunInfo::starting(settings.run_id.clone().unwrap())
    };
    let path = dir.join(run.file);
    write_junit(&path, &info, &records).unwrap();
    path
}

/// The gate's comparison of two reports the suite wrote.
fn compare(baseline: &Path, candidate: &Path) -> Comparison {
    Comparison::new(
        read_report(baseline).unwrap(),
        read_report(candidate).unwrap(),
        false,
    )
    .unwrap()
}

fn classes(cmp: &Comparison) -> BTreeMap<&str, Class> {
    cmp.entries
        .iter()
        .map(|e| (e.name.as_str(), e.class))
        .collect()
}

/// The matrix row of `trial`.
fn row_of<'a>(matrix: &'a str, trial: &str) -> &'a str {
    matrix
        .lines()
        .find(|l| l.contains(&format!("`{trial}`")))
        .unwrap()
}

fn args(baseline: &Path, candidate: &Path) -> GateArgs {
    GateArgs {
        baseline: baseline.to_path_buf(),
        candidate: candidate.to_path_buf(),
        force: false,
        allow_removed: Vec::new(),
        markdown: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn gate_and_claims_on_reports_the_suite_wrote() {
    let dir = std::env::temp_dir().join(format!("netconform-gate-reports-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let baseline = produce(&BASELINE, &dir).await;
    let candidate = produce(&CANDIDATE, &dir).await;

    // Baseline -> candidate: the upgrade.
    let forward = compare(&baseline, &candidate);
    let markdown = forward.markdown();
    println!("{markdown}");
    assert_eq!(
        classes(&forward),
        BTreeMap::from([
            (ALIAS_SECTION, Class::Regressed),
            (LOAD_BALANCER, Class::LostCoverage),
            (RERUN, Class::Flaky),
            (HOST_NETWORK, Class::StillFailing),
            (ONLY_CANDIDATE, Class::New),
            (ONLY_BASELINE, Class::Removed),
            (EXHAUSTION, Class::StillSkipped),
            (DEFAULT_ENTRIES, Class::StillPassing),
        ]),
        "{markdown}"
    );
    assert_eq!(forward.exit_code(), gate::EXIT_REGRESSED);
    assert!(
        markdown.starts_with(
            "## netconform gate: ❌ FAILED — 1 regressed, 1 passed → skipped, 1 removed (1 flaky)\n"
        ),
        "{markdown}"
    );
    // The regression carries the check that failed (not the claim line the runner prefixes) and its doc.
    let regression = &markdown[markdown.find("### ❌ Regressed").unwrap()..];
    assert!(
        regression.contains("```text\ncheck: the end of the hostaliases-pod log\n"),
        "{markdown}"
    );
    assert!(
        regression
            .contains("(https://kubernetes.io/docs/tasks/network/customize-hosts-file-for-pods/)")
    );
    assert!(
        markdown
            .contains("| server version | v1.33.1+netconform-double | v1.34.0+netconform-double |")
    );
    assert!(
        markdown.contains("NETCONFORM_LOAD_BALANCER=no"),
        "the skip reason: {markdown}"
    );
    assert!(
        markdown.contains("first attempt fails on purpose"),
        "{markdown}"
    );
    assert!(forward.new_findings.is_empty(), "{markdown}");

    // Candidate -> baseline: the mirror classes, and the LoadBalancer trial's doc finding is new. The trial only
    // the candidate ran fails the gate as removed, unless allowed by name.
    assert_eq!(
        compare(&candidate, &baseline).exit_code(),
        gate::EXIT_REGRESSED
    );
    let reverse = Comparison::allowing_removed(
        read_report(&candidate).unwrap(),
        read_report(&baseline).unwrap(),
        false,
        &[ONLY_CANDIDATE.to_string()],
    )
    .unwrap();
    assert_eq!(
        classes(&reverse),
        BTreeMap::from([
            (ALIAS_SECTION, Class::Fixed),
            (LOAD_BALANCER, Class::SkippedInOne),
            (RERUN, Class::StillPassing),
            (HOST_NETWORK, Class::StillFailing),
            (ONLY_BASELINE, Class::New),
            (ONLY_CANDIDATE, Class::RemovedAllowed),
            (EXHAUSTION, Class::StillSkipped),
            (DEFAULT_ENTRIES, Class::StillPassing),
        ])
    );
    assert_eq!(reverse.exit_code(), gate::EXIT_PASSED);
    let finding_trials: Vec<&str> = reverse
        .new_findings
        .iter()
        .map(|f| f.trial.as_str())
        .collect();
    assert!(
        finding_trials.contains(&LOAD_BALANCER),
        "{finding_trials:?}"
    );
    assert!(
        reverse
            .markdown()
            .contains("### Doc findings new in the candidate")
    );

    // Exit codes through the function `netconform gate` runs.
    let out = dir.join("gate.md");
    let run = gate::run(&GateArgs {
        markdown: Some(out.clone()),
        ..args(&baseline, &candidate)
    })
    .unwrap();
    assert_eq!(run.exit_code, 1);
    assert_eq!(std::fs::read_to_string(&out).unwrap(), run.markdown);
    assert_eq!(
        gate::run(&args(&candidate, &baseline)).unwrap().exit_code,
        1
    );
    assert_eq!(
        gate::run(&GateArgs {
            allow_removed: vec![ONLY_CANDIDATE.to_string()],
            ..args(&candidate, &baseline)
        })
        .unwrap()
        .exit_code,
        0
    );
    // A report of an interrupted run is refused as either side.
    let interrupted = dir.join("interrupted.xml");
    let xml = std::fs::read_to_string(&candidate).unwrap();
    let relabelled = xml.replace(
        r#"name="netconform.run.status" value="finished""#,
        r#"name="netconform.run.status" value="interrupted""#,
    );
    assert_ne!(relabelled, xml);
    std::fs::write(&interrupted, relabelled).unwrap();
    for (b, c) in [(&baseline, &interrupted), (&interrupted, &baseline)] {
        let err = gate::run(&args(b, c)).unwrap_err();
        assert!(matches!(err, GateError::Incomplete { .. }), "{err}");
        assert_eq!(err.exit_code(), 2);
    }
    // One report as both sides compares nothing: refused.
    let same = gate::run(&args(&baseline, &baseline)).unwrap_err();
    assert!(matches!(same, GateError::SameRun { .. }), "{same}");
    assert_eq!(same.exit_code(), 2);
    let missing = gate::run(&args(&baseline, &dir.join("absent.xml"))).unwrap_err();
    assert_eq!(missing.exit_code(), 2);
    let kubeconfig = dir.join("candidate.xml.kubeconfig");
    let not_junit = gate::run(&args(&baseline, &kubeconfig)).unwrap_err();
    assert_eq!(not_junit.exit_code(), 2);
    assert!(
        not_junit.to_string().contains("is not a JUnit report"),
        "{not_junit}"
    );
    // A JUnit report with its netconform properties gone is someone else's.
    let foreign = dir.join("foreign.xml");
    let xml = std::fs::read_to_string(&baseline).unwrap();
    std::fs::write(&foreign, xml.replace("netconform.target", "other.target")).unwrap();
    let err = gate::run(&args(&foreign, &candidate)).unwrap_err();
    assert_eq!(err.exit_code(), 2);
    assert!(
        err.to_string().contains("is not a netconform report"),
        "{err}"
    );

    // The same candidate relabelled as a kind run: refused, unless forced.
    let kind = dir.join("candidate-kind.xml");
    let xml = std::fs::read_to_string(&candidate).unwrap();
    let relabelled = xml.replace(
        r#"name="netconform.target" value="simulated""#,
        r#"name="netconform.target" value="kind""#,
    );
    assert_ne!(relabelled, xml);
    std::fs::write(&kind, relabelled).unwrap();
    let refused = gate::run(&args(&baseline, &kind)).unwrap_err();
    assert!(
        matches!(refused, GateError::MixedTargets { .. }),
        "{refused}"
    );
    assert_eq!(refused.exit_code(), 2);
    let forced = gate::run(&GateArgs {
        force: true,
        ..args(&baseline, &kind)
    })
    .unwrap();
    assert_eq!(forced.exit_code, 1);
    assert!(forced.markdown.contains("> **Forced**"));

    // The doc-claims matrix of both runs: one column per version, oldest first.
    let matrix = claims::run(&ClaimsArgs {
        reports: vec![candidate.clone(), baseline.clone()],
        markdown: None,
        // The project's claims index, found from the workspace as by default.
        index: None,
        coverage: false,
    })
    .unwrap();
    println!("{matrix}");
    assert!(
        matrix.contains("| claim | trial | v1.33.1+netconform-double (simulated) | v1.34.0+netconform-double (simulated) |"),
        "{matrix}"
    );
    let row = row_of(&matrix, ALIAS_SECTION);
    assert!(row.ends_with("| pass | **FAIL** |"), "{row}");
    // Each trial names the seed claims it checks.
    assert!(row.contains("` (seed H3, P33) |"), "{row}");
    let row = row_of(&matrix, LOAD_BALANCER);
    assert!(row.ends_with("| finding | skipped |"), "{row}");
    let row = row_of(&matrix, RERUN);
    assert!(row.ends_with("| pass | flaky |"), "{row}");

    std::fs::remove_dir_all(&dir).unwrap();
}
