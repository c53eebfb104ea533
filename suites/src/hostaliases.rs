//! "Adding entries to Pod /etc/hosts with HostAliases"
//! (https://kubernetes.io/docs/tasks/network/customize-hosts-file-for-pods/).
//!
//! Every check compares the file a container reads with what the kubelet writes.
//! upstream: pkg/kubelet/kubelet_pods.go (managedHostsFileContent, nodeHostsFileContent,
//! hostsEntriesFromHostAliases, makeMounts' decision to mount the managed file);
//! test/e2e/common/node/kubelet_etc_hosts.go (the same claims in upstream's own e2e).

use k8s_openapi::api::core::v1::{ConfigMap, Pod};
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::parse::hosts::{
    DEFAULT_LINES, HOST_ALIASES_MARKER, HostAlias, MANAGED_HEADER, MANAGED_HEADER_HOST_NETWORK,
    host_network_hosts_content, managed_hosts_content, pod_ips_in_file_order,
};
use netconform::parse::resolv::ResolvConf;
use netconform::scenario::Scenario;
use netconform::trial::TrialDef;

use crate::doc::DocFile;
use crate::doc_file;
use crate::pods::{from_json, kubectl_run, pod_ips, read_node_file};

const PAGE: &str = "https://kubernetes.io/docs/tasks/network/customize-hosts-file-for-pods/";
const HOSTALIASES_POD: DocFile = doc_file!("service/networking/hostaliases-pod.yaml");
const DOC_DEFAULT_HOSTS: DocFile =
    doc_file!("doc-outputs/customize-hosts-file-for-pods/etc-hosts-default.txt");
const DOC_ALIASED_HOSTS: DocFile =
    doc_file!("doc-outputs/customize-hosts-file-for-pods/etc-hosts-hostaliases.txt");
