//! `NETCONFORM_KIND_SETUP`: a program netconform runs once on a kind cluster it has just created (never on
//! one it reuses), after the cluster is ready and before preflight, to install what the suites need and kind
//! does not bring (the offline testbed's `testbed/setup-cluster` installs a LoadBalancer controller).
//!
//! It gets the inherited environment plus `KUBECONFIG` (a private file holding the new cluster's kubeconfig,
//! removed afterwards) and `NETCONFORM_CLUSTER_NAME` (the kind cluster's name, for `kind load ... --name`).
//! Its stdout and stderr are streamed to netconform's stderr, the run's log. A non-zero exit, a start that
//! fails, or a run longer than [`KIND_SETUP`] fails the run closed ([`HarnessError::Setup`], exit 15), and the
//! cluster is deleted as after every other error once it exists.

use std::path::{Path, PathBuf};
use std::time::Instant;

use super::process::{CommandLine, CommandRunner, Output};
use crate::error::HarnessError;
use crate::text::one_line;
use crate::wait::Budget;

/// How long the setup program may run (scaled by `NETCONFORM_TIMEOUT_SCALE`): the testbed's takes well under
/// a minute; a program that hangs must not hold the run forever.
pub const KIND_SETUP: Budget = Budget::new("kind-setup", 600);

/// What the report records of a setup program that ran (`netconform.kind-setup`), e.g.
/// `/work/testbed/setup-cluster (exit status 0 after 31 s)`.
pub fn describe(hook: &Path, seconds: u64) -> String {
    format!("{} (exit status 0 after {seconds} s)", hook.display())
}

/// Runs `hook` on the cluster `cluster`, whose kubeconfig is `kubeconfig_yaml`; returns what the report
/// records ([`describe`]).
pub async fn run_setup(
    runner: &dyn CommandRunner,
    hook: &Path,
    cluster: &str,
    kubeconfig_yaml: &str,
    timeout_scale: f64,
) -> Result<String, HarnessError> {
    let failed = |status: String, detail: String| HarnessError::Setup {
        hook: hook.display().to_string(),
        status,
        detail,
    };
    let kubeconfig = PrivateFile::write(cluster, kubeconfig_yaml).map_err(|e| {
        failed(
            "not started".into(),
            format!("cannot write its kubeconfig: {e}"),
        )
    })?;
    let command = CommandLine::new(&hook.display().to_string(), &[])
        .with_env("KUBECONFIG", &kubeconfig.path.display().to_string())
        .with_env("NETCONFORM_CLUSTER_NAME", cluster);
    let budget = KIND_SETUP.scaled(timeout_scale);
    eprintln!(
        "netconform: running NETCONFORM_KIND_SETUP={} on kind cluster {cluster:?} (budget {} s)",
        hook.display(),
        budget.as_secs()
    );
    let started = Instant::now();
    // On the budget's end the future is dropped and the program killed (`kill_on_drop`).
    let out = match tokio::time::timeout(budget, runner.run(&command, Output::Stream)).await {
        Err(_) => {
            return Err(failed(
                format!("timed out after {} s", budget.as_secs()),
                format!("budget {} exceeded", KIND_SETUP.name),
            ));
        }
        Ok(Err(e)) => return Err(failed("did not start".into(), e.to_string())),
        Ok(Ok(out)) => out,
    };
    if !out.success {
        return Err(failed(out.status.clone(), one_line(&out.tail())));
    }
    let seconds = started.elapsed().as_secs();
    eprintln!("netconform: NETCONFORM_KIND_SETUP finished in {seconds} s");
    Ok(describe(hook, seconds))
}

/// A file only its owner may read, removed when dropped: the kubeconfig holds the cluster's admin key.
struct PrivateFile {
    path: PathBuf,
}

impl PrivateFile {
    fn write(cluster: &str, text: &str) -> std::io::Result<PrivateFile> {
        use std::io::Write;
        let path = std::env::temp_dir().join(format!(
            "netconform-{cluster}-{}-{}.kubeconfig",
            std::process::id(),
            rand::random::<u32>()
        ));
        let mut options = std::fs::OpenOptions::new();
        options.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            options.mode(0o600);
        }
        let mut file = options.open(&path)?;
        let file_guard = PrivateFile { path };
        file.write_all(text.as_bytes())?;
        Ok(file_guard)
    }
}

