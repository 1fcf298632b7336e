//! A plugin's manifest: what the `.wasm` file says about itself — the action types it serves,
//! its name, version and description, the configuration and artifacts it takes (in
//! CreateCustomActionType's shape) and the capabilities it asks for. The author writes it
//! as `sandpipe-action.yaml`; `sandpipe action build` embeds it in the component, so the
//! file is the whole plugin.
//!
//! ```yaml
//! name: hello
//! version: 0.1.0
//! description: Greets, and passes its inputs on.
//! language: rust                  # rust, python or javascript: how `action build` builds it
//! actionTypes: [Build/Custom/Hello/1]
//! configurationProperties:
//!   - {name: Name, required: true, key: true, description: Who to greet}
//! inputArtifactDetails: {minimumCount: 0, maximumCount: 5}
//! outputArtifactDetails: {minimumCount: 1, maximumCount: 1}
//! capabilities: []                # exec, secrets, git: what the operator must allow
//! outputVariables: [Greeting]     # documentation: the variables it sets
//! ```
//!
//! What the operator allows is not here: that is the policy's ([`crate::plugin_policy`]).

use std::path::Path;

use serde::{Deserialize, Serialize};

use crate::action_definition::{ActionDefinition, ArtifactDetails, ConfigurationProperty};
use crate::action_type::{ActionTypeId, Owner};
use crate::load::{LoadError, parse_text_document, read_text};

/// The manifest file of a plugin's source directory.
pub const MANIFEST_FILE: &str = "sandpipe-action.yaml";
/// The manifest format this version writes and reads.
pub const MANIFEST_VERSION: u32 = 1;
const MAX_NAME: usize = 64;
const MAX_DESCRIPTION: usize = 1024;
/// Action types one plugin may serve, and output variables it may document.
const MAX_ACTION_TYPES: usize = 20;
const MAX_OUTPUT_VARIABLES: usize = 256;
/// CreateCustomActionType's limits on a custom type's provider and version.
const MAX_PROVIDER: usize = 35;
const MAX_VERSION: usize = 9;

/// The languages `sandpipe action new` and `build` know.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Language {
    Rust,
    Python,
    Javascript,
}

