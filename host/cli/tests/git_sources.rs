//! End-to-end tests of the git source providers (CodeStarSourceConnection, GitHub v1,
//! CodeCommit) against repositories the tests make with the real `git`, and of working trees
//! given with `--source`.

use std::io::Read;
use std::path::{Path, PathBuf};

mod common;
use common::{GitDaemon, Workspace, files_below, git, git_commit, git_repository};

const CONNECTION: &str = "arn:aws:codeconnections:us-east-1:123456789012:connection/0f3c2d1e";

/// A pipeline: `source` (an action's JSON, output `Src`), then `later` actions, in a stage
/// of their own.
fn pipeline(ws: &Workspace, source: &str, later: &[String]) -> PathBuf {
    ws.write(
        "pipeline.json",
        format!(
            r#"{{"pipeline":{{"name":"app","roleArn":"arn:aws:iam::123456789012:role/r",
              "artifactStore":{{"type":"S3","location":"artifacts"}},
              "stages":[
                {{"name":"Source","actions":[{source}]}},
                {{"name":"Deploy","actions":[{}]}}]}}}}"#,
            later.join(",")
        ),
    )
}

fn connection_source(extra: &str) -> String {
    format!(
        r#"{{"name":"App","namespace":"SourceVariables",
          "actionTypeId":{{"category":"Source","owner":"AWS","provider":"CodeStarSourceConnection","version":"1"}},
          "configuration":{{"ConnectionArn":"{CONNECTION}","FullRepositoryId":"octo-org/app",
            "BranchName":"main"{extra}}},
          "outputArtifacts":[{{"name":"Src"}}]}}"#
    )
}

/// An S3 deploy of `Src`, extracted under `prefix/` in the `target` bucket.
fn deploy(prefix: &str) -> String {
    format!(
        r#"{{"name":"Site","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
          "configuration":{{"BucketName":"target","Extract":"true","ObjectKey":"{prefix}"}},
          "inputArtifacts":[{{"name":"Src"}}]}}"#
    )
}

/// The application repository: two commits on `main`, a tag, a feature branch, an
/// executable, and a symbolic link pointing out of the repository.
struct App {
    dir: PathBuf,
    first: String,
    second: String,
}

