//! `Deploy/AWS/CloudFormationStackSet/1` and `…StackInstances/1`, planned locally: the same
//! plan as a stack's, once per instance — each account of `DeploymentTargets` in each of
//! `Regions` — with `AWS::AccountId` and `AWS::Region` the instance's. The stack set (its
//! template and parameters) is kept so a later StackInstances action can add instances to it;
//! each instance is kept as the stack `<StackSetName>/<account>/<region>`, which `sandpipe
//! stacks show` shows. Nothing is deployed anywhere.

use std::collections::BTreeMap;

use sandpipe_model::cloudformation::{
    StackPlan, artifact_path, change_set, listed, plan_stack, stack_set_parameters,
};
use sandpipe_runtime::{ActionError, ActionOutcome};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::cloudformation::{NOT_DEPLOYED, read_artifact_file};
use super::staging::Staged;
use super::{configuration_error, system_failure};
use crate::action::{ActionCall, Completed};
use crate::pipeline::Run;

/// The most instances one action plans (accounts × regions).
const MAX_INSTANCES: usize = 500;

/// What a stack set is: the template its instances are planned from, and its parameters.
#[derive(Serialize, Deserialize)]
struct StackSet {
    template: Value,
    parameters: BTreeMap<String, String>,
}

impl Run<'_> {
    pub(crate) async fn plan_stack_set(
        &self,
        call: &ActionCall<'_>,
    ) -> Result<Completed, ActionError> {
        let plan = async |staged: &Staged| self.stack_set(call, staged);
        self.sandboxed(call, plan).await
    }

    fn stack_set(
        &self,
        call: &ActionCall<'_>,
        staged: &Staged,
    ) -> Result<ActionOutcome, ActionError> {
        let action = &self.pipeline().stages[call.s].actions[call.a];
        let config = &call.configured.configuration;
        let get = |key: &str| config.get(key).map(String::as_str).unwrap_or_default();
        let name = get("StackSetName");
        let stacks = self.runner.state.stacks();
        let failed = system_failure("the local stack store");
        let log = self.action_log(call)?;
        // A list given inline, or as an artifact file holding a JSON list.
        let list_of = |key: &str| -> Result<Vec<String>, ActionError> {
            let text = get(key);
            if artifact_path(text).is_none() {
                return Ok(listed(text));
            }
            let file = read_artifact_file(&staged.sandbox, text)?;
            serde_json::from_str(&file).map_err(|e| {
                configuration_error(format!("{key} {text}: expected a JSON list: {e}"))
            })
        };
        let stack_set = if action.action_type_id.provider == "CloudFormationStackSet" {
            let template_path = get("TemplatePath");
            let text = read_artifact_file(&staged.sandbox, template_path)?;
            let template = sandpipe_model::load::parse_template(template_path, &text)
                .map_err(|e| configuration_error(e.to_string()))?;
            let parameters = match config.get("Parameters") {
                None => BTreeMap::new(),
                Some(given) => {
                    let text = match artifact_path(given) {
                        Some(_) => read_artifact_file(&staged.sandbox, given)?,
                        None => given.clone(),
                    };
                    stack_set_parameters(&text)
                        .map_err(|e| configuration_error(format!("Parameters: {e}")))?
                }
            };
            let stack_set = StackSet {
                template,
                parameters,
            };
            let stored = serde_json::to_string(&stack_set).expect("stack sets serialize");
            stacks.put_stack_set(name, &stored).map_err(&failed)?;
            stack_set
        } else {
            let stored = stacks.get_stack_set(name).map_err(&failed)?;
            let Some(stored) = stored else {
                return Err(configuration_error(format!(
                    "no stack set '{name}' has been planned here (a \
                     Deploy/AWS/CloudFormationStackSet/1 action plans one)"
                )));
            };
            let mut stack_set: StackSet =
                serde_json::from_str(&stored.plan).map_err(system_failure("the stack set"))?;
            if let Some(overrides) = config.get("ParameterOverrides") {
                let overrides = stack_set_parameters(overrides)
                    .map_err(|e| configuration_error(format!("ParameterOverrides: {e}")))?;
                stack_set.parameters.extend(overrides);
            }
            stack_set
        };
        let accounts = list_of("DeploymentTargets")?;
        let regions = listed(get("Regions"));
        if accounts.is_empty() || regions.is_empty() {
            return Err(configuration_error(
                "DeploymentTargets and Regions each name at least one",
            ));
        }
        if accounts.len() * regions.len() > MAX_INSTANCES {
            return Err(configuration_error(format!(
                "{} accounts in {} regions is more than the {MAX_INSTANCES} instances one action \
                 plans",
                accounts.len(),
                regions.len()
            )));
        }
        let mut planned = Vec::new();
        for account in &accounts {
            for region in &regions {
                let instance = format!("{name}/{account}/{region}");
                let plan: StackPlan = plan_stack(
                    &stack_set.template,
                    &instance,
                    &stack_set.parameters,
                    region,
                    Some(account),
                )
                .map_err(|problems| {
                    let text: Vec<String> = problems
                        .iter()
                        .map(|p| format!("{instance}: {}: {}", p.path, p.message))
                        .collect();
                    configuration_error(text.join("; "))
                })?;
                let previous: Option<StackPlan> = stacks
                    .get(&instance)
                    .map_err(&failed)?
                    .and_then(|stored| serde_json::from_str(&stored.plan).ok());
                let changes = change_set(previous.as_ref(), &plan).len();
                for unresolved in &plan.unresolved {
                    log.warn(format!(
                        "{instance}: not resolved here: {}: {}",
                        unresolved.path, unresolved.message
                    ));
                }
                log.info(format!(
                    "instance {instance}: {} resources, {changes} changed",
                    plan.resources.len()
                ));
                let stored = serde_json::to_string(&plan).expect("plans serialize");
                stacks.put(&instance, &stored).map_err(&failed)?;
                planned.push(instance);
            }
        }
        let summary = format!(
            "stack set {name}: {} instances ({} accounts × {} regions) ({NOT_DEPLOYED})",
            planned.len(),
            accounts.len(),
            regions.len()
        );
        log.info(&summary);
        Ok(ActionOutcome {
            summary: Some(summary),
            ..ActionOutcome::default()
        })
    }
}
