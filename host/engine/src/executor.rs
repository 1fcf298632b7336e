//! Running a planned pipeline: stages in order; inside a stage, runOrder groups in order and
//! the actions of a group concurrently; a failed action fails its stage and the execution.
//!
//! Everything that can be checked before running is checked first (validation, providers,
//! components), so bad input never leaves a half-done run behind.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::fs::File;
use std::io::Write;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use anyhow::Context;
use sandpipe_model::variables::{CODEPIPELINE_NAMESPACE, PIPELINE_VARIABLES_NAMESPACE};
use sandpipe_model::{
    ActionDeclaration, ActionTypeId, Category, LoadedPipeline, PipelineDeclaration, Problem, plan,
    variables,
};
use sandpipe_runtime::bindings::{self, ActionType};
use sandpipe_runtime::{
    ActionEngine, ActionEvent, ActionFailure, Capability, EventSink, ExecutionLimits, FailureKind,
    Grants, Invocation, LoadedComponent, Sandbox, granted_buckets,
};
use sandpipe_store::LocalS3;
use sandpipe_store::archive::Limits;

use crate::artifacts::ArtifactStore;
use crate::events::{EventJournal, RunEvent, RunObserver, Tee};
use crate::providers::ProviderRegistry;
use crate::sources::{SourceSettings, Start};
use sandpipe_state::{
    ActionRecord, ActionStatus, ApprovalStatus, ArtifactRecord, ErrorDetails, ExecutionRecord,
    ExecutionStatus, ExecutionType, Owner, RevisionRecord, StageEntry, StageRecord, StageSharing,
    StageStatus, StateStore, StopRequest,
};

pub struct RunOptions {
    /// `.sandpipe/` by default: the S3 emulation, execution records, work directories.
    pub state_dir: PathBuf,
    /// The pipeline's region (picks the entry of `artifactStores`).
    pub region: String,
    /// Replaces every action's own timeout.
    pub action_timeout: Option<Duration>,
    pub limits: ExecutionLimits,
    /// Keep each action's sandbox directory after it finishes (for debugging).
    pub keep_work: bool,
    /// The file the declaration came from, for the record.
    pub source_file: String,
    /// Values for the pipeline's V2 variables, overriding their defaults.
    pub variables: BTreeMap<String, String>,
    /// Runner, projects and secrets for build actions.
    pub builds: crate::builds::BuildSettings,
    /// Where git source actions' repositories are.
    pub sources: SourceSettings,
}

/// Why a run could not start. Every problem found is listed.
#[derive(Debug, thiserror::Error)]
pub enum RunError {
    #[error("{}", problems.iter().map(|p| format!("{file}: {p}")).collect::<Vec<_>>().join("\n"))]
    Invalid {
        file: String,
        problems: Vec<Problem>,
    },
    #[error(transparent)]
    Other(#[from] anyhow::Error),
}

impl From<sandpipe_state::StateError> for RunError {
    fn from(error: sandpipe_state::StateError) -> Self {
        RunError::Other(error.into())
    }
}

pub struct Runner {
    engine: Arc<ActionEngine>,
    providers: ProviderRegistry,
    s3: Arc<LocalS3>,
    state: StateStore,
    options: RunOptions,
}

/// Where an execution (re)starts: the first stage to run, and actions that already
/// succeeded and are not run again.
struct Resume {
    from_stage: usize,
    done: HashSet<(usize, usize)>,
    /// Run `from_stage` alone (a rollback).
    only_stage: bool,
}

/// What `prepare` established.
struct Prepared {
    components: HashMap<(usize, usize), LoadedComponent>,
    bucket: String,
    /// Every pipeline variable's value for this execution.
    variables: BTreeMap<String, String>,
}

/// State shared by the actions of one execution.
struct Execution<'a> {
    runner: &'a Runner,
    pipeline: &'a PipelineDeclaration,
    id: String,
    components: HashMap<(usize, usize), LoadedComponent>,
    artifacts: ArtifactStore,
    produced: Mutex<HashMap<String, ArtifactRecord>>,
    namespaces: Mutex<HashMap<String, BTreeMap<String, String>>>,
    record: Mutex<ExecutionRecord>,
    observer: Arc<dyn RunObserver>,
    /// The stop request, once one is seen.
    stop: Mutex<Option<StopRequest>>,
    /// Set when running actions are to be abandoned.
    abandon: tokio::sync::watch::Sender<bool>,
    resume: Resume,
    /// A stage whose failure asks for a rollback (onFailure or onSuccess ROLLBACK).
    rollback: Mutex<Option<usize>>,
    /// How the execution was started: its source revisions and working trees.
    start: Start,
}

impl Runner {
    pub fn new(
        engine: Arc<ActionEngine>,
        providers: ProviderRegistry,
        options: RunOptions,
    ) -> anyhow::Result<Self> {
        let s3 = Arc::new(LocalS3::open(&options.state_dir.join("s3"))?);
        Ok(Runner {
            engine,
            providers,
            s3,
            state: StateStore::open(&options.state_dir)?,
            options,
        })
    }

    pub fn state(&self) -> &StateStore {
        &self.state
    }

    pub fn state_dir(&self) -> &std::path::Path {
        &self.options.state_dir
    }

    /// Where git source actions' repositories are.
    pub fn sources(&self) -> &SourceSettings {
        &self.options.sources
    }

    /// The embedded S3 store (source buckets, artifacts).
    pub fn object_store(&self) -> Arc<LocalS3> {
        self.s3.clone()
    }

    /// Where an execution's logs live.
    pub fn execution_dir(&self, id: &str) -> std::path::PathBuf {
        self.options.state_dir.join("executions").join(id)
    }

    /// Check everything, then run the pipeline to its end.
    pub async fn run(
        &self,
        loaded: &LoadedPipeline,
        observer: Arc<dyn RunObserver>,
    ) -> Result<ExecutionRecord, RunError> {
        self.start(loaded, Start::default(), observer).await
    }

    /// [`Self::run`], started as `start` says: by what, with which source revisions and
    /// working trees.
    pub async fn start(
        &self,
        loaded: &LoadedPipeline,
        start: Start,
        observer: Arc<dyn RunObserver>,
    ) -> Result<ExecutionRecord, RunError> {
        let prepared = self.prepare(loaded, &start).await?;
        let pipeline = &loaded.pipeline;
        let file = self.options.source_file.clone();
        // Executions a killed process left behind end now, with a reason.
        self.state.recover()?;
        // Stored as get-pipeline shows it: secret configuration values never reach the disk.
        let declaration = serde_json::to_string(&sandpipe_model::validate::mask_secrets(pipeline))
            .expect("declarations serialize");
        let version = self
            .state
            .register_pipeline(&pipeline.name, &declaration, &file)?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut record = new_record(pipeline, &id, &file);
        record.variables = prepared.variables.clone();
        record.pipeline_version = version;
        record.trigger = Some(start.trigger.clone());
        self.state
            .create_execution(&record, version, &Owner::current())?;
        let resume = Resume {
            from_stage: 0,
            done: HashSet::new(),
            only_stage: false,
        };
        self.drive(pipeline, prepared, record, resume, start, observer)
            .await
    }

