//! `netconform sweep`: deletes what earlier (interrupted) runs left behind — namespaces and cluster-scoped
//! objects carrying `app.kubernetes.io/managed-by=netconform`, and nothing else.
//!
//! The label selector goes to the server, and every object is checked again here before it is deleted, so
//! an object without our label is never touched even if a server ignored the selector.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::{Client, ResourceExt};

use std::collections::BTreeSet;

use crate::cluster::process::{CommandLine, CommandRunner, Output};
use crate::error::HarnessError;
use crate::labels::{MANAGED_BY_KEY, MANAGED_BY_VALUE, RUN_ID_KEY, managed_selector};
use crate::liveness;

/// Cluster-scoped kinds the suites create. Namespaced objects go with their namespace.
/// (group, version, kind, plural)
pub const SWEPT_KINDS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Namespace", "namespaces"),
    ("networking.k8s.io", "v1", "ServiceCIDR", "servicecidrs"),
];

/// How old a labelled object of another run must be before a run's opening sweep deletes it. Generous, so
/// a run never deletes what a concurrent run against the same cluster is still using.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(60 * 60);

/// Which labelled objects a sweep deletes.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepOptions {
    /// Leave objects younger than this.
    pub older_than: Option<Duration>,
    /// Leave this run's objects (the run in progress).
    pub exclude_run: Option<String>,
    /// Only this run's objects.
    pub only_run: Option<String>,
    /// Say what would be deleted; delete nothing.
    pub dry_run: bool,
}

/// What a sweep deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// `Namespace nc-hosts-r1a2b3` ... (with `dry_run`: what would be deleted).
    pub deleted: Vec<String>,
    /// Labelled objects left alone (too young, or the excluded run), with why.
    pub kept: Vec<String>,
    /// Kinds the server does not serve (e.g. ServiceCIDR before v1.33).
    pub not_served: Vec<String>,
}

/// The label selector of a sweep: everything netconform created, or one run's objects.
pub fn selector(only_run: Option<&str>) -> String {
    match only_run {
        Some(run) => format!("{},{RUN_ID_KEY}={run}", managed_selector()),
        None => managed_selector(),
    }
}

fn swept_resource(group: &str, version: &str, kind: &str, plural: &str) -> ApiResource {
    ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural)
}

/// The kinds a sweep deletes ([`SWEPT_KINDS`]).
pub fn swept_resources() -> Vec<ApiResource> {
    SWEPT_KINDS
        .iter()
        .map(|(group, version, kind, plural)| swept_resource(group, version, kind, plural))
        .collect()
}

/// Deletes every labelled namespace and cluster-scoped object `options` selects (see [`SweepOptions`]).
pub async fn sweep(client: &Client, options: &SweepOptions) -> Result<SweepReport, HarnessError> {
    let mut report = SweepReport::default();
    let now = SystemTime::now();
    let selector = selector(options.only_run.as_deref());
    // A run whose lease is current is still going: its objects are not leftovers.
    let leases = liveness::leases(client).await?;
    for (group, version, kind, plural) in SWEPT_KINDS {
        let resource = swept_resource(group, version, kind, plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let listed = match api.list(&ListParams::default().labels(&selector)).await {
            Ok(list) => list.items,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                report
                    .not_served
                    .push(format!("{kind} ({})", resource.api_version));
                continue;
            }
            Err(e) => {
                return Err(HarnessError::api(
                    format!("listing {plural} labelled {selector}"),
                    &e,
                ));
            }
        };
        for object in listed {
            let name = object.name_any();
            match verdict(&object, now, options, &leases.live) {
                Verdict::NotOurs => continue,
                Verdict::Keep(why) => report.kept.push(format!("{kind} {name} ({why})")),
                Verdict::Delete if options.dry_run => report.deleted.push(format!("{kind} {name}")),
                Verdict::Delete => match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => report.deleted.push(format!("{kind} {name}")),
                    // Already gone (another sweep, or the run's own cleanup): nothing to do.
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(e) => return Err(HarnessError::api(format!("deleting {kind} {name}"), &e)),
                },
            }
        }
    }
    // The lease of a run that stopped renewing it goes too.
    for (run, name) in &leases.expired {
        if options.only_run.as_ref().is_some_and(|only| only != run)
            || options.exclude_run.as_ref() == Some(run)
        {
            continue;
        }
        if !options.dry_run {
            liveness::delete(client, name).await?;
        }
        report
            .deleted
            .push(format!("Lease {}/{name}", liveness::NAMESPACE));
    }
    Ok(report)
}

