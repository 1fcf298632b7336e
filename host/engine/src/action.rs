//! One action of an execution: its configuration resolved, its backend run, its end recorded
//! and what it produced published for the actions after it.

use std::collections::BTreeMap;

use sandpipe_model::execution::FailureKind;
use sandpipe_model::validate::{MASKED_SECRET, secret_properties};
use sandpipe_runtime::{ActionError, ActionOutcome, FailureDetails};
use sandpipe_state::{ActionStatus, ArtifactRecord, ErrorDetails};

use crate::pipeline::Run;

/// What a backend made of an action that succeeded.
pub(crate) struct Completed {
    pub(crate) outcome: ActionOutcome,
    pub(crate) outputs: Vec<ArtifactRecord>,
}

/// One action being run, as its backend gets it: where it is in the pipeline, its
/// configuration, and where its log goes.
pub(crate) struct ActionCall<'c> {
    pub(crate) s: usize,
    pub(crate) a: usize,
    pub(crate) configured: &'c Configured,
    pub(crate) log_path: &'c std::path::Path,
}

/// An action's configuration as its backend gets it.
pub(crate) struct Configured {
    /// Every `#{…}` resolved; secret values replaced by `****`.
    pub(crate) configuration: BTreeMap<String, String>,
    /// The secret values taken out (never recorded, never given to a component).
    pub(crate) secrets: Vec<String>,
}

impl Run<'_> {
    /// Run action `a` of stage `s` to its end; true when it succeeded.
    pub(crate) async fn run_action(&self, s: usize, a: usize) -> bool {
        let log_name = format!("logs/{s:02}-{a:02}.log");
        self.keeper.action_started(s, a, log_name.clone());
        let log_path = self.runner.execution_dir(self.id()).join(&log_name);
        let result = match self.configure(s, a) {
            Ok(configured) => {
                self.keeper.update_action(s, a, |entry| {
                    entry.resolved_configuration = configured.configuration.clone()
                });
                let call = ActionCall {
                    s,
                    a,
                    configured: &configured,
                    log_path: &log_path,
                };
                self.dispatch(&call).await
            }
            Err(error) => Err(error),
        };
        if let Ok(completed) = &result {
            self.publish(s, a, completed);
        }
        self.keeper.action_finished(s, a, |entry| match result {
            Ok(completed) => {
                let outcome = completed.outcome;
                entry.status = ActionStatus::Succeeded;
                entry.summary = outcome.summary;
                entry.external_execution_id = outcome.external_execution_id;
                entry.output_variables = outcome.output_variables.into_iter().collect();
                entry.output_artifacts = completed.outputs;
                entry.current_revision = outcome.current_revision;
            }
            Err(error) => {
                entry.status = match error {
                    ActionError::Abandoned => ActionStatus::Abandoned,
                    _ => ActionStatus::Failed,
                };
                if let Some(id) = error.external_execution_id() {
                    entry.external_execution_id = Some(id.to_string());
                }
                entry.error = Some(ErrorDetails {
                    code: error.kind().as_str().to_string(),
                    message: error.message(),
                });
            }
        })
    }

    /// `#{codepipeline.PipelineExecutionId}`, `#{variables.name}` and the namespaces of
    /// actions that already ran, substituted into the configuration. Secret values (a GitHub
    /// OAuthToken) reach neither the record nor the component: the host reads the repository
    /// itself, so nothing in the sandbox needs them.
    fn configure(&self, s: usize, a: usize) -> Result<Configured, ActionError> {
        let action = &self.pipeline().stages[s].actions[a];
        let mut configuration = self
            .outputs()
            .scope
            .resolve(&action.configuration)
            .map_err(|unresolved| {
                FailureDetails::new(FailureKind::ConfigurationError, unresolved.to_string())
            })?;
        let mut secrets = Vec::new();
        for key in secret_properties(&action.action_type_id) {
            if let Some(value) = configuration.get_mut(*key) {
                secrets.push(std::mem::replace(value, MASKED_SECRET.into()));
            }
        }
        Ok(Configured {
            configuration,
            secrets,
        })
    }

    /// Make what the action produced available to the actions after it.
    fn publish(&self, s: usize, a: usize, completed: &Completed) {
        let mut outputs = self.outputs();
        for stored in &completed.outputs {
            outputs
                .artifacts
                .insert(stored.name.clone(), stored.clone());
        }
        if let Some(namespace) = &self.pipeline().stages[s].actions[a].namespace {
            let values = completed.outcome.output_variables.iter().cloned().collect();
            outputs.scope.publish(namespace, values);
        }
    }
}