    /// RetryStageExecution: run the failed stage of a failed execution again — its failed
    /// actions, or all of them — then the stages after it, with the same source revisions
    /// and artifacts. Returns the execution's new record.
    pub async fn retry(
        &self,
        execution_id: &str,
        stage_name: &str,
        all_actions: bool,
        observer: Arc<dyn RunObserver>,
    ) -> Result<ExecutionRecord, RunError> {
        self.state.recover()?;
        let mut record = self.state.execution(execution_id)?;
        let not_retryable =
            |why: String| RunError::Other(anyhow::anyhow!("StageNotRetryableException: {why}"));
        let Some(s) = record
            .stages
            .iter()
            .position(|stage| stage.name == stage_name)
        else {
            return Err(not_retryable(format!(
                "execution {} has no stage '{stage_name}'",
                record.pipeline_execution_id
            )));
        };
        if record.status != ExecutionStatus::Failed
            || record.stages[s].status != StageStatus::Failed
        {
            return Err(not_retryable(format!(
                "stage '{stage_name}' of execution {} is {:?}; only a failed stage of a failed \
                 execution can be retried",
                record.pipeline_execution_id, record.stages[s].status
            )));
        }
        self.check_latest_in_stage(&record, s)?;
        let declaration = self
            .state
            .declaration(&record.pipeline_name, record.pipeline_version)?;
        let pipeline: PipelineDeclaration = serde_json::from_str(&declaration)
            .context("reading the stored declaration of the execution's pipeline version")?;
        let loaded = LoadedPipeline {
            pipeline,
            root: "",
            template: None,
        };
        let prepared = self.prepare(&loaded, &Start::default()).await?;

        // What already succeeded stays; the retried stage's other actions run again.
        let mut done = HashSet::new();
        for (a, action) in record.stages[s].actions.iter_mut().enumerate() {
            if action.status == ActionStatus::Succeeded && !all_actions {
                done.insert((s, a));
            } else {
                action.status = ActionStatus::NotStarted;
                action.error = None;
                action.end_time = None;
            }
        }
        for (earlier, stage) in record.stages.iter().enumerate().take(s) {
            for a in 0..stage.actions.len() {
                done.insert((earlier, a));
            }
        }
        record.status = ExecutionStatus::InProgress;
        record.status_summary = None;
        record.end_time = None;
        self.state
            .claim_execution(&record.pipeline_execution_id, &Owner::current())?;
        for (a, action) in record.stages[s].actions.iter().enumerate() {
            self.state
                .save_action(&record.pipeline_execution_id, s, a, action)?;
        }
        let resume = Resume {
            from_stage: s,
            done,
            only_stage: false,
        };
        // The execution keeps its trigger; a retry overrides no source.
        self.drive(
            &loaded.pipeline,
            prepared,
            record,
            resume,
            Start::default(),
            observer,
        )
        .await
    }

    /// RollbackStage: a new ROLLBACK execution runs `stage` again with the artifacts and
    /// variables of `target` — by default the latest execution that succeeded in the stage.
    pub async fn rollback(
        &self,
        pipeline_name: &str,
        stage_name: &str,
        target: Option<&str>,
        observer: Arc<dyn RunObserver>,
    ) -> Result<ExecutionRecord, RunError> {
        let start = Start::by("ManualRollback", "RollbackStage");
        self.roll_back(pipeline_name, stage_name, target, start, observer)
            .await
    }

    async fn roll_back(
        &self,
        pipeline_name: &str,
        stage_name: &str,
        target: Option<&str>,
        start: Start,
        observer: Arc<dyn RunObserver>,
    ) -> Result<ExecutionRecord, RunError> {
        let fail =
            |exception: &str, why: String| RunError::Other(anyhow::anyhow!("{exception}: {why}"));
        self.state.recover()?;
        let Some(version) = self.state.pipeline_version(pipeline_name)? else {
            return Err(fail(
                "PipelineNotFoundException",
                format!("no pipeline '{pipeline_name}' has run here"),
            ));
        };
        let pipeline: PipelineDeclaration =
            serde_json::from_str(&self.state.declaration(pipeline_name, version)?)
                .context("reading the stored declaration")?;
        let Some(s) = pipeline
            .stages
            .iter()
            .position(|stage| stage.name == stage_name)
        else {
            return Err(fail(
                "StageNotFoundException",
                format!("pipeline '{pipeline_name}' has no stage '{stage_name}'"),
            ));
        };
        if s == 0 {
            return Err(fail(
                "UnableToRollbackStageException",
                format!("'{stage_name}' is the source stage, which cannot be rolled back"),
            ));
        }
        if pipeline.execution_mode == Some(sandpipe_model::ExecutionMode::Parallel) {
            return Err(fail(
                "UnableToRollbackStageException",
                "rollback is not available in PARALLEL execution mode".into(),
            ));
        }
        let succeeded_in_stage = |record: &ExecutionRecord| {
            record.execution_type == ExecutionType::Standard
                && record.pipeline_name == pipeline_name
                && record
                    .stages
                    .get(s)
                    .is_some_and(|stage| stage.status == StageStatus::Succeeded)
        };
        let target = match target {
            Some(id) => {
                let record = self.state.execution(id)?;
                if !succeeded_in_stage(&record) {
                    return Err(fail(
                        "UnableToRollbackStageException",
                        format!(
                            "execution {} is not a standard execution of '{pipeline_name}' that \
                             succeeded in stage '{stage_name}'",
                            record.pipeline_execution_id
                        ),
                    ));
                }
                record
            }
            None => {
                let mut found = None;
                for summary in self.state.list_executions(Some(pipeline_name), 1000)? {
                    let record = self.state.execution(&summary.id)?;
                    if succeeded_in_stage(&record) {
                        found = Some(record);
                        break;
                    }
                }
                found.ok_or_else(|| {
                    fail(
                        "UnableToRollbackStageException",
                        format!(
                            "no execution of '{pipeline_name}' has succeeded in stage '{stage_name}'"
                        ),
                    )
                })?
            }
        };
        if target.pipeline_version != version {
            return Err(fail(
                "PipelineExecutionOutdatedException",
                format!(
                    "execution {} ran version {} of the pipeline; the current version is {version}",
                    target.pipeline_execution_id, target.pipeline_version
                ),
            ));
        }
        let loaded = LoadedPipeline {
            pipeline,
            root: "",
            template: None,
        };
        let prepared = self.prepare(&loaded, &start).await?;
        let id = uuid::Uuid::new_v4().to_string();
        let mut record = new_record(&loaded.pipeline, &id, &target.source_file);
        record.execution_type = ExecutionType::Rollback;
        record.trigger = Some(start.trigger.clone());
        record.rollback_target = Some(target.pipeline_execution_id.clone());
        record.status_summary = Some(format!(
            "rollback of stage '{stage_name}' to execution {}",
            target.pipeline_execution_id
        ));
        record.variables = target.variables.clone();
        record.pipeline_version = version;
        // The earlier stages are the target's: their artifacts feed the rolled-back stage.
        let mut done = HashSet::new();
        for (earlier, stage) in target.stages.iter().enumerate().take(s) {
            record.stages[earlier] = stage.clone();
            for a in 0..stage.actions.len() {
                done.insert((earlier, a));
            }
        }
        self.state
            .create_execution(&record, version, &Owner::current())?;
        let resume = Resume {
            from_stage: s,
            done,
            only_stage: true,
        };
        self.drive(&loaded.pipeline, prepared, record, resume, start, observer)
            .await
    }

