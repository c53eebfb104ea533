//! The cluster model behind the double's API: seed objects, admission (the apiserver's defaulting,
//! allocation and validation), controllers (scheduler, kubelet, endpointslice, ServiceCIDR,
//! IPAddress release, service accounts, a cloud-provider-kind-like LoadBalancer controller), the
//! container command model and the pod network model (network.rs: kube-proxy and pod-to-pod routes).

mod admission;
mod allocator;
pub mod commands;
mod controllers;
pub mod env;
mod kubelet;
mod loadbalancer;
mod netexec;
mod network;
mod prober;
mod seed;
#[cfg(test)]
mod tests;
mod workloads;

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use serde_json::Value;

use crate::deviation::{Deviation, Deviations};
use crate::model::dns::{ClusterDns, DnsQuirks, QType, Reply, Resolver};
use crate::model::hosts::{self, EtcHosts};
use crate::model::resolv::{self, Configurer, ResolvQuirks};
use crate::model::topology::{self, Topology};
use crate::profile::Profiles;
use crate::runtime::{ContainerRuntime, ExecOutput};
use crate::store::Store;
use crate::{DoubleConfig, DoubleError};
use commands::{Container, FileView};

/// Seeds the cluster's objects, registers admissions, spawns controllers and returns the runtime model.
/// Must be called inside a tokio runtime (controllers are tokio tasks).
pub fn install(
    store: &Store,
    config: &DoubleConfig,
) -> Result<Arc<dyn ContainerRuntime>, DoubleError> {
    let deviations = Deviations::from_names(&config.deviations)
        .map_err(|e| DoubleError::Config(e.to_string()))?;
    let profiles =
        Profiles::from_names(&config.profiles).map_err(|e| DoubleError::Config(e.to_string()))?;
    let cluster = Arc::new(Cluster::with_profiles(
        deviations,
        &profiles,
        config.pod_start_latency,
    ));
    admission::register(store, &cluster);
    workloads::register(store);
    seed::seed(store, &cluster)?;
    if profiles.has(crate::profile::SLOW_NAMESPACE_TEARDOWN) {
        store.set_namespace_teardown_delay(Duration::from_secs(3));
    }
    if !profiles.has(crate::profile::LOAD_BALANCER_FRESH) {
        loadbalancer::seed_evidence(store, &cluster)?;
    }
    controllers::spawn_all(store, &cluster);
    loadbalancer::spawn(store, &cluster);
    kubelet::spawn(store, &cluster);
    workloads::spawn(store, &cluster);
    Ok(Arc::new(ClusterRuntime { cluster }))
}

/// What a started container keeps: its environment, its log (the main process's output) and the
/// files written into its own filesystem since it started (`touch`, `rm`).
#[derive(Debug, Clone, Default)]
pub(crate) struct StartedContainer {
    pub env: Vec<(String, String)>,
    pub log: String,
    pub files: std::collections::BTreeMap<String, String>,
}

/// Shared state of the cluster model.
pub(crate) struct Cluster {
    pub topology: Topology,
    pub deviations: Deviations,
    pub pod_start_latency: (Duration, Duration),
    /// (pod uid, container name) -> started container.
    started: Mutex<HashMap<(String, String), StartedContainer>>,
}

impl Cluster {
    #[cfg(test)]
    pub fn new(deviations: Deviations, pod_start_latency: (Duration, Duration)) -> Cluster {
        Cluster::with_profiles(deviations, &Profiles::default(), pod_start_latency)
    }

    pub fn with_profiles(
        deviations: Deviations,
        profiles: &Profiles,
        pod_start_latency: (Duration, Duration),
    ) -> Cluster {
        Cluster {
            topology: Topology::with_profiles(profiles),
            deviations,
            pod_start_latency,
            started: Mutex::new(HashMap::new()),
        }
    }

    pub fn has(&self, deviation: Deviation) -> bool {
        self.deviations.has(deviation)
    }

