//! What an action type takes, in CreateCustomActionType's shape: its configuration
//! properties and how many input and output artifacts it has. A plugin's manifest carries
//! one; a pipeline using the plugin is checked against it before anything runs, as
//! CodePipeline checks its own types.

use serde::{Deserialize, Serialize};

use crate::declaration::ActionDeclaration;
use crate::validate::Problem;

/// CodePipeline's limits on a custom action type (ActionConfigurationProperty,
/// ArtifactDetails).
pub const MAX_PROPERTIES: usize = 10;
pub const MAX_PROPERTY_NAME: usize = 50;
pub const MAX_PROPERTY_DESCRIPTION: usize = 160;
pub const MAX_ARTIFACTS: u32 = 5;
/// A queryable property's value is what PollForJobs matches: at most 20 of `A-Za-z0-9_-`.
pub const MAX_QUERYABLE_VALUE: usize = 20;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ActionDefinition {
    #[serde(default)]
    pub configuration_properties: Vec<ConfigurationProperty>,
    pub input_artifact_details: ArtifactDetails,
    pub output_artifact_details: ArtifactDetails,
}

/// ActionConfigurationProperty. `required`, `key` and `secret` are required members in the
/// API; a manifest may leave them out, meaning false.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ConfigurationProperty {
    pub name: String,
    #[serde(default)]
    pub required: bool,
    #[serde(default)]
    pub key: bool,
    /// Shown as `****` everywhere: records, logs, get-pipeline. The provider gets the value.
    #[serde(default)]
    pub secret: bool,
    #[serde(default)]
    pub queryable: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    #[serde(rename = "type", default, skip_serializing_if = "Option::is_none")]
    pub kind: Option<PropertyType>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum PropertyType {
    String,
    Number,
    Boolean,
}

/// ArtifactDetails: inclusive bounds on an action's input or output artifacts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct ArtifactDetails {
    pub minimum_count: u32,
    pub maximum_count: u32,
}

impl ArtifactDetails {
    pub fn bounds(self) -> (usize, usize) {
        (self.minimum_count as usize, self.maximum_count as usize)
    }
}

impl ActionDefinition {
    /// What is wrong with the definition itself, each with its path under `root` (a
    /// manifest's top level, say): CodePipeline's limits on custom action types.
    pub fn problems(&self, root: &str) -> Vec<(String, String)> {
        let at = |path: String| {
            if root.is_empty() {
                path
            } else {
                format!("{root}.{path}")
            }
        };
        let mut problems = Vec::new();
        let properties = &self.configuration_properties;
        if properties.len() > MAX_PROPERTIES {
            problems.push((
                at("configurationProperties".into()),
                format!(
                    "{} configuration properties; an action type has at most {MAX_PROPERTIES}",
                    properties.len()
                ),
            ));
        }
        let mut queryable = 0;
        for (i, property) in properties.iter().enumerate() {
            let path = |member: &str| at(format!("configurationProperties[{i}].{member}"));
            let name = &property.name;
            if name.is_empty()
                || name.chars().count() > MAX_PROPERTY_NAME
                || name.contains(char::is_control)
            {
                problems.push((
                    path("name"),
                    format!(
                        "a property name is 1 to {MAX_PROPERTY_NAME} characters, none of them \
                         control characters"
                    ),
                ));
            }
            if properties[..i].iter().any(|p| &p.name == name) {
                problems.push((
                    path("name"),
                    format!("the property '{name}' is declared twice"),
                ));
            }
            if property.description.as_ref().is_some_and(|d| {
                d.chars().count() > MAX_PROPERTY_DESCRIPTION
                    || d.contains(crate::text::is_layout_breaking)
            }) {
                problems.push((
                    path("description"),
                    format!(
                        "a description is at most {MAX_PROPERTY_DESCRIPTION} characters, none \
                         of them control characters"
                    ),
                ));
            }
            if property.queryable {
                queryable += 1;
                if queryable > 1 {
                    problems.push((
                        path("queryable"),
                        "at most one property is queryable".into(),
                    ));
                }
                if !property.required || property.secret {
                    problems.push((
                        path("queryable"),
                        format!("the queryable property '{name}' must be required and not secret"),
                    ));
                }
            }
        }
        for (member, details) in [
            ("inputArtifactDetails", self.input_artifact_details),
            ("outputArtifactDetails", self.output_artifact_details),
        ] {
            if details.minimum_count > details.maximum_count
                || details.maximum_count > MAX_ARTIFACTS
            {
                problems.push((
                    at(member.into()),
                    format!(
                        "minimumCount {} and maximumCount {} must satisfy minimumCount ≤ \
                         maximumCount ≤ {MAX_ARTIFACTS}",
                        details.minimum_count, details.maximum_count
                    ),
                ));
            }
        }
        problems
    }

    /// The names of its secret properties.
    pub fn secret_properties(&self) -> impl Iterator<Item = &str> {
        self.configuration_properties
            .iter()
            .filter(|p| p.secret)
            .map(|p| p.name.as_str())
    }

