//! The seed-004 shape end to end through the real binary, with no double: a GitHub v1 source
//! read from a local repository, a CodeBuild build on the local runner, and a CloudFormation
//! CHANGE_SET_REPLACE + CHANGE_SET_EXECUTE of the template in the build's output, its
//! `ParameterOverrides` taking a value from a build artifact with `Fn::GetParam`. The stack
//! is planned locally and recorded; nothing reaches AWS.

mod common;

use common::{Workspace, git_commit, git_repository};

const TEMPLATE: &str = r#"AWSTemplateFormatVersion: "2010-09-09"
Parameters:
  Image:
    Type: String
  Env:
    Type: String
    Default: dev
    AllowedValues: [dev, prod]
Conditions:
  IsProd: !Equals [!Ref Env, prod]
Resources:
  Assets:
    Type: AWS::S3::Bucket
    Properties:
      BucketName: !Sub "${AWS::StackName}-assets"
  Task:
    Type: AWS::ECS::TaskDefinition
    Properties:
      ContainerDefinitions:
        - Name: product
          Image: !Ref Image
  Alarm:
    Type: AWS::CloudWatch::Alarm
    Condition: IsProd
Outputs:
  AssetsBucket:
    Value: !Ref Assets
  ImageUsed:
    Value: !Ref Image
"#;

const BUILDSPEC: &str = r#"version: 0.2
phases:
  build:
    commands:
      - mkdir -p parameters
      - >-
        printf '{"Image": "registry/product:%s"}' "$CODEBUILD_RESOLVED_SOURCE_VERSION"
        > parameters/dev.json
