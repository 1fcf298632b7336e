//! Reproducing executions through the real binary: `replay` runs an execution again with its
//! recorded inputs and compares every artifact; `--deterministic` fixes what builds and wasm
//! actions read from the clock and the random source.

mod common;

use common::reproduce::{PROBE, entropy_pipeline, stamp_pipeline, stamp_workspace};
use common::{Workspace, git_commit, git_repository, zip_of};

/// git source → CodeBuild writing the commit it built → S3 deploy of the build's output.
const GIT_PIPELINE: &str = r#"{"pipeline": {
  "name": "app", "roleArn": "arn:aws:iam::123456789012:role/r",
  "artifactStore": {"type": "S3", "location": "artifacts"},
  "stages": [
    {"name": "Source", "actions": [{"name": "App",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "CodeStarSourceConnection", "version": "1"},
      "configuration": {"ConnectionArn": "arn:aws:codeconnections:us-east-1:123456789012:connection/0f3c2d1e",
        "FullRepositoryId": "octo-org/app", "BranchName": "main"},
      "outputArtifacts": [{"name": "Src"}]}]},
    {"name": "Build", "actions": [{"name": "Compile",
      "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
      "configuration": {"ProjectName": "app-build"},
      "inputArtifacts": [{"name": "Src"}], "outputArtifacts": [{"name": "Bin"}]}]},
    {"name": "Deploy", "actions": [{"name": "Site",
      "actionTypeId": {"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"BucketName": "target", "Extract": "true", "ObjectKey": "site"},
      "inputArtifacts": [{"name": "Bin"}]}]}
  ]}}"#;

const BUILDSPEC: &str = "version: 0.2
phases:
  build:
    commands:
      - echo \"$CODEBUILD_RESOLVED_SOURCE_VERSION\" > commit.txt
      - cat page.txt > page-copy.txt
artifacts:
  files:
    - commit.txt
    - page-copy.txt
";

/// The repository (its first commit returned), its connection mapping, the pipeline and the
/// target bucket.
fn git_workspace() -> (Workspace, String) {
    let ws = Workspace::new();
    let first = git_repository(
        &ws.path("repos/app"),
        &[("buildspec.yml", BUILDSPEC), ("page.txt", "one\n")],
        "First",
    );
    ws.write(
        "sandpipe-connections.yaml",
        "repositories:\n  octo-org/app: repos/app\n",
    );
    ws.write("pipeline.json", GIT_PIPELINE);
    ws.ok(&["s3", "mb", "s3://target"]);
    (ws, first)
}