    /// NotLatestPipelineExecutionException: a newer execution has entered the stage.
    fn check_latest_in_stage(&self, record: &ExecutionRecord, s: usize) -> Result<(), RunError> {
        for newer in self
            .state
            .list_executions(Some(&record.pipeline_name), 1000)?
        {
            if newer.start_time <= record.start_time || newer.id == record.pipeline_execution_id {
                continue;
            }
            let newer = self.state.execution(&newer.id)?;
            if newer
                .stages
                .get(s)
                .is_some_and(|stage| stage.status != StageStatus::NotStarted)
            {
                return Err(RunError::Other(anyhow::anyhow!(
                    "NotLatestPipelineExecutionException: execution {} has entered stage '{}' \
                     since; only the latest execution in a stage can be retried",
                    newer.pipeline_execution_id,
                    record.stages[s].name
                )));
            }
        }
        Ok(())
    }

    /// Run an execution whose record is stored, from `resume.from_stage`, to its end.
    async fn drive(
        &self,
        pipeline: &PipelineDeclaration,
        prepared: Prepared,
        record: ExecutionRecord,
        resume: Resume,
        start: Start,
        observer: Arc<dyn RunObserver>,
    ) -> Result<ExecutionRecord, RunError> {
        let id = record.pipeline_execution_id.clone();
        let journal = EventJournal::create(
            &self.execution_dir(&id).join("events.jsonl"),
            pipeline,
            record.pipeline_version,
            &self.options.region,
        )
        .context("creating the event journal")?;
        let observer: Arc<dyn RunObserver> = Arc::new(Tee(vec![Arc::new(journal), observer]));
        // Artifacts and variables of actions that already succeeded are there to consume.
        let mut produced = HashMap::new();
        let mut namespaces = HashMap::new();
        for &(s, a) in &resume.done {
            let action = &record.stages[s].actions[a];
            for artifact in &action.output_artifacts {
                produced.insert(artifact.name.clone(), artifact.clone());
            }
            if let Some(namespace) = &pipeline.stages[s].actions[a].namespace {
                namespaces.insert(namespace.clone(), action.output_variables.clone());
            }
        }
        let resumed = resume.from_stage > 0 || !resume.done.is_empty();
        let execution = Execution {
            runner: self,
            pipeline,
            id: id.clone(),
            components: prepared.components,
            artifacts: ArtifactStore::new(self.s3.clone(), prepared.bucket, Limits::default()),
            produced: Mutex::new(produced),
            namespaces: Mutex::new(namespaces),
            record: Mutex::new(record),
            observer: observer.clone(),
            stop: Mutex::new(None),
            abandon: tokio::sync::watch::Sender::new(false),
            resume,
            rollback: Mutex::new(None),
            start,
        };
        observer.on_event(RunEvent::ExecutionStarted {
            pipeline: pipeline.name.clone(),
            execution_id: id.clone(),
            resumed,
            trigger: execution.record.lock().unwrap().trigger.clone(),
        });
        let record = execution.run().await;
        let rollback = execution.rollback.lock().unwrap().take();
        if !self.options.keep_work {
            let _ = std::fs::remove_dir_all(self.options.state_dir.join("work").join(&id));
        }
        observer.on_event(RunEvent::ExecutionFinished {
            record: record.clone(),
        });
        // A failed stage whose conditions ask for it is rolled back by a new execution; a
        // rollback itself is never rolled back.
        if let Some(s) = rollback
            && record.status == ExecutionStatus::Failed
            && record.execution_type == ExecutionType::Standard
        {
            let stage = &pipeline.stages[s].name;
            observer.on_event(RunEvent::StageNote {
                execution_id: id.clone(),
                stage: stage.clone(),
                message: "rolling back to the last execution that succeeded in this stage".into(),
            });
            let start = Start::by(
                "AutomatedRollback",
                &format!("stage '{stage}' of execution {id} failed"),
            );
            if let Err(error) =
                Box::pin(self.roll_back(&pipeline.name, stage, None, start, observer.clone())).await
            {
                observer.on_event(RunEvent::StageNote {
                    execution_id: id,
                    stage: stage.clone(),
                    message: format!("the automatic rollback could not start: {error}"),
                });
            }
        }
        Ok(record)
    }

    /// Everything that can go wrong before an action runs: validation, a provider for every
    /// action type, the artifact bucket, compiling every component.
    async fn prepare(&self, loaded: &LoadedPipeline, start: &Start) -> Result<Prepared, RunError> {
        let pipeline = &loaded.pipeline;
        let file = self.options.source_file.clone();
        let mut problems = loaded.problems();
        problems.extend(start.problems(pipeline));
        let mut wasm = HashMap::new();
        for (s, stage) in pipeline.stages.iter().enumerate() {
            for (a, action) in stage.actions.iter().enumerate() {
                // Manual approval is the host's own, as it is CodePipeline's.
                if is_manual_approval(&action.action_type_id) {
                    continue;
                }
                let path = loaded.document_path(&format!("stages[{s}].actions[{a}].actionTypeId"));
                match self.providers.component(&action.action_type_id) {
                    Some(component) => {
                        wasm.insert((s, a), component);
                    }
                    // Validation already said this action type does not exist.
                    None if problems.iter().any(|p| p.path == path) => {}
                    None => problems.push(Problem {
                        path,
                        exception: "ActionTypeNotFoundException",
                        message: format!(
                            "no provider for {} (available: {}; grant a component with \
                             --provider {}=<file.wasm>)",
                            action.action_type_id,
                            self.providers.action_types().collect::<Vec<_>>().join(", "),
                            action.action_type_id
                        ),
                    }),
                }
            }
        }
        let variables = self.pipeline_variables(loaded, &mut problems);
        if !problems.is_empty() {
            return Err(RunError::Invalid { file, problems });
        }

        let bucket = pipeline
            .artifact_store_for(&self.options.region)
            .with_context(|| {
                format!(
                    "{file}: {}: no artifact store for region {}",
                    loaded.document_path("artifactStores"),
                    self.options.region
                )
            })?
            .location
            .clone();
        // The artifact bucket is infrastructure CodePipeline users create beside the pipeline
        // (the seed templates do); create it rather than fail on a fresh state directory.
        if self.s3.bucket_info(&bucket).is_err() {
            self.s3.create_bucket(&bucket).with_context(|| {
                format!("{file}: {}", loaded.document_path("artifactStore.location"))
            })?;
        }

        // One load per action type; the engine itself keeps compiled components by digest.
        let mut by_type: HashMap<String, LoadedComponent> = HashMap::new();
        let mut components = HashMap::new();
        for (position, component) in wasm {
            let action_type = &pipeline.stages[position.0].actions[position.1].action_type_id;
            let loaded = match by_type.get(&action_type.to_string()) {
                Some(loaded) => loaded.clone(),
                None => {
                    let loaded = self
                        .engine
                        .load_with_policy(component, &self.providers.policy(action_type))
                        .await
                        .with_context(|| format!("loading the component for {action_type}"))?;
                    by_type.insert(action_type.to_string(), loaded.clone());
                    loaded
                }
            };
            components.insert(position, loaded);
        }

        Ok(Prepared {
            components,
            bucket,
            variables,
        })
    }
}

