//! Pipelines, their versions, and the records of their executions: created whole, updated
//! one action, stage or status at a time, read back whole.

use rusqlite::{OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::db::{Database, Result, StateError};
use crate::ownership::ProcessOwner;
use crate::record::{
    ActionRecord, ExecutionRecord, ExecutionStatus, ExecutionType, StageRecord, StageStatus, now,
};

/// One line of `sandpipe executions list`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecutionSummary {
    pub id: String,
    pub pipeline: String,
    pub pipeline_version: u32,
    pub status: ExecutionStatus,
    pub status_summary: Option<String>,
    pub start_time: String,
    pub end_time: Option<String>,
}

impl ExecutionSummary {
    /// `<id> (<pipeline>, <status>, <started>)`: enough to tell executions apart in a list.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, {}, {})",
            self.id,
            self.pipeline,
            self.status,
            self.started()
        )
    }

    /// When the execution started, to the second (`2026-01-02 10:11:12`, UTC).
    pub fn started(&self) -> String {
        self.start_time
            .get(..19)
            .unwrap_or(&self.start_time)
            .replace('T', " ")
    }
}

/// How many candidates an ambiguous execution id lists.
const CANDIDATES_SHOWN: usize = 10;

/// Pipelines and executions.
pub struct Executions<'a>(pub(crate) &'a Database);

/// The columns of an [`ExecutionSummary`], first in every query that reads one.
const SUMMARY_COLUMNS: &str =
    "id, pipeline, pipeline_version, status, status_summary, start_time, end_time";

fn summary(row: &rusqlite::Row<'_>) -> rusqlite::Result<ExecutionSummary> {
    Ok(ExecutionSummary {
        id: row.get(0)?,
        pipeline: row.get(1)?,
        pipeline_version: row.get(2)?,
        status: row.get(3)?,
        status_summary: row.get(4)?,
        start_time: row.get(5)?,
        end_time: row.get(6)?,
    })
}

fn to_json<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).expect("records always serialize")
}

