//! Endpoints and EndpointSlices follow the ready pods: a pod whose readinessProbe fails is listed with
//! `ready: false` in its EndpointSlice and under `notReadyAddresses` in the Endpoints, and gets no traffic
//! through the ClusterIP; once its probe passes it moves to the ready endpoints; a deleted pod leaves.
//!
//! The backends are agnhost netexec pods with an exec readinessProbe `cat /tmp/ready` (periodSeconds 1):
//! not ready until the suite runs `touch /tmp/ready` in them, as the probes task page does with
//! `/tmp/healthy`.
//! upstream: pkg/kubelet/prober/worker.go (readiness starts as Failure, exec probe exit 0 passes),
//! pkg/kubelet/status/generate.go (Ready/ContainersReady), staging/src/k8s.io/endpointslice/utils.go
//! (`podToEndpoint`: `ready` = pod Ready and not terminating), pkg/controller/endpoint/endpoints_controller.go
//! (`addEndpointSubset`: `addresses` or `notReadyAddresses`), pkg/proxy/topology.go (`CategorizeEndpoints`:
//! kube-proxy uses ready endpoints; a Service with none is REJECTed).

use std::collections::BTreeSet;

use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::DeleteParams;
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::IpFamily;
use netconform::preflight::Need;
use netconform::retry::retrying;
use netconform::trial::TrialDef;
use netconform::wait::{budgets, conditions};

use crate::pods::from_json;
use crate::shared::listing::{self, Listed, show};
use crate::shared::probe::{self, NETEXEC_CONTAINER, Running, primary_cluster_ip};

const SLICES_PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/endpoint-slices/";
const PROBES_PAGE: &str = "https://kubernetes.io/docs/tasks/configure-pod-container/configure-liveness-readiness-startup-probes/";
const CONNECT_PAGE: &str =
    "https://kubernetes.io/docs/tutorials/services/connect-applications-service/";

/// The port the netexec backends serve on (the Service's targetPort).
const TARGET_PORT: u16 = 8080;
/// The Service port.
const PORT: u16 = 80;

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "connectivity::readiness::unready_listed_not_ready",
        claim: "`ready` maps to a Pod's `Ready` condition: a running pod whose readiness probe fails is listed in the Service's EndpointSlice with `ready: false`, and in its Endpoints under `notReadyAddresses`",
        doc_url: SLICES_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(unready_listed_not_ready(ctx)),
    },
    TrialDef {
        name: "connectivity::readiness::unready_gets_no_traffic",
        claim: "a Pod with containers reporting that they are not ready does not receive traffic through Kubernetes Services",
        doc_url: PROBES_PAGE,
        // web and the control Service (the fence) at once.
        needs: &[Need::ServiceAddresses(2)],
        run: |ctx| Box::pin(unready_gets_no_traffic(ctx)),
    },
    TrialDef {
        name: "connectivity::readiness::ready_moves_to_addresses",
        claim: "a running Pod with the `Ready` condition set to `True` has its EndpointSlice condition `ready: true` (and is listed under `addresses` in the Endpoints): once its readiness probe passes the pod moves there and receives traffic through the Service",
        doc_url: SLICES_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(ready_moves_to_addresses(ctx)),
    },
    TrialDef {
        name: "connectivity::readiness::deleted_pod_leaves",
        claim: "when a Pod dies, it is automatically removed from the EndpointSlices that contain it as an endpoint (and from the Endpoints); the Service keeps sending traffic to the pods that remain",
        doc_url: CONNECT_PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(deleted_pod_leaves(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::EndpointsControllerDisabled,
        &[
            "connectivity::readiness::deleted_pod_leaves",
            "connectivity::readiness::ready_moves_to_addresses",
            "connectivity::readiness::unready_gets_no_traffic",
            "connectivity::readiness::unready_listed_not_ready",
        ],
    ),
    (
        Deviation::EndpointsUseServicePort,
        &[
            "connectivity::readiness::deleted_pod_leaves",
            "connectivity::readiness::ready_moves_to_addresses",
            "connectivity::readiness::unready_gets_no_traffic",
            "connectivity::readiness::unready_listed_not_ready",
        ],
    ),
    (
        Deviation::EndpointsIncludeUnready,
        &[
            "connectivity::readiness::unready_listed_not_ready",
            "connectivity::readiness::unready_gets_no_traffic",
        ],
    ),
    (
        Deviation::ProxyUsesUnreadyEndpoints,
        &["connectivity::readiness::unready_gets_no_traffic"],
    ),
    (
        Deviation::EndpointsStaleReadiness,
        &["connectivity::readiness::ready_moves_to_addresses"],
    ),
    (
        Deviation::EndpointsKeepDeletedPods,
        &["connectivity::readiness::deleted_pod_leaves"],
    ),
];

/// Service `web`: port 80 -> targetPort 8080, selecting `app=web`.
fn web_service() -> Result<Service, TrialError> {
    from_json(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": "web"},
        "spec": {"selector": {"app": "web"}, "ports": [{"port": PORT, "protocol": "TCP", "targetPort": TARGET_PORT}]}
    }))
}

