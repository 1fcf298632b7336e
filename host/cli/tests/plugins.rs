//! Plugins end to end, through the real binary and the real guest toolchains: `sandpipe
//! action new` → `build` → `install` → a pipeline (S3 source → the plugin → S3 deploy with
//! Extract=true, its ObjectKey made of the plugin's output variable) run without
//! `--provider`, in Rust, Python and JavaScript; the manifest checked before a run; a secret
//! property never stored; the operator's policy (refusal with the line to add, allowance,
//! digest pins); two plugins claiming one type.

mod common;

use common::toolchains::{componentize_js, componentize_py};
use common::{Workspace, zip_of};

/// The pipeline: `{provider}` is the plugin's provider, `{configuration}` its JSON
/// configuration; the deploy lands under `<provider>/<Greeting>/`.
fn pipeline(provider: &str, configuration: &str) -> String {
    format!(
        r#"{{"pipeline": {{
  "name": "hello-{provider}",
  "roleArn": "arn:aws:iam::123456789012:role/r",
  "artifactStore": {{"type": "S3", "location": "artifacts"}},
  "stages": [
    {{"name": "Source", "actions": [{{"name": "Fetch",
      "actionTypeId": {{"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"}},
      "configuration": {{"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"}},
      "outputArtifacts": [{{"name": "Src"}}]}}]}},
    {{"name": "Build", "actions": [{{"name": "Hello", "namespace": "HelloNs",
      "actionTypeId": {{"category": "Build", "owner": "Custom", "provider": "{provider}", "version": "1"}},
      "configuration": {configuration},
      "inputArtifacts": [{{"name": "Src"}}], "outputArtifacts": [{{"name": "Greeted"}}]}}]}},
    {{"name": "Deploy", "actions": [{{"name": "Publish",
      "actionTypeId": {{"category": "Deploy", "owner": "AWS", "provider": "S3", "version": "1"}},
      "configuration": {{"BucketName": "site", "Extract": "true", "ObjectKey": "{provider}/#{{HelloNs.Greeting}}"}},
      "inputArtifacts": [{{"name": "Greeted"}}]}}]}}
  ]}}}}"#
    )
}

/// The source bucket holding a one-file zip, and the site bucket.
fn buckets(ws: &Workspace) {
    ws.versioned_bucket("src");
    ws.write("src.zip", zip_of(&[("readme.txt", "from the source\n")]));
    ws.ok(&["s3", "cp", "src.zip", "s3://src/src.zip"]);
    ws.ok(&["s3", "mb", "s3://site"]);
}

/// `action new` + `action build` + `action install` of a plugin in `lang` serving
/// `Build/Custom/<provider>/1`, in `ws/<dir>`.
fn scaffold(ws: &Workspace, lang: &str, provider: &str, dir: &str, env: &[(&str, &str)]) {
    let action_type = format!("Build/Custom/{provider}/1");
    ws.ok(&["action", "new", dir, "--lang", lang, "--type", &action_type]);
    build_and_install(ws, dir, env);
}

fn build_and_install(ws: &Workspace, dir: &str, env: &[(&str, &str)]) {
    let built = ws.sandpipe_with(&["action", "build", dir], env);
    assert!(
        built.status.success(),
        "action build {dir}:\n{}{}",
        String::from_utf8_lossy(&built.stdout),
        String::from_utf8_lossy(&built.stderr)
    );
    let file = format!("{dir}/dist/{dir}.wasm");
    let installed = ws.ok(&["action", "install", &file]);
    assert!(installed.contains(".sandpipe/actions/"), "{installed}");
}

