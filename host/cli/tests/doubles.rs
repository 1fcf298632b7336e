//! Declared doubles through the real binary: corpus pipelines whose actions cannot run here
//! (an ECR source, an ECS deploy, a CodeDeploy deployment) run with `--double` or a
//! sandpipe-doubles.yaml, and their records say which actions were doubles; without them,
//! one clear error per missing type.

mod common;

use std::path::Path;

use common::{Workspace, zip_of};

fn corpus(name: &str) -> String {
    std::fs::read_to_string(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../model/tests/corpus/valid")
            .join(name),
    )
    .unwrap()
}

#[test]
fn an_ecr_to_ecs_pipeline_runs_with_doubles_and_says_so() {
    let ws = Workspace::new();
    ws.write("ecs.json", corpus("08-ecr-to-ecs.json"));
    let refused = ws.fails(&["run", "--plain", "ecs.json"]);
    // ECS has no provider; the ECR source reads a local engine's image, when one answers.
    assert!(
        refused.contains("no provider for Deploy/AWS/ECS/1")
            && refused.contains("--double Deploy/AWS/ECS/1"),
        "{refused}"
    );
    let engine = std::process::Command::new("docker")
        .args(["info"])
        .output()
        .is_ok_and(|o| o.status.success());
    if !engine {
        assert!(
            refused.contains("reads the image from a local docker or podman engine")
                && refused.contains("--double Source/AWS/ECR/1"),
            "{refused}"
        );
    }
    // The dry run says how each action would run.
    let plan = ws.fails(&["run", "--dry-run", "ecs.json"]);
    assert!(
        plan.contains("no provider: the run is refused (--double Deploy/AWS/ECS/1"),
        "{plan}"
    );
    let plan = ws.ok(&[
        "run",
        "--dry-run",
        "ecs.json",
        "--double",
        "Source/AWS/ECR/1",
        "--double",
        "Deploy/AWS/ECS/1",
    ]);
    assert!(plan.contains("a double (--double): succeeds"), "{plan}");
    // graph and validate say the same.
    let graph = ws.ok(&["graph", "ecs.json"]);
    assert!(graph.contains("ImageArtifact →  [no provider]"), "{graph}");
    let graph = ws.ok(&[
        "graph",
        "ecs.json",
        "--double",
        "Source/AWS/ECR/1",
        "--double",
        "Deploy/AWS/ECS/1",
    ]);
    assert!(
        graph.contains("→ ImageArtifact  [double]") && graph.contains("ImageArtifact →  [double]"),
        "{graph}"
    );
    let report = ws.fails(&[
        "validate",
        "--json",
        "ecs.json",
        "--double",
        "Deploy/AWS/ECS/1",
    ]);
    let report: serde_json::Value = serde_json::from_str(&report).unwrap();
    assert_eq!(report["actions"][0]["runsAs"], "real", "{report}");
    assert_eq!(report["actions"][1]["runsAs"], "double", "{report}");

    let output = ws.ok(&[
        "run",
        "--plain",
        "ecs.json",
        "--double",
        "Source/AWS/ECR/1",
        "--double",
        "Deploy/AWS/ECS/1",
    ]);
    assert!(output.contains("double: succeeded as declared"), "{output}");
    let record = ws.records().pop().unwrap();
    assert_eq!(record["status"], "Succeeded");
    for stage in 0..2 {
        let action = &record["stages"][stage]["actions"][0];
        assert_eq!(action["double"], "--double", "{action}");
    }
}

