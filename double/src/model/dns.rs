//! Cluster DNS: the records CoreDNS's `kubernetes` plugin serves (per the Kubernetes DNS-Based
//! Service Discovery spec), and busybox `nslookup` as the docs' `busybox:1.28` and a current busybox
//! print them.
//!
//! Records — upstream: kubernetes/dns docs/specification.md; coredns plugin/kubernetes
//! (kubernetes.go `Records`/`findServices`, `endpointHostname`, reverse.go `serviceRecordForIP`,
//! handler.go: answers in the cluster zone are authoritative, NODATA/NXDOMAIN carry aa too).
//! kind's Corefile: `kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure ... }`,
//! `forward . /etc/resolv.conf` (the modelled upstream resolver knows no names: NXDOMAIN).
//!
//! nslookup — busybox networking/nslookup.c: 1.28 is the small libc-based applet
//! (`print_host`: getaddrinfo with the resolver's search list, `Address N: ip reverse-name`,
//! errors via `bb_error_msg` on stderr); current busybox (1.36) is the LEDE/OpenWRT applet
//! (`add_query_with_search` only expands names without a dot, `send_queries` prints each reply,
//! `parse_reply`, exit status from `G.exitcode`). Checked against /work/shared/captures/busybox-nslookup.

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

use super::resolv::DnsConfig;

/// Query types the model answers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum QType {
    A,
    Aaaa,
    Ptr,
    Srv,
    Cname,
}

impl QType {
    /// busybox `-type=` names (case-insensitive).
    pub fn parse(s: &str) -> Option<QType> {
        match s.to_ascii_uppercase().as_str() {
            "A" => Some(QType::A),
            "AAAA" => Some(QType::Aaaa),
            "PTR" => Some(QType::Ptr),
            "SRV" => Some(QType::Srv),
            "CNAME" => Some(QType::Cname),
            _ => None,
        }
    }
}

/// Record data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RData {
    A(Ipv4Addr),
    Aaaa(Ipv6Addr),
    Cname(String),
    Ptr(String),
    Srv {
        priority: u16,
        weight: u16,
        port: u16,
        target: String,
    },
}

impl RData {
    fn qtype(&self) -> QType {
        match self {
            RData::A(_) => QType::A,
            RData::Aaaa(_) => QType::Aaaa,
            RData::Cname(_) => QType::Cname,
            RData::Ptr(_) => QType::Ptr,
            RData::Srv { .. } => QType::Srv,
        }
    }

    fn ip(ip: IpAddr) -> RData {
        match ip {
            IpAddr::V4(v4) => RData::A(v4),
            IpAddr::V6(v6) => RData::Aaaa(v6),
        }
    }
}

/// One answer record (owner name without the trailing dot).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub name: String,
    pub data: RData,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Rcode {
    NoError,
    ServFail,
    NxDomain,
}

impl Rcode {
    /// busybox `rcodes[]` text.
    pub fn as_str(self) -> &'static str {
        match self {
            Rcode::NoError => "NOERROR",
            Rcode::ServFail => "SERVFAIL",
            Rcode::NxDomain => "NXDOMAIN",
        }
    }
}

/// A DNS reply.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Reply {
    pub rcode: Rcode,
    /// The `aa` header bit.
    pub authoritative: bool,
    pub answers: Vec<Record>,
}

/// A DNS server reachable from a pod.
pub trait Resolver {
    /// The reply of `server` to one query, or `None` when the server does not answer (timeout).
    fn query(&self, server: IpAddr, name: &str, qtype: QType) -> Option<Reply>;
}

/// Normalises a query name: lowercase, no trailing dot.
pub fn normalize(name: &str) -> String {
    name.trim_end_matches('.').to_ascii_lowercase()
}

/// The reverse-lookup name of an IP (`d.c.b.a.in-addr.arpa`, nibbles `.ip6.arpa`).
pub fn reverse_name(ip: IpAddr) -> String {
    match ip {
        IpAddr::V4(v4) => {
            let o = v4.octets();
            format!("{}.{}.{}.{}.in-addr.arpa", o[3], o[2], o[1], o[0])
        }
        IpAddr::V6(v6) => {
            let mut s = String::new();
            for byte in v6.octets().iter().rev() {
                s.push_str(&format!("{:x}.{:x}.", byte & 0xf, byte >> 4));
            }
            s.push_str("ip6.arpa");
            s
        }
    }
}

/// coredns `endpointHostname`: the endpoint's hostname, or its IP with `.`/`:` turned into `-`.
pub fn endpoint_hostname(ip: IpAddr, hostname: Option<&str>) -> String {
    match hostname.filter(|h| !h.is_empty()) {
        Some(h) => h.to_string(),
        None => match ip {
            IpAddr::V4(v4) => v4.to_string().replace('.', "-"),
            IpAddr::V6(v6) => v6.to_string().replace(':', "-"),
        },
    }
}

/// coredns `pods insecure`: `a-b-c-d.<ns>.pod.<zone>` answers the IP written in the name.
fn pod_record_ip(label: &str) -> Option<IpAddr> {
    if label.matches('-').count() == 3
        && let Ok(v4) = label.replace('-', ".").parse::<Ipv4Addr>()
    {
        return Some(IpAddr::V4(v4));
    }
    label
        .replace('-', ":")
        .parse::<Ipv6Addr>()
        .ok()
        .map(IpAddr::V6)
}

