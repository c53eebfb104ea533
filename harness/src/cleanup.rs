//! What this run owns on the cluster, so it can be deleted on success, failure, panic and Ctrl-C.
//! Namespaced objects go with their trial's namespace; cluster-scoped ones are registered one by one.

use std::sync::Mutex;

use k8s_openapi::api::core::v1::{Namespace, Service};
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::retry::retrying;
use crate::wait::{Verdict, budgets, wait_list};

/// Something this run created and must delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Namespace(String),
    ClusterScoped { resource: ApiResource, name: String },
}

impl std::fmt::Display for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owned::Namespace(name) => write!(f, "namespace/{name}"),
            Owned::ClusterScoped { resource, name } => write!(f, "{}/{name}", resource.plural),
        }
    }
}

/// The live set of owned objects. Deleting is idempotent: NotFound counts as done.
pub struct Cleanup {
    client: Client,
    live: Mutex<Vec<Owned>>,
}

impl Cleanup {
    pub fn new(client: Client) -> Cleanup {
        Cleanup {
            client,
            live: Mutex::new(Vec::new()),
        }
    }

    pub fn register(&self, owned: Owned) {
        if let Ok(mut live) = self.live.lock() {
            live.push(owned);
        }
    }

    /// Deletes one owned object and forgets it.
    pub async fn delete(&self, owned: &Owned) -> Result<(), String> {
        let result = delete_owned(&self.client, owned).await;
        if result.is_ok() {
            if let Ok(mut live) = self.live.lock() {
                live.retain(|o| o != owned);
            }
        }
        result
    }

    /// Deletes everything still live (cluster-scoped objects first: they may hold addresses of namespaced ones).
    /// Returns one line per object that could not be deleted.
    pub async fn delete_all(&self) -> Vec<String> {
        let mut owned = self.live.lock().map(|l| l.clone()).unwrap_or_default();
        owned.sort_by_key(|o| matches!(o, Owned::Namespace(_)));
        let mut problems = Vec::new();
        for o in &owned {
            if let Err(e) = self.delete(o).await {
                problems.push(e);
            }
        }
        problems
    }

    pub fn live(&self) -> Vec<Owned> {
        self.live.lock().map(|l| l.clone()).unwrap_or_default()
    }
}

/// Waits, watch-driven within [`budgets::NAMESPACE_CLEANUP`], until namespace `namespace` holds no
/// Service: their ClusterIPs are released with them (a deleted namespace's Services go only once the
/// namespace controller gets to them, after finalizers such as `service.kubernetes.io/load-balancer-cleanup`).
/// A trial's service addresses are handed back to the budget only after this.
pub async fn wait_services_gone(
    client: &Client,
    namespace: &str,
    scale: f64,
) -> Result<(), String> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let awaited = format!("the Services of namespace {namespace} to be gone");
    let describe = |s: &Service| {
        format!(
            "Service {} (clusterIPs {:?})",
            s.name_any(),
            s.spec
                .as_ref()
                .and_then(|sp| sp.cluster_ips.clone())
                .unwrap_or_default()
        )
    };
    wait_list(
        &api,
        watcher::Config::default(),
        &awaited,
        budgets::NAMESPACE_CLEANUP,
        scale,
        &describe,
        |services: &[Service]| {
            if services.is_empty() {
                Verdict::Done
            } else {
                Verdict::Pending
            }
        },
    )
    .await
    .map(|_| ())
    .map_err(|e| e.to_string())
}

async fn delete_owned(client: &Client, owned: &Owned) -> Result<(), String> {
    let params = DeleteParams::background();
    let result = match owned {
        Owned::Namespace(name) => {
            let api: Api<Namespace> = Api::all(client.clone());
            retrying(|| api.delete(name, &params)).await.map(|_| ())
        }
        Owned::ClusterScoped { resource, name } => {
            let api: Api<DynamicObject> = Api::all_with(client.clone(), resource);
            retrying(|| api.delete(name, &params)).await.map(|_| ())
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(format!("could not delete {owned}: {e}")),
    }
}
