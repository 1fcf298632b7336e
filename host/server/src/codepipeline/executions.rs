//! Executions through the API: StartPipelineExecution (idempotent on its
//! `clientRequestToken`), StopPipelineExecution, Get/ListPipelineExecution(s),
//! ListActionExecutions, GetPipelineState, PutApprovalResult, RetryStageExecution,
//! RollbackStage and Enable/DisableStageTransition — each the same engine call the CLI makes,
//! on the server's one runner, so the CLI and the API see and steer the same executions.

use std::collections::BTreeMap;

use serde_json::{Value, json};

use sandpipe_engine::{ExecutionRequest, RunError, Start};
use sandpipe_model::LoadedPipeline;
use sandpipe_model::execution::SourceRevision;
use sandpipe_state::{ExecutionRecord, StageStatus, StopMode};

use super::pipelines::{self, API_SOURCE};
use super::{empty, view};
use crate::caller::Caller;
use crate::json::{AwsError, Input, Reply};
use crate::{App, CachedState};

/// (stage, action, token) of an approval an execution waits on.
type PendingApproval = (String, String, String);

fn run_error(error: RunError) -> AwsError {
    match error {
        RunError::Invalid(findings) => {
            let code = findings
                .first()
                .map(|f| f.problem.exception)
                .unwrap_or("InvalidStructureException");
            let text: Vec<String> = findings
                .iter()
                .map(|f| format!("{}: {}", api_path(&f.problem.path), f.problem.message))
                .collect();
            AwsError::new(code, text.join("; "))
        }
        RunError::Other(error) => {
            AwsError::from_refusal(&format!("{error:#}"), "ValidationException")
        }
    }
}

/// A problem's path as the API's caller wrote it: the engine names the CLI's flags
/// (`--variable NAME`), which an API request spells as its members.
fn api_path(path: &str) -> String {
    let members = [
        ("--variable ", "variables", "name"),
        ("--source-revision ", "sourceRevisions", "actionName"),
    ];
    for (flag, member, key) in members {
        if let Some(name) = path.strip_prefix(flag) {
            return format!("{member}[{key}={name}]");
        }
    }
    path.to_string()
}

/// Start an execution of `loaded` in the background; its id.
pub fn launch(
    app: &App,
    caller: &Caller,
    loaded: LoadedPipeline,
    trigger: &str,
    start: (BTreeMap<String, String>, BTreeMap<String, SourceRevision>),
) -> Result<String, AwsError> {
    let (variables, revisions) = start;
    let mut by = Start::by(trigger, "sandpipe serve");
    by.source_revisions = revisions;
    let name = loaded.pipeline.name.clone();
    let request = ExecutionRequest::start(loaded, API_SOURCE)
        .with_variables(variables)
        .started_by(by)
        .with_files(app.files.clone())
        .in_region(&caller.region);
    let started = submit(app, request);
    let mut refused = app.refused_starts.lock().unwrap_or_else(|e| e.into_inner());
    match &started {
        Ok(_) => {
            refused.remove(&name);
        }
        Err(error) => {
            refused.insert(
                name,
                (
                    trigger.to_string(),
                    format!("{}: {}", error.code, error.message),
                ),
            );
        }
    }
    drop(refused);
    app.changes.touched();
    started
}

fn submit(app: &App, request: ExecutionRequest) -> Result<String, AwsError> {
    let handle = tokio::runtime::Handle::current();
    handle
        .block_on(app.runner.start(request, app.observer.clone()))
        .map_err(run_error)
}

/// An execution of `pipeline` by exact id; `PipelineExecutionNotFoundException` otherwise.
pub(super) fn execution_of(
    app: &App,
    pipeline: &str,
    id: &str,
) -> Result<ExecutionRecord, AwsError> {
    let missing = || {
        AwsError::new(
            "PipelineExecutionNotFoundException",
            format!("Pipeline execution with id '{id}' not found in pipeline '{pipeline}'"),
        )
    };
    match app.runner.state().executions().get(id) {
        Ok(record) if record.pipeline_name == pipeline && record.pipeline_execution_id == id => {
            Ok(record)
        }
        Ok(_) | Err(sandpipe_state::StateError::NoSuchExecution { .. }) => Err(missing()),
        Err(error) => Err(error.into()),
    }
}

