//! A live run is recognisable as live: it holds a `coordination.k8s.io` Lease `netconform-run-<run id>` in
//! the `default` namespace, labelled like everything netconform creates and renewed while the run goes on.
//! Sweeps (a run's opening sweep, `netconform sweep`) leave the objects of a run whose lease is current alone;
//! after `kill -9` the renewals stop, and once the lease has expired the next sweep removes the run's objects
//! and the lease.

use std::collections::BTreeSet;
use std::time::{Duration, SystemTime};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, DeleteParams, ListParams, ObjectMeta, Patch, PatchParams, PostParams};
use kube::{Client, ResourceExt};

use crate::error::HarnessError;
use crate::labels::{RUN_ID_KEY, managed_selector, run_labels};

/// Where run leases live: every cluster has it, and a run's own namespaces come and go.
pub const NAMESPACE: &str = "default";
/// How long a lease holds without renewal.
pub const DURATION: Duration = Duration::from_secs(60);
/// Renewals per [`DURATION`]: two can be missed before the run looks dead.
const RENEWALS: u32 = 3;

/// The lease's name for a run.
pub fn lease_name(run_id: &str) -> String {
    format!("netconform-run-{run_id}")
}

/// The lease a running run holds; renewed until [`RunLease::release`] (or the process dies).
pub struct RunLease {
    api: Api<Lease>,
    name: String,
    renewing: tokio::task::JoinHandle<()>,
}

impl RunLease {
    /// Takes the run's lease and starts renewing it. A cluster that does not serve Leases gives `Ok(None)`.
    pub async fn acquire(client: &Client, run_id: &str) -> Result<Option<RunLease>, HarnessError> {
        let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
        let name = lease_name(run_id);
        let lease = Lease {
            metadata: ObjectMeta {
                name: Some(name.clone()),
                labels: Some(run_labels(run_id)),
                ..ObjectMeta::default()
            },
            spec: Some(LeaseSpec {
                holder_identity: Some(format!("netconform run {run_id}")),
                lease_duration_seconds: Some(DURATION.as_secs() as i32),
                renew_time: Some(now()),
                acquire_time: Some(now()),
                ..LeaseSpec::default()
            }),
        };
        match api.create(&PostParams::default(), &lease).await {
            Ok(_) => {}
            Err(kube::Error::Api(s)) if s.code == 404 => return Ok(None),
            Err(e) => {
                return Err(HarnessError::api(
                    format!("creating Lease {NAMESPACE}/{name}"),
                    &e,
                ));
            }
        }
        let renewing = tokio::spawn(renew(api.clone(), name.clone()));
        Ok(Some(RunLease {
            api,
            name,
            renewing,
        }))
    }

    /// Stops renewing and deletes the lease: the run is over.
    pub async fn release(&self) {
        self.renewing.abort();
        let _ = self.api.delete(&self.name, &DeleteParams::default()).await;
    }
}

/// A run dropped without `release` (its process killed, or its future dropped) renews no more: the lease
/// expires and a later sweep takes the run's objects.
impl Drop for RunLease {
    fn drop(&mut self) {
        self.renewing.abort();
    }
}

/// A heartbeat, not a synchronisation: the renewal is due every `DURATION / RENEWALS`.
async fn renew(api: Api<Lease>, name: String) {
    let mut every = tokio::time::interval(DURATION / RENEWALS);
    every.tick().await;
    loop {
        every.tick().await;
        let patch = serde_json::json!({"spec": {"renewTime": now()}});
        if let Err(e) = api
            .patch(&name, &PatchParams::default(), &Patch::Merge(&patch))
            .await
        {
            eprintln!("netconform: could not renew Lease {NAMESPACE}/{name}: {e}");
        }
    }
}

fn now() -> MicroTime {
    MicroTime(k8s_openapi::jiff::Timestamp::now())
}

/// The leases netconform runs hold, split into live runs and expired leases (by name).
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct Leases {
    pub live: BTreeSet<String>,
    /// Leases whose run stopped renewing them.
    pub expired: Vec<(String, String)>,
}

/// Lists the runs' leases; a cluster that does not serve Leases has none.
pub async fn leases(client: &Client) -> Result<Leases, HarnessError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    let listed = match api
        .list(&ListParams::default().labels(&managed_selector()))
        .await
    {
        Ok(list) => list.items,
        Err(kube::Error::Api(s)) if s.code == 404 => return Ok(Leases::default()),
        Err(e) => return Err(HarnessError::api("listing netconform's Leases", &e)),
    };
    let mut out = Leases::default();
    for lease in listed {
        let Some(run) = lease.labels().get(RUN_ID_KEY).cloned() else {
            continue;
        };
        if is_live(&lease, SystemTime::now()) {
            out.live.insert(run);
        } else {
            out.expired.push((run, lease.name_any()));
        }
    }
    Ok(out)
}

/// Whether the lease was renewed within its duration of `now`.
fn is_live(lease: &Lease, now: SystemTime) -> bool {
    let Some(spec) = &lease.spec else {
        return false;
    };
    let Some(renewed) = spec.renew_time.as_ref().or(spec.acquire_time.as_ref()) else {
        return false;
    };
    let duration = spec
        .lease_duration_seconds
        .map(|s| Duration::from_secs(s.max(0) as u64))
        .unwrap_or(DURATION);
    let renewed =
        SystemTime::UNIX_EPOCH + Duration::from_nanos(renewed.0.as_nanosecond().max(0) as u64);
    now.duration_since(renewed)
        .map(|age| age < duration)
        .unwrap_or(true)
}

/// Deletes the lease `name` (of a run that is over).
pub async fn delete(client: &Client, name: &str) -> Result<(), HarnessError> {
    let api: Api<Lease> = Api::namespaced(client.clone(), NAMESPACE);
    match api.delete(name, &DeleteParams::default()).await {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(HarnessError::api(
            format!("deleting Lease {NAMESPACE}/{name}"),
            &e,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lease(renewed_secs_ago: u64, duration: i32) -> Lease {
        let renewed = SystemTime::now() - Duration::from_secs(renewed_secs_ago);
        let ts = k8s_openapi::jiff::Timestamp::try_from(renewed).unwrap();
        Lease {
            spec: Some(LeaseSpec {
                renew_time: Some(MicroTime(ts)),
                lease_duration_seconds: Some(duration),
                ..LeaseSpec::default()
            }),
            ..Lease::default()
        }
    }

    #[test]
    fn a_lease_is_live_until_its_duration_has_passed_since_the_last_renewal() {
        let now = SystemTime::now();
        assert!(is_live(&lease(5, 60), now));
        assert!(!is_live(&lease(61, 60), now));
        assert!(!is_live(&Lease::default(), now), "no spec: nobody holds it");
    }
}
