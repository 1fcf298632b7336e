//! A stack planned locally from a template, as `Deploy/AWS/CloudFormation/1` would deploy
//! it: parameters from the overrides, the template configuration file and their defaults;
//! conditions decided; every resource's properties and every output resolved with the same
//! evaluator as pipelines' templates. What cannot be resolved on this machine
//! (`Fn::ImportValue`, an attribute sandpipe does not model) is listed, never guessed: the
//! property keeps its expression and the output is left out. A change set is the difference
//! between two plans.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::resolve::Resolver;
use super::{TemplateOptions, TemplateProblem, scalar_text};

/// What a stack would be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct StackPlan {
    pub stack_name: String,
    /// Every parameter's value; a `NoEcho` one as `****`.
    pub parameters: BTreeMap<String, String>,
    pub resources: BTreeMap<String, PlannedResource>,
    /// The outputs that could be resolved.
    pub outputs: BTreeMap<String, String>,
    /// What could not be resolved here, each at its path in the template.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub unresolved: Vec<Unresolvable>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PlannedResource {
    #[serde(rename = "type")]
    pub resource_type: String,
    /// Resolved, but for what could not be (kept as written).
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub properties: Value,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Unresolvable {
    pub path: String,
    pub message: String,
}

/// What a change set would do to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChangeAction {
    Add,
    Modify,
    Remove,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Change {
    pub action: ChangeAction,
    pub logical_id: String,
    #[serde(rename = "type")]
    pub resource_type: String,
}

/// The action modes of `Deploy/AWS/CloudFormation/1`.
pub const ACTION_MODES: &[&str] = &[
    "CREATE_UPDATE",
    "REPLACE_ON_FAILURE",
    "DELETE_ONLY",
    "CHANGE_SET_REPLACE",
    "CHANGE_SET_EXECUTE",
];

/// What is wrong with a CloudFormation deploy action's configuration, each with the key it
/// is about (`""`: the configuration as a whole): the mode, what the mode needs, files read
/// from artifacts the action has (`inputs`), and `ParameterOverrides` that are JSON.
pub fn deploy_configuration_problems(
    configuration: &BTreeMap<String, String>,
    inputs: &[&str],
) -> Vec<(String, String)> {
    let mut problems = Vec::new();
    let Some(mode) = configuration.get("ActionMode") else {
        return problems; // the model's rules say ActionMode is required
    };
    if !ACTION_MODES.contains(&mode.as_str()) {
        problems.push((
            "ActionMode".to_string(),
            format!(
                "'{mode}' is not an action mode ({})",
                ACTION_MODES.join(", ")
            ),
        ));
        return problems;
    }
    let mut needs = vec!["StackName"];
    if matches!(
        mode.as_str(),
        "CREATE_UPDATE" | "REPLACE_ON_FAILURE" | "CHANGE_SET_REPLACE"
    ) {
        needs.push("TemplatePath");
    }
    if mode.starts_with("CHANGE_SET_") {
        needs.push("ChangeSetName");
    }
    for key in needs {
        if configuration.get(key).is_none_or(|v| v.is_empty()) {
            problems.push((
                String::new(),
                format!("ActionMode {mode} needs configuration '{key}'"),
            ));
        }
    }
    for key in ["TemplatePath", "TemplateConfiguration"] {
        let Some(path) = configuration.get(key).filter(|p| !p.contains("#{")) else {
            continue;
        };
        match artifact_path(path) {
            None => problems.push((
                key.to_string(),
                format!("'{path}' is not ArtifactName::path/in/the/artifact"),
            )),
            Some((artifact, _)) if !inputs.contains(&artifact) => problems.push((
                key.to_string(),
                format!(
                    "'{path}' reads artifact '{artifact}', which is not one of the action's \
                     input artifacts ({})",
                    if inputs.is_empty() {
                        "it has none".to_string()
                    } else {
                        inputs.join(", ")
                    }
                ),
            )),
            Some(_) => {}
        }
    }
    if let Some(overrides) = configuration.get("ParameterOverrides")
        && !overrides.contains("#{")
        && let Err(error) = serde_json::from_str::<serde_json::Map<String, Value>>(overrides)
    {
        problems.push((
            "ParameterOverrides".to_string(),
            format!("ParameterOverrides is a JSON object of parameter names to values ({error})"),
        ));
    }
    problems
}

