//! The pure CodePipeline model: declarations, loading, validation, variables and planning.
//! Nothing here runs anything, so its tests are fast.

pub mod action_definition;
pub mod action_type;
/// The CodeBuild action's buildspec parser, compiled in from the guest's own file so that a
/// check before a run refuses exactly what the build would (the guest crate is a wasm
/// component and cannot be a dependency; its parser needs only serde).
#[path = "../../../actions/codebuild/src/buildspec.rs"]
pub mod buildspec;
pub mod cloudformation;
pub mod codebuild;
pub mod connections;
pub mod declaration;
pub mod doubles;
pub mod execution;
pub mod functions;
pub mod graph;
pub mod json_diff;
pub mod load;
pub mod local_settings;
pub mod plan;
pub mod plugin;
pub mod plugin_policy;
pub mod secrets;
pub mod text;
pub mod triggers;
pub mod validate;
pub mod variables;

pub use cloudformation::TemplateOptions;
pub use declaration::*;
pub use graph::{GraphFormat, Notes, render, render_with, svg_unstyled};
pub use load::{
    LoadError, LoadedPipeline, TemplateSource, load_file, load_file_with, parse_document,
    parse_document_with,
};
pub use plan::{ExecutionPlan, RunGroup, StagePlan, plan};
pub use validate::{Finding, Problem, validate};
