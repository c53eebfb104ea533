//! The active deviations of a double: single misbehaviours a real (broken or misconfigured) cluster could
//! show, which the double simulates on request so the suite's own tests can prove each check catches one.
//! Their names and descriptions are `netconform-deviation`'s [`Deviation`]; which trials each must break
//! is declared by the suites beside the trials (`suites/src/<suite>`: `BREAKS`).

use std::collections::BTreeSet;

pub use netconform_deviation::{Deviation, UnknownDeviation};

/// The validated set of active deviations.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Deviations {
    active: BTreeSet<Deviation>,
}

impl Deviations {
    /// Validates the configured names; an unknown name is an error listing the known ones.
    pub fn from_names(names: &[String]) -> Result<Deviations, UnknownDeviation> {
        netconform_deviation::parse_names(names).map(|active| Deviations { active })
    }

    pub fn has(&self, deviation: Deviation) -> bool {
        self.active.contains(&deviation)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parsing and its errors are netconform-deviation's (tested there); this is the set the model asks.
    #[test]
    fn has_only_the_named_deviations() {
        let d = Deviations::from_names(&["pods-single-stack".into()]).unwrap();
        assert!(d.has(Deviation::PodsSingleStack));
        assert!(!d.has(Deviation::HostsSingleIp));
        assert!(Deviations::from_names(&["nope".into()]).is_err());
    }
}
