//! `sandpipe run`, `sandpipe retry` and `sandpipe rollback`: the operator's settings for the
//! runner (parsed once), the files that belong to the pipeline, and one execution request.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sandpipe_engine::{
    BuildSettings, ExecutionRecord, ExecutionRequest, ExecutionStatus, PipelineFiles,
    PipelineRunner, ProviderRegistry, RunError, RunnerSettings, Start, StateStore,
};
use sandpipe_model::codebuild::{load_projects, project_files};
use sandpipe_model::connections::Connections;
use sandpipe_model::secrets::load_secrets;
use sandpipe_runtime::{
    ActionHost, BuildRunner, ComponentCache, ContainerKind, ExecutionLimits, SecretValues,
    local_base_environment,
};

use crate::document::DocumentArgs;
use crate::flags::{
    GrantFlag, KeyValue, ProviderFlag, SourceFlag, SourceRevisionFlag, grant, key_value, provider,
    source, source_revision,
};
use crate::progress::Progress;

/// The operator's settings for the runner: grants, limits and where things are.
#[derive(Args)]
pub struct RunnerArgs {
    /// Stop any action running longer than this (e.g. 30s, 10m), instead of its own timeout.
    #[arg(long, value_parser = humantime::parse_duration)]
    action_timeout: Option<Duration>,

    /// Memory one action may use, in MiB.
    #[arg(long, default_value_t = 512)]
    memory_mib: usize,

    /// Bytes one action may write into its outputs, /tmp and cache together (e.g. 2GiB);
    /// a write past it fails with ENOSPC and the action fails. Default 10GiB.
    #[arg(long, value_name = "SIZE", value_parser = crate::flags::byte_size)]
    output_budget: Option<u64>,

    /// Files, directories and links one action may create there. Default 200000.
    #[arg(long, value_name = "COUNT", value_parser = clap::value_parser!(u64).range(1..))]
    file_budget: Option<u64>,

    /// Free space to keep on the state directory's and the work area's file systems: no
    /// action starts below it, and none may write into it. Default 1GiB.
    #[arg(long, value_name = "SIZE", value_parser = crate::flags::byte_size)]
    disk_reserve: Option<u64>,

    /// Serve an action type with a WebAssembly component: TYPE=FILE, where TYPE is
    /// Category/Owner/Provider/Version (e.g. Build/Custom/Lint/1=lint.wasm). Repeatable.
    #[arg(long = "provider", value_name = "TYPE=FILE", value_parser = provider)]
    providers: Vec<ProviderFlag>,

    /// Keep each action's sandbox directory under <state-dir>/work for inspection.
    #[arg(long)]
    keep_work: bool,

    /// Where action sandboxes are made. By default a private directory on a memory file
    /// system ($XDG_RUNTIME_DIR or /dev/shm) when one has 4 GiB free, else <state-dir>/work.
    #[arg(long, value_name = "DIR", env = "SANDPIPE_WORK_DIR")]
    work_dir: Option<PathBuf>,

    /// Do not cache compiled components (by default they are kept in ~/.cache/sandpipe).
    #[arg(long)]
    no_cache: bool,

    /// Grant a provider capabilities beyond the sandbox: TYPE=CAP[,CAP], where CAP is `exec`
    /// (run commands through the build runner), `secrets` (read values from --secrets) or
    /// `git` (read the repository the connections file maps for the action). The built-in
    /// CodeBuild provider has exec and secrets, the built-in git sources git; nothing else has
    /// any unless granted.
    #[arg(long = "grant", value_name = "TYPE=CAPS", value_parser = grant)]
    grants: Vec<GrantFlag>,