/// What is wrong with a stack set action's configuration (`CloudFormationStackSet` or
/// `CloudFormationStackInstances`): the keys it needs.
pub fn stack_set_configuration_problems(
    provider: &str,
    configuration: &BTreeMap<String, String>,
) -> Vec<String> {
    let needs: &[&str] = match provider {
        "CloudFormationStackSet" => &[
            "StackSetName",
            "TemplatePath",
            "DeploymentTargets",
            "Regions",
        ],
        _ => &["StackSetName", "DeploymentTargets", "Regions"],
    };
    needs
        .iter()
        .filter(|key| configuration.get(**key).is_none_or(|v| v.is_empty()))
        .map(|key| format!("{provider} needs configuration '{key}'"))
        .collect()
}

/// The stack set actions' `Parameters` / `ParameterOverrides`: the CLI's shorthand
/// (`ParameterKey=Env,ParameterValue=dev ParameterKey=…`) or a JSON list of
/// `{"ParameterKey", "ParameterValue"}`.
pub fn stack_set_parameters(text: &str) -> Result<BTreeMap<String, String>, String> {
    let text = text.trim();
    if text.starts_with('[') {
        let list: Vec<BTreeMap<String, Value>> = serde_json::from_str(text)
            .map_err(|e| format!("expected a JSON list of ParameterKey/ParameterValue: {e}"))?;
        return list
            .iter()
            .map(|entry| {
                let key = entry.get("ParameterKey").and_then(Value::as_str);
                let value = entry.get("ParameterValue").and_then(scalar_text);
                match (key, value) {
                    (Some(key), Some(value)) => Ok((key.to_string(), value)),
                    _ => Err("each entry needs ParameterKey and ParameterValue".to_string()),
                }
            })
            .collect();
    }
    let mut parameters = BTreeMap::new();
    for entry in text.split_whitespace() {
        let fields: BTreeMap<&str, &str> = entry
            .split(',')
            .filter_map(|field| field.split_once('='))
            .collect();
        match (fields.get("ParameterKey"), fields.get("ParameterValue")) {
            (Some(key), Some(value)) => {
                parameters.insert(key.to_string(), value.to_string());
            }
            _ => {
                return Err(format!(
                    "'{entry}' is not ParameterKey=<key>,ParameterValue=<value>"
                ));
            }
        }
    }
    Ok(parameters)
}

/// A list given as `a,b c` (accounts, regions).
pub fn listed(text: &str) -> Vec<String> {
    text.split([',', ' ', '\n'])
        .map(str::trim)
        .filter(|item| !item.is_empty())
        .map(str::to_string)
        .collect()
}

/// `Artifact::path/in/it` split, when it is that.
pub fn artifact_path(text: &str) -> Option<(&str, &str)> {
    let (artifact, path) = text.split_once("::")?;
    (!artifact.is_empty() && !path.is_empty()).then_some((artifact, path))
}

