//! Change detection: which repository events and S3 object versions start a pipeline.
//!
//! A [`Watcher`] takes a baseline of every watched source — the refs of each mapped git
//! repository (all of them for a source with a V2 trigger, the tracked branch otherwise), the
//! latest version of each S3 source object — and on each [`Watcher::poll`] turns what changed
//! into git push events or new object versions, decides each against the pipeline's triggers
//! (or default change detection), and says how to start the executions that follow: pinned to
//! the commit or version that was seen, so a later change cannot slip into them.

use std::collections::BTreeMap;
use std::path::Path;
use std::sync::Arc;

use sandpipe_git::{Location, Repository};
use sandpipe_model::connections::Connections;
use sandpipe_model::connections::RepositoryRef;
use sandpipe_model::execution::{RevisionType, SourceRevision};
use sandpipe_model::triggers::{self, Decision, DetectionOff, GitEvent, GitRef};
use sandpipe_model::{ActionDeclaration, Category, PipelineDeclaration, PullRequestEvent};
use sandpipe_runtime::{GitGrant, GitSource};
use sandpipe_store::LocalS3;

use crate::request::Start;
use crate::sources::git_grant;

/// What was seen and what it means.
#[derive(Debug, Clone)]
pub struct Detection {
    pub action: String,
    /// `push to branch 'main' (4f1e2d3c4b5a)`, `new version 3Lg… of s3://b/k`.
    pub what: String,
    pub decision: Decision,
    /// How to start the execution, when the decision is to start one.
    pub start: Option<Start>,
}

enum Watched {
    Git(GitWatch),
    S3(S3Watch),
}

/// A git source's repository and the refs last seen in it.
struct GitWatch {
    location: Location,
    mirrors: std::path::PathBuf,
    /// Every ref (a V2 trigger decides which matter), or just the tracked branch.
    all_refs: bool,
    tracked: String,
    refs: BTreeMap<String, String>,
}

/// An S3 source object and the version last seen.
struct S3Watch {
    bucket: String,
    key: String,
    version: Option<String>,
    /// Polling, or the EventBridge rule the watcher stands in for.
    trigger_type: &'static str,
}

pub struct Watcher {
    pipeline: PipelineDeclaration,
    off: DetectionOff,
    s3: Arc<LocalS3>,
    sources: Vec<(String, Watched)>,
}

/// What the operator mapped for git source `action`, as a run without overrides sees it.
fn mapped(connections: &Connections, action: &ActionDeclaration, state_dir: &Path) -> GitGrant {
    let excluded = [state_dir.to_path_buf()];
    git_grant(
        connections,
        None,
        action,
        &action.configuration,
        state_dir,
        &excluded,
    )
}

/// Whether `action` has a V2 trigger (which then decides alone what starts the pipeline).
fn has_trigger(pipeline: &PipelineDeclaration, action: &str) -> bool {
    pipeline
        .triggers
        .iter()
        .any(|t| t.git_configuration.source_action_name == action)
}

/// A source whose configuration names a repository (a connection's, GitHub's, CodeCommit's).
fn is_git_source(action: &ActionDeclaration) -> bool {
    action.action_type_id.category == Category::Source
        && RepositoryRef::from_configuration(&action.configuration).is_some()
}

