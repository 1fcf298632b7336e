//! A source action of an earlier run delivered again: its recorded revision, variables and
//! output artifacts — each checked against its recorded SHA-256 — for a replay on a machine
//! that has the run's artifacts (from a bundle) but not its repositories or buckets.

use sandpipe_runtime::{ActionError, ActionOutcome, FailureDetails};
use sandpipe_state::ActionRecord;

use super::system_failure;
use crate::action::{ActionCall, Completed};
use crate::artifacts::HashingReader;
use crate::pipeline::Run;

impl Run<'_> {
    pub(crate) fn deliver_again(
        &self,
        call: &ActionCall<'_>,
        earlier: &ActionRecord,
    ) -> Result<Completed, ActionError> {
        let log = self.action_log(call)?;
        for artifact in &earlier.output_artifacts {
            let (_, object) = self
                .runner
                .s3
                .open_object(&artifact.bucket, &artifact.key, None)
                .map_err(|e| {
                    FailureDetails::job(format!(
                        "the recorded artifact '{}' (s3://{}/{}) is not here: {e}",
                        artifact.name, artifact.bucket, artifact.key
                    ))
                })?;
            let (digest, _) = HashingReader::new(std::io::BufReader::new(object.into_std()))
                .drain()
                .map_err(system_failure("reading a recorded artifact"))?;
            if digest != artifact.sha256 {
                return Err(FailureDetails::job(format!(
                    "the recorded artifact '{}' has SHA-256 {digest}, the record says {}",
                    artifact.name, artifact.sha256
                ))
                .into());
            }
        }
        let revision = earlier
            .current_revision
            .as_ref()
            .map(|r| r.revision_id.as_str())
            .unwrap_or("no revision");
        log.info(format!(
            "delivering again what this source took in the original execution ({revision}), \
             its {} artifact(s) checked by SHA-256",
            earlier.output_artifacts.len()
        ));
        Ok(Completed {
            outcome: ActionOutcome {
                output_variables: earlier.output_variables.clone().into_iter().collect(),
                summary: earlier
                    .summary
                    .as_ref()
                    .map(|summary| format!("{summary} (recorded, delivered again)")),
                current_revision: earlier.current_revision.clone(),
                ..ActionOutcome::default()
            },
            outputs: earlier.output_artifacts.clone(),
        })
    }
}
