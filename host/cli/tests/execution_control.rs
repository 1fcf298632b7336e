//! End-to-end tests of controlling executions with the `sandpipe` binary: manual approvals,
//! stop and abandon, retries, execution modes, transitions, runs killed part-way, stage
//! conditions and rollbacks. Each test has its own state directory; runs in other processes
//! are driven as a user in a second terminal would.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

mod common;
use common::pipelines::{build_pipeline, probe_grant, s3_pipeline, stage_status};
use common::{Workspace, zip_of};

fn approval_pipeline() -> String {
    s3_pipeline("source-bucket", "file", r#"{"BucketName":"target-bucket","Extract":"false","ObjectKey":"approved"}"#).replace(
        r#"{"name":"Deploy","actions""#,
        r#"{"name":"Approve","actions":[{"name":"Gate","actionTypeId":{"category":"Approval","owner":"AWS","provider":"Manual","version":"1"},
            "configuration":{"CustomData":"Check staging first","ExternalEntityLink":"https://staging.example.com"}}]},
          {"name":"Deploy","actions""#,
    )
}

impl Workspace {
    /// Start `sandpipe run` in the background.
    fn spawn(&self, args: &[&str]) -> std::process::Child {
        Command::new(env!("CARGO_BIN_EXE_sandpipe"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SANDPIPE_STATE_DIR")
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .unwrap()
    }

    /// Wait until the newest execution's action `stage/action` is InProgress; its record.
    fn wait_for_running(&self, stage: usize, action: usize) -> serde_json::Value {
        let started = std::time::Instant::now();
        loop {
            if let Some(record) = self.records().pop()
                && record["stages"][stage]["actions"][action]["status"] == "InProgress"
                && record["stages"][stage]["actions"][action]["externalExecutionId"].is_string()
            {
                return record;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "never started"
            );
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
    }
}

#[test]
fn a_manual_approval_waits_for_approve_or_reject_from_another_process() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "gated");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    let file = ws.write("pipeline.json", approval_pipeline());
    let run = ["run", file.to_str().unwrap(), "--plain"];

    let child = ws.spawn(&run);
    let record = ws.wait_for_running(1, 0);
    let token = record["stages"][1]["actions"][0]["externalExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    let output = ws.fails(&[
        "approve",
        "site",
        "Approve",
        "Gate",
        "--summary",
        "ok",
        "--token",
        "not-the-token",
    ]);
    assert!(output.contains("InvalidApprovalTokenException"), "{output}");
    assert_eq!(
        ws.list("s3://target-bucket/"),
        "",
        "nothing deployed before approval"
    );
    let approved = ws.ok(&[
        "approve",
        "site",
        "Approve",
        "Gate",
        "--summary",
        "looks good",
        "--token",
        &token,
    ]);
    assert_eq!(
        approved.trim(),
        format!("Approved site/Approve/Gate (token {token})")
    );
    let output = child.wait_with_output().unwrap();
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains("comments: Check staging first")
            && printed.contains("review: https://staging.example.com"),
        "{printed}"
    );
    assert_eq!(ws.get("s3://target-bucket/approved"), b"gated");
    let record = ws.records().pop().unwrap();
    assert_eq!(
        record["stages"][1]["actions"][0]["summary"],
        "Approved: looks good"
    );
    let output = ws.fails(&[
        "approve",
        "site",
        "Approve",
        "Gate",
        "--summary",
        "again",
        "--token",
        &token,
    ]);
    assert!(
        output.contains("ApprovalAlreadyCompletedException"),
        "{output}"
    );
    let output = ws.fails(&["reject", "site", "Approve", "Gate", "--summary", "late"]);
    assert!(
        output.contains("ActionNotFoundException: no approval is waiting in site/Approve/Gate"),
        "{output}"
    );

    let child = ws.spawn(&run);
    ws.wait_for_running(1, 0);
    ws.ok(&[
        "reject",
        "site",
        "Approve",
        "Gate",
        "--summary",
        "not today",
    ]);
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());
    let record = ws.records().pop().unwrap();
    assert_eq!(
        record["stages"][1]["actions"][0]["error"]["message"],
        "Rejected: not today"
    );
    assert_eq!(record["stages"][2]["actions"][0]["status"], "NotStarted");

    let output = ws.fails(&["run", file.to_str().unwrap(), "--action-timeout", "1s"]);
    assert!(
        output.contains("the approval was not given within its timeout of 1.0s"),
        "{output}"
    );
}

