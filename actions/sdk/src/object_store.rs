//! S3-style object storage, scoped by the host to the buckets named in the action's
//! configuration. Object data moves between the store and files in the sandbox.

use crate::Failure;
use crate::bindings::sandpipe::action::object_store as host;

pub use host::{BucketInfo, Error, ListPage, ListRequest, ObjectInfo, PutOptions};

pub fn head_bucket(bucket: &str) -> Result<BucketInfo, Error> {
    host::head_bucket(bucket)
}

pub fn head_object(bucket: &str, key: &str, version_id: Option<&str>) -> Result<ObjectInfo, Error> {
    host::head_object(bucket, key, version_id)
}

/// Write the object to `destination`, a path in a writable sandbox directory.
pub fn get_object(
    bucket: &str,
    key: &str,
    version_id: Option<&str>,
    destination: &str,
) -> Result<ObjectInfo, Error> {
    host::get_object(bucket, key, version_id, destination)
}

/// Store the regular file `source` (any sandbox path) as a new object version.
pub fn put_object(
    bucket: &str,
    key: &str,
    source: &str,
    options: &PutOptions,
) -> Result<ObjectInfo, Error> {
    host::put_object(bucket, key, source, options)
}

pub fn list_objects(request: &ListRequest) -> Result<ListPage, Error> {
    host::list_objects(request)
}

impl Default for PutOptions {
    fn default() -> Self {
        PutOptions {
            content_type: None,
            cache_control: None,
            canned_acl: None,
            kms_key_id: None,
            metadata: Vec::new(),
        }
    }
}

/// A one-line description of a storage error.
pub fn describe(error: &Error) -> String {
    match error {
        Error::PermissionDenied(m) => format!("access denied: {m}"),
        Error::NoSuchBucket(b) => format!("the bucket '{b}' does not exist"),
        Error::NoSuchKey(k) => format!("the object '{k}' does not exist"),
        Error::NoSuchVersion(v) => format!("the object version '{v}' does not exist"),
        Error::InvalidPath(m) => format!("invalid sandbox path: {m}"),
        Error::InvalidArgument(m) => format!("invalid argument: {m}"),
        Error::LimitExceeded(m) => format!("limit exceeded: {m}"),
        Error::Io(m) => format!("storage error: {m}"),
    }
}

/// The CodePipeline failure type that matches a storage error.
impl From<Error> for Failure {
    fn from(error: Error) -> Self {
        let message = describe(&error);
        match error {
            Error::PermissionDenied(_) => Failure::permission(message),
            Error::NoSuchBucket(_) | Error::InvalidArgument(_) => Failure::configuration(message),
            Error::NoSuchKey(_) | Error::NoSuchVersion(_) => Failure::revision_unavailable(message),
            Error::InvalidPath(_) | Error::LimitExceeded(_) => Failure::job(message),
            Error::Io(_) => Failure::system(message),
        }
    }
}
