//! S3 on sandpipe's embedded store (`sandpipe_store::LocalS3`, the one the CLI's `sandpipe s3`
//! commands and the pipeline actions use): s3s 0.14.1 speaks the REST protocol (routing, XML,
//! SigV4, aws-chunked), `backend` implements the operations over the store, and `body` streams
//! object bodies both ways without holding them in memory.
//!
//! Signatures: with credentials given, every signed request is verified against them, as S3
//! does, and an unsigned one is refused (AccessDenied). Without, any access key is accepted, as
//! local emulators do: s3s can only verify a signature it holds the secret for, so the
//! signature is taken off the request before s3s sees it (the `Authorization` header, or a
//! presigned URL's `X-Amz-*` query parameters) and the request is served as anonymous. What
//! that leaves: `x-amz-content-sha256` is not checked against the body (the flexible checksums
//! and Content-MD5 still are, by `body`), and an aws-chunked body — signed chunks or
//! `STREAMING-UNSIGNED-PAYLOAD-TRAILER` — is decoded by `body` instead of s3s, its chunk
//! signatures unchecked and its trailing checksum verified. Plain bodies (what the aws CLI and
//! boto3 send over http), chunked bodies (the Java and Rust SDKs), presigned URLs and
//! `--no-sign-request` all work; a browser-form POST with a signed policy does not (its
//! signature is in the form, which s3s checks and cannot without the secret).

mod backend;
mod body;
/// Streaming a file out a chunk at a time, as downloads do; the console streams artifacts
/// and logs the same way.
pub(crate) use body::download;
mod buckets;
mod convert;
mod error_body;
mod listing;
mod multipart;
mod objects;
#[cfg(test)]
mod tests;

use std::borrow::Cow;
use std::sync::Arc;

use axum::http::{HeaderValue, Request, Response, StatusCode, Uri};
use s3s::auth::{S3Auth, SecretKey};
use s3s::config::{S3Config, StaticConfigProvider};
use s3s::host::{S3Host, VirtualHost};
use s3s::service::{S3Service, S3ServiceBuilder};
use s3s::{S3Result, s3_error};
use sandpipe_store::LocalS3;

use crate::keys::Keys;
use body::UndecodedAwsChunked;

/// The largest XML request body read (a CompleteMultipartUpload of 10,000 parts, or a
/// DeleteObjects of 1,000 keys, is well under it); s3s reads these whole.
const MAX_XML_BODY: usize = 4 * 1024 * 1024;
/// A browser-form POST upload is gathered in memory by s3s before it is stored, so it is kept
/// small; PUT and multipart uploads stream and have S3's own limits.
const MAX_FORM_UPLOAD: u64 = 16 * 1024 * 1024;

/// The S3 endpoint: one s3s service over the store.
pub struct S3Front {
    service: S3Service,
    check_signatures: bool,
}

impl S3Front {
    /// `keys`: when they are not [`Keys::checking`], any access key is accepted (signatures not
    /// checked, as local emulators do); otherwise SigV4 is verified against the operator's keys
    /// and those the server issued (SignatureDoesNotMatch / InvalidAccessKeyId otherwise).
    /// `domain`: Some("localhost:4566") enables virtual-host addressing for that domain; path-style always works.
    pub fn new(store: Arc<LocalS3>, keys: Arc<Keys>, domain: Option<String>) -> Self {
        let mut builder = S3ServiceBuilder::new(backend::Backend { store });
        let check_signatures = keys.checking();
        if check_signatures {
            builder.set_auth(KnownKeys(keys));
        }
        if let Some(domain) = domain.filter(|d| !d.is_empty()) {
            builder.set_host(VirtualHosts {
                domain: domain.to_ascii_lowercase(),
            });
        }
        let mut config = S3Config::default();
        config.xml_max_body_size = MAX_XML_BODY;
        config.post_object_max_file_size = MAX_FORM_UPLOAD;
        builder.set_config(Arc::new(StaticConfigProvider::new(Arc::new(config))));
        S3Front {
            service: builder.build(),
            check_signatures,
        }
    }

