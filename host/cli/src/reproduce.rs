//! `sandpipe replay`: run an execution again with exactly its recorded inputs, then say
//! whether every output artifact came out the same — and where not, which files differ.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use anyhow::Context;
use clap::Args;
use sandpipe_engine::ReplaySources;
use sandpipe_engine::reproduce::{
    ArtifactComparison, Detail, ExecutionDiff, ExportInputs, ValueChange, compare_artifacts,
    diff_executions, export_bundle, import_bundle, provenance,
};
use sandpipe_engine::{ExecutionRecord, ExecutionRequest, StateStore};
use sandpipe_model::text::Escaped;
use sandpipe_store::LocalS3;

use crate::flags::ProviderFlag;
use crate::ids::{self, Latest};
use crate::output_file::write_whole;
use crate::run::{RunnerArgs, Summary, declared_in, execute_then, file_of};
use crate::state_location::StateLocation;
use crate::terminal::{errln, outln};

#[derive(Args)]
pub struct ReplayArgs {
    /// The execution to replay: an id, a unique prefix of one, `latest` (the default), or a
    /// bundle `sandpipe export` wrote, replayed here from the artifacts it holds.
    execution: Option<String>,

    /// The pipeline file holding the secret configuration values that the stored
    /// declaration (and so a bundle) masks.
    #[arg(long, value_name = "FILE")]
    declared: Option<std::path::PathBuf>,

    /// Without an execution id, this pipeline's latest execution.
    #[arg(long)]
    pipeline: Option<String>,

    /// Run from this stage on; the stages before it are the original's (artifacts,
    /// variables), so only what this stage and the later ones make is compared anew.
    #[arg(long, value_name = "STAGE")]
    from_stage: Option<String>,

    /// Run even when a component (a plugin, a built-in after an upgrade) differs from the one
    /// that ran the original; the report then says what it compares.
    #[arg(long)]
    allow_changed_components: bool,

    /// Run deterministically even if the original did not (a deterministic original's replay
    /// always is).
    #[arg(long)]
    deterministic: bool,

    /// Print the comparison as JSON, for machines.
    #[arg(long)]
    json: bool,

    /// The region the execution runs in.
    #[arg(long, default_value = sandpipe_engine::DEFAULT_REGION, env = "AWS_REGION")]
    region: String,

    #[command(flatten)]
    runner: RunnerArgs,
}

