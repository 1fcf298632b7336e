//! `sandpipe action new`: a working plugin to start from, in Rust, Python or JavaScript —
//! its manifest, its code, and the SDK it is written against (with its WIT), so the new
//! directory builds with nothing from this repository. The files are compiled into the
//! binary from `actions/templates`, `actions/sdk*` and `wit/`.

use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sandpipe_engine::plugins::known_capabilities;
use sandpipe_model::ActionTypeId;
use sandpipe_model::plugin::{Language, MANIFEST_FILE, PluginManifest};

/// `(path in the new plugin, contents)`.
type File = (&'static str, &'static str);

macro_rules! files {
    ($($to:literal => $from:literal),+ $(,)?) => {
        &[$(($to, include_str!(concat!("../../../../", $from)))),+]
    };
}

/// The WIT of the `sandpipe:action` package, under `wit/`.
const WIT: &[File] = files![
    "build-projects.wit" => "wit/action/build-projects.wit",
    "exec.wit" => "wit/action/exec.wit",
    "execution.wit" => "wit/action/execution.wit",
    "git.wit" => "wit/action/git.wit",
    "log.wit" => "wit/action/log.wit",
    "object-store.wit" => "wit/action/object-store.wit",
    "reports.wit" => "wit/action/reports.wit",
    "runner.wit" => "wit/action/runner.wit",
    "secrets.wit" => "wit/action/secrets.wit",
    "types.wit" => "wit/action/types.wit",
    "worlds.wit" => "wit/action/worlds.wit",
];

/// WASI's file system packages, which a JavaScript plugin imports (under `wit/deps/`).
const WASI: &[File] = files![
    "clocks.wit" => "wit/wasi/clocks.wit",
    "filesystem.wit" => "wit/wasi/filesystem.wit",
    "io.wit" => "wit/wasi/io.wit",
];

/// The Rust SDK crate, under `sandpipe-action-sdk/`.
const RUST_SDK: &[File] = files![
    "Cargo.toml" => "actions/sdk/Cargo.toml",
    "src/config.rs" => "actions/sdk/src/config.rs",
    "src/exec.rs" => "actions/sdk/src/exec.rs",
    "src/execution.rs" => "actions/sdk/src/execution.rs",
    "src/files.rs" => "actions/sdk/src/files.rs",
    "src/git.rs" => "actions/sdk/src/git.rs",
    "src/lib.rs" => "actions/sdk/src/lib.rs",
    "src/log.rs" => "actions/sdk/src/log.rs",
    "src/object_store.rs" => "actions/sdk/src/object_store.rs",
    "src/outcome.rs" => "actions/sdk/src/outcome.rs",
    "src/reports.rs" => "actions/sdk/src/reports.rs",
    "src/secrets.rs" => "actions/sdk/src/secrets.rs",
];

const MANIFEST: &str = include_str!("../../../../actions/templates/manifest.yaml");

const RUST: &[File] = files![
    "Cargo.toml" => "actions/templates/rust/Cargo.toml",
    "src/lib.rs" => "actions/templates/rust/src/lib.rs",
    ".gitignore" => "actions/templates/rust/gitignore",
    // The versions the built-in providers are built with, so the first build resolves
    // nothing new (cargo drops what the plugin does not use).
    "Cargo.lock" => "actions/Cargo.lock",
];

const PYTHON: &[File] = files![
    "app.py" => "actions/templates/python/app.py",
    "sandpipe_action.py" => "actions/sdk-python/sandpipe_action.py",
    ".gitignore" => "actions/templates/python/gitignore",
];

const JAVASCRIPT: &[File] = files![
    "app.js" => "actions/templates/javascript/app.js",
    "package.json" => "actions/templates/javascript/package.json",
    "sandpipe-action.js" => "actions/sdk-js/sandpipe-action.js",
    ".gitignore" => "actions/templates/javascript/gitignore",
];

