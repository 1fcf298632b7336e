//! Turning a request into a launch: the declaration it runs, its record (created, or taken
//! over for a retry), where it resumes, and everything checked before anything runs. A
//! refusal is the API's exception, with why.

use std::collections::BTreeMap;

use anyhow::Context;
use sandpipe_model::execution::ResumePlan;
use sandpipe_model::{ExecutionMode, LoadedPipeline, PipelineDeclaration};
use sandpipe_state::{
    ActionRecord, ActionStatus, ExecutionRecord, ExecutionStatus, ExecutionType, ProcessOwner,
    StageRecord, StageStatus, now,
};

use crate::prepare::Prepared;
use crate::reproduce::{DeterminismBase, own_determinism};
use crate::request::{ExecutionRequest, RequestKind, Start};
use crate::runner::{PipelineRunner, RunError};
use crate::settings::PipelineFiles;

/// An execution ready to run: stored, checked, its components loaded.
pub(crate) struct Launch {
    pub(crate) pipeline: PipelineDeclaration,
    pub(crate) record: ExecutionRecord,
    pub(crate) resume: ResumePlan,
    pub(crate) start: Start,
    pub(crate) prepared: Prepared,
    pub(crate) files: PipelineFiles,
    pub(crate) region: String,
    /// The clocks and seed of deterministic actions, when the execution is deterministic.
    pub(crate) determinism: Option<DeterminismBase>,
}

impl PipelineRunner {
    pub(crate) async fn launch(&self, request: ExecutionRequest) -> Result<Launch, RunError> {
        let ExecutionRequest {
            kind,
            files,
            region,
            declared,
            deterministic,
        } = request;
        let context = LaunchContext {
            files,
            region,
            declared,
            deterministic,
        };
        match kind {
            RequestKind::Start {
                pipeline,
                source_file,
                variables,
                start,
            } => {
                self.launch_start(*pipeline, &source_file, &variables, start, context)
                    .await
            }
            RequestKind::Retry {
                execution_id,
                stage,
                all_actions,
            } => {
                self.launch_retry(&execution_id, &stage, all_actions, context)
                    .await
            }
            RequestKind::Rollback {
                pipeline,
                stage,
                target,
                start,
            } => {
                self.launch_rollback(&pipeline, &stage, target.as_deref(), start, context)
                    .await
            }
            RequestKind::Replay {
                execution_id,
                from_stage,
                allow_changed_components,
                sources,
            } => {
                self.launch_replay(
                    &execution_id,
                    from_stage.as_deref(),
                    allow_changed_components,
                    sources,
                    context,
                )
                .await
            }
        }
    }

    async fn launch_start(
        &self,
        loaded: LoadedPipeline,
        file: &str,
        variables: &BTreeMap<String, String>,
        start: Start,
        context: LaunchContext,
    ) -> Result<Launch, RunError> {
        let prepared = self
            .prepare(&loaded, file, variables, &start, &context)
            .await?;
        let pipeline = loaded.pipeline;
        // Executions a killed process left behind end now, with a reason.
        crate::recovery::recover(&self.state)?;
        // Stored as get-pipeline shows it: secret configuration values never reach the disk.
        let declaration =
            serde_json::to_string(&self.mask_secrets(&pipeline)).expect("declarations serialize");
        let version =
            self.state
                .executions()
                .register_pipeline(&pipeline.name, &declaration, file)?;
        let mut record = new_record(&pipeline, file);
        record.variables = prepared.variables.clone();
        record.pipeline_version = version;
        record.trigger = Some(start.trigger.clone());
        if context.deterministic {
            record.determinism = Some(own_determinism(&record));
        }
        let resume = if start.stages.is_all() {
            ResumePlan::fresh()
        } else {
            self.partial_run(&pipeline, &start, &mut record)?
        };
        self.state
            .executions()
            .create(&record, &ProcessOwner::current())?;
        context.launch(pipeline, record, resume, start, prepared)
    }

    /// A partial run: the stages before its first take the results (artifacts, variables)
    /// of the latest execution that succeeded in them, with the same stages and actions.
    fn partial_run(
        &self,
        pipeline: &PipelineDeclaration,
        start: &Start,
        record: &mut ExecutionRecord,
    ) -> Result<ResumePlan, RunError> {
        let selected = start
            .stages
            .resolve(pipeline)
            .map_err(|why| RunError::refused("StageNotFoundException", why))?;
        let counts: Vec<usize> = pipeline.stages.iter().map(|s| s.actions.len()).collect();
        let first = selected.first().copied().unwrap_or(0);
        if first > 0 {
            let before = &pipeline.stages[first - 1].name;
            let earlier = self
                .state
                .executions()
                .latest_succeeded_in_stage(&pipeline.name, first - 1)?
                .map(|id| self.state.executions().get(&id))
                .transpose()?
                .filter(|earlier| same_stages(&earlier.stages[..], &record.stages[..first]));
            let Some(earlier) = earlier else {
                return Err(RunError::refused(
                    "StageNotFoundException",
                    format!(
                        "stage '{}' needs what the stages before it made, and no execution of \
                         '{}' with these stages has succeeded in '{before}': run them first \
                         (`sandpipe run --until {before} …`)",
                        pipeline.stages[first].name, pipeline.name
                    ),
                ));
            };
            record.stages[..first].clone_from_slice(&earlier.stages[..first]);
            record.status_summary = Some(format!(
                "stages from '{}' on, with the results of execution {} before them",
                pipeline.stages[first].name, earlier.pipeline_execution_id
            ));
        }
        Ok(ResumePlan::partial(&selected, &counts))
    }

