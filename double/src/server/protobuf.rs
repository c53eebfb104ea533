//! Decoding of the Kubernetes protobuf encoding for the few objects kubectl's typed clients send
//! that way (`kubectl create namespace|configmap|serviceaccount|service|deployment ...` POST
//! `application/vnd.kubernetes.protobuf`). Other types are answered 415 as an apiserver that lacks
//! the encoding would.
//!
//! Wire format: the magic `k8s\0`, then a `runtime.Unknown` {typeMeta=1 {apiVersion=1, kind=2},
//! raw=2} whose `raw` is the object's message. Field numbers are those of upstream's
//! staging/src/k8s.io/api/core/v1/generated.proto and
//! staging/src/k8s.io/apimachinery/pkg/apis/meta/v1/generated.proto;
//! envelope: staging/src/k8s.io/apimachinery/pkg/runtime/serializer/protobuf/protobuf.go.

use std::time::{Duration, UNIX_EPOCH};

use serde_json::{Map, Value, json};

use crate::api_error::ApiError;
use crate::model::time;

pub(crate) const CONTENT_TYPE: &str = "application/vnd.kubernetes.protobuf";
const MAGIC: &[u8] = b"k8s\x00";

#[derive(Clone, Copy)]
enum Kind {
    Str,
    Int,
    Bool,
    Msg(&'static [Field]),
    /// map<string,string>
    MapStr,
    /// map<string,bytes>
    MapBytes,
    IntOrString,
    Time,
}

#[derive(Clone, Copy)]
struct Field {
    number: u64,
    name: &'static str,
    kind: Kind,
    repeated: bool,
    /// A Go pointer field (`*bool`, `*string`, ...): a zero value is meaningful and kept. Go's
    /// protobuf marshalling writes non-pointer zero values too; JSON `omitempty` drops them.
    pointer: bool,
}

const fn f(number: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        number,
        name,
        kind,
        repeated: false,
        pointer: false,
    }
}

const fn ptr(number: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        number,
        name,
        kind,
        repeated: false,
        pointer: true,
    }
}

const fn rep(number: u64, name: &'static str, kind: Kind) -> Field {
    Field {
        number,
        name,
        kind,
        repeated: true,
        pointer: false,
    }
}

const OWNER_REFERENCE: &[Field] = &[
    f(1, "kind", Kind::Str),
    f(3, "name", Kind::Str),
    f(4, "uid", Kind::Str),
    f(5, "apiVersion", Kind::Str),
    ptr(6, "controller", Kind::Bool),
    ptr(7, "blockOwnerDeletion", Kind::Bool),
];

const OBJECT_META: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "generateName", Kind::Str),
    f(3, "namespace", Kind::Str),
    f(4, "selfLink", Kind::Str),
    f(5, "uid", Kind::Str),
    f(6, "resourceVersion", Kind::Str),
    f(7, "generation", Kind::Int),
    f(8, "creationTimestamp", Kind::Time),
    ptr(9, "deletionTimestamp", Kind::Time),
    ptr(10, "deletionGracePeriodSeconds", Kind::Int),
    f(11, "labels", Kind::MapStr),
    f(12, "annotations", Kind::MapStr),
    rep(13, "ownerReferences", Kind::Msg(OWNER_REFERENCE)),
    rep(14, "finalizers", Kind::Str),
];

const OBJECT_REFERENCE: &[Field] = &[
    f(1, "kind", Kind::Str),
    f(2, "namespace", Kind::Str),
    f(3, "name", Kind::Str),
    f(4, "uid", Kind::Str),
    f(5, "apiVersion", Kind::Str),
    f(6, "resourceVersion", Kind::Str),
    f(7, "fieldPath", Kind::Str),
];

const LOCAL_OBJECT_REFERENCE: &[Field] = &[f(1, "name", Kind::Str)];

const NAMESPACE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(&[rep(1, "finalizers", Kind::Str)])),
    f(3, "status", Kind::Msg(&[f(1, "phase", Kind::Str)])),
];

const CONFIG_MAP: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "data", Kind::MapStr),
    f(3, "binaryData", Kind::MapBytes),
    ptr(4, "immutable", Kind::Bool),
];

const SERVICE_ACCOUNT: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    rep(2, "secrets", Kind::Msg(OBJECT_REFERENCE)),
    rep(3, "imagePullSecrets", Kind::Msg(LOCAL_OBJECT_REFERENCE)),
    ptr(4, "automountServiceAccountToken", Kind::Bool),
];

