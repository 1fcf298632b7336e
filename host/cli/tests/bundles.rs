//! Portable run bundles and container build images through the real binary: an execution
//! exported and replayed in an empty state directory, a bundle refused when altered, and a
//! container build's image pinned by id across a moved tag.

mod common;

use common::reproduce::{PROBE, entropy_pipeline, stamp_workspace};

/// `bundle` with `entry` rewritten by `change`, and `added` appended, compressed again.
fn tampered(
    bundle: &[u8],
    entry: &str,
    change: impl Fn(&mut Vec<u8>),
    added: Option<(&str, &[u8])>,
) -> Vec<u8> {
    let tar_bytes = zstd::decode_all(bundle).unwrap();
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut builder = tar::Builder::new(Vec::new());
    for item in archive.entries().unwrap() {
        let mut item = item.unwrap();
        let path = item.path().unwrap().to_string_lossy().into_owned();
        let mut data = Vec::new();
        std::io::Read::read_to_end(&mut item, &mut data).unwrap();
        if path == entry {
            change(&mut data);
        }
        let mut header = item.header().clone();
        header.set_size(data.len() as u64);
        builder.append_data(&mut header, &path, &data[..]).unwrap();
    }
    if let Some((path, data)) = added {
        let mut header = tar::Header::new_ustar();
        header.set_size(data.len() as u64);
        header.set_mode(0o644);
        builder.append_data(&mut header, path, data).unwrap();
    }
    zstd::encode_all(&builder.into_inner().unwrap()[..], 3).unwrap()
}

