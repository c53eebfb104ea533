//! Each trial's `Need::ServiceAddresses` declaration against what it really holds.
//!
//! The runner lets trials run side by side only while their declared IPv4 service addresses fit the free
//! part of the range (a /28 on the kind config). An under-declared trial could exhaust the range under a
//! neighbour. This test serves the netconform-double TEST DOUBLE, runs every trial against it as an
//! `existing` target, watches IPAddress objects, and compares each trial's peak of IPv4 service addresses
//! held at once (by its namespaces, in the default range) with its declaration.
//! (Its own test binary: it sets KUBECONFIG for the process.)

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use futures::StreamExt;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::IPAddress;
use kube::api::Api;
use kube::runtime::{WatchStreamExt, watcher};
use netconform::config::{Settings, TargetChoice};
use netconform::labels::TRIAL_ANNOTATION;
use netconform::preflight::Need;
use netconform::runner::run_all;
use netconform_double::{Double, DoubleConfig};
use netconform_suites::all_trials;

/// The double's default IPv4 service range, as on the kind config (addresses of other ServiceCIDRs do not count).
const DEFAULT_IPV4_RANGE: &str = "10.96.0.0/28";

#[derive(Default)]
struct Peaks {
    /// namespace -> trial name (from the annotation the runner sets).
    trial_of: BTreeMap<String, String>,
    /// IPv4 address -> namespace of the Service holding it.
    held: BTreeMap<String, String>,
    /// trial -> most IPv4 addresses its namespaces held at once.
    peak: BTreeMap<String, usize>,
}

impl Peaks {
    /// Extra namespaces of a trial are named `<trial namespace>-<suffix>`.
    fn trial(&self, namespace: &str) -> Option<String> {
        self.trial_of
            .iter()
            .find(|(ns, _)| namespace == *ns || namespace.starts_with(&format!("{ns}-")))
            .map(|(_, t)| t.clone())
    }

    fn update(&mut self, trial: &str) {
        let now = self
            .held
            .values()
            .filter(|ns| self.trial(ns).as_deref() == Some(trial))
            .count();
        let peak = self.peak.entry(trial.to_string()).or_default();
        *peak = (*peak).max(now);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn declared_service_addresses_cover_what_each_trial_holds() {
    let double = Double::start(DoubleConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("netconform-budget-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();
    // SAFETY: this binary has one test, and nothing else reads the environment while it is set.
    unsafe { std::env::set_var("KUBECONFIG", &kubeconfig) };
    let client = kube::Client::try_from(
        kube::Config::from_custom_kubeconfig(
            kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
            &Default::default(),
        )
        .await
        .unwrap(),
    )
    .unwrap();

    let peaks = Arc::new(Mutex::new(Peaks::default()));
    let namespaces = watcher(
        Api::<Namespace>::all(client.clone()),
        watcher::Config::default(),
    )
    .applied_objects()
    .boxed();
    let addresses = watcher(
        Api::<IPAddress>::all(client.clone()),
        watcher::Config::default(),
    )
    .touched_objects()
    .boxed();
    let (p1, p2) = (peaks.clone(), peaks.clone());
    let watch_namespaces = tokio::spawn(namespaces.for_each(move |ns| {
        if let Ok(ns) = ns
            && let (Some(name), Some(trial)) = (
                ns.metadata.name.clone(),
                ns.metadata
                    .annotations
                    .and_then(|a| a.get(TRIAL_ANNOTATION).cloned()),
            )
        {
            p1.lock().unwrap().trial_of.insert(name, trial);
        }
        async {}
    }));
    let watch_addresses = tokio::spawn(addresses.for_each(move |ip| {
        if let Ok(ip) = ip {
            let name = ip.metadata.name.clone().unwrap_or_default();
            let holder = ip
                .spec
                .as_ref()
                .and_then(|s| s.parent_ref.namespace.clone())
                .unwrap_or_default();
            let mut p = p2.lock().unwrap();
            if ip.metadata.deletion_timestamp.is_some() {
                p.held.remove(&name);
            } else if name.parse::<std::net::Ipv4Addr>().is_ok_and(|a| {
                DEFAULT_IPV4_RANGE
                    .parse::<ipnet::Ipv4Net>()
                    .is_ok_and(|r| r.contains(&a))
            }) {
                p.held.insert(name, holder.clone());
                if let Some(trial) = p.trial(&holder) {
                    p.update(&trial);
                }
            }
        }
        async {}
    }));

    let settings = Settings {
        target: TargetChoice::Existing,
        allow_disruptive: true,
        ..Settings::default()
    };
    let trials = all_trials();
    let records = run_all(&settings, &trials, 16).await.unwrap();
    watch_namespaces.abort();
    watch_addresses.abort();
    assert_eq!(records.len(), trials.len());

    let peaks = peaks.lock().unwrap();
    let mut problems = Vec::new();
    // Trials that need the allocator alone hold the whole budget (the exhaustion walk fills the range).
    let alone = |t: &&netconform::trial::TrialDef| t.needs.contains(&Need::ServiceAllocatorAlone);
    for trial in trials.iter().filter(|t| !alone(t)) {
        let declared: usize = trial
            .needs
            .iter()
            .map(|n| {
                if let Need::ServiceAddresses(k) = n {
                    usize::from(*k)
                } else {
                    0
                }
            })
            .sum();
        let held = peaks.peak.get(trial.name).copied().unwrap_or(0);
        println!("{held:>2} held / {declared:>2} declared  {}", trial.name);
        if held > declared {
            problems.push(format!("{} holds {held} IPv4 service addresses at once but declares Need::ServiceAddresses({declared})", trial.name));
        }
    }
    double.shutdown().await;
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}
