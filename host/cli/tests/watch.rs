//! `sandpipe watch` against repositories and buckets the tests change while it runs, and
//! `sandpipe trigger` deciding pushes and pull requests.

use std::io::BufRead;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

mod common;
use common::{Workspace, git, git_commit, git_repository};

const CONNECTION: &str = "arn:aws:codeconnections:us-east-1:123456789012:connection/0f3c2d1e";

/// A pipeline whose `App` source reads `octo-org/app` (mapped to `repos/app`), deployed to
/// `s3://target/site`.
fn pipeline(ws: &Workspace, triggers: &str) -> PathBuf {
    ws.write(
        "sandpipe-connections.yaml",
        "repositories:\n  octo-org/app: repos/app\n",
    );
    ws.write(
        "pipeline.json",
        format!(
            r#"{{"pipeline":{{"name":"app","pipelineType":"V2","roleArn":"arn:aws:iam::123456789012:role/r",
              "artifactStore":{{"type":"S3","location":"artifacts"}},
              "triggers":{triggers},
              "stages":[
                {{"name":"Source","actions":[{{"name":"App","namespace":"Src",
                  "actionTypeId":{{"category":"Source","owner":"AWS","provider":"CodeStarSourceConnection","version":"1"}},
                  "configuration":{{"ConnectionArn":"{CONNECTION}","FullRepositoryId":"octo-org/app","BranchName":"main"}},
                  "outputArtifacts":[{{"name":"Src"}}]}}]}},
                {{"name":"Deploy","actions":[{{"name":"Site",
                  "actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
                  "configuration":{{"BucketName":"target","Extract":"true","ObjectKey":"site"}},
                  "inputArtifacts":[{{"name":"Src"}}]}}]}}]}}}}"#
        ),
    )
}

fn app(ws: &Workspace) -> PathBuf {
    let dir = ws.path("repos/app");
    git_repository(
        &dir,
        &[("src/app.js", "v1\n"), ("docs/a.md", "a\n")],
        "First",
    );
    ws.ok(&["s3", "mb", "s3://target"]);
    dir
}

/// `sandpipe watch` running in the background, its stdout read line by line.
struct Watching {
    child: Child,
    lines: mpsc::Receiver<String>,
    seen: Vec<String>,
}

impl Watching {
    fn start(ws: &Workspace, args: &[&str]) -> Watching {
        let mut child = Command::new(env!("CARGO_BIN_EXE_sandpipe"))
            .arg("watch")
            .args(args)
            .current_dir(ws.dir.path())
            .env_remove("SANDPIPE_STATE_DIR")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let (send, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in std::io::BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if send.send(line).is_err() {
                    break;
                }
            }
        });
        Watching {
            child,
            lines,
            seen: Vec::new(),
        }
    }

    /// `sandpipe watch <file>` polling every 100 ms, stopping after one execution.
    fn once(ws: &Workspace, file: &std::path::Path) -> Watching {
        Watching::start(
            ws,
            &[
                file.to_str().unwrap(),
                "--interval",
                "100ms",
                "--max-executions",
                "1",
            ],
        )
    }

    /// The next line holding `needle`.
    fn wait_for(&mut self, needle: &str) -> String {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.lines.recv_timeout(left) {
                Ok(line) => {
                    self.seen.push(line.clone());
                    if line.contains(needle) {
                        return line;
                    }
                }
                Err(_) => panic!("no line with '{needle}'; seen:\n{}", self.seen.join("\n")),
            }
        }
    }

    fn finish(mut self) -> (ExitStatus, Vec<String>) {
        let deadline = Instant::now() + Duration::from_secs(120);
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                self.seen.extend(self.lines.try_iter());
                return (status, std::mem::take(&mut self.seen));
            }
            if Instant::now() > deadline {
                let _ = self.child.kill();
                panic!("watch did not end; seen:\n{}", self.seen.join("\n"));
            }
            self.seen.extend(self.lines.try_iter());
            std::thread::sleep(Duration::from_millis(50));
        }
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn watch_starts_an_execution_for_a_new_commit_on_the_tracked_branch() {
    let ws = Workspace::new();
    let dir = app(&ws);
    let file = pipeline(&ws, "[]");
    let mut watching = Watching::once(&ws, &file);
    let note = watching.wait_for("App: watching");
    assert!(note.contains("branch 'main'"), "{note}");
    watching.wait_for("Watching pipeline app");
    // Another branch is not watched; the tracked one is.
    git(&dir, &["checkout", "-q", "-b", "feature"]);
    git_commit(&dir, &[("src/app.js", "feature\n")], "Feature work");
    git(&dir, &["checkout", "-q", "main"]);
    let commit = git_commit(&dir, &[("src/app.js", "v2\n")], "Second");
    let line = watching.wait_for("starting an execution");
    assert!(line.contains("push to branch 'main'"), "{line}");
    let (status, seen) = watching.finish();
    assert!(status.success(), "{}", seen.join("\n"));
    assert_eq!(
        String::from_utf8(ws.get("s3://target/site/src/app.js")).unwrap(),
        "v2\n"
    );
    let records = ws.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["trigger"]["triggerType"], "PollForSourceChanges");
    assert_eq!(
        record["stages"][0]["actions"][0]["outputVariables"]["CommitId"],
        commit.as_str()
    );
}

