//! Where the suites run: an existing cluster, a kind cluster, or the offline test double.
//!
//! `NETCONFORM_TARGET=auto` tries, in order: the kubeconfig's cluster if its API answers, a kind cluster if
//! `kind` and `docker` are on PATH, else no target (every trial is skipped, or the run fails with
//! `NETCONFORM_REQUIRE_CLUSTER=1`). The test double is only ever used when asked for (`sim`).

pub mod kind;
pub mod kubeconfig;
pub mod node_image;
pub mod preload;
pub mod process;
pub mod provenance;
pub mod ready;
pub mod setup;
pub mod sim;

use std::fmt;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use kube::Client;

use crate::config::{Settings, TargetChoice};
use crate::error::HarnessError;
use process::{CommandRunner, SystemRunner};

/// How long `/version` may take before a cluster counts as unreachable (scaled by `NETCONFORM_TIMEOUT_SCALE`).
pub const PROBE_BUDGET: Duration = Duration::from_secs(5);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum TargetKind {
    Existing,
    Kind,
    Simulated,
}

impl fmt::Display for TargetKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            TargetKind::Existing => "existing",
            TargetKind::Kind => "kind",
            TargetKind::Simulated => "simulated",
        })
    }
}

/// A cluster (or the double) the run talks to.
pub struct Target {
    pub kind: TargetKind,
    pub client: Client,
    /// One line, e.g. `kind cluster "netconform" (created by netconform) at https://127.0.0.1:40001/`.
    pub description: String,
    /// True only for a kind cluster this run created: such a cluster may be disrupted and is deleted after
    /// (unless `NETCONFORM_KEEP_CLUSTER=1`). A cluster an earlier run created is known by its marker
    /// ([`provenance`]).
    pub created_by_us: bool,
    pub node_image: Option<String>,
    /// `gitVersion` from the probe.
    pub server_version: Option<String>,
    /// kind cluster name.
    pub cluster_name: Option<String>,
    /// The kubeconfig context of an existing cluster (kind names its contexts `kind-<cluster>`).
    pub context: Option<String>,
    /// Set by the runner: the cluster's marker if netconform created it, in this run or an earlier one.
    pub provenance: Option<provenance::Provenance>,
    /// `NETCONFORM_KIND_SETUP` as it ran on the cluster this run created ([`setup::describe`]).
    pub setup: Option<String>,
    /// What teardown deletes: the cluster this run created, if it is not to be kept.
    created: Arc<CreatedCluster>,
    runner: Arc<dyn CommandRunner>,
    double: Option<sim::RunningDouble>,
}

/// The kind cluster this run created and must delete (none when `NETCONFORM_KEEP_CLUSTER=1`). It is recorded
/// before `kind create` starts, so that whichever exit comes first deletes it, once: the end of the run, an
/// error after creation (a refused cluster, a failed readiness wait), Ctrl-C or SIGTERM (during creation
/// too), or a panic.
#[derive(Default)]
pub struct CreatedCluster {
    slot: Mutex<Option<(String, Arc<dyn CommandRunner>)>>,
}

impl CreatedCluster {
    pub(crate) fn record(&self, name: &str, runner: Arc<dyn CommandRunner>) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = Some((name.to_string(), runner));
        }
    }

    pub(crate) fn forget(&self) {
        if let Ok(mut slot) = self.slot.lock() {
            *slot = None;
        }
    }

    /// The cluster a [`delete`](Self::delete) would remove.
    pub fn name(&self) -> Option<String> {
        self.slot
            .lock()
            .ok()
            .and_then(|slot| slot.as_ref().map(|(name, _)| name.clone()))
    }

    /// Deletes the recorded cluster; a second call does nothing.
    pub async fn delete(&self) {
        for problem in self.delete_checked().await {
            eprintln!("netconform: warning: {problem}");
        }
    }

    /// [`delete`](Self::delete), returning what went wrong (one line each) instead of printing it.
    pub async fn delete_checked(&self) -> Vec<String> {
        let taken = self.slot.lock().ok().and_then(|mut slot| slot.take());
        match taken {
            Some((name, runner)) => match kind::delete_cluster(runner.as_ref(), &name).await {
                Ok(()) => Vec::new(),
                Err(e) => vec![e.to_string()],
            },
            None => Vec::new(),
        }
    }

    /// Runs `body`; if it panics, deletes the cluster before the panic goes on.
    pub fn delete_on_panic<T>(&self, body: impl FnOnce() -> T) -> T {
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(body)) {
            Ok(value) => value,
            Err(panic) => {
                self.delete_blocking();
                std::panic::resume_unwind(panic)
            }
        }
    }

    /// [`delete`](Self::delete) from outside any async runtime (after a panic unwound the run's own).
    fn delete_blocking(&self) {
        if self.name().is_none() {
            return;
        }
        match tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
        {
            Ok(runtime) => runtime.block_on(self.delete()),
            Err(e) => eprintln!(
                "netconform: warning: cannot delete kind cluster {:?}: {e}",
                self.name().unwrap_or_default()
            ),
        }
    }
}

