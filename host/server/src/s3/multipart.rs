//! Multipart upload operations: CreateMultipartUpload, UploadPart, UploadPartCopy,
//! CompleteMultipartUpload, AbortMultipartUpload, ListParts and ListMultipartUploads, over
//! the store's uploads.

use std::io::{Read, Seek, SeekFrom};
use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use sandpipe_store::LocalS3;
use sandpipe_store::PutOptions;
use sandpipe_store::s3::{CompletedPart, MAX_PART_NUMBER, UploadQuery};

use super::body::Upload;
use super::convert::{
    Names, blocking, etag, multipart_error, owner, store_error, timestamp, user_metadata,
};
use super::listing::common_prefixes;
use super::objects::{
    MAX_PUT_BYTES, check_copy_conditions, check_copy_size, check_length, copy_source,
};

/// S3's page size for ListParts and ListMultipartUploads when none is asked for, and its largest.
const MAX_PAGE: i32 = 1000;

fn part_number(given: i32) -> S3Result<u32> {
    u32::try_from(given)
        .ok()
        .filter(|n| (1..=MAX_PART_NUMBER).contains(n))
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "Part number must be an integer between 1 and {MAX_PART_NUMBER}, inclusive"
            )
        })
}

fn page_size(given: Option<i32>) -> S3Result<usize> {
    match given.unwrap_or(MAX_PAGE) {
        n if n < 0 => Err(s3_error!(
            InvalidArgument,
            "the page size must not be negative"
        )),
        n => Ok(usize::try_from(n.clamp(1, MAX_PAGE)).unwrap_or(1)),
    }
}

pub async fn create_multipart_upload(
    store: &Arc<LocalS3>,
    req: S3Request<CreateMultipartUploadInput>,
) -> S3Result<S3Response<CreateMultipartUploadOutput>> {
    let input = req.input;
    let options = PutOptions {
        content_type: input.content_type,
        cache_control: input.cache_control,
        canned_acl: input.acl.map(|acl| acl.as_str().to_string()),
        kms_key_id: input.ssekms_key_id,
        metadata: user_metadata(input.metadata)?,
    };
    let (store, bucket, key) = (store.clone(), input.bucket.clone(), input.key.clone());
    let upload = blocking(move || store.create_multipart_upload(&bucket, &key, options))
        .await?
        .map_err(multipart_error)?;
    Ok(S3Response::new(CreateMultipartUploadOutput {
        bucket: Some(input.bucket),
        key: Some(upload.key),
        upload_id: Some(upload.upload_id),
        ..CreateMultipartUploadOutput::default()
    }))
}

pub async fn upload_part(
    store: &Arc<LocalS3>,
    mut req: S3Request<UploadPartInput>,
) -> S3Result<S3Response<UploadPartOutput>> {
    let body = req.input.body.take();
    let upload = Upload::of(&req, body);
    let input = req.input;
    check_length(input.content_length, &req.headers)?;
    let number = part_number(input.part_number)?;
    let store = store.clone();
    let (stored, verified) = upload
        .store(move |body| {
            store.upload_part(
                &input.bucket,
                &input.key,
                &input.upload_id,
                number,
                body,
                MAX_PUT_BYTES,
            )
        })
        .await?;
    let part = stored.map_err(multipart_error)?;
    Ok(S3Response::new(UploadPartOutput {
        e_tag: Some(etag(&part.etag)),
        checksum_crc32: verified.checksum_crc32,
        checksum_crc32c: verified.checksum_crc32c,
        checksum_crc64nvme: verified.checksum_crc64nvme,
        checksum_sha1: verified.checksum_sha1,
        checksum_sha256: verified.checksum_sha256,
        ..UploadPartOutput::default()
    }))
}