impl Executions<'_> {
    /// Record the declaration a run uses; a changed declaration is a new pipeline version,
    /// as UpdatePipeline makes one. Returns the version.
    pub fn register_pipeline(
        &self,
        name: &str,
        declaration: &str,
        source_file: &str,
    ) -> Result<u32> {
        let digest = hex::encode(Sha256::digest(declaration.as_bytes()));
        let now = now();
        self.0.transaction(|transaction| {
            let current: Option<(u32, String)> = transaction
                .query_row(
                    "SELECT version, digest FROM pipelines WHERE name = ?1",
                    [name],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let version = match current {
                Some((version, known)) if known == digest => version,
                Some((version, _)) => {
                    transaction.execute(
                        "UPDATE pipelines SET version = ?2, digest = ?3, updated = ?4 WHERE name = ?1",
                        params![name, version + 1, digest, now],
                    )?;
                    version + 1
                }
                None => {
                    transaction.execute(
                        "INSERT INTO pipelines (name, version, digest, created, updated) VALUES (?1, 1, ?2, ?3, ?3)",
                        params![name, digest, now],
                    )?;
                    1
                }
            };
            transaction.execute(
                "INSERT OR IGNORE INTO pipeline_versions (name, version, declaration, source_file, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, version, declaration, source_file, now],
            )?;
            Ok(version)
        })
    }

    /// Keep version `version` of pipeline `name` as another state directory had it (a
    /// bundle's): added when this one has no such version, refused when it has another
    /// declaration under that number. The pipeline's current version becomes the highest.
    pub fn import_pipeline_version(
        &self,
        name: &str,
        version: u32,
        declaration: &str,
        source_file: &str,
    ) -> Result<()> {
        let digest = hex::encode(Sha256::digest(declaration.as_bytes()));
        let now = now();
        let conflict = self.0.transaction(|transaction| {
            let existing: Option<String> = transaction
                .query_row(
                    "SELECT declaration FROM pipeline_versions WHERE name = ?1 AND version = ?2",
                    params![name, version],
                    |row| row.get(0),
                )
                .optional()?;
            if let Some(known) = existing {
                return Ok(known != declaration);
            }
            transaction.execute(
                "INSERT INTO pipeline_versions (name, version, declaration, source_file, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, version, declaration, source_file, now],
            )?;
            transaction.execute(
                "INSERT INTO pipelines (name, version, digest, created, updated) VALUES (?1, ?2, ?3, ?4, ?4)
                 ON CONFLICT (name) DO UPDATE SET version = ?2, digest = ?3, updated = ?4
                 WHERE excluded.version > pipelines.version",
                params![name, version, digest, now],
            )?;
            Ok(false)
        })?;
        if conflict {
            return Err(StateError::Conflict(format!(
                "version {version} of pipeline '{name}' here is another declaration than the \
                 one being imported"
            )));
        }
        Ok(())
    }

    /// The declaration (JSON) of one version of a pipeline.
    pub fn declaration(&self, pipeline: &str, version: u32) -> Result<String> {
        self.0.with(|connection| {
            connection.query_row(
                "SELECT declaration FROM pipeline_versions WHERE name = ?1 AND version = ?2",
                params![pipeline, version],
                |row| row.get(0),
            )
        })
    }

    /// The latest version of a pipeline.
    pub fn pipeline_version(&self, pipeline: &str) -> Result<Option<u32>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    "SELECT version FROM pipelines WHERE name = ?1",
                    [pipeline],
                    |row| row.get(0),
                )
                .optional()
        })
    }

    /// Store a new execution with all its stages and actions, owned by `owner`.
    pub fn create(&self, record: &ExecutionRecord, owner: &ProcessOwner) -> Result<()> {
        self.0.transaction(|transaction| {
            transaction.execute(
                "INSERT INTO executions (id, pipeline, pipeline_version, status, source_file, start_time, owner_pid, owner_started, variables, execution_type, rollback_target, trigger, status_summary, replay_of, determinism)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
                params![
                    record.pipeline_execution_id,
                    record.pipeline_name,
                    record.pipeline_version,
                    record.status,
                    record.source_file,
                    record.start_time,
                    owner.pid,
                    owner.started,
                    to_json(&record.variables),
                    record.execution_type,
                    record.rollback_target,
                    record.trigger.as_ref().map(to_json),
                    record.status_summary,
                    record.replay_of,
                    record.determinism.as_ref().map(to_json),
                ],
            )?;
            for (s, stage) in record.stages.iter().enumerate() {
                transaction.execute(
                    "INSERT INTO stage_executions (execution_id, stage_index, name, status) VALUES (?1, ?2, ?3, ?4)",
                    params![record.pipeline_execution_id, s as i64, stage.name, stage.status],
                )?;
                for (a, action) in stage.actions.iter().enumerate() {
                    transaction.execute(
                        "INSERT INTO action_executions (execution_id, stage_index, action_index, record, status) VALUES (?1, ?2, ?3, ?4, ?5)",
                        params![record.pipeline_execution_id, s as i64, a as i64, to_json(action), action.status],
                    )?;
                }
            }
            Ok(())
        })
    }

    /// The execution's own status, summary and end.
    pub fn save_status(&self, record: &ExecutionRecord) -> Result<()> {
        self.0.execute("UPDATE executions SET status = ?2, status_summary = ?3, end_time = ?4 WHERE id = ?1",
                    params![record.pipeline_execution_id, record.status, record.status_summary, record.end_time]).map(drop)
    }

    pub fn save_stage(
        &self,
        execution_id: &str,
        stage_index: usize,
        stage: &StageRecord,
    ) -> Result<()> {
        self.0.execute("UPDATE stage_executions SET status = ?3, rules = ?4 WHERE execution_id = ?1 AND stage_index = ?2",
                    params![execution_id, stage_index as i64, stage.status, to_json(&stage.rules)]).map(drop)
    }

    pub fn save_action(
        &self,
        execution_id: &str,
        stage_index: usize,
        action_index: usize,
        action: &ActionRecord,
    ) -> Result<()> {
        self.0
            .execute(
                "UPDATE action_executions SET record = ?4, status = ?5
                     WHERE execution_id = ?1 AND stage_index = ?2 AND action_index = ?3",
                params![
                    execution_id,
                    stage_index as i64,
                    action_index as i64,
                    to_json(action),
                    action.status
                ],
            )
            .map(drop)
    }

    /// The execution `id` names: the one with exactly that id, else the only one whose id
    /// begins with it. Every command that takes an execution id resolves it here, so an
    /// ambiguous prefix lists its candidates and an unknown one names the latest execution.
    pub fn resolve(&self, id: &str) -> Result<ExecutionSummary> {
        let exact = format!("SELECT {SUMMARY_COLUMNS} FROM executions WHERE id = ?1");
        let prefixed = format!(
            "SELECT {SUMMARY_COLUMNS} FROM executions WHERE substr(id, 1, length(?1)) = ?1 \
             ORDER BY start_time DESC, id LIMIT ?2"
        );
        let (found, count) = self.0.with(|connection| {
            if let Some(found) = connection.query_row(&exact, [id], summary).optional()? {
                return Ok((vec![found], 1));
            }
            if id.is_empty() {
                return Ok((Vec::new(), 0));
            }
            let count: i64 = connection.query_row(
                "SELECT COUNT(*) FROM executions WHERE substr(id, 1, length(?1)) = ?1",
                [id],
                |row| row.get(0),
            )?;
            let found = connection
                .prepare(&prefixed)?
                .query_map(params![id, CANDIDATES_SHOWN as i64], summary)?
                .collect::<rusqlite::Result<Vec<_>>>()?;
            Ok((found, count as usize))
        })?;
        match count {
            1 => Ok(found.into_iter().next().expect("one was counted")),
            0 => Err(StateError::NoSuchExecution {
                id: id.to_string(),
                state_dir: self.0.state_dir(),
                latest: self.list(None, 1)?.pop().map(Box::new),
            }),
            count => Err(StateError::AmbiguousExecution {
                id: id.to_string(),
                count,
                candidates: found,
            }),
        }
    }

    /// The whole record of one execution; `id` is resolved as [`Self::resolve`] does.
    pub fn get(&self, id: &str) -> Result<ExecutionRecord> {
        let id = self.resolve(id)?.id;
        let query = format!(
            "SELECT {SUMMARY_COLUMNS}, source_file, execution_type, rollback_target, variables, \
             trigger, replay_of, determinism FROM executions WHERE id = ?1"
        );
        let (found, stages, actions) = self.0.with(|connection| {
            let found: (ExecutionRecord, String) = connection.query_row(&query, [&id], |row| {
                let summary = summary(row)?;
                let record = ExecutionRecord {
                    pipeline_execution_id: summary.id,
                    pipeline_name: summary.pipeline,
                    pipeline_version: summary.pipeline_version,
                    status: summary.status,
                    status_summary: summary.status_summary,
                    start_time: summary.start_time,
                    end_time: summary.end_time,
                    source_file: row.get(7)?,
                    execution_type: row.get(8)?,
                    rollback_target: row.get(9)?,
                    variables: Default::default(),
                    trigger: None,
                    replay_of: row.get(12)?,
                    determinism: None,
                    stages: Vec::new(),
                };
                // The JSON columns are parsed below, where a bad one is reported as such.
                let json = format!(
                    "[{},{},{}]",
                    row.get::<_, String>(10)?,
                    row.get::<_, Option<String>>(11)?.unwrap_or_else(|| "null".into()),
                    row.get::<_, Option<String>>(13)?.unwrap_or_else(|| "null".into())
                );
                Ok((record, json))
            })?;
            let stages: Vec<(String, StageStatus, Option<String>)> = connection
                .prepare("SELECT name, status, rules FROM stage_executions WHERE execution_id = ?1 ORDER BY stage_index")?
                .query_map([&id], |row| Ok((row.get(0)?, row.get(1)?, row.get(2)?)))?
                .collect::<rusqlite::Result<_>>()?;
            let actions: Vec<(usize, String)> = connection
                .prepare("SELECT stage_index, record FROM action_executions WHERE execution_id = ?1 ORDER BY stage_index, action_index")?
                .query_map([&id], |row| Ok((row.get::<_, i64>(0)? as usize, row.get(1)?)))?
                .collect::<rusqlite::Result<_>>()?;
            Ok((found, stages, actions))
        })?;
        let (mut record, json) = found;
        (record.variables, record.trigger, record.determinism) =
            serde_json::from_str(&json).map_err(|e| self.0.corrupt(e))?;
        record.stages = stages
            .into_iter()
            .map(|(name, status, rules)| {
                let rules = match rules {
                    Some(json) => serde_json::from_str(&json).map_err(|e| self.0.corrupt(e))?,
                    None => Vec::new(),
                };
                Ok(StageRecord {
                    name,
                    status,
                    actions: Vec::new(),
                    rules,
                })
            })
            .collect::<Result<_>>()?;
        for (stage_index, action) in actions {
            let action: ActionRecord =
                serde_json::from_str(&action).map_err(|e| self.0.corrupt(e))?;
            if let Some(stage) = record.stages.get_mut(stage_index) {
                stage.actions.push(action);
            }
        }
        Ok(record)
    }

    /// Executions, newest first, of one pipeline or all.
    pub fn list(&self, pipeline: Option<&str>, limit: usize) -> Result<Vec<ExecutionSummary>> {
        self.list_in(pipeline, &[], limit)
    }

    /// Executions, newest first, of one pipeline or all, in one of `statuses` (any status
    /// when it is empty): the latest running or failed one, say.
    pub fn list_in(
        &self,
        pipeline: Option<&str>,
        statuses: &[ExecutionStatus],
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>> {
        // The statuses are a closed set of API names, written into the query as literals.
        let in_statuses = match statuses {
            [] => String::new(),
            statuses => format!(
                " AND status IN ({})",
                statuses
                    .iter()
                    .map(|status| format!("'{status}'"))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
        };
        let query = format!(
            "SELECT {SUMMARY_COLUMNS} FROM executions WHERE (?1 IS NULL OR pipeline = ?1)\
             {in_statuses} ORDER BY start_time DESC, id LIMIT ?2"
        );
        self.0.with(|connection| {
            connection
                .prepare(&query)?
                .query_map(params![pipeline, limit as i64], summary)?
                .collect()
        })
    }

    /// The newest standard execution of `pipeline` that succeeded in stage `stage_index`
    /// (what RollbackStage rolls back to by default).
    pub fn latest_succeeded_in_stage(
        &self,
        pipeline: &str,
        stage_index: usize,
    ) -> Result<Option<String>> {
        self.newest_in_stage(
            "e.pipeline = ?1 AND e.execution_type = ?2 AND s.stage_index = ?3 AND s.status = ?4",
            params![
                pipeline,
                ExecutionType::Standard,
                stage_index as i64,
                StageStatus::Succeeded
            ],
        )
    }

    /// The newest execution of `pipeline` that entered the stage named `stage` (the
    /// stage's `latestExecution` in GetPipelineState).
    pub fn latest_in_stage_named(&self, pipeline: &str, stage: &str) -> Result<Option<String>> {
        self.newest_in_stage(
            "e.pipeline = ?1 AND s.name = ?2 AND s.status != ?3",
            params![pipeline, stage, StageStatus::NotStarted],
        )
    }

    /// An execution of the same pipeline that started after `record` and has entered stage
    /// `stage_index` since (RetryStageExecution's NotLatestPipelineExecutionException).
    pub fn newer_in_stage(
        &self,
        record: &ExecutionRecord,
        stage_index: usize,
    ) -> Result<Option<String>> {
        self.newest_in_stage(
            "e.pipeline = ?1 AND e.start_time > ?2 AND e.id != ?3 AND s.stage_index = ?4 \
             AND s.status != ?5",
            params![
                record.pipeline_name,
                record.start_time,
                record.pipeline_execution_id,
                stage_index as i64,
                StageStatus::NotStarted
            ],
        )
    }

    /// The newest execution whose row and stage row (`e`, `s`) match `condition`.
    fn newest_in_stage(
        &self,
        condition: &str,
        values: &[&dyn rusqlite::ToSql],
    ) -> Result<Option<String>> {
        let query = format!(
            "SELECT e.id FROM executions e JOIN stage_executions s ON s.execution_id = e.id \
             WHERE {condition} ORDER BY e.start_time DESC, e.id LIMIT 1"
        );
        self.0.with(|connection| {
            connection
                .query_row(&query, values, |row| row.get(0))
                .optional()
        })
    }
}
