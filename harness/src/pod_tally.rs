//! How many pods a run started. On a small cluster the trials spend most of their time waiting for pods that
//! start on the same few cores, so this count is the suite's speed lever; the report carries it beside the
//! wall time and the trial time.
//!
//! Two watches: the run's namespaces (by their run-id label) and every pod. A pod counts when its namespace
//! is one of the run's, whichever of the two events arrives first.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::{Namespace, Pod};
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Api, Client, ResourceExt};

use crate::labels::RUN_ID_KEY;

/// The pods seen so far, by uid, with their namespace; and the run's namespaces.
#[derive(Debug, Default)]
struct Seen {
    pods: BTreeMap<String, String>,
    namespaces: BTreeSet<String>,
}

impl Seen {
    fn count(&self) -> u64 {
        self.pods
            .values()
            .filter(|ns| self.namespaces.contains(*ns))
            .count() as u64
    }
}

/// Counts the pods created in the run's namespaces while it lives; its watches stop when it is dropped.
pub struct PodTally {
    seen: Arc<Mutex<Seen>>,
    watches: Vec<tokio::task::JoinHandle<()>>,
}

impl PodTally {
    /// Starts both watches on the current runtime.
    pub fn start(client: &Client, run_id: &str) -> PodTally {
        let seen = Arc::new(Mutex::new(Seen::default()));
        let namespaces = watcher(
            Api::<Namespace>::all(client.clone()),
            watcher::Config::default().labels(&format!("{RUN_ID_KEY}={run_id}")),
        )
        .default_backoff()
        .applied_objects();
        let pods = watcher(Api::<Pod>::all(client.clone()), watcher::Config::default())
            .default_backoff()
            .applied_objects();
        let ns_seen = seen.clone();
        let pod_seen = seen.clone();
        let watches = vec![
            tokio::spawn(namespaces.for_each(move |ns| {
                if let (Ok(ns), Ok(mut seen)) = (ns, ns_seen.lock()) {
                    seen.namespaces.insert(ns.name_any());
                }
                futures::future::ready(())
            })),
            tokio::spawn(pods.for_each(move |pod| {
                if let Ok(pod) = pod
                    && let (Some(uid), Some(ns)) = (pod.uid(), pod.namespace())
                    && let Ok(mut seen) = pod_seen.lock()
                {
                    seen.pods.insert(uid, ns);
                }
                futures::future::ready(())
            })),
        ];
        PodTally { seen, watches }
    }

    /// The pods started in the run's namespaces so far.
    pub fn count(&self) -> u64 {
        self.seen.lock().map(|s| s.count()).unwrap_or(0)
    }
}

impl Drop for PodTally {
    fn drop(&mut self) {
        for watch in &self.watches {
            watch.abort();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_pod_counts_once_its_namespace_is_the_runs_in_either_order() {
        let mut seen = Seen::default();
        seen.pods.insert("u1".into(), "nc-a".into());
        seen.pods.insert("u2".into(), "kube-system".into());
        assert_eq!(seen.count(), 0, "the namespace event has not arrived yet");
        seen.namespaces.insert("nc-a".into());
        seen.pods.insert("u3".into(), "nc-a".into());
        // An update of a pod already seen is the same pod.
        seen.pods.insert("u1".into(), "nc-a".into());
        assert_eq!(seen.count(), 2);
    }
}
