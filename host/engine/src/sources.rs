//! What source actions get from the operator: the repository mapped for each git source
//! (the connections file), working trees given in place of a source (`--source`), and the
//! revisions an execution starts with (`--source-revision`, or a trigger's event).

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use sandpipe_git::ExportLimits;
use sandpipe_model::connections::{Connections, RepositoryRef};
use sandpipe_model::{ActionDeclaration, PipelineDeclaration, Problem};
use sandpipe_runtime::bindings::{RevisionType, SourceRevision};
use sandpipe_runtime::{GitGrant, GitSource};
use sandpipe_state::ExecutionTrigger;

/// The operator's settings for source actions, the same for every execution of a runner.
#[derive(Debug, Clone, Default)]
pub struct SourceSettings {
    pub connections: Connections,
}

/// How one execution starts (StartPipelineExecution's arguments, or a trigger's event).
#[derive(Debug, Clone)]
pub struct Start {
    pub trigger: ExecutionTrigger,
    /// The revision a source action takes instead of the latest, by action name.
    pub source_revisions: BTreeMap<String, SourceRevision>,
    /// A directory whose current files replace a source action's output, by action name.
    pub working_trees: BTreeMap<String, PathBuf>,
}

impl Default for Start {
    fn default() -> Self {
        Start::by("StartPipelineExecution", "")
    }
}

impl Start {
    /// A start with nothing overridden.
    pub fn by(trigger_type: &str, detail: &str) -> Self {
        Start {
            trigger: ExecutionTrigger {
                trigger_type: trigger_type.into(),
                trigger_detail: detail.into(),
            },
            source_revisions: BTreeMap::new(),
            working_trees: BTreeMap::new(),
        }
    }

    /// The working tree replacing action `action` of stage `stage`. Only the source stage's
    /// actions are replaced: action names are unique within a stage, not across stages.
    pub fn working_tree(&self, stage: usize, action: &str) -> Option<&Path> {
        (stage == 0)
            .then(|| self.working_trees.get(action))
            .flatten()
            .map(PathBuf::as_path)
    }

    /// The revision action `action` of stage `stage` starts with (source actions only).
    pub fn source_revision(&self, stage: usize, action: &str) -> Option<&SourceRevision> {
        (stage == 0)
            .then(|| self.source_revisions.get(action))
            .flatten()
    }

    /// Problems with the overrides: each must name a source action of the pipeline, and a
    /// working tree must be a directory.
    pub fn problems(&self, pipeline: &PipelineDeclaration) -> Vec<Problem> {
        let mut problems = Vec::new();
        for (flag, names) in [
            ("--source", self.working_trees.keys().collect::<Vec<_>>()),
            (
                "--source-revision",
                self.source_revisions.keys().collect::<Vec<_>>(),
            ),
        ] {
            for name in names {
                if pipeline.source_action(name).is_none() {
                    problems.push(Problem {
                        path: format!("{flag} {name}"),
                        exception: "InvalidActionDeclarationException",
                        message: format!(
                            "'{name}' is not a source action of the pipeline (its source \
                             actions: {})",
                            pipeline.source_action_names()
                        ),
                    });
                }
            }
        }
        for (name, dir) in &self.working_trees {
            if !dir.is_dir() {
                problems.push(Problem {
                    path: format!("--source {name}"),
                    exception: "ValidationException",
                    message: format!("{} is not a directory", dir.display()),
                });
            }
        }
        problems
    }
}

