//! The `git` import: the one repository the operator mapped for a source action (or the
//! working tree given in its place), read by the host with libgit2 and written into the
//! action's writable sandbox directories. The guest names commits and destinations; it never
//! names a repository, so it can reach no other.

use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use cap_std::fs::Dir;
use sandpipe_git::{
    CloneContent, CloneRequest, CommitInfo, ExportLimits, ExportSummary as Summary, GitError,
    Location, Repository,
};

use crate::bindings::sandpipe::action::git::{
    self as wit, Commit, Error, ExportSummary, RepositoryInfo, Signature, WorkingTree,
};
use crate::capabilities::{Capability, Grant, Setup, Slots, blocking};
use crate::sandbox::Sandbox;
use crate::state::ActionState;

/// What the operator mapped for one action.
#[derive(Debug, Clone)]
pub struct GitGrant {
    /// The repository as the action's configuration names it (`owner/repo`, a name).
    pub name: String,
    /// The connection's provider type (`GitHub`, `GitLab` …).
    pub provider_type: String,
    pub source: GitSource,
    /// Where mirrors of remote repositories are kept between runs.
    pub mirrors: PathBuf,
    /// Directories a working-tree export leaves out (sandpipe's own state directory).
    pub exclude: Vec<PathBuf>,
}

#[derive(Debug, Clone)]
pub enum GitSource {
    Repository {
        location: Location,
        /// Which mapping found it, for the log.
        mapped_by: String,
    },
    /// A directory given in place of the repository; `given_as` says how (`--source A=dir`).
    WorkingTree { dir: PathBuf, given_as: String },
    /// No mapping found; the message names what was looked for.
    NotMapped(String),
}

/// Read the repository the operator mapped for the action.
pub const GIT: Capability = Capability::named("git");

capability_module!(["sandpipe:action/git@0.1"], Some(GIT), [wit], setup);

fn setup(setup: &Setup<'_>, slots: &mut Slots) {
    if let Some(grant) = setup.grants.get::<GitGrant>() {
        slots.insert(GitAccess {
            grant,
            sandbox: setup.sandbox.clone(),
            deadline: setup.deadline,
            remaining: ExportLimits {
                max_bytes: setup.limits.object_bytes,
                ..ExportLimits::default()
            },
            opened: None,
            budget: setup.budget.clone(),
        });
    }
}

impl Grant for GitGrant {
    const CAPABILITY: Capability = GIT;
}

/// One call's use of the grant.
struct GitAccess {
    grant: Arc<GitGrant>,
    sandbox: Arc<Sandbox>,
    deadline: Instant,
    /// What the exports of this call may still write.
    remaining: ExportLimits,
    /// The repository, once opened (a remote one is fetched once per call).
    opened: Option<Arc<Mutex<Repository>>>,
    /// The action's write budget, which exports count against as the guest's writes do.
    budget: Arc<crate::write_budget::WriteBudget>,
}

granted_access!(GitAccess, GIT, Error);

impl GitAccess {
    /// The repository to read: the mapped one, or the one a working tree is in.
    async fn open(&mut self) -> Result<Arc<Mutex<Repository>>, Error> {
        if let Some(opened) = &self.opened {
            return Ok(opened.clone());
        }
        let grant = self.grant.clone();
        let deadline = self.deadline;
        let opened = blocking(
            move || {
                let location = match &grant.source {
                    GitSource::NotMapped(message) => return Err(Error::NotMapped(message.clone())),
                    GitSource::Repository { location, .. } => location.clone(),
                    GitSource::WorkingTree { dir, .. } => {
                        let top = sandpipe_git::repository_top(dir).ok_or_else(|| {
                            Error::NotFound(format!("{} is not in a git repository", dir.display()))
                        })?;
                        Location::Local(top)
                    }
                };
                Repository::open(&location, &grant.mirrors, Some(deadline)).map_err(convert)
            },
            Error::Io,
        )
        .await?;
        let opened = Arc::new(Mutex::new(opened));
        self.opened = Some(opened.clone());
        Ok(opened)
    }

    /// A writable sandbox directory for an export, created if need be.
    fn destination(&self, guest_path: &str) -> Result<Dir, Error> {
        let (mount, relative) = self
            .sandbox
            .resolve(guest_path, true)
            .map_err(Error::InvalidArgument)?;
        if relative.as_os_str().is_empty() {
            return Ok(mount);
        }
        mount
            .create_dir_all(&relative)
            .and_then(|()| mount.open_dir(&relative))
            .map_err(|e| Error::Io(format!("{guest_path}: {e}")))
    }

