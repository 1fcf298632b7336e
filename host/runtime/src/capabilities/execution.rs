//! The `execution` import: how the execution was started, as far as a source action needs to
//! know — the revision it must take instead of the latest (StartPipelineExecution's
//! `sourceRevisions`, or a trigger's event). Information only; every action may ask.

use crate::bindings::sandpipe::action::execution::{self as wit, SourceRevision};
use crate::state::ActionState;

impl wit::Host for ActionState {
    async fn started_with(&mut self) -> wasmtime::Result<Option<SourceRevision>> {
        Ok(self.started_with.clone())
    }
}