    fn started_map(
        &self,
    ) -> std::sync::MutexGuard<'_, HashMap<(String, String), StartedContainer>> {
        self.started.lock().unwrap_or_else(|p| p.into_inner())
    }

    pub fn record_start(&self, pod_uid: &str, container: &str, started: StartedContainer) {
        self.started_map()
            .insert((pod_uid.to_string(), container.to_string()), started);
    }

    pub fn started(&self, pod_uid: &str, container: &str) -> Option<StartedContainer> {
        self.started_map()
            .get(&(pod_uid.to_string(), container.to_string()))
            .cloned()
    }

    /// Writes a file into a started container's filesystem; false when the container has not started.
    pub fn write_file(&self, pod_uid: &str, container: &str, path: &str, content: &str) -> bool {
        let mut map = self.started_map();
        match map.get_mut(&(pod_uid.to_string(), container.to_string())) {
            Some(started) => {
                started.files.insert(path.to_string(), content.to_string());
                true
            }
            None => false,
        }
    }

    /// Removes a file written into a started container; false when there was none.
    pub fn remove_file(&self, pod_uid: &str, container: &str, path: &str) -> bool {
        let mut map = self.started_map();
        map.get_mut(&(pod_uid.to_string(), container.to_string()))
            .and_then(|started| started.files.remove(path))
            .is_some()
    }

    /// A file written into a started container.
    pub fn written_file(&self, pod_uid: &str, container: &str, path: &str) -> Option<String> {
        self.started_map()
            .get(&(pod_uid.to_string(), container.to_string()))
            .and_then(|started| started.files.get(path).cloned())
    }

    pub fn forget_pod(&self, pod_uid: &str) {
        self.started_map().retain(|(uid, _), _| uid != pod_uid);
    }

    /// The kubelet's DNS configurer of every node (they share cluster DNS and domain).
    pub fn dns_configurer(&self) -> Configurer {
        let cluster_domain = if self.has(Deviation::ResolvMissingSearch) {
            String::new()
        } else {
            self.topology.cluster_domain.clone()
        };
        // `resolv-wrong-cluster-dns`: a kubelet whose --cluster-dns is not the kube-dns ClusterIP.
        let cluster_dns = if self.has(Deviation::ResolvWrongClusterDns) {
            IpAddr::V4(topology::STALE_CLUSTER_DNS_IP)
        } else if self.has(Deviation::ResolvLinkLocalClusterDns) {
            IpAddr::V4(topology::NODE_LOCAL_DNS_IP)
        } else {
            self.topology.dns_ip
        };
        Configurer {
            cluster_dns: vec![cluster_dns],
            cluster_domain,
            host_resolv_conf: self.topology.node_resolv_conf.clone(),
            quirks: ResolvQuirks {
                ndots: self.has(Deviation::ResolvWrongNdots).then_some(1),
                ignore_dns_config: self.has(Deviation::DnsconfigIgnored),
                no_dedup: self.has(Deviation::DnsconfigNoDedup),
                host_network_no_fallback: self.has(Deviation::ResolvHostnetNoFallback),
                ignore_cluster_first_with_host_net: self
                    .has(Deviation::ResolvHostnetIgnoresClusterFirstWithHostNet),
                default_is_cluster_first: self.has(Deviation::ResolvDefaultUsesClusterDns),
            },
        }
    }

    /// `/etc/resolv.conf` of a pod's containers.
    pub fn resolv_conf(&self, pod: &Value) -> String {
        resolv::pod_resolv_conf(&self.dns_configurer(), pod)
    }

    /// The hostname a container sees (`GeneratePodHostNameAndDomain`; the node's for hostNetwork).
    pub fn hostname(&self, pod: &Value) -> String {
        if pod["spec"]["hostNetwork"].as_bool().unwrap_or(false) {
            return pod["spec"]["nodeName"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        if self.has(Deviation::PodHostnameIgnoresSpec) {
            return pod["metadata"]["name"]
                .as_str()
                .unwrap_or_default()
                .to_string();
        }
        hosts::pod_hostname_and_domain(pod, &self.topology.cluster_domain)
            .map(|(h, _)| h)
            .unwrap_or_else(|_| {
                pod["metadata"]["name"]
                    .as_str()
                    .unwrap_or_default()
                    .to_string()
            })
    }

    /// `/etc/hosts` of a container, with the hosts deviations applied. The kubelet writes the pod IPs
    /// in the order the runtime reported them (kuberuntime_manager.go `SyncPod` passes
    /// `determinePodSandboxIPs` to `GenerateRunContainerOptions` -> `makeMounts`), not sorted like
    /// status.podIPs (`sortPodIPs`); the double's runtime reports IPv4 first.
    pub fn etc_hosts(&self, store: &Store, pod: &Value, container: &Value) -> FileView {
        let mut ips = kubelet::runtime_order(&env::pod_ips(pod));
        if self.has(Deviation::HostsSingleIp) {
            ips.truncate(1);
        }
        let mut pod_view = pod.clone();
        if self.has(Deviation::HostsNoAliasSection)
            && let Some(spec) = pod_view["spec"].as_object_mut()
        {
            spec.remove("hostAliases");
        }
        if self.has(Deviation::HostsNoFqdn)
            && let Some(spec) = pod_view["spec"].as_object_mut()
        {
            spec.remove("subdomain");
        }
        let host_network = pod["spec"]["hostNetwork"].as_bool().unwrap_or(false);
        let mut container_view = container.clone();
        if self.has(Deviation::HostsOverridesOwnMount)
            && let Some(c) = container_view.as_object_mut()
        {
            c.remove("volumeMounts");
        }
        let container = &container_view;
        let node_hosts = pod["spec"]["nodeName"]
            .as_str()
            .and_then(|n| self.topology.node(n))
            .map(topology::node_hosts_file)
            .unwrap_or_default();
        // `hosts-host-network-stale-node-file`: the node's file as it was before docker added the node's lines.
        let node_hosts_seen = if self.has(Deviation::HostsHostNetworkStaleNodeFile) {
            node_hosts
                .lines()
                .take(6)
                .map(|l| format!("{l}\n"))
                .collect()
        } else {
            node_hosts.clone()
        };
        match hosts::etc_hosts_for_container(
            &pod_view,
            container,
            &ips,
            &node_hosts_seen,
            &self.topology.cluster_domain,
        ) {
            Ok(EtcHosts::Managed(_))
                if host_network && self.has(Deviation::HostsHostNetworkUnmanaged) =>
            {
                FileView::Content(node_hosts)
            }
            Ok(EtcHosts::Managed(content)) => {
                let content = if self.has(Deviation::HostsSpacesNotTabs) {
                    content.replace('\t', "    ")
                } else {
                    content
                };
                let content = if self.has(Deviation::HostsMissingHeader) {
                    content
                        .split_once('\n')
                        .map(|(_, rest)| rest.to_string())
                        .unwrap_or_default()
                } else {
                    content
                };
                FileView::Content(content)
            }
            Ok(EtcHosts::OwnMount) => own_mount(self, store, pod, container, hosts::ETC_HOSTS_PATH),
            Ok(EtcHosts::Image) | Err(_) => FileView::Missing,
        }
    }

    /// The cluster DNS as a pod sees it (with the `dns-no-cross-namespace` deviation applied).
    pub fn pod_resolver(&self, store: &Store, pod: &Value) -> PodResolver {
        let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
        let mut services = store.list("services", None);
        if self.has(Deviation::DnsNoCrossNamespace) {
            // Reverse lookups of the DNS server itself still work.
            services.retain(|s| {
                s["metadata"]["namespace"] == namespace || s["metadata"]["name"] == "kube-dns"
            });
        }
        let slices = store.list("endpointslices", None);
        let quirks = DnsQuirks {
            no_aaaa: self.has(Deviation::DnsNoAaaa),
            headless_empty: self.has(Deviation::DnsHeadlessEmpty),
            serve_unready: self.has(Deviation::DnsHeadlessIncludesUnready),
            no_srv: self.has(Deviation::DnsNoSrv),
            no_endpoint_hostnames: self.has(Deviation::DnsNoPodHostnameRecords),
            pod_records_servfail: self.has(Deviation::DnsPodRecordsServfail),
            pods_disabled: !self.topology.pod_dns_records
                || self.has(Deviation::DnsPodRecordsNxdomain),
            upstream_wildcard: self
                .has(Deviation::DnsUpstreamWildcard)
                .then_some(topology::UPSTREAM_WILDCARD_IP),
            no_forward: self.has(Deviation::DnsNoForward),
            no_external_name: self.has(Deviation::DnsNoExternalName),
            upstream_ipv4_only: self.has(Deviation::DnsUpstreamIpv4Only),
        };
        // Docker's embedded DNS knows the node containers by name, at both their addresses on the kind
        // network (moby libnetwork resolver.go: container names and aliases of the network's endpoints).
        let node_names = self
            .topology
            .nodes
            .iter()
            .map(|n| (n.name.clone(), vec![IpAddr::V4(n.ipv4), IpAddr::V6(n.ipv6)]));
        // `dns-server-unreachable`: nothing answers on the kube-dns ClusterIP (queries time out).
        let server = (!self.has(Deviation::DnsServerUnreachable)).then_some(self.topology.dns_ip);
        PodResolver {
            dns: ClusterDns::from_objects_with(
                &self.topology.cluster_domain,
                server,
                &services,
                &slices,
                quirks,
            )
            .with_upstream_hosts(node_names),
            upstream: IpAddr::V4(topology::DOCKER_GATEWAY),
        }
    }
}

/// The content of a volume mounted over a file path: a configMap/secret key via `subPath`, else a directory.
fn own_mount(
    cluster: &Cluster,
    store: &Store,
    pod: &Value,
    container: &Value,
    path: &str,
) -> FileView {
    let Some(mount) = container["volumeMounts"]
        .as_array()
        .and_then(|m| m.iter().find(|m| m["mountPath"].as_str() == Some(path)))
    else {
        return FileView::Missing;
    };
    let volume_name = mount["name"].as_str().unwrap_or_default();
    let volume = pod["spec"]["volumes"]
        .as_array()
        .and_then(|v| v.iter().find(|v| v["name"].as_str() == Some(volume_name)));
    if let Some(host_path) = volume.and_then(|v| v["hostPath"]["path"].as_str()) {
        return node_file(cluster, pod, host_path);
    }
    let Some(sub_path) = mount["subPath"].as_str().filter(|s| !s.is_empty()) else {
        return FileView::Directory;
    };
    let namespace = pod["metadata"]["namespace"].as_str().unwrap_or("default");
    match volume.and_then(|v| v["configMap"]["name"].as_str()) {
        Some(cm) => match store
            .get("configmaps", Some(namespace), cm)
            .and_then(|cm| cm["data"][sub_path].as_str().map(str::to_string))
        {
            Some(content) => FileView::Content(content),
            None => FileView::Missing,
        },
        // emptyDir and other volumes: an empty file would be created by the runtime.
        None => FileView::Content(String::new()),
    }
}

/// A file of the pod's node, as a hostPath volume shows it (the files the model knows of a kind node).
fn node_file(cluster: &Cluster, pod: &Value, path: &str) -> FileView {
    let node = pod["spec"]["nodeName"]
        .as_str()
        .and_then(|n| cluster.topology.node(n).cloned());
    match (path.trim_end_matches('/'), node) {
        ("/etc/resolv.conf", _) => FileView::Content(cluster.topology.node_resolv_conf.clone()),
        ("/etc/hosts", Some(node)) => FileView::Content(topology::node_hosts_file(&node)),
        ("/etc" | "/" | "/run" | "/var", _) => FileView::Directory,
        _ => FileView::Missing,
    }
}

/// DNS servers reachable from a pod: kube-dns (CoreDNS) and, for `dnsPolicy: Default`, the node's
/// resolver (docker's DNS via the gateway), which knows no cluster names.
pub(crate) struct PodResolver {
    dns: ClusterDns,
    upstream: IpAddr,
}

impl Resolver for PodResolver {
    fn query(&self, server: IpAddr, name: &str, qtype: QType) -> Option<Reply> {
        if server == self.upstream {
            return Some(self.dns.upstream_answer(name, qtype));
        }
        self.dns.query(server, name, qtype)
    }
}

/// One container of one pod, as commands see it.
pub(crate) struct PodContainer<'a> {
    pub cluster: &'a Cluster,
    pub store: &'a Store,
    pub pod: &'a Value,
    pub container: &'a Value,
    pub env: Vec<(String, String)>,
    pub resolver: PodResolver,
}

