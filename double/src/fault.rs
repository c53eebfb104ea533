//! Injected faults of the test double: API errors, dropped watches, added latency.
//!
//! Deterministic for a given seed so tests can rely on them; parsing them from the environment is
//! the harness's job.

use std::sync::Mutex;
use std::time::Duration;

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

/// Fault settings. The default injects nothing.
#[derive(Debug, Clone, PartialEq)]
pub struct Faults {
    /// Fraction (0.0..=1.0) of non-watch API requests that fail, each with one of
    /// [`InjectedFailure`]'s kinds picked uniformly.
    pub error_rate: f64,
    /// Close every watch stream this long after it started (clients must re-watch).
    pub watch_drop_after: Option<Duration>,
    /// Delay added before answering every request.
    pub latency: Duration,
    /// Seed of the fault generator.
    pub seed: u64,
}

impl Default for Faults {
    fn default() -> Self {
        Faults {
            error_rate: 0.0,
            watch_drop_after: None,
            latency: Duration::ZERO,
            seed: 0x006e_6574_636f_6e66,
        }
    }
}

impl Faults {
    pub fn is_active(&self) -> bool {
        self.error_rate > 0.0 || self.watch_drop_after.is_some() || !self.latency.is_zero()
    }
}

/// How an injected failure shows up to the client.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InjectedFailure {
    /// 429 TooManyRequests with `Retry-After: 1`.
    TooManyRequests,
    /// 500 InternalError.
    InternalError,
    /// The connection is closed without an answer.
    ConnectionReset,
}

/// Draws the injected failures from a seeded generator.
pub struct FaultInjector {
    faults: Faults,
    rng: Mutex<StdRng>,
}

impl FaultInjector {
    pub fn new(faults: Faults) -> Self {
        let rng = Mutex::new(StdRng::seed_from_u64(faults.seed));
        FaultInjector { faults, rng }
    }

    pub fn faults(&self) -> &Faults {
        &self.faults
    }

    /// The failure to inject into the next non-watch request, if any.
    pub fn next_failure(&self) -> Option<InjectedFailure> {
        if self.faults.error_rate <= 0.0 {
            return None;
        }
        let mut rng = self.rng.lock().unwrap_or_else(|p| p.into_inner());
        if !rng.random_bool(self.faults.error_rate.clamp(0.0, 1.0)) {
            return None;
        }
        Some(match rng.random_range(0..3) {
            0 => InjectedFailure::TooManyRequests,
            1 => InjectedFailure::InternalError,
            _ => InjectedFailure::ConnectionReset,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_failures() {
        let faults = Faults {
            error_rate: 0.5,
            seed: 7,
            ..Faults::default()
        };
        let a = FaultInjector::new(faults.clone());
        let b = FaultInjector::new(faults);
        let draws_a: Vec<_> = (0..50).map(|_| a.next_failure()).collect();
        let draws_b: Vec<_> = (0..50).map(|_| b.next_failure()).collect();
        assert_eq!(draws_a, draws_b);
        assert!(draws_a.iter().any(Option::is_some) && draws_a.iter().any(Option::is_none));
    }

    #[test]
    fn no_rate_no_failures() {
        let injector = FaultInjector::new(Faults::default());
        assert!((0..100).all(|_| injector.next_failure().is_none()));
    }
}
