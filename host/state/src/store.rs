//! The state store: embedded SQLite in WAL mode under the state directory.
//!
//! Every change is one short transaction, so a process killed at any moment (SIGKILL
//! included) leaves the database as of its last committed change; SQLite's journal makes
//! that atomic. Executions remember the process running them (pid and its start time), so
//! a later process can tell an execution still running elsewhere from one whose process
//! died, and end the latter instead of leaving it InProgress forever.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, OptionalExtension, params};
use sha2::{Digest, Sha256};

use crate::record::{
    ActionRecord, ActionStatus, ExecutionRecord, ExecutionStatus, StageRecord, StageStatus,
};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database {path}: {error}")]
    Database {
        path: String,
        error: rusqlite::Error,
    },
    #[error("no execution '{0}'")]
    NoSuchExecution(String),
    #[error("state database {path}: a stored record is unreadable: {error}")]
    Corrupt { path: String, error: String },
}

pub type Result<T> = std::result::Result<T, StateError>;

const SCHEMA: &str = "
CREATE TABLE IF NOT EXISTS pipelines (
    name TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    digest TEXT NOT NULL,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS pipeline_versions (
    name TEXT NOT NULL,
    version INTEGER NOT NULL,
    declaration TEXT NOT NULL,
    source_file TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (name, version)
);
CREATE TABLE IF NOT EXISTS executions (
    id TEXT PRIMARY KEY,
    pipeline TEXT NOT NULL,
    pipeline_version INTEGER NOT NULL,
    status TEXT NOT NULL,
    status_summary TEXT,
    source_file TEXT NOT NULL,
    variables TEXT NOT NULL DEFAULT '{}',
    execution_type TEXT NOT NULL DEFAULT 'STANDARD',
    rollback_target TEXT,
    start_time TEXT NOT NULL,
    end_time TEXT,
    owner_pid INTEGER,
    owner_started TEXT,
    stop_request TEXT,
    stop_reason TEXT,
    trigger TEXT
);
CREATE INDEX IF NOT EXISTS executions_by_pipeline ON executions (pipeline, start_time);
CREATE TABLE IF NOT EXISTS stage_executions (
    execution_id TEXT NOT NULL REFERENCES executions (id),
    stage_index INTEGER NOT NULL,
    name TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (execution_id, stage_index)
);
CREATE TABLE IF NOT EXISTS approvals (
    token TEXT PRIMARY KEY,
    execution_id TEXT NOT NULL REFERENCES executions (id),
    pipeline TEXT NOT NULL,
    stage TEXT NOT NULL,
    action TEXT NOT NULL,
    status TEXT NOT NULL,
    summary TEXT,
    requested TEXT NOT NULL,
    expires TEXT NOT NULL,
    decided TEXT
);
CREATE INDEX IF NOT EXISTS approvals_by_action ON approvals (pipeline, stage, action, status);
CREATE TABLE IF NOT EXISTS stage_locks (
    pipeline TEXT NOT NULL,
    stage TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    acquired TEXT NOT NULL,
    PRIMARY KEY (pipeline, stage)
);
CREATE TABLE IF NOT EXISTS stage_waits (
    arrival INTEGER PRIMARY KEY AUTOINCREMENT,
    pipeline TEXT NOT NULL,
    stage TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    UNIQUE (pipeline, stage, execution_id)
);
CREATE TABLE IF NOT EXISTS disabled_transitions (
    pipeline TEXT NOT NULL,
    stage TEXT NOT NULL,
    reason TEXT NOT NULL,
    changed TEXT NOT NULL,
    PRIMARY KEY (pipeline, stage)
);
CREATE TABLE IF NOT EXISTS action_executions (
    execution_id TEXT NOT NULL REFERENCES executions (id),
    stage_index INTEGER NOT NULL,
    action_index INTEGER NOT NULL,
    record TEXT NOT NULL,
    status TEXT NOT NULL,
    PRIMARY KEY (execution_id, stage_index, action_index)
);
";

/// Put a database into WAL mode and create the schema. Several processes may open a new
/// database at once; switching to WAL does not always wait on the busy handler, so busy
/// answers are retried for a while, and the schema is created under one write lock.
fn initialize(connection: &Connection) -> rusqlite::Result<()> {
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let attempt = connection
            .query_row("PRAGMA journal_mode = WAL", [], |_| Ok(()))
            .and_then(|()| {
                connection.execute_batch(&format!(
                    "PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON; BEGIN IMMEDIATE; {SCHEMA} COMMIT;"
                ))
            });
        match attempt {
            Err(rusqlite::Error::SqliteFailure(error, _))
                if matches!(
                    error.code,
                    rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked
                ) && std::time::Instant::now() < deadline =>
            {
                let _ = connection.execute_batch("ROLLBACK");
                std::thread::sleep(Duration::from_millis(20));
            }
            Ok(()) => return add_missing_columns(connection),
            other => return other,
        }
    }
}

/// Columns added since the first release, added to databases made before them.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[("executions", "trigger", "TEXT")];

