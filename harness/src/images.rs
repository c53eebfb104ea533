//! `NETCONFORM_IMAGES`: the docs' images pointed at others, as upstream e2e redirects its images with
//! `KUBE_TEST_REPO_LIST` (test/utils/image/manifest.go). Air-gapped and mirrored clusters point `busybox:1.28`
//! at their own registry; the offline testbed points it at a stand-in it built.
//!
//! The manifests in `manifests/` stay verbatim: the map is applied to each object as it is created, the
//! trial's log names every substitution and the report lists the map. An entry with `standIn` is not the
//! docs' image: a check whose claim is about that image's own behaviour (`Need::DocImage`) is skipped,
//! unless the entry says the stand-in reproduces that part of the image (`reproduces: [nslookup]`).
//!
//! ```yaml
//! busybox:1.28:
//!   image: mirror.example/library/busybox:1.28     # the same image, mirrored
//! nginx:
//!   image: netconform.local/nginx:1.26.3
//!   standIn: Debian nginx 1.26.3, not the nginx image
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;
use serde_json::Value;

/// What one of the docs' images is replaced by.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Replacement {
    pub image: String,
    /// Set when the replacement is another image: what it is instead.
    #[serde(default, rename = "standIn")]
    pub stand_in: Option<String>,
    /// What of the docs' image the stand-in reproduces (e.g. `nslookup`: a build of another version whose
    /// `nslookup` is the docs' version's code), so the checks whose claim is about that part of the image
    /// run on it. The reasons belong beside the map, where the stand-in is made.
    #[serde(default)]
    pub reproduces: Vec<String>,
}

/// The map, keyed by the docs' image reference normalised ([`normalise`]).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ImageMap {
    entries: BTreeMap<String, (String, Replacement)>,
}

/// One substitution made while creating an object.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Substitution {
    pub from: String,
    pub to: String,
    pub stand_in: Option<String>,
}

impl std::fmt::Display for Substitution {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "image {} -> {} (NETCONFORM_IMAGES", self.from, self.to)?;
        match &self.stand_in {
            Some(what) => write!(f, "; stand-in: {what})"),
            None => write!(f, ")"),
        }
    }
}

impl ImageMap {
    pub fn load(path: &Path) -> Result<ImageMap, String> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| format!("cannot read {}: {e}", path.display()))?;
        ImageMap::parse(&text).map_err(|e| format!("{}: {e}", path.display()))
    }

    pub fn parse(text: &str) -> Result<ImageMap, String> {
        let raw: BTreeMap<String, Replacement> = if text.trim().is_empty() {
            BTreeMap::new()
        } else {
            serde_saphyr::from_str(text).map_err(|e| crate::text::one_line(&e.to_string()))?
        };
        let mut entries = BTreeMap::new();
        for (from, replacement) in raw {
            if replacement.image.trim().is_empty()
                || replacement.image.contains(char::is_whitespace)
            {
                return Err(format!("{from}: `image` must be an image reference"));
            }
            if entries
                .insert(normalise(&from), (from.clone(), replacement))
                .is_some()
            {
                return Err(format!(
                    "{from}: named twice (the same image under two spellings)"
                ));
            }
        }
        Ok(ImageMap { entries })
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// What `image` is replaced by, if the map names it.
    pub fn get(&self, image: &str) -> Option<&Replacement> {
        self.entries.get(&normalise(image)).map(|(_, r)| r)
    }

    /// The image to use for `image`: its replacement, or itself.
    pub fn resolve<'a>(&'a self, image: &'a str) -> &'a str {
        self.get(image).map(|r| r.image.as_str()).unwrap_or(image)
    }

    /// What stands in for `image`, when the map replaces it by another image.
    pub fn stand_in(&self, image: &str) -> Option<&str> {
        self.get(image).and_then(|r| r.stand_in.as_deref())
    }

    /// The stand-in for `image` when it cannot show `part` of the docs' image (it does not reproduce it).
    pub fn stand_in_without(&self, image: &str, part: &str) -> Option<&str> {
        self.get(image)
            .filter(|r| !r.reproduces.iter().any(|p| p == part))
            .and_then(|r| r.stand_in.as_deref())
    }

    /// The entries as the file names them, for the report.
    pub fn entries(&self) -> impl Iterator<Item = (&str, &Replacement)> {
        self.entries.values().map(|(from, r)| (from.as_str(), r))
    }

    /// Replaces the image of every container in `object` (a Pod, or anything with a pod template) that the
    /// map names, and returns what it replaced.
    pub fn rewrite(&self, object: &mut Value) -> Vec<Substitution> {
        let mut made = Vec::new();
        if self.is_empty() {
            return made;
        }
        for pod_spec in pod_specs(object) {
            for list in ["initContainers", "containers", "ephemeralContainers"] {
                let Some(containers) = pod_spec.get_mut(list).and_then(Value::as_array_mut) else {
                    continue;
                };
                for container in containers {
                    let Some(image) = container.get_mut("image") else {
                        continue;
                    };
                    let Some(from) = image.as_str().map(str::to_string) else {
                        continue;
                    };
                    if let Some(replacement) = self.get(&from) {
                        *image = Value::String(replacement.image.clone());
                        made.push(Substitution {
                            from,
                            to: replacement.image.clone(),
                            stand_in: replacement.stand_in.clone(),
                        });
                    }
                }
            }
        }
        made
    }
}