    /// Where build commands run: `local` (a process on this machine, outside the wasm
    /// sandbox), `container` (docker or podman, whichever answers, with the project's image),
    /// `docker` or `podman`.
    #[arg(
        long,
        value_enum,
        default_value = "local",
        env = "SANDPIPE_BUILD_RUNNER"
    )]
    build_runner: RunnerChoice,

    /// CodeBuild project definitions (create-project input; a file or a directory of them).
    /// Repeatable. Beside the pipeline file, codebuild/ and codebuild-projects.{json,yaml,yml}
    /// are read as well.
    #[arg(long = "projects", value_name = "PATH")]
    projects: Vec<PathBuf>,

    /// Parameters and secrets for builds: a JSON or YAML file with `parameters:` and
    /// `secrets:` maps, the local stand-in for Parameter Store and Secrets Manager.
    #[arg(long, value_name = "FILE", env = "SANDPIPE_SECRETS")]
    secrets: Option<PathBuf>,

    /// A variable of this machine passed to local builds, beyond PATH, HOME, USER, LANG, TZ,
    /// TMPDIR and the toolchain homes. Repeatable.
    #[arg(long = "pass-env", value_name = "NAME")]
    pass_env: Vec<String>,

    /// Where git source actions' repositories are: a connections file mapping connection
    /// repositories, GitHub Owner/Repo and CodeCommit names to paths or URLs. By default
    /// sandpipe-connections.{yaml,yml,json} beside the pipeline.
    #[arg(long, value_name = "FILE", env = "SANDPIPE_CONNECTIONS")]
    connections: Option<PathBuf>,

    /// Where repositories the connections file does not map are looked for, by repository
    /// id or name. By default the connections file's reposRoot, else the directory holding
    /// the repository the pipeline file is in (its sibling checkouts).
    #[arg(long, value_name = "DIR", env = "SANDPIPE_REPOS_ROOT")]
    repos_root: Option<PathBuf>,

    /// Print plain lines even on a terminal.
    #[arg(long)]
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
        let mut providers = ProviderRegistry::builtin();
        for flag in &self.providers {
            providers.register(&flag.action_type, &flag.file)?;
        }
        for flag in &self.grants {
            providers.grant(&flag.action_type, &flag.capabilities)?;
        }
        let runner = match self.build_runner {
            RunnerChoice::Local => BuildRunner::Local,
            RunnerChoice::Container => BuildRunner::container(None)?,
            RunnerChoice::Docker => BuildRunner::container(Some(ContainerKind::Docker))?,
            RunnerChoice::Podman => BuildRunner::container(Some(ContainerKind::Podman))?,
        };
        let secrets = match &self.secrets {
            Some(path) => {
                let file = load_secrets(path)?;
                Some(Arc::new(SecretValues {
                    parameters: file.parameters,
                    secrets: file.secrets,
                    source: Some(path.display().to_string()),
                }))
            }
            None => None,
        };
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

    /// The build projects and connections of the pipeline in `pipeline_file` (the operator's,
    /// and those kept beside it).
    pub(crate) fn pipeline_files(
        &self,
        pipeline_file: Option<&Path>,
    ) -> anyhow::Result<PipelineFiles> {
        let files = project_files(&self.projects, pipeline_file)?;
        let projects = load_projects(&files)?.projects;
        let connections = match Connections::find(self.connections.as_deref(), pipeline_file) {
            Some(file) => Connections::load(&file)?,
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

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    document: DocumentArgs,

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

    #[command(flatten)]
    runner: RunnerArgs,
}

#[derive(Args)]
pub struct RetryArgs {
    /// The failed execution (an id, or a unique prefix of one).
    execution: String,

    /// The failed stage to run again.
    #[arg(long)]
    stage: String,

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

/// Print how the execution ended; exit 0 only when it succeeded.
pub(crate) fn finish(
    progress: &Progress,
    result: Result<ExecutionRecord, RunError>,
) -> anyhow::Result<ExitCode> {
    let record = match result {
        Ok(record) => record,
        Err(RunError::Invalid { file, problems }) => {
            for problem in &problems {
                eprintln!("sandpipe: {file}: {problem}");
            }
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

/// Run one request to its end on a runner made for it, showing it live.
pub(crate) fn execute(
    state_dir: &Path,
    settings: &RunnerArgs,
    request: ExecutionRequest,
) -> anyhow::Result<ExitCode> {
    let runtime = runtime()?;
    let runner = settings.runner(state_dir)?;
    let progress = settings.progress();
    let result = runtime.block_on(runner.execute(request, progress.clone()));
    finish(&progress, result)
}

pub fn run(state_dir: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.document.load()?;
    let mut start = Start::by("StartPipelineExecution", "sandpipe run");
    for flag in args.sources {
        start.working_trees.insert(flag.action, flag.dir);
    }
    for flag in args.source_revisions {
        start.source_revisions.insert(flag.action, flag.revision);
    }
    let files = args.runner.pipeline_files(Some(&args.document.file))?;
    let request = ExecutionRequest::start(loaded, args.document.file_name())
        .with_variables(
            args.variables
                .into_iter()
                .map(|v| (v.key, v.value))
                .collect(),
        )
        .started_by(start)
        .with_files(files)
        .in_region(&args.document.region);
    execute(state_dir, &args.runner, request)
}

/// The files of the pipeline an earlier execution ran, found as they were when it ran
/// (`source_file` is the pipeline file it came from).
fn files_of(settings: &RunnerArgs, source_file: &str) -> anyhow::Result<PipelineFiles> {
    let file = (!source_file.is_empty()).then(|| PathBuf::from(source_file));
    settings.pipeline_files(file.as_deref())
}

pub fn retry(state_dir: &Path, args: RetryArgs) -> anyhow::Result<ExitCode> {
    // An unknown execution is reported by the retry itself.
    let source_file = StateStore::open(state_dir)?
        .executions()
        .get(&args.execution)
        .map(|record| record.source_file)
        .unwrap_or_default();
    let request = ExecutionRequest::retry(&args.execution, &args.stage, args.all_actions)
        .with_files(files_of(&args.runner, &source_file)?)
        .in_region(&args.region);
    execute(state_dir, &args.runner, request)
}

#[derive(Args)]
pub struct RollbackArgs {
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
