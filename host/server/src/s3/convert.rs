//! Between the store's types and s3s's: errors under the codes S3 gives them, ETags, times,
//! metadata, the `encoding-type=url` form of listed names, and running a store call on the
//! blocking pool.

use std::collections::{BTreeMap, HashMap};

use s3s::dto::{ETag, Metadata, Owner, Timestamp, TimestampFormat};
use s3s::{S3ErrorCode, S3Result, s3_error};
use sandpipe_store::S3Error;
use sandpipe_store::s3::MultipartError;

use super::body::body_error;

/// S3 caps the user metadata of an object (names and values of every `x-amz-meta-*`) at 2 KiB.
const MAX_METADATA_BYTES: usize = 2048;

/// The store's error as S3 reports it.
pub fn store_error(error: S3Error) -> s3s::S3Error {
    let code = match &error {
        S3Error::NoSuchBucket(_) => S3ErrorCode::NoSuchBucket,
        S3Error::NoSuchKey { .. } => S3ErrorCode::NoSuchKey,
        S3Error::NoSuchVersion { .. } => S3ErrorCode::NoSuchVersion,
        S3Error::BucketAlreadyOwnedByYou(_) => S3ErrorCode::BucketAlreadyOwnedByYou,
        S3Error::BucketNotEmpty(_) => S3ErrorCode::BucketNotEmpty,
        S3Error::InvalidBucketName(_) => S3ErrorCode::InvalidBucketName,
        S3Error::InvalidArgument(_) => S3ErrorCode::InvalidArgument,
        S3Error::EntityTooLarge(_) => S3ErrorCode::EntityTooLarge,
        S3Error::Io { error, .. } => match body_error(error) {
            Some(body) => return body.to_s3(),
            None => {
                return s3s::S3Error::with_message(S3ErrorCode::InternalError, error.to_string());
            }
        },
    };
    with_code(code, &error.to_string())
}

/// A multipart upload's error as S3 reports it.
pub fn multipart_error(error: MultipartError) -> s3s::S3Error {
    if let MultipartError::Store(inner) = error {
        return store_error(inner);
    }
    let code = match &error {
        MultipartError::NoSuchUpload(_) => S3ErrorCode::NoSuchUpload,
        MultipartError::InvalidPart(_) => S3ErrorCode::InvalidPart,
        MultipartError::InvalidPartOrder(_) => S3ErrorCode::InvalidPartOrder,
        MultipartError::EntityTooSmall(_) => S3ErrorCode::EntityTooSmall,
        MultipartError::Store(_) => S3ErrorCode::InternalError, // returned above
    };
    with_code(code, &error.to_string())
}

/// The store's messages start with the code; the message S3 sends is what follows it.
fn with_code(code: S3ErrorCode, message: &str) -> s3s::S3Error {
    let text = message.split_once(": ").map_or(message, |(_, text)| text);
    s3s::S3Error::with_message(code, text.to_string())
}

/// Run a blocking store call off the async threads.
pub async fn blocking<T: Send + 'static>(call: impl FnOnce() -> T + Send + 'static) -> S3Result<T> {
    tokio::task::spawn_blocking(call)
        .await
        .map_err(|e| s3_error!(e, InternalError, "a store call failed"))
}

/// The store keeps ETags quoted, as S3 sends them; s3s wants the value inside the quotes.
pub fn etag(stored: &str) -> ETag {
    ETag::Strong(stored.trim_matches('"').to_string())
}

pub fn timestamp(stored: &str) -> Option<Timestamp> {
    Timestamp::parse(TimestampFormat::DateTime, stored).ok()
}

/// A version id as S3 names it in listings: the null version is `null`.
pub fn listed_version(version_id: Option<&str>) -> String {
    version_id.unwrap_or("null").to_string()
}

pub fn metadata(stored: BTreeMap<String, String>) -> Option<Metadata> {
    (!stored.is_empty()).then(|| stored.into_iter().collect())
}

/// User metadata for the store, refused past S3's size limit.
pub fn user_metadata(given: Option<HashMap<String, String>>) -> S3Result<BTreeMap<String, String>> {
    let given = given.unwrap_or_default();
    let size: usize = given.iter().map(|(k, v)| k.len() + v.len()).sum();
    if size > MAX_METADATA_BYTES {
        return Err(s3_error!(
            MetadataTooLarge,
            "the metadata headers add up to {size} bytes, more than the {MAX_METADATA_BYTES} S3 allows"
        ));
    }
    Ok(given.into_iter().collect())
}

/// Every bucket and object here belongs to the one local account.
pub fn owner() -> Owner {
    Owner {
        display_name: Some("sandpipe".into()),
        id: Some("75aa57f09aa0c8caeab4f8c24e99d10f8e7faeebf76c078efc7c6caea54ba06a".into()),
    }
}

/// Names in a listing, percent-encoded when the client asked for `encoding-type=url` (so that
/// keys holding characters XML 1.0 cannot carry still list).
#[derive(Debug, Clone, Copy)]
pub struct Names {
    pub url_encoded: bool,
}

impl Names {
    pub fn of(encoding_type: Option<&s3s::dto::EncodingType>) -> Self {
        Names {
            url_encoded: encoding_type.is_some_and(|e| e.as_str().eq_ignore_ascii_case("url")),
        }
    }

    pub fn name(self, name: &str) -> String {
        if !self.url_encoded {
            return name.to_string();
        }
        let mut encoded = String::with_capacity(name.len());
        for byte in name.bytes() {
            if byte.is_ascii_alphanumeric() || matches!(byte, b'-' | b'_' | b'.' | b'~' | b'/') {
                encoded.push(char::from(byte));
            } else {
                encoded.push_str(&format!("%{byte:02X}"));
            }
        }
        encoded
    }

    pub fn opt(self, name: Option<&str>) -> Option<String> {
        name.map(|n| self.name(n))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn store_errors_keep_their_s3_codes_and_messages() {
        let error = store_error(S3Error::BucketNotEmpty("b".into()));
        assert_eq!(error.code(), &S3ErrorCode::BucketNotEmpty);
        assert_eq!(error.message(), Some("the bucket 'b' is not empty"));
        let error = multipart_error(MultipartError::NoSuchUpload("u".into()));
        assert_eq!(error.code(), &S3ErrorCode::NoSuchUpload);
        let error = multipart_error(MultipartError::Store(S3Error::NoSuchBucket("b".into())));
        assert_eq!(error.code(), &S3ErrorCode::NoSuchBucket);
    }

    #[test]
    fn url_encoding_keeps_slashes_and_unreserved_characters() {
        let names = Names { url_encoded: true };
        assert_eq!(names.name("a b/c+d~é"), "a%20b/c%2Bd~%C3%A9");
        assert_eq!(Names { url_encoded: false }.name("a b"), "a b");
    }
}
