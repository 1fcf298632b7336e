//! The per-execution filesystem an action sees, and the mapping from its guest paths back to
//! host directories for host calls that name files (object-store get/put).
//!
//! Guest view:
//! ```text
//! /in/<Artifact>    read-only   the extracted input artifact
//! /archives         read-only   one file per input artifact, named after it, as stored
//! /out/<Artifact>   read-write  empty; packaged by the host when the action succeeds
//! /tmp              read-write  scratch
//! ```
//! There is no root directory: `/etc/passwd`, other executions' artifacts and anything else
//! on the host simply do not exist for the guest.

use std::io;
use std::path::{Component, Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use wasmtime_wasi::{FsPerms, WasiCtxBuilder};

#[derive(Debug)]
struct Mount {
    guest: String,
    host: PathBuf,
    writable: bool,
}

/// The directories of one action execution, all below `root`, all created fresh.
#[derive(Debug)]
pub struct Sandbox {
    root: PathBuf,
    mounts: Vec<Mount>,
}

/// Artifact names become directory names, so they must be plain names.
fn check_artifact_name(name: &str) -> io::Result<()> {
    let plain = !name.is_empty()
        && name.len() <= 100
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_');
    if plain {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("'{name}' is not a valid artifact name ([A-Za-z0-9_-], 1 to 100)"),
        ))
    }
}