impl Watcher {
    /// Take the baseline. Returns the watcher and one note per source action: what is
    /// watched, or why it is not. With [`DetectionOff::Deliver`] a source whose change
    /// detection is off is watched too, standing in for the EventBridge rule or webhook that
    /// delivers its changes on AWS.
    pub fn new(
        pipeline: &PipelineDeclaration,
        connections: &Connections,
        s3: Arc<LocalS3>,
        state_dir: &Path,
        off: DetectionOff,
    ) -> (Watcher, Vec<String>) {
        let mut notes = Vec::new();
        let mut sources = Vec::new();
        for action in pipeline.source_actions() {
            let has_trigger = has_trigger(pipeline, &action.name);
            let detection_off = !has_trigger && !triggers::detects_changes(action);
            if detection_off && off == DetectionOff::Ignore {
                notes.push(format!(
                    "{}: not watched (change detection is off and it has no trigger; \
                     --all-sources watches it as the EventBridge rule or webhook would)",
                    action.name
                ));
                continue;
            }
            let by = match triggers::default_trigger_type(action) {
                _ if !detection_off => "",
                "CloudWatchEvent" => ", standing in for its EventBridge rule",
                "Webhook" => ", standing in for its webhook",
                _ => ", though its change detection is off",
            };
            if is_git_source(action) {
                let grant = mapped(connections, action, state_dir);
                let GitSource::Repository {
                    location,
                    mapped_by,
                } = grant.source
                else {
                    if let GitSource::NotMapped(why) = grant.source {
                        notes.push(format!("{}: not watched: {why}", action.name));
                    }
                    continue;
                };
                let tracked = triggers::tracked_branch(action)
                    .unwrap_or_default()
                    .to_string();
                let mut watched = GitWatch {
                    location: location.clone(),
                    mirrors: grant.mirrors.clone(),
                    all_refs: has_trigger,
                    tracked: tracked.clone(),
                    refs: BTreeMap::new(),
                };
                if let Err(why) = watched.refresh() {
                    notes.push(format!("{}: not watched: {why}", action.name));
                    continue;
                }
                let what = if has_trigger {
                    "every branch and tag (V2 trigger)".to_string()
                } else {
                    format!("branch '{tracked}'")
                };
                notes.push(format!(
                    "{}: watching {what} of {} ({mapped_by}{by})",
                    action.name,
                    location.display()
                ));
                sources.push((action.name.clone(), Watched::Git(watched)));
            } else if action.action_type_id.is_s3_source() {
                let bucket = action
                    .configuration
                    .get("S3Bucket")
                    .cloned()
                    .unwrap_or_default();
                let key = action
                    .configuration
                    .get("S3ObjectKey")
                    .cloned()
                    .unwrap_or_default();
                let version = s3
                    .head_object(&bucket, &key, None)
                    .ok()
                    .and_then(|o| o.version_id);
                notes.push(format!(
                    "{}: watching s3://{bucket}/{key} ({}{by})",
                    action.name,
                    match &version {
                        Some(v) => format!("now version {v}"),
                        None => "not there yet".into(),
                    }
                ));
                sources.push((
                    action.name.clone(),
                    Watched::S3(S3Watch {
                        bucket,
                        key,
                        version,
                        trigger_type: triggers::default_trigger_type(action),
                    }),
                ));
            } else {
                notes.push(format!(
                    "{}: not watched ({} has no change detection here)",
                    action.name, action.action_type_id
                ));
            }
        }
        (
            Watcher {
                pipeline: pipeline.clone(),
                off,
                s3,
                sources,
            },
            notes,
        )
    }

    /// How many sources are watched.
    pub fn watched(&self) -> usize {
        self.sources.len()
    }

    /// What changed since the last poll, each decided. A source that cannot be read this
    /// time is reported and tried again on the next poll.
    pub fn poll(&mut self) -> Vec<Result<Detection, String>> {
        let mut found = Vec::new();
        for (action, watched) in &mut self.sources {
            let seen = match watched {
                Watched::Git(git) => git.poll(&self.pipeline, action, self.off),
                Watched::S3(object) => object.poll(&self.s3, action).map(Vec::from_iter),
            };
            match seen {
                Ok(detections) => found.extend(detections.into_iter().map(Ok)),
                Err(why) => found.push(Err(format!("{action}: {why}"))),
            }
        }
        found
    }
}

impl GitWatch {
    /// Read the repository's refs again (fetching a remote one); returns it opened.
    fn refresh(&mut self) -> Result<Repository, String> {
        let repository =
            Repository::open(&self.location, &self.mirrors, None).map_err(|e| e.to_string())?;
        let mut now = repository.refs().map_err(|e| e.to_string())?;
        if !self.all_refs {
            let wanted = format!("refs/heads/{}", self.tracked);
            now.retain(|name, _| *name == wanted);
            // A clone of the repository may have the branch only as origin/<branch>.
            if now.is_empty()
                && let Ok(resolved) = repository.resolve(&self.tracked)
            {
                now.insert(wanted, resolved.commit.id);
            }
        }
        self.refs = now;
        Ok(repository)
    }

    /// Every ref that moved since the last poll, as a decided push.
    fn poll(
        &mut self,
        pipeline: &PipelineDeclaration,
        action: &str,
        off: DetectionOff,
    ) -> Result<Vec<Detection>, String> {
        let before = self.refs.clone();
        let repository = self.refresh()?;
        Ok(self
            .refs
            .iter()
            .filter(|(name, commit)| before.get(*name) != Some(commit))
            .map(|(name, commit)| {
                let event = push_event(&repository, name, before.get(name), commit, &self.tracked);
                detect(pipeline, action, event, commit, off)
            })
            .collect())
    }
}

impl S3Watch {
    /// A new version of the object since the last poll, pinned to it.
    fn poll(&mut self, s3: &LocalS3, action: &str) -> Result<Option<Detection>, String> {
        let now = match s3.head_object(&self.bucket, &self.key, None) {
            Ok(info) => info.version_id,
            Err(sandpipe_store::S3Error::NoSuchKey { .. }) => None,
            Err(e) => return Err(e.to_string()),
        };
        let Some(version) = now.filter(|now| self.version.as_ref() != Some(now)) else {
            return Ok(None);
        };
        self.version = Some(version.clone());
        let object = format!("s3://{}/{}", self.bucket, self.key);
        let mut start = Start::by(self.trigger_type, &format!("{object} version {version}"));
        start.source_revisions.insert(
            action.to_string(),
            SourceRevision {
                revision_type: RevisionType::S3ObjectVersionId,
                revision_value: version.clone(),
                branch: None,
            },
        );
        Ok(Some(Detection {
            action: action.to_string(),
            what: format!("new version {version} of {object}"),
            decision: Decision::Start {
                branch: None,
                why: "a new version of the source object".into(),
            },
            start: Some(start),
        }))
    }
}