impl<'a> PodContainer<'a> {
    /// A view with a freshly computed environment (as at container start).
    pub fn new(
        cluster: &'a Cluster,
        store: &'a Store,
        pod: &'a Value,
        container: &'a Value,
    ) -> PodContainer<'a> {
        let hostname = cluster.hostname(pod);
        let quirks = env::EnvQuirks {
            first_pod_ip_only: cluster.has(Deviation::DownwardPodIpsFirstOnly),
            service_links_ignore_disable: cluster.has(Deviation::ServiceLinksIgnoreDisable),
            service_links_drop_kubernetes: cluster.has(Deviation::ServiceLinksDropKubernetes),
            no_docker_links: cluster.has(Deviation::ServiceEnvNoDockerLinks),
        };
        let env = env::container_env(store, pod, container, &hostname, quirks);
        PodContainer {
            cluster,
            store,
            pod,
            container,
            env,
            resolver: cluster.pod_resolver(store, pod),
        }
    }
}

impl PodContainer<'_> {
    fn uid(&self) -> &str {
        self.pod["metadata"]["uid"].as_str().unwrap_or_default()
    }
    fn name(&self) -> &str {
        self.container["name"].as_str().unwrap_or_default()
    }
}

impl Container for PodContainer<'_> {
    fn image(&self) -> &str {
        self.container["image"].as_str().unwrap_or_default()
    }
    fn env(&self) -> &[(String, String)] {
        &self.env
    }
    fn hostname(&self) -> String {
        self.cluster.hostname(self.pod)
    }
    fn read_file(&self, path: &str) -> FileView {
        if let Some(content) = self.cluster.written_file(self.uid(), self.name(), path) {
            return FileView::Content(content);
        }
        match path.trim_end_matches('/') {
            "/etc/hosts" => self.cluster.etc_hosts(self.store, self.pod, self.container),
            "/etc/resolv.conf" => FileView::Content(self.cluster.resolv_conf(self.pod)),
            "/etc/hostname" => FileView::Content(format!("{}\n", self.hostname())),
            "" | "/etc" | "/tmp" | "/proc" | "/var" | "/root" | "/bin" => FileView::Directory,
            p => own_mount(self.cluster, self.store, self.pod, self.container, p),
        }
    }
    fn resolver(&self) -> &dyn Resolver {
        &self.resolver
    }
    fn write_file(&self, path: &str, content: &str) -> bool {
        self.cluster
            .write_file(self.uid(), self.name(), path, content)
    }
    fn remove_file(&self, path: &str) -> bool {
        self.cluster.remove_file(self.uid(), self.name(), path)
    }
    fn http_get(&self, dest: IpAddr, port: u16, path: &str) -> commands::HttpReply {
        if dest.is_loopback() {
            return network::loopback_get(
                self.cluster,
                self.store,
                self.pod,
                self.name(),
                dest,
                port,
                path,
            );
        }
        network::http_get(self.cluster, self.store, self.pod, dest, port, path)
    }
}

