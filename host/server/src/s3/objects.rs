//! Object operations: PutObject, GetObject and HeadObject (versions, ranges, conditional
//! headers, delete markers), DeleteObject, DeleteObjects and CopyObject.

use std::sync::Arc;

use axum::http::{HeaderMap, HeaderValue};
use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use sandpipe_store::s3::ObjectInfo;
use sandpipe_store::{LocalS3, PutOptions, S3Error};

use super::body::{Upload, download};
use super::convert::{blocking, etag, metadata, store_error, timestamp, user_metadata};

/// S3's largest single PUT, and the largest object CopyObject copies.
pub const MAX_PUT_BYTES: u64 = 5 * 1024 * 1024 * 1024;
/// At most this many keys in one DeleteObjects request.
const MAX_DELETE_KEYS: usize = 1000;
/// What S3 says an object is when it was stored without a Content-Type.
const DEFAULT_CONTENT_TYPE: &str = "binary/octet-stream";

pub async fn put_object(
    store: &Arc<LocalS3>,
    mut req: S3Request<PutObjectInput>,
) -> S3Result<S3Response<PutObjectOutput>> {
    let body = req.input.body.take();
    let upload = Upload::of(&req, body);
    let input = req.input;
    check_length(input.content_length, &req.headers)?;
    let options = PutOptions {
        content_type: input.content_type,
        cache_control: input.cache_control,
        canned_acl: input.acl.map(|acl| acl.as_str().to_string()),
        kms_key_id: input.ssekms_key_id,
        metadata: user_metadata(input.metadata)?,
    };
    let store = store.clone();
    let (stored, verified) = upload
        .store(move |body| {
            store.put_object(&input.bucket, &input.key, body, options, MAX_PUT_BYTES)
        })
        .await?;
    let info = stored.map_err(store_error)?;
    Ok(S3Response::new(PutObjectOutput {
        e_tag: Some(etag(&info.etag)),
        version_id: info.version_id,
        checksum_crc32: verified.checksum_crc32,
        checksum_crc32c: verified.checksum_crc32c,
        checksum_crc64nvme: verified.checksum_crc64nvme,
        checksum_sha1: verified.checksum_sha1,
        checksum_sha256: verified.checksum_sha256,
        ..PutObjectOutput::default()
    }))
}

/// Refuse a body declared larger than a single PUT may be before any of it is read.
pub fn check_length(content_length: Option<i64>, headers: &HeaderMap) -> S3Result<()> {
    // An aws-chunked body declares its decoded length apart from its framed one.
    let decoded = headers
        .get("x-amz-decoded-content-length")
        .and_then(|v| v.to_str().ok()?.parse::<i64>().ok());
    let declared = decoded.or(content_length).unwrap_or(0);
    if u64::try_from(declared).is_ok_and(|n| n > MAX_PUT_BYTES) {
        return Err(s3_error!(
            EntityTooLarge,
            "{declared} bytes is more than the {MAX_PUT_BYTES} one upload may carry"
        ));
    }
    Ok(())
}

/// What GetObject and HeadObject share: the version found, its conditions checked, the part
/// of it asked for.
struct Found {
    info: ObjectInfo,
    file: std::fs::File,
    start: u64,
    length: u64,
    content_range: Option<String>,
}

/// The conditional request headers of a read (or of a copy's source).
struct Conditions {
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
}

impl Conditions {
    /// RFC 9110's order, as S3 applies it: If-Match over If-Unmodified-Since, If-None-Match
    /// over If-Modified-Since. A read that is not modified answers 304; a copy, 412.
    fn check(&self, info: &ObjectInfo, for_copy: bool) -> S3Result<()> {
        let matches = |condition: &ETagCondition| match condition {
            ETagCondition::Any => true,
            ETagCondition::ETag(tag) => tag.value() == info.etag.trim_matches('"'),
        };
        let modified = seconds(&info.last_modified);
        let after = |since: &Timestamp| {
            modified
                .zip(timestamp_seconds(since))
                .is_some_and(|(m, s)| m > s)
        };
        let failed = || {
            s3_error!(
                PreconditionFailed,
                "at least one of the preconditions you specified did not hold"
            )
        };
        let not_modified = || {
            if for_copy {
                failed()
            } else {
                s3_error!(NotModified)
            }
        };
        match (&self.if_match, &self.if_unmodified_since) {
            (Some(condition), _) if !matches(condition) => return Err(failed()),
            (None, Some(since)) if after(since) => return Err(failed()),
            _ => {}
        }
        match (&self.if_none_match, &self.if_modified_since) {
            (Some(condition), _) if matches(condition) => Err(not_modified()),
            (None, Some(since)) if !after(since) => Err(not_modified()),
            _ => Ok(()),
        }
    }
}

