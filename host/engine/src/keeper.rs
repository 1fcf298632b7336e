//! The record keeper: every transition of one execution goes through it once, and it keeps
//! the three views of it together — the record in memory, the state store, and the events
//! (the journal and the live view).

use std::sync::{Arc, Mutex, MutexGuard};

use sandpipe_state::{
    ActionRecord, ActionStatus, ExecutionRecord, ExecutionStatus, StageStatus, StateStore, now,
};

use crate::events::{RunEvent, RunObserver};

pub(crate) struct RecordKeeper<'r> {
    id: String,
    record: Mutex<ExecutionRecord>,
    state: &'r StateStore,
    observer: Arc<dyn RunObserver>,
}

impl<'r> RecordKeeper<'r> {
    pub(crate) fn new(
        record: ExecutionRecord,
        state: &'r StateStore,
        observer: Arc<dyn RunObserver>,
    ) -> Self {
        RecordKeeper {
            id: record.pipeline_execution_id.clone(),
            record: Mutex::new(record),
            state,
            observer,
        }
    }

    pub(crate) fn id(&self) -> &str {
        &self.id
    }

    fn record(&self) -> MutexGuard<'_, ExecutionRecord> {
        self.record.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Read the record as it is now.
    pub(crate) fn read<T>(&self, look: impl FnOnce(&ExecutionRecord) -> T) -> T {
        look(&self.record())
    }

    /// A change that cannot be stored is reported on stderr; the run itself goes on.
    pub(crate) fn persisted(result: sandpipe_state::Result<()>) {
        if let Err(e) = result {
            eprintln!("sandpipe: cannot save execution state: {e}");
        }
    }

    pub(crate) fn execution_started(&self, resumed: bool) {
        let (pipeline, trigger) = self.read(|r| (r.pipeline_name.clone(), r.trigger.clone()));
        self.observer.on_event(RunEvent::ExecutionStarted {
            pipeline,
            execution_id: self.id.clone(),
            resumed,
            trigger,
        });
    }

    /// Something worth saying about a stage (why it waits, how its conditions went).
    pub(crate) fn note(&self, stage: &str, message: String) {
        self.observer.on_event(RunEvent::StageNote {
            execution_id: self.id.clone(),
            stage: stage.to_string(),
            message,
        });
    }

    /// Record condition rules stage `s` evaluated.
    pub(crate) fn rules_evaluated(&self, s: usize, rules: Vec<sandpipe_state::RuleRecord>) {
        if rules.is_empty() {
            return;
        }
        let mut record = self.record();
        let stage = &mut record.stages[s];
        stage.rules.extend(rules);
        Self::persisted(self.state.executions().save_stage(&self.id, s, stage));
    }

    /// Where the events go, for an action's log to send its own.
    pub(crate) fn observer(&self) -> Arc<dyn RunObserver> {
        self.observer.clone()
    }

    fn set_stage(&self, s: usize, status: StageStatus) -> String {
        let mut record = self.record();
        let stage = &mut record.stages[s];
        stage.status = status;
        Self::persisted(self.state.executions().save_stage(&self.id, s, stage));
        stage.name.clone()
    }

    pub(crate) fn stop_requested(&self, request: &sandpipe_state::StopRequest) {
        self.observer.on_event(RunEvent::StopRequested {
            execution_id: self.id.clone(),
            abandon: request.abandons(),
            reason: request.reason.clone(),
        });
    }

    pub(crate) fn stage_started(&self, s: usize) {
        let stage = self.set_stage(s, StageStatus::InProgress);
        self.observer.on_event(RunEvent::StageStarted {
            execution_id: self.id.clone(),
            stage,
        });
    }

    pub(crate) fn stage_finished(&self, s: usize, status: StageStatus) {
        let stage = self.set_stage(s, status);
        self.observer.on_event(RunEvent::StageFinished {
            execution_id: self.id.clone(),
            stage,
            status,
        });
    }

    /// Change one action's record while it runs and store it.
    pub(crate) fn update_action<T>(
        &self,
        s: usize,
        a: usize,
        change: impl FnOnce(&mut ActionRecord) -> T,
    ) -> T {
        let mut record = self.record();
        let action = record.action_mut(s, a);
        let changed = change(action);
        Self::persisted(self.state.executions().save_action(&self.id, s, a, action));
        changed
    }

    /// The action starts: what an earlier attempt left is cleared.
    pub(crate) fn action_started(&self, s: usize, a: usize, log_file: String) {
        let action = self.update_action(s, a, |entry| {
            let fresh =
                ActionRecord::not_started(&entry.name, entry.action_type.clone(), entry.run_order);
            *entry = ActionRecord {
                status: ActionStatus::InProgress,
                start_time: Some(now()),
                log_file: Some(log_file),
                ..fresh
            };
            entry.name.clone()
        });
        self.observer.on_event(RunEvent::ActionStarted {
            execution_id: self.id.clone(),
            stage: self.read(|r| r.stages[s].name.clone()),
            action,
        });
    }

    /// The action ended as `finish` records it; returns whether it succeeded.
    pub(crate) fn action_finished(
        &self,
        s: usize,
        a: usize,
        finish: impl FnOnce(&mut ActionRecord),
    ) -> bool {
        let record = self.update_action(s, a, |entry| {
            entry.end_time = Some(now());
            finish(entry);
            entry.clone()
        });
        let succeeded = record.status == ActionStatus::Succeeded;
        self.observer.on_event(RunEvent::ActionFinished {
            execution_id: self.id.clone(),
            stage: self.read(|r| r.stages[s].name.clone()),
            record: Box::new(record),
        });
        succeeded
    }

    /// The execution ended: its status, why, and its end, stored; the final record.
    pub(crate) fn execution_finished(
        &self,
        status: ExecutionStatus,
        summary: Option<String>,
    ) -> ExecutionRecord {
        let mut record = self.record();
        record.status = status;
        if summary.is_some() {
            record.status_summary = summary;
        }
        record.end_time = Some(now());
        Self::persisted(self.state.executions().save_status(&record));
        record.clone()
    }

    /// Announce the end, after the execution's work area is gone.
    pub(crate) fn announce_end(&self, record: &ExecutionRecord) {
        self.observer.on_event(RunEvent::ExecutionFinished {
            record: record.clone(),
        });
    }
}
