//! CloudFormation templates: conversion of AWS::CodePipeline::Pipeline resources, intrinsic
//! functions, parameters, several pipelines, and problems reported at template paths.

use std::collections::BTreeMap;
use std::path::Path;

use sandpipe_model::{LoadError, TemplateOptions, load_file_with, parse_document_with};

fn corpus(path: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/corpus")
        .join(path)
}

fn options(parameters: &[(&str, &str)]) -> TemplateOptions {
    TemplateOptions {
        parameters: parameters
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect(),
        pipeline: None,
        region: "eu-west-1".into(),
        stack_name: None,
        account_id: None,
    }
}

#[test]
fn the_seed_004_template_converts_and_validates() {
    let file = corpus("templates/seed-004-product-service.template.yml");
    let loaded = load_file_with(&file, &options(&[("RepoToken", "ghp_secret")])).unwrap();
    assert_eq!(loaded.problems(), vec![]);
    let pipeline = &loaded.pipeline;
    assert_eq!(pipeline.name, "Pipeline");
    assert_eq!(
        pipeline.role_arn.as_deref(),
        Some("arn:aws:iam::123456789012:role/PipelineRole")
    );
    assert_eq!(
        pipeline.artifact_store.as_ref().unwrap().location,
        "artifactstorage"
    );
    let source = &pipeline.stages[0].actions[0];
    assert_eq!(
        source.action_type_id.to_string(),
        "Source/ThirdParty/GitHub/1"
    );
    assert_eq!(source.configuration["OAuthToken"], "ghp_secret");
    assert_eq!(source.configuration["Repo"], "node-reference");
    let build = &pipeline.stages[1].actions[0];
    assert_eq!(build.configuration["ProjectName"], "BuildProject");
    assert_eq!(build.input_artifacts[0].name, "sourceCode");
    let template = loaded.template.as_ref().unwrap();
    assert_eq!(template.logical_id, "Pipeline");
    assert!(template.restart_execution_on_update);
}

#[test]
fn a_parameter_without_default_or_value_is_reported_where_it_is_used() {
    let file = corpus("templates/seed-004-product-service.template.yml");
    let error = load_file_with(&file, &options(&[])).unwrap_err();
    let LoadError::Template { problems, .. } = &error else {
        panic!("{error}");
    };
    assert_eq!(problems.len(), 1);
    assert_eq!(
        problems[0].path,
        "Resources.Pipeline.Properties.Stages[0].Actions[0].Configuration.OAuthToken.Ref"
    );
    assert_eq!(
        problems[0].message,
        "parameter 'RepoToken' has no Default; pass --parameter RepoToken=<value>"
    );
}

#[test]
fn conditions_mappings_and_no_value_resolve() {
    let file = corpus("valid/36-cloudformation-conditions.template.json");
    let staging = load_file_with(&file, &options(&[])).unwrap();
    assert_eq!(staging.pipeline.name, "site-staging");
    assert_eq!(
        staging.pipeline.artifact_store.as_ref().unwrap().location,
        "sandpipe-artifacts"
    );
    let deploy = &staging.pipeline.stages[1];
    assert_eq!(
        deploy.actions.len(),
        1,
        "the approval is dropped by AWS::NoValue"
    );
    assert_eq!(
        deploy.actions[0].configuration["BucketName"],
        "staging-site"
    );
    assert_eq!(deploy.actions[0].configuration["Extract"], "true");
    assert_eq!(
        staging.pipeline.stages[0].actions[0].configuration["S3Bucket"],
        "sources"
    );
    assert_eq!(
        staging.template.unwrap().tags,
        BTreeMap::from([("env".into(), "staging".into())])
    );

    let production = load_file_with(&file, &options(&[("Environment", "production")])).unwrap();
    let deploy = &production.pipeline.stages[1];
    assert_eq!(
        deploy
            .actions
            .iter()
            .map(|a| a.name.as_str())
            .collect::<Vec<_>>(),
        ["Approve", "Publish"]
    );
    assert_eq!(deploy.actions[1].configuration["BucketName"], "www-site");
}

