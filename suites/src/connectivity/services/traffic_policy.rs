//! `internalTrafficPolicy: Local` ("Service Internal Traffic Policy"): backends on two nodes, clients on
//! both; each client reaches only the endpoint on its own node, and a client on a node without an
//! endpoint gets no answer (once that node is shown to have programmed a later Service).
//!
//! upstream: pkg/proxy/topology.go `CategorizeEndpoints` (with a Local internal policy the usable endpoints
//! are the ready endpoints whose `nodeName` is this node); pkg/proxy/iptables/proxier.go and
//! pkg/proxy/nftables/proxier.go ("The internalTrafficPolicy is "Local" but there are no local endpoints.
//! Traffic to the clusterIP will be dropped": a DROP, so the client times out; a Service with no endpoints
//! at all is a REJECT instead).

use k8s_openapi::api::core::v1::Service;

use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::IpFamily;

use crate::pods::from_json;
use crate::shared::probe::{
    NodeRef, Reply, Running, client_pod, expect_no_answer, fetch, netexec_pod, primary_cluster_ip,
    schedulable_nodes, start, url, wait_ready_endpoint,
};
use crate::shared::services::get_service;

/// Requests per client: with the policy ignored, each goes to the other node's backend with probability
/// 1/2 under kube-proxy's random choice, so 8 requests from each of two clients all staying local by chance
/// has probability 2^-16.
const REQUESTS: usize = 8;
const TARGET_PORT: u16 = 9376;

/// The page's example Service (my-service, selector `app: MyApp`, port 80 -> targetPort 9376,
/// `internalTrafficPolicy: Local`), shown inline on the page: built here as written.
fn my_service() -> Result<Service, TrialError> {
    from_json(serde_json::json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "my-service"},
        "spec": {
            "selector": {"app": "MyApp"},
            "ports": [{"protocol": "TCP", "port": 80, "targetPort": TARGET_PORT}],
            "internalTrafficPolicy": "Local"
        }
    }))
}

/// The control Service: my-service's selector and ports with the default internal policy (Cluster).
const CONTROL: &str = "my-service-cluster";

/// Creates the control Service; its ClusterIP of `family`.
async fn create_control_service(ctx: &Ctx, family: IpFamily) -> Result<String, TrialError> {
    let mut svc = my_service()?;
    svc.metadata.name = Some(CONTROL.into());
    if let Some(spec) = svc.spec.as_mut() {
        spec.internal_traffic_policy = None;
        spec.ip_families = Some(vec![family.as_str().to_string()]);
    }
    ctx.create(&svc).await?;
    let (ip, _) = primary_cluster_ip(&get_service(ctx, CONTROL).await?)?;
    Ok(ip)
}

/// The Service's `.spec.clusterIP` (its primary family) and that family.
async fn create_my_service(ctx: &Ctx) -> Result<(String, IpFamily), TrialError> {
    ctx.create(&my_service()?).await?;
    let svc = get_service(ctx, "my-service").await?;
    let spec = svc.spec.as_ref();
    ctx.log(format!(
        "my-service: clusterIP {}, internalTrafficPolicy {}",
        spec.and_then(|s| s.cluster_ip.as_deref())
            .unwrap_or("(unset)"),
        spec.and_then(|s| s.internal_traffic_policy.as_deref())
            .unwrap_or("(unset)")
    ));
    primary_cluster_ip(&svc)
}

/// Backend `backend-<i>` on each of `nodes` (label `app=MyApp`, netexec on 9376) and a client
/// `client-<i>` beside each of `clients_on`; waits until the backends are ready endpoints of my-service.
async fn start_pods(
    ctx: &Ctx,
    family: IpFamily,
    backends_on: &[&NodeRef],
    clients_on: &[&NodeRef],
) -> Result<(Vec<Running>, Vec<Running>), TrialError> {
    let mut pods = Vec::new();
    for (i, node) in backends_on.iter().enumerate() {
        pods.push(netexec_pod(
            &format!("backend-{i}"),
            Some(node),
            &[("app", "MyApp")],
            TARGET_PORT,
        )?);
    }
    for (i, node) in clients_on.iter().enumerate() {
        pods.push(client_pod(&format!("client-{i}"), Some(node), &[])?);
    }
    let mut running = start(ctx, None, &pods).await?;
    let clients = running.split_off(backends_on.len());
    for backend in &running {
        wait_ready_endpoint(ctx, "my-service", family, &backend.ip(family)?).await?;
    }
    Ok((running, clients))
}

