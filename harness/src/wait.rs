//! Watch-driven waits with named time budgets. No polling sleeps: every wait reacts to watch events
//! (kube-runtime's watcher, which re-lists on `410 Gone` and resumes dropped watches), and on timeout
//! says what it awaited and the last state it saw.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::failure::TrialError;

/// A named time budget; the name appears in timeout messages so a reader knows which limit ran out.
#[derive(Debug, Clone, Copy)]
pub struct Budget {
    pub name: &'static str,
    pub limit: Duration,
}

impl Budget {
    pub const fn new(name: &'static str, secs: u64) -> Budget {
        Budget {
            name,
            limit: Duration::from_secs(secs),
        }
    }

    /// `NETCONFORM_TIMEOUT_SCALE` stretches every budget (slow CI machines, first image pulls).
    pub fn scaled(self, scale: f64) -> Duration {
        self.limit.mul_f64(scale.max(0.01))
    }
}

/// The budgets the suites use. Image pulls dominate pod start on a fresh kind cluster.
pub mod budgets {
    use super::Budget;
    pub const POD_START: Budget = Budget::new("pod-start", 180);
    pub const POD_COMPLETION: Budget = Budget::new("pod-completion", 180);
    pub const SERVICE_ALLOCATION: Budget = Budget::new("service-allocation", 30);
    pub const ENDPOINTS: Budget = Budget::new("endpoints", 60);
    pub const SERVICE_CIDR_READY: Budget = Budget::new("service-cidr-ready", 60);
    /// The ServiceCIDR controller waits about 10 s after the deletion timestamp before it releases.
    pub const SERVICE_CIDR_RELEASE: Budget = Budget::new("service-cidr-release", 90);
    /// An added ServiceCIDR that shows Ready being served by the apiserver's ClusterIP allocator, which
    /// learns of it through an informer (upstream's e2e test/e2e/network/service_cidrs.go retries too).
    pub const SERVICE_CIDR_ALLOCATOR: Budget = Budget::new("service-cidr-allocator", 30);
    /// Deleted Services' ClusterIPs (their IPAddress objects) being released.
    pub const SERVICE_IP_RELEASE: Budget = Budget::new("service-ip-release", 30);
    pub const LOAD_BALANCER: Budget = Budget::new("load-balancer", 120);
    /// A new namespace's `default` ServiceAccount, which the serviceaccount controller creates.
    pub const NAMESPACE_READY: Budget = Budget::new("namespace-ready", 60);
    pub const NAMESPACE_CLEANUP: Budget = Budget::new("namespace-cleanup", 120);
}

tokio::task_local! {
    /// The trial a wait belongs to, for the heartbeat (set by the runner around each trial).
    pub static TRIAL: &'static str;
}

/// One wait in progress, as the heartbeat reports it.
#[derive(Debug, Clone)]
pub struct Waiting {
    pub trial: &'static str,
    pub awaited: String,
    pub budget: &'static str,
    pub limit: Duration,
    pub since: Instant,
}

static WAITING: std::sync::Mutex<BTreeMap<u64, Waiting>> = std::sync::Mutex::new(BTreeMap::new());
static NEXT_WAIT: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);

/// The waits in progress, oldest first.
pub fn waiting() -> Vec<Waiting> {
    let mut all: Vec<Waiting> = WAITING
        .lock()
        .map(|w| w.values().cloned().collect())
        .unwrap_or_default();
    all.sort_by_key(|w| w.since);
    all
}

/// Listed in [`waiting`] while held.
struct Registered(u64);

impl Registered {
    fn new(awaited: &str, budget: Budget, limit: Duration) -> Registered {
        let id = NEXT_WAIT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let entry = Waiting {
            trial: TRIAL.try_with(|t| *t).unwrap_or("(harness)"),
            awaited: awaited.to_string(),
            budget: budget.name,
            limit,
            since: Instant::now(),
        };
        if let Ok(mut w) = WAITING.lock() {
            w.insert(id, entry);
        }
        Registered(id)
    }
}

