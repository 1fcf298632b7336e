//! `sandpipe validate` and `sandpipe graph`: look at a pipeline without running it.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, ValueEnum};
use sandpipe_model::{GraphFormat, LoadError, Problem, load_file, render, validate};
use serde_json::json;

#[derive(Args)]
pub struct ValidateArgs {
    /// The pipeline file (.json, .yaml or .yml).
    file: PathBuf,
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
    /// The pipeline file (.json, .yaml or .yml).
    file: PathBuf,
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// A load failure as a problem: where it is and what kind, as the service would say.
fn load_problem(error: &LoadError) -> Problem {
    match error {
        LoadError::Shape { path, message, .. } => Problem {
            path: path.clone(),
            exception: "ValidationException",
            message: message.clone(),
        },
        LoadError::Syntax {
            line,
            column,
            message,
            format,
            ..
        } => Problem {
            path: "$".into(),
            exception: "SerializationException",
            message: format!("invalid {format} at line {line}, column {column}: {message}"),
        },
        LoadError::Read { error, .. } => Problem {
            path: "$".into(),
            exception: "ValidationException",
            message: format!("cannot read: {error}"),
        },
    }
}

pub fn validate_command(args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let file = args.file.display().to_string();
    let (summary, problems) = match load_file(&args.file) {
        Ok(loaded) => {
            let problems = validate(&loaded.pipeline, loaded.root);
            let pipeline = &loaded.pipeline;
            let summary = json!({
                "name": pipeline.name,
                "pipelineType": format!("{:?}", pipeline.pipeline_type.unwrap_or_default()),
                "stages": pipeline.stages.len(),
                "actions": pipeline.actions().count(),
            });
            (Some(summary), problems)
        }
        Err(error) => (None, vec![load_problem(&error)]),
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
    let loaded = load_file(&args.file)?;
    let format = match args.format {
        Format::Text => GraphFormat::Text,
        Format::Mermaid => GraphFormat::Mermaid,
        Format::Dot => GraphFormat::Dot,
    };
    print!("{}", render(&loaded.pipeline, format));
    Ok(ExitCode::SUCCESS)
}