    /// The declaration an execution ran, as stored — or as the caller declared it, secrets
    /// included, when that is what was stored.
    pub(crate) fn stored_declaration(
        &self,
        pipeline: &str,
        version: u32,
        declared: Option<&PipelineDeclaration>,
    ) -> Result<LoadedPipeline, RunError> {
        let declaration = self.state.executions().declaration(pipeline, version)?;
        let stored: serde_json::Value = serde_json::from_str(&declaration)
            .context("reading the stored declaration of the execution's pipeline version")?;
        let same = |declared: &&PipelineDeclaration| {
            serde_json::to_value(self.mask_secrets(declared))
                .ok()
                .as_ref()
                == Some(&stored)
        };
        let pipeline: PipelineDeclaration = match declared.filter(same) {
            Some(declared) => declared.clone(),
            None => serde_json::from_value(stored)
                .context("reading the stored declaration of the execution's pipeline version")?,
        };
        Ok(LoadedPipeline {
            pipeline,
            root: "",
            template: None,
        })
    }

    async fn launch_retry(
        &self,
        execution_id: &str,
        stage_name: &str,
        all_actions: bool,
        context: LaunchContext,
    ) -> Result<Launch, RunError> {
        crate::recovery::recover(&self.state)?;
        let mut record = self.state.executions().get(execution_id)?;
        let refused = |why: String| RunError::refused("StageNotRetryableException", why);
        let Some(s) = record
            .stages
            .iter()
            .position(|stage| stage.name == stage_name)
        else {
            return Err(refused(format!(
                "execution {} has no stage '{stage_name}'",
                record.pipeline_execution_id
            )));
        };
        if record.status != ExecutionStatus::Failed
            || record.stages[s].status != StageStatus::Failed
        {
            return Err(refused(format!(
                "stage '{stage_name}' of execution {} is {:?}; only a failed stage of a failed \
                 execution can be retried",
                record.pipeline_execution_id, record.stages[s].status
            )));
        }
        if let Some(newer) = self.state.executions().newer_in_stage(&record, s)? {
            return Err(RunError::refused(
                "NotLatestPipelineExecutionException",
                format!(
                    "execution {newer} has entered stage '{stage_name}' since; only the latest \
                     execution in a stage can be retried"
                ),
            ));
        }
        let loaded = self.stored_declaration(
            &record.pipeline_name,
            record.pipeline_version,
            context.declared.as_ref(),
        )?;
        let start = Start::default();
        let prepared = self
            .prepare(
                &loaded,
                &record.source_file,
                &record.variables,
                &start,
                &context,
            )
            .await?;
        // What already succeeded stays; the retried stage's other actions run again.
        let counts: Vec<usize> = record
            .stages
            .iter()
            .map(|stage| stage.actions.len())
            .collect();
        let stage_actions = &record.stages[s].actions;
        let resume = ResumePlan::retry(
            s,
            &counts,
            |a| stage_actions[a].status == ActionStatus::Succeeded,
            all_actions,
        );
        for (a, action) in record.stages[s].actions.iter_mut().enumerate() {
            if !resume.is_done(s, a) {
                action.status = ActionStatus::NotStarted;
                action.error = None;
                action.end_time = None;
            }
        }
        record.status = ExecutionStatus::InProgress;
        record.status_summary = None;
        record.end_time = None;
        let id = record.pipeline_execution_id.clone();
        self.state
            .ownership()
            .claim(&id, &ProcessOwner::current())?;
        for (a, action) in record.stages[s].actions.iter().enumerate() {
            self.state.executions().save_action(&id, s, a, action)?;
        }
        // The execution keeps its trigger; a retry overrides no source.
        context.launch(loaded.pipeline, record, resume, start, prepared)
    }

