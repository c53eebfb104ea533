//! Ctrl-C at many points of a run leaves nothing: every namespace and ServiceCIDR the run created is gone
//! once the interrupt's cleanup returns, including those whose create was still in flight when it came.
//! Against the netconform-double TEST DOUBLE served on 127.0.0.1 as an `existing` target, the setting in which
//! SIGINT at 1.0 s, 1.5 s and 2.5 s used to leave 6, 4 and 1 namespaces Active.
//! (Its own test binary: it sets KUBECONFIG for the process.)
//!
//! To run it on a real cluster instead: `NETCONFORM_INTERRUPT_CONTEXT=<context> cargo test -p
//! netconform-suites --test interrupt_cleanup` (with KUBECONFIG pointing at it, and permission to disturb;
//! `NETCONFORM_IMAGES` applies an image map there, as the suite does, so that the pods really start).

use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::api::networking::v1::ServiceCIDR;
use kube::api::{Api, ListParams};
use kube::runtime::watcher;
use netconform::config::{Settings, TargetChoice};
use netconform::images::ImageMap;
use netconform::labels::{RUN_ID_KEY, managed_selector};
use netconform::runner::run_interruptible;
use netconform::wait::{Budget, Verdict, Wait};
use netconform_double::{Double, DoubleConfig};
use netconform_suites::all_trials;

/// Interrupt once the run has created this many namespaces (in all, not at once); 0: at once.
const POINTS: &[usize] = &[0, 1, 3, 8, 15, 30, 60];

/// The names of the objects `params` selects.
async fn names<K>(api: &Api<K>, params: &ListParams) -> Vec<String>
where
    K: kube::Resource + Clone + serde::de::DeserializeOwned + std::fmt::Debug,
{
    api.list(params)
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|o| o.meta().name.clone())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_interrupt_at_any_point_leaves_nothing_the_run_created() {
    let real_context = std::env::var("NETCONFORM_INTERRUPT_CONTEXT").ok();
    let double = match real_context {
        Some(_) => None,
        None => Some(Double::start(DoubleConfig::default()).await.unwrap()),
    };
    let dir = std::env::temp_dir().join(format!("netconform-interrupt-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    if let Some(double) = &double {
        let kubeconfig = dir.join("kubeconfig");
        double.write_kubeconfig(&kubeconfig).unwrap();
        // SAFETY: this binary has one test, and nothing else reads the environment while it is set.
        unsafe { std::env::set_var("KUBECONFIG", &kubeconfig) };
    }
    let client = kube::Client::try_from(
        kube::Config::from_kubeconfig(&kube::config::KubeConfigOptions {
            context: real_context.clone(),
            ..Default::default()
        })
        .await
        .unwrap(),
    )
    .unwrap();
    // On a real cluster without the docs' images (the offline testbed), the run must start pods as the suite
    // does, or the interrupt would only ever find pods that never started.
    let images = match (&real_context, std::env::var_os("NETCONFORM_IMAGES")) {
        (Some(_), Some(path)) => ImageMap::load(std::path::Path::new(&path)).unwrap(),
        _ => ImageMap::default(),
    };
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let cidrs: Api<ServiceCIDR> = Api::all(client.clone());

    let mut problems = Vec::new();
    for (i, &point) in POINTS.iter().enumerate() {
        let started = std::time::Instant::now();
        let run_id = format!("intr-{i}-{}", std::process::id() % 10_000);
        let settings = Settings {
            target: TargetChoice::Existing,
            context: real_context.clone(),
            allow_disruptive: true,
            images: images.clone(),
            run_id: Some(run_id.clone()),
            junit_path: dir.join(format!("{run_id}.xml")),
            ..Settings::default()
        };
        let selector = format!("{},{RUN_ID_KEY}={run_id}", managed_selector());
        let watched = namespaces.clone();
        let config = watcher::Config::default().labels(&selector);
        // The interrupt comes when the run has created `point` namespaces: watch-driven, not a timer.
        let interrupt = async move {
            let describe = |n: &Namespace| format!("{:?}", n.metadata.name);
            let created = std::sync::Mutex::new(std::collections::BTreeSet::new());
            let _ = Wait::new(watched.clone(), Budget::new("interrupt-point", 120), 1.0)
                .awaiting("the run's namespaces")
                .showing(&describe)
                .until_all(config, |objects| {
                    let Ok(mut created) = created.lock() else {
                        return Verdict::Done;
                    };
                    created.extend(objects.iter().filter_map(|n| n.metadata.name.clone()));
                    if created.len() >= point {
                        Verdict::Done
                    } else {
                        Verdict::Pending
                    }
                })
                .await;
        };
        let run = run_interruptible(&settings, &all_trials(), 16, interrupt)
            .await
            .unwrap_or_else(|(line, code)| panic!("the run did not start (exit {code}): {line}"));
        // On a real cluster a point takes minutes (namespaces end only once their pods' grace periods have):
        // say where the test is.
        eprintln!(
            "interrupt_cleanup: point {point} (run {run_id}): interrupted and cleaned up in {} s; left {:?}",
            started.elapsed().as_secs(),
            run.left_after_interrupt
        );
        match run.left_after_interrupt {
            None => problems.push(format!(
                "point {point}: the run ended before the interrupt came"
            )),
            Some(left) if !left.is_empty() => problems.push(format!(
                "point {point}: the interrupt's cleanup reports {left:?}"
            )),
            Some(_) => {}
        }
        // Gone, not merely terminating: the cleanup waits until the objects are deleted.
        let params = ListParams::default().labels(&selector);
        let ns_left = names(&namespaces, &params).await;
        let cidrs_left = names(&cidrs, &params).await;
        if !ns_left.is_empty() || !cidrs_left.is_empty() {
            problems.push(format!(
                "point {point} (run {run_id}): left namespaces {ns_left:?}, ServiceCIDRs {cidrs_left:?}"
            ));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    // What netconform did not create is untouched.
    assert!(namespaces.get_opt("kube-system").await.unwrap().is_some());
    if let Some(double) = double {
        assert!(cidrs.get_opt("kubernetes").await.unwrap().is_some());
        double.shutdown().await;
    }
    let _ = std::fs::remove_dir_all(&dir);
}
