//! Artifact archives. Output trees are written by untrusted actions, and input zips come from
//! anywhere, so both directions treat their input as hostile: packaging never follows a
//! symbolic link — a link is stored as a symlink entry holding its target text, as git and
//! `zip -y` store them — and accepts nothing but files, directories and links; extraction
//! refuses entries that would land outside the target (zip-slip) and recreates link entries
//! as links without resolving them; both enforce byte and entry limits. All file access is
//! relative to a `cap_std::fs::Dir`, which refuses to resolve a path through a link that
//! leaves it, so a link pointing outside is kept but never followed by the host.
//!
//! Packaging is deterministic: entries sorted by path, fixed timestamps (1980-01-01) and
//! modes (0644, or 0755 for executables), so identical trees give byte-identical zips.

use std::io::{self, Read, Seek, Write};
use std::path::{Component, Path};

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions, PermissionsExt};
use zip::write::SimpleFileOptions;
use zip::{CompressionMethod, DateTime, ZipArchive, ZipWriter};

/// Caps on what crosses into or out of an artifact.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Total uncompressed bytes.
    pub max_bytes: u64,
    /// Files plus directories.
    pub max_entries: usize,
    /// Bytes in one entry's relative path.
    pub max_path_bytes: usize,
}

impl Default for Limits {
    /// CodePipeline's own limits: a 5 GB S3 artifact holding at most 100,000 files.
    fn default() -> Self {
        Limits {
            max_bytes: 5 * 1024 * 1024 * 1024,
            max_entries: 100_000,
            max_path_bytes: 1024,
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error(
        "'{path}' is a {kind}; artifacts may hold only regular files, directories and symbolic links"
    )]
    SpecialFile { path: String, kind: &'static str },
    #[error("'{0}' has a name that is not valid UTF-8")]
    NonUtf8Name(String),
    #[error("'{0}' has a path longer than the limit")]
    PathTooLong(String),
    #[error("more than {0} files and directories")]
    TooManyEntries(usize),
    #[error("more than {0} bytes")]
    TooLarge(u64),
    #[error("zip entry '{0}' would be written outside the artifact (absolute path or '..')")]
    UnsafeEntry(String),
    #[error("symbolic link '{0}' has a target longer than {MAX_LINK_TARGET_BYTES} bytes")]
    LinkTargetTooLong(String),
    #[error("zip entry '{0}' already exists")]
    DuplicateEntry(String),
    #[error("not a valid zip file: {0}")]
    Zip(zip::result::ZipError),
    #[error("{context}: {error}")]
    Io { context: String, error: io::Error },
}

fn io_error(context: impl Into<String>) -> impl FnOnce(io::Error) -> ArchiveError {
    let context = context.into();
    move |error| ArchiveError::Io { context, error }
}

impl From<zip::result::ZipError> for ArchiveError {
    fn from(error: zip::result::ZipError) -> Self {
        ArchiveError::Zip(error)
    }
}

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Summary {
    pub files: u64,
    pub directories: u64,
    pub symlinks: u64,
    pub bytes: u64,
}

/// Longest symbolic-link target an archive carries (PATH_MAX).
pub const MAX_LINK_TARGET_BYTES: usize = 4096;

enum Entry {
    Directory,
    File { executable: bool },
    Symlink { target: String },
}

/// Write the tree under `dir` as a deterministic zip.
pub fn pack_dir<W: Write + Seek>(
    dir: &Dir,
    out: W,
    limits: &Limits,
) -> Result<Summary, ArchiveError> {
    let mut entries = Vec::new();
    collect(dir, "", limits, &mut entries)?;
    entries.sort_by(|a, b| a.0.cmp(&b.0));

    let mut zip = ZipWriter::new(out);
    let mut summary = Summary::default();
    let options = SimpleFileOptions::default()
        .compression_method(CompressionMethod::Deflated)
        .last_modified_time(DateTime::default());
    for (path, entry) in entries {
        match entry {
            Entry::Directory => {
                zip.add_directory(&path, options.unix_permissions(0o755))?;
                summary.directories += 1;
            }
            Entry::File { executable } => {
                let mut file = dir
                    .open_with(
                        &path,
                        OpenOptions::new().read(true).follow(FollowSymlinks::No),
                    )
                    .map_err(io_error(format!("reading '{path}'")))?;
                let size = file
                    .metadata()
                    .map_err(io_error(format!("reading '{path}'")))?
                    .len();
                let mode = if executable { 0o755 } else { 0o644 };
                zip.start_file(
                    &path,
                    options
                        .unix_permissions(mode)
                        .large_file(size >= u32::MAX as u64),
                )?;
                let remaining = limits.max_bytes - summary.bytes;
                summary.bytes += copy_limited(&mut file, &mut zip, remaining, limits.max_bytes)
                    .map_err(|e| e.with_context(&path))?;
                summary.files += 1;
            }
            Entry::Symlink { target } => {
                zip.add_symlink(&path, target, options.unix_permissions(0o777))?;
                summary.symlinks += 1;
            }
        }
    }
    zip.finish()?;
    Ok(summary)
}

/// Gather every entry below `dir`, refusing anything but files, directories and links.
fn collect(
    dir: &Dir,
    prefix: &str,
    limits: &Limits,
    entries: &mut Vec<(String, Entry)>,
) -> Result<(), ArchiveError> {
    let listing = dir
        .entries()
        .map_err(io_error(format!("listing '{}'", display_dir(prefix))))?;
    for item in listing {
        let item = item.map_err(io_error(format!("listing '{}'", display_dir(prefix))))?;
        let raw_name = item.file_name();
        let name = raw_name.to_str().ok_or_else(|| {
            ArchiveError::NonUtf8Name(format!("{prefix}{}", raw_name.to_string_lossy()))
        })?;
        let path = format!("{prefix}{name}");
        if path.len() > limits.max_path_bytes {
            return Err(ArchiveError::PathTooLong(path));
        }
        // DirEntry::file_type does not follow symbolic links.
        let file_type = item
            .file_type()
            .map_err(io_error(format!("inspecting '{path}'")))?;
        if entries.len() >= limits.max_entries {
            return Err(ArchiveError::TooManyEntries(limits.max_entries));
        }
        if file_type.is_symlink() {
            // The link's own text, never what it points at.
            let target = dir
                .read_link_contents(name)
                .map_err(io_error(format!("reading link '{path}'")))?;
            let target = target
                .to_str()
                .ok_or_else(|| ArchiveError::NonUtf8Name(path.clone()))?
                .to_string();
            if target.len() > MAX_LINK_TARGET_BYTES {
                return Err(ArchiveError::LinkTargetTooLong(path));
            }
            entries.push((path, Entry::Symlink { target }));
        } else if file_type.is_dir() {
            let child = dir
                .open_dir_nofollow(name)
                .map_err(io_error(format!("opening '{path}'")))?;
            entries.push((format!("{path}/"), Entry::Directory));
            collect(&child, &format!("{path}/"), limits, entries)?;
        } else if file_type.is_file() {
            let mode = item
                .metadata()
                .map_err(io_error(format!("inspecting '{path}'")))?
                .permissions()
                .mode();
            entries.push((
                path,
                Entry::File {
                    executable: mode & 0o111 != 0,
                },
            ));
        } else {
            return Err(ArchiveError::SpecialFile {
                path,
                kind: special_kind(&file_type),
            });
        }
    }
    Ok(())
}

fn special_kind(file_type: &cap_std::fs::FileType) -> &'static str {
    use cap_std::fs::FileTypeExt;
    if file_type.is_fifo() {
        "named pipe"
    } else if file_type.is_socket() {
        "socket"
    } else if file_type.is_block_device() || file_type.is_char_device() {
        "device"
    } else {
        "special file"
    }
}

fn display_dir(prefix: &str) -> &str {
    if prefix.is_empty() { "." } else { prefix }
}

/// Whether `reader` holds a zip archive (rewinds it afterwards).
pub fn is_zip<R: Read + Seek>(mut reader: R) -> bool {
    let is_zip = ZipArchive::new(&mut reader).is_ok();
    let _ = reader.rewind();
    is_zip
}

/// Unpack a zip into `into`, refusing entries that escape it. Link entries become links,
/// created without resolving their target.
pub fn extract_zip<R: Read + Seek>(
    reader: R,
    into: &Dir,
    limits: &Limits,
) -> Result<Summary, ArchiveError> {
    let mut archive = ZipArchive::new(reader)?;
    if archive.len() > limits.max_entries {
        return Err(ArchiveError::TooManyEntries(limits.max_entries));
    }
    let mut summary = Summary::default();
    for index in 0..archive.len() {
        let mut entry = archive.by_index(index)?;
        let name = entry.name()?.to_string();
        let relative = safe_relative_path(&name)?;
        if name.len() > limits.max_path_bytes {
            return Err(ArchiveError::PathTooLong(name));
        }
        if relative.as_os_str().is_empty() {
            continue;
        }
        if entry.is_symlink() {
            let mut target = String::new();
            (&mut entry)
                .take(MAX_LINK_TARGET_BYTES as u64 + 1)
                .read_to_string(&mut target)
                .map_err(io_error(format!("reading link '{name}'")))?;
            if target.len() > MAX_LINK_TARGET_BYTES {
                return Err(ArchiveError::LinkTargetTooLong(name));
            }
            if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
                into.create_dir_all(parent)
                    .map_err(io_error(format!("creating '{name}'")))?;
            }
            if into.symlink_metadata(&relative).is_ok() {
                return Err(ArchiveError::DuplicateEntry(name));
            }
            into.symlink_contents(&target, &relative)
                .map_err(io_error(format!("creating link '{name}'")))?;
            summary.symlinks += 1;
            continue;
        }
        if entry.is_dir() {
            into.create_dir_all(&relative)
                .map_err(io_error(format!("creating '{name}'")))?;
            summary.directories += 1;
            continue;
        }
        let mut file =
            create_file(into, &relative).map_err(io_error(format!("writing '{name}'")))?;
        let remaining = limits.max_bytes - summary.bytes;
        summary.bytes += copy_limited(&mut entry, &mut file, remaining, limits.max_bytes)
            .map_err(|e| e.with_context(&name))?;
        if entry.unix_mode().is_some_and(|mode| mode & 0o111 != 0) {
            file.set_permissions(cap_std::fs::Permissions::from_mode(0o755))
                .map_err(io_error(format!("writing '{name}'")))?;
        }
        summary.files += 1;
    }
    Ok(summary)
}