impl Runner {
    /// The value of every declared pipeline variable: the operator's, else its default, as
    /// StartPipelineExecution resolves them. Overrides of undeclared variables, empty values
    /// and variables left without a value are problems.
    fn pipeline_variables(
        &self,
        loaded: &LoadedPipeline,
        problems: &mut Vec<Problem>,
    ) -> BTreeMap<String, String> {
        let declared = &loaded.pipeline.variables;
        let mut values = BTreeMap::new();
        for (name, value) in &self.options.variables {
            if !declared.iter().any(|v| &v.name == name) {
                problems.push(Problem {
                    path: format!("--variable {name}"),
                    exception: "ValidationException",
                    message: format!(
                        "pipeline variable '{name}' is not declared in the pipeline's variables"
                    ),
                });
            } else if value.is_empty() || value.chars().count() > 1000 {
                problems.push(Problem {
                    path: format!("--variable {name}"),
                    exception: "ValidationException",
                    message: "a variable's value is 1 to 1000 characters long".into(),
                });
            }
        }
        for (v, variable) in declared.iter().enumerate() {
            match self
                .options
                .variables
                .get(&variable.name)
                .or(variable.default_value.as_ref())
            {
                Some(value) => {
                    values.insert(variable.name.clone(), value.clone());
                }
                None => problems.push(Problem {
                    path: loaded.document_path(&format!("variables[{v}]")),
                    exception: "ValidationException",
                    message: format!(
                        "pipeline variable '{}' has no default value; pass --variable {}=<value>",
                        variable.name, variable.name
                    ),
                }),
            }
        }
        values
    }
}

fn new_record(pipeline: &PipelineDeclaration, id: &str, file: &str) -> ExecutionRecord {
    ExecutionRecord {
        pipeline_name: pipeline.name.clone(),
        pipeline_version: 0,
        pipeline_execution_id: id.to_string(),
        status: ExecutionStatus::InProgress,
        status_summary: None,
        source_file: file.to_string(),
        execution_type: ExecutionType::Standard,
        rollback_target: None,
        trigger: None,
        variables: BTreeMap::new(),
        start_time: now(),
        end_time: None,
        stages: pipeline
            .stages
            .iter()
            .map(|stage| StageRecord {
                name: stage.name.clone(),
                status: StageStatus::NotStarted,
                actions: stage
                    .actions
                    .iter()
                    .map(|action| {
                        ActionRecord::not_started(
                            &action.name,
                            action.action_type_id.to_string(),
                            action.run_order(),
                        )
                    })
                    .collect(),
            })
            .collect(),
    }
}

use sandpipe_state::now;

