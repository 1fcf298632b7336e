//! Execution records and declarations in the API's shapes: PipelineExecution,
//! PipelineExecutionSummary, ActionExecutionDetail and GetPipelineState's stage states. Only
//! members that have a value are sent, as the service does.

use serde_json::{Map, Value, json};
use sha2::{Digest, Sha256};

use sandpipe_model::PipelineDeclaration;
use sandpipe_state::{ActionRecord, ActionStatus, ExecutionRecord, StageStatus};

use crate::json::timestamp;

/// Members with a value (nulls left out).
fn object(pairs: Vec<(&str, Value)>) -> Value {
    let map: Map<String, Value> = pairs
        .into_iter()
        .filter(|(_, v)| !v.is_null())
        .map(|(k, v)| (k.to_string(), v))
        .collect();
    Value::Object(map)
}

/// A string member, left out when empty.
fn non_empty(text: &str) -> Value {
    if text.is_empty() {
        Value::Null
    } else {
        json!(text)
    }
}

fn optional_time(time: &Option<String>) -> Value {
    time.as_deref().map(timestamp).unwrap_or(Value::Null)
}

/// A stable id for one action's execution within an execution (records keep none): a
/// UUID-shaped digest of the execution, stage and action.
pub fn action_execution_id(execution: &str, stage: &str, action: &str) -> String {
    let digest = hex::encode(Sha256::digest(format!("{execution}/{stage}/{action}")));
    format!(
        "{}-{}-{}-{}-{}",
        &digest[..8],
        &digest[8..12],
        &digest[12..16],
        &digest[16..20],
        &digest[20..32]
    )
}

fn trigger(record: &ExecutionRecord) -> Value {
    match &record.trigger {
        Some(t) => object(vec![
            ("triggerType", json!(t.trigger_type)),
            ("triggerDetail", non_empty(&t.trigger_detail)),
        ]),
        None => Value::Null,
    }
}

fn rollback_metadata(record: &ExecutionRecord) -> Value {
    record
        .rollback_target
        .as_ref()
        .map(|t| json!({"rollbackTargetPipelineExecutionId": t}))
        .unwrap_or(Value::Null)
}

fn last_update(record: &ExecutionRecord) -> String {
    let mut latest = record.end_time.clone().unwrap_or(record.start_time.clone());
    for action in record.stages.iter().flat_map(|s| &s.actions) {
        for time in [&action.start_time, &action.end_time].into_iter().flatten() {
            if *time > latest {
                latest = time.clone();
            }
        }
    }
    latest
}

/// GetPipelineExecution's `pipelineExecution`.
pub fn execution(record: &ExecutionRecord, mode: &str) -> Value {
    let variables: Vec<Value> = record
        .variables
        .iter()
        .map(|(name, value)| json!({"name": name, "resolvedValue": value}))
        .collect();
    let revisions: Vec<Value> = record
        .stages
        .iter()
        .flat_map(|s| &s.actions)
        .filter_map(|a| {
            let artifact = a.output_artifacts.first()?;
            let revision = a.current_revision.as_ref()?;
            Some(object(vec![
                ("name", json!(artifact.name)),
                ("revisionId", json!(revision.revision_id)),
                ("revisionSummary", json!(revision.revision_summary)),
                (
                    "revisionChangeIdentifier",
                    non_empty(&revision.change_identifier),
                ),
                ("created", optional_time(&a.end_time)),
            ]))
        })
        .collect();
    object(vec![
        ("pipelineName", json!(record.pipeline_name)),
        ("pipelineVersion", json!(record.pipeline_version)),
        ("pipelineExecutionId", json!(record.pipeline_execution_id)),
        ("status", json!(record.status)),
        ("statusSummary", json!(record.status_summary)),
        ("artifactRevisions", json!(revisions)),
        ("variables", json!(variables)),
        ("trigger", trigger(record)),
        ("executionMode", json!(mode)),
        ("executionType", json!(record.execution_type)),
        ("rollbackMetadata", rollback_metadata(record)),
    ])
}