/// The pod specs inside an object: a Pod's `spec`, a workload's `spec.template.spec`, a CronJob's
/// `spec.jobTemplate.spec.template.spec`.
fn pod_specs(object: &mut Value) -> Vec<&mut Value> {
    let kind = object.get("kind").and_then(Value::as_str).unwrap_or("");
    let path: &[&str] = match kind {
        "Pod" => &["spec"],
        "CronJob" => &["spec", "jobTemplate", "spec", "template", "spec"],
        _ => &["spec", "template", "spec"],
    };
    let mut at = Some(object);
    for key in path {
        at = at.and_then(|v| v.get_mut(*key));
    }
    at.into_iter().collect()
}

/// A Docker image reference in the one spelling the map uses: `nginx`, `library/nginx:latest` and
/// `docker.io/library/nginx:latest` are one image, as the container runtime resolves them.
pub fn normalise(image: &str) -> String {
    let image = image.trim();
    let (name, suffix) = match image.find('@') {
        Some(at) => (&image[..at], &image[at..]),
        None => {
            // A tag is after the last ':' that follows the last '/' (a registry port comes before it).
            let slash = image.rfind('/').map(|i| i + 1).unwrap_or(0);
            match image[slash..].rfind(':') {
                Some(colon) => (&image[..slash + colon], &image[slash + colon..]),
                None => (image, ":latest"),
            }
        }
    };
    let name = name.strip_prefix("docker.io/").unwrap_or(name);
    let name = name.strip_prefix("index.docker.io/").unwrap_or(name);
    let name = name.strip_prefix("library/").unwrap_or(name);
    format!("{name}{suffix}")
}

#[cfg(test)]
mod tests {
    use super::*;

    const TESTBED_MAP: &str = "busybox:1.28:\n  image: netconform.local/busybox:1.37.0-4\n  standIn: Debian busybox-static 1.37.0, not busybox 1.28\nnginx:\n  image: netconform.local/nginx:1.26.3\n  standIn: Debian nginx 1.26.3\nregistry.k8s.io/e2e-test-images/agnhost:2.52:\n  image: mirror.example:5000/agnhost:2.52\n";

    #[test]
    fn spellings_of_one_image_are_one_key() {
        assert_eq!(normalise("nginx"), "nginx:latest");
        assert_eq!(normalise("docker.io/library/nginx:latest"), "nginx:latest");
        assert_eq!(normalise("library/busybox:1.28"), "busybox:1.28");
        assert_eq!(
            normalise("mirror.example:5000/agnhost"),
            "mirror.example:5000/agnhost:latest"
        );
        assert_eq!(normalise("a/b@sha256:00"), "a/b@sha256:00");
    }

