//! Objects, versions, delete markers, listings and copies.

use axum::body::Body;

use super::*;

#[tokio::test]
async fn objects_round_trip_with_their_metadata_ranges_and_errors() {
    let h = harness(None);
    h.ok("PUT", "/bucket-1", &[], Body::empty()).await;
    let created = h.send("PUT", "/bucket-1", &[], Body::empty()).await;
    assert_eq!(created.status, 409);
    assert!(
        created
            .text()
            .contains("<Code>BucketAlreadyOwnedByYou</Code>")
    );

    let body = b"hello, world";
    let put = h
        .ok(
            "PUT",
            "/bucket-1/dir/hello.txt",
            &[
                ("content-type", "text/plain"),
                ("cache-control", "max-age=60"),
                ("x-amz-meta-origin", "test"),
                ("x-amz-checksum-crc32", &crc32(body)),
                ("x-amz-sdk-checksum-algorithm", "CRC32"),
            ],
            &body[..],
        )
        .await;
    assert_eq!(
        put.header("etag"),
        Some("\"e4d7f1b4ed2e42d15898f4b27b019da4\"")
    );
    assert_eq!(
        put.header("x-amz-checksum-crc32"),
        Some(crc32(body).as_str())
    );
    assert_eq!(put.header("x-amz-version-id"), None);

    let got = h
        .ok("GET", "/bucket-1/dir/hello.txt", &[], Body::empty())
        .await;
    assert_eq!(got.body, body);
    assert_eq!(got.header("content-type"), Some("text/plain"));
    assert_eq!(got.header("cache-control"), Some("max-age=60"));
    assert_eq!(got.header("x-amz-meta-origin"), Some("test"));
    assert_eq!(got.header("content-length"), Some("12"));

    let ranged = h
        .ok(
            "GET",
            "/bucket-1/dir/hello.txt",
            &[("range", "bytes=7-")],
            Body::empty(),
        )
        .await;
    assert_eq!(ranged.status, 206);
    assert_eq!(ranged.body, b"world");
    assert_eq!(ranged.header("content-range"), Some("bytes 7-11/12"));
    let beyond = h
        .send(
            "GET",
            "/bucket-1/dir/hello.txt",
            &[("range", "bytes=50-60")],
            Body::empty(),
        )
        .await;
    assert_eq!(beyond.status, 416);

    let etag = got.header("etag").unwrap().to_string();
    let unchanged = h
        .send(
            "GET",
            "/bucket-1/dir/hello.txt",
            &[("if-none-match", &etag)],
            Body::empty(),
        )
        .await;
    assert_eq!(unchanged.status, 304);
    let changed = h
        .send(
            "GET",
            "/bucket-1/dir/hello.txt",
            &[("if-match", "\"0000\"")],
            Body::empty(),
        )
        .await;
    assert_eq!(changed.status, 412);

    let head = h
        .ok("HEAD", "/bucket-1/dir/hello.txt", &[], Body::empty())
        .await;
    assert_eq!(head.header("content-length"), Some("12"));
    assert_eq!(head.header("etag"), Some(etag.as_str()));

    let missing = h.send("GET", "/bucket-1/nope", &[], Body::empty()).await;
    assert_eq!(missing.status, 404);
    assert!(missing.text().contains("<Code>NoSuchKey</Code>"));
    let no_bucket = h.send("GET", "/bucket-2/k", &[], Body::empty()).await;
    assert!(no_bucket.text().contains("<Code>NoSuchBucket</Code>"));
    let not_empty = h.send("DELETE", "/bucket-1", &[], Body::empty()).await;
    assert_eq!(not_empty.status, 409);
    assert!(not_empty.text().contains("<Code>BucketNotEmpty</Code>"));

    // A body that does not match its checksum is refused and nothing is stored.
    let bad = h
        .send(
            "PUT",
            "/bucket-1/bad",
            &[("x-amz-checksum-crc32", &crc32(b"other"))],
            &b"data"[..],
        )
        .await;
    assert_eq!(bad.status, 400, "{}", bad.text());
    assert!(bad.text().contains("<Code>BadDigest</Code>"));
    let bad_md5 = h
        .send(
            "PUT",
            "/bucket-1/bad",
            &[("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")],
            &b"data"[..],
        )
        .await;
    assert!(bad_md5.text().contains("<Code>BadDigest</Code>"));
    assert_eq!(
        h.send("HEAD", "/bucket-1/bad", &[], Body::empty())
            .await
            .status,
        404
    );

    // The same store the CLI reads.
    let info = h
        .store
        .head_object("bucket-1", "dir/hello.txt", None)
        .unwrap();
    assert_eq!(info.metadata["origin"], "test");
}

