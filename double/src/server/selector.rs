//! Label and field selectors on list and watch.
//! upstream: staging/src/k8s.io/apimachinery/pkg/labels/selector.go (Parse) and
//! staging/src/k8s.io/apimachinery/pkg/fields/selector.go (ParseSelector); the fields each
//! resource supports: pkg/registry/core/*/strategy.go (ToSelectableFields / GetAttrs).

use serde_json::Value;

use super::route::Query;
use crate::Object;
use crate::api_error::ApiError;
use crate::resources::ResourceDef;

#[derive(Debug, Clone, PartialEq)]
enum LabelOp {
    Exists,
    DoesNotExist,
    Equals(String),
    NotEquals(String),
    In(Vec<String>),
    NotIn(Vec<String>),
    GreaterThan(i64),
    LessThan(i64),
}

/// A parsed `labelSelector`.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct LabelSelector(Vec<(String, LabelOp)>);

impl LabelSelector {
    pub fn parse(raw: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for term in split_terms(raw) {
            let term = term.trim();
            if term.is_empty() {
                continue;
            }
            requirements.push(parse_label_term(term).map_err(|why| {
                ApiError::bad_request(&format!("unable to parse requirement: {why}"))
            })?);
        }
        Ok(LabelSelector(requirements))
    }

    pub fn matches(&self, obj: &Object) -> bool {
        let labels = &obj["metadata"]["labels"];
        self.0.iter().all(|(key, op)| {
            let value = labels.get(key).and_then(Value::as_str);
            match op {
                LabelOp::Exists => value.is_some(),
                LabelOp::DoesNotExist => value.is_none(),
                LabelOp::Equals(want) => value == Some(want.as_str()),
                LabelOp::NotEquals(want) => value != Some(want.as_str()),
                LabelOp::In(set) => value.is_some_and(|v| set.iter().any(|s| s == v)),
                LabelOp::NotIn(set) => value.is_none_or(|v| !set.iter().any(|s| s == v)),
                LabelOp::GreaterThan(n) => value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v > *n),
                LabelOp::LessThan(n) => value
                    .and_then(|v| v.parse::<i64>().ok())
                    .is_some_and(|v| v < *n),
            }
        })
    }
}

/// Splits on commas outside parentheses (`a in (x,y),b` -> `a in (x,y)`, `b`).
fn split_terms(raw: &str) -> Vec<String> {
    let mut terms = Vec::new();
    let mut depth = 0usize;
    let mut current = String::new();
    for c in raw.chars() {
        match c {
            '(' => {
                depth += 1;
                current.push(c);
            }
            ')' => {
                depth = depth.saturating_sub(1);
                current.push(c);
            }
            ',' if depth == 0 => terms.push(std::mem::take(&mut current)),
            _ => current.push(c),
        }
    }
    terms.push(current);
    terms
}

fn parse_label_term(term: &str) -> Result<(String, LabelOp), String> {
    if let Some(key) = term.strip_prefix('!') {
        return Ok((valid_key(key.trim())?, LabelOp::DoesNotExist));
    }
    for (token, build) in [("!=", 0), ("==", 1), ("=", 1), (">", 2), ("<", 3)] {
        if let Some((key, value)) = term.split_once(token) {
            let key = valid_key(key.trim())?;
            let value = value.trim().to_string();
            return Ok(match build {
                0 => (key, LabelOp::NotEquals(value)),
                1 => (key, LabelOp::Equals(value)),
                2 => (
                    key,
                    LabelOp::GreaterThan(
                        value
                            .parse()
                            .map_err(|_| format!("invalid integer value {value}"))?,
                    ),
                ),
                _ => (
                    key,
                    LabelOp::LessThan(
                        value
                            .parse()
                            .map_err(|_| format!("invalid integer value {value}"))?,
                    ),
                ),
            });
        }
    }
    let words: Vec<&str> = term.splitn(2, char::is_whitespace).collect();
    if let [key, rest] = words.as_slice() {
        let rest = rest.trim();
        let (negated, set) = if let Some(set) = rest.strip_prefix("notin") {
            (true, set)
        } else if let Some(set) = rest.strip_prefix("in") {
            (false, set)
        } else {
            return Err(format!(
                "found '{rest}', expected: in, notin, =, ==, !=, gt, lt"
            ));
        };
        let set = set.trim();
        let inner = set
            .strip_prefix('(')
            .and_then(|s| s.strip_suffix(')'))
            .ok_or_else(|| format!("found '{set}', expected: '('"))?;
        let values: Vec<String> = inner
            .split(',')
            .map(|v| v.trim().to_string())
            .filter(|v| !v.is_empty())
            .collect();
        let key = valid_key(key)?;
        return Ok(if negated {
            (key, LabelOp::NotIn(values))
        } else {
            (key, LabelOp::In(values))
        });
    }
    Ok((valid_key(term)?, LabelOp::Exists))
}

