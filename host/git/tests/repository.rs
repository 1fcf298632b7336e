//! Repositories made by the real `git` command, read back through sandpipe-git.

use std::path::{Path, PathBuf};

use cap_std::fs::Dir;
use sandpipe_git::test_support::{GitDaemon, git};
use sandpipe_git::{
    CloneContent, CloneRequest, ExportLimits, Location, Repository, inspect_worktree,
    snapshot_worktree,
};

/// A repository with two commits on `main` and one on `feature`, an executable, and a link
/// pointing outside the repository.
fn repository(root: &Path) -> (PathBuf, String, String) {
    let repo = root.join("app");
    std::fs::create_dir_all(repo.join("src")).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    std::fs::write(repo.join("README.md"), "hello\n").unwrap();
    std::fs::write(repo.join("src/run.sh"), "#!/bin/sh\necho run\n").unwrap();
    std::fs::set_permissions(
        repo.join("src/run.sh"),
        <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
    )
    .unwrap();
    std::os::unix::fs::symlink("/etc/passwd", repo.join("passwd")).unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "first"]);
    let first = git(&repo, &["rev-parse", "HEAD"]);
    std::fs::write(repo.join("src/lib.txt"), "lib\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "Add lib\n\nWith a body."]);
    let second = git(&repo, &["rev-parse", "HEAD"]);
    git(&repo, &["checkout", "-q", "-b", "feature"]);
    std::fs::write(repo.join("feature.txt"), "f\n").unwrap();
    git(&repo, &["add", "-A"]);
    git(&repo, &["commit", "-q", "-m", "feature"]);
    git(&repo, &["checkout", "-q", "main"]);
    git(&repo, &["tag", "v1", &first]);
    (repo, first, second)
}

fn open_dir(path: &Path) -> Dir {
    std::fs::create_dir_all(path).unwrap();
    Dir::open_ambient_dir(path, cap_std::ambient_authority()).unwrap()
}

#[test]
fn resolves_branches_tags_and_commits() {
    let scratch = tempfile::tempdir().unwrap();
    let (path, first, second) = repository(scratch.path());
    let repo = Repository::open(&Location::Local(path.clone()), scratch.path(), None).unwrap();
    let main = repo.resolve("main").unwrap();
    assert_eq!(main.commit.id, second);
    assert_eq!(main.reference.as_deref(), Some("refs/heads/main"));
    assert_eq!(main.commit.message, "Add lib\n\nWith a body.\n");
    assert_eq!(main.commit.author_name, "Ada Lovelace");
    assert_eq!(main.commit.author_time, 1_714_557_600);
    assert_eq!(
        sandpipe_git::iso8601(main.commit.author_time),
        "2024-05-01T10:00:00Z"
    );
    assert_eq!(repo.resolve("v1").unwrap().commit.id, first);
    assert_eq!(repo.resolve(&first[..10]).unwrap().commit.id, first);
    let missing = repo.resolve("nope").unwrap_err().to_string();
    assert_eq!(
        missing,
        format!("no branch, tag or commit 'nope' in {}", path.display())
    );
    let refs = repo.refs().unwrap();
    assert_eq!(refs["refs/heads/main"], second);
    assert_eq!(refs["refs/tags/v1"], first);
    assert!(refs.contains_key("refs/heads/feature"));
    assert_eq!(
        repo.changed_paths(Some(&first), &second).unwrap(),
        vec!["src/lib.txt"]
    );
    assert_eq!(
        repo.changed_paths(None, &first).unwrap(),
        vec!["README.md", "passwd", "src/run.sh"]
    );

    let not_a_repo = Repository::open(
        &Location::Local(scratch.path().join("nowhere")),
        scratch.path(),
        None,
    );
    assert!(not_a_repo.is_err());
}

#[test]
fn exports_the_tree_without_git_and_keeps_links_as_links() {
    let scratch = tempfile::tempdir().unwrap();
    let (path, _, second) = repository(scratch.path());
    let repo = Repository::open(&Location::Local(path), scratch.path(), None).unwrap();
    let out = scratch.path().join("out");
    let summary = repo
        .export_tree(&second, &open_dir(&out), &ExportLimits::default())
        .unwrap();
    assert_eq!(
        (summary.files, summary.symlinks, summary.directories),
        (3, 1, 1)
    );
    assert!(!out.join(".git").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("src/lib.txt")).unwrap(),
        "lib\n"
    );
    let mode = std::os::unix::fs::PermissionsExt::mode(
        &std::fs::metadata(out.join("src/run.sh"))
            .unwrap()
            .permissions(),
    );
    assert_eq!(mode & 0o111, 0o111);
    let link = out.join("passwd");
    assert!(link.is_symlink());
    assert_eq!(std::fs::read_link(&link).unwrap(), Path::new("/etc/passwd"));
    assert!(!out.join("feature.txt").exists());

    let small = ExportLimits {
        max_bytes: 5,
        ..ExportLimits::default()
    };
    let error = repo
        .export_tree(&second, &open_dir(&scratch.path().join("small")), &small)
        .unwrap_err();
    assert_eq!(error.to_string(), "the tree holds more than 5 bytes");
}