/// Whole seconds since the epoch: HTTP dates carry no more, so a stored time is compared at
/// that precision.
fn seconds(stored: &str) -> Option<i64> {
    stored
        .parse::<jiff::Timestamp>()
        .ok()
        .map(|t| t.as_second())
}

fn timestamp_seconds(given: &Timestamp) -> Option<i64> {
    let mut text = Vec::new();
    given.format(TimestampFormat::DateTime, &mut text).ok()?;
    seconds(std::str::from_utf8(&text).ok()?)
}

/// Open the version, check the conditions and work out the range.
async fn find(
    store: &Arc<LocalS3>,
    bucket: String,
    key: String,
    version: Option<String>,
    conditions: Conditions,
    range: Option<Range>,
    part_number: Option<i32>,
) -> S3Result<Found> {
    let opened = {
        let (store, bucket, key, version) =
            (store.clone(), bucket.clone(), key.clone(), version.clone());
        blocking(move || store.open_object(&bucket, &key, version.as_deref())).await?
    };
    let (info, file) = match opened {
        Ok(found) => found,
        Err(error) => return Err(missing(store, bucket, key, version, error).await),
    };
    conditions.check(&info, false)?;
    // Part 1 of an object uploaded whole is the object; parts of a multipart object are not
    // kept apart once it is completed.
    if let Some(number) = part_number
        && (number != 1 || info.etag.contains('-'))
    {
        return Err(s3_error!(
            NotImplemented,
            "reading part {number} of a multipart object is not supported"
        ));
    }
    let (start, length, content_range) = match range {
        None => (0, info.size, None),
        Some(range) => {
            let span = range.check(info.size)?;
            let content_range = format!("bytes {}-{}/{}", span.start, span.end - 1, info.size);
            (span.start, span.end - span.start, Some(content_range))
        }
    };
    Ok(Found {
        info,
        file: file.into_std(),
        start,
        length,
        content_range,
    })
}

/// A missing object's error. Where the key's latest version (or the version asked for) is a
/// delete marker, S3 says so in headers: a 404 NoSuchKey for the latest, a 405
/// MethodNotAllowed for the marker itself.
async fn missing(
    store: &Arc<LocalS3>,
    bucket: String,
    key: String,
    version: Option<String>,
    error: S3Error,
) -> s3s::S3Error {
    if !matches!(error, S3Error::NoSuchKey { .. }) {
        return store_error(error);
    }
    let asked_for_marker = version.is_some();
    let store = store.clone();
    let marker = blocking(move || store.version_info(&bucket, &key, version.as_deref())).await;
    let Ok(Ok(marker)) = marker else {
        return store_error(error);
    };
    if !marker.delete_marker {
        return store_error(error);
    }
    let mut s3_error = if asked_for_marker {
        s3_error!(MethodNotAllowed, "the version asked for is a delete marker")
    } else {
        store_error(error)
    };
    let mut headers = HeaderMap::new();
    // These headers replace the error's own, so the XML body's type is named again.
    headers.insert("content-type", HeaderValue::from_static("application/xml"));
    headers.insert("x-amz-delete-marker", HeaderValue::from_static("true"));
    let version_id = marker.version_id.as_deref().unwrap_or("null");
    if let Ok(value) = HeaderValue::from_str(version_id) {
        headers.insert("x-amz-version-id", value);
    }
    s3_error.set_headers(headers);
    s3_error
}

