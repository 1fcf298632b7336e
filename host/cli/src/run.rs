//! `sandpipe run`.

use std::path::Path;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use clap::Args;
use sandpipe_engine::{ExecutionStatus, ProviderRegistry, RunError, RunOptions, Runner};
use sandpipe_model::ActionTypeId;
use sandpipe_runtime::{ActionEngine, ComponentCache, ExecutionLimits};

use crate::document::DocumentArgs;
use crate::progress::Progress;

#[derive(Args)]
pub struct RunArgs {
    #[command(flatten)]
    document: DocumentArgs,

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

    /// A value for a V2 pipeline variable: NAME=VALUE (repeatable); others take their default.
    #[arg(long = "variable", value_name = "NAME=VALUE")]
    variables: Vec<String>,

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

pub fn run(state_dir: &Path, args: RunArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.document.load()??;
    let mut providers = ProviderRegistry::builtin();
    for grant in &args.providers {
        let (action_type, file) = grant
            .split_once('=')
            .with_context(|| format!("--provider '{grant}': expected TYPE=FILE"))?;
        let action_type: ActionTypeId = action_type
            .parse()
            .map_err(|e| anyhow::anyhow!("--provider '{grant}': {e}"))?;
        providers.grant(&action_type, Path::new(file))?;
    }
    let mut variables = std::collections::BTreeMap::new();
    for pair in &args.variables {
        let (name, value) = pair
            .split_once('=')
            .with_context(|| format!("--variable '{pair}': expected NAME=VALUE"))?;
        variables.insert(name.to_string(), value.to_string());
    }
    let options = RunOptions {
        variables,
        state_dir: state_dir.to_path_buf(),
        region: args.document.region.clone(),
        action_timeout: args.action_timeout,
        limits: ExecutionLimits {
            memory_bytes: args.memory_mib << 20,
            ..ExecutionLimits::default()
        },
        keep_work: args.keep_work,
        source_file: args.document.file_name(),
    };

    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("starting the async runtime")?;
    runtime.block_on(async move {
        let cache = if args.no_cache {
            None
        } else {
            ComponentCache::default_dir()
        };
        let engine = ActionEngine::new(cache)?;
        let runner = Runner::new(engine, providers, options)?;
        let progress = Arc::new(Progress::new(args.plain));
        let record = match runner.run(&loaded, progress.clone()).await {
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
    })
}
