//! The API calls of the ServiceCIDR trials. ServiceCIDRs and IPAddresses are cluster-scoped, so they go
//! through these helpers: retried like ctx's, labelled and owned so cleanup and `netconform sweep` find them.

use std::collections::{BTreeMap, BTreeSet};
use std::net::IpAddr;
use std::time::Duration;

use backon::{ExponentialBuilder, Retryable};
use ipnet::{IpNet, Ipv4Net};
use k8s_openapi::api::core::v1::Service;
use k8s_openapi::api::networking::v1::{IPAddress, ServiceCIDR};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;
use kube::ResourceExt;
use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::labels::{MANAGED_BY_KEY, MANAGED_BY_VALUE, RUN_ID_KEY, SUITE_KEY};
use netconform::manifest::group_serving;
use netconform::retry::{create_retrying, retrying};
use netconform::wait::{Budget, Verdict, Wait, budgets, conditions};

use super::NEWCIDR1;
use crate::pods::from_json;

/// `ServiceCIDRProtectionFinalizer` (pkg/controller/servicecidrs/servicecidrs_controller.go).
pub const FINALIZER: &str = "networking.k8s.io/service-cidr-finalizer";
/// The default ServiceCIDR the apiserver creates from `--service-cluster-ip-range`
/// (pkg/controlplane/controller/defaultservicecidr `DefaultServiceCIDRName`).
pub const DEFAULT_NAME: &str = "kubernetes";
/// The value of the suite label on what these trials create.
pub const SUITE_LABEL: &str = "service-cidr";
const GROUP: &str = "networking.k8s.io";

/// The labels of every ServiceCIDR the trials create, so cleanup and `netconform sweep` find it.
pub fn owned_labels(run_id: &str) -> BTreeMap<String, String> {
    [
        (MANAGED_BY_KEY.to_string(), MANAGED_BY_VALUE.to_string()),
        (RUN_ID_KEY.to_string(), run_id.to_string()),
        (SUITE_KEY.to_string(), SUITE_LABEL.to_string()),
    ]
    .into()
}

/// The docs' `newcidr1` (manifests/inline/extend-service-ip-ranges/newcidr1.yaml) renamed to `name`,
/// labelled as run `run_id`'s and serving `cidr`; its apiVersion is the docs' (see [`apply_newcidr1`]).
pub fn newcidr1_object(name: &str, run_id: &str, cidr: &str) -> Result<DynamicObject, TrialError> {
    let mut object = NEWCIDR1.object::<DynamicObject>()?;
    object.metadata.name = Some(name.to_string());
    object.metadata.labels = Some(owned_labels(run_id));
    object.data["spec"]["cidrs"] = json!([cidr]);
    Ok(object)
}

/// The ServiceCIDR resource at `version` of networking.k8s.io.
pub fn service_cidr_resource(version: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(
        &GroupVersionKind::gvk(GROUP, version, "ServiceCIDR"),
        "servicecidrs",
    )
}

/// Creates the docs' `newcidr1` for this trial (named by [`super::newcidr1_name`], serving `cidr`).
/// The docs show `networking.k8s.io/v1alpha1`, which clusters stopped serving (ServiceCIDR is v1 from
/// Kubernetes v1.33): the object is applied as the version the cluster serves, and that is a doc finding.
pub async fn apply_newcidr1(ctx: &Ctx, cidr: Ipv4Net) -> Result<String, TrialError> {
    apply_newcidr1_named(ctx, super::newcidr1_name(ctx), cidr).await
}

