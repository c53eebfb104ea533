//! Services as the docs create and read them (`kubectl apply`, `kubectl get svc -o yaml`), for every suite
//! that creates one.

use k8s_openapi::api::core::v1::Service;
use kube::api::Api;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::retry::retrying;

use crate::doc::DocFile;
use crate::doc_file;

/// The dual-stack page's `PreferDualStack` Service; the connectivity suite probes it too.
pub(crate) const PREFERRED_SVC: DocFile =
    doc_file!("service/networking/dual-stack-preferred-svc.yaml");

/// The default `--service-node-port-range` (upstream pkg/registry/core/service/portallocator; kind sets
/// none), which every nodePort the control plane allocates falls in.
pub(crate) const DEFAULT_NODE_PORT_RANGE: std::ops::RangeInclusive<i32> = 30000..=32767;

/// `spec` fields of a Service as the docs name them.
pub(crate) struct SvcView {
    pub policy: Option<String>,
    pub families: Vec<String>,
    pub cluster_ip: Option<String>,
    pub cluster_ips: Vec<String>,
}

impl SvcView {
    pub fn of(svc: &Service) -> SvcView {
        let spec = svc.spec.clone().unwrap_or_default();
        SvcView {
            policy: spec.ip_family_policy,
            families: spec.ip_families.unwrap_or_default(),
            cluster_ip: spec.cluster_ip,
            cluster_ips: spec.cluster_ips.unwrap_or_default(),
        }
    }

    /// The fields, one per line, as `kubectl get svc -o yaml` names them.
    pub fn describe(&self) -> String {
        format!(
            "ipFamilyPolicy: {}\nipFamilies: [{}]\nclusterIP: {}\nclusterIPs: [{}]",
            self.policy.as_deref().unwrap_or("(unset)"),
            self.families.join(", "),
            self.cluster_ip.as_deref().unwrap_or("(unset)"),
            self.cluster_ips.join(", ")
        )
    }
}

/// Reads a Service of the trial's namespace (`kubectl get svc NAME -o yaml`).
pub(crate) async fn get_service(ctx: &Ctx, name: &str) -> Result<Service, TrialError> {
    let api: Api<Service> = ctx.api();
    retrying(|| api.get(name))
        .await
        .map_err(TrialError::api(format!("reading service {name}")))
}

/// Creates `svc` and reads it back, as the docs do with `kubectl apply` then `kubectl get svc -o yaml`.
pub(crate) async fn create_service(ctx: &Ctx, svc: &Service) -> Result<Service, TrialError> {
    let created = ctx.create(svc).await?;
    let name = created.metadata.name.clone().unwrap_or_default();
    let read = get_service(ctx, &name).await?;
    ctx.log(format!(
        "service {name}:\n{}",
        SvcView::of(&read).describe()
    ));
    Ok(read)
}