/// Create (or truncate) `relative` under `dir`, creating its parent directories, without
/// following a symbolic link at the final component; cap-std refuses any that would leave
/// `dir` on the way.
pub fn create_file(dir: &Dir, relative: &Path) -> io::Result<cap_std::fs::File> {
    if let Some(parent) = relative.parent().filter(|p| !p.as_os_str().is_empty()) {
        dir.create_dir_all(parent)?;
    }
    dir.open_with(
        relative,
        OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .follow(FollowSymlinks::No),
    )
}

/// The entry's path if it stays inside the target: relative, no `..`, no root or prefix.
fn safe_relative_path(name: &str) -> Result<std::path::PathBuf, ArchiveError> {
    // Zip names use '/', but some tools write '\\'; treat both as separators.
    let normalized = name.replace('\\', "/");
    let path = Path::new(&normalized);
    let mut relative = std::path::PathBuf::new();
    for component in path.components() {
        match component {
            Component::Normal(part) => relative.push(part),
            Component::CurDir => {}
            Component::ParentDir | Component::RootDir | Component::Prefix(_) => {
                return Err(ArchiveError::UnsafeEntry(name.to_string()));
            }
        }
    }
    Ok(relative)
}

/// Copy from `reader` to `writer`, failing once more than `remaining` bytes arrive.
fn copy_limited(
    reader: &mut dyn Read,
    writer: &mut dyn Write,
    remaining: u64,
    total_limit: u64,
) -> Result<u64, CopyError> {
    let mut buffer = vec![0u8; 128 * 1024];
    let mut copied = 0u64;
    loop {
        let read = match reader.read(&mut buffer) {
            Ok(0) => return Ok(copied),
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(CopyError::Io(e)),
        };
        copied += read as u64;
        if copied > remaining {
            return Err(CopyError::TooLarge(total_limit));
        }
        writer.write_all(&buffer[..read]).map_err(CopyError::Io)?;
    }
}

