//! A kind cluster: reuse one by name, or create it from `kind-configs/dual-stack.yaml`, then pre-load the
//! images the suites use so trials do not wait on registry pulls.

use std::path::Path;
use std::sync::Arc;

use super::kubeconfig::{Connected, connect_yaml};
use super::process::{CommandLine, CommandRunner, Output};
use crate::config::Settings;
use crate::error::{HarnessError, one_line};

/// The node image kind v0.33.0 defaults to, pinned by digest (a tag alone can be re-pushed).
///
/// Provenance: kind v0.33.0's release notes / `pkg/apis/config/defaults/image.go` (PR kubernetes-sigs/kind#4248,
/// "bump default image to kindest/node:v1.37.0"). The stored copy of kind's image.go predates that bump, so this
/// digest was taken from the many independent projects that pin kind v0.33.0's default image and all agree on it.
/// `NETCONFORM_NODE_IMAGE` overrides it.
pub const DEFAULT_NODE_IMAGE: &str =
    "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5";

/// Images the suites' pods use; pulled once on the host and loaded into the nodes.
/// - `busybox:1.28`: the DNS debugging page's `busybox.yaml` (its nslookup output is what the docs show).
/// - `busybox:1.36.1`: a current busybox, whose nslookup behaves differently (see shared captures).
/// - `nginx`: the HostAliases page's `kubectl run nginx --image nginx`.
/// - agnhost: upstream e2e's network test image (upstream: test/utils/image/manifest.go, `Agnhost` 2.52).
pub const SUITE_IMAGES: &[&str] = &[
    "busybox:1.28",
    "busybox:1.36.1",
    "nginx",
    "registry.k8s.io/e2e-test-images/agnhost:2.52",
];

/// A kind cluster we can talk to.
pub struct KindCluster {
    pub name: String,
    pub connected: Connected,
    pub created_by_us: bool,
    /// The image we created it with, or what `docker inspect` says the control plane runs.
    pub node_image: Option<String>,
}

pub fn node_image(settings: &Settings) -> String {
    settings
        .node_image
        .clone()
        .unwrap_or_else(|| DEFAULT_NODE_IMAGE.to_string())
}

/// `kind` and `docker` must both be on PATH; the error says which is missing.
pub fn require_tools(runner: &dyn CommandRunner) -> Result<(), HarnessError> {
    for (tool, hint) in [
        (
            "kind",
            "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation) or set NETCONFORM_TARGET=existing",
        ),
        (
            "docker",
            "kind runs its nodes as docker containers; install docker or set NETCONFORM_TARGET=existing",
        ),
    ] {
        if runner.which(tool).is_none() {
            return Err(HarnessError::ToolMissing {
                tool: tool.to_string(),
                hint: hint.to_string(),
            });
        }
    }
    Ok(())
}

/// The commands a fresh cluster is created with (separate so tests can check the exact lines).
pub fn create_command(settings: &Settings) -> CommandLine {
    let config = settings.kind_config.display().to_string();
    let image = node_image(settings);
    CommandLine::new(
        "kind",
        &[
            "create",
            "cluster",
            "--name",
            &settings.cluster_name,
            "--config",
            &config,
            "--image",
            &image,
            "--wait",
            "120s",
        ],
    )
}

/// Reuses the named cluster or creates it, connects, and pre-loads [`SUITE_IMAGES`].
pub async fn ensure_cluster(
    settings: &Settings,
    runner: Arc<dyn CommandRunner>,
) -> Result<KindCluster, HarnessError> {
    require_tools(runner.as_ref())?;
    let name = settings.cluster_name.as_str();
    let clusters = run_ok(
        runner.as_ref(),
        &CommandLine::new("kind", &["get", "clusters"]),
        Output::Capture,
    )
    .await?;
    let exists = clusters.lines().map(str::trim).any(|line| line == name);

    let (created_by_us, node_image) = if exists {
        eprintln!("netconform: reusing kind cluster {name:?}");
        (false, running_node_image(runner.as_ref(), name).await)
    } else {
        if !Path::new(&settings.kind_config).is_file() {
            return Err(HarnessError::CommandFailed {
                command: "kind create cluster".into(),
                status: "not started".into(),
                detail: format!(
                    "kind config {} does not exist (NETCONFORM_KIND_CONFIG)",
                    settings.kind_config.display()
                ),
            });
        }
        let image = node_image(settings);
        eprintln!(
            "netconform: creating kind cluster {name:?} with {image} (this takes a few minutes)"
        );
        run_ok(runner.as_ref(), &create_command(settings), Output::Stream).await?;
        (true, Some(image))
    };

    let kubeconfig = run_ok(
        runner.as_ref(),
        &CommandLine::new("kind", &["get", "kubeconfig", "--name", name]),
        Output::Capture,
    )
    .await?;
    let connected = connect_yaml(
        &kubeconfig,
        &format!("from `kind get kubeconfig --name {name}`"),
    )
    .await?;
    preload_images(runner.as_ref(), name).await;
    Ok(KindCluster {
        name: name.to_string(),
        connected,
        created_by_us,
        node_image,
    })
}

