//! Controlling running executions from any terminal: `sandpipe approve|reject`
//! (PutApprovalResult) and `sandpipe stop` (StopPipelineExecution).

use std::path::Path;
use std::process::ExitCode;

use clap::Args;
use sandpipe_state::{StateStore, StopMode};

use crate::ids::{self, Latest};

use crate::terminal::{errln, outln};

#[derive(Args)]
pub struct DecisionArgs {
    /// The pipeline whose approval it is.
    pipeline: String,
    /// The stage the approval action is in.
    stage: String,
    /// The approval action.
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
    sandpipe_engine::recover(&state)?;
    let place = (
        args.pipeline.as_str(),
        args.stage.as_str(),
        args.action.as_str(),
    );
    match state
        .approvals()
        .decide(place, args.token.as_deref(), approve, &args.summary)?
    {
        Ok(token) => {
            outln!(
                "{} {}/{}/{} (token {token})",
                if approve { "Approved" } else { "Rejected" },
                args.pipeline,
                args.stage,
                args.action
            );
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            errln!("sandpipe: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[derive(Args)]
pub struct StopArgs {
    /// An execution id, a unique prefix of one, or `latest`: by default the execution
    /// running (when one is).
    execution: Option<String>,
    /// Without an execution id, the execution of this pipeline that is running.
    #[arg(long)]
    pipeline: Option<String>,
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
    sandpipe_engine::recover(&state)?;
    let mode = if args.abandon {
        StopMode::Abandon
    } else {
        StopMode::Stop
    };
    // Abandoning is the one thing left to ask of an execution already stopping.
    let running = Latest::Running {
        stopping_too: args.abandon,
    };
    let chosen = ids::execution(
        &state,
        state_dir,
        args.execution.as_deref(),
        args.pipeline.as_deref(),
        running,
    )?;
    match state
        .control()
        .request_stop(&chosen.id, mode, args.reason.as_deref())?
    {
        Ok(id) => {
            let how = if args.abandon {
                "stop and abandon"
            } else {
                "stop and wait"
            };
            outln!("Stopping {id} ({how})");
            Ok(ExitCode::SUCCESS)
        }
        Err(error) => {
            errln!("sandpipe: {error}");
            Ok(ExitCode::FAILURE)
        }
    }
}

#[derive(Args)]
pub struct TransitionArgs {
    /// The pipeline.
    pipeline: String,
    /// The stage whose inbound transition changes.
    stage: String,
    /// Why (1-300 of letters, digits, spaces and !@().*?-); required to disable.
    #[arg(long)]
    reason: Option<String>,
}

/// DisableStageTransition / EnableStageTransition for a stage's inbound transition.
pub fn transition(
    state_dir: &Path,
    args: TransitionArgs,
    enable: bool,
) -> anyhow::Result<ExitCode> {
    let state = StateStore::open(state_dir)?;
    let Some(version) = state.executions().pipeline_version(&args.pipeline)? else {
        errln!(
            "sandpipe: PipelineNotFoundException: no pipeline '{}' has run here",
            args.pipeline
        );
        return Ok(ExitCode::FAILURE);
    };
    let declaration: serde_json::Value =
        serde_json::from_str(&state.executions().declaration(&args.pipeline, version)?)?;
    let known = declaration["stages"]
        .as_array()
        .is_some_and(|stages| stages.iter().any(|s| s["name"] == args.stage.as_str()));
    if !known {
        errln!(
            "sandpipe: StageNotFoundException: pipeline '{}' has no stage '{}'",
            args.pipeline,
            args.stage
        );
        return Ok(ExitCode::FAILURE);
    }
    if enable {
        state
            .stage_gate()
            .enable_transition(&args.pipeline, &args.stage)?;
        outln!(
            "Enabled the inbound transition of {}/{}",
            args.pipeline,
            args.stage
        );
        return Ok(ExitCode::SUCCESS);
    }
    let reason = args.reason.unwrap_or_default();
    let allowed = |c: char| c.is_ascii_alphanumeric() || " !@().*?-".contains(c);
    if reason.is_empty() || reason.chars().count() > 300 || !reason.chars().all(allowed) {
        errln!(
            "sandpipe: ValidationException: --reason must be 1 to 300 of letters, digits, spaces and !@().*?-"
        );
        return Ok(ExitCode::FAILURE);
    }
    state
        .stage_gate()
        .disable_transition(&args.pipeline, &args.stage, &reason)?;
    outln!(
        "Disabled the inbound transition of {}/{}: {reason}",
        args.pipeline,
        args.stage
    );
    Ok(ExitCode::SUCCESS)
}
