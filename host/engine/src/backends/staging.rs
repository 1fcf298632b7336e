//! An action's sandbox: its input artifacts staged in before it runs, its output
//! directories packaged and stored after it succeeded.

use std::sync::Arc;

use sandpipe_model::execution::FailureKind;
use sandpipe_runtime::sandbox::free_bytes;
use sandpipe_runtime::write_budget::bytes_shown;
use sandpipe_runtime::{
    ActionError, ActionOutcome, FailureDetails, InputArtifact, OutputArtifact, Sandbox,
};

use super::system_failure;
use crate::action::{ActionCall, Completed};
use crate::pipeline::Run;

/// A sandbox with the action's artifacts in place, and how the action will see them.
pub(crate) struct Staged {
    pub(crate) sandbox: Arc<Sandbox>,
    pub(crate) inputs: Vec<InputArtifact>,
    pub(crate) outputs: Vec<OutputArtifact>,
}

impl Run<'_> {
    /// A fresh sandbox for action `a` of stage `s`, its inputs extracted into it (and recorded),
    /// its output directories made, and for a build its project's cache mounted.
    pub(crate) fn stage_sandbox(&self, call: &ActionCall<'_>) -> Result<Staged, ActionError> {
        self.work_area_free()?;
        let name = format!("{:02}-{:02}", call.s, call.a);
        let sandbox = self
            .runner
            .work
            .sandbox(self.id(), &name)
            .map_err(system_failure("creating the sandbox"))?;
        let root = sandbox.root().to_path_buf();
        let staged = self.fill_sandbox(call, sandbox);
        // Half-staged inputs are not left to take space until the execution ends.
        if staged.is_err() && !self.runner.settings.keep_work {
            let _ = std::fs::remove_dir_all(root);
        }
        staged
    }

    /// Bytes an action may still write in the work area, above the operator's reserve; an
    /// error, naming the file system, when the state directory or the work area is already
    /// below it.
    pub(crate) fn work_area_free(&self) -> Result<u64, ActionError> {
        let reserve = self.runner.settings.disk_reserve;
        let mut above = u64::MAX;
        for (dir, what) in [
            (self.runner.state_dir(), "state directory"),
            (self.runner.work.root(), "work area"),
        ] {
            let Some(free) = free_bytes(dir) else {
                continue;
            };
            if free < reserve {
                return Err(ActionError::Failed(FailureDetails::new(
                    FailureKind::SystemUnavailable,
                    format!(
                        "only {} is free on the file system of the {what} ({}); sandpipe keeps \
                         {} free there (--disk-reserve) and starts no action below it",
                        bytes_shown(free),
                        dir.display(),
                        bytes_shown(reserve)
                    ),
                )));
            }
            if what == "work area" {
                above = free - reserve;
            }
        }
        Ok(above)
    }

    fn fill_sandbox(
        &self,
        call: &ActionCall<'_>,
        mut sandbox: Sandbox,
    ) -> Result<Staged, ActionError> {
        let (s, a) = (call.s, call.a);
        let action = &self.pipeline().stages[s].actions[a];
        let mut inputs = Vec::new();
        let mut records = Vec::new();
        for input in &action.input_artifacts {
            let stored = self.outputs().artifacts.get(&input.name).cloned();
            let stored = stored.ok_or_else(|| {
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
                .map_err(|e| {
                    FailureDetails::job(format!("input artifact '{}': {e:#}", input.name))
                })?;
            inputs.push(InputArtifact::staged(&input.name, stored.revision.clone()));
            records.push(stored);
        }
        if !records.is_empty() {
            self.keeper
                .update_action(s, a, |entry| entry.input_artifacts = records);
        }
        let mut outputs = Vec::new();
        for output in &action.output_artifacts {
            sandbox
                .add_output(&output.name)
                .map_err(system_failure("creating outputs"))?;
            outputs.push(OutputArtifact::staged(&output.name));
        }
        if let Some(cache) = self.project_cache(s, a, &call.configured.configuration) {
            sandbox
                .add_cache(&cache)
                .map_err(system_failure("creating the project cache directory"))?;
        }
        Ok(Staged {
            sandbox: Arc::new(sandbox),
            inputs,
            outputs,
        })
    }

    /// Remove an action's sandbox once it is done with, unless the operator keeps them.
    pub(crate) fn remove_sandbox(&self, staged: Staged) {
        if !self.runner.settings.keep_work {
            let _ = std::fs::remove_dir_all(staged.sandbox.root());
        }
    }

    /// Package and store every output artifact of an action that succeeded (each a zip of its
    /// directory, or the one file the action named), tagged with its source revision.
    pub(crate) fn store_outputs(
        &self,
        s: usize,
        a: usize,
        staged: &Staged,
        outcome: ActionOutcome,
    ) -> Result<Completed, ActionError> {
        let action = &self.pipeline().stages[s].actions[a];
        if let Some(unknown) = outcome
            .artifact_files
            .iter()
            .find(|f| !action.output_artifacts.iter().any(|o| o.name == f.artifact))
        {
            return Err(FailureDetails::job(format!(
                "the action named an undeclared output artifact '{}'",
                unknown.artifact
            ))
            .into());
        }
        let mut stored_outputs = Vec::new();
        for output in &action.output_artifacts {
            let file = outcome
                .artifact_files
                .iter()
                .find(|f| f.artifact == output.name)
                .map(|f| f.file.as_str());
            let sandbox = &staged.sandbox;
            let mut stored = self
                .artifacts
                .store_output(
                    &self.pipeline().name,
                    &output.name,
                    &sandbox.output_dir(&output.name),
                    file,
                    sandbox.root(),
                )
                .map_err(|e| {
                    FailureDetails::job(format!("output artifact '{}': {e:#}", output.name))
                })?;
            stored.revision = outcome
                .current_revision
                .as_ref()
                .map(|r| r.revision_id.clone());
            stored_outputs.push(stored);
        }
        Ok(Completed {
            outcome,
            outputs: stored_outputs,
        })
    }
}
