//! The `exec` capability: shell sessions for build actions, run by the operator's chosen
//! runner, and (with it) the `build-projects` import.
//!
//! This is the one door out of the wasm sandbox, so it is shut unless the operator's policy
//! opens it (see [`crate::ProviderPolicy`]). Through it the guest can only ask for commands
//! to run in a working directory inside its own sandbox, with exactly the environment it
//! computed; the host picks the runner, bounds the time, streams the output into the action
//! log (masked and tagged) and kills every process a session started when the session ends,
//! times out or is abandoned.

mod projects;
mod runner;
mod session;

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Instant;

use sandpipe_model::codebuild::BuildProject;
use wasmtime::component::Resource;

use runner::CONTAINER_ROOT;
pub use runner::{BuildRunner, ContainerKind, local_base_environment};
use session::{ShellSession, open_session};

use crate::bindings::sandpipe::action::build_projects as projects_wit;
use crate::bindings::sandpipe::action::exec::{
    self as wit, CopySummary, Error, ExitStatus, RunnerInfo, SessionOptions,
};
use crate::capabilities::log::LogCapture;
use crate::capabilities::{Capability, Grant, Setup, Slots};
use crate::sandbox::Sandbox;
use crate::state::ActionState;

/// Run commands outside the wasm sandbox, through the build runner.
pub const EXEC: Capability = Capability::named("exec");

capability_module!(
    [
        "sandpipe:action/exec@0.1",
        "sandpipe:action/build-projects@0.1"
    ],
    Some(EXEC),
    [wit, projects_wit],
    setup
);

fn setup(setup: &Setup<'_>, slots: &mut Slots) {
    if let Some(grant) = setup.grants.get::<ExecGrant>() {
        slots.insert(ExecAccess {
            grant,
            sandbox: setup.sandbox.clone(),
            log: setup.log.clone(),
            deadline: setup.deadline,
            sessions: 0,
            budget: setup.budget.clone(),
        });
    }
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
    /// The action's `ProjectName`, and the operator's definition of it if there is one: the
    /// only project the action may look up.
    pub project: Option<(String, Option<BuildProject>)>,
    /// A deterministic build (`--deterministic`): what every command starts with whatever
    /// the build asks.
    pub deterministic: Option<DeterministicBuild>,
    /// The image id to run instead of an image reference (a replay runs the images its
    /// original ran, even after a tag moved): reference → `sha256:…`.
    pub image_pins: BTreeMap<String, String>,
    /// Where the images the build's containers ran are written down, for the record.
    pub images: Arc<BuildImages>,
}

/// The images a build's containers ran: each reference the build named, and the id of the
/// image that ran for it.
#[derive(Debug, Default)]
pub struct BuildImages {
    ran: std::sync::Mutex<BTreeMap<String, String>>,
}

impl BuildImages {
    pub fn ran(&self) -> BTreeMap<String, String> {
        self.ran.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    pub(crate) fn note(&self, reference: &str, id: String) {
        self.ran
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .insert(reference.to_string(), id);
    }
}

/// What the host fixes for the commands of a deterministic build: the source revision's
/// commit time as `SOURCE_DATE_EPOCH` (what reproducible-builds tools read for timestamps),
/// UTC, the C locale and a umask of 022, on either runner.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeterministicBuild {
    /// Seconds since the Unix epoch; the execution's start when no source revision has a
    /// commit time.
    pub source_date_epoch: i64,
}

impl DeterministicBuild {
    pub const UMASK: &str = "022";

    pub fn environment(&self) -> Vec<(String, String)> {
        vec![
            ("LC_ALL".into(), "C.UTF-8".into()),
            (
                "SOURCE_DATE_EPOCH".into(),
                self.source_date_epoch.to_string(),
            ),
            ("TZ".into(), "UTC".into()),
        ]
    }
}

impl Grant for ExecGrant {
    const CAPABILITY: Capability = EXEC;
}

/// The exec access of one action call.
pub(crate) struct ExecAccess {
    grant: Arc<ExecGrant>,
    sandbox: Arc<Sandbox>,
    log: Arc<LogCapture>,
    deadline: Instant,
    sessions: u32,
    budget: Arc<crate::write_budget::WriteBudget>,
}

granted_access!(ExecAccess, EXEC, Error);

impl ExecAccess {
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

    async fn copy(&self, source: &str, destination: &str) -> Result<CopySummary, Error> {
        let (from, source) = self
            .sandbox
            .resolve(source, false)
            .map_err(Error::InvalidArgument)?;
        let (to, destination) = self
            .sandbox
            .resolve(destination, true)
            .map_err(Error::InvalidArgument)?;
        let copied = tokio::task::spawn_blocking(move || {
            sandpipe_store::tree::copy(&from, &source, &to, &destination)
        })
        .await
        .map_err(|e| Error::Io(format!("host task failed: {e}")))?;
        let summary = copied.map_err(|e| Error::Io(e.to_string()))?;
        Ok(CopySummary {
            files: summary.files,
            bytes: summary.bytes,
            skipped: summary.skipped,
        })
    }
}

impl ActionState {
    fn exec(&mut self) -> Result<&mut ExecAccess, Error> {
        self.granted::<ExecAccess>().map_err(Error::from)
    }
}

impl wit::Host for ActionState {
    async fn runner(&mut self) -> wasmtime::Result<RunnerInfo> {
        let Ok(exec) = self.exec() else {
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
        Ok(match self.exec() {
            Ok(exec) => exec.copy(&source, &destination).await,
            Err(denied) => Err(denied),
        })
    }

    async fn process_path(
        &mut self,
        sandbox_path: String,
    ) -> wasmtime::Result<Result<String, Error>> {
        Ok(self
            .exec()
            .and_then(|exec| exec.process_path(&sandbox_path, false)))
    }

    async fn open_session(
        &mut self,
        options: SessionOptions,
    ) -> wasmtime::Result<Result<Resource<wit::Session>, Error>> {
        let opened = match self.exec() {
            Ok(exec) => open_session(exec, options).await,
            Err(denied) => Err(denied),
        };
        Ok(match opened {
            Ok(session) => Ok(Resource::new_own(self.table.push(session)?.rep())),
            Err(error) => Err(error),
        })
    }
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
