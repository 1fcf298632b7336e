use super::*;
use crate::load::parse_document;

fn problems(json: &str) -> Vec<String> {
    let loaded = parse_document("p.json", json, false).unwrap();
    validate(&loaded.pipeline, loaded.root)
        .iter()
        .map(ToString::to_string)
        .collect()
}

const BASE: &str = r##"{"pipeline":{"name":"p","roleArn":"arn:aws:iam::123456789012:role/r",
  "artifactStore":{"type":"S3","location":"artifacts"},"stages":[
  {"name":"Source","actions":[{"name":"Src","actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
    "configuration":{"S3Bucket":"b","S3ObjectKey":"k"},"outputArtifacts":[{"name":"code"}],"namespace":"SourceVariables"}]},
  {"name":"Deploy","actions":[{"name":"D","actionTypeId":{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"},
    "inputArtifacts":[{"name":"code"}],
    "configuration":{"BucketName":"t","Extract":"false","ObjectKey":"#{SourceVariables.ETag}-#{codepipeline.PipelineExecutionId}"}}]}]}}"##;

#[test]
fn a_well_formed_pipeline_has_no_problems() {
    assert_eq!(problems(BASE), Vec::<String>::new());
}

#[test]
fn reports_every_problem_at_once_with_its_path() {
    let json = BASE
        .replace(r#""roleArn":"arn:aws:iam::123456789012:role/r","#, "")
        .replace(
            r#""inputArtifacts":[{"name":"code"}]"#,
            r#""inputArtifacts":[{"name":"nope"}]"#,
        )
        .replace("#{SourceVariables.ETag}", "#{Missing.x}");
    assert_eq!(
        problems(&json),
        [
            "pipeline.roleArn: ValidationException: Value 'null' at 'pipeline.roleArn' failed to satisfy constraint: Member must not be null",
            "pipeline.stages[1].actions[0].inputArtifacts[0].name: InvalidStructureException: Input artifact 'nope' of action 'D' is not the output artifact of any action in the pipeline",
            "pipeline.stages[1].actions[0].configuration.ObjectKey: InvalidActionDeclarationException: Variable #{Missing.x} refers to namespace 'Missing', which no action in the pipeline declares",
        ]
    );
}

#[test]
fn a_single_stage_pipeline_is_refused_in_aws_words() {
    let deploy_stage = BASE
        .find(
            r#",
  {"name":"Deploy""#,
        )
        .unwrap();
    let json = format!("{}]}}}}", &BASE[..deploy_stage]);
    assert_eq!(
        problems(&json),
        [
            "pipeline.stages: InvalidStructureException: Pipeline has only 1 stage(s). There should be a minimum of 2 stages in a pipeline"
        ]
    );
}
