//! Shared helpers for the double's integration tests: a double with a tiny test runtime.

#![allow(dead_code)]

use std::sync::Arc;

use netconform_double::runtime::{ContainerRuntime, ExecOutput};
use netconform_double::{Double, DoubleConfig, Object, RunningDouble, Store};
use serde_json::json;

/// `echo ARGS...` prints, `exit N` exits with N, `fail` writes to stderr and exits 2; logs are fixed.
pub struct TestRuntime;

impl ContainerRuntime for TestRuntime {
    fn exec(
        &self,
        _store: &Store,
        pod: &Object,
        container: &str,
        command: &[String],
    ) -> ExecOutput {
        match command.first().map(String::as_str) {
            Some("echo") => ExecOutput::success(format!("{}\n", command[1..].join(" "))),
            Some("whoami") => ExecOutput::success(format!(
                "{}/{}\n",
                pod["metadata"]["name"].as_str().unwrap_or(""),
                container
            )),
            Some("exit") => {
                ExecOutput::failure(command.get(1).and_then(|c| c.parse().ok()).unwrap_or(1), "")
            }
            Some("fail") => ExecOutput {
                stdout: b"partial\n".to_vec(),
                stderr: b"something broke\n".to_vec(),
                exit_code: 2,
            },
            _ => ExecOutput::failure(127, "not found\n"),
        }
    }

    fn logs(&self, _store: &Store, pod: &Object, container: &str) -> Option<String> {
        Some(format!(
            "log of {}/{}\nsecond line\n",
            pod["metadata"]["name"].as_str().unwrap_or(""),
            container
        ))
    }
}

/// A double over a fresh store with namespaces `default` and `kube-system`, without the cluster model.
pub async fn start(config: DoubleConfig) -> RunningDouble {
    let store = Store::with_history_limit(config.watch_history);
    for ns in ["default", "kube-system"] {
        store
            .create("namespaces", None, json!({"metadata": {"name": ns}}))
            .unwrap();
    }
    Double::start_with_runtime(config, store, Arc::new(TestRuntime))
        .await
        .unwrap()
}

pub fn client(double: &RunningDouble) -> kube::Client {
    let config = kube::Config::new(double.base_url().parse().unwrap());
    kube::Client::try_from(config).unwrap()
}

/// Creates a pod through the store and makes it Running on node `node-1`.
pub fn running_pod(store: &Store, ns: &str, name: &str, containers: &[&str]) -> Object {
    let containers: Vec<_> = containers
        .iter()
        .map(|c| json!({"name": c, "image": "busybox:1.36.1"}))
        .collect();
    let created = store
        .create(
            "pods",
            Some(ns),
            json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": name}, "spec": {"containers": containers, "nodeName": "node-1"}}),
        )
        .unwrap();
    let mut running = created.clone();
    let statuses: Vec<_> = created["spec"]["containers"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| json!({"name": c["name"], "ready": true, "restartCount": 0, "state": {"running": {"startedAt": "2025-01-01T00:00:00Z"}}, "image": c["image"], "imageID": "", "started": true}))
        .collect();
    running["status"] =
        json!({"phase": "Running", "podIP": "10.244.1.5", "containerStatuses": statuses});
    store.update_status("pods", Some(ns), running).unwrap()
}
