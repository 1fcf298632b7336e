//! Files between artifacts. Inputs are read-only directories under `/in`, outputs
//! read-write directories under `/out`: plain `std::fs` works on both; this adds what
//! actions keep writing themselves.

use std::fs;
use std::path::Path;

use crate::Failure;

/// Copy the tree under `from` into `to` (created if missing): directories, files and
/// symbolic links as links; a file already in `to` is replaced.
pub fn copy_tree(from: impl AsRef<Path>, to: impl AsRef<Path>) -> Result<(), Failure> {
    let (from, to) = (from.as_ref(), to.as_ref());
    fs::create_dir_all(to).map_err(|e| Failure::io(to.display(), e))?;
    let entries = fs::read_dir(from).map_err(|e| Failure::io(from.display(), e))?;
    for entry in entries {
        let entry = entry.map_err(|e| Failure::io(from.display(), e))?;
        let (source, target) = (entry.path(), to.join(entry.file_name()));
        let kind = entry
            .file_type()
            .map_err(|e| Failure::io(source.display(), e))?;
        if kind.is_dir() {
            copy_tree(&source, &target)?;
        } else if kind.is_symlink() {
            let link = fs::read_link(&source).map_err(|e| Failure::io(source.display(), e))?;
            let _ = fs::remove_file(&target);
            symlink(&link.to_string_lossy(), &target.to_string_lossy())?;
        } else {
            fs::copy(&source, &target).map_err(|e| Failure::io(source.display(), e))?;
        }
    }
    Ok(())
}

/// Create `link` pointing at `target`, through the WASI preopen that holds `link` — the
/// innermost, when one is inside another (std's `symlink_path` is not stable on WASI). The
/// host never follows a link an action made.
pub fn symlink(target: &str, link: &str) -> Result<(), Failure> {
    let holder = wasip2::filesystem::preopens::get_directories()
        .into_iter()
        .filter_map(|(descriptor, guest_path)| {
            let prefix = format!("{}/", guest_path.trim_end_matches('/'));
            let relative = link.strip_prefix(&prefix)?.to_string();
            Some((prefix.len(), descriptor, relative))
        })
        .max_by_key(|(length, _, _)| *length);
    let Some((_, descriptor, relative)) = holder else {
        return Err(Failure::job(format!("no preopened directory holds {link}")));
    };
    descriptor
        .symlink_at(target, &relative)
        .map_err(|e| Failure::job(format!("symlink {link} -> {target}: {}", e.name())))
}
