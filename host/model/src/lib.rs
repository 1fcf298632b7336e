//! The pure CodePipeline model: declarations, loading, validation, variables and planning.
//! Nothing here runs anything, so its tests are fast.

pub mod declaration;
pub mod graph;
pub mod load;
pub mod plan;
pub mod validate;
pub mod variables;

pub use declaration::*;
pub use graph::{GraphFormat, render};
pub use load::{LoadError, LoadedPipeline, load_file, parse_document};
pub use plan::{ExecutionPlan, RunGroup, StagePlan, plan};
pub use validate::{Problem, validate};
