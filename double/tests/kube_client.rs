//! The double against the real `kube` 5 client: CRUD, errors, watches, finalizers, namespaces,
//! exec and logs.

mod common;

use std::time::Duration;

use futures::{StreamExt, TryStreamExt};
use k8s_openapi::api::core::v1::{ConfigMap, Namespace, Pod};
use kube::api::{
    Api, AttachParams, DeleteParams, ListParams, LogParams, Patch, PatchParams, PostParams,
    WatchEvent, WatchParams,
};
use kube::runtime::watcher;
use netconform_double::{DoubleConfig, Faults};
use serde_json::json;
use tokio::io::AsyncReadExt;

fn cm(name: &str, data: &str) -> ConfigMap {
    serde_json::from_value(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": {"name": name, "labels": {"app": "demo"}},
        "data": {"key": data}
    }))
    .unwrap()
}

fn api_error(err: kube::Error) -> (u16, String) {
    match err {
        kube::Error::Api(status) => (status.code, status.reason.clone()),
        other => panic!("expected an API error, got {other:?}"),
    }
}

#[tokio::test]
async fn configmap_crud_and_errors() {
    let double = common::start(DoubleConfig::default()).await;
    let api: Api<ConfigMap> = Api::namespaced(common::client(&double), "default");

    let created = api
        .create(&PostParams::default(), &cm("one", "v1"))
        .await
        .unwrap();
    assert!(created.metadata.uid.is_some());
    let first_version = created.metadata.resource_version.clone().unwrap();

    let got = api.get("one").await.unwrap();
    assert_eq!(got.data.unwrap()["key"], "v1");

    let listed = api
        .list(&ListParams::default().labels("app=demo"))
        .await
        .unwrap();
    assert_eq!(listed.items.len(), 1);
    assert!(listed.metadata.resource_version.is_some());
    assert!(
        api.list(&ListParams::default().labels("app!=demo"))
            .await
            .unwrap()
            .items
            .is_empty()
    );

    let merged = api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Merge(json!({"data": {"extra": "x"}})),
        )
        .await
        .unwrap();
    assert_eq!(merged.data.as_ref().unwrap()["extra"], "x");

    let json_patch: json_patch::Patch =
        serde_json::from_value(json!([{"op": "replace", "path": "/data/key", "value": "v2"}]))
            .unwrap();
    let patched = api
        .patch(
            "one",
            &PatchParams::default(),
            &Patch::Json::<()>(json_patch),
        )
        .await
        .unwrap();
    assert_eq!(patched.data.as_ref().unwrap()["key"], "v2");

    let applied = api
        .patch(
            "applied",
            &PatchParams::apply("netconform-test").force(),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "1"}})),
        )
        .await
        .unwrap();
    assert_eq!(applied.data.unwrap()["a"], "1");
    let reapplied = api
        .patch(
            "applied",
            &PatchParams::apply("netconform-test"),
            &Patch::Apply(json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "applied"}, "data": {"a": "2"}})),
        )
        .await
        .unwrap();
    assert_eq!(reapplied.data.unwrap()["a"], "2");

    // 409 Conflict: replace with the resourceVersion of the first write.
    let mut stale = cm("one", "v3");
    stale.metadata.resource_version = Some(first_version);
    let (code, reason) = api_error(
        api.replace("one", &PostParams::default(), &stale)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "Conflict"));

    // 409 AlreadyExists
    let (code, reason) = api_error(
        api.create(&PostParams::default(), &cm("one", "again"))
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (409, "AlreadyExists"));

    // 404 NotFound, with upstream's message
    match api.get("missing").await.unwrap_err() {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (404, "NotFound"));
            assert_eq!(status.message, "configmaps \"missing\" not found");
        }
        other => panic!("{other:?}"),
    }

    // 422 Invalid: neither name nor generateName.
    let nameless: ConfigMap = serde_json::from_value(json!({"metadata": {}, "data": {}})).unwrap();
    let (code, reason) = api_error(
        api.create(&PostParams::default(), &nameless)
            .await
            .unwrap_err(),
    );
    assert_eq!((code, reason.as_str()), (422, "Invalid"));

    // generateName
    let mut generated = cm("", "g");
    generated.metadata.name = None;
    generated.metadata.generate_name = Some("gen-".into());
    let made = api
        .create(&PostParams::default(), &generated)
        .await
        .unwrap();
    assert!(made.metadata.name.unwrap().starts_with("gen-"));

    // Metadata-only list (Accept: as=PartialObjectMetadataList).
    let metas = api
        .list_metadata(&ListParams::default().labels("app=demo"))
        .await
        .unwrap();
    let names: Vec<_> = metas
        .items
        .iter()
        .filter_map(|m| m.metadata.name.clone())
        .collect();
    assert!(names.contains(&"one".to_string()), "{names:?}");

    let deleted = api.delete("one", &DeleteParams::default()).await.unwrap();
    assert!(
        deleted.is_right(),
        "configmaps answer DELETE with a Success Status"
    );
    let (code, _) = api_error(api.get("one").await.unwrap_err());
    assert_eq!(code, 404);

    double.shutdown().await;
}

