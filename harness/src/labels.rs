//! Labels that mark what netconform creates, so cleanup and `netconform sweep` find it by label only.

/// Standard "managed by" label; its value is [`MANAGED_BY_VALUE`] on everything netconform creates.
pub const MANAGED_BY_KEY: &str = "app.kubernetes.io/managed-by";
pub const MANAGED_BY_VALUE: &str = "netconform";
/// The run that created the object (one id per `cargo test` invocation).
pub const RUN_ID_KEY: &str = "netconform.io/run-id";
/// The suite whose trial created the object.
pub const SUITE_KEY: &str = "netconform.io/suite";
/// The full trial name is too long and has `::`, so it goes in an annotation.
pub const TRIAL_ANNOTATION: &str = "netconform.io/trial";

/// The label selector that matches everything netconform created, in any run.
pub fn managed_selector() -> String {
    format!("{MANAGED_BY_KEY}={MANAGED_BY_VALUE}")
}

/// The labels of everything run `run_id` creates (namespaces add [`SUITE_KEY`]).
pub fn run_labels(run_id: &str) -> std::collections::BTreeMap<String, String> {
    [
        (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string()),
        (RUN_ID_KEY.to_string(), run_id.to_string()),
    ]
    .into()
}

/// The labels of a namespace a trial owns (its own, or an extra one it creates), so cleanup and
/// `netconform sweep` find it by label.
pub fn owned_namespace_labels(
    run_id: &str,
    suite: &str,
) -> std::collections::BTreeMap<String, String> {
    let mut labels = run_labels(run_id);
    labels.insert(SUITE_KEY.to_string(), suite.to_string());
    labels
}
