//! Structural checks a pipeline must pass before it runs. Each problem carries the JSON path,
//! the exception CodePipeline answers with, and a message.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::declaration::{Category, PipelineDeclaration};
use crate::variables::{self, CODEPIPELINE_NAMESPACE, PIPELINE_VARIABLES_NAMESPACE};

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    /// JSON path from the document root, e.g. `pipeline.stages[1].actions[0].inputArtifacts[0]`.
    pub path: String,
    /// The CodePipeline exception, e.g. `InvalidStructureException`.
    pub exception: &'static str,
    pub message: String,
}

impl fmt::Display for Problem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}: {}", self.path, self.exception, self.message)
    }
}

const INVALID_STRUCTURE: &str = "InvalidStructureException";
const INVALID_STAGE: &str = "InvalidStageDeclarationException";
const INVALID_ACTION: &str = "InvalidActionDeclarationException";
const VALIDATION: &str = "ValidationException";

/// Check `pipeline`, whose declaration sits at JSON path `root` of its document.
pub fn validate(pipeline: &PipelineDeclaration, root: &str) -> Vec<Problem> {
    let mut problems = Problems {
        root: if root.is_empty() {
            String::new()
        } else {
            format!("{root}.")
        },
        list: Vec::new(),
    };
    check_name(&mut problems, "name", &pipeline.name, VALIDATION);

    match (&pipeline.artifact_store, &pipeline.artifact_stores) {
        (Some(_), Some(_)) => problems.add(
            "artifactStores",
            INVALID_STRUCTURE,
            "a pipeline has either artifactStore or artifactStores, not both",
        ),
        (None, None) => problems.add(
            "artifactStore",
            INVALID_STRUCTURE,
            "the pipeline needs an artifactStore (an S3 bucket for intermediate artifacts)",
        ),
        _ => {}
    }

    let stage_count = pipeline.stages.len();
    if stage_count < 2 {
        problems.add(
            "stages",
            INVALID_STRUCTURE,
            format!(
                "Pipeline has only {stage_count} stage(s). There should be a minimum of 2 stages \
                 in a pipeline"
            ),
        );
    } else if stage_count > 50 {
        problems.add(
            "stages",
            INVALID_STRUCTURE,
            format!("Pipeline has {stage_count} stages; the maximum is 50"),
        );
    }

    let mut stage_names = BTreeSet::new();
    // Artifacts and namespaces produced so far, with the (stage, runOrder) that produces them.
    let mut artifacts: BTreeMap<&str, (usize, u32)> = BTreeMap::new();
    let mut namespaces: BTreeMap<&str, (usize, u32)> = BTreeMap::new();
    let declared_variables: BTreeSet<&str> =
        pipeline.variables.iter().map(|v| v.name.as_str()).collect();

    for (s, stage) in pipeline.stages.iter().enumerate() {
        let stage_path = format!("stages[{s}]");
        check_name(
            &mut problems,
            &format!("{stage_path}.name"),
            &stage.name,
            INVALID_STAGE,
        );
        if !stage_names.insert(stage.name.as_str()) {
            problems.add(
                format!("{stage_path}.name"),
                INVALID_STRUCTURE,
                format!("stage name '{}' is used more than once", stage.name),
            );
        }
        if stage.actions.is_empty() || stage.actions.len() > 50 {
            problems.add(
                format!("{stage_path}.actions"),
                INVALID_STAGE,
                format!(
                    "stage '{}' has {} actions; a stage holds 1 to 50",
                    stage.name,
                    stage.actions.len()
                ),
            );
        }
        let mut action_names = BTreeSet::new();
        for (a, action) in stage.actions.iter().enumerate() {
            let path = format!("{stage_path}.actions[{a}]");
            check_name(
                &mut problems,
                &format!("{path}.name"),
                &action.name,
                INVALID_ACTION,
            );
            if !action_names.insert(action.name.as_str()) {
                problems.add(
                    format!("{path}.name"),
                    INVALID_STAGE,
                    format!(
                        "action name '{}' is used more than once in stage '{}'",
                        action.name, stage.name
                    ),
                );
            }
            let run_order = action.run_order();
            if !(1..=999).contains(&run_order) {
                problems.add(
                    format!("{path}.runOrder"),
                    INVALID_ACTION,
                    format!("runOrder must be between 1 and 999, not {run_order}"),
                );
            }
            let is_source = action.action_type_id.category == Category::Source;
            if s == 0 && !is_source {
                problems.add(
                    format!("{path}.actionTypeId.category"),
                    INVALID_STRUCTURE,
                    "the first stage may contain only Source actions",
                );
            }
            if s > 0 && is_source {
                problems.add(
                    format!("{path}.actionTypeId.category"),
                    INVALID_STRUCTURE,
                    "Source actions may appear only in the first stage",
                );
            }
            for (i, input) in action.input_artifacts.iter().enumerate() {
                let produced_before = artifacts
                    .get(input.name.as_str())
                    .is_some_and(|&(ps, po)| ps < s || (ps == s && po < run_order));
                if !produced_before {
                    problems.add(
                        format!("{path}.inputArtifacts[{i}].name"),
                        INVALID_STRUCTURE,
                        format!(
                            "input artifact '{}' of action '{}' is not an output of an action \
                             that runs before it",
                            input.name, action.name
                        ),
                    );
                }
            }
            for (key, value) in &action.configuration {
                for reference in variables::references(value) {
                    let known = match reference.namespace {
                        CODEPIPELINE_NAMESPACE => reference.name == "PipelineExecutionId",
                        PIPELINE_VARIABLES_NAMESPACE => declared_variables.contains(reference.name),
                        ns => namespaces
                            .get(ns)
                            .is_some_and(|&(ps, po)| ps < s || (ps == s && po < run_order)),
                    };
                    if !known {
                        problems.add(
                            format!("{path}.configuration.{key}"),
                            INVALID_ACTION,
                            format!(
                                "variable {reference} does not refer to a namespace of an action \
                                 that runs before '{}'",
                                action.name
                            ),
                        );
                    }
                }
            }
        }
        // Outputs and namespaces become visible after their declaring action; register them
        // after checking the stage's inputs so equal runOrders do not see each other.
        for (a, action) in stage.actions.iter().enumerate() {
            let path = format!("{stage_path}.actions[{a}]");
            for (o, output) in action.output_artifacts.iter().enumerate() {
                if artifacts
                    .insert(output.name.as_str(), (s, action.run_order()))
                    .is_some()
                {
                    problems.add(
                        format!("{path}.outputArtifacts[{o}].name"),
                        INVALID_STRUCTURE,
                        format!(
                            "output artifact name '{}' is used by more than one action",
                            output.name
                        ),
                    );
                }
            }
            if let Some(namespace) = &action.namespace
                && namespaces
                    .insert(namespace.as_str(), (s, action.run_order()))
                    .is_some()
            {
                problems.add(
                    format!("{path}.namespace"),
                    INVALID_ACTION,
                    format!("namespace '{namespace}' is used by more than one action"),
                );
            }
        }
    }
    problems.list
}

