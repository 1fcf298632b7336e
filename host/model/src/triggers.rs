//! Which git events start a pipeline: V2 triggers (push filters on branches, tags and file
//! paths; pull-request filters on events, destination branches and file paths), or, for a
//! source action without a trigger, CodePipeline's default change detection — a push to the
//! action's branch, unless `DetectChanges` / `PollForSourceChanges` is `false`.
//!
//! Patterns are CodePipeline's globs: `*` and `?` stay within one path segment, `**` crosses
//! segments, `[...]` and `{a,b}` as usual, `\` escapes. Excludes take priority over includes;
//! criteria with only excludes accept everything else.

use globset::{GlobBuilder, GlobMatcher};

use crate::action_type::Owner;
use crate::declaration::{
    ActionDeclaration, GitFilterCriteria, GitPullRequestFilter, GitPushFilter, PipelineDeclaration,
    PullRequestEvent,
};

/// What was pushed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitRef {
    Branch(String),
    Tag(String),
}

impl std::fmt::Display for GitRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GitRef::Branch(name) => write!(f, "branch '{name}'"),
            GitRef::Tag(name) => write!(f, "tag '{name}'"),
        }
    }
}

/// A repository event for one source action.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GitEvent {
    /// A branch or tag moved (or appeared); `changed_paths` are the files the push changed.
    Push {
        reference: GitRef,
        changed_paths: Vec<String>,
    },
    /// A pull request from `source_branch` into `destination_branch` was opened, updated or
    /// closed; `changed_paths` are the files it changes.
    PullRequest {
        event: PullRequestEvent,
        source_branch: String,
        destination_branch: String,
        changed_paths: Vec<String>,
    },
}

/// Whether an event starts an execution, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Start an execution of the source action at the event's commit; `branch` is the branch
    /// the source exports (the pushed branch, or the pull request's source branch; none for
    /// a tag).
    Start {
        branch: Option<String>,
        why: String,
    },
    Ignore {
        why: String,
    },
}

/// A compiled trigger pattern.
pub fn compile_pattern(pattern: &str) -> Result<GlobMatcher, String> {
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .backslash_escape(true)
        .build()
        .map(|glob| glob.compile_matcher())
        .map_err(|e| format!("'{pattern}' is not a valid glob pattern: {}", e.kind()))
}

/// Whether `name` passes `criteria`, and the pattern that decided it.
fn criteria_accept(
    criteria: &GitFilterCriteria,
    name: &str,
) -> Result<Result<String, String>, String> {
    for pattern in criteria.excludes.iter().flatten() {
        if compile_pattern(pattern)?.is_match(name) {
            return Ok(Err(format!("is excluded by '{pattern}'")));
        }
    }
    match &criteria.includes {
        None => Ok(Ok("no exclude".into())),
        Some(includes) => {
            for pattern in includes {
                if compile_pattern(pattern)?.is_match(name) {
                    return Ok(Ok(format!("'{pattern}'")));
                }
            }
            let quoted: Vec<String> = includes.iter().map(|p| format!("'{p}'")).collect();
            Ok(Err(format!(
                "matches none of the includes ({})",
                quoted.join(", ")
            )))
        }
    }
}

/// How many of `paths` pass `criteria` (excludes first).
fn accepted_paths(criteria: &GitFilterCriteria, paths: &[String]) -> Result<usize, String> {
    let mut accepted = 0;
    for path in paths {
        if criteria_accept(criteria, path)?.is_ok() {
            accepted += 1;
        }
    }
    Ok(accepted)
}

/// What happens to an event for a source whose change detection is off and which has no
/// trigger. On AWS nothing sees it unless an EventBridge rule or a webhook (what AWS recommends
/// in place of polling) delivers it; `watch --all-sources` stands in for that rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DetectionOff {
    Ignore,
    Deliver,
}

