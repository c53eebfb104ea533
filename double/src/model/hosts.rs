//! The kubelet-managed `/etc/hosts` of a pod's containers.
//!
//! upstream: pkg/kubelet/kubelet_pods.go `makeMounts`, `shouldMountHostsFile`, `ensureHostsFile`,
//! `managedHostsFileContent`, `nodeHostsFileContent`, `hostsEntriesFromHostAliases`,
//! `GeneratePodHostNameAndDomain`, `truncatePodHostnameIfNeeded`.

use serde_json::Value;

/// upstream: kubelet_pods.go `managedHostsHeader`.
pub const MANAGED_HOSTS_HEADER: &str = "# Kubernetes-managed hosts file.\n";
/// upstream: kubelet_pods.go `managedHostsHeaderWithHostNetwork`.
pub const MANAGED_HOSTS_HEADER_WITH_HOST_NETWORK: &str =
    "# Kubernetes-managed hosts file (host network).\n";
/// The path the kubelet mounts its file at (`etcHostsPath`).
pub const ETC_HOSTS_PATH: &str = "/etc/hosts";

/// `v1.HostAlias`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HostAlias {
    pub ip: String,
    pub hostnames: Vec<String>,
}

/// `spec.hostAliases` of a pod (entries without an `ip` are kept with an empty IP, as Go would).
pub fn host_aliases(pod: &Value) -> Vec<HostAlias> {
    pod["spec"]["hostAliases"]
        .as_array()
        .map(|aliases| {
            aliases
                .iter()
                .map(|a| HostAlias {
                    ip: a["ip"].as_str().unwrap_or_default().to_string(),
                    hostnames: a["hostnames"]
                        .as_array()
                        .map(|h| {
                            h.iter()
                                .filter_map(|n| n.as_str().map(str::to_string))
                                .collect()
                        })
                        .unwrap_or_default(),
                })
                .collect()
        })
        .unwrap_or_default()
}

/// upstream: `hostsEntriesFromHostAliases` — all aliases of one IP on one tab-separated line,
/// after a blank line and the `# Entries added by HostAliases.` comment.
pub fn hosts_entries_from_host_aliases(aliases: &[HostAlias]) -> String {
    if aliases.is_empty() {
        return String::new();
    }
    let mut out = String::from("\n# Entries added by HostAliases.\n");
    for alias in aliases {
        out.push_str(&format!("{}\t{}\n", alias.ip, alias.hostnames.join("\t")));
    }
    out
}

/// upstream: `managedHostsFileContent` — the file for a pod on the pod network.
/// With a host domain (pod `subdomain`) each IP line is `IP\tfqdn\thostname`.
pub fn managed_hosts_file_content(
    host_ips: &[String],
    host_name: &str,
    host_domain: &str,
    aliases: &[HostAlias],
) -> String {
    let mut out = String::from(MANAGED_HOSTS_HEADER);
    out.push_str("127.0.0.1\tlocalhost\n");
    out.push_str("::1\tlocalhost ip6-localhost ip6-loopback\n");
    out.push_str("fe00::0\tip6-localnet\n");
    out.push_str("fe00::0\tip6-mcastprefix\n");
    out.push_str("fe00::1\tip6-allnodes\n");
    out.push_str("fe00::2\tip6-allrouters\n");
    for ip in host_ips {
        if host_domain.is_empty() {
            out.push_str(&format!("{ip}\t{host_name}\n"));
        } else {
            out.push_str(&format!("{ip}\t{host_name}.{host_domain}\t{host_name}\n"));
        }
    }
    out.push_str(&hosts_entries_from_host_aliases(aliases));
    out
}

/// upstream: `nodeHostsFileContent` — a hostNetwork pod gets the node's own file behind the
/// `(host network)` header, plus its HostAliases.
pub fn node_hosts_file_content(node_hosts: &str, aliases: &[HostAlias]) -> String {
    let mut out = String::from(MANAGED_HOSTS_HEADER_WITH_HOST_NETWORK);
    out.push_str(node_hosts);
    out.push_str(&hosts_entries_from_host_aliases(aliases));
    out
}

/// `utilvalidation.IsDNS1123Label`.
pub fn is_dns1123_label(s: &str) -> bool {
    let b = s.as_bytes();
    !b.is_empty()
        && b.len() <= 63
        && b.iter()
            .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || *c == b'-')
        && b[0] != b'-'
        && b[b.len() - 1] != b'-'
}

/// `utilvalidation.IsDNS1123Subdomain`: at most 253 characters, dot-separated DNS-1123 labels.
pub fn is_dns1123_subdomain(s: &str) -> bool {
    s.len() <= 253 && s.split('.').all(is_dns1123_label)
}

