//! `/etc/hosts` as the kubelet writes it, parsed into header, sections and entries, keeping the exact
//! separators (the kubelet writes a TAB after the address; a doc page showing spaces is a finding).
//!
//! upstream: pkg/kubelet/kubelet_pods.go
//! - `managedHostsFileContent`: header `# Kubernetes-managed hosts file.`, six fixed lines, then one line per
//!   pod IP: `ip\thostname`, or `ip\thostname.domain\thostname` when the pod has a subdomain;
//! - `nodeHostsFileContent` (hostNetwork pods): header `# Kubernetes-managed hosts file (host network).`
//!   followed by the node's own hosts file;
//! - `hostsEntriesFromHostAliases`: `\n# Entries added by HostAliases.\n`, then per alias
//!   `ip\tname1\tname2...` (kubelets before the single-line change wrote one `ip\tname` line per hostname;
//!   both parse the same way).

use std::fmt;
use std::net::IpAddr;

use crate::ipfamily::IpFamily;

/// First line of a hosts file the kubelet manages for a pod on the pod network.
pub const MANAGED_HEADER: &str = "# Kubernetes-managed hosts file.";
/// First line for a `hostNetwork: true` pod (the node's file follows).
pub const MANAGED_HEADER_HOST_NETWORK: &str = "# Kubernetes-managed hosts file (host network).";
/// Comment that starts the HostAliases section.
pub const HOST_ALIASES_MARKER: &str = "# Entries added by HostAliases.";
/// The kubelet's fixed entries after the managed header, in order, exactly as written.
pub const DEFAULT_LINES: [&str; 6] = [
    "127.0.0.1\tlocalhost",
    "::1\tlocalhost ip6-localhost ip6-loopback",
    "fe00::0\tip6-localnet",
    "fe00::0\tip6-mcastprefix",
    "fe00::1\tip6-allnodes",
    "fe00::2\tip6-allrouters",
];

/// What the first line says about who wrote the file.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HostsHeader {
    Managed,
    ManagedHostNetwork,
    Unmanaged,
}

/// The part of the file an entry belongs to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Section {
    /// The kubelet's fixed lines; for host-network or unmanaged files, everything before HostAliases.
    Default,
    /// The pod's own address lines (managed files only).
    PodIp,
    /// After `# Entries added by HostAliases.`.
    HostAliases,
}

/// How the fields of a line are separated.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SepStyle {
    /// Every separator is exactly one TAB.
    Tabs,
    /// Every separator is spaces only.
    Spaces,
    /// Anything else (several tabs, tabs and spaces, ...).
    Mixed,
}

/// One `address name...` line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsEntry {
    /// 1-based line number in the file.
    pub line_no: usize,
    /// The line without its line ending.
    pub raw: String,
    pub ip: String,
    pub names: Vec<String>,
    /// Whitespace before the address (normally empty).
    pub leading: String,
    /// Whitespace between the address and the first name: the kubelet writes one TAB.
    pub after_ip: String,
    /// Whitespace between consecutive names (`names.len() - 1` items).
    pub between_names: Vec<String>,
    /// Text after `#` on the same line, if any.
    pub comment: Option<String>,
    pub section: Section,
}

/// One line of the file, in order.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum HostsLine {
    Entry(HostsEntry),
    Comment {
        line_no: usize,
        text: String,
    },
    Blank {
        line_no: usize,
    },
    /// A line that is neither comment, blank nor `address name...`.
    Malformed {
        line_no: usize,
        raw: String,
        reason: String,
    },
}

/// A parsed hosts file. Parsing never fails: odd lines are kept as [`HostsLine::Malformed`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostsFile {
    pub header: HostsHeader,
    pub lines: Vec<HostsLine>,
    /// The text ended with a newline (the kubelet's files do).
    pub ends_with_newline: bool,
    /// Some line ended in CR LF (typical of `kubectl exec -t`).
    pub had_crlf: bool,
}

/// A pod's `spec.hostAliases` item, for [`managed_hosts_content`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAlias {
    pub ip: String,
    pub hostnames: Vec<String>,
}

/// How [`HostsFile::normalise`] renders separators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Separators {
    /// Keep the exact whitespace: TAB versus spaces is part of the shape.
    Keep,
    /// Render every separator as one space: only fields and their roles matter.
    Collapse,
}