/// Ways a real cluster's DNS misbehaves (the double's deviations); all off is upstream behaviour.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct DnsQuirks {
    /// AAAA queries get empty answers (a DNS server configured for IPv4 only).
    pub no_aaaa: bool,
    /// Headless Services get no endpoint records (the server does not watch EndpointSlices).
    pub headless_empty: bool,
    /// Not-ready endpoints are served as if every Service set `publishNotReadyAddresses`.
    pub serve_unready: bool,
    /// No SRV records.
    pub no_srv: bool,
    /// Endpoint `hostname`s are ignored: endpoints are named after their IP only.
    pub no_endpoint_hostnames: bool,
    /// `<dashed-ip>.<ns>.pod.<zone>` queries fail with SERVFAIL.
    pub pod_records_servfail: bool,
    /// No pod records (`pods disabled`): `<dashed-ip>.<ns>.pod.<zone>` queries get NXDOMAIN.
    pub pods_disabled: bool,
    /// The upstream resolver answers every name outside the cluster zone with this address
    /// (a wildcard record in a search domain, or an ISP resolver that never says NXDOMAIN).
    pub upstream_wildcard: Option<Ipv4Addr>,
}

/// The records of the cluster zone and its reverse zones, built from API objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterDns {
    pub cluster_domain: String,
    /// The kube-dns ClusterIP; the only server that answers.
    pub server: Option<IpAddr>,
    records: BTreeMap<String, Vec<RData>>,
    quirks: DnsQuirks,
}

fn str_of<'a>(v: &'a Value, key: &str) -> &'a str {
    v[key].as_str().unwrap_or_default()
}

impl ClusterDns {
    pub fn new(cluster_domain: &str, server: Option<IpAddr>) -> ClusterDns {
        ClusterDns {
            cluster_domain: cluster_domain.to_string(),
            server,
            records: BTreeMap::new(),
            quirks: DnsQuirks::default(),
        }
    }

    fn add(&mut self, name: &str, data: RData) {
        let entry = self.records.entry(normalize(name)).or_default();
        if !entry.contains(&data) {
            entry.push(data);
        }
    }

    /// Builds the zone from Services and EndpointSlices (any namespaces).
    pub fn from_objects(
        cluster_domain: &str,
        server: Option<IpAddr>,
        services: &[Value],
        endpoint_slices: &[Value],
    ) -> ClusterDns {
        Self::from_objects_with(
            cluster_domain,
            server,
            services,
            endpoint_slices,
            DnsQuirks::default(),
        )
    }

    /// [`ClusterDns::from_objects`] with misbehaviours switched on.
    pub fn from_objects_with(
        cluster_domain: &str,
        server: Option<IpAddr>,
        services: &[Value],
        endpoint_slices: &[Value],
        quirks: DnsQuirks,
    ) -> ClusterDns {
        let mut dns = ClusterDns::new(cluster_domain, server);
        dns.quirks = quirks;
        for svc in services {
            dns.add_service(svc, endpoint_slices);
        }
        dns
    }

    fn add_service(&mut self, svc: &Value, endpoint_slices: &[Value]) {
        let name = str_of(&svc["metadata"], "name");
        let ns = str_of(&svc["metadata"], "namespace");
        if name.is_empty() || ns.is_empty() {
            return;
        }
        let fqdn = format!("{name}.{ns}.svc.{}", self.cluster_domain);
        let spec = &svc["spec"];
        if str_of(spec, "type") == "ExternalName" {
            let target = str_of(spec, "externalName");
            if !target.is_empty() {
                self.add(&fqdn, RData::Cname(normalize(target)));
            }
            return;
        }
        let mut ports: Vec<(String, String, u16)> = spec["ports"]
            .as_array()
            .map(|ps| {
                ps.iter()
                    .filter_map(|p| {
                        let port = u16::try_from(p["port"].as_u64()?).ok()?;
                        let proto = p["protocol"].as_str().unwrap_or("TCP").to_ascii_lowercase();
                        Some((str_of(p, "name").to_string(), proto, port))
                    })
                    .collect()
            })
            .unwrap_or_default();
        let cluster_ips: Vec<IpAddr> = match spec["clusterIPs"].as_array() {
            Some(ips) => ips
                .iter()
                .filter_map(|ip| ip.as_str()?.parse().ok())
                .collect(),
            None => str_of(spec, "clusterIP").parse().ok().into_iter().collect(),
        };
        let headless = str_of(spec, "clusterIP") == "None";
        // Endpoints of this service (ready only, as the plugin serves them).
        let mut endpoints: Vec<(IpAddr, String)> = Vec::new();
        for slice in endpoint_slices {
            let meta = &slice["metadata"];
            if str_of(meta, "namespace") != ns
                || meta["labels"]["kubernetes.io/service-name"].as_str() != Some(name)
            {
                continue;
            }
            for ep in slice["endpoints"].as_array().into_iter().flatten() {
                if ep["conditions"]["ready"].as_bool() == Some(false) && !self.quirks.serve_unready
                {
                    continue;
                }
                let hostname = ep["hostname"]
                    .as_str()
                    .filter(|_| !self.quirks.no_endpoint_hostnames);
                for addr in ep["addresses"].as_array().into_iter().flatten() {
                    if let Some(ip) = addr.as_str().and_then(|a| a.parse::<IpAddr>().ok()) {
                        endpoints.push((ip, endpoint_hostname(ip, hostname)));
                    }
                }
            }
        }
        for (ip, host) in &endpoints {
            // Reverse records point at the endpoint name (coredns reverse.go, endpoints branch).
            self.add(&reverse_name(*ip), RData::Ptr(format!("{host}.{fqdn}")));
        }
        if headless && self.quirks.headless_empty {
            endpoints.clear();
        }
        if self.quirks.no_srv {
            ports.clear();
        }
        if headless {
            for (ip, host) in &endpoints {
                self.add(&fqdn, RData::ip(*ip));
                self.add(&format!("{host}.{fqdn}"), RData::ip(*ip));
            }
            for (port_name, proto, port) in ports.iter().filter(|p| !p.0.is_empty()) {
                let weight = if endpoints.is_empty() {
                    0
                } else {
                    (100 / endpoints.len()) as u16
                };
                for (_, host) in &endpoints {
                    let target = format!("{host}.{fqdn}");
                    self.add(
                        &format!("_{port_name}._{proto}.{fqdn}"),
                        RData::Srv {
                            priority: 0,
                            weight,
                            port: *port,
                            target,
                        },
                    );
                }
            }
        } else {
            for ip in &cluster_ips {
                self.add(&fqdn, RData::ip(*ip));
                // Service IPs take precedence over endpoints in reverse lookups.
                let rev = reverse_name(*ip);
                self.records.insert(rev, vec![RData::Ptr(fqdn.clone())]);
            }
            for (port_name, proto, port) in ports.iter().filter(|p| !p.0.is_empty()) {
                let target = fqdn.clone();
                self.add(
                    &format!("_{port_name}._{proto}.{fqdn}"),
                    RData::Srv {
                        priority: 0,
                        weight: 100,
                        port: *port,
                        target,
                    },
                );
            }
        }
    }

