//! End-to-end tests of the `sandpipe` binary: real pipelines, real components, a fresh state
//! directory per test.

use std::path::{Path, PathBuf};
use std::process::Command;

use sha2::{Digest, Sha256};

mod common;
use common::{Workspace, zip_of};

const PROBE: &str = sandpipe_runtime::providers::PROBE_COMPONENT_PATH;

fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/s3-to-s3/pipeline.json")
}

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

/// A two-stage S3 source → S3 deploy pipeline, with the deploy configuration given.
fn s3_pipeline(source_bucket: &str, key: &str, deploy: &str) -> String {
    format!(
        r#"{{"pipeline":{{"name":"site","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{{"type":"S3","location":"artifact-store-bucket"}},
          "stages":[
            {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"S3Bucket":"{source_bucket}","S3ObjectKey":"{key}","PollForSourceChanges":"false"}},
              "outputArtifacts":[{{"name":"Site"}}]}}]}},
            {{"name":"Deploy","actions":[{{"name":"Publish","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{deploy},"inputArtifacts":[{{"name":"Site"}}]}}]}}]}}}}"#
    )
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

/// Source → probe build (copies its input into a zip artifact) → deploy that zip.
fn build_pipeline(build_config: &str) -> String {
    format!(
        r#"{{"name":"built","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{{"type":"S3","location":"artifact-store-bucket"}},
          "stages":[
            {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"S3Bucket":"source-bucket","S3ObjectKey":"src.zip"}},"outputArtifacts":[{{"name":"Src"}}]}}]}},
            {{"name":"Build","actions":[{{"name":"Compile","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
              "configuration":{build_config},"inputArtifacts":[{{"name":"Src"}}],"outputArtifacts":[{{"name":"Bin"}}]}}]}},
            {{"name":"Deploy","actions":[{{"name":"Put","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"BucketName":"target-bucket","Extract":"false","ObjectKey":"bin.zip"}},"inputArtifacts":[{{"name":"Bin"}}]}}]}}]}}"#
    )
}

fn probe_grant() -> String {
    format!("Build/Custom/Probe/1={PROBE}")
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

fn stage_status(record: &serde_json::Value, stage: usize) -> &str {
    record["stages"][stage]["status"].as_str().unwrap()
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
fn conditions_pipeline(build_extra: &str, ship_extra: &str) -> String {
    format!(
        r##"{{"name":"conditions","pipelineType":"V2","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{{"type":"S3","location":"artifact-store-bucket"}},
          "stages":[
            {{"name":"Source","actions":[{{"name":"Fetch","namespace":"SourceVariables","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"S3Bucket":"source-bucket","S3ObjectKey":"src.zip"}},"outputArtifacts":[{{"name":"Src"}}]}}]}},
            {{"name":"Build"{build_extra},"actions":[
              {{"name":"Compile","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
               "configuration":{{"Mode":"copy-inputs"}},"inputArtifacts":[{{"name":"Src"}}],"outputArtifacts":[{{"name":"Bin"}}]}},
              {{"name":"Flaky","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
               "configuration":{{"Mode":"fail-once","Object":"target-bucket/marker","MarkerBucket":"target-bucket"}}}}]}},
            {{"name":"Ship"{ship_extra},"actions":[{{"name":"Done","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
              "configuration":{{"Mode":"noop"}}}}]}}]}}"##
    )
}

fn variable_check(result: &str, operator: &str, value: &str) -> String {
    format!(
        r##"{{"conditions":[{{"result":"{result}","rules":[{{"name":"KeyCheck","ruleTypeId":{{"category":"Rule","owner":"AWS","provider":"VariableCheck","version":"1"}},
            "configuration":{{"Variable":"#{{SourceVariables.ObjectKey}}","Operator":"{operator}","Value":"{value}"}}}}]}}]}}"##
    )
}

#[test]
fn on_failure_retry_runs_the_failed_actions_again_once() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let retry =
        r#","onFailure":{"result":"RETRY","retryConfiguration":{"retryMode":"FAILED_ACTIONS"}}"#;
    let file = ws.write("pipeline.json", conditions_pipeline(retry, ""));
    let output = ws.sandpipe(&[
        "run",
        file.to_str().unwrap(),
        "--provider",
        &probe_grant(),
        "--plain",
    ]);
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains(
            "Stage Build: retrying the stage automatically (onFailure RETRY, FAILED_ACTIONS)"
        ),
        "{printed}"
    );
    assert_eq!(
        printed.matches("[Build/Compile] started").count(),
        1,
        "Compile ran once: {printed}"
    );
    assert_eq!(
        printed.matches("[Build/Flaky] started").count(),
        2,
        "Flaky ran twice: {printed}"
    );
    let record = ws.records().pop().unwrap();
    assert_eq!(record["status"], "Succeeded");
    assert_eq!(
        record["stages"][1]["actions"][1]["summary"],
        "the marker was there"
    );
}

