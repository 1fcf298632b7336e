//! Which service a request is for, decided from its headers alone, as AWS's front doors do:
//! CodePipeline by `X-Amz-Target`, IAM and STS by the SigV4 credential scope (or, unsigned,
//! by an awsQuery `Action` the caller must then send form-encoded), sandpipe's own routes by
//! path, and everything else is S3 — whose requests carry neither.

use axum::http::HeaderMap;
use axum::http::header::AUTHORIZATION;

/// The JSON 1.1 target prefix of every CodePipeline operation.
pub const CODEPIPELINE_TARGET: &str = "CodePipeline_20150709.";

/// What a request is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Service {
    /// `X-Amz-Target: CodePipeline_20150709.<operation>`.
    CodePipeline {
        operation: String,
    },
    /// An `X-Amz-Target` of another service this endpoint does not serve.
    OtherJsonTarget {
        target: String,
    },
    /// Smithy RPC v2 CBOR (`POST /service/<service>/operation/<operation>` with
    /// `smithy-protocol: rpc-v2-cbor`), which newer SDK models list for CodePipeline
    /// beside AWS JSON 1.1; answered with a CBOR error saying which protocol to use.
    RpcV2Cbor {
        service: String,
        operation: String,
    },
    Iam,
    Sts,
    /// `/_sandpipe/…`.
    Sandpipe,
    /// The web console: what a browser asks for (unsigned, accepting HTML or an event
    /// stream), which no AWS client sends.
    Console,
    S3,
}

/// The parts of a SigV4 `Authorization` header's credential scope:
/// `Credential=<access key>/<date>/<region>/<service>/aws4_request`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CredentialScope {
    pub access_key: String,
    pub date: String,
    pub region: String,
    pub service: String,
}

impl CredentialScope {
    /// The scope of a SigV4-signed request; None when it is unsigned or signed otherwise.
    pub fn of(headers: &HeaderMap) -> Option<CredentialScope> {
        let value = headers.get(AUTHORIZATION)?.to_str().ok()?;
        let rest = value.strip_prefix("AWS4-HMAC-SHA256")?;
        let credential = rest
            .split(',')
            .map(str::trim)
            .find_map(|part| part.strip_prefix("Credential="))?;
        let mut parts = credential.split('/');
        let scope = CredentialScope {
            access_key: parts.next()?.to_string(),
            date: parts.next()?.to_string(),
            region: parts.next()?.to_string(),
            service: parts.next()?.to_string(),
        };
        (parts.next() == Some("aws4_request")).then_some(scope)
    }
}

/// A browser's request: no signature of any kind, and asking for a page or an event
/// stream. (An SDK signs, and the aws CLI's unsigned requests accept anything.)
fn is_browser(query: Option<&str>, headers: &HeaderMap) -> bool {
    // A browser signs in to the console with HTTP Basic; AWS clients never use it.
    let aws_authorization = headers
        .get(AUTHORIZATION)
        .is_some_and(|value| !value.as_bytes().starts_with(b"Basic "));
    if aws_authorization || headers.contains_key("x-amz-date") {
        return false;
    }
    // A presigned URL opened in a browser is still S3's.
    let presigned = query.is_some_and(|q| {
        q.split('&')
            .any(|pair| pair.starts_with("X-Amz-Signature=") || pair.starts_with("Signature="))
    });
    if presigned {
        return false;
    }
    let accept = headers
        .get(axum::http::header::ACCEPT)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    accept.contains("text/html") || accept.contains("text/event-stream")
}

/// Whether a browser's request is for one of the console's pages: its own paths (`/`,
/// `/pipelines…`, `/events`, `/artifacts/…`) on the server's own name. Anything else a
/// browser opens — an object by path (`/bucket/key`) or on a bucket's virtual host
/// (`bucket.localhost`) — is S3's, as it was before the console.
fn is_console_page(path: &str, headers: &HeaderMap) -> bool {
    let console_path = matches!(path, "/" | "/events" | "/pipelines")
        || path.starts_with("/pipelines/")
        || path.starts_with("/artifacts/");
    let host = headers
        .get(axum::http::header::HOST)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    let name = host.rsplit_once(':').map_or(host, |(name, _)| name);
    let bucket_host = name.to_ascii_lowercase().ends_with(".localhost");
    console_path && !bucket_host
}

