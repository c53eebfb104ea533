//! "Connecting Applications with Services" (https://kubernetes.io/docs/tutorials/services/connect-applications-service/):
//! the docs' `run-my-nginx` Deployment, `kubectl expose deployment/my-nginx`, and the seed's
//! `kubectl create deployment nginx41 --image nginx --port 80 --replicas=1` +
//! `kubectl expose deployment nginx41 --type=ClusterIP --name=servicenginx41 --port=8328 --target-port=80`
//! (seed 004:160-167): the Service's endpoints are the Deployment's pods on the targetPort, and a client
//! reaches them through `ClusterIP:port`.
//!
//! The suite builds the objects those commands build (kubectl is not needed at run time):
//! upstream: staging/src/k8s.io/kubectl/pkg/cmd/create/create_deployment.go (`createDeployment`,
//! `buildPodSpec`), staging/src/k8s.io/kubectl/pkg/cmd/expose/expose.go (`RunExpose`, `createService`),
//! staging/src/k8s.io/kubectl/pkg/polymorphichelpers (`MapBasedSelectorForObject`, `PortsForObject`,
//! `MultiProtocolsForObject`), staging/src/k8s.io/kubectl/pkg/polymorphichelpers/rollout_status.go
//! (`DeploymentStatusViewer`: what `kubectl rollout status` waits for).
//!
//! The nginx41 traffic (`cluster_ip_port_reaches_pods`, `replaced_pod_keeps_service`) is one scenario: the
//! Deployment's two pods and a client answer the first; then one pod is deleted, the ReplicaSet controller
//! replaces it with a new pod at a new address (pkg/controller/replicaset/replica_set.go `manageReplicas`:
//! fewer active pods than `spec.replicas` -> create), the EndpointSlice controller swaps the addresses, and
//! the same ClusterIP answers from the new pod (the tutorial: "the Deployment will create new ones, with
//! different IPs. This is the problem a Service solves").

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use k8s_openapi::api::apps::v1::Deployment;
use k8s_openapi::api::core::v1::{Pod, Service};
use kube::api::{DeleteParams, ListParams};
use serde_json::json;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::{TrialError, ensure};
use netconform::ipfamily::{IpFamily, family_of_ip};
use netconform::preflight::Need;
use netconform::retry::retrying;
use netconform::scenario::{Computed, Scenario, Scene};
use netconform::trial::TrialDef;
use netconform::wait::{Verdict, budgets, conditions};

use crate::doc::DocFile;
use crate::doc_file;
use crate::pods::{from_json, pod_ip};
use crate::shared::listing::{self, Listed, show};
use crate::shared::probe::{self, AGNHOST, Running, primary_cluster_ip};

