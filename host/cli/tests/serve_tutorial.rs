//! `sandpipe serve` driven by the real aws CLI: the LocalStack tutorial through `awslocal`,
//! command for command, ends with the object in the target bucket and both stages
//! Succeeded in `get-pipeline-state`; what the API made, the CLI sees.

mod common;

use std::time::{Duration, Instant};

use common::Workspace;
use common::aws::{client, client_env};
use common::serve::Server;

fn text(output: &std::process::Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

#[test]
fn the_seed_tutorial_runs_through_awslocal() {
    let ws = Workspace::new();
    let fixtures = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/seed-000");
    for file in ["role.json", "policy.json", "pipeline.json"] {
        std::fs::copy(fixtures.join(file), ws.path(file)).unwrap();
    }
    let server = Server::start(ws.dir.path(), &[]);
    let env = client_env(&server.url, ws.dir.path());
    let script = fixtures.join("tutorial.sh");
    let ran = client(ws.dir.path(), &env, "bash", &[script.to_str().unwrap()]);
    assert!(ran.status.success(), "{}", text(&ran));

    // The execution CreatePipeline started runs on in the server: wait for both stages.
    let deadline = Instant::now() + Duration::from_secs(60);
    let state = loop {
        let got = client(
            ws.dir.path(),
            &env,
            "aws",
            &["codepipeline", "get-pipeline-state", "--name", "pipeline"],
        );
        assert!(got.status.success(), "{}", text(&got));
        let state: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
        let statuses: Vec<&str> = state["stageStates"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|s| s["latestExecution"]["status"].as_str())
            .collect();
        if statuses == ["Succeeded", "Succeeded"] || Instant::now() > deadline {
            break state;
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    for stage in state["stageStates"].as_array().unwrap() {
        assert_eq!(stage["latestExecution"]["status"], "Succeeded", "{state:#}");
    }
    let copied = client(
        ws.dir.path(),
        &env,
        "awslocal",
        &["s3", "cp", "s3://target-bucket/output-artifact-file", "out"],
    );
    assert!(copied.status.success(), "{}", text(&copied));
    assert_eq!(
        std::fs::read(ws.path("out")).unwrap(),
        b"Hello LocalStack!\n"
    );

    // The same state, seen by the CLI and by IAM; a change the CLI makes from another
    // process shows in the next get-pipeline-state, whatever the server answered before.
    ws.ok(&[
        "disable-transition",
        "pipeline",
        "stage2",
        "--reason",
        "freeze",
    ]);
    let got = client(
        ws.dir.path(),
        &env,
        "aws",
        &["codepipeline", "get-pipeline-state", "--name", "pipeline"],
    );
    let state: serde_json::Value = serde_json::from_slice(&got.stdout).unwrap();
    assert_eq!(
        state["stageStates"][1]["inboundTransitionState"]["enabled"], false,
        "{state:#}"
    );
    let listed = ws.ok(&["executions", "list"]);
    assert!(
        listed.contains("pipeline") && listed.contains("Succeeded"),
        "{listed}"
    );
    let role = client(
        ws.dir.path(),
        &env,
        "aws",
        &["iam", "get-role", "--role-name", "role"],
    );
    let role: serde_json::Value = serde_json::from_slice(&role.stdout).unwrap();
    assert_eq!(role["Role"]["Arn"], "arn:aws:iam::123456789012:role/role");
    assert_eq!(
        role["Role"]["AssumeRolePolicyDocument"]["Statement"][0]["Action"],
        "sts:AssumeRole"
    );
    let missing = client(
        ws.dir.path(),
        &env,
        "aws",
        &["iam", "get-role", "--role-name", "nope"],
    );
    assert!(
        text(&missing)
            .contains("An error occurred (NoSuchEntity) when calling the GetRole operation"),
        "{}",
        text(&missing)
    );
}

#[test]
fn reset_wipes_everything_only_when_allowed() {
    let ws = Workspace::new();
    {
        let server = Server::start(ws.dir.path(), &[]);
        let (status, body) = server.request("POST", "/_sandpipe/reset");
        assert_eq!(status, 403, "{body}");
        assert!(body.contains("--allow-reset"), "{body}");
        let (status, body) = server.request("GET", "/_sandpipe/health");
        assert_eq!(status, 200, "{body}");
        assert!(body.contains("\"codepipeline\":\"running\""), "{body}");
    }
    let server = Server::start(ws.dir.path(), &["--allow-reset"]);
    ws.tutorial_buckets_with_source();
    ws.write(
        "pipeline.json",
        include_str!("fixtures/seed-000/pipeline.json")
            .replace("\"S3ObjectKey\": \"file\"", "\"S3ObjectKey\": \"src.zip\""),
    );
    ws.ok(&["run", "--plain", "pipeline.json"]);
    assert!(!ws.records().is_empty());
    let (status, body) = server.request("POST", "/_sandpipe/reset");
    assert_eq!(status, 200, "{body}");
    assert_eq!(ws.ok(&["s3", "ls"]), "");
    let listed = ws.fails(&["executions", "show"]);
    assert!(listed.contains("no execution in .sandpipe"), "{listed}");
}
