//! The console's stylesheet and script, compiled into the binary (the machine may be
//! offline: no CDN) and served from sandpipe's own routes with an ETag, so a browser asks
//! once per binary and revalidates cheaply after.

use std::sync::OnceLock;

use axum::body::Body;
use axum::extract::Path;
use axum::http::{HeaderMap, Response, StatusCode, header};
use sha2::{Digest, Sha256};

pub const STYLE_PATH: &str = "/_sandpipe/console/console.css";
pub const SCRIPT_PATH: &str = "/_sandpipe/console/console.js";

const STYLE: &str = include_str!("console.css");
const SCRIPT: &str = include_str!("console.js");

/// The assets by name: bytes and content type.
const ASSETS: [(&str, &str, &str); 2] = [
    ("console.css", STYLE, "text/css; charset=utf-8"),
    ("console.js", SCRIPT, "text/javascript; charset=utf-8"),
];

/// Each asset's ETag (a digest of its bytes), computed once.
fn etags() -> &'static [String; 2] {
    static TAGS: OnceLock<[String; 2]> = OnceLock::new();
    TAGS.get_or_init(|| {
        ASSETS.map(|(_, body, _)| format!("\"{}\"", &hex::encode(Sha256::digest(body))[..16]))
    })
}

/// `GET /_sandpipe/console/<asset>`.
pub async fn serve(Path(name): Path<String>, headers: HeaderMap) -> Response<Body> {
    let Some(index) = ASSETS.iter().position(|(asset, _, _)| *asset == name) else {
        let mut response = Response::new(Body::from("no such console asset"));
        *response.status_mut() = StatusCode::NOT_FOUND;
        return response;
    };
    let (_, body, content_type) = ASSETS[index];
    let tag = etags()[index].as_str();
    let fresh = headers
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|given| given.split(',').any(|t| t.trim() == tag));
    let mut response = if fresh {
        let mut response = Response::new(Body::empty());
        *response.status_mut() = StatusCode::NOT_MODIFIED;
        response
    } else {
        Response::new(Body::from(body))
    };
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        content_type.parse().expect("a valid header"),
    );
    headers.insert(header::ETAG, tag.parse().expect("a valid header"));
    headers.insert(
        header::CACHE_CONTROL,
        "no-cache".parse().expect("a valid header"),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        "nosniff".parse().expect("a valid header"),
    );
    response
}
