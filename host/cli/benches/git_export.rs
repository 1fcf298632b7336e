//! Exporting a repository of 10,000 files / 100 MB: each host step on its own (tree export,
//! the deterministic zip, a clone with history, a working-tree snapshot), then whole
//! `sandpipe run`s of a CODE_ZIP and a CODEBUILD_CLONE_REF source; wall time and peak RSS.
//!
//! cargo bench -p sandpipe-cli --bench git_export

use std::io::Write;
use std::path::Path;
use std::process::Command;
use std::time::Instant;

use cap_std::fs::Dir;
use sandpipe_git::test_support::git;
use sandpipe_git::{CloneContent, CloneRequest, ExportLimits, Location, Repository};

const FILES: usize = 10_000;
const FILE_BYTES: usize = 10 * 1024;
const ROUNDS: usize = 3;

/// Reset this process's peak RSS (Linux: writing 5 to clear_refs), so each step's peak is
/// its own.
fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

/// Peak resident set size of this process since the last reset, from /proc.
fn peak_rss_mib() -> f64 {
    let status = std::fs::read_to_string("/proc/self/status").unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmHWM:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
        .map(|kb| kb / 1024.0)
        .unwrap_or(f64::NAN)
}

/// Peak RSS of the largest child this process has waited for.
fn children_peak_rss_mib() -> f64 {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage fills the struct it is given.
    let usage = unsafe {
        libc::getrusage(libc::RUSAGE_CHILDREN, usage.as_mut_ptr());
        usage.assume_init()
    };
    usage.ru_maxrss as f64 / 1024.0
}

/// Text-like content (letters, some repetition) that compresses as source code does.
fn content(seed: u64) -> Vec<u8> {
    let mut state = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut bytes = Vec::with_capacity(FILE_BYTES);
    while bytes.len() < FILE_BYTES {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let word = (state % 9) as usize + 2;
        for i in 0..word {
            bytes.push(b'a' + ((state >> (i * 5)) % 26) as u8);
        }
        bytes.push(if state.is_multiple_of(11) {
            b'\n'
        } else {
            b' '
        });
    }
    bytes.truncate(FILE_BYTES);
    bytes
}

fn make_repository(dir: &Path) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    for n in 0..FILES {
        let path = dir.join(format!("pkg{:02}/mod{:03}/file{n:05}.txt", n % 50, n % 200));
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::File::create(path)
            .unwrap()
            .write_all(&content(n as u64))
            .unwrap();
    }
    // No automatic gc in the background while measuring; one packing, as a cloned or
    // long-lived repository is packed.
    git(dir, &["-c", "gc.auto=0", "add", "-A"]);
    git(dir, &["-c", "gc.auto=0", "commit", "-q", "-m", "10k files"]);
    git(dir, &["gc", "-q"]);
}

/// A new directory `<base>-<round>`, opened.
fn new_dir(base: &Path, round: usize) -> Dir {
    let dir = base.with_extension(round.to_string());
    std::fs::create_dir_all(&dir).unwrap();
    open(&dir)
}

fn open(dir: &Path) -> Dir {
    Dir::open_ambient_dir(dir, cap_std::ambient_authority()).unwrap()
}

/// Run `step` ROUNDS times, each with its round number. Each round writes into directories
/// of its own: on this VM, deleting 10,000 files and writing them again under the same names
/// makes the next round up to three times slower, which is the file system, not sandpipe.
fn measure(name: &str, mut step: impl FnMut(usize)) {
    let mut times = Vec::new();
    let mut peaks = Vec::new();
    for round in 0..ROUNDS {
        // Earlier rounds' writes are flushed first, so each round starts from the same disk.
        // SAFETY: sync takes no arguments and cannot fail.
        unsafe { libc::sync() };
        reset_peak();
        let started = Instant::now();
        step(round);
        times.push(started.elapsed().as_secs_f64());
        peaks.push(peak_rss_mib());
    }
    let times: Vec<String> = times.iter().map(|t| format!("{t:.2} s")).collect();
    let peaks: Vec<String> = peaks.iter().map(|p| format!("{p:.0} MiB")).collect();
    println!(
        "{name}: {} (peak RSS {})",
        times.join(", "),
        peaks.join(", ")
    );
}

