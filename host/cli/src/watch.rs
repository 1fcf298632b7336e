//! `sandpipe watch` (start executions when a watched source changes) and `sandpipe trigger`
//! (decide one git event against the pipeline's triggers, and start the execution it would).

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand, ValueEnum};
use futures::StreamExt;
use futures::stream::FuturesUnordered;
use sandpipe_engine::watch::{
    Detection, Watcher, detect, open_repository, pull_request_event, push_to,
};
use sandpipe_engine::{ExecutionRequest, ExecutionStatus, PipelineFiles, RunError, Start};
use sandpipe_model::text::Escaped;
use sandpipe_model::triggers::{Decision, DetectionOff, GitRef};
use sandpipe_model::{ActionDeclaration, PipelineDeclaration, PullRequestEvent};

use crate::document::DocumentArgs;
use crate::run::{RunnerArgs, finish, runtime};
use crate::terminal::{errln, outln};

#[derive(Args)]
pub struct WatchArgs {
    #[command(flatten)]
    document: DocumentArgs,

    /// How often to look at the watched repositories and objects.
    #[arg(long, default_value = "5s", value_parser = humantime::parse_duration)]
    interval: Duration,

    /// Start at most this many executions, then stop watching, wait for them and exit (0
    /// only when every one succeeded).
    #[arg(long, value_name = "N")]
    max_executions: Option<usize>,

    /// Also watch sources whose change detection is off (PollForSourceChanges or
    /// DetectChanges false, as AWS recommends with an EventBridge rule or webhook): the
    /// watcher stands in for that rule, and records the trigger type it would.
    #[arg(long)]
    all_sources: bool,

    #[command(flatten)]
    runner: RunnerArgs,
}

/// What a detection leads to; `would start` when only deciding.
fn say(detection: &Detection, dry_run: bool) {
    let start = if dry_run {
        "would start an execution"
    } else {
        "starting an execution"
    };
    match &detection.decision {
        // What a change is (a branch, a tag, a key) comes from the repository or the bucket.
        Decision::Start { why, .. } => outln!(
            "{}: {}: {start} ({})",
            Escaped(&detection.action),
            Escaped(&detection.what),
            Escaped(why)
        ),
        Decision::Ignore { why } => outln!(
            "{}: {}: ignored ({})",
            Escaped(&detection.action),
            Escaped(&detection.what),
            Escaped(why)
        ),
    }
}