struct Problems {
    root: String,
    list: Vec<Problem>,
}

impl Problems {
    fn add(&mut self, path: impl AsRef<str>, exception: &'static str, message: impl Into<String>) {
        self.list.push(Problem {
            path: format!("{}{}", self.root, path.as_ref()),
            exception,
            message: message.into(),
        });
    }
}

/// Names of pipelines, stages and actions: 1-100 of `[A-Za-z0-9.@\-_]`.
fn check_name(problems: &mut Problems, path: &str, name: &str, exception: &'static str) {
    let valid = (1..=100).contains(&name.len())
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '@' | '-' | '_'));
    if !valid {
        problems.add(
            path,
            exception,
            format!("'{name}' is not a valid name: use 1 to 100 of A-Z a-z 0-9 . @ - _"),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::load::parse_document;

    fn problems(json: &str) -> Vec<String> {
        let loaded = parse_document("p.json", json, false).unwrap();
        validate(&loaded.pipeline, loaded.root)
            .iter()
            .map(ToString::to_string)
            .collect()
    }

    const SOURCE: &str = r#"{"name":"Src","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},"outputArtifacts":[{"name":"code"}],"namespace":"SourceVariables"}"#;

    #[test]
    fn a_well_formed_pipeline_has_no_problems() {
        let json = format!(
            r##"{{"pipeline":{{"name":"p","artifactStore":{{"type":"S3","location":"b"}},"stages":[
              {{"name":"Source","actions":[{SOURCE}]}},
              {{"name":"Deploy","actions":[{{"name":"D","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
                "inputArtifacts":[{{"name":"code"}}],"configuration":{{"ObjectKey":"#{{SourceVariables.ETag}}-#{{codepipeline.PipelineExecutionId}}"}}}}]}}]}}}}"##
        );
        assert_eq!(problems(&json), Vec::<String>::new());
    }

    #[test]
    fn reports_every_problem_with_its_path() {
        let json = format!(
            r##"{{"name":"p","stages":[
              {{"name":"Source","actions":[{SOURCE}]}},
              {{"name":"Deploy","actions":[{{"name":"D","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
                "inputArtifacts":[{{"name":"nope"}}],"configuration":{{"K":"#{{Missing.x}}"}}}},
                {{"name":"D","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}}}}]}}]}}"##
        );
        let found = problems(&json);
        assert_eq!(
            found,
            vec![
                "artifactStore: InvalidStructureException: the pipeline needs an artifactStore (an S3 bucket for intermediate artifacts)",
                "stages[1].actions[0].inputArtifacts[0].name: InvalidStructureException: input artifact 'nope' of action 'D' is not an output of an action that runs before it",
                "stages[1].actions[0].configuration.K: InvalidActionDeclarationException: variable #{Missing.x} does not refer to a namespace of an action that runs before 'D'",
                "stages[1].actions[1].name: InvalidStageDeclarationException: action name 'D' is used more than once in stage 'Deploy'",
                "stages[1].actions[1].actionTypeId.category: InvalidStructureException: Source actions may appear only in the first stage",
            ]
        );
    }

    #[test]
    fn a_single_stage_pipeline_is_refused() {
        let json = format!(
            r#"{{"name":"p","artifactStore":{{"type":"S3","location":"b"}},"stages":[{{"name":"Source","actions":[{SOURCE}]}}]}}"#
        );
        assert_eq!(
            problems(&json),
            vec![
                "stages: InvalidStructureException: Pipeline has only 1 stage(s). There should be a minimum of 2 stages in a pipeline"
            ]
        );
    }
}
