//! CloudFormation templates holding `AWS::CodePipeline::Pipeline` resources.
//!
//! The pipeline's properties are resolved the way CloudFormation would resolve them, as far as
//! that can be done on this machine: parameters (from `--parameter` or their `Default`),
//! pseudo parameters, `Fn::Sub`, `Fn::Join`, `Fn::If` with the template's `Conditions`,
//! `Fn::Select`, `Fn::Split`, `Fn::FindInMap`, `Fn::Base64`, `Fn::GetAZs`. References to other
//! resources of the template become stable local names (a bucket's `BucketName` or its logical
//! id in lower case, a role's ARN in account 123456789012, …). What cannot be resolved locally
//! (`Fn::ImportValue`, an attribute sandpipe does not model) is reported, never guessed.
//! The result is converted from CloudFormation's PascalCase into the API's declaration.

use std::collections::BTreeMap;

use serde_json::{Map, Value};

mod check;
mod resolve;
mod stack;

use resolve::Resolver;
pub use stack::{
    ACTION_MODES, Change, ChangeAction, PlannedResource, StackPlan, Unresolvable, artifact_path,
    change_set, deploy_configuration_problems, listed, plan_stack,
    stack_set_configuration_problems, stack_set_parameters,
};

/// The account every locally resolved ARN uses.
pub const LOCAL_ACCOUNT: &str = "123456789012";
const PIPELINE_TYPE: &str = "AWS::CodePipeline::Pipeline";

/// How to resolve a template.
#[derive(Debug, Clone, Default)]
pub struct TemplateOptions {
    /// Values for the template's parameters.
    pub parameters: BTreeMap<String, String>,
    /// The logical id of the pipeline to take when the template has several.
    pub pipeline: Option<String>,
    /// The region pseudo parameters resolve to.
    pub region: String,
    /// What `AWS::StackName` is (a planned stack's name); `sandpipe` when unset.
    pub stack_name: Option<String>,
    /// The account of ARNs and `AWS::AccountId` (a stack set instance's); the local one
    /// when unset.
    pub account_id: Option<String>,
}

/// A problem converting a template: where (a path in the template) and what.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TemplateProblem {
    pub path: String,
    pub message: String,
}

/// The pipeline of a template, in API shape, and what else the template says about it.
#[derive(Debug, Clone)]
pub struct ConvertedPipeline {
    pub logical_id: String,
    /// The declaration, camelCase, ready for [`crate::PipelineDeclaration`].
    pub declaration: Value,
    /// `DisableInboundStageTransitions`: stage name → reason.
    pub disabled_transitions: BTreeMap<String, String>,
    pub restart_execution_on_update: bool,
    pub tags: BTreeMap<String, String>,
}

/// Whether a document is a CloudFormation template.
pub fn is_template(document: &Value) -> bool {
    document
        .as_object()
        .is_some_and(|o| o.contains_key("Resources") || o.contains_key("AWSTemplateFormatVersion"))
}

pub fn convert(
    template: &Value,
    options: &TemplateOptions,
) -> Result<ConvertedPipeline, Vec<TemplateProblem>> {
    let problem = |path: &str, message: String| {
        vec![TemplateProblem {
            path: path.to_string(),
            message,
        }]
    };
    let Some(resources) = template.get("Resources").and_then(Value::as_object) else {
        return Err(problem("Resources", "the template has no Resources".into()));
    };
    let pipelines: Vec<&String> = resources
        .iter()
        .filter(|(_, r)| r.get("Type").and_then(Value::as_str) == Some(PIPELINE_TYPE))
        .map(|(id, _)| id)
        .collect();
    let logical_id = match (&options.pipeline, pipelines.as_slice()) {
        (Some(wanted), _) if pipelines.contains(&wanted) => wanted.clone(),
        (Some(wanted), _) => {
            return Err(problem(
                "Resources",
                format!(
                    "the template has no {PIPELINE_TYPE} resource '{wanted}' (it has: {})",
                    list_or_none(&pipelines)
                ),
            ));
        }
        (None, [only]) => (*only).clone(),
        (None, []) => {
            return Err(problem(
                "Resources",
                format!("the template has no {PIPELINE_TYPE} resource"),
            ));
        }
        (None, several) => {
            return Err(problem(
                "Resources",
                format!(
                    "the template has several pipelines ({}); choose one with --pipeline <LogicalId>",
                    list_or_none(several)
                ),
            ));
        }
    };
    let resource_path = format!("Resources.{logical_id}.Properties");
    let properties = resources[&logical_id]
        .get("Properties")
        .cloned()
        .unwrap_or(Value::Object(Map::new()));

    let mut resolver = Resolver::new(template, options);
    let resolved = resolver.resolve(&properties, &resource_path);
    if !resolver.problems.is_empty() {
        return Err(resolver.problems);
    }
    let Some(mut properties) = resolved.and_then(|v| v.as_object().cloned()) else {
        return Err(problem(
            &resource_path,
            "the pipeline's Properties are not an object".into(),
        ));
    };

    let disabled_transitions = properties
        .remove("DisableInboundStageTransitions")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| {
            Some((
                t.get("StageName")?.as_str()?.to_string(),
                t.get("Reason")?.as_str()?.to_string(),
            ))
        })
        .collect();
    let restart_execution_on_update = properties
        .remove("RestartExecutionOnUpdate")
        .is_some_and(|v| v == Value::Bool(true) || v == Value::String("true".into()));
    let tags = properties
        .remove("Tags")
        .and_then(|v| v.as_array().cloned())
        .unwrap_or_default()
        .iter()
        .filter_map(|t| {
            Some((
                t.get("Key")?.as_str()?.to_string(),
                scalar_text(t.get("Value")?)?,
            ))
        })
        .collect();
    if let Some(stores) = properties.remove("ArtifactStores") {
        // CloudFormation lists {Region, ArtifactStore}; the API has a map by region.
        let mut by_region = Map::new();
        for entry in stores.as_array().cloned().unwrap_or_default() {
            if let (Some(region), Some(store)) = (
                entry.get("Region").and_then(Value::as_str),
                entry.get("ArtifactStore"),
            ) {
                by_region.insert(region.to_string(), store.clone());
            }
        }
        properties.insert("ArtifactStores".into(), Value::Object(by_region));
    }
    if !properties.contains_key("Name") {
        properties.insert("Name".into(), Value::String(logical_id.clone()));
    }
    Ok(ConvertedPipeline {
        logical_id,
        declaration: camel_case(Value::Object(properties), false),
        disabled_transitions,
        restart_execution_on_update,
        tags,
    })
}

