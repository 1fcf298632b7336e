//! Pipelines as resources: CreatePipeline, GetPipeline, UpdatePipeline, DeletePipeline,
//! ListPipelines, and the tags of TagResource, UntagResource and ListTagsForResource. The
//! registry is the state store's, so a pipeline first run from a file by the CLI is one the
//! API can get, update and start.

use serde_json::{Value, json};

use sandpipe_engine::ExecutionRequest;
use sandpipe_model::load::parse_document;
use sandpipe_model::{LoadedPipeline, PipelineDeclaration, Problem};

use super::empty;
use crate::App;
use crate::caller::Caller;
use crate::json::{AwsError, Input, Reply, timestamp};
use sandpipe_state::PipelineMeta;

/// The source a pipeline made through the API is recorded with (records name a file).
pub const API_SOURCE: &str = "CreatePipeline";

/// The pipeline of a CreatePipeline / UpdatePipeline request, checked as the service checks
/// it: each problem with its JSON path, under the exception of the first.
fn declaration_of(input: &Input, operation: &str) -> Result<LoadedPipeline, AwsError> {
    let Some(pipeline) = input.0.get("pipeline") else {
        return Err(AwsError::validation(
            "1 validation error detected: Value null at 'pipeline' failed to satisfy \
             constraint: Member must not be null",
        ));
    };
    let text = json!({ "pipeline": pipeline }).to_string();
    // The exception is the first problem's; the message says each problem at its path
    // (the exception is already the error's type).
    let refused = |problems: &[&Problem]| {
        let code = problems.first().map_or("InvalidStructureException", |p| {
            // A value of the wrong JSON type is a request the service cannot read.
            if p.exception == "ValidationException" && p.message.starts_with("invalid type:") {
                "SerializationException"
            } else {
                p.exception
            }
        });
        let message: Vec<String> = problems
            .iter()
            .map(|p| format!("{}: {}", p.path, p.message))
            .collect();
        AwsError::new(code, message.join("; "))
    };
    let mut loaded = parse_document(operation, &text, false).map_err(|error| {
        let findings = error.findings();
        refused(&findings.iter().map(|f| &f.problem).collect::<Vec<_>>())
    })?;
    let problems = loaded.problems();
    if !problems.is_empty() {
        return Err(refused(&problems.iter().collect::<Vec<_>>()));
    }
    // The version is the service's to give, not the caller's.
    loaded.pipeline.version = None;
    Ok(loaded)
}

/// The declaration as stored and shown: secret configuration values masked (CodePipeline's
/// own and those a plugin declares).
pub fn stored_form(app: &App, pipeline: &PipelineDeclaration) -> String {
    serde_json::to_string(&app.runner.mask_secrets(pipeline)).expect("declarations serialize")
}

/// Keep `loaded` (version `version`) in memory, secrets and all, when storing masked it
/// lost something: executions this server starts then get what was declared. Nothing
/// secret is written; after a restart such a pipeline must be updated again.
fn keep_declared(app: &App, loaded: &LoadedPipeline, stored: &str, version: u32) {
    let mut declared = app.declared.lock().unwrap_or_else(|e| e.into_inner());
    let plain = serde_json::to_string(&loaded.pipeline).expect("declarations serialize");
    if plain == stored {
        declared.remove(&loaded.pipeline.name);
    } else {
        declared.insert(loaded.pipeline.name.clone(), (version, loaded.clone()));
    }
}

/// `request` (a retry or rollback of `name`) with the declaration this server holds, secrets
/// included; the engine runs it only if it is the version the execution ran.
pub fn with_declared(app: &App, name: &str, request: ExecutionRequest) -> ExecutionRequest {
    let declared = app.declared.lock().unwrap_or_else(|e| e.into_inner());
    match declared.get(name) {
        Some((_, kept)) => request.with_declared(kept.pipeline.clone()),
        None => request,
    }
}

/// [`load`] for an execution to run: the declaration as declared, secrets included, when
/// this server still holds it.
pub fn load_declared(app: &App, name: &str) -> Result<(LoadedPipeline, PipelineMeta), AwsError> {
    let (loaded, meta) = load(app, name)?;
    let declared = app.declared.lock().unwrap_or_else(|e| e.into_inner());
    match declared.get(name) {
        Some((version, kept)) if *version == meta.version => Ok((kept.clone(), meta)),
        _ => Ok((loaded, meta)),
    }
}

/// The latest declaration of `name`, loaded, with the pipeline's metadata;
/// `PipelineNotFoundException` if there is none.
pub fn load(app: &App, name: &str) -> Result<(LoadedPipeline, PipelineMeta), AwsError> {
    let state = app.runner.state();
    let meta = state
        .pipelines()
        .get(name)?
        .ok_or_else(|| not_found(name))?;
    let text = state.executions().declaration(name, meta.version)?;
    let loaded = parse_document(API_SOURCE, &format!("{{\"pipeline\":{text}}}"), false)
        .map_err(|e| AwsError::internal(format!("the stored pipeline '{name}': {e}")))?;
    Ok((loaded, meta))
}

