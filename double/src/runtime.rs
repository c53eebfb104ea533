//! The container runtime seam of the test double: what `exec` and `logs` answer.
//!
//! The double runs no containers. The cluster model (double/src/cluster/) implements
//! [`ContainerRuntime`] with a model of the commands the suites run; tests may plug their own.

use crate::Object;
use crate::store::Store;

/// The result of running a command "in" a container.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub exit_code: i32,
}

impl ExecOutput {
    pub fn success(stdout: impl Into<Vec<u8>>) -> Self {
        ExecOutput {
            stdout: stdout.into(),
            stderr: Vec::new(),
            exit_code: 0,
        }
    }

    pub fn failure(exit_code: i32, stderr: impl Into<Vec<u8>>) -> Self {
        ExecOutput {
            stdout: Vec::new(),
            stderr: stderr.into(),
            exit_code,
        }
    }
}

/// Answers exec and log requests for a pod's container. Called only for pods whose container is
/// running (the API layer checks pod phase and container status first).
pub trait ContainerRuntime: Send + Sync + 'static {
    /// Runs `command` (argv, as in the exec request) in `container` of `pod`.
    fn exec(&self, store: &Store, pod: &Object, container: &str, command: &[String]) -> ExecOutput;
    /// The container's log so far, or `None` when the container has not started.
    fn logs(&self, store: &Store, pod: &Object, container: &str) -> Option<String>;
    /// Runs `command` on the host outside the cluster (a container on the nodes' network, as netconform
    /// starts one on kind's `docker` network); without a model of it, nothing is there to run it.
    fn exec_outside(&self, _store: &Store, command: &[String]) -> ExecOutput {
        let program = command.first().map(String::as_str).unwrap_or("");
        ExecOutput::failure(
            127,
            format!("no host outside the cluster is modelled to run {program:?}\n"),
        )
    }
    /// The addresses of the host outside the cluster, one per IP family the cluster has.
    fn outside_addresses(&self) -> Vec<std::net::IpAddr> {
        Vec::new()
    }
}

/// A runtime with no command model: every exec fails like a missing binary, logs are empty.
#[derive(Debug, Clone, Copy, Default)]
pub struct NoCommands;

impl ContainerRuntime for NoCommands {
    fn exec(
        &self,
        _store: &Store,
        _pod: &Object,
        _container: &str,
        command: &[String],
    ) -> ExecOutput {
        // What runc reports for an unknown executable (exit code 127 via the shell convention).
        let program = command.first().map(String::as_str).unwrap_or("");
        ExecOutput::failure(
            127,
            format!(
                "OCI runtime exec failed: exec failed: unable to start container process: exec: \"{program}\": executable file not found in $PATH: unknown\n"
            ),
        )
    }

    fn logs(&self, _store: &Store, _pod: &Object, _container: &str) -> Option<String> {
        Some(String::new())
    }
}