impl Execution<'_> {
    /// Run the stages while watching the state store for a stop request.
    async fn run(&self) -> ExecutionRecord {
        let done = std::sync::atomic::AtomicBool::new(false);
        let watch_for_stop = async {
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                tokio::time::sleep(STOP_POLL).await;
                if let Ok(Some(request)) = self.runner.state.stop_request(&self.id) {
                    if request.abandon {
                        let _ = self.abandon.send(true);
                    }
                    *self.stop.lock().unwrap() = Some(request);
                }
            }
        };
        let run = async {
            let record = self.run_stages().await;
            done.store(true, std::sync::atomic::Ordering::Relaxed);
            record
        };
        tokio::join!(run, watch_for_stop).0
    }

    /// A stage, from its entry condition to its success condition, with onFailure RETRY's one
    /// automatic retry.
    async fn run_stage(&self, stage_plan: &sandpipe_model::StagePlan) -> StageStatus {
        let s = stage_plan.stage;
        let stage = &self.pipeline.stages[s];
        if let Some(before) = &stage.before_entry
            && let Err(result) = self.check_conditions(s, "beforeEntry", &before.conditions)
        {
            return match result {
                ConditionResult::Skip => StageStatus::Skipped,
                _ => StageStatus::Failed,
            };
        }
        let done: HashSet<(usize, usize)> = self
            .resume
            .done
            .iter()
            .copied()
            .filter(|&(ds, _)| ds == s)
            .collect();
        let mut status = self.run_groups(stage_plan, &done).await;
        let retry = stage
            .on_failure
            .as_ref()
            .filter(|f| f.result == Some(ConditionResult::Retry));
        if status == StageStatus::Failed
            && let Some(failure) = retry
        {
            let all = failure
                .retry_configuration
                .as_ref()
                .and_then(|r| r.retry_mode)
                == Some(RetryMode::AllActions);
            self.note(
                &stage.name,
                format!(
                    "retrying the stage automatically (onFailure RETRY, {})",
                    if all { "ALL_ACTIONS" } else { "FAILED_ACTIONS" }
                ),
            );
            let succeeded: HashSet<(usize, usize)> = if all {
                HashSet::new()
            } else {
                let record = self.record.lock().unwrap();
                record.stages[s]
                    .actions
                    .iter()
                    .enumerate()
                    .filter(|(_, a)| a.status == ActionStatus::Succeeded)
                    .map(|(a, _)| (s, a))
                    .collect()
            };
            status = self.run_groups(stage_plan, &succeeded).await;
        }
        if status == StageStatus::Failed
            && stage.on_failure.as_ref().and_then(|f| f.result) == Some(ConditionResult::Rollback)
        {
            *self.rollback.lock().unwrap() = Some(s);
        }
        if status == StageStatus::Succeeded
            && let Some(success) = &stage.on_success
            && self
                .check_conditions(s, "onSuccess", &success.conditions)
                .is_err()
        {
            return StageStatus::Failed;
        }
        status
    }

    /// The runOrder groups of a stage in order, each concurrently, skipping `skip`.
    async fn run_groups(
        &self,
        stage_plan: &sandpipe_model::StagePlan,
        skip: &HashSet<(usize, usize)>,
    ) -> StageStatus {
        let s = stage_plan.stage;
        for group in &stage_plan.groups {
            // Stop-and-wait starts nothing new; what runs finishes (or is abandoned).
            if self.stop_requested() {
                return StageStatus::Stopped;
            }
            let runs = group
                .actions
                .iter()
                .filter(|&&a| !skip.contains(&(s, a)))
                .map(|&a| self.run_action(s, a));
            let results = futures::future::join_all(runs).await;
            if self.stop_requested() {
                return StageStatus::Stopped;
            }
            if results.iter().any(|ok| !ok) {
                return StageStatus::Failed;
            }
        }
        StageStatus::Succeeded
    }

    /// Evaluate a stage's conditions (each of its rules must pass); the failing condition's
    /// result when one fails.
    fn check_conditions(
        &self,
        s: usize,
        kind: &str,
        conditions: &[sandpipe_model::Condition],
    ) -> Result<(), ConditionResult> {
        let stage = &self.pipeline.stages[s].name;
        for condition in conditions {
            let result = condition.result.unwrap_or(ConditionResult::Fail);
            for rule in condition.rules.as_deref().unwrap_or_default() {
                match self.evaluate_rule(rule) {
                    Ok(what) => {
                        self.note(stage, format!("{kind} rule '{}' passed: {what}", rule.name))
                    }
                    Err(why) => {
                        self.note(
                            stage,
                            format!("{kind} rule '{}' failed ({result:?}): {why}", rule.name),
                        );
                        if result == ConditionResult::Rollback {
                            *self.rollback.lock().unwrap() = Some(s);
                        }
                        return Err(result);
                    }
                }
            }
        }
        Ok(())
    }

    /// VariableCheck: compare a variable with a value. Other rule types need AWS services
    /// (CloudWatch alarms, Lambda, …) and fail with that said.
    fn evaluate_rule(&self, rule: &sandpipe_model::RuleDeclaration) -> Result<String, String> {
        if rule.rule_type_id.provider != "VariableCheck" {
            return Err(format!(
                "rule provider {} cannot be evaluated locally",
                rule.rule_type_id.provider
            ));
        }
        let resolved = self
            .resolve_map(&rule.configuration)
            .map_err(|failure| failure.message)?;
        let (variable, value, operator) = (
            resolved.get("Variable").cloned().unwrap_or_default(),
            resolved.get("Value").cloned().unwrap_or_default(),
            resolved.get("Operator").cloned().unwrap_or_default(),
        );
        let holds = match operator.as_str() {
            "EQ" => variable == value,
            "NE" => variable != value,
            "CONTAINS" => variable.contains(&value),
            "MATCHES" => regex::Regex::new(&value)
                .map_err(|e| format!("'{value}' is not a regular expression: {e}"))?
                .is_match(&variable),
            other => return Err(format!("unknown operator '{other}'")),
        };
        let description = format!("'{variable}' {operator} '{value}'");
        if holds {
            Ok(description)
        } else {
            Err(format!("{description} does not hold"))
        }
    }

    fn note(&self, stage: &str, message: String) {
        self.observer.on_event(RunEvent::StageNote {
            execution_id: self.id.clone(),
            stage: stage.to_string(),
            message,
        });
    }

    /// Wait until the execution may enter `stage` (its lock, its place in the queue, its
    /// inbound transition), saying once why it waits.
    async fn enter_stage(&self, stage: &str) -> Result<(), Blocked> {
        let sharing = match self.pipeline.execution_mode.unwrap_or_default() {
            sandpipe_model::ExecutionMode::Superseded => StageSharing::Superseded,
            sandpipe_model::ExecutionMode::Queued => StageSharing::Queued,
            sandpipe_model::ExecutionMode::Parallel => StageSharing::Parallel,
        };
        let mut said = None;
        loop {
            let entry =
                self.runner
                    .state
                    .enter_stage(&self.pipeline.name, stage, &self.id, sharing);
            let reason = match entry {
                Ok(StageEntry::Entered) => return Ok(()),
                Ok(StageEntry::Superseded { by }) => return Err(Blocked::Superseded(by)),
                Ok(StageEntry::Locked { by }) => format!("execution {by} is in the stage"),
                Ok(StageEntry::Queued { behind }) => format!("queued behind execution {behind}"),
                Ok(StageEntry::TransitionDisabled { reason }) => {
                    format!("the inbound transition is disabled: {reason}")
                }
                Err(error) => format!("cannot read the stage's state: {error}"),
            };
            if said.as_ref() != Some(&reason) {
                self.note(stage, format!("waiting to enter: {reason}"));
                said = Some(reason);
            }
            if self.stop_requested() {
                return Err(Blocked::Stopped);
            }
            tokio::time::sleep(STAGE_POLL).await;
        }
    }

    fn stop_requested(&self) -> bool {
        self.stop.lock().unwrap().is_some()
    }

    async fn run_stages(&self) -> ExecutionRecord {
        let mut outcome = ExecutionStatus::Succeeded;
        let mut superseded_by = None;
        for stage_plan in plan(self.pipeline)
            .stages
            .into_iter()
            .skip(self.resume.from_stage)
            .take(if self.resume.only_stage {
                1
            } else {
                usize::MAX
            })
        {
            if self.stop_requested() {
                outcome = ExecutionStatus::Stopped;
                break;
            }
            let s = stage_plan.stage;
            let stage_name = self.pipeline.stages[s].name.clone();
            match self.enter_stage(&stage_name).await {
                Ok(()) => {}
                Err(Blocked::Stopped) => {
                    outcome = ExecutionStatus::Stopped;
                    break;
                }
                Err(Blocked::Superseded(by)) => {
                    outcome = ExecutionStatus::Superseded;
                    superseded_by = Some(by);
                    break;
                }
            }
            self.update_stage(s, |stage| stage.status = StageStatus::InProgress);
            self.observer.on_event(RunEvent::StageStarted {
                execution_id: self.id.clone(),
                stage: stage_name.clone(),
            });
            let status = self.run_stage(&stage_plan).await;
            self.update_stage(s, |stage| stage.status = status);
            self.persisted(self.runner.state.leave_stage(
                &self.pipeline.name,
                &stage_name,
                &self.id,
            ));
            self.observer.on_event(RunEvent::StageFinished {
                execution_id: self.id.clone(),
                stage: stage_name,
                status,
            });
            match status {
                StageStatus::Succeeded | StageStatus::Skipped => {}
                StageStatus::Stopped => {
                    outcome = ExecutionStatus::Stopped;
                    break;
                }
                _ => {
                    outcome = ExecutionStatus::Failed;
                    break;
                }
            }
        }
        let stop_reason = self.stop.lock().unwrap().as_ref().map(|request| {
            request.reason.clone().unwrap_or_else(|| {
                let how = if request.abandon {
                    "stop and abandon"
                } else {
                    "stop and wait"
                };
                format!("Stopped by a {how} request")
            })
        });
        self.update_execution(|record| {
            record.status = outcome;
            match outcome {
                ExecutionStatus::Stopped => record.status_summary = stop_reason,
                ExecutionStatus::Superseded => {
                    record.status_summary = superseded_by.map(|by| {
                        format!("superseded by execution {by}, which is waiting for the next stage")
                    });
                }
                _ => {}
            }
            record.end_time = Some(now());
        });
        self.persisted(self.runner.state.release_stages(&self.id));
        self.record.lock().unwrap().clone()
    }

    /// Change the execution's own status and persist it.
    fn update_execution(&self, change: impl FnOnce(&mut ExecutionRecord)) {
        let mut record = self.record.lock().unwrap();
        change(&mut record);
        self.persisted(self.runner.state.save_execution_status(&record));
    }

    fn update_stage(&self, s: usize, change: impl FnOnce(&mut StageRecord)) {
        let mut record = self.record.lock().unwrap();
        change(&mut record.stages[s]);
        self.persisted(self.runner.state.save_stage(&self.id, s, &record.stages[s]));
    }

    /// Change one action's record, persist it, and return it.
    fn update_action(
        &self,
        s: usize,
        a: usize,
        change: impl FnOnce(&mut ActionRecord),
    ) -> ActionRecord {
        let mut record = self.record.lock().unwrap();
        let action = record.action_mut(s, a);
        change(action);
        let action = action.clone();
        self.persisted(self.runner.state.save_action(&self.id, s, a, &action));
        action
    }

    /// A change that cannot be stored is reported on stderr; the run itself goes on.
    fn persisted(&self, result: Result<(), sandpipe_state::StateError>) {
        if let Err(e) = result {
            eprintln!("sandpipe: cannot save execution state: {e}");
        }
    }

    /// Run one action to its end; true when it succeeded.
    async fn run_action(&self, s: usize, a: usize) -> bool {
        let stage = &self.pipeline.stages[s];
        let action = &stage.actions[a];
        let log_name = format!("logs/{s:02}-{a:02}.log");
        let log_path = self.runner.execution_dir(&self.id).join(&log_name);
        self.update_action(s, a, |entry| {
            entry.status = ActionStatus::InProgress;
            entry.start_time = Some(now());
            entry.log_file = Some(log_name.clone());
        });
        self.observer.on_event(RunEvent::ActionStarted {
            execution_id: self.id.clone(),
            stage: stage.name.clone(),
            action: action.name.clone(),
        });

        let work = self
            .runner
            .options
            .state_dir
            .join("work")
            .join(&self.id)
            .join(format!("{s:02}-{a:02}"));
        let result = self.execute(s, a, &work, &log_path).await;
        if !self.runner.options.keep_work {
            let _ = std::fs::remove_dir_all(&work);
        }

        let finished = self.finish(s, a, result);
        self.observer.on_event(RunEvent::ActionFinished {
            execution_id: self.id.clone(),
            stage: stage.name.clone(),
            record: Box::new(finished.clone()),
        });
        finished.status == ActionStatus::Succeeded
    }

    fn finish(&self, s: usize, a: usize, result: Result<Completed, ActionFailure>) -> ActionRecord {
        self.update_action(s, a, |entry| {
            entry.end_time = Some(now());
            match result {
                Ok(completed) => {
                    entry.status = ActionStatus::Succeeded;
                    entry.summary = completed.outcome.summary;
                    entry.external_execution_id = completed.outcome.external_execution_id;
                    entry.output_variables =
                        completed.outcome.output_variables.into_iter().collect();
                    entry.output_artifacts = completed.outputs;
                    entry.current_revision =
                        completed
                            .outcome
                            .current_revision
                            .map(|revision| RevisionRecord {
                                revision_id: revision.revision,
                                change_identifier: revision.change_identifier,
                                created: revision.created,
                                revision_summary: revision.revision_summary,
                            });
                }
                Err(failure) => {
                    entry.status = if failure.message == sandpipe_runtime::invoke::ABANDONED {
                        ActionStatus::Abandoned
                    } else {
                        ActionStatus::Failed
                    };
                    entry.external_execution_id = failure.external_execution_id;
                    entry.error = Some(ErrorDetails {
                        code: failure_code(failure.kind).to_string(),
                        message: failure.message,
                    });
                }
            }
        })
    }

    async fn execute(
        &self,
        s: usize,
        a: usize,
        work: &std::path::Path,
        log_path: &std::path::Path,
    ) -> Result<Completed, ActionFailure> {
        let stage = &self.pipeline.stages[s];
        let action = &stage.actions[a];
        let mut configuration = self.resolve_configuration(action)?;
        // Secret values (a GitHub OAuthToken) reach neither the record nor the component: the
        // host reads the repository itself, so nothing in the sandbox needs them.
        let mut secrets = Vec::new();
        for key in sandpipe_model::validate::secret_properties(&action.action_type_id) {
            if let Some(value) = configuration.get_mut(*key) {
                secrets.push(std::mem::replace(
                    value,
                    sandpipe_model::validate::MASKED_SECRET.into(),
                ));
            }
        }
        self.update_action(s, a, |entry| {
            entry.resolved_configuration = configuration.clone()
        });

        if is_manual_approval(&action.action_type_id) {
            return self.await_approval(s, a, &configuration, log_path).await;
        }

        let mut sandbox = Sandbox::create(work).map_err(system_failure("creating the sandbox"))?;
        let mut inputs = Vec::new();
        let mut input_records = Vec::new();
        for input in &action.input_artifacts {
            let stored = self
                .produced
                .lock()
                .unwrap()
                .get(&input.name)
                .cloned()
                .ok_or_else(|| {
                    system_failure("staging inputs")(format!(
                        "input artifact '{}' was never produced",
                        input.name
                    ))
                })?;
            let (tree, archive) = sandbox
                .add_input(&input.name)
                .map_err(system_failure("staging inputs"))?;
            self.artifacts
                .stage_input(&stored, &tree, &archive)
                .map_err(|e| ActionFailure {
                    kind: FailureKind::JobFailed,
                    message: format!("input artifact '{}': {e:#}", input.name),
                    external_execution_id: None,
                })?;
            let (path, archive) = Sandbox::input_paths(&input.name);
            inputs.push(bindings::InputArtifact {
                name: input.name.clone(),
                path,
                archive,
                revision: stored.revision.clone(),
            });
            input_records.push(stored);
        }
        self.update_action(s, a, |entry| entry.input_artifacts = input_records);
        let mut outputs = Vec::new();
        for output in &action.output_artifacts {
            sandbox
                .add_output(&output.name)
                .map_err(system_failure("creating outputs"))?;
            outputs.push(bindings::OutputArtifact {
                name: output.name.clone(),
                path: Sandbox::output_path(&output.name),
            });
        }

        let request = bindings::Request {
            pipeline: self.pipeline.name.clone(),
            stage: stage.name.clone(),
            action: action.name.clone(),
            execution_id: self.id.clone(),
            action_type: wit_action_type(&action.action_type_id),
            configuration: configuration.clone().into_iter().collect(),
            inputs,
            outputs,
            continuation_token: None,
        };
        let log = ActionLog::create(log_path, self.observer.clone(), &stage.name, &action.name)
            .map_err(system_failure("creating the action log"))?;
        let log = Arc::new(log);
        let working_tree = self.start.working_tree(s, &action.name);
        let mut grants = self.grants(s, action, &configuration, &mut sandbox)?;
        grants.masked = secrets;
        let sandbox = Arc::new(sandbox);
        let limits = ExecutionLimits {
            timeout: self.timeout_for(action),
            ..self.runner.options.limits
        };
        let result = match working_tree {
            // A provider that cannot read a working tree itself (an S3 source): the host
            // puts the files in place of its output.
            Some(dir) if grants.git.is_none() => {
                self.copy_working_tree(action, dir, &sandbox, &log)
            }
            _ => {
                self.runner
                    .engine
                    .execute(
                        &self.components[&(s, a)],
                        Invocation {
                            request,
                            sandbox: sandbox.clone(),
                            buckets: granted_buckets(
                                configuration.iter().map(|(k, v)| (k.as_str(), v.as_str())),
                            ),
                            object_store: self.runner.s3.clone(),
                            limits,
                            events: log.clone(),
                            cancel: Some(self.abandon.subscribe()),
                            grants,
                        },
                    )
                    .await
            }
        };
        let reports = std::mem::take(&mut *log.reports.lock().unwrap());
        if !reports.is_empty() {
            self.update_action(s, a, |entry| entry.reports = reports);
        }
        let outcome = result?;

        let mut stored_outputs = Vec::new();
        for output in &action.output_artifacts {
            let file = outcome
                .artifact_files
                .iter()
                .find(|f| f.artifact == output.name)
                .map(|f| f.file.as_str());
            let mut stored = self
                .artifacts
                .store_output(
                    &self.pipeline.name,
                    &output.name,
                    &sandbox.output_dir(&output.name),
                    file,
                    sandbox.root(),
                )
                .map_err(|e| ActionFailure {
                    kind: FailureKind::JobFailed,
                    message: format!("output artifact '{}': {e:#}", output.name),
                    external_execution_id: None,
                })?;
            stored.revision = outcome
                .current_revision
                .as_ref()
                .map(|r| r.revision.clone());
            stored_outputs.push(stored);
        }
        if let Some(unknown) = outcome
            .artifact_files
            .iter()
            .find(|f| !action.output_artifacts.iter().any(|o| o.name == f.artifact))
        {
            return Err(ActionFailure {
                kind: FailureKind::JobFailed,
                message: format!(
                    "the action named an undeclared output artifact '{}'",
                    unknown.artifact
                ),
                external_execution_id: None,
            });
        }
        {
            let mut produced = self.produced.lock().unwrap();
            for stored in &stored_outputs {
                produced.insert(stored.name.clone(), stored.clone());
            }
        }
        if let Some(namespace) = &action.namespace {
            self.namespaces.lock().unwrap().insert(
                namespace.clone(),
                outcome.output_variables.iter().cloned().collect(),
            );
        }
        Ok(Completed {
            outcome,
            outputs: stored_outputs,
        })
    }

    /// What the provider's policy grants this execution beyond the sandbox. A provider granted
    /// `exec` also gets the project named by `ProjectName` and a persistent `/cache` directory
    /// for that project (build numbers, `cache.paths`).
    fn grants(
        &self,
        s: usize,
        action: &ActionDeclaration,
        configuration: &BTreeMap<String, String>,
        sandbox: &mut Sandbox,
    ) -> Result<Grants, ActionFailure> {
        let policy = self.runner.providers.policy(&action.action_type_id);
        let builds = &self.runner.options.builds;
        let mut grants = Grants::default();
        if policy.allows(Capability::Exec) {
            let project = configuration.get("ProjectName").cloned();
            let key = project
                .clone()
                .unwrap_or_else(|| format!("{}.{}", self.pipeline.name, action.name));
            let key: String = key
                .chars()
                .map(|c| {
                    if c.is_ascii_alphanumeric() || c == '-' {
                        c
                    } else {
                        '_'
                    }
                })
                .collect();
            let root = builds
                .cache_root
                .clone()
                .unwrap_or_else(|| self.runner.options.state_dir.join("cache"));
            let directory = root.join(format!("{}-{key}", action.action_type_id.provider));
            sandbox
                .add_cache(&directory)
                .map_err(system_failure("creating the project cache directory"))?;
            let role = action
                .role_arn
                .as_deref()
                .or(self.pipeline.role_arn.as_deref());
            grants.exec = Some(Arc::new(builds.exec_grant(
                &self.runner.options.region,
                &crate::builds::account_id(role),
            )));
            grants.project = project.map(|name| {
                let defined = builds.project(&name);
                (name, defined)
            });
        }
        if policy.allows(Capability::Secrets) {
            grants.secrets = Some(builds.secrets.clone().unwrap_or_default());
        }
        if policy.allows(Capability::Git) {
            grants.git = Some(Arc::new(crate::sources::git_grant(
                &self.runner.options.sources,
                self.start.working_tree(s, &action.name),
                action,
                configuration,
                &self.runner.options.state_dir,
            )));
        }
        grants.started_with = self.start.source_revision(s, &action.name).cloned();
        Ok(grants)
    }

    /// `--source Action=dir` for a provider without the git capability: the directory's
    /// files become the action's output, the content digest its revision.
    fn copy_working_tree(
        &self,
        action: &ActionDeclaration,
        dir: &std::path::Path,
        sandbox: &Sandbox,
        log: &ActionLog,
    ) -> Result<bindings::Outcome, ActionFailure> {
        let output = action
            .output_artifacts
            .first()
            .ok_or_else(|| ActionFailure {
                kind: FailureKind::ConfigurationError,
                message: "the action has no output artifact for the working tree".into(),
                external_execution_id: None,
            })?;
        let snapshot = crate::sources::copy_working_tree(
            dir,
            &sandbox.output_dir(&output.name),
            &self.runner.options.state_dir,
        )
        .map_err(|e| ActionFailure {
            kind: FailureKind::JobFailed,
            message: format!("copying the working tree {}: {e:#}", dir.display()),
            external_execution_id: None,
        })?;
        let summary = format!(
            "working tree {} ({} files, {} bytes) in place of the source",
            dir.display(),
            snapshot.files,
            snapshot.bytes
        );
        log.emit(ActionEvent::Log {
            level: sandpipe_runtime::LogLevel::Info,
            message: format!("{summary}; digest {}", snapshot.digest),
        });
        Ok(bindings::Outcome {
            output_variables: Vec::new(),
            summary: Some(summary.clone()),
            external_execution_id: None,
            percent_complete: None,
            continuation_token: None,
            current_revision: Some(bindings::CurrentRevision {
                revision: snapshot.digest.clone(),
                change_identifier: snapshot.digest,
                created: None,
                revision_summary: Some(summary),
            }),
            artifact_files: Vec::new(),
        })
    }

    /// `#{codepipeline.PipelineExecutionId}`, `#{variables.name}` and the namespaces of
    /// actions that already ran, substituted into the configuration.
    fn resolve_configuration(
        &self,
        action: &ActionDeclaration,
    ) -> Result<BTreeMap<String, String>, ActionFailure> {
        self.resolve_map(&action.configuration)
    }

    /// Resolve every value of a configuration map.
    fn resolve_map(
        &self,
        configuration: &BTreeMap<String, String>,
    ) -> Result<BTreeMap<String, String>, ActionFailure> {
        let namespaces = self.namespaces.lock().unwrap();
        let variables = self.record.lock().unwrap().variables.clone();
        let lookup = |reference: &variables::VariableReference<'_>| match reference.namespace {
            CODEPIPELINE_NAMESPACE if reference.name == "PipelineExecutionId" => {
                Some(self.id.clone())
            }
            PIPELINE_VARIABLES_NAMESPACE => variables.get(reference.name).cloned(),
            namespace => namespaces.get(namespace)?.get(reference.name).cloned(),
        };
        configuration
            .iter()
            .map(|(key, value)| {
                variables::resolve(value, lookup)
                    .map(|resolved| (key.clone(), resolved))
                    .map_err(|reference| ActionFailure {
                        kind: FailureKind::ConfigurationError,
                        message: format!(
                            "configuration property '{key}' refers to {reference}, which has no value"
                        ),
                        external_execution_id: None,
                    })
            })
            .collect()
    }

    /// `Approval/AWS/Manual/1`: open an approval, say how to answer it, and wait for the
    /// decision (from any process, through the state store) or the timeout.
    async fn await_approval(
        &self,
        s: usize,
        a: usize,
        configuration: &BTreeMap<String, String>,
        log_path: &std::path::Path,
    ) -> Result<Completed, ActionFailure> {
        let stage = &self.pipeline.stages[s];
        let action = &stage.actions[a];
        let timeout = self.timeout_for(action);
        let deadline = std::time::Instant::now() + timeout;
        let expires = jiff::SignedDuration::try_from(timeout)
            .ok()
            .and_then(|d| jiff::Timestamp::now().checked_add(d).ok())
            .map(|t| format!("{t:.3}"))
            .unwrap_or_default();
        let state = &self.runner.state;
        let token = state
            .request_approval(
                &self.id,
                &self.pipeline.name,
                &stage.name,
                &action.name,
                &expires,
            )
            .map_err(system_failure("opening the approval"))?;
        // In PARALLEL mode CodePipeline hands the token out as the external execution id.
        self.update_action(s, a, |entry| {
            entry.external_execution_id = Some(token.clone())
        });
        let log = ActionLog::create(log_path, self.observer.clone(), &stage.name, &action.name)
            .map_err(system_failure("creating the action log"))?;
        let say = |message: String| {
            log.emit(ActionEvent::Log {
                level: sandpipe_runtime::LogLevel::Info,
                message,
            })
        };
        say(format!(
            "waiting for approval until {expires} (token {token})"
        ));
        if let Some(comments) = configuration.get("CustomData") {
            say(format!("comments: {comments}"));
        }
        if let Some(link) = configuration.get("ExternalEntityLink") {
            say(format!("review: {link}"));
        }
        say(format!(
            "approve or reject with: sandpipe approve|reject {} {} {} --summary '…'",
            self.pipeline.name, stage.name, action.name
        ));
        loop {
            let (status, summary) = state
                .approval(&token)
                .map_err(system_failure("reading the approval"))?;
            let summary = summary.unwrap_or_default();
            match status {
                ApprovalStatus::Approved => {
                    say(format!("approved: {summary}"));
                    return Ok(Completed {
                        outcome: bindings::Outcome {
                            output_variables: Vec::new(),
                            summary: Some(format!("Approved: {summary}")),
                            external_execution_id: Some(token),
                            percent_complete: None,
                            continuation_token: None,
                            current_revision: None,
                            artifact_files: Vec::new(),
                        },
                        outputs: Vec::new(),
                    });
                }
                ApprovalStatus::Rejected => {
                    return Err(ActionFailure {
                        kind: FailureKind::JobFailed,
                        message: format!("Rejected: {summary}"),
                        external_execution_id: Some(token),
                    });
                }
                ApprovalStatus::Expired => {
                    return Err(ActionFailure {
                        kind: FailureKind::JobFailed,
                        message: "the approval expired".into(),
                        external_execution_id: Some(token),
                    });
                }
                ApprovalStatus::Pending if std::time::Instant::now() >= deadline => {
                    let _ = state.expire_approval(&token);
                    return Err(ActionFailure {
                        kind: FailureKind::JobFailed,
                        message: format!(
                            "the approval was not given within its timeout of {}",
                            sandpipe_runtime::invoke::format_duration(timeout)
                        ),
                        external_execution_id: Some(token),
                    });
                }
                ApprovalStatus::Pending if *self.abandon.borrow() => {
                    let _ = state.expire_approval(&token);
                    return Err(ActionFailure {
                        kind: FailureKind::JobFailed,
                        message: sandpipe_runtime::invoke::ABANDONED.into(),
                        external_execution_id: Some(token),
                    });
                }
                ApprovalStatus::Pending => tokio::time::sleep(APPROVAL_POLL).await,
            }
        }
    }

    fn timeout_for(&self, action: &ActionDeclaration) -> Duration {
        if let Some(timeout) = self.runner.options.action_timeout {
            return timeout;
        }
        if let Some(minutes) = action.timeout_in_minutes {
            return Duration::from_secs(u64::from(minutes) * 60);
        }
        // CodePipeline's per-provider defaults.
        let minutes = match (
            &action.action_type_id.category,
            action.action_type_id.provider.as_str(),
        ) {
            (Category::Deploy, "S3") => 90,
            (Category::Build | Category::Test, "CodeBuild") => 8 * 60,
            (Category::Approval, _) => 7 * 24 * 60,
            _ => 60,
        };
        Duration::from_secs(minutes * 60)
    }
}

