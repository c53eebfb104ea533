//! Running a command in a container and reading container logs, with stdout, stderr and the exit code kept apart.

use k8s_openapi::api::core::v1::Pod;
use kube::api::{Api, AttachParams, LogParams};
use tokio::io::AsyncReadExt;

use crate::retry::retrying;

/// What a command printed and how it ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

impl ExecOutput {
    pub fn describe(&self, command: &[&str]) -> String {
        format!(
            "$ {}\n(exit code {})\n--- stdout ---\n{}--- stderr ---\n{}",
            command.join(" "),
            self.exit_code,
            self.stdout,
            self.stderr
        )
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ExecError {
    #[error("exec {command:?} in {pod}/{container}: {source}")]
    Start {
        pod: String,
        container: String,
        command: Vec<String>,
        #[source]
        source: kube::Error,
    },
    #[error("exec {command:?} in {pod}/{container}: {message}")]
    Stream {
        pod: String,
        container: String,
        command: Vec<String>,
        message: String,
    },
    #[error("logs of {pod}/{container}: {source}")]
    Logs {
        pod: String,
        container: String,
        #[source]
        source: kube::Error,
    },
}

/// Runs `command` in `container` of `pod` and waits for it to end.
/// Establishing the session is retried on transient errors; the suites only exec read-only commands.
pub async fn exec(
    pods: &Api<Pod>,
    pod: &str,
    container: &str,
    command: &[&str],
) -> Result<ExecOutput, ExecError> {
    let params = AttachParams::default()
        .container(container)
        .stdin(false)
        .stdout(true)
        .stderr(true);
    let cmd: Vec<String> = command.iter().map(|s| s.to_string()).collect();
    let stream_error = |message: String| ExecError::Stream {
        pod: pod.to_string(),
        container: container.to_string(),
        command: cmd.clone(),
        message,
    };
    let mut attached = retrying(|| pods.exec(pod, cmd.clone(), &params))
        .await
        .map_err(|source| ExecError::Start {
            pod: pod.to_string(),
            container: container.to_string(),
            command: cmd.clone(),
            source,
        })?;
    let status = attached
        .take_status()
        .ok_or_else(|| stream_error("no status channel".into()))?;
    let mut stdout_reader = attached
        .stdout()
        .ok_or_else(|| stream_error("no stdout stream".into()))?;
    let mut stderr_reader = attached
        .stderr()
        .ok_or_else(|| stream_error("no stderr stream".into()))?;
    let (mut stdout, mut stderr) = (Vec::new(), Vec::new());
    let (out, err) = tokio::join!(
        stdout_reader.read_to_end(&mut stdout),
        stderr_reader.read_to_end(&mut stderr)
    );
    out.map_err(|e| stream_error(format!("reading stdout: {e}")))?;
    err.map_err(|e| stream_error(format!("reading stderr: {e}")))?;
    let status = status.await;
    attached
        .join()
        .await
        .map_err(|e| stream_error(e.to_string()))?;
    let exit_code = exit_code(status.as_ref()).map_err(stream_error)?;
    Ok(ExecOutput {
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
        exit_code,
    })
}

/// The exit code from the status the kubelet sends on the error channel.
/// upstream: staging/src/k8s.io/client-go/tools/remotecommand/errorstream.go — `Success`, or `Failure` with
/// reason `NonZeroExitCode` and a cause `ExitCode` whose message is the code; other failures are stream errors.
fn exit_code(
    status: Option<&k8s_openapi::apimachinery::pkg::apis::meta::v1::Status>,
) -> Result<i32, String> {
    let Some(status) = status else {
        return Err("the session ended without an exit status".into());
    };
    match status.status.as_deref() {
        Some("Success") => Ok(0),
        _ if status.reason.as_deref() == Some("NonZeroExitCode") => status
            .details
            .as_ref()
            .and_then(|d| d.causes.as_ref())
            .and_then(|causes| {
                causes
                    .iter()
                    .find(|c| c.reason.as_deref() == Some("ExitCode"))
            })
            .and_then(|c| c.message.as_deref())
            .and_then(|m| m.trim().parse().ok())
            .ok_or_else(|| format!("non-zero exit without a readable code: {status:?}")),
        _ => Err(format!(
            "command failed to run: {}",
            status.message.as_deref().unwrap_or("no message")
        )),
    }
}

/// The whole log of one container.
pub async fn logs(pods: &Api<Pod>, pod: &str, container: &str) -> Result<String, ExecError> {
    let params = LogParams {
        container: Some(container.to_string()),
        ..LogParams::default()
    };
    retrying(|| pods.logs(pod, &params))
        .await
        .map_err(|source| ExecError::Logs {
            pod: pod.to_string(),
            container: container.to_string(),
            source,
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::{Status, StatusCause, StatusDetails};

    #[test]
    fn success_is_zero() {
        let status = Status {
            status: Some("Success".into()),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(&status)), Ok(0));
    }

    #[test]
    fn non_zero_exit_code_is_read_from_the_cause() {
        let status = Status {
            status: Some("Failure".into()),
            reason: Some("NonZeroExitCode".into()),
            message: Some("command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3".into()),
            details: Some(StatusDetails {
                causes: Some(vec![StatusCause { reason: Some("ExitCode".into()), message: Some("3".into()), field: None }]),
                ..StatusDetails::default()
            }),
            ..Status::default()
        };
        assert_eq!(exit_code(Some(&status)), Ok(3));
    }

    #[test]
    fn other_failures_and_missing_status_are_errors() {
        let status = Status {
            status: Some("Failure".into()),
            message: Some("container not found".into()),
            ..Status::default()
        };
        assert!(
            exit_code(Some(&status))
                .unwrap_err()
                .contains("container not found")
        );
        assert!(exit_code(None).is_err());
    }
}
