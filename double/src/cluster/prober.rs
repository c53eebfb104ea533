//! The kubelet's readiness probing of one pod: a worker per container with a readinessProbe, probing every
//! `periodSeconds` after `initialDelaySeconds`, whose published result starts as Failure and changes only
//! after `successThreshold` successes or `failureThreshold` failures in a row. A container without a
//! readinessProbe is ready while it runs.
//!
//! upstream: pkg/kubelet/prober/worker.go (`newWorker`: readiness `initialValue = results.Failure`;
//! `doProbe`: the initial delay, `resultRun` against the thresholds), pkg/kubelet/prober/prober_manager.go
//! (`UpdatePodStatus`: ready = the readiness result, or true without a probe), pkg/apis/core/v1/defaults.go
//! (`SetDefaults_Probe`: periodSeconds 10, successThreshold 1, failureThreshold 3).
//! The model probes right when a container starts and every period after (upstream's ticker starts with the
//! worker, at a random phase after a kubelet restart). An exec probe runs its command in the container
//! (exit 0 passes); httpGet and tcpSocket probes are connections from the pod's node to `host` (default: the
//! pod's `status.podIP`) through the network model (pkg/kubelet/prober/prober.go `runProbe`,
//! pkg/probe/http/request.go `NewRequestForHTTPGetAction`: `host` or the pod IP; an httpGet passes on a
//! status 200-399, a tcpSocket on any connection); grpc probes pass (the model's servers serve).

use std::time::{Duration, Instant};

use serde_json::Value;

/// How one readiness probe checks its container.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Check {
    Exec(Vec<String>),
    /// httpGet: `host` (None: the pod IP), `port` (a number or a container port's name), `path`.
    HttpGet {
        host: Option<String>,
        port: Value,
        path: String,
    },
    /// tcpSocket: `host` (None: the pod IP), `port` (a number or a container port's name).
    TcpSocket {
        host: Option<String>,
        port: Value,
    },
    /// grpc: answered by the container's server.
    Serving,
}

impl Check {
    fn of(probe: &Value) -> Check {
        let host = |action: &Value| {
            action["host"]
                .as_str()
                .filter(|h| !h.is_empty())
                .map(str::to_string)
        };
        if let Some(argv) = probe["exec"]["command"].as_array() {
            return Check::Exec(
                argv.iter()
                    .filter_map(|a| a.as_str().map(str::to_string))
                    .collect(),
            );
        }
        let http = &probe["httpGet"];
        if http.is_object() {
            return Check::HttpGet {
                host: host(http),
                port: http["port"].clone(),
                path: http["path"].as_str().unwrap_or("/").to_string(),
            };
        }
        let tcp = &probe["tcpSocket"];
        if tcp.is_object() {
            return Check::TcpSocket {
                host: host(tcp),
                port: tcp["port"].clone(),
            };
        }
        Check::Serving
    }
}

#[derive(Debug, Clone)]
struct Worker {
    container: String,
    check: Check,
    initial_delay: Duration,
    period: Duration,
    success_threshold: u32,
    failure_threshold: u32,
    /// The published result (what `containerStatuses[].ready` shows).
    ready: bool,
    last: Option<bool>,
    run: u32,
    next: Option<Instant>,
}

/// The readiness workers of one pod.
#[derive(Debug, Clone, Default)]
pub(crate) struct Prober {
    workers: Vec<Worker>,
}

fn seconds(value: &Value, default: u64) -> u64 {
    value.as_u64().filter(|s| *s > 0).unwrap_or(default)
}

impl Prober {
    /// A worker for every container of `pod` with a readinessProbe.
    pub fn for_pod(pod: &Value) -> Prober {
        let workers = pod["spec"]["containers"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|c| c["readinessProbe"].is_object())
            .map(|c| {
                let probe = &c["readinessProbe"];
                let check = Check::of(probe);
                Worker {
                    container: c["name"].as_str().unwrap_or_default().to_string(),
                    check,
                    initial_delay: Duration::from_secs(
                        probe["initialDelaySeconds"].as_u64().unwrap_or(0),
                    ),
                    period: Duration::from_secs(seconds(&probe["periodSeconds"], 10)),
                    success_threshold: seconds(&probe["successThreshold"], 1) as u32,
                    failure_threshold: seconds(&probe["failureThreshold"], 3) as u32,
                    ready: false,
                    last: None,
                    run: 0,
                    next: None,
                }
            })
            .collect();
        Prober { workers }
    }