/// The subdomain example of the DNS page: a headless Service and pods with `hostname`/`subdomain`.
const SUBDOMAIN_EXAMPLE: DocFile = doc_file!("inline/dns-pod-service/busybox-subdomain.yaml");

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "hostaliases::nginx::managed_header",
        claim: "the kubelet manages the pod's /etc/hosts: the file begins with `# Kubernetes-managed hosts file.`",
        doc_url: PAGE,
        needs: &[],
        run: |ctx| Box::pin(nginx_managed_header(ctx)),
    },
    TrialDef {
        name: "hostaliases::nginx::default_entries",
        claim: "by default the hosts file holds the IPv4 and IPv6 boilerplate (localhost, ip6-localhost, ip6-localnet, ip6-mcastprefix, ip6-allnodes, ip6-allrouters), TAB-separated, in that order",
        doc_url: PAGE,
        needs: &[],
        run: |ctx| Box::pin(nginx_default_entries(ctx)),
    },
    TrialDef {
        name: "hostaliases::nginx::pod_ip_entries",
        claim: "after the boilerplate the hosts file has one `<pod IP><TAB><pod name>` line per IP of status.podIPs and nothing else; the lines follow the order the container runtime reported the IPs, which on a dual-stack cluster may differ from status.podIPs' primary-family-first order",
        doc_url: PAGE,
        needs: &[],
        run: |ctx| Box::pin(nginx_pod_ip_entries(ctx)),
    },
    TrialDef {
        name: "hostaliases::hostaliases_pod::completes",
        claim: "the hostaliases-pod example runs `cat /etc/hosts` to completion (STATUS Completed)",
        doc_url: PAGE,
        needs: &[],
        run: |ctx| Box::pin(hostaliases_pod_completes(ctx)),
    },
    TrialDef {
        name: "hostaliases::hostaliases_pod::alias_section",
        claim: "the hostaliases-pod log is the managed hosts file, then a blank line, `# Entries added by HostAliases.`, `127.0.0.1<TAB>foo.local<TAB>bar.local` and `10.1.2.3<TAB>foo.remote<TAB>bar.remote`, in order",
        doc_url: PAGE,
        needs: &[],
        run: |ctx| Box::pin(hostaliases_pod_alias_section(ctx)),
    },
    TrialDef {
        name: "hostaliases::subdomain::fqdn_entries",
        claim: "a pod with hostname and subdomain gets `<pod IP><TAB><hostname>.<subdomain>.<namespace>.svc.<cluster domain><TAB><hostname>` for each pod IP (kubelet managedHostsFileContent)",
        doc_url: PAGE,
        needs: &[],
        run: |ctx| Box::pin(subdomain_fqdn_entries(ctx)),
    },
    TrialDef {
        name: "hostaliases::host_network::header_and_aliases",
        claim: "a hostNetwork pod gets the node's hosts file under `# Kubernetes-managed hosts file (host network).` and still the HostAliases section (kubelet nodeHostsFileContent)",
        doc_url: PAGE,
        needs: &[],
        run: |ctx| Box::pin(host_network_header_and_aliases(ctx)),
    },
    TrialDef {
        name: "hostaliases::own_mount::not_managed",
        claim: "a container that mounts its own /etc/hosts gets that file, not the kubelet-managed one (kubelet makeMounts)",
        doc_url: PAGE,
        needs: &[],
        run: |ctx| Box::pin(own_mount_not_managed(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::HostsSpacesNotTabs,
        &[
            "hostaliases::nginx::default_entries",
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::host_network::header_and_aliases",
            "hostaliases::subdomain::fqdn_entries",
        ],
    ),
    (
        Deviation::HostsNoFqdn,
        &["hostaliases::subdomain::fqdn_entries"],
    ),
    (
        Deviation::HostsHostNetworkUnmanaged,
        &["hostaliases::host_network::header_and_aliases"],
    ),
    (
        Deviation::HostsHostNetworkStaleNodeFile,
        &["hostaliases::host_network::header_and_aliases"],
    ),
    (
        Deviation::HostsOverridesOwnMount,
        &["hostaliases::own_mount::not_managed"],
    ),
    (
        Deviation::PodsImagePullBackoff,
        &[
            "hostaliases::hostaliases_pod::completes",
            "hostaliases::nginx::managed_header",
            "hostaliases::host_network::header_and_aliases",
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::nginx::default_entries",
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::own_mount::not_managed",
            "hostaliases::subdomain::fqdn_entries",
        ],
    ),
    (
        Deviation::HostsNoAliasSection,
        &[
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::host_network::header_and_aliases",
        ],
    ),
    (
        Deviation::HostsMissingHeader,
        &[
            "hostaliases::nginx::managed_header",
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::host_network::header_and_aliases",
            "hostaliases::nginx::default_entries",
            "hostaliases::subdomain::fqdn_entries",
        ],
    ),
    (
        Deviation::HostsSingleIp,
        &[
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::hostaliases_pod::alias_section",
            "hostaliases::subdomain::fqdn_entries",
        ],
    ),
    (
        Deviation::PodsNeverReady,
        &[
            "hostaliases::nginx::default_entries",
            "hostaliases::host_network::header_and_aliases",
            "hostaliases::nginx::managed_header",
            "hostaliases::nginx::pod_ip_entries",
            "hostaliases::own_mount::not_managed",
            "hostaliases::subdomain::fqdn_entries",
        ],
    ),
];

/// The nginx pod's IPs and its /etc/hosts, or why they could not be read.
type NginxHosts = Result<(Vec<String>, String), TrialError>;

/// One nginx pod for the three `hostaliases::nginx::*` checks: each judges its own claim on the same file.
static NGINX: Scenario<NginxHosts> = Scenario {
    name: "hostaliases::nginx",
    compute: |scene| Box::pin(run_nginx(scene.ctx())),
};

/// This run's nginx pod (see [`NGINX`]): its IPs and its /etc/hosts.
async fn nginx_hosts(ctx: &Ctx) -> NginxHosts {
    NGINX.read(ctx, ..).await?.outcome().cloned()
}

/// `kubectl run nginx --image nginx`, then `kubectl exec nginx -- cat /etc/hosts`.
async fn run_nginx(ctx: &Ctx) -> NginxHosts {
    ctx.create(&kubectl_run("nginx", "nginx")?).await?;
    let pod = ctx.wait_pod_running("nginx").await?;
    let out = ctx.exec("nginx", "nginx", &["cat", "/etc/hosts"]).await?;
    ensure(
        out.exit_code == 0,
        "`cat /etc/hosts` exit code",
        0,
        out.exit_code,
    )?;
    Ok((pod_ips(&pod), out.stdout))
}

/// A mismatch whose expected side carries the doc's excerpt, so the reader sees doc and cluster side by side.
fn hosts_mismatch(what: &str, expected: &str, observed: &str, doc: &DocFile) -> TrialError {
    TrialError::Mismatch {
        what: what.to_string(),
        expected: format!("{expected}\n\n{}", doc.excerpt()),
        observed: observed.to_string(),
    }
}

async fn nginx_managed_header(ctx: Ctx) -> Result<(), TrialError> {
    let (_, hosts) = nginx_hosts(&ctx).await?;
    match hosts.lines().next() {
        Some(MANAGED_HEADER) => Ok(()),
        _ => Err(hosts_mismatch(
            "first line of /etc/hosts",
            MANAGED_HEADER,
            &hosts,
            &DOC_DEFAULT_HOSTS,
        )),
    }
}

async fn nginx_default_entries(ctx: Ctx) -> Result<(), TrialError> {
    let (_, hosts) = nginx_hosts(&ctx).await?;
    let observed: Vec<&str> = hosts.lines().skip(1).take(DEFAULT_LINES.len()).collect();
    if observed == DEFAULT_LINES {
        return Ok(());
    }
    Err(hosts_mismatch(
        "lines 2-7 of /etc/hosts (TAB-separated)",
        &DEFAULT_LINES.join("\n"),
        &hosts,
        &DOC_DEFAULT_HOSTS,
    ))
}

async fn nginx_pod_ip_entries(ctx: Ctx) -> Result<(), TrialError> {
    let (ips, hosts) = nginx_hosts(&ctx).await?;
    ensure(
        !ips.is_empty(),
        "status.podIPs of nginx",
        "at least one pod IP",
        "none",
    )?;
    let ip_refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    let expected =
        managed_hosts_content(&pod_ips_in_file_order(&ip_refs, &hosts), "nginx", None, &[]);
    if hosts == expected {
        return Ok(());
    }
    Err(hosts_mismatch(
        &format!(
            "the whole /etc/hosts of nginx for podIPs [{}] (pod lines in the file's order)",
            ips.join(", ")
        ),
        &expected,
        &hosts,
        &DOC_DEFAULT_HOSTS,
    ))
}

/// The doc's hostaliases-pod run to completion: the manifest as applied, the pod as it ended, its log.
struct Completed {
    manifest: Pod,
    done: Pod,
    log: Result<String, TrialError>,
}

/// One hostaliases-pod for the two `hostaliases::hostaliases_pod::*` checks.
static HOSTALIASES: Scenario<Result<Completed, TrialError>> = Scenario {
    name: "hostaliases::hostaliases_pod",
    compute: |scene| Box::pin(run_hostaliases_pod(scene.ctx())),
};

/// Applies the doc's hostaliases-pod verbatim, waits for it to complete and reads its log.
async fn run_hostaliases_pod(ctx: &Ctx) -> Result<Completed, TrialError> {
    let manifest: Pod = HOSTALIASES_POD.object()?;
    ctx.create(&manifest).await?;
    let done = ctx.wait_pod_succeeded("hostaliases-pod").await?;
    let log = ctx.logs("hostaliases-pod", "cat-hosts").await;
    Ok(Completed {
        manifest,
        done,
        log,
    })
}

async fn hostaliases_pod_completes(ctx: Ctx) -> Result<(), TrialError> {
    HOSTALIASES.read(&ctx, ..).await?.outcome().map(|_| ())
}

fn aliases_of(pod: &Pod) -> Vec<HostAlias> {
    pod.spec
        .iter()
        .flat_map(|s| s.host_aliases.iter().flatten())
        .map(|a| HostAlias {
            ip: a.ip.clone(),
            hostnames: a.hostnames.clone().unwrap_or_default(),
        })
        .collect()
}

async fn hostaliases_pod_alias_section(ctx: Ctx) -> Result<(), TrialError> {
    let shared = HOSTALIASES.read(&ctx, ..).await?;
    let Completed {
        manifest,
        done,
        log,
    } = shared.outcome()?;
    let log = log.clone()?;
    let ips = pod_ips(done);
    ensure(
        !ips.is_empty(),
        "status.podIPs of the Completed hostaliases-pod",
        "the pod IPs (kept for terminal pods)",
        "none",
    )?;
    let section = format!(
        "\n{HOST_ALIASES_MARKER}\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\tbar.remote\n"
    );
    if !log.ends_with(&section) {
        return Err(hosts_mismatch(
            "the end of the hostaliases-pod log",
            &section,
            &log,
            &DOC_ALIASED_HOSTS,
        ));
    }
    let ip_refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    let expected = managed_hosts_content(
        &pod_ips_in_file_order(&ip_refs, &log),
        "hostaliases-pod",
        None,
        &aliases_of(manifest),
    );
    if log != expected {
        return Err(hosts_mismatch(
            "the whole hostaliases-pod log",
            &expected,
            &log,
            &DOC_ALIASED_HOSTS,
        ));
    }
    Ok(())
}

async fn subdomain_fqdn_entries(ctx: Ctx) -> Result<(), TrialError> {
    let objects = SUBDOMAIN_EXAMPLE.objects()?;
    let pod_json = objects
        .iter()
        .find(|o| o.types.as_ref().is_some_and(|t| t.kind == "Pod"))
        .ok_or_else(|| {
            TrialError::Harness(format!("manifests/{}: no Pod", SUBDOMAIN_EXAMPLE.path))
        })?;
    let pod: Pod =
        from_json(serde_json::to_value(pod_json).map_err(|e| TrialError::Harness(e.to_string()))?)?;
    let name = pod.metadata.name.clone().unwrap_or_default();
    let spec = pod.spec.clone().unwrap_or_default();
    let (hostname, subdomain) = (
        spec.hostname.clone().unwrap_or_default(),
        spec.subdomain.clone().unwrap_or_default(),
    );
    let container = spec
        .containers
        .first()
        .map(|c| c.name.clone())
        .unwrap_or_default();
    ctx.create(&pod).await?;
    let running = ctx.wait_pod_running(&name).await?;
    let hosts = ctx
        .exec(&name, &container, &["cat", "/etc/hosts"])
        .await?
        .stdout;
    let resolv = ctx
        .exec(&name, &container, &["cat", "/etc/resolv.conf"])
        .await?
        .stdout;
    let cluster_domain =
        cluster_domain(&ResolvConf::parse(&resolv), ctx.namespace()).ok_or_else(|| {
            TrialError::Mismatch {
                what: format!(
                    "the search list of {name}'s /etc/resolv.conf (dnsPolicy ClusterFirst)"
                ),
                expected: format!("a first entry `{}.svc.<cluster domain>`", ctx.namespace()),
                observed: resolv.clone(),
            }
        })?;
    let domain = format!("{subdomain}.{}.svc.{cluster_domain}", ctx.namespace());
    let ips = pod_ips(&running);
    let ip_refs: Vec<&str> = ips.iter().map(String::as_str).collect();
    let expected = managed_hosts_content(
        &pod_ips_in_file_order(&ip_refs, &hosts),
        &hostname,
        Some(&domain),
        &[],
    );
    ensure(
        hosts == expected,
        &format!("/etc/hosts of {name} (hostname {hostname}, subdomain {subdomain})"),
        &expected,
        &hosts,
    )
}

/// The cluster domain, read off the first search entry the kubelet writes for ClusterFirst pods:
/// `<namespace>.svc.<cluster domain>` (upstream: pkg/kubelet/network/dns/dns.go generateSearchesForDNSClusterFirst).
fn cluster_domain(resolv: &ResolvConf, namespace: &str) -> Option<String> {
    let prefix = format!("{namespace}.svc.");
    resolv
        .search
        .first()?
        .strip_prefix(&prefix)
        .filter(|d| !d.is_empty())
        .map(str::to_string)
}

async fn host_network_header_and_aliases(ctx: Ctx) -> Result<(), TrialError> {
    // The doc's hostaliases-pod with `hostNetwork: true` and a long-running command, so the file can be read.
    let pod: Pod = from_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "hostaliases-hostnet" },
        "spec": {
            "hostNetwork": true,
            "hostAliases": [
                { "ip": "127.0.0.1", "hostnames": ["foo.local", "bar.local"] },
                { "ip": "10.1.2.3", "hostnames": ["foo.remote", "bar.remote"] }
            ],
            "containers": [ { "name": "cat-hosts", "image": "busybox:1.28", "command": ["sleep", "3600"] } ]
        }
    }))?;
    ctx.create(&pod).await?;
    let running = ctx.wait_pod_running("hostaliases-hostnet").await?;
    let hosts = ctx
        .exec("hostaliases-hostnet", "cat-hosts", &["cat", "/etc/hosts"])
        .await?
        .stdout;
    let first = hosts.lines().next().unwrap_or_default();
    ensure(
        first == MANAGED_HEADER_HOST_NETWORK,
        "first line of a hostNetwork pod's /etc/hosts",
        MANAGED_HEADER_HOST_NETWORK,
        &hosts,
    )?;
    let section = format!(
        "\n{HOST_ALIASES_MARKER}\n127.0.0.1\tfoo.local\tbar.local\n10.1.2.3\tfoo.remote\tbar.remote\n"
    );
    ensure(
        hosts.ends_with(&section),
        "the end of a hostNetwork pod's /etc/hosts",
        &section,
        &hosts,
    )?;
    // Between the two: the node's own file as the kubelet reads it (nodeHostsFileContent reads the node's
    // /etc/hosts), here read through a hostPath volume on the same node.
    let node = running
        .spec
        .as_ref()
        .and_then(|s| s.node_name.clone())
        .ok_or_else(|| TrialError::Harness("a running pod has no spec.nodeName".to_string()))?;
    let node_hosts = read_node_file(&ctx, &node, "/etc/hosts", "node-hosts-reader").await?;
    let expected = host_network_hosts_content(&node_hosts, &aliases_of(&pod));
    ensure(
        hosts == expected,
        &format!("a hostNetwork pod's /etc/hosts against node {node}'s /etc/hosts"),
        &expected,
        &hosts,
    )
}