const PAGE: &str = "https://kubernetes.io/docs/tutorials/services/connect-applications-service/";
const RUN_MY_NGINX: DocFile = doc_file!("service/networking/run-my-nginx.yaml");
const NGINX_SVC: DocFile = doc_file!("service/networking/nginx-svc.yaml");

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "connectivity::expose::deployment_replicas_ready",
        claim: "the run-my-nginx Deployment runs its 2 nginx replicas: two pods labelled run=my-nginx, Running, each with its own pod IP, and the Deployment reports them updated, ready and available (`kubectl rollout status`)",
        doc_url: PAGE,
        needs: &[],
        run: |ctx| Box::pin(deployment_replicas_ready(ctx)),
    },
    TrialDef {
        name: "connectivity::expose::endpoints_list_the_pods",
        claim: "after `kubectl expose deployment/my-nginx` the Service's EndpointSlices and its Endpoints list the IPs of the Deployment's pods on port 80 (\"note that the IPs are the same as the Pods created in the first step\")",
        doc_url: PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(endpoints_list_the_pods(ctx)),
    },
    TrialDef {
        name: "connectivity::expose::endpoints_carry_target_port",
        claim: "`kubectl expose deployment nginx41 --port=8328 --target-port=80`: `targetPort` is the port the container accepts traffic on, `port` the abstracted Service port: the EndpointSlices and Endpoints list the pod on port 80, not 8328",
        doc_url: PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(endpoints_carry_target_port(ctx)),
    },
    TrialDef {
        name: "connectivity::expose::cluster_ip_port_reaches_pods",
        claim: "a client reaches the exposed Deployment's pods on `<CLUSTER-IP>:<PORT>` (the Service port 8328 forwarded to targetPort 80)",
        doc_url: PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(cluster_ip_port_reaches_pods(ctx)),
    },
    TrialDef {
        name: "connectivity::expose::replaced_pod_keeps_service",
        claim: "when a Deployment's pod dies, the Deployment creates a new one with a different IP and the Service keeps working: after one nginx41 pod is deleted a new pod at a new address replaces it, the EndpointSlices swap the addresses, and `<CLUSTER-IP>:<PORT>` answers from the new pod (seed row [P62])",
        doc_url: PAGE,
        needs: &[Need::ServiceAddresses(1)],
        run: |ctx| Box::pin(replaced_pod_keeps_service(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::ReplicasetSinglePod,
        &[
            "connectivity::expose::deployment_replicas_ready",
            "connectivity::expose::cluster_ip_port_reaches_pods",
            "connectivity::expose::endpoints_list_the_pods",
            "connectivity::expose::replaced_pod_keeps_service",
        ],
    ),
    (
        Deviation::EndpointsKeepDeletedPods,
        &["connectivity::expose::replaced_pod_keeps_service"],
    ),
    (
        Deviation::EndpointsControllerDisabled,
        &[
            "connectivity::expose::endpoints_list_the_pods",
            "connectivity::expose::endpoints_carry_target_port",
        ],
    ),
    (
        Deviation::EndpointsUseServicePort,
        &[
            "connectivity::expose::endpoints_carry_target_port",
            "connectivity::expose::cluster_ip_port_reaches_pods",
            "connectivity::expose::replaced_pod_keeps_service",
        ],
    ),
];

/// `kubectl create deployment NAME --image=IMAGE [--port=PORT] --replicas=N [-- COMMAND ARGS...]`: labels
/// `app=NAME` on the Deployment, its selector and its pod template; one container named after the image.
pub(crate) fn kubectl_create_deployment(
    name: &str,
    image: &str,
    port: Option<i32>,
    replicas: i32,
    command: &[&str],
) -> Result<Deployment, TrialError> {
    // `buildPodSpec`: the last path segment, without tag or digest (our images need no sanitizing).
    let base = image.rsplit('/').next().unwrap_or(image);
    let container_name = base.split([':', '@']).next().unwrap_or(base);
    let mut container = json!({"name": container_name, "image": image, "resources": {}});
    if !command.is_empty() {
        container["command"] = json!(command);
    }
    if let Some(port) = port {
        container["ports"] = json!([{"containerPort": port}]);
    }
    from_json(json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "labels": {"app": name}},
        "spec": {
            "replicas": replicas,
            "selector": {"matchLabels": {"app": name}},
            "strategy": {},
            "template": {"metadata": {"labels": {"app": name}}, "spec": {"containers": [container]}}
        }
    }))
}

/// The flags of `kubectl expose deployment NAME` the suites use.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct ExposeFlags<'a> {
    pub name: Option<&'a str>,
    pub port: Option<i32>,
    pub target_port: Option<&'a str>,
    pub type_: Option<&'a str>,
}