pub fn not_found(name: &str) -> AwsError {
    AwsError::new(
        "PipelineNotFoundException",
        format!("Account does not have a pipeline with name '{name}'"),
    )
}

fn tags_of(input: &Input) -> Result<Vec<(String, String)>, AwsError> {
    #[derive(serde::Deserialize)]
    struct Tag {
        key: String,
        value: String,
    }
    let tags: Vec<Tag> = input.typed("tags")?.unwrap_or_default();
    for tag in &tags {
        if tag.key.is_empty() || tag.key.len() > 128 || tag.value.len() > 256 {
            return Err(AwsError::new(
                "InvalidTagsException",
                format!(
                    "tag '{}': keys are 1–128 characters, values up to 256",
                    tag.key
                ),
            ));
        }
        if tag.key.to_ascii_lowercase().starts_with("aws:") {
            return Err(AwsError::new(
                "InvalidTagsException",
                format!("tag '{}': the aws: prefix is reserved for AWS", tag.key),
            ));
        }
    }
    Ok(tags.into_iter().map(|t| (t.key, t.value)).collect())
}

/// The most tags a resource has, as on AWS.
const MAX_TAGS: usize = 50;

/// Refuse tags past [`MAX_TAGS`]: `existing` ones with `added` over them.
fn within_tag_limit(
    existing: &[(String, String)],
    added: &[(String, String)],
) -> Result<(), AwsError> {
    let mut keys: std::collections::BTreeSet<&str> =
        existing.iter().map(|(k, _)| k.as_str()).collect();
    keys.extend(added.iter().map(|(k, _)| k.as_str()));
    if keys.len() > MAX_TAGS {
        return Err(AwsError::new(
            "TooManyTagsException",
            format!(
                "a resource has at most {MAX_TAGS} tags; this would give it {}",
                keys.len()
            ),
        ));
    }
    Ok(())
}

fn tags_json(tags: &[(String, String)]) -> Value {
    Value::Array(
        tags.iter()
            .map(|(key, value)| json!({"key": key, "value": value}))
            .collect(),
    )
}

/// The declaration JSON shown with its version.
fn shown(stored: &str, version: u32) -> Result<Value, AwsError> {
    let mut value: Value = serde_json::from_str(stored)
        .map_err(|e| AwsError::internal(format!("a stored declaration is unreadable: {e}")))?;
    value["version"] = json!(version);
    Ok(value)
}

pub fn create(app: &App, caller: &Caller, input: Input) -> Reply {
    let loaded = declaration_of(&input, "CreatePipeline")?;
    let tags = tags_of(&input)?;
    within_tag_limit(&[], &tags)?;
    let name = loaded.pipeline.name.clone();
    let state = app.runner.state();
    if state.pipelines().get(&name)?.is_some() {
        return Err(AwsError::new(
            "PipelineNameInUseException",
            format!("A pipeline with the name '{name}' already exists in this account"),
        ));
    }
    let stored = stored_form(app, &loaded.pipeline);
    let version = state
        .executions()
        .register_pipeline(&name, &stored, API_SOURCE)?;
    keep_declared(app, &loaded, &stored, version);
    let arn = caller.arn("codepipeline", &name);
    state.pipelines().tag(&arn, &tags)?;
    // As on AWS, a new pipeline starts an execution at once; the pipeline exists whether or
    // not that execution could start (its refusal is the server's log to tell).
    if let Err(refused) =
        super::executions::launch(app, caller, loaded, "CreatePipeline", Default::default())
    {
        use std::io::Write;
        let _ = writeln!(
            std::io::stderr(),
            "sandpipe serve: pipeline '{name}' was created, but its first execution could not \
             start: {}: {}",
            refused.code,
            refused.message
        );
    }
    Ok(json!({"pipeline": shown(&stored, version)?, "tags": tags_json(&tags)}))
}

pub fn update(app: &App, _caller: &Caller, input: Input) -> Reply {
    let loaded = declaration_of(&input, "UpdatePipeline")?;
    let name = loaded.pipeline.name.clone();
    let state = app.runner.state();
    if state.pipelines().get(&name)?.is_none() {
        return Err(not_found(&name));
    }
    let stored = stored_form(app, &loaded.pipeline);
    let version = state
        .executions()
        .register_pipeline(&name, &stored, API_SOURCE)?;
    keep_declared(app, &loaded, &stored, version);
    Ok(json!({"pipeline": shown(&stored, version)?}))
}

