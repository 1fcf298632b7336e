//! Jobs for job workers: an action of a custom type with no wasm provider becomes a job that
//! a worker takes with PollForJobs, acknowledges with its nonce and ends with
//! PutJobSuccessResult or PutJobFailureResult — CodePipeline's job-worker protocol, with the
//! job's state here so any process (the server, the engine waiting on it) sees it.

use rusqlite::{OptionalExtension, params};

use crate::db::{Database, Result, stored_as_name};
use crate::record::{api_names, now};

/// Where a job is in its life, by the API's names.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobStatus {
    /// Waiting for a worker to poll.
    Queued,
    /// Handed to a worker, not yet acknowledged.
    Dispatched,
    InProgress,
    Succeeded,
    Failed,
    /// Ended by the engine (timed out, or the execution was abandoned).
    TimedOut,
}

api_names!(JobStatus {
    Queued => "Queued",
    Dispatched => "Dispatched",
    InProgress => "InProgress",
    Succeeded => "Succeeded",
    Failed => "Failed",
    TimedOut => "TimedOut",
});
stored_as_name!(JobStatus);

/// One job as the store has it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Job {
    pub id: String,
    pub nonce: String,
    pub action_type: String,
    pub execution_id: String,
    pub status: JobStatus,
    /// The JobData document (JSON) the engine made.
    pub data: String,
    /// What the worker reported (JSON), once it has.
    pub result: Option<String>,
}

/// Why a job operation was refused, in the API's words.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JobError {
    #[error("JobNotFoundException: no job with id '{0}'")]
    NotFound(String),
    #[error("InvalidNonceException: the nonce does not match job '{0}'")]
    InvalidNonce(String),
    #[error("InvalidJobStateException: job '{id}' is {status} and can no longer be changed")]
    InvalidState { id: String, status: String },
}

pub struct Jobs<'a>(pub(crate) &'a Database);

const COLUMNS: &str = "id, nonce, action_type, execution_id, status, data, result";

fn job(row: &rusqlite::Row<'_>) -> rusqlite::Result<Job> {
    Ok(Job {
        id: row.get(0)?,
        nonce: row.get(1)?,
        action_type: row.get(2)?,
        execution_id: row.get(3)?,
        status: row.get(4)?,
        data: row.get(5)?,
        result: row.get(6)?,
    })
}

impl Jobs<'_> {
    /// A job for workers of `action_type`, starting as `status` (`Queued` for one a worker
    /// polls for, `InProgress` for one handed straight to its worker: a Lambda function is
    /// invoked, not polled); its id.
    pub fn create(
        &self,
        action_type: &str,
        execution_id: &str,
        data: &str,
        status: JobStatus,
    ) -> Result<String> {
        let id = uuid::Uuid::new_v4().to_string();
        let nonce = uuid::Uuid::new_v4().simple().to_string();
        let now = now();
        self.0.execute(
            &format!(
                "INSERT INTO jobs ({COLUMNS}, created, updated) VALUES (?1, ?2, ?3, ?4, ?5, ?6, NULL, ?7, ?7)"
            ),
            params![id, nonce, action_type, execution_id, status, data, now],
        )?;
        Ok(id)
    }

    pub fn get(&self, id: &str) -> Result<Option<Job>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    &format!("SELECT {COLUMNS} FROM jobs WHERE id = ?1"),
                    [id],
                    job,
                )
                .optional()
        })
    }

    /// PollForJobs: up to `max` queued jobs of `action_type` that `accept` takes, oldest
    /// first, now Dispatched.
    pub fn poll(
        &self,
        action_type: &str,
        max: usize,
        accept: impl Fn(&Job) -> bool,
    ) -> Result<Vec<Job>> {
        self.0.transaction(|transaction| {
            let queued: Vec<Job> = transaction
                .prepare(&format!(
                    "SELECT {COLUMNS} FROM jobs WHERE action_type = ?1 AND status = ?2 ORDER BY created, id"
                ))?
                .query_map(params![action_type, JobStatus::Queued], job)?
                .collect::<rusqlite::Result<_>>()?;
            let mut taken = Vec::new();
            for mut job in queued.into_iter().filter(|j| accept(j)).take(max) {
                transaction.execute(
                    "UPDATE jobs SET status = ?2, updated = ?3 WHERE id = ?1",
                    params![job.id, JobStatus::Dispatched, now()],
                )?;
                job.status = JobStatus::Dispatched;
                taken.push(job);
            }
            Ok(taken)
        })
    }

    /// AcknowledgeJob: a dispatched job becomes InProgress; its status after.
    pub fn acknowledge(
        &self,
        id: &str,
        nonce: &str,
    ) -> Result<std::result::Result<JobStatus, JobError>> {
        self.0.transaction(|transaction| {
            let found: Option<(String, JobStatus)> = transaction
                .query_row(
                    "SELECT nonce, status FROM jobs WHERE id = ?1",
                    [id],
                    |row| Ok((row.get(0)?, row.get(1)?)),
                )
                .optional()?;
            let Some((expected, status)) = found else {
                return Ok(Err(JobError::NotFound(id.to_string())));
            };
            if expected != nonce {
                return Ok(Err(JobError::InvalidNonce(id.to_string())));
            }
            if status == JobStatus::Dispatched {
                transaction.execute(
                    "UPDATE jobs SET status = ?2, updated = ?3 WHERE id = ?1",
                    params![id, JobStatus::InProgress, now()],
                )?;
                return Ok(Ok(JobStatus::InProgress));
            }
            Ok(Ok(status))
        })
    }

    /// PutJobSuccessResult / PutJobFailureResult (with `result` the worker's report), or
    /// the engine ending it (TimedOut): only a job a worker holds, or any unfinished one for
    /// the engine.
    pub fn finish(
        &self,
        id: &str,
        status: JobStatus,
        result: &str,
    ) -> Result<std::result::Result<(), JobError>> {
        self.0.transaction(|transaction| {
            let current: Option<JobStatus> = transaction
                .query_row("SELECT status FROM jobs WHERE id = ?1", [id], |row| {
                    row.get(0)
                })
                .optional()?;
            let Some(current) = current else {
                return Ok(Err(JobError::NotFound(id.to_string())));
            };
            let open = match status {
                JobStatus::TimedOut => matches!(
                    current,
                    JobStatus::Queued | JobStatus::Dispatched | JobStatus::InProgress
                ),
                _ => matches!(current, JobStatus::Dispatched | JobStatus::InProgress),
            };
            if !open {
                return Ok(Err(JobError::InvalidState {
                    id: id.to_string(),
                    status: current.as_str().to_string(),
                }));
            }
            transaction.execute(
                "UPDATE jobs SET status = ?2, result = ?3, updated = ?4 WHERE id = ?1",
                params![id, status, result, now()],
            )?;
            Ok(Ok(()))
        })
    }
}