/// The trigger type AWS records when the change to `action` reaches it without a V2 trigger:
/// its polling, or, with detection off, the EventBridge rule (S3, CodeCommit, ECR) or the
/// webhook (GitHub version 1) that delivers it instead.
pub fn default_trigger_type(action: &ActionDeclaration) -> &'static str {
    if detects_changes(action) {
        return "PollForSourceChanges";
    }
    match (
        action.action_type_id.owner,
        action.action_type_id.provider.as_str(),
    ) {
        (Owner::AWS, "S3" | "CodeCommit" | "ECR") => "CloudWatchEvent",
        (Owner::ThirdParty, "GitHub") => "Webhook",
        _ => "PollForSourceChanges",
    }
}

/// Decide whether `event` on `source_action` starts `pipeline`.
pub fn evaluate(pipeline: &PipelineDeclaration, source_action: &str, event: &GitEvent) -> Decision {
    evaluate_with(pipeline, source_action, event, DetectionOff::Ignore)
}

/// [`evaluate`], saying what an event for a source with detection off means.
pub fn evaluate_with(
    pipeline: &PipelineDeclaration,
    source_action: &str,
    event: &GitEvent,
    off: DetectionOff,
) -> Decision {
    let Some(action) = pipeline.source_action(source_action) else {
        return Decision::Ignore {
            why: format!("'{source_action}' is not a source action of the pipeline"),
        };
    };
    let trigger = pipeline
        .triggers
        .iter()
        .find(|t| t.git_configuration.source_action_name == source_action);
    let result = match trigger {
        None => Ok(default_detection(action, event, off)),
        Some(trigger) => {
            let git = &trigger.git_configuration;
            match event {
                GitEvent::Push { .. } => match_any(git.push.as_deref(), "push", |filter| {
                    push_filter(filter, event)
                }),
                GitEvent::PullRequest { .. } => {
                    match_any(git.pull_request.as_deref(), "pull request", |filter| {
                        pull_request_filter(filter, event)
                    })
                }
            }
        }
    };
    result.unwrap_or_else(|why| Decision::Ignore { why })
}

/// The branch a source action tracks (`BranchName`, or GitHub v1's `Branch`).
pub fn tracked_branch(action: &ActionDeclaration) -> Option<&str> {
    action
        .configuration
        .get("BranchName")
        .or_else(|| action.configuration.get("Branch"))
        .map(String::as_str)
}

/// Whether the action detects changes on its own (no trigger): `DetectChanges` for
/// connections, `PollForSourceChanges` for the others; both default to true.
pub fn detects_changes(action: &ActionDeclaration) -> bool {
    let key = if action.action_type_id.provider == "CodeStarSourceConnection" {
        "DetectChanges"
    } else {
        "PollForSourceChanges"
    };
    !action
        .configuration
        .get(key)
        .is_some_and(|v| v.eq_ignore_ascii_case("false"))
}

fn default_detection(action: &ActionDeclaration, event: &GitEvent, off: DetectionOff) -> Decision {
    let branch = tracked_branch(action).unwrap_or_default();
    match event {
        _ if off == DetectionOff::Ignore && !detects_changes(action) => Decision::Ignore {
            why: format!(
                "'{}' does not detect changes (DetectChanges / PollForSourceChanges is false) \
                 and has no trigger",
                action.name
            ),
        },
        GitEvent::Push {
            reference: GitRef::Branch(pushed),
            ..
        } if pushed == branch => Decision::Start {
            branch: Some(pushed.clone()),
            why: format!("a push to '{branch}', the branch '{}' tracks", action.name),
        },
        GitEvent::Push { reference, .. } => Decision::Ignore {
            why: format!(
                "{reference} is not '{branch}', the branch '{}' tracks, and it has no trigger",
                action.name
            ),
        },
        GitEvent::PullRequest { .. } => Decision::Ignore {
            why: format!("'{}' has no trigger with pull request filters", action.name),
        },
    }
}