/// First line where two normalised shapes differ (1-based; `None` = that side has no such line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShapeMismatch {
    pub line: usize,
    pub actual: Option<String>,
    pub expected: Option<String>,
}

impl fmt::Display for ShapeMismatch {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "hosts file shape differs at line {}: got {:?}, want {:?}",
            self.line, self.actual, self.expected
        )
    }
}

impl std::error::Error for ShapeMismatch {}

impl HostsEntry {
    /// The address, if it parses (a `%zone` suffix is ignored).
    pub fn ip_addr(&self) -> Option<IpAddr> {
        parse_host_ip(&self.ip)
    }

    pub fn family(&self) -> Option<IpFamily> {
        self.ip_addr().map(IpFamily::of_addr)
    }

    /// Address followed by exactly one TAB, as every kubelet-written line is.
    pub fn tab_after_ip(&self) -> bool {
        self.after_ip == "\t"
    }

    /// Style over all separators of the line (address and names).
    pub fn sep_style(&self) -> SepStyle {
        let seps = std::iter::once(&self.after_ip).chain(self.between_names.iter());
        let mut all_tabs = true;
        let mut all_spaces = true;
        for sep in seps {
            all_tabs &= sep == "\t";
            all_spaces &= sep.chars().all(|c| c == ' ');
        }
        if all_tabs {
            SepStyle::Tabs
        } else if all_spaces {
            SepStyle::Spaces
        } else {
            SepStyle::Mixed
        }
    }

    /// The line rebuilt from its fields with the given separator rendering.
    fn render(&self, ip: &str, names: &[String], seps: Separators) -> String {
        let sep = |s: &str| match seps {
            Separators::Keep => s.to_string(),
            Separators::Collapse => " ".to_string(),
        };
        let mut out = String::new();
        if seps == Separators::Keep {
            out.push_str(&self.leading);
        }
        out.push_str(ip);
        for (i, name) in names.iter().enumerate() {
            let s = if i == 0 {
                sep(&self.after_ip)
            } else {
                sep(self.between_names.get(i - 1).map_or(" ", String::as_str))
            };
            out.push_str(&s);
            out.push_str(name);
        }
        if let Some(comment) = &self.comment {
            out.push_str(" #");
            out.push_str(comment);
        }
        out
    }
}

fn parse_host_ip(s: &str) -> Option<IpAddr> {
    let without_zone = s.split('%').next().unwrap_or(s);
    without_zone.parse().ok()
}

fn is_blank(c: char) -> bool {
    c == ' ' || c == '\t'
}

/// Splits `text` into alternating (whitespace, token) pairs: the whitespace before each token.
fn tokens_with_separators(text: &str) -> (Vec<(String, String)>, String) {
    let mut pairs = Vec::new();
    let mut sep = String::new();
    let mut token = String::new();
    for c in text.chars() {
        if is_blank(c) {
            if !token.is_empty() {
                pairs.push((std::mem::take(&mut sep), std::mem::take(&mut token)));
            }
            sep.push(c);
        } else {
            token.push(c);
        }
    }
    if !token.is_empty() {
        pairs.push((std::mem::take(&mut sep), token));
    }
    (pairs, sep)
}

fn parse_line(line_no: usize, raw: &str) -> HostsLine {
    let trimmed = raw.trim_matches(is_blank);
    if trimmed.is_empty() {
        return HostsLine::Blank { line_no };
    }
    if trimmed.starts_with('#') {
        return HostsLine::Comment {
            line_no,
            text: trimmed.to_string(),
        };
    }
    // hosts(5): text from "#" to the end of the line is a comment.
    let (data, comment) = match raw.split_once('#') {
        Some((data, comment)) => (data, Some(comment.to_string())),
        None => (raw, None),
    };
    let (pairs, _trailing) = tokens_with_separators(data);
    let mut fields = pairs.into_iter();
    let Some((leading, ip)) = fields.next() else {
        return HostsLine::Malformed {
            line_no,
            raw: raw.to_string(),
            reason: "no address".to_string(),
        };
    };
    if parse_host_ip(&ip).is_none() {
        return HostsLine::Malformed {
            line_no,
            raw: raw.to_string(),
            reason: format!("not an ip address: {ip:?}"),
        };
    }
    let rest: Vec<(String, String)> = fields.collect();
    let Some((after_ip, _)) = rest.first().cloned() else {
        return HostsLine::Malformed {
            line_no,
            raw: raw.to_string(),
            reason: "address without names".to_string(),
        };
    };
    HostsLine::Entry(HostsEntry {
        line_no,
        raw: raw.to_string(),
        ip,
        names: rest.iter().map(|(_, name)| name.clone()).collect(),
        leading,
        after_ip,
        between_names: rest.iter().skip(1).map(|(sep, _)| sep.clone()).collect(),
        comment,
        // assigned by HostsFile::parse
        section: Section::Default,
    })
}