/// The control Service of the fence in [`unready_gets_no_traffic`], and the label of its backend.
const CONTROL: &str = "control";

/// Service `control`: web's ports, selecting `app=control` (a ready backend, not web's pods), single-stack
/// in `family` (kube-proxy syncs each family apart: the fence must be of the probed family).
fn control_service(family: IpFamily) -> Result<Service, TrialError> {
    from_json(json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": CONTROL},
        "spec": {"selector": {"app": CONTROL}, "ipFamilies": [family.as_str()],
            "ports": [{"port": PORT, "protocol": "TCP", "targetPort": TARGET_PORT}]}
    }))
}

/// A netexec backend labelled `app=web`; with `gated`, an exec readinessProbe that passes only once
/// `/tmp/ready` exists (the probes page's `cat /tmp/healthy` pattern).
fn backend(name: &str, gated: bool) -> Result<Pod, TrialError> {
    let mut pod = probe::netexec_pod(name, None, &[("app", "web")], TARGET_PORT)?;
    if gated && let Some(container) = pod.spec.as_mut().and_then(|s| s.containers.first_mut()) {
        container.readiness_probe = Some(from_json(json!({
            "exec": {"command": ["cat", "/tmp/ready"]},
            "periodSeconds": 1
        }))?);
    }
    Ok(pod)
}

fn is_ready(pod: &Pod) -> bool {
    pod.status.as_ref().is_some_and(conditions::is_pod_ready)
}

/// Waits until the pod runs with every container started (it may or may not be ready).
async fn wait_started(ctx: &Ctx, name: &str) -> Result<Pod, TrialError> {
    ctx.wait::<Pod>(budgets::POD_START)
        .awaiting(format!(
            "pod {name} to be Running with its containers started"
        ))
        .showing(|p: &Pod| {
            format!(
                "pod {name}: phase {}, ready {}",
                p.status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .unwrap_or("-"),
                is_ready(p)
            )
        })
        .object(
            name,
            conditions::pod_running_with(|status| {
                status
                    .container_statuses
                    .as_ref()
                    .is_some_and(|cs| !cs.is_empty() && cs.iter().all(|c| c.started == Some(true)))
            }),
        )
        .await
}

/// The Service `web` and one gated backend `web` that has started but is not ready (its probe fails).
async fn unready_backend(ctx: &Ctx) -> Result<(String, IpFamily, Pod), TrialError> {
    let svc = ctx.create(&web_service()?).await?;
    let (ip, family) = primary_cluster_ip(&svc)?;
    ctx.create(&backend("web", true)?).await?;
    let pod = wait_started(ctx, "web").await?;
    Ok((ip, family, pod))
}

/// Where `ip` is listed: in the EndpointSlices (of its family) and in the Endpoints, once both list it.
async fn listed_at(
    ctx: &Ctx,
    family: IpFamily,
    ip: &str,
) -> Result<(Option<Listed>, Option<Listed>), TrialError> {
    let find = |l: &BTreeSet<Listed>| l.iter().find(|e| e.ip == ip).cloned();
    let awaited = format!("the pod address {ip}");
    let slices = listing::wait_slices(ctx, "web", family, &awaited, |l| find(l).is_some()).await?;
    let endpoints = listing::wait_endpoints(ctx, "web", &awaited, |l| find(l).is_some()).await?;
    Ok((find(&slices), find(&endpoints)))
}

