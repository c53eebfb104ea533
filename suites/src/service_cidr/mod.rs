//! "Extend Service IP Ranges" (https://kubernetes.io/docs/tasks/network/extend-service-ip-ranges/).
//!
//! The default ServiceCIDR and the `kubernetes` Service (`default`), exhausting the IPv4 range
//! (`exhaustion`), adding the docs' `newcidr1` (`expansion`), deleting it while Services hold its addresses
//! (`deletion_in_use`), its removal once they are gone (`release`), and the same finalizer behaviour without
//! exhausting anything (`explicit_ip`). The exhausting scenario is disruptive: it runs once per run (`walk`) with the allocator to itself; every trial
//! deletes its Services and waits for their addresses before it ends, so the range is whole again.
//!
//! The docs show `networking.k8s.io/v1alpha1` and the reason `OrphanIPAddress`; current clusters serve
//! `networking.k8s.io/v1` and set `Terminating` (upstream `ServiceCIDRReasonTerminating`,
//! pkg/controller/servicecidrs/servicecidrs_controller.go `sync`): both are doc findings, not failures.

mod api;
mod default;
mod exhaustion;
mod explicit_ip;
pub mod ranges;
mod walk;

pub use api::{FINALIZER, SUITE_LABEL, newcidr1_object, owned_labels, service_cidr_resource};

use k8s_openapi::api::networking::v1::ServiceCIDR;

use crate::deviations::{Breaks, Deviation};
use netconform::ctx::Ctx;
use netconform::failure::TrialError;
use netconform::preflight::Need;
use netconform::trial::TrialDef;

use walk::Step;

use crate::doc::DocFile;
use crate::doc_file;

const PAGE: &str = "https://kubernetes.io/docs/tasks/network/extend-service-ip-ranges/";
const NEWCIDR1: DocFile = doc_file!("inline/extend-service-ip-ranges/newcidr1.yaml");
const DOC_GET_SERVICECIDR: DocFile =
    doc_file!("doc-outputs/extend-service-ip-ranges/get-servicecidr.txt");
const DOC_GET_SERVICE_KUBERNETES: DocFile =
    doc_file!("doc-outputs/extend-service-ip-ranges/get-service-kubernetes.txt");
const DOC_GET_IPADDRESS: DocFile =
    doc_file!("doc-outputs/extend-service-ip-ranges/get-ipaddress.txt");
const DOC_CREATE_SERVICES_1_13: DocFile =
    doc_file!("doc-outputs/extend-service-ip-ranges/create-services-1-13.txt");
const DOC_CREATE_SERVICES_13_16: DocFile =
    doc_file!("doc-outputs/extend-service-ip-ranges/create-services-13-16.txt");
const DOC_NEWCIDR1_DELETING: DocFile =
    doc_file!("doc-outputs/extend-service-ip-ranges/get-servicecidr-newcidr1-yaml.txt");

/// Exhausting the range changes what every other trial's Services get: the allocator alone (trials that
/// hold no service address run alongside), on clusters that may be disturbed, with a range small enough
/// to fill.
const DISRUPTIVE: &[Need] = &[
    Need::ServiceCidrApi,
    Need::Disruptive,
    Need::SmallServiceRange,
    Need::ServiceAllocatorAlone,
];
const SHARED: &[Need] = &[Need::ServiceCidrApi];
/// The explicit-IP variant adds a ServiceCIDR the allocator would hand to other trials' Services. The docs'
/// `newcidr1` and the Services given addresses in it are IPv4: an IPv6-only cluster refuses them.
const ALLOCATOR_ALONE: &[Need] = &[
    Need::ServiceCidrApi,
    Need::ServiceAllocatorAlone,
    Need::Ipv4,
];

