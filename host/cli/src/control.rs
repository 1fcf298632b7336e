//! Controlling running executions from any terminal: `sandpipe approve|reject`
//! (PutApprovalResult) and `sandpipe stop` (StopPipelineExecution).

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use sandpipe_state::StateStore;

#[derive(Args)]
pub struct DecisionArgs {
    pipeline: String,
    stage: String,
    action: String,
    /// Why (PutApprovalResult's summary, up to 512 characters).
    #[arg(long)]
    summary: String,
    /// The approval's token (shown by the waiting run and `executions show`); without it, the
    /// approval waiting in that action is decided.
    #[arg(long)]
    token: Option<String>,
}

pub fn decide(state_dir: &Path, args: DecisionArgs, approve: bool) -> anyhow::Result<ExitCode> {
    if args.summary.chars().count() > 512 {
        anyhow::bail!("--summary is at most 512 characters");
    }
    let state = StateStore::open(state_dir)?;
    state.recover()?;
    let place = (
        args.pipeline.as_str(),
        args.stage.as_str(),
        args.action.as_str(),
    );
    match state.decide_approval(place, args.token.as_deref(), approve, &args.summary)? {
        Ok(token) => {
            println!(
                "{} {}/{}/{} (token {token})",
                if approve { "Approved" } else { "Rejected" },
                args.pipeline,
                args.stage,
                args.action
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("sandpipe: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[derive(Args)]
pub struct StopArgs {
    /// An execution id, or a unique prefix of one.
    execution: String,
    /// Abandon running actions at once instead of letting them finish.
    #[arg(long)]
    abandon: bool,
    /// Why (up to 200 characters); shown as the execution's status summary.
    #[arg(long)]
    reason: Option<String>,
}

pub fn stop(state_dir: &Path, args: StopArgs) -> anyhow::Result<ExitCode> {
    if args
        .reason
        .as_ref()
        .is_some_and(|r| r.chars().count() > 200)
    {
        anyhow::bail!("--reason is at most 200 characters");
    }
    let state = StateStore::open(state_dir)?;
    state.recover()?;
    match state.request_stop(&args.execution, args.abandon, args.reason.as_deref())? {
        Ok(id) => {
            let how = if args.abandon {
                "stop and abandon"
            } else {
                "stop and wait"
            };
            println!("Stopping {id} ({how})");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            eprintln!("sandpipe: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}