fn add_missing_columns(connection: &Connection) -> rusqlite::Result<()> {
    for (table, column, kind) in ADDED_COLUMNS {
        let present: i64 = connection.query_row(
            &format!("SELECT COUNT(*) FROM pragma_table_info('{table}') WHERE name = ?1"),
            [column],
            |row| row.get(0),
        )?;
        if present == 0 {
            match connection
                .execute_batch(&format!("ALTER TABLE {table} ADD COLUMN {column} {kind}"))
            {
                // Another process added it first.
                Err(rusqlite::Error::SqliteFailure(_, Some(message)))
                    if message.contains("duplicate column") => {}
                other => other?,
            }
        }
    }
    Ok(())
}

/// Which process runs an execution: its pid and the kernel's start time for it, so that a
/// reused pid is not mistaken for the original process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    pub pid: u32,
    pub started: String,
}

impl Owner {
    pub fn current() -> Owner {
        let pid = std::process::id();
        Owner {
            pid,
            started: process_start_time(pid).unwrap_or_default(),
        }
    }

    fn is_alive(&self) -> bool {
        process_start_time(self.pid).is_some_and(|started| started == self.started)
    }
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot.
fn process_start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields follow its last ')'.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(19).map(str::to_string)
}

/// Where a manual approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

impl ApprovalStatus {
    fn name(self) -> &'static str {
        match self {
            ApprovalStatus::Pending => "Pending",
            ApprovalStatus::Approved => "Approved",
            ApprovalStatus::Rejected => "Rejected",
            ApprovalStatus::Expired => "Expired",
        }
    }

    fn parse(name: &str) -> Option<Self> {
        [Self::Pending, Self::Approved, Self::Rejected, Self::Expired]
            .into_iter()
            .find(|s| s.name() == name)
    }
}

/// A decision on an approval, or why it could not be made (PutApprovalResult's errors).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ApprovalError {
    #[error("ActionNotFoundException: no approval is waiting in {pipeline}/{stage}/{action}")]
    NotWaiting {
        pipeline: String,
        stage: String,
        action: String,
    },
    #[error(
        "InvalidApprovalTokenException: the approval token is not valid for {pipeline}/{stage}/{action}"
    )]
    InvalidToken {
        pipeline: String,
        stage: String,
        action: String,
    },
    #[error("ApprovalAlreadyCompletedException: this approval was already {status}")]
    AlreadyCompleted { status: String },
}

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
    /// A newer execution replaced this one while it waited (SUPERSEDED).
    Superseded {
        by: String,
    },
}

/// A stop request (StopPipelineExecution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    /// Abandon running actions instead of letting them finish.
    pub abandon: bool,
    pub reason: Option<String>,
}

/// Why an execution cannot be stopped, as the API says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    #[error(
        "PipelineExecutionNotStoppableException: execution {id} is {status} and cannot be stopped"
    )]
    NotStoppable { id: String, status: String },
    #[error(
        "DuplicatedStopRequestException: execution {0} is already stopping; only --abandon can be added"
    )]
    Duplicated(String),
}

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

pub struct StateStore {
    path: PathBuf,
    connection: Mutex<Connection>,
}

impl StateStore {
    /// Open (creating if needed) `<state_dir>/state.db`.
    pub fn open(state_dir: &Path) -> Result<Self> {
        let path = state_dir.join("state.db");
        let fail = |error| StateError::Database {
            path: path.display().to_string(),
            error,
        };
        std::fs::create_dir_all(state_dir).map_err(|e| {
            fail(rusqlite::Error::InvalidPath(
                format!("{}: {e}", state_dir.display()).into(),
            ))
        })?;
        let connection = Connection::open(&path).map_err(fail)?;
        connection
            .busy_timeout(Duration::from_secs(30))
            .map_err(fail)?;
        initialize(&connection).map_err(fail)?;
        Ok(StateStore {
            path,
            connection: Mutex::new(connection),
        })
    }

    fn fail(&self, error: rusqlite::Error) -> StateError {
        StateError::Database {
            path: self.path.display().to_string(),
            error,
        }
    }

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
        let mut connection = self.connection.lock().unwrap();
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let current: Option<(u32, String)> = transaction
            .query_row(
                "SELECT version, digest FROM pipelines WHERE name = ?1",
                [name],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .optional()
            .map_err(|e| self.fail(e))?;
        let version = match current {
            Some((version, known)) if known == digest => version,
            Some((version, _)) => {
                transaction
                    .execute("UPDATE pipelines SET version = ?2, digest = ?3, updated = ?4 WHERE name = ?1", params![name, version + 1, digest, now])
                    .map_err(|e| self.fail(e))?;
                version + 1
            }
            None => {
                transaction
                    .execute("INSERT INTO pipelines (name, version, digest, created, updated) VALUES (?1, 1, ?2, ?3, ?3)", params![name, digest, now])
                    .map_err(|e| self.fail(e))?;
                1
            }
        };
        transaction
            .execute(
                "INSERT OR IGNORE INTO pipeline_versions (name, version, declaration, source_file, created) VALUES (?1, ?2, ?3, ?4, ?5)",
                params![name, version, declaration, source_file, now],
            )
            .map_err(|e| self.fail(e))?;
        transaction.commit().map_err(|e| self.fail(e))?;
        Ok(version)
    }