/// ListPipelineExecutions' PipelineExecutionSummary.
pub fn execution_summary(record: &ExecutionRecord, mode: &str) -> Value {
    let revisions: Vec<Value> = record
        .source_revisions()
        .into_iter()
        .map(|r| {
            object(vec![
                ("actionName", json!(r.action_name)),
                ("revisionId", json!(r.revision_id)),
                ("revisionSummary", json!(r.revision_summary)),
            ])
        })
        .collect();
    object(vec![
        ("pipelineExecutionId", json!(record.pipeline_execution_id)),
        ("status", json!(record.status)),
        ("statusSummary", json!(record.status_summary)),
        ("startTime", timestamp(&record.start_time)),
        ("lastUpdateTime", timestamp(&last_update(record))),
        ("sourceRevisions", json!(revisions)),
        ("trigger", trigger(record)),
        ("executionMode", json!(mode)),
        ("executionType", json!(record.execution_type)),
        ("rollbackMetadata", rollback_metadata(record)),
    ])
}

fn artifacts(records: &[sandpipe_state::ArtifactRecord]) -> Value {
    Value::Array(
        records
            .iter()
            .map(|a| json!({"name": a.name, "s3location": {"bucket": a.bucket, "key": a.key}}))
            .collect(),
    )
}

/// ListActionExecutions' ActionExecutionDetail of one action.
pub fn action_detail(
    record: &ExecutionRecord,
    stage: &str,
    action: &ActionRecord,
    declared: Option<&sandpipe_model::ActionDeclaration>,
    region: &str,
) -> Value {
    let type_id = declared
        .map(|d| serde_json::to_value(&d.action_type_id).unwrap_or_default())
        .unwrap_or(Value::Null);
    let configuration = declared
        .map(|d| json!(d.configuration))
        .unwrap_or(Value::Null);
    let result = object(vec![
        ("externalExecutionId", json!(action.external_execution_id)),
        ("externalExecutionSummary", json!(action.summary)),
        (
            "errorDetails",
            action
                .error
                .as_ref()
                .map(|e| json!({"code": e.code, "message": e.message}))
                .unwrap_or(Value::Null),
        ),
    ]);
    object(vec![
        ("pipelineExecutionId", json!(record.pipeline_execution_id)),
        (
            "actionExecutionId",
            json!(action_execution_id(
                &record.pipeline_execution_id,
                stage,
                &action.name
            )),
        ),
        ("pipelineVersion", json!(record.pipeline_version)),
        ("stageName", json!(stage)),
        ("actionName", json!(action.name)),
        ("startTime", optional_time(&action.start_time)),
        (
            "lastUpdateTime",
            optional_time(&action.end_time.clone().or(action.start_time.clone())),
        ),
        ("status", json!(action.status)),
        (
            "input",
            object(vec![
                ("actionTypeId", type_id),
                ("configuration", configuration),
                (
                    "resolvedConfiguration",
                    json!(action.resolved_configuration),
                ),
                ("region", json!(region)),
                ("inputArtifacts", artifacts(&action.input_artifacts)),
                (
                    "namespace",
                    declared
                        .and_then(|d| d.namespace.clone())
                        .map(Value::from)
                        .unwrap_or(Value::Null),
                ),
            ]),
        ),
        (
            "output",
            object(vec![
                ("outputArtifacts", artifacts(&action.output_artifacts)),
                ("executionResult", result),
                ("outputVariables", json!(action.output_variables)),
            ]),
        ),
    ])
}

