//! The S3 emulation's own tests: versions, listing, names and limits.

use super::*;

fn store() -> (tempfile::TempDir, LocalS3) {
    let dir = tempfile::tempdir().unwrap();
    let s3 = LocalS3::open(&dir.path().join("s3")).unwrap();
    (dir, s3)
}

fn put(s3: &LocalS3, bucket: &str, key: &str, body: &[u8]) -> ObjectInfo {
    s3.put_object(bucket, key, &mut &body[..], PutOptions::default(), u64::MAX)
        .unwrap()
}

fn read(s3: &LocalS3, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
    let (_, file) = s3.open_object(bucket, key, version).unwrap();
    let mut body = Vec::new();
    file.into_std().read_to_end(&mut body).unwrap();
    body
}

#[test]
fn versioned_bucket_keeps_every_version() {
    let (_dir, s3) = store();
    s3.create_bucket("src").unwrap();
    s3.set_versioning("src", true).unwrap();
    let first = put(&s3, "src", "dir/file", b"one");
    let second = put(&s3, "src", "dir/file", b"two");
    assert_ne!(first.version_id, second.version_id);
    assert_eq!(first.etag, "\"f97c5d29941bfb1b2fdab0874906ab82\"");
    assert_eq!(read(&s3, "src", "dir/file", None), b"two");
    assert_eq!(
        read(&s3, "src", "dir/file", first.version_id.as_deref()),
        b"one"
    );
    let head = s3
        .head_object("src", "dir/file", first.version_id.as_deref())
        .unwrap();
    assert!(!head.is_latest);

    let deleted = s3.delete_object("src", "dir/file", None).unwrap();
    assert!(deleted.delete_marker);
    assert!(matches!(
        s3.head_object("src", "dir/file", None),
        Err(S3Error::NoSuchKey { .. })
    ));
    assert_eq!(s3.list_versions("src", "").unwrap().len(), 3);
    assert_eq!(
        read(&s3, "src", "dir/file", second.version_id.as_deref()),
        b"two"
    );
}

#[test]
fn unversioned_bucket_replaces_the_null_version() {
    let (dir, s3) = store();
    s3.create_bucket("plain").unwrap();
    put(&s3, "plain", "k", b"one");
    let second = put(&s3, "plain", "k", b"two");
    assert_eq!(second.version_id, None);
    assert_eq!(s3.list_versions("plain", "").unwrap().len(), 1);
    s3.delete_object("plain", "k", None).unwrap();
    assert!(
        s3.list_objects("plain", &ListQuery::default())
            .unwrap()
            .objects
            .is_empty()
    );
    // No data file is left behind.
    let leftovers = walkdir_files(&dir.path().join("s3/plain/objects"));
    assert_eq!(leftovers, Vec::<String>::new());
    s3.delete_bucket("plain").unwrap();
}

fn walkdir_files(path: &Path) -> Vec<String> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(path).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_dir() {
            files.extend(walkdir_files(&entry.path()));
        } else {
            files.push(entry.path().display().to_string());
        }
    }
    files
}

#[test]
fn lists_with_prefix_delimiter_and_pages() {
    let (_dir, s3) = store();
    s3.create_bucket("b-1").unwrap();
    for key in ["a/1", "a/2", "b", "c/x/y", "d"] {
        put(&s3, "b-1", key, key.as_bytes());
    }
    let all = s3
        .list_objects(
            "b-1",
            &ListQuery {
                max_keys: 1000,
                ..Default::default()
            },
        )
        .unwrap();
    let keys: Vec<_> = all.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a/1", "a/2", "b", "c/x/y", "d"]);

    let grouped = s3
        .list_objects(
            "b-1",
            &ListQuery {
                delimiter: Some("/".into()),
                max_keys: 1000,
                ..Default::default()
            },
        )
        .unwrap();
    assert_eq!(grouped.common_prefixes, ["a/", "c/"]);
    assert_eq!(
        grouped
            .objects
            .iter()
            .map(|o| o.key.as_str())
            .collect::<Vec<_>>(),
        ["b", "d"]
    );

    let mut pages = Vec::new();
    let mut query = ListQuery {
        delimiter: Some("/".into()),
        max_keys: 1,
        ..Default::default()
    };
    loop {
        let page = s3.list_objects("b-1", &query).unwrap();
        pages.extend(page.common_prefixes.clone());
        pages.extend(page.objects.iter().map(|o| o.key.clone()));
        match page.next_start_after {
            Some(after) => query.start_after = Some(after),
            None => break,
        }
    }
    assert_eq!(pages, ["a/", "b", "c/", "d"]);
}