/// [`apply_newcidr1`] under another name (a second ServiceCIDR over the same range, say).
pub async fn apply_newcidr1_named(
    ctx: &Ctx,
    name: String,
    cidr: Ipv4Net,
) -> Result<String, TrialError> {
    let mut object = newcidr1_object(&name, &ctx.run().run_id, &cidr.to_string())?;
    let doc_api_version = object
        .types
        .as_ref()
        .map(|t| t.api_version.clone())
        .unwrap_or_default();
    let client = ctx.client();
    let serving = retrying(|| group_serving(&client, &doc_api_version))
        .await
        .map_err(TrialError::api(format!("discovering {doc_api_version}")))?;
    let version = if serving.served {
        serving.requested_version.clone()
    } else {
        let version = if serving.served_versions.iter().any(|v| v == "v1") {
            "v1".to_string()
        } else {
            serving
                .preferred_version
                .clone()
                .unwrap_or_else(|| "v1".to_string())
        };
        ctx.finding(
            format!(
                "`apiVersion: {doc_api_version}` for the ServiceCIDR newcidr1 ({})",
                NEWCIDR1.path
            ),
            format!("{}; applied as {GROUP}/{version}", serving.describe()),
        );
        version
    };
    let resource = service_cidr_resource(&version);
    if let Some(types) = object.types.as_mut() {
        types.api_version = resource.api_version.clone();
    }
    if cidr.to_string() != super::ranges::DOC_NEWCIDR1_RANGE {
        ctx.log(format!(
            "newcidr1 serves {cidr} here instead of the docs' {}",
            super::ranges::DOC_NEWCIDR1_RANGE
        ));
    }
    // Registered before the create, so an interrupt between the two still deletes it.
    let _creating = ctx.own_cluster_scoped(resource.clone(), &name)?;
    create_retrying(&Api::all_with(client, &resource), &object)
        .await
        .map_err(TrialError::api(format!(
            "creating ServiceCIDR {name} ({cidr})"
        )))?;
    ctx.log(format!(
        "created ServiceCIDR {name} with cidrs [{cidr}] as {}",
        resource.api_version
    ));
    Ok(name)
}

pub fn service_cidrs(ctx: &Ctx) -> Api<ServiceCIDR> {
    Api::all(ctx.client())
}

pub async fn list_service_cidrs(ctx: &Ctx) -> Result<Vec<ServiceCIDR>, TrialError> {
    let api = service_cidrs(ctx);
    let params = ListParams::default();
    retrying(|| api.list(&params))
        .await
        .map(|l| l.items)
        .map_err(TrialError::api("listing servicecidrs"))
}

pub async fn get_service_cidr(ctx: &Ctx, name: &str) -> Result<Option<ServiceCIDR>, TrialError> {
    let api = service_cidrs(ctx);
    retrying(|| api.get_opt(name))
        .await
        .map_err(TrialError::api(format!("reading servicecidr {name}")))
}

/// The default ServiceCIDR `kubernetes` and its CIDRs.
pub async fn default_service_cidr(ctx: &Ctx) -> Result<(ServiceCIDR, Vec<IpNet>), TrialError> {
    let found = get_service_cidr(ctx, DEFAULT_NAME).await?.ok_or_else(|| TrialError::Mismatch {
        what: format!("the default ServiceCIDR `{DEFAULT_NAME}`"),
        expected: "a ServiceCIDR named kubernetes, created by the apiserver from --service-cluster-ip-range".into(),
        observed: "no such ServiceCIDR".into(),
    })?;
    let cidrs = super::ranges::parse_cidrs(&cidrs_of(&found));
    Ok((found, cidrs))
}

pub fn cidrs_of(sc: &ServiceCIDR) -> Vec<String> {
    sc.spec
        .as_ref()
        .and_then(|s| s.cidrs.clone())
        .unwrap_or_default()
}

pub fn ready_condition(sc: &ServiceCIDR) -> Option<&Condition> {
    sc.status
        .as_ref()?
        .conditions
        .as_ref()?
        .iter()
        .find(|c| c.type_ == "Ready")
}

pub fn has_finalizer(sc: &ServiceCIDR) -> bool {
    sc.finalizers().iter().any(|f| f == FINALIZER)
}

