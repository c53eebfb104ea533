//! The claims index (`suites/claims.yaml`): every claim of the seeds, the documents the project was created
//! from, with its class, its status and the trials that check it. The harness cannot see the suites' trials,
//! so the index is data: `netconform claims --coverage` counts it ([`crate::report::coverage`]), the claims
//! matrix names each trial's seed claims, and the suites' unit test holds it against their trials.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// Where the index lives, relative to the workspace root.
pub const DEFAULT_PATH: &str = "suites/claims.yaml";

#[derive(Debug, thiserror::Error)]
pub enum IndexError {
    #[error("cannot read the claims index {}: {source}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("the claims index {} is not valid: {reason}", path.display())]
    Parse { path: PathBuf, reason: String },
    #[error("the claims index {} is inconsistent: {}", path.display(), problems.join("; "))]
    Inconsistent {
        path: PathBuf,
        problems: Vec<String>,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClaimsIndex {
    pub seeds: Vec<Seed>,
    /// Trials that check doc pages beyond the seeds, traced to their page instead of a seed claim.
    pub beyond_seeds: Vec<BeyondSeeds>,
    pub claims: Vec<Claim>,
}

/// One seed document.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Seed {
    /// `000`…: how locators name it.
    pub id: String,
    pub file: String,
    pub about: String,
}

#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BeyondSeeds {
    pub trial: String,
    /// The trial's doc_url.
    pub page: String,
}

/// One claim of the seeds.
#[derive(Debug, Clone, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Claim {
    /// `H1`, `D13`, `P15`…: what issues and trials cite.
    pub id: String,
    pub claim: String,
    /// `seed §heading Lnn`, one per seed that makes the claim; the first word is the seed's id.
    pub locators: Vec<String>,
    pub class: Class,
    /// What a class b claim needs, or which part of a claim is of another class.
    #[serde(default)]
    pub class_note: Option<String>,
    pub status: Status,
    /// Its trials are in `testbed/expected-skips`.
    #[serde(default)]
    pub skipped_on_testbed: bool,
    #[serde(default)]
    pub trials: Vec<String>,
    /// How the trials check it, where their names do not say.
    #[serde(default)]
    pub how: Option<String>,
    /// Partial: what is missing; uncovered: why there is no trial; not checkable: why not.
    #[serde(default)]
    pub reason: Option<String>,
    #[serde(default)]
    pub note: Option<String>,
    /// The issue that plans the missing check.
    #[serde(default)]
    pub issue: Option<u32>,
}

/// Whether a running cluster can show the claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
pub enum Class {
    /// Checkable on a plain kind dual-stack cluster.
    #[serde(rename = "a")]
    Kind,
    /// Needs a component plain kind lacks.
    #[serde(rename = "b")]
    Component,
    /// A concept, history or opinion.
    #[serde(rename = "c")]
    NotCheckable,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Status {
    Covered,
    Partial,
    Uncovered,
    NotCheckable,
}

impl Status {
    pub const ALL: [Status; 4] = [
        Status::Covered,
        Status::Partial,
        Status::Uncovered,
        Status::NotCheckable,
    ];

    pub fn label(self) -> &'static str {
        match self {
            Status::Covered => "covered",
            Status::Partial => "partial",
            Status::Uncovered => "uncovered",
            Status::NotCheckable => "not checkable",
        }
    }
}

impl Claim {
    /// The seed ids its locators name, in order, each once.
    pub fn seeds(&self) -> Vec<&str> {
        let mut seeds: Vec<&str> = Vec::new();
        for locator in &self.locators {
            let seed = locator.split_whitespace().next().unwrap_or("");
            if !seeds.contains(&seed) {
                seeds.push(seed);
            }
        }
        seeds
    }

    fn stated(text: &Option<String>) -> bool {
        text.as_deref().is_some_and(|t| !t.trim().is_empty())
    }

