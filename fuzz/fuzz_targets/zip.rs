//! The zip reader and extractor (`sandpipe_store::archive::extract_zip`): any bytes, as an
//! input artifact would arrive, extracted into a fresh directory per input under small
//! limits (so a bomb stops early). Beyond "no panic", three properties are checked:
//! - nothing is written beside the target directory (it is alone in its parent, which is
//!   alone in a fresh directory of its own);
//! - what extraction accepted, packaging accepts (an action passing its input through);
//! - that zip extracts to the same links and bytes.
#![no_main]

use std::io::Cursor;
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::Dir;
use libfuzzer_sys::fuzz_target;
use sandpipe_store::archive::{Limits, extract_zip, is_zip, pack_dir};

const LIMITS: Limits = Limits {
    max_bytes: 1024 * 1024,
    max_entries: 1000,
    max_path_bytes: 1024,
};

/// A fresh directory, on a memory file system when there is one; removed when dropped.
fn scratch() -> tempfile::TempDir {
    let shm = Path::new("/dev/shm");
    let base = if shm.is_dir() {
        shm.to_path_buf()
    } else {
        std::env::temp_dir()
    };
    tempfile::Builder::new()
        .prefix("sandpipe-fuzz-zip-")
        .tempdir_in(base)
        .expect("a scratch directory")
}

fn entries(path: &Path) -> usize {
    std::fs::read_dir(path)
        .expect("a scratch directory")
        .count()
}

fn directory(path: PathBuf) -> Dir {
    std::fs::create_dir(&path).unwrap();
    Dir::open_ambient_dir(&path, ambient_authority()).unwrap()
}

fuzz_target!(|data: &[u8]| {
    let _ = is_zip(Cursor::new(data));
    let root = scratch();
    let parent = root.path().join("parent");
    std::fs::create_dir(&parent).unwrap();
    let into = directory(parent.join("in"));
    let extracted = extract_zip(Cursor::new(data), &into, &LIMITS);
    assert_eq!(entries(&parent), 1, "extraction wrote beside its target");
    assert_eq!(
        entries(root.path()),
        1,
        "extraction wrote outside its target"
    );
    let Ok(summary) = extracted else {
        return;
    };
    let mut packed = Cursor::new(Vec::new());
    pack_dir(&into, &mut packed, &Limits::default())
        .unwrap_or_else(|e| panic!("an extracted tree does not pack: {e}"));
    let again = directory(parent.join("again"));
    let repacked = extract_zip(Cursor::new(packed.into_inner()), &again, &Limits::default())
        .unwrap_or_else(|e| panic!("a packed tree does not extract: {e}"));
    assert_eq!(
        (repacked.symlinks, repacked.bytes),
        (summary.symlinks, summary.bytes),
        "the tree changed on the way round"
    );
});
