//! The preflight's checks of declared doubles: what a double fills is the action's own and
//! there to fill with, and (for a run's own doubles file) a Stage/Action key names an action.

use sandpipe_model::{ActionDeclaration, Finding, LoadedPipeline, Problem};

use super::{INVALID_ACTION, Preflight};
use crate::settings::PipelineFiles;

impl Preflight<'_> {
    /// Doubles keyed by Stage/Action whose stage the pipeline has and whose action it does
    /// not: a misspelt action would otherwise leave the real one running, silently. (A stage
    /// the pipeline lacks is another pipeline's, when pipelines share a doubles file.) For a
    /// run of one pipeline with its own files: a server's doubles serve every pipeline.
    pub fn doubles_of_no_action(loaded: &LoadedPipeline, files: &PipelineFiles) -> Vec<Finding> {
        let pipeline = &loaded.pipeline;
        let actions: Vec<String> = pipeline
            .stages
            .iter()
            .flat_map(|s| {
                s.actions
                    .iter()
                    .map(move |a| format!("{}/{}", s.name, a.name))
            })
            .collect();
        files
            .doubles
            .action_doubles()
            .filter(|(stage, _, _)| pipeline.stages.iter().any(|s| s.name == *stage))
            .filter(|(stage, action, _)| !actions.contains(&format!("{stage}/{action}")))
            .map(|(stage, action, double)| Finding {
                file: double.declared_in.clone(),
                problem: Problem {
                    path: format!("doubles.{stage}/{action}"),
                    exception: "ValidationException",
                    message: format!(
                        "pipeline '{}' has no action {action} in a stage {stage} (its actions: \
                         {}); a Stage/Action key names one of them, an action type covers every \
                         pipeline",
                        pipeline.name,
                        actions.join(", ")
                    ),
                },
            })
            .collect()
    }

    /// A declared double's output artifacts: the action's own, from directories that exist.
    pub(super) fn double_problems(
        &self,
        s: usize,
        a: usize,
        action: &ActionDeclaration,
        double: &sandpipe_model::doubles::Double,
        problems: &mut Vec<Problem>,
    ) {
        use sandpipe_model::doubles::DoubleArtifact;
        let at = self
            .loaded
            .document_path(&format!("stages[{s}].actions[{a}]"));
        for (name, source) in &double.output_artifacts {
            let message = if !action.output_artifacts.iter().any(|o| &o.name == name) {
                format!(
                    "the double declared in {} fills output artifact '{name}', which action \
                     '{}' does not have",
                    double.declared_in, action.name
                )
            } else if let DoubleArtifact::Directory(dir) = source
                && !dir.is_dir()
            {
                format!(
                    "the double declared in {} fills output artifact '{name}' from {}, which \
                     is not a directory",
                    double.declared_in,
                    dir.display()
                )
            } else {
                continue;
            };
            problems.push(Problem {
                path: format!("{at}.outputArtifacts"),
                exception: INVALID_ACTION,
                message,
            });
        }
    }
}