impl Target {
    /// A cluster netconform did not create and never deletes (an existing cluster; the double, which it stops).
    fn not_ours(
        kind: TargetKind,
        client: Client,
        description: String,
        version: String,
        runner: Arc<dyn CommandRunner>,
    ) -> Target {
        Target {
            kind,
            client,
            description,
            created_by_us: false,
            node_image: None,
            server_version: Some(version),
            cluster_name: None,
            context: None,
            provenance: None,
            setup: None,
            created: Arc::default(),
            runner,
            double: None,
        }
    }

    /// A LoadBalancer controller that runs outside the cluster and so leaves no trace preflight could list
    /// before a LoadBalancer Service exists: cloud-provider-kind on a kind cluster's host
    /// ([`kind::cloud_provider_kind_evidence`]); the test double's own cloud-provider-kind-like controller.
    pub async fn load_balancer_controller(&self) -> Option<String> {
        match self.kind {
            TargetKind::Kind => kind::cloud_provider_kind_evidence(self.runner.as_ref()).await,
            TargetKind::Simulated => self.double.as_ref().map(|_| {
                "the test double runs its cloud-provider-kind-like LoadBalancer controller"
                    .to_string()
            }),
            TargetKind::Existing => None,
        }
    }

    /// What the report records of how the target was made: `netconform.kind-setup`, the setup program that
    /// ran on the cluster this run created ([`setup`]).
    pub fn properties(&self) -> Vec<(String, String)> {
        self.setup
            .iter()
            .map(|s| ("netconform.kind-setup".to_string(), s.clone()))
            .collect()
    }

    /// The run's external client on this target ([`crate::outside`]): a docker container beside a kind
    /// cluster's nodes, the double's model of such a host, or none.
    pub fn outside(
        &self,
        settings: &crate::config::Settings,
        run_id: &str,
    ) -> crate::outside::Outside {
        use crate::outside::{AGNHOST, Backend, Outside};
        match (self.kind, &self.cluster_name) {
            (TargetKind::Kind, Some(cluster)) => Outside::new(
                Backend::Docker {
                    runner: self.runner.clone(),
                    cluster: cluster.clone(),
                    image: settings.images.resolve(AGNHOST).to_string(),
                },
                run_id,
            ),
            #[cfg(feature = "double")]
            (TargetKind::Simulated, _) => match &self.double {
                Some(double) => Outside::new(Backend::Double(double.outside()), run_id),
                None => Outside::absent(run_id),
            },
            _ => Outside::absent(run_id),
        }
    }

    /// `docker` for a kind cluster's containers (none on other targets).
    pub fn docker(&self) -> Option<Arc<dyn CommandRunner>> {
        (self.kind == TargetKind::Kind).then(|| self.runner.clone())
    }

    /// The kind cluster whose containers a sweep of this target covers: a kind target's, or the one an
    /// existing cluster's kind context (`kind-<cluster>`) names.
    pub fn kind_cluster(&self) -> Option<String> {
        self.cluster_name.clone().or_else(|| {
            self.context
                .as_deref()
                .and_then(|c| c.strip_prefix("kind-"))
                .map(str::to_string)
        })
    }

    /// Deletes a kind cluster this run created (unless `NETCONFORM_KEEP_CLUSTER=1`) and stops the double.
    /// Never touches a cluster it did not create.
    pub async fn teardown(self) {
        if let Some(double) = self.double {
            double.shutdown().await;
        }
        self.created.delete().await;
    }
}

/// The outcome of looking for a target.
#[allow(clippy::large_enum_variant)] // one per run; boxing would only complicate the runner's match
pub enum Resolution {
    Ready(Target),
    /// Nothing to run against; `reason` says what was tried, on one line.
    NoTarget {
        reason: String,
        /// How to get a cluster, in one sentence ([`how_to_get_a_cluster`]).
        hint: String,
    },
}

