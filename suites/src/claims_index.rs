//! The claims index (`suites/claims.yaml`) held against the trials, so neither drifts from the other: every
//! trial it names exists, every trial traces to a seed claim or to a doc page beyond the seeds, and every seed
//! claim a trial's claim cites (`[A6]`) is in the index and names that trial. The index's own rules (a reason
//! for every gap) are checked when it loads (netconform::claims_index).

use std::collections::{BTreeMap, BTreeSet};

use netconform::claims_index::{ClaimsIndex, cited_ids};
use netconform::trial::TrialDef;

/// What is wrong between the index and the trials, one line each.
fn problems(index: &ClaimsIndex, trials: &[TrialDef]) -> Vec<String> {
    let by_name: BTreeMap<&str, &TrialDef> = trials.iter().map(|t| (t.name, t)).collect();
    let named = index.claims_by_trial();
    let beyond: BTreeMap<&str, &str> = index
        .beyond_seeds
        .iter()
        .map(|b| (b.trial.as_str(), b.page.as_str()))
        .collect();
    let mut out = Vec::new();
    for (trial, ids) in &named {
        if !by_name.contains_key(trial) {
            out.push(format!("{} name(s) {trial}, not a trial", ids.join(", ")));
        }
    }
    for (trial, page) in &beyond {
        match by_name.get(trial) {
            None => out.push(format!("beyond the seeds: {trial} is not a trial")),
            Some(t) if t.doc_url != *page => out.push(format!(
                "beyond the seeds: {trial}'s page is {page}, its doc_url {}",
                t.doc_url
            )),
            Some(_) => {}
        }
    }
    for t in trials {
        if !named.contains_key(t.name) && !beyond.contains_key(t.name) {
            out.push(format!(
                "{} traces to no seed claim and is not listed beyond the seeds",
                t.name
            ));
        }
        for id in cited_ids(t.claim) {
            match index.claim(id) {
                None => out.push(format!("{} cites [{id}], not in the index", t.name)),
                Some(c) if !c.trials.iter().any(|n| n == t.name) => {
                    out.push(format!("{} cites [{id}], which does not name it", t.name))
                }
                Some(_) => {}
            }
        }
    }
    out
}

fn index() -> ClaimsIndex {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("claims.yaml");
    ClaimsIndex::load(&path).unwrap_or_else(|e| panic!("{e}"))
}

#[test]
fn the_index_and_the_trials_agree() {
    let index = index();
    let found = problems(&index, &crate::all_trials());
    assert!(
        found.is_empty(),
        "suites/claims.yaml:\n{}",
        found.join("\n")
    );
    // The audit the index started from: 125 claims, none dropped.
    let ids: BTreeSet<&str> = index.claims.iter().map(|c| c.id.as_str()).collect();
    assert!(ids.len() >= 125, "{} claims", ids.len());
}

/// The check above fails for each kind of drift.
#[test]
fn each_drift_is_caught() {
    let trials = crate::all_trials();
    let base = index();
    let first = trials[0].name;
    let beyond = base.beyond_seeds[0].trial.clone();
    let drifts: [(&str, Box<dyn Fn(&mut ClaimsIndex, &mut Vec<TrialDef>)>); 5] = [
        (
            "not a trial",
            Box::new(|i, _| i.claims[0].trials.push("x::y::gone".into())),
        ),
        (
            "traces to no seed claim",
            Box::new(move |i, _| {
                for c in &mut i.claims {
                    c.trials.retain(|t| t != first);
                }
            }),
        ),
        (
            "its doc_url",
            Box::new(|i, _| i.beyond_seeds[0].page = "https://kubernetes.io/docs/x/".into()),
        ),
        (
            "not in the index",
            Box::new(|_, t| t[0].claim = "the hosts file [Z9]"),
        ),
        (
            "which does not name it",
            Box::new(move |i, t| {
                let id = i
                    .claims
                    .iter()
                    .find(|c| c.trials.is_empty())
                    .unwrap()
                    .id
                    .clone();
                t[0].claim = Box::leak(format!("the hosts file [{id}]").into_boxed_str());
            }),
        ),
    ];
    assert!(!beyond.is_empty());
    for (expected, drift) in drifts {
        let mut index = base.clone();
        let mut trials = trials.clone();
        drift(&mut index, &mut trials);
        let found = problems(&index, &trials).join("\n");
        assert!(found.contains(expected), "{expected:?} not in {found:?}");
    }
}
