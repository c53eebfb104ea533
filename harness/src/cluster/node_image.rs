//! The node images netconform knows: what kind's release ships, pinned by digest, and what
//! `NETCONFORM_NODE_IMAGE` accepts (a version of one, an image pinned by digest, or a local image by tag).

/// The kind release whose node images [`NODE_IMAGES`] lists (the README's prerequisite).
pub const KIND_RELEASE: &str = "v0.33.0";

/// A node image a kind release ships, pinned by digest (a tag alone can be re-pushed, and kind supports an
/// image only with the release that built it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NodeImage {
    /// The Kubernetes version inside, e.g. `v1.37.0`.
    pub kubernetes: &'static str,
    pub image: &'static str,
}

/// The images kind v0.33.0 ships, one per Kubernetes minor, newest first; the first is kind's default.
///
/// Provenance: the v0.33.0 release notes, "Images pre-built for this release" and "The default node image is
/// now ..." (https://github.com/kubernetes-sigs/kind/releases/tag/v0.33.0; PR kubernetes-sigs/kind#4248 bumped
/// `pkg/apis/config/defaults/image.go` to the v1.37.0 image). `kind-configs/README.md` shows the same table.
/// `NETCONFORM_NODE_IMAGE` picks one by version (`v1.36`, `v1.36.4`) or names any digest-pinned image.
pub const NODE_IMAGES: &[NodeImage] = &[
    NodeImage {
        kubernetes: "v1.37.0",
        image: "kindest/node:v1.37.0@sha256:a1ed56cfb0e7b93589bdf97c8cd566405a265939e3620fc4f5de89adff580ae5",
    },
    NodeImage {
        kubernetes: "v1.36.4",
        image: "kindest/node:v1.36.4@sha256:099e049362a1526b2db71494e1947aae99bd16290d7c895f2b7ea312e3cbfaed",
    },
    NodeImage {
        kubernetes: "v1.35.8",
        image: "kindest/node:v1.35.8@sha256:07b2536e30b803ed61d1677a79df6115f798ce64c80f9e22f6ed45afd09323c0",
    },
    NodeImage {
        kubernetes: "v1.34.11",
        image: "kindest/node:v1.34.11@sha256:44e222ee2132dab25ff87301682f89eb82c7880ea3a1bf543bfe9708fd08d67d",
    },
];

/// kind v0.33.0's default node image, the first of [`NODE_IMAGES`].
pub const DEFAULT_NODE_IMAGE: &str = NODE_IMAGES[0].image;

/// `NETCONFORM_NODE_IMAGE` as given: a Kubernetes version kind ships (`v1.36`, `1.36`, `v1.36.4`,
/// `kindest/node:v1.36.4`) resolved to its pinned image, or any image pinned by a sha256 digest, kept as is.
/// `None` for anything else (an unpinned tag, an unknown version).
pub fn resolve_node_image(value: &str) -> Option<String> {
    if let Some((name, digest)) = value.split_once("@sha256:") {
        let hex = digest.len() == 64
            && digest
                .bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b));
        return (hex && !name.is_empty()).then(|| value.to_string());
    }
    let version = value.strip_prefix("kindest/node:").unwrap_or(value);
    let version = version.strip_prefix('v').unwrap_or(version);
    NODE_IMAGES
        .iter()
        .find(|known| {
            let full = &known.kubernetes[1..];
            full == version || minor_of(full) == version
        })
        .map(|known| known.image.to_string())
        .or_else(|| is_tagged_reference(value).then(|| value.to_string()))
}

