//! CodePipeline's 44 operations over AWS JSON 1.1. Each operation is one function taking the
//! caller and the request's members and answering the response's members or an AWS error;
//! [`OPERATIONS`] names all 44, so an operation not served yet answers with a modeled error
//! naming it rather than `UnknownOperationException`, which is for names the service lacks.
//!
//! - `action_types`: built-in, registered custom and rule types;
//! - `pipelines`: Create/Get/Update/Delete/ListPipelines, tags;
//! - `jobs`: the job-worker protocol for custom action types;
//! - `executions`: start, stop, get, list, retry, roll back, approvals, transitions;
//! - `webhooks`: GitHub version 1 webhooks and the URLs that start pipelines;
//! - `revisions`: PutActionRevision, OverrideStageCondition, deploy targets, third-party jobs;
//! - `view`: records and declarations turned into the API's shapes (PipelineExecution,
//!   GetPipelineState, ActionExecutionDetail).

mod action_types;
mod executions;
mod jobs;
mod pipelines;
mod revisions;
mod view;
mod webhooks;

pub use webhooks::deliver as deliver_webhook;

use axum::body::Body;
use axum::http::Response;
use serde_json::Value;

use crate::App;
use crate::caller::Caller;
use crate::json::{AwsError, Input, Reply, parse_body, respond};

type Operation = fn(&App, &Caller, Input) -> Reply;

/// Every CodePipeline operation, and what serves it (None: not served by sandpipe yet).
const OPERATIONS: &[(&str, Option<Operation>)] = &[
    ("AcknowledgeJob", Some(jobs::acknowledge)),
    ("AcknowledgeThirdPartyJob", Some(revisions::third_party_job)),
    ("CreateCustomActionType", Some(action_types::create_custom)),
    ("CreatePipeline", Some(pipelines::create)),
    ("DeleteCustomActionType", Some(action_types::delete_custom)),
    ("DeletePipeline", Some(pipelines::delete)),
    ("DeleteWebhook", Some(webhooks::delete)),
    (
        "DeregisterWebhookWithThirdParty",
        Some(webhooks::deregister),
    ),
    (
        "DisableStageTransition",
        Some(executions::disable_transition),
    ),
    ("EnableStageTransition", Some(executions::enable_transition)),
    ("GetActionType", Some(action_types::get)),
    ("GetJobDetails", Some(jobs::details)),
    ("GetPipeline", Some(pipelines::get)),
    ("GetPipelineExecution", Some(executions::get)),
    ("GetPipelineState", Some(executions::state)),
    ("GetThirdPartyJobDetails", Some(revisions::third_party_job)),
    ("ListActionExecutions", Some(executions::list_actions)),
    ("ListActionTypes", Some(action_types::list)),
    (
        "ListDeployActionExecutionTargets",
        Some(revisions::list_deploy_targets),
    ),
    ("ListPipelineExecutions", Some(executions::list)),
    ("ListPipelines", Some(pipelines::list)),
    ("ListRuleExecutions", None),
    ("ListRuleTypes", Some(action_types::list_rule_types)),
    ("ListTagsForResource", Some(pipelines::list_tags)),
    ("ListWebhooks", Some(webhooks::list)),
    (
        "OverrideStageCondition",
        Some(revisions::override_stage_condition),
    ),
    ("PollForJobs", Some(jobs::poll)),
    ("PollForThirdPartyJobs", Some(revisions::poll_third_party)),
    ("PutActionRevision", Some(revisions::put_action_revision)),
    ("PutApprovalResult", Some(executions::put_approval_result)),
    ("PutJobFailureResult", Some(jobs::fail)),
    ("PutJobSuccessResult", Some(jobs::succeed)),
    (
        "PutThirdPartyJobFailureResult",
        Some(revisions::third_party_job),
    ),
    (
        "PutThirdPartyJobSuccessResult",
        Some(revisions::third_party_job),
    ),
    ("PutWebhook", Some(webhooks::put)),
    ("RegisterWebhookWithThirdParty", Some(webhooks::register)),
    ("RetryStageExecution", Some(executions::retry)),
    ("RollbackStage", Some(executions::rollback)),
    ("StartPipelineExecution", Some(executions::start)),
    ("StopPipelineExecution", Some(executions::stop)),
    ("TagResource", Some(pipelines::tag)),
    ("UntagResource", Some(pipelines::untag)),
    ("UpdateActionType", Some(action_types::update)),
    ("UpdatePipeline", Some(pipelines::update)),
];

/// Answer one CodePipeline request.
pub async fn handle(app: &App, caller: &Caller, operation: &str, body: &[u8]) -> Response<Body> {
    let reply = match OPERATIONS.iter().find(|(name, _)| *name == operation) {
        None => Err(AwsError::new(
            "UnknownOperationException",
            format!("CodePipeline has no operation '{operation}'"),
        )),
        Some((name, None)) => Err(AwsError::new(
            "ValidationException",
            format!("{name} is not served by sandpipe yet"),
        )),
        Some((_, Some(operation))) => match parse_body(body) {
            // The operations read and write SQLite and the object store: off the async
            // threads, so a slow disk never stalls other connections.
            Ok(members) => tokio::task::block_in_place(|| operation(app, caller, Input(members))),
            Err(error) => Err(error),
        },
    };
    respond(reply, &caller.request_id)
}

/// A state-store failure, as the service reports its own faults.
fn state_error(error: sandpipe_state::StateError) -> AwsError {
    AwsError::internal(error.to_string())
}

/// `{}`: the answer of operations without output.
fn empty() -> Reply {
    Ok(Value::Object(Default::default()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn all_44_operations_are_named_once() {
        assert_eq!(OPERATIONS.len(), 44);
        let mut names: Vec<&str> = OPERATIONS.iter().map(|(n, _)| *n).collect();
        names.sort();
        names.dedup();
        assert_eq!(names.len(), 44);
    }
}
