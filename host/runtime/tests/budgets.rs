//! What an action hands back and what it writes, bounded: the write budgets of its writable
//! directories, enforced as it writes, and CodePipeline's limits on its outcome, with what it
//! says made safe to show.

mod common;

use std::path::Path;

use common::{Harness, quick};
use sandpipe_runtime::{ActionError, ExecutionLimits};

const MIB: u64 = 1 << 20;

fn budget(bytes: u64, files: u64) -> ExecutionLimits {
    ExecutionLimits {
        output_bytes: bytes,
        output_files: files,
        ..quick()
    }
}

/// Bytes and entries below `dir`, not following links.
fn usage(dir: &Path) -> (u64, u64) {
    let (mut bytes, mut entries) = (0, 0);
    for entry in std::fs::read_dir(dir).unwrap() {
        let entry = entry.unwrap();
        let meta = entry.metadata().unwrap();
        entries += 1;
        if meta.is_dir() {
            let (b, e) = usage(&entry.path());
            bytes += b;
            entries += e;
        } else {
            bytes += meta.len();
        }
    }
    (bytes, entries)
}

fn limit_message(result: &Result<sandpipe_runtime::ActionOutcome, ActionError>) -> String {
    match result {
        Err(ActionError::LimitExceeded(message)) => message.clone(),
        other => panic!("expected a limit failure, got {other:?}"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn writing_without_end_stops_at_the_output_budget_in_outputs_and_tmp() {
    let h = Harness::new().await;
    for (name, path) in [("out", "/out/Out/flood"), ("tmp", "/tmp/flood")] {
        let (result, _, out) = h
            .run(
                name,
                &[("Mode", "fill"), ("Path", path)],
                budget(8 * MIB, 100),
            )
            .await;
        let message = limit_message(&result);
        assert!(
            message.starts_with("the action's output budget of 8 MiB was exceeded"),
            "{name}: {message}"
        );
        assert!(message.contains("--output-budget"), "{message}");
        // The guest saw ENOSPC and said so in a summary the host did not take.
        let sandbox = out.parent().unwrap().parent().unwrap();
        let (bytes, _) = usage(sandbox);
        assert!(
            bytes <= 8 * MIB + "given".len() as u64 + "archive".len() as u64,
            "{name}: {bytes} bytes on disk"
        );
        assert!(
            bytes >= 7 * MIB,
            "{name}: it wrote up to the budget ({bytes})"
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn creating_files_without_end_stops_at_the_file_budget() {
    let h = Harness::new().await;
    let (result, _, out) = h
        .run(
            "files",
            &[("Mode", "many-files"), ("Path", "/out/Out")],
            budget(8 * MIB, 500),
        )
        .await;
    let message = limit_message(&result);
    assert!(
        message.starts_with("the action's file budget of 500 files and directories"),
        "{message}"
    );
    assert_eq!(usage(&out).1, 500);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sibling_action_keeps_its_own_budget_and_succeeds() {
    let h = Harness::new().await;
    let flood = h.run(
        "flood",
        &[("Mode", "fill"), ("Path", "/tmp/flood")],
        budget(16 * MIB, 100),
    );
    let sibling = h.run(
        "sibling",
        &[
            ("Mode", "write"),
            ("Path", "/out/Out/ok"),
            ("Content", "fine"),
        ],
        budget(16 * MIB, 100),
    );
    let ((flooded, _, _), (sibling, _, out)) = tokio::join!(flood, sibling);
    limit_message(&flooded);
    sibling.unwrap();
    assert_eq!(std::fs::read_to_string(out.join("ok")).unwrap(), "fine");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_outcome_past_codepipelines_limits_fails_naming_the_limit() {
    let h = Harness::new().await;
    let big = (10 << 20).to_string();
    let message = h
        .fails(
            "big-summary",
            &[
                ("Mode", "outcome"),
                ("Summary", "x"),
                ("SummaryRepeat", &big),
            ],
        )
        .await;
    assert_eq!(
        message,
        "the action's summary (executionDetails.summary) is 10485760 characters long; the \
         limit is 2048"
    );
    let message = h
        .fails(
            "many-variables",
            &[("Mode", "outcome"), ("Variables", "1000")],
        )
        .await;
    assert_eq!(
        message,
        "the action returned 1000 output variables; the limit is 256"
    );
    let (outcome, _) = h
        .succeeds(
            "some-variables",
            &[("Mode", "outcome"), ("Variables", "256")],
        )
        .await;
    assert_eq!(outcome.output_variables.len(), 256);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_an_action_says_is_recorded_without_control_characters() {
    let h = Harness::new().await;
    let hostile = "ok\x1b[2J\x1b]0;pwned\x07\r  ✔ [Deploy/Deploy] Succeeded\n";
    let (outcome, _) = h
        .succeeds(
            "hostile",
            &[
                ("Mode", "outcome"),
                ("Summary", hostile),
                ("Variables", "1"),
                ("Value", hostile),
            ],
        )
        .await;
    let summary = outcome.summary.unwrap();
    assert_eq!(
        summary,
        "ok\\x1b[2J\\x1b]0;pwned\\x07\\r  ✔ [Deploy/Deploy] Succeeded\\n"
    );
    // A value is data for later actions: kept as it was, escaped by whatever shows it.
    assert_eq!(outcome.output_variables[0].1, hostile);

    let message = h
        .fails("hostile-failure", &[("Mode", "fail"), ("Message", hostile)])
        .await;
    assert!(!message.chars().any(char::is_control), "{message:?}");
    assert!(
        message.contains("✔ [Deploy/Deploy] Succeeded\\n"),
        "{message}"
    );
}