/// Pulls each suite image on the host and loads it into the nodes. Failures only warn: the nodes can still
/// pull for themselves, and a trial that then times out says which image it was waiting for.
pub async fn preload_images(runner: &dyn CommandRunner, cluster: &str) {
    for image in SUITE_IMAGES {
        let pull = CommandLine::new("docker", &["pull", image]);
        match runner.run(&pull, Output::Capture).await {
            Ok(out) if out.success => {}
            Ok(out) => {
                eprintln!(
                    "netconform: warning: `{pull}` failed ({}): {}; the nodes will pull it themselves",
                    out.status,
                    out.tail()
                );
                continue;
            }
            Err(e) => {
                eprintln!("netconform: warning: `{pull}` did not run: {e}");
                continue;
            }
        }
        let load = CommandLine::new("kind", &["load", "docker-image", image, "--name", cluster]);
        match runner.run(&load, Output::Capture).await {
            Ok(out) if out.success => {}
            Ok(out) => eprintln!(
                "netconform: warning: `{load}` failed ({}): {}",
                out.status,
                out.tail()
            ),
            Err(e) => eprintln!("netconform: warning: `{load}` did not run: {e}"),
        }
    }
}

/// Deletes the cluster (only called for clusters this run created, unless kept).
pub async fn delete_cluster(runner: &dyn CommandRunner, name: &str) -> Result<(), HarnessError> {
    eprintln!(
        "netconform: deleting kind cluster {name:?} (set NETCONFORM_KEEP_CLUSTER=1 to keep it)"
    );
    run_ok(
        runner,
        &CommandLine::new("kind", &["delete", "cluster", "--name", name]),
        Output::Stream,
    )
    .await
    .map(|_| ())
}

/// What image the control-plane container of a reused cluster runs (best effort).
async fn running_node_image(runner: &dyn CommandRunner, cluster: &str) -> Option<String> {
    let container = format!("{cluster}-control-plane");
    let inspect = CommandLine::new(
        "docker",
        &["inspect", "--format", "{{.Config.Image}}", &container],
    );
    let out = runner.run(&inspect, Output::Capture).await.ok()?;
    let image = out.stdout.trim();
    (out.success && !image.is_empty()).then(|| image.to_string())
}

async fn run_ok(
    runner: &dyn CommandRunner,
    command: &CommandLine,
    output: Output,
) -> Result<String, HarnessError> {
    let failed = |status: String, detail: String| HarnessError::CommandFailed {
        command: command.to_string(),
        status,
        detail,
    };
    let out = runner
        .run(command, output)
        .await
        .map_err(|e| failed("did not start".into(), e.to_string()))?;
    if out.success {
        Ok(out.stdout)
    } else {
        Err(failed(out.status.clone(), one_line(&out.tail())))
    }
}

#[cfg(test)]
mod tests {
    use super::super::process::ScriptedRunner;
    use super::*;

    fn settings() -> Settings {
        let root = crate::config::workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        Settings::default().anchored_at(&root)
    }

    const KIND_KUBECONFIG: &str = "apiVersion: v1\nkind: Config\nclusters:\n- name: kind-netconform\n  cluster:\n    server: https://127.0.0.1:6443\ncontexts:\n- name: kind-netconform\n  context:\n    cluster: kind-netconform\n    user: kind-netconform\ncurrent-context: kind-netconform\nusers:\n- name: kind-netconform\n  user:\n    token: t\n";

    #[test]
    fn missing_tools_are_named() {
        let err = require_tools(&ScriptedRunner::new(&["docker"])).unwrap_err();
        assert_eq!(err.exit_code(), 6);
        assert!(
            err.to_string().starts_with("`kind` is not on PATH: "),
            "{err}"
        );
        let err = require_tools(&ScriptedRunner::new(&["kind"])).unwrap_err();
        assert!(
            err.to_string().starts_with("`docker` is not on PATH"),
            "{err}"
        );
        assert!(require_tools(&ScriptedRunner::new(&["kind", "docker"])).is_ok());
    }

    #[tokio::test]
    async fn creates_a_missing_cluster_with_the_pinned_image_and_loads_images() {
        let runner = ScriptedRunner::new(&["kind", "docker"])
            .answer("kind get clusters", true, "other\n", "")
            .answer("kind get kubeconfig", true, KIND_KUBECONFIG, "")
            .into_arc();
        let s = settings();
        let cluster = ensure_cluster(&s, runner.clone()).await.unwrap();
        assert!(cluster.created_by_us);
        assert_eq!(cluster.node_image.as_deref(), Some(DEFAULT_NODE_IMAGE));
        let calls = runner.calls();
        let config = s.kind_config.display().to_string();
        assert_eq!(calls[0], "kind get clusters");
        assert_eq!(
            calls[1],
            format!(
                "kind create cluster --name netconform --config {config} --image {DEFAULT_NODE_IMAGE} --wait 120s"
            )
        );
        assert_eq!(
            runner.streamed(),
            vec![calls[1].clone()],
            "cluster creation output is streamed"
        );
        assert_eq!(calls[2], "kind get kubeconfig --name netconform");
        assert_eq!(calls[3], "docker pull busybox:1.28");
        assert_eq!(
            calls[4],
            "kind load docker-image busybox:1.28 --name netconform"
        );
        assert_eq!(calls.len(), 3 + 2 * SUITE_IMAGES.len());
    }

