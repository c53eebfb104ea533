//! Controllers as tokio tasks reacting to store events: the scheduler, the endpointslice and
//! endpoints controllers, the ServiceCIDR controller, the IPAddress release on Service deletion and the
//! service-account controller. Each reconciles once at start, after every batch of events it cares
//! about, and after a lagged event stream (full resync).

use std::collections::{BTreeSet, HashMap};
use std::net::IpAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::SystemTime;

use serde_json::{Value, json};
use tokio::sync::{broadcast, mpsc};

use super::Cluster;
use super::allocator::release;
use crate::deviation::Deviation;
use crate::model::endpoints;
use crate::model::endpointslices::{self, CONTROLLER_NAME, LABEL_MANAGED_BY, LABEL_SERVICE_NAME};
use crate::model::family::IpFamily;
use crate::model::servicecidr::{
    self, DEFAULT_READY_MESSAGE, DEFAULT_SERVICE_CIDR_NAME, FINALIZER, READY_MESSAGE,
};
use crate::model::time;
use crate::store::{EventType, Store, StoreEvent};

/// What woke a controller up.
pub(crate) enum Trigger {
    /// Start, a requeue, or missed events: look at everything.
    Full,
    Events(Vec<StoreEvent>),
}

impl Trigger {
    /// The namespaces a controller that reconciles per namespace looks at: all of them after a
    /// [`Trigger::Full`], else those of the events.
    pub(crate) fn namespaces(&self, store: &Store) -> BTreeSet<String> {
        match self {
            Trigger::Full => store
                .list("namespaces", None)
                .iter()
                .filter_map(|n| n["metadata"]["name"].as_str().map(str::to_string))
                .collect(),
            Trigger::Events(evs) => evs.iter().map(|e| e.namespace().to_string()).collect(),
        }
    }
}

/// Spawns a controller loop. `wants` filters events; `reconcile` may requeue via the sender.
pub(crate) fn spawn_controller<F>(store: &Store, wants: fn(&StoreEvent) -> bool, mut reconcile: F)
where
    F: FnMut(&Store, Trigger, &mpsc::UnboundedSender<()>) + Send + 'static,
{
    let store = store.clone();
    let mut events = store.subscribe();
    let (requeue_tx, mut requeue_rx) = mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        reconcile(&store, Trigger::Full, &requeue_tx);
        loop {
            let trigger = tokio::select! {
                ev = events.recv() => match ev {
                    Ok(ev) => {
                        let mut batch: Vec<StoreEvent> = vec![ev];
                        let mut lagged = false;
                        loop {
                            match events.try_recv() {
                                Ok(ev) => batch.push(ev),
                                Err(broadcast::error::TryRecvError::Lagged(_)) => lagged = true,
                                Err(_) => break,
                            }
                        }
                        if lagged {
                            Trigger::Full
                        } else {
                            batch.retain(wants);
                            if batch.is_empty() { continue; }
                            Trigger::Events(batch)
                        }
                    }
                    Err(broadcast::error::RecvError::Lagged(_)) => Trigger::Full,
                    Err(broadcast::error::RecvError::Closed) => return,
                },
                Some(()) = requeue_rx.recv() => Trigger::Full,
            };
            reconcile(&store, trigger, &requeue_tx);
        }
    });
}

pub(crate) fn spawn_all(store: &Store, cluster: &Arc<Cluster>) {
    spawn_scheduler(store);
    spawn_endpointslices(store, cluster);
    spawn_endpoints(store, cluster);
    spawn_servicecidrs(store, cluster);
    spawn_ipaddress_release(store);
    spawn_serviceaccounts(store);
}

// ---- scheduler ----

