//! Executions on one `PipelineRunner`, in one process: two at once, each with its own
//! variables (both records right, and the two ran at the same time); approvals and stops
//! made through the runner reaching the executions that wait for them.

use std::collections::BTreeMap;
use std::sync::Arc;

use sandpipe_engine::testing::{probe_runner, state_with_source};
use sandpipe_engine::{ExecutionRequest, ExecutionStatus, NoObserver};

const PIPELINE: &str = r##"{"name":"greetings","pipelineType":"V2","executionMode":"PARALLEL",
  "roleArn":"arn:aws:iam::123456789012:role/r",
  "artifactStore":{"type":"S3","location":"artifacts"},
  "variables":[{"name":"Greeting","defaultValue":"none"}],
  "stages":[
    {"name":"Source","actions":[{"name":"Fetch",
      "actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
      "configuration":{"S3Bucket":"sources","S3ObjectKey":"file"},"outputArtifacts":[{"name":"Src"}]}]},
    {"name":"Work","actions":[
      {"name":"Wait","runOrder":1,
       "actionTypeId":{"category":"Build","owner":"Custom","provider":"Probe","version":"1"},
       "configuration":{"Mode":"sleep","Millis":"600"}},
      {"name":"Echo","runOrder":1,"namespace":"Echo",
       "actionTypeId":{"category":"Build","owner":"Custom","provider":"Probe","version":"1"},
       "configuration":{"Mode":"echo-config","Greeting":"#{variables.Greeting}",
                        "Execution":"#{codepipeline.PipelineExecutionId}"}},
      {"name":"Again","runOrder":2,
       "actionTypeId":{"category":"Build","owner":"Custom","provider":"Probe","version":"1"},
       "configuration":{"Mode":"echo-config","Seen":"#{Echo.Greeting}"}}]}]}"##;

/// A runner with a source object in `dir`, and `document` loaded as `file`.
fn prepared(
    dir: &std::path::Path,
    file: &str,
    document: &str,
) -> (
    sandpipe_engine::PipelineRunner,
    sandpipe_model::LoadedPipeline,
) {
    let runner = probe_runner(state_with_source(dir), Some(dir.join("work")));
    let loaded = sandpipe_model::parse_document(file, document, false).unwrap();
    (runner, loaded)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_executions_run_at_once_on_one_runner_each_with_its_own_variables() {
    let scratch = tempfile::tempdir().unwrap();
    let (runner, loaded) = prepared(scratch.path(), "greetings.json", PIPELINE);
    let request = |greeting: &str| {
        ExecutionRequest::start(loaded.clone(), "greetings.json").with_variables(BTreeMap::from([
            ("Greeting".to_string(), greeting.to_string()),
        ]))
    };
    let (hello, bonjour) = tokio::join!(
        runner.execute(request("hello"), Arc::new(NoObserver)),
        runner.execute(request("bonjour"), Arc::new(NoObserver)),
    );
    let (hello, bonjour) = (hello.unwrap(), bonjour.unwrap());
    assert_ne!(hello.pipeline_execution_id, bonjour.pipeline_execution_id);
    for (record, greeting) in [(&hello, "hello"), (&bonjour, "bonjour")] {
        assert_eq!(record.status, ExecutionStatus::Succeeded, "{record:#?}");
        assert_eq!(record.variables["Greeting"], greeting);
        let echo = &record.stages[1].actions[1];
        assert_eq!(echo.resolved_configuration["Greeting"], greeting);
        assert_eq!(
            echo.output_variables,
            BTreeMap::from([
                (
                    "Execution".to_string(),
                    record.pipeline_execution_id.clone()
                ),
                ("Greeting".to_string(), greeting.to_string()),
            ])
        );
        let again = &record.stages[1].actions[2];
        assert_eq!(again.output_variables["Seen"], greeting);
        // What the store kept is what the runner returned.
        let stored = runner
            .state()
            .executions()
            .get(&record.pipeline_execution_id)
            .unwrap();
        assert_eq!(&stored, record);
    }
    // They overlapped: each started its wait before the other finished it.
    let wait = |record: &sandpipe_engine::ExecutionRecord| {
        let action = &record.stages[1].actions[0];
        (
            action.start_time.clone().unwrap(),
            action.end_time.clone().unwrap(),
        )
    };
    let ((hello_start, hello_end), (bonjour_start, bonjour_end)) = (wait(&hello), wait(&bonjour));
    assert!(hello_start < bonjour_end && bonjour_start < hello_end);
}

const APPROVAL: &str = r#"{"name":"gated","pipelineType":"V2","executionMode":"PARALLEL",
  "roleArn":"arn:aws:iam::123456789012:role/r",
  "artifactStore":{"type":"S3","location":"artifacts"},
  "stages":[
    {"name":"Source","actions":[{"name":"Fetch",
      "actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
      "configuration":{"S3Bucket":"sources","S3ObjectKey":"file"},"outputArtifacts":[{"name":"Src"}]}]},
    {"name":"Gate","actions":[{"name":"Approve",
      "actionTypeId":{"category":"Approval","owner":"AWS","provider":"Manual","version":"1"},
      "configuration":{"CustomData":"ship it?"}}]}]}"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn approvals_and_stops_through_the_runner_reach_its_executions() {
    let scratch = tempfile::tempdir().unwrap();
    let (runner, loaded) = prepared(scratch.path(), "gated.json", APPROVAL);
    let start = || ExecutionRequest::start(loaded.clone(), "gated.json");
    let place = ("gated", "Gate", "Approve");
    // Decide each approval as soon as it is open; stop the second execution instead.
    let decide = async {
        let mut decided = std::collections::BTreeSet::new();
        while decided.len() < 2 {
            tokio::time::sleep(std::time::Duration::from_millis(10)).await;
            let waiting = runner.state().executions().list(Some("gated"), 10).unwrap();
            for summary in waiting {
                let record = runner.state().executions().get(&summary.id).unwrap();
                let gate = &record.stages[1].actions[0];
                if gate.status != sandpipe_engine::ActionStatus::InProgress
                    || gate.external_execution_id.is_none()
                    || decided.contains(&summary.id)
                {
                    continue;
                }
                if decided.is_empty() {
                    let token = gate.external_execution_id.as_deref();
                    runner
                        .decide_approval(place, token, true, "looks good")
                        .unwrap()
                        .unwrap();
                } else {
                    let mode = sandpipe_state::StopMode::Abandon;
                    runner
                        .request_stop(&summary.id, mode, Some("not today"))
                        .unwrap()
                        .unwrap();
                }
                decided.insert(summary.id);
            }
        }
    };
    let runs = async {
        let approved = runner.execute(start(), Arc::new(NoObserver)).await.unwrap();
        let stopped = runner.execute(start(), Arc::new(NoObserver)).await.unwrap();
        (approved, stopped)
    };
    let ((approved, stopped), ()) = tokio::join!(runs, decide);
    assert_eq!(approved.status, ExecutionStatus::Succeeded, "{approved:#?}");
    assert_eq!(
        approved.stages[1].actions[0].summary.as_deref(),
        Some("Approved: looks good")
    );
    assert_eq!(stopped.status, ExecutionStatus::Stopped, "{stopped:#?}");
    assert_eq!(stopped.status_summary.as_deref(), Some("not today"));
    assert_eq!(
        stopped.stages[1].actions[0].status,
        sandpipe_engine::ActionStatus::Abandoned
    );
}
