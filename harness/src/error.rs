//! Why a run could not be carried out, and the process exit code for each reason.
//!
//! Exit code 101 stays "trials failed" (what libtest returns); every harness problem has its own code so a
//! CI job can tell "the cluster is broken" from "netconform was misconfigured". [`EXIT_CODES`] documents
//! them; the README's table is [`render_exit_code_table`].

use std::path::PathBuf;

use crate::config::ConfigError;
use crate::manifest::ManifestError;
use crate::text::one_line;

pub const EXIT_CONFIG: i32 = 2;
pub const EXIT_KUBECONFIG: i32 = 3;
pub const EXIT_UNREACHABLE: i32 = 4;
pub const EXIT_NO_TARGET: i32 = 5;
pub const EXIT_KIND: i32 = 6;
pub const EXIT_MANIFEST: i32 = 7;
pub const EXIT_CAPABILITY: i32 = 8;
pub const EXIT_REPORT: i32 = 9;
pub const EXIT_API: i32 = 10;
pub const EXIT_DOUBLE: i32 = 11;
pub const EXIT_NO_MATCH: i32 = 12;
pub const EXIT_NOT_READY: i32 = 13;
pub const EXIT_NO_DOUBLE: i32 = 14;
pub const EXIT_SETUP: i32 = 15;
/// 128 + SIGINT, as shells report an interrupted process.
pub const EXIT_INTERRUPTED: i32 = 130;

#[derive(Debug, thiserror::Error)]
pub enum HarnessError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("no kubeconfig: {0}")]
    NoKubeconfig(String),
    #[error("broken kubeconfig {source_name}: {reason}")]
    BrokenKubeconfig { source_name: String, reason: String },
    #[error("the kubernetes api at {server} is unreachable: {reason}")]
    Unreachable { server: String, reason: String },
    #[error("no target cluster and NETCONFORM_REQUIRE_CLUSTER=1: {reason}")]
    NoTarget { reason: String },
    #[error("`{tool}` is not on PATH: {hint}")]
    ToolMissing { tool: String, hint: String },
    #[error("`{command}` failed ({status}): {detail}")]
    CommandFailed {
        command: String,
        status: String,
        detail: String,
    },
    #[error("{0}")]
    Manifest(#[from] ManifestError),
    #[error("unmet capability and NETCONFORM_REQUIRE_CLUSTER=1: {0}")]
    Capability(String),
    #[error("cannot write report {}: {reason}", path.display())]
    Report { path: PathBuf, reason: String },
    #[error("kubernetes api request failed: {context}: {reason}")]
    Api { context: String, reason: String },
    #[error("the test double failed to start: {0}")]
    Double(String),
    /// `NETCONFORM_TARGET=sim` or `netconform sim` in a build without the `double` feature (the users' build).
    #[error(
        "the test double netconform-double, which {0} needs, is not in this build: add `--features netconform/double` (e.g. `NETCONFORM_TARGET=sim cargo test --test conformance --features netconform/double`), or run the project's tests, `NETCONFORM_TARGET=sim cargo test --workspace`"
    )]
    NoDouble(String),
    #[error("the kind cluster netconform created did not become ready: {0}")]
    NotReady(String),
    /// `NETCONFORM_KIND_SETUP` failed on the kind cluster netconform created ([`crate::cluster::setup`]).
    #[error("the kind setup program NETCONFORM_KIND_SETUP={hook} failed ({status}): {detail}")]
    Setup {
        hook: String,
        status: String,
        detail: String,
    },
    #[error("interrupted")]
    Interrupted,
}

impl ConfigError {
    /// The process exit code for a configuration error (see [`EXIT_CODES`]).
    pub fn exit_code(&self) -> i32 {
        EXIT_CONFIG
    }
}

/// One documented exit code.
#[derive(Debug, Clone, Copy)]
pub struct ExitCodeDoc {
    pub code: i32,
    pub meaning: &'static str,
}

pub const EXIT_CODES: &[ExitCodeDoc] = &[
    ExitCodeDoc {
        code: 0,
        meaning: "every trial that ran passed (skipped trials do not fail a run)",
    },
    ExitCodeDoc {
        code: 101,
        meaning: "one or more trials failed (libtest's status; `cargo test` passes it on)",
    },
    ExitCodeDoc {
        code: 2,
        meaning: "invalid `NETCONFORM_*` setting",
    },
    ExitCodeDoc {
        code: 3,
        meaning: "kubeconfig missing (`NETCONFORM_TARGET=existing`) or unreadable, or the context does not exist",
    },
    ExitCodeDoc {
        code: 4,
        meaning: "the cluster's API server did not answer",
    },
    ExitCodeDoc {
        code: 5,
        meaning: "no target cluster found and `NETCONFORM_REQUIRE_CLUSTER=1`",
    },
    ExitCodeDoc {
        code: 6,
        meaning: "`kind` or `docker` missing, or a `kind`/`docker` command failed",
    },
    ExitCodeDoc {
        code: 7,
        meaning: "a manifest file is malformed",
    },
    ExitCodeDoc {
        code: 8,
        meaning: "the cluster lacks a capability a selected trial needs (e.g. it is single-stack) and `NETCONFORM_REQUIRE_CLUSTER=1`",
    },
    ExitCodeDoc {
        code: 9,
        meaning: "the JUnit or JSON report could not be written",
    },
    ExitCodeDoc {
        code: 10,
        meaning: "a Kubernetes API request the harness itself needs failed (e.g. forbidden)",
    },
    ExitCodeDoc {
        code: 11,
        meaning: "the test double (`NETCONFORM_TARGET=sim`) failed to start",
    },
    ExitCodeDoc {
        code: 12,
        meaning: "a trial name filter (`cargo test --test conformance -- FILTER`) matches no trial",
    },
    ExitCodeDoc {
        code: 13,
        meaning: "a kind cluster netconform created did not become ready (every node Ready without its not-ready taint, CoreDNS available) within its budget",
    },
    ExitCodeDoc {
        code: 14,
        meaning: "`NETCONFORM_TARGET=sim` (or `netconform sim`) in a build without the test double: the users' `cargo test --test conformance` leaves it out; add `--features netconform/double`, or run `NETCONFORM_TARGET=sim cargo test --workspace`",
    },
    ExitCodeDoc {
        code: 15,
        meaning: "the kind setup program (`NETCONFORM_KIND_SETUP`) failed, or did not finish within its budget, on the kind cluster netconform created (the cluster is deleted)",
    },
    ExitCodeDoc {
        code: 130,
        meaning: "interrupted (Ctrl-C or SIGTERM): what the run created is deleted and awaited (anything left is named on stderr); the reports say `interrupted`",
    },
];

