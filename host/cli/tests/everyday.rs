//! The everyday CLI, as a new user meets it: problems found before a run (all at once, by
//! `validate`, `run --dry-run` and `run` alike), the state directory found from anywhere
//! below it and never made by a command that only reads, Ctrl-C, and partial runs.

mod common;

use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::{Workspace, zip_of};

/// A pipeline with five problems a run would otherwise meet one at a time, mid-run: an
/// unmapped repository, a misspelt key in the project's inline buildspec, a misspelt field in
/// another project file, a deploy bucket that does not exist and a type with no provider.
fn troubled_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.write(
        "pipeline.yaml",
        r#"pipeline:
  name: troubled
  roleArn: arn:aws:iam::123456789012:role/R
  artifactStore: {type: S3, location: troubled-artifacts}
  stages:
    - name: Source
      actions:
        - name: Source
          actionTypeId: {category: Source, owner: AWS, provider: CodeCommit, version: "1"}
          configuration: {RepositoryName: no-such-repo, BranchName: main}
          outputArtifacts: [{name: Src}]
    - name: Build
      actions:
        - name: Build
          actionTypeId: {category: Build, owner: AWS, provider: CodeBuild, version: "1"}
          configuration: {ProjectName: app-build}
          inputArtifacts: [{name: Src}]
          outputArtifacts: [{name: Out}]
    - name: Deploy
      actions:
        - name: Site
          actionTypeId: {category: Deploy, owner: AWS, provider: S3, version: "1"}
          configuration: {BucketName: website-bucket, Extract: "true"}
          inputArtifacts: [{name: Out}]
        - name: Notify
          actionTypeId: {category: Invoke, owner: AWS, provider: Lambda, version: "1"}
          configuration: {FunctionName: notify}
"#,
    );
    ws.write(
        "codebuild-projects.yaml",
        "name: app-build\nsource:\n  type: CODEPIPELINE\n  buildspec: |\n    version: 0.2\n    \
         phases:\n      biuld:\n        commands: [echo hi]\n",
    );
    ws.write(
        "other-project.yaml",
        "name: other\nenvironment:\n  enviroment: LINUX_CONTAINER\n",
    );
    ws
}

/// The five problems, each named where it is.
fn assert_all_five(output: &str) {
    for expected in [
        "no repository is mapped for CodeCommit repository 'no-such-repo'",
        "phases.biuld: unknown field `biuld`",
        "other-project.yaml: environment.enviroment: ValidationException: unknown field `enviroment`",
        "configuration.BucketName: ResourceNotFoundException: the bucket 'website-bucket' does not \
         exist: create it with `sandpipe s3 mb s3://website-bucket`",
        "pipeline.stages[2].actions[1].configuration.FunctionName: ActionTypeNotFoundException: \
         no provider \
         for Invoke/AWS/Lambda/1",
    ] {
        assert!(
            output.contains(expected),
            "missing {expected:?} in:\n{output}"
        );
    }
    assert!(output.contains("5 problems"), "{output}");
}

#[test]
fn validate_dry_run_and_run_report_every_problem_before_anything_runs() {
    let ws = troubled_workspace();
    let projects = ["--projects", "other-project.yaml"];
    let validate = ws.fails(&[&["validate", "pipeline.yaml"][..], &projects].concat());
    assert_all_five(&validate);
    let dry_run = ws.fails(&[&["run", "--dry-run", "pipeline.yaml"][..], &projects].concat());
    assert_all_five(&dry_run);
    assert!(dry_run.contains("dry run, nothing runs"), "{dry_run}");
    let run = ws.fails(&[&["run", "--plain", "pipeline.yaml"][..], &projects].concat());
    assert_all_five(&run);
    assert!(run.contains("nothing ran"), "{run}");
    // Refused before anything was made: no state, so no execution either.
    assert!(!ws.path(".sandpipe").exists());
}

/// The seed tutorial's buckets, source object and pipeline.
fn seed_tutorial() -> Workspace {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "Hello LocalStack!\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket"]);
    ws.write(
        "pipeline.json",
        include_str!("../../model/tests/corpus/valid/01-seed-localstack-s3-to-s3.json"),
    );
    ws
}

