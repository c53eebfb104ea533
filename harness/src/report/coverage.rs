//! `netconform claims --coverage`: how much of the seeds the suite checks, from the claims index
//! ([`crate::claims_index`]): per seed and in total, covered / partial / uncovered / not checkable.

use std::collections::BTreeMap;
use std::path::Path;

use super::markdown as md;
use crate::claims_index::{Claim, ClaimsIndex, Class, Status};

/// Counts of claims by status.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Counts {
    pub covered: usize,
    pub partial: usize,
    pub uncovered: usize,
    pub not_checkable: usize,
}

impl Counts {
    fn of<'a>(claims: impl IntoIterator<Item = &'a Claim>) -> Counts {
        let mut counts = Counts::default();
        for claim in claims {
            *counts.slot(claim.status) += 1;
        }
        counts
    }

    fn slot(&mut self, status: Status) -> &mut usize {
        match status {
            Status::Covered => &mut self.covered,
            Status::Partial => &mut self.partial,
            Status::Uncovered => &mut self.uncovered,
            Status::NotCheckable => &mut self.not_checkable,
        }
    }

    pub fn checkable(&self) -> usize {
        self.covered + self.partial + self.uncovered
    }

    pub fn total(&self) -> usize {
        self.checkable() + self.not_checkable
    }

    /// `54 covered, 23 partial, 39 uncovered`.
    pub fn sentence(&self) -> String {
        format!(
            "{} covered, {} partial, {} uncovered",
            self.covered, self.partial, self.uncovered
        )
    }
}

/// The claims of each seed (a claim several seeds make counts under each), in the index's seed order.
pub fn per_seed(index: &ClaimsIndex) -> Vec<(&str, Counts)> {
    index
        .seeds
        .iter()
        .map(|seed| {
            let claims = index
                .claims
                .iter()
                .filter(|c| c.seeds().contains(&seed.id.as_str()));
            (seed.id.as_str(), Counts::of(claims))
        })
        .collect()
}

/// The one-line figure: `125 seed claims, 116 checkable: 54 covered, 23 partial, 39 uncovered (77 of 116 …)`.
pub fn headline(index: &ClaimsIndex) -> String {
    let all = Counts::of(&index.claims);
    let checked = all.covered + all.partial;
    let percent = (checked * 100).checked_div(all.checkable()).unwrap_or(0);
    format!(
        "{} seed claims, {} checkable: {} ({checked} of {}, {percent} %, have at least a partial check)",
        all.total(),
        all.checkable(),
        all.sentence(),
        all.checkable()
    )
}

/// The coverage as Markdown; `path` is where the index was read.
pub fn markdown(index: &ClaimsIndex, path: &Path) -> String {
    let mut out = format!("## netconform seed coverage: {}\n\n", headline(index));
    out.push_str(
        "| seed | about | claims | covered | partial | uncovered | not checkable |\n|---|---|--:|--:|--:|--:|--:|\n",
    );
    let row = |name: &str, about: &str, c: Counts| {
        format!(
            "| {name} | {} | {} | {} | {} | {} | {} |\n",
            md::cell(about),
            c.total(),
            c.covered,
            c.partial,
            c.uncovered,
            c.not_checkable
        )
    };
    for ((id, counts), seed) in per_seed(index).into_iter().zip(&index.seeds) {
        out.push_str(&row(id, &seed.about, counts));
    }
    out.push_str(&row(
        "**all**",
        "each claim once",
        Counts::of(&index.claims),
    ));
    out.push_str("\nA claim several seeds make counts under each of them.\n");
    let skipped = ids(index, |c| {
        c.status == Status::Covered && c.skipped_on_testbed
    });
    if !skipped.is_empty() {
        out.push_str(&format!(
            "Covered includes {} claim(s) whose trials are skipped on the testbed: {}.\n",
            skipped.len(),
            skipped.join(", ")
        ));
    }
    for (class, name) in [
        (Class::Kind, "a (checkable on kind)"),
        (Class::Component, "b (needs a component kind lacks)"),
    ] {
        let counts = Counts::of(index.claims.iter().filter(|c| c.class == class));
        out.push_str(&format!(
            "Class {name}: {}: {}.\n",
            counts.total(),
            counts.sentence()
        ));
    }
    out.push('\n');
    for status in [Status::Partial, Status::Uncovered] {
        // Grouped by the issue that plans the missing check, so a reader sees what is on its way.
        let mut by_issue: BTreeMap<Option<u32>, Vec<&str>> = BTreeMap::new();
        for claim in index.claims.iter().filter(|c| c.status == status) {
            by_issue.entry(claim.issue).or_default().push(&claim.id);
        }
        for (issue, ids) in by_issue {
            let planned = match issue {
                Some(n) => format!("planned in issue {n}"),
                None => "no issue plans it".to_string(),
            };
            out.push_str(&format!(
                "- {} ({planned}, {}): {}\n",
                status.label(),
                ids.len(),
                ids.join(", ")
            ));
        }
    }
    let traced = index.claims_by_trial().len();
    out.push_str(&format!(
        "\nTrials: {traced} traced to seed claims, {} to doc pages beyond the seeds. Index: {}.\n",
        index.beyond_seeds.len(),
        md::code(&path.display().to_string())
    ));
    out
}

