//! Legacy (unaggregated) discovery, `/version` and a minimal OpenAPI v3.
//!
//! Clients that ask for aggregated discovery (`Accept: ...;g=apidiscovery.k8s.io;v=v2`) get the
//! legacy documents with `Content-Type: application/json`, which kubectl and kube treat as "not
//! supported" and fall back to the legacy endpoints — as against an older apiserver.
//! upstream: staging/src/k8s.io/apiserver/pkg/endpoints/discovery/ (legacy.go, root.go, version.go).

use http::HeaderMap;
use serde_json::{Value, json};

use crate::resources::{self, RESOURCES, ResourceDef};

/// `/version` JSON for a `gitVersion` like `v1.33.1+netconform-double`. The fields that are not
/// part of the version say plainly that this is the simulated test double.
pub fn version_info(git_version: &str) -> Result<Value, String> {
    let core = git_version
        .strip_prefix('v')
        .ok_or_else(|| format!("server version {git_version:?} must start with v"))?;
    let core = core.split(['+', '-']).next().unwrap_or("");
    let parts: Vec<&str> = core.split('.').collect();
    if parts.len() != 3 || parts.iter().any(|p| p.parse::<u32>().is_err()) {
        return Err(format!(
            "server version {git_version:?} is not vMAJOR.MINOR.PATCH"
        ));
    }
    Ok(json!({
        "major": parts[0],
        "minor": parts[1],
        "emulationMajor": parts[0],
        "emulationMinor": parts[1],
        "minCompatibilityMajor": parts[0],
        "minCompatibilityMinor": parts[1],
        "gitVersion": git_version,
        "gitCommit": "0000000000000000000000000000000000000000",
        "gitTreeState": "clean",
        "buildDate": "2025-01-01T00:00:00Z",
        "goVersion": "netconform-double (simulated, not Go)",
        "compiler": "netconform-double",
        "platform": "netconform-double/test-double",
    }))
}

/// `/api`
pub(crate) fn api_versions(headers: &HeaderMap) -> Value {
    let host = headers
        .get(http::header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or("127.0.0.1");
    json!({
        "kind": "APIVersions",
        "versions": ["v1"],
        "serverAddressByClientCIDRs": [{"clientCIDR": "0.0.0.0/0", "serverAddress": host}],
    })
}

fn group_json(group: &str, version: &str) -> Value {
    let gv = json!({"groupVersion": format!("{group}/{version}"), "version": version});
    json!({"name": group, "versions": [gv.clone()], "preferredVersion": gv})
}

/// `/apis`
pub(crate) fn api_group_list() -> Value {
    let groups: Vec<Value> = resources::groups()
        .into_iter()
        .map(|(g, v)| group_json(g, v))
        .collect();
    json!({"kind": "APIGroupList", "apiVersion": "v1", "groups": groups})
}

/// `/apis/<group>`
pub(crate) fn api_group(group: &str) -> Value {
    let version = resources::groups()
        .into_iter()
        .find(|(g, _)| *g == group)
        .map(|(_, v)| v)
        .unwrap_or("v1");
    let mut doc = group_json(group, version);
    doc["kind"] = json!("APIGroup");
    doc["apiVersion"] = json!("v1");
    doc
}

/// `/api/v1` or `/apis/<group>/<version>`: the `APIResourceList` with subresources.
pub(crate) fn resource_list(group: &str, version: &str) -> Value {
    let mut entries = Vec::new();
    for def in RESOURCES
        .iter()
        .filter(|d| d.group == group && d.version == version)
    {
        entries.push(resource_entry(def));
        if def.has_status {
            entries.push(sub_entry(
                def,
                "status",
                def.kind,
                &["get", "patch", "update"],
            ));
        }
        for sub in def.subresources {
            match *sub {
                "log" => entries.push(sub_entry(def, "log", def.kind, &["get"])),
                "exec" => {
                    entries.push(sub_entry(def, "exec", "PodExecOptions", &["create", "get"]))
                }
                _ => {}
            }
        }
        if def.plural == "namespaces" {
            entries.push(sub_entry(def, "finalize", def.kind, &["update"]));
        }
    }
    let group_version = if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    };
    let mut doc =
        json!({"kind": "APIResourceList", "groupVersion": group_version, "resources": entries});
    if !group.is_empty() {
        doc["apiVersion"] = json!("v1");
    }
    doc
}

fn resource_entry(def: &ResourceDef) -> Value {
    let mut entry = json!({
        "name": def.plural,
        "singularName": def.singular,
        "namespaced": def.namespaced,
        "kind": def.kind,
        "verbs": def.verbs,
    });
    if !def.short_names.is_empty() {
        entry["shortNames"] = json!(def.short_names);
    }
    // upstream: these are in the `all` category (kubectl get all)
    if matches!(
        def.plural,
        "pods" | "services" | "deployments" | "replicasets" | "daemonsets"
    ) {
        entry["categories"] = json!(["all"]);
    }
    entry
}

fn sub_entry(def: &ResourceDef, sub: &str, kind: &str, verbs: &[&str]) -> Value {
    json!({
        "name": format!("{}/{sub}", def.plural),
        "singularName": "",
        "namespaced": def.namespaced,
        "kind": kind,
        "verbs": verbs,
    })
}

