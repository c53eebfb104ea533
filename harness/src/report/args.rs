//! The command lines of the commands that read reports (`netconform gate`, `netconform claims`): report
//! paths, `--markdown OUT.md` and the switches a command takes, in any order. An error is one line that
//! ends with the command's usage.

use std::path::PathBuf;

/// What a report command was given.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct ReportArgs {
    /// The report paths, in order.
    pub paths: Vec<PathBuf>,
    /// `--markdown OUT.md`: also write the Markdown there.
    pub markdown: Option<PathBuf>,
    /// The switches given, of those the command takes.
    pub switches: Vec<&'static str>,
    /// Options with a value (`--allow-removed NAME`), in order, each as often as given.
    pub values: Vec<(&'static str, String)>,
}

impl ReportArgs {
    /// Whether `switch` was given.
    pub fn has(&self, switch: &str) -> bool {
        self.switches.contains(&switch)
    }

    /// The values given to `option`, in order.
    pub fn values_of(&self, option: &str) -> Vec<String> {
        self.values
            .iter()
            .filter(|(o, _)| *o == option)
            .map(|(_, v)| v.clone())
            .collect()
    }
}

/// Parses `args`; `switches` are the command's flags without a value (e.g. `--force`), `valued` its
/// options that take one (e.g. `--allow-removed`).
pub(crate) fn parse(
    args: &[String],
    switches: &[&'static str],
    valued: &[&'static str],
    usage: &str,
) -> Result<ReportArgs, String> {
    let mut parsed = ReportArgs {
        paths: Vec::new(),
        markdown: None,
        switches: Vec::new(),
        values: Vec::new(),
    };
    let mut rest = args.iter();
    while let Some(arg) = rest.next() {
        if let Some(option) = valued.iter().find(|o| **o == arg.as_str()) {
            match rest.next() {
                Some(value) => parsed.values.push((option, value.clone())),
                None => return Err(format!("{option} needs a value; usage: {usage}")),
            }
            continue;
        }
        match arg.as_str() {
            "--markdown" => match rest.next() {
                Some(path) => parsed.markdown = Some(PathBuf::from(path)),
                None => return Err(format!("--markdown needs a path; usage: {usage}")),
            },
            flag if flag.starts_with("--") => match switches.iter().find(|s| **s == flag) {
                Some(switch) => parsed.switches.push(switch),
                None => return Err(format!("unknown option {flag:?}; usage: {usage}")),
            },
            path => parsed.paths.push(PathBuf::from(path)),
        }
    }
    Ok(parsed)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(s: &str) -> Vec<String> {
        s.split_whitespace().map(String::from).collect()
    }

    #[test]
    fn paths_markdown_and_switches_in_any_order() {
        let parsed = parse(
            &args("a.xml --force b.xml --markdown out.md"),
            &["--force"],
            &[],
            "U",
        )
        .unwrap();
        assert_eq!(parsed.paths, vec![PathBuf::from("a.xml"), "b.xml".into()]);
        assert_eq!(parsed.markdown, Some("out.md".into()));
        assert!(parsed.has("--force"));
        assert!(
            !parse(&args("a.xml"), &["--force"], &[], "U")
                .unwrap()
                .has("--force")
        );
        for bad in ["a.xml --markdown", "a.xml --force"] {
            let err = parse(&args(bad), &[], &[], "U").unwrap_err();
            assert!(err.ends_with("usage: U"), "{err}");
        }
        let parsed = parse(&args("a --allow x b --allow y"), &[], &["--allow"], "U").unwrap();
        assert_eq!(parsed.values_of("--allow"), vec!["x", "y"]);
        assert_eq!(parsed.paths.len(), 2);
        let err = parse(&args("a --allow"), &[], &["--allow"], "U").unwrap_err();
        assert_eq!(err, "--allow needs a value; usage: U");
    }
}
