//! JUnit XML (quick-junit): one `<testsuite>` per suite, one `<testcase>` per trial.

use std::path::Path;

use chrono::{DateTime, FixedOffset, Utc};
use quick_junit::{
    FlakyOrRerun, NonSuccessKind, Property, Report, TestCase, TestCaseStatus, TestRerun, TestSuite,
};

use super::property as names;
use super::{
    FailedAttempt, Failure, FailureKind, RunInfo, TrialOutcome, TrialRecord, first_line,
    with_diagnostics, write_atomically,
};
use crate::error::HarnessError;

/// Builds the report without writing it.
pub fn build_report(run: &RunInfo, trials: &[TrialRecord]) -> Report {
    let mut report = Report::new(run.title());
    let started: DateTime<FixedOffset> = DateTime::<Utc>::from(run.started_at).into();
    report.set_timestamp(started);
    // The run's wall time: trials run side by side, so their sum (a property) is far longer.
    report.set_time(run.wall_time);

    // Suites in the order their first trial appears.
    let mut suites: Vec<TestSuite> = Vec::new();
    for trial in trials {
        let index = match suites.iter().position(|s| s.name.as_str() == trial.suite) {
            Some(i) => i,
            None => {
                let mut suite = TestSuite::new(trial.suite.as_str());
                suite.set_timestamp(started);
                suite.add_properties(run_properties(run, trials));
                suites.push(suite);
                suites.len() - 1
            }
        };
        suites[index].add_test_case(test_case(run, trial));
    }
    for suite in &mut suites {
        let time = suite.test_cases.iter().filter_map(|c| c.time).sum();
        suite.set_time(time);
    }
    report.add_test_suites(suites);
    report
}

/// Writes the JUnit report to `path` (atomically, parent directories created).
pub fn write_junit(path: &Path, run: &RunInfo, trials: &[TrialRecord]) -> Result<(), HarnessError> {
    let xml = build_report(run, trials)
        .to_string()
        .map_err(|e| HarnessError::Report {
            path: path.to_path_buf(),
            reason: e.to_string(),
        })?;
    write_atomically(path, xml.as_bytes())
}

fn run_properties(run: &RunInfo, trials: &[TrialRecord]) -> Vec<Property> {
    let or = |v: &Option<String>, none: &str| v.clone().unwrap_or_else(|| none.to_string());
    let trial_time: std::time::Duration = trials.iter().map(|t| t.duration).sum();
    let mut properties = vec![
        Property::new(names::TARGET, run.target_label()),
        Property::new(names::TARGET_DESCRIPTION, run.target_description.as_str()),
        Property::new(
            names::SERVER_VERSION,
            or(&run.server_version, names::UNKNOWN_VERSION),
        ),
        Property::new(names::NODE_IMAGE, or(&run.node_image, names::NO_NODE_IMAGE)),
        Property::new(names::IP_FAMILIES, run.ip_families.join(",")),
        Property::new(names::RUN_ID, run.run_id.as_str()),
        Property::new(names::STATUS, run.status.label()),
        Property::new(names::FILTER, or(&run.filter, names::NO_FILTER)),
        Property::new(
            names::TRIAL_TIME,
            format!("{:.3}", trial_time.as_secs_f64()),
        ),
    ];
    if let Some(pods) = run.pods_started {
        properties.push(Property::new(names::PODS_STARTED, pods.to_string()));
    }
    if !run.deviations.is_empty() {
        properties.push(Property::new(names::DEVIATIONS, run.deviations.join(",")));
    }
    if let Some(faults) = &run.faults {
        properties.push(Property::new(names::FAULTS, faults.as_str()));
    }
    properties.extend(
        run.properties
            .iter()
            .map(|(k, v)| Property::new(k.as_str(), v.as_str())),
    );
    properties
}

