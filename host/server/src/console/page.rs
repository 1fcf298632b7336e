//! The console's page shell and the pieces every page uses: links with encoded path
//! segments, status badges, times, forms. Everything shown goes through maud, which escapes
//! each interpolation: a pipeline name, a log line or a variable holding `<script>` is text.
//! Pages carry no inline script or style, so the Content-Security-Policy can forbid both.

use maud::{DOCTYPE, Markup, html};
use percent_encoding::{AsciiSet, NON_ALPHANUMERIC, utf8_percent_encode};
use serde_json::Value;

/// Characters left as they are in a path segment.
const SEGMENT: &AsciiSet = &NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b'@');

/// A path made of `segments`, each percent-encoded.
pub fn path(segments: &[&str]) -> String {
    let mut out = String::new();
    for segment in segments {
        out.push('/');
        out.extend(utf8_percent_encode(segment, SEGMENT));
    }
    if out.is_empty() {
        out.push('/');
    }
    out
}

/// `/pipelines/<name>` and below.
pub fn pipeline_path(name: &str, rest: &[&str]) -> String {
    let mut segments = vec!["pipelines", name];
    segments.extend_from_slice(rest);
    path(&segments)
}

/// The class that colours a status: ok, bad, busy or idle.
pub fn status_class(status: &str) -> &'static str {
    match status {
        "Succeeded" => "ok",
        "Failed" | "Abandoned" | "Cancelled" => "bad",
        "InProgress" | "Stopping" => "busy",
        _ => "idle",
    }
}

/// A status as a badge whose class says its colour.
pub fn status(status: &str) -> Markup {
    html! { span class={ "status " (status_class(status)) } { (status) } }
}

/// An API timestamp (epoch seconds) as UTC text.
pub fn time(value: &Value) -> String {
    value
        .as_f64()
        .and_then(|seconds| jiff::Timestamp::from_millisecond((seconds * 1000.0) as i64).ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// How long ago an API timestamp was, as people say it.
pub fn age(value: &Value) -> String {
    let Some(seconds) = value.as_f64() else {
        return String::new();
    };
    let now = jiff::Timestamp::now().as_millisecond() as f64 / 1000.0;
    let ago = (now - seconds).max(0.0) as u64;
    match ago {
        0..=59 => format!("{ago} s ago"),
        60..=3599 => format!("{} min ago", ago / 60),
        3600..=86_399 => format!("{} h ago", ago / 3600),
        _ => format!("{} d ago", ago / 86_400),
    }
}

/// A record's RFC 3339 time as UTC text.
pub fn record_time(text: &Option<String>) -> String {
    text.as_deref()
        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
        .map(|t| t.strftime("%Y-%m-%d %H:%M:%S UTC").to_string())
        .unwrap_or_default()
}

/// The time between two record times, as people say it.
pub fn duration(start: &Option<String>, end: &Option<String>) -> String {
    let parse = |t: &Option<String>| t.as_deref().and_then(|t| t.parse::<jiff::Timestamp>().ok());
    let (Some(start), end) = (parse(start), parse(end)) else {
        return String::new();
    };
    let end = end.unwrap_or_else(jiff::Timestamp::now);
    let millis = end.duration_since(start).as_millis().max(0) as u64;
    if millis < 1000 {
        format!("{millis} ms")
    } else if millis < 60_000 {
        format!("{:.1} s", millis as f64 / 1000.0)
    } else {
        format!("{} min {} s", millis / 60_000, (millis % 60_000) / 1000)
    }
}

/// A form posting to `action`, asking `confirm` first when given (as AWS's console does for
/// what cannot be undone).
pub fn form(action: &str, confirm: Option<&str>, body: Markup) -> Markup {
    html! {
        form method="post" action=(action) data-confirm=[confirm] {
            (body)
        }
    }
}

/// What a page says above its content: the outcome of an action, or why it was refused.
pub struct Flash {
    pub error: bool,
    pub text: String,
}

/// The whole page at `page` (its canonical address: what a refresh fetches, and what the
/// address bar shows after a form). `live` is the event stream that tells the page to
/// refresh its main part.
pub fn document(
    page: &str,
    title: &str,
    crumbs: &[(String, String)],
    flash: Option<&Flash>,
    live: Option<&str>,
    main: Markup,
) -> Markup {
    html! {
        (DOCTYPE)
        html lang="en" {
            head {
                meta charset="utf-8";
                meta name="viewport" content="width=device-width, initial-scale=1";
                meta name="color-scheme" content="light dark";
                title { (title) " · sandpipe" }
                link rel="stylesheet" href=(super::assets::STYLE_PATH);
            }
            body data-page=(page) data-live=[live] {
                header {
                    nav aria-label="Breadcrumb" {
                        a href="/" { "sandpipe" }
                        @for (href, label) in crumbs {
                            span aria-hidden="true" { " / " }
                            a href=(href) { (label) }
                        }
                    }
                }
                main id="main" {
                    (main_part(flash, main))
                }
                script src=(super::assets::SCRIPT_PATH) {}
            }
        }
    }
}

/// The part of a page the live refresh replaces.
pub fn main_part(flash: Option<&Flash>, main: Markup) -> Markup {
    html! {
        @if let Some(flash) = flash {
            p class={ "flash" @if flash.error { " error" } } role="status" { (flash.text) }
        }
        (main)
    }
}