/// Every file of a new plugin in `language`: `(path, contents)` with the placeholders
/// still in.
fn plugin_files(language: Language) -> Vec<(String, &'static str)> {
    let under = |dir: &str, files: &[File]| -> Vec<(String, &'static str)> {
        files
            .iter()
            .map(|(path, text)| (format!("{dir}{path}"), *text))
            .collect()
    };
    let mut files = vec![(MANIFEST_FILE.to_string(), MANIFEST)];
    match language {
        Language::Rust => {
            files.extend(under("", RUST));
            files.extend(under("sandpipe-action-sdk/", RUST_SDK));
            files.extend(under("sandpipe-action-sdk/wit/", WIT));
        }
        Language::Python => {
            files.extend(under("", PYTHON));
            files.extend(under("wit/", WIT));
        }
        Language::Javascript => {
            files.extend(under("", JAVASCRIPT));
            files.extend(under("wit/", WIT));
            files.extend(under("wit/deps/", WASI));
        }
    }
    files
}

/// What a new plugin is called and serves.
pub struct Names {
    /// The plugin's name: its manifest's, its crate's or package's, its file's.
    pub name: String,
    pub action_type: ActionTypeId,
}

impl Names {
    /// From the directory's name, unless given.
    pub fn choose(
        dir: &Path,
        name: Option<String>,
        action_type: Option<ActionTypeId>,
    ) -> anyhow::Result<Names> {
        let name = match name {
            Some(name) => name,
            None => {
                let base = dir
                    .file_name()
                    .map(|n| n.to_string_lossy().to_string())
                    .unwrap_or_default();
                let name: String = base
                    .to_lowercase()
                    .chars()
                    .map(|c| if c.is_ascii_alphanumeric() { c } else { '-' })
                    .collect();
                let name = name.trim_matches('-').to_string();
                if name.is_empty() {
                    bail!("cannot name a plugin after {}: give --name", dir.display());
                }
                name
            }
        };
        let action_type = match action_type {
            Some(action_type) => action_type,
            None => {
                let provider: String = name
                    .split(['-', '_'])
                    .map(|word| {
                        let mut chars = word.chars();
                        chars
                            .next()
                            .map(|c| c.to_ascii_uppercase().to_string() + chars.as_str())
                            .unwrap_or_default()
                    })
                    .collect();
                format!("Build/Custom/{provider}/1")
                    .parse()
                    .map_err(anyhow::Error::msg)?
            }
        };
        Ok(Names { name, action_type })
    }
}

