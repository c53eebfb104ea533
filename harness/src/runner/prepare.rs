//! Before the trials: resolve the target (create a kind cluster, serve the double, or use a context), run
//! preflight, and read who made the cluster.

use std::sync::Arc;

use crate::cleanup::Cleanup;
use crate::cluster::{self, Resolution, Target, TargetKind};
use crate::config::{Settings, Toggle};
use crate::error::HarnessError;
use crate::preflight::{self, Need};
use crate::report::RunInfo;
use crate::run::{RunState, new_run_id};
use crate::trial::TrialDef;

pub(super) enum Prepared {
    NoTarget {
        reason: String,
        hint: String,
        info: RunInfo,
    },
    Ready {
        state: Arc<RunState>,
        // Boxed: a target is far larger than the other variant.
        target: Box<Target>,
        info: RunInfo,
    },
}

/// Resolves the target and runs preflight. Errors are (one line, exit status).
pub(super) async fn prepare(
    settings: &Settings,
    selected: &[TrialDef],
    created: &Arc<cluster::CreatedCluster>,
) -> Result<Prepared, (String, i32)> {
    let resolution = cluster::resolve(settings, created.clone());
    prepare_with(settings, selected, created, resolution).await
}

/// [`prepare`] on a given resolution. An error after netconform created a cluster (a refused cluster, a
/// failed readiness wait, the lease) deletes it before it is returned.
pub(super) async fn prepare_with(
    settings: &Settings,
    selected: &[TrialDef],
    created: &cluster::CreatedCluster,
    resolution: impl std::future::Future<Output = Result<Resolution, HarnessError>>,
) -> Result<Prepared, (String, i32)> {
    let prepared = prepare_target(settings, selected, resolution).await;
    if prepared.is_err() {
        created.delete().await;
    }
    prepared
}

pub(super) async fn prepare_target(
    settings: &Settings,
    selected: &[TrialDef],
    resolution: impl std::future::Future<Output = Result<Resolution, HarnessError>>,
) -> Result<Prepared, (String, i32)> {
    let run_id = settings.run_id.clone().unwrap_or_else(new_run_id);
    let mut info = RunInfo::starting(run_id.clone());
    info.properties = run_properties(settings);
    let mut target = match resolution
        .await
        .map_err(|e| (e.to_string(), e.exit_code()))?
    {
        Resolution::NoTarget { reason, hint } => {
            if settings.require_cluster {
                return Err((
                    format!("no target and NETCONFORM_REQUIRE_CLUSTER=1: {reason}"),
                    crate::error::EXIT_NO_TARGET,
                ));
            }
            info.target_description = format!("no target: {reason}");
            return Ok(Prepared::NoTarget { reason, hint, info });
        }
        Resolution::Ready(target) => target,
    };
    let client = target.client.clone();
    target.provenance = provenance(&mut target, &run_id).await?;
    let mut capabilities = preflight::detect(&client, &target.kind)
        .await
        .map_err(|e| (e.to_string(), e.exit_code()))?;
    if !capabilities.load_balancer.present
        && let Some(evidence) = target.load_balancer_controller().await
    {
        capabilities.load_balancer = preflight::Detected {
            present: true,
            evidence,
        };
    }
    info.target = Some(reported_target(target.kind, &capabilities.server_version));
    if info.target == Some(TargetKind::Simulated) {
        info.deviations = settings.sim_deviations.clone();
        info.faults = settings.sim_faults.describe();
    }
    info.target_description = target.description.clone();
    info.properties.extend(target.properties());
    info.server_version = Some(capabilities.server_version.clone());
    info.node_image = target.node_image.clone();
    info.ip_families = capabilities
        .families
        .iter()
        .map(|f| f.to_string())
        .collect();
    eprintln!(
        "netconform: target {} — {}; server {}; IP families [{}]; run id {run_id}",
        target.kind,
        target.description,
        capabilities.server_version,
        info.ip_families.join(", ")
    );
    if settings.require_cluster {
        // The gate must not read "ignored" as "fine": a cluster that lacks what a selected trial needs is an error.
        // Permission to disturb the cluster (and a service range small enough to exhaust) is not a capability,
        // nor is being single-stack: a dual-stack cluster skips the trials about single-stack ones.
        // Nor is a capability the user declared absent (`NETCONFORM_LOAD_BALANCER=no`): its trials are skipped
        // with that reason, as the user asked.
        let gated = |n: &&Need| {
            !matches!(
                **n,
                Need::Disruptive | Need::SmallServiceRange | Need::SingleStack
            ) && !declared_absent(**n, settings)
        };
        let unmet: Vec<String> = selected
            .iter()
            .flat_map(|def| {
                def.needs
                    .iter()
                    .filter(gated)
                    .filter_map(|n| capabilities.unmet(*n, settings, &target))
            })
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .collect();
        if !unmet.is_empty() {
            return Err((
                format!(
                    "the cluster cannot run the selected trials (NETCONFORM_REQUIRE_CLUSTER=1): {}",
                    unmet.join("; ")
                ),
                crate::error::EXIT_CAPABILITY,
            ));
        }
    }
    // Taken before the opening sweep, so that runs starting together see each other as live.
    let lease = crate::liveness::RunLease::acquire(&client, &run_id)
        .await
        .map_err(|e| (e.to_string(), e.exit_code()))?;
    let leftovers = crate::sweep::SweepOptions {
        older_than: Some(crate::sweep::LEFTOVER_AGE),
        exclude_run: Some(run_id.clone()),
        ..Default::default()
    };
    match crate::sweep::sweep_target(&client, &leftovers, &target).await {
        Ok(swept) if !swept.deleted.is_empty() => eprintln!(
            "netconform: swept leftovers of earlier runs: {}",
            swept.deleted.join(", ")
        ),
        Ok(_) => {}
        Err(e) => eprintln!("netconform: could not sweep leftovers of earlier runs: {e}"),
    }
    let outside = target.outside(settings, &run_id);
    let state = Arc::new(RunState {
        run_id,
        client: client.clone(),
        target: target.kind,
        made_by_netconform: target.provenance.is_some(),
        capabilities,
        settings: settings.clone(),
        cleanup: Cleanup::with_docker(client, target.docker()),
        lease,
        scenarios: Default::default(),
        outside,
    });
    Ok(Prepared::Ready {
        state,
        target: Box::new(target),
        info,
    })
}