#[test]
fn a_clone_has_history_for_git_log() {
    let scratch = tempfile::tempdir().unwrap();
    let (path, first, second) = repository(scratch.path());
    let repo = Repository::open(&Location::Local(path.clone()), scratch.path(), None).unwrap();
    let out = scratch.path().join("clone");
    let summary = repo
        .clone_into(
            &full("main", &second, Some("refs/heads/main")),
            scratch.path(),
            &open_dir(&out),
            &ExportLimits::default(),
        )
        .unwrap();
    assert!(summary.files > 3);
    assert!(summary.directories > 1, "src/ and .git/ at least");
    assert_eq!(
        git(&out, &["log", "--format=%H %s"]),
        format!("{second} Add lib\n{first} first")
    );
    assert_eq!(git(&out, &["rev-parse", "--abbrev-ref", "HEAD"]), "main");
    assert_eq!(git(&out, &["status", "--porcelain"]), "");
    assert_eq!(git(&out, &["describe", "--tags", &first]), "v1");
    assert_eq!(
        git(&out, &["remote", "get-url", "origin"]),
        path.display().to_string()
    );
    assert!(git(&out, &["branch", "-r"]).contains("origin/feature"));
    // The clone is pinned: an older commit can be checked out as the branch.
    let pinned = scratch.path().join("pinned");
    repo.clone_into(
        &full("main", &first, None),
        scratch.path(),
        &open_dir(&pinned),
        &ExportLimits::default(),
    )
    .unwrap();
    assert_eq!(git(&pinned, &["rev-parse", "HEAD"]), first);
    assert!(!pinned.join("src/lib.txt").exists());
}

fn full<'a>(branch: &'a str, commit: &'a str, reference: Option<&'a str>) -> CloneRequest<'a> {
    CloneRequest {
        branch,
        commit,
        reference,
        content: CloneContent::Full,
    }
}

/// The zip sandpipe would store for a directory.
fn packed_digest(dir: &Path) -> String {
    let mut zip = std::io::Cursor::new(Vec::new());
    sandpipe_store::archive::pack_dir(
        &Dir::open_ambient_dir(dir, cap_std::ambient_authority()).unwrap(),
        &mut zip,
        &sandpipe_store::archive::Limits::default(),
    )
    .unwrap();
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(zip.into_inner()))
}

#[test]
fn clones_of_the_same_commit_are_byte_identical_artifacts() {
    let scratch = tempfile::tempdir().unwrap();
    let (path, _, second) = repository(scratch.path());
    let repo = Repository::open(&Location::Local(path), scratch.path(), None).unwrap();
    let mut digests = Vec::new();
    for name in ["one", "two"] {
        let out = scratch.path().join(name);
        repo.clone_into(
            &full("main", &second, None),
            scratch.path(),
            &open_dir(&out),
            &ExportLimits::default(),
        )
        .unwrap();
        assert!(!out.join(".git/logs").exists());
        assert!(!out.join(".git/FETCH_HEAD").exists());
        digests.push(packed_digest(&out));
        std::thread::sleep(std::time::Duration::from_millis(1100));
    }
    assert_eq!(digests[0], digests[1]);

    let tiny = ExportLimits {
        max_bytes: 100,
        ..ExportLimits::default()
    };
    let error = repo
        .clone_into(
            &full("main", &second, None),
            scratch.path(),
            &open_dir(&scratch.path().join("tiny")),
            &tiny,
        )
        .unwrap_err()
        .to_string();
    assert!(error.ends_with("more than the 100 allowed"), "{error}");
}

#[test]
fn a_subdirectory_is_dirty_only_when_its_own_files_changed() {
    let scratch = tempfile::tempdir().unwrap();
    let (path, _, _) = repository(scratch.path());
    std::fs::write(path.join("README.md"), "changed at the top\n").unwrap();
    let info = inspect_worktree(&path.join("src")).unwrap();
    assert!(!info.dirty, "src/ has no changes of its own");
    assert_eq!(info.top.as_deref(), Some(path.join("").as_path()));
    std::fs::write(path.join("src/new.txt"), "new\n").unwrap();
    assert!(inspect_worktree(&path.join("src")).unwrap().dirty);
    assert!(inspect_worktree(&path).unwrap().dirty);
}

#[test]
fn a_working_tree_over_its_clone_shows_the_uncommitted_changes() {
    let scratch = tempfile::tempdir().unwrap();
    let (path, _, second) = repository(scratch.path());
    std::fs::write(path.join("README.md"), "changed\n").unwrap();
    std::fs::write(path.join("new.txt"), "new\n").unwrap();
    let info = inspect_worktree(&path).unwrap();
    assert_eq!(info.head.as_ref().unwrap().id, second);
    assert_eq!(info.top.as_deref(), Some(path.join("").as_path()));
    let repo = Repository::open(&Location::Local(path.clone()), scratch.path(), None).unwrap();
    let out = scratch.path().join("both");
    let into = open_dir(&out);
    repo.clone_into(
        &CloneRequest {
            content: CloneContent::GitDirOnly,
            ..full("main", &second, None)
        },
        scratch.path(),
        &into,
        &ExportLimits::default(),
    )
    .unwrap();
    assert!(!out.join("src").exists(), "only .git is copied");
    snapshot_worktree(&path, &into, &[], &ExportLimits::default()).unwrap();
    assert_eq!(
        git(&out, &["status", "--porcelain"]),
        "M README.md\n?? new.txt"
    );
}

