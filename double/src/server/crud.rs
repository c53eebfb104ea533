//! The verbs on resources: get, list, create, update, patch, delete, deletecollection, and the
//! dispatch to watch, log, exec.
//! upstream: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/ (get.go, create.go, update.go,
//! patch.go, delete.go).

use std::sync::Arc;

use axum::extract::Request;
use axum::response::Response;
use http::{Method, StatusCode, header};
use serde_json::{Value, json};

use super::patch::{self, PatchKind};
use super::route::{Query, ResourceTarget};
use super::selector::Selectors;
use super::{AppState, MAX_BODY, error_response, json_response, table};
use crate::Object;
use crate::api_error::ApiError;
use crate::resources::ResourceDef;
use crate::store::meta::resource_version_of;

pub(crate) async fn handle(
    state: Arc<AppState>,
    target: ResourceTarget,
    query: Query,
    request: Request,
) -> Response {
    let method = request.method().clone();
    let sub = target.subresource.clone();
    let watching = target.watch_prefix || query.flag("watch");
    match (sub.as_deref(), &method) {
        (Some("exec"), &Method::GET | &Method::POST) => {
            return super::exec::exec(state, target, query, request).await;
        }
        (Some("log"), &Method::GET) => return super::logs::logs(state, target, query).await,
        _ => {}
    }
    let accept = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    if watching && method == Method::GET {
        return match Selectors::from_query(&query, target.def) {
            Ok(selectors) => {
                let representation = if table::wants_table(&accept) {
                    super::watch::Representation::Table(table::IncludeObject::from_query(
                        query.get("includeObject"),
                    ))
                } else if table::wants_partial_metadata(&accept) {
                    super::watch::Representation::Metadata
                } else {
                    super::watch::Representation::Object
                };
                super::watch::watch(
                    state,
                    super::watch::WatchRequest {
                        target,
                        selectors,
                        representation,
                    },
                    &query,
                )
            }
            Err(e) => error_response(&e),
        };
    }
    let content_type = request
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    let body = match axum::body::to_bytes(request.into_body(), MAX_BODY).await {
        Ok(b) => b,
        Err(e) => {
            return error_response(&ApiError::bad_request(&format!(
                "unable to read request body: {e}"
            )));
        }
    };
    if target.def.namespaced && target.namespace.is_none() && method != Method::GET {
        // The all-namespaces path of a namespaced resource serves list and watch only.
        // upstream: staging/src/k8s.io/apiserver/pkg/endpoints/installer.go (registerResourceHandlers)
        return error_response(&ApiError::method_not_supported(
            target.def.plural,
            method.as_str(),
        ));
    }
    if query.get("dryRun").is_some_and(|d| d == "All")
        && method == Method::POST
        && target.name.is_none()
        && target.def.plural == "pods"
    {
        let created = parse_object(&content_type, &body).and_then(|obj| {
            check_type(target.def, &obj, target.def.kind)?;
            state
                .store
                .create_dry_run(target.def.plural, ns(&target), obj)
        });
        return match created {
            Ok(obj) => json_response(StatusCode::CREATED, &obj),
            Err(e) => error_response(&e),
        };
    }
    if query.get("dryRun").is_some() {
        return error_response(&ApiError::bad_request(
            "dryRun is not supported by the netconform test double",
        ));
    }
    let result = match (&method, target.name.is_some()) {
        (&Method::GET, false) => list(&state, &target, &query, &accept),
        (&Method::GET, true) => get(&state, &target, &query, &accept),
        (&Method::POST, false) => create(&state, &target, &content_type, &body),
        (&Method::PUT, true) => update(&state, &target, &content_type, &body),
        (&Method::PATCH, true) => patch(&state, &target, &query, &content_type, &body),
        (&Method::DELETE, true) => delete(&state, &target, &query, &body),
        (&Method::DELETE, false) if target.def.verbs.contains(&"deletecollection") => {
            delete_collection(&state, &target, &query)
        }
        _ => {
            let action = match method {
                Method::POST => "create",
                Method::PUT => "update",
                Method::PATCH => "patch",
                Method::DELETE => "deletecollection",
                _ => "method",
            };
            Err(ApiError::method_not_supported(target.def.plural, action))
        }
    };
    match result {
        Ok((code, body)) => json_response(code, &body),
        Err(e) => error_response(&e),
    }
}

type Answer = Result<(StatusCode, Value), ApiError>;

fn ns(target: &ResourceTarget) -> Option<&str> {
    target.namespace.as_deref()
}

fn name(target: &ResourceTarget) -> &str {
    target.name.as_deref().unwrap_or("")
}

