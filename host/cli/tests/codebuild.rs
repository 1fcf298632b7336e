//! End-to-end tests of the CodeBuild provider: real buildspecs run by the real binary, their
//! commands run by the local runner, one test per buildspec feature.
//!
//! Longer than our files usually are because each feature's test carries its own buildspec
//! inline, beside what it checks, so a test reads on its own.

use std::path::PathBuf;

mod common;
use common::{Workspace, files_below, git_repository, zip_of};

/// A workspace whose versioned `src` bucket holds `src.zip` with `files`, plus the buckets the
/// pipelines use.
fn workspace_with_source(files: &[(&str, &str)]) -> Workspace {
    let ws = Workspace::new();
    ws.versioned_bucket("src");
    ws.ok(&["s3", "mb", "s3://target"]);
    ws.write("src.zip", zip_of(files));
    ws.ok(&["s3", "cp", "src.zip", "s3://src/src.zip"]);
    ws
}

/// Source (S3 `src/src.zip` → `Src`) → Build (CodeBuild with `config`, namespace `BuildVars`,
/// the given outputs) → optionally a stage of `later` actions.
fn pipeline(ws: &Workspace, config: &str, outputs: &[&str], later: &[String]) -> PathBuf {
    let outputs: Vec<String> = outputs
        .iter()
        .map(|name| format!(r#"{{"name":"{name}"}}"#))
        .collect();
    let later_stage = if later.is_empty() {
        String::new()
    } else {
        format!(r#",{{"name":"Deploy","actions":[{}]}}"#, later.join(","))
    };
    ws.write(
        "pipeline.json",
        format!(
            r#"{{"pipeline":{{"name":"app","roleArn":"arn:aws:iam::123456789012:role/r",
              "artifactStore":{{"type":"S3","location":"artifacts"}},
              "stages":[
                {{"name":"Source","actions":[{{"name":"Fetch","actionTypeId":{{"category":"Source","owner":"AWS","provider":"S3","version":"1"}},
                  "configuration":{{"S3Bucket":"src","S3ObjectKey":"src.zip","PollForSourceChanges":"false"}},
                  "outputArtifacts":[{{"name":"Src"}}]}}]}},
                {{"name":"Build","actions":[{{"name":"Build","namespace":"BuildVars",
                  "actionTypeId":{{"category":"Build","owner":"AWS","provider":"CodeBuild","version":"1"}},
                  "configuration":{config},"inputArtifacts":[{{"name":"Src"}}],
                  "outputArtifacts":[{outputs}]}}]}}{later_stage}]}}}}"#,
            outputs = outputs.join(",")
        ),
    )
}

/// An S3 deploy of `artifact`, extracted under `prefix/` in the target bucket.
fn deploy(name: &str, artifact: &str, prefix: &str) -> String {
    format!(
        r#"{{"name":"{name}","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
          "configuration":{{"BucketName":"target","Extract":"true","ObjectKey":"{prefix}"}},
          "inputArtifacts":[{{"name":"{artifact}"}}]}}"#
    )
}

const PROJECT: &str = r#"{"ProjectName":"app-build"}"#;

fn run(ws: &Workspace, pipeline: &std::path::Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["run", pipeline.to_str().unwrap(), "--plain"];
    args.extend_from_slice(extra);
    let output = ws.sandpipe(&args);
    let text = format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    (output.status.success(), text)
}

/// Run `pipeline`, which must fail, saying `expected`.
fn fails_saying(ws: &Workspace, pipeline: &std::path::Path, extra: &[&str], expected: &str) {
    let (ok, output) = run(ws, pipeline, extra);
    assert!(!ok, "the run succeeded:\n{output}");
    assert!(output.contains(expected), "'{expected}' not in:\n{output}");
}

fn text(ws: &Workspace, url: &str) -> String {
    String::from_utf8(ws.get(url)).unwrap()
}

/// The position of `needle` in `haystack`, failing with the whole text when absent.
fn at(haystack: &str, needle: &str) -> usize {
    haystack
        .find(needle)
        .unwrap_or_else(|| panic!("'{needle}' not found in:\n{haystack}"))
}