/// `metadata.name` of a stored object ("" when it has none).
pub(crate) fn name_of(obj: &Value) -> &str {
    obj["metadata"]["name"].as_str().unwrap_or_default()
}

/// Finds a container (or init container) of a pod by name.
pub(crate) fn find_container<'a>(pod: &'a Value, name: &str) -> Option<&'a Value> {
    ["containers", "initContainers", "ephemeralContainers"]
        .iter()
        .filter_map(|k| pod["spec"][*k].as_array())
        .flatten()
        .find(|c| c["name"].as_str() == Some(name))
}

/// The [`ContainerRuntime`] of the model.
pub(crate) struct ClusterRuntime {
    cluster: Arc<Cluster>,
}

impl ContainerRuntime for ClusterRuntime {
    fn exec(&self, store: &Store, pod: &Value, container: &str, command: &[String]) -> ExecOutput {
        let Some(spec) = find_container(pod, container) else {
            return ExecOutput::failure(1, format!("container {container} not found in pod\n"));
        };
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        let mut view = PodContainer::new(&self.cluster, store, pod, spec);
        // The environment is fixed when the container starts (`service-env-follows-new-services`: as if
        // it were read again for every exec).
        if let Some(started) = self.cluster.started(uid, container)
            && !self.cluster.has(Deviation::ServiceEnvFollowsNewServices)
        {
            view.env = started.env;
        }
        let out = commands::exec(&view, command);
        ExecOutput {
            stdout: out.stdout.into_bytes(),
            stderr: out.stderr.into_bytes(),
            exit_code: out.exit_code,
        }
    }