/// ListRuleExecutions' RuleExecutionDetail of one evaluated rule.
pub fn rule_detail(
    record: &ExecutionRecord,
    stage: &str,
    rule: &sandpipe_state::RuleRecord,
    region: &str,
) -> Value {
    let id = action_execution_id(
        &record.pipeline_execution_id,
        stage,
        &format!("{}:{}", rule.condition, rule.name),
    );
    json!({
        "pipelineExecutionId": record.pipeline_execution_id,
        "ruleExecutionId": id,
        "pipelineVersion": record.pipeline_version,
        "stageName": stage,
        "ruleName": rule.name,
        "startTime": timestamp(&rule.time),
        "lastUpdateTime": timestamp(&rule.time),
        "status": if rule.succeeded { "Succeeded" } else { "Failed" },
        "input": {
            "ruleTypeId": {"category": "Rule", "owner": "AWS", "provider": rule.provider, "version": "1"},
            "configuration": rule.configuration,
            "resolvedConfiguration": rule.configuration,
            "region": region,
        },
        "output": {"executionResult": {"externalExecutionId": id, "externalExecutionSummary": rule.summary}},
    })
}

/// The latest execution of one action, as a stage state shows it; None when it has not run.
fn action_latest(action: &ActionRecord, token: Option<&String>) -> Value {
    if action.status == ActionStatus::NotStarted {
        return Value::Null;
    }
    object(vec![
        ("status", json!(action.status)),
        ("summary", json!(action.summary)),
        (
            "lastStatusChange",
            optional_time(&action.end_time.clone().or(action.start_time.clone())),
        ),
        ("token", json!(token)),
        ("externalExecutionId", json!(action.external_execution_id)),
        (
            "errorDetails",
            action
                .error
                .as_ref()
                .map(|e| json!({"code": e.code, "message": e.message}))
                .unwrap_or(Value::Null),
        ),
    ])
}

/// What GetPipelineState says about one stage, from the newest execution that entered it.
pub struct StageView<'a> {
    pub name: &'a str,
    pub declared_actions: Vec<&'a str>,
    pub latest: Option<&'a ExecutionRecord>,
    /// Pending approval tokens of `latest`: (stage, action, token).
    pub tokens: &'a [(String, String, String)],
    /// The inbound transition: None when enabled, else (reason, changed at).
    pub disabled: Option<(&'a str, &'a str)>,
}

pub fn stage_state(view: &StageView<'_>) -> Value {
    let stage = view
        .latest
        .and_then(|r| r.stages.iter().find(|s| s.name == view.name));
    let action_states: Vec<Value> = view
        .declared_actions
        .iter()
        .map(|name| {
            let record = stage.and_then(|s| s.actions.iter().find(|a| a.name == *name));
            let token = view
                .tokens
                .iter()
                .find(|(s, a, _)| s == view.name && a == name)
                .map(|(_, _, t)| t);
            object(vec![
                ("actionName", json!(name)),
                (
                    "currentRevision",
                    record
                        .and_then(|r| r.current_revision.as_ref())
                        .map(|c| json!({"revisionId": c.revision_id, "revisionChangeId": c.change_identifier}))
                        .unwrap_or(Value::Null),
                ),
                (
                    "latestExecution",
                    record.map(|r| action_latest(r, token)).unwrap_or(Value::Null),
                ),
            ])
        })
        .collect();
    let transition = match view.disabled {
        None => json!({"enabled": true}),
        Some((reason, changed)) => json!({
            "enabled": false,
            "disabledReason": reason,
            "lastChangedAt": timestamp(changed),
            "lastChangedBy": "sandpipe",
        }),
    };
    let latest = match (view.latest, stage) {
        (Some(record), Some(stage)) if stage.status != StageStatus::NotStarted => json!({
            "pipelineExecutionId": record.pipeline_execution_id,
            "status": stage.status,
        }),
        _ => Value::Null,
    };
    object(vec![
        ("stageName", json!(view.name)),
        ("inboundTransitionState", transition),
        ("actionStates", json!(action_states)),
        ("latestExecution", latest),
    ])
}

/// The execution mode a declaration runs in (SUPERSEDED unless it says otherwise).
pub fn execution_mode(pipeline: &PipelineDeclaration) -> String {
    pipeline
        .execution_mode
        .as_ref()
        .and_then(|m| serde_json::to_value(m).ok())
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "SUPERSEDED".into())
}
