//! The external client: a host outside the cluster, on the nodes' network, that trials send requests from
//! (a NodePort from outside, a ClusterIP that must not answer there) and that pods reach out to (its
//! listener sees what source address leaves the cluster).
//!
//! On kind it is a docker container beside the nodes, on the docker network the control plane is on
//! (`kind`, or what `KIND_EXPERIMENTAL_DOCKER_NETWORK` chose), which works wherever kind runs, Docker Desktop
//! included: nothing is reached from the host itself, every request runs in the container (`docker exec`).
//! It runs agnhost (`NETCONFORM_IMAGES` applies, as for pods): `netexec --http-port=8080` is its listener, its
//! busybox `wget` the client. It is started once per run, when a trial first needs it, named
//! `netconform-outside-<run id>`, labelled as the run's (`app.kubernetes.io/managed-by=netconform`,
//! `netconform.io/run-id`, the kind cluster and its creation time), registered for cleanup before it is
//! created, and removed with the run's namespaces (at the end, on a failure, on Ctrl-C); its removal is
//! checked (`docker inspect` no longer finds it). Leftovers of killed runs go with the next run's opening
//! sweep and `netconform sweep` ([`crate::sweep::sweep_containers`]).
//!
//! On the test double it is the double's model of such a host (`netconform_double::OutsideHost`). On
//! any other cluster there is none: [`crate::preflight::Need::ExternalClient`] skips with the reason.

use std::net::IpAddr;
use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::cleanup::{Cleanup, Owned};
use crate::cluster::TargetKind;
use crate::cluster::process::{CommandLine, CommandRunner, Output};
use crate::exec::ExecOutput;
use crate::failure::TrialError;
use crate::labels::{MANAGED_BY_KEY, MANAGED_BY_VALUE, RUN_ID_KEY};
use crate::preflight::Detected;

/// The image it runs (before `NETCONFORM_IMAGES`): upstream e2e's test image.
pub const AGNHOST: &str = "registry.k8s.io/e2e-test-images/agnhost:2.52";
/// The port its netexec listens on.
pub const LISTEN_PORT: u16 = 8080;
/// Its container name is this, `-`, the run id.
pub const CONTAINER_PREFIX: &str = "netconform-outside";
/// The label naming the kind cluster it was started beside.
pub const KIND_CLUSTER_KEY: &str = "netconform.io/kind-cluster";
/// The label holding when it was created (Unix seconds), for the sweep's age rule.
pub const CREATED_KEY: &str = "netconform.io/created";
/// How long `docker run`, `docker inspect` and `docker rm` may take.
const DOCKER_BUDGET: Duration = Duration::from_secs(60);

/// What preflight records: whether this target gets an external client, and why.
pub fn evidence(target: TargetKind) -> Detected {
    match target {
        TargetKind::Kind => Detected {
            present: true,
            evidence: "a kind cluster: netconform starts an agnhost container on its docker network"
                .into(),
        },
        TargetKind::Simulated => Detected {
            present: true,
            evidence: "the test double models a host outside the cluster".into(),
        },
        TargetKind::Existing => Detected {
            present: false,
            evidence: "netconform starts one (an agnhost container on the nodes' docker network) only on a kind cluster it reaches through `kind` (NETCONFORM_TARGET=kind, or auto without a kubeconfig); these checks need a host outside the cluster that reaches the nodes' InternalIPs and that pods can reach".into(),
        },
    }
}

/// Where the host comes from.
pub enum Backend {
    /// A container beside the nodes of kind cluster `cluster`.
    Docker {
        runner: Arc<dyn CommandRunner>,
        cluster: String,
        /// The agnhost image after `NETCONFORM_IMAGES`.
        image: String,
    },
    /// The test double's model of the host.
    #[cfg(feature = "double")]
    Double(netconform_double::OutsideHost),
    /// None on this target (the reason is [`evidence`]'s).
    Absent,
}

/// The run's external client, started on first use.
pub struct Outside {
    backend: Backend,
    run_id: String,
    started: tokio::sync::OnceCell<Result<Host, String>>,
}

/// The started host.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Host {
    /// The container's name (the double's host: its model's name).
    pub name: String,
    /// Its addresses on the nodes' network, IPv4 first.
    pub addresses: Vec<IpAddr>,
}

impl Host {
    /// Its address of the family of `like`, e.g. the family of a node address it probes.
    pub fn address_like(&self, like: &IpAddr) -> Option<IpAddr> {
        self.addresses
            .iter()
            .copied()
            .find(|a| a.is_ipv4() == like.is_ipv4())
    }
}

/// The container name of run `run_id`'s host.
pub fn container_name(run_id: &str) -> String {
    format!("{CONTAINER_PREFIX}-{run_id}")
}

