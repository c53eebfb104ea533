//! Every way a run can end after netconform created a kind cluster deletes that cluster, unless
//! `NETCONFORM_KEEP_CLUSTER=1`: the end of the run, an error (the API not answering, a refused cluster, a
//! failed `NETCONFORM_KIND_SETUP` program),
//! an interrupt (Ctrl-C and SIGTERM are one interrupt to the runner) during creation or during the trials,
//! and a panic. `kind` and `docker` are scripted (`ScriptedRunner`); where the run needs an API server, the
//! scripted `kind get kubeconfig` hands it the netconform-double TEST DOUBLE, which stands in for the
//! cluster kind would have made.
//!
//! Also: a cluster netconform created and kept is known as netconform's own by a later run, and one made by
//! hand is not.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use netconform::cluster::process::ScriptedRunner;
use netconform::cluster::{CreatedCluster, kind, resolve_with};
use netconform::config::{Settings, TargetChoice};
use netconform::preflight::Need;
use netconform::report::TrialOutcome;
use netconform::runner::{InterruptibleRun, run_resolved};
use netconform::trial::{TrialDef, TrialFuture};
use netconform_double::{Double, DoubleConfig, RunningDouble};

const UNREACHABLE: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\ncurrent-context: ctx\nusers:\n- name: u\n  user: {}\n";

fn settings(keep: bool) -> Settings {
    let root = netconform::config::workspace_root(std::path::Path::new(env!("CARGO_MANIFEST_DIR")));
    Settings {
        target: TargetChoice::Kind,
        keep_cluster: keep,
        require_cluster: true,
        ..Settings::default().anchored_at(&root)
    }
}

/// `kind` as it answers when the cluster does not exist yet (`existing` lists it), with `kubeconfig`.
fn kind_runner(existing: &str, kubeconfig: &str) -> Arc<ScriptedRunner> {
    ScriptedRunner::new(&["kind", "docker"])
        .answer("kind get clusters", true, existing, "")
        .answer("kind get kubeconfig", true, kubeconfig, "")
        .into_arc()
}

/// The double as the cluster `kind create` would have made: kind's clusters run CoreDNS as the Deployment
/// `kube-system/coredns`, which the readiness wait awaits (the double seeds CoreDNS's pods, not that
/// Deployment). Its stand-in selects pods of its own, so the double's DNS is as it was.
async fn kind_like() -> (RunningDouble, String) {
    let double = Double::start(DoubleConfig::default()).await.unwrap();
    let yaml = double.kubeconfig_yaml();
    let config = kube::Config::from_custom_kubeconfig(
        kube::config::Kubeconfig::from_yaml(&yaml).unwrap(),
        &Default::default(),
    )
    .await
    .unwrap();
    let client = kube::Client::try_from(config).unwrap();
    let coredns: k8s_openapi::api::apps::v1::Deployment =
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "coredns", "namespace": "kube-system"},
            "spec": {"replicas": 1, "selector": {"matchLabels": {"app": "coredns-stand-in"}},
                "template": {"metadata": {"labels": {"app": "coredns-stand-in"}},
                    "spec": {"containers": [{"name": "c", "image": "registry.k8s.io/pause:3.10"}]}}}
        }))
        .unwrap();
    kube::Api::<k8s_openapi::api::apps::v1::Deployment>::namespaced(client, "kube-system")
        .create(&Default::default(), &coredns)
        .await
        .unwrap();
    (double, yaml)
}

fn trial(name: &'static str, needs: &'static [Need]) -> TrialDef {
    TrialDef {
        name,
        claim: "c",
        doc_url: "https://kubernetes.io/docs/",
        needs,
        run: |_| Box::pin(async { Ok(()) }),
    }
}

async fn run(
    settings: &Settings,
    runner: Arc<ScriptedRunner>,
    trials: &[TrialDef],
    interrupt: impl Future<Output = ()>,
) -> (Result<InterruptibleRun, (String, i32)>, Vec<String>) {
    let created = Arc::new(CreatedCluster::default());
    let resolution = resolve_with(settings, runner.clone(), Ok(None), created.clone());
    let result = run_resolved(settings, trials, 4, interrupt, &created, resolution).await;
    (result, runner.calls())
}

