//! Loading the docs' example manifests (multi-document YAML) and applying them with server-side apply.
//!
//! A malformed file is reported on one line with its location, `manifests/x.yaml:12:5: <problem>`, both for
//! YAML syntax errors (serde-saphyr's message) and for YAML that parses but is not a Kubernetes object, such
//! as a copy whose `metadata`/`spec` fields lost their indentation (valid YAML, wrong object).

use std::fmt;
use std::path::Path;

use kube::api::{Api, ApiResource, DynamicObject, GroupVersionKind, Patch, PatchParams};
use kube::discovery::{self, Scope};
use kube::{Client, ResourceExt};
use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde_json::Value;
use serde_saphyr::Spanned;

use crate::text::one_line;

/// A problem in a manifest file, with its location when known.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub struct ManifestError {
    pub file: String,
    /// 1-based line and column.
    pub location: Option<(u64, u64)>,
    pub message: String,
}

impl ManifestError {
    pub fn new(
        file: impl Into<String>,
        location: Option<(u64, u64)>,
        message: impl Into<String>,
    ) -> ManifestError {
        ManifestError {
            file: file.into(),
            location,
            message: one_line(&message.into()),
        }
    }
}

impl fmt::Display for ManifestError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.location {
            Some((line, column)) => write!(f, "{}:{line}:{column}: {}", self.file, self.message),
            None => write!(f, "{}: {}", self.file, self.message),
        }
    }
}

/// Reads and validates a manifest file; the error names the file as given.
pub fn load_file(path: &Path) -> Result<Vec<DynamicObject>, ManifestError> {
    let name = path.display().to_string();
    let text = std::fs::read_to_string(path)
        .map_err(|e| ManifestError::new(&name, None, format!("cannot read: {e}")))?;
    load_str(&name, &text)
}

/// Parses `text` (named `file` in errors) into objects, checking each has apiVersion, kind and metadata.name.
pub fn load_str(file: &str, text: &str) -> Result<Vec<DynamicObject>, ManifestError> {
    let options = serde_saphyr::options! { with_snippet: false };
    let docs: Vec<Value> =
        serde_saphyr::from_str_multiple_with_options::<Value, Vec<Value>>(text, options)
            .map_err(|e| ManifestError::new(file, location_of(&e), yaml_message(&e)))?;
    // A second pass keeps where each top-level field is, for errors about YAML that parsed.
    let options = serde_saphyr::options! { with_snippet: false };
    let keyed: Vec<KeyedDoc> =
        serde_saphyr::from_str_multiple_with_options::<KeyedDoc, Vec<KeyedDoc>>(text, options)
            .map_err(|e| ManifestError::new(file, location_of(&e), yaml_message(&e)))?;
    if docs.is_empty() {
        return Err(ManifestError::new(file, None, "no YAML documents"));
    }
    docs.into_iter()
        .enumerate()
        .map(|(index, doc)| check_document(file, index, doc, keyed.get(index)))
        .collect()
}

fn location_of(err: &serde_saphyr::Error) -> Option<(u64, u64)> {
    err.location()
        .filter(|l| l.line() > 0)
        .map(|l| (l.line(), l.column()))
}

/// serde-saphyr's message without its own "at line X column Y" suffix (the location is our prefix).
fn yaml_message(err: &serde_saphyr::Error) -> String {
    let mut text = one_line(&err.to_string());
    if let Some(i) = text.find(" at line ")
        && location_of(err).is_some()
    {
        text.truncate(i);
    }
    // serde-saphyr's hint to its API user ("set DuplicateKeyPolicy in Options") means nothing to ours.
    if let Some(i) = text.find(", set ")
        && text[i..].contains("Options")
    {
        text.truncate(i);
    }
    text
}

/// Top-level fields of one document with the location of each key's value.
#[derive(Default)]
struct KeyedDoc {
    fields: Vec<(String, (u64, u64))>,
}