#[test]
fn watch_evaluates_v2_push_filters_on_every_branch() {
    let ws = Workspace::new();
    let dir = app(&ws);
    let file = pipeline(
        &ws,
        r#"[{"providerType":"CodeStarSourceConnection","gitConfiguration":{"sourceActionName":"App",
            "push":[{"branches":{"includes":["release/**"]},"filePaths":{"includes":["src/**"]}}]}}]"#,
    );
    let mut watching = Watching::once(&ws, &file);
    let note = watching.wait_for("App: watching");
    assert!(note.contains("every branch and tag (V2 trigger)"), "{note}");
    watching.wait_for("Watching pipeline app");

    git_commit(&dir, &[("src/app.js", "main\n")], "On main");
    let line = watching.wait_for("ignored");
    assert!(
        line.contains("push to branch 'main'")
            && line.contains("branch 'main' matches none of the includes ('release/**')"),
        "{line}"
    );
    git(&dir, &["checkout", "-q", "-b", "release/1"]);
    git_commit(&dir, &[("docs/a.md", "b\n")], "Docs only");
    let line = watching.wait_for("ignored");
    assert!(
        line.contains("push to branch 'release/1'")
            && line.contains("none of the 1 changed files passes the file path filter"),
        "{line}"
    );
    let commit = git_commit(&dir, &[("src/app.js", "release\n")], "Release fix");
    let line = watching.wait_for("starting an execution");
    assert!(
        line.contains("push filter 1 matched: branch 'release/1' is included by 'release/**'"),
        "{line}"
    );
    let (status, seen) = watching.finish();
    assert!(status.success(), "{}", seen.join("\n"));

    let records = ws.records();
    assert_eq!(records.len(), 1);
    let record = &records[0];
    assert_eq!(record["trigger"]["triggerType"], "WebhookV2");
    let variables = &record["stages"][0]["actions"][0]["outputVariables"];
    assert_eq!(variables["CommitId"], commit.as_str());
    assert_eq!(variables["BranchName"], "release/1");
    assert_eq!(
        String::from_utf8(ws.get("s3://target/site/src/app.js")).unwrap(),
        "release\n"
    );
}