#[test]
fn short_forms_in_yaml_resolve() {
    let file = corpus("valid/37-cloudformation-v2-short-forms.template.yml");
    let loaded = load_file_with(&file, &options(&[("UseQueue", "false")])).unwrap();
    assert_eq!(loaded.problems(), vec![]);
    let pipeline = &loaded.pipeline;
    assert_eq!(format!("{:?}", pipeline.execution_mode), "Some(Superseded)");
    let build = &pipeline.stages[1].actions[0];
    assert_eq!(build.configuration["ProjectName"], "sandpipe-build");
    assert_eq!(
        build.configuration["EnvironmentVariables"],
        r##"[{"name":"COMMIT","value":"#{SourceVariables.CommitId}"},{"name":"STAGE","value":"#{variables.Stage}"}]"##
    );
    assert_eq!(
        pipeline.triggers[0].git_configuration.source_action_name,
        "Checkout"
    );
}

const TWO_PIPELINES: &str = r#"
Resources:
  Role: {Type: AWS::IAM::Role}
  First:
    Type: AWS::CodePipeline::Pipeline
    Properties: &pipeline
      RoleArn: !GetAtt Role.Arn
      ArtifactStore: {Type: S3, Location: artifacts}
      Stages:
        - Name: Source
          Actions:
            - Name: S
              ActionTypeId: {Category: Source, Owner: AWS, Provider: S3, Version: "1"}
              Configuration: {S3Bucket: b, S3ObjectKey: k}
              OutputArtifacts: [{Name: Out}]
        - Name: Deploy
          Actions:
            - Name: D
              RunOrder: 0
              ActionTypeId: {Category: Deploy, Owner: AWS, Provider: S3, Version: "1"}
              Configuration: {BucketName: t, Extract: true}
              InputArtifacts: [{Name: Out}]
  Second:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      <<: *pipeline
      Name: second
"#;

#[test]
fn several_pipelines_need_a_choice_and_problems_use_template_paths() {
    let error = parse_document_with("t.yaml", TWO_PIPELINES, true, &options(&[])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "t.yaml: Resources: the template has several pipelines (First, Second); choose one with --pipeline <LogicalId>"
    );
    let choose = |id: &str| TemplateOptions {
        pipeline: Some(id.into()),
        ..options(&[])
    };
    let second = parse_document_with("t.yaml", TWO_PIPELINES, true, &choose("Second")).unwrap();
    assert_eq!(second.pipeline.name, "second");
    let problems: Vec<String> = second.problems().iter().map(ToString::to_string).collect();
    assert_eq!(
        problems,
        [
            "Resources.Second.Properties.Stages[1].Actions[0].RunOrder: ValidationException: Value '0' at 'stages[1].actions[0].runOrder' failed to satisfy constraint: Member must have value greater than or equal to 1"
        ]
    );
    let error = parse_document_with("t.yaml", TWO_PIPELINES, true, &choose("Third")).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("no AWS::CodePipeline::Pipeline resource 'Third' (it has: First, Second)")
    );
}

#[test]
fn what_cannot_be_resolved_locally_is_reported() {
    let template = r#"
Resources:
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      RoleArn: !ImportValue shared-pipeline-role
      ArtifactStore: {Type: S3, Location: !GetAtt Elsewhere.Bucket}
      Stages: []
"#;
    let error = parse_document_with("t.yaml", template, true, &options(&[])).unwrap_err();
    assert_eq!(
        error.to_string(),
        "t.yaml: Resources.Pipeline.Properties.ArtifactStore.Location.Fn::GetAtt: 'Elsewhere' is not a resource of the template\n\
         t.yaml: Resources.Pipeline.Properties.RoleArn.Fn::ImportValue: Fn::ImportValue reads another stack's exports, which do not exist locally; use a parameter instead"
    );
    let error = parse_document_with("t.yaml", "Resources:\n  X: !Bogus y\n", true, &options(&[]))
        .unwrap_err();
    assert!(error.to_string().contains("unknown tag !Bogus"), "{error}");
    // Where it was written: the value has no positions, the text does.
    assert!(error.to_string().contains("at line 2, column 6"), "{error}");
    let error = parse_document_with(
        "t.yaml",
        "AWSTemplateFormatVersion: '2010-09-09'\nResources: {}\n",
        true,
        &options(&[]),
    )
    .unwrap_err();
    assert_eq!(
        error.to_string(),
        "t.yaml: Resources: the template has no AWS::CodePipeline::Pipeline resource"
    );
}

