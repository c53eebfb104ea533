//! apps/v1 workloads: the apiserver's defaulting and validation of Deployments and ReplicaSets, the
//! deployment controller (a ReplicaSet per pod template, status for `kubectl rollout status`) and the
//! replicaset controller (pods from the template, status counts). DaemonSets are served but not run.
//!
//! upstream: pkg/registry/apps/deployment/strategy.go and replicaset/strategy.go (PrepareForCreate,
//! Validate), pkg/controller/deployment/deployment_controller.go + sync.go + rolling.go,
//! pkg/controller/replicaset/replica_set.go (`manageReplicas`, `syncReplicaSet`). What the controllers
//! compute lives in crate::model::deployments (with its simplifications).

use std::sync::Arc;

use serde_json::{Value, json};

use super::controllers::spawn_controller;
use super::{Cluster, name_of};
use crate::api_error::ApiError;
use crate::deviation::Deviation;
use crate::model::deployments::{
    self, ANNOTATION_REVISION, LABEL_POD_TEMPLATE_HASH, deletion_order, is_active, is_controlled_by,
};
use crate::model::time;
use crate::store::{Admission, Op, Store};

pub(crate) fn register(store: &Store) {
    store.add_admission(Arc::new(WorkloadAdmission));
}

pub(crate) fn spawn(store: &Store, cluster: &Arc<Cluster>) {
    // `replicaset-single-pod`: the replicaset controller keeps one pod whatever spec.replicas says.
    let single_pod = cluster.has(Deviation::ReplicasetSinglePod);
    spawn_controller(
        store,
        |e| e.resource == "deployments" || e.resource == "replicasets",
        |store, trigger, _| {
            for ns in trigger.namespaces(store) {
                reconcile_deployments(store, &ns);
            }
        },
    );
    spawn_controller(
        store,
        |e| e.resource == "replicasets" || e.resource == "pods",
        move |store, trigger, _| {
            for ns in trigger.namespaces(store) {
                reconcile_replica_sets(store, &ns, single_pod);
            }
        },
    );
}

struct WorkloadAdmission;

impl Admission for WorkloadAdmission {
    fn admit(
        &self,
        _store: &Store,
        op: Op,
        resource: &str,
        obj: &mut Value,
        old: Option<&Value>,
    ) -> Result<(), ApiError> {
        let kind = match resource {
            "deployments" => "Deployment",
            "replicasets" => "ReplicaSet",
            _ => return Ok(()),
        };
        if resource == "deployments" {
            deployments::default_deployment(obj);
        } else {
            deployments::default_replica_set(obj);
        }
        let name = obj["metadata"]["name"]
            .as_str()
            .unwrap_or_default()
            .to_string();
        let mut causes = deployments::validate_workload(obj);
        // upstream: ValidateDeploymentUpdate / ValidateReplicaSetUpdate: apps/v1 selectors are immutable.
        if op == Op::Update
            && let Some(old) = old
            && old["spec"]["selector"] != obj["spec"]["selector"]
        {
            causes.push(crate::api_error::Cause::invalid_value(
                "spec.selector",
                &obj["spec"]["selector"],
                "field is immutable",
            ));
        }
        if causes.is_empty() {
            Ok(())
        } else {
            Err(ApiError::invalid(kind, &name, causes))
        }
    }
}

// ---- deployment controller ----

