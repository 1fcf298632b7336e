//! `Invoke/AWS/Lambda/1` running the user's own Python handler, unchanged, through the real
//! binary: it gets the CodePipeline job event, reads its input artifact from S3 and writes
//! its output with the job's credentials, and reports with boto3's `put_job_success_result`
//! (once with a continuation token, then with output variables a later action uses) or
//! `put_job_failure_result` — against the endpoint the run starts. A handler that never
//! reports times out.

mod common;

use common::aws::venv;
use common::{Workspace, zip_of};

const HANDLER: &str = r#"import io, json, zipfile
import boto3

def handler(event, context):
    job = event["CodePipeline.job"]
    data = job["data"]
    codepipeline = boto3.client("codepipeline")
    mode = json.loads(data["actionConfiguration"]["configuration"]["UserParameters"])["mode"]
    print(f"job {job['id']} in mode {mode}, {context.get_remaining_time_in_millis()} ms left")
    if mode == "silent":
        return "never reports"
    if mode == "crash":
        raise RuntimeError("the handler broke")
    if mode == "fail":
        # A flood: 20 MiB on one line, and a byte that is not UTF-8. The log keeps its share,
        # and the handler's writes never fail.
        import sys
        for _ in range(20):
            sys.stdout.buffer.write(b"x" * (1 << 20))
        sys.stdout.buffer.write(b"\xff\n")
        sys.stdout.flush()
        codepipeline.put_job_failure_result(
            jobId=job["id"], failureDetails={"type": "JobFailed", "message": "the handler said no"})
        return
    if "continuationToken" not in data:
        codepipeline.put_job_success_result(jobId=job["id"], continuationToken="second-pass")
        return
    credentials = data["artifactCredentials"]
    s3 = boto3.client("s3", aws_access_key_id=credentials["accessKeyId"],
                      aws_secret_access_key=credentials["secretAccessKey"],
                      aws_session_token=credentials["sessionToken"])
    source = data["inputArtifacts"][0]["location"]["s3Location"]
    body = s3.get_object(Bucket=source["bucketName"], Key=source["objectKey"])["Body"].read()
    text = zipfile.ZipFile(io.BytesIO(body)).read("in.txt").decode().strip()
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as archive:
        archive.writestr("shouted.txt", text.upper())
    target = data["outputArtifacts"][0]["location"]["s3Location"]
    s3.put_object(Bucket=target["bucketName"], Key=target["objectKey"], Body=out.getvalue())
    codepipeline.put_job_success_result(
        jobId=job["id"], outputVariables={"Shouted": text.upper()},
        executionDetails={"summary": "shouted", "percentComplete": 100})
"#;

fn pipeline(mode: &str) -> String {
    format!(
        r##"{{"pipeline": {{
  "name": "lambda", "roleArn": "arn:aws:iam::123456789012:role/r",
  "artifactStore": {{"type": "S3", "location": "artifacts"}},
  "stages": [
    {{"name": "Source", "actions": [{{"name": "Fetch",
      "actionTypeId": {{"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}},
      "configuration": {{"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"}},
      "outputArtifacts": [{{"name": "Src"}}]}}]}},
    {{"name": "Invoke", "actions": [{{"name": "Shout", "namespace": "LambdaVars",
      "actionTypeId": {{"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"}},
      "configuration": {{"FunctionName": "shout", "UserParameters": "{{\"mode\": \"{mode}\"}}"}},
      "inputArtifacts": [{{"name": "Src"}}], "outputArtifacts": [{{"name": "Loud"}}]}}]}},
    {{"name": "Deploy", "actions": [{{"name": "Publish",
      "actionTypeId": {{"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"}},
      "configuration": {{"BucketName": "site", "Extract": "true", "ObjectKey": "#{{LambdaVars.Shouted}}"}},
      "inputArtifacts": [{{"name": "Loud"}}]}}]}}
  ]}}}}"##
    )
}

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.versioned_bucket("src");
    ws.write("src.zip", zip_of(&[("in.txt", "hello lambda\n")]));
    ws.ok(&["s3", "cp", "src.zip", "s3://src/src.zip"]);
    ws.ok(&["s3", "mb", "s3://site"]);
    std::fs::create_dir(ws.path("lambda")).unwrap();
    ws.write("lambda/app.py", HANDLER);
    let python = venv().join("bin/python");
    ws.write(
        "sandpipe-functions.yaml",
        format!(
            "functions:\n  shout:\n    runtime: python3.11\n    handler: app.handler\n    \
             code: lambda\n    command: [{}]\n",
            python.display()
        ),
    );
    ws
}

