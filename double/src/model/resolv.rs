//! A pod's `/etc/resolv.conf`: the kubelet computes the DNS config, the CRI runtime writes it.
//!
//! upstream: pkg/kubelet/network/dns/dns.go (`GetPodDNS`, `getPodDNSType`, `appendDNSConfig`,
//! `mergeDNSOptions`, `formDNSSearchFitsLimits`, `formDNSNameserversFitsLimits`,
//! `generateSearchesForDNSClusterFirst`, `parseResolvConf`); the file format is containerd's
//! `parseDNSOptions` (internal/cri/server/sandbox_run.go): `search`, then `nameserver` lines, then
//! `options`; an all-empty config copies the host's file instead.

use std::net::IpAddr;

use serde_json::Value;

/// The default options for cluster DNS (`defaultDNSOptions`).
pub const DEFAULT_DNS_OPTIONS: &[&str] = &["ndots:5"];
/// `validation.MaxDNSNameservers`.
pub const MAX_DNS_NAMESERVERS: usize = 3;
/// `validation.MaxDNSSearchPathsExpanded` (ExpandedDNSConfig is GA).
pub const MAX_DNS_SEARCH_PATHS: usize = 32;
/// `validation.MaxDNSSearchListCharsExpanded`.
pub const MAX_DNS_SEARCH_LIST_CHARS: usize = 2048;

/// `runtimeapi.DNSConfig`: what the kubelet hands the runtime.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct DnsConfig {
    pub servers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<String>,
}

/// `v1.DNSPolicy` (unknown values fall back to ClusterFirst, as `GetPodDNS` does after logging).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DnsPolicy {
    ClusterFirst,
    ClusterFirstWithHostNet,
    Default,
    None,
}

impl DnsPolicy {
    pub fn parse(s: &str) -> Option<DnsPolicy> {
        match s {
            "ClusterFirst" => Some(DnsPolicy::ClusterFirst),
            "ClusterFirstWithHostNet" => Some(DnsPolicy::ClusterFirstWithHostNet),
            "Default" => Some(DnsPolicy::Default),
            "None" => Some(DnsPolicy::None),
            _ => None,
        }
    }
}

/// upstream: `parseResolvConf` (v1.33.0 to v1.37.2) — nameservers accumulate, the last `search` wins
/// without its `.` entries and with trailing dots dropped, the options of every `options` line are
/// merged by name with a later value winning (`appendOptions`; a Go map, the model keeps first-seen order).
pub fn parse_resolv_conf(content: &str) -> DnsConfig {
    let mut cfg = DnsConfig::default();
    for line in content.split('\n') {
        let trimmed = line.trim();
        if trimmed.starts_with('#') {
            continue;
        }
        let fields: Vec<&str> = trimmed.split_whitespace().collect();
        match fields.first() {
            Some(&"nameserver") if fields.len() >= 2 => cfg.servers.push(fields[1].to_string()),
            Some(&"search") => {
                cfg.searches = fields[1..]
                    .iter()
                    .filter(|s| **s != ".")
                    .map(|s| s.strip_suffix('.').unwrap_or(s).to_string())
                    .collect()
            }
            Some(&"options") => {
                for option in &fields[1..] {
                    let name = option.split(':').next().unwrap_or_default();
                    match cfg
                        .options
                        .iter_mut()
                        .find(|o| o.split(':').next() == Some(name))
                    {
                        Some(seen) => *seen = option.to_string(),
                        None => cfg.options.push(option.to_string()),
                    }
                }
            }
            _ => {}
        }
    }
    cfg
}

fn omit_duplicates(items: Vec<String>) -> Vec<String> {
    let mut seen = std::collections::HashSet::new();
    items
        .into_iter()
        .filter(|s| seen.insert(s.clone()))
        .collect()
}

/// upstream: `mergeDNSOptions`. Upstream rebuilds the list from a Go map, so its order is random;
/// the model keeps first-seen order (existing options, then new names).
pub fn merge_dns_options(
    existing: &[String],
    pod_options: &[(String, Option<String>)],
) -> Vec<String> {
    let mut merged: Vec<(String, String)> = Vec::new();
    let mut set = |name: &str, value: &str| match merged.iter_mut().find(|(n, _)| n == name) {
        Some(entry) => entry.1 = value.to_string(),
        None => merged.push((name.to_string(), value.to_string())),
    };
    for op in existing {
        match op.split_once(':') {
            Some((n, v)) => set(n, v),
            None => set(op, ""),
        }
    }
    for (name, value) in pod_options {
        set(name, value.as_deref().unwrap_or(""));
    }
    merged
        .into_iter()
        .map(|(n, v)| if v.is_empty() { n } else { format!("{n}:{v}") })
        .collect()
}

