//! Parsing and validating a 500-action pipeline (CodePipeline's per-pipeline maximum):
//! 10 stages of 50 actions, artifacts flowing stage to stage, variables between them.
//!
//! cargo bench -p sandpipe-model --bench validate

use std::hint::black_box;

use criterion::{Criterion, criterion_group, criterion_main};
use serde_json::{Value, json};

fn five_hundred_actions() -> String {
    let action_type = |category: &str, provider: &str| json!({"category": category, "owner": "AWS", "provider": provider, "version": "1"});
    let mut stages = Vec::new();
    let sources: Vec<Value> = (0..50)
        .map(|a| {
            json!({
                "name": format!("Source{a}"),
                "actionTypeId": action_type("Source", "S3"),
                "configuration": {"S3Bucket": "sources", "S3ObjectKey": format!("app{a}.zip"), "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": format!("S0A{a}")}],
                "namespace": format!("NS0A{a}"),
            })
        })
        .collect();
    stages.push(json!({"name": "Source", "actions": sources}));
    for s in 1..10 {
        let actions: Vec<Value> = (0..50)
            .map(|a| {
                json!({
                    "name": format!("Build{a}"),
                    "runOrder": 1 + a % 5,
                    "actionTypeId": action_type("Build", "CodeBuild"),
                    "configuration": {
                        "ProjectName": format!("project-{s}-{a}"),
                        "EnvironmentVariables": format!(
                            "[{{\"name\":\"PREVIOUS\",\"value\":\"#{{NS{}A{a}.VERSION}}-#{{codepipeline.PipelineExecutionId}}\"}}]",
                            s - 1
                        ),
                    },
                    "inputArtifacts": [{"name": format!("S{}A{a}", s - 1)}],
                    "outputArtifacts": [{"name": format!("S{s}A{a}")}],
                    "namespace": format!("NS{s}A{a}"),
                })
            })
            .collect();
        stages.push(json!({"name": format!("Stage{s}"), "actions": actions}));
    }
    json!({"pipeline": {
        "name": "five-hundred",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "stages": stages,
    }})
    .to_string()
}

fn validate(c: &mut Criterion) {
    let text = five_hundred_actions();
    let loaded = sandpipe_model::parse_document("big.json", &text, false).unwrap();
    assert_eq!(loaded.pipeline.actions().count(), 500);
    assert_eq!(loaded.problems(), vec![]);

    let mut group = c.benchmark_group("500-action pipeline");
    group.bench_function("parse + validate", |b| {
        b.iter(|| {
            let loaded =
                sandpipe_model::parse_document("big.json", black_box(&text), false).unwrap();
            black_box(loaded.problems());
        })
    });
    group.bench_function("validate only", |b| b.iter(|| black_box(loaded.problems())));
    group.finish();
}

criterion_group!(benches, validate);
criterion_main!(benches);