/// The Service `kubectl expose deployment` creates: selector = the Deployment's `matchLabels`, ports from
/// `--port` or the pod template's container ports (one port: no name; several: `port-1`, `port-2`...),
/// protocols from the container ports, labels = the Deployment's, `targetPort` = `--target-port` or the port.
pub(crate) fn kubectl_expose(
    deploy: &Deployment,
    flags: ExposeFlags<'_>,
) -> Result<Service, TrialError> {
    let refuse = |why: &str| TrialError::Harness(format!("kubectl expose: {why}"));
    let spec = deploy
        .spec
        .as_ref()
        .ok_or_else(|| refuse("the Deployment has no spec"))?;
    if spec
        .selector
        .match_expressions
        .as_ref()
        .is_some_and(|e| !e.is_empty())
    {
        return Err(refuse(
            "couldn't retrieve selectors via --selector flag or introspection: the selector has matchExpressions",
        ));
    }
    let selector = spec.selector.match_labels.clone().unwrap_or_default();
    // `MultiProtocolsForObject` / `PortsForObject`: every container port of the template.
    let container_ports: Vec<(i32, String)> = spec
        .template
        .spec
        .iter()
        .flat_map(|s| s.containers.iter())
        .flat_map(|c| c.ports.iter().flatten())
        .map(|p| {
            (
                p.container_port,
                p.protocol.clone().unwrap_or_else(|| "TCP".into()),
            )
        })
        .collect();
    let protocols: BTreeMap<i32, String> = container_ports.iter().cloned().collect();
    let ports: Vec<i32> = match flags.port {
        Some(port) => vec![port],
        None => container_ports.iter().map(|(p, _)| *p).collect(),
    };
    if ports.is_empty() {
        return Err(refuse(
            "couldn't find port via --port flag or introspection",
        ));
    }
    let service_ports: Vec<serde_json::Value> = ports
        .iter()
        .enumerate()
        .map(|(i, port)| {
            let protocol = protocols.get(port).cloned().unwrap_or_else(|| "TCP".into());
            let target = match flags.target_port {
                Some(t) => t
                    .parse::<i32>()
                    .map(|n| json!(n))
                    .unwrap_or_else(|_| json!(t)),
                None => json!(port),
            };
            let mut sp = json!({"port": port, "protocol": protocol, "targetPort": target});
            if ports.len() > 1 {
                sp["name"] = json!(format!("port-{}", i + 1));
            }
            sp
        })
        .collect();
    let name = flags
        .name
        .map(str::to_string)
        .or_else(|| deploy.metadata.name.clone())
        .map(|n| n.chars().take(63).collect::<String>())
        .ok_or_else(|| refuse("name must be specified"))?;
    let mut service = json!({
        "apiVersion": "v1", "kind": "Service",
        "metadata": {"name": name},
        "spec": {"selector": selector, "ports": service_ports}
    });
    if let Some(labels) = deploy.metadata.labels.as_ref().filter(|l| !l.is_empty()) {
        service["metadata"]["labels"] = json!(labels);
    }
    if let Some(type_) = flags.type_ {
        service["spec"]["type"] = json!(type_);
    }
    from_json(service)
}

fn describe_deployment(d: &Deployment) -> String {
    let status = d.status.clone().unwrap_or_default();
    format!(
        "Deployment {}: generation {} observed {}, replicas {} updated {} ready {} available {}",
        d.metadata.name.as_deref().unwrap_or("?"),
        d.metadata.generation.unwrap_or(0),
        status.observed_generation.unwrap_or(0),
        status.replicas.unwrap_or(0),
        status.updated_replicas.unwrap_or(0),
        status.ready_replicas.unwrap_or(0),
        status.available_replicas.unwrap_or(0)
    )
}

/// `kubectl rollout status deployment/NAME`: the controller saw the latest generation and every replica is
/// updated and available (upstream `DeploymentStatusViewer.Status`).
pub(crate) async fn wait_rolled_out(ctx: &Ctx, name: &str) -> Result<Deployment, TrialError> {
    ctx.wait::<Deployment>(budgets::POD_START)
        .awaiting(format!(
            "deployment {name} to be rolled out (`kubectl rollout status`)"
        ))
        .showing(describe_deployment)
        .object(name, |d: Option<&Deployment>| {
            let Some(d) = d else {
                return Verdict::Pending;
            };
            let (Some(spec), Some(status)) = (d.spec.as_ref(), d.status.as_ref()) else {
                return Verdict::Pending;
            };
            let progress_failed = status.conditions.iter().flatten().any(|c| {
                c.type_ == "Progressing" && c.reason.as_deref() == Some("ProgressDeadlineExceeded")
            });
            if progress_failed {
                return Verdict::Hopeless(format!(
                    "deployment {name} exceeded its progress deadline"
                ));
            }
            let want = spec.replicas.unwrap_or(1);
            let updated = status.updated_replicas.unwrap_or(0);
            let done = d.metadata.generation.unwrap_or(0)
                <= status.observed_generation.unwrap_or(0)
                && updated >= want
                && status.replicas.unwrap_or(0) <= updated
                && status.available_replicas.unwrap_or(0) >= updated;
            if done {
                Verdict::Done
            } else {
                Verdict::Pending
            }
        })
        .await
}

/// The pods of the trial's namespace with the label `key=value` (`kubectl get pods -l key=value`).
pub(crate) async fn pods_labelled(
    ctx: &Ctx,
    key: &str,
    value: &str,
) -> Result<Vec<Pod>, TrialError> {
    let api = ctx.api::<Pod>();
    let params = ListParams::default().labels(&format!("{key}={value}"));
    let list = retrying(|| api.list(&params))
        .await
        .map_err(TrialError::api(format!("listing pods -l {key}={value}")))?;
    Ok(list.items)
}