impl Language {
    pub fn name(self) -> &'static str {
        match self {
            Language::Rust => "rust",
            Language::Python => "python",
            Language::Javascript => "javascript",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct PluginManifest {
    #[serde(default = "current_version")]
    pub manifest_version: u32,
    /// `[a-z0-9][a-z0-9_-]*`: the file `action build` writes is `dist/<name>.wasm`.
    pub name: String,
    /// Written as text or a number (`version: 1.2` in YAML is a number).
    #[serde(deserialize_with = "text_or_number")]
    pub version: String,
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub description: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub language: Option<Language>,
    /// `Category/Owner/Provider/Version` each.
    pub action_types: Vec<String>,
    #[serde(default)]
    pub configuration_properties: Vec<ConfigurationProperty>,
    pub input_artifact_details: ArtifactDetails,
    pub output_artifact_details: ArtifactDetails,
    /// Capabilities beyond the sandbox it asks for; the operator's policy decides.
    #[serde(default)]
    pub capabilities: Vec<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub output_variables: Vec<String>,
}

fn current_version() -> u32 {
    MANIFEST_VERSION
}

/// A version written as text, or as a whole number (`version: 2`); `1.10` in YAML is the
/// number 1.1, so a fraction must be quoted.
fn text_or_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<String, D::Error> {
    match serde_json::Value::deserialize(deserializer)? {
        serde_json::Value::String(text) => Ok(text),
        serde_json::Value::Number(number) if number.is_u64() => Ok(number.to_string()),
        serde_json::Value::Number(number) => Err(serde::de::Error::custom(format!(
            "{number} is a number, which may not be the version meant: quote it ('{number}')"
        ))),
        other => Err(serde::de::Error::custom(format!(
            "expected a version such as 0.1.0, not {other}"
        ))),
    }
}

/// The message for a capability sandpipe does not have.
pub fn unknown_capability(name: &str, known: &[&str]) -> String {
    format!("unknown capability '{name}' (known: {})", known.join(", "))
}

/// A manifest's `manifestVersion` checked before its shape: a newer manifest's fields are
/// unknown here, and the version says why.
fn check_version(file: &str, text: &str, yaml: bool) -> Result<(), LoadError> {
    let value: serde_json::Value = parse_text_document(file, text, yaml)?;
    match value.get("manifestVersion") {
        None => Ok(()),
        Some(version) if version.as_u64() == Some(u64::from(MANIFEST_VERSION)) => Ok(()),
        Some(version) => Err(LoadError::Shape {
            file: file.to_string(),
            path: "manifestVersion".into(),
            message: format!(
                "manifest version {version} is not one this sandpipe reads \
                 ({MANIFEST_VERSION}); rebuild the plugin with this sandpipe's `action build`, \
                 or update sandpipe"
            ),
        }),
    }
}

impl PluginManifest {
    /// The manifest embedded in a component (JSON), checked; `file` names the component.
    pub fn from_embedded(
        file: &str,
        json: &[u8],
        known_capabilities: &[&str],
    ) -> Result<Self, LoadError> {
        let text = std::str::from_utf8(json).map_err(|_| LoadError::Shape {
            file: file.to_string(),
            path: "(manifest)".into(),
            message: "the embedded manifest is not UTF-8".into(),
        })?;
        check_version(file, text, false)?;
        let manifest: PluginManifest = parse_text_document(file, text, false)?;
        manifest.checked(file, known_capabilities)
    }

    /// An author's `sandpipe-action.yaml` (or .json), checked.
    pub fn read(path: &Path, known_capabilities: &[&str]) -> Result<Self, LoadError> {
        let (file, text, yaml) = read_text(path)?;
        PluginManifest::parse(&file, &text, yaml, known_capabilities)
    }

    /// A manifest's text (YAML, or JSON), checked; `file` names it in messages.
    pub fn parse(
        file: &str,
        text: &str,
        yaml: bool,
        known_capabilities: &[&str],
    ) -> Result<Self, LoadError> {
        check_version(file, text, yaml)?;
        let manifest: PluginManifest = parse_text_document(file, text, yaml)?;
        manifest.checked(file, known_capabilities)
    }

    /// The manifest as embedded: compact JSON.
    pub fn to_embedded(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("manifests serialize")
    }

    /// Its action types, parsed (checked when the manifest was read).
    pub fn action_type_ids(&self) -> Vec<ActionTypeId> {
        self.action_types
            .iter()
            .filter_map(|t| t.parse().ok())
            .collect()
    }

    /// What its action types take.
    pub fn definition(&self) -> ActionDefinition {
        ActionDefinition {
            configuration_properties: self.configuration_properties.clone(),
            input_artifact_details: self.input_artifact_details,
            output_artifact_details: self.output_artifact_details,
        }
    }

    fn checked(self, file: &str, known_capabilities: &[&str]) -> Result<Self, LoadError> {
        let problems = self.problems(known_capabilities);
        match problems.into_iter().next() {
            None => Ok(self),
            Some((path, message)) => Err(LoadError::Shape {
                file: file.to_string(),
                path,
                message,
            }),
        }
    }

    /// Everything wrong with it, each with its path.
    pub fn problems(&self, known_capabilities: &[&str]) -> Vec<(String, String)> {
        let mut problems = Vec::new();
        let name_ok = self.name.len() <= MAX_NAME
            && self
                .name
                .starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
            && self
                .name
                .chars()
                .all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-' || c == '_');
        if !name_ok {
            problems.push((
                "name".into(),
                format!(
                    "'{}' is not a plugin name: 1 to {MAX_NAME} of a-z 0-9 - _, starting with a \
                     letter or digit",
                    self.name
                ),
            ));
        }
        if self.version.is_empty()
            || self.version.len() > 64
            || self.version.contains(|c: char| c == ' ' || c.is_control())
        {
            problems.push((
                "version".into(),
                "a version is 1 to 64 characters without spaces, e.g. 0.1.0".into(),
            ));
        }
        if self.description.chars().count() > MAX_DESCRIPTION {
            problems.push((
                "description".into(),
                format!("a description is at most {MAX_DESCRIPTION} characters"),
            ));
        }
        // Shown on terminals (`action inspect`, `action list`): an escape sequence there
        // could hide or forge what the plugin asks for.
        if self.description.contains(crate::text::is_layout_breaking) {
            problems.push((
                "description".into(),
                "a description is text: no control characters but new lines and tabs".into(),
            ));
        }
        if self.action_types.is_empty() || self.action_types.len() > MAX_ACTION_TYPES {
            problems.push((
                "actionTypes".into(),
                format!(
                    "a plugin serves 1 to {MAX_ACTION_TYPES} action types, e.g. \
                     Build/Custom/Hello/1"
                ),
            ));
        }
        for (i, text) in self.action_types.iter().enumerate() {
            let at = format!("actionTypes[{i}]");
            match text.parse::<ActionTypeId>() {
                Err(message) => problems.push((at, message)),
                Ok(id) if self.action_types[..i].contains(text) => {
                    problems.push((at, format!("{id} is listed twice")))
                }
                // A plugin dropped into a directory must not take over a type sandpipe or
                // CodePipeline provides; the operator replaces one with --provider.
                Ok(id) if id.owner != Owner::Custom => problems.push((
                    at,
                    format!(
                        "a plugin serves Custom action types, not {id}: an operator who means \
                         to replace sandpipe's provider says so with --provider {id}=<file.wasm>"
                    ),
                )),
                Ok(id) if !custom_name(&id.provider, MAX_PROVIDER) => problems.push((
                    at,
                    format!(
                        "the provider of {id} is 1 to {MAX_PROVIDER} of A-Z a-z 0-9 _ -, as \
                         CreateCustomActionType takes it"
                    ),
                )),
                Ok(id) if !custom_name(&id.version, MAX_VERSION) => problems.push((
                    at,
                    format!(
                        "the version of {id} is 1 to {MAX_VERSION} of A-Z a-z 0-9 _ -, as \
                         CreateCustomActionType takes it"
                    ),
                )),
                Ok(_) => {}
            }
        }
        if self.output_variables.len() > MAX_OUTPUT_VARIABLES {
            problems.push((
                "outputVariables".into(),
                format!("an action sets at most {MAX_OUTPUT_VARIABLES} output variables"),
            ));
        }
        problems.extend(self.definition().problems(""));
        for (i, capability) in self.capabilities.iter().enumerate() {
            if !known_capabilities.contains(&capability.as_str()) {
                problems.push((
                    format!("capabilities[{i}]"),
                    unknown_capability(capability, known_capabilities),
                ));
            }
        }
        problems
    }
}

/// 1 to `max` of `A-Z a-z 0-9 _ -`.
fn custom_name(text: &str, max: usize) -> bool {
    (1..=max).contains(&text.len())
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    const KNOWN: &[&str] = &["exec", "git", "secrets"];

    fn parse(yaml: &str) -> Result<PluginManifest, LoadError> {
        check_version("sandpipe-action.yaml", yaml, true)?;
        let manifest: PluginManifest = parse_text_document("sandpipe-action.yaml", yaml, true)?;
        manifest.checked("sandpipe-action.yaml", KNOWN)
    }

    #[test]
    fn a_manifest_round_trips_through_its_embedded_form() {
        let manifest = parse(
            "name: hello\nversion: 0.1.0\nlanguage: python\nactionTypes: [Build/Custom/Hello/1]\n\
             configurationProperties:\n  - {name: Name, required: true}\n\
             inputArtifactDetails: {minimumCount: 0, maximumCount: 5}\n\
             outputArtifactDetails: {minimumCount: 1, maximumCount: 1}\n\
             capabilities: [exec]\n",
        )
        .unwrap();
        assert_eq!(manifest.manifest_version, MANIFEST_VERSION);
        assert_eq!(
            manifest.action_type_ids()[0].to_string(),
            "Build/Custom/Hello/1"
        );
        let again =
            PluginManifest::from_embedded("x.wasm", &manifest.to_embedded(), KNOWN).unwrap();
        assert_eq!(again, manifest);
    }

    #[test]
    fn each_problem_names_its_path() {
        let base = "version: 1\ninputArtifactDetails: {minimumCount: 0, maximumCount: 1}\n\
                    outputArtifactDetails: {minimumCount: 0, maximumCount: 1}\n";
        let cases = [
            ("name: Hello\nactionTypes: [Build/Custom/H/1]\n", "name"),
            (
                "name: h\nactionTypes: [Build/Nobody/H/1]\n",
                "actionTypes[0]",
            ),
            ("name: h\nactionTypes: []\n", "actionTypes"),
            (
                "name: h\nactionTypes: [Build/Custom/H/1]\ncapabilities: [network]\n",
                "capabilities[0]",
            ),
            (
                "name: h\nactionTypes: [Build/Custom/H/1]\ncolour: red\n",
                "colour",
            ),
            (
                "name: h\nactionTypes: [Source/AWS/S3/1]\n",
                "actionTypes[0]",
            ),
            (
                "name: h\nactionTypes: [\"Build/Custom/a: b/1\"]\n",
                "actionTypes[0]",
            ),
            (
                "name: h\nmanifestVersion: 2\nactionTypes: [Build/Custom/H/1]\n",
                "manifestVersion",
            ),
            // Escape sequences that would rewrite a terminal's line in `action inspect`.
            (
                "name: h\nactionTypes: [Build/Custom/H/1]\ndescription: \"\\e[2Kasks nothing\"\n",
                "description",
            ),
            (
                "name: h\nactionTypes: [Build/Custom/H/1]\nconfigurationProperties:\n  \
                 - {name: \"N\\r\", required: true}\n",
                "configurationProperties[0].name",
            ),
        ];
        for (yaml, path) in cases {
            let error = parse(&format!("{base}{yaml}")).unwrap_err().to_string();
            assert!(error.contains(path), "{yaml}: {error}");
        }
        let fraction = base.replace("version: 1", "version: 1.10");
        let error = parse(&format!(
            "{fraction}name: h\nactionTypes: [Build/Custom/H/1]\n"
        ))
        .unwrap_err()
        .to_string();
        assert!(error.contains("quote it"), "{error}");
    }
}
