//! `/etc/resolv.conf` as the kubelet composes it and as resolvers read it.
//!
//! Writing: the kubelet computes nameservers, searches and options (upstream:
//! pkg/kubelet/network/dns/dns.go `GetPodDNS`; ClusterFirst = cluster DNS IPs only,
//! `<ns>.svc.<domain> svc.<domain> <domain>` + the node's search list, options `ndots:5`; `dnsConfig` is
//! merged with duplicates dropped, and options through a Go map, so their order is not defined) and the
//! container runtime writes them as `search`, `nameserver` and `options` lines.
//!
//! Reading, what matters for the suites: `nameserver` lines accumulate (resolvers use the first 3, MAXNS);
//! the last `search` or `domain` line wins (glibc, musl; the kubelet's own `parseResolvConf` keeps the last
//! `search` line and the last `options` line); `ndots:N` is capped at 15 by glibc and musl; lines starting
//! with `#` or `;` are comments.

use std::fmt;

/// Most nameservers glibc and musl use (MAXNS), and the kubelet's limit (validation.MaxDNSNameservers).
pub const MAX_NAMESERVERS: usize = 3;
/// ndots cap in glibc (RES_MAXNDOTS) and musl.
pub const MAX_NDOTS: u32 = 15;
/// The kubelet's search list limits (ExpandedDNSConfig, GA since 1.28): paths and total characters.
pub const MAX_SEARCH_PATHS: usize = 32;
pub const MAX_SEARCH_CHARS: usize = 2048;

/// One `name` or `name:value` item of an `options` line.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ResolvOption {
    pub name: String,
    pub value: Option<String>,
}

impl ResolvOption {
    pub fn parse(item: &str) -> ResolvOption {
        match item.split_once(':') {
            Some((name, value)) => ResolvOption {
                name: name.to_string(),
                value: Some(value.to_string()),
            },
            None => ResolvOption {
                name: item.to_string(),
                value: None,
            },
        }
    }
}

impl fmt::Display for ResolvOption {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.value {
            Some(value) => write!(f, "{}:{}", self.name, value),
            None => f.write_str(&self.name),
        }
    }
}

/// One line of the file, classified.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ResolvLine {
    Nameserver {
        line_no: usize,
        address: String,
    },
    Search {
        line_no: usize,
        domains: Vec<String>,
    },
    Domain {
        line_no: usize,
        domain: String,
    },
    Options {
        line_no: usize,
        options: Vec<ResolvOption>,
    },
    Comment {
        line_no: usize,
        text: String,
    },
    Blank {
        line_no: usize,
    },
    /// A keyword resolvers ignore, or a keyword without its value.
    Other {
        line_no: usize,
        raw: String,
    },
}

/// A parsed resolv.conf. Parsing never fails; unknown lines are kept as [`ResolvLine::Other`].
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ResolvConf {
    pub lines: Vec<ResolvLine>,
    /// Every `nameserver`, in order.
    pub nameservers: Vec<String>,
    /// The search list in effect: the last `search` or `domain` line.
    pub search: Vec<String>,
    /// Every option of every `options` line, in order (glibc applies each line in turn).
    pub options: Vec<ResolvOption>,
}

/// Whose name expansion [`ResolvConf::query_candidates`] follows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Resolver {
    /// glibc `res_search`: as-is first when the name has at least `ndots` dots, else search list first.
    Glibc,
    /// musl `name_from_dns_search`: the search list only when the name has fewer than `ndots` dots.
    Musl,
    /// busybox 1.3x `nslookup` (own resolver, `add_query_with_search`): a name with a dot is queried
    /// as-is only; a name without one only with each search domain appended.
    BusyboxNslookup,
}