    fn in_zone(&self, name: &str) -> bool {
        name == self.cluster_domain || name.ends_with(&format!(".{}", self.cluster_domain))
    }

    fn is_reverse(name: &str) -> bool {
        name.ends_with(".in-addr.arpa") || name.ends_with(".ip6.arpa")
    }

    /// Answers one query as CoreDNS would.
    pub fn answer(&self, name: &str, qtype: QType) -> Reply {
        let name = normalize(name);
        let nxdomain = |authoritative| Reply {
            rcode: Rcode::NxDomain,
            authoritative,
            answers: vec![],
        };
        if !self.in_zone(&name) && !Self::is_reverse(&name) {
            // `forward . /etc/resolv.conf`: the node's resolver answers.
            return self.upstream_answer(&name, qtype);
        }
        if let Some(data) = self.records.get(&name) {
            let dropped = |d: &RData| self.quirks.no_aaaa && d.qtype() == QType::Aaaa;
            let answers = data
                .iter()
                .filter(|d| d.qtype() == qtype || matches!(d, RData::Cname(_)))
                .filter(|d| !dropped(d))
                .map(|d| Record {
                    name: name.clone(),
                    data: d.clone(),
                })
                .collect();
            return Reply {
                rcode: Rcode::NoError,
                authoritative: true,
                answers,
            };
        }
        // `pods insecure`: <dashed-ip>.<namespace>.pod.<zone>.
        let pod_suffix = format!(".pod.{}", self.cluster_domain);
        if !self.quirks.pods_disabled
            && let Some(rest) = name.strip_suffix(&pod_suffix)
            && let Some((label, _ns)) = rest.split_once('.')
            && let Some(ip) = pod_record_ip(label)
        {
            if self.quirks.pod_records_servfail {
                return Reply {
                    rcode: Rcode::ServFail,
                    authoritative: false,
                    answers: vec![],
                };
            }
            let data = RData::ip(ip);
            let answers = if data.qtype() == qtype {
                vec![Record {
                    name: name.clone(),
                    data,
                }]
            } else {
                vec![]
            };
            return Reply {
                rcode: Rcode::NoError,
                authoritative: true,
                answers,
            };
        }
        // Empty non-terminals (e.g. `svc.cluster.local`) exist without records: NODATA.
        let suffix = format!(".{name}");
        if self.records.keys().any(|k| k.ends_with(&suffix)) || name == self.cluster_domain {
            return Reply {
                rcode: Rcode::NoError,
                authoritative: true,
                answers: vec![],
            };
        }
        if Self::is_reverse(&name) {
            // `fallthrough in-addr.arpa ip6.arpa`: upstream does not know it either.
            return nxdomain(false);
        }
        nxdomain(true)
    }

    /// What the upstream resolver (the node's, docker's DNS in kind) answers for a name outside the
    /// cluster zone: it knows no names (NXDOMAIN), unless it has a wildcard.
    pub fn upstream_answer(&self, name: &str, qtype: QType) -> Reply {
        match self.quirks.upstream_wildcard {
            Some(ip) if !Self::is_reverse(name) => Reply {
                rcode: Rcode::NoError,
                authoritative: false,
                answers: match qtype {
                    QType::A => vec![Record {
                        name: normalize(name),
                        data: RData::A(ip),
                    }],
                    _ => vec![],
                },
            },
            _ => Reply {
                rcode: Rcode::NxDomain,
                authoritative: false,
                answers: vec![],
            },
        }
    }
}

impl Resolver for ClusterDns {
    fn query(&self, server: IpAddr, name: &str, qtype: QType) -> Option<Reply> {
        (self.server == Some(server)).then(|| self.answer(name, qtype))
    }
}

/// Which nslookup applet a busybox image carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BusyboxVersion {
    /// busybox <= 1.28: the small getaddrinfo-based applet.
    V1_28,
    /// busybox >= 1.29 (e.g. 1.36): the LEDE/OpenWRT applet.
    Modern,
}

