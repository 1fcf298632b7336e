//! End-to-end tests of the `sandpipe` binary: real pipelines, real components, a fresh state
//! directory per test.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

mod common;
use common::pipelines::{build_pipeline, example, probe_grant, s3_pipeline};
use common::{Workspace, zip_of};

#[test]
fn the_seed_tutorial_runs_from_an_empty_state_dir() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "Hello LocalStack!\n");
    let upload = ws.ok(&["s3", "cp", "file", "s3://source-bucket"]);
    assert_eq!(upload.trim(), "upload: file to s3://source-bucket/file");

    let output = ws.ok(&["run", example().to_str().unwrap()]);
    assert!(output.contains("Succeeded"), "{output}");
    assert_eq!(
        ws.get("s3://target-bucket/output-artifact-file"),
        b"Hello LocalStack!\n"
    );

    let record = &ws.records()[0];
    assert_eq!(record["status"], "Succeeded");
    let source = &record["stages"][0]["actions"][0];
    assert_eq!(source["outputVariables"]["ObjectKey"], "file");
    assert_eq!(source["outputVariables"]["BucketName"], "source-bucket");
    assert_eq!(
        source["outputVariables"]["ETag"],
        hex::encode(md5_of(b"Hello LocalStack!\n"))
    );
    let artifact = &source["outputArtifacts"][0];
    assert_eq!(
        artifact["sha256"],
        hex::encode(Sha256::digest(b"Hello LocalStack!\n"))
    );
    assert_eq!(
        artifact["key"]
            .as_str()
            .unwrap()
            .split('/')
            .take(2)
            .collect::<Vec<_>>(),
        ["pipeline", "intermedia"]
    );
    assert_eq!(
        record["stages"][1]["actions"][0]["inputArtifacts"][0]["sha256"],
        artifact["sha256"]
    );
}

fn md5_of(bytes: &[u8]) -> Vec<u8> {
    // The S3 ETag of a single-part upload is the content's MD5.
    let ws = Workspace::new();
    ws.ok(&["s3", "mb", "s3://md5"]);
    ws.write("f", bytes);
    ws.ok(&["s3", "cp", "f", "s3://md5/f"]);
    let head: serde_json::Value =
        serde_json::from_str(&ws.ok(&["s3api", "head-object", "--bucket", "md5", "--key", "f"]))
            .unwrap();
    hex::decode(head["ETag"].as_str().unwrap().trim_matches('"')).unwrap()
}

#[test]
fn a_zip_source_with_extract_true_lands_unpacked() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write(
        "site.zip",
        zip_of(&[("index.html", "<h1>hi</h1>"), ("css/site.css", "h1{}")]),
    );
    ws.ok(&["s3", "cp", "site.zip", "s3://source-bucket/site.zip"]);
    let pipeline = s3_pipeline(
        "source-bucket",
        "site.zip",
        r#"{"BucketName":"target-bucket","Extract":"true","ObjectKey":"www","CacheControl":"max-age=60"}"#,
    );
    let file = ws.write("pipeline.json", pipeline);
    ws.ok(&["run", file.to_str().unwrap()]);
    assert_eq!(ws.get("s3://target-bucket/www/index.html"), b"<h1>hi</h1>");
    assert_eq!(ws.get("s3://target-bucket/www/css/site.css"), b"h1{}");
    let head: serde_json::Value = serde_json::from_str(&ws.ok(&[
        "s3api",
        "head-object",
        "--bucket",
        "target-bucket",
        "--key",
        "www/index.html",
    ]))
    .unwrap();
    assert_eq!(head["ContentType"], "text/html");
    assert_eq!(head["CacheControl"], "max-age=60");
}

#[test]
fn yaml_pipelines_run_too() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "yaml!");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    let yaml = r#"
name: yaml-pipeline
roleArn: arn:aws:iam::000000000000:role/r
artifactStore: {type: S3, location: artifact-store-bucket}
stages:
  - name: Source
    actions:
      - name: Fetch
        actionTypeId: {category: Source, owner: AWS, provider: S3, version: "1"}
        configuration: {S3Bucket: source-bucket, S3ObjectKey: file, PollForSourceChanges: false}
        outputArtifacts: [{name: Out}]
  - name: Deploy
    actions:
      - name: Put
        actionTypeId: {category: Deploy, owner: AWS, provider: S3, version: "1"}
        configuration: {BucketName: target-bucket, Extract: false, ObjectKey: "copy-#{codepipeline.PipelineExecutionId}"}
        inputArtifacts: [{name: Out}]