pub fn replay(state: &StateLocation, mut args: ReplayArgs) -> anyhow::Result<ExitCode> {
    // A bundle is replayed in whatever state directory this is, a fresh one included.
    let bundle = args
        .execution
        .as_deref()
        .map(Path::new)
        .filter(|path| path.is_file())
        .map(Path::to_path_buf);
    // An execution id is letters, digits and hyphens: anything with a dot or a slash was
    // meant as a bundle's file.
    if let Some(given) = args.execution.as_deref()
        && bundle.is_none()
        && given.contains(['.', '/'])
    {
        anyhow::bail!(
            "{given}: no such bundle file{}",
            if Path::new(given).exists() {
                " (it is not a regular file)"
            } else {
                ""
            }
        );
    }
    let state_dir = match &bundle {
        Some(file) => {
            sandpipe_engine::reproduce::check_bundle_header(file)
                .with_context(|| format!("{}: refused", file.display()))?;
            state.for_writing()
        }
        None => state.existing()?,
    };
    let state_dir = state_dir.as_path();
    let store = StateStore::open(state_dir)?;
    let (original, file, sources) = match &bundle {
        Some(bundle) => {
            let s3 = LocalS3::open(&state_dir.join("s3"))?;
            let imported = import_bundle(&store, &s3, state_dir, bundle)?;
            if !imported.manifest.secrets_needed.is_empty() && args.declared.is_none() {
                anyhow::bail!(
                    "{}: the pipeline's secret configuration values are not in the bundle ({}); \
                     give the pipeline file that holds them with --declared FILE",
                    bundle.display(),
                    imported.manifest.secrets_needed.join(", ")
                );
            }
            let mut components = Vec::new();
            for (action_type, file) in &imported.components {
                components.push(ProviderFlag {
                    action_type: action_type.parse().map_err(anyhow::Error::msg)?,
                    file: file.clone(),
                });
            }
            args.runner.providers.add_providers(components);
            for file in &imported.set_aside {
                errln!(
                    "sandpipe: note: the bundle's policy is kept as {} and not applied; \
                     review it, and give it with --policy FILE to apply it",
                    file.display()
                );
            }
            let file = imported.pipeline_file.clone();
            (imported.record, Some(file), ReplaySources::Recorded)
        }
        None => {
            let original = ids::record(
                &store,
                state_dir,
                args.execution.as_deref(),
                args.pipeline.as_deref(),
                Latest::Any,
            )?;
            let file = file_of(&original.source_file, state_dir);
            (original, file, ReplaySources::Revisions)
        }
    };
    drop(store);
    let files = args.runner.pipeline_files(file.as_deref())?;
    if let Some(loaded) = file
        .as_deref()
        .and_then(|file| sandpipe_model::load_file(file).ok())
    {
        let providers = args
            .runner
            .providers
            .registry(Some(state_dir), file.as_deref())?;
        crate::plan::say_what_runs_on_this_machine(
            &loaded,
            &providers,
            &files,
            &sandpipe_engine::Start::default(),
            args.runner.builds_on_host(),
        );
    }
    let request = ExecutionRequest::replay(
        &original.pipeline_execution_id,
        args.from_stage.as_deref(),
        args.allow_changed_components,
    )
    .with_replay_sources(sources)
    .with_files(files)
    .in_region(&args.region)
    .deterministic(args.deterministic);
    let declared = args.declared.as_deref().or(file.as_deref());
    let request = declared_in(request, declared);
    let json = args.json;
    let summary = if json {
        Summary::Omitted
    } else {
        Summary::Table
    };
    execute_then(
        state_dir,
        &args.runner,
        file.as_deref(),
        request,
        summary,
        |replayed| {
            let s3 = LocalS3::open(&state_dir.join("s3"))?;
            let comparisons = compare_artifacts(&s3, &original, replayed, Detail::Files)?;
            report(&original, replayed, &comparisons, json)
        },
    )
}

/// Print how the replay's artifacts compare with the original's; true when all are the same.
fn report(
    original: &ExecutionRecord,
    replayed: &ExecutionRecord,
    comparisons: &[ArtifactComparison],
    json: bool,
) -> anyhow::Result<bool> {
    let differing: Vec<&ArtifactComparison> = comparisons.iter().filter(|c| !c.same()).collect();
    if json {
        let report = serde_json::json!({
            "original": original.pipeline_execution_id,
            "replay": replayed.pipeline_execution_id,
            "replayStatus": replayed.status,
            "identical": differing.is_empty(),
            "artifacts": comparisons,
        });
        outln!("{}", serde_json::to_string_pretty(&report)?);
        return Ok(differing.is_empty());
    }
    let same = comparisons.len() - differing.len();
    outln!(
        "replay {} of {}: {same} artifact{} identical, {} differ{}",
        replayed.pipeline_execution_id,
        original.pipeline_execution_id,
        if same == 1 { "" } else { "s" },
        differing.len(),
        if differing.len() == 1 { "s" } else { "" }
    );
    for comparison in differing.iter().copied() {
        print_artifact(comparison)?;
    }
    Ok(differing.is_empty())
}