    fn logs(&self, _store: &Store, pod: &Value, container: &str) -> Option<String> {
        let uid = pod["metadata"]["uid"].as_str().unwrap_or_default();
        self.cluster.started(uid, container).map(|s| s.log)
    }

    fn exec_outside(&self, store: &Store, command: &[String]) -> ExecOutput {
        let host = OutsideContainer {
            cluster: &self.cluster,
            store,
        };
        let out = commands::exec(&host, command);
        ExecOutput {
            stdout: out.stdout.into_bytes(),
            stderr: out.stderr.into_bytes(),
            exit_code: out.exit_code,
        }
    }

    fn outside_addresses(&self) -> Vec<IpAddr> {
        network::outside::addresses(&self.cluster)
    }
}

/// The host outside the cluster (network/outside.rs) as a container: agnhost, no cluster DNS.
struct OutsideContainer<'a> {
    cluster: &'a Cluster,
    store: &'a Store,
}

/// A resolver that answers nothing: the host outside does not use the cluster DNS.
struct NoDns;

impl Resolver for NoDns {
    fn query(&self, _server: IpAddr, _name: &str, _qtype: QType) -> Option<Reply> {
        None
    }
}

impl Container for OutsideContainer<'_> {
    fn image(&self) -> &str {
        "registry.k8s.io/e2e-test-images/agnhost:2.52"
    }
    fn env(&self) -> &[(String, String)] {
        &[]
    }
    fn hostname(&self) -> String {
        network::outside::OUTSIDE_NAME.to_string()
    }
    fn read_file(&self, _path: &str) -> FileView {
        FileView::Missing
    }
    fn resolver(&self) -> &dyn Resolver {
        &NoDns
    }
    fn http_get(&self, dest: IpAddr, port: u16, path: &str) -> commands::HttpReply {
        network::outside::http_get(self.cluster, self.store, dest, port, path)
    }
}
