//! The awsQuery protocol (IAM, STS): a form-encoded `Action=…&Version=…` body in, XML out —
//! `<ActionResponse><ActionResult>…</ActionResult><ResponseMetadata>` for answers and
//! `<ErrorResponse><Error><Type/><Code/><Message/></Error><RequestId/>` for errors, every
//! value escaped.

use std::collections::BTreeMap;
use std::fmt::Write;

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use sandpipe_model::text::xml_escape as escape;

use crate::caller::Caller;
use crate::json::AwsError;

/// Policy documents are at most 10 KB in IAM; a request is far below this.
pub const MAX_REQUEST_BYTES: usize = 1024 * 1024;

/// The members of a query request.
pub struct Params(pub BTreeMap<String, String>);

impl Params {
    pub fn parse(body: &[u8]) -> Params {
        Params(form_urlencoded::parse(body).into_owned().collect())
    }

    pub fn action(&self) -> Option<&str> {
        self.0.get("Action").map(String::as_str)
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }

    /// A required member; `ValidationError` naming it when absent.
    pub fn required(&self, name: &str) -> Result<&str, AwsError> {
        self.get(name).ok_or_else(|| {
            AwsError::new(
                "ValidationError",
                format!("1 validation error detected: Value null at '{name}' failed to satisfy constraint: Member must not be null"),
            )
        })
    }
}

/// Percent-encoding as IAM sends policy documents (`%20` for a space, not `+`, which is
/// what botocore's decoder expects before it parses the JSON).
pub fn percent_encode(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for byte in text.bytes() {
        match byte {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'_' | b'.' | b'~' => {
                out.push(byte as char)
            }
            _ => out.push_str(&format!("%{byte:02X}")),
        }
    }
    out
}

/// `<name>escaped value</name>`.
pub fn element(name: &str, value: &str) -> String {
    format!("<{name}>{}</{name}>", escape(value))
}

fn xml_response(status: StatusCode, body: String) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert("content-type", HeaderValue::from_static("text/xml"));
    response
}

/// An answer: `result` is the inner XML of `<ActionResult>` (already escaped).
pub fn respond(namespace: &str, action: &str, result: &str, caller: &Caller) -> Response<Body> {
    let mut body = String::new();
    let _ = write!(
        body,
        "<{action}Response xmlns=\"{namespace}\"><{action}Result>{result}</{action}Result>\
         <ResponseMetadata>{}</ResponseMetadata></{action}Response>",
        element("RequestId", &caller.request_id)
    );
    xml_response(StatusCode::OK, body)
}

/// An error, with the status IAM gives its code.
pub fn respond_error(error: &AwsError, caller: &Caller) -> Response<Body> {
    let status = match error.code.as_str() {
        "NoSuchEntity" => StatusCode::NOT_FOUND,
        "EntityAlreadyExists" | "DeleteConflict" => StatusCode::CONFLICT,
        "InvalidClientTokenId" | "SignatureDoesNotMatch" | "MissingAuthenticationToken" => {
            StatusCode::FORBIDDEN
        }
        _ if error.status.is_server_error() => error.status,
        _ => StatusCode::BAD_REQUEST,
    };
    let kind = if status.is_server_error() {
        "Receiver"
    } else {
        "Sender"
    };
    let body = format!(
        "<ErrorResponse><Error>{}{}{}</Error>{}</ErrorResponse>",
        element("Type", kind),
        element("Code", &error.code),
        element("Message", &error.message),
        element("RequestId", &caller.request_id)
    );
    xml_response(status, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn values_are_escaped_and_forms_decoded() {
        assert_eq!(
            escape("<a href='x'>&\"</a>"),
            "&lt;a href=&apos;x&apos;&gt;&amp;&quot;&lt;/a&gt;"
        );
        let params = Params::parse(
            b"Action=CreateRole&RoleName=r&AssumeRolePolicyDocument=%7B%22a%22%3A1%7D",
        );
        assert_eq!(params.action(), Some("CreateRole"));
        assert_eq!(params.get("AssumeRolePolicyDocument"), Some("{\"a\":1}"));
        assert_eq!(params.required("Nope").unwrap_err().code, "ValidationError");
    }
}
