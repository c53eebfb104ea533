//! Building a `kube::Client` from a kubeconfig, and checking that its API server answers.
//!
//! Every failure becomes one line naming the kubeconfig; nothing here panics on a garbage file.

use std::path::PathBuf;
use std::time::Duration;

use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Client, Config};

use crate::error::HarnessError;
use crate::text::one_line;

/// Where the kubeconfig came from, for messages.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KubeconfigSource {
    /// `KUBECONFIG` (one or more paths).
    Env(String),
    /// `~/.kube/config`.
    Default(PathBuf),
    /// Text we got from a tool (`kind get kubeconfig`) or the test double.
    Inline(String),
}

impl std::fmt::Display for KubeconfigSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            KubeconfigSource::Env(value) => write!(f, "KUBECONFIG={value}"),
            KubeconfigSource::Default(path) => write!(f, "{}", path.display()),
            KubeconfigSource::Inline(what) => f.write_str(what),
        }
    }
}

/// A client and what it points at.
#[derive(Clone)]
pub struct Connected {
    pub client: Client,
    /// The API server URL.
    pub server: String,
    /// The context used (`None`: the kubeconfig has no current-context and none was asked for).
    pub context: Option<String>,
}

/// Reads the user's kubeconfig: `KUBECONFIG`, else `~/.kube/config`. `Ok(None)` when there is none at all
/// (no variable and no file, or only paths that do not exist); a file that exists but does not parse is an error.
pub fn read_user_kubeconfig() -> Result<Option<(Kubeconfig, KubeconfigSource)>, HarnessError> {
    read_kubeconfig_from(std::env::var_os("KUBECONFIG"), default_path())
}

/// [`read_user_kubeconfig`] with the `KUBECONFIG` value and the default path given (testable).
pub fn read_kubeconfig_from(
    env_value: Option<std::ffi::OsString>,
    default: Option<PathBuf>,
) -> Result<Option<(Kubeconfig, KubeconfigSource)>, HarnessError> {
    let (paths, source) = match env_value.filter(|v| !v.is_empty()) {
        Some(value) => {
            let source = KubeconfigSource::Env(value.to_string_lossy().into_owned());
            (
                std::env::split_paths(&value)
                    .filter(|p| !p.as_os_str().is_empty())
                    .collect::<Vec<_>>(),
                source,
            )
        }
        None => match default {
            Some(path) => (vec![path.clone()], KubeconfigSource::Default(path)),
            None => return Ok(None),
        },
    };
    // Like kubectl, paths that do not exist are skipped; existing ones merge, first wins.
    let existing: Vec<PathBuf> = paths.into_iter().filter(|p| p.exists()).collect();
    if existing.is_empty() {
        return Ok(None);
    }
    let mut merged: Option<Kubeconfig> = None;
    for path in existing {
        let config = Kubeconfig::read_from(&path)
            .map_err(|e| broken(&KubeconfigSource::Default(path.clone()), &e))?;
        merged = Some(match merged {
            Some(m) => m.merge(config).map_err(|e| broken(&source, &e))?,
            None => config,
        });
    }
    Ok(merged.map(|m| (m, source)))
}

fn default_path() -> Option<PathBuf> {
    let home = std::env::var_os("HOME").or_else(|| std::env::var_os("USERPROFILE"))?;
    Some(PathBuf::from(home).join(".kube").join("config"))
}

fn broken(source: &KubeconfigSource, err: &dyn std::fmt::Display) -> HarnessError {
    HarnessError::BrokenKubeconfig {
        source_name: source.to_string(),
        reason: one_line(&err.to_string()),
    }
}

/// A client for `context` (or the current context) of `kubeconfig`.
pub async fn connect(
    kubeconfig: Kubeconfig,
    source: &KubeconfigSource,
    context: Option<&str>,
) -> Result<Connected, HarnessError> {
    if let Some(wanted) = context
        && !kubeconfig.contexts.iter().any(|c| c.name == wanted)
    {
        let known: Vec<&str> = kubeconfig
            .contexts
            .iter()
            .map(|c| c.name.as_str())
            .collect();
        return Err(broken(
            source,
            &format!(
                "context {wanted:?} does not exist (contexts: {})",
                known.join(", ")
            ),
        ));
    }
    if context.is_none()
        && kubeconfig
            .current_context
            .as_deref()
            .is_none_or(str::is_empty)
    {
        return Err(broken(
            source,
            &"no current-context is set; set NETCONFORM_CONTEXT or run `kubectl config use-context`",
        ));
    }
    let chosen = context
        .map(str::to_string)
        .or_else(|| kubeconfig.current_context.clone());
    let options = KubeConfigOptions {
        context: context.map(str::to_string),
        cluster: None,
        user: None,
    };
    let config = Config::from_custom_kubeconfig(kubeconfig, &options)
        .await
        .map_err(|e| broken(source, &e))?;
    let server = config.cluster_url.to_string();
    let client = Client::try_from(config).map_err(|e| broken(source, &e))?;
    Ok(Connected {
        client,
        server,
        context: chosen,
    })
}

