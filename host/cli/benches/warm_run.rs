//! A warm `sandpipe run` of the seed-tutorial example (compiled components cached), as a user
//! runs it — the whole process, from start to exit — alternated in one run with
//! `s3_to_s3.sh`, a shell script doing the same copies and digests on plain directories.
//! Prints the median and quartiles of each and the ratio of the medians.
//!
//! cargo bench -p sandpipe-cli --bench warm_run

use std::path::Path;
use std::process::Command;
use std::time::{Duration, Instant};

const ROUNDS: usize = 200;

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

fn timed(mut run: impl FnMut()) -> Duration {
    let started = Instant::now();
    run();
    started.elapsed()
}

/// Median, first and third quartile, in milliseconds.
fn quartiles(samples: &mut [Duration]) -> (f64, f64, f64) {
    samples.sort();
    let at =
        |q: f64| samples[((samples.len() - 1) as f64 * q).round() as usize].as_secs_f64() * 1e3;
    (at(0.5), at(0.25), at(0.75))
}

fn main() {
    if std::env::args().any(|a| a == "--list") {
        return;
    }
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
    let manifest = Path::new(env!("CARGO_MANIFEST_DIR"));
    let example = manifest.join("../../examples/s3-to-s3/pipeline.json");
    let run = ["run", example.to_str().unwrap(), "--plain"];
    // The first run compiles (or loads) the components into the cache.
    sandpipe(&state, &run);

    let script = manifest.join("benches/s3_to_s3.sh");
    let plain = scratch.path().join("plain");
    std::fs::create_dir_all(plain.join("source-bucket")).unwrap();
    std::fs::copy(&file, plain.join("source-bucket/file")).unwrap();
    let shell = || {
        let status = Command::new(&script).arg(&plain).status().unwrap();
        assert!(status.success());
    };
    shell();

    let (mut ours, mut theirs) = (Vec::new(), Vec::new());
    for _ in 0..ROUNDS {
        ours.push(timed(|| sandpipe(&state, &run)));
        theirs.push(timed(shell));
    }
    let (ours, theirs) = (quartiles(&mut ours), quartiles(&mut theirs));
    println!("warm run of examples/s3-to-s3, {ROUNDS} rounds alternated, whole processes");
    println!(
        "sandpipe run:      median {:.1} ms  (quartiles {:.1} – {:.1})",
        ours.0, ours.1, ours.2
    );
    println!(
        "s3_to_s3.sh:       median {:.1} ms  (quartiles {:.1} – {:.1})",
        theirs.0, theirs.1, theirs.2
    );
    println!("ratio of medians:  {:.2}×", ours.0 / theirs.0);
}
