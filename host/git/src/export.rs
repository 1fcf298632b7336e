//! Writing a commit's tree (CODE_ZIP) or a clone with history (CODEBUILD_CLONE_REF) into a
//! directory the host opened with cap-std.

use std::io::Write;
use std::path::Path;

use cap_fs_ext::DirExt;
use cap_std::fs::{Dir, Permissions, PermissionsExt};

use crate::{ExportLimits, GitError, Repository};

/// What an export wrote.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct ExportSummary {
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub bytes: u64,
    /// Submodule paths: a tree export does not include them (as on CodePipeline).
    pub submodules: Vec<String>,
}

const FILE_MODE_EXECUTABLE: i32 = 0o100755;
const FILE_MODE_LINK: i32 = 0o120000;
const FILE_MODE_SUBMODULE: i32 = 0o160000;

impl Repository {
    /// Write the tree of `commit` into `into` (no `.git`): files with their executable bit,
    /// symbolic links as links holding their text. Entry names a checkout must never write
    /// (`.git`, `..`, names with `/`) are refused.
    pub fn export_tree(
        &self,
        commit: &str,
        into: &Dir,
        limits: &ExportLimits,
    ) -> Result<ExportSummary, GitError> {
        let repo = self.raw();
        let oid = git2::Oid::from_str(commit).map_err(|e| GitError::Invalid(e.to_string()))?;
        let tree = repo
            .find_commit(oid)
            .map_err(|_| GitError::NotFound(format!("no commit {commit}")))?
            .tree()?;
        let mut summary = ExportSummary::default();
        write_tree(repo, &tree, into, "", limits, &mut summary)?;
        Ok(summary)
    }

    /// Write a clone of this repository into `into`: `.git` with every branch and tag and
    /// their history, the request's branch checked out at its commit, and `origin` set to the
    /// repository's location, so `git log`, `git describe` and `git diff` work in a later
    /// build. The clone is made in a private directory under `scratch`, made reproducible (no
    /// reflogs, no FETCH_HEAD, no file times or inode numbers in the index), and then copied
    /// in without following any link.
    pub fn clone_into(
        &self,
        request: &CloneRequest<'_>,
        scratch: &Path,
        into: &Dir,
        limits: &ExportLimits,
    ) -> Result<ExportSummary, GitError> {
        let private = tempfile::Builder::new()
            .prefix(".git-clone-")
            .tempdir_in(scratch)
            .map_err(GitError::io("creating a directory for the clone"))?;
        let path = private.path().join("repo");
        self.make_clone(request, &path)?;
        let size = tree_size(&path).map_err(GitError::io("measuring the clone"))?;
        if size > limits.max_bytes {
            return Err(GitError::Limit(format!(
                "the clone holds {size} bytes, more than the {} allowed",
                limits.max_bytes
            )));
        }
        let from = Dir::open_ambient_dir(&path, cap_std::ambient_authority())
            .map_err(GitError::io("opening the clone"))?;
        let (source, destination) = match request.content {
            CloneContent::Full => (Path::new(""), Path::new("")),
            CloneContent::GitDirOnly => (Path::new(".git"), Path::new(".git")),
        };
        let copied = sandpipe_store::tree::copy(&from, source, into, destination)
            .map_err(GitError::io("copying the clone"))?;
        Ok(ExportSummary {
            files: copied.files,
            directories: copied.directories,
            symlinks: copied.symlinks,
            bytes: copied.bytes,
            submodules: Vec::new(),
        })
    }

    fn make_clone(&self, request: &CloneRequest<'_>, path: &Path) -> Result<(), GitError> {
        let clone = git2::Repository::init(path)?;
        let source = self
            .git_dir()
            .to_str()
            .ok_or_else(|| GitError::Invalid("the repository path is not UTF-8".into()))?
            .to_string();
        let branch = request.branch;
        let mut refspecs = vec![
            "+refs/heads/*:refs/remotes/origin/*".to_string(),
            "+refs/tags/*:refs/tags/*".to_string(),
        ];
        // A branch found only as origin/<name> in a local clone is not under refs/heads.
        if let Some(reference) = request.reference.filter(|r| r.starts_with("refs/remotes/")) {
            refspecs.push(format!("+{reference}:refs/remotes/origin/{branch}"));
        }
        clone
            .remote("origin", &source)?
            .fetch(&refspecs, None, None)?;
        let oid =
            git2::Oid::from_str(request.commit).map_err(|e| GitError::Invalid(e.to_string()))?;
        let target = clone
            .find_commit(oid)
            .map_err(|_| GitError::NotFound(format!("no commit {}", request.commit)))?;
        let mut local = clone.branch(branch, &target, true)?;
        if clone
            .find_reference(&format!("refs/remotes/origin/{branch}"))
            .is_ok()
        {
            local.set_upstream(Some(&format!("origin/{branch}")))?;
        }
        clone.set_head(&format!("refs/heads/{branch}"))?;
        clone.checkout_head(Some(git2::build::CheckoutBuilder::new().force()))?;
        // Point origin at where the repository really is, not at the mirror.
        clone.remote_set_url("origin", &self.location().display())?;

        // What git records about this machine and this moment: stat data in the index
        // (git re-reads a file whose stat data does not match, so status stays right),
        // reflogs, FETCH_HEAD.
        let mut index = clone.index()?;
        let entries: Vec<git2::IndexEntry> = index.iter().collect();
        for mut entry in entries {
            entry.ctime = git2::IndexTime::new(0, 0);
            entry.mtime = git2::IndexTime::new(0, 0);
            entry.dev = 0;
            entry.ino = 0;
            entry.uid = 0;
            entry.gid = 0;
            index.add(&entry)?;
        }
        index.write()?;
        let git_dir = clone.path().to_path_buf();
        for generated in ["logs", "FETCH_HEAD"] {
            let generated = git_dir.join(generated);
            let removed = if generated.is_dir() {
                std::fs::remove_dir_all(&generated)
            } else {
                std::fs::remove_file(&generated)
            };
            match removed {
                Err(e) if e.kind() != std::io::ErrorKind::NotFound => {
                    return Err(GitError::Io(format!("cleaning the clone: {e}")));
                }
                _ => {}
            }
        }
        Ok(())
    }
}