/// Creates the Service and returns its ClusterIP and that address's family.
async fn create_service(ctx: &Ctx, svc: &Service) -> Result<(String, IpFamily), TrialError> {
    primary_cluster_ip(&ctx.create(svc).await?)
}

/// The pod IPs of `family` of the running pods labelled `key=value`, with the pods' names.
async fn pod_ips_of(
    ctx: &Ctx,
    key: &str,
    value: &str,
    family: IpFamily,
) -> Result<BTreeMap<String, String>, TrialError> {
    Ok(pods_labelled(ctx, key, value)
        .await?
        .iter()
        .filter(|p| p.metadata.deletion_timestamp.is_none())
        .filter_map(|p| {
            let ip = p
                .status
                .as_ref()
                .and_then(|s| s.pod_ips.as_ref())
                .and_then(|ips| {
                    ips.iter()
                        .map(|i| i.ip.clone())
                        .find(|ip| family_of_ip(ip).ok() == Some(family))
                })?;
            Some((ip, p.metadata.name.clone().unwrap_or_default()))
        })
        .collect())
}

/// What the controllers publish for the exposed pods at `ips`: each ready, on port 80 (the targetPort).
fn ready_on_port_80(ips: &BTreeSet<String>) -> BTreeSet<Listed> {
    ips.iter()
        .map(|ip| Listed {
            ip: ip.clone(),
            ready: true,
            ports: vec![80],
        })
        .collect()
}

/// What [`expect_both_list`] waits for and how its checks are worded.
struct Listings<'a> {
    service: &'a str,
    family: IpFamily,
    /// The pod addresses both listings must hold, exactly.
    ips: &'a BTreeSet<String>,
    awaited: &'a str,
    slices_what: &'a str,
    slices_expected: String,
    endpoints_what: &'a str,
}

/// Waits until the Service's EndpointSlices (of the family), then its Endpoints, list exactly the pod
/// addresses, and checks that each lists them ready on port 80 ([`ready_on_port_80`]).
async fn expect_both_list(ctx: &Ctx, listings: Listings<'_>) -> Result<(), TrialError> {
    let expected = ready_on_port_80(listings.ips);
    let exactly = |l: &BTreeSet<Listed>| listing::lists_exactly(l, listings.ips);
    let slices = listing::wait_slices(
        ctx,
        listings.service,
        listings.family,
        listings.awaited,
        exactly,
    )
    .await?;
    ensure(
        slices == expected,
        listings.slices_what,
        listings.slices_expected,
        show(&slices),
    )?;
    let endpoints =
        listing::wait_endpoints(ctx, listings.service, listings.awaited, exactly).await?;
    ensure(
        endpoints == expected,
        listings.endpoints_what,
        show(&expected),
        show(&endpoints),
    )
}

async fn deployment_replicas_ready(ctx: Ctx) -> Result<(), TrialError> {
    let deploy: Deployment = RUN_MY_NGINX.object()?;
    ctx.create(&deploy).await?;
    let rolled = wait_rolled_out(&ctx, "my-nginx").await?;
    let pods = pods_labelled(&ctx, "run", "my-nginx").await?;
    let running: Vec<&Pod> = pods
        .iter()
        .filter(|p| p.status.as_ref().and_then(|s| s.phase.as_deref()) == Some("Running"))
        .collect();
    let ips: BTreeSet<String> = running.iter().filter_map(|p| pod_ip(p)).collect();
    let listing: Vec<String> = pods
        .iter()
        .map(|p| {
            format!(
                "{} {} {}",
                p.metadata.name.as_deref().unwrap_or("?"),
                p.status
                    .as_ref()
                    .and_then(|s| s.phase.as_deref())
                    .unwrap_or("-"),
                pod_ip(p).unwrap_or_default()
            )
        })
        .collect();
    ensure(
        pods.len() == 2 && running.len() == 2 && ips.len() == 2,
        "`kubectl get pods -l run=my-nginx -o wide` after the rollout",
        format!(
            "2 Running pods with 2 different pod IPs\n\n{}",
            RUN_MY_NGINX.excerpt()
        ),
        format!("{}\n{}", listing.join("\n"), describe_deployment(&rolled)),
    )
}