/// The busybox applet version of a container image, `None` when the image is not busybox.
/// `busybox:1.28`, `busybox:1.28.4` -> 1.28; `busybox`, `busybox:latest`, `busybox:1.36` -> modern.
pub fn busybox_version(image: &str) -> Option<BusyboxVersion> {
    let without_digest = image.split('@').next().unwrap_or(image);
    let (repo, tag) = match without_digest.rsplit_once(':') {
        Some((r, t)) if !t.contains('/') => (r, t),
        _ => (without_digest, "latest"),
    };
    let base = repo.rsplit('/').next().unwrap_or(repo);
    if base != "busybox" {
        return None;
    }
    let mut parts = tag.split(['.', '-']);
    let major = parts.next().and_then(|m| m.parse::<u32>().ok());
    let minor = parts.next().and_then(|m| m.parse::<u32>().ok());
    Some(match (major, minor) {
        (Some(1), Some(minor)) if minor <= 28 => BusyboxVersion::V1_28,
        (Some(0), _) => BusyboxVersion::V1_28,
        _ => BusyboxVersion::Modern,
    })
}

/// What nslookup sees of its container: resolv.conf and /etc/hosts.
pub struct NslookupEnv<'a> {
    pub resolv_conf: &'a DnsConfig,
    pub etc_hosts: &'a str,
    pub resolver: &'a dyn Resolver,
}

/// The result of running nslookup.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NslookupOutput {
    pub stdout: String,
    pub stderr: String,
    pub exit_code: i32,
}

/// `/etc/hosts` entries as (address, names).
fn parse_hosts(hosts: &str) -> Vec<(IpAddr, Vec<String>)> {
    hosts
        .lines()
        .filter_map(|line| {
            let line = line.split('#').next().unwrap_or_default();
            let mut fields = line.split_whitespace();
            let ip = fields.next()?.parse::<IpAddr>().ok()?;
            Some((ip, fields.map(str::to_string).collect()))
        })
        .collect()
}

fn ndots(cfg: &DnsConfig) -> usize {
    cfg.options
        .iter()
        .rev()
        .find_map(|o| {
            o.strip_prefix("ndots:")
                .and_then(|n| n.parse::<usize>().ok())
        })
        .unwrap_or(1)
}

/// The resolver's candidate names for `name` (res_search: fewer dots than ndots -> search list
/// first, then the name as is; otherwise the name first). A trailing dot means absolute.
fn search_candidates(name: &str, cfg: &DnsConfig) -> Vec<String> {
    if name.ends_with('.') {
        return vec![normalize(name)];
    }
    let expanded: Vec<String> = cfg.searches.iter().map(|s| format!("{name}.{s}")).collect();
    if name.matches('.').count() < ndots(cfg) {
        [expanded, vec![name.to_string()]].concat()
    } else {
        [vec![name.to_string()], expanded].concat()
    }
}

/// busybox 1.28 `nslookup NAME [SERVER]` (getaddrinfo + getnameinfo through the libc resolver).
fn nslookup_1_28(name: &str, server_arg: Option<&str>, env: &NslookupEnv) -> NslookupOutput {
    let hosts = parse_hosts(env.etc_hosts);
    let server_text = server_arg
        .map(str::to_string)
        .or_else(|| env.resolv_conf.servers.first().cloned())
        .unwrap_or_else(|| "127.0.0.1".into());
    let server: Option<IpAddr> = server_text.parse().ok();
    // getnameinfo(NI_NAMEREQD): /etc/hosts first, then a PTR query.
    let reverse = |ip: IpAddr| -> Option<String> {
        if let Some((_, names)) = hosts.iter().find(|(h, n)| *h == ip && !n.is_empty()) {
            return names.first().cloned();
        }
        let server = server?;
        let reply = env.resolver.query(server, &reverse_name(ip), QType::Ptr)?;
        reply.answers.iter().find_map(|r| match &r.data {
            RData::Ptr(t) => Some(t.clone()),
            _ => None,
        })
    };
    // getaddrinfo(AF_UNSPEC): /etc/hosts, else DNS per family (AAAA first, as the captures show).
    let lookup = |query: &str| -> Vec<IpAddr> {
        if let Ok(ip) = query.parse::<IpAddr>() {
            return vec![ip];
        }
        let wanted = normalize(query);
        let from_hosts: Vec<IpAddr> = hosts
            .iter()
            .filter(|(_, names)| names.iter().any(|n| normalize(n) == wanted))
            .map(|(ip, _)| *ip)
            .collect();
        if !from_hosts.is_empty() {
            let (v6, v4): (Vec<IpAddr>, Vec<IpAddr>) =
                from_hosts.into_iter().partition(IpAddr::is_ipv6);
            return [v6, v4].concat();
        }
        let Some(server) = server else { return vec![] };
        let mut found = Vec::new();
        for qtype in [QType::Aaaa, QType::A] {
            for candidate in search_candidates(query, env.resolv_conf) {
                let Some(reply) = env.resolver.query(server, &candidate, qtype) else {
                    continue;
                };
                let ips: Vec<IpAddr> = reply
                    .answers
                    .iter()
                    .filter_map(|r| match r.data {
                        RData::A(v4) if qtype == QType::A => Some(IpAddr::V4(v4)),
                        RData::Aaaa(v6) if qtype == QType::Aaaa => Some(IpAddr::V6(v6)),
                        _ => None,
                    })
                    .collect();
                if !ips.is_empty() {
                    found.extend(ips);
                    break;
                }
            }
        }
        found
    };
    let print_host = |host: &str, header: &str, out: &mut String, err: &mut String| -> bool {
        let addrs = lookup(host);
        if addrs.is_empty() {
            err.push_str(&format!("nslookup: can't resolve '{host}'\n"));
            return false;
        }
        out.push_str(&format!("{header:<10} {host}\n"));
        for (i, ip) in addrs.iter().enumerate() {
            match reverse(*ip) {
                Some(rev) => out.push_str(&format!("Address {}: {ip} {rev}\n", i + 1)),
                None => out.push_str(&format!("Address {}: {ip}\n", i + 1)),
            }
        }
        true
    };
    let (mut out, mut err) = (String::new(), String::new());
    print_host(&server_text, "Server:", &mut out, &mut err);
    out.push('\n');
    let ok = print_host(name, "Name:", &mut out, &mut err);
    NslookupOutput {
        stdout: out,
        stderr: err,
        exit_code: if ok { 0 } else { 1 },
    }
}

