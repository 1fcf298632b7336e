//! End-to-end tests of stage conditions (V2: entry, on-success and on-failure rules with
//! variable checks) and of rolling a stage back, by hand and on failure, with the `sandpipe`
//! binary and a fresh state directory per test.

mod common;
use common::Workspace;
use common::pipelines::{PROBE, probe_grant, stage_status};
use common::zip_of;

fn conditions_pipeline(build_extra: &str, ship_extra: &str) -> String {
    format!(
        r##"{{"name":"conditions","pipelineType":"V2","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{{"type":"S3","location":"artifact-store-bucket"}},
          "stages":[
            {{"name":"Source","actions":[{{"name":"Fetch","namespace":"SourceVariables","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"S3Bucket":"source-bucket","S3ObjectKey":"src.zip"}},"outputArtifacts":[{{"name":"Src"}}]}}]}},
            {{"name":"Build"{build_extra},"actions":[
              {{"name":"Compile","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
               "configuration":{{"Mode":"copy-inputs"}},"inputArtifacts":[{{"name":"Src"}}],"outputArtifacts":[{{"name":"Bin"}}]}},
              {{"name":"Flaky","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
               "configuration":{{"Mode":"fail-once","Object":"target-bucket/marker","MarkerBucket":"target-bucket"}}}}]}},
            {{"name":"Ship"{ship_extra},"actions":[{{"name":"Done","actionTypeId":{{"category":"Build","owner":"Custom","provider":"Probe","version":"1"}},
              "configuration":{{"Mode":"noop"}}}}]}}]}}"##
    )
}

fn variable_check(result: &str, operator: &str, value: &str) -> String {
    format!(
        r##"{{"conditions":[{{"result":"{result}","rules":[{{"name":"KeyCheck","ruleTypeId":{{"category":"Rule","owner":"AWS","provider":"VariableCheck","version":"1"}},
            "configuration":{{"Variable":"#{{SourceVariables.ObjectKey}}","Operator":"{operator}","Value":"{value}"}}}}]}}]}}"##
    )
}

#[test]
fn on_failure_retry_runs_the_failed_actions_again_once() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    let retry =
        r#","onFailure":{"result":"RETRY","retryConfiguration":{"retryMode":"FAILED_ACTIONS"}}"#;
    let file = ws.write("pipeline.json", conditions_pipeline(retry, ""));
    let output = ws.sandpipe(&[
        "run",
        file.to_str().unwrap(),
        "--provider",
        &probe_grant(),
        "--plain",
    ]);
    let printed = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{printed}");
    assert!(
        printed.contains(
            "Stage Build: retrying the stage automatically (onFailure RETRY, FAILED_ACTIONS)"
        ),
        "{printed}"
    );
    assert_eq!(
        printed.matches("[Build/Compile] started").count(),
        1,
        "Compile ran once: {printed}"
    );
    assert_eq!(
        printed.matches("[Build/Flaky] started").count(),
        2,
        "Flaky ran twice: {printed}"
    );
    let record = ws.records().pop().unwrap();
    assert_eq!(record["status"], "Succeeded");
    assert_eq!(
        record["stages"][1]["actions"][1]["summary"],
        "the marker was there"
    );
}

#[test]
fn entry_and_success_conditions_check_variables() {
    let ws = Workspace::new();
    ws.tutorial_buckets_with_source();
    ws.write("marker", "present");
    ws.ok(&["s3", "cp", "marker", "s3://target-bucket/marker"]);
    let run = |name: &str, build: String, ship: String| {
        let file = ws.write(name, conditions_pipeline(&build, &ship));
        let output = ws.sandpipe(&[
            "run",
            file.to_str().unwrap(),
            "--provider",
            &probe_grant(),
            "--plain",
        ]);
        (
            output.status.success(),
            String::from_utf8_lossy(&output.stderr).into_owned(),
            ws.records().pop().unwrap(),
        )
    };

    // An entry condition that holds lets the stage run.
    let (ok, printed, record) = run(
        "pass.json",
        String::new(),
        format!(
            ",\"beforeEntry\":{}",
            variable_check("FAIL", "EQ", "src.zip")
        ),
    );
    assert!(ok, "{printed}");
    assert!(
        printed.contains("beforeEntry rule 'KeyCheck' passed: 'src.zip' EQ 'src.zip'"),
        "{printed}"
    );
    assert_eq!(stage_status(&record, 2), "Succeeded");

    // One that fails with FAIL fails the stage before it runs.
    let (ok, printed, record) = run(
        "fail.json",
        String::new(),
        format!(
            ",\"beforeEntry\":{}",
            variable_check("FAIL", "MATCHES", "^release-.*")
        ),
    );
    assert!(!ok);
    assert!(printed.contains("beforeEntry rule 'KeyCheck' failed (Fail): 'src.zip' MATCHES '^release-.*' does not hold"), "{printed}");
    assert_eq!(stage_status(&record, 2), "Failed");
    assert_eq!(record["stages"][2]["actions"][0]["status"], "NotStarted");

    // With SKIP the stage is skipped and the execution goes on.
    let (ok, _, record) = run(
        "skip.json",
        format!(
            ",\"beforeEntry\":{}",
            variable_check("SKIP", "CONTAINS", "nightly")
        ),
        String::new(),
    );
    assert!(ok);
    assert_eq!(stage_status(&record, 1), "Skipped");
    assert_eq!(stage_status(&record, 2), "Succeeded");
    assert_eq!(record["status"], "Succeeded");

    // A success condition that fails fails the stage after its actions succeeded.
    let (ok, printed, record) = run(
        "success.json",
        String::new(),
        format!(",\"onSuccess\":{}", variable_check("FAIL", "NE", "src.zip")),
    );
    assert!(!ok);
    assert!(
        printed.contains("onSuccess rule 'KeyCheck' failed"),
        "{printed}"
    );
    assert_eq!(record["stages"][2]["actions"][0]["status"], "Succeeded");
    assert_eq!(stage_status(&record, 2), "Failed");
}

