//! The record of one pipeline execution: every action's status, times, configuration,
//! output variables and artifact digests.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use sandpipe_model::execution::CurrentRevision;

/// PipelineExecution.status, as the API names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionStatus {
    Cancelled,
    InProgress,
    Stopped,
    Stopping,
    Succeeded,
    Superseded,
    Failed,
}

/// PipelineExecution.executionType.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionType {
    #[default]
    Standard,
    Rollback,
}

/// StageExecution.status, plus NotStarted for a stage the execution has not reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageStatus {
    NotStarted,
    Cancelled,
    InProgress,
    Failed,
    Stopped,
    Stopping,
    Succeeded,
    Skipped,
}

/// ActionExecution.status, plus NotStarted for an action the execution has not reached.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionStatus {
    NotStarted,
    InProgress,
    Abandoned,
    Succeeded,
    Failed,
}

/// The API name of each variant, the form records and the database store.
macro_rules! api_names {
    ($ty:ident { $($variant:ident => $name:literal),* $(,)? }) => {
        impl $ty {
            pub const ALL: &'static [$ty] = &[$($ty::$variant),*];

            pub fn as_str(self) -> &'static str {
                match self { $($ty::$variant => $name),* }
            }

            pub fn from_name(name: &str) -> Option<Self> {
                match name { $($name => Some($ty::$variant),)* _ => None }
            }
        }

        impl std::fmt::Display for $ty {
            fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
                f.write_str(self.as_str())
            }
        }
    };
}

api_names!(ExecutionStatus {
    Cancelled => "Cancelled",
    InProgress => "InProgress",
    Stopped => "Stopped",
    Stopping => "Stopping",
    Succeeded => "Succeeded",
    Superseded => "Superseded",
    Failed => "Failed",
});
api_names!(ExecutionType { Standard => "STANDARD", Rollback => "ROLLBACK" });
api_names!(StageStatus {
    NotStarted => "NotStarted",
    Cancelled => "Cancelled",
    InProgress => "InProgress",
    Failed => "Failed",
    Stopped => "Stopped",
    Stopping => "Stopping",
    Succeeded => "Succeeded",
    Skipped => "Skipped",
});
api_names!(ActionStatus {
    NotStarted => "NotStarted",
    InProgress => "InProgress",
    Abandoned => "Abandoned",
    Succeeded => "Succeeded",
    Failed => "Failed",
});

pub(crate) use api_names;

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRecord {
    pub pipeline_name: String,
    /// The pipeline version the execution runs (a changed declaration is a new version).
    #[serde(default)]
    pub pipeline_version: u32,
    pub pipeline_execution_id: String,
    pub status: ExecutionStatus,
    /// Why the execution ended as it did: what failed, why it stopped, what superseded it.
    pub status_summary: Option<String>,
    /// The file the declaration came from.
    pub source_file: String,
    /// STANDARD, or ROLLBACK for an execution that rolls a stage back.
    #[serde(default)]
    pub execution_type: ExecutionType,
    /// The execution a rollback takes its artifacts from.
    pub rollback_target: Option<String>,
    /// What started the execution (PipelineExecution.trigger).
    pub trigger: Option<ExecutionTrigger>,
    /// The V2 pipeline variables this execution runs with (PipelineExecution.variables).
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub variables: BTreeMap<String, String>,
    /// The execution this one replays (`sandpipe replay`): same declaration version,
    /// variables, source revisions and components.
    pub replay_of: Option<String>,
    /// Set when its actions ran deterministically (`--deterministic`): what their clocks
    /// and random sources were fixed to.
    pub determinism: Option<Determinism>,
    pub start_time: String,
    pub end_time: Option<String>,
    pub stages: Vec<StageRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageRecord {
    pub name: String,
    pub status: StageStatus,
    pub actions: Vec<ActionRecord>,
    /// The condition rules evaluated for the stage (ListRuleExecutions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub rules: Vec<RuleRecord>,
}

/// One condition rule as it was evaluated.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct RuleRecord {
    /// `beforeEntry`, `onSuccess` or `onFailure`.
    pub condition: String,
    pub name: String,
    /// The rule type's provider (`VariableCheck`, …).
    pub provider: String,
    pub configuration: BTreeMap<String, String>,
    pub succeeded: bool,
    pub summary: String,
    pub time: String,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    pub name: String,
    /// `Category/Owner/Provider/Version`.
    pub action_type: String,
    pub run_order: u32,
    pub status: ActionStatus,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    /// Configuration after variable resolution.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub resolved_configuration: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_artifacts: Vec<ArtifactRecord>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_artifacts: Vec<ArtifactRecord>,
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub output_variables: BTreeMap<String, String>,
    pub summary: Option<String>,
    pub external_execution_id: Option<String>,
    pub error: Option<ErrorDetails>,
    /// The action's log, relative to the execution directory.
    pub log_file: Option<String>,
    /// Test reports the action published (CodeBuild `reports`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub reports: Vec<TestReportSummary>,
    /// The revision a source action took (PutJobSuccessResult.currentRevision).
    pub current_revision: Option<CurrentRevision>,
    /// SHA-256 of the wasm component that ran the action (without its manifest section), so
    /// a replay can tell whether the same code runs it.
    pub component_digest: Option<String>,
    /// The container images its build commands ran (the container runner): each reference
    /// the build named, and the id (`sha256:…`) of the image that ran for it.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub build_images: BTreeMap<String, String>,
    /// Where the double that stood in for the action was declared, when one did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub double: Option<String>,
}