/// The first filter that matches starts the pipeline; otherwise every filter's reason.
fn match_any<F>(
    filters: Option<&[F]>,
    kind: &str,
    matches: impl Fn(&F) -> Result<Result<(Option<String>, String), String>, String>,
) -> Result<Decision, String> {
    let Some(filters) = filters.filter(|f| !f.is_empty()) else {
        return Ok(Decision::Ignore {
            why: format!("the trigger has no {kind} filters"),
        });
    };
    let mut reasons = Vec::new();
    for (index, filter) in filters.iter().enumerate() {
        match matches(filter)? {
            Ok((branch, why)) => {
                return Ok(Decision::Start {
                    branch,
                    why: format!("{kind} filter {} matched: {why}", index + 1),
                });
            }
            Err(why) => reasons.push(format!("{kind} filter {}: {why}", index + 1)),
        }
    }
    Ok(Decision::Ignore {
        why: reasons.join("; "),
    })
}

type FilterResult = Result<Result<(Option<String>, String), String>, String>;

fn push_filter(filter: &GitPushFilter, event: &GitEvent) -> FilterResult {
    let GitEvent::Push {
        reference,
        changed_paths,
    } = event
    else {
        unreachable!("push filters see push events");
    };
    match (reference, &filter.tags, &filter.branches) {
        (GitRef::Tag(tag), Some(tags), _) => Ok(match criteria_accept(tags, tag)? {
            Ok(by) => Ok((None, format!("tag '{tag}' is included by {by}"))),
            Err(why) => Err(format!("tag '{tag}' {why}")),
        }),
        (GitRef::Tag(tag), None, _) => Ok(Err(format!(
            "it filters branches, and tag '{tag}' was pushed"
        ))),
        (GitRef::Branch(branch), _, Some(branches)) => {
            let by = match criteria_accept(branches, branch)? {
                Ok(by) => by,
                Err(why) => return Ok(Err(format!("branch '{branch}' {why}"))),
            };
            let why = format!("branch '{branch}' is included by {by}");
            file_paths(filter.file_paths.as_ref(), changed_paths, Some(branch), why)
        }
        (GitRef::Branch(branch), _, None) => Ok(Err(format!(
            "it filters tags, and branch '{branch}' was pushed"
        ))),
    }
}

fn pull_request_filter(filter: &GitPullRequestFilter, event: &GitEvent) -> FilterResult {
    let GitEvent::PullRequest {
        event: kind,
        source_branch,
        destination_branch,
        changed_paths,
    } = event
    else {
        unreachable!("pull request filters see pull request events");
    };
    let events = filter.events.as_deref().unwrap_or(&[
        PullRequestEvent::Open,
        PullRequestEvent::Updated,
        PullRequestEvent::Closed,
    ]);
    if !events.contains(kind) {
        return Ok(Err(format!("it does not filter {kind:?} events")));
    }
    let why = match &filter.branches {
        Some(branches) => match criteria_accept(branches, destination_branch)? {
            Ok(by) => format!("destination branch '{destination_branch}' is included by {by}"),
            Err(why) => {
                return Ok(Err(format!(
                    "destination branch '{destination_branch}' {why}"
                )));
            }
        },
        None => format!("any destination branch ('{destination_branch}')"),
    };
    file_paths(
        filter.file_paths.as_ref(),
        changed_paths,
        Some(source_branch),
        format!("{kind:?} {why}"),
    )
}

fn file_paths(
    criteria: Option<&GitFilterCriteria>,
    changed: &[String],
    branch: Option<&String>,
    why: String,
) -> FilterResult {
    let Some(criteria) = criteria else {
        return Ok(Ok((branch.cloned(), why)));
    };
    let accepted = accepted_paths(criteria, changed)?;
    Ok(if accepted > 0 {
        Ok((
            branch.cloned(),
            format!(
                "{why}, and {accepted} of {} changed files pass the file path filter",
                changed.len()
            ),
        ))
    } else {
        Err(format!(
            "{why}, but none of the {} changed files passes the file path filter",
            changed.len()
        ))
    })
}