const SERVICE_PORT: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "protocol", Kind::Str),
    f(3, "port", Kind::Int),
    f(4, "targetPort", Kind::IntOrString),
    f(5, "nodePort", Kind::Int),
    ptr(6, "appProtocol", Kind::Str),
];

const SERVICE_SPEC: &[Field] = &[
    rep(1, "ports", Kind::Msg(SERVICE_PORT)),
    f(2, "selector", Kind::MapStr),
    f(3, "clusterIP", Kind::Str),
    f(4, "type", Kind::Str),
    rep(5, "externalIPs", Kind::Str),
    f(7, "sessionAffinity", Kind::Str),
    f(8, "loadBalancerIP", Kind::Str),
    rep(9, "loadBalancerSourceRanges", Kind::Str),
    f(10, "externalName", Kind::Str),
    f(11, "externalTrafficPolicy", Kind::Str),
    f(12, "healthCheckNodePort", Kind::Int),
    f(13, "publishNotReadyAddresses", Kind::Bool),
    ptr(17, "ipFamilyPolicy", Kind::Str),
    rep(18, "clusterIPs", Kind::Str),
    rep(19, "ipFamilies", Kind::Str),
    ptr(20, "allocateLoadBalancerNodePorts", Kind::Bool),
    ptr(21, "loadBalancerClass", Kind::Str),
    ptr(22, "internalTrafficPolicy", Kind::Str),
    ptr(23, "trafficDistribution", Kind::Str),
];

const SERVICE: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(2, "spec", Kind::Msg(SERVICE_SPEC)),
];

// apps/v1 Deployment as `kubectl create deployment` sends it (staging/src/k8s.io/api/apps/v1/generated.proto,
// core/v1 PodTemplateSpec/PodSpec/Container, meta/v1 LabelSelector); fields it never sets are skipped.
const LABEL_SELECTOR: &[Field] = &[
    f(1, "matchLabels", Kind::MapStr),
    rep(
        2,
        "matchExpressions",
        Kind::Msg(&[
            f(1, "key", Kind::Str),
            f(2, "operator", Kind::Str),
            rep(3, "values", Kind::Str),
        ]),
    ),
];

const CONTAINER_PORT: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "hostPort", Kind::Int),
    f(3, "containerPort", Kind::Int),
    f(4, "protocol", Kind::Str),
    f(5, "hostIP", Kind::Str),
];

const CONTAINER: &[Field] = &[
    f(1, "name", Kind::Str),
    f(2, "image", Kind::Str),
    rep(3, "command", Kind::Str),
    rep(4, "args", Kind::Str),
    f(5, "workingDir", Kind::Str),
    rep(6, "ports", Kind::Msg(CONTAINER_PORT)),
    f(8, "resources", Kind::Msg(&[])),
    f(13, "terminationMessagePath", Kind::Str),
    f(14, "imagePullPolicy", Kind::Str),
    f(20, "terminationMessagePolicy", Kind::Str),
];

const POD_TEMPLATE_SPEC: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            rep(2, "containers", Kind::Msg(CONTAINER)),
            f(3, "restartPolicy", Kind::Str),
            ptr(4, "terminationGracePeriodSeconds", Kind::Int),
            f(6, "dnsPolicy", Kind::Str),
            f(7, "nodeSelector", Kind::MapStr),
            f(8, "serviceAccountName", Kind::Str),
            f(11, "hostNetwork", Kind::Bool),
            f(16, "hostname", Kind::Str),
            f(17, "subdomain", Kind::Str),
            f(19, "schedulerName", Kind::Str),
            rep(20, "initContainers", Kind::Msg(CONTAINER)),
            ptr(30, "enableServiceLinks", Kind::Bool),
        ]),
    ),
];

const DEPLOYMENT: &[Field] = &[
    f(1, "metadata", Kind::Msg(OBJECT_META)),
    f(
        2,
        "spec",
        Kind::Msg(&[
            ptr(1, "replicas", Kind::Int),
            f(2, "selector", Kind::Msg(LABEL_SELECTOR)),
            f(3, "template", Kind::Msg(POD_TEMPLATE_SPEC)),
            f(
                4,
                "strategy",
                Kind::Msg(&[
                    f(1, "type", Kind::Str),
                    f(
                        2,
                        "rollingUpdate",
                        Kind::Msg(&[
                            f(1, "maxUnavailable", Kind::IntOrString),
                            f(2, "maxSurge", Kind::IntOrString),
                        ]),
                    ),
                ]),
            ),
            f(5, "minReadySeconds", Kind::Int),
            ptr(6, "revisionHistoryLimit", Kind::Int),
            f(7, "paused", Kind::Bool),
            ptr(9, "progressDeadlineSeconds", Kind::Int),
        ]),
    ),
];