fn valid_key(key: &str) -> Result<String, String> {
    if key.is_empty() || key.contains(char::is_whitespace) || key.contains(['(', ')', '!', '=']) {
        return Err(format!("invalid label key \"{key}\""));
    }
    Ok(key.to_string())
}

/// A parsed `fieldSelector` (only `=`, `==` and `!=`, as upstream).
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct FieldSelector(Vec<(String, bool, String)>);

impl FieldSelector {
    /// Parses and checks every field is selectable for `resource`.
    pub fn parse(raw: &str, resource: &str) -> Result<Self, ApiError> {
        let mut requirements = Vec::new();
        for term in split_unescaped(raw, ',') {
            if term.is_empty() {
                continue;
            }
            let (field, equal, value) = if let Some((f, v)) = split_once_unescaped(&term, "!=") {
                (f, false, v)
            } else if let Some((f, v)) = split_once_unescaped(&term, "==") {
                (f, true, v)
            } else if let Some((f, v)) = split_once_unescaped(&term, "=") {
                (f, true, v)
            } else {
                return Err(ApiError::bad_request(&format!(
                    "invalid selector: '{raw}'; can't understand '{term}'"
                )));
            };
            let field = field.trim().to_string();
            if !selectable_fields(resource).contains(&field.as_str()) {
                // upstream: pkg/registry/... returns `field label not supported: <field>` as a 400.
                return Err(ApiError::bad_request(&format!(
                    "field label not supported: {field}"
                )));
            }
            requirements.push((field, equal, unescape(&value)));
        }
        Ok(FieldSelector(requirements))
    }

    pub fn matches(&self, obj: &Object) -> bool {
        self.0
            .iter()
            .all(|(field, equal, want)| (field_value(obj, field) == *want) == *equal)
    }
}

/// The fields upstream lets each resource select on (`metadata.name`/`metadata.namespace` always).
fn selectable_fields(resource: &str) -> &'static [&'static str] {
    match resource {
        // upstream: pkg/registry/core/pod/strategy.go ToSelectableFields
        "pods" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.nodeName",
            "spec.restartPolicy",
            "spec.schedulerName",
            "spec.serviceAccountName",
            "spec.hostNetwork",
            "status.phase",
            "status.podIP",
            "status.podIPs",
            "status.nominatedNodeName",
        ],
        // upstream: pkg/registry/core/event/strategy.go ToSelectableFields
        "events" => &[
            "metadata.name",
            "metadata.namespace",
            "involvedObject.kind",
            "involvedObject.namespace",
            "involvedObject.name",
            "involvedObject.uid",
            "involvedObject.apiVersion",
            "involvedObject.resourceVersion",
            "involvedObject.fieldPath",
            "reason",
            "reportingComponent",
            "source",
            "type",
        ],
        "namespaces" => &["metadata.name", "metadata.namespace", "status.phase"],
        "nodes" => &["metadata.name", "metadata.namespace", "spec.unschedulable"],
        "services" => &[
            "metadata.name",
            "metadata.namespace",
            "spec.clusterIP",
            "spec.type",
        ],
        "endpointslices" => &["metadata.name", "metadata.namespace", "addressType"],
        _ => &["metadata.name", "metadata.namespace"],
    }
}

