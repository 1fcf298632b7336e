//! How an action runs, chosen by its kind when the execution is prepared: the action type's
//! wasm component, CodePipeline's own manual approval, a job for a job worker, a double the
//! operator declared, or (for a source that cannot read a working tree itself) the host
//! copying the operator's working tree in its place.

mod approval;
mod cloudformation;
mod component;
mod double;
mod ecr_source;
mod job_worker;
mod lambda;
mod recorded;
mod stack_set;
mod staging;
mod working_tree;

use std::path::PathBuf;

pub(crate) use ecr_source::container_engine;
use sandpipe_model::doubles::Double;
use sandpipe_model::execution::FailureKind;
use sandpipe_runtime::{ActionError, ActionOutcome, FailureDetails, LoadedComponent};
use staging::Staged;

use crate::action::{ActionCall, Completed};
use crate::action_log::ActionLog;
use crate::pipeline::Run;

pub(crate) enum Backend {
    Component(Box<LoadedComponent>),
    ManualApproval,
    /// A registered custom type no component serves: a job for PollForJobs.
    JobWorker,
    /// What the operator declared the action does here instead.
    Double(Box<Double>),
    /// `Deploy/AWS/CloudFormation/1`, planned by the host.
    CloudFormation,
    /// `Deploy/AWS/CloudFormationStackSet/1` and `…StackInstances/1`, planned per instance.
    StackSet,
    /// `Source/AWS/ECR/1`, read from the local container engine.
    LocalImage,
    /// `Invoke/AWS/Lambda/1`: the user's handler, mapped in the functions file.
    Lambda(Box<sandpipe_model::functions::Function>),
    WorkingTree(PathBuf),
    /// A source action of an earlier run, delivered again (a replay of a bundle).
    Recorded(Box<sandpipe_state::ActionRecord>),
}

impl Backend {
    /// SHA-256 (hex) of the wasm code that runs the action, when a component runs it.
    pub(crate) fn component_digest(&self) -> Option<String> {
        match self {
            Backend::Component(component) => Some(hex::encode(component.digest)),
            _ => None,
        }
    }
}

/// The action's configuration (or what it refers to) is wrong: the user's to fix, so the
/// action fails as CodePipeline's ConfigurationError rather than as a host failure.
pub(crate) fn configuration_error(message: impl Into<String>) -> ActionError {
    FailureDetails::new(FailureKind::ConfigurationError, message.into()).into()
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
    /// The log file of the action `call` runs, fed to the live view as well.
    pub(crate) fn action_log(&self, call: &ActionCall<'_>) -> Result<ActionLog, ActionError> {
        let stage = &self.pipeline().stages[call.s];
        let action = &stage.actions[call.a];
        ActionLog::create(
            call.log_path,
            self.keeper.observer(),
            self.id(),
            &stage.name,
            &action.name,
        )
        .map_err(system_failure("creating the action log"))
    }

    pub(crate) async fn dispatch(&self, call: &ActionCall<'_>) -> Result<Completed, ActionError> {
        match &self.launch.prepared.backends[&(call.s, call.a)] {
            Backend::ManualApproval => self.await_approval(call).await,
            Backend::JobWorker => self.await_job_worker(call).await,
            Backend::Double(double) => self.run_double(call, double).await,
            Backend::CloudFormation => self.plan_cloudformation(call).await,
            Backend::StackSet => self.plan_stack_set(call).await,
            Backend::LocalImage => self.read_local_image(call).await,
            Backend::Lambda(function) => self.invoke_lambda(call, function).await,
            Backend::Recorded(earlier) => self.deliver_again(call, earlier),
            Backend::Component(component) => {
                let run = async |staged: &Staged| self.run_component(call, component, staged).await;
                self.sandboxed(call, run).await
            }
            Backend::WorkingTree(dir) => {
                let copy = async |staged: &Staged| self.copy_working_tree(call, dir, staged);
                self.sandboxed(call, copy).await
            }
        }
    }

    /// Run `fill` in the action's fresh sandbox, store what it left in the outputs, and
    /// remove the sandbox.
    async fn sandboxed(
        &self,
        call: &ActionCall<'_>,
        fill: impl AsyncFnOnce(&Staged) -> Result<ActionOutcome, ActionError>,
    ) -> Result<Completed, ActionError> {
        let staged = self.stage_sandbox(call)?;
        let outcome = fill(&staged).await;
        let completed =
            outcome.and_then(|outcome| self.store_outputs(call.s, call.a, &staged, outcome));
        self.remove_sandbox(staged);
        completed
    }
}
