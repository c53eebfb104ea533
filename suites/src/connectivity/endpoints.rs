//! (being written)

use netconform::trial::TrialDef;

pub const TRIALS: &[TrialDef] = &[];
