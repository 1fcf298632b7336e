//! Where the repositories of git source actions live: the operator's connections file, the
//! local stand-in for CodeConnections, GitHub OAuth apps and CodeCommit.
//!
//! ```yaml
//! # sandpipe-connections.yaml, beside the pipeline (or --connections FILE)
//! reposRoot: ~/src            # unmapped repositories are looked for here (by id, then name)
//! repositories:               # FullRepositoryId of any connection; Owner/Repo of GitHub v1
//!   my-org/my-app: ../my-app
//!   my-org/lib: https://github.com/my-org/lib.git
//! connections:                # one connection's own repositories and provider type
//!   arn:aws:codeconnections:us-east-1:111122223333:connection/abc:
//!     providerType: GitLab
//!     repositories:
//!       my-org/my-app: /srv/git/app.git
//! codecommit:                 # RepositoryName of CodeCommit actions
//!   MyDemoRepo: /srv/git/MyDemoRepo.git
//! ```
//!
//! A location is a path (relative to the file it is written in), a `file://`, `git://`,
//! `http://` or `https://` URL. Nothing here touches a repository: this module decides where
//! one should be, and says exactly what it looked for when it finds none.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, OnceLock};

use serde::Deserialize;

use crate::load::{LoadError, parse_text_document, read_text};

/// The names the connections file may have beside a pipeline.
pub const CONNECTIONS_FILE_NAMES: &[&str] = &[
    "sandpipe-connections.yaml",
    "sandpipe-connections.yml",
    "sandpipe-connections.json",
];

/// CodeConnections' provider types (`ProviderType` of a connection).
pub const PROVIDER_TYPES: &[&str] = &[
    "Bitbucket",
    "GitHub",
    "GitHubEnterpriseServer",
    "GitLab",
    "GitLabSelfManaged",
];

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConnectionsDocument {
    repos_root: Option<String>,
    #[serde(default)]
    repositories: BTreeMap<String, String>,
    #[serde(default)]
    connections: BTreeMap<String, ConnectionDocument>,
    #[serde(default)]
    codecommit: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields, rename_all = "camelCase")]
struct ConnectionDocument {
    provider_type: Option<String>,
    #[serde(default)]
    repositories: BTreeMap<String, String>,
}

/// The repository a source action's configuration names.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RepositoryRef {
    /// `Source/AWS/CodeStarSourceConnection/1`: `ConnectionArn` and `FullRepositoryId`.
    Connection { arn: String, id: String },
    /// `Source/ThirdParty/GitHub/1`: `Owner` and `Repo`.
    GitHub { owner: String, repo: String },
    /// `Source/AWS/CodeCommit/1`: `RepositoryName`.
    CodeCommit { name: String },
}

impl RepositoryRef {
    /// The repository named by an action's (resolved) configuration, if it names one.
    pub fn from_configuration(configuration: &BTreeMap<String, String>) -> Option<Self> {
        let get = |key: &str| configuration.get(key).filter(|v| !v.is_empty()).cloned();
        if let Some(id) = get("FullRepositoryId") {
            return Some(RepositoryRef::Connection {
                arn: get("ConnectionArn").unwrap_or_default(),
                id,
            });
        }
        if let (Some(owner), Some(repo)) = (get("Owner"), get("Repo")) {
            return Some(RepositoryRef::GitHub { owner, repo });
        }
        get("RepositoryName").map(|name| RepositoryRef::CodeCommit { name })
    }

    /// `owner/repo`, or the CodeCommit repository's name.
    pub fn name(&self) -> String {
        match self {
            RepositoryRef::Connection { id, .. } => id.clone(),
            RepositoryRef::GitHub { owner, repo } => format!("{owner}/{repo}"),
            RepositoryRef::CodeCommit { name } => name.clone(),
        }
    }

    /// How the configuration names it, for messages.
    fn describe(&self) -> String {
        match self {
            RepositoryRef::Connection { arn, id } if arn.is_empty() => {
                format!("FullRepositoryId '{id}'")
            }
            RepositoryRef::Connection { arn, id } => {
                format!("FullRepositoryId '{id}' of connection {arn}")
            }
            RepositoryRef::GitHub { owner, repo } => format!("GitHub repository '{owner}/{repo}'"),
            RepositoryRef::CodeCommit { name } => format!("CodeCommit repository '{name}'"),
        }
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
        Ok(Location::Local(base.join(expand_home(text))))
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

/// Where a repository was found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MappedRepository {
    pub location: Location,
    /// Which mapping found it, for the log: `sandpipe-connections.yaml: repositories["o/r"]`.
    pub mapped_by: String,
}

/// A repos root that costs something to find (a git discovery), found once when needed.
#[derive(Clone)]
struct LazyRoot {
    found: Arc<OnceLock<PathBuf>>,
    find: Arc<dyn Fn() -> PathBuf + Send + Sync>,
}

impl LazyRoot {
    fn get(&self) -> &PathBuf {
        self.found.get_or_init(|| (self.find)())
    }
}

impl std::fmt::Debug for LazyRoot {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.found.get() {
            Some(root) => write!(f, "{}", root.display()),
            None => f.write_str("(not looked for yet)"),
        }
    }
}