    /// Write into `destination` from the repository: `work` runs off the async executor with
    /// what the call may still write and a private scratch directory, and what it wrote is
    /// counted.
    async fn export(
        &mut self,
        destination: &str,
        work: impl FnOnce(&Repository, &Dir, &ExportLimits, &Path) -> Result<Summary, GitError>
        + Send
        + 'static,
    ) -> Result<ExportSummary, Error> {
        let repository = self.open().await?;
        let into = self.destination(destination)?;
        let limits = self.within_budget();
        let scratch = self.sandbox.root().to_path_buf();
        let exported = blocking(
            move || work(&lock(&repository), &into, &limits, &scratch).map_err(convert),
            Error::Io,
        )
        .await?;
        self.spend(&exported);
        Ok(summary(exported, None))
    }

    /// What an export may write: the call's limits, held to the action's write budget.
    fn within_budget(&self) -> ExportLimits {
        let (bytes, entries) = self.budget.remaining();
        ExportLimits {
            max_bytes: self.remaining.max_bytes.min(bytes),
            max_entries: self.remaining.max_entries.min(entries),
        }
    }

    /// Count what an export wrote against the call's limits and the action's write budget.
    fn spend(&mut self, summary: &Summary) {
        let entries = summary.files + summary.directories + summary.symlinks;
        self.remaining.max_bytes = self.remaining.max_bytes.saturating_sub(summary.bytes);
        self.remaining.max_entries = self.remaining.max_entries.saturating_sub(entries);
        self.budget.charge_written(summary.bytes, entries);
    }

    async fn repository(&mut self) -> Result<RepositoryInfo, Error> {
        let grant = self.grant.clone();
        let info = |location: String, mapped_by: String, working_tree| RepositoryInfo {
            name: grant.name.clone(),
            location,
            mapped_by,
            provider_type: grant.provider_type.clone(),
            working_tree,
        };
        match &grant.source {
            GitSource::NotMapped(message) => Err(Error::NotMapped(message.clone())),
            GitSource::Repository {
                location,
                mapped_by,
            } => {
                // Opening here fetches a remote once and says at once when it cannot be read.
                self.open().await?;
                Ok(info(location.display(), mapped_by.clone(), None))
            }
            GitSource::WorkingTree { dir, given_as } => {
                let path = dir.display().to_string();
                let dir = dir.clone();
                let state = blocking(
                    move || sandpipe_git::inspect_worktree(&dir).map_err(convert),
                    Error::Io,
                )
                .await?;
                let tree = WorkingTree {
                    path: path.clone(),
                    head: state.head.map(commit),
                    branch: state.branch,
                    dirty: state.dirty,
                };
                Ok(info(path, given_as.clone(), Some(tree)))
            }
        }
    }

    async fn resolve(&mut self, revision: String) -> Result<Commit, Error> {
        let repository = self.open().await?;
        blocking(
            move || {
                lock(&repository)
                    .resolve(&revision)
                    .map(|resolved| commit(resolved.commit))
                    .map_err(convert)
            },
            Error::Io,
        )
        .await
    }

    async fn export_working_tree(
        &mut self,
        destination: String,
        with_history: bool,
    ) -> Result<ExportSummary, Error> {
        let GitSource::WorkingTree { dir, .. } = &self.grant.source else {
            return Err(Error::InvalidArgument(
                "the operator gave this action a repository, not a working tree".into(),
            ));
        };
        let dir = dir.clone();
        let repository = if with_history {
            Some(self.open().await?)
        } else {
            None
        };
        let into = self.destination(&destination)?;
        let limits = self.within_budget();
        let scratch = self.sandbox.root().to_path_buf();
        let exclude = self.grant.exclude.clone();
        let (exported, digest) = blocking(
            move || {
                let mut total = Summary::default();
                if let Some(repository) = repository {
                    total = history_under(&repository, &dir, &scratch, &into, &limits)?;
                }
                let left = ExportLimits {
                    max_bytes: limits.max_bytes.saturating_sub(total.bytes),
                    ..limits
                };
                let snapshot = sandpipe_git::snapshot_worktree(&dir, &into, &exclude, &left)
                    .map_err(convert)?;
                total.files += snapshot.files;
                total.directories += snapshot.directories;
                total.symlinks += snapshot.symlinks;
                total.bytes += snapshot.bytes;
                Ok((total, snapshot.digest))
            },
            Error::Io,
        )
        .await?;
        self.spend(&exported);
        Ok(summary(exported, Some(digest)))
    }
}

