//! A Kubernetes `metav1.Status` failure, as the API server of the test double answers it.
//!
//! Messages and reasons follow upstream
//! `staging/src/k8s.io/apimachinery/pkg/api/errors/errors.go` (NewNotFound, NewAlreadyExists,
//! NewConflict, NewInvalid, NewInternalError, NewBadRequest, NewResourceExpired, NewTooManyRequests,
//! NewMethodNotSupported, NewForbidden) so that clients which match on `reason`/`code`/`message`
//! behave as against a real cluster.

use serde_json::{Value, json};

use crate::Object;
use crate::resources;

/// One field problem of an `Invalid` (422) error.
///
/// `message` is the error *body* as upstream's `field.Error.ErrorBody()` renders it, e.g.
/// `Invalid value: "IPv7": must be IPv4 or IPv6`; the full message adds `field: ` in front.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Cause {
    /// Field path, e.g. `spec.ipFamilies[0]`.
    pub field: String,
    /// Cause type, e.g. `FieldValueInvalid`, `FieldValueRequired`, `FieldValueNotSupported`,
    /// `FieldValueForbidden`, `FieldValueDuplicate` (upstream `metav1.CauseType`).
    pub reason: String,
    /// Error body, e.g. `Invalid value: "x": must be ...` or `Required value`.
    pub message: String,
}

impl Cause {
    pub fn new(
        field: impl Into<String>,
        reason: impl Into<String>,
        message: impl Into<String>,
    ) -> Self {
        Cause {
            field: field.into(),
            reason: reason.into(),
            message: message.into(),
        }
    }

    /// `field.Invalid(path, value, detail)`: body `Invalid value: <json value>: <detail>`.
    pub fn invalid_value(field: impl Into<String>, value: &Value, detail: &str) -> Self {
        let body = if detail.is_empty() {
            format!("Invalid value: {value}")
        } else {
            format!("Invalid value: {value}: {detail}")
        };
        Cause::new(field, "FieldValueInvalid", body)
    }

    /// `field.Required(path, detail)`.
    pub fn required(field: impl Into<String>, detail: &str) -> Self {
        let body = if detail.is_empty() {
            "Required value".to_string()
        } else {
            format!("Required value: {detail}")
        };
        Cause::new(field, "FieldValueRequired", body)
    }

    /// `field.Forbidden(path, detail)`.
    pub fn forbidden(field: impl Into<String>, detail: &str) -> Self {
        Cause::new(field, "FieldValueForbidden", format!("Forbidden: {detail}"))
    }

    /// `field.NotSupported(path, value, valid)`.
    pub fn not_supported(field: impl Into<String>, value: &Value, valid: &[&str]) -> Self {
        let quoted: Vec<String> = valid.iter().map(|v| format!("\"{v}\"")).collect();
        Cause::new(
            field,
            "FieldValueNotSupported",
            format!(
                "Unsupported value: {value}: supported values: {}",
                quoted.join(", ")
            ),
        )
    }

    /// `field.Error.Error()`: `<field>: <body>`.
    pub fn full_message(&self) -> String {
        if self.field.is_empty() {
            self.message.clone()
        } else {
            format!("{}: {}", self.field, self.message)
        }
    }
}

/// A failed API call: HTTP `code`, machine `reason`, human `message`, optional `details`
/// (the JSON of `metav1.StatusDetails`).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("{message} ({code} {reason})")]
pub struct ApiError {
    pub code: u16,
    pub reason: String,
    pub message: String,
    pub details: Option<Object>,
}

impl ApiError {
    pub fn new(code: u16, reason: &str, message: impl Into<String>) -> Self {
        ApiError {
            code,
            reason: reason.to_string(),
            message: message.into(),
            details: None,
        }
    }

    fn with_details(mut self, details: Value) -> Self {
        self.details = Some(details);
        self
    }