fn schema(api_version: &str, kind: &str) -> Option<&'static [Field]> {
    match (api_version, kind) {
        ("v1", "Namespace") => Some(NAMESPACE),
        ("v1", "ConfigMap") => Some(CONFIG_MAP),
        ("v1", "ServiceAccount") => Some(SERVICE_ACCOUNT),
        ("v1", "Service") => Some(SERVICE),
        ("apps/v1", "Deployment") => Some(DEPLOYMENT),
        _ => None,
    }
}

fn unsupported(detail: &str) -> ApiError {
    ApiError::new(
        415,
        "UnsupportedMediaType",
        format!(
            "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml ({detail})"
        ),
    )
}

/// Decodes a protobuf-encoded object into its JSON form.
pub(crate) fn decode_object(body: &[u8]) -> Result<Value, ApiError> {
    let envelope = body
        .strip_prefix(MAGIC)
        .ok_or_else(|| unsupported("missing the k8s protobuf prefix"))?;
    let mut api_version = String::new();
    let mut kind = String::new();
    let mut raw: &[u8] = &[];
    for (number, wire) in fields(envelope).map_err(|e| unsupported(&e))? {
        match (number, wire) {
            (1, Wire::Len(type_meta)) => {
                for (n, w) in fields(type_meta).map_err(|e| unsupported(&e))? {
                    match (n, w) {
                        (1, Wire::Len(v)) => api_version = String::from_utf8_lossy(v).into_owned(),
                        (2, Wire::Len(v)) => kind = String::from_utf8_lossy(v).into_owned(),
                        _ => {}
                    }
                }
            }
            (2, Wire::Len(bytes)) => raw = bytes,
            _ => {}
        }
    }
    let fields_of = schema(&api_version, &kind).ok_or_else(|| {
        unsupported(&format!(
            "{api_version} {kind} in protobuf is not supported by the netconform test double"
        ))
    })?;
    let mut obj = decode_message(raw, fields_of).map_err(|e| unsupported(&e))?;
    obj["apiVersion"] = json!(api_version);
    obj["kind"] = json!(kind);
    Ok(obj)
}

enum Wire<'a> {
    Varint(u64),
    Len(&'a [u8]),
    Fixed,
}

fn varint(buf: &[u8], at: &mut usize) -> Result<u64, String> {
    let mut value = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *buf.get(*at).ok_or("truncated varint")?;
        *at += 1;
        value |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Ok(value);
        }
    }
    Err("varint too long".into())
}

/// The (field number, value) pairs of one message.
fn fields(buf: &[u8]) -> Result<Vec<(u64, Wire<'_>)>, String> {
    let mut out = Vec::new();
    let mut at = 0;
    while at < buf.len() {
        let tag = varint(buf, &mut at)?;
        let (number, wire_type) = (tag >> 3, tag & 7);
        let value = match wire_type {
            0 => Wire::Varint(varint(buf, &mut at)?),
            1 => {
                at += 8;
                Wire::Fixed
            }
            2 => {
                let len = usize::try_from(varint(buf, &mut at)?).map_err(|_| "length overflow")?;
                let end = at
                    .checked_add(len)
                    .filter(|e| *e <= buf.len())
                    .ok_or("truncated field")?;
                let bytes = &buf[at..end];
                at = end;
                Wire::Len(bytes)
            }
            5 => {
                at += 4;
                Wire::Fixed
            }
            other => return Err(format!("unsupported wire type {other}")),
        };
        if at > buf.len() {
            return Err("truncated field".into());
        }
        out.push((number, value));
    }
    Ok(out)
}

fn decode_message(buf: &[u8], schema: &[Field]) -> Result<Value, String> {
    let mut map = Map::new();
    for (number, wire) in fields(buf)? {
        let Some(field) = schema.iter().find(|f| f.number == number) else {
            continue;
        };
        let value = decode_value(field.kind, &wire)?;
        match (field.kind, field.repeated) {
            (Kind::MapStr | Kind::MapBytes, _) => {
                let entry = map.entry(field.name).or_insert_with(|| json!({}));
                if let (Some(target), Value::Object(pair)) = (entry.as_object_mut(), value) {
                    target.extend(pair);
                }
            }
            (_, true) => {
                let entry = map.entry(field.name).or_insert_with(|| json!([]));
                if let Some(list) = entry.as_array_mut() {
                    list.push(value);
                }
            }
            (_, false) => {
                if field.pointer || matches!(field.kind, Kind::Msg(_)) || !is_zero(&value) {
                    map.insert(field.name.to_string(), value);
                }
            }
        }
    }
    Ok(Value::Object(map))
}

