//! The `object-store` import: S3 calls against the embedded store, scoped to the buckets the
//! operator's pipeline names in this action's configuration, with data moving between the
//! store and sandbox files in bounded chunks.

use std::collections::BTreeSet;
use std::io::{self, Read, Write};
use std::path::PathBuf;
use std::sync::Arc;

use sandpipe_model::text::Escaped;
use sandpipe_store::archive;
use sandpipe_store::s3::{self, ListQuery, LocalS3, S3Error, Versioning};

use crate::bindings::sandpipe::action::object_store::{
    self as wit, BucketInfo, Error, ListPage, ListRequest, ObjectInfo, PutOptions,
};
use crate::capabilities::{Setup, Slots, blocking};
use crate::sandbox::Sandbox;
use crate::state::ActionState;
use crate::write_budget::WriteBudget;

// Every action may use the object store, scoped to the buckets its configuration names.
capability_module!(["sandpipe:action/object-store@0.1"], None, [wit], setup);

fn setup(setup: &Setup<'_>, slots: &mut Slots) {
    slots.insert(ObjectAccess {
        store: setup.object_store.clone(),
        buckets: granted_buckets(
            setup
                .request
                .configuration
                .iter()
                .map(|(k, v)| (k.as_str(), v.as_str())),
        ),
        sandbox: setup.sandbox.clone(),
        max_object_bytes: setup.limits.object_bytes,
        budget: setup.budget.clone(),
    });
}

/// What one execution may reach in the object store.
pub(crate) struct ObjectAccess {
    pub(crate) store: Arc<LocalS3>,
    pub(crate) buckets: BTreeSet<String>,
    pub(crate) sandbox: Arc<Sandbox>,
    pub(crate) max_object_bytes: u64,
    /// The action's write budget: an object fetched into the sandbox is written by the host
    /// on the guest's behalf, and counts as the guest's own writes do.
    pub(crate) budget: Arc<WriteBudget>,
}

impl ObjectAccess {
    fn check_bucket(&self, bucket: &str) -> Result<(), Error> {
        if self.buckets.contains(bucket) {
            Ok(())
        } else {
            Err(Error::PermissionDenied(format!(
                "bucket '{bucket}' is not named in this action's configuration"
            )))
        }
    }
}

/// Configuration properties whose values name buckets the action may use: `S3Bucket`,
/// `BucketName` and any other key ending in `Bucket` or `BucketName`.
pub fn granted_buckets<'a>(
    configuration: impl IntoIterator<Item = (&'a str, &'a str)>,
) -> BTreeSet<String> {
    configuration
        .into_iter()
        .filter(|(key, _)| key.ends_with("Bucket") || key.ends_with("BucketName"))
        .map(|(_, value)| value.to_string())
        .collect()
}

fn convert_error(error: S3Error) -> Error {
    match error {
        S3Error::NoSuchBucket(bucket) => Error::NoSuchBucket(bucket),
        S3Error::NoSuchKey { key, .. } => Error::NoSuchKey(key),
        S3Error::NoSuchVersion { version, .. } => Error::NoSuchVersion(version),
        S3Error::InvalidArgument(m) | S3Error::InvalidBucketName(m) => Error::InvalidArgument(m),
        S3Error::EntityTooLarge(m) => Error::LimitExceeded(m),
        other @ (S3Error::BucketAlreadyOwnedByYou(_) | S3Error::BucketNotEmpty(_)) => {
            Error::InvalidArgument(other.to_string())
        }
        S3Error::Io { .. } => Error::Io(error.to_string()),
    }
}

fn convert_info(info: s3::ObjectInfo) -> ObjectInfo {
    ObjectInfo {
        key: info.key,
        version_id: info.version_id,
        etag: info.etag,
        size: info.size,
        last_modified: info.last_modified,
        content_type: info.content_type,
        metadata: info.metadata.into_iter().collect(),
        is_latest: info.is_latest,
    }
}

impl ObjectAccess {
    /// The store, when `bucket` is one this action may use.
    fn store_for(&self, bucket: &str) -> Result<Arc<LocalS3>, Error> {
        self.check_bucket(bucket)?;
        Ok(self.store.clone())
    }

    /// The sandbox directory and relative path of a guest file path.
    fn file(&self, path: &str, write: bool) -> Result<(cap_std::fs::Dir, PathBuf), Error> {
        self.sandbox
            .resolve(path, write)
            .map_err(Error::InvalidPath)
    }

    async fn head_bucket(&self, bucket: String) -> Result<BucketInfo, Error> {
        let store = self.store_for(&bucket)?;
        blocking(
            move || {
                let info = store.bucket_info(&bucket).map_err(convert_error)?;
                Ok(BucketInfo {
                    name: info.name,
                    versioning_enabled: info.versioning == Versioning::Enabled,
                })
            },
            Error::Io,
        )
        .await
    }

    async fn head_object(
        &self,
        bucket: String,
        key: String,
        version_id: Option<String>,
    ) -> Result<ObjectInfo, Error> {
        let store = self.store_for(&bucket)?;
        blocking(
            move || {
                store
                    .head_object(&bucket, &key, version_id.as_deref())
                    .map(convert_info)
                    .map_err(convert_error)
            },
            Error::Io,
        )
        .await
    }