    /// Store a new execution with all its stages and actions, owned by `owner`.
    pub fn create_execution(
        &self,
        record: &ExecutionRecord,
        pipeline_version: u32,
        owner: &Owner,
    ) -> Result<()> {
        let mut connection = self.connection.lock().unwrap();
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        transaction
            .execute(
                "INSERT INTO executions (id, pipeline, pipeline_version, status, source_file, start_time, owner_pid, owner_started, variables, execution_type, rollback_target, trigger)
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
                params![
                    record.pipeline_execution_id,
                    record.pipeline_name,
                    pipeline_version,
                    name_of(&record.status),
                    record.source_file,
                    record.start_time,
                    owner.pid,
                    owner.started,
                    serde_json::to_string(&record.variables).expect("variables serialize"),
                    name_of(&record.execution_type),
                    record.rollback_target,
                    record
                        .trigger
                        .as_ref()
                        .map(|t| serde_json::to_string(t).expect("triggers serialize"))
                ],
            )
            .map_err(|e| self.fail(e))?;
        for (s, stage) in record.stages.iter().enumerate() {
            transaction
                .execute(
                    "INSERT INTO stage_executions (execution_id, stage_index, name, status) VALUES (?1, ?2, ?3, ?4)",
                    params![record.pipeline_execution_id, s as i64, stage.name, name_of(&stage.status)],
                )
                .map_err(|e| self.fail(e))?;
            for (a, action) in stage.actions.iter().enumerate() {
                insert_action(&transaction, &record.pipeline_execution_id, s, a, action)
                    .map_err(|e| self.fail(e))?;
            }
        }
        transaction.commit().map_err(|e| self.fail(e))
    }

