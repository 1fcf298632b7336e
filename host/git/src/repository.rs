//! Opening a mapped repository (fetching a remote one into its mirror), resolving branches,
//! tags and commits, listing refs and the paths a change touched.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::Mutex;
use std::time::Instant;

use sha2::{Digest, Sha256};

use crate::{CommitInfo, GitError, Location};

/// Fetches into one mirror must not overlap (libgit2 takes ref locks and fails on contention).
static FETCHING: Mutex<()> = Mutex::new(());

/// A repository opened for reading.
pub struct Repository {
    location: Location,
    /// The directory libgit2 opened: the local repository, or the remote's mirror.
    git_dir: PathBuf,
    repo: git2::Repository,
}

/// What a revision named: the commit, and the ref it was found through.
#[derive(Debug, Clone)]
pub struct ResolvedRevision {
    pub commit: CommitInfo,
    /// `refs/heads/main`, `refs/tags/v1`, `refs/remotes/origin/main`, or none for a commit id.
    pub reference: Option<String>,
}

impl Repository {
    /// Open the repository at `location`. A remote one is fetched into a bare mirror under
    /// `mirrors` first (created on first use), so the commits it names are there to read; a
    /// fetch still running at `deadline` is abandoned.
    pub fn open(
        location: &Location,
        mirrors: &Path,
        deadline: Option<Instant>,
    ) -> Result<Self, GitError> {
        match location {
            Location::Local(path) => {
                if !path.exists() {
                    return Err(GitError::NoRepository(format!(
                        "{} does not exist",
                        path.display()
                    )));
                }
                let repo = git2::Repository::open_ext(
                    path,
                    git2::RepositoryOpenFlags::NO_SEARCH,
                    std::iter::empty::<&std::ffi::OsStr>(),
                )
                .map_err(|e| {
                    GitError::NoRepository(format!(
                        "{} is not a git repository ({})",
                        path.display(),
                        e.message()
                    ))
                })?;
                Ok(Repository {
                    location: location.clone(),
                    git_dir: repo.path().to_path_buf(),
                    repo,
                })
            }
            Location::Remote(url) => {
                let mirror = mirrors.join(format!(
                    "{}.git",
                    &hex::encode(Sha256::digest(url.as_bytes()))[..16]
                ));
                let repo = fetch_mirror(url, &mirror, deadline)?;
                Ok(Repository {
                    location: location.clone(),
                    git_dir: mirror,
                    repo,
                })
            }
        }
    }

    pub fn location(&self) -> &Location {
        &self.location
    }

    /// The repository directory a clone can be made from (the local one, or the mirror).
    pub fn git_dir(&self) -> &Path {
        &self.git_dir
    }

    pub(crate) fn raw(&self) -> &git2::Repository {
        &self.repo
    }

    /// Resolve a branch name, a tag name, a full ref or a commit id (in that order). A branch
    /// that exists only as `origin/<name>` in a local clone is found there too.
    pub fn resolve(&self, revision: &str) -> Result<ResolvedRevision, GitError> {
        if revision.is_empty() {
            return Err(GitError::Invalid("an empty revision".into()));
        }
        let candidates = [
            format!("refs/heads/{revision}"),
            format!("refs/tags/{revision}"),
            format!("refs/remotes/origin/{revision}"),
            revision.to_string(),
        ];
        for name in candidates.iter().filter(|n| n.starts_with("refs/")) {
            if let Ok(reference) = self.repo.find_reference(name) {
                let commit = reference.peel_to_commit().map_err(|e| {
                    GitError::Invalid(format!(
                        "{name} does not point at a commit: {}",
                        e.message()
                    ))
                })?;
                return Ok(ResolvedRevision {
                    commit: commit_info(&commit),
                    reference: Some(name.clone()),
                });
            }
        }
        let looks_like_id = revision.len() >= 4 && revision.chars().all(|c| c.is_ascii_hexdigit());
        if looks_like_id
            && let Ok(object) = self.repo.revparse_single(revision)
            && let Ok(commit) = object.peel_to_commit()
        {
            return Ok(ResolvedRevision {
                commit: commit_info(&commit),
                reference: None,
            });
        }
        Err(GitError::NotFound(format!(
            "no branch, tag or commit '{revision}' in {}",
            self.location.display()
        )))
    }

    /// Every branch and tag, by full ref name, with the commit it points at.
    pub fn refs(&self) -> Result<BTreeMap<String, String>, GitError> {
        let mut refs = BTreeMap::new();
        for reference in self.repo.references()? {
            let reference = reference?;
            let Ok(name) = reference.name() else {
                continue;
            };
            if !(name.starts_with("refs/heads/") || name.starts_with("refs/tags/")) {
                continue;
            }
            if let Ok(commit) = reference.peel_to_commit() {
                refs.insert(name.to_string(), commit.id().to_string());
            }
        }
        Ok(refs)
    }