impl ResolvConf {
    pub fn parse(text: &str) -> ResolvConf {
        let mut conf = ResolvConf::default();
        for (i, raw) in text.lines().enumerate() {
            let line_no = i + 1;
            let raw = raw.strip_suffix('\r').unwrap_or(raw);
            let trimmed = raw.trim();
            if trimmed.is_empty() {
                conf.lines.push(ResolvLine::Blank { line_no });
                continue;
            }
            if trimmed.starts_with('#') || trimmed.starts_with(';') {
                conf.lines.push(ResolvLine::Comment {
                    line_no,
                    text: trimmed.to_string(),
                });
                continue;
            }
            let mut fields = trimmed.split_whitespace();
            let keyword = fields.next().unwrap_or_default();
            let values: Vec<&str> = fields.collect();
            let line = match (keyword, values.first()) {
                ("nameserver", Some(address)) => {
                    conf.nameservers.push(address.to_string());
                    ResolvLine::Nameserver {
                        line_no,
                        address: address.to_string(),
                    }
                }
                ("search", Some(_)) => {
                    let domains: Vec<String> = values.iter().map(|d| d.to_string()).collect();
                    conf.search = domains.clone();
                    ResolvLine::Search { line_no, domains }
                }
                ("domain", Some(domain)) => {
                    conf.search = vec![domain.to_string()];
                    ResolvLine::Domain {
                        line_no,
                        domain: domain.to_string(),
                    }
                }
                ("options", Some(_)) => {
                    let options: Vec<ResolvOption> = values
                        .iter()
                        .map(|item| ResolvOption::parse(item))
                        .collect();
                    conf.options.extend(options.iter().cloned());
                    ResolvLine::Options { line_no, options }
                }
                _ => ResolvLine::Other {
                    line_no,
                    raw: raw.to_string(),
                },
            };
            conf.lines.push(line);
        }
        conf
    }

    /// The last option called `name`, if any.
    pub fn option(&self, name: &str) -> Option<&ResolvOption> {
        self.options.iter().rev().find(|o| o.name == name)
    }

    pub fn has_option(&self, name: &str) -> bool {
        self.option(name).is_some()
    }

    /// The `ndots` value in effect (last one; capped at 15 like glibc and musl). `None` when absent or
    /// not a number.
    pub fn ndots(&self) -> Option<u32> {
        self.option("ndots")
            .and_then(|o| o.value.as_deref())
            .and_then(|v| v.parse::<u32>().ok())
            .map(|n| n.min(MAX_NDOTS))
    }

    /// `ndots` with the resolver default of 1.
    pub fn effective_ndots(&self) -> u32 {
        self.ndots().unwrap_or(1)
    }

    /// The nameservers a resolver actually uses: the first three.
    pub fn effective_nameservers(&self) -> &[String] {
        &self.nameservers[..self.nameservers.len().min(MAX_NAMESERVERS)]
    }

    /// What the kubelet takes from a node's resolv.conf (upstream: pkg/kubelet/network/dns/dns.go
    /// `parseResolvConf`, the same from v1.33.0 to v1.37.2): every nameserver; the last `search` line,
    /// without `.` entries (systemd-resolved writes `search .` on a host without search domains) and
    /// with trailing dots dropped (`domain` is ignored); the options of every `options` line merged by
    /// name, a later value winning (`appendOptions`, through a Go map: their order is not defined).
    pub fn kubelet_view(&self) -> PodDns {
        let mut view = PodDns {
            nameservers: self.nameservers.clone(),
            ..PodDns::default()
        };
        let mut options: Vec<ResolvOption> = Vec::new();
        for line in &self.lines {
            match line {
                ResolvLine::Search { domains, .. } => {
                    view.searches = domains
                        .iter()
                        .filter(|d| d.as_str() != ".")
                        .map(|d| d.strip_suffix('.').unwrap_or(d).to_string())
                        .collect();
                }
                ResolvLine::Options { options: line, .. } => {
                    for option in line {
                        match options.iter_mut().find(|o| o.name == option.name) {
                            Some(seen) => *seen = option.clone(),
                            None => options.push(option.clone()),
                        }
                    }
                }
                _ => {}
            }
        }
        view.options = options.iter().map(ToString::to_string).collect();
        view
    }