async fn own_mount_not_managed(ctx: Ctx) -> Result<(), TrialError> {
    let own = "# hosts file of the pod's own volume\n192.0.2.10\town-entry\n";
    let config: ConfigMap = from_json(json!({
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": { "name": "own-hosts" },
        "data": { "hosts": own }
    }))?;
    ctx.create(&config).await?;
    let pod: Pod = from_json(json!({
        "apiVersion": "v1", "kind": "Pod",
        "metadata": { "name": "own-hosts" },
        "spec": {
            "volumes": [ { "name": "hosts", "configMap": { "name": "own-hosts" } } ],
            "containers": [ {
                "name": "reader", "image": "busybox:1.28", "command": ["sleep", "3600"],
                "volumeMounts": [ { "name": "hosts", "mountPath": "/etc/hosts", "subPath": "hosts" } ]
            } ]
        }
    }))?;
    ctx.create(&pod).await?;
    ctx.wait_pod_running("own-hosts").await?;
    let hosts = ctx
        .exec("own-hosts", "reader", &["cat", "/etc/hosts"])
        .await?
        .stdout;
    ensure(
        hosts == own,
        "/etc/hosts of a container that mounts its own",
        own,
        &hosts,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cluster_domain_comes_from_the_first_search_entry() {
        let conf = ResolvConf::parse(
            "search nc-x.svc.cluster.local svc.cluster.local cluster.local\nnameserver 10.96.0.10\noptions ndots:5\n",
        );
        assert_eq!(
            cluster_domain(&conf, "nc-x").as_deref(),
            Some("cluster.local")
        );
        assert_eq!(cluster_domain(&conf, "other"), None);
        assert_eq!(
            cluster_domain(&ResolvConf::parse("nameserver 1.1.1.1\n"), "nc-x"),
            None
        );
    }
}
