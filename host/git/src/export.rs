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
    /// their history, `branch` checked out at `commit`, and `origin` set to the repository's
    /// location, so `git log`, `git describe` and `git diff` work in a later build. The clone
    /// is made in a private directory under `scratch` and then copied in without following
    /// any link.
    pub fn clone_into(
        &self,
        branch: &str,
        commit: &str,
        reference: Option<&str>,
        scratch: &Path,
        into: &Dir,
    ) -> Result<ExportSummary, GitError> {
        let private = tempfile::Builder::new()
            .prefix(".git-clone-")
            .tempdir_in(scratch)
            .map_err(GitError::io("creating a directory for the clone"))?;
        let path = private.path().join("repo");
        let clone = git2::Repository::init(&path)?;
        let source = self
            .git_dir()
            .to_str()
            .ok_or_else(|| GitError::Invalid("the repository path is not UTF-8".into()))?
            .to_string();
        let mut refspecs = vec![
            "+refs/heads/*:refs/remotes/origin/*".to_string(),
            "+refs/tags/*:refs/tags/*".to_string(),
        ];
        // A branch found only as origin/<name> in a local clone is not under refs/heads.
        if let Some(reference) = reference.filter(|r| r.starts_with("refs/remotes/")) {
            refspecs.push(format!("+{reference}:refs/remotes/origin/{branch}"));
        }
        {
            let mut remote = clone.remote("origin", &source)?;
            remote.fetch(&refspecs, None, None)?;
        }
        let oid = git2::Oid::from_str(commit).map_err(|e| GitError::Invalid(e.to_string()))?;
        let target = clone.find_commit(oid)?;
        clone.branch(branch, &target, true)?;
        let mut local = clone.find_branch(branch, git2::BranchType::Local)?;
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
        drop(local);
        drop(target);
        drop(clone);

        let from = Dir::open_ambient_dir(&path, cap_std::ambient_authority())
            .map_err(GitError::io("opening the clone"))?;
        let copied = sandpipe_store::tree::copy(&from, Path::new(""), into, Path::new(""))
            .map_err(GitError::io("copying the clone"))?;
        Ok(ExportSummary {
            files: copied.files,
            directories: 0,
            symlinks: copied.symlinks,
            bytes: copied.bytes,
            submodules: Vec::new(),
        })
    }
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