/// The operator's connections, loaded (or empty when there is no file).
#[derive(Debug, Clone, Default)]
pub struct Connections {
    /// The file they came from.
    pub file: Option<PathBuf>,
    /// Where unmapped repositories are looked for: the file's `reposRoot`, else the default
    /// the caller gives.
    repos_root: Option<PathBuf>,
    /// The caller's default root, found only when a lookup needs it.
    default_root: Option<LazyRoot>,
    repositories: BTreeMap<String, String>,
    connections: BTreeMap<String, ConnectionDocument>,
    codecommit: BTreeMap<String, String>,
}

impl Connections {
    /// Read a connections file. Relative locations and `reposRoot` are relative to it.
    pub fn load(path: &Path) -> Result<Self, LoadError> {
        let (_, text, yaml) = read_text(path)?;
        Self::parse(path, &text, yaml)
    }

    /// The connections file at `path` whose `text` (JSON, or YAML when `yaml`) has been read.
    pub fn parse(path: &Path, text: &str, yaml: bool) -> Result<Self, LoadError> {
        let file = path.display().to_string();
        let document: ConnectionsDocument = parse_text_document(&file, text, yaml)?;
        let shape = |json_path: String, message: String| LoadError::Shape {
            file: file.clone(),
            path: json_path,
            message,
        };
        let base = base_dir(path);
        let check_map = |name: &str, map: &BTreeMap<String, String>| -> Result<(), LoadError> {
            for (id, location) in map {
                if id.trim().is_empty() {
                    return Err(shape(name.to_string(), "a repository id is empty".into()));
                }
                let at = format!("{name}[\"{id}\"]");
                if location.trim().is_empty() {
                    return Err(shape(
                        at,
                        "the location is empty (a path, file://, git://, http:// or https:// URL)"
                            .into(),
                    ));
                }
                Location::parse(location, &base).map_err(|message| shape(at, message))?;
            }
            Ok(())
        };
        check_map("repositories", &document.repositories)?;
        check_map("codecommit", &document.codecommit)?;
        for (arn, connection) in &document.connections {
            check_map(
                &format!("connections[\"{arn}\"].repositories"),
                &connection.repositories,
            )?;
            if let Some(kind) = &connection.provider_type
                && !PROVIDER_TYPES.contains(&kind.as_str())
            {
                return Err(shape(
                    format!("connections[\"{arn}\"].providerType"),
                    format!(
                        "'{kind}' is not a provider type (one of {})",
                        PROVIDER_TYPES.join(", ")
                    ),
                ));
            }
        }
        Ok(Connections {
            file: Some(path.to_path_buf()),
            repos_root: document
                .repos_root
                .map(|root| base.join(expand_home(&root))),
            repositories: document.repositories,
            connections: document.connections,
            codecommit: document.codecommit,
            default_root: None,
        })
    }

    /// The file to use: the one given, else one beside the pipeline file, else none.
    pub fn find(given: Option<&Path>, pipeline_file: Option<&Path>) -> Option<PathBuf> {
        if let Some(given) = given {
            return Some(given.to_path_buf());
        }
        let dir = base_dir(pipeline_file?);
        CONNECTIONS_FILE_NAMES
            .iter()
            .map(|name| dir.join(name))
            .find(|path| path.is_file())
    }

    /// Use `root` for unmapped repositories, whatever the file says.
    pub fn with_repos_root(mut self, root: PathBuf) -> Self {
        self.repos_root = Some(root);
        self
    }

    /// Use the root `find` returns for unmapped repositories unless the file names its own
    /// `reposRoot`; `find` runs once, the first time a repository is looked up there.
    pub fn with_default_repos_root_from(
        mut self,
        find: impl Fn() -> PathBuf + Send + Sync + 'static,
    ) -> Self {
        self.default_root = Some(LazyRoot {
            found: Arc::new(OnceLock::new()),
            find: Arc::new(find),
        });
        self
    }

    fn repos_root(&self) -> Option<&PathBuf> {
        self.repos_root
            .as_ref()
            .or_else(|| self.default_root.as_ref().map(LazyRoot::get))
    }

    /// The provider type of a connection: the file's, else GitHub.
    pub fn provider_type(&self, arn: &str) -> String {
        self.connections
            .get(arn)
            .and_then(|c| c.provider_type.clone())
            .unwrap_or_else(|| "GitHub".into())
    }

