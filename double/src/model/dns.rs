//! Cluster DNS: the records CoreDNS's `kubernetes` plugin serves (per the Kubernetes DNS-Based
//! Service Discovery spec); busybox `nslookup` prints them ([`super::nslookup`]).
//!
//! Records — upstream: kubernetes/dns docs/specification.md; coredns plugin/kubernetes
//! (kubernetes.go `Records`/`findServices`, `endpointHostname`, reverse.go `serviceRecordForIP`,
//! handler.go: answers in the cluster zone are authoritative, NODATA/NXDOMAIN carry aa too).
//! kind's Corefile: `kubernetes cluster.local in-addr.arpa ip6.arpa { pods insecure ... }`,
//! `forward . /etc/resolv.conf` (the modelled upstream resolver knows no names: NXDOMAIN).

use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

use serde_json::Value;

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

    pub(crate) fn ip(ip: IpAddr) -> RData {
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
    /// No `forward` plugin: names outside the cluster zone get SERVFAIL from the cluster DNS.
    pub no_forward: bool,
    /// ExternalName Services get no records.
    pub no_external_name: bool,
    /// The upstream resolver answers no AAAA records (a Docker network without IPv6).
    pub upstream_ipv4_only: bool,
}

/// The records of the cluster zone and its reverse zones, built from API objects.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClusterDns {
    pub cluster_domain: String,
    /// The kube-dns ClusterIP; the only server that answers.
    pub server: Option<IpAddr>,
    records: BTreeMap<String, Vec<RData>>,
    quirks: DnsQuirks,
    /// What the upstream resolver knows: on kind, Docker's embedded DNS answers the node containers'
    /// names with their addresses on the kind network.
    upstream_hosts: BTreeMap<String, Vec<IpAddr>>,
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
            upstream_hosts: BTreeMap::new(),
        }
    }

    /// The names the upstream resolver answers (e.g. the node containers').
    pub fn with_upstream_hosts(
        mut self,
        hosts: impl IntoIterator<Item = (String, Vec<IpAddr>)>,
    ) -> ClusterDns {
        self.upstream_hosts = hosts
            .into_iter()
            .map(|(name, ips)| (normalize(&name), ips))
            .collect();
        self
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
            if self.quirks.no_external_name {
                return;
            }
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
        self.answer_chasing(name, qtype, 0)
    }

    /// [`ClusterDns::answer`]; a CNAME answer to an A/AAAA query is followed by the target's records
    /// (coredns plugin/backend_lookup.go `A`/`AAAA`: in the zone directly, else `b.Lookup` through the
    /// upstream), at most 8 deep as CoreDNS does.
    fn answer_chasing(&self, name: &str, qtype: QType, depth: usize) -> Reply {
        let mut reply = self.answer_once(name, qtype);
        if depth < 8
            && matches!(qtype, QType::A | QType::Aaaa)
            && reply.rcode == Rcode::NoError
            && let Some(target) = reply.answers.iter().find_map(|r| match &r.data {
                RData::Cname(t) => Some(t.clone()),
                _ => None,
            })
        {
            let chased = self.answer_chasing(&target, qtype, depth + 1);
            reply.answers.extend(chased.answers);
        }
        reply
    }

    fn answer_once(&self, name: &str, qtype: QType) -> Reply {
        let name = normalize(name);
        let nxdomain = |authoritative| Reply {
            rcode: Rcode::NxDomain,
            authoritative,
            answers: vec![],
        };
        if !self.in_zone(&name) && !Self::is_reverse(&name) {
            // `forward . /etc/resolv.conf`: the node's resolver answers.
            if self.quirks.no_forward {
                return Reply {
                    rcode: Rcode::ServFail,
                    authoritative: false,
                    answers: vec![],
                };
            }
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
    /// cluster zone: the node containers' names, else nothing (NXDOMAIN), unless it has a wildcard.
    pub fn upstream_answer(&self, name: &str, qtype: QType) -> Reply {
        if let Some(ips) = self.upstream_hosts.get(&normalize(name)) {
            let answers = ips
                .iter()
                .map(|ip| RData::ip(*ip))
                .filter(|d| d.qtype() == qtype)
                .filter(|d| !(self.quirks.upstream_ipv4_only && d.qtype() == QType::Aaaa))
                .map(|data| Record {
                    name: normalize(name),
                    data,
                })
                .collect();
            return Reply {
                rcode: Rcode::NoError,
                authoritative: false,
                answers,
            };
        }
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
pub(crate) mod tests {
    use super::*;
    use serde_json::json;

    /// A cluster's records for the tests here and of [`super::super::nslookup`].
    pub(crate) fn cluster() -> ClusterDns {
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
}