fn test_case(run: &RunInfo, trial: &TrialRecord) -> TestCase {
    let status = match &trial.outcome {
        TrialOutcome::Passed => {
            let mut status = TestCaseStatus::success();
            // Passed after failed attempts: `<flakyFailure>` elements.
            status.add_reruns(trial.failed_attempts.iter().map(|a| rerun(trial, a)));
            status
        }
        TrialOutcome::Failed {
            failure,
            diagnostics,
        } => {
            let element = failure_element(trial, failure, diagnostics);
            let mut status = TestCaseStatus::non_success(NonSuccessKind::Failure);
            if let Some(ty) = element.ty {
                status.set_type(ty);
            }
            status
                .set_message(element.message)
                .set_description(element.description);
            status
                .set_rerun_kind(FlakyOrRerun::Rerun)
                .add_reruns(trial.failed_attempts.iter().map(|a| rerun(trial, a)));
            status
        }
        TrialOutcome::Skipped { reason } => {
            let mut status = TestCaseStatus::skipped();
            status.set_message(visible_tabs(first_line(reason)));
            if reason.contains('\n') {
                status.set_description(visible_tabs(reason));
            }
            status
        }
    };
    let mut case = TestCase::new(trial.name.as_str(), status);
    case.set_classname(trial.suite.as_str());
    case.set_time(trial.duration);
    case.add_property(Property::new(names::CLAIM, trial.claim.as_str()));
    case.add_property(Property::new(names::DOC_URL, trial.doc_url.as_str()));
    // The failure's fields, so that a reader gets them back as fields rather than from the text.
    if let TrialOutcome::Failed { failure, .. } = &trial.outcome
        && failure.has_fields()
    {
        for (name, value) in [
            (names::FAILURE_CHECK, &failure.check),
            (names::FAILURE_EXPECTED, &failure.expected),
            (names::FAILURE_OBSERVED, &failure.observed),
        ] {
            case.add_property(Property::new(name, visible_tabs(value)));
        }
    }
    for (i, finding) in trial.findings.iter().enumerate() {
        let n = i + 1;
        case.add_property(Property::new(
            names::finding(n, names::DOC_SAYS),
            visible_tabs(&finding.doc_says),
        ));
        case.add_property(Property::new(
            names::finding(n, names::CLUSTER_SHOWS),
            visible_tabs(&finding.cluster_shows),
        ));
    }
    let out = system_out(run, trial);
    if !out.is_empty() {
        case.set_system_out(visible_tabs(&out));
    }
    case
}

/// What a failure element (the final failure or a rerun's) says: its `type` (none for
/// [`FailureKind::Unknown`]), its one-line message, and its description: the claim and doc lines, the
/// failure's text, the diagnostics.
struct FailureElement {
    ty: Option<&'static str>,
    message: String,
    description: String,
}

fn failure_element(trial: &TrialRecord, failure: &Failure, diagnostics: &str) -> FailureElement {
    FailureElement {
        ty: (failure.kind != FailureKind::Unknown).then(|| failure.kind.label()),
        // Dashboards often show only the message: it says what was checked, expected and observed.
        message: visible_tabs(&failure.one_line()),
        description: visible_tabs(&with_diagnostics(
            &trial.failure_message(failure),
            diagnostics,
        )),
    }
}

fn rerun(trial: &TrialRecord, attempt: &FailedAttempt) -> TestRerun {
    let element = failure_element(trial, &attempt.failure, &attempt.diagnostics);
    let mut rerun = TestRerun::new(NonSuccessKind::Failure);
    if let Some(ty) = element.ty {
        rerun.set_type(ty);
    }
    rerun
        .set_message(element.message)
        .set_description(element.description);
    rerun.set_time(attempt.duration);
    if !attempt.log.is_empty() {
        rerun.set_system_out(visible_tabs(&attempt.log));
    }
    rerun
}

/// quick-junit strips every control character but `\n` (strip-ansi-escapes), and a TAB is what separates
/// the fields of a kubelet-managed `/etc/hosts`: write it as a visible `␉` so expected and observed lines
/// stay readable. (The JSON summary keeps the TABs.)
const TAB_SHOWN_AS: &str = "␉";

fn visible_tabs(text: &str) -> String {
    text.replace('\t', TAB_SHOWN_AS)
}