    async fn launch_rollback(
        &self,
        pipeline_name: &str,
        stage_name: &str,
        target: Option<&str>,
        start: Start,
        context: LaunchContext,
    ) -> Result<Launch, RunError> {
        let unable = |why: String| RunError::refused("UnableToRollbackStageException", why);
        crate::recovery::recover(&self.state)?;
        let Some(version) = self.state.executions().pipeline_version(pipeline_name)? else {
            return Err(RunError::refused(
                "PipelineNotFoundException",
                format!("no pipeline '{pipeline_name}' has run here"),
            ));
        };
        let loaded = self.stored_declaration(pipeline_name, version, context.declared.as_ref())?;
        let pipeline = &loaded.pipeline;
        let Some(s) = pipeline
            .stages
            .iter()
            .position(|stage| stage.name == stage_name)
        else {
            return Err(RunError::refused(
                "StageNotFoundException",
                format!("pipeline '{pipeline_name}' has no stage '{stage_name}'"),
            ));
        };
        if s == 0 {
            return Err(unable(format!(
                "'{stage_name}' is the source stage, which cannot be rolled back"
            )));
        }
        if pipeline.execution_mode == Some(ExecutionMode::Parallel) {
            return Err(unable(
                "rollback is not available in PARALLEL execution mode".into(),
            ));
        }
        let target = match target {
            Some(id) => {
                let record = self.state.executions().get(id)?;
                let succeeded_in_stage = record.execution_type == ExecutionType::Standard
                    && record.pipeline_name == pipeline_name
                    && record
                        .stages
                        .get(s)
                        .is_some_and(|stage| stage.status == StageStatus::Succeeded);
                if !succeeded_in_stage {
                    return Err(unable(format!(
                        "execution {} is not a standard execution of '{pipeline_name}' that \
                         succeeded in stage '{stage_name}'",
                        record.pipeline_execution_id
                    )));
                }
                record
            }
            None => match self
                .state
                .executions()
                .latest_succeeded_in_stage(pipeline_name, s)?
            {
                Some(id) => self.state.executions().get(&id)?,
                None => {
                    return Err(unable(format!(
                        "no execution of '{pipeline_name}' has succeeded in stage '{stage_name}'"
                    )));
                }
            },
        };
        if target.pipeline_version != version {
            return Err(RunError::refused(
                "PipelineExecutionOutdatedException",
                format!(
                    "execution {} ran version {} of the pipeline; the current version is {version}",
                    target.pipeline_execution_id, target.pipeline_version
                ),
            ));
        }
        let prepared = self
            .prepare(
                &loaded,
                &target.source_file,
                &target.variables,
                &start,
                &context,
            )
            .await?;
        let mut record = new_record(pipeline, &target.source_file);
        record.execution_type = ExecutionType::Rollback;
        record.trigger = Some(start.trigger.clone());
        record.rollback_target = Some(target.pipeline_execution_id.clone());
        record.status_summary = Some(format!(
            "rollback of stage '{stage_name}' to execution {}",
            target.pipeline_execution_id
        ));
        record.variables = target.variables.clone();
        record.pipeline_version = version;
        record.determinism = match (&target.determinism, context.deterministic) {
            (Some(kept), _) => Some(kept.clone()),
            (None, true) => Some(own_determinism(&record)),
            (None, false) => None,
        };
        // The earlier stages are the target's: their artifacts feed the rolled-back stage.
        record.stages[..s].clone_from_slice(&target.stages[..s]);
        let counts: Vec<usize> = record
            .stages
            .iter()
            .map(|stage| stage.actions.len())
            .collect();
        self.state
            .executions()
            .create(&record, &ProcessOwner::current())?;
        let resume = ResumePlan::rollback(s, &counts);
        context.launch(loaded.pipeline, record, resume, start, prepared)
    }
}

/// What a launch carries from its request besides the execution itself.
pub(crate) struct LaunchContext {
    pub(crate) files: PipelineFiles,
    pub(crate) region: String,
    pub(crate) declared: Option<PipelineDeclaration>,
    pub(crate) deterministic: bool,
}

impl LaunchContext {
    /// The launch of `record`; its `determinism` says whether its actions are deterministic.
    pub(crate) fn launch(
        self,
        pipeline: PipelineDeclaration,
        record: ExecutionRecord,
        resume: ResumePlan,
        start: Start,
        prepared: Prepared,
    ) -> Result<Launch, RunError> {
        let determinism = DeterminismBase::of(&record)?;
        Ok(Launch {
            pipeline,
            record,
            resume,
            start,
            prepared,
            files: self.files,
            region: self.region,
            determinism,
        })
    }
}

/// Whether an earlier execution's first stages have the names and actions of `wanted`, so
/// their artifacts are what the later stages expect.
fn same_stages(earlier: &[StageRecord], wanted: &[StageRecord]) -> bool {
    earlier.len() >= wanted.len()
        && earlier.iter().zip(wanted).all(|(e, w)| {
            e.name == w.name
                && e.status == StageStatus::Succeeded
                && e.actions.len() == w.actions.len()
                && e.actions
                    .iter()
                    .zip(&w.actions)
                    .all(|(x, y)| x.name == y.name && x.action_type == y.action_type)
        })
}

/// A new execution's record: every stage and action not started.
pub(crate) fn new_record(pipeline: &PipelineDeclaration, file: &str) -> ExecutionRecord {
    ExecutionRecord {
        pipeline_name: pipeline.name.clone(),
        pipeline_version: 0,
        pipeline_execution_id: uuid::Uuid::new_v4().to_string(),
        status: ExecutionStatus::InProgress,
        status_summary: None,
        source_file: file.to_string(),
        execution_type: ExecutionType::Standard,
        rollback_target: None,
        trigger: None,
        replay_of: None,
        determinism: None,
        variables: BTreeMap::new(),
        start_time: now(),
        end_time: None,
        stages: pipeline
            .stages
            .iter()
            .map(|stage| StageRecord {
                name: stage.name.clone(),
                status: StageStatus::NotStarted,
                rules: Vec::new(),
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
