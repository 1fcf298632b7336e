//! The database: one SQLite file in WAL mode under the state directory, its schema and the
//! migrations of databases made by earlier versions.
//!
//! Every change is one short transaction, so a process killed at any moment (SIGKILL
//! included) leaves the database as of its last committed change; SQLite's journal makes
//! that atomic.

use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Duration;

use rusqlite::{Connection, Transaction, TransactionBehavior};

use crate::executions::ExecutionSummary;
use crate::record::{ActionStatus, ExecutionStatus, ExecutionType, StageStatus};

#[derive(Debug, thiserror::Error)]
pub enum StateError {
    #[error("state database {path}: {error}")]
    Database {
        path: String,
        error: rusqlite::Error,
    },
    /// No execution has this id or begins with it; `latest` is the state's newest, if any.
    #[error("no execution '{id}' in {state_dir}{}", latest_of(.latest))]
    NoSuchExecution {
        id: String,
        state_dir: String,
        latest: Option<Box<ExecutionSummary>>,
    },
    /// More than one execution begins with this prefix: how many, and the newest of them.
    #[error(
        "ambiguous execution id '{id}': it begins {count} executions: {}",
        listed(.candidates, *.count)
    )]
    AmbiguousExecution {
        id: String,
        count: usize,
        candidates: Vec<ExecutionSummary>,
    },
    #[error("state database {path}: a stored record is unreadable: {error}")]
    Corrupt { path: String, error: String },
    /// What is being stored contradicts what is there (an imported pipeline version).
    #[error("{0}")]
    Conflict(String),
}

pub type Result<T> = std::result::Result<T, StateError>;

fn latest_of(latest: &Option<Box<ExecutionSummary>>) -> String {
    match latest {
        Some(latest) => format!("; the latest is {}", latest.describe()),
        None => " (it has no executions)".into(),
    }
}

