//! NetworkPolicy (networking.k8s.io/v1) as an enforcing network plugin applies it to a new TCP
//! connection from a pod to a pod (after kube-proxy's DNAT for Service traffic).
//!
//! - `spec.policyTypes` as the apiserver defaults it: `[Ingress]`, plus `Egress` when the policy has
//!   egress rules (upstream: pkg/apis/networking/v1/defaults.go SetDefaults_NetworkPolicy); a port's
//!   protocol defaults to TCP (SetDefaults_NetworkPolicyPort). The double does not default stored
//!   objects, so the model reads the defaults itself.
//! - A pod is isolated for a direction when a policy of its namespace selects it (`podSelector`) and
//!   lists that direction; an isolated pod accepts only what some rule of those policies allows (the
//!   union), and ingress from the pod's own node is always allowed. Replies of an allowed connection are
//!   allowed (connection tracking). A connection needs the client's egress and the server's ingress.
//! - A rule with no ports allows every port; with no peers (`from`/`to`) every peer. A peer is an
//!   `ipBlock` (the peer's IP in `cidr` and in no `except`, for pods as for anything else), or selectors:
//!   `podSelector` alone selects pods of the policy's namespace, `namespaceSelector` alone every pod of
//!   the selected namespaces, both together the selected pods of the selected namespaces (AND).
//! - A port matches by number, by `port`..=`endPort`, or by name against the destination pod's
//!   container ports (name, number and protocol).
//! - Both families are filtered alike (kube-network-policies' nftables table is `inet`, with IPv4 and IPv6
//!   sets of the pods' IPs: pkg/networkpolicy/controller.go `initializeNFTablesRules`); an `ipBlock` of one
//!   family never holds an address of the other (Go's `net.IPNet.Contains`: `evaluateIPBlocks`).
//!
//! upstream: staging/src/k8s.io/api/networking/v1/types.go (the field semantics);
//! kubernetes-sigs/kube-network-policies pkg/networkpolicy/networkpolicy.go (evaluator,
//! evaluateIngress/evaluateEgress, evaluateSelectors, evaluateIPBlocks, evaluatePorts: the engine inside
//! kind's kindnetd); test/e2e/network/netpol/network_policy.go (the same cases in upstream's e2e).
//!
//! Deviations: `network-policy-not-enforced` (every connection passes), `network-policy-ignores-namespace-
//! selector` (peers with a namespaceSelector match nothing), `network-policy-egress-ignored` (no pod is
//! ever isolated for egress), `network-policy-ports-ignored` (rules match every port),
//! `network-policy-replies-not-tracked` (stateless filtering: replies must pass the server's egress and
//! the client's ingress rules like new connections), `network-policy-ipv4-only` (IPv6 connections are never
//! filtered, as by a plugin programming only an `ip` table), `network-policy-ip-block-except-ignored` (an
//! ipBlock's `except` is not applied), `network-policy-ip-blocks-ignored` (ipBlock peers match nothing),
//! `network-policy-node-not-exempt` (ingress from the pod's own node is filtered too),
//! `network-policy-not-additive` (only the newest isolating policy of a direction applies).

use std::net::IpAddr;

use ipnet::IpNet;
use serde_json::Value;

use super::labels::label_selector_matches;
use crate::deviation::{Deviation, Deviations};
use crate::store::Store;

/// The client port a stateless filter sees on a reply (the first of Linux's ephemeral range).
const EPHEMERAL_PORT: u16 = 32768;

/// What the network plugin enforces (all of it upstream; less under a deviation).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enforcement {
    pub enforced: bool,
    pub namespace_selectors: bool,
    pub egress: bool,
    pub ports: bool,
    pub tracks_replies: bool,
    /// Whether IPv6 connections are filtered too (else they all pass).
    pub ipv6: bool,
    /// Whether an ipBlock's `except` list is applied.
    pub ip_block_except: bool,
    /// Whether ipBlock peers match at all.
    pub ip_blocks: bool,
    /// Whether ingress from the pod's own node always passes.
    pub node_exempt: bool,
    /// Whether the rules of every isolating policy are combined (else only the newest policy's apply).
    pub additive: bool,
}