#[test]
fn a_missing_bucket_can_be_created_by_the_run() {
    let ws = seed_tutorial();
    ws.ok(&["s3", "rb", "s3://target-bucket"]);
    let refused = ws.fails(&["validate", "pipeline.json"]);
    assert!(
        refused.contains("the bucket 'target-bucket' does not exist"),
        "{refused}"
    );
    ws.ok(&["run", "--plain", "--create-buckets", "pipeline.json"]);
    assert!(
        ws.list("s3://target-bucket")
            .contains("output-artifact-file")
    );
}

#[test]
fn an_unversioned_source_bucket_is_found_before_the_run_with_a_local_fix() {
    let ws = Workspace::new();
    ws.ok(&["s3", "mb", "s3://source-bucket"]);
    ws.write("file", "Hello\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket"]);
    ws.write(
        "pipeline.json",
        include_str!("../../model/tests/corpus/valid/01-seed-localstack-s3-to-s3.json"),
    );
    let refused = ws.fails(&["run", "--plain", "--create-buckets", "pipeline.json"]);
    assert!(
        refused.contains(
            "the S3 source bucket 'source-bucket' does not have versioning enabled, which \
             CodePipeline requires: `sandpipe s3api put-bucket-versioning --bucket \
             source-bucket --versioning-configuration Status=Enabled`"
        ),
        "{refused}"
    );
    assert!(!refused.contains("aws s3api"), "{refused}");
    assert!(ws.records().is_empty());
}

#[test]
fn a_missing_file_is_an_error_not_a_problem_list() {
    let ws = Workspace::new();
    let output = ws.fails(&["validate", "nothere.yaml"]);
    assert!(output.contains("nothere.yaml: cannot read it"), "{output}");
    assert!(!output.contains("ValidationException"), "{output}");
}

#[test]
fn reading_commands_find_the_state_above_and_never_make_one() {
    let ws = Workspace::new();
    let listed = ws.fails(&["executions", "list"]);
    assert!(listed.contains("no sandpipe state found"), "{listed}");
    assert!(
        listed.contains(&ws.path(".sandpipe").display().to_string()),
        "it names where it looked: {listed}"
    );
    assert!(!ws.path(".sandpipe").exists());

    let ws = seed_tutorial();
    ws.ok(&["run", "--plain", "pipeline.json"]);
    let nested = ws.path("a/b");
    std::fs::create_dir_all(&nested).unwrap();
    let output = Command::new(env!("CARGO_BIN_EXE_sandpipe"))
        .args(["executions", "list", "--json"])
        .current_dir(&nested)
        .env_remove("SANDPIPE_STATE_DIR")
        .output()
        .unwrap();
    assert!(output.status.success());
    let list: Vec<serde_json::Value> = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(list.len(), 1, "the execution run in the directory above");
    assert!(!nested.join(".sandpipe").exists());
}

/// The newest execution's record.
fn latest(ws: &Workspace) -> serde_json::Value {
    ws.records().pop().expect("an execution")
}

/// A workspace whose `pipeline.yaml` is pipeline `name`: an S3 source stage (`app.zip` in
/// the versioned bucket `src`) followed by `later_stages` (YAML list items).
fn s3_source_workspace(name: &str, later_stages: &str) -> Workspace {
    let ws = Workspace::new();
    ws.versioned_bucket("src");
    ws.write("app.zip", zip_of(&[("index.html", "hello")]));
    ws.ok(&["s3", "cp", "app.zip", "s3://src/app.zip"]);
    ws.write(
        "pipeline.yaml",
        format!(
            r#"pipeline:
  name: {name}
  roleArn: arn:aws:iam::123456789012:role/R
  artifactStore: {{type: S3, location: {name}-artifacts}}
  stages:
    - name: Source
      actions:
        - name: Source
          actionTypeId: {{category: Source, owner: AWS, provider: S3, version: "1"}}
          configuration: {{S3Bucket: src, S3ObjectKey: app.zip, PollForSourceChanges: "false"}}
          outputArtifacts: [{{name: Src}}]
{later_stages}"#
        ),
    );
    ws
}

/// A pipeline whose second stage waits for a manual approval.
fn approval_workspace() -> Workspace {
    s3_source_workspace(
        "gated",
        r#"    - name: Approve
      actions:
        - name: Gate
          actionTypeId: {category: Approval, owner: AWS, provider: Manual, version: "1"}
"#,
    )
}

