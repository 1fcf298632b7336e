//! The `exec` import: shell sessions for build actions, run by the operator's chosen runner.
//!
//! This is the one door out of the wasm sandbox, so it is shut unless the operator's policy
//! opens it (see [`crate::ProviderPolicy`]). Through it the guest can only ask for commands
//! to run in a working directory inside its own sandbox, with exactly the environment it
//! computed; the host picks the runner, bounds the time, streams the output into the action
//! log (masked and tagged) and kills every process a session started when the session ends,
//! times out or is abandoned.
//!
//! Each command runs in a fresh shell that starts in the previous command's directory and
//! environment, and saves both on exit (an EXIT trap), which gives CodeBuild's "one shell
//! instance" behaviour without feeding commands to a long-lived shell's stdin.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};
use wasmtime::component::Resource;

use crate::bindings::sandpipe::action::exec::{
    self as wit, CopySummary, Error, ExitStatus, RunnerInfo, SessionOptions,
};
use crate::capabilities::log::{LogCapture, OutputStream};
use crate::sandbox::Sandbox;
use crate::state::ActionState;

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

/// What the operator granted an action that may run commands.
#[derive(Debug, Clone)]
pub struct ExecGrant {
    pub runner: BuildRunner,
    /// The environment builds start from on the local runner (a container's image has its
    /// own). See [`local_base_environment`].
    pub base_environment: Vec<(String, String)>,
    pub region: String,
    pub account_id: String,
}

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

/// Where container builds see the sandbox: `/tmp/x` in the sandbox is `/codebuild/sandpipe/tmp/x`.
const CONTAINER_ROOT: &str = "/codebuild/sandpipe";
/// Most bytes of environment a command may leave behind for the next.
const MAX_STATE_BYTES: u64 = 1 << 20;
/// How long output of background processes is still read after a command's shell exits.
const DRAIN_GRACE: Duration = Duration::from_millis(200);
/// Longest output line kept whole.
const MAX_LINE_BYTES: usize = 16 * 1024;
const SHELLS: &[&str] = &["bash", "sh", "/bin/bash", "/bin/sh", "/usr/bin/bash"];

/// The exec access of one action execution.
pub(crate) struct ExecAccess {
    pub(crate) grant: Arc<ExecGrant>,
    pub(crate) sandbox: Arc<Sandbox>,
    pub(crate) log: Arc<LogCapture>,
    pub(crate) deadline: Instant,
    sessions: u32,
}

impl ExecAccess {
    pub(crate) fn new(
        grant: Arc<ExecGrant>,
        sandbox: Arc<Sandbox>,
        log: Arc<LogCapture>,
        deadline: Instant,
    ) -> Self {
        ExecAccess {
            grant,
            sandbox,
            log,
            deadline,
            sessions: 0,
        }
    }

    fn process_path(&self, sandbox_path: &str, write: bool) -> Result<String, Error> {
        let host = self
            .sandbox
            .host_path(sandbox_path, write)
            .map_err(Error::InvalidArgument)?;
        Ok(match self.grant.runner {
            BuildRunner::Local => host.to_string_lossy().into_owned(),
            BuildRunner::Container { .. } => {
                format!("{CONTAINER_ROOT}{}", sandbox_path.trim_end_matches('/'))
            }
        })
    }
}

/// A running container a session's commands execute in.
struct Container {
    program: PathBuf,
    name: String,
}

/// One shell session (the `session` resource).
pub struct ShellSession {
    shell: String,
    cwd: String,
    environment: Vec<(String, String)>,
    deadline: Instant,
    /// Where the EXIT trap saves the directory and environment: host path, process path.
    state_file: (PathBuf, String),
    /// Process groups started, killed when the session ends.
    groups: Vec<i32>,
    container: Option<Container>,
    log: Arc<LogCapture>,
    /// Commands run so far (names the state file of each).
    commands: u32,
}

impl Drop for ShellSession {
    fn drop(&mut self) {
        self.kill_all();
    }
}

fn kill_group(group: i32) {
    // SAFETY: killpg has no memory-safety preconditions; a group that is gone gives ESRCH.
    unsafe {
        libc::killpg(group, libc::SIGKILL);
    }
}

