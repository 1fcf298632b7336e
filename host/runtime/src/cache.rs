//! The on-disk cache of compiled components. Compiling is the one expensive step of running
//! an action (Cranelift, hundreds of milliseconds); every later run loads the result.
//!
//! Entries are keyed by the SHA-256 of the component and wasmtime's compatibility hash of
//! the engine configuration. Deserializing compiled code is only sound for bytes this host
//! produced, so each entry carries a header with the SHA-256 of its body, the directory is
//! private to the user, and an entry that fails any check is recompiled, never loaded.

use std::hash::{DefaultHasher, Hash, Hasher};
use std::io::Write;
use std::os::unix::fs::{OpenOptionsExt, PermissionsExt};
use std::path::{Path, PathBuf};

use anyhow::Context;
use sha2::{Digest, Sha256};
use wasmtime::Engine;
use wasmtime::component::Component;

const MAGIC: &[u8; 8] = b"SPCWASM1";

pub struct ComponentCache {
    dir: Option<PathBuf>,
}

/// Whether a component came from the cache or was compiled now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CacheOutcome {
    Hit,
    Compiled,
}

impl ComponentCache {
    /// A cache in `dir`, or no caching at all when `None`.
    pub fn new(dir: Option<PathBuf>) -> Self {
        ComponentCache { dir }
    }

    /// The user's cache directory: `$SANDPIPE_CACHE_DIR`, `$XDG_CACHE_HOME/sandpipe` or
    /// `~/.cache/sandpipe`.
    pub fn default_dir() -> Option<PathBuf> {
        if let Some(dir) = std::env::var_os("SANDPIPE_CACHE_DIR") {
            return Some(PathBuf::from(dir));
        }
        let base = std::env::var_os("XDG_CACHE_HOME")
            .map(PathBuf::from)
            .or_else(|| std::env::var_os("HOME").map(|home| PathBuf::from(home).join(".cache")))?;
        Some(base.join("sandpipe"))
    }

    pub fn load_or_compile(
        &self,
        engine: &Engine,
        wasm: &[u8],
        digest: &[u8; 32],
    ) -> anyhow::Result<(Component, CacheOutcome)> {
        let Some(dir) = &self.dir else {
            return Ok((Component::new(engine, wasm)?, CacheOutcome::Compiled));
        };
        let mut hasher = DefaultHasher::new();
        engine.precompile_compatibility_hash().hash(&mut hasher);
        let entry = dir.join("components").join(format!(
            "{}-{:016x}.cwasm",
            hex::encode(digest),
            hasher.finish()
        ));
        if let Some(body) = read_entry(&entry) {
            // SAFETY: the body was written by `store_entry` below (private directory, our
            // header and checksum verified), and wasmtime itself rejects bytes compiled by
            // another version or configuration.
            if let Ok(component) = unsafe { Component::deserialize(engine, &body) } {
                return Ok((component, CacheOutcome::Hit));
            }
        }
        let body = engine
            .precompile_component(wasm)
            .map_err(anyhow::Error::from)
            .context("compiling the component")?;
        // A cache that cannot be written only costs speed.
        let _ = store_entry(&entry, &body);
        // SAFETY: `body` was produced by `precompile_component` on this engine just now.
        let component = unsafe { Component::deserialize(engine, &body)? };
        Ok((component, CacheOutcome::Compiled))
    }
}

fn read_entry(path: &Path) -> Option<Vec<u8>> {
    let metadata = std::fs::symlink_metadata(path).ok()?;
    if !metadata.is_file() || metadata.permissions().mode() & 0o022 != 0 {
        return None;
    }
    let bytes = std::fs::read(path).ok()?;
    let header = MAGIC.len() + 32;
    if bytes.len() < header || &bytes[..MAGIC.len()] != MAGIC {
        return None;
    }
    let body = &bytes[header..];
    (Sha256::digest(body).as_slice() == &bytes[MAGIC.len()..header]).then(|| body.to_vec())
}

fn store_entry(path: &Path, body: &[u8]) -> std::io::Result<()> {
    let dir = path.parent().expect("entries live in a directory");
    std::fs::create_dir_all(dir)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))?;
    let tmp = path.with_extension(format!("tmp{}", std::process::id()));
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&tmp)?;
    file.write_all(MAGIC)?;
    file.write_all(&Sha256::digest(body))?;
    file.write_all(body)?;
    file.sync_all()?;
    std::fs::rename(&tmp, path)
}
