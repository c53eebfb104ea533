//! `netconform sweep`: deletes what earlier (interrupted) runs left behind — namespaces and cluster-scoped
//! objects carrying `app.kubernetes.io/managed-by=netconform`, and nothing else.
//!
//! The label selector goes to the server, and every object is checked again here before it is deleted, so
//! an object without our label is never touched even if a server ignored the selector.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use kube::api::{Api, ApiResource, DeleteParams, DynamicObject, GroupVersionKind, ListParams};
use kube::{Client, ResourceExt};

use crate::error::HarnessError;
use crate::labels::{MANAGED_BY_KEY, MANAGED_BY_VALUE, RUN_ID_KEY, managed_selector};

/// Cluster-scoped kinds the suites create. Namespaced objects go with their namespace.
/// (group, version, kind, plural)
pub const SWEPT_KINDS: &[(&str, &str, &str, &str)] = &[
    ("", "v1", "Namespace", "namespaces"),
    ("networking.k8s.io", "v1", "ServiceCIDR", "servicecidrs"),
];

/// How old a labelled object of another run must be before a run's opening sweep deletes it. Generous, so
/// a run never deletes what a concurrent run against the same cluster is still using.
pub const LEFTOVER_AGE: Duration = Duration::from_secs(60 * 60);

/// What a sweep deleted.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SweepReport {
    /// `Namespace nc-hosts-r1a2b3` ...
    pub deleted: Vec<String>,
    /// Labelled objects left alone (too young, or the excluded run), with why.
    pub kept: Vec<String>,
    /// Kinds the server does not serve (e.g. ServiceCIDR before v1.33).
    pub not_served: Vec<String>,
}

/// Deletes every labelled namespace and cluster-scoped object, except those younger than `older_than` or
/// belonging to `exclude_run` (the run in progress).
pub async fn sweep(
    client: &Client,
    older_than: Option<Duration>,
    exclude_run: Option<&str>,
) -> Result<SweepReport, HarnessError> {
    let mut report = SweepReport::default();
    let now = SystemTime::now();
    for (group, version, kind, plural) in SWEPT_KINDS {
        let resource =
            ApiResource::from_gvk_with_plural(&GroupVersionKind::gvk(group, version, kind), plural);
        let api: Api<DynamicObject> = Api::all_with(client.clone(), &resource);
        let listed = match api
            .list(&ListParams::default().labels(&managed_selector()))
            .await
        {
            Ok(list) => list.items,
            Err(kube::Error::Api(status)) if status.code == 404 => {
                report
                    .not_served
                    .push(format!("{kind} ({})", resource.api_version));
                continue;
            }
            Err(e) => {
                return Err(HarnessError::api(
                    format!("listing {plural} labelled {}", managed_selector()),
                    &e,
                ));
            }
        };
        for object in listed {
            let name = object.name_any();
            match verdict(&object, now, older_than, exclude_run) {
                Verdict::NotOurs => continue,
                Verdict::Keep(why) => report.kept.push(format!("{kind} {name} ({why})")),
                Verdict::Delete => match api.delete(&name, &DeleteParams::background()).await {
                    Ok(_) => report.deleted.push(format!("{kind} {name}")),
                    // Already gone (another sweep, or the run's own cleanup): nothing to do.
                    Err(kube::Error::Api(status)) if status.code == 404 => {}
                    Err(e) => return Err(HarnessError::api(format!("deleting {kind} {name}"), &e)),
                },
            }
        }
    }
    Ok(report)
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
    older_than: Option<Duration>,
    exclude_run: Option<&str>,
) -> Verdict {
    let labels = object.labels();
    if labels.get(MANAGED_BY_KEY).map(String::as_str) != Some(MANAGED_BY_VALUE) {
        return Verdict::NotOurs;
    }
    if let Some(run) = exclude_run
        && labels.get(RUN_ID_KEY).map(String::as_str) == Some(run)
    {
        return Verdict::Keep(format!("run {run} is in progress"));
    }
    if let Some(min_age) = older_than {
        let created = object
            .metadata
            .creation_timestamp
            .as_ref()
            .map(|t| t.0.as_second());
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
        assert_eq!(verdict(&ours, now, None, None), Verdict::Delete);
        assert_eq!(verdict(&ours, now, None, Some("other")), Verdict::Delete);
        assert!(matches!(
            verdict(&ours, now, None, Some("old")),
            Verdict::Keep(_)
        ));

        let theirs = object(
            serde_json::json!({MANAGED_BY_KEY: "helm"}),
            "2026-01-01T00:00:00Z",
        );
        assert_eq!(verdict(&theirs, now, None, None), Verdict::NotOurs);
        let unlabelled = object(serde_json::json!({}), "2026-01-01T00:00:00Z");
        assert_eq!(verdict(&unlabelled, now, None, None), Verdict::NotOurs);
    }

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

        let report = sweep(&client, None, Some("now")).await.unwrap();
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
    fn young_objects_are_kept() {
        // 1_800_000_000 is 2027-01-15T08:00:00Z.
        let now = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let young = object(
            serde_json::json!({MANAGED_BY_KEY: MANAGED_BY_VALUE}),
            "2027-01-15T07:59:00Z",
        );
        assert!(matches!(
            verdict(&young, now, Some(Duration::from_secs(3600)), None),
            Verdict::Keep(_)
        ));
        assert_eq!(
            verdict(&young, now, Some(Duration::from_secs(30)), None),
            Verdict::Delete
        );
    }
}