impl HarnessError {
    pub fn exit_code(&self) -> i32 {
        match self {
            HarnessError::Config(_) => EXIT_CONFIG,
            HarnessError::NoKubeconfig(_) | HarnessError::BrokenKubeconfig { .. } => {
                EXIT_KUBECONFIG
            }
            HarnessError::Unreachable { .. } => EXIT_UNREACHABLE,
            HarnessError::NoTarget { .. } => EXIT_NO_TARGET,
            HarnessError::ToolMissing { .. } | HarnessError::CommandFailed { .. } => EXIT_KIND,
            HarnessError::Manifest(_) => EXIT_MANIFEST,
            HarnessError::Capability(_) => EXIT_CAPABILITY,
            HarnessError::Report { .. } => EXIT_REPORT,
            HarnessError::Api { .. } => EXIT_API,
            HarnessError::Double(_) => EXIT_DOUBLE,
            HarnessError::NoDouble(_) => EXIT_NO_DOUBLE,
            HarnessError::NotReady(_) => EXIT_NOT_READY,
            HarnessError::Setup { .. } => EXIT_SETUP,
            HarnessError::Interrupted => EXIT_INTERRUPTED,
        }
    }

    /// An API error with what the harness was doing, on one line.
    pub fn api(context: impl Into<String>, err: &kube::Error) -> HarnessError {
        HarnessError::Api {
            context: context.into(),
            reason: one_line(&err.to_string()),
        }
    }
}

/// The README exit code table (markdown), rendered from [`EXIT_CODES`].
pub fn render_exit_code_table() -> String {
    let mut out = String::from("| exit code | meaning |\n| --- | --- |\n");
    for doc in EXIT_CODES {
        out.push_str(&format!("| {} | {} |\n", doc.code, doc.meaning));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    fn every_variant() -> Vec<HarnessError> {
        vec![
            HarnessError::Config(ConfigError::Conflict("x".into())),
            HarnessError::NoKubeconfig("x".into()),
            HarnessError::BrokenKubeconfig {
                source_name: "x".into(),
                reason: "y".into(),
            },
            HarnessError::Unreachable {
                server: "x".into(),
                reason: "y".into(),
            },
            HarnessError::NoTarget { reason: "x".into() },
            HarnessError::ToolMissing {
                tool: "kind".into(),
                hint: "y".into(),
            },
            HarnessError::CommandFailed {
                command: "kind".into(),
                status: "exit status 1".into(),
                detail: "y".into(),
            },
            HarnessError::Manifest(ManifestError::new("m.yaml", Some((1, 1)), "bad")),
            HarnessError::Capability("x".into()),
            HarnessError::Report {
                path: "r.xml".into(),
                reason: "y".into(),
            },
            HarnessError::Api {
                context: "x".into(),
                reason: "y".into(),
            },
            HarnessError::Double("x".into()),
            HarnessError::NoDouble("x".into()),
            HarnessError::NotReady("x".into()),
            HarnessError::Setup {
                hook: "x".into(),
                status: "exit status 1".into(),
                detail: "y".into(),
            },
            HarnessError::Interrupted,
        ]
    }

    #[test]
    fn exit_codes_are_distinct_documented_and_not_libtests() {
        let documented: BTreeSet<i32> = EXIT_CODES.iter().map(|d| d.code).collect();
        let kinds = [
            2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 130, // one per category
        ];
        for err in every_variant() {
            let code = err.exit_code();
            assert!(
                code != 0 && code != 1 && code != 101,
                "{err}: {code} collides with libtest's codes"
            );
            assert!(
                documented.contains(&code),
                "{err}: {code} is not documented"
            );
            assert!(kinds.contains(&code));
            let msg = err.to_string();
            assert!(
                !msg.contains('\n') && msg.starts_with(|c: char| !c.is_uppercase()),
                "{msg:?}"
            );
        }
        assert_eq!(
            documented.len(),
            EXIT_CODES.len(),
            "a code documented twice"
        );
    }

    #[test]
    fn readme_exit_code_table_matches() {
        let readme = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../README.md");
        crate::config::tests::check_readme_block(&readme, "exit-codes", &render_exit_code_table());
    }
}