/// The labels in `docker ps`'s `{{.Labels}}` (`k=v,k=v`).
fn docker_labels(text: &str) -> std::collections::BTreeMap<String, String> {
    text.split(',')
        .filter_map(|kv| kv.split_once('='))
        .map(|(k, v)| (k.trim().to_string(), v.trim().to_string()))
        .collect()
}

/// The labelled docker containers `filters` select: (name, labels).
async fn labelled_containers(
    docker: &dyn CommandRunner,
    filters: &[String],
) -> Result<Vec<(String, std::collections::BTreeMap<String, String>)>, String> {
    let mut args = vec!["ps", "-a", "--format", "{{.Names}}\t{{.Labels}}"];
    for filter in filters {
        args.extend(["--filter", filter.as_str()]);
    }
    let line = CommandLine::new("docker", &args);
    let out = docker
        .run(&line, Output::Capture)
        .await
        .map_err(|e| format!("`{line}`: {e}"))?;
    if !out.success {
        return Err(format!("`{line}`: {}: {}", out.status, out.tail()));
    }
    Ok(out
        .stdout
        .lines()
        .filter_map(|l| l.split_once('\t'))
        .map(|(name, labels)| (name.trim().to_string(), docker_labels(labels)))
        .collect())
}

/// The sweep of the docker containers netconform started beside kind cluster `cluster` (the external
/// client, [`crate::outside`]): those `options` select go, by the rules of [`sweep`] (their age from
/// their creation label); `live` are the runs whose lease is current. Adds to `report`.
pub async fn sweep_containers(
    docker: &dyn CommandRunner,
    cluster: &str,
    options: &SweepOptions,
    live: &BTreeSet<String>,
    report: &mut SweepReport,
) -> Result<(), String> {
    let filters = [
        format!("label={}", managed_selector()),
        format!("label={}={cluster}", crate::outside::KIND_CLUSTER_KEY),
    ];
    let now = SystemTime::now();
    for (name, labels) in labelled_containers(docker, &filters).await? {
        let created = labels
            .get(crate::outside::CREATED_KEY)
            .and_then(|c| c.parse::<i64>().ok());
        match verdict_of(&labels, created, now, options, live) {
            Verdict::NotOurs => {}
            Verdict::Keep(why) => report.kept.push(format!("docker container {name} ({why})")),
            Verdict::Delete if options.dry_run => {
                report.deleted.push(format!("docker container {name}"))
            }
            Verdict::Delete => {
                crate::outside::remove_container(docker, &name).await?;
                report.deleted.push(format!("docker container {name}"));
            }
        }
    }
    Ok(())
}

/// Removes every docker container of run `run_id` (an interrupted run's own sweep) and checks each is
/// gone; one line per problem.
pub async fn remove_run_containers(docker: &dyn CommandRunner, run_id: &str) -> Vec<String> {
    let filters = [
        format!("label={}", managed_selector()),
        format!("label={RUN_ID_KEY}={run_id}"),
    ];
    match labelled_containers(docker, &filters).await {
        Err(e) => vec![e],
        Ok(found) => {
            let mut problems = Vec::new();
            for (name, _) in found {
                if let Err(e) = crate::outside::remove_container(docker, &name).await {
                    problems.push(e);
                }
            }
            problems
        }
    }
}

