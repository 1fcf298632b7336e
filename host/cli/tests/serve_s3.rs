//! `sandpipe serve`'s S3 driven by the real aws CLI and boto3: a 20 MB multipart `aws s3 cp`
//! round trip byte for byte, versioned overwrites listed and read back by version, delete
//! markers, `ls`/`rm`/`sync`, boto3's transfers and presigned URLs, and signatures checked when
//! `--credentials` is given; what the server made, `sandpipe s3` sees.

mod common;

use std::path::Path;
use std::process::Output;

use common::Workspace;
use common::aws::{client, client_env};
use common::serve::Server;

fn text(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

/// A server in a fresh workspace and the clients' environment for it.
struct Endpoint {
    ws: Workspace,
    env: Vec<(String, String)>,
    _server: Server,
}

impl Endpoint {
    fn start(args: &[&str]) -> Endpoint {
        let ws = Workspace::new();
        let server = Server::start(ws.dir.path(), args);
        let env = client_env(&server.url, ws.dir.path());
        Endpoint {
            ws,
            env,
            _server: server,
        }
    }

    fn run(&self, program: &str, args: &[&str]) -> Output {
        client(self.ws.dir.path(), &self.env, program, args)
    }

    /// Run `aws …`, which must succeed; its standard output.
    fn aws(&self, args: &[&str]) -> String {
        let output = self.run("aws", args);
        assert!(output.status.success(), "aws {args:?}:\n{}", text(&output));
        String::from_utf8(output.stdout).unwrap()
    }

    fn aws_json(&self, args: &[&str]) -> serde_json::Value {
        serde_json::from_str(&self.aws(args)).unwrap()
    }

    /// Run `aws …`, which must fail; everything it printed.
    fn aws_fails(&self, args: &[&str]) -> String {
        let output = self.run("aws", args);
        assert!(
            !output.status.success(),
            "aws {args:?} succeeded:\n{}",
            text(&output)
        );
        text(&output)
    }
}

/// `len` bytes that do not repeat within a part, so a part out of place shows.
fn noise(len: usize) -> Vec<u8> {
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    (0..len)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            (state >> 24) as u8
        })
        .collect()
}

#[test]
fn a_twenty_megabyte_cp_goes_up_in_parts_and_comes_back_identical() {
    let s3 = Endpoint::start(&[]);
    s3.aws(&["s3", "mb", "s3://big-bucket"]);
    let body = noise(20 * 1000 * 1000);
    s3.ws.write("big.bin", &body);
    s3.aws(&[
        "s3",
        "cp",
        "big.bin",
        "s3://big-bucket/dir/big.bin",
        "--only-show-errors",
    ]);

    // The CLI's 8 MiB parts: three of them, and S3's multipart ETag.
    let head = s3.aws_json(&[
        "s3api",
        "head-object",
        "--bucket",
        "big-bucket",
        "--key",
        "dir/big.bin",
    ]);
    assert_eq!(head["ContentLength"], 20_000_000);
    assert!(head["ETag"].as_str().unwrap().ends_with("-3\""), "{head:#}");

    s3.aws(&[
        "s3",
        "cp",
        "s3://big-bucket/dir/big.bin",
        "back.bin",
        "--only-show-errors",
    ]);
    assert!(
        std::fs::read(s3.ws.path("back.bin")).unwrap() == body,
        "the download differs"
    );

    // A bucket-to-bucket copy of it goes part by part too (UploadPartCopy).
    s3.aws(&[
        "s3",
        "cp",
        "s3://big-bucket/dir/big.bin",
        "s3://big-bucket/copy.bin",
        "--only-show-errors",
    ]);
    let copy = s3.aws_json(&[
        "s3api",
        "head-object",
        "--bucket",
        "big-bucket",
        "--key",
        "copy.bin",
    ]);
    assert_eq!(copy["ContentLength"], 20_000_000);

    // The bucket and its objects are the CLI's too.
    assert!(s3.ws.ok(&["s3", "ls"]).contains("big-bucket"));
    assert!(s3.ws.get("s3://big-bucket/dir/big.bin") == body);
}