/// Decide the service of a request from its path and headers.
pub fn classify(path: &str, query: Option<&str>, headers: &HeaderMap) -> Service {
    if path == "/_sandpipe" || path.starts_with("/_sandpipe/") {
        return Service::Sandpipe;
    }
    if let Some(target) = headers.get("x-amz-target").and_then(|v| v.to_str().ok()) {
        return match target.strip_prefix(CODEPIPELINE_TARGET) {
            Some(operation) => Service::CodePipeline {
                operation: operation.to_string(),
            },
            None => Service::OtherJsonTarget {
                target: target.to_string(),
            },
        };
    }
    if headers
        .get("smithy-protocol")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"rpc-v2-cbor"))
    {
        let mut parts = path.trim_start_matches('/').splitn(4, '/');
        if let (Some("service"), Some(service), Some("operation"), Some(operation)) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        {
            return Service::RpcV2Cbor {
                service: service.to_string(),
                operation: operation.to_string(),
            };
        }
    }
    if is_browser(query, headers) && is_console_page(path, headers) {
        return Service::Console;
    }
    match CredentialScope::of(headers).map(|scope| scope.service) {
        Some(service) if service == "iam" => Service::Iam,
        Some(service) if service == "sts" => Service::Sts,
        _ => Service::S3,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn headers(pairs: &[(&'static str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.insert(*name, value.parse().unwrap());
        }
        map
    }

    fn signed(service: &str) -> String {
        format!(
            "AWS4-HMAC-SHA256 Credential=test/20261122/eu-west-1/{service}/aws4_request, \
             SignedHeaders=host;x-amz-date, Signature=abc"
        )
    }

    #[test]
    fn requests_go_where_their_headers_say() {
        let cp = headers(&[
            ("x-amz-target", "CodePipeline_20150709.GetPipelineState"),
            ("authorization", &signed("codepipeline")),
        ]);
        assert_eq!(
            classify("/", None, &cp),
            Service::CodePipeline {
                operation: "GetPipelineState".into()
            }
        );
        assert_eq!(
            classify("/", None, &headers(&[("authorization", &signed("iam"))])),
            Service::Iam
        );
        assert_eq!(
            classify("/", None, &headers(&[("authorization", &signed("sts"))])),
            Service::Sts
        );
        assert_eq!(
            classify(
                "/bucket/key",
                None,
                &headers(&[("authorization", &signed("s3"))])
            ),
            Service::S3
        );
        assert_eq!(classify("/bucket", None, &HeaderMap::new()), Service::S3);
        assert_eq!(classify("/_sandpipe/health", None, &cp), Service::Sandpipe);
        assert_eq!(
            classify(
                "/",
                None,
                &headers(&[("x-amz-target", "DynamoDB_20120810.ListTables")])
            ),
            Service::OtherJsonTarget {
                target: "DynamoDB_20120810.ListTables".into()
            }
        );
        let cbor = headers(&[("smithy-protocol", "rpc-v2-cbor")]);
        assert_eq!(
            classify(
                "/service/CodePipeline_20150709/operation/ListPipelines",
                None,
                &cbor
            ),
            Service::RpcV2Cbor {
                service: "CodePipeline_20150709".into(),
                operation: "ListPipelines".into()
            }
        );
        // Without the header, the same path is an S3 key.
        assert_eq!(
            classify(
                "/service/CodePipeline_20150709/operation/ListPipelines",
                None,
                &HeaderMap::new()
            ),
            Service::S3
        );
    }

    #[test]
    fn a_browser_gets_the_console_and_everything_signed_gets_its_service() {
        let browser = headers(&[("accept", "text/html,application/xhtml+xml")]);
        assert_eq!(classify("/", None, &browser), Service::Console);
        let stream = headers(&[("accept", "text/event-stream")]);
        assert_eq!(
            classify("/pipelines/p/events", None, &stream),
            Service::Console
        );
        // The same page asked for with a signature, or a presigned URL, is S3's.
        let signed_browser = headers(&[("accept", "text/html"), ("authorization", &signed("s3"))]);
        assert_eq!(classify("/", None, &signed_browser), Service::S3);
        assert_eq!(
            classify(
                "/bucket/key",
                Some("X-Amz-Signature=abc&X-Amz-Date=1"),
                &browser
            ),
            Service::S3
        );
        // An object a browser opens by path or on a bucket's virtual host stays S3's.
        assert_eq!(classify("/bucket/key", None, &browser), Service::S3);
        let virtual_host = headers(&[("accept", "text/html"), ("host", "site.localhost:4566")]);
        assert_eq!(classify("/", None, &virtual_host), Service::S3);
        let own_host = headers(&[("accept", "text/html"), ("host", "localhost:4566")]);
        assert_eq!(classify("/pipelines/p", None, &own_host), Service::Console);
        // The aws CLI's unsigned requests accept anything.
        assert_eq!(
            classify("/bucket", None, &headers(&[("accept", "*/*")])),
            Service::S3
        );
    }

    #[test]
    fn the_credential_scope_names_key_region_and_service() {
        let scope =
            CredentialScope::of(&headers(&[("authorization", &signed("codepipeline"))])).unwrap();
        assert_eq!(scope.access_key, "test");
        assert_eq!(scope.region, "eu-west-1");
        assert_eq!(scope.service, "codepipeline");
        assert_eq!(
            CredentialScope::of(&headers(&[(
                "authorization",
                "AWS4-HMAC-SHA256 Credential=x/y"
            )])),
            None
        );
        assert_eq!(
            CredentialScope::of(&headers(&[("authorization", "Basic abc")])),
            None
        );
    }
}
