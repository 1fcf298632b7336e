//! Declared doubles: what an action that cannot run here (an ECS deploy, a CodeDeploy
//! deployment, a Step Functions invoke, …) does locally instead — succeed, fail, or wait for
//! an approval — with the output variables and artifacts it stands in with. A run records
//! and shows each one as a double, so nothing is silently skipped.
//!
//! ```yaml
//! # sandpipe-doubles.yaml, beside the pipeline (or --doubles FILE)
//! doubles:
//!   Deploy/AWS/ECS/1:                    # every action of this type
//!     message: the service would be updated
//!   Source/AWS/ECR/1:
//!     outputVariables: {ImageURI: 111122223333.dkr.ecr.us-east-1.amazonaws.com/app:latest}
//!     outputArtifacts: {Image: ./fixtures/image}   # a directory, relative to this file
//!   Deploy/Ship:                         # one action, Stage/Action: wins over its type
//!     outcome: fail                      # succeed (default), fail, or approval
//!     message: the canary alarmed
//! ```
//!
//! An output artifact a double does not name is its first input artifact passed through, or
//! an empty artifact when it has none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;

use crate::action_type::ActionTypeId;
use crate::load::{LoadError, parse_text_document, read_text};
use crate::variables::{MAX_OUTPUT_VARIABLE_NAME, is_variable_name};

/// The names the doubles file may have beside a pipeline.
pub const DOUBLES_FILE_NAMES: &[&str] = &[
    "sandpipe-doubles.yaml",
    "sandpipe-doubles.yml",
    "sandpipe-doubles.json",
];

/// What a double does.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum DoubleOutcome {
    #[default]
    Succeed,
    Fail,
    /// Waits for `sandpipe approve` / `reject`, as a manual approval does.
    Approval,
}

/// Where a double's output artifact comes from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DoubleArtifact {
    /// The action's first input artifact, passed through.
    Inputs,
    /// The files of a directory.
    Directory(PathBuf),
}

#[derive(Debug, Default, Deserialize)]
#[serde(
    deny_unknown_fields,
    rename_all = "camelCase",
    expecting = "a double: a map of outcome, message, outputVariables, outputArtifacts"
)]
struct DoubleDocument {
    #[serde(default)]
    outcome: DoubleOutcome,
    message: Option<String>,
    #[serde(default)]
    output_variables: BTreeMap<String, String>,
    #[serde(default)]
    output_artifacts: BTreeMap<String, String>,
}

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, expecting = "a doubles file: a `doubles:` map")]
struct DoublesDocument {
    #[serde(default)]
    doubles: BTreeMap<String, DoubleDocument>,
}

/// One declared double, and where it was declared (as records and messages name it).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Double {
    pub outcome: DoubleOutcome,
    pub message: Option<String>,
    pub output_variables: BTreeMap<String, String>,
    pub output_artifacts: BTreeMap<String, DoubleArtifact>,
    pub declared_in: String,
}

impl Double {
    /// The double of `--double TYPE`: succeeds, passing its inputs through.
    pub fn passing(declared_in: &str) -> Double {
        Double {
            outcome: DoubleOutcome::Succeed,
            message: None,
            output_variables: BTreeMap::new(),
            output_artifacts: BTreeMap::new(),
            declared_in: declared_in.to_string(),
        }
    }

    /// A file holding one double (`--double TYPE=FILE`): the shape of one entry.
    pub fn read(path: &Path) -> Result<Double, LoadError> {
        let (file, text, yaml) = read_text(path)?;
        let document: DoubleDocument = if text.trim().is_empty() {
            DoubleDocument::default()
        } else {
            parse_text_document(&file, &text, yaml)?
        };
        Double::from_document(document, base_of(path), &file, "")
    }

    /// The double a document declares; a problem's path starts with `at` (its key in a
    /// doubles file).
    fn from_document(
        document: DoubleDocument,
        base: &Path,
        declared_in: &str,
        at: &str,
    ) -> Result<Double, LoadError> {
        if let Some(name) = document
            .output_variables
            .keys()
            .find(|name| !is_variable_name(name, MAX_OUTPUT_VARIABLE_NAME))
        {
            return Err(LoadError::Shape {
                file: declared_in.to_string(),
                path: format!("{at}outputVariables.{name}"),
                message: format!(
                    "'{name}' is not an output variable name: 1 to {MAX_OUTPUT_VARIABLE_NAME} \
                     of A-Z a-z 0-9 @ - _"
                ),
            });
        }
        let output_artifacts = document
            .output_artifacts
            .into_iter()
            .map(|(name, source)| {
                let source = if source == "inputs" {
                    DoubleArtifact::Inputs
                } else {
                    DoubleArtifact::Directory(base.join(source))
                };
                (name, source)
            })
            .collect();
        Ok(Double {
            outcome: document.outcome,
            message: document.message,
            output_variables: document.output_variables,
            output_artifacts,
            declared_in: declared_in.to_string(),
        })
    }
}

