//! A kind cluster: reuse one by name, or create it from a kind config (`kind-configs/`, dual-stack by default)
//! and a node image pinned by digest, then pre-load the images the suites use so trials do not wait on
//! registry pulls.

use std::path::Path;
use std::sync::Arc;

use super::kubeconfig::{Connected, connect_yaml};
use super::node_image::DEFAULT_NODE_IMAGE;
use super::preload::preload_images;
use super::process::{CommandLine, CommandRunner, Output, run_ok};
use crate::config::Settings;
use crate::error::HarnessError;
use crate::text::name_part;

/// Every cluster name netconform derives starts with this (see [`cluster_name`]).
pub const CLUSTER_NAME_PREFIX: &str = "netconform";

/// A node image named without a digest must be a local image: present in Docker and without a registry
/// digest (`docker image inspect`: `RepoDigests` empty). Returns how the report records it.
pub async fn check_local_node_image(
    runner: &dyn CommandRunner,
    image: &str,
) -> Result<String, HarnessError> {
    let inspect = CommandLine::new(
        "docker",
        &[
            "image",
            "inspect",
            "--format",
            "{{.Id}} {{len .RepoDigests}}",
            image,
        ],
    );
    let out = run_ok(runner, &inspect, Output::Capture).await.map_err(|_| HarnessError::CommandFailed {
        command: inspect.to_string(),
        status: "no such image".into(),
        detail: format!(
            "NETCONFORM_NODE_IMAGE={image} names no digest, so it must be a local image (testbed/build makes one); a registry image must be pinned by digest"
        ),
    })?;
    match out.split_whitespace().collect::<Vec<_>>()[..] {
        [id, "0"] => Ok(format!(
            "{image} (local image {}, no registry digest)",
            &id[..id.len().min(19)]
        )),
        _ => Err(HarnessError::CommandFailed {
            command: inspect.to_string(),
            status: "a registry image".into(),
            detail: format!(
                "NETCONFORM_NODE_IMAGE={image} came from a registry: pin it by digest (name:tag@sha256:...)"
            ),
        }),
    }
}

/// A kind cluster we can talk to.
pub struct KindCluster {
    pub name: String,
    pub connected: Connected,
    pub created_by_us: bool,
    /// The image we created it with, or what `docker inspect` says the control plane runs.
    pub node_image: Option<String>,
    /// `kind get kubeconfig`: what `NETCONFORM_KIND_SETUP` is handed as its `KUBECONFIG`.
    pub kubeconfig_yaml: String,
}

pub fn node_image(settings: &Settings) -> String {
    settings
        .node_image
        .clone()
        .unwrap_or_else(|| DEFAULT_NODE_IMAGE.to_string())
}

/// `NETCONFORM_CLUSTER_NAME`, else `netconform-<image version>-<config>`, e.g. `netconform-v1-37-0-dual-stack`:
/// runs with different node images or configs (an upgrade gate's baseline and candidate) never reuse each
/// other's cluster, and a rerun with the same ones reuses its own.
pub fn cluster_name(settings: &Settings) -> String {
    if let Some(name) = &settings.cluster_name {
        return name.clone();
    }
    let image = node_image(settings);
    let (reference, digest) = match image.split_once("@sha256:") {
        Some((reference, digest)) => (reference, Some(digest)),
        None => (image.as_str(), None),
    };
    // The tag follows the last ':' after the last '/' (a registry may carry a port: host:5000/node:v1).
    let tag = reference
        .rsplit_once(':')
        .filter(|(_, tag)| !tag.contains('/'))
        .map(|(_, tag)| tag);
    let version = match (tag, digest) {
        (Some(tag), _) => name_part(tag),
        (None, Some(digest)) => format!("sha-{}", name_part(&digest[..digest.len().min(12)])),
        (None, None) => String::new(),
    };
    let config = settings
        .kind_config
        .file_stem()
        .map(|stem| name_part(&stem.to_string_lossy()))
        .unwrap_or_default();
    [CLUSTER_NAME_PREFIX, &version, &config]
        .into_iter()
        .filter(|part| !part.is_empty())
        .collect::<Vec<_>>()
        .join("-")
}

