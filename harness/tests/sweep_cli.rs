//! `netconform sweep` against the netconform-double TEST DOUBLE served on 127.0.0.1: `--dry-run` deletes
//! nothing, a bad argument deletes nothing (exit 2), `--run-id` and `--older-than` narrow what is deleted, a
//! live run's objects are kept, and a run whose lease expired (`kill -9`) is swept with its lease.

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::coordination::v1::{Lease, LeaseSpec};
use k8s_openapi::api::core::v1::Namespace;
use k8s_openapi::apimachinery::pkg::apis::meta::v1::MicroTime;
use kube::api::{Api, ObjectMeta, PostParams};
use netconform::labels::run_labels;
use netconform_double::{Double, DoubleConfig};

const NETCONFORM: &str = env!("CARGO_BIN_EXE_netconform");

fn sweep(kubeconfig: &Path, args: &[&str]) -> Output {
    Command::new(NETCONFORM)
        .arg("sweep")
        .args(args)
        .env("KUBECONFIG", kubeconfig)
        .env_remove("NETCONFORM_CONTEXT")
        .output()
        .unwrap()
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

/// Creates a namespace labelled as run `run`'s.
async fn create(api: &Api<Namespace>, name: &str, run: &str) {
    let ns = Namespace {
        metadata: ObjectMeta {
            name: Some(name.into()),
            labels: Some(run_labels(run)),
            ..ObjectMeta::default()
        },
        ..Namespace::default()
    };
    api.create(&PostParams::default(), &ns).await.unwrap();
}

/// Whether the namespace exists and is not being deleted.
async fn alive(api: &Api<Namespace>, name: &str) -> bool {
    api.get_opt(name)
        .await
        .unwrap()
        .is_some_and(|n| n.metadata.deletion_timestamp.is_none())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sweep_deletes_only_when_told_and_only_what_it_selects() {
    let double = Double::start(DoubleConfig::default()).await.unwrap();
    let dir = std::env::temp_dir().join(format!("netconform-sweep-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    double.write_kubeconfig(&kubeconfig).unwrap();
    let client = netconform::cluster::kubeconfig::connect_yaml(&double.kubeconfig_yaml(), "double")
        .await
        .unwrap()
        .client;
    let api: Api<Namespace> = Api::all(client);
    for (name, run) in [("nc-a", "runa"), ("nc-b", "runb")] {
        create(&api, name, run).await;
    }

    // A dry run says what it would delete and deletes nothing.
    let out = sweep(&kubeconfig, &["--dry-run"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("would delete Namespace nc-a")
            && stdout.contains("would delete Namespace nc-b"),
        "{stdout}"
    );
    assert!(!stdout.contains("deleted"), "{stdout}");
    // A bad argument, a `--help` or a typo never reaches the cluster.
    for bad in [
        &["--dryrun"][..],
        &["now"],
        &["--older-than", "soon"],
        &["--run-id"],
    ] {
        let out = sweep(&kubeconfig, bad);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {out:?}");
        assert!(out.stdout.is_empty(), "{bad:?}");
        assert_eq!(text(&out.stderr).trim_end().lines().count(), 1, "{out:?}");
    }
    assert_eq!(sweep(&kubeconfig, &["--help"]).status.code(), Some(0));
    // Objects an hour old or more only: these are seconds old.
    let out = sweep(&kubeconfig, &["--older-than", "1h"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert!(text(&out.stdout).contains("kept Namespace nc-a (younger than 3600s)"));
    for name in ["nc-a", "nc-b"] {
        assert!(alive(&api, name).await, "{name} was deleted");
    }

    // One run's objects only.
    let out = sweep(&kubeconfig, &["--run-id", "runa"]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    assert_eq!(text(&out.stdout).trim_end(), "deleted Namespace nc-a");
    assert!(!alive(&api, "nc-a").await);
    assert!(
        alive(&api, "nc-b").await,
        "another run's namespace was deleted"
    );

    // A live run (its lease renewed now) keeps its objects; a run whose lease expired (`kill -9`) loses them.
    let leases: Api<Lease> =
        Api::namespaced(api.clone().into_client(), netconform::liveness::NAMESPACE);
    let live = netconform::liveness::RunLease::acquire(&api.clone().into_client(), "runb")
        .await
        .unwrap()
        .expect("the double serves Leases");
    let dead = Lease {
        metadata: ObjectMeta {
            name: Some(netconform::liveness::lease_name("rund")),
            labels: Some(run_labels("rund")),
            ..ObjectMeta::default()
        },
        spec: Some(LeaseSpec {
            lease_duration_seconds: Some(60),
            renew_time: Some(MicroTime(
                k8s_openapi::jiff::Timestamp::now()
                    .checked_sub(k8s_openapi::jiff::SignedDuration::from_secs(3600))
                    .unwrap(),
            )),
            ..LeaseSpec::default()
        }),
    };
    leases.create(&PostParams::default(), &dead).await.unwrap();
    create(&api, "nc-d", "rund").await;
    let out = sweep(&kubeconfig, &[]);
    assert_eq!(out.status.code(), Some(0), "{out:?}");
    let stdout = text(&out.stdout);
    assert!(
        stdout.contains("kept Namespace nc-b (run runb is live: it renews its lease)"),
        "{stdout}"
    );
    assert!(stdout.contains("deleted Namespace nc-d"), "{stdout}");
    assert!(
        stdout.contains("deleted Lease default/netconform-run-rund"),
        "{stdout}"
    );
    assert!(
        alive(&api, "nc-b").await,
        "a live run's namespace was deleted"
    );
    assert!(!alive(&api, "nc-d").await);
    assert!(
        leases
            .get_opt("netconform-run-rund")
            .await
            .unwrap()
            .is_none()
    );
    // Once the run is over its objects are fair game.
    live.release().await;
    let out = sweep(&kubeconfig, &[]);
    assert!(
        text(&out.stdout).contains("deleted Namespace nc-b"),
        "{out:?}"
    );

    // A context the kubeconfig lacks: exit 3, nothing deleted.
    let out = sweep(&kubeconfig, &["--context", "no-such-context"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");

    double.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
