//! Run settings from `NETCONFORM_*` environment variables.
//!
//! [`VARIABLES`] is the one source of truth for the names, defaults and meanings: the parser rejects any
//! other `NETCONFORM_*` name, and the table in `docs/configuration.md` is [`render_table`] (a unit test keeps
//! the two equal).

use std::path::{Path, PathBuf};
use std::time::Duration;

use crate::images::ImageMap;

/// Default kind cluster config, relative to the workspace root.
pub const DEFAULT_KIND_CONFIG: &str = "kind-configs/dual-stack.yaml";
/// The kind configs `NETCONFORM_KIND_CONFIG` names, and their files relative to the workspace root.
pub const KIND_CONFIGS: &[(&str, &str)] = &[
    ("dual-stack", DEFAULT_KIND_CONFIG),
    ("ipv4", "kind-configs/ipv4.yaml"),
    ("ipv6", "kind-configs/ipv6.yaml"),
    (
        "dual-stack-nftables",
        "kind-configs/dual-stack-nftables.yaml",
    ),
];
/// Default JUnit path, relative to the workspace root.
pub const DEFAULT_JUNIT: &str = "target/netconform/junit.xml";

/// A malformed setting: one lowercase line naming the variable, the bad value and what is accepted.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("invalid {variable}={value:?}: expected {accepted}")]
    Invalid {
        variable: String,
        value: String,
        accepted: String,
    },
    #[error("unknown environment variable {variable}={value:?}: {hint}")]
    Unknown {
        variable: String,
        value: String,
        hint: String,
    },
    #[error("conflicting settings: {0}")]
    Conflict(String),
}

/// One documented variable.
#[derive(Debug, Clone, Copy)]
pub struct VarDoc {
    pub name: &'static str,
    pub default: &'static str,
    pub meaning: &'static str,
}

/// Every variable netconform reads, in the order of the table in `docs/configuration.md`.
pub const VARIABLES: &[VarDoc] = &[
    VarDoc {
        name: "NETCONFORM_TARGET",
        default: "`auto`",
        meaning: "where to run: `auto` (the current kubeconfig context if its API answers, else a kind cluster if `kind` and `docker` are on PATH, else skip every trial), `existing`, `kind`, or `sim` (the offline test double, not a cluster)",
    },
    VarDoc {
        name: "NETCONFORM_CONTEXT",
        default: "current context",
        meaning: "kubeconfig context to use for `existing`/`auto` (the kubeconfig is `KUBECONFIG` or `~/.kube/config`)",
    },
    VarDoc {
        name: "NETCONFORM_REQUIRE_CLUSTER",
        default: "`0`",
        meaning: "`1`: fail (exit code 5 or 8) instead of skipping when there is no cluster or it lacks a capability a trial needs (one declared absent, e.g. `NETCONFORM_LOAD_BALANCER=no`, still skips)",
    },
    VarDoc {
        name: "NETCONFORM_ALLOW_DISRUPTIVE",
        default: "`0`",
        meaning: "`1`: run disruptive trials (they change cluster-wide state such as ServiceCIDRs) on a cluster netconform did not create",
    },
    VarDoc {
        name: "NETCONFORM_KEEP_CLUSTER",
        default: "`0`",
        meaning: "`1`: keep the kind cluster netconform created instead of deleting it at the end",
    },
    VarDoc {
        name: "NETCONFORM_NODE_IMAGE",
        default: "`v1.37` (kind v0.33.0's default)",
        meaning: "kind node image for a cluster netconform creates: a Kubernetes version kind v0.33.0 ships (`v1.34` to `v1.37`, or the exact patch, e.g. `v1.36.4`), resolved to the image pinned by digest in `kind-configs/README.md`, any image pinned by digest (`name:tag@sha256:...`), or a local image by `name:tag`, one no registry has a digest for (`testbed/build` makes one; checked at cluster creation); the report records it",
    },
    VarDoc {
        name: "NETCONFORM_KIND_CONFIG",
        default: "`dual-stack`",
        meaning: "kind cluster config for a cluster netconform creates: `dual-stack`, `ipv4`, `ipv6` or `dual-stack-nftables` (kube-proxy in nftables mode) (`kind-configs/<name>.yaml`), or the path of a `.yaml` file (relative paths are from the workspace root)",
    },
    VarDoc {
        name: "NETCONFORM_CLUSTER_NAME",
        default: "`netconform-<version>-<config>`, e.g. `netconform-v1-37-0-dual-stack`",
        meaning: "kind cluster name to reuse or create; the default names the node image's version and the config, so runs with different images (an upgrade gate's baseline and candidate) or configs never share a cluster",
    },
    VarDoc {
        name: "NETCONFORM_KIND_SETUP",
        default: "none",
        meaning: "path of an executable run once on a kind cluster netconform creates (never on one it reuses), when the cluster is ready and before preflight, with `KUBECONFIG` (the new cluster's kubeconfig) and `NETCONFORM_CLUSTER_NAME` set on top of the inherited environment; its output goes to stderr, a non-zero exit fails the run (exit 15) and the cluster is deleted; the report records it as `netconform.kind-setup` (`testbed/build` points it at `testbed/setup-cluster`)",
    },
    VarDoc {
        name: "NETCONFORM_JUNIT",
        default: "`target/netconform/junit.xml`",
        meaning: "JUnit XML report path; the JSON summary is written beside it with the extension `.json`",
    },
    VarDoc {
        name: "NETCONFORM_TIMEOUT_SCALE",
        default: "`1`",
        meaning: "multiplier (> 0) for every wait budget, e.g. `2` on a slow CI runner",
    },
    VarDoc {
        name: "NETCONFORM_RETRIES",
        default: "`0`",
        meaning: "reruns of a failed trial; a trial that passes on a rerun is reported as flaky",
    },
    VarDoc {
        name: "NETCONFORM_LOAD_BALANCER",
        default: "`auto`",
        meaning: "whether a LoadBalancer controller serves the cluster: `auto` (yes if a LoadBalancer Service already has an ingress address, or cloud-provider-kind runs on the host of a kind cluster netconform created or reused), `yes`, `no`",
    },
    VarDoc {
        name: "NETCONFORM_NETWORK_POLICY",
        default: "`auto`",
        meaning: "whether NetworkPolicy is enforced: `auto` (yes if a known enforcing network plugin runs), `yes`, `no`",
    },
    VarDoc {
        name: "NETCONFORM_SIM_DEVIATIONS",
        default: "none",
        meaning: "`sim` only: comma-separated deviations the test double injects (to prove trials catch them)",
    },
    VarDoc {
        name: "NETCONFORM_SIM_PROFILES",
        default: "none",
        meaning: "`sim` only: comma-separated profiles, conforming variants of the test double's cluster on which every trial must pass or be skipped: `ipv6-primary`, `ipv4-only`, `node-resolv-search-dot`, `node-resolv-options-lines`, `coredns-pods-disabled`, `servicecidr-allocator-lag`, `load-balancer-fresh`, `slow-namespace-teardown` (`cargo run -p netconform --features double -- sim --list-profiles`)",
    },
    VarDoc {
        name: "NETCONFORM_SIM_FAULTS",
        default: "none",
        meaning: "`sim` only: transport faults, e.g. `errors=0.1,watch-drop=2s,latency=5ms,seed=1`",
    },
    VarDoc {
        name: "NETCONFORM_SIM_POD_START",
        default: "the double's default",
        meaning: "`sim` only: pod start latency range, e.g. `1s-2s` (or one duration)",
    },
    VarDoc {
        name: "NETCONFORM_IMAGES",
        default: "none",
        meaning: "path of an image map (YAML: the docs' image -> `image:` to run instead, and `standIn:` when it is another image, not a mirror), applied to every object created and listed in the report; checks whose claim is about a stood-in image's own behaviour are skipped, unless its `reproduces:` names that part (e.g. `[nslookup]`) (`testbed/build` writes one)",
    },
    VarDoc {
        name: "NETCONFORM_TESTBED",
        default: "none",
        meaning: "path of the `key=value` file `testbed/build` writes (what it built: versions, sources, image IDs), recorded in the report's properties as `netconform.testbed.<key>`",
    },
    // testbed/build's own setting: known here so that exporting it for the build does not make the suite
    // refuse the environment as holding an unknown NETCONFORM_* variable.
    VarDoc {
        name: "NETCONFORM_TESTBED_CACHE",
        default: "`~/.cache/netconform-testbed`",
        meaning: "read by `testbed/build` only (where it builds and caches); the suite accepts it and ignores it",
    },
    VarDoc {
        name: "NETCONFORM_RUN_ID",
        default: "random",
        meaning: "run id put in every object's `netconform.io/run-id` label (lowercase letters, digits, `-`; at most 20 characters)",
    },
];