/// Source → Deploy [Put the site (Extract), Verify that ok.txt is in it], V2, with
/// `deploy_extra` spliced into the Deploy stage.
fn site_pipeline(deploy_extra: &str) -> String {
    format!(
        r#"{{"name":"site","pipelineType":"V2","roleArn":"arn:aws:iam::000000000000:role/r",
          "artifactStore":{{"type":"S3","location":"artifact-store-bucket"}},
          "stages":[
            {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"S3Bucket":"source-bucket","S3ObjectKey":"site.zip"}},"outputArtifacts":[{{"name":"Site"}}]}}]}},
            {{"name":"Deploy"{deploy_extra},"actions":[
              {{"name":"Put","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
               "configuration":{{"BucketName":"target-bucket","Extract":"true","ObjectKey":"www"}},"inputArtifacts":[{{"name":"Site"}}]}},
              {{"name":"Verify","runOrder":2,"actionTypeId":{{"category":"Test","owner":"Custom","provider":"Probe","version":"1"}},
               "configuration":{{"Mode":"read","Path":"/in/Site/ok.txt"}},"inputArtifacts":[{{"name":"Site"}}]}}]}}]}}"#
    )
}

fn probe_test_grant() -> String {
    format!("Test/Custom/Probe/1={PROBE}")
}

impl Workspace {
    fn publish_site(&self, version: &str, with_ok: bool) {
        let mut files = vec![("index.html", version)];
        if with_ok {
            files.push(("ok.txt", "ok"));
        }
        self.write("site.zip", zip_of(&files));
        self.ok(&["s3", "cp", "site.zip", "s3://source-bucket/site.zip"]);
    }
}

#[test]
fn rollback_runs_a_stage_again_with_an_earlier_executions_artifacts() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    let file = ws.write("pipeline.json", site_pipeline(""));
    let run = [
        "run",
        file.to_str().unwrap(),
        "--provider",
        &probe_test_grant(),
    ];
    ws.publish_site("v1", true);
    ws.ok(&run);
    ws.publish_site("v2", true);
    ws.ok(&run);
    assert_eq!(ws.get("s3://target-bucket/www/index.html"), b"v2");
    let first = ws.records()[0].clone();
    let first_id = first["pipelineExecutionId"].as_str().unwrap();

    let output = ws.fails(&[
        "rollback",
        "site",
        "--stage",
        "Source",
        "--provider",
        &probe_test_grant(),
    ]);
    assert!(
        output.contains("UnableToRollbackStageException: 'Source' is the source stage"),
        "{output}"
    );
    ws.ok(&[
        "rollback",
        "site",
        "--stage",
        "Deploy",
        "--target",
        first_id,
        "--provider",
        &probe_test_grant(),
    ]);
    assert_eq!(ws.get("s3://target-bucket/www/index.html"), b"v1");
    let rollback = ws.records().pop().unwrap();
    assert_eq!(rollback["executionType"], "ROLLBACK");
    assert_eq!(rollback["rollbackTarget"], first_id);
    assert_eq!(rollback["status"], "Succeeded");
    assert_eq!(
        rollback["stages"][1]["actions"][0]["inputArtifacts"][0]["sha256"],
        first["stages"][1]["actions"][0]["inputArtifacts"][0]["sha256"]
    );
    let output = ws.fails(&[
        "rollback",
        "site",
        "--stage",
        "Deploy",
        "--target",
        rollback["pipelineExecutionId"].as_str().unwrap(),
        "--provider",
        &probe_test_grant(),
    ]);
    assert!(
        output.contains("UnableToRollbackStageException"),
        "{output}"
    );
}

#[test]
fn a_failed_stage_with_on_failure_rollback_is_rolled_back_automatically() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    let file = ws.write(
        "pipeline.json",
        site_pipeline(r#","onFailure":{"result":"ROLLBACK"}"#),
    );
    let run = [
        "run",
        file.to_str().unwrap(),
        "--provider",
        &probe_test_grant(),
        "--plain",
    ];
    ws.publish_site("good", true);
    ws.ok(&run);
    ws.publish_site("broken", false);
    let output = ws.fails(&run);
    assert!(
        output.contains(
            "Stage Deploy: rolling back to the last execution that succeeded in this stage"
        ),
        "{output}"
    );
    assert_eq!(
        ws.get("s3://target-bucket/www/index.html"),
        b"good",
        "the good site is back"
    );
    let records = ws.records();
    assert_eq!(records.len(), 3);
    assert_eq!(records[1]["status"], "Failed");
    assert_eq!(records[2]["executionType"], "ROLLBACK");
    assert_eq!(
        records[2]["rollbackTarget"],
        records[0]["pipelineExecutionId"]
    );
    assert_eq!(records[2]["status"], "Succeeded");
}