async fn endpoints_list_the_pods(ctx: Ctx) -> Result<(), TrialError> {
    let deploy: Deployment = RUN_MY_NGINX.object()?;
    let created = ctx.create(&deploy).await?;
    wait_rolled_out(&ctx, "my-nginx").await?;
    // `kubectl expose deployment/my-nginx`
    let svc = kubectl_expose(&created, ExposeFlags::default())?;
    let (_, family) = create_service(&ctx, &svc).await?;
    let pods = pod_ips_of(&ctx, "run", "my-nginx", family).await?;
    let ips: BTreeSet<String> = pods.keys().cloned().collect();
    let expected = ready_on_port_80(&ips);
    // upstream: pkg/controller/endpointslice (podToEndpoint), pkg/controller/endpoint (syncService).
    expect_both_list(
        &ctx,
        Listings {
            service: "my-nginx",
            family,
            ips: &ips,
            awaited: &format!("the my-nginx pods ({})", show(&expected)),
            slices_what: "`kubectl get endpointslices -l kubernetes.io/service-name=my-nginx` (endpoints, readiness, port)",
            slices_expected: format!(
                "{}\n\n(the Service `kubectl expose` creates is equivalent to)\n{}",
                show(&expected),
                NGINX_SVC.excerpt()
            ),
            endpoints_what: "the Endpoints of `kubectl describe svc my-nginx` (addresses and port)",
        },
    )
    .await
}

/// The seed's nginx41 Deployment and `servicenginx41` (port 8328, targetPort 80); `image`/`command` let a
/// trial run a server the client can ask who answered (agnhost netexec on the same port 80).
async fn nginx41(
    ctx: &Ctx,
    image: &str,
    replicas: i32,
    command: &[&str],
) -> Result<(String, IpFamily, BTreeMap<String, String>), TrialError> {
    let deploy = kubectl_create_deployment("nginx41", image, Some(80), replicas, command)?;
    let created = ctx.create(&deploy).await?;
    wait_rolled_out(ctx, "nginx41").await?;
    let flags = ExposeFlags {
        name: Some("servicenginx41"),
        port: Some(8328),
        target_port: Some("80"),
        type_: Some("ClusterIP"),
    };
    let svc = kubectl_expose(&created, flags)?;
    let (ip, family) = create_service(ctx, &svc).await?;
    let pods = pod_ips_of(ctx, "app", "nginx41", family).await?;
    Ok((ip, family, pods))
}

async fn endpoints_carry_target_port(ctx: Ctx) -> Result<(), TrialError> {
    let (_, family, pods) = nginx41(&ctx, "nginx", 1, &[]).await?;
    let ips: BTreeSet<String> = pods.keys().cloned().collect();
    // upstream: podutil.FindPort(pod, servicePort) resolves targetPort (pkg/api/v1/pod/util.go); both
    // controllers publish that number (endpointslice getEndpointPorts, endpoints endpointPortFromServicePort).
    expect_both_list(
        &ctx,
        Listings {
            service: "servicenginx41",
            family,
            ips: &ips,
            awaited: &format!(
                "the nginx41 pod ({})",
                ips.iter().cloned().collect::<Vec<_>>().join(", ")
            ),
            slices_what: "the EndpointSlice of servicenginx41 (port 8328, targetPort 80)",
            slices_expected: show(&ready_on_port_80(&ips)),
            endpoints_what: "`kubectl get endpoints servicenginx41` (port 8328, targetPort 80)",
        },
    )
    .await
}

/// What the nginx41 scenario saw: who answered at first (and who could have), then the replacement.
struct Nginx41Traffic {
    url: String,
    /// The pods' names before the deletion.
    names: BTreeSet<String>,
    first_answer: Result<String, TrialError>,
    replaced: Result<Replaced, TrialError>,
}

/// The deleted pod, its replacement, the pods after it and who answered at the ClusterIP afterwards.
struct Replaced {
    deleted: (String, String),
    new: (String, String),
    current: Vec<String>,
    answered: String,
}

const PART_NGINX41_FIRST: usize = 0;
const PART_NGINX41_REPLACED: usize = 1;

static NGINX41_TRAFFIC: Scenario<Result<Nginx41Traffic, TrialError>> = Scenario {
    name: "connectivity::expose::nginx41_traffic",
    compute: |scene| Box::pin(run_nginx41_traffic(scene)),
};