fn ids(index: &ClaimsIndex, keep: impl Fn(&Claim) -> bool) -> Vec<&str> {
    index
        .claims
        .iter()
        .filter(|c| keep(c))
        .map(|c| c.id.as_str())
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const INDEX: &str = r#"
seeds:
  - { id: "000", file: a.txt, about: "tasks" }
  - { id: "001", file: b.txt, about: "notes" }
beyond_seeds:
  - { trial: x::y::beyond, page: "https://kubernetes.io/docs/x/" }
claims:
  - { id: H1, claim: "one", locators: ["000 L1", "001 L9"], class: a, status: covered, trials: [x::y::a] }
  - { id: H2, claim: "two", locators: ["000 L2"], class: a, status: partial, trials: [x::y::a], reason: "half", issue: 21 }
  - { id: P1, claim: "three", locators: ["001 L3"], class: b, class_note: "an LB", status: covered, skipped_on_testbed: true, trials: [x::y::b] }
  - { id: P2, claim: "four", locators: ["001 L4"], class: a, status: uncovered, reason: "not networking" }
  - { id: P3, claim: "five", locators: ["001 L5"], class: c, status: not-checkable, reason: "history" }
"#;

    #[test]
    fn counts_per_seed_and_once_in_total() {
        let index = ClaimsIndex::parse(Path::new("i.yaml"), INDEX).unwrap();
        let seeds = per_seed(&index);
        assert_eq!(
            seeds[0],
            (
                "000",
                Counts {
                    covered: 1,
                    partial: 1,
                    uncovered: 0,
                    not_checkable: 0
                }
            )
        );
        assert_eq!(seeds[1].1.total(), 4);
        assert_eq!(
            headline(&index),
            "5 seed claims, 4 checkable: 2 covered, 1 partial, 1 uncovered (3 of 4, 75 %, have at least a partial check)"
        );
        let md = markdown(&index, Path::new("suites/claims.yaml"));
        for needle in [
            "## netconform seed coverage: 5 seed claims, 4 checkable",
            "| 000 | tasks | 2 | 1 | 1 | 0 | 0 |\n| 001 | notes | 4 | 2 | 0 | 1 | 1 |\n| **all** | each claim once | 5 | 2 | 1 | 1 | 1 |",
            "skipped on the testbed: P1.",
            "Class b (needs a component kind lacks): 1: 1 covered, 0 partial, 0 uncovered.",
            "- partial (planned in issue 21, 1): H2\n- uncovered (no issue plans it, 1): P2\n",
            "Trials: 2 traced to seed claims, 1 to doc pages beyond the seeds. Index: `suites/claims.yaml`.",
        ] {
            assert!(md.contains(needle), "{needle:?} not in\n{md}");
        }
    }
}
