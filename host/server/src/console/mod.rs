//! The web console: pages a browser gets from the same port the aws CLI talks to, showing
//! and doing what the CodePipeline API shows and does — through the same operations, so the
//! console can never disagree with the CLI.
//!
//! - this file: who may see it ([`refusal`]), which page a path is, and the answer's headers;
//! - [`page`]: the page shell and the pieces every page uses; [`views`]: the pages;
//! - [`actions`]: what each form does, as one API operation;
//! - [`live`]: the event streams that keep a page current and follow logs;
//! - [`downloads`]: artifacts and whole logs, streamed as files;
//! - [`assets`]: the stylesheet and script, compiled in.
//!
//! Server-rendered HTML that reads and works without JavaScript; the script only confirms,
//! refreshes and follows. Every page forbids inline script and foreign origins by its
//! Content-Security-Policy, and everything shown is escaped by maud.

mod actions;
pub mod assets;
mod downloads;
mod live;
mod page;
mod views;

use std::sync::Arc;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, Response, StatusCode, header};
use maud::Markup;
use serde_json::Value;

pub use live::Changes;

use crate::App;
use crate::caller::Caller;
use crate::json::AwsError;
use page::{Flash, pipeline_path};

/// What the operator lets the console do (`sandpipe serve --console`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum ConsoleMode {
    /// Pages and the actions on them.
    #[default]
    ReadWrite,
    /// Pages only: for a dashboard many people look at.
    ReadOnly,
    /// No console: a browser's requests are treated as any other.
    Off,
}

/// The most a form may send.
const MAX_FORM_BYTES: usize = 64 * 1024;

const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; img-src 'self' data:; connect-src 'self'; form-action 'self'; \
     base-uri 'none'; frame-ancestors 'none'";

/// One request's view of the server, for rendering pages and doing what forms ask.
pub struct Console<'a> {
    app: &'a App,
    caller: Caller,
}

impl Console<'_> {
    /// CodePipeline operation `name`, as the API runs it.
    fn api(&self, name: &str, members: Value) -> Result<Value, AwsError> {
        crate::codepipeline::call(self.app, &self.caller, name, members)
    }

    fn writable(&self) -> bool {
        self.app.options.console == ConsoleMode::ReadWrite
    }
}

/// Answer a browser's request.
pub async fn handle(app: Arc<App>, request: Request) -> Response<Body> {
    if let Some(refused) = refusal(&app, request.method(), request.headers()) {
        return refused;
    }
    let (parts, body) = request.into_parts();
    let Some(segments) = segments(parts.uri.path()) else {
        return plain(
            StatusCode::BAD_REQUEST,
            "the path is not valid UTF-8 once decoded",
        );
    };
    let query: Vec<(String, String)> =
        form_urlencoded::parse(parts.uri.query().unwrap_or_default().as_bytes())
            .into_owned()
            .collect();
    let get = |key: &str| {
        query
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    };
    let fragment = parts.headers.contains_key("x-sandpipe-fragment");
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    match (&parts.method, segments.as_slice()) {
        (&Method::GET, ["events"]) => live::events(app, get("since").and_then(|s| s.parse().ok())),
        (
            &Method::GET,
            [
                "pipelines",
                pipeline,
                "executions",
                execution,
                "logs",
                stage,
                action,
            ],
        ) => {
            if get("raw").is_some() {
                // A state read and a file opened: off the async threads.
                tokio::task::block_in_place(|| {
                    downloads::raw_log(&app, pipeline, execution, stage, action)
                })
            } else {
                let from = get("from").and_then(|f| f.parse().ok()).unwrap_or(0);
                live::log(app, execution, stage, action, from)
            }
        }
        (&Method::GET, ["artifacts", bucket, key]) => downloads::artifact(&app, bucket, key).await,
        (
            &Method::GET,
            [
                "pipelines",
                pipeline,
                "executions",
                execution,
                "provenance.json",
            ],
        ) => tokio::task::block_in_place(|| downloads::provenance(&app, pipeline, execution)),
        (&Method::GET | &Method::HEAD, _) => {
            let flash = get("done").and_then(actions::done_text).map(|text| Flash {
                error: false,
                text: text.to_string(),
            });
            let caller = Caller::of(&parts.headers);
            tokio::task::block_in_place(|| render(&app, caller, &segments, &query, flash, fragment))
        }
        (&Method::POST, ["pipelines", name, what]) => {
            if app.options.console != ConsoleMode::ReadWrite {
                return plain(
                    StatusCode::FORBIDDEN,
                    "the console is read-only (sandpipe serve --console read-only)",
                );
            }
            let fields = match axum::body::to_bytes(body, MAX_FORM_BYTES).await {
                Ok(bytes) => form_urlencoded::parse(&bytes).into_owned().collect(),
                Err(_) => {
                    return plain(
                        StatusCode::PAYLOAD_TOO_LARGE,
                        &format!("a form may send at most {MAX_FORM_BYTES} bytes"),
                    );
                }
            };
            let caller = Caller::of(&parts.headers);
            tokio::task::block_in_place(|| submit(&app, caller, name, what, &fields))
        }
        _ => plain(
            StatusCode::METHOD_NOT_ALLOWED,
            "the console has no such action",
        ),
    }
}

