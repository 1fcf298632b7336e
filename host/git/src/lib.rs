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

use std::path::{Path, PathBuf};

pub use export::{CloneContent, CloneRequest, ExportSummary};
pub use repository::{Repository, ResolvedRevision};
pub use worktree::{WorktreeInfo, WorktreeSnapshot, inspect_worktree, snapshot_worktree};

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

/// Where a repository lives, as the operator wrote it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Location {
    /// A directory on this machine: a work tree, its `.git`, or a bare repository.
    Local(PathBuf),
    /// A URL fetched into a mirror: `git://`, `http://` or `https://`.
    Remote(String),
}

impl Location {
    /// Parse `text` — a path (relative to `base`), `file://`, `git://`, `http://` or
    /// `https://` URL.
    pub fn parse(text: &str, base: &Path) -> Result<Location, String> {
        if let Some(path) = text.strip_prefix("file://") {
            // file:///abs/path, or file://localhost/abs/path
            let path = path.strip_prefix("localhost").unwrap_or(path);
            if !path.starts_with('/') {
                return Err(format!("'{text}' is not a file:// URL of an absolute path"));
            }
            return Ok(Location::Local(PathBuf::from(path)));
        }
        for scheme in ["git://", "http://", "https://"] {
            if text.starts_with(scheme) {
                return Ok(Location::Remote(text.to_string()));
            }
        }
        if let Some((scheme, _)) = text.split_once("://") {
            return Err(format!(
                "'{text}': the {scheme}:// scheme is not supported (use a path, file://, \
                 git://, http:// or https://)"
            ));
        }
        let expanded = match text.strip_prefix("~/") {
            Some(rest) => match std::env::var_os("HOME") {
                Some(home) => PathBuf::from(home).join(rest),
                None => PathBuf::from(text),
            },
            None => PathBuf::from(text),
        };
        Ok(Location::Local(base.join(expanded)))
    }

    /// How to show the location: URLs without any user name or password in them.
    pub fn display(&self) -> String {
        match self {
            Location::Local(path) => path.display().to_string(),
            Location::Remote(url) => redact_url(url),
        }
    }
}

/// `https://user:token@host/x` → `https://host/x`.
pub fn redact_url(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (authority, path) = match rest.find('/') {
        Some(at) => rest.split_at(at),
        None => (rest, ""),
    };
    match authority.rsplit_once('@') {
        Some((_, host)) => format!("{scheme}://{host}{path}"),
        None => url.to_string(),
    }
}

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
    fn locations_parse_and_hide_credentials() {
        let base = Path::new("/pipelines");
        assert_eq!(
            Location::parse("repos/app", base).unwrap(),
            Location::Local("/pipelines/repos/app".into())
        );
        assert_eq!(
            Location::parse("/srv/app.git", base).unwrap(),
            Location::Local("/srv/app.git".into())
        );
        assert_eq!(
            Location::parse("file:///srv/app.git", base).unwrap(),
            Location::Local("/srv/app.git".into())
        );
        let remote = Location::parse("https://me:t0ken@git.example.com/app.git", base).unwrap();
        assert_eq!(remote.display(), "https://git.example.com/app.git");
        assert!(
            Location::parse("ssh://git@example.com/app", base)
                .unwrap_err()
                .contains("ssh:// scheme is not supported")
        );
        assert!(Location::parse("file://relative/x", base).is_err());
        assert_eq!(iso8601(1_700_000_000), "2023-11-14T22:13:20Z");
    }
}
