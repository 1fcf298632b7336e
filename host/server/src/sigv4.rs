//! Signature Version 4, checked for the JSON and query services when the operator gave keys
//! (`serve --credentials`); S3 requests are checked by `s3s` itself. The canonical request,
//! string to sign and signing key are AWS's (docs "Create a signed AWS API request"); the
//! comparison is constant-time through `hmac`'s `verify_slice`.

use axum::http::{HeaderMap, Method, Uri};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::json::AwsError;
use crate::keys::Keys;

/// How far a request's `X-Amz-Date` may be from now, as AWS allows.
const MAX_SKEW_SECONDS: i64 = 15 * 60;

/// Which error names a service uses for the same failures.
#[derive(Clone, Copy)]
pub enum Dialect {
    /// AWS JSON services (CodePipeline).
    Json,
    /// awsQuery services (IAM, STS).
    Query,
}

impl Dialect {
    fn missing(self) -> AwsError {
        match self {
            Dialect::Json => AwsError::new(
                "MissingAuthenticationTokenException",
                "Missing Authentication Token",
            ),
            Dialect::Query => AwsError::new(
                "MissingAuthenticationToken",
                "Request is missing Authentication Token",
            ),
        }
    }

    fn unknown_key(self) -> AwsError {
        let message = "The security token included in the request is invalid.";
        match self {
            Dialect::Json => AwsError::new("UnrecognizedClientException", message),
            Dialect::Query => AwsError::new("InvalidClientTokenId", message),
        }
    }

    fn mismatch(self, why: &str) -> AwsError {
        let code = match self {
            Dialect::Json => "InvalidSignatureException",
            Dialect::Query => "SignatureDoesNotMatch",
        };
        AwsError::new(code, why)
    }
}

fn hmac(key: &[u8], data: &[u8]) -> Vec<u8> {
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes any key length");
    mac.update(data);
    mac.finalize().into_bytes().to_vec()
}