    /// The names a resolver would query for `name`, in order (trailing dot removed: an absolute name is
    /// only ever queried as is).
    pub fn query_candidates(&self, name: &str, resolver: Resolver) -> Vec<String> {
        if let Some(absolute) = name.strip_suffix('.') {
            return vec![absolute.to_string()];
        }
        let searched: Vec<String> = self
            .search
            .iter()
            .filter(|d| d.as_str() != ".")
            .map(|d| format!("{name}.{}", d.strip_suffix('.').unwrap_or(d)))
            .collect();
        let as_is = name.to_string();
        let dots = name.matches('.').count() as u32;
        let enough_dots = dots >= self.effective_ndots();
        match resolver {
            Resolver::Glibc => {
                let mut out = Vec::new();
                if enough_dots {
                    out.push(as_is.clone());
                }
                out.extend(searched);
                if !enough_dots {
                    out.push(as_is);
                }
                out
            }
            Resolver::Musl => {
                if enough_dots {
                    vec![as_is]
                } else {
                    let mut out = searched;
                    out.push(as_is);
                    out
                }
            }
            Resolver::BusyboxNslookup => {
                if name.contains('.') || searched.is_empty() {
                    vec![as_is]
                } else {
                    searched
                }
            }
        }
    }
}

/// DNS settings for a pod as the kubelet computes them (before the runtime writes resolv.conf).
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct PodDns {
    pub nameservers: Vec<String>,
    pub searches: Vec<String>,
    /// `name` or `name:value`, as in the CRI DNSConfig.
    pub options: Vec<String>,
}

/// An item of a pod's `spec.dnsConfig.options`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DnsConfigOption {
    pub name: String,
    pub value: Option<String>,
}

fn omit_duplicates(items: impl IntoIterator<Item = String>) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    for item in items {
        if !out.contains(&item) {
            out.push(item);
        }
    }
    out
}

impl PodDns {
    /// `dnsPolicy: ClusterFirst` (or ClusterFirstWithHostNet) with cluster DNS configured.
    /// upstream: dns.go GetPodDNS podDNSCluster + generateSearchesForDNSClusterFirst + defaultDNSOptions.
    pub fn cluster_first(
        namespace: &str,
        cluster_domain: &str,
        cluster_dns: &[&str],
        node_search: &[&str],
    ) -> PodDns {
        let searches = if cluster_domain.is_empty() {
            node_search.iter().map(|s| s.to_string()).collect()
        } else {
            let cluster = [
                format!("{namespace}.svc.{cluster_domain}"),
                format!("svc.{cluster_domain}"),
                cluster_domain.to_string(),
            ];
            omit_duplicates(
                cluster
                    .into_iter()
                    .chain(node_search.iter().map(|s| s.to_string())),
            )
        };
        PodDns {
            nameservers: cluster_dns.iter().map(|s| s.to_string()).collect(),
            searches,
            options: vec!["ndots:5".to_string()],
        }
    }

    /// `dnsPolicy: None`: an empty base, to be filled by [`PodDns::with_dns_config`].
    pub fn none() -> PodDns {
        PodDns::default()
    }

    /// Merges a pod's `spec.dnsConfig` (upstream: dns.go appendDNSConfig, mergeDNSOptions): nameservers and
    /// searches appended without duplicates; options by name, the pod's value overriding. Option order is
    /// not defined upstream (a Go map); here it is base order, then new names.
    pub fn with_dns_config(
        mut self,
        nameservers: &[&str],
        searches: &[&str],
        options: &[DnsConfigOption],
    ) -> PodDns {
        self.nameservers = omit_duplicates(
            self.nameservers
                .into_iter()
                .chain(nameservers.iter().map(|s| s.to_string())),
        );
        self.searches = omit_duplicates(
            self.searches
                .into_iter()
                .chain(searches.iter().map(|s| s.to_string())),
        );
        let mut merged: Vec<ResolvOption> = Vec::new();
        let base = self.options.iter().map(|o| ResolvOption::parse(o));
        let added = options.iter().map(|o| ResolvOption {
            name: o.name.clone(),
            value: o.value.clone().filter(|v| !v.is_empty()),
        });
        for option in base.chain(added) {
            match merged.iter_mut().find(|m| m.name == option.name) {
                Some(existing) => existing.value = option.value,
                None => merged.push(option),
            }
        }
        self.options = merged.iter().map(ToString::to_string).collect();
        self
    }