impl<'de> Deserialize<'de> for KeyedDoc {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct KeyedVisitor;
        impl<'de> Visitor<'de> for KeyedVisitor {
            type Value = KeyedDoc;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a YAML document")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<KeyedDoc, A::Error> {
                let mut doc = KeyedDoc::default();
                while let Some((key, _value)) = map.next_entry::<Spanned<Value>, IgnoredAny>()? {
                    let name = match &key.value {
                        Value::String(s) => s.clone(),
                        other => other.to_string(),
                    };
                    doc.fields
                        .push((name, (key.referenced.line(), key.referenced.column())));
                }
                Ok(doc)
            }
            // Non-mapping documents are reported by `check_document`; here they only need to parse.
            fn visit_seq<A: serde::de::SeqAccess<'de>>(
                self,
                mut seq: A,
            ) -> Result<KeyedDoc, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(KeyedDoc::default())
            }
            fn visit_str<E: serde::de::Error>(self, _: &str) -> Result<KeyedDoc, E> {
                Ok(KeyedDoc::default())
            }
            fn visit_bool<E: serde::de::Error>(self, _: bool) -> Result<KeyedDoc, E> {
                Ok(KeyedDoc::default())
            }
            fn visit_i64<E: serde::de::Error>(self, _: i64) -> Result<KeyedDoc, E> {
                Ok(KeyedDoc::default())
            }
            fn visit_u64<E: serde::de::Error>(self, _: u64) -> Result<KeyedDoc, E> {
                Ok(KeyedDoc::default())
            }
            fn visit_f64<E: serde::de::Error>(self, _: f64) -> Result<KeyedDoc, E> {
                Ok(KeyedDoc::default())
            }
            fn visit_unit<E: serde::de::Error>(self) -> Result<KeyedDoc, E> {
                Ok(KeyedDoc::default())
            }
        }
        deserializer.deserialize_any(KeyedVisitor)
    }
}

impl KeyedDoc {
    fn location(&self, key: &str) -> Option<(u64, u64)> {
        self.fields
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, loc)| *loc)
    }
    fn start(&self) -> Option<(u64, u64)> {
        self.fields.first().map(|(_, loc)| *loc)
    }
}

/// Fields that belong under `metadata`; at the top level they mean lost indentation.
const METADATA_FIELDS: &[&str] = &[
    "name",
    "namespace",
    "labels",
    "annotations",
    "generateName",
    "finalizers",
    "ownerReferences",
];

/// Top-level fields of the built-in kinds (core, apps, networking, rbac, discovery, storage, scheduling).
/// Anything else at the top level is most likely a `spec` field that lost its indentation.
const TOP_LEVEL_FIELDS: &[&str] = &[
    "apiVersion",
    "kind",
    "metadata",
    "spec",
    "status",
    "data",
    "stringData",
    "binaryData",
    "type",
    "immutable",
    "items",
    "rules",
    "subjects",
    "roleRef",
    "aggregationRule",
    "webhooks",
    "secrets",
    "imagePullSecrets",
    "automountServiceAccountToken",
    "subsets",
    "addressType",
    "endpoints",
    "ports",
    "template",
    "provisioner",
    "parameters",
    "reclaimPolicy",
    "volumeBindingMode",
    "allowVolumeExpansion",
    "mountOptions",
    "allowedTopologies",
    "value",
    "globalDefault",
    "preemptionPolicy",
    "description",
    "handler",
    "overhead",
    "scheduling",
    "target",
    "involvedObject",
    "reason",
    "message",
    "source",
    "firstTimestamp",
    "lastTimestamp",
    "count",
    "eventTime",
    "reportingComponent",
    "reportingInstance",
    "action",
    "note",
    "regarding",
    "related",
    "series",
    "parentRef",
    "controller",
    "driverName",
];