/// upstream: `truncatePodHostnameIfNeeded` — cap at 63 characters, then trim trailing `-` and `.`.
pub fn truncate_pod_hostname(hostname: &str) -> Result<String, String> {
    const HOSTNAME_MAX_LEN: usize = 63;
    if hostname.len() <= HOSTNAME_MAX_LEN {
        return Ok(hostname.to_string());
    }
    let truncated = hostname
        .get(..HOSTNAME_MAX_LEN)
        .unwrap_or(hostname)
        .trim_end_matches(['-', '.']);
    if truncated.is_empty() {
        return Err(format!("hostname for pod was invalid: {hostname:?}"));
    }
    Ok(truncated.to_string())
}

/// upstream: `GeneratePodHostNameAndDomain` — hostname is `spec.hostname` or the pod name;
/// the domain is `<subdomain>.<namespace>.svc.<cluster domain>` when `spec.subdomain` is set.
pub fn pod_hostname_and_domain(
    pod: &Value,
    cluster_domain: &str,
) -> Result<(String, String), String> {
    let name = pod["metadata"]["name"].as_str().unwrap_or_default();
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    let mut hostname = name.to_string();
    if let Some(h) = pod["spec"]["hostname"].as_str().filter(|h| !h.is_empty()) {
        if !is_dns1123_label(h) {
            return Err(format!("pod Hostname {h:?} is not a valid DNS label"));
        }
        hostname = h.to_string();
    }
    let hostname = truncate_pod_hostname(&hostname)?;
    let mut domain = String::new();
    if let Some(sub) = pod["spec"]["subdomain"].as_str().filter(|s| !s.is_empty()) {
        if !is_dns1123_label(sub) {
            return Err(format!("pod Subdomain {sub:?} is not a valid DNS label"));
        }
        domain = format!("{sub}.{namespace}.svc.{cluster_domain}");
    }
    Ok((hostname, domain))
}

/// upstream: `shouldMountHostsFile` (Linux) — the kubelet mounts its file once the pod has IPs,
/// or always for hostNetwork pods.
pub fn should_mount_hosts_file(pod: &Value, pod_ips: &[String]) -> bool {
    !pod_ips.is_empty() || pod["spec"]["hostNetwork"].as_bool().unwrap_or(false)
}

/// True when the container mounts a volume of its own at `/etc/hosts` (upstream `makeMounts`
/// then skips the managed file).
pub fn container_mounts_etc_hosts(container: &Value) -> bool {
    container["volumeMounts"].as_array().is_some_and(|mounts| {
        mounts
            .iter()
            .any(|m| m["mountPath"].as_str() == Some(ETC_HOSTS_PATH))
    })
}

/// What a container sees at `/etc/hosts`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EtcHosts {
    /// The kubelet's file, with this content.
    Managed(String),
    /// The container mounts its own volume there; the kubelet does not manage it.
    OwnMount,
    /// The kubelet mounts nothing (pod network without IPs yet); the image's own file, if any.
    Image,
}

