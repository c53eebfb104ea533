//! The images the suites' pods use, pre-loaded into a kind cluster's nodes so trials do not wait on
//! registry pulls: pulled on the host and loaded, or pulled by the nodes themselves.

use super::process::{CommandLine, CommandRunner, Output};
use crate::error::HarnessError;
use crate::images::ImageMap;
use crate::text::{name_part, one_line};

/// Images the suites' pods use; pulled once on the host and loaded into the nodes.
/// - `busybox:1.28`: the DNS debugging page's `busybox.yaml` (its nslookup output is what the docs show).
/// - `busybox:1.36.1`: a current busybox, whose nslookup behaves differently (see shared captures).
/// - `nginx`: the HostAliases page's `kubectl run nginx --image nginx`.
/// - agnhost: upstream e2e's network test image (upstream: test/utils/image/manifest.go, `Agnhost` 2.52).
pub const SUITE_IMAGES: &[&str] = &[
    "busybox:1.28",
    "busybox:1.36.1",
    "nginx",
    "registry.k8s.io/e2e-test-images/agnhost:2.52",
];

/// Pulls each suite image on the host and loads it into the nodes. `kind load docker-image` fails with
/// "content digest ... not found" on Docker's containerd image store (the default of new Docker installs;
/// kubernetes-sigs/kind#3795), so
/// a failed load falls back to `docker save` + `kind load image-archive` (the workaround in that issue). Where an image can be
/// neither pulled on the host nor loaded, the nodes must pull it themselves: that is tried once on the
/// control-plane node (`crictl pull`), and an image that cannot get onto the nodes at all is an error
/// (one line), not a trial that times out later.
///
/// With an image map (`NETCONFORM_IMAGES`) the images are the replacements the trials will run (two of the
/// docs' images may share one stand-in), and one already on the host (a stand-in testbed/build made, a
/// mirror pulled before) is not pulled again.
pub async fn preload_images(
    runner: &dyn CommandRunner,
    cluster: &str,
    images: &ImageMap,
) -> Result<(), HarnessError> {
    let mut wanted: Vec<&str> = SUITE_IMAGES
        .iter()
        .map(|image| images.resolve(image))
        .collect();
    wanted.dedup();
    for image in wanted {
        let local = !images.is_empty() && is_local(runner, image).await;
        let problem = match host_pull_and_load(runner, cluster, image, local).await {
            Ok(()) => continue,
            Err(problem) => problem,
        };
        let node = format!("{cluster}-control-plane");
        let node_pull = CommandLine::new("docker", &["exec", &node, "crictl", "pull", image]);
        let pulled = runner.run(&node_pull, Output::Capture).await;
        match pulled {
            Ok(out) if out.success => eprintln!(
                "netconform: warning: {problem}; the nodes pull {image} themselves (`{node_pull}` succeeded)"
            ),
            Ok(out) => {
                return Err(HarnessError::CommandFailed {
                    command: node_pull.to_string(),
                    status: out.status.clone(),
                    detail: one_line(&format!(
                        "image {image} can neither be loaded into the nodes ({problem}) nor pulled by them: {}",
                        out.tail()
                    )),
                });
            }
            Err(e) => {
                return Err(HarnessError::CommandFailed {
                    command: node_pull.to_string(),
                    status: "did not start".into(),
                    detail: one_line(&format!(
                        "image {image} can neither be loaded into the nodes ({problem}) nor pulled by them: {e}"
                    )),
                });
            }
        }
    }
    Ok(())
}