/// Is this entry one of the kubelet's six fixed lines (fields compared, not separators)?
fn is_default_entry(entry: &HostsEntry) -> bool {
    DEFAULT_LINES.iter().any(|line| {
        let (ip, names) = line.split_once('\t').unwrap_or((line, ""));
        entry.ip == ip && entry.names.iter().map(String::as_str).eq(names.split(' '))
    })
}

impl HostsFile {
    pub fn parse(text: &str) -> HostsFile {
        let ends_with_newline = text.ends_with('\n');
        let body = text.strip_suffix('\n').unwrap_or(text);
        let mut had_crlf = false;
        let mut lines: Vec<HostsLine> = if text.is_empty() {
            Vec::new()
        } else {
            body.split('\n')
                .enumerate()
                .map(|(i, line)| {
                    let line = match line.strip_suffix('\r') {
                        Some(stripped) => {
                            had_crlf = true;
                            stripped
                        }
                        None => line,
                    };
                    parse_line(i + 1, line)
                })
                .collect()
        };

        let header = match lines.first() {
            Some(HostsLine::Comment { text, .. }) if text == MANAGED_HEADER => HostsHeader::Managed,
            Some(HostsLine::Comment { text, .. }) if text == MANAGED_HEADER_HOST_NETWORK => {
                HostsHeader::ManagedHostNetwork
            }
            _ => HostsHeader::Unmanaged,
        };
        // The kubelet appends the HostAliases section last, so the last marker is the kubelet's.
        let marker = lines.iter().rposition(
            |line| matches!(line, HostsLine::Comment { text, .. } if text == HOST_ALIASES_MARKER),
        );

        let mut in_pod_ips = false;
        for (index, line) in lines.iter_mut().enumerate() {
            let HostsLine::Entry(entry) = line else {
                continue;
            };
            let after_marker = marker.is_some_and(|m| index > m);
            let fixed_line =
                header != HostsHeader::Managed || (!in_pod_ips && is_default_entry(entry));
            entry.section = if after_marker {
                Section::HostAliases
            } else if fixed_line {
                Section::Default
            } else {
                // everything after the fixed lines, up to the marker, is the pod's own
                in_pod_ips = true;
                Section::PodIp
            };
        }

        HostsFile {
            header,
            lines,
            ends_with_newline,
            had_crlf,
        }
    }

    pub fn entries(&self) -> impl Iterator<Item = &HostsEntry> {
        self.lines.iter().filter_map(|line| match line {
            HostsLine::Entry(entry) => Some(entry),
            _ => None,
        })
    }

    pub fn section(&self, section: Section) -> Vec<&HostsEntry> {
        self.entries().filter(|e| e.section == section).collect()
    }

    pub fn default_entries(&self) -> Vec<&HostsEntry> {
        self.section(Section::Default)
    }

    pub fn pod_entries(&self) -> Vec<&HostsEntry> {
        self.section(Section::PodIp)
    }

    pub fn host_alias_entries(&self) -> Vec<&HostsEntry> {
        self.section(Section::HostAliases)
    }

    pub fn has_host_aliases_marker(&self) -> bool {
        self.lines.iter().any(
            |line| matches!(line, HostsLine::Comment { text, .. } if text == HOST_ALIASES_MARKER),
        )
    }

    pub fn malformed(&self) -> Vec<&HostsLine> {
        self.lines
            .iter()
            .filter(|line| matches!(line, HostsLine::Malformed { .. }))
            .collect()
    }

