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
//! on the host simply do not exist for the guest. `/in` and `/archives` exist only for an
//! action with inputs, `/out` only for one with outputs: creating directories is most of what
//! a sandbox costs.
//!
//! Sandboxes live in a [`WorkArea`]: a private directory on a memory file system when the
//! machine has one with room to spare, where creating and removing them costs a tenth of what
//! it costs on disk, else the state directory's `work/`.

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
    /// Create the sandbox at `root`, which must not exist yet (its parent is created).
    pub fn create(root: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(root.parent().unwrap_or(root))?;
        std::fs::create_dir(root)?;
        // Absolute, because processes started for the guest (exec) see these paths.
        Self::in_new_dir(root.canonicalize()?)
    }

    /// A sandbox in `root`, an absolute directory just created.
    fn in_new_dir(root: PathBuf) -> io::Result<Self> {
        std::fs::create_dir(root.join("tmp"))?;
        let mut sandbox = Sandbox {
            root,
            mounts: Vec::new(),
        };
        sandbox.mount("/tmp", sandbox.root.join("tmp"), true);
        Ok(sandbox)
    }

    /// Create `dir` under the root the first time it is needed.
    fn ensure_dir(&self, dir: &str) -> io::Result<PathBuf> {
        let path = self.root.join(dir);
        match std::fs::create_dir(&path) {
            Err(e) if e.kind() != io::ErrorKind::AlreadyExists => Err(e),
            _ => Ok(path),
        }
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
        let tree = self.ensure_dir("in")?.join(name);
        std::fs::create_dir(&tree)?;
        if !self.mounts.iter().any(|m| m.guest == "/archives") {
            let archives = self.ensure_dir("archives")?;
            self.mount("/archives", archives, false);
        }
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
        let dir = self.ensure_dir("out")?.join(name);
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

/// Where sandboxes are made: one directory per execution, one sandbox per action.
#[derive(Debug, Clone)]
pub struct WorkArea {
    root: PathBuf,
    in_memory: bool,
}

/// Free space a memory file system must have for sandboxes to be made on it: builds write
/// their outputs there, and what a memory file system holds is held in RAM.
const MIN_MEMORY_AREA_BYTES: u64 = 4 << 30;

impl WorkArea {
    /// The work area at `dir` (created if need be).
    pub fn at(dir: &Path) -> io::Result<Self> {
        std::fs::create_dir_all(dir)?;
        Ok(WorkArea {
            root: dir.canonicalize()?,
            in_memory: is_memory_fs(dir),
        })
    }

    /// A private directory on a memory file system (`$XDG_RUNTIME_DIR`, else `/dev/shm`)
    /// with at least 4 GiB free, else `fallback` (on disk).
    pub fn choose(fallback: &Path) -> io::Result<Self> {
        match memory_area() {
            Some(area) => Ok(area),
            None => WorkArea::at(fallback),
        }
    }

    pub fn root(&self) -> &Path {
        &self.root
    }

    pub fn in_memory(&self) -> bool {
        self.in_memory
    }

    /// Make the directory of an execution's sandboxes, marked with `owner` (who may remove
    /// it: see [`Self::sweep`]). The marker appears whole or not at all.
    pub fn claim(&self, execution: &str, owner: &str) -> io::Result<()> {
        let dir = self.root.join(execution);
        std::fs::create_dir_all(&dir)?;
        let partial = dir.join(format!("{OWNER_FILE}.partial"));
        std::fs::write(&partial, owner)?;
        std::fs::rename(partial, dir.join(OWNER_FILE))
    }

    /// The sandbox of action `name` of execution `execution`: a fresh directory in the
    /// execution's (made by [`Self::claim`] or here). What an earlier attempt of the same
    /// action left there (a retry, a kept sandbox) is removed first.
    pub fn sandbox(&self, execution: &str, name: &str) -> io::Result<Sandbox> {
        let parent = self.root.join(execution);
        let root = parent.join(name);
        match std::fs::create_dir(&root) {
            Err(e) if e.kind() == io::ErrorKind::NotFound => {
                std::fs::create_dir_all(&parent)?;
                std::fs::create_dir(&root)?;
            }
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                std::fs::remove_dir_all(&root)?;
                std::fs::create_dir(&root)?;
            }
            other => other?,
        }
        Sandbox::in_new_dir(root)
    }

    /// Remove whatever is left of an execution's sandboxes.
    pub fn remove_execution(&self, execution: &str) {
        let _ = std::fs::remove_dir_all(self.root.join(execution));
    }

    /// Remove the sandboxes of executions whose owner is gone (`abandoned` says, from the
    /// owner marker): what a killed process left. Only directories sandpipe marked are
    /// candidates, so a work area shared with other files (`--work-dir`) loses nothing else.
    /// Returns how many were removed.
    pub fn sweep(&self, abandoned: impl Fn(&str) -> bool) -> usize {
        let Ok(entries) = std::fs::read_dir(&self.root) else {
            return 0;
        };
        let mut removed = 0;
        for entry in entries.flatten() {
            if !entry.file_type().is_ok_and(|t| t.is_dir()) {
                continue;
            }
            let dir = entry.path();
            let stale = std::fs::read_to_string(dir.join(OWNER_FILE))
                .is_ok_and(|owner| abandoned(owner.trim()));
            if stale {
                removed += usize::from(std::fs::remove_dir_all(&dir).is_ok());
            }
        }
        removed
    }
}

