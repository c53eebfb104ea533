//! What keeps concurrent trials out of each other's way: every trial holds the IPv4 service addresses it
//! declares (`Need::ServiceAddresses`, or the whole budget for `Need::ServiceAllocatorAlone`) from a budget
//! of the range's free addresses.

mod lease;

use std::sync::Arc;

use tokio::sync::Semaphore;

use crate::preflight::{Capabilities, Need};
use crate::trial::TrialDef;

pub use lease::Lease;

/// Addresses kept out of the budget. None: a trial hands its addresses back only once the Services of its
/// namespace are gone (the runner waits for that after cleanup), so no finished trial still holds any.
const TERMINATING_MARGIN: u64 = 0;

pub struct Schedule {
    /// Free addresses of the IPv4 service range.
    addresses: Arc<Semaphore>,
    /// The budget's size: what a trial that needs the allocator alone takes.
    budget: u32,
}

impl Schedule {
    pub fn new(capabilities: &Capabilities) -> Arc<Schedule> {
        let free = capabilities
            .free_ipv4_service_addresses
            .map_or(1 << 20, |f| {
                f.saturating_sub(TERMINATING_MARGIN).max(1) as usize
            });
        let budget = free.min(u32::MAX as usize) as u32;
        Arc::new(Schedule {
            addresses: Arc::new(Semaphore::new(budget as usize)),
            budget,
        })
    }

    /// The addresses a trial takes from the budget while it runs.
    fn addresses_of(&self, def: &TrialDef) -> u32 {
        if def.needs.contains(&Need::ServiceAllocatorAlone) {
            return self.budget;
        }
        def.needs
            .iter()
            .map(|n| match n {
                Need::ServiceAddresses(k) => u32::from(*k),
                _ => 0,
            })
            .sum::<u32>()
            .min(self.budget)
    }

    /// Waits for the trial's addresses.
    pub async fn enter(&self, def: &TrialDef) -> Lease {
        let lease = Lease::new(self.addresses.clone(), self.addresses_of(def));
        lease.take_service_addresses().await;
        lease
    }
}

/// The order trials start in: those that need the allocator alone first, so that their turn comes while
/// the budget is whole instead of after every Service-holding trial queued before them (the budget
/// is first come, first served). Otherwise the given order.
pub fn start_order(trials: &[TrialDef]) -> Vec<TrialDef> {
    let alone = |t: &TrialDef| t.needs.contains(&Need::ServiceAllocatorAlone);
    let mut ordered: Vec<TrialDef> = trials.iter().copied().filter(|t| alone(t)).collect();
    ordered.extend(trials.iter().copied().filter(|t| !alone(t)));
    ordered
}

#[cfg(test)]
mod tests {
    use super::*;

    fn trial(name: &'static str, needs: &'static [Need]) -> TrialDef {
        TrialDef {
            name,
            claim: "",
            doc_url: "",
            needs,
            run: |_| Box::pin(async { Ok(()) }),
        }
    }

    fn schedule(free: u64) -> Arc<Schedule> {
        let caps = Capabilities {
            free_ipv4_service_addresses: Some(free),
            ..Capabilities::none()
        };
        Schedule::new(&caps)
    }

    #[test]
    fn trials_needing_the_allocator_alone_start_first_and_the_rest_keep_their_order() {
        let trials = [
            trial("a", &[Need::ServiceAddresses(1)]),
            trial("walk", &[Need::ServiceAllocatorAlone]),
            trial("b", &[]),
        ];
        let names: Vec<&str> = start_order(&trials).iter().map(|t| t.name).collect();
        assert_eq!(names, ["walk", "a", "b"]);
    }

    #[tokio::test]
    async fn a_lease_holds_its_addresses_until_released_and_takes_them_again() {
        let schedule = schedule(6); // budget 6: every free address (no margin, see TERMINATING_MARGIN)
        let alone = schedule
            .enter(&trial("walk", &[Need::ServiceAllocatorAlone]))
            .await;
        assert_eq!(schedule.addresses.available_permits(), 0);
        let other = trial("a", &[Need::ServiceAddresses(2)]);
        assert!(
            tokio::time::timeout(std::time::Duration::from_millis(50), schedule.enter(&other))
                .await
                .is_err(),
            "the whole budget is held"
        );
        assert!(alone.holds_service_addresses());
        alone.release_service_addresses();
        assert!(!alone.holds_service_addresses());
        assert_eq!(schedule.addresses.available_permits(), 6);
        let a = schedule.enter(&other).await;
        assert_eq!(schedule.addresses.available_permits(), 4);
        drop(a);
        alone.take_service_addresses().await;
        assert_eq!(schedule.addresses.available_permits(), 0);
        drop(alone);
        assert_eq!(schedule.addresses.available_permits(), 6);
    }
}