/// `spec.dnsConfig` of a pod.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct PodDnsConfig {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    pub options: Vec<(String, Option<String>)>,
}

impl PodDnsConfig {
    pub fn from_pod(pod: &Value) -> Option<PodDnsConfig> {
        let cfg = pod["spec"].get("dnsConfig")?;
        if !cfg.is_object() {
            return None;
        }
        let strings = |v: &Value| -> Vec<String> {
            v.as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|s| s.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default()
        };
        Some(PodDnsConfig {
            nameservers: strings(&cfg["nameservers"]),
            searches: strings(&cfg["searches"]),
            options: cfg["options"]
                .as_array()
                .map(|ops| {
                    ops.iter()
                        .filter_map(|o| {
                            Some((
                                o["name"].as_str()?.to_string(),
                                o["value"].as_str().map(str::to_string),
                            ))
                        })
                        .collect()
                })
                .unwrap_or_default(),
        })
    }
}

/// Ways a kubelet misbehaves when it composes a pod's DNS config (the double's deviations);
/// all off is upstream behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ResolvQuirks {
    /// Cluster DNS pods get `options ndots:N` instead of `defaultDNSOptions`.
    pub ndots: Option<u8>,
    /// `spec.dnsConfig` is not applied.
    pub ignore_dns_config: bool,
    /// `spec.dnsConfig` is appended without dropping duplicates.
    pub no_dedup: bool,
    /// hostNetwork with ClusterFirst gets the cluster DNS instead of falling back to Default.
    pub host_network_no_fallback: bool,
    /// ClusterFirstWithHostNet is handled like Default.
    pub ignore_cluster_first_with_host_net: bool,
    /// Default is handled like ClusterFirst.
    pub default_is_cluster_first: bool,
}

/// The kubelet's DNS configurer (`dns.Configurer`) for one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Configurer {
    /// `--cluster-dns` (kind: the kube-dns ClusterIP).
    pub cluster_dns: Vec<IpAddr>,
    /// `--cluster-domain`.
    pub cluster_domain: String,
    /// The node's `/etc/resolv.conf` content (`--resolv-conf`).
    pub host_resolv_conf: String,
    pub quirks: ResolvQuirks,
}

impl Configurer {
    /// upstream: `generateSearchesForDNSClusterFirst`.
    fn cluster_first_searches(&self, host_search: &[String], namespace: &str) -> Vec<String> {
        if self.cluster_domain.is_empty() {
            return host_search.to_vec();
        }
        let mut s = vec![
            format!("{namespace}.svc.{}", self.cluster_domain),
            format!("svc.{}", self.cluster_domain),
            self.cluster_domain.clone(),
        ];
        s.extend(host_search.iter().cloned());
        omit_duplicates(s)
    }

    /// upstream: `GetPodDNS`.
    pub fn pod_dns(&self, pod: &Value) -> DnsConfig {
        let mut cfg = parse_resolv_conf(&self.host_resolv_conf);
        let host_network = pod["spec"]["hostNetwork"].as_bool().unwrap_or(false);
        let policy = pod["spec"]["dnsPolicy"]
            .as_str()
            .and_then(DnsPolicy::parse)
            .unwrap_or(DnsPolicy::ClusterFirst);
        // upstream `getPodDNSType`: ClusterFirst on the host network falls back to Default.
        let q = self.quirks;
        let cluster = match policy {
            DnsPolicy::None => {
                cfg = DnsConfig::default();
                false
            }
            DnsPolicy::ClusterFirstWithHostNet => !q.ignore_cluster_first_with_host_net,
            DnsPolicy::ClusterFirst => !host_network || q.host_network_no_fallback,
            DnsPolicy::Default => q.default_is_cluster_first,
        };
        if cluster && !self.cluster_dns.is_empty() {
            let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
            cfg.servers = self.cluster_dns.iter().map(IpAddr::to_string).collect();
            cfg.searches = self.cluster_first_searches(&cfg.searches, namespace);
            cfg.options = match q.ndots {
                Some(n) => vec![format!("ndots:{n}")],
                None => DEFAULT_DNS_OPTIONS.iter().map(|s| s.to_string()).collect(),
            };
        }
        if let Some(pod_cfg) = PodDnsConfig::from_pod(pod).filter(|_| !q.ignore_dns_config) {
            // upstream: `appendDNSConfig`.
            let dedup = |v: Vec<String>| if q.no_dedup { v } else { omit_duplicates(v) };
            cfg.servers = dedup([cfg.servers, pod_cfg.nameservers].concat());
            cfg.searches = dedup([cfg.searches, pod_cfg.searches].concat());
            cfg.options = if q.no_dedup {
                let added = pod_cfg
                    .options
                    .iter()
                    .map(|(n, v)| v.as_ref().map_or(n.clone(), |v| format!("{n}:{v}")));
                cfg.options.iter().cloned().chain(added).collect()
            } else {
                merge_dns_options(&cfg.options, &pod_cfg.options)
            };
        }
        fits_limits(cfg)
    }
}