fn app_repository(ws: &Workspace) -> App {
    let dir = ws.path("repos/app");
    std::fs::create_dir_all(dir.join("bin")).unwrap();
    std::fs::write(dir.join("bin/run.sh"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(
        dir.join("bin/run.sh"),
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let first = git_repository(
        &dir,
        &[
            ("index.html", "<h1>v1</h1>\n"),
            ("bin/run.sh", "#!/bin/sh\necho run\n"),
        ],
        "First page",
    );
    std::os::unix::fs::symlink("/etc/passwd", dir.join("passwd")).unwrap();
    git(&dir, &["tag", "v1"]);
    let second = git_commit(
        &dir,
        &[("index.html", "<h1>v2</h1>\n"), ("css/site.css", "h1 {}\n")],
        "Second page\n\nWith a body line.",
    );
    git(&dir, &["checkout", "-q", "-b", "feature/login"]);
    git_commit(&dir, &[("login.html", "login\n")], "Login page");
    git(&dir, &["checkout", "-q", "main"]);
    App { dir, first, second }
}

fn connections(ws: &Workspace, body: &str) {
    ws.write("sandpipe-connections.yaml", body);
}

fn buckets(ws: &Workspace) {
    ws.ok(&["s3", "mb", "s3://target"]);
}

fn run(ws: &Workspace, file: &Path, extra: &[&str]) -> (bool, String) {
    let mut args = vec!["run", file.to_str().unwrap(), "--plain"];
    args.extend_from_slice(extra);
    let output = ws.sandpipe(&args);
    (
        output.status.success(),
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        ),
    )
}

fn text(ws: &Workspace, url: &str) -> String {
    String::from_utf8(ws.get(url)).unwrap()
}

/// The stored bytes of the source action's output artifact.
fn source_artifact(ws: &Workspace, record: &serde_json::Value) -> Vec<u8> {
    let artifact = &record["stages"][0]["actions"][0]["outputArtifacts"][0];
    ws.get(&format!(
        "s3://{}/{}",
        artifact["bucket"].as_str().unwrap(),
        artifact["key"].as_str().unwrap()
    ))
}

fn zip_names(zip: &[u8]) -> Vec<String> {
    let archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut names: Vec<String> = archive
        .file_names()
        .map(|name| name.unwrap().into_owned())
        .collect();
    names.sort();
    names
}

#[test]
fn a_connection_source_exports_the_branch_head_with_codepipelines_variables() {
    let ws = Workspace::new();
    let app = app_repository(&ws);
    buckets(&ws);
    connections(&ws, "repositories:\n  octo-org/app: repos/app\n");
    let file = pipeline(&ws, &connection_source(""), &[deploy("site")]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    assert_eq!(text(&ws, "s3://target/site/index.html"), "<h1>v2</h1>\n");
    assert_eq!(text(&ws, "s3://target/site/css/site.css"), "h1 {}\n");
    assert_eq!(
        ws.list("s3://target/")
            .lines()
            .map(|l| l.rsplit(' ').next().unwrap().to_string())
            .collect::<Vec<_>>(),
        ["site/bin/run.sh", "site/css/site.css", "site/index.html"],
        "no .git, no feature branch file, and the link is not followed"
    );

    let record = &ws.records()[0];
    let source = &record["stages"][0]["actions"][0];
    let variables = source["outputVariables"].as_object().unwrap();
    let expected = serde_json::json!({
        "AuthorDate": "2024-05-01T10:00:00Z",
        "BranchName": "main",
        "CommitId": app.second,
        "CommitMessage": "Second page\n\nWith a body line.",
        "ConnectionArn": CONNECTION,
        "FullRepositoryName": "octo-org/app",
        "ProviderType": "GitHub",
    });
    assert_eq!(&serde_json::Value::Object(variables.clone()), &expected);
    assert_eq!(source["summary"], "Second page");
    assert_eq!(
        source["outputArtifacts"][0]["revision"],
        app.second.as_str()
    );
    assert_eq!(
        record["sourceRevisions"],
        serde_json::json!([{
            "actionName": "App",
            "revisionId": app.second,
            "revisionSummary": "{\"CommitMessage\":\"Second page\\n\\nWith a body line.\",\"ProviderType\":\"GitHub\"}",
        }])
    );
    assert_eq!(record["trigger"]["triggerType"], "StartPipelineExecution");

    // The link is in the artifact as a link entry holding its text.
    let zip = source_artifact(&ws, record);
    assert_eq!(
        zip_names(&zip),
        [
            "bin/",
            "bin/run.sh",
            "css/",
            "css/site.css",
            "index.html",
            "passwd"
        ]
    );
    let mut archive = zip::ZipArchive::new(std::io::Cursor::new(zip)).unwrap();
    let mut link = archive.by_name("passwd").unwrap();
    assert!(link.is_symlink());
    let mut target = String::new();
    link.read_to_string(&mut target).unwrap();
    assert_eq!(target, "/etc/passwd");
    drop(link);
    let run_sh = archive.by_name("bin/run.sh").unwrap();
    assert_eq!(run_sh.unix_mode().unwrap() & 0o111, 0o111);

    // The same commit gives the same artifact.
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    let records = ws.records();
    assert_eq!(
        records[1]["stages"][0]["actions"][0]["outputArtifacts"][0]["sha256"],
        records[0]["stages"][0]["actions"][0]["outputArtifacts"][0]["sha256"]
    );

    // `executions show` says where the source came from.
    let id = records[0]["pipelineExecutionId"].as_str().unwrap();
    let shown = ws.ok(&["executions", "show", id]);
    assert!(
        shown.contains(&format!("Source revision: App {}", app.second)),
        "{shown}"
    );
    let log = ws.ok(&["logs", id, "--action", "App"]);
    assert!(
        log.contains("repository 'octo-org/app' is ")
            && log.contains("sandpipe-connections.yaml: repositories[\"octo-org/app\"]"),
        "{log}"
    );
}

#[test]
fn clone_ref_gives_a_later_codebuild_action_history_to_run_git_in() {
    let ws = Workspace::new();
    let app = app_repository(&ws);
    git_commit(
        &app.dir,
        &[(
            "buildspec.yml",
            "version: 0.2\nphases:\n  build:\n    commands:\n\
             \x20     - s=$(git status --porcelain); echo \"[$s]\" > status.txt\n\
             \x20     - git log --format=%s > history.txt\n\
             \x20     - git rev-parse --abbrev-ref HEAD > branch.txt\n\
             \x20     - git describe --tags v1 > describe.txt\n\
             \x20     - git branch -r > remotes.txt\n\
             \x20     - echo \"$CODEBUILD_RESOLVED_SOURCE_VERSION\" > version.txt\n\
             artifacts:\n  files:\n    - '*.txt'\n",
        )],
        "Add a buildspec",
    );
    let head = git(&app.dir, &["rev-parse", "HEAD"]);
    buckets(&ws);
    connections(&ws, "repositories:\n  octo-org/app: repos/app\n");
    let build = r#"{"name":"History","actionTypeId":{"category":"Build","owner":"AWS","provider":"CodeBuild","version":"1"},
        "configuration":{"ProjectName":"history"},"inputArtifacts":[{"name":"Src"}],
        "outputArtifacts":[{"name":"Out"}]}"#;
    let publish = r#"{"name":"Publish","runOrder":2,"actionTypeId":{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"},
        "configuration":{"BucketName":"target","Extract":"true","ObjectKey":"out"},
        "inputArtifacts":[{"name":"Out"}]}"#;
    let file = pipeline(
        &ws,
        &connection_source(r#","OutputArtifactFormat":"CODEBUILD_CLONE_REF""#),
        &[build.to_string(), publish.to_string()],
    );
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    assert_eq!(text(&ws, "s3://target/out/status.txt"), "[]\n");
    assert_eq!(
        text(&ws, "s3://target/out/history.txt"),
        "Add a buildspec\nSecond page\nFirst page\n"
    );
    assert_eq!(text(&ws, "s3://target/out/branch.txt"), "main\n");
    assert_eq!(text(&ws, "s3://target/out/describe.txt"), "v1\n");
    assert!(text(&ws, "s3://target/out/remotes.txt").contains("origin/feature/login"));
    assert_eq!(
        text(&ws, "s3://target/out/version.txt"),
        format!("{head}\n")
    );
}

#[test]
fn github_v1_and_codecommit_publish_their_own_variables_and_never_the_token() {
    let ws = Workspace::new();
    let app = app_repository(&ws);
    let token = "ghp_n0tAR3alT0kenButSecret1234567890";
    buckets(&ws);
    // GitHub v1 by Owner/Repo; CodeCommit by name, found under the repos root.
    std::fs::rename(ws.path("repos/app"), ws.path("repos/Demo")).unwrap();
    connections(
        &ws,
        "reposRoot: repos\nrepositories:\n  octo-org/app: repos/Demo\n",
    );
    let github = format!(
        r#"{{"name":"GitHub","actionTypeId":{{"category":"Source","owner":"ThirdParty","provider":"GitHub","version":"1"}},
          "configuration":{{"Owner":"octo-org","Repo":"app","Branch":"main","OAuthToken":"{token}"}},
          "outputArtifacts":[{{"name":"Src"}}]}}"#
    );
    let codecommit = r#"{"name":"CodeCommit","actionTypeId":{"category":"Source","owner":"AWS","provider":"CodeCommit","version":"1"},
          "configuration":{"RepositoryName":"Demo","BranchName":"feature/login"},
          "outputArtifacts":[{"name":"Other"}]}"#;
    let file = pipeline(&ws, &format!("{github},{codecommit}"), &[deploy("site")]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    assert!(!output.contains(token), "{output}");

    let record = &ws.records()[0];
    let github = &record["stages"][0]["actions"][0];
    assert_eq!(
        github["outputVariables"],
        serde_json::json!({
            "AuthorDate": "2024-05-01T10:00:00Z",
            "BranchName": "main",
            "CommitId": app.second,
            "CommitMessage": "Second page\n\nWith a body line.",
            "CommitterDate": "2024-05-02T08:30:00Z",
            "CommitUrl": format!("https://github.com/octo-org/app/commit/{}", app.second),
            "RepositoryName": "app",
        })
    );
    assert_eq!(github["resolvedConfiguration"]["OAuthToken"], "****");
    let codecommit = &record["stages"][0]["actions"][1];
    let feature = git(&ws.path("repos/Demo"), &["rev-parse", "feature/login"]);
    assert_eq!(
        codecommit["outputVariables"],
        serde_json::json!({
            "AuthorDate": "2024-05-01T10:00:00Z",
            "BranchName": "feature/login",
            "CommitId": feature,
            "CommitMessage": "Login page",
            "CommitterDate": "2024-05-02T08:30:00Z",
            "RepositoryName": "Demo",
        })
    );
    let log = ws.ok(&[
        "logs",
        record["pipelineExecutionId"].as_str().unwrap(),
        "--action",
        "CodeCommit",
    ]);
    assert!(log.contains("(the repos root "), "{log}");

    // Not in the record, the events, the stored declaration, the logs: nowhere.
    for path in files_below(&ws.path(".sandpipe"), &[]) {
        let bytes = std::fs::read(&path).unwrap();
        assert!(
            !bytes.windows(token.len()).any(|w| w == token.as_bytes()),
            "{} holds the token",
            path.display()
        );
    }
}