    /// Find the repository: an explicit mapping first, then a directory under the repos root
    /// named after the repository id or its last segment (with or without `.git`).
    /// `is_dir` says whether a candidate directory exists. The error names every place looked.
    pub fn resolve(
        &self,
        repository: &RepositoryRef,
        is_dir: impl Fn(&Path) -> bool,
    ) -> Result<MappedRepository, String> {
        let file_name = self
            .file
            .as_ref()
            .map(|f| f.display().to_string())
            .unwrap_or_default();
        let base = self.file.as_deref().map(base_dir).unwrap_or_default();
        let mapped = |location: &String, key: String| MappedRepository {
            // Checked when the file was loaded.
            location: Location::parse(location, &base)
                .unwrap_or_else(|_| Location::Local(base.join(location))),
            mapped_by: format!("{file_name}: {key}"),
        };
        let name = repository.name();
        let mut keys = Vec::new();
        match repository {
            RepositoryRef::Connection { arn, id } => {
                let key = format!("connections[\"{arn}\"].repositories[\"{id}\"]");
                if let Some(location) = self
                    .connections
                    .get(arn)
                    .and_then(|c| c.repositories.get(id))
                {
                    return Ok(mapped(location, key));
                }
                keys.push(key);
                let key = format!("repositories[\"{id}\"]");
                if let Some(location) = self.repositories.get(id) {
                    return Ok(mapped(location, key));
                }
                keys.push(key);
            }
            RepositoryRef::GitHub { .. } => {
                let key = format!("repositories[\"{name}\"]");
                if let Some(location) = self.repositories.get(&name) {
                    return Ok(mapped(location, key));
                }
                keys.push(key);
            }
            RepositoryRef::CodeCommit { .. } => {
                let key = format!("codecommit[\"{name}\"]");
                if let Some(location) = self.codecommit.get(&name) {
                    return Ok(mapped(location, key));
                }
                keys.push(key);
            }
        }
        let mut candidates = Vec::new();
        // An id that is not a plain relative path (`..`, `/x`) is never joined to the root.
        let plain = name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
        if let Some(root) = self.repos_root().filter(|_| plain) {
            let last = name.rsplit('/').next().unwrap_or(&name);
            let mut names = vec![name.clone(), format!("{name}.git")];
            if last != name {
                names.push(last.to_string());
                names.push(format!("{last}.git"));
            }
            for candidate in names {
                let path = root.join(&candidate);
                if is_dir(&path) {
                    return Ok(MappedRepository {
                        location: Location::Local(path),
                        mapped_by: format!("the repos root {}", root.display()),
                    });
                }
                candidates.push(path.display().to_string());
            }
        }
        let looked_in = match &self.file {
            Some(file) => format!("{} has no {}", file.display(), keys.join(" or ")),
            None => format!(
                "there is no connections file (sandpipe-connections.yaml beside the pipeline, \
                 or --connections) to map {}",
                keys.join(" or ")
            ),
        };
        let tried = if candidates.is_empty() {
            String::new()
        } else {
            format!(", and none of {} is a directory", candidates.join(", "))
        };
        Err(format!(
            "no repository is mapped for {}: {looked_in}{tried}",
            repository.describe()
        ))
    }
}

/// The directory a file's relative paths are relative to.
fn base_dir(file: &Path) -> PathBuf {
    match file.parent() {
        Some(dir) if !dir.as_os_str().is_empty() => dir.to_path_buf(),
        _ => PathBuf::from("."),
    }
}