/// The configuration table of `docs/configuration.md` (markdown), rendered from [`VARIABLES`].
pub fn render_table() -> String {
    let mut out = String::from("| variable | default | meaning |\n| --- | --- | --- |\n");
    for var in VARIABLES {
        out.push_str(&format!(
            "| `{}` | {} | {} |\n",
            var.name, var.default, var.meaning
        ));
    }
    out
}

/// `NETCONFORM_TARGET`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TargetChoice {
    Auto,
    Existing,
    Kind,
    Sim,
}

/// A capability the harness detects, or that the user states (`NETCONFORM_LOAD_BALANCER`, `..._NETWORK_POLICY`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Toggle {
    Auto,
    Yes,
    No,
}

/// `NETCONFORM_SIM_FAULTS`: transport faults the test double injects.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct SimFaults {
    /// Fraction (0..=1) of requests answered with a transient error.
    pub error_rate: f64,
    /// Watches are dropped after this long.
    pub watch_drop: Option<Duration>,
    /// Added to every response.
    pub latency: Option<Duration>,
    pub seed: Option<u64>,
}

impl SimFaults {
    /// The faults in `NETCONFORM_SIM_FAULTS` syntax, for the reports; `None` when there are none.
    pub fn describe(&self) -> Option<String> {
        let mut parts = Vec::new();
        if self.error_rate > 0.0 {
            parts.push(format!("errors={}", self.error_rate));
        }
        if let Some(d) = self.watch_drop {
            parts.push(format!("watch-drop={}ms", d.as_millis()));
        }
        if let Some(d) = self.latency {
            parts.push(format!("latency={}ms", d.as_millis()));
        }
        if parts.is_empty() {
            return None;
        }
        if let Some(seed) = self.seed {
            parts.push(format!("seed={seed}"));
        }
        Some(parts.join(","))
    }
}