    /// What is wrong with the entry on its own, one line each.
    fn problems(&self, seeds: &BTreeSet<&str>) -> Vec<String> {
        let id = &self.id;
        let mut out = Vec::new();
        let mut fail = |problem: &str| out.push(format!("{id}: {problem}"));
        if !is_claim_id(id) {
            fail("an id is a capital letter and a number");
        }
        if self.claim.trim().is_empty() || self.claim.contains('\n') {
            fail("the claim is one non-empty line");
        }
        if self.locators.is_empty() {
            fail("no locator");
        }
        for seed in self.seeds() {
            if !seeds.contains(seed) {
                fail(&format!("a locator names {seed:?}, not a seed"));
            }
        }
        let reason = Claim::stated(&self.reason);
        let has_trials = !self.trials.is_empty();
        if (self.class == Class::NotCheckable) != (self.status == Status::NotCheckable) {
            fail("class c and status not-checkable go together");
        }
        if self.class == Class::Component && !Claim::stated(&self.class_note) {
            fail("a class b claim names what it needs in class_note");
        }
        match self.status {
            Status::Covered if !has_trials => fail("covered, but no trial"),
            Status::Partial if !has_trials || !reason => {
                fail("partial needs its trials and a reason: what is missing")
            }
            Status::Uncovered if has_trials => fail("uncovered, but it names trials"),
            Status::Uncovered if !reason && self.issue.is_none() => {
                fail("uncovered needs a reason or the issue that plans its check")
            }
            Status::NotCheckable if has_trials || !reason => {
                fail("not checkable needs a reason and no trial")
            }
            _ => {}
        }
        if self.skipped_on_testbed && !has_trials {
            fail("skipped on the testbed, but no trial");
        }
        let distinct: BTreeSet<&String> = self.trials.iter().collect();
        if distinct.len() != self.trials.len() {
            fail("a trial is named twice");
        }
        out
    }
}

impl ClaimsIndex {
    /// The index at the default path under the workspace root that contains `start`.
    pub fn default_path(start: &Path) -> PathBuf {
        crate::config::workspace_root(start).join(DEFAULT_PATH)
    }

    /// Reads, parses and checks the index: an inconsistent index is an error, not a wrong count.
    pub fn load(path: &Path) -> Result<ClaimsIndex, IndexError> {
        let text = std::fs::read_to_string(path).map_err(|source| IndexError::Read {
            path: path.to_path_buf(),
            source,
        })?;
        ClaimsIndex::parse(path, &text)
    }

    pub fn parse(path: &Path, text: &str) -> Result<ClaimsIndex, IndexError> {
        let index: ClaimsIndex = serde_saphyr::from_str(text).map_err(|e| IndexError::Parse {
            path: path.to_path_buf(),
            reason: crate::text::one_line(&e.to_string()),
        })?;
        let problems = index.problems();
        if problems.is_empty() {
            Ok(index)
        } else {
            Err(IndexError::Inconsistent {
                path: path.to_path_buf(),
                problems,
            })
        }
    }

    /// What is wrong with the index without the suites' trials (the suites' unit test adds those checks).
    pub fn problems(&self) -> Vec<String> {
        let seeds: BTreeSet<&str> = self.seeds.iter().map(|s| s.id.as_str()).collect();
        let mut out = Vec::new();
        if seeds.len() != self.seeds.len() {
            out.push("a seed is listed twice".to_string());
        }
        let mut ids = BTreeSet::new();
        for claim in &self.claims {
            if !ids.insert(claim.id.as_str()) {
                out.push(format!("{}: listed twice", claim.id));
            }
            out.extend(claim.problems(&seeds));
        }
        let named = self.claims_by_trial();
        let mut beyond = BTreeSet::new();
        for b in &self.beyond_seeds {
            if !beyond.insert(b.trial.as_str()) {
                out.push(format!("{}: listed twice beyond the seeds", b.trial));
            }
            if b.page.trim().is_empty() {
                out.push(format!("{}: beyond the seeds without its page", b.trial));
            }
            // A trial that checks a seed claim is traced to it; the list holds only the others.
            if let Some(ids) = named.get(b.trial.as_str()) {
                out.push(format!(
                    "{}: listed beyond the seeds, but {} names it",
                    b.trial,
                    ids.join(", ")
                ));
            }
        }
        out
    }

    /// Each trial a claim names, with the ids of the claims that name it.
    pub fn claims_by_trial(&self) -> BTreeMap<&str, Vec<&str>> {
        let mut by_trial: BTreeMap<&str, Vec<&str>> = BTreeMap::new();
        for claim in &self.claims {
            for trial in &claim.trials {
                by_trial.entry(trial).or_default().push(&claim.id);
            }
        }
        by_trial
    }

    pub fn claim(&self, id: &str) -> Option<&Claim> {
        self.claims.iter().find(|c| c.id == id)
    }
}

