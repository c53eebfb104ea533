//! The command line: libtest's arguments, the name filters split off them, and the trials they select.

use libtest_mimic::{Arguments, Trial};

use crate::trial::TrialDef;

/// The trials to hand libtest-mimic for the name `filters`. One filter becomes libtest-mimic's own, so its
/// summary counts the trials it filtered out; several are applied here. A filter that matches no trial is
/// an error (a typo in a CI job must not pass as a green run of nothing), except for `--list`.
pub(super) fn select(
    all: Vec<TrialDef>,
    filters: &[String],
    args: &mut Arguments,
) -> Result<Vec<TrialDef>, String> {
    let exact = args.exact;
    if !args.list
        && !filters.is_empty()
        && !all
            .iter()
            .any(|t| filters.iter().any(|f| matches(t, f, exact)))
    {
        let names: Vec<String> = filters.iter().map(|f| format!("{f:?}")).collect();
        return Err(format!(
            "no trial matches the filter {}{} ({} trials; `-- --list` lists them)",
            names.join(", "),
            if exact { " (--exact)" } else { "" },
            all.len()
        ));
    }
    Ok(match filters {
        [one] => {
            args.filter = Some(one.clone());
            all
        }
        _ => all
            .into_iter()
            .filter(|t| filters.is_empty() || filters.iter().any(|f| matches(t, f, exact)))
            .collect(),
    })
}

/// Whether trial `def` matches the libtest name filter `filter`.
pub(super) fn matches(def: &TrialDef, filter: &str, exact: bool) -> bool {
    if exact {
        def.name == filter
    } else {
        def.name.contains(filter)
    }
}

/// The selection as the reports record it (`--exact a b --skip c`), `None` for the whole suite.
pub(super) fn describe_selection(filters: &[String], args: &Arguments) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    if args.exact && !filters.is_empty() {
        parts.push("--exact".into());
    }
    parts.extend(filters.iter().cloned());
    for skip in &args.skip {
        parts.push(format!("--skip {skip}"));
    }
    if args.ignored {
        parts.push("--ignored".into());
    }
    (!parts.is_empty()).then(|| parts.join(" "))
}

/// libtest's options that take a value (`--skip X`), so that value is not taken for a filter.
pub(super) const VALUE_OPTIONS: &[&str] = &[
    "--test-threads",
    "--logfile",
    "--skip",
    "--color",
    "--format",
    "-Z",
];

/// libtest runs a trial that matches any of several filters (`cargo test -- dns connectivity`); libtest-mimic
/// takes one. The filters are split off here and applied by [`main`]; the rest goes to libtest-mimic.
pub(super) fn arguments(raw: impl IntoIterator<Item = String>) -> (Arguments, Vec<String>) {
    let mut options = Vec::new();
    let mut filters = Vec::new();
    let mut raw = raw.into_iter();
    options.extend(raw.next());
    while let Some(arg) = raw.next() {
        if VALUE_OPTIONS.contains(&arg.as_str()) {
            options.push(arg);
            options.extend(raw.next());
        } else if arg.starts_with('-') {
            options.push(arg);
        } else {
            filters.push(arg);
        }
    }
    (Arguments::from_iter(options), filters)
}

/// A libtest trial that only carries the name, for filtering and `--list`.
pub(super) fn placeholder(def: &TrialDef) -> Trial {
    Trial::test(def.name, || Ok(()))
}