/// The ClusterIP of Service `web`, its unready backend's address of that family (already published, as
/// not ready, in both listings: kube-proxy has seen it) and a client pod.
struct Unready {
    cluster_ip: String,
    family: IpFamily,
    backend_ip: String,
    client: Running,
}

async fn unready_backend_and_client(ctx: &Ctx) -> Result<Unready, TrialError> {
    let (cluster_ip, family, pod) = unready_backend(ctx).await?;
    let backend_ip = address_of(ctx, &pod, family)?;
    listed_at(ctx, family, &backend_ip).await?;
    let [client] = probe::started(ctx, None, &[probe::client_pod("client", None, &[])?]).await?;
    Ok(Unready {
        cluster_ip,
        family,
        backend_ip,
        client,
    })
}

/// The pod's address of `family`.
fn address_of(ctx: &Ctx, pod: &Pod, family: IpFamily) -> Result<String, TrialError> {
    Running::of(ctx.namespace(), pod).ip(family)
}

async fn unready_listed_not_ready(ctx: Ctx) -> Result<(), TrialError> {
    let (_, family, pod) = unready_backend(&ctx).await?;
    ensure(
        !is_ready(&pod),
        "the Ready condition of pod web (readinessProbe `cat /tmp/ready`, no such file)",
        "False",
        "True",
    )?;
    let ip = address_of(&ctx, &pod, family)?;
    let expected = Listed {
        ip: ip.clone(),
        ready: false,
        ports: vec![i32::from(TARGET_PORT)],
    };
    let (slice, endpoints) = listed_at(&ctx, family, &ip).await?;
    let shown = |l: Option<Listed>| l.map_or("not listed".to_string(), |l| l.to_string());
    ensure(
        slice.as_ref() == Some(&expected),
        "the endpoint of the unready pod web in the EndpointSlice of Service web (conditions.ready)",
        expected.to_string(),
        shown(slice),
    )?;
    ensure(
        endpoints.as_ref() == Some(&expected),
        "the unready pod web in the Endpoints of Service web (notReadyAddresses, not addresses)",
        format!("{expected} (under notReadyAddresses)"),
        shown(endpoints),
    )
}

async fn unready_gets_no_traffic(ctx: Ctx) -> Result<(), TrialError> {
    // The control backend starts alongside web; it has no readinessProbe, so it is ready once running.
    let control_pod = probe::netexec_pod(CONTROL, None, &[("app", CONTROL)], TARGET_PORT)?;
    ctx.create(&control_pod).await?;
    let Unready {
        cluster_ip,
        family,
        client,
        ..
    } = unready_backend_and_client(&ctx).await?;
    // The fence: the client's node must have programmed web with its unready endpoint, or silence could be
    // a kube-proxy that has not caught up yet (one that would then forward to the unready pod). A control
    // Service created now, after web's EndpointSlice lists that endpoint, answers the client only once its
    // node's kube-proxy has handled every Service and EndpointSlice change before it: its informers deliver
    // in resourceVersion order and each sync programs all pending changes (pkg/proxy/config/config.go,
    // pkg/proxy/endpointschangetracker.go). As in services/traffic_policy.rs `no_local_endpoint_dropped`.
    let control = Running::of(ctx.namespace(), &ctx.wait_pod_running(CONTROL).await?);
    let control_svc = ctx.create(&control_service(family)?).await?;
    let (control_ip, _) = primary_cluster_ip(&control_svc)?;
    probe::wait_ready_endpoint(&ctx, CONTROL, family, &control.ip(family)?).await?;
    probe::expect_hostname(
        &ctx,
        &client,
        &probe::url(&control_ip, PORT, "/hostname"),
        &format!("pod {CONTROL} through Service {CONTROL}, created after web"),
        CONTROL,
        &format!("who answered through the ClusterIP of Service {CONTROL} (the fence)"),
    )
    .await?;
    // Then one request tells: no state of a conforming kube-proxy sends web's traffic to its pod, which
    // never was ready (a Service without ready endpoints is REJECTed: pkg/proxy/topology.go
    // `CategorizeEndpoints`, pkg/proxy/iptables/proxier.go).
    let url = probe::url(&cluster_ip, PORT, "/hostname");
    probe::expect_no_answer(
        &ctx,
        &client,
        &url,
        "is the ClusterIP of Service web whose only pod is not ready",
    )
    .await
    .map(|_| ())
}

