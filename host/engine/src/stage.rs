//! One stage of an execution: through its door (the execution mode's lock, the queue, the
//! inbound transition), its entry condition, its runOrder groups in order (each group's
//! actions concurrently), onFailure's retry or rollback, its success condition, and out.

use std::collections::BTreeSet;

use sandpipe_model::execution::check_conditions;
use sandpipe_model::{Condition, ConditionResult, ExecutionMode, RetryMode, StagePlan};
use sandpipe_state::{ActionStatus, StageEntry, StageSharing, StageStatus};

use crate::control::Signals;
use crate::keeper::RecordKeeper;
use crate::pipeline::Run;

/// How a stage turned out for the execution.
pub(crate) enum StageOutcome {
    /// It ran (or was skipped) and ended so.
    Finished(StageStatus),
    /// A stop request came while the execution waited at the door.
    Stopped,
    /// A newer execution replaced this one at the door of `stage`.
    Superseded { by: String, stage: String },
}

/// Why an execution did not get through a stage's door.
enum Blocked {
    Stopped,
    Superseded(String),
}

impl Run<'_> {
    pub(crate) async fn run_stage(&self, plan: &StagePlan) -> StageOutcome {
        let s = plan.stage;
        let stage = &self.pipeline().stages[s];
        match self.enter_stage(&stage.name).await {
            Ok(()) => {}
            Err(Blocked::Stopped) => return StageOutcome::Stopped,
            Err(Blocked::Superseded(by)) => {
                return StageOutcome::Superseded {
                    by,
                    stage: stage.name.clone(),
                };
            }
        }
        self.keeper.stage_started(s);
        let status = self.stage_body(plan).await;
        self.keeper.stage_finished(s, status);
        let gate = self.runner.state.stage_gate();
        RecordKeeper::persisted(gate.leave(&self.pipeline().name, &stage.name, self.id()));
        self.signals().notify();
        StageOutcome::Finished(status)
    }

    /// Wait until the execution may enter `stage`, saying once why it waits.
    async fn enter_stage(&self, stage: &str) -> Result<(), Blocked> {
        let sharing = match self.pipeline().execution_mode.unwrap_or_default() {
            ExecutionMode::Superseded => StageSharing::Superseded,
            ExecutionMode::Queued => StageSharing::Queued,
            ExecutionMode::Parallel => StageSharing::Parallel,
        };
        let gate = self.runner.state.stage_gate();
        let mut said = None;
        let mut stops = self.control.stops();
        loop {
            let change = self.signals().next_change();
            let reason = match gate.enter(&self.pipeline().name, stage, self.id(), sharing) {
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
                self.keeper
                    .note(stage, format!("waiting to enter: {reason}"));
                said = Some(reason);
            }
            if self.control.stop_requested() {
                return Err(Blocked::Stopped);
            }
            tokio::select! {
                () = Signals::wait(change) => {}
                _ = stops.wait_for(Option::is_some) => {}
            }
        }
    }

    /// From the entry condition to the success condition, with onFailure RETRY's one
    /// automatic retry.
    async fn stage_body(&self, plan: &StagePlan) -> StageStatus {
        let s = plan.stage;
        let stage = &self.pipeline().stages[s];
        if let Some(before) = &stage.before_entry
            && let Some(result) = self.conditions_fail(s, "beforeEntry", &before.conditions)
        {
            return match result {
                ConditionResult::Skip => StageStatus::Skipped,
                _ => StageStatus::Failed,
            };
        }
        let done: BTreeSet<usize> = (0..stage.actions.len())
            .filter(|&a| self.launch.resume.is_done(s, a))
            .collect();
        let mut status = self.run_groups(plan, &done).await;
        let on_failure = stage.on_failure.as_ref();
        let retry = on_failure.filter(|f| f.result == Some(ConditionResult::Retry));
        if status == StageStatus::Failed
            && let Some(failure) = retry
        {
            let all = failure
                .retry_configuration
                .as_ref()
                .and_then(|r| r.retry_mode)
                == Some(RetryMode::AllActions);
            self.keeper.note(
                &stage.name,
                format!(
                    "retrying the stage automatically (onFailure RETRY, {})",
                    if all { "ALL_ACTIONS" } else { "FAILED_ACTIONS" }
                ),
            );
            let succeeded: BTreeSet<usize> = if all {
                BTreeSet::new()
            } else {
                self.keeper.read(|record| {
                    (0..stage.actions.len())
                        .filter(|&a| record.stages[s].actions[a].status == ActionStatus::Succeeded)
                        .collect()
                })
            };
            status = self.run_groups(plan, &succeeded).await;
        }
        if status == StageStatus::Failed
            && on_failure.and_then(|f| f.result) == Some(ConditionResult::Rollback)
        {
            self.control.ask_rollback(s);
        }
        if status == StageStatus::Succeeded
            && let Some(success) = &stage.on_success
            && self
                .conditions_fail(s, "onSuccess", &success.conditions)
                .is_some()
        {
            return StageStatus::Failed;
        }
        status
    }

    /// The runOrder groups of a stage in order, each concurrently, skipping actions `skip`.
    async fn run_groups(&self, plan: &StagePlan, skip: &BTreeSet<usize>) -> StageStatus {
        for group in &plan.groups {
            // Stop-and-wait starts nothing new; what runs finishes (or is abandoned).
            if self.control.stop_requested() {
                return StageStatus::Stopped;
            }
            let runs = group
                .actions
                .iter()
                .filter(|a| !skip.contains(a))
                .map(|&a| self.run_action(plan.stage, a));
            let succeeded = futures::future::join_all(runs).await;
            if self.control.stop_requested() {
                return StageStatus::Stopped;
            }
            if succeeded.iter().any(|ok| !ok) {
                return StageStatus::Failed;
            }
        }
        StageStatus::Succeeded
    }

    /// Evaluate a stage's conditions, saying how each rule went; the result of the one that
    /// failed, if one did (a ROLLBACK result asks for the stage's rollback).
    fn conditions_fail(
        &self,
        s: usize,
        kind: &str,
        conditions: &[Condition],
    ) -> Option<ConditionResult> {
        let stage = &self.pipeline().stages[s].name;
        let check = check_conditions(kind, conditions, &self.outputs().scope);
        if check
            .failed
            .is_some_and(|result| result != ConditionResult::Skip)
            && let Some(failed) = check.notes.last()
        {
            *self
                .failed_condition
                .lock()
                .unwrap_or_else(|e| e.into_inner()) = Some(failed.clone());
        }
        for note in check.notes {
            self.keeper.note(stage, note);
        }
        let time = sandpipe_state::now();
        let rules = check
            .rules
            .into_iter()
            .map(|(rule, succeeded, summary)| sandpipe_state::RuleRecord {
                condition: kind.to_string(),
                name: rule.name,
                provider: rule.rule_type_id.provider,
                configuration: rule.configuration,
                succeeded,
                summary,
                time: time.clone(),
            })
            .collect();
        self.keeper.rules_evaluated(s, rules);
        if check.failed == Some(ConditionResult::Rollback) {
            self.control.ask_rollback(s);
        }
        check.failed
    }
}
