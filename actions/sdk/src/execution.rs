//! How this execution was started (the `execution` import): the source revision a source
//! action must take instead of the latest, as StartPipelineExecution's `sourceRevisions` or
//! a trigger's event name it.

use crate::bindings::sandpipe::action::execution as host;

pub use host::{RevisionType, SourceRevision};

/// The revision this execution was started with for this action, if any.
pub fn started_with() -> Option<SourceRevision> {
    host::started_with()
}