/// [`sweep`], and on a kind cluster (a kind target, or a `kind-<cluster>` context when `docker` is on PATH)
/// the docker containers netconform started beside it ([`sweep_containers`]).
pub async fn sweep_target(
    client: &Client,
    options: &SweepOptions,
    target: &crate::cluster::Target,
) -> Result<SweepReport, HarnessError> {
    let mut report = sweep(client, options).await?;
    let docker = target.docker().or_else(|| {
        let runner = crate::cluster::process::SystemRunner;
        runner
            .which("docker")
            .map(|_| std::sync::Arc::new(runner) as std::sync::Arc<dyn CommandRunner>)
    });
    if let (Some(docker), Some(cluster)) = (docker, target.kind_cluster()) {
        let leases = liveness::leases(client).await?;
        sweep_containers(
            docker.as_ref(),
            &cluster,
            options,
            &leases.live,
            &mut report,
        )
        .await
        .map_err(|detail| HarnessError::CommandFailed {
            command: "docker ps".into(),
            status: "failed".into(),
            detail,
        })?;
    }
    Ok(report)
}

/// `netconform sweep`'s usage.
pub const USAGE: &str =
    "netconform sweep [--dry-run] [--run-id ID] [--older-than DURATION] [--context NAME]";

/// `netconform sweep`'s command line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepArgs {
    pub options: SweepOptions,
    /// `--context NAME`: the kubeconfig context to sweep (default: `NETCONFORM_CONTEXT`, else the current one).
    pub context: Option<String>,
}

impl SweepArgs {
    /// Parses the arguments after `sweep`; an error is one line ending with the usage, and nothing is deleted.
    pub fn parse(args: &[String]) -> Result<SweepArgs, String> {
        let mut parsed = SweepArgs::default();
        let mut rest = args.iter();
        while let Some(arg) = rest.next() {
            let mut value = |what: &str| {
                rest.next()
                    .cloned()
                    .ok_or_else(|| format!("{arg} needs {what}; usage: {USAGE}"))
            };
            match arg.as_str() {
                "--dry-run" => parsed.options.dry_run = true,
                "--run-id" => {
                    let id = value("a run id")?;
                    if !crate::config::is_run_id(&id) {
                        return Err(format!(
                            "--run-id {id:?}: a run id is lowercase letters, digits and '-' (at most 20); usage: {USAGE}"
                        ));
                    }
                    parsed.options.only_run = Some(id);
                }
                "--older-than" => {
                    let text = value("a duration")?;
                    let age = crate::config::parse_duration(&text).ok_or_else(|| {
                        format!("--older-than {text:?}: expected a duration such as 90s, 30m or 2h; usage: {USAGE}")
                    })?;
                    parsed.options.older_than = Some(age);
                }
                "--context" => parsed.context = Some(value("a context name")?),
                other => return Err(format!("unknown argument {other:?}; usage: {USAGE}")),
            }
        }
        Ok(parsed)
    }
}

#[derive(Debug, PartialEq, Eq)]
enum Verdict {
    NotOurs,
    Keep(String),
    Delete,
}

fn verdict(
    object: &DynamicObject,
    now: SystemTime,
    options: &SweepOptions,
    live: &BTreeSet<String>,
) -> Verdict {
    let created = object
        .metadata
        .creation_timestamp
        .as_ref()
        .map(|t| t.0.as_second());
    verdict_of(object.labels(), created, now, options, live)
}

