//! What sandpipe remembers between runs: pipelines and their versions, executions, stage and
//! action executions, in embedded SQLite.

pub mod record;
pub mod store;

pub use record::{
    ActionRecord, ActionStatus, ArtifactFormat, ArtifactRecord, ErrorDetails, ExecutionRecord,
    ExecutionStatus, ExecutionTrigger, ExecutionType, RevisionRecord, SourceRevision, StageRecord,
    StageStatus, TestFailure, TestReportSummary,
};
pub use store::{
    ApprovalError, ApprovalStatus, ExecutionSummary, Owner, StageEntry, StageSharing, StateError,
    StateStore, StopError, StopRequest, now,
};
