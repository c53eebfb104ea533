//! Request routing: what a URL path and query ask for.
//! upstream: staging/src/k8s.io/apiserver/pkg/endpoints/request/requestinfo.go (NewRequestInfo)

use crate::resources::{self, ResourceDef};

/// The decoded query string; keys may repeat (`command=sh&command=-c`).
#[derive(Debug, Default, Clone)]
pub(crate) struct Query(Vec<(String, String)>);

impl Query {
    pub fn parse(raw: Option<&str>) -> Self {
        let pairs = raw
            .unwrap_or("")
            .split('&')
            .filter(|p| !p.is_empty())
            .map(|pair| match pair.split_once('=') {
                Some((k, v)) => (percent_decode(k), percent_decode(v)),
                None => (percent_decode(pair), String::new()),
            })
            .collect();
        Query(pairs)
    }

    /// The first value of `key`, if present and non-empty.
    pub fn get(&self, key: &str) -> Option<&str> {
        self.0
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
            .filter(|v| !v.is_empty())
    }

    pub fn all(&self, key: &str) -> Vec<String> {
        self.0
            .iter()
            .filter(|(k, _)| k == key)
            .map(|(_, v)| v.clone())
            .collect()
    }

    /// A boolean parameter as Go's `strconv.ParseBool` reads it (`true`, `1`, `t`, ...).
    pub fn flag(&self, key: &str) -> bool {
        matches!(
            self.get(key),
            Some("true" | "1" | "t" | "T" | "TRUE" | "True")
        )
    }
}