/// Parse StartPipelineExecution's shorthand for a source revision, as the AWS CLI takes it:
/// `actionName=Source,revisionType=COMMIT_ID,revisionValue=4f1e…`.
pub fn parse_source_revision(text: &str) -> Result<(String, SourceRevision), String> {
    let mut action = None;
    let mut kind = None;
    let mut value = None;
    for pair in text.split(',') {
        let (key, item) = pair
            .split_once('=')
            .ok_or_else(|| format!("'{pair}' is not KEY=VALUE"))?;
        match key.trim() {
            "actionName" => action = Some(item.trim().to_string()),
            "revisionType" => kind = Some(item.trim().to_string()),
            "revisionValue" => value = Some(item.trim().to_string()),
            other => {
                return Err(format!(
                    "unknown key '{other}' (actionName, revisionType, revisionValue)"
                ));
            }
        }
    }
    let missing = |key: &str| format!("{key} is missing");
    let action = action
        .filter(|a| !a.is_empty())
        .ok_or_else(|| missing("actionName"))?;
    let value = value
        .filter(|v| !v.is_empty())
        .ok_or_else(|| missing("revisionValue"))?;
    let revision_type = match kind.as_deref() {
        Some("COMMIT_ID") => RevisionType::CommitId,
        Some("IMAGE_DIGEST") => RevisionType::ImageDigest,
        Some("S3_OBJECT_VERSION_ID") => RevisionType::S3ObjectVersionId,
        Some("S3_OBJECT_KEY") => RevisionType::S3ObjectKey,
        Some(other) => {
            return Err(format!(
                "revisionType '{other}' is not one of COMMIT_ID, IMAGE_DIGEST, \
                 S3_OBJECT_VERSION_ID, S3_OBJECT_KEY"
            ));
        }
        None => return Err(missing("revisionType")),
    };
    Ok((
        action,
        SourceRevision {
            revision_type,
            revision_value: value,
            branch: None,
        },
    ))
}

/// The repository (or working tree) a git source action may read.
pub fn git_grant(
    settings: &SourceSettings,
    working_tree: Option<&Path>,
    action: &ActionDeclaration,
    configuration: &BTreeMap<String, String>,
    state_dir: &Path,
) -> GitGrant {
    let reference = RepositoryRef::from_configuration(configuration);
    let provider_type = match &reference {
        Some(RepositoryRef::Connection { arn, .. }) => settings.connections.provider_type(arn),
        Some(RepositoryRef::GitHub { .. }) => "GitHub".into(),
        Some(RepositoryRef::CodeCommit { .. }) => "CodeCommit".into(),
        None => String::new(),
    };
    let source = match (working_tree, &reference) {
        (Some(dir), _) => GitSource::WorkingTree {
            dir: dir.to_path_buf(),
            given_as: format!("--source {}={}", action.name, dir.display()),
        },
        (None, None) => GitSource::NotMapped(
            "the action's configuration names no repository (FullRepositoryId, Owner and \
             Repo, or RepositoryName)"
                .into(),
        ),
        (None, Some(reference)) => match settings.connections.resolve(reference, Path::is_dir) {
            Err(message) => GitSource::NotMapped(message),
            Ok(mapped) => GitSource::Repository {
                location: mapped.location,
                mapped_by: mapped.mapped_by,
            },
        },
    };
    GitGrant {
        name: reference
            .as_ref()
            .map(RepositoryRef::name)
            .unwrap_or_else(|| action.name.clone()),
        provider_type,
        source,
        mirrors: state_dir.join("git").join("mirrors"),
        exclude: vec![state_dir.to_path_buf()],
    }
}

/// For a source provider that cannot read a working tree itself: the host copies the
/// directory's files into the output directory. Returns the content digest.
pub fn copy_working_tree(
    dir: &Path,
    output_dir: &Path,
    state_dir: &Path,
) -> anyhow::Result<sandpipe_git::WorktreeSnapshot> {
    let into = cap_std::fs::Dir::open_ambient_dir(output_dir, cap_std::ambient_authority())?;
    Ok(sandpipe_git::snapshot_worktree(
        dir,
        &into,
        &[state_dir.to_path_buf()],
        &ExportLimits::default(),
    )?)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn source_revisions_use_the_aws_cli_shorthand() {
        let (action, revision) =
            parse_source_revision("actionName=Source,revisionType=COMMIT_ID,revisionValue=4f1e2d")
                .unwrap();
        assert_eq!(action, "Source");
        assert_eq!(revision.revision_type, RevisionType::CommitId);
        assert_eq!(revision.revision_value, "4f1e2d");
        assert_eq!(
            parse_source_revision("actionName=S,revisionType=S3_OBJECT_KEY,revisionValue=k.zip")
                .unwrap()
                .1
                .revision_type,
            RevisionType::S3ObjectKey
        );
        assert_eq!(
            parse_source_revision("actionName=S,revisionType=TAG,revisionValue=v1").unwrap_err(),
            "revisionType 'TAG' is not one of COMMIT_ID, IMAGE_DIGEST, S3_OBJECT_VERSION_ID, \
             S3_OBJECT_KEY"
        );
        assert_eq!(
            parse_source_revision("actionName=S,revisionType=COMMIT_ID").unwrap_err(),
            "revisionValue is missing"
        );
        assert!(parse_source_revision("Source").is_err());
    }
}
