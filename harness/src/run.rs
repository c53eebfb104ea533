//! What every trial of one run shares: the run's id, its client and target, what preflight found, its
//! cleanup and lease, and the shared scenarios computed so far.

use std::any::Any;
use std::collections::{BTreeSet, HashMap};
use std::sync::{Arc, Mutex};

use kube::Client;
use rand::Rng;

use crate::cleanup::Cleanup;
use crate::cluster::TargetKind;
use crate::config::Settings;
use crate::preflight::Capabilities;

/// What every trial of one run shares.
pub struct RunState {
    pub run_id: String,
    pub client: Client,
    pub target: TargetKind,
    /// Whether netconform created the cluster, in this run or an earlier one (only then may disruptive trials
    /// run without being allowed).
    pub made_by_netconform: bool,
    pub capabilities: Capabilities,
    pub settings: Settings,
    pub cleanup: Cleanup,
    /// The lease that tells sweeps this run is live; `None` where Leases are not served.
    pub lease: Option<crate::liveness::RunLease>,
    /// The shared scenarios computed so far ([`crate::scenario`]).
    pub scenarios: Scenarios,
    /// The client outside the cluster, started when a trial first needs it ([`crate::outside`]).
    pub outside: crate::outside::Outside,
}

/// This run's latest computation of each scenario, by name, each behind its own lock.
#[derive(Default)]
pub struct Scenarios {
    slots: Mutex<HashMap<&'static str, Arc<tokio::sync::Mutex<Option<Slot>>>>>,
}

/// A computation and the trials that read it.
pub(crate) struct Slot {
    pub(crate) computed: Arc<dyn Any + Send + Sync>,
    pub(crate) read_by: BTreeSet<&'static str>,
}

impl Scenarios {
    pub(crate) fn slot(&self, name: &'static str) -> Arc<tokio::sync::Mutex<Option<Slot>>> {
        let mut slots = self
            .slots
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        slots.entry(name).or_default().clone()
    }
}

/// A fresh id of eight lowercase letters and digits: a run's, or a namespace's suffix.
pub(crate) fn new_run_id() -> String {
    const ALPHABET: &[u8] = b"abcdefghijklmnopqrstuvwxyz0123456789";
    let mut rng = rand::rng();
    (0..8)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}