pub fn is_deleting(sc: &ServiceCIDR) -> bool {
    sc.metadata.deletion_timestamp.is_some()
}

/// One line per ServiceCIDR, for waits' "last state seen".
pub fn describe_service_cidr(sc: &ServiceCIDR) -> String {
    let deleting = sc
        .metadata
        .deletion_timestamp
        .as_ref()
        .map(|t| format!(", deletionTimestamp {}", t.0))
        .unwrap_or_default();
    let ready = ready_condition(sc)
        .map(|c| format!("Ready={} (reason {:?}: {})", c.status, c.reason, c.message))
        .unwrap_or_else(|| "no Ready condition".into());
    format!(
        "servicecidr {}: cidrs [{}], finalizers [{}]{deleting}, {ready}",
        sc.name_any(),
        cidrs_of(sc).join(", "),
        sc.finalizers().join(", ")
    )
}

/// A wait on ServiceCIDRs within `budget`, showing them as [`describe_service_cidr`] does.
pub fn wait_service_cidr(ctx: &Ctx, budget: Budget) -> Wait<'_, ServiceCIDR> {
    ctx.wait_on(service_cidrs(ctx), budget)
        .showing(describe_service_cidr)
}

/// Waits until a deleted ServiceCIDR whose addresses `holders` still hold is marked for deletion
/// (the finalizer keeps it).
pub async fn wait_marked_for_deletion(
    ctx: &Ctx,
    name: &str,
    holders: &str,
) -> Result<ServiceCIDR, TrialError> {
    wait_while_held(ctx, name, holders, "to be marked for deletion", is_deleting).await
}

/// Waits for the controller's verdict on a blocked deletion: `Ready=False`.
pub async fn wait_deletion_blocked(
    ctx: &Ctx,
    name: &str,
    holders: &str,
) -> Result<ServiceCIDR, TrialError> {
    wait_while_held(
        ctx,
        name,
        holders,
        "to report Ready=False (deletion blocked)",
        |sc| ready_condition(sc).is_some_and(|c| c.status == "False"),
    )
    .await
}

/// Waits until `done` holds for a ServiceCIDR that `holders` keep in use: its disappearance ends the wait.
async fn wait_while_held(
    ctx: &Ctx,
    name: &str,
    holders: &str,
    state: &str,
    done: impl Fn(&ServiceCIDR) -> bool,
) -> Result<ServiceCIDR, TrialError> {
    wait_service_cidr(ctx, budgets::SERVICE_CIDR_READY)
        .awaiting(format!("ServiceCIDR {name} {state}"))
        .object(name, |sc: Option<&ServiceCIDR>| match sc {
            None => Verdict::Hopeless(format!("it is gone although {holders} hold its addresses")),
            Some(sc) if done(sc) => Verdict::Done,
            Some(_) => Verdict::Pending,
        })
        .await
}

/// Waits until the ServiceCIDR has `Ready=True` (upstream: the ServiceCIDR controller's sync).
pub async fn wait_ready(ctx: &Ctx, name: &str) -> Result<ServiceCIDR, TrialError> {
    wait_service_cidr(ctx, budgets::SERVICE_CIDR_READY)
        .awaiting(format!("ServiceCIDR {name} to be Ready"))
        .object(name, |sc: Option<&ServiceCIDR>| match sc {
            None => Verdict::Hopeless("the ServiceCIDR is gone".into()),
            Some(sc) if is_deleting(sc) => {
                Verdict::Hopeless("the ServiceCIDR is being deleted".into())
            }
            Some(sc) if ready_condition(sc).is_some_and(|c| c.status == "True") => Verdict::Done,
            Some(_) => Verdict::Pending,
        })
        .await
}

/// The controller removes a deleted ServiceCIDR's finalizer `deletionGracePeriod` (10 s, fixed upstream)
/// after its deletion timestamp at the earliest: a release budget scaled below this could only time out.
const RELEASE_FLOOR: Duration = Duration::from_secs(15);