#[test]
fn a_replay_after_the_branch_moved_builds_the_recorded_commit() {
    let (ws, first) = git_workspace();
    ws.ok(&["run", "--plain", "pipeline.json"]);
    let original = ws.records().pop().unwrap();
    let original_id = original["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string();

    // The branch moves on; a new run would build the new commit.
    let second = git_commit(&ws.path("repos/app"), &[("page.txt", "two\n")], "Second");
    assert_ne!(first, second);

    let output = ws.ok(&["replay", &original_id, "--plain"]);
    assert!(
        output.contains(&format!(
            "of {original_id}: 2 artifacts identical, 0 differ"
        )),
        "{output}"
    );
    let replayed = ws.records().pop().unwrap();
    assert_eq!(replayed["replayOf"], original_id.as_str());
    assert_eq!(
        replayed["stages"][0]["actions"][0]["currentRevision"]["revisionId"],
        first.as_str()
    );
    // What the replay deployed is the first commit's build.
    let commit = String::from_utf8(ws.get("s3://target/site/commit.txt")).unwrap();
    assert_eq!(commit.trim(), first);
    let page = String::from_utf8(ws.get("s3://target/site/page-copy.txt")).unwrap();
    assert_eq!(page, "one\n");
    // From a subdirectory of the project too: the state directory is found above it, and the
    // pipeline's files (the connections) beside the state directory.
    std::fs::create_dir(ws.path("docs")).unwrap();
    let from_below = std::process::Command::new(env!("CARGO_BIN_EXE_sandpipe"))
        .args(["replay", &original_id, "--plain"])
        .current_dir(ws.path("docs"))
        .env_remove("SANDPIPE_STATE_DIR")
        .env("XDG_CONFIG_HOME", ws.path(".config"))
        .output()
        .unwrap();
    assert!(
        from_below.status.success(),
        "{}",
        String::from_utf8_lossy(&from_below.stderr)
    );
    assert!(String::from_utf8_lossy(&from_below.stdout).contains("2 artifacts identical"));

    // Every component that ran is recorded by digest.
    for stage in replayed["stages"].as_array().unwrap() {
        let digest = stage["actions"][0]["componentDigest"].as_str().unwrap();
        assert_eq!(digest.len(), 64, "{stage}");
    }
}

#[test]
fn a_build_stamping_the_time_differs_on_replay_unless_deterministic() {
    let ws = stamp_workspace();
    ws.write(
        "pipeline.json",
        stamp_pipeline("date +%s%N > dist/stamp.txt"),
    );
    ws.ok(&["run", "--plain", "pipeline.json"]);
    // A new version of the source object: the replay must still take the recorded one.
    ws.write("src.zip", zip_of(&[("in.txt", "changed since\n")]));
    ws.ok(&["s3", "cp", "src.zip", "s3://src/src.zip"]);
    let output = ws.fails(&["replay", "--plain"]);
    assert!(
        output.contains("1 artifact identical, 1 differs"),
        "{output}"
    );
    assert!(output.contains("Build/Stamp → Dist:"), "{output}");
    assert!(output.contains("changed  dist/stamp.txt"), "{output}");
    assert!(!output.contains("changed  dist/in.txt"), "{output}");

    // The same build reading SOURCE_DATE_EPOCH, run deterministically: identical, and the
    // environment is the fixed one.
    ws.write(
        "pipeline.json",
        stamp_pipeline(
            "date -u -d @$SOURCE_DATE_EPOCH +%FT%T > dist/stamp.txt; umask > dist/umask.txt; echo $TZ $LC_ALL > dist/env.txt",
        ),
    );
    ws.ok(&["run", "--plain", "--deterministic", "pipeline.json"]);
    let original = ws.records().pop().unwrap();
    let determinism = &original["determinism"];
    assert_eq!(
        determinism["seed"], original["pipelineExecutionId"],
        "{original}"
    );
    assert_eq!(determinism["clock"], original["startTime"], "{original}");
    let output = ws.ok(&["replay", "--plain"]);
    assert!(
        output.contains("2 artifacts identical, 0 differ"),
        "{output}"
    );
    let replayed = ws.records().pop().unwrap();
    assert_eq!(
        &replayed["determinism"], determinism,
        "a replay reads its original's clock and seed"
    );
    let json: serde_json::Value =
        serde_json::from_str(&ws.ok(&["replay", "--json", "--plain"])).unwrap();
    assert_eq!(json["identical"], true, "{json}");
    let dist = &replayed["stages"][1]["actions"][0]["outputArtifacts"][0];
    let zip = ws.get(&format!(
        "s3://{}/{}",
        dist["bucket"].as_str().unwrap(),
        dist["key"].as_str().unwrap()
    ));
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut read = |name: &str| {
        let mut text = String::new();
        std::io::Read::read_to_string(&mut archive.by_name(name).unwrap(), &mut text).unwrap();
        text
    };
    assert_eq!(read("dist/env.txt"), "UTC C.UTF-8\n");
    assert_eq!(read("dist/umask.txt"), "0022\n");
    assert!(read("dist/stamp.txt").starts_with("20"));
}

#[test]
fn a_wasm_action_reading_the_clock_and_randomness_is_reproducible_when_deterministic() {
    let ws = stamp_workspace();
    let file = entropy_pipeline(&ws);
    let provider = format!("Build/Custom/Probe/1={PROBE}");
    let run = |extra: &[&str]| {
        let mut args = vec![
            "run",
            file.to_str().unwrap(),
            "--plain",
            "--provider",
            &provider,
        ];
        args.extend_from_slice(extra);
        ws.ok(&args);
    };

    run(&[]);
    let output = ws.fails(&["replay", "--plain", "--provider", &provider]);
    assert!(output.contains("changed  entropy.txt"), "{output}");

    run(&["--deterministic"]);
    for _ in 0..2 {
        let output = ws.ok(&["replay", "--plain", "--provider", &provider]);
        assert!(
            output.contains("2 artifacts identical, 0 differ"),
            "{output}"
        );
    }

    // A component that is not the one that ran is refused, unless allowed; the new one's
    // output is then compared all the same.
    let changed = ws.path("probe-changed.wasm");
    let mut bytes = std::fs::read(PROBE).unwrap();
    // A custom section "x" holding "y": other bytes, the same behaviour.
    bytes.extend_from_slice(&[0x00, 0x03, 0x01, b'x', b'y']);
    std::fs::write(&changed, bytes).unwrap();
    let other = format!("Build/Custom/Probe/1={}", changed.display());
    let output = ws.fails(&["replay", "--plain", "--provider", &other]);
    assert!(
        output.contains("ComponentChangedException: a component changed since execution")
            && output.contains("Build/Roll ran component"),
        "{output}"
    );
    let output = ws.ok(&[
        "replay",
        "--plain",
        "--provider",
        &other,
        "--allow-changed-components",
    ]);
    assert!(
        output.contains("2 artifacts identical, 0 differ"),
        "{output}"
    );
}

#[test]
fn a_working_tree_run_replays_from_its_snapshot_and_from_a_stage() {
    let ws = stamp_workspace();
    std::fs::create_dir_all(ws.path("tree")).unwrap();
    ws.write("tree/in.txt", "from the working tree\n");
    ws.write(
        "pipeline.json",
        stamp_pipeline("cat in.txt > dist/seen.txt"),
    );
    let tree = format!("Fetch={}", ws.path("tree").display());
    ws.ok(&["run", "--plain", "pipeline.json", "--source", &tree]);
    let original = ws.records().pop().unwrap();
    let id = original["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    // The tree changes and then goes away: the replay reads what the run read.
    ws.write("tree/in.txt", "edited later\n");
    std::fs::remove_dir_all(ws.path("tree")).unwrap();
    let output = ws.ok(&["replay", &id, "--plain"]);
    assert!(
        output.contains("2 artifacts identical, 0 differ"),
        "{output}"
    );

    // From the build stage: the source stage is the original's, not run again.
    let output = ws.ok(&["replay", &id, "--from-stage", "Build", "--plain"]);
    assert!(
        output.contains("2 artifacts identical, 0 differ"),
        "{output}"
    );
    let replayed = ws.records().pop().unwrap();
    assert_eq!(
        replayed["stages"][0]["actions"][0]["outputArtifacts"],
        original["stages"][0]["actions"][0]["outputArtifacts"]
    );
    let output = ws.fails(&["replay", &id, "--from-stage", "Nope", "--plain"]);
    assert!(
        output
            .contains("StageNotFoundException: version 1 of pipeline 'stamp' has no stage 'Nope'"),
        "{output}"
    );
}

#[test]
fn diff_shows_the_changed_declaration_configuration_and_files() {
    let ws = stamp_workspace();
    ws.write("pipeline.json", stamp_pipeline("echo one > dist/x.txt"));
    ws.ok(&["run", "--plain", "pipeline.json"]);
    let first = ws.records().pop().unwrap();
    ws.write("pipeline.json", stamp_pipeline("echo two > dist/x.txt"));
    ws.ok(&["run", "--plain", "pipeline.json"]);
    let second = ws.records().pop().unwrap();
    let (a, b) = (
        first["pipelineExecutionId"].as_str().unwrap(),
        second["pipelineExecutionId"].as_str().unwrap(),
    );

    let output = ws.fails(&["diff", a, b]);
    assert!(output.contains("(stamp version 1)") && output.contains("(stamp version 2)"));
    assert!(
        output.contains(
            r#"~ stages[Build].actions[Stamp].commands[2]: "echo one > dist/x.txt" → "echo two > dist/x.txt""#
        ),
        "{output}"
    );
    assert!(output.contains("Build/Stamp Commands:"), "{output}");
    assert!(output.contains("changed  dist/x.txt"), "{output}");
    assert!(output.contains("      -one\n      +two\n"), "{output}");
    // The source did not change: neither its revision nor its artifact is listed.
    assert!(!output.contains("source revisions:"), "{output}");
    assert!(!output.contains("Source/Fetch → Src"), "{output}");

    let json: serde_json::Value =
        serde_json::from_str(&ws.fails(&["diff", a, b, "--json"])).unwrap();
    assert_eq!(
        json["declaration"][0]["after"], "echo two > dist/x.txt",
        "{json}"
    );
    assert_eq!(
        json["artifacts"][0]["files"][0]["path"], "dist/x.txt",
        "{json}"
    );
    assert_eq!(
        json["artifacts"][0]["files"][0]["change"], "changed",
        "{json}"
    );

    let output = ws.ok(&["diff", a, a]);
    assert!(output.contains("no differences"), "{output}");
    let output = ws.fails(&["diff", a, "nope"]);
    assert!(output.contains("nope"), "{output}");
}

#[test]
fn provenance_is_an_in_toto_statement_of_slsa_provenance_matching_the_record() {
    let (ws, commit) = git_workspace();
    ws.ok(&["run", "--plain", "pipeline.json", "--deterministic"]);
    let record = ws.records().pop().unwrap();
    ws.ok(&["provenance", "-o", "provenance.json"]);
    let statement: serde_json::Value =
        serde_json::from_slice(&std::fs::read(ws.path("provenance.json")).unwrap()).unwrap();
    // The same bytes on standard output.
    let printed: serde_json::Value = serde_json::from_str(&ws.ok(&["provenance"])).unwrap();
    assert_eq!(printed, statement);

    // Checked against the in-toto Statement v1 and SLSA Provenance v1 schemas by jsonschema.
    let fixtures =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/provenance");
    let python = common::aws::venv().join("bin/python");
    let checked = std::process::Command::new(python)
        .args([
            "-c",
            "import json, sys, jsonschema\n\
             statement = json.load(open(sys.argv[1]))\n\
             jsonschema.validate(statement, json.load(open(sys.argv[2])))\n\
             jsonschema.validate(statement['predicate'], json.load(open(sys.argv[3])))\n\
             print('valid')",
        ])
        .arg(ws.path("provenance.json"))
        .arg(fixtures.join("in-toto-statement-v1.schema.json"))
        .arg(fixtures.join("slsa-provenance-v1.schema.json"))
        .output()
        .unwrap();
    assert!(
        checked.status.success(),
        "{}{}",
        String::from_utf8_lossy(&checked.stdout),
        String::from_utf8_lossy(&checked.stderr)
    );

    // Its subjects are the recorded artifacts, by digest.
    let mut recorded = Vec::new();
    for stage in record["stages"].as_array().unwrap() {
        for action in stage["actions"].as_array().unwrap() {
            for artifact in action["outputArtifacts"].as_array().into_iter().flatten() {
                recorded.push((
                    format!("{}/{}/{}", stage["name"], action["name"], artifact["name"])
                        .replace('"', ""),
                    artifact["sha256"].as_str().unwrap().to_string(),
                ));
            }
        }
    }
    let subjects: Vec<(String, String)> = statement["subject"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| {
            (
                s["name"].as_str().unwrap().to_string(),
                s["digest"]["sha256"].as_str().unwrap().to_string(),
            )
        })
        .collect();
    assert_eq!(subjects, recorded);
    assert_eq!(subjects.len(), 2);

    let predicate = &statement["predicate"];
    assert_eq!(statement["predicateType"], "https://slsa.dev/provenance/v1");
    assert_eq!(
        predicate["runDetails"]["metadata"]["invocationId"],
        record["pipelineExecutionId"]
    );
    assert_eq!(
        predicate["buildDefinition"]["internalParameters"]["deterministic"],
        true
    );
    let dependencies = predicate["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let source = dependencies
        .iter()
        .find(|d| d["name"] == "Source/App")
        .unwrap();
    assert_eq!(source["digest"]["gitCommit"], commit.as_str());
    assert_eq!(
        source["uri"],
        "git+CodeStarSourceConnection:octo-org/app@refs/heads/main"
    );
    let components: Vec<&serde_json::Value> = dependencies
        .iter()
        .filter(|d| d["mediaType"] == "application/wasm")
        .collect();
    assert_eq!(components.len(), 3, "{dependencies:?}");
}

#[test]
fn sandpipe_yaml_beside_the_pipeline_makes_its_runs_deterministic() {
    let ws = stamp_workspace();
    ws.write(
        "pipeline.json",
        stamp_pipeline("date +%s%N > dist/stamp.txt"),
    );
    ws.write(
        "sandpipe.yaml",
        "pipelines:\n  stamp:\n    deterministic: true\n",
    );
    ws.ok(&["run", "--plain", "pipeline.json"]);
    let record = ws.records().pop().unwrap();
    assert_eq!(
        record["determinism"]["seed"], record["pipelineExecutionId"],
        "{record}"
    );
    // Another pipeline's setting does not apply; a mistake is named with its file and key.
    ws.write(
        "sandpipe.yaml",
        "pipelines:\n  other:\n    deterministic: true\n",
    );
    ws.ok(&["run", "--plain", "pipeline.json"]);
    assert_eq!(
        ws.records().pop().unwrap()["determinism"],
        serde_json::Value::Null
    );
    ws.write("sandpipe.yaml", "determinstic: true\n");
    let output = ws.fails(&["run", "--plain", "pipeline.json"]);
    assert!(
        output.contains("sandpipe.yaml") && output.contains("determinstic"),
        "{output}"
    );
}
