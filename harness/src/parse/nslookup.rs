//! `nslookup` output as busybox prints it, both generations, read into server, answers and errors.
//! Success is read from the text only (an address in an answer), never from an exit status.
//!
//! upstream busybox networking/nslookup.c:
//! - 1.28 (small applet, libc `getaddrinfo`): `printf("%-10s %s\n", "Server:"/"Name:", host)`, then
//!   `Address N: ip[ reverse-name]`; failure is `bb_error_msg("can't resolve '%s'")` on stderr, i.e.
//!   `nslookup: can't resolve 'x'`.
//! - 1.3x (FEATURE_NSLOOKUP_BIG, own resolver): on the first reply `Server:\t\t<name>` and
//!   `Address:\t<ip:port>` (`[v6]:port`), then per reply: `Non-authoritative answer:` when not AA,
//!   `Name:\t<owner>` + `Address: <ip>` per A/AAAA record, `<owner>\t<kind> = <value>` for SRV
//!   (`service = prio weight port target`), CNAME, PTR, NS, MX, TXT; `** server can't find <q>: <RCODE>`
//!   per failed query; `*** Can't find <q>: No answer`; `;; connection timed out; no servers could be reached`.
//!
//! BIND's `nslookup` (the `dnsutils` image) prints like 1.3x but with `Address:\t<ip>#<port>`.

use std::net::IpAddr;

use crate::ipfamily::IpFamily;

/// Which program printed the output, as far as the text shows.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Generation {
    /// busybox up to 1.28 (`Address 1: ...`), the `busybox:1.28` image the docs use.
    Busybox128,
    /// busybox 1.3x (`Server:\t\t`, `Address:\tip:53`).
    Busybox13x,
    /// BIND `nslookup` (`Address:\tip#53`).
    BindUtils,
    /// Nothing in the text tells (e.g. only `;; connection timed out`).
    Undetermined,
}

/// The `Server:` block.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ServerInfo {
    /// As printed after `Server:`.
    pub name: String,
    pub address: Option<IpAddr>,
    /// 1.3x and BIND print the port.
    pub port: Option<u16>,
    /// 1.28 prints the server's reverse name when it has one.
    pub reverse_name: Option<String>,
}

/// One address of an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AnswerAddress {
    pub ip: IpAddr,
    pub family: IpFamily,
    /// 1.28: the name after the address (the reverse lookup of it).
    pub reverse_name: Option<String>,
}

/// All addresses printed under one `Name:`; 1.3x prints A and AAAA replies under separate `Name:`
/// lines, which are merged here in order of appearance.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Answer {
    pub name: String,
    pub addresses: Vec<AnswerAddress>,
}

/// A non-address record line: `<owner>\t<kind> = <value>`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Record {
    pub owner: String,
    /// `service`, `canonical name`, `name`, `nameserver`, `mail exchanger`, `text`, ...
    pub kind: String,
    pub value: String,
}

/// An SRV answer (`service = priority weight port target`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Srv {
    pub priority: u16,
    pub weight: u16,
    pub port: u16,
    pub target: String,
}

impl Record {
    /// The SRV fields, when this is a well-formed `service` record.
    pub fn srv(&self) -> Option<Srv> {
        if self.kind != "service" {
            return None;
        }
        let mut parts = self.value.split_whitespace();
        let srv = Srv {
            priority: parts.next()?.parse().ok()?,
            weight: parts.next()?.parse().ok()?,
            port: parts.next()?.parse().ok()?,
            target: parts.next()?.to_string(),
        };
        parts.next().is_none().then_some(srv)
    }
}

/// A failure the output reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum LookupError {
    /// 1.28: `nslookup: can't resolve 'name'` (optionally `: detail`).
    CantResolve {
        name: String,
        detail: Option<String>,
    },
    /// 1.3x/BIND: `** server can't find name: RCODE` (NXDOMAIN, SERVFAIL, REFUSED, ...).
    ServerCantFind { name: String, rcode: String },
    /// `*** Can't find name: No answer` (or `Parse error`).
    CantFind { name: String, detail: String },
    /// `;; connection timed out; no servers could be reached`.
    NoServersReached,
}

impl LookupError {
    pub fn is_nxdomain(&self) -> bool {
        matches!(self, LookupError::ServerCantFind { rcode, .. } if rcode == "NXDOMAIN")
    }

