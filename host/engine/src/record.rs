//! The record of one pipeline execution: every action's status, times, configuration,
//! output variables and artifact digests. Rewritten atomically on every change, so a crash
//! leaves the last consistent state on disk.

use std::collections::BTreeMap;
use std::io::Write;
use std::path::{Path, PathBuf};

use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ExecutionStatus {
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum StageStatus {
    /// Not reached (an earlier stage failed).
    NotStarted,
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ActionStatus {
    /// Not reached (an earlier runOrder group or stage failed).
    NotStarted,
    InProgress,
    Succeeded,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionRecord {
    pub pipeline_name: String,
    pub pipeline_execution_id: String,
    pub status: ExecutionStatus,
    /// The file the declaration came from.
    pub source_file: String,
    pub start_time: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub end_time: Option<String>,
    pub stages: Vec<StageRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StageRecord {
    pub name: String,
    pub status: StageStatus,
    pub actions: Vec<ActionRecord>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct ActionRecord {
    pub name: String,
    /// `Category/Owner/Provider/Version`.
    pub action_type: String,
    pub run_order: u32,
    pub status: ActionStatus,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub start_time: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub summary: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub external_execution_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetails>,
    /// The action's log, relative to the execution directory.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub log_file: Option<String>,
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
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub revision: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", tag = "type")]
pub enum ArtifactFormat {
    Zip,
    File { name: String },
}

impl ExecutionRecord {
    pub fn action_mut(&mut self, stage: usize, action: usize) -> &mut ActionRecord {
        &mut self.stages[stage].actions[action]
    }
}

/// Where execution records and logs live: `<state>/executions/<id>/`.
pub struct RecordStore {
    root: PathBuf,
}

impl RecordStore {
    pub fn new(state_dir: &Path) -> Self {
        RecordStore {
            root: state_dir.join("executions"),
        }
    }

    pub fn execution_dir(&self, id: &str) -> PathBuf {
        self.root.join(id)
    }

    pub fn save(&self, record: &ExecutionRecord) -> std::io::Result<()> {
        let dir = self.execution_dir(&record.pipeline_execution_id);
        std::fs::create_dir_all(&dir)?;
        let bytes = serde_json::to_vec_pretty(record).expect("records always serialize");
        let tmp = dir.join("record.json.tmp");
        let mut file = std::fs::File::create(&tmp)?;
        file.write_all(&bytes)?;
        file.sync_all()?;
        std::fs::rename(tmp, dir.join("record.json"))
    }

    pub fn load(&self, id: &str) -> anyhow::Result<ExecutionRecord> {
        let path = self.execution_dir(id).join("record.json");
        let bytes = std::fs::read(&path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
        serde_json::from_slice(&bytes).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))
    }
}