/// `kind` and `docker` must both be on PATH; the error says which is missing.
pub fn require_tools(runner: &dyn CommandRunner) -> Result<(), HarnessError> {
    for (tool, hint) in [
        (
            "kind",
            "install kind (https://kind.sigs.k8s.io/docs/user/quick-start/#installation)",
        ),
        (
            "docker",
            "kind runs its nodes as docker containers; install docker",
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
    let name = cluster_name(settings);
    CommandLine::new(
        "kind",
        &[
            "create", "cluster", "--name", &name, "--config", &config, "--image", &image,
        ],
    )
}

/// Reuses the named cluster or creates it, connects, and pre-loads [`super::preload::SUITE_IMAGES`]. A
/// cluster it creates is recorded in `created` before `kind create` starts (unless
/// `NETCONFORM_KEEP_CLUSTER=1`), so the caller deletes it on any exit, this function's own errors and an
/// interrupted creation included.
pub async fn ensure_cluster(
    settings: &Settings,
    runner: Arc<dyn CommandRunner>,
    created: &super::CreatedCluster,
) -> Result<KindCluster, HarnessError> {
    require_tools(runner.as_ref())?;
    let name = cluster_name(settings);
    let name = name.as_str();
    let clusters = run_ok(
        runner.as_ref(),
        &CommandLine::new("kind", &["get", "clusters"]),
        Output::Capture,
    )
    .await?;
    let exists = clusters.lines().map(str::trim).any(|line| line == name);

    let (created_by_us, node_image) = if exists {
        eprintln!("netconform: reusing kind cluster {name:?}");
        let running = running_node_image(runner.as_ref(), name).await;
        if let (Some(running), Some(wanted)) = (&running, &settings.node_image)
            && running != wanted
        {
            // Only a NETCONFORM_CLUSTER_NAME shared between images gets here: derived names carry the version.
            eprintln!(
                "netconform: warning: kind cluster {name:?} runs {running}, not NETCONFORM_NODE_IMAGE {wanted}; the report records {running}"
            );
        }
        (false, running)
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
        let recorded = if image.contains("@sha256:") {
            image.clone()
        } else {
            check_local_node_image(runner.as_ref(), &image).await?
        };
        eprintln!(
            "netconform: creating kind cluster {name:?} with {recorded} (this takes a few minutes)"
        );
        let started = std::time::Instant::now();
        if !settings.keep_cluster {
            created.record(name, runner.clone());
        }
        if let Err(e) = run_ok(runner.as_ref(), &create_command(settings), Output::Stream).await {
            // kind deletes what a failed create made; what it refused to make ("node(s) already exist") is
            // not ours to delete.
            created.forget();
            return Err(e);
        }
        eprintln!(
            "netconform: kind created {name:?} in {} s",
            started.elapsed().as_secs()
        );
        (true, Some(recorded))
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
    preload_images(runner.as_ref(), name, &settings.images).await?;
    Ok(KindCluster {
        name: name.to_string(),
        connected,
        created_by_us,
        node_image,
        kubeconfig_yaml: kubeconfig,
    })
}

/// cloud-provider-kind serving the kind clusters of this host: it runs outside the clusters (a host
/// process, or a container of image registry.k8s.io/cloud-provider-kind/cloud-controller-manager) and
/// watches every kind cluster docker runs (upstream: kubernetes-sigs/cloud-provider-kind
/// pkg/controller/controller.go `Run` lists the kind clusters every 30 s and starts a service controller
/// for each); until a LoadBalancer Service exists it leaves nothing in the cluster.
pub async fn cloud_provider_kind_evidence(runner: &dyn CommandRunner) -> Option<String> {
    let ps = CommandLine::new("docker", &["ps", "--format", "{{.Names}}\t{{.Image}}"]);
    if let Ok(out) = runner.run(&ps, Output::Capture).await
        && out.success
        && let Some(line) = out.stdout.lines().find(|l| {
            l.split('\t')
                .nth(1)
                .is_some_and(|i| i.contains("cloud-provider-kind"))
        })
    {
        let name = line.split('\t').next().unwrap_or_default();
        return Some(format!(
            "cloud-provider-kind runs on this host (docker container {name}, `{ps}`)"
        ));
    }
    if runner.which("pgrep").is_none() {
        return None;
    }
    let pgrep = CommandLine::new("pgrep", &["-x", "cloud-provider-kind"]);
    match runner.run(&pgrep, Output::Capture).await {
        Ok(out) if out.success && !out.stdout.trim().is_empty() => Some(format!(
            "cloud-provider-kind runs on this host (process {}, `{pgrep}`)",
            out.stdout.split_whitespace().collect::<Vec<_>>().join(", ")
        )),
        _ => None,
    }
}

/// How many nodes a kind config declares (`nodes:` entries, each with a `role:`); kind's default is one.
pub fn config_node_count(config: &Path) -> usize {
    let text = std::fs::read_to_string(config).unwrap_or_default();
    let roles = text
        .lines()
        .map(|line| line.split('#').next().unwrap_or("").trim_start())
        .filter(|line| line.trim_start_matches("- ").starts_with("role:"))
        .count();
    roles.max(1)
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

#[cfg(test)]
mod tests {
    use super::super::preload::SUITE_IMAGES;
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
        let cluster = ensure_cluster(&s, runner.clone(), &Default::default())
            .await
            .unwrap();
        assert!(cluster.created_by_us);
        assert_eq!(cluster.node_image.as_deref(), Some(DEFAULT_NODE_IMAGE));
        let calls = runner.calls();
        let config = s.kind_config.display().to_string();
        assert_eq!(calls[0], "kind get clusters");
        assert_eq!(
            calls[1],
            format!(
                "kind create cluster --name netconform-v1-37-0-dual-stack --config {config} --image {DEFAULT_NODE_IMAGE}"
            )
        );
        assert_eq!(
            runner.streamed(),
            vec![calls[1].clone()],
            "cluster creation output is streamed"
        );
        assert_eq!(
            calls[2],
            "kind get kubeconfig --name netconform-v1-37-0-dual-stack"
        );
        assert_eq!(calls[3], "docker pull busybox:1.28");
        assert_eq!(
            calls[4],
            "kind load docker-image busybox:1.28 --name netconform-v1-37-0-dual-stack"
        );
        assert_eq!(calls.len(), 3 + 2 * SUITE_IMAGES.len());
    }

    #[tokio::test]
    async fn reuses_an_existing_cluster_and_never_creates() {
        let runner = ScriptedRunner::new(&["kind", "docker"])
            .answer(
                "kind get clusters",
                true,
                "netconform-v1-37-0-dual-stack\nnetconform-v1-36-4-dual-stack\n",
                "",
            )
            .answer("kind get kubeconfig", true, KIND_KUBECONFIG, "")
            .answer("docker inspect", true, &format!("{V1_36}\n"), "")
            .answer(
                "docker pull",
                false,
                "",
                "dial tcp: lookup registry-1.docker.io: no such host",
            )
            .into_arc();
        let mut s = settings();
        s.node_image = Some(V1_36.into());
        let cluster = ensure_cluster(&s, runner.clone(), &Default::default())
            .await
            .unwrap();
        assert!(!cluster.created_by_us);
        assert_eq!(cluster.name, "netconform-v1-36-4-dual-stack");
        assert_eq!(cluster.node_image.as_deref(), Some(V1_36));
        let calls = runner.calls();
        assert_eq!(
            &calls[1..3],
            [
                "docker inspect --format {{.Config.Image}} netconform-v1-36-4-dual-stack-control-plane",
                "kind get kubeconfig --name netconform-v1-36-4-dual-stack"
            ]
        );
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
    async fn cloud_provider_kind_is_found_as_a_container_or_a_process() {
        let container = ScriptedRunner::new(&["kind", "docker"])
            .answer(
                "docker ps",
                true,
                "netconform-v1-37-0-dual-stack-worker\tkindest/node:v1.37.0\ncloud-provider-kind\tregistry.k8s.io/cloud-provider-kind/cloud-controller-manager:v0.7.0\n",
                "",
            )
            .into_arc();
        let found = cloud_provider_kind_evidence(container.as_ref()).await;
        assert!(
            found
                .as_deref()
                .is_some_and(|e| e.contains("docker container cloud-provider-kind")),
            "{found:?}"
        );
        let process = ScriptedRunner::new(&["kind", "docker", "pgrep"])
            .answer(
                "docker ps",
                true,
                "netconform-v1-37-0-dual-stack-worker\tkindest/node:v1.37.0\n",
                "",
            )
            .answer("pgrep -x cloud-provider-kind", true, "4242\n", "")
            .into_arc();
        assert!(
            cloud_provider_kind_evidence(process.as_ref())
                .await
                .is_some_and(|e| e.contains("process 4242"))
        );
        let none = ScriptedRunner::new(&["kind", "docker", "pgrep"])
            .answer("docker ps", true, "", "")
            .answer("pgrep", false, "", "")
            .into_arc();
        assert_eq!(cloud_provider_kind_evidence(none.as_ref()).await, None);
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
        s.node_image = Some(V1_36.into());
        let err = ensure_cluster(&s, runner.clone(), &Default::default())
            .await
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), 6);
        let line = err.to_string();
        assert!(line.contains(&format!("--image {V1_36}")), "{line}");
        assert!(
            line.contains("(exit status 1): Creating cluster...; ERROR: failed to create cluster"),
            "{line}"
        );
    }

    #[tokio::test]
    async fn a_node_image_without_digest_must_be_local() {
        let local = ScriptedRunner::new(&["docker"]).answer(
            "docker image inspect",
            true,
            "sha256:0123456789abcdef0123 0\n",
            "",
        );
        let recorded = check_local_node_image(&local, "netconform.local/kind-node:v1.37.2")
            .await
            .unwrap();
        assert_eq!(
            recorded,
            "netconform.local/kind-node:v1.37.2 (local image sha256:0123456789ab, no registry digest)"
        );
        let pulled = ScriptedRunner::new(&["docker"]).answer(
            "docker image inspect",
            true,
            "sha256:0123 1\n",
            "",
        );
        let err = check_local_node_image(&pulled, "mirror.example/node:v1")
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), 6);
        assert!(err.to_string().contains("pin it by digest"), "{err}");
        let absent = ScriptedRunner::new(&["docker"]).answer(
            "docker image inspect",
            false,
            "",
            "No such image",
        );
        let err = check_local_node_image(&absent, "netconform.local/kind-node:v9")
            .await
            .unwrap_err();
        assert!(err.to_string().contains("must be a local image"), "{err}");
    }

    const V1_36: &str = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed";

    /// kind's `v1alpha4` Cluster, field names as upstream spells them (upstream kind
    /// pkg/apis/config/v1alpha4/types.go `Cluster`, `Node`, `Networking`: the yaml tags). `deny_unknown_fields`
    /// turns a misspelt field, which kind would reject, into a test failure; the fields netconform's configs
    /// do not set are listed so a user's config with them still parses here.
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)] // the fields exist to be named, not read
    struct KindConfig {
        kind: String,
        api_version: String,
        name: Option<String>,
        nodes: Vec<KindNode>,
        networking: Networking,
        feature_gates: Option<serde_json::Value>,
        runtime_config: Option<serde_json::Value>,
        kubeadm_config_patches: Option<serde_json::Value>,
        #[serde(rename = "kubeadmConfigPatchesJSON6902")]
        kubeadm_config_patches_json6902: Option<serde_json::Value>,
        containerd_config_patches: Option<serde_json::Value>,
        #[serde(rename = "containerdConfigPatchesJSON6902")]
        containerd_config_patches_json6902: Option<serde_json::Value>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct Networking {
        ip_family: String,
        api_server_port: Option<i32>,
        api_server_address: Option<String>,
        pod_subnet: Option<String>,
        service_subnet: String,
        #[serde(rename = "disableDefaultCNI")]
        disable_default_cni: Option<bool>,
        kube_proxy_mode: Option<String>,
        dns_search: Option<Vec<String>>,
    }
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase", deny_unknown_fields)]
    #[allow(dead_code)]
    struct KindNode {
        role: String,
        image: Option<String>,
        labels: Option<serde_json::Value>,
        extra_mounts: Option<serde_json::Value>,
        extra_port_mappings: Option<serde_json::Value>,
        gpus: Option<String>,
        kubeadm_config_patches: Option<serde_json::Value>,
        #[serde(rename = "kubeadmConfigPatchesJSON6902")]
        kubeadm_config_patches_json6902: Option<serde_json::Value>,
    }

    fn read_config(name: &str) -> (String, KindConfig) {
        let root = crate::config::workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        let (_, path) = crate::config::KIND_CONFIGS
            .iter()
            .find(|(known, _)| *known == name)
            .unwrap();
        let text = std::fs::read_to_string(root.join(path)).unwrap();
        let config = serde_saphyr::from_str(&text).unwrap_or_else(|e| panic!("{path}: {e}"));
        (text, config)
    }

    /// Every named config: kind's v1alpha4 Cluster with one control plane and two workers (two-node checks
    /// need two schedulable nodes), no per-node image (netconform passes `--image`), and service subnets that
    /// pass kind's own check (upstream kind pkg/internal/apis/config/validate.go `validateSubnets`: one CIDR
    /// of the family for single-stack, one of each for dual) and kubeadm's (at least 10 addresses, DNS is the
    /// tenth: upstream cmd/kubeadm/app/constants MinimumAddressesInServiceSubnet).
    #[test]
    fn every_kind_config_is_a_v1alpha4_cluster_of_its_family() {
        use crate::ipfamily::IpFamily;
        let cases = [
            ("dual-stack", "dual", vec![IpFamily::IPv4, IpFamily::IPv6]),
            ("ipv4", "ipv4", vec![IpFamily::IPv4]),
            ("ipv6", "ipv6", vec![IpFamily::IPv6]),
            (
                "dual-stack-nftables",
                "dual",
                vec![IpFamily::IPv4, IpFamily::IPv6],
            ),
        ];
        assert_eq!(cases.len(), crate::config::KIND_CONFIGS.len());
        for (name, ip_family, families) in cases {
            let (_, config) = read_config(name);
            assert_eq!(
                (config.kind.as_str(), config.api_version.as_str()),
                ("Cluster", "kind.x-k8s.io/v1alpha4"),
                "{name}"
            );
            // upstream kind v1alpha4 ClusterIPFamily: ipv4, ipv6, dual.
            assert_eq!(config.networking.ip_family, ip_family, "{name}");
            assert_eq!(
                config.networking.pod_subnet, None,
                "{name}: kind's default pod subnet for the family"
            );
            let roles: Vec<&str> = config.nodes.iter().map(|n| n.role.as_str()).collect();
            assert_eq!(roles, vec!["control-plane", "worker", "worker"], "{name}");
            assert!(
                config.nodes.iter().all(|n| n.image.is_none()),
                "{name}: the node image is NETCONFORM_NODE_IMAGE's"
            );
            let subnets: Vec<ipnet::IpNet> = config
                .networking
                .service_subnet
                .split(',')
                .map(|s| s.parse().unwrap())
                .collect();
            let got: Vec<IpFamily> = subnets
                .iter()
                .map(|s| match s {
                    ipnet::IpNet::V4(_) => IpFamily::IPv4,
                    ipnet::IpNet::V6(_) => IpFamily::IPv6,
                })
                .collect();
            assert_eq!(got, families, "{name}: service subnet families, in order");
            for subnet in &subnets {
                let bits = subnet.max_prefix_len() - subnet.prefix_len();
                assert!(bits >= 4, "{name}: {subnet} has fewer than 10 addresses");
                match subnet {
                    // The small range the ServiceCIDR trials exhaust and the runner budgets (a /28).
                    ipnet::IpNet::V4(v4) => assert_eq!(v4.prefix_len(), 28, "{name}: {v4}"),
                    // kind's IPv6 default: nothing budgets IPv6 addresses (see ipv6.yaml).
                    ipnet::IpNet::V6(v6) => assert_eq!(v6.prefix_len(), 112, "{name}: {v6}"),
                }
            }
        }
    }

    /// The field list is strict where it matters: kind's other fields parse, a misspelt one does not.
    #[test]
    fn the_kind_config_schema_rejects_misspelt_fields() {
        let valid = "kind: Cluster\napiVersion: kind.x-k8s.io/v1alpha4\nname: x\nfeatureGates:\n  A: true\n\
                     networking:\n  ipFamily: dual\n  apiServerAddress: 127.0.0.1\n  serviceSubnet: 10.96.0.0/28\n  \
                     disableDefaultCNI: false\n  kubeProxyMode: nftables\nnodes:\n  - role: control-plane\n    \
                     extraPortMappings:\n      - containerPort: 80\n        hostPort: 8080\n";
        serde_saphyr::from_str::<KindConfig>(valid).unwrap();
        for typo in [
            valid.replace("ipFamily", "ipfamily"),
            valid.replace("serviceSubnet", "serviceSubnets"),
            valid.replace("extraPortMappings", "extraPortMapping"),
        ] {
            assert!(
                serde_saphyr::from_str::<KindConfig>(&typo).is_err(),
                "{typo}"
            );
        }
    }

    #[test]
    fn the_default_config_shows_the_pinned_image_and_its_cluster_name() {
        let (text, _) = read_config("dual-stack");
        assert!(text.contains(DEFAULT_NODE_IMAGE));
        assert!(text.contains(&format!("--name {}", cluster_name(&settings()))));
    }

    #[test]
    fn cluster_names_carry_the_image_version_and_the_config() {
        let mut s = settings();
        assert_eq!(cluster_name(&s), "netconform-v1-37-0-dual-stack");
        s.node_image = Some(V1_36.into());
        s.kind_config = s.kind_config.with_file_name("ipv6.yaml");
        assert_eq!(cluster_name(&s), "netconform-v1-36-4-ipv6");
        // A registry port is not a tag; an image without a tag is named by its digest.
        s.node_image = Some(
            "localhost:5000/node@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
                .into(),
        );
        s.kind_config = "/home/me/My Kind_Config.with.dots.yaml".into();
        let name = cluster_name(&s);
        assert_eq!(name, "netconform-sha-0123456789ab-my-kind-config-w");
        assert!(name.len() + "-control-plane".len() <= 63, "{name}");
        s.node_image = Some(format!(
            "ghcr.io/me/node:v1.38.0-alpha.1.the-long-build-name@sha256:{}",
            "a".repeat(64)
        ));
        assert_eq!(
            cluster_name(&s),
            "netconform-v1-38-0-alpha-1-my-kind-config-w"
        );
        s.cluster_name = Some("mine".into());
        assert_eq!(cluster_name(&s), "mine", "NETCONFORM_CLUSTER_NAME wins");
        assert!(create_command(&s).to_string().contains("--name mine "));
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