#[test]
fn watch_starts_an_execution_for_a_new_version_of_an_s3_source() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "one\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    // The tutorial's pipeline, polling its source.
    let example = std::fs::read_to_string(
        std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../examples/s3-to-s3/pipeline.json"),
    )
    .unwrap();
    let polling = ws.write(
        "pipeline.json",
        example.replace(
            r#""PollForSourceChanges": "false""#,
            r#""PollForSourceChanges": "true""#,
        ),
    );
    let mut watching = Watching::once(&ws, &polling);
    watching.wait_for("watching s3://source-bucket/file (now version");
    watching.wait_for("Watching pipeline");
    ws.write("file", "two\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    // A third version right after must not leak into the execution the second started.
    let line = watching.wait_for("starting an execution");
    ws.write("file", "three\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    let (status, seen) = watching.finish();
    assert!(status.success(), "{}", seen.join("\n"));
    let record = &ws.records()[0];
    let version = record["stages"][0]["actions"][0]["outputVariables"]["VersionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(line.contains(&format!("new version {version}")), "{line}");
    assert_eq!(ws.get("s3://target-bucket/output-artifact-file"), b"two\n");
}

#[test]
fn watch_stands_in_for_the_eventbridge_rule_of_a_source_that_does_not_poll() {
    let ws = Workspace::new();
    ws.tutorial_buckets();
    ws.write("file", "one\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    // The tutorial's pipeline as AWS recommends it: PollForSourceChanges false.
    let example = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../../examples/s3-to-s3/pipeline.json");
    let example = example.to_str().unwrap();
    let refused = ws.sandpipe(&["watch", example, "--interval", "100ms"]);
    assert_eq!(refused.status.code(), Some(1));
    let text = String::from_utf8_lossy(&refused.stdout).to_string();
    assert!(
        text.contains(
            "not watched (change detection is off and it has no trigger; \
                       --all-sources watches it"
        ),
        "{text}"
    );
    let mut watching = Watching::start(
        &ws,
        &[
            example,
            "--all-sources",
            "--interval",
            "100ms",
            "--max-executions",
            "1",
        ],
    );
    watching.wait_for("(now version");
    watching.wait_for("Watching pipeline");
    ws.write("file", "two\n");
    ws.ok(&["s3", "cp", "file", "s3://source-bucket/file"]);
    watching.wait_for("starting an execution");
    let (status, seen) = watching.finish();
    assert!(status.success(), "{}", seen.join("\n"));
    assert!(
        seen.iter()
            .any(|l| l.contains("standing in for its EventBridge rule")),
        "{}",
        seen.join("\n")
    );
    assert_eq!(ws.records()[0]["trigger"]["triggerType"], "CloudWatchEvent");
    assert_eq!(ws.get("s3://target-bucket/output-artifact-file"), b"two\n");
}

#[test]
fn trigger_decides_pull_requests_and_pushes() {
    let ws = Workspace::new();
    let dir = app(&ws);
    git(&dir, &["checkout", "-q", "-b", "feature/login"]);
    let feature = git_commit(&dir, &[("src/login.js", "login\n")], "Login");
    git(&dir, &["checkout", "-q", "main"]);
    git_commit(&dir, &[("docs/a.md", "main moved on\n")], "Docs on main");
    let file = pipeline(
        &ws,
        r#"[{"providerType":"CodeStarSourceConnection","gitConfiguration":{"sourceActionName":"App",
            "pullRequest":[{"events":["OPEN","UPDATED"],"branches":{"includes":["main"]},
                            "filePaths":{"includes":["src/**"]}}],
            "push":[{"tags":{"includes":["v*"]}}]}}]"#,
    );
    let file = file.to_str().unwrap();
    let pull_request = |event: &str| {
        ws.sandpipe(&[
            "trigger",
            file,
            "--plain",
            "pull-request",
            "--event",
            event,
            "--source-branch",
            "feature/login",
            "--destination-branch",
            "main",
        ])
    };
    // Closing is not an event the filter takes: nothing starts, exit 3.
    let output = pull_request("CLOSED");
    assert_eq!(output.status.code(), Some(3));
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        text.contains("ignored (pull request filter 1: it does not filter Closed events)"),
        "{text}"
    );
    assert!(ws.records().is_empty());

    // Opening it starts an execution of the pull request's source branch; only the files
    // the pull request changes count (main's docs change does not).
    let output = pull_request("OPEN");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        output.status.success(),
        "{text}{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert!(
        text.contains("pull request Open from 'feature/login' into 'main'")
            && text.contains("1 of 1 changed files pass the file path filter"),
        "{text}"
    );
    let record = &ws.records()[0];
    assert_eq!(record["trigger"]["triggerType"], "WebhookV2");
    let variables = &record["stages"][0]["actions"][0]["outputVariables"];
    assert_eq!(variables["CommitId"], feature.as_str());
    assert_eq!(variables["BranchName"], "feature/login");

    // A tag push: --dry-run decides without running, written before the event or after it.
    git(&dir, &["tag", "v1.0"]);
    let output = ws.sandpipe(&["trigger", file, "push", "--tag", "v1.0", "--dry-run"]);
    assert!(output.status.success(), "{output:?}");
    let text = String::from_utf8_lossy(&output.stdout).to_string();
    assert!(
        text.contains("push to tag 'v1.0' (") && text.contains("would start an execution"),
        "{text}"
    );
    let output = ws.sandpipe(&["trigger", file, "--dry-run", "push", "--branch", "main"]);
    assert_eq!(output.status.code(), Some(3));
    assert_eq!(ws.records().len(), 1);
    let output = ws.sandpipe(&[
        "trigger", file, "push", "--branch", "main", "--action", "Nope",
    ]);
    assert!(
        String::from_utf8_lossy(&output.stderr).contains(
            "--action Nope: not a source action of the pipeline (its source actions: App)"
        )
    );
}