/// `docker pull`, then `kind load docker-image`, else `docker save` + `kind load image-archive`; the
/// failure as one line.
async fn host_pull_and_load(
    runner: &dyn CommandRunner,
    cluster: &str,
    image: &str,
    local: bool,
) -> Result<(), String> {
    let attempt = |command: CommandLine| async move {
        match runner.run(&command, Output::Capture).await {
            Ok(out) if out.success => Ok(()),
            Ok(out) => Err(format!(
                "`{command}` failed ({}): {}",
                out.status,
                out.tail()
            )),
            Err(e) => Err(format!("`{command}` did not run: {e}")),
        }
    };
    if local {
        eprintln!("netconform: {image} is a local image, not pulled");
    } else {
        attempt(CommandLine::new("docker", &["pull", image])).await?;
    }
    let loaded = attempt(CommandLine::new(
        "kind",
        &["load", "docker-image", image, "--name", cluster],
    ))
    .await;
    let Err(load_problem) = loaded else {
        return Ok(());
    };
    let archive =
        std::env::temp_dir().join(format!("netconform-{cluster}-{}.tar", name_part(image)));
    let archive_path = archive.display().to_string();
    let saved = attempt(CommandLine::new(
        "docker",
        &["save", "--output", &archive_path, image],
    ))
    .await;
    let result = match saved {
        Ok(()) => attempt(CommandLine::new(
            "kind",
            &["load", "image-archive", &archive_path, "--name", cluster],
        ))
        .await
        .map(|()| {
            eprintln!(
                "netconform: {load_problem}; loaded {image} through `docker save` + `kind load image-archive` instead"
            )
        }),
        Err(e) => Err(e),
    };
    // Best effort: the archive is a copy of an image the host keeps.
    let _ = std::fs::remove_file(&archive);
    result.map_err(|fallback| format!("{load_problem}; then {fallback}"))
}

async fn is_local(runner: &dyn CommandRunner, image: &str) -> bool {
    let inspect = CommandLine::new(
        "docker",
        &["image", "inspect", "--format", "{{.Id}}", image],
    );
    runner
        .run(&inspect, Output::Capture)
        .await
        .is_ok_and(|out| out.success)
}

#[cfg(test)]
mod tests {
    use super::super::process::ScriptedRunner;
    use super::*;

    /// kind#3795: on Docker's containerd image store `kind load docker-image` fails; the archive path works.
    #[tokio::test]
    async fn a_failed_kind_load_falls_back_to_an_image_archive() {
        let runner = ScriptedRunner::new(&["kind", "docker"])
            .answer(
                "kind load docker-image",
                false,
                "",
                "ERROR: failed to load image: command \"docker exec --privileged -i kind-control-plane ctr --namespace=k8s.io images import --all-platforms --digests --snapshotter=overlayfs -\" failed with error: exit status 1\nctr: content digest sha256:0123: not found",
            )
            .into_arc();
        preload_images(runner.as_ref(), "nc", &ImageMap::default())
            .await
            .unwrap();
        let calls = runner.calls();
        let archive = std::env::temp_dir().join("netconform-nc-busybox-1-28.tar");
        assert_eq!(
            &calls[..4],
            [
                "docker pull busybox:1.28".to_string(),
                "kind load docker-image busybox:1.28 --name nc".to_string(),
                format!("docker save --output {} busybox:1.28", archive.display()),
                format!("kind load image-archive {} --name nc", archive.display()),
            ]
        );
        assert!(!calls.iter().any(|c| c.contains("crictl")), "{calls:?}");
    }

    #[tokio::test]
    async fn an_image_neither_loaded_nor_pulled_by_the_nodes_is_one_line_error() {
        let runner = ScriptedRunner::new(&["kind", "docker"])
            .answer("docker pull", false, "", "dial tcp: lookup registry-1.docker.io: no such host")
            .answer(
                "docker exec nc-control-plane crictl pull",
                false,
                "",
                "E1202 pulling image: failed to resolve reference \"docker.io/library/busybox:1.28\"",
            )
            .into_arc();
        let err = preload_images(runner.as_ref(), "nc", &ImageMap::default())
            .await
            .unwrap_err();
        let line = err.to_string();
        assert!(!line.contains('\n'), "{line}");
        assert!(
            line.starts_with("`docker exec nc-control-plane crictl pull busybox:1.28` failed (exit status 1): image busybox:1.28 can neither be loaded into the nodes (`docker pull busybox:1.28` failed"),
            "{line}"
        );
        assert_eq!(err.exit_code(), crate::error::EXIT_KIND);
        // Nodes that can pull for themselves are only a warning.
        let pulls = ScriptedRunner::new(&["kind", "docker"])
            .answer("docker pull", false, "", "no such host")
            .into_arc();
        assert!(
            preload_images(pulls.as_ref(), "nc", &ImageMap::default())
                .await
                .is_ok()
        );
    }
}
