//! The fidelity table: the same suite run on a real cluster and on the test double, trial by trial. Where they
//! disagree the real cluster is right and the double gets fixed, so the table is kept as an artefact
//! (`testbed/fidelity.md`) that a later pair of runs can be diffed against.
//!
//! For each trial: the verdict on each side, and whether what each side observed agrees. Observations are the
//! doc findings (what the cluster showed where the doc says otherwise) and, for trials that did not pass, the
//! failure or skip message. Values that differ by nature (addresses, namespace and object names with a
//! random suffix, durations, ports picked by an allocator) are compared by shape ([`shape`]).

use std::collections::BTreeMap;

use super::summary::{Summary, Verdict};

/// One trial as a JSON summary (`junit.json`) records it, its observations by shape.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Seen {
    outcome: Verdict,
    message: String,
    findings: Vec<String>,
}

fn trials(summary: &Summary) -> BTreeMap<String, Seen> {
    summary
        .trials
        .iter()
        .map(|t| {
            let seen = Seen {
                outcome: t.outcome,
                message: shape(t.message.as_deref().unwrap_or("")),
                findings: t.findings.iter().map(|f| shape(&f.cluster_shows)).collect(),
            };
            (t.name.clone(), seen)
        })
        .collect()
}

/// `real` and `double` are JSON summaries ([`super::summary::read_summary`]); the Markdown table, and how
/// many trials disagree.
pub fn table(real: &Summary, double: &Summary) -> (String, usize) {
    let real = trials(real);
    let double = trials(double);
    let mut names: Vec<&String> = real.keys().chain(double.keys()).collect();
    names.sort();
    names.dedup();
    let mut out = String::from(
        "| trial | real cluster | double | observed values |\n| --- | --- | --- | --- |\n",
    );
    let mut disagreements = 0;
    for name in names {
        let (r, d) = (real.get(name), double.get(name));
        let verdict = |s: Option<&Seen>| s.map_or("absent", |s| s.outcome.label());
        let agreement = match (r, d) {
            (Some(r), Some(d)) => agreement(r, d),
            _ => "not compared: the trial ran on one side only".to_string(),
        };
        if agreement != "agree" {
            disagreements += 1;
        }
        out.push_str(&format!(
            "| `{name}` | {} | {} | {} |\n",
            verdict(r),
            verdict(d),
            cell(&agreement)
        ));
    }
    (out, disagreements)
}

fn agreement(real: &Seen, double: &Seen) -> String {
    if real.outcome != double.outcome {
        return "verdicts differ".into();
    }
    if real.findings != double.findings {
        return format!(
            "findings differ: real {:?}, double {:?}",
            real.findings, double.findings
        );
    }
    // A passed trial reports no message; a failed or skipped one compares its message by shape.
    if real.outcome != Verdict::Passed && real.message != double.message {
        return format!(
            "messages differ: real {:?}, double {:?}",
            real.message, double.message
        );
    }
    "agree".into()
}

fn cell(text: &str) -> String {
    text.replace('|', "\\|").replace('\n', " ")
}

/// `text` with what differs by nature between clusters replaced by a placeholder: IP addresses, names with
/// netconform's random suffixes, numbers (durations, allocated ports, counts of seconds).
pub fn shape(text: &str) -> String {
    let mut out = String::new();
    for word in text.split_inclusive(|c: char| c.is_whitespace() || "()[]{},;\"'`=".contains(c)) {
        let (token, tail) = split_tail(word);
        out.push_str(&token_shape(token));
        out.push_str(tail);
    }
    out
}

fn split_tail(word: &str) -> (&str, &str) {
    match word.char_indices().last() {
        Some((i, c)) if c.is_whitespace() || "()[]{},;\"'`=".contains(c) => {
            (&word[..i], &word[i..])
        }
        _ => (word, ""),
    }
}

