//! Helpers for tests that need real repositories: the real `git` with a fixed identity and
//! fixed dates (so commits are reproducible), and a `git daemon` serving repositories on a
//! loopback port. Used by this crate's tests and by the CLI's end-to-end tests.

use std::os::unix::process::CommandExt;
use std::path::Path;
use std::process::{Child, Command, Stdio};

/// Run `git` in `dir`; returns its trimmed stdout. Panics when git fails.
pub fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_AUTHOR_NAME", "Ada Lovelace")
        .env("GIT_AUTHOR_EMAIL", "ada@example.com")
        .env("GIT_AUTHOR_DATE", "2024-05-01T12:00:00+02:00")
        .env("GIT_COMMITTER_NAME", "Bob")
        .env("GIT_COMMITTER_EMAIL", "bob@example.com")
        .env("GIT_COMMITTER_DATE", "2024-05-02T08:30:00+00:00")
        .output()
        .expect("running git");
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8_lossy(&output.stdout).trim().to_string()
}

/// A new repository at `dir` on branch `main` holding `files`, committed with `message`;
/// returns the commit id.
pub fn git_repository(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    std::fs::create_dir_all(dir).expect("creating the repository directory");
    git(dir, &["init", "-q", "-b", "main"]);
    git_commit(dir, files, message)
}

/// Write `files` into the repository at `dir` and commit everything; returns the commit id.
pub fn git_commit(dir: &Path, files: &[(&str, &str)], message: &str) -> String {
    for (name, content) in files {
        let path = dir.join(name);
        std::fs::create_dir_all(path.parent().expect("files live in a directory"))
            .expect("creating a directory");
        std::fs::write(path, content).expect("writing a file");
    }
    git(dir, &["add", "-A"]);
    git(dir, &["commit", "-q", "--allow-empty", "-m", message]);
    git(dir, &["rev-parse", "HEAD"])
}

/// `git daemon` serving the repositories below `base` on a free loopback port; stopped on
/// drop.
pub struct GitDaemon {
    child: Child,
    pub port: u16,
}

impl GitDaemon {
    pub fn serve(base: &Path) -> GitDaemon {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("finding a free port")
            .port();
        let child = Command::new("git")
            .args([
                "daemon",
                "--reuseaddr",
                "--export-all",
                "--listen=127.0.0.1",
                &format!("--port={port}"),
                &format!("--base-path={}", base.display()),
                &base.display().to_string(),
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            // `git daemon` runs `git-daemon` as a child: one group, stopped together.
            .process_group(0)
            .spawn()
            .expect("starting git daemon");
        let mut daemon = GitDaemon { child, port };
        for _ in 0..100 {
            if std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() {
                return daemon;
            }
            std::thread::sleep(std::time::Duration::from_millis(50));
        }
        daemon.stop();
        panic!("git daemon did not start");
    }

    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", "--", &format!("-{}", self.child.id())])
            .status();
        let _ = self.child.wait();
    }
}

impl Drop for GitDaemon {
    fn drop(&mut self) {
        self.stop();
    }
}
