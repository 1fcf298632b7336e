//! V2-only features: pipeline variables, triggers, stage conditions and the QUEUED and
//! PARALLEL execution modes — refused on a pipeline declared V1.

use std::collections::BTreeSet;

use super::{
    INVALID_STAGE, INVALID_STRUCTURE, LIMIT_EXCEEDED, NAME_PATTERN, Problems, VARIABLE_PATTERN,
    name_char, variable_char,
};
use crate::declaration::{
    Category, Condition, ConditionResult, ExecutionMode, GitFilterCriteria, Owner,
    PipelineDeclaration, PipelineType, RetryMode,
};

const RULE_PROVIDERS: &[&str] = &[
    "CloudWatchAlarm",
    "CodeBuild",
    "Commands",
    "DeploymentWindow",
    "LambdaInvoke",
    "VariableCheck",
];
const VARIABLE_CHECK_OPERATORS: &[&str] = &["EQ", "NE", "CONTAINS", "MATCHES"];

pub(super) fn check(pipeline: &PipelineDeclaration, problems: &mut Problems) {
    if pipeline.pipeline_type == Some(PipelineType::V1) {
        for (path, feature) in v2_features(pipeline) {
            problems.add(
                path,
                INVALID_STRUCTURE,
                format!("{feature} is only supported for pipeline type V2"),
            );
        }
    }
    check_variables(pipeline, problems);
    check_triggers(pipeline, problems);
    check_conditions(pipeline, problems);
}

/// Where a V1 pipeline uses what only V2 has.
fn v2_features(pipeline: &PipelineDeclaration) -> Vec<(String, &'static str)> {
    let mut found = Vec::new();
    if !pipeline.variables.is_empty() {
        found.push(("variables".to_string(), "Pipeline-level variables"));
    }
    if !pipeline.triggers.is_empty() {
        found.push(("triggers".to_string(), "Triggers"));
    }
    match pipeline.execution_mode {
        Some(ExecutionMode::Queued) => {
            found.push(("executionMode".into(), "Execution mode QUEUED"))
        }
        Some(ExecutionMode::Parallel) => {
            found.push(("executionMode".into(), "Execution mode PARALLEL"))
        }
        _ => {}
    }
    for (s, stage) in pipeline.stages.iter().enumerate() {
        if stage.before_entry.is_some() {
            found.push((
                format!("stages[{s}].beforeEntry"),
                "A beforeEntry condition",
            ));
        }
        if stage.on_success.is_some() {
            found.push((format!("stages[{s}].onSuccess"), "An onSuccess condition"));
        }
        if stage.on_failure.is_some() {
            found.push((format!("stages[{s}].onFailure"), "An onFailure condition"));
        }
        for (a, action) in stage.actions.iter().enumerate() {
            let id = &action.action_type_id;
            if id.owner == Owner::AWS
                && id.category == Category::Compute
                && id.provider == "Commands"
            {
                found.push((
                    format!("stages[{s}].actions[{a}].actionTypeId"),
                    "The Commands action",
                ));
            }
        }
    }
    found
}

fn check_variables(pipeline: &PipelineDeclaration, problems: &mut Problems) {
    if pipeline.variables.len() > 50 {
        problems.add(
            "variables",
            LIMIT_EXCEEDED,
            format!(
                "Pipeline has {} variables; the maximum is 50",
                pipeline.variables.len()
            ),
        );
    }
    let mut names = BTreeSet::new();
    for (v, variable) in pipeline.variables.iter().enumerate() {
        let path = format!("variables[{v}]");
        problems.pattern(
            format!("{path}.name"),
            &variable.name,
            (1, 128),
            variable_char,
            VARIABLE_PATTERN,
        );
        if !names.insert(variable.name.as_str()) {
            problems.add(
                format!("{path}.name"),
                INVALID_STRUCTURE,
                format!(
                    "Pipeline variable '{}' is declared more than once",
                    variable.name
                ),
            );
        }
        if let Some(default) = &variable.default_value {
            problems.length(format!("{path}.defaultValue"), default, 1, 1000);
        }
        if let Some(description) = &variable.description {
            problems.length(format!("{path}.description"), description, 0, 200);
        }
    }
}