/// `docker run` of the host: detached, on `network`, labelled, agnhost netexec on [`LISTEN_PORT`].
pub fn run_command(
    name: &str,
    network: &str,
    cluster: &str,
    run_id: &str,
    image: &str,
) -> CommandLine {
    let now = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let labels = [
        format!("{MANAGED_BY_KEY}={MANAGED_BY_VALUE}"),
        format!("{RUN_ID_KEY}={run_id}"),
        format!("{KIND_CLUSTER_KEY}={cluster}"),
        format!("{CREATED_KEY}={now}"),
    ];
    let port = format!("--http-port={LISTEN_PORT}");
    let mut args = vec!["run", "-d", "--name", name, "--network", network];
    for label in &labels {
        args.extend(["--label", label.as_str()]);
    }
    // No UDP or SCTP listener: only the HTTP one is used.
    args.extend([image, "netexec", port.as_str(), "--udp-port=-1"]);
    CommandLine::new("docker", &args)
}

async fn docker(runner: &dyn CommandRunner, args: &[&str]) -> Result<String, String> {
    let command = CommandLine::new("docker", args);
    match tokio::time::timeout(DOCKER_BUDGET, runner.run(&command, Output::Capture)).await {
        Err(_) => Err(format!(
            "`{command}` did not end within {}s",
            DOCKER_BUDGET.as_secs()
        )),
        Ok(Err(e)) => Err(format!("`{command}`: {e}")),
        Ok(Ok(out)) if out.success => Ok(out.stdout),
        Ok(Ok(out)) => Err(format!("`{command}`: {}: {}", out.status, out.tail())),
    }
}

/// Removes container `name` and checks it is gone (`docker inspect` no longer finds it).
pub async fn remove_container(runner: &dyn CommandRunner, name: &str) -> Result<(), String> {
    let removed = docker(runner, &["rm", "-f", name]).await;
    match docker(runner, &["inspect", "--format", "{{.Id}}", name]).await {
        Err(e) if e.to_lowercase().contains("no such") => Ok(()),
        Err(e) => Err(format!(
            "could not tell whether container {name} is gone: {e}"
        )),
        Ok(_) => Err(format!(
            "container {name} is still there after `docker rm -f {name}`{}",
            removed.err().map(|e| format!(": {e}")).unwrap_or_default()
        )),
    }
}

/// The docker network the kind cluster's control plane is on (kind's own, `kind` by default).
async fn kind_network(runner: &dyn CommandRunner, cluster: &str) -> Result<String, String> {
    let node = format!("{cluster}-control-plane");
    let out = docker(
        runner,
        &[
            "inspect",
            "--format",
            "{{range $name, $_ := .NetworkSettings.Networks}}{{$name}} {{end}}",
            &node,
        ],
    )
    .await?;
    out.split_whitespace()
        .next()
        .map(str::to_string)
        .ok_or_else(|| format!("container {node} is on no docker network"))
}

/// The addresses of container `name` on `network`, IPv4 first.
async fn container_addresses(
    runner: &dyn CommandRunner,
    name: &str,
    network: &str,
) -> Result<Vec<IpAddr>, String> {
    let format = format!(
        "{{{{with index .NetworkSettings.Networks \"{network}\"}}}}{{{{.IPAddress}}}} {{{{.GlobalIPv6Address}}}}{{{{end}}}}"
    );
    let out = docker(runner, &["inspect", "--format", &format, name]).await?;
    Ok(parse_addresses(&out))
}

/// The addresses in `docker inspect`'s `IPv4 IPv6` line (either may be empty), IPv4 first.
pub fn parse_addresses(line: &str) -> Vec<IpAddr> {
    let mut out: Vec<IpAddr> = line
        .split_whitespace()
        .filter_map(|a| a.parse().ok())
        .collect();
    out.sort_by_key(|a: &IpAddr| a.is_ipv6());
    out
}

impl Outside {
    pub fn new(backend: Backend, run_id: &str) -> Outside {
        Outside {
            backend,
            run_id: run_id.to_string(),
            started: tokio::sync::OnceCell::new(),
        }
    }

    /// None on this target.
    pub fn absent(run_id: &str) -> Outside {
        Outside::new(Backend::Absent, run_id)
    }

    /// The host, started (and registered with `cleanup`) by the first caller; a start that failed fails
    /// every caller with its reason.
    pub async fn host(&self, cleanup: &Cleanup) -> Result<Host, TrialError> {
        self.started
            .get_or_init(|| self.start(cleanup))
            .await
            .clone()
            .map_err(|e| {
                TrialError::Harness(format!("starting the client outside the cluster: {e}"))
            })
    }

    async fn start(&self, cleanup: &Cleanup) -> Result<Host, String> {
        match &self.backend {
            Backend::Absent => Err("this target has none".into()),
            #[cfg(feature = "double")]
            Backend::Double(host) => Ok(Host {
                name: "netconform-outside (the test double's model)".into(),
                addresses: host.addresses(),
            }),
            Backend::Docker {
                runner,
                cluster,
                image,
            } => {
                let name = container_name(&self.run_id);
                let network = kind_network(runner.as_ref(), cluster).await?;
                let _creating = cleanup
                    .creating(Owned::Container(name.clone()))
                    .map_err(|e| e.to_string())?;
                let run = run_command(&name, &network, cluster, &self.run_id, image);
                let args: Vec<&str> = run.args.iter().map(String::as_str).collect();
                docker(runner.as_ref(), &args).await?;
                let addresses = container_addresses(runner.as_ref(), &name, &network).await?;
                if addresses.is_empty() {
                    return Err(format!(
                        "container {name} has no address on docker network {network}"
                    ));
                }
                Ok(Host { name, addresses })
            }
        }
    }

