//! Installed plugins: component files whose embedded manifest says which action types they
//! serve, found in the operator's plugin directories and indexed by those types, so a
//! pipeline using an installed custom type runs without `--provider`.
//!
//! Where they are looked for, all of them every time: each `--plugins DIR`, then
//! `<state-dir>/actions/` (where `sandpipe action install` puts them), then the user's
//! `$XDG_CONFIG_HOME/sandpipe/actions/` (`~/.config/sandpipe/actions/`). Two different files
//! claiming one action type serve it not at all — a run using it is refused naming both,
//! since which one runs must never depend on directory order — and the operator's
//! `--provider TYPE=FILE` settles it. (The same file installed twice is one plugin.) A
//! plugin serves only Custom action types; the operator replaces a built-in provider with
//! `--provider`.
//!
//! Discovery reads only each file's top-level sections (see
//! [`sandpipe_runtime::component_file`]); the component itself is read when a run uses it.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use sandpipe_model::ActionTypeId;
use sandpipe_model::plugin::PluginManifest;
use sandpipe_runtime::Capability;
use sandpipe_runtime::component_file::{ComponentSummary, summarize, summarize_file};
use sha2::{Digest, Sha256};

use crate::providers::Origin;

/// An installed plugin: its file and what its manifest says.
#[derive(Debug, Clone)]
pub struct Plugin {
    pub path: PathBuf,
    pub manifest: PluginManifest,
    /// Its top-level imports (what it could call; the grants it needs follow from them).
    pub imports: Vec<String>,
}

impl Plugin {
    /// Read the plugin in `path`: a component with an embedded manifest (only its
    /// top-level sections are read).
    pub fn read(path: &Path) -> anyhow::Result<Plugin> {
        Plugin::from_summary(path, summarize_file(path)?)
    }

    /// The plugin in `component`, read from `path`.
    pub fn from_component(path: &Path, component: &[u8]) -> anyhow::Result<Plugin> {
        let summary = summarize(component).with_context(|| {
            format!("{} is not a readable WebAssembly component", path.display())
        })?;
        Plugin::from_summary(path, summary)
    }

    fn from_summary(path: &Path, summary: ComponentSummary) -> anyhow::Result<Plugin> {
        let Some(manifest) = summary.manifest else {
            bail!(
                "{} has no sandpipe manifest: build it with `sandpipe action build`, or serve \
                 it with --provider TYPE={}",
                path.display(),
                path.display()
            );
        };
        let file = path.display().to_string();
        let manifest = PluginManifest::from_embedded(&file, &manifest, &known_capabilities())?;
        Ok(Plugin {
            path: path.to_path_buf(),
            manifest,
            imports: summary.imports,
        })
    }

    /// Where it comes from, as the registry names it.
    pub fn origin(&self) -> Origin {
        Origin::Plugin {
            name: self.manifest.name.clone(),
            version: self.manifest.version.clone(),
            path: self.path.clone(),
        }
    }

    /// `the plugin hello 0.1.0 (/path/hello.wasm)`, as messages name it.
    pub fn describe(&self) -> String {
        self.origin().describe()
    }

    /// The SHA-256 of the file, in hex (read whole: only asked when a policy names digests,
    /// or to tell two files apart).
    pub fn digest(&self) -> anyhow::Result<String> {
        file_digest(&self.path)
    }
}

/// The SHA-256 of a file, in hex, read in blocks.
pub fn file_digest(path: &Path) -> anyhow::Result<String> {
    use std::io::Read;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut hasher = Sha256::new();
    let mut block = vec![0u8; 1 << 16];
    loop {
        let read = file
            .read(&mut block)
            .with_context(|| format!("reading {}", path.display()))?;
        if read == 0 {
            break;
        }
        hasher.update(&block[..read]);
    }
    Ok(hex::encode(hasher.finalize()))
}

/// The SHA-256 of bytes, in hex: a policy's digests and pins are of whole files.
pub fn digest_of(bytes: &[u8]) -> String {
    hex::encode(Sha256::digest(bytes))
}

/// The capabilities a manifest may ask for.
pub fn known_capabilities() -> Vec<&'static str> {
    Capability::all().map(Capability::name).collect()
}

/// The directories plugins are looked for in, in the order documented above: `extra` (the
/// operator's `--plugins`), the state directory's, the user's.
pub fn plugin_dirs(extra: &[PathBuf], state_dir: Option<&Path>) -> Vec<PathBuf> {
    let mut dirs = extra.to_vec();
    dirs.extend(state_dir.map(installed_dir));
    if let Some(user) = user_dir() {
        dirs.push(user);
    }
    dirs
}

/// Where `sandpipe action install` puts plugins.
pub fn installed_dir(state_dir: &Path) -> PathBuf {
    state_dir.join("actions")
}

/// `$XDG_CONFIG_HOME/sandpipe/actions`, else `~/.config/sandpipe/actions`.
pub fn user_dir() -> Option<PathBuf> {
    let base = std::env::var_os("XDG_CONFIG_HOME")
        .filter(|v| !v.is_empty())
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".config")))?;
    Some(base.join("sandpipe").join("actions"))
}

/// What the plugin directories hold.
#[derive(Debug, Default)]
pub struct Discovered {
    pub plugins: Vec<Plugin>,
    /// The plugin serving each action type (an index into `plugins`).
    pub serving: BTreeMap<ActionTypeId, usize>,
    /// Action types two different files claim: which one runs must never depend on
    /// directory order, so neither does (a run using the type says so, naming both).
    pub conflicts: BTreeMap<ActionTypeId, Vec<PathBuf>>,
    /// Files that are not plugins sandpipe can read, and why: reported where they matter
    /// (`action list`, a run whose action type nothing serves) rather than stopping every
    /// command.
    pub unreadable: Vec<(PathBuf, String)>,
}

/// Every plugin in `dirs` (a directory that does not exist has none), with the action types
/// each serves.
pub fn discover(dirs: &[PathBuf]) -> Discovered {
    let mut found = Discovered::default();
    let mut claims: BTreeMap<ActionTypeId, Vec<usize>> = BTreeMap::new();
    for dir in dirs {
        let entries = match std::fs::read_dir(dir) {
            Ok(entries) => entries,
            Err(error) if error.kind() == std::io::ErrorKind::NotFound => continue,
            Err(error) => {
                found.unreadable.push((dir.clone(), error.to_string()));
                continue;
            }
        };
        let mut files: Vec<PathBuf> = entries
            .filter_map(Result::ok)
            .map(|entry| entry.path())
            .filter(|path| path.extension().is_some_and(|e| e == "wasm") && path.is_file())
            .collect();
        files.sort();
        for path in files {
            match Plugin::read(&path) {
                Ok(plugin) => {
                    for id in plugin.manifest.action_type_ids() {
                        claims.entry(id).or_default().push(found.plugins.len());
                    }
                    found.plugins.push(plugin);
                }
                Err(error) => found.unreadable.push((path, format!("{error:#}"))),
            }
        }
    }
    for (id, claimants) in claims {
        let first = claimants[0];
        // The same file installed in two places is one plugin.
        let digest = |i: usize| found.plugins[i].digest().ok();
        let same = claimants.len() == 1
            || claimants[1..].iter().all(|&i| {
                let (a, b) = (digest(first), digest(i));
                a.is_some() && a == b
            });
        if same {
            found.serving.insert(id, first);
        } else {
            let paths = claimants.iter().map(|&i| found.plugins[i].path.clone());
            found.conflicts.insert(id, paths.collect());
        }
    }
    found
}