fn check_triggers(pipeline: &PipelineDeclaration, problems: &mut Problems) {
    if pipeline.triggers.len() > 50 {
        problems.add(
            "triggers",
            LIMIT_EXCEEDED,
            format!(
                "Pipeline has {} triggers; the maximum is 50",
                pipeline.triggers.len()
            ),
        );
    }
    let mut sources = BTreeSet::new();
    for (t, trigger) in pipeline.triggers.iter().enumerate() {
        let path = format!("triggers[{t}].gitConfiguration");
        let git = &trigger.git_configuration;
        let source = pipeline.stages.first().and_then(|stage| {
            stage
                .actions
                .iter()
                .find(|a| a.name == git.source_action_name)
        });
        match source {
            None => problems.add(
                format!("{path}.sourceActionName"),
                INVALID_STRUCTURE,
                format!(
                    "Trigger source action '{}' is not a source action of the pipeline",
                    git.source_action_name
                ),
            ),
            Some(action) if action.action_type_id.provider != "CodeStarSourceConnection" => problems.add(
                format!("{path}.sourceActionName"),
                INVALID_STRUCTURE,
                format!(
                    "Trigger source action '{}' must be a CodeStarSourceConnection action, not {}",
                    git.source_action_name, action.action_type_id
                ),
            ),
            Some(_) => {}
        }
        if !sources.insert(git.source_action_name.as_str()) {
            problems.add(
                format!("{path}.sourceActionName"),
                INVALID_STRUCTURE,
                format!(
                    "Source action '{}' has more than one trigger",
                    git.source_action_name
                ),
            );
        }
        if git.push.is_none() && git.pull_request.is_none() {
            problems.add(
                &path,
                INVALID_STRUCTURE,
                "A trigger needs push or pullRequest filters",
            );
        }
        if let Some(push) = &git.push
            && problems.count(format!("{path}.push"), push, 1, 3)
        {
            for (f, filter) in push.iter().enumerate() {
                let filter_path = format!("{path}.push[{f}]");
                if filter.branches.is_none() && filter.tags.is_none() {
                    problems.add(
                        &filter_path,
                        INVALID_STRUCTURE,
                        "A push filter needs branches or tags",
                    );
                }
                if filter.branches.is_some() && filter.tags.is_some() {
                    problems.add(
                        &filter_path,
                        INVALID_STRUCTURE,
                        "A push filter has branches or tags, not both",
                    );
                }
                if filter.branches.is_none() && filter.tags.is_some() && filter.file_paths.is_some()
                {
                    problems.add(
                        format!("{filter_path}.filePaths"),
                        INVALID_STRUCTURE,
                        "File paths filter pushes to branches; a push filter on tags cannot \
                         have them (valid: tags, branches, or branches and filePaths)",
                    );
                }
                for (name, criteria) in [
                    ("tags", &filter.tags),
                    ("branches", &filter.branches),
                    ("filePaths", &filter.file_paths),
                ] {
                    check_criteria(
                        problems,
                        &format!("{filter_path}.{name}"),
                        criteria.as_ref(),
                    );
                }
            }
        }
        if let Some(pull_requests) = &git.pull_request
            && problems.count(format!("{path}.pullRequest"), pull_requests, 1, 3)
        {
            for (f, filter) in pull_requests.iter().enumerate() {
                let filter_path = format!("{path}.pullRequest[{f}]");
                if let Some(events) = &filter.events {
                    problems.count(format!("{filter_path}.events"), events, 1, 3);
                }
                if filter.branches.is_none() {
                    problems.add(
                        &filter_path,
                        INVALID_STRUCTURE,
                        "A pull request filter needs branches",
                    );
                }
                for (name, criteria) in [
                    ("branches", &filter.branches),
                    ("filePaths", &filter.file_paths),
                ] {
                    check_criteria(
                        problems,
                        &format!("{filter_path}.{name}"),
                        criteria.as_ref(),
                    );
                }
            }
        }
    }
}