fn deleted(calls: &[String], settings: &Settings) -> bool {
    let line = format!(
        "kind delete cluster --name {}",
        kind::cluster_name(settings)
    );
    calls.iter().filter(|c| **c == line).count() == 1
}

#[tokio::test]
async fn an_api_that_does_not_answer_after_creation_deletes_the_cluster() {
    let s = settings(false);
    let (result, calls) = run(
        &s,
        kind_runner("", UNREACHABLE),
        &[],
        std::future::pending(),
    )
    .await;
    let Err((line, code)) = result else {
        panic!("the run went on without an API")
    };
    assert_eq!(code, 4, "{line}");
    assert!(deleted(&calls, &s), "{calls:#?}");

    let kept = settings(true);
    let (result, calls) = run(
        &kept,
        kind_runner("", UNREACHABLE),
        &[],
        std::future::pending(),
    )
    .await;
    assert_eq!(result.err().map(|(_, code)| code), Some(4));
    assert!(
        calls.iter().all(|c| !c.starts_with("kind delete")),
        "NETCONFORM_KEEP_CLUSTER=1 keeps it: {calls:#?}"
    );
}

#[tokio::test]
async fn a_failed_kind_create_deletes_nothing() {
    // kind removes what a failed create made; what it refused to make may be another run's.
    let s = settings(false);
    let runner = ScriptedRunner::new(&["kind", "docker"])
        .answer("kind get clusters", true, "", "")
        .answer(
            "kind create cluster",
            false,
            "",
            "ERROR: node(s) already exist",
        )
        .into_arc();
    let (result, calls) = run(&s, runner, &[], std::future::pending()).await;
    assert_eq!(result.err().map(|(_, code)| code), Some(6));
    assert!(
        calls.iter().all(|c| !c.starts_with("kind delete")),
        "{calls:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_cluster_is_deleted() {
    let (double, kubeconfig) = kind_like().await;
    let s = settings(false);
    // More schedulable nodes than the cluster has: NETCONFORM_REQUIRE_CLUSTER=1 refuses it (exit 8).
    let greedy = [trial("a::b::c", &[Need::SchedulableNodes(9)])];
    let runner = kind_runner("", &kubeconfig);
    let (result, calls) = run(&s, runner, &greedy, std::future::pending()).await;
    let Err((line, code)) = result else {
        panic!("the cluster was not refused")
    };
    assert_eq!(code, 8, "{line}");
    assert!(deleted(&calls, &s), "{calls:#?}");
    double.shutdown().await;
}

const SETUP: &str = "/opt/netconform-kind-setup";

/// `NETCONFORM_KIND_SETUP` failing on the cluster netconform created: one line naming the program with the
/// tail of its output, exit 15, and the cluster deleted.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_setup_program_fails_the_run_and_deletes_the_cluster() {
    let (double, kubeconfig) = kind_like().await;
    let s = Settings {
        kind_setup: Some(SETUP.into()),
        ..settings(false)
    };
    let runner = ScriptedRunner::new(&["kind", "docker"])
        .answer("kind get clusters", true, "", "")
        .answer("kind get kubeconfig", true, &kubeconfig, "")
        .answer(
            SETUP,
            false,
            "setup-cluster: addons/10-metallb.sh\n",
            "10-metallb.sh: the MetalLB webhook did not accept the address pools within 120 s\n",
        )
        .into_arc();
    let (result, calls) = run(&s, runner, &[trial("a::b::c", &[])], std::future::pending()).await;
    let Err((line, code)) = result else {
        panic!("the run went on after its setup failed")
    };
    assert_eq!(code, netconform::error::EXIT_SETUP, "{line}");
    assert_eq!(
        line,
        format!(
            "the kind setup program NETCONFORM_KIND_SETUP={SETUP} failed (exit status 1): 10-metallb.sh: the MetalLB webhook did not accept the address pools within 120 s"
        )
    );
    let ran = calls
        .iter()
        .position(|c| c == SETUP)
        .expect("the setup ran");
    let create = calls
        .iter()
        .position(|c| c.starts_with("kind create"))
        .unwrap();
    assert!(create < ran, "{calls:#?}");
    assert!(deleted(&calls, &s), "{calls:#?}");
    assert!(
        calls
            .iter()
            .position(|c| c.starts_with("kind delete"))
            .unwrap()
            > ran,
        "{calls:#?}"
    );
    double.shutdown().await;
}