/// [`verdict`] on an object's labels and creation time (Unix seconds), for objects that are not
/// Kubernetes objects (the external client's docker container).
fn verdict_of(
    labels: &std::collections::BTreeMap<String, String>,
    created: Option<i64>,
    now: SystemTime,
    options: &SweepOptions,
    live: &BTreeSet<String>,
) -> Verdict {
    if labels.get(MANAGED_BY_KEY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
        return Verdict::NotOurs;
    }
    let run_of = labels.get(RUN_ID_KEY).map(String::as_str);
    if let Some(only) = options.only_run.as_deref()
        && run_of != Some(only)
    {
        return Verdict::NotOurs;
    }
    if let Some(run) = options.exclude_run.as_deref()
        && run_of == Some(run)
    {
        return Verdict::Keep(format!("run {run} is in progress"));
    }
    if let Some(run) = run_of
        && live.contains(run)
    {
        return Verdict::Keep(format!("run {run} is live: it renews its lease"));
    }
    if let Some(min_age) = options.older_than {
        let now_secs = now
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_secs() as i64)
            .unwrap_or(0);
        match created {
            Some(created) if now_secs - created < min_age.as_secs() as i64 => {
                return Verdict::Keep(format!("younger than {}s", min_age.as_secs()));
            }
            Some(_) => {}
            None => return Verdict::Keep("no creation time".into()),
        }
    }
    Verdict::Delete
}

#[cfg(test)]
mod tests {
    use super::*;

    fn object(labels: serde_json::Value, created: &str) -> DynamicObject {
        serde_json::from_value(serde_json::json!({
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": {"name": "n", "labels": labels, "creationTimestamp": created}
        }))
        .unwrap()
    }

    #[test]
    fn only_labelled_objects_are_deleted() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ours = object(
            serde_json::json!({MANAGED_BY_KEY: MANAGED_BY_VALUE, RUN_ID_KEY: "old"}),
            "2026-01-01T00:00:00Z",
        );
        let excluding = |run: &str| SweepOptions {
            exclude_run: Some(run.into()),
            ..SweepOptions::default()
        };
        let only = |run: &str| SweepOptions {
            only_run: Some(run.into()),
            ..SweepOptions::default()
        };
        let all = SweepOptions::default();
        assert_eq!(verdict(&ours, now, &all, &BTreeSet::new()), Verdict::Delete);
        assert_eq!(
            verdict(&ours, now, &excluding("other"), &BTreeSet::new()),
            Verdict::Delete
        );
        assert!(matches!(
            verdict(&ours, now, &excluding("old"), &BTreeSet::new()),
            Verdict::Keep(_)
        ));
        assert_eq!(
            verdict(&ours, now, &only("old"), &BTreeSet::new()),
            Verdict::Delete
        );
        assert_eq!(
            verdict(&ours, now, &only("other"), &BTreeSet::new()),
            Verdict::NotOurs
        );

        let theirs = object(
            serde_json::json!({MANAGED_BY_KEY: "helm"}),
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(
            verdict(&theirs, now, &all, &BTreeSet::new()),
            Verdict::NotOurs
        );
        let unlabelled = object(serde_json::json!({}), "2026-01-01T00:00:00Z");
        assert_eq!(
            verdict(&unlabelled, now, &all, &BTreeSet::new()),
            Verdict::NotOurs
        );
    }

