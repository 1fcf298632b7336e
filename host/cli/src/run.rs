//! `sandpipe run`, `sandpipe retry` and `sandpipe rollback`: the operator's settings for the
//! runner (parsed once), the files that belong to the pipeline, and one execution request.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sandpipe_engine::{
    BuildSettings, ExecutionRecord, ExecutionRequest, ExecutionStatus, PipelineFiles,
    PipelineRunner, Preflight, PreflightReport, ProviderRegistry, RunError, RunnerSettings, Start,
    StateStore,
};
use sandpipe_model::LoadedPipeline;
use sandpipe_model::codebuild::{ProjectError, load_every_project, project_files};
use sandpipe_model::connections::Connections;
use sandpipe_model::execution::StageSelection;
use sandpipe_model::secrets::load_secrets;
use sandpipe_runtime::{
    ActionHost, BuildRunner, ComponentCache, ContainerKind, ExecutionLimits, SecretValues,
    local_base_environment,
};
use sandpipe_store::LocalS3;

use crate::document::DocumentArgs;
use crate::flags::{
    GrantFlag, KeyValue, ProviderFlag, SourceFlag, SourceRevisionFlag, grant, key_value, provider,
    source, source_revision,
};
use crate::progress::Progress;
use crate::state_location::StateLocation;
use crate::terminal::errln;

/// The operator's settings for the runner: grants, limits and where things are.
#[derive(Args)]
pub struct RunnerArgs {
    /// Stop any action running longer than this (e.g. 30s, 10m), instead of its own timeout.
    #[arg(global = true, long, value_parser = humantime::parse_duration)]
    action_timeout: Option<Duration>,

    /// Memory one action may use, in MiB.
    #[arg(global = true, long, default_value_t = 512)]
    memory_mib: usize,

    /// Bytes one action may write into its outputs, /tmp and cache together (e.g. 2GiB);
    /// a write past it fails with ENOSPC and the action fails. Default 10GiB.
    #[arg(global = true, long, value_name = "SIZE", value_parser = crate::flags::byte_size)]
    output_budget: Option<u64>,

    /// Files, directories and links one action may create there. Default 200000.
    #[arg(global = true, long, value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    file_budget: Option<u64>,

    /// Free space to keep on the state directory's and the work area's file systems: no
    /// action starts below it, and none may write into it. Default 1GiB.
    #[arg(global = true, long, value_name = "SIZE", value_parser = crate::flags::byte_size)]
    disk_reserve: Option<u64>,

    /// Serve an action type with a WebAssembly component: TYPE=FILE, where TYPE is
    /// Category/Owner/Provider/Version (e.g. Build/Custom/Lint/1=lint.wasm). Repeatable.
    #[arg(global = true, long = "provider", value_name = "TYPE=FILE", value_parser = provider)]
    providers: Vec<ProviderFlag>,

    /// Keep each action's sandbox directory under <state-dir>/work for inspection.
    #[arg(global = true, long)]
    keep_work: bool,

    /// Where action sandboxes are made. By default a private directory on a memory file
    /// system ($XDG_RUNTIME_DIR or /dev/shm) when one has 4 GiB free, else <state-dir>/work.
    #[arg(global = true, long, value_name = "DIR", env = "SANDPIPE_WORK_DIR")]
    work_dir: Option<PathBuf>,

    /// Do not cache compiled components (by default they are kept in ~/.cache/sandpipe).
    #[arg(global = true, long)]
    no_cache: bool,

    /// Grant a provider capabilities beyond the sandbox: TYPE=CAP[,CAP], where CAP is `exec`
    /// (run commands through the build runner), `secrets` (read values from --secrets) or
    /// `git` (read the repository the connections file maps for the action). The built-in
    /// CodeBuild provider has exec and secrets, the built-in git sources git; nothing else has
    /// any unless granted.
    #[arg(global = true, long = "grant", value_name = "TYPE=CAPS", value_parser = grant)]
    grants: Vec<GrantFlag>,

