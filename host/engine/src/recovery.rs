//! Executions whose process died before they ended (killed, even with SIGKILL): the state
//! store finds them, and this decides what they become — their running actions and stages
//! fail, and so do they, with the reason; a superseded one gets its end.

use sandpipe_state::{ActionStatus, ErrorDetails, ExecutionStatus, StageStatus, StateStore, now};

/// End every orphaned execution. Returns the ids ended.
pub fn recover(state: &StateStore) -> sandpipe_state::Result<Vec<String>> {
    let mut ended = Vec::new();
    for orphan in state.ownership().orphans()? {
        let mut record = state.executions().get(&orphan.id)?;
        let now = now();
        if orphan.status != ExecutionStatus::Superseded {
            let reason = format!(
                "the sandpipe process running this execution (pid {}) ended before it finished",
                orphan.pid
            );
            for (s, stage) in record.stages.iter_mut().enumerate() {
                for (a, action) in stage.actions.iter_mut().enumerate() {
                    if action.status == ActionStatus::InProgress {
                        action.status = ActionStatus::Failed;
                        action.end_time = Some(now.clone());
                        action.error = Some(ErrorDetails {
                            code: "JobFailed".into(),
                            message: reason.clone(),
                        });
                        state.executions().save_action(&orphan.id, s, a, action)?;
                    }
                }
                if stage.status == StageStatus::InProgress {
                    stage.status = StageStatus::Failed;
                    state.executions().save_stage(&orphan.id, s, stage)?;
                }
            }
            record.status = ExecutionStatus::Failed;
            // What was running when the process ended, and that it ended.
            let failed = record
                .stages
                .iter()
                .position(|stage| stage.status == StageStatus::Failed);
            record.status_summary = failed
                .and_then(|s| record.failure_summary(s))
                .or(Some(reason));
        }
        state.approvals().expire_all_of(&orphan.id)?;
        record.end_time = Some(now);
        state.executions().save_status(&record)?;
        state.stage_gate().release(&orphan.id)?;
        ended.push(orphan.id);
    }
    Ok(ended)
}

#[cfg(test)]
mod tests {
    use sandpipe_state::testing::orphan_and_alive;

    use super::*;

    #[test]
    fn executions_of_dead_processes_end_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::open(dir.path()).unwrap();
        orphan_and_alive(&state);

        assert_eq!(recover(&state).unwrap(), ["orphan"]);
        let ended = state.executions().get("orphan").unwrap();
        assert_eq!(ended.status, ExecutionStatus::Failed);
        assert!(
            ended
                .status_summary
                .unwrap()
                .contains("ended before it finished")
        );
        assert_eq!(ended.stages[0].status, StageStatus::Failed);
        assert_eq!(ended.stages[0].actions[0].status, ActionStatus::Failed);
        assert_eq!(ended.stages[1].actions[0].status, ActionStatus::NotStarted);
        assert_eq!(
            state.executions().get("alive").unwrap().status,
            ExecutionStatus::InProgress
        );
        assert!(recover(&state).unwrap().is_empty());
    }
}
