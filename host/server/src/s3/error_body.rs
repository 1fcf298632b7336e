//! What S3 sends with every answer and s3s does not: a request id (`x-amz-request-id`,
//! `x-amz-id-2`, and `<RequestId>` in an error), which botocore reports as
//! `ResponseMetadata.RequestId`; and a `<Message>` in every error, which s3s leaves out for
//! the errors it raises itself (an invalid bucket name, a key too long, malformed XML),
//! so that clients print S3's words rather than `None`.

use axum::body::Body;
use axum::http::{HeaderValue, Response};
use http_body_util::BodyExt;

/// The largest error body completed (S3's errors are a few hundred bytes).
const MAX_ERROR_BODY: usize = 64 << 10;

/// `response` with S3's request id headers and, for an error, a complete error document.
pub(super) async fn completed(mut response: Response<Body>) -> Response<Body> {
    let id = request_id();
    let headers = response.headers_mut();
    if let Ok(value) = HeaderValue::from_str(&id) {
        headers.insert("x-amz-request-id", value.clone());
        headers.insert("x-amz-id-2", value);
    }
    if !response.status().is_client_error() && !response.status().is_server_error() {
        return response;
    }
    let (mut parts, body) = response.into_parts();
    let Ok(bytes) = http_body_util::Limited::new(body, MAX_ERROR_BODY)
        .collect()
        .await
    else {
        parts.headers.remove(axum::http::header::CONTENT_LENGTH);
        return Response::from_parts(parts, Body::empty());
    };
    let bytes = bytes.to_bytes();
    let text = String::from_utf8_lossy(&bytes);
    let Some(code_end) = text.find("</Code>") else {
        return Response::from_parts(parts, Body::from(bytes));
    };
    let mut completed = text.to_string();
    if !completed.contains("<RequestId>") {
        let at = completed.find("</Error>").unwrap_or(completed.len());
        completed.insert_str(at, &format!("<RequestId>{id}</RequestId>"));
    }
    if !completed.contains("<Message>") {
        let code = text[..code_end].rsplit("<Code>").next().unwrap_or_default();
        let message = format!("<Message>{}</Message>", standard_message(code));
        completed.insert_str(code_end + "</Code>".len(), &message);
    }
    parts.headers.remove(axum::http::header::CONTENT_LENGTH);
    Response::from_parts(parts, Body::from(completed))
}

/// An id in S3's shape: 16 upper-case hex digits.
fn request_id() -> String {
    uuid::Uuid::new_v4().simple().to_string()[..16].to_ascii_uppercase()
}

/// S3's own message for an error code, or the code in words.
fn standard_message(code: &str) -> String {
    let known = match code {
        "NoSuchBucket" => "The specified bucket does not exist",
        "NoSuchKey" => "The specified key does not exist.",
        "NoSuchUpload" => "The specified multipart upload does not exist.",
        "NoSuchVersion" => "The specified version does not exist.",
        "InvalidBucketName" => "The specified bucket is not valid.",
        "KeyTooLongError" => "Your key is too long",
        "InvalidRange" => "The requested range is not satisfiable",
        "MalformedXML" => {
            "The XML you provided was not well-formed or did not validate against our \
             published schema"
        }
        "AccessDenied" => "Access Denied",
        "SignatureDoesNotMatch" => {
            "The request signature we calculated does not match the signature you provided."
        }
        "MethodNotAllowed" => "The specified method is not allowed against this resource.",
        "BucketNotEmpty" => "The bucket you tried to delete is not empty",
        _ => "",
    };
    if !known.is_empty() {
        return known.to_string();
    }
    // `InvalidArgument` → "Invalid argument".
    let mut words = String::new();
    for (i, c) in code.chars().enumerate() {
        if c.is_ascii_uppercase() && i > 0 {
            words.push(' ');
            words.push(c.to_ascii_lowercase());
        } else {
            words.push(c);
        }
    }
    words
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn an_error_gets_its_message_and_request_id() {
        let mut bare = Response::new(Body::from(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Error><Code>InvalidBucketName</Code></Error>",
        ));
        *bare.status_mut() = axum::http::StatusCode::BAD_REQUEST;
        let done = completed(bare).await;
        let id = done.headers()["x-amz-request-id"]
            .to_str()
            .unwrap()
            .to_string();
        let body = done.into_body().collect().await.unwrap().to_bytes();
        let body = String::from_utf8(body.to_vec()).unwrap();
        assert!(
            body.contains("<Code>InvalidBucketName</Code><Message>The specified bucket is not valid.</Message>")
                && body.contains(&format!("<RequestId>{id}</RequestId></Error>")),
            "{body}"
        );
        assert_eq!(standard_message("SomeNewCode"), "Some new code");
    }
}
