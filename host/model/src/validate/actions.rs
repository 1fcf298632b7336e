//! Each action: its fields, what its action type requires, the artifacts it consumes and
//! produces, and the variables it refers to.

use std::collections::{BTreeMap, BTreeSet};

use super::providers::{is_service_owned, rules_for};
use super::{
    INVALID_ACTION, INVALID_STAGE, INVALID_STRUCTURE, NAME_PATTERN, Problems, VARIABLE_PATTERN,
    name_char, variable_char,
};
use crate::declaration::{ActionDeclaration, Category, Owner, PipelineDeclaration};
use crate::variables::{self, CODEPIPELINE_NAMESPACE, PIPELINE_VARIABLES_NAMESPACE};

/// The variables of the `codepipeline` namespace.
const CODEPIPELINE_VARIABLES: &[&str] = &["PipelineExecutionId"];

/// Where an artifact or namespace is produced: (stage index, runOrder).
type Origin = (usize, u32);

fn runs_before(origin: Origin, stage: usize, run_order: u32) -> bool {
    origin.0 < stage || (origin.0 == stage && origin.1 < run_order)
}

pub(super) fn check(pipeline: &PipelineDeclaration, problems: &mut Problems) {
    let mut artifacts: BTreeMap<&str, Origin> = BTreeMap::new();
    let mut namespaces: BTreeMap<&str, Origin> = BTreeMap::new();
    let declared_variables: BTreeSet<&str> =
        pipeline.variables.iter().map(|v| v.name.as_str()).collect();

    // Producers first: a reference is judged against every producer in the pipeline, so that
    // "produced later" can be told apart from "never produced".
    for (s, stage) in pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            let path = format!("stages[{s}].actions[{a}]");
            let origin = (s, action.run_order());
            for (o, output) in action.output_artifacts.iter().enumerate() {
                // The first producer stays the artifact's origin.
                if artifacts.contains_key(output.name.as_str()) {
                    problems.add(
                        format!("{path}.outputArtifacts[{o}].name"),
                        INVALID_STRUCTURE,
                        format!(
                            "Output artifact name '{}' is not unique in the pipeline",
                            output.name
                        ),
                    );
                } else {
                    artifacts.insert(output.name.as_str(), origin);
                }
            }
            if let Some(namespace) = &action.namespace
                && namespaces.insert(namespace.as_str(), origin).is_some()
            {
                problems.add(
                    format!("{path}.namespace"),
                    INVALID_ACTION,
                    format!("Namespace '{namespace}' is not unique in the pipeline"),
                );
            }
        }
    }

    for (s, stage) in pipeline.stages.iter().enumerate() {
        let mut action_names = BTreeSet::new();
        for (a, action) in stage.actions.iter().enumerate() {
            let path = format!("stages[{s}].actions[{a}]");
            if !action_names.insert(action.name.as_str()) {
                problems.add(
                    format!("{path}.name"),
                    INVALID_STAGE,
                    format!(
                        "Action name '{}' is not unique in stage '{}'",
                        action.name, stage.name
                    ),
                );
            }
            check_fields(action, &path, problems);
            check_action_type(action, &path, problems);
            let run_order = action.run_order();

            let mut consumed = BTreeSet::new();
            for (i, input) in action.input_artifacts.iter().enumerate() {
                let input_path = format!("{path}.inputArtifacts[{i}].name");
                if !consumed.insert(input.name.as_str()) {
                    problems.add(
                        &input_path,
                        INVALID_ACTION,
                        format!(
                            "Action '{}' lists input artifact '{}' twice",
                            action.name, input.name
                        ),
                    );
                }
                match artifacts.get(input.name.as_str()) {
                    None => problems.add(
                        &input_path,
                        INVALID_STRUCTURE,
                        format!(
                            "Input artifact '{}' of action '{}' is not the output artifact of \
                             any action in the pipeline",
                            input.name, action.name
                        ),
                    ),
                    Some(&origin) if !runs_before(origin, s, run_order) => problems.add(
                        &input_path,
                        INVALID_STRUCTURE,
                        format!(
                            "Input artifact '{}' of action '{}' is produced by an action that \
                             does not run before it (an earlier stage, or a lower runOrder in \
                             the same stage)",
                            input.name, action.name
                        ),
                    ),
                    Some(_) => {}
                }
            }

            let texts = action
                .configuration
                .iter()
                .map(|(k, v)| (format!("{path}.configuration.{k}"), v.as_str()))
                .chain(
                    action
                        .commands
                        .iter()
                        .flatten()
                        .enumerate()
                        .map(|(i, c)| (format!("{path}.commands[{i}]"), c.as_str())),
                );
            for (text_path, text) in texts {
                for reference in variables::references(text) {
                    let problem = match reference.namespace {
                        CODEPIPELINE_NAMESPACE => (!CODEPIPELINE_VARIABLES
                            .contains(&reference.name))
                        .then(|| {
                            format!(
                                "Variable {reference} is not defined: the codepipeline namespace \
                                 holds only {}",
                                CODEPIPELINE_VARIABLES.join(", ")
                            )
                        }),
                        PIPELINE_VARIABLES_NAMESPACE => (!declared_variables
                            .contains(reference.name))
                        .then(|| {
                            format!(
                                "Variable {reference} refers to a pipeline variable that is not \
                                 declared in the pipeline's variables"
                            )
                        }),
                        namespace => match namespaces.get(namespace) {
                            None => Some(format!(
                                "Variable {reference} refers to namespace '{namespace}', which no \
                                 action in the pipeline declares"
                            )),
                            Some(&origin) if !runs_before(origin, s, run_order) => Some(format!(
                                "Variable {reference} refers to namespace '{namespace}' of an action \
                                 that does not run before action '{}'",
                                action.name
                            )),
                            Some(_) => None,
                        },
                    };
                    if let Some(message) = problem {
                        problems.add(&text_path, INVALID_ACTION, message);
                    }
                }
            }
        }
    }
}