    /// The containers started at `at`: their first probe is due after the initial delay.
    pub fn start(&mut self, at: Instant) {
        for w in &mut self.workers {
            w.next = Some(at + w.initial_delay);
        }
    }

    /// Whether `container` is ready as far as probing goes (no readinessProbe: ready).
    pub fn ready(&self, container: &str) -> bool {
        self.workers
            .iter()
            .find(|w| w.container == container)
            .is_none_or(|w| w.ready)
    }

    /// When the next probe is due.
    pub fn next_due(&self) -> Option<Instant> {
        self.workers.iter().filter_map(|w| w.next).min()
    }

    /// Runs the probes due at `now` with `check(container, check) -> passed`; true when a published
    /// result changed.
    pub fn run_due(&mut self, now: Instant, check: &dyn Fn(&str, &Check) -> bool) -> bool {
        let mut changed = false;
        for w in &mut self.workers {
            let Some(due) = w.next.filter(|d| *d <= now) else {
                continue;
            };
            let passed = check(&w.container, &w.check);
            if w.last == Some(passed) {
                w.run += 1;
            } else {
                w.last = Some(passed);
                w.run = 1;
            }
            let threshold = if passed {
                w.success_threshold
            } else {
                w.failure_threshold
            };
            if w.run >= threshold && w.ready != passed {
                w.ready = passed;
                changed = true;
            }
            // The ticker keeps its phase: the next tick after `now`.
            let mut next = due + w.period;
            while next <= now {
                next += w.period;
            }
            w.next = Some(next);
        }
        changed
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;
    use std::cell::Cell;

    fn pod(probe: Value) -> Value {
        json!({"spec": {"containers": [
            {"name": "web", "readinessProbe": probe},
            {"name": "sidecar"}]}})
    }

    #[test]
    fn starts_unready_and_follows_thresholds() {
        let mut p = Prober::for_pod(&pod(
            json!({"exec": {"command": ["cat", "/tmp/ready"]}, "periodSeconds": 1, "failureThreshold": 2}),
        ));
        assert!(!p.ready("web") && p.ready("sidecar"));
        assert_eq!(
            p.next_due(),
            None,
            "nothing is due before the containers start"
        );
        let t0 = Instant::now();
        p.start(t0);
        let passing = Cell::new(false);
        let check = |c: &str, check: &Check| {
            assert_eq!(c, "web");
            assert_eq!(check, &Check::Exec(vec!["cat".into(), "/tmp/ready".into()]));
            passing.get()
        };
        assert!(!p.run_due(t0, &check));
        assert_eq!(p.next_due(), Some(t0 + Duration::from_secs(1)));
        passing.set(true);
        assert!(!p.run_due(t0, &check), "not due yet");
        assert!(p.run_due(t0 + Duration::from_secs(1), &check));
        assert!(p.ready("web"));
        passing.set(false);
        assert!(
            !p.run_due(t0 + Duration::from_secs(2), &check),
            "1 of 2 failures"
        );
        assert!(p.run_due(t0 + Duration::from_secs(3), &check));
        assert!(!p.ready("web"));
    }

    #[test]
    fn defaults_and_other_probes() {
        let mut p = Prober::for_pod(&pod(
            json!({"httpGet": {"path": "/", "port": 80}, "initialDelaySeconds": 5}),
        ));
        let t0 = Instant::now();
        p.start(t0);
        assert_eq!(p.next_due(), Some(t0 + Duration::from_secs(5)));
        let http = Check::HttpGet {
            host: None,
            port: json!(80),
            path: "/".into(),
        };
        assert!(p.run_due(t0 + Duration::from_secs(5), &|_, c| c == &http));
        assert_eq!(p.next_due(), Some(t0 + Duration::from_secs(15)));
    }
}