fn check_criteria(problems: &mut Problems, path: &str, criteria: Option<&GitFilterCriteria>) {
    let Some(criteria) = criteria else {
        return;
    };
    if criteria.includes.is_none() && criteria.excludes.is_none() {
        problems.add(
            path,
            INVALID_STRUCTURE,
            "A filter needs includes or excludes",
        );
    }
    for (name, patterns) in [
        ("includes", &criteria.includes),
        ("excludes", &criteria.excludes),
    ] {
        if let Some(patterns) = patterns {
            problems.strings(&format!("{path}.{name}"), patterns, (1, 8), (1, 255));
            for (p, pattern) in patterns.iter().enumerate() {
                if let Err(message) = crate::triggers::compile_pattern(pattern) {
                    problems.add(format!("{path}.{name}[{p}]"), INVALID_STRUCTURE, message);
                }
            }
        }
    }
}

fn check_conditions(pipeline: &PipelineDeclaration, problems: &mut Problems) {
    let parallel = pipeline.execution_mode == Some(ExecutionMode::Parallel);
    for (s, stage) in pipeline.stages.iter().enumerate() {
        let path = format!("stages[{s}]");
        let rollback_refused = |problems: &mut Problems, at: String| {
            if s == 0 {
                problems.add(
                    &at,
                    INVALID_STAGE,
                    format!(
                        "Stage '{}' is the source stage, which cannot be rolled back",
                        stage.name
                    ),
                );
            }
            if parallel {
                problems.add(
                    at,
                    INVALID_STAGE,
                    "Rollback is not available in PARALLEL execution mode",
                );
            }
        };
        if let Some(before) = &stage.before_entry {
            let at = format!("{path}.beforeEntry");
            check_condition_list(
                problems,
                &at,
                &before.conditions,
                &[ConditionResult::Fail, ConditionResult::Skip],
            );
        }
        if let Some(success) = &stage.on_success {
            let at = format!("{path}.onSuccess");
            check_condition_list(
                problems,
                &at,
                &success.conditions,
                &[ConditionResult::Rollback, ConditionResult::Fail],
            );
            if success
                .conditions
                .iter()
                .any(|c| c.result == Some(ConditionResult::Rollback))
            {
                rollback_refused(problems, format!("{at}.conditions"));
            }
        }
        if let Some(failure) = &stage.on_failure {
            let at = format!("{path}.onFailure");
            if failure.retry_configuration.is_some()
                && failure.result != Some(ConditionResult::Retry)
            {
                problems.add(
                    format!("{at}.retryConfiguration"),
                    INVALID_STAGE,
                    "retryConfiguration applies only when result is RETRY",
                );
            }
            if failure.result == Some(ConditionResult::Retry) && failure.conditions.is_some() {
                problems.add(
                    format!("{at}.conditions"),
                    INVALID_STAGE,
                    "Automatic retry cannot be combined with onFailure conditions",
                );
            }
            if failure.result == Some(ConditionResult::Rollback) {
                rollback_refused(problems, format!("{at}.result"));
            }
            if let Some(conditions) = &failure.conditions {
                check_condition_list(problems, &at, conditions, &[ConditionResult::Rollback]);
            }
            if let Some(retry) = &failure.retry_configuration
                && retry.retry_mode.is_none()
            {
                problems.add(
                    format!("{at}.retryConfiguration.retryMode"),
                    INVALID_STAGE,
                    format!(
                        "retryMode must be {:?} or {:?}",
                        RetryMode::FailedActions,
                        RetryMode::AllActions
                    ),
                );
            }
        }
    }
}