/// Everything a run is configured with.
#[derive(Debug, Clone, PartialEq)]
pub struct Settings {
    pub target: TargetChoice,
    pub context: Option<String>,
    pub require_cluster: bool,
    pub allow_disruptive: bool,
    pub keep_cluster: bool,
    /// A digest-pinned image (versions are resolved when parsed); `None`: the pinned default,
    /// [`crate::cluster::node_image::DEFAULT_NODE_IMAGE`].
    pub node_image: Option<String>,
    pub kind_config: PathBuf,
    /// `None`: derived from the node image and the config ([`crate::cluster::kind::cluster_name`]).
    pub cluster_name: Option<String>,
    /// `NETCONFORM_KIND_SETUP` ([`crate::cluster::setup`]); checked to be executable by [`Settings::load_files`].
    pub kind_setup: Option<PathBuf>,
    pub junit_path: PathBuf,
    pub timeout_scale: f64,
    pub retries: u32,
    pub load_balancer: Toggle,
    pub network_policy: Toggle,
    pub sim_deviations: Vec<String>,
    pub sim_profiles: Vec<String>,
    pub sim_faults: SimFaults,
    pub sim_pod_start: Option<(Duration, Duration)>,
    pub run_id: Option<String>,
    /// `NETCONFORM_IMAGES` (read by [`Settings::load_files`]).
    pub images_path: Option<PathBuf>,
    pub images: ImageMap,
    /// `NETCONFORM_TESTBED` (read by [`Settings::load_files`]): what the offline testbed built.
    pub testbed_path: Option<PathBuf>,
    pub testbed: Vec<(String, String)>,
}

impl Default for Settings {
    fn default() -> Self {
        Settings {
            target: TargetChoice::Auto,
            context: None,
            require_cluster: false,
            allow_disruptive: false,
            keep_cluster: false,
            node_image: None,
            kind_config: PathBuf::from(DEFAULT_KIND_CONFIG),
            cluster_name: None,
            kind_setup: None,
            junit_path: PathBuf::from(DEFAULT_JUNIT),
            timeout_scale: 1.0,
            retries: 0,
            load_balancer: Toggle::Auto,
            network_policy: Toggle::Auto,
            sim_deviations: Vec::new(),
            sim_profiles: Vec::new(),
            sim_faults: SimFaults::default(),
            sim_pod_start: None,
            run_id: None,
            images_path: None,
            images: ImageMap::default(),
            testbed_path: None,
            testbed: Vec::new(),
        }
    }
}

impl Settings {
    /// Reads the process environment; relative paths are anchored at the workspace root.
    pub fn from_env() -> Result<Settings, ConfigError> {
        // Non-UTF-8 variables cannot be NETCONFORM_* settings we understand; vars_os keeps us panic-free.
        let vars = std::env::vars_os()
            .filter_map(|(k, v)| Some((k.into_string().ok()?, v.to_string_lossy().into_owned())));
        let settings = Settings::from_vars(vars)?;
        let root = std::env::current_dir()
            .map(|cwd| workspace_root(&cwd))
            .unwrap_or_else(|_| PathBuf::from("."));
        let mut settings = settings.anchored_at(&root);
        settings.load_files()?;
        Ok(settings)
    }

    /// Reads the files the settings name (`NETCONFORM_IMAGES`, `NETCONFORM_TESTBED`) and checks that
    /// `NETCONFORM_KIND_SETUP` is an executable file; a missing or malformed file is an invalid setting
    /// (found before any cluster is created).
    pub fn load_files(&mut self) -> Result<(), ConfigError> {
        if let Some(path) = &self.kind_setup
            && !is_executable_file(path)
        {
            return Err(invalid(
                "NETCONFORM_KIND_SETUP",
                &path.display().to_string(),
                "the path of an executable file",
            ));
        }
        if let Some(path) = &self.images_path {
            self.images = ImageMap::load(path).map_err(|e| {
                invalid(
                    "NETCONFORM_IMAGES",
                    &path.display().to_string(),
                    &format!("a readable image map ({e})"),
                )
            })?;
        }
        if let Some(path) = &self.testbed_path {
            let text = std::fs::read_to_string(path).map_err(|e| {
                invalid(
                    "NETCONFORM_TESTBED",
                    &path.display().to_string(),
                    &format!("a readable file ({e})"),
                )
            })?;
            self.testbed = text
                .lines()
                .filter_map(|line| line.split_once('='))
                .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
                .collect();
        }
        Ok(())
    }

