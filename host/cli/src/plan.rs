//! `run --dry-run`: what a run would do, stage by stage — each runOrder group's actions, how
//! each runs (in the wasm sandbox, with build commands on this machine or in a container,
//! as the host's approval, from a working tree), and the stages a partial run leaves out.

use sandpipe_engine::{PreflightReport, ProviderRegistry, Start};
use sandpipe_model::text::Escaped;
use sandpipe_model::{ActionDeclaration, LoadedPipeline, plan};
use sandpipe_runtime::{EXEC, GIT};

use crate::run::StartArgs;
use crate::terminal::outln;

/// Said at the start of a run whose build commands run on this machine, because the README's
/// promise of "no processes, no host files" is the wasm sandbox's, not theirs.
pub const HOST_BUILDS_NOTICE: &str = "sandpipe: note: build commands run on this machine, \
     outside the wasm sandbox, with your user's access (--build-runner container runs them in \
     a container)";

/// Whether a run of these stages runs build commands (an action whose provider has `exec`).
pub fn runs_builds(loaded: &LoadedPipeline, providers: &ProviderRegistry, start: &Start) -> bool {
    let selected = start.stages.resolve(&loaded.pipeline).unwrap_or_default();
    loaded.pipeline.stages.iter().enumerate().any(|(s, stage)| {
        selected.contains(&s)
            && stage
                .actions
                .iter()
                .any(|a| providers.policy(&a.action_type_id).allows(EXEC))
    })
}

pub fn print_plan(
    loaded: &LoadedPipeline,
    args: &StartArgs,
    providers: &ProviderRegistry,
    start: &Start,
    report: &PreflightReport,
) {
    let pipeline = &loaded.pipeline;
    let selected = start.stages.resolve(pipeline).unwrap_or_default();
    let first = selected.first().copied().unwrap_or(0);
    outln!(
        "{} '{}' ({:?}, {} stages, {} actions): dry run, nothing runs",
        args.document.file_name(),
        Escaped(&pipeline.name),
        pipeline.pipeline_type.unwrap_or_default(),
        pipeline.stages.len(),
        pipeline.actions().count(),
    );
    for stage_plan in plan(pipeline).stages {
        let s = stage_plan.stage;
        let stage = &pipeline.stages[s];
        let note = if s < first {
            " (not run: its results come from the latest execution that succeeded in it)"
        } else if !selected.contains(&s) {
            " (skipped)"
        } else {
            ""
        };
        outln!("stage {}{note}", Escaped(&stage.name));
        if !note.is_empty() {
            continue;
        }
        for group in &stage_plan.groups {
            for &a in &group.actions {
                let action = &stage.actions[a];
                outln!(
                    "  {:>2}  {:<20} {:<36} {}",
                    group.run_order,
                    Escaped(&action.name).to_string(),
                    action.action_type_id.to_string(),
                    how_it_runs(action, s, args, providers, start)
                );
            }
        }
    }
    if !report.missing_buckets.is_empty() && args.runner.create_buckets() {
        let names: Vec<&str> = report.missing_buckets.keys().map(String::as_str).collect();
        outln!(
            "buckets created first (--create-buckets): {}",
            names.join(", ")
        );
    }
}

fn how_it_runs(
    action: &ActionDeclaration,
    s: usize,
    args: &StartArgs,
    providers: &ProviderRegistry,
    start: &Start,
) -> String {
    let action_type = &action.action_type_id;
    if action_type.is_manual_approval() {
        return "waits for `sandpipe approve` or `sandpipe reject`".into();
    }
    if !providers.serves(action_type) {
        return "no provider: the run is refused".into();
    }
    let policy = providers.policy(action_type);
    let tree = start.working_tree(s, &action.name);
    if let Some(dir) = tree.filter(|_| !policy.allows(GIT)) {
        return format!("copies the working tree {}", dir.display());
    }
    let mut how = String::from("wasm sandbox");
    if let Some(dir) = tree {
        how.push_str(&format!(", exports the working tree {}", dir.display()));
    }
    if policy.allows(EXEC) {
        how.push_str(&format!(", {}", args.runner.where_builds_run()));
    }
    how
}
