//! Git repositories and working trees as pipeline sources, for the host side only: the
//! source actions' `git` capability, `sandpipe watch` and `sandpipe run --source`.
//!
//! Repositories are read with libgit2 (the `git2` crate). A local repository (a path or a
//! `file://` URL) is read in place; a remote one (`git://`, `http://`, `https://`) is fetched
//! into a bare mirror the host keeps, so every later read is local. Trees are written through
//! `cap_std` directories without following links: a symbolic link in a repository becomes a
//! symbolic link (its text), whatever it points at.

mod export;
mod repository;
mod worktree;

#[doc(hidden)]
pub mod test_support;

pub use export::{CloneContent, CloneRequest, ExportSummary};
pub use repository::{Repository, ResolvedRevision};
pub use worktree::{
    WorktreeInfo, WorktreeSnapshot, inspect_worktree, repository_top, snapshot_worktree,
};

#[derive(Debug, thiserror::Error)]
pub enum GitError {
    /// A branch, tag or commit that does not exist.
    #[error("{0}")]
    NotFound(String),
    /// The repository itself is missing or is not a git repository.
    #[error("{0}")]
    NoRepository(String),
    #[error("{0}")]
    Invalid(String),
    #[error("{0}")]
    Limit(String),
    #[error("{0}")]
    Io(String),
    #[error("{0}")]
    Git(String),
}

impl From<git2::Error> for GitError {
    fn from(error: git2::Error) -> Self {
        GitError::Git(error.message().to_string())
    }
}

impl GitError {
    fn io(context: impl std::fmt::Display) -> impl FnOnce(std::io::Error) -> GitError {
        let context = context.to_string();
        move |error| GitError::Io(format!("{context}: {error}"))
    }
}

pub use sandpipe_model::connections::{Location, redact_url};

/// The date as CodePipeline's variables give it: ISO-8601 in UTC, `2024-05-01T12:00:00Z`.
pub fn iso8601(seconds: i64) -> String {
    match jiff::Timestamp::from_second(seconds) {
        Ok(time) => time.strftime("%Y-%m-%dT%H:%M:%SZ").to_string(),
        Err(_) => seconds.to_string(),
    }
}

/// Caps on what one export may write.
#[derive(Debug, Clone, Copy)]
pub struct ExportLimits {
    pub max_bytes: u64,
    pub max_entries: u64,
}

impl Default for ExportLimits {
    /// An artifact's own limits: 5 GB, 100,000 entries.
    fn default() -> Self {
        ExportLimits {
            max_bytes: 5 * 1024 * 1024 * 1024,
            max_entries: 100_000,
        }
    }
}

/// One commit, as the source actions report it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommitInfo {
    pub id: String,
    pub parents: Vec<String>,
    pub author_name: String,
    pub author_email: String,
    /// Seconds since the epoch.
    pub author_time: i64,
    pub committer_name: String,
    pub committer_email: String,
    pub committer_time: i64,
    pub message: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn dates_are_iso8601_in_utc() {
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
