//! `sandpipe run` and `sandpipe retry`.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sandpipe_engine::{
    BuildSettings, ExecutionRecord, ExecutionStatus, ProviderRegistry, RunError, RunOptions,
    Runner, SourceSettings, Start, StateStore, parse_source_revision,
};
use sandpipe_model::ActionTypeId;
use sandpipe_model::codebuild::{load_projects, project_files};
use sandpipe_model::connections::Connections;
use sandpipe_model::secrets::load_secrets;
use sandpipe_runtime::{
    ActionEngine, BuildRunner, Capability, ComponentCache, ContainerKind, ExecutionLimits,
    SecretValues, local_base_environment,
};

use crate::document::DocumentArgs;
use crate::progress::Progress;

/// How actions run: the operator's grants and limits.
#[derive(Args)]
pub struct EngineArgs {
    /// Stop any action running longer than this (e.g. 30s, 10m), instead of its own timeout.
    #[arg(long, value_parser = humantime::parse_duration)]
    action_timeout: Option<Duration>,

    /// Memory one action may use, in MiB.
    #[arg(long, default_value_t = 512)]
    memory_mib: usize,

    /// Serve an action type with a WebAssembly component: TYPE=FILE, where TYPE is
    /// Category/Owner/Provider/Version (e.g. Build/Custom/Lint/1=lint.wasm). Repeatable.
    #[arg(long = "provider", value_name = "TYPE=FILE")]
    providers: Vec<String>,

    /// Keep each action's sandbox directory under <state-dir>/work for inspection.
    #[arg(long)]
    keep_work: bool,

    /// Do not cache compiled components (by default they are kept in ~/.cache/sandpipe).
    #[arg(long)]
    no_cache: bool,

    /// Print plain lines even on a terminal.
    #[arg(long)]
    plain: bool,

    /// Grant a provider capabilities beyond the sandbox: TYPE=CAP[,CAP], where CAP is `exec`
    /// (run commands through the build runner), `secrets` (read values from --secrets) or
    /// `git` (read the repository the connections file maps for the action). The built-in
    /// CodeBuild provider has exec and secrets, the built-in git sources git; nothing else has
    /// any unless granted.
    #[arg(long = "grant", value_name = "TYPE=CAPS")]
    grants: Vec<String>,

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
}

#[derive(Clone, Copy, clap::ValueEnum)]
enum RunnerChoice {
    Local,
    Container,
    Docker,
    Podman,
}

impl EngineArgs {
    /// Whether output is plain lines even on a terminal.
    pub(crate) fn plain(&self) -> bool {
        self.plain
    }

    /// The build runner, projects and secrets. `pipeline_file` locates the projects kept
    /// beside the pipeline.
    fn build_settings(&self, pipeline_file: Option<&Path>) -> anyhow::Result<BuildSettings> {
        let runner = match self.build_runner {
            RunnerChoice::Local => BuildRunner::Local,
            RunnerChoice::Container => BuildRunner::container(None)?,
            RunnerChoice::Docker => BuildRunner::container(Some(ContainerKind::Docker))?,
            RunnerChoice::Podman => BuildRunner::container(Some(ContainerKind::Podman))?,
        };
        let files = project_files(&self.projects, pipeline_file)?;
        let projects = load_projects(&files)?.projects;
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
        Ok(BuildSettings {
            runner,
            base_environment: local_base_environment(&self.pass_env),
            projects,
            secrets,
            cache_root: None,
        })
    }