/// The `/etc/hosts` a container of `pod` sees (upstream `makeMounts` -> `makeHostsMount` ->
/// `ensureHostsFile`). `pod_ips` are the pod's IPs as the kubelet passes them (status.podIPs
/// order); `node_hosts` is the node's own `/etc/hosts` for hostNetwork pods.
pub fn etc_hosts_for_container(
    pod: &Value,
    container: &Value,
    pod_ips: &[String],
    node_hosts: &str,
    cluster_domain: &str,
) -> Result<EtcHosts, String> {
    if !should_mount_hosts_file(pod, pod_ips) {
        return Ok(EtcHosts::Image);
    }
    if container_mounts_etc_hosts(container) {
        return Ok(EtcHosts::OwnMount);
    }
    let aliases = host_aliases(pod);
    if pod["spec"]["hostNetwork"].as_bool().unwrap_or(false) {
        return Ok(EtcHosts::Managed(node_hosts_file_content(
            node_hosts, &aliases,
        )));
    }
    let (hostname, domain) = pod_hostname_and_domain(pod, cluster_domain)?;
    Ok(EtcHosts::Managed(managed_hosts_file_content(
        pod_ips, &hostname, &domain, &aliases,
    )))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn ips(v: &[&str]) -> Vec<String> {
        v.iter().map(|s| s.to_string()).collect()
    }

    /// The docs' default file (seeds 000 and 002, `kubectl exec nginx -- cat /etc/hosts`).
    #[test]
    fn default_hosts_file_matches_docs() {
        let expected = "# Kubernetes-managed hosts file.\n\
127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
fe00::0\tip6-mcastprefix\n\
fe00::1\tip6-allnodes\n\
fe00::2\tip6-allrouters\n\
10.200.0.4\tnginx\n";
        assert_eq!(
            managed_hosts_file_content(&ips(&["10.200.0.4"]), "nginx", "", &[]),
            expected
        );
    }

    /// The docs' hostaliases-pod output (seeds 000 and 002, `kubectl logs hostaliases-pod`).
    #[test]
    fn hostaliases_file_matches_docs() {
        let pod = json!({
            "metadata": {"name": "hostaliases-pod", "namespace": "default"},
            "spec": {
                "restartPolicy": "Never",
                "hostAliases": [
                    {"ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"]},
                    {"ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"]},
                ],
                "containers": [{"name": "cat-hosts", "image": "busybox:1.28", "command": ["cat"], "args": ["/etc/hosts"]}],
            },
        });
        let expected = "# Kubernetes-managed hosts file.\n\
127.0.0.1\tlocalhost\n\
::1\tlocalhost ip6-localhost ip6-loopback\n\
fe00::0\tip6-localnet\n\
fe00::0\tip6-mcastprefix\n\
fe00::1\tip6-allnodes\n\
fe00::2\tip6-allrouters\n\
10.200.0.5\thostaliases-pod\n\
\n\
# Entries added by HostAliases.\n\
127.0.0.1\tfoo.local\tbar.local\n\
10.1.2.3\tfoo.remote\tbar.remote\n";
        let container = &pod["spec"]["containers"][0];
        let got =
            etc_hosts_for_container(&pod, container, &ips(&["10.200.0.5"]), "", "cluster.local")
                .unwrap();
        assert_eq!(got, EtcHosts::Managed(expected.to_string()));
    }

    /// Dual-stack pod: one line per pod IP (seed 000/002 pod01 example, tabs as the kubelet writes).
    #[test]
    fn dual_stack_pod_has_a_line_per_ip() {
        let got =
            managed_hosts_file_content(&ips(&["10.244.1.4", "2001:db8::4"]), "pod01", "", &[]);
        assert!(got.ends_with("fe00::2\tip6-allrouters\n10.244.1.4\tpod01\n2001:db8::4\tpod01\n"));
    }

    #[test]
    fn subdomain_gives_fqdn_lines() {
        let pod = json!({"metadata": {"name": "p", "namespace": "ns1"}, "spec": {"hostname": "web-0", "subdomain": "web"}});
        let (h, d) = pod_hostname_and_domain(&pod, "cluster.local").unwrap();
        assert_eq!(
            (h.as_str(), d.as_str()),
            ("web-0", "web.ns1.svc.cluster.local")
        );
        let got = managed_hosts_file_content(&ips(&["10.244.1.9"]), &h, &d, &[]);
        assert!(got.ends_with("10.244.1.9\tweb-0.web.ns1.svc.cluster.local\tweb-0\n"));
    }

    #[test]
    fn host_network_pod_reads_node_file() {
        let pod = json!({"metadata": {"name": "h"}, "spec": {"hostNetwork": true, "hostAliases": [{"ip": "1.2.3.4", "hostnames": ["x"]}]}});
        let got = etc_hosts_for_container(
            &pod,
            &json!({}),
            &[],
            "127.0.0.1\tlocalhost\n",
            "cluster.local",
        )
        .unwrap();
        assert_eq!(
            got,
            EtcHosts::Managed(
                "# Kubernetes-managed hosts file (host network).\n127.0.0.1\tlocalhost\n\n# Entries added by HostAliases.\n1.2.3.4\tx\n".into()
            )
        );
    }

    #[test]
    fn own_mount_and_no_ips_are_not_managed() {
        let pod = json!({"metadata": {"name": "p"}, "spec": {}});
        let own = json!({"volumeMounts": [{"name": "h", "mountPath": "/etc/hosts"}]});
        assert_eq!(
            etc_hosts_for_container(&pod, &own, &ips(&["10.244.1.2"]), "", "cluster.local")
                .unwrap(),
            EtcHosts::OwnMount
        );
        assert_eq!(
            etc_hosts_for_container(&pod, &json!({}), &[], "", "cluster.local").unwrap(),
            EtcHosts::Image
        );
    }

    #[test]
    fn long_hostnames_are_truncated() {
        let long = format!("{}-.x", "a".repeat(62));
        assert_eq!(truncate_pod_hostname(&long).unwrap(), "a".repeat(62));
        assert!(!is_dns1123_label("Bad_Name"));
    }
}
