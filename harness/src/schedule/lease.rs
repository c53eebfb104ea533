//! A running trial's place in the schedule: the service addresses it holds while it runs.

use std::sync::{Arc, Mutex};

use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// A running trial's place in the schedule; it ends when dropped. The trial may hand its addresses back
/// early ([`Lease::release_service_addresses`]); a rerun takes them again.
pub struct Lease {
    addresses: Arc<Semaphore>,
    count: u32,
    held: Mutex<Option<OwnedSemaphorePermit>>,
}

impl Lease {
    /// A lease on `count` addresses of `addresses`, holding none yet.
    pub(super) fn new(addresses: Arc<Semaphore>, count: u32) -> Lease {
        Lease {
            addresses,
            count,
            held: Mutex::new(None),
        }
    }

    /// Takes the trial's addresses unless it holds them (before each attempt).
    pub async fn take_service_addresses(&self) {
        let holding = self.held.lock().map(|h| h.is_some()).unwrap_or(true);
        if self.count == 0 || holding {
            return;
        }
        let permit = self
            .addresses
            .clone()
            .acquire_many_owned(self.count)
            .await
            .ok();
        if let Ok(mut held) = self.held.lock() {
            *held = permit;
        }
    }

    /// True while the trial holds addresses of the budget.
    pub fn holds_service_addresses(&self) -> bool {
        self.count > 0 && self.held.lock().map(|h| h.is_some()).unwrap_or(false)
    }

    /// Hands the addresses back before the trial ends: it holds none any more (its Services are gone) and
    /// only waits, so other trials need not wait with it.
    pub fn release_service_addresses(&self) {
        if let Ok(mut held) = self.held.lock() {
            held.take();
        }
    }
}