/// The setup program runs once on a cluster netconform creates, with the cluster's name and a kubeconfig,
/// and the report records it; on a cluster it reuses it does not run.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_setup_program_runs_on_a_created_cluster_only() {
    let (double, kubeconfig) = kind_like().await;
    let s = Settings {
        kind_setup: Some(SETUP.into()),
        ..settings(false)
    };
    let name = kind::cluster_name(&s);
    let runner = kind_runner("", &kubeconfig);
    let created = Arc::new(CreatedCluster::default());
    let resolved = resolve_with(&s, runner.clone(), Ok(None), created.clone())
        .await
        .unwrap();
    let netconform::cluster::Resolution::Ready(target) = resolved else {
        panic!("no target")
    };
    let calls = runner.calls();
    assert_eq!(
        calls.iter().filter(|c| *c == SETUP).count(),
        1,
        "{calls:#?}"
    );
    let env = runner.env_of(SETUP).unwrap();
    assert!(
        env.contains(&("NETCONFORM_CLUSTER_NAME".to_string(), name.clone())),
        "{env:?}"
    );
    assert!(env.iter().any(|(k, _)| k == "KUBECONFIG"), "{env:?}");
    let properties = target.properties();
    assert_eq!(properties.len(), 1, "{properties:?}");
    assert_eq!(properties[0].0, "netconform.kind-setup");
    assert!(
        properties[0]
            .1
            .starts_with(&format!("{SETUP} (exit status 0 after ")),
        "{properties:?}"
    );
    target.teardown().await;
    assert!(deleted(&runner.calls(), &s));

    // Reused: not run, not recorded.
    let runner = kind_runner(&name, &kubeconfig);
    let resolved = resolve_with(&s, runner.clone(), Ok(None), Arc::default())
        .await
        .unwrap();
    let netconform::cluster::Resolution::Ready(target) = resolved else {
        panic!("no target")
    };
    assert!(
        !runner.calls().iter().any(|c| c == SETUP),
        "{:#?}",
        runner.calls()
    );
    assert!(target.properties().is_empty());
    target.teardown().await;
    double.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_end_of_a_run_deletes_the_cluster_and_a_kept_one_is_known_later() {
    let (double, kubeconfig) = kind_like().await;
    let disruptive = [trial("a::b::disrupts", &[Need::Disruptive])];

    // Created, run, deleted.
    let s = settings(false);
    let (result, calls) = run(
        &s,
        kind_runner("", &kubeconfig),
        &disruptive,
        std::future::pending(),
    )
    .await;
    let records = result.unwrap().records;
    assert_eq!(records[0].outcome, TrialOutcome::Passed);
    assert!(deleted(&calls, &s), "{calls:#?}");

    // The double keeps its state: to the next run it is the cluster that run created and kept.
    let name = kind::cluster_name(&s);
    let (result, calls) = run(
        &s,
        kind_runner(&name, &kubeconfig),
        &disruptive,
        std::future::pending(),
    )
    .await;
    let records = result.unwrap().records;
    assert_eq!(
        records[0].outcome,
        TrialOutcome::Passed,
        "a cluster netconform made may be disrupted by a later run"
    );
    assert!(
        calls.iter().all(|c| !c.starts_with("kind delete")),
        "a later run never deletes a cluster it reused: {calls:#?}"
    );
    double.shutdown().await;

    // A cluster made by hand (no marker): the disruptive trial is skipped with the reason.
    let by_hand = Double::start(DoubleConfig::default()).await.unwrap();
    let mut lenient = s.clone();
    lenient.require_cluster = false;
    let runner = kind_runner(&name, &by_hand.kubeconfig_yaml());
    let (result, _) = run(&lenient, runner, &disruptive, std::future::pending()).await;
    let records = result.unwrap().records;
    let TrialOutcome::Skipped { reason } = &records[0].outcome else {
        panic!("{:?}", records[0].outcome)
    };
    assert!(
        reason.contains("on a cluster netconform did not create"),
        "{reason}"
    );
    by_hand.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_during_creation_deletes_the_cluster() {
    let double = Double::start(DoubleConfig::default()).await.unwrap();
    let s = settings(false);
    let created = Arc::new(CreatedCluster::default());
    let runner = kind_runner("", &double.kubeconfig_yaml());
    let resolution = resolve_with(&s, runner.clone(), Ok(None), created.clone());
    // Ctrl-C or SIGTERM as soon as `kind create` has started: the rest of the preparation never runs.
    let watched = created.clone();
    let interrupt = async move {
        while watched.name().is_none() {
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    };
    let result = run_resolved(
        &s,
        &[trial("a::b::c", &[])],
        4,
        interrupt,
        &created,
        resolution,
    )
    .await;
    let run = result.unwrap();
    assert!(run.left_after_interrupt.is_some() && run.records.is_empty());
    assert!(deleted(&runner.calls(), &s), "{:#?}", runner.calls());
    double.shutdown().await;
}

/// Trials that start and never end, each raising its own flag once it runs: an interrupt awaits the flag, so it
/// comes while the trials run, never during the preparation.
static STARTED: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

fn endless(slot: usize) -> TrialFuture {
    Box::pin(async move {
        STARTED[slot].store(true, Ordering::SeqCst);
        std::future::pending::<()>().await;
        Ok(())
    })
}

async fn once_started(slot: usize) {
    while !STARTED[slot].load(Ordering::SeqCst) {
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_during_the_trials_deletes_the_cluster() {
    let (double, kubeconfig) = kind_like().await;
    let s = settings(false);
    let endless = TrialDef {
        run: |_| endless(0),
        ..trial("a::b::endless", &[])
    };
    let interrupt = once_started(0);
    let (result, calls) = run(&s, kind_runner("", &kubeconfig), &[endless], interrupt).await;
    let run = result.unwrap();
    assert_eq!(run.left_after_interrupt, Some(Vec::new()));
    assert!(deleted(&calls, &s), "{calls:#?}");
    double.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupt_says_when_the_cluster_could_not_be_deleted() {
    let (double, kubeconfig) = kind_like().await;
    let s = settings(false);
    let endless = TrialDef {
        run: |_| endless(1),
        ..trial("a::b::endless", &[])
    };
    let interrupt = once_started(1);
    let runner = ScriptedRunner::new(&["kind", "docker"])
        .answer("kind get clusters", true, "", "")
        .answer("kind get kubeconfig", true, &kubeconfig, "")
        .answer("kind delete cluster", false, "", "ERROR: docker is gone")
        .into_arc();
    let (result, _) = run(&s, runner, &[endless], interrupt).await;
    let left = result.unwrap().left_after_interrupt.unwrap_or_default();
    assert!(
        left.len() == 1 && left[0].contains("kind delete cluster"),
        "what is left is named: {left:?}"
    );
    double.shutdown().await;
}

#[test]
fn a_panic_deletes_the_cluster() {
    let runner = ScriptedRunner::new(&["kind", "docker"]).into_arc();
    let created = CreatedCluster::default();
    let s = settings(false);
    // What `kind create` made is recorded; the scripted kubeconfig is empty, so the rest fails (as it may).
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let _ = runtime.block_on(kind::ensure_cluster(&s, runner.clone(), &created));
    drop(runtime);
    assert!(created.name().is_some());
    let panicked = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        created.delete_on_panic(|| panic!("a bug in the runner"))
    }));
    assert!(panicked.is_err(), "the panic goes on");
    assert!(deleted(&runner.calls(), &s), "{:#?}", runner.calls());
}