/// `x-amz-copy-source-range: bytes=first-last` as a start and a length within `size`.
fn copy_range(range: Option<&str>, size: u64) -> S3Result<(u64, u64)> {
    let Some(range) = range else {
        return Ok((0, size));
    };
    let invalid = || {
        s3_error!(
            InvalidArgument,
            "The x-amz-copy-source-range value must be of the form bytes=first-last where first and last are the zero-based offsets of the first and last bytes to copy"
        )
    };
    let (first, last) = range
        .strip_prefix("bytes=")
        .and_then(|r| r.split_once('-'))
        .ok_or_else(invalid)?;
    let first: u64 = first.parse().map_err(|_| invalid())?;
    let last: u64 = last.parse().map_err(|_| invalid())?;
    if first > last || last >= size {
        return Err(s3_error!(
            InvalidRange,
            "the range {range} is not within the {size} bytes of the source"
        ));
    }
    Ok((first, last - first + 1))
}

pub async fn upload_part_copy(
    store: &Arc<LocalS3>,
    req: S3Request<UploadPartCopyInput>,
) -> S3Result<S3Response<UploadPartCopyOutput>> {
    let input = req.input;
    let number = part_number(input.part_number)?;
    let (source_bucket, source_key, source_version) = copy_source(input.copy_source)?;
    let store = store.clone();
    let (source, part) = blocking(move || -> S3Result<_> {
        let (source, file) = store
            .open_object(&source_bucket, &source_key, source_version.as_deref())
            .map_err(store_error)?;
        check_copy_conditions(
            &source,
            input.copy_source_if_match,
            input.copy_source_if_none_match,
            input.copy_source_if_modified_since,
            input.copy_source_if_unmodified_since,
        )?;
        let (start, length) = copy_range(input.copy_source_range.as_deref(), source.size)?;
        check_copy_size(length)?;
        let mut file = file.into_std();
        file.seek(SeekFrom::Start(start))
            .map_err(|e| s3_error!(e, InternalError, "reading the copy source"))?;
        let part = store
            .upload_part(
                &input.bucket,
                &input.key,
                &input.upload_id,
                number,
                &mut file.take(length),
                MAX_PUT_BYTES,
            )
            .map_err(multipart_error)?;
        Ok((source, part))
    })
    .await??;
    Ok(S3Response::new(UploadPartCopyOutput {
        copy_part_result: Some(CopyPartResult {
            e_tag: Some(etag(&part.etag)),
            last_modified: timestamp(&part.last_modified),
            ..CopyPartResult::default()
        }),
        copy_source_version_id: source.version_id,
        ..UploadPartCopyOutput::default()
    }))
}

pub async fn complete_multipart_upload(
    store: &Arc<LocalS3>,
    req: S3Request<CompleteMultipartUploadInput>,
) -> S3Result<S3Response<CompleteMultipartUploadOutput>> {
    let input = req.input;
    let listed = input
        .multipart_upload
        .and_then(|upload| upload.parts)
        .unwrap_or_default();
    if listed.is_empty() {
        return Err(s3_error!(
            MalformedXML,
            "name at least one part to complete an upload"
        ));
    }
    if listed.len() > MAX_PART_NUMBER as usize {
        return Err(s3_error!(
            MalformedXML,
            "an upload has at most {MAX_PART_NUMBER} parts"
        ));
    }
    let parts = listed
        .into_iter()
        .map(|part| {
            let number = part
                .part_number
                .ok_or_else(|| s3_error!(InvalidPart, "a part has no PartNumber"))?;
            let tag = part
                .e_tag
                .ok_or_else(|| s3_error!(InvalidPart, "part {number} has no ETag"))?;
            Ok(CompletedPart {
                part_number: part_number(number)?,
                etag: tag.value().to_string(),
            })
        })
        .collect::<S3Result<Vec<_>>>()?;
    let (store, bucket, key) = (store.clone(), input.bucket.clone(), input.key.clone());
    let info =
        blocking(move || store.complete_multipart_upload(&bucket, &key, &input.upload_id, &parts))
            .await?
            .map_err(multipart_error)?;
    Ok(S3Response::new(CompleteMultipartUploadOutput {
        location: Some(format!("/{}/{}", input.bucket, input.key)),
        bucket: Some(input.bucket),
        key: Some(input.key),
        e_tag: Some(etag(&info.etag)),
        version_id: info.version_id,
        ..CompleteMultipartUploadOutput::default()
    }))
}

