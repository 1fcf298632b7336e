//! `Deploy/AWS/CloudFormation/1`, planned locally: the template and its configuration read
//! from the input artifacts, `ParameterOverrides` resolved (`Fn::GetParam`,
//! `Fn::GetArtifactAtt`), the stack planned by the pure model (`plan_stack`) and kept per
//! StackName in the state, a change set diffed against the stack's previous plan. Every
//! mode is honoured — CREATE_UPDATE and REPLACE_ON_FAILURE plan and record the stack,
//! CHANGE_SET_REPLACE records a change set, CHANGE_SET_EXECUTE applies it, DELETE_ONLY forgets
//! the stack — and every summary says that nothing was deployed to AWS.
//!
//! This runs in the host rather than a component: it is the model's evaluator over files
//! read through cap-std from the action's read-only inputs, and the plans it keeps live in
//! the state store, which no component reaches.

use std::collections::BTreeMap;
use std::io::Read;

use sandpipe_model::cloudformation::{
    ChangeAction, StackPlan, artifact_path, change_set, plan_stack,
};
use sandpipe_runtime::{ActionError, ActionOutcome, FailureDetails, Sandbox};
use serde_json::Value;

use super::staging::Staged;
use super::{configuration_error, system_failure};
use crate::action::{ActionCall, Completed};
use crate::action_log::ActionLog;
use crate::pipeline::Run;

/// The largest template, configuration or parameter file read (CloudFormation takes
/// templates of at most 1 MB).
const MAX_FILE: u64 = 1 << 20;

/// Said by every summary: the plan is a plan.
pub(super) const NOT_DEPLOYED: &str = "planned locally; nothing was deployed to AWS";