#[test]
fn versioned_overwrites_list_both_versions_and_read_back_by_id() {
    let s3 = Endpoint::start(&[]);
    s3.aws(&["s3", "mb", "s3://source-bucket"]);
    s3.aws(&[
        "s3api",
        "put-bucket-versioning",
        "--bucket",
        "source-bucket",
        "--versioning-configuration",
        "Status=Enabled",
    ]);
    let status = s3.aws_json(&[
        "s3api",
        "get-bucket-versioning",
        "--bucket",
        "source-bucket",
    ]);
    assert_eq!(status["Status"], "Enabled");

    for content in ["first\n", "second\n"] {
        s3.ws.write("file.txt", content);
        s3.aws(&[
            "s3",
            "cp",
            "file.txt",
            "s3://source-bucket/file.txt",
            "--only-show-errors",
        ]);
    }
    let listed = s3.aws_json(&["s3api", "list-object-versions", "--bucket", "source-bucket"]);
    let versions = listed["Versions"].as_array().unwrap();
    assert_eq!(versions.len(), 2, "{listed:#}");
    assert_eq!(versions[0]["IsLatest"], true);
    let old = versions[1]["VersionId"].as_str().unwrap();

    s3.aws(&[
        "s3api",
        "get-object",
        "--bucket",
        "source-bucket",
        "--key",
        "file.txt",
        "--version-id",
        old,
        "old.txt",
    ]);
    assert_eq!(
        std::fs::read_to_string(s3.ws.path("old.txt")).unwrap(),
        "first\n"
    );
    // The CLI reads the same versions from the same store.
    let cli = s3
        .ws
        .ok(&["s3api", "list-object-versions", "--bucket", "source-bucket"]);
    assert!(cli.contains(old), "{cli}");

    // A delete leaves a marker: the key is gone, its versions are not.
    s3.aws(&["s3", "rm", "s3://source-bucket/file.txt"]);
    let missing = s3.aws_fails(&[
        "s3api",
        "get-object",
        "--bucket",
        "source-bucket",
        "--key",
        "file.txt",
        "gone.txt",
    ]);
    assert!(missing.contains("(NoSuchKey)"), "{missing}");
    let listed = s3.aws_json(&["s3api", "list-object-versions", "--bucket", "source-bucket"]);
    assert_eq!(listed["Versions"].as_array().unwrap().len(), 2);
    assert_eq!(listed["DeleteMarkers"][0]["IsLatest"], true, "{listed:#}");
    let unknown = s3.aws_fails(&[
        "s3api",
        "get-object",
        "--bucket",
        "source-bucket",
        "--key",
        "file.txt",
        "--version-id",
        "no-such-version",
        "x.txt",
    ]);
    assert!(unknown.contains("(NoSuchVersion)"), "{unknown}");
}