#[test]
fn phases_run_in_order_in_one_shell_session() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
phases:
  post_build:
    commands:
      # Still in sub/, where the build phase left the shell.
      - echo post_build >> ../order.txt
  build:
    commands:
      - echo build >> order.txt
      - 'echo \"carried: $CARRIED\" >> order.txt'
      - cd sub && pwd > ../where.txt
      - echo \"still in $(basename $(pwd))\"
  pre_build:
    commands:
      - echo pre_build >> order.txt
      - export CARRIED=from-pre-build
  install:
    commands:
      - echo install > order.txt
      - mkdir sub
artifacts:
  files: ['*.txt']
",
    )]);
    let file = pipeline(&ws, PROJECT, &["Out"], &[deploy("Publish", "Out", "out")]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    // Phases run in CodeBuild's order whatever the file's order; exported variables and the
    // working directory carry from one command to the next.
    let order = text(&ws, "s3://target/out/order.txt");
    assert_eq!(
        order,
        "install\npre_build\nbuild\ncarried: from-pre-build\npost_build\n"
    );
    assert!(
        text(&ws, "s3://target/out/where.txt")
            .trim()
            .ends_with("/sub")
    );
    assert!(output.contains("[BUILD] still in sub"), "{output}");
    let install = at(&output, "Entering phase INSTALL");
    let pre = at(&output, "Entering phase PRE_BUILD");
    let build = at(&output, "Entering phase BUILD");
    let post = at(&output, "Entering phase POST_BUILD");
    assert!(install < pre && pre < build && build < post, "{output}");
}

#[test]
fn finally_runs_after_a_failed_command_and_post_build_still_runs() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
phases:
  build:
    commands:
      - echo before
      - exit 3
      - echo not-reached
    finally:
      - echo cleanup-ran
  post_build:
    commands:
      - echo \"post_build succeeding=$CODEBUILD_BUILD_SUCCEEDING\"
",
    )]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(!ok, "{output}");
    assert!(output.contains("[BUILD] before"), "{output}");
    assert!(!output.contains("not-reached"), "{output}");
    assert!(
        at(&output, "exit status 3") < at(&output, "[BUILD] cleanup-ran"),
        "{output}"
    );
    assert!(
        output.contains("[POST_BUILD] post_build succeeding=0"),
        "{output}"
    );
    let record = &ws.records()[0];
    let error = &record["stages"][1]["actions"][0]["error"];
    assert_eq!(error["code"], "JobFailed");
    assert_eq!(
        error["message"],
        "Build terminated with state: FAILED. Phase: BUILD, Code: COMMAND_EXECUTION_ERROR, \
         Message: Error while executing command: exit 3"
    );
}

#[test]
fn on_failure_continue_goes_on_and_abort_stops() {
    let spec = |mode: &str| {
        format!(
            "version: 0.2
phases:
  pre_build:
    on-failure: {mode}
    commands:
      - 'false'
  build:
    commands:
      - echo build-phase-ran
"
        )
    };
    for (mode, build_runs) in [("CONTINUE", true), ("ABORT", false)] {
        let ws = workspace_with_source(&[("buildspec.yml", &spec(mode))]);
        let file = pipeline(&ws, PROJECT, &[], &[]);
        let (ok, output) = run(&ws, &file, &[]);
        // Either way the build failed: a phase failed.
        assert!(!ok, "{mode}: {output}");
        assert_eq!(
            output.contains("[BUILD] build-phase-ran"),
            build_runs,
            "{mode}: {output}"
        );
        assert!(
            output.contains("Phase complete: PRE_BUILD State: FAILED"),
            "{output}"
        );
    }
}

#[test]
fn exported_variables_reach_a_later_action_through_the_namespace() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
env:
  variables:
    CHANNEL: stable
  exported-variables:
    - VERSION
    - CHANNEL
phases:
  build:
    commands:
      - export VERSION=\"1.4.$CODEBUILD_BUILD_NUMBER\"
      - echo built > app.txt
artifacts:
  files: [app.txt]
