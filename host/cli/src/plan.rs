//! `run --dry-run`: what a run would do, stage by stage — each runOrder group's actions, how
//! each runs (in the wasm sandbox, with build commands on this machine or in a container,
//! as the host's approval, from a working tree, as a declared double, or not at all), and
//! the stages a partial run leaves out.

use sandpipe_engine::{PipelineFiles, PreflightReport, ProviderRegistry, Start};
use sandpipe_model::doubles::DoubleOutcome;
use sandpipe_model::functions::RuntimeKind;
use sandpipe_model::text::Escaped;
use sandpipe_model::{ActionDeclaration, LoadedPipeline, StageDeclaration, plan};
use sandpipe_runtime::{EXEC, GIT};

use crate::run::StartArgs;
use crate::terminal::outln;

/// Said at the start of a run whose build commands run on this machine, because the README's
/// promise of "no processes, no host files" is the wasm sandbox's, not theirs.
pub const HOST_BUILDS_NOTICE: &str = "sandpipe: note: build commands run on this machine, \
     outside the wasm sandbox, with your user's access (--build-runner container runs them in \
     a container)";

/// Said at the start of a run that invokes Lambda handlers as processes, for the same reason.
pub const HOST_HANDLERS_NOTICE: &str = "sandpipe: note: Lambda handlers run on this machine, \
     outside the wasm sandbox, with your user's access (a function mapped to a wasm component \
     runs in the sandbox instead)";

/// Say, before a run starts, what in it runs on this machine outside the wasm sandbox: build
/// commands on the local runner (an action whose provider has `exec`) and Lambda handlers.
pub fn say_what_runs_on_this_machine(
    loaded: &LoadedPipeline,
    providers: &ProviderRegistry,
    files: &PipelineFiles,
    start: &Start,
    builds_on_host: bool,
) {
    let selected = start.stages.resolve(&loaded.pipeline).unwrap_or_default();
    let run_here = || {
        loaded
            .pipeline
            .stages
            .iter()
            .enumerate()
            .filter(|(s, _)| selected.contains(s))
            .flat_map(|(_, stage)| stage.actions.iter().map(move |a| (stage, a)))
            .filter(|(stage, a)| {
                files
                    .doubles
                    .for_action(&stage.name, &a.name, &a.action_type_id)
                    .is_none()
            })
    };
    let builds = run_here().any(|(_, a)| providers.policy(&a.action_type_id).allows(EXEC));
    if builds_on_host && builds {
        crate::terminal::errln!("{HOST_BUILDS_NOTICE}");
    }
    let handlers = run_here().any(|(_, a)| {
        !providers.serves(&a.action_type_id)
            && files
                .lambda_function(a)
                .is_some_and(|f| f.kind != RuntimeKind::Wasm)
    });
    if handlers {
        crate::terminal::errln!("{HOST_HANDLERS_NOTICE}");
    }
}

pub fn print_plan(
    loaded: &LoadedPipeline,
    args: &StartArgs,
    providers: &ProviderRegistry,
    files: &PipelineFiles,
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
                    how_it_runs(action, stage, s, args, providers, files, start)
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

/// How an action would run here, in one word a report can count.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RunsAs {
    /// For real: a component, a job worker, the user's Lambda handler.
    Real,
    /// As a plan, with nothing deployed (CloudFormation).
    Plan,
    /// As a declared double.
    Double,
    /// The host's manual approval.
    Approval,
    /// Not at all: nothing serves its type, and the run is refused.
    Refused,
}

impl RunsAs {
    pub fn name(self) -> &'static str {
        match self {
            RunsAs::Real => "real",
            RunsAs::Plan => "plan",
            RunsAs::Double => "double",
            RunsAs::Approval => "approval",
            RunsAs::Refused => "refused",
        }
    }
}

/// How `action` of `stage` would run with these providers and files.
pub fn runs_as(
    action: &ActionDeclaration,
    stage: &StageDeclaration,
    providers: &ProviderRegistry,
    files: &PipelineFiles,
) -> RunsAs {
    let action_type = &action.action_type_id;
    let served = providers.serves(action_type);
    if files
        .doubles
        .for_action(&stage.name, &action.name, action_type)
        .is_some()
    {
        RunsAs::Double
    } else if action_type.is_manual_approval() {
        RunsAs::Approval
    } else if (action_type.is_cloudformation_deploy() || action_type.is_stack_set_deploy())
        && !served
    {
        RunsAs::Plan
    } else if served || files.lambda_function(action).is_some() || action_type.is_ecr_source() {
        RunsAs::Real
    } else {
        RunsAs::Refused
    }
}

fn how_it_runs(
    action: &ActionDeclaration,
    stage: &StageDeclaration,
    s: usize,
    args: &StartArgs,
    providers: &ProviderRegistry,
    files: &PipelineFiles,
    start: &Start,
) -> String {
    let action_type = &action.action_type_id;
    if let Some(double) = files
        .doubles
        .for_action(&stage.name, &action.name, action_type)
    {
        let does = match double.outcome {
            DoubleOutcome::Succeed => "succeeds",
            DoubleOutcome::Fail => "fails",
            DoubleOutcome::Approval => "waits for an approval",
        };
        return format!("a double ({}): {does}", double.declared_in);
    }
    if action_type.is_manual_approval() {
        return "waits for `sandpipe approve` or `sandpipe reject`".into();
    }
    if (action_type.is_cloudformation_deploy() || action_type.is_stack_set_deploy())
        && !providers.serves(action_type)
    {
        return "planned by sandpipe: a local stack, nothing deployed to AWS".into();
    }
    if !providers.serves(action_type) {
        // What prepare chooses for a type no component serves, in the same order.
        if let Some(function) = files.lambda_function(action) {
            return match function.kind {
                RuntimeKind::Wasm => format!(
                    "the function's component {} in the wasm sandbox",
                    function.code.display()
                ),
                _ => format!(
                    "invokes {} ({}, {}) on this machine, outside the wasm sandbox",
                    function.handler,
                    function.runtime,
                    function.code.display()
                ),
            };
        }
        if action_type.is_ecr_source() {
            return "reads the image from this machine's docker or podman engine".into();
        }
        return format!(
            "no provider: the run is refused (--double {action_type} would run it as a double)"
        );
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