fn check_document(
    file: &str,
    index: usize,
    doc: Value,
    keyed: Option<&KeyedDoc>,
) -> Result<DynamicObject, ManifestError> {
    let number = index + 1;
    let at = |key: &str| {
        keyed
            .and_then(|k| k.location(key))
            .or_else(|| keyed.and_then(KeyedDoc::start))
    };
    let fail = |loc: Option<(u64, u64)>, msg: String| {
        ManifestError::new(file, loc, format!("document {number}: {msg}"))
    };
    let Value::Object(map) = &doc else {
        return Err(fail(
            None,
            format!(
                "expected a mapping (a Kubernetes object), found {}",
                json_kind(&doc)
            ),
        ));
    };

    // Misplaced fields first: they explain the "missing" ones that follow from them.
    let fields: Vec<(String, (u64, u64))> = keyed.map(|k| k.fields.clone()).unwrap_or_default();
    for (key, loc) in &fields {
        if METADATA_FIELDS.contains(&key.as_str()) {
            return Err(fail(
                Some(*loc),
                format!(
                    "`{key}` is at the top level; it belongs under `metadata:` (check its indentation)"
                ),
            ));
        }
    }
    for (key, loc) in &fields {
        if !TOP_LEVEL_FIELDS.contains(&key.as_str()) {
            let parent = if map.get("spec").is_some_and(|s| s.is_null()) {
                " under `spec:`"
            } else {
                ""
            };
            return Err(fail(
                Some(*loc),
                format!("unexpected top-level field `{key}`; is it mis-indented{parent}?"),
            ));
        }
    }

    let api_version = match map.get("apiVersion") {
        Some(Value::String(s)) if !s.is_empty() => s.clone(),
        Some(other) => {
            return Err(fail(
                at("apiVersion"),
                format!(
                    "apiVersion must be a string like networking.k8s.io/v1, found {}",
                    json_kind(other)
                ),
            ));
        }
        None => {
            return Err(fail(
                keyed.and_then(KeyedDoc::start),
                "apiVersion is missing".into(),
            ));
        }
    };
    if api_version.split('/').count() > 2
        || api_version.ends_with('/')
        || api_version.starts_with('/')
    {
        return Err(fail(
            at("apiVersion"),
            format!("apiVersion {api_version:?} is not `group/version` or `version`"),
        ));
    }
    match map.get("kind") {
        Some(Value::String(s)) if !s.is_empty() => {}
        Some(other) => {
            return Err(fail(
                at("kind"),
                format!("kind must be a string, found {}", json_kind(other)),
            ));
        }
        None => {
            return Err(fail(
                keyed.and_then(KeyedDoc::start),
                "kind is missing".into(),
            ));
        }
    }
    match map.get("metadata") {
        Some(Value::Object(meta)) => {
            let named = matches!(meta.get("name"), Some(Value::String(n)) if !n.is_empty())
                || matches!(meta.get("generateName"), Some(Value::String(n)) if !n.is_empty());
            if !named {
                return Err(fail(at("metadata"), "metadata.name is missing".into()));
            }
        }
        Some(Value::Null) => {
            return Err(fail(
                at("metadata"),
                "metadata is empty; it needs at least `name:` indented under it".into(),
            ));
        }
        Some(other) => {
            return Err(fail(
                at("metadata"),
                format!("metadata must be a mapping, found {}", json_kind(other)),
            ));
        }
        None => {
            return Err(fail(
                keyed.and_then(KeyedDoc::start),
                "metadata is missing".into(),
            ));
        }
    }
    serde_json::from_value::<DynamicObject>(doc)
        .map_err(|e| fail(at("metadata"), format!("not a valid object: {e}")))
}

fn json_kind(v: &Value) -> &'static str {
    match v {
        Value::Null => "nothing",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "a list",
        Value::Object(_) => "a mapping",
    }
}

/// Whether an apiVersion is served, and what the cluster serves for that group instead.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GroupServing {
    /// `""` for the core group.
    pub group: String,
    pub requested_version: String,
    pub served: bool,
    /// Every version of the group the server serves (empty if the group is not served at all).
    pub served_versions: Vec<String>,
    pub preferred_version: Option<String>,
}

impl GroupServing {
    /// e.g. `networking.k8s.io/v1alpha1 is not served; the server serves networking.k8s.io v1 (preferred v1)`.
    pub fn describe(&self) -> String {
        let gv = join_gv(&self.group, &self.requested_version);
        if self.served {
            return format!("{gv} is served");
        }
        let group = if self.group.is_empty() {
            "the core group"
        } else {
            &self.group
        };
        if self.served_versions.is_empty() {
            return format!("{gv} is not served; the server does not serve {group} at all");
        }
        let preferred = self
            .preferred_version
            .as_deref()
            .map(|p| format!(" (preferred {p})"))
            .unwrap_or_default();
        format!(
            "{gv} is not served; the server serves {group} {}{preferred}",
            self.served_versions.join(", ")
        )
    }
}

fn join_gv(group: &str, version: &str) -> String {
    if group.is_empty() {
        version.to_string()
    } else {
        format!("{group}/{version}")
    }
}

/// Splits `group/version` (or the core `version`).
pub fn split_api_version(api_version: &str) -> (&str, &str) {
    api_version.split_once('/').unwrap_or(("", api_version))
}