/// Do what a form asks, then go where it leads (303, so a reload does not repeat it); when
/// refused, show the page it came from with the API's error.
fn submit(
    app: &App,
    caller: Caller,
    name: &str,
    what: &str,
    fields: &actions::Fields,
) -> Response<Body> {
    let console = Console {
        app,
        caller: caller.clone(),
    };
    match console.act(name, what, fields) {
        Ok((to, done)) => {
            let mut response = Response::new(Body::empty());
            *response.status_mut() = StatusCode::SEE_OTHER;
            let location = format!("{to}?done={done}");
            response.headers_mut().insert(
                header::LOCATION,
                HeaderValue::from_str(&location).expect("paths and done are ASCII"),
            );
            response
        }
        Err(error) => {
            let flash = Flash {
                error: true,
                text: format!("{}: {}", error.code, error.message),
            };
            let execution = actions::field(fields, "pipelineExecutionId");
            let from: Vec<&str> = match (what, execution) {
                ("stop", Some(id)) => vec!["pipelines", name, "executions", id],
                _ => vec!["pipelines", name],
            };
            let mut response = render(app, caller, &from, &[], Some(flash), false);
            if response.status().is_success() {
                *response.status_mut() = error.status;
            }
            response
        }
    }
}

/// The page at `segments`, whole or (for the live refresh) only its main part.
fn render(
    app: &App,
    caller: Caller,
    segments: &[&str],
    query: &[(String, String)],
    flash: Option<Flash>,
    fragment: bool,
) -> Response<Body> {
    let console = Console { app, caller };
    // Read before the page: a change while it renders is then still news to the stream.
    let generation = app.runner.state().generation().ok();
    let crumbs = |n: &str, more: &[(String, String)]| {
        let mut crumbs = vec![(pipeline_path(n, &[]), n.to_string())];
        crumbs.extend_from_slice(more);
        crumbs
    };
    let history = |n: &str| (pipeline_path(n, &["executions"]), "Executions".to_string());
    let (title, crumbs, main): (String, Vec<(String, String)>, Result<Markup, AwsError>) =
        match segments {
            [] => ("Pipelines".into(), vec![], console.pipelines()),
            ["pipelines", n] => (n.to_string(), crumbs(n, &[]), console.pipeline(n)),
            ["pipelines", n, "executions"] => (
                format!("Executions of {n}"),
                crumbs(n, &[history(n)]),
                console.history(n, query),
            ),
            ["pipelines", n, "executions", id] => (
                format!("Execution {id}"),
                crumbs(
                    n,
                    &[
                        history(n),
                        (pipeline_path(n, &["executions", id]), id.to_string()),
                    ],
                ),
                console.execution(n, id),
            ),
            _ => (
                "Not found".into(),
                vec![],
                Err(AwsError::new("NotFound", "the console has no such page")),
            ),
        };
    let (status, flash, main) = match main {
        Ok(main) => (StatusCode::OK, flash, main),
        Err(error) => (
            if error.code == "NotFound" {
                StatusCode::NOT_FOUND
            } else {
                error.status
            },
            Some(Flash {
                error: true,
                text: format!("{}: {}", error.code, error.message),
            }),
            maud::html! {},
        ),
    };
    let live = generation.map(|g| format!("/events?since={g}"));
    let markup = if fragment {
        page::main_part(flash.as_ref(), main)
    } else {
        let address = page::path(segments);
        page::document(
            &address,
            &title,
            &crumbs,
            flash.as_ref(),
            live.as_deref(),
            main,
        )
    };
    html(status, markup)
}