/// What the deterministic actions of an execution read: a wall clock fixed at `clock`,
/// random streams seeded from `seed` with the stage and action. A replay keeps its
/// original's, so it reads the same time and draws the same bytes wherever it runs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Determinism {
    /// RFC 3339: the first run's start.
    pub clock: String,
    /// The first run's execution id.
    pub seed: String,
}

/// PipelineExecution.sourceRevisions: one per source action that ran.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SourceRevisionRecord {
    pub action_name: String,
    pub revision_id: String,
    pub revision_summary: Option<String>,
}

/// PipelineExecution.trigger: `StartPipelineExecution`, `PollForSourceChanges`, `WebhookV2`,
/// `ManualRollback`, `AutomatedRollback` …, and what it was.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionTrigger {
    pub trigger_type: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub trigger_detail: String,
}

/// A test report: counts by status and the cases that did not pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestReportSummary {
    pub group: String,
    /// JUNITXML, CUCUMBERJSON …
    pub format: String,
    pub file: String,
    pub total: u64,
    pub passed: u64,
    pub failed: u64,
    pub errors: u64,
    pub skipped: u64,
    pub unknown: u64,
    pub duration_ms: u64,
    /// Failed and errored cases (the first ones, when there are many).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failures: Vec<TestFailure>,
}

#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct TestFailure {
    pub name: String,
    pub prefix: Option<String>,
    /// FAILED or ERROR.
    pub status: String,
    pub message: Option<String>,
}

impl TestReportSummary {
    /// One line: `tests unit (reports/junit.xml): 12 passed, 1 failed, 2 skipped in 0.8s`.
    pub fn describe(&self) -> String {
        let mut counts = vec![format!("{} passed", self.passed)];
        for (count, label) in [
            (self.failed, "failed"),
            (self.errors, "errors"),
            (self.skipped, "skipped"),
            (self.unknown, "unknown"),
        ] {
            if count > 0 {
                counts.push(format!("{count} {label}"));
            }
        }
        format!(
            "tests {} ({}): {} in {:.1}s",
            self.group,
            self.file,
            counts.join(", "),
            self.duration_ms as f64 / 1000.0
        )
    }
}

/// ActionExecution.output.executionResult / errorDetails.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ErrorDetails {
    /// FailureDetails.type: JobFailed, ConfigurationError, …
    pub code: String,
    pub message: String,
}

