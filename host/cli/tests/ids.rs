//! Naming executions on the command line: ids, unique prefixes and their candidates, the
//! latest execution when none is named, and what a failed execution says about itself.

use std::path::PathBuf;

mod common;
use common::{Workspace, zip_of};

/// A workspace whose versioned `src` bucket holds `src.zip` with a buildspec running
/// `commands`, plus the buckets the pipelines use.
fn workspace(commands: &[&str]) -> Workspace {
    let ws = Workspace::new();
    ws.versioned_bucket("src");
    ws.ok(&["s3", "mb", "s3://target"]);
    ws.ok(&["s3", "mb", "s3://artifacts"]);
    upload_buildspec(&ws, commands);
    ws
}

/// Replace `src.zip` with one whose buildspec runs `commands`.
fn upload_buildspec(ws: &Workspace, commands: &[&str]) {
    let commands: String = commands
        .iter()
        .map(|command| format!("      - '{}'\n", command.replace('\'', "''")))
        .collect();
    let buildspec = format!("version: 0.2\nphases:\n  build:\n    commands:\n{commands}");
    ws.write("src.zip", zip_of(&[("buildspec.yml", &buildspec)]));
    ws.ok(&["s3", "cp", "src.zip", "s3://src/src.zip"]);
}

/// Source (S3 `src/src.zip`) → Build (CodeBuild running the source's buildspec); a V2
/// pipeline with variables `Env` (default `staging`) and `Region` (default `eu-west-1`).
fn pipeline(ws: &Workspace) -> PathBuf {
    pipeline_with(ws, "")
}

/// [`pipeline`], with `build_extra` added to the Build stage's declaration.
fn pipeline_with(ws: &Workspace, build_extra: &str) -> PathBuf {
    ws.write(
        "pipeline.json",
        format!(
            r#"{{"pipeline":{{"name":"app","pipelineType":"V2","roleArn":"arn:aws:iam::123456789012:role/r",
              "artifactStore":{{"type":"S3","location":"artifacts"}},
              "variables":[{{"name":"Env","defaultValue":"staging"}},{{"name":"Region","defaultValue":"eu-west-1"}}],
              "stages":[
                {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
                  "configuration":{{"S3Bucket":"src","S3ObjectKey":"src.zip","PollForSourceChanges":"false"}},
                  "outputArtifacts":[{{"name":"Src"}}]}}]}},
                {{"name":"Build"{build_extra},"actions":[{{"name":"Compile",
                  "actionTypeId":{{"category":"Build","owner":"AWS","provider":"CodeBuild","version":"1"}},
                  "configuration":{{"ProjectName":"app-build"}},"inputArtifacts":[{{"name":"Src"}}]}}]}}]}}}}"#
        ),
    )
}

fn run(ws: &Workspace, file: &std::path::Path, extra: &[&str]) -> bool {
    let mut args = vec!["run", file.to_str().unwrap(), "--plain"];
    args.extend_from_slice(extra);
    ws.sandpipe(&args).status.success()
}

/// The ids of every execution, newest first.
fn ids(ws: &Workspace) -> Vec<String> {
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&ws.ok(&["executions", "list", "--json", "--limit", "1000"])).unwrap();
    list.iter()
        .map(|e| e["pipelineExecutionId"].as_str().unwrap().to_string())
        .collect()
}

/// The longest prefix two of `ids` share (at least one character), if two share any.
fn shared_prefix(ids: &[String]) -> Option<String> {
    let mut sorted = ids.to_vec();
    sorted.sort();
    sorted
        .windows(2)
        .map(|pair| {
            let common = pair[0]
                .chars()
                .zip(pair[1].chars())
                .take_while(|(a, b)| a == b)
                .count();
            pair[0][..common].to_string()
        })
        .filter(|prefix| !prefix.is_empty())
        .max_by_key(String::len)
}

#[test]
fn an_ambiguous_prefix_lists_its_candidates_and_an_unknown_id_names_the_latest() {
    let ws = workspace(&["echo built"]);
    let file = pipeline(&ws);
    // Ids are random UUIDs: run until two begin alike (17 runs always make two share a first
    // hexadecimal digit).
    let mut prefix = None;
    for _ in 0..17 {
        assert!(run(&ws, &file, &[]));
        if let Some(shared) = shared_prefix(&ids(&ws)) {
            prefix = Some(shared);
            break;
        }
    }
    let prefix = prefix.expect("17 UUIDs always share a first character");
    let all = ids(&ws);
    let candidates: Vec<&String> = all.iter().filter(|id| id.starts_with(&prefix)).collect();

    let output = ws.sandpipe(&["executions", "show", &prefix]);
    assert_eq!(output.status.code(), Some(1));
    let said = String::from_utf8_lossy(&output.stderr);
    assert!(
        said.contains(&format!(
            "ambiguous execution id '{prefix}': it begins {} executions: ",
            candidates.len()
        )),
        "{said}"
    );
    for id in &candidates {
        assert!(said.contains(&format!("{id} (app, Succeeded, ")), "{said}");
    }
    // Every command that takes an id resolves it alike.
    for command in [
        vec!["logs", prefix.as_str()],
        vec!["stop", prefix.as_str()],
        vec!["retry", prefix.as_str()],
    ] {
        let said = ws.fails(&command);
        assert!(
            said.contains(&format!("ambiguous execution id '{prefix}'")),
            "{command:?}: {said}"
        );
    }

    // One more character than any two share names one execution.
    let unique = &candidates[0][..prefix.len() + 1];
    let shown = ws.ok(&["executions", "show", unique]);
    assert!(
        shown.contains(&format!("Execution {}", candidates[0])),
        "{shown}"
    );

    let said = ws.fails(&["executions", "show", "zzz"]);
    assert!(said.contains("no execution 'zzz' in "), "{said}");
    assert!(
        said.contains(&format!("; the latest is {} (app, Succeeded, ", all[0])),
        "{said}"
    );
    // Nothing runs, so there is nothing to stop; nothing failed, so nothing to retry.
    let said = ws.fails(&["stop"]);
    assert!(said.contains("no running execution in "), "{said}");
    let said = ws.fails(&["retry"]);
    assert!(said.contains("no failed execution in "), "{said}");
    assert!(
        said.contains(&format!("the latest is {}", all[0])),
        "{said}"
    );
}

