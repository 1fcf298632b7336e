//! Selecting files the way buildspec `artifacts`, `reports` and `cache` do: globs relative to
//! a base directory (`**/*` for everything below it), exclusions, flattened paths.

use globset::{Glob, GlobBuilder, GlobSet, GlobSetBuilder};
use walkdir::WalkDir;

use crate::buildspec::Text;

fn glob(pattern: &str) -> Result<Glob, String> {
    let pattern = pattern.trim_start_matches("./");
    GlobBuilder::new(pattern)
        .literal_separator(true)
        .build()
        .map_err(|e| format!("'{pattern}' is not a valid pattern: {e}"))
}

pub fn glob_set(patterns: &[Text]) -> Result<GlobSet, String> {
    let mut builder = GlobSetBuilder::new();
    for pattern in patterns {
        builder.add(glob(&pattern.0)?);
    }
    builder.build().map_err(|e| e.to_string())
}

fn has_glob_characters(text: &str) -> bool {
    text.contains(['*', '?', '[', '{'])
}

/// A file selected: its sandbox path and where it goes, relative to the destination.
#[derive(Debug, PartialEq, Eq)]
pub struct Selected {
    pub path: String,
    pub relative: String,
}

/// What [`select`] found.
#[derive(Debug, Default)]
pub struct Selection {
    pub files: Vec<Selected>,
    /// Symbolic links that matched; never followed.
    pub links: Vec<String>,
}

pub struct Rule<'a> {
    pub files: &'a [Text],
    pub base_directory: Option<&'a str>,
    pub exclude: &'a [Text],
    pub discard_paths: bool,
}

/// The base directories `base` names below `root`: itself, or, when it is a pattern, every
/// directory below the root that matches it.
fn base_directories(root: &str, base: Option<&str>) -> Result<Vec<String>, String> {
    let Some(base) = base.map(|b| b.trim_matches('/')).filter(|b| !b.is_empty()) else {
        return Ok(vec![root.to_string()]);
    };
    if base.split('/').any(|part| part == "..") {
        return Err(format!(
            "base-directory '{base}' leaves the source directory"
        ));
    }
    if !has_glob_characters(base) {
        return Ok(vec![format!("{root}/{base}")]);
    }
    let matcher = glob(base)?.compile_matcher();
    let mut found = Vec::new();
    for entry in WalkDir::new(root).min_depth(1).sort_by_file_name() {
        let entry = entry.map_err(|e| e.to_string())?;
        if entry.file_type().is_dir() {
            let relative = relative_to(root, entry.path().to_str().unwrap_or_default());
            if matcher.is_match(&relative) {
                found.push(format!("{root}/{relative}"));
            }
        }
    }
    Ok(found)
}

fn relative_to(root: &str, path: &str) -> String {
    path.strip_prefix(root)
        .unwrap_or(path)
        .trim_start_matches('/')
        .to_string()
}

/// Files below `root` that `rule` selects, in a stable order.
pub fn select(root: &str, rule: &Rule<'_>) -> Result<Selection, String> {
    let include = glob_set(rule.files)?;
    let exclude = glob_set(rule.exclude)?;
    let mut selection = Selection::default();
    for base in base_directories(root, rule.base_directory)? {
        if !std::path::Path::new(&base).is_dir() {
            continue;
        }
        for entry in WalkDir::new(&base).min_depth(1).sort_by_file_name() {
            let entry = entry.map_err(|e| e.to_string())?;
            let path = entry.path().to_str().unwrap_or_default().to_string();
            let relative = relative_to(&base, &path);
            if entry.file_type().is_dir()
                || !include.is_match(&relative)
                || exclude.is_match(&relative)
            {
                continue;
            }
            if entry.path_is_symlink() {
                selection.links.push(relative_to(root, &path));
                continue;
            }
            let relative = if rule.discard_paths {
                relative.rsplit('/').next().unwrap_or(&relative).to_string()
            } else {
                relative
            };
            selection.files.push(Selected { path, relative });
        }
    }
    Ok(selection)
}

/// The directory a cache path names, relative to the source: `node_modules/**/*` →
/// `node_modules`. Absolute paths are not cached locally (they are this machine's own).
pub fn cache_directory(pattern: &str) -> Result<String, String> {
    if pattern.starts_with('/') || pattern.starts_with('~') {
        return Err(format!(
            "cache path '{pattern}' is outside the source directory; sandpipe caches paths \
             inside it only"
        ));
    }
    let fixed: Vec<&str> = pattern
        .trim_start_matches("./")
        .split('/')
        .take_while(|part| !has_glob_characters(part))
        .collect();
    if fixed.is_empty() || fixed.contains(&"..") {
        return Err(format!(
            "cache path '{pattern}' names no directory inside the source"
        ));
    }
    Ok(fixed.join("/"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_directories() {
        assert_eq!(
            cache_directory("node_modules/**/*").unwrap(),
            "node_modules"
        );
        assert_eq!(cache_directory("./.cache/pip/**/*").unwrap(), ".cache/pip");
        assert!(cache_directory("/root/.m2/**/*").is_err());
        assert!(cache_directory("**/*").is_err());
    }
}
