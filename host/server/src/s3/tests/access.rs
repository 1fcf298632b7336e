//! Signatures, checked or taken off in any-key mode (and the aws-chunked bodies that leaves
//! to decode), and virtual-host addressing.

use axum::body::Body;
use axum::http::Request;

use super::*;

#[tokio::test]
async fn any_key_mode_takes_signatures_off_and_decodes_aws_chunked_bodies() {
    let h = harness(None);
    let signed = [
        (
            "authorization",
            "AWS4-HMAC-SHA256 Credential=anything/20260101/us-east-1/s3/aws4_request, SignedHeaders=host, Signature=00",
        ),
        ("x-amz-date", "20260101T000000Z"),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    h.ok("PUT", "/chunks", &signed, Body::empty()).await;

    let framed = format!(
        "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:{}\r\n\r\n",
        crc32(b"hello")
    );
    let headers = [
        ("x-amz-content-sha256", "STREAMING-UNSIGNED-PAYLOAD-TRAILER"),
        ("content-encoding", "aws-chunked"),
        ("x-amz-decoded-content-length", "5"),
        ("x-amz-trailer", "x-amz-checksum-crc32"),
    ];
    h.ok("PUT", "/chunks/k", &headers, framed).await;
    assert_eq!(
        h.ok("GET", "/chunks/k", &[], Body::empty()).await.body,
        b"hello"
    );

    let wrong = format!(
        "5\r\nhello\r\n0\r\nx-amz-checksum-crc32:{}\r\n\r\n",
        crc32(b"other")
    );
    let refused = h.send("PUT", "/chunks/wrong", &headers, wrong).await;
    assert!(
        refused.text().contains("<Code>BadDigest</Code>"),
        "{}",
        refused.text()
    );

    let presigned = "/chunks/k?X-Amz-Algorithm=AWS4-HMAC-SHA256&X-Amz-Credential=a%2F20260101%2Fus-east-1%2Fs3%2Faws4_request&X-Amz-Date=20260101T000000Z&X-Amz-Expires=60&X-Amz-SignedHeaders=host&X-Amz-Signature=00";
    assert_eq!(
        h.ok("GET", presigned, &[], Body::empty()).await.body,
        b"hello"
    );
}

#[tokio::test]
async fn known_keys_mode_refuses_unsigned_and_unknown_requests() {
    let h = harness(Some([("test".to_string(), "secret".to_string())].into()));
    let unsigned = h.send("GET", "/", &[], Body::empty()).await;
    assert_eq!(unsigned.status, 403, "{}", unsigned.text());
    assert!(unsigned.text().contains("<Code>AccessDenied</Code>"));
    let date = jiff::Timestamp::now()
        .strftime("%Y%m%dT%H%M%SZ")
        .to_string();
    let credential = format!(
        "AWS4-HMAC-SHA256 Credential=stranger/{}/us-east-1/s3/aws4_request, SignedHeaders=host;x-amz-date, Signature={}",
        &date[..8],
        "0".repeat(64)
    );
    let headers = [
        ("authorization", credential.as_str()),
        ("x-amz-date", date.as_str()),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    let stranger = h.send("GET", "/", &headers, Body::empty()).await;
    assert!(
        stranger.text().contains("<Code>InvalidAccessKeyId</Code>"),
        "{}",
        stranger.text()
    );
    let forged = credential.replace("stranger", "test");
    let headers = [
        ("authorization", forged.as_str()),
        ("x-amz-date", date.as_str()),
        ("x-amz-content-sha256", "UNSIGNED-PAYLOAD"),
    ];
    let wrong = h.send("GET", "/", &headers, Body::empty()).await;
    assert!(
        wrong.text().contains("<Code>SignatureDoesNotMatch</Code>"),
        "{}",
        wrong.text()
    );
}

#[tokio::test]
async fn virtual_host_names_the_bucket_for_its_domain_only() {
    let h = harness(None);
    h.ok("PUT", "/hosted", &[], Body::empty()).await;
    let request = |host: &str, uri: &str| {
        Request::builder()
            .method("PUT")
            .uri(uri)
            .header("host", host)
            .body(Body::from("v"))
            .unwrap()
    };
    let response = h
        .front
        .handle(request("hosted.localhost:4566", "/key"))
        .await;
    assert_eq!(response.status(), 200);
    let response = h
        .front
        .handle(request("localhost:4566", "/hosted/other"))
        .await;
    assert_eq!(response.status(), 200);
    let response = h
        .front
        .handle(request("elsewhere:4566", "/hosted/third"))
        .await;
    assert_eq!(response.status(), 200);
    let keys: Vec<_> = h
        .store
        .list_versions("hosted", "")
        .unwrap()
        .into_iter()
        .map(|v| v.key)
        .collect();
    assert_eq!(keys, ["key", "other", "third"]);
}
