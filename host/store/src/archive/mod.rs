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

use cap_fs_ext::{DirExt, FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions, PermissionsExt};
use sandpipe_model::text::Escaped;
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
    #[error("'{}' has a name that is not valid UTF-8", Escaped(.0))]
    NonUtf8Name(String),
    #[error("'{}' has a path longer than the limit", Escaped(.0))]
    PathTooLong(String),
    #[error("more than {0} files and directories")]
    TooManyEntries(usize),
    #[error("more than {0} bytes")]
    TooLarge(u64),
    #[error(
        "zip entry '{}' would be written outside the artifact (absolute path or '..')",
        Escaped(.0)
    )]
    UnsafeEntry(String),
    #[error(
        "symbolic link '{}' has a target longer than {MAX_LINK_TARGET_BYTES} bytes",
        Escaped(.0)
    )]
    LinkTargetTooLong(String),
    #[error(
        "zip entry '{}' names the same path as an earlier entry; a zip with duplicate names \
         is ambiguous and is refused",
        Escaped(.0)
    )]
    DuplicateEntry(String),
    #[error(
        "zip entry '{}' is a directory and also a file or link of the same name ('{}'); \
         the zip is ambiguous and is refused",
        Escaped(.entry), Escaped(.other)
    )]
    FileDirectoryCollision { entry: String, other: String },
    #[error(
        "zip entry '{}' lies inside '{}', which the same zip makes a {kind}; extracting it \
         would write through it, so the zip is refused",
        Escaped(.entry), Escaped(.parent)
    )]
    InsideNonDirectory {
        entry: String,
        parent: String,
        kind: &'static str,
    },
    #[error("not a valid zip file: {0}")]
    Zip(zip::result::ZipError),
    #[error("{}: {error}", Escaped(.context))]
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

mod extract;
mod listing;
#[cfg(test)]
mod tests;

pub use extract::{create_file, extract_zip};
pub use listing::{EntryKind, EntryListing, ZipEntries};