fn sandpipe(root: &Path, args: &[&str]) {
    let output = Command::new(env!("CARGO_BIN_EXE_sandpipe"))
        .args(args)
        .current_dir(root)
        .env("SANDPIPE_STATE_DIR", root.join("state"))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

fn pipeline(format: &str) -> String {
    format!(
        r#"{{"pipeline":{{"name":"big","roleArn":"arn:aws:iam::123456789012:role/r",
          "artifactStore":{{"type":"S3","location":"artifacts"}},
          "stages":[
            {{"name":"Source","actions":[{{"name":"App","actionTypeId":{{"category":"Source","owner":"AWS","provider":"CodeStarSourceConnection","version":"1"}},
              "configuration":{{"ConnectionArn":"arn:aws:codeconnections:us-east-1:123456789012:connection/x",
                "FullRepositoryId":"bench/big","BranchName":"main","OutputArtifactFormat":"{format}"}},
              "outputArtifacts":[{{"name":"Src"}}]}}]}},
            {{"name":"Store","actions":[{{"name":"Keep","actionTypeId":{{"category":"Deploy","owner":"AWS","provider":"S3","version":"1"}},
              "configuration":{{"BucketName":"target","Extract":"false","ObjectKey":"src.zip"}},
              "inputArtifacts":[{{"name":"Src"}}]}}]}}]}}}}"#
    )
}

fn main() {
    let scratch = tempfile::tempdir().unwrap();
    let root = scratch.path();
    let repo_dir = root.join("repos/big");
    let started = Instant::now();
    make_repository(&repo_dir);
    println!(
        "made a repository of {FILES} files, {} MB, in {:.1} s",
        FILES * FILE_BYTES / 1_000_000,
        started.elapsed().as_secs_f64()
    );
    // Opened afresh for each step, as each action execution opens it.
    let location = Location::Local(repo_dir.clone());
    let repository = || Repository::open(&location, root, None).unwrap();
    let head = repository().resolve("main").unwrap().commit.id;
    let limits = ExportLimits::default();

    let tree = root.join("tree");
    measure(
        "export the tree at a commit (CODE_ZIP's host part)",
        |round| {
            let summary = repository()
                .export_tree(&head, &new_dir(&tree, round), &limits)
                .unwrap();
            assert_eq!(summary.files as usize, FILES);
        },
    );
    let zip_limits = sandpipe_store::archive::Limits::default();
    let from = open(&tree.with_extension("0"));
    measure("package the exported tree as the artifact zip", |round| {
        let zip = std::fs::File::create(root.join(format!("tree-{round}.zip"))).unwrap();
        sandpipe_store::archive::pack_dir(&from, zip, &zip_limits).unwrap();
    });
    let clone = root.join("clone");
    measure(
        "clone with history (CODEBUILD_CLONE_REF's host part)",
        |round| {
            let request = CloneRequest {
                branch: "main",
                commit: &head,
                reference: None,
                content: CloneContent::Full,
            };
            repository()
                .clone_into(&request, root, &new_dir(&clone, round), &limits)
                .unwrap();
        },
    );
    let reference = root.join("reference-clone");
    measure(
        "git clone --no-local with the git command (for scale)",
        |round| {
            let into = reference.with_extension(round.to_string());
            git(
                root,
                &[
                    "clone",
                    "-q",
                    "--no-local",
                    repo_dir.to_str().unwrap(),
                    into.to_str().unwrap(),
                ],
            );
        },
    );
    let snapshot = root.join("snapshot");
    measure("snapshot the working tree (--source)", |round| {
        sandpipe_git::snapshot_worktree(&repo_dir, &new_dir(&snapshot, round), &[], &limits)
            .unwrap();
    });

    sandpipe(root, &["s3", "mb", "s3://target"]);
    for format in ["CODE_ZIP", "CODEBUILD_CLONE_REF"] {
        let file = root.join(format!("{format}.json"));
        std::fs::write(&file, pipeline(format)).unwrap();
        let file = file.to_str().unwrap().to_string();
        let repos = root.join("repos");
        let args = [
            "run",
            &file,
            "--plain",
            "--repos-root",
            repos.to_str().unwrap(),
        ];
        let mut times = Vec::new();
        for _ in 0..ROUNDS {
            // SAFETY: as above.
            unsafe { libc::sync() };
            let started = Instant::now();
            sandpipe(root, &args);
            times.push(format!("{:.2} s", started.elapsed().as_secs_f64()));
        }
        println!(
            "sandpipe run, {format} source + S3 upload of the artifact: {} (peak RSS of the \
             largest run so far {:.0} MiB)",
            times.join(", "),
            children_peak_rss_mib()
        );
    }
}