fn variables_of(input: &Input) -> Result<BTreeMap<String, String>, AwsError> {
    #[derive(serde::Deserialize)]
    struct Variable {
        name: String,
        value: String,
    }
    let given: Vec<Variable> = input.typed("variables")?.unwrap_or_default();
    if given.len() > 50 {
        return Err(AwsError::validation("at most 50 variables may be given"));
    }
    Ok(given.into_iter().map(|v| (v.name, v.value)).collect())
}

fn revisions_of(input: &Input) -> Result<BTreeMap<String, SourceRevision>, AwsError> {
    #[derive(serde::Deserialize)]
    #[serde(rename_all = "camelCase")]
    struct Given {
        action_name: String,
        #[serde(flatten)]
        revision: SourceRevision,
    }
    let given: Vec<Given> = input.typed("sourceRevisions")?.unwrap_or_default();
    Ok(given
        .into_iter()
        .map(|g| (g.action_name, g.revision))
        .collect())
}

pub fn start(app: &App, caller: &Caller, input: Input) -> Reply {
    let name = input.string("name")?;
    let token = input.optional_string("clientRequestToken")?;
    if let Some(token) = &token
        && (token.is_empty()
            || token.len() > 128
            || !token
                .bytes()
                .all(|b| b.is_ascii_alphanumeric() || b == b'-'))
    {
        return Err(AwsError::validation(
            "clientRequestToken must be 1–128 letters, digits and hyphens",
        ));
    }
    let start = (variables_of(&input)?, revisions_of(&input)?);
    // One start at a time per token check, so two retries of one request start one execution.
    let _one = app.starting.lock().unwrap_or_else(|e| e.into_inner());
    let registry = app.runner.state().pipelines();
    if let Some(token) = &token
        && let Some(id) = registry.started_by_token(&name, token)?
    {
        return Ok(json!({ "pipelineExecutionId": id }));
    }
    let (loaded, _) = pipelines::load_declared(app, &name)?;
    let id = launch(app, caller, loaded, "StartPipelineExecution", start)?;
    if let Some(token) = &token {
        registry.remember_token(&name, token, &id)?;
    }
    Ok(json!({ "pipelineExecutionId": id }))
}

pub fn stop(app: &App, _caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let id = input.string("pipelineExecutionId")?;
    let abandon = input.optional_bool("abandon")?.unwrap_or(false);
    let reason = input.optional_string("reason")?;
    if reason.as_ref().is_some_and(|r| r.len() > 200) {
        return Err(AwsError::validation(
            "reason must be at most 200 characters",
        ));
    }
    pipelines::load(app, &pipeline)?;
    execution_of(app, &pipeline, &id)?;
    let mode = if abandon {
        StopMode::Abandon
    } else {
        StopMode::Stop
    };
    match app.runner.request_stop(&id, mode, reason.as_deref())? {
        Ok(id) => Ok(json!({ "pipelineExecutionId": id })),
        Err(refused) => Err(AwsError::from_refusal(
            &refused.to_string(),
            "PipelineExecutionNotStoppableException",
        )),
    }
}

pub fn get(app: &App, _caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let id = input.string("pipelineExecutionId")?;
    let (loaded, _) = pipelines::load(app, &pipeline)?;
    let record = execution_of(app, &pipeline, &id)?;
    let mode = view::execution_mode(&loaded.pipeline);
    Ok(json!({ "pipelineExecution": view::execution(&record, &mode) }))
}

/// An opaque page token: the offset of the next item.
fn offset_of(input: &Input) -> Result<usize, AwsError> {
    match input.optional_string("nextToken")? {
        None => Ok(0),
        Some(token) => token
            .parse()
            .map_err(|_| AwsError::new("InvalidNextTokenException", "the nextToken is not valid")),
    }
}

/// Records of `pipeline`, newest first, for one page from `offset`; and whether more follow.
fn page_of_records(
    app: &App,
    pipeline: &str,
    offset: usize,
    limit: usize,
    keep: impl Fn(&ExecutionRecord) -> bool,
) -> Result<(Vec<ExecutionRecord>, bool), AwsError> {
    let executions = app.runner.state().executions();
    let summaries = executions.list(Some(pipeline), usize::MAX >> 1)?;
    let mut kept = Vec::new();
    let mut seen = 0;
    for summary in summaries {
        let record = executions.get(&summary.id)?;
        if !keep(&record) {
            continue;
        }
        if seen >= offset {
            if kept.len() == limit {
                return Ok((kept, true));
            }
            kept.push(record);
        }
        seen += 1;
    }
    Ok((kept, false))
}

