//! Object metadata as the generic registry sets it: names and namespaces checked, uid, creationTimestamp,
//! resourceVersion and generation, status updates that keep the spec, finalizers and deletion marks.
//! upstream: staging/src/k8s.io/apiserver/pkg/registry/rest/create.go and update.go (BeforeCreate,
//! BeforeUpdate), staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go.

use rand::Rng;
use serde_json::{Map, Value, json};

use crate::Object;
use crate::api_error::{ApiError, Cause};
use crate::resources::ResourceDef;

pub(crate) fn metadata_mut(obj: &mut Object) -> Result<&mut Map<String, Value>, ApiError> {
    let Some(map) = obj.as_object_mut() else {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format",
        ));
    };
    let meta = map.entry("metadata").or_insert_with(|| json!({}));
    if meta.is_null() {
        *meta = json!({});
    }
    meta.as_object_mut()
        .ok_or_else(|| ApiError::bad_request("metadata must be an object"))
}

/// The namespace the object lives in (None for cluster-scoped), reconciling URL and body.
/// A string field of `metadata`, empty when absent.
pub(crate) fn meta_str(meta: &serde_json::Map<String, Value>, field: &str) -> String {
    meta.get(field)
        .and_then(Value::as_str)
        .unwrap_or("")
        .to_string()
}

/// upstream: staging/src/k8s.io/apiserver/pkg/registry/rest/create.go (BeforeCreate: a name is required).
pub(crate) fn name_required(def: &ResourceDef) -> ApiError {
    ApiError::invalid(
        &qualified_kind(def),
        "",
        vec![Cause::required(
            "metadata.name",
            "name or generateName is required",
        )],
    )
}

pub(crate) fn scope_namespace(
    def: &ResourceDef,
    namespace: Option<&str>,
    meta: &mut Map<String, Value>,
) -> Result<Option<String>, ApiError> {
    if !def.namespaced {
        meta.remove("namespace");
        return Ok(None);
    }
    let in_body = meta_str(meta, "namespace");
    let ns = match (namespace.filter(|n| !n.is_empty()), in_body.is_empty()) {
        (Some(url), false) if url != in_body => {
            // upstream: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/rest.go (EnsureObjectNamespaceMatchesRequestNamespace)
            return Err(ApiError::bad_request(
                "the namespace of the provided object does not match the namespace sent on the request",
            ));
        }
        (Some(url), _) => url.to_string(),
        (None, false) => in_body,
        (None, true) => "default".to_string(),
    };
    meta.insert("namespace".into(), json!(ns));
    Ok(Some(ns))
}

pub(crate) fn set_type_meta(def: &ResourceDef, obj: &mut Object) {
    if let Some(map) = obj.as_object_mut() {
        map.insert("apiVersion".into(), json!(def.api_version()));
        map.insert("kind".into(), json!(def.kind));
    }
}

/// Per-resource `PrepareForCreate`: server-owned fields a client cannot set on create.
pub(crate) fn prepare_for_create(def: &ResourceDef, obj: &mut Object) {
    match def.plural {
        // upstream: pkg/registry/core/pod/strategy.go PrepareForCreate
        "pods" => obj["status"] = json!({"phase": "Pending", "qosClass": "BestEffort"}),
        // upstream: pkg/registry/core/service/strategy.go PrepareForCreate
        "services" => obj["status"] = json!({"loadBalancer": {}}),
        // upstream: pkg/registry/networking/servicecidr/strategy.go PrepareForCreate
        "servicecidrs" => obj["status"] = json!({}),
        // upstream: pkg/registry/core/namespace/strategy.go PrepareForCreate (+ metadata.name label)
        "namespaces" => {
            obj["status"] = json!({"phase": "Active"});
            let name = obj["metadata"]["name"].clone();
            obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = name;
            let mut spec_finalizers: Vec<Value> = obj["spec"]["finalizers"]
                .as_array()
                .cloned()
                .unwrap_or_default();
            if !spec_finalizers.contains(&json!("kubernetes")) {
                spec_finalizers.push(json!("kubernetes"));
            }
            obj["spec"]["finalizers"] = json!(spec_finalizers);
        }
        _ => {}
    }
    if def.tracks_generation {
        obj["metadata"]["generation"] = json!(1);
    }
}

