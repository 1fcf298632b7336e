//! `sandpipe`: run AWS CodePipeline pipelines on your own machine, every action provider a
//! sandboxed WebAssembly component.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

mod control;
mod document;
mod flags;
mod history;
mod inspect;
mod progress;
mod run;
mod s3;
mod watch;

#[derive(Parser)]
#[command(name = "sandpipe", version, about, long_about = None)]
struct Cli {
    /// Where sandpipe keeps its state: the S3 emulation, execution records and logs.
    #[arg(
        long,
        global = true,
        default_value = ".sandpipe",
        env = "SANDPIPE_STATE_DIR"
    )]
    state_dir: PathBuf,

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
    /// Draw a pipeline: stages, runOrder groups and artifact flow (text, Mermaid or DOT).
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
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Run(args) => run::run(&cli.state_dir, args),
        Command::Validate(args) => inspect::validate_command(args),
        Command::Graph(args) => inspect::graph_command(args),
        Command::Approve(args) => control::decide(&cli.state_dir, args, true),
        Command::Reject(args) => control::decide(&cli.state_dir, args, false),
        Command::Retry(args) => run::retry(&cli.state_dir, args),
        Command::Watch(args) => watch::watch(&cli.state_dir, args),
        Command::Trigger(args) => watch::trigger(&cli.state_dir, args),
        Command::Rollback(args) => run::rollback(&cli.state_dir, args),
        Command::DisableTransition(args) => control::transition(&cli.state_dir, args, false),
        Command::EnableTransition(args) => control::transition(&cli.state_dir, args, true),
        Command::Stop(args) => control::stop(&cli.state_dir, args),
        Command::Executions { command } => history::executions(&cli.state_dir, command),
        Command::Logs(args) => history::logs(&cli.state_dir, args),
        Command::S3 { command } => s3::s3(&cli.state_dir, command),
        Command::S3api { command } => s3::s3api(&cli.state_dir, command),
    };
    match result {
        Ok(code) => code,
        Err(error) => {
            // An error's chain can quote what an action or an artifact wrote.
            let message = format!("{error:#}");
            eprintln!(
                "sandpipe: {}",
                sandpipe_model::text::escape_controls_keep_lines(&message)
            );
            ExitCode::FAILURE
        }
    }
}
