//! Evidence parsers: whether a LoadBalancer controller, pod DNS records and NetworkPolicy enforcement are
//! there, judged from the objects detection read.

use k8s_openapi::api::apps::v1::DaemonSet;
use k8s_openapi::api::core::v1::{ConfigMap, Service};
use kube::ResourceExt;

use super::Detected;

/// A LoadBalancer Service that already has an ingress address proves a controller serves the cluster.
/// Nothing else is proof (a controller may exist with no Service yet): then the need is unmet unless
/// `NETCONFORM_LOAD_BALANCER=yes`.
pub fn load_balancer_evidence(services: Option<&[Service]>) -> Detected {
    let Some(services) = services else {
        return Detected {
            present: false,
            evidence: "services could not be listed".into(),
        };
    };
    let served = services.iter().find(|s| {
        s.spec.as_ref().and_then(|sp| sp.type_.as_deref()) == Some("LoadBalancer")
            && s.status
                .as_ref()
                .and_then(|st| st.load_balancer.as_ref())
                .and_then(|lb| lb.ingress.as_ref())
                .is_some_and(|i| !i.is_empty())
    });
    match served {
        Some(s) => Detected {
            present: true,
            evidence: format!(
                "LoadBalancer service {}/{} has an ingress address",
                s.namespace().unwrap_or_default(),
                s.name_any()
            ),
        },
        None => Detected {
            present: false,
            evidence: "no LoadBalancer service has an ingress address".into(),
        },
    }
}

/// CoreDNS's configuration as kubeadm (and so kind) installs it: ConfigMap `kube-system/coredns`, key
/// `Corefile` (upstream: cmd/kubeadm/app/phases/addons/dns/manifests.go `CoreDNSConfigMap`).
pub const COREDNS_CONFIG: (&str, &str) = ("kube-system", "coredns");

/// The `pods` mode of the Corefile's `kubernetes` plugin blocks: `Some("insecure")`, `Some("verified")`,
/// `Some("disabled")` (also when a block has no `pods` line: coredns plugin/kubernetes defaults to
/// disabled), or `None` when no `kubernetes` block is configured.
/// upstream: coredns plugin/kubernetes/setup.go `ParseStanza` (`pods` takes disabled|insecure|verified).
pub fn corefile_pods_mode(corefile: &str) -> Option<String> {
    let mut mode: Option<String> = None;
    let mut depth_in_block: Option<usize> = None;
    let mut depth = 0usize;
    for line in corefile.lines() {
        let line = line.split('#').next().unwrap_or_default().trim();
        let mut words = line.split_whitespace();
        let first = words.next();
        if depth_in_block.is_none() && first == Some("kubernetes") {
            mode.get_or_insert_with(|| "disabled".to_string());
            if line.ends_with('{') {
                depth_in_block = Some(depth);
            }
        } else if depth_in_block.is_some() && first == Some("pods") {
            let value = words.next().unwrap_or_default().to_string();
            // `insecure`/`verified` in any block means the records are served for that zone.
            if mode.as_deref() == Some("disabled") || mode.is_none() {
                mode = Some(value);
            }
        }
        depth += line.matches('{').count();
        depth = depth.saturating_sub(line.matches('}').count());
        if depth_in_block.is_some_and(|d| depth <= d) && line.contains('}') {
            depth_in_block = None;
        }
    }
    mode
}

/// Whether CoreDNS serves pod records, from ConfigMap kube-system/coredns (`Err`: it could not be read).
pub fn pod_dns_records_evidence(config: Result<Option<&ConfigMap>, &kube::Error>) -> Detected {
    let (namespace, name) = COREDNS_CONFIG;
    let absent = |evidence: String| Detected {
        present: false,
        evidence,
    };
    let config = match config {
        Err(e) => {
            return absent(format!(
                "configmap {namespace}/{name} could not be read ({e}), so its Corefile's `pods` mode is unknown"
            ));
        }
        Ok(None) => {
            return absent(format!(
                "configmap {namespace}/{name} does not exist (the cluster DNS is not kubeadm's CoreDNS)"
            ));
        }
        Ok(Some(config)) => config,
    };
    let Some(corefile) = config.data.as_ref().and_then(|d| d.get("Corefile")) else {
        return absent(format!("configmap {namespace}/{name} has no Corefile"));
    };
    match corefile_pods_mode(corefile).as_deref() {
        Some(mode @ ("insecure" | "verified")) => Detected {
            present: true,
            evidence: format!(
                "configmap {namespace}/{name}: the kubernetes plugin has `pods {mode}`"
            ),
        },
        Some("disabled") => absent(format!(
            "configmap {namespace}/{name}: the kubernetes plugin has no `pods insecure|verified` (CoreDNS's default is `pods disabled`)"
        )),
        Some(other) => absent(format!(
            "configmap {namespace}/{name}: the kubernetes plugin has an unknown `pods {other}`"
        )),
        None => absent(format!(
            "configmap {namespace}/{name}: the Corefile has no kubernetes plugin"
        )),
    }
}

/// Network plugins whose agents enforce NetworkPolicy, by DaemonSet name. kindnet is judged by its image
/// ([`kindnet_enforcement`]).
const ENFORCING_DAEMONSETS: &[&str] = &[
    "calico-node",
    "cilium",
    "antrea-agent",
    "kube-router",
    "weave-net",
    "canal",
    "kube-network-policies",
];