/// Plan `stack_name` from `template` with `parameters` (overrides over the configuration
/// file's; the template's defaults fill the rest). A parameter without a value, or a
/// template that is not one, refuses the plan; anything else unresolvable is listed in it.
pub fn plan_stack(
    template: &Value,
    stack_name: &str,
    parameters: &BTreeMap<String, String>,
    region: &str,
    account: Option<&str>,
) -> Result<StackPlan, Vec<TemplateProblem>> {
    // What CloudFormation itself would refuse, refused before any planning.
    let refused = super::check::template_problems(template);
    if !refused.is_empty() {
        return Err(refused);
    }
    let Some(resources) = template.get("Resources").and_then(Value::as_object) else {
        return Err(vec![TemplateProblem {
            path: "Resources".into(),
            message: "the template has no Resources".into(),
        }]);
    };
    let declared = template
        .get("Parameters")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    let mut values = BTreeMap::new();
    let mut shown = BTreeMap::new();
    let mut problems = Vec::new();
    for (name, definition) in &declared {
        let value = parameters
            .get(name)
            .cloned()
            .or_else(|| definition.get("Default").and_then(scalar_text));
        let Some(value) = value else {
            problems.push(TemplateProblem {
                path: format!("Parameters.{name}"),
                message: format!(
                    "parameter '{name}' has no value: give it in ParameterOverrides or the \
                     TemplateConfiguration file, or a Default in the template"
                ),
            });
            continue;
        };
        if let Some(allowed) = definition.get("AllowedValues").and_then(Value::as_array)
            && !allowed
                .iter()
                .any(|a| scalar_text(a).as_deref() == Some(&value))
        {
            problems.push(TemplateProblem {
                path: format!("Parameters.{name}"),
                message: format!("'{value}' is not one of the parameter's AllowedValues"),
            });
        }
        let no_echo = definition
            .get("NoEcho")
            .is_some_and(|v| v == &Value::Bool(true) || v == &Value::String("true".into()));
        let display = if no_echo {
            "****".to_string()
        } else {
            value.clone()
        };
        shown.insert(name.clone(), display);
        values.insert(name.clone(), value);
    }
    for name in parameters.keys() {
        if !declared.contains_key(name) {
            problems.push(TemplateProblem {
                path: "Parameters".into(),
                message: format!("the template has no parameter '{name}' to override"),
            });
        }
    }
    if !problems.is_empty() {
        return Err(problems);
    }
    let options = TemplateOptions {
        parameters: values,
        pipeline: None,
        region: region.to_string(),
        stack_name: Some(stack_name.to_string()),
        account_id: account.map(str::to_string),
    };
    let mut resolver = Resolver::new(template, &options);
    let mut unresolved = Vec::new();
    let mut take_problems = |resolver: &mut Resolver<'_>| {
        unresolved.extend(resolver.problems.drain(..).map(|p| Unresolvable {
            path: p.path,
            message: p.message,
        }))
    };
    let mut planned = BTreeMap::new();
    for (logical_id, resource) in resources {
        let path = format!("Resources.{logical_id}");
        if !holds(&mut resolver, resource, &path) {
            take_problems(&mut resolver);
            continue;
        }
        let resource_type = resource
            .get("Type")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_string();
        // Property by property, so one unresolvable property keeps its expression and
        // the others still resolve.
        let written = resource.get("Properties").cloned().unwrap_or(Value::Null);
        let properties = match written {
            Value::Object(properties) => {
                let mut resolved = serde_json::Map::new();
                for (key, value) in properties {
                    let at = format!("{path}.Properties.{key}");
                    match resolver.resolve(&value, &at) {
                        Some(value) if resolver.problems.is_empty() => {
                            resolved.insert(key, value);
                        }
                        // AWS::NoValue: the property is left out.
                        None if resolver.problems.is_empty() => {}
                        _ => {
                            resolved.insert(key, value);
                        }
                    }
                    take_problems(&mut resolver);
                }
                Value::Object(resolved)
            }
            other => other,
        };
        planned.insert(
            logical_id.clone(),
            PlannedResource {
                resource_type,
                properties,
            },
        );
    }
    let mut outputs = BTreeMap::new();
    let declared_outputs = template
        .get("Outputs")
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_default();
    for (name, output) in &declared_outputs {
        let path = format!("Outputs.{name}");
        if !holds(&mut resolver, output, &path) {
            take_problems(&mut resolver);
            continue;
        }
        let value = output
            .get("Value")
            .and_then(|v| resolver.resolve(v, &format!("{path}.Value")))
            .filter(|_| resolver.problems.is_empty())
            .and_then(|v| scalar_text(&v).or_else(|| Some(v.to_string())));
        take_problems(&mut resolver);
        if let Some(value) = value {
            outputs.insert(name.clone(), value);
        }
    }
    Ok(StackPlan {
        stack_name: stack_name.to_string(),
        parameters: shown,
        resources: planned,
        outputs,
        unresolved,
    })
}

/// Whether `item`'s `Condition` (if any) holds; an undecidable one is a problem and false.
fn holds(resolver: &mut Resolver<'_>, item: &Value, path: &str) -> bool {
    match item.get("Condition").and_then(Value::as_str) {
        None => true,
        Some(name) => resolver
            .condition_value(name, &format!("{path}.Condition"))
            .unwrap_or(false),
    }
}

