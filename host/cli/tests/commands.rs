//! The V2 Commands action (`Compute/AWS/Commands/1`) through the real binary on the local
//! runner: its commands build an artifact that its `files` globs filter, with its
//! environment variables and a pipeline variable in a command, and export a variable a later
//! action uses.

mod common;

use common::{Workspace, zip_of};

const PIPELINE: &str = r##"{"pipeline": {
  "name": "commands", "pipelineType": "V2",
  "roleArn": "arn:aws:iam::123456789012:role/r",
  "artifactStore": {"type": "S3", "location": "artifacts"},
  "variables": [{"name": "Greeting", "defaultValue": "hi there"}],
  "stages": [
    {"name": "Source", "actions": [{"name": "Fetch",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
      "outputArtifacts": [{"name": "Src"}]}]},
    {"name": "Build", "actions": [{"name": "Commands", "namespace": "BuildVariables",
      "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
      "commands": [
        "mkdir -p dist",
        "cp in.txt dist/copied.txt",
        "echo \"#{variables.Greeting} $NODE_ENV\" > dist/greeting.txt",
        "echo left out > other.txt",
        "export VERSION=1.2.3"
      ],
      "inputArtifacts": [{"name": "Src"}],
      "outputArtifacts": [{"name": "Dist", "files": ["dist/**/*"]}],
      "outputVariables": ["VERSION"],
      "environmentVariables": [{"name": "NODE_ENV", "value": "test", "type": "PLAINTEXT"}]}]},
    {"name": "Deploy", "actions": [{"name": "Publish",
      "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"BucketName": "site", "Extract": "true", "ObjectKey": "v#{BuildVariables.VERSION}"},
      "inputArtifacts": [{"name": "Dist"}]}]}
  ]}}"##;

fn workspace() -> Workspace {
    let ws = Workspace::new();
    ws.versioned_bucket("src");
    ws.write("src.zip", zip_of(&[("in.txt", "from the source\n")]));
    ws.ok(&["s3", "cp", "src.zip", "s3://src/src.zip"]);
    ws.ok(&["s3", "mb", "s3://site"]);
    ws
}

#[test]
fn commands_build_a_filtered_artifact_and_export_a_variable() {
    let ws = workspace();
    ws.write("pipeline.json", PIPELINE);
    ws.ok(&["run", "--plain", "pipeline.json"]);
    // Only what the files globs matched, under the prefix the exported variable made.
    let listed = ws.list("s3://site");
    assert!(
        listed.contains("v1.2.3/dist/copied.txt") && listed.contains("v1.2.3/dist/greeting.txt"),
        "{listed}"
    );
    assert!(
        !listed.contains("other.txt") && !listed.contains("in.txt\n"),
        "{listed}"
    );
    let greeting = ws.get("s3://site/v1.2.3/dist/greeting.txt");
    assert_eq!(String::from_utf8_lossy(&greeting), "hi there test\n");
    // The record shows the commands as they ran, and the exported variable.
    let record = ws.records().pop().unwrap();
    let action = &record["stages"][1]["actions"][0];
    assert_eq!(action["outputVariables"]["VERSION"], "1.2.3", "{action}");
    let commands = action["resolvedConfiguration"]["Commands"]
        .as_str()
        .unwrap();
    assert!(commands.contains("hi there $NODE_ENV"), "{commands}");
}

#[test]
fn a_failing_command_fails_the_action_and_an_unknown_variable_is_named() {
    let ws = workspace();
    ws.write(
        "pipeline.json",
        PIPELINE.replace("\"echo left out > other.txt\"", "\"exit 3\""),
    );
    let failed = ws.fails(&["run", "--plain", "pipeline.json"]);
    assert!(
        failed.contains("exit 3") || failed.contains("status 3"),
        "{failed}"
    );
    ws.write(
        "unknown.json",
        PIPELINE.replace("#{variables.Greeting}", "#{variables.Nope}"),
    );
    let refused = ws.fails(&["run", "--plain", "unknown.json"]);
    assert!(
        refused.contains("stages[1].actions[0].commands[2]") && refused.contains("Nope"),
        "{refused}"
    );
}