    pub fn save_execution_status(&self, record: &ExecutionRecord) -> Result<()> {
        self.connection
            .lock()
            .unwrap()
            .execute(
                "UPDATE executions SET status = ?2, status_summary = ?3, end_time = ?4 WHERE id = ?1",
                params![record.pipeline_execution_id, name_of(&record.status), record.status_summary, record.end_time],
            )
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    pub fn save_stage(
        &self,
        execution_id: &str,
        stage_index: usize,
        stage: &StageRecord,
    ) -> Result<()> {
        self.connection
            .lock()
            .unwrap()
            .execute(
                "UPDATE stage_executions SET status = ?3 WHERE execution_id = ?1 AND stage_index = ?2",
                params![execution_id, stage_index as i64, name_of(&stage.status)],
            )
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    pub fn save_action(
        &self,
        execution_id: &str,
        stage_index: usize,
        action_index: usize,
        action: &ActionRecord,
    ) -> Result<()> {
        let connection = self.connection.lock().unwrap();
        let record = serde_json::to_string(action).expect("records always serialize");
        connection
            .execute(
                "UPDATE action_executions SET record = ?4, status = ?5
                 WHERE execution_id = ?1 AND stage_index = ?2 AND action_index = ?3",
                params![
                    execution_id,
                    stage_index as i64,
                    action_index as i64,
                    record,
                    name_of(&action.status)
                ],
            )
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// The whole record of one execution. `id` may be a unique prefix of an execution id.
    pub fn execution(&self, id: &str) -> Result<ExecutionRecord> {
        let connection = self.connection.lock().unwrap();
        let mut matches = connection
            .prepare("SELECT id, pipeline, status, status_summary, source_file, start_time, end_time, variables, pipeline_version, execution_type, rollback_target, trigger FROM executions WHERE id LIKE ?1 || '%' ESCAPE '\\' LIMIT 2")
            .map_err(|e| self.fail(e))?
            .query_map([id.replace('\\', "\\\\").replace('%', "\\%").replace('_', "\\_")], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, String>(2)?,
                    row.get::<_, Option<String>>(3)?,
                    row.get::<_, String>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                    row.get::<_, String>(7)?,
                    row.get::<_, u32>(8)?,
                    row.get::<_, String>(9)?,
                    row.get::<_, Option<String>>(10)?,
                    row.get::<_, Option<String>>(11)?,
                ))
            })
            .map_err(|e| self.fail(e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.fail(e))?;
        if matches.len() != 1 || id.is_empty() {
            return Err(StateError::NoSuchExecution(id.to_string()));
        }
        let (
            id,
            pipeline,
            status,
            status_summary,
            source_file,
            start_time,
            end_time,
            variables,
            pipeline_version,
            execution_type,
            rollback_target,
            trigger,
        ) = matches.remove(0);
        let mut stages: Vec<StageRecord> = connection
            .prepare("SELECT name, status FROM stage_executions WHERE execution_id = ?1 ORDER BY stage_index")
            .map_err(|e| self.fail(e))?
            .query_map([&id], |row| Ok((row.get::<_, String>(0)?, row.get::<_, String>(1)?)))
            .map_err(|e| self.fail(e))?
            .map(|row| {
                let (name, status) = row.map_err(|e| self.fail(e))?;
                Ok(StageRecord {
                    name,
                    status: self.parse(&status)?,
                    actions: Vec::new(),
                })
            })
            .collect::<Result<_>>()?;
        let actions = connection
            .prepare("SELECT stage_index, record FROM action_executions WHERE execution_id = ?1 ORDER BY stage_index, action_index")
            .map_err(|e| self.fail(e))?
            .query_map([&id], |row| Ok((row.get::<_, i64>(0)? as usize, row.get::<_, String>(1)?)))
            .map_err(|e| self.fail(e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.fail(e))?;
        for (stage_index, record) in actions {
            let action: ActionRecord =
                serde_json::from_str(&record).map_err(|e| self.corrupt(e))?;
            if let Some(stage) = stages.get_mut(stage_index) {
                stage.actions.push(action);
            }
        }
        Ok(ExecutionRecord {
            pipeline_name: pipeline,
            pipeline_version,
            pipeline_execution_id: id,
            status: self.parse(&status)?,
            status_summary,
            source_file,
            variables: serde_json::from_str(&variables).map_err(|e| self.corrupt(e))?,
            execution_type: self.parse(&execution_type)?,
            rollback_target,
            trigger: trigger
                .map(|t| serde_json::from_str(&t))
                .transpose()
                .map_err(|e| self.corrupt(e))?,
            start_time,
            end_time,
            stages,
        })
    }

    /// Executions, newest first, of one pipeline or all.
    pub fn list_executions(
        &self,
        pipeline: Option<&str>,
        limit: usize,
    ) -> Result<Vec<ExecutionSummary>> {
        let connection = self.connection.lock().unwrap();
        let mut statement = connection
            .prepare(
                "SELECT id, pipeline, pipeline_version, status, status_summary, start_time, end_time FROM executions
                 WHERE ?1 IS NULL OR pipeline = ?1 ORDER BY start_time DESC, id LIMIT ?2",
            )
            .map_err(|e| self.fail(e))?;
        let rows = statement
            .query_map(params![pipeline, limit as i64], |row| {
                Ok((
                    row.get::<_, String>(0)?,
                    row.get::<_, String>(1)?,
                    row.get::<_, u32>(2)?,
                    row.get::<_, String>(3)?,
                    row.get::<_, Option<String>>(4)?,
                    row.get::<_, String>(5)?,
                    row.get::<_, Option<String>>(6)?,
                ))
            })
            .map_err(|e| self.fail(e))?
            .collect::<std::result::Result<Vec<_>, _>>()
            .map_err(|e| self.fail(e))?;
        rows.into_iter()
            .map(
                |(id, pipeline, pipeline_version, status, status_summary, start_time, end_time)| {
                    Ok(ExecutionSummary {
                        id,
                        pipeline,
                        pipeline_version,
                        status: self.parse(&status)?,
                        status_summary,
                        start_time,
                        end_time,
                    })
                },
            )
            .collect()
    }

    /// End every execution whose process died while it was in progress: its running actions
    /// fail, its stages and itself become Failed with a reason. Returns the ids ended.
    pub fn recover(&self) -> Result<Vec<String>> {
        let orphans: Vec<(String, u32, String)> = {
            let connection = self.connection.lock().unwrap();
            let mut statement = connection
                .prepare("SELECT id, owner_pid, owner_started FROM executions WHERE status IN ('InProgress', 'Stopping')")
                .map_err(|e| self.fail(e))?;
            statement
                .query_map([], |row| {
                    Ok((
                        row.get(0)?,
                        row.get::<_, Option<u32>>(1)?.unwrap_or(0),
                        row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                    ))
                })
                .map_err(|e| self.fail(e))?
                .collect::<std::result::Result<Vec<_>, _>>()
                .map_err(|e| self.fail(e))?
        };
        let mut ended = Vec::new();
        for (id, pid, started) in orphans {
            if (Owner { pid, started }).is_alive() {
                continue;
            }
            let reason = format!(
                "the sandpipe process running this execution (pid {pid}) ended before it finished"
            );
            let mut record = self.execution(&id)?;
            let now = now();
            for (s, stage) in record.stages.iter_mut().enumerate() {
                for (a, action) in stage.actions.iter_mut().enumerate() {
                    if action.status == ActionStatus::InProgress {
                        action.status = ActionStatus::Failed;
                        action.end_time = Some(now.clone());
                        action.error = Some(crate::record::ErrorDetails {
                            code: "JobFailed".into(),
                            message: reason.clone(),
                        });
                        self.save_action(&id, s, a, action)?;
                    }
                }
                if stage.status == StageStatus::InProgress {
                    stage.status = StageStatus::Failed;
                    self.save_stage(&id, s, stage)?;
                }
            }
            self.connection
                .lock()
                .unwrap()
                .execute("UPDATE approvals SET status = 'Expired', decided = ?2 WHERE execution_id = ?1 AND status = 'Pending'", params![id, now])
                .map_err(|e| self.fail(e))?;
            record.status = ExecutionStatus::Failed;
            record.status_summary = Some(reason);
            record.end_time = Some(now);
            self.save_execution_status(&record)?;
            self.release_stages(&id)?;
            ended.push(id);
        }
        Ok(ended)
    }

    /// The declaration (JSON) of one version of a pipeline.
    pub fn declaration(&self, pipeline: &str, version: u32) -> Result<String> {
        self.connection
            .lock()
            .unwrap()
            .query_row(
                "SELECT declaration FROM pipeline_versions WHERE name = ?1 AND version = ?2",
                params![pipeline, version],
                |row| row.get(0),
            )
            .map_err(|e| self.fail(e))
    }

    /// The latest version of a pipeline.
    pub fn pipeline_version(&self, pipeline: &str) -> Result<Option<u32>> {
        self.connection
            .lock()
            .unwrap()
            .query_row(
                "SELECT version FROM pipelines WHERE name = ?1",
                [pipeline],
                |row| row.get(0),
            )
            .optional()
            .map_err(|e| self.fail(e))
    }

    /// Take over an ended execution to run it again (a retry): InProgress, owned by `owner`,
    /// no end, no stop request.
    pub fn claim_execution(&self, id: &str, owner: &Owner) -> Result<()> {
        self.connection
            .lock()
            .unwrap()
            .execute(
                "UPDATE executions SET status = 'InProgress', status_summary = NULL, end_time = NULL,
                 stop_request = NULL, stop_reason = NULL, owner_pid = ?2, owner_started = ?3 WHERE id = ?1",
                params![id, owner.pid, owner.started],
            )
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// StopPipelineExecution: ask the process running `id` to stop it. The execution becomes
    /// Stopping at once; an abandon request may follow a plain one, not the other way round.
    pub fn request_stop(
        &self,
        id: &str,
        abandon: bool,
        reason: Option<&str>,
    ) -> Result<std::result::Result<String, StopError>> {
        let record = self.execution(id)?;
        let id = record.pipeline_execution_id;
        let mut connection = self.connection.lock().unwrap();
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let (status, request): (String, Option<String>) = transaction
            .query_row(
                "SELECT status, stop_request FROM executions WHERE id = ?1",
                [&id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(|e| self.fail(e))?;
        match (status.as_str(), request.as_deref(), abandon) {
            ("InProgress", _, _) | ("Stopping", Some("Stop"), true) => {}
            ("Stopping", _, _) => return Ok(Err(StopError::Duplicated(id))),
            (other, _, _) => {
                return Ok(Err(StopError::NotStoppable {
                    id,
                    status: other.to_string(),
                }));
            }
        }
        transaction
            .execute(
                "UPDATE executions SET status = 'Stopping', stop_request = ?2, stop_reason = COALESCE(?3, stop_reason) WHERE id = ?1",
                params![id, if abandon { "Abandon" } else { "Stop" }, reason],
            )
            .map_err(|e| self.fail(e))?;
        transaction.commit().map_err(|e| self.fail(e))?;
        Ok(Ok(id))
    }

    /// The stop request for `id`, if one was made.
    pub fn stop_request(&self, id: &str) -> Result<Option<StopRequest>> {
        let (request, reason): (Option<String>, Option<String>) = self
            .connection
            .lock()
            .unwrap()
            .query_row(
                "SELECT stop_request, stop_reason FROM executions WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(|e| self.fail(e))?;
        Ok(request.map(|r| StopRequest {
            abandon: r == "Abandon",
            reason,
        }))
    }

    /// Try to move execution `id` into `stage` of `pipeline`. One immediate transaction
    /// decides, so several processes agree.
    pub fn enter_stage(
        &self,
        pipeline: &str,
        stage: &str,
        id: &str,
        sharing: StageSharing,
    ) -> Result<StageEntry> {
        let mut connection = self.connection.lock().unwrap();
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let fail = |e| self.fail(e);
        let status: String = transaction
            .query_row("SELECT status FROM executions WHERE id = ?1", [id], |row| {
                row.get(0)
            })
            .map_err(fail)?;
        if status == "Superseded" {
            let by: Option<String> = transaction
                .query_row(
                    "SELECT status_summary FROM executions WHERE id = ?1",
                    [id],
                    |row| row.get(0),
                )
                .map_err(fail)?;
            return Ok(StageEntry::Superseded {
                by: by.unwrap_or_default(),
            });
        }
        transaction
            .execute("INSERT OR IGNORE INTO stage_waits (pipeline, stage, execution_id) VALUES (?1, ?2, ?3)", params![pipeline, stage, id])
            .map_err(fail)?;
        if sharing == StageSharing::Superseded {
            // Only the newest waiting execution (by start time) keeps waiting.
            let newest: String = transaction
                .query_row(
                    "SELECT w.execution_id FROM stage_waits w JOIN executions e ON e.id = w.execution_id
                     WHERE w.pipeline = ?1 AND w.stage = ?2 ORDER BY e.start_time DESC, w.arrival DESC LIMIT 1",
                    params![pipeline, stage],
                    |row| row.get(0),
                )
                .map_err(fail)?;
            let superseded: Vec<String> = transaction
                .prepare("SELECT execution_id FROM stage_waits WHERE pipeline = ?1 AND stage = ?2 AND execution_id != ?3")
                .map_err(fail)?
                .query_map(params![pipeline, stage, newest], |row| row.get(0))
                .map_err(fail)?
                .collect::<std::result::Result<_, _>>()
                .map_err(fail)?;
            for older in &superseded {
                transaction
                    .execute(
                        "UPDATE executions SET status = 'Superseded', status_summary = ?2 WHERE id = ?1 AND status = 'InProgress'",
                        params![older, format!("superseded by execution {newest}, which is waiting for stage '{stage}'")],
                    )
                    .map_err(fail)?;
                transaction
                    .execute("DELETE FROM stage_waits WHERE pipeline = ?1 AND stage = ?2 AND execution_id = ?3", params![pipeline, stage, older])
                    .map_err(fail)?;
            }
            if newest != id {
                transaction.commit().map_err(fail)?;
                return Ok(StageEntry::Superseded { by: newest });
            }
        }
        let disabled: Option<String> = transaction
            .query_row(
                "SELECT reason FROM disabled_transitions WHERE pipeline = ?1 AND stage = ?2",
                params![pipeline, stage],
                |row| row.get(0),
            )
            .optional()
            .map_err(fail)?;
        let entry = if let Some(reason) = disabled {
            StageEntry::TransitionDisabled { reason }
        } else if sharing == StageSharing::Parallel {
            StageEntry::Entered
        } else {
            let holder: Option<String> = transaction
                .query_row(
                    "SELECT l.execution_id FROM stage_locks l JOIN executions e ON e.id = l.execution_id
                     WHERE l.pipeline = ?1 AND l.stage = ?2 AND l.execution_id != ?3 AND e.status IN ('InProgress', 'Stopping')",
                    params![pipeline, stage, id],
                    |row| row.get(0),
                )
                .optional()
                .map_err(fail)?;
            let first: String = transaction
                .query_row(
                    "SELECT execution_id FROM stage_waits WHERE pipeline = ?1 AND stage = ?2 ORDER BY arrival LIMIT 1",
                    params![pipeline, stage],
                    |row| row.get(0),
                )
                .map_err(fail)?;
            match holder {
                Some(by) => StageEntry::Locked { by },
                None if first != id => StageEntry::Queued { behind: first },
                None => StageEntry::Entered,
            }
        };
        if entry == StageEntry::Entered {
            transaction
                .execute("DELETE FROM stage_waits WHERE pipeline = ?1 AND stage = ?2 AND execution_id = ?3", params![pipeline, stage, id])
                .map_err(fail)?;
            if sharing != StageSharing::Parallel {
                transaction
                    .execute(
                        "INSERT OR REPLACE INTO stage_locks (pipeline, stage, execution_id, acquired) VALUES (?1, ?2, ?3, ?4)",
                        params![pipeline, stage, id, now()],
                    )
                    .map_err(fail)?;
            }
        }
        transaction.commit().map_err(fail)?;
        Ok(entry)
    }

    /// Leave a stage the execution has finished: between stages it holds no lock, so a newer
    /// execution may catch up with it (and supersede it) at the next stage's door.
    pub fn leave_stage(&self, pipeline: &str, stage: &str, id: &str) -> Result<()> {
        self.connection
            .lock()
            .unwrap()
            .execute(
                "DELETE FROM stage_locks WHERE pipeline = ?1 AND stage = ?2 AND execution_id = ?3",
                params![pipeline, stage, id],
            )
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// Release every stage lock and waiting place of an execution that ended.
    pub fn release_stages(&self, id: &str) -> Result<()> {
        let connection = self.connection.lock().unwrap();
        connection
            .execute("DELETE FROM stage_locks WHERE execution_id = ?1", [id])
            .and_then(|_| {
                connection.execute("DELETE FROM stage_waits WHERE execution_id = ?1", [id])
            })
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// DisableStageTransition (inbound): executions wait before `stage` until it is enabled.
    pub fn disable_transition(&self, pipeline: &str, stage: &str, reason: &str) -> Result<()> {
        self.connection
            .lock()
            .unwrap()
            .execute(
                "INSERT OR REPLACE INTO disabled_transitions (pipeline, stage, reason, changed) VALUES (?1, ?2, ?3, ?4)",
                params![pipeline, stage, reason, now()],
            )
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    /// EnableStageTransition (inbound). Returns whether it was disabled.
    pub fn enable_transition(&self, pipeline: &str, stage: &str) -> Result<bool> {
        self.connection
            .lock()
            .unwrap()
            .execute(
                "DELETE FROM disabled_transitions WHERE pipeline = ?1 AND stage = ?2",
                params![pipeline, stage],
            )
            .map(|n| n > 0)
            .map_err(|e| self.fail(e))
    }

    /// Open an approval for an action of a running execution; returns its token.
    pub fn request_approval(
        &self,
        execution_id: &str,
        pipeline: &str,
        stage: &str,
        action: &str,
        expires: &str,
    ) -> Result<String> {
        let token = uuid::Uuid::new_v4().to_string();
        self.connection
            .lock()
            .unwrap()
            .execute(
                "INSERT INTO approvals (token, execution_id, pipeline, stage, action, status, requested, expires)
                 VALUES (?1, ?2, ?3, ?4, ?5, 'Pending', ?6, ?7)",
                params![token, execution_id, pipeline, stage, action, now(), expires],
            )
            .map_err(|e| self.fail(e))?;
        Ok(token)
    }

    /// The status and summary of an approval.
    pub fn approval(&self, token: &str) -> Result<(ApprovalStatus, Option<String>)> {
        let (status, summary): (String, Option<String>) = self
            .connection
            .lock()
            .unwrap()
            .query_row(
                "SELECT status, summary FROM approvals WHERE token = ?1",
                [token],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
            .map_err(|e| self.fail(e))?;
        let status = ApprovalStatus::parse(&status)
            .ok_or_else(|| self.corrupt(format!("approval status '{status}'")))?;
        Ok((status, summary))
    }

    /// PutApprovalResult: approve or reject the approval waiting in pipeline/stage/action.
    /// With a token, it must be that approval's; a completed one cannot be decided again.
    pub fn decide_approval(
        &self,
        (pipeline, stage, action): (&str, &str, &str),
        token: Option<&str>,
        approve: bool,
        summary: &str,
    ) -> Result<std::result::Result<String, ApprovalError>> {
        let names = || (pipeline.to_string(), stage.to_string(), action.to_string());
        let mut connection = self.connection.lock().unwrap();
        let transaction = connection
            .transaction_with_behavior(rusqlite::TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let found: Option<(String, String)> = match token {
            Some(token) => transaction
                .query_row(
                    "SELECT token, status FROM approvals WHERE token = ?1 AND pipeline = ?2 AND stage = ?3 AND action = ?4",
                    params![token, pipeline, stage, action],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional(),
            None => transaction
                .query_row(
                    "SELECT token, status FROM approvals WHERE pipeline = ?1 AND stage = ?2 AND action = ?3 AND status = 'Pending'
                     ORDER BY requested DESC LIMIT 1",
                    params![pipeline, stage, action],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional(),
        }
        .map_err(|e| self.fail(e))?;
        let (token, status) = match (found, token) {
            (Some(found), _) => found,
            (None, Some(_)) => {
                let (pipeline, stage, action) = names();
                return Ok(Err(ApprovalError::InvalidToken {
                    pipeline,
                    stage,
                    action,
                }));
            }
            (None, None) => {
                let (pipeline, stage, action) = names();
                return Ok(Err(ApprovalError::NotWaiting {
                    pipeline,
                    stage,
                    action,
                }));
            }
        };
        if status != "Pending" {
            return Ok(Err(ApprovalError::AlreadyCompleted {
                status: status.to_lowercase(),
            }));
        }
        let decision = if approve {
            ApprovalStatus::Approved
        } else {
            ApprovalStatus::Rejected
        };
        transaction
            .execute(
                "UPDATE approvals SET status = ?2, summary = ?3, decided = ?4 WHERE token = ?1",
                params![token, decision.name(), summary, now()],
            )
            .map_err(|e| self.fail(e))?;
        transaction.commit().map_err(|e| self.fail(e))?;
        Ok(Ok(token))
    }

    /// End a pending approval without a decision (timed out, or its execution ended).
    pub fn expire_approval(&self, token: &str) -> Result<()> {
        self.connection
            .lock()
            .unwrap()
            .execute("UPDATE approvals SET status = 'Expired', decided = ?2 WHERE token = ?1 AND status = 'Pending'", params![token, now()])
            .map(drop)
            .map_err(|e| self.fail(e))
    }

    fn parse<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<T> {
        serde_json::from_value(serde_json::Value::String(name.to_string()))
            .map_err(|e| self.corrupt(e))
    }

    fn corrupt(&self, error: impl std::fmt::Display) -> StateError {
        StateError::Corrupt {
            path: self.path.display().to_string(),
            error: error.to_string(),
        }
    }
}

fn insert_action(
    transaction: &rusqlite::Transaction<'_>,
    execution_id: &str,
    s: usize,
    a: usize,
    action: &ActionRecord,
) -> rusqlite::Result<()> {
    let record = serde_json::to_string(action).expect("records always serialize");
    transaction
        .execute(
            "INSERT INTO action_executions (execution_id, stage_index, action_index, record, status) VALUES (?1, ?2, ?3, ?4, ?5)",
            params![execution_id, s as i64, a as i64, record, name_of(&action.status)],
        )
        .map(drop)
}

/// A status enum's name as stored (and as the API spells it).
fn name_of<T: serde::Serialize>(status: &T) -> String {
    match serde_json::to_value(status) {
        Ok(serde_json::Value::String(name)) => name,
        _ => unreachable!("statuses serialize as strings"),
    }
}

pub fn now() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::record::{ActionRecord, StageRecord};
    use std::collections::BTreeMap;

    fn record(id: &str) -> ExecutionRecord {
        let action = |name: &str| ActionRecord::not_started(name, "Source/AWS/S3/1".into(), 1);
        ExecutionRecord {
            pipeline_name: "p".into(),
            pipeline_version: 1,
            pipeline_execution_id: id.into(),
            status: ExecutionStatus::InProgress,
            status_summary: None,
            source_file: "p.json".into(),
            variables: BTreeMap::from([("Env".to_string(), "prod".to_string())]),
            execution_type: crate::record::ExecutionType::Standard,
            rollback_target: None,
            trigger: Some(crate::record::ExecutionTrigger {
                trigger_type: "StartPipelineExecution".into(),
                trigger_detail: "sandpipe run".into(),
            }),
            start_time: now(),
            end_time: None,
            stages: vec![
                StageRecord {
                    name: "Source".into(),
                    status: StageStatus::NotStarted,
                    actions: vec![action("A")],
                },
                StageRecord {
                    name: "Deploy".into(),
                    status: StageStatus::NotStarted,
                    actions: vec![action("B"), action("C")],
                },
            ],
        }
    }

    #[test]
    fn a_database_made_before_the_trigger_column_gets_it() {
        let dir = tempfile::tempdir().unwrap();
        let old = Connection::open(dir.path().join("state.db")).unwrap();
        old.execute_batch(
            "CREATE TABLE executions (id TEXT PRIMARY KEY, pipeline TEXT NOT NULL, \
             pipeline_version INTEGER NOT NULL, status TEXT NOT NULL, status_summary TEXT, \
             source_file TEXT NOT NULL, variables TEXT NOT NULL DEFAULT '{}', \
             execution_type TEXT NOT NULL DEFAULT 'STANDARD', rollback_target TEXT, \
             start_time TEXT NOT NULL, end_time TEXT, owner_pid INTEGER, owner_started TEXT, \
             stop_request TEXT, stop_reason TEXT);",
        )
        .unwrap();
        drop(old);
        let state = StateStore::open(dir.path()).unwrap();
        let record = record("e-old");
        state
            .create_execution(&record, 1, &Owner::current())
            .unwrap();
        assert_eq!(state.execution("e-old").unwrap().trigger, record.trigger);
        // Opening again finds the column there.
        drop(state);
        StateStore::open(dir.path()).unwrap();
    }

    #[test]
    fn many_processes_may_open_a_new_database_at_once() {
        // Threads stand in for processes: each opens its own connection to a fresh database.
        for _ in 0..20 {
            let dir = tempfile::tempdir().unwrap();
            let openers: Vec<_> = (0..6)
                .map(|_| {
                    let path = dir.path().to_path_buf();
                    std::thread::spawn(move || {
                        StateStore::open(&path)
                            .and_then(|state| state.list_executions(None, 1))
                            .map(drop)
                    })
                })
                .collect();
            for opener in openers {
                opener.join().unwrap().unwrap();
            }
        }
    }

    #[test]
    fn a_changed_declaration_is_a_new_version() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::open(dir.path()).unwrap();
        assert_eq!(
            state.register_pipeline("p", "{\"a\":1}", "p.json").unwrap(),
            1
        );
        assert_eq!(
            state.register_pipeline("p", "{\"a\":1}", "p.json").unwrap(),
            1
        );
        assert_eq!(
            state.register_pipeline("p", "{\"a\":2}", "p.json").unwrap(),
            2
        );
        assert_eq!(
            state.register_pipeline("q", "{\"a\":2}", "q.json").unwrap(),
            1
        );
    }

    #[test]
    fn records_round_trip_and_update_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::open(dir.path()).unwrap();
        let mut execution = record("0123-abcd");
        state
            .create_execution(&execution, 1, &Owner::current())
            .unwrap();
        execution.stages[1].actions[1].status = ActionStatus::Succeeded;
        execution.stages[1].actions[1]
            .output_variables
            .insert("K".into(), "V".into());
        state
            .save_action("0123-abcd", 1, 1, &execution.stages[1].actions[1])
            .unwrap();
        execution.stages[1].status = StageStatus::Succeeded;
        state
            .save_stage("0123-abcd", 1, &execution.stages[1])
            .unwrap();
        execution.status = ExecutionStatus::Succeeded;
        execution.end_time = Some(now());
        state.save_execution_status(&execution).unwrap();
        // Reopened, by a unique prefix of the id.
        let reopened = StateStore::open(dir.path()).unwrap();
        assert_eq!(reopened.execution("0123").unwrap(), execution);
        assert!(matches!(
            reopened.execution("9"),
            Err(StateError::NoSuchExecution(_))
        ));
        assert!(matches!(
            reopened.execution(""),
            Err(StateError::NoSuchExecution(_))
        ));
        assert!(matches!(
            reopened.execution("%"),
            Err(StateError::NoSuchExecution(_))
        ));
        let list = reopened.list_executions(Some("p"), 10).unwrap();
        assert_eq!(list.len(), 1);
        assert_eq!(list[0].status, ExecutionStatus::Succeeded);
    }

    #[test]
    fn executions_of_dead_processes_end_with_a_reason() {
        let dir = tempfile::tempdir().unwrap();
        let state = StateStore::open(dir.path()).unwrap();
        let mut orphan = record("orphan");
        orphan.stages[0].status = StageStatus::InProgress;
        orphan.stages[0].actions[0].status = ActionStatus::InProgress;
        let dead = Owner {
            pid: u32::MAX - 1,
            started: "1".into(),
        };
        state.create_execution(&orphan, 1, &dead).unwrap();
        state
            .create_execution(&record("alive"), 1, &Owner::current())
            .unwrap();

        assert_eq!(state.recover().unwrap(), ["orphan"]);
        let ended = state.execution("orphan").unwrap();
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
            state.execution("alive").unwrap().status,
            ExecutionStatus::InProgress
        );
        assert!(state.recover().unwrap().is_empty());
    }
}