fn html(status: StatusCode, markup: Markup) -> Response<Body> {
    let mut response = Response::new(Body::from(markup.into_string()));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/html; charset=utf-8"),
    );
    headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    secure(headers);
    response
}

/// What every console answer says about itself: no sniffing, no framing, no foreign script.
pub(super) fn secure(headers: &mut HeaderMap) {
    headers.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(CONTENT_SECURITY_POLICY),
    );
    headers.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    headers.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    headers.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("same-origin"),
    );
}

pub(super) fn plain(status: StatusCode, text: &str) -> Response<Body> {
    let mut response = Response::new(Body::from(format!("{text}\n")));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    secure(headers);
    response
}

/// The path's segments, each percent-decoded (a key's `/` travels as `%2F` inside one).
fn segments(path: &str) -> Option<Vec<String>> {
    path.split('/')
        .filter(|s| !s.is_empty())
        .map(|s| {
            percent_encoding::percent_decode_str(s)
                .decode_utf8()
                .ok()
                .map(|s| s.into_owned())
        })
        .collect()
}

/// Why the request is refused, when it is: who may use the console. (That a loopback
/// server answers only to loopback names, against DNS rebinding, the router has checked:
/// see `host_names`.) With `--credentials`, the browser signs in with one of the operator's
/// keys (HTTP Basic: access key id and secret); and a form is taken only from the console's
/// own pages (its Origin), so another site cannot post one.
fn refusal(app: &App, method: &Method, headers: &HeaderMap) -> Option<Response<Body>> {
    let host = headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .unwrap_or_default();
    if app.keys.checking() && !signed_in(app, headers) {
        let mut refused = plain(
            StatusCode::UNAUTHORIZED,
            "sign in with an access key id and its secret key from --credentials",
        );
        refused.headers_mut().insert(
            header::WWW_AUTHENTICATE,
            HeaderValue::from_static("Basic realm=\"sandpipe console\", charset=\"UTF-8\""),
        );
        return Some(refused);
    }
    if method != Method::GET && method != Method::HEAD {
        let origin = headers.get(header::ORIGIN).and_then(|h| h.to_str().ok());
        let same =
            origin.is_some_and(|o| o == format!("http://{host}") || o == format!("https://{host}"));
        if !same {
            return Some(plain(
                StatusCode::FORBIDDEN,
                "forms are taken only from the console's own pages (the Origin header differs)",
            ));
        }
    }
    None
}

fn signed_in(app: &App, headers: &HeaderMap) -> bool {
    let Some(given) = headers
        .get(header::AUTHORIZATION)
        .and_then(|h| h.to_str().ok())
        .and_then(|h| h.strip_prefix("Basic "))
    else {
        return false;
    };
    let Ok(decoded) = base64_simd::STANDARD.decode_to_vec(given.trim()) else {
        return false;
    };
    let Ok(decoded) = String::from_utf8(decoded) else {
        return false;
    };
    let Some((key, secret)) = decoded.split_once(':') else {
        return false;
    };
    app.keys
        .secret(key)
        .is_some_and(|expected| same_bytes(expected.as_bytes(), secret.as_bytes()))
}

/// Equal, in time that does not depend on where they differ.
fn same_bytes(a: &[u8], b: &[u8]) -> bool {
    a.len() == b.len() && a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn segments_are_decoded_one_by_one() {
        assert_eq!(
            segments("/artifacts/b/dir%2Fkey%20x").unwrap(),
            vec!["artifacts", "b", "dir/key x"]
        );
        assert!(segments("/%ff").is_none());
        assert!(
            same_bytes(b"abc", b"abc") && !same_bytes(b"abc", b"abd") && !same_bytes(b"a", b"ab")
        );
    }
}
