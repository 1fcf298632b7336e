//! `Approval/AWS/Manual/1`, run by the host as CodePipeline runs it: open an approval, say
//! how to answer it, and wait for the decision (from any process, through the state store),
//! the timeout, or an abandoning stop.

use sandpipe_runtime::{ActionError, ActionOutcome, FailureDetails, format_duration};
use sandpipe_state::ApprovalStatus;

use super::system_failure;
use crate::action::{ActionCall, Completed};
use crate::control::Signals;
use crate::pipeline::Run;

impl Run<'_> {
    pub(crate) async fn await_approval(
        &self,
        call: &ActionCall<'_>,
    ) -> Result<Completed, ActionError> {
        let (s, a) = (call.s, call.a);
        let stage = &self.pipeline().stages[s];
        let action = &stage.actions[a];
        let timeout = self.timeout_for(s, a);
        let deadline = tokio::time::Instant::now() + timeout;
        let expires = jiff::SignedDuration::try_from(timeout)
            .ok()
            .and_then(|d| jiff::Timestamp::now().checked_add(d).ok())
            .map(|t| format!("{t:.3}"))
            .unwrap_or_default();
        let approvals = self.runner.state.approvals();
        let place = (
            self.pipeline().name.as_str(),
            stage.name.as_str(),
            action.name.as_str(),
        );
        let token = approvals
            .open(self.id(), place, &expires)
            .map_err(system_failure("opening the approval"))?;
        // In PARALLEL mode CodePipeline hands the token out as the external execution id.
        self.keeper.update_action(s, a, |entry| {
            entry.external_execution_id = Some(token.clone())
        });
        let log = self.action_log(call)?;
        log.info(format!(
            "waiting for approval until {expires} (token {token})"
        ));
        let configuration = &call.configured.configuration;
        if let Some(comments) = configuration.get("CustomData") {
            log.info(format!("comments: {comments}"));
        }
        if let Some(link) = configuration.get("ExternalEntityLink") {
            log.info(format!("review: {link}"));
        }
        log.info(format!(
            "approve or reject with: sandpipe approve|reject {} {} {} --summary '…'",
            place.0, place.1, place.2
        ));
        let failed = |message: String| {
            ActionError::Failed(FailureDetails {
                external_execution_id: Some(token.clone()),
                ..FailureDetails::job(message)
            })
        };
        let mut abandoned = self.control.abandoned();
        loop {
            let change = self.signals().next_change();
            let (status, summary) = approvals
                .status(&token)
                .map_err(system_failure("reading the approval"))?;
            let summary = summary.unwrap_or_default();
            match status {
                ApprovalStatus::Approved => {
                    log.info(format!("approved: {summary}"));
                    return Ok(Completed {
                        outcome: ActionOutcome {
                            summary: Some(format!("Approved: {summary}")),
                            external_execution_id: Some(token),
                            ..ActionOutcome::default()
                        },
                        outputs: Vec::new(),
                    });
                }
                ApprovalStatus::Rejected => return Err(failed(format!("Rejected: {summary}"))),
                ApprovalStatus::Expired => return Err(failed("the approval expired".into())),
                ApprovalStatus::Pending => {}
            }
            if tokio::time::Instant::now() >= deadline {
                let _ = approvals.expire(&token);
                return Err(failed(format!(
                    "the approval was not given within its timeout of {}",
                    format_duration(timeout)
                )));
            }
            if self.control.abandoning() {
                let _ = approvals.expire(&token);
                return Err(ActionError::Abandoned);
            }
            tokio::select! {
                () = Signals::wait(change) => {}
                () = tokio::time::sleep_until(deadline) => {}
                _ = abandoned.wait_for(|abandon| *abandon) => {}
            }
        }
    }
}