use sandpipe_model::{ConditionResult, RetryMode};

/// Why an execution did not enter a stage.
enum Blocked {
    Stopped,
    Superseded(String),
}

/// How often an execution waiting for a stage asks again.
const STAGE_POLL: Duration = Duration::from_millis(100);

/// How often a running execution looks for a stop request.
const STOP_POLL: Duration = Duration::from_millis(100);

/// How often a waiting approval looks for a decision.
const APPROVAL_POLL: Duration = Duration::from_millis(200);

fn is_manual_approval(id: &ActionTypeId) -> bool {
    id.category == Category::Approval
        && id.owner == sandpipe_model::Owner::AWS
        && id.provider == "Manual"
        && id.version == "1"
}

struct Completed {
    outcome: bindings::Outcome,
    outputs: Vec<ArtifactRecord>,
}

fn system_failure<E: std::fmt::Display>(what: &'static str) -> impl Fn(E) -> ActionFailure {
    move |e| ActionFailure {
        kind: FailureKind::SystemUnavailable,
        message: format!("{what}: {e}"),
        external_execution_id: None,
    }
}

pub fn failure_code(kind: FailureKind) -> &'static str {
    match kind {
        FailureKind::JobFailed => "JobFailed",
        FailureKind::ConfigurationError => "ConfigurationError",
        FailureKind::PermissionError => "PermissionError",
        FailureKind::RevisionOutOfSync => "RevisionOutOfSync",
        FailureKind::RevisionUnavailable => "RevisionUnavailable",
        FailureKind::SystemUnavailable => "SystemUnavailable",
    }
}

