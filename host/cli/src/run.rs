//! `sandpipe run`, `sandpipe retry` and `sandpipe rollback`: what one execution starts with,
//! the request made of it, and running it to its end on the runner the operator's settings
//! ([`RunnerArgs`]) make.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use anyhow::Context;
use clap::Args;
use sandpipe_engine::{
    ExecutionRecord, ExecutionRequest, ExecutionStatus, PipelineFiles, Preflight, PreflightReport,
    ProviderRegistry, RunError, Start, StateStore,
};
use sandpipe_model::LoadedPipeline;
use sandpipe_model::execution::StageSelection;
use sandpipe_model::local_settings::{self, LocalSettings};
use sandpipe_store::LocalS3;

use crate::document::DocumentArgs;
use crate::flags::{KeyValue, SourceFlag, SourceRevisionFlag, key_value, source, source_revision};
use crate::progress::Progress;
pub(crate) use crate::runner_args::RunnerArgs;
use crate::state_location::StateLocation;
use crate::terminal::errln;

/// What one execution starts with: the pipeline, its variables and sources, the stages to
/// run, and the runner's settings. `run` and `validate` take the same, so `validate` checks
/// exactly what `run` would run.
#[derive(Args)]
pub struct StartArgs {
    #[command(flatten)]
    pub(crate) document: DocumentArgs,

    /// A value for a V2 pipeline variable: NAME=VALUE (repeatable); others take their default.
    #[arg(long = "variable", value_name = "NAME=VALUE", value_parser = key_value)]
    variables: Vec<KeyValue>,

    /// Replace a source action's output with a directory's current files, uncommitted
    /// changes included and .gitignore respected: ACTION=DIR (repeatable).
    #[arg(long = "source", value_name = "ACTION=DIR", value_parser = source)]
    sources: Vec<SourceFlag>,

    /// Start with this revision for a source action instead of its latest, as
    /// StartPipelineExecution's sourceRevisions:
    /// actionName=Source,revisionType=COMMIT_ID,revisionValue=<sha> (repeatable; also
    /// S3_OBJECT_VERSION_ID and S3_OBJECT_KEY for S3 sources).
    #[arg(long = "source-revision", value_name = "SHORTHAND", value_parser = source_revision)]
    source_revisions: Vec<SourceRevisionFlag>,

    /// Run only this stage (repeatable); the stages before the first one take the results of
    /// the latest execution that succeeded in them.
    #[arg(long = "stage", value_name = "STAGE", conflicts_with_all = ["from", "until"])]
    stages: Vec<String>,

    /// Start at this stage, taking the results of the stages before it from the latest
    /// execution that succeeded in them.
    #[arg(long, value_name = "STAGE")]
    from: Option<String>,

    /// Stop after this stage: the later ones are skipped (act's -j for a pipeline whose last
    /// stages cannot run here).
    #[arg(long, value_name = "STAGE")]
    until: Option<String>,

    /// Run every action deterministically: wasm actions read a clock fixed at the
    /// execution's start and draw seeded random bytes; build commands get SOURCE_DATE_EPOCH
    /// (the source commit's time), TZ=UTC, LC_ALL=C.UTF-8 and umask 022. The record says so,
    /// and a replay keeps it. `deterministic: true` in sandpipe.yaml beside the pipeline (for
    /// all its pipelines, or under `pipelines: {NAME: …}`) or SANDPIPE_DETERMINISTIC=true
    /// makes it the default.
    #[arg(long, env = "SANDPIPE_DETERMINISTIC")]
    pub(crate) deterministic: bool,

    #[command(flatten)]
    pub(crate) runner: RunnerArgs,
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    start: StartArgs,

    /// Check everything and print the plan (stages, runOrder groups, what runs where), then
    /// exit without running anything.
    #[arg(long)]
    pub(crate) dry_run: bool,
}

#[derive(Args)]
pub struct RetryArgs {
    /// The failed execution: an id, a unique prefix of one, or `latest` (the default: the
    /// latest failed execution).
    execution: Option<String>,

    /// Without an execution id, this pipeline's latest failed execution.
    #[arg(long)]
    pipeline: Option<String>,

    /// The failed stage to run again; by default the stage that failed.
    #[arg(long)]
    stage: Option<String>,

    /// Run every action of the stage again, not only the failed ones.
    #[arg(long)]
    all_actions: bool,

    /// The region the execution runs in.
    #[arg(long, default_value = sandpipe_engine::DEFAULT_REGION, env = "AWS_REGION")]
    region: String,

    #[command(flatten)]
    runner: RunnerArgs,
}