pub fn list(app: &App, _caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let limit = input.max_results(100, 100)?;
    let offset = offset_of(&input)?;
    let succeeded_in: Option<String> = input
        .0
        .get("filter")
        .and_then(|f| f.get("succeededInStage"))
        .and_then(|s| s.get("stageName"))
        .and_then(Value::as_str)
        .map(str::to_string);
    let (loaded, _) = pipelines::load(app, &pipeline)?;
    let mode = view::execution_mode(&loaded.pipeline);
    let (records, more) = page_of_records(app, &pipeline, offset, limit, |record| {
        succeeded_in.as_ref().is_none_or(|stage| {
            record
                .stages
                .iter()
                .any(|s| &s.name == stage && s.status == StageStatus::Succeeded)
        })
    })?;
    let summaries: Vec<Value> = records
        .iter()
        .map(|r| view::execution_summary(r, &mode))
        .collect();
    let mut reply = json!({ "pipelineExecutionSummaries": summaries });
    if more {
        reply["nextToken"] = json!((offset + limit).to_string());
    }
    Ok(reply)
}

/// The executions of `pipeline` a ListActionExecutions / ListRuleExecutions filter names
/// (`filter.pipelineExecutionId`), or all of them, newest first.
fn filtered_records(
    app: &App,
    pipeline: &str,
    input: &Input,
) -> Result<Vec<ExecutionRecord>, AwsError> {
    let only: Option<String> = input
        .0
        .get("filter")
        .and_then(|f| f.get("pipelineExecutionId"))
        .and_then(Value::as_str)
        .map(str::to_string);
    if let Some(id) = &only {
        execution_of(app, pipeline, id)?;
    }
    let (records, _) = page_of_records(app, pipeline, 0, usize::MAX >> 1, |record| {
        only.as_ref()
            .is_none_or(|id| *id == record.pipeline_execution_id)
    })?;
    Ok(records)
}

/// One page of `items` under `member`, as `maxResults` and `nextToken` ask.
fn page_of(items: Vec<Value>, input: &Input, member: &str) -> Reply {
    let limit = input.max_results(100, 100)?;
    let offset = offset_of(input)?;
    let more = items.len() > offset + limit;
    let page: Vec<Value> = items.into_iter().skip(offset).take(limit).collect();
    let mut reply = json!({ member: page });
    if more {
        reply["nextToken"] = json!((offset + limit).to_string());
    }
    Ok(reply)
}

pub fn list_actions(app: &App, caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let (loaded, _) = pipelines::load(app, &pipeline)?;
    let records = filtered_records(app, &pipeline, &input)?;
    let mut details = Vec::new();
    for record in &records {
        for stage in record.stages.iter().rev() {
            let declared_stage = loaded.pipeline.stages.iter().find(|s| s.name == stage.name);
            for action in stage.actions.iter().rev() {
                if action.status == sandpipe_state::ActionStatus::NotStarted {
                    continue;
                }
                let declared =
                    declared_stage.and_then(|s| s.actions.iter().find(|a| a.name == action.name));
                details.push(view::action_detail(
                    record,
                    &stage.name,
                    action,
                    declared,
                    &caller.region,
                ));
            }
        }
    }
    page_of(details, &input, "actionExecutionDetails")
}

/// ListRuleExecutions: every condition rule evaluated, newest execution first.
pub fn list_rules(app: &App, caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    pipelines::load(app, &pipeline)?;
    let records = filtered_records(app, &pipeline, &input)?;
    let details: Vec<Value> = records
        .iter()
        .flat_map(|record| {
            record.stages.iter().flat_map(move |stage| {
                stage
                    .rules
                    .iter()
                    .map(move |rule| view::rule_detail(record, &stage.name, rule, &caller.region))
            })
        })
        .collect();
    page_of(details, &input, "ruleExecutionDetails")
}