    /// The queried name the error is about, if it names one.
    pub fn name(&self) -> Option<&str> {
        match self {
            LookupError::CantResolve { name, .. }
            | LookupError::ServerCantFind { name, .. }
            | LookupError::CantFind { name, .. } => Some(name),
            LookupError::NoServersReached => None,
        }
    }
}

/// Why a text is not nslookup output at all.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NslookupError {
    #[error("empty nslookup output")]
    Empty,
    #[error("not nslookup output: nothing recognised, first line {0:?}")]
    Unrecognised(String),
}

/// A parsed `nslookup` run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NslookupOutput {
    pub generation: Generation,
    pub server: Option<ServerInfo>,
    pub answers: Vec<Answer>,
    pub records: Vec<Record>,
    pub errors: Vec<LookupError>,
    /// `Non-authoritative answer:` was printed (1.3x prints it per reply, even an empty one).
    pub non_authoritative: bool,
    /// Lines not understood (kept so a suite can show them; e.g. an `exit=1` a capture appended).
    pub unrecognised: Vec<String>,
}

/// Where `Address` lines go.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Block {
    None,
    Server,
    Answer(usize),
}

/// `ip`, `ip:port`, `[v6]:port` or `ip#port`.
fn parse_server_address(s: &str) -> Option<(IpAddr, Option<u16>)> {
    if let Ok(ip) = s.parse::<IpAddr>() {
        return Some((ip, None));
    }
    if let Some((ip, port)) = s.rsplit_once('#') {
        return Some((ip.parse().ok()?, Some(port.parse().ok()?)));
    }
    if let Some(rest) = s.strip_prefix('[') {
        let (ip, port) = rest.split_once("]:")?;
        return Some((ip.parse().ok()?, Some(port.parse().ok()?)));
    }
    let (ip, port) = s.rsplit_once(':')?;
    Some((ip.parse().ok()?, Some(port.parse().ok()?)))
}

/// `Address 12: rest` -> `rest`.
fn strip_numbered_address(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("Address ")?;
    let (number, rest) = rest.split_once(':')?;
    (!number.is_empty() && number.chars().all(|c| c.is_ascii_digit())).then_some(rest)
}

/// `ip[ reverse-name]` of a 1.28 address line.
fn parse_numbered_value(rest: &str) -> Option<(IpAddr, Option<String>)> {
    let mut parts = rest.split_whitespace();
    let ip = parts.next()?.parse().ok()?;
    let reverse = parts.next().map(str::to_string);
    Some((ip, reverse))
}

/// `<owner>\t<kind> = <value>`.
fn parse_record(line: &str) -> Option<Record> {
    let (owner, rest) = line.split_once('\t')?;
    let (kind, value) = rest.split_once(" = ")?;
    if owner.is_empty() || owner.contains(' ') || kind.is_empty() {
        return None;
    }
    Some(Record {
        owner: owner.to_string(),
        kind: kind.trim().to_string(),
        value: value.trim().to_string(),
    })
}