/// What to clone.
#[derive(Debug, Clone, Copy)]
pub struct CloneRequest<'a> {
    pub branch: &'a str,
    pub commit: &'a str,
    /// The ref the commit was resolved through, if any.
    pub reference: Option<&'a str>,
    pub content: CloneContent,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CloneContent {
    /// `.git` and the checked-out files.
    Full,
    /// `.git` alone (its index describes the checked-out files), for putting under a
    /// working tree's own files.
    GitDirOnly,
}

/// Bytes of the regular files below `dir` (links not followed).
fn tree_size(dir: &Path) -> std::io::Result<u64> {
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            total += tree_size(&entry.path())?;
        } else if file_type.is_file() {
            total += entry.metadata()?.len();
        }
    }
    Ok(total)
}

fn write_tree(
    repo: &git2::Repository,
    tree: &git2::Tree<'_>,
    into: &Dir,
    prefix: &str,
    limits: &ExportLimits,
    summary: &mut ExportSummary,
) -> Result<(), GitError> {
    for entry in tree.iter() {
        let name = std::str::from_utf8(entry.name_bytes()).map_err(|_| {
            GitError::Invalid(format!(
                "'{prefix}{}' has a name that is not UTF-8",
                String::from_utf8_lossy(entry.name_bytes())
            ))
        })?;
        let path = format!("{prefix}{name}");
        if name.is_empty()
            || name == "."
            || name == ".."
            || name.eq_ignore_ascii_case(".git")
            || name.contains(['/', '\0'])
        {
            return Err(GitError::Invalid(format!(
                "the tree has an entry named '{path}', which a checkout must not write"
            )));
        }
        if summary.files + summary.directories + summary.symlinks >= limits.max_entries {
            return Err(GitError::Limit(format!(
                "the tree has more than {} files and directories",
                limits.max_entries
            )));
        }
        match entry.kind() {
            Some(git2::ObjectType::Tree) => {
                let subtree = repo.find_tree(entry.id())?;
                into.create_dir(name)
                    .map_err(GitError::io(format!("creating '{path}'")))?;
                let child = into
                    .open_dir_nofollow(name)
                    .map_err(GitError::io(format!("opening '{path}'")))?;
                summary.directories += 1;
                write_tree(repo, &subtree, &child, &format!("{path}/"), limits, summary)?;
            }
            Some(git2::ObjectType::Blob) if entry.filemode() == FILE_MODE_LINK => {
                let blob = repo.find_blob(entry.id())?;
                let target = std::str::from_utf8(blob.content()).map_err(|_| {
                    GitError::Invalid(format!("link '{path}' has a target that is not UTF-8"))
                })?;
                into.symlink_contents(target, name)
                    .map_err(GitError::io(format!("creating link '{path}'")))?;
                summary.symlinks += 1;
            }
            Some(git2::ObjectType::Blob) => {
                let blob = repo.find_blob(entry.id())?;
                let content = blob.content();
                summary.bytes += content.len() as u64;
                if summary.bytes > limits.max_bytes {
                    return Err(GitError::Limit(format!(
                        "the tree holds more than {} bytes",
                        limits.max_bytes
                    )));
                }
                let mut file = sandpipe_store::archive::create_file(into, Path::new(name))
                    .map_err(GitError::io(format!("writing '{path}'")))?;
                file.write_all(content)
                    .map_err(GitError::io(format!("writing '{path}'")))?;
                if entry.filemode() == FILE_MODE_EXECUTABLE {
                    file.set_permissions(Permissions::from_mode(0o755))
                        .map_err(GitError::io(format!("writing '{path}'")))?;
                }
                summary.files += 1;
            }
            _ if entry.filemode() == FILE_MODE_SUBMODULE => summary.submodules.push(path),
            _ => {}
        }
    }
    Ok(())
}
