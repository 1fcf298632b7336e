//! Which state directory a command uses, found the way git finds `.git`: `--state-dir` when
//! given; else a `.sandpipe` directory in the current directory or the nearest one above it;
//! else `$SANDPIPE_STATE_DIR` (a default for every project, which a project's own `.sandpipe`
//! overrides). Commands that only read never create one: finding nothing is an error that
//! says where it looked, so `executions list` in the wrong directory cannot show an empty
//! table and leave a stray `.sandpipe` behind.

use std::path::{Path, PathBuf};

use crate::terminal::errln;

/// The name of the directory searched for, and created by the first run.
pub const STATE_DIR_NAME: &str = ".sandpipe";

/// The variable naming a state directory for when no `.sandpipe` is found.
pub const STATE_DIR_VARIABLE: &str = "SANDPIPE_STATE_DIR";

/// Where the command line and the environment say to look; resolved by the command, which
/// knows whether it may create state.
pub struct StateLocation {
    flag: Option<PathBuf>,
    variable: Option<PathBuf>,
    cwd: PathBuf,
}

impl StateLocation {
    pub fn new(flag: Option<PathBuf>) -> Self {
        StateLocation {
            flag,
            variable: std::env::var_os(STATE_DIR_VARIABLE)
                .filter(|value| !value.is_empty())
                .map(PathBuf::from),
            cwd: std::env::current_dir().unwrap_or_else(|_| PathBuf::from(".")),
        }
    }

    /// The state directory that exists, if any, and every place looked in to find it.
    fn find(&self) -> (Option<PathBuf>, Vec<PathBuf>) {
        if let Some(dir) = &self.flag {
            return (dir.is_dir().then(|| dir.clone()), vec![dir.clone()]);
        }
        let mut looked = Vec::new();
        for dir in self.cwd.ancestors() {
            let candidate = dir.join(STATE_DIR_NAME);
            if candidate.is_dir() {
                return (Some(relative_to(&candidate, &self.cwd)), looked);
            }
            looked.push(candidate);
        }
        if let Some(dir) = self.variable.as_ref().filter(|dir| dir.is_dir()) {
            return (Some(dir.clone()), looked);
        }
        (None, looked)
    }

    /// The state of a command that only reads it: an error naming every place looked in when
    /// there is none.
    pub fn existing(&self) -> anyhow::Result<PathBuf> {
        match self.find() {
            (Some(dir), _) => Ok(dir),
            (None, looked) => Err(not_found(&looked, self.flag.is_some(), &self.variable)),
        }
    }

    /// The state that exists, if any, for a command that reads it when there is one (such as
    /// `validate` looking for buckets).
    pub fn optional(&self) -> Option<PathBuf> {
        self.find().0
    }

    /// The state of a command that writes it: the one found, else `--state-dir`,
    /// `$SANDPIPE_STATE_DIR` or `./.sandpipe`, which the command creates (and says so).
    pub fn for_writing(&self) -> PathBuf {
        if let (Some(dir), _) = self.find() {
            return dir;
        }
        let dir = self
            .flag
            .clone()
            .or_else(|| self.variable.clone())
            .unwrap_or_else(|| PathBuf::from(STATE_DIR_NAME));
        errln!(
            "sandpipe: creating the state directory {}",
            sandpipe_model::text::Escaped(&dir.display().to_string())
        );
        dir
    }
}

/// `dir` as a path from `cwd` when it is `cwd`'s own `.sandpipe` (as it reads in messages),
/// else absolute.
fn relative_to(dir: &Path, cwd: &Path) -> PathBuf {
    match dir.strip_prefix(cwd) {
        Ok(relative) => relative.to_path_buf(),
        Err(_) => dir.to_path_buf(),
    }
}

fn not_found(looked: &[PathBuf], flag: bool, variable: &Option<PathBuf>) -> anyhow::Error {
    if flag {
        return anyhow::anyhow!(
            "no sandpipe state at {} (--state-dir): nothing has run with it yet",
            looked[0].display()
        );
    }
    let places: Vec<String> = looked.iter().map(|p| p.display().to_string()).collect();
    let variable = match variable {
        Some(dir) => format!("${STATE_DIR_VARIABLE} ({})", dir.display()),
        None => format!("${STATE_DIR_VARIABLE} (not set)"),
    };
    anyhow::anyhow!(
        "no sandpipe state found: looked for {STATE_DIR_NAME} in this directory and every one \
         above it ({}), then {variable}. Run a pipeline here first (`sandpipe run \
         pipeline.json`), change to the directory it ran in, or pass --state-dir",
        places.join(", "),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn location(cwd: &Path, variable: Option<&Path>) -> StateLocation {
        StateLocation {
            flag: None,
            variable: variable.map(Path::to_path_buf),
            cwd: cwd.to_path_buf(),
        }
    }

    #[test]
    fn the_nearest_state_above_wins_over_the_variable() {
        let root = tempfile::tempdir().unwrap();
        let nested = root.path().join("a/b");
        std::fs::create_dir_all(&nested).unwrap();
        std::fs::create_dir(root.path().join(".sandpipe")).unwrap();
        let other = tempfile::tempdir().unwrap();
        let found = location(&nested, Some(other.path())).existing().unwrap();
        assert_eq!(found, root.path().join(".sandpipe"));
        assert_eq!(
            location(root.path(), None).existing().unwrap(),
            Path::new(".sandpipe")
        );
    }

    #[test]
    fn nothing_found_names_where_it_looked_and_creates_nothing() {
        let root = tempfile::tempdir().unwrap();
        let error = location(root.path(), Some(&root.path().join("gone")))
            .existing()
            .unwrap_err()
            .to_string();
        assert!(error.contains(&root.path().join(".sandpipe").display().to_string()));
        assert!(error.contains("gone"), "{error}");
        assert!(!root.path().join(".sandpipe").exists());
    }
}
