//! The conformance suites. Each module is one doc page's claims; each trial is one check,
//! named `suite::scenario::check` and traced to its claim and page.

pub mod dns;
pub mod doc;
pub mod dual_stack;
pub mod hostaliases;
pub mod pods;
pub mod service_cidr;

use netconform::trial::TrialDef;

/// Every trial of every suite, in a stable order.
pub fn all_trials() -> Vec<TrialDef> {
    let suites: &[&[TrialDef]] = &[hostaliases::TRIALS, dns::busybox::TRIALS, dns::services::TRIALS, dns::pods::TRIALS, dns::resolv::TRIALS, service_cidr::TRIALS, dual_stack::TRIALS];
    suites.iter().flat_map(|s| s.iter().copied()).collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    #[test]
    fn trial_names_are_unique_and_three_part() {
        let trials = super::all_trials();
        let names: BTreeSet<&str> = trials.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), trials.len(), "duplicate trial names");
        for t in &trials {
            assert_eq!(t.name.split("::").count(), 3, "{} is not suite::scenario::check", t.name);
            assert!(t.doc_url.starts_with("https://kubernetes.io/docs/"), "{}: {}", t.name, t.doc_url);
        }
    }
}