#[test]
fn logs_without_an_id_print_the_latest_execution() {
    let ws = workspace(&["echo first-run-output"]);
    let file = pipeline(&ws);
    assert!(run(&ws, &file, &[]));
    upload_buildspec(&ws, &["echo second-run-output"]);
    assert!(run(&ws, &file, &[]));

    for args in [&["logs"][..], &["logs", "latest"]] {
        let logs = ws.ok(args);
        assert!(logs.contains("second-run-output"), "{args:?}: {logs}");
        assert!(!logs.contains("first-run-output"), "{args:?}: {logs}");
        assert!(logs.contains("==> Build/Compile <=="), "{args:?}: {logs}");
    }
    let oldest = ids(&ws).pop().unwrap();
    let logs = ws.ok(&["logs", &oldest]);
    assert!(logs.contains("first-run-output"), "{logs}");
    let said = ws.fails(&["logs", "--pipeline", "other"]);
    assert!(said.contains("no execution of 'other' in "), "{said}");
}

#[test]
fn a_failed_execution_says_what_failed_and_retry_reruns_that_stage() {
    // The build passes once the file `ready` is in the workspace.
    let ws = workspace(&["echo first"]);
    let ready = ws.path("ready");
    upload_buildspec(&ws, &[&format!("test -f {}", ready.display())]);
    let file = pipeline(&ws);
    assert!(!run(&ws, &file, &[]));
    let id = ids(&ws).remove(0);

    let list: Vec<serde_json::Value> =
        serde_json::from_str(&ws.ok(&["executions", "list", "--json"])).unwrap();
    let summary = list[0]["statusSummary"].as_str().unwrap_or_default();
    assert!(summary.starts_with("Build/Compile failed: "), "{summary}");
    let table = ws.ok(&["executions", "list"]);
    assert!(table.contains("Build/Compile failed"), "{table}");
    let shown = ws.ok(&["executions", "show"]);
    assert!(
        shown.contains(&format!(
            "Execution {id} of pipeline app: Failed (Build/Compile failed: "
        )),
        "{shown}"
    );

    // Without --stage (and without an id) the latest failed execution's failed stage runs again.
    std::fs::write(&ready, "yes").unwrap();
    let output = ws.sandpipe(&["retry", "--plain"]);
    let said = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(output.status.success(), "{said}");
    assert!(said.contains(&format!("execution {id} (retry)")), "{said}");
    assert_eq!(
        ids(&ws),
        [id.as_str()],
        "the retry continued the same execution"
    );
    let record = ws.records().pop().unwrap();
    assert_eq!(record["status"], "Succeeded");
    assert_eq!(record["stages"][1]["status"], "Succeeded");
    assert!(record.get("statusSummary").is_none(), "{record}");

    // A succeeded execution has no failed stage to retry.
    let said = ws.fails(&["retry", &id]);
    assert!(
        said.contains(&format!(
            "StageNotRetryableException: execution {id} is Succeeded and has no failed stage to retry"
        )),
        "{said}"
    );
}

#[test]
fn executions_show_prints_the_pipeline_variables() {
    let ws = workspace(&["echo built"]);
    let file = pipeline(&ws);
    assert!(run(&ws, &file, &["--variable", "Env=prod"]));
    for args in [
        &["executions", "show"][..],
        &["executions", "show", "latest"],
    ] {
        let shown = ws.ok(args);
        assert!(shown.contains("Variable: Env = prod\n"), "{shown}");
        assert!(shown.contains("Variable: Region = eu-west-1\n"), "{shown}");
    }
    let shown = ws.ok(&["executions", "show", "--pipeline", "app"]);
    assert!(shown.contains("Variable: Env = prod"), "{shown}");
}

#[test]
fn a_stage_failed_by_its_condition_says_which_rule() {
    let ws = workspace(&["echo built"]);
    let condition = r##","onSuccess":{"conditions":[{"result":"FAIL","rules":[{"name":"IsProd",
        "ruleTypeId":{"category":"Rule","owner":"AWS","provider":"VariableCheck","version":"1"},
        "configuration":{"Variable":"#{variables.Env}","Operator":"EQ","Value":"prod"}}]}]}"##;
    let file = pipeline_with(&ws, condition);
    assert!(!run(&ws, &file, &[]));
    let list: Vec<serde_json::Value> =
        serde_json::from_str(&ws.ok(&["executions", "list", "--json"])).unwrap();
    assert_eq!(list[0]["status"], "Failed");
    assert_eq!(
        list[0]["statusSummary"],
        "stage 'Build' failed: onSuccess rule 'IsProd' failed (Fail): 'staging' EQ 'prod' does \
         not hold"
    );
}
