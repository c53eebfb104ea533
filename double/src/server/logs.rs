//! `pods/log`: the container runtime's log, with the apiserver's and the kubelet's checks.
//! upstream: pkg/registry/core/pod/strategy.go (LogLocation), pkg/registry/core/pod/rest/log.go,
//! pkg/kubelet/kubelet_pods.go (validateContainerLogStatus).

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::body::{Body, Bytes};
use axum::response::{IntoResponse, Response};
use http::{StatusCode, header};
use tokio::sync::mpsc;

use super::exec::{container_status, resolve_container};
use super::route::{Query, ResourceTarget};
use super::{AppState, error_response};
use crate::Object;
use crate::api_error::ApiError;

const FOLLOW_POLL: Duration = Duration::from_millis(200);

pub(crate) async fn logs(state: Arc<AppState>, target: ResourceTarget, query: Query) -> Response {
    match prepare(&state, &target, &query) {
        Ok(Prepared::Empty) => text_response(Body::empty()),
        Ok(Prepared::Log {
            pod,
            container,
            text,
        }) => {
            let text = shape(&text, &query);
            if !query.flag("follow") {
                return text_response(Body::from(text));
            }
            let (tx, rx) = mpsc::channel::<Bytes>(16);
            tokio::spawn(follow(state, pod, container, text, tx));
            let body = futures::stream::unfold(rx, |mut rx| async move {
                rx.recv()
                    .await
                    .map(|chunk| (Ok::<Bytes, Infallible>(chunk), rx))
            });
            text_response(Body::from_stream(body))
        }
        Err(e) => error_response(&e),
    }
}

enum Prepared {
    /// Pod not scheduled yet: upstream answers 200 with no content.
    Empty,
    Log {
        pod: Object,
        container: String,
        text: String,
    },
}

fn prepare(state: &AppState, target: &ResourceTarget, query: &Query) -> Result<Prepared, ApiError> {
    let pod_name = target.name.clone().unwrap_or_default();
    let pod = state
        .store
        .get("pods", target.namespace.as_deref(), &pod_name)
        .ok_or_else(|| ApiError::not_found("pods", &pod_name))?;
    let container = resolve_container(&pod, query.get("container"), &pod_name)?;
    if pod["spec"]["nodeName"].as_str().is_none_or(str::is_empty) {
        return Ok(Prepared::Empty);
    }
    let waiting = |reason: &str| {
        ApiError::bad_request(&format!(
            "container \"{container}\" in pod \"{pod_name}\" is waiting to start: {reason}"
        ))
    };
    if let Some(status) = container_status(&pod, &container) {
        let state_of = &status["state"];
        if query.flag("previous") && !status["lastState"]["terminated"].is_object() {
            return Err(ApiError::bad_request(&format!(
                "previous terminated container \"{container}\" in pod \"{pod_name}\" not found"
            )));
        }
        let started = state_of["running"].is_object()
            || state_of["terminated"].is_object()
            || status["lastState"]["terminated"].is_object();
        if !started {
            let reason = state_of["waiting"]["reason"]
                .as_str()
                .unwrap_or("ContainerCreating");
            return Err(waiting(reason));
        }
    } else if pod["status"]["phase"] != "Running"
        && pod["status"]["phase"] != "Succeeded"
        && pod["status"]["phase"] != "Failed"
    {
        return Err(ApiError::bad_request(&format!(
            "container \"{container}\" in pod \"{pod_name}\" is not available"
        )));
    }
    let text = state
        .runtime
        .logs(&state.store, &pod, &container)
        .ok_or_else(|| waiting("ContainerCreating"))?;
    Ok(Prepared::Log {
        pod,
        container,
        text,
    })
}

/// `tailLines` and `limitBytes`.
fn shape(text: &str, query: &Query) -> String {
    let mut out = text.to_string();
    if let Some(tail) = query.get("tailLines").and_then(|t| t.parse::<usize>().ok()) {
        let lines: Vec<&str> = out.split_inclusive('\n').collect();
        out = lines[lines.len().saturating_sub(tail)..].concat();
    }
    if let Some(limit) = query
        .get("limitBytes")
        .and_then(|l| l.parse::<usize>().ok())
        && out.len() > limit
    {
        let mut cut = limit;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
    }
    out
}

/// Sends the log so far, then what the runtime appends, until the container stops or the pod goes.
async fn follow(
    state: Arc<AppState>,
    pod: Object,
    container: String,
    first: String,
    tx: mpsc::Sender<Bytes>,
) {
    if tx.send(Bytes::from(first)).await.is_err() {
        return;
    }
    let namespace = pod["metadata"]["namespace"]
        .as_str()
        .unwrap_or("")
        .to_string();
    let name = pod["metadata"]["name"].as_str().unwrap_or("").to_string();
    let mut sent = state
        .runtime
        .logs(&state.store, &pod, &container)
        .unwrap_or_default();
    let shutdown = super::stopped(state.shutdown.clone());
    tokio::pin!(shutdown);
    loop {
        tokio::select! {
            _ = tokio::time::sleep(FOLLOW_POLL) => {}
            _ = &mut shutdown => return,
            _ = tx.closed() => return,
        }
        let Some(current) = state.store.get("pods", Some(&namespace), &name) else {
            return;
        };
        let log = state
            .runtime
            .logs(&state.store, &current, &container)
            .unwrap_or_default();
        if let Some(added) = log.strip_prefix(sent.as_str())
            && !added.is_empty()
            && tx.send(Bytes::from(added.to_string())).await.is_err()
        {
            return;
        }
        sent = log;
        let stopped = container_status(&current, &container)
            .is_some_and(|s| s["state"]["terminated"].is_object())
            || matches!(
                current["status"]["phase"].as_str(),
                Some("Succeeded" | "Failed")
            );
        if stopped {
            return;
        }
    }
}

fn text_response(body: Body) -> Response {
    (StatusCode::OK, [(header::CONTENT_TYPE, "text/plain")], body).into_response()
}
