//! Bucket operations: ListBuckets, CreateBucket, HeadBucket, DeleteBucket,
//! GetBucketLocation and Put/GetBucketVersioning.

use std::sync::Arc;

use s3s::dto::*;
use s3s::{S3Request, S3Response, S3Result, s3_error};
use sandpipe_store::LocalS3;
use sandpipe_store::s3::Versioning;

use super::convert::{blocking, owner, store_error, timestamp};

/// The region a request was signed for, or AWS's default.
fn region_of<T>(req: &S3Request<T>) -> String {
    req.region
        .as_ref()
        .map_or("us-east-1", |region| region.as_str())
        .to_string()
}

pub async fn list_buckets(
    store: &Arc<LocalS3>,
    req: S3Request<ListBucketsInput>,
) -> S3Result<S3Response<ListBucketsOutput>> {
    let region = region_of(&req);
    let prefix = req.input.prefix;
    let store = store.clone();
    let buckets = blocking(move || store.list_buckets())
        .await?
        .map_err(store_error)?;
    let buckets = buckets
        .into_iter()
        .filter(|b| prefix.as_deref().is_none_or(|p| b.name.starts_with(p)))
        .map(|b| Bucket {
            creation_date: timestamp(&b.created),
            name: Some(b.name),
            bucket_region: Some(region.clone()),
        })
        .collect();
    Ok(S3Response::new(ListBucketsOutput {
        buckets: Some(buckets),
        owner: Some(owner()),
        prefix,
        ..ListBucketsOutput::default()
    }))
}

pub async fn create_bucket(
    store: &Arc<LocalS3>,
    req: S3Request<CreateBucketInput>,
) -> S3Result<S3Response<CreateBucketOutput>> {
    // A LocationConstraint is accepted and not kept: every bucket here is in one place.
    let bucket = req.input.bucket;
    // Names S3 keeps for its own kinds of bucket and access point, refused as S3 refuses
    // them when a client makes one (buckets sandpipe makes for a pipeline, and the
    // amzn-s3-demo- names of AWS's sample pipelines, are its own business).
    let reserved = ["xn--", "sthree-", "amzn-s3-demo-"]
        .iter()
        .any(|prefix| bucket.starts_with(prefix))
        || ["-s3alias", "--ol-s3", ".mrap", "--x-s3", "--table-s3"]
            .iter()
            .any(|suffix| bucket.ends_with(suffix));
    if reserved {
        return Err(s3_error!(
            InvalidBucketName,
            "'{bucket}' uses a prefix or suffix S3 reserves (xn--, sthree-, amzn-s3-demo-, \
             -s3alias, --ol-s3, .mrap, --x-s3, --table-s3)"
        ));
    }
    let location = format!("/{bucket}");
    let store = store.clone();
    blocking(move || store.create_bucket(&bucket))
        .await?
        .map_err(store_error)?;
    Ok(S3Response::new(CreateBucketOutput {
        location: Some(location),
    }))
}

pub async fn head_bucket(
    store: &Arc<LocalS3>,
    req: S3Request<HeadBucketInput>,
) -> S3Result<S3Response<HeadBucketOutput>> {
    let region = region_of(&req);
    let bucket = req.input.bucket;
    let store = store.clone();
    blocking(move || store.bucket_info(&bucket))
        .await?
        .map_err(store_error)?;
    Ok(S3Response::new(HeadBucketOutput {
        bucket_region: Some(region),
        ..HeadBucketOutput::default()
    }))
}

pub async fn delete_bucket(
    store: &Arc<LocalS3>,
    req: S3Request<DeleteBucketInput>,
) -> S3Result<S3Response<DeleteBucketOutput>> {
    let bucket = req.input.bucket;
    let store = store.clone();
    blocking(move || store.delete_bucket(&bucket))
        .await?
        .map_err(store_error)?;
    Ok(S3Response::new(DeleteBucketOutput {}))
}

pub async fn get_bucket_location(
    store: &Arc<LocalS3>,
    req: S3Request<GetBucketLocationInput>,
) -> S3Result<S3Response<GetBucketLocationOutput>> {
    let bucket = req.input.bucket;
    let store = store.clone();
    blocking(move || store.bucket_info(&bucket))
        .await?
        .map_err(store_error)?;
    // No constraint is us-east-1, which is what S3 says of a bucket made without one.
    Ok(S3Response::new(GetBucketLocationOutput::default()))
}

pub async fn get_bucket_versioning(
    store: &Arc<LocalS3>,
    req: S3Request<GetBucketVersioningInput>,
) -> S3Result<S3Response<GetBucketVersioningOutput>> {
    let bucket = req.input.bucket;
    let store = store.clone();
    let info = blocking(move || store.bucket_info(&bucket))
        .await?
        .map_err(store_error)?;
    let status = match info.versioning {
        Versioning::Unversioned => None,
        Versioning::Enabled => Some(BucketVersioningStatus::ENABLED),
        Versioning::Suspended => Some(BucketVersioningStatus::SUSPENDED),
    };
    Ok(S3Response::new(GetBucketVersioningOutput {
        status: status.map(BucketVersioningStatus::from_static),
        ..GetBucketVersioningOutput::default()
    }))
}

pub async fn put_bucket_versioning(
    store: &Arc<LocalS3>,
    req: S3Request<PutBucketVersioningInput>,
) -> S3Result<S3Response<PutBucketVersioningOutput>> {
    let input = req.input;
    let enabled = match input
        .versioning_configuration
        .status
        .as_ref()
        .map(|s| s.as_str())
    {
        Some(BucketVersioningStatus::ENABLED) => true,
        Some(BucketVersioningStatus::SUSPENDED) => false,
        _ => {
            return Err(s3_error!(
                IllegalVersioningConfigurationException,
                "the versioning Status must be Enabled or Suspended"
            ));
        }
    };
    let bucket = input.bucket;
    let store = store.clone();
    blocking(move || store.set_versioning(&bucket, enabled))
        .await?
        .map_err(store_error)?;
    Ok(S3Response::new(PutBucketVersioningOutput::default()))
}