    /// Applies the kubelet's limits (upstream: dns.go formDNSConfigFitsLimits): at most 3 nameservers,
    /// search paths longer than 253 characters dropped, at most 32 paths and 2048 characters.
    pub fn fit_limits(mut self) -> PodDns {
        self.nameservers.truncate(MAX_NAMESERVERS);
        self.searches.truncate(MAX_SEARCH_PATHS);
        self.searches.retain(|s| s.len() <= 253);
        while self.searches.join(" ").len() > MAX_SEARCH_CHARS {
            self.searches.pop();
        }
        self
    }

    /// Does a pod's resolv.conf carry these settings? Nameservers and search list must match in order;
    /// options as a set (their order is not defined upstream).
    pub fn check(&self, conf: &ResolvConf) -> Result<(), String> {
        if conf.nameservers != self.nameservers {
            return Err(format!(
                "nameservers: got {:?}, want {:?}",
                conf.nameservers, self.nameservers
            ));
        }
        if conf.search != self.searches {
            return Err(format!(
                "search: got {:?}, want {:?}",
                conf.search, self.searches
            ));
        }
        let mut got: Vec<String> = conf.options.iter().map(ToString::to_string).collect();
        let mut want = self.options.clone();
        got.sort();
        want.sort();
        if got != want {
            return Err(format!("options: got {got:?}, want {want:?} (any order)"));
        }
        Ok(())
    }