fn remove_container(container: &Container) {
    let removal = std::process::Command::new(&container.program)
        .args(["rm", "--force", &container.name])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn();
    if let Ok(mut child) = removal {
        std::thread::spawn(move || child.wait());
    }
}

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The script a command runs as: restore the directory, save directory and environment on
/// exit (whatever way the command exits), then the command itself.
fn wrap(script: &str, cwd: &str, state_file: &str) -> String {
    format!(
        "__sandpipe_state={state}\n\
         trap '__sandpipe_status=$?; {{ printf \"%s\\0\" \"$PWD\"; env -0; }} > \"$__sandpipe_state\" 2>/dev/null; exit $__sandpipe_status' EXIT\n\
         cd -- {cwd} || exit 1\n\
         {script}\n",
        state = quote(state_file),
        cwd = quote(cwd),
    )
}

/// Variables a shell sets for itself; they are not the build's.
fn is_shell_bookkeeping(name: &str) -> bool {
    matches!(name, "SHLVL" | "_" | "OLDPWD" | "PWD") || name.starts_with("__sandpipe_")
}

/// Parse what the EXIT trap wrote: the directory, then NUL-separated NAME=value pairs.
fn parse_state(bytes: &[u8]) -> Option<(String, Vec<(String, String)>)> {
    let mut fields = bytes.split(|&b| b == 0);
    let cwd = String::from_utf8(fields.next()?.to_vec()).ok()?;
    let mut environment = Vec::new();
    for field in fields.filter(|f| !f.is_empty()) {
        let text = String::from_utf8_lossy(field);
        if let Some((name, value)) = text.split_once('=')
            && !is_shell_bookkeeping(name)
        {
            environment.push((name.to_string(), value.to_string()));
        }
    }
    environment.sort();
    Some((cwd, environment))
}

impl ShellSession {
    /// The process that runs one command.
    fn command(&self, wrapped: &str) -> tokio::process::Command {
        let mut command = match &self.container {
            None => {
                let mut command = tokio::process::Command::new(&self.shell);
                command.env_clear().envs(self.environment.iter().cloned());
                command
            }
            Some(container) => {
                // Values travel in the client's environment (`-e NAME` without a value), not
                // on its command line where any local user could read them.
                let mut command = tokio::process::Command::new(&container.program);
                command.arg("exec");
                for (name, _) in &self.environment {
                    command.arg("-e").arg(name);
                }
                command.arg(&container.name).arg(&self.shell);
                command.env_clear();
                command.envs(container_client_environment());
                command.envs(self.environment.iter().cloned());
                command
            }
        };
        command
            .arg("-c")
            .arg(wrapped)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .process_group(0)
            .kill_on_drop(true);
        command
    }

    async fn run(&mut self, script: &str, tag: &str) -> Result<ExitStatus, Error> {
        let started = Instant::now();
        if started >= self.deadline {
            return Ok(ExitStatus {
                code: None,
                signal: None,
                timed_out: true,
                duration_ms: 0,
            });
        }
        self.commands += 1;
        let state_file = (
            self.state_file.0.with_extension(self.commands.to_string()),
            format!("{}.{}", self.state_file.1, self.commands),
        );
        let wrapped = wrap(script, &self.cwd, &state_file.1);
        let mut child = self
            .command(&wrapped)
            .spawn()
            .map_err(|e| Error::Unavailable(format!("starting {}: {e}", self.shell)))?;
        let group = child.id().map(|pid| pid as i32);
        if let Some(group) = group {
            self.groups.push(group);
        }
        // If this future is dropped (the action was abandoned or timed out), the group dies.
        let mut guard = GroupGuard(group);
        let readers = [
            tokio::spawn(forward_lines(
                child.stdout.take().expect("piped"),
                self.log.clone(),
                OutputStream::Stdout,
                tag.to_string(),
            )),
            tokio::spawn(forward_lines(
                child.stderr.take().expect("piped"),
                self.log.clone(),
                OutputStream::Stderr,
                tag.to_string(),
            )),
        ];
        let waited =
            tokio::time::timeout_at(tokio::time::Instant::from_std(self.deadline), child.wait())
                .await;
        let (status, timed_out) = match waited {
            Ok(status) => (
                Some(status.map_err(|e| Error::Io(format!("waiting for the command: {e}")))?),
                false,
            ),
            Err(_) => {
                self.kill_all();
                let _ = child.wait().await;
                (None, true)
            }
        };
        guard.disarm();
        // Background processes may hold the pipes open; do not wait for them for long.
        for reader in readers {
            let abort = reader.abort_handle();
            if tokio::time::timeout(DRAIN_GRACE, reader).await.is_err() {
                abort.abort();
            }
        }
        if let Some(state) = read_state(&state_file.0) {
            (self.cwd, self.environment) = state;
        }
        let _ = std::fs::remove_file(&state_file.0);
        Ok(ExitStatus {
            code: status.and_then(|s| s.code()),
            signal: status
                .and_then(|s| s.signal())
                .or(timed_out.then_some(libc::SIGKILL)),
            timed_out,
            duration_ms: started.elapsed().as_millis() as u64,
        })
    }