/// busybox `make_ptr`: an IP argument becomes a PTR query.
fn make_ptr(arg: &str) -> Option<String> {
    arg.parse::<IpAddr>().ok().map(reverse_name)
}

/// Current busybox `nslookup [-type=T] NAME [SERVER]` (the LEDE/OpenWRT applet).
fn nslookup_modern(
    name: &str,
    types: &[QType],
    server_arg: Option<&str>,
    env: &NslookupEnv,
) -> NslookupOutput {
    // add_query_with_search: the search list only for names without a dot.
    let search: Vec<&String> = env.resolv_conf.searches.iter().collect();
    let expand = |qtype: QType| -> Vec<(QType, String)> {
        if qtype == QType::Ptr || search.is_empty() || name.contains('.') {
            vec![(qtype, name.to_string())]
        } else {
            search
                .iter()
                .map(|s| (qtype, format!("{name}.{s}")))
                .collect()
        }
    };
    let queries: Vec<(QType, String)> = if types.is_empty() {
        match make_ptr(name) {
            Some(ptr) => vec![(QType::Ptr, ptr)],
            None => [expand(QType::A), expand(QType::Aaaa)].concat(),
        }
    } else {
        types.iter().flat_map(|t| expand(*t)).collect()
    };
    let servers: Vec<String> = match server_arg {
        Some(s) => vec![s.to_string()],
        None if env.resolv_conf.servers.is_empty() => vec!["127.0.0.1".to_string()],
        None => env.resolv_conf.servers.clone(),
    };
    let mut out = String::new();
    let mut exit_code = 0;
    for server_name in &servers {
        let Ok(server) = server_name.parse::<IpAddr>() else {
            continue;
        };
        let replies: Vec<Option<Reply>> = queries
            .iter()
            .map(|(t, n)| env.resolver.query(server, n, *t))
            .collect();
        if replies.iter().all(Option::is_none) {
            continue; // timed out: try the next server
        }
        let address = match server {
            IpAddr::V4(_) => format!("{server}:53"),
            IpAddr::V6(_) => format!("[{server}]:53"),
        };
        out.push_str(&format!(
            "Server:\t\t{server_name}\nAddress:\t{address}\n\n"
        ));
        let mut unanswered = Vec::new();
        for ((_, qname), reply) in queries.iter().zip(&replies) {
            let Some(reply) = reply else {
                unanswered.push(qname.clone());
                continue;
            };
            if reply.rcode != Rcode::NoError {
                out.push_str(&format!(
                    "** server can't find {qname}: {}\n",
                    reply.rcode.as_str()
                ));
                exit_code = 1;
            } else {
                if !reply.authoritative {
                    out.push_str("Non-authoritative answer:\n");
                }
                for r in &reply.answers {
                    match &r.data {
                        RData::A(ip) => {
                            out.push_str(&format!("Name:\t{}\nAddress: {ip}\n", r.name))
                        }
                        RData::Aaaa(ip) => {
                            out.push_str(&format!("Name:\t{}\nAddress: {ip}\n", r.name))
                        }
                        RData::Cname(t) => {
                            out.push_str(&format!("{}\tcanonical name = {t}\n", r.name))
                        }
                        RData::Ptr(t) => out.push_str(&format!("{}\tname = {t}\n", r.name)),
                        RData::Srv {
                            priority,
                            weight,
                            port,
                            target,
                        } => out.push_str(&format!(
                            "{}\tservice = {priority} {weight} {port} {target}\n",
                            r.name
                        )),
                    }
                }
            }
            out.push('\n');
        }
        for q in &unanswered {
            out.push_str(&format!("*** Can't find {q}: No answer\n"));
        }
        if !unanswered.is_empty() {
            out.push('\n');
        }
        return NslookupOutput {
            stdout: out,
            stderr: String::new(),
            exit_code,
        };
    }
    out.push_str(";; connection timed out; no servers could be reached\n\n");
    NslookupOutput {
        stdout: out,
        stderr: String::new(),
        exit_code: 1,
    }
}

/// busybox's usage text is long; the model prints its first line like `bb_show_usage` would start.
fn usage(version: BusyboxVersion) -> NslookupOutput {
    let text = match version {
        BusyboxVersion::V1_28 => {
            "BusyBox v1.28.4 (2018-05-22 17:00:17 UTC) multi-call binary.\n\nUsage: nslookup [HOST] [SERVER]\n\nQuery the nameserver for the IP address of the given HOST\noptionally using a specified DNS server\n"
        }
        BusyboxVersion::Modern => {
            "BusyBox v1.36.1 (2023-05-18 22:34:17 UTC) multi-call binary.\n\nUsage: nslookup [-type=QUERY_TYPE] [-debug] HOST [DNS_SERVER]\n\nQuery DNS about HOST\n\nQUERY_TYPE: soa,ns,a,aaaa,cname,mx,txt,ptr,srv,any\n"
        }
    };
    NslookupOutput {
        stdout: String::new(),
        stderr: text.to_string(),
        exit_code: 1,
    }
}