pub async fn get_object(
    store: &Arc<LocalS3>,
    req: S3Request<GetObjectInput>,
) -> S3Result<S3Response<GetObjectOutput>> {
    let input = req.input;
    let conditions = Conditions {
        if_match: input.if_match,
        if_none_match: input.if_none_match,
        if_modified_since: input.if_modified_since,
        if_unmodified_since: input.if_unmodified_since,
    };
    let found = find(
        store,
        input.bucket,
        input.key,
        input.version_id,
        conditions,
        input.range,
        input.part_number,
    )
    .await?;
    let info = found.info;
    Ok(S3Response::new(GetObjectOutput {
        body: Some(download(found.file, found.start, found.length)),
        content_length: i64::try_from(found.length).ok(),
        content_range: found.content_range,
        accept_ranges: Some("bytes".into()),
        content_type: Some(
            info.content_type
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into()),
        ),
        cache_control: info.cache_control,
        e_tag: Some(etag(&info.etag)),
        last_modified: timestamp(&info.last_modified),
        metadata: metadata(info.metadata),
        version_id: info.version_id,
        ..GetObjectOutput::default()
    }))
}

pub async fn head_object(
    store: &Arc<LocalS3>,
    req: S3Request<HeadObjectInput>,
) -> S3Result<S3Response<HeadObjectOutput>> {
    let input = req.input;
    let conditions = Conditions {
        if_match: input.if_match,
        if_none_match: input.if_none_match,
        if_modified_since: input.if_modified_since,
        if_unmodified_since: input.if_unmodified_since,
    };
    let found = find(
        store,
        input.bucket,
        input.key,
        input.version_id,
        conditions,
        input.range,
        input.part_number,
    )
    .await?;
    let info = found.info;
    Ok(S3Response::new(HeadObjectOutput {
        content_length: i64::try_from(found.length).ok(),
        content_range: found.content_range,
        accept_ranges: Some("bytes".into()),
        content_type: Some(
            info.content_type
                .unwrap_or_else(|| DEFAULT_CONTENT_TYPE.into()),
        ),
        cache_control: info.cache_control,
        e_tag: Some(etag(&info.etag)),
        last_modified: timestamp(&info.last_modified),
        metadata: metadata(info.metadata),
        version_id: info.version_id,
        ..HeadObjectOutput::default()
    }))
}

pub async fn delete_object(
    store: &Arc<LocalS3>,
    req: S3Request<DeleteObjectInput>,
) -> S3Result<S3Response<DeleteObjectOutput>> {
    let input = req.input;
    let store = store.clone();
    let outcome = blocking(move || {
        store.delete_object(&input.bucket, &input.key, input.version_id.as_deref())
    })
    .await?
    .map_err(store_error)?;
    Ok(S3Response::new(DeleteObjectOutput {
        delete_marker: outcome.delete_marker.then_some(true),
        version_id: outcome.version_id,
        ..DeleteObjectOutput::default()
    }))
}

pub async fn delete_objects(
    store: &Arc<LocalS3>,
    req: S3Request<DeleteObjectsInput>,
) -> S3Result<S3Response<DeleteObjectsOutput>> {
    let input = req.input;
    let objects = input.delete.objects;
    if objects.len() > MAX_DELETE_KEYS {
        return Err(s3_error!(
            MalformedXML,
            "one DeleteObjects request deletes at most {MAX_DELETE_KEYS} keys, not {}",
            objects.len()
        ));
    }
    let quiet = input.delete.quiet.unwrap_or(false);
    let store = store.clone();
    let bucket = input.bucket;
    let results = blocking(move || {
        store.bucket_info(&bucket)?;
        Ok(objects
            .into_iter()
            .map(|object| {
                let outcome =
                    store.delete_object(&bucket, &object.key, object.version_id.as_deref());
                (object, outcome)
            })
            .collect::<Vec<_>>())
    })
    .await?
    .map_err(store_error)?;

    let (mut deleted, mut errors) = (Vec::new(), Vec::new());
    for (object, outcome) in results {
        match outcome {
            Ok(outcome) if !quiet => deleted.push(DeletedObject {
                key: Some(object.key),
                version_id: object.version_id,
                delete_marker: outcome.delete_marker.then_some(true),
                delete_marker_version_id: outcome
                    .delete_marker
                    .then_some(outcome.version_id)
                    .flatten(),
            }),
            Ok(_) => {}
            Err(error) => {
                let error = store_error(error);
                errors.push(Error {
                    code: Some(error.code().as_str().to_string()),
                    message: error.message().map(str::to_string),
                    key: Some(object.key),
                    version_id: object.version_id,
                });
            }
        }
    }
    Ok(S3Response::new(DeleteObjectsOutput {
        deleted: Some(deleted),
        errors: (!errors.is_empty()).then_some(errors),
        ..DeleteObjectsOutput::default()
    }))
}