#[test]
fn remote_repositories_are_fetched_into_a_mirror() {
    let scratch = tempfile::tempdir().unwrap();
    let (path, first, second) = repository(scratch.path());
    let served = scratch.path().join("served");
    std::fs::create_dir(&served).unwrap();
    git(
        &served,
        &["clone", "-q", "--bare", path.to_str().unwrap(), "app.git"],
    );
    let daemon = GitDaemon::serve(&served);
    let url = format!("git://127.0.0.1:{}/app.git", daemon.port);
    let mirrors = scratch.path().join("mirrors");
    let location = Location::parse(&url, scratch.path()).unwrap();
    let repo = Repository::open(&location, &mirrors, None).unwrap();
    assert_eq!(repo.resolve("main").unwrap().commit.id, second);
    assert_eq!(repo.resolve("v1").unwrap().commit.id, first);
    assert!(repo.git_dir().starts_with(&mirrors));

    // A new commit upstream is seen on the next open (the mirror is fetched again).
    git(&path, &["commit", "-q", "--allow-empty", "-m", "third"]);
    let third = git(&path, &["rev-parse", "HEAD"]);
    git(
        &served.join("app.git"),
        &["fetch", "-q", path.to_str().unwrap(), "+main:main"],
    );
    let repo = Repository::open(&location, &mirrors, None).unwrap();
    assert_eq!(repo.resolve("main").unwrap().commit.id, third);

    // A clone made from the mirror points origin at the real URL.
    let out = scratch.path().join("clone");
    repo.clone_into(
        &full("main", &third, None),
        scratch.path(),
        &open_dir(&out),
        &ExportLimits::default(),
    )
    .unwrap();
    assert_eq!(git(&out, &["remote", "get-url", "origin"]), url);

    let gone = Location::parse(
        &format!("git://127.0.0.1:{}/missing.git", daemon.port),
        scratch.path(),
    )
    .unwrap();
    let error = Repository::open(&gone, &mirrors, None)
        .err()
        .unwrap()
        .to_string();
    assert!(error.starts_with("fetching git://127.0.0.1:"), "{error}");
}

#[test]
fn a_working_tree_snapshot_includes_changes_and_respects_gitignore() {
    let scratch = tempfile::tempdir().unwrap();
    let (path, _, second) = repository(scratch.path());
    std::fs::write(path.join(".gitignore"), "build/\n*.log\n").unwrap();
    std::fs::create_dir_all(path.join("build")).unwrap();
    std::fs::write(path.join("build/out.bin"), "x").unwrap();
    std::fs::write(path.join("debug.log"), "x").unwrap();
    std::fs::write(path.join("README.md"), "changed, not committed\n").unwrap();
    std::fs::write(path.join("new.txt"), "untracked\n").unwrap();

    // sandpipe's state directory inside the tree is never part of it.
    std::fs::create_dir_all(path.join(".sandpipe/work")).unwrap();
    std::fs::write(path.join(".sandpipe/state.db"), "x").unwrap();
    let exclude = [path.join(".sandpipe")];
    let out = scratch.path().join("snap");
    let snapshot =
        snapshot_worktree(&path, &open_dir(&out), &exclude, &ExportLimits::default()).unwrap();
    assert!(!out.join(".sandpipe").exists());
    assert_eq!(
        std::fs::read_to_string(out.join("README.md")).unwrap(),
        "changed, not committed\n"
    );
    assert!(out.join("new.txt").exists());
    assert!(out.join(".gitignore").exists());
    assert!(!out.join("build").exists());
    assert!(!out.join("debug.log").exists());
    assert!(!out.join(".git").exists());
    assert!(out.join("passwd").is_symlink());
    assert_eq!(
        std::fs::read_link(out.join("passwd")).unwrap(),
        Path::new("/etc/passwd")
    );
    let info = inspect_worktree(&path).unwrap();
    assert_eq!(info.head.as_ref().unwrap().id, second);
    assert_eq!(info.branch.as_deref(), Some("main"));
    assert!(info.dirty);
    assert!(snapshot.digest.starts_with("sha256:"));

    let again = snapshot_worktree(
        &path,
        &open_dir(&scratch.path().join("snap2")),
        &exclude,
        &ExportLimits::default(),
    )
    .unwrap();
    assert_eq!(again.digest, snapshot.digest);
    std::fs::write(path.join("new.txt"), "edited\n").unwrap();
    let edited = snapshot_worktree(
        &path,
        &open_dir(&scratch.path().join("snap3")),
        &exclude,
        &ExportLimits::default(),
    )
    .unwrap();
    assert_ne!(edited.digest, snapshot.digest);
}
