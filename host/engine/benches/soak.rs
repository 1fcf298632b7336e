//! Soak: 10,000 action executions in one process, after a warm-up of 2,000 that fills what
//! is meant to fill (SQLite's page cache, the allocator's arenas): 1,000 executions of a
//! 10-action pipeline, four at a time, every tenth a pipeline whose actions fail in hostile
//! ways (a flood stopped at its write budget, files past the file budget, a summary past
//! CodePipeline's limit). Then what the process holds: resident memory against its level
//! after the warm-up, open file descriptors, and sandbox directories left in the work area.
//!
//! cargo bench -p sandpipe-engine --bench soak

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use sandpipe_engine::testing::{memory_mib, probe_runner_with, state_with_source};
use sandpipe_engine::{ExecutionRequest, NoObserver, RunnerSettings};
use sandpipe_runtime::ExecutionLimits;

const EXECUTIONS: usize = 1_000;
const WARM_UP: usize = 200;
const CONCURRENT: usize = 4;

fn probe(name: &str, configuration: &str) -> String {
    format!(
        r#"{{"name":"{name}","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
          "configuration":{configuration},"outputArtifacts":[{{"name":"{name}Out"}}]}}"#
    )
}

fn pipeline(name: &str, stages: &[(&str, Vec<String>)]) -> sandpipe_model::LoadedPipeline {
    let stages: Vec<String> = stages
        .iter()
        .map(|(stage, actions)| {
            format!(r#"{{"name":"{stage}","actions":[{}]}}"#, actions.join(","))
        })
        .collect();
    let text = format!(
        r#"{{"name":"{name}","pipelineType":"V2","executionMode":"PARALLEL","roleArn":"arn:aws:iam::123456789012:role/r",
          "artifactStore":{{"type":"S3","location":"artifacts"}},"stages":[
          {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
            "configuration":{{"S3Bucket":"sources","S3ObjectKey":"file"}},"outputArtifacts":[{{"name":"Src"}}]}}]}},
          {}]}}"#,
        stages.join(",")
    );
    sandpipe_model::parse_document(&format!("{name}.json"), &text, false).unwrap()
}

/// Resident memory of this process now.
fn rss_mib() -> f64 {
    memory_mib("VmRSS")
}

fn open_fds() -> usize {
    std::fs::read_dir("/proc/self/fd").map_or(0, |d| d.count())
}

fn main() {
    let scratch = tempfile::tempdir().unwrap();
    let work = scratch.path().join("work");
    let runner = Arc::new(probe_runner_with(RunnerSettings {
        work_dir: Some(work.clone()),
        limits: ExecutionLimits {
            output_bytes: 4 << 20,
            output_files: 1_000,
            ..ExecutionLimits::default()
        },
        ..RunnerSettings::new(state_with_source(scratch.path()))
    }));
    let hostile = "ok\x1b[2J\r  forged\n"
        .replace('\x1b', "\\u001b")
        .replace('\r', "\\r")
        .replace('\n', "\\n");
    let good = pipeline(
        "soak",
        &[
            (
                "First",
                vec![
                    probe("Noop", r#"{"Mode":"noop"}"#),
                    probe(
                        "Write",
                        r#"{"Mode":"write","Path":"/out/WriteOut/f","Content":"x"}"#,
                    ),
                    probe("Print", r#"{"Mode":"print","Lines":"20"}"#),
                    probe(
                        "Say",
                        &format!(
                            r#"{{"Mode":"outcome","Summary":"{hostile}","Variables":"3","Value":"{hostile}"}}"#
                        ),
                    ),
                    probe(
                        "Files",
                        r#"{"Mode":"write","Path":"/tmp/scratch","Content":"y"}"#,
                    ),
                ],
            ),
            (
                "Second",
                (0..4)
                    .map(|n| probe(&format!("Noop{n}"), r#"{"Mode":"noop"}"#))
                    .collect(),
            ),
        ],
    );
    let bad = pipeline(
        "hostile",
        &[(
            "Hostile",
            vec![
                probe("Flood", r#"{"Mode":"fill","Path":"/tmp/flood"}"#),
                probe(
                    "Big",
                    r#"{"Mode":"outcome","Summary":"x","SummaryRepeat":"100000"}"#,
                ),
                probe("Many", r#"{"Mode":"outcome","Variables":"1000"}"#),
                probe(
                    "Hostile",
                    r#"{"Mode":"fail","Message":"\u001b]0;pwned\u0007"}"#,
                ),
                probe("Files", r#"{"Mode":"many-files","Path":"/tmp"}"#),
                probe("Noop0", r#"{"Mode":"noop"}"#),
                probe("Noop1", r#"{"Mode":"noop"}"#),
                probe("Noop2", r#"{"Mode":"noop"}"#),
                probe("Noop3", r#"{"Mode":"noop"}"#),
            ],
        )],
    );
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .unwrap();
    let run = |range: std::ops::Range<usize>| {
        let runner = runner.clone();
        let (good, bad) = (good.clone(), bad.clone());
        runtime.block_on(async move {
            futures::stream::iter(range)
                .map(|n| {
                    let loaded = if n % 10 == 9 {
                        bad.clone()
                    } else {
                        good.clone()
                    };
                    let runner = runner.clone();
                    async move {
                        runner
                            .execute(
                                ExecutionRequest::start(loaded, "soak.json"),
                                Arc::new(NoObserver),
                            )
                            .await
                            .unwrap()
                    }
                })
                .buffer_unordered(CONCURRENT)
                .collect::<Vec<_>>()
                .await
        })
    };
    let warm_up_started = Instant::now();
    run(0..WARM_UP);
    println!(
        "warm-up: {WARM_UP} executions in {:.1} s",
        warm_up_started.elapsed().as_secs_f64()
    );
    let (rss_warm, fds_warm) = (rss_mib(), open_fds());
    let started = Instant::now();
    let step = EXECUTIONS / 10;
    let mut rss = Vec::new();
    let mut failed = 0;
    for chunk in 0..10 {
        let first = WARM_UP + chunk * step;
        let records = run(first..first + step);
        failed += records
            .iter()
            .filter(|r| r.status != sandpipe_engine::ExecutionStatus::Succeeded)
            .count();
        rss.push(rss_mib());
    }
    let elapsed = started.elapsed();
    let (rss_end, fds_end) = (rss[9], open_fds());
    let actions = EXECUTIONS * 10;
    let left = std::fs::read_dir(&work)
        .map(|d| {
            d.filter_map(Result::ok)
                .filter(|e| e.path().is_dir())
                .count()
        })
        .unwrap_or(0);
    println!(
        "{EXECUTIONS} executions, {actions} actions, {CONCURRENT} at a time, in {:.1} s ({:.2} ms per action); {failed} failed as meant",
        elapsed.as_secs_f64(),
        elapsed.as_secs_f64() * 1000.0 / actions as f64
    );
    let shown: Vec<String> = rss.iter().map(|r| format!("{r:.1}")).collect();
    println!("RSS (MiB) after each tenth: {}", shown.join(" "));
    println!(
        "RSS after the warm-up {rss_warm:.1} MiB, at the end {rss_end:.1} MiB: drift {:+.1}%",
        (rss_end - rss_warm) / rss_warm * 100.0
    );
    println!("open file descriptors: {fds_warm} after the warm-up, {fds_end} at the end");
    println!("sandbox directories left in the work area: {left}");
}
