//! What this run owns on the cluster, so it can be deleted on success, failure, panic and Ctrl-C.
//! Namespaced objects go with their trial's namespace; cluster-scoped ones are registered one by one.

use std::sync::{Arc, Mutex};

use k8s_openapi::api::core::v1::{Namespace, Service};
use k8s_openapi::api::networking::v1::IPAddress;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, ListParams};
use kube::runtime::watcher;
use kube::{Client, ResourceExt};

use crate::cluster::process::CommandRunner;
use crate::retry::retrying;
use crate::sweep::{self, SweepOptions};
use crate::wait::{Budget, Verdict, Wait, budgets, conditions};

/// Something this run created and must delete.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Owned {
    Namespace(String),
    ClusterScoped {
        resource: ApiResource,
        name: String,
    },
    /// A docker container beside a kind cluster's nodes (the external client, [`crate::outside`]).
    Container(String),
}

impl std::fmt::Display for Owned {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Owned::Namespace(name) => write!(f, "namespace/{name}"),
            Owned::ClusterScoped { resource, name } => write!(f, "{}/{name}", resource.plural),
            Owned::Container(name) => write!(f, "docker container {name}"),
        }
    }
}

/// A creation refused because the run is being interrupted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the run is being interrupted, so {0} is not created")]
pub struct Closed(pub String);

/// The live set of owned objects. Deleting is idempotent: NotFound counts as done.
pub struct Cleanup {
    client: Client,
    /// Runs `docker` for the containers the run owns (kind targets only).
    docker: Option<Arc<dyn CommandRunner>>,
    live: Mutex<Live>,
    /// Creations of owned objects whose answer has not come yet; an interrupt waits for them, since the
    /// server may create the object after a delete sent meanwhile found nothing.
    in_flight: tokio::sync::watch::Sender<usize>,
}

#[derive(Default)]
struct Live {
    owned: Vec<Owned>,
    /// Set by an interrupt: nothing new is created.
    closed: bool,
}

/// Held while an owned object is being created (see [`Cleanup::creating`]).
#[must_use = "the creation counts as in flight only while this is held"]
pub struct Creating<'a> {
    cleanup: &'a Cleanup,
}

impl Drop for Creating<'_> {
    fn drop(&mut self) {
        self.cleanup
            .in_flight
            .send_modify(|n| *n = n.saturating_sub(1));
    }
}

/// How long an interrupted run waits for its objects to be gone, unscaled.
pub const SHUTDOWN: Budget = Budget::new("interrupt-cleanup", 120);

impl Cleanup {
    pub fn new(client: Client) -> Cleanup {
        Cleanup::with_docker(client, None)
    }

    /// A cleanup that can also remove docker containers, through `docker`.
    pub fn with_docker(client: Client, docker: Option<Arc<dyn CommandRunner>>) -> Cleanup {
        Cleanup {
            client,
            docker,
            live: Mutex::new(Live::default()),
            in_flight: tokio::sync::watch::Sender::new(0),
        }
    }

    /// Registers `owned` before it is created, and counts its creation in flight until the guard drops.
    /// Refused once the run is interrupted.
    pub fn creating(&self, owned: Owned) -> Result<Creating<'_>, Closed> {
        let Ok(mut live) = self.live.lock() else {
            return Err(Closed(owned.to_string()));
        };
        if live.closed {
            return Err(Closed(owned.to_string()));
        }
        live.owned.push(owned);
        // Counted under the lock, so once `close` returns the count only goes down.
        self.in_flight.send_modify(|n| *n += 1);
        Ok(Creating { cleanup: self })
    }

    /// Deletes one owned object and forgets it.
    pub async fn delete(&self, owned: &Owned) -> Result<(), String> {
        let result = match (owned, &self.docker) {
            (Owned::Container(name), Some(docker)) => {
                crate::outside::remove_container(docker.as_ref(), name).await
            }
            (Owned::Container(name), None) => Err(format!(
                "docker container {name} cannot be removed: no docker for this target"
            )),
            _ => delete_owned(&self.client, owned).await,
        };
        if result.is_ok()
            && let Ok(mut live) = self.live.lock()
        {
            live.owned.retain(|o| o != owned);
        }
        result
    }

    /// Deletes everything still live (cluster-scoped objects first: they may hold addresses of namespaced ones).
    /// Returns one line per object that could not be deleted.
    pub async fn delete_all(&self) -> Vec<String> {
        let mut owned = self.live();
        owned.sort_by_key(|o| matches!(o, Owned::Namespace(_)));
        let mut problems = Vec::new();
        for o in &owned {
            if let Err(e) = self.delete(o).await {
                problems.push(e);
            }
        }
        problems
    }

    /// Removes the docker containers the run owns (before a cluster is deleted whole: they are not in it).
    pub async fn delete_containers(&self) -> Vec<String> {
        let mut problems = Vec::new();
        for owned in self.live() {
            if matches!(owned, Owned::Container(_))
                && let Err(e) = self.delete(&owned).await
            {
                problems.push(e);
            }
        }
        problems
    }

    pub fn live(&self) -> Vec<Owned> {
        self.live
            .lock()
            .map(|l| l.owned.clone())
            .unwrap_or_default()
    }

    /// Ctrl-C or SIGTERM: refuses new creations, lets those in flight answer, deletes what the run owns and
    /// whatever else carries its run id, and waits (watch-driven, within [`SHUTDOWN`] scaled) until it is
    /// gone. Returns one line per object still there, or that could not be deleted.
    pub async fn shutdown(&self, run_id: &str, scale: f64) -> Vec<String> {
        if let Ok(mut live) = self.live.lock() {
            live.closed = true;
        }
        let bound = SHUTDOWN.scaled(scale);
        let mut in_flight = self.in_flight.subscribe();
        if tokio::time::timeout(bound, in_flight.wait_for(|n| *n == 0))
            .await
            .is_err()
        {
            // Not fatal: the label sweep below still finds what they created if they created it by now.
            eprintln!(
                "netconform: cleanup: {} creation(s) still unanswered after {}s",
                *in_flight.borrow(),
                bound.as_secs()
            );
        }
        let mut problems = self.delete_all().await;
        problems.extend(remove_run(&self.client, run_id, scale).await);
        if let Some(docker) = &self.docker {
            problems.extend(sweep::remove_run_containers(docker.as_ref(), run_id).await);
        }
        problems
    }
}

