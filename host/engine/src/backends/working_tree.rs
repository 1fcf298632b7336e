//! `--source Action=dir` for a provider that cannot read a working tree itself (an S3
//! source): the host copies the directory's files in place of the action's output, and
//! their content digest is the revision.

use std::path::Path;

use sandpipe_runtime::{ActionError, ActionOutcome, CurrentRevision, FailureDetails};

use super::configuration_error;
use super::staging::Staged;
use crate::action::ActionCall;
use crate::pipeline::Run;

impl Run<'_> {
    pub(crate) fn copy_working_tree(
        &self,
        call: &ActionCall<'_>,
        dir: &Path,
        staged: &Staged,
    ) -> Result<ActionOutcome, ActionError> {
        let action = &self.pipeline().stages[call.s].actions[call.a];
        let log = self.action_log(call)?;
        let output = action.output_artifacts.first().ok_or_else(|| {
            configuration_error("the action has no output artifact for the working tree")
        })?;
        let snapshot = crate::sources::copy_working_tree(
            dir,
            &staged.sandbox.output_dir(&output.name),
            &self.sandpipe_dirs(),
        )
        .map_err(|e| {
            FailureDetails::job(format!("copying the working tree {}: {e:#}", dir.display()))
        })?;
        let summary = format!(
            "working tree {} ({} files, {} bytes) in place of the source",
            dir.display(),
            snapshot.files,
            snapshot.bytes
        );
        log.info(format!("{summary}; digest {}", snapshot.digest));
        Ok(ActionOutcome {
            summary: Some(summary.clone()),
            current_revision: Some(CurrentRevision {
                revision_id: snapshot.digest.clone(),
                change_identifier: snapshot.digest,
                created: None,
                revision_summary: Some(summary),
            }),
            ..ActionOutcome::default()
        })
    }
}
