//! Ctrl-C during a run: once stops the executions this process started (running actions
//! finish; a waiting manual approval, which nobody finishes, is abandoned at once), twice
//! abandons their running actions. The executions end Stopped and are recorded so.

use std::sync::Arc;

use sandpipe_engine::{
    ActionStatus, ExecutionRecord, ExecutionRequest, PipelineRunner, RunError, RunEvent,
    RunObserver, Tee,
};
use sandpipe_state::StopMode;

use crate::progress::Progress;
use crate::terminal::errln;

/// Run `request` to its end, showing it on `progress`, stopping it on Ctrl-C. Returns the
/// result and whether the user interrupted it.
pub(crate) async fn execute_stopping_on_ctrl_c(
    runner: &PipelineRunner,
    request: ExecutionRequest,
    progress: Arc<Progress>,
) -> (Result<ExecutionRecord, RunError>, bool) {
    let started = Arc::new(StartedExecutions::default());
    let observer = Arc::new(Tee(vec![progress, started.clone()]));
    let execution = runner.execute(request, observer);
    tokio::pin!(execution);
    let mut interrupts = 0;
    loop {
        tokio::select! {
            result = &mut execution => return (result, interrupts > 0),
            Ok(()) = tokio::signal::ctrl_c() => {
                interrupts += 1;
                let (mode, what) = match interrupts {
                    1 if only_approvals_wait(runner, &started.ids()) => (
                        StopMode::Abandon,
                        "abandoning the manual approval it waits for",
                    ),
                    1 => (StopMode::Stop, "stopping: running actions finish and nothing new \
                          starts (Ctrl-C again abandons them)"),
                    _ => (StopMode::Abandon, "abandoning the running actions"),
                };
                errln!("\nsandpipe: interrupted: {what}");
                for id in started.ids() {
                    if let Err(error) = runner.request_stop(&id, mode, Some("interrupted (Ctrl-C)")) {
                        errln!("sandpipe: cannot stop execution {id}: {error}");
                    }
                }
            }
        }
    }
}

/// Whether every action still running in these executions is a manual approval.
fn only_approvals_wait(runner: &PipelineRunner, ids: &[String]) -> bool {
    let mut running = ids
        .iter()
        .filter_map(|id| runner.state().executions().get(id).ok())
        .flat_map(|record| record.stages.into_iter().flat_map(|stage| stage.actions))
        .filter(|action| action.status == ActionStatus::InProgress)
        .peekable();
    running.peek().is_some()
        && running.all(|action| {
            action
                .action_type
                .parse::<sandpipe_model::ActionTypeId>()
                .is_ok_and(|t| t.is_manual_approval())
        })
}

/// The executions a run started (its own, and an automatic rollback), to stop on Ctrl-C.
#[derive(Default)]
struct StartedExecutions(std::sync::Mutex<Vec<String>>);

impl StartedExecutions {
    fn ids(&self) -> Vec<String> {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }
}

impl RunObserver for StartedExecutions {
    fn on_event(&self, event: RunEvent) {
        if let RunEvent::ExecutionStarted { execution_id, .. } = event {
            self.0
                .lock()
                .unwrap_or_else(|e| e.into_inner())
                .push(execution_id);
        }
    }
}