/// GetPipelineState: the answer kept for the pipeline while nothing in the state has changed
/// since it was read (dashboards poll it), else read afresh and kept.
pub fn state(app: &App, _caller: &Caller, input: Input) -> Reply {
    let name = input.string("name")?;
    let generation = app.runner.state().generation()?;
    if let Some(hit) = kept_state(app, &name, generation, |kept| kept.answer.clone()) {
        return Ok(hit);
    }
    let answer = read_state(app, &name)?;
    let serialized = bytes::Bytes::from(answer.to_string());
    let mut kept = app
        .pipeline_states
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    // One entry per pipeline asked about; a stale one is replaced, not kept beside.
    kept.insert(
        name,
        CachedState {
            generation,
            answer: answer.clone(),
            serialized,
        },
    );
    Ok(answer)
}

/// The kept GetPipelineState answer of `members`' pipeline, serialized, when nothing changed
/// since it was read: a hit costs one PRAGMA, no thread hand-off and no serializing. None
/// sends the request down [`state`]'s path.
pub fn kept_state_now(app: &App, members: &serde_json::Map<String, Value>) -> Option<bytes::Bytes> {
    let name = members.get("name")?.as_str()?;
    let generation = app.runner.state().generation().ok()?;
    kept_state(app, name, generation, |kept| kept.serialized.clone())
}

fn kept_state<T>(
    app: &App,
    name: &str,
    generation: i64,
    part: impl FnOnce(&CachedState) -> T,
) -> Option<T> {
    let kept = app
        .pipeline_states
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    kept.get(name)
        .filter(|kept| kept.generation == generation)
        .map(part)
}

/// GetPipelineState read from the state store.
fn read_state(app: &App, name: &str) -> Reply {
    let name = name.to_string();
    let (loaded, meta) = pipelines::load(app, &name)?;
    let state = app.runner.state();
    let disabled = state.stage_gate().disabled_transitions(&name)?;
    // One record per distinct execution, however many stages it is the latest of.
    let mut records: BTreeMap<String, (ExecutionRecord, Vec<PendingApproval>)> = BTreeMap::new();
    let mut latest_of = Vec::new();
    for stage in &loaded.pipeline.stages {
        let id = state
            .executions()
            .latest_in_stage_named(&name, &stage.name)?;
        if let Some(id) = &id
            && !records.contains_key(id)
        {
            let record = state.executions().get(id)?;
            let tokens = state.approvals().pending_of(id)?;
            records.insert(id.clone(), (record, tokens));
        }
        latest_of.push(id);
    }
    let stage_states: Vec<Value> = loaded
        .pipeline
        .stages
        .iter()
        .zip(&latest_of)
        .map(|(stage, id)| {
            let found = id.as_ref().and_then(|id| records.get(id));
            view::stage_state(&view::StageView {
                name: &stage.name,
                declared_actions: stage.actions.iter().map(|a| a.name.as_str()).collect(),
                latest: found.map(|(r, _)| r),
                tokens: found.map(|(_, t)| t.as_slice()).unwrap_or(&[]),
                disabled: disabled
                    .iter()
                    .find(|(s, ..)| *s == stage.name)
                    .map(|(_, reason, changed)| (reason.as_str(), changed.as_str())),
            })
        })
        .collect();
    Ok(json!({
        "pipelineName": name,
        "pipelineVersion": meta.version,
        "stageStates": stage_states,
        "created": crate::json::timestamp(&meta.created),
        "updated": crate::json::timestamp(&meta.updated),
    }))
}

/// The stage of the pipeline's latest declaration; `StageNotFoundException` otherwise.
pub(super) fn declared_stage(
    app: &App,
    pipeline: &str,
    stage: &str,
) -> Result<LoadedPipeline, AwsError> {
    let (loaded, _) = pipelines::load(app, pipeline)?;
    if !loaded.pipeline.stages.iter().any(|s| s.name == stage) {
        return Err(AwsError::new(
            "StageNotFoundException",
            format!("pipeline '{pipeline}' has no stage '{stage}'"),
        ));
    }
    Ok(loaded)
}