pub const TRIALS: &[TrialDef] = &[
    TrialDef {
        name: "service_cidr::default::cidrs_match_service_ranges",
        claim: "the apiserver creates a ServiceCIDR with the well-known name `kubernetes` whose range is the kube-apiserver's --service-cluster-ip-range",
        doc_url: PAGE,
        needs: SHARED,
        run: |ctx| Box::pin(default::cidrs_match_service_ranges(ctx)),
    },
    TrialDef {
        name: "service_cidr::default::kubernetes_service_first_address",
        claim: "the well-known `kubernetes` Service takes the first IP address of the default ServiceCIDR's range as its ClusterIP (10.96.0.1 for 10.96.0.0/28)",
        doc_url: PAGE,
        needs: SHARED,
        run: |ctx| Box::pin(default::kubernetes_service_first_address(ctx)),
    },
    TrialDef {
        name: "service_cidr::default::ipaddress_parent_ref",
        claim: "the `kubernetes` Service's ClusterIP has a matching IPAddress object whose PARENTREF is services/default/kubernetes",
        doc_url: PAGE,
        needs: SHARED,
        run: |ctx| Box::pin(default::ipaddress_parent_ref(ctx)),
    },
    TrialDef {
        name: "service_cidr::exhaustion::range_is_full",
        claim: "a 10.96.0.0/28 range offers only 14 IP addresses to Services; once they are taken, creating a ClusterIP Service fails with `failed to allocate a serviceIP: range is full`",
        doc_url: PAGE,
        needs: DISRUPTIVE,
        run: |ctx| Box::pin(walk::check(ctx, Step::RangeFull)),
    },
    TrialDef {
        name: "service_cidr::expansion::becomes_ready",
        claim: "adding a new ServiceCIDR (newcidr1) increases the addresses available to Services: it is accepted and becomes Ready",
        doc_url: PAGE,
        needs: DISRUPTIVE,
        run: |ctx| Box::pin(walk::check(ctx, Step::NewcidrReady)),
    },
    TrialDef {
        name: "service_cidr::expansion::allocates_from_new_range",
        claim: "after newcidr1 is added to a full range, new ClusterIP Services get addresses picked from the new range",
        doc_url: PAGE,
        needs: DISRUPTIVE,
        run: |ctx| Box::pin(walk::check(ctx, Step::AllocatesFromNew)),
    },
    TrialDef {
        name: "service_cidr::deletion_in_use::terminating_with_finalizer",
        claim: "a ServiceCIDR cannot be deleted while IP addresses depend on it: after `kubectl delete` it remains, with a deletionTimestamp and the finalizer networking.k8s.io/service-cidr-finalizer",
        doc_url: PAGE,
        needs: DISRUPTIVE,
        run: |ctx| Box::pin(walk::check(ctx, Step::TerminatingWithFinalizer)),
    },
    TrialDef {
        name: "service_cidr::deletion_in_use::ready_false_ips_remain",
        claim: "a ServiceCIDR whose deletion is blocked reports Ready=False with the message `There are still IPAddresses referencing the ServiceCIDR, please remove them or create a new ServiceCIDR`",
        doc_url: PAGE,
        needs: DISRUPTIVE,
        run: |ctx| Box::pin(walk::check(ctx, Step::ReadyFalse)),
    },
    TrialDef {
        name: "service_cidr::release::deleted_after_services",
        claim: "once the Services holding its IP addresses are deleted, the control plane removes the finalizer and the ServiceCIDR is deleted (NotFound)",
        doc_url: PAGE,
        needs: DISRUPTIVE,
        run: |ctx| Box::pin(walk::check(ctx, Step::Released)),
    },
    TrialDef {
        name: "service_cidr::explicit_ip::allocated_inside",
        claim: "a Service can take an explicit ClusterIP from an added ServiceCIDR, and the IPAddress object of that address names the Service as its parentRef",
        doc_url: PAGE,
        needs: ALLOCATOR_ALONE,
        run: |ctx| Box::pin(explicit_ip::allocated_inside(ctx)),
    },
    TrialDef {
        name: "service_cidr::explicit_ip::deletion_blocked",
        claim: "a ServiceCIDR whose address a Service holds is protected by the finalizer: deleted, it remains with a deletionTimestamp and Ready=False because IPAddresses still reference it",
        doc_url: PAGE,
        needs: ALLOCATOR_ALONE,
        run: |ctx| Box::pin(explicit_ip::deletion_blocked(ctx)),
    },
    TrialDef {
        name: "service_cidr::explicit_ip::released",
        claim: "after the Service holding its address is deleted, the control plane removes the finalizer and the deleted ServiceCIDR goes away",
        doc_url: PAGE,
        needs: ALLOCATOR_ALONE,
        run: |ctx| Box::pin(explicit_ip::released(ctx)),
    },
    TrialDef {
        name: "service_cidr::explicit_ip::covered_deleted_at_once",
        claim: "a ServiceCIDR whose IP addresses another ServiceCIDR contains is deleted at once: the finalizer goes (after the controller's grace period) although Services still hold its addresses (seed row [S4])",
        doc_url: PAGE,
        needs: ALLOCATOR_ALONE,
        run: |ctx| Box::pin(explicit_ip::covered_deleted_at_once(ctx)),
    },
];

