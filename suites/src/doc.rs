//! The docs' example manifests and shown outputs (from `manifests/`), compiled in verbatim.

use kube::api::DynamicObject;
use serde::de::DeserializeOwned;

use netconform::failure::TrialError;
use netconform::manifest;

/// A file under `manifests/`, by its path there.
#[derive(Debug, Clone, Copy)]
pub struct DocFile {
    pub path: &'static str,
    pub text: &'static str,
}

/// `doc_file!("service/networking/hostaliases-pod.yaml")`: a file of `manifests/`, included at compile time.
#[macro_export]
macro_rules! doc_file {
    ($path:literal) => {
        $crate::doc::DocFile {
            path: $path,
            text: include_str!(concat!(env!("CARGO_MANIFEST_DIR"), "/../manifests/", $path)),
        }
    };
}

impl DocFile {
    /// Every object of the manifest, checked by the harness's loader.
    pub fn objects(&self) -> Result<Vec<DynamicObject>, TrialError> {
        manifest::load_str(&format!("manifests/{}", self.path), self.text)
            .map_err(|e| TrialError::Harness(e.to_string()))
    }

    /// The manifest's only (or first) object, as a typed Kubernetes object.
    pub fn object<K: DeserializeOwned>(&self) -> Result<K, TrialError> {
        let first =
            self.objects()?.into_iter().next().ok_or_else(|| {
                TrialError::Harness(format!("manifests/{}: no object", self.path))
            })?;
        let value = serde_json::to_value(&first)
            .map_err(|e| TrialError::Harness(format!("manifests/{}: {e}", self.path)))?;
        serde_json::from_value(value).map_err(|e| {
            TrialError::Harness(format!(
                "manifests/{}: not a {}: {e}",
                self.path,
                std::any::type_name::<K>()
            ))
        })
    }

    /// The text with a label saying where it comes from, for failure messages that show the doc beside the cluster.
    pub fn excerpt(&self) -> String {
        format!(
            "the doc shows (manifests/{}):\n{}",
            self.path,
            self.text.trim_end()
        )
    }
}

#[cfg(test)]
mod tests {
    use k8s_openapi::api::core::v1::Pod;

    #[test]
    fn manifests_load_as_typed_objects() {
        let pod: Pod = doc_file!("service/networking/hostaliases-pod.yaml")
            .object()
            .unwrap();
        assert_eq!(pod.metadata.name.as_deref(), Some("hostaliases-pod"));
        assert_eq!(pod.spec.unwrap().host_aliases.unwrap().len(), 2);
    }
}
