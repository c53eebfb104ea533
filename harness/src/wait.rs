//! Watch-driven waits with named time budgets. No polling sleeps: every wait reacts to watch events
//! (kube-runtime's watcher, which re-lists on `410 Gone` and resumes dropped watches), and on timeout
//! says what it awaited and the last state it saw. A wait is a [`Wait`] (a small builder) and a
//! [`Condition`] ([`conditions`] names the usual ones). What has no object to watch (a request's answer, a
//! DNS lookup) is observed again, paced, by [`eventually`], which runs out the same way.

use std::collections::BTreeMap;
use std::fmt::Debug;
use std::time::{Duration, Instant};

use futures::StreamExt;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use kube::{Resource, ResourceExt};
use serde::de::DeserializeOwned;

use crate::failure::TrialError;

pub mod conditions;
mod eventually;

pub use eventually::{Expect, Pace, Paced, eventually};

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

/// What a wait on one object awaits, given the object (None while it does not exist). Closures
/// `Fn(Option<&K>) -> Verdict` are conditions; [`conditions`] names the usual ones.
pub trait Condition<K> {
    fn verdict(&self, obj: Option<&K>) -> Verdict;
}

impl<K, F: Fn(Option<&K>) -> Verdict> Condition<K> for F {
    fn verdict(&self, obj: Option<&K>) -> Verdict {
        self(obj)
    }
}

/// A watch-driven wait: on what ([`Wait::new`], or `Ctx::wait`), for how long (a named budget stretched by
/// the run's scale), what it awaits in words and how an object reads in a timeout's "last state seen".
pub struct Wait<'a, K> {
    api: Api<K>,
    budget: Budget,
    scale: f64,
    awaited: Option<String>,
    describe: Box<dyn Fn(&K) -> String + Send + Sync + 'a>,
}

impl<'a, K> Wait<'a, K>
where
    K: Resource + Clone + DeserializeOwned + Debug + Send + 'static,
{
    pub fn new(api: Api<K>, budget: Budget, scale: f64) -> Wait<'a, K> {
        Wait {
            api,
            budget,
            scale,
            awaited: None,
            describe: Box::new(|o: &K| o.name_any()),
        }
    }

    /// What the wait awaits, for the heartbeat and a timeout ("waiting for …").
    pub fn awaiting(mut self, awaited: impl Into<String>) -> Wait<'a, K> {
        self.awaited = Some(awaited.into());
        self
    }

    /// How an object reads in a timeout's "last state seen" (its name by default).
    pub fn showing(mut self, describe: impl Fn(&K) -> String + Send + Sync + 'a) -> Wait<'a, K> {
        self.describe = Box::new(describe);
        self
    }

    /// Waits until `condition` holds for the object `name`; returns it, or None when it does not exist
    /// (a wait for its deletion).
    pub async fn until(
        self,
        name: &str,
        condition: impl Condition<K>,
    ) -> Result<Option<K>, TrialError> {
        let config = watcher::Config::default().fields(&format!("metadata.name={name}"));
        let found = self
            .until_all(config, |objects: &[K]| {
                condition.verdict(objects.iter().find(|o| o.name_any() == name))
            })
            .await?;
        Ok(found.into_iter().find(|o| o.name_any() == name))
    }

    /// Waits until `condition` holds for the object `name`, which must exist then.
    pub async fn object(self, name: &str, condition: impl Condition<K>) -> Result<K, TrialError> {
        self.until(name, condition)
            .await?
            .ok_or_else(|| TrialError::Harness(format!("{name} vanished while it was awaited")))
    }

    /// Waits until `condition` holds for the set of objects the watcher config selects; returns that set.
    pub async fn until_all(
        self,
        config: watcher::Config,
        condition: impl Fn(&[K]) -> Verdict,
    ) -> Result<Vec<K>, TrialError> {
        let Wait {
            api,
            budget,
            scale,
            awaited,
            describe,
        } = self;
        let awaited = awaited.unwrap_or_else(|| "the selected objects".to_string());
        let started = Instant::now();
        let mut seen: BTreeMap<String, K> = BTreeMap::new();
        let mut relisting: Option<BTreeMap<String, K>> = None;
        let mut last_error: Option<String> = None;
        let mut listed_once = false;
        let mut stream = watcher(api, config).default_backoff().boxed();
        let deadline = tokio::time::Instant::now() + budget.scaled(scale);
        let _listed = Registered::new(&awaited, budget, budget.scaled(scale));
        let last_state = |seen: &BTreeMap<String, K>, last_error: &Option<String>| {
            let mut state: Vec<String> = seen.values().map(&describe).collect();
            if state.is_empty() {
                state.push("no matching object".into());
            }
            if let Some(e) = last_error {
                state.push(format!("last watch error: {e}"));
            }
            state.join("\n")
        };
        let timeout =
            |seen: &BTreeMap<String, K>, last_error: &Option<String>| TrialError::Timeout {
                awaited: awaited.clone(),
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
                    return Err(TrialError::GaveUp {
                        awaited: awaited.clone(),
                        why,
                        last_state: last_state(&seen, &last_error),
                    });
                }
            }
        }
    }
}

fn key<K: Resource>(obj: &K) -> String {
    format!("{}/{}", obj.namespace().unwrap_or_default(), obj.name_any())
}