/// RFC 3986 encoding of a query component, as SigV4 canonicalises it.
fn encode(text: &str) -> String {
    let mut out = String::new();
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

fn canonical_query(query: Option<&str>) -> String {
    let mut pairs: Vec<(String, String)> = form_urlencoded::parse(query.unwrap_or("").as_bytes())
        .map(|(k, v)| (encode(&k), encode(&v)))
        .collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .collect::<Vec<_>>()
        .join("&")
}

/// Check the request's signature against the keys that may sign: the operator's and those
/// this server issued.
pub fn verify(
    method: &Method,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
    keys: &Keys,
    dialect: Dialect,
) -> Result<(), AwsError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    let authorization = header("authorization").ok_or_else(|| dialect.missing())?;
    let rest = authorization
        .strip_prefix("AWS4-HMAC-SHA256 ")
        .ok_or_else(|| dialect.mismatch("only AWS4-HMAC-SHA256 signatures are accepted"))?;
    let mut credential = None;
    let mut signed_headers = None;
    let mut signature = None;
    for part in rest.split(',').map(str::trim) {
        if let Some(v) = part.strip_prefix("Credential=") {
            credential = Some(v);
        } else if let Some(v) = part.strip_prefix("SignedHeaders=") {
            signed_headers = Some(v);
        } else if let Some(v) = part.strip_prefix("Signature=") {
            signature = Some(v);
        }
    }
    let malformed = || dialect.mismatch("the Authorization header is malformed");
    let (credential, signed_headers, signature) = (
        credential.ok_or_else(malformed)?,
        signed_headers.ok_or_else(malformed)?,
        signature.ok_or_else(malformed)?,
    );
    let scope: Vec<&str> = credential.split('/').collect();
    let [access_key, date, region, service, "aws4_request"] = scope.as_slice() else {
        return Err(malformed());
    };
    let secret = keys
        .secret(access_key)
        .ok_or_else(|| dialect.unknown_key())?;
    let amz_date = header("x-amz-date").ok_or_else(malformed)?;
    let when = jiff::civil::DateTime::strptime("%Y%m%dT%H%M%SZ", amz_date)
        .ok()
        .and_then(|t| t.to_zoned(jiff::tz::TimeZone::UTC).ok())
        .ok_or_else(malformed)?;
    let skew = (jiff::Timestamp::now().as_second() - when.timestamp().as_second()).abs();
    if skew > MAX_SKEW_SECONDS {
        return Err(dialect.mismatch(
            "Signature expired: the request's X-Amz-Date is more than 15 minutes from now",
        ));
    }
    let mut canonical_headers = String::new();
    for name in signed_headers.split(';') {
        let values: Vec<String> = headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .map(|v| v.split_whitespace().collect::<Vec<_>>().join(" "))
            .collect();
        canonical_headers.push_str(&format!("{name}:{}\n", values.join(",")));
    }
    let canonical = format!(
        "{method}\n{}\n{}\n{canonical_headers}\n{signed_headers}\n{}",
        uri.path(),
        canonical_query(uri.query()),
        hex::encode(Sha256::digest(body))
    );
    let to_sign = format!(
        "AWS4-HMAC-SHA256\n{amz_date}\n{date}/{region}/{service}/aws4_request\n{}",
        hex::encode(Sha256::digest(canonical.as_bytes()))
    );
    let key = [*date, *region, *service, "aws4_request"]
        .iter()
        .fold(format!("AWS4{secret}").into_bytes(), |key, part| {
            hmac(&key, part.as_bytes())
        });
    let given = hex::decode(signature).map_err(|_| malformed())?;
    let mut mac = Hmac::<Sha256>::new_from_slice(&key).expect("HMAC takes any key length");
    mac.update(to_sign.as_bytes());
    mac.verify_slice(&given).map_err(|_| {
        dialect.mismatch(
            "The request signature we calculated does not match the signature you provided. \
             Check your AWS Secret Access Key and signing method.",
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A request signed as a client signs it (IAM ListUsers, with AWS's example key) passes;
    /// the same signature on another request, or no signature, does not.
    #[test]
    fn a_signature_verifies_and_a_tampered_request_does_not() {
        let secrets = Keys::new(Some(
            [(
                "AKIDEXAMPLE".to_string(),
                "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_string(),
            )]
            .into(),
        ));
        let mut headers = HeaderMap::new();
        headers.insert("host", "iam.amazonaws.com".parse().unwrap());
        headers.insert(
            "content-type",
            "application/x-www-form-urlencoded; charset=utf-8"
                .parse()
                .unwrap(),
        );
        let now = jiff::Timestamp::now()
            .strftime("%Y%m%dT%H%M%SZ")
            .to_string();
        headers.insert("x-amz-date", now.parse().unwrap());
        let uri: Uri = "/?Action=ListUsers&Version=2010-05-08".parse().unwrap();
        // Sign it as a client would, with the same steps, then check both outcomes.
        let date = &now[..8];
        let canonical = format!(
            "GET\n/\nAction=ListUsers&Version=2010-05-08\ncontent-type:application/x-www-form-urlencoded; charset=utf-8\nhost:iam.amazonaws.com\nx-amz-date:{now}\n\ncontent-type;host;x-amz-date\n{}",
            hex::encode(Sha256::digest(b""))
        );
        let to_sign = format!(
            "AWS4-HMAC-SHA256\n{now}\n{date}/us-east-1/iam/aws4_request\n{}",
            hex::encode(Sha256::digest(canonical.as_bytes()))
        );
        let key = [date, "us-east-1", "iam", "aws4_request"].iter().fold(
            b"AWS4wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY".to_vec(),
            |k, p| hmac(&k, p.as_bytes()),
        );
        let signature = hex::encode(hmac(&key, to_sign.as_bytes()));
        headers.insert(
            "authorization",
            format!("AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/{date}/us-east-1/iam/aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature={signature}")
                .parse()
                .unwrap(),
        );
        assert_eq!(
            verify(&Method::GET, &uri, &headers, b"", &secrets, Dialect::Query),
            Ok(())
        );
        let tampered: Uri = "/?Action=DeleteUser&Version=2010-05-08".parse().unwrap();
        assert_eq!(
            verify(
                &Method::GET,
                &tampered,
                &headers,
                b"",
                &secrets,
                Dialect::Query
            )
            .unwrap_err()
            .code,
            "SignatureDoesNotMatch"
        );
        assert_eq!(
            verify(
                &Method::GET,
                &uri,
                &HeaderMap::new(),
                b"",
                &secrets,
                Dialect::Json
            )
            .unwrap_err()
            .code,
            "MissingAuthenticationTokenException"
        );
    }
}