/// Write a new plugin in `language` into `dir`, which must not exist or be empty; the paths
/// written, relative to `dir`. Its manifest is checked first, and the files are written
/// into a directory beside `dir` renamed into place, so a failure leaves nothing behind.
pub fn create(dir: &Path, language: Language, names: &Names) -> anyhow::Result<Vec<PathBuf>> {
    let occupied = dir
        .read_dir()
        .map(|mut entries| entries.next().is_some())
        .unwrap_or(false);
    if occupied {
        bail!(
            "{} is not empty: `sandpipe action new` makes a new directory",
            dir.display()
        );
    }
    let replacements = [
        ("{{name}}", names.name.clone()),
        ("{{type}}", names.action_type.to_string()),
        ("{{language}}", language.name().to_string()),
    ];
    let fill = |text: &str| {
        replacements
            .iter()
            .fold(text.to_string(), |text, (placeholder, value)| {
                text.replace(placeholder, value)
            })
    };
    // The name and type as given must make a valid manifest (and, in Rust, a package).
    PluginManifest::parse(MANIFEST_FILE, &fill(MANIFEST), true, &known_capabilities())
        .map_err(|error| anyhow::anyhow!("--name or --type: {error}"))?;
    if language == Language::Rust && !names.name.starts_with(|c: char| c.is_ascii_lowercase()) {
        bail!(
            "'{}' cannot name a Rust package: start it with a letter (--name)",
            names.name
        );
    }
    let parent = dir
        .parent()
        .filter(|p| !p.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let staging = parent.join(format!(".{}.new-{}", names.name, std::process::id()));
    let written = write_files(&staging, language, &fill);
    let placed = written.and_then(|written| {
        if dir.exists() {
            std::fs::remove_dir(dir).with_context(|| format!("replacing {}", dir.display()))?;
        }
        std::fs::rename(&staging, dir).with_context(|| format!("creating {}", dir.display()))?;
        Ok(written)
    });
    if placed.is_err() {
        let _ = std::fs::remove_dir_all(&staging);
    }
    placed
}

fn write_files(
    dir: &Path,
    language: Language,
    fill: &dyn Fn(&str) -> String,
) -> anyhow::Result<Vec<PathBuf>> {
    let mut written = Vec::new();
    for (path, text) in plugin_files(language) {
        // WIT and the lock file are copied as they are; only templates have placeholders.
        let text = if path.ends_with(".wit") || path.ends_with(".lock") {
            text.to_string()
        } else {
            fill(text)
        };
        let target = dir.join(&path);
        if let Some(parent) = target.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&target, text).with_context(|| format!("writing {}", target.display()))?;
        written.push(PathBuf::from(path));
    }
    Ok(written)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every file of the SDKs and the WIT is in the lists above: a file added to one of
    /// them and not here would be missing from every new plugin.
    #[test]
    fn every_sdk_and_wit_file_is_embedded() {
        let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
        for (dir, listed) in [
            ("wit/action", WIT),
            ("wit/wasi", WASI),
            ("actions/sdk/src", &RUST_SDK[1..]),
        ] {
            let mut on_disk: Vec<String> = std::fs::read_dir(root.join(dir))
                .unwrap()
                .map(|e| e.unwrap().file_name().to_string_lossy().to_string())
                .collect();
            on_disk.sort();
            let mut names: Vec<String> = listed
                .iter()
                .map(|(path, _)| path.rsplit('/').next().unwrap().to_string())
                .collect();
            names.sort();
            assert_eq!(names, on_disk, "{dir}");
        }
    }

    #[test]
    fn names_come_from_the_directory() {
        let names = Names::choose(Path::new("/x/Hello_World"), None, None).unwrap();
        assert_eq!(names.name, "hello-world");
        assert_eq!(names.action_type.to_string(), "Build/Custom/HelloWorld/1");
        let given = Names::choose(
            Path::new("/x/y"),
            Some("lint".into()),
            Some("Test/Custom/Lint/2".parse().unwrap()),
        )
        .unwrap();
        assert_eq!(given.action_type.to_string(), "Test/Custom/Lint/2");
    }

    #[test]
    fn a_new_plugin_holds_a_valid_manifest() {
        let dir = tempfile::tempdir().unwrap();
        let target = dir.path().join("hello");
        let names = Names::choose(&target, None, None).unwrap();
        for language in [Language::Rust, Language::Python, Language::Javascript] {
            let at = target.join(language.name());
            create(&at, language, &names).unwrap();
            let manifest = sandpipe_model::plugin::PluginManifest::read(
                &at.join(MANIFEST_FILE),
                &["exec", "git", "secrets"],
            )
            .unwrap();
            assert_eq!(manifest.language, Some(language));
            assert_eq!(manifest.action_types, ["Build/Custom/Hello/1"]);
            assert!(create(&at, language, &names).is_err(), "not empty");
        }
        // A type no manifest may hold is refused before anything is written.
        let odd =
            Names::choose(&target, None, Some("Build/Custom/a: b/1".parse().unwrap())).unwrap();
        let refused = dir.path().join("odd");
        assert!(create(&refused, Language::Python, &odd).is_err());
        assert!(!refused.exists());
        let digit = Names::choose(&target, Some("1st".into()), None).unwrap();
        assert!(create(&dir.path().join("digit"), Language::Rust, &digit).is_err());
    }
}
