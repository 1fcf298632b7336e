//! Pipelines and paths several end-to-end test files build on: the example, an S3 source →
//! S3 deploy pipeline, and one with the probe component as its build.

use std::path::{Path, PathBuf};

pub const PROBE: &str = sandpipe_runtime::providers::PROBE_COMPONENT_PATH;

pub fn example() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/s3-to-s3/pipeline.json")
}

/// A two-stage S3 source → S3 deploy pipeline, with the deploy configuration given.
pub fn s3_pipeline(source_bucket: &str, key: &str, deploy: &str) -> String {
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

/// Source → probe build (copies its input into a zip artifact) → deploy that zip.
pub fn build_pipeline(build_config: &str) -> String {
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

pub fn probe_grant() -> String {
    format!("Build/Custom/Probe/1={PROBE}")
}

/// The status of stage `stage` in an execution record as `executions show --json` prints it.
pub fn stage_status(record: &serde_json::Value, stage: usize) -> &str {
    record["stages"][stage]["status"].as_str().unwrap()
}