/// Waits (watch-driven, budget `service-cidr-release`, never shorter than [`RELEASE_FLOOR`]) until the
/// ServiceCIDR is gone.
pub async fn wait_gone(ctx: &Ctx, name: &str, awaited: &str) -> Result<(), TrialError> {
    wait_gone_unless(ctx, name, awaited, |_| None).await
}

/// [`wait_gone`], giving up as soon as `hopeless` names a state from which the ServiceCIDR cannot go.
pub async fn wait_gone_unless(
    ctx: &Ctx,
    name: &str,
    awaited: &str,
    hopeless: impl Fn(&ServiceCIDR) -> Option<String> + Send + Sync + 'static,
) -> Result<(), TrialError> {
    let budget = budgets::SERVICE_CIDR_RELEASE;
    let scale = ctx
        .scale()
        .max(RELEASE_FLOOR.as_secs_f64() / budget.limit.as_secs_f64());
    Wait::new(service_cidrs(ctx), budget, scale)
        .awaiting(awaited)
        .showing(describe_service_cidr)
        .until(name, move |sc: Option<&ServiceCIDR>| match sc {
            None => Verdict::Done,
            Some(sc) => match hopeless(sc) {
                Some(why) => Verdict::Hopeless(why),
                None => Verdict::Pending,
            },
        })
        .await
        .map(|_| ())
}

/// Deletes a ServiceCIDR (a finalizer may keep it, marked with a deletionTimestamp).
pub async fn delete_service_cidr(ctx: &Ctx, name: &str) -> Result<(), TrialError> {
    let api = service_cidrs(ctx);
    let params = DeleteParams::background();
    match retrying(|| api.delete(name, &params)).await {
        Ok(_) => {
            ctx.log(format!("deleted ServiceCIDR {name}"));
            Ok(())
        }
        Err(kube::Error::Api(s)) if s.code == 404 => Ok(()),
        Err(e) => Err(TrialError::Api {
            context: format!("deleting servicecidr {name}"),
            source: e.into(),
        }),
    }
}

pub async fn get_ip_address(ctx: &Ctx, ip: &str) -> Result<Option<IPAddress>, TrialError> {
    let api: Api<IPAddress> = Api::all(ctx.client());
    retrying(|| api.get_opt(ip))
        .await
        .map_err(TrialError::api(format!("reading ipaddress {ip}")))
}

/// Every IPAddress object: the allocator counts an address as used when an IPAddress of that name
/// exists, whoever created it (upstream ipallocator.go `allocateFromRange`).
pub async fn list_ip_addresses(ctx: &Ctx) -> Result<Vec<IPAddress>, TrialError> {
    let api: Api<IPAddress> = Api::all(ctx.client());
    let params = ListParams::default();
    retrying(|| api.list(&params))
        .await
        .map(|l| l.items)
        .map_err(TrialError::api("listing ipaddresses"))
}

/// `services/default/kubernetes`, as `kubectl get ipaddress` shows the parentRef.
pub fn parent_ref_text(ip: &IPAddress) -> String {
    match ip.spec.as_ref().map(|s| &s.parent_ref) {
        Some(p) => {
            let group = p
                .group
                .as_deref()
                .filter(|g| !g.is_empty())
                .map(|g| format!("{g}/"))
                .unwrap_or_default();
            format!(
                "{group}{}/{}/{}",
                p.resource,
                p.namespace.as_deref().unwrap_or(""),
                p.name
            )
        }
        None => "<none>".into(),
    }
}