    /// The file as containerd writes it: `search`, `nameserver` lines, `options` (empty parts omitted).
    pub fn render(&self) -> String {
        let mut out = String::new();
        if !self.searches.is_empty() {
            out.push_str(&format!("search {}\n", self.searches.join(" ")));
        }
        for ns in &self.nameservers {
            out.push_str(&format!("nameserver {ns}\n"));
        }
        if !self.options.is_empty() {
            out.push_str(&format!("options {}\n", self.options.join(" ")));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CAPTURE: &str = include_str!("../../tests/fixtures/nslookup/resolv.conf");
    const DOC_DEBUGGING: &str =
        include_str!("../../../manifests/doc-outputs/dns-debugging-resolution/resolv-conf.txt");
    const DOC_DNS_EXAMPLE: &str =
        include_str!("../../../manifests/doc-outputs/dns-pod-service/resolv-conf-dns-example.txt");
    const DOC_IPV6: &str =
        include_str!("../../../manifests/doc-outputs/dns-pod-service/resolv-conf-ipv6.txt");
    const DOC_NAMESPACES: &str =
        include_str!("../../../manifests/doc-outputs/dns-pod-service/resolv-conf-namespaces.txt");

    #[test]
    fn captured_pod_resolv_conf() {
        let conf = ResolvConf::parse(CAPTURE);
        assert_eq!(conf.nameservers, ["127.0.0.1"]);
        assert_eq!(
            conf.search,
            [
                "default.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local"
            ]
        );
        assert_eq!(conf.ndots(), Some(5));
        assert_eq!(conf.lines.len(), 3);
        // exactly what the kubelet computes for a ClusterFirst pod in `default`
        let want = PodDns::cluster_first("default", "cluster.local", &["127.0.0.1"], &[]);
        want.check(&conf).unwrap();
        assert_eq!(want.render(), CAPTURE);
    }

    // The capture README: busybox 1.28 expands `kubernetes.default`, busybox 1.36 does not.
    #[test]
    fn name_expansion_explains_the_busybox_captures() {
        let conf = ResolvConf::parse(CAPTURE);
        assert_eq!(
            conf.query_candidates("kubernetes.default", Resolver::BusyboxNslookup),
            ["kubernetes.default"]
        );
        assert_eq!(
            conf.query_candidates("kubernetes.default", Resolver::Glibc),
            [
                "kubernetes.default.default.svc.cluster.local",
                "kubernetes.default.svc.cluster.local",
                "kubernetes.default.cluster.local",
                "kubernetes.default",
            ]
        );
        assert_eq!(
            conf.query_candidates("kubernetes", Resolver::BusyboxNslookup),
            [
                "kubernetes.default.svc.cluster.local",
                "kubernetes.svc.cluster.local",
                "kubernetes.cluster.local",
            ]
        );
        assert_eq!(
            conf.query_candidates("kubernetes.default.svc.cluster.local.", Resolver::Musl),
            ["kubernetes.default.svc.cluster.local"]
        );
        // 5 dots >= ndots 5: as-is first (glibc), as-is only (musl)
        let long = "a.b.c.d.e.f";
        assert_eq!(conf.query_candidates(long, Resolver::Glibc)[0], long);
        assert_eq!(conf.query_candidates(long, Resolver::Musl), [long]);
    }

    #[test]
    fn docs_dns_debugging_resolv_conf() {
        let conf = ResolvConf::parse(DOC_DEBUGGING);
        assert_eq!(conf.nameservers, ["10.0.0.10"]);
        assert_eq!(conf.search.len(), 5);
        assert_eq!(conf.effective_ndots(), 5);
        // the page's file is a ClusterFirst pod on a node whose search list has the two GCE domains
        PodDns::cluster_first(
            "default",
            "cluster.local",
            &["10.0.0.10"],
            &["google.internal", "c.gce_project_id.internal"],
        )
        .check(&conf)
        .unwrap();
    }

    #[test]
    fn docs_dns_config_example() {
        // service/networking/custom-dns.yaml: dnsPolicy None + dnsConfig
        let conf = ResolvConf::parse(DOC_DNS_EXAMPLE);
        let want = PodDns::none().with_dns_config(
            &["192.0.2.1"],
            &["ns1.svc.cluster-domain.example", "my.dns.search.suffix"],
            &[
                DnsConfigOption {
                    name: "ndots".into(),
                    value: Some("2".into()),
                },
                DnsConfigOption {
                    name: "edns0".into(),
                    value: None,
                },
            ],
        );
        want.check(&conf).unwrap();
        assert_eq!(conf.ndots(), Some(2));
        assert!(conf.has_option("edns0"));
        assert_eq!(
            conf.option("edns0").map(ToString::to_string).as_deref(),
            Some("edns0")
        );
        // the page lists nameserver first; containerd writes search first: same settings
        assert_ne!(want.render(), DOC_DNS_EXAMPLE);
        want.check(&ResolvConf::parse(&want.render())).unwrap();
    }

    #[test]
    fn docs_ipv6_resolv_conf_is_a_cluster_first_file() {
        // The page shows this as `kubectl exec -it dns-example -- cat /etc/resolv.conf`, but dns-example
        // has dnsPolicy None; the content is what a ClusterFirst pod in `default` gets.
        let conf = ResolvConf::parse(DOC_IPV6);
        PodDns::cluster_first(
            "default",
            "cluster-domain.example",
            &["2001:db8:30::a"],
            &[],
        )
        .check(&conf)
        .unwrap();
        let dns_example = PodDns::none().with_dns_config(&["192.0.2.1"], &[], &[]);
        assert!(dns_example.check(&conf).is_err());
        // the namespace sketch keeps its placeholder literally
        let sketch = ResolvConf::parse(DOC_NAMESPACES);
        assert_eq!(sketch.search[0], "<namespace>.svc.cluster.local");
        assert_eq!(sketch.nameservers, ["10.32.0.10"]);
    }

    #[test]
    fn reading_rules() {
        let text = "# generated\r\n; old-style comment\r\nnameserver 10.0.0.1\nnameserver 10.0.0.2\nnameserver 10.0.0.3\nnameserver 10.0.0.4\nsearch a.example b.example.\ndomain c.example\noptions ndots:3 rotate\noptions ndots:20 timeout:2\nsortlist 10.0.0.0\nnameserver\n\n";
        let conf = ResolvConf::parse(text);
        assert_eq!(conf.nameservers.len(), 4);
        assert_eq!(conf.effective_nameservers().len(), 3);
        // the last of search/domain wins
        assert_eq!(conf.search, ["c.example"]);
        // options accumulate, the last ndots wins, capped at 15
        assert_eq!(conf.ndots(), Some(15));
        assert!(conf.has_option("rotate"));
        assert_eq!(
            conf.option("timeout").and_then(|o| o.value.as_deref()),
            Some("2")
        );
        assert!(matches!(conf.lines[0], ResolvLine::Comment { .. }));
        assert!(matches!(conf.lines[1], ResolvLine::Comment { .. }));
        assert!(
            matches!(&conf.lines[10], ResolvLine::Other { raw, .. } if raw.starts_with("sortlist"))
        );
        assert!(matches!(&conf.lines[11], ResolvLine::Other { raw, .. } if raw == "nameserver"));
        // the kubelet reads the node file differently: last search line (dots trimmed), every options
        // line merged by name (the later ndots wins)
        let view = conf.kubelet_view();
        assert_eq!(view.searches, ["a.example", "b.example"]);
        assert_eq!(view.options, ["ndots:20", "rotate", "timeout:2"]);
        assert_eq!(view.nameservers.len(), 4);
    }

    /// upstream dns_test.go `TestParseResolvConf` cases, v1.37.2: `search .` gives no search domain,
    /// `options` lines are merged.
    #[test]
    fn kubelet_view_follows_parse_resolv_conf() {
        // systemd-resolved's file on a host without search domains
        let resolved = "# This is /run/systemd/resolve/stub-resolv.conf managed by man:systemd-resolved(8).\n\
# Do not edit.\n\
nameserver 127.0.0.53\n\
options edns0 trust-ad\n\
search .\n";
        let view = ResolvConf::parse(resolved).kubelet_view();
        assert!(view.searches.is_empty(), "{:?}", view.searches);
        assert_eq!(view.options, ["edns0", "trust-ad"]);
        let dots = ResolvConf::parse("search . foo. bar\n").kubelet_view();
        assert_eq!(dots.searches, ["foo", "bar"]);
        let lines = ResolvConf::parse("options timeout:1\noptions attempts:3\n").kubelet_view();
        assert_eq!(lines.options, ["timeout:1", "attempts:3"]);
        let overridden = ResolvConf::parse("options ndots:1 edns0\noptions timeout:2 ndots:0\n");
        assert_eq!(
            overridden.kubelet_view().options,
            ["ndots:0", "edns0", "timeout:2"]
        );
    }

    #[test]
    fn defaults_and_odd_inputs() {
        let empty = ResolvConf::parse("");
        assert_eq!(empty.ndots(), None);
        assert_eq!(empty.effective_ndots(), 1);
        assert!(empty.effective_nameservers().is_empty());
        assert_eq!(
            empty.query_candidates("kubernetes", Resolver::BusyboxNslookup),
            ["kubernetes"]
        );
        let bad = ResolvConf::parse("options ndots:x\n");
        assert_eq!(bad.ndots(), None);
        assert_eq!(
            ResolvConf::parse("search .\n").query_candidates("x", Resolver::Musl),
            ["x"]
        );
    }

    #[test]
    fn dns_config_merge_and_limits() {
        let base =
            PodDns::cluster_first("ns1", "cluster.local", &["10.96.0.10"], &["cluster.local"]);
        // the node's `cluster.local` is not repeated
        assert_eq!(
            base.searches,
            [
                "ns1.svc.cluster.local",
                "svc.cluster.local",
                "cluster.local"
            ]
        );
        let merged = base.with_dns_config(
            &["10.96.0.10", "192.0.2.1"],
            &["svc.cluster.local", "extra.example"],
            &[
                DnsConfigOption {
                    name: "ndots".into(),
                    value: Some("2".into()),
                },
                DnsConfigOption {
                    name: "single-request".into(),
                    value: Some(String::new()),
                },
            ],
        );
        assert_eq!(merged.nameservers, ["10.96.0.10", "192.0.2.1"]);
        assert_eq!(merged.searches.len(), 4);
        assert_eq!(merged.options, ["ndots:2", "single-request"]);
        let many = PodDns {
            nameservers: (1..=5).map(|i| format!("10.0.0.{i}")).collect(),
            searches: (0..40).map(|i| format!("d{i}.example")).collect(),
            options: vec![],
        }
        .fit_limits();
        assert_eq!(many.nameservers.len(), 3);
        assert_eq!(many.searches.len(), 32);
        let long = PodDns {
            searches: (0..20).map(|i| format!("{i}{}", "x".repeat(150))).collect(),
            ..PodDns::default()
        }
        .fit_limits();
        assert!(long.searches.join(" ").len() <= MAX_SEARCH_CHARS);
        let wrong = PodDns::cluster_first("other", "cluster.local", &["127.0.0.1"], &[]);
        let err = wrong.check(&ResolvConf::parse(CAPTURE)).unwrap_err();
        assert!(err.starts_with("search: got"), "{err}");
    }
}