/// The push that moved `name` from `before` to `commit`: the files it changed (against the
/// previous position, or, for a new branch, against where it left the tracked branch).
fn push_event(
    repository: &Repository,
    name: &str,
    before: Option<&String>,
    commit: &str,
    tracked: &str,
) -> GitEvent {
    let reference = match name.strip_prefix("refs/tags/") {
        Some(tag) => GitRef::Tag(tag.to_string()),
        None => GitRef::Branch(name.trim_start_matches("refs/heads/").to_string()),
    };
    let base = before.cloned().or_else(|| {
        let tracked = repository.resolve(tracked).ok()?.commit.id;
        repository.merge_base(&tracked, commit)
    });
    let changed_paths = repository
        .changed_paths(base.as_deref(), commit)
        .unwrap_or_default();
    GitEvent::Push {
        reference,
        changed_paths,
    }
}

/// The repository the operator mapped for git source `action`, opened (a remote one fetched).
pub fn open_repository(
    connections: &Connections,
    action: &ActionDeclaration,
    state_dir: &Path,
) -> Result<Repository, String> {
    let grant = mapped(connections, action, state_dir);
    match grant.source {
        GitSource::Repository { location, .. } => {
            Repository::open(&location, &grant.mirrors, None).map_err(|e| e.to_string())
        }
        GitSource::NotMapped(why) => Err(why),
        GitSource::WorkingTree { dir, .. } => Err(format!(
            "{} is a working tree, not a repository",
            dir.display()
        )),
    }
}

/// The pull request event `event` from `source_branch` into `destination_branch`: the files
/// it changes (against where the source branch left the destination), and the commit it
/// builds.
pub fn pull_request_event(
    repository: &Repository,
    event: PullRequestEvent,
    source_branch: &str,
    destination_branch: &str,
) -> Result<(GitEvent, String), String> {
    let source = repository
        .resolve(source_branch)
        .map_err(|e| e.to_string())?
        .commit
        .id;
    let destination = repository
        .resolve(destination_branch)
        .map_err(|e| e.to_string())?
        .commit
        .id;
    let base = repository.merge_base(&destination, &source);
    let changed_paths = repository
        .changed_paths(base.as_deref(), &source)
        .map_err(|e| e.to_string())?;
    Ok((
        GitEvent::PullRequest {
            event,
            source_branch: source_branch.to_string(),
            destination_branch: destination_branch.to_string(),
            changed_paths,
        },
        source,
    ))
}

/// A push of `reference` to `commit`, `before` being where it was (its first parent when
/// not given).
pub fn push_to(
    repository: &Repository,
    reference: GitRef,
    commit: &str,
    before: Option<&str>,
) -> Result<GitEvent, String> {
    let before = match before {
        Some(before) => Some(
            repository
                .resolve(before)
                .map_err(|e| e.to_string())?
                .commit
                .id,
        ),
        None => repository
            .resolve(commit)
            .map_err(|e| e.to_string())?
            .commit
            .parents
            .first()
            .cloned(),
    };
    let changed_paths = repository
        .changed_paths(before.as_deref(), commit)
        .map_err(|e| e.to_string())?;
    Ok(GitEvent::Push {
        reference,
        changed_paths,
    })
}

/// Decide `event` for `action` and, when it starts the pipeline, how: pinned to `commit`, on
/// the event's branch, recorded as started by the V2 trigger (`WebhookV2`) or as
/// [`triggers::default_trigger_type`] says.
pub fn detect(
    pipeline: &PipelineDeclaration,
    action: &str,
    event: GitEvent,
    commit: &str,
    off: DetectionOff,
) -> Detection {
    let decision = triggers::evaluate_with(pipeline, action, &event, off);
    let short = &commit[..commit.len().min(12)];
    let what = match &event {
        GitEvent::Push { reference, .. } => format!("push to {reference} ({short})"),
        GitEvent::PullRequest {
            event,
            source_branch,
            destination_branch,
            ..
        } => format!(
            "pull request {event:?} from '{source_branch}' into '{destination_branch}' ({short})"
        ),
    };
    let start = match &decision {
        Decision::Start { branch, .. } => {
            let trigger_type = match pipeline.source_action(action) {
                _ if has_trigger(pipeline, action) => "WebhookV2",
                Some(declared) => triggers::default_trigger_type(declared),
                None => "PollForSourceChanges",
            };
            let mut start = Start::by(trigger_type, &format!("{action}: {what}"));
            start.source_revisions.insert(
                action.to_string(),
                SourceRevision {
                    revision_type: RevisionType::CommitId,
                    revision_value: commit.to_string(),
                    branch: branch.clone(),
                },
            );
            Some(start)
        }
        Decision::Ignore { .. } => None,
    };
    Detection {
        action: action.to_string(),
        what,
        decision,
        start,
    }
}
