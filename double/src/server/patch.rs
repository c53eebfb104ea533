//! PATCH bodies: JSON merge patch, JSON patch, an approximation of strategic merge patch, and
//! server-side apply.
//!
//! Approximations (documented, deliberate):
//! - Strategic merge patch is a JSON merge patch, except lists whose Kubernetes type declares
//!   `patchStrategy: merge` are merged by their merge key (containers/env/volumes by `name`,
//!   container ports by `containerPort`, service ports by `port`, volumeMounts by `mountPath`,
//!   conditions by `type`, hostAliases by `ip`, ownerReferences by `uid`) and `metadata.finalizers`
//!   is merged as a set. Directives `$patch: delete|replace` and `$deleteFromPrimitiveList/` are
//!   honoured; `$setElementOrder/` and `$retainKeys` are ignored (order of the live list is kept).
//!   upstream: staging/src/k8s.io/apimachinery/pkg/util/strategicpatch/patch.go
//! - Server-side apply creates a missing object, else strategic-merges the applied configuration
//!   into the live object. There are no managedFields, so fields dropped from an applied
//!   configuration are not removed and conflicts are never reported (`force` is accepted).

use serde_json::{Map, Value};

use crate::Object;
use crate::api_error::{ApiError, Cause};

/// The PATCH flavours the double accepts (by `Content-Type`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum PatchKind {
    Merge,
    Json,
    Strategic,
    Apply,
}

impl PatchKind {
    /// upstream: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go (supported patch types)
    pub fn from_content_type(content_type: &str) -> Option<Self> {
        let media = content_type.split(';').next().unwrap_or("").trim();
        match media {
            "application/merge-patch+json" => Some(PatchKind::Merge),
            "application/json-patch+json" => Some(PatchKind::Json),
            "application/strategic-merge-patch+json" => Some(PatchKind::Strategic),
            "application/apply-patch+yaml" | "application/apply-patch+cbor" => {
                Some(PatchKind::Apply)
            }
            _ => None,
        }
    }
}

/// Parses a patch body; apply patches are YAML (JSON is YAML too).
pub(crate) fn parse_body(kind: PatchKind, body: &[u8]) -> Result<Value, ApiError> {
    let parsed = match kind {
        PatchKind::Apply => {
            let text =
                std::str::from_utf8(body).map_err(|e| ApiError::bad_request(&e.to_string()))?;
            serde_saphyr::from_str::<Value>(text)
                .map_err(|e| ApiError::bad_request(&format!("error decoding YAML: {e}")))
        }
        _ => {
            serde_json::from_slice::<Value>(body).map_err(|e| ApiError::bad_request(&e.to_string()))
        }
    }?;
    Ok(parsed)
}

/// Applies a non-apply patch to `live`, returning the patched object.
pub(crate) fn apply_patch(
    kind: PatchKind,
    live: &Object,
    patch: &Value,
) -> Result<Object, ApiError> {
    let mut doc = live.clone();
    match kind {
        PatchKind::Merge => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("invalid JSON Patch"));
            }
            json_patch::merge(&mut doc, patch);
        }
        PatchKind::Json => {
            let ops: json_patch::Patch = serde_json::from_value(patch.clone())
                .map_err(|e| ApiError::bad_request(&e.to_string()))?;
            json_patch::patch(&mut doc, &ops)
                .map_err(|e| ApiError::new(422, "Invalid", e.to_string()))?;
        }
        PatchKind::Strategic | PatchKind::Apply => {
            if !patch.is_object() {
                return Err(ApiError::bad_request("invalid JSON Patch"));
            }
            strategic_merge(&mut doc, patch);
        }
    }
    Ok(doc)
}

/// `PatchOptions` validation for apply. upstream: staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/validation
/// (ValidatePatchOptions).
pub(crate) fn check_apply_options(field_manager: Option<&str>) -> Result<(), ApiError> {
    if field_manager.is_none_or(str::is_empty) {
        return Err(ApiError::invalid(
            "PatchOptions.meta.k8s.io",
            "",
            vec![Cause::required(
                "fieldManager",
                "is required for apply patch",
            )],
        ));
    }
    Ok(())
}

/// Strategic merge of `patch` into `target` (see module docs for the approximation).
pub(crate) fn strategic_merge(target: &mut Value, patch: &Value) {
    merge_value(target, patch);
}

fn merge_value(target: &mut Value, patch: &Value) {
    match patch {
        Value::Object(patch_map) => {
            if patch_map.get("$patch").and_then(Value::as_str) == Some("replace") {
                *target = strip_directives(patch);
                return;
            }
            if !target.is_object() {
                *target = Value::Object(Map::new());
            }
            let Some(target_map) = target.as_object_mut() else {
                return;
            };
            for (key, value) in patch_map {
                if let Some(list_field) = key.strip_prefix("$deleteFromPrimitiveList/") {
                    if let (Some(Value::Array(items)), Value::Array(remove)) =
                        (target_map.get_mut(list_field), value)
                    {
                        items.retain(|item| !remove.contains(item));
                    }
                    continue;
                }
                if key.starts_with('$') {
                    continue;
                }
                match value {
                    Value::Null => {
                        target_map.remove(key);
                    }
                    Value::Object(_) => {
                        let entry = target_map.entry(key.clone()).or_insert(Value::Null);
                        merge_value(entry, value);
                    }
                    Value::Array(items) => {
                        let entry = target_map.entry(key.clone()).or_insert(Value::Null);
                        merge_list(entry, items, key);
                    }
                    other => {
                        target_map.insert(key.clone(), other.clone());
                    }
                }
            }
        }
        other => *target = other.clone(),
    }
}