#[tokio::test]
async fn watcher_sees_added_modified_deleted() {
    let double = common::start(DoubleConfig::default()).await;
    let api: Api<ConfigMap> = Api::namespaced(common::client(&double), "default");
    let stream = watcher(api.clone(), watcher::Config::default()).boxed();
    let seen = tokio::spawn(async move {
        stream
            .try_filter_map(|event| async move {
                Ok(match event {
                    watcher::Event::Apply(cm) => {
                        Some(format!("apply:{}", cm.data.unwrap_or_default()["key"]))
                    }
                    watcher::Event::Delete(cm) => {
                        Some(format!("delete:{}", cm.metadata.name.unwrap_or_default()))
                    }
                    _ => None,
                })
            })
            .take(3)
            .try_collect::<Vec<_>>()
            .await
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    api.create(&PostParams::default(), &cm("w", "1"))
        .await
        .unwrap();
    api.patch(
        "w",
        &PatchParams::default(),
        &Patch::Merge(json!({"data": {"key": "2"}})),
    )
    .await
    .unwrap();
    api.delete("w", &DeleteParams::default()).await.unwrap();
    let events = tokio::time::timeout(Duration::from_secs(10), seen)
        .await
        .unwrap()
        .unwrap()
        .unwrap();
    assert_eq!(events, vec!["apply:1", "apply:2", "delete:w"]);
    double.shutdown().await;
}

#[tokio::test]
async fn streaming_list_watcher_gets_initial_events_end() {
    let double = common::start(DoubleConfig::default()).await;
    let api: Api<ConfigMap> = Api::namespaced(common::client(&double), "default");
    api.create(&PostParams::default(), &cm("pre", "0"))
        .await
        .unwrap();
    let mut stream = watcher(api.clone(), watcher::Config::default().streaming_lists()).boxed();
    let mut initial = Vec::new();
    loop {
        match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
            .await
            .unwrap()
            .unwrap()
        {
            Some(watcher::Event::Init) => {}
            Some(watcher::Event::InitApply(cm)) => initial.push(cm.metadata.name.unwrap()),
            Some(watcher::Event::InitDone) => break,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(initial, vec!["pre"]);
    api.create(&PostParams::default(), &cm("post", "1"))
        .await
        .unwrap();
    match tokio::time::timeout(Duration::from_secs(5), stream.try_next())
        .await
        .unwrap()
        .unwrap()
    {
        Some(watcher::Event::Apply(cm)) => assert_eq!(cm.metadata.name.unwrap(), "post"),
        other => panic!("unexpected {other:?}"),
    }
    double.shutdown().await;
}

#[tokio::test]
async fn expired_resource_version_is_410_and_watcher_recovers() {
    let config = DoubleConfig {
        watch_history: 4,
        faults: Faults {
            watch_drop_after: Some(Duration::from_millis(700)),
            ..Faults::default()
        },
        ..DoubleConfig::default()
    };
    let double = common::start(config).await;
    let client = common::client(&double);
    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "default");
    let elsewhere: Api<ConfigMap> = Api::namespaced(client, "kube-system");
    api.create(&PostParams::default(), &cm("a", "1"))
        .await
        .unwrap();
    let old = api
        .list(&ListParams::default())
        .await
        .unwrap()
        .metadata
        .resource_version
        .unwrap();
    api.create(&PostParams::default(), &cm("b", "1"))
        .await
        .unwrap();
    double.store().compact();

    // A raw watch from the compacted version: one ERROR event, 410 Expired.
    let mut raw = api
        .watch(&WatchParams::default(), &old)
        .await
        .unwrap()
        .boxed();
    match raw.try_next().await.unwrap() {
        Some(WatchEvent::Error(status)) => {
            assert_eq!((status.code, status.reason.as_str()), (410, "Expired"));
            assert!(
                status.message.starts_with("too old resource version"),
                "{}",
                status.message
            );
        }
        other => panic!("expected a 410 ERROR event, got {other:?}"),
    }

    // Without bookmarks the watcher's resume version stays at its last own event; while its watch
    // is dropped, other writes push that version out of the history: 410, re-list, carry on.
    let stream = watcher(api.clone(), watcher::Config::default().disable_bookmarks()).boxed();
    let names = tokio::spawn(async move {
        let mut stream = stream;
        let mut errors = Vec::new();
        let mut seen = Vec::new();
        while let Some(event) = stream.next().await {
            match event {
                Ok(watcher::Event::Apply(cm) | watcher::Event::InitApply(cm)) => {
                    seen.push(cm.metadata.name.unwrap());
                    if seen.contains(&"late".to_string()) {
                        break;
                    }
                }
                Ok(_) => {}
                Err(e) => errors.push(e.to_string()),
            }
        }
        (seen, errors)
    });
    tokio::time::sleep(Duration::from_millis(300)).await;
    for n in 0..10 {
        elsewhere
            .create(&PostParams::default(), &cm(&format!("noise-{n}"), "1"))
            .await
            .unwrap();
    }
    tokio::time::sleep(Duration::from_millis(1500)).await;
    api.create(&PostParams::default(), &cm("late", "1"))
        .await
        .unwrap();
    let (seen, errors) = tokio::time::timeout(Duration::from_secs(15), names)
        .await
        .unwrap()
        .unwrap();
    assert!(seen.contains(&"late".to_string()), "{seen:?}");
    assert!(
        errors
            .iter()
            .any(|e| e.contains("410") || e.contains("Expired")),
        "{errors:?}"
    );
    double.shutdown().await;
}

#[tokio::test]
async fn finalizers_and_namespace_termination() {
    let double = common::start(DoubleConfig::default()).await;
    let client = common::client(&double);
    let namespaces: Api<Namespace> = Api::all(client.clone());
    let ns: Namespace = serde_json::from_value(json!({"metadata": {"name": "doomed"}})).unwrap();
    let created = namespaces
        .create(&PostParams::default(), &ns)
        .await
        .unwrap();
    assert_eq!(created.status.unwrap().phase.as_deref(), Some("Active"));

    let api: Api<ConfigMap> = Api::namespaced(client.clone(), "doomed");
    let mut held = cm("held", "1");
    held.metadata.finalizers = Some(vec!["example.com/hold".into()]);
    api.create(&PostParams::default(), &held).await.unwrap();
    api.create(&PostParams::default(), &cm("plain", "1"))
        .await
        .unwrap();

    // A finalizer holds deletion: the object stays with a deletionTimestamp.
    let answer = api.delete("held", &DeleteParams::default()).await.unwrap();
    let marked = answer
        .left()
        .expect("an object still being deleted is returned");
    assert!(marked.metadata.deletion_timestamp.is_some());
    assert!(api.get("held").await.is_ok());

    let terminating = namespaces
        .delete("doomed", &DeleteParams::default())
        .await
        .unwrap()
        .left()
        .unwrap();
    assert_eq!(
        terminating.status.unwrap().phase.as_deref(),
        Some("Terminating")
    );
    assert_eq!(api_error(api.get("plain").await.unwrap_err()).0, 404);
    match api
        .create(&PostParams::default(), &cm("new", "1"))
        .await
        .unwrap_err()
    {
        kube::Error::Api(status) => {
            assert_eq!((status.code, status.reason.as_str()), (403, "Forbidden"));
            assert!(
                status.message.contains("because it is being terminated"),
                "{}",
                status.message
            );
        }
        other => panic!("{other:?}"),
    }
    assert!(
        namespaces.get("doomed").await.is_ok(),
        "held content keeps the namespace"
    );

    // Removing the finalizer completes the object's deletion, then the namespace's.
    api.patch(
        "held",
        &PatchParams::default(),
        &Patch::Merge(json!({"metadata": {"finalizers": null}})),
    )
    .await
    .unwrap();
    assert_eq!(api_error(api.get("held").await.unwrap_err()).0, 404);
    assert_eq!(
        api_error(namespaces.get("doomed").await.unwrap_err()).0,
        404
    );
    double.shutdown().await;
}

#[tokio::test]
async fn exec_and_logs() {
    let double = common::start(DoubleConfig::default()).await;
    common::running_pod(double.store(), "default", "runner", &["main"]);
    let pods: Api<Pod> = Api::namespaced(common::client(&double), "default");

    let mut attached = pods
        .exec(
            "runner",
            ["echo", "hello", "double"],
            &AttachParams::default(),
        )
        .await
        .unwrap();
    let mut stdout = String::new();
    attached
        .stdout()
        .unwrap()
        .read_to_string(&mut stdout)
        .await
        .unwrap();
    let status = attached.take_status().unwrap().await.unwrap();
    assert_eq!(stdout, "hello double\n");
    assert_eq!(status.status.as_deref(), Some("Success"));
    attached.join().await.unwrap();

    let mut attached = pods
        .exec("runner", ["fail"], &AttachParams::default())
        .await
        .unwrap();
    let (mut out, mut err) = (String::new(), String::new());
    attached
        .stdout()
        .unwrap()
        .read_to_string(&mut out)
        .await
        .unwrap();
    attached
        .stderr()
        .unwrap()
        .read_to_string(&mut err)
        .await
        .unwrap();
    let status = attached.take_status().unwrap().await.unwrap();
    assert_eq!(
        (out.as_str(), err.as_str()),
        ("partial\n", "something broke\n")
    );
    assert_eq!(status.status.as_deref(), Some("Failure"));
    assert_eq!(status.reason.as_deref(), Some("NonZeroExitCode"));
    let cause = &status.details.unwrap().causes.unwrap()[0];
    assert_eq!(
        (cause.reason.as_deref(), cause.message.as_deref()),
        (Some("ExitCode"), Some("2"))
    );

    let logs = pods.logs("runner", &LogParams::default()).await.unwrap();
    assert_eq!(logs, "log of runner/main\nsecond line\n");
    let tail = pods
        .logs(
            "runner",
            &LogParams {
                tail_lines: Some(1),
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(tail, "second line\n");

    // Errors as upstream: unknown container, pod without a node.
    let bad = pods
        .logs(
            "runner",
            &LogParams {
                container: Some("nope".into()),
                ..LogParams::default()
            },
        )
        .await;
    match bad.unwrap_err() {
        kube::Error::Api(status) => {
            assert_eq!(status.code, 400);
            assert_eq!(status.message, "container nope is not valid for pod runner");
        }
        other => panic!("{other:?}"),
    }
    double
        .store()
        .create("pods", Some("default"), json!({"metadata": {"name": "pending"}, "spec": {"containers": [{"name": "c", "image": "busybox"}]}}))
        .unwrap();
    match pods
        .exec("pending", ["echo"], &AttachParams::default())
        .await
    {
        Err(kube::Error::Api(status)) => {
            assert_eq!(status.code, 400);
            assert_eq!(status.message, "pod pending does not have a host assigned");
        }
        other => panic!("expected a 400, got {:?}", other.err()),
    }
    double.shutdown().await;
}

#[tokio::test]
async fn injected_faults_are_seeded() {
    let config = DoubleConfig {
        faults: Faults {
            error_rate: 1.0,
            seed: 3,
            ..Faults::default()
        },
        ..DoubleConfig::default()
    };
    let double = common::start(config).await;
    // kube retries 429/503/504 by default; count raw answers here.
    let mut client_config = kube::Config::new(double.base_url().parse().unwrap());
    client_config.default_retry = false;
    let api: Api<ConfigMap> =
        Api::namespaced(kube::Client::try_from(client_config).unwrap(), "default");
    let mut outcomes = Vec::new();
    for _ in 0..12 {
        outcomes.push(match api.get("x").await {
            Err(kube::Error::Api(status)) => format!("api {}", status.code),
            Err(_) => "transport".to_string(),
            Ok(_) => "ok".to_string(),
        });
    }
    assert!(outcomes.iter().any(|o| o == "api 429"), "{outcomes:?}");
    assert!(outcomes.iter().any(|o| o == "api 500"), "{outcomes:?}");
    assert!(outcomes.iter().any(|o| o == "transport"), "{outcomes:?}");
    assert!(
        !outcomes.iter().any(|o| o == "ok" || o == "api 404"),
        "{outcomes:?}"
    );
    double.shutdown().await;
}

#[tokio::test]
async fn full_double_serves_version_and_seeded_cluster() {
    let double = netconform_double::Double::start(DoubleConfig::default())
        .await
        .unwrap();
    let client = common::client(&double);
    let info = client.apiserver_version().await.unwrap();
    assert_eq!((info.major.as_str(), info.minor.as_str()), ("1", "33"));
    assert!(
        info.git_version.contains("netconform-double"),
        "{}",
        info.git_version
    );
    let namespaces: Api<Namespace> = Api::all(client);
    let names: Vec<String> = namespaces
        .list(&ListParams::default())
        .await
        .unwrap()
        .items
        .into_iter()
        .filter_map(|n| n.metadata.name)
        .collect();
    assert!(names.contains(&"default".to_string()), "{names:?}");
    double.shutdown().await;
}

#[tokio::test]
async fn label_selector_watch_reports_transitions() {
    let double = common::start(DoubleConfig::default()).await;
    let api: Api<ConfigMap> = Api::namespaced(common::client(&double), "default");
    let mut events = api
        .watch(&WatchParams::default().labels("app=demo"), "0")
        .await
        .unwrap()
        .boxed();
    api.create(&PostParams::default(), &cm("sel", "1"))
        .await
        .unwrap();
    let relabel = |value: &str| Patch::Merge(json!({"metadata": {"labels": {"app": value}}}));
    api.patch("sel", &PatchParams::default(), &relabel("other"))
        .await
        .unwrap();
    api.patch("sel", &PatchParams::default(), &relabel("demo"))
        .await
        .unwrap();
    let mut kinds = Vec::new();
    while kinds.len() < 3 {
        let event = tokio::time::timeout(Duration::from_secs(5), events.try_next())
            .await
            .unwrap()
            .unwrap();
        kinds.push(match event {
            Some(WatchEvent::Added(_)) => "ADDED",
            Some(WatchEvent::Modified(_)) => "MODIFIED",
            Some(WatchEvent::Deleted(_)) => "DELETED",
            other => panic!("unexpected {other:?}"),
        });
    }
    assert_eq!(kinds, vec!["ADDED", "DELETED", "ADDED"]);
    double.shutdown().await;
}

#[tokio::test]
async fn injected_latency_delays_answers() {
    let config = DoubleConfig {
        faults: Faults {
            latency: Duration::from_millis(150),
            ..Faults::default()
        },
        ..DoubleConfig::default()
    };
    let double = common::start(config).await;
    let api: Api<ConfigMap> = Api::namespaced(common::client(&double), "default");
    let started = std::time::Instant::now();
    api.list(&ListParams::default()).await.unwrap();
    assert!(started.elapsed() >= Duration::from_millis(150));
    double.shutdown().await;
}

#[tokio::test]
async fn followed_logs_end_when_the_container_stops() {
    use futures::AsyncBufReadExt;
    let double = common::start(DoubleConfig::default()).await;
    let pod = common::running_pod(double.store(), "default", "follow", &["main"]);
    let pods: Api<Pod> = Api::namespaced(common::client(&double), "default");
    let stream = pods
        .log_stream(
            "follow",
            &LogParams {
                follow: true,
                ..LogParams::default()
            },
        )
        .await
        .unwrap();
    let mut lines = stream.lines();
    let first = tokio::time::timeout(Duration::from_secs(5), lines.try_next())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(first.as_deref(), Some("log of follow/main"));
    let mut stopped = pod.clone();
    stopped["status"]["phase"] = json!("Succeeded");
    stopped["status"]["containerStatuses"][0]["state"] =
        json!({"terminated": {"exitCode": 0, "reason": "Completed"}});
    double
        .store()
        .update_status("pods", Some("default"), stopped)
        .unwrap();
    let rest: Vec<String> = tokio::time::timeout(Duration::from_secs(5), lines.try_collect())
        .await
        .unwrap()
        .unwrap();
    assert_eq!(rest, vec!["second line".to_string()]);
    double.shutdown().await;
}

#[tokio::test]
async fn generated_kubeconfig_loads_in_kube() {
    use kube::config::{KubeConfigOptions, Kubeconfig};
    let double = common::start(DoubleConfig::default()).await;
    let kubeconfig = Kubeconfig::from_yaml(&double.kubeconfig_yaml()).unwrap();
    let config = kube::Config::from_custom_kubeconfig(kubeconfig, &KubeConfigOptions::default())
        .await
        .unwrap();
    assert_eq!(config.default_namespace, "default");
    let client = kube::Client::try_from(config).unwrap();
    let namespaces: Api<Namespace> = Api::all(client);
    assert!(namespaces.get("default").await.is_ok());
    double.shutdown().await;
}
