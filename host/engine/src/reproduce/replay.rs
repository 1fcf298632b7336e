//! `sandpipe replay`: a new execution with exactly an earlier one's recorded inputs — the
//! pipeline version it ran, its variables, each source action's revision (a working tree's
//! stored snapshot), the same components — so its artifacts can be compared with the
//! original's.

use std::path::PathBuf;

use anyhow::Context;
use sandpipe_model::execution::revisions::{Pin, pin};
use sandpipe_model::execution::{ResumePlan, StageSelection};
use sandpipe_state::{
    ActionRecord, ExecutionRecord, ExecutionStatus, ExecutionType, ProcessOwner, StageStatus,
};
use sandpipe_store::archive::Limits;

use crate::artifacts::ArtifactStore;
use crate::launch::{Launch, LaunchContext, new_record};
use crate::request::{ReplaySources, Start};
use crate::runner::{PipelineRunner, RunError};

/// The exception a replay is refused with when it cannot have the original's inputs.
const NOT_REPLAYABLE: &str = "ExecutionNotReplayableException";

impl PipelineRunner {
    pub(crate) async fn launch_replay(
        &self,
        execution_id: &str,
        from_stage: Option<&str>,
        allow_changed_components: bool,
        sources: ReplaySources,
        context: LaunchContext,
    ) -> Result<Launch, RunError> {
        crate::recovery::recover(&self.state)?;
        let original = self.state.executions().get(execution_id)?;
        let id = &original.pipeline_execution_id;
        let refused = |why: String| RunError::refused(NOT_REPLAYABLE, why);
        if original.execution_type == ExecutionType::Rollback {
            return Err(refused(format!(
                "execution {id} is a rollback; replay the execution it rolled back to ({})",
                original.rollback_target.as_deref().unwrap_or("unknown")
            )));
        }
        if matches!(
            original.status,
            ExecutionStatus::InProgress | ExecutionStatus::Stopping
        ) {
            return Err(refused(format!(
                "execution {id} is still {}; replay it when it has ended",
                original.status
            )));
        }
        let loaded = self.stored_declaration(
            &original.pipeline_name,
            original.pipeline_version,
            context.declared.as_ref(),
        )?;
        let pipeline = &loaded.pipeline;
        let first = match from_stage {
            None => 0,
            Some(name) => pipeline
                .stages
                .iter()
                .position(|stage| stage.name == name)
                .ok_or_else(|| {
                    RunError::refused(
                        "StageNotFoundException",
                        format!(
                            "version {} of pipeline '{}' has no stage '{name}'",
                            original.pipeline_version, original.pipeline_name
                        ),
                    )
                })?,
        };
        if let Some(stage) = original.stages[..first]
            .iter()
            .find(|stage| stage.status != StageStatus::Succeeded)
        {
            return Err(refused(format!(
                "stage '{}' of execution {id} is {:?}; a replay from '{}' takes the stages \
                 before it from the original, so they must have succeeded",
                stage.name,
                stage.status,
                from_stage.unwrap_or_default()
            )));
        }

        let mut start = Start::by("StartPipelineExecution", &format!("sandpipe replay {id}"));
        // Container builds run the images the original ran, by id, even if a tag moved.
        start.image_pins = original
            .stages
            .iter()
            .flat_map(|stage| &stage.actions)
            .flat_map(|action| action.build_images.clone())
            .collect();
        if first == 0 && sources == ReplaySources::Recorded {
            for action in original.stages.first().into_iter().flat_map(|s| &s.actions) {
                start.recorded.insert(action.name.clone(), action.clone());
            }
        } else if first == 0 {
            self.pin_sources(&original, pipeline, &mut start)?;
        } else {
            start.stages = StageSelection {
                from: from_stage.map(str::to_string),
                ..StageSelection::default()
            };
        }
        let prepared = self
            .prepare(
                &loaded,
                &original.source_file,
                &original.variables,
                &start,
                &context,
            )
            .await?;
        let changed = changed_components(&original, &prepared.backends);
        if !changed.is_empty() && !allow_changed_components {
            return Err(RunError::refused(
                "ComponentChangedException",
                format!(
                    "{} since execution {id}: {}; replay with --allow-changed-components to \
                     run the new code anyway",
                    if changed.len() == 1 {
                        "a component changed"
                    } else {
                        "components changed"
                    },
                    changed.join("; ")
                ),
            ));
        }

        let mut record = new_record(pipeline, &original.source_file);
        record.pipeline_version = original.pipeline_version;
        record.variables = original.variables.clone();
        record.trigger = Some(start.trigger.clone());
        record.replay_of = Some(id.clone());
        // A replay reads the clock and draws the seed of its original, so it makes what the
        // original made; asked for one, a replay of a run that was not deterministic takes
        // the original's start and id all the same.
        record.determinism = match (&original.determinism, context.deterministic) {
            (Some(kept), _) => Some(kept.clone()),
            (None, true) => Some(super::own_determinism(&original)),
            (None, false) => None,
        };
        record.stages[..first].clone_from_slice(&original.stages[..first]);
        record.status_summary = Some(match from_stage {
            Some(stage) => format!("replay of execution {id} from stage '{stage}'"),
            None => format!("replay of execution {id}"),
        });
        let counts: Vec<usize> = pipeline.stages.iter().map(|s| s.actions.len()).collect();
        let selected = (first..counts.len()).collect();
        let resume = ResumePlan::partial(&selected, &counts);
        self.state
            .executions()
            .create(&record, &ProcessOwner::current())?;
        context.launch(loaded.pipeline, record, resume, start, prepared)
    }

