//! One action of an execution: its configuration resolved, its backend run, its end recorded
//! and what it produced published for the actions after it.

use std::collections::BTreeMap;

use sandpipe_model::ActionDeclaration;
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
    /// Every `#{…}` resolved; secret values replaced by `****`: what records show.
    pub(crate) configuration: BTreeMap<String, String>,
    /// The secret values taken out: never recorded, masked wherever a log or a result
    /// would show them.
    pub(crate) secrets: Vec<String>,
    /// Those the provider itself is given, by property: a plugin's declared secret
    /// properties. (CodePipeline's own, such as a GitHub OAuthToken, serve the host, which
    /// reads the repository itself; no component sees them.)
    pub(crate) provider_secrets: BTreeMap<String, String>,
}

impl Configured {
    /// The configuration the provider is given: what records show, with its own secrets.
    pub(crate) fn for_provider(&self) -> BTreeMap<String, String> {
        let mut configuration = self.configuration.clone();
        configuration.extend(self.provider_secrets.clone());
        configuration
    }
}

impl Run<'_> {
    /// Run action `a` of stage `s` to its end; true when it succeeded.
    pub(crate) async fn run_action(&self, s: usize, a: usize) -> bool {
        let log_name = format!("logs/{s:02}-{a:02}.log");
        self.keeper.action_started(s, a, log_name.clone());
        let log_path = self.runner.execution_dir(self.id()).join(&log_name);
        // A log that cannot be started fails the action when its backend opens it.
        let _ = crate::action_log::ActionLog::start(&log_path);
        let result = match self.configure(s, a) {
            Ok(configured) => {
                let component = self.launch.prepared.backends[&(s, a)].component_digest();
                self.keeper.update_action(s, a, |entry| {
                    entry.resolved_configuration = configured.configuration.clone();
                    entry.component_digest = component;
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
        let unresolved = |unresolved: sandpipe_model::execution::Unresolved| {
            FailureDetails::new(FailureKind::ConfigurationError, unresolved.to_string())
        };
        let outputs = self.outputs();
        let mut configuration = outputs
            .scope
            .resolve(&action.configuration)
            .map_err(unresolved)?;
        if action.action_type_id.is_commands() {
            let fields = outputs
                .scope
                .resolve(&commands_fields(action))
                .map_err(unresolved)?;
            configuration.extend(commands_configuration(action, &fields));
        }
        drop(outputs);
        let mut secrets = Vec::new();
        for key in secret_properties(&action.action_type_id) {
            if let Some(value) = configuration.get_mut(*key) {
                secrets.push(std::mem::replace(value, MASKED_SECRET.into()));
            }
        }
        let mut provider_secrets = BTreeMap::new();
        for key in self
            .runner
            .providers
            .declared_secret_properties(&action.action_type_id)
        {
            if let Some(value) = configuration.get_mut(&key) {
                let value = std::mem::replace(value, MASKED_SECRET.into());
                if value == MASKED_SECRET {
                    return Err(stored_secret_missing(&key).into());
                }
                secrets.push(value.clone());
                provider_secrets.insert(key, value);
            }
        }
        Ok(Configured {
            configuration,
            secrets,
            provider_secrets,
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

/// A secret property whose value the declaration no longer holds: secrets are never stored,
/// so a retry or rollback of a stored declaration has only `****`.
fn stored_secret_missing(key: &str) -> FailureDetails {
    FailureDetails::new(
        FailureKind::ConfigurationError,
        format!(
            "the secret configuration property '{key}' holds only {MASKED_SECRET}: secret values \
             are never stored, so an execution retried or rolled back from the stored \
             declaration does not have it; start the pipeline again from its file"
        ),
    )
}

/// The texts of a Commands action's own fields that may hold `#{…}`: its commands and its
/// environment variables' values, keyed by their JSON paths so an unresolved one says where.
fn commands_fields(action: &ActionDeclaration) -> BTreeMap<String, String> {
    let commands = action.commands.iter().flatten().enumerate();
    let variables = action.environment_variables.iter().flatten().enumerate();
    commands
        .map(|(i, command)| (format!("commands[{i}]"), command.clone()))
        .chain(variables.map(|(i, variable)| {
            (
                format!("environmentVariables[{i}].value"),
                variable.value.clone(),
            )
        }))
        .collect()
}

/// A Commands action's own fields, resolved (`fields`, from [`commands_fields`]), as the
/// configuration its provider reads — it has no other: JSON lists under `Commands`,
/// `OutputFiles`, `OutputVariables` and `EnvironmentVariables`. They stay in the record's
/// resolved configuration, which so shows the commands as they ran.
fn commands_configuration(
    action: &ActionDeclaration,
    fields: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    let field = |path: String| fields.get(&path).cloned().unwrap_or_default();
    let count = action.commands.as_ref().map_or(0, Vec::len);
    let commands: Vec<String> = (0..count)
        .map(|i| field(format!("commands[{i}]")))
        .collect();
    let files: Vec<String> = action
        .output_artifacts
        .first()
        .and_then(|output| output.files.clone())
        .unwrap_or_default();
    let mut configuration = BTreeMap::from([
        (
            "Commands".to_string(),
            serde_json::json!(commands).to_string(),
        ),
        (
            "OutputFiles".to_string(),
            serde_json::json!(files).to_string(),
        ),
    ]);
    if let Some(variables) = &action.output_variables {
        configuration.insert(
            "OutputVariables".into(),
            serde_json::json!(variables).to_string(),
        );
    }
    if let Some(variables) = &action.environment_variables {
        let resolved: Vec<serde_json::Value> = variables
            .iter()
            .enumerate()
            .map(|(i, variable)| {
                let mut value = serde_json::json!(variable);
                value["value"] = field(format!("environmentVariables[{i}].value")).into();
                value
            })
            .collect();
        configuration.insert(
            "EnvironmentVariables".into(),
            serde_json::Value::from(resolved).to_string(),
        );
    }
    configuration
}