#[test]
fn ls_rm_and_sync_work_on_trees() {
    let s3 = Endpoint::start(&[]);
    s3.aws(&["s3", "mb", "s3://tree-bucket"]);
    std::fs::create_dir_all(s3.ws.path("tree/a/b")).unwrap();
    for (name, content) in [
        ("a/one.txt", "1"),
        ("a/two.txt", "22"),
        ("a/b/with space.txt", "333"),
        ("top.txt", "4"),
    ] {
        s3.ws.write(&format!("tree/{name}"), content);
    }
    s3.aws(&[
        "s3",
        "sync",
        "tree",
        "s3://tree-bucket/up",
        "--only-show-errors",
    ]);
    // Nothing changed, so a second sync uploads nothing.
    assert_eq!(s3.aws(&["s3", "sync", "tree", "s3://tree-bucket/up"]), "");

    let top = s3.aws(&["s3", "ls", "s3://tree-bucket/up/"]);
    assert!(top.contains("PRE a/") && top.contains("top.txt"), "{top}");
    let all = s3.aws(&["s3", "ls", "s3://tree-bucket/up/", "--recursive"]);
    assert_eq!(all.lines().count(), 4, "{all}");
    assert!(all.contains("up/a/b/with space.txt"), "{all}");
    assert!(s3.aws(&["s3", "ls"]).contains("tree-bucket"));

    s3.aws(&[
        "s3",
        "sync",
        "s3://tree-bucket/up",
        "down",
        "--only-show-errors",
    ]);
    for name in ["a/one.txt", "a/two.txt", "a/b/with space.txt", "top.txt"] {
        let (sent, got) = (
            s3.ws.path(&format!("tree/{name}")),
            s3.ws.path(&format!("down/{name}")),
        );
        assert_eq!(
            std::fs::read(sent).unwrap(),
            std::fs::read(got).unwrap(),
            "{name}"
        );
    }

    s3.aws(&[
        "s3",
        "rm",
        "s3://tree-bucket/up/a",
        "--recursive",
        "--only-show-errors",
    ]);
    let left = s3.aws(&["s3", "ls", "s3://tree-bucket/up/", "--recursive"]);
    assert_eq!(left.lines().count(), 1, "{left}");
    assert!(s3.ws.list("s3://tree-bucket").contains("up/top.txt"));
    let not_empty = s3.aws_fails(&["s3", "rb", "s3://tree-bucket"]);
    assert!(not_empty.contains("BucketNotEmpty"), "{not_empty}");
    s3.aws(&["s3", "rb", "s3://tree-bucket", "--force"]);
    assert!(!s3.ws.ok(&["s3", "ls"]).contains("tree-bucket"));
}

const BOTO3_SCRIPT: &str = r#"
import boto3, urllib.request
s3 = boto3.client("s3")
s3.create_bucket(Bucket="boto-bucket")
s3.put_object(Bucket="boto-bucket", Key="k", Body=b"boto body", Metadata={"origin": "boto3"},
              ContentType="text/x-test", CacheControl="max-age=5")
got = s3.get_object(Bucket="boto-bucket", Key="k")
assert got["Body"].read() == b"boto body"
assert got["Metadata"] == {"origin": "boto3"}, got["Metadata"]
assert (got["ContentType"], got["CacheControl"]) == ("text/x-test", "max-age=5")
ranged = s3.get_object(Bucket="boto-bucket", Key="k", Range="bytes=5-")
assert ranged["Body"].read() == b"body" and ranged["ContentRange"] == "bytes 5-8/9"

s3.upload_file("big.bin", "boto-bucket", "big.bin")
s3.download_file("boto-bucket", "big.bin", "big.out")
assert open("big.out", "rb").read() == open("big.bin", "rb").read()

copied = s3.copy_object(Bucket="boto-bucket", Key="copied", CopySource={"Bucket": "boto-bucket", "Key": "k"},
                        MetadataDirective="REPLACE", Metadata={"new": "1"})
assert s3.head_object(Bucket="boto-bucket", Key="copied")["Metadata"] == {"new": "1"}

url = s3.generate_presigned_url("get_object", Params={"Bucket": "boto-bucket", "Key": "k"})
assert urllib.request.urlopen(url).read() == b"boto body"

for i in range(5):
    s3.put_object(Bucket="boto-bucket", Key=f"page/{i}", Body=b"x")
pages = s3.get_paginator("list_objects_v2").paginate(Bucket="boto-bucket", Prefix="page/",
                                                     PaginationConfig={"PageSize": 2})
assert [o["Key"] for p in pages for o in p["Contents"]] == [f"page/{i}" for i in range(5)]

deleted = s3.delete_objects(Bucket="boto-bucket", Delete={"Objects": [{"Key": f"page/{i}"} for i in range(5)]})
assert len(deleted["Deleted"]) == 5 and "Errors" not in deleted, deleted
try:
    s3.head_object(Bucket="boto-bucket", Key="page/0")
    raise SystemExit("a deleted key is still there")
except s3.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "404", e.response
try:
    s3.get_object(Bucket="no-such-bucket", Key="k")
    raise SystemExit("a missing bucket answered")