async fn ready_moves_to_addresses(ctx: Ctx) -> Result<(), TrialError> {
    let Unready {
        cluster_ip,
        family,
        backend_ip: ip,
        client,
    } = unready_backend_and_client(&ctx).await?;
    let touched = ctx
        .exec("web", NETEXEC_CONTAINER, &["touch", "/tmp/ready"])
        .await?;
    ensure(
        touched.exit_code == 0,
        "`touch /tmp/ready` in pod web",
        0,
        touched.exit_code,
    )?;
    // The kubelet's next probe passes: the pod becomes Ready.
    ctx.wait_pod_running("web").await?;
    let ready = Listed {
        ip: ip.clone(),
        ready: true,
        ports: vec![i32::from(TARGET_PORT)],
    };
    let awaited = format!("{ready}");
    let slices =
        listing::wait_slices(&ctx, "web", family, &awaited, |l| l.contains(&ready)).await?;
    let endpoints = listing::wait_endpoints(&ctx, "web", &awaited, |l| l.contains(&ready)).await?;
    ensure(
        !endpoints.iter().any(|l| l.ip == ip && !l.ready)
            && !slices.iter().any(|l| l.ip == ip && !l.ready),
        "the now ready pod web in the EndpointSlice and Endpoints of Service web",
        ready.to_string(),
        format!(
            "EndpointSlices: {}\nEndpoints: {}",
            show(&slices),
            show(&endpoints)
        ),
    )?;
    probe::expect_hostname(
        &ctx,
        &client,
        &probe::url(&cluster_ip, PORT, "/hostname"),
        "pod web",
        "web",
        "who answered through the ClusterIP of Service web once pod web is ready",
    )
    .await
}

async fn deleted_pod_leaves(ctx: Ctx) -> Result<(), TrialError> {
    let svc = ctx.create(&web_service()?).await?;
    let (cluster_ip, family) = primary_cluster_ip(&svc)?;
    let [a, b, client] = probe::started(
        &ctx,
        None,
        &[
            backend("web-a", false)?,
            backend("web-b", false)?,
            probe::client_pod("client", None, &[])?,
        ],
    )
    .await?;
    let (ip_a, ip_b) = (a.ip(family)?, b.ip(family)?);
    let both: BTreeSet<String> = [ip_a.clone(), ip_b.clone()].into();
    let awaited = format!("{ip_a} (web-a) and {ip_b} (web-b), ready");
    let all_ready =
        |l: &BTreeSet<Listed>| listing::lists_exactly(l, &both) && l.iter().all(|e| e.ready);
    listing::wait_slices(&ctx, "web", family, &awaited, all_ready).await?;
    listing::wait_endpoints(&ctx, "web", &awaited, all_ready).await?;
    let pods = ctx.api::<Pod>();
    retrying(|| async {
        match pods.delete("web-a", &DeleteParams::default()).await {
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            other => other.map(|_| ()),
        }
    })
    .await
    .map_err(TrialError::api("deleting pod web-a"))?;
    ctx.log("deleted pod web-a");
    let only_b: BTreeSet<String> = [ip_b.clone()].into();
    let awaited = format!("only {ip_b} (web-b) after deleting web-a ({ip_a})");
    listing::wait_slices(&ctx, "web", family, &awaited, |l| {
        listing::lists_exactly(l, &only_b)
    })
    .await?;
    listing::wait_endpoints(&ctx, "web", &awaited, |l| {
        listing::lists_exactly(l, &only_b)
    })
    .await?;
    probe::expect_hostname(
        &ctx,
        &client,
        &probe::url(&cluster_ip, PORT, "/hostname"),
        "pod web-b",
        "web-b",
        "who answered through the ClusterIP of Service web after web-a was deleted",
    )
    .await
}
