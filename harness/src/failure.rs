//! How a trial fails: a doc claim not held (expected vs observed), a wait that ran out, or the harness itself.

use std::fmt::Display;
use std::sync::Arc;
use std::time::Duration;

use crate::text::first_line;

/// Why a trial did not pass. The runner prefixes the trial's claim and doc URL and appends diagnostics.
/// Cloned when several trials report one shared scenario's step ([`crate::scenario`]).
#[derive(Debug, Clone, thiserror::Error)]
pub enum TrialError {
    /// The cluster did not show what the doc says it shows.
    #[error(
        "check: {what}\nexpected:\n{}\nobserved:\n{}",
        indent(expected),
        indent(observed)
    )]
    Mismatch {
        what: String,
        expected: String,
        observed: String,
    },
    /// A watch-driven wait ran out of its named budget.
    #[error("timed out after {}s ({budget}) waiting for {awaited}\nlast state seen:\n{}", elapsed.as_secs(), indent(last_state))]
    Timeout {
        awaited: String,
        budget: &'static str,
        elapsed: Duration,
        last_state: String,
    },
    /// A wait ended early because the awaited state can no longer come (the pod failed, say).
    #[error(
        "gave up waiting for {awaited}: {why}\nlast state seen:\n{}",
        indent(last_state)
    )]
    GaveUp {
        awaited: String,
        why: String,
        last_state: String,
    },
    /// An API call failed with an error that retries did not cure.
    #[error("{context}: {source}")]
    Api {
        context: String,
        #[source]
        source: Arc<kube::Error>,
    },
    /// Anything else the harness could not do (exec, manifest, report).
    #[error("{0}")]
    Harness(String),
}

impl TrialError {
    pub fn api(context: impl Into<String>) -> impl FnOnce(kube::Error) -> TrialError {
        let context = context.into();
        move |source| TrialError::Api {
            context,
            source: Arc::new(source),
        }
    }

    /// The server's answer when it refused an API call (its code, reason and message).
    pub fn refusal(&self) -> Option<&kube::core::Status> {
        match self {
            TrialError::Api { source, .. } => match source.as_ref() {
                kube::Error::Api(status) => Some(status),
                _ => None,
            },
            _ => None,
        }
    }
}

/// What kind of failure a trial had: whether the cluster contradicts the doc or the harness could not tell.
/// Written as the JUnit `type` and the JSON `type`, read back by the gate and the claims matrix.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize,
)]
#[serde(rename_all = "kebab-case")]
pub enum FailureKind {
    /// A mismatch: the cluster showed something other than the doc says (or a wait saw it never would).
    Assertion,
    /// A wait ran out of its budget.
    Timeout,
    /// An API call failed.
    ApiError,
    /// The harness could not set the trial up or run its steps (namespace, exec, manifest).
    Setup,
    /// Read back from a report that does not say (written before kinds were recorded).
    Unknown,
}

impl FailureKind {
    pub const ALL: [FailureKind; 5] = [
        FailureKind::Assertion,
        FailureKind::Timeout,
        FailureKind::ApiError,
        FailureKind::Setup,
        FailureKind::Unknown,
    ];

    pub fn label(self) -> &'static str {
        match self {
            FailureKind::Assertion => "assertion",
            FailureKind::Timeout => "timeout",
            FailureKind::ApiError => "api-error",
            FailureKind::Setup => "setup",
            FailureKind::Unknown => "unknown",
        }
    }

    /// The kind a report's `type` names; [`FailureKind::Unknown`] for none or one this version does not know.
    pub fn from_label(label: Option<&str>) -> FailureKind {
        FailureKind::ALL
            .into_iter()
            .find(|k| Some(k.label()) == label)
            .unwrap_or(FailureKind::Unknown)
    }

    /// What a failure of this kind says about the claim, for readers of the gate and the claims matrix.
    pub fn meaning(self) -> &'static str {
        match self {
            FailureKind::Assertion => "the cluster contradicts the doc",
            FailureKind::Timeout => {
                "a wait ran out of its budget: the cluster was slow or never got there"
            }
            FailureKind::ApiError => "an API call failed: the claim was not checked",
            FailureKind::Setup => "the harness could not run the trial: the claim was not checked",
            FailureKind::Unknown => "the report does not say why (written before failure kinds)",
        }
    }
}

/// A failure in fields: what was checked, what was expected, what was observed, and the error whole.
/// The reports write it and read it back ([`crate::report`]); the JSON summary flattens its fields into the
/// trial's.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Failure {
    #[serde(rename = "type")]
    pub kind: FailureKind,
    pub check: String,
    pub expected: String,
    pub observed: String,
    /// The error as the trial reported it, on several lines: what libtest prints and the gate shows. The
    /// JSON has it in the trial's `details`, after the claim and doc lines.
    #[serde(skip)]
    pub text: String,
}

/// Characters of each value in a one-line failure message; the report's body has them whole.
const ONE_LINE_VALUE: usize = 200;

impl Failure {
    /// A failure known by its text only: from a report written before failures were recorded in fields.
    pub fn from_text(kind: FailureKind, text: impl Into<String>) -> Failure {
        Failure {
            kind,
            check: String::new(),
            expected: String::new(),
            observed: String::new(),
            text: text.into(),
        }
    }

    /// Whether what was checked, expected and observed is known (not for [`Failure::from_text`]).
    pub fn has_fields(&self) -> bool {
        !(self.check.is_empty() && self.expected.is_empty() && self.observed.is_empty())
    }