    /// Where build commands run: `local` (a process on this machine, outside the wasm
    /// sandbox), `container` (docker or podman, whichever answers, with the project's image),
    /// `docker` or `podman`.
    #[arg(
        global = true,
        long,
        value_enum,
        default_value = "local",
        env = "SANDPIPE_BUILD_RUNNER"
    )]
    build_runner: RunnerChoice,

    /// CodeBuild project definitions (create-project input; a file or a directory of them).
    /// Repeatable. Beside the pipeline file, codebuild/ and codebuild-projects.{json,yaml,yml}
    /// are read as well.
    #[arg(global = true, long = "projects", value_name = "PATH")]
    projects: Vec<PathBuf>,

    /// Parameters and secrets for builds: a JSON or YAML file with `parameters:` and
    /// `secrets:` maps, the local stand-in for Parameter Store and Secrets Manager.
    #[arg(global = true, long, value_name = "FILE", env = "SANDPIPE_SECRETS")]
    secrets: Option<PathBuf>,

    /// A variable of this machine passed to local builds, beyond PATH, HOME, USER, LANG, TZ,
    /// TMPDIR and the toolchain homes. Repeatable.
    #[arg(global = true, long = "pass-env", value_name = "NAME")]
    pass_env: Vec<String>,

    /// Where git source actions' repositories are: a connections file mapping connection
    /// repositories, GitHub Owner/Repo and CodeCommit names to paths or URLs. By default
    /// sandpipe-connections.{yaml,yml,json} beside the pipeline.
    #[arg(global = true, long, value_name = "FILE", env = "SANDPIPE_CONNECTIONS")]
    connections: Option<PathBuf>,

    /// Where repositories the connections file does not map are looked for, by repository
    /// id or name. By default the connections file's reposRoot, else the directory holding
    /// the repository the pipeline file is in (its sibling checkouts).
    #[arg(global = true, long, value_name = "DIR", env = "SANDPIPE_REPOS_ROOT")]
    repos_root: Option<PathBuf>,

    /// Create the buckets S3 sources and deploys name when they do not exist, instead of
    /// refusing the run.
    #[arg(global = true, long)]
    create_buckets: bool,

    /// Print plain lines even on a terminal.
    #[arg(global = true, long)]
    plain: bool,
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RunnerChoice {
    Local,
    Container,
    Docker,
    Podman,
}

impl RunnerArgs {
    /// The live view of the executions this command runs.
    pub(crate) fn progress(&self) -> Arc<Progress> {
        Arc::new(Progress::new(self.plain))
    }

    /// The runner of this process: the operator's providers, grants, limits, build runner
    /// and secrets.
    pub(crate) fn runner(&self, state_dir: &Path) -> anyhow::Result<PipelineRunner> {
        let providers = self.providers()?;
        let runner = match self.build_runner {
            RunnerChoice::Local => BuildRunner::Local,
            RunnerChoice::Container => BuildRunner::container(None)?,
            RunnerChoice::Docker => BuildRunner::container(Some(ContainerKind::Docker))?,
            RunnerChoice::Podman => BuildRunner::container(Some(ContainerKind::Podman))?,
        };
        let secrets = self.secrets()?;
        let settings = RunnerSettings {
            work_dir: self.work_dir.clone(),
            action_timeout: self.action_timeout,
            limits: ExecutionLimits {
                memory_bytes: self.memory_mib << 20,
                output_bytes: self
                    .output_budget
                    .unwrap_or(ExecutionLimits::default().output_bytes),
                output_files: self
                    .file_budget
                    .unwrap_or(ExecutionLimits::default().output_files),
                ..ExecutionLimits::default()
            },
            keep_work: self.keep_work,
            create_buckets: self.create_buckets,
            disk_reserve: self
                .disk_reserve
                .unwrap_or(sandpipe_engine::DEFAULT_DISK_RESERVE),
            builds: BuildSettings {
                runner,
                base_environment: local_base_environment(&self.pass_env),
                secrets,
                cache_root: None,
            },
            ..RunnerSettings::new(state_dir.to_path_buf())
        };
        let cache = if self.no_cache {
            None
        } else {
            ComponentCache::default_dir()
        };
        PipelineRunner::new(settings, providers, ActionHost::new(cache)?)
    }

    /// The built-in providers, the operator's components, and the grants they are given.
    pub(crate) fn providers(&self) -> anyhow::Result<ProviderRegistry> {
        let mut providers = ProviderRegistry::builtin();
        for flag in &self.providers {
            providers.register(&flag.action_type, &flag.file)?;
        }
        for flag in &self.grants {
            providers.grant(&flag.action_type, &flag.capabilities)?;
        }
        Ok(providers)
    }

    /// The values of the secrets file, when one is given.
    fn secrets(&self) -> anyhow::Result<Option<Arc<SecretValues>>> {
        let Some(path) = &self.secrets else {
            return Ok(None);
        };
        let file = load_secrets(path)?;
        Ok(Some(Arc::new(SecretValues {
            parameters: file.parameters,
            secrets: file.secrets,
            source: Some(path.display().to_string()),
        })))
    }

    /// Whether build commands run on this machine, outside the wasm sandbox.
    pub(crate) fn builds_on_host(&self) -> bool {
        matches!(self.build_runner, RunnerChoice::Local)
    }