fn list_or_none(ids: &[&String]) -> String {
    if ids.is_empty() {
        "none".into()
    } else {
        ids.iter()
            .map(|s| s.as_str())
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn scalar_text(value: &Value) -> Option<String> {
    match value {
        Value::String(s) => Some(s.clone()),
        Value::Bool(b) => Some(b.to_string()),
        Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

/// PascalCase keys to camelCase, except the free-form keys of `Configuration` maps, whose
/// non-string values become their JSON text (the API takes only strings there).
fn camel_case(value: Value, in_configuration: bool) -> Value {
    match value {
        Value::Object(map) if in_configuration => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let text = match v {
                        Value::String(s) => Value::String(s),
                        Value::Bool(_) | Value::Number(_) => {
                            Value::String(scalar_text(&v).unwrap())
                        }
                        Value::Null => Value::Null,
                        other => Value::String(other.to_string()),
                    };
                    (k, text)
                })
                .collect(),
        ),
        Value::Object(map) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let configuration = k == "Configuration";
                    // Region keys of ArtifactStores stay as they are.
                    let keep_keys = k == "ArtifactStores";
                    let converted = if keep_keys {
                        match v {
                            Value::Object(stores) => Value::Object(
                                stores
                                    .into_iter()
                                    .map(|(r, s)| (r, camel_case(s, false)))
                                    .collect(),
                            ),
                            other => other,
                        }
                    } else {
                        camel_case(v, configuration)
                    };
                    let key = lower_first(&k);
                    let converted = coerce_scalars(&key, converted);
                    (key, converted)
                })
                .collect(),
        ),
        Value::Array(items) => Value::Array(
            items
                .into_iter()
                .map(|v| camel_case(v, in_configuration))
                .collect(),
        ),
        other => other,
    }
}

/// CloudFormation coerces scalars to the property's type: `Version: 1` is the string "1",
/// `RunOrder: "2"` the integer 2.
fn coerce_scalars(key: &str, value: Value) -> Value {
    match (key, value) {
        ("actionTypeId" | "ruleTypeId", Value::Object(map)) => Value::Object(
            map.into_iter()
                .map(|(k, v)| {
                    let v = match &v {
                        Value::Number(_) | Value::Bool(_) => {
                            Value::String(scalar_text(&v).unwrap())
                        }
                        _ => v,
                    };
                    (k, v)
                })
                .collect(),
        ),
        ("runOrder" | "timeoutInMinutes", Value::String(text)) => match text.parse::<u64>() {
            Ok(number) => Value::from(number),
            Err(_) => Value::String(text),
        },
        (_, value) => value,
    }
}

fn lower_first(key: &str) -> String {
    let mut chars = key.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

fn base64(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let n = chunk
            .iter()
            .enumerate()
            .fold(0u32, |n, (i, b)| n | (u32::from(*b) << (16 - 8 * i)));
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(ALPHABET[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

/// A CloudFormation path for a problem found in the converted declaration: the resource's
/// properties, PascalCase, with `Configuration` keys as written.
pub fn template_path(logical_id: &str, declaration_path: &str) -> String {
    let mut out = format!("Resources.{logical_id}.Properties");
    if declaration_path.is_empty() {
        return out;
    }
    let mut in_configuration = false;
    for segment in declaration_path.split('.') {
        out.push('.');
        if in_configuration {
            out.push_str(segment);
            continue;
        }
        let mut chars = segment.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
        in_configuration = segment == "configuration";
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_matches_the_standard_alphabet() {
        assert_eq!(base64(b"hello"), "aGVsbG8=");
        assert_eq!(base64(b"hi!"), "aGkh");
        assert_eq!(base64(b""), "");
    }

    #[test]
    fn template_paths_keep_configuration_keys() {
        assert_eq!(
            template_path("Pipeline", "stages[1].actions[0].configuration.S3Bucket"),
            "Resources.Pipeline.Properties.Stages[1].Actions[0].Configuration.S3Bucket"
        );
        assert_eq!(
            template_path("P", "roleArn"),
            "Resources.P.Properties.RoleArn"
        );
    }
}