    async fn get_object(
        &self,
        bucket: String,
        key: String,
        version_id: Option<String>,
        destination: String,
    ) -> Result<ObjectInfo, Error> {
        let store = self.store_for(&bucket)?;
        let (dir, relative) = self.file(&destination, true)?;
        if relative.as_os_str().is_empty() {
            return Err(Error::InvalidPath(format!(
                "'{destination}' is a directory"
            )));
        }
        let max_bytes = self.max_object_bytes;
        let budget = self.budget.clone();
        blocking(
            move || {
                let (info, file) = store
                    .open_object(&bucket, &key, version_id.as_deref())
                    .map_err(convert_error)?;
                if info.size > max_bytes {
                    return Err(Error::LimitExceeded(format!(
                        "object '{}' is {} bytes; the limit is {max_bytes}",
                        Escaped(&key),
                        info.size
                    )));
                }
                let over = |_| Error::LimitExceeded(budget.breach().unwrap_or_default());
                budget.charge_entry().map_err(over)?;
                budget.charge_bytes(info.size).map_err(over)?;
                let mut target = archive::create_file(&dir, &relative)
                    .map_err(|e| Error::InvalidPath(format!("{destination}: {e}")))?;
                copy_exact(&mut file.into_std(), &mut target, info.size)
                    .map_err(|e| Error::Io(format!("writing {destination}: {e}")))?;
                Ok(convert_info(info))
            },
            Error::Io,
        )
        .await
    }

    async fn put_object(
        &self,
        bucket: String,
        key: String,
        source: String,
        options: PutOptions,
    ) -> Result<ObjectInfo, Error> {
        let store = self.store_for(&bucket)?;
        let (dir, relative) = self.file(&source, false)?;
        let max_bytes = self.max_object_bytes;
        blocking(
            move || {
                let invalid = |e: std::io::Error| Error::InvalidPath(format!("{source}: {e}"));
                let file = dir.open(&relative).map_err(invalid)?;
                if !file.metadata().map_err(invalid)?.is_file() {
                    return Err(Error::InvalidPath(format!(
                        "'{source}' is not a regular file"
                    )));
                }
                let options = s3::PutOptions {
                    content_type: options.content_type,
                    cache_control: options.cache_control,
                    canned_acl: options.canned_acl,
                    kms_key_id: options.kms_key_id,
                    metadata: options.metadata.into_iter().collect(),
                };
                store
                    .put_object(&bucket, &key, &mut file.into_std(), options, max_bytes)
                    .map(convert_info)
                    .map_err(convert_error)
            },
            Error::Io,
        )
        .await
    }

    async fn list_objects(&self, request: ListRequest) -> Result<ListPage, Error> {
        let store = self.store_for(&request.bucket)?;
        blocking(
            move || {
                let query = ListQuery {
                    prefix: request.prefix,
                    delimiter: request.delimiter,
                    max_keys: request.max_keys.clamp(1, 1000) as usize,
                    start_after: request.continuation_token,
                };
                let page = store
                    .list_objects(&request.bucket, &query)
                    .map_err(convert_error)?;
                Ok(ListPage {
                    objects: page.objects.into_iter().map(convert_info).collect(),
                    common_prefixes: page.common_prefixes,
                    next_continuation_token: page.next_start_after,
                })
            },
            Error::Io,
        )
        .await
    }
}

impl wit::Host for ActionState {
    async fn head_bucket(&mut self, bucket: String) -> wasmtime::Result<Result<BucketInfo, Error>> {
        Ok(self.slot::<ObjectAccess>().head_bucket(bucket).await)
    }

    async fn head_object(
        &mut self,
        bucket: String,
        key: String,
        version_id: Option<String>,
    ) -> wasmtime::Result<Result<ObjectInfo, Error>> {
        let objects = self.slot::<ObjectAccess>();
        Ok(objects.head_object(bucket, key, version_id).await)
    }

    async fn get_object(
        &mut self,
        bucket: String,
        key: String,
        version_id: Option<String>,
        destination: String,
    ) -> wasmtime::Result<Result<ObjectInfo, Error>> {
        let objects = self.slot::<ObjectAccess>();
        Ok(objects
            .get_object(bucket, key, version_id, destination)
            .await)
    }

    async fn put_object(
        &mut self,
        bucket: String,
        key: String,
        source: String,
        options: PutOptions,
    ) -> wasmtime::Result<Result<ObjectInfo, Error>> {
        let objects = self.slot::<ObjectAccess>();
        Ok(objects.put_object(bucket, key, source, options).await)
    }

    async fn list_objects(
        &mut self,
        request: ListRequest,
    ) -> wasmtime::Result<Result<ListPage, Error>> {
        Ok(self.slot::<ObjectAccess>().list_objects(request).await)
    }
}

/// Copy exactly `size` bytes (the object may not grow while being read).
fn copy_exact(source: &mut dyn Read, target: &mut dyn Write, size: u64) -> io::Result<()> {
    let copied = io::copy(&mut source.take(size), target)?;
    if copied == size {
        Ok(())
    } else {
        Err(io::Error::new(
            io::ErrorKind::UnexpectedEof,
            "object shorter than its size",
        ))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn grants_only_bucket_properties() {
        let config = [
            ("S3Bucket", "source"),
            ("BucketName", "target"),
            ("ArtifactBucket", "more"),
            ("S3ObjectKey", "not-a-bucket"),
        ];
        let granted = granted_buckets(config);
        assert_eq!(
            granted.into_iter().collect::<Vec<_>>(),
            ["more", "source", "target"]
        );
    }
}
