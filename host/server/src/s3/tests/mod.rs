//! The S3 front in process: requests built by hand, as the aws CLI and the SDKs send them,
//! through `S3Front::handle` and the store underneath. This file holds the harness.

mod access;
mod objects;
mod uploads;

use std::collections::BTreeMap;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{HeaderMap, Request};
use http_body_util::BodyExt;
use s3s::crypto::{Checksum as _, Crc32};
use sandpipe_store::LocalS3;

use super::S3Front;

pub struct Served {
    pub status: u16,
    pub headers: HeaderMap,
    pub body: Vec<u8>,
}

impl Served {
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

pub struct Harness {
    _dir: tempfile::TempDir,
    pub store: Arc<LocalS3>,
    pub front: S3Front,
}

pub fn harness(credentials: Option<BTreeMap<String, String>>) -> Harness {
    let dir = tempfile::tempdir().unwrap();
    let store = Arc::new(LocalS3::open(&dir.path().join("s3")).unwrap());
    let keys = Arc::new(crate::keys::Keys::new(credentials));
    let front = S3Front::new(store.clone(), keys, Some("localhost:4566".into()));
    Harness {
        _dir: dir,
        store,
        front,
    }
}

impl Harness {
    pub async fn send(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Served {
        let body = body.into();
        let mut request = Request::builder()
            .method(method)
            .uri(uri)
            .header("host", "127.0.0.1:4566");
        // As every client sends it for a body of known size.
        let known_length = hyper::body::Body::size_hint(&body)
            .exact()
            .filter(|n| *n > 0);
        if let Some(length) =
            known_length.filter(|_| !headers.iter().any(|(n, _)| *n == "content-length"))
        {
            request = request.header("content-length", length);
        }
        for (name, value) in headers {
            request = request.header(*name, *value);
        }
        let response = self.front.handle(request.body(body).unwrap()).await;
        let status = response.status().as_u16();
        let headers = response.headers().clone();
        let body = response
            .into_body()
            .collect()
            .await
            .unwrap()
            .to_bytes()
            .to_vec();
        Served {
            status,
            headers,
            body,
        }
    }

    pub async fn ok(
        &self,
        method: &str,
        uri: &str,
        headers: &[(&str, &str)],
        body: impl Into<Body>,
    ) -> Served {
        let served = self.send(method, uri, headers, body).await;
        assert!(
            (200..300).contains(&served.status),
            "{method} {uri}: {} {}",
            served.status,
            served.text()
        );
        served
    }
}

pub fn crc32(bytes: &[u8]) -> String {
    base64_simd::STANDARD.encode_to_string(Crc32::checksum(bytes))
}

/// The text between `<tag>` and `</tag>`, each time it occurs.
pub fn elements(xml: &str, tag: &str) -> Vec<String> {
    let (open, close) = (format!("<{tag}>"), format!("</{tag}>"));
    xml.split(&open)
        .skip(1)
        .filter_map(|rest| {
            rest.split_once(&close)
                .map(|(inside, _)| inside.to_string())
        })
        .collect()
}

pub fn md5_base64(bytes: &[u8]) -> String {
    use md5::{Digest, Md5};
    base64_simd::STANDARD.encode_to_string(Md5::digest(bytes))
}