#[test]
fn stop_and_wait_lets_running_actions_finish_and_starts_nothing_new() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let file = ws.write(
        "pipeline.json",
        build_pipeline(r#"{"Mode":"sleep","Millis":"1500"}"#),
    );
    let child = ws.start(&file);
    ws.wait_until(1, |r| stage_status(r, 1) == "InProgress");
    let id = ws.records()[0]["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    let stopped = ws.ok(&["stop", &id, "--reason", "release freeze"]);
    assert_eq!(stopped.trim(), format!("Stopping {id} (stop and wait)"));
    assert_eq!(ws.records()[0]["status"], "Stopping");
    let output = ws.fails(&["stop", &id]);
    assert!(
        output.contains("DuplicatedStopRequestException"),
        "{output}"
    );
    let output = child.wait_with_output().unwrap();
    assert!(!output.status.success());

    let record = &ws.records()[0];
    assert_eq!(record["status"], "Stopped");
    assert_eq!(record["statusSummary"], "release freeze");
    assert_eq!(
        record["stages"][1]["actions"][0]["status"], "Succeeded",
        "the running action finished"
    );
    assert_eq!(record["stages"][1]["status"], "Stopped");
    assert_eq!(record["stages"][2]["status"], "NotStarted");
    assert_eq!(ws.list("s3://target-bucket/"), "");
    let output = ws.fails(&["stop", &id, "--abandon"]);
    assert!(
        output.contains("PipelineExecutionNotStoppableException: execution"),
        "{output}"
    );
}

#[test]
fn abandon_stops_a_busy_looping_wasm_action_within_a_second() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let file = ws.write("pipeline.json", build_pipeline(r#"{"Mode":"loop"}"#));
    let mut child = ws.start(&file);
    ws.wait_until(1, |r| stage_status(r, 1) == "InProgress");
    let id = ws.records()[0]["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    std::thread::sleep(std::time::Duration::from_millis(300));
    let asked = std::time::Instant::now();
    ws.ok(&["stop", &id, "--abandon"]);
    let status = loop {
        if let Some(status) = child.try_wait().unwrap() {
            break status;
        }
        assert!(
            asked.elapsed() < std::time::Duration::from_secs(10),
            "the run did not end"
        );
        std::thread::sleep(std::time::Duration::from_millis(10));
    };
    let took = asked.elapsed();
    assert!(!status.success());
    assert!(
        took < std::time::Duration::from_secs(1),
        "abandoning took {took:?}"
    );
    let record = &ws.records()[0];
    assert_eq!(record["status"], "Stopped");
    assert_eq!(record["stages"][1]["actions"][0]["status"], "Abandoned");
    assert_eq!(
        record["stages"][1]["actions"][0]["error"]["message"],
        "the action was abandoned by a stop request"
    );
    assert_eq!(record["stages"][2]["actions"][0]["status"], "NotStarted");
}

/// Source → Build [Compile (copies the source), Check (needs source-bucket/ready)] → Deploy.
fn retry_pipeline() -> String {
    r#"{"name":"retry","roleArn":"arn:aws:iam::000000000000:role/r",
      "artifactStore":{"type":"S3","location":"artifact-store-bucket"},
      "stages":[
        {"name":"Source","actions":[{"name":"Fetch","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
          "configuration":{"S3Bucket":"source-bucket","S3ObjectKey":"src.zip"},"outputArtifacts":[{"name":"Src"}]}]},
        {"name":"Build","actions":[
          {"name":"Compile","actionTypeId":{"category":"Build","owner":"Custom","provider":"Probe","version":"1"},
           "configuration":{"Mode":"copy-inputs"},"inputArtifacts":[{"name":"Src"}],"outputArtifacts":[{"name":"Bin"}]},
          {"name":"Check","actionTypeId":{"category":"Build","owner":"Custom","provider":"Probe","version":"1"},
           "configuration":{"Mode":"get-object","Object":"source-bucket/ready","ReadyBucket":"source-bucket"}}]},
        {"name":"Deploy","actions":[{"name":"Put","actionTypeId":{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"},
          "configuration":{"BucketName":"target-bucket","Extract":"false","ObjectKey":"bin.zip"},"inputArtifacts":[{"name":"Bin"}]}]}]}"#
        .to_string()
}

#[test]
fn retry_runs_the_failed_actions_again_and_continues() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let file = ws.write("pipeline.json", retry_pipeline());
    let grant = probe_grant();
    ws.fails(&["run", file.to_str().unwrap(), "--provider", &grant]);
    let first = ws.records().pop().unwrap();
    let id = first["pipelineExecutionId"].as_str().unwrap().to_string();
    assert_eq!(first["stages"][1]["actions"][0]["status"], "Succeeded");
    assert_eq!(first["stages"][1]["actions"][1]["status"], "Failed");

    let output = ws.fails(&["retry", &id, "--stage", "Source", "--provider", &grant]);
    assert!(
        output.contains("StageNotRetryableException: stage 'Source'"),
        "{output}"
    );

    ws.write("ready", "yes");
    ws.ok(&["s3", "cp", "ready", "s3://source-bucket/ready"]);
    ws.ok(&["retry", &id[..8], "--stage", "Build", "--provider", &grant]);
    let retried = ws.records().pop().unwrap();
    assert_eq!(
        retried["pipelineExecutionId"],
        id.as_str(),
        "a retry continues the same execution"
    );
    assert_eq!(retried["status"], "Succeeded");
    assert_eq!(
        retried["stages"][1]["actions"][0]["startTime"],
        first["stages"][1]["actions"][0]["startTime"],
        "the action that had succeeded did not run again"
    );
    assert_eq!(retried["stages"][1]["actions"][1]["status"], "Succeeded");
    assert_eq!(
        retried["stages"][2]["actions"][0]["inputArtifacts"][0]["sha256"],
        first["stages"][1]["actions"][0]["outputArtifacts"][0]["sha256"],
        "the deploy consumed the artifact of the first attempt"
    );
    assert!(!ws.get("s3://target-bucket/bin.zip").is_empty());
    let journal =
        std::fs::read_to_string(ws.path(&format!(".sandpipe/executions/{id}/events.jsonl")))
            .unwrap();
    assert!(journal.contains("\"state\":\"RESUMED\""), "{journal}");

    let output = ws.fails(&["retry", &id, "--stage", "Build", "--provider", &grant]);
    assert!(output.contains("StageNotRetryableException"), "{output}");
}

#[test]
fn retry_with_all_actions_runs_the_whole_stage_and_only_the_latest_execution_can_retry() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let file = ws.write("pipeline.json", retry_pipeline());
    let grant = probe_grant();
    ws.fails(&["run", file.to_str().unwrap(), "--provider", &grant]);
    ws.fails(&["run", file.to_str().unwrap(), "--provider", &grant]);
    let records = ws.records();
    let (older, newer) = (&records[0], &records[1]);
    let output = ws.fails(&[
        "retry",
        older["pipelineExecutionId"].as_str().unwrap(),
        "--stage",
        "Build",
        "--provider",
        &grant,
    ]);
    assert!(
        output.contains("NotLatestPipelineExecutionException"),
        "{output}"
    );

    ws.write("ready", "yes");
    ws.ok(&["s3", "cp", "ready", "s3://source-bucket/ready"]);
    let id = newer["pipelineExecutionId"].as_str().unwrap();
    ws.ok(&[
        "retry",
        id,
        "--stage",
        "Build",
        "--all-actions",
        "--provider",
        &grant,
    ]);
    let retried = ws.records().pop().unwrap();
    assert_eq!(retried["status"], "Succeeded");
    assert_ne!(
        retried["stages"][1]["actions"][0]["startTime"],
        newer["stages"][1]["actions"][0]["startTime"],
        "--all-actions ran the succeeded action again"
    );
}

/// Source → Build (the probe sleeps) → Finish, in the given execution mode.
fn mode_pipeline(mode: &str, millis: u32) -> String {
    format!(
        r#"{{"name":"modes","pipelineType":"V2","executionMode":"{mode}","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{{"type":"S3","location":"artifact-store-bucket"}},
          "stages":[
            {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"S3Bucket":"source-bucket","S3ObjectKey":"src.zip"}},"outputArtifacts":[{{"name":"Src"}}]}}]}},
            {{"name":"Build","actions":[{{"name":"Work","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
              "configuration":{{"Mode":"sleep","Millis":"{millis}"}},"inputArtifacts":[{{"name":"Src"}}]}}]}},
            {{"name":"Finish","actions":[{{"name":"Done","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
              "configuration":{{"Mode":"noop"}}}}]}}]}}"#
    )
}

