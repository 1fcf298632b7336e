//! Who is calling, as far as a local endpoint cares: the account (a 12-digit access key is
//! taken as the account id, as LocalStack does; any other key is account 123456789012) and
//! the region, both from the SigV4 credential scope.

use axum::http::HeaderMap;

use crate::dispatch::CredentialScope;

pub const DEFAULT_ACCOUNT: &str = "123456789012";

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Caller {
    pub account: String,
    pub region: String,
    /// This request's id, sent back as `x-amzn-RequestId`.
    pub request_id: String,
}

impl Caller {
    pub fn of(headers: &HeaderMap) -> Caller {
        let scope = CredentialScope::of(headers);
        let account = scope
            .as_ref()
            .map(|s| s.access_key.as_str())
            .filter(|key| key.len() == 12 && key.bytes().all(|b| b.is_ascii_digit()))
            .unwrap_or(DEFAULT_ACCOUNT)
            .to_string();
        let region = scope
            .map(|s| s.region)
            .filter(|r| !r.is_empty())
            .unwrap_or_else(|| sandpipe_engine::DEFAULT_REGION.to_string());
        Caller {
            account,
            region,
            request_id: uuid::Uuid::new_v4().to_string(),
        }
    }

    /// `arn:aws:<service>:<region>:<account>:<resource>`.
    pub fn arn(&self, service: &str, resource: &str) -> String {
        format!(
            "arn:aws:{service}:{}:{}:{resource}",
            self.region, self.account
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_twelve_digit_key_is_the_account() {
        let mut headers = HeaderMap::new();
        headers.insert(
            "authorization",
            "AWS4-HMAC-SHA256 Credential=000000000042/20261122/eu-west-1/codepipeline/aws4_request, SignedHeaders=host, Signature=x"
                .parse()
                .unwrap(),
        );
        let caller = Caller::of(&headers);
        assert_eq!(caller.account, "000000000042");
        assert_eq!(caller.region, "eu-west-1");
        assert_eq!(
            caller.arn("codepipeline", "p1"),
            "arn:aws:codepipeline:eu-west-1:000000000042:p1"
        );
        let anonymous = Caller::of(&HeaderMap::new());
        assert_eq!(anonymous.account, DEFAULT_ACCOUNT);
        assert_eq!(anonymous.region, "us-east-1");
    }
}