/// A toleration tolerates a taint (upstream: staging/src/k8s.io/api/core/v1/toleration.go `ToleratesTaint`).
fn tolerates(toleration: &Value, taint: &Value) -> bool {
    let effect = toleration["effect"].as_str().unwrap_or("");
    if !effect.is_empty() && Some(effect) != taint["effect"].as_str() {
        return false;
    }
    let key = toleration["key"].as_str().unwrap_or("");
    let op = toleration["operator"].as_str().unwrap_or("Equal");
    if key.is_empty() {
        return op == "Exists";
    }
    if Some(key) != taint["key"].as_str() {
        return false;
    }
    op == "Exists"
        || toleration["value"].as_str().unwrap_or("") == taint["value"].as_str().unwrap_or("")
}

/// Whether `pod` fits `node`: nodeSelector labels and NoSchedule/NoExecute taints.
pub(crate) fn fits(pod: &Value, node: &Value) -> bool {
    let selector_ok = pod["spec"]["nodeSelector"].as_object().is_none_or(|sel| {
        sel.iter()
            .all(|(k, v)| node["metadata"]["labels"].get(k) == Some(v))
    });
    let tolerations = pod["spec"]["tolerations"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let taints_ok = node["spec"]["taints"].as_array().is_none_or(|taints| {
        taints
            .iter()
            .filter(|t| t["effect"] == "NoSchedule" || t["effect"] == "NoExecute")
            .all(|t| tolerations.iter().any(|tol| tolerates(tol, t)))
    });
    selector_ok && taints_ok
}

fn set_condition(status: &mut Value, condition: Value) {
    let kind = condition["type"].clone();
    match status["conditions"].as_array_mut() {
        Some(list) => match list.iter_mut().find(|c| c["type"] == kind) {
            Some(existing) => *existing = condition,
            None => list.push(condition),
        },
        None => status["conditions"] = json!([condition]),
    }
}

fn schedule(store: &Store, pod: &Value, next: &AtomicUsize) {
    if pod["spec"]["nodeName"]
        .as_str()
        .is_some_and(|n| !n.is_empty())
        || !pod["metadata"]["deletionTimestamp"].is_null()
    {
        return;
    }
    let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let nodes = store.list("nodes", None);
    let fitting: Vec<&Value> = nodes.iter().filter(|n| fits(pod, n)).collect();
    let now = time::now();
    if fitting.is_empty() {
        let mut fresh = pod.clone();
        let msg = format!(
            "0/{} nodes are available: {} node(s) didn't match Pod's node affinity/selector or had untolerated taints. preemption: 0/{} nodes are available: {} Preemption is not helpful for scheduling.",
            nodes.len(),
            nodes.len(),
            nodes.len(),
            nodes.len()
        );
        set_condition(
            &mut fresh["status"],
            json!({"type": "PodScheduled", "status": "False", "lastProbeTime": null,
            "lastTransitionTime": now, "reason": "Unschedulable", "message": msg}),
        );
        if fresh != *pod {
            let _ = store.update_status("pods", Some(ns), fresh);
        }
        return;
    }
    let i = next.fetch_add(1, Ordering::Relaxed) % fitting.len();
    let node = fitting[i]["metadata"]["name"].clone();
    let mut bound = pod.clone();
    bound["spec"]["nodeName"] = node;
    match store.update("pods", Some(ns), bound) {
        Ok(updated) => {
            let mut with_status = updated;
            set_condition(
                &mut with_status["status"],
                json!({"type": "PodScheduled", "status": "True", "lastProbeTime": null, "lastTransitionTime": now}),
            );
            let _ = store.update_status("pods", Some(ns), with_status);
        }
        Err(_) => {
            // Changed meanwhile or deleted: the next event retries.
            let _ = name;
        }
    }
}

fn spawn_scheduler(store: &Store) {
    let next = Arc::new(AtomicUsize::new(0));
    spawn_controller(
        store,
        |e| e.resource == "pods" && e.kind != EventType::Deleted,
        move |store, trigger, _| {
            let pods = match trigger {
                Trigger::Full => store.list("pods", None),
                Trigger::Events(evs) => evs.into_iter().map(|e| e.object).collect(),
            };
            for pod in pods {
                let ns = pod["metadata"]["namespace"].as_str().unwrap_or("default");
                let name = pod["metadata"]["name"].as_str().unwrap_or_default();
                // Act on the current object, not a stale event copy.
                if let Some(current) = store.get("pods", Some(ns), name)
                    && current["metadata"]["uid"] == pod["metadata"]["uid"]
                {
                    schedule(store, &current, &next);
                }
            }
        },
    );
}

// ---- endpointslice controller ----

/// What the endpoint controllers (EndpointSlice and Endpoints) see of pods and Services, with the
/// deviations that make them publish something other than upstream does.
/// upstream: both controllers share staging/src/k8s.io/endpointslice/util (`ShouldPodBeInEndpoints`,
/// `podutil.IsPodReady`, `podutil.FindPort` on the Service's targetPort).
#[derive(Default)]
struct EndpointInputs {
    /// Readiness of each pod when first listed with an IP (`endpoints-stale-readiness`).
    first_ready: HashMap<String, bool>,
    /// Deleted pods' last state (`endpoints-keep-deleted-pods`).
    deleted: HashMap<String, Value>,
}

impl EndpointInputs {
    fn observe(&mut self, cluster: &Cluster, trigger: &Trigger) {
        if !cluster.has(Deviation::EndpointsKeepDeletedPods) {
            return;
        }
        if let Trigger::Events(evs) = trigger {
            for ev in evs
                .iter()
                .filter(|e| e.resource == "pods" && e.kind == EventType::Deleted)
            {
                if let Some(uid) = ev.object["metadata"]["uid"].as_str() {
                    self.deleted.insert(uid.to_string(), ev.object.clone());
                }
            }
        }
    }

    /// The Services and pods of `ns` as the controllers act on them.
    fn view(&mut self, store: &Store, cluster: &Cluster, ns: &str) -> (Vec<Value>, Vec<Value>) {
        let mut services = store.list("services", Some(ns));
        let mut pods = store.list("pods", Some(ns));
        if cluster.has(Deviation::EndpointsUseServicePort) {
            // The controllers publish the Service port instead of resolving targetPort.
            for svc in &mut services {
                for port in svc["spec"]["ports"].as_array_mut().into_iter().flatten() {
                    port["targetPort"] = port["port"].clone();
                }
            }
        }
        if cluster.has(Deviation::EndpointsKeepDeletedPods) {
            pods.extend(
                self.deleted
                    .values()
                    .filter(|p| p["metadata"]["namespace"] == ns)
                    .cloned(),
            );
        }
        let stale = cluster.has(Deviation::EndpointsStaleReadiness);
        let all_ready = cluster.has(Deviation::EndpointsIncludeUnready);
        for pod in &mut pods {
            let uid = pod["metadata"]["uid"]
                .as_str()
                .unwrap_or_default()
                .to_string();
            let has_ip = pod["status"]["podIP"]
                .as_str()
                .is_some_and(|ip| !ip.is_empty());
            let ready = endpointslices::is_pod_ready(pod);
            let first = match self.first_ready.get(&uid) {
                Some(first) => *first,
                None if has_ip && stale => {
                    self.first_ready.insert(uid, ready);
                    ready
                }
                None => ready,
            };
            let shown = if all_ready {
                true
            } else if stale {
                first
            } else {
                ready
            };
            if shown != ready {
                set_condition(
                    &mut pod["status"],
                    json!({"type": "Ready", "status": if shown { "True" } else { "False" }}),
                );
            }
        }
        (services, pods)
    }
}

fn reconcile_slices(store: &Store, cluster: &Cluster, ns: &str, inputs: &mut EndpointInputs) {
    let (services, pods) = inputs.view(store, cluster, ns);
    let ours: Vec<Value> = store
        .list("endpointslices", Some(ns))
        .into_iter()
        .filter(|s| s["metadata"]["labels"][LABEL_MANAGED_BY] == CONTROLLER_NAME)
        .collect();
    let only_v4 = [IpFamily::IPv4];
    let families_only: Option<&[IpFamily]> = if cluster.has(Deviation::EndpointsliceMissingIpv6) {
        Some(&only_v4)
    } else {
        None
    };
    let now = time::now();
    let mut keep: BTreeSet<String> = BTreeSet::new();
    for svc in &services {
        let svc_name = svc["metadata"]["name"].as_str().unwrap_or_default();
        // `endpointslice-all-families`: slices of both address types whatever the Service's ipFamilies.
        let mut all_families = svc.clone();
        if cluster.has(Deviation::EndpointsliceAllFamilies) {
            all_families["spec"]["ipFamilies"] = json!(["IPv4", "IPv6"]);
        }
        for desired in endpointslices::desired_slices(&all_families, &pods, families_only) {
            let existing = ours.iter().find(|s| {
                s["metadata"]["labels"][LABEL_SERVICE_NAME] == svc_name
                    && s["addressType"] == desired.address_type.as_str()
            });
            match existing {
                Some(slice) => {
                    keep.insert(
                        slice["metadata"]["name"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                    );
                    if !endpointslices::slice_matches(slice, svc, &desired) {
                        let mut updated = slice.clone();
                        updated["endpoints"] = json!(desired.endpoints);
                        updated["ports"] = json!(desired.ports);
                        updated["metadata"]["labels"] = endpointslices::slice_labels(svc);
                        updated["metadata"]["annotations"]["endpoints.kubernetes.io/last-change-trigger-time"] =
                            json!(now);
                        let _ = store.update("endpointslices", Some(ns), updated);
                    }
                }
                None => {
                    if let Ok(created) = store.create(
                        "endpointslices",
                        Some(ns),
                        endpointslices::slice_object(svc, &desired, &now),
                    ) {
                        keep.insert(
                            created["metadata"]["name"]
                                .as_str()
                                .unwrap_or_default()
                                .to_string(),
                        );
                    }
                }
            }
        }
    }
    for slice in &ours {
        let name = slice["metadata"]["name"].as_str().unwrap_or_default();
        if !keep.contains(name) {
            let _ = store.delete("endpointslices", Some(ns), name);
        }
    }
}

fn spawn_endpointslices(store: &Store, cluster: &Arc<Cluster>) {
    let cluster = cluster.clone();
    let mut inputs = EndpointInputs::default();
    spawn_controller(
        store,
        |e| e.resource == "pods" || e.resource == "services",
        move |store, trigger, _| {
            inputs.observe(&cluster, &trigger);
            for ns in trigger.namespaces(store) {
                reconcile_slices(store, &cluster, &ns, &mut inputs);
            }
        },
    );
}

// ---- endpoints controller ----

/// upstream: pkg/controller/endpoint/endpoints_controller.go `syncService` (see model/endpoints.rs):
/// one Endpoints per Service with a selector, deleted with its Service. `endpoints-controller-disabled`:
/// kube-controller-manager runs with `--controllers=*,-endpoint`.
fn reconcile_endpoints(store: &Store, cluster: &Cluster, ns: &str, inputs: &mut EndpointInputs) {
    let (services, pods) = inputs.view(store, cluster, ns);
    let now = time::now();
    for svc in &services {
        let Some(subsets) = endpoints::desired_subsets(svc, &pods) else {
            continue;
        };
        let name = svc["metadata"]["name"].as_str().unwrap_or_default();
        let existing = store.get("endpoints", Some(ns), name);
        let Some(obj) = endpoints::endpoints_object(svc, &subsets, existing.as_ref(), &now) else {
            continue;
        };
        // A conflict or a terminating namespace: the next event retries.
        let _ = match existing {
            Some(_) => store.update("endpoints", Some(ns), obj),
            None => store.create("endpoints", Some(ns), obj),
        };
    }
    let names: BTreeSet<&str> = services
        .iter()
        .filter_map(|s| s["metadata"]["name"].as_str())
        .collect();
    for ep in store.list("endpoints", Some(ns)) {
        let name = ep["metadata"]["name"].as_str().unwrap_or_default();
        let ours =
            ep["metadata"]["labels"][endpoints::LABEL_MANAGED_BY] == endpoints::CONTROLLER_NAME;
        if ours && !names.contains(name) {
            let _ = store.delete("endpoints", Some(ns), name);
        }
    }
}

fn spawn_endpoints(store: &Store, cluster: &Arc<Cluster>) {
    if cluster.has(Deviation::EndpointsControllerDisabled) {
        return;
    }
    let cluster = cluster.clone();
    let mut inputs = EndpointInputs::default();
    spawn_controller(
        store,
        |e| {
            e.resource == "pods"
                || e.resource == "services"
                || (e.resource == "endpoints" && e.kind == EventType::Deleted)
        },
        move |store, trigger, _| {
            inputs.observe(&cluster, &trigger);
            for ns in trigger.namespaces(store) {
                reconcile_endpoints(store, &cluster, &ns, &mut inputs);
            }
        },
    );
}

// ---- ServiceCIDR controller ----

fn reconcile_service_cidrs(store: &Store, cluster: &Cluster, requeue: &mpsc::UnboundedSender<()>) {
    let all = store.list("servicecidrs", None);
    let ips = store.list("ipaddresses", None);
    let now = time::now();
    for sc in &all {
        let name = sc["metadata"]["name"].as_str().unwrap_or_default();
        let finalizers: Vec<Value> = sc["metadata"]["finalizers"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if servicecidr::is_deleting(sc) {
            let ignore_cover = cluster.has(Deviation::ServicecidrCoverIgnored);
            if servicecidr::can_delete(sc, &all, &ips, ignore_cover) {
                if cluster.has(Deviation::ServicecidrNeverReleased) {
                    continue;
                }
                let deleted_at = sc["metadata"]["deletionTimestamp"]
                    .as_str()
                    .and_then(time::parse_rfc3339)
                    .unwrap_or_else(SystemTime::now);
                let elapsed = SystemTime::now()
                    .duration_since(deleted_at)
                    .unwrap_or_default();
                if elapsed < servicecidr::DELETION_GRACE_PERIOD {
                    // upstream: queue.AddAfter(key, deletionGracePeriod - elapsed)
                    let wait = servicecidr::DELETION_GRACE_PERIOD - elapsed;
                    let tx = requeue.clone();
                    tokio::spawn(async move {
                        tokio::time::sleep(wait).await;
                        let _ = tx.send(());
                    });
                    continue;
                }
                if finalizers.iter().any(|f| f == FINALIZER) {
                    let mut updated = sc.clone();
                    let kept: Vec<Value> =
                        finalizers.into_iter().filter(|f| f != FINALIZER).collect();
                    updated["metadata"]["finalizers"] = json!(kept);
                    let _ = store.update("servicecidrs", None, updated);
                }
            } else {
                let blocked = sc["status"]["conditions"].as_array().is_some_and(|cs| {
                    cs.iter().any(|c| {
                        c["type"] == "Ready" && c["reason"] == servicecidr::REASON_TERMINATING
                    })
                });
                if !blocked && !cluster.has(Deviation::ServicecidrTerminatingStaysReady) {
                    let mut updated = sc.clone();
                    set_condition(
                        &mut updated["status"],
                        servicecidr::terminating_condition(
                            &now,
                            cluster.has(Deviation::ServicecidrBlockedMessageShort),
                        ),
                    );
                    let _ = store.update_status("servicecidrs", None, updated);
                }
            }
            continue;
        }
        let mut current = sc.clone();
        if !cluster.has(Deviation::ServicecidrNoFinalizer)
            && !finalizers.iter().any(|f| f == FINALIZER)
        {
            let mut updated = sc.clone();
            let mut f = finalizers.clone();
            f.push(json!(FINALIZER));
            updated["metadata"]["finalizers"] = json!(f);
            match store.update("servicecidrs", None, updated) {
                Ok(u) => current = u,
                Err(_) => continue,
            }
        }
        if name != DEFAULT_SERVICE_CIDR_NAME && cluster.has(Deviation::ServicecidrNeverReady) {
            continue;
        }
        if !servicecidr::is_ready(&current) || current["status"]["conditions"].is_null() {
            let message = if name == DEFAULT_SERVICE_CIDR_NAME {
                DEFAULT_READY_MESSAGE
            } else {
                READY_MESSAGE
            };
            set_condition(
                &mut current["status"],
                servicecidr::ready_condition(message, &now),
            );
            let _ = store.update_status("servicecidrs", None, current);
        }
    }
}

fn spawn_servicecidrs(store: &Store, cluster: &Arc<Cluster>) {
    let cluster = cluster.clone();
    spawn_controller(
        store,
        |e| e.resource == "servicecidrs" || e.resource == "ipaddresses",
        move |store, _, requeue| {
            reconcile_service_cidrs(store, &cluster, requeue);
        },
    );
}

// ---- IPAddress release when a Service goes away ----

fn spawn_ipaddress_release(store: &Store) {
    spawn_controller(
        store,
        |e| e.resource == "services" && e.kind == EventType::Deleted,
        |store, trigger, _| {
            let Trigger::Events(evs) = trigger else {
                return;
            };
            for ev in evs {
                let svc = &ev.object;
                let ns = &svc["metadata"]["namespace"];
                let name = &svc["metadata"]["name"];
                let ips: Vec<IpAddr> = crate::model::services::allocated_ips(svc)
                    .into_iter()
                    .filter(|ip| {
                        store
                            .get("ipaddresses", None, &ip.to_string())
                            .is_some_and(|obj| {
                                obj["spec"]["parentRef"]["namespace"] == *ns
                                    && obj["spec"]["parentRef"]["name"] == *name
                            })
                    })
                    .collect();
                release(store, &ips);
            }
        },
    );
}

// ---- service accounts ----

fn spawn_serviceaccounts(store: &Store) {
    spawn_controller(
        store,
        |e| e.resource == "namespaces" && e.kind == EventType::Added,
        |store, trigger, _| {
            let namespaces: Vec<Value> = match trigger {
                Trigger::Full => store.list("namespaces", None),
                Trigger::Events(evs) => evs.into_iter().map(|e| e.object).collect(),
            };
            for ns in namespaces {
                let Some(name) = ns["metadata"]["name"].as_str() else {
                    continue;
                };
                if ns["metadata"]["deletionTimestamp"].is_null()
                    && store
                        .get("serviceaccounts", Some(name), "default")
                        .is_none()
                {
                    let _ = store.create(
                        "serviceaccounts",
                        Some(name),
                        super::seed::default_service_account(name),
                    );
                }
            }
        },
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn control_plane_taint_needs_toleration() {
        let node = json!({"metadata": {"labels": {"kubernetes.io/os": "linux"}},
            "spec": {"taints": [{"key": "node-role.kubernetes.io/control-plane", "effect": "NoSchedule"}]}});
        assert!(!fits(&json!({"spec": {}}), &node));
        assert!(fits(
            &json!({"spec": {"tolerations": [{"key": "node-role.kubernetes.io/control-plane", "operator": "Exists", "effect": "NoSchedule"}]}}),
            &node
        ));
        assert!(fits(
            &json!({"spec": {"tolerations": [{"operator": "Exists"}]}}),
            &node
        ));
        assert!(!fits(
            &json!({"spec": {"nodeSelector": {"kubernetes.io/os": "windows"}, "tolerations": [{"operator": "Exists"}]}}),
            &node
        ));
    }

    async fn until(store: &Store, what: &str, pred: impl Fn(&Store) -> bool) {
        for _ in 0..600 {
            if pred(store) {
                return;
            }
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        }
        panic!("timed out waiting for {what}");
    }

    fn listed(store: &Store, key: &str) -> Vec<String> {
        store
            .get("endpoints", Some("default"), "web")
            .map(|ep| {
                ep["subsets"]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .flat_map(|s| s[key].as_array().cloned().unwrap_or_default())
                    .filter_map(|a| a["ip"].as_str().map(str::to_string))
                    .collect()
            })
            .unwrap_or_default()
    }

    fn slice_ready(store: &Store) -> Vec<bool> {
        store
            .list("endpointslices", Some("default"))
            .iter()
            .filter(|s| {
                s["metadata"]["labels"][LABEL_SERVICE_NAME] == "web" && s["addressType"] == "IPv4"
            })
            .flat_map(|s| s["endpoints"].as_array().cloned().unwrap_or_default())
            .map(|e| e["conditions"]["ready"] == true)
            .collect()
    }

    /// A pod whose exec readiness probe fails until `touch /tmp/ready`: Endpoints and EndpointSlices
    /// follow its readiness and its deletion.
    #[tokio::test]
    async fn endpoints_follow_readiness_and_deletion() {
        let store = Store::new();
        let runtime = crate::cluster::install(&store, &crate::DoubleConfig::default()).unwrap();
        let svc = json!({"apiVersion": "v1", "kind": "Service", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"selector": {"app": "web"}, "ports": [{"port": 80, "targetPort": 8080}]}});
        store.create("services", Some("default"), svc).unwrap();
        let pod = json!({"apiVersion": "v1", "kind": "Pod", "metadata": {"name": "web", "namespace": "default", "labels": {"app": "web"}},
            "spec": {"containers": [{"name": "web", "image": "registry.k8s.io/e2e-test-images/agnhost:2.52", "args": ["netexec", "--http-port=8080"],
                "readinessProbe": {"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1}}]}});
        store.create("pods", Some("default"), pod).unwrap();
        until(&store, "a running, unready pod listed not ready", |s| {
            s.get("pods", Some("default"), "web")
                .is_some_and(|p| p["status"]["phase"] == "Running")
                && listed(s, "notReadyAddresses").len() == 1
                && slice_ready(s) == [false]
        })
        .await;
        let ep = store.get("endpoints", Some("default"), "web").unwrap();
        assert_eq!(
            ep["metadata"]["labels"][endpoints::LABEL_MANAGED_BY],
            endpoints::CONTROLLER_NAME
        );
        assert_eq!(
            ep["subsets"][0]["ports"],
            json!([{"port": 8080, "protocol": "TCP"}])
        );
        let running = store.get("pods", Some("default"), "web").unwrap();
        let ready = |p: &Value| endpointslices::is_pod_ready(p);
        assert!(!ready(&running));
        let touch: Vec<String> = ["touch", "/tmp/ready"]
            .iter()
            .map(|a| a.to_string())
            .collect();
        assert_eq!(runtime.exec(&store, &running, "web", &touch).exit_code, 0);
        until(
            &store,
            "the pod to become ready and move to addresses",
            |s| {
                s.get("pods", Some("default"), "web")
                    .is_some_and(|p| ready(&p))
                    && listed(s, "addresses").len() == 1
                    && listed(s, "notReadyAddresses").is_empty()
                    && slice_ready(s) == [true]
            },
        )
        .await;
        store.delete("pods", Some("default"), "web").unwrap();
        until(&store, "the deleted pod to leave", |s| {
            listed(s, "addresses").is_empty() && slice_ready(s).is_empty()
        })
        .await;
        store.delete("services", Some("default"), "web").unwrap();
        until(&store, "the Endpoints to go with the Service", |s| {
            s.get("endpoints", Some("default"), "web").is_none()
        })
        .await;
    }
}