pub fn put_approval_result(app: &App, _caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let stage = input.string("stageName")?;
    let action = input.string("actionName")?;
    let token = input.string("token")?;
    let result = input.0.get("result").cloned().unwrap_or_default();
    let Some(summary) = result.get("summary").and_then(Value::as_str) else {
        return Err(AwsError::validation(
            "result.summary is required: what the approver says of the approval",
        ));
    };
    if summary.len() > 512 {
        return Err(AwsError::validation(
            "result.summary must be at most 512 characters",
        ));
    }
    let approve = match result.get("status").and_then(Value::as_str) {
        Some("Approved") => true,
        Some("Rejected") => false,
        other => {
            return Err(AwsError::validation(format!(
                "result.status must be Approved or Rejected, not {}",
                other.unwrap_or("null")
            )));
        }
    };
    let loaded = declared_stage(app, &pipeline, &stage)?;
    let declared = loaded.pipeline.stages.iter().find(|s| s.name == stage);
    if !declared.is_some_and(|s| s.actions.iter().any(|a| a.name == action)) {
        return Err(AwsError::new(
            "ActionNotFoundException",
            format!("stage '{stage}' of pipeline '{pipeline}' has no action '{action}'"),
        ));
    }
    match app.runner.decide_approval(
        (&pipeline, &stage, &action),
        Some(&token),
        approve,
        summary,
    )? {
        Ok(_) => Ok(json!({ "approvedAt": crate::json::timestamp(&sandpipe_state::now()) })),
        Err(refused) => Err(AwsError::from_refusal(
            &refused.to_string(),
            "InvalidApprovalTokenException",
        )),
    }
}

pub fn retry(app: &App, _caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let stage = input.string("stageName")?;
    let id = input.string("pipelineExecutionId")?;
    let all_actions = match input.string("retryMode")?.as_str() {
        "FAILED_ACTIONS" => false,
        "ALL_ACTIONS" => true,
        other => {
            return Err(AwsError::validation(format!(
                "retryMode must be FAILED_ACTIONS or ALL_ACTIONS, not {other}"
            )));
        }
    };
    declared_stage(app, &pipeline, &stage)?;
    execution_of(app, &pipeline, &id)?;
    let request = ExecutionRequest::retry(&id, &stage, all_actions).with_files(app.files.clone());
    let id = submit(app, pipelines::with_declared(app, &pipeline, request))?;
    Ok(json!({ "pipelineExecutionId": id }))
}

pub fn rollback(app: &App, caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let stage = input.string("stageName")?;
    let target = input.string("targetPipelineExecutionId")?;
    declared_stage(app, &pipeline, &stage)?;
    execution_of(app, &pipeline, &target)?;
    let request = ExecutionRequest::rollback(&pipeline, &stage, Some(&target))
        .started_by(Start::by("ManualRollback", "sandpipe serve"))
        .with_files(app.files.clone())
        .in_region(&caller.region);
    let id = submit(app, pipelines::with_declared(app, &pipeline, request))?;
    Ok(json!({ "pipelineExecutionId": id }))
}

/// `transitionType`: sandpipe holds executions at a stage's inbound transition.
fn inbound(input: &Input) -> Result<(), AwsError> {
    match input.string("transitionType")?.as_str() {
        "Inbound" => Ok(()),
        "Outbound" => Err(AwsError::validation(
            "sandpipe holds executions at a stage's inbound transition only: disable the \
             next stage's Inbound transition instead",
        )),
        other => Err(AwsError::validation(format!(
            "transitionType must be Inbound or Outbound, not {other}"
        ))),
    }
}

pub fn disable_transition(app: &App, _caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let stage = input.string("stageName")?;
    inbound(&input)?;
    let reason = input.string("reason")?;
    if reason.is_empty() || reason.len() > 300 {
        return Err(AwsError::validation("reason must be 1–300 characters"));
    }
    // AWS's pattern for it; what AWS refuses is refused here too.
    if !reason
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || "!@ ().*?-".contains(c))
    {
        return Err(AwsError::validation(format!(
            "1 validation error detected: Value '{reason}' at 'reason' failed to satisfy \
             constraint: Member must satisfy regular expression pattern: \
             [a-zA-Z0-9!@ \\(\\)\\.\\*\\?\\-]+"
        )));
    }
    declared_stage(app, &pipeline, &stage)?;
    app.runner
        .state()
        .stage_gate()
        .disable_transition(&pipeline, &stage, &reason)?;
    empty()
}

pub fn enable_transition(app: &App, _caller: &Caller, input: Input) -> Reply {
    let pipeline = input.string("pipelineName")?;
    let stage = input.string("stageName")?;
    inbound(&input)?;
    declared_stage(app, &pipeline, &stage)?;
    app.runner.enable_transition(&pipeline, &stage)?;
    empty()
}