/// The seed claim ids a trial's claim text cites, as `[A6]` or `[P53, P54]`: a bracket that holds only ids.
pub fn cited_ids(text: &str) -> Vec<&str> {
    let mut out = Vec::new();
    for (start, _) in text.match_indices('[') {
        let rest = &text[start + 1..];
        let Some(end) = rest.find(']') else {
            continue;
        };
        let ids: Vec<&str> = rest[..end].split(',').map(str::trim).collect();
        if ids.iter().all(|id| is_claim_id(id)) {
            out.extend(ids);
        }
    }
    out
}

/// `H1`, `P53`: a capital letter, then digits.
fn is_claim_id(text: &str) -> bool {
    let mut chars = text.chars();
    chars.next().is_some_and(|c| c.is_ascii_uppercase())
        && !chars.as_str().is_empty()
        && chars.all(|c| c.is_ascii_digit())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ONE: &str = r#"
seeds:
  - id: "000"
    file: 000_x.txt
    about: "a seed"
beyond_seeds:
  - trial: a::b::beyond
    page: https://kubernetes.io/docs/x/
claims:
  - id: H1
    claim: "the kubelet manages /etc/hosts"
    locators: ["000 §a L1-2"]
    class: a
    status: covered
    trials: [a::b::c]
  - id: H2
    claim: "an init container's edit is lost"
    locators: ["000 L3"]
    class: a
    status: uncovered
    issue: 21
"#;

    fn parse(text: &str) -> Result<ClaimsIndex, IndexError> {
        ClaimsIndex::parse(Path::new("claims.yaml"), text)
    }

    fn problems(text: &str) -> String {
        match parse(text) {
            Err(IndexError::Inconsistent { problems, .. }) => problems.join("; "),
            other => panic!("not inconsistent: {other:?}"),
        }
    }

    #[test]
    fn a_consistent_index_loads() {
        let index = parse(ONE).unwrap();
        assert_eq!(index.claims.len(), 2);
        assert_eq!(index.claims[0].seeds(), vec!["000"]);
        assert_eq!(index.claims_by_trial().get("a::b::c"), Some(&vec!["H1"]));
    }

    #[test]
    fn every_gap_needs_its_reason() {
        let cases = [
            (
                ONE.replace("    issue: 21\n", ""),
                "H2: uncovered needs a reason",
            ),
            (
                ONE.replace("status: covered", "status: partial"),
                "H1: partial needs its trials and a reason",
            ),
            (
                ONE.replace("    trials: [a::b::c]\n", ""),
                "H1: covered, but no trial",
            ),
            (
                ONE.replace(
                    "class: a\n    status: uncovered",
                    "class: b\n    status: uncovered",
                ),
                "H2: a class b claim names what it needs",
            ),
            (
                ONE.replace(
                    "class: a\n    status: uncovered",
                    "class: c\n    status: uncovered",
                ),
                "H2: class c and status not-checkable go together",
            ),
            (
                ONE.replace("000 L3", "009 L3"),
                "H2: a locator names \"009\"",
            ),
            (ONE.replace("id: H2", "id: H1"), "H1: listed twice"),
            (
                ONE.replace("trials: [a::b::c]", "trials: [a::b::beyond]"),
                "a::b::beyond: listed beyond the seeds, but H1 names it",
            ),
        ];
        for (text, expected) in cases {
            let found = problems(&text);
            assert!(found.contains(expected), "{expected:?} not in {found:?}");
        }
    }

    #[test]
    fn unknown_fields_and_values_are_refused() {
        for text in [
            ONE.replace("status: covered", "status: done"),
            ONE.replace("    issue: 21\n", "    issues: 21\n"),
        ] {
            assert!(
                matches!(parse(&text), Err(IndexError::Parse { .. })),
                "{text}"
            );
        }
        let missing = ClaimsIndex::load(Path::new("/nonexistent/claims.yaml")).unwrap_err();
        assert!(
            missing
                .to_string()
                .starts_with("cannot read the claims index")
        );
    }

    #[test]
    fn citations_are_brackets_of_ids() {
        assert_eq!(
            cited_ids("the list [IPv4] is set [A7]; limits [P53, P54] hold [a link](x)"),
            vec!["A7", "P53", "P54"]
        );
        assert!(cited_ids("`[IPv4, IPv6]` and [] and [H]").is_empty());
    }

    /// The project's own index loads: the suites' unit test checks it against the trials.
    #[test]
    fn the_projects_index_is_consistent() {
        let path = ClaimsIndex::default_path(Path::new(env!("CARGO_MANIFEST_DIR")));
        let index = ClaimsIndex::load(&path).unwrap_or_else(|e| panic!("{e}"));
        assert!(index.claims.len() >= 125, "{}", index.claims.len());
    }
}
