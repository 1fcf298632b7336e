//! The AWS JSON 1.1 protocol: request bodies in, responses and errors out, as the service
//! sends them — `application/x-amz-json-1.1`, an `x-amzn-RequestId`, and errors as status 400
//! with `{"__type", "message"}` *and* an `x-amzn-ErrorType` header (botocore reads the body,
//! other SDKs either; both are sent so every client sees the modeled exception).

use axum::body::Body;
use axum::http::{HeaderValue, Response, StatusCode};
use serde_json::{Map, Value};

pub const CONTENT_TYPE: &str = "application/x-amz-json-1.1";

/// The largest request body accepted: CreatePipeline's declaration is at most 100 KB on AWS.
pub const MAX_REQUEST_BYTES: usize = 2 * 1024 * 1024;

/// An error as the service names it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwsError {
    pub code: String,
    pub message: String,
    pub status: StatusCode,
}

impl AwsError {
    /// A client error (400) with the service's exception name.
    pub fn new(code: &str, message: impl Into<String>) -> Self {
        AwsError {
            code: code.to_string(),
            message: message.into(),
            status: StatusCode::BAD_REQUEST,
        }
    }

    pub fn validation(message: impl Into<String>) -> Self {
        AwsError::new("ValidationException", message)
    }

    /// A fault on this side (500), retried by SDKs.
    pub fn internal(message: impl Into<String>) -> Self {
        AwsError {
            code: "InternalFailure".into(),
            message: message.into(),
            status: StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// `Exception: why`, as the engine words a refusal, becomes that exception; anything
    /// else is `fallback`.
    pub fn from_refusal(text: &str, fallback: &str) -> Self {
        match text.split_once(": ") {
            Some((code, why))
                if code.ends_with("Exception") && !code.contains(char::is_whitespace) =>
            {
                AwsError::new(code, why)
            }
            _ => AwsError::new(fallback, text),
        }
    }
}

/// A state-store failure, as the service reports its own faults.
impl From<sandpipe_state::StateError> for AwsError {
    fn from(error: sandpipe_state::StateError) -> Self {
        AwsError::internal(error.to_string())
    }
}

pub type Reply = Result<Value, AwsError>;

/// A JSON 1.1 response.
pub fn respond(reply: Reply, request_id: &str) -> Response<Body> {
    let (status, body, error) = match reply {
        Ok(value) => (StatusCode::OK, value, None),
        Err(error) => {
            let body = serde_json::json!({"__type": error.code, "message": error.message});
            (error.status, body, Some(error.code))
        }
    };
    with_headers(status, body.to_string().into(), error, request_id)
}

/// A successful answer already serialized (a cached one).
pub fn respond_serialized(body: bytes::Bytes, request_id: &str) -> Response<Body> {
    with_headers(StatusCode::OK, body, None, request_id)
}

fn with_headers(
    status: StatusCode,
    body: bytes::Bytes,
    error: Option<String>,
    request_id: &str,
) -> Response<Body> {
    let mut response = Response::new(Body::from(body));
    *response.status_mut() = status;
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static(CONTENT_TYPE));
    if let Ok(id) = HeaderValue::from_str(request_id) {
        headers.insert("x-amzn-requestid", id);
    }
    if let Some(code) = error.and_then(|c| HeaderValue::from_str(&c).ok()) {
        headers.insert("x-amzn-errortype", code);
    }
    response
}

/// A Smithy RPC v2 CBOR error (`{"__type", "message"}` as a CBOR map), so a client
/// configured for that protocol reads why it was refused instead of failing to parse.
pub fn respond_cbor_error(error: AwsError, request_id: &str) -> Response<Body> {
    let mut body = vec![0xa2]; // a map of two pairs
    for text in ["__type", &error.code, "message", &error.message] {
        cbor_text(&mut body, text);
    }
    let mut response = with_headers(error.status, body.into(), Some(error.code), request_id);
    let headers = response.headers_mut();
    headers.insert("content-type", HeaderValue::from_static("application/cbor"));
    headers.insert("smithy-protocol", HeaderValue::from_static("rpc-v2-cbor"));
    response
}

/// A CBOR text string (major type 3): its length in the shortest head, then its bytes.
fn cbor_text(out: &mut Vec<u8>, text: &str) {
    let length = text.len();
    match length {
        0..=23 => out.push(0x60 | length as u8),
        24..=0xff => out.extend([0x78, length as u8]),
        0x100..=0xffff => {
            out.push(0x79);
            out.extend((length as u16).to_be_bytes());
        }
        _ => {
            out.push(0x7a);
            out.extend((length as u32).to_be_bytes());
        }
    }
    out.extend_from_slice(text.as_bytes());
}

/// The request body as a JSON object; `SerializationException` when it is not one.
pub fn parse_body(body: &[u8]) -> Result<Map<String, Value>, AwsError> {
    // SDKs send `{}` for operations without parameters; an empty body means the same.
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(Map::new());
    }
    match serde_json::from_slice::<Value>(body) {
        Ok(Value::Object(map)) => Ok(map),
        Ok(_) => Err(AwsError::new(
            "SerializationException",
            "the request body must be a JSON object",
        )),
        Err(e) => Err(AwsError::new(
            "SerializationException",
            format!("the request body is not JSON: {e}"),
        )),
    }
}