fn parse_error_line(line: &str) -> Option<LookupError> {
    if let Some(rest) = line.strip_prefix("** server can't find ") {
        let (name, rcode) = rest.rsplit_once(": ")?;
        return Some(LookupError::ServerCantFind {
            name: name.to_string(),
            rcode: rcode.trim().to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix("*** Can't find ") {
        let (name, detail) = rest.rsplit_once(": ")?;
        return Some(LookupError::CantFind {
            name: name.to_string(),
            detail: detail.trim().to_string(),
        });
    }
    if let Some(rest) = line.strip_prefix("nslookup: can't resolve '") {
        let (name, after) = rest.split_once('\'')?;
        let detail = after
            .strip_prefix(':')
            .map(|d| d.trim().to_string())
            .filter(|d| !d.is_empty());
        return Some(LookupError::CantResolve {
            name: name.to_string(),
            detail,
        });
    }
    if line.starts_with(";;") && line.contains("no servers could be reached") {
        return Some(LookupError::NoServersReached);
    }
    None
}

impl NslookupOutput {
    pub fn parse(text: &str) -> Result<NslookupOutput, NslookupError> {
        if text.trim().is_empty() {
            return Err(NslookupError::Empty);
        }
        let mut out = NslookupOutput {
            generation: Generation::Undetermined,
            server: None,
            answers: Vec::new(),
            records: Vec::new(),
            errors: Vec::new(),
            non_authoritative: false,
            unrecognised: Vec::new(),
        };
        let mut block = Block::None;
        let mut saw_old_style = false;
        for raw in text.lines() {
            let line = raw.strip_suffix('\r').unwrap_or(raw);
            if line.trim().is_empty() {
                block = Block::None;
                continue;
            }
            if let Some(rest) = line.strip_prefix("Server:") {
                // 1.28 pads with spaces (`%-10s `); 1.3x and BIND print TABs
                if rest.starts_with('\t') {
                    out.generation = Generation::Busybox13x;
                } else {
                    out.generation = Generation::Busybox128;
                }
                out.server = Some(ServerInfo {
                    name: rest.trim().to_string(),
                    address: None,
                    port: None,
                    reverse_name: None,
                });
                block = Block::Server;
                continue;
            }
            if let Some(rest) = strip_numbered_address(line) {
                saw_old_style = true;
                if add_numbered_address(&mut out, block, rest) {
                    continue;
                }
                out.unrecognised.push(line.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("Address:") {
                if add_address(&mut out, block, rest) {
                    continue;
                }
                out.unrecognised.push(line.to_string());
                continue;
            }
            if let Some(rest) = line.strip_prefix("Name:") {
                let name = rest.trim().to_string();
                let index = match out.answers.iter().position(|a| a.name == name) {
                    Some(index) => index,
                    None => {
                        out.answers.push(Answer {
                            name,
                            addresses: Vec::new(),
                        });
                        out.answers.len() - 1
                    }
                };
                block = Block::Answer(index);
                continue;
            }
            if line.trim() == "Non-authoritative answer:" {
                out.non_authoritative = true;
                block = Block::None;
                continue;
            }
            if line.trim() == "Authoritative answers can be found from:" {
                block = Block::None;
                continue;
            }
            if let Some(error) = parse_error_line(line) {
                if matches!(error, LookupError::CantResolve { .. }) {
                    saw_old_style = true;
                }
                out.errors.push(error);
                block = Block::None;
                continue;
            }
            if let Some(record) = parse_record(line) {
                out.records.push(record);
                continue;
            }
            out.unrecognised.push(line.to_string());
        }
        if out.generation == Generation::Undetermined && saw_old_style {
            out.generation = Generation::Busybox128;
        }
        let recognised = out.server.is_some()
            || !out.answers.is_empty()
            || !out.records.is_empty()
            || !out.errors.is_empty()
            || out.non_authoritative;
        if !recognised {
            let first = text.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
            return Err(NslookupError::Unrecognised(first.to_string()));
        }
        Ok(out)
    }

    /// At least one address was printed as an answer. This is the only evidence of success.
    pub fn resolved(&self) -> bool {
        self.answers.iter().any(|a| !a.addresses.is_empty())
    }

    /// Every answered address, first occurrence order, without duplicates.
    pub fn addresses(&self) -> Vec<IpAddr> {
        let mut out: Vec<IpAddr> = Vec::new();
        for address in self.answers.iter().flat_map(|a| a.addresses.iter()) {
            if !out.contains(&address.ip) {
                out.push(address.ip);
            }
        }
        out
    }

    /// The answer printed under `Name: <name>`.
    pub fn answer(&self, name: &str) -> Option<&Answer> {
        self.answers.iter().find(|a| a.name == name)
    }

    /// Distinct families of the answered addresses, in order of appearance.
    pub fn families(&self) -> Vec<IpFamily> {
        let mut out = Vec::new();
        for ip in self.addresses() {
            let family = IpFamily::of_addr(ip);
            if !out.contains(&family) {
                out.push(family);
            }
        }
        out
    }

    pub fn is_nxdomain(&self) -> bool {
        self.errors.iter().any(LookupError::is_nxdomain)
    }

    /// SRV answers.
    pub fn srv_records(&self) -> Vec<Srv> {
        self.records.iter().filter_map(Record::srv).collect()
    }
}

/// `Address N: ip[ name]`: the server's address right after `Server:`, else an answer's.
fn add_numbered_address(out: &mut NslookupOutput, block: Block, rest: &str) -> bool {
    let Some((ip, reverse_name)) = parse_numbered_value(rest) else {
        return false;
    };
    match block {
        Block::Server => match out.server.as_mut() {
            Some(server) if server.address.is_none() => {
                server.address = Some(ip);
                server.reverse_name = reverse_name;
                true
            }
            _ => false,
        },
        Block::Answer(index) => match out.answers.get_mut(index) {
            Some(answer) => {
                answer.addresses.push(AnswerAddress {
                    ip,
                    family: IpFamily::of_addr(ip),
                    reverse_name,
                });
                true
            }
            None => false,
        },
        Block::None => false,
    }
}

/// `Address:\tip:53` (server, 1.3x), `Address:\tip#53` (server, BIND), `Address: ip` (answer).
fn add_address(out: &mut NslookupOutput, block: Block, rest: &str) -> bool {
    let value = rest.trim();
    match block {
        Block::Server => {
            let Some((ip, port)) = parse_server_address(value) else {
                return false;
            };
            let Some(server) = out.server.as_mut() else {
                return false;
            };
            if server.address.is_some() {
                return false;
            }
            server.address = Some(ip);
            server.port = port;
            if value.contains('#') {
                out.generation = Generation::BindUtils;
            }
            true
        }
        Block::Answer(index) => {
            let Ok(ip) = value.parse::<IpAddr>() else {
                return false;
            };
            match out.answers.get_mut(index) {
                Some(answer) => {
                    answer.addresses.push(AnswerAddress {
                        ip,
                        family: IpFamily::of_addr(ip),
                        reverse_name: None,
                    });
                    true
                }
                None => false,
            }
        }
        Block::None => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The real captures (copied from shared/captures/busybox-nslookup/), without their `exit=N` line.
    macro_rules! capture {
        ($file:literal) => {
            include_str!(concat!("../../tests/fixtures/nslookup/", $file))
        };
    }

    const C128_KUBERNETES: &str = capture!("1_28_4--kubernetes.default.txt");
    const C128_MY_SERVICE: &str = capture!("1_28_4--my-service.default.svc.cluster.local.txt");
    const C128_NOSUCH: &str = capture!("1_28_4--nosuch.default.txt");
    const C136_KUBERNETES_FQDN: &str = capture!("1_36_1--kubernetes.default.svc.cluster.local.txt");
    const C136_KUBERNETES: &str = capture!("1_36_1--kubernetes.default.txt");
    const C136_MY_SERVICE: &str = capture!("1_36_1--my-service.default.svc.cluster.local.txt");
    const C136_NOSUCH: &str = capture!("1_36_1--nosuch.default.txt");

    const DOC_OK: &str = include_str!(
        "../../../manifests/doc-outputs/dns-debugging-resolution/nslookup-kubernetes-default-ok.txt"
    );
    const DOC_CANT: &str = include_str!(
        "../../../manifests/doc-outputs/dns-debugging-resolution/nslookup-kubernetes-default-cant-resolve.txt"
    );
    const DOC_CANT_KUBE_DNS: &str = include_str!(
        "../../../manifests/doc-outputs/dns-debugging-resolution/nslookup-kubernetes-default-cant-resolve-kube-dns.txt"
    );

    /// Splits a capture into the nslookup text and the exit status the capture recorded.
    fn split_capture(capture: &str) -> (&str, i32) {
        let body = capture.trim_end_matches('\n');
        let (text, last) = body.rsplit_once('\n').unwrap();
        let status = last.strip_prefix("exit=").unwrap().parse().unwrap();
        (text, status)
    }

    fn parse_capture(capture: &str) -> (NslookupOutput, i32) {
        let (text, status) = split_capture(capture);
        let out = NslookupOutput::parse(text).unwrap();
        assert!(out.unrecognised.is_empty(), "{:?}", out.unrecognised);
        (out, status)
    }

    fn ip(s: &str) -> IpAddr {
        s.parse().unwrap()
    }

    fn localhost_server_128() -> ServerInfo {
        ServerInfo {
            name: "127.0.0.1".into(),
            address: Some(ip("127.0.0.1")),
            port: None,
            reverse_name: Some("localhost".into()),
        }
    }

    fn localhost_server_13x() -> ServerInfo {
        ServerInfo {
            name: "127.0.0.1".into(),
            address: Some(ip("127.0.0.1")),
            port: Some(53),
            reverse_name: None,
        }
    }

    #[test]
    fn capture_1_28_kubernetes_default() {
        let (out, status) = parse_capture(C128_KUBERNETES);
        assert_eq!(status, 0);
        assert_eq!(out.generation, Generation::Busybox128);
        assert_eq!(out.server, Some(localhost_server_128()));
        assert!(out.resolved());
        assert_eq!(
            out.answers,
            [Answer {
                name: "kubernetes.default".into(),
                addresses: vec![AnswerAddress {
                    ip: ip("10.96.0.1"),
                    family: IpFamily::IPv4,
                    reverse_name: Some("kubernetes.default.svc.cluster.local".into()),
                }],
            }]
        );
        assert!(out.errors.is_empty());
        assert!(!out.non_authoritative);
    }

    #[test]
    fn capture_1_28_dual_stack_service() {
        let (out, status) = parse_capture(C128_MY_SERVICE);
        assert_eq!(status, 0);
        assert_eq!(out.generation, Generation::Busybox128);
        let answer = out.answer("my-service.default.svc.cluster.local").unwrap();
        assert_eq!(answer.addresses.len(), 2);
        // 1.28 (libc getaddrinfo) lists the IPv6 address first here
        assert_eq!(out.addresses(), [ip("fd00:10:96::a5a5"), ip("10.96.0.5")]);
        assert_eq!(out.families(), [IpFamily::IPv6, IpFamily::IPv4]);
        assert!(
            answer
                .addresses
                .iter()
                .all(|a| a.reverse_name.as_deref() == Some("my-service.default.svc.cluster.local"))
        );
    }

    #[test]
    fn capture_1_28_cant_resolve() {
        let (out, status) = parse_capture(C128_NOSUCH);
        assert_eq!(status, 1);
        assert_eq!(out.generation, Generation::Busybox128);
        assert_eq!(out.server, Some(localhost_server_128()));
        assert!(!out.resolved());
        assert!(out.answers.is_empty());
        assert_eq!(
            out.errors,
            [LookupError::CantResolve {
                name: "nosuch.default".into(),
                detail: None,
            }]
        );
        assert!(!out.is_nxdomain());
        assert_eq!(out.errors[0].name(), Some("nosuch.default"));
    }

    #[test]
    fn capture_1_36_fqdn() {
        let (out, status) = parse_capture(C136_KUBERNETES_FQDN);
        assert_eq!(status, 0);
        assert_eq!(out.generation, Generation::Busybox13x);
        assert_eq!(out.server, Some(localhost_server_13x()));
        assert!(out.resolved());
        assert_eq!(out.addresses(), [ip("10.96.0.1")]);
        assert_eq!(out.answers[0].name, "kubernetes.default.svc.cluster.local");
        assert_eq!(out.answers[0].addresses[0].reverse_name, None);
        // the empty AAAA reply still printed its header
        assert!(out.non_authoritative);
        assert!(out.errors.is_empty());
    }

    #[test]
    fn capture_1_36_does_not_search_a_dotted_name() {
        let (out, status) = parse_capture(C136_KUBERNETES);
        assert_eq!(status, 1);
        assert_eq!(out.generation, Generation::Busybox13x);
        assert!(!out.resolved());
        assert!(out.is_nxdomain());
        // one error per query (A and AAAA)
        assert_eq!(
            out.errors,
            vec![
                LookupError::ServerCantFind {
                    name: "kubernetes.default".into(),
                    rcode: "NXDOMAIN".into(),
                };
                2
            ]
        );
    }

    #[test]
    fn capture_1_36_dual_stack_service() {
        let (out, status) = parse_capture(C136_MY_SERVICE);
        assert_eq!(status, 0);
        assert_eq!(out.generation, Generation::Busybox13x);
        // two `Name:` blocks (A then AAAA) merge into one answer
        assert_eq!(out.answers.len(), 1);
        assert_eq!(out.addresses(), [ip("10.96.0.5"), ip("fd00:10:96::a5a5")]);
        assert_eq!(out.families(), [IpFamily::IPv4, IpFamily::IPv6]);
        assert!(!out.non_authoritative);
    }

    #[test]
    fn capture_1_36_nxdomain() {
        let (out, status) = parse_capture(C136_NOSUCH);
        assert_eq!(status, 1);
        assert!(out.is_nxdomain());
        assert!(!out.resolved());
        assert_eq!(out.errors.len(), 2);
        assert_eq!(out.errors[0].name(), Some("nosuch.default"));
    }

    #[test]
    fn every_capture_in_the_fixture_folder_is_covered() {
        let mut names: Vec<String> = std::fs::read_dir(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/nslookup"
        ))
        .unwrap()
        .map(|e| e.unwrap().file_name().into_string().unwrap())
        .filter(|n| n.ends_with(".txt"))
        .collect();
        names.sort();
        assert_eq!(
            names,
            [
                "1_28_4--kubernetes.default.txt",
                "1_28_4--my-service.default.svc.cluster.local.txt",
                "1_28_4--nosuch.default.txt",
                "1_36_1--kubernetes.default.svc.cluster.local.txt",
                "1_36_1--kubernetes.default.txt",
                "1_36_1--my-service.default.svc.cluster.local.txt",
                "1_36_1--nosuch.default.txt",
            ]
        );
    }

    #[test]
    fn exit_status_is_not_evidence() {
        // Parsed with the capture's `exit=N` line left in: it is just an unrecognised line and
        // changes nothing else.
        for capture in [
            C128_KUBERNETES,
            C136_KUBERNETES,
            C136_MY_SERVICE,
            C128_NOSUCH,
        ] {
            let (text, _) = split_capture(capture);
            let with_exit = NslookupOutput::parse(capture).unwrap();
            let without = NslookupOutput::parse(text).unwrap();
            assert_eq!(with_exit.unrecognised.len(), 1);
            assert!(with_exit.unrecognised[0].starts_with("exit="));
            assert_eq!(with_exit.answers, without.answers);
            assert_eq!(with_exit.errors, without.errors);
        }
        // a zero exit with an error text is still a failure
        let lying = format!("{}exit=0\n", split_capture(C136_NOSUCH).0);
        assert!(!NslookupOutput::parse(&lying).unwrap().resolved());
    }

    #[test]
    fn docs_dns_debugging_outputs() {
        let ok = NslookupOutput::parse(DOC_OK).unwrap();
        assert!(ok.unrecognised.is_empty());
        assert_eq!(ok.generation, Generation::Busybox128);
        assert_eq!(
            ok.server,
            Some(ServerInfo {
                name: "10.0.0.10".into(),
                address: Some(ip("10.0.0.10")),
                port: None,
                reverse_name: None,
            })
        );
        assert!(ok.resolved());
        assert_eq!(
            ok.answer("kubernetes.default").unwrap().addresses[0].ip,
            ip("10.0.0.1")
        );
        assert_eq!(ok.answers[0].addresses[0].reverse_name, None);

        let cant = NslookupOutput::parse(DOC_CANT).unwrap();
        assert!(cant.unrecognised.is_empty());
        assert!(!cant.resolved());
        assert_eq!(cant.errors[0].name(), Some("kubernetes.default"));

        let cant2 = NslookupOutput::parse(DOC_CANT_KUBE_DNS).unwrap();
        assert_eq!(
            cant2
                .server
                .as_ref()
                .and_then(|s| s.reverse_name.as_deref()),
            Some("kube-dns.kube-system.svc.cluster.local")
        );
        assert!(!cant2.resolved());
    }

    // Constructed from the printf formats in busybox networking/nslookup.c (1.3x), not captured.
    #[test]
    fn busybox_13x_other_records_and_ipv6_server() {
        let text = "Server:\t\tfd00:10:96::a\nAddress:\t[fd00:10:96::a]:53\n\n\
                    _http._tcp.my-service.default.svc.cluster.local\tservice = 0 100 80 my-service.default.svc.cluster.local\n\n\
                    Non-authoritative answer:\nwww.kubernetes.io\tcanonical name = kubernetes.io\nName:\tkubernetes.io\nAddress: 2600:1901:0:7e2::\n\n\
                    *** Can't find nothing.example: No answer\n\n";
        let out = NslookupOutput::parse(text).unwrap();
        assert!(out.unrecognised.is_empty(), "{:?}", out.unrecognised);
        assert_eq!(out.generation, Generation::Busybox13x);
        let server = out.server.clone().unwrap();
        assert_eq!(server.address, Some(ip("fd00:10:96::a")));
        assert_eq!(server.port, Some(53));
        assert_eq!(
            out.srv_records(),
            [Srv {
                priority: 0,
                weight: 100,
                port: 80,
                target: "my-service.default.svc.cluster.local".into(),
            }]
        );
        assert_eq!(out.records[1].kind, "canonical name");
        assert_eq!(out.records[1].srv(), None);
        assert_eq!(out.families(), [IpFamily::IPv6]);
        assert_eq!(
            out.errors,
            [LookupError::CantFind {
                name: "nothing.example".into(),
                detail: "No answer".into(),
            }]
        );
    }

    // Constructed from BIND's nslookup printf formats (`Address:\t%s` with `ip#port`), not captured.
    #[test]
    fn bind_utils_format() {
        let text = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\nName:\tkubernetes.default.svc.cluster.local\nAddress: 10.96.0.1\n\n";
        let out = NslookupOutput::parse(text).unwrap();
        assert_eq!(out.generation, Generation::BindUtils);
        assert_eq!(out.server.as_ref().and_then(|s| s.port), Some(53));
        assert_eq!(out.addresses(), [ip("10.96.0.1")]);
        let refused = "Server:\t\t10.96.0.10\nAddress:\t10.96.0.10#53\n\n** server can't find x.example: REFUSED\n\n";
        let out = NslookupOutput::parse(refused).unwrap();
        assert!(!out.is_nxdomain());
        assert_eq!(
            out.errors,
            [LookupError::ServerCantFind {
                name: "x.example".into(),
                rcode: "REFUSED".into(),
            }]
        );
    }

    #[test]
    fn timeouts_and_verbose_errors() {
        let out = NslookupOutput::parse(";; connection timed out; no servers could be reached\n\n")
            .unwrap();
        assert_eq!(out.generation, Generation::Undetermined);
        assert_eq!(out.errors, [LookupError::NoServersReached]);
        assert_eq!(out.errors[0].name(), None);
        assert!(!out.resolved());
        // busybox built with VERBOSE_RESOLUTION_ERRORS appends the gai_strerror text
        let verbose =
            NslookupOutput::parse("nslookup: can't resolve 'x': Name does not resolve\n").unwrap();
        assert_eq!(verbose.generation, Generation::Busybox128);
        assert_eq!(
            verbose.errors,
            [LookupError::CantResolve {
                name: "x".into(),
                detail: Some("Name does not resolve".into()),
            }]
        );
    }

    #[test]
    fn crlf_from_a_tty_exec() {
        let crlf = split_capture(C128_KUBERNETES).0.replace('\n', "\r\n");
        let out = NslookupOutput::parse(&crlf).unwrap();
        assert!(out.unrecognised.is_empty());
        assert_eq!(out.addresses(), [ip("10.96.0.1")]);
    }

    #[test]
    fn not_nslookup_output() {
        assert_eq!(NslookupOutput::parse(""), Err(NslookupError::Empty));
        assert_eq!(NslookupOutput::parse(" \n\n"), Err(NslookupError::Empty));
        assert_eq!(
            NslookupOutput::parse("sh: nslookup: not found\n"),
            Err(NslookupError::Unrecognised(
                "sh: nslookup: not found".into()
            ))
        );
        assert_eq!(
            NslookupOutput::parse("error: unable to upgrade connection")
                .unwrap_err()
                .to_string(),
            "not nslookup output: nothing recognised, first line \"error: unable to upgrade connection\""
        );
        // odd lines inside real output are kept, not fatal
        let odd = NslookupOutput::parse("Server:    10.0.0.10\nAddress 1: not-an-ip\n\nAddress: 1.2.3.4\nName:\nAddress 1: 10.0.0.1\n").unwrap();
        assert_eq!(
            odd.unrecognised,
            ["Address 1: not-an-ip", "Address: 1.2.3.4"]
        );
        assert_eq!(odd.answers[0].name, "");
        assert_eq!(odd.server.as_ref().and_then(|s| s.address), None);
        assert!(odd.resolved());
    }
}
