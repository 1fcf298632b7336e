use crate::bindings::sandpipe::action::types as raw;
use crate::{ArtifactFile, CurrentRevision, FailureKind};

/// A successful (or still in progress) job: CodePipeline's PutJobSuccessResult.
#[derive(Debug)]
pub struct Outcome {
    raw: raw::Outcome,
}

impl Default for Outcome {
    fn default() -> Self {
        Outcome {
            raw: raw::Outcome {
                output_variables: Vec::new(),
                summary: None,
                external_execution_id: None,
                percent_complete: None,
                continuation_token: None,
                current_revision: None,
                artifact_files: Vec::new(),
            },
        }
    }
}

impl Outcome {
    pub fn new() -> Self {
        Self::default()
    }

    /// Publish an output variable under the action's namespace.
    pub fn variable(mut self, name: impl Into<String>, value: impl Into<String>) -> Self {
        self.raw.output_variables.push((name.into(), value.into()));
        self
    }

    pub fn summary(mut self, summary: impl Into<String>) -> Self {
        self.raw.summary = Some(summary.into());
        self
    }

    pub fn external_execution_id(mut self, id: impl Into<String>) -> Self {
        self.raw.external_execution_id = Some(id.into());
        self
    }

    pub fn percent_complete(mut self, percent: u8) -> Self {
        self.raw.percent_complete = Some(percent.min(100));
        self
    }

    /// Mark the job as still in progress: the host calls `run` again with this token.
    pub fn continue_with(mut self, token: impl Into<String>) -> Self {
        self.raw.continuation_token = Some(token.into());
        self
    }

    pub fn revision(mut self, revision: CurrentRevision) -> Self {
        self.raw.current_revision = Some(revision);
        self
    }

    /// Store output artifact `artifact` as the bytes of `file` (relative to its output
    /// directory), unchanged, instead of a zip of the directory.
    pub fn artifact_file(mut self, artifact: impl Into<String>, file: impl Into<String>) -> Self {
        self.raw.artifact_files.push(ArtifactFile {
            artifact: artifact.into(),
            file: file.into(),
        });
        self
    }

    pub(crate) fn into_raw(self) -> raw::Outcome {
        self.raw
    }
}

/// A failed job: CodePipeline's FailureDetails.
#[derive(Debug)]
pub struct Failure {
    pub kind: FailureKind,
    pub message: String,
    pub external_execution_id: Option<String>,
}

impl Failure {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        Failure {
            kind,
            message: message.into(),
            external_execution_id: None,
        }
    }

    pub fn job(message: impl Into<String>) -> Self {
        Self::new(FailureKind::JobFailed, message)
    }

    pub fn configuration(message: impl Into<String>) -> Self {
        Self::new(FailureKind::ConfigurationError, message)
    }

    pub fn permission(message: impl Into<String>) -> Self {
        Self::new(FailureKind::PermissionError, message)
    }

    pub fn revision_unavailable(message: impl Into<String>) -> Self {
        Self::new(FailureKind::RevisionUnavailable, message)
    }

    pub fn system(message: impl Into<String>) -> Self {
        Self::new(FailureKind::SystemUnavailable, message)
    }

    /// The id of the job in the system that ran it (a build id, a deployment id).
    pub fn with_external_execution_id(mut self, id: impl Into<String>) -> Self {
        self.external_execution_id = Some(id.into());
        self
    }

    /// A local I/O error while working on `what`.
    pub fn io(what: impl std::fmt::Display, error: std::io::Error) -> Self {
        Self::job(format!("{what}: {error}"))
    }

    pub(crate) fn into_raw(self) -> raw::Failure {
        raw::Failure {
            kind: self.kind,
            message: self.message,
            external_execution_id: self.external_execution_id,
        }
    }
}

impl std::fmt::Display for Failure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:?}: {}", self.kind, self.message)
    }
}