    /// The paths (files, `/`-separated) that differ between `from` and `to`; every path of
    /// `to` when there is no `from`. Renames count as both paths.
    pub fn changed_paths(&self, from: Option<&str>, to: &str) -> Result<Vec<String>, GitError> {
        let tree_of = |id: &str| -> Result<git2::Tree<'_>, GitError> {
            let oid = git2::Oid::from_str(id).map_err(|e| GitError::Invalid(e.to_string()))?;
            Ok(self.repo.find_commit(oid)?.tree()?)
        };
        let new = tree_of(to)?;
        let old = from.map(tree_of).transpose()?;
        let diff = self
            .repo
            .diff_tree_to_tree(old.as_ref(), Some(&new), None)?;
        let mut paths = Vec::new();
        for delta in diff.deltas() {
            for file in [delta.old_file(), delta.new_file()] {
                if let Some(path) = file.path().and_then(|p| p.to_str())
                    && !file.id().is_zero()
                {
                    paths.push(path.to_string());
                }
            }
        }
        paths.sort();
        paths.dedup();
        Ok(paths)
    }

    /// The best common ancestor of two commits, if they have one.
    pub fn merge_base(&self, one: &str, two: &str) -> Option<String> {
        let one = git2::Oid::from_str(one).ok()?;
        let two = git2::Oid::from_str(two).ok()?;
        self.repo.merge_base(one, two).ok().map(|o| o.to_string())
    }
}

pub(crate) fn commit_info(commit: &git2::Commit<'_>) -> CommitInfo {
    let author = commit.author();
    let committer = commit.committer();
    CommitInfo {
        id: commit.id().to_string(),
        parents: commit.parent_ids().map(|p| p.to_string()).collect(),
        author_name: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        author_email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        author_time: author.when().seconds(),
        committer_name: String::from_utf8_lossy(committer.name_bytes()).into_owned(),
        committer_email: String::from_utf8_lossy(committer.email_bytes()).into_owned(),
        committer_time: committer.when().seconds(),
        message: String::from_utf8_lossy(commit.message_bytes()).into_owned(),
    }
}

/// Bring the mirror of `url` up to date: every branch and tag, pruned.
fn fetch_mirror(
    url: &str,
    mirror: &Path,
    deadline: Option<Instant>,
) -> Result<git2::Repository, GitError> {
    let _one_at_a_time = FETCHING.lock().unwrap_or_else(|e| e.into_inner());
    let repo = match git2::Repository::open_bare(mirror) {
        Ok(repo) => repo,
        Err(_) => {
            std::fs::create_dir_all(mirror).map_err(GitError::io(mirror.display()))?;
            git2::Repository::init_bare(mirror)?
        }
    };
    let mut callbacks = git2::RemoteCallbacks::new();
    callbacks.credentials(credentials);
    callbacks.transfer_progress(|_| deadline.is_none_or(|d| Instant::now() < d));
    let mut options = git2::FetchOptions::new();
    options
        .remote_callbacks(callbacks)
        .prune(git2::FetchPrune::On)
        .download_tags(git2::AutotagOption::All);
    let mut remote = repo.remote_anonymous(url)?;
    remote
        .fetch(
            &["+refs/heads/*:refs/heads/*", "+refs/tags/*:refs/tags/*"],
            Some(&mut options),
            None,
        )
        .map_err(|e| {
            if deadline.is_some_and(|d| Instant::now() >= d) {
                return GitError::Limit(format!(
                    "fetching {} did not finish in time",
                    crate::redact_url(url)
                ));
            }
            GitError::NoRepository(format!(
                "fetching {}: {}",
                crate::redact_url(url),
                e.message()
            ))
        })?;
    drop(remote);
    Ok(repo)
}

/// Credentials for an HTTP(S) remote: a user and password in the URL, else git's own
/// credential helpers, as `git fetch` would use them.
fn credentials(
    url: &str,
    username: Option<&str>,
    allowed: git2::CredentialType,
) -> Result<git2::Cred, git2::Error> {
    if allowed.contains(git2::CredentialType::USER_PASS_PLAINTEXT) {
        if let Some((user, password)) = userinfo(url) {
            return git2::Cred::userpass_plaintext(&user, &password);
        }
        if let Ok(config) = git2::Config::open_default()
            && let Ok(cred) = git2::Cred::credential_helper(&config, url, username)
        {
            return Ok(cred);
        }
    }
    Err(git2::Error::from_str(
        "the remote asked for credentials: put them in the URL in the connections file, or \
         configure a git credential helper",
    ))
}

fn userinfo(url: &str) -> Option<(String, String)> {
    let rest = url.split_once("://")?.1;
    let authority = rest.split('/').next()?;
    let (info, _) = authority.rsplit_once('@')?;
    let (user, password) = info.split_once(':').unwrap_or((info, ""));
    Some((user.to_string(), password.to_string()))
}