impl Enforcement {
    pub const UPSTREAM: Enforcement = Enforcement {
        enforced: true,
        namespace_selectors: true,
        egress: true,
        ports: true,
        tracks_replies: true,
        ipv6: true,
        ip_block_except: true,
        ip_blocks: true,
        node_exempt: true,
        additive: true,
    };

    pub fn of(deviations: &Deviations) -> Enforcement {
        Enforcement {
            enforced: !deviations.has(Deviation::NetworkPolicyNotEnforced),
            namespace_selectors: !deviations.has(Deviation::NetworkPolicyIgnoresNamespaceSelector),
            egress: !deviations.has(Deviation::NetworkPolicyEgressIgnored),
            ports: !deviations.has(Deviation::NetworkPolicyPortsIgnored),
            tracks_replies: !deviations.has(Deviation::NetworkPolicyRepliesNotTracked),
            ipv6: !deviations.has(Deviation::NetworkPolicyIpv4Only),
            ip_block_except: !deviations.has(Deviation::NetworkPolicyIpBlockExceptIgnored),
            ip_blocks: !deviations.has(Deviation::NetworkPolicyIpBlocksIgnored),
            node_exempt: !deviations.has(Deviation::NetworkPolicyNodeNotExempt),
            additive: !deviations.has(Deviation::NetworkPolicyNotAdditive),
        }
    }
}

/// A direction of `spec.policyTypes`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    Ingress,
    Egress,
}

impl Direction {
    fn rules_field(self) -> &'static str {
        match self {
            Direction::Ingress => "ingress",
            Direction::Egress => "egress",
        }
    }
    fn peers_field(self) -> &'static str {
        match self {
            Direction::Ingress => "from",
            Direction::Egress => "to",
        }
    }
}

/// `spec.policyTypes`, defaulted as the apiserver does (upstream: SetDefaults_NetworkPolicy).
pub fn policy_types(policy: &Value) -> Vec<Direction> {
    let spec = &policy["spec"];
    let listed: Vec<Direction> = spec["policyTypes"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|t| match t.as_str() {
            Some("Ingress") => Some(Direction::Ingress),
            Some("Egress") => Some(Direction::Egress),
            _ => None,
        })
        .collect();
    if spec["policyTypes"]
        .as_array()
        .is_some_and(|t| !t.is_empty())
    {
        return listed;
    }
    let has_egress = spec["egress"].as_array().is_some_and(|e| !e.is_empty());
    match has_egress {
        true => vec![Direction::Ingress, Direction::Egress],
        false => vec![Direction::Ingress],
    }
}

/// One end of a connection as a policy sees it: its IP and, when that IP is a pod's own, the pod.
#[derive(Debug, Clone, Copy)]
pub struct End<'a> {
    pub ip: IpAddr,
    pub pod: Option<&'a Value>,
}

/// What a rule is checked against: the other end, the port and the pod that names the port.
struct Traffic<'a> {
    peer: End<'a>,
    port: u16,
    /// The destination pod, whose container ports give named ports their numbers.
    destination: Option<&'a Value>,
}

/// The cluster state a verdict depends on.
struct View {
    policies: Vec<Value>,
    namespaces: Vec<Value>,
    enforcement: Enforcement,
}

impl View {
    fn namespace_labels(&self, name: &str) -> Value {
        self.namespaces
            .iter()
            .find(|ns| ns["metadata"]["name"] == name)
            .map(|ns| ns["metadata"]["labels"].clone())
            .unwrap_or(Value::Null)
    }

