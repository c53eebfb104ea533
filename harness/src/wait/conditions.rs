//! Named conditions for [`super::Wait`]: what the suites await, said once. Any closure
//! `Fn(Option<&K>) -> Verdict` is a condition too (see [`Condition`]).
//!
//! upstream: kube-runtime's `wait::conditions` (`is_pod_running`, `is_deleted`), with a [`Verdict`] in place
//! of a bool so that a condition can end a wait early ([`Verdict::Hopeless`]).

use k8s_openapi::api::core::v1::{Pod, PodStatus};

use super::{Condition, Verdict};

/// The object exists.
pub fn exists<K>() -> impl Condition<K> {
    holds(|_: &K| true)
}

/// The object is gone (or was never there).
pub fn is_deleted<K>() -> impl Condition<K> {
    |obj: Option<&K>| match obj {
        None => Verdict::Done,
        Some(_) => Verdict::Pending,
    }
}

/// The object exists and `test` holds for it.
pub fn holds<K>(test: impl Fn(&K) -> bool) -> impl Condition<K> {
    move |obj: Option<&K>| match obj {
        Some(o) if test(o) => Verdict::Done,
        _ => Verdict::Pending,
    }
}

/// The pod is Running and Ready; hopeless once it has ended (Failed or Succeeded).
pub fn pod_running_and_ready() -> impl Condition<Pod> {
    pod_running_with(is_pod_ready)
}

/// The pod is Running and `test` holds for its status; hopeless once it has ended (Failed or Succeeded).
pub fn pod_running_with(test: impl Fn(&PodStatus) -> bool) -> impl Condition<Pod> {
    move |pod: Option<&Pod>| match pod.and_then(|p| p.status.as_ref()) {
        Some(s) => match s.phase.as_deref() {
            Some(ended @ ("Failed" | "Succeeded")) => {
                Verdict::Hopeless(format!("the pod ended in phase {ended}"))
            }
            Some("Running") if test(s) => Verdict::Done,
            _ => Verdict::Pending,
        },
        None => Verdict::Pending,
    }
}

/// The pod reached `phase`; hopeless once it has ended in another phase.
pub fn pod_phase(phase: &'static str) -> impl Condition<Pod> {
    move |pod: Option<&Pod>| match pod
        .and_then(|p| p.status.as_ref())
        .and_then(|s| s.phase.as_deref())
    {
        Some(p) if p == phase => Verdict::Done,
        Some(ended @ ("Failed" | "Succeeded")) => {
            Verdict::Hopeless(format!("the pod ended in phase {ended}"))
        }
        _ => Verdict::Pending,
    }
}

/// The pod's `Ready` condition is `True`.
pub fn is_pod_ready(status: &PodStatus) -> bool {
    status
        .conditions
        .iter()
        .flatten()
        .any(|c| c.type_ == "Ready" && c.status == "True")
}

/// No object is left (for [`super::Wait::until_all`]).
pub fn none_left<K>(objects: &[K]) -> Verdict {
    if objects.is_empty() {
        Verdict::Done
    } else {
        Verdict::Pending
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn pod(phase: &str, ready: bool) -> Pod {
        serde_json::from_value(serde_json::json!({
            "metadata": {"name": "p"},
            "status": {"phase": phase, "conditions": [{"type": "Ready", "status": if ready { "True" } else { "False" }}]}
        }))
        .unwrap()
    }

    fn done(v: Verdict) -> &'static str {
        match v {
            Verdict::Done => "done",
            Verdict::Pending => "pending",
            Verdict::Hopeless(_) => "hopeless",
        }
    }

    #[test]
    fn pod_conditions() {
        let ready = pod_running_and_ready();
        assert_eq!(done(ready.verdict(Some(&pod("Running", true)))), "done");
        assert_eq!(done(ready.verdict(Some(&pod("Running", false)))), "pending");
        assert_eq!(done(ready.verdict(Some(&pod("Pending", true)))), "pending");
        assert_eq!(done(ready.verdict(Some(&pod("Failed", false)))), "hopeless");
        assert_eq!(done(ready.verdict(None)), "pending");
        let succeeded = pod_phase("Succeeded");
        assert_eq!(
            done(succeeded.verdict(Some(&pod("Succeeded", false)))),
            "done"
        );
        assert_eq!(
            done(succeeded.verdict(Some(&pod("Failed", false)))),
            "hopeless"
        );
        assert_eq!(
            done(succeeded.verdict(Some(&pod("Running", true)))),
            "pending"
        );
    }

    #[test]
    fn existence_conditions() {
        let p = pod("Running", true);
        assert_eq!(done(exists::<Pod>().verdict(Some(&p))), "done");
        assert_eq!(done(exists::<Pod>().verdict(None)), "pending");
        assert_eq!(done(is_deleted::<Pod>().verdict(None)), "done");
        assert_eq!(done(is_deleted::<Pod>().verdict(Some(&p))), "pending");
        assert_eq!(done(none_left::<Pod>(&[])), "done");
        assert_eq!(done(none_left(&[p])), "pending");
    }
}
