//! "DNS for Services and Pods" (https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/)
//! and "Debugging DNS Resolution" (https://kubernetes.io/docs/tasks/administer-cluster/dns-debugging-resolution/),
//! as the seeds tell them (001: DNS records, Pod DNS policy and config; 004: `busybox.yaml` with
//! `busybox:1.28`, `nslookup kubernetes.default`, `nslookup <svc>.<ns>`).
//!
//! Records are checked against the Kubernetes DNS-Based Service Discovery spec (kubernetes/dns
//! docs/specification.md) as CoreDNS's `kubernetes` plugin serves it; resolv.conf against what the
//! kubelet computes (upstream: pkg/kubelet/network/dns/dns.go `GetPodDNS`).
//!
//! Lookups use the docs' image, `busybox:1.28`, for the docs' claims. A current busybox (1.36.1) is
//! used where 1.28 cannot ask (SRV, telling NXDOMAIN from SERVFAIL) and to show that it does not apply
//! the search list to names with a dot. Success is read from the printed answers, never from the exit
//! status (1.36 exits 1 when any of its A/AAAA queries fails).

pub mod beyond;
pub mod busybox;
mod cluster;
mod lookup;
pub mod pods;
pub mod resolv;
mod scene;
pub mod services;
pub mod validation;

use k8s_openapi::api::core::v1::Pod;
use serde_json::json;

use netconform::ctx::Ctx;
use netconform::failure::TrialError;

use crate::doc::DocFile;
use crate::doc_file;
use crate::pods::from_json;

pub(crate) const DNS_PAGE: &str =
    "https://kubernetes.io/docs/concepts/services-networking/dns-pod-service/";
pub(crate) const DEBUGGING_PAGE: &str =
    "https://kubernetes.io/docs/tasks/administer-cluster/dns-debugging-resolution/";

/// The docs' `busybox.yaml` (pod `busybox`, container `busybox`, `busybox:1.28`, `sleep 3600`).
pub(crate) const BUSYBOX_YAML: DocFile = doc_file!("admin/dns/busybox.yaml");
/// A current busybox, whose `nslookup` is the LEDE/OpenWRT applet (query types, RCODEs).
pub(crate) const CURRENT_BUSYBOX: &str = "busybox:1.36.1";

/// `kubectl create -f busybox.yaml`, in the trial's namespace: the manifest names `default`, which is
/// dropped so the pod lands where the trial's objects are. Waits until it runs.
pub(crate) async fn docs_busybox(ctx: &Ctx) -> Result<Pod, TrialError> {
    let mut pod: Pod = BUSYBOX_YAML.object()?;
    pod.metadata.namespace = None;
    ctx.create(&pod).await?;
    ctx.wait_pod_running("busybox").await
}

/// `kubectl run NAME --image IMAGE -- sleep 3600`: a pod to exec lookups in.
pub(crate) fn sleeper(name: &str, image: &str) -> Result<Pod, TrialError> {
    from_json(json!({
        "apiVersion": "v1",
        "kind": "Pod",
        "metadata": { "name": name, "labels": { "run": name } },
        "spec": { "containers": [ { "name": name, "image": image, "command": ["sleep", "3600"] } ] }
    }))
}

/// Creates [`sleeper`] and waits until it runs.
pub(crate) async fn run_sleeper(ctx: &Ctx, name: &str, image: &str) -> Result<Pod, TrialError> {
    ctx.create(&sleeper(name, image)?).await?;
    ctx.wait_pod_running(name).await
}
