//! The probe harness the sandbox and budget tests share: the test-only probe component run
//! as one action with one input (`Given`, holding `secret.txt`) and one output (`Out`).
#![allow(dead_code)]

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use sandpipe_runtime::providers::PROBE_COMPONENT_PATH;
use sandpipe_runtime::testing::request;
use sandpipe_runtime::{
    ActionError, ActionEvent, ActionHost, ActionOutcome, EventSink, ExecutionLimits, Invocation,
    LoadedComponent, Sandbox,
};
use sandpipe_store::LocalS3;

#[derive(Default)]
pub struct Events(pub Mutex<Vec<ActionEvent>>);

impl EventSink for Events {
    fn emit(&self, event: ActionEvent) {
        self.0.lock().unwrap().push(event);
    }
}

pub struct Harness {
    pub scratch: tempfile::TempDir,
    pub engine: Arc<ActionHost>,
    pub probe: LoadedComponent,
    pub s3: Arc<LocalS3>,
}

impl Harness {
    pub async fn new() -> Harness {
        let scratch = tempfile::tempdir().unwrap();
        let engine = ActionHost::new(sandpipe_runtime::ComponentCache::default_dir()).unwrap();
        let wasm: Arc<[u8]> = std::fs::read(PROBE_COMPONENT_PATH).unwrap().into();
        let probe = engine.load(wasm).await.unwrap();
        let s3 = Arc::new(LocalS3::open(&scratch.path().join("s3")).unwrap());
        Harness {
            scratch,
            engine,
            probe,
            s3,
        }
    }

    /// Run the probe with `config`, one input `Given` holding `secret.txt`, one output `Out`.
    pub async fn run(
        &self,
        name: &str,
        config: &[(&str, &str)],
        limits: ExecutionLimits,
    ) -> (
        Result<ActionOutcome, ActionError>,
        Vec<ActionEvent>,
        std::path::PathBuf,
    ) {
        let root = self.scratch.path().join(name);
        let mut sandbox = Sandbox::create(&root).unwrap();
        let (tree, archive) = sandbox.add_input("Given").unwrap();
        std::fs::write(tree.join("secret.txt"), "given").unwrap();
        std::fs::write(archive, "archive").unwrap();
        let out = sandbox.add_output("Out").unwrap();
        let mut request = request("Build/Custom/Probe/1", config, &["Given"], &["Out"]);
        request.action = name.into();
        let events = Arc::new(Events::default());
        let result = self
            .engine
            .execute(
                &self.probe,
                Invocation {
                    request,
                    sandbox: Arc::new(sandbox),
                    object_store: self.s3.clone(),
                    limits,
                    events: events.clone(),
                    cancel: None,
                    grants: Default::default(),
                    determinism: None,
                },
            )
            .await
            .outcome;
        let events = events.0.lock().unwrap().clone();
        (result, events, out)
    }
}

impl Harness {
    /// Run the probe as [`Self::run`] does, with [`quick`] limits; it must fail. Its message.
    pub async fn fails(&self, name: &str, config: &[(&str, &str)]) -> String {
        failure_message(&self.run(name, config, quick()).await.0)
    }

    /// Run the probe with [`quick`] limits; it must succeed. Its outcome and output directory.
    pub async fn succeeds(&self, name: &str, config: &[(&str, &str)]) -> (ActionOutcome, PathBuf) {
        let (result, _, out) = self.run(name, config, quick()).await;
        (result.unwrap(), out)
    }
}

pub fn quick() -> ExecutionLimits {
    ExecutionLimits {
        timeout: Duration::from_secs(20),
        ..ExecutionLimits::default()
    }
}

pub fn failure_message(result: &Result<ActionOutcome, ActionError>) -> String {
    match result {
        Ok(outcome) => panic!("expected a failure, got {outcome:?}"),
        Err(failure) => failure.message(),
    }
}