    /// `NewNotFound`: `pods "x" not found` (404 NotFound). `resource` is the plural.
    pub fn not_found(resource: &str, name: &str) -> Self {
        let (group, qualified) = qualify(resource);
        ApiError::new(404, "NotFound", format!("{qualified} \"{name}\" not found"))
            .with_details(json!({"name": name, "group": group, "kind": resource}))
    }

    /// `NewAlreadyExists`: `configmaps "x" already exists` (409 AlreadyExists).
    pub fn already_exists(resource: &str, name: &str) -> Self {
        let (group, qualified) = qualify(resource);
        ApiError::new(
            409,
            "AlreadyExists",
            format!("{qualified} \"{name}\" already exists"),
        )
        .with_details(json!({"name": name, "group": group, "kind": resource}))
    }

    /// `NewConflict`: `Operation cannot be fulfilled on configmaps "x": <why>` (409 Conflict).
    pub fn conflict(resource: &str, name: &str, why: &str) -> Self {
        let (group, qualified) = qualify(resource);
        ApiError::new(
            409,
            "Conflict",
            format!("Operation cannot be fulfilled on {qualified} \"{name}\": {why}"),
        )
        .with_details(json!({"name": name, "group": group, "kind": resource}))
    }

    /// The conflict the storage layer reports for a stale `metadata.resourceVersion`
    /// (upstream `storage.NewResourceVersionConflictsError` text).
    pub fn stale_resource_version(resource: &str, name: &str) -> Self {
        ApiError::conflict(
            resource,
            name,
            "the object has been modified; please apply your changes to the latest version and try again",
        )
    }

    /// `NewInvalid`: `Service "x" is invalid: spec.ipFamilies[0]: Invalid value: ...` (422 Invalid).
    /// `kind` is the qualified kind: `Service` for the core group, `ServiceCIDR.networking.k8s.io` otherwise.
    /// Several causes are rendered as upstream's aggregate: `[a, b]`.
    pub fn invalid(kind: &str, name: &str, causes: Vec<Cause>) -> Self {
        let (bare_kind, group) = match kind.split_once('.') {
            Some((k, g)) => (k, g),
            None => (kind, ""),
        };
        let rendered: Vec<String> = causes.iter().map(Cause::full_message).collect();
        let message = match rendered.len() {
            0 => format!("{kind} \"{name}\" is invalid"),
            1 => format!("{kind} \"{name}\" is invalid: {}", rendered[0]),
            _ => format!("{kind} \"{name}\" is invalid: [{}]", rendered.join(", ")),
        };
        let causes_json: Vec<Value> = causes
            .iter()
            .map(|c| json!({"reason": c.reason, "message": c.message, "field": c.field}))
            .collect();
        ApiError::new(422, "Invalid", message).with_details(
            json!({"name": name, "group": group, "kind": bare_kind, "causes": causes_json}),
        )
    }

    /// `NewInternalError`: `Internal error occurred: <message>` (500 InternalError).
    pub fn internal(message: &str) -> Self {
        ApiError::new(
            500,
            "InternalError",
            format!("Internal error occurred: {message}"),
        )
        .with_details(json!({"causes": [{"message": message}]}))
    }

    /// `NewBadRequest` (400 BadRequest).
    pub fn bad_request(message: &str) -> Self {
        ApiError::new(400, "BadRequest", message)
    }

    /// `NewResourceExpired` / `NewGone` (410 Expired), e.g. `too old resource version: 5 (10)`.
    pub fn gone(message: &str) -> Self {
        ApiError::new(410, "Expired", message)
    }

    /// `NewTooManyRequests` (429 TooManyRequests) with `details.retryAfterSeconds`.
    pub fn too_many_requests(message: &str, retry_after_seconds: u32) -> Self {
        ApiError::new(429, "TooManyRequests", message)
            .with_details(json!({"retryAfterSeconds": retry_after_seconds}))
    }

    /// `NewMethodNotSupported`: `<action> is not supported on resources of kind "<resource>"` (405).
    pub fn method_not_supported(resource: &str, action: &str) -> Self {
        let (group, qualified) = qualify(resource);
        ApiError::new(
            405,
            "MethodNotAllowed",
            format!("{action} is not supported on resources of kind \"{qualified}\""),
        )
        .with_details(json!({"group": group, "kind": resource}))
    }

