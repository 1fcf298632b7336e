//! The pure CodePipeline model: declarations, loading, validation, variables and planning.
//! Nothing here runs anything, so its tests are fast.

pub mod action_type;
pub mod cloudformation;
pub mod codebuild;
pub mod connections;
pub mod declaration;
pub mod execution;
pub mod graph;
pub mod load;
pub mod plan;
pub mod secrets;
pub mod text;
pub mod triggers;
pub mod validate;
pub mod variables;

pub use cloudformation::TemplateOptions;
pub use declaration::*;
pub use graph::{GraphFormat, render};
pub use load::{
    LoadError, LoadedPipeline, TemplateSource, load_file, load_file_with, parse_document,
    parse_document_with,
};
pub use plan::{ExecutionPlan, RunGroup, StagePlan, plan};
pub use validate::{Problem, validate};
