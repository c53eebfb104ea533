//! The users' upgrade-gate workflow (ci/netconform-upgrade-gate.yml): the kind logs are exported whenever
//! trials failed, and no action is pinned to a major that still runs on Node 20 (which GitHub retires).

const WORKFLOW: &str = include_str!("../../ci/netconform-upgrade-gate.yml");

/// The first major of each action that runs on Node 24 (`runs.using: node24` in its action.yml).
const FIRST_NODE24_MAJOR: &[(&str, u32)] = &[
    ("actions/checkout", 5),
    ("actions/cache", 5),
    ("actions/upload-artifact", 6),
    ("actions/download-artifact", 7),
];

/// `(action, major)` of every `uses: owner/name@<sha> # vX.Y.Z` line.
fn pinned_actions() -> Vec<(String, u32, String)> {
    WORKFLOW
        .lines()
        .filter_map(|line| {
            let uses = line
                .trim()
                .trim_start_matches("- ")
                .strip_prefix("uses: ")?;
            let (action, rest) = uses.split_once('@')?;
            let version = rest.split_once("# v")?.1.trim();
            let major = version.split('.').next()?.parse().ok()?;
            Some((action.to_string(), major, line.trim().to_string()))
        })
        .collect()
}

#[test]
fn every_action_runs_on_node_24() {
    let pinned = pinned_actions();
    assert!(pinned.len() >= 6, "{pinned:?}");
    for (action, major, line) in &pinned {
        let first = FIRST_NODE24_MAJOR
            .iter()
            .find(|(name, _)| name == action)
            .map(|(_, m)| *m);
        let Some(first) = first else {
            panic!("{line}: an action whose runtime this test does not know");
        };
        assert!(
            *major >= first,
            "{line}: {action} v{major} runs on Node 20; v{first} and later run on Node 24"
        );
    }
}

/// The step after `- name: <name>` up to the next step.
fn step(name: &str) -> String {
    let start = WORKFLOW
        .find(&format!("- name: {name}"))
        .unwrap_or_else(|| panic!("no step {name:?}"));
    let rest = &WORKFLOW[start + 2..];
    let end = rest.find("\n      - ").map_or(rest.len(), |i| i);
    rest[..end].to_string()
}

#[test]
fn kind_logs_are_exported_when_trials_failed() {
    let suite = step("Run the suite on the");
    assert!(suite.contains("id: suite"), "{suite}");
    assert!(
        suite.contains("echo \"status=$status\" >> \"$GITHUB_OUTPUT\""),
        "{suite}"
    );
    let export = step("Export kind logs");
    assert!(
        export.contains("if: failure() || steps.suite.outputs.status == '101'"),
        "the export runs only on a broken run, not when trials failed (the suite step lets 101 through):\n{export}"
    );
    let upload = WORKFLOW
        .split("\n      - uses: ")
        .find(|s| s.contains("name: kind-logs-"))
        .unwrap_or_default();
    assert!(
        upload.contains("if: failure() || steps.suite.outputs.status == '101'"),
        "{upload}"
    );
}