/// An artifact that differs: its digests, then each file that differs (and its diff).
fn print_artifact(comparison: &ArtifactComparison) -> anyhow::Result<()> {
    let short = |digest: &Option<String>| match digest {
        Some(digest) => digest[..12.min(digest.len())].to_string(),
        None => "(not made)".to_string(),
    };
    outln!(
        "  {}/{} → {}: {} → {}",
        Escaped(&comparison.stage),
        Escaped(&comparison.action),
        Escaped(&comparison.artifact),
        short(&comparison.before),
        short(&comparison.after)
    );
    if comparison.files.is_empty() && comparison.before.is_some() && comparison.after.is_some() {
        outln!(
            "    (the same files with the same bytes; the archive itself differs: entry times, \
             order or compression)"
        );
    }
    for file in &comparison.files {
        let change = serde_json::to_value(file.change)?;
        outln!(
            "    {:<8} {}{}",
            change.as_str().unwrap_or_default(),
            Escaped(&file.path),
            file.detail
                .as_ref()
                .map(|d| format!("  ({d})"))
                .unwrap_or_default()
        );
        if let Some(diff) = &file.diff {
            for line in diff.lines() {
                outln!("      {}", Escaped(line));
            }
        }
    }
    Ok(())
}

#[derive(Args)]
pub struct DiffArgs {
    /// The first execution: an id or a unique prefix of one.
    before: String,
    /// The second execution.
    after: String,
    /// Print the differences as JSON, for machines.
    #[arg(long)]
    json: bool,
}

/// `diff`: what differs between two executions; exit 1 when anything does, as diff(1).
pub fn diff(state_dir: &Path, args: DiffArgs) -> anyhow::Result<ExitCode> {
    let state = StateStore::open(state_dir)?;
    let before = state.executions().get(&args.before)?;
    let after = state.executions().get(&args.after)?;
    let s3 = LocalS3::open(&state_dir.join("s3"))?;
    let diff = diff_executions(&state, &s3, &before, &after)?;
    if args.json {
        outln!("{}", serde_json::to_string_pretty(&diff)?);
    } else {
        print_diff(&diff)?;
    }
    Ok(if diff.is_empty() {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    })
}

/// Longest JSON value a declaration change prints.
const VALUE_CHARS: usize = 200;

fn print_diff(diff: &ExecutionDiff) -> anyhow::Result<()> {
    let [(a_name, a_version), (b_name, b_version)] = &diff.pipelines;
    outln!(
        "--- {} ({} version {a_version})",
        diff.before,
        Escaped(a_name)
    );
    outln!(
        "+++ {} ({} version {b_version})",
        diff.after,
        Escaped(b_name)
    );
    if diff.is_empty() {
        outln!("no differences");
        return Ok(());
    }
    if !diff.declaration.is_empty() {
        outln!("declaration:");
        let shown = |value: &Option<serde_json::Value>| {
            value
                .as_ref()
                .map(|v| sandpipe_model::text::clip(&v.to_string(), VALUE_CHARS).to_string())
        };
        for change in &diff.declaration {
            let line = match (shown(&change.before), shown(&change.after)) {
                (None, Some(after)) => format!("  + {}: {after}", change.path),
                (Some(before), None) => format!("  - {}: {before}", change.path),
                (before, after) => format!(
                    "  ~ {}: {} → {}",
                    change.path,
                    before.unwrap_or_default(),
                    after.unwrap_or_default()
                ),
            };
            outln!("{}", Escaped(&line));
        }
    }
    for (title, changes) in [
        ("variables", &diff.variables),
        ("source revisions", &diff.source_revisions),
        ("statuses", &diff.statuses),
        ("configuration", &diff.configuration),
        ("components", &diff.components),
    ] {
        print_values(title, changes);
    }
    if !diff.artifacts.is_empty() {
        outln!("artifacts:");
        for comparison in &diff.artifacts {
            print_artifact(comparison)?;
        }
    }
    Ok(())
}

fn print_values(title: &str, changes: &[ValueChange]) {
    if changes.is_empty() {
        return;
    }
    outln!("{title}:");
    let value = |v: &Option<String>| v.as_deref().unwrap_or("(none)").to_string();
    for change in changes {
        outln!(
            "  {}: {} → {}",
            Escaped(&change.name),
            Escaped(&sandpipe_model::text::clip(
                &value(&change.before),
                VALUE_CHARS
            )),
            Escaped(&sandpipe_model::text::clip(
                &value(&change.after),
                VALUE_CHARS
            ))
        );
    }
}