fn token_shape(token: &str) -> String {
    let trimmed = token.trim_end_matches(['.', ':']);
    let rest = &token[trimmed.len()..];
    let bare = trimmed.split('/').next().unwrap_or(trimmed);
    let bare = bare.split('%').next().unwrap_or(bare);
    if bare.parse::<std::net::Ipv4Addr>().is_ok() {
        return format!("<ipv4>{rest}");
    }
    if bare.contains(':')
        && bare
            .trim_matches(['[', ']'])
            .parse::<std::net::Ipv6Addr>()
            .is_ok()
    {
        return format!("<ipv6>{rest}");
    }
    // netconform's namespaces and cluster-scoped names: nc-<suite>-<5 random>, maybe with a suffix.
    if let Some(at) = trimmed.find("nc-") {
        let parts: Vec<&str> = trimmed[at..].split('-').collect();
        if parts.len() >= 3 {
            return format!("{}<name>{rest}", &trimmed[..at]);
        }
    }
    let digits: String = trimmed.chars().filter(char::is_ascii_digit).collect();
    if !digits.is_empty()
        && trimmed
            .chars()
            .all(|c| c.is_ascii_digit() || "smµ.".contains(c))
    {
        return format!("<n>{rest}");
    }
    token.to_string()
}

#[cfg(test)]
mod tests {
    use super::super::read::tests::{failed, record};
    use super::super::summary::{build_summary, parse_summary};
    use super::super::{DocFinding, TrialOutcome, TrialRecord, fixtures};
    use super::*;
    use crate::cluster::TargetKind;
    use std::path::Path;

    #[test]
    fn shapes_hide_what_differs_by_nature() {
        assert_eq!(
            shape("Service nc-dns-863g6/data answers 10.96.0.3 and fd00:10:96::a5a5 after 12s."),
            "Service <name> answers <ipv4> and <ipv6> after <n>."
        );
        assert_eq!(
            shape("nodePort 30006 (range 30000-32767)"),
            "nodePort <n> (range 30000-32767)"
        );
        assert_eq!(shape("reason `Terminating`"), "reason `Terminating`");
    }

    /// A JSON summary of `trials`, as written and read back.
    fn summary(trials: &[TrialRecord]) -> Summary {
        let json = serde_json::to_string(&build_summary(
            &fixtures::run_info(Some(TargetKind::Kind)),
            trials,
        ))
        .unwrap();
        parse_summary(Path::new("junit.json"), &json).unwrap()
    }

    fn showing(name: &str, cluster_shows: &str) -> TrialRecord {
        let mut r = record(name, TrialOutcome::Passed);
        r.findings.push(DocFinding {
            claim: r.claim.clone(),
            doc_url: r.doc_url.clone(),
            doc_says: "reason `Gone`".into(),
            cluster_shows: cluster_shows.into(),
        });
        r
    }

    #[test]
    fn verdicts_and_observations_are_compared_trial_by_trial() {
        let real = summary(&[
            showing("a::b::c", "reason `Terminating` on 10.96.0.1"),
            record("a::b::d", failed("range is full")),
            record("a::b::e", TrialOutcome::Passed),
            record(
                "a::b::f",
                TrialOutcome::Skipped {
                    reason: "no LoadBalancer".into(),
                },
            ),
        ]);
        let double = summary(&[
            showing("a::b::c", "reason `Terminating` on 10.96.0.9"),
            record("a::b::d", TrialOutcome::Passed),
            showing("a::b::e", "a TAB"),
        ]);
        let (table, disagreements) = table(&real, &double);
        assert!(
            table.contains("| `a::b::c` | passed | passed | agree |"),
            "{table}"
        );
        assert!(
            table.contains("| `a::b::d` | failed | passed | verdicts differ |"),
            "{table}"
        );
        assert!(
            table.contains("| `a::b::e` | passed | passed | findings differ"),
            "{table}"
        );
        assert!(
            table.contains("| `a::b::f` | skipped | absent | not compared"),
            "{table}"
        );
        assert_eq!(disagreements, 3);
        assert!(parse_summary(Path::new("x.json"), "{}").is_err());
    }
}