/// `openapi/v3` path keys: `api/v1`, `apis/<group>/<version>`.
fn group_version_keys() -> Vec<String> {
    let mut keys = vec!["api/v1".to_string()];
    keys.extend(
        resources::groups()
            .into_iter()
            .map(|(g, v)| format!("apis/{g}/{v}")),
    );
    keys
}

/// `/openapi/v3`: the index of per-group-version documents.
pub(crate) fn openapi_v3_root(server_version: &str) -> Value {
    let hash = stable_hash(server_version);
    let paths: serde_json::Map<String, Value> = group_version_keys()
        .into_iter()
        .map(|key| {
            let url = format!("/openapi/v3/{key}?hash={hash}");
            (key, json!({"serverRelativeURL": url}))
        })
        .collect();
    json!({"paths": paths})
}

/// `/openapi/v3/<gv>`: paths with operations and their query parameters only (no schemas).
/// Enough for kubectl to learn that the server validates fields itself (`fieldValidation`), so it
/// sends `fieldValidation=Strict` instead of validating client-side.
/// upstream: staging/src/k8s.io/cli-runtime/pkg/resource/query_param_verifier_v3.go
pub(crate) fn openapi_v3_doc(gv: &str, server_version: &str) -> Option<Value> {
    if !group_version_keys().iter().any(|k| k == gv) {
        return None;
    }
    let mut paths = serde_json::Map::new();
    for def in RESOURCES
        .iter()
        .filter(|d| d.group_version_path().trim_start_matches('/') == gv)
    {
        let gvk = json!({"group": def.group, "version": def.version, "kind": def.kind});
        let base = def.group_version_path();
        let scope = if def.namespaced {
            "/namespaces/{namespace}"
        } else {
            ""
        };
        let item = format!("{base}{scope}/{}/{{name}}", def.plural);
        let collection = format!("{base}{scope}/{}", def.plural);
        let write_params = json!([
            query_param("dryRun"),
            query_param("fieldManager"),
            query_param("fieldValidation"),
        ]);
        let mut patch_params = write_params.clone();
        if let Some(list) = patch_params.as_array_mut() {
            list.push(query_param("force"));
        }
        paths.insert(
            item,
            json!({
                "get": operation("read", &gvk, json!([])),
                "put": operation("replace", &gvk, write_params.clone()),
                "patch": operation("patch", &gvk, patch_params),
                "delete": operation("delete", &gvk, json!([query_param("dryRun"), query_param("propagationPolicy")])),
            }),
        );
        paths.insert(
            collection,
            json!({
                "get": operation("list", &gvk, json!([query_param("labelSelector"), query_param("fieldSelector")])),
                "post": operation("create", &gvk, write_params),
            }),
        );
    }
    Some(json!({
        "openapi": "3.0.0",
        "info": {"title": "Kubernetes (netconform-double, simulated)", "version": server_version},
        "paths": paths,
        "components": {"schemas": {}},
    }))
}

fn operation(action: &str, gvk: &Value, parameters: Value) -> Value {
    json!({
        "x-kubernetes-action": action,
        "x-kubernetes-group-version-kind": gvk,
        "parameters": parameters,
        "responses": {"200": {"description": "OK"}},
    })
}

fn query_param(name: &str) -> Value {
    json!({"name": name, "in": "query", "schema": {"type": "string", "uniqueItems": true}})
}

/// A stable hex digest for `?hash=` (FNV-1a; only needs to change when the documents do).
fn stable_hash(seed: &str) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    for b in seed
        .bytes()
        .chain(RESOURCES.iter().flat_map(|r| r.plural.bytes()))
    {
        hash ^= u64::from(b);
        hash = hash.wrapping_mul(0x0100_0000_01b3);
    }
    format!("{hash:016X}")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn version_parses() {
        let info = version_info("v1.33.1+netconform-double").unwrap();
        assert_eq!(
            (info["major"].as_str(), info["minor"].as_str()),
            (Some("1"), Some("33"))
        );
        assert!(version_info("1.33").is_err());
    }

    #[test]
    fn core_list_has_subresources() {
        let list = resource_list("", "v1");
        let names: Vec<&str> = list["resources"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|r| r["name"].as_str())
            .collect();
        for want in [
            "pods",
            "pods/status",
            "pods/log",
            "pods/exec",
            "services/status",
            "namespaces/finalize",
            "configmaps",
        ] {
            assert!(names.contains(&want), "{want} missing from {names:?}");
        }
        assert!(list.get("apiVersion").is_none());
    }

    #[test]
    fn openapi_v3_declares_field_validation() {
        let doc = openapi_v3_doc("apis/networking.k8s.io/v1", "v1.33.1").unwrap();
        let patch = &doc["paths"]["/apis/networking.k8s.io/v1/servicecidrs/{name}"]["patch"];
        assert_eq!(
            patch["x-kubernetes-group-version-kind"]["kind"],
            "ServiceCIDR"
        );
        assert!(
            patch["parameters"]
                .as_array()
                .unwrap()
                .iter()
                .any(|p| p["name"] == "fieldValidation")
        );
        assert!(openapi_v3_doc("apis/apps/v1", "v1.33.1").is_some());
        assert!(openapi_v3_doc("apis/batch/v1", "v1.33.1").is_none());
    }
}
