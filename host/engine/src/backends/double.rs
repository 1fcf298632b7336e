//! A declared double (see `sandpipe_model::doubles`): what an action that cannot run here
//! does instead — succeeds with its declared output variables and artifacts (a directory, or
//! its first input passed through), fails with its message, or waits for an approval. The
//! record says it was a double and where it was declared.

use sandpipe_model::doubles::{Double, DoubleArtifact, DoubleOutcome};
use sandpipe_runtime::{ActionError, ActionOutcome, FailureDetails};

use super::staging::Staged;
use crate::action::{ActionCall, Completed};
use crate::pipeline::Run;

impl Run<'_> {
    pub(crate) async fn run_double(
        &self,
        call: &ActionCall<'_>,
        double: &Double,
    ) -> Result<Completed, ActionError> {
        let (s, a) = (call.s, call.a);
        self.keeper.update_action(s, a, |entry| {
            entry.double = Some(double.declared_in.clone())
        });
        let log = self.action_log(call)?;
        let action = &self.pipeline().stages[s].actions[a];
        log.info(format!(
            "a double of {} declared in {}: nothing runs for real",
            action.action_type_id, double.declared_in
        ));
        match double.outcome {
            DoubleOutcome::Approval => self.await_approval(call).await,
            DoubleOutcome::Fail => Err(FailureDetails::job(format!(
                "double: {}",
                double.message.as_deref().unwrap_or("failed as declared")
            ))
            .into()),
            DoubleOutcome::Succeed => {
                let stand_in = async |staged: &Staged| self.stand_in(call, double, staged);
                self.sandboxed(call, stand_in).await
            }
        }
    }

    /// Fill the double's output artifacts, and say what it stood in with.
    fn stand_in(
        &self,
        call: &ActionCall<'_>,
        double: &Double,
        staged: &Staged,
    ) -> Result<ActionOutcome, ActionError> {
        let action = &self.pipeline().stages[call.s].actions[call.a];
        for output in &action.output_artifacts {
            let source = match double.output_artifacts.get(&output.name) {
                Some(DoubleArtifact::Directory(dir)) => Some(dir.clone()),
                // Its first input passed through, named or by default.
                Some(DoubleArtifact::Inputs) | None => staged
                    .inputs
                    .first()
                    .map(|input| staged.sandbox.host_path(&input.path, false))
                    .transpose()
                    .map_err(FailureDetails::job)?,
            };
            let Some(source) = source else {
                continue;
            };
            crate::sources::copy_working_tree(
                &source,
                &staged.sandbox.output_dir(&output.name),
                &self.sandpipe_dirs(),
            )
            .map_err(|e| {
                FailureDetails::job(format!(
                    "double: filling output artifact '{}' from {}: {e:#}",
                    output.name,
                    source.display()
                ))
            })?;
        }
        let summary = format!(
            "double: {}",
            double.message.as_deref().unwrap_or("succeeded as declared")
        );
        Ok(ActionOutcome {
            summary: Some(summary),
            output_variables: double
                .output_variables
                .iter()
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect(),
            ..ActionOutcome::default()
        })
    }
}