/// How to get something to test, in one sentence. `NETCONFORM_TARGET=existing` is offered only when there is
/// a kubeconfig: without one it would fail at once.
pub fn how_to_get_a_cluster(kubeconfig_found: bool) -> String {
    let mut ways = vec![
        "install kind and docker (the run then creates a kind cluster)".to_string(),
        "run `eval \"$(testbed/build)\"` for the offline testbed's kind cluster".to_string(),
    ];
    if kubeconfig_found {
        ways.push(
            "point the kubeconfig's context at a cluster that answers (NETCONFORM_CONTEXT picks another)"
                .to_string(),
        );
    }
    ways.push(
        "set NETCONFORM_TARGET=sim to run against the netconform-double test double (not a cluster)".to_string(),
    );
    let last = ways.pop().unwrap_or_default();
    format!("to get a cluster, {}, or {last}.", ways.join(", "))
}

/// Finds or makes the target `settings` ask for. A kind cluster it creates is recorded in `created`, so the
/// caller deletes it whatever happens next, an error of this call included.
pub async fn resolve(
    settings: &Settings,
    created: Arc<CreatedCluster>,
) -> Result<Resolution, HarnessError> {
    let user_kubeconfig = match settings.target {
        TargetChoice::Existing | TargetChoice::Auto => kubeconfig::read_user_kubeconfig(),
        TargetChoice::Kind | TargetChoice::Sim => Ok(None),
    };
    resolve_with(settings, Arc::new(SystemRunner), user_kubeconfig, created).await
}

/// The user's kubeconfig as [`kubeconfig::read_user_kubeconfig`] found it.
pub type UserKubeconfig =
    Result<Option<(kube::config::Kubeconfig, kubeconfig::KubeconfigSource)>, HarnessError>;

/// [`resolve`] with a given process runner and kubeconfig lookup (tests script `kind`/`docker` and the kubeconfig).
pub async fn resolve_with(
    settings: &Settings,
    runner: Arc<dyn CommandRunner>,
    user_kubeconfig: UserKubeconfig,
    created: Arc<CreatedCluster>,
) -> Result<Resolution, HarnessError> {
    let budget = settings.scaled(PROBE_BUDGET);
    let resolution = match settings.target {
        TargetChoice::Sim => Resolution::Ready(sim::start(settings, runner).await?),
        TargetChoice::Kind => {
            Resolution::Ready(from_kind(settings, runner, budget, created).await?)
        }
        TargetChoice::Existing => {
            match existing(settings, runner, budget, user_kubeconfig).await? {
                Some(target) => Resolution::Ready(target),
                None => {
                    return Err(HarnessError::NoKubeconfig(
                    "NETCONFORM_TARGET=existing but KUBECONFIG is unset or names no existing file, and ~/.kube/config does not exist".into(),
                ));
                }
            }
        }
        TargetChoice::Auto => auto(settings, runner, budget, user_kubeconfig, created).await?,
    };
    match resolution {
        Resolution::NoTarget { reason, .. } if settings.require_cluster => {
            Err(HarnessError::NoTarget { reason })
        }
        other => Ok(other),
    }
}

async fn auto(
    settings: &Settings,
    runner: Arc<dyn CommandRunner>,
    budget: Duration,
    user_kubeconfig: UserKubeconfig,
    created: Arc<CreatedCluster>,
) -> Result<Resolution, HarnessError> {
    let mut tried = Vec::new();
    let mut kubeconfig_found = true;
    match existing(settings, runner.clone(), budget, user_kubeconfig).await {
        Ok(Some(target)) => return Ok(Resolution::Ready(target)),
        Ok(None) => {
            kubeconfig_found = false;
            tried.push("no kubeconfig (KUBECONFIG unset or missing, no ~/.kube/config)".to_string())
        }
        // The kubeconfig's cluster is down: fall through to kind, but say so.
        Err(e @ HarnessError::Unreachable { .. }) => tried.push(e.to_string()),
        // A kubeconfig that exists but is broken is the user's to fix; guessing past it would hide it.
        Err(e) => return Err(e),
    }
    match kind::require_tools(runner.as_ref()) {
        Ok(()) => Ok(Resolution::Ready(
            from_kind(settings, runner, budget, created).await?,
        )),
        Err(e) => {
            tried.push(e.to_string());
            Ok(Resolution::NoTarget {
                reason: format!("tried: {}", tried.join("; ")),
                hint: how_to_get_a_cluster(kubeconfig_found),
            })
        }
    }
}

