//! The operator's settings for the runner, parsed once from the flags of every command that
//! runs executions (`run`, `retry`, `rollback`, `replay`, `watch`, `serve`): providers and
//! grants, limits, where builds run, secrets, and the files that belong to a pipeline.

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;
use sandpipe_engine::{BuildSettings, PipelineFiles, PipelineRunner, RunnerSettings};
use sandpipe_model::codebuild::{ProjectError, load_every_project, project_files};
use sandpipe_model::connections::Connections;
use sandpipe_model::secrets::load_secrets;
use sandpipe_runtime::{
    ActionHost, BuildRunner, ComponentCache, ContainerKind, ExecutionLimits, SecretValues,
    local_base_environment,
};

use crate::progress::Progress;

/// The operator's settings for the runner: grants, limits and where things are.
#[derive(Args)]
pub struct RunnerArgs {
    #[command(flatten)]
    pub(crate) providers: crate::providers::ProviderArgs,

    #[command(flatten)]
    local_actions: crate::local_actions::LocalActionArgs,

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
    pub(crate) fn runner(
        &self,
        state_dir: &Path,
        pipeline_file: Option<&Path>,
    ) -> anyhow::Result<PipelineRunner> {
        let providers = self.providers.registry(Some(state_dir), pipeline_file)?;
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

    /// The values of the secrets file, when one is given.
    pub(crate) fn secrets(&self) -> anyhow::Result<Option<Arc<SecretValues>>> {
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
        let (doubles, double_problems) = self.local_actions.doubles(pipeline_file);
        let (functions, function_problems) = self.local_actions.functions(pipeline_file);
        let local_actions_unread = !double_problems.is_empty() || !function_problems.is_empty();
        problems.extend(double_problems);
        problems.extend(function_problems);
        Ok(PipelineFiles {
            projects,
            connections,
            doubles,
            functions,
            problems,
            local_actions_unread,
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