#[test]
fn a_bundle_replays_in_a_fresh_state_directory_and_is_refused_when_altered() {
    let ws = stamp_workspace();
    let file = entropy_pipeline(&ws);
    let provider = format!("Build/Custom/Probe/1={PROBE}");
    ws.ok(&[
        "run",
        file.to_str().unwrap(),
        "--plain",
        "--provider",
        &provider,
        "--deterministic",
    ]);
    let original = ws.records().pop().unwrap();
    let id = original["pipelineExecutionId"].as_str().unwrap();
    // A policy beside the pipeline travels in the bundle, but is never applied from it.
    ws.write(
        "sandpipe-policy.yaml",
        "actions:\n  Build/Custom/Probe/1: {allow: [exec]}\n",
    );
    let output = ws.ok(&["export", id, "-o", "run.tar.zst", "--provider", &provider]);
    assert!(
        output.contains(&format!("exported execution {id}")),
        "{output}"
    );
    // The same execution exports the same bytes.
    ws.ok(&["export", id, "-o", "again.tar.zst", "--provider", &provider]);
    let bundle = std::fs::read(ws.path("run.tar.zst")).unwrap();
    assert_eq!(bundle, std::fs::read(ws.path("again.tar.zst")).unwrap());
    // `-o -` is standard output (what is said goes to standard error), and a named pipe
    // is written into, not replaced by a file.
    let piped = ws.sandpipe(&["export", id, "-o", "-", "--provider", &provider]);
    assert!(piped.status.success());
    assert_eq!(piped.stdout, bundle);
    assert!(String::from_utf8_lossy(&piped.stderr).contains("exported execution"));
    let fifo = ws.path("bundle.fifo");
    assert!(
        std::process::Command::new("mkfifo")
            .arg(&fifo)
            .status()
            .unwrap()
            .success()
    );
    let reader = {
        let fifo = fifo.clone();
        std::thread::spawn(move || std::fs::read(fifo).unwrap())
    };
    let fifo_arg = fifo.to_str().unwrap().to_string();
    ws.ok(&["export", id, "-o", &fifo_arg, "--provider", &provider]);
    assert_eq!(reader.join().unwrap(), bundle);
    use std::os::unix::fs::FileTypeExt;
    assert!(std::fs::metadata(&fifo).unwrap().file_type().is_fifo());

    // Elsewhere: an empty state directory, no source bucket, no --provider (the probe is in
    // the bundle). The artifacts come out the same.
    let elsewhere = tempfile::tempdir().unwrap();
    let state = elsewhere.path().join("state");
    let bundle_path = ws.path("run.tar.zst");
    let replayed = ws.sandpipe(&[
        "--state-dir",
        state.to_str().unwrap(),
        "replay",
        bundle_path.to_str().unwrap(),
        "--plain",
    ]);
    let output = String::from_utf8_lossy(&replayed.stdout);
    let said = String::from_utf8_lossy(&replayed.stderr);
    assert!(replayed.status.success(), "{output}{said}");
    assert!(
        output.contains(&format!("of {id}: 2 artifacts identical, 0 differ")),
        "{output}"
    );
    assert!(
        said.contains("sandpipe-policy.yaml.from-bundle and not applied"),
        "{said}"
    );
    assert!(
        !state
            .join(format!("bundles/{id}/sandpipe-policy.yaml"))
            .exists()
    );

    // An artifact altered after export: refused, naming the entry, and nothing kept.
    let dice = original["stages"][1]["actions"][0]["outputArtifacts"][0]["sha256"]
        .as_str()
        .unwrap();
    let entry = format!("artifacts/{dice}");
    let altered = tampered(&bundle, &entry, |data| data[40] ^= 1, None);
    std::fs::write(ws.path("altered.tar.zst"), altered).unwrap();
    let fresh = elsewhere.path().join("other");
    let output = ws.fails(&[
        "--state-dir",
        fresh.to_str().unwrap(),
        "replay",
        ws.path("altered.tar.zst").to_str().unwrap(),
        "--plain",
    ]);
    assert!(
        output.contains("altered.tar.zst: refused")
            && output.contains(&format!("entry '{entry}' has been altered")),
        "{output}"
    );
    let kept: Vec<_> = std::fs::read_dir(fresh.join("bundles"))
        .map(|entries| entries.flatten().map(|e| e.file_name()).collect())
        .unwrap_or_default();
    assert!(kept.is_empty(), "{kept:?}");

    // A stored artifact that is not what its record says is never exported.
    let objects = ws.path(".sandpipe/s3/artifacts/objects");
    let mut data_files = Vec::new();
    let mut pending = vec![objects];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            if entry.file_type().unwrap().is_dir() {
                pending.push(entry.path());
            } else if entry.file_name() != "index.json" {
                data_files.push(entry.path());
            }
        }
    }
    assert!(!data_files.is_empty());
    for file in &data_files {
        let mut bytes = std::fs::read(file).unwrap();
        bytes[0] ^= 1;
        std::fs::write(file, bytes).unwrap();
    }
    let output = ws.fails(&[
        "export",
        id,
        "-o",
        "broken.tar.zst",
        "--provider",
        &provider,
    ]);
    assert!(output.contains("changed or is corrupt"), "{output}");
    assert!(!ws.path("broken.tar.zst").exists());

    // An entry the manifest does not list is refused too.
    let extra = tampered(&bundle, "", |_| {}, Some(("files/extra.yaml", b"x: 1\n")));
    std::fs::write(ws.path("longer.tar.zst"), extra).unwrap();
    let output = ws.fails(&[
        "--state-dir",
        fresh.to_str().unwrap(),
        "replay",
        ws.path("longer.tar.zst").to_str().unwrap(),
    ]);
    assert!(
        output.contains("entry 'files/extra.yaml' is not in the manifest"),
        "{output}"
    );

    // What is not a bundle is named as not one; a bundle's name that is not a file is
    // not taken for an execution id.
    ws.write("notes.tar.zst", "just text\n");
    let untouched = elsewhere.path().join("untouched");
    let output = ws.fails(&[
        "--state-dir",
        untouched.to_str().unwrap(),
        "replay",
        "notes.tar.zst",
    ]);
    assert!(output.contains("not a sandpipe bundle"), "{output}");
    assert!(
        !untouched.exists(),
        "a state directory made for what is no bundle"
    );
    let output = ws.fails(&[
        "--state-dir",
        fresh.to_str().unwrap(),
        "replay",
        "gone.tar.zst",
    ]);
    assert!(
        output.contains("gone.tar.zst: no such bundle file"),
        "{output}"
    );

    // The manifest's names are joined to directories on import: one that is not a plain
    // relative path (a doubled slash would make `files//tmp/x` the absolute /tmp/x) is
    // refused before anything is written, and so is a record whose artifact digest names
    // another file (the record's own digest in the manifest made to match).
    let victim = elsewhere.path().join("victim");
    let escaping = tampered(
        &bundle,
        "sandpipe-bundle.json",
        |data| {
            let mut manifest: serde_json::Value = serde_json::from_slice(data).unwrap();
            let entries = manifest["entries"].as_object_mut().unwrap();
            let any = entries.values().next().unwrap().clone();
            entries.insert(format!("files/{}", victim.display()), any);
            *data = serde_json::to_vec(&manifest).unwrap();
        },
        None,
    );
    std::fs::write(ws.path("escaping.tar.zst"), escaping).unwrap();
    let output = ws.fails(&[
        "--state-dir",
        fresh.to_str().unwrap(),
        "replay",
        ws.path("escaping.tar.zst").to_str().unwrap(),
    ]);
    assert!(
        output.contains("not a plain relative path") && output.contains("files//"),
        "{output}"
    );
    assert!(!victim.exists());
    let record = tampered_record(&bundle, |record| {
        record["stages"][1]["actions"][0]["outputArtifacts"][0]["sha256"] =
            "../../../../etc/hostname".into();
    });
    std::fs::write(ws.path("pointing.tar.zst"), record).unwrap();
    let output = ws.fails(&[
        "--state-dir",
        fresh.to_str().unwrap(),
        "replay",
        ws.path("pointing.tar.zst").to_str().unwrap(),
    ]);
    assert!(
        output.contains("which is not one the bundle carries"),
        "{output}"
    );
}