/// `BeforeUpdate` + per-resource `PrepareForUpdate`: immutable metadata from the stored object,
/// stored status kept, generation bumped on spec changes, no new finalizers while deleting.
pub(crate) fn prepare_for_update(
    def: &ResourceDef,
    old: &Object,
    mut obj: Object,
) -> Result<Object, ApiError> {
    for field in [
        "uid",
        "creationTimestamp",
        "deletionTimestamp",
        "deletionGracePeriodSeconds",
        "generation",
    ] {
        match old["metadata"].get(field) {
            Some(v) => obj["metadata"][field] = v.clone(),
            None => {
                if let Some(m) = obj["metadata"].as_object_mut() {
                    m.remove(field);
                }
            }
        }
    }
    obj["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"].clone();
    if def.has_status {
        match old.get("status") {
            Some(status) => obj["status"] = status.clone(),
            None => {
                if let Some(m) = obj.as_object_mut() {
                    m.remove("status");
                }
            }
        }
    }
    if def.plural == "namespaces" {
        // Spec finalizers change only through /finalize. upstream: pkg/registry/core/namespace/strategy.go
        obj["spec"] = old["spec"].clone();
        obj["metadata"]["labels"]["kubernetes.io/metadata.name"] = old["metadata"]["name"].clone();
    }
    if def.tracks_generation && obj.get("spec") != old.get("spec") {
        let generation = old["metadata"]["generation"].as_i64().unwrap_or(1);
        obj["metadata"]["generation"] = json!(generation + 1);
    }
    if !old["metadata"]["deletionTimestamp"].is_null() {
        // upstream: staging/src/k8s.io/apiserver/pkg/registry/rest/update.go (BeforeUpdate)
        let old_finalizers = finalizers(old);
        if finalizers(&obj).iter().any(|f| !old_finalizers.contains(f)) {
            let name = old["metadata"]["name"].as_str().unwrap_or("");
            return Err(ApiError::invalid(
                &qualified_kind(def),
                name,
                vec![Cause::forbidden(
                    "metadata.finalizers",
                    "no new finalizers can be added if the object is being deleted",
                )],
            ));
        }
    }
    Ok(obj)
}

/// Status updates change only `status`. upstream: ResetObjectMetaForStatus in
/// staging/src/k8s.io/apiserver/pkg/registry/rest/update.go and the *StatusStrategy PrepareForUpdate.
pub(crate) fn prepare_for_status_update(old: &Object, incoming: &Object) -> Object {
    let mut obj = old.clone();
    match incoming.get("status") {
        Some(status) => obj["status"] = status.clone(),
        None => {
            if let Some(m) = obj.as_object_mut() {
                m.remove("status");
            }
        }
    }
    obj
}

pub(crate) fn mark_deleted(obj: &mut Object, revision: u64) {
    obj["metadata"]["deletionTimestamp"] = json!(crate::model::time::now());
    obj["metadata"]["deletionGracePeriodSeconds"] = json!(0);
    set_resource_version(obj, revision);
}

pub(crate) fn set_resource_version(obj: &mut Object, revision: u64) {
    obj["metadata"]["resourceVersion"] = json!(revision.to_string());
}

pub(crate) fn owner_uids(obj: &Object) -> Vec<String> {
    obj["metadata"]["ownerReferences"]
        .as_array()
        .map(|refs| {
            refs.iter()
                .filter_map(|r| r["uid"].as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

pub(crate) fn finalizers(obj: &Object) -> Vec<String> {
    obj["metadata"]["finalizers"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f.as_str().map(str::to_string))
                .collect()
        })
        .unwrap_or_default()
}

/// A namespace's `spec.finalizers` (only `kubernetes`, removed once its content is gone).
pub(crate) fn has_spec_finalizers(obj: &Object) -> bool {
    obj["kind"] == "Namespace"
        && obj["spec"]["finalizers"]
            .as_array()
            .is_some_and(|a| !a.is_empty())
}

/// `Kind` for the core group, `Kind.group` otherwise (as upstream's qualified kind in Invalid errors).
pub fn qualified_kind(def: &ResourceDef) -> String {
    if def.group.is_empty() {
        def.kind.to_string()
    } else {
        format!("{}.{}", def.kind, def.group)
    }
}

/// The `metadata.resourceVersion` of an object as a number.
pub fn resource_version_of(obj: &Object) -> Option<u64> {
    obj["metadata"]["resourceVersion"]
        .as_str()
        .and_then(|rv| rv.parse().ok())
}

pub(crate) fn random_suffix() -> String {
    // upstream alphabet: bcdfghjklmnpqrstvwxz2456789 (no vowels, no confusable digits)
    const ALPHABET: &[u8] = b"bcdfghjklmnpqrstvwxz2456789";
    let mut rng = rand::rng();
    (0..5)
        .map(|_| ALPHABET[rng.random_range(0..ALPHABET.len())] as char)
        .collect()
}

/// A random RFC 4122 version-4 UUID.
pub fn new_uid() -> String {
    let mut bytes: [u8; 16] = rand::rng().random();
    bytes[6] = (bytes[6] & 0x0f) | 0x40;
    bytes[8] = (bytes[8] & 0x3f) | 0x80;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{}-{}-{}-{}-{}",
        &hex[0..8],
        &hex[8..12],
        &hex[12..16],
        &hex[16..20],
        &hex[20..32]
    )
}
