//! A working tree as a source (`sandpipe run --source Action=dir`): the files as they are now,
//! uncommitted changes included, minus what `.gitignore` (and `.git/info/exclude`) leave out,
//! with a digest of the content as the revision.

use std::io::{Read, Write};
use std::path::{Path, PathBuf};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};
use sha2::{Digest, Sha256};

use crate::repository::commit_info;
use crate::{CommitInfo, ExportLimits, GitError};

/// The git state of a working tree.
#[derive(Debug, Clone, Default)]
pub struct WorktreeInfo {
    /// The commit checked out in the enclosing repository, if there is one.
    pub head: Option<CommitInfo>,
    /// The branch checked out, if any.
    pub branch: Option<String>,
    /// Whether the files differ from that commit (changes, or files git does not track).
    pub dirty: bool,
    /// The enclosing repository's top directory.
    pub top: Option<PathBuf>,
}

/// What a snapshot copied.
#[derive(Debug, Clone)]
pub struct WorktreeSnapshot {
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// `sha256:<hex>` over every path, mode, link target and file content, in path order:
    /// the same files give the same digest wherever and whenever they are copied.
    pub digest: String,
}

/// The top directory of the repository `dir` is in, if it is in one. Cheap: no status.
pub fn repository_top(dir: &Path) -> Option<PathBuf> {
    git2::Repository::discover(dir)
        .ok()?
        .workdir()
        .map(Path::to_path_buf)
}

