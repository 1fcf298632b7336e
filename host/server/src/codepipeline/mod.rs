//! CodePipeline's 44 operations over AWS JSON 1.1. Each operation is one function taking the
//! caller and the request's members and answering the response's members or an AWS error;
//! [`OPERATIONS`] names all 44, and a name the service lacks is `UnknownOperationException`.
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
use crate::json::{AwsError, Input, Reply, parse_body, respond, respond_serialized};

type Operation = fn(&App, &Caller, Input) -> Reply;

/// Every CodePipeline operation, and what serves it.
const OPERATIONS: &[(&str, Operation)] = &[
    ("AcknowledgeJob", jobs::acknowledge),
    ("AcknowledgeThirdPartyJob", revisions::third_party_job),
    ("CreateCustomActionType", action_types::create_custom),
    ("CreatePipeline", pipelines::create),
    ("DeleteCustomActionType", action_types::delete_custom),
    ("DeletePipeline", pipelines::delete),
    ("DeleteWebhook", webhooks::delete),
    ("DeregisterWebhookWithThirdParty", webhooks::deregister),
    ("DisableStageTransition", executions::disable_transition),
    ("EnableStageTransition", executions::enable_transition),
    ("GetActionType", action_types::get),
    ("GetJobDetails", jobs::details),
    ("GetPipeline", pipelines::get),
    ("GetPipelineExecution", executions::get),
    ("GetPipelineState", executions::state),
    ("GetThirdPartyJobDetails", revisions::third_party_job),
    ("ListActionExecutions", executions::list_actions),
    ("ListActionTypes", action_types::list),
    (
        "ListDeployActionExecutionTargets",
        revisions::list_deploy_targets,
    ),
    ("ListPipelineExecutions", executions::list),
    ("ListPipelines", pipelines::list),
    ("ListRuleExecutions", executions::list_rules),
    ("ListRuleTypes", action_types::list_rule_types),
    ("ListTagsForResource", pipelines::list_tags),
    ("ListWebhooks", webhooks::list),
    (
        "OverrideStageCondition",
        revisions::override_stage_condition,
    ),
    ("PollForJobs", jobs::poll),
    ("PollForThirdPartyJobs", revisions::poll_third_party),
    ("PutActionRevision", revisions::put_action_revision),
    ("PutApprovalResult", executions::put_approval_result),
    ("PutJobFailureResult", jobs::fail),
    ("PutJobSuccessResult", jobs::succeed),
    ("PutThirdPartyJobFailureResult", revisions::third_party_job),
    ("PutThirdPartyJobSuccessResult", revisions::third_party_job),
    ("PutWebhook", webhooks::put),
    ("RegisterWebhookWithThirdParty", webhooks::register),
    ("RetryStageExecution", executions::retry),
    ("RollbackStage", executions::rollback),
    ("StartPipelineExecution", executions::start),
    ("StopPipelineExecution", executions::stop),
    ("TagResource", pipelines::tag),
    ("UntagResource", pipelines::untag),
    ("UpdateActionType", action_types::update),
    ("UpdatePipeline", pipelines::update),
];

/// Answer one CodePipeline request.
pub async fn handle(app: &App, caller: &Caller, operation: &str, body: &[u8]) -> Response<Body> {
    let reply = match OPERATIONS.iter().find(|(name, _)| *name == operation) {
        None => Err(AwsError::new(
            "UnknownOperationException",
            format!("CodePipeline has no operation '{operation}'"),
        )),
        Some((name, operation)) => match parse_body(body) {
            Ok(members) if *name == "GetPipelineState" => {
                if let Some(kept) = executions::kept_state_now(app, &members) {
                    return respond_serialized(kept, &caller.request_id);
                }
                tokio::task::block_in_place(|| operation(app, caller, Input(members)))
            }
            // The operations read and write SQLite and the object store: off the async
            // threads, so a slow disk never stalls other connections.
            Ok(members) => tokio::task::block_in_place(|| operation(app, caller, Input(members))),
            Err(error) => Err(error),
        },
    };
    told(app, operation);
    respond(reply, &caller.request_id)
}

/// After an operation that may write, wake the console's streams: an approval or a disabled
/// transition from the aws CLI shows in open pages at once.
fn told(app: &App, operation: &str) {
    let reads = ["Get", "List", "Poll"]
        .iter()
        .any(|p| operation.starts_with(p));
    if !reads {
        app.changes.touched();
    }
}

/// Run operation `name` with `members` as the API would for `caller`. The console's pages
/// and actions go through here, so what they show and do is what the aws CLI sees. Blocks
/// (the operations read and write the state store).
pub(crate) fn call(app: &App, caller: &Caller, name: &str, members: Value) -> Reply {
    let Some((_, operation)) = OPERATIONS.iter().find(|(n, _)| *n == name) else {
        return Err(AwsError::new(
            "UnknownOperationException",
            format!("CodePipeline has no operation '{name}'"),
        ));
    };
    let members = match members {
        Value::Object(members) => members,
        _ => Default::default(),
    };
    let reply = operation(app, caller, Input(members));
    told(app, name);
    reply
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