    /// Parses the given variables (non-`NETCONFORM_*` ones are ignored). Empty values count as unset.
    pub fn from_vars(
        vars: impl Iterator<Item = (String, String)>,
    ) -> Result<Settings, ConfigError> {
        let mut s = Settings::default();
        let mut vars: Vec<(String, String)> =
            vars.filter(|(k, _)| k.starts_with("NETCONFORM_")).collect();
        // Deterministic error order when several variables are wrong.
        vars.sort();
        for (name, raw) in vars {
            let value = raw.trim();
            if value.is_empty() {
                if VARIABLES.iter().any(|v| v.name == name) {
                    continue;
                }
                return Err(unknown(&name, &raw));
            }
            match name.as_str() {
                "NETCONFORM_TARGET" => {
                    s.target = match value {
                        "auto" => TargetChoice::Auto,
                        "existing" => TargetChoice::Existing,
                        "kind" => TargetChoice::Kind,
                        "sim" => TargetChoice::Sim,
                        _ => return Err(invalid(&name, value, "one of auto, existing, kind, sim")),
                    }
                }
                "NETCONFORM_CONTEXT" => s.context = Some(value.to_string()),
                "NETCONFORM_REQUIRE_CLUSTER" => s.require_cluster = flag(&name, value)?,
                "NETCONFORM_ALLOW_DISRUPTIVE" => s.allow_disruptive = flag(&name, value)?,
                "NETCONFORM_KEEP_CLUSTER" => s.keep_cluster = flag(&name, value)?,
                "NETCONFORM_NODE_IMAGE" => {
                    match crate::cluster::node_image::resolve_node_image(value) {
                        Some(image) if !image.contains(char::is_whitespace) => {
                            s.node_image = Some(image)
                        }
                        _ => {
                            return Err(invalid(
                                &name,
                                value,
                                &crate::cluster::node_image::accepted_node_images(),
                            ));
                        }
                    }
                }
                "NETCONFORM_KIND_CONFIG" => s.kind_config = parse_kind_config(&name, value)?,
                "NETCONFORM_CLUSTER_NAME" => {
                    if !is_dns_label(value) {
                        return Err(invalid(
                            &name,
                            value,
                            "a kind cluster name: lowercase letters, digits and '-', at most 63 characters",
                        ));
                    }
                    s.cluster_name = Some(value.to_string());
                }
                "NETCONFORM_KIND_SETUP" => s.kind_setup = Some(PathBuf::from(value)),
                "NETCONFORM_JUNIT" => s.junit_path = PathBuf::from(value),
                "NETCONFORM_TIMEOUT_SCALE" => {
                    s.timeout_scale = match value.parse::<f64>() {
                        Ok(f) if f.is_finite() && f > 0.0 && f <= 100.0 => f,
                        _ => {
                            return Err(invalid(
                                &name,
                                value,
                                "a number greater than 0 and at most 100, e.g. 1.5",
                            ));
                        }
                    }
                }
                "NETCONFORM_RETRIES" => {
                    s.retries = match value.parse::<u32>() {
                        Ok(n) if n <= 10 => n,
                        _ => return Err(invalid(&name, value, "a whole number from 0 to 10")),
                    }
                }
                "NETCONFORM_LOAD_BALANCER" => s.load_balancer = toggle(&name, value)?,
                "NETCONFORM_NETWORK_POLICY" => s.network_policy = toggle(&name, value)?,
                "NETCONFORM_SIM_DEVIATIONS" => {
                    s.sim_deviations = names(value);
                    // An unknown name is a bad setting (exit 2), not a double that failed to start.
                    netconform_deviation::parse_names(&s.sim_deviations)
                        .map_err(|e| {
                            invalid(
                                &name,
                                value,
                                &format!(
                                    "comma-separated deviation names ({e}; `netconform sim --list-deviations` describes them)"
                                ),
                            )
                        })?;
                }
                "NETCONFORM_SIM_PROFILES" => s.sim_profiles = names(value),
                "NETCONFORM_SIM_FAULTS" => s.sim_faults = parse_faults(&name, value)?,
                "NETCONFORM_SIM_POD_START" => s.sim_pod_start = Some(parse_range(&name, value)?),
                "NETCONFORM_IMAGES" => s.images_path = Some(PathBuf::from(value)),
                "NETCONFORM_TESTBED" => s.testbed_path = Some(PathBuf::from(value)),
                "NETCONFORM_TESTBED_CACHE" => {}
                "NETCONFORM_RUN_ID" => {
                    if !is_run_id(value) {
                        return Err(invalid(
                            &name,
                            value,
                            "lowercase letters, digits and '-' (at most 20 characters, starting and ending with a letter or digit)",
                        ));
                    }
                    s.run_id = Some(value.to_string());
                }
                _ => return Err(unknown(&name, &raw)),
            }
        }
        if s.require_cluster && s.target == TargetChoice::Sim {
            return Err(ConfigError::Conflict(
                "NETCONFORM_REQUIRE_CLUSTER=1 with NETCONFORM_TARGET=sim: the test double is not a cluster".to_string(),
            ));
        }
        Ok(s)
    }

    /// Joins relative paths onto `root`.
    pub fn anchored_at(mut self, root: &Path) -> Settings {
        if self.kind_config.is_relative() {
            self.kind_config = root.join(&self.kind_config);
        }
        if self.junit_path.is_relative() {
            self.junit_path = root.join(&self.junit_path);
        }
        for path in [
            &mut self.images_path,
            &mut self.testbed_path,
            &mut self.kind_setup,
        ]
        .into_iter()
        .flatten()
        {
            if path.is_relative() {
                *path = root.join(&*path);
            }
        }
        self
    }

    /// The JUnit XML path.
    pub fn junit_path(&self) -> PathBuf {
        self.junit_path.clone()
    }

    /// The JSON summary path: the JUnit path with the extension `.json` (`junit.xml` -> `junit.json`).
    pub fn summary_path(&self) -> PathBuf {
        self.junit_path.with_extension("json")
    }

    /// `budget` multiplied by `NETCONFORM_TIMEOUT_SCALE`.
    pub fn scaled(&self, budget: Duration) -> Duration {
        budget.mul_f64(self.timeout_scale)
    }
}

/// The nearest ancestor of `start` whose `Cargo.toml` declares a `[workspace]`; `start` if there is none.
/// `cargo test` runs each crate's tests in that crate's directory, and the defaults are workspace paths.
pub fn workspace_root(start: &Path) -> PathBuf {
    for dir in start.ancestors() {
        if let Ok(text) = std::fs::read_to_string(dir.join("Cargo.toml"))
            && text.lines().any(|l| l.trim() == "[workspace]")
        {
            return dir.to_path_buf();
        }
    }
    start.to_path_buf()
}

/// A regular file (or a link to one) with an execute bit.
fn is_executable_file(path: &Path) -> bool {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        path.metadata()
            .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
    }
    #[cfg(not(unix))]
    {
        path.is_file()
    }
}

/// A comma-separated list of names, blanks dropped (the double validates them when it starts).
fn names(value: &str) -> Vec<String> {
    value
        .split(',')
        .map(str::trim)
        .filter(|d| !d.is_empty())
        .map(String::from)
        .collect()
}