/// `~/x` → `$HOME/x`.
pub fn expand_home(text: &str) -> PathBuf {
    match (text.strip_prefix("~/"), std::env::var_os("HOME")) {
        (Some(rest), Some(home)) => PathBuf::from(home).join(rest),
        _ => PathBuf::from(text),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, text: &str) -> PathBuf {
        let path = dir.join("sandpipe-connections.yaml");
        std::fs::write(&path, text).unwrap();
        path
    }

    fn connection(arn: &str, id: &str) -> RepositoryRef {
        RepositoryRef::Connection {
            arn: arn.into(),
            id: id.into(),
        }
    }

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
    }

    #[test]
    fn configuration_names_the_repository() {
        let config = |pairs: &[(&str, &str)]| -> BTreeMap<String, String> {
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect()
        };
        assert_eq!(
            RepositoryRef::from_configuration(&config(&[
                ("ConnectionArn", "arn:c"),
                ("FullRepositoryId", "o/r"),
                ("BranchName", "main")
            ])),
            Some(connection("arn:c", "o/r"))
        );
        assert_eq!(
            RepositoryRef::from_configuration(&config(&[("Owner", "o"), ("Repo", "r")]))
                .unwrap()
                .name(),
            "o/r"
        );
        assert_eq!(
            RepositoryRef::from_configuration(&config(&[("RepositoryName", "Demo")])),
            Some(RepositoryRef::CodeCommit {
                name: "Demo".into()
            })
        );
        assert_eq!(
            RepositoryRef::from_configuration(&config(&[("S3Bucket", "b")])),
            None
        );
    }

    #[test]
    fn explicit_mappings_win_over_the_repos_root() {
        let scratch = tempfile::tempdir().unwrap();
        let file = write(
            scratch.path(),
            "reposRoot: roots\nrepositories:\n  o/app: ../app\nconnections:\n  arn:c:\n    \
             providerType: GitLab\n    repositories:\n      o/app: https://me:secret@example.com/app.git\n\
             codecommit:\n  Demo: /srv/demo.git\n",
        );
        let connections = Connections::load(&file).unwrap();
        let never = |_: &Path| false;
        let found = connections
            .resolve(&connection("arn:c", "o/app"), never)
            .unwrap();
        assert_eq!(
            found.location,
            Location::Remote("https://me:secret@example.com/app.git".into())
        );
        assert_eq!(found.location.display(), "https://example.com/app.git");
        assert!(
            found
                .mapped_by
                .ends_with(": connections[\"arn:c\"].repositories[\"o/app\"]")
        );
        let found = connections
            .resolve(&connection("arn:other", "o/app"), never)
            .unwrap();
        assert_eq!(
            found.location,
            Location::Local(scratch.path().join("../app"))
        );
        let found = connections
            .resolve(
                &RepositoryRef::CodeCommit {
                    name: "Demo".into(),
                },
                never,
            )
            .unwrap();
        assert_eq!(found.location, Location::Local("/srv/demo.git".into()));
        assert_eq!(connections.provider_type("arn:c"), "GitLab");
        assert_eq!(connections.provider_type("arn:other"), "GitHub");

        // Not mapped: the repos root, by id then by last segment.
        let root = scratch.path().join("roots");
        let wanted = root.join("lib");
        let found = connections
            .resolve(&connection("arn:c", "o/lib"), |p| p == wanted)
            .unwrap();
        assert_eq!(found.location, Location::Local(wanted));
        assert!(found.mapped_by.starts_with("the repos root "));
    }

    #[test]
    fn an_unmapped_repository_names_what_was_looked_for() {
        let scratch = tempfile::tempdir().unwrap();
        let file = write(scratch.path(), "repositories: {}\n");
        let connections = Connections::load(&file)
            .unwrap()
            .with_default_repos_root_from(|| PathBuf::from("/repos"));
        let error = connections
            .resolve(&connection("arn:c", "o/app"), |_| false)
            .unwrap_err();
        assert_eq!(
            error,
            format!(
                "no repository is mapped for FullRepositoryId 'o/app' of connection arn:c: {} \
                 has no connections[\"arn:c\"].repositories[\"o/app\"] or \
                 repositories[\"o/app\"], and none of /repos/o/app, /repos/o/app.git, \
                 /repos/app, /repos/app.git is a directory",
                file.display()
            )
        );
        let none = Connections::default();
        let error = none
            .resolve(&RepositoryRef::CodeCommit { name: "X".into() }, |_| false)
            .unwrap_err();
        assert!(error.starts_with(
            "no repository is mapped for CodeCommit repository 'X': there is no connections file"
        ));
        // An id that would climb out of the repos root is never joined to it.
        let error = connections
            .resolve(&connection("arn:c", "../../etc"), |_| true)
            .unwrap_err();
        assert!(error.contains("has no"), "{error}");
    }

    #[test]
    fn bad_files_are_one_clear_error() {
        let scratch = tempfile::tempdir().unwrap();
        let file = write(scratch.path(), "repositorys:\n  o/r: x\n");
        let error = Connections::load(&file).unwrap_err().to_string();
        assert!(error.contains("unknown field `repositorys`"), "{error}");
        let file = write(scratch.path(), "repositories:\n  o/r: ''\n");
        let error = Connections::load(&file).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}: repositories[\"o/r\"]: the location is empty (a path, file://, git://, \
                 http:// or https:// URL)",
                file.display()
            )
        );
        let file = write(
            scratch.path(),
            "codecommit:\n  Demo: ssh://git@example.com/demo\n",
        );
        let error = Connections::load(&file).unwrap_err().to_string();
        assert_eq!(
            error,
            format!(
                "{}: codecommit[\"Demo\"]: 'ssh://git@example.com/demo': the ssh:// scheme is \
                 not supported (use a path, file://, git://, http:// or https://)",
                file.display()
            )
        );
        let file = write(
            scratch.path(),
            "connections:\n  arn:c:\n    providerType: Gitea\n",
        );
        let error = Connections::load(&file).unwrap_err().to_string();
        assert!(
            error.contains("connections[\"arn:c\"].providerType: 'Gitea' is not a provider type"),
            "{error}"
        );
    }
}