impl Drop for Registered {
    fn drop(&mut self) {
        if let Ok(mut w) = WAITING.lock() {
            w.remove(&self.0);
        }
    }
}

/// The verdict of a wait condition on the current state.
pub enum Verdict {
    Done,
    Pending,
    /// The awaited state can no longer come (e.g. the pod failed while we waited for it to run).
    Hopeless(String),
}

/// Waits until `condition` holds for the object `name` (None while it does not exist).
pub async fn wait_for<K, C>(
    api: &Api<K>,
    name: &str,
    awaited: &str,
    budget: Budget,
    scale: f64,
    describe: impl Fn(&K) -> String,
    condition: C,
) -> Result<Option<K>, TrialError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    C: Fn(Option<&K>) -> Verdict,
{
    let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
    let found = wait_list(
        api,
        config,
        awaited,
        budget,
        scale,
        &describe,
        |objects: &[K]| condition(objects.iter().find(|o| o.name_any() == name)),
    )
    .await?;
    Ok(found.into_iter().find(|o| o.name_any() == name))
}

/// Waits until `condition` holds for the set of objects the watcher config selects; returns that set.
pub async fn wait_list<K, C>(
    api: &Api<K>,
    config: watcher::Config,
    awaited: &str,
    budget: Budget,
    scale: f64,
    describe: &impl Fn(&K) -> String,
    condition: C,
) -> Result<Vec<K>, TrialError>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
    C: Fn(&[K]) -> Verdict,
{
    let started = Instant::now();
    let mut seen: BTreeMap<String, K> = BTreeMap::new();
    let mut relisting: Option<BTreeMap<String, K>> = None;
    let mut last_error: Option<String> = None;
    let mut listed_once = false;
    let mut stream = watcher(api.clone(), config).default_backoff().boxed();
    let deadline = tokio::time::Instant::now() + budget.scaled(scale);
    let _listed = Registered::new(awaited, budget, budget.scaled(scale));
    let last_state = |seen: &BTreeMap<String, K>, last_error: &Option<String>| {
        let mut state: Vec<String> = seen.values().map(describe).collect();
        if state.is_empty() {
            state.push("no matching object".into());
        }
        if let Some(e) = last_error {
            state.push(format!("last watch error: {e}"));
        }
        state.join("\n")
    };
    let timeout = |seen: &BTreeMap<String, K>, last_error: &Option<String>| TrialError::Timeout {
        awaited: awaited.to_string(),
        budget: budget.name,
        elapsed: started.elapsed(),
        last_state: last_state(seen, last_error),
    };
    loop {
        let event = match tokio::time::timeout_at(deadline, stream.next()).await {
            Err(_) => return Err(timeout(&seen, &last_error)),
            Ok(None) => return Err(timeout(&seen, &Some("watch stream ended".into()))),
            Ok(Some(Err(e))) => {
                last_error = Some(e.to_string());
                continue;
            }
            Ok(Some(Ok(event))) => event,
        };
        let settled = match event {
            watcher::Event::Init => {
                relisting = Some(BTreeMap::new());
                false
            }
            watcher::Event::InitApply(obj) => {
                if let Some(fresh) = relisting.as_mut() {
                    fresh.insert(key(&obj), obj);
                }
                false
            }
            watcher::Event::InitDone => {
                seen = relisting.take().unwrap_or_default();
                listed_once = true;
                true
            }
            watcher::Event::Apply(obj) => {
                seen.insert(key(&obj), obj);
                listed_once
            }
            watcher::Event::Delete(obj) => {
                seen.remove(&key(&obj));
                listed_once
            }
        };
        if !settled {
            continue;
        }
        let objects: Vec<K> = seen.values().cloned().collect();
        match condition(&objects) {
            Verdict::Done => return Ok(objects),
            Verdict::Pending => {}
            Verdict::Hopeless(why) => {
                let last_state = last_state(&seen, &last_error);
                return Err(TrialError::GaveUp {
                    awaited: awaited.to_string(),
                    why,
                    last_state,
                });
            }
        }
    }
}

fn key<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}