async fn run_nginx41_traffic(scene: &mut Scene) -> Result<Nginx41Traffic, TrialError> {
    let ctx = scene.ctx().clone();
    // The seed's commands with agnhost netexec serving on 80 in place of nginx (kubectl create deployment
    // ... -- /agnhost netexec --http-port=80), so the answer names the pod that served it.
    let command = ["/agnhost", "netexec", "--http-port=80"];
    let (cluster_ip, family, pods) = nginx41(&ctx, AGNHOST, 2, &command).await?;
    let [client] = probe::started(&ctx, None, &[probe::client_pod("client", None, &[])?]).await?;
    let url = probe::url(&cluster_ip, 8328, "/hostname");
    let names: BTreeSet<String> = pods.values().cloned().collect();
    let first_answer = probe::fetch(
        &ctx,
        &client,
        &url,
        "the nginx41 pods (netexec on targetPort 80)",
    )
    .await;
    scene.end_part();
    let replaced = match &first_answer {
        Ok(_) => replace_one(&ctx, &client, &url, family, &pods).await,
        Err(e) => Err(e.clone()),
    };
    Ok(Nginx41Traffic {
        url,
        names,
        first_answer,
        replaced,
    })
}

/// Deletes one nginx41 pod, waits for its replacement at a new address (running, in the EndpointSlices in
/// place of the deleted one), and asks the ClusterIP until the new pod answers.
async fn replace_one(
    ctx: &Ctx,
    client: &Running,
    url: &str,
    family: IpFamily,
    before: &BTreeMap<String, String>,
) -> Result<Replaced, TrialError> {
    let Some((old_ip, old_name)) = before.iter().next().map(|(i, n)| (i.clone(), n.clone())) else {
        return Err(TrialError::Harness("nginx41 has no pod".into()));
    };
    let api = ctx.api::<Pod>();
    retrying(|| async {
        match api.delete(&old_name, &DeleteParams::default()).await {
            Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
            other => other.map(|_| ()),
        }
    })
    .await
    .map_err(TrialError::api(format!("deleting pod {old_name}")))?;
    ctx.log(format!("deleted pod {old_name} ({old_ip})"));
    // The replacement: a pod the deletion did not leave, Running and Ready (watched: the Deployment's
    // status can still read "2 available" before the controllers have seen the deletion).
    let old: BTreeSet<String> = before.values().cloned().collect();
    let fresh_ready = |pods: &[Pod]| {
        let live = pods
            .iter()
            .filter(|p| p.metadata.deletion_timestamp.is_none());
        let ready_new = live.clone().any(|p| {
            !old.contains(p.metadata.name.as_deref().unwrap_or_default())
                && p.status.as_ref().is_some_and(conditions::is_pod_ready)
        });
        if ready_new && live.count() == old.len() {
            Verdict::Done
        } else {
            Verdict::Pending
        }
    };
    ctx.wait::<Pod>(budgets::POD_START)
        .awaiting(format!(
            "a new nginx41 pod, Running and Ready, in place of {old_name}"
        ))
        .until_all(
            kube::runtime::watcher::Config::default().labels("app=nginx41"),
            fresh_ready,
        )
        .await?;
    let after = pod_ips_of(ctx, "app", "nginx41", family).await?;
    let fresh: Vec<(String, String)> = after
        .iter()
        .filter(|(_, n)| !before.values().any(|b| b == *n))
        .map(|(i, n)| (i.clone(), n.clone()))
        .collect();
    let [(new_ip, new_name)] = fresh.as_slice() else {
        return Err(TrialError::Mismatch {
            what: format!("the nginx41 pods after deleting {old_name}"),
            expected: "one new pod beside the one left".into(),
            observed: after
                .iter()
                .map(|(i, n)| format!("{n} {i}"))
                .collect::<Vec<_>>()
                .join(", "),
        });
    };
    ctx.log(format!("replacement: pod {new_name} ({new_ip})"));
    let ips: BTreeSet<String> = after.keys().cloned().collect();
    listing::wait_slices(
        ctx,
        "servicenginx41",
        family,
        &format!("the nginx41 pods after the replacement ({new_ip} in place of {old_ip})"),
        |l| listing::lists_exactly(l, &ips) && l.iter().all(|e| e.ready),
    )
    .await?;
    // The Service keeps working: it answers from the pods it has now (which one is kube-proxy's pick).
    let current: Vec<String> = after.values().cloned().collect();
    let answered = probe::fetch_from_any(ctx, client, url, &current).await?;
    Ok(Replaced {
        deleted: (old_name, old_ip),
        new: (new_name.clone(), new_ip.clone()),
        current,
        answered: answered.trim().to_string(),
    })
}

