//! Multipart uploads: joining, S3's checks on completion, replacing and aborting, listing.

use super::*;

fn store() -> (tempfile::TempDir, LocalS3) {
    let dir = tempfile::tempdir().unwrap();
    let s3 = LocalS3::open(&dir.path().join("s3")).unwrap();
    s3.create_bucket("uploads-1").unwrap();
    (dir, s3)
}

fn part(s3: &LocalS3, key: &str, upload: &str, number: u32, body: &[u8]) -> PartInfo {
    s3.upload_part("uploads-1", key, upload, number, &mut &body[..], u64::MAX)
        .unwrap()
}

fn completed(parts: &[&PartInfo]) -> Vec<CompletedPart> {
    parts
        .iter()
        .map(|p| CompletedPart {
            part_number: p.part_number,
            etag: p.etag.clone(),
        })
        .collect()
}

fn md5(bytes: &[u8]) -> Vec<u8> {
    use md5::{Digest, Md5};
    Md5::digest(bytes).to_vec()
}

fn files_under(path: &Path) -> usize {
    std::fs::read_dir(path)
        .map(|entries| {
            entries
                .map(|entry| {
                    let entry = entry.unwrap();
                    if entry.file_type().unwrap().is_dir() {
                        files_under(&entry.path())
                    } else {
                        1
                    }
                })
                .sum()
        })
        .unwrap_or(0)
}

#[test]
fn parts_join_in_order_into_a_version_with_s3s_etag() {
    let (dir, s3) = store();
    s3.set_versioning("uploads-1", true).unwrap();
    let options = PutOptions {
        content_type: Some("application/zip".into()),
        metadata: [("origin".to_string(), "test".to_string())].into(),
        ..PutOptions::default()
    };
    let upload = s3
        .create_multipart_upload("uploads-1", "big.zip", options)
        .unwrap();
    let one = vec![1u8; MIN_PART_SIZE as usize];
    let two = vec![2u8; MIN_PART_SIZE as usize + 7];
    let three = b"the end".to_vec();
    // Out of order, as concurrent clients send them.
    let p3 = part(&s3, "big.zip", &upload.upload_id, 3, &three);
    let p1 = part(&s3, "big.zip", &upload.upload_id, 1, &one);
    let p2 = part(&s3, "big.zip", &upload.upload_id, 2, &two);
    assert_eq!(p1.etag, format!("\"{}\"", hex::encode(md5(&one))));
    let listed = s3
        .list_parts("uploads-1", "big.zip", &upload.upload_id)
        .unwrap();
    assert_eq!(listed, vec![p1.clone(), p2.clone(), p3.clone()]);

    let info = s3
        .complete_multipart_upload(
            "uploads-1",
            "big.zip",
            &upload.upload_id,
            &completed(&[&p1, &p2, &p3]),
        )
        .unwrap();
    let digests = [md5(&one), md5(&two), md5(&three)].concat();
    assert_eq!(info.etag, format!("\"{}-3\"", hex::encode(md5(&digests))));
    assert_eq!(info.size, (one.len() + two.len() + three.len()) as u64);
    assert!(info.version_id.is_some());
    assert_eq!(info.content_type.as_deref(), Some("application/zip"));
    assert_eq!(info.metadata["origin"], "test");

    let (_, file) = s3.open_object("uploads-1", "big.zip", None).unwrap();
    let mut body = Vec::new();
    file.into_std().read_to_end(&mut body).unwrap();
    assert_eq!(body, [one, two, three].concat());

    // The upload is gone, parts and all.
    assert!(matches!(
        s3.list_parts("uploads-1", "big.zip", &upload.upload_id),
        Err(MultipartError::NoSuchUpload(_))
    ));
    assert_eq!(files_under(&dir.path().join("s3/uploads-1/uploads")), 0);
    assert_eq!(files_under(&dir.path().join("s3/uploads-1/tmp")), 0);
}

#[test]
fn completion_is_checked_as_s3_checks_it_and_a_refused_upload_stays() {
    let (_dir, s3) = store();
    let upload = s3
        .create_multipart_upload("uploads-1", "k", PutOptions::default())
        .unwrap();
    let id = upload.upload_id.as_str();
    let small = part(&s3, "k", id, 1, b"small");
    let last = part(&s3, "k", id, 2, b"last");

    let too_small =
        s3.complete_multipart_upload("uploads-1", "k", id, &completed(&[&small, &last]));
    assert!(
        matches!(too_small, Err(MultipartError::EntityTooSmall(_))),
        "{too_small:?}"
    );

    let mut wrong_etag = completed(&[&last]);
    wrong_etag[0].etag = "\"0123\"".into();
    let wrong = s3.complete_multipart_upload("uploads-1", "k", id, &wrong_etag);
    assert!(
        matches!(wrong, Err(MultipartError::InvalidPart(_))),
        "{wrong:?}"
    );

    let missing = CompletedPart {
        part_number: 9,
        etag: last.etag.clone(),
    };
    let not_uploaded = s3.complete_multipart_upload("uploads-1", "k", id, &[missing]);
    assert!(matches!(not_uploaded, Err(MultipartError::InvalidPart(_))));

    let backwards =
        s3.complete_multipart_upload("uploads-1", "k", id, &completed(&[&last, &small]));
    assert!(matches!(
        backwards,
        Err(MultipartError::InvalidPartOrder(_))
    ));

    let none = s3.complete_multipart_upload("uploads-1", "k", id, &[]);
    assert!(matches!(none, Err(MultipartError::InvalidPart(_))));

    // Every refusal left the upload as it was; a small part is fine when it is the last one,
    // and ETags may come unquoted.
    let mut only_small = completed(&[&small]);
    only_small[0].etag = only_small[0].etag.trim_matches('"').to_string();
    let info = s3
        .complete_multipart_upload("uploads-1", "k", id, &only_small)
        .unwrap();
    assert_eq!(info.size, 5);
    assert!(info.etag.ends_with("-1\""));
    assert_eq!(info.version_id, None);
}