pub(crate) fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Print the problems that stop a run, one line each (a message can quote a file's text).
pub(crate) fn print_findings(findings: &[sandpipe_model::Finding]) {
    for finding in findings {
        errln!(
            "sandpipe: {}",
            sandpipe_model::text::escape_controls_keep_lines(&finding.to_string())
        );
    }
}

/// Refuse a run: every problem, then (when there are several) how many, so the last line
/// says that nothing ran.
fn refuse(findings: &[sandpipe_model::Finding]) {
    print_findings(findings);
    if findings.len() > 1 {
        errln!("sandpipe: nothing ran: {}", problem_count(findings.len()));
    }
}

/// "1 problem", "3 problems".
pub(crate) fn problem_count(count: usize) -> String {
    format!("{count} problem{}", if count == 1 { "" } else { "s" })
}

/// Print how the execution ended; exit 0 only when it succeeded.
pub(crate) fn finish(
    progress: &Progress,
    result: Result<ExecutionRecord, RunError>,
) -> anyhow::Result<ExitCode> {
    finish_then(progress, result, Summary::Table, |_| Ok(true))
}

/// Whether the table of how every action ended is printed (not before machine output).
#[derive(Clone, Copy, PartialEq, Eq)]
pub(crate) enum Summary {
    Table,
    Omitted,
}

/// [`finish`], then `check` the execution's record (a replay compares its artifacts): a
/// false fails the command even when the execution succeeded.
pub(crate) fn finish_then(
    progress: &Progress,
    result: Result<ExecutionRecord, RunError>,
    summary: Summary,
    check: impl FnOnce(&ExecutionRecord) -> anyhow::Result<bool>,
) -> anyhow::Result<ExitCode> {
    let record = match result {
        Ok(record) => record,
        Err(RunError::Invalid(findings)) => {
            refuse(&findings);
            return Ok(ExitCode::FAILURE);
        }
        Err(RunError::Other(error)) => return Err(error),
    };
    if summary == Summary::Table {
        progress.summary(&record);
    }
    let checked = check(&record)?;
    Ok(if record.status == ExecutionStatus::Succeeded && checked {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Run one request to its end on a runner made for it, showing it live; on Ctrl-C (see
/// [`crate::interrupt`]) the execution ends Stopped and the process exits 130 saying so.
pub(crate) fn execute(
    state_dir: &Path,
    settings: &RunnerArgs,
    pipeline_file: Option<&Path>,
    request: ExecutionRequest,
) -> anyhow::Result<ExitCode> {
    execute_then(
        state_dir,
        settings,
        pipeline_file,
        request,
        Summary::Table,
        |_| Ok(true),
    )
}

/// [`execute`], then `check` the record as [`finish_then`] does.
pub(crate) fn execute_then(
    state_dir: &Path,
    settings: &RunnerArgs,
    pipeline_file: Option<&Path>,
    request: ExecutionRequest,
    summary: Summary,
    check: impl FnOnce(&ExecutionRecord) -> anyhow::Result<bool>,
) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let runner = Arc::new(settings.runner(state_dir, pipeline_file)?);
    crate::endpoint::on_demand(&runner);
    let progress = settings.progress();
    let (result, interrupted) = runtime.block_on(crate::interrupt::execute_stopping_on_ctrl_c(
        &runner,
        request,
        progress.clone(),
    ));
    let stopped = match &result {
        Ok(record) if interrupted && record.status != ExecutionStatus::Succeeded => {
            Some((record.pipeline_execution_id.clone(), record.status))
        }
        _ => None,
    };
    let code = finish_then(&progress, result, summary, check)?;
    match stopped {
        Some((id, status)) => {
            errln!("sandpipe: interrupted: execution {id} ended {status:?}");
            // 128 + SIGINT, as shells report a command Ctrl-C ended.
            Ok(ExitCode::from(130))
        }
        None => Ok(code),
    }
}

impl StartArgs {
    fn start(&self) -> Start {
        let mut start = Start::by("StartPipelineExecution", "sandpipe run");
        for flag in &self.sources {
            start
                .working_trees
                .insert(flag.action.clone(), flag.dir.clone());
        }
        for flag in &self.source_revisions {
            start
                .source_revisions
                .insert(flag.action.clone(), flag.revision.clone());
        }
        start.stages = StageSelection {
            only: self.stages.clone(),
            from: self.from.clone(),
            until: self.until.clone(),
        };
        start
    }

    fn variables(&self) -> BTreeMap<String, String> {
        self.variables
            .iter()
            .map(|v| (v.key.clone(), v.value.clone()))
            .collect()
    }

    /// The preflight of `validate`, reading the pipeline's files and providers itself.
    pub(crate) fn check(
        &self,
        state_dir: Option<&Path>,
        loaded: &LoadedPipeline,
    ) -> anyhow::Result<PreflightReport> {
        let files = self.runner.pipeline_files(Some(&self.document.file))?;
        let providers = self
            .runner
            .providers
            .registry(state_dir, Some(&self.document.file))?;
        Ok(self.preflight(state_dir, loaded, &files, &providers)?.0)
    }

    /// Everything `run` would check before starting, read from the state directory when
    /// there is one (never creating it).
    pub(crate) fn preflight(
        &self,
        state_dir: Option<&Path>,
        loaded: &LoadedPipeline,
        files: &PipelineFiles,
        providers: &ProviderRegistry,
    ) -> anyhow::Result<(PreflightReport, Start)> {
        let secrets = self.runner.secrets()?;
        let store = match state_dir {
            Some(dir) if dir.join("s3").is_dir() => Some(LocalS3::open(&dir.join("s3"))?),
            _ => None,
        };
        let start = self.start();
        // Custom types registered through `sandpipe serve` are served by its job workers.
        let job_worker_types = match state_dir {
            Some(dir) if dir.join("state.db").is_file() => sandpipe_state::StateStore::open(dir)?
                .action_types()
                .list()?
                .into_iter()
                .map(|(id, _)| id)
                .collect(),
            _ => Default::default(),
        };
        let report = Preflight {
            loaded,
            file: &self.document.file_name(),
            files,
            providers,
            job_worker_types: &job_worker_types,
            store: store.as_ref(),
            secrets: secrets.as_deref(),
            start: &start,
            variables: &self.variables(),
        };
        let mut report = report.check(self.runner.create_buckets());
        // This run's own doubles file: a misspelt Stage/Action in it is a problem.
        report
            .findings
            .extend(Preflight::doubles_of_no_action(loaded, files));
        Ok((report, start))
    }
}

/// `run`: refused with every problem at once before anything (even the state directory) is
/// made, else one execution, shown live.
pub fn run(state: &StateLocation, args: RunArgs) -> anyhow::Result<ExitCode> {
    let args = args.start;
    let loaded = args.document.load()?;
    let files = args.runner.pipeline_files(Some(&args.document.file))?;
    let existing = state.optional();
    let providers = args
        .runner
        .providers
        .registry(existing.as_deref(), Some(&args.document.file))?;
    let (report, start) = args.preflight(existing.as_deref(), &loaded, &files, &providers)?;
    let (settings, mut findings) = local_settings(&args.document.file);
    findings.extend(report.findings);
    if !findings.is_empty() {
        refuse(&findings);
        return Ok(ExitCode::FAILURE);
    }
    let deterministic = args.deterministic || settings.deterministic(&loaded.pipeline.name);
    let state_dir = &state.for_writing();
    crate::plan::say_what_runs_on_this_machine(
        &loaded,
        &providers,
        &files,
        &start,
        args.runner.builds_on_host(),
    );
    let request = ExecutionRequest::start(loaded, args.document.file_name())
        .with_variables(args.variables())
        .started_by(start)
        .with_files(files)
        .in_region(&args.document.region)
        .deterministic(deterministic);
    execute(state_dir, &args.runner, Some(&args.document.file), request)
}

/// The settings file beside the pipeline (`sandpipe.yaml`), and its problems.
fn local_settings(pipeline_file: &Path) -> (LocalSettings, Vec<sandpipe_model::Finding>) {
    let found =
        crate::local_actions::beside(Some(pipeline_file), local_settings::SETTINGS_FILE_NAMES);
    match found.map(|file| LocalSettings::read(&file)) {
        None => (LocalSettings::default(), Vec::new()),
        Some(Ok(settings)) => (settings, Vec::new()),
        Some(Err(error)) => (LocalSettings::default(), error.findings()),
    }
}

/// `run --dry-run`: the preflight's findings, or the plan.
pub fn dry_run(state_dir: Option<&Path>, args: RunArgs) -> anyhow::Result<ExitCode> {
    let args = args.start;
    let loaded = args.document.load()?;
    let files = args.runner.pipeline_files(Some(&args.document.file))?;
    let providers = args
        .runner
        .providers
        .registry(state_dir, Some(&args.document.file))?;
    let (report, start) = args.preflight(state_dir, &loaded, &files, &providers)?;
    crate::plan::print_plan(&loaded, &args, &providers, &files, &start, &report);
    if report.findings.is_empty() {
        return Ok(ExitCode::SUCCESS);
    }
    print_findings(&report.findings);
    errln!(
        "sandpipe: {}: the run would be refused",
        problem_count(report.findings.len())
    );
    Ok(ExitCode::FAILURE)
}

/// The pipeline file an earlier execution ran from, when it has one (the API's do not). A
/// relative name is as the run was given it: from this directory when it is there, else
/// from the directory holding the state directory, where runs usually start.
pub(crate) fn file_of(source_file: &str, state_dir: &Path) -> Option<PathBuf> {
    if source_file.is_empty() {
        return None;
    }
    let file = PathBuf::from(source_file);
    if file.is_absolute() || file.exists() {
        return Some(file);
    }
    let beside_state = state_dir
        .canonicalize()
        .ok()
        .and_then(|dir| dir.parent().map(|parent| parent.join(&file)))
        .filter(|candidate| candidate.exists());
    Some(beside_state.unwrap_or(file))
}

/// `request` with the declaration in `file` as the caller's, for the secret values the
/// stored declaration masks (the engine uses it only if it is what was stored).
pub(crate) fn declared_in(request: ExecutionRequest, file: Option<&Path>) -> ExecutionRequest {
    match file.and_then(|file| sandpipe_model::load_file(file).ok()) {
        Some(loaded) => request.with_declared(loaded.pipeline),
        None => request,
    }
}

pub fn retry(state_dir: &Path, args: RetryArgs) -> anyhow::Result<ExitCode> {
    let state = StateStore::open(state_dir)?;
    // An execution whose process died is failed first, so that it can be the one retried.
    sandpipe_engine::recover(&state)?;
    let chosen = crate::ids::execution(
        &state,
        state_dir,
        args.execution.as_deref(),
        args.pipeline.as_deref(),
        crate::ids::Latest::Failed,
    )?;
    let record = state.executions().get(&chosen.id)?;
    drop(state);
    let stage = match args.stage {
        Some(stage) => stage,
        None => failed_stage(&record)?,
    };
    let file = file_of(&record.source_file, state_dir);
    let request = ExecutionRequest::retry(&record.pipeline_execution_id, &stage, args.all_actions)
        .with_files(args.runner.pipeline_files(file.as_deref())?)
        .in_region(&args.region);
    let request = declared_in(request, file.as_deref());
    execute(state_dir, &args.runner, file.as_deref(), request)
}

/// The stage a retry without `--stage` runs again: the one that failed (an execution ends at
/// its first failed stage, so there is one at most).
fn failed_stage(record: &ExecutionRecord) -> anyhow::Result<String> {
    let failed: Vec<&str> = record
        .stages
        .iter()
        .filter(|stage| stage.status == sandpipe_state::StageStatus::Failed)
        .map(|stage| stage.name.as_str())
        .collect();
    match failed[..] {
        [stage] => Ok(stage.to_string()),
        [] => anyhow::bail!(
            "StageNotRetryableException: execution {} is {} and has no failed stage to retry",
            record.pipeline_execution_id,
            record.status
        ),
        _ => anyhow::bail!(
            "execution {} has failed stages {}; name the one to retry with --stage",
            record.pipeline_execution_id,
            failed.join(", ")
        ),
    }
}

#[derive(Args)]
pub struct RollbackArgs {
    /// The pipeline to roll back.
    pipeline: String,

    /// The stage to roll back.
    #[arg(long)]
    stage: String,

    /// The execution whose artifacts to roll back to; by default the latest one that succeeded
    /// in the stage.
    #[arg(long)]
    target: Option<String>,

    /// The region the execution runs in.
    #[arg(long, default_value = sandpipe_engine::DEFAULT_REGION, env = "AWS_REGION")]
    region: String,

    #[command(flatten)]
    runner: RunnerArgs,
}

pub fn rollback(state_dir: &Path, args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let state = StateStore::open(state_dir)?;
    let latest = state.executions().list(Some(&args.pipeline), 1)?;
    let source_file = match latest.first() {
        Some(summary) => state.executions().get(&summary.id)?.source_file,
        None => String::new(),
    };
    drop(state);
    let file = file_of(&source_file, state_dir);
    let request = ExecutionRequest::rollback(&args.pipeline, &args.stage, args.target.as_deref())
        .with_files(args.runner.pipeline_files(file.as_deref())?)
        .in_region(&args.region);
    let request = declared_in(request, file.as_deref());
    execute(state_dir, &args.runner, file.as_deref(), request)
}