    /// Each source action starts with what it took in `original`: its revision, or for a
    /// working tree, the snapshot its output artifact holds.
    fn pin_sources(
        &self,
        original: &ExecutionRecord,
        pipeline: &sandpipe_model::PipelineDeclaration,
        start: &mut Start,
    ) -> Result<(), RunError> {
        let Some(sources) = original.stages.first() else {
            return Ok(());
        };
        for (action, declared) in sources.actions.iter().zip(&pipeline.stages[0].actions) {
            // A double does what its declaration says; there is nothing to pin.
            if action.double.is_some() {
                continue;
            }
            match pin(&declared.action_type_id, action.current_revision.as_ref()) {
                Pin::Revision(revision) => {
                    start.source_revisions.insert(action.name.clone(), revision);
                }
                Pin::Snapshot => {
                    let dir = self.snapshot(action).with_context(|| {
                        format!(
                            "restoring the working tree source action '{}' read in execution {}",
                            action.name, original.pipeline_execution_id
                        )
                    })?;
                    start.working_trees.insert(action.name.clone(), dir);
                }
                Pin::Unpinnable(why) => {
                    return Err(RunError::refused(
                        NOT_REPLAYABLE,
                        format!(
                            "source action '{}' of execution {} cannot be given the same \
                             revision again: {why} (it {})",
                            action.name, original.pipeline_execution_id, action.status
                        ),
                    ));
                }
            }
        }
        Ok(())
    }

    /// The files a working-tree source action read, from its stored output artifact:
    /// extracted once into `<state-dir>/snapshots/<sha256>` and read from there after.
    fn snapshot(&self, action: &ActionRecord) -> anyhow::Result<PathBuf> {
        let artifact = action
            .output_artifacts
            .first()
            .context("the action stored no output artifact")?;
        let root = self.settings.state_dir.join("snapshots");
        let dir = root.join(&artifact.sha256);
        if dir.is_dir() {
            return Ok(dir);
        }
        std::fs::create_dir_all(&root)?;
        let unpacking = root.join(format!(".unpacking-{}", uuid::Uuid::new_v4()));
        std::fs::create_dir(&unpacking)?;
        let tree = unpacking.join("tree");
        let unpacked = std::fs::create_dir(&tree)
            .map_err(anyhow::Error::from)
            .and_then(|()| {
                let store =
                    ArtifactStore::new(self.s3.clone(), artifact.bucket.clone(), Limits::default());
                store.stage_input(artifact, &tree, &unpacking.join("archive"))
            });
        if let Err(error) = unpacked {
            let _ = std::fs::remove_dir_all(&unpacking);
            return Err(error);
        }
        let renamed = std::fs::rename(&tree, &dir);
        let _ = std::fs::remove_dir_all(&unpacking);
        match renamed {
            Ok(()) => Ok(dir),
            // Another replay unpacked the same snapshot first.
            Err(_) if dir.is_dir() => Ok(dir),
            Err(error) => Err(error.into()),
        }
    }
}

/// Actions a different component runs now than in `original`: `Stage/Action: was …, is …`.
fn changed_components(
    original: &ExecutionRecord,
    backends: &std::collections::HashMap<(usize, usize), crate::backends::Backend>,
) -> Vec<String> {
    let mut changed = Vec::new();
    for (s, stage) in original.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            let now = backends.get(&(s, a)).and_then(|b| b.component_digest());
            if let (Some(was), Some(now)) = (&action.component_digest, now)
                && *was != now
            {
                changed.push(format!(
                    "{}/{} ran component {}, now {}",
                    stage.name,
                    action.name,
                    &was[..12.min(was.len())],
                    &now[..12]
                ));
            }
        }
    }
    changed
}
