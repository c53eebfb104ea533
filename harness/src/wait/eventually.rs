//! Data-plane waits: what a request or a lookup answers has no object to watch, so it is observed again,
//! paced, until it shows what is expected or the named budget runs out. Running out is a
//! [`TrialError::Timeout`], as for a watch-driven wait: the cluster may merely be slow to program it.
//!
//! The expectation is named data ([`Expect`]), as cilium-cli's connectivity checks name theirs
//! (`check/result.go`).

use std::future::Future;
use std::time::{Duration, Instant};

use backon::{BackoffBuilder, ExponentialBuilder};

use super::Budget;
use crate::failure::TrialError;

/// How a data-plane wait repeats its observation.
#[derive(Debug, Clone, Copy)]
pub enum Pace {
    /// Pauses from `first` doubling to `max`, until the pauses add up to the budget (the observations' own
    /// time is not counted: a slow request does not cost the path its later attempts).
    Backoff { first: Duration, max: Duration },
    /// The same pause each time, while the next observation would still start within the budget.
    Every(Duration),
}

/// A data-plane budget: how long, and how the observations are paced within it.
#[derive(Debug, Clone, Copy)]
pub struct Paced {
    pub budget: Budget,
    pub pace: Pace,
}

impl Paced {
    pub const fn new(budget: Budget, pace: Pace) -> Paced {
        Paced { budget, pace }
    }
}

/// What a data-plane wait expects of an observation, and how an observation reads in a timeout.
pub struct Expect<'a, T> {
    awaited: String,
    holds: Box<dyn Fn(&T) -> bool + Send + Sync + 'a>,
    show: Box<dyn Fn(&T) -> String + Send + Sync + 'a>,
}

impl<'a, T> Expect<'a, T> {
    /// `awaited` says what the wait expects (as an API wait's "waiting for …"); `holds` tells it.
    pub fn that(
        awaited: impl Into<String>,
        holds: impl Fn(&T) -> bool + Send + Sync + 'a,
    ) -> Expect<'a, T> {
        Expect {
            awaited: awaited.into(),
            holds: Box::new(holds),
            show: Box::new(|_| "(no description)".to_string()),
        }
    }

    /// How the last observation reads in a timeout's "last state seen".
    pub fn showing(mut self, show: impl Fn(&T) -> String + Send + Sync + 'a) -> Expect<'a, T> {
        self.show = Box::new(show);
        self
    }
}

/// Observes until `expect` holds, paced as `within` says, within its budget stretched by `scale`; returns
/// the observation that holds. An observation that fails ends the wait with its error; running out is a
/// [`TrialError::Timeout`] showing the last observation.
pub async fn eventually<T, F, Fut>(
    within: Paced,
    scale: f64,
    mut observe: F,
    expect: Expect<'_, T>,
) -> Result<T, TrialError>
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, TrialError>>,
{
    let started = Instant::now();
    let limit = within.budget.scaled(scale);
    let mut pauses = Pauses::new(within.pace, limit);
    loop {
        let seen = observe().await?;
        if (expect.holds)(&seen) {
            return Ok(seen);
        }
        match pauses.next(started) {
            Some(pause) => tokio::time::sleep(pause).await,
            None => {
                return Err(TrialError::Timeout {
                    awaited: expect.awaited,
                    budget: within.budget.name,
                    elapsed: started.elapsed(),
                    last_state: (expect.show)(&seen),
                });
            }
        }
    }
}

/// The pauses of a [`Pace`] within `limit`; `None` when the budget is spent.
enum Pauses {
    Backoff(backon::ExponentialBackoff),
    Every { pause: Duration, limit: Duration },
}

impl Pauses {
    fn new(pace: Pace, limit: Duration) -> Pauses {
        match pace {
            Pace::Backoff { first, max } => Pauses::Backoff(
                ExponentialBuilder::default()
                    .with_min_delay(first)
                    .with_max_delay(max)
                    .without_max_times()
                    .with_total_delay(Some(limit))
                    .build(),
            ),
            Pace::Every(pause) => Pauses::Every { pause, limit },
        }
    }

    fn next(&mut self, started: Instant) -> Option<Duration> {
        match self {
            Pauses::Backoff(delays) => delays.next(),
            Pauses::Every { pause, limit } => {
                (started.elapsed() + *pause <= *limit).then_some(*pause)
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::failure::FailureKind;

    const TINY: Budget = Budget::new("tiny", 1);

    #[tokio::test]
    async fn a_data_plane_wait_that_runs_out_is_a_timeout_with_the_last_observation() {
        for pace in [
            Pace::Every(Duration::from_millis(2)),
            Pace::Backoff {
                first: Duration::from_millis(1),
                max: Duration::from_millis(4),
            },
        ] {
            let mut attempts = 0;
            let err = eventually(
                Paced::new(TINY, pace),
                0.01,
                || {
                    attempts += 1;
                    let n = attempts;
                    async move { Ok::<_, TrialError>(n) }
                },
                Expect::that("an answer from the backend", |n: &i32| *n < 0)
                    .showing(|n| format!("attempt {n}: dropped")),
            )
            .await
            .unwrap_err();
            assert_eq!(err.failure().kind, FailureKind::Timeout, "{err}");
            assert!(attempts > 1, "{pace:?}: one attempt only");
            let TrialError::Timeout {
                awaited,
                budget,
                last_state,
                ..
            } = err
            else {
                unreachable!()
            };
            assert_eq!(awaited, "an answer from the backend");
            assert_eq!(budget, "tiny");
            assert_eq!(last_state, format!("attempt {attempts}: dropped"));
        }
    }

    #[tokio::test]
    async fn a_data_plane_wait_returns_what_holds_and_passes_errors_on() {
        let mut attempts = 0;
        let three = eventually(
            Paced::new(TINY, Pace::Every(Duration::ZERO)),
            1.0,
            || {
                attempts += 1;
                let n = attempts;
                async move { Ok::<_, TrialError>(n) }
            },
            Expect::that("three", |n: &i32| *n == 3),
        )
        .await;
        assert_eq!(three.ok(), Some(3));
        let failed = eventually(
            Paced::new(TINY, Pace::Every(Duration::ZERO)),
            1.0,
            || async { Err::<i32, _>(TrialError::Harness("exec failed".into())) },
            Expect::that("anything", |_: &i32| true),
        )
        .await;
        assert!(matches!(failed, Err(TrialError::Harness(_))));
    }
}
