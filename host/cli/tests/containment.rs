//! What a hostile action or artifact can do to the operator, end to end through the real
//! binary: text it controls never reaches the terminal as control characters, outcomes past
//! CodePipeline's limits fail at once instead of hanging the CLI, writes stop at their
//! budget while a sibling action succeeds, ambiguous zips are refused, and no action starts
//! when the disk is nearly full.

use std::path::PathBuf;
use std::time::{Duration, Instant};

mod common;
use common::Workspace;

const PROBE: &str = sandpipe_runtime::providers::PROBE_COMPONENT_PATH;
const HOSTILE: &str = "ok\x1b[2J\x1b]0;pwned\x07\r  ✔ [Deploy/Deploy] Succeeded\n\u{9b}31m\u{202e}";

/// A pipeline: an S3 source (`source-bucket/src.zip` → `Src`), then one stage of probe
/// actions, each `(name, configuration)` with input `Src` and an output of its own name.
fn pipeline(ws: &Workspace, actions: &[(&str, serde_json::Value)]) -> PathBuf {
    let probes: Vec<serde_json::Value> = actions
        .iter()
        .map(|(name, configuration)| {
            serde_json::json!({
                "name": name,
                "actionTypeId": {"category": "Build", "owner": "Custom", "provider": "Probe", "version": "1"},
                "configuration": configuration,
                "inputArtifacts": [{"name": "Src"}],
                "outputArtifacts": [{"name": format!("{name}Out")}],
            })
        })
        .collect();
    let pipeline = serde_json::json!({
        "name": "hostile",
        "roleArn": "arn:aws:iam::000000000000:role/r",
        "artifactStore": {"type": "S3", "location": "artifact-store-bucket"},
        "stages": [
            {"name": "Source", "actions": [{
                "name": "Fetch",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": "source-bucket", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "Src"}],
            }]},
            {"name": "Hostile", "actions": probes},
        ],
    });
    ws.write("pipeline.json", pipeline.to_string())
}

/// `sandpipe ARGS`: whether it succeeded, and stdout and stderr together.
fn sandpipe(ws: &Workspace, args: &[&str]) -> (bool, String) {
    let output = ws.sandpipe(args);
    let text = format!(
        "{}{}",
        String::from_utf8(output.stdout).unwrap(),
        String::from_utf8(output.stderr).unwrap()
    );
    (output.status.success(), text)
}

fn run(ws: &Workspace, file: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let provider = format!("Build/Custom/Probe/1={PROBE}");
    let mut args = vec![
        "run",
        file.to_str().unwrap(),
        "--plain",
        "--provider",
        &provider,
    ];
    args.extend_from_slice(extra);
    sandpipe(ws, &args)
}

/// No byte of `text` (but line breaks) is a control character or a bidirectional override.
fn assert_no_controls(what: &str, text: &str) {
    let bad: Vec<char> = text
        .chars()
        .filter(|&c| {
            (c.is_control() && c != '\n')
                || matches!(c, '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}')
        })
        .collect();
    assert!(bad.is_empty(), "{what} printed {bad:?}:\n{text}");
}

fn latest_execution(ws: &Workspace) -> String {
    let records = ws.records();
    records.last().unwrap()["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string()
}

#[test]
fn what_an_action_says_reaches_the_terminal_without_control_characters() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let file = pipeline(
        &ws,
        &[
            (
                "Speak",
                serde_json::json!({"Mode": "outcome", "Summary": HOSTILE, "Variables": "1", "Value": HOSTILE}),
            ),
            (
                "Fail",
                serde_json::json!({"Mode": "fail", "Message": HOSTILE}),
            ),
        ],
    );
    let (ok, output) = run(&ws, &file, &[]);
    assert!(!ok, "{output}");
    assert_no_controls("run", &output);
    // Still readable: the forged line is shown as text, on the line of the action it came from.
    assert!(
        output.contains("✘ [Hostile/Fail] Failed in")
            && output.contains(
                "JobFailed: ok\\x1b[2J\\x1b]0;pwned\\x07\\r  ✔ [Deploy/Deploy] Succeeded\\n"
            ),
        "{output}"
    );
    assert!(!output.contains("\n  ✔ [Deploy/Deploy]"), "{output}");

    let id = latest_execution(&ws);
    for args in [
        vec!["executions", "show", id.as_str()],
        vec!["executions", "list"],
        vec!["logs", id.as_str()],
    ] {
        let (_, shown) = sandpipe(&ws, &args);
        assert_no_controls(&args.join(" "), &shown);
    }
    let (_, shown) = sandpipe(&ws, &["executions", "show", &id]);
    assert!(
        shown.contains("variable v0 = ok\\x1b[2J\\x1b]0;pwned\\x07\\r  ✔ [Deploy/Deploy] Succeeded\\n\\u{9b}31m\\u{202e}"),
        "{shown}"
    );
    // The record keeps the variable's value as the action gave it: it is data.
    let record = ws.records().pop().unwrap();
    assert_eq!(
        record["stages"][1]["actions"][0]["outputVariables"]["v0"],
        HOSTILE
    );
}