/// The git state of `dir`: the repository it is in, its HEAD and branch, and whether the
/// files differ from HEAD. A directory outside any repository has none of them.
pub fn inspect_worktree(dir: &Path) -> Result<WorktreeInfo, GitError> {
    if !dir.is_dir() {
        return Err(GitError::NoRepository(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let mut info = WorktreeInfo::default();
    let Ok(repo) = git2::Repository::discover(dir) else {
        return Ok(info);
    };
    info.top = repo.workdir().map(Path::to_path_buf);
    if let Ok(head) = repo.head() {
        if let Ok(commit) = head.peel_to_commit() {
            info.head = Some(commit_info(&commit));
        }
        if head.is_branch() {
            info.branch = head.shorthand().ok().map(str::to_string);
        }
    }
    let mut options = git2::StatusOptions::new();
    options.include_untracked(true).include_ignored(false);
    // Only changes below `dir` count, when it is a directory inside the repository.
    let below = info.top.as_deref().and_then(|top| {
        let dir = dir.canonicalize().ok()?;
        let top = top.canonicalize().ok()?;
        let relative = dir.strip_prefix(top).ok()?.to_str()?.to_string();
        (!relative.is_empty()).then_some(relative)
    });
    if let Some(relative) = &below {
        options.pathspec(format!("{relative}/"));
    }
    info.dirty = repo
        .statuses(Some(&mut options))
        .map(|statuses| !statuses.is_empty())
        .unwrap_or(false);
    Ok(info)
}

/// Copy the files of `dir` into `into`, leaving out `.git`, ignored files and the
/// directories in `exclude` (sandpipe's own state directory, when it lies inside).
pub fn snapshot_worktree(
    dir: &Path,
    into: &Dir,
    exclude: &[PathBuf],
    limits: &ExportLimits,
) -> Result<WorktreeSnapshot, GitError> {
    if !dir.is_dir() {
        return Err(GitError::NoRepository(format!(
            "{} is not a directory",
            dir.display()
        )));
    }
    let dir = dir.canonicalize().map_err(GitError::io(dir.display()))?;
    let exclude: Vec<PathBuf> = exclude
        .iter()
        .filter_map(|path| path.canonicalize().ok())
        .collect();
    let source = Dir::open_ambient_dir(&dir, cap_std::ambient_authority())
        .map_err(GitError::io(dir.display()))?;
    let walk = ignore::WalkBuilder::new(&dir)
        .hidden(false)
        .ignore(false)
        .git_global(false)
        .git_ignore(true)
        .git_exclude(true)
        .require_git(false)
        .parents(true)
        .follow_links(false)
        .sort_by_file_name(|a, b| a.cmp(b))
        .filter_entry(move |entry| {
            entry.file_name() != ".git" && !exclude.iter().any(|e| e == entry.path())
        })
        .build();
    let mut hasher = Sha256::new();
    let mut snapshot = WorktreeSnapshot {
        files: 0,
        directories: 0,
        symlinks: 0,
        bytes: 0,
        digest: String::new(),
    };
    let mut buffer = vec![0u8; 128 * 1024];
    for entry in walk {
        let entry = entry.map_err(|e| GitError::Io(e.to_string()))?;
        let relative = entry
            .path()
            .strip_prefix(&dir)
            .map_err(|e| GitError::Io(e.to_string()))?;
        if relative.as_os_str().is_empty() {
            continue;
        }
        let name = relative.to_str().ok_or_else(|| {
            GitError::Invalid(format!(
                "'{}' has a name that is not UTF-8",
                relative.display()
            ))
        })?;
        if snapshot.files + snapshot.directories + snapshot.symlinks >= limits.max_entries {
            return Err(GitError::Limit(format!(
                "the working tree has more than {} files and directories",
                limits.max_entries
            )));
        }
        let Some(file_type) = entry.file_type() else {
            continue;
        };
        if file_type.is_dir() {
            into.create_dir_all(relative)
                .map_err(GitError::io(format!("creating '{name}'")))?;
            snapshot.directories += 1;
        } else if file_type.is_symlink() {
            let target = source
                .read_link_contents(relative)
                .map_err(GitError::io(format!("reading link '{name}'")))?;
            remove_existing(into, relative, name)?;
            into.symlink_contents(&target, relative)
                .map_err(GitError::io(format!("creating link '{name}'")))?;
            hasher.update(format!("L {name}\0{}\n", target.display()));
            snapshot.symlinks += 1;
        } else if file_type.is_file() {
            let mut reader = source
                .open_with(
                    relative,
                    OpenOptions::new().read(true).follow(FollowSymlinks::No),
                )
                .map_err(GitError::io(format!("reading '{name}'")))?;
            let executable = reader
                .metadata()
                .map_err(GitError::io(format!("reading '{name}'")))?
                .permissions()
                .mode()
                & 0o111
                != 0;
            remove_existing(into, relative, name)?;
            let mut writer = sandpipe_store::archive::create_file(into, relative)
                .map_err(GitError::io(format!("writing '{name}'")))?;
            let mut content = Sha256::new();
            loop {
                let read = reader
                    .read(&mut buffer)
                    .map_err(GitError::io(format!("reading '{name}'")))?;
                if read == 0 {
                    break;
                }
                snapshot.bytes += read as u64;
                if snapshot.bytes > limits.max_bytes {
                    return Err(GitError::Limit(format!(
                        "the working tree holds more than {} bytes",
                        limits.max_bytes
                    )));
                }
                content.update(&buffer[..read]);
                writer
                    .write_all(&buffer[..read])
                    .map_err(GitError::io(format!("writing '{name}'")))?;
            }
            if executable {
                writer
                    .set_permissions(Permissions::from_mode(0o755))
                    .map_err(GitError::io(format!("writing '{name}'")))?;
            }
            let mode = if executable { "755" } else { "644" };
            hasher.update(format!(
                "F {name}\0{mode}\0{}\n",
                hex::encode(content.finalize())
            ));
            snapshot.files += 1;
        }
    }
    snapshot.digest = format!("sha256:{}", hex::encode(hasher.finalize()));
    Ok(snapshot)
}

/// Clear the way for a file or link at `relative` (something may already be there when the
/// snapshot lands over a clone's files), never writing through a link.
fn remove_existing(into: &Dir, relative: &Path, name: &str) -> Result<(), GitError> {
    match into.symlink_metadata(relative) {
        Ok(existing) if existing.is_dir() => Err(GitError::Invalid(format!(
            "'{name}' is a directory where the working tree has a file"
        ))),
        Ok(_) => into
            .remove_file(relative)
            .map_err(GitError::io(format!("replacing '{name}'"))),
        Err(_) => Ok(()),
    }
}
