//! Requests to stop a running execution (StopPipelineExecution), made from any process and
//! read by the process running it.

use rusqlite::params;

use crate::db::{Database, Result, stored_as_name};
use crate::executions::Executions;
use crate::record::{ExecutionStatus, api_names};

/// How an execution is asked to stop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StopMode {
    /// Running actions finish; nothing new starts.
    Stop,
    /// Running actions are abandoned at once.
    Abandon,
}

api_names!(StopMode { Stop => "Stop", Abandon => "Abandon" });
stored_as_name!(StopMode);

/// A stop request (StopPipelineExecution).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StopRequest {
    pub mode: StopMode,
    pub reason: Option<String>,
}

impl StopRequest {
    pub fn abandons(&self) -> bool {
        self.mode == StopMode::Abandon
    }
}

/// Why an execution cannot be stopped, as the API says.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum StopError {
    #[error(
        "PipelineExecutionNotStoppableException: execution {id} is {status} and cannot be stopped"
    )]
    NotStoppable { id: String, status: ExecutionStatus },
    #[error(
        "DuplicatedStopRequestException: execution {0} is already stopping; only --abandon can be added"
    )]
    Duplicated(String),
}

pub struct Control<'a>(pub(crate) &'a Database);

impl Control<'_> {
    /// Ask the process running `id` (an id or a unique prefix) to stop it. The execution
    /// becomes Stopping at once; an abandon request may follow a plain one, not the other
    /// way round. Returns the full id.
    pub fn request_stop(
        &self,
        id: &str,
        mode: StopMode,
        reason: Option<&str>,
    ) -> Result<std::result::Result<String, StopError>> {
        let id = Executions(self.0).get(id)?.pipeline_execution_id;
        self.0.transaction(|transaction| {
            let (status, request): (ExecutionStatus, Option<StopMode>) = transaction.query_row(
                "SELECT status, stop_request FROM executions WHERE id = ?1",
                [&id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )?;
            match (status, request, mode) {
                (ExecutionStatus::InProgress, _, _)
                | (ExecutionStatus::Stopping, Some(StopMode::Stop), StopMode::Abandon) => {}
                (ExecutionStatus::Stopping, _, _) => return Ok(Err(StopError::Duplicated(id))),
                (status, _, _) => return Ok(Err(StopError::NotStoppable { id, status })),
            }
            transaction.execute(
                "UPDATE executions SET status = ?2, stop_request = ?3, stop_reason = COALESCE(?4, stop_reason) WHERE id = ?1",
                params![id, ExecutionStatus::Stopping, mode, reason],
            )?;
            Ok(Ok(id))
        })
    }

    /// The stop request for `id`, if one was made.
    pub fn stop_request(&self, id: &str) -> Result<Option<StopRequest>> {
        let (mode, reason): (Option<StopMode>, Option<String>) = self.0.with(|connection| {
            connection.query_row(
                "SELECT stop_request, stop_reason FROM executions WHERE id = ?1",
                [id],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
        })?;
        Ok(mode.map(|mode| StopRequest { mode, reason }))
    }
}