fn artifact_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || c == '_' || c == '-'
}

fn check_fields(action: &ActionDeclaration, path: &str, problems: &mut Problems) {
    problems.pattern(
        format!("{path}.name"),
        &action.name,
        (1, 100),
        name_char,
        NAME_PATTERN,
    );
    let id = &action.action_type_id;
    let provider_char = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
    problems.pattern(
        format!("{path}.actionTypeId.provider"),
        &id.provider,
        (1, 35),
        provider_char,
        "[0-9A-Za-z_-]+",
    );
    problems.pattern(
        format!("{path}.actionTypeId.version"),
        &id.version,
        (1, 9),
        provider_char,
        "[0-9A-Za-z_-]+",
    );
    if let Some(run_order) = action.run_order {
        problems.range(format!("{path}.runOrder"), run_order, 1, 999);
    }
    for (key, value) in &action.configuration {
        let key_path = format!("{path}.configuration.{key}");
        problems.length(&key_path, key, 1, 50);
        problems.length(&key_path, value, 1, 1000);
    }
    for (i, artifact) in action.input_artifacts.iter().enumerate() {
        problems.pattern(
            format!("{path}.inputArtifacts[{i}].name"),
            &artifact.name,
            (1, 100),
            artifact_char,
            "[a-zA-Z0-9_\\-]+",
        );
    }
    for (o, artifact) in action.output_artifacts.iter().enumerate() {
        let output_path = format!("{path}.outputArtifacts[{o}]");
        problems.pattern(
            format!("{output_path}.name"),
            &artifact.name,
            (1, 100),
            artifact_char,
            "[a-zA-Z0-9_\\-]+",
        );
        if let Some(files) = &artifact.files {
            if !id.is_commands() {
                problems.add(
                    format!("{output_path}.files"),
                    INVALID_ACTION,
                    "Output artifact files are only supported by the Commands action",
                );
            } else {
                problems.strings(&format!("{output_path}.files"), files, (1, 10), (1, 128));
            }
        }
    }
    if let Some(namespace) = &action.namespace {
        problems.pattern(
            format!("{path}.namespace"),
            namespace,
            (1, 100),
            variable_char,
            VARIABLE_PATTERN,
        );
        if namespace == CODEPIPELINE_NAMESPACE || namespace == PIPELINE_VARIABLES_NAMESPACE {
            problems.add(
                format!("{path}.namespace"),
                INVALID_ACTION,
                format!("Namespace '{namespace}' is reserved"),
            );
        }
    }
    if let Some(arn) = &action.role_arn {
        problems.length(format!("{path}.roleArn"), arn, 1, 1024);
        if id.owner != Owner::AWS {
            problems.add(format!("{path}.roleArn"), INVALID_ACTION, format!("Action '{}' cannot have a roleArn: only actions owned by AWS assume an action role", action.name));
        }
    }
    if let Some(region) = &action.region {
        problems.length(format!("{path}.region"), region, 4, 30);
    }
    if let Some(minutes) = action.timeout_in_minutes {
        problems.range(format!("{path}.timeoutInMinutes"), minutes, 5, 86400);
        if !id.is_manual_approval() && !id.is_commands() {
            problems.add(
                format!("{path}.timeoutInMinutes"),
                INVALID_ACTION,
                "timeoutInMinutes is available only to the manual approval action type",
            );
        }
    }
    match &action.commands {
        Some(commands) if id.is_commands() => {
            problems.strings(&format!("{path}.commands"), commands, (1, 50), (1, 1000));
            for (c, command) in commands.iter().enumerate() {
                if command.contains('\n') {
                    problems.add(
                        format!("{path}.commands[{c}]"),
                        INVALID_ACTION,
                        "Commands cannot span several lines",
                    );
                }
            }
        }
        Some(_) => problems.add(
            format!("{path}.commands"),
            INVALID_ACTION,
            "commands are only supported by the Commands action",
        ),
        None if id.is_commands() => problems.add(
            format!("{path}.commands"),
            INVALID_ACTION,
            format!("The Commands action '{}' needs commands", action.name),
        ),
        None => {}
    }
    if let Some(names) = &action.output_variables {
        if !id.is_commands() {
            problems.add(
                format!("{path}.outputVariables"),
                INVALID_ACTION,
                "outputVariables are only supported by the Commands action",
            );
        } else {
            problems.strings(&format!("{path}.outputVariables"), names, (1, 15), (1, 128));
        }
    }
    if let Some(variables) = &action.environment_variables {
        if !id.is_commands() {
            problems.add(
                format!("{path}.environmentVariables"),
                INVALID_ACTION,
                "environmentVariables are only supported by the Commands action",
            );
        } else if problems.count(format!("{path}.environmentVariables"), variables, 1, 10) {
            for (v, variable) in variables.iter().enumerate() {
                let variable_path = format!("{path}.environmentVariables[{v}]");
                problems.pattern(
                    format!("{variable_path}.name"),
                    &variable.name,
                    (1, 128),
                    |c| c.is_ascii_alphanumeric() || c == '_',
                    "[A-Za-z0-9_]+",
                );
                problems.length(format!("{variable_path}.value"), &variable.value, 1, 2000);
            }
        }
    }
}

