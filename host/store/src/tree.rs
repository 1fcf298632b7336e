//! Copying trees between capability-scoped directories without following symbolic links,
//! keeping executable bits: the host side of a guest's "copy this directory" request. Links
//! are copied as links (their text), never resolved.

use std::io;
use std::path::{Path, PathBuf};

use cap_fs_ext::{DirExt, OpenOptionsFollowExt};
use cap_std::fs::{Dir, OpenOptions, Permissions, PermissionsExt};

/// What a copy did.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct CopySummary {
    pub files: u64,
    /// Directories copied below the source (the source itself not counted).
    pub directories: u64,
    pub bytes: u64,
    pub symlinks: u64,
    /// Special files (pipes, sockets, devices) met and left out, relative to the source.
    pub skipped: Vec<String>,
}

/// Copy `source` (a file or directory below `from`) to `destination` below `to`, creating
/// parents and merging into existing directories. Neither path may leave its directory, and
/// no symbolic link is followed on either side.
pub fn copy(from: &Dir, source: &Path, to: &Dir, destination: &Path) -> io::Result<CopySummary> {
    let mut summary = CopySummary::default();
    let metadata = if source.as_os_str().is_empty() {
        from.dir_metadata()?
    } else {
        from.symlink_metadata(source)?
    };
    if let Some(parent) = destination.parent().filter(|p| !p.as_os_str().is_empty()) {
        to.create_dir_all(parent)?;
    }
    if metadata.is_dir() {
        let source_dir = if source.as_os_str().is_empty() {
            from.try_clone()?
        } else {
            from.open_dir_nofollow(source)?
        };
        let destination_dir = if destination.as_os_str().is_empty() {
            to.try_clone()?
        } else {
            to.create_dir_all(destination)?;
            to.open_dir_nofollow(destination)?
        };
        copy_dir(&source_dir, &destination_dir, PathBuf::new(), &mut summary)?;
    } else if metadata.is_file() {
        copy_file(
            from,
            source,
            to,
            destination,
            metadata.permissions().mode(),
            &mut summary,
        )?;
    } else if metadata.is_symlink() {
        copy_link(from, source, to, destination, &mut summary)?;
    } else {
        summary.skipped.push(source.to_string_lossy().into_owned());
    }
    Ok(summary)
}

fn copy_dir(from: &Dir, to: &Dir, prefix: PathBuf, summary: &mut CopySummary) -> io::Result<()> {
    for entry in from.entries()? {
        let entry = entry?;
        let name = entry.file_name();
        let relative = prefix.join(&name);
        // DirEntry::file_type does not follow links.
        let file_type = entry.file_type()?;
        if file_type.is_dir() {
            to.create_dir_all(&name)?;
            summary.directories += 1;
            copy_dir(
                &from.open_dir_nofollow(&name)?,
                &to.open_dir_nofollow(&name)?,
                relative,
                summary,
            )?;
        } else if file_type.is_file() {
            let mode = entry.metadata()?.permissions().mode();
            copy_file(from, Path::new(&name), to, Path::new(&name), mode, summary)?;
        } else if file_type.is_symlink() {
            copy_link(from, Path::new(&name), to, Path::new(&name), summary)?;
        } else {
            summary
                .skipped
                .push(relative.to_string_lossy().into_owned());
        }
    }
    Ok(())
}

/// Replace whatever is at `destination` that is not a directory, so nothing is written
/// through a link planted there.
fn clear_destination(to: &Dir, destination: &Path) -> io::Result<()> {
    match to.symlink_metadata(destination) {
        Ok(existing) if existing.is_dir() => Err(io::Error::new(
            io::ErrorKind::AlreadyExists,
            format!("'{}' is a directory", destination.display()),
        )),
        Ok(_) => to.remove_file(destination),
        Err(_) => Ok(()),
    }
}

fn copy_link(
    from: &Dir,
    source: &Path,
    to: &Dir,
    destination: &Path,
    summary: &mut CopySummary,
) -> io::Result<()> {
    let target = from.read_link_contents(source)?;
    clear_destination(to, destination)?;
    to.symlink_contents(target, destination)?;
    summary.symlinks += 1;
    Ok(())
}

fn copy_file(
    from: &Dir,
    source: &Path,
    to: &Dir,
    destination: &Path,
    mode: u32,
    summary: &mut CopySummary,
) -> io::Result<()> {
    let mut reader = from.open_with(
        source,
        OpenOptions::new()
            .read(true)
            .follow(cap_fs_ext::FollowSymlinks::No),
    )?;
    clear_destination(to, destination)?;
    let mut writer = to.open_with(
        destination,
        OpenOptions::new()
            .write(true)
            .create_new(true)
            .follow(cap_fs_ext::FollowSymlinks::No),
    )?;
    summary.bytes += io::copy(&mut reader, &mut writer)?;
    summary.files += 1;
    let executable = mode & 0o111 != 0;
    writer.set_permissions(Permissions::from_mode(if executable {
        0o755
    } else {
        0o644
    }))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use cap_std::ambient_authority;

    #[test]
    fn copies_trees_keeping_modes_and_links_as_links() {
        let scratch = tempfile::tempdir().unwrap();
        let source = scratch.path().join("src");
        std::fs::create_dir_all(source.join("bin")).unwrap();
        std::fs::write(source.join("bin/run"), "#!/bin/sh\n").unwrap();
        std::fs::set_permissions(
            source.join("bin/run"),
            <std::fs::Permissions as std::os::unix::fs::PermissionsExt>::from_mode(0o755),
        )
        .unwrap();
        std::fs::write(source.join("a.txt"), "hello").unwrap();
        std::os::unix::fs::symlink("/etc/passwd", source.join("escape")).unwrap();
        std::fs::create_dir(scratch.path().join("dst")).unwrap();

        let from = Dir::open_ambient_dir(scratch.path(), ambient_authority()).unwrap();
        let to = Dir::open_ambient_dir(scratch.path().join("dst"), ambient_authority()).unwrap();
        let summary = copy(&from, Path::new("src"), &to, Path::new("work/src")).unwrap();
        assert_eq!(summary.files, 2);
        assert_eq!(summary.directories, 1, "bin/");
        assert_eq!(summary.bytes, 15);
        assert_eq!(summary.symlinks, 1);
        assert!(summary.skipped.is_empty());
        let copied = scratch.path().join("dst/work/src");
        let mode = std::os::unix::fs::PermissionsExt::mode(
            &std::fs::metadata(copied.join("bin/run"))
                .unwrap()
                .permissions(),
        );
        assert_eq!(mode & 0o111, 0o111);
        assert_eq!(
            std::fs::read_link(copied.join("escape")).unwrap(),
            Path::new("/etc/passwd")
        );
        assert_eq!(
            std::fs::read_to_string(copied.join("a.txt")).unwrap(),
            "hello"
        );
    }
}