/// `name:tag` (a registry and path allowed before the name): a node image named by tag alone. It is
/// accepted only as a local image, one that no registry has a digest for (one `testbed/build` made, say):
/// [`super::kind::check_local_node_image`] refuses it at cluster creation otherwise, since a tag can be re-pushed.
fn is_tagged_reference(value: &str) -> bool {
    // kind's own images are registry images: a kindest/node tag that is not in NODE_IMAGES is refused.
    if value.starts_with("kindest/node:") || value.starts_with("docker.io/kindest/node:") {
        return false;
    }
    let slash = value.rfind('/').map(|i| i + 1).unwrap_or(0);
    let Some((name, tag)) = value[slash..].split_once(':') else {
        return false;
    };
    let name_ok = |s: &str| {
        !s.is_empty()
            && s.bytes()
                .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b"._-/:".contains(&b))
    };
    name_ok(&value[..slash + name.len()])
        && !tag.is_empty()
        && tag
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"._-".contains(&b))
}

/// What `NETCONFORM_NODE_IMAGE` accepts, for its error message.
pub fn accepted_node_images() -> String {
    let versions: Vec<String> = NODE_IMAGES
        .iter()
        .map(|known| {
            format!(
                "v{} ({})",
                minor_of(&known.kubernetes[1..]),
                known.kubernetes
            )
        })
        .collect();
    format!(
        "a Kubernetes version kind {KIND_RELEASE} ships, {}, or an image pinned by digest, name:tag@sha256:<64 hex digits>, or a local image by name:tag (one no registry has, e.g. from testbed/build)",
        versions.join(", ")
    )
}

/// `1.36.4` -> `1.36`.
fn minor_of(version: &str) -> &str {
    match version.rfind('.') {
        Some(dot) if version[..dot].contains('.') => &version[..dot],
        _ => version,
    }
}

#[cfg(test)]
mod tests {
    use std::path::Path;

    use super::*;

    #[test]
    fn the_node_images_are_kinds_pinned_images_one_per_minor() {
        assert_eq!(DEFAULT_NODE_IMAGE, NODE_IMAGES[0].image);
        let mut minors = Vec::new();
        for known in NODE_IMAGES {
            let (tag, digest) = known.image.split_once("@sha256:").unwrap();
            assert_eq!(tag, format!("kindest/node:{}", known.kubernetes));
            assert_eq!(digest.len(), 64);
            assert!(
                digest
                    .chars()
                    .all(|c| c.is_ascii_hexdigit() && !c.is_ascii_uppercase())
            );
            assert_eq!(
                resolve_node_image(known.kubernetes).as_deref(),
                Some(known.image)
            );
            assert_eq!(
                resolve_node_image(known.image).as_deref(),
                Some(known.image)
            );
            minors.push(minor_of(&known.kubernetes[1..]).to_string());
        }
        let mut sorted = minors.clone();
        sorted.sort_by_key(|m| {
            std::cmp::Reverse(m.split('.').nth(1).unwrap().parse::<u32>().unwrap())
        });
        sorted.dedup();
        assert_eq!(minors, sorted, "one image per minor, newest first");
        assert_eq!(
            resolve_node_image("1.34").as_deref(),
            Some(NODE_IMAGES[3].image)
        );
        assert_eq!(resolve_node_image("v1.3"), None);
        assert_eq!(resolve_node_image("v1.37.0.1"), None);
    }

    /// kind-configs/README.md's table is this one (a test keeps them equal, like the config table).
    #[test]
    fn the_kind_configs_readme_lists_the_node_images() {
        let mut table = format!(
            "| Kubernetes | `NETCONFORM_NODE_IMAGE` | image (kind {KIND_RELEASE}) |\n| --- | --- | --- |\n"
        );
        for (i, known) in NODE_IMAGES.iter().enumerate() {
            let default = if i == 0 { " (the default)" } else { "" };
            table.push_str(&format!(
                "| {} | `v{}` or `{}`{default} | `{}` |\n",
                known.kubernetes,
                minor_of(&known.kubernetes[1..]),
                known.kubernetes,
                known.image
            ));
        }
        let readme = Path::new(env!("CARGO_MANIFEST_DIR")).join("../kind-configs/README.md");
        crate::config::tests::check_readme_block(&readme, "node-images", &table);
    }
}