/// The string value of a selectable field (`""` when absent, `true`/`false` for booleans).
fn field_value(obj: &Object, field: &str) -> String {
    if field == "status.podIPs" {
        // upstream selects on the first pod IP only
        return obj["status"]["podIPs"][0]["ip"]
            .as_str()
            .unwrap_or("")
            .to_string();
    }
    if field == "source" {
        return obj["source"]["component"]
            .as_str()
            .unwrap_or("")
            .to_string();
    }
    let mut current = obj;
    for part in field.split('.') {
        current = &current[part];
    }
    match current {
        Value::String(s) => s.clone(),
        Value::Bool(b) => b.to_string(),
        Value::Number(n) => n.to_string(),
        Value::Null if field == "spec.hostNetwork" || field == "spec.unschedulable" => {
            "false".into()
        }
        _ => String::new(),
    }
}

fn split_unescaped(raw: &str, sep: char) -> Vec<String> {
    let mut parts = Vec::new();
    let mut current = String::new();
    let mut escaped = false;
    for c in raw.chars() {
        if escaped {
            current.push('\\');
            current.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else if c == sep {
            parts.push(std::mem::take(&mut current));
        } else {
            current.push(c);
        }
    }
    parts.push(current);
    parts
}

fn split_once_unescaped(term: &str, op: &str) -> Option<(String, String)> {
    let mut search = 0;
    while let Some(found) = term[search..].find(op) {
        let at = search + found;
        let backslashes = term[..at].chars().rev().take_while(|c| *c == '\\').count();
        if backslashes % 2 == 0 {
            return Some((term[..at].to_string(), term[at + op.len()..].to_string()));
        }
        search = at + op.len();
    }
    None
}

fn unescape(value: &str) -> String {
    let mut out = String::new();
    let mut escaped = false;
    for c in value.chars() {
        if escaped {
            out.push(c);
            escaped = false;
        } else if c == '\\' {
            escaped = true;
        } else {
            out.push(c);
        }
    }
    out
}

/// Label and field selectors of a list or watch.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selectors {
    pub labels: LabelSelector,
    pub fields: FieldSelector,
}

impl Selectors {
    pub fn from_query(query: &Query, def: &ResourceDef) -> Result<Self, ApiError> {
        Ok(Selectors {
            labels: LabelSelector::parse(query.get("labelSelector").unwrap_or(""))?,
            fields: FieldSelector::parse(query.get("fieldSelector").unwrap_or(""), def.plural)?,
        })
    }

    pub fn matches(&self, obj: &Object) -> bool {
        self.labels.matches(obj) && self.fields.matches(obj)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn pod(labels: Value) -> Object {
        json!({"metadata": {"name": "p", "namespace": "ns", "labels": labels}, "spec": {"nodeName": "n1"}, "status": {"phase": "Running"}})
    }

    #[test]
    fn label_selectors() {
        let obj = pod(json!({"app": "web", "tier": "front"}));
        for (selector, expected) in [
            ("app=web", true),
            ("app==web", true),
            ("app!=web", false),
            ("app in (web, db)", true),
            ("app notin (web,db)", false),
            ("tier,app=web", true),
            ("!missing", true),
            ("missing", false),
            ("!app", false),
            ("missing!=x", true),
            ("app in (db),tier", false),
            ("", true),
        ] {
            assert_eq!(
                LabelSelector::parse(selector).unwrap().matches(&obj),
                expected,
                "{selector}"
            );
        }
        assert!(LabelSelector::parse("app in web").is_err());
    }

    #[test]
    fn field_selectors() {
        let obj = pod(json!({}));
        let sel = FieldSelector::parse("spec.nodeName=n1,status.phase!=Pending", "pods").unwrap();
        assert!(sel.matches(&obj));
        let sel = FieldSelector::parse("metadata.name==q", "pods").unwrap();
        assert!(!sel.matches(&obj));
        let err = FieldSelector::parse("spec.nodeName=n1", "configmaps").unwrap_err();
        assert_eq!(
            (err.code, err.message.as_str()),
            (400, "field label not supported: spec.nodeName")
        );
    }
}
