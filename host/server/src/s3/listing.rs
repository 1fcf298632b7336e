//! Listing operations: ListObjects (v1), ListObjectsV2 and ListObjectVersions, over the
//! store's pages, with S3's page sizes, markers, tokens and `encoding-type=url`.

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use sandpipe_store::LocalS3;
use sandpipe_store::s3::{ListPage, ListQuery, ObjectInfo, VersionQuery};

use super::convert::{Names, blocking, etag, listed_version, owner, store_error, timestamp};

/// S3's page size when none is asked for, and its largest.
const MAX_KEYS: i32 = 1000;

/// `max-keys` as S3 reads it: 1000 when absent, at most 1000, never negative. Zero is a page
/// of nothing.
fn page_size(max_keys: Option<i32>) -> S3Result<usize> {
    match max_keys.unwrap_or(MAX_KEYS) {
        n if n < 0 => Err(s3_error!(InvalidArgument, "max-keys must not be negative")),
        n => Ok(usize::try_from(n.min(MAX_KEYS)).unwrap_or(0)),
    }
}

/// A ListObjectsV2 continuation token: the place to resume, opaque to the client.
fn continuation_token(marker: &str) -> String {
    hex::encode(marker)
}

fn resume_point(token: &str) -> S3Result<String> {
    hex::decode(token)
        .ok()
        .and_then(|bytes| String::from_utf8(bytes).ok())
        .ok_or_else(|| {
            s3_error!(
                InvalidArgument,
                "The continuation token provided is incorrect"
            )
        })
}

async fn list_page(
    store: &Arc<LocalS3>,
    bucket: &str,
    query: ListQuery,
    max_keys: usize,
) -> S3Result<ListPage> {
    let (store, bucket) = (store.clone(), bucket.to_string());
    if max_keys == 0 {
        // Still a NoSuchBucket for a bucket that is not there.
        blocking(move || store.bucket_info(&bucket))
            .await?
            .map_err(store_error)?;
        return Ok(ListPage::default());
    }
    blocking(move || store.list_objects(&bucket, &query))
        .await?
        .map_err(store_error)
}

fn listed_object(names: Names, info: ObjectInfo, with_owner: bool) -> Object {
    Object {
        key: Some(names.name(&info.key)),
        e_tag: Some(etag(&info.etag)),
        last_modified: timestamp(&info.last_modified),
        size: i64::try_from(info.size).ok(),
        storage_class: Some(ObjectStorageClass::from_static(
            ObjectStorageClass::STANDARD,
        )),
        owner: with_owner.then(owner),
        ..Object::default()
    }
}

pub fn common_prefixes(names: Names, prefixes: Vec<String>) -> Option<Vec<CommonPrefix>> {
    Some(
        prefixes
            .into_iter()
            .map(|p| CommonPrefix {
                prefix: Some(names.name(&p)),
            })
            .collect(),
    )
}

pub async fn list_objects_v2(
    store: &Arc<LocalS3>,
    req: S3Request<ListObjectsV2Input>,
) -> S3Result<S3Response<ListObjectsV2Output>> {
    let input = req.input;
    let names = Names::of(input.encoding_type.as_ref());
    let max_keys = page_size(input.max_keys)?;
    let start_after = match input.continuation_token.as_deref() {
        Some(token) => Some(resume_point(token)?),
        None => input.start_after.clone(),
    };
    let query = ListQuery {
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        max_keys,
        start_after,
    };
    let page = list_page(store, &input.bucket, query, max_keys).await?;
    let with_owner = input.fetch_owner.unwrap_or(false);
    let key_count = page.objects.len() + page.common_prefixes.len();
    Ok(S3Response::new(ListObjectsV2Output {
        name: Some(input.bucket),
        prefix: Some(names.name(input.prefix.as_deref().unwrap_or_default())),
        delimiter: names.opt(input.delimiter.as_deref()),
        max_keys: i32::try_from(max_keys).ok(),
        key_count: i32::try_from(key_count).ok(),
        continuation_token: input.continuation_token,
        start_after: names.opt(input.start_after.as_deref()),
        is_truncated: Some(page.next_marker.is_some()),
        next_continuation_token: page.next_marker.as_deref().map(continuation_token),
        contents: Some(
            page.objects
                .into_iter()
                .map(|o| listed_object(names, o, with_owner))
                .collect(),
        ),
        common_prefixes: common_prefixes(names, page.common_prefixes),
        encoding_type: input.encoding_type,
        ..ListObjectsV2Output::default()
    }))
}

