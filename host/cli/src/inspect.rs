//! `sandpipe validate` and `sandpipe graph`: look at a pipeline without running it.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use sandpipe_model::{GraphFormat, LoadError, Problem, render};

use crate::document::DocumentArgs;
use serde_json::json;

#[derive(Args)]
pub struct ValidateArgs {
    #[command(flatten)]
    document: DocumentArgs,
    /// Print the result as JSON, for machines.
    #[arg(long)]
    json: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Boxes and arrows for the terminal.
    Text,
    /// Mermaid flowchart (GitHub renders it in Markdown).
    Mermaid,
    /// Graphviz DOT.
    Dot,
}

#[derive(Args)]
pub struct GraphArgs {
    #[command(flatten)]
    document: DocumentArgs,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// A load failure as problems: where and what kind, as the service would say.
fn load_problems(error: LoadError) -> Vec<Problem> {
    let problem = |path: String, exception, message| Problem {
        path,
        exception,
        message,
    };
    match error {
        LoadError::Shape { path, message, .. } => {
            vec![problem(path, "ValidationException", message)]
        }
        LoadError::Syntax {
            line,
            column,
            message,
            format,
            ..
        } => vec![problem(
            "$".into(),
            "SerializationException",
            format!("invalid {format} at line {line}, column {column}: {message}"),
        )],
        LoadError::Read { error, .. } => vec![problem(
            "$".into(),
            "ValidationException",
            format!("cannot read: {error}"),
        )],
        LoadError::Template { problems, .. } => problems
            .into_iter()
            .map(|p| problem(p.path, "ValidationException", p.message))
            .collect(),
    }
}

pub fn validate_command(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let file = args.document.file_name();
    let (summary, problems) = match args.document.load() {
        Ok(loaded) => {
            let problems = loaded.problems();
            let pipeline = &loaded.pipeline;
            let summary = json!({
                "name": pipeline.name,
                "pipelineType": format!("{:?}", pipeline.pipeline_type.unwrap_or_default()),
                "stages": pipeline.stages.len(),
                "actions": pipeline.actions().count(),
            });
            (Some(summary), problems)
        }
        Err(error) => (None, load_problems(error)),
    };
    if args.json {
        let report = json!({
            "file": file,
            "valid": problems.is_empty(),
            "pipeline": summary,
            "problems": problems.iter().map(|p| json!({
                "path": p.path,
                "exception": p.exception,
                "message": p.message,
            })).collect::<Vec<_>>(),
        });
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else if problems.is_empty() {
        let summary = summary.expect("a pipeline without problems was loaded");
        println!(
            "{file}: valid: pipeline '{}' ({}, {} stages, {} actions)",
            summary["name"].as_str().unwrap_or_default(),
            summary["pipelineType"].as_str().unwrap_or_default(),
            summary["stages"],
            summary["actions"]
        );
    } else {
        for problem in &problems {
            println!("{file}: {problem}");
        }
        let count = problems.len();
        println!(
            "{file}: {count} problem{}",
            if count == 1 { "" } else { "s" }
        );
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn graph_command(args: GraphArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.document.load()?;
    let format = match args.format {
        Format::Text => GraphFormat::Text,
        Format::Mermaid => GraphFormat::Mermaid,
        Format::Dot => GraphFormat::Dot,
    };
    print!("{}", render(&loaded.pipeline, format));
    Ok(ExitCode::SUCCESS)
}