",
    )]);
    let publish = r#"{"name":"Publish","actionTypeId":{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"},
        "configuration":{"BucketName":"target","Extract":"false","ObjectKey":"releases/#{BuildVars.CHANNEL}/app-#{BuildVars.VERSION}.zip"},
        "inputArtifacts":[{"name":"Out"}]}"#;
    let file = pipeline(&ws, PROJECT, &["Out"], &[publish.to_string()]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    assert!(
        ws.list("s3://target")
            .contains("releases/stable/app-1.4.1.zip"),
        "{}",
        ws.list("s3://target")
    );
    let record = &ws.records()[0];
    let variables = &record["stages"][1]["actions"][0]["outputVariables"];
    assert_eq!(variables["VERSION"], "1.4.1");
    assert_eq!(variables["CHANNEL"], "stable");

    // The build number is the project's: the next run is build 2.
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    assert!(
        ws.list("s3://target")
            .contains("releases/stable/app-1.4.2.zip")
    );
}

#[test]
fn secondary_artifacts_map_to_output_artifacts_by_identifier() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
phases:
  build:
    commands:
      - mkdir -p web api && echo page > web/index.html && echo bin > api/server
artifacts:
  files: ['**/*']
  secondary-artifacts:
    WebOut:
      base-directory: web
      files: ['**/*']
    ApiOut:
      base-directory: api
      files: ['**/*']
",
    )]);
    let file = pipeline(
        &ws,
        PROJECT,
        &["WebOut", "ApiOut"],
        &[
            deploy("Web", "WebOut", "web"),
            deploy("Api", "ApiOut", "api"),
        ],
    );
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    assert_eq!(text(&ws, "s3://target/web/index.html"), "page\n");
    assert_eq!(text(&ws, "s3://target/api/server"), "bin\n");
    let listing = ws.list("s3://target");
    assert!(
        !listing.contains("web/server") && !listing.contains("api/index.html"),
        "{listing}"
    );

    // An output artifact with no secondary artifact of its name is a configuration error.
    let file = pipeline(&ws, PROJECT, &["WebOut", "Other"], &[]);
    fails_saying(&ws, &file, &[], "'Other' is not (found: ApiOut, WebOut)");
}

#[test]
fn artifact_globs_honour_base_directory_discard_paths_and_exclude_paths() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
phases:
  build:
    commands:
      - mkdir -p dist/css dist/js/vendor
      - echo a > dist/index.html
      - echo b > dist/css/site.css
      - echo c > dist/js/vendor/lib.js
      - echo d > dist/js/debug.log
      - echo e > outside.txt
artifacts:
  base-directory: dist
  files: ['**/*']
  exclude-paths: ['**/*.log']
  discard-paths: yes
",
    )]);
    let file = pipeline(&ws, PROJECT, &["Out"], &[deploy("Publish", "Out", "site")]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    let mut keys: Vec<String> = ws
        .list("s3://target")
        .lines()
        .filter_map(|l| l.split_whitespace().last().map(str::to_string))
        .collect();
    keys.sort();
    assert_eq!(
        keys,
        vec!["site/index.html", "site/lib.js", "site/site.css"],
        "flattened, .log excluded, nothing outside dist"
    );

    // No match is an error naming the patterns.
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands: [echo]\nartifacts:\n  files: ['build/*.jar']\n",
    )]);
    let file = pipeline(&ws, PROJECT, &["Out"], &[]);
    fails_saying(
        &ws,
        &file,
        &[],
        "no matching artifact paths found for files [\"build/*.jar\"]",
    );
}