/// The first kindnetd image date (`vYYYYMMDD-<commit>`) with kube-network-policies built in: kind's
/// kubernetes-sigs/kind#3612 ("Kindnet network policies", merged 2024-07-23; opt-out only by disabling
/// kindnet) made it part of kindnetd, shipped in kind v0.24.0 (kindnetd v20240813-c6f155d6; issue #842:
/// "This is available now, in v0.24.0"). kind v0.33 / kindest/node v1.37 run kindnetd v20260820-69b56db7.
const KINDNETD_FIRST_ENFORCING_DATE: u32 = 20240723;

/// Whether a `kindnet` DaemonSet enforces NetworkPolicy, judged by its kindnetd image: kind's own
/// `docker.io/kindest/kindnetd:vYYYYMMDD-<commit>` from [`KINDNETD_FIRST_ENFORCING_DATE`], or the
/// standalone `aojea/kindnet` from v1.3.0 (kubernetes/minikube#19871), unless started with
/// `--network-policy=false` (kindnetd's flag). Ok: why it enforces; Err: why that is not known.
fn kindnet_enforcement(ds: &DaemonSet) -> Result<String, String> {
    let containers = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    let Some(container) = containers
        .iter()
        .find(|c| c.image.as_deref().is_some_and(|i| i.contains("kindnetd")))
    else {
        return Err("its containers run no kindnetd image".into());
    };
    let image = container.image.clone().unwrap_or_default();
    let disabled = container
        .command
        .iter()
        .chain(container.args.iter())
        .flatten()
        .any(|a| a == "--network-policy=false" || a == "-network-policy=false");
    if disabled {
        return Err(format!(
            "kindnetd ({image}) runs with --network-policy=false"
        ));
    }
    let tag = image.split('@').next().unwrap_or_default();
    let tag = tag.rsplit_once(':').map(|(_, t)| t).unwrap_or_default();
    let dated = tag
        .strip_prefix('v')
        .and_then(|t| t.get(..8))
        .filter(|d| d.bytes().all(|b| b.is_ascii_digit()))
        .and_then(|d| d.parse::<u32>().ok());
    let semver: Option<Vec<u32>> = tag
        .strip_prefix('v')
        .filter(|_| dated.is_none())
        .map(|t| t.split('.').map_while(|n| n.parse().ok()).collect());
    match (dated, semver) {
        (Some(date), _) if date >= KINDNETD_FIRST_ENFORCING_DATE => Ok(format!(
            "kindnetd {tag} embeds kube-network-policies (kind v0.24.0 and later)"
        )),
        (Some(_), _) => Err(format!(
            "kindnetd {tag} predates kube-network-policies (kind v0.24.0, kindnetd v20240813)"
        )),
        (None, Some(v)) if v.len() >= 2 && (v[0], v[1]) >= (1, 3) => Ok(format!(
            "kindnet {tag} enforces NetworkPolicy by default (aojea/kindnet v1.3.0 and later)"
        )),
        _ => Err(format!(
            "the version of kindnetd image {image} is not one netconform knows"
        )),
    }
}

/// Whether a container of `ds` runs with `flag` (`--name=value` or `-name=value`) among its command and args.
fn runs_with(ds: &DaemonSet, flag: &str) -> bool {
    let containers = ds
        .spec
        .as_ref()
        .and_then(|s| s.template.spec.as_ref())
        .map(|s| s.containers.as_slice())
        .unwrap_or_default();
    containers.iter().any(|c| {
        c.command
            .iter()
            .chain(c.args.iter())
            .flatten()
            .any(|a| a.trim_start_matches('-') == flag)
    })
}

pub fn network_policy_evidence(daemonsets: Option<&[DaemonSet]>) -> Detected {
    let Some(daemonsets) = daemonsets else {
        return Detected {
            present: false,
            evidence: "daemonsets could not be listed".into(),
        };
    };
    let name = |ds: &DaemonSet| format!("{}/{}", ds.namespace().unwrap_or_default(), ds.name_any());
    if let Some(ds) = daemonsets
        .iter()
        .find(|ds| ENFORCING_DAEMONSETS.contains(&ds.name_any().as_str()))
    {
        // kube-router's policy controller runs unless `--run-firewall=false` (its default is true:
        // pkg/options/options.go `run-firewall`); k3s and the offline testbed run it alone
        // (`--run-router=false --run-service-proxy=false`).
        if ds.name_any() == "kube-router" && runs_with(ds, "run-firewall=false") {
            return Detected {
                present: false,
                evidence: format!(
                    "daemonset {}: kube-router runs with --run-firewall=false (no policy controller)",
                    name(ds)
                ),
            };
        }
        return Detected {
            present: true,
            evidence: format!("daemonset {} enforces NetworkPolicy", name(ds)),
        };
    }
    let kindnet = daemonsets.iter().find(|d| d.name_any() == "kindnet");
    match kindnet.map(|ds| (ds, kindnet_enforcement(ds))) {
        // kube-network-policies fails open (kindnetd sets FailOpen): where the host kernel lacks nftables
        // queue support packets pass (kubernetes-sigs/kind#3705, #3789 on WSL2), hence the hint.
        Some((ds, Ok(why))) => Detected {
            present: true,
            evidence: format!(
                "daemonset {}: {why}; it fails open on hosts without nfqueue support (then set NETCONFORM_NETWORK_POLICY=no)",
                name(ds)
            ),
        },
        Some((ds, Err(why))) => Detected {
            present: false,
            evidence: format!("daemonset {}: {why}", name(ds)),
        },
        None => Detected {
            present: false,
            evidence: format!(
                "no daemonset of a known enforcing plugin ({}, or kindnet)",
                ENFORCING_DAEMONSETS.join(", ")
            ),
        },
    }
}