    /// The HostAliases section grouped by address in first-seen order; one line per alias (current kubelet)
    /// and one line per hostname (older kubelets) give the same result.
    pub fn host_aliases(&self) -> Vec<HostAlias> {
        let mut out: Vec<HostAlias> = Vec::new();
        for entry in self.host_alias_entries() {
            match out.iter_mut().find(|alias| alias.ip == entry.ip) {
                Some(alias) => alias.hostnames.extend(entry.names.iter().cloned()),
                None => out.push(HostAlias {
                    ip: entry.ip.clone(),
                    hostnames: entry.names.clone(),
                }),
            }
        }
        out
    }

    /// Addresses listed for `name`, in file order (what a resolver reading the file could return).
    pub fn addresses_for(&self, name: &str) -> Vec<&str> {
        self.entries()
            .filter(|e| e.names.iter().any(|n| n == name))
            .map(|e| e.ip.as_str())
            .collect()
    }

    /// The structure of the file with cluster-specific values replaced by their role:
    /// pod addresses by `<pod-ip:IPv4>`/`<pod-ip:IPv6>`, the pod's names by `<hostname>`/`<fqdn>`, alias
    /// addresses by `<alias-ip:FAMILY>` and alias names by `<alias-name>`, and a host-network pod's copy
    /// of the node file by one `<node hosts file>` line. The header, the kubelet's fixed lines, comments
    /// and blank lines stay literal.
    pub fn normalise(&self, seps: Separators) -> Vec<String> {
        let node_section = self.node_section_range();
        let mut out = Vec::new();
        for (index, line) in self.lines.iter().enumerate() {
            if let Some((start, end)) = node_section {
                if index == start {
                    out.push("<node hosts file>".to_string());
                }
                if index >= start && index < end {
                    continue;
                }
            }
            out.push(match line {
                HostsLine::Entry(entry) => normalise_entry(entry, seps),
                HostsLine::Comment { text, .. } => text.clone(),
                HostsLine::Blank { .. } => String::new(),
                HostsLine::Malformed { raw, .. } => raw.clone(),
            });
        }
        out
    }

    /// Compares the normalised shapes of two files (e.g. a pod's file with the one a doc page shows).
    pub fn same_shape_as(
        &self,
        expected: &HostsFile,
        seps: Separators,
    ) -> Result<(), ShapeMismatch> {
        compare_shapes(&self.normalise(seps), &expected.normalise(seps))
    }

    /// Lines copied from the node for a host-network pod: after the header, up to the blank line the
    /// kubelet writes before the HostAliases marker (or to the end).
    fn node_section_range(&self) -> Option<(usize, usize)> {
        if self.header != HostsHeader::ManagedHostNetwork || self.lines.len() < 2 {
            return None;
        }
        let marker = self.lines.iter().rposition(
            |line| matches!(line, HostsLine::Comment { text, .. } if text == HOST_ALIASES_MARKER),
        );
        let end = match marker {
            Some(m) if m >= 2 && matches!(self.lines[m - 1], HostsLine::Blank { .. }) => m - 1,
            Some(m) => m,
            None => self.lines.len(),
        };
        (end > 1).then_some((1, end))
    }
}

fn family_tag(entry: &HostsEntry) -> &'static str {
    entry.family().map_or("?", IpFamily::as_str)
}

fn normalise_entry(entry: &HostsEntry, seps: Separators) -> String {
    match entry.section {
        Section::Default => match seps {
            Separators::Keep => entry.raw.clone(),
            Separators::Collapse => entry.render(&entry.ip, &entry.names, seps),
        },
        Section::PodIp => {
            let ip = format!("<pod-ip:{}>", family_tag(entry));
            // the kubelet writes `hostname.domain hostname` for a pod with a subdomain
            let is_fqdn_pair = entry.names.len() == 2
                && entry.names[0].starts_with(&format!("{}.", entry.names[1]));
            let names: Vec<String> = if is_fqdn_pair {
                vec!["<fqdn>".to_string(), "<hostname>".to_string()]
            } else {
                entry
                    .names
                    .iter()
                    .map(|_| "<hostname>".to_string())
                    .collect()
            };
            entry.render(&ip, &names, seps)
        }
        Section::HostAliases => {
            let ip = format!("<alias-ip:{}>", family_tag(entry));
            let names: Vec<String> = entry
                .names
                .iter()
                .map(|_| "<alias-name>".to_string())
                .collect();
            entry.render(&ip, &names, seps)
        }
    }
}

