//! How an action runs, chosen by its kind when the execution is prepared: the action type's
//! wasm component, CodePipeline's own manual approval, or (for a source that cannot read a
//! working tree itself) the host copying the operator's working tree in its place.

mod approval;
mod component;
mod staging;
mod working_tree;

use std::path::{Path, PathBuf};

use sandpipe_model::execution::FailureKind;
use sandpipe_runtime::{ActionError, FailureDetails, LoadedComponent};

use crate::action::{Completed, Configured};
use crate::pipeline::Run;

pub(crate) enum Backend {
    Component(Box<LoadedComponent>),
    ManualApproval,
    WorkingTree(PathBuf),
}

/// A failure of the host itself while running an action (its sandbox, its log).
pub(crate) fn system_failure<E: std::fmt::Display>(
    what: &'static str,
) -> impl Fn(E) -> ActionError {
    move |e| {
        ActionError::Failed(FailureDetails::new(
            FailureKind::SystemUnavailable,
            format!("{what}: {e}"),
        ))
    }
}

impl Run<'_> {
    pub(crate) async fn dispatch(
        &self,
        s: usize,
        a: usize,
        configured: &Configured,
        log_path: &Path,
    ) -> Result<Completed, ActionError> {
        match &self.launch.prepared.backends[&(s, a)] {
            Backend::ManualApproval => self.await_approval(s, a, configured, log_path).await,
            Backend::Component(component) => {
                let staged = self.stage_sandbox(s, a, configured)?;
                let outcome = self
                    .run_component(s, a, component, configured, &staged, log_path)
                    .await;
                let completed =
                    outcome.and_then(|outcome| self.store_outputs(s, a, &staged, outcome));
                self.remove_sandbox(staged);
                completed
            }
            Backend::WorkingTree(dir) => {
                let staged = self.stage_sandbox(s, a, configured)?;
                let outcome = self.copy_working_tree(s, a, dir, &staged, log_path);
                let completed =
                    outcome.and_then(|outcome| self.store_outputs(s, a, &staged, outcome));
                self.remove_sandbox(staged);
                completed
            }
        }
    }
}
