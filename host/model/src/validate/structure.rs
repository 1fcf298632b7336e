//! The pipeline and its stages.

use std::collections::BTreeSet;

use super::{
    INVALID_BLOCKER, INVALID_STAGE, INVALID_STRUCTURE, LIMIT_EXCEEDED, NAME_PATTERN, Problems,
    name_char,
};
use crate::declaration::{ArtifactStore, Category, PipelineDeclaration};

const MAX_STAGES: usize = 50;
const MAX_ACTIONS_PER_STAGE: usize = 50;
const MAX_ACTIONS_PER_PIPELINE: usize = 500;

pub(super) fn check(pipeline: &PipelineDeclaration, problems: &mut Problems) {
    problems.pattern("name", &pipeline.name, (1, 100), name_char, NAME_PATTERN);
    match &pipeline.role_arn {
        None => problems.constraint("roleArn", "null", "Member must not be null"),
        Some(arn) => {
            if problems.length("roleArn", arn, 1, 1024) && !is_role_arn(arn) {
                problems.constraint(
                    "roleArn",
                    arn,
                    "Member must satisfy regular expression pattern: arn:aws(-[\\w]+)*:iam::[0-9]{12}:role/.*",
                );
            }
        }
    }
    if let Some(version) = pipeline.version {
        problems.range("version", version, 1, u32::MAX);
    }
    check_artifact_stores(pipeline, problems);

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
    } else if stage_count > MAX_STAGES {
        problems.add(
            "stages",
            LIMIT_EXCEEDED,
            format!("Pipeline has {stage_count} stages; a pipeline has at most {MAX_STAGES}"),
        );
    }
    let action_count: usize = pipeline.stages.iter().map(|s| s.actions.len()).sum();
    if action_count > MAX_ACTIONS_PER_PIPELINE {
        problems.add(
            "stages",
            LIMIT_EXCEEDED,
            format!(
                "Pipeline has {action_count} actions; a pipeline has at most \
                 {MAX_ACTIONS_PER_PIPELINE}"
            ),
        );
    }

    let mut stage_names = BTreeSet::new();
    for (s, stage) in pipeline.stages.iter().enumerate() {
        let path = format!("stages[{s}]");
        problems.pattern(
            format!("{path}.name"),
            &stage.name,
            (1, 100),
            name_char,
            NAME_PATTERN,
        );
        if !stage_names.insert(stage.name.as_str()) {
            problems.add(
                format!("{path}.name"),
                INVALID_STRUCTURE,
                format!("Stage name '{}' is not unique in the pipeline", stage.name),
            );
        }
        if stage.actions.is_empty() {
            problems.add(
                format!("{path}.actions"),
                INVALID_STAGE,
                format!(
                    "Stage '{}' has no actions; a stage needs at least one",
                    stage.name
                ),
            );
        } else if stage.actions.len() > MAX_ACTIONS_PER_STAGE {
            problems.add(
                format!("{path}.actions"),
                LIMIT_EXCEEDED,
                format!(
                    "Stage '{}' has {} actions; a stage has at most {MAX_ACTIONS_PER_STAGE}",
                    stage.name,
                    stage.actions.len()
                ),
            );
        }
        let sources = stage
            .actions
            .iter()
            .filter(|a| a.action_type_id.category == Category::Source)
            .count();
        if s == 0 && sources == 0 && !stage.actions.is_empty() {
            problems.add(
                format!("{path}.actions"),
                INVALID_STRUCTURE,
                format!(
                    "The first stage '{}' must contain at least one Source action",
                    stage.name
                ),
            );
        }
        for (a, action) in stage.actions.iter().enumerate() {
            let is_source = action.action_type_id.category == Category::Source;
            if s == 0 && !is_source {
                problems.add(
                    format!("{path}.actions[{a}].actionTypeId.category"),
                    INVALID_STRUCTURE,
                    format!(
                        "Action '{}' is a {:?} action; the first stage may contain only Source \
                         actions",
                        action.name, action.action_type_id.category
                    ),
                );
            }
            if s > 0 && is_source {
                problems.add(
                    format!("{path}.actions[{a}].actionTypeId.category"),
                    INVALID_STRUCTURE,
                    format!(
                        "Action '{}' is a Source action; Source actions may appear only in the \
                         first stage",
                        action.name
                    ),
                );
            }
        }
        let mut blocker_names = BTreeSet::new();
        for (b, blocker) in stage.blockers.iter().enumerate() {
            let blocker_path = format!("{path}.blockers[{b}].name");
            problems.pattern(
                &blocker_path,
                &blocker.name,
                (1, 100),
                name_char,
                NAME_PATTERN,
            );
            if !blocker_names.insert(blocker.name.as_str()) {
                problems.add(
                    blocker_path,
                    INVALID_BLOCKER,
                    format!(
                        "Blocker name '{}' is not unique in stage '{}'",
                        blocker.name, stage.name
                    ),
                );
            }
        }
    }
}

