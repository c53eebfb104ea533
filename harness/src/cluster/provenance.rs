//! Which clusters netconform made. A run that creates a kind cluster writes a marker into it, so that a later
//! run on the same cluster (one kept with `NETCONFORM_KEEP_CLUSTER=1`) knows it is netconform's own and may
//! disrupt it, as it would a cluster it just created. A cluster made by hand has no marker, and stays out of
//! reach of the disruptive trials unless `NETCONFORM_ALLOW_DISRUPTIVE=1`.
//!
//! The marker is the ConfigMap `kube-system/netconform-provenance`. It carries no `managed-by` label, so no
//! cleanup or sweep ever deletes it: it goes with the cluster. It records the UID of the cluster's
//! `kube-system` namespace, so a copy restored into another cluster (a backup of kube-system) marks nothing.

use std::collections::BTreeMap;

use k8s_openapi::api::core::v1::{ConfigMap, Namespace};
use kube::api::{ObjectMeta, PostParams};
use kube::{Api, Client};

use crate::error::HarnessError;

pub const MARKER_NAMESPACE: &str = "kube-system";
pub const MARKER_NAME: &str = "netconform-provenance";
const CREATED_BY_RUN: &str = "created-by-run";
const CLUSTER_UID: &str = "kube-system-uid";

/// A cluster netconform created, as its marker says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Provenance {
    /// The run that created the cluster.
    pub created_by_run: String,
}

fn api_error(context: &str, e: kube::Error) -> HarnessError {
    HarnessError::Api {
        context: context.to_string(),
        reason: e.to_string(),
    }
}

async fn cluster_uid(client: &Client) -> Result<String, HarnessError> {
    let ns = Api::<Namespace>::all(client.clone())
        .get(MARKER_NAMESPACE)
        .await
        .map_err(|e| api_error("get namespace kube-system", e))?;
    ns.metadata.uid.ok_or_else(|| HarnessError::Api {
        context: "get namespace kube-system".into(),
        reason: "the namespace has no uid".into(),
    })
}

/// The marker's data: what [`read`] accepts.
fn marker_data(run_id: &str, uid: &str) -> BTreeMap<String, String> {
    [
        (CREATED_BY_RUN.to_string(), run_id.to_string()),
        (CLUSTER_UID.to_string(), uid.to_string()),
    ]
    .into()
}

/// Marks the cluster run `run_id` has just created. A marker already there (a retried create) is kept.
pub async fn mark(client: &Client, run_id: &str) -> Result<(), HarnessError> {
    let uid = cluster_uid(client).await?;
    let marker = ConfigMap {
        metadata: ObjectMeta {
            name: Some(MARKER_NAME.into()),
            namespace: Some(MARKER_NAMESPACE.into()),
            ..Default::default()
        },
        data: Some(marker_data(run_id, &uid)),
        ..Default::default()
    };
    match Api::<ConfigMap>::namespaced(client.clone(), MARKER_NAMESPACE)
        .create(&PostParams::default(), &marker)
        .await
    {
        Ok(_) => Ok(()),
        Err(kube::Error::Api(status)) if status.code == 409 => Ok(()),
        Err(e) => Err(api_error(
            "create configmap kube-system/netconform-provenance",
            e,
        )),
    }
}

/// The cluster's marker, if netconform created it. `None` when there is no marker, or one that belongs to
/// another cluster.
pub async fn read(client: &Client) -> Result<Option<Provenance>, HarnessError> {
    let marker = Api::<ConfigMap>::namespaced(client.clone(), MARKER_NAMESPACE)
        .get_opt(MARKER_NAME)
        .await
        .map_err(|e| api_error("get configmap kube-system/netconform-provenance", e))?;
    let Some(data) = marker.and_then(|m| m.data) else {
        return Ok(None);
    };
    Ok(judge(&data, &cluster_uid(client).await?))
}

/// A marker counts only in the cluster whose `kube-system` it was written for.
fn judge(data: &BTreeMap<String, String>, uid: &str) -> Option<Provenance> {
    let run = data.get(CREATED_BY_RUN)?;
    (data.get(CLUSTER_UID).map(String::as_str) == Some(uid)).then(|| Provenance {
        created_by_run: run.clone(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_marker_counts_only_in_its_own_cluster() {
        let data = marker_data("run-1", "uid-a");
        assert_eq!(
            judge(&data, "uid-a"),
            Some(Provenance {
                created_by_run: "run-1".into()
            })
        );
        assert_eq!(judge(&data, "uid-b"), None, "a marker restored elsewhere");
        let mut no_uid = data.clone();
        no_uid.remove(CLUSTER_UID);
        assert_eq!(judge(&no_uid, "uid-a"), None, "a marker written by hand");
    }
}
