//! One shell session of the `exec` capability: each command runs in a fresh shell that
//! starts in the previous command's directory and environment, and saves both on exit (an
//! EXIT trap), which gives CodeBuild's "one shell instance" behaviour without feeding
//! commands to a long-lived shell's stdin. Every process a session starts is killed when the
//! session ends, times out or is abandoned.

use std::os::unix::process::ExitStatusExt;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::io::{AsyncRead, AsyncReadExt};

use super::DeterministicBuild;
use super::ExecAccess;
use super::runner::{BuildRunner, CONTAINER_ROOT, Container, container_client_environment};
use crate::bindings::sandpipe::action::exec::{Error, ExitStatus, SessionOptions};
use crate::capabilities::log::{LogCapture, OutputStream};
use crate::write_budget::{WriteBudget, usage};

/// Most bytes of environment a command may leave behind for the next.
const MAX_STATE_BYTES: u64 = 1 << 20;
/// How long output of background processes is still read after a command's shell exits.
const DRAIN_GRACE: Duration = Duration::from_millis(200);
/// How often the watchdog measures what commands wrote, at least; a walk of a big tree
/// stretches it (to ten times the walk), so watching never costs more than a tenth of a core.
const BUDGET_CHECK: Duration = Duration::from_millis(250);
/// Longest output line kept whole.
const MAX_LINE_BYTES: usize = 16 * 1024;
const SHELLS: &[&str] = &["bash", "sh", "/bin/bash", "/bin/sh", "/usr/bin/bash"];

/// One shell session (the `session` resource).
pub(crate) struct ShellSession {
    shell: String,
    cwd: String,
    pub(crate) environment: Vec<(String, String)>,
    deadline: Instant,
    /// Where the EXIT trap saves the directory and environment: host path, process path.
    state_file: (PathBuf, String),
    /// Process groups started, killed when the session ends.
    groups: Vec<i32>,
    container: Option<Container>,
    log: Arc<LogCapture>,
    /// Commands run so far (names the state file of each).
    commands: u32,
    /// The action's write budget, and what its commands may write.
    budget: Arc<WriteBudget>,
    watched: Arc<Watched>,
    /// Set before every command of a deterministic build.
    umask: Option<&'static str>,
}

/// The host directories a session's commands may write, and where the budget stood when it
/// opened: their contents then (a persistent cache may hold gigabytes) and what had been
/// charged. Commands are held to `charged + (now - then)`.
struct Watched {
    roots: Vec<PathBuf>,
    then: (u64, u64),
    charged: (u64, u64),
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

fn quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The script a command runs as: restore the directory, save directory and environment on
/// exit (whatever way the command exits), then the command itself.
fn wrap(script: &str, cwd: &str, state_file: &str, umask: Option<&str>) -> String {
    let umask = umask
        .map(|mask| format!("umask {mask}\n"))
        .unwrap_or_default();
    format!(
        "__sandpipe_state={state}\n\
         trap '__sandpipe_status=$?; {{ printf \"%s\\0\" \"$PWD\"; env -0; }} > \"$__sandpipe_state\" 2>/dev/null; exit $__sandpipe_status' EXIT\n\
         {umask}\
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
                // No one file may pass the whole budget between two watchdog checks.
                let limit = self.budget.max_bytes() as libc::rlim_t;
                // SAFETY: the closure runs in the child between fork and exec and only calls
                // setrlimit, which is async-signal-safe.
                unsafe {
                    command.pre_exec(move || {
                        let rlimit = libc::rlimit {
                            rlim_cur: limit,
                            rlim_max: limit,
                        };
                        libc::setrlimit(libc::RLIMIT_FSIZE, &rlimit);
                        Ok(())
                    });
                }
                command
            }
            Some(container) => {
                // Values travel in the client's environment (`-e NAME` without a value), not
                // on its command line where any local user could read them.
                let mut command = tokio::process::Command::new(container.program());
                command.arg("exec");
                for (name, _) in &self.environment {
                    command.arg("-e").arg(name);
                }
                command.arg(container.name()).arg(&self.shell);
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

    pub(crate) async fn run(&mut self, script: &str, tag: &str) -> Result<ExitStatus, Error> {
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
        let wrapped = wrap(script, &self.cwd, &state_file.1, self.umask);
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
        let waited = tokio::select! {
            waited = tokio::time::timeout_at(
                tokio::time::Instant::from_std(self.deadline),
                child.wait(),
            ) => waited,
            () = watch_budget(self.budget.clone(), self.watched.clone()) => {
                self.kill_all();
                let _ = child.wait().await;
                return Err(Error::Unavailable(self.budget.breach().unwrap_or_default()));
            }
        };
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
            container.remove();
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

/// Resolves once what is in `writable` passes the budget (the breach noted in it); never
/// otherwise.
async fn watch_budget(budget: Arc<WriteBudget>, watched: Arc<Watched>) {
    let stop_at = (
        watched.then.0.saturating_add(budget.max_bytes()),
        watched.then.1.saturating_add(budget.max_entries()),
    );
    let mut interval = BUDGET_CHECK;
    loop {
        tokio::time::sleep(interval).await;
        let walked = Instant::now();
        let measuring = watched.clone();
        let Ok((bytes, entries)) =
            tokio::task::spawn_blocking(move || usage(&measuring.roots, stop_at)).await
        else {
            return std::future::pending().await;
        };
        let total = (
            watched.charged.0 + bytes.saturating_sub(watched.then.0),
            watched.charged.1 + entries.saturating_sub(watched.then.1),
        );
        if budget.passed_by_measure(total.0, total.1) {
            return;
        }
        interval = BUDGET_CHECK.max(walked.elapsed() * 10);
    }
}

fn read_state(path: &Path) -> Option<(String, Vec<(String, String)>)> {
    use std::io::Read;
    let file = std::fs::File::open(path).ok()?;
    let mut bytes = Vec::new();
    file.take(MAX_STATE_BYTES).read_to_end(&mut bytes).ok()?;
    parse_state(&bytes)
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

/// Start a session as the guest asked, within the action's sandbox and deadline.
pub(crate) async fn open_session(
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
            let pinned = exec.grant.image_pins.get(image);
            let run = pinned.map(String::as_str).unwrap_or(image);
            let container = Container::start(program, run, &exec.sandbox)
                .await
                .map_err(|error| match pinned {
                    Some(id) => Error::Unavailable(format!(
                        "the image {image} ran as {id} in the execution being replayed, and \
                         that image could not be run here ({error})"
                    )),
                    None => error,
                })?;
            exec.grant.images.note(image, container.image_id().await?);
            Some(container)
        }
    };
    let mut environment = options.environment;
    if let Some(fixed) = &exec.grant.deterministic {
        for (name, value) in fixed.environment() {
            environment.retain(|(other, _)| *other != name);
            environment.push((name, value));
        }
    }
    environment.sort();
    let roots: Vec<PathBuf> = exec
        .sandbox
        .mounts()
        .into_iter()
        .filter(|(_, _, writable)| *writable)
        .map(|(_, host, _)| host)
        .collect();
    let charged = exec.budget.used();
    let watched = tokio::task::spawn_blocking(move || {
        let then = usage(&roots, (u64::MAX, u64::MAX));
        Watched {
            roots,
            then,
            charged,
        }
    })
    .await
    .map_err(|e| Error::Io(format!("measuring the sandbox: {e}")))?;
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
        budget: exec.budget.clone(),
        watched: Arc::new(watched),
        umask: exec
            .grant
            .deterministic
            .as_ref()
            .map(|_| DeterministicBuild::UMASK),
    })
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
}
