//! `metav1.LabelSelector` as the apiserver and the controllers evaluate it against an object's labels.
//!
//! upstream: staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/helpers.go (`LabelSelectorAsSelector`: a nil
//! selector selects nothing, an empty one everything; matchLabels and matchExpressions are ANDed),
//! staging/src/k8s.io/apimachinery/pkg/labels/selector.go (`Requirement.Matches`: In, NotIn, Exists,
//! DoesNotExist).

use serde_json::Value;

/// `LabelSelectorAsSelector(selector).Matches(labels)`: a missing (non-object) selector matches nothing,
/// an empty one everything.
pub fn label_selector_matches(selector: &Value, labels: &Value) -> bool {
    if !selector.is_object() {
        return false;
    }
    let label = |key: &str| labels.get(key).and_then(Value::as_str);
    let match_labels = selector["matchLabels"]
        .as_object()
        .into_iter()
        .flatten()
        .all(|(k, v)| label(k).is_some() && label(k) == v.as_str());
    let match_expressions = selector["matchExpressions"]
        .as_array()
        .into_iter()
        .flatten()
        .all(|expr| {
            let value = expr["key"].as_str().and_then(label);
            let values: Vec<&str> = expr["values"]
                .as_array()
                .into_iter()
                .flatten()
                .filter_map(Value::as_str)
                .collect();
            match expr["operator"].as_str() {
                Some("In") => value.is_some_and(|v| values.contains(&v)),
                Some("NotIn") => value.is_none_or(|v| !values.contains(&v)),
                Some("Exists") => value.is_some(),
                Some("DoesNotExist") => value.is_none(),
                // The apiserver rejects other operators; a selector that cannot parse selects nothing.
                _ => false,
            }
        });
    match_labels && match_expressions
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn label_selectors() {
        let labels = json!({"role": "db", "tier": "back"});
        assert!(label_selector_matches(&json!({}), &labels));
        assert!(!label_selector_matches(&Value::Null, &labels));
        assert!(label_selector_matches(
            &json!({"matchLabels": {"role": "db"}}),
            &labels
        ));
        assert!(!label_selector_matches(
            &json!({"matchLabels": {"role": "db", "x": "y"}}),
            &labels
        ));
        let expr = |op: &str, values: Value| json!({"matchExpressions": [{"key": "tier", "operator": op, "values": values}]});
        assert!(label_selector_matches(
            &expr("In", json!(["back", "front"])),
            &labels
        ));
        assert!(!label_selector_matches(
            &expr("NotIn", json!(["back"])),
            &labels
        ));
        assert!(label_selector_matches(
            &expr("NotIn", json!(["front"])),
            &labels
        ));
        assert!(label_selector_matches(&expr("Exists", json!([])), &labels));
        assert!(!label_selector_matches(
            &expr("DoesNotExist", json!([])),
            &labels
        ));
        assert!(label_selector_matches(
            &expr("DoesNotExist", json!([])),
            &json!({})
        ));
        assert!(label_selector_matches(
            &json!({"matchLabels": {"role": "db"}, "matchExpressions": [
                {"key": "tier", "operator": "In", "values": ["front", "back"]},
                {"key": "gone", "operator": "DoesNotExist"}]}),
            &labels
        ));
    }
}