    fn kill_all(&mut self) {
        for &group in &self.groups {
            kill_group(group);
        }
        if let Some(container) = &self.container {
            remove_container(container);
        }
    }
}

/// Kills a command's process group when dropped, unless disarmed.
struct GroupGuard(Option<i32>);

impl GroupGuard {
    fn disarm(&mut self) {
        self.0 = None;
    }
}

impl Drop for GroupGuard {
    fn drop(&mut self) {
        if let Some(group) = self.0 {
            kill_group(group);
        }
    }
}

fn read_state(path: &Path) -> Option<(String, Vec<(String, String)>)> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES).read_to_end(&mut bytes).ok()?;
    parse_state(&bytes)
}

/// The container client's own settings, so it finds its engine; the build's variables are
/// added on top.
fn container_client_environment() -> Vec<(String, String)> {
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

/// Read a command's output and log it line by line.
async fn forward_lines(
    mut stream: impl AsyncRead + Unpin,
    log: Arc<LogCapture>,
    which: OutputStream,
    tag: String,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut buffer = vec![0u8; 8192];
    loop {
        let read = match stream.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(read) => read,
        };
        pending.extend_from_slice(&buffer[..read]);
        while let Some(newline) = pending.iter().position(|&b| b == b'\n') {
            log.command_line(which, &tag, &pending[..newline]);
            pending.drain(..=newline);
        }
        if pending.len() >= MAX_LINE_BYTES {
            log.command_line(which, &tag, &pending);
            pending.clear();
        }
    }
    if !pending.is_empty() {
        log.command_line(which, &tag, &pending);
    }
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

impl wit::Host for ActionState {
    async fn runner(&mut self) -> wasmtime::Result<RunnerInfo> {
        let Some(exec) = &self.exec else {
            return Ok(RunnerInfo {
                kind: "none".into(),
                base_environment: Vec::new(),
                region: String::new(),
                account_id: String::new(),
            });
        };
        let grant = &exec.grant;
        Ok(RunnerInfo {
            kind: grant.runner.kind().into(),
            base_environment: match grant.runner {
                BuildRunner::Local => grant.base_environment.clone(),
                BuildRunner::Container { .. } => Vec::new(),
            },
            region: grant.region.clone(),
            account_id: grant.account_id.clone(),
        })
    }

    async fn copy(
        &mut self,
        source: String,
        destination: String,
    ) -> wasmtime::Result<Result<CopySummary, Error>> {
        let Some(exec) = &self.exec else {
            return Ok(Err(denied()));
        };
        let resolved = exec
            .sandbox
            .resolve(&source, false)
            .and_then(|from| Ok((from, exec.sandbox.resolve(&destination, true)?)));
        let ((from, source), (to, destination)) = match resolved {
            Ok(resolved) => resolved,
            Err(reason) => return Ok(Err(Error::InvalidArgument(reason))),
        };
        let copied = tokio::task::spawn_blocking(move || {
            sandpipe_store::tree::copy(&from, &source, &to, &destination)
        })
        .await;
        Ok(match copied {
            Ok(Ok(summary)) => Ok(CopySummary {
                files: summary.files,
                bytes: summary.bytes,
                skipped: summary.skipped,
            }),
            Ok(Err(e)) => Err(Error::Io(e.to_string())),
            Err(e) => Err(Error::Io(format!("host task failed: {e}"))),
        })
    }

    async fn process_path(
        &mut self,
        sandbox_path: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        Ok(match &self.exec {
            None => Err(denied()),
            Some(exec) => exec.process_path(&sandbox_path, false),
        })
    }

    async fn open_session(
        &mut self,
        options: SessionOptions,
    ) -> wasmtime::Result<Result<Resource<wit::Session>, Error>> {
        let Some(exec) = &mut self.exec else {
            return Ok(Err(denied()));
        };
        let session = match open_session(exec, options).await {
            Ok(session) => session,
            Err(error) => return Ok(Err(error)),
        };
        let owned = self.table.push(session)?;
        Ok(Ok(Resource::new_own(owned.rep())))
    }
}

fn denied() -> Error {
    Error::Denied(
        "this action was not granted exec; the operator grants it with --grant <action type>=exec"
            .into(),
    )
}

async fn open_session(
    exec: &mut ExecAccess,
    options: SessionOptions,
) -> Result<ShellSession, Error> {
    if !SHELLS.contains(&options.shell.as_str()) {
        return Err(Error::InvalidArgument(format!(
            "shell '{}' is not supported here (use one of {})",
            options.shell,
            SHELLS.join(", ")
        )));
    }
    let cwd = exec.process_path(&options.working_directory, true)?;
    exec.sessions += 1;
    let exec_dir = exec.sandbox.root().join("exec");
    std::fs::create_dir_all(&exec_dir).map_err(|e| Error::Io(e.to_string()))?;
    let state_name = format!("session-{}", exec.sessions);
    let state_file = match exec.grant.runner {
        BuildRunner::Local => {
            let path = exec_dir.join(&state_name);
            (path.clone(), path.to_string_lossy().into_owned())
        }
        BuildRunner::Container { .. } => (
            exec_dir.join(&state_name),
            format!("{CONTAINER_ROOT}/.exec/{state_name}"),
        ),
    };
    let mut deadline = exec.deadline;
    if let Some(ms) = options.timeout_ms {
        deadline = deadline.min(Instant::now() + Duration::from_millis(ms));
    }
    let container = match &exec.grant.runner {
        BuildRunner::Local => None,
        BuildRunner::Container { program, .. } => {
            let image = options.image.as_deref().ok_or_else(|| {
                Error::InvalidArgument(
                    "the container runner needs an image (the project's environment.image)".into(),
                )
            })?;
            let name = format!("sandpipe-build-{}", uuid::Uuid::new_v4());
            let arguments =
                container_run_arguments(&name, image, exec.sandbox.root(), &exec.sandbox.mounts());
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
            Some(Container {
                program: program.clone(),
                name,
            })
        }
    };
    let mut environment = options.environment;
    environment.sort();
    Ok(ShellSession {
        shell: options.shell,
        cwd,
        environment,
        deadline,
        state_file,
        groups: Vec::new(),
        container,
        log: exec.log.clone(),
        commands: 0,
    })
}

impl wit::HostSession for ActionState {
    async fn run(
        &mut self,
        session: Resource<wit::Session>,
        script: String,
        tag: String,
    ) -> wasmtime::Result<Result<ExitStatus, Error>> {
        let session = self.table.get_mut(&shell_session(&session))?;
        Ok(session.run(&script, &tag).await)
    }

    async fn environment(
        &mut self,
        session: Resource<wit::Session>,
    ) -> wasmtime::Result<Vec<(String, String)>> {
        Ok(self
            .table
            .get(&shell_session(&session))?
            .environment
            .clone())
    }

    async fn drop(&mut self, session: Resource<wit::Session>) -> wasmtime::Result<()> {
        let owned = Resource::<ShellSession>::new_own(session.rep());
        self.table.delete(owned)?;
        Ok(())
    }
}

/// The table entry behind a guest's session handle.
fn shell_session(session: &Resource<wit::Session>) -> Resource<ShellSession> {
    Resource::new_borrow(session.rep())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn state_parsing_drops_shell_bookkeeping() {
        let (cwd, environment) =
            parse_state(b"/work/src\0A=1\0SHLVL=2\0_=/usr/bin/env\0B=x=y\0__sandpipe_state=f\0")
                .unwrap();
        assert_eq!(cwd, "/work/src");
        assert_eq!(
            environment,
            vec![("A".into(), "1".into()), ("B".into(), "x=y".into())]
        );
    }

    #[test]
    fn quoting_survives_single_quotes() {
        assert_eq!(quote("it's"), r"'it'\''s'");
    }

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
