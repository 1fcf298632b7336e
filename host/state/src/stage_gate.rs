//! The door before each stage: the pipeline's execution mode (one execution per stage, in
//! arrival order, or superseding older waiting ones) and its disabled inbound transitions,
//! decided in one immediate transaction so that several processes agree.

use rusqlite::{OptionalExtension, Transaction, params};

use crate::db::{Database, Result};
use crate::record::{ExecutionRecord, ExecutionStatus, now};

/// How executions of one pipeline share its stages (the pipeline's executionMode).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StageSharing {
    /// One execution per stage; a newer execution waiting for a stage replaces an older one.
    Superseded,
    /// One execution per stage; waiting executions enter in the order they arrived.
    Queued,
    /// No locks: executions run independently.
    Parallel,
}

/// The answer to "may this execution enter this stage now?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum StageEntry {
    Entered,
    /// Another execution holds the stage.
    Locked {
        by: String,
    },
    /// The stage's inbound transition is disabled.
    TransitionDisabled {
        reason: String,
    },
    /// An execution waiting for this stage before it goes first (QUEUED).
    Queued {
        behind: String,
    },
    /// A newer execution replaced this one while it waited (SUPERSEDED): its id.
    Superseded {
        by: String,
    },
}

/// Stage locks, waiting places and transitions.
pub struct StageGate<'a>(pub(crate) &'a Database);

/// The newest execution (by start time) waiting for the stage.
fn newest_waiting(
    transaction: &Transaction<'_>,
    pipeline: &str,
    stage: &str,
) -> rusqlite::Result<String> {
    transaction.query_row(
        "SELECT w.execution_id FROM stage_waits w JOIN executions e ON e.id = w.execution_id
         WHERE w.pipeline = ?1 AND w.stage = ?2 ORDER BY e.start_time DESC, w.arrival DESC LIMIT 1",
        params![pipeline, stage],
        |row| row.get(0),
    )
}

/// In SUPERSEDED mode only the newest waiting execution keeps waiting; the others are marked
/// superseded by it. Returns the newest.
fn supersede_older(
    transaction: &Transaction<'_>,
    pipeline: &str,
    stage: &str,
) -> rusqlite::Result<String> {
    let newest = newest_waiting(transaction, pipeline, stage)?;
    let older: Vec<String> = transaction
        .prepare("SELECT execution_id FROM stage_waits WHERE pipeline = ?1 AND stage = ?2 AND execution_id != ?3")?
        .query_map(params![pipeline, stage, newest], |row| row.get(0))?
        .collect::<rusqlite::Result<_>>()?;
    let summary = ExecutionRecord::superseded_summary(&newest, stage);
    for id in &older {
        transaction.execute(
            "UPDATE executions SET status = ?2, superseded_by = ?3, status_summary = ?5
             WHERE id = ?1 AND status = ?4",
            params![
                id,
                ExecutionStatus::Superseded,
                newest,
                ExecutionStatus::InProgress,
                summary
            ],
        )?;
        leave_queue(transaction, pipeline, stage, id)?;
    }
    Ok(newest)
}

fn leave_queue(
    transaction: &Transaction<'_>,
    pipeline: &str,
    stage: &str,
    id: &str,
) -> rusqlite::Result<()> {
    transaction
        .execute(
            "DELETE FROM stage_waits WHERE pipeline = ?1 AND stage = ?2 AND execution_id = ?3",
            params![pipeline, stage, id],
        )
        .map(drop)
}

/// Who else holds the stage, or who waits before `id`; `None` when `id` may enter.
fn occupied(
    transaction: &Transaction<'_>,
    pipeline: &str,
    stage: &str,
    id: &str,
) -> rusqlite::Result<Option<StageEntry>> {
    let holder: Option<String> = transaction
        .query_row(
            "SELECT l.execution_id FROM stage_locks l JOIN executions e ON e.id = l.execution_id
             WHERE l.pipeline = ?1 AND l.stage = ?2 AND l.execution_id != ?3 AND e.status IN (?4, ?5)",
            params![pipeline, stage, id, ExecutionStatus::InProgress, ExecutionStatus::Stopping],
            |row| row.get(0),
        )
        .optional()?;
    if let Some(by) = holder {
        return Ok(Some(StageEntry::Locked { by }));
    }
    let first: String = transaction.query_row(
        "SELECT execution_id FROM stage_waits WHERE pipeline = ?1 AND stage = ?2 ORDER BY arrival LIMIT 1",
        params![pipeline, stage],
        |row| row.get(0),
    )?;
    Ok((first != id).then_some(StageEntry::Queued { behind: first }))
}

