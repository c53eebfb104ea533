//! The double against real `kubectl` (skipped, with a printed reason, when kubectl is absent).

mod common;

use std::path::{Path, PathBuf};
use std::process::Output;

use netconform_double::{DoubleConfig, RunningDouble};

fn kubectl_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("NETCONFORM_KUBECTL") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("kubectl"))
            .find(|candidate| candidate.is_file())
    })
}

struct Kubectl {
    binary: PathBuf,
    dir: PathBuf,
    kubeconfig: PathBuf,
}

impl Kubectl {
    fn new(binary: PathBuf, double: &RunningDouble, label: &str) -> Self {
        let dir = std::env::temp_dir().join(format!(
            "netconform-double-kubectl-{label}-{}",
            std::process::id()
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let kubeconfig = dir.join("kubeconfig");
        double.write_kubeconfig(&kubeconfig).unwrap();
        Kubectl {
            binary,
            dir,
            kubeconfig,
        }
    }

    async fn run(&self, args: &[&str], stdin: Option<&str>) -> Output {
        use tokio::io::AsyncWriteExt;
        let mut command = tokio::process::Command::new(&self.binary);
        command
            .arg("--kubeconfig")
            .arg(&self.kubeconfig)
            .arg("--cache-dir")
            .arg(self.dir.join("cache"))
            .args(args)
            .env("HOME", &self.dir)
            .env_remove("KUBECONFIG")
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = command.spawn().unwrap();
        let mut input = child.stdin.take().unwrap();
        if let Some(text) = stdin {
            input.write_all(text.as_bytes()).await.unwrap();
        }
        drop(input);
        let output =
            tokio::time::timeout(std::time::Duration::from_secs(60), child.wait_with_output())
                .await
                .expect("kubectl timed out")
                .unwrap();
        eprintln!(
            "$ kubectl {}\n[exit {:?}]\n{}{}",
            args.join(" "),
            output.status.code(),
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        output
    }

    fn file(&self, name: &str, text: &str) -> PathBuf {
        let path = self.dir.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Kubectl {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn stdout(output: &Output) -> String {
    String::from_utf8_lossy(&output.stdout).into_owned()
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

fn path_arg(path: &Path) -> &str {
    path.to_str().unwrap()
}

const MANIFEST: &str = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: demo\n  labels:\n    app: demo\ndata:\n  greeting: hello\n";

#[tokio::test]
async fn kubectl_get_apply_logs_exec() {
    let Some(binary) = kubectl_binary() else {
        println!("skipped: kubectl not found on PATH (set NETCONFORM_KUBECTL to a kubectl binary)");
        return;
    };
    let double = common::start(DoubleConfig::default()).await;
    let kubectl = Kubectl::new(binary, &double, "main");

    let ns = kubectl.run(&["get", "ns"], None).await;
    assert!(ns.status.success());
    assert!(
        stdout(&ns).contains("default") && stdout(&ns).contains("Active"),
        "{}",
        stdout(&ns)
    );

    // kubectl's typed clients POST protobuf (kubectl create namespace|configmap|serviceaccount).
    let created = kubectl
        .run(&["create", "namespace", "made-by-kubectl"], None)
        .await;
    assert_eq!(
        stdout(&created).trim(),
        "namespace/made-by-kubectl created",
        "{}",
        stderr(&created)
    );
    let created = kubectl
        .run(
            &[
                "-n",
                "made-by-kubectl",
                "create",
                "configmap",
                "lit",
                "--from-literal=a=b",
            ],
            None,
        )
        .await;
    assert_eq!(
        stdout(&created).trim(),
        "configmap/lit created",
        "{}",
        stderr(&created)
    );
    let literal = kubectl
        .run(
            &[
                "-n",
                "made-by-kubectl",
                "get",
                "cm",
                "lit",
                "-o",
                "jsonpath={.data.a}",
            ],
            None,
        )
        .await;
    assert_eq!(stdout(&literal), "b");
    let created = kubectl
        .run(
            &["-n", "made-by-kubectl", "create", "serviceaccount", "robot"],
            None,
        )
        .await;
    assert_eq!(
        stdout(&created).trim(),
        "serviceaccount/robot created",
        "{}",
        stderr(&created)
    );
    let gone = kubectl
        .run(&["delete", "namespace", "made-by-kubectl"], None)
        .await;
    assert_eq!(
        stdout(&gone).trim(),
        "namespace \"made-by-kubectl\" deleted",
        "{}",
        stderr(&gone)
    );

    let manifest = kubectl.file("cm.yaml", MANIFEST);
    let applied = kubectl
        .run(&["apply", "-f", path_arg(&manifest)], None)
        .await;
    assert!(applied.status.success(), "{}", stderr(&applied));
    assert_eq!(stdout(&applied).trim(), "configmap/demo created");
    let again = kubectl
        .run(&["apply", "-f", path_arg(&manifest)], None)
        .await;
    assert_eq!(stdout(&again).trim(), "configmap/demo unchanged");
    let changed = kubectl.file("cm2.yaml", &MANIFEST.replace("hello", "bonjour"));
    let configured = kubectl
        .run(&["apply", "-f", path_arg(&changed)], None)
        .await;
    assert_eq!(
        stdout(&configured).trim(),
        "configmap/demo configured",
        "{}",
        stderr(&configured)
    );

    let yaml = kubectl
        .run(&["get", "cm", "demo", "-o", "yaml"], None)
        .await;
    assert!(yaml.status.success());
    assert!(
        stdout(&yaml).contains("greeting: bonjour"),
        "{}",
        stdout(&yaml)
    );
    assert!(stdout(&yaml).contains("resourceVersion:"));

    let server_side = kubectl
        .run(
            &["apply", "--server-side", "-f", "-"],
            Some(&MANIFEST.replace("hello", "hallo")),
        )
        .await;
    assert!(server_side.status.success(), "{}", stderr(&server_side));
    assert_eq!(
        stdout(&server_side).trim(),
        "configmap/demo serverside-applied"
    );

    let table = kubectl
        .run(&["get", "configmaps", "-l", "app=demo"], None)
        .await;
    assert!(stdout(&table).contains("DATA"), "{}", stdout(&table));

    let missing = kubectl.run(&["get", "cm", "missing"], None).await;
    assert!(!missing.status.success());
    assert!(
        stderr(&missing).contains("Error from server (NotFound): configmaps \"missing\" not found"),
        "{}",
        stderr(&missing)
    );

    common::running_pod(double.store(), "default", "runner", &["main"]);
    let pods = kubectl.run(&["get", "pods", "-o", "wide"], None).await;
    assert!(
        stdout(&pods).contains("Running") && stdout(&pods).contains("1/1"),
        "{}",
        stdout(&pods)
    );
    assert!(stdout(&pods).contains("10.244.1.5"), "{}", stdout(&pods));

    let logs = kubectl.run(&["logs", "runner"], None).await;
    assert!(logs.status.success(), "{}", stderr(&logs));
    assert_eq!(stdout(&logs), "log of runner/main\nsecond line\n");

    let exec = kubectl
        .run(&["exec", "runner", "--", "echo", "hi", "there"], None)
        .await;
    assert!(exec.status.success(), "{}", stderr(&exec));
    assert_eq!(stdout(&exec), "hi there\n");

    let failing = kubectl
        .run(&["exec", "runner", "--", "exit", "3"], None)
        .await;
    assert_eq!(failing.status.code(), Some(3));
    assert!(
        stderr(&failing).contains("command terminated with exit code 3"),
        "{}",
        stderr(&failing)
    );

    let deleted = kubectl.run(&["delete", "cm", "demo"], None).await;
    assert!(deleted.status.success(), "{}", stderr(&deleted));
    assert_eq!(stdout(&deleted).trim(), "configmap \"demo\" deleted");

    double.shutdown().await;
}

/// The docs' `run-my-nginx` Deployment and the seed's `kubectl create deployment` / `kubectl expose`
/// through real kubectl, against the double's cluster model (deployment and replicaset controllers, kubelet,
/// endpoints controllers).
#[tokio::test]
async fn kubectl_deployments_rollout_and_expose() {
    let Some(binary) = kubectl_binary() else {
        println!("skipped: kubectl not found on PATH (set NETCONFORM_KUBECTL to a kubectl binary)");
        return;
    };
    let double = netconform_double::Double::start(DoubleConfig::default())
        .await
        .unwrap();
    let kubectl = Kubectl::new(binary, &double, "deployments");
    let manifest = kubectl.file(
        "run-my-nginx.yaml",
        include_str!("../../manifests/service/networking/run-my-nginx.yaml"),
    );
    let applied = kubectl
        .run(&["apply", "-f", path_arg(&manifest)], None)
        .await;
    assert_eq!(
        stdout(&applied).trim(),
        "deployment.apps/my-nginx created",
        "{}",
        stderr(&applied)
    );
    let rollout = kubectl
        .run(
            &["rollout", "status", "deployment/my-nginx", "--timeout=60s"],
            None,
        )
        .await;
    assert!(rollout.status.success(), "{}", stderr(&rollout));
    assert!(
        stdout(&rollout).contains("deployment \"my-nginx\" successfully rolled out"),
        "{}",
        stdout(&rollout)
    );
    let deployments = kubectl.run(&["get", "deployments"], None).await;
    assert!(
        stdout(&deployments).contains("UP-TO-DATE") && stdout(&deployments).contains("2/2"),
        "{}",
        stdout(&deployments)
    );
    let pods = kubectl
        .run(&["get", "pods", "-l", "run=my-nginx", "-o", "wide"], None)
        .await;
    assert_eq!(
        stdout(&pods).matches("Running").count(),
        2,
        "{}",
        stdout(&pods)
    );

    let exposed = kubectl.run(&["expose", "deployment/my-nginx"], None).await;
    assert_eq!(
        stdout(&exposed).trim(),
        "service/my-nginx exposed",
        "{}",
        stderr(&exposed)
    );
    let ports = kubectl
        .run(
            &[
                "get",
                "svc",
                "my-nginx",
                "-o",
                "jsonpath={.spec.ports[0].port}/{.spec.ports[0].targetPort}",
            ],
            None,
        )
        .await;
    assert_eq!(stdout(&ports), "80/80");
    let listed = |output: &Output| stdout(output).matches(":80").count();
    let mut endpoints = kubectl.run(&["get", "endpoints", "my-nginx"], None).await;
    for _ in 0..50 {
        if listed(&endpoints) == 2 {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
        endpoints = kubectl.run(&["get", "endpoints", "my-nginx"], None).await;
    }
    assert_eq!(listed(&endpoints), 2, "{}", stdout(&endpoints));

    // The seed's commands (004:161-162); kubectl create deployment POSTs protobuf.
    let created = kubectl
        .run(
            &[
                "create",
                "deployment",
                "nginx41",
                "--image",
                "nginx",
                "--port",
                "80",
                "--replicas=1",
            ],
            None,
        )
        .await;
    assert_eq!(
        stdout(&created).trim(),
        "deployment.apps/nginx41 created",
        "{}",
        stderr(&created)
    );
    let exposed = kubectl
        .run(
            &[
                "expose",
                "deployment",
                "nginx41",
                "--type=ClusterIP",
                "--name=servicenginx41",
                "--port=8328",
                "--target-port=80",
            ],
            None,
        )
        .await;
    assert_eq!(
        stdout(&exposed).trim(),
        "service/servicenginx41 exposed",
        "{}",
        stderr(&exposed)
    );
    let rollout = kubectl
        .run(
            &["rollout", "status", "deployment/nginx41", "--timeout=60s"],
            None,
        )
        .await;
    assert!(rollout.status.success(), "{}", stderr(&rollout));
    let slices = kubectl
        .run(
            &[
                "get",
                "endpointslices",
                "-l",
                "kubernetes.io/service-name=servicenginx41",
            ],
            None,
        )
        .await;
    assert!(
        stdout(&slices).contains("IPv4") && stdout(&slices).contains("   80 "),
        "{}",
        stdout(&slices)
    );
    double.shutdown().await;
}

/// Manual exploration: `NETCONFORM_DOUBLE_SERVE_SECS=120 cargo test -p netconform-double --test kubectl
/// serve_for_manual_exploration -- --ignored --nocapture` prints a kubeconfig path and serves.
#[tokio::test]
#[ignore]
async fn serve_for_manual_exploration() {
    let secs: u64 = std::env::var("NETCONFORM_DOUBLE_SERVE_SECS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(60);
    let double = netconform_double::Double::start(DoubleConfig::default())
        .await
        .unwrap();
    let path = std::env::temp_dir().join("netconform-double-manual.kubeconfig");
    double.write_kubeconfig(&path).unwrap();
    println!("kubeconfig: {}", path.display());
    tokio::time::sleep(std::time::Duration::from_secs(secs)).await;
    double.shutdown().await;
}