pub async fn list_objects(
    store: &Arc<LocalS3>,
    req: S3Request<ListObjectsInput>,
) -> S3Result<S3Response<ListObjectsOutput>> {
    let input = req.input;
    let names = Names::of(input.encoding_type.as_ref());
    let max_keys = page_size(input.max_keys)?;
    let query = ListQuery {
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        max_keys,
        start_after: input.marker.clone(),
    };
    let page = list_page(store, &input.bucket, query, max_keys).await?;
    Ok(S3Response::new(ListObjectsOutput {
        name: Some(input.bucket),
        prefix: Some(names.name(input.prefix.as_deref().unwrap_or_default())),
        delimiter: names.opt(input.delimiter.as_deref()),
        marker: Some(names.name(input.marker.as_deref().unwrap_or_default())),
        max_keys: i32::try_from(max_keys).ok(),
        is_truncated: Some(page.next_marker.is_some()),
        next_marker: names.opt(page.next_marker.as_deref()),
        contents: Some(
            page.objects
                .into_iter()
                .map(|o| listed_object(names, o, true))
                .collect(),
        ),
        common_prefixes: common_prefixes(names, page.common_prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

pub async fn list_object_versions(
    store: &Arc<LocalS3>,
    req: S3Request<ListObjectVersionsInput>,
) -> S3Result<S3Response<ListObjectVersionsOutput>> {
    let input = req.input;
    let names = Names::of(input.encoding_type.as_ref());
    let max_keys = page_size(input.max_keys)?.max(1);
    let query = VersionQuery {
        prefix: input.prefix.clone(),
        delimiter: input.delimiter.clone(),
        max_keys,
        key_marker: input.key_marker.clone(),
        version_id_marker: input.version_id_marker.clone(),
    };
    let (store, bucket) = (store.clone(), input.bucket.clone());
    let page = blocking(move || store.list_version_page(&bucket, &query))
        .await?
        .map_err(store_error)?;

    let (mut versions, mut markers) = (Vec::new(), Vec::new());
    for info in page.versions {
        let key = Some(names.name(&info.key));
        let version_id = Some(listed_version(info.version_id.as_deref()));
        if info.delete_marker {
            markers.push(DeleteMarkerEntry {
                is_latest: Some(info.is_latest),
                key,
                last_modified: timestamp(&info.last_modified),
                owner: Some(owner()),
                version_id,
            });
        } else {
            versions.push(ObjectVersion {
                e_tag: Some(etag(&info.etag)),
                is_latest: Some(info.is_latest),
                key,
                last_modified: timestamp(&info.last_modified),
                owner: Some(owner()),
                size: i64::try_from(info.size).ok(),
                storage_class: Some(ObjectVersionStorageClass::from_static(
                    ObjectVersionStorageClass::STANDARD,
                )),
                version_id,
                ..ObjectVersion::default()
            });
        }
    }
    Ok(S3Response::new(ListObjectVersionsOutput {
        name: Some(input.bucket),
        prefix: Some(names.name(input.prefix.as_deref().unwrap_or_default())),
        delimiter: names.opt(input.delimiter.as_deref()),
        key_marker: Some(names.name(input.key_marker.as_deref().unwrap_or_default())),
        version_id_marker: Some(input.version_id_marker.unwrap_or_default()),
        max_keys: i32::try_from(max_keys).ok(),
        is_truncated: Some(page.next_key_marker.is_some()),
        next_key_marker: names.opt(page.next_key_marker.as_deref()),
        next_version_id_marker: page.next_version_id_marker,
        versions: Some(versions),
        delete_markers: Some(markers),
        common_prefixes: common_prefixes(names, page.common_prefixes),
        encoding_type: input.encoding_type,
        ..Default::default()
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_bad_ones_are_refused() {
        let place = "a/b\u{10FFFF}";
        assert_eq!(resume_point(&continuation_token(place)).unwrap(), place);
        assert!(resume_point("not hex").is_err());
        assert!(resume_point("ff").is_err());
        assert_eq!(page_size(None).unwrap(), 1000);
        assert_eq!(page_size(Some(5000)).unwrap(), 1000);
        assert!(page_size(Some(-1)).is_err());
    }
}
