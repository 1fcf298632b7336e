//! The pipeline loop of one execution: its stages in order (each through the stage's door),
//! while it watches for a stop request; then how the execution ended.

use std::collections::BTreeMap;
use std::sync::{Arc, Mutex};

use anyhow::Context;
use sandpipe_model::execution::VariableScope;
use sandpipe_model::{PipelineDeclaration, plan};
use sandpipe_state::{ArtifactRecord, ExecutionRecord, ExecutionStatus, StageStatus};
use sandpipe_store::archive::Limits;

use crate::artifacts::ArtifactStore;
use crate::control::{ExecutionControl, Signals};
use crate::events::{EventJournal, RunObserver, Tee};
use crate::keeper::RecordKeeper;
use crate::launch::Launch;
use crate::runner::PipelineRunner;
use crate::stage::StageOutcome;

/// What the actions of an execution have produced so far.
pub(crate) struct Outputs {
    /// Artifacts by name.
    pub(crate) artifacts: BTreeMap<String, ArtifactRecord>,
    /// What configuration references resolve to.
    pub(crate) scope: VariableScope,
}

/// One execution in progress.
pub(crate) struct Run<'r> {
    pub(crate) runner: &'r PipelineRunner,
    pub(crate) launch: &'r Launch,
    pub(crate) keeper: RecordKeeper<'r>,
    pub(crate) artifacts: ArtifactStore,
    pub(crate) outputs: Mutex<Outputs>,
    pub(crate) control: ExecutionControl,
    /// The condition rule that failed a stage, as its note said (the execution's summary
    /// when no action failed).
    pub(crate) failed_condition: Mutex<Option<String>>,
}

impl<'r> Run<'r> {
    pub(crate) fn pipeline(&self) -> &'r PipelineDeclaration {
        &self.launch.pipeline
    }

    pub(crate) fn id(&self) -> &str {
        self.keeper.id()
    }

    pub(crate) fn signals(&self) -> &'r Signals {
        &self.runner.signals
    }

    pub(crate) fn outputs(&self) -> std::sync::MutexGuard<'_, Outputs> {
        self.outputs.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl PipelineRunner {
    /// Run a launched execution to its end. Returns its record and the name of the stage
    /// whose failure asks for a rollback, if any.
    pub(crate) async fn run(
        &self,
        launch: Launch,
        observer: Arc<dyn RunObserver>,
    ) -> (ExecutionRecord, Option<String>) {
        let id = launch.record.pipeline_execution_id.clone();
        // Kept sandboxes are marked so; others name this process, to be swept if it dies.
        let owner = match self.settings.keep_work {
            true => "kept".to_string(),
            false => sandpipe_state::ProcessOwner::current().to_string(),
        };
        if let Err(error) = self.work.claim(&id, &owner) {
            eprintln!("sandpipe: cannot prepare the execution's sandboxes: {error}");
        }
        let journal = EventJournal::create(
            &self.execution_dir(&id).join("events.jsonl"),
            &launch.pipeline,
            launch.record.pipeline_version,
            &launch.region,
        )
        .context("creating the event journal");
        let observer: Arc<dyn RunObserver> = match journal {
            Ok(journal) => Arc::new(Tee(vec![Arc::new(journal), observer])),
            Err(error) => {
                eprintln!("sandpipe: {error:#}");
                observer
            }
        };
        // Artifacts and variables of actions that already succeeded are there to consume.
        let mut outputs = Outputs {
            artifacts: BTreeMap::new(),
            scope: VariableScope::new(&id, launch.record.variables.clone()),
        };
        for &(s, a) in &launch.resume.done {
            let action = &launch.record.stages[s].actions[a];
            for artifact in &action.output_artifacts {
                outputs
                    .artifacts
                    .insert(artifact.name.clone(), artifact.clone());
            }
            if let Some(namespace) = &launch.pipeline.stages[s].actions[a].namespace {
                outputs
                    .scope
                    .publish(namespace, action.output_variables.clone());
            }
        }
        let run = Run {
            runner: self,
            launch: &launch,
            keeper: RecordKeeper::new(launch.record.clone(), &self.state, observer),
            artifacts: ArtifactStore::new(
                self.s3.clone(),
                launch.prepared.bucket.clone(),
                Limits::default(),
            ),
            outputs: Mutex::new(outputs),
            control: ExecutionControl::new(),
            failed_condition: Mutex::new(None),
        };
        run.keeper.execution_started(launch.resume.resumes());
        let record = run.run_watching_for_stop().await;
        let rollback = run
            .control
            .rollback_stage()
            .map(|s| launch.pipeline.stages[s].name.clone());
        if !self.settings.keep_work {
            self.work.remove_execution(&id);
        }
        run.keeper.announce_end(&record);
        (record, rollback)
    }
}