fn check_action_type(action: &ActionDeclaration, path: &str, problems: &mut Problems) {
    let id = &action.action_type_id;
    let Some(rules) = rules_for(id) else {
        if is_service_owned(id) {
            problems.add(
                format!("{path}.actionTypeId"),
                INVALID_ACTION,
                format!(
                    "ActionType (Category: '{:?}', Provider: '{}', Owner: '{:?}', Version: '{}') in \
                     action '{}' is not available",
                    id.category, id.provider, id.owner, id.version, action.name
                ),
            );
        }
        return;
    };
    for problem in check_against_rules(
        action,
        path,
        RulesView {
            inputs: rules.inputs,
            outputs: rules.outputs,
            required: rules.required,
            known: rules.known,
        },
    ) {
        problems.add(problem.path, problem.exception, problem.message);
    }
    // Boolean properties of the built-in types.
    for key in [
        "PollForSourceChanges",
        "Extract",
        "DetectChanges",
        "BatchEnabled",
        "CombineArtifacts",
        "AllowOverrideForS3ObjectKey",
    ] {
        if let Some(value) = action.configuration.get(key)
            && !value.eq_ignore_ascii_case("true")
            && !value.eq_ignore_ascii_case("false")
        {
            problems.add(
                format!("{path}.configuration.{key}"),
                INVALID_ACTION,
                format!(
                    "Configuration '{key}' of action '{}' must be true or false, not '{value}'",
                    action.name
                ),
            );
        }
    }
    let is_s3_deploy =
        id.owner == Owner::AWS && id.category == Category::Deploy && id.provider == "S3";
    if is_s3_deploy
        && action
            .configuration
            .get("Extract")
            .is_some_and(|v| v.eq_ignore_ascii_case("false"))
        && action
            .configuration
            .get("ObjectKey")
            .is_none_or(|v| v.is_empty())
    {
        problems.add(
            format!("{path}.configuration"),
            INVALID_ACTION,
            format!(
                "Action '{}' needs ObjectKey when Extract is false",
                action.name
            ),
        );
    }
    for (key, allowed) in [(
        "OutputArtifactFormat",
        &["CODE_ZIP", "CODEBUILD_CLONE_REF"][..],
    )] {
        if let Some(value) = action.configuration.get(key)
            && rules.known.is_some_and(|k| k.contains(&key))
            && !allowed.contains(&value.as_str())
        {
            problems.add(
                format!("{path}.configuration.{key}"),
                INVALID_ACTION,
                format!(
                    "Configuration '{key}' must be one of {}, not '{value}'",
                    allowed.join(", ")
                ),
            );
        }
    }
}