/// The user's kubeconfig cluster, if there is a kubeconfig at all.
async fn existing(
    settings: &Settings,
    runner: Arc<dyn CommandRunner>,
    budget: Duration,
    user_kubeconfig: UserKubeconfig,
) -> Result<Option<Target>, HarnessError> {
    let Some((config, source)) = user_kubeconfig? else {
        return Ok(None);
    };
    let connected = kubeconfig::connect(config, &source, settings.context.as_deref()).await?;
    let version = kubeconfig::probe(&connected, budget).await?;
    let context = connected.context.clone().unwrap_or_default();
    let description = format!(
        "existing cluster: context {context:?} at {} ({version})",
        connected.server
    );
    Ok(Some(Target {
        context: connected.context.clone(),
        ..Target::not_ours(
            TargetKind::Existing,
            connected.client,
            description,
            version,
            runner,
        )
    }))
}

async fn from_kind(
    settings: &Settings,
    runner: Arc<dyn CommandRunner>,
    budget: Duration,
    created: Arc<CreatedCluster>,
) -> Result<Target, HarnessError> {
    let cluster = kind::ensure_cluster(settings, runner.clone(), &created).await?;
    let version = kubeconfig::probe(&cluster.connected, budget).await?;
    if cluster.created_by_us {
        let nodes = kind::config_node_count(&settings.kind_config);
        eprintln!("netconform: waiting for {nodes} nodes Ready and CoreDNS available");
        let started = std::time::Instant::now();
        ready::wait_until_ready(&cluster.connected.client, nodes, settings.timeout_scale).await?;
        eprintln!(
            "netconform: cluster ready after {} s",
            started.elapsed().as_secs()
        );
    }
    // Only on a cluster this run created: one it reuses had its setup when it was made.
    let setup = match (&settings.kind_setup, cluster.created_by_us) {
        (Some(hook), true) => Some(
            setup::run_setup(
                runner.as_ref(),
                hook,
                &cluster.name,
                &cluster.kubeconfig_yaml,
                settings.timeout_scale,
            )
            .await?,
        ),
        (Some(hook), false) => {
            eprintln!(
                "netconform: NETCONFORM_KIND_SETUP={} not run: it runs only on a cluster this run creates",
                hook.display()
            );
            None
        }
        (None, _) => None,
    };
    let origin = if cluster.created_by_us {
        "created by netconform"
    } else {
        "reused"
    };
    Ok(Target {
        kind: TargetKind::Kind,
        description: format!(
            "kind cluster {:?} ({origin}) at {} ({version})",
            cluster.name, cluster.connected.server
        ),
        client: cluster.connected.client,
        created_by_us: cluster.created_by_us,
        node_image: cluster.node_image,
        server_version: Some(version),
        cluster_name: Some(cluster.name),
        context: None,
        provenance: None,
        setup,
        created,
        runner,
        double: None,
    })
}

#[cfg(test)]
mod tests {
    use super::process::ScriptedRunner;
    use super::*;

    /// No `kind` or `docker` on PATH, no kubeconfig.
    async fn resolve_bare(settings: &Settings) -> Result<Resolution, HarnessError> {
        resolve_with(
            settings,
            ScriptedRunner::new(&[]).into_arc(),
            Ok(None),
            Arc::default(),
        )
        .await
    }

    #[test]
    fn kinds_display_as_documented() {
        assert_eq!(TargetKind::Existing.to_string(), "existing");
        assert_eq!(TargetKind::Kind.to_string(), "kind");
        assert_eq!(TargetKind::Simulated.to_string(), "simulated");
    }

    #[tokio::test]
    async fn kind_target_without_binaries_is_a_kind_error() {
        let settings = Settings {
            target: TargetChoice::Kind,
            ..Settings::default()
        };
        let err = resolve_bare(&settings).await.err().unwrap();
        assert_eq!(err.exit_code(), 6);
    }

    fn unreachable_kubeconfig() -> UserKubeconfig {
        let yaml = "apiVersion: v1\nkind: Config\nclusters:\n- name: c\n  cluster:\n    server: http://127.0.0.1:1\ncontexts:\n- name: ctx\n  context:\n    cluster: c\n    user: u\ncurrent-context: ctx\nusers:\n- name: u\n  user: {}\n";
        let config = kube::config::Kubeconfig::from_yaml(yaml).unwrap();
        Ok(Some((
            config,
            kubeconfig::KubeconfigSource::Inline("test".into()),
        )))
    }