fn get(state: &AppState, target: &ResourceTarget, query: &Query, accept: &str) -> Answer {
    let obj = state
        .store
        .get(target.def.plural, ns(target), name(target))
        .ok_or_else(|| ApiError::not_found(target.def.plural, name(target)))?;
    if table::wants_table(accept) {
        let include = table::IncludeObject::from_query(query.get("includeObject"));
        let mut t = table::to_table(target.def, std::slice::from_ref(&obj), None, include);
        t["metadata"]["resourceVersion"] = obj["metadata"]["resourceVersion"].clone();
        return Ok((StatusCode::OK, t));
    }
    if table::wants_partial_metadata(accept) {
        return Ok((StatusCode::OK, table::partial_metadata(&obj)));
    }
    Ok((StatusCode::OK, obj))
}

fn list(state: &AppState, target: &ResourceTarget, query: &Query, accept: &str) -> Answer {
    let selectors = Selectors::from_query(query, target.def)?;
    let (objects, current) = state.store.list_with_version(target.def.plural, ns(target));
    let mut items: Vec<Object> = objects
        .into_iter()
        .filter(|o| selectors.matches(o))
        .collect();

    // Paging: the continue token is `<resourceVersion>/<namespace>/<name>` of the last item sent.
    let mut list_version = current;
    if let Some(token) = query.get("continue") {
        let (rv, after) = decode_continue(token)?;
        list_version = rv;
        items.retain(|o| object_key(o) > after);
    }
    let mut continue_token = None;
    let mut remaining = None;
    if let Some(limit) = query
        .get("limit")
        .and_then(|l| l.parse::<usize>().ok())
        .filter(|l| *l > 0)
        && items.len() > limit
    {
        remaining = Some(items.len() - limit);
        items.truncate(limit);
        continue_token = items
            .last()
            .map(|last| encode_continue(list_version, &object_key(last)));
    }
    if table::wants_table(accept) {
        let include = table::IncludeObject::from_query(query.get("includeObject"));
        let mut t = table::to_table(target.def, &items, continue_token.as_deref(), include);
        t["metadata"]["resourceVersion"] = json!(list_version.to_string());
        return Ok((StatusCode::OK, t));
    }
    let mut metadata = json!({"resourceVersion": list_version.to_string()});
    if let Some(token) = continue_token {
        metadata["continue"] = json!(token);
        metadata["remainingItemCount"] = json!(remaining.unwrap_or(0));
    }
    if table::wants_partial_metadata(accept) {
        let items: Vec<Value> = items.iter().map(table::partial_metadata).collect();
        return Ok((
            StatusCode::OK,
            json!({"kind": "PartialObjectMetadataList", "apiVersion": "meta.k8s.io/v1", "metadata": metadata, "items": items}),
        ));
    }
    for item in &mut items {
        // A list's items carry no apiVersion/kind on the wire (upstream encodes typed lists).
        if let Some(map) = item.as_object_mut() {
            map.remove("apiVersion");
            map.remove("kind");
        }
    }
    Ok((
        StatusCode::OK,
        json!({"kind": target.def.list_kind(), "apiVersion": target.def.api_version(), "metadata": metadata, "items": items}),
    ))
}

fn object_key(obj: &Object) -> String {
    format!(
        "{}/{}",
        obj["metadata"]["namespace"].as_str().unwrap_or(""),
        obj["metadata"]["name"].as_str().unwrap_or("")
    )
}

fn encode_continue(rv: u64, key: &str) -> String {
    let raw = format!("{rv}/{key}");
    raw.bytes().map(|b| format!("{b:02x}")).collect()
}

fn decode_continue(token: &str) -> Result<(u64, String), ApiError> {
    let invalid = || {
        ApiError::bad_request(
            "continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)",
        )
    };
    if !token.len().is_multiple_of(2) {
        return Err(invalid());
    }
    let bytes: Option<Vec<u8>> = (0..token.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(&token[i..i + 2], 16).ok())
        .collect();
    let text = bytes
        .and_then(|b| String::from_utf8(b).ok())
        .ok_or_else(invalid)?;
    let (rv, key) = text.split_once('/').ok_or_else(invalid)?;
    Ok((rv.parse().map_err(|_| invalid())?, key.to_string()))
}

fn parse_object(content_type: &str, body: &[u8]) -> Result<Object, ApiError> {
    if content_type.starts_with(super::protobuf::CONTENT_TYPE) {
        return super::protobuf::decode_object(body);
    }
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        ApiError::bad_request(&format!("the body of the request was in an unknown format - accepted media types include: application/json, application/yaml; {e}"))
    })?;
    if !value.is_object() {
        return Err(ApiError::bad_request(
            "the body of the request was in an unknown format",
        ));
    }
    Ok(value)
}