/// upstream: `formDNSConfigFitsLimits` (nameservers capped at 3; search paths capped at 32,
/// paths longer than 253 characters dropped, the line trimmed from the end to 2048 characters).
pub fn fits_limits(mut cfg: DnsConfig) -> DnsConfig {
    cfg.servers.truncate(MAX_DNS_NAMESERVERS);
    cfg.searches.truncate(MAX_DNS_SEARCH_PATHS);
    cfg.searches.retain(|s| s.len() <= 253);
    while !cfg.searches.is_empty() && cfg.searches.join(" ").len() > MAX_DNS_SEARCH_LIST_CHARS {
        cfg.searches.pop();
    }
    cfg
}

/// containerd `parseDNSOptions`: the resolv.conf text, or `None` when all parts are empty (the
/// runtime then copies the host's `/etc/resolv.conf`).
pub fn format_resolv_conf(cfg: &DnsConfig) -> Option<String> {
    let mut out = String::new();
    if !cfg.searches.is_empty() {
        out.push_str(&format!("search {}\n", cfg.searches.join(" ")));
    }
    if !cfg.servers.is_empty() {
        out.push_str(&format!(
            "nameserver {}\n",
            cfg.servers.join("\nnameserver ")
        ));
    }
    if !cfg.options.is_empty() {
        out.push_str(&format!("options {}\n", cfg.options.join(" ")));
    }
    (!out.is_empty()).then_some(out)
}

