use std::io::{self, Read, Write};
use std::path::Path;

use super::*;
use cap_std::ambient_authority;
use sha2::{Digest, Sha256};
use zip::write::SimpleFileOptions;
use zip::{ZipArchive, ZipWriter};

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
    let summary = extract_zip(io::Cursor::new(zip_one), &dir(&target), &Limits::default()).unwrap();
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
    assert!(
        matches!(&result, Err(ArchiveError::InsideNonDirectory { entry, kind: "symbolic link", .. }) if entry == "etc/planted.txt"),
        "{result:?}"
    );
    assert!(!scratch.path().join("planted.txt").exists());
    assert!(
        !target.join("etc").exists(),
        "refused before anything is written"
    );

    std::fs::create_dir(target.join("etc")).unwrap();
    let result = extract_zip(
        io::Cursor::new(zip_with("etc", true)),
        &dir(&target),
        &Limits::default(),
    );
    assert!(matches!(result, Err(ArchiveError::DuplicateEntry(_))));
}

use crate::testing::zip_of;

#[test]
fn ambiguous_zips_are_refused_before_anything_is_written() {
    let cases: &[(&[(&str, char)], &str)] = &[
        (
            &[("a.txt", 'f'), ("a.txt", 'f')],
            "'a.txt' names the same path",
        ),
        (
            &[("a/b", 'f'), ("a/./b", 'f')],
            "'a/./b' names the same path",
        ),
        (&[("a\\b", 'f'), ("a/b", 'f')], "'a/b' names the same path"),
        (
            &[("d", 'f'), ("d/", 'd')],
            "'d/' is a directory and also a file or link of the same name ('d')",
        ),
        (
            &[("d/", 'd'), ("d", 'l')],
            "'d/' is a directory and also a file or link of the same name ('d')",
        ),
        (
            &[("d", 'f'), ("d/x", 'f')],
            "'d/x' lies inside 'd', which the same zip makes a file",
        ),
        (
            &[("d/x/y", 'f'), ("d", 'l')],
            "'d/x/y' lies inside 'd', which the same zip makes a symbolic link",
        ),
        (
            &[("d/x/", 'd'), ("d/x/y", 'f'), ("d/x/y/z", 'f')],
            "'d/x/y/z' lies inside 'd/x/y'",
        ),
        (
            &[
                ("ok", 'f'),
                ("\x1b]0;pwned\x07\x1b[2J\u{0}name", 'f'),
                ("\x1b]0;pwned\x07\x1b[2J\u{0}name", 'f'),
            ],
            "'\\x1b]0;pwned\\x07\\x1b[2J\\x00name' names the same path",
        ),
    ];
    for (entries, expected) in cases {
        let scratch = tempfile::tempdir().unwrap();
        let error = extract_zip(
            io::Cursor::new(zip_of(entries)),
            &dir(scratch.path()),
            &Limits::default(),
        )
        .unwrap_err()
        .to_string();
        assert!(error.contains(expected), "{entries:?}: {error}");
        assert!(!error.chars().any(char::is_control), "{error:?}");
        assert_eq!(
            std::fs::read_dir(scratch.path()).unwrap().count(),
            0,
            "{entries:?}: nothing extracted"
        );
    }
    // Directories named twice, or implied and then named, are fine.
    let scratch = tempfile::tempdir().unwrap();
    let summary = extract_zip(
        io::Cursor::new(zip_of(&[
            ("d/x", 'f'),
            ("d/", 'd'),
            ("e/", 'd'),
            ("e/y", 'f'),
        ])),
        &dir(scratch.path()),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!((summary.files, summary.directories), (2, 2));
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