    /// Serve one S3 request.
    pub async fn handle(&self, request: Request<axum::body::Body>) -> Response<axum::body::Body> {
        let request = if self.check_signatures {
            request
        } else {
            unsigned(request)
        };
        let request = request.map(s3s::Body::http_body_unsync);
        match self.service.call(request).await {
            Ok(response) => error_body::completed(response.map(axum::body::Body::new)).await,
            // s3s answers every S3 error itself; this is only its own failure to write one.
            Err(_) => {
                let mut response = Response::new(axum::body::Body::from(
                    "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\
                     <Error><Code>InternalError</Code><Message>the response could not be written</Message></Error>",
                ));
                *response.status_mut() = StatusCode::INTERNAL_SERVER_ERROR;
                response
                    .headers_mut()
                    .insert("content-type", HeaderValue::from_static("application/xml"));
                response
            }
        }
    }
}

/// The secrets of the access keys that may sign requests.
struct KnownKeys(Arc<Keys>);

#[async_trait::async_trait]
impl S3Auth for KnownKeys {
    async fn get_secret_key(&self, access_key: &str) -> S3Result<SecretKey> {
        match self.0.secret(access_key) {
            Some(secret) => Ok(SecretKey::from(secret)),
            None => Err(s3_error!(
                InvalidAccessKeyId,
                "The AWS Access Key Id you provided does not exist in our records."
            )),
        }
    }
}

/// Virtual-host addressing for one domain: `<bucket>.<domain>` names the bucket; any other
/// host (an IP, another name) is path-style. (s3s's `SingleDomain` would take any other host
/// name for a bucket, as S3 does for CNAMEs.)
struct VirtualHosts {
    domain: String,
}

impl S3Host for VirtualHosts {
    fn parse_host_header<'a>(&'a self, host: &'a str) -> S3Result<VirtualHost<'a>> {
        let lowered = host.to_ascii_lowercase();
        let bucket = lowered
            .strip_suffix(self.domain.as_str())
            .and_then(|rest| rest.strip_suffix('.'))
            .filter(|bucket| !bucket.is_empty())
            .map(str::to_string);
        Ok(match bucket {
            Some(bucket) => VirtualHost::new(self.domain.as_str()).with_bucket(Cow::Owned(bucket)),
            None => VirtualHost::new(host),
        })
    }
}

/// The query parameters that carry a presigned URL's signature (SigV4, then SigV2).
const PRESIGN_PARAMETERS: [&str; 10] = [
    "x-amz-algorithm",
    "x-amz-credential",
    "x-amz-date",
    "x-amz-expires",
    "x-amz-signedheaders",
    "x-amz-signature",
    "x-amz-security-token",
    "awsaccesskeyid",
    "signature",
    "expires",
];

/// The request without its signature, so that s3s serves it as anonymous (see the module
/// comment), marked when its body is aws-chunked for `body` to decode.
fn unsigned(mut request: Request<axum::body::Body>) -> Request<axum::body::Body> {
    let headers = request.headers_mut();
    headers.remove("authorization");
    let streaming = headers
        .get("x-amz-content-sha256")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("STREAMING-"));
    if streaming {
        request.extensions_mut().insert(UndecodedAwsChunked);
    }
    if let Some(uri) = without_presign_parameters(request.uri()) {
        *request.uri_mut() = uri;
    }
    request
}

/// The URI with any presigned-URL signature parameters removed, if it had some. The other
/// parameters are kept byte for byte, still encoded.
fn without_presign_parameters(uri: &Uri) -> Option<Uri> {
    let query = uri.query()?;
    let is_signature = |pair: &&str| {
        let name = pair.split('=').next().unwrap_or_default();
        PRESIGN_PARAMETERS
            .iter()
            .any(|p| name.eq_ignore_ascii_case(p))
    };
    if !query.split('&').any(|pair| is_signature(&pair)) {
        return None;
    }
    let kept: Vec<&str> = query
        .split('&')
        .filter(|pair| !is_signature(pair))
        .collect();
    let path_and_query = if kept.is_empty() {
        uri.path().to_string()
    } else {
        format!("{}?{}", uri.path(), kept.join("&"))
    };
    let mut parts = uri.clone().into_parts();
    parts.path_and_query = path_and_query.parse().ok();
    Uri::from_parts(parts).ok()
}