/// First difference between two normalised shapes.
pub fn compare_shapes(actual: &[String], expected: &[String]) -> Result<(), ShapeMismatch> {
    let len = actual.len().max(expected.len());
    for i in 0..len {
        let a = actual.get(i);
        let e = expected.get(i);
        if a != e {
            return Err(ShapeMismatch {
                line: i + 1,
                actual: a.cloned(),
                expected: e.cloned(),
            });
        }
    }
    Ok(())
}

/// The file the kubelet writes for a pod on the pod network (byte for byte).
/// upstream: pkg/kubelet/kubelet_pods.go managedHostsFileContent + hostsEntriesFromHostAliases;
/// `domain` is `<subdomain>.<namespace>.svc.<cluster domain>` when the pod sets `subdomain`.
pub fn managed_hosts_content(
    pod_ips: &[&str],
    hostname: &str,
    domain: Option<&str>,
    aliases: &[HostAlias],
) -> String {
    let mut out = String::new();
    out.push_str(MANAGED_HEADER);
    out.push('\n');
    for line in DEFAULT_LINES {
        out.push_str(line);
        out.push('\n');
    }
    for ip in pod_ips {
        match domain.filter(|d| !d.is_empty()) {
            Some(domain) => out.push_str(&format!("{ip}\t{hostname}.{domain}\t{hostname}\n")),
            None => out.push_str(&format!("{ip}\t{hostname}\n")),
        }
    }
    out.push_str(&host_aliases_content(aliases));
    out
}

/// `status_ips` in the order their lines appear in `hosts`; IPs the file lacks follow, in status order.
///
/// The kubelet writes the pod IPs in the order the container runtime reported them: kuberuntime
/// `SyncPod` passes `determinePodSandboxIPs` (the CRI's primary IP, then its additional IPs) through
/// `GenerateRunContainerOptions` to `makeMounts`, unsorted. status.podIPs is `sortPodIPs` of the same
/// list (the node IP's family first). On an IPv6-primary cluster whose runtime reports IPv4 first the two
/// orders differ, and the API shows only the sorted one; so a check takes the order from the file and
/// compares everything else. (upstream: pkg/kubelet/kuberuntime/kuberuntime_manager.go `SyncPod`,
/// kuberuntime_sandbox.go `determinePodSandboxIPs`, pkg/kubelet/kubelet_pods.go `makeMounts`, `sortPodIPs`.)
pub fn pod_ips_in_file_order<'a>(status_ips: &[&'a str], hosts: &str) -> Vec<&'a str> {
    let mut ordered: Vec<&'a str> = Vec::with_capacity(status_ips.len());
    for line in hosts.lines() {
        let Some(first) = line.split_whitespace().next() else {
            continue;
        };
        if let Some(ip) = status_ips
            .iter()
            .find(|ip| **ip == first && !ordered.contains(ip))
        {
            ordered.push(ip);
        }
    }
    for ip in status_ips {
        if !ordered.contains(ip) {
            ordered.push(ip);
        }
    }
    ordered
}

/// The file the kubelet writes for a `hostNetwork` pod: header, the node's file, HostAliases.
/// upstream: pkg/kubelet/kubelet_pods.go nodeHostsFileContent
pub fn host_network_hosts_content(node_hosts: &str, aliases: &[HostAlias]) -> String {
    format!(
        "{MANAGED_HEADER_HOST_NETWORK}\n{node_hosts}{}",
        host_aliases_content(aliases)
    )
}