#[test]
fn junit_reports_are_parsed_shown_and_stored_even_when_tests_fail() {
    let junit = r#"<?xml version="1.0" encoding="UTF-8"?>
<testsuites>
  <testsuite name="slug" tests="3" failures="1">
    <testcase classname="slug" name="lowercases" time="0.004"/>
    <testcase classname="slug" name="strips accents" time="0.002">
      <failure message="expected 'creme' got 'crème'">AssertionError</failure>
    </testcase>
    <testcase classname="slug" name="later"><skipped/></testcase>
  </testsuite>
</testsuites>"#;
    let ws = workspace_with_source(&[
        ("fixtures/junit.xml", junit),
        (
            "buildspec.yml",
            "version: 0.2
phases:
  build:
    commands:
      - mkdir -p reports && cp fixtures/junit.xml reports/unit.xml
      - exit 1
reports:
  unit:
    files: ['**/*.xml']
    base-directory: reports
  coverage:
    files: [coverage.xml]
    file-format: COBERTURAXML
",
        ),
    ]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(!ok, "{output}");
    assert!(
        output.contains("tests unit (reports/unit.xml): 1 passed, 1 failed, 1 skipped"),
        "{output}"
    );
    assert!(
        output.contains("FAILED slug › strips accents: expected 'creme' got 'crème'"),
        "{output}"
    );
    assert!(
        output.contains("file-format COBERTURAXML is not parsed by sandpipe"),
        "{output}"
    );
    let record = &ws.records()[0];
    let report = &record["stages"][1]["actions"][0]["reports"][0];
    assert_eq!(report["group"], "unit");
    assert_eq!(report["format"], "JUNITXML");
    assert_eq!(report["total"], 3);
    assert_eq!(report["failed"], 1);
    assert_eq!(report["skipped"], 1);
    assert_eq!(report["durationMs"], 6);
    assert_eq!(report["failures"][0]["name"], "strips accents");
}

#[test]
fn secret_values_never_reach_logs_or_records() {
    const TOKEN: &str = "tok-8f3a9c1d5e";
    const PASSWORD: &str = "pw-Zq71xKc0";
    const PARAMETER: &str = "param-44b9e0aa";
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
env:
  parameter-store:
    DB_HOST: /app/db/host
  secrets-manager:
    API_TOKEN: prod/api-token
    DB_PASSWORD: prod/db:password
  exported-variables:
    - API_TOKEN
    - LEAK
phases:
  build:
    commands:
      - echo \"token=$API_TOKEN password=$DB_PASSWORD host=$DB_HOST\"
      - echo \"$DB_PASSWORD\" >&2
      - export LEAK=\"prefix-$API_TOKEN\"
      - test \"$DB_PASSWORD\" = pw-Zq71xKc0
",
    )]);
    ws.write(
        "secrets.yml",
        format!(
            "parameters:\n  /app/db/host: {PARAMETER}\nsecrets:\n  prod/api-token: {TOKEN}\n  \
             prod/db: {{username: admin, password: {PASSWORD}}}\n"
        ),
    );
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let (ok, output) = run(&ws, &file, &["--secrets", "secrets.yml"]);
    assert!(ok, "{output}");
    assert!(
        output.contains("[BUILD] token=*** password=*** host=***"),
        "{output}"
    );
    let record = &ws.records()[0];
    let variables = &record["stages"][1]["actions"][0]["outputVariables"];
    // A secret is never exported; a value that contains one is masked.
    assert!(variables.get("API_TOKEN").is_none(), "{variables}");
    assert_eq!(variables["LEAK"], "prefix-***");

    let mut leaks = Vec::new();
    // The cache keeps the project's cached paths, which are the build's own files.
    for entry in files_below(&ws.path(".sandpipe"), &["cache"]) {
        let bytes = std::fs::read(&entry).unwrap();
        for secret in [TOKEN, PASSWORD, PARAMETER] {
            if bytes
                .windows(secret.len())
                .any(|window| window == secret.as_bytes())
            {
                leaks.push(format!("{} holds {secret}", entry.display()));
            }
        }
    }
    assert!(leaks.is_empty(), "{leaks:#?}");
    assert!(!output.contains(TOKEN) && !output.contains(PASSWORD));

    // Without a secrets file the build says what is missing.
    fails_saying(
        &ws,
        &file,
        &[],
        "no secrets file was given; pass --secrets <file> with parameters./app/db/host",
    );
}

/// Every file below `dir` (the state directory: logs, records, events, the database).
/// Processes whose command line contains `marker`.
fn processes_with(marker: &str) -> Vec<String> {
    let mut found = Vec::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        if let Ok(cmdline) = std::fs::read(entry.path().join("cmdline")) {
            let cmdline = String::from_utf8_lossy(&cmdline).replace('\0', " ");
            if cmdline.contains(marker) && !cmdline.contains("cargo") {
                found.push(format!(
                    "{}: {cmdline}",
                    entry.file_name().to_string_lossy()
                ));
            }
        }
    }
    found
}