    /// What is wrong with `action` (at declaration path `path`) for this definition, whose
    /// provider `by` names in messages ("the plugin hello (…/hello.wasm)").
    pub fn check_action(&self, action: &ActionDeclaration, path: &str, by: &str) -> Vec<Problem> {
        let required: Vec<&str> = self
            .configuration_properties
            .iter()
            .filter(|p| p.required)
            .map(|p| p.name.as_str())
            .collect();
        let known: Vec<&str> = self
            .configuration_properties
            .iter()
            .map(|p| p.name.as_str())
            .collect();
        let mut problems = crate::validate::check_against_rules(
            action,
            path,
            crate::validate::RulesView {
                inputs: self.input_artifact_details.bounds(),
                outputs: self.output_artifact_details.bounds(),
                required: &required,
                known: Some(&known),
            },
        );
        for property in &self.configuration_properties {
            let Some(value) = action.configuration.get(&property.name) else {
                continue;
            };
            // A value made of variables is known only when the action runs.
            if value.contains("#{") {
                continue;
            }
            let wrong = match property.kind {
                Some(PropertyType::Number) if value.parse::<f64>().is_err() => {
                    Some(format!("must be a number, not '{value}'"))
                }
                Some(PropertyType::Boolean)
                    if !value.eq_ignore_ascii_case("true")
                        && !value.eq_ignore_ascii_case("false") =>
                {
                    Some(format!("must be true or false, not '{value}'"))
                }
                _ if property.queryable && !queryable_value(value) => Some(format!(
                    "is queryable, so its value is 1 to {MAX_QUERYABLE_VALUE} of A-Z a-z 0-9 _ -"
                )),
                _ => None,
            };
            if let Some(wrong) = wrong {
                problems.push(Problem {
                    path: format!("{path}.configuration.{}", property.name),
                    exception: crate::validate::INVALID_ACTION,
                    message: format!("Configuration '{}' {wrong}", property.name),
                });
            }
        }
        for problem in &mut problems {
            problem.message = format!("{} ({by})", problem.message);
        }
        problems
    }
}

fn queryable_value(value: &str) -> bool {
    (1..=MAX_QUERYABLE_VALUE).contains(&value.len())
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'_' || b == b'-')
}

#[cfg(test)]
mod tests {
    use super::*;

    fn definition() -> ActionDefinition {
        serde_json::from_value(serde_json::json!({
            "configurationProperties": [
                {"name": "Name", "required": true, "key": true, "queryable": true},
                {"name": "Token", "secret": true},
                {"name": "Retries", "type": "Number"},
            ],
            "inputArtifactDetails": {"minimumCount": 1, "maximumCount": 2},
            "outputArtifactDetails": {"minimumCount": 0, "maximumCount": 1},
        }))
        .unwrap()
    }

    fn action(configuration: serde_json::Value, inputs: usize) -> ActionDeclaration {
        let inputs: Vec<_> = (0..inputs)
            .map(|i| serde_json::json!({"name": format!("In{i}")}))
            .collect();
        serde_json::from_value(serde_json::json!({
            "name": "Hello",
            "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "Hello", "version": "1"},
            "configuration": configuration,
            "inputArtifacts": inputs,
        }))
        .unwrap()
    }

    #[test]
    fn a_valid_action_passes_and_each_problem_has_its_path() {
        let definition = definition();
        assert!(definition.problems("").is_empty());
        assert_eq!(
            definition.secret_properties().collect::<Vec<_>>(),
            ["Token"]
        );
        let ok = action(serde_json::json!({"Name": "sandpipe", "Retries": "3"}), 1);
        assert_eq!(
            definition.check_action(&ok, "stages[1].actions[0]", "p"),
            []
        );

        let bad = action(serde_json::json!({"Retries": "many", "Colour": "blue"}), 3);
        let problems = definition.check_action(&bad, "stages[1].actions[0]", "the plugin p");
        let paths: Vec<&str> = problems.iter().map(|p| p.path.as_str()).collect();
        assert_eq!(
            paths,
            [
                "stages[1].actions[0].inputArtifacts",
                "stages[1].actions[0].configuration",
                "stages[1].actions[0].configuration.Colour",
                "stages[1].actions[0].configuration.Retries",
            ]
        );
        assert!(problems[1].message.contains("'Name'"), "{problems:?}");
        assert!(
            problems[3].message.ends_with("(the plugin p)"),
            "{problems:?}"
        );
    }

    #[test]
    fn a_queryable_value_is_short_and_plain() {
        let bad = action(serde_json::json!({"Name": "has spaces"}), 1);
        let problems = definition().check_action(&bad, "a", "p");
        assert_eq!(problems.len(), 1);
        assert!(problems[0].message.contains("queryable"));
        let variable = action(serde_json::json!({"Name": "#{ns.Who}"}), 1);
        assert!(definition().check_action(&variable, "a", "p").is_empty());
    }

    #[test]
    fn the_definition_keeps_codepipeline_limits() {
        let mut definition = definition();
        definition.configuration_properties[1].queryable = true;
        definition.output_artifact_details.maximum_count = 6;
        let problems = definition.problems("manifest");
        let paths: Vec<&str> = problems.iter().map(|(p, _)| p.as_str()).collect();
        assert_eq!(
            paths,
            [
                "manifest.configurationProperties[1].queryable",
                "manifest.configurationProperties[1].queryable",
                "manifest.outputArtifactDetails",
            ]
        );
    }
}