/// The directory paths in a file are relative to.
fn base_of(path: &Path) -> &Path {
    path.parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."))
}

/// Every double declared for a pipeline: by action type, and by `Stage/Action`.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Doubles {
    by_type: BTreeMap<ActionTypeId, Double>,
    by_action: BTreeMap<(String, String), Double>,
}

impl Doubles {
    /// A doubles file; each problem names its path (`doubles.Deploy/AWS/ECS/1.outcome`).
    pub fn read(path: &Path) -> Result<Doubles, LoadError> {
        let (file, text, yaml) = read_text(path)?;
        let document: DoublesDocument = if text.trim().is_empty() {
            DoublesDocument::default()
        } else {
            parse_text_document(&file, &text, yaml)?
        };
        let mut doubles = Doubles::default();
        for (key, entry) in document.doubles {
            let double =
                Double::from_document(entry, base_of(path), &file, &format!("doubles.{key}."))?;
            let parts: Vec<&str> = key.split('/').collect();
            match parts.as_slice() {
                [stage, action] => {
                    doubles
                        .by_action
                        .insert((stage.to_string(), action.to_string()), double);
                }
                _ => {
                    let id = key.parse().map_err(|message| LoadError::Shape {
                        file: file.clone(),
                        path: format!("doubles.{key}"),
                        message: format!(
                            "{message}; a double is keyed by an action type or by Stage/Action"
                        ),
                    })?;
                    doubles.by_type.insert(id, double);
                }
            }
        }
        Ok(doubles)
    }

    /// The doubles declared for one action each: `(stage, action, double)`.
    pub fn action_doubles(&self) -> impl Iterator<Item = (&str, &str, &Double)> {
        self.by_action
            .iter()
            .map(|((stage, action), double)| (stage.as_str(), action.as_str(), double))
    }

    /// Declare `double` for every action of `action_type` (`--double`), over the file's.
    pub fn declare(&mut self, action_type: ActionTypeId, double: Double) {
        self.by_type.insert(action_type, double);
    }

    /// The double of action `action` (of type `action_type`) in stage `stage`, if any: its
    /// own, else its type's.
    pub fn for_action(
        &self,
        stage: &str,
        action: &str,
        action_type: &ActionTypeId,
    ) -> Option<&Double> {
        self.by_action
            .get(&(stage.to_string(), action.to_string()))
            .or_else(|| self.by_type.get(action_type))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn doubles_are_found_by_action_then_type() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("sandpipe-doubles.yaml");
        std::fs::write(
            &file,
            "doubles:\n  Deploy/AWS/ECS/1: {message: updated, outputArtifacts: {Out: inputs}}\n  \
             Deploy/Ship: {outcome: fail, message: alarmed}\n  Source/AWS/ECR/1:\n    \
             outputArtifacts: {Image: fixtures/image}\n",
        )
        .unwrap();
        let doubles = Doubles::read(&file).unwrap();
        let ecs: ActionTypeId = "Deploy/AWS/ECS/1".parse().unwrap();
        let ecr: ActionTypeId = "Source/AWS/ECR/1".parse().unwrap();
        let ship = doubles.for_action("Deploy", "Ship", &ecs).unwrap();
        assert_eq!(ship.outcome, DoubleOutcome::Fail);
        let other = doubles.for_action("Deploy", "Other", &ecs).unwrap();
        assert_eq!(other.output_artifacts["Out"], DoubleArtifact::Inputs);
        let image = doubles.for_action("Source", "Image", &ecr).unwrap();
        assert_eq!(
            image.output_artifacts["Image"],
            DoubleArtifact::Directory(dir.path().join("fixtures/image"))
        );
        assert!(
            doubles
                .for_action("Build", "Make", &"Build/AWS/CodeBuild/1".parse().unwrap())
                .is_none()
        );
    }

    #[test]
    fn mistakes_name_their_path() {
        let dir = tempfile::tempdir().unwrap();
        for (text, path) in [
            (
                "doubles:\n  Deploy/AWS/ECS/1: {outcome: maybe}\n",
                "doubles.Deploy/AWS/ECS/1.outcome",
            ),
            (
                "doubles:\n  Deploy/Nobody/X/1: {}\n",
                "doubles.Deploy/Nobody/X/1",
            ),
            ("doubles:\n  Deploy/AWS/ECS/1: {colour: red}\n", "colour"),
        ] {
            let file = dir.path().join("d.yaml");
            std::fs::write(&file, text).unwrap();
            let error = Doubles::read(&file).unwrap_err().to_string();
            assert!(error.contains(path), "{text}: {error}");
        }
    }
}