/// Parses `250ms`, `2s`, `1.5s`, `3m`, `1h`, `500us`.
pub fn parse_duration(text: &str) -> Option<Duration> {
    let text = text.trim();
    let split = text.find(|c: char| !(c.is_ascii_digit() || c == '.'))?;
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().ok()?;
    let seconds = match unit {
        "us" | "µs" => number / 1_000_000.0,
        "ms" => number / 1000.0,
        "s" => number,
        "m" => number * 60.0,
        "h" => number * 3600.0,
        _ => return None,
    };
    Duration::try_from_secs_f64(seconds).ok()
}

/// `NETCONFORM_KIND_CONFIG`: a name from [`KIND_CONFIGS`], or the path of a YAML file. A bare word that is
/// not a known name is a typo (`ipv5`), not a file in the current directory.
fn parse_kind_config(name: &str, value: &str) -> Result<PathBuf, ConfigError> {
    if let Some((_, path)) = KIND_CONFIGS.iter().find(|(known, _)| *known == value) {
        return Ok(PathBuf::from(path));
    }
    let path = PathBuf::from(value);
    match path.extension().and_then(|e| e.to_str()) {
        Some("yaml" | "yml") => Ok(path),
        _ => {
            let names: Vec<&str> = KIND_CONFIGS.iter().map(|(known, _)| *known).collect();
            Err(invalid(
                name,
                value,
                &format!(
                    "one of {}, or the path of a kind config file (.yaml)",
                    names.join(", ")
                ),
            ))
        }
    }
}

const DURATION_HINT: &str = "a duration with a unit: us, ms, s, m or h, e.g. 250ms";

fn parse_range(name: &str, value: &str) -> Result<(Duration, Duration), ConfigError> {
    let accepted = "a duration or a range like 1s-2s (units us, ms, s, m, h)";
    let (low, high) = match value.split_once('-') {
        Some((a, b)) => (parse_duration(a), parse_duration(b)),
        None => (parse_duration(value), parse_duration(value)),
    };
    match (low, high) {
        (Some(low), Some(high)) if low <= high => Ok((low, high)),
        _ => Err(invalid(name, value, accepted)),
    }
}

fn parse_faults(name: &str, value: &str) -> Result<SimFaults, ConfigError> {
    let accepted = "comma-separated errors=<0..1>, watch-drop=<duration>, latency=<duration>, seed=<integer>, e.g. errors=0.1,watch-drop=2s,latency=5ms,seed=1";
    let mut faults = SimFaults::default();
    for part in value.split(',').map(str::trim).filter(|p| !p.is_empty()) {
        let Some((key, val)) = part.split_once('=') else {
            return Err(invalid(name, value, accepted));
        };
        let val = val.trim();
        match key.trim() {
            "errors" => match val.parse::<f64>() {
                Ok(f) if (0.0..=1.0).contains(&f) => faults.error_rate = f,
                _ => {
                    return Err(invalid(
                        name,
                        value,
                        &format!("errors= a fraction from 0 to 1 (in {accepted})"),
                    ));
                }
            },
            "watch-drop" => {
                faults.watch_drop =
                    Some(parse_duration(val).ok_or_else(|| {
                        invalid(name, value, &format!("watch-drop= {DURATION_HINT}"))
                    })?)
            }
            "latency" => {
                faults.latency =
                    Some(parse_duration(val).ok_or_else(|| {
                        invalid(name, value, &format!("latency= {DURATION_HINT}"))
                    })?)
            }
            "seed" => {
                faults.seed = Some(
                    val.parse()
                        .map_err(|_| invalid(name, value, "seed= a whole number"))?,
                )
            }
            _ => return Err(invalid(name, value, accepted)),
        }
    }
    Ok(faults)
}

fn flag(name: &str, value: &str) -> Result<bool, ConfigError> {
    match value {
        "1" | "true" | "yes" => Ok(true),
        "0" | "false" | "no" => Ok(false),
        _ => Err(invalid(name, value, "0 or 1")),
    }
}

fn toggle(name: &str, value: &str) -> Result<Toggle, ConfigError> {
    match value {
        "auto" => Ok(Toggle::Auto),
        "yes" | "1" | "true" => Ok(Toggle::Yes),
        "no" | "0" | "false" => Ok(Toggle::No),
        _ => Err(invalid(name, value, "one of auto, yes, no")),
    }
}

fn is_dns_label(value: &str) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty()
        && bytes.len() <= 63
        && bytes
            .iter()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || *b == b'-')
        && bytes.first() != Some(&b'-')
        && bytes.last() != Some(&b'-')
}

/// A run id as `NETCONFORM_RUN_ID` takes it: a DNS label of at most 20 characters (it goes into names).
pub fn is_run_id(value: &str) -> bool {
    is_dns_label(value) && value.len() <= 20
}

fn invalid(name: &str, value: &str, accepted: &str) -> ConfigError {
    ConfigError::Invalid {
        variable: name.to_string(),
        value: value.to_string(),
        accepted: accepted.to_string(),
    }
}

