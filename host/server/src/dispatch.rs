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
    Iam,
    Sts,
    /// `/_sandpipe/…`.
    Sandpipe,
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

/// Decide the service of a request from its path and headers.
pub fn classify(path: &str, headers: &HeaderMap) -> Service {
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
            classify("/", &cp),
            Service::CodePipeline {
                operation: "GetPipelineState".into()
            }
        );
        assert_eq!(
            classify("/", &headers(&[("authorization", &signed("iam"))])),
            Service::Iam
        );
        assert_eq!(
            classify("/", &headers(&[("authorization", &signed("sts"))])),
            Service::Sts
        );
        assert_eq!(
            classify("/bucket/key", &headers(&[("authorization", &signed("s3"))])),
            Service::S3
        );
        assert_eq!(classify("/bucket", &HeaderMap::new()), Service::S3);
        assert_eq!(classify("/_sandpipe/health", &cp), Service::Sandpipe);
        assert_eq!(
            classify(
                "/",
                &headers(&[("x-amz-target", "DynamoDB_20120810.ListTables")])
            ),
            Service::OtherJsonTarget {
                target: "DynamoDB_20120810.ListTables".into()
            }
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