/// Start `sandpipe run` of the workspace's pipeline and wait until its approval waits.
// The child is returned for the caller to wait on; only a failing assertion leaves it.
#[allow(clippy::zombie_processes)]
fn run_until_approval_waits(ws: &Workspace) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandpipe"))
        .args(["run", "--plain", "pipeline.yaml"])
        .current_dir(ws.dir.path())
        .env_remove("SANDPIPE_STATE_DIR")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        let output = ws.sandpipe(&["executions", "list", "--json"]);
        let list: Vec<serde_json::Value> =
            serde_json::from_slice(&output.stdout).unwrap_or_default();
        if let Some(id) = list.first().and_then(|e| e["pipelineExecutionId"].as_str()) {
            let shown = ws.ok(&["executions", "show", id, "--json"]);
            let record: serde_json::Value = serde_json::from_str(&shown).unwrap();
            if record["stages"][1]["actions"][0]["status"] == "InProgress" {
                return child;
            }
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!("the approval never waited");
        }
        std::thread::sleep(Duration::from_millis(100));
    }
}

#[test]
fn approve_from_a_subdirectory_finds_the_waiting_approval() {
    let ws = approval_workspace();
    let child = run_until_approval_waits(&ws);
    let nested = ws.path("docs/deep");
    std::fs::create_dir_all(&nested).unwrap();
    let approve = || {
        Command::new(env!("CARGO_BIN_EXE_sandpipe"))
            .args(["approve", "gated", "Approve", "Gate", "--summary", "ok"])
            .current_dir(&nested)
            .env_remove("SANDPIPE_STATE_DIR")
            .output()
            .unwrap()
    };
    // The action is InProgress a moment before its approval is registered.
    let mut approved = approve();
    for _ in 0..50 {
        if approved.status.success() {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        approved = approve();
    }
    assert!(
        approved.status.success(),
        "{}",
        String::from_utf8_lossy(&approved.stderr)
    );
    let output = child.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "the run ends Succeeded once approved"
    );
}

#[test]
fn ctrl_c_stops_the_run_and_records_it_stopped() {
    let ws = approval_workspace();
    let child = run_until_approval_waits(&ws);
    // SAFETY: kill(2) with a pid this test spawned and SIGINT, as a terminal's Ctrl-C sends.
    unsafe { libc::kill(child.id() as libc::pid_t, libc::SIGINT) };
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("interrupted"), "{stderr}");
    let record = latest(&ws);
    assert_eq!(record["status"], "Stopped", "{record:#}");
    assert_eq!(record["stages"][1]["actions"][0]["status"], "Abandoned");
}

#[test]
fn until_runs_the_first_stages_and_from_takes_up_their_results() {
    let ws = s3_source_workspace(
        "partial",
        r#"    - name: Build
      actions:
        - name: Publish
          actionTypeId: {category: Deploy, owner: AWS, provider: S3, version: "1"}
          configuration: {BucketName: site, Extract: "true"}
          inputArtifacts: [{name: Src}]
    - name: Deploy
      actions:
        - name: Notify
          actionTypeId: {category: Invoke, owner: AWS, provider: Lambda, version: "1"}
          configuration: {FunctionName: notify}
"#,
    );
    ws.ok(&["s3", "mb", "s3://site"]);
    let refused = ws.fails(&["run", "--plain", "pipeline.yaml"]);
    assert!(
        refused.contains("no provider for Invoke/AWS/Lambda/1"),
        "{refused}"
    );
    ws.ok(&["run", "--plain", "--until", "Build", "pipeline.yaml"]);
    let record = latest(&ws);
    assert_eq!(record["status"], "Succeeded", "{record:#}");
    let statuses: Vec<&str> = record["stages"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses, ["Succeeded", "Succeeded", "Skipped"]);
    assert!(ws.list("s3://site").contains("index.html"));

    // --from Build runs Build alone on the Source stage's results from that execution.
    ws.ok(&["s3", "rm", "s3://site/index.html"]);
    ws.ok(&["run", "--plain", "--stage", "Build", "pipeline.yaml"]);
    let again = latest(&ws);
    assert_ne!(again["pipelineExecutionId"], record["pipelineExecutionId"]);
    assert_eq!(
        again["stages"][0]["actions"][0]["outputArtifacts"],
        record["stages"][0]["actions"][0]["outputArtifacts"],
        "the source stage's artifact is the earlier execution's"
    );
    assert_eq!(again["stages"][2]["status"], "Skipped");
    assert!(ws.list("s3://site").contains("index.html"));

    let unknown = ws.fails(&["run", "--plain", "--from", "Nope", "pipeline.yaml"]);
    assert!(unknown.contains("no stage 'Nope'"), "{unknown}");
}