/// A client from kubeconfig text (kind's or the double's).
pub async fn connect_yaml(yaml: &str, what: &str) -> Result<Connected, HarnessError> {
    let source = KubeconfigSource::Inline(what.to_string());
    let kubeconfig = Kubeconfig::from_yaml(yaml).map_err(|e| broken(&source, &e))?;
    connect(kubeconfig, &source, None).await
}

/// Asks `/version` within `budget`; returns its gitVersion.
pub async fn probe(connected: &Connected, budget: Duration) -> Result<String, HarnessError> {
    let unreachable = |reason: String| HarnessError::Unreachable {
        server: connected.server.clone(),
        reason,
    };
    match tokio::time::timeout(budget, connected.client.apiserver_version()).await {
        Ok(Ok(info)) => Ok(info.git_version),
        Ok(Err(e)) => Err(unreachable(one_line(&e.to_string()))),
        Err(_) => Err(unreachable(format!(
            "no answer from /version within {budget:?}"
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "apiVersion: v1
kind: Config
clusters:
- name: c
  cluster:
    server: http://127.0.0.1:1
contexts:
- name: ctx
  context:
    cluster: c
    user: u
- name: other
  context:
    cluster: c
    user: u
current-context: ctx
users:
- name: u
  user: {}
";

    #[tokio::test]
    async fn garbage_kubeconfig_is_one_line_not_a_panic() {
        for garbage in [
            "{{{{ not yaml",
            "clusters: 42\n",
            "\u{0}\u{1}binary",
            "contexts:\n- name: [1, 2]\n",
        ] {
            let err = match connect_yaml(garbage, "test kubeconfig").await {
                Err(e) => e,
                Ok(_) => panic!("accepted {garbage:?}"),
            };
            assert_eq!(err.exit_code(), 3, "{err}");
            let line = err.to_string();
            assert!(
                line.starts_with("broken kubeconfig test kubeconfig: "),
                "{line}"
            );
            assert!(!line.contains('\n'), "{line}");
        }
    }

    #[tokio::test]
    async fn missing_context_and_missing_current_context_are_clear() {
        let source = KubeconfigSource::Inline("k".into());
        let kc = Kubeconfig::from_yaml(GOOD).unwrap();
        let err = connect(kc.clone(), &source, Some("nope"))
            .await
            .err()
            .unwrap()
            .to_string();
        assert_eq!(
            err,
            "broken kubeconfig k: context \"nope\" does not exist (contexts: ctx, other)"
        );
        let mut no_current = kc.clone();
        no_current.current_context = None;
        let err = connect(no_current, &source, None)
            .await
            .err()
            .unwrap()
            .to_string();
        assert!(err.contains("no current-context is set"), "{err}");
        let ok = connect(kc, &source, Some("other")).await.unwrap();
        assert_eq!(ok.context.as_deref(), Some("other"));
        assert!(ok.server.starts_with("http://127.0.0.1:1"), "{}", ok.server);
    }

    #[test]
    fn reading_files_missing_garbage_and_merged() {
        let dir =
            std::env::temp_dir().join(format!("netconform-kubeconfig-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let missing = dir.join("missing");
        assert!(
            read_kubeconfig_from(None, Some(missing.clone()))
                .unwrap()
                .is_none()
        );
        assert!(
            read_kubeconfig_from(Some(missing.clone().into()), None)
                .unwrap()
                .is_none()
        );
        let garbage = dir.join("garbage");
        std::fs::write(&garbage, "this: [is not: a kubeconfig").unwrap();
        let err = read_kubeconfig_from(Some(garbage.clone().into()), None).unwrap_err();
        assert_eq!(err.exit_code(), 3);
        assert!(
            err.to_string().contains(&garbage.display().to_string()),
            "{err}"
        );
        assert!(!err.to_string().contains('\n'), "{err}");
        let good = dir.join("good");
        std::fs::write(&good, GOOD).unwrap();
        let joined = std::env::join_paths([missing, good]).unwrap();
        let (kc, source) = read_kubeconfig_from(Some(joined), None).unwrap().unwrap();
        assert_eq!(kc.current_context.as_deref(), Some("ctx"));
        assert!(source.to_string().starts_with("KUBECONFIG="));
        std::fs::remove_dir_all(&dir).unwrap();
    }

    #[tokio::test]
    async fn unreachable_server_is_reported_within_budget() {
        // Port 1 on loopback: nothing listens, the connection is refused at once.
        let connected = connect_yaml(GOOD, "k").await.unwrap();
        let err = probe(&connected, Duration::from_secs(5)).await.unwrap_err();
        assert_eq!(err.exit_code(), 4);
        assert!(
            err.to_string()
                .starts_with("the kubernetes api at http://127.0.0.1:1/ is unreachable: "),
            "{err}"
        );
    }
}