/// Run the pipeline of `provider` and check the deployed tree: the source's file and
/// greeting.txt, under the prefix the Greeting variable named.
fn runs_and_deploys(ws: &Workspace, provider: &str) {
    let file = format!("{provider}.json");
    ws.write(&file, pipeline(provider, r#"{"Name": "sandpipe"}"#));
    ws.ok(&["run", "--plain", &file]);
    let listed = ws.list("s3://site");
    assert!(
        listed.contains(&format!("{provider}/Hello, sandpipe/readme.txt"))
            && listed.contains(&format!("{provider}/Hello, sandpipe/greeting.txt")),
        "{listed}"
    );
    let greeting = ws.get(&format!(
        "s3://site/{provider}/Hello, sandpipe/greeting.txt"
    ));
    assert_eq!(String::from_utf8_lossy(&greeting), "Hello, sandpipe");
}

#[test]
fn a_python_plugin_runs_from_its_scaffold() {
    let ws = Workspace::new();
    buckets(&ws);
    let tool = componentize_py();
    let env = [("SANDPIPE_COMPONENTIZE_PY", tool.to_str().unwrap())];
    scaffold(&ws, "python", "HelloPython", "hello-python", &env);
    runs_and_deploys(&ws, "HelloPython");
}

#[test]
fn a_javascript_plugin_runs_from_its_scaffold() {
    let ws = Workspace::new();
    buckets(&ws);
    let tool = componentize_js();
    let env = [("SANDPIPE_COMPONENTIZE_JS", tool.to_str().unwrap())];
    scaffold(&ws, "javascript", "HelloJavascript", "hello-js", &env);
    runs_and_deploys(&ws, "HelloJavascript");
}

/// The Rust scaffold's action with a secret `Token` property it logs, publishes and
/// summarizes: every one of those must show `****`.
const SECRET_ECHO: &str = r#"
use sandpipe_action_sdk::files::copy_tree;
use sandpipe_action_sdk::{Action, Failure, Outcome, Request, export_action, log};

struct Hello;

impl Action for Hello {
    fn run(request: Request) -> Result<Outcome, Failure> {
        let name = request.config().required("Name")?;
        let greeting = format!("Hello, {name}");
        let output = request.single_output()?;
        for input in &request.inputs {
            copy_tree(&input.path, &output.path)?;
        }
        std::fs::write(format!("{}/greeting.txt", output.path), &greeting)
            .map_err(|e| Failure::io("greeting.txt", e))?;
        let token = request.config().required("Token")?;
        log::info(format!("the token is {token}"));
        println!("printed: {token}");
        Ok(Outcome::new()
            .variable("Greeting", &greeting)
            .variable("Echo", token)
            .summary(format!("used {token}")))
    }
}

export_action!(Hello);
"#;

#[test]
fn a_rust_plugin_runs_is_checked_keeps_secrets_and_obeys_the_policy() {
    let ws = Workspace::new();
    buckets(&ws);
    scaffold(&ws, "rust", "HelloRust", "hello-rust", &[]);
    runs_and_deploys(&ws, "HelloRust");
    let runs = ws.records().len();

    // The manifest is checked before anything runs, each problem at its JSON path.
    ws.write("bad.json", pipeline("HelloRust", r#"{"Colour": "blue"}"#));
    let refused = ws.fails(&["run", "--plain", "bad.json"]);
    assert!(
        refused.contains("pipeline.stages[1].actions[0].configuration:")
            && refused.contains("missing required configuration 'Name'")
            && refused.contains("pipeline.stages[1].actions[0].configuration.Colour:")
            && refused.contains("the plugin hello-rust 0.1.0"),
        "{refused}"
    );
    assert_eq!(ws.records().len(), runs, "nothing ran");

    // A secret property: given to the plugin, `****` in every log and record.
    let manifest_path = ws.path("hello-rust/sandpipe-action.yaml");
    let manifest = std::fs::read_to_string(&manifest_path).unwrap();
    let with_token = manifest.replace(
        "inputArtifactDetails:",
        "  - {name: Token, required: true, secret: true}\ninputArtifactDetails:",
    );
    std::fs::write(&manifest_path, &with_token).unwrap();
    ws.write("hello-rust/src/lib.rs", SECRET_ECHO);
    build_and_install(&ws, "hello-rust", &[]);
    let secret = "s3cr3t-7f1e2d";
    ws.write(
        "secret.json",
        pipeline(
            "HelloRust",
            &format!(r#"{{"Name": "sandpipe", "Token": "{secret}"}}"#),
        ),
    );
    let output = ws.ok(&["run", "--plain", "secret.json"]);
    // Logs and results mask as CodeBuild does (`***`); configuration as CodePipeline (`****`).
    assert!(
        output.contains("used ***") && !output.contains(secret),
        "{output}"
    );
    let record = ws.records().pop().unwrap();
    let hello = &record["stages"][1]["actions"][0];
    assert_eq!(hello["resolvedConfiguration"]["Token"], "****", "{hello}");
    assert_eq!(hello["outputVariables"]["Echo"], "***", "{hello}");
    let logs = ws.ok(&["logs", record["pipelineExecutionId"].as_str().unwrap()]);
    assert!(
        logs.contains("the token is ***")
            && logs.contains("printed: ***")
            && !logs.contains(secret),
        "{logs}"
    );
    for file in common::files_below(&ws.path(".sandpipe"), &[]) {
        let bytes = std::fs::read(&file).unwrap();
        assert!(
            !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{} holds the secret",
            file.display()
        );
    }

    // A rollback runs the stored declaration, which holds no secret: the pipeline's file
    // still has it, so the plugin gets it again; without the file, the action says why not.
    let rolled = ws.ok(&["rollback", "hello-HelloRust", "--stage", "Build"]);
    assert!(rolled.contains("used ***"), "{rolled}");
    std::fs::rename(ws.path("secret.json"), ws.path("moved.json")).unwrap();
    let failed = ws.fails(&["rollback", "hello-HelloRust", "--stage", "Build"]);
    assert!(failed.contains("holds only ****"), "{failed}");
    std::fs::rename(ws.path("moved.json"), ws.path("secret.json")).unwrap();

    // Asking for exec with no policy allowing it: refused before the run, with the line.
    std::fs::write(
        &manifest_path,
        with_token.replace("capabilities: []", "capabilities: [exec]"),
    )
    .unwrap();
    build_and_install(&ws, "hello-rust", &[]);
    let runs = ws.records().len();
    let refused = ws.fails(&["run", "--plain", "secret.json"]);
    let line = "  Build/Custom/HelloRust/1: {allow: [exec]}";
    assert!(
        refused.contains("asks for exec") && refused.contains(line),
        "{refused}"
    );
    assert_eq!(ws.records().len(), runs, "nothing ran");
    // Allowed by a policy file beside the pipeline, it runs.
    ws.write("sandpipe-policy.yaml", format!("actions:\n{line}\n"));
    ws.ok(&["run", "--plain", "secret.json"]);
    let listed = ws.ok(&["action", "list", "--json"]);
    let report: serde_json::Value = serde_json::from_str(&listed).unwrap();
    let plugins = &report["plugins"];
    assert_eq!(
        plugins[0]["granted"]["Build/Custom/HelloRust/1"],
        serde_json::json!(["exec"]),
        "{listed}"
    );

    // Pinned to the installed file's digest, it runs; a changed file under the pin does not.
    let digest = plugins[0]["sha256"].as_str().unwrap().to_string();
    ws.write(
        "sandpipe-policy.yaml",
        format!("actions:\n  Build/Custom/HelloRust/1: {{allow: [exec], sha256: {digest}}}\n"),
    );
    ws.ok(&["run", "--plain", "secret.json"]);
    let changed = std::fs::read_to_string(&manifest_path)
        .unwrap()
        .replace("version: 0.1.0", "version: 0.1.1");
    std::fs::write(&manifest_path, changed).unwrap();
    build_and_install(&ws, "hello-rust", &[]);
    let refused = ws.fails(&["run", "--plain", "secret.json"]);
    assert!(
        refused.contains(&format!("pins Build/Custom/HelloRust/1 to sha256 {digest}")),
        "{refused}"
    );

    // Two plugins claiming one type: one error naming both files.
    let renamed = std::fs::read_to_string(&manifest_path)
        .unwrap()
        .replace("name: \"hello-rust\"", "name: \"hello-rust-copy\"");
    std::fs::write(&manifest_path, renamed).unwrap();
    let built = ws.ok(&["action", "build", "hello-rust"]);
    assert!(built.contains("dist/hello-rust-copy.wasm"), "{built}");
    let refused = ws.fails(&["action", "install", "hello-rust/dist/hello-rust-copy.wasm"]);
    assert!(refused.contains("hello-rust.wasm"), "{refused}");
    std::fs::create_dir(ws.path("more")).unwrap();
    std::fs::copy(
        ws.path("hello-rust/dist/hello-rust-copy.wasm"),
        ws.path("more/copy.wasm"),
    )
    .unwrap();
    let refused = ws.fails(&["run", "--plain", "--plugins", "more", "secret.json"]);
    assert!(
        refused.contains("two plugins claim Build/Custom/HelloRust/1")
            && refused.contains("more/copy.wasm")
            && refused.contains(".sandpipe/actions/hello-rust.wasm"),
        "{refused}"
    );
}