impl Drop for PrivateFile {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.path);
    }
}

#[cfg(test)]
mod tests {
    use super::super::process::{ScriptedRunner, SystemRunner};
    use super::*;

    #[tokio::test]
    async fn the_program_gets_the_kubeconfig_and_the_cluster_name() {
        let runner = ScriptedRunner::new(&[]);
        let hook = Path::new("/opt/setup");
        let done = run_setup(&runner, hook, "nc-1", "kubeconfig: yes\n", 1.0)
            .await
            .unwrap();
        assert!(
            done.starts_with("/opt/setup (exit status 0 after "),
            "{done}"
        );
        assert_eq!(runner.calls(), vec!["/opt/setup"]);
        assert_eq!(
            runner.streamed(),
            vec!["/opt/setup"],
            "its output is streamed"
        );
        let env = runner.env_of("/opt/setup").unwrap();
        assert_eq!(env[1], ("NETCONFORM_CLUSTER_NAME".into(), "nc-1".into()));
        let (name, path) = &env[0];
        assert_eq!(name, "KUBECONFIG");
        assert!(
            !Path::new(path).exists(),
            "the kubeconfig file is removed afterwards: {path}"
        );
    }

    #[tokio::test]
    async fn a_failing_program_is_a_setup_error_with_its_tail() {
        let runner = ScriptedRunner::new(&[]).answer(
            "/opt/setup",
            false,
            "",
            "addon 10-metallb.sh\nerror: the webhook did not accept the pool within 120 s\n",
        );
        let err = run_setup(&runner, Path::new("/opt/setup"), "nc", "", 1.0)
            .await
            .unwrap_err();
        assert_eq!(err.exit_code(), crate::error::EXIT_SETUP);
        assert_eq!(
            err.to_string(),
            "the kind setup program NETCONFORM_KIND_SETUP=/opt/setup failed (exit status 1): addon 10-metallb.sh; error: the webhook did not accept the pool within 120 s"
        );
    }

    /// A real process: it reads the kubeconfig while it exists, sees the inherited environment, and a run
    /// past the budget is killed and reported as such.
    #[cfg(unix)]
    #[tokio::test]
    async fn a_real_program_reads_its_environment_and_is_bounded() {
        use std::os::unix::fs::PermissionsExt;
        let dir =
            std::env::temp_dir().join(format!("netconform-setup-test-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let hook = dir.join("setup");
        std::fs::write(
            &hook,
            "#!/bin/sh\ntest \"$(cat \"$KUBECONFIG\")\" = 'apiVersion: v1' || exit 3\n\
             test \"$NETCONFORM_CLUSTER_NAME\" = nc-real || exit 4\ntest -n \"$PATH\" || exit 5\n\
             test \"$(stat -c %a \"$KUBECONFIG\")\" = 600 || exit 6\n\
             [ -z \"$SLEEP\" ] || sleep \"$SLEEP\"\n",
        )
        .unwrap();
        std::fs::set_permissions(&hook, std::fs::Permissions::from_mode(0o755)).unwrap();
        run_setup(&SystemRunner, &hook, "nc-real", "apiVersion: v1", 1.0)
            .await
            .unwrap();
        let err = run_setup(&SystemRunner, &hook, "other", "apiVersion: v1", 1.0)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("(exit status 4)"), "{err}");
        // 600 s at the smallest scale (0.01): 6 s, against a program that sleeps 20 s.
        let slow = wrapper(&dir, "SLEEP=20 exec");
        let err = run_setup(&SystemRunner, &slow, "nc-real", "apiVersion: v1", 0.001)
            .await
            .unwrap_err();
        assert!(err.to_string().contains("(timed out after 6 s)"), "{err}");
        assert_eq!(err.exit_code(), crate::error::EXIT_SETUP);
        std::fs::remove_dir_all(&dir).unwrap();
    }

    /// A script in `dir` that runs `dir/setup` after `prefix` (e.g. setting a variable).
    #[cfg(unix)]
    fn wrapper(dir: &Path, prefix: &str) -> PathBuf {
        use std::os::unix::fs::PermissionsExt;
        let path = dir.join("slow-setup");
        let script = format!("#!/bin/sh\n{prefix} {}\n", dir.join("setup").display());
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }
}
