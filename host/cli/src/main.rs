//! `sandpipe`: run AWS CodePipeline pipelines on your own machine, every action provider a
//! sandboxed WebAssembly component.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};
use state_location::StateLocation;

mod action;
mod control;
mod document;
mod endpoint;
mod flags;
mod history;
mod ids;
mod inspect;
mod interrupt;
mod local_actions;
mod output_file;
mod plan;
mod progress;
mod providers;
mod reproduce;
mod run;
mod runner_args;
mod s3;
mod s3_sync;
mod serve;
mod stacks;
mod state_location;
mod terminal;
mod watch;

#[derive(Parser)]
#[command(name = "sandpipe", version, about, long_about = None)]
struct Cli {
    /// Where sandpipe keeps its state: the S3 emulation, execution records and logs. By
    /// default the nearest .sandpipe in this directory or above it, else
    /// $SANDPIPE_STATE_DIR; the first run creates ./.sandpipe.
    #[arg(long, global = true, value_name = "DIR")]
    state_dir: Option<PathBuf>,

    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a pipeline: create-pipeline --cli-input-json input, get-pipeline output, a bare
    /// declaration or a CloudFormation template, in JSON or YAML.
    Run(run::RunArgs),
    /// Check a pipeline declaration against CodePipeline's rules and limits; exit 1 on any
    /// problem, each reported with its JSON path and CodePipeline exception.
    Validate(inspect::ValidateArgs),
    /// Draw a pipeline: stages, runOrder groups and artifact flow (text, Mermaid, DOT or SVG).
    Graph(inspect::GraphArgs),
    /// Approve the manual approval waiting in a pipeline's stage and action.
    Approve(control::DecisionArgs),
    /// Reject the manual approval waiting in a pipeline's stage and action.
    Reject(control::DecisionArgs),
    /// Watch the pipeline's sources: start an execution when a mapped branch gets a new
    /// commit (or, with V2 triggers, a push passes their filters) or a source object gets a
    /// new version.
    Watch(watch::WatchArgs),
    /// Decide one git event (a push, a pull request) against the pipeline's triggers, and
    /// start the execution it would start.
    Trigger(watch::TriggerArgs),
    /// Run the failed stage of a failed execution again (its failed actions, or all), then
    /// the stages after it, with the same source revisions and artifacts.
    Retry(run::RetryArgs),
    /// Run an execution again with exactly its recorded inputs — pipeline version,
    /// variables, source revisions, components — and compare every output artifact with the
    /// original's; exit 1 naming each artifact and file that differs.
    Replay(reproduce::ReplayArgs),
    /// What differs between two executions: pipeline version (the declarations' changes),
    /// variables, source revisions, statuses, resolved configuration, components and
    /// artifacts down to their files; exit 1 when anything does.
    Diff(reproduce::DiffArgs),
    /// Write everything needed to replay an execution elsewhere into one deterministic
    /// bundle: the declaration version, the record, its artifacts, components that are not
    /// built in and the files beside the pipeline (secrets never).
    Export(reproduce::ExportArgs),
    /// An execution's provenance: an in-toto Statement with a SLSA Provenance v1 predicate
    /// (subjects the output artifacts by SHA-256; the pipeline version, variables, source
    /// revisions and components that made them).
    Provenance(reproduce::ProvenanceArgs),
    /// Roll a stage back: a new ROLLBACK execution runs the stage again with the artifacts of
    /// an execution that succeeded in it.
    Rollback(run::RollbackArgs),
    /// Stop an execution: running actions finish (or, with --abandon, are abandoned at once)
    /// and nothing new starts.
    Stop(control::StopArgs),
    /// Disable a stage's inbound transition: executions wait before the stage until enabled.
    DisableTransition(control::TransitionArgs),
    /// Enable a stage's inbound transition again.
    EnableTransition(control::TransitionArgs),
    /// Executions of pipelines: list them, or show one in full.
    Executions {
        #[command(subcommand)]
        command: history::ExecutionsCommand,
    },
    /// The logs of an execution's actions.
    Logs(history::LogsArgs),
    /// S3 high-level commands on the embedded store (like `aws s3`).
    S3 {
        #[command(subcommand)]
        command: s3::S3Command,
    },
    /// S3 API calls on the embedded store (like `aws s3api`).
    S3api {
        #[command(subcommand)]
        command: s3::S3ApiCommand,
    },
    /// Serve an AWS endpoint — CodePipeline, S3, IAM and STS on one port — for the aws CLI,
    /// awslocal, boto3 and the SDKs, over this state directory.
    Serve(serve::ServeArgs),
    /// `serve`, opening the web console in a browser: pipelines, executions, live logs,
    /// approvals, retries and transitions.
    Console(serve::ConsoleArgs),
    /// The local CloudFormation stacks deploy actions planned: list them, or show one.
    Stacks {
        #[command(subcommand)]
        command: stacks::StacksCommand,
    },
    /// Action plugins: create one in Rust, Python or JavaScript, build it, install it, list
    /// and inspect them.
    Action {
        #[command(subcommand)]
        command: action::ActionCommand,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let state = StateLocation::new(cli.state_dir);
    let result = dispatch(&state, cli.command);
    match result {
        Ok(code) => code,
        Err(error) => {
            // An error's chain can quote what an action or an artifact wrote.
            let message = format!("{error:#}");
            terminal::errln!(
                "sandpipe: {}",
                sandpipe_model::text::escape_controls_keep_lines(&message)
            );
            ExitCode::FAILURE
        }
    }
}

/// Run one command with the state directory it needs: commands that start or change things
/// create one when none is found; commands that only read need one to exist.
fn dispatch(state: &StateLocation, command: Command) -> anyhow::Result<ExitCode> {
    match command {
        // A dry run, like validate, reads the state when there is one and never makes one.
        Command::Run(args) if args.dry_run => run::dry_run(state.optional().as_deref(), args),
        Command::Run(args) => run::run(state, args),
        Command::Validate(args) => inspect::validate_command(state.optional().as_deref(), args),
        Command::Graph(args) => inspect::graph_command(state.optional().as_deref(), args),
        Command::Approve(args) => control::decide(&state.existing()?, args, true),
        Command::Reject(args) => control::decide(&state.existing()?, args, false),
        Command::Retry(args) => run::retry(&state.existing()?, args),
        Command::Watch(args) => watch::watch(&state.for_writing(), args),
        Command::Trigger(args) => watch::trigger(&state.for_writing(), args),
        Command::Rollback(args) => run::rollback(&state.existing()?, args),
        Command::Replay(args) => reproduce::replay(state, args),
        Command::Export(args) => reproduce::export(&state.existing()?, args),
        Command::Diff(args) => reproduce::diff(&state.existing()?, args),
        Command::Provenance(args) => reproduce::provenance_command(&state.existing()?, args),
        Command::DisableTransition(args) => control::transition(&state.for_writing(), args, false),
        Command::EnableTransition(args) => control::transition(&state.for_writing(), args, true),
        Command::Stop(args) => control::stop(&state.existing()?, args),
        Command::Executions { command } => history::executions(&state.existing()?, command),
        Command::Logs(args) => history::logs(&state.existing()?, args),
        Command::Serve(args) => serve::serve(&state.for_writing(), args),
        Command::Console(args) => serve::console(&state.for_writing(), args),
        Command::Action { command } => action::action(state, command),
        Command::Stacks { command } => stacks::stacks(&state.existing()?, command),
        Command::S3 { command } => {
            // Making a bucket or copying into one is how a fresh project starts.
            let writes = match &command {
                s3::S3Command::Mb { .. } => true,
                s3::S3Command::Cp { destination, .. } => destination.starts_with("s3://"),
                s3::S3Command::Sync(args) => args.writes_to_s3(),
                _ => false,
            };
            let dir = if writes {
                state.for_writing()
            } else {
                state.existing()?
            };
            s3::s3(&dir, command)
        }
        Command::S3api { command } => {
            let writes = matches!(command, s3::S3ApiCommand::PutBucketVersioning { .. });
            let dir = if writes {
                state.for_writing()
            } else {
                state.existing()?
            };
            s3::s3api(&dir, command)
        }
    }
}