/// What applying `next` to a stack that is `previous` (none: a new stack) changes.
pub fn change_set(previous: Option<&StackPlan>, next: &StackPlan) -> Vec<Change> {
    let empty = BTreeMap::new();
    let before = previous.map_or(&empty, |p| &p.resources);
    let mut changes = Vec::new();
    for (id, resource) in &next.resources {
        let action = match before.get(id) {
            None => ChangeAction::Add,
            Some(old) if old != resource => ChangeAction::Modify,
            Some(_) => continue,
        };
        changes.push(Change {
            action,
            logical_id: id.clone(),
            resource_type: resource.resource_type.clone(),
        });
    }
    for (id, resource) in before {
        if !next.resources.contains_key(id) {
            changes.push(Change {
                action: ChangeAction::Remove,
                logical_id: id.clone(),
                resource_type: resource.resource_type.clone(),
            });
        }
    }
    changes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn template() -> Value {
        serde_json::json!({
            "Parameters": {
                "Env": {"Type": "String", "AllowedValues": ["dev", "prod"]},
                "Image": {"Type": "String"},
                "Secret": {"Type": "String", "NoEcho": true, "Default": "hidden"},
            },
            "Conditions": {"IsProd": {"Fn::Equals": [{"Ref": "Env"}, "prod"]}},
            "Resources": {
                "Bucket": {"Type": "AWS::S3::Bucket",
                           "Properties": {"BucketName": {"Fn::Sub": "${AWS::StackName}-${Env}"}}},
                "Alarm": {"Type": "AWS::CloudWatch::Alarm", "Condition": "IsProd"},
                "Service": {"Type": "AWS::ECS::Service",
                            "Properties": {"Image": {"Ref": "Image"},
                                           "Shared": {"Fn::ImportValue": "network-vpc"}}},
            },
            "Outputs": {
                "BucketName": {"Value": {"Ref": "Bucket"}},
                "Vpc": {"Value": {"Fn::ImportValue": "network-vpc"}},
            },
        })
    }

    #[test]
    fn a_plan_resolves_what_it_can_and_lists_the_rest() {
        let parameters = BTreeMap::from([
            ("Env".to_string(), "dev".to_string()),
            ("Image".to_string(), "app:7".to_string()),
        ]);
        let plan = plan_stack(&template(), "Shop-DEV", &parameters, "eu-west-1", None).unwrap();
        assert_eq!(plan.parameters["Secret"], "****");
        assert_eq!(plan.parameters["Image"], "app:7");
        assert_eq!(
            plan.resources["Bucket"].properties["BucketName"],
            "Shop-DEV-dev"
        );
        assert!(!plan.resources.contains_key("Alarm"), "IsProd is false");
        // The service keeps its expression; the problem is listed, the output left out.
        assert_eq!(
            plan.resources["Service"].properties["Shared"],
            serde_json::json!({"Fn::ImportValue": "network-vpc"})
        );
        assert!(!plan.outputs.contains_key("Vpc"));
        assert_eq!(plan.outputs["BucketName"], "Shop-DEV-dev");
        assert!(plan.unresolved.len() >= 2, "{:?}", plan.unresolved);

        let prod = BTreeMap::from([
            ("Env".to_string(), "prod".to_string()),
            ("Image".to_string(), "app:8".to_string()),
        ]);
        let next = plan_stack(&template(), "Shop-DEV", &prod, "eu-west-1", None).unwrap();
        let changes = change_set(Some(&plan), &next);
        let summary: Vec<(ChangeAction, &str)> = changes
            .iter()
            .map(|c| (c.action, c.logical_id.as_str()))
            .collect();
        assert_eq!(
            summary,
            [
                (ChangeAction::Add, "Alarm"),
                (ChangeAction::Modify, "Bucket"),
                (ChangeAction::Modify, "Service"),
            ]
        );
        assert_eq!(change_set(Some(&next), &next), []);
    }

    #[test]
    fn stack_set_parameters_come_as_shorthand_or_json() {
        let shorthand = stack_set_parameters(
            "ParameterKey=Env,ParameterValue=dev ParameterKey=N,ParameterValue=2",
        )
        .unwrap();
        assert_eq!(shorthand["Env"], "dev");
        assert_eq!(shorthand["N"], "2");
        let json =
            stack_set_parameters(r#"[{"ParameterKey": "Env", "ParameterValue": "prod"}]"#).unwrap();
        assert_eq!(json["Env"], "prod");
        assert!(stack_set_parameters("Env=dev").is_err());
        assert_eq!(
            listed("111122223333, 444455556666\nus-east-1"),
            ["111122223333", "444455556666", "us-east-1"]
        );
    }

    #[test]
    fn parameters_without_values_or_outside_allowed_values_refuse_the_plan() {
        let missing =
            plan_stack(&template(), "S", &BTreeMap::new(), "us-east-1", None).unwrap_err();
        assert!(
            missing.iter().any(|p| p.path == "Parameters.Env"),
            "{missing:?}"
        );
        let wrong = BTreeMap::from([
            ("Env".to_string(), "qa".to_string()),
            ("Image".to_string(), "x".to_string()),
            ("Nope".to_string(), "x".to_string()),
        ]);
        let problems = plan_stack(&template(), "S", &wrong, "us-east-1", None).unwrap_err();
        assert_eq!(problems.len(), 2, "{problems:?}");
    }

    #[test]
    fn a_template_cloudformation_would_refuse_is_refused() {
        let refused = serde_json::json!({"Resources": {"B": {"Type": "AWS::S3::Bucket",
            "Properties": {"BucketName": {"Ref": "Nope"}}}}});
        let problems = plan_stack(&refused, "S", &BTreeMap::new(), "us-east-1", None).unwrap_err();
        assert_eq!(
            problems[0].path, "Resources.B.Properties.BucketName.Ref",
            "{problems:?}"
        );
    }
}