#[test]
fn a_timeout_kills_the_whole_process_tree() {
    // Distinct durations, so that the processes this test starts can be told apart.
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
phases:
  build:
    commands:
      - sleep 417 &
      - sh -c 'sleep 418 & sleep 419'
",
    )]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let started = std::time::Instant::now();
    let (ok, output) = run(&ws, &file, &["--action-timeout", "2s"]);
    assert!(!ok, "{output}");
    assert!(started.elapsed() < std::time::Duration::from_secs(30));
    // The build's own deadline (the action's) ends it; the host's deadline around the whole
    // call is a tick later and may win the race: either way the build timed out.
    assert!(
        output.contains("Code: BUILD_TIMED_OUT")
            || output.contains("did not finish within its timeout of 2.0s"),
        "{output}"
    );
    // Killing is immediate, but the kernel reaps asynchronously: allow it a moment.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    loop {
        let left: Vec<String> = ["sleep 417", "sleep 418", "sleep 419"]
            .iter()
            .flat_map(|m| processes_with(m))
            .collect();
        if left.is_empty() {
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "processes left behind: {left:#?}"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
}

#[test]
fn a_malformed_buildspec_gets_one_error_with_line_and_column() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands: [make]\n  biuld:\n    commands: [x]\n",
    )]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    fails_saying(
        &ws,
        &file,
        &[],
        "Src/buildspec.yml: line 5, column 3: phases.biuld: unknown field `biuld`, \
             expected one of `install`, `pre_build`, `build`, `post_build`",
    );
    let record = &ws.records()[0];
    assert_eq!(
        record["stages"][1]["actions"][0]["error"]["code"],
        "ConfigurationError"
    );

    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands: [make\n",
    )]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let (_, output) = run(&ws, &file, &[]);
    assert!(
        output.contains("Src/buildspec.yml: line 5, column 1"),
        "{output}"
    );
}

#[test]
fn a_component_importing_exec_without_a_grant_is_refused_before_running() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands: [touch ran.txt]\n",
    )]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let text = std::fs::read_to_string(&file).unwrap().replace(
        r#""owner":"AWS","provider":"CodeBuild""#,
        r#""owner":"Custom","provider":"Shell""#,
    );
    std::fs::write(&file, text).unwrap();
    let provider = format!(
        "Build/Custom/Shell/1={}",
        sandpipe_runtime::providers::CODEBUILD_COMPONENT_PATH
    );
    fails_saying(
        &ws,
        &file,
        &["--provider", &provider],
        "imports 'sandpipe:action/secrets@0.1.0', 'sandpipe:action/build-projects@0.1.0', \
             'sandpipe:action/exec@0.1.0', which need the 'exec' and 'secrets' capabilities, \
             and the operator has not granted them",
    );
    assert!(ws.records().is_empty(), "nothing ran");

    let (ok, output) = run(
        &ws,
        &file,
        &[
            "--provider",
            &provider,
            "--grant",
            "Build/Custom/Shell/1=exec,secrets",
        ],
    );
    assert!(ok, "{output}");
}