impl Workspace {
    fn mode_setup(&self, mode: &str, millis: u32) -> PathBuf {
        self.tutorial_buckets();
        self.write("src.zip", zip_of(&[("a.txt", "a")]));
        self.ok(&["s3", "cp", "src.zip", "s3://source-bucket/src.zip"]);
        self.write("pipeline.json", mode_pipeline(mode, millis))
    }

    fn start(&self, file: &Path) -> std::process::Child {
        self.spawn(&[
            "run",
            file.to_str().unwrap(),
            "--provider",
            &probe_grant(),
            "--plain",
        ])
    }

    /// Wait until `count` executions exist and `ready` holds for the newest.
    fn wait_until(&self, count: usize, ready: impl Fn(&serde_json::Value) -> bool) {
        let started = std::time::Instant::now();
        loop {
            let records = self.records();
            if records.len() == count && ready(records.last().unwrap()) {
                return;
            }
            assert!(
                started.elapsed() < std::time::Duration::from_secs(60),
                "timed out waiting; the executions are: {records:#?}"
            );
            std::thread::sleep(std::time::Duration::from_millis(20));
        }
    }
}

fn action_time<'a>(record: &'a serde_json::Value, stage: usize, field: &str) -> &'a str {
    record["stages"][stage]["actions"][0][field]
        .as_str()
        .unwrap()
}