/// The body's apiVersion/kind must name the resource of the URL.
/// upstream: the decoder of staging/src/k8s.io/apiserver/pkg/endpoints/handlers/create.go
fn check_type(def: &ResourceDef, obj: &Object, expected_kind: &str) -> Result<(), ApiError> {
    if let Some(kind) = obj["kind"].as_str().filter(|k| !k.is_empty())
        && kind != expected_kind
    {
        return Err(ApiError::bad_request(&format!(
            "the kind in the body ({kind}) does not match the kind of the resource ({expected_kind})"
        )));
    }
    if let Some(api_version) = obj["apiVersion"].as_str().filter(|v| !v.is_empty())
        && api_version != def.api_version()
    {
        return Err(ApiError::bad_request(&format!(
            "the API version in the data ({api_version}) does not match the expected API version ({})",
            def.api_version()
        )));
    }
    Ok(())
}

fn check_name(obj: &Object, url_name: &str) -> Result<(), ApiError> {
    match obj["metadata"]["name"].as_str() {
        Some(body_name) if !body_name.is_empty() && body_name != url_name => {
            Err(ApiError::bad_request(&format!(
                // upstream: staging/src/k8s.io/apiserver/pkg/endpoints/handlers/update.go
                "the name of the object ({body_name}) does not match the name on the URL ({url_name})"
            )))
        }
        _ => Ok(()),
    }
}

fn create(state: &AppState, target: &ResourceTarget, content_type: &str, body: &[u8]) -> Answer {
    let obj = parse_object(content_type, body)?;
    check_type(target.def, &obj, target.def.kind)?;
    let created = state.store.create(target.def.plural, ns(target), obj)?;
    Ok((StatusCode::CREATED, created))
}

fn update(state: &AppState, target: &ResourceTarget, content_type: &str, body: &[u8]) -> Answer {
    let mut obj = parse_object(content_type, body)?;
    check_type(target.def, &obj, target.def.kind)?;
    check_name(&obj, name(target))?;
    obj["metadata"]["name"] = json!(name(target));
    let updated = match target.subresource.as_deref() {
        Some("status") => state
            .store
            .update_status(target.def.plural, ns(target), obj)?,
        Some("finalize") => {
            let finalizers: Vec<String> = obj["spec"]["finalizers"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .filter_map(|f| f.as_str().map(str::to_string))
                        .collect()
                })
                .unwrap_or_default();
            state.store.finalize_namespace(name(target), finalizers)?
        }
        _ => state.store.update(target.def.plural, ns(target), obj)?,
    };
    Ok((StatusCode::OK, updated))
}

fn patch(
    state: &AppState,
    target: &ResourceTarget,
    query: &Query,
    content_type: &str,
    body: &[u8],
) -> Answer {
    let Some(kind) = PatchKind::from_content_type(content_type) else {
        // upstream: 415 from staging/src/k8s.io/apiserver/pkg/endpoints/handlers/patch.go
        return Err(ApiError::new(
            415,
            "UnsupportedMediaType",
            format!(
                "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json (got {content_type})"
            ),
        ));
    };
    let patch_body = patch::parse_body(kind, body)?;
    let plural = target.def.plural;
    let status_only = target.subresource.as_deref() == Some("status");
    if kind == PatchKind::Apply {
        patch::check_apply_options(query.get("fieldManager"))?;
        check_type(target.def, &patch_body, target.def.kind)?;
        check_name(&patch_body, name(target))?;
    }
    // A patch without a resourceVersion never conflicts: retry when a concurrent writer won.
    for _ in 0..8 {
        let Some(live) = state.store.get(plural, ns(target), name(target)) else {
            if kind == PatchKind::Apply && !status_only {
                let mut obj = patch_body.clone();
                obj["metadata"]["name"] = json!(name(target));
                let created = state.store.create(plural, ns(target), obj)?;
                return Ok((StatusCode::CREATED, created));
            }
            return Err(ApiError::not_found(plural, name(target)));
        };
        let mut patched = patch::apply_patch(kind, &live, &patch_body)?;
        let pinned = patch_body["metadata"]["resourceVersion"]
            .as_str()
            .is_some_and(|v| !v.is_empty());
        if !pinned {
            patched["metadata"]["resourceVersion"] = live["metadata"]["resourceVersion"].clone();
        }
        patched["metadata"]["name"] = json!(name(target));
        let result = if status_only {
            state.store.update_status(plural, ns(target), patched)
        } else {
            state.store.update(plural, ns(target), patched)
        };
        match result {
            Ok(obj) => return Ok((StatusCode::OK, obj)),
            Err(e) if e.reason == "Conflict" && !pinned => continue,
            Err(e) => return Err(e),
        }
    }
    Err(ApiError::stale_resource_version(plural, name(target)))
}