#[test]
fn an_unmapped_repository_is_refused_before_the_run_naming_the_mapping() {
    let ws = Workspace::new();
    buckets(&ws);
    connections(&ws, "repositories:\n  octo-org/other: repos/other\n");
    let file = pipeline(&ws, &connection_source(""), &[deploy("site")]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(!ok, "{output}");
    let connections_file = ws.path("sandpipe-connections.yaml");
    let root = ws.dir.path().canonicalize().unwrap();
    let expected = format!(
        "stages[0].actions[0].configuration: ResourceNotFoundException: no repository is mapped \
         for FullRepositoryId 'octo-org/app' of connection {CONNECTION}: {} has no \
         connections[\"{CONNECTION}\"].repositories[\"octo-org/app\"] or \
         repositories[\"octo-org/app\"], and none of {root}/octo-org/app, \
         {root}/octo-org/app.git, {root}/app, {root}/app.git is a directory; map it in \
         sandpipe-connections.yaml, or give a directory with --source",
        connections_file.display(),
        root = root.display()
    );
    assert!(output.contains(&expected), "{output}");
    assert!(ws.records().is_empty(), "no execution was started");

    // A bad connections file stops the run before anything starts.
    connections(&ws, "repositories:\n  octo-org/app: repos/app\nrepos: x\n");
    let (ok, output) = run(&ws, &file, &[]);
    assert!(!ok);
    assert!(
        output.contains(&format!(
            "sandpipe: {}: repos: ValidationException: unknown field `repos`, expected one of \
             `reposRoot`, `repositories`, `connections`, `codecommit`",
            connections_file.display()
        )),
        "{output}"
    );
    assert!(ws.records().is_empty(), "no execution was started");
}

#[test]
fn a_working_tree_replaces_the_source_with_its_uncommitted_files() {
    let ws = Workspace::new();
    let app = app_repository(&ws);
    buckets(&ws);
    std::fs::write(app.dir.join(".gitignore"), "build/\n*.log\n").unwrap();
    std::fs::write(app.dir.join("index.html"), "<h1>draft</h1>\n").unwrap();
    std::fs::write(app.dir.join("debug.log"), "noise\n").unwrap();
    std::fs::create_dir_all(app.dir.join("build")).unwrap();
    std::fs::write(app.dir.join("build/out.bin"), "x").unwrap();
    // No connections file at all: the working tree needs none.
    let file = pipeline(&ws, &connection_source(""), &[deploy("site")]);
    let source = format!("App={}", app.dir.display());
    let (ok, output) = run(&ws, &file, &["--source", &source]);
    assert!(ok, "{output}");
    assert_eq!(text(&ws, "s3://target/site/index.html"), "<h1>draft</h1>\n");
    let listing = ws.list("s3://target/");
    assert!(listing.contains("site/.gitignore"), "{listing}");
    assert!(
        !listing.contains("debug.log") && !listing.contains("build/"),
        "{listing}"
    );

    let record = &ws.records()[0];
    let action = &record["stages"][0]["actions"][0];
    let revision = action["outputArtifacts"][0]["revision"].as_str().unwrap();
    assert!(revision.starts_with("sha256:"), "{revision}");
    assert_eq!(action["outputVariables"]["CommitId"], app.second.as_str());
    assert_eq!(action["outputVariables"]["BranchName"], "main");
    assert!(
        action["summary"]
            .as_str()
            .unwrap()
            .ends_with("with uncommitted changes)"),
        "{}",
        action["summary"]
    );

    // The same files, the same digest and artifact; a change, another.
    let (ok, _) = run(&ws, &file, &["--source", &source]);
    assert!(ok);
    std::fs::write(app.dir.join("index.html"), "<h1>draft 2</h1>\n").unwrap();
    let (ok, _) = run(&ws, &file, &["--source", &source]);
    assert!(ok);
    let records = ws.records();
    let artifact =
        |r: &serde_json::Value| r["stages"][0]["actions"][0]["outputArtifacts"][0].clone();
    assert_eq!(
        artifact(&records[0])["revision"],
        artifact(&records[1])["revision"]
    );
    assert_eq!(
        artifact(&records[0])["sha256"],
        artifact(&records[1])["sha256"]
    );
    assert_ne!(
        artifact(&records[1])["revision"],
        artifact(&records[2])["revision"]
    );

    // CLONE_REF from a working tree: the clone's history under the uncommitted files.
    let file = pipeline(
        &ws,
        &connection_source(r#","OutputArtifactFormat":"CODEBUILD_CLONE_REF""#),
        &[deploy("clone")],
    );
    let (ok, output) = run(&ws, &file, &["--source", &source]);
    assert!(ok, "{output}");
    let zip = source_artifact(&ws, ws.records().last().unwrap());
    let names = zip_names(&zip);
    assert!(names.contains(&".git/HEAD".to_string()), "{names:?}");
    assert!(names.contains(&"index.html".to_string()));
    let unpacked = ws.path("unpacked");
    std::fs::create_dir(&unpacked).unwrap();
    sandpipe_store::archive::extract_zip(
        std::io::Cursor::new(zip),
        &cap_std::fs::Dir::open_ambient_dir(&unpacked, cap_std::ambient_authority()).unwrap(),
        &sandpipe_store::archive::Limits::default(),
    )
    .unwrap();
    assert_eq!(
        git(&unpacked, &["status", "--porcelain"]),
        "M index.html\n?? .gitignore"
    );

    // Flags naming what is not there are refused before anything runs.
    let output = ws.fails(&["run", file.to_str().unwrap(), "--source", "Nope=."]);
    assert!(
        output.contains(
            "--source Nope: InvalidActionDeclarationException: 'Nope' is not a source action \
             of the pipeline (its source actions: App)"
        ),
        "{output}"
    );
    let output = ws.fails(&["run", file.to_str().unwrap(), "--source", "App=missing-dir"]);
    assert!(
        output.contains("missing-dir is not a directory"),
        "{output}"
    );
}

#[test]
fn a_source_revision_pins_the_commit_the_execution_takes() {
    let ws = Workspace::new();
    let app = app_repository(&ws);
    buckets(&ws);
    connections(&ws, "repositories:\n  octo-org/app: repos/app\n");
    let file = pipeline(&ws, &connection_source(""), &[deploy("site")]);
    let pin = format!(
        "actionName=App,revisionType=COMMIT_ID,revisionValue={}",
        app.first
    );
    let (ok, output) = run(&ws, &file, &["--source-revision", &pin]);
    assert!(ok, "{output}");
    assert_eq!(text(&ws, "s3://target/site/index.html"), "<h1>v1</h1>\n");
    let record = &ws.records()[0];
    assert_eq!(
        record["stages"][0]["actions"][0]["outputVariables"]["CommitId"],
        app.first.as_str()
    );

    let missing = "actionName=App,revisionType=COMMIT_ID,revisionValue=0123456789abcdef";
    let (ok, output) = run(&ws, &file, &["--source-revision", missing]);
    assert!(!ok);
    let record = ws.records().pop().unwrap();
    let error = &record["stages"][0]["actions"][0]["error"];
    assert_eq!(error["code"], "RevisionUnavailable", "{output}");
    let output = ws.fails(&[
        "run",
        file.to_str().unwrap(),
        "--source-revision",
        "actionName=App,revisionType=BRANCH,revisionValue=x",
    ]);
    assert!(
        output.contains("revisionType 'BRANCH' is not one of"),
        "{output}"
    );
}

#[test]
fn a_remote_repository_is_fetched_into_a_mirror() {
    let ws = Workspace::new();
    let app = app_repository(&ws);
    buckets(&ws);
    let served = ws.path("served");
    std::fs::create_dir(&served).unwrap();
    git(
        &served,
        &[
            "clone",
            "-q",
            "--bare",
            app.dir.to_str().unwrap(),
            "app.git",
        ],
    );
    let daemon = GitDaemon::serve(&served);
    connections(
        &ws,
        &format!(
            "connections:\n  {CONNECTION}:\n    providerType: GitLab\n    repositories:\n      \
             octo-org/app: git://127.0.0.1:{}/app.git\n",
            daemon.port
        ),
    );
    let file = pipeline(&ws, &connection_source(""), &[deploy("site")]);
    let (ok, output) = run(&ws, &file, &[]);
    assert!(ok, "{output}");
    assert_eq!(text(&ws, "s3://target/site/index.html"), "<h1>v2</h1>\n");
    let record = &ws.records()[0];
    assert_eq!(
        record["stages"][0]["actions"][0]["outputVariables"]["ProviderType"],
        "GitLab"
    );
    assert!(ws.path(".sandpipe/git/mirrors").is_dir());
}

#[test]
fn a_component_importing_git_is_refused_unless_the_operator_grants_it() {
    let ws = Workspace::new();
    app_repository(&ws);
    buckets(&ws);
    connections(&ws, "repositories:\n  octo-org/app: repos/app\n");
    let custom = connection_source("").replace(r#""owner":"AWS""#, r#""owner":"Custom""#);
    let file = pipeline(&ws, &custom, &[deploy("site")]);
    let action_type = "Source/Custom/CodeStarSourceConnection/1";
    let provider = format!(
        "{action_type}={}",
        sandpipe_runtime::providers::GIT_SOURCE_COMPONENT_PATH
    );
    let (ok, output) = run(&ws, &file, &["--provider", &provider]);
    assert!(!ok);
    assert!(
        output.contains(
            "the component imports 'sandpipe:action/git@0.1.0', which needs the 'git' \
             capability, and the operator has not granted it (grant with --grant <action \
             type>=git)"
        ),
        "{output}"
    );
    assert!(ws.records().is_empty(), "refused before any execution");
    let grant = format!("{action_type}=git");
    let (ok, output) = run(&ws, &file, &["--provider", &provider, "--grant", &grant]);
    assert!(ok, "{output}");
    assert_eq!(text(&ws, "s3://target/site/index.html"), "<h1>v2</h1>\n");
}

#[test]
fn a_working_tree_replaces_an_s3_source_too() {
    let ws = Workspace::new();
    // The tutorial's buckets, but nothing in the source bucket: the working tree stands in.
    ws.tutorial_buckets();
    let site = ws.path("site");
    std::fs::create_dir_all(site.join("css")).unwrap();
    std::fs::write(site.join("index.html"), "<h1>local</h1>\n").unwrap();
    std::fs::write(site.join("css/site.css"), "h1 {}\n").unwrap();
    std::fs::write(site.join(".gitignore"), "*.tmp\n").unwrap();
    std::fs::write(site.join("draft.tmp"), "not this\n").unwrap();
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/s3-to-s3/pipeline.json");
    let source = format!("action1={}", site.display());
    let (ok, output) = run(&ws, &example, &["--source", &source]);
    assert!(ok, "{output}");

    // The deploy uploads the artifact as is: a zip of the directory's files.
    let zip = ws.get("s3://target-bucket/output-artifact-file");
    assert_eq!(
        zip_names(&zip),
        [".gitignore", "css/", "css/site.css", "index.html"]
    );
    let record = &ws.records()[0];
    let action = &record["stages"][0]["actions"][0];
    assert!(
        action["outputArtifacts"][0]["revision"]
            .as_str()
            .unwrap()
            .starts_with("sha256:")
    );
    assert!(action.get("outputVariables").is_none(), "{action}");
    assert_eq!(
        action["summary"],
        format!(
            "working tree {} (3 files, 27 bytes) in place of the source",
            site.canonicalize().unwrap().display()
        )
    );

    // Sandboxes made inside the working tree (--work-dir) are never part of it.
    let work = site.join("work");
    let work_dir = format!("--work-dir={}", work.display());
    let (ok, output) = run(
        &ws,
        &example,
        &["--source", &source, &work_dir, "--keep-work"],
    );
    assert!(ok, "{output}");
    assert!(
        std::fs::read_dir(&work).unwrap().count() > 0,
        "the kept sandboxes are inside the tree"
    );
    let zip = ws.get("s3://target-bucket/output-artifact-file");
    assert_eq!(
        zip_names(&zip),
        [".gitignore", "css/", "css/site.css", "index.html"]
    );
}