/// upstream: pkg/kubelet/kubelet_pods.go hostsEntriesFromHostAliases (one line per alias, names TAB-joined).
fn host_aliases_content(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut out = format!("\n{HOST_ALIASES_MARKER}\n");
    for alias in aliases {
        out.push_str(&format!("{}\t{}\n", alias.ip, alias.hostnames.join("\t")));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC_DEFAULT: &str = include_str!(
        "../../../manifests/doc-outputs/customize-hosts-file-for-pods/etc-hosts-default.txt"
    );
    const DOC_ALIASES: &str = include_str!(
        "../../../manifests/doc-outputs/customize-hosts-file-for-pods/etc-hosts-hostaliases.txt"
    );
    const DOC_DUAL_STACK: &str =
        include_str!("../../../manifests/doc-outputs/validate-dual-stack/etc-hosts-dual-stack.txt");

    fn alias(ip: &str, names: &[&str]) -> HostAlias {
        HostAlias {
            ip: ip.to_string(),
            hostnames: names.iter().map(|n| n.to_string()).collect(),
        }
    }

    fn doc_aliases() -> Vec<HostAlias> {
        // service/networking/hostaliases-pod.yaml
        vec![
            alias("127.0.0.1", &["foo.local", "bar.local"]),
            alias("10.1.2.3", &["foo.remote", "bar.remote"]),
        ]
    }

    #[test]
    fn pod_ips_follow_the_file_not_status() {
        // An IPv6-primary pod whose runtime reported IPv4 first: status.podIPs is IPv6 first.
        let status = ["fd00:10:244:1::4", "10.244.1.4"];
        let hosts = managed_hosts_content(&["10.244.1.4", "fd00:10:244:1::4"], "pod01", None, &[]);
        let order = pod_ips_in_file_order(&status, &hosts);
        assert_eq!(order, ["10.244.1.4", "fd00:10:244:1::4"]);
        assert_eq!(managed_hosts_content(&order, "pod01", None, &[]), hosts);
        // The docs' dual-stack file is IPv4 first, as status.podIPs on an IPv4-primary cluster.
        let doc_order = pod_ips_in_file_order(&["10.244.1.4", "2001:db8::4"], DOC_DUAL_STACK);
        assert_eq!(doc_order, ["10.244.1.4", "2001:db8::4"]);
        // An IP the file lacks still follows, so the comparison names it.
        let single = managed_hosts_content(&["10.244.1.4"], "pod01", None, &[]);
        let order = pod_ips_in_file_order(&status, &single);
        assert_eq!(order, ["10.244.1.4", "fd00:10:244:1::4"]);
        assert_ne!(managed_hosts_content(&order, "pod01", None, &[]), single);
    }

    #[test]
    fn docs_default_hosts_file() {
        let hosts = HostsFile::parse(DOC_DEFAULT);
        assert_eq!(hosts.header, HostsHeader::Managed);
        assert!(hosts.ends_with_newline);
        assert!(!hosts.had_crlf);
        assert!(hosts.malformed().is_empty());
        assert_eq!(hosts.default_entries().len(), 6);
        let pod = hosts.pod_entries();
        assert_eq!(pod.len(), 1);
        assert_eq!(pod[0].ip, "10.200.0.4");
        assert_eq!(pod[0].names, ["nginx"]);
        assert_eq!(pod[0].line_no, 8);
        assert_eq!(pod[0].family(), Some(IpFamily::IPv4));
        assert!(hosts.host_alias_entries().is_empty());
        assert!(!hosts.has_host_aliases_marker());
        // the kubelet writes TAB after every address; `::1` has spaces between its names
        assert!(hosts.entries().all(HostsEntry::tab_after_ip));
        let loopback6 = &hosts.default_entries()[1];
        assert_eq!(
            loopback6.names,
            ["localhost", "ip6-localhost", "ip6-loopback"]
        );
        assert_eq!(loopback6.sep_style(), SepStyle::Mixed);
        assert_eq!(hosts.default_entries()[0].sep_style(), SepStyle::Tabs);
        // and the bytes are exactly what the kubelet would write
        assert_eq!(
            managed_hosts_content(&["10.200.0.4"], "nginx", None, &[]),
            DOC_DEFAULT
        );
    }

    #[test]
    fn docs_host_aliases_file() {
        let hosts = HostsFile::parse(DOC_ALIASES);
        assert_eq!(hosts.header, HostsHeader::Managed);
        assert!(hosts.has_host_aliases_marker());
        assert_eq!(hosts.pod_entries().len(), 1);
        assert_eq!(hosts.pod_entries()[0].names, ["hostaliases-pod"]);
        let aliases = hosts.host_alias_entries();
        assert_eq!(aliases.len(), 2);
        assert_eq!(aliases[0].ip, "127.0.0.1");
        assert_eq!(aliases[0].names, ["foo.local", "bar.local"]);
        assert_eq!(aliases[1].names, ["foo.remote", "bar.remote"]);
        assert!(aliases.iter().all(|e| e.sep_style() == SepStyle::Tabs));
        assert_eq!(hosts.host_aliases(), doc_aliases());
        // 127.0.0.1 is both the fixed localhost line and an alias
        assert_eq!(hosts.addresses_for("foo.local"), ["127.0.0.1"]);
        assert_eq!(hosts.addresses_for("localhost"), ["127.0.0.1", "::1"]);
        assert_eq!(hosts.addresses_for("bar.remote"), ["10.1.2.3"]);
        assert_eq!(
            managed_hosts_content(&["10.200.0.5"], "hostaliases-pod", None, &doc_aliases()),
            DOC_ALIASES
        );
    }

    #[test]
    fn docs_dual_stack_hosts_file_uses_spaces() {
        let hosts = HostsFile::parse(DOC_DUAL_STACK);
        assert_eq!(hosts.header, HostsHeader::Managed);
        assert_eq!(hosts.default_entries().len(), 6);
        let pod = hosts.pod_entries();
        assert_eq!(pod.len(), 2);
        assert_eq!(pod[0].family(), Some(IpFamily::IPv4));
        assert_eq!(pod[1].family(), Some(IpFamily::IPv6));
        assert_eq!(pod[1].ip, "2001:db8::4");
        // the page shows 4 spaces where the kubelet writes a TAB
        assert!(hosts.entries().all(|e| e.after_ip == "    "));
        assert!(pod.iter().all(|e| e.sep_style() == SepStyle::Spaces));
        let kubelet = managed_hosts_content(&["10.244.1.4", "2001:db8::4"], "pod01", None, &[]);
        let kubelet = HostsFile::parse(&kubelet);
        assert!(kubelet.same_shape_as(&hosts, Separators::Collapse).is_ok());
        let mismatch = kubelet.same_shape_as(&hosts, Separators::Keep).unwrap_err();
        assert_eq!(mismatch.line, 2);
        assert_eq!(mismatch.actual.as_deref(), Some("127.0.0.1\tlocalhost"));
        assert_eq!(mismatch.expected.as_deref(), Some("127.0.0.1    localhost"));
    }

    #[test]
    fn normalised_shape_of_the_docs_outputs() {
        let shape = HostsFile::parse(DOC_ALIASES).normalise(Separators::Keep);
        assert_eq!(
            shape,
            [
                MANAGED_HEADER,
                "127.0.0.1\tlocalhost",
                "::1\tlocalhost ip6-localhost ip6-loopback",
                "fe00::0\tip6-localnet",
                "fe00::0\tip6-mcastprefix",
                "fe00::1\tip6-allnodes",
                "fe00::2\tip6-allrouters",
                "<pod-ip:IPv4>\t<hostname>",
                "",
                HOST_ALIASES_MARKER,
                "<alias-ip:IPv4>\t<alias-name>\t<alias-name>",
                "<alias-ip:IPv4>\t<alias-name>\t<alias-name>",
            ]
        );
        // another pod IP and name on a real cluster: same shape
        let cluster =
            managed_hosts_content(&["10.244.0.7"], "hostaliases-pod", None, &doc_aliases());
        assert!(
            HostsFile::parse(&cluster)
                .same_shape_as(&HostsFile::parse(DOC_ALIASES), Separators::Keep)
                .is_ok()
        );
        // a dual-stack cluster adds a pod line: a different shape, reported at that line
        let dual = managed_hosts_content(
            &["10.244.0.7", "fd00:10:244::7"],
            "hostaliases-pod",
            None,
            &doc_aliases(),
        );
        let err = HostsFile::parse(&dual)
            .same_shape_as(&HostsFile::parse(DOC_ALIASES), Separators::Keep)
            .unwrap_err();
        assert_eq!(err.line, 9);
        assert_eq!(err.actual.as_deref(), Some("<pod-ip:IPv6>\t<hostname>"));
        assert_eq!(err.expected.as_deref(), Some(""));
        assert!(
            err.to_string()
                .starts_with("hosts file shape differs at line 9")
        );
    }

    #[test]
    fn subdomain_pod_gets_fqdn_then_hostname() {
        // dns-pod-service: busybox-1 with subdomain busybox-subdomain in namespace default
        let text = managed_hosts_content(
            &["10.244.1.9"],
            "busybox-1",
            Some("busybox-subdomain.default.svc.cluster.local"),
            &[],
        );
        assert!(text.ends_with(
            "10.244.1.9\tbusybox-1.busybox-subdomain.default.svc.cluster.local\tbusybox-1\n"
        ));
        let hosts = HostsFile::parse(&text);
        let pod = hosts.pod_entries();
        assert_eq!(pod[0].names.len(), 2);
        assert_eq!(pod[0].sep_style(), SepStyle::Tabs);
        assert_eq!(
            hosts.normalise(Separators::Keep).last().map(String::as_str),
            Some("<pod-ip:IPv4>\t<fqdn>\t<hostname>")
        );
    }

    #[test]
    fn host_network_file() {
        let node = "127.0.0.1 localhost\n172.18.0.2 kind-worker\n";
        let text = host_network_hosts_content(node, &doc_aliases());
        let hosts = HostsFile::parse(&text);
        assert_eq!(hosts.header, HostsHeader::ManagedHostNetwork);
        assert!(hosts.pod_entries().is_empty());
        assert_eq!(hosts.default_entries().len(), 2);
        assert_eq!(hosts.host_alias_entries().len(), 2);
        assert_eq!(
            hosts.normalise(Separators::Keep),
            [
                MANAGED_HEADER_HOST_NETWORK,
                "<node hosts file>",
                "",
                HOST_ALIASES_MARKER,
                "<alias-ip:IPv4>\t<alias-name>\t<alias-name>",
                "<alias-ip:IPv4>\t<alias-name>\t<alias-name>",
            ]
        );
        let plain = HostsFile::parse(&host_network_hosts_content(node, &[]));
        assert_eq!(
            plain.normalise(Separators::Keep),
            [MANAGED_HEADER_HOST_NETWORK, "<node hosts file>"]
        );
    }

    #[test]
    fn older_kubelet_one_line_per_hostname() {
        let text = format!(
            "{MANAGED_HEADER}\n{}\n10.244.0.5\thostaliases-pod\n\n{HOST_ALIASES_MARKER}\n127.0.0.1\tfoo.local\n127.0.0.1\tbar.local\n10.1.2.3\tfoo.remote\n10.1.2.3\tbar.remote\n",
            DEFAULT_LINES.join("\n")
        );
        let hosts = HostsFile::parse(&text);
        assert_eq!(hosts.host_alias_entries().len(), 4);
        assert_eq!(hosts.host_aliases(), doc_aliases());
    }

    #[test]
    fn unmanaged_crlf_comments_and_malformed_lines() {
        let text = "127.0.0.1  localhost # loopback\r\n\r\n# a comment\r\nnot-an-ip foo\r\n10.0.0.1\r\nfe80::1%eth0\tlink\r\n";
        let hosts = HostsFile::parse(text);
        assert_eq!(hosts.header, HostsHeader::Unmanaged);
        assert!(hosts.had_crlf);
        let entries: Vec<&HostsEntry> = hosts.entries().collect();
        assert_eq!(entries.len(), 2);
        assert_eq!(entries[0].names, ["localhost"]);
        assert_eq!(entries[0].comment.as_deref(), Some(" loopback"));
        assert_eq!(entries[0].sep_style(), SepStyle::Spaces);
        assert!(!entries[0].tab_after_ip());
        assert_eq!(entries[1].family(), Some(IpFamily::IPv6));
        assert!(entries.iter().all(|e| e.section == Section::Default));
        let bad = hosts.malformed();
        assert_eq!(bad.len(), 2);
        assert!(
            matches!(bad[0], HostsLine::Malformed { line_no: 4, reason, .. } if reason.contains("not an ip"))
        );
        assert!(
            matches!(bad[1], HostsLine::Malformed { line_no: 5, reason, .. } if reason == "address without names")
        );
        assert!(matches!(hosts.lines[1], HostsLine::Blank { line_no: 2 }));
    }

    #[test]
    fn empty_and_odd_inputs_do_not_panic() {
        let empty = HostsFile::parse("");
        assert_eq!(empty.header, HostsHeader::Unmanaged);
        assert!(empty.lines.is_empty());
        assert!(!empty.ends_with_newline);
        for text in [
            "\n",
            "#",
            "\t\t",
            "# Kubernetes-managed hosts file.",
            "1.2.3.4\t",
            "::\tx\n\n\n",
        ] {
            let hosts = HostsFile::parse(text);
            let _ = hosts.normalise(Separators::Keep);
            let _ = hosts.host_aliases();
        }
        let header_only = HostsFile::parse("# Kubernetes-managed hosts file.");
        assert_eq!(header_only.header, HostsHeader::Managed);
        assert!(!header_only.ends_with_newline);
    }
}
