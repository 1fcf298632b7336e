//! The web console in a real browser (headless Chromium through chromedriver) against the
//! real `sandpipe serve`, with the aws CLI as the witness of what the page did: a pipeline
//! created with `aws codepipeline create-pipeline` is found from the list, its build's log
//! follows the running action, its manual approval is approved from the page and the
//! execution reaches Succeeded without a reload; a transition disabled from the page holds
//! the next execution, as `get-pipeline-state` says; HTML in a pipeline name, a log line, a
//! variable, approval comments and an error is shown as text.

mod common;

use std::path::Path;

use common::aws::{client, client_env};
use common::browser::Browser;
use common::serve::Server;
use common::{Workspace, zip_of};
use fantoccini::Locator;
use serde_json::Value;

/// A pipeline whose build waits for the test (`gate1`, `gate2` files) between its log lines,
/// whose approval carries HTML in its comments, and whose deploy waits for `gate3`.
fn pipeline(name: &str, gates: &Path) -> String {
    let wait = |gate: &str| {
        format!(
            "while [ ! -e {} ]; do sleep 0.05; done",
            gates.join(gate).display()
        )
    };
    serde_json::json!({"pipeline": {
        "name": name, "pipelineType": "V2",
        "roleArn": "arn:aws:iam::123456789012:role/r",
        "artifactStore": {"type": "S3", "location": "artifacts"},
        "variables": [{"name": "Greeting", "defaultValue": "<img src=x onerror=\"window.pwned='variable'\">"}],
        "stages": [
            {"name": "Source", "actions": [{"name": "Fetch",
                "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
                "configuration": {"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
                "outputArtifacts": [{"name": "Src"}]}]},
            {"name": "Build", "actions": [{"name": "Compile",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": [
                    "echo first line",
                    wait("gate1"),
                    "echo \"streamed <script>window.pwned='log'</script>\"",
                    wait("gate2"),
                    "echo last line",
                ],
                "inputArtifacts": [{"name": "Src"}]}]},
            {"name": "Approve", "actions": [{"name": "Gate",
                "actionTypeId": {"category": "Approval", "owner": "AWS", "provider": "Manual", "version": "1"},
                "configuration": {"CustomData": "Ship <b>it</b>?", "ExternalEntityLink": "http://review.invalid/42"}}]},
            {"name": "Deploy", "actions": [{"name": "Ship",
                "actionTypeId": {"category": "Compute", "owner": "AWS", "provider": "Commands", "version": "1"},
                "commands": [wait("gate3"), "echo shipped"],
                "inputArtifacts": [{"name": "Src"}]}]}
        ]}})
    .to_string()
}

struct Setup {
    ws: Workspace,
    server: Server,
    env: Vec<(String, String)>,
}

impl Setup {
    fn new(server_args: &[&str]) -> Setup {
        let ws = Workspace::new();
        ws.versioned_bucket("src");
        ws.write("src.zip", zip_of(&[("in.txt", "from the source\n")]));
        ws.ok(&["s3", "cp", "src.zip", "s3://src/src.zip"]);
        ws.ok(&["s3", "mb", "s3://artifacts"]);
        let server = Server::start(ws.dir.path(), server_args);
        let env = client_env(&server.url, ws.dir.path());
        Setup { ws, server, env }
    }