async fn nginx41_traffic(
    ctx: &Ctx,
    part: usize,
) -> Result<Arc<Computed<Result<Nginx41Traffic, TrialError>>>, TrialError> {
    NGINX41_TRAFFIC.read(ctx, PART_NGINX41_FIRST..=part).await
}

async fn cluster_ip_port_reaches_pods(ctx: Ctx) -> Result<(), TrialError> {
    let shared = nginx41_traffic(&ctx, PART_NGINX41_FIRST).await?;
    let seen = shared.outcome()?;
    let answer = seen.first_answer.clone()?;
    ensure(
        seen.names.contains(answer.trim()),
        &format!(
            "who answered {} (servicenginx41 port 8328 -> targetPort 80)",
            seen.url
        ),
        format!(
            "one of the nginx41 pods: {}",
            seen.names.iter().cloned().collect::<Vec<_>>().join(", ")
        ),
        answer.trim(),
    )
}

async fn replaced_pod_keeps_service(ctx: Ctx) -> Result<(), TrialError> {
    let shared = nginx41_traffic(&ctx, PART_NGINX41_REPLACED).await?;
    let seen = shared.outcome()?;
    let replaced = match &seen.replaced {
        Ok(r) => r,
        Err(e) => return Err(e.clone()),
    };
    ensure(
        replaced.new.1 != replaced.deleted.1 && replaced.current.contains(&replaced.answered),
        &format!(
            "the replacement of the deleted pod {} ({}) and who answered {} afterwards",
            replaced.deleted.0, replaced.deleted.1, seen.url
        ),
        format!(
            "a new pod at another address ({} {}), listed ready in the EndpointSlices, and the same ClusterIP answering from one of the current pods: {}",
            replaced.new.0,
            replaced.new.1,
            replaced.current.join(", ")
        ),
        format!(
            "new pod {} ({}); answered by {}",
            replaced.new.0, replaced.new.1, replaced.answered
        ),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expose_builds_the_docs_service() {
        let deploy: Deployment = RUN_MY_NGINX.object().unwrap();
        let built = kubectl_expose(&deploy, ExposeFlags::default()).unwrap();
        let doc: Service = NGINX_SVC.object().unwrap();
        let (built_spec, doc_spec) = (built.spec.unwrap(), doc.spec.unwrap());
        assert_eq!(built.metadata.name, doc.metadata.name);
        assert_eq!(built_spec.selector, doc_spec.selector);
        let port = &built_spec.ports.as_ref().unwrap()[0];
        let doc_port = &doc_spec.ports.as_ref().unwrap()[0];
        assert_eq!(
            (port.port, &port.protocol),
            (doc_port.port, &doc_port.protocol)
        );
        assert_eq!(port.name, None, "a single port gets no name");
        // The doc's Service leaves targetPort to the apiserver's default (= port); expose sets it.
        assert_eq!(
            port.target_port,
            Some(k8s_openapi::apimachinery::pkg::util::intstr::IntOrString::Int(80))
        );
    }

    #[test]
    fn seed_commands() {
        let deploy = kubectl_create_deployment("nginx41", "nginx", Some(80), 1, &[]).unwrap();
        let v = serde_json::to_value(&deploy).unwrap();
        assert_eq!(v["spec"]["selector"]["matchLabels"]["app"], "nginx41");
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["name"],
            "nginx"
        );
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["ports"][0]["containerPort"],
            80
        );
        let svc = kubectl_expose(
            &deploy,
            ExposeFlags {
                name: Some("servicenginx41"),
                port: Some(8328),
                target_port: Some("80"),
                type_: Some("ClusterIP"),
            },
        )
        .unwrap();
        let v = serde_json::to_value(&svc).unwrap();
        assert_eq!(v["metadata"]["name"], "servicenginx41");
        assert_eq!(v["metadata"]["labels"]["app"], "nginx41");
        assert_eq!(
            v["spec"]["ports"],
            json!([{"port": 8328, "protocol": "TCP", "targetPort": 80}])
        );
        assert_eq!(v["spec"]["type"], "ClusterIP");
        let agnhost =
            kubectl_create_deployment("x", AGNHOST, Some(80), 2, &["/agnhost", "netexec"]).unwrap();
        let v = serde_json::to_value(&agnhost).unwrap();
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["name"],
            "agnhost"
        );
        assert_eq!(
            v["spec"]["template"]["spec"]["containers"][0]["command"][1],
            "netexec"
        );
    }
}