"#;
    let file = ws.write("pipeline.yaml", yaml);
    ws.ok(&["run", file.to_str().unwrap()]);
    let id = ws.records()[0]["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert_eq!(ws.get(&format!("s3://target-bucket/copy-{id}")), b"yaml!");
}

#[test]
fn the_same_inputs_give_the_same_artifact_digests() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("src.zip", zip_of(&[("b.txt", "bee"), ("a/x.txt", "ex")]));
    ws.ok(&["s3", "cp", "src.zip", "s3://source-bucket/src.zip"]);
    let file = ws.write("pipeline.json", build_pipeline(r#"{"Mode":"copy-inputs"}"#));
    let grant = probe_grant();
    let run = ["run", file.to_str().unwrap(), "--provider", &grant];
    ws.ok(&run);
    let first = ws.get("s3://target-bucket/bin.zip");
    std::thread::sleep(std::time::Duration::from_millis(1100));
    ws.ok(&run);
    let second = ws.get("s3://target-bucket/bin.zip");
    assert_eq!(Sha256::digest(&first), Sha256::digest(&second));

    let records = ws.records();
    let digests = |record: &serde_json::Value| -> Vec<String> {
        record["stages"]
            .as_array()
            .unwrap()
            .iter()
            .flat_map(|s| s["actions"].as_array().unwrap().clone())
            .flat_map(|a| a["outputArtifacts"].as_array().cloned().unwrap_or_default())
            .map(|o| o["sha256"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(digests(&records[0]).len(), 2);
    assert_eq!(digests(&records[0]), digests(&records[1]));
    assert_ne!(
        records[0]["pipelineExecutionId"],
        records[1]["pipelineExecutionId"]
    );
}

#[test]
fn symlinks_in_outputs_never_reach_outside_and_are_kept_as_links() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    // A link out of the sandbox cannot even be created.
    let file = ws.write(
        "outside.json",
        build_pipeline(r#"{"Mode":"symlink","Path":"/out/Bin/passwd","Target":"/etc/passwd"}"#),
    );
    let output = ws.fails(&["run", file.to_str().unwrap(), "--provider", &probe_grant()]);
    assert!(
        output.contains("JobFailed: symlink /out/Bin/passwd -> /etc/passwd: not-permitted"),
        "{output}"
    );

    assert_eq!(ws.list("s3://target-bucket/"), "");
    let record = &ws.records()[0];
    assert_eq!(record["stages"][1]["actions"][0]["status"], "Failed");
    assert_eq!(record["stages"][2]["actions"][0]["status"], "NotStarted");

    // A link inside the output is kept as a link entry holding its text, not followed.
    let file = ws.write(
        "inside.json",
        build_pipeline(r#"{"Mode":"symlink","Path":"/out/Bin/link","Target":"elsewhere"}"#),
    );
    ws.ok(&["run", file.to_str().unwrap(), "--provider", &probe_grant()]);
    let zip = ws.get("s3://target-bucket/bin.zip");
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut entry = archive.by_name("link").unwrap();
    assert!(entry.is_symlink());
    let mut target = String::new();
    std::io::Read::read_to_string(&mut entry, &mut target).unwrap();
    assert_eq!(target, "elsewhere");
}

#[test]
fn a_looping_action_stops_at_its_deadline_while_its_neighbour_finishes() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let pipeline = build_pipeline(r#"{"Mode":"loop"}"#).replace(
        r#""outputArtifacts":[{"name":"Bin"}]}]}"#,
        r#""outputArtifacts":[{"name":"Bin"}]},
           {"name":"Neighbour","actionTypeId":{"category":"Build","owner":"Custom","provider":"Probe","version":"1"},
            "configuration":{"Mode":"copy-inputs"},"inputArtifacts":[{"name":"Src"}],"outputArtifacts":[{"name":"Other"}]}]}"#,
    );
    let file = ws.write("pipeline.json", pipeline);
    let started = std::time::Instant::now();
    let output = ws.fails(&[
        "run",
        file.to_str().unwrap(),
        "--provider",
        &probe_grant(),
        "--action-timeout",
        "2s",
        "--work-dir",
        ".sandpipe/work",
    ]);
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    assert!(
        output.contains("the action did not finish within its timeout of 2.0s and was stopped"),
        "{output}"
    );
    let build = &ws.records()[0]["stages"][1];
    assert_eq!(build["actions"][0]["status"], "Failed");
    assert_eq!(build["actions"][1]["status"], "Succeeded");
    assert_eq!(build["status"], "Failed");
    assert_eq!(
        ws.records()[0]["stages"][2]["actions"][0]["status"],
        "NotStarted"
    );
    // Sandboxes are removed once the run ends.
    assert_eq!(
        std::fs::read_dir(ws.path(".sandpipe/work"))
            .unwrap()
            .count(),
        0
    );
}

#[test]
fn bad_input_gets_one_clear_error_and_writes_nothing() {
    let ws = Workspace::new();
    ws.tutorial_buckets();

    let output = ws.fails(&["run", "missing.json"]);
    assert_eq!(
        output.trim(),
        "sandpipe: missing.json: cannot read: No such file or directory (os error 2)"
    );

    let file = ws.write(
        "broken.json",
        "{\n  \"pipeline\": {\n    \"name\": \"p\",,\n",
    );
    let output = ws.fails(&["run", file.to_str().unwrap()]);
    assert!(
        output
            .trim()
            .ends_with("broken.json: invalid JSON at line 3, column 17: key must be a string"),
        "{output}"
    );
    assert_eq!(output.trim().lines().count(), 1);

    let file = ws.write("broken.yaml", "name: p\nstages:\n  - name: [unclosed\n");
    let output = ws.fails(&["run", file.to_str().unwrap()]);
    assert!(
        output.contains("broken.yaml: invalid YAML at line"),
        "{output}"
    );
    assert_eq!(output.trim().lines().count(), 1);

    let unknown = s3_pipeline(
        "source-bucket",
        "file",
        r#"{"BucketName":"target-bucket","Extract":"false","ObjectKey":"x"}"#,
    )
    .replace(
        r#""category":"Deploy","owner":"AWS","provider":"S3""#,
        r#""category":"Deploy","owner":"AWS","provider":"S4""#,
    );
    let file = ws.write("unknown.json", unknown);
    let output = ws.fails(&["run", file.to_str().unwrap()]);
    assert!(
        output.contains(
            "unknown.json: pipeline.stages[1].actions[0].actionTypeId: InvalidActionDeclarationException: \
             ActionType (Category: 'Deploy', Provider: 'S4', Owner: 'AWS', Version: '1') in action 'Publish' is not available"
        ),
        "{output}"
    );
    assert_eq!(output.trim().lines().count(), 1);

    // An unversioned source bucket is found before the run.
    ws.ok(&["s3", "mb", "s3://plain-bucket"]);
    ws.write("file", "data");
    ws.ok(&["s3", "cp", "file", "s3://plain-bucket/file"]);
    let deploy = r#"{"BucketName":"target-bucket","Extract":"false","ObjectKey":"x"}"#;
    let file = ws.write(
        "unversioned.json",
        s3_pipeline("plain-bucket", "file", deploy),
    );
    let output = ws.fails(&["run", file.to_str().unwrap()]);
    assert!(
        output.contains("configuration.S3Bucket: InvalidActionDeclarationException: the S3 source bucket 'plain-bucket' does not have versioning enabled")
            && !output.contains("[Source/Fetch]"),
        "{output}"
    );

    // A missing object is found before the run.
    let file = ws.write(
        "missing-object.json",
        s3_pipeline("source-bucket", "nothing-here", deploy),
    );
    let output = ws.fails(&["run", file.to_str().unwrap()]);
    assert!(
        output.contains("configuration.S3ObjectKey: ResourceNotFoundException: s3://source-bucket/nothing-here does not exist: upload the source with `sandpipe s3 cp <file.zip> s3://source-bucket/nothing-here`"),
        "{output}"
    );
    assert_eq!(ws.list("s3://target-bucket/"), "");
}

#[test]
fn structural_problems_are_all_reported_with_paths() {
    let ws = Workspace::new();
    let file = ws.write(
        "bad.json",
        r#"{"name":"p","artifactStore":{"type":"S3","location":"artifact-store-bucket"},"stages":[
            {"name":"Source","actions":[{"name":"A","actionTypeId":{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"},
              "configuration":{"BucketName":"b","Extract":"true"},"inputArtifacts":[{"name":"Nope"}]}]}]}"#,
    );
    let output = ws.fails(&["run", file.to_str().unwrap()]);
    let lines: Vec<&str> = output.trim().lines().collect();
    assert_eq!(
        lines,
        [
            "sandpipe: bad.json: roleArn: ValidationException: Value 'null' at 'roleArn' failed to satisfy constraint: Member must not be null",
            "sandpipe: bad.json: stages: InvalidStructureException: Pipeline has only 1 stage(s). There should be a minimum of 2 stages in a pipeline",
            "sandpipe: bad.json: stages[0].actions: InvalidStructureException: The first stage 'Source' must contain at least one Source action",
            "sandpipe: bad.json: stages[0].actions[0].actionTypeId.category: InvalidStructureException: Action 'A' is a Deploy action; the first stage may contain only Source actions",
            "sandpipe: bad.json: stages[0].actions[0].inputArtifacts[0].name: InvalidStructureException: Input artifact 'Nope' of action 'A' is not the output artifact of any action in the pipeline",
            "sandpipe: nothing ran: 5 problems",
        ]
        .map(|l| l.replace("bad.json", file.to_str().unwrap()))
    );
    assert_eq!(ws.records(), Vec::<serde_json::Value>::new());
}

#[test]
fn s3_commands_follow_the_aws_cli() {
    let ws = Workspace::new();
    assert_eq!(ws.ok(&["s3", "mb", "s3://b-1"]).trim(), "make_bucket: b-1");
    let output = ws.fails(&["s3", "mb", "s3://b-1"]);
    assert!(output.contains("BucketAlreadyOwnedByYou"), "{output}");
    std::fs::create_dir_all(ws.path("dir/sub")).unwrap();
    ws.write("dir/a.txt", "a");
    ws.write("dir/sub/b.txt", "b");
    ws.ok(&["s3", "cp", "dir", "s3://b-1/up", "--recursive"]);
    let listing = ws.ok(&["s3", "ls", "s3://b-1/up/"]);
    let names: Vec<&str> = listing
        .lines()
        .map(|l| l.rsplit(' ').next().unwrap())
        .collect();
    assert_eq!(names, ["sub/", "a.txt"]);
    assert_eq!(ws.get("s3://b-1/up/sub/b.txt"), b"b");
    ws.ok(&["s3", "cp", "s3://b-1/up/a.txt", "copy.txt"]);
    assert_eq!(std::fs::read(ws.path("copy.txt")).unwrap(), b"a");

    let versioning = ws.ok(&["s3api", "get-bucket-versioning", "--bucket", "b-1"]);
    assert_eq!(versioning.trim(), "{}");
    ws.ok(&[
        "s3api",
        "put-bucket-versioning",
        "--bucket",
        "b-1",
        "--versioning-configuration",
        r#"{"Status":"Enabled"}"#,
    ]);
    ws.ok(&["s3", "cp", "dir/a.txt", "s3://b-1/v"]);
    ws.ok(&["s3", "cp", "dir/sub/b.txt", "s3://b-1/v"]);
    let versions: serde_json::Value = serde_json::from_str(&ws.ok(&[
        "s3api",
        "list-object-versions",
        "--bucket",
        "b-1",
        "--prefix",
        "v",
    ]))
    .unwrap();
    assert_eq!(versions["Versions"].as_array().unwrap().len(), 2);

    let output = ws.fails(&["s3", "rb", "s3://b-1"]);
    assert!(output.contains("BucketNotEmpty"), "{output}");
    ws.ok(&["s3", "rb", "s3://b-1", "--force"]);
    assert_eq!(ws.ok(&["s3", "ls"]), "");
}

fn corpus(name: &str) -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../model/tests/corpus/valid")
        .join(name)
}