/// The merge key of a list field whose Kubernetes type has `patchStrategy: merge`.
fn merge_key(field: &str, items: &[Value], live: &Value) -> Option<&'static str> {
    let has = |key: &str| {
        items
            .iter()
            .chain(live.as_array().into_iter().flatten())
            .any(|item| item.get(key).is_some())
    };
    match field {
        "containers"
        | "initContainers"
        | "ephemeralContainers"
        | "volumes"
        | "env"
        | "imagePullSecrets"
        | "resourceClaims"
        | "schedulingGates" => Some("name"),
        "ports" if has("containerPort") => Some("containerPort"),
        "ports" if has("port") => Some("port"),
        "volumeMounts" => Some("mountPath"),
        "volumeDevices" => Some("devicePath"),
        "hostAliases" => Some("ip"),
        "conditions" | "addresses" => Some("type"),
        "ownerReferences" => Some("uid"),
        "topologySpreadConstraints" => Some("topologyKey"),
        _ => None,
    }
}

fn merge_list(target: &mut Value, items: &[Value], field: &str) {
    if field == "finalizers" {
        // metadata.finalizers: `patchStrategy: merge` on a list of strings (a set union).
        let mut merged = target.as_array().cloned().unwrap_or_default();
        for item in items {
            if !merged.contains(item) {
                merged.push(item.clone());
            }
        }
        *target = Value::Array(merged);
        return;
    }
    let replace = items
        .iter()
        .any(|i| i.get("$patch").and_then(Value::as_str) == Some("replace"));
    let key = merge_key(field, items, target);
    let (Some(key), false) = (key, replace) else {
        let kept: Vec<Value> = items
            .iter()
            .filter(|i| i.get("$patch").is_none() || i.as_object().is_some_and(|m| m.len() > 1))
            .map(strip_directives)
            .collect();
        *target = Value::Array(kept);
        return;
    };
    let mut merged = target.as_array().cloned().unwrap_or_default();
    for item in items {
        let Some(id) = item.get(key) else {
            merged.push(strip_directives(item));
            continue;
        };
        let position = merged.iter().position(|live| live.get(key) == Some(id));
        let delete = item.get("$patch").and_then(Value::as_str) == Some("delete");
        match (position, delete) {
            (Some(at), true) => {
                merged.remove(at);
            }
            (None, true) => {}
            (Some(at), false) => merge_value(&mut merged[at], item),
            (None, false) => merged.push(strip_directives(item)),
        }
    }
    *target = Value::Array(merged);
}

/// Removes `$...` directive keys (recursively) from a value that is inserted as is.
fn strip_directives(value: &Value) -> Value {
    match value {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(k, _)| !k.starts_with('$'))
                .map(|(k, v)| (k.clone(), strip_directives(v)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.iter().map(strip_directives).collect()),
        other => other.clone(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn strategic_merges_containers_by_name() {
        let mut pod = json!({"spec": {"containers": [
            {"name": "a", "image": "busybox", "env": [{"name": "X", "value": "1"}]},
            {"name": "b", "image": "nginx"}
        ]}});
        strategic_merge(
            &mut pod,
            &json!({"$setElementOrder/containers": [{"name": "a"}, {"name": "b"}],
                    "spec": {"containers": [{"name": "a", "env": [{"name": "Y", "value": "2"}]},
                                            {"name": "b", "$patch": "delete"}]}}),
        );
        assert_eq!(
            pod,
            json!({"spec": {"containers": [
                {"name": "a", "image": "busybox", "env": [{"name": "X", "value": "1"}, {"name": "Y", "value": "2"}]}
            ]}})
        );
    }

    #[test]
    fn strategic_replaces_atomic_lists_and_unions_finalizers() {
        let mut obj = json!({"metadata": {"finalizers": ["a"]}, "spec": {"ipFamilies": ["IPv4"]}});
        strategic_merge(
            &mut obj,
            &json!({"metadata": {"finalizers": ["b"]}, "spec": {"ipFamilies": ["IPv6", "IPv4"]}}),
        );
        assert_eq!(
            obj,
            json!({"metadata": {"finalizers": ["a", "b"]}, "spec": {"ipFamilies": ["IPv6", "IPv4"]}})
        );
        strategic_merge(
            &mut obj,
            &json!({"metadata": {"$deleteFromPrimitiveList/finalizers": ["a"]}}),
        );
        assert_eq!(obj["metadata"]["finalizers"], json!(["b"]));
    }

    #[test]
    fn merge_and_json_patches() {
        let live = json!({"data": {"a": "1", "b": "2"}});
        let merged = apply_patch(
            PatchKind::Merge,
            &live,
            &json!({"data": {"a": null, "c": "3"}}),
        )
        .unwrap();
        assert_eq!(merged, json!({"data": {"b": "2", "c": "3"}}));
        let patched = apply_patch(
            PatchKind::Json,
            &live,
            &json!([{"op": "replace", "path": "/data/a", "value": "9"}]),
        )
        .unwrap();
        assert_eq!(patched["data"]["a"], "9");
        let err = apply_patch(
            PatchKind::Json,
            &live,
            &json!([{"op": "test", "path": "/data/a", "value": "x"}]),
        )
        .unwrap_err();
        assert_eq!(err.code, 422);
    }

    #[test]
    fn apply_needs_a_field_manager() {
        let err = check_apply_options(None).unwrap_err();
        assert_eq!(
            err.message,
            "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch"
        );
    }
}
