//! `sandpipe validate` and `sandpipe graph`: look at a pipeline without running it.

use std::process::ExitCode;

use clap::{Args, ValueEnum};
use std::path::Path;

use sandpipe_model::text::escape_controls_keep_lines;
use sandpipe_model::{Finding, GraphFormat, LoadError, LoadedPipeline, Notes, render_with};

use crate::plan::{RunsAs, runs_as};
use crate::run::StartArgs;
use crate::terminal::{out, outln};
use serde_json::json;

#[derive(Args)]
pub struct ValidateArgs {
    /// The pipeline, and everything `run` takes: validate checks what that run would run.
    #[command(flatten)]
    start: StartArgs,
    /// Print the result as JSON, for machines.
    #[arg(long)]
    json: bool,
    /// Check only the declaration against CodePipeline's rules and limits (what
    /// create-pipeline would accept), not whether it can run here.
    #[arg(long)]
    declaration_only: bool,
}

#[derive(Clone, Copy, ValueEnum)]
enum Format {
    /// Boxes and arrows for the terminal.
    Text,
    /// Mermaid flowchart (GitHub renders it in Markdown).
    Mermaid,
    /// Graphviz DOT.
    Dot,
    /// A standalone SVG picture (light and dark), the one the web console shows.
    Svg,
}

#[derive(Args)]
pub struct GraphArgs {
    /// The pipeline, and everything `run` takes: each action is marked with how that run
    /// would run it.
    #[command(flatten)]
    start: StartArgs,
    /// How to draw it.
    #[arg(long, value_enum, default_value = "text")]
    format: Format,
}

/// The declaration's problems and everything else a run would be refused for — providers,
/// project files, buildspecs, repositories, buckets, secrets, variables — all at once.
pub fn validate_command(state_dir: Option<&Path>, args: ValidateArgs) -> anyhow::Result<ExitCode> {
    let document = &args.start.document;
    let file = document.file_name();
    let mut how = Vec::new();
    let (summary, problems) = match document.load() {
        // A file that is not there is not a pipeline with problems.
        Err(LoadError::Read { file, error }) => anyhow::bail!("{file}: cannot read it: {error}"),
        Err(error) => (None, error.findings()),
        Ok(loaded) => {
            if !args.declaration_only {
                for (s, a, runs) in runs_here(&args.start, state_dir, &loaded)? {
                    let stage = &loaded.pipeline.stages[s];
                    how.push(json!({
                        "stage": stage.name,
                        "action": stage.actions[a].name,
                        "actionType": stage.actions[a].action_type_id.to_string(),
                        "runsAs": runs.name(),
                    }));
                }
            }
            let problems = if args.declaration_only {
                let problems = loaded.problems().into_iter();
                problems
                    .map(|problem| Finding {
                        file: file.clone(),
                        problem,
                    })
                    .collect()
            } else {
                args.start.check(state_dir, &loaded)?.findings
            };
            let pipeline = &loaded.pipeline;
            let summary = json!({
                "name": pipeline.name,
                "pipelineType": format!("{:?}", pipeline.pipeline_type.unwrap_or_default()),
                "stages": pipeline.stages.len(),
                "actions": pipeline.actions().count(),
            });
            (Some(summary), problems)
        }
    };
    if args.json {
        let report = json!({
            "file": file,
            "valid": problems.is_empty(),
            "pipeline": summary,
            "problems": problems.iter().map(|f| json!({
                "file": f.file,
                "path": f.problem.path,
                "exception": f.problem.exception,
                "message": f.problem.message,
            })).collect::<Vec<_>>(),
            "actions": how,
        });
        outln!("{}", serde_json::to_string_pretty(&report)?);
    } else if problems.is_empty() {
        let summary = summary.expect("a pipeline without problems was loaded");
        outln!(
            "{file}: valid: pipeline '{}' ({}, {} stages, {} actions)",
            summary["name"].as_str().unwrap_or_default(),
            summary["pipelineType"].as_str().unwrap_or_default(),
            summary["stages"],
            summary["actions"]
        );
        // What would not run for real, said before anyone finds out in the run.
        for (kind, said) in [("plan", "planned locally"), ("double", "run as doubles")] {
            let named: Vec<&str> = how
                .iter()
                .filter(|h| h["runsAs"] == kind)
                .filter_map(|h| h["action"].as_str())
                .collect();
            if !named.is_empty() {
                outln!("  {said}: {}", named.join(", "));
            }
        }
    } else {
        for finding in &problems {
            outln!("{}", escape_controls_keep_lines(&finding.to_string()));
        }
        outln!("{file}: {}", crate::run::problem_count(problems.len()));
    }
    Ok(if problems.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

pub fn graph_command(state_dir: Option<&Path>, args: GraphArgs) -> anyhow::Result<ExitCode> {
    let loaded = args.start.document.load()?;
    let format = match args.format {
        Format::Text => GraphFormat::Text,
        Format::Mermaid => GraphFormat::Mermaid,
        Format::Dot => GraphFormat::Dot,
        Format::Svg => GraphFormat::Svg,
    };
    let notes: Notes = runs_here(&args.start, state_dir, &loaded)?
        .into_iter()
        .filter_map(|(s, a, runs)| {
            let note = match runs {
                RunsAs::Real | RunsAs::Approval => return None,
                RunsAs::Plan => "planned locally",
                RunsAs::Double => "double",
                RunsAs::Refused => "no provider",
            };
            Some(((s, a), note.to_string()))
        })
        .collect();
    out!("{}", render_with(&loaded.pipeline, format, &notes));
    Ok(ExitCode::SUCCESS)
}

/// How each action of `loaded` would run in the run `start` describes.
fn runs_here(
    start: &StartArgs,
    state_dir: Option<&Path>,
    loaded: &LoadedPipeline,
) -> anyhow::Result<Vec<(usize, usize, RunsAs)>> {
    let file = &start.document.file;
    let files = start.runner.pipeline_files(Some(file))?;
    let providers = start.runner.providers.registry(state_dir, Some(file))?;
    let mut found = Vec::new();
    for (s, stage) in loaded.pipeline.stages.iter().enumerate() {
        for (a, action) in stage.actions.iter().enumerate() {
            found.push((s, a, runs_as(action, stage, &providers, &files)));
        }
    }
    Ok(found)
}