pub async fn abort_multipart_upload(
    store: &Arc<LocalS3>,
    req: S3Request<AbortMultipartUploadInput>,
) -> S3Result<S3Response<AbortMultipartUploadOutput>> {
    let input = req.input;
    let store = store.clone();
    blocking(move || store.abort_multipart_upload(&input.bucket, &input.key, &input.upload_id))
        .await?
        .map_err(multipart_error)?;
    Ok(S3Response::new(AbortMultipartUploadOutput::default()))
}

pub async fn list_parts(
    store: &Arc<LocalS3>,
    req: S3Request<ListPartsInput>,
) -> S3Result<S3Response<ListPartsOutput>> {
    let input = req.input;
    let max_parts = page_size(input.max_parts)?;
    let after = input.part_number_marker.unwrap_or(0);
    let (store, bucket, key, upload_id) = (
        store.clone(),
        input.bucket.clone(),
        input.key.clone(),
        input.upload_id.clone(),
    );
    let parts = blocking(move || store.list_parts(&bucket, &key, &upload_id))
        .await?
        .map_err(multipart_error)?;
    let mut remaining = parts
        .into_iter()
        .filter(|p| i64::from(p.part_number) > i64::from(after))
        .peekable();
    let page: Vec<_> = remaining.by_ref().take(max_parts).collect();
    let truncated = remaining.peek().is_some();
    let next_marker = page.last().and_then(|p| i32::try_from(p.part_number).ok());
    Ok(S3Response::new(ListPartsOutput {
        bucket: Some(input.bucket),
        key: Some(input.key),
        upload_id: Some(input.upload_id),
        max_parts: i32::try_from(max_parts).ok(),
        part_number_marker: input.part_number_marker,
        is_truncated: Some(truncated),
        next_part_number_marker: truncated.then_some(next_marker).flatten(),
        owner: Some(owner()),
        initiator: Some(Initiator {
            display_name: owner().display_name,
            id: owner().id,
        }),
        storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
        parts: Some(
            page.into_iter()
                .map(|p| Part {
                    e_tag: Some(etag(&p.etag)),
                    last_modified: timestamp(&p.last_modified),
                    part_number: i32::try_from(p.part_number).ok(),
                    size: i64::try_from(p.size).ok(),
                    ..Part::default()
                })
                .collect(),
        ),
        ..ListPartsOutput::default()
    }))
}

pub async fn list_multipart_uploads(
    store: &Arc<LocalS3>,
    req: S3Request<ListMultipartUploadsInput>,
) -> S3Result<S3Response<ListMultipartUploadsOutput>> {
    let input = req.input;
    let names = Names::of(input.encoding_type.as_ref());
    let max_uploads = page_size(input.max_uploads)?;
    let query = UploadQuery {
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        max_uploads,
        key_marker: input.key_marker.clone(),
        upload_id_marker: input.upload_id_marker.clone(),
    };
    let (store, bucket) = (store.clone(), input.bucket.clone());
    let page = blocking(move || store.list_multipart_uploads(&bucket, &query))
        .await?
        .map_err(multipart_error)?;
    Ok(S3Response::new(ListMultipartUploadsOutput {
        bucket: Some(input.bucket),
        prefix: Some(names.name(input.prefix.as_deref().unwrap_or_default())),
        delimiter: names.opt(input.delimiter.as_deref()),
        key_marker: Some(names.name(input.key_marker.as_deref().unwrap_or_default())),
        upload_id_marker: Some(input.upload_id_marker.unwrap_or_default()),
        max_uploads: i32::try_from(max_uploads).ok(),
        is_truncated: Some(page.next_key_marker.is_some()),
        next_key_marker: names.opt(page.next_key_marker.as_deref()),
        next_upload_id_marker: page.next_upload_id_marker,
        uploads: Some(
            page.uploads
                .into_iter()
                .map(|u| MultipartUpload {
                    initiated: timestamp(&u.initiated),
                    key: Some(names.name(&u.key)),
                    upload_id: Some(u.upload_id),
                    owner: Some(owner()),
                    storage_class: Some(StorageClass::from_static(StorageClass::STANDARD)),
                    ..MultipartUpload::default()
                })
                .collect(),
        ),
        common_prefixes: common_prefixes(names, page.common_prefixes),
        encoding_type: input.encoding_type,
        ..ListMultipartUploadsOutput::default()
    }))
}