except s3.exceptions.NoSuchBucket as e:
    # As S3 answers: S3's words, and a request id botocore reports.
    assert "no-such-bucket" in e.response["Error"]["Message"], e.response
    assert len(e.response["ResponseMetadata"]["RequestId"]) == 16, e.response
try:
    s3.put_object(Bucket="boto-bucket", Key="k" * 2000, Body=b"x")
    raise SystemExit("a 2000-character key was taken")
except s3.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "KeyTooLongError", e.response
    assert e.response["Error"]["Message"], e.response
try:
    s3.put_object(Bucket="boto-bucket", Key="md5", Body=b"x", ContentMD5="notbase64!!")
    raise SystemExit("a Content-MD5 that is no digest was taken")
except s3.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidDigest", e.response
try:
    s3.create_bucket(Bucket="abc-s3alias")
    raise SystemExit("a bucket name S3 reserves was taken")
except s3.exceptions.ClientError as e:
    assert e.response["Error"]["Code"] == "InvalidBucketName", e.response
print("boto3 ok")
"#;

#[test]
fn boto3_transfers_copies_presigned_urls_and_batch_deletes() {
    let s3 = Endpoint::start(&[]);
    s3.ws.write("big.bin", noise(12 * 1024 * 1024));
    s3.ws.write("script.py", BOTO3_SCRIPT);
    let ran = s3.run("python", &["script.py"]);
    assert!(ran.status.success(), "{}", text(&ran));
    assert!(text(&ran).contains("boto3 ok"));
}

#[test]
fn with_credentials_only_those_keys_may_sign() {
    let ws_dir = tempfile::tempdir().unwrap();
    let keys = ws_dir.path().join("keys.json");
    std::fs::write(&keys, r#"{"test": "test"}"#).unwrap();
    let s3 = Endpoint::start(&["--credentials", keys.to_str().unwrap()]);
    s3.aws(&["s3", "mb", "s3://signed-bucket"]);
    s3.ws.write("small.txt", "signed");
    s3.aws(&[
        "s3",
        "cp",
        "small.txt",
        "s3://signed-bucket/small.txt",
        "--only-show-errors",
    ]);

    let with_secret = |id: &str, secret: &str| {
        let mut env = s3.env.clone();
        env.retain(|(k, _)| k != "AWS_ACCESS_KEY_ID" && k != "AWS_SECRET_ACCESS_KEY");
        env.push(("AWS_ACCESS_KEY_ID".into(), id.into()));
        env.push(("AWS_SECRET_ACCESS_KEY".into(), secret.into()));
        text(&client(
            s3.ws.dir.path(),
            &env,
            "aws",
            &["s3", "ls", "s3://signed-bucket"],
        ))
    };
    assert!(with_secret("test", "test").contains("small.txt"));
    assert!(with_secret("test", "wrong").contains("(SignatureDoesNotMatch)"));
    assert!(with_secret("stranger", "test").contains("(InvalidAccessKeyId)"));
    let anonymous = s3.aws_fails(&["s3", "ls", "s3://signed-bucket", "--no-sign-request"]);
    assert!(anonymous.contains("(AccessDenied)"), "{anonymous}");
}

#[test]
fn a_bucket_made_by_the_cli_is_served() {
    let s3 = Endpoint::start(&[]);
    s3.ws.ok(&["s3", "mb", "s3://cli-bucket"]);
    s3.ws.write("from-cli.txt", "made by sandpipe s3 cp");
    s3.ws
        .ok(&["s3", "cp", "from-cli.txt", "s3://cli-bucket/k.txt"]);
    s3.aws(&[
        "s3",
        "cp",
        "s3://cli-bucket/k.txt",
        "got.txt",
        "--only-show-errors",
    ]);
    assert_eq!(
        std::fs::read_to_string(s3.ws.path("got.txt")).unwrap(),
        "made by sandpipe s3 cp"
    );
    assert!(Path::new(&s3.ws.path(".sandpipe/s3/cli-bucket")).is_dir());
}