pub fn watch(state_dir: &Path, args: WatchArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.document.load()?;
    let problems = loaded.problems();
    if !problems.is_empty() {
        for problem in &problems {
            errln!("sandpipe: {}: {problem}", args.document.file_name());
        }
        return Ok(ExitCode::FAILURE);
    }
    let runtime = runtime()?;
    let runner = std::sync::Arc::new(args.runner.runner(state_dir, Some(&args.document.file))?);
    crate::endpoint::on_demand(&runner);
    let files = args.runner.pipeline_files(Some(&args.document.file))?;
    let (mut watcher, notes) = Watcher::new(
        &loaded.pipeline,
        &files.connections,
        runner.object_store(),
        runner.state_dir(),
        if args.all_sources {
            DetectionOff::Deliver
        } else {
            DetectionOff::Ignore
        },
    );
    for note in &notes {
        outln!("{note}");
    }
    if watcher.watched() == 0 {
        anyhow::bail!(
            "{}: no source action of pipeline '{}' can be watched",
            args.document.file_name(),
            loaded.pipeline.name
        );
    }
    outln!(
        "Watching pipeline {} every {} (Ctrl-C stops)",
        loaded.pipeline.name,
        humantime::format_duration(args.interval)
    );
    let progress = Arc::new(crate::progress::Progress::new(true));
    let all_succeeded = runtime.block_on(async {
        let mut running = FuturesUnordered::new();
        let mut started = 0;
        let mut all_succeeded = true;
        let mut stopping = false;
        let mut ticker = tokio::time::interval(args.interval);
        let ctrl_c = tokio::signal::ctrl_c();
        tokio::pin!(ctrl_c);
        loop {
            if args.max_executions.is_some_and(|max| started >= max) {
                stopping = true;
            }
            if stopping && running.is_empty() {
                break;
            }
            tokio::select! {
                _ = ticker.tick(), if !stopping => {
                    // Reading repositories blocks; the executions run on other threads.
                    let found = tokio::task::block_in_place(|| watcher.poll());
                    for detection in found {
                        match detection {
                            Ok(detection) => {
                                say(&detection, false);
                                let wanted = args.max_executions.is_none_or(|max| started < max);
                                if let Some(start) = detection.start.filter(|_| wanted) {
                                    started += 1;
                                    let request = start_request(&args.document, &loaded, &files, start);
                                    running.push(runner.execute(request, progress.clone()));
                                }
                            }
                            Err(why) => errln!("sandpipe: {why} (trying again)"),
                        }
                    }
                }
                Some(result) = running.next() => {
                    match result {
                        Ok(record) => {
                            all_succeeded &= record.status == ExecutionStatus::Succeeded;
                            progress.summary(&record);
                        }
                        Err(RunError::Invalid(findings)) => {
                            all_succeeded = false;
                            crate::run::print_findings(&findings);
                        }
                        Err(RunError::Other(error)) => {
                            all_succeeded = false;
                            errln!("sandpipe: {error:#}");
                        }
                    }
                }
                _ = &mut ctrl_c, if !stopping => {
                    stopping = true;
                    outln!(
                        "Stopped watching; waiting for {} running execution(s)",
                        running.len()
                    );
                }
            }
        }
        all_succeeded
    });
    Ok(if all_succeeded {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

#[derive(Args)]
pub struct TriggerArgs {
    #[command(flatten)]
    document: DocumentArgs,

    /// The source action the event is for; by default the pipeline's only git source.
    #[arg(long, global = true)]
    action: Option<String>,

    /// Only decide: say whether the event would start the pipeline, and why.
    #[arg(long, global = true)]
    dry_run: bool,

    #[command(subcommand)]
    event: EventArgs,

    #[command(flatten)]
    runner: RunnerArgs,
}

#[derive(Subcommand)]
enum EventArgs {
    /// A push of a branch or a tag.
    Push {
        /// The branch pushed.
        #[arg(long, conflicts_with = "tag", required_unless_present = "tag")]
        branch: Option<String>,
        /// The tag pushed.
        #[arg(long)]
        tag: Option<String>,
        /// The commit pushed; by default where the branch or tag is now.
        #[arg(long)]
        commit: Option<String>,
        /// Where the branch was before the push; by default the commit's first parent.
        #[arg(long)]
        before: Option<String>,
    },
    /// A pull request opened, updated or closed.
    PullRequest {
        /// What happened to the pull request.
        #[arg(long, value_enum)]
        event: PullRequestKind,
        /// The branch the pull request comes from.
        #[arg(long)]
        source_branch: String,
        /// The branch it would merge into.
        #[arg(long)]
        destination_branch: String,
    },
}

#[derive(Clone, Copy, ValueEnum)]
#[value(rename_all = "SCREAMING_SNAKE_CASE")]
enum PullRequestKind {
    Open,
    Updated,
    Closed,
}

/// Exit code when the event does not start the pipeline.
const NOT_STARTED: u8 = 3;

/// The source action the event is for.
fn source_action<'a>(
    pipeline: &'a PipelineDeclaration,
    wanted: Option<&str>,
) -> anyhow::Result<&'a ActionDeclaration> {
    let sources: Vec<&ActionDeclaration> = pipeline.source_actions().collect();
    match (wanted, sources.as_slice()) {
        (Some(name), _) => pipeline.source_action(name).ok_or_else(|| {
            anyhow::anyhow!(
                "--action {name}: not a source action of the pipeline (its source actions: {})",
                pipeline.source_action_names()
            )
        }),
        (None, [only]) => Ok(only),
        (None, _) => anyhow::bail!(
            "the pipeline has several source actions ({}); say which with --action",
            pipeline.source_action_names()
        ),
    }
}

/// A new execution of the document's pipeline, started as `start` says.
fn start_request(
    document: &DocumentArgs,
    loaded: &sandpipe_model::LoadedPipeline,
    files: &PipelineFiles,
    start: Start,
) -> ExecutionRequest {
    ExecutionRequest::start(loaded.clone(), document.file_name())
        .started_by(start)
        .with_files(files.clone())
        .in_region(&document.region)
}

pub fn trigger(state_dir: &Path, args: TriggerArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.document.load()?;
    let pipeline = &loaded.pipeline;
    let action = source_action(pipeline, args.action.as_deref())?;
    let action_name = &action.name;
    let files = args.runner.pipeline_files(Some(&args.document.file))?;
    let repository = open_repository(&files.connections, action, state_dir)
        .map_err(|why| anyhow::anyhow!("{action_name}: {why}"))?;
    let (event, commit) = match &args.event {
        EventArgs::Push {
            branch,
            tag,
            commit,
            before,
        } => {
            let (reference, name) = match (branch, tag) {
                (Some(branch), _) => (GitRef::Branch(branch.clone()), branch),
                (None, Some(tag)) => (GitRef::Tag(tag.clone()), tag),
                (None, None) => unreachable!("clap requires one"),
            };
            let commit = repository
                .resolve(commit.as_deref().unwrap_or(name))
                .with_context(|| format!("{action_name}: the pushed commit"))?
                .commit
                .id;
            let event = push_to(&repository, reference, &commit, before.as_deref())
                .map_err(|why| anyhow::anyhow!("{action_name}: {why}"))?;
            (event, commit)
        }
        EventArgs::PullRequest {
            event,
            source_branch,
            destination_branch,
        } => {
            let kind = match event {
                PullRequestKind::Open => PullRequestEvent::Open,
                PullRequestKind::Updated => PullRequestEvent::Updated,
                PullRequestKind::Closed => PullRequestEvent::Closed,
            };
            pull_request_event(&repository, kind, source_branch, destination_branch)
                .map_err(|why| anyhow::anyhow!("{action_name}: {why}"))?
        }
    };
    drop(repository);
    let detection = detect(pipeline, action_name, event, &commit, DetectionOff::Ignore);
    say(&detection, args.dry_run);
    let Some(start) = detection.start else {
        return Ok(ExitCode::from(NOT_STARTED));
    };
    if args.dry_run {
        return Ok(ExitCode::SUCCESS);
    }
    let runtime = runtime()?;
    let runner = std::sync::Arc::new(args.runner.runner(state_dir, Some(&args.document.file))?);
    crate::endpoint::on_demand(&runner);
    let progress = args.runner.progress();
    let request = start_request(&args.document, &loaded, &files, start);
    let result = runtime.block_on(runner.execute(request, progress.clone()));
    finish(&progress, result)
}
