//! The pipeline declaration, field for field as CodePipeline's API shapes it
//! (PipelineDeclaration, StageDeclaration, ActionDeclaration). Unknown fields are errors.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Deserializer, Serialize};

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
    pub triggers: Vec<serde_json::Value>,
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
    pub key_type: String,
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
    pub blockers: Vec<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_failure: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub on_success: Option<serde_json::Value>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub before_entry: Option<serde_json::Value>,
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
    pub environment_variables: Option<Vec<serde_json::Value>>,
}

impl ActionDeclaration {
    /// runOrder, which defaults to 1.
    pub fn run_order(&self) -> u32 {
        self.run_order.unwrap_or(1)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionTypeId {
    pub category: Category,
    pub owner: Owner,
    pub provider: String,
    pub version: String,
}

impl fmt::Display for ActionTypeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{:?}/{:?}/{}/{}",
            self.category, self.owner, self.provider, self.version
        )
    }
}

impl std::str::FromStr for ActionTypeId {
    type Err = String;

    /// `Category/Owner/Provider/Version`, as sandpipe prints it.
    fn from_str(text: &str) -> Result<Self, String> {
        let parts: Vec<&str> = text.split('/').collect();
        let [category, owner, provider, version] = parts.as_slice() else {
            return Err(format!(
                "'{text}' is not an action type: write Category/Owner/Provider/Version, \
                 e.g. Build/Custom/MyTool/1"
            ));
        };
        fn enum_value<T: serde::de::DeserializeOwned>(
            value: &str,
            what: &str,
            text: &str,
        ) -> Result<T, String> {
            serde_json::from_value(serde_json::Value::String(value.to_string()))
                .map_err(|_| format!("'{value}' is not a valid {what} in '{text}'"))
        }
        Ok(ActionTypeId {
            category: enum_value(category, "category", text)?,
            owner: enum_value(owner, "owner", text)?,
            provider: provider.to_string(),
            version: version.to_string(),
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Category {
    Source,
    Build,
    Deploy,
    Test,
    Invoke,
    Approval,
    Compute,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Owner {
    AWS,
    ThirdParty,
    Custom,
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
