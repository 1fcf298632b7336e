//! Shared by this crate's tests and benchmarks: requests and invocations with everything
//! but what a test is about left at its plainest.

use std::sync::Arc;
use std::time::Duration;

use sandpipe_store::LocalS3;

use crate::action::{ActionRequest, InputArtifact, OutputArtifact};
use crate::capabilities::log::{ActionEvent, EventSink};
use crate::invoke::Invocation;
use crate::limits::ExecutionLimits;
use crate::sandbox::Sandbox;

/// The async runtime tests and benchmarks drive the host with.
pub fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("starting the async runtime")
}

/// Drops every event.
pub struct Discard;

impl EventSink for Discard {
    fn emit(&self, _: ActionEvent) {}
}

/// A request for `action_type` with `configuration`, the given input and output artifact
/// names at their usual guest paths.
pub fn request(
    action_type: &str,
    configuration: &[(&str, &str)],
    inputs: &[&str],
    outputs: &[&str],
) -> ActionRequest {
    ActionRequest {
        pipeline: "p".into(),
        stage: "s".into(),
        action: "a".into(),
        execution_id: "e".into(),
        action_type: action_type.parse().expect("a valid action type"),
        configuration: configuration
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        inputs: inputs
            .iter()
            .map(|name| InputArtifact::staged(name, None))
            .collect(),
        outputs: outputs
            .iter()
            .map(|name| OutputArtifact::staged(name))
            .collect(),
        started_with: None,
        masked: Vec::new(),
    }
}

/// An invocation with no grants, events dropped, and `timeout`.
pub fn invocation(
    request: ActionRequest,
    sandbox: Arc<Sandbox>,
    object_store: &Arc<LocalS3>,
    timeout: Duration,
) -> Invocation {
    Invocation {
        request,
        sandbox,
        object_store: object_store.clone(),
        limits: ExecutionLimits {
            timeout,
            ..ExecutionLimits::default()
        },
        events: Arc::new(Discard),
        cancel: None,
        grants: Default::default(),
        determinism: None,
    }
}