#[test]
fn a_part_uploaded_again_replaces_the_first() {
    let (dir, s3) = store();
    let upload = s3
        .create_multipart_upload("uploads-1", "k", PutOptions::default())
        .unwrap();
    let id = upload.upload_id.as_str();
    part(&s3, "k", id, 1, b"first try");
    let second = part(&s3, "k", id, 1, b"second");
    assert_eq!(
        s3.list_parts("uploads-1", "k", id).unwrap(),
        vec![second.clone()]
    );
    // The record and one data file: the first data file is gone.
    assert_eq!(
        files_under(&dir.path().join("s3/uploads-1/uploads").join(id)),
        3
    );
    s3.complete_multipart_upload("uploads-1", "k", id, &completed(&[&second]))
        .unwrap();
    let (_, file) = s3.open_object("uploads-1", "k", None).unwrap();
    let mut body = String::new();
    file.into_std().read_to_string(&mut body).unwrap();
    assert_eq!(body, "second");
}

#[test]
fn aborted_foreign_and_made_up_uploads_do_not_exist() {
    let (dir, s3) = store();
    let upload = s3
        .create_multipart_upload("uploads-1", "k", PutOptions::default())
        .unwrap();
    let id = upload.upload_id.as_str();
    part(&s3, "k", id, 1, b"data");
    assert!(matches!(
        s3.list_parts("uploads-1", "other-key", id),
        Err(MultipartError::NoSuchUpload(_))
    ));
    for made_up in ["../../etc", "", "0123456789abcdef0123456789ABCDEF"] {
        assert!(matches!(
            s3.upload_part("uploads-1", "k", made_up, 1, &mut &b"x"[..], u64::MAX),
            Err(MultipartError::NoSuchUpload(_))
        ));
    }
    for number in [0, MAX_PART_NUMBER + 1] {
        assert!(matches!(
            s3.upload_part("uploads-1", "k", id, number, &mut &b"x"[..], u64::MAX),
            Err(MultipartError::Store(S3Error::InvalidArgument(_)))
        ));
    }
    assert!(matches!(
        s3.upload_part("uploads-1", "k", id, 2, &mut &[0u8; 100][..], 10),
        Err(MultipartError::Store(S3Error::EntityTooLarge(_)))
    ));
    assert!(matches!(
        s3.create_multipart_upload("nope", "k", PutOptions::default()),
        Err(MultipartError::Store(S3Error::NoSuchBucket(_)))
    ));

    s3.abort_multipart_upload("uploads-1", "k", id).unwrap();
    assert!(matches!(
        s3.abort_multipart_upload("uploads-1", "k", id),
        Err(MultipartError::NoSuchUpload(_))
    ));
    assert!(matches!(
        s3.upload_part("uploads-1", "k", id, 1, &mut &b"late"[..], u64::MAX),
        Err(MultipartError::NoSuchUpload(_))
    ));
    assert_eq!(files_under(&dir.path().join("s3/uploads-1/uploads")), 0);
    assert_eq!(files_under(&dir.path().join("s3/uploads-1/tmp")), 0);
    // Nothing became an object, and the bucket can go.
    assert!(s3.list_versions("uploads-1", "").unwrap().is_empty());
    s3.delete_bucket("uploads-1").unwrap();
}

#[test]
fn uploads_list_by_key_with_prefixes_and_markers() {
    let (_dir, s3) = store();
    let mut ids = Vec::new();
    for key in ["a/1", "a/2", "b", "b", "c"] {
        let upload = s3
            .create_multipart_upload("uploads-1", key, PutOptions::default())
            .unwrap();
        ids.push(upload.upload_id);
    }
    let all = s3
        .list_multipart_uploads(
            "uploads-1",
            &UploadQuery {
                max_uploads: 1000,
                ..UploadQuery::default()
            },
        )
        .unwrap();
    let keys: Vec<_> = all.uploads.iter().map(|u| u.key.as_str()).collect();
    assert_eq!(keys, ["a/1", "a/2", "b", "b", "c"]);
    assert_eq!(all.next_key_marker, None);

    let mut seen = Vec::new();
    let mut query = UploadQuery {
        delimiter: Some("/".into()),
        max_uploads: 2,
        ..UploadQuery::default()
    };
    loop {
        let page = s3.list_multipart_uploads("uploads-1", &query).unwrap();
        seen.extend(page.common_prefixes.iter().cloned());
        seen.extend(page.uploads.iter().map(|u| u.key.clone()));
        if page.next_key_marker.is_none() {
            break;
        }
        query.key_marker = page.next_key_marker;
        query.upload_id_marker = page.next_upload_id_marker;
    }
    assert_eq!(seen, ["a/", "b", "b", "c"]);

    let prefixed = s3
        .list_multipart_uploads(
            "uploads-1",
            &UploadQuery {
                prefix: Some("a/".into()),
                max_uploads: 1000,
                ..UploadQuery::default()
            },
        )
        .unwrap();
    assert_eq!(prefixed.uploads.len(), 2);
}
