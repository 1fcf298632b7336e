//! The git source providers: `Source/AWS/CodeStarSourceConnection/1` (GitHub, GitLab,
//! Bitbucket through a connection), `Source/ThirdParty/GitHub/1` (GitHub version 1, OAuth) and
//! `Source/AWS/CodeCommit/1`. The host maps each action's repository to one the operator
//! chose and reads it for the action (the `git` capability); this component decides which
//! commit to take and what to export: the tree at the commit (`CODE_ZIP`), or a clone with
//! history (`CODEBUILD_CLONE_REF`) that a later CodeBuild action can run git commands in.

use sandpipe_action_sdk::execution::{self, RevisionType};
use sandpipe_action_sdk::git::{self, Commit, ExportSummary};
use sandpipe_action_sdk::{Action, CurrentRevision, Failure, Outcome, Request, export_action, log};

mod variables;

use variables::{Provider, SourceFacts};

struct GitSource;

/// OutputArtifactFormat.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Format {
    CodeZip,
    CloneRef,
}

impl Action for GitSource {
    fn run(request: Request) -> Result<Outcome, Failure> {
        let provider = Provider::of(&request.action_type.provider)?;
        let config = request.config();
        let branch = config.required(provider.branch_key())?.to_string();
        provider.check_configuration(config)?;
        let format = match config.get("OutputArtifactFormat") {
            None | Some("CODE_ZIP") => Format::CodeZip,
            Some("CODEBUILD_CLONE_REF") if provider.can_clone() => Format::CloneRef,
            Some(other) => {
                return Err(Failure::configuration(format!(
                    "OutputArtifactFormat '{other}' is not valid for {} (use {})",
                    request.action_type.provider,
                    provider.formats()
                )));
            }
        };
        let output = request.single_output()?;
        let repository = git::repository()?;

        if let Some(tree) = &repository.working_tree {
            log::info(format!(
                "source '{}' replaced by the working tree {}",
                repository.name, tree.path
            ));
            let summary = git::export_working_tree(&output.path, format == Format::CloneRef)?;
            let digest = summary.digest.clone().unwrap_or_default();
            report_export(&summary, format);
            let branch = tree.branch.clone().unwrap_or(branch);
            let state = match (&tree.head, tree.dirty) {
                (Some(head), true) => format!("{} with uncommitted changes", short(&head.id)),
                (Some(head), false) => short(&head.id).to_string(),
                (None, _) => "not in a git repository".to_string(),
            };
            let facts = SourceFacts {
                commit: tree.head.clone(),
                branch: branch.clone(),
                repository: &repository,
                commit_id_fallback: digest.trim_start_matches("sha256:").to_string(),
            };
            let outcome = provider.variables(config, &facts, Outcome::new());
            return Ok(outcome
                .summary(format!("working tree {} ({state})", tree.path))
                .revision(CurrentRevision {
                    revision: digest.clone(),
                    change_identifier: tree.head.as_ref().map(|h| h.id.clone()).unwrap_or(digest),
                    created: tree.head.as_ref().map(|h| h.committer.date.clone()),
                    revision_summary: Some(format!("working tree {} ({state})", tree.path)),
                }));
        }

        log::info(format!(
            "repository '{}' is {} ({})",
            repository.name, repository.location, repository.mapped_by
        ));
        let (branch, commit) = match execution::started_with() {
            Some(revision) if revision.revision_type == RevisionType::CommitId => {
                let commit = git::resolve(&revision.revision_value).map_err(|e| match e {
                    git::Error::NotFound(_) => Failure::revision_unavailable(format!(
                        "the execution was started with commit {}, which {} does not have",
                        revision.revision_value, repository.location
                    )),
                    other => Failure::from(other),
                })?;
                let branch = revision.branch.unwrap_or(branch);
                log::info(format!(
                    "taking commit {} on '{branch}', which the execution was started with",
                    commit.id
                ));
                (branch, commit)
            }
            Some(revision) => {
                return Err(Failure::configuration(format!(
                    "the execution was started with a {:?} source revision; {} takes COMMIT_ID \
                     revisions only",
                    revision.revision_type, request.action_type.provider
                )));
            }
            None => {
                let commit = git::resolve(&branch).map_err(|e| match e {
                    git::Error::NotFound(_) => Failure::revision_unavailable(format!(
                        "branch '{branch}' does not exist in {}",
                        repository.location
                    )),
                    other => Failure::from(other),
                })?;
                (branch, commit)
            }
        };
        log::info(format!(
            "'{branch}' is at {}: {}",
            commit.id,
            first_line(&commit.message)
        ));
        let summary = match format {
            Format::CodeZip => git::export_tree(&commit.id, &output.path)?,
            Format::CloneRef => git::clone(&branch, &commit.id, &output.path)?,
        };
        report_export(&summary, format);
        let facts = SourceFacts {
            commit: Some(commit.clone()),
            branch,
            repository: &repository,
            commit_id_fallback: String::new(),
        };
        let outcome = provider.variables(config, &facts, Outcome::new());
        Ok(outcome
            .summary(first_line(&commit.message).to_string())
            .revision(CurrentRevision {
                revision: commit.id.clone(),
                change_identifier: commit.id.clone(),
                created: Some(commit.committer.date.clone()),
                revision_summary: Some(provider.revision_summary(&repository, &commit)),
            }))
    }
}

fn report_export(summary: &ExportSummary, format: Format) {
    let what = match format {
        Format::CodeZip => "CODE_ZIP",
        Format::CloneRef => "CODEBUILD_CLONE_REF (a clone with history)",
    };
    log::info(format!(
        "exported {} files, {} directories and {} symbolic links ({} bytes) as {what}",
        summary.files, summary.directories, summary.symlinks, summary.bytes
    ));
    if !summary.submodules.is_empty() {
        log::warn(format!(
            "submodules are not included: {}",
            summary.submodules.join(", ")
        ));
    }
}

fn first_line(message: &str) -> &str {
    message.lines().next().unwrap_or_default().trim()
}

fn short(id: &str) -> &str {
    &id[..id.len().min(12)]
}

/// The commit's message as CodePipeline's variables carry it: without the trailing newline,
/// at most 100 KiB.
fn message_variable(commit: &Commit) -> String {
    const MAX: usize = 100 * 1024;
    let message = commit.message.trim_end();
    if message.len() <= MAX {
        return message.to_string();
    }
    let mut end = MAX;
    while !message.is_char_boundary(end) {
        end -= 1;
    }
    message[..end].to_string()
}

export_action!(GitSource);
