//! `sandpipe executions list|show` and `sandpipe logs`: what ran, how it ended, what it said.

use std::io::{Read, Seek, SeekFrom, Write};
use std::path::Path;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Args, Subcommand};
use sandpipe_model::text::{Escaped, escape_controls_keep_lines};
use sandpipe_state::{ExecutionStatus, StateStore};

use crate::ids::{self, Latest};
use crate::progress;
use crate::terminal::outln;

#[derive(Subcommand)]
pub enum ExecutionsCommand {
    /// Executions, newest first.
    List {
        /// Only this pipeline's executions.
        #[arg(long)]
        pipeline: Option<String>,
        /// List at most this many (the newest).
        #[arg(long, default_value_t = 20)]
        limit: usize,
        /// Print them as JSON (pipelineExecutionSummaries' fields), for machines.
        #[arg(long)]
        json: bool,
    },
    /// One execution: every action's status, times, configuration, variables and artifacts.
    Show {
        /// An execution id, a unique prefix of one, or `latest` (the default).
        execution: Option<String>,
        /// Without an execution id, this pipeline's latest execution.
        #[arg(long)]
        pipeline: Option<String>,
        /// Print the whole record as JSON, for machines.
        #[arg(long)]
        json: bool,
    },
}

#[derive(Args)]
pub struct LogsArgs {
    /// An execution id, a unique prefix of one, or `latest`. Without one, the latest
    /// execution's logs are followed until it ends.
    execution: Option<String>,
    /// Without an execution id, this pipeline's latest execution.
    #[arg(long)]
    pipeline: Option<String>,
    /// Only this action's log (its name, or Stage/Action).
    #[arg(long)]
    action: Option<String>,
    /// Keep printing new lines until the execution ends.
    #[arg(long)]
    follow: bool,
}

fn open(state_dir: &Path) -> anyhow::Result<StateStore> {
    let state = StateStore::open(state_dir)?;
    sandpipe_engine::recover(&state)?;
    Ok(state)
}

pub fn executions(state_dir: &Path, command: ExecutionsCommand) -> anyhow::Result<ExitCode> {
    let state = open(state_dir)?;
    match command {
        ExecutionsCommand::List {
            pipeline,
            limit,
            json,
        } => {
            let executions = state.executions().list(pipeline.as_deref(), limit)?;
            if let Some(pipeline) = &pipeline
                && executions.is_empty()
                && state.executions().list(Some(pipeline), 1)?.is_empty()
            {
                anyhow::bail!("{}", no_executions_of(&state, pipeline, state_dir)?);
            }
            if json {
                let list: Vec<_> = executions
                    .iter()
                    .map(|e| {
                        serde_json::json!({
                            "pipelineExecutionId": e.id,
                            "pipelineName": e.pipeline,
                            "pipelineVersion": e.pipeline_version,
                            "status": e.status,
                            "statusSummary": e.status_summary,
                            "startTime": e.start_time,
                            "endTime": e.end_time,
                        })
                    })
                    .collect();
                outln!("{}", serde_json::to_string_pretty(&list)?);
            } else {
                progress::print_execution_list(&executions);
            }
        }
        ExecutionsCommand::Show {
            execution,
            pipeline,
            json,
        } => {
            let chosen = ids::execution(
                &state,
                state_dir,
                execution.as_deref(),
                pipeline.as_deref(),
                Latest::Any,
            )?;
            let record = state.executions().get(&chosen.id)?;
            if json {
                let mut value = serde_json::to_value(&record)?;
                value["sourceRevisions"] = serde_json::to_value(record.source_revisions())?;
                outln!("{}", serde_json::to_string_pretty(&value)?);
            } else {
                progress::print_execution(&record);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

/// Why `executions list --pipeline` found nothing, and the pipelines that have run here.
fn no_executions_of(
    state: &StateStore,
    pipeline: &str,
    state_dir: &Path,
) -> anyhow::Result<String> {
    let mut names: Vec<String> = state
        .executions()
        .list(None, usize::MAX)?
        .into_iter()
        .map(|e| e.pipeline)
        .collect();
    names.sort();
    names.dedup();
    let known = if names.is_empty() {
        "it has no executions at all".to_string()
    } else {
        let names: Vec<String> = names.iter().map(|n| format!("'{}'", Escaped(n))).collect();
        format!("it has executions of {}", names.join(", "))
    };
    Ok(format!(
        "no executions of pipeline '{}' in {} ({known})",
        Escaped(pipeline),
        state_dir.display()
    ))
}

pub fn logs(state_dir: &Path, args: LogsArgs) -> anyhow::Result<ExitCode> {
    let state = open(state_dir)?;
    let chosen = ids::execution(
        &state,
        state_dir,
        args.execution.as_deref(),
        args.pipeline.as_deref(),
        Latest::Any,
    )?;
    // Without an execution named, the latest is followed while it runs.
    let follow = args.follow || args.execution.is_none();
    let mut record = state.executions().get(&chosen.id)?;
    let dir = state_dir
        .join("executions")
        .join(&record.pipeline_execution_id);
    let wanted = |stage: &str, action: &str| match &args.action {
        None => true,
        Some(name) => name == action || *name == format!("{stage}/{action}"),
    };
    if args.action.is_some()
        && !record
            .stages
            .iter()
            .any(|s| s.actions.iter().any(|a| wanted(&s.name, &a.name)))
    {
        anyhow::bail!(
            "execution {} has no action '{}'",
            record.pipeline_execution_id,
            args.action.unwrap_or_default()
        );
    }
    // How far each log has been printed, so --follow prints only what is new.
    let mut printed: std::collections::BTreeMap<std::path::PathBuf, u64> = Default::default();
    let mut out = crate::terminal::stdout();
    loop {
        for stage in &record.stages {
            for action in &stage.actions {
                let Some(log) = action.log_path(&dir) else {
                    continue;
                };
                if !wanted(&stage.name, &action.name) {
                    continue;
                }
                let Ok(mut file) = std::fs::File::open(&log) else {
                    continue;
                };
                let offset = printed.entry(log).or_insert(0);
                if *offset == 0 && args.action.is_none() {
                    writeln!(
                        out,
                        "==> {}/{} <==",
                        Escaped(&stage.name),
                        Escaped(&action.name)
                    )?;
                }
                file.seek(SeekFrom::Start(*offset))?;
                let mut new = Vec::new();
                file.read_to_end(&mut new).context("reading the log")?;
                // Whole lines only, so a line being written is printed once it is complete.
                let complete = new.iter().rposition(|&b| b == b'\n').map_or(0, |at| at + 1);
                *offset += complete as u64;
                let text = String::from_utf8_lossy(&new[..complete]);
                out.write_all(escape_controls_keep_lines(&text).as_bytes())?;
            }
        }
        out.flush()?;
        let running = matches!(
            record.status,
            ExecutionStatus::InProgress | ExecutionStatus::Stopping
        );
        if !follow || !running {
            return Ok(ExitCode::SUCCESS);
        }
        std::thread::sleep(Duration::from_millis(200));
        sandpipe_engine::recover(&state)?;
        record = state.executions().get(&record.pipeline_execution_id)?;
    }
}