impl Run<'_> {
    pub(crate) async fn plan_cloudformation(
        &self,
        call: &ActionCall<'_>,
    ) -> Result<Completed, ActionError> {
        let plan = async |staged: &Staged| self.cloudformation(call, staged);
        self.sandboxed(call, plan).await
    }

    fn cloudformation(
        &self,
        call: &ActionCall<'_>,
        staged: &Staged,
    ) -> Result<ActionOutcome, ActionError> {
        let config = &call.configured.configuration;
        let get = |key: &str| config.get(key).map(String::as_str).unwrap_or_default();
        let (mode, stack) = (get("ActionMode"), get("StackName"));
        let log = self.action_log(call)?;
        let stacks = self.runner.state.stacks();
        let failed = system_failure("the local stack store");
        let previous: Option<StackPlan> = stacks
            .get(stack)
            .map_err(&failed)?
            .and_then(|stored| serde_json::from_str(&stored.plan).ok());
        let plan = match mode {
            "DELETE_ONLY" => {
                let existed = stacks.delete(stack).map_err(&failed)?;
                let summary = match existed {
                    true => format!("stack {stack} deleted ({NOT_DEPLOYED})"),
                    false => format!("no stack {stack} to delete ({NOT_DEPLOYED})"),
                };
                log.info(&summary);
                return Ok(summarized(summary));
            }
            "CHANGE_SET_EXECUTE" => {
                let name = get("ChangeSetName");
                let stored = stacks.take_change_set(stack, name).map_err(&failed)?;
                let Some(stored) = stored else {
                    return Err(configuration_error(format!(
                        "stack {stack} has no change set '{name}' (a CHANGE_SET_REPLACE action \
                         makes one)"
                    )));
                };
                serde_json::from_str(&stored.plan)
                    .map_err(system_failure("reading the stored change set"))?
            }
            _ => self.plan_from_inputs(call, staged, &log)?,
        };
        let changes = change_set(previous.as_ref(), &plan);
        for change in &changes {
            log.info(format!(
                "{:?} {} ({})",
                change.action, change.logical_id, change.resource_type
            ));
        }
        let count = |action: ChangeAction| changes.iter().filter(|c| c.action == action).count();
        let counts = format!(
            "{} to add, {} to modify, {} to remove",
            count(ChangeAction::Add),
            count(ChangeAction::Modify),
            count(ChangeAction::Remove)
        );
        let serialized = serde_json::to_string(&plan).expect("plans serialize");
        if mode == "CHANGE_SET_REPLACE" {
            let name = get("ChangeSetName");
            stacks
                .put_change_set(stack, name, &serialized)
                .map_err(&failed)?;
            let summary = format!("change set {name} of stack {stack}: {counts} ({NOT_DEPLOYED})");
            log.info(&summary);
            return Ok(summarized(summary));
        }
        stacks.put(stack, &serialized).map_err(&failed)?;
        for (name, value) in &plan.outputs {
            log.info(format!("output {name} = {value}"));
        }
        self.write_output_file(call, staged, &plan)?;
        let summary = format!(
            "stack {stack}: {} resources, {counts} ({NOT_DEPLOYED})",
            plan.resources.len()
        );
        log.info(&summary);
        Ok(ActionOutcome {
            output_variables: plan.outputs.into_iter().collect(),
            ..summarized(summary)
        })
    }

    /// The plan the action's template, configuration file and overrides make.
    fn plan_from_inputs(
        &self,
        call: &ActionCall<'_>,
        staged: &Staged,
        log: &ActionLog,
    ) -> Result<StackPlan, ActionError> {
        let config = &call.configured.configuration;
        let get = |key: &str| config.get(key).map(String::as_str).unwrap_or_default();
        let template_path = get("TemplatePath");
        let template_text = read_artifact_file(&staged.sandbox, template_path)?;
        let template = sandpipe_model::load::parse_template(template_path, &template_text)
            .map_err(|e| configuration_error(e.to_string()))?;
        let mut parameters = BTreeMap::new();
        if let Some(path) = config.get("TemplateConfiguration") {
            let text = read_artifact_file(&staged.sandbox, path)?;
            let document: Value = serde_json::from_str(&text)
                .map_err(|e| configuration_error(format!("TemplateConfiguration {path}: {e}")))?;
            for (name, value) in document
                .get("Parameters")
                .and_then(Value::as_object)
                .into_iter()
                .flatten()
            {
                parameters.insert(name.clone(), text_of(value));
            }
        }
        if let Some(overrides) = config.get("ParameterOverrides") {
            let overrides: serde_json::Map<String, Value> = serde_json::from_str(overrides)
                .map_err(|e| {
                    configuration_error(format!("ParameterOverrides is not a JSON object: {e}"))
                })?;
            for (name, value) in overrides {
                let value = self.parameter_value(&staged.sandbox, &name, &value)?;
                parameters.insert(name, value);
            }
        }
        let plan = plan_stack(
            &template,
            get("StackName"),
            &parameters,
            &self.launch.region,
            None,
        )
        .map_err(|problems| {
            let text: Vec<String> = problems
                .iter()
                .map(|p| format!("{template_path}: {}: {}", p.path, p.message))
                .collect();
            configuration_error(text.join("; "))
        })?;
        for (name, value) in &plan.parameters {
            log.info(format!("parameter {name} = {value}"));
        }
        for unresolved in &plan.unresolved {
            log.warn(format!(
                "not resolved here: {}: {}",
                unresolved.path, unresolved.message
            ));
        }
        Ok(plan)
    }

    /// A `ParameterOverrides` value: text, or `Fn::GetParam` / `Fn::GetArtifactAtt`.
    fn parameter_value(
        &self,
        sandbox: &Sandbox,
        name: &str,
        value: &Value,
    ) -> Result<String, ActionError> {
        let function = value
            .as_object()
            .filter(|o| o.len() == 1)
            .and_then(|o| o.iter().next());
        let Some((function, arguments)) = function else {
            return Ok(text_of(value));
        };
        let arguments: Vec<&str> = arguments
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let wrong = |expected: &str| {
            configuration_error(format!(
                "ParameterOverrides.{name}: {function} takes {expected}"
            ))
        };
        match function.as_str() {
            "Fn::GetParam" => {
                let [artifact, file, key] = arguments[..] else {
                    return Err(wrong("[artifact, file.json, key]"));
                };
                let text = read_artifact_file(sandbox, &format!("{artifact}::{file}"))?;
                let document: Value = serde_json::from_str(&text).map_err(|e| {
                    configuration_error(format!("{artifact}::{file} is not JSON: {e}"))
                })?;
                document.get(key).map(text_of).ok_or_else(|| {
                    configuration_error(format!(
                        "ParameterOverrides.{name}: {artifact}::{file} has no key '{key}'"
                    ))
                })
            }
            "Fn::GetArtifactAtt" => {
                let [artifact, attribute] = arguments[..] else {
                    return Err(wrong("[artifact, BucketName|ObjectKey|URL]"));
                };
                let stored = self.outputs().artifacts.get(artifact).cloned();
                let Some(stored) = stored else {
                    return Err(configuration_error(format!(
                        "ParameterOverrides.{name}: no artifact '{artifact}' has been produced"
                    )));
                };
                match attribute {
                    "BucketName" => Ok(stored.bucket),
                    "ObjectKey" => Ok(stored.key),
                    "URL" => Ok(format!(
                        "https://{}.s3.amazonaws.com/{}",
                        stored.bucket, stored.key
                    )),
                    _ => Err(wrong("[artifact, BucketName|ObjectKey|URL]")),
                }
            }
            other => Err(configuration_error(format!(
                "ParameterOverrides.{name}: {other} is not a parameter override function \
                 (Fn::GetParam, Fn::GetArtifactAtt)"
            ))),
        }
    }

    /// `OutputFileName`: the stack's outputs as JSON, in the action's output artifact.
    fn write_output_file(
        &self,
        call: &ActionCall<'_>,
        staged: &Staged,
        plan: &StackPlan,
    ) -> Result<(), ActionError> {
        let Some(file) = call.configured.configuration.get("OutputFileName") else {
            return Ok(());
        };
        let action = &self.pipeline().stages[call.s].actions[call.a];
        let Some(output) = action.output_artifacts.first() else {
            return Err(configuration_error(
                "OutputFileName needs an output artifact to write into",
            ));
        };
        let guest = format!("{}/{file}", Sandbox::output_path(&output.name));
        let (dir, relative) = staged
            .sandbox
            .resolve(&guest, true)
            .map_err(configuration_error)?;
        let text = serde_json::to_string_pretty(&plan.outputs).expect("outputs serialize");
        dir.write(&relative, text)
            .map_err(|e| FailureDetails::job(format!("writing {file}: {e}")).into())
    }
}