#[test]
fn an_outsized_outcome_fails_the_action_and_is_shown_at_once() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let ten_mib = (10 << 20).to_string();
    let file = pipeline(
        &ws,
        &[
            (
                "Big",
                serde_json::json!({"Mode": "outcome", "Summary": "x", "SummaryRepeat": ten_mib}),
            ),
            (
                "Many",
                serde_json::json!({"Mode": "outcome", "Variables": "1000"}),
            ),
        ],
    );
    // Only a guard against a hang (a 10 MiB summary once kept the CLI busy for minutes);
    // BENCHMARKS.md has the figures.
    let started = Instant::now();
    let (ok, output) = run(&ws, &file, &[]);
    assert!(started.elapsed() < Duration::from_secs(60), "{output}");
    assert!(!ok, "{output}");
    assert!(
        output.contains(
            "JobFailed: the action's summary (executionDetails.summary) is 10485760 characters \
             long; the limit is 2048"
        ),
        "{output}"
    );
    assert!(
        output.contains("JobFailed: the action returned 1000 output variables; the limit is 256"),
        "{output}"
    );
    let id = latest_execution(&ws);
    let started = Instant::now();
    let (_, shown) = sandpipe(&ws, &["executions", "show", &id]);
    assert!(started.elapsed() < Duration::from_secs(30));
    assert!(shown.len() < 64 << 10, "{} bytes shown", shown.len());
}

#[test]
fn a_flood_stops_at_its_budget_while_its_sibling_succeeds() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let file = pipeline(
        &ws,
        &[
            (
                "Flood",
                serde_json::json!({"Mode": "fill", "Path": "/tmp/flood"}),
            ),
            (
                "Sibling",
                serde_json::json!({"Mode": "write", "Path": "/out/SiblingOut/ok", "Content": "fine"}),
            ),
        ],
    );
    let (ok, output) = run(&ws, &file, &["--output-budget", "8MiB"]);
    assert!(!ok, "{output}");
    let record = ws.records().pop().unwrap();
    let actions = &record["stages"][1]["actions"];
    assert_eq!(actions[0]["status"], "Failed");
    let message = actions[0]["error"]["message"].as_str().unwrap();
    assert!(
        message.starts_with("the action's output budget of 8 MiB was exceeded"),
        "{message}"
    );
    assert_eq!(actions[1]["status"], "Succeeded", "{output}");
}

#[test]
fn an_ambiguous_zip_is_refused_naming_its_entry_safely() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    let evil = "\x1b]0;t\x07evil\x00.txt";
    ws.write(
        "src.zip",
        sandpipe_store::testing::zip_of(&[("a.txt", 'f'), (evil, 'f'), (evil, 'f')]),
    );
    ws.ok(&["s3", "cp", "src.zip", "s3://source-bucket/src.zip"]);
    let file = pipeline(&ws, &[("Copy", serde_json::json!({"Mode": "copy-inputs"}))]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(!ok, "{output}");
    assert_no_controls("run", &output);
    assert!(
        output.contains(
            "zip entry '\\x1b]0;t\\x07evil\\x00.txt' names the same path as an earlier entry"
        ),
        "{output}"
    );
}

#[test]
fn no_action_starts_below_the_disk_reserve() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let file = pipeline(&ws, &[("Noop", serde_json::json!({"Mode": "noop"}))]);
    let (ok, output) = run(&ws, &file, &["--disk-reserve", "1000000GiB"]);
    assert!(!ok, "{output}");
    assert!(
        output.contains(
            "sandpipe keeps 1000000 GiB free there (--disk-reserve) and starts no action below it"
        ),
        "{output}"
    );
    assert!(output.contains("SystemUnavailable"), "{output}");
}
