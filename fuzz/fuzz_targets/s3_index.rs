//! The S3 emulation's per-key `index.json` reader. `read_json` and `KeyIndex` are private to
//! the store, so the input is written as a real key's `index.json` in a real bucket (a
//! fresh one per input, on a memory file system when there is one, with a data file
//! `seed-data` for the seed indexes to name), and then every public operation that reads
//! that index runs on it: head, open (and read), list objects (with and without a prefix, a
//! delimiter, a start), list versions, put over it, and delete (latest, `null` version, and
//! with versioning on). An index that is not valid JSON must be an error from head and
//! open; nothing may panic.
#![no_main]

use std::io::Read;
use std::path::Path;

use libfuzzer_sys::fuzz_target;
use sandpipe_store::s3::ListQuery;
use sandpipe_store::{LocalS3, PutOptions};

const BUCKET: &str = "fuzz-bucket";
const KEY: &str = "dir/key.txt";

fn scratch() -> tempfile::TempDir {
    let base = Path::new("/dev/shm");
    if base.is_dir() {
        tempfile::tempdir_in(base).expect("a scratch directory")
    } else {
        tempfile::tempdir().expect("a scratch directory")
    }
}

/// The directory holding the only key's index (objects/<h:2>/<h>).
fn key_dir(bucket: &Path) -> std::path::PathBuf {
    let shard = std::fs::read_dir(bucket.join("objects"))
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path();
    std::fs::read_dir(shard)
        .unwrap()
        .next()
        .unwrap()
        .unwrap()
        .path()
}

fuzz_target!(|data: &[u8]| {
    let root = scratch();
    let s3 = LocalS3::open(root.path()).unwrap();
    s3.create_bucket(BUCKET).unwrap();
    s3.put_object(BUCKET, KEY, &mut &b"hello"[..], PutOptions::default(), 1024)
        .unwrap();
    let dir = key_dir(&root.path().join(BUCKET));
    // A data file with a fixed name, for the seed indexes to point at.
    std::fs::write(dir.join("seed-data"), b"hello").unwrap();
    std::fs::write(dir.join("index.json"), data).unwrap();

    let malformed = serde_json::from_slice::<serde_json::Value>(data).is_err();
    let head = s3.head_object(BUCKET, KEY, None);
    assert!(!malformed || head.is_err(), "a malformed index was read");
    let _ = s3.head_object(BUCKET, KEY, Some("null"));
    let _ = s3.head_object(BUCKET, KEY, Some("v1"));
    match s3.open_object(BUCKET, KEY, None) {
        Ok((_, file)) => {
            assert!(!malformed, "a malformed index was opened");
            let mut content = Vec::new();
            let _ = file.into_std().take(1 << 20).read_to_end(&mut content);
        }
        Err(error) => {
            let _ = error.to_string();
        }
    }
    for query in [
        ListQuery {
            max_keys: 1000,
            ..ListQuery::default()
        },
        ListQuery {
            prefix: Some("dir/".into()),
            delimiter: Some("/".into()),
            max_keys: 1,
            start_after: None,
        },
        ListQuery {
            prefix: Some(String::new()),
            delimiter: Some("/".into()),
            max_keys: 2,
            start_after: Some("a".into()),
        },
        ListQuery {
            prefix: None,
            delimiter: Some("e".into()),
            max_keys: 0,
            start_after: Some("dir/".into()),
        },
    ] {
        let _ = s3.list_objects(BUCKET, &query);
    }
    let _ = s3.list_versions(BUCKET, "");
    let _ = s3.list_versions(BUCKET, "dir");
    let _ = s3.delete_object(BUCKET, KEY, Some("v1"));
    let _ = s3.delete_object(BUCKET, KEY, Some("null"));
    let _ = s3.put_object(BUCKET, KEY, &mut &b"again"[..], PutOptions::default(), 1024);
    let _ = s3.set_versioning(BUCKET, true);
    let _ = s3.delete_object(BUCKET, KEY, None);
    let _ = s3.list_objects(
        BUCKET,
        &ListQuery {
            max_keys: 10,
            ..ListQuery::default()
        },
    );
    let _ = s3.delete_object(BUCKET, KEY, None);
    let _ = s3.delete_bucket(BUCKET);
});
