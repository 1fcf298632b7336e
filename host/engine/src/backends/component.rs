//! The wasm component backend: the action's request and grants handed to the wasm host,
//! its test reports kept whatever the outcome.

use std::sync::Arc;

use sandpipe_runtime::{
    ActionError, ActionOutcome, ActionRequest, ExecutionLimits, Invocation, LoadedComponent,
};

use super::staging::Staged;
use crate::action::ActionCall;
use crate::pipeline::Run;

impl Run<'_> {
    pub(crate) async fn run_component(
        &self,
        call: &ActionCall<'_>,
        component: &LoadedComponent,
        staged: &Staged,
    ) -> Result<ActionOutcome, ActionError> {
        let (s, a, configured) = (call.s, call.a, call.configured);
        let stage = &self.pipeline().stages[s];
        let action = &stage.actions[a];
        let log = self.action_log(call)?;
        let request = ActionRequest {
            pipeline: self.pipeline().name.clone(),
            stage: stage.name.clone(),
            action: action.name.clone(),
            execution_id: self.id().to_string(),
            action_type: action.action_type_id.clone(),
            configuration: configured.for_provider(),
            inputs: staged.inputs.clone(),
            outputs: staged.outputs.clone(),
            started_with: self.launch.start.source_revision(s, &action.name).cloned(),
            masked: configured.secrets.clone(),
        };
        let images = Arc::new(sandpipe_runtime::BuildImages::default());
        let grants = self.grants(s, a, &configured.configuration, &images);
        // Measured again now that the inputs are staged: they took some of the space.
        let configured_budget = self.runner.settings.limits.output_bytes;
        let limits = ExecutionLimits {
            timeout: self.timeout_for(s, a),
            output_bytes: configured_budget.min(self.work_area_free()?),
            ..self.runner.settings.limits
        };
        let invocation = Invocation {
            request,
            sandbox: staged.sandbox.clone(),
            object_store: self.runner.s3.clone(),
            limits,
            events: Arc::new(log),
            cancel: Some(self.control.abandoned()),
            grants,
            determinism: self.determinism(s, a),
        };
        let result = self.runner.host.execute(component, invocation).await;
        let ran = images.ran();
        if !ran.is_empty() {
            self.keeper
                .update_action(s, a, |entry| entry.build_images = ran);
        }
        if !result.reports.is_empty() {
            let reports = result
                .reports
                .iter()
                .map(crate::builds::summarize)
                .collect();
            self.keeper
                .update_action(s, a, |entry| entry.reports = reports);
        }
        result.outcome
    }

    /// The operator's timeout for every action, else the action's own, else CodePipeline's
    /// default for its type.
    pub(crate) fn timeout_for(&self, s: usize, a: usize) -> std::time::Duration {
        let action = &self.pipeline().stages[s].actions[a];
        self.runner.settings.action_timeout.unwrap_or_else(|| {
            action
                .timeout_in_minutes
                .map(|minutes| std::time::Duration::from_secs(u64::from(minutes) * 60))
                .unwrap_or_else(|| action.action_type_id.default_timeout())
        })
    }
}
