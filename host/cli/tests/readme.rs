//! README's quickstart, run as a reader would: the shell block after the `quickstart` marker,
//! in an empty directory outside the clone, with `sandpipe` found on the PATH. A change that
//! breaks the first thing a new user types fails here.

use std::path::Path;
use std::process::Command;

/// The first ```sh block after the marker.
fn quickstart(readme: &str) -> String {
    let after = readme
        .split_once("<!-- quickstart")
        .expect("README has a quickstart marker")
        .1;
    let block = after.split_once("```sh\n").expect("a sh block follows").1;
    block
        .split_once("\n```")
        .expect("the block ends")
        .0
        .to_string()
}

#[test]
fn the_quickstart_runs_outside_the_clone() {
    let readme =
        std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("../../README.md"))
            .unwrap();
    let script = quickstart(&readme);
    assert!(script.contains("sandpipe run"), "{script}");
    let dir = tempfile::tempdir().unwrap();
    let bin = Path::new(env!("CARGO_BIN_EXE_sandpipe")).parent().unwrap();
    let path = format!(
        "{}:{}",
        bin.display(),
        std::env::var("PATH").unwrap_or_default()
    );
    let output = Command::new("bash")
        .args(["-euo", "pipefail", "-c", &script])
        .current_dir(dir.path())
        .env("PATH", path)
        .env_remove("SANDPIPE_STATE_DIR")
        .env_remove("SANDPIPE_BUILD_RUNNER")
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("<h1>hello, built</h1>"), "{stdout}");
    assert!(stdout.contains("of pipeline hello: Succeeded"), "{stdout}");
    // The run said where build commands ran.
    assert!(
        stderr.contains("build commands run on this machine, outside the wasm sandbox"),
        "{stderr}"
    );
    assert!(dir.path().join("hello/.sandpipe").is_dir());
}
