//! What a directory tree holds on disk, for the budget of writers the wasm sandbox does not
//! see (build commands on the local or container runner).

use std::path::Path;

/// Bytes and entries below each of `roots`, never following a link, stopping early once
/// past `stop_at` (bytes, entries): the caller only needs to know it is over.
pub(crate) fn usage(roots: &[impl AsRef<Path>], stop_at: (u64, u64)) -> (u64, u64) {
    let mut total = (0u64, 0u64);
    let mut pending: Vec<std::path::PathBuf> =
        roots.iter().map(|r| r.as_ref().to_path_buf()).collect();
    while let Some(dir) = pending.pop() {
        let Ok(entries) = std::fs::read_dir(&dir) else {
            continue;
        };
        for entry in entries.flatten() {
            let Ok(meta) = entry.metadata() else {
                continue;
            };
            total.1 += 1;
            if meta.is_dir() {
                pending.push(entry.path());
            } else {
                total.0 += meta.len();
            }
            if total.0 > stop_at.0 || total.1 > stop_at.1 {
                return total;
            }
        }
    }
    total
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counts_bytes_and_entries_and_stops_once_over() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::create_dir(dir.path().join("d")).unwrap();
        std::fs::write(dir.path().join("d/a"), "12345").unwrap();
        std::fs::write(dir.path().join("b"), "123").unwrap();
        std::os::unix::fs::symlink("/etc", dir.path().join("link")).unwrap();
        assert_eq!(usage(&[dir.path()], (u64::MAX, u64::MAX)), (8 + 4, 4));
        assert_eq!(usage(&[dir.path()], (u64::MAX, 1)).1, 2, "stops once past");
    }
}