#[test]
fn projects_beside_the_pipeline_give_buildspec_and_environment_in_codebuilds_precedence() {
    let ws = workspace_with_source(&[(
        "ci/build.yml",
        "version: 0.2
env:
  variables:
    FROM_SPEC: spec
    OVERRIDDEN: spec
    TWICE: spec
phases:
  build:
    commands:
      - echo \"vars $FROM_SPEC $OVERRIDDEN $TWICE\"
      - echo \"initiator=$CODEBUILD_INITIATOR id=${CODEBUILD_BUILD_ID%%:*} arn=${CODEBUILD_BUILD_ARN%%/*}\"
      - echo \"resolved=$CODEBUILD_RESOLVED_SOURCE_VERSION region=$AWS_REGION\"
      - test \"$CODEBUILD_SRC_DIR\" = \"$(pwd)\"
",
    )]);
    std::fs::create_dir(ws.path("codebuild")).unwrap();
    ws.write(
        "codebuild/app-build.json",
        r#"{"name": "app-build",
            "source": {"type": "CODEPIPELINE", "buildspec": "ci/build.yml"},
            "environment": {"type": "LINUX_CONTAINER", "image": "aws/codebuild/standard:7.0",
              "computeType": "BUILD_GENERAL1_SMALL",
              "environmentVariables": [{"name": "OVERRIDDEN", "value": "project"},
                                       {"name": "TWICE", "value": "project"}]},
            "artifacts": {"type": "CODEPIPELINE"}, "timeoutInMinutes": 10}"#,
    );
    let config = r#"{"ProjectName":"app-build","EnvironmentVariables":"[{\"name\":\"TWICE\",\"value\":\"action\",\"type\":\"PLAINTEXT\"}]"}"#;
    let file = pipeline(&ws, config, &[], &[]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    assert!(
        output.contains("[BUILD] vars spec project action"),
        "{output}"
    );
    assert!(
        output.contains(
            "[BUILD] initiator=codepipeline/app id=app-build arn=arn:aws:codebuild:us-east-1:123456789012:build"
        ),
        "{output}"
    );
    let version = ws.records()[0]["stages"][0]["actions"][0]["outputVariables"]["VersionId"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        output.contains(&format!("[BUILD] resolved={version} region=us-east-1")),
        "{output}"
    );
    assert!(output.contains("codebuild/app-build.json"), "{output}");

    // A misspelt project field is one error naming the file and the path, before any run.
    ws.write(
        "codebuild/app-build.json",
        r#"{"name": "app-build", "enviroment": {}}"#,
    );
    fails_saying(
        &ws,
        &file,
        &[],
        "app-build.json: enviroment: ValidationException: unknown field `enviroment`",
    );
    assert_eq!(
        ws.records().len(),
        1,
        "the bad project file started nothing"
    );
}

#[test]
fn batch_builds_are_refused_clearly() {
    let ws = workspace_with_source(&[("buildspec.yml", "version: 0.2\n")]);
    let file = pipeline(
        &ws,
        r#"{"ProjectName":"p1","BatchEnabled":"true"}"#,
        &[],
        &[],
    );
    fails_saying(
        &ws,
        &file,
        &[],
        "BatchEnabled: batch builds are not supported by sandpipe",
    );
}

#[test]
fn cache_paths_are_kept_between_builds() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
phases:
  install:
    commands:
      - if [ -f deps/installed ]; then echo cache-hit; else mkdir -p deps && echo x > deps/installed && echo cache-miss; fi
cache:
  paths:
    - 'deps/**/*'
",
    )]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let (ok, first) = run(&ws, &file, &[]);
    assert!(ok, "{first}");
    assert!(first.contains("[INSTALL] cache-miss"), "{first}");
    let (ok, second) = run(&ws, &file, &[]);
    assert!(ok, "{second}");
    assert!(second.contains("[INSTALL] cache-hit"), "{second}");
}

/// The files of a directory, relative to it, for a source zip.
#[test]
fn the_node_example_builds_tests_smoke_tests_and_deploys_from_git() {
    let example =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/codebuild-node");
    let app = example.join("app");
    let files: Vec<(String, String)> = files_below(&app, &["node_modules", "dist", "reports"])
        .into_iter()
        .map(|path| {
            let relative = path
                .strip_prefix(&app)
                .unwrap()
                .to_string_lossy()
                .into_owned();
            (relative, std::fs::read_to_string(&path).unwrap())
        })
        .collect();
    let borrowed: Vec<(&str, &str)> = files
        .iter()
        .map(|(n, c)| (n.as_str(), c.as_str()))
        .collect();
    let ws = Workspace::new();
    // The repository the pipeline's FullRepositoryId names, under a repos root.
    let commit = git_repository(&ws.path("repos/slugkit"), &borrowed, "slugkit 1.3.0");
    ws.ok(&["s3", "mb", "s3://slugkit-site"]);
    let pipeline = example.join("pipeline.yaml");
    let root = ws.path("repos");
    let (ok, output) = run(&ws, &pipeline, &["--repos-root", root.to_str().unwrap()]);
    assert!(ok, "{output}");
    assert!(
        output.contains("tests unit-tests (reports/unit.xml): 4 passed"),
        "{output}"
    );
    assert!(
        output.contains("tests smoke (reports/smoke.xml): 2 passed"),
        "{output}"
    );
    let page = text(&ws, "s3://slugkit-site/slugkit/1.3.0/index.html");
    assert!(page.contains("<h1>slugkit 1.3.0</h1>"), "{page}");
    let module = text(&ws, "s3://slugkit-site/slugkit/1.3.0/slugkit.js");
    let banner = module.lines().next().unwrap();
    assert!(
        banner.starts_with("// slugkit 1.3.0 (built slugkit-build:")
            && banner.ends_with(&format!("from {commit})")),
        "{banner}"
    );

    // The example's own directory as a working tree: no repository or mapping needed.
    let source = format!("Source={}", app.display());
    let (ok, output) = run(&ws, &pipeline, &["--source", &source]);
    assert!(ok, "{output}");
    let module = text(&ws, "s3://slugkit-site/slugkit/1.3.0/slugkit.js");
    assert!(
        module.lines().next().unwrap().contains(" from sha256:"),
        "{module}"
    );
}