impl Workspace {
    /// A in Build, then B and then C waiting at Build's door, each started once the previous
    /// is in place.
    fn three_arrivals(&self, file: &Path) -> [std::process::Child; 3] {
        let a = self.start(file);
        self.wait_until(1, |r| stage_status(r, 1) == "InProgress");
        let b = self.start(file);
        self.wait_until(2, waiting_for_build);
        let c = self.start(file);
        self.wait_until(3, waiting_for_build);
        [a, b, c]
    }
}

/// Waiting at Build's door: the source is done, Build has not started.
fn waiting_for_build(record: &serde_json::Value) -> bool {
    stage_status(record, 0) == "Succeeded" && stage_status(record, 1) == "NotStarted"
}

#[test]
fn superseded_mode_replaces_an_older_waiting_execution_with_a_newer_one() {
    let ws = Workspace::new();
    let file = ws.mode_setup("SUPERSEDED", 2500);
    let [a, b, c] = ws.three_arrivals(&file);
    for child in [a, b, c] {
        child.wait_with_output().unwrap();
    }
    let records = ws.records();
    let (a, b, c) = (&records[0], &records[1], &records[2]);
    assert_eq!(a["status"], "Succeeded");
    assert_eq!(b["status"], "Superseded");
    assert_eq!(
        b["statusSummary"],
        format!(
            "superseded by execution {}, which is waiting for stage 'Build'",
            c["pipelineExecutionId"].as_str().unwrap()
        )
    );
    assert_eq!(
        stage_status(b, 1),
        "NotStarted",
        "the superseded execution never entered Build"
    );
    assert_eq!(c["status"], "Succeeded");
    assert!(
        action_time(c, 1, "startTime") >= action_time(a, 1, "endTime"),
        "C entered Build only after A left it"
    );
}