#[derive(Args)]
pub struct ProvenanceArgs {
    /// The execution: an id, a unique prefix of one, or `latest` (the default).
    execution: Option<String>,
    /// Without an execution id, this pipeline's latest execution.
    #[arg(long)]
    pipeline: Option<String>,
    /// Write the statement to this file instead of standard output (whole or not at all; a
    /// device or named pipe is written into, never replaced).
    #[arg(short, long, value_name = "FILE")]
    output: Option<std::path::PathBuf>,
}

/// The state, and the record of the execution `execution` names (or the latest, of
/// `pipeline` when given): what `provenance` and `export` start from.
fn chosen(
    state_dir: &Path,
    execution: &Option<String>,
    pipeline: &Option<String>,
) -> anyhow::Result<(StateStore, sandpipe_state::ExecutionRecord)> {
    let state = StateStore::open(state_dir)?;
    let record = ids::record(
        &state,
        state_dir,
        execution.as_deref(),
        pipeline.as_deref(),
        Latest::Any,
    )?;
    Ok((state, record))
}

/// `provenance`: the execution's in-toto Statement (SLSA Provenance v1 predicate).
pub fn provenance_command(state_dir: &Path, args: ProvenanceArgs) -> anyhow::Result<ExitCode> {
    let (state, record) = chosen(state_dir, &args.execution, &args.pipeline)?;
    let declaration = state
        .executions()
        .declaration(&record.pipeline_name, record.pipeline_version)?;
    let statement = provenance(&record, &declaration)?;
    let text = serde_json::to_string_pretty(&statement)? + "\n";
    match &args.output {
        Some(file) => drop(write_whole(
            file,
            |out| Ok(out.write_all(text.as_bytes())?),
        )?),
        None => crate::terminal::out!("{text}"),
    }
    Ok(ExitCode::SUCCESS)
}

#[derive(Args)]
pub struct ExportArgs {
    /// The execution: an id, a unique prefix of one, or `latest` (the default).
    execution: Option<String>,
    /// Without an execution id, this pipeline's latest execution.
    #[arg(long)]
    pipeline: Option<String>,
    /// The bundle to write (a zstd-compressed tar, `.tar.zst` by convention); `-` writes it
    /// to standard output, and a device or named pipe is written into, never replaced.
    #[arg(short, long, value_name = "FILE")]
    output: std::path::PathBuf,
    #[command(flatten)]
    providers: crate::providers::ProviderArgs,
}

/// Files beside a pipeline that a run reads by default, and so a replay needs: by their
/// path relative to the pipeline's directory. Also what cannot go in, and why.
fn pipeline_files(pipeline_file: &Path) -> (BTreeMap<String, PathBuf>, Vec<String>) {
    use sandpipe_model::{doubles, functions, local_settings, plugin_policy};
    let dir = pipeline_file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut found = BTreeMap::new();
    let mut left_out = Vec::new();
    let names = [
        "codebuild-projects.json",
        "codebuild-projects.yaml",
        "codebuild-projects.yml",
    ]
    .into_iter()
    .chain(doubles::DOUBLES_FILE_NAMES.iter().copied())
    .chain(functions::FUNCTIONS_FILE_NAMES.iter().copied())
    .chain(plugin_policy::POLICY_FILE_NAMES.iter().copied())
    .chain(local_settings::SETTINGS_FILE_NAMES.iter().copied());
    for name in names {
        let file = dir.join(name);
        if file.is_file() {
            found.insert(name.to_string(), file);
        }
    }
    add_tree(dir, &dir.join("codebuild"), &mut found);
    // Lambda handlers' code, when it lives below the pipeline's directory.
    let functions_file = functions::FUNCTIONS_FILE_NAMES
        .iter()
        .map(|name| dir.join(name))
        .find(|file| file.is_file());
    if let Some(Ok(declared)) = functions_file.map(|file| functions::Functions::read(&file)) {
        for (name, function) in declared.iter() {
            let inside = function.code.strip_prefix(dir).is_ok_and(|relative| {
                relative.components().all(|c| {
                    matches!(
                        c,
                        std::path::Component::Normal(_) | std::path::Component::CurDir
                    )
                })
            });
            if inside {
                add_tree(dir, &function.code, &mut found);
            } else {
                left_out.push(format!(
                    "function {name}'s code {} (outside {})",
                    function.code.display(),
                    dir.display()
                ));
            }
        }
    }
    (found, left_out)
}