fn check_artifact_stores(pipeline: &PipelineDeclaration, problems: &mut Problems) {
    match (&pipeline.artifact_store, &pipeline.artifact_stores) {
        (Some(_), Some(_)) => problems.add(
            "artifactStores",
            INVALID_STRUCTURE,
            "Pipeline cannot have both artifactStore and artifactStores",
        ),
        (None, None) => problems.add(
            "artifactStore",
            INVALID_STRUCTURE,
            "Pipeline must have either artifactStore or artifactStores",
        ),
        (Some(store), None) => check_store(problems, "artifactStore", store),
        (None, Some(stores)) => {
            for (region, store) in stores {
                problems.length(format!("artifactStores.{region}"), region, 4, 30);
                check_store(problems, &format!("artifactStores.{region}"), store);
            }
            for (s, stage) in pipeline.stages.iter().enumerate() {
                for (a, action) in stage.actions.iter().enumerate() {
                    if let Some(region) = &action.region
                        && !stores.contains_key(region)
                    {
                        problems.add(
                            format!("stages[{s}].actions[{a}].region"),
                            INVALID_STRUCTURE,
                            format!(
                                "Action '{}' runs in region '{region}', which has no entry in \
                                 artifactStores",
                                action.name
                            ),
                        );
                    }
                }
            }
        }
    }
}

fn check_store(problems: &mut Problems, path: &str, store: &ArtifactStore) {
    problems.pattern(
        format!("{path}.location"),
        &store.location,
        (3, 63),
        |c| c.is_ascii_alphanumeric() || c == '-' || c == '.',
        "[a-zA-Z0-9\\-\\.]+",
    );
    if let Some(key) = &store.encryption_key {
        problems.length(format!("{path}.encryptionKey.id"), &key.id, 1, 400);
    }
}

/// `arn:aws(-[\w]+)*:iam::[0-9]{12}:role/.*`
fn is_role_arn(arn: &str) -> bool {
    let Some(rest) = arn.strip_prefix("arn:aws") else {
        return false;
    };
    let Some((partition_suffix, rest)) = rest.split_once(":iam::") else {
        return false;
    };
    let partition_ok =
        partition_suffix.is_empty()
            || partition_suffix.split('-').skip(1).all(|part| {
                !part.is_empty() && part.chars().all(|c| c.is_alphanumeric() || c == '_')
            }) && partition_suffix.starts_with('-');
    let Some((account, role)) = rest.split_once(':') else {
        return false;
    };
    partition_ok
        && account.len() == 12
        && account.chars().all(|c| c.is_ascii_digit())
        && role.starts_with("role/")
}

#[cfg(test)]
mod tests {
    use super::is_role_arn;

    #[test]
    fn role_arns() {
        assert!(is_role_arn("arn:aws:iam::123456789012:role/r"));
        assert!(is_role_arn("arn:aws-cn:iam::123456789012:role/path/r"));
        assert!(is_role_arn("arn:aws-us-gov:iam::123456789012:role/"));
        assert!(!is_role_arn("arn:aws:iam::12345678901:role/r"));
        assert!(!is_role_arn("arn:aws:iam::123456789012:user/r"));
        assert!(!is_role_arn("arn:aws-:iam::123456789012:role/r"));
        assert!(!is_role_arn("<TODO>"));
    }
}
