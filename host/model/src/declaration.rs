//! The pipeline declaration, field for field as CodePipeline's API shapes it
//! (PipelineDeclaration, StageDeclaration, ActionDeclaration). Unknown fields are errors.

use std::collections::BTreeMap;

use serde::{Deserialize, Deserializer, Serialize};

pub use crate::action_type::{ActionTypeId, Category, Owner};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineDeclaration {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_store: Option<ArtifactStore>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub artifact_stores: Option<BTreeMap<String, ArtifactStore>>,
    pub stages: Vec<StageDeclaration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub execution_mode: Option<ExecutionMode>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pipeline_type: Option<PipelineType>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub variables: Vec<PipelineVariableDeclaration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub triggers: Vec<PipelineTriggerDeclaration>,
}

impl PipelineDeclaration {
    /// The artifact store of the pipeline's own region: `artifactStore`, or the only entry of
    /// `artifactStores`, or the entry for `region`.
    pub fn artifact_store_for(&self, region: &str) -> Option<&ArtifactStore> {
        if let Some(store) = &self.artifact_store {
            return Some(store);
        }
        let stores = self.artifact_stores.as_ref()?;
        stores.get(region).or_else(|| {
            (stores.len() == 1)
                .then(|| stores.values().next())
                .flatten()
        })
    }

    pub fn actions(&self) -> impl Iterator<Item = (&StageDeclaration, &ActionDeclaration)> {
        self.stages
            .iter()
            .flat_map(|stage| stage.actions.iter().map(move |action| (stage, action)))
    }

    /// The source actions: the first stage's actions of the Source category.
    pub fn source_actions(&self) -> impl Iterator<Item = &ActionDeclaration> {
        self.stages
            .first()
            .into_iter()
            .flat_map(|stage| &stage.actions)
            .filter(|action| action.action_type_id.category == Category::Source)
    }

    /// The source action called `name`.
    pub fn source_action(&self, name: &str) -> Option<&ActionDeclaration> {
        self.source_actions().find(|action| action.name == name)
    }

    /// The source actions' names, for messages: `Source, Lib`.
    pub fn source_action_names(&self) -> String {
        self.source_actions()
            .map(|action| action.name.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactStore {
    #[serde(rename = "type")]
    pub store_type: ArtifactStoreType,
    pub location: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub encryption_key: Option<EncryptionKey>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ArtifactStoreType {
    S3,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EncryptionKey {
    pub id: String,
    #[serde(rename = "type")]
    pub key_type: EncryptionKeyType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum EncryptionKeyType {
    KMS,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ExecutionMode {
    Queued,
    #[default]
    Superseded,
    Parallel,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
pub enum PipelineType {
    #[default]
    V1,
    V2,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineVariableDeclaration {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub default_value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct StageDeclaration {
    pub name: String,
    pub actions: Vec<ActionDeclaration>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blockers: Vec<BlockerDeclaration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<FailureConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<SuccessConditions>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_entry: Option<BeforeEntryConditions>,
}

/// "Reserved for future use" by CodePipeline; accepted and checked for shape.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BlockerDeclaration {
    pub name: String,
    #[serde(rename = "type")]
    pub blocker_type: BlockerType,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum BlockerType {
    Schedule,
}

/// What a condition does when its rules fail (or, for onFailure, what the stage does).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ConditionResult {
    Rollback,
    Fail,
    Retry,
    Skip,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum RetryMode {
    FailedActions,
    AllActions,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RetryConfiguration {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_mode: Option<RetryMode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct FailureConditions {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ConditionResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry_configuration: Option<RetryConfiguration>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub conditions: Option<Vec<Condition>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct SuccessConditions {
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct BeforeEntryConditions {
    pub conditions: Vec<Condition>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Condition {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<ConditionResult>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rules: Option<Vec<RuleDeclaration>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleDeclaration {
    pub name: String,
    pub rule_type_id: RuleTypeId,
    #[serde(
        default,
        deserialize_with = "configuration_map",
        skip_serializing_if = "BTreeMap::is_empty"
    )]
    pub configuration: BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub input_artifacts: Vec<InputArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<u32>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct RuleTypeId {
    pub category: RuleCategory,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<RuleOwner>,
    pub provider: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub version: Option<String>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleCategory {
    Rule,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum RuleOwner {
    AWS,
}

/// A V2 trigger: start the pipeline on git events of a CodeStarSourceConnection source.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PipelineTriggerDeclaration {
    pub provider_type: TriggerProviderType,
    pub git_configuration: GitConfiguration,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum TriggerProviderType {
    CodeStarSourceConnection,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitConfiguration {
    pub source_action_name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub push: Option<Vec<GitPushFilter>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pull_request: Option<Vec<GitPullRequestFilter>>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitPushFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub tags: Option<GitFilterCriteria>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<GitFilterCriteria>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<GitFilterCriteria>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitPullRequestFilter {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub events: Option<Vec<PullRequestEvent>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub branches: Option<GitFilterCriteria>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file_paths: Option<GitFilterCriteria>,
}

/// Glob patterns; excludes take priority over includes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct GitFilterCriteria {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub includes: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub excludes: Option<Vec<String>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum PullRequestEvent {
    Open,
    Updated,
    Closed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct EnvironmentVariable {
    pub name: String,
    pub value: String,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub variable_type: Option<EnvironmentVariableType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum EnvironmentVariableType {
    Plaintext,
    SecretsManager,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionDeclaration {
    pub name: String,
    pub action_type_id: ActionTypeId,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub run_order: Option<u32>,
    /// Values are strings on the API; YAML scalars (`Extract: false`) are read as their text.
    #[serde(default, deserialize_with = "configuration_map")]
    pub configuration: BTreeMap<String, String>,
    #[serde(default)]
    pub output_artifacts: Vec<OutputArtifact>,
    #[serde(default)]
    pub input_artifacts: Vec<InputArtifact>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub role_arn: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub region: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub namespace: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub timeout_in_minutes: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commands: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub output_variables: Option<Vec<String>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub environment_variables: Option<Vec<EnvironmentVariable>>,
}

impl ActionDeclaration {
    /// runOrder, which defaults to 1.
    pub fn run_order(&self) -> u32 {
        self.run_order.unwrap_or(1)
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct InputArtifact {
    pub name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct OutputArtifact {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub files: Option<Vec<String>>,
}

fn configuration_map<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<BTreeMap<String, String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum Scalar {
        String(String),
        Bool(bool),
        Integer(i64),
        Float(f64),
    }
    let raw = Option::<BTreeMap<String, Scalar>>::deserialize(deserializer)?;
    Ok(raw
        .unwrap_or_default()
        .into_iter()
        .map(|(key, value)| {
            let text = match value {
                Scalar::String(s) => s,
                Scalar::Bool(b) => b.to_string(),
                Scalar::Integer(i) => i.to_string(),
                Scalar::Float(f) => f.to_string(),
            };
            (key, text)
        })
        .collect())
}