/// The test double's deviations that must fail these trials: exactly these, no fewer and no more, each
/// over the whole suite (`tests/against_double.rs`).
pub const BREAKS: &[Breaks] = &[
    (
        Deviation::ServicecidrNoFinalizer,
        &[
            "service_cidr::deletion_in_use::terminating_with_finalizer",
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::explicit_ip::deletion_blocked",
            "service_cidr::explicit_ip::released",
            "service_cidr::release::deleted_after_services",
        ],
    ),
    (
        Deviation::ServicecidrIgnoredByAllocator,
        &[
            "service_cidr::expansion::allocates_from_new_range",
            "service_cidr::explicit_ip::allocated_inside",
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::deletion_in_use::terminating_with_finalizer",
            "service_cidr::explicit_ip::deletion_blocked",
            "service_cidr::explicit_ip::released",
            "service_cidr::release::deleted_after_services",
            "service_cidr::explicit_ip::covered_deleted_at_once",
        ],
    ),
    (
        Deviation::IpaddressWrongParentref,
        &[
            "service_cidr::default::ipaddress_parent_ref",
            "service_cidr::explicit_ip::allocated_inside",
            "service_cidr::explicit_ip::covered_deleted_at_once",
        ],
    ),
    (
        Deviation::ServicecidrDefaultStaleRange,
        &["service_cidr::default::cidrs_match_service_ranges"],
    ),
    (
        Deviation::KubernetesServiceNotFirstAddress,
        &["service_cidr::default::kubernetes_service_first_address"],
    ),
    (
        Deviation::RangeNeverFull,
        &[
            "service_cidr::exhaustion::range_is_full",
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::deletion_in_use::terminating_with_finalizer",
            "service_cidr::expansion::allocates_from_new_range",
            "service_cidr::expansion::becomes_ready",
            "service_cidr::release::deleted_after_services",
        ],
    ),
    (
        Deviation::ServicecidrNeverReady,
        &[
            "service_cidr::expansion::becomes_ready",
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::deletion_in_use::terminating_with_finalizer",
            "service_cidr::expansion::allocates_from_new_range",
            "service_cidr::explicit_ip::allocated_inside",
            "service_cidr::explicit_ip::deletion_blocked",
            "service_cidr::explicit_ip::released",
            "service_cidr::release::deleted_after_services",
            "service_cidr::explicit_ip::covered_deleted_at_once",
        ],
    ),
    (
        Deviation::ServicecidrTerminatingStaysReady,
        &[
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::explicit_ip::deletion_blocked",
            "service_cidr::explicit_ip::released",
            "service_cidr::release::deleted_after_services",
        ],
    ),
    (
        Deviation::ServicecidrNeverReleased,
        &[
            "service_cidr::release::deleted_after_services",
            "service_cidr::explicit_ip::released",
            "service_cidr::explicit_ip::covered_deleted_at_once",
        ],
    ),
    (
        Deviation::ServicecidrCoverIgnored,
        &[
            "service_cidr::explicit_ip::covered_deleted_at_once",
            "service_cidr::release::deleted_after_services",
        ],
    ),
    (
        Deviation::ServicecidrBlockedMessageShort,
        &[
            "service_cidr::deletion_in_use::ready_false_ips_remain",
            "service_cidr::explicit_ip::deletion_blocked",
            "service_cidr::release::deleted_after_services",
        ],
    ),
];

/// This attempt's newcidr1: `newcidr1-<scenario>-<check>-<namespace suffix>-<run id>`. Trials (and reruns
/// of one) never reuse one another's, as a deleted ServiceCIDR lingers ~10 s.
fn newcidr1_name(ctx: &Ctx) -> String {
    let check = ctx
        .trial()
        .name
        .split("::")
        .skip(1)
        .collect::<Vec<_>>()
        .join("-")
        .replace('_', "-");
    let attempt = ctx.namespace().rsplit('-').next().unwrap_or_default();
    ctx.cluster_scoped_name(&format!("newcidr1-{check}-{attempt}"))
}

/// A mismatch whose expected side carries the docs' excerpt, so doc and cluster show side by side.
fn mismatch_with_doc(what: &str, expected: &str, observed: &str, doc: &DocFile) -> TrialError {
    TrialError::Mismatch {
        what: what.to_string(),
        expected: format!("{expected}\n\n{}", doc.excerpt()),
        observed: observed.to_string(),
    }
}

