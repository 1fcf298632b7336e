//! The declaration corpus: every file under `corpus/valid` must load and validate with no
//! problem; every invalid case — one edit of a valid file — must give exactly the listed
//! problems, by JSON path and CodePipeline exception.
//!
//! Longer than our files usually are: it is mostly the table of invalid cases, one edit and
//! its expected problems per entry, read one case at a time; splitting it would only scatter
//! the table.

use std::path::{Path, PathBuf};

use sandpipe_model::{LoadError, parse_document, validate};
use serde_json::{Value, json};

fn corpus_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/corpus/valid")
}

/// (path, exception) of every problem in `text`; a document that does not even load gives
/// its one shape error as a ValidationException.
fn problems_of(file: &str, text: &str, yaml: bool) -> Vec<(String, String)> {
    match parse_document(file, text, yaml) {
        Ok(loaded) => validate(&loaded.pipeline, loaded.root)
            .into_iter()
            .map(|p| (p.path, p.exception.to_string()))
            .collect(),
        Err(LoadError::Shape { path, .. }) => vec![(path, "ValidationException".to_string())],
        Err(other) => panic!("{file}: {other}"),
    }
}

#[test]
fn every_valid_declaration_validates() {
    let mut files: Vec<PathBuf> = std::fs::read_dir(corpus_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    files.push(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/s3-to-s3/pipeline.json"));
    files.sort();
    assert!(
        files.len() >= 30,
        "the valid corpus has only {} files",
        files.len()
    );
    let mut failures = Vec::new();
    for file in &files {
        let loaded = sandpipe_model::load_file(file).unwrap_or_else(|e| panic!("{e}"));
        for problem in validate(&loaded.pipeline, loaded.root) {
            failures.push(format!("{}: {problem}", file.display()));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

enum Edit {
    Set(&'static str, Value),
    Remove(&'static str),
    Push(&'static str, Value),
    With(fn(&mut Value)),
}
use Edit::*;

struct Case {
    name: &'static str,
    base: &'static str,
    edits: Vec<Edit>,
    expect: Vec<(&'static str, &'static str)>,
}

fn case(
    name: &'static str,
    base: &'static str,
    edits: Vec<Edit>,
    expect: Vec<(&'static str, &'static str)>,
) -> Case {
    Case {
        name,
        base,
        edits,
        expect,
    }
}

const VE: &str = "ValidationException";
const ISE: &str = "InvalidStructureException";
const IAD: &str = "InvalidActionDeclarationException";
const ISD: &str = "InvalidStageDeclarationException";
const LIMIT: &str = "LimitExceededException";

/// Base files: bare declarations, so paths start at the declaration.
const CODECOMMIT: &str = "06-codecommit-build-test-deploy.json";
const V2_VARIABLES: &str = "17-v2-pipeline-variables.json";
const V2_PUSH: &str = "18-v2-push-trigger.json";
const V2_RETRY: &str = "23-v2-retry-on-failure.json";
const V2_ROLLBACK: &str = "24-v2-rollback-on-failure.json";
const V2_GATE: &str = "25-v2-before-entry-variable-check.json";
const V2_ALARM: &str = "26-v2-on-success-alarm.json";
const V2_COMMANDS: &str = "27-v2-commands-action.json";
const APPROVAL: &str = "09-manual-approval.json";
const JENKINS: &str = "31-custom-jenkins.json";
const CROSS_REGION: &str = "15-cross-region.json";

fn approval_action() -> Value {
    json!({"name":"Gate","actionTypeId":{"category":"Approval","owner":"AWS","provider":"Manual","version":"1"}})
}

fn s3_source(name: &str, output: &str) -> Value {
    json!({"name":name,"actionTypeId":{"category":"Source","owner":"AWS","provider":"S3","version":"1"},
           "configuration":{"S3Bucket":"b","S3ObjectKey":"k"},"outputArtifacts":[{"name":output}]})
}

fn codebuild(name: &str, input: &str, output: &str) -> Value {
    json!({"name":name,"actionTypeId":{"category":"Build","owner":"AWS","provider":"CodeBuild","version":"1"},
           "configuration":{"ProjectName":"p"},"inputArtifacts":[{"name":input}],"outputArtifacts":[{"name":output}]})
}

fn cases() -> Vec<Case> {
    vec![
        // The pipeline.
        case(
            "pipeline name with a space",
            CODECOMMIT,
            vec![Set("/name", json!("my pipeline"))],
            vec![("name", VE)],
        ),
        case(
            "pipeline name too long",
            CODECOMMIT,
            vec![Set("/name", json!("p".repeat(101)))],
            vec![("name", VE)],
        ),
        case(
            "missing roleArn",
            CODECOMMIT,
            vec![Remove("/roleArn")],
            vec![("roleArn", VE)],
        ),
        case(
            "malformed roleArn",
            CODECOMMIT,
            vec![Set("/roleArn", json!("arn:aws:iam::123:role/x"))],
            vec![("roleArn", VE)],
        ),
        case(
            "both artifact stores",
            CODECOMMIT,
            vec![Set(
                "/artifactStores",
                json!({"us-east-1":{"type":"S3","location":"abc"}}),
            )],
            vec![("artifactStores", ISE)],
        ),
        case(
            "no artifact store",
            CODECOMMIT,
            vec![Remove("/artifactStore")],
            vec![("artifactStore", ISE)],
        ),
        case(
            "artifact bucket too short",
            CODECOMMIT,
            vec![Set("/artifactStore/location", json!("ab"))],
            vec![("artifactStore.location", VE)],
        ),
        case(
            "artifact bucket with underscore",
            CODECOMMIT,
            vec![Set("/artifactStore/location", json!("my_bucket"))],
            vec![("artifactStore.location", VE)],
        ),
        case(
            "artifact store of an unknown type",
            CODECOMMIT,
            vec![Set("/artifactStore/type", json!("GCS"))],
            vec![("artifactStore.type", VE)],
        ),
        case(
            "encryption key of an unknown type",
            CODECOMMIT,
            vec![Set(
                "/artifactStore/encryptionKey",
                json!({"id":"k","type":"AES"}),
            )],
            vec![("artifactStore.encryptionKey.type", VE)],
        ),
        case(
            "artifactStores without an action's region",
            CROSS_REGION,
            vec![Remove("/artifactStores/eu-west-1")],
            vec![("stages[1].actions[1].region", ISE)],
        ),
        case(
            "unknown pipeline field",
            CODECOMMIT,
            vec![Set("/executionModes", json!("QUEUED"))],
            vec![("executionModes", VE)],
        ),
        case(
            "version zero",
            CODECOMMIT,
            vec![Set("/version", json!(0))],
            vec![("version", VE)],
        ),
        // Stages.
        case(
            "only one stage",
            CODECOMMIT,
            vec![With(|p| {
                p["stages"].as_array_mut().unwrap().truncate(1);
            })],
            vec![("stages", ISE)],
        ),
        case(
            "51 stages",
            CODECOMMIT,
            vec![With(|p| {
                let stages = p["stages"].as_array_mut().unwrap();
                for n in 0..47 {
                    stages.push(
                        json!({"name": format!("Approve{n}"), "actions":[approval_action()]}),
                    );
                }
            })],
            vec![("stages", LIMIT)],
        ),
        case(
            "duplicate stage name",
            CODECOMMIT,
            vec![Set("/stages/2/name", json!("Build"))],
            vec![("stages[2].name", ISE)],
        ),
        case(
            "stage name with a space",
            CODECOMMIT,
            vec![Set("/stages/2/name", json!("Unit Tests"))],
            vec![("stages[2].name", VE)],
        ),
        case(
            "stage without actions",
            CODECOMMIT,
            vec![Set("/stages/2/actions", json!([]))],
            vec![("stages[2].actions", ISD)],
        ),
        case(
            "stage missing its actions field",
            CODECOMMIT,
            vec![Remove("/stages/2/actions")],
            vec![("stages[2]", VE)],
        ),
        case(
            "51 actions in a stage",
            CODECOMMIT,
            vec![With(|p| {
                let actions = p["stages"][2]["actions"].as_array_mut().unwrap();
                for n in 0..50 {
                    let mut gate = approval_action();
                    gate["name"] = json!(format!("Gate{n}"));
                    actions.push(gate);
                }
            })],
            vec![("stages[2].actions", LIMIT)],
        ),
        case(
            "more than 500 actions",
            CODECOMMIT,
            vec![With(|p| {
                let stages = p["stages"].as_array_mut().unwrap();
                for s in 0..11 {
                    let actions: Vec<Value> = (0..46)
                        .map(|n| {
                            let mut g = approval_action();
                            g["name"] = json!(format!("G{n}"));
                            g
                        })
                        .collect();
                    stages.push(json!({"name": format!("Approvals{s}"), "actions": actions}));
                }
            })],
            vec![("stages", LIMIT)],
        ),
        case(
            "non-source action in the first stage",
            CODECOMMIT,
            vec![Push("/stages/0/actions", approval_action())],
            vec![("stages[0].actions[1].actionTypeId.category", ISE)],
        ),
        case(
            "first stage without a source",
            CODECOMMIT,
            vec![Set("/stages/0/actions", json!([approval_action()]))],
            vec![
                ("stages[0].actions", ISE),
                ("stages[0].actions[0].actionTypeId.category", ISE),
                ("stages[1].actions[0].inputArtifacts[0].name", ISE),
            ],
        ),
        case(
            "source action in a later stage",
            CODECOMMIT,
            vec![Push("/stages/1/actions", s3_source("Late", "LateSource"))],
            vec![("stages[1].actions[1].actionTypeId.category", ISE)],
        ),
        case(
            "blocker of an unknown type",
            CODECOMMIT,
            vec![Set(
                "/stages/3/blockers",
                json!([{"name":"b","type":"Calendar"}]),
            )],
            vec![("stages[3].blockers[0].type", VE)],
        ),
        case(
            "duplicate blocker names",
            CODECOMMIT,
            vec![Set(
                "/stages/3/blockers",
                json!([{"name":"b","type":"Schedule"},{"name":"b","type":"Schedule"}]),
            )],
            vec![(
                "stages[3].blockers[1].name",
                "InvalidBlockerDeclarationException",
            )],
        ),
        // Actions.
        case(
            "duplicate action name in a stage",
            CODECOMMIT,
            vec![Push(
                "/stages/1/actions",
                codebuild("Build", "SourceArtifact", "Other"),
            )],
            vec![("stages[1].actions[1].name", ISD)],
        ),
        case(
            "action name with a bang",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/name", json!("Build!"))],
            vec![("stages[1].actions[0].name", VE)],
        ),
        case(
            "runOrder zero",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/runOrder", json!(0))],
            vec![("stages[1].actions[0].runOrder", VE)],
        ),
        case(
            "runOrder 1000",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/runOrder", json!(1000))],
            vec![("stages[1].actions[0].runOrder", VE)],
        ),
        case(
            "negative runOrder",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/runOrder", json!(-1))],
            vec![("stages[1].actions[0].runOrder", VE)],
        ),
        case(
            "unknown action field",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/runOrdr", json!(1))],
            vec![("stages[1].actions[0].runOrdr", VE)],
        ),
        case(
            "unknown category",
            CODECOMMIT,
            vec![Set(
                "/stages/3/actions/0/actionTypeId/category",
                json!("Deployment"),
            )],
            vec![("stages[3].actions[0].actionTypeId.category", VE)],
        ),
        case(
            "unknown owner",
            CODECOMMIT,
            vec![Set(
                "/stages/3/actions/0/actionTypeId/owner",
                json!("Amazon"),
            )],
            vec![("stages[3].actions[0].actionTypeId.owner", VE)],
        ),
        case(
            "missing actionTypeId",
            CODECOMMIT,
            vec![Remove("/stages/3/actions/0/actionTypeId")],
            vec![("stages[3].actions[0]", VE)],
        ),
        case(
            "input artifact never produced",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/inputArtifacts/0/name",
                json!("Nope"),
            )],
            vec![("stages[1].actions[0].inputArtifacts[0].name", ISE)],
        ),
        case(
            "input artifact produced by itself",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/inputArtifacts/0/name",
                json!("BuildArtifact"),
            )],
            vec![("stages[1].actions[0].inputArtifacts[0].name", ISE)],
        ),
        case(
            "input from the same runOrder",
            CODECOMMIT,
            vec![
                Push(
                    "/stages/2/actions",
                    codebuild("Prepare", "BuildArtifact", "Fixtures"),
                ),
                Set(
                    "/stages/2/actions/0/inputArtifacts",
                    json!([{"name":"BuildArtifact"},{"name":"Fixtures"}]),
                ),
            ],
            vec![("stages[2].actions[0].inputArtifacts[1].name", ISE)],
        ),
        case(
            "input from a later stage",
            CODECOMMIT,
            vec![
                Set("/stages/3/actions/0/inputArtifacts/0/name", json!("Report")),
                Set(
                    "/stages/2/actions/0/outputArtifacts",
                    json!([{"name":"Report"}]),
                ),
                Set("/stages/1/actions/0/inputArtifacts/0/name", json!("Report")),
            ],
            vec![("stages[1].actions[0].inputArtifacts[0].name", ISE)],
        ),
        case(
            "output artifact name used twice",
            CODECOMMIT,
            vec![Set(
                "/stages/2/actions/0/outputArtifacts",
                json!([{"name":"BuildArtifact"}]),
            )],
            vec![("stages[2].actions[0].outputArtifacts[0].name", ISE)],
        ),
        case(
            "output artifact name with a space",
            CODECOMMIT,
            vec![Set(
                "/stages/2/actions/0/outputArtifacts",
                json!([{"name":"Test Report"}]),
            )],
            vec![("stages[2].actions[0].outputArtifacts[0].name", VE)],
        ),
        case(
            "the same input twice",
            CODECOMMIT,
            vec![Push(
                "/stages/3/actions/0/inputArtifacts",
                json!({"name":"BuildArtifact"}),
            )],
            vec![
                ("stages[3].actions[0].inputArtifacts[1].name", IAD),
                ("stages[3].actions[0].inputArtifacts", IAD),
            ],
        ),
        case(
            "unknown AWS provider",
            CODECOMMIT,
            vec![Set(
                "/stages/3/actions/0/actionTypeId/provider",
                json!("S4"),
            )],
            vec![("stages[3].actions[0].actionTypeId", IAD)],
        ),
        case(
            "unknown provider version",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/actionTypeId/version", json!("2"))],
            vec![("stages[1].actions[0].actionTypeId", IAD)],
        ),
        case(
            "provider with a space",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/actionTypeId/provider",
                json!("Code Build"),
            )],
            vec![
                ("stages[1].actions[0].actionTypeId.provider", VE),
                ("stages[1].actions[0].actionTypeId", IAD),
            ],
        ),
        case(
            "version too long",
            JENKINS,
            vec![Set(
                "/stages/1/actions/0/actionTypeId/version",
                json!("1234567890"),
            )],
            vec![("stages[1].actions[0].actionTypeId.version", VE)],
        ),
        case(
            "S3 deploy without BucketName",
            CODECOMMIT,
            vec![Remove("/stages/3/actions/0/configuration/BucketName")],
            vec![("stages[3].actions[0].configuration", IAD)],
        ),
        case(
            "S3 deploy without Extract",
            CODECOMMIT,
            vec![Remove("/stages/3/actions/0/configuration/Extract")],
            vec![("stages[3].actions[0].configuration", IAD)],
        ),
        case(
            "S3 deploy Extract=false without ObjectKey",
            CODECOMMIT,
            vec![Set(
                "/stages/3/actions/0/configuration/Extract",
                json!("false"),
            )],
            vec![("stages[3].actions[0].configuration", IAD)],
        ),
        case(
            "S3 deploy Extract=yes",
            CODECOMMIT,
            vec![Set(
                "/stages/3/actions/0/configuration/Extract",
                json!("yes"),
            )],
            vec![("stages[3].actions[0].configuration.Extract", IAD)],
        ),
        case(
            "S3 deploy with an unknown property",
            CODECOMMIT,
            vec![Set("/stages/3/actions/0/configuration/Bucket", json!("x"))],
            vec![("stages[3].actions[0].configuration.Bucket", IAD)],
        ),
        case(
            "S3 deploy with two inputs",
            CODECOMMIT,
            vec![Push(
                "/stages/3/actions/0/inputArtifacts",
                json!({"name":"SourceArtifact"}),
            )],
            vec![("stages[3].actions[0].inputArtifacts", IAD)],
        ),
        case(
            "S3 deploy with an output",
            CODECOMMIT,
            vec![Set(
                "/stages/3/actions/0/outputArtifacts",
                json!([{"name":"Out"}]),
            )],
            vec![("stages[3].actions[0].outputArtifacts", IAD)],
        ),
        case(
            "CodeBuild without ProjectName",
            CODECOMMIT,
            vec![Remove("/stages/1/actions/0/configuration/ProjectName")],
            vec![("stages[1].actions[0].configuration", IAD)],
        ),
        case(
            "CodeBuild without inputs",
            CODECOMMIT,
            vec![Remove("/stages/1/actions/0/inputArtifacts")],
            vec![("stages[1].actions[0].inputArtifacts", IAD)],
        ),
        case(
            "CodeBuild with six outputs",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/outputArtifacts",
                json!([{"name":"BuildArtifact"},{"name":"O2"},{"name":"O3"},{"name":"O4"},{"name":"O5"},{"name":"O6"}]),
            )],
            vec![("stages[1].actions[0].outputArtifacts", IAD)],
        ),
        case(
            "CodeBuild BatchEnabled=maybe",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/configuration/BatchEnabled",
                json!("maybe"),
            )],
            vec![("stages[1].actions[0].configuration.BatchEnabled", IAD)],
        ),
        case(
            "source with an input",
            CODECOMMIT,
            vec![Set(
                "/stages/0/actions/0/inputArtifacts",
                json!([{"name":"BuildArtifact"}]),
            )],
            vec![
                ("stages[0].actions[0].inputArtifacts", IAD),
                ("stages[0].actions[0].inputArtifacts[0].name", ISE),
            ],
        ),
        case(
            "source without an output",
            CODECOMMIT,
            vec![
                Set("/stages/0/actions/0/outputArtifacts", json!([])),
                Set(
                    "/stages/1/actions/0/inputArtifacts",
                    json!([{"name":"BuildArtifact"}]),
                ),
            ],
            vec![
                ("stages[0].actions[0].outputArtifacts", IAD),
                ("stages[1].actions[0].inputArtifacts[0].name", ISE),
            ],
        ),
        case(
            "CodeCommit output format TAR",
            CODECOMMIT,
            vec![Set(
                "/stages/0/actions/0/configuration/OutputArtifactFormat",
                json!("TAR"),
            )],
            vec![(
                "stages[0].actions[0].configuration.OutputArtifactFormat",
                IAD,
            )],
        ),
        case(
            "configuration value over 1000 characters",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/configuration/ProjectName",
                json!("p".repeat(1001)),
            )],
            vec![("stages[1].actions[0].configuration.ProjectName", VE)],
        ),
        case(
            "configuration key over 50 characters",
            JENKINS,
            vec![Set(
                "/stages/1/actions/0/configuration/ThisConfigurationPropertyNameIsFarTooLongToBeAcceptedByTheService",
                json!("x"),
            )],
            vec![(
                "stages[1].actions[0].configuration.ThisConfigurationPropertyNameIsFarTooLongToBeAcceptedByTheService",
                VE,
            )],
        ),
        case(
            "empty configuration value",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/configuration/PrimarySource",
                json!(""),
            )],
            vec![("stages[1].actions[0].configuration.PrimarySource", VE)],
        ),
        case(
            "configuration value that is an object",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/configuration/ProjectName",
                json!({"Ref":"Project"}),
            )],
            vec![("stages[1].actions[0].configuration.ProjectName", VE)],
        ),
        // Variables and namespaces.
        case(
            "variable of an unknown namespace",
            CODECOMMIT,
            vec![Set(
                "/stages/3/actions/0/configuration/ObjectKey",
                json!("#{Nope.x}"),
            )],
            vec![("stages[3].actions[0].configuration.ObjectKey", IAD)],
        ),
        case(
            "variable of a later action",
            CODECOMMIT,
            vec![
                Set("/stages/2/actions/0/namespace", json!("TestVariables")),
                Set(
                    "/stages/1/actions/0/configuration/EnvironmentVariables",
                    json!("[{\"name\":\"R\",\"value\":\"#{TestVariables.Result}\"}]"),
                ),
            ],
            vec![(
                "stages[1].actions[0].configuration.EnvironmentVariables",
                IAD,
            )],
        ),
        case(
            "variable of an action with the same runOrder",
            CODECOMMIT,
            vec![
                Push(
                    "/stages/2/actions",
                    codebuild("Prepare", "BuildArtifact", "Fixtures"),
                ),
                Set("/stages/2/actions/1/namespace", json!("PrepareVariables")),
                Set(
                    "/stages/2/actions/0/configuration/EnvironmentVariables",
                    json!("[{\"name\":\"F\",\"value\":\"#{PrepareVariables.Path}\"}]"),
                ),
            ],
            vec![(
                "stages[2].actions[0].configuration.EnvironmentVariables",
                IAD,
            )],
        ),
        case(
            "unknown codepipeline variable",
            CODECOMMIT,
            vec![Set(
                "/stages/3/actions/0/configuration/ObjectKey",
                json!("#{codepipeline.PipelineName}"),
            )],
            vec![("stages[3].actions[0].configuration.ObjectKey", IAD)],
        ),
        case(
            "undeclared pipeline variable",
            V2_VARIABLES,
            vec![Set(
                "/stages/1/actions/0/configuration/ObjectKey",
                json!("#{variables.Region}/app.zip"),
            )],
            vec![("stages[1].actions[0].configuration.ObjectKey", IAD)],
        ),
        case(
            "duplicate namespace",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/namespace",
                json!("SourceVariables"),
            )],
            vec![("stages[1].actions[0].namespace", IAD)],
        ),
        case(
            "namespace with a dot",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/namespace", json!("Build.Vars"))],
            vec![("stages[1].actions[0].namespace", VE)],
        ),
        case(
            "reserved namespace",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/namespace", json!("codepipeline"))],
            vec![("stages[1].actions[0].namespace", IAD)],
        ),
        // Fields that belong to some action types only.
        case(
            "action role on a custom action",
            JENKINS,
            vec![Set(
                "/stages/1/actions/0/roleArn",
                json!("arn:aws:iam::123456789012:role/x"),
            )],
            vec![("stages[1].actions[0].roleArn", IAD)],
        ),
        case(
            "timeout on a CodeBuild action",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/timeoutInMinutes", json!(30))],
            vec![("stages[1].actions[0].timeoutInMinutes", IAD)],
        ),
        case(
            "approval timeout under five minutes",
            APPROVAL,
            vec![Set("/stages/1/actions/0/timeoutInMinutes", json!(4))],
            vec![("stages[1].actions[0].timeoutInMinutes", VE)],
        ),
        case(
            "approval with an unknown property",
            APPROVAL,
            vec![Set(
                "/stages/1/actions/0/configuration/Approvers",
                json!("me"),
            )],
            vec![("stages[1].actions[0].configuration.Approvers", IAD)],
        ),
        case(
            "commands on a CodeBuild action",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/commands", json!(["make"]))],
            vec![("stages[1].actions[0].commands", IAD)],
        ),
        case(
            "Commands action without commands",
            V2_COMMANDS,
            vec![Remove("/stages/1/actions/0/commands")],
            vec![("stages[1].actions[0].commands", IAD)],
        ),
        case(
            "Commands action with 51 commands",
            V2_COMMANDS,
            vec![Set("/stages/1/actions/0/commands", json!(vec!["true"; 51]))],
            vec![("stages[1].actions[0].commands", VE)],
        ),
        case(
            "multi-line command",
            V2_COMMANDS,
            vec![Set(
                "/stages/1/actions/0/commands/0",
                json!("npm ci\nnpm test"),
            )],
            vec![("stages[1].actions[0].commands[0]", IAD)],
        ),
        case(
            "Commands action with a configuration",
            V2_COMMANDS,
            vec![Set(
                "/stages/1/actions/0/configuration",
                json!({"Image":"x"}),
            )],
            vec![("stages[1].actions[0].configuration.Image", IAD)],
        ),
        case(
            "outputVariables on a CodeBuild action",
            CODECOMMIT,
            vec![Set("/stages/1/actions/0/outputVariables", json!(["X"]))],
            vec![("stages[1].actions[0].outputVariables", IAD)],
        ),
        case(
            "16 outputVariables",
            V2_COMMANDS,
            vec![Set(
                "/stages/1/actions/0/outputVariables",
                json!((0..16).map(|n| format!("V{n}")).collect::<Vec<_>>()),
            )],
            vec![("stages[1].actions[0].outputVariables", VE)],
        ),
        case(
            "output files on a CodeBuild action",
            CODECOMMIT,
            vec![Set(
                "/stages/1/actions/0/outputArtifacts/0/files",
                json!(["*"]),
            )],
            vec![("stages[1].actions[0].outputArtifacts[0].files", IAD)],
        ),
        case(
            "environment variable name with a dash",
            V2_COMMANDS,
            vec![Set(
                "/stages/1/actions/0/environmentVariables/0/name",
                json!("NODE-ENV"),
            )],
            vec![("stages[1].actions[0].environmentVariables[0].name", VE)],
        ),
        case(
            "environment variable of an unknown type",
            V2_COMMANDS,
            vec![Set(
                "/stages/1/actions/0/environmentVariables/0/type",
                json!("PARAMETER_STORE"),
            )],
            vec![("stages[1].actions[0].environmentVariables[0].type", VE)],
        ),
        // V2 features.
        case(
            "variables on a V1 pipeline",
            V2_VARIABLES,
            vec![Set("/pipelineType", json!("V1"))],
            vec![("variables", ISE)],
        ),
        case(
            "triggers on a V1 pipeline",
            V2_PUSH,
            vec![Set("/pipelineType", json!("V1"))],
            vec![("triggers", ISE)],
        ),
        case(
            "QUEUED on a V1 pipeline",
            CODECOMMIT,
            vec![
                Set("/pipelineType", json!("V1")),
                Set("/executionMode", json!("QUEUED")),
            ],
            vec![("executionMode", ISE)],
        ),
        case(
            "onFailure on a V1 pipeline",
            V2_RETRY,
            vec![Set("/pipelineType", json!("V1"))],
            vec![("stages[1].onFailure", ISE)],
        ),
        case(
            "Commands action on a V1 pipeline",
            V2_COMMANDS,
            vec![Set("/pipelineType", json!("V1"))],
            vec![("stages[1].actions[0].actionTypeId", ISE)],
        ),
        case(
            "unknown pipeline type",
            CODECOMMIT,
            vec![Set("/pipelineType", json!("V3"))],
            vec![("pipelineType", VE)],
        ),
        case(
            "duplicate pipeline variables",
            V2_VARIABLES,
            vec![Push("/variables", json!({"name":"Environment"}))],
            vec![("variables[1].name", ISE)],
        ),
        case(
            "pipeline variable name with a space",
            V2_VARIABLES,
            vec![Push("/variables", json!({"name":"Deploy Region"}))],
            vec![("variables[1].name", VE)],
        ),
        case(
            "pipeline variable default over 1000 characters",
            V2_VARIABLES,
            vec![Set("/variables/0/defaultValue", json!("x".repeat(1001)))],
            vec![("variables[0].defaultValue", VE)],
        ),
        case(
            "trigger for an unknown action",
            V2_PUSH,
            vec![Set(
                "/triggers/0/gitConfiguration/sourceActionName",
                json!("Nope"),
            )],
            vec![("triggers[0].gitConfiguration.sourceActionName", ISE)],
        ),
        case(
            "trigger on an S3 source",
            V2_VARIABLES,
            vec![Set(
                "/triggers",
                json!([{"providerType":"CodeStarSourceConnection","gitConfiguration":{"sourceActionName":"Source","push":[{"branches":{"includes":["main"]}}]}}]),
            )],
            vec![("triggers[0].gitConfiguration.sourceActionName", ISE)],
        ),
        case(
            "two triggers for one source",
            V2_PUSH,
            vec![With(|p| {
                let t = p["triggers"][0].clone();
                p["triggers"].as_array_mut().unwrap().push(t);
            })],
            vec![("triggers[1].gitConfiguration.sourceActionName", ISE)],
        ),
        case(
            "trigger without filters",
            V2_PUSH,
            vec![Remove("/triggers/0/gitConfiguration/push")],
            vec![("triggers[0].gitConfiguration", ISE)],
        ),
        case(
            "four push filters",
            V2_PUSH,
            vec![With(|p| {
                let f = p["triggers"][0]["gitConfiguration"]["push"][0].clone();
                for _ in 0..3 {
                    p["triggers"][0]["gitConfiguration"]["push"]
                        .as_array_mut()
                        .unwrap()
                        .push(f.clone());
                }
            })],
            vec![("triggers[0].gitConfiguration.push", VE)],
        ),
        case(
            "nine include patterns",
            V2_PUSH,
            vec![Set(
                "/triggers/0/gitConfiguration/push/0/branches/includes",
                json!(vec!["b"; 9]),
            )],
            vec![("triggers[0].gitConfiguration.push[0].branches.includes", VE)],
        ),
        case(
            "push filter with branches and tags",
            V2_PUSH,
            vec![Set(
                "/triggers/0/gitConfiguration/push/0/tags",
                json!({"includes":["v*"]}),
            )],
            vec![("triggers[0].gitConfiguration.push[0]", ISE)],
        ),
        case(
            "pull request event MERGED",
            V2_PUSH,
            vec![Set(
                "/triggers/0/gitConfiguration/pullRequest",
                json!([{"events":["MERGED"],"branches":{"includes":["main"]}}]),
            )],
            vec![("triggers[0].gitConfiguration.pullRequest[0].events[0]", VE)],
        ),
        case(
            "trigger provider type GitHub",
            V2_PUSH,
            vec![Set("/triggers/0/providerType", json!("GitHub"))],
            vec![("triggers[0].providerType", VE)],
        ),
        // Stage conditions.
        case(
            "beforeEntry result ROLLBACK",
            V2_GATE,
            vec![Set(
                "/stages/1/beforeEntry/conditions/0/result",
                json!("ROLLBACK"),
            )],
            vec![("stages[1].beforeEntry.conditions[0].result", ISD)],
        ),
        case(
            "beforeEntry with two conditions",
            V2_GATE,
            vec![With(|p| {
                let c = p["stages"][1]["beforeEntry"]["conditions"][0].clone();
                p["stages"][1]["beforeEntry"]["conditions"]
                    .as_array_mut()
                    .unwrap()
                    .push(c);
            })],
            vec![("stages[1].beforeEntry.conditions", ISD)],
        ),
        case(
            "VariableCheck without Operator",
            V2_GATE,
            vec![Remove(
                "/stages/1/beforeEntry/conditions/0/rules/0/configuration/Operator",
            )],
            vec![(
                "stages[1].beforeEntry.conditions[0].rules[0].configuration",
                ISD,
            )],
        ),
        case(
            "VariableCheck with operator LIKE",
            V2_GATE,
            vec![Set(
                "/stages/1/beforeEntry/conditions/0/rules/0/configuration/Operator",
                json!("LIKE"),
            )],
            vec![(
                "stages[1].beforeEntry.conditions[0].rules[0].configuration.Operator",
                ISD,
            )],
        ),
        case(
            "unknown rule provider",
            V2_GATE,
            vec![Set(
                "/stages/1/beforeEntry/conditions/0/rules/0/ruleTypeId/provider",
                json!("Coin"),
            )],
            vec![(
                "stages[1].beforeEntry.conditions[0].rules[0].ruleTypeId.provider",
                ISD,
            )],
        ),
        case(
            "condition without rules",
            V2_GATE,
            vec![Set("/stages/1/beforeEntry/conditions/0/rules", json!([]))],
            vec![("stages[1].beforeEntry.conditions[0].rules", VE)],
        ),
        case(
            "rule category Action",
            V2_GATE,
            vec![Set(
                "/stages/1/beforeEntry/conditions/0/rules/0/ruleTypeId/category",
                json!("Action"),
            )],
            vec![(
                "stages[1].beforeEntry.conditions[0].rules[0].ruleTypeId.category",
                VE,
            )],
        ),
        case(
            "onSuccess SKIP with an alarm rule",
            V2_ALARM,
            vec![Set(
                "/stages/1/onSuccess/conditions/0/result",
                json!("SKIP"),
            )],
            vec![
                ("stages[1].onSuccess.conditions[0].result", ISD),
                ("stages[1].onSuccess.conditions[0].result", ISD),
            ],
        ),
        case(
            "rollback of the source stage",
            V2_ROLLBACK,
            vec![Set("/stages/0/onFailure", json!({"result":"ROLLBACK"}))],
            vec![("stages[0].onFailure.result", ISD)],
        ),
        case(
            "rollback in PARALLEL mode",
            V2_ROLLBACK,
            vec![Set("/executionMode", json!("PARALLEL"))],
            vec![("stages[1].onFailure.result", ISD)],
        ),
        case(
            "retryConfiguration without RETRY",
            V2_RETRY,
            vec![Set("/stages/1/onFailure/result", json!("FAIL"))],
            vec![("stages[1].onFailure.retryConfiguration", ISD)],
        ),
        case(
            "RETRY combined with conditions",
            V2_RETRY,
            vec![Set(
                "/stages/1/onFailure/conditions",
                json!([{"result":"ROLLBACK","rules":[{"name":"A","ruleTypeId":{"category":"Rule","provider":"CloudWatchAlarm"},"configuration":{"AlarmName":"a"}}]}]),
            )],
            vec![("stages[1].onFailure.conditions", ISD)],
        ),
        case(
            "retry mode SOME_ACTIONS",
            V2_RETRY,
            vec![Set(
                "/stages/1/onFailure/retryConfiguration/retryMode",
                json!("SOME_ACTIONS"),
            )],
            vec![("stages[1].onFailure.retryConfiguration.retryMode", VE)],
        ),
    ]
}