/// DeleteOptions from the body and/or the query.
struct DeleteOptions {
    uid: Option<String>,
    resource_version: Option<String>,
    propagation: Option<String>,
}

fn delete_options(query: &Query, body: &[u8]) -> Result<DeleteOptions, ApiError> {
    let parsed: Value = if body.iter().all(u8::is_ascii_whitespace) {
        Value::Null
    } else {
        serde_json::from_slice(body).map_err(|e| ApiError::bad_request(&e.to_string()))?
    };
    let text = |v: &Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_string);
    Ok(DeleteOptions {
        uid: text(&parsed["preconditions"]["uid"]),
        resource_version: text(&parsed["preconditions"]["resourceVersion"]),
        propagation: text(&parsed["propagationPolicy"])
            .or_else(|| query.get("propagationPolicy").map(str::to_string)),
    })
}

fn delete(state: &AppState, target: &ResourceTarget, query: &Query, body: &[u8]) -> Answer {
    let options = delete_options(query, body)?;
    let plural = target.def.plural;
    let live = state
        .store
        .get(plural, ns(target), name(target))
        .ok_or_else(|| ApiError::not_found(plural, name(target)))?;
    // upstream: staging/src/k8s.io/apiserver/pkg/storage/interfaces.go (Preconditions.Check)
    if let Some(uid) = &options.uid
        && live["metadata"]["uid"].as_str() != Some(uid)
    {
        let why = format!(
            "Precondition failed: UID in precondition: {uid}, UID in object meta: {}",
            live["metadata"]["uid"].as_str().unwrap_or("")
        );
        return Err(ApiError::conflict(plural, name(target), &why));
    }
    if let Some(rv) = &options.resource_version
        && live["metadata"]["resourceVersion"].as_str() != Some(rv)
    {
        let why = format!(
            "Precondition failed: ResourceVersion in precondition: {rv}, ResourceVersion in object meta: {}",
            live["metadata"]["resourceVersion"].as_str().unwrap_or("")
        );
        return Err(ApiError::conflict(plural, name(target), &why));
    }
    if options.propagation.as_deref() == Some("Orphan") {
        state.store.orphan_dependents(&live);
    }
    let last = state.store.delete(plural, ns(target), name(target))?;
    Ok((
        StatusCode::OK,
        delete_answer(state, target.def, ns(target), last),
    ))
}

/// The DELETE response: the object while it still exists (finalizers, namespace termination) or
/// when the resource returns deleted objects, else a Success Status.
/// upstream: staging/src/k8s.io/apiserver/pkg/registry/generic/registry/store.go (finalizeDelete)
fn delete_answer(
    state: &AppState,
    def: &ResourceDef,
    namespace: Option<&str>,
    last: Object,
) -> Value {
    let name = last["metadata"]["name"].as_str().unwrap_or("").to_string();
    let still_there = state.store.get(def.plural, namespace, &name).is_some();
    if still_there || def.returns_deleted_object {
        return last;
    }
    json!({
        "kind": "Status",
        "apiVersion": "v1",
        "metadata": {},
        "status": "Success",
        "details": {"name": name, "group": def.group, "kind": def.plural, "uid": last["metadata"]["uid"]},
    })
}

fn delete_collection(state: &AppState, target: &ResourceTarget, query: &Query) -> Answer {
    let selectors = Selectors::from_query(query, target.def)?;
    let mut deleted = Vec::new();
    for obj in state
        .store
        .list(target.def.plural, ns(target))
        .into_iter()
        .filter(|o| selectors.matches(o))
    {
        let name = obj["metadata"]["name"].as_str().unwrap_or("").to_string();
        let namespace = obj["metadata"]["namespace"].as_str().map(str::to_string);
        match state
            .store
            .delete(target.def.plural, namespace.as_deref(), &name)
        {
            Ok(mut last) => {
                if let Some(map) = last.as_object_mut() {
                    map.remove("apiVersion");
                    map.remove("kind");
                }
                deleted.push(last);
            }
            Err(e) if e.code == 404 => {}
            Err(e) => return Err(e),
        }
    }
    let rv = deleted
        .iter()
        .filter_map(resource_version_of)
        .max()
        .unwrap_or_else(|| state.store.resource_version());
    Ok((
        StatusCode::OK,
        json!({"kind": target.def.list_kind(), "apiVersion": target.def.api_version(), "metadata": {"resourceVersion": rv.to_string()}, "items": deleted}),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn continue_tokens_round_trip() {
        let token = encode_continue(42, "default/web");
        assert_eq!(
            decode_continue(&token).unwrap(),
            (42, "default/web".to_string())
        );
        assert!(decode_continue("zz").is_err());
    }
}