/// An artifact as stored in the artifact store.
#[serde_with::skip_serializing_none]
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactRecord {
    pub name: String,
    pub bucket: String,
    pub key: String,
    /// Hex SHA-256 of the stored bytes.
    pub sha256: String,
    pub size: u64,
    /// `zip`, or `file:<name>` for an artifact stored as one file's bytes.
    pub format: ArtifactFormat,
    pub revision: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum ArtifactFormat {
    Zip,
    File { name: String },
}

impl ActionRecord {
    /// Where the action's log is, below `execution_dir`: only ever a plain name under
    /// `logs/`, as the engine names them — a record read from elsewhere (an imported bundle,
    /// a hand-edited file) cannot point a reader at another file.
    pub fn log_path(&self, execution_dir: &std::path::Path) -> Option<std::path::PathBuf> {
        let name = self.log_file.as_deref()?.strip_prefix("logs/")?;
        let plain = !name.is_empty()
            && !name.starts_with('.')
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'));
        plain.then(|| execution_dir.join("logs").join(name))
    }

    /// An action the execution has not reached yet.
    pub fn not_started(name: &str, action_type: String, run_order: u32) -> Self {
        ActionRecord {
            name: name.to_string(),
            action_type,
            run_order,
            status: ActionStatus::NotStarted,
            start_time: None,
            end_time: None,
            resolved_configuration: BTreeMap::new(),
            input_artifacts: Vec::new(),
            output_artifacts: Vec::new(),
            output_variables: BTreeMap::new(),
            summary: None,
            external_execution_id: None,
            error: None,
            log_file: None,
            reports: Vec::new(),
            current_revision: None,
            component_digest: None,
            build_images: BTreeMap::new(),
            double: None,
        }
    }
}

impl ExecutionRecord {
    /// Why an execution ended Superseded: the newer execution that took its place at the
    /// door of `stage`.
    pub fn superseded_summary(by: &str, stage: &str) -> String {
        format!("superseded by execution {by}, which is waiting for stage '{stage}'")
    }

    /// Why an execution failed in stage `stage`, from its failed actions: `Build/Compile
    /// failed: <the action's error, on one line and clipped>`, and how many others failed.
    /// None when no action of the stage failed (a condition failed it).
    pub fn failure_summary(&self, stage: usize) -> Option<String> {
        /// Longest error message a summary quotes.
        const ERROR_CHARS: usize = 200;
        let stage = self.stages.get(stage)?;
        let mut failed = stage
            .actions
            .iter()
            .filter(|action| action.status == ActionStatus::Failed);
        let first = failed.next()?;
        let others = failed.count();
        let why = first
            .error
            .as_ref()
            .map(|error| {
                error
                    .message
                    .split_whitespace()
                    .collect::<Vec<_>>()
                    .join(" ")
            })
            .filter(|message| !message.is_empty())
            .unwrap_or_else(|| "no error was reported".into());
        let mut summary = format!(
            "{}/{} failed: {}",
            stage.name,
            first.name,
            sandpipe_model::text::clip(&why, ERROR_CHARS)
        );
        match others {
            0 => {}
            1 => summary.push_str(" (and 1 more action)"),
            n => summary.push_str(&format!(" (and {n} more actions)")),
        }
        Some(summary)
    }

    pub fn action_mut(&mut self, stage: usize, action: usize) -> &mut ActionRecord {
        &mut self.stages[stage].actions[action]
    }

    /// The revisions the source actions (the first stage's) took, as PipelineExecution's
    /// `sourceRevisions` lists them.
    pub fn source_revisions(&self) -> Vec<SourceRevisionRecord> {
        self.stages
            .first()
            .into_iter()
            .flat_map(|stage| &stage.actions)
            .filter_map(|action| {
                let revision = action.current_revision.as_ref()?;
                Some(SourceRevisionRecord {
                    action_name: action.name.clone(),
                    revision_id: revision.revision_id.clone(),
                    revision_summary: revision.revision_summary.clone(),
                })
            })
            .collect()
    }
}

/// A timestamp as records store it: RFC 3339 in UTC with milliseconds.
pub fn now() -> String {
    format!("{:.3}", jiff::Timestamp::now())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_name<T: Serialize>(value: &T) -> String {
        serde_json::to_value(value)
            .unwrap()
            .as_str()
            .unwrap()
            .to_string()
    }

    #[test]
    fn api_names_are_the_serialized_names() {
        for status in ExecutionStatus::ALL {
            assert_eq!(status.as_str(), serde_name(status));
            assert_eq!(ExecutionStatus::from_name(status.as_str()), Some(*status));
        }
        for status in StageStatus::ALL {
            assert_eq!(status.as_str(), serde_name(status));
        }
        for status in ActionStatus::ALL {
            assert_eq!(status.as_str(), serde_name(status));
        }
        for kind in ExecutionType::ALL {
            assert_eq!(kind.as_str(), serde_name(kind));
        }
        assert_eq!(ActionStatus::from_name("Running"), None);
    }
}