impl Run<'_> {
    /// Run the stages while watching the state store for a stop request; the watch ends with
    /// the run, so no timer is left to wait out.
    async fn run_watching_for_stop(&self) -> ExecutionRecord {
        let watch_for_stop = async {
            loop {
                let change = self.signals().next_change();
                if let Ok(Some(request)) = self.runner.state.control().stop_request(self.id()) {
                    // Said once, and again when a stop becomes an abandon.
                    let seen = self.control.stop_request().map(|r| r.abandons());
                    if seen != Some(request.abandons()) {
                        self.keeper.stop_requested(&request);
                    }
                    self.control.stop_seen(request);
                }
                Signals::wait(change).await;
            }
        };
        tokio::select! {
            record = self.run_stages() => record,
            () = watch_for_stop => unreachable!("the watch never ends on its own"),
        }
    }

    /// What failed stage `s`: its failed action and why, or the condition that failed it.
    fn failure_summary(&self, s: usize) -> String {
        if let Some(summary) = self.keeper.read(|record| record.failure_summary(s)) {
            return summary;
        }
        let stage = &self.pipeline().stages[s].name;
        let condition = self
            .failed_condition
            .lock()
            .unwrap_or_else(|e| e.into_inner());
        match condition.as_deref() {
            Some(note) => format!("stage '{stage}' failed: {note}"),
            None => format!("stage '{stage}' failed"),
        }
    }

    async fn run_stages(&self) -> ExecutionRecord {
        let plan = plan(self.pipeline());
        let mut outcome = ExecutionStatus::Succeeded;
        let mut summary = None;
        for stage_plan in self.launch.resume.stages(&plan) {
            if self.control.stop_requested() {
                outcome = ExecutionStatus::Stopped;
                break;
            }
            // A partial run records the stages it leaves out.
            if self.launch.resume.skipped.contains(&stage_plan.stage) {
                self.keeper
                    .stage_finished(stage_plan.stage, StageStatus::Skipped);
                continue;
            }
            match self.run_stage(stage_plan).await {
                StageOutcome::Finished(StageStatus::Succeeded | StageStatus::Skipped) => {}
                StageOutcome::Finished(StageStatus::Stopped) | StageOutcome::Stopped => {
                    outcome = ExecutionStatus::Stopped;
                    break;
                }
                StageOutcome::Superseded { by, stage } => {
                    outcome = ExecutionStatus::Superseded;
                    summary = Some(ExecutionRecord::superseded_summary(&by, &stage));
                    break;
                }
                StageOutcome::Finished(_) => {
                    outcome = ExecutionStatus::Failed;
                    summary = Some(self.failure_summary(stage_plan.stage));
                    break;
                }
            }
        }
        if outcome == ExecutionStatus::Stopped {
            summary = self.control.stop_request().map(|request| {
                request.reason.clone().unwrap_or_else(|| {
                    let how = if request.abandons() {
                        "stop and abandon"
                    } else {
                        "stop and wait"
                    };
                    format!("Stopped by a {how} request")
                })
            });
        }
        let record = self.keeper.execution_finished(outcome, summary);
        RecordKeeper::persisted(self.runner.state.stage_gate().release(self.id()));
        self.signals().notify();
        record
    }
}
