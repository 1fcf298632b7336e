//! The operations that act on one action or stage of an execution without being a start:
//! PutActionRevision (a source action's new revision starts the pipeline with it),
//! OverrideStageCondition, ListDeployActionExecutionTargets, and the third-party job
//! operations, which no action type here uses.

use serde_json::{Value, json};

use sandpipe_model::execution::{RevisionType, SourceRevision};
use sandpipe_model::{ActionDeclaration, Owner};

use super::{executions, pipelines, view};
use crate::App;
use crate::caller::Caller;
use crate::json::{AwsError, Input, Reply};

/// The revision type a source action's revision ids are.
fn revision_type(action: &ActionDeclaration) -> RevisionType {
    match action.action_type_id.provider.as_str() {
        "S3" => RevisionType::S3ObjectVersionId,
        "ECR" => RevisionType::ImageDigest,
        _ => RevisionType::CommitId,
    }
}

pub fn put_action_revision(app: &App, caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let stage = input.string("stageName")?;
    let action_name = input.string("actionName")?;
    let revision = input.0.get("actionRevision").cloned().unwrap_or_default();
    let revision_id = revision["revisionId"]
        .as_str()
        .filter(|r| !r.is_empty())
        .ok_or_else(|| AwsError::validation("actionRevision.revisionId must be given"))?
        .to_string();
    let (loaded, _) = pipelines::load_declared(app, &pipeline)?;
    let Some(first) = loaded.pipeline.stages.first().filter(|s| s.name == stage) else {
        return Err(AwsError::new(
            "StageNotFoundException",
            format!("'{stage}' is not the source stage of pipeline '{pipeline}'"),
        ));
    };
    let Some(action) = first.actions.iter().find(|a| a.name == action_name) else {
        return Err(AwsError::new(
            "ActionNotFoundException",
            format!("stage '{stage}' has no action '{action_name}'"),
        ));
    };
    // A revision the action already ran with starts nothing, as on AWS.
    let state = app.runner.state();
    let latest = state
        .executions()
        .latest_in_stage_named(&pipeline, &stage)?;
    if let Some(id) = latest {
        let record = state.executions().get(&id)?;
        let current = record
            .stages
            .first()
            .and_then(|s| s.actions.iter().find(|a| a.name == action_name))
            .and_then(|a| a.current_revision.as_ref())
            .map(|r| r.revision_id.clone());
        if current.as_deref() == Some(revision_id.as_str()) {
            return Ok(json!({"newRevision": false, "pipelineExecutionId": id}));
        }
    }
    let revisions = [(
        action_name.clone(),
        SourceRevision {
            revision_type: revision_type(action),
            revision_value: revision_id,
            branch: None,
        },
    )]
    .into();
    let id = executions::launch(
        app,
        caller,
        loaded,
        "PutActionRevision",
        (Default::default(), revisions),
    )?;
    Ok(json!({"newRevision": true, "pipelineExecutionId": id}))
}

pub fn override_stage_condition(app: &App, _caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let stage = input.string("stageName")?;
    let id = input.string("pipelineExecutionId")?;
    let kind = input.string("conditionType")?;
    if kind != "BEFORE_ENTRY" && kind != "ON_SUCCESS" {
        return Err(AwsError::validation(format!(
            "conditionType must be BEFORE_ENTRY or ON_SUCCESS, not {kind}"
        )));
    }
    executions::declared_stage(app, &pipeline, &stage)?;
    executions::execution_of(app, &pipeline, &id)?;
    Err(AwsError::new(
        "ConditionNotOverridableException",
        format!(
            "the {kind} conditions of stage '{stage}' are not in progress: sandpipe evaluates \
             a stage's rules at once, so there is nothing waiting to override"
        ),
    ))
}

pub fn list_deploy_targets(app: &App, _caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let wanted = input.string("actionExecutionId")?;
    pipelines::load(app, &pipeline)?;
    let state = app.runner.state();
    for summary in state.executions().list(Some(&pipeline), usize::MAX >> 1)? {
        let record = state.executions().get(&summary.id)?;
        for stage in &record.stages {
            for action in &stage.actions {
                if view::action_execution_id(
                    &record.pipeline_execution_id,
                    &stage.name,
                    &action.name,
                ) == wanted
                {
                    // Only ECS and CodeDeploy deployments have targets; no action here
                    // deploys to either.
                    return Ok(json!({ "targets": Value::Array(Vec::new()) }));
                }
            }
        }
    }
    Err(AwsError::new(
        "ActionExecutionNotFoundException",
        format!("no action execution '{wanted}' in pipeline '{pipeline}'"),
    ))
}

/// PollForThirdPartyJobs: partner action types hand out jobs; the ThirdParty types here
/// (GitHub version 1) are run by sandpipe itself, so there are never any.
pub fn poll_third_party(_app: &App, _caller: &Caller, input: Input) -> Reply {
    let id: Option<sandpipe_model::ActionTypeId> = input.typed("actionTypeId")?;
    match id {
        Some(id) if id.owner == Owner::ThirdParty => Ok(json!({ "jobs": [] })),
        Some(id) => Err(AwsError::new(
            "ActionTypeNotFoundException",
            format!("{id} is not a third-party action type (PollForJobs serves Custom types)"),
        )),
        None => Err(AwsError::validation(
            "1 validation error detected: Value null at 'actionTypeId'",
        )),
    }
}

/// Acknowledge/Get/PutThirdPartyJob…: no third-party job ever exists here.
pub fn third_party_job(_app: &App, _caller: &Caller, input: Input) -> Reply {
    let id = input.string("jobId")?;
    input.string("clientToken")?;
    Err(AwsError::new(
        "JobNotFoundException",
        format!("no third-party job '{id}': sandpipe runs its ThirdParty action types itself"),
    ))
}
