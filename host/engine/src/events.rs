//! What happens during a run, as it happens: the CLI's progress view renders these.

use sandpipe_runtime::ActionEvent;

use sandpipe_state::record::{ActionRecord, ExecutionRecord, StageStatus};

#[derive(Debug, Clone)]
pub enum RunEvent {
    ExecutionStarted {
        pipeline: String,
        execution_id: String,
    },
    StageStarted {
        stage: String,
    },
    ActionStarted {
        stage: String,
        action: String,
    },
    /// A log line, output line or progress report of a running action.
    ActionOutput {
        stage: String,
        action: String,
        event: ActionEvent,
    },
    ActionFinished {
        stage: String,
        record: ActionRecord,
    },
    StageFinished {
        stage: String,
        status: StageStatus,
    },
    ExecutionFinished {
        record: ExecutionRecord,
    },
}

pub trait RunObserver: Send + Sync {
    fn on_event(&self, event: RunEvent);
}

/// Ignores everything.
pub struct NoObserver;

impl RunObserver for NoObserver {
    fn on_event(&self, _: RunEvent) {}
}