    #[test]
    fn a_pod_and_a_deployment_get_their_images_replaced_and_reported() {
        let map = ImageMap::parse(TESTBED_MAP).unwrap();
        let mut pod = serde_json::json!({"kind": "Pod", "spec": {
            "initContainers": [{"name": "i", "image": "docker.io/library/busybox:1.28"}],
            "containers": [{"name": "c", "image": "nginx"}, {"name": "d", "image": "other:1"}]}});
        let made = map.rewrite(&mut pod);
        assert_eq!(
            pod["spec"]["initContainers"][0]["image"],
            "netconform.local/busybox:1.37.0-4"
        );
        assert_eq!(
            pod["spec"]["containers"][0]["image"],
            "netconform.local/nginx:1.26.3"
        );
        assert_eq!(
            pod["spec"]["containers"][1]["image"], "other:1",
            "an image the map does not name stays"
        );
        assert_eq!(made.len(), 2);
        assert_eq!(
            made[1].to_string(),
            "image nginx -> netconform.local/nginx:1.26.3 (NETCONFORM_IMAGES; stand-in: Debian nginx 1.26.3)"
        );
        let mut deployment = serde_json::json!({"kind": "Deployment", "spec": {"template": {"spec": {
            "containers": [{"name": "x", "image": "registry.k8s.io/e2e-test-images/agnhost:2.52"}]}}}});
        let made = map.rewrite(&mut deployment);
        assert_eq!(
            deployment["spec"]["template"]["spec"]["containers"][0]["image"],
            "mirror.example:5000/agnhost:2.52"
        );
        assert_eq!(made[0].stand_in, None, "a mirror is the same image");
    }

    #[test]
    fn a_stand_in_shows_only_what_it_reproduces() {
        let map = ImageMap::parse(
            "busybox:1.28:\n  image: netconform.local/busybox:1.37.0-nslookup-1.28\n  standIn: busybox 1.37 with 1.28's nslookup\n  reproduces: [nslookup]\nbusybox:1.36.1:\n  image: netconform.local/busybox:1.37.0\n  standIn: Debian busybox 1.37\n",
        )
        .unwrap();
        assert_eq!(map.stand_in_without("busybox:1.28", "nslookup"), None);
        assert_eq!(
            map.stand_in_without("busybox:1.28", "wget"),
            Some("busybox 1.37 with 1.28's nslookup")
        );
        assert_eq!(
            map.stand_in_without("busybox:1.36.1", "nslookup"),
            Some("Debian busybox 1.37")
        );
        assert_eq!(
            map.stand_in_without("nginx", "nslookup"),
            None,
            "not in the map"
        );
    }

    #[test]
    fn stand_ins_are_told_apart_from_mirrors() {
        let map = ImageMap::parse(TESTBED_MAP).unwrap();
        assert_eq!(
            map.stand_in("busybox:1.28"),
            Some("Debian busybox-static 1.37.0, not busybox 1.28")
        );
        assert_eq!(
            map.stand_in("registry.k8s.io/e2e-test-images/agnhost:2.52"),
            None
        );
        assert_eq!(map.stand_in("busybox:1.36.1"), None);
        assert_eq!(map.resolve("busybox:1.36.1"), "busybox:1.36.1");
    }

    #[test]
    fn malformed_maps_are_refused_with_the_reason() {
        assert!(
            ImageMap::parse("nginx: {image: ''}")
                .unwrap_err()
                .contains("`image` must be")
        );
        assert!(
            ImageMap::parse("nginx: {image: a, tag: b}").is_err(),
            "unknown fields are refused"
        );
        let twice =
            ImageMap::parse("nginx: {image: a}\ndocker.io/library/nginx:latest: {image: b}");
        assert!(twice.unwrap_err().contains("named twice"));
        assert!(ImageMap::parse("").unwrap().is_empty());
    }
}