    /// The connections file and the repos root.
    fn source_settings(&self, pipeline_file: Option<&Path>) -> anyhow::Result<SourceSettings> {
        let connections = match Connections::find(self.connections.as_deref(), pipeline_file) {
            Some(file) => Connections::load(&file)?,
            None => Connections::default(),
        };
        let connections = match (&self.repos_root, pipeline_file) {
            // An explicit --repos-root wins over the file's reposRoot.
            (Some(root), _) => connections.with_repos_root(root.clone()),
            (None, Some(file)) => connections.with_default_repos_root(default_repos_root(file)),
            (None, None) => connections,
        };
        Ok(SourceSettings { connections })
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
    #[arg(long = "variable", value_name = "NAME=VALUE")]
    variables: Vec<String>,

    /// Replace a source action's output with a directory's current files, uncommitted
    /// changes included and .gitignore respected: ACTION=DIR (repeatable).
    #[arg(long = "source", value_name = "ACTION=DIR")]
    sources: Vec<String>,

    /// Start with this revision for a source action instead of its latest, as
    /// StartPipelineExecution's sourceRevisions:
    /// actionName=Source,revisionType=COMMIT_ID,revisionValue=<sha> (repeatable; also
    /// S3_OBJECT_VERSION_ID and S3_OBJECT_KEY for S3 sources).
    #[arg(long = "source-revision", value_name = "SHORTHAND")]
    source_revisions: Vec<String>,

    #[command(flatten)]
    engine: EngineArgs,
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
    #[arg(long, default_value = "us-east-1", env = "AWS_REGION")]
    region: String,

    #[command(flatten)]
    engine: EngineArgs,
}

pub(crate) fn runner(
    state_dir: &Path,
    engine: &EngineArgs,
    region: &str,
    source_file: String,
    variables: BTreeMap<String, String>,
) -> anyhow::Result<Runner> {
    let pipeline_file = (!source_file.is_empty()).then(|| PathBuf::from(&source_file));
    let builds = engine.build_settings(pipeline_file.as_deref())?;
    let mut providers = ProviderRegistry::builtin();
    for grant in &engine.providers {
        let (action_type, file) = grant
            .split_once('=')
            .with_context(|| format!("--provider '{grant}': expected TYPE=FILE"))?;
        let action_type: ActionTypeId = action_type
            .parse()
            .map_err(|e| anyhow::anyhow!("--provider '{grant}': {e}"))?;
        providers.grant(&action_type, Path::new(file))?;
    }
    for grant in &engine.grants {
        let (action_type, capabilities) = grant
            .split_once('=')
            .with_context(|| format!("--grant '{grant}': expected TYPE=CAP[,CAP]"))?;
        let action_type: ActionTypeId = action_type
            .parse()
            .map_err(|e| anyhow::anyhow!("--grant '{grant}': {e}"))?;
        let capabilities = capabilities
            .split(',')
            .map(|c| c.trim().parse::<Capability>())
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| anyhow::anyhow!("--grant '{grant}': {e}"))?;
        providers.allow(&action_type, &capabilities)?;
    }
    let sources = engine.source_settings(pipeline_file.as_deref())?;
    let options = RunOptions {
        sources,
        state_dir: state_dir.to_path_buf(),
        region: region.to_string(),
        action_timeout: engine.action_timeout,
        limits: ExecutionLimits {
            memory_bytes: engine.memory_mib << 20,
            ..ExecutionLimits::default()
        },
        keep_work: engine.keep_work,
        source_file,
        variables,
        builds,
    };
    let cache = if engine.no_cache {
        None
    } else {
        ComponentCache::default_dir()
    };
    Runner::new(ActionEngine::new(cache)?, providers, options)
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

pub fn run(state_dir: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.document.load()??;
    let mut variables = BTreeMap::new();
    for pair in &args.variables {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--variable '{pair}': expected NAME=VALUE"))?;
        variables.insert(name.to_string(), value.to_string());
    }
    let runtime = runtime()?;
    let runner = runner(
        state_dir,
        &args.engine,
        &args.document.region,
        args.document.file_name(),
        variables,
    )?;
    let mut start = Start::by("StartPipelineExecution", "sandpipe run");
    for pair in &args.sources {
        let (action, dir) = pair
            .split_once('=')
            .with_context(|| format!("--source '{pair}': expected ACTION=DIR"))?;
        // Absolute, so the record says which directory it was wherever it is read.
        let dir = std::fs::canonicalize(dir).unwrap_or_else(|_| PathBuf::from(dir));
        start.working_trees.insert(action.to_string(), dir);
    }
    for text in &args.source_revisions {
        let (action, revision) = parse_source_revision(text)
            .map_err(|e| anyhow::anyhow!("--source-revision '{text}': {e}"))?;
        start.source_revisions.insert(action, revision);
    }
    let progress = Arc::new(Progress::new(args.engine.plain));
    let result = runtime.block_on(runner.start(&loaded, start, progress.clone()));
    finish(&progress, result)
}

/// The runtime, runner and progress view of a command that drives a stored execution.
/// `source_file` is the pipeline file of the execution, so that build projects kept beside
/// it are found as they were when it first ran.
fn session(
    state_dir: &Path,
    engine: &EngineArgs,
    region: &str,
    source_file: String,
) -> anyhow::Result<(tokio::runtime::Runtime, Runner, Arc<Progress>)> {
    let runtime = runtime()?;
    let runner = runner(state_dir, engine, region, source_file, BTreeMap::new())?;
    Ok((runtime, runner, Arc::new(Progress::new(engine.plain))))
}

pub fn retry(state_dir: &Path, args: RetryArgs) -> anyhow::Result<ExitCode> {
    // An unknown execution is reported by the retry itself.
    let source_file = StateStore::open(state_dir)?
        .execution(&args.execution)
        .map(|record| record.source_file)
        .unwrap_or_default();
    let (runtime, runner, progress) = session(state_dir, &args.engine, &args.region, source_file)?;
    let retry = runner.retry(
        &args.execution,
        &args.stage,
        args.all_actions,
        progress.clone(),
    );
    finish(&progress, runtime.block_on(retry))
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
    #[arg(long, default_value = "us-east-1", env = "AWS_REGION")]
    region: String,

    #[command(flatten)]
    engine: EngineArgs,
}

pub fn rollback(state_dir: &Path, args: RollbackArgs) -> anyhow::Result<ExitCode> {
    let state = StateStore::open(state_dir)?;
    let latest = state.list_executions(Some(&args.pipeline), 1)?;
    let source_file = match latest.first() {
        Some(summary) => state.execution(&summary.id)?.source_file,
        None => String::new(),
    };
    drop(state);
    let (runtime, runner, progress) = session(state_dir, &args.engine, &args.region, source_file)?;
    let target = args.target.as_deref();
    let rollback = runner.rollback(&args.pipeline, &args.stage, target, progress.clone());
    finish(&progress, runtime.block_on(rollback))
}