#[test]
fn validate_reports_problems_and_exit_codes() {
    let ws = Workspace::new();
    let valid = corpus("27-v2-commands-action.json");
    let output = ws.ok(&["validate", "--declaration-only", valid.to_str().unwrap()]);
    assert!(
        output.ends_with("valid: pipeline 'v2-commands' (V2, 3 stages, 3 actions)\n"),
        "{output}"
    );
    // Whether it can run here is more: its buckets are not there.
    let output = ws.fails(&["validate", valid.to_str().unwrap()]);
    assert!(
        output.contains("ResourceNotFoundException: the bucket 'source-bucket' does not exist")
            && !output.contains("no provider"),
        "{output}"
    );

    let text = std::fs::read_to_string(&valid)
        .unwrap()
        .replace("\"V2\"", "\"V1\"");
    let file = ws.write("v1.json", text);
    let output = ws.fails(&["validate", file.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(report["valid"], false);
    assert_eq!(report["pipeline"]["name"], "v2-commands");
    assert_eq!(
        report["problems"],
        serde_json::json!([{
            "file": file.to_str().unwrap(),
            "path": "stages[1].actions[0].actionTypeId",
            "exception": "InvalidStructureException",
            "message": "The Commands action is only supported for pipeline type V2",
        }])
    );

    let file = ws.write("broken.json", "{\"name\": ");
    let output = ws.fails(&["validate", file.to_str().unwrap(), "--json"]);
    let report: serde_json::Value = serde_json::from_str(&output).unwrap();
    assert_eq!(report["problems"][0]["exception"], "SerializationException");
    assert_eq!(report["pipeline"], serde_json::Value::Null);
}

#[test]
fn graph_draws_text_mermaid_dot_and_svg() {
    let ws = Workspace::new();
    let file = corpus("10-parallel-builds.json");
    let text = ws.ok(&["graph", file.to_str().unwrap()]);
    assert_eq!(text.lines().next(), Some("parallel (V1, SUPERSEDED)"));
    assert!(text.contains("1 ║ BuildLinux"), "{text}");
    let mermaid = ws.ok(&["graph", file.to_str().unwrap(), "--format", "mermaid"]);
    assert!(
        mermaid.contains("s1a0 -- \"LinuxBuild\" --> s2a0"),
        "{mermaid}"
    );
    let dot = ws.ok(&["graph", file.to_str().unwrap(), "--format", "dot"]);
    assert!(dot.starts_with("digraph pipeline {"), "{dot}");
    // The SVG is read by a real XML parser: well formed, an SVG, a box per stage and action.
    let svg = ws.ok(&["graph", file.to_str().unwrap(), "--format", "svg"]);
    let mut python = Command::new("python3")
        .args([
            "-c",
            "import sys, xml.etree.ElementTree as E\n\
             root = E.fromstring(sys.stdin.read())\n\
             rects = root.findall('.//{http://www.w3.org/2000/svg}rect')\n\
             print(root.tag, len(rects))",
        ])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    std::io::Write::write_all(&mut python.stdin.take().unwrap(), svg.as_bytes()).unwrap();
    let parsed = python.wait_with_output().unwrap();
    assert!(parsed.status.success(), "{svg}");
    // 3 stages and 5 actions.
    assert_eq!(
        String::from_utf8_lossy(&parsed.stdout).trim(),
        "{http://www.w3.org/2000/svg}svg 8"
    );
    let output = ws.fails(&["graph", "missing.yaml"]);
    assert!(output.contains("missing.yaml: cannot read"), "{output}");
}

#[test]
fn a_cloudformation_template_runs_end_to_end() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "from a template\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    let template = r#"
AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  TargetKey: {Type: String}
Resources:
  Sources: {Type: AWS::S3::Bucket, Properties: {BucketName: source-bucket}}
  Target: {Type: AWS::S3::Bucket, Properties: {BucketName: target-bucket}}
  Artifacts: {Type: AWS::S3::Bucket, Properties: {BucketName: !Sub "artifact-store-${Suffix}"}}
  Role: {Type: AWS::IAM::Role}
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: !Sub "${AWS::StackName}-copy"
      RoleArn: !GetAtt Role.Arn
      ArtifactStore: {Type: S3, Location: !Ref Artifacts}
      Stages:
        - Name: Source
          Actions:
            - Name: Fetch
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: 1}
              Configuration: {S3Bucket: !Ref Sources, S3ObjectKey: file, PollForSourceChanges: false}
              OutputArtifacts: [{Name: Copied}]
        - Name: Deploy
          Actions:
            - Name: Put
              ActionTypeId: {Category: Deploy, Owner: AWS, Provider: S3, Version: 1}
              Configuration: {BucketName: !Ref Target, Extract: false, ObjectKey: !Ref TargetKey}
              InputArtifacts: [{Name: Copied}]
"#
    .replace("${Suffix}", "bucket");
    let file = ws.write("pipeline.template.yml", template);
    let output = ws.fails(&["run", file.to_str().unwrap()]);
    assert!(
        output.contains("Resources.Pipeline.Properties.Stages[1].Actions[0].Configuration.ObjectKey.Ref: parameter 'TargetKey' has no Default; pass --parameter TargetKey=<value>"),
        "{output}"
    );
    ws.ok(&[
        "run",
        file.to_str().unwrap(),
        "--parameter",
        "TargetKey=copied.txt",
    ]);
    assert_eq!(
        ws.get("s3://target-bucket/copied.txt"),
        b"from a template\n"
    );
    assert_eq!(ws.records()[0]["pipelineName"], "sandpipe-copy");
}

