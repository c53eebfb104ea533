//! The resource types the test double serves: group/version, kind, plural, scope, verbs, subresources.
//!
//! One table drives discovery (`/api/v1`, `/apis/<group>/<version>`), routing and the store's
//! per-resource behaviour (status subresource, generation tracking).

/// One served resource (a row of upstream's `APIResourceList`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ResourceDef {
    /// API group; `""` for the core (legacy) group.
    pub group: &'static str,
    pub version: &'static str,
    pub kind: &'static str,
    pub plural: &'static str,
    pub singular: &'static str,
    pub short_names: &'static [&'static str],
    pub namespaced: bool,
    pub verbs: &'static [&'static str],
    /// Subresources beside `status` that are served (`log`, `exec`).
    pub subresources: &'static [&'static str],
    /// Whether `/status` exists: `update` keeps the stored status, `update_status` changes only status.
    pub has_status: bool,
    /// Whether `metadata.generation` is set on create and bumped when `spec` changes.
    pub tracks_generation: bool,
    /// Whether DELETE answers with the deleted object instead of a `Status` (upstream `ReturnDeletedObject`).
    pub returns_deleted_object: bool,
}

impl ResourceDef {
    /// `v1` or `networking.k8s.io/v1`.
    pub fn api_version(&self) -> String {
        if self.group.is_empty() {
            self.version.to_string()
        } else {
            format!("{}/{}", self.group, self.version)
        }
    }

    /// `/api/v1` or `/apis/networking.k8s.io/v1`.
    pub fn group_version_path(&self) -> String {
        if self.group.is_empty() {
            format!("/api/{}", self.version)
        } else {
            format!("/apis/{}/{}", self.group, self.version)
        }
    }

    /// `<Kind>List`.
    pub fn list_kind(&self) -> String {
        format!("{}List", self.kind)
    }
}

const ALL_VERBS: &[&str] = &[
    "create",
    "delete",
    "deletecollection",
    "get",
    "list",
    "patch",
    "update",
    "watch",
];
const NO_COLLECTION_DELETE: &[&str] = &[
    "create", "delete", "get", "list", "patch", "update", "watch",
];

const fn def(
    group: &'static str,
    kind: &'static str,
    plural: &'static str,
    singular: &'static str,
    short_names: &'static [&'static str],
    namespaced: bool,
) -> ResourceDef {
    ResourceDef {
        group,
        version: "v1",
        kind,
        plural,
        singular,
        short_names,
        namespaced,
        verbs: ALL_VERBS,
        subresources: &[],
        has_status: false,
        tracks_generation: false,
        returns_deleted_object: false,
    }
}

/// Every served resource. Plurals are unique across groups (see DOUBLE_API.md).
/// Verbs and short names as upstream's discovery lists them for v1.33.
pub static RESOURCES: &[ResourceDef] = &[
    // upstream: pkg/registry/core/namespace/storage (ReturnDeletedObject: true, no deletecollection)
    ResourceDef {
        has_status: true,
        returns_deleted_object: true,
        verbs: NO_COLLECTION_DELETE,
        ..def("", "Namespace", "namespaces", "namespace", &["ns"], false)
    },
    ResourceDef {
        has_status: true,
        ..def("", "Node", "nodes", "node", &["no"], false)
    },
    ResourceDef {
        has_status: true,
        subresources: &["log", "exec"],
        ..def("", "Pod", "pods", "pod", &["po"], true)
    },
    // upstream: pkg/registry/core/service/storage (ReturnDeletedObject: true, no deletecollection)
    ResourceDef {
        has_status: true,
        returns_deleted_object: true,
        verbs: NO_COLLECTION_DELETE,
        ..def("", "Service", "services", "service", &["svc"], true)
    },
    def("", "Endpoints", "endpoints", "endpoints", &["ep"], true),
    def("", "Event", "events", "event", &["ev"], true),
    def("", "ConfigMap", "configmaps", "configmap", &["cm"], true),
    def(
        "",
        "ServiceAccount",
        "serviceaccounts",
        "serviceaccount",
        &["sa"],
        true,
    ),
    // upstream: pkg/registry/apps/{deployment,replicaset,daemonset}/storage (status subresources; the
    // `scale` subresource of deployments and replicasets is not served by the double)
    ResourceDef {
        has_status: true,
        tracks_generation: true,
        ..def(
            "apps",
            "Deployment",
            "deployments",
            "deployment",
            &["deploy"],
            true,
        )
    },
    ResourceDef {
        has_status: true,
        tracks_generation: true,
        ..def(
            "apps",
            "ReplicaSet",
            "replicasets",
            "replicaset",
            &["rs"],
            true,
        )
    },
    ResourceDef {
        has_status: true,
        tracks_generation: true,
        ..def(
            "apps",
            "DaemonSet",
            "daemonsets",
            "daemonset",
            &["ds"],
            true,
        )
    },
    def(
        "discovery.k8s.io",
        "EndpointSlice",
        "endpointslices",
        "endpointslice",
        &[],
        true,
    ),
    // upstream: pkg/registry/coordination/lease (what netconform's runs hold while they are live)
    def("coordination.k8s.io", "Lease", "leases", "lease", &[], true),
    ResourceDef {
        has_status: true,
        tracks_generation: true,
        ..def(
            "networking.k8s.io",
            "ServiceCIDR",
            "servicecidrs",
            "servicecidr",
            &[],
            false,
        )
    },
    def(
        "networking.k8s.io",
        "IPAddress",
        "ipaddresses",
        "ipaddress",
        &["ip"],
        false,
    ),
    ResourceDef {
        tracks_generation: true,
        ..def(
            "networking.k8s.io",
            "NetworkPolicy",
            "networkpolicies",
            "networkpolicy",
            &["netpol"],
            true,
        )
    },
];

/// The resource with this plural, if served.
pub fn find(plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES.iter().find(|r| r.plural == plural)
}

/// The resource of `group`/`version` with this plural.
pub fn find_in(group: &str, version: &str, plural: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.group == group && r.version == version && r.plural == plural)
}

/// The resource of an `apiVersion` + `kind` pair (e.g. from a manifest).
pub fn find_kind(api_version: &str, kind: &str) -> Option<&'static ResourceDef> {
    RESOURCES
        .iter()
        .find(|r| r.api_version() == api_version && r.kind == kind)
}

/// Served API groups other than core, in discovery order, with their versions.
pub fn groups() -> Vec<(&'static str, &'static str)> {
    let mut out: Vec<(&'static str, &'static str)> = Vec::new();
    for r in RESOURCES.iter().filter(|r| !r.group.is_empty()) {
        if !out.contains(&(r.group, r.version)) {
            out.push((r.group, r.version));
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plurals_are_unique() {
        for (i, a) in RESOURCES.iter().enumerate() {
            for b in &RESOURCES[i + 1..] {
                assert_ne!(a.plural, b.plural);
            }
        }
    }

    #[test]
    fn lookups() {
        assert_eq!(
            find("servicecidrs").map(|r| r.api_version()),
            Some("networking.k8s.io/v1".to_string())
        );
        assert_eq!(find_kind("v1", "Pod").map(|r| r.plural), Some("pods"));
        assert_eq!(
            groups(),
            vec![
                ("apps", "v1"),
                ("discovery.k8s.io", "v1"),
                ("coordination.k8s.io", "v1"),
                ("networking.k8s.io", "v1")
            ]
        );
        assert_eq!(
            find_kind("apps/v1", "Deployment").map(|r| r.plural),
            Some("deployments")
        );
    }
}