/// The bucket, key and version named by `x-amz-copy-source`.
pub fn copy_source(source: CopySource) -> S3Result<(String, String, Option<String>)> {
    match source {
        CopySource::Bucket {
            bucket,
            key,
            version_id,
        } => Ok((bucket.into(), key.into(), version_id.map(Into::into))),
        _ => Err(s3_error!(
            NotImplemented,
            "copying from an access point or outpost is not supported"
        )),
    }
}

pub async fn copy_object(
    store: &Arc<LocalS3>,
    req: S3Request<CopyObjectInput>,
) -> S3Result<S3Response<CopyObjectOutput>> {
    let input = req.input;
    let (source_bucket, source_key, source_version) = copy_source(input.copy_source)?;
    let replace = match input.metadata_directive.as_ref().map(|d| d.as_str()) {
        None | Some("COPY") => false,
        Some("REPLACE") => true,
        Some(other) => {
            return Err(s3_error!(
                InvalidArgument,
                "unknown metadata directive '{other}'"
            ));
        }
    };
    if !replace
        && source_bucket == input.bucket
        && source_key == input.key
        && source_version.is_none()
    {
        return Err(s3_error!(
            InvalidRequest,
            "This copy request is illegal because it is trying to copy an object to itself without \
             changing the object's metadata, storage class, website redirect location or encryption attributes."
        ));
    }
    let conditions = Conditions {
        if_match: input.copy_source_if_match,
        if_none_match: input.copy_source_if_none_match,
        if_modified_since: input.copy_source_if_modified_since,
        if_unmodified_since: input.copy_source_if_unmodified_since,
    };
    let replacement = if replace {
        Some(PutOptions {
            content_type: input.content_type,
            cache_control: input.cache_control,
            canned_acl: input.acl.map(|acl| acl.as_str().to_string()),
            kms_key_id: input.ssekms_key_id,
            metadata: user_metadata(input.metadata)?,
        })
    } else {
        None
    };
    let (bucket, key) = (input.bucket, input.key);
    let store = store.clone();
    let (source, copy) = blocking(move || -> S3Result<(ObjectInfo, ObjectInfo)> {
        let (source, file) = store
            .open_object(&source_bucket, &source_key, source_version.as_deref())
            .map_err(store_error)?;
        conditions.check(&source, true)?;
        check_copy_size(source.size)?;
        let options = replacement.unwrap_or_else(|| PutOptions {
            content_type: source.content_type.clone(),
            cache_control: source.cache_control.clone(),
            canned_acl: source.canned_acl.clone(),
            kms_key_id: source.kms_key_id.clone(),
            metadata: source.metadata.clone(),
        });
        let copy = store
            .put_object(&bucket, &key, &mut file.into_std(), options, MAX_PUT_BYTES)
            .map_err(store_error)?;
        Ok((source, copy))
    })
    .await??;
    Ok(S3Response::new(CopyObjectOutput {
        copy_object_result: Some(CopyObjectResult {
            e_tag: Some(etag(&copy.etag)),
            last_modified: timestamp(&copy.last_modified),
            ..CopyObjectResult::default()
        }),
        version_id: copy.version_id,
        copy_source_version_id: source.version_id,
        ..CopyObjectOutput::default()
    }))
}

pub fn check_copy_size(size: u64) -> S3Result<()> {
    if size > MAX_PUT_BYTES {
        return Err(s3_error!(
            InvalidRequest,
            "The specified copy source is larger than the maximum allowable size for a copy source: {MAX_PUT_BYTES}"
        ));
    }
    Ok(())
}

/// Copy-source conditions for UploadPartCopy, checked against the source's head.
pub fn check_copy_conditions(
    info: &ObjectInfo,
    if_match: Option<ETagCondition>,
    if_none_match: Option<ETagCondition>,
    if_modified_since: Option<Timestamp>,
    if_unmodified_since: Option<Timestamp>,
) -> S3Result<()> {
    Conditions {
        if_match,
        if_none_match,
        if_modified_since,
        if_unmodified_since,
    }
    .check(info, true)
}
