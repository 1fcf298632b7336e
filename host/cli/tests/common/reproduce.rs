//! Pipelines the reproducibility tests (`reproduce.rs`, `bundles.rs`) share: an S3 source
//! feeding a Commands build, and one feeding the test probe.

use std::path::PathBuf;

use super::{Workspace, zip_of};

pub const PROBE: &str = sandpipe_runtime::providers::PROBE_COMPONENT_PATH;

/// S3 source → Commands build running `command` into `dist/` → nothing else.
pub fn stamp_pipeline(command: &str) -> String {
    format!(
        r#"{{"pipeline": {{
      "name": "stamp", "pipelineType": "V2", "roleArn": "arn:aws:iam::123456789012:role/r",
      "artifactStore": {{"type": "S3", "location": "artifacts"}},
      "stages": [
        {{"name": "Source", "actions": [{{"name": "Fetch",
          "actionTypeId": {{"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}},
          "configuration": {{"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"}},
          "outputArtifacts": [{{"name": "Src"}}]}}]}},
        {{"name": "Build", "actions": [{{"name": "Stamp",
          "actionTypeId": {{"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"}},
          "commands": ["mkdir -p dist", "cp in.txt dist/in.txt", "{command}"],
          "inputArtifacts": [{{"name": "Src"}}],
          "outputArtifacts": [{{"name": "Dist", "files": ["dist/**/*"]}}]}}]}}
      ]}}}}"#
    )
}

pub fn stamp_workspace() -> Workspace {
    let ws = Workspace::new();
    ws.versioned_bucket("src");
    ws.write("src.zip", zip_of(&[("in.txt", "from the source\n")]));
    ws.ok(&["s3", "cp", "src.zip", "s3://src/src.zip"]);
    ws
}

/// S3 source → the probe writing what it reads of the clocks and random sources.
pub fn entropy_pipeline(ws: &Workspace) -> PathBuf {
    ws.write(
        "pipeline.json",
        r#"{"name":"entropy","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{"type":"S3","location":"artifacts"},
          "stages":[
            {"name":"Source","actions":[{"name":"Fetch","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
              "configuration":{"S3Bucket":"src","S3ObjectKey":"src.zip"},"outputArtifacts":[{"name":"Src"}]}]},
            {"name":"Build","actions":[{"name":"Roll","actionTypeId":{"category":"Build","owner":"Custom","provider":"Probe","version":"1"},
              "configuration":{"Mode":"entropy"},"inputArtifacts":[{"name":"Src"}],"outputArtifacts":[{"name":"Dice"}]}]}]}"#,
    )
}