    /// Runs `command` on the host (started first if need be), giving up after `limit`: the exec's outcome
    /// is then unknown (exit code -1, said on stderr).
    pub async fn exec(
        &self,
        cleanup: &Cleanup,
        command: &[&str],
        limit: Duration,
    ) -> Result<ExecOutput, TrialError> {
        let host = self.host(cleanup).await?;
        let gave_up = || ExecOutput {
            stdout: String::new(),
            stderr: format!(
                "(the client gave up on the exec after {}s: outcome unknown)\n",
                limit.as_secs()
            ),
            exit_code: -1,
        };
        match &self.backend {
            Backend::Absent => Err(TrialError::Harness("no client outside the cluster".into())),
            #[cfg(feature = "double")]
            Backend::Double(model) => {
                let argv: Vec<String> = command.iter().map(|s| s.to_string()).collect();
                let out = model.exec(&argv);
                Ok(ExecOutput {
                    stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
                    stderr: String::from_utf8_lossy(&out.stderr).into_owned(),
                    exit_code: out.exit_code,
                })
            }
            Backend::Docker { runner, .. } => {
                let mut args = vec!["exec", host.name.as_str()];
                args.extend_from_slice(command);
                let line = CommandLine::new("docker", &args);
                match tokio::time::timeout(limit, runner.run(&line, Output::Capture)).await {
                    Err(_) => Ok(gave_up()),
                    Ok(Err(e)) => Err(TrialError::Harness(format!("`{line}`: {e}"))),
                    Ok(Ok(out)) => Ok(ExecOutput {
                        exit_code: exit_code(out.success, &out.status),
                        stdout: out.stdout,
                        stderr: out.stderr,
                    }),
                }
            }
        }
    }
}

/// The exit code in a process status (`exit status 1`); 0 on success, -1 when killed.
fn exit_code(success: bool, status: &str) -> i32 {
    if success {
        return 0;
    }
    status
        .strip_prefix("exit status ")
        .and_then(|c| c.trim().parse().ok())
        .unwrap_or(-1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::cluster::process::ScriptedRunner;

    #[test]
    fn the_container_is_labelled_as_the_runs_and_runs_netexec() {
        let line = run_command(
            "netconform-outside-ab12cd34",
            "kind",
            "nc-x",
            "ab12cd34",
            "netconform.local/agnhost:v1",
        )
        .to_string();
        assert!(
            line.starts_with("docker run -d --name netconform-outside-ab12cd34 --network kind "),
            "{line}"
        );
        for label in [
            "--label app.kubernetes.io/managed-by=netconform",
            "--label netconform.io/run-id=ab12cd34",
            "--label netconform.io/kind-cluster=nc-x",
            "--label netconform.io/created=",
        ] {
            assert!(line.contains(label), "{label} not in {line}");
        }
        assert!(
            line.ends_with("netconform.local/agnhost:v1 netexec --http-port=8080 --udp-port=-1"),
            "{line}"
        );
    }

    #[test]
    fn addresses_ipv4_first_either_may_be_missing() {
        assert_eq!(
            parse_addresses("fc00:f853:ccd:e793::5 172.18.0.5\n"),
            vec![
                "172.18.0.5".parse::<IpAddr>().unwrap(),
                "fc00:f853:ccd:e793::5".parse().unwrap()
            ]
        );
        assert_eq!(parse_addresses(" fc00::5\n").len(), 1);
        assert!(parse_addresses("\n").is_empty());
    }

    #[test]
    fn exit_codes_from_statuses() {
        assert_eq!(exit_code(true, "exit status 0"), 0);
        assert_eq!(exit_code(false, "exit status 1"), 1);
        assert_eq!(exit_code(false, "killed by a signal"), -1);
    }

    #[test]
    fn only_kind_and_the_double_have_one() {
        assert!(evidence(TargetKind::Kind).present);
        assert!(evidence(TargetKind::Simulated).present);
        let existing = evidence(TargetKind::Existing);
        assert!(!existing.present && existing.evidence.contains("kind"));
    }

    #[tokio::test]
    async fn removal_is_checked() {
        let gone = ScriptedRunner::new(&["docker"])
            .answer("docker rm -f c", true, "c\n", "")
            .answer(
                "docker inspect --format {{.Id}} c",
                false,
                "",
                "Error: No such object: c\n",
            );
        assert_eq!(remove_container(&gone, "c").await, Ok(()));
        let stays = ScriptedRunner::new(&["docker"])
            .answer("docker rm -f c", false, "", "Error: permission denied\n")
            .answer("docker inspect --format {{.Id}} c", true, "sha\n", "");
        let err = remove_container(&stays, "c").await.unwrap_err();
        assert!(
            err.contains("still there") && err.contains("permission denied"),
            "{err}"
        );
    }
}