pub fn get(app: &App, caller: &Caller, input: Input) -> Reply {
    let name = input.string("name")?;
    let state = app.runner.state();
    let meta = state
        .pipelines()
        .get(&name)?
        .ok_or_else(|| not_found(&name))?;
    let version = match input.0.get("version") {
        None | Some(Value::Null) => meta.version,
        Some(v) => v
            .as_u64()
            .filter(|v| (1..=meta.version as u64).contains(v))
            .map(|v| v as u32)
            .ok_or_else(|| {
                AwsError::new(
                    "PipelineVersionNotFoundException",
                    format!("pipeline '{name}' has no version {v}"),
                )
            })?,
    };
    let stored = state.executions().declaration(&name, version)?;
    Ok(json!({
        "pipeline": shown(&stored, version)?,
        "metadata": {
            "pipelineArn": caller.arn("codepipeline", &name),
            "created": timestamp(&meta.created),
            "updated": timestamp(&meta.updated),
        }
    }))
}

pub fn delete(app: &App, caller: &Caller, input: Input) -> Reply {
    let name = input.string("name")?;
    // Deleting a pipeline that does not exist succeeds, as on AWS.
    app.runner
        .state()
        .pipelines()
        .delete(&name, &caller.arn("codepipeline", &name))?;
    // Its secrets go with it, and what was said of its starts.
    app.declared
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&name);
    app.refused_starts
        .lock()
        .unwrap_or_else(|e| e.into_inner())
        .remove(&name);
    empty()
}

/// ListPipelines: by name, up to `maxResults` (1–1000) per page.
pub fn list(app: &App, _caller: &Caller, input: Input) -> Reply {
    let limit = input.max_results(1000, 1000)?;
    // The token is the last name of the page before, marked as sandpipe's: anything else
    // is not a token this server gave.
    let after = match input.optional_string("nextToken")? {
        None => None,
        Some(token) => Some(
            token
                .strip_prefix(PAGE_TOKEN)
                .map(str::to_string)
                .ok_or_else(|| {
                    AwsError::new("InvalidNextTokenException", "the nextToken is not valid")
                })?,
        ),
    };
    let state = app.runner.state();
    let mut page = state.pipelines().list(after.as_deref(), limit + 1)?;
    let next = (page.len() > limit).then(|| {
        page.truncate(limit);
        page.last().map(|p| p.name.clone())
    });
    let mut pipelines = Vec::new();
    for meta in &page {
        let stored = state.executions().declaration(&meta.name, meta.version)?;
        let declaration: Value = serde_json::from_str(&stored).unwrap_or_default();
        let summary = json!({
            "name": meta.name,
            "version": meta.version,
            "pipelineType": declaration.get("pipelineType").cloned().unwrap_or(json!("V1")),
            "executionMode": declaration.get("executionMode").cloned().unwrap_or(json!("SUPERSEDED")),
            "created": timestamp(&meta.created),
            "updated": timestamp(&meta.updated),
        });
        pipelines.push(summary);
    }
    let mut reply = json!({ "pipelines": pipelines });
    if let Some(Some(last)) = next {
        reply["nextToken"] = json!(format!("{PAGE_TOKEN}{last}"));
    }
    Ok(reply)
}

/// What begins a ListPipelines token.
const PAGE_TOKEN: &str = "after:";

/// The pipeline an ARN names, when this account has it.
fn pipeline_of_arn(app: &App, caller: &Caller, arn: &str) -> Result<String, AwsError> {
    let prefix = caller.arn("codepipeline", "");
    let Some(name) = arn.strip_prefix(&prefix).filter(|n| !n.is_empty()) else {
        return Err(AwsError::new(
            "InvalidArnException",
            format!(
                "'{arn}' is not the ARN of a pipeline of this account and region ({prefix}<name>)"
            ),
        ));
    };
    match app.runner.state().pipelines().get(name)? {
        Some(_) => Ok(name.to_string()),
        None => Err(AwsError::new(
            "ResourceNotFoundException",
            format!("no pipeline with ARN '{arn}'"),
        )),
    }
}

pub fn tag(app: &App, caller: &Caller, input: Input) -> Reply {
    let arn = input.string("resourceArn")?;
    pipeline_of_arn(app, caller, &arn)?;
    let tags = tags_of(&input)?;
    let pipelines = app.runner.state().pipelines();
    within_tag_limit(&pipelines.tags(&arn)?, &tags)?;
    pipelines.tag(&arn, &tags)?;
    empty()
}

pub fn untag(app: &App, caller: &Caller, input: Input) -> Reply {
    let arn = input.string("resourceArn")?;
    pipeline_of_arn(app, caller, &arn)?;
    let keys: Vec<String> = input.typed("tagKeys")?.unwrap_or_default();
    app.runner.state().pipelines().untag(&arn, &keys)?;
    empty()
}

pub fn list_tags(app: &App, caller: &Caller, input: Input) -> Reply {
    let arn = input.string("resourceArn")?;
    pipeline_of_arn(app, caller, &arn)?;
    let tags = app.runner.state().pipelines().tags(&arn)?;
    Ok(json!({ "tags": tags_json(&tags) }))
}
