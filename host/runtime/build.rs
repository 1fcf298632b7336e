//! Builds the `actions/` workspace for wasm32-wasip2 so that the built-in providers can be
//! embedded in the binary and a fresh clone needs no manual step before `cargo run`.
//!
//! The actions are their own workspace (own target, profile and lockfile), built into
//! `<target>/wasm-actions`, so the nested cargo never contends for the outer build's lock.

use std::env;
use std::path::{Path, PathBuf};
use std::process::Command;

const TARGET: &str = "wasm32-wasip2";
/// Providers embedded in the host, and the test-only probe whose path tests use.
const COMPONENTS: &[(&str, &str)] = &[
    ("S3_SOURCE", "sandpipe_action_s3_source"),
    ("S3_DEPLOY", "sandpipe_action_s3_deploy"),
    ("CODEBUILD", "sandpipe_action_codebuild"),
    ("GIT_SOURCE", "sandpipe_action_git_source"),
    ("PROBE", "sandpipe_action_probe"),
];

fn main() {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR").unwrap());
    let workspace = manifest_dir.join("../..").canonicalize().unwrap();
    let actions = workspace.join("actions");
    let out_dir = PathBuf::from(env::var("OUT_DIR").unwrap());
    let target_dir = cargo_target_dir(&out_dir).join("wasm-actions");

    for watched in ["actions", "wit"] {
        watch(&workspace.join(watched));
    }

    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    ensure_target_installed();
    let mut build = Command::new(&cargo);
    build
        .current_dir(&actions)
        .args(["build", "--release", "--locked", "--target", TARGET])
        .arg("--target-dir")
        .arg(&target_dir);
    // The outer build's flags are for the host; the guests must not inherit them.
    for (key, _) in env::vars() {
        let host_only = matches!(
            key.as_str(),
            "RUSTFLAGS" | "RUSTC_WRAPPER" | "RUSTC_WORKSPACE_WRAPPER"
        );
        if host_only || (key.starts_with("CARGO_") && key != "CARGO_HOME") {
            build.env_remove(key);
        }
    }
    let status = build
        .status()
        .unwrap_or_else(|e| panic!("running {cargo}: {e}"));
    if !status.success() {
        panic!(
            "building the wasm action providers in {} failed (see the output above)",
            actions.display()
        );
    }

    let release = target_dir.join(TARGET).join("release");
    for (name, crate_name) in COMPONENTS {
        let wasm = release.join(format!("{crate_name}.wasm"));
        assert!(wasm.exists(), "{} was not built", wasm.display());
        println!(
            "cargo:rustc-env=SANDPIPE_COMPONENT_{name}={}",
            wasm.display()
        );
    }
}

/// `<target>` from `<target>/[<triple>/]<profile>/build/<pkg>-<hash>/out`.
fn cargo_target_dir(out_dir: &Path) -> PathBuf {
    let build = out_dir
        .ancestors()
        .find(|p| p.file_name().is_some_and(|n| n == "build"))
        .expect("OUT_DIR is inside a cargo target directory");
    let profile = build.parent().unwrap();
    profile.parent().unwrap().to_path_buf()
}

/// rust-toolchain.toml lists the target, but rustup only installs it on its own when
/// auto-install is on; do what it would do, or say clearly what is missing.
fn ensure_target_installed() {
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".into());
    let sysroot = Command::new(&rustc)
        .args(["--print", "sysroot"])
        .output()
        .ok()
        .map(|o| PathBuf::from(String::from_utf8_lossy(&o.stdout).trim()));
    let installed = sysroot.is_some_and(|root| root.join("lib/rustlib").join(TARGET).exists());
    if installed {
        return;
    }
    let added = Command::new("rustup")
        .args(["target", "add", TARGET])
        .status()
        .is_ok_and(|s| s.success());
    if !added {
        panic!(
            "the Rust target {TARGET} is not installed and `rustup target add {TARGET}` failed; \
             install it (or see ../shared/tools/install-wasm-guest-toolchain.sh) and build again"
        );
    }
}

fn watch(dir: &Path) {
    let Ok(entries) = std::fs::read_dir(dir) else {
        return;
    };
    for entry in entries.flatten() {
        let path = entry.path();
        if path.file_name().is_some_and(|n| n == "target") {
            continue;
        }
        if path.is_dir() {
            watch(&path);
        } else {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
}
