//! `pods/exec` over WebSocket (`v5.channel.k8s.io`, `v4.channel.k8s.io`).
//!
//! Binary frames start with the channel byte: 1 stdout, 2 stderr, 3 the exit status as a
//! `metav1.Status` (Success, or Failure/NonZeroExitCode with an `ExitCode` cause). SPDY is not
//! served: kubectl >= 1.30 and kube use WebSockets (kubectl falls back to SPDY only when the
//! WebSocket upgrade fails).
//! upstream: pkg/registry/core/pod/strategy.go (streamLocation: container and host checks),
//! pkg/kubelet/cri/streaming/remotecommand/exec.go (ServeExec: the exit status),
//! pkg/kubelet/cri/streaming/remotecommand/websocket.go (channels),
//! containerd internal/cri/server/streaming.go ("error executing command %v, exit code %d").

use std::sync::Arc;

use axum::extract::ws::{CloseFrame, Message, WebSocket, WebSocketUpgrade};
use axum::extract::{FromRequestParts, Request};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use serde_json::{Value, json};

use super::route::{Query, ResourceTarget};
use super::{AppState, error_response};
use crate::Object;
use crate::api_error::ApiError;
use crate::runtime::ExecOutput;

const PROTOCOLS: [&str; 2] = ["v5.channel.k8s.io", "v4.channel.k8s.io"];
const STDOUT: u8 = 1;
const STDERR: u8 = 2;
const STATUS: u8 = 3;
/// Frames larger than this are split (upstream's websocket buffers are 32 KiB).
const FRAME: usize = 32 * 1024;

/// The container a log/exec request addresses: the named one (must exist), or the only one.
/// upstream: pkg/registry/core/pod/strategy.go (LogLocation, streamLocation)
pub(crate) fn resolve_container(
    pod: &Object,
    requested: Option<&str>,
    pod_name: &str,
) -> Result<String, ApiError> {
    let names = |field: &str| -> Vec<String> {
        pod["spec"][field]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["name"].as_str().map(str::to_string))
            .collect()
    };
    let containers = names("containers");
    let init_containers = names("initContainers");
    match requested {
        Some(name) => {
            if containers
                .iter()
                .chain(init_containers.iter())
                .any(|c| c == name)
            {
                Ok(name.to_string())
            } else {
                Err(ApiError::bad_request(&format!(
                    "container {name} is not valid for pod {pod_name}"
                )))
            }
        }
        None => match containers.as_slice() {
            [only] => Ok(only.clone()),
            [] => Err(ApiError::bad_request(&format!(
                "a container name must be specified for pod {pod_name}"
            ))),
            _ => {
                let mut message = format!(
                    "a container name must be specified for pod {pod_name}, choose one of: [{}]",
                    containers.join(" ")
                );
                if !init_containers.is_empty() {
                    message.push_str(&format!(
                        " or one of the init containers: [{}]",
                        init_containers.join(" ")
                    ));
                }
                Err(ApiError::bad_request(&message))
            }
        },
    }
}

/// The status entry of a container (regular, init or ephemeral).
pub(crate) fn container_status<'a>(pod: &'a Object, container: &str) -> Option<&'a Value> {
    [
        "containerStatuses",
        "initContainerStatuses",
        "ephemeralContainerStatuses",
    ]
    .iter()
    .flat_map(|field| pod["status"][*field].as_array().into_iter().flatten())
    .find(|s| s["name"].as_str() == Some(container))
}

/// Whether the kubelet would find a running container to exec into.
fn is_running(pod: &Object, container: &str) -> bool {
    if pod["status"]["phase"] != "Running" {
        return false;
    }
    match container_status(pod, container) {
        Some(status) => status["state"]["running"].is_object(),
        // A model that sets only the phase: treat the container as running.
        None => true,
    }
}

struct ExecRequest {
    pod: Object,
    container: String,
    command: Vec<String>,
    stdout: bool,
    stderr: bool,
    tty: bool,
}

pub(crate) async fn exec(
    state: Arc<AppState>,
    target: ResourceTarget,
    query: Query,
    request: Request,
) -> Response {
    let pod_name = target.name.clone().unwrap_or_default();
    let Some(pod) = state
        .store
        .get("pods", target.namespace.as_deref(), &pod_name)
    else {
        return error_response(&ApiError::not_found("pods", &pod_name));
    };
    let container = match resolve_container(&pod, query.get("container"), &pod_name) {
        Ok(c) => c,
        Err(e) => return error_response(&e),
    };
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        return error_response(&ApiError::bad_request(&format!(
            "pod {pod_name} does not have a host assigned"
        )));
    }
    let flag = |k: &str| query.flag(k);
    let (stdin, stdout, stderr, tty) = (flag("stdin"), flag("stdout"), flag("stderr"), flag("tty"));
    if !(stdin || stdout || stderr) {
        // upstream: pkg/kubelet/cri/streaming/remotecommand/httpstream.go (NewOptions)
        return error_response(&ApiError::bad_request(
            "you must specify at least 1 of stdin, stdout, stderr",
        ));
    }
    if !is_running(&pod, &container) {
        // The kubelet answers with plain text when it finds no running container
        // (pkg/kubelet/kubelet_pods.go GetExec -> "container not found"), passed through by the apiserver.
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            format!("container not found (\"{container}\")"),
        )
            .into_response();
    }
    let wants_websocket = request
        .headers()
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.eq_ignore_ascii_case("websocket"));
    if !wants_websocket {
        // upstream: staging/src/k8s.io/apimachinery/pkg/util/proxy/upgradeaware.go
        return error_response(&ApiError::bad_request(
            "Upgrade request required (the netconform test double serves exec over WebSocket only, not SPDY)",
        ));
    }
    let (mut parts, _body) = request.into_parts();
    let upgrade = match WebSocketUpgrade::from_request_parts(&mut parts, &()).await {
        Ok(u) => u,
        Err(rejection) => return rejection.into_response(),
    };
    let exec = ExecRequest {
        pod,
        container,
        command: query.all("command"),
        stdout,
        stderr,
        tty,
    };
    upgrade
        .protocols(PROTOCOLS)
        .on_upgrade(move |socket| session(socket, state, exec))
}

