//! The cluster's nodes, for every suite that reads them.

use k8s_openapi::api::core::v1::Node;
use kube::api::{Api, ListParams};

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::retry::retrying;

/// Every node of the cluster (`kubectl get nodes`).
pub(crate) async fn list_nodes(ctx: &Ctx) -> Result<Vec<Node>, TrialError> {
    let api: Api<Node> = Api::all(ctx.client());
    let params = ListParams::default();
    let list = retrying(|| api.list(&params))
        .await
        .map_err(TrialError::api("listing nodes"))?;
    Ok(list.items)
}