pub(super) async fn local_endpoint_only(ctx: Ctx) -> Result<(), TrialError> {
    let nodes = schedulable_nodes(&ctx).await?;
    let nodes: Vec<&NodeRef> = nodes.iter().take(2).collect();
    if nodes.len() < 2 {
        // Preflight asked for two (`Need::SchedulableNodes`); one went away since.
        return Err(TrialError::Harness(format!(
            "two schedulable nodes are needed, {} found",
            nodes.len()
        )));
    }
    let (cluster_ip, family) = create_my_service(&ctx).await?;
    let (backends, clients) = start_pods(&ctx, family, &nodes, &nodes).await?;
    let target = url(&cluster_ip, 80, "/hostname");
    let mut seen = Vec::new();
    let mut remote = false;
    for client in &clients {
        let Some(local) = backends.iter().find(|b| b.node == client.node) else {
            continue;
        };
        let server = format!("the node-local backend {}", local.describe());
        let mut answers = Vec::new();
        for _ in 0..REQUESTS {
            let body = fetch(&ctx, client, &target, &server).await?;
            let body = body.trim().to_string();
            remote |= body != local.name;
            answers.push(body);
        }
        seen.push(format!("{}: {}", client.describe(), answers.join(", ")));
    }
    let expected: Vec<String> = backends
        .iter()
        .map(|b| format!("clients on node {} get only {}", b.node, b.name))
        .collect();
    ensure(
        !remote && !seen.is_empty(),
        &format!(
            "{REQUESTS} requests to {target} (my-service, internalTrafficPolicy: Local) from a client on each node"
        ),
        expected.join("; "),
        seen.join("\n"),
    )
}

pub(super) async fn no_local_endpoint_dropped(ctx: Ctx) -> Result<(), TrialError> {
    let nodes = schedulable_nodes(&ctx).await?;
    let [with_endpoint, without_endpoint, ..] = nodes.as_slice() else {
        // Preflight asked for two (`Need::SchedulableNodes`); one went away since.
        return Err(TrialError::Harness(format!(
            "two schedulable nodes are needed, {} found",
            nodes.len()
        )));
    };
    let (cluster_ip, family) = create_my_service(&ctx).await?;
    let (backends, clients) = start_pods(
        &ctx,
        family,
        &[with_endpoint],
        &[with_endpoint, without_endpoint],
    )
    .await?;
    let target = url(&cluster_ip, 80, "/hostname");
    let (Some(backend), [local_client, remote_client]) = (backends.first(), clients.as_slice())
    else {
        return Err(TrialError::Harness(
            "starting the backend and clients".into(),
        ));
    };
    // The Service works where it has an endpoint ...
    fetch(
        &ctx,
        local_client,
        &target,
        &format!("the node-local backend {}", backend.describe()),
    )
    .await?;
    // ... and the node without one has programmed it: silence there must not be a kube-proxy that has not
    // caught up yet. A control Service with the same backends and the default (Cluster) policy, created
    // after my-service's endpoint was ready, answers there only once that node's kube-proxy has seen every
    // Service and EndpointSlice change before it (its informers deliver in resourceVersion order).
    let control = create_control_service(&ctx, family).await?;
    wait_ready_endpoint(&ctx, CONTROL, family, &backend.ip(family)?).await?;
    fetch(
        &ctx,
        remote_client,
        &url(&control, 80, "/hostname"),
        &format!(
            "the remote backend {} through {CONTROL} (internalTrafficPolicy: Cluster)",
            backend.describe()
        ),
    )
    .await?;
    // Then one request tells: no state of that node's kube-proxy forwards my-service to the other node.
    let probe = expect_no_answer(
        &ctx,
        remote_client,
        &target,
        &format!(
            "is my-service (internalTrafficPolicy: Local) whose only endpoint {} is on another node",
            backend.describe()
        ),
    )
    .await?;
    if probe.reply != Reply::Dropped {
        ctx.log(format!(
            "no answer, as {:?} (kube-proxy drops: \"has no local endpoints\")",
            probe.reply
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_pages_example_service() {
        let v = serde_json::to_value(my_service().unwrap()).unwrap();
        assert_eq!(v["spec"]["internalTrafficPolicy"], "Local");
        assert_eq!(v["spec"]["ports"][0]["targetPort"], 9376);
        assert_eq!(v["spec"]["selector"]["app"], "MyApp");
    }
}
