//! Helpers shared by the end-to-end tests: a workspace with its own state directory, and
//! the `sandpipe` binary run in it.
#![allow(dead_code)]

pub mod aws;
pub mod browser;
pub mod pipelines;
pub mod reproduce;
pub mod serve;
pub mod toolchains;

use std::io::Write;
use std::path::PathBuf;
use std::process::{Command, Output};

pub struct Workspace {
    pub dir: tempfile::TempDir,
}

impl Workspace {
    pub fn new() -> Self {
        Workspace {
            dir: tempfile::tempdir().unwrap(),
        }
    }

    pub fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    pub fn write(&self, name: &str, content: impl AsRef<[u8]>) -> PathBuf {
        let path = self.path(name);
        std::fs::write(&path, content).unwrap();
        path
    }

    /// Run sandpipe in this workspace (its default state dir is `./.sandpipe`).
    pub fn sandpipe(&self, args: &[&str]) -> Output {
        self.sandpipe_with(args, &[])
    }

    /// [`Workspace::sandpipe`] with more environment.
    pub fn sandpipe_with(&self, args: &[&str], env: &[(&str, &str)]) -> Output {
        Command::new(env!("CARGO_BIN_EXE_sandpipe"))
            .args(args)
            .current_dir(self.dir.path())
            .env_remove("SANDPIPE_STATE_DIR")
            // The user's own plugins (~/.config/sandpipe/actions) are not the test's.
            .env("XDG_CONFIG_HOME", self.dir.path().join(".config"))
            .envs(env.iter().copied())
            // Output as it is off a terminal: no colour, tables not wrapped.
            .env_remove("CLICOLOR_FORCE")
            .env_remove("COLUMNS")
            .output()
            .unwrap()
    }

    pub fn ok(&self, args: &[&str]) -> String {
        let output = self.sandpipe(args);
        assert!(
            output.status.success(),
            "sandpipe {args:?} failed:\n{}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8(output.stdout).unwrap()
    }

    pub fn fails(&self, args: &[&str]) -> String {
        let output = self.sandpipe(args);
        assert!(
            !output.status.success(),
            "sandpipe {args:?} succeeded but should have failed:\n{}",
            String::from_utf8_lossy(&output.stdout)
        );
        format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    }

    /// The seed tutorial's buckets: a versioned source bucket, a target and an artifact store.
    pub fn tutorial_buckets(&self) {
        self.versioned_bucket("source-bucket");
        self.ok(&["s3", "mb", "s3://target-bucket"]);
        self.ok(&["s3", "mb", "s3://artifact-store-bucket"]);
    }

    /// The tutorial's buckets, with a one-file `src.zip` in the source bucket.
    pub fn tutorial_buckets_with_source(&self) {
        self.tutorial_buckets();
        self.write("src.zip", zip_of(&[("a.txt", "a")]));
        self.ok(&["s3", "cp", "src.zip", "s3://source-bucket/src.zip"]);
    }

    /// Make bucket `name` with versioning enabled (S3 sources need it).
    pub fn versioned_bucket(&self, name: &str) {
        self.ok(&["s3", "mb", &format!("s3://{name}")]);
        self.ok(&[
            "s3api",
            "put-bucket-versioning",
            "--bucket",
            name,
            "--versioning-configuration",
            "Status=Enabled",
        ]);
    }

    pub fn get(&self, url: &str) -> Vec<u8> {
        let output = self.sandpipe(&["s3", "cp", url, "-"]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        output.stdout
    }

    pub fn list(&self, url: &str) -> String {
        self.ok(&["s3", "ls", url, "--recursive"])
    }

    /// Every execution's record, oldest first, as `sandpipe executions show --json` gives it.
    pub fn records(&self) -> Vec<serde_json::Value> {
        // A refused first run makes no state directory, so nothing can have run.
        if !self.path(".sandpipe").exists() {
            return Vec::new();
        }
        let list: Vec<serde_json::Value> =
            serde_json::from_str(&self.ok(&["executions", "list", "--json", "--limit", "1000"]))
                .unwrap();
        list.iter()
            .rev()
            .map(|e| {
                let id = e["pipelineExecutionId"].as_str().unwrap();
                serde_json::from_str(&self.ok(&["executions", "show", id, "--json"])).unwrap()
            })
            .collect()
    }
}

/// A zip holding `files` (name, content).
pub fn zip_of(files: &[(&str, &str)]) -> Vec<u8> {
    let mut zip = zip::ZipWriter::new(std::io::Cursor::new(Vec::new()));
    for (name, content) in files {
        zip.start_file(*name, zip::write::SimpleFileOptions::default())
            .unwrap();
        zip.write_all(content.as_bytes()).unwrap();
    }
    zip.finish().unwrap().into_inner()
}

#[allow(unused_imports)]
pub use sandpipe_git::test_support::{GitDaemon, git, git_commit, git_repository};

/// Every regular file below `dir`, leaving out directories named in `skip`.
pub fn files_below(dir: &std::path::Path, skip: &[&str]) -> Vec<PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        let kind = entry.file_type().unwrap();
        if kind.is_dir() {
            if !skip.iter().any(|name| path.ends_with(name)) {
                files.extend(files_below(&path, skip));
            }
        } else if kind.is_file() {
            files.push(path);
        }
    }
    files.sort();
    files
}