#[test]
fn a_doubles_file_beside_the_pipeline_stands_in_with_outputs_and_failures() {
    let ws = Workspace::new();
    ws.versioned_bucket("source-bucket");
    ws.write("app.zip", zip_of(&[("appspec.yml", "version: 0.0\n")]));
    ws.ok(&["s3", "cp", "app.zip", "s3://source-bucket/app.zip"]);
    ws.write("codedeploy.json", corpus("29-codedeploy.json"));
    ws.write(
        "sandpipe-doubles.yaml",
        "doubles:\n  Deploy/AWS/CodeDeploy/1:\n    message: the fleet would be updated\n",
    );
    let output = ws.ok(&["run", "--plain", "codedeploy.json"]);
    assert!(
        output.contains("double: the fleet would be updated"),
        "{output}"
    );
    let record = ws.records().pop().unwrap();
    // The S3 source ran for real; the deployment was a double, declared in the file.
    assert!(record["stages"][0]["actions"][0]["double"].is_null());
    let deploy = &record["stages"][1]["actions"][0];
    assert!(
        deploy["double"]
            .as_str()
            .unwrap()
            .ends_with("sandpipe-doubles.yaml"),
        "{deploy}"
    );

    // A double of one action (Stage/Action) wins over its type's, and can fail.
    ws.write(
        "sandpipe-doubles.yaml",
        "doubles:\n  Deploy/AWS/CodeDeploy/1: {}\n  Deploy/Deploy: {outcome: fail, message: the canary alarmed}\n",
    );
    let failed = ws.fails(&["run", "--plain", "codedeploy.json"]);
    assert!(failed.contains("double: the canary alarmed"), "{failed}");
    // An output variable a double sets has a name CodePipeline takes.
    ws.write(
        "sandpipe-doubles.yaml",
        "doubles:\n  Deploy/AWS/CodeDeploy/1: {outputVariables: {\"a b\": x}}\n",
    );
    let refused = ws.fails(&["run", "--plain", "codedeploy.json"]);
    assert!(
        refused.contains("doubles.Deploy/AWS/CodeDeploy/1.outputVariables.a b")
            && refused.contains("is not an output variable name"),
        "{refused}"
    );
    // A Stage/Action key of a stage this pipeline does not have is another pipeline's
    // (pipelines may share a directory's doubles file): left alone.
    ws.write(
        "sandpipe-doubles.yaml",
        "doubles:\n  Deploy/AWS/CodeDeploy/1: {}\n  Elsewhere/Thing: {outcome: fail}\n",
    );
    ws.ok(&["run", "--plain", "codedeploy.json"]);
    // A Stage/Action key that names no action (a misspelling) is refused, not ignored.
    ws.write(
        "sandpipe-doubles.yaml",
        "doubles:\n  Deploy/AWS/CodeDeploy/1: {}\n  Deploy/Deplyo: {outcome: fail}\n",
    );
    let refused = ws.fails(&["run", "--plain", "codedeploy.json"]);
    assert!(
        refused.contains("doubles.Deploy/Deplyo")
            && refused.contains("has no action Deplyo in a stage Deploy"),
        "{refused}"
    );

    // An output artifact the action does not have, or a directory that is not there, is
    // refused before the run.
    ws.write("ecs.json", corpus("08-ecr-to-ecs.json"));
    ws.write(
        "sandpipe-doubles.yaml",
        "doubles:\n  Source/AWS/ECR/1: {outputArtifacts: {ImageArtifact: ./missing, Other: inputs}}\n  Deploy/AWS/ECS/1: {}\n",
    );
    let refused = ws.fails(&["run", "--plain", "ecs.json"]);
    assert!(
        refused.contains("'Other', which action 'Image' does not have")
            && refused.contains("missing, which is not a directory"),
        "{refused}"
    );
    // From a directory, with output variables a later action could use.
    std::fs::create_dir(ws.path("image")).unwrap();
    ws.write("image/imageDetail.json", r#"{"ImageURI": "app:1"}"#);
    ws.write(
        "sandpipe-doubles.yaml",
        "doubles:\n  Source/AWS/ECR/1:\n    outputArtifacts: {ImageArtifact: image}\n    outputVariables: {ImageTag: \"1\"}\n  Deploy/AWS/ECS/1: {}\n",
    );
    ws.ok(&["run", "--plain", "ecs.json"]);
    let record = ws.records().pop().unwrap();
    let source = &record["stages"][0]["actions"][0];
    assert_eq!(source["outputVariables"]["ImageTag"], "1", "{source}");
    assert_eq!(
        source["outputArtifacts"][0]["name"], "ImageArtifact",
        "{source}"
    );
}