impl Sandbox {
    /// Create the sandbox under `root`, which must not exist yet.
    pub fn create(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.parent().unwrap_or(root))?;
        std::fs::create_dir(root)?;
        // Absolute, because processes started for the guest (exec) see these paths.
        let root = &root.canonicalize()?;
        for dir in ["in", "out", "archives", "tmp"] {
            std::fs::create_dir(root.join(dir))?;
        }
        let mut sandbox = Sandbox {
            root: root.to_path_buf(),
            mounts: Vec::new(),
        };
        sandbox.mount("/archives", root.join("archives"), false);
        sandbox.mount("/tmp", root.join("tmp"), true);
        Ok(sandbox)
    }

    fn mount(&mut self, guest: &str, host: PathBuf, writable: bool) {
        self.mounts.push(Mount {
            guest: guest.to_string(),
            host,
            writable,
        });
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    /// Add input artifact `name`: returns the host directory to extract it into and the host
    /// path where its stored form goes. The guest sees them at [`Self::input_paths`].
    pub fn add_input(&mut self, name: &str) -> io::Result<(PathBuf, PathBuf)> {
        check_artifact_name(name)?;
        let tree = self.root.join("in").join(name);
        std::fs::create_dir(&tree)?;
        self.mount(&format!("/in/{name}"), tree.clone(), false);
        Ok((tree, self.root.join("archives").join(name)))
    }

    /// Guest paths of input artifact `name`: its tree and its stored form.
    pub fn input_paths(name: &str) -> (String, String) {
        (format!("/in/{name}"), format!("/archives/{name}"))
    }

    /// Add output artifact `name`; returns the host directory the guest fills.
    pub fn add_output(&mut self, name: &str) -> io::Result<PathBuf> {
        check_artifact_name(name)?;
        let dir = self.root.join("out").join(name);
        std::fs::create_dir(&dir)?;
        self.mount(&format!("/out/{name}"), dir.clone(), true);
        Ok(dir)
    }

    pub fn output_path(name: &str) -> String {
        format!("/out/{name}")
    }

    pub fn output_dir(&self, name: &str) -> PathBuf {
        self.root.join("out").join(name)
    }

    /// Mount `host` (a directory that outlives the execution, e.g. a build cache) read-write
    /// at `/cache`.
    pub fn add_cache(&mut self, host: &Path) -> io::Result<()> {
        std::fs::create_dir_all(host)?;
        self.mount("/cache", host.to_path_buf(), true);
        Ok(())
    }

    /// Every mount: (guest path, host directory, writable).
    pub fn mounts(&self) -> Vec<(String, PathBuf, bool)> {
        self.mounts
            .iter()
            .map(|m| (m.guest.clone(), m.host.clone(), m.writable))
            .collect()
    }

    /// The host path of a guest path, under the same rules as [`Self::resolve`] (for
    /// processes the host starts on the guest's behalf, which see host paths).
    pub fn host_path(&self, guest_path: &str, write: bool) -> Result<PathBuf, String> {
        let (mount, relative) = self.find_mount(guest_path, write)?;
        Ok(mount.host.join(relative))
    }

    /// Preopen every mount, read-only or read-write as declared.
    pub(crate) fn preopen(&self, wasi: &mut WasiCtxBuilder) -> anyhow::Result<()> {
        for mount in &self.mounts {
            let perms = if mount.writable {
                FsPerms::ReadWrite
            } else {
                FsPerms::ReadOnly
            };
            wasi.preopened_dir(&mount.host, &mount.guest, perms)
                .map_err(|e| anyhow::anyhow!("preopening {}: {e}", mount.guest))?;
        }
        Ok(())
    }

    /// Map a guest path to (mount directory, path relative to it). Only absolute paths under a
    /// mount resolve; `..` is refused outright rather than normalised, and symbolic links
    /// are resolved by cap-std, which refuses any that leave the mount.
    pub fn resolve(&self, guest_path: &str, write: bool) -> Result<(Dir, PathBuf), String> {
        let (mount, relative) = self.find_mount(guest_path, write)?;
        let dir = Dir::open_ambient_dir(&mount.host, ambient_authority())
            .map_err(|e| format!("opening {}: {e}", mount.guest))?;
        Ok((dir, relative))
    }

    fn find_mount(&self, guest_path: &str, write: bool) -> Result<(&Mount, PathBuf), String> {
        let path = Path::new(guest_path);
        if !path.is_absolute() {
            return Err(format!("'{guest_path}' is not an absolute sandbox path"));
        }
        if path.components().any(|c| c == Component::ParentDir) {
            return Err(format!("'{guest_path}' contains '..'"));
        }
        let mount = self
            .mounts
            .iter()
            .filter(|m| path.starts_with(&m.guest))
            .max_by_key(|m| m.guest.len())
            .ok_or_else(|| format!("'{guest_path}' is outside the sandbox"))?;
        if write && !mount.writable {
            return Err(format!("'{guest_path}' is in read-only {}", mount.guest));
        }
        let relative = path
            .strip_prefix(&mount.guest)
            .expect("mount is a prefix")
            .to_path_buf();
        Ok((mount, relative))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn resolves_only_paths_under_mounts() {
        let scratch = tempfile::tempdir().unwrap();
        let mut sandbox = Sandbox::create(&scratch.path().join("s")).unwrap();
        sandbox.add_input("Src").unwrap();
        sandbox.add_output("Out").unwrap();

        let (_, relative) = sandbox.resolve("/out/Out/a/b.txt", true).unwrap();
        assert_eq!(relative, Path::new("a/b.txt"));
        assert!(sandbox.resolve("/in/Src/x", false).is_ok());
        assert_eq!(
            sandbox.resolve("/in/Src/x", true).unwrap_err(),
            "'/in/Src/x' is in read-only /in/Src"
        );
        assert_eq!(
            sandbox.resolve("/etc/passwd", false).unwrap_err(),
            "'/etc/passwd' is outside the sandbox"
        );
        assert_eq!(
            sandbox.resolve("/out/Out/../../etc", false).unwrap_err(),
            "'/out/Out/../../etc' contains '..'"
        );
        assert!(sandbox.resolve("/in/Other/x", false).is_err());
        assert!(sandbox.resolve("/out/OutX", true).is_err());
        assert!(sandbox.resolve("relative", false).is_err());
        assert!(sandbox.add_input("../evil").is_err());
    }
}
