//! Which names a server on loopback answers to. A page on any web site can make the
//! browser send requests to `127.0.0.1` by rebinding its own name there (DNS rebinding);
//! those requests carry the site's name in `Host`. Without `--credentials` nothing else
//! stands between such a page and CodePipeline's API — which starts builds whose commands
//! run on this machine — so every request to a loopback server is refused unless it names
//! the server as only loopback can be named. A server on another address was put there
//! by the operator to be reached by other names, and answers to any.

use std::sync::Arc;

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::header::{CONTENT_TYPE, HOST};
use axum::http::{HeaderValue, Response, StatusCode};
use axum::middleware::Next;

use crate::App;
use crate::caller::Caller;

const REFUSED: &str = "this server listens on loopback and answers only to localhost, \
    127.0.0.1, [::1] and names under .localhost or localhost.localstack.cloud (any other \
    name could be a web page reaching it by DNS rebinding); to be reached by other names, \
    serve on another address (--host)";

/// Middleware: refuse a request to a loopback server that names it otherwise.
pub(crate) async fn only_loopback_names(
    State(app): State<Arc<App>>,
    request: Request,
    next: Next,
) -> Response<Body> {
    let host = request
        .headers()
        .get(HOST)
        .map(|h| h.to_str().unwrap_or("?"));
    // HTTP/1.0 clients may send no Host at all; a browser always sends one.
    let allowed = host.is_none_or(is_loopback_name_or_below) || !served_on_loopback(&app);
    if allowed {
        return next.run(request).await;
    }
    if request.headers().contains_key("x-amz-target") {
        let caller = Caller::of(request.headers());
        let mut error = crate::json::AwsError::new("AccessDeniedException", REFUSED);
        error.status = StatusCode::FORBIDDEN;
        return crate::json::respond(Err(error), &caller.request_id);
    }
    let mut response = Response::new(Body::from(format!("{REFUSED}\n")));
    *response.status_mut() = StatusCode::FORBIDDEN;
    response.headers_mut().insert(
        CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

fn served_on_loopback(app: &App) -> bool {
    let url = app.options.url.as_deref().unwrap_or("http://127.0.0.1");
    let authority = url.split("://").nth(1).unwrap_or(url);
    is_loopback_name(authority)
}

/// `localhost`, `127.x.y.z` or `[::1]`, with or without a port.
pub(crate) fn is_loopback_name(authority: &str) -> bool {
    let host = name_of(authority);
    host.eq_ignore_ascii_case("localhost")
        || host == "::1"
        || host
            .parse::<std::net::Ipv4Addr>()
            .is_ok_and(|ip| ip.is_loopback())
}

/// A loopback name, or a name below one only loopback can have: `*.localhost` (reserved,
/// and resolved to loopback by browsers themselves; S3 virtual hosts live there) and
/// LocalStack's `localhost.localstack.cloud`, which tools made for LocalStack use.
fn is_loopback_name_or_below(authority: &str) -> bool {
    let host = name_of(authority).to_ascii_lowercase();
    is_loopback_name(authority)
        || host.ends_with(".localhost")
        || host == "localhost.localstack.cloud"
        || host.ends_with(".localhost.localstack.cloud")
}

/// The host part of `host[:port]` or `[v6][:port]`.
fn name_of(authority: &str) -> &str {
    if let Some(rest) = authority.strip_prefix('[') {
        rest.split(']').next().unwrap_or_default()
    } else {
        authority
            .rsplit_once(':')
            .map_or(authority, |(host, _)| host)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names() {
        for name in [
            "localhost:4566",
            "127.0.0.1:80",
            "[::1]:4566",
            "LOCALHOST",
            "127.1.2.3",
        ] {
            assert!(is_loopback_name(name), "{name}");
        }
        for name in [
            "evil.example:4566",
            "10.0.0.1:4566",
            "localhost.evil.example",
            "",
        ] {
            assert!(!is_loopback_name(name), "{name}");
        }
    }

    #[test]
    fn names_below_loopback_ones() {
        for name in [
            "site.localhost:4566",
            "s3.localhost.localstack.cloud:4566",
            "localhost.localstack.cloud",
            "127.0.0.1:4566",
        ] {
            assert!(is_loopback_name_or_below(name), "{name}");
        }
        for name in [
            "localhost.evil.example",
            "evil-localhost:4566",
            "localstack.cloud",
            "attacker.example",
            "?",
        ] {
            assert!(!is_loopback_name_or_below(name), "{name}");
        }
    }
}