    #[tokio::test]
    async fn auto_says_what_it_tried_when_nothing_is_there() {
        let settings = Settings::default();
        let runner = ScriptedRunner::new(&["docker"]).into_arc();
        let Resolution::NoTarget { reason, hint } = resolve_with(
            &settings,
            runner.clone(),
            unreachable_kubeconfig(),
            Arc::default(),
        )
        .await
        .unwrap() else {
            panic!("expected no target")
        };
        // The context exists but does not answer: fixing it is one of the ways.
        assert!(hint.contains("point the kubeconfig's context"), "{hint}");
        for way in ["kind", "testbed/build", "NETCONFORM_TARGET=sim"] {
            assert!(hint.contains(way), "{way} not in {hint}");
        }
        assert!(
            reason.starts_with("tried: the kubernetes api at http://127.0.0.1:1/ is unreachable: "),
            "{reason}"
        );
        assert!(reason.contains("`kind` is not on PATH"), "{reason}");
        assert!(!reason.contains('\n'));
        assert!(runner.calls().is_empty(), "nothing was run");

        let Resolution::NoTarget { reason, hint } =
            resolve_with(&settings, runner, Ok(None), Arc::default())
                .await
                .unwrap()
        else {
            panic!()
        };
        assert!(reason.starts_with("tried: no kubeconfig"), "{reason}");
        // Without a kubeconfig, NETCONFORM_TARGET=existing fails at once: not offered.
        assert!(
            !reason.contains("NETCONFORM_TARGET=existing") && !hint.contains("existing"),
            "{reason} / {hint}"
        );
        assert!(
            hint.starts_with("to get a cluster, install kind and docker"),
            "{hint}"
        );
        assert!(
            hint.ends_with("(not a cluster).") && !hint.contains('\n'),
            "{hint}"
        );
    }

    #[tokio::test]
    async fn require_cluster_turns_no_target_into_an_error() {
        let settings = Settings {
            require_cluster: true,
            ..Settings::default()
        };
        let err = resolve_bare(&settings).await.err().unwrap();
        assert_eq!(err.exit_code(), 5);
        assert!(
            err.to_string()
                .starts_with("no target cluster and NETCONFORM_REQUIRE_CLUSTER=1: tried: "),
            "{err}"
        );
    }

    #[tokio::test]
    async fn existing_target_errors() {
        let settings = Settings {
            target: TargetChoice::Existing,
            ..Settings::default()
        };
        let runner = ScriptedRunner::new(&["kind", "docker"]).into_arc();
        let err = resolve_with(&settings, runner.clone(), Ok(None), Arc::default())
            .await
            .err()
            .unwrap();
        assert_eq!(err.exit_code(), 3);
        let err = resolve_with(
            &settings,
            runner.clone(),
            unreachable_kubeconfig(),
            Arc::default(),
        )
        .await
        .err()
        .unwrap();
        assert_eq!(
            err.exit_code(),
            4,
            "existing never falls through to kind: {err}"
        );
        let broken = Err(HarnessError::BrokenKubeconfig {
            source_name: "KUBECONFIG=/x".into(),
            reason: "bad".into(),
        });
        let auto = Settings::default();
        let err = resolve_with(&auto, runner.clone(), broken, Arc::default())
            .await
            .err()
            .unwrap();
        assert_eq!(
            err.exit_code(),
            3,
            "a broken kubeconfig is reported even in auto mode"
        );
        assert!(runner.calls().is_empty());
    }

    /// The users' build has no double: asking for it fails closed, with how to get it and its own exit status.
    #[cfg(not(feature = "double"))]
    #[tokio::test]
    async fn sim_target_without_the_double_fails_closed() {
        let settings = Settings {
            target: TargetChoice::Sim,
            ..Settings::default()
        };
        let result = resolve_bare(&settings).await;
        let Err(err) = result else {
            panic!("a build without the double resolved NETCONFORM_TARGET=sim")
        };
        assert_eq!(err.exit_code(), crate::error::EXIT_NO_DOUBLE);
        assert!(
            err.to_string().contains("--features netconform/double"),
            "{err}"
        );
    }

    #[cfg(feature = "double")]
    #[tokio::test]
    async fn sim_target_is_labelled_simulated_and_answers() {
        let settings = Settings {
            target: TargetChoice::Sim,
            ..Settings::default()
        };
        let Resolution::Ready(target) = resolve_bare(&settings).await.unwrap() else {
            panic!("no target")
        };
        assert_eq!(target.kind, TargetKind::Simulated);
        assert!(!target.created_by_us);
        assert!(
            target
                .description
                .starts_with("netconform-double (a test double on 127.0.0.1:"),
            "{}",
            target.description
        );
        assert!(
            target
                .description
                .ends_with("simulated, not a real cluster)"),
            "{}",
            target.description
        );
        let version = target.client.apiserver_version().await.unwrap();
        assert_eq!(Some(version.git_version), target.server_version);
        target.teardown().await;
    }
}
