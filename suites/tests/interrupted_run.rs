//! A run killed in the middle (no cleanup at all: the worst case, e.g. SIGKILL or a lost CI runner) leaves
//! labelled namespaces, Services and ServiceCIDRs behind, and a lease nobody renews; `netconform sweep` keeps
//! them while the lease is current and removes them all once it has expired, and nothing it did not create. Against the netconform-double TEST DOUBLE served on 127.0.0.1 as an `existing` target.
//! (Its own test binary: it sets KUBECONFIG for the process.)

use k8s_openapi::api::coordination::v1::Lease;
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::ServiceCIDR;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::ResourceExt;
use kube::api::{Api, ListParams, Patch, PatchParams};
use netconform::config::{Settings, TargetChoice};
use netconform::labels::managed_selector;
use netconform::runner::run_all;
use netconform::sweep::sweep;
use netconform::wait::{Budget, Verdict, Wait, conditions};
use netconform_double::{Double, DoubleConfig};
use netconform_suites::all_trials;

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_killed_run_leaves_nothing_after_sweep() {
    let double = Double::start(DoubleConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("netconform-interrupted-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();
    // SAFETY: this binary has one test, and nothing else reads the environment while it is set.
    unsafe { std::env::set_var("KUBECONFIG", &kubeconfig) };
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::read_from(&kubeconfig).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let cidrs: Api<ServiceCIDR> = Api::all(client.clone());
    let managed = watcher_config();

    // The run: the ServiceCIDR scenario (cluster-scoped objects with finalizers) beside the other suites.
    let settings = Settings {
        target: TargetChoice::Existing,
        allow_disruptive: true,
        ..Settings::default()
    };
    let run = tokio::spawn(async move { run_all(&settings, &all_trials(), 16).await });
    // Kill it once it owns both namespaces and a ServiceCIDR: the middle of the run.
    let describe = |o: &ServiceCIDR| format!("{:?}", o.metadata.name);
    Wait::new(cidrs.clone(), Budget::new("run-started", 60), 1.0)
        .awaiting("a labelled ServiceCIDR of the run")
        .showing(&describe)
        .until_all(managed.clone(), |o| {
            if o.is_empty() {
                Verdict::Pending
            } else {
                Verdict::Done
            }
        })
        .await
        .unwrap();
    run.abort();
    let _ = run.await;
    let left = namespaces
        .list(&ListParams::default().labels(&managed_selector()))
        .await
        .unwrap();
    assert!(
        !left.items.is_empty(),
        "the killed run left nothing to sweep: the test proves nothing"
    );

    // Its lease is still current, so a sweep takes it for a live run and keeps everything.
    let report = sweep(&client, &Default::default()).await.unwrap();
    assert!(report.deleted.is_empty(), "{:?}", report.deleted);
    assert!(
        report
            .kept
            .iter()
            .any(|k| k.ends_with("is live: it renews its lease)")),
        "{:?}",
        report.kept
    );
    // Nobody renews it any more; once it has expired (moved back past its duration here, rather than waited
    // for) the next sweep removes the run's objects and the lease.
    let leases: Api<Lease> = Api::namespaced(client.clone(), netconform::liveness::NAMESPACE);
    let held = leases
        .list(&ListParams::default().labels(&managed_selector()))
        .await
        .unwrap();
    assert_eq!(held.items.len(), 1, "the run's lease");
    let expired = k8s_openapi::jiff::Timestamp::now()
        .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(
            2 * netconform::liveness::DURATION.as_secs() as i64,
        ))
        .unwrap();
    leases
        .patch(
            &held.items[0].name_any(),
            &PatchParams::default(),
            &Patch::Merge(serde_json::json!({"spec": {"renewTime": MicroTime(expired)}})),
        )
        .await
        .unwrap();
    let report = sweep(&client, &Default::default()).await.unwrap();
    assert!(
        report.deleted.iter().any(|d| d.starts_with("Namespace "))
            && report.deleted.iter().any(|d| d.starts_with("Lease ")),
        "{:?}",
        report.deleted
    );
    for (what, done) in [
        (
            "no labelled namespace",
            none_left_of(&namespaces, "no labelled namespace").await,
        ),
        (
            "no labelled ServiceCIDR",
            none_left_of(&cidrs, "no labelled ServiceCIDR").await,
        ),
    ] {
        assert!(done, "after sweep: expected {what}");
    }
    // What netconform did not create is untouched.
    assert!(cidrs.get_opt("kubernetes").await.unwrap().is_some());
    assert!(namespaces.get_opt("kube-system").await.unwrap().is_some());
    double.shutdown().await;
}

fn watcher_config() -> kube::runtime::watcher::Config {
    kube::runtime::watcher::Config::default().labels(&managed_selector())
}

/// Whether the run's labelled objects of `api` are gone within the sweep's budget.
async fn none_left_of<K>(api: &Api<K>, what: &str) -> bool
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug + Send + 'static,
{
    Wait::new(api.clone(), Budget::new("sweep", 60), 1.0)
        .awaiting(what)
        .until_all(watcher_config(), conditions::none_left)
        .await
        .is_ok()
}
