//! Unpacking a zip that came from anywhere: every entry's path planned and checked before
//! anything is written, then files, directories and links created relative to the target
//! without following a link.

use std::collections::{HashMap, HashSet};
use std::io::{self, Read, Seek};
use std::path::{Component, Path, PathBuf};

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions, PermissionsExt};
use zip::ZipArchive;

use super::{ArchiveError, Limits, MAX_LINK_TARGET_BYTES, Summary, copy_limited, io_error};

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
    if archive.has_duplicate_names() {
        // The archive keeps one entry per name (the last); find which name came twice.
        let start = archive.central_directory_start();
        let name = first_repeated_name(archive.into_inner(), start, limits.max_entries)
            .unwrap_or_default();
        return Err(ArchiveError::DuplicateEntry(name));
    }
    let paths = plan_paths(&mut archive, limits)?;
    let mut summary = Summary::default();
    for (index, relative) in paths.into_iter().enumerate() {
        let Some(relative) = relative else {
            continue;
        };
        let mut entry = archive.by_index(index)?;
        let name = entry.name()?.to_string();
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

#[derive(Clone, Copy, PartialEq, Eq)]
enum EntryKind {
    Directory,
    File,
    Symlink,
}

/// Every entry's path inside the target (`None`: the root itself), checked before anything
/// is written: nothing escapes, no two entries name one path, no path is both a directory
/// and a file or link, and no entry lies under a file or link of the same zip. Linear in
/// the entries: each directory a path passes through is checked once.
fn plan_paths<R: Read + Seek>(
    archive: &mut ZipArchive<R>,
    limits: &Limits,
) -> Result<Vec<Option<PathBuf>>, ArchiveError> {
    let mut paths = Vec::with_capacity(archive.len());
    let mut entries: HashMap<PathBuf, (EntryKind, String)> = HashMap::new();
    // Every path some entry lies under (or a directory entry names).
    let mut directories: HashSet<PathBuf> = HashSet::new();
    for index in 0..archive.len() {
        let entry = archive.by_index_raw(index)?;
        let name = entry.name()?.to_string();
        let relative = safe_relative_path(&name)?;
        if name.len() > limits.max_path_bytes {
            return Err(ArchiveError::PathTooLong(name));
        }
        if relative.as_os_str().is_empty() {
            paths.push(None);
            continue;
        }
        let kind = if entry.is_symlink() {
            EntryKind::Symlink
        } else if entry.is_dir() {
            EntryKind::Directory
        } else {
            EntryKind::File
        };
        drop(entry);
        match entries.get(&relative) {
            Some((EntryKind::Directory, other)) if kind != EntryKind::Directory => {
                return Err(ArchiveError::FileDirectoryCollision {
                    entry: other.clone(),
                    other: name,
                });
            }
            Some((_, other)) if kind == EntryKind::Directory => {
                return Err(ArchiveError::FileDirectoryCollision {
                    entry: name,
                    other: other.clone(),
                });
            }
            Some(_) => return Err(ArchiveError::DuplicateEntry(name)),
            None => {}
        }
        if kind != EntryKind::Directory && directories.contains(&relative) {
            let inside = entries
                .iter()
                .find(|(path, _)| path.starts_with(&relative))
                .map(|(_, (_, inside))| inside.clone())
                .unwrap_or_default();
            return Err(ArchiveError::InsideNonDirectory {
                entry: inside,
                parent: name,
                kind: kind_name(kind),
            });
        }
        let mut ancestor = relative.parent();
        if kind == EntryKind::Directory {
            ancestor = Some(&relative);
        }
        while let Some(dir) = ancestor.filter(|d| !d.as_os_str().is_empty()) {
            if directories.contains(dir) {
                break;
            }
            if let Some((kind, parent)) =
                entries.get(dir).filter(|(k, _)| *k != EntryKind::Directory)
            {
                return Err(ArchiveError::InsideNonDirectory {
                    entry: name,
                    parent: parent.clone(),
                    kind: kind_name(*kind),
                });
            }
            directories.insert(dir.to_path_buf());
            ancestor = dir.parent();
        }
        entries.insert(relative.clone(), (kind, name));
        paths.push(Some(relative));
    }
    Ok(paths)
}

/// The first name the central directory at `start` holds twice, read from its headers.
fn first_repeated_name<R: Read + Seek>(mut reader: R, start: u64, max: usize) -> Option<String> {
    const SIGNATURE: [u8; 4] = [0x50, 0x4b, 0x01, 0x02];
    reader.seek(io::SeekFrom::Start(start)).ok()?;
    let mut seen = HashSet::new();
    for _ in 0..=max {
        let mut header = [0u8; 46];
        reader.read_exact(&mut header).ok()?;
        if header[..4] != SIGNATURE {
            return None;
        }
        let field = |at: usize| u16::from_le_bytes([header[at], header[at + 1]]);
        let mut name = vec![0u8; usize::from(field(28))];
        reader.read_exact(&mut name).ok()?;
        let skip = i64::from(field(30)) + i64::from(field(32));
        reader.seek(io::SeekFrom::Current(skip)).ok()?;
        if !seen.insert(name.clone()) {
            return Some(String::from_utf8_lossy(&name).into_owned());
        }
    }
    None
}

fn kind_name(kind: EntryKind) -> &'static str {
    match kind {
        EntryKind::Directory => "directory",
        EntryKind::File => "file",
        EntryKind::Symlink => "symbolic link",
    }
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