/// Go's zero value: what `omitempty` leaves out of JSON (a zero `metav1.Time` is the epoch).
fn is_zero(value: &Value) -> bool {
    match value {
        Value::String(s) => s.is_empty() || s == "1970-01-01T00:00:00Z",
        Value::Number(n) => n.as_i64() == Some(0),
        Value::Bool(b) => !b,
        Value::Object(m) => m.is_empty(),
        _ => false,
    }
}

fn decode_value(kind: Kind, wire: &Wire<'_>) -> Result<Value, String> {
    let text = |bytes: &[u8]| String::from_utf8(bytes.to_vec()).map_err(|e| e.to_string());
    Ok(match (kind, wire) {
        (Kind::Str, Wire::Len(b)) => json!(text(b)?),
        (Kind::Int, Wire::Varint(v)) => json!(*v as i64),
        (Kind::Bool, Wire::Varint(v)) => json!(*v != 0),
        (Kind::Msg(schema), Wire::Len(b)) => decode_message(b, schema)?,
        (Kind::MapStr | Kind::MapBytes, Wire::Len(b)) => {
            let (mut key, mut value) = (String::new(), Value::String(String::new()));
            for (n, w) in fields(b)? {
                match (n, w) {
                    (1, Wire::Len(k)) => key = text(k)?,
                    (2, Wire::Len(v)) if matches!(kind, Kind::MapBytes) => value = json!(base64(v)),
                    (2, Wire::Len(v)) => value = json!(text(v)?),
                    _ => {}
                }
            }
            json!({ key: value })
        }
        (Kind::IntOrString, Wire::Len(b)) => {
            let (mut is_string, mut int_value, mut str_value) = (false, 0i64, String::new());
            for (n, w) in fields(b)? {
                match (n, w) {
                    (1, Wire::Varint(t)) => is_string = t == 1,
                    (2, Wire::Varint(i)) => int_value = i as i64,
                    (3, Wire::Len(s)) => str_value = text(s)?,
                    _ => {}
                }
            }
            if is_string {
                json!(str_value)
            } else {
                json!(int_value)
            }
        }
        (Kind::Time, Wire::Len(b)) => {
            let mut seconds = 0u64;
            for (n, w) in fields(b)? {
                if let (1, Wire::Varint(s)) = (n, w) {
                    seconds = s;
                }
            }
            json!(time::rfc3339(UNIX_EPOCH + Duration::from_secs(seconds)))
        }
        _ => return Err("field has an unexpected wire type".into()),
    })
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[((n >> (18 - 6 * i)) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(number: u64, wire: u64) -> Vec<u8> {
        encode_varint((number << 3) | wire)
    }

    fn encode_varint(mut v: u64) -> Vec<u8> {
        let mut out = Vec::new();
        loop {
            let byte = (v & 0x7f) as u8;
            v >>= 7;
            if v == 0 {
                out.push(byte);
                return out;
            }
            out.push(byte | 0x80);
        }
    }

    fn len_field(number: u64, bytes: &[u8]) -> Vec<u8> {
        let mut out = tag(number, 2);
        out.extend(encode_varint(bytes.len() as u64));
        out.extend_from_slice(bytes);
        out
    }

    #[test]
    fn decodes_a_configmap() {
        let labels = [len_field(1, b"app"), len_field(2, b"demo")].concat();
        let meta = [
            len_field(1, b"c1"),
            len_field(2, b""),
            len_field(11, &labels),
        ]
        .concat();
        let data = [len_field(1, b"a"), len_field(2, b"b")].concat();
        let raw = [len_field(1, &meta), len_field(2, &data)].concat();
        let type_meta = [len_field(1, b"v1"), len_field(2, b"ConfigMap")].concat();
        let body = [MAGIC.to_vec(), len_field(1, &type_meta), len_field(2, &raw)].concat();
        let obj = decode_object(&body).unwrap();
        assert_eq!(
            obj,
            json!({"apiVersion": "v1", "kind": "ConfigMap", "metadata": {"name": "c1", "labels": {"app": "demo"}}, "data": {"a": "b"}})
        );
    }

    #[test]
    fn rejects_unknown_types_with_415() {
        let type_meta = [len_field(1, b"v1"), len_field(2, b"Pod")].concat();
        let body = [MAGIC.to_vec(), len_field(1, &type_meta)].concat();
        assert_eq!(decode_object(&body).unwrap_err().code, 415);
        assert_eq!(base64(b"hi!?"), "aGkhPw==");
    }
}
