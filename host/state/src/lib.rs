//! What sandpipe remembers between runs: pipelines and their versions, executions, stage and
//! action executions, approvals and stop requests, in embedded SQLite.
//!
//! [`StateStore`] opens the database; each concern is a typed handle on it:
//! [`StateStore::executions`] (records), [`StateStore::stage_gate`] (execution modes and
//! transitions), [`StateStore::approvals`], [`StateStore::control`] (stop requests) and
//! [`StateStore::ownership`] (which process runs what) and [`StateStore::pipelines`]
//! (pipelines as API resources: metadata, deletion, tags, start tokens) and
//! [`StateStore::stacks`] (local CloudFormation plans). Statuses are stored as their API
//! names through the enums of [`record`]; the store decides no domain outcome itself.

mod action_types;
mod approvals;
mod control;
mod db;
mod executions;
mod iam;
mod jobs;
mod ownership;
mod pipelines;
pub mod record;
mod stacks;
mod stage_gate;
#[doc(hidden)]
pub mod testing;
mod webhooks;

use std::path::Path;

pub use action_types::ActionTypes;
pub use approvals::{ApprovalError, ApprovalPlace, ApprovalStatus, Approvals};
pub use control::{Control, StopError, StopMode, StopRequest};
pub use db::{Result, StateError};
pub use executions::{ExecutionSummary, Executions};
pub use iam::{Iam, Role};
pub use jobs::{Job, JobError, JobStatus, Jobs};
pub use ownership::{Orphan, Ownership, ProcessOwner};
pub use pipelines::{PipelineMeta, Pipelines};
pub use record::{
    ActionRecord, ActionStatus, ArtifactFormat, ArtifactRecord, CurrentRevision, Determinism,
    ErrorDetails, ExecutionRecord, ExecutionStatus, ExecutionTrigger, ExecutionType, RuleRecord,
    SourceRevisionRecord, StageRecord, StageStatus, TestFailure, TestReportSummary, now,
};
pub use stacks::{Stacks, StoredPlan};
pub use stage_gate::{StageEntry, StageGate, StageSharing};
pub use webhooks::{Webhook, Webhooks};

/// The state of one state directory (`<state_dir>/state.db`).
pub struct StateStore {
    db: db::Database,
}

impl StateStore {
    /// Open (creating if needed) `<state_dir>/state.db`.
    pub fn open(state_dir: &Path) -> Result<Self> {
        Ok(StateStore {
            db: db::Database::open(state_dir)?,
        })
    }

    pub fn executions(&self) -> Executions<'_> {
        Executions(&self.db)
    }

    /// The local CloudFormation stacks and change sets deploy actions planned.
    pub fn stacks(&self) -> Stacks<'_> {
        Stacks(&self.db)
    }

    pub fn stage_gate(&self) -> StageGate<'_> {
        StageGate(&self.db)
    }

    pub fn approvals(&self) -> Approvals<'_> {
        Approvals(&self.db)
    }

    pub fn control(&self) -> Control<'_> {
        Control(&self.db)
    }

    pub fn ownership(&self) -> Ownership<'_> {
        Ownership(&self.db)
    }

    pub fn action_types(&self) -> ActionTypes<'_> {
        ActionTypes(&self.db)
    }

    pub fn webhooks(&self) -> Webhooks<'_> {
        Webhooks(&self.db)
    }

    pub fn jobs(&self) -> Jobs<'_> {
        Jobs(&self.db)
    }

    pub fn iam(&self) -> Iam<'_> {
        Iam(&self.db)
    }

    /// Changes whenever anything in the state changes, whichever process changed it (see
    /// its use in `sandpipe serve`: an answer computed at one generation holds until the
    /// next). Short enough to ask on an async thread.
    pub fn generation(&self) -> Result<i64> {
        self.db.generation()
    }

    /// Forget everything: every pipeline, execution, approval, role and token.
    pub fn wipe(&self) -> Result<()> {
        self.db.wipe()
    }

    pub fn pipelines(&self) -> Pipelines<'_> {
        Pipelines(&self.db)
    }
}

#[cfg(test)]
mod tests;