enum CopyError {
    Io(io::Error),
    TooLarge(u64),
}

impl CopyError {
    fn with_context(self, path: &str) -> ArchiveError {
        match self {
            CopyError::Io(error) => ArchiveError::Io {
                context: format!("copying '{path}'"),
                error,
            },
            CopyError::TooLarge(limit) => ArchiveError::TooLarge(limit),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;
    use sha2::{Digest, Sha256};

    fn dir(path: &Path) -> Dir {
        Dir::open_ambient_dir(path, ambient_authority()).unwrap()
    }

    fn pack(path: &Path) -> Result<Vec<u8>, ArchiveError> {
        let mut out = io::Cursor::new(Vec::new());
        pack_dir(&dir(path), &mut out, &Limits::default())?;
        Ok(out.into_inner())
    }

    fn tree(root: &Path) {
        std::fs::create_dir_all(root.join("sub/empty")).unwrap();
        std::fs::write(root.join("b.txt"), "bee").unwrap();
        std::fs::write(root.join("sub/a.txt"), "ay").unwrap();
        std::fs::write(root.join("run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            root.join("run.sh"),
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o700),
        )
        .unwrap();
    }

    #[test]
    fn identical_trees_give_identical_zips_and_round_trip() {
        let scratch = tempfile::tempdir().unwrap();
        let (one, two) = (scratch.path().join("one"), scratch.path().join("two"));
        tree(&one);
        std::thread::sleep(std::time::Duration::from_millis(1100));
        tree(&two);
        let (zip_one, zip_two) = (pack(&one).unwrap(), pack(&two).unwrap());
        assert_eq!(Sha256::digest(&zip_one), Sha256::digest(&zip_two));

        let target = scratch.path().join("out");
        std::fs::create_dir(&target).unwrap();
        let summary =
            extract_zip(io::Cursor::new(zip_one), &dir(&target), &Limits::default()).unwrap();
        assert_eq!(summary.files, 3);
        assert_eq!(
            std::fs::read_to_string(target.join("sub/a.txt")).unwrap(),
            "ay"
        );
        assert!(target.join("sub/empty").is_dir());
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(target.join("run.sh"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o111, 0o111);
    }

    #[test]
    fn links_are_stored_as_links_and_never_followed() {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("out");
        std::fs::create_dir_all(root.join("d")).unwrap();
        std::fs::write(root.join("d/real.txt"), "real").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", root.join("passwd")).unwrap();
        std::os::unix::fs::symlink("/etc", root.join("d/etc")).unwrap();
        std::os::unix::fs::symlink("real.txt", root.join("d/alias")).unwrap();
        let zip = pack(&root).unwrap();
        let mut archive = ZipArchive::new(io::Cursor::new(zip.clone())).unwrap();
        let mut target = String::new();
        let mut entry = archive.by_name("passwd").unwrap();
        assert!(entry.is_symlink());
        entry.read_to_string(&mut target).unwrap();
        assert_eq!(
            target, "/etc/passwd",
            "the link's text, not the file it names"
        );
        drop(entry);
        assert!(archive.by_name("d/etc/passwd").is_err(), "never descended");

        let into = scratch.path().join("in");
        std::fs::create_dir(&into).unwrap();
        let summary = extract_zip(io::Cursor::new(zip), &dir(&into), &Limits::default()).unwrap();
        assert_eq!((summary.files, summary.symlinks), (1, 3));
        assert_eq!(
            std::fs::read_link(into.join("passwd")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(
            std::fs::read_to_string(into.join("d/alias")).unwrap(),
            "real"
        );
    }

    #[test]
    fn packaging_refuses_special_files() {
        let scratch = tempfile::tempdir().unwrap();
        let root = scratch.path().join("out");
        std::fs::create_dir(&root).unwrap();
        let fifo = std::ffi::CString::new(root.join("pipe").to_str().unwrap()).unwrap();
        assert_eq!(unsafe { libc_mkfifo(fifo.as_ptr(), 0o644) }, 0);
        assert!(matches!(
            pack(&root),
            Err(ArchiveError::SpecialFile {
                kind: "named pipe",
                ..
            })
        ));
    }

    unsafe extern "C" {
        #[link_name = "mkfifo"]
        fn libc_mkfifo(path: *const std::ffi::c_char, mode: u32) -> i32;
    }

    #[test]
    fn packaging_enforces_limits() {
        let scratch = tempfile::tempdir().unwrap();
        tree(scratch.path());
        let mut out = io::Cursor::new(Vec::new());
        let small = Limits {
            max_bytes: 4,
            ..Limits::default()
        };
        assert!(matches!(
            pack_dir(&dir(scratch.path()), &mut out, &small),
            Err(ArchiveError::TooLarge(4))
        ));
        let few = Limits {
            max_entries: 2,
            ..Limits::default()
        };
        assert!(matches!(
            pack_dir(&dir(scratch.path()), io::Cursor::new(Vec::new()), &few),
            Err(ArchiveError::TooManyEntries(2))
        ));
    }

    fn zip_with(name: &str, symlink: bool) -> Vec<u8> {
        let mut zip = ZipWriter::new(io::Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        if symlink {
            zip.add_symlink(name, "/etc/passwd", options).unwrap();
        } else {
            zip.start_file(name, options).unwrap();
            zip.write_all(b"evil").unwrap();
        }
        zip.finish().unwrap().into_inner()
    }

    #[test]
    fn extraction_refuses_zip_slip_and_writing_through_links() {
        let scratch = tempfile::tempdir().unwrap();
        let target = scratch.path().join("in");
        std::fs::create_dir(&target).unwrap();
        for name in [
            "../escaped.txt",
            "/tmp/absolute.txt",
            "a/../../escaped.txt",
            "..\\win.txt",
        ] {
            let result = extract_zip(
                io::Cursor::new(zip_with(name, false)),
                &dir(&target),
                &Limits::default(),
            );
            assert!(
                matches!(result, Err(ArchiveError::UnsafeEntry(n)) if n == name),
                "{name}"
            );
        }
        assert!(!scratch.path().join("escaped.txt").exists());

        // A link to a directory outside, then a file "inside" it: the link is made, the
        // write through it is refused.
        let mut zip = ZipWriter::new(io::Cursor::new(Vec::new()));
        let options = SimpleFileOptions::default();
        zip.add_symlink("etc", scratch.path().to_str().unwrap(), options)
            .unwrap();
        zip.start_file("etc/planted.txt", options).unwrap();
        zip.write_all(b"evil").unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let result = extract_zip(io::Cursor::new(bytes), &dir(&target), &Limits::default());
        assert!(matches!(result, Err(ArchiveError::Io { .. })), "{result:?}");
        assert!(!scratch.path().join("planted.txt").exists());
        assert!(target.join("etc").is_symlink());

        let result = extract_zip(
            io::Cursor::new(zip_with("etc", true)),
            &dir(&target),
            &Limits::default(),
        );
        assert!(matches!(result, Err(ArchiveError::DuplicateEntry(_))));
    }

    #[test]
    fn extraction_counts_real_bytes_against_the_limit() {
        let scratch = tempfile::tempdir().unwrap();
        let mut zip = ZipWriter::new(io::Cursor::new(Vec::new()));
        zip.start_file("big", SimpleFileOptions::default()).unwrap();
        zip.write_all(&vec![0u8; 1 << 20]).unwrap();
        let bytes = zip.finish().unwrap().into_inner();
        let limits = Limits {
            max_bytes: 1000,
            ..Limits::default()
        };
        let result = extract_zip(io::Cursor::new(bytes), &dir(scratch.path()), &limits);
        assert!(matches!(result, Err(ArchiveError::TooLarge(1000))));
        assert!(!is_zip(io::Cursor::new(b"Hello LocalStack!\n".to_vec())));
    }
}
