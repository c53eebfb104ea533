//! What a failed trial's JUnit case carries: the namespace's events, its pods' status and their containers' logs.

use std::fmt::Write;

use k8s_openapi::api::core::v1::{Event, Pod};
use kube::api::{Api, ListParams};
use kube::{Client, ResourceExt};

use crate::exec::logs;
use crate::retry::retrying;

/// Log lines kept per container: enough to see the failure, small enough for a dashboard.
const LOG_TAIL_LINES: usize = 60;

/// Collects diagnostics for `namespace`. Never fails: what cannot be read is said in the text.
pub async fn collect(client: &Client, namespace: &str) -> String {
    let mut out = String::new();
    let events: Api<Event> = Api::namespaced(client.clone(), namespace);
    let all = ListParams::default();
    match retrying(|| events.list(&all)).await {
        Ok(list) => {
            let _ = writeln!(
                out,
                "=== events in namespace {namespace} ({}) ===",
                list.items.len()
            );
            let mut items = list.items;
            items.sort_by_key(|e| {
                e.last_timestamp
                    .clone()
                    .map(|t| t.0)
                    .or(e.event_time.clone().map(|t| t.0))
            });
            for e in items {
                let _ = writeln!(
                    out,
                    "{} {} {}/{}: {}",
                    e.type_.as_deref().unwrap_or("-"),
                    e.reason.as_deref().unwrap_or("-"),
                    e.involved_object.kind.as_deref().unwrap_or("-"),
                    e.involved_object.name.as_deref().unwrap_or("-"),
                    e.message.as_deref().unwrap_or("").trim_end()
                );
            }
        }
        Err(e) => {
            let _ = writeln!(
                out,
                "=== events in namespace {namespace}: not readable: {e} ==="
            );
        }
    }
    let pods: Api<Pod> = Api::namespaced(client.clone(), namespace);
    let list = match retrying(|| pods.list(&all)).await {
        Ok(list) => list.items,
        Err(e) => {
            let _ = writeln!(
                out,
                "=== pods in namespace {namespace}: not readable: {e} ==="
            );
            return out;
        }
    };
    for pod in list {
        let _ = writeln!(out, "=== pod {} ===\n{}", pod.name_any(), pod_status(&pod));
        let containers = pod
            .spec
            .as_ref()
            .map(|s| s.containers.iter().map(|c| c.name.clone()).collect())
            .unwrap_or_else(Vec::new);
        for container in containers {
            match logs(&pods, &pod.name_any(), &container).await {
                Ok(text) => {
                    let lines: Vec<&str> = text.lines().collect();
                    let tail = &lines[lines.len().saturating_sub(LOG_TAIL_LINES)..];
                    let _ = writeln!(
                        out,
                        "--- logs of container {container} (last {} lines) ---",
                        tail.len()
                    );
                    for line in tail {
                        let _ = writeln!(out, "{line}");
                    }
                }
                Err(e) => {
                    let _ = writeln!(
                        out,
                        "--- logs of container {container}: not readable: {e} ---"
                    );
                }
            }
        }
    }
    out
}

/// One paragraph: phase, node, IPs, conditions and each container's state.
pub fn pod_status(pod: &Pod) -> String {
    let mut out = String::new();
    let spec_node = pod
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .unwrap_or_else(|| "-".into());
    let Some(status) = &pod.status else {
        return format!("node {spec_node}, no status yet");
    };
    let ips: Vec<String> = status
        .pod_ips
        .iter()
        .flatten()
        .map(|p| p.ip.clone())
        .collect();
    let _ = writeln!(
        out,
        "phase {}, node {spec_node}, podIPs [{}]{}",
        status.phase.as_deref().unwrap_or("-"),
        ips.join(", "),
        status
            .message
            .as_deref()
            .map(|m| format!(", message: {m}"))
            .unwrap_or_default()
    );
    for c in status.conditions.iter().flatten() {
        let _ = writeln!(
            out,
            "condition {}={}{}",
            c.type_,
            c.status,
            c.reason
                .as_deref()
                .map(|r| format!(" ({r})"))
                .unwrap_or_default()
        );
    }
    for cs in status.container_statuses.iter().flatten() {
        let state = cs.state.as_ref().map(|s| {
            if let Some(w) = &s.waiting {
                format!("waiting: {}", w.reason.as_deref().unwrap_or("-"))
            } else if let Some(t) = &s.terminated {
                format!(
                    "terminated: exit {} ({})",
                    t.exit_code,
                    t.reason.as_deref().unwrap_or("-")
                )
            } else if s.running.is_some() {
                "running".to_string()
            } else {
                "unknown".to_string()
            }
        });
        let _ = writeln!(
            out,
            "container {}: {}, ready {}, restarts {}",
            cs.name,
            state.unwrap_or_else(|| "no state".into()),
            cs.ready,
            cs.restart_count
        );
    }
    out
}
