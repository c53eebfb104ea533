//! Pod to pod across nodes, per IP family, without NAT ("The Kubernetes network model": pods can
//! communicate with all other pods on any other node without NAT), as upstream's e2e checks it
//! (test/e2e/network/dual_stack.go "should be able to reach pod on ipv4 and ipv6 ip"): an agnhost
//! `netexec` backend on one node, a busybox client on another, HTTP from the client to the backend's pod IP.
//!
//! The backend answers `/hostname` with its hostname (the pod name) and `/clientip` with the address the
//! connection came from: the client's pod IP of that family when nothing translates the source.
//! upstream: test/images/agnhost/netexec/netexec.go (`hostnameHandler`, `clientIPHandler`).

use crate::deviations::{Breaks, Deviation};
use crate::family::trials;
use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::ipfamily::IpFamily;
use netconform::preflight::Need;
use netconform::trial::TrialDef;

use crate::shared::probe::{check_answers_without_nat, start_pair};

const NETWORK_MODEL_PAGE: &str =
    "https://kubernetes.io/docs/concepts/cluster-administration/networking/";

pub const TRIALS: &[TrialDef] = trials![per_family {
    name: "connectivity::pod_to_pod",
    claim: [
        "pods can communicate with all other pods on any other node without NAT: a pod reaches a pod on another node at its ",
        " address and is seen with its own ",
        " address",
    ],
    doc_url: NETWORK_MODEL_PAGE,
    needs: [Need::SchedulableNodes(2)],
    run: pod_to_pod,
}];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::PodToPodIpv6Dropped,
        &["connectivity::pod_to_pod::ipv6"],
    ),
    (
        Deviation::PodToPodMasquerade,
        &[
            "connectivity::pod_to_pod::ipv4",
            "connectivity::pod_to_pod::ipv6",
        ],
    ),
];

async fn pod_to_pod(ctx: Ctx, family: IpFamily) -> Result<(), TrialError> {
    let pair = start_pair(&ctx, "client", "backend", &[("app", "backend")], 80).await?;
    let target = pair.backend.ip(family)?;
    check_answers_without_nat(&ctx, &pair, &target, 80, family).await
}