    /// `aws codepipeline <args>`, which must succeed; its JSON answer.
    fn aws(&self, args: &[&str]) -> Value {
        let mut all = vec!["codepipeline"];
        all.extend_from_slice(args);
        let output = client(self.ws.dir.path(), &self.env, "aws", &all);
        assert!(
            output.status.success(),
            "aws {all:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or(Value::Null)
    }

    /// Create the pipeline (which starts its first execution, as on AWS); that execution.
    fn create(&self, name: &str) -> String {
        let file = self
            .ws
            .write("pipeline.json", pipeline(name, self.ws.dir.path()));
        let input = format!("file://{}", file.display());
        self.aws(&["create-pipeline", "--cli-input-json", &input]);
        let listed = self.aws(&["list-pipeline-executions", "--pipeline-name", name]);
        listed["pipelineExecutionSummaries"][0]["pipelineExecutionId"]
            .as_str()
            .unwrap()
            .to_string()
    }

    fn open_gate(&self, gate: &str) {
        self.ws.write(gate, "");
    }

    fn state(&self, name: &str) -> Value {
        self.aws(&["get-pipeline-state", "--name", name])
    }

    fn stage_state(&self, name: &str, stage: &str) -> Value {
        let state = self.state(name);
        state["stageStates"]
            .as_array()
            .unwrap()
            .iter()
            .find(|s| s["stageName"] == stage)
            .cloned()
            .unwrap()
    }

    /// Wait (through the API) until the approval waits; its token.
    fn approval_token(&self, name: &str) -> String {
        let deadline = std::time::Instant::now() + common::browser::PATIENCE;
        loop {
            let state = self.stage_state(name, "Approve");
            let latest = &state["actionStates"][0]["latestExecution"];
            if latest["status"] == "InProgress"
                && let Some(token) = latest["token"].as_str()
            {
                return token.to_string();
            }
            assert!(
                std::time::Instant::now() < deadline,
                "no approval waits: {state}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }

    /// Approve the waiting approval through the aws CLI.
    fn approve(&self, name: &str) {
        let token = self.approval_token(name);
        self.aws(&[
            "put-approval-result",
            "--pipeline-name",
            name,
            "--stage-name",
            "Approve",
            "--action-name",
            "Gate",
            "--result",
            "summary=ok,status=Approved",
            "--token",
            &token,
        ]);
    }

    /// Wait (through the API) until `stage`'s latest execution has `status`.
    fn until_stage(&self, name: &str, stage: &str, status: &str) -> Value {
        let deadline = std::time::Instant::now() + common::browser::PATIENCE;
        loop {
            let state = self.stage_state(name, stage);
            if state["latestExecution"]["status"] == status {
                return state;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "{stage} never reached {status}: {state}"
            );
            std::thread::sleep(std::time::Duration::from_millis(100));
        }
    }
}

async fn script(browser: &Browser, code: &str) -> Value {
    browser.client.execute(code, vec![]).await.unwrap()
}

/// Nothing any page showed ran as script, and no image was made from text.
async fn nothing_ran(browser: &Browser) {
    assert_eq!(
        script(browser, "return typeof window.pwned").await,
        "undefined"
    );
    assert_eq!(
        script(
            browser,
            "return document.querySelectorAll('main img, main script, main b').length"
        )
        .await,
        0
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn approve_from_the_page_and_watch_the_execution_finish() {
    let setup = Setup::new(&[]);
    let execution = setup.create("release-train");
    let browser = &Browser::start().await;
    let client = &browser.client;

    // The pipelines list links to the pipeline.
    client
        .goto(&format!("{}/", setup.server.url))
        .await
        .unwrap();
    assert_eq!(client.title().await.unwrap(), "Pipelines · sandpipe");
    browser
        .click("the pipeline's link", Locator::LinkText("release-train"))
        .await;
    let heading = browser
        .until("the pipeline's heading", || browser.text("h1"))
        .await;
    assert_eq!(heading, "release-train");

    // The build's log follows the action while it runs.
    setup.until_stage("release-train", "Build", "InProgress");
    let page = format!(
        "{}/pipelines/release-train/executions/{execution}",
        setup.server.url
    );
    client.goto(&page).await.unwrap();
    let log = "section[aria-label='Stage Build'] pre";
    browser
        .until("the build's first log line", || async move {
            browser.text(log).await.filter(|t| t.contains("first line"))
        })
        .await;
    setup.open_gate("gate1");
    let shown = browser
        .until("the streamed log line", || async move {
            browser.text(log).await.filter(|t| t.contains("streamed"))
        })
        .await;
    assert!(
        shown.contains("streamed <script>window.pwned='log'</script>"),
        "{shown}"
    );
    // The line arrived while the action was still running (it waits for gate2).
    let build = setup.stage_state("release-train", "Build");
    assert_eq!(build["latestExecution"]["status"], "InProgress", "{build}");
    // The variable holding HTML is text too.
    let main = browser.text("main").await.unwrap();
    assert!(
        main.contains("<img src=x onerror=\"window.pwned='variable'\">"),
        "{main}"
    );
    nothing_ran(browser).await;

    // The approval appears on the pipeline's page once the build is done, by itself.
    client
        .goto(&format!("{}/pipelines/release-train", setup.server.url))
        .await
        .unwrap();
    setup.open_gate("gate2");
    browser
        .until("the Approve button", || async move {
            client
                .find(Locator::XPath("//button[text()='Approve']"))
                .await
                .ok()
        })
        .await;
    let card = browser
        .text("article[aria-label='Action Gate']")
        .await
        .unwrap();
    assert!(card.contains("Comments: Ship <b>it</b>?"), "{card}");
    assert!(card.contains("http://review.invalid/42"), "{card}");
    browser
        .type_into(
            "the summary",
            Locator::Css("textarea[name=summary]"),
            "looks <em>fine</em>",
        )
        .await;
    browser
        .click("Approve", Locator::XPath("//button[text()='Approve']"))
        .await;
    let flash = browser
        .until("the approval's outcome", || browser.text(".flash"))
        .await;
    assert_eq!(flash, "Approved.");
    let latest = browser.text("#latest").await.unwrap();
    assert!(latest.contains("InProgress"), "{latest}");
    // From here on the page is never loaded again: what changes, changes in place.
    script(browser, "window.sandpipeMarker = 42; return null").await;
    setup.open_gate("gate3");
    browser
        .until("the execution's success", || async move {
            browser
                .text("#latest .status")
                .await
                .filter(|s| s == "Succeeded")
        })
        .await;
    assert_eq!(script(browser, "return window.sandpipeMarker").await, 42);
    let stages = browser.text(".stages").await.unwrap();
    assert!(stages.contains("looks <em>fine</em>"), "{stages}");
    nothing_ran(browser).await;

    // The aws CLI saw the same approval.
    let gate = setup.stage_state("release-train", "Approve");
    let action = &gate["actionStates"][0]["latestExecution"];
    assert_eq!(action["status"], "Succeeded", "{gate}");
    assert_eq!(action["summary"], "Approved: looks <em>fine</em>", "{gate}");

    // The graph: a box per stage and per action, drawn inline, names as text.
    let boxes = script(
        browser,
        "return [document.querySelectorAll('#graph svg .sp-stage').length, \
                 document.querySelectorAll('#graph svg .sp-action').length]",
    )
    .await;
    assert_eq!(boxes, serde_json::json!([4, 4]));

    // The screenshot README shows: the whole pipeline.
    client.set_window_size(1280, 1700).await.unwrap();
    let png = client.screenshot().await.unwrap();
    save_screenshot("pipeline.png", &png);
    browser.close().await;
}

/// Keep a screenshot: in the target directory always, and in `docs/screenshots/` for README
/// when `SANDPIPE_UPDATE_SCREENSHOTS` is set.
fn save_screenshot(name: &str, png: &[u8]) {
    assert!(png.starts_with(b"\x89PNG"), "a PNG");
    let kept = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    std::fs::write(&kept, png).unwrap();
    if std::env::var_os("SANDPIPE_UPDATE_SCREENSHOTS").is_some() {
        let docs = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/screenshots");
        std::fs::create_dir_all(&docs).unwrap();
        std::fs::write(docs.join(name), png).unwrap();
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_transition_disabled_from_the_page_holds_the_next_execution() {
    let setup = Setup::new(&[]);
    for gate in ["gate1", "gate2", "gate3"] {
        setup.open_gate(gate);
    }
    let first = setup.create("held");
    setup.approve("held");
    setup.until_stage("held", "Deploy", "Succeeded");

    let browser = &Browser::start().await;
    let client = &browser.client;

    // A name holding HTML, asked for in the address, comes back as text.
    client
        .goto(&format!(
            "{}/pipelines/%3Cscript%3Ewindow.pwned%3D'name'%3C%2Fscript%3E",
            setup.server.url
        ))
        .await
        .unwrap();
    let refused = browser
        .until("the refusal", || browser.text(".flash"))
        .await;
    assert!(
        refused.contains("<script>window.pwned='name'</script>"),
        "{refused}"
    );
    nothing_ran(browser).await;

    client
        .goto(&format!("{}/pipelines/held", setup.server.url))
        .await
        .unwrap();
    let disable = |reason: &'static str| async move {
        browser
            .click(
                "the transition's Disable",
                Locator::XPath("//div[@aria-label='Transition into Deploy']//summary"),
            )
            .await;
        browser
            .type_into(
                "the reason",
                Locator::Css("input[aria-label='Reason to disable the transition into Deploy']"),
                reason,
            )
            .await;
        browser
            .click(
                "Disable transition",
                Locator::XPath(
                    "//div[@aria-label='Transition into Deploy']//button[text()='Disable transition']",
                ),
            )
            .await;
        // The page asks first, as AWS's console does.
        let asked = client.get_alert_text().await.unwrap();
        assert!(asked.contains("Disable this transition?"), "{asked}");
        client.accept_alert().await.unwrap();
    };
    // Refused by the API (its pattern), with the API's words, escaped.
    disable("<b>freeze</b>").await;
    let refused = browser
        .until("the refusal", || browser.text(".flash.error"))
        .await;
    assert!(
        refused.contains("ValidationException")
            && refused.contains("Value '<b>freeze</b>' at 'reason'"),
        "{refused}"
    );
    nothing_ran(browser).await;
    disable("change freeze").await;
    let flash = browser
        .until("the outcome", || browser.text(".flash"))
        .await;
    assert_eq!(flash, "Transition disabled.");
    let transition = browser
        .text("div[aria-label='Transition into Deploy']")
        .await
        .unwrap();
    assert!(transition.contains("change freeze"), "{transition}");

    // The next execution, started from the page with a variable, stops at the transition.
    browser
        .click("Release change", Locator::Css("details#release summary"))
        .await;
    browser
        .type_into(
            "the variable",
            Locator::Css("input[name='variable:Greeting']"),
            "from the page",
        )
        .await;
    browser
        .click(
            "Release change",
            Locator::XPath("//button[text()='Release change']"),
        )
        .await;
    let started = browser
        .until("the started execution", || browser.text(".flash"))
        .await;
    assert_eq!(started, "Execution started.");
    let url = client.current_url().await.unwrap();
    let second = url.path().rsplit('/').next().unwrap().to_string();
    assert_ne!(second, first);
    browser
        .until("the variable from the page", || async move {
            browser
                .text("main table")
                .await
                .filter(|t| t.contains("Greeting = from the page"))
        })
        .await;

    setup.approve("held");
    setup.until_stage("held", "Approve", "Succeeded");
    // get-pipeline-state: the transition is disabled with the page's reason, the second
    // execution got through Approve but Deploy's latest is still the first.
    let deploy = setup.stage_state("held", "Deploy");
    assert_eq!(
        deploy["inboundTransitionState"]["enabled"], false,
        "{deploy}"
    );
    assert_eq!(
        deploy["inboundTransitionState"]["disabledReason"], "change freeze",
        "{deploy}"
    );
    assert_eq!(
        deploy["latestExecution"]["pipelineExecutionId"],
        first.as_str(),
        "{deploy}"
    );
    let approve = setup.stage_state("held", "Approve");
    assert_eq!(
        approve["latestExecution"]["pipelineExecutionId"],
        second.as_str(),
        "{approve}"
    );
    let execution = setup.aws(&[
        "get-pipeline-execution",
        "--pipeline-name",
        "held",
        "--pipeline-execution-id",
        &second,
    ]);
    assert_eq!(
        execution["pipelineExecution"]["status"], "InProgress",
        "{execution}"
    );

    // Enabled again from the page, the held execution goes on to the end.
    client
        .goto(&format!("{}/pipelines/held", setup.server.url))
        .await
        .unwrap();
    browser
        .click(
            "Enable transition",
            Locator::XPath(
                "//div[@aria-label='Transition into Deploy']//button[text()='Enable transition']",
            ),
        )
        .await;
    let flash = browser
        .until("the outcome", || browser.text(".flash"))
        .await;
    assert_eq!(flash, "Transition enabled.");
    setup.until_stage("held", "Deploy", "Succeeded");
    let deploy = setup.stage_state("held", "Deploy");
    assert_eq!(
        deploy["latestExecution"]["pipelineExecutionId"],
        second.as_str(),
        "{deploy}"
    );
    browser.close().await;
}

/// A raw HTTP exchange with the server, as a browser would send it: status, head and body.
fn send(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String, Vec<u8>) {
    use std::io::{Read, Write};
    let address = server.url.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    let mut request = format!(
        "{method} {path} HTTP/1.1\r\nConnection: close\r\nContent-Length: {}\r\n",
        body.len()
    );
    if !headers
        .iter()
        .any(|(name, _)| name.eq_ignore_ascii_case("host"))
    {
        request.push_str(&format!("Host: {address}\r\n"));
    }
    for (name, value) in headers {
        request.push_str(&format!("{name}: {value}\r\n"));
    }
    request.push_str("\r\n");
    request.push_str(body);
    stream.write_all(request.as_bytes()).unwrap();
    let mut response = Vec::new();
    stream.read_to_end(&mut response).unwrap();
    let split = response.windows(4).position(|w| w == b"\r\n\r\n").unwrap();
    let head = String::from_utf8_lossy(&response[..split]).into_owned();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    (status, head, response[split + 4..].to_vec())
}

/// [`send`], for a text answer: status and body.
fn exchange(
    server: &Server,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, String) {
    let (status, _, body) = send(server, method, path, headers, body);
    (status, String::from_utf8_lossy(&body).into_owned())
}

#[test]
fn the_console_serves_files_and_refuses_what_it_must() {
    let setup = Setup::new(&["--console", "read-only"]);
    for gate in ["gate1", "gate2", "gate3"] {
        setup.open_gate(gate);
    }
    let execution = setup.create("shown");
    let html = [("Accept", "text/html")];
    setup.until_stage("shown", "Build", "Succeeded");

    // An artifact downloads whole, as a file, with the digest the page shows; a log reads
    // whole as text.
    let page_path = format!("/pipelines/shown/executions/{execution}");
    let (status, page) = exchange(&setup.server, "GET", &page_path, &html, "");
    assert_eq!(status, 200, "{page}");
    let link = page
        .split("href=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|href| href.starts_with("/artifacts/"))
        .unwrap_or_else(|| panic!("no artifact link in {page}"));
    let digest = page
        .split("title=\"")
        .map(|rest| rest.split('"').next().unwrap())
        .find(|title| title.len() == 64)
        .unwrap();
    let (status, head, bytes) = send(&setup.server, "GET", link, &html, "");
    assert_eq!(status, 200);
    assert!(
        head.to_ascii_lowercase()
            .contains("content-disposition: attachment"),
        "{head}"
    );
    use sha2::Digest;
    assert_eq!(hex::encode(sha2::Sha256::digest(&bytes)), digest);
    let (status, log) = exchange(
        &setup.server,
        "GET",
        &format!("{page_path}/logs/Build/Compile?raw"),
        &html,
        "",
    );
    assert_eq!(status, 200, "{log}");
    assert!(log.contains("streamed <script>"), "{log}");
    // The execution's provenance downloads from its page, as `sandpipe provenance` writes it.
    assert!(page.contains("Not deterministic"), "{page}");
    let (status, head, bytes) = send(
        &setup.server,
        "GET",
        &format!("{page_path}/provenance.json"),
        &html,
        "",
    );
    assert_eq!(status, 200, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("content-disposition: attachment"),
        "{head}"
    );
    let statement: serde_json::Value = serde_json::from_slice(&bytes).unwrap();
    // Only under its own pipeline's address.
    let (status, _) = exchange(
        &setup.server,
        "GET",
        &format!("/pipelines/other/executions/{execution}/provenance.json"),
        &html,
        "",
    );
    assert_eq!(status, 404);
    assert_eq!(statement["_type"], "https://in-toto.io/Statement/v1");
    assert_eq!(
        statement["predicate"]["runDetails"]["metadata"]["invocationId"],
        execution.as_str()
    );
    let (status, page) = exchange(&setup.server, "GET", "/pipelines/shown", &html, "");
    assert_eq!(status, 200, "{page}");
    assert!(page.contains("<h1>shown</h1>"), "{page}");
    // Read-only: no forms, and a form posted anyway is refused.
    assert!(!page.contains("method=\"post\""), "{page}");
    let origin = format!("http://{}", setup.server.url.trim_start_matches("http://"));
    let form = [
        ("Accept", "text/html"),
        ("Origin", origin.as_str()),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (status, text) = exchange(
        &setup.server,
        "POST",
        "/pipelines/shown/transition",
        &form,
        "stageName=Deploy&enable=false&reason=x",
    );
    assert_eq!(
        (status, text.trim()),
        (
            403,
            "the console is read-only (sandpipe serve --console read-only)"
        )
    );
    let deploy = setup.stage_state("shown", "Deploy");
    assert_eq!(
        deploy["inboundTransitionState"]["enabled"], true,
        "{deploy}"
    );

    // A start nobody waits on (CreatePipeline's own) that was refused is shown on the
    // pipeline's page, with why: here a source whose bucket has no versioning.
    let unversioned = pipeline("unversioned", setup.ws.dir.path()).replace("\"src\"", "\"plain\"");
    setup.ws.ok(&["s3", "mb", "s3://plain"]);
    let file = setup.ws.write("unversioned.json", unversioned);
    setup.aws(&[
        "create-pipeline",
        "--cli-input-json",
        &format!("file://{}", file.display()),
    ]);
    let (status, page) = exchange(&setup.server, "GET", "/pipelines/unversioned", &html, "");
    assert_eq!(status, 200, "{page}");
    assert!(
        page.contains("The last start (CreatePipeline) was refused")
            && page.contains("does not have versioning enabled"),
        "{page}"
    );

    // A page asked for by another name (DNS rebinding) is refused.
    let (status, text) = exchange(
        &setup.server,
        "GET",
        "/",
        &[("Accept", "text/html"), ("Host", "attacker.example")],
        "",
    );
    assert_eq!(status, 403, "{text}");
    // So is the API (a rebinding page could otherwise start builds), with AWS's error shape;
    // S3's virtual hosts under .localhost are still served.
    let (status, text) = exchange(
        &setup.server,
        "POST",
        "/",
        &[
            ("Host", "attacker.example"),
            ("X-Amz-Target", "CodePipeline_20150709.ListPipelines"),
            ("Content-Type", "application/x-amz-json-1.1"),
        ],
        "{}",
    );
    assert_eq!(status, 403, "{text}");
    assert!(
        text.contains("\"__type\":\"AccessDeniedException\""),
        "{text}"
    );
    let port = setup.server.url.rsplit(':').next().unwrap();
    let bucket_host = format!("artifacts.localhost:{port}");
    let (status, text) = exchange(
        &setup.server,
        "GET",
        "/",
        &[("Host", bucket_host.as_str())],
        "",
    );
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("ListBucketResult"), "{text}");

    // A read-write console takes forms from its own pages only.
    let writable = Server::start(setup.ws.dir.path(), &[]);
    let foreign = [
        ("Accept", "text/html"),
        ("Origin", "http://attacker.example"),
        ("Content-Type", "application/x-www-form-urlencoded"),
    ];
    let (status, text) = exchange(
        &writable,
        "POST",
        "/pipelines/shown/transition",
        &foreign,
        "stageName=Deploy&enable=false&reason=x",
    );
    assert_eq!(status, 403, "{text}");
    assert!(text.contains("Origin"), "{text}");
    let deploy = setup.stage_state("shown", "Deploy");
    assert_eq!(
        deploy["inboundTransitionState"]["enabled"], true,
        "{deploy}"
    );

    // With --credentials, the browser signs in with one of the operator's keys (Basic).
    let keys = setup.ws.dir.path().join("keys.json");
    std::fs::write(&keys, r#"{"operator": "s3cret"}"#).unwrap();
    let signed = Server::start(
        setup.ws.dir.path(),
        &["--credentials", keys.to_str().unwrap()],
    );
    let (status, head, _) = send(&signed, "GET", "/pipelines/shown", &html, "");
    assert_eq!(status, 401, "{head}");
    assert!(
        head.to_ascii_lowercase()
            .contains("www-authenticate: basic realm=\"sandpipe console\""),
        "{head}"
    );
    // base64("operator:wrong") and base64("operator:s3cret").
    for (authorization, expected) in [
        ("Basic b3BlcmF0b3I6d3Jvbmc=", 401),
        ("Basic not base64!", 401),
        ("Basic b3BlcmF0b3I6czNjcmV0", 200),
    ] {
        let headers = [("Accept", "text/html"), ("Authorization", authorization)];
        let (status, page) = exchange(&signed, "GET", "/pipelines/shown", &headers, "");
        assert_eq!(status, expected, "{authorization}: {page}");
        if status == 200 {
            assert!(page.contains("<h1>shown</h1>"), "{page}");
        }
    }

    // Off: a browser's request is S3's, as before there was a console.
    let off = Server::start(setup.ws.dir.path(), &["--console", "off"]);
    let (status, text) = exchange(&off, "GET", "/", &html, "");
    assert_eq!(status, 200, "{text}");
    assert!(text.contains("ListAllMyBucketsResult"), "{text}");
}