#[test]
fn a_killed_run_is_ended_with_a_reason_and_logs_are_kept() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let file = ws.write("pipeline.json", build_pipeline(r#"{"Mode":"loop"}"#));
    let mut child = Command::new(env!("CARGO_BIN_EXE_sandpipe"))
        .args([
            "run",
            file.to_str().unwrap(),
            "--provider",
            &probe_grant(),
            "--plain",
        ])
        .current_dir(ws.dir.path())
        .env_remove("SANDPIPE_STATE_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    // Wait until the looping build action is running, then kill the process outright.
    let started = std::time::Instant::now();
    loop {
        let records = ws.records();
        if records
            .first()
            .is_some_and(|r| r["stages"][1]["actions"][0]["status"] == "InProgress")
        {
            break;
        }
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the build never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    child.kill().unwrap();
    child.wait().unwrap();

    let record = &ws.records()[0];
    assert_eq!(record["status"], "Failed");
    let reason = record["statusSummary"].as_str().unwrap();
    assert!(
        reason
            .starts_with("Build/Compile failed: the sandpipe process running this execution (pid "),
        "{reason}"
    );
    assert_eq!(record["stages"][0]["actions"][0]["status"], "Succeeded");
    assert_eq!(record["stages"][1]["status"], "Failed");
    assert_eq!(record["stages"][1]["actions"][0]["status"], "Failed");
    assert_eq!(
        format!(
            "Build/Compile failed: {}",
            record["stages"][1]["actions"][0]["error"]["message"]
                .as_str()
                .unwrap()
        ),
        reason
    );
    assert_eq!(record["stages"][2]["actions"][0]["status"], "NotStarted");

    let id = record["pipelineExecutionId"].as_str().unwrap();
    let list = ws.ok(&["executions", "list"]);
    assert!(list.contains(id) && list.contains("Failed"), "{list}");
    let logs = ws.ok(&["logs", &id[..8], "--action", "Source/Fetch"]);
    assert!(
        logs.contains("fetched s3://source-bucket/src.zip"),
        "{logs}"
    );
    let all = ws.ok(&["logs", id]);
    assert!(all.contains("==> Source/Fetch <=="), "{all}");
    let output = ws.fails(&["logs", id, "--action", "Nope"]);
    assert!(output.contains("has no action 'Nope'"), "{output}");
    let shown = ws.ok(&["executions", "show", id]);
    assert!(
        shown.contains("configuration S3ObjectKey = src.zip"),
        "{shown}"
    );
}

#[test]
fn pipeline_variables_take_defaults_and_overrides() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "vars");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    let pipeline = s3_pipeline(
        "source-bucket",
        "file",
        r##"{"BucketName":"target-bucket","Extract":"false","ObjectKey":"#{variables.Env}/#{variables.Name}"}"##,
    )
    .replace(r#""name":"site","#, r#""name":"site","pipelineType":"V2","variables":[{"name":"Env","defaultValue":"staging"},{"name":"Name"}],"#);
    let file = ws.write("pipeline.json", pipeline);
    let path = file.to_str().unwrap();

    let output = ws.fails(&["run", path]);
    assert!(
        output.contains("pipeline.variables[1]: ValidationException: pipeline variable 'Name' has no default value; pass --variable Name=<value>"),
        "{output}"
    );
    let output = ws.fails(&["run", path, "--variable", "Name=a", "--variable", "Nope=x"]);
    assert!(
        output.contains(
            "--variable Nope: ValidationException: pipeline variable 'Nope' is not declared"
        ),
        "{output}"
    );

    ws.ok(&["run", path, "--variable", "Name=app"]);
    assert_eq!(ws.get("s3://target-bucket/staging/app"), b"vars");
    ws.ok(&[
        "run",
        path,
        "--variable",
        "Name=app",
        "--variable",
        "Env=prod",
    ]);
    assert_eq!(ws.get("s3://target-bucket/prod/app"), b"vars");
    let records = ws.records();
    assert_eq!(
        records[1]["variables"],
        serde_json::json!({"Env": "prod", "Name": "app"})
    );
    assert_eq!(
        records[1]["stages"][1]["actions"][0]["resolvedConfiguration"]["ObjectKey"],
        "prod/app"
    );
}

#[test]
fn every_state_change_is_journaled_as_an_eventbridge_event() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "events");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    ws.ok(&["run", example().to_str().unwrap(), "--region", "eu-west-1"]);
    let id = ws.records()[0]["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    let journal =
        std::fs::read_to_string(ws.path(&format!(".sandpipe/executions/{id}/events.jsonl")))
            .unwrap();
    let events: Vec<serde_json::Value> = journal
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let timeline: Vec<String> = events
        .iter()
        .map(|e| {
            let detail = &e["detail"];
            let kind = e["detail-type"]
                .as_str()
                .unwrap()
                .trim_start_matches("CodePipeline ")
                .trim_end_matches(" Execution State Change");
            let place = [&detail["stage"], &detail["action"]]
                .iter()
                .filter_map(|v| v.as_str())
                .collect::<Vec<_>>()
                .join("/");
            format!("{kind} {place} {}", detail["state"].as_str().unwrap()).replace("  ", " ")
        })
        .collect();
    assert_eq!(
        timeline,
        [
            "Pipeline STARTED",
            "Stage stage1 STARTED",
            "Action stage1/action1 STARTED",
            "Action stage1/action1 SUCCEEDED",
            "Stage stage1 SUCCEEDED",
            "Stage stage2 STARTED",
            "Action stage2/action1 STARTED",
            "Action stage2/action1 SUCCEEDED",
            "Stage stage2 SUCCEEDED",
            "Pipeline SUCCEEDED",
        ]
    );
    let first = &events[0];
    assert_eq!(first["source"], "aws.codepipeline");
    assert_eq!(first["region"], "eu-west-1");
    assert_eq!(
        first["resources"][0],
        "arn:aws:codepipeline:eu-west-1:123456789012:pipeline"
    );
    assert_eq!(first["detail"]["execution-id"], id.as_str());
    assert_eq!(
        first["detail"]["execution-trigger"],
        serde_json::json!({"trigger-type": "StartPipelineExecution", "trigger-detail": "sandpipe run"})
    );
    assert_eq!(
        events[3]["detail"]["type"],
        serde_json::json!({"owner":"AWS","category":"Source","provider":"S3","version":"1"})
    );
    assert!(
        events[3]["detail"]["execution-result"]["external-execution-summary"]
            .as_str()
            .unwrap()
            .starts_with("s3://source-bucket/file")
    );
}