#[test]
fn refuses_bad_names_missing_buckets_and_oversized_uploads() {
    let (_dir, s3) = store();
    assert!(matches!(
        s3.create_bucket("Bad_Name"),
        Err(S3Error::InvalidBucketName(_))
    ));
    for reserved in ["192.168.1.1", "a..b", "-ab"] {
        assert!(
            matches!(
                s3.create_bucket(reserved),
                Err(S3Error::InvalidBucketName(_))
            ),
            "{reserved}"
        );
    }
    assert!(matches!(
        s3.bucket_info("nope"),
        Err(S3Error::NoSuchBucket(_))
    ));
    assert!(matches!(
        s3.bucket_info("../etc"),
        Err(S3Error::NoSuchBucket(_))
    ));
    s3.create_bucket("small").unwrap();
    assert!(matches!(
        s3.create_bucket("small"),
        Err(S3Error::BucketAlreadyOwnedByYou(_))
    ));
    let result = s3.put_object(
        "small",
        "k",
        &mut &[0u8; 100][..],
        PutOptions::default(),
        10,
    );
    assert!(matches!(result, Err(S3Error::EntityTooLarge(_))));
    assert!(matches!(
        s3.head_object("small", "k", None),
        Err(S3Error::NoSuchKey { .. })
    ));
}

#[test]
fn version_pages_resume_at_key_and_version_markers() {
    let (_dir, s3) = store();
    s3.create_bucket("versions-1").unwrap();
    s3.set_versioning("versions-1", true).unwrap();
    for (key, body) in [
        ("a", "1"),
        ("a", "2"),
        ("d/x", "3"),
        ("d/y", "4"),
        ("e", "5"),
    ] {
        put(&s3, "versions-1", key, body.as_bytes());
    }
    s3.delete_object("versions-1", "e", None).unwrap();

    // Newest first within a key, a delete marker among the versions.
    let all = s3.list_versions("versions-1", "").unwrap();
    let listed: Vec<_> = all
        .iter()
        .map(|v| (v.key.as_str(), v.is_latest, v.delete_marker))
        .collect();
    assert_eq!(
        listed,
        [
            ("a", true, false),
            ("a", false, false),
            ("d/x", true, false),
            ("d/y", true, false),
            ("e", true, true),
            ("e", false, false),
        ]
    );

    let mut seen = Vec::new();
    let mut query = VersionQuery {
        delimiter: Some("/".into()),
        max_keys: 1,
        ..VersionQuery::default()
    };
    loop {
        let page = s3.list_version_page("versions-1", &query).unwrap();
        seen.extend(page.common_prefixes.iter().cloned());
        seen.extend(page.versions.iter().map(|v| v.key.clone()));
        if page.next_key_marker.is_none() {
            break;
        }
        query.key_marker = page.next_key_marker;
        query.version_id_marker = page.next_version_id_marker;
    }
    assert_eq!(seen, ["a", "a", "d/", "e", "e"]);

    // A key marker alone starts after the whole key.
    let after_a = s3
        .list_version_page(
            "versions-1",
            &VersionQuery {
                key_marker: Some("a".into()),
                max_keys: 1000,
                ..VersionQuery::default()
            },
        )
        .unwrap();
    assert_eq!(after_a.versions[0].key, "d/x");
}

#[test]
fn a_marker_naming_a_common_prefix_skips_its_keys() {
    let (_dir, s3) = store();
    s3.create_bucket("markers-1").unwrap();
    for key in ["a/1", "a/2", "a0", "b"] {
        put(&s3, "markers-1", key, b"x");
    }
    let page = s3
        .list_objects(
            "markers-1",
            &ListQuery {
                delimiter: Some("/".into()),
                max_keys: 1000,
                start_after: Some("a/".into()),
                ..ListQuery::default()
            },
        )
        .unwrap();
    assert!(page.common_prefixes.is_empty());
    let keys: Vec<_> = page.objects.iter().map(|o| o.key.as_str()).collect();
    assert_eq!(keys, ["a0", "b"]);
    // Without a delimiter the same marker is just a key.
    let flat = s3
        .list_objects(
            "markers-1",
            &ListQuery {
                max_keys: 1000,
                start_after: Some("a/".into()),
                ..ListQuery::default()
            },
        )
        .unwrap();
    assert_eq!(flat.objects.len(), 4);
}

#[test]
fn version_info_reports_delete_markers() {
    let (_dir, s3) = store();
    s3.create_bucket("markers-2").unwrap();
    s3.set_versioning("markers-2", true).unwrap();
    let kept = put(&s3, "markers-2", "k", b"kept");
    let marker = s3.delete_object("markers-2", "k", None).unwrap();
    let latest = s3.version_info("markers-2", "k", None).unwrap();
    assert!(latest.delete_marker && latest.is_latest);
    assert_eq!(latest.version_id, marker.version_id);
    let by_id = s3
        .version_info("markers-2", "k", kept.version_id.as_deref())
        .unwrap();
    assert!(!by_id.delete_marker && !by_id.is_latest);
    assert!(matches!(
        s3.version_info("markers-2", "k", Some("nope")),
        Err(S3Error::NoSuchVersion { .. })
    ));
    assert!(matches!(
        s3.version_info("markers-2", "other", None),
        Err(S3Error::NoSuchKey { .. })
    ));
}
