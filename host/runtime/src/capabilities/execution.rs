//! The `execution` import: how the execution was started, as far as a source action needs to
//! know — the revision it must take instead of the latest (StartPipelineExecution's
//! `sourceRevisions`, or a trigger's event). Information only; every action may ask.

use crate::bindings::sandpipe::action::execution::{self as wit, SourceRevision};
use crate::capabilities::{Setup, Slots};
use crate::state::ActionState;

capability_module!(["sandpipe:action/execution@0.1"], None, [wit], setup);

fn setup(setup: &Setup<'_>, slots: &mut Slots) {
    slots.insert(StartedWith(
        setup
            .request
            .started_with
            .as_ref()
            .map(SourceRevision::from),
    ));
}

/// The revision the execution was started with for this action.
struct StartedWith(Option<SourceRevision>);

impl wit::Host for ActionState {
    async fn started_with(&mut self) -> wasmtime::Result<Option<SourceRevision>> {
        Ok(self.slot::<StartedWith>().0.clone())
    }
}
