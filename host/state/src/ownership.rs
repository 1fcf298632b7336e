//! Which process runs an execution. Executions remember their process (pid and its start
//! time), so a later process can tell an execution still running elsewhere from one whose
//! process died; what such an orphan becomes is the engine's decision, not the store's.

use rusqlite::params;

use crate::db::{Database, Result};
use crate::record::ExecutionStatus;

/// A process: its pid and the kernel's start time for it, so that a reused pid is not
/// mistaken for the original process.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProcessOwner {
    pub pid: u32,
    pub started: String,
}

impl ProcessOwner {
    /// This process.
    pub fn current() -> ProcessOwner {
        let pid = std::process::id();
        ProcessOwner {
            pid,
            started: process_start_time(pid).unwrap_or_default(),
        }
    }

    pub fn is_alive(&self) -> bool {
        process_start_time(self.pid).is_some_and(|started| started == self.started)
    }

    /// Read back what [`ProcessOwner`]'s `Display` wrote (`<pid> <start time>`).
    pub fn parse(text: &str) -> Option<ProcessOwner> {
        let (pid, started) = text.split_once(' ')?;
        Some(ProcessOwner {
            pid: pid.parse().ok()?,
            started: started.to_string(),
        })
    }
}

impl std::fmt::Display for ProcessOwner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}", self.pid, self.started)
    }
}

/// Field 22 of `/proc/<pid>/stat`: when the process started, in clock ticks since boot.
fn process_start_time(pid: u32) -> Option<String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses; fields follow its last ')'.
    let after_name = &stat[stat.rfind(')')? + 2..];
    after_name.split(' ').nth(19).map(str::to_string)
}

/// An execution whose process ended before the execution did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Orphan {
    pub id: String,
    pub pid: u32,
    /// Its status when the process died: running, stopping, or superseded while waiting.
    pub status: ExecutionStatus,
}

/// Which process owns which execution.
pub struct Ownership<'a>(pub(crate) &'a Database);

impl Ownership<'_> {
    /// Take over an ended execution to run it again (a retry): InProgress, owned by `owner`,
    /// no end, no stop request.
    pub fn claim(&self, id: &str, owner: &ProcessOwner) -> Result<()> {
        self.0
            .execute(
                "UPDATE executions SET status = ?4, status_summary = NULL, end_time = NULL,
                     stop_request = NULL, stop_reason = NULL, superseded_by = NULL,
                     owner_pid = ?2, owner_started = ?3 WHERE id = ?1",
                params![id, owner.pid, owner.started, ExecutionStatus::InProgress],
            )
            .map(drop)
    }

    /// Executions that have not ended but whose process is gone.
    pub fn orphans(&self) -> Result<Vec<Orphan>> {
        type Row = (String, u32, String, ExecutionStatus);
        let unended: Vec<Row> = self.0.with(|connection| {
            connection
                .prepare(
                    "SELECT id, owner_pid, owner_started, status FROM executions
                     WHERE status IN (?1, ?2) OR (status = ?3 AND end_time IS NULL)",
                )?
                .query_map(
                    params![
                        ExecutionStatus::InProgress,
                        ExecutionStatus::Stopping,
                        ExecutionStatus::Superseded
                    ],
                    |row| {
                        Ok((
                            row.get(0)?,
                            row.get::<_, Option<u32>>(1)?.unwrap_or(0),
                            row.get::<_, Option<String>>(2)?.unwrap_or_default(),
                            row.get(3)?,
                        ))
                    },
                )?
                .collect()
        })?;
        Ok(unended
            .into_iter()
            .filter(|(_, pid, started, _)| {
                !ProcessOwner {
                    pid: *pid,
                    started: started.clone(),
                }
                .is_alive()
            })
            .map(|(id, pid, _, status)| Orphan { id, pid, status })
            .collect())
    }
}