impl StageGate<'_> {
    /// Try to move execution `id` into `stage` of `pipeline`.
    pub fn enter(
        &self,
        pipeline: &str,
        stage: &str,
        id: &str,
        sharing: StageSharing,
    ) -> Result<StageEntry> {
        self.0.transaction(|transaction| {
            let (status, superseded_by): (ExecutionStatus, Option<String>) = transaction.query_row(
                "SELECT status, superseded_by FROM executions WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            if status == ExecutionStatus::Superseded {
                return Ok(StageEntry::Superseded {
                    by: superseded_by.unwrap_or_default(),
                });
            }
            transaction.execute(
                "INSERT OR IGNORE INTO stage_waits (pipeline, stage, execution_id) VALUES (?1, ?2, ?3)",
                params![pipeline, stage, id],
            )?;
            if sharing == StageSharing::Superseded {
                let newest = supersede_older(transaction, pipeline, stage)?;
                if newest != id {
                    return Ok(StageEntry::Superseded { by: newest });
                }
            }
            let disabled: Option<String> = transaction
                .query_row(
                    "SELECT reason FROM disabled_transitions WHERE pipeline = ?1 AND stage = ?2",
                    params![pipeline, stage],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(reason) = disabled {
                return Ok(StageEntry::TransitionDisabled { reason });
            }
            if sharing != StageSharing::Parallel
                && let Some(blocked) = occupied(transaction, pipeline, stage, id)?
            {
                return Ok(blocked);
            }
            leave_queue(transaction, pipeline, stage, id)?;
            if sharing != StageSharing::Parallel {
                transaction.execute(
                    "INSERT OR REPLACE INTO stage_locks (pipeline, stage, execution_id, acquired) VALUES (?1, ?2, ?3, ?4)",
                    params![pipeline, stage, id, now()],
                )?;
            }
            Ok(StageEntry::Entered)
        })
    }

    /// Leave a stage the execution has finished: between stages it holds no lock, so a newer
    /// execution may catch up with it (and supersede it) at the next stage's door.
    pub fn leave(&self, pipeline: &str, stage: &str, id: &str) -> Result<()> {
        self.0
            .execute(
                "DELETE FROM stage_locks WHERE pipeline = ?1 AND stage = ?2 AND execution_id = ?3",
                params![pipeline, stage, id],
            )
            .map(drop)
    }

    /// Release every stage lock and waiting place of an execution that ended.
    pub fn release(&self, id: &str) -> Result<()> {
        self.0
            .execute("DELETE FROM stage_locks WHERE execution_id = ?1", [id])?;
        self.0
            .execute("DELETE FROM stage_waits WHERE execution_id = ?1", [id])
            .map(drop)
    }

    /// DisableStageTransition (inbound): executions wait before `stage` until it is enabled.
    pub fn disable_transition(&self, pipeline: &str, stage: &str, reason: &str) -> Result<()> {
        self.0.execute("INSERT OR REPLACE INTO disabled_transitions (pipeline, stage, reason, changed) VALUES (?1, ?2, ?3, ?4)",
                    params![pipeline, stage, reason, now()]).map(drop)
    }

    /// The pipeline's disabled inbound transitions: (stage, reason, when), for
    /// GetPipelineState.
    pub fn disabled_transitions(&self, pipeline: &str) -> Result<Vec<(String, String, String)>> {
        self.0.with(|connection| {
            connection
                .prepare(
                    "SELECT stage, reason, changed FROM disabled_transitions WHERE pipeline = ?1",
                )?
                .query_map([pipeline], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect()
        })
    }

    /// EnableStageTransition (inbound). Returns whether it was disabled.
    pub fn enable_transition(&self, pipeline: &str, stage: &str) -> Result<bool> {
        self.0
            .execute(
                "DELETE FROM disabled_transitions WHERE pipeline = ?1 AND stage = ?2",
                params![pipeline, stage],
            )
            .map(|n| n > 0)
    }
}