/// `bundle` with its record changed by `change`, and the manifest's digest of the record
/// made to match, as someone crafting a bundle would.
fn tampered_record(bundle: &[u8], change: impl Fn(&mut serde_json::Value)) -> Vec<u8> {
    use sha2::Digest;
    let tar_bytes = zstd::decode_all(bundle).unwrap();
    let mut archive = tar::Archive::new(&tar_bytes[..]);
    let mut record = Vec::new();
    for item in archive.entries().unwrap() {
        let mut item = item.unwrap();
        if item.path().unwrap().to_str() == Some("record.json") {
            std::io::Read::read_to_end(&mut item, &mut record).unwrap();
        }
    }
    let mut value: serde_json::Value = serde_json::from_slice(&record).unwrap();
    change(&mut value);
    let record = serde_json::to_vec(&value).unwrap();
    let digest = hex::encode(sha2::Sha256::digest(&record));
    let size = record.len();
    let with_record = tampered(bundle, "record.json", |data| *data = record.clone(), None);
    tampered(
        &with_record,
        "sandpipe-bundle.json",
        |data| {
            let mut manifest: serde_json::Value = serde_json::from_slice(data).unwrap();
            manifest["entries"]["record.json"] =
                serde_json::json!({"sha256": digest, "size": size});
            *data = serde_json::to_vec(&manifest).unwrap();
        },
        None,
    )
}

/// S3 source → a CodeBuild project that names a container image.
const CONTAINER_PIPELINE: &str = r#"{"pipeline": {
  "name": "boxed", "roleArn": "arn:aws:iam::123456789012:role/r",
  "artifactStore": {"type": "S3", "location": "artifacts"},
  "stages": [
    {"name": "Source", "actions": [{"name": "Fetch",
      "actionTypeId": {"category": "Source", "owner": "AWS", "provider": "S3", "version": "1"},
      "configuration": {"S3Bucket": "src", "S3ObjectKey": "src.zip", "PollForSourceChanges": "false"},
      "outputArtifacts": [{"name": "Src"}]}]},
    {"name": "Build", "actions": [{"name": "Compile",
      "actionTypeId": {"category": "Build", "owner": "AWS", "provider": "CodeBuild", "version": "1"},
      "configuration": {"ProjectName": "boxed-build"},
      "inputArtifacts": [{"name": "Src"}], "outputArtifacts": [{"name": "Bin"}]}]}
  ]}}"#;

