//! Manual approvals: opened by the execution that waits, decided from any process
//! (PutApprovalResult), expired when their time runs out or their execution ends.

use rusqlite::{OptionalExtension, params};

use crate::db::{Database, Result, stored_as_name};
use crate::record::{api_names, now};

/// Where a manual approval stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ApprovalStatus {
    Pending,
    Approved,
    Rejected,
    Expired,
}

api_names!(ApprovalStatus {
    Pending => "Pending",
    Approved => "Approved",
    Rejected => "Rejected",
    Expired => "Expired",
});
stored_as_name!(ApprovalStatus);

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

/// Where an approval waits: pipeline, stage and action names.
pub type ApprovalPlace<'a> = (&'a str, &'a str, &'a str);

pub struct Approvals<'a>(pub(crate) &'a Database);

impl Approvals<'_> {
    /// Open an approval for an action of a running execution; returns its token.
    pub fn open(
        &self,
        execution_id: &str,
        (pipeline, stage, action): ApprovalPlace<'_>,
        expires: &str,
    ) -> Result<String> {
        let token = uuid::Uuid::new_v4().to_string();
        self.0.execute(
            "INSERT INTO approvals (token, execution_id, pipeline, stage, action, status, requested, expires)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            params![token, execution_id, pipeline, stage, action, ApprovalStatus::Pending, now(), expires],
        )?;
        Ok(token)
    }

    /// The pending approval's token for each (stage, action) of an execution that waits
    /// (GetPipelineState's `latestExecution.token`).
    pub fn pending_of(&self, execution_id: &str) -> Result<Vec<(String, String, String)>> {
        self.0.with(|connection| {
            connection
                .prepare(
                    "SELECT stage, action, token FROM approvals \
                     WHERE execution_id = ?1 AND status = ?2",
                )?
                .query_map(params![execution_id, ApprovalStatus::Pending], |row| {
                    Ok((row.get(0)?, row.get(1)?, row.get(2)?))
                })?
                .collect()
        })
    }

    /// The status and summary of an approval.
    pub fn status(&self, token: &str) -> Result<(ApprovalStatus, Option<String>)> {
        self.0.with(|connection| {
            connection.query_row(
                "SELECT status, summary FROM approvals WHERE token = ?1",
                [token],
                |row| Ok((row.get(0)?, row.get(1)?)),
            )
        })
    }

    /// PutApprovalResult: approve or reject the approval waiting in `place`. With a token,
    /// it must be that approval's; a completed one cannot be decided again. Returns the
    /// token decided.
    pub fn decide(
        &self,
        place: ApprovalPlace<'_>,
        token: Option<&str>,
        approve: bool,
        summary: &str,
    ) -> Result<std::result::Result<String, ApprovalError>> {
        let (pipeline, stage, action) = place;
        let names = || (pipeline.to_string(), stage.to_string(), action.to_string());
        self.0.transaction(|transaction| {
            let found: Option<(String, ApprovalStatus)> = match token {
                Some(token) => transaction
                    .query_row(
                        "SELECT token, status FROM approvals WHERE token = ?1 AND pipeline = ?2 AND stage = ?3 AND action = ?4",
                        params![token, pipeline, stage, action],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?,
                None => transaction
                    .query_row(
                        "SELECT token, status FROM approvals WHERE pipeline = ?1 AND stage = ?2 AND action = ?3 AND status = ?4
                         ORDER BY requested DESC LIMIT 1",
                        params![pipeline, stage, action, ApprovalStatus::Pending],
                        |row| Ok((row.get(0)?, row.get(1)?)),
                    )
                    .optional()?,
            };
            let (token, status) = match (found, token) {
                (Some(found), _) => found,
                (None, Some(_)) => {
                    let (pipeline, stage, action) = names();
                    return Ok(Err(ApprovalError::InvalidToken { pipeline, stage, action }));
                }
                (None, None) => {
                    let (pipeline, stage, action) = names();
                    return Ok(Err(ApprovalError::NotWaiting { pipeline, stage, action }));
                }
            };
            if status != ApprovalStatus::Pending {
                return Ok(Err(ApprovalError::AlreadyCompleted {
                    status: status.as_str().to_lowercase(),
                }));
            }
            let decision = if approve {
                ApprovalStatus::Approved
            } else {
                ApprovalStatus::Rejected
            };
            transaction.execute(
                "UPDATE approvals SET status = ?2, summary = ?3, decided = ?4 WHERE token = ?1",
                params![token, decision, summary, now()],
            )?;
            Ok(Ok(token))
        })
    }

    /// End a pending approval without a decision (timed out, or abandoned).
    pub fn expire(&self, token: &str) -> Result<()> {
        self.expire_where("token", token)
    }

    /// End every pending approval of an execution that ended.
    pub fn expire_all_of(&self, execution_id: &str) -> Result<()> {
        self.expire_where("execution_id", execution_id)
    }

    fn expire_where(&self, column: &str, value: &str) -> Result<()> {
        let update = format!(
            "UPDATE approvals SET status = ?3, decided = ?2 WHERE {column} = ?1 AND status = ?4"
        );
        let expired = params![
            value,
            now(),
            ApprovalStatus::Expired,
            ApprovalStatus::Pending
        ];
        self.0.execute(&update, expired).map(drop)
    }
}
