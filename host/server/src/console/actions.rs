//! What the console's forms do: each is one CodePipeline operation, called exactly as the
//! API calls it ([`Console::api`]), so the page can do nothing the aws CLI cannot, and is
//! refused with the API's own words.

use serde_json::{Map, Value, json};

use super::Console;
use crate::json::AwsError;

/// A form's fields, in order.
pub type Fields = Vec<(String, String)>;

pub fn field<'f>(fields: &'f Fields, name: &str) -> Option<&'f str> {
    fields
        .iter()
        .find(|(key, _)| key == name)
        .map(|(_, value)| value.as_str())
}

fn required<'f>(fields: &'f Fields, name: &str) -> Result<&'f str, AwsError> {
    field(fields, name)
        .filter(|value| !value.is_empty())
        .ok_or_else(|| AwsError::validation(format!("the form has no {name}")))
}

fn optional(fields: &Fields, name: &str) -> Value {
    match field(fields, name) {
        Some(value) if !value.is_empty() => Value::String(value.to_string()),
        _ => Value::Null,
    }
}

/// What the form asked for, as an operation and its members.
pub struct Request {
    pub operation: &'static str,
    pub members: Value,
}

/// What a form at `/pipelines/<name>/<what>` asks for.
pub fn request(name: &str, what: &str, fields: &Fields) -> Result<Request, AwsError> {
    let (operation, members) = match what {
        "start" => ("StartPipelineExecution", start(name, fields)?),
        "stop" => (
            "StopPipelineExecution",
            json!({
                "pipelineName": name,
                "pipelineExecutionId": required(fields, "pipelineExecutionId")?,
                "abandon": field(fields, "abandon") == Some("true"),
                "reason": optional(fields, "reason"),
            }),
        ),
        "approval" => (
            "PutApprovalResult",
            json!({
                "pipelineName": name,
                "stageName": required(fields, "stageName")?,
                "actionName": required(fields, "actionName")?,
                "token": required(fields, "token")?,
                "result": {
                    "status": required(fields, "status")?,
                    "summary": field(fields, "summary").unwrap_or_default(),
                },
            }),
        ),
        "retry" => (
            "RetryStageExecution",
            json!({
                "pipelineName": name,
                "stageName": required(fields, "stageName")?,
                "pipelineExecutionId": required(fields, "pipelineExecutionId")?,
                "retryMode": required(fields, "retryMode")?,
            }),
        ),
        "rollback" => (
            "RollbackStage",
            json!({
                "pipelineName": name,
                "stageName": required(fields, "stageName")?,
                "targetPipelineExecutionId": required(fields, "targetPipelineExecutionId")?,
            }),
        ),
        "transition" => {
            let mut members = json!({
                "pipelineName": name,
                "stageName": required(fields, "stageName")?,
                "transitionType": "Inbound",
            });
            if field(fields, "enable") == Some("true") {
                ("EnableStageTransition", members)
            } else {
                members["reason"] = Value::String(required(fields, "reason")?.to_string());
                ("DisableStageTransition", members)
            }
        }
        _ => {
            return Err(AwsError::new(
                "NotFound",
                format!("the console has no action '{what}'"),
            ));
        }
    };
    Ok(Request { operation, members })
}

/// StartPipelineExecution's members: the variables filled in (an empty one keeps its
/// default) and, when one is named, a source revision.
fn start(name: &str, fields: &Fields) -> Result<Value, AwsError> {
    let mut members = Map::new();
    members.insert("name".into(), json!(name));
    let variables: Vec<Value> = fields
        .iter()
        .filter_map(|(key, value)| {
            let variable = key.strip_prefix("variable:")?;
            (!value.is_empty()).then(|| json!({"name": variable, "value": value}))
        })
        .collect();
    if !variables.is_empty() {
        members.insert("variables".into(), Value::Array(variables));
    }
    if let (Some(action), Some(value)) = (
        field(fields, "revisionAction").filter(|v| !v.is_empty()),
        field(fields, "revisionValue").filter(|v| !v.is_empty()),
    ) {
        members.insert(
            "sourceRevisions".into(),
            json!([{
                "actionName": action,
                "revisionType": required(fields, "revisionType")?,
                "revisionValue": value,
            }]),
        );
    }
    Ok(Value::Object(members))
}

impl Console<'_> {
    /// Do what the form asks; where the page goes next and what it says there.
    pub fn act(
        &self,
        name: &str,
        what: &str,
        fields: &Fields,
    ) -> Result<(String, String), AwsError> {
        let request = request(name, what, fields)?;
        let answer = self.api(request.operation, request.members)?;
        let pipeline = super::page::pipeline_path(name, &[]);
        Ok(match what {
            "start" => {
                let id = answer["pipelineExecutionId"].as_str().unwrap_or_default();
                (
                    super::page::pipeline_path(name, &["executions", id]),
                    "started".into(),
                )
            }
            "stop" => {
                let id = field(fields, "pipelineExecutionId").unwrap_or_default();
                (
                    super::page::pipeline_path(name, &["executions", id]),
                    "stopping".into(),
                )
            }
            "approval" => (
                pipeline,
                match field(fields, "status") {
                    Some("Rejected") => "rejected",
                    _ => "approved",
                }
                .into(),
            ),
            "retry" => (pipeline, "retried".into()),
            "rollback" => (pipeline, "rolling-back".into()),
            _ => (
                pipeline,
                match field(fields, "enable") {
                    Some("true") => "enabled",
                    _ => "disabled",
                }
                .into(),
            ),
        })
    }
}

/// What a page says after an action it redirected to, by the `done` the redirect carries:
/// only these texts, so a link cannot make the page say anything else.
pub fn done_text(done: &str) -> Option<&'static str> {
    Some(match done {
        "started" => "Execution started.",
        "stopping" => "Stopping the execution.",
        "approved" => "Approved.",
        "rejected" => "Rejected.",
        "retried" => "Retrying the stage.",
        "rolling-back" => "Rolling the stage back.",
        "enabled" => "Transition enabled.",
        "disabled" => "Transition disabled.",
        _ => return None,
    })
}