/// `kubectl create service clusterip NAME --tcp 80 [--clusterip IP]`: labels and selector `app=NAME`, one
/// port `80-80` (upstream: staging/src/k8s.io/kubectl/pkg/cmd/create/create_service.go). The family is named
/// (`IPv4`, single-stack) so the Service takes an address of the IPv4 range whatever the primary family;
/// on the docs' IPv4 cluster that is what the command does.
pub fn cluster_ip_service(name: &str, cluster_ip: Option<IpAddr>) -> Result<Service, TrialError> {
    let mut spec = json!({
        "type": "ClusterIP",
        "ipFamilyPolicy": "SingleStack",
        "ipFamilies": ["IPv4"],
        "selector": { "app": name },
        "ports": [ { "name": "80-80", "protocol": "TCP", "port": 80, "targetPort": 80 } ]
    });
    if let Some(ip) = cluster_ip {
        spec["clusterIP"] = json!(ip.to_string());
    }
    from_json(
        json!({ "apiVersion": "v1", "kind": "Service", "metadata": { "name": name, "labels": { "app": name } }, "spec": spec }),
    )
}

/// Creates a Service whose explicit ClusterIP lies in a just-added ServiceCIDR. The apiserver's allocators
/// learn ServiceCIDRs from their own informer, which may trail the controller's `Ready` by a moment
/// (upstream cidrallocator.go `getAllocator`: `ErrMismatchedNetwork` until then, a 422): that answer alone
/// is retried, briefly, as upstream's e2e retries (test/e2e/network/service_cidrs.go).
pub async fn create_with_explicit_ip(ctx: &Ctx, svc: &Service) -> Result<Service, TrialError> {
    let policy = ExponentialBuilder::default()
        .with_min_delay(Duration::from_millis(100))
        .with_max_delay(Duration::from_secs(1))
        .with_max_times(5);
    let not_yet_known = |e: &TrialError| {
        e.refusal().is_some_and(|s| {
            s.code == 422 && s.message.contains("does not match the current range")
        })
    };
    (|| ctx.create(svc)).retry(policy).when(not_yet_known).await
}

/// The IPv4 ClusterIP of a Service.
pub fn ipv4_cluster_ip(svc: &Service) -> Option<IpAddr> {
    let spec = svc.spec.as_ref()?;
    let ips = spec
        .cluster_ips
        .clone()
        .unwrap_or_else(|| spec.cluster_ip.iter().cloned().collect());
    ips.iter()
        .filter_map(|ip| ip.parse::<IpAddr>().ok())
        .find(IpAddr::is_ipv4)
}

/// The 500 the apiserver answers when no ServiceCIDR has a free address
/// (upstream: pkg/registry/core/service/storage/alloc.go `allocIPs`,
/// `errors.NewInternalError(fmt.Errorf("failed to allocate a serviceIP: %v", err))` with ipallocator `ErrFull`).
pub const RANGE_FULL: &str = "failed to allocate a serviceIP: range is full";

pub fn is_range_full(err: &TrialError) -> bool {
    // The doc's `failed to allocate a serviceIP: range is full`, or since v1.36 `failed to allocate a serviceIP
    // for Service "<name>": range is full` (pkg/registry/core/service/storage/alloc.go allocIPs), seen on
    // the real kind v1.37.2 cluster.
    err.refusal().is_some_and(|s| {
        s.code == 500
            && s.message.contains("failed to allocate a serviceIP")
            && s.message.contains("range is full")
    })
}

/// What the trials must not collide with when they add a range: every ServiceCIDR's IPv4 CIDRs (being
/// deleted or not), the nodes' IPv4 pod CIDRs and InternalIPs.
pub async fn taken_ranges(ctx: &Ctx) -> Result<Vec<Ipv4Net>, TrialError> {
    let mut taken: Vec<Ipv4Net> = Vec::new();
    for sc in list_service_cidrs(ctx).await? {
        taken.extend(
            super::ranges::parse_cidrs(&cidrs_of(&sc))
                .into_iter()
                .filter_map(|c| match c {
                    IpNet::V4(v4) => Some(v4),
                    IpNet::V6(_) => None,
                }),
        );
    }
    for node in &ctx.capabilities().nodes {
        taken.extend(
            super::ranges::parse_cidrs(&node.pod_cidrs)
                .into_iter()
                .filter_map(|c| match c {
                    IpNet::V4(v4) => Some(v4),
                    IpNet::V6(_) => None,
                }),
        );
        taken.extend(
            node.internal_ips
                .iter()
                .filter_map(|ip| ip.parse::<std::net::Ipv4Addr>().ok())
                .filter_map(|ip| Ipv4Net::new(ip, 32).ok()),
        );
    }
    Ok(taken)
}

