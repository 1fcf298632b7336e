//! The pipeline runner: what one process shares among every execution it runs — the wasm
//! host and its compiled components, the providers and their policy, the state store, the
//! object store, the work area and the in-process wake-ups. Executions run concurrently on
//! one runner; each comes as an [`ExecutionRequest`].

use std::path::{Path, PathBuf};
use std::sync::Arc;

use sandpipe_runtime::{ActionHost, WorkArea};
use sandpipe_state::{
    ApprovalError, ApprovalPlace, ExecutionRecord, ExecutionStatus, ExecutionType, ProcessOwner,
    StateStore, StopError, StopMode,
};
use sandpipe_store::LocalS3;

use crate::control::Signals;
use crate::events::{RunEvent, RunObserver};
use crate::providers::ProviderRegistry;
use crate::request::{ExecutionRequest, Start};
use crate::settings::RunnerSettings;

/// Why an execution could not start. Every problem found is listed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}", .0.iter().map(ToString::to_string).collect::<Vec<_>>().join("\n"))]
    Invalid(Vec<sandpipe_model::Finding>),
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sandpipe_state::StateError> for RunError {
    fn from(error: sandpipe_state::StateError) -> Self {
        RunError::Other(error.into())
    }
}

impl RunError {
    /// A refusal in the API's words: `Exception: why`.
    pub(crate) fn refused(exception: &str, why: String) -> Self {
        RunError::Other(anyhow::anyhow!("{exception}: {why}"))
    }
}

pub struct PipelineRunner {
    pub(crate) settings: RunnerSettings,
    pub(crate) host: Arc<ActionHost>,
    pub(crate) providers: ProviderRegistry,
    pub(crate) state: StateStore,
    pub(crate) s3: Arc<LocalS3>,
    pub(crate) work: WorkArea,
    pub(crate) signals: Signals,
    /// The AWS endpoint Lambda handlers call: `sandpipe serve`'s own URL, or one started when
    /// the first handler needs it.
    endpoint: Endpoint,
}

/// Starts an endpoint on this runner's state and says its URL.
pub type EndpointStarter = Box<dyn FnOnce() -> anyhow::Result<String> + Send>;

#[derive(Default)]
struct Endpoint {
    url: std::sync::OnceLock<String>,
    starter: std::sync::Mutex<Option<EndpointStarter>>,
}

impl PipelineRunner {
    pub fn new(
        settings: RunnerSettings,
        providers: ProviderRegistry,
        host: Arc<ActionHost>,
    ) -> anyhow::Result<Self> {
        let s3 = Arc::new(LocalS3::open(&settings.state_dir.join("s3"))?);
        let on_disk = settings.state_dir.join("work");
        let work = match (&settings.work_dir, settings.keep_work) {
            (Some(dir), _) => WorkArea::at(dir),
            // Kept sandboxes are for inspecting later: under the state directory, on disk.
            (None, true) => WorkArea::at(&on_disk),
            (None, false) => WorkArea::choose(&on_disk),
        }
        .map_err(|e| anyhow::anyhow!("preparing the work area for action sandboxes: {e}"))?;
        // Sandboxes a killed process left behind (a memory work area outlives state
        // directories, so every runner tidies it for all of them).
        // An owner whose start time could not be read is never taken for dead.
        work.sweep(|owner| {
            ProcessOwner::parse(owner)
                .is_some_and(|owner| !owner.started.is_empty() && !owner.is_alive())
        });
        Ok(PipelineRunner {
            state: StateStore::open(&settings.state_dir)?,
            settings,
            host,
            providers,
            s3,
            work,
            signals: Signals::default(),
            endpoint: Endpoint::default(),
        })
    }

    pub fn state(&self) -> &StateStore {
        &self.state
    }

    /// The URL of the AWS endpoint on this runner's state (`sandpipe serve`'s).
    pub fn set_endpoint_url(&self, url: String) {
        let _ = self.endpoint.url.set(url);
    }

    /// How to start an endpoint on this runner's state when a Lambda handler first needs
    /// one (a CLI run starts none otherwise).
    pub fn set_endpoint_starter(&self, starter: EndpointStarter) {
        *self
            .endpoint
            .starter
            .lock()
            .unwrap_or_else(|e| e.into_inner()) = Some(starter);
    }

    /// The endpoint's URL, starting it if it is not running yet.
    pub(crate) fn endpoint_url(&self) -> anyhow::Result<String> {
        let mut starter = self
            .endpoint
            .starter
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        if let Some(url) = self.endpoint.url.get() {
            return Ok(url.clone());
        }
        let Some(start) = starter.take() else {
            anyhow::bail!("no AWS endpoint runs for this runner's state");
        };
        let url = start()?;
        let _ = self.endpoint.url.set(url.clone());
        Ok(url)
    }

    pub fn state_dir(&self) -> &Path {
        &self.settings.state_dir
    }

    /// The action types this runner's providers serve (not counting the manual approval,
    /// which the engine runs itself).
    pub fn action_types(&self) -> Vec<sandpipe_model::ActionTypeId> {
        self.providers.action_types().cloned().collect()
    }