#[test]
fn a_boto3_handler_runs_unchanged_with_a_continuation_and_output_variables() {
    let ws = workspace();
    ws.write("pipeline.json", pipeline("work"));
    // The plan says what the run does with the function.
    let plan = ws.ok(&["run", "--dry-run", "pipeline.json"]);
    assert!(
        plan.contains("invokes app.handler (python3.11,") && !plan.contains("no provider"),
        "{plan}"
    );
    ws.ok(&["run", "--plain", "pipeline.json"]);
    let shouted = ws.get("s3://site/HELLO LAMBDA/shouted.txt");
    assert_eq!(String::from_utf8_lossy(&shouted), "HELLO LAMBDA");
    let record = ws.records().pop().unwrap();
    let shout = &record["stages"][1]["actions"][0];
    assert_eq!(
        shout["outputVariables"]["Shouted"], "HELLO LAMBDA",
        "{shout}"
    );
    assert_eq!(shout["summary"], "shouted", "{shout}");
    // What the handler printed is the action's log, as Lambda's goes to its log group.
    let logs = ws.ok(&["logs", record["pipelineExecutionId"].as_str().unwrap()]);
    assert!(
        logs.contains("in mode work") && logs.contains("ms left"),
        "{logs}"
    );
}

#[test]
fn a_failure_report_fails_the_action_and_silence_times_out() {
    let ws = workspace();
    ws.write("fail.json", pipeline("fail"));
    let failed = ws.fails(&["run", "--plain", "fail.json"]);
    assert!(failed.contains("the handler said no"), "{failed}");
    let record = ws.records().pop().unwrap();
    let log = ws.path(&format!(
        ".sandpipe/executions/{}/{}",
        record["pipelineExecutionId"].as_str().unwrap(),
        record["stages"][1]["actions"][0]["logFile"]
            .as_str()
            .unwrap()
    ));
    let size = std::fs::metadata(&log).unwrap().len();
    assert!(size < 17 << 20, "{size} bytes of log");
    let text = String::from_utf8_lossy(&std::fs::read(&log).unwrap()).into_owned();
    assert!(text.contains("output past 16 MiB is not kept"), "{size}");
    // The run said first that the handler runs outside the sandbox.
    assert!(
        failed.contains("note: Lambda handlers run on this machine, outside the wasm sandbox"),
        "{failed}"
    );
    ws.write("silent.json", pipeline("silent"));
    let timed_out = ws.fails(&["run", "--plain", "--action-timeout", "3s", "silent.json"]);
    let record = ws.records().pop().unwrap();
    let shout = &record["stages"][1]["actions"][0];
    assert_eq!(shout["status"], "Failed", "{timed_out}");
    let message = shout["error"]["message"].as_str().unwrap();
    assert!(message.contains("timeout"), "{shout}");
    // The log says why nothing happened while the action waited.
    let logs = ws.ok(&["logs", record["pipelineExecutionId"].as_str().unwrap()]);
    assert!(
        logs.contains("the handler returned (exit status: 0) without reporting a result"),
        "{logs}"
    );
}

#[test]
fn a_crashing_handler_fails_at_once_and_a_missing_module_is_refused_before_the_run() {
    let ws = workspace();
    // Not the hour a job waits for a report: the handler's process failed, so nothing will.
    ws.write("crash.json", pipeline("crash"));
    let started = std::time::Instant::now();
    let failed = ws.fails(&["run", "--plain", "crash.json"]);
    assert!(
        started.elapsed() < std::time::Duration::from_secs(60),
        "{failed}"
    );
    let record = ws.records().pop().unwrap();
    let message = record["stages"][1]["actions"][0]["error"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.contains("the handler failed (exit status: 1) before reporting a result")
            && message.contains("RuntimeError: the handler broke"),
        "{message}"
    );
    // A handler whose module is not in its code directory never starts (with no `command`:
    // an interpreter named there may bring the module from its own packages).
    let functions = std::fs::read_to_string(ws.path("sandpipe-functions.yaml")).unwrap();
    let without_command: String = functions
        .lines()
        .filter(|line| !line.trim_start().starts_with("command:"))
        .map(|line| format!("{line}\n"))
        .collect();
    ws.write(
        "sandpipe-functions.yaml",
        without_command.replace("app.handler", "nomod.handler"),
    );
    let refused = ws.fails(&["run", "--plain", "crash.json"]);
    assert!(
        refused.contains("needs its module 'nomod'")
            && refused.contains("configuration.FunctionName"),
        "{refused}"
    );
    // A functions file that cannot be read is the one problem said, not also "no provider".
    ws.write(
        "sandpipe-functions.yaml",
        functions.replace("python3.11", "nodejsX.x"),
    );
    let refused = ws.fails(&["run", "--plain", "crash.json"]);
    assert!(
        refused.contains("functions.shout.runtime") && !refused.contains("no provider"),
        "{refused}"
    );
    assert_eq!(ws.records().len(), 1, "nothing ran");
}

#[test]
fn an_unmapped_function_is_refused_with_where_to_map_it() {
    let ws = workspace();
    ws.write(
        "pipeline.json",
        pipeline("work").replace("\"shout\"", "\"other\""),
    );
    let refused = ws.fails(&["run", "--plain", "pipeline.json"]);
    assert!(
        refused.contains("map FunctionName 'other' to its local code")
            && refused.contains("stages[1].actions[0].configuration.FunctionName"),
        "{refused}"
    );
}