    #[cfg(feature = "double")]
    #[tokio::test]
    async fn sweep_deletes_only_labelled_objects_on_the_double() {
        let double = netconform_double::Double::start(netconform_double::DoubleConfig::default())
            .await
            .unwrap();
        let client = crate::cluster::kubeconfig::connect_yaml(&double.kubeconfig_yaml(), "double")
            .await
            .unwrap()
            .client;
        let ns_api: Api<DynamicObject> = Api::all_with(
            client.clone(),
            &ApiResource::from_gvk_with_plural(
                &GroupVersionKind::gvk("", "v1", "Namespace"),
                "namespaces",
            ),
        );
        let make = |name: &str, labels: serde_json::Value| -> DynamicObject {
            serde_json::from_value(serde_json::json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": name, "labels": labels}})).unwrap()
        };
        let pp = Default::default();
        ns_api
            .create(
                &pp,
                &make(
                    "nc-old",
                    serde_json::json!({MANAGED_BY_KEY: MANAGED_BY_VALUE, RUN_ID_KEY: "old"}),
                ),
            )
            .await
            .unwrap();
        ns_api
            .create(
                &pp,
                &make(
                    "nc-now",
                    serde_json::json!({MANAGED_BY_KEY: MANAGED_BY_VALUE, RUN_ID_KEY: "now"}),
                ),
            )
            .await
            .unwrap();
        ns_api
            .create(
                &pp,
                &make("someone-else", serde_json::json!({MANAGED_BY_KEY: "helm"})),
            )
            .await
            .unwrap();
        ns_api
            .create(&pp, &make("plain", serde_json::json!({})))
            .await
            .unwrap();

        let dry = SweepOptions {
            exclude_run: Some("now".into()),
            dry_run: true,
            ..SweepOptions::default()
        };
        let report = sweep(&client, &dry).await.unwrap();
        assert_eq!(report.deleted, vec!["Namespace nc-old"]);
        let old = ns_api.get("nc-old").await.unwrap();
        assert!(
            old.metadata.deletion_timestamp.is_none(),
            "--dry-run deleted nc-old"
        );
        let report = sweep(
            &client,
            &SweepOptions {
                dry_run: false,
                ..dry
            },
        )
        .await
        .unwrap();
        assert_eq!(report.deleted, vec!["Namespace nc-old"]);
        assert_eq!(
            report.kept,
            vec!["Namespace nc-now (run now is in progress)"]
        );
        for untouched in ["someone-else", "plain", "nc-now"] {
            let ns = ns_api.get(untouched).await.unwrap();
            assert!(
                ns.metadata.deletion_timestamp.is_none(),
                "{untouched} was deleted"
            );
        }
        double.shutdown().await;
    }

    #[test]
    fn sweep_arguments() {
        let args = |s: &str| -> Vec<String> { s.split_whitespace().map(String::from).collect() };
        assert_eq!(SweepArgs::parse(&[]), Ok(SweepArgs::default()));
        let parsed = SweepArgs::parse(&args(
            "--dry-run --run-id ab12 --older-than 30m --context kind-x",
        ))
        .unwrap();
        assert_eq!(
            parsed,
            SweepArgs {
                options: SweepOptions {
                    older_than: Some(Duration::from_secs(1800)),
                    exclude_run: None,
                    only_run: Some("ab12".into()),
                    dry_run: true,
                },
                context: Some("kind-x".into()),
            }
        );
        for (bad, starts) in [
            ("--dryrun", "unknown argument \"--dryrun\""),
            ("now", "unknown argument \"now\""),
            ("--run-id", "--run-id needs a run id"),
            ("--run-id Bad_Id", "--run-id \"Bad_Id\": "),
            ("--older-than soon", "--older-than \"soon\": "),
            ("--context", "--context needs a context name"),
        ] {
            let err = SweepArgs::parse(&args(bad)).unwrap_err();
            assert!(
                err.starts_with(starts) && err.ends_with(USAGE) && !err.contains('\n'),
                "{bad}: {err}"
            );
        }
    }

    #[test]
    fn a_live_runs_objects_are_kept() {
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let ours = object(
            serde_json::json!({MANAGED_BY_KEY: MANAGED_BY_VALUE, RUN_ID_KEY: "going"}),
            "2026-01-01T00:00:00Z",
        );
        let live: BTreeSet<String> = ["going".to_string()].into();
        assert_eq!(
            verdict(&ours, now, &SweepOptions::default(), &live),
            Verdict::Keep("run going is live: it renews its lease".into())
        );
    }

    #[test]
    fn young_objects_are_kept() {
        // 1_800_000_000 is 2027-01-15T08:00:00Z.
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let young = object(
            serde_json::json!({MANAGED_BY_KEY: MANAGED_BY_VALUE}),
            "2027-01-15T07:59:00Z",
        );
        let older_than = |secs| SweepOptions {
            older_than: Some(Duration::from_secs(secs)),
            ..SweepOptions::default()
        };
        assert!(matches!(
            verdict(&young, now, &older_than(3600), &BTreeSet::new()),
            Verdict::Keep(_)
        ));
        assert_eq!(
            verdict(&young, now, &older_than(30), &BTreeSet::new()),
            Verdict::Delete
        );
    }
}