async fn session(mut socket: WebSocket, state: Arc<AppState>, exec: ExecRequest) {
    let runtime = state.runtime.clone();
    let store = state.store.clone();
    let (pod, container, command) = (
        exec.pod.clone(),
        exec.container.clone(),
        exec.command.clone(),
    );
    let ran =
        tokio::task::spawn_blocking(move || runtime.exec(&store, &pod, &container, &command)).await;
    let status = match &ran {
        Ok(output) => {
            let stderr_channel = if exec.tty { STDOUT } else { STDERR };
            if exec.stdout
                && send_channel(&mut socket, STDOUT, &output.stdout)
                    .await
                    .is_err()
            {
                return;
            }
            if (exec.stderr || exec.tty)
                && send_channel(&mut socket, stderr_channel, &output.stderr)
                    .await
                    .is_err()
            {
                return;
            }
            exit_status(output, &exec.command)
        }
        Err(join) => {
            ApiError::internal(&format!("error executing command in container: {join}")).to_status()
        }
    };
    let mut frame = vec![STATUS];
    frame.extend(serde_json::to_vec(&status).unwrap_or_default());
    if socket.send(Message::Binary(frame.into())).await.is_err() {
        return;
    }
    let close = CloseFrame {
        code: 1000,
        reason: "".into(),
    };
    if socket.send(Message::Close(Some(close))).await.is_err() {
        return;
    }
    // Wait (briefly) for the client's close so its readers see a normal closure.
    let _ = tokio::time::timeout(std::time::Duration::from_secs(2), async {
        while let Some(Ok(message)) = socket.recv().await {
            if matches!(message, Message::Close(_)) {
                break;
            }
        }
    })
    .await;
}

async fn send_channel(socket: &mut WebSocket, channel: u8, data: &[u8]) -> Result<(), axum::Error> {
    for chunk in data.chunks(FRAME) {
        let mut frame = Vec::with_capacity(chunk.len() + 1);
        frame.push(channel);
        frame.extend_from_slice(chunk);
        socket.send(Message::Binary(frame.into())).await?;
    }
    Ok(())
}

/// The status the kubelet writes on channel 3 after the command ends.
fn exit_status(output: &ExecOutput, command: &[String]) -> Value {
    if output.exit_code == 0 {
        return json!({"metadata": {}, "status": "Success"});
    }
    // Exit statuses are one byte on Linux; client-go parses the cause as a uint8.
    let code = output.exit_code.rem_euclid(256);
    json!({
        "metadata": {},
        "status": "Failure",
        "message": format!(
            "command terminated with non-zero exit code: error executing command [{}], exit code {code}",
            command.join(" ")
        ),
        "reason": "NonZeroExitCode",
        "details": {"causes": [{"reason": "ExitCode", "message": code.to_string()}]},
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_resolution_follows_upstream() {
        let pod = json!({"spec": {"containers": [{"name": "a"}, {"name": "b"}], "initContainers": [{"name": "init"}]}});
        assert_eq!(
            resolve_container(&pod, None, "p").unwrap_err().message,
            "a container name must be specified for pod p, choose one of: [a b] or one of the init containers: [init]"
        );
        assert_eq!(resolve_container(&pod, Some("init"), "p").unwrap(), "init");
        assert_eq!(
            resolve_container(&pod, Some("x"), "p").unwrap_err().message,
            "container x is not valid for pod p"
        );
    }

    #[test]
    fn exit_status_shapes() {
        let ok = exit_status(&ExecOutput::success("hi"), &["echo".into()]);
        assert_eq!(ok["status"], "Success");
        let failed = exit_status(
            &ExecOutput::failure(3, ""),
            &["sh".into(), "-c".into(), "exit 3".into()],
        );
        assert_eq!(failed["reason"], "NonZeroExitCode");
        assert_eq!(failed["details"]["causes"][0]["message"], "3");
        assert_eq!(
            failed["message"],
            "command terminated with non-zero exit code: error executing command [sh -c exit 3], exit code 3"
        );
    }
}