/// The message the controller sets while IPAddresses block the deletion, whole, as the docs show it (seed row
/// [S9]; its YAML folds it over two lines) and as upstream writes it: pkg/controller/servicecidrs/
/// servicecidrs_controller.go `sync` (v1.37: `Message: "There are still IPAddresses referencing the
/// ServiceCIDR, please remove them or create a new ServiceCIDR"`).
const BLOCKED_MESSAGE: &str = "There are still IPAddresses referencing the ServiceCIDR, please remove them or create a new ServiceCIDR";
/// The reason current controllers set (`networkingv1.ServiceCIDRReasonTerminating`) and the docs' one.
const REASON_TERMINATING: &str = "Terminating";
const DOC_REASON: &str = "OrphanIPAddress";

/// The blocked deletion's condition: `Ready=False`, the controller's message, and a reason that is either
/// the docs' (old clusters) or upstream's current one (a doc finding).
fn check_blocked_condition(ctx: &Ctx, sc: &ServiceCIDR) -> Result<(), TrialError> {
    let name = sc.metadata.name.as_deref().unwrap_or("");
    let Some(ready) = api::ready_condition(sc) else {
        return Err(mismatch_with_doc(
            &format!("the Ready condition of ServiceCIDR {name}"),
            "Ready=False",
            "no Ready condition",
            &DOC_NEWCIDR1_DELETING,
        ));
    };
    let shown = format!(
        "Ready={} reason={:?} message={:?}",
        ready.status, ready.reason, ready.message
    );
    let message = ready
        .message
        .split_whitespace()
        .collect::<Vec<_>>()
        .join(" ");
    if ready.status != "False" || message != BLOCKED_MESSAGE {
        return Err(mismatch_with_doc(
            &format!("the Ready condition of ServiceCIDR {name} while its deletion is blocked"),
            &format!("Ready=False with the message `{BLOCKED_MESSAGE}`"),
            &shown,
            &DOC_NEWCIDR1_DELETING,
        ));
    }
    match ready.reason.as_str() {
        DOC_REASON => Ok(()),
        REASON_TERMINATING => {
            ctx.finding(
                format!("reason `{DOC_REASON}` for the blocked ServiceCIDR ({})", DOC_NEWCIDR1_DELETING.path),
                format!("reason `{REASON_TERMINATING}` (networkingv1.ServiceCIDRReasonTerminating, set by pkg/controller/servicecidrs)"),
            );
            Ok(())
        }
        other => Err(mismatch_with_doc(
            &format!("the reason of ServiceCIDR {name}'s Ready=False condition"),
            &format!("`{REASON_TERMINATING}` (current upstream) or `{DOC_REASON}` (the docs)"),
            other,
            &DOC_NEWCIDR1_DELETING,
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_trial_of_the_suite_is_named_and_disruptive_ones_have_the_allocator_alone() {
        for t in TRIALS {
            assert!(t.name.starts_with("service_cidr::"), "{}", t.name);
            assert!(t.needs.contains(&Need::ServiceCidrApi), "{}", t.name);
            if t.needs.contains(&Need::Disruptive) {
                assert!(
                    t.needs.contains(&Need::ServiceAllocatorAlone),
                    "{}: disruptive trials hold the whole address budget",
                    t.name
                );
            }
        }
        assert!(
            TRIALS
                .iter()
                .any(|t| !t.needs.contains(&Need::Disruptive) && t.name.contains("explicit_ip")),
            "a non-disruptive variant exists"
        );
    }

    #[test]
    fn newcidr1_keeps_the_docs_text_but_names_labels_and_range() {
        let obj = newcidr1_object("newcidr1-x-run1", "run1", "192.0.2.0/30").unwrap();
        assert_eq!(
            obj.types.as_ref().unwrap().api_version,
            "networking.k8s.io/v1alpha1"
        );
        assert_eq!(obj.metadata.name.as_deref(), Some("newcidr1-x-run1"));
        assert_eq!(
            obj.data["spec"]["cidrs"],
            serde_json::json!(["192.0.2.0/30"])
        );
        let labels = obj.metadata.labels.unwrap();
        assert_eq!(
            labels
                .get(netconform::labels::MANAGED_BY_KEY)
                .map(String::as_str),
            Some("netconform")
        );
        assert_eq!(
            labels
                .get(netconform::labels::RUN_ID_KEY)
                .map(String::as_str),
            Some("run1")
        );
        assert!(
            NEWCIDR1.text.contains("- 10.96.0.0/24"),
            "the manifest stays verbatim"
        );
    }
}
