//! `sandpipe provenance`: an in-toto Statement v1 whose predicate is SLSA Provenance v1, so
//! a local execution can be audited as a CI build is — its subjects the output artifacts by
//! SHA-256, its build definition the pipeline version, variables and trigger, its resolved
//! dependencies the source revisions, the declaration and every component that ran.

use std::collections::BTreeMap;

use sandpipe_model::ActionTypeId;
use sandpipe_model::execution::revisions::{Pin, RevisionType, pin};
use sandpipe_state::{ActionRecord, ExecutionRecord};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

pub const STATEMENT_TYPE: &str = "https://in-toto.io/Statement/v1";
pub const PREDICATE_TYPE: &str = "https://slsa.dev/provenance/v1";
/// What a sandpipe execution's build definition means: a CodePipeline execution run locally.
pub const BUILD_TYPE: &str = "https://github.com/sandpipe/sandpipe/codepipeline-execution/v1";
pub const BUILDER_ID: &str = "https://github.com/sandpipe/sandpipe/local-runner";

/// The statement for `record`, which ran `declaration` (the stored JSON of its version).
pub fn provenance(record: &ExecutionRecord, declaration: &str) -> anyhow::Result<Value> {
    let declared: sandpipe_model::PipelineDeclaration = serde_json::from_str(declaration)?;
    let subjects: Vec<Value> = record
        .stages
        .iter()
        .flat_map(|stage| stage.actions.iter().map(move |action| (stage, action)))
        .flat_map(|(stage, action)| {
            action.output_artifacts.iter().map(move |artifact| {
                json!({
                    "name": format!("{}/{}/{}", stage.name, action.name, artifact.name),
                    "uri": format!("s3://{}/{}", artifact.bucket, artifact.key),
                    "digest": {"sha256": artifact.sha256},
                    "annotations": {"size": artifact.size},
                })
            })
        })
        .collect();
    anyhow::ensure!(
        !subjects.is_empty(),
        "execution {} stored no artifacts: a statement needs at least one subject",
        record.pipeline_execution_id
    );

    let mut dependencies = vec![json!({
        "name": format!("pipeline:{}", record.pipeline_name),
        "digest": {"sha256": hex::encode(Sha256::digest(declaration.as_bytes()))},
        "mediaType": "application/json",
        "annotations": {"version": record.pipeline_version},
    })];
    if let (Some(stage), Some(declared_stage)) = (record.stages.first(), declared.stages.first()) {
        for (action, declared_action) in stage.actions.iter().zip(&declared_stage.actions) {
            if let Some(source) = source_dependency(&stage.name, action, declared_action) {
                dependencies.push(source);
            }
        }
    }
    // One entry per component, with the actions it ran.
    let mut components: BTreeMap<(&str, &str), Vec<String>> = BTreeMap::new();
    for stage in &record.stages {
        for action in &stage.actions {
            if let Some(digest) = &action.component_digest {
                components
                    .entry((digest, &action.action_type))
                    .or_default()
                    .push(format!("{}/{}", stage.name, action.name));
            }
        }
    }
    for ((digest, action_type), actions) in components {
        dependencies.push(json!({
            "name": format!("component:{action_type}"),
            "digest": {"sha256": digest},
            "mediaType": "application/wasm",
            "annotations": {"actions": actions},
        }));
    }

    // The container images builds ran, by id.
    let images: BTreeMap<&String, &String> = record
        .stages
        .iter()
        .flat_map(|stage| &stage.actions)
        .flat_map(|action| &action.build_images)
        .collect();
    for (reference, id) in images {
        let hex = id.strip_prefix("sha256:").unwrap_or(id);
        dependencies.push(json!({
            "name": format!("image:{reference}"),
            "uri": format!("docker-image:{reference}"),
            "digest": {"sha256": hex},
            "mediaType": "application/vnd.oci.image.config.v1+json",
        }));
    }

    let mut run_metadata = json!({
        "invocationId": record.pipeline_execution_id,
        "startedOn": record.start_time,
    });
    if let Some(end) = &record.end_time {
        run_metadata["finishedOn"] = json!(end);
    }
    Ok(without_nulls(json!({
        "_type": STATEMENT_TYPE,
        "subject": subjects,
        "predicateType": PREDICATE_TYPE,
        "predicate": {
            "buildDefinition": {
                "buildType": BUILD_TYPE,
                "externalParameters": {
                    "pipeline": record.pipeline_name,
                    "pipelineVersion": record.pipeline_version,
                    "sourceFile": record.source_file,
                    "variables": record.variables,
                    "trigger": record.trigger,
                },
                "internalParameters": {
                    "executionType": record.execution_type,
                    "deterministic": record.determinism.is_some(),
                    "determinism": record.determinism,
                    "replayOf": record.replay_of,
                    "status": record.status,
                },
                "resolvedDependencies": dependencies,
            },
            "runDetails": {
                "builder": {
                    "id": BUILDER_ID,
                    "version": {"sandpipe": env!("CARGO_PKG_VERSION")},
                },
                "metadata": run_metadata,
            },
        },
    })))
}

/// `value` without its null members: a field the record lacks is left out, not null.
fn without_nulls(value: Value) -> Value {
    match value {
        Value::Object(members) => Value::Object(
            members
                .into_iter()
                .filter(|(_, member)| !member.is_null())
                .map(|(key, member)| (key, without_nulls(member)))
                .collect(),
        ),
        Value::Array(items) => Value::Array(items.into_iter().map(without_nulls).collect()),
        other => other,
    }
}

/// A source action's revision as a dependency: its artifact's SHA-256, and the commit (as
/// `gitCommit`) or object version it took.
fn source_dependency(
    stage: &str,
    action: &ActionRecord,
    declared: &sandpipe_model::ActionDeclaration,
) -> Option<Value> {
    let revision = action.current_revision.as_ref()?;
    let mut digest = serde_json::Map::new();
    if let Some(artifact) = action.output_artifacts.first() {
        digest.insert("sha256".into(), json!(artifact.sha256));
    }
    let configuration = &action.resolved_configuration;
    let kind: &ActionTypeId = &declared.action_type_id;
    let uri = match pin(kind, Some(revision)) {
        Pin::Revision(pinned) if pinned.revision_type == RevisionType::CommitId => {
            digest.insert("gitCommit".into(), json!(revision.revision_id));
            configuration
                .get("FullRepositoryId")
                .or_else(|| configuration.get("RepositoryName"))
                .map(|repository| {
                    let branch = configuration
                        .get("BranchName")
                        .map(|b| format!("@refs/heads/{b}"))
                        .unwrap_or_default();
                    format!("git+{}:{repository}{branch}", kind.provider)
                })
        }
        Pin::Revision(_) if kind.is_s3_source() => {
            match (
                configuration.get("S3Bucket"),
                configuration.get("S3ObjectKey"),
            ) {
                (Some(bucket), Some(key)) => Some(format!(
                    "s3://{bucket}/{key}?versionId={}",
                    revision.revision_id
                )),
                _ => None,
            }
        }
        _ => None,
    };
    if digest.is_empty() {
        return None;
    }
    let mut dependency = json!({
        "name": format!("{stage}/{}", action.name),
        "digest": digest,
        "annotations": {
            "revisionId": revision.revision_id,
            "revisionSummary": revision.revision_summary,
            "actionType": action.action_type,
        },
    });
    if let Some(uri) = uri {
        dependency["uri"] = json!(uri);
    }
    Some(dependency)
}
