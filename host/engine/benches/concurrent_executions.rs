//! 200 concurrent executions of a 10-action no-op pipeline (an S3 source and nine no-op wasm
//! actions in two stages), in one process, PARALLEL mode: wall time and peak RSS.
//!
//! cargo bench -p sandpipe-engine --bench concurrent_executions

use std::sync::Arc;
use std::time::Instant;

use sandpipe_engine::testing::{memory_mib, probe_runner, state_with_source};
use sandpipe_engine::{ExecutionRequest, ExecutionStatus, NoObserver};

const EXECUTIONS: usize = 200;
const ROUNDS: usize = 3;

fn pipeline() -> String {
    let noop = |name: String| {
        format!(
            r#"{{"name":"{name}","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},"configuration":{{"Mode":"noop"}}}}"#
        )
    };
    let stage = |name: &str, actions: Vec<String>| {
        format!(r#"{{"name":"{name}","actions":[{}]}}"#, actions.join(","))
    };
    format!(
        r#"{{"name":"bench","pipelineType":"V2","executionMode":"PARALLEL","roleArn":"arn:aws:iam::123456789012:role/r",
          "artifactStore":{{"type":"S3","location":"artifacts"}},"stages":[
          {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
            "configuration":{{"S3Bucket":"sources","S3ObjectKey":"file"}},"outputArtifacts":[{{"name":"Src"}}]}}]}},
          {}, {}]}}"#,
        stage("First", (0..5).map(|n| noop(format!("A{n}"))).collect()),
        stage("Second", (0..4).map(|n| noop(format!("B{n}"))).collect()),
    )
}

/// Peak resident set size of this process.
fn peak_rss_mib() -> f64 {
    memory_mib("VmHWM")
}

fn main() {
    let scratch = tempfile::tempdir().unwrap();
    let loaded = sandpipe_model::parse_document("bench.json", &pipeline(), false).unwrap();
    let runner = probe_runner(state_with_source(scratch.path()), None);
    let request = || ExecutionRequest::start(loaded.clone(), "bench.json");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    // Compile (or load) the components once, outside the measurement.
    let warm = runtime
        .block_on(runner.execute(request(), Arc::new(NoObserver)))
        .unwrap();
    assert_eq!(warm.status, ExecutionStatus::Succeeded);

    println!(
        "{EXECUTIONS} concurrent executions of a 10-action pipeline (PARALLEL), {ROUNDS} rounds"
    );
    for round in 1..=ROUNDS {
        let started = Instant::now();
        let runs = (0..EXECUTIONS).map(|_| runner.execute(request(), Arc::new(NoObserver)));
        let records = runtime.block_on(futures::future::join_all(runs));
        let elapsed = started.elapsed();
        for record in records {
            assert_eq!(record.unwrap().status, ExecutionStatus::Succeeded);
        }
        println!(
            "round {round}: {:.2} s in all, {:.1} ms per execution, {:.2} ms per action; peak RSS {:.0} MiB",
            elapsed.as_secs_f64(),
            elapsed.as_secs_f64() * 1000.0 / EXECUTIONS as f64,
            elapsed.as_secs_f64() * 1000.0 / (EXECUTIONS * 10) as f64,
            peak_rss_mib()
        );
    }
}
