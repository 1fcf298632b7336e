//! What an execution decides without running anything: where it (re)starts, how configuration
//! values are bound to variables, how stage conditions evaluate, what a pipeline variable is
//! worth, which revision a source starts from and how a failure is classed. The engine runs
//! actions; these are the rules it follows, kept pure so they are tested on their own.

pub mod conditions;
pub mod failure;
pub mod pipeline_variables;
pub mod resume;
pub mod revisions;
pub mod scope;

pub use conditions::{ConditionCheck, check_conditions};
pub use failure::FailureKind;
pub use pipeline_variables::pipeline_variable_values;
pub use resume::{ResumePlan, StageSelection};
pub use revisions::{CurrentRevision, RevisionType, SourceRevision, parse_source_revision};
pub use scope::{Unresolved, VariableScope};