/// What an action type requires, whoever defines it: CodePipeline's rules for its own types,
/// or a custom type's definition (a plugin's manifest).
pub struct RulesView<'a> {
    /// Inclusive bounds on input artifacts.
    pub inputs: (usize, usize),
    /// Inclusive bounds on output artifacts.
    pub outputs: (usize, usize),
    pub required: &'a [&'a str],
    /// Every configuration property the type accepts; `None` when not checked.
    pub known: Option<&'a [&'a str]>,
}

/// `action`'s artifact counts and configuration keys against `rules`; paths under `path`
/// (the action's declaration path).
pub fn check_against_rules(
    action: &ActionDeclaration,
    path: &str,
    rules: RulesView<'_>,
) -> Vec<crate::validate::Problem> {
    let id = &action.action_type_id;
    let mut problems = Vec::new();
    let mut add = |at: String, message: String| {
        problems.push(crate::validate::Problem {
            path: at,
            exception: INVALID_ACTION,
            message,
        })
    };
    let counts = [
        (
            "inputArtifacts",
            "input",
            action.input_artifacts.len(),
            rules.inputs,
        ),
        (
            "outputArtifacts",
            "output",
            action.output_artifacts.len(),
            rules.outputs,
        ),
    ];
    for (field, kind, count, (min, max)) in counts {
        if count < min || count > max {
            let expected = if min == max {
                format!("exactly {min}")
            } else {
                format!("between {min} and {max}")
            };
            add(
                format!("{path}.{field}"),
                format!(
                    "Action '{}' of type {id} has {count} {kind} artifacts; it needs {expected}",
                    action.name
                ),
            );
        }
    }
    for key in rules.required {
        if action.configuration.get(*key).is_none_or(|v| v.is_empty()) {
            add(
                format!("{path}.configuration"),
                format!(
                    "Action configuration for action '{}' is missing required configuration '{key}'",
                    action.name
                ),
            );
        }
    }
    if let Some(known) = rules.known {
        for key in action.configuration.keys() {
            if !known.contains(&key.as_str()) {
                add(
                    format!("{path}.configuration.{key}"),
                    format!(
                        "Action configuration for action '{}' contains unknown configuration '{key}'",
                        action.name
                    ),
                );
            }
        }
    }
    problems
}
