//! `sandpipe run` and `sandpipe retry`.

use std::collections::BTreeMap;
use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sandpipe_engine::{
    ExecutionRecord, ExecutionStatus, ProviderRegistry, RunError, RunOptions, Runner,
};
use sandpipe_model::ActionTypeId;
use sandpipe_runtime::{ActionEngine, ComponentCache, ExecutionLimits};

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
}

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    document: DocumentArgs,

    /// A value for a V2 pipeline variable: NAME=VALUE (repeatable); others take their default.
    #[arg(long = "variable", value_name = "NAME=VALUE")]
    variables: Vec<String>,

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

fn runner(
    state_dir: &Path,
    engine: &EngineArgs,
    region: &str,
    source_file: String,
    variables: BTreeMap<String, String>,
) -> anyhow::Result<Runner> {
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
    let options = RunOptions {
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
    };
    let cache = if engine.no_cache {
        None
    } else {
        ComponentCache::default_dir()
    };
    Runner::new(ActionEngine::new(cache)?, providers, options)
}

fn runtime() -> anyhow::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")
}

/// Print how the execution ended; exit 0 only when it succeeded.
fn finish(
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
    let progress = Arc::new(Progress::new(args.engine.plain));
    let result = runtime.block_on(runner.run(&loaded, progress.clone()));
    finish(&progress, result)
}

/// The runtime, runner and progress view of a command that drives a stored execution.
fn session(
    state_dir: &Path,
    engine: &EngineArgs,
    region: &str,
) -> anyhow::Result<(tokio::runtime::Runtime, Runner, Arc<Progress>)> {
    let runtime = runtime()?;
    let runner = runner(state_dir, engine, region, String::new(), BTreeMap::new())?;
    Ok((runtime, runner, Arc::new(Progress::new(engine.plain))))
}

pub fn retry(state_dir: &Path, args: RetryArgs) -> anyhow::Result<ExitCode> {
    let (runtime, runner, progress) = session(state_dir, &args.engine, &args.region)?;
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
    let (runtime, runner, progress) = session(state_dir, &args.engine, &args.region)?;
    let target = args.target.as_deref();
    let rollback = runner.rollback(&args.pipeline, &args.stage, target, progress.clone());
    finish(&progress, runtime.block_on(rollback))
}