#[test]
fn entry_and_success_conditions_check_variables() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    ws.write("marker", "present");
    ws.ok(&["s3", "cp", "marker", "s3://target-bucket/marker"]);
    let run = |name: &str, build: String, ship: String| {
        let file = ws.write(name, conditions_pipeline(&build, &ship));
        let output = ws.sandpipe(&[
            "run",
            file.to_str().unwrap(),
            "--provider",
            &probe_grant(),
            "--plain",
        ]);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            ws.records().pop().unwrap(),
        )
    };

    // An entry condition that holds lets the stage run.
    let (ok, printed, record) = run(
        "pass.json",
        String::new(),
        format!(
            ",\"beforeEntry\":{}",
            variable_check("FAIL", "EQ", "src.zip")
        ),
    );
    assert!(ok, "{printed}");
    assert!(
        printed.contains("beforeEntry rule 'KeyCheck' passed: 'src.zip' EQ 'src.zip'"),
        "{printed}"
    );
    assert_eq!(stage_status(&record, 2), "Succeeded");

    // One that fails with FAIL fails the stage before it runs.
    let (ok, printed, record) = run(
        "fail.json",
        String::new(),
        format!(
            ",\"beforeEntry\":{}",
            variable_check("FAIL", "MATCHES", "^release-.*")
        ),
    );
    assert!(!ok);
    assert!(printed.contains("beforeEntry rule 'KeyCheck' failed (Fail): 'src.zip' MATCHES '^release-.*' does not hold"), "{printed}");
    assert_eq!(stage_status(&record, 2), "Failed");
    assert_eq!(record["stages"][2]["actions"][0]["status"], "NotStarted");

    // With SKIP the stage is skipped and the execution goes on.
    let (ok, _, record) = run(
        "skip.json",
        format!(
            ",\"beforeEntry\":{}",
            variable_check("SKIP", "CONTAINS", "nightly")
        ),
        String::new(),
    );
    assert!(ok);
    assert_eq!(stage_status(&record, 1), "Skipped");
    assert_eq!(stage_status(&record, 2), "Succeeded");
    assert_eq!(record["status"], "Succeeded");

    // A success condition that fails fails the stage after its actions succeeded.
    let (ok, printed, record) = run(
        "success.json",
        String::new(),
        format!(",\"onSuccess\":{}", variable_check("FAIL", "NE", "src.zip")),
    );
    assert!(!ok);
    assert!(
        printed.contains("onSuccess rule 'KeyCheck' failed"),
        "{printed}"
    );
    assert_eq!(record["stages"][2]["actions"][0]["status"], "Succeeded");
    assert_eq!(stage_status(&record, 2), "Failed");
}

/// Source → Deploy [Put the site (Extract), Verify that ok.txt is in it], V2, with
/// `deploy_extra` spliced into the Deploy stage.
fn site_pipeline(deploy_extra: &str) -> String {
    format!(
        r#"{{"name":"site","pipelineType":"V2","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{{"type":"S3","location":"artifact-store-bucket"}},
          "stages":[
            {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"S3Bucket":"source-bucket","S3ObjectKey":"site.zip"}},"outputArtifacts":[{{"name":"Site"}}]}}]}},
            {{"name":"Deploy"{deploy_extra},"actions":[
              {{"name":"Put","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
               "configuration":{{"BucketName":"target-bucket","Extract":"true","ObjectKey":"www"}},"inputArtifacts":[{{"name":"Site"}}]}},
              {{"name":"Verify","runOrder":2,"actionTypeId":{{"category":"Test","owner":"Custom","provider":"Probe","version":"1"}},
               "configuration":{{"Mode":"read","Path":"/in/Site/ok.txt"}},"inputArtifacts":[{{"name":"Site"}}]}}]}}]}}"#
    )
}

