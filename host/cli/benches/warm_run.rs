//! A warm `sandpipe run` of the seed-tutorial example (compiled components cached), as a user
//! runs it: the whole process, from start to exit.
//!
//! cargo bench -p sandpipe-cli --bench warm_run

use std::path::Path;
use std::process::Command;

use criterion::{Criterion, criterion_group, criterion_main};

fn sandpipe(state: &Path, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_sandpipe"))
        .arg("--state-dir")
        .arg(state)
        .args(args)
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
}

fn warm_run(c: &mut Criterion) {
    let scratch = tempfile::tempdir().unwrap();
    let state = scratch.path().join("state");
    let file = scratch.path().join("file");
    std::fs::write(&file, "Hello LocalStack!\n").unwrap();
    for bucket in ["source-bucket", "target-bucket", "artifact-store-bucket"] {
        sandpipe(&state, &["s3", "mb", &format!("s3://{bucket}")]);
    }
    sandpipe(
        &state,
        &[
            "s3api",
            "put-bucket-versioning",
            "--bucket",
            "source-bucket",
            "--versioning-configuration",
            "Status=Enabled",
        ],
    );
    sandpipe(
        &state,
        &[
            "s3",
            "cp",
            file.to_str().unwrap(),
            "s3://source-bucket/file",
        ],
    );
    let example =
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../examples/s3-to-s3/pipeline.json");
    let run = ["run", example.to_str().unwrap(), "--plain"];
    // The first run compiles (or loads) the components into the cache.
    sandpipe(&state, &run);

    let mut group = c.benchmark_group("sandpipe run");
    group.sample_size(20);
    group.bench_function("warm run of examples/s3-to-s3 (2 actions)", |b| {
        b.iter(|| sandpipe(&state, &run))
    });
    group.finish();
}

criterion_group!(benches, warm_run);
criterion_main!(benches);
