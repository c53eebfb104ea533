//! netconform-double: a TEST DOUBLE of a small dual-stack Kubernetes cluster.
//!
//! It is a local Kubernetes API server on 127.0.0.1 (plain HTTP, random port) backed by an
//! in-memory store and a model of the cluster's behaviour (double/src/cluster/). It runs no
//! containers and reaches no network: it exists so netconform's own tests can run offline with the
//! real `kube` client and real `kubectl`. It is not a cluster and must never be reported as one.

pub mod api_error;
pub mod cluster;
pub mod deviation;
pub mod fault;
pub mod kubeconfig;
pub mod model;
pub mod profile;
pub mod resources;
pub mod runtime;
pub mod server;
pub mod store;

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

pub use api_error::{ApiError, Cause};
pub use fault::Faults;
pub use runtime::{ContainerRuntime, ExecOutput};
pub use store::{Admission, EventType, Op, Store, StoreEvent};

/// Objects are JSON exactly as the real API serves them.
pub type Object = serde_json::Value;

/// The simulated server version reported by `/version` by default. The build metadata marks it as the double.
pub const DEFAULT_SERVER_VERSION: &str = "v1.33.1+netconform-double";
/// What every version the double serves carries, so a client can tell it from a cluster.
pub const VERSION_MARK: &str = "+netconform-double";

#[derive(Debug, thiserror::Error)]
pub enum DoubleError {
    #[error("cannot listen on 127.0.0.1: {0}")]
    Bind(#[source] std::io::Error),
    #[error("cannot write kubeconfig {path}: {source}")]
    WriteKubeconfig {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("invalid double configuration: {0}")]
    Config(String),
    #[error("cluster model: {0}")]
    Cluster(String),
    #[error("cannot seed {resource} {name}: {source}")]
    Seed {
        resource: String,
        name: String,
        #[source]
        source: ApiError,
    },
}

/// How the double behaves. `Default` is a well-behaved cluster.
#[derive(Debug, Clone)]
pub struct DoubleConfig {
    /// Named deviations from upstream behaviour the cluster model should simulate (see double/src/deviation.rs).
    pub deviations: Vec<String>,
    /// Named profiles: conforming variants of the modelled cluster (see double/src/profile.rs).
    pub profiles: Vec<String>,
    /// Injected API faults.
    pub faults: Faults,
    /// Range of the simulated delay between scheduling a pod and its containers running.
    pub pod_start_latency: (Duration, Duration),
    /// `gitVersion` served by `/version`, e.g. `v1.33.1+netconform-double` (semver with a leading `v`).
    pub server_version: String,
    /// How many past store events watches can resume from before getting 410 Gone.
    pub watch_history: usize,
    /// How often watches that asked for bookmarks get a BOOKMARK event.
    pub bookmark_interval: Duration,
}

impl Default for DoubleConfig {
    fn default() -> Self {
        DoubleConfig {
            deviations: Vec::new(),
            profiles: Vec::new(),
            faults: Faults::default(),
            pod_start_latency: (Duration::from_millis(0), Duration::from_millis(50)),
            server_version: DEFAULT_SERVER_VERSION.to_string(),
            watch_history: store::DEFAULT_HISTORY,
            bookmark_interval: Duration::from_secs(1),
        }
    }
}

/// Entry point of the test double.
pub struct Double;

impl Double {
    /// Starts the double: builds the store, installs the cluster model, binds 127.0.0.1 on a random
    /// port and serves until [`RunningDouble::shutdown`] (or drop). Must be called inside a tokio runtime.
    pub async fn start(config: DoubleConfig) -> Result<RunningDouble, DoubleError> {
        let store = Store::with_history_limit(config.watch_history);
        let runtime = cluster::install(&store, &config)?;
        Double::start_with_runtime(config, store, runtime).await
    }

    /// Starts a server over an existing store and runtime, without installing the cluster model
    /// (for tests that drive the store themselves).
    pub async fn start_with_runtime(
        config: DoubleConfig,
        store: Store,
        runtime: Arc<dyn ContainerRuntime>,
    ) -> Result<RunningDouble, DoubleError> {
        server::version_info(&config.server_version).map_err(DoubleError::Config)?;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0))
            .await
            .map_err(DoubleError::Bind)?;
        let addr = listener.local_addr().map_err(DoubleError::Bind)?;
        let server = server::spawn(listener, store.clone(), runtime.clone(), config);
        Ok(RunningDouble {
            addr,
            store,
            runtime,
            server: Some(server),
        })
    }
}

/// A double serving on 127.0.0.1.
pub struct RunningDouble {
    addr: SocketAddr,
    store: Store,
    runtime: Arc<dyn ContainerRuntime>,
    server: Option<server::ServerHandle>,
}

impl RunningDouble {
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:<port>`
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// A kubeconfig with cluster, user and context `netconform-double` (no credentials).
    pub fn kubeconfig_yaml(&self) -> String {
        kubeconfig::kubeconfig_yaml(self.addr)
    }

    pub fn write_kubeconfig(&self, path: &Path) -> Result<(), DoubleError> {
        std::fs::write(path, self.kubeconfig_yaml()).map_err(|source| {
            DoubleError::WriteKubeconfig {
                path: path.to_path_buf(),
                source,
            }
        })
    }

    /// The store behind the API (tests and the cluster model may read and write it directly).
    pub fn store(&self) -> &Store {
        &self.store
    }

    /// The host outside the cluster, on the nodes' network (what netconform's external client is on a
    /// kind cluster): its commands run in the cluster model, as pods' do.
    pub fn outside(&self) -> OutsideHost {
        OutsideHost {
            store: self.store.clone(),
            runtime: self.runtime.clone(),
        }
    }

    /// Stops serving: open watches end, then the listener closes.
    pub async fn shutdown(mut self) {
        if let Some(server) = self.server.take() {
            server.shutdown().await;
        }
    }
}

/// The double's host outside the cluster: a client (agnhost's busybox `wget`) and a listener (agnhost
/// `netexec` on 8080) on the nodes' network, outside every pod and Service range
/// (double/src/cluster/network/outside.rs).
#[derive(Clone)]
pub struct OutsideHost {
    store: Store,
    runtime: Arc<dyn ContainerRuntime>,
}

impl OutsideHost {
    /// Runs `command` on the host.
    pub fn exec(&self, command: &[String]) -> ExecOutput {
        self.runtime.exec_outside(&self.store, command)
    }

    /// Its addresses, one per IP family of the cluster.
    pub fn addresses(&self) -> Vec<std::net::IpAddr> {
        self.runtime.outside_addresses()
    }
}

impl Drop for RunningDouble {
    fn drop(&mut self) {
        if let Some(server) = self.server.take() {
            server.abort();
        }
    }
}
