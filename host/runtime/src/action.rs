//! What one action execution is given and what it gives back, in the host's own types. The
//! WIT bindings stay inside this crate; [`crate::boundary`] converts at the edge, as Zed's
//! extension host does, so the engine never sees a generated type.

use std::collections::BTreeMap;
use std::time::Duration;

use sandpipe_model::ActionTypeId;
pub use sandpipe_model::execution::CurrentRevision;
use sandpipe_model::execution::{FailureKind, SourceRevision};

use crate::sandbox::Sandbox;

/// JobData: one execution of an action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionRequest {
    pub pipeline: String,
    pub stage: String,
    pub action: String,
    /// The pipeline execution id (a UUID).
    pub execution_id: String,
    pub action_type: ActionTypeId,
    /// With every `#{namespace.variable}` already resolved.
    pub configuration: BTreeMap<String, String>,
    /// The revision the execution was started with for this (source) action, if any.
    pub started_with: Option<SourceRevision>,
    pub inputs: Vec<InputArtifact>,
    pub outputs: Vec<OutputArtifact>,
    /// Values that must never appear in the action's log or result (configuration secrets).
    pub masked: Vec<String>,
}

/// An input artifact, already extracted into the sandbox.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InputArtifact {
    pub name: String,
    /// Guest path of the extracted tree, `/in/<name>`.
    pub path: String,
    /// Guest path of the stored bytes, `/archives/<name>`.
    pub archive: String,
    /// The source revision it came from, when known.
    pub revision: Option<String>,
}

impl InputArtifact {
    /// Input artifact `name`, where [`Sandbox::add_input`] puts it.
    pub fn staged(name: &str, revision: Option<String>) -> Self {
        let (path, archive) = Sandbox::input_paths(name);
        InputArtifact {
            name: name.to_string(),
            path,
            archive,
            revision,
        }
    }
}

/// An output artifact the action fills.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutputArtifact {
    pub name: String,
    /// Guest path of its directory, `/out/<name>`.
    pub path: String,
}

impl OutputArtifact {
    /// Output artifact `name`, where [`Sandbox::add_output`] makes its directory.
    pub fn staged(name: &str) -> Self {
        OutputArtifact {
            name: name.to_string(),
            path: Sandbox::output_path(name),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactFile {
    pub artifact: String,
    /// A regular file, relative to the artifact's output directory.
    pub file: String,
}

/// PutJobSuccessResult, once the action has finished (continuations are the runtime's
/// business).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ActionOutcome {
    /// Published under the action's namespace, in the order the action gave them.
    pub output_variables: Vec<(String, String)>,
    /// Output artifacts stored as one file's bytes instead of a zip of their directory.
    pub artifact_files: Vec<ArtifactFile>,
    pub summary: Option<String>,
    pub external_execution_id: Option<String>,
    pub current_revision: Option<CurrentRevision>,
}

impl ActionOutcome {
    /// The outcome with `mask` applied to every text the action wrote in it.
    pub(crate) fn masked(mut self, mask: impl Fn(&str) -> String) -> Self {
        for (_, value) in &mut self.output_variables {
            *value = mask(value);
        }
        self.summary = self.summary.map(|summary| mask(&summary));
        self.external_execution_id = self.external_execution_id.map(|id| mask(&id));
        if let Some(revision) = &mut self.current_revision {
            revision.revision_id = mask(&revision.revision_id);
            revision.change_identifier = mask(&revision.change_identifier);
            revision.created = revision.created.as_deref().map(&mask);
            revision.revision_summary = revision.revision_summary.as_deref().map(&mask);
        }
        self
    }
}

/// FailureDetails.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FailureDetails {
    pub kind: FailureKind,
    pub message: String,
    pub external_execution_id: Option<String>,
}

impl FailureDetails {
    pub fn new(kind: FailureKind, message: impl Into<String>) -> Self {
        FailureDetails {
            kind,
            message: message.into(),
            external_execution_id: None,
        }
    }

    pub fn job(message: impl Into<String>) -> Self {
        FailureDetails::new(FailureKind::JobFailed, message)
    }
}

/// Why an action did not succeed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ActionError {
    /// It reported a failure, or the host failed it (a bad result, a crash, staging).
    Failed(FailureDetails),
    /// A stop request abandoned it.
    Abandoned,
    /// It ran past its timeout and was stopped.
    TimedOut(Duration),
    /// It went over a resource limit (memory) and was stopped.
    LimitExceeded(String),
}

/// The message of an action abandoned by a stop request.
const ABANDONED: &str = "the action was abandoned by a stop request";

impl ActionError {
    pub fn kind(&self) -> FailureKind {
        match self {
            ActionError::Failed(details) => details.kind,
            _ => FailureKind::JobFailed,
        }
    }

    pub fn message(&self) -> String {
        match self {
            ActionError::Failed(details) => details.message.clone(),
            ActionError::Abandoned => ABANDONED.into(),
            ActionError::TimedOut(timeout) => format!(
                "the action did not finish within its timeout of {} and was stopped",
                format_duration(*timeout)
            ),
            ActionError::LimitExceeded(message) => message.clone(),
        }
    }

    pub fn external_execution_id(&self) -> Option<&str> {
        match self {
            ActionError::Failed(details) => details.external_execution_id.as_deref(),
            _ => None,
        }
    }
}

impl std::fmt::Display for ActionError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message())
    }
}

impl From<FailureDetails> for ActionError {
    fn from(details: FailureDetails) -> Self {
        ActionError::Failed(details)
    }
}

/// How one execution of an action ended, and the test reports it published on the way
/// (kept whether or not it succeeded).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ActionResult {
    pub outcome: Result<ActionOutcome, ActionError>,
    pub reports: Vec<TestReport>,
}

/// A test report an action parsed (JUnit XML, Cucumber JSON …).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestReport {
    pub group: String,
    pub format: String,
    pub file: String,
    pub cases: Vec<TestCase>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TestCase {
    pub name: String,
    pub prefix: Option<String>,
    pub status: TestStatus,
    pub duration_ms: Option<u64>,
    pub message: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TestStatus {
    Succeeded,
    Failed,
    Skipped,
    Error,
    Unknown,
}

/// `850ms`, `12.5s`, `8m`, `1.5h`.
pub fn format_duration(duration: Duration) -> String {
    let seconds = duration.as_secs_f64();
    if seconds < 1.0 {
        format!("{}ms", duration.as_millis())
    } else if seconds < 60.0 {
        format!("{seconds:.1}s")
    } else if seconds < 3600.0 {
        format!("{:.0}m", seconds / 60.0)
    } else {
        format!("{:.1}h", seconds / 3600.0)
    }
}