/// Deletes every object labelled with `run_id` (the run's own, by label, whatever was registered) and waits
/// until none is left; returns one line per object left or error.
pub async fn remove_run(client: &Client, run_id: &str, scale: f64) -> Vec<String> {
    let only = SweepOptions {
        only_run: Some(run_id.to_string()),
        ..SweepOptions::default()
    };
    let swept = match sweep::sweep(client, &only).await {
        Ok(report) => report,
        Err(e) => return vec![e.to_string()],
    };
    let mut left = Vec::new();
    let config = watcher::Config::default().labels(&sweep::selector(Some(run_id)));
    let served = sweep::swept_resources().into_iter().filter(|r| {
        !swept
            .not_served
            .iter()
            .any(|n| n.starts_with(&format!("{} (", r.kind)))
    });
    for resource in served {
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let describe = |o: &DynamicObject| {
            format!(
                "{} {}",
                resource.kind,
                o.metadata.name.as_deref().unwrap_or("?")
            )
        };
        let gone = Wait::new(api, SHUTDOWN, scale)
            .awaiting(format!("no {} of run {run_id}", resource.plural))
            .showing(describe)
            .until_all(config.clone(), conditions::none_left)
            .await;
        match gone {
            Ok(_) => {}
            Err(crate::failure::TrialError::Timeout { last_state, .. }) => left.extend(
                last_state
                    .lines()
                    .filter(|l| !l.starts_with("no matching object"))
                    .map(|l| format!("still there: {l}")),
            ),
            Err(e) => left.push(e.to_string()),
        }
    }
    left
}

/// Deletes every Service of `namespace`, one of the run's own, so their ClusterIPs are released without
/// waiting for the namespace controller. One by one: Services serve no `deletecollection` (their REST
/// storage, pkg/registry/core/service/storage, is not a CollectionDeleter).
pub async fn delete_services(client: &Client, namespace: &str) -> Result<(), String> {
    let api: Api<Service> = Api::namespaced(client.clone(), namespace);
    let failed =
        |e: kube::Error| format!("could not delete the Services of namespace {namespace}: {e}");
    let all = ListParams::default();
    let services = retrying(|| api.list(&all)).await.map_err(failed)?;
    let params = DeleteParams::background();
    for service in services {
        let name = service.name_any();
        match retrying(|| api.delete(&name, &params)).await {
            Ok(_) => {}
            Err(kube::Error::Api(status)) if status.code == 404 => {}
            Err(e) => return Err(failed(e)),
        }
    }
    Ok(())
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
    Wait::new(api, budgets::NAMESPACE_CLEANUP, scale)
        .awaiting(awaited)
        .showing(describe)
        .until_all(watcher::Config::default(), conditions::none_left)
        .await
        .map_err(|e| e.to_string())?;
    // A Service's ClusterIPs are released after it is gone from storage (pkg/registry/core/service/storage
    // afterDelete -> releaseAllocatedResources deletes its IPAddress objects), and the allocator sees free
    // addresses through its IPAddress informer (pkg/registry/core/service/ipallocator/ipallocator.go). Seen
    // on the real kind cluster: handing the budget back when the Services were gone still let another trial
    // meet `range is full`. So the addresses count as free once their IPAddress objects are gone too.
    let parent_in = |a: &IPAddress| {
        a.spec
            .as_ref()
            .and_then(|s| s.parent_ref.namespace.as_deref())
            == Some(namespace)
    };
    wait_addresses_released(
        client,
        &format!("the IPAddresses of namespace {namespace}'s Services to be released"),
        scale,
        parent_in,
    )
    .await
    .map_err(|e| e.to_string())
}

/// Waits, watch-driven within [`budgets::SERVICE_IP_RELEASE`], until no IPAddress object is `held`: the
/// allocator counts an address as free only once its IPAddress is gone (see [`wait_services_gone`]).
pub async fn wait_addresses_released(
    client: &Client,
    awaited: &str,
    scale: f64,
    held: impl Fn(&IPAddress) -> bool,
) -> Result<(), crate::failure::TrialError> {
    let addresses: Api<IPAddress> = Api::all(client.clone());
    let describe = |a: &IPAddress| {
        let parent = a.spec.as_ref().map(|s| &s.parent_ref);
        format!(
            "IPAddress {} held by {}",
            a.name_any(),
            parent.map_or("nothing".to_string(), |p| format!(
                "{} {}/{}",
                p.resource,
                p.namespace.as_deref().unwrap_or(""),
                p.name
            ))
        )
    };
    Wait::new(addresses, budgets::SERVICE_IP_RELEASE, scale)
        .awaiting(awaited)
        .showing(describe)
        .until_all(watcher::Config::default(), |all: &[IPAddress]| {
            if all.iter().any(&held) {
                Verdict::Pending
            } else {
                Verdict::Done
            }
        })
        .await
        .map(|_| ())
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
        Owned::Container(name) => {
            return Err(format!(
                "docker container {name} is not a Kubernetes object"
            ));
        }
    };
    match result {
        Ok(()) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 404 => Ok(()),
        Err(e) => Err(format!("could not delete {owned}: {e}")),
    }
}