/// The trial's log, then its doc findings in words (CI UIs show system-out, rarely properties).
fn system_out(run: &RunInfo, trial: &TrialRecord) -> String {
    let mut out = trial.log.clone();
    for finding in &trial.findings {
        if !out.is_empty() && !out.ends_with('\n') {
            out.push('\n');
        }
        out.push_str(&format!(
            "doc finding ({}): the doc says {}; {} shows {}\n",
            finding.doc_url,
            finding.doc_says,
            run.shown_by(),
            finding.cluster_shows
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::super::fixtures;
    use super::*;
    use crate::cluster::TargetKind;

    #[test]
    fn tabs_survive_as_a_visible_mark() {
        let xml = visible_tabs(&with_diagnostics("expected:\n  127.0.0.1\tfoo.local", ""));
        assert_eq!(xml, "expected:\n  127.0.0.1␉foo.local");
    }

    fn prop<'a>(props: &'a [Property], name: &str) -> Option<&'a str> {
        props
            .iter()
            .find(|p| p.name.as_str() == name)
            .map(|p| p.value.as_str())
    }

    #[test]
    fn round_trip_through_quick_junit_deserializer() {
        let dir = std::env::temp_dir().join(format!("netconform-junit-{}", std::process::id()));
        let path = dir.join("nested/junit.xml");
        let run = fixtures::run_info(Some(TargetKind::Simulated));
        write_junit(&path, &run, &fixtures::trials()).unwrap();
        let xml = std::fs::read_to_string(&path).unwrap();
        let report = Report::deserialize_from_str(&xml).unwrap();
        std::fs::remove_dir_all(&dir).unwrap();

        assert_eq!(
            report.name.as_ref().unwrap().as_str(),
            "netconform (simulated: netconform-double test double)"
        );
        assert_eq!((report.tests, report.failures, report.errors), (4, 1, 0));
        let names: Vec<&str> = report.test_suites.iter().map(|s| s.name.as_str()).collect();
        assert_eq!(names, vec!["hostaliases", "dualstack", "dns"]);

        let hosts = &report.test_suites[0];
        assert_eq!((hosts.tests, hosts.failures, hosts.skipped), (2, 1, 0));
        assert_eq!(
            prop(&hosts.properties, "netconform.target"),
            Some("simulated")
        );
        assert!(
            prop(&hosts.properties, "netconform.target.description")
                .unwrap()
                .contains("simulated, not a real cluster")
        );
        assert_eq!(
            prop(&hosts.properties, "netconform.server-version"),
            Some("v1.37.0")
        );
        assert_eq!(
            prop(&hosts.properties, "netconform.node-image"),
            Some("kindest/node:v1.37.0")
        );
        assert_eq!(
            prop(&hosts.properties, "netconform.ip-families"),
            Some("IPv4,IPv6")
        );
        assert_eq!(prop(&hosts.properties, "netconform.run-id"), Some("r1a2b3"));

        let header = &hosts.test_cases[0];
        assert_eq!(
            header.name.as_str(),
            "hostaliases::default_hosts::kubelet_header"
        );
        assert_eq!(header.classname.as_ref().unwrap().as_str(), "hostaliases");
        assert!(
            matches!(&header.status, TestCaseStatus::Success { flaky_runs } if flaky_runs.is_empty())
        );
        assert_eq!(
            prop(&header.properties, "netconform.claim"),
            Some("the kubelet manages /etc/hosts")
        );
        assert!(
            prop(&header.properties, "netconform.doc-url")
                .unwrap()
                .starts_with("https://kubernetes.io/")
        );
        assert_eq!(
            prop(&header.properties, "netconform.finding.1.doc-says"),
            Some("# Kubernetes-managed hosts file.")
        );
        assert!(
            header
                .system_out
                .as_ref()
                .unwrap()
                .as_str()
                .contains("doc finding")
        );
        assert_eq!(header.time, Some(std::time::Duration::from_millis(1500)));

        match &hosts.test_cases[1].status {
            TestCaseStatus::NonSuccess {
                kind,
                message,
                description,
                ..
            } => {
                assert_eq!(*kind, NonSuccessKind::Failure);
                assert_eq!(
                    message.as_ref().unwrap().as_str(),
                    "/etc/hosts lacks 127.0.0.1 foo.local"
                );
                let description = description.as_ref().unwrap().as_str();
                assert!(
                    description.contains("whole file:")
                        && description.contains("diagnostics:\npod hostaliases-pod"),
                    "{description}"
                );
            }
            other => panic!("{other:?}"),
        }
        match &report.test_suites[1].test_cases[0].status {
            TestCaseStatus::Skipped { message, .. } => {
                assert_eq!(
                    message.as_ref().unwrap().as_str(),
                    "cluster is single-stack (IPv4 only)"
                )
            }
            other => panic!("{other:?}"),
        }
        match &report.test_suites[2].test_cases[0].status {
            TestCaseStatus::Success { flaky_runs } => {
                assert_eq!(flaky_runs.len(), 1);
                assert_eq!(
                    flaky_runs[0].message.as_ref().unwrap().as_str(),
                    "nslookup timed out"
                );
                assert_eq!(
                    flaky_runs[0].ty.as_ref().map(|t| t.as_str()),
                    Some("timeout")
                );
            }
            other => panic!("{other:?}"),
        }
    }

    /// `testsuites time` used to be the trials' sum (334 s for a 62 s run).
    #[test]
    fn run_time_is_wall_time_and_the_run_says_how_it_ended_and_what_it_selected() {
        let run = RunInfo {
            status: super::super::RunStatus::Interrupted,
            filter: Some("--exact hostaliases::a::b".into()),
            deviations: vec!["hosts-no-fqdn".into()],
            faults: Some("errors=0.1".into()),
            ..fixtures::run_info(Some(TargetKind::Simulated))
        };
        let xml = build_report(&run, &fixtures::trials()).to_string().unwrap();
        let report = Report::deserialize_from_str(&xml).unwrap();
        assert_eq!(report.time, Some(std::time::Duration::from_secs(2)));
        let props = &report.test_suites[0].properties;
        assert_eq!(prop(props, names::TRIAL_TIME), Some("6.000"));
        assert_eq!(prop(props, names::PODS_STARTED), Some("7"));
        assert_eq!(prop(props, names::STATUS), Some("interrupted"));
        assert_eq!(
            prop(props, names::FILTER),
            Some("--exact hostaliases::a::b")
        );
        assert_eq!(prop(props, names::DEVIATIONS), Some("hosts-no-fqdn"));
        assert_eq!(prop(props, names::FAULTS), Some("errors=0.1"));
        // Doc findings on the double are the double's.
        let out = report.test_suites[0].test_cases[0]
            .system_out
            .as_ref()
            .unwrap()
            .as_str()
            .to_string();
        assert!(out.contains("; the double shows "), "{out}");

        let whole = build_report(
            &fixtures::run_info(Some(TargetKind::Kind)),
            &fixtures::trials(),
        );
        let props = &whole.test_suites[0].properties;
        assert_eq!(prop(props, names::STATUS), Some("finished"));
        assert_eq!(prop(props, names::FILTER), Some("none"));
        assert_eq!(prop(props, names::DEVIATIONS), None);
    }

    #[test]
    fn failed_after_reruns_lists_them() {
        let mut trials = fixtures::trials();
        trials[1].failed_attempts.push(FailedAttempt {
            failure: Failure::from_text(FailureKind::Unknown, "first"),
            diagnostics: String::new(),
            duration: std::time::Duration::from_secs(1),
            log: String::new(),
        });
        let xml = build_report(&fixtures::run_info(Some(TargetKind::Kind)), &trials)
            .to_string()
            .unwrap();
        assert!(xml.contains("<rerunFailure"), "{xml}");
        assert!(xml.contains("netconform (kind)"));
    }

    #[test]
    fn no_target_run_is_labelled() {
        let run = fixtures::run_info(None);
        let report = build_report(&run, &fixtures::trials());
        assert!(report.name.as_ref().unwrap().as_str().contains("no target"));
        assert_eq!(
            prop(&report.test_suites[0].properties, "netconform.target"),
            Some("none")
        );
    }
}