fn summarized(summary: String) -> ActionOutcome {
    ActionOutcome {
        summary: Some(summary),
        ..ActionOutcome::default()
    }
}

/// A JSON value as a parameter's text.
fn text_of(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        other => other.to_string(),
    }
}

/// The text of `Artifact::path` in the action's inputs, read through cap-std (no link
/// leaves the artifact) and no larger than [`MAX_FILE`].
pub(super) fn read_artifact_file(
    sandbox: &Sandbox,
    reference: &str,
) -> Result<String, ActionError> {
    let Some((artifact, path)) = artifact_path(reference) else {
        return Err(configuration_error(format!(
            "'{reference}' is not ArtifactName::path/in/the/artifact"
        )));
    };
    let guest = format!("{}/{path}", Sandbox::input_paths(artifact).0);
    let (dir, relative) = sandbox.resolve(&guest, false).map_err(|e| {
        configuration_error(format!(
            "{reference}: {e} (is '{artifact}' an input artifact of the action?)"
        ))
    })?;
    let file = dir
        .open(&relative)
        .map_err(|e| configuration_error(format!("{reference}: {e}")))?;
    let mut text = String::new();
    file.take(MAX_FILE + 1)
        .read_to_string(&mut text)
        .map_err(|e| configuration_error(format!("{reference}: {e}")))?;
    if text.len() as u64 > MAX_FILE {
        return Err(configuration_error(format!(
            "{reference} is larger than {MAX_FILE} bytes"
        )));
    }
    Ok(text)
}
