//! NodePort Services: the port the control plane allocates, a requested port, and the port answering on
//! every node's InternalIP of each family.
//!
//! The docs (seed 004: `kubectl create service nodeport svctmp03 --tcp=1248:80`, "nodeport + (30000+
//! port): every node listens on it") show a command, not a manifest: [`svctmp03`] builds the object
//! kubectl sends (staging/src/k8s.io/kubectl/pkg/cmd/create/create_service.go `createService`: label and
//! selector `app=<name>`, port name `1248-80`, `port` 1248, `targetPort` 80, TCP, `nodePort` from
//! `--node-port`, 0 = unset).
//!
//! upstream: pkg/registry/core/service/storage/alloc.go `initNodePorts` (a requested nodePort is allocated
//! as given or the create fails with `Invalid` on `spec.ports[i].nodePort`), pkg/registry/core/service/
//! portallocator/allocator.go (default range 30000-32767; "provided port is already allocated", "provided
//! port is not in the valid range"); kube-proxy serves a NodePort on the node's addresses of each family
//! (pkg/proxy/util/nodeport_addresses.go: iptables mode without `--nodeport-addresses` serves every local
//! address; nftables mode defaults it to `primary`, the node IP of each family from its Node object,
//! cmd/kube-proxy/app/server_linux.go `platformApplyDefaults`; kind leaves it unset, so each InternalIP
//! serves it either way), one proxier per family serving the Services with a ClusterIP of that family
//! (pkg/proxy/servicechangetracker.go). NodePort traffic is masqueraded
//! (pkg/proxy/iptables/proxier.go "masquerade traffic for ... external destinations" with
//! externalTrafficPolicy Cluster): the backend's view of the client is not checked.

use std::time::Duration;

use k8s_openapi::api::core::v1::{Node, Service};
use kube::ResourceExt;
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip};
use netconform::preflight::node_info;

use crate::pods::from_json;
use crate::shared::nodes::list_nodes;
use crate::shared::probe::{fetch, start_pair, url, wait_ready_endpoint};
use crate::shared::services::get_service;

use crate::shared::services::DEFAULT_NODE_PORT_RANGE as DEFAULT_RANGE;
/// The static band of the default range (portallocator `calculateRangeOffset`: 2768/32 = 86 ports),
/// which dynamic allocation uses last: requested ports are picked there to avoid collisions.
const STATIC_BAND: std::ops::Range<i32> = 30000..30086;

/// `kubectl create service nodeport NAME --tcp=1248:80 [--node-port=N]` as the object kubectl sends.
fn svctmp03(name: &str, node_port: Option<i32>) -> Result<Service, TrialError> {
    let mut port = json!({"name": "1248-80", "port": 1248, "targetPort": 80, "protocol": "TCP"});
    if let Some(np) = node_port {
        port["nodePort"] = json!(np);
    }
    from_json(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {"type": "NodePort", "selector": {"app": name}, "ports": [port]}
    }))
}

/// `.spec.ports[*].nodePort` of a Service, as `kubectl get svc` shows them.
fn node_ports(svc: &Service) -> Vec<i32> {
    svc.spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .map(|ps| ps.iter().filter_map(|p| p.node_port).collect())
        .unwrap_or_default()
}