/// The `/etc/resolv.conf` a container of `pod` sees.
pub fn pod_resolv_conf(configurer: &Configurer, pod: &Value) -> String {
    format_resolv_conf(&configurer.pod_dns(pod))
        .unwrap_or_else(|| configurer.host_resolv_conf.clone())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::topology;
    use serde_json::json;

    fn configurer() -> Configurer {
        Configurer {
            cluster_dns: vec![IpAddr::V4(topology::KUBE_DNS_IP)],
            cluster_domain: "cluster.local".into(),
            host_resolv_conf: topology::node_resolv_conf(),
            quirks: ResolvQuirks::default(),
        }
    }

    /// The capture folder's resolv.conf with the in-cluster nameserver (a pod in `default`).
    #[test]
    fn cluster_first_in_default_namespace() {
        let pod = json!({"metadata": {"name": "b", "namespace": "default"}, "spec": {"dnsPolicy": "ClusterFirst"}});
        assert_eq!(
            pod_resolv_conf(&configurer(), &pod),
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }

    #[test]
    fn host_network_cluster_first_falls_back_to_default() {
        let pod = json!({"metadata": {"namespace": "default"}, "spec": {"dnsPolicy": "ClusterFirst", "hostNetwork": true}});
        assert_eq!(
            pod_resolv_conf(&configurer(), &pod),
            "nameserver 172.18.0.1\noptions edns0 trust-ad ndots:0\n"
        );
        let with_host_net = json!({"metadata": {"namespace": "kube-system"}, "spec": {"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": true}});
        assert_eq!(
            pod_resolv_conf(&configurer(), &with_host_net),
            "search kube-system.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n"
        );
    }

    /// The node resolv.conf profiles: `search .` gives no search domain, `options` lines merge.
    #[test]
    fn node_resolv_profiles_as_the_kubelet_reads_them() {
        use crate::profile::{NODE_RESOLV_OPTIONS_LINES, NODE_RESOLV_SEARCH_DOT, Profiles};
        let node = |name: &str| {
            topology::node_resolv_conf_for(&Profiles::from_names(&[name.to_string()]).unwrap())
        };
        let dot = Configurer {
            host_resolv_conf: node(NODE_RESOLV_SEARCH_DOT),
            ..configurer()
        };
        let default =
            json!({"metadata": {"namespace": "default"}, "spec": {"dnsPolicy": "Default"}});
        assert_eq!(pod_resolv_conf(&dot, &default), "nameserver 172.18.0.1\n");
        let cluster = json!({"metadata": {"namespace": "default"}, "spec": {}});
        assert!(
            pod_resolv_conf(&dot, &cluster)
                .starts_with("search default.svc.cluster.local svc.cluster.local cluster.local\n")
        );
        let lines = Configurer {
            host_resolv_conf: node(NODE_RESOLV_OPTIONS_LINES),
            ..configurer()
        };
        assert_eq!(
            pod_resolv_conf(&lines, &default),
            "search example.internal\nnameserver 172.18.0.1\noptions ndots:0 edns0 timeout:2\n"
        );
    }

    /// The docs' dns-example pod (Pod's DNS Config): policy None with a dnsConfig.
    #[test]
    fn none_with_dns_config() {
        let pod = json!({"metadata": {"namespace": "default"}, "spec": {"dnsPolicy": "None", "dnsConfig": {
            "nameservers": ["192.0.2.1"],
            "searches": ["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
            "options": [{"name": "ndots", "value": "2"}, {"name": "edns0"}],
        }}});
        assert_eq!(
            pod_resolv_conf(&configurer(), &pod),
            "search ns1.svc.cluster-domain.example my.dns.search.suffix\nnameserver 192.0.2.1\noptions ndots:2 edns0\n"
        );
    }

    #[test]
    fn dns_config_merges_and_dedups() {
        let pod = json!({"metadata": {"namespace": "default"}, "spec": {"dnsConfig": {
            "nameservers": ["10.96.0.10", "1.1.1.1", "8.8.8.8", "9.9.9.9"],
            "searches": ["svc.cluster.local", "example.com"],
            "options": [{"name": "ndots", "value": "1"}, {"name": "single-request"}],
        }}});
        let cfg = configurer().pod_dns(&pod);
        assert_eq!(cfg.servers, ["10.96.0.10", "1.1.1.1", "8.8.8.8"]);
        assert_eq!(
            cfg.searches,
            [
                "default.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local",
                "example.com"
            ]
        );
        assert_eq!(cfg.options, ["ndots:1", "single-request"]);
    }

    #[test]
    fn quirks_change_the_kubelet_computation() {
        let quirky = |quirks: ResolvQuirks| Configurer {
            quirks,
            ..configurer()
        };
        let plain = json!({"metadata": {"namespace": "default"}, "spec": {}});
        let ndots = quirky(ResolvQuirks {
            ndots: Some(1),
            ..ResolvQuirks::default()
        });
        assert_eq!(ndots.pod_dns(&plain).options, ["ndots:1"]);
        let host_net = json!({"metadata": {"namespace": "default"}, "spec": {"hostNetwork": true}});
        let no_fallback = quirky(ResolvQuirks {
            host_network_no_fallback: true,
            ..ResolvQuirks::default()
        });
        assert_eq!(no_fallback.pod_dns(&host_net).servers, ["10.96.0.10"]);
        let default =
            json!({"metadata": {"namespace": "default"}, "spec": {"dnsPolicy": "Default"}});
        let swapped = quirky(ResolvQuirks {
            default_is_cluster_first: true,
            ..ResolvQuirks::default()
        });
        assert_eq!(swapped.pod_dns(&default).servers, ["10.96.0.10"]);
        let with_host_net = json!({"metadata": {"namespace": "default"}, "spec": {"dnsPolicy": "ClusterFirstWithHostNet", "hostNetwork": true}});
        let ignored = quirky(ResolvQuirks {
            ignore_cluster_first_with_host_net: true,
            ..ResolvQuirks::default()
        });
        assert_eq!(ignored.pod_dns(&with_host_net).servers, ["172.18.0.1"]);
        let merged = json!({"metadata": {"namespace": "default"}, "spec": {"dnsConfig": {
            "nameservers": ["10.96.0.10", "192.0.2.1"], "options": [{"name": "ndots", "value": "2"}]}}});
        let no_dedup = quirky(ResolvQuirks {
            no_dedup: true,
            ..ResolvQuirks::default()
        });
        assert_eq!(
            no_dedup.pod_dns(&merged).servers,
            ["10.96.0.10", "10.96.0.10", "192.0.2.1"]
        );
        assert_eq!(no_dedup.pod_dns(&merged).options, ["ndots:5", "ndots:2"]);
        let dns_config_ignored = quirky(ResolvQuirks {
            ignore_dns_config: true,
            ..ResolvQuirks::default()
        });
        assert_eq!(dns_config_ignored.pod_dns(&merged).servers, ["10.96.0.10"]);
    }

    #[test]
    fn none_without_config_copies_host_file() {
        let pod = json!({"metadata": {"namespace": "default"}, "spec": {"dnsPolicy": "None"}});
        assert_eq!(
            pod_resolv_conf(&configurer(), &pod),
            topology::node_resolv_conf()
        );
    }

    #[test]
    fn search_limits() {
        let many: Vec<String> = (0..40).map(|i| format!("d{i}.example")).collect();
        let cfg = fits_limits(DnsConfig {
            servers: vec![],
            searches: many,
            options: vec![],
        });
        assert_eq!(cfg.searches.len(), 32);
    }
}
