//! The conformance suites. Each module is one doc page's claims; each trial is one check,
//! named `suite::scenario::check` and traced to its claim and page.

#[cfg(test)]
mod claims_index;
pub mod connectivity;
pub mod deviations;
pub mod dns;
pub mod doc;
pub mod dual_stack;
mod family;
pub mod hostaliases;
pub mod pods;
pub mod service_cidr;
mod shared;

use netconform::trial::TrialDef;

/// One suite module: its trials, and the test double's deviations that must break them.
pub struct Suite {
    pub trials: &'static [TrialDef],
    pub breaks: &'static [deviations::Breaks],
}

/// Every suite module, in a stable order.
pub const SUITES: &[Suite] = &[
    suite(hostaliases::TRIALS, hostaliases::BREAKS),
    suite(dns::busybox::TRIALS, dns::busybox::BREAKS),
    suite(dns::services::TRIALS, dns::services::BREAKS),
    suite(dns::pods::TRIALS, dns::pods::BREAKS),
    suite(dns::beyond::TRIALS, dns::beyond::BREAKS),
    suite(dns::validation::TRIALS, dns::validation::BREAKS),
    suite(dns::resolv::TRIALS, dns::resolv::BREAKS),
    suite(service_cidr::TRIALS, service_cidr::BREAKS),
    suite(dual_stack::TRIALS, dual_stack::BREAKS),
    suite(connectivity::pods::TRIALS, connectivity::pods::BREAKS),
    suite(
        connectivity::services::TRIALS,
        connectivity::services::BREAKS,
    ),
    suite(connectivity::expose::TRIALS, connectivity::expose::BREAKS),
    suite(
        connectivity::endpoints::TRIALS,
        connectivity::endpoints::BREAKS,
    ),
    suite(
        connectivity::service_env::TRIALS,
        connectivity::service_env::BREAKS,
    ),
    suite(
        connectivity::network_policy::TRIALS,
        connectivity::network_policy::BREAKS,
    ),
    suite(
        connectivity::network_policy::IP_BLOCK_TRIALS,
        connectivity::network_policy::IP_BLOCK_BREAKS,
    ),
    suite(
        connectivity::network_policy::RULES_TRIALS,
        connectivity::network_policy::RULES_BREAKS,
    ),
    suite(
        connectivity::network_policy::EFFECT_TRIALS,
        connectivity::network_policy::EFFECT_BREAKS,
    ),
    suite(connectivity::traffic::TRIALS, connectivity::traffic::BREAKS),
    suite(connectivity::outside::TRIALS, connectivity::outside::BREAKS),
    suite(
        connectivity::node_agents::TRIALS,
        connectivity::node_agents::BREAKS,
    ),
];

const fn suite(trials: &'static [TrialDef], breaks: &'static [deviations::Breaks]) -> Suite {
    Suite { trials, breaks }
}

/// Every trial of every suite, in a stable order.
pub fn all_trials() -> Vec<TrialDef> {
    SUITES
        .iter()
        .flat_map(|s| s.trials.iter().copied())
        .collect()
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet;

    /// Images a real run pulls at trial time would make the first trials slow and flaky: the kind target
    /// pre-pulls and `kind load`s `SUITE_IMAGES`, so every image a manifest or a trial names must be there.
    #[test]
    fn every_image_the_suites_use_is_preloaded_on_kind() {
        use netconform::cluster::preload::SUITE_IMAGES;
        let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("..");
        let mut used = BTreeSet::new();
        for file in files(&root.join("manifests"), "yaml") {
            for object in netconform::manifest::load_file(&file).unwrap_or_else(|e| panic!("{e}")) {
                collect_images(&serde_json::to_value(&object).unwrap(), &mut used);
            }
        }
        for file in files(&root.join("suites/src"), "rs") {
            let text = std::fs::read_to_string(&file).unwrap();
            // String literals that name an image: a registry path, or busybox/nginx with or without a tag.
            for literal in text.split('"').skip(1).step_by(2) {
                let image = literal.starts_with("registry.k8s.io/")
                    || literal.starts_with("busybox:")
                    || literal == "nginx"
                    || literal.starts_with("nginx:");
                if image {
                    used.insert(literal.to_string());
                }
            }
        }
        let missing: Vec<&String> = used
            .iter()
            .filter(|i| !SUITE_IMAGES.contains(&i.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "images used but not preloaded (harness/src/cluster/preload.rs SUITE_IMAGES): {missing:?}"
        );
        assert!(
            used.contains("busybox:1.28"),
            "the scan found nothing: {used:?}"
        );
    }

    fn files(dir: &std::path::Path, extension: &str) -> Vec<std::path::PathBuf> {
        let mut out = Vec::new();
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let path = entry.path();
            if path.is_dir() {
                out.extend(files(&path, extension));
            } else if path.extension().is_some_and(|e| e == extension) {
                out.push(path);
            }
        }
        out
    }

    fn collect_images(value: &serde_json::Value, out: &mut BTreeSet<String>) {
        match value {
            serde_json::Value::Object(map) => {
                for (key, v) in map {
                    match (key.as_str(), v.as_str()) {
                        ("image", Some(image)) => {
                            out.insert(image.to_string());
                        }
                        _ => collect_images(v, out),
                    }
                }
            }
            serde_json::Value::Array(items) => items.iter().for_each(|v| collect_images(v, out)),
            _ => {}
        }
    }

    #[test]
    fn trial_names_are_unique_and_three_part() {
        let trials = super::all_trials();
        let names: BTreeSet<&str> = trials.iter().map(|t| t.name).collect();
        assert_eq!(names.len(), trials.len(), "duplicate trial names");
        for t in &trials {
            assert_eq!(
                t.name.split("::").count(),
                3,
                "{} is not suite::scenario::check",
                t.name
            );
            assert!(
                t.doc_url.starts_with("https://kubernetes.io/docs/"),
                "{}: {}",
                t.name,
                t.doc_url
            );
        }
    }
}
