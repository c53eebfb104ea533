//! How a trial fails: a doc claim not held (expected vs observed), a wait that ran out, or the harness itself.

use std::fmt::Display;
use std::time::Duration;

/// Why a trial did not pass. The runner prefixes the trial's claim and doc URL and appends diagnostics.
#[derive(Debug, thiserror::Error)]
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
        source: kube::Error,
    },
    /// Anything else the harness could not do (exec, manifest, report).
    #[error("{0}")]
    Harness(String),
}

impl TrialError {
    pub fn api(context: impl Into<String>) -> impl FnOnce(kube::Error) -> TrialError {
        let context = context.into();
        move |source| TrialError::Api { context, source }
    }

    /// True when the cluster was observed to disagree with the claim (as opposed to a harness problem).
    pub fn is_mismatch(&self) -> bool {
        matches!(self, TrialError::Mismatch { .. })
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
        assert!(err.is_mismatch());
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