artifacts:
  files:
    - cloudformation.template.yml
    - parameters/*
"#;

const PIPELINE: &str = r#"{"pipeline": {
  "name": "product-service",
  "roleArn": "arn:aws:iam::123456789012:role/r",
  "artifactStore": {"type": "S3", "location": "artifacts"},
  "stages": [
    {"name": "Source", "actions": [{"name": "Source",
      "actionTypeId": {"category": "Source", "owner": "ThirdParty", "provider": "GitHub", "version": "1"},
      "configuration": {"Owner": "sourceallies", "Repo": "node-reference", "Branch": "main", "OAuthToken": "not-a-token"},
      "outputArtifacts": [{"name": "sourceCode"}]}]},
    {"name": "Build", "actions": [{"name": "Build",
      "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
      "configuration": {"ProjectName": "product-service-build"},
      "inputArtifacts": [{"name": "sourceCode"}], "outputArtifacts": [{"name": "buildResults"}]}]},
    {"name": "Deploy", "actions": [
      {"name": "CreateChangeSet", "runOrder": 1,
       "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
       "configuration": {"ActionMode": "CHANGE_SET_REPLACE", "StackName": "ProductService-DEV",
         "ChangeSetName": "ProductService-DEV-Changes",
         "TemplatePath": "buildResults::cloudformation.template.yml",
         "RoleArn": "arn:aws:iam::123456789012:role/cfn", "Capabilities": "CAPABILITY_IAM",
         "ParameterOverrides": "{\"Image\": {\"Fn::GetParam\": [\"buildResults\", \"parameters/dev.json\", \"Image\"]}}"},
       "inputArtifacts": [{"name": "buildResults"}]},
      {"name": "ExecuteChangeSet", "runOrder": 2, "namespace": "DeployVariables",
       "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormation", "version": "1"},
       "configuration": {"ActionMode": "CHANGE_SET_EXECUTE", "StackName": "ProductService-DEV",
         "ChangeSetName": "ProductService-DEV-Changes"}}]}
  ]}}"#;

fn workspace() -> (Workspace, String) {
    let ws = Workspace::new();
    let commit = git_repository(
        &ws.path("repos/node-reference"),
        &[
            ("buildspec.yml", BUILDSPEC),
            ("cloudformation.template.yml", TEMPLATE),
        ],
        "First",
    );
    ws.write(
        "sandpipe-connections.yaml",
        "repositories:\n  sourceallies/node-reference: repos/node-reference\n",
    );
    ws.write("pipeline.json", PIPELINE);
    (ws, commit)
}

#[test]
fn the_seed_004_shape_plans_its_stack_from_the_build_output() {
    let (ws, commit) = workspace();
    let output = ws.ok(&["run", "--plain", "pipeline.json"]);
    assert!(
        output.contains(
            "change set ProductService-DEV-Changes of stack ProductService-DEV: 2 to add"
        ) && output.contains("nothing was deployed to AWS"),
        "{output}"
    );
    let record = ws.records().pop().unwrap();
    assert_eq!(record["status"], "Succeeded");
    let execute = &record["stages"][2]["actions"][1];
    let image = format!("registry/product:{commit}");
    assert_eq!(execute["outputVariables"]["ImageUsed"], image, "{execute}");
    assert_eq!(
        execute["outputVariables"]["AssetsBucket"], "ProductService-DEV-assets",
        "{execute}"
    );
    // The recorded stack: the resolved parameters, the resources its conditions keep, the
    // outputs.
    let shown: serde_json::Value =
        serde_json::from_str(&ws.ok(&["stacks", "show", "ProductService-DEV", "--json"])).unwrap();
    assert_eq!(shown["parameters"]["Image"], image);
    assert_eq!(shown["parameters"]["Env"], "dev");
    assert_eq!(
        shown["resources"]["Task"]["properties"]["ContainerDefinitions"][0]["Image"],
        image
    );
    assert!(shown["resources"].get("Alarm").is_none(), "{shown}");
    assert_eq!(
        shown["outputs"]["AssetsBucket"],
        "ProductService-DEV-assets"
    );

    // A new commit: the next change set modifies the task definition only.
    let next = git_commit(
        &ws.path("repos/node-reference"),
        &[("README.md", "second\n")],
        "Second",
    );
    let output = ws.ok(&["run", "--plain", "pipeline.json"]);
    assert!(
        output.contains("0 to add, 1 to modify, 0 to remove"),
        "{output}"
    );
    let shown: serde_json::Value =
        serde_json::from_str(&ws.ok(&["stacks", "show", "ProductService-DEV", "--json"])).unwrap();
    assert_eq!(
        shown["parameters"]["Image"],
        format!("registry/product:{next}")
    );
}

#[test]
fn a_deploy_without_what_its_mode_needs_is_refused_and_a_missing_change_set_named() {
    let (ws, _) = workspace();
    ws.write(
        "broken.json",
        PIPELINE.replace(
            "\"ChangeSetName\": \"ProductService-DEV-Changes\",\n         \"TemplatePath\"",
            "\"TemplatePath\"",
        ),
    );
    let refused = ws.fails(&["run", "--plain", "broken.json"]);
    assert!(
        refused.contains("stages[2].actions[0].configuration")
            && refused.contains("CHANGE_SET_REPLACE needs configuration 'ChangeSetName'"),
        "{refused}"
    );
    // A template from an artifact the action does not take, and overrides that are not
    // JSON, are refused before the run too.
    ws.write(
        "elsewhere.json",
        PIPELINE
            .replace(
                "buildResults::cloudformation.template.yml",
                "Other::cloudformation.template.yml",
            )
            .replace(
                r#""{\"Image\": {\"Fn::GetParam\""#,
                r#""{Image: {\"Fn::GetParam\""#,
            ),
    );
    let refused = ws.fails(&["run", "--plain", "elsewhere.json"]);
    assert!(
        refused.contains("configuration.TemplatePath")
            && refused.contains("reads artifact 'Other', which is not one of the action's input")
            && refused.contains("configuration.ParameterOverrides"),
        "{refused}"
    );
    // Executing a change set nobody made fails the action, saying which.
    ws.write(
        "execute.json",
        PIPELINE.replace("ProductService-DEV-Changes\"}}]}", "Nope\"}}]}"),
    );
    let failed = ws.fails(&["run", "--plain", "execute.json"]);
    assert!(
        failed.contains("stack ProductService-DEV has no change set 'Nope'"),
        "{failed}"
    );
}

const STACK_SET_TEMPLATE: &str = r#"Parameters:
  Env: {Type: String}
Resources:
  Alerts:
    Type: AWS::SNS::Topic
Outputs:
  AlertsArn: {Value: !Ref Alerts}
  Account: {Value: !Ref "AWS::AccountId"}
  EnvUsed: {Value: !Ref Env}
"#;

#[test]
fn a_stack_set_is_planned_once_per_account_and_region() {
    let ws = Workspace::new();
    ws.versioned_bucket("src");
    ws.write(
        "src.zip",
        common::zip_of(&[
            ("stackset.yml", STACK_SET_TEMPLATE),
            ("targets.json", r#"["111111111111", "222222222222"]"#),
        ]),
    );
    ws.ok(&["s3", "cp", "src.zip", "s3://src/src.zip"]);
    ws.write(
        "stackset.json",
        r#"{"pipeline": {"name": "stack-sets", "roleArn": "arn:aws:iam::123456789012:role/r",
  "artifactStore": {"type": "S3", "location": "artifacts"},
  "stages": [
    {"name": "Source", "actions": [{"name": "Fetch",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
      "outputArtifacts": [{"name": "Src"}]}]},
    {"name": "Deploy", "actions": [
      {"name": "StackSet", "runOrder": 1,
       "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormationStackSet", "version": "1"},
       "configuration": {"StackSetName": "alerts", "TemplatePath": "Src::stackset.yml",
         "Parameters": "ParameterKey=Env,ParameterValue=dev",
         "DeploymentTargets": "Src::targets.json", "Regions": "us-east-1,eu-west-1"},
       "inputArtifacts": [{"name": "Src"}]},
      {"name": "MoreInstances", "runOrder": 2,
       "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "CloudFormationStackInstances", "version": "1"},
       "configuration": {"StackSetName": "alerts", "DeploymentTargets": "333333333333",
         "Regions": "us-east-1", "ParameterOverrides": "ParameterKey=Env,ParameterValue=prod"}}]}
  ]}}"#,
    );
    let output = ws.ok(&["run", "--plain", "stackset.json"]);
    assert!(
        output.contains("stack set alerts: 4 instances (2 accounts × 2 regions)")
            && output.contains("stack set alerts: 1 instances (1 accounts × 1 regions)"),
        "{output}"
    );
    let listed = ws.ok(&["stacks", "list"]);
    for instance in [
        "alerts/111111111111/us-east-1",
        "alerts/111111111111/eu-west-1",
        "alerts/222222222222/us-east-1",
        "alerts/222222222222/eu-west-1",
        "alerts/333333333333/us-east-1",
    ] {
        assert!(listed.contains(instance), "{listed}");
    }
    // The stack set itself is not a stack.
    assert_eq!(listed.lines().count(), 5, "{listed}");
    assert!(!listed.contains("stack-set:"), "{listed}");
    let shown: serde_json::Value = serde_json::from_str(&ws.ok(&[
        "stacks",
        "show",
        "alerts/222222222222/eu-west-1",
        "--json",
    ]))
    .unwrap();
    assert_eq!(shown["outputs"]["Account"], "222222222222");
    assert_eq!(
        shown["outputs"]["AlertsArn"],
        "arn:aws:sns:eu-west-1:222222222222:Alerts"
    );
    let added: serde_json::Value = serde_json::from_str(&ws.ok(&[
        "stacks",
        "show",
        "alerts/333333333333/us-east-1",
        "--json",
    ]))
    .unwrap();
    assert_eq!(added["outputs"]["EnvUsed"], "prod", "{added}");
}