/// Decodes `%XX` escapes and `+` (as a space, form encoding).
pub(crate) fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        match bytes[i] {
            b'+' => {
                out.push(b' ');
                i += 1;
            }
            b'%' if i + 2 < bytes.len() => {
                let hex = std::str::from_utf8(&bytes[i + 1..i + 3])
                    .ok()
                    .and_then(|h| u8::from_str_radix(h, 16).ok());
                match hex {
                    Some(b) => {
                        out.push(b);
                        i += 3;
                    }
                    None => {
                        out.push(b'%');
                        i += 1;
                    }
                }
            }
            b => {
                out.push(b);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// A request for objects of one resource.
#[derive(Debug, Clone)]
pub(crate) struct ResourceTarget {
    pub def: &'static ResourceDef,
    pub namespace: Option<String>,
    pub name: Option<String>,
    /// Subresource: `status`, `log`, `exec`, `finalize`.
    pub subresource: Option<String>,
    /// Legacy `/watch/` path prefix.
    pub watch_prefix: bool,
}

#[derive(Debug, Clone)]
pub(crate) enum Route {
    Version,
    /// `/healthz`, `/readyz`, `/livez` (the name).
    Health(String),
    ApiVersions,
    ApiGroupList,
    /// `/api/v1` or `/apis/<group>/<version>`
    ResourceList {
        group: String,
        version: String,
    },
    ApiGroup(String),
    OpenApiV2,
    OpenApiV3Root,
    /// `/openapi/v3/api/v1` -> `api/v1`
    OpenApiV3Doc(String),
    Resource(ResourceTarget),
    /// An `/api` or `/apis` path that names nothing served (answered with a Status).
    ApiNotFound,
    /// Any other path (answered with upstream's plain `404 page not found`).
    NotFound,
}

pub(crate) fn route(path: &str) -> Route {
    let segments: Vec<String> = path
        .split('/')
        .filter(|s| !s.is_empty())
        .map(percent_decode)
        .collect();
    let segs: Vec<&str> = segments.iter().map(String::as_str).collect();
    match segs.as_slice() {
        ["version"] => Route::Version,
        [check @ ("healthz" | "readyz" | "livez"), ..] => Route::Health(check.to_string()),
        ["openapi", "v2"] => Route::OpenApiV2,
        ["openapi", "v3"] => Route::OpenApiV3Root,
        ["openapi", "v3", rest @ ..] => Route::OpenApiV3Doc(rest.join("/")),
        ["api"] => Route::ApiVersions,
        ["api", "v1"] => Route::ResourceList {
            group: String::new(),
            version: "v1".into(),
        },
        ["api", "v1", rest @ ..] => resource_route("", "v1", rest),
        ["api", ..] => Route::ApiNotFound,
        ["apis"] => Route::ApiGroupList,
        ["apis", group] if resources::groups().iter().any(|(g, _)| g == group) => {
            Route::ApiGroup(group.to_string())
        }
        ["apis", group, version]
            if resources::groups()
                .iter()
                .any(|(g, v)| g == group && v == version) =>
        {
            Route::ResourceList {
                group: group.to_string(),
                version: version.to_string(),
            }
        }
        ["apis", group, version, rest @ ..] => resource_route(group, version, rest),
        ["apis", ..] => Route::ApiNotFound,
        _ => Route::NotFound,
    }
}

fn resource_route(group: &str, version: &str, rest: &[&str]) -> Route {
    let (watch_prefix, rest) = match rest {
        ["watch", tail @ ..] => (true, tail),
        _ => (false, rest),
    };
    // `namespaces/<ns>/<resource>...`, except the namespace's own subresources (`namespaces/x/status`).
    let (namespace, rest) = match rest {
        ["namespaces", ns, tail @ ..]
            if !tail.is_empty() && !matches!(tail, ["status" | "finalize"]) =>
        {
            (Some(ns.to_string()), tail)
        }
        _ => (None, rest),
    };
    let (plural, name, subresource) = match rest {
        [plural] => (*plural, None, None),
        [plural, name] => (*plural, Some(name.to_string()), None),
        [plural, name, sub] => (*plural, Some(name.to_string()), Some(sub.to_string())),
        _ => return Route::ApiNotFound,
    };
    let Some(def) = resources::find_in(group, version, plural) else {
        return Route::ApiNotFound;
    };
    if def.namespaced != namespace.is_some() && !(def.namespaced && name.is_none()) {
        return Route::ApiNotFound;
    }
    if let Some(sub) = &subresource {
        let served = (sub == "status" && def.has_status)
            || def.subresources.contains(&sub.as_str())
            || (sub == "finalize" && def.plural == "namespaces");
        if !served {
            return Route::ApiNotFound;
        }
    }
    Route::Resource(ResourceTarget {
        def,
        namespace,
        name,
        subresource,
        watch_prefix,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn target(path: &str) -> ResourceTarget {
        match route(path) {
            Route::Resource(t) => t,
            other => panic!("{path}: {other:?}"),
        }
    }

    #[test]
    fn routes_resources() {
        let t = target("/api/v1/namespaces/default/pods/web/exec");
        assert_eq!(
            (t.def.plural, t.namespace.as_deref(), t.name.as_deref()),
            ("pods", Some("default"), Some("web"))
        );
        assert_eq!(t.subresource.as_deref(), Some("exec"));
        let t = target("/api/v1/namespaces/default");
        assert_eq!(
            (t.def.plural, t.name.as_deref()),
            ("namespaces", Some("default"))
        );
        let t = target("/api/v1/namespaces/default/status");
        assert_eq!(
            (t.def.plural, t.subresource.as_deref()),
            ("namespaces", Some("status"))
        );
        let t = target("/api/v1/pods");
        assert_eq!((t.def.plural, t.namespace), ("pods", None));
        let t = target("/apis/networking.k8s.io/v1/servicecidrs/kubernetes/status");
        assert_eq!(t.def.plural, "servicecidrs");
        assert!(target("/api/v1/watch/namespaces/x/configmaps").watch_prefix);
        assert!(matches!(route("/api/v1/pods/web"), Route::ApiNotFound));
        assert!(matches!(
            route("/api/v1/namespaces/x/nodes"),
            Route::ApiNotFound
        ));
        assert!(matches!(route("/apis/batch/v1"), Route::ApiNotFound));
        assert!(matches!(route("/metrics"), Route::NotFound));
    }

    #[test]
    fn query_decoding() {
        let q = Query::parse(Some(
            "command=sh&command=-c&command=echo%20a+b&labelSelector=app%3Dweb&watch=1",
        ));
        assert_eq!(q.all("command"), vec!["sh", "-c", "echo a b"]);
        assert_eq!(q.get("labelSelector"), Some("app=web"));
        assert!(q.flag("watch"));
        assert!(!q.flag("follow"));
    }
}