    /// What this runner's providers serve, for those who describe action types (the
    /// server's ListActionTypes).
    pub fn providers(&self) -> &ProviderRegistry {
        &self.providers
    }

    /// `pipeline` as records and get-pipeline show it: every secret configuration value —
    /// CodePipeline's own and those a plugin declares — replaced by `****`.
    pub fn mask_secrets(
        &self,
        pipeline: &sandpipe_model::PipelineDeclaration,
    ) -> sandpipe_model::PipelineDeclaration {
        sandpipe_model::validate::mask_secrets_with(pipeline, |id| {
            self.providers.declared_secret_properties(id)
        })
    }

    /// The custom action types registered in the state (`Category/Custom/Provider/Version`),
    /// which job workers serve when no component does.
    pub fn job_worker_types(&self) -> sandpipe_state::Result<std::collections::BTreeSet<String>> {
        Ok(self
            .state
            .action_types()
            .list()?
            .into_iter()
            .map(|(id, _)| id)
            .collect())
    }

    /// The embedded S3 store (source buckets, artifacts).
    pub fn object_store(&self) -> Arc<LocalS3> {
        self.s3.clone()
    }

    /// Where an execution's logs and events live.
    pub fn execution_dir(&self, id: &str) -> PathBuf {
        self.settings.state_dir.join("executions").join(id)
    }

    /// Check everything the request needs, then run the execution to its end. When a failed
    /// stage's conditions ask for a rollback, the rollback runs next, as a new execution;
    /// the record returned is the requested execution's.
    pub async fn execute(
        &self,
        request: ExecutionRequest,
        observer: Arc<dyn RunObserver>,
    ) -> Result<ExecutionRecord, RunError> {
        let launch = self.launch(request).await?;
        Ok(self.run_to_end(launch, observer).await)
    }

    /// Check and record the request, then run it in the background on the current tokio
    /// runtime: returns the new execution's id as soon as it is recorded, as
    /// StartPipelineExecution answers before the execution ends.
    pub async fn start(
        self: &Arc<Self>,
        request: ExecutionRequest,
        observer: Arc<dyn RunObserver>,
    ) -> Result<String, RunError> {
        let launch = self.launch(request).await?;
        let id = launch.record.pipeline_execution_id.clone();
        let runner = self.clone();
        tokio::spawn(async move { runner.run_to_end(launch, observer).await });
        Ok(id)
    }

    async fn run_to_end(
        &self,
        launch: crate::launch::Launch,
        observer: Arc<dyn RunObserver>,
    ) -> ExecutionRecord {
        let (files, region) = (launch.files.clone(), launch.region.clone());
        let (record, rollback) = self.run(launch, observer.clone()).await;
        let Some(stage) = rollback.filter(|_| {
            record.status == ExecutionStatus::Failed
                && record.execution_type == ExecutionType::Standard
        }) else {
            return record;
        };
        // A rollback itself is never rolled back.
        let id = &record.pipeline_execution_id;
        let note = |message: String| {
            observer.on_event(RunEvent::StageNote {
                execution_id: id.clone(),
                stage: stage.clone(),
                message,
            })
        };
        note("rolling back to the last execution that succeeded in this stage".into());
        let rollback = ExecutionRequest::rollback(&record.pipeline_name, &stage, None)
            .started_by(Start::by(
                "AutomatedRollback",
                &format!("stage '{stage}' of execution {id} failed"),
            ))
            .with_files(files)
            .in_region(&region);
        match self.launch(rollback).await {
            Ok(launch) => {
                self.run(launch, observer.clone()).await;
            }
            Err(error) => note(format!("the automatic rollback could not start: {error}")),
        }
        record
    }

    /// StopPipelineExecution for an execution this or another process runs.
    pub fn request_stop(
        &self,
        id: &str,
        mode: StopMode,
        reason: Option<&str>,
    ) -> sandpipe_state::Result<Result<String, StopError>> {
        let stopped = self.state.control().request_stop(id, mode, reason)?;
        self.signals.notify();
        Ok(stopped)
    }

    /// PutApprovalResult for an approval this or another process waits for.
    pub fn decide_approval(
        &self,
        place: ApprovalPlace<'_>,
        token: Option<&str>,
        approve: bool,
        summary: &str,
    ) -> sandpipe_state::Result<Result<String, ApprovalError>> {
        let decided = self
            .state
            .approvals()
            .decide(place, token, approve, summary)?;
        self.signals.notify();
        Ok(decided)
    }

    /// PutJobSuccessResult / PutJobFailureResult: end a job a worker holds and wake the
    /// action waiting on it.
    pub fn finish_job(
        &self,
        id: &str,
        status: sandpipe_state::JobStatus,
        result: &str,
    ) -> sandpipe_state::Result<Result<(), sandpipe_state::JobError>> {
        let finished = self.state.jobs().finish(id, status, result)?;
        self.signals.notify();
        Ok(finished)
    }

    /// EnableStageTransition: executions waiting at the stage's door go on.
    pub fn enable_transition(&self, pipeline: &str, stage: &str) -> sandpipe_state::Result<bool> {
        let enabled = self.state.stage_gate().enable_transition(pipeline, stage)?;
        self.signals.notify();
        Ok(enabled)
    }
}