fn describe_ports(svc: &Service) -> String {
    let ports: Vec<String> = svc
        .spec
        .as_ref()
        .and_then(|s| s.ports.as_ref())
        .map(|ps| {
            ps.iter()
                .map(|p| {
                    format!(
                        "{}: port {} nodePort {}",
                        p.name.as_deref().unwrap_or("-"),
                        p.port,
                        p.node_port
                            .map_or_else(|| "(unset)".to_string(), |n| n.to_string())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    format!("service {}: [{}]", svc.name_any(), ports.join("; "))
}

/// Creates the Service and reads it back.
async fn create(ctx: &Ctx, svc: &Service) -> Result<Service, TrialError> {
    let created = ctx.create(svc).await?;
    let read = get_service(ctx, &created.name_any()).await?;
    ctx.log(describe_ports(&read));
    Ok(read)
}

/// The API error of a create the server refused (code, reason, message), if that is how it ended.
fn refusal(err: &TrialError) -> Option<(u16, String, String)> {
    err.refusal()
        .map(|status| (status.code, status.reason.clone(), status.message.clone()))
}

pub(super) async fn allocated_in_range(ctx: Ctx) -> Result<(), TrialError> {
    let svc = create(&ctx, &svctmp03("svctmp03", None)?).await?;
    let ports = node_ports(&svc);
    ensure(
        !ports.is_empty() && ports.iter().all(|p| DEFAULT_RANGE.contains(p)),
        "the nodePort allocated to `kubectl create service nodeport svctmp03 --tcp=1248:80`",
        "a port in 30000-32767 (the default --service-node-port-range)",
        describe_ports(&svc),
    )
}

pub(super) async fn requested_port_allocated(ctx: Ctx) -> Result<(), TrialError> {
    // Another Service of the cluster may hold a port of the static band: the docs say collisions are
    // yours to avoid, so try the next one (each try fails as a whole: nothing stays allocated).
    let first = STATIC_BAND.start + (hash(ctx.namespace()) % STATIC_BAND.len()) as i32;
    let mut tried = Vec::new();
    for i in 0..STATIC_BAND.len().min(8) {
        let wanted =
            STATIC_BAND.start + (first - STATIC_BAND.start + i as i32) % STATIC_BAND.len() as i32;
        let what = format!(
            "the nodePort of `kubectl create service nodeport svctmp03 --tcp=1248:80 --node-port={wanted}`"
        );
        match create(&ctx, &svctmp03("svctmp03", Some(wanted))?).await {
            Ok(svc) => {
                return ensure(
                    node_ports(&svc) == vec![wanted],
                    &what,
                    wanted.to_string(),
                    describe_ports(&svc),
                );
            }
            Err(e) => match refusal(&e) {
                Some((_, _, message)) if message.contains("already allocated") => {
                    ctx.log(format!(
                        "nodePort {wanted} is held by another Service: {message}"
                    ));
                    tried.push(wanted);
                }
                Some((code, reason, message)) => {
                    return Err(TrialError::Mismatch {
                        what,
                        expected: format!("{wanted} (the create succeeds)"),
                        observed: format!("{code} {reason}: {message}"),
                    });
                }
                None => return Err(e),
            },
        }
    }
    Err(TrialError::Harness(format!(
        "every nodePort tried is held by another Service: {tried:?}"
    )))
}

pub(super) async fn requested_port_in_use_rejected(ctx: Ctx) -> Result<(), TrialError> {
    let first = create(&ctx, &svctmp03("svctmp03", None)?).await?;
    let Some(&held) = node_ports(&first).first() else {
        return Err(TrialError::Mismatch {
            what: "the nodePort allocated to svctmp03".into(),
            expected: "a port".into(),
            observed: describe_ports(&first),
        });
    };
    expect_invalid(
        &ctx,
        &svctmp03("svctmp04", Some(held))?,
        &format!(
            "`kubectl create service nodeport svctmp04 --tcp=1248:80 --node-port={held}` while svctmp03 holds nodePort {held}"
        ),
        "provided port is already allocated",
        |second| {
            format!(
                "created:\n{}\n{}",
                describe_ports(&first),
                describe_ports(second)
            )
        },
    )
    .await
}

pub(super) async fn requested_port_out_of_range_rejected(ctx: Ctx) -> Result<(), TrialError> {
    let outside = DEFAULT_RANGE.start() - 1;
    expect_invalid(
        &ctx,
        &svctmp03("svctmp03", Some(outside))?,
        &format!(
            "`kubectl create service nodeport svctmp03 --tcp=1248:80 --node-port={outside}` (outside 30000-32767)"
        ),
        "provided port is not in the valid range",
        |svc| format!("created: {}", describe_ports(svc)),
    )
    .await
}

/// Creating `svc` must fail as `422 Invalid` (`why` is the allocator's message); a Service created
/// instead is read back and shown by `created`.
async fn expect_invalid(
    ctx: &Ctx,
    svc: &Service,
    what: &str,
    why: &str,
    created: impl FnOnce(&Service) -> String,
) -> Result<(), TrialError> {
    let expected = format!("the API transaction fails (422 Invalid: {why})");
    match ctx.create(svc).await {
        Ok(_) => {
            let read = get_service(ctx, &svc.name_any()).await?;
            Err(TrialError::Mismatch {
                what: what.to_string(),
                expected,
                observed: created(&read),
            })
        }
        Err(e) => match refusal(&e) {
            Some((code, reason, message)) => {
                ctx.log(format!("refused: {code} {reason}: {message}"));
                ensure(
                    code == 422,
                    what,
                    expected,
                    format!("{code} {reason}: {message}"),
                )
            }
            None => Err(e),
        },
    }
}

/// The node's InternalIPs of `family`.
fn internal_ips(node: &Node, family: IpFamily) -> Vec<String> {
    node_info(node)
        .internal_ips
        .into_iter()
        .filter(|ip| family_of_ip(ip).ok() == Some(family))
        .collect()
}

pub(super) async fn every_node(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    // svctmp03 as the docs create it, plus `ipFamilyPolicy: PreferDualStack`: kube-proxy's proxier of a
    // family serves only Services with a ClusterIP of that family, and `kubectl create service` makes a
    // SingleStack Service of the cluster's primary family.
    let mut object = svctmp03("svctmp03", None)?;
    if let Some(spec) = object.spec.as_mut() {
        spec.ip_family_policy = Some("PreferDualStack".into());
    }
    let svc = create(&ctx, &object).await?;
    let Some(&node_port) = node_ports(&svc).first() else {
        return Err(TrialError::Mismatch {
            what: "the nodePort allocated to svctmp03".into(),
            expected: "a port".into(),
            observed: describe_ports(&svc),
        });
    };
    let node_port = u16::try_from(node_port).map_err(|_| TrialError::Mismatch {
        what: "the nodePort allocated to svctmp03".into(),
        expected: "a TCP port number".into(),
        observed: node_port.to_string(),
    })?;
    let pair = start_pair(&ctx, "client", "backend", &[("app", "svctmp03")], 80).await?;
    wait_ready_endpoint(&ctx, "svctmp03", family, &pair.backend.ip(family)?).await?;
    let server = format!("svctmp03's backend {}", pair.backend.describe());
    let mut results = Vec::new();
    // A node that answered otherwise contradicts the doc; one whose path was never programmed within the
    // budget timed out (the longest such wait is kept).
    let mut wrong = false;
    let mut timed_out: Option<(&'static str, Duration)> = None;
    let mut checked = 0;
    for node in list_nodes(&ctx).await? {
        let name = node.name_any();
        let ips = internal_ips(&node, family);
        if ips.is_empty() {
            ctx.log(format!("node {name} has no {family} InternalIP"));
            results.push(format!("node {name}: no {family} InternalIP (not checked)"));
        }
        for ip in ips {
            checked += 1;
            let target = url(&ip, node_port, "/hostname");
            match fetch(&ctx, &pair.client, &target, &server).await {
                Ok(body) if body.trim() == pair.backend.name => {
                    results.push(format!("node {name} {target}: {}", body.trim()));
                }
                Ok(body) => {
                    wrong = true;
                    results.push(format!("node {name} {target}: answered {body:?}"));
                }
                Err(TrialError::Timeout {
                    awaited,
                    budget,
                    elapsed,
                    last_state,
                }) => {
                    let longest = timed_out.map_or(elapsed, |(_, e)| e.max(elapsed));
                    timed_out = Some((budget, longest));
                    results.push(format!("node {name}: waiting for {awaited}:\n{last_state}"));
                }
                Err(e) => return Err(e),
            }
        }
    }
    let what = format!(
        "HTTP to nodePort {node_port} of svctmp03 on every node's {family} InternalIP, from {}",
        pair.client.describe()
    );
    let expected = format!(
        "every node answers with the backend's hostname {}",
        pair.backend.name
    );
    if let (false, Some((budget, elapsed))) = (wrong, timed_out) {
        return Err(TrialError::Timeout {
            awaited: format!("{what}: {expected}"),
            budget,
            elapsed,
            last_state: results.join("\n"),
        });
    }
    ensure(checked > 0 && !wrong, &what, expected, results.join("\n"))
}

/// A stable small number from a string (FNV-1a), to spread requested ports over namespaces.
fn hash(s: &str) -> usize {
    s.bytes().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    }) as usize
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kubectl_create_service_nodeport_object() {
        let v = serde_json::to_value(svctmp03("svctmp03", Some(30001)).unwrap()).unwrap();
        assert_eq!(v["metadata"]["labels"]["app"], "svctmp03");
        assert_eq!(v["spec"]["selector"]["app"], "svctmp03");
        assert_eq!(v["spec"]["type"], "NodePort");
        assert_eq!(
            v["spec"]["ports"][0],
            json!({"name": "1248-80", "port": 1248, "targetPort": 80, "protocol": "TCP", "nodePort": 30001})
        );
        let v = serde_json::to_value(svctmp03("x", None).unwrap()).unwrap();
        assert!(v["spec"]["ports"][0]["nodePort"].is_null());
    }

    #[test]
    fn requested_ports_stay_in_the_static_band() {
        for ns in ["a", "netconform-1-connectivity-x", ""] {
            let first = STATIC_BAND.start + (hash(ns) % STATIC_BAND.len()) as i32;
            assert!(STATIC_BAND.contains(&first));
        }
    }
}