#[test]
fn abandoning_a_build_kills_its_processes_at_once() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2\nphases:\n  build:\n    commands:\n      - sleep 421 &\n      - sleep 422\n",
    )]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let mut child = std::process::Command::new(env!("CARGO_BIN_EXE_sandpipe"))
        .args(["run", file.to_str().unwrap(), "--plain"])
        .current_dir(ws.dir.path())
        .env_remove("SANDPIPE_STATE_DIR")
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while processes_with("sleep 422").is_empty() {
        assert!(
            started.elapsed() < std::time::Duration::from_secs(60),
            "the build never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(20));
    }
    let id = ws.records()[0]["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string();
    ws.ok(&["stop", &id, "--abandon", "--reason", "enough"]);
    let status = child.wait().unwrap();
    assert!(!status.success());
    assert!(processes_with("sleep 421").is_empty() && processes_with("sleep 422").is_empty());
    let record = &ws.records()[0];
    assert_eq!(record["status"], "Stopped");
    assert_eq!(record["stages"][1]["actions"][0]["status"], "Abandoned");
}

#[test]
fn a_retry_finds_the_projects_beside_the_pipeline_again() {
    // The source has no buildspec.yml: only the project beside the pipeline says what to run.
    let ws = workspace_with_source(&[("README", "no buildspec here")]);
    let marker = ws.path("ready");
    std::fs::create_dir(ws.path("codebuild")).unwrap();
    ws.write(
        "codebuild/app-build.yaml",
        format!(
            "name: app-build\nsource:\n  type: CODEPIPELINE\n  buildspec: |\n    version: 0.2\n    \
             phases:\n      build:\n        commands:\n          - test -f \"$MARKER\"\n\
             environment:\n  environmentVariables:\n    - {{name: MARKER, value: '{}'}}\n",
            marker.display()
        ),
    );
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(!ok, "{output}");
    assert!(
        output.contains("Error while executing command: test -f"),
        "{output}"
    );
    let id = ws.records()[0]["pipelineExecutionId"]
        .as_str()
        .unwrap()
        .to_string();

    ws.write("ready", "");
    let output = ws.ok(&["retry", &id, "--stage", "Build", "--plain"]);
    assert!(output.contains("Succeeded"), "{output}");
    assert_eq!(ws.records()[0]["status"], "Succeeded");
}

#[test]
fn commands_that_write_past_the_budget_are_stopped() {
    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
phases:
  build:
    commands:
      - head -c 12582912 /dev/zero > a
      - head -c 12582912 /dev/zero > b
      - sleep 30
",
    )]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    let started = std::time::Instant::now();
    fails_saying(
        &ws,
        &file,
        &["--output-budget", "16MiB"],
        "the action's output budget of 16 MiB was exceeded: with what its commands wrote",
    );
    assert!(
        started.elapsed() < std::time::Duration::from_secs(25),
        "stopped at the budget, not at the end of the sleep"
    );

    let ws = workspace_with_source(&[(
        "buildspec.yml",
        "version: 0.2
phases:
  build:
    commands:
      - 'i=0; while [ $i -lt 100000 ]; do : > f$i; i=$((i+1)); done'
",
    )]);
    let file = pipeline(&ws, PROJECT, &[], &[]);
    fails_saying(
        &ws,
        &file,
        &["--file-budget", "2000"],
        "the action's file budget of 2000 files and directories was exceeded",
    );
}