    /// `NewForbidden`: `pods "x" is forbidden: <why>` (403 Forbidden).
    pub fn forbidden(resource: &str, name: &str, why: &str) -> Self {
        let (group, qualified) = qualify(resource);
        ApiError::new(
            403,
            "Forbidden",
            format!("{qualified} \"{name}\" is forbidden: {why}"),
        )
        .with_details(json!({"name": name, "group": group, "kind": resource}))
    }

    /// Creating in a namespace that is being deleted; upstream
    /// `plugin/pkg/admission/namespace/lifecycle/admission.go` (NewForbidden + cause NamespaceTerminating).
    pub fn namespace_terminating(resource: &str, name: &str, namespace: &str) -> Self {
        let why = format!(
            "unable to create new content in namespace {namespace} because it is being terminated"
        );
        let mut err = ApiError::forbidden(resource, name, &why);
        if let Some(Value::Object(details)) = err.details.as_mut() {
            details.insert(
                "causes".into(),
                json!([{"reason": "NamespaceTerminating", "message": format!("namespace {namespace} is being terminated"), "field": "metadata.namespace"}]),
            );
        }
        err
    }

    /// The `metav1.Status` JSON body of this error.
    pub fn to_status(&self) -> Object {
        let mut status = json!({
            "kind": "Status",
            "apiVersion": "v1",
            "metadata": {},
            "status": "Failure",
            "message": self.message,
            "reason": self.reason,
            "code": self.code,
        });
        if let (Some(details), Value::Object(map)) = (&self.details, &mut status) {
            map.insert("details".into(), clean_details(details));
        }
        status
    }
}

/// Drops empty strings from details, as Go's `omitempty` would.
fn clean_details(details: &Value) -> Value {
    match details {
        Value::Object(map) => Value::Object(
            map.iter()
                .filter(|(_, v)| !matches!(v, Value::String(s) if s.is_empty()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
        ),
        other => other.clone(),
    }
}

/// `(group, "plural[.group]")` for a plural as `schema.GroupResource.String()` renders it.
fn qualify(resource: &str) -> (String, String) {
    match resources::find(resource) {
        Some(def) if !def.group.is_empty() => {
            (def.group.to_string(), format!("{resource}.{}", def.group))
        }
        _ => (String::new(), resource.to_string()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn not_found_is_qualified_for_named_groups() {
        assert_eq!(
            ApiError::not_found("pods", "web").message,
            "pods \"web\" not found"
        );
        assert_eq!(
            ApiError::not_found("servicecidrs", "extra").message,
            "servicecidrs.networking.k8s.io \"extra\" not found"
        );
    }

    #[test]
    fn invalid_renders_single_and_aggregate() {
        let one = ApiError::invalid(
            "Service",
            "web",
            vec![Cause::invalid_value(
                "spec.ipFamilies[0]",
                &json!("IPv7"),
                "must be IPv4 or IPv6",
            )],
        );
        assert_eq!(
            one.message,
            "Service \"web\" is invalid: spec.ipFamilies[0]: Invalid value: \"IPv7\": must be IPv4 or IPv6"
        );
        let two = ApiError::invalid(
            "Service",
            "web",
            vec![
                Cause::required("spec.ports", ""),
                Cause::required("spec.selector", ""),
            ],
        );
        assert_eq!(
            two.message,
            "Service \"web\" is invalid: [spec.ports: Required value, spec.selector: Required value]"
        );
        assert_eq!(
            two.to_status()["details"]["causes"][0]["reason"],
            "FieldValueRequired"
        );
    }

    #[test]
    fn namespace_terminating_matches_upstream_text() {
        let e = ApiError::namespace_terminating("configmaps", "c", "t1");
        assert_eq!(e.code, 403);
        assert_eq!(
            e.message,
            "configmaps \"c\" is forbidden: unable to create new content in namespace t1 because it is being terminated"
        );
    }
}