    /// The policies of `pod`'s namespace that select it and isolate it for `direction`.
    fn isolating(&self, pod: &Value, direction: Direction) -> Vec<&Value> {
        if direction == Direction::Egress && !self.enforcement.egress {
            return Vec::new();
        }
        let namespace = &pod["metadata"]["namespace"];
        let isolating: Vec<&Value> = self
            .policies
            .iter()
            .filter(|p| p["metadata"]["namespace"] == *namespace)
            .filter(|p| selects(&p["spec"]["podSelector"], pod))
            .filter(|p| policy_types(p).contains(&direction))
            .collect();
        match self.enforcement.additive {
            true => isolating,
            false => isolating
                .into_iter()
                .max_by_key(|p| {
                    let meta = &p["metadata"];
                    let version = meta["resourceVersion"]
                        .as_str()
                        .and_then(|v| v.parse::<u64>().ok());
                    (
                        meta["creationTimestamp"]
                            .as_str()
                            .unwrap_or_default()
                            .to_string(),
                        version,
                    )
                })
                .into_iter()
                .collect(),
        }
    }

    /// Whether `pod` accepts `traffic` in `direction`: not isolated, or some rule of an isolating
    /// policy matches (rules of all policies are combined additively).
    fn admits(&self, pod: &Value, direction: Direction, traffic: &Traffic) -> bool {
        let policies = self.isolating(pod, direction);
        policies.is_empty()
            || policies.iter().any(|policy| {
                let namespace = policy["metadata"]["namespace"].as_str().unwrap_or_default();
                policy["spec"][direction.rules_field()]
                    .as_array()
                    .into_iter()
                    .flatten()
                    .any(|rule| self.rule_matches(rule, direction, namespace, traffic))
            })
    }

    fn rule_matches(
        &self,
        rule: &Value,
        direction: Direction,
        policy_namespace: &str,
        traffic: &Traffic,
    ) -> bool {
        let ports_match = !self.enforcement.ports
            || match rule["ports"].as_array() {
                Some(ports) if !ports.is_empty() => ports
                    .iter()
                    .any(|p| port_matches(p, traffic.port, traffic.destination)),
                _ => true,
            };
        let peers_match = match rule[direction.peers_field()].as_array() {
            Some(peers) if !peers.is_empty() => peers
                .iter()
                .any(|peer| self.peer_matches(peer, policy_namespace, &traffic.peer)),
            _ => true,
        };
        ports_match && peers_match
    }

    fn peer_matches(&self, peer: &Value, policy_namespace: &str, end: &End) -> bool {
        if peer["ipBlock"].is_object() {
            return self.enforcement.ip_blocks
                && ip_block_contains(&peer["ipBlock"], end.ip, self.enforcement.ip_block_except);
        }
        let (pod_selector, namespace_selector) = (&peer["podSelector"], &peer["namespaceSelector"]);
        if !pod_selector.is_object() && !namespace_selector.is_object() {
            return false;
        }
        // Selectors select pods only: traffic from or to anything else never matches them.
        let Some(pod) = end.pod else {
            return false;
        };
        if pod_selector.is_object() && !selects(pod_selector, pod) {
            return false;
        }
        let pod_namespace = pod["metadata"]["namespace"].as_str().unwrap_or_default();
        if !namespace_selector.is_object() {
            return pod_namespace == policy_namespace;
        }
        self.enforcement.namespace_selectors
            && label_selector_matches(namespace_selector, &self.namespace_labels(pod_namespace))
    }
}

/// Whether a policy's `podSelector` selects `pod`. The field is not a pointer upstream: a missing one is
/// the empty selector, which selects every pod.
fn selects(pod_selector: &Value, pod: &Value) -> bool {
    pod_selector.is_null() || label_selector_matches(pod_selector, &pod["metadata"]["labels"])
}

