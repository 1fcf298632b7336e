//! Where build commands run: on this machine, or in a container of the project's image
//! (docker or podman), with the sandbox mounted under one root.

use std::path::{Path, PathBuf};
use std::process::Stdio;

use crate::bindings::sandpipe::action::exec::Error;
use crate::sandbox::Sandbox;

/// Where build commands run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum BuildRunner {
    /// A process on this machine, outside the wasm sandbox.
    Local,
    /// A container of the project's image, through this program (docker or podman).
    Container {
        kind: ContainerKind,
        program: PathBuf,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ContainerKind {
    Docker,
    Podman,
}

impl ContainerKind {
    pub fn name(self) -> &'static str {
        match self {
            ContainerKind::Docker => "docker",
            ContainerKind::Podman => "podman",
        }
    }
}

impl BuildRunner {
    /// A container runner of `kind` (or the first usable of docker and podman), checked to
    /// answer: a runtime whose client is installed but whose engine is not running is refused
    /// here, with what it said, rather than at the first build.
    pub fn container(kind: Option<ContainerKind>) -> anyhow::Result<Self> {
        let kinds = match kind {
            Some(kind) => vec![kind],
            None => vec![ContainerKind::Docker, ContainerKind::Podman],
        };
        let mut reasons = Vec::new();
        for kind in kinds {
            match probe_container_runtime(kind) {
                Ok(program) => return Ok(BuildRunner::Container { kind, program }),
                Err(reason) => reasons.push(format!("{}: {reason}", kind.name())),
            }
        }
        anyhow::bail!(
            "the container build runner needs a working docker or podman engine, and none \
             answered ({}); use the local runner (--build-runner local) or start one",
            reasons.join("; ")
        )
    }

    pub fn kind(&self) -> &'static str {
        match self {
            BuildRunner::Local => "local",
            BuildRunner::Container { kind, .. } => kind.name(),
        }
    }
}

fn probe_container_runtime(kind: ContainerKind) -> Result<PathBuf, String> {
    let program = find_in_path(kind.name()).ok_or("not installed")?;
    let output = std::process::Command::new(&program)
        .args(["info", "--format", "{{json .}}"])
        .stdin(Stdio::null())
        .output()
        .map_err(|e| e.to_string())?;
    if output.status.success() {
        Ok(program)
    } else {
        let said = String::from_utf8_lossy(&output.stderr);
        Err(said
            .lines()
            .next()
            .unwrap_or("no answer")
            .trim()
            .to_string())
    }
}

fn find_in_path(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join(program))
            .find(|candidate| candidate.is_file())
    })
}

/// Where container builds see the sandbox: `/tmp/x` in the sandbox is `/codebuild/sandpipe/tmp/x`.
pub(crate) const CONTAINER_ROOT: &str = "/codebuild/sandpipe";

/// Variables of this machine a local build starts with: what build tools need to be found and
/// to behave, nothing else (no credentials, tokens or the operator's other settings).
/// `extra` names more variables the operator passes through.
pub fn local_base_environment(extra: &[String]) -> Vec<(String, String)> {
    const KEPT: &[&str] = &[
        "PATH",
        "HOME",
        "USER",
        "LOGNAME",
        "LANG",
        "LC_ALL",
        "TZ",
        "TMPDIR",
        "CARGO_HOME",
        "RUSTUP_HOME",
        "RUSTUP_TOOLCHAIN",
        "PYENV_ROOT",
        "JAVA_HOME",
    ];
    let mut environment: Vec<(String, String)> = KEPT
        .iter()
        .copied()
        .chain(extra.iter().map(String::as_str))
        .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
        .collect();
    environment.sort();
    environment.dedup_by(|a, b| a.0 == b.0);
    environment
}

/// A running container a session's commands execute in.
pub(crate) struct Container {
    program: PathBuf,
    name: String,
}