    /// `check: expected …; observed …` on one line, for dashboards that show only the message (the text's
    /// first line for a failure without fields).
    pub fn one_line(&self) -> String {
        if !self.has_fields() {
            return first_line(&self.text).to_string();
        }
        format!(
            "{}: expected {}; observed {}",
            flat(&self.check),
            flat(&self.expected),
            flat(&self.observed)
        )
    }
}

/// One line of at most [`ONE_LINE_VALUE`] characters: lines joined with ` ⏎ `.
fn flat(text: &str) -> String {
    let joined = text
        .lines()
        .map(str::trim)
        .filter(|l| !l.is_empty())
        .collect::<Vec<_>>()
        .join(" ⏎ ");
    let joined = if joined.is_empty() {
        "(nothing)".to_string()
    } else {
        joined
    };
    match joined.char_indices().nth(ONE_LINE_VALUE) {
        Some((cut, _)) => format!("{}…", &joined[..cut]),
        None => joined,
    }
}

impl TrialError {
    /// The failure in fields (see [`Failure`]).
    pub fn failure(&self) -> Failure {
        let (kind, check, expected, observed) = match self {
            TrialError::Mismatch {
                what,
                expected,
                observed,
            } => (
                FailureKind::Assertion,
                what.clone(),
                expected.clone(),
                observed.clone(),
            ),
            TrialError::Timeout {
                awaited,
                budget,
                elapsed,
                last_state,
            } => (
                FailureKind::Timeout,
                format!("waiting for {awaited}"),
                format!("within the {budget} budget"),
                format!("after {}s still: {last_state}", elapsed.as_secs()),
            ),
            TrialError::GaveUp {
                awaited,
                why,
                last_state,
            } => (
                FailureKind::Assertion,
                format!("waiting for {awaited}"),
                awaited.clone(),
                format!("{why}; last state: {last_state}"),
            ),
            TrialError::Api { context, source } => (
                FailureKind::ApiError,
                context.clone(),
                "the API request to succeed".to_string(),
                source.to_string(),
            ),
            TrialError::Harness(text) => (
                FailureKind::Setup,
                "the trial's own steps".to_string(),
                "them to run".to_string(),
                text.clone(),
            ),
        };
        Failure {
            kind,
            check,
            expected,
            observed,
            text: self.to_string(),
        }
    }
}

fn indent(text: &str) -> String {
    if text.is_empty() {
        return "  (empty)".to_string();
    }
    text.lines()
        .map(|l| format!("  {l}"))
        .collect::<Vec<_>>()
        .join("\n")
}

/// Fails with a mismatch unless `holds`.
pub fn ensure(
    holds: bool,
    what: &str,
    expected: impl Display,
    observed: impl Display,
) -> Result<(), TrialError> {
    if holds {
        Ok(())
    } else {
        Err(TrialError::Mismatch {
            what: what.to_string(),
            expected: expected.to_string(),
            observed: observed.to_string(),
        })
    }
}

/// Fails with a mismatch unless `expected == observed`; both are shown with `{:?}` when they differ.
pub fn ensure_eq<T: PartialEq + std::fmt::Debug>(
    what: &str,
    expected: T,
    observed: T,
) -> Result<(), TrialError> {
    ensure(
        expected == observed,
        what,
        format!("{expected:?}"),
        format!("{observed:?}"),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mismatch_names_expected_and_observed() {
        let err = ensure_eq("pod IP count", 2, 1).unwrap_err();
        let text = err.to_string();
        assert!(text.contains("check: pod IP count"), "{text}");
        assert!(text.contains("expected:\n  2"), "{text}");
        assert!(text.contains("observed:\n  1"), "{text}");
        assert!(matches!(err, TrialError::Mismatch { .. }));
    }

    #[test]
    fn every_failure_has_a_one_line_message_with_check_expected_observed_and_a_type() {
        let mismatch = ensure(false, "the hosts file", "a\tb\nc", "d").unwrap_err();
        let f = mismatch.failure();
        assert_eq!(f.kind, FailureKind::Assertion);
        assert_eq!(
            f.one_line(),
            "the hosts file: expected a\tb ⏎ c; observed d"
        );
        let timeout = TrialError::Timeout {
            awaited: "pod p to be Running".into(),
            budget: "pod-start",
            elapsed: Duration::from_secs(180),
            last_state: "pod p: Pending\nImagePullBackOff".into(),
        };
        let f = timeout.failure();
        assert_eq!(f.kind.label(), "timeout");
        assert_eq!(
            f.one_line(),
            "waiting for pod p to be Running: expected within the pod-start budget; observed after 180s still: pod p: Pending ⏎ ImagePullBackOff"
        );
        assert_eq!(
            TrialError::Harness("exec failed".into())
                .failure()
                .kind
                .label(),
            "setup"
        );
        let long = ensure(false, "x", "y".repeat(500), "")
            .unwrap_err()
            .failure();
        let line = long.one_line();
        assert!(!line.contains('\n') && line.chars().count() < 260, "{line}");
        assert!(line.ends_with("…; observed (nothing)"), "{line}");
    }

    #[test]
    fn multi_line_values_are_indented() {
        let err = ensure(false, "hosts file", "a\nb", "").unwrap_err();
        assert!(
            err.to_string()
                .contains("expected:\n  a\n  b\nobserved:\n  (empty)")
        );
    }
}