/// An `ipBlock` holds `ip`: inside `cidr` and outside every `except` (a family mismatch is outside);
/// `except` is skipped when `with_except` is false.
fn ip_block_contains(block: &Value, ip: IpAddr, with_except: bool) -> bool {
    let net = |v: &Value| v.as_str().and_then(|s| s.parse::<IpNet>().ok());
    let inside = net(&block["cidr"]).is_some_and(|cidr| cidr.contains(&ip));
    let excepted = block["except"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(net)
        .any(|except| except.contains(&ip));
    inside && !(with_except && excepted)
}

/// A `NetworkPolicyPort` matches a TCP connection to `port` (of `destination`, for named ports).
fn port_matches(policy_port: &Value, port: u16, destination: Option<&Value>) -> bool {
    if policy_port["protocol"].as_str().unwrap_or("TCP") != "TCP" {
        return false;
    }
    match &policy_port["port"] {
        Value::Null => true,
        Value::Number(n) => {
            let first = n.as_u64().unwrap_or(0);
            let last = policy_port["endPort"].as_u64().unwrap_or(first);
            (first..=last).contains(&u64::from(port))
        }
        Value::String(name) => destination.is_some_and(|pod| named_port(pod, name) == Some(port)),
        _ => false,
    }
}

/// The number of the container port called `name` with protocol TCP.
fn named_port(pod: &Value, name: &str) -> Option<u16> {
    pod["spec"]["containers"]
        .as_array()?
        .iter()
        .flat_map(|c| c["ports"].as_array().into_iter().flatten())
        .find(|p| p["name"] == name && p["protocol"].as_str().unwrap_or("TCP") == "TCP")
        .and_then(|p| p["containerPort"].as_u64())
        .and_then(|p| u16::try_from(p).ok())
}

/// Whether `ip` is one of `pod`'s own addresses (not a hostNetwork pod, which uses its node's).
fn owns(pod: &Value, ip: IpAddr) -> bool {
    pod["spec"]["hostNetwork"] != true
        && pod["status"]["podIPs"].as_array().is_some_and(|ips| {
            ips.iter()
                .any(|p| p["ip"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) == Some(ip))
        })
}

/// Whether `ip` is an address of the node `pod` runs on.
fn from_own_node(store: &Store, pod: &Value, ip: IpAddr) -> bool {
    let Some(node) = pod["spec"]["nodeName"]
        .as_str()
        .and_then(|n| store.get("nodes", None, n))
    else {
        return false;
    };
    node["status"]["addresses"].as_array().is_some_and(|addrs| {
        addrs
            .iter()
            .any(|a| a["address"].as_str().and_then(|s| s.parse::<IpAddr>().ok()) == Some(ip))
    })
}

/// One direction of packets from `sender` (seen as `source`) to `receiver` at `dest:port`: the
/// sender's egress and the receiver's ingress.
fn passes(
    store: &Store,
    view: &View,
    (sender, source): (&Value, IpAddr),
    (receiver, dest): (&Value, IpAddr),
    port: u16,
) -> bool {
    let egress = Traffic {
        peer: End {
            ip: dest,
            pod: owns(receiver, dest).then_some(receiver),
        },
        port,
        destination: Some(receiver),
    };
    let ingress = Traffic {
        peer: End {
            ip: source,
            pod: owns(sender, source).then_some(sender),
        },
        port,
        destination: Some(receiver),
    };
    view.admits(sender, Direction::Egress, &egress)
        && ((view.enforcement.node_exempt && from_own_node(store, receiver, source))
            || view.admits(receiver, Direction::Ingress, &ingress))
}

/// Whether a TCP connection from `client` (a pod, seen as `source`) to `server` (a pod) at `dest:port`
/// is allowed by the NetworkPolicies of both ends (egress of the client's, ingress of the server's).
pub fn allows(
    store: &Store,
    deviations: &Deviations,
    client: &Value,
    source: IpAddr,
    server: &Value,
    dest: IpAddr,
    port: u16,
) -> bool {
    let enforcement = Enforcement::of(deviations);
    if !enforcement.enforced || (dest.is_ipv6() && !enforcement.ipv6) {
        return true;
    }
    let view = View {
        policies: store.list("networkpolicies", None),
        namespaces: store.list("namespaces", None),
        enforcement,
    };
    passes(store, &view, (client, source), (server, dest), port)
        && (enforcement.tracks_replies
            || passes(
                store,
                &view,
                (server, dest),
                (client, source),
                EPHEMERAL_PORT,
            ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The docs' `test-network-policy` (manifests/service/networking/networkpolicy.yaml) in namespace `app`.
    fn docs_policy() -> Value {
        json!({"apiVersion": "networking.k8s.io/v1", "kind": "NetworkPolicy",
            "metadata": {"name": "test-network-policy", "namespace": "app"},
            "spec": {"podSelector": {"matchLabels": {"role": "db"}}, "policyTypes": ["Ingress", "Egress"],
                "ingress": [{"from": [
                        {"ipBlock": {"cidr": "172.17.0.0/16", "except": ["172.17.1.0/24"]}},
                        {"namespaceSelector": {"matchLabels": {"project": "myproject"}}},
                        {"podSelector": {"matchLabels": {"role": "frontend"}}}],
                    "ports": [{"protocol": "TCP", "port": 6379}]}],
                "egress": [{"to": [{"ipBlock": {"cidr": "10.0.0.0/24"}}], "ports": [{"protocol": "TCP", "port": 5978}]}]}})
    }

    fn namespace(name: &str, labels: Value) -> Value {
        json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})
    }

    fn pod(name: &str, namespace: &str, labels: Value, ip: &str, node: &str) -> Value {
        json!({"apiVersion": "v1", "kind": "Pod",
            "metadata": {"name": name, "namespace": namespace, "labels": labels},
            "spec": {"nodeName": node, "containers": [{"name": "c", "image": "agnhost",
                "ports": [{"name": "redis", "containerPort": 6379}]}]},
            "status": {"phase": "Running", "podIPs": [{"ip": ip}]}})
    }

    struct World {
        store: Store,
        db: Value,
        frontend: Value,
        plain: Value,
        project: Value,
        other: Value,
    }

    fn world(policies: &[Value]) -> World {
        let store = Store::new();
        let node = json!({"apiVersion": "v1", "kind": "Node", "metadata": {"name": "worker"},
            "status": {"addresses": [{"type": "InternalIP", "address": "172.18.0.3"}]}});
        store.create("nodes", None, node).unwrap();
        for ns in [
            namespace("app", json!({})),
            namespace("proj", json!({"project": "myproject"})),
            namespace("other", json!({})),
        ] {
            store.create("namespaces", None, ns).unwrap();
        }
        for p in policies {
            let ns = p["metadata"]["namespace"].as_str().unwrap().to_string();
            store
                .create("networkpolicies", Some(&ns), p.clone())
                .unwrap();
        }
        World {
            store,
            db: pod("db", "app", json!({"role": "db"}), "10.244.1.5", "worker"),
            frontend: pod(
                "fe",
                "app",
                json!({"role": "frontend"}),
                "10.244.2.7",
                "worker2",
            ),
            plain: pod("plain", "app", json!({}), "10.244.2.8", "worker2"),
            project: pod("proj", "proj", json!({}), "10.244.2.9", "worker2"),
            // role=frontend, but in a namespace without the label: a bare podSelector is the policy's namespace only.
            other: pod(
                "other",
                "other",
                json!({"role": "frontend"}),
                "10.244.2.10",
                "worker2",
            ),
        }
    }

    fn ip(pod: &Value) -> IpAddr {
        pod["status"]["podIPs"][0]["ip"]
            .as_str()
            .unwrap()
            .parse()
            .unwrap()
    }

    fn connect(w: &World, deviations: &[&str], from: &Value, to: &Value, port: u16) -> bool {
        let names: Vec<String> = deviations.iter().map(|d| d.to_string()).collect();
        let d = Deviations::from_names(&names).unwrap();
        allows(&w.store, &d, from, ip(from), to, ip(to), port)
    }

    #[test]
    fn the_docs_example() {
        let w = world(&[docs_policy()]);
        assert!(
            connect(&w, &[], &w.frontend, &w.db, 6379),
            "role=frontend, same namespace"
        );
        assert!(
            connect(&w, &[], &w.project, &w.db, 6379),
            "namespace project=myproject"
        );
        assert!(!connect(&w, &[], &w.plain, &w.db, 6379), "no label");
        assert!(
            !connect(&w, &[], &w.other, &w.db, 6379),
            "role=frontend in another namespace"
        );
        assert!(
            !connect(&w, &[], &w.frontend, &w.db, 8080),
            "a port the rule does not list"
        );
        assert!(
            !connect(&w, &[], &w.db, &w.frontend, 8080),
            "db egress: 10.0.0.0/24:5978 only"
        );
        assert!(
            connect(&w, &[], &w.frontend, &w.plain, 8080),
            "unselected pods are not isolated"
        );
        // From the ipBlock (a pod IP too), but not from its except.
        let mut inside = w.plain.clone();
        inside["status"]["podIPs"] = json!([{"ip": "172.17.0.9"}]);
        assert!(connect(&w, &[], &inside, &w.db, 6379));
        inside["status"]["podIPs"] = json!([{"ip": "172.17.1.9"}]);
        assert!(!connect(&w, &[], &inside, &w.db, 6379));
        // The db pod's node is always allowed in.
        let db = w.db.clone();
        assert!(allows(
            &w.store,
            &Deviations::default(),
            &w.plain,
            "172.18.0.3".parse().unwrap(),
            &db,
            ip(&db),
            6379
        ));
    }

    #[test]
    fn each_deviation_breaks_one_thing() {
        let w = world(&[docs_policy()]);
        assert!(connect(
            &w,
            &["network-policy-not-enforced"],
            &w.plain,
            &w.db,
            6379
        ));
        assert!(connect(
            &w,
            &["network-policy-not-enforced"],
            &w.db,
            &w.frontend,
            8080
        ));
        assert!(!connect(
            &w,
            &["network-policy-ignores-namespace-selector"],
            &w.project,
            &w.db,
            6379
        ));
        assert!(connect(
            &w,
            &["network-policy-ignores-namespace-selector"],
            &w.frontend,
            &w.db,
            6379
        ));
        assert!(connect(
            &w,
            &["network-policy-egress-ignored"],
            &w.db,
            &w.frontend,
            8080
        ));
        assert!(!connect(
            &w,
            &["network-policy-egress-ignored"],
            &w.plain,
            &w.db,
            6379
        ));
        assert!(connect(
            &w,
            &["network-policy-ports-ignored"],
            &w.frontend,
            &w.db,
            8080
        ));
        assert!(!connect(
            &w,
            &["network-policy-ports-ignored"],
            &w.db,
            &w.frontend,
            8080
        ));
        // Stateless: db's reply to the frontend fails db's egress rules.
        assert!(!connect(
            &w,
            &["network-policy-replies-not-tracked"],
            &w.frontend,
            &w.db,
            6379
        ));
        assert!(connect(
            &w,
            &["network-policy-replies-not-tracked"],
            &w.frontend,
            &w.plain,
            8080
        ));
    }

    #[test]
    fn ipv6_is_filtered_alike_unless_ipv4_only() {
        let w = world(&[docs_policy()]);
        let dual = |pod: &Value, v6: &str| {
            let mut pod = pod.clone();
            let v4 = pod["status"]["podIPs"][0].clone();
            pod["status"]["podIPs"] = json!([v4, {"ip": v6}]);
            pod
        };
        let db = dual(&w.db, "fd00:10:244:1::5");
        let frontend = dual(&w.frontend, "fd00:10:244:2::7");
        let plain = dual(&w.plain, "fd00:10:244:2::8");
        let v6 = |pod: &Value| -> IpAddr {
            pod["status"]["podIPs"][1]["ip"]
                .as_str()
                .unwrap()
                .parse()
                .unwrap()
        };
        let connect6 = |deviations: &[&str], from: &Value, to: &Value, port: u16| {
            let names: Vec<String> = deviations.iter().map(|d| d.to_string()).collect();
            let d = Deviations::from_names(&names).unwrap();
            allows(&w.store, &d, from, v6(from), to, v6(to), port)
        };
        // The selectors admit over IPv6; the IPv4 ipBlocks admit no IPv6 peer.
        assert!(connect6(&[], &frontend, &db, 6379));
        assert!(!connect6(&[], &plain, &db, 6379));
        assert!(!connect6(&[], &frontend, &db, 8080));
        assert!(
            !connect6(&[], &db, &frontend, 8080),
            "db egress: an IPv4 ipBlock only"
        );
        for (from, to, port) in [
            (&plain, &db, 6379),
            (&frontend, &db, 8080),
            (&db, &frontend, 8080),
        ] {
            assert!(connect6(&["network-policy-ipv4-only"], from, to, port));
        }
        // IPv4 is still filtered.
        assert!(!connect(
            &w,
            &["network-policy-ipv4-only"],
            &plain,
            &db,
            6379
        ));
    }

    #[test]
    fn policy_types_default_from_the_rules() {
        let ingress_only = json!({"spec": {"podSelector": {}}});
        assert_eq!(policy_types(&ingress_only), vec![Direction::Ingress]);
        let with_egress = json!({"spec": {"podSelector": {}, "egress": [{}]}});
        assert_eq!(
            policy_types(&with_egress),
            vec![Direction::Ingress, Direction::Egress]
        );
        let egress_only = json!({"spec": {"podSelector": {}, "policyTypes": ["Egress"]}});
        assert_eq!(policy_types(&egress_only), vec![Direction::Egress]);
    }

    #[test]
    fn isolation_union_and_peers() {
        let deny_all =
            json!({"metadata": {"name": "deny", "namespace": "app"}, "spec": {"podSelector": {}}});
        let w = world(std::slice::from_ref(&deny_all));
        assert!(
            !connect(&w, &[], &w.frontend, &w.db, 6379),
            "an empty ingress list admits nothing"
        );
        assert!(
            connect(&w, &[], &w.db, &w.project, 6379),
            "egress is not isolated by default"
        );
        // A second policy adds to the first.
        let allow_all = json!({"metadata": {"name": "all", "namespace": "app"},
            "spec": {"podSelector": {"matchExpressions": [{"key": "role", "operator": "In", "values": ["db"]}]}, "ingress": [{}]}});
        let w = world(&[deny_all, allow_all]);
        assert!(connect(&w, &[], &w.other, &w.db, 1));
        assert!(!connect(&w, &[], &w.other, &w.frontend, 1));
        // namespaceSelector and podSelector in one peer: both must hold.
        let and = json!({"metadata": {"name": "and", "namespace": "app"}, "spec": {"podSelector": {},
            "ingress": [{"from": [{"namespaceSelector": {"matchLabels": {"project": "myproject"}}, "podSelector": {"matchLabels": {"role": "frontend"}}}]}]}});
        let w = world(&[and]);
        assert!(
            !connect(&w, &[], &w.project, &w.db, 1),
            "right namespace, wrong pod"
        );
        assert!(
            !connect(&w, &[], &w.other, &w.db, 1),
            "right pod, wrong namespace"
        );
        let mut both = w.project.clone();
        both["metadata"]["labels"] = json!({"role": "frontend"});
        assert!(connect(&w, &[], &both, &w.db, 1));
    }

    #[test]
    fn ports_by_number_range_and_name() {
        let tcp = |p: Value| port_matches(&p, 6379, None);
        assert!(tcp(json!({"port": 6379})));
        assert!(!tcp(json!({"port": 6379, "protocol": "UDP"})));
        assert!(
            tcp(json!({"protocol": "TCP"})),
            "no port: every port of the protocol"
        );
        assert!(tcp(json!({"port": 6000, "endPort": 7000})));
        assert!(!tcp(json!({"port": 6380, "endPort": 7000})));
        let db = pod("db", "app", json!({}), "10.244.1.5", "worker");
        assert!(port_matches(&json!({"port": "redis"}), 6379, Some(&db)));
        assert!(!port_matches(&json!({"port": "redis"}), 6380, Some(&db)));
        assert!(!port_matches(&json!({"port": "http"}), 6379, Some(&db)));
    }
}