/// Asks discovery whether `api_version` is served and which version of its group the server prefers.
pub async fn group_serving(
    client: &Client,
    api_version: &str,
) -> Result<GroupServing, kube::Error> {
    let (group, version) = split_api_version(api_version);
    let (served_versions, preferred_version) = if group.is_empty() {
        let core = client.list_core_api_versions().await?;
        let preferred = core.versions.first().cloned();
        (core.versions, preferred)
    } else {
        let groups = client.list_api_groups().await?;
        match groups.groups.into_iter().find(|g| g.name == group) {
            Some(g) => (
                g.versions.into_iter().map(|v| v.version).collect(),
                g.preferred_version.map(|p| p.version),
            ),
            None => (Vec::new(), None),
        }
    };
    Ok(GroupServing {
        group: group.to_string(),
        requested_version: version.to_string(),
        served: served_versions.iter().any(|v| v == version),
        served_versions,
        preferred_version,
    })
}

/// Why an object could not be applied.
#[derive(Debug, thiserror::Error)]
pub enum ApplyError {
    #[error("{kind} {name}: {}", serving.describe())]
    NotServed {
        kind: String,
        name: String,
        serving: GroupServing,
    },
    #[error("{kind} {name}: kind {kind} is not served in {api_version}: {reason}")]
    UnknownKind {
        kind: String,
        name: String,
        api_version: String,
        reason: String,
    },
    #[error("{kind} {name}: {reason}")]
    Api {
        kind: String,
        name: String,
        reason: String,
    },
}

/// Server-side applies `objects` in order (force: the suite owns what it applies) and returns what the server
/// stored. Namespaced objects go to `namespace`, replacing the namespace the docs' manifest names (trials
/// run in their own namespaces); with `None`, the manifest's namespace or `default`.
pub async fn apply(
    client: &Client,
    namespace: Option<&str>,
    objects: &[DynamicObject],
    field_manager: &str,
) -> Result<Vec<DynamicObject>, ApplyError> {
    let mut applied = Vec::with_capacity(objects.len());
    for object in objects {
        let kind = object
            .types
            .as_ref()
            .map(|t| t.kind.clone())
            .unwrap_or_default();
        let api_version = object
            .types
            .as_ref()
            .map(|t| t.api_version.clone())
            .unwrap_or_default();
        let name = object.name_any();
        let (group, version) = split_api_version(&api_version);
        let gvk = GroupVersionKind::gvk(group, version, &kind);
        let (resource, caps) = match discovery::pinned_kind(client, &gvk).await {
            Ok(found) => found,
            Err(err) => {
                // Distinguish "that apiVersion is not served" (a doc finding) from other failures.
                let serving =
                    group_serving(client, &api_version)
                        .await
                        .map_err(|e| ApplyError::Api {
                            kind: kind.clone(),
                            name: name.clone(),
                            reason: one_line(&e.to_string()),
                        })?;
                if !serving.served {
                    return Err(ApplyError::NotServed {
                        kind,
                        name,
                        serving,
                    });
                }
                return Err(ApplyError::UnknownKind {
                    kind,
                    name,
                    api_version,
                    reason: one_line(&err.to_string()),
                });
            }
        };
        let mut body = object.clone();
        let api: Api<DynamicObject> = match caps.scope {
            Scope::Namespaced => {
                let ns = namespace
                    .map(str::to_string)
                    .or_else(|| object.metadata.namespace.clone())
                    .unwrap_or_else(|| "default".to_string());
                body.metadata.namespace = Some(ns.clone());
                Api::namespaced_with(client.clone(), &ns, &resource)
            }
            Scope::Cluster => {
                body.metadata.namespace = None;
                Api::all_with(client.clone(), &resource)
            }
        };
        let params = PatchParams::apply(field_manager).force();
        let stored = api
            .patch(&name, &params, &Patch::Apply(&body))
            .await
            .map_err(|e| ApplyError::Api {
                kind: kind.clone(),
                name: name.clone(),
                reason: one_line(&e.to_string()),
            })?;
        applied.push(stored);
    }
    Ok(applied)
}