#[test]
fn queued_mode_runs_waiting_executions_one_by_one_in_order() {
    let ws = Workspace::new();
    let file = ws.mode_setup("QUEUED", 1200);
    let [a, b, c] = ws.three_arrivals(&file);
    for child in [a, b, c] {
        assert!(child.wait_with_output().unwrap().status.success());
    }
    let records = ws.records();
    let (a, b, c) = (&records[0], &records[1], &records[2]);
    for record in [a, b, c] {
        assert_eq!(record["status"], "Succeeded");
    }
    assert!(
        action_time(b, 1, "startTime") >= action_time(a, 1, "endTime"),
        "B waited for A"
    );
    assert!(
        action_time(c, 1, "startTime") >= action_time(b, 1, "endTime"),
        "C waited for B, in arrival order"
    );
}

#[test]
fn parallel_mode_runs_executions_independently() {
    let ws = Workspace::new();
    let file = ws.mode_setup("PARALLEL", 1500);
    let a = ws.start(&file);
    ws.wait_until(1, |r| stage_status(r, 1) == "InProgress");
    let b = ws.start(&file);
    for child in [a, b] {
        assert!(child.wait_with_output().unwrap().status.success());
    }
    let records = ws.records();
    let (a, b) = (&records[0], &records[1]);
    assert!(
        action_time(b, 1, "startTime") < action_time(a, 1, "endTime"),
        "the two builds overlapped"
    );
}

#[test]
fn executions_wait_at_a_disabled_transition_until_it_is_enabled() {
    let ws = Workspace::new();
    let file = ws.mode_setup("SUPERSEDED", 10);
    ws.ok(&["run", file.to_str().unwrap(), "--provider", &probe_grant()]);
    let output = ws.fails(&[
        "disable-transition",
        "modes",
        "Build",
        "--reason",
        "bad/reason",
    ]);
    assert!(output.contains("ValidationException"), "{output}");
    let output = ws.fails(&["disable-transition", "modes", "Nope", "--reason", "x"]);
    assert!(output.contains("StageNotFoundException"), "{output}");
    ws.ok(&[
        "disable-transition",
        "modes",
        "Build",
        "--reason",
        "Release freeze (until Monday)",
    ]);
    let child = ws.start(&file);
    ws.wait_until(2, waiting_for_build);
    std::thread::sleep(std::time::Duration::from_millis(500));
    assert!(
        waiting_for_build(&ws.records()[1]),
        "still waiting while disabled"
    );
    ws.ok(&["enable-transition", "modes", "Build"]);
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Stage Build: waiting to enter: the inbound transition is disabled: Release freeze (until Monday)")
    );
    assert_eq!(ws.records()[1]["status"], "Succeeded");
}