/// Runs `nslookup` with `args` (argv without the program name).
pub fn nslookup(version: BusyboxVersion, args: &[String], env: &NslookupEnv) -> NslookupOutput {
    match version {
        BusyboxVersion::V1_28 => {
            // "We allow 1 or 2 arguments"; an option-looking first argument shows usage.
            if args.is_empty() || args.len() > 2 || args[0].starts_with('-') {
                return usage(version);
            }
            nslookup_1_28(&args[0], args.get(1).map(String::as_str), env)
        }
        BusyboxVersion::Modern => {
            let mut types = Vec::new();
            let mut rest = args;
            while let Some(first) = rest.first().filter(|a| a.starts_with('-')) {
                let opt = &first[1..];
                let (key, val) = opt.split_once('=').unwrap_or((opt, ""));
                match key {
                    "type" | "querytype" => match QType::parse(val) {
                        Some(t) => types.push(t),
                        None => {
                            return NslookupOutput {
                                stdout: String::new(),
                                stderr: format!("nslookup: invalid query type \"{val}\"\n"),
                                exit_code: 1,
                            };
                        }
                    },
                    "port" | "retry" | "debug" | "t" | "timeout" => {}
                    _ => return usage(version),
                }
                rest = &rest[1..];
            }
            if rest.is_empty() || rest.len() > 2 {
                return usage(version);
            }
            nslookup_modern(&rest[0], &types, rest.get(1).map(String::as_str), env)
        }
    }
}

/// A resolver with no DNS server behind it, for tests of programs that only need one to exist.
#[cfg(test)]
pub(crate) struct Nowhere;