/// `a (…), b (…) and 3 more`: the candidates shown, and how many of `count` are not.
pub(crate) fn listed(candidates: &[ExecutionSummary], count: usize) -> String {
    let mut text = candidates
        .iter()
        .map(ExecutionSummary::describe)
        .collect::<Vec<_>>()
        .join(", ");
    if count > candidates.len() {
        text.push_str(&format!(" and {} more", count - candidates.len()));
    }
    text
}

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
    trigger TEXT,
    superseded_by TEXT,
    replay_of TEXT,
    determinism TEXT
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
CREATE TABLE IF NOT EXISTS tags (
    resource TEXT NOT NULL,
    key TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (resource, key)
);
CREATE TABLE IF NOT EXISTS iam_roles (
    name TEXT PRIMARY KEY,
    role_id TEXT NOT NULL,
    path TEXT NOT NULL,
    assume_role_policy TEXT NOT NULL,
    description TEXT,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS iam_role_policies (
    role TEXT NOT NULL,
    kind TEXT NOT NULL,
    name TEXT NOT NULL,
    document TEXT NOT NULL,
    PRIMARY KEY (role, kind, name)
);
CREATE TABLE IF NOT EXISTS webhooks (
    name TEXT PRIMARY KEY,
    definition TEXT NOT NULL,
    token TEXT NOT NULL UNIQUE,
    registered INTEGER NOT NULL,
    last_triggered TEXT,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS jobs (
    id TEXT PRIMARY KEY,
    nonce TEXT NOT NULL,
    action_type TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    status TEXT NOT NULL,
    data TEXT NOT NULL,
    result TEXT,
    created TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS jobs_by_type ON jobs (action_type, status, created);
CREATE TABLE IF NOT EXISTS stacks (
    name TEXT PRIMARY KEY,
    plan TEXT NOT NULL,
    updated TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS change_sets (
    stack TEXT NOT NULL,
    name TEXT NOT NULL,
    plan TEXT NOT NULL,
    created TEXT NOT NULL,
    PRIMARY KEY (stack, name)
);
CREATE TABLE IF NOT EXISTS action_types (
    id TEXT PRIMARY KEY,
    declaration TEXT NOT NULL,
    created TEXT NOT NULL
);
CREATE TABLE IF NOT EXISTS start_tokens (
    pipeline TEXT NOT NULL,
    token TEXT NOT NULL,
    execution_id TEXT NOT NULL,
    PRIMARY KEY (pipeline, token)
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

/// Columns added since the first release, added to databases made before them.
const ADDED_COLUMNS: &[(&str, &str, &str)] = &[
    ("executions", "trigger", "TEXT"),
    ("executions", "superseded_by", "TEXT"),
    ("executions", "replay_of", "TEXT"),
    ("executions", "determinism", "TEXT"),
    ("stage_executions", "rules", "TEXT"),
];

/// The connection to `<state_dir>/state.db`, shared by every handle of a store.
pub(crate) struct Database {
    path: PathBuf,
    connection: Mutex<Connection>,
    /// A second connection that only ever asks `PRAGMA data_version`, opened on first use
    /// (by `sandpipe serve`): it sees every commit as another connection's, this process's
    /// and others' alike, and is never held for longer than that one question.
    watcher: std::sync::OnceLock<Mutex<Connection>>,
}

impl Database {
    pub(crate) fn open(state_dir: &Path) -> Result<Self> {
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
        Ok(Database {
            path,
            connection: Mutex::new(connection),
            watcher: std::sync::OnceLock::new(),
        })
    }

    /// The state directory the database is in.
    pub(crate) fn state_dir(&self) -> String {
        let dir = self.path.parent().unwrap_or(&self.path);
        dir.display().to_string()
    }

    pub(crate) fn fail(&self, error: rusqlite::Error) -> StateError {
        StateError::Database {
            path: self.path.display().to_string(),
            error,
        }
    }

    pub(crate) fn corrupt(&self, error: impl std::fmt::Display) -> StateError {
        StateError::Corrupt {
            path: self.path.display().to_string(),
            error: error.to_string(),
        }
    }

    /// Run `work` on the connection (one statement is its own transaction).
    pub(crate) fn with<T>(
        &self,
        work: impl FnOnce(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        work(&connection).map_err(|e| self.fail(e))
    }

    /// One statement; how many rows it changed.
    pub(crate) fn execute(&self, sql: &str, params: impl rusqlite::Params) -> Result<usize> {
        self.with(|connection| connection.execute(sql, params))
    }

    /// A value that changes whenever anything is committed, by this process or any other:
    /// what a reader caching answers compares. Cheap enough for an async thread: the
    /// watcher connection is only ever held for one `PRAGMA data_version`.
    pub(crate) fn generation(&self) -> Result<i64> {
        let watcher = match self.watcher.get() {
            Some(watcher) => watcher,
            None => {
                let opened = Connection::open_with_flags(
                    &self.path,
                    rusqlite::OpenFlags::SQLITE_OPEN_READ_ONLY
                        | rusqlite::OpenFlags::SQLITE_OPEN_NO_MUTEX,
                )
                .map_err(|e| self.fail(e))?;
                // Two threads may both open one; the first kept wins, the other is dropped.
                let _ = self.watcher.set(Mutex::new(opened));
                self.watcher.get().expect("set just now")
            }
        };
        let watcher = watcher.lock().unwrap_or_else(|e| e.into_inner());
        watcher
            .prepare_cached("PRAGMA data_version")
            .and_then(|mut statement| statement.query_row([], |row| row.get(0)))
            .map_err(|e| self.fail(e))
    }

    /// Delete every row of every table, in one transaction (`serve --allow-reset`).
    pub(crate) fn wipe(&self) -> Result<()> {
        self.transaction(|transaction| {
            let tables: Vec<String> = transaction
                .prepare("SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'")?
                .query_map([], |row| row.get(0))?
                .collect::<rusqlite::Result<_>>()?;
            // Children first would matter for foreign keys; deferring them is simpler.
            transaction.execute_batch("PRAGMA defer_foreign_keys = ON")?;
            for table in tables {
                transaction.execute(&format!("DELETE FROM \"{table}\""), [])?;
            }
            Ok(())
        })
    }

    /// Run `work` in one immediate transaction, committed when it returns `Ok`: several
    /// processes deciding the same thing at once agree.
    pub(crate) fn transaction<T>(
        &self,
        work: impl FnOnce(&Transaction<'_>) -> rusqlite::Result<T>,
    ) -> Result<T> {
        let mut connection = self.connection.lock().unwrap_or_else(|e| e.into_inner());
        let transaction = connection
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| self.fail(e))?;
        let value = work(&transaction).map_err(|e| self.fail(e))?;
        transaction.commit().map_err(|e| self.fail(e))?;
        Ok(value)
    }
}

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

/// Closed sets stored as their API names, read back through the same enums.
macro_rules! stored_as_name {
    ($($ty:ty),* $(,)?) => {$(
        impl rusqlite::types::ToSql for $ty {
            fn to_sql(&self) -> rusqlite::Result<rusqlite::types::ToSqlOutput<'_>> {
                Ok(rusqlite::types::ToSqlOutput::from(self.as_str()))
            }
        }
        impl rusqlite::types::FromSql for $ty {
            fn column_result(
                value: rusqlite::types::ValueRef<'_>,
            ) -> rusqlite::types::FromSqlResult<Self> {
                let name = value.as_str()?;
                <$ty>::from_name(name).ok_or_else(|| {
                    rusqlite::types::FromSqlError::Other(
                        format!("'{name}' is not a {}", stringify!($ty)).into(),
                    )
                })
            }
        }
    )*};
}

stored_as_name!(ExecutionStatus, StageStatus, ActionStatus, ExecutionType);
pub(crate) use stored_as_name;