fn wit_action_type(id: &ActionTypeId) -> ActionType {
    use bindings::Category as Wit;
    let category = match id.category {
        Category::Source => Wit::Source,
        Category::Build => Wit::Build,
        Category::Deploy => Wit::Deploy,
        Category::Test => Wit::Test,
        Category::Invoke => Wit::Invoke,
        Category::Approval => Wit::Approval,
        Category::Compute => Wit::Compute,
    };
    ActionType {
        category,
        owner: format!("{:?}", id.owner),
        provider: id.provider.clone(),
        version: id.version.clone(),
    }
}

/// An action's log file, and the progress view, fed by its events.
struct ActionLog {
    file: Mutex<File>,
    observer: Arc<dyn RunObserver>,
    stage: String,
    action: String,
    /// Test reports published so far.
    reports: Mutex<Vec<sandpipe_state::TestReportSummary>>,
}

impl ActionLog {
    fn create(
        path: &std::path::Path,
        observer: Arc<dyn RunObserver>,
        stage: &str,
        action: &str,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(path.parent().expect("logs live in a directory"))?;
        Ok(ActionLog {
            file: Mutex::new(File::create(path)?),
            observer,
            stage: stage.to_string(),
            action: action.to_string(),
            reports: Mutex::new(Vec::new()),
        })
    }
}

impl EventSink for ActionLog {
    fn emit(&self, event: ActionEvent) {
        let line = match &event {
            ActionEvent::Log { level, message } => format!("[{level:?}] {message}"),
            ActionEvent::Output { stream, line } => format!("[{stream:?}] {line}"),
            ActionEvent::Progress { percent, summary } => match percent {
                Some(p) => format!("[Progress {p}%] {summary}"),
                None => format!("[Progress] {summary}"),
            },
            ActionEvent::Report(report) => {
                let summary = crate::builds::summarize(report);
                let line = format!("[Report] {}", summary.describe());
                self.reports.lock().unwrap().push(summary);
                line
            }
        };
        // A log line that cannot be written is not worth failing the action for.
        let _ = writeln!(self.file.lock().unwrap(), "{} {line}", now());
        self.observer.on_event(RunEvent::ActionOutput {
            stage: self.stage.clone(),
            action: self.action.clone(),
            event,
        });
    }
}