/// Who made the cluster. One this run created is marked as netconform's own; on any other real cluster the
/// mark of an earlier run is read, so a cluster kept with `NETCONFORM_KEEP_CLUSTER=1` may be disrupted again
/// and one made by hand may not ([`cluster::provenance`]).
pub(super) async fn provenance(
    target: &mut Target,
    run_id: &str,
) -> Result<Option<cluster::provenance::Provenance>, (String, i32)> {
    let client = &target.client;
    if target.created_by_us {
        cluster::provenance::mark(client, run_id)
            .await
            .map_err(|e| (e.to_string(), e.exit_code()))?;
        return Ok(Some(cluster::provenance::Provenance {
            created_by_run: run_id.to_string(),
        }));
    }
    if target.kind == TargetKind::Simulated {
        return Ok(None);
    }
    match cluster::provenance::read(client).await {
        Ok(Some(made)) => {
            target.description = format!(
                "{}; created by netconform run {}",
                target.description, made.created_by_run
            );
            Ok(Some(made))
        }
        Ok(None) => Ok(None),
        // Unreadable (no right to read kube-system's ConfigMaps): the cluster counts as not netconform's.
        Err(e) => {
            eprintln!(
                "netconform: cannot tell whether netconform created this cluster, so it counts as not: {e}"
            );
            Ok(None)
        }
    }
}

/// The image map and the testbed's record, as report properties.
pub(super) fn run_properties(settings: &Settings) -> Vec<(String, String)> {
    let images = settings.images.entries().map(|(from, r)| {
        let to = match &r.stand_in {
            Some(what) => format!("{} (stand-in: {what})", r.image),
            None => r.image.clone(),
        };
        (format!("netconform.image.{from}"), to)
    });
    let testbed = settings
        .testbed
        .iter()
        .map(|(k, v)| (format!("netconform.testbed.{k}"), v.clone()));
    images.chain(testbed).collect()
}

/// What every version the double serves carries (`netconform_double::VERSION_MARK`; a test keeps them equal).
/// Known without the double: a served double is recognised in the users' build too.
pub(super) const DOUBLE_VERSION_MARK: &str = "+netconform-double";

/// The target kind a report names: an `existing` context that points at a served double (its version carries
/// `+netconform-double`) is simulated; its results say nothing about a cluster.
pub(super) fn reported_target(kind: TargetKind, server_version: &str) -> TargetKind {
    if server_version.contains(DOUBLE_VERSION_MARK) {
        TargetKind::Simulated
    } else {
        kind
    }
}

/// Whether the user declared the capability `need` absent (`NETCONFORM_LOAD_BALANCER=no`,
/// `NETCONFORM_NETWORK_POLICY=no`).
pub(super) fn declared_absent(need: Need, settings: &Settings) -> bool {
    match need {
        Need::LoadBalancer => settings.load_balancer == Toggle::No,
        Need::NetworkPolicy => settings.network_policy == Toggle::No,
        // The user chose the stand-in in the image map.
        Need::DocImage(image, part) => settings.images.stand_in_without(image, part).is_some(),
        _ => false,
    }
}