/// A Node handler with no SDK at all: it reports over the JSON API with `fetch`, as any
/// client may.
const NODE_HANDLER: &str = r#"exports.handler = async (event, context) => {
  const job = event['CodePipeline.job'];
  console.log(`node handler for job ${job.id} (${context.functionName})`);
  const response = await fetch(process.env.AWS_ENDPOINT_URL, {
    method: 'POST',
    headers: {
      'X-Amz-Target': 'CodePipeline_20150709.PutJobSuccessResult',
      'Content-Type': 'application/x-amz-json-1.1',
    },
    body: JSON.stringify({ jobId: job.id, outputVariables: { From: 'node' } }),
  });
  if (!response.ok) throw new Error(await response.text());
};
"#;

#[test]
fn a_node_handler_runs_too() {
    let ws = workspace();
    std::fs::create_dir(ws.path("node")).unwrap();
    ws.write("node/index.js", NODE_HANDLER);
    ws.write(
        "sandpipe-functions.yaml",
        "functions:\n  hello:\n    runtime: nodejs20.x\n    handler: index.handler\n    code: node\n",
    );
    ws.write(
        "node.json",
        r#"{"pipeline": {"name": "node", "roleArn": "arn:aws:iam::123456789012:role/r",
  "artifactStore": {"type": "S3", "location": "artifacts"},
  "stages": [
    {"name": "Source", "actions": [{"name": "Fetch",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
      "outputArtifacts": [{"name": "Src"}]}]},
    {"name": "Invoke", "actions": [{"name": "Hello",
      "actionTypeId": {"category": "Invoke", "owner": "AWS", "provider": "Lambda", "version": "1"},
      "configuration": {"FunctionName": "hello"}, "inputArtifacts": [{"name": "Src"}]}]}
  ]}}"#,
    );
    ws.ok(&["run", "--plain", "node.json"]);
    let record = ws.records().pop().unwrap();
    let hello = &record["stages"][1]["actions"][0];
    assert_eq!(hello["outputVariables"]["From"], "node", "{hello}");
    let logs = ws.ok(&["logs", record["pipelineExecutionId"].as_str().unwrap()]);
    assert!(
        logs.contains("node handler for job") && logs.contains("(hello)"),
        "{logs}"
    );
}

/// The sandboxed alternative: a function that is an action component runs in the wasm
/// sandbox, getting its configuration (`UserParameters`) and artifacts like any provider.
#[test]
fn a_wasm_function_runs_in_the_sandbox() {
    let ws = workspace();
    ws.write(
        "sandpipe-functions.yaml",
        format!(
            "functions:\n  shout:\n    runtime: wasm\n    code: {}\n",
            sandpipe_runtime::providers::PROBE_COMPONENT_PATH
        ),
    );
    // The probe takes its mode from UserParameters: copy its input to its output.
    ws.write(
        "pipeline.json",
        pipeline("work")
            .replace(
                r#""UserParameters": "{\"mode\": \"work\"}""#,
                r#""UserParameters": "copy-inputs""#,
            )
            .replace("#{LambdaVars.Shouted}", "copied"),
    );
    ws.ok(&["run", "--plain", "pipeline.json"]);
    let copied = ws.get("s3://site/copied/in.txt");
    assert_eq!(String::from_utf8_lossy(&copied), "hello lambda\n");
}

#[test]
fn a_bundle_carries_the_handler_code_and_the_replay_runs_it() {
    let ws = workspace();
    ws.write("pipeline.json", pipeline("work"));
    ws.ok(&["run", "--plain", "pipeline.json"]);
    ws.ok(&["export", "-o", "run.tar.zst"]);
    // Elsewhere: no functions file, no handler directory, no buckets.
    let elsewhere = tempfile::tempdir().unwrap();
    let state = elsewhere.path().join("state");
    let output = ws.sandpipe(&[
        "--state-dir",
        state.to_str().unwrap(),
        "replay",
        ws.path("run.tar.zst").to_str().unwrap(),
        "--plain",
        "--create-buckets",
    ]);
    let text = String::from_utf8_lossy(&output.stdout);
    // The handler ran from the bundle's copy of its code and made the same files. Python's
    // zipfile stamps the time (to 2 s) into the archive, so the archive itself may differ,
    // and then the replay says that only the archive does.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("/bundles/") && stderr.contains("/lambda) on this machine"),
        "{stderr}"
    );
    assert!(
        text.contains("2 artifacts identical")
            || (text.contains("Invoke/Shout → Loud:")
                && text.contains("the same files with the same bytes")),
        "{text}{stderr}"
    );
    let replayed: serde_json::Value = serde_json::from_str(&ws.ok(&[
        "--state-dir",
        state.to_str().unwrap(),
        "executions",
        "show",
        "--json",
    ]))
    .unwrap();
    let shout = &replayed["stages"][1]["actions"][0];
    assert_eq!(shout["status"], "Succeeded", "{shout}");
    assert_eq!(
        shout["outputVariables"]["Shouted"], "HELLO LAMBDA",
        "{shout}"
    );
    assert!(
        state
            .join("bundles")
            .read_dir()
            .unwrap()
            .flatten()
            .any(|dir| dir.path().join("lambda/app.py").is_file()),
        "the handler's code was kept beside the bundle's pipeline"
    );
}