    #[tokio::test]
    async fn reuses_an_existing_cluster_and_never_creates() {
        let runner = ScriptedRunner::new(&["kind", "docker"])
            .answer("kind get clusters", true, "netconform\n", "")
            .answer("kind get kubeconfig", true, KIND_KUBECONFIG, "")
            .answer("docker inspect", true, "kindest/node:v1.36.1\n", "")
            .answer(
                "docker pull",
                false,
                "",
                "dial tcp: lookup registry-1.docker.io: no such host",
            )
            .into_arc();
        let cluster = ensure_cluster(&settings(), runner.clone()).await.unwrap();
        assert!(!cluster.created_by_us);
        assert_eq!(cluster.node_image.as_deref(), Some("kindest/node:v1.36.1"));
        let calls = runner.calls();
        assert!(
            !calls.iter().any(|c| c.starts_with("kind create")),
            "{calls:?}"
        );
        // A failed pull skips that image's load instead of failing the run.
        assert!(
            !calls.iter().any(|c| c.starts_with("kind load")),
            "{calls:?}"
        );
    }

    #[tokio::test]
    async fn failed_creation_is_a_kind_error_with_the_tail() {
        let runner = ScriptedRunner::new(&["kind", "docker"])
            .answer("kind get clusters", true, "", "No kind clusters found.")
            .answer(
                "kind create cluster",
                false,
                "",
                "Creating cluster...\nERROR: failed to create cluster: node(s) already exist",
            )
            .into_arc();
        let mut s = settings();
        s.node_image = Some("kindest/node:v1.35.8".into());
        let err = ensure_cluster(&s, runner.clone()).await.err().unwrap();
        assert_eq!(err.exit_code(), 6);
        let line = err.to_string();
        assert!(line.contains("--image kindest/node:v1.35.8"), "{line}");
        assert!(
            line.contains("(exit status 1): Creating cluster...; ERROR: failed to create cluster"),
            "{line}"
        );
    }

    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct KindConfig {
        kind: String,
        api_version: String,
        networking: Networking,
        nodes: Vec<KindNode>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    struct Networking {
        ip_family: String,
        service_subnet: String,
        pod_subnet: Option<String>,
    }
    #[derive(serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct KindNode {
        role: String,
    }

    #[test]
    fn the_kind_config_is_dual_stack_with_three_nodes_and_a_small_service_range() {
        use crate::ipfamily::{IpFamily, family_of_cidr};
        let text = std::fs::read_to_string(settings().kind_config).unwrap();
        let config: KindConfig = serde_saphyr::from_str(&text).unwrap();
        assert_eq!(
            (config.kind.as_str(), config.api_version.as_str()),
            ("Cluster", "kind.x-k8s.io/v1alpha4")
        );
        assert_eq!(config.networking.ip_family, "dual");
        assert_eq!(
            config.networking.pod_subnet, None,
            "kind's dual-stack pod subnet default"
        );
        let roles: Vec<&str> = config.nodes.iter().map(|n| n.role.as_str()).collect();
        assert_eq!(roles, vec!["control-plane", "worker", "worker"]);
        let subnets: Vec<&str> = config.networking.service_subnet.split(',').collect();
        let families: Vec<IpFamily> = subnets.iter().map(|s| family_of_cidr(s).unwrap()).collect();
        assert_eq!(families, vec![IpFamily::IPv4, IpFamily::IPv6]);
        let v4: ipnet::IpNet = subnets[0].parse().unwrap();
        // kubeadm needs >= 10 addresses (DNS is the tenth); the ServiceCIDR trial wants the range small.
        assert_eq!(v4.prefix_len(), 28);
        // The comment at the top shows the same pinned image the harness uses.
        assert!(text.contains(DEFAULT_NODE_IMAGE));
    }

    #[test]
    fn the_pinned_image_is_a_digest() {
        let (tag, digest) = DEFAULT_NODE_IMAGE.split_once("@sha256:").unwrap();
        assert!(tag.starts_with("kindest/node:v"));
        assert_eq!(digest.len(), 64);
        assert!(
            digest
                .chars()
                .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
        );
    }

    #[tokio::test]
    async fn delete_uses_the_name() {
        let runner = ScriptedRunner::new(&["kind", "docker"]);
        delete_cluster(&runner, "netconform").await.unwrap();
        assert_eq!(
            runner.calls(),
            vec!["kind delete cluster --name netconform"]
        );
    }
}
