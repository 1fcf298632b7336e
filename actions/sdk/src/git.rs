//! Git repositories for source actions (the `git` import). The host grants it to git source
//! providers and scopes it to the repository the operator mapped for the action, or to the
//! working tree the operator gave in its place; any other component that uses it without the
//! operator's grant is refused before it runs.

use crate::Failure;
use crate::bindings::sandpipe::action::git as host;

pub use host::{Commit, Error, ExportSummary, RepositoryInfo, Signature, WorkingTree};

/// The repository this action may read, or the working tree that replaces it.
pub fn repository() -> Result<RepositoryInfo, Error> {
    host::repository()
}

/// A branch, tag, full ref or commit id → the commit.
pub fn resolve(revision: &str) -> Result<Commit, Error> {
    host::resolve(revision)
}

/// The tree of `commit`, without `.git`, into a writable sandbox directory.
pub fn export_tree(commit: &str, destination: &str) -> Result<ExportSummary, Error> {
    host::export_tree(commit, destination)
}

/// A clone with history, `branch` checked out at `commit`, into a writable sandbox directory.
pub fn clone(branch: &str, commit: &str, destination: &str) -> Result<ExportSummary, Error> {
    host::clone(branch, commit, destination)
}

/// The working tree's files (and, `with_history`, a clone's `.git` under them).
pub fn export_working_tree(destination: &str, with_history: bool) -> Result<ExportSummary, Error> {
    host::export_working_tree(destination, with_history)
}

impl From<Error> for Failure {
    /// An unmapped repository is the operator's configuration to fix; a missing branch or
    /// commit is a revision that is not there.
    fn from(error: Error) -> Self {
        match error {
            Error::NotMapped(m) | Error::InvalidArgument(m) => Failure::configuration(m),
            Error::Denied(m) => Failure::permission(m),
            Error::NotFound(m) => Failure::revision_unavailable(m),
            Error::Unavailable(m) => Failure::system(m),
            Error::LimitExceeded(m) | Error::Io(m) => Failure::job(m),
        }
    }
}