#[tokio::test]
async fn versions_delete_markers_and_listing_versions() {
    let h = harness(None);
    h.ok("PUT", "/versioned", &[], Body::empty()).await;
    let enable = "<VersioningConfiguration xmlns=\"http://s3.amazonaws.com/doc/2006-03-01/\"><Status>Enabled</Status></VersioningConfiguration>";
    h.ok("PUT", "/versioned?versioning", &[], enable).await;
    let status = h
        .ok("GET", "/versioned?versioning", &[], Body::empty())
        .await;
    assert_eq!(elements(&status.text(), "Status"), ["Enabled"]);

    let first = h.ok("PUT", "/versioned/k", &[], "one").await;
    let old = first.header("x-amz-version-id").unwrap().to_string();
    h.ok("PUT", "/versioned/k", &[], "two").await;
    let listed = h
        .ok("GET", "/versioned?versions", &[], Body::empty())
        .await
        .text();
    assert_eq!(elements(&listed, "Version").len(), 2);
    assert_eq!(elements(&listed, "IsLatest"), ["true", "false"]);
    let older = h
        .ok(
            "GET",
            &format!("/versioned/k?versionId={old}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(older.body, b"one");
    let unknown = h
        .send("GET", "/versioned/k?versionId=nope", &[], Body::empty())
        .await;
    assert!(unknown.text().contains("<Code>NoSuchVersion</Code>"));

    let deleted = h.ok("DELETE", "/versioned/k", &[], Body::empty()).await;
    assert_eq!(deleted.status, 204);
    assert_eq!(deleted.header("x-amz-delete-marker"), Some("true"));
    let marker = deleted.header("x-amz-version-id").unwrap().to_string();
    let gone = h.send("GET", "/versioned/k", &[], Body::empty()).await;
    assert_eq!(gone.status, 404);
    assert_eq!(gone.header("x-amz-delete-marker"), Some("true"));
    assert_eq!(gone.header("x-amz-version-id"), Some(marker.as_str()));
    let the_marker = h
        .send(
            "HEAD",
            &format!("/versioned/k?versionId={marker}"),
            &[],
            Body::empty(),
        )
        .await;
    assert_eq!(the_marker.status, 405);

    let listed = h
        .ok("GET", "/versioned?versions&max-keys=2", &[], Body::empty())
        .await
        .text();
    assert_eq!(elements(&listed, "DeleteMarker").len(), 1);
    assert_eq!(elements(&listed, "IsTruncated"), ["true"]);
    let next_key = &elements(&listed, "NextKeyMarker")[0];
    let next_version = &elements(&listed, "NextVersionIdMarker")[0];
    let rest = h
        .ok(
            "GET",
            &format!("/versioned?versions&key-marker={next_key}&version-id-marker={next_version}"),
            &[],
            Body::empty(),
        )
        .await
        .text();
    assert_eq!(elements(&rest, "VersionId"), [old]);
}

#[tokio::test]
async fn listings_page_group_and_url_encode() {
    let h = harness(None);
    h.ok("PUT", "/listed", &[], Body::empty()).await;
    for key in ["a/1", "a/2", "b%20c", "d"] {
        h.ok("PUT", &format!("/listed/{key}"), &[], "x").await;
    }
    let grouped = h
        .ok(
            "GET",
            "/listed?list-type=2&prefix=&delimiter=%2F&encoding-type=url",
            &[],
            Body::empty(),
        )
        .await
        .text();
    assert_eq!(elements(&grouped, "Prefix"), ["", "a/"]);
    assert_eq!(elements(&grouped, "Key"), ["b%20c", "d"]);

    let mut keys = Vec::new();
    let mut uri = "/listed?list-type=2&max-keys=1".to_string();
    loop {
        let page = h.ok("GET", &uri, &[], Body::empty()).await.text();
        keys.extend(elements(&page, "Key"));
        match elements(&page, "NextContinuationToken").first() {
            Some(token) => {
                uri = format!("/listed?list-type=2&max-keys=1&continuation-token={token}")
            }
            None => break,
        }
    }
    assert_eq!(keys, ["a/1", "a/2", "b c", "d"]);

    let v1 = h
        .ok("GET", "/listed?delimiter=/&max-keys=1", &[], Body::empty())
        .await
        .text();
    assert_eq!(elements(&v1, "NextMarker"), ["a/"]);
    let v1_rest = h
        .ok("GET", "/listed?delimiter=/&marker=a/", &[], Body::empty())
        .await
        .text();
    assert_eq!(elements(&v1_rest, "Key"), ["b c", "d"]);

    let bad_token = h
        .send(
            "GET",
            "/listed?list-type=2&continuation-token=zz",
            &[],
            Body::empty(),
        )
        .await;
    assert!(bad_token.text().contains("<Code>InvalidArgument</Code>"));

    let batch = "<Delete><Object><Key>a/1</Key></Object><Object><Key>d</Key></Object></Delete>";
    let deleted = h
        .ok(
            "POST",
            "/listed?delete",
            &[("content-md5", &md5_base64(batch.as_bytes()))],
            batch,
        )
        .await;
    assert_eq!(elements(&deleted.text(), "Key"), ["a/1", "d"]);
    let left = h
        .ok("GET", "/listed?list-type=2", &[], Body::empty())
        .await
        .text();
    assert_eq!(elements(&left, "Key"), ["a/2", "b c"]);

    let buckets = h.ok("GET", "/", &[], Body::empty()).await.text();
    assert_eq!(elements(&buckets, "Name"), ["listed"]);
}

#[tokio::test]
async fn copies_keep_or_replace_metadata() {
    let h = harness(None);
    h.ok("PUT", "/copies", &[], Body::empty()).await;
    h.ok(
        "PUT",
        "/copies/src",
        &[("content-type", "text/plain"), ("x-amz-meta-a", "1")],
        "source",
    )
    .await;
    h.ok(
        "PUT",
        "/copies/kept",
        &[("x-amz-copy-source", "/copies/src")],
        Body::empty(),
    )
    .await;
    let kept = h.ok("GET", "/copies/kept", &[], Body::empty()).await;
    assert_eq!(
        (kept.body.as_slice(), kept.header("x-amz-meta-a")),
        (&b"source"[..], Some("1"))
    );
    h.ok(
        "PUT",
        "/copies/replaced",
        &[
            ("x-amz-copy-source", "copies/src"),
            ("x-amz-metadata-directive", "REPLACE"),
            ("x-amz-meta-b", "2"),
        ],
        Body::empty(),
    )
    .await;
    let replaced = h.ok("HEAD", "/copies/replaced", &[], Body::empty()).await;
    assert_eq!(
        (
            replaced.header("x-amz-meta-a"),
            replaced.header("x-amz-meta-b")
        ),
        (None, Some("2"))
    );
    let onto_itself = h
        .send(
            "PUT",
            "/copies/src",
            &[("x-amz-copy-source", "/copies/src")],
            Body::empty(),
        )
        .await;
    assert!(onto_itself.text().contains("<Code>InvalidRequest</Code>"));
}