impl Container {
    /// Start a container of `image` that a session's commands run in, the sandbox mounted.
    pub(crate) async fn start(
        program: &Path,
        image: &str,
        sandbox: &Sandbox,
    ) -> Result<Self, Error> {
        let name = format!("sandpipe-build-{}", uuid::Uuid::new_v4());
        let arguments = container_run_arguments(&name, image, sandbox.root(), &sandbox.mounts());
        let output = tokio::process::Command::new(program)
            .args(&arguments)
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| Error::Unavailable(format!("starting the container: {e}")))?;
        if !output.status.success() {
            return Err(Error::Unavailable(format!(
                "starting a container of image '{image}' failed: {}",
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        Ok(Container {
            program: program.to_path_buf(),
            name,
        })
    }

    /// The id (`sha256:…`) of the image the container runs, as its engine says.
    pub(crate) async fn image_id(&self) -> Result<String, Error> {
        let output = tokio::process::Command::new(&self.program)
            .args(["inspect", "--format", "{{.Image}}", &self.name])
            .stdin(Stdio::null())
            .output()
            .await
            .map_err(|e| Error::Unavailable(format!("asking which image ran: {e}")))?;
        let id = String::from_utf8_lossy(&output.stdout).trim().to_string();
        if !output.status.success() || id.is_empty() {
            return Err(Error::Unavailable(format!(
                "asking which image container {} runs failed: {}",
                self.name,
                String::from_utf8_lossy(&output.stderr).trim()
            )));
        }
        // Docker names it sha256:<hex>; podman gives the bare hex.
        Ok(if id.contains(':') {
            id
        } else {
            format!("sha256:{id}")
        })
    }

    /// The container client (docker or podman) that runs it.
    pub(crate) fn program(&self) -> &Path {
        &self.program
    }

    pub(crate) fn name(&self) -> &str {
        &self.name
    }

    /// Remove it, in the background (its processes go with it).
    pub(crate) fn remove(&self) {
        let removal = std::process::Command::new(&self.program)
            .args(["rm", "--force", &self.name])
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn();
        if let Ok(mut child) = removal {
            std::thread::spawn(move || child.wait());
        }
    }
}

/// The container client's own settings, so it finds its engine; the build's variables are
/// added on top.
pub(crate) fn container_client_environment() -> Vec<(String, String)> {
    [
        "PATH",
        "HOME",
        "DOCKER_HOST",
        "DOCKER_CONFIG",
        "XDG_RUNTIME_DIR",
        "CONTAINER_HOST",
    ]
    .iter()
    .filter_map(|name| Some((name.to_string(), std::env::var(name).ok()?)))
    .collect()
}

/// The arguments that start a session's container: the sandbox mounted at
/// [`CONTAINER_ROOT`] (inputs read-only), kept alive until the session ends.
fn container_run_arguments(
    name: &str,
    image: &str,
    sandbox_root: &Path,
    mounts: &[(String, PathBuf, bool)],
) -> Vec<String> {
    let mut arguments = vec![
        "run".to_string(),
        "--detach".into(),
        "--rm".into(),
        "--name".into(),
        name.to_string(),
        "--label".into(),
        "sandpipe=build".into(),
        "--entrypoint".into(),
        "/bin/sh".into(),
    ];
    let exec_dir = sandbox_root.join("exec");
    arguments.push("--volume".into());
    arguments.push(format!(
        "{}:{CONTAINER_ROOT}/.exec",
        exec_dir.to_string_lossy()
    ));
    for (guest, host, writable) in mounts {
        arguments.push("--volume".into());
        arguments.push(format!(
            "{}:{CONTAINER_ROOT}{guest}{}",
            host.to_string_lossy(),
            if *writable { "" } else { ":ro" }
        ));
    }
    arguments.push(image.to_string());
    arguments.push("-c".into());
    arguments.push("trap 'exit 0' TERM; while :; do sleep 3600 & wait $!; done".into());
    arguments
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_see_the_sandbox_under_one_root_with_inputs_read_only() {
        let arguments = container_run_arguments(
            "sandpipe-build-1",
            "public.ecr.aws/codebuild/amazonlinux-x86_64-standard:5.0",
            Path::new("/state/work/e/00-01"),
            &[
                ("/in/Src".into(), "/state/work/e/00-01/in/Src".into(), false),
                ("/tmp".into(), "/state/work/e/00-01/tmp".into(), true),
            ],
        );
        let joined = arguments.join(" ");
        assert!(joined.starts_with("run --detach --rm --name sandpipe-build-1"));
        assert!(
            joined.contains("--volume /state/work/e/00-01/in/Src:/codebuild/sandpipe/in/Src:ro")
        );
        assert!(joined.contains("--volume /state/work/e/00-01/tmp:/codebuild/sandpipe/tmp "));
        assert!(joined.contains("--volume /state/work/e/00-01/exec:/codebuild/sandpipe/.exec"));
        assert!(joined.contains(" public.ecr.aws/codebuild/amazonlinux-x86_64-standard:5.0 -c "));
    }
}