#[cfg(test)]
impl Resolver for Nowhere {
    fn query(&self, _: IpAddr, _: &str, _: QType) -> Option<Reply> {
        None
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::resolv::parse_resolv_conf;
    use serde_json::json;

    const CAPTURES: &str = "/work/shared/captures/busybox-nslookup";

    /// The DNS server of the captures: a plain table server, authoritative for the names it
    /// holds records of, NXDOMAIN elsewhere, non-authoritative empty answers (NODATA).
    struct CaptureServer {
        records: Vec<(&'static str, IpAddr)>,
    }

    impl Resolver for CaptureServer {
        fn query(&self, server: IpAddr, name: &str, qtype: QType) -> Option<Reply> {
            if server != IpAddr::V4(Ipv4Addr::LOCALHOST) {
                return None;
            }
            let name = normalize(name);
            if qtype == QType::Ptr {
                let answers: Vec<Record> = self
                    .records
                    .iter()
                    .filter(|(_, ip)| reverse_name(*ip) == name)
                    .map(|(n, _)| Record {
                        name: name.clone(),
                        data: RData::Ptr(n.to_string()),
                    })
                    .collect();
                let rcode = if answers.is_empty() {
                    Rcode::NxDomain
                } else {
                    Rcode::NoError
                };
                return Some(Reply {
                    rcode,
                    authoritative: true,
                    answers,
                });
            }
            let known: Vec<&(&str, IpAddr)> =
                self.records.iter().filter(|(n, _)| *n == name).collect();
            if known.is_empty() {
                return Some(Reply {
                    rcode: Rcode::NxDomain,
                    authoritative: false,
                    answers: vec![],
                });
            }
            let answers: Vec<Record> = known
                .iter()
                .filter(|(_, ip)| (qtype == QType::A) == ip.is_ipv4())
                .map(|(n, ip)| Record {
                    name: n.to_string(),
                    data: RData::ip(*ip),
                })
                .collect();
            Some(Reply {
                rcode: Rcode::NoError,
                authoritative: !answers.is_empty(),
                answers,
            })
        }
    }

    fn capture_server() -> CaptureServer {
        CaptureServer {
            records: vec![
                (
                    "kubernetes.default.svc.cluster.local",
                    "10.96.0.1".parse().unwrap(),
                ),
                (
                    "my-service.default.svc.cluster.local",
                    "10.96.0.5".parse().unwrap(),
                ),
                (
                    "my-service.default.svc.cluster.local",
                    "fd00:10:96::a5a5".parse().unwrap(),
                ),
            ],
        }
    }

    fn run_capture(version: BusyboxVersion, name: &str) -> String {
        let resolv =
            parse_resolv_conf(&std::fs::read_to_string(format!("{CAPTURES}/resolv.conf")).unwrap());
        let hosts = "127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n";
        let server = capture_server();
        let env = NslookupEnv {
            resolv_conf: &resolv,
            etc_hosts: hosts,
            resolver: &server,
        };
        let out = nslookup(version, &[name.to_string()], &env);
        format!("{}{}exit={}\n", out.stdout, out.stderr, out.exit_code)
    }

    #[test]
    fn reproduces_every_capture() {
        let mut checked = 0;
        for entry in std::fs::read_dir(CAPTURES).unwrap() {
            let path = entry.unwrap().path();
            let file = path.file_name().unwrap().to_string_lossy().to_string();
            let Some((version, name)) = file.strip_suffix(".txt").and_then(|f| f.split_once("--"))
            else {
                continue;
            };
            let version = match version {
                "1_28_4" => BusyboxVersion::V1_28,
                _ => BusyboxVersion::Modern,
            };
            let expected = std::fs::read_to_string(&path).unwrap();
            assert_eq!(run_capture(version, name), expected, "capture {file}");
            checked += 1;
        }
        assert_eq!(checked, 7);
    }

    fn cluster() -> ClusterDns {
        let services = vec![
            json!({"metadata": {"name": "kubernetes", "namespace": "default"},
                   "spec": {"clusterIP": "10.96.0.1", "clusterIPs": ["10.96.0.1"], "ports": [{"name": "https", "port": 443, "protocol": "TCP"}]}}),
            json!({"metadata": {"name": "kube-dns", "namespace": "kube-system"},
                   "spec": {"clusterIP": "10.96.0.10", "clusterIPs": ["10.96.0.10"], "ports": [{"name": "dns", "port": 53, "protocol": "UDP"}]}}),
            json!({"metadata": {"name": "web", "namespace": "default"},
                   "spec": {"clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7", "fd00:10:96::7"], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
            json!({"metadata": {"name": "db", "namespace": "prod"},
                   "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}}),
        ];
        let slices = vec![json!({
            "metadata": {"name": "db-abcde", "namespace": "prod", "labels": {"kubernetes.io/service-name": "db"}},
            "addressType": "IPv4",
            "endpoints": [
                {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "hostname": "db-0"},
                {"addresses": ["10.244.2.6"], "conditions": {"ready": true}},
                {"addresses": ["10.244.2.7"], "conditions": {"ready": false}},
            ],
        })];
        ClusterDns::from_objects(
            "cluster.local",
            Some("10.96.0.10".parse().unwrap()),
            &services,
            &slices,
        )
    }

    #[test]
    fn cluster_records() {
        let dns = cluster();
        let a = dns.answer("web.default.svc.cluster.local", QType::A);
        assert_eq!(
            a.answers,
            vec![Record {
                name: "web.default.svc.cluster.local".into(),
                data: RData::A("10.96.0.7".parse().unwrap())
            }]
        );
        let aaaa = dns.answer("web.default.svc.cluster.local.", QType::Aaaa);
        assert_eq!(aaaa.answers.len(), 1);
        let headless = dns.answer("db.prod.svc.cluster.local", QType::A);
        assert_eq!(headless.answers.len(), 2, "only ready endpoints");
        assert_eq!(
            dns.answer("db-0.db.prod.svc.cluster.local", QType::A)
                .answers
                .len(),
            1
        );
        assert_eq!(
            dns.answer("10-244-2-6.db.prod.svc.cluster.local", QType::A)
                .answers
                .len(),
            1
        );
        let srv = dns.answer("_pg._tcp.db.prod.svc.cluster.local", QType::Srv);
        assert_eq!(srv.answers.len(), 2);
        let srv = dns.answer("_http._tcp.web.default.svc.cluster.local", QType::Srv);
        assert_eq!(
            srv.answers[0].data,
            RData::Srv {
                priority: 0,
                weight: 100,
                port: 80,
                target: "web.default.svc.cluster.local".into()
            }
        );
        let pod = dns.answer("10-244-1-5.prod.pod.cluster.local", QType::A);
        assert_eq!(pod.answers[0].data, RData::A("10.244.1.5".parse().unwrap()));
        assert_eq!(
            dns.answer("nosuch.default.svc.cluster.local", QType::A)
                .rcode,
            Rcode::NxDomain
        );
        let ent = dns.answer("svc.cluster.local", QType::A);
        assert_eq!((ent.rcode, ent.answers.len()), (Rcode::NoError, 0));
        assert_eq!(
            dns.answer("kubernetes.default", QType::A).rcode,
            Rcode::NxDomain
        );
        let ptr = dns.answer(&reverse_name("10.96.0.10".parse().unwrap()), QType::Ptr);
        assert_eq!(
            ptr.answers[0].data,
            RData::Ptr("kube-dns.kube-system.svc.cluster.local".into())
        );
        let ptr = dns.answer(&reverse_name("10.244.1.5".parse().unwrap()), QType::Ptr);
        assert_eq!(
            ptr.answers[0].data,
            RData::Ptr("db-0.db.prod.svc.cluster.local".into())
        );
    }

    #[test]
    fn quirks_change_what_is_served() {
        let services = vec![
            json!({"metadata": {"name": "web", "namespace": "default"},
                   "spec": {"clusterIP": "10.96.0.7", "clusterIPs": ["10.96.0.7", "fd00:10:96::7"], "ports": [{"name": "http", "port": 80, "protocol": "TCP"}]}}),
            json!({"metadata": {"name": "db", "namespace": "prod"},
                   "spec": {"clusterIP": "None", "clusterIPs": ["None"], "ports": [{"name": "pg", "port": 5432, "protocol": "TCP"}]}}),
        ];
        let slices = vec![json!({
            "metadata": {"name": "db-abcde", "namespace": "prod", "labels": {"kubernetes.io/service-name": "db"}},
            "endpoints": [
                {"addresses": ["10.244.1.5"], "conditions": {"ready": true}, "hostname": "db-0"},
                {"addresses": ["10.244.2.7"], "conditions": {"ready": false}},
            ],
        })];
        let with = |quirks: DnsQuirks| {
            ClusterDns::from_objects_with("cluster.local", None, &services, &slices, quirks)
        };
        let no_aaaa = with(DnsQuirks {
            no_aaaa: true,
            ..DnsQuirks::default()
        });
        let reply = no_aaaa.answer("web.default.svc.cluster.local", QType::Aaaa);
        assert_eq!((reply.rcode, reply.answers.len()), (Rcode::NoError, 0));
        let empty = with(DnsQuirks {
            headless_empty: true,
            ..DnsQuirks::default()
        });
        assert_eq!(
            empty.answer("db.prod.svc.cluster.local", QType::A).rcode,
            Rcode::NxDomain
        );
        let unready = with(DnsQuirks {
            serve_unready: true,
            ..DnsQuirks::default()
        });
        assert_eq!(
            unready
                .answer("db.prod.svc.cluster.local", QType::A)
                .answers
                .len(),
            2
        );
        let no_srv = with(DnsQuirks {
            no_srv: true,
            ..DnsQuirks::default()
        });
        assert!(
            no_srv
                .answer("_http._tcp.web.default.svc.cluster.local", QType::Srv)
                .answers
                .is_empty()
        );
        let no_hostnames = with(DnsQuirks {
            no_endpoint_hostnames: true,
            ..DnsQuirks::default()
        });
        assert_eq!(
            no_hostnames
                .answer("db-0.db.prod.svc.cluster.local", QType::A)
                .rcode,
            Rcode::NxDomain
        );
        assert_eq!(
            no_hostnames
                .answer("10-244-1-5.db.prod.svc.cluster.local", QType::A)
                .answers
                .len(),
            1
        );
        let servfail = with(DnsQuirks {
            pod_records_servfail: true,
            ..DnsQuirks::default()
        });
        assert_eq!(
            servfail
                .answer("10-244-1-5.prod.pod.cluster.local", QType::A)
                .rcode,
            Rcode::ServFail
        );
        let wildcard = with(DnsQuirks {
            upstream_wildcard: Some(Ipv4Addr::new(198, 51, 100, 7)),
            ..DnsQuirks::default()
        });
        let reply = wildcard.answer("data", QType::A);
        assert_eq!((reply.rcode, reply.answers.len()), (Rcode::NoError, 1));
        assert_eq!(
            wildcard.answer("data.svc.cluster.local", QType::A).rcode,
            Rcode::NxDomain
        );
    }

    fn in_cluster(version: BusyboxVersion, args: &[&str]) -> NslookupOutput {
        let dns = cluster();
        let resolv = parse_resolv_conf(
            "search default.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
        );
        let hosts = "# Kubernetes-managed hosts file.\n127.0.0.1\tlocalhost\n10.244.1.9\tbusybox\n";
        let env = NslookupEnv {
            resolv_conf: &resolv,
            etc_hosts: hosts,
            resolver: &dns,
        };
        let args: Vec<String> = args.iter().map(|s| s.to_string()).collect();
        nslookup(version, &args, &env)
    }

    /// The docs' `kubectl exec -ti busybox -- nslookup kubernetes.default` with busybox:1.28.
    #[test]
    fn busybox_1_28_in_cluster() {
        let out = in_cluster(BusyboxVersion::V1_28, &["kubernetes.default"]);
        assert_eq!(
            out.stdout,
            "Server:    10.96.0.10\nAddress 1: 10.96.0.10 kube-dns.kube-system.svc.cluster.local\n\nName:      kubernetes.default\nAddress 1: 10.96.0.1 kubernetes.default.svc.cluster.local\n"
        );
        assert_eq!(out.exit_code, 0);
        let dual = in_cluster(BusyboxVersion::V1_28, &["web"]);
        assert!(dual.stdout.ends_with("Name:      web\nAddress 1: fd00:10:96::7 web.default.svc.cluster.local\nAddress 2: 10.96.0.7 web.default.svc.cluster.local\n"));
        let cross = in_cluster(BusyboxVersion::V1_28, &["db.prod"]);
        assert!(
            cross
                .stdout
                .contains("Address 1: 10.244.1.5 db-0.db.prod.svc.cluster.local\n"),
            "{}",
            cross.stdout
        );
    }

    #[test]
    fn busybox_modern_in_cluster() {
        let out = in_cluster(
            BusyboxVersion::Modern,
            &["kubernetes.default.svc.cluster.local"],
        );
        assert_eq!(
            out.stdout,
            "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10:53\n\nName:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n\n\n"
        );
        assert_eq!(out.exit_code, 0);
        let dotted = in_cluster(BusyboxVersion::Modern, &["kubernetes.default"]);
        assert_eq!(dotted.exit_code, 1);
        // A bare name is expanded with each search domain, A queries before AAAA queries.
        let bare = in_cluster(BusyboxVersion::Modern, &["web"]);
        assert!(
            bare.stdout
                .contains("Name:\tweb.default.svc.cluster.local\nAddress: 10.96.0.7\n")
        );
        assert!(
            bare.stdout
                .contains("** server can't find web.svc.cluster.local: NXDOMAIN\n")
        );
        assert_eq!(bare.exit_code, 1);
        let srv = in_cluster(
            BusyboxVersion::Modern,
            &["-type=srv", "_http._tcp.web.default.svc.cluster.local"],
        );
        assert!(srv.stdout.contains("_http._tcp.web.default.svc.cluster.local\tservice = 0 100 80 web.default.svc.cluster.local\n"));
        let timeout = in_cluster(
            BusyboxVersion::Modern,
            &["web.default.svc.cluster.local", "10.0.0.99"],
        );
        assert_eq!(
            timeout.stdout,
            ";; connection timed out; no servers could be reached\n\n"
        );
    }

    #[test]
    fn busybox_versions_from_images() {
        assert_eq!(busybox_version("busybox:1.28"), Some(BusyboxVersion::V1_28));
        assert_eq!(
            busybox_version("docker.io/library/busybox:1.28.4"),
            Some(BusyboxVersion::V1_28)
        );
        assert_eq!(busybox_version("busybox"), Some(BusyboxVersion::Modern));
        assert_eq!(
            busybox_version("busybox:latest"),
            Some(BusyboxVersion::Modern)
        );
        assert_eq!(
            busybox_version("busybox:1.36.1-glibc"),
            Some(BusyboxVersion::Modern)
        );
        assert_eq!(
            busybox_version("registry.k8s.io/e2e-test-images/agnhost:2.53"),
            None
        );
        assert_eq!(
            busybox_version("localhost:5000/busybox"),
            Some(BusyboxVersion::Modern)
        );
    }
}