fn unknown(name: &str, value: &str) -> ConfigError {
    let closest = VARIABLES
        .iter()
        .map(|v| (edit_distance(name, v.name), v.name))
        .min();
    let hint = match closest {
        Some((d, known)) if d <= 3 => format!("did you mean {known}?"),
        _ => format!(
            "known variables are {}",
            VARIABLES
                .iter()
                .map(|v| v.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    };
    ConfigError::Unknown {
        variable: name.to_string(),
        value: value.to_string(),
        hint,
    }
}

/// Levenshtein distance, for "did you mean" on a misspelt variable.
fn edit_distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut prev = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let cur = row[j + 1];
            row[j + 1] = if ca == *cb {
                prev
            } else {
                1 + prev.min(row[j]).min(row[j + 1])
            };
            prev = cur;
        }
    }
    row[b.len()]
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    fn parse(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(pairs.iter().map(|(k, v)| (k.to_string(), v.to_string())))
    }

    #[test]
    fn defaults_without_variables() {
        let s = parse(&[("PATH", "/bin"), ("KUBECONFIG", "/x")]).unwrap();
        assert_eq!(s, Settings::default());
        assert_eq!(s.target, TargetChoice::Auto);
        assert_eq!(
            s.cluster_name, None,
            "derived from the image and the config"
        );
        assert_eq!(s.node_image, None, "kind's default, pinned");
        assert_eq!(s.kind_config, PathBuf::from("kind-configs/dual-stack.yaml"));
        assert_eq!(
            s.summary_path(),
            PathBuf::from("target/netconform/junit.json")
        );
        assert_eq!(s.timeout_scale, 1.0);
        assert_eq!(s.retries, 0);
    }

    #[test]
    fn parses_every_variable() {
        let s = parse(&[
            ("NETCONFORM_TARGET", "kind"),
            ("NETCONFORM_CONTEXT", "kind-netconform"),
            ("NETCONFORM_REQUIRE_CLUSTER", "1"),
            ("NETCONFORM_ALLOW_DISRUPTIVE", "1"),
            ("NETCONFORM_KEEP_CLUSTER", "true"),
            ("NETCONFORM_NODE_IMAGE", "v1.36"),
            ("NETCONFORM_KIND_CONFIG", "/tmp/k.yaml"),
            ("NETCONFORM_CLUSTER_NAME", "nc-2"),
            ("NETCONFORM_JUNIT", "out/report.xml"),
            ("NETCONFORM_TIMEOUT_SCALE", "2.5"),
            ("NETCONFORM_RETRIES", "2"),
            ("NETCONFORM_LOAD_BALANCER", "yes"),
            ("NETCONFORM_NETWORK_POLICY", "no"),
            ("NETCONFORM_RUN_ID", "ci-42"),
        ])
        .unwrap();
        assert_eq!(s.target, TargetChoice::Kind);
        assert_eq!(s.context.as_deref(), Some("kind-netconform"));
        assert!(s.require_cluster && s.allow_disruptive && s.keep_cluster);
        assert_eq!(
            s.node_image.as_deref(),
            Some(
                "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed"
            )
        );
        assert_eq!(s.kind_config, PathBuf::from("/tmp/k.yaml"));
        assert_eq!(s.cluster_name.as_deref(), Some("nc-2"));
        assert_eq!(s.summary_path(), PathBuf::from("out/report.json"));
        assert_eq!(s.timeout_scale, 2.5);
        assert_eq!(s.scaled(Duration::from_secs(10)), Duration::from_secs(25));
        assert_eq!(s.retries, 2);
        assert_eq!(
            (s.load_balancer, s.network_policy),
            (Toggle::Yes, Toggle::No)
        );
        assert_eq!(s.run_id.as_deref(), Some("ci-42"));
    }

    #[test]
    fn parses_sim_settings() {
        let s = parse(&[
            ("NETCONFORM_TARGET", "sim"),
            (
                "NETCONFORM_SIM_DEVIATIONS",
                "hosts-missing-header, ,hosts-no-fqdn",
            ),
            (
                "NETCONFORM_SIM_FAULTS",
                "errors=0.1,watch-drop=2s,latency=5ms,seed=1",
            ),
            ("NETCONFORM_SIM_POD_START", "1s-2s"),
            (
                "NETCONFORM_SIM_PROFILES",
                "ipv6-primary,node-resolv-search-dot",
            ),
        ])
        .unwrap();
        assert_eq!(
            s.sim_deviations,
            vec!["hosts-missing-header", "hosts-no-fqdn"]
        );
        let err = parse(&[("NETCONFORM_SIM_DEVIATIONS", "nonexistent")]).unwrap_err();
        assert_eq!(err.exit_code(), 2, "an unknown deviation is a bad setting");
        assert!(
            err.to_string()
                .starts_with("invalid NETCONFORM_SIM_DEVIATIONS=\"nonexistent\": expected comma-separated deviation names (unknown deviation \"nonexistent\""),
            "{err}"
        );
        assert_eq!(
            s.sim_profiles,
            vec!["ipv6-primary", "node-resolv-search-dot"]
        );
        assert_eq!(
            s.sim_faults,
            SimFaults {
                error_rate: 0.1,
                watch_drop: Some(Duration::from_secs(2)),
                latency: Some(Duration::from_millis(5)),
                seed: Some(1)
            }
        );
        assert_eq!(
            s.sim_pod_start,
            Some((Duration::from_secs(1), Duration::from_secs(2)))
        );
        let one = parse(&[("NETCONFORM_SIM_POD_START", "250ms")]).unwrap();
        assert_eq!(
            one.sim_pod_start,
            Some((Duration::from_millis(250), Duration::from_millis(250)))
        );
    }

    #[test]
    fn empty_values_count_as_unset() {
        let s = parse(&[("NETCONFORM_TARGET", ""), ("NETCONFORM_CONTEXT", "  ")]).unwrap();
        assert_eq!(s, Settings::default());
    }

    #[test]
    fn malformed_values_name_variable_value_and_accepted_values() {
        let cases: &[(&str, &str, &str)] = &[
            (
                "NETCONFORM_TARGET",
                "minikube",
                "invalid NETCONFORM_TARGET=\"minikube\": expected one of auto, existing, kind, sim",
            ),
            (
                "NETCONFORM_REQUIRE_CLUSTER",
                "maybe",
                "invalid NETCONFORM_REQUIRE_CLUSTER=\"maybe\": expected 0 or 1",
            ),
            (
                "NETCONFORM_TIMEOUT_SCALE",
                "0",
                "invalid NETCONFORM_TIMEOUT_SCALE=\"0\"",
            ),
            (
                "NETCONFORM_TIMEOUT_SCALE",
                "fast",
                "expected a number greater than 0",
            ),
            (
                "NETCONFORM_RETRIES",
                "-1",
                "invalid NETCONFORM_RETRIES=\"-1\": expected a whole number from 0 to 10",
            ),
            (
                "NETCONFORM_SIM_FAULTS",
                "errors=2",
                "errors= a fraction from 0 to 1",
            ),
            (
                "NETCONFORM_SIM_FAULTS",
                "latency=5",
                "latency= a duration with a unit",
            ),
            (
                "NETCONFORM_SIM_FAULTS",
                "jitter=1s",
                "invalid NETCONFORM_SIM_FAULTS=\"jitter=1s\": expected comma-separated",
            ),
            (
                "NETCONFORM_SIM_POD_START",
                "2s-1s",
                "expected a duration or a range like 1s-2s",
            ),
            (
                "NETCONFORM_LOAD_BALANCER",
                "metallb",
                "expected one of auto, yes, no",
            ),
            (
                "NETCONFORM_CLUSTER_NAME",
                "Net_Conform",
                "expected a kind cluster name",
            ),
            (
                "NETCONFORM_RUN_ID",
                "UPPER",
                "invalid NETCONFORM_RUN_ID=\"UPPER\"",
            ),
        ];
        for (name, value, want) in cases {
            let err = parse(&[(name, value)]).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{name}={value}: got {err:?}, want it to contain {want:?}"
            );
            assert!(!err.contains('\n'), "one line: {err:?}");
            assert!(
                err.starts_with(|c: char| c.is_lowercase()),
                "lowercase: {err:?}"
            );
        }
    }

    #[test]
    fn unknown_variables_are_rejected_with_a_suggestion() {
        let err = parse(&[("NETCONFORM_TARGE", "kind")])
            .unwrap_err()
            .to_string();
        assert_eq!(
            err,
            "unknown environment variable NETCONFORM_TARGE=\"kind\": did you mean NETCONFORM_TARGET?"
        );
        let err = parse(&[("NETCONFORM_WHATEVER_ELSE_ENTIRELY", "1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("known variables are NETCONFORM_TARGET, "),
            "{err}"
        );
    }

    #[test]
    fn node_images_are_versions_kind_ships_or_pinned_by_digest() {
        let image = |value: &str| parse(&[("NETCONFORM_NODE_IMAGE", value)]).map(|s| s.node_image);
        let v136 = "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed";
        for shorthand in ["v1.36", "1.36", "v1.36.4", "1.36.4", "kindest/node:v1.36.4"] {
            assert_eq!(
                image(shorthand).unwrap().as_deref(),
                Some(v136),
                "{shorthand}"
            );
        }
        let own = "registry.example:5000/team/node:v1.38.0-rc.1@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef";
        assert_eq!(
            image(own).unwrap().as_deref(),
            Some(own),
            "any digest-pinned image"
        );
        // A local image by name:tag (testbed/build's); that it is local is checked when the cluster is created.
        let local = "netconform.local/kind-node:v1.37.2";
        assert_eq!(image(local).unwrap().as_deref(), Some(local));
        for bad in [
            "kindest/node:v1.36.1", // a tag, not pinned, not a version kind v0.33.0 ships
            "v1.33",                // older than kind v0.33.0's images
            "v1.36.5",              // not the patch kind ships
            "kindest/node:v1.37.0@sha256:A1ED", // digest too short and uppercase
            "kindest/node:v1.37.0@sha256:", // no digest
            "@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef", // no name
            "kindest/node v1.37",
        ] {
            let err = image(bad).unwrap_err();
            assert_eq!(err.exit_code(), crate::error::EXIT_CONFIG);
            let line = err.to_string();
            assert!(
                line.starts_with(&format!("invalid NETCONFORM_NODE_IMAGE={bad:?}: expected a Kubernetes version kind v0.33.0 ships, v1.37 (v1.37.0), v1.36 (v1.36.4), v1.35 (v1.35.8), v1.34 (v1.34.11), or an image pinned by digest")),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[test]
    fn kind_configs_are_names_or_yaml_paths() {
        let config =
            |value: &str| parse(&[("NETCONFORM_KIND_CONFIG", value)]).map(|s| s.kind_config);
        assert_eq!(
            config("dual-stack").unwrap(),
            PathBuf::from("kind-configs/dual-stack.yaml")
        );
        assert_eq!(
            config("ipv4").unwrap(),
            PathBuf::from("kind-configs/ipv4.yaml")
        );
        assert_eq!(
            config("ipv6").unwrap(),
            PathBuf::from("kind-configs/ipv6.yaml")
        );
        assert_eq!(config("my/kind.yml").unwrap(), PathBuf::from("my/kind.yml"));
        let err = config("ipv5").unwrap_err().to_string();
        assert_eq!(
            err,
            "invalid NETCONFORM_KIND_CONFIG=\"ipv5\": expected one of dual-stack, ipv4, ipv6, dual-stack-nftables, or the path of a kind config file (.yaml)"
        );
        // Every named config exists (the kind module's tests parse them).
        let root = workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        for (name, path) in KIND_CONFIGS {
            assert!(root.join(path).is_file(), "{name}: {path}");
        }
    }

    #[test]
    fn require_cluster_conflicts_with_sim() {
        let err = parse(&[
            ("NETCONFORM_TARGET", "sim"),
            ("NETCONFORM_REQUIRE_CLUSTER", "1"),
        ])
        .unwrap_err();
        assert!(matches!(err, ConfigError::Conflict(_)), "{err}");
    }

    #[test]
    fn every_documented_variable_is_parsed() {
        // A documented variable the parser does not handle would be rejected as unknown.
        let samples = [
            ("NETCONFORM_TARGET", "existing"),
            ("NETCONFORM_CONTEXT", "c"),
            ("NETCONFORM_REQUIRE_CLUSTER", "0"),
            ("NETCONFORM_ALLOW_DISRUPTIVE", "0"),
            ("NETCONFORM_KEEP_CLUSTER", "0"),
            ("NETCONFORM_NODE_IMAGE", "v1.37"),
            ("NETCONFORM_KIND_CONFIG", "k.yaml"),
            ("NETCONFORM_CLUSTER_NAME", "n"),
            ("NETCONFORM_KIND_SETUP", "testbed/setup-cluster"),
            ("NETCONFORM_JUNIT", "j.xml"),
            ("NETCONFORM_TIMEOUT_SCALE", "1"),
            ("NETCONFORM_RETRIES", "1"),
            ("NETCONFORM_LOAD_BALANCER", "auto"),
            ("NETCONFORM_NETWORK_POLICY", "auto"),
            ("NETCONFORM_SIM_DEVIATIONS", "hosts-no-fqdn"),
            ("NETCONFORM_SIM_PROFILES", "ipv6-primary"),
            ("NETCONFORM_SIM_FAULTS", "seed=3"),
            ("NETCONFORM_SIM_POD_START", "1s"),
            ("NETCONFORM_RUN_ID", "r1"),
            ("NETCONFORM_IMAGES", "images.yaml"),
            ("NETCONFORM_TESTBED", "testbed.properties"),
            ("NETCONFORM_TESTBED_CACHE", "/tmp/testbed"),
        ];
        assert_eq!(samples.len(), VARIABLES.len());
        for var in VARIABLES {
            let (name, value) = samples.iter().find(|(n, _)| *n == var.name).unwrap();
            parse(&[(name, value)]).unwrap_or_else(|e| panic!("{name}: {e}"));
        }
    }

    #[test]
    fn anchors_relative_paths_at_the_workspace_root() {
        let root = workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        assert!(root.join("harness").is_dir(), "workspace root {root:?}");
        let s = Settings::default().anchored_at(&root);
        assert_eq!(s.kind_config, root.join("kind-configs/dual-stack.yaml"));
        assert_eq!(s.junit_path, root.join("target/netconform/junit.xml"));
        let abs = parse(&[("NETCONFORM_JUNIT", "/tmp/j.xml")])
            .unwrap()
            .anchored_at(&root);
        assert_eq!(abs.junit_path, PathBuf::from("/tmp/j.xml"));
    }

    /// `NETCONFORM_KIND_SETUP` is anchored at the workspace root and must name an executable file: a typo is
    /// an invalid setting (exit 2) before any cluster is created, not a failure after.
    #[cfg(unix)]
    #[test]
    fn kind_setup_must_be_an_executable_file() {
        let root = workspace_root(Path::new(env!("CARGO_MANIFEST_DIR")));
        let mut s = parse(&[("NETCONFORM_KIND_SETUP", "testbed/setup-cluster")])
            .unwrap()
            .anchored_at(&root);
        assert_eq!(s.kind_setup, Some(root.join("testbed/setup-cluster")));
        s.load_files().unwrap();
        for not_executable in ["testbed/README.md", "testbed/no-such-file", "testbed"] {
            let mut s = parse(&[("NETCONFORM_KIND_SETUP", not_executable)])
                .unwrap()
                .anchored_at(&root);
            let err = s.load_files().unwrap_err();
            assert_eq!(err.exit_code(), 2);
            assert!(
                err.to_string()
                    .starts_with("invalid NETCONFORM_KIND_SETUP=")
                    && err
                        .to_string()
                        .ends_with("expected the path of an executable file"),
                "{err}"
            );
        }
    }

    #[test]
    fn durations() {
        assert_eq!(parse_duration("250ms"), Some(Duration::from_millis(250)));
        assert_eq!(parse_duration("1.5s"), Some(Duration::from_millis(1500)));
        assert_eq!(parse_duration("2m"), Some(Duration::from_secs(120)));
        assert_eq!(parse_duration("10"), None);
        assert_eq!(parse_duration("s"), None);
        assert_eq!(parse_duration("-1s"), None);
    }

    /// The configuration table of `docs/configuration.md` is generated from [`VARIABLES`]; this keeps
    /// them equal.
    #[test]
    fn docs_config_table_matches_variables() {
        let doc = Path::new(env!("CARGO_MANIFEST_DIR")).join("../docs/configuration.md");
        check_readme_block(&doc, "config-table", &render_table());
    }

    /// Asserts that the text between `<!-- {marker}:start -->` and `<!-- {marker}:end -->` of the
    /// Markdown file `readme` is `want`.
    pub(crate) fn check_readme_block(readme: &Path, marker: &str, want: &str) {
        let text = std::fs::read_to_string(readme)
            .unwrap_or_else(|e| panic!("cannot read {}: {e}", readme.display()));
        let start = format!("<!-- {marker}:start -->");
        let end = format!("<!-- {marker}:end -->");
        let (Some(a), Some(b)) = (text.find(&start), text.find(&end)) else {
            panic!(
                "{} lacks the markers {start} / {end}; put this between them:\n{want}",
                readme.display()
            );
        };
        let got = text[a + start.len()..b].trim();
        assert_eq!(
            got,
            want.trim(),
            "{} {marker} block is stale; replace it with:\n{want}",
            readme.display()
        );
    }
}
