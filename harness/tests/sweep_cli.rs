//! `netconform sweep` against the netconform-double TEST DOUBLE served on 127.0.0.1: `--dry-run` deletes
//! nothing, a bad argument deletes nothing (exit 2), `--run-id` and `--older-than` narrow what is deleted.

use std::path::Path;
use std::process::{Command, Output};

use k8s_openapi::api::core::v1::Namespace;
use kube::api::{Api, ObjectMeta, PostParams};
use netconform::labels::{MANAGED_BY_KEY, MANAGED_BY_VALUE, RUN_ID_KEY};
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
        let ns = Namespace {
            metadata: ObjectMeta {
                name: Some(name.into()),
                labels: Some(
                    [
                        (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string()),
                        (RUN_ID_KEY.to_string(), run.to_string()),
                    ]
                    .into(),
                ),
                ..ObjectMeta::default()
            },
            ..Namespace::default()
        };
        api.create(&PostParams::default(), &ns).await.unwrap();
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

    // A context the kubeconfig lacks: exit 3, nothing deleted.
    let out = sweep(&kubeconfig, &["--context", "no-such-context"]);
    assert_eq!(out.status.code(), Some(3), "{out:?}");
    assert!(alive(&api, "nc-b").await);

    double.shutdown().await;
    std::fs::remove_dir_all(&dir).unwrap();
}