/// Puts the range back as the trial found it, on every path: deletes the trial's Services and waits (with
/// a budget) until their addresses are released, then deletes `owned` ServiceCIDRs and, with `wait_gone`,
/// waits until they are gone (the controller keeps them ~10 s after their last address goes), so the next
/// trial does not find a stale ServiceCIDR over the same range. Problems go to the trial log: the runner
/// deletes the namespace and the owned ServiceCIDRs anyway, and nothing here waits without a budget.
pub async fn restore(ctx: &Ctx, owned: &[String], wait_gone: bool) {
    if let Err(e) = delete_services_and_wait(ctx).await {
        ctx.log(format!("cleanup: {e}"));
    }
    for name in owned {
        if let Err(e) = delete_service_cidr(ctx, name).await {
            ctx.log(format!("cleanup: {e}"));
            continue;
        }
        if wait_gone {
            let gone = wait_service_cidr(ctx, budgets::SERVICE_CIDR_RELEASE)
                .awaiting(format!("ServiceCIDR {name} to be gone"))
                .until(name, conditions::is_deleted())
                .await;
            if let Err(e) = gone {
                ctx.log(format!("cleanup: {e}"));
            }
        }
    }
}

/// Deletes Services of the trial's namespace and waits until no IPAddress refers to one of them.
pub async fn delete_services_and_wait(ctx: &Ctx) -> Result<(), TrialError> {
    let api: Api<Service> = ctx.api();
    let params = ListParams::default();
    let services = retrying(|| api.list(&params))
        .await
        .map_err(TrialError::api("listing services"))?
        .items;
    let names: Vec<String> = services.iter().map(|s| s.name_any()).collect();
    delete_services(ctx, &names).await?;
    wait_released(ctx, &names).await
}

/// Deletes the named Services of the trial's namespace (already gone counts as deleted).
pub async fn delete_services(ctx: &Ctx, names: &[String]) -> Result<(), TrialError> {
    let api: Api<Service> = ctx.api();
    for name in names {
        let params = DeleteParams::background();
        match retrying(|| api.delete(name, &params)).await {
            Ok(_) => ctx.log(format!("deleted Service {}/{name}", ctx.namespace())),
            Err(kube::Error::Api(s)) if s.code == 404 => {}
            Err(e) => {
                return Err(TrialError::Api {
                    context: format!("deleting service {name}"),
                    source: e.into(),
                });
            }
        }
    }
    Ok(())
}

/// Waits until no IPAddress has one of the named Services of the trial's namespace as its parent.
pub async fn wait_released(ctx: &Ctx, names: &[String]) -> Result<(), TrialError> {
    let names: BTreeSet<String> = names.iter().cloned().collect();
    let namespace = ctx.namespace().to_string();
    let held_by_ours = |ip: &IPAddress| {
        ip.spec.as_ref().map(|s| &s.parent_ref).is_some_and(|p| {
            p.resource == "services"
                && p.namespace.as_deref() == Some(namespace.as_str())
                && names.contains(&p.name)
        })
    };
    netconform::cleanup::wait_addresses_released(
        &ctx.client(),
        &format!(
            "the ClusterIPs of Services [{}] of {} to be released",
            names.iter().cloned().collect::<Vec<_>>().join(", "),
            ctx.namespace()
        ),
        ctx.scale(),
        held_by_ours,
    )
    .await
}