/// Source → three builds passing artifacts along → Deploy: many places to be killed at.
fn long_pipeline() -> String {
    let build = |name: &str, input: &str, output: &str, mode: &str| {
        format!(
            r#"{{"name":"{name}","actions":[{{"name":"{name}","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
               "configuration":{{"Mode":"{mode}","Millis":"300"}},"inputArtifacts":[{{"name":"{input}"}}],"outputArtifacts":[{{"name":"{output}"}}]}}]}}"#
        )
    };
    format!(
        r#"{{"name":"crash","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{{"type":"S3","location":"artifact-store-bucket"}},
          "stages":[
            {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"S3Bucket":"source-bucket","S3ObjectKey":"src.zip"}},"outputArtifacts":[{{"name":"Src"}}]}}]}},
            {b1}, {b2}, {b3},
            {{"name":"Deploy","actions":[{{"name":"Put","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"BucketName":"target-bucket","Extract":"true"}},"inputArtifacts":[{{"name":"C"}}]}}]}}]}}"#,
        b1 = build("One", "Src", "A", "copy-inputs"),
        b2 = build("Two", "A", "B", "sleep"),
        b3 = build("Three", "A", "C", "copy-inputs"),
    )
}

#[test]
fn sandboxes_a_killed_run_leaves_are_swept_by_the_next_runner() {
    let ws = Workspace::new();
    let file = ws.mode_setup("PARALLEL", 20_000);
    let run = |file: &Path| {
        ws.spawn(&[
            "run",
            file.to_str().unwrap(),
            "--provider",
            &probe_grant(),
            "--work-dir",
            "work",
        ])
    };
    let mut killed = run(&file);
    ws.wait_until(1, |r| stage_status(r, 1) == "InProgress");
    let id = ws.records()[0]["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(ws.path("work").join(&id).join("01-00").is_dir());
    killed.kill().unwrap();
    killed.wait().unwrap();
    assert!(
        ws.path("work").join(&id).is_dir(),
        "the kill left it behind"
    );
    let quick = ws.write("quick.json", mode_pipeline("PARALLEL", 10));
    assert!(run(&quick).wait().unwrap().success());
    assert!(
        !ws.path("work").join(&id).exists(),
        "the next runner swept what the killed one left"
    );
}

#[test]
fn runs_killed_at_many_points_leave_consistent_state_and_intact_artifacts() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("src.zip", zip_of(&[("a.txt", "a"), ("dir/b.txt", "b")]));
    ws.ok(&["s3", "cp", "src.zip", "s3://source-bucket/src.zip"]);
    let file = ws.write("pipeline.json", long_pipeline());
    // An undisturbed warm run tells how long a run takes; kill points spread over it.
    ws.ok(&["run", file.to_str().unwrap(), "--provider", &probe_grant()]);
    let started = std::time::Instant::now();
    ws.ok(&["run", file.to_str().unwrap(), "--provider", &probe_grant()]);
    let full = started.elapsed();
    let points = 30u32;
    for point in 0..points {
        let mut child = ws.start(&file);
        std::thread::sleep(full * point / points);
        let _ = child.kill();
        child.wait().unwrap();
    }

    let records = ws.records();
    // The earliest kills may land before an execution exists; at least 20 must have one.
    let killed = records.len() - 2;
    assert!(
        killed >= 20,
        "only {killed} killed executions were recorded"
    );
    let mut digests_checked = 0;
    for record in &records {
        let status = record["status"].as_str().unwrap();
        assert!(
            matches!(status, "Succeeded" | "Failed"),
            "left {status}: {record:#}"
        );
        for stage in record["stages"].as_array().unwrap() {
            for action in stage["actions"].as_array().unwrap() {
                assert_ne!(action["status"], "InProgress", "{record:#}");
                for artifact in action["outputArtifacts"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default()
                {
                    let url = format!(
                        "s3://{}/{}",
                        artifact["bucket"].as_str().unwrap(),
                        artifact["key"].as_str().unwrap()
                    );
                    let bytes = ws.get(&url);
                    assert_eq!(
                        hex::encode(Sha256::digest(&bytes)),
                        artifact["sha256"].as_str().unwrap(),
                        "{url} is corrupt"
                    );
                    digests_checked += 1;
                }
            }
        }
    }
    assert!(
        digests_checked >= 4 * 2,
        "only {digests_checked} artifacts were checked"
    );
    let failed = records.iter().filter(|r| r["status"] == "Failed").count();
    assert!(
        failed >= points as usize / 2,
        "most killed runs should have been ended by recovery ({failed})"
    );
    // The store is still usable: a new run succeeds.
    ws.ok(&["run", file.to_str().unwrap(), "--provider", &probe_grant()]);
    assert_eq!(ws.records().pop().unwrap()["status"], "Succeeded");
}

/// Source → Build [Compile, Flaky (fails once)] → Ship, V2, with `build_extra` and
/// `ship_extra` spliced into the Build and Ship stage declarations.
#[test]
fn logs_follow_prints_new_lines_until_the_execution_ends() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "followed");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    let file = ws.write("pipeline.json", approval_pipeline());
    let run = ws.spawn(&["run", file.to_str().unwrap(), "--plain"]);
    let record = ws.wait_for_running(1, 0);
    let id = record["pipelineExecutionId"].as_str().unwrap();
    let follow = ws.spawn(&["logs", id, "--follow"]);
    std::thread::sleep(std::time::Duration::from_millis(300));
    ws.ok(&["approve", "site", "Approve", "Gate", "--summary", "ship it"]);
    assert!(run.wait_with_output().unwrap().status.success());
    let output = follow.wait_with_output().unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8_lossy(&output.stdout);
    let waiting = printed
        .find("waiting for approval")
        .expect("the approval's first lines");
    let approved = printed
        .find("approved: ship it")
        .expect("a line written after following began");
    assert!(waiting < approved);
    assert!(printed.contains("==> Deploy/Publish <=="), "{printed}");
}
