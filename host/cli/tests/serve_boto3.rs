//! `sandpipe serve` driven by boto3 (tests/python/serve_boto3.py): a manual approval resolved
//! by put_approval_result, a failed build retried with FAILED_ACTIONS, a disabled transition
//! seen through get_pipeline_state, an idempotent start, a stop, paging, tags, and every
//! error for a missing pipeline, execution, stage or action as botocore's modeled exception.

mod common;

use common::Workspace;
use common::aws::{client, client_env, venv};
use common::serve::Server;

/// Run `tests/python/<script>` against a fresh server in `ws` started with `serve_args`, with
/// `extra` environment; it must print `ok`.
fn run_script(ws: &Workspace, serve_args: &[&str], script: &str, extra: &[(&str, String)]) {
    let server = Server::start(ws.dir.path(), serve_args);
    let mut env = client_env(&server.url, ws.dir.path());
    env.extend(extra.iter().map(|(k, v)| (k.to_string(), v.clone())));
    let script = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/python")
        .join(script);
    let python = venv().join("bin/python");
    let ran = client(
        ws.dir.path(),
        &env,
        python.to_str().unwrap(),
        &[script.to_str().unwrap()],
    );
    let stdout = String::from_utf8_lossy(&ran.stdout);
    let stderr = String::from_utf8_lossy(&ran.stderr);
    assert!(ran.status.success(), "{stdout}\n{stderr}");
    assert_eq!(stdout.trim(), "ok");
}

#[test]
fn boto3_drives_approvals_retries_stops_transitions_and_paging() {
    let ws = Workspace::new();
    let marker = ws.path("build-may-pass").display().to_string();
    run_script(&ws, &[], "serve_boto3.py", &[("MARKER", marker)]);
    // The executions the API started are the CLI's too.
    let listed = ws.ok(&["executions", "list", "--pipeline", "gated"]);
    assert!(
        listed.contains("Succeeded") && listed.contains("Stopped"),
        "{listed}"
    );
}

/// With signatures checked (the clients sign with the one configured key), so the worker's
/// S3 calls prove the job's own `artifactCredentials` are accepted.
#[test]
fn a_boto3_job_worker_serves_a_custom_action() {
    let ws = Workspace::new();
    ws.write("keys.json", r#"{"test": "test"}"#);
    run_script(
        &ws,
        &["--credentials", "keys.json"],
        "serve_job_worker.py",
        &[],
    );
}

#[test]
fn with_credentials_every_service_checks_the_signature() {
    let ws = Workspace::new();
    ws.write("keys.json", r#"{"AKIDLOCAL": "local-secret"}"#);
    let server = Server::start(ws.dir.path(), &["--credentials", "keys.json"]);
    let mut env = client_env(&server.url, ws.dir.path());
    env.retain(|(k, _)| k != "AWS_ACCESS_KEY_ID" && k != "AWS_SECRET_ACCESS_KEY");
    let script = r#"
import boto3, botocore.exceptions
def code(service, key, secret, call):
    client = boto3.client(service, aws_access_key_id=key, aws_secret_access_key=secret)
    try:
        call(client)
        return "ok"
    except botocore.exceptions.ClientError as error:
        return error.response["Error"]["Code"]
pipelines = lambda c: c.list_pipelines()
roles = lambda c: c.list_roles()
print(code("codepipeline", "AKIDLOCAL", "local-secret", pipelines))
print(code("codepipeline", "AKIDLOCAL", "wrong", pipelines))
print(code("codepipeline", "SOMEONE", "local-secret", pipelines))
print(code("iam", "AKIDLOCAL", "local-secret", roles))
print(code("iam", "AKIDLOCAL", "wrong", roles))
print(code("s3", "AKIDLOCAL", "wrong", lambda c: c.list_buckets()))
# AssumeRole's temporary credentials sign like any configured key; made-up ones do not.
sts = boto3.client("sts", aws_access_key_id="AKIDLOCAL", aws_secret_access_key="local-secret")
issued = sts.assume_role(RoleArn="arn:aws:iam::123456789012:role/r", RoleSessionName="session")["Credentials"]
temporary = boto3.client("s3", aws_access_key_id=issued["AccessKeyId"],
                         aws_secret_access_key=issued["SecretAccessKey"],
                         aws_session_token=issued["SessionToken"])
temporary.list_buckets()
print(code("codepipeline", issued["AccessKeyId"], issued["SecretAccessKey"], pipelines))
print(code("s3", "ASIAMADEUP", "made-up", lambda c: c.list_buckets()))
"#;
    let python = venv().join("bin/python");
    let ran = client(
        ws.dir.path(),
        &env,
        python.to_str().unwrap(),
        &["-c", script],
    );
    let stdout = String::from_utf8_lossy(&ran.stdout);
    assert!(
        ran.status.success(),
        "{stdout}{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    assert_eq!(
        stdout.lines().collect::<Vec<_>>(),
        [
            "ok",
            "InvalidSignatureException",
            "UnrecognizedClientException",
            "ok",
            "SignatureDoesNotMatch",
            "SignatureDoesNotMatch",
            "ok",
            "InvalidAccessKeyId"
        ]
    );
}