/// A condition list holds exactly one condition, whose result is one of `allowed`.
fn check_condition_list(
    problems: &mut Problems,
    path: &str,
    conditions: &[Condition],
    allowed: &[ConditionResult],
) {
    if conditions.len() != 1 {
        problems.add(
            format!("{path}.conditions"),
            INVALID_STAGE,
            format!(
                "A condition list holds exactly one condition, not {}",
                conditions.len()
            ),
        );
    }
    for (c, condition) in conditions.iter().enumerate() {
        let condition_path = format!("{path}.conditions[{c}]");
        if let Some(result) = condition.result
            && !allowed.contains(&result)
        {
            problems.add(
                format!("{condition_path}.result"),
                INVALID_STAGE,
                format!(
                    "Result {result:?} is not allowed here; use {}",
                    allowed
                        .iter()
                        .map(|r| format!("{r:?}").to_uppercase())
                        .collect::<Vec<_>>()
                        .join(" or ")
                ),
            );
        }
        let rules = condition.rules.as_deref().unwrap_or_default();
        if !problems.count(format!("{condition_path}.rules"), rules, 1, 5) {
            continue;
        }
        if condition.result == Some(ConditionResult::Skip)
            && rules.iter().any(|r| {
                !matches!(
                    r.rule_type_id.provider.as_str(),
                    "LambdaInvoke" | "VariableCheck"
                )
            })
        {
            problems.add(
                format!("{condition_path}.result"),
                INVALID_STAGE,
                "SKIP is only available with LambdaInvoke or VariableCheck rules",
            );
        }
        let mut names = BTreeSet::new();
        for (r, rule) in rules.iter().enumerate() {
            let rule_path = format!("{condition_path}.rules[{r}]");
            problems.pattern(
                format!("{rule_path}.name"),
                &rule.name,
                (1, 100),
                name_char,
                NAME_PATTERN,
            );
            if !names.insert(rule.name.as_str()) {
                problems.add(
                    format!("{rule_path}.name"),
                    INVALID_STAGE,
                    format!("Rule name '{}' is not unique in the condition", rule.name),
                );
            }
            let provider = rule.rule_type_id.provider.as_str();
            if !RULE_PROVIDERS.contains(&provider) {
                problems.add(
                    format!("{rule_path}.ruleTypeId.provider"),
                    INVALID_STAGE,
                    format!(
                        "Rule provider '{provider}' does not exist; use one of {}",
                        RULE_PROVIDERS.join(", ")
                    ),
                );
            }
            if let Some(version) = &rule.rule_type_id.version {
                problems.length(format!("{rule_path}.ruleTypeId.version"), version, 1, 9);
            }
            if rule.configuration.len() > 200 {
                problems.add(
                    format!("{rule_path}.configuration"),
                    INVALID_STAGE,
                    "A rule has at most 200 configuration properties",
                );
            }
            for (key, value) in &rule.configuration {
                problems.length(format!("{rule_path}.configuration.{key}"), key, 1, 50);
                problems.length(format!("{rule_path}.configuration.{key}"), value, 1, 10000);
            }
            if let Some(minutes) = rule.timeout_in_minutes {
                problems.range(format!("{rule_path}.timeoutInMinutes"), minutes, 5, 86400);
            }
            let required: &[&str] = match provider {
                "VariableCheck" => &["Variable", "Value", "Operator"],
                "CloudWatchAlarm" => &["AlarmName"],
                "LambdaInvoke" => &["FunctionName"],
                "DeploymentWindow" => &["Cron"],
                "CodeBuild" => &["ProjectName"],
                _ => &[],
            };
            for key in required {
                if !rule.configuration.contains_key(*key) {
                    problems.add(
                        format!("{rule_path}.configuration"),
                        INVALID_STAGE,
                        format!(
                            "Rule '{}' ({provider}) is missing required configuration '{key}'",
                            rule.name
                        ),
                    );
                }
            }
            if provider == "VariableCheck"
                && let Some(operator) = rule.configuration.get("Operator")
                && !VARIABLE_CHECK_OPERATORS.contains(&operator.as_str())
            {
                problems.add(
                    format!("{rule_path}.configuration.Operator"),
                    INVALID_STAGE,
                    format!(
                        "Operator '{operator}' is not one of {}",
                        VARIABLE_CHECK_OPERATORS.join(", ")
                    ),
                );
            }
            match (&rule.commands, provider) {
                (None, "Commands") => problems.add(
                    format!("{rule_path}.commands"),
                    INVALID_STAGE,
                    format!("Rule '{}' (Commands) needs commands", rule.name),
                ),
                (Some(_), p) if p != "Commands" => problems.add(
                    format!("{rule_path}.commands"),
                    INVALID_STAGE,
                    "commands are only supported by the Commands rule",
                ),
                (Some(commands), _) => {
                    problems.strings(
                        &format!("{rule_path}.commands"),
                        commands,
                        (1, 50),
                        (1, 1000),
                    );
                }
                _ => {}
            }
        }
    }
}