#[test]
fn self_references_are_reported_not_followed() {
    let template = r#"
Conditions:
  Loop: !Condition Loop
Resources:
  Bucket: {Type: AWS::S3::Bucket, Properties: {BucketName: !Ref Bucket}}
  Pipeline:
    Type: AWS::CodePipeline::Pipeline
    Properties:
      Name: !If [Loop, a, b]
      ArtifactStore: {Type: S3, Location: !Ref Bucket}
"#;
    let error = parse_document_with("t.yaml", template, true, &options(&[])).unwrap_err();
    let text = error.to_string();
    assert!(
        text.contains(
            "Resources.Bucket.Properties.BucketName: the name of resource 'Bucket' refers to itself"
        ),
        "{text}"
    );
    assert!(
        text.contains(
            "Resources.Pipeline.Properties.Name.Fn::If: condition 'Loop' refers to itself"
        ),
        "{text}"
    );
}

/// A hang (fuzz/regressions/cloudformation/conditions-used-twice.yaml): each condition used
/// twice by the one before it was evaluated 2^40 times.
#[test]
fn a_condition_used_by_many_others_is_evaluated_once() {
    let mut template = String::from("Conditions:\n");
    for i in 0..40 {
        let next = i + 1;
        template.push_str(&format!(
            "  C{i}: !And [!Condition C{next}, !Condition C{next}]\n"
        ));
    }
    template.push_str(
        "  C40: !Equals [a, a]\nResources:\n  P:\n    Type: AWS::CodePipeline::Pipeline\n    \
         Properties:\n      Name: !If [C0, chosen, other]\n      Stages: []\n",
    );
    let started = std::time::Instant::now();
    let loaded = parse_document_with("t.yaml", &template, true, &options(&[])).unwrap();
    assert_eq!(loaded.pipeline.name, "chosen");
    assert!(started.elapsed() < std::time::Duration::from_secs(5));
}

/// Names that repeat each other (a bucket named by joining two references to a bucket named
/// by joining two references…) would resolve to 2^40 bytes: refused with the limit named
/// (fuzz/regressions/cloudformation/names-that-repeat.yaml).
#[test]
fn names_that_repeat_each_other_are_refused_at_the_limit() {
    let mut template = String::from("Resources:\n");
    for i in 0..40 {
        let next = i + 1;
        template.push_str(&format!(
            "  R{i}: {{Type: AWS::S3::Bucket, Properties: {{BucketName: !Join ['', [!Ref R{next}, !Ref R{next}]]}}}}\n"
        ));
    }
    template.push_str(
        "  R40: {Type: AWS::S3::Bucket}\n  P:\n    Type: AWS::CodePipeline::Pipeline\n    \
         Properties:\n      Name: !Ref R0\n",
    );
    let error = parse_document_with("t.yaml", &template, true, &options(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains(
            "the template's functions produce more than 16777216 bytes of text (references \
             that repeat each other?)"
        ),
        "{error}"
    );
    assert_eq!(error.lines().count(), 1, "{error}");
}

/// Each Fn::Base64 is a third longer than its argument: 100 nested ones would be 10^12 bytes
/// (fuzz/regressions/cloudformation/nested-base64.json).
#[test]
fn nested_base64_is_refused_at_the_limit() {
    let mut value = serde_json::json!("x");
    for _ in 0..100 {
        value = serde_json::json!({ "Fn::Base64": value });
    }
    let template = serde_json::json!({
        "Resources": {"P": {"Type": "AWS::CodePipeline::Pipeline", "Properties": {"Name": value}}}
    });
    let error = parse_document_with("t.json", &template.to_string(), false, &options(&[]))
        .unwrap_err()
        .to_string();
    assert!(
        error.contains("produce more than 16777216 bytes"),
        "{error}"
    );
}
