//! What differs between two executions (`sandpipe diff`): the pipeline version (a structural
//! diff of the two declarations), variables, source revisions, statuses, each action's
//! resolved configuration and component, and the artifacts — down to the files inside them
//! and a unified diff of small text files.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Context;
use sandpipe_model::json_diff::{JsonChange, json_diff};
use sandpipe_state::{ExecutionRecord, StateStore};
use sandpipe_store::LocalS3;
use serde::Serialize;

use super::compare::{ArtifactComparison, Detail, compare_artifacts};

/// One named value in either execution: a variable, a revision, a status, a setting.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ValueChange {
    pub name: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub before: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub after: Option<String>,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ExecutionDiff {
    pub before: String,
    pub after: String,
    /// The pipeline and version each ran.
    pub pipelines: [(String, u32); 2],
    /// The declarations' differences, when the versions differ.
    pub declaration: Vec<JsonChange>,
    pub variables: Vec<ValueChange>,
    /// By source action.
    pub source_revisions: Vec<ValueChange>,
    /// `execution`, then `Stage` and `Stage/Action`.
    pub statuses: Vec<ValueChange>,
    /// `Stage/Action Key`: the resolved configuration.
    pub configuration: Vec<ValueChange>,
    /// `Stage/Action`: the SHA-256 of the component that ran it; `Stage/Action IMAGE`: the
    /// id of the container image its build ran for IMAGE.
    pub components: Vec<ValueChange>,
    /// The artifacts that differ.
    pub artifacts: Vec<ArtifactComparison>,
}

impl ExecutionDiff {
    pub fn is_empty(&self) -> bool {
        self.pipelines[0] == self.pipelines[1]
            && self.declaration.is_empty()
            && self.variables.is_empty()
            && self.source_revisions.is_empty()
            && self.statuses.is_empty()
            && self.configuration.is_empty()
            && self.components.is_empty()
            && self.artifacts.is_empty()
    }
}

/// Everything that differs between executions `before` and `after`.
pub fn diff_executions(
    state: &StateStore,
    s3: &LocalS3,
    before: &ExecutionRecord,
    after: &ExecutionRecord,
) -> anyhow::Result<ExecutionDiff> {
    let declaration = |record: &ExecutionRecord| -> anyhow::Result<serde_json::Value> {
        let text = state
            .executions()
            .declaration(&record.pipeline_name, record.pipeline_version)
            .with_context(|| {
                format!(
                    "reading version {} of pipeline '{}'",
                    record.pipeline_version, record.pipeline_name
                )
            })?;
        Ok(serde_json::from_str(&text)?)
    };
    let same_version = before.pipeline_name == after.pipeline_name
        && before.pipeline_version == after.pipeline_version;
    let declaration = if same_version {
        Vec::new()
    } else {
        json_diff(&declaration(before)?, &declaration(after)?)
    };
    let mut artifacts = compare_artifacts(s3, before, after, Detail::Text)?;
    artifacts.retain(|comparison| !comparison.same());
    Ok(ExecutionDiff {
        before: before.pipeline_execution_id.clone(),
        after: after.pipeline_execution_id.clone(),
        pipelines: [
            (before.pipeline_name.clone(), before.pipeline_version),
            (after.pipeline_name.clone(), after.pipeline_version),
        ],
        declaration,
        variables: changes(&before.variables, &after.variables),
        source_revisions: changes(&revisions(before), &revisions(after)),
        statuses: changes(&statuses(before), &statuses(after)),
        configuration: changes(&configurations(before), &configurations(after)),
        components: changes(&components(before), &components(after)),
        artifacts,
    })
}

/// The names whose values differ, in name order.
fn changes(
    before: &BTreeMap<String, String>,
    after: &BTreeMap<String, String>,
) -> Vec<ValueChange> {
    let names: BTreeSet<&String> = before.keys().chain(after.keys()).collect();
    names
        .into_iter()
        .filter(|name| before.get(*name) != after.get(*name))
        .map(|name| ValueChange {
            name: name.clone(),
            before: before.get(name).cloned(),
            after: after.get(name).cloned(),
        })
        .collect()
}

/// Each action of `record` by `Stage/Action`, with what `value` says of it.
fn per_action(
    record: &ExecutionRecord,
    mut value: impl FnMut(&str, &sandpipe_state::ActionRecord, &mut BTreeMap<String, String>),
) -> BTreeMap<String, String> {
    let mut values = BTreeMap::new();
    for stage in &record.stages {
        for action in &stage.actions {
            value(
                &format!("{}/{}", stage.name, action.name),
                action,
                &mut values,
            );
        }
    }
    values
}

fn revisions(record: &ExecutionRecord) -> BTreeMap<String, String> {
    record
        .source_revisions()
        .into_iter()
        .map(|revision| (revision.action_name, revision.revision_id))
        .collect()
}

fn statuses(record: &ExecutionRecord) -> BTreeMap<String, String> {
    let mut statuses = per_action(record, |name, action, values| {
        values.insert(name.to_string(), action.status.to_string());
    });
    statuses.insert("execution".into(), record.status.to_string());
    for stage in &record.stages {
        statuses.insert(stage.name.clone(), stage.status.as_str().to_string());
    }
    statuses
}

fn configurations(record: &ExecutionRecord) -> BTreeMap<String, String> {
    per_action(record, |name, action, values| {
        for (key, value) in &action.resolved_configuration {
            values.insert(format!("{name} {key}"), value.clone());
        }
    })
}

/// Each action's component, and each image its container builds ran (`Stage/Action image`).
fn components(record: &ExecutionRecord) -> BTreeMap<String, String> {
    per_action(record, |name, action, values| {
        if let Some(digest) = &action.component_digest {
            values.insert(name.to_string(), digest.clone());
        }
        for (image, id) in &action.build_images {
            values.insert(format!("{name} {image}"), id.clone());
        }
    })
}