#[test]
fn container_builds_record_their_image_ids_and_replays_run_those() {
    let ws = stamp_workspace();
    ws.write("pipeline.json", CONTAINER_PIPELINE);
    ws.write(
        "codebuild-projects.json",
        r#"{"name": "boxed-build",
            "source": {"type": "CODEPIPELINE", "buildspec": "version: 0.2\nphases:\n  build:\n    commands:\n      - cat in.txt > built.txt\nartifacts:\n  files: [built.txt]\n"},
            "environment": {"type": "LINUX_CONTAINER", "image": "build-image:1",
              "computeType": "BUILD_GENERAL1_SMALL"}}"#,
    );
    // No container engine here: a stand-in docker client answers as one would.
    let fake = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/fake-docker");
    let engine = ws.path("engine");
    std::fs::create_dir_all(engine.join("images")).unwrap();
    let path = format!("{}:{}", fake.display(), std::env::var("PATH").unwrap());
    let env = [
        ("PATH", path.as_str()),
        ("DOCKER_CONFIG", engine.to_str().unwrap()),
    ];
    let sandpipe = |args: &[&str]| {
        let mut all = args.to_vec();
        all.extend(["--plain", "--build-runner", "docker"]);
        ws.sandpipe_with(&all, &env)
    };
    let ran = sandpipe(&["run", "pipeline.json"]);
    assert!(
        ran.status.success(),
        "{}",
        String::from_utf8_lossy(&ran.stderr)
    );
    let original = ws.records().pop().unwrap();
    let build = &original["stages"][1]["actions"][0];
    let first = build["buildImages"]["build-image:1"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(first.starts_with("sha256:") && first.len() == 71, "{build}");

    // The tag moves on; a replay still runs the image the original ran, by its id.
    let moved = format!("sha256:{}", "b".repeat(64));
    std::fs::write(engine.join("images/build-image:1"), &moved).unwrap();
    let replayed = sandpipe(&["replay"]);
    let output = String::from_utf8_lossy(&replayed.stdout);
    assert!(
        replayed.status.success() && output.contains("2 artifacts identical, 0 differ"),
        "{output}{}",
        String::from_utf8_lossy(&replayed.stderr)
    );
    let record = ws.records().pop().unwrap();
    assert_eq!(
        record["stages"][1]["actions"][0]["buildImages"]["build-image:1"],
        first.as_str()
    );
    let calls = std::fs::read_to_string(engine.join("calls.log")).unwrap();
    let runs: Vec<&str> = calls.lines().filter(|l| l.starts_with("run ")).collect();
    assert!(
        runs.last().unwrap().contains(&format!(" {first} -c ")),
        "{calls}"
    );

    // A new run takes the tag as it is now, and the provenance names the image by id.
    assert!(sandpipe(&["run", "pipeline.json"]).status.success());
    let latest = ws.records().pop().unwrap();
    assert_eq!(
        latest["stages"][1]["actions"][0]["buildImages"]["build-image:1"],
        moved.as_str()
    );
    let statement: serde_json::Value = serde_json::from_str(&ws.ok(&["provenance"])).unwrap();
    let dependencies = statement["predicate"]["buildDefinition"]["resolvedDependencies"]
        .as_array()
        .unwrap();
    let image = dependencies
        .iter()
        .find(|d| d["name"] == "image:build-image:1")
        .unwrap();
    assert_eq!(image["digest"]["sha256"], "b".repeat(64));

    // The original's image gone from this machine: the replay says which one it needs.
    std::fs::write(engine.join("missing"), format!("{first}\n")).unwrap();
    let id = original["pipelineExecutionId"].as_str().unwrap();
    let refused = sandpipe(&["replay", id]);
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(!refused.status.success());
    assert!(
        said.contains(&format!(
            "the image build-image:1 ran as {first} in the execution being replayed"
        )),
        "{said}"
    );
}