    /// Where build commands run, as the plan says it.
    pub(crate) fn where_builds_run(&self) -> &'static str {
        match self.build_runner {
            RunnerChoice::Local => "build commands on this machine (outside the sandbox)",
            RunnerChoice::Container => "build commands in a container (docker or podman)",
            RunnerChoice::Docker => "build commands in a docker container",
            RunnerChoice::Podman => "build commands in a podman container",
        }
    }

    pub(crate) fn create_buckets(&self) -> bool {
        self.create_buckets
    }

    /// The build projects and connections of the pipeline in `pipeline_file` (the operator's,
    /// and those kept beside it).
    pub(crate) fn pipeline_files(
        &self,
        pipeline_file: Option<&Path>,
    ) -> anyhow::Result<PipelineFiles> {
        // A problem with a file is reported with every other problem found before the run.
        let mut problems = Vec::new();
        let projects = match project_files(&self.projects, pipeline_file) {
            Ok(files) => {
                let (found, errors) = load_every_project(&files);
                problems.extend(errors.into_iter().flat_map(ProjectError::findings));
                found.projects
            }
            Err(error) => {
                problems.extend(error.findings());
                Default::default()
            }
        };
        let connections = match Connections::find(self.connections.as_deref(), pipeline_file) {
            Some(file) => Connections::load(&file).unwrap_or_else(|error| {
                problems.extend(error.findings());
                Connections::default()
            }),
            None => Connections::default(),
        };
        let connections = match (&self.repos_root, pipeline_file) {
            // An explicit --repos-root wins over the file's reposRoot.
            (Some(root), _) => connections.with_repos_root(root.clone()),
            (None, Some(file)) => {
                let file = file.to_path_buf();
                // Finding the repository a pipeline file is in costs a git discovery; only
                // a lookup that needs the default root pays for it.
                connections.with_default_repos_root_from(move || default_repos_root(&file))
            }
            (None, None) => connections,
        };
        Ok(PipelineFiles {
            projects,
            connections,
            problems,
        })
    }
}

/// The directory holding the repository the pipeline file is in (so that `my-org/lib` is
/// found in a sibling checkout `../lib`), or the pipeline file's own directory.
fn default_repos_root(pipeline_file: &Path) -> PathBuf {
    let dir = match pipeline_file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    };
    let dir = dir.canonicalize().unwrap_or(dir);
    sandpipe_git::repository_top(&dir)
        .and_then(|top| top.parent().map(Path::to_path_buf))
        .unwrap_or(dir)
}

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
    let record = match result {
        Ok(record) => record,
        Err(RunError::Invalid(findings)) => {
            refuse(&findings);
            return Ok(ExitCode::FAILURE);
        }
        Err(RunError::Other(error)) => return Err(error),
    };
    progress.summary(&record);
    Ok(if record.status == ExecutionStatus::Succeeded {
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
    request: ExecutionRequest,
) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let runner = settings.runner(state_dir)?;
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
    let code = finish(&progress, result)?;
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
        let providers = self.runner.providers()?;
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
        }
        .check(self.runner.create_buckets);
        Ok((report, start))
    }
}

/// `run`: refused with every problem at once before anything (even the state directory) is
/// made, else one execution, shown live.
pub fn run(state: &StateLocation, args: RunArgs) -> anyhow::Result<ExitCode> {
    let args = args.start;
    let loaded = args.document.load()?;
    let files = args.runner.pipeline_files(Some(&args.document.file))?;
    let providers = args.runner.providers()?;
    let (report, start) =
        args.preflight(state.optional().as_deref(), &loaded, &files, &providers)?;
    if !report.findings.is_empty() {
        refuse(&report.findings);
        return Ok(ExitCode::FAILURE);
    }
    let state_dir = &state.for_writing();
    if args.runner.builds_on_host() && crate::plan::runs_builds(&loaded, &providers, &start) {
        errln!("{}", crate::plan::HOST_BUILDS_NOTICE);
    }
    let request = ExecutionRequest::start(loaded, args.document.file_name())
        .with_variables(args.variables())
        .started_by(start)
        .with_files(files)
        .in_region(&args.document.region);
    execute(state_dir, &args.runner, request)
}

/// `run --dry-run`: the preflight's findings, or the plan.
pub fn dry_run(state_dir: Option<&Path>, args: RunArgs) -> anyhow::Result<ExitCode> {
    let args = args.start;
    let loaded = args.document.load()?;
    let files = args.runner.pipeline_files(Some(&args.document.file))?;
    let providers = args.runner.providers()?;
    let (report, start) = args.preflight(state_dir, &loaded, &files, &providers)?;
    crate::plan::print_plan(&loaded, &args, &providers, &start, &report);
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

/// The files of the pipeline an earlier execution ran, found as they were when it ran
/// (`source_file` is the pipeline file it came from).
fn files_of(settings: &RunnerArgs, source_file: &str) -> anyhow::Result<PipelineFiles> {
    let file = (!source_file.is_empty()).then(|| PathBuf::from(source_file));
    settings.pipeline_files(file.as_deref())
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
    let request = ExecutionRequest::retry(&record.pipeline_execution_id, &stage, args.all_actions)
        .with_files(files_of(&args.runner, &record.source_file)?)
        .in_region(&args.region);
    execute(state_dir, &args.runner, request)
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
    let request = ExecutionRequest::rollback(&args.pipeline, &args.stage, args.target.as_deref())
        .with_files(files_of(&args.runner, &source_file)?)
        .in_region(&args.region);
    execute(state_dir, &args.runner, request)
}
