//! What happens during a run, as it happens: the CLI's progress view renders these.

use std::collections::HashMap;
use std::io::Write;
use std::path::Path;
use std::sync::{Arc, Mutex};

use sandpipe_model::cloudformation::LOCAL_ACCOUNT;
use sandpipe_model::{ActionTypeId, PipelineDeclaration};
use sandpipe_runtime::ActionEvent;
use sandpipe_state::record::{ActionRecord, ExecutionRecord, ExecutionTrigger, StageStatus};
use serde_json::{Value, json};

#[derive(Debug, Clone)]
pub enum RunEvent {
    ExecutionStarted {
        pipeline: String,
        execution_id: String,
        /// A retry taking up an execution that had ended.
        resumed: bool,
        /// What started it.
        trigger: Option<ExecutionTrigger>,
    },
    StageStarted {
        execution_id: String,
        stage: String,
    },
    /// Something about a stage worth saying: why the execution waits at its door, how its
    /// conditions turned out, an automatic retry.
    StageNote {
        execution_id: String,
        stage: String,
        message: String,
    },
    ActionStarted {
        execution_id: String,
        stage: String,
        action: String,
    },
    /// A log line, output line or progress report of a running action.
    ActionOutput {
        execution_id: String,
        stage: String,
        action: String,
        event: ActionEvent,
    },
    ActionFinished {
        execution_id: String,
        stage: String,
        record: Box<ActionRecord>,
    },
    StageFinished {
        execution_id: String,
        stage: String,
        status: StageStatus,
    },
    /// StopPipelineExecution was seen: the execution is Stopping (running actions finish,
    /// or with `abandon` are abandoned).
    StopRequested {
        execution_id: String,
        abandon: bool,
        reason: Option<String>,
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

/// Sends every event to several observers.
pub struct Tee(pub Vec<Arc<dyn RunObserver>>);

impl RunObserver for Tee {
    fn on_event(&self, event: RunEvent) {
        for observer in &self.0 {
            observer.on_event(event.clone());
        }
    }
}

/// Every state change of one execution, one JSON line each, shaped like CodePipeline's
/// EventBridge events ("CodePipeline Pipeline Execution State Change" and its stage and
/// action variants), in `<execution dir>/events.jsonl`.
pub struct EventJournal {
    file: Mutex<std::fs::File>,
    pipeline: String,
    pipeline_version: u32,
    region: String,
    action_types: HashMap<(String, String), ActionTypeId>,
}

impl EventJournal {
    pub fn create(
        path: &Path,
        pipeline: &PipelineDeclaration,
        pipeline_version: u32,
        region: &str,
    ) -> std::io::Result<Self> {
        std::fs::create_dir_all(path.parent().expect("journals live in a directory"))?;
        Ok(EventJournal {
            file: Mutex::new(
                std::fs::OpenOptions::new()
                    .create(true)
                    .append(true)
                    .open(path)?,
            ),
            pipeline: pipeline.name.clone(),
            pipeline_version,
            region: region.to_string(),
            action_types: pipeline
                .actions()
                .map(|(stage, action)| {
                    (
                        (stage.name.clone(), action.name.clone()),
                        action.action_type_id.clone(),
                    )
                })
                .collect(),
        })
    }

    fn write(&self, detail_type: &str, detail: Value) {
        let event = json!({
            "version": "0",
            "id": uuid::Uuid::new_v4().to_string(),
            "detail-type": detail_type,
            "source": "aws.codepipeline",
            "account": LOCAL_ACCOUNT,
            "time": sandpipe_state::now(),
            "region": self.region,
            "resources": [format!("arn:aws:codepipeline:{}:{LOCAL_ACCOUNT}:{}", self.region, self.pipeline)],
            "detail": detail,
        });
        // One write per event, so a reader never sees half a line; a journal line that cannot
        // be written must not stop the run.
        let mut line = event.to_string();
        line.push('\n');
        let _ = self
            .file
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .write_all(line.as_bytes());
    }
}

/// An execution's trigger as EventBridge events carry it.
fn trigger_json(trigger: &ExecutionTrigger) -> Value {
    json!({"trigger-type": trigger.trigger_type, "trigger-detail": trigger.trigger_detail})
}

/// The EventBridge `state` of an execution, stage or action status (by its API name).
fn event_state(status: &str) -> &'static str {
    match status {
        "NotStarted" | "InProgress" => "STARTED",
        "Cancelled" | "Skipped" => "CANCELED",
        "Stopped" => "STOPPED",
        "Stopping" => "STOPPING",
        "Succeeded" => "SUCCEEDED",
        "Superseded" => "SUPERSEDED",
        "Abandoned" => "ABANDONED",
        _ => "FAILED",
    }
}

impl RunObserver for EventJournal {
    fn on_event(&self, event: RunEvent) {
        match event {
            RunEvent::ExecutionStarted { execution_id, resumed, trigger, .. } => self.write(
                "CodePipeline Pipeline Execution State Change",
                json!({"pipeline": self.pipeline, "execution-id": execution_id,
                       "execution-trigger": trigger.as_ref().map(trigger_json),
                       "state": if resumed { "RESUMED" } else { "STARTED" }, "version": self.pipeline_version}),
            ),
            RunEvent::ExecutionFinished { record } => self.write(
                "CodePipeline Pipeline Execution State Change",
                json!({"pipeline": self.pipeline, "execution-id": record.pipeline_execution_id,
                       "execution-trigger": record.trigger.as_ref().map(trigger_json),
                       "state": event_state(record.status.as_str()), "version": self.pipeline_version}),
            ),
            RunEvent::StopRequested { execution_id, .. } => self.write(
                "CodePipeline Pipeline Execution State Change",
                json!({"pipeline": self.pipeline, "execution-id": execution_id,
                       "state": "STOPPING", "version": self.pipeline_version}),
            ),
            RunEvent::StageStarted { execution_id, stage } => self.write(
                "CodePipeline Stage Execution State Change",
                json!({"pipeline": self.pipeline, "execution-id": execution_id, "stage": stage, "state": "STARTED", "version": self.pipeline_version}),
            ),
            RunEvent::StageFinished { execution_id, stage, status } => self.write(
                "CodePipeline Stage Execution State Change",
                json!({"pipeline": self.pipeline, "execution-id": execution_id, "stage": stage, "state": event_state(status.as_str()), "version": self.pipeline_version}),
            ),
            RunEvent::ActionStarted { execution_id, stage, action } => {
                let action_type = self.action_types.get(&(stage.clone(), action.clone()));
                self.write(
                    "CodePipeline Action Execution State Change",
                    json!({"pipeline": self.pipeline, "execution-id": execution_id, "stage": stage, "action": action,
                           "state": "STARTED", "region": self.region, "type": action_type.map(type_json), "version": self.pipeline_version}),
                );
            }
            RunEvent::ActionFinished { execution_id, stage, record } => {
                let action_type = self.action_types.get(&(stage.clone(), record.name.clone()));
                let mut detail = json!({"pipeline": self.pipeline, "execution-id": execution_id, "stage": stage, "action": record.name,
                                        "state": event_state(record.status.as_str()), "region": self.region,
                                        "type": action_type.map(type_json), "version": self.pipeline_version});
                let mut result = serde_json::Map::new();
                if let Some(summary) = &record.summary {
                    result.insert("external-execution-summary".into(), json!(summary));
                }
                if let Some(id) = &record.external_execution_id {
                    result.insert("external-execution-id".into(), json!(id));
                }
                if let Some(error) = &record.error {
                    result.insert("error-code".into(), json!(error.code));
                    result.insert("external-execution-summary".into(), json!(error.message));
                }
                if !result.is_empty() {
                    detail["execution-result"] = Value::Object(result);
                }
                self.write("CodePipeline Action Execution State Change", detail);
            }
            RunEvent::ActionOutput { .. } | RunEvent::StageNote { .. } => {}
        }
    }
}

fn type_json(id: &ActionTypeId) -> Value {
    json!({"owner": format!("{:?}", id.owner), "category": format!("{:?}", id.category), "provider": id.provider, "version": id.version})
}
