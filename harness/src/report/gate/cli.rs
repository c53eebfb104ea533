//! `netconform gate`'s command line and what it does but printing.

use std::path::PathBuf;

use super::compare::Comparison;
use super::{GateError, USAGE};
use crate::report::read;

/// `netconform gate`'s command line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GateArgs {
    pub baseline: PathBuf,
    pub candidate: PathBuf,
    pub force: bool,
    /// `--allow-removed NAME`: trials the candidate may lack.
    pub allow_removed: Vec<String>,
    /// Also write the summary here (it is always printed on stdout).
    pub markdown: Option<PathBuf>,
}

impl GateArgs {
    /// Parses the arguments after `gate`; the error is one line with the usage.
    pub fn parse(args: &[String]) -> Result<GateArgs, String> {
        let parsed = crate::report::args::parse(args, &["--force"], &["--allow-removed"], USAGE)?;
        let force = parsed.has("--force");
        let allow_removed = parsed.values_of("--allow-removed");
        match <[PathBuf; 2]>::try_from(parsed.paths) {
            Ok([baseline, candidate]) => Ok(GateArgs {
                baseline,
                candidate,
                force,
                allow_removed,
                markdown: parsed.markdown,
            }),
            Err(paths) => Err(format!(
                "gate takes two reports, got {}; usage: {USAGE}",
                paths.len()
            )),
        }
    }
}

/// What `netconform gate` prints and exits with.
#[derive(Debug, Clone)]
pub struct GateRun {
    pub markdown: String,
    pub exit_code: u8,
    pub comparison: Comparison,
}

/// Everything `netconform gate` does but printing: read both reports, compare, render, write `--markdown`.
pub fn run(args: &GateArgs) -> Result<GateRun, GateError> {
    let baseline = read::read_report(&args.baseline)?;
    let candidate = read::read_report(&args.candidate)?;
    let comparison =
        Comparison::allowing_removed(baseline, candidate, args.force, &args.allow_removed)?;
    let markdown = comparison.markdown();
    if let Some(path) = &args.markdown {
        std::fs::write(path, &markdown).map_err(|source| GateError::WriteMarkdown {
            path: path.clone(),
            source,
        })?;
    }
    Ok(GateRun {
        exit_code: comparison.exit_code(),
        markdown,
        comparison,
    })
}