/// The file in an execution's sandbox directory that names its owner.
const OWNER_FILE: &str = ".owner";

fn is_memory_fs(dir: &Path) -> bool {
    statfs(dir).is_some_and(|(kind, _)| kind == TMPFS_MAGIC)
}

const TMPFS_MAGIC: i64 = 0x0102_1994;

/// Bytes available to this user on the file system holding `dir`, when it can be told.
pub fn free_bytes(dir: &Path) -> Option<u64> {
    statfs(dir).map(|(_, free)| free)
}

/// The file system type and the bytes available to this user.
fn statfs(dir: &Path) -> Option<(i64, u64)> {
    use std::os::unix::ffi::OsStrExt;
    let path = std::ffi::CString::new(dir.as_os_str().as_bytes()).ok()?;
    let mut stat: libc::statfs = unsafe { std::mem::zeroed() };
    // SAFETY: `path` is NUL-terminated and `stat` is a valid, writable statfs.
    if unsafe { libc::statfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    Some((
        stat.f_type as i64,
        (stat.f_bavail as u64).saturating_mul(stat.f_bsize as u64),
    ))
}

/// `sandpipe/work` in a memory file system that has room, made private to this user. Every
/// level is checked without following links: the base must be this user's (like
/// `$XDG_RUNTIME_DIR`) or root's and sticky (like `/dev/shm`, where no one else can replace
/// what this user made), and `sandpipe` and `work` this user's alone.
fn memory_area() -> Option<WorkArea> {
    use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
    // SAFETY: geteuid has no preconditions.
    let uid = unsafe { libc::geteuid() };
    // This user's directory (not a link to one), readable by this user alone.
    let make_private = |path: &Path| {
        let _ = std::fs::DirBuilder::new().mode(0o700).create(path);
        let Ok(metadata) = std::fs::symlink_metadata(path) else {
            return false;
        };
        if !metadata.is_dir() || metadata.uid() != uid {
            return false;
        }
        metadata.mode() & 0o077 == 0
            || std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o700)).is_ok()
    };
    let candidates = [
        std::env::var_os("XDG_RUNTIME_DIR").map(|dir| PathBuf::from(dir).join("sandpipe")),
        Some(PathBuf::from(format!("/dev/shm/sandpipe-{uid}"))),
    ];
    candidates.into_iter().flatten().find_map(|private| {
        let base = private.parent()?;
        let (kind, available) = statfs(base)?;
        if kind != TMPFS_MAGIC || available < MIN_MEMORY_AREA_BYTES {
            return None;
        }
        let base_metadata = std::fs::symlink_metadata(base).ok()?;
        let safe_base = base_metadata.is_dir()
            && (base_metadata.uid() == uid
                || (base_metadata.uid() == 0 && base_metadata.mode() & 0o1000 != 0));
        let work = private.join("work");
        if !safe_base || !make_private(&private) || !make_private(&work) {
            return None;
        }
        let root = work.canonicalize().ok()?;
        (root
            == base
                .canonicalize()
                .ok()?
                .join(private.file_name()?)
                .join("work"))
        .then_some(WorkArea {
            root,
            in_memory: true,
        })
    })
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

    #[test]
    fn mounts_exist_only_for_what_the_action_has() {
        let scratch = tempfile::tempdir().unwrap();
        let area = WorkArea::at(scratch.path()).unwrap();
        let bare = area.sandbox("e", "00-00").unwrap();
        let guests: Vec<String> = bare.mounts().into_iter().map(|m| m.0).collect();
        assert_eq!(guests, ["/tmp"]);
        assert!(!bare.root().join("in").exists() && !bare.root().join("archives").exists());
        let mut full = area.sandbox("e", "00-01").unwrap();
        full.add_input("A").unwrap();
        full.add_input("B").unwrap();
        full.add_output("C").unwrap();
        let guests: Vec<String> = full.mounts().into_iter().map(|m| m.0).collect();
        assert_eq!(guests, ["/tmp", "/archives", "/in/A", "/in/B", "/out/C"]);
        area.remove_execution("e");
        assert!(!scratch.path().join("e").exists());
    }

    #[test]
    fn a_sweep_removes_only_what_abandoned_owners_left() {
        let scratch = tempfile::tempdir().unwrap();
        let area = WorkArea::at(scratch.path()).unwrap();
        for (execution, owner) in [("dead", "1 gone"), ("alive", "2 here"), ("kept", "kept")] {
            area.claim(execution, owner).unwrap();
            area.sandbox(execution, "00-00").unwrap();
        }
        // Being made by someone right now: no marker yet.
        std::fs::create_dir(scratch.path().join("fresh")).unwrap();
        assert_eq!(area.sweep(|owner| owner == "1 gone"), 1);
        let mut left: Vec<String> = std::fs::read_dir(scratch.path())
            .unwrap()
            .map(|e| e.unwrap().file_name().into_string().unwrap())
            .collect();
        left.sort();
        assert_eq!(left, ["alive", "fresh", "kept"]);
        // A sandbox an earlier attempt left is replaced, not refused.
        let mut again = area.sandbox("alive", "00-00").unwrap();
        again.add_output("Out").unwrap();
        std::fs::write(again.output_dir("Out").join("old"), "x").unwrap();
        let fresh = area.sandbox("alive", "00-00").unwrap();
        assert!(!fresh.root().join("out").exists());
    }
}
