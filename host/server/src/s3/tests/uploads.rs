//! Multipart uploads: parts streamed, listed, completed as S3 completes them, copied, aborted.

use axum::body::Body;
use bytes::Bytes;

use super::*;

#[tokio::test]
async fn multipart_uploads_stream_parts_and_complete_as_s3_does() {
    let h = harness(None);
    h.ok("PUT", "/multi", &[], Body::empty()).await;
    let created = h
        .ok(
            "POST",
            "/multi/big.bin?uploads",
            &[("content-type", "application/zip")],
            Body::empty(),
        )
        .await;
    let upload_id = elements(&created.text(), "UploadId").remove(0);

    // A 5 MiB part sent as a stream of small chunks, then a short last part.
    let first: Vec<u8> = (0..5 * 1024 * 1024).map(|i| (i % 251) as u8).collect();
    let chunks: Vec<Result<Bytes, std::io::Error>> = first
        .chunks(64 * 1024)
        .map(|c| Ok(Bytes::copy_from_slice(c)))
        .collect();
    let streamed = Body::from_stream(futures::stream::iter(chunks));
    let length = first.len().to_string();
    let part1 = h
        .ok(
            "PUT",
            &format!("/multi/big.bin?partNumber=1&uploadId={upload_id}"),
            &[("content-length", &length)],
            streamed,
        )
        .await;
    let part2 = h
        .ok(
            "PUT",
            &format!("/multi/big.bin?partNumber=2&uploadId={upload_id}"),
            &[],
            "tail",
        )
        .await;
    let parts = h
        .ok(
            "GET",
            &format!("/multi/big.bin?uploadId={upload_id}"),
            &[],
            Body::empty(),
        )
        .await
        .text();
    assert_eq!(elements(&parts, "PartNumber"), ["1", "2"]);
    let uploads = h
        .ok("GET", "/multi?uploads", &[], Body::empty())
        .await
        .text();
    assert_eq!(
        elements(&uploads, "UploadId"),
        std::slice::from_ref(&upload_id)
    );

    let complete = format!(
        "<CompleteMultipartUpload><Part><PartNumber>1</PartNumber><ETag>{}</ETag></Part>\
         <Part><PartNumber>2</PartNumber><ETag>{}</ETag></Part></CompleteMultipartUpload>",
        part1.header("etag").unwrap(),
        part2.header("etag").unwrap()
    );
    let backwards = complete.replace("<PartNumber>1<", "<PartNumber>3<");
    let refused = h
        .send(
            "POST",
            &format!("/multi/big.bin?uploadId={upload_id}"),
            &[],
            backwards,
        )
        .await;
    assert!(
        refused.text().contains("<Code>InvalidPart"),
        "{}",
        refused.text()
    );
    let done = h
        .ok(
            "POST",
            &format!("/multi/big.bin?uploadId={upload_id}"),
            &[],
            complete,
        )
        .await
        .text();
    assert!(
        elements(&done, "ETag")[0].ends_with("-2&quot;")
            || elements(&done, "ETag")[0].ends_with("-2\""),
        "{done}"
    );

    let got = h.ok("GET", "/multi/big.bin", &[], Body::empty()).await;
    assert_eq!(got.body.len(), first.len() + 4);
    assert!(got.body.starts_with(&first) && got.body.ends_with(b"tail"));
    assert_eq!(got.header("content-type"), Some("application/zip"));
    let again = h
        .send(
            "GET",
            &format!("/multi/big.bin?uploadId={upload_id}"),
            &[],
            Body::empty(),
        )
        .await;
    assert!(again.text().contains("<Code>NoSuchUpload</Code>"));

    // UploadPartCopy of a range, then abort.
    let created = h
        .ok("POST", "/multi/copy.bin?uploads", &[], Body::empty())
        .await;
    let upload_id = elements(&created.text(), "UploadId").remove(0);
    let copied = h
        .ok(
            "PUT",
            &format!("/multi/copy.bin?partNumber=1&uploadId={upload_id}"),
            &[
                ("x-amz-copy-source", "/multi/big.bin"),
                ("x-amz-copy-source-range", "bytes=0-9"),
            ],
            Body::empty(),
        )
        .await;
    assert!(copied.text().contains("<ETag>"));
    h.ok(
        "DELETE",
        &format!("/multi/copy.bin?uploadId={upload_id}"),
        &[],
        Body::empty(),
    )
    .await;
    let aborted = h
        .send(
            "DELETE",
            &format!("/multi/copy.bin?uploadId={upload_id}"),
            &[],
            Body::empty(),
        )
        .await;
    assert!(aborted.text().contains("<Code>NoSuchUpload</Code>"));
}
