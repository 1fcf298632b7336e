//! What a zip holds, entry by entry, without extracting it: enough to tell two artifacts'
//! files apart (path, kind, mode, size, CRC-32) from the central directory alone, and any
//! entry's bytes, bounded, for a diff of small text files — the directory read once.

use std::io::{Read, Seek};

use zip::ZipArchive;

use super::{ArchiveError, Limits, io_error};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryKind {
    File,
    Directory,
    Symlink,
}

/// One entry of a zip.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryListing {
    pub path: String,
    pub kind: EntryKind,
    /// Permission bits (0o644, 0o755), when the zip records Unix modes.
    pub mode: Option<u32>,
    pub size: u64,
    pub crc32: u32,
}

/// A zip opened once: its central directory read, its entries listed and any of them read.
pub struct ZipEntries<R> {
    archive: ZipArchive<R>,
}

impl<R: Read + Seek> ZipEntries<R> {
    /// The zip in `reader`, refused beyond `limits.max_entries` entries.
    pub fn open(reader: R, limits: &Limits) -> Result<Self, ArchiveError> {
        let archive = ZipArchive::new(reader)?;
        if archive.len() > limits.max_entries {
            return Err(ArchiveError::TooManyEntries(limits.max_entries));
        }
        Ok(ZipEntries { archive })
    }

    /// Every entry, in the archive's order.
    pub fn list(&mut self) -> Result<Vec<EntryListing>, ArchiveError> {
        let mut entries = Vec::with_capacity(self.archive.len());
        for index in 0..self.archive.len() {
            let entry = self.archive.by_index_raw(index)?;
            let path = entry.name()?.trim_end_matches('/').to_string();
            let kind = if entry.is_dir() {
                EntryKind::Directory
            } else if entry.is_symlink() {
                EntryKind::Symlink
            } else {
                EntryKind::File
            };
            entries.push(EntryListing {
                path,
                kind,
                mode: entry.unix_mode().map(|mode| mode & 0o7777),
                size: entry.size(),
                crc32: entry.crc32(),
            });
        }
        Ok(entries)
    }

    /// The bytes of entry `path`, when it is a file of at most `max_bytes`; None otherwise.
    pub fn read(&mut self, path: &str, max_bytes: u64) -> Result<Option<Vec<u8>>, ArchiveError> {
        let Some(index) = self.archive.index_for_name(path) else {
            return Ok(None);
        };
        let entry = self.archive.by_index(index)?;
        if entry.is_dir() || entry.is_symlink() || entry.size() > max_bytes {
            return Ok(None);
        }
        let mut bytes = Vec::with_capacity(entry.size() as usize);
        entry
            .take(max_bytes + 1)
            .read_to_end(&mut bytes)
            .map_err(io_error(format!("reading '{path}'")))?;
        Ok(Some(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::archive::pack_dir;

    #[test]
    fn a_packed_tree_lists_its_files_modes_and_sizes() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("bin")).unwrap();
        std::fs::write(dir.path().join("bin/run.sh"), "#!/bin/sh\n").unwrap();
        std::fs::write(dir.path().join("a.txt"), "hello").unwrap();
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(
            dir.path().join("bin/run.sh"),
            std::fs::Permissions::from_mode(0o755),
        )
        .unwrap();
        let root =
            cap_std::fs::Dir::open_ambient_dir(dir.path(), cap_std::ambient_authority()).unwrap();
        let mut zip = std::io::Cursor::new(Vec::new());
        pack_dir(&root, &mut zip, &Limits::default()).unwrap();
        let mut opened =
            ZipEntries::open(std::io::Cursor::new(zip.get_ref()), &Limits::default()).unwrap();
        let entries = opened.list().unwrap();
        let file = |path: &str| entries.iter().find(|e| e.path == path).unwrap().clone();
        assert_eq!(file("a.txt").size, 5);
        assert_eq!(file("a.txt").mode, Some(0o644));
        assert_eq!(file("bin/run.sh").mode, Some(0o755));
        assert_eq!(file("bin").kind, EntryKind::Directory);
        let bytes = opened.read("a.txt", 10).unwrap();
        assert_eq!(bytes.as_deref(), Some(&b"hello"[..]));
        assert_eq!(opened.read("a.txt", 4).unwrap(), None);
    }
}