fn apply(document: &mut Value, edit: &Edit) {
    match edit {
        Set(pointer, value) => {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let parent = document
                .pointer_mut(parent)
                .unwrap_or_else(|| panic!("no {parent}"));
            match parent {
                Value::Object(map) => {
                    map.insert(key.to_string(), value.clone());
                }
                Value::Array(items) => items[key.parse::<usize>().unwrap()] = value.clone(),
                _ => panic!("{pointer} is not inside an object or array"),
            }
        }
        Remove(pointer) => {
            let (parent, key) = pointer.rsplit_once('/').unwrap();
            let removed = document
                .pointer_mut(parent)
                .and_then(Value::as_object_mut)
                .and_then(|map| map.remove(key));
            assert!(removed.is_some(), "nothing at {pointer}");
        }
        Push(pointer, value) => document
            .pointer_mut(pointer)
            .and_then(Value::as_array_mut)
            .unwrap_or_else(|| panic!("no array at {pointer}"))
            .push(value.clone()),
        With(change) => change(document),
    }
}

#[test]
fn every_invalid_case_reports_exactly_its_problems() {
    let cases = cases();
    assert!(cases.len() >= 60, "only {} invalid cases", cases.len());
    let mut failures = Vec::new();
    for case in &cases {
        let text = std::fs::read_to_string(corpus_dir().join(case.base)).unwrap();
        let mut document: Value = serde_json::from_str(&text).unwrap();
        for edit in &case.edits {
            apply(&mut document, edit);
        }
        let mut found = problems_of(case.base, &document.to_string(), false);
        let mut expected: Vec<(String, String)> = case
            .expect
            .iter()
            .map(|(p, e)| (p.to_string(), e.to_string()))
            .collect();
        found.sort();
        expected.sort();
        if found != expected {
            failures.push(format!(
                "{}: expected {expected:?}, found {found:?}",
                case.name
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases differ:\n{}",
        failures.len(),
        cases.len(),
        failures.join("\n")
    );
}

#[test]
fn problems_name_the_document_path_of_a_wrapped_declaration() {
    let text =
        std::fs::read_to_string(corpus_dir().join("01-seed-localstack-s3-to-s3.json")).unwrap();
    let mut document: Value = serde_json::from_str(&text).unwrap();
    document["pipeline"]["stages"][0]["actions"][0]["runOrder"] = json!(0);
    document["pipeline"]["stages"][1]["actions"][0]["runOrder"] = json!(0);
    let text = document.to_string();
    let found = problems_of("seed.json", &text, false);
    assert_eq!(
        found,
        [
            (
                "pipeline.stages[0].actions[0].runOrder".to_string(),
                VE.to_string()
            ),
            (
                "pipeline.stages[1].actions[0].runOrder".to_string(),
                VE.to_string()
            ),
        ]
    );
}