/// `path` (a file, or every plain file below a directory, links left out) by its path
/// relative to `dir`.
fn add_tree(dir: &Path, path: &Path, found: &mut BTreeMap<String, PathBuf>) {
    let Ok(kind) = std::fs::symlink_metadata(path).map(|m| m.file_type()) else {
        return;
    };
    if kind.is_file() {
        if let Ok(relative) = path.strip_prefix(dir) {
            let name = relative
                .components()
                .filter(|c| matches!(c, std::path::Component::Normal(_)))
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            found.insert(name, path.to_path_buf());
        }
    } else if kind.is_dir()
        && let Ok(entries) = std::fs::read_dir(path)
    {
        for entry in entries.flatten() {
            add_tree(dir, &entry.path(), found);
        }
    }
}

/// `export`: everything needed to replay an execution elsewhere, in one file.
pub fn export(state_dir: &Path, args: ExportArgs) -> anyhow::Result<ExitCode> {
    let (state, record) = chosen(state_dir, &args.execution, &args.pipeline)?;
    let mut inputs = ExportInputs::default();
    let file = file_of(&record.source_file, state_dir);
    let mut left_out = Vec::new();
    if let Some(file) = &file {
        (inputs.pipeline_files, left_out) = pipeline_files(file);
    }
    // The components that are not built in, when the file serving the type is still the
    // one that ran.
    let registry = args.providers.registry(Some(state_dir), file.as_deref())?;
    for stage in &record.stages {
        for action in &stage.actions {
            let (Some(digest), Ok(action_type)) = (
                &action.component_digest,
                action.action_type.parse::<sandpipe_model::ActionTypeId>(),
            ) else {
                continue;
            };
            let Some(path) = registry.origin(&action_type).and_then(|o| o.path()) else {
                continue;
            };
            let bytes =
                std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
            if hex::encode(sandpipe_runtime::component_file::code_digest(&bytes)) != *digest {
                anyhow::bail!(
                    "{} serves {action_type} now, but another component ran {}/{} in execution \
                     {}; give the one that ran with --provider {action_type}=FILE",
                    path.display(),
                    stage.name,
                    action.name,
                    record.pipeline_execution_id
                );
            }
            inputs
                .components
                .insert(action_type.to_string(), path.to_path_buf());
        }
    }
    let s3 = LocalS3::open(&state_dir.join("s3"))?;
    let (manifest, size) = write_whole(&args.output, |out| {
        export_bundle(&state, &s3, &record.pipeline_execution_id, &inputs, out)
    })?;
    // With the bundle on standard output, what is said goes to standard error.
    let say = |line: String| match crate::output_file::is_stdout(&args.output) {
        true => errln!("{line}"),
        false => outln!("{line}"),
    };
    say(format!(
        "exported execution {} ({} version {}) to {}: {} entries, {size} bytes",
        manifest.execution,
        Escaped(&manifest.pipeline),
        manifest.pipeline_version,
        args.output.display(),
        manifest.entries.len() + 1
    ));
    for what in &left_out {
        say(format!("not in the bundle: {}", Escaped(what)));
    }
    if !manifest.secrets_needed.is_empty() {
        say(format!(
            "not in the bundle (secret): {}; a replay needs the pipeline file holding them \
             (--declared FILE)",
            manifest.secrets_needed.join(", ")
        ));
    }
    Ok(ExitCode::SUCCESS)
}
