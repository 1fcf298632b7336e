//! FailureDetails.type: how CodePipeline classes an action's failure.

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum FailureKind {
    JobFailed,
    ConfigurationError,
    PermissionError,
    RevisionOutOfSync,
    RevisionUnavailable,
    SystemUnavailable,
}

impl FailureKind {
    /// The name the API (and an execution record's `error.code`) uses.
    pub fn as_str(self) -> &'static str {
        match self {
            FailureKind::JobFailed => "JobFailed",
            FailureKind::ConfigurationError => "ConfigurationError",
            FailureKind::PermissionError => "PermissionError",
            FailureKind::RevisionOutOfSync => "RevisionOutOfSync",
            FailureKind::RevisionUnavailable => "RevisionUnavailable",
            FailureKind::SystemUnavailable => "SystemUnavailable",
        }
    }
}

impl std::fmt::Display for FailureKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}
