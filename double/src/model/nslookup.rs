//! busybox `nslookup` as the docs' `busybox:1.28` and a current busybox print the cluster DNS's records.
//!
//! upstream: busybox networking/nslookup.c: 1.28 is the small libc-based applet
//! (`print_host`: getaddrinfo with the resolver's search list, `Address N: ip reverse-name`,
//! errors via `bb_error_msg` on stderr); current busybox (1.36) is the LEDE/OpenWRT applet
//! (`add_query_with_search` only expands names without a dot, `send_queries` prints each reply,
//! `parse_reply`, exit status from `G.exitcode`). Checked against /work/shared/captures/busybox-nslookup.

use std::net::IpAddr;

use super::dns::{QType, RData, Rcode, Reply, Resolver, normalize, reverse_name};
use super::resolv::DnsConfig;

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

#[cfg(test)]
mod tests {
    use super::super::dns::tests::cluster;
    use std::net::Ipv4Addr;

    use super::super::dns::Record;
    use super::*;
    use crate::model::resolv::parse_resolv_conf;

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