/// Typed access to a request's members, each error naming the member.
pub struct Input(pub Map<String, Value>);

impl Input {
    /// A required string member.
    pub fn string(&self, name: &str) -> Result<String, AwsError> {
        self.optional_string(name)?.ok_or_else(|| {
            AwsError::validation(format!(
                "1 validation error detected: Value null at '{name}' failed to satisfy \
                 constraint: Member must not be null"
            ))
        })
    }

    pub fn optional_string(&self, name: &str) -> Result<Option<String>, AwsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::String(s)) => Ok(Some(s.clone())),
            Some(other) => Err(AwsError::new(
                "SerializationException",
                format!("'{name}' must be a string, not {other}"),
            )),
        }
    }

    pub fn optional_bool(&self, name: &str) -> Result<Option<bool>, AwsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(Value::Bool(b)) => Ok(Some(*b)),
            Some(other) => Err(AwsError::new(
                "SerializationException",
                format!("'{name}' must be a boolean, not {other}"),
            )),
        }
    }

    /// `maxResults`: within 1..=`max` (AWS's bound for the operation), `default` if absent.
    pub fn max_results(&self, default: usize, max: usize) -> Result<usize, AwsError> {
        match self.0.get("maxResults") {
            None | Some(Value::Null) => Ok(default),
            Some(Value::Number(n)) => match n.as_u64() {
                Some(n) if (1..=max as u64).contains(&n) => Ok(n as usize),
                _ => Err(AwsError::validation(format!(
                    "1 validation error detected: Value '{n}' at 'maxResults' failed to \
                     satisfy constraint: Member must have value between 1 and {max}"
                ))),
            },
            Some(other) => Err(AwsError::new(
                "SerializationException",
                format!("'maxResults' must be a number, not {other}"),
            )),
        }
    }

    /// A member as a typed value; SerializationException naming it when it does not fit.
    pub fn typed<T: serde::de::DeserializeOwned>(&self, name: &str) -> Result<Option<T>, AwsError> {
        match self.0.get(name) {
            None | Some(Value::Null) => Ok(None),
            Some(value) => serde_json::from_value(value.clone())
                .map(Some)
                .map_err(|e| AwsError::new("SerializationException", format!("'{name}': {e}"))),
        }
    }
}

/// Epoch seconds with a fraction, as the service sends timestamps; RFC 3339 in.
pub fn timestamp(rfc3339: &str) -> Value {
    match rfc3339.parse::<jiff::Timestamp>() {
        Ok(t) => {
            let millis = t.as_millisecond();
            serde_json::Number::from_f64(millis as f64 / 1000.0)
                .map(Value::Number)
                .unwrap_or(Value::Null)
        }
        Err(_) => Value::Null,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn refusals_keep_their_exception() {
        let error = AwsError::from_refusal(
            "StageNotRetryableException: stage 'Build' did not fail",
            "ValidationException",
        );
        assert_eq!(error.code, "StageNotRetryableException");
        assert_eq!(error.message, "stage 'Build' did not fail");
        let error = AwsError::from_refusal("the bucket is gone: x", "ValidationException");
        assert_eq!(error.code, "ValidationException");
    }

    #[test]
    fn cbor_text_heads_are_the_shortest() {
        let encoded = |text: &str| {
            let mut out = Vec::new();
            cbor_text(&mut out, text);
            out
        };
        assert_eq!(encoded("a"), b"\x61a");
        assert_eq!(encoded(&"x".repeat(24))[..2], [0x78, 24]);
        assert_eq!(encoded(&"x".repeat(300))[..3], [0x79, 0x01, 0x2c]);
    }

    #[test]
    fn bodies_must_be_objects() {
        assert!(parse_body(b"").unwrap().is_empty());
        assert_eq!(
            parse_body(b"[1]").unwrap_err().code,
            "SerializationException"
        );
        assert_eq!(
            parse_body(b"{\"name\":").unwrap_err().code,
            "SerializationException"
        );
    }

    #[test]
    fn timestamps_are_epoch_seconds() {
        assert_eq!(
            timestamp("2026-11-22T05:38:18.123Z"),
            serde_json::json!(1795325898.123)
        );
    }
}