fn reconcile_deployments(store: &Store, ns: &str) {
    let all_rs = store.list("replicasets", Some(ns));
    for deploy in store.list("deployments", Some(ns)) {
        if !deploy["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        sync_deployment(store, ns, &deploy, &all_rs);
    }
}

fn sync_deployment(store: &Store, ns: &str, deploy: &Value, all_rs: &[Value]) {
    let desired = deploy["spec"]["replicas"].as_i64().unwrap_or(1);
    let collision = deploy["status"]["collisionCount"].as_i64();
    let hash = deployments::template_hash(&deploy["spec"]["template"], collision);
    let owned: Vec<&Value> = all_rs
        .iter()
        .filter(|rs| is_controlled_by(rs, deploy))
        .collect();
    let max_revision = owned
        .iter()
        .map(|rs| deployments::revision(rs))
        .max()
        .unwrap_or(0);
    let existing = owned
        .iter()
        .find(|rs| rs["metadata"]["labels"][LABEL_POD_TEMPLATE_HASH] == hash.as_str())
        .map(|rs| (*rs).clone());
    let new_rs = match existing {
        Some(rs) if rs["spec"]["replicas"].as_i64() != Some(desired) => {
            let mut scaled = rs.clone();
            scaled["spec"]["replicas"] = json!(desired);
            scaled["metadata"]["annotations"][deployments::ANNOTATION_DESIRED_REPLICAS] =
                json!(desired.to_string());
            match store.update("replicasets", Some(ns), scaled) {
                Ok(updated) => updated,
                // Changed meanwhile: the replicaset event brings us back.
                Err(_) => return,
            }
        }
        Some(rs) => rs,
        None => {
            let rs = deployments::new_replica_set(deploy, &hash, desired, max_revision + 1);
            match store.create("replicasets", Some(ns), rs) {
                Ok(created) => created,
                Err(_) => return,
            }
        }
    };
    // The model's rollout: old ReplicaSets go to 0 once the new one is fully available.
    let new_available = new_rs["status"]["availableReplicas"].as_i64().unwrap_or(0);
    let mut all: Vec<Value> = vec![new_rs.clone()];
    for old in owned.iter().filter(|rs| name_of(rs) != name_of(&new_rs)) {
        let mut old = (*old).clone();
        if new_available >= desired && old["spec"]["replicas"].as_i64().unwrap_or(0) > 0 {
            old["spec"]["replicas"] = json!(0);
            if let Ok(updated) = store.update("replicasets", Some(ns), old.clone()) {
                old = updated;
            }
        }
        all.push(old);
    }
    let mut current = deploy.clone();
    let revision = deployments::revision(&new_rs).to_string();
    if current["metadata"]["annotations"][ANNOTATION_REVISION] != revision.as_str() {
        current["metadata"]["annotations"][ANNOTATION_REVISION] = json!(revision);
        match store.update("deployments", Some(ns), current) {
            Ok(updated) => current = updated,
            Err(_) => return,
        }
    }
    let status = deployments::deployment_status(&current, &new_rs, &all, &time::now());
    if !same_status(&current["status"], &status) {
        current["status"] = status;
        let _ = store.update_status("deployments", Some(ns), current);
    }
}

/// Equal but for the conditions' timestamps (a rewrite with a fresh `lastUpdateTime` only is a no-op).
fn same_status(old: &Value, new: &Value) -> bool {
    let strip = |s: &Value| {
        let mut s = s.clone();
        for c in s["conditions"].as_array_mut().into_iter().flatten() {
            if let Some(c) = c.as_object_mut() {
                c.remove("lastUpdateTime");
                c.remove("lastTransitionTime");
            }
        }
        s
    };
    strip(old) == strip(new)
}

// ---- replicaset controller ----

fn reconcile_replica_sets(store: &Store, ns: &str, single_pod: bool) {
    let pods = store.list("pods", Some(ns));
    for rs in store.list("replicasets", Some(ns)) {
        if !rs["metadata"]["deletionTimestamp"].is_null() {
            continue;
        }
        sync_replica_set(store, ns, &rs, &pods, single_pod);
    }
}

fn sync_replica_set(store: &Store, ns: &str, rs: &Value, pods: &[Value], single_pod: bool) {
    let mut desired = rs["spec"]["replicas"].as_i64().unwrap_or(1).max(0) as usize;
    if single_pod {
        desired = desired.min(1);
    }
    let mut active: Vec<Value> = pods
        .iter()
        .filter(|p| is_controlled_by(p, rs) && is_active(p))
        .cloned()
        .collect();
    if active.len() < desired {
        for _ in active.len()..desired {
            match store.create("pods", Some(ns), deployments::pod_from_template(rs)) {
                Ok(pod) => active.push(pod),
                // A terminating namespace or an invalid template: the next event retries.
                Err(_) => break,
            }
        }
    } else if active.len() > desired {
        deletion_order(&mut active);
        let extra = active.len() - desired;
        for pod in active.drain(..extra) {
            let _ = store.delete("pods", Some(ns), name_of(&pod));
        }
    }
    let status = deployments::replica_set_status(rs, &active);
    if rs["status"] != status {
        let mut updated = rs.clone();
        updated["status"] = status;
        let _ = store.update_status("replicasets", Some(ns), updated);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::DoubleConfig;
    use crate::cluster::install;
    use std::collections::BTreeSet;
    use std::time::Duration;

    async fn until(store: &Store, what: &str, pred: impl Fn(&Store) -> bool) {
        for _ in 0..500 {
            if pred(store) {
                return;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    fn deployment(replicas: i64) -> Value {
        json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "my-nginx", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"run": "my-nginx"}}, "replicas": replicas,
                "template": {"metadata": {"labels": {"run": "my-nginx"}},
                    "spec": {"containers": [{"name": "my-nginx", "image": "nginx", "ports": [{"containerPort": 80}]}]}}}})
    }

    fn pods_of(store: &Store) -> Vec<Value> {
        store
            .list("pods", Some("default"))
            .into_iter()
            .filter(|p| p["metadata"]["labels"]["run"] == "my-nginx")
            .collect()
    }

    #[tokio::test]
    async fn deployment_rolls_out_scales_and_reports() {
        let store = Store::new();
        let _runtime = install(&store, &DoubleConfig::default()).unwrap();
        store
            .create("deployments", Some("default"), deployment(2))
            .unwrap();
        let rolled_out = |s: &Store| {
            s.get("deployments", Some("default"), "my-nginx")
                .is_some_and(|d| {
                    d["status"]["availableReplicas"] == 2
                        && d["status"]["updatedReplicas"] == 2
                        && d["status"]["observedGeneration"] == d["metadata"]["generation"]
                })
        };
        until(&store, "the rollout", rolled_out).await;
        let pods = pods_of(&store);
        assert_eq!(pods.len(), 2);
        let rs = store.list("replicasets", Some("default"));
        assert_eq!(rs.len(), 1);
        let rs_name = rs[0]["metadata"]["name"].as_str().unwrap();
        assert!(
            pods.iter().all(|p| p["metadata"]["name"]
                .as_str()
                .unwrap()
                .starts_with(&format!("{rs_name}-"))),
            "{pods:?}"
        );
        let d = store
            .get("deployments", Some("default"), "my-nginx")
            .unwrap();
        assert_eq!(d["metadata"]["annotations"][ANNOTATION_REVISION], "1");
        assert_eq!(d["status"]["conditions"][0]["type"], "Available");
        assert_eq!(d["status"]["conditions"][0]["status"], "True");

        // Scale to 0 and back (the tutorial's `kubectl scale`): new pods replace the old.
        let mut d0 = d.clone();
        d0["spec"]["replicas"] = json!(0);
        store.update("deployments", Some("default"), d0).unwrap();
        until(&store, "scale to 0", |s| pods_of(s).is_empty()).await;
        let mut d2 = store
            .get("deployments", Some("default"), "my-nginx")
            .unwrap();
        d2["spec"]["replicas"] = json!(2);
        store.update("deployments", Some("default"), d2).unwrap();
        until(&store, "scale to 2", rolled_out).await;
        let again: BTreeSet<String> = pods_of(&store)
            .iter()
            .map(|p| name_of(p).to_string())
            .collect();
        let before: BTreeSet<String> = pods.iter().map(|p| name_of(p).to_string()).collect();
        assert!(again.is_disjoint(&before));

        // A deleted pod is replaced; deleting the Deployment takes its ReplicaSet and pods along.
        let victim = again.iter().next().unwrap().clone();
        store.delete("pods", Some("default"), &victim).unwrap();
        until(&store, "the replacement", |s| {
            let names: Vec<String> = pods_of(s).iter().map(|p| name_of(p).to_string()).collect();
            names.len() == 2 && !names.contains(&victim)
        })
        .await;
        store
            .delete("deployments", Some("default"), "my-nginx")
            .unwrap();
        until(&store, "garbage collection", |s| {
            pods_of(s).is_empty() && s.list("replicasets", Some("default")).is_empty()
        })
        .await;
    }

    #[tokio::test]
    async fn a_new_template_replaces_the_replica_set() {
        let store = Store::new();
        let _runtime = install(&store, &DoubleConfig::default()).unwrap();
        store
            .create("deployments", Some("default"), deployment(1))
            .unwrap();
        until(&store, "the first ReplicaSet", |s| {
            s.list("replicasets", Some("default")).len() == 1 && pods_of(s).len() == 1
        })
        .await;
        let mut d = store
            .get("deployments", Some("default"), "my-nginx")
            .unwrap();
        d["spec"]["template"]["spec"]["containers"][0]["image"] = json!("nginx:1.27");
        store.update("deployments", Some("default"), d).unwrap();
        until(&store, "the rollout of revision 2", |s| {
            let rs = s.list("replicasets", Some("default"));
            let pods = pods_of(s);
            rs.len() == 2
                && rs.iter().any(|r| r["spec"]["replicas"] == 0)
                && pods.len() == 1
                && pods[0]["spec"]["containers"][0]["image"] == "nginx:1.27"
        })
        .await;
        let d = store
            .get("deployments", Some("default"), "my-nginx")
            .unwrap();
        assert_eq!(d["metadata"]["annotations"][ANNOTATION_REVISION], "2");
        let bad = json!({"apiVersion": "apps/v1", "kind": "Deployment", "metadata": {"name": "bad", "namespace": "default"},
            "spec": {"selector": {"matchLabels": {"app": "x"}}, "template": {"metadata": {"labels": {"app": "y"}},
                "spec": {"containers": [{"name": "c", "image": "nginx"}]}}}});
        let err = store
            .create("deployments", Some("default"), bad)
            .unwrap_err();
        assert_eq!(err.code, 422);
    }
}