/// The [`ApiResource`] for an object's apiVersion/kind, as the server serves it.
pub async fn resource_for(
    client: &Client,
    object: &DynamicObject,
) -> Result<ApiResource, kube::Error> {
    let types = object.types.clone().unwrap_or_default();
    let (group, version) = split_api_version(&types.api_version);
    let (resource, _) =
        discovery::pinned_kind(client, &GroupVersionKind::gvk(group, version, &types.kind)).await?;
    Ok(resource)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The NetworkPolicy example exactly as the seed 001 copy has it: `metadata:`/`spec:` children lost
    /// their indentation (valid YAML, not a valid object).
    const BROKEN_NETWORK_POLICY: &str =
        include_str!("../tests/fixtures/networkpolicy-misindented.yaml");

    #[test]
    fn rejects_the_misindented_network_policy_with_file_and_line() {
        let err = load_str(
            "tests/fixtures/networkpolicy-misindented.yaml",
            BROKEN_NETWORK_POLICY,
        )
        .unwrap_err();
        assert_eq!(err.location, Some((4, 1)), "{err}");
        let line = err.to_string();
        assert!(
            line.starts_with("tests/fixtures/networkpolicy-misindented.yaml:4:1: "),
            "{line}"
        );
        assert!(
            line.contains("`name` is at the top level; it belongs under `metadata:`"),
            "{line}"
        );
        assert!(!line.contains('\n'));
    }

    #[test]
    fn the_seed_still_holds_the_misindented_copy() {
        // The fixture is the seed's text; if the seed changes, refresh the fixture from it.
        let seed = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../shared/seeds/001_5f25e3cfec319c4b.txt"
        ));
        let Ok(seed) = seed else { return };
        assert!(
            seed.contains(BROKEN_NETWORK_POLICY.trim_end()),
            "fixture differs from the seed's copy"
        );
    }

    #[test]
    fn accepts_the_correctly_indented_network_policy() {
        let fixed = "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: test-network-policy\n  namespace: default\nspec:\n  podSelector:\n    matchLabels:\n      role: db\n  policyTypes:\n    - Ingress\n";
        let objs = load_str("np.yaml", fixed).unwrap();
        assert_eq!(objs.len(), 1);
        assert_eq!(objs[0].name_any(), "test-network-policy");
        assert_eq!(objs[0].types.as_ref().unwrap().kind, "NetworkPolicy");
        assert_eq!(
            objs[0].data["spec"]["podSelector"]["matchLabels"]["role"],
            "db"
        );
    }

    #[test]
    fn syntax_errors_carry_line_and_column() {
        let bad = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: x\nspec:\n  containers:\n  - name: a\n    image: busybox\n   bad: [1,\n";
        let err = load_str("manifests/x.yaml", bad).unwrap_err();
        let (line, column) = err.location.expect("a location");
        assert!(line >= 9, "{err}");
        assert!(column >= 1);
        assert!(
            err.to_string()
                .starts_with(&format!("manifests/x.yaml:{line}:{column}: ")),
            "{err}"
        );
        assert!(!err.to_string().contains('\n'), "{err}");
    }

    #[test]
    fn multi_document_files_keep_order_and_skip_empty_documents() {
        let text = "---\napiVersion: v1\nkind: Service\nmetadata:\n  name: a\n---\n---\napiVersion: v1\nkind: Pod\nmetadata:\n  name: b\n";
        let objs = load_str("m.yaml", text).unwrap();
        assert_eq!(
            objs.iter().map(|o| o.name_any()).collect::<Vec<_>>(),
            vec!["a", "b"]
        );
    }

    #[test]
    fn missing_fields_are_reported_in_the_right_document() {
        let text = "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\n---\nkind: Pod\nmetadata:\n  name: b\n";
        let err = load_str("m.yaml", text).unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.yaml:6:1: document 2: apiVersion is missing"
        );
        let err = load_str(
            "m.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  labels: {a: b}\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.yaml:3:1: document 1: metadata.name is missing"
        );
        let err = load_str("m.yaml", "- a\n- b\n").unwrap_err();
        assert!(err.to_string().contains("expected a mapping"), "{err}");
        let err = load_str(
            "m.yaml",
            "apiVersion: v1\nkind: Pod\nmetadata:\n  name: a\ncontainers: []\n",
        )
        .unwrap_err();
        assert_eq!(
            err.to_string(),
            "m.yaml:5:1: document 1: unexpected top-level field `containers`; is it mis-indented?"
        );
        assert!(load_str("m.yaml", "").is_err());
        let err = load_str("d.yaml", "apiVersion: v1\napiVersion: v2\n").unwrap_err();
        assert_eq!(
            err.to_string(),
            "d.yaml:2:1: duplicate mapping key: apiVersion"
        );
    }

    #[test]
    fn canonical_manifests_parse() {
        // The docs' manifests (written by the manifests owner) must all load; absent ones are skipped.
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../manifests");
        let mut files = Vec::new();
        collect_yaml(&root, &mut files);
        for file in files {
            if let Err(e) = load_file(&file) {
                panic!("{e}");
            }
        }
    }

    fn collect_yaml(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
        let Ok(entries) = std::fs::read_dir(dir) else {
            return;
        };
        for entry in entries.flatten() {
            let path = entry.path();
            if path.is_dir() {
                collect_yaml(&path, out);
            } else if path.extension().is_some_and(|e| e == "yaml" || e == "yml") {
                out.push(path);
            }
        }
    }

    /// Against the offline test double (a real API server speaking HTTP on 127.0.0.1).
    #[cfg(feature = "double")]
    #[tokio::test]
    async fn applies_with_server_side_apply_and_reports_unserved_versions() {
        use k8s_openapi::api::core::v1::Namespace;
        let double = netconform_double::Double::start(netconform_double::DoubleConfig::default())
            .await
            .unwrap();
        let connected =
            crate::cluster::kubeconfig::connect_yaml(&double.kubeconfig_yaml(), "double")
                .await
                .unwrap();
        let client = connected.client;
        let ns: Namespace =
            serde_json::from_value(serde_json::json!({"metadata": {"name": "nc-apply"}})).unwrap();
        Api::<Namespace>::all(client.clone())
            .create(&Default::default(), &ns)
            .await
            .unwrap();

        let objects = load_str(
            "np.yaml",
            "apiVersion: networking.k8s.io/v1\nkind: NetworkPolicy\nmetadata:\n  name: test-network-policy\n  namespace: default\nspec:\n  podSelector:\n    matchLabels:\n      role: db\n  policyTypes: [Ingress]\n---\napiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: cm\ndata:\n  a: b\n",
        )
        .unwrap();
        let stored = apply(&client, Some("nc-apply"), &objects, "netconform-test")
            .await
            .unwrap();
        assert_eq!(stored.len(), 2);
        assert_eq!(
            stored[0].namespace().as_deref(),
            Some("nc-apply"),
            "the trial namespace replaces the manifest's"
        );
        assert_eq!(stored[1].data["data"]["a"], "b");
        // Applying again is idempotent.
        apply(&client, Some("nc-apply"), &objects, "netconform-test")
            .await
            .unwrap();

        let serving = group_serving(&client, "networking.k8s.io/v1alpha1")
            .await
            .unwrap();
        assert!(!serving.served);
        assert_eq!(serving.preferred_version.as_deref(), Some("v1"));
        assert!(group_serving(&client, "v1").await.unwrap().served);
        let stale = load_str("s.yaml", "apiVersion: networking.k8s.io/v1alpha1\nkind: ServiceCIDR\nmetadata:\n  name: newcidr1\nspec:\n  cidrs: [10.96.0.0/24]\n").unwrap();
        let err = apply(&client, None, &stale, "netconform-test")
            .await
            .unwrap_err();
        assert!(matches!(err, ApplyError::NotServed { .. }), "{err}");
        assert!(
            err.to_string().contains(
                "networking.k8s.io/v1alpha1 is not served; the server serves networking.k8s.io v1"
            ),
            "{err}"
        );
        double.shutdown().await;
    }

    #[test]
    fn api_versions_split_and_describe() {
        assert_eq!(split_api_version("v1"), ("", "v1"));
        assert_eq!(
            split_api_version("networking.k8s.io/v1alpha1"),
            ("networking.k8s.io", "v1alpha1")
        );
        let s = GroupServing {
            group: "networking.k8s.io".into(),
            requested_version: "v1alpha1".into(),
            served: false,
            served_versions: vec!["v1".into()],
            preferred_version: Some("v1".into()),
        };
        assert_eq!(
            s.describe(),
            "networking.k8s.io/v1alpha1 is not served; the server serves networking.k8s.io v1 (preferred v1)"
        );
    }
}