fn convert(error: GitError) -> Error {
    match error {
        GitError::NotFound(m) => Error::NotFound(m),
        GitError::NoRepository(m) | GitError::Git(m) => Error::Unavailable(m),
        GitError::Invalid(m) => Error::InvalidArgument(m),
        GitError::Limit(m) => Error::LimitExceeded(m),
        GitError::Io(m) => Error::Io(m),
    }
}

fn commit(info: CommitInfo) -> Commit {
    Commit {
        id: info.id,
        parents: info.parents,
        author: Signature {
            name: info.author_name,
            email: info.author_email,
            date: sandpipe_git::iso8601(info.author_time),
        },
        committer: Signature {
            name: info.committer_name,
            email: info.committer_email,
            date: sandpipe_git::iso8601(info.committer_time),
        },
        message: info.message,
    }
}

fn summary(summary: Summary, digest: Option<String>) -> ExportSummary {
    ExportSummary {
        files: summary.files,
        directories: summary.directories,
        symlinks: summary.symlinks,
        bytes: summary.bytes,
        submodules: summary.submodules,
        digest,
    }
}

fn lock(repository: &Mutex<Repository>) -> std::sync::MutexGuard<'_, Repository> {
    repository.lock().unwrap_or_else(|e| e.into_inner())
}

impl ActionState {
    fn git(&mut self) -> Result<&mut GitAccess, Error> {
        self.granted::<GitAccess>().map_err(Error::from)
    }
}

impl wit::Host for ActionState {
    async fn repository(&mut self) -> wasmtime::Result<Result<RepositoryInfo, Error>> {
        Ok(async { self.git()?.repository().await }.await)
    }

    async fn resolve(&mut self, revision: String) -> wasmtime::Result<Result<Commit, Error>> {
        Ok(async { self.git()?.resolve(revision).await }.await)
    }

    async fn export_tree(
        &mut self,
        commit_id: String,
        destination: String,
    ) -> wasmtime::Result<Result<ExportSummary, Error>> {
        let export = move |repository: &Repository, into: &Dir, limits: &ExportLimits, _: &Path| {
            repository.export_tree(&commit_id, into, limits)
        };
        Ok(async { self.git()?.export(&destination, export).await }.await)
    }

    async fn clone(
        &mut self,
        branch: String,
        commit_id: String,
        destination: String,
    ) -> wasmtime::Result<Result<ExportSummary, Error>> {
        let clone =
            move |repository: &Repository, into: &Dir, limits: &ExportLimits, scratch: &Path| {
                let reference = repository.resolve(&branch).ok().and_then(|r| r.reference);
                let request = CloneRequest {
                    branch: &branch,
                    commit: &commit_id,
                    reference: reference.as_deref(),
                    content: CloneContent::Full,
                };
                repository.clone_into(&request, scratch, into, limits)
            };
        Ok(async { self.git()?.export(&destination, clone).await }.await)
    }

    async fn export_working_tree(
        &mut self,
        destination: String,
        with_history: bool,
    ) -> wasmtime::Result<Result<ExportSummary, Error>> {
        Ok(async {
            self.git()?
                .export_working_tree(destination, with_history)
                .await
        }
        .await)
    }
}

/// The `.git` of a clone of the working tree's repository at its HEAD, for the working tree's
/// files to land over. Only a repository's top directory has a `.git` that matches its files.
fn history_under(
    repository: &Mutex<Repository>,
    dir: &Path,
    scratch: &Path,
    into: &Dir,
    limits: &ExportLimits,
) -> Result<Summary, Error> {
    let state = sandpipe_git::inspect_worktree(dir).map_err(convert)?;
    let canonical = |p: &Path| p.canonicalize().unwrap_or_else(|_| p.to_path_buf());
    if state.top.as_deref().map(canonical) != Some(canonical(dir)) {
        return Err(Error::InvalidArgument(format!(
            "CODEBUILD_CLONE_REF from a working tree needs the top directory of its repository; \
             {} is not one",
            dir.display()
        )));
    }
    let head = state.head.ok_or_else(|| {
        Error::NotFound(format!(
            "the repository at {} has no commit yet",
            dir.display()
        ))
    })?;
    let branch = state
        .branch
        .unwrap_or_else(|| format!("detached-{}", &head.id[..12]));
    lock(repository)
        .clone_into(
            &CloneRequest {
                branch: &branch,
                commit: &head.id,
                reference: None,
                content: CloneContent::GitDirOnly,
            },
            scratch,
            into,
            limits,
        )
        .map_err(convert)
}