fn probe_test_grant() -> String {
    format!("Test/Custom/Probe/1={PROBE}")
}

impl Workspace {
    fn publish_site(&self, version: &str, with_ok: bool) {
        let mut files = vec![("index.html", version)];
        if with_ok {
            files.push(("ok.txt", "ok"));
        }
        self.write("site.zip", zip_of(&files));
        self.ok(&["s3", "cp", "site.zip", "s3://source-bucket/site.zip"]);
    }
}

#[test]
fn rollback_runs_a_stage_again_with_an_earlier_executions_artifacts() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    let file = ws.write("pipeline.json", site_pipeline(""));
    let run = [
        "run",
        file.to_str().unwrap(),
        "--provider",
        &probe_test_grant(),
    ];
    ws.publish_site("v1", true);
    ws.ok(&run);
    ws.publish_site("v2", true);
    ws.ok(&run);
    assert_eq!(ws.get("s3://target-bucket/www/index.html"), b"v2");
    let first = ws.records()[0].clone();
    let first_id = first["pipelineExecutionId"].as_str().unwrap();

    let output = ws.fails(&[
        "rollback",
        "site",
        "--stage",
        "Source",
        "--provider",
        &probe_test_grant(),
    ]);
    assert!(
        output.contains("UnableToRollbackStageException: 'Source' is the source stage"),
        "{output}"
    );
    ws.ok(&[
        "rollback",
        "site",
        "--stage",
        "Deploy",
        "--target",
        first_id,
        "--provider",
        &probe_test_grant(),
    ]);
    assert_eq!(ws.get("s3://target-bucket/www/index.html"), b"v1");
    let rollback = ws.records().pop().unwrap();
    assert_eq!(rollback["executionType"], "ROLLBACK");
    assert_eq!(rollback["rollbackTarget"], first_id);
    assert_eq!(rollback["status"], "Succeeded");
    assert_eq!(
        rollback["stages"][1]["actions"][0]["inputArtifacts"][0]["sha256"],
        first["stages"][1]["actions"][0]["inputArtifacts"][0]["sha256"]
    );
    let output = ws.fails(&[
        "rollback",
        "site",
        "--stage",
        "Deploy",
        "--target",
        rollback["pipelineExecutionId"].as_str().unwrap(),
        "--provider",
        &probe_test_grant(),
    ]);
    assert!(
        output.contains("UnableToRollbackStageException"),
        "{output}"
    );
}

#[test]
fn a_failed_stage_with_on_failure_rollback_is_rolled_back_automatically() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    let file = ws.write(
        "pipeline.json",
        site_pipeline(r#","onFailure":{"result":"ROLLBACK"}"#),
    );
    let run = [
        "run",
        file.to_str().unwrap(),
        "--provider",
        &probe_test_grant(),
        "--plain",
    ];
    ws.publish_site("good", true);
    ws.ok(&run);
    ws.publish_site("broken", false);
    let output = ws.fails(&run);
    assert!(
        output.contains(
            "Stage Deploy: rolling back to the last execution that succeeded in this stage"
        ),
        "{output}"
    );
    assert_eq!(
        ws.get("s3://target-bucket/www/index.html"),
        b"good",
        "the good site is back"
    );
    let records = ws.records();
    assert_eq!(records.len(), 3);
    assert_eq!(records[1]["status"], "Failed");
    assert_eq!(records[2]["executionType"], "ROLLBACK");
    assert_eq!(
        records[2]["rollbackTarget"],
        records[0]["pipelineExecutionId"]
    );
    assert_eq!(records[2]["status"], "Succeeded");
}

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
