//! Shared by this crate's tests and the engine's: a small execution record to store.

use std::collections::BTreeMap;

use crate::StateStore;
use crate::ownership::ProcessOwner;
use crate::record::{
    ActionRecord, ActionStatus, ExecutionRecord, ExecutionStatus, ExecutionTrigger, ExecutionType,
    StageRecord, StageStatus, now,
};

/// Execution `id` of pipeline `p` (version 1, variable Env=prod), in progress: a Source stage
/// with action A and a Deploy stage with B and C, none started.
pub fn record(id: &str) -> ExecutionRecord {
    let action = |name: &str| ActionRecord::not_started(name, "Source/AWS/S3/1".into(), 1);
    ExecutionRecord {
        pipeline_name: "p".into(),
        pipeline_version: 1,
        pipeline_execution_id: id.into(),
        status: ExecutionStatus::InProgress,
        status_summary: None,
        source_file: "p.json".into(),
        variables: BTreeMap::from([("Env".to_string(), "prod".to_string())]),
        execution_type: ExecutionType::Standard,
        rollback_target: None,
        trigger: Some(ExecutionTrigger {
            trigger_type: "StartPipelineExecution".into(),
            trigger_detail: "sandpipe run".into(),
        }),
        replay_of: None,
        determinism: None,
        start_time: now(),
        end_time: None,
        stages: vec![
            StageRecord {
                name: "Source".into(),
                status: StageStatus::NotStarted,
                actions: vec![action("A")],
                rules: Vec::new(),
            },
            StageRecord {
                name: "Deploy".into(),
                status: StageStatus::NotStarted,
                actions: vec![action("B"), action("C")],
                rules: Vec::new(),
            },
        ],
    }
}

/// An execution of a dead process, and one of this process.
pub fn orphan_and_alive(state: &StateStore) {
    let mut orphan = record("orphan");
    orphan.stages[0].status = StageStatus::InProgress;
    orphan.stages[0].actions[0].status = ActionStatus::InProgress;
    let dead = ProcessOwner {
        pid: u32::MAX - 1,
        started: "1".into(),
    };
    state
        .executions()
        .create(&orphan, &dead)
        .expect("storing the execution");
    state
        .executions()
        .create(&record("alive"), &ProcessOwner::current())
        .expect("storing the execution");
}
