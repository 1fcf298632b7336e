//! An S3 emulation in a local directory: buckets are directories, objects keep every version
//! (with version ids, ETags and a latest pointer) when versioning is enabled, as on S3.
//!
//! Layout under the root:
//! ```text
//! <bucket>/bucket.json                      versioning state, creation time
//! <bucket>/.lock                            serialises writers (readers never wait)
//! <bucket>/tmp/                             uploads in progress (same filesystem: atomic rename)
//! <bucket>/objects/<h:2>/<h>/index.json     the key and its versions, newest first
//! <bucket>/objects/<h:2>/<h>/<data-id>      one file per stored version
//! <bucket>/uploads/<upload-id>/             multipart uploads in progress (see `multipart`)
//! ```
//! `h` is the SHA-256 of the key, so any key (up to 1024 bytes, any characters) maps to a
//! safe path. Data files are immutable and indexes are replaced atomically, so a reader sees
//! either the old or the new state, and a crash leaves at worst an orphaned temporary file.

use std::collections::BTreeMap;
use std::io::{self, Read};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, File};
use serde::{Deserialize, Serialize};

/// An S3 error, named as S3 names it.
#[derive(Debug, thiserror::Error)]
pub enum S3Error {
    #[error("NoSuchBucket: the bucket '{0}' does not exist")]
    NoSuchBucket(String),
    #[error("NoSuchKey: the key '{key}' does not exist in bucket '{bucket}'")]
    NoSuchKey { bucket: String, key: String },
    #[error("NoSuchVersion: version '{version}' of '{key}' does not exist")]
    NoSuchVersion { key: String, version: String },
    #[error("BucketAlreadyOwnedByYou: the bucket '{0}' already exists")]
    BucketAlreadyOwnedByYou(String),
    #[error("BucketNotEmpty: the bucket '{0}' is not empty")]
    BucketNotEmpty(String),
    #[error("InvalidBucketName: {0}")]
    InvalidBucketName(String),
    #[error("InvalidArgument: {0}")]
    InvalidArgument(String),
    #[error("EntityTooLarge: {0}")]
    EntityTooLarge(String),
    #[error("{context}: {error}")]
    Io { context: String, error: io::Error },
}

impl S3Error {
    fn io(context: impl Into<String>) -> impl FnOnce(io::Error) -> S3Error {
        let context = context.into();
        move |error| S3Error::Io { context, error }
    }
}

pub type Result<T> = std::result::Result<T, S3Error>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Versioning {
    /// Never enabled: every write replaces the `null` version.
    Unversioned,
    Enabled,
    /// Was enabled: old versions stay, new writes replace the `null` version.
    Suspended,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct BucketInfo {
    pub name: String,
    pub created: String,
    pub versioning: Versioning,
}

/// Everything S3 returns about one object version.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ObjectInfo {
    pub key: String,
    /// `None` is S3's `null` version.
    pub version_id: Option<String>,
    /// Quoted hex MD5, as S3 returns it.
    pub etag: String,
    pub size: u64,
    /// RFC 3339, millisecond precision.
    pub last_modified: String,
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub canned_acl: Option<String>,
    pub kms_key_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
    pub is_latest: bool,
    /// A delete marker: no data, `etag` empty and `size` 0.
    #[serde(default)]
    pub delete_marker: bool,
}

#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub canned_acl: Option<String>,
    pub kms_key_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOutcome {
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

mod index;
mod listing;
mod multipart;
#[cfg(test)]
mod multipart_tests;
#[cfg(test)]
mod tests;

use index::*;
pub use listing::{ListPage, ListQuery, VersionPage, VersionQuery};
pub use multipart::{
    CompletedPart, MAX_PART_NUMBER, MIN_PART_SIZE, MultipartError, PartInfo, UploadInfo,
    UploadPage, UploadQuery,
};

/// The largest object key S3 accepts, in bytes.
const MAX_KEY_BYTES: usize = 1024;

/// The S3 emulation rooted at one directory.
pub struct LocalS3 {
    root: Dir,
    path: PathBuf,
}

impl LocalS3 {
    /// Open (creating if needed) the emulation at `path`.
    pub fn open(path: &Path) -> Result<Self> {
        std::fs::create_dir_all(path).map_err(S3Error::io(path.display().to_string()))?;
        let root = Dir::open_ambient_dir(path, ambient_authority())
            .map_err(S3Error::io(path.display().to_string()))?;
        Ok(LocalS3 {
            root,
            path: path.to_path_buf(),
        })
    }

    pub fn path(&self) -> &Path {
        &self.path
    }

    pub fn create_bucket(&self, name: &str) -> Result<BucketInfo> {
        validate_bucket_name(name)?;
        match self.root.create_dir(name) {
            Ok(()) => {}
            Err(e) if e.kind() == io::ErrorKind::AlreadyExists => {
                return Err(S3Error::BucketAlreadyOwnedByYou(name.to_string()));
            }
            Err(e) => return Err(S3Error::io(format!("creating bucket {name}"))(e)),
        }
        let bucket = self.root.open_dir(name).map_err(S3Error::io(name))?;
        for dir in ["tmp", "objects"] {
            bucket.create_dir(dir).map_err(S3Error::io(name))?;
        }
        let info = BucketInfo {
            name: name.to_string(),
            created: now(),
            versioning: Versioning::Unversioned,
        };
        write_json_atomically(&bucket, "bucket.json", &info)?;
        Ok(info)
    }

    pub fn bucket_info(&self, name: &str) -> Result<BucketInfo> {
        let bucket = self.bucket(name)?;
        read_json(&bucket, "bucket.json")?.ok_or_else(|| S3Error::NoSuchBucket(name.to_string()))
    }

    pub fn list_buckets(&self) -> Result<Vec<BucketInfo>> {
        let mut buckets = Vec::new();
        for entry in self
            .root
            .entries()
            .map_err(S3Error::io("listing buckets"))?
        {
            let entry = entry.map_err(S3Error::io("listing buckets"))?;
            let name = entry.file_name().to_string_lossy().into_owned();
            if validate_bucket_name(&name).is_ok()
                && let Ok(info) = self.bucket_info(&name)
            {
                buckets.push(info);
            }
        }
        buckets.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(buckets)
    }

    pub fn delete_bucket(&self, name: &str) -> Result<()> {
        let bucket = self.bucket(name)?;
        let _lock = lock(&bucket)?;
        let has_objects = !self.list_versions(name, "")?.is_empty();
        if has_objects {
            return Err(S3Error::BucketNotEmpty(name.to_string()));
        }
        drop(bucket);
        self.root
            .remove_dir_all(name)
            .map_err(S3Error::io(format!("deleting bucket {name}")))
    }

    pub fn set_versioning(&self, name: &str, enabled: bool) -> Result<BucketInfo> {
        let bucket = self.bucket(name)?;
        let _lock = lock(&bucket)?;
        let mut info = self.bucket_info(name)?;
        info.versioning = match (enabled, info.versioning) {
            (true, _) => Versioning::Enabled,
            (false, Versioning::Unversioned) => Versioning::Unversioned,
            (false, _) => Versioning::Suspended,
        };
        write_json_atomically(&bucket, "bucket.json", &info)?;
        Ok(info)
    }

    /// Store the content of `source` as a new version of `key`, streaming it to disk.
    /// At most `max_bytes` are accepted.
    pub fn put_object(
        &self,
        bucket_name: &str,
        key: &str,
        source: &mut dyn Read,
        options: PutOptions,
        max_bytes: u64,
    ) -> Result<ObjectInfo> {
        validate_key(key)?;
        let bucket = self.bucket(bucket_name)?;
        let (data_id, data) = write_tmp(&bucket, source, max_bytes, key)?;
        self.commit_version(&bucket, bucket_name, key, &data_id, data, options)
    }

    /// Make the data file `tmp/<data_id>` the newest version of `key`, under the bucket's
    /// lock: the one step every write (put, copy, completed upload) shares.
    fn commit_version(
        &self,
        bucket: &Dir,
        bucket_name: &str,
        key: &str,
        data_id: &str,
        data: StoredData,
        options: PutOptions,
    ) -> Result<ObjectInfo> {
        let tmp_name = format!("tmp/{data_id}");
        let _lock = lock(bucket)?;
        let versioning = match self.bucket_info(bucket_name) {
            Ok(info) => info.versioning,
            Err(error) => {
                let _ = bucket.remove_file(&tmp_name);
                return Err(error);
            }
        };
        let key_dir = key_dir(key);
        bucket
            .create_dir_all(&key_dir)
            .map_err(S3Error::io(format!("storing {key}")))?;
        bucket
            .rename(&tmp_name, bucket, format!("{key_dir}/{data_id}"))
            .map_err(S3Error::io(format!("storing {key}")))?;
        let mut index = read_index(bucket, &key_dir)?.unwrap_or(KeyIndex {
            key: key.to_string(),
            versions: Vec::new(),
        });
        let version = StoredVersion {
            version_id: new_version_id(versioning),
            data: Some(data_id.to_string()),
            etag: data.etag,
            size: data.size,
            last_modified: now(),
            content_type: options.content_type,
            cache_control: options.cache_control,
            canned_acl: options.canned_acl,
            kms_key_id: options.kms_key_id,
            metadata: options.metadata,
        };
        let replaced = insert_version(&mut index, version);
        write_json_atomically(bucket, &format!("{key_dir}/index.json"), &index)?;
        remove_data(bucket, &key_dir, replaced);
        Ok(index.versions[0].info(key, true))
    }

    pub fn head_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<ObjectInfo> {
        let bucket_dir = self.bucket(bucket)?;
        let (info, _) = find_version(&bucket_dir, bucket, key, version)?;
        Ok(info)
    }

    /// One version (the latest by default) as listed: unlike `head_object`, a delete marker
    /// is returned (with `delete_marker` set) rather than reported as a missing key.
    pub fn version_info(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<ObjectInfo> {
        let bucket_dir = self.bucket(bucket)?;
        find_entry(&bucket_dir, bucket, key, version)
    }

    /// Open one version (the latest by default) for reading.
    pub fn open_object(
        &self,
        bucket: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<(ObjectInfo, File)> {
        let bucket_dir = self.bucket(bucket)?;
        let (info, data) = find_version(&bucket_dir, bucket, key, version)?;
        let file = bucket_dir
            .open(format!("{}/{data}", key_dir(key)))
            .map_err(S3Error::io(format!("reading {key}")))?;
        Ok((info, file))
    }

    /// Delete the latest version (a delete marker when versioned) or one version for good.
    pub fn delete_object(
        &self,
        bucket_name: &str,
        key: &str,
        version: Option<&str>,
    ) -> Result<DeleteOutcome> {
        validate_key(key)?;
        let bucket = self.bucket(bucket_name)?;
        let _lock = lock(&bucket)?;
        let versioning = self.bucket_info(bucket_name)?.versioning;
        let key_dir = key_dir(key);
        let Some(mut index) = read_index(&bucket, &key_dir)? else {
            // S3 answers a delete of a missing key with success.
            return Ok(DeleteOutcome {
                version_id: None,
                delete_marker: false,
            });
        };
        let outcome = match version {
            Some(version) => {
                let wanted = (version != "null").then_some(version);
                let position = index
                    .versions
                    .iter()
                    .position(|v| v.version_id.as_deref() == wanted)
                    .ok_or_else(|| S3Error::NoSuchVersion {
                        key: key.to_string(),
                        version: version.to_string(),
                    })?;
                let removed = index.versions.remove(position);
                let outcome = DeleteOutcome {
                    version_id: removed.version_id.clone(),
                    delete_marker: removed.is_delete_marker(),
                };
                self.save_index(&bucket, &key_dir, &index)?;
                remove_data(&bucket, &key_dir, Some(removed));
                remove_if_empty(&bucket, &key_dir);
                outcome
            }
            None if versioning == Versioning::Unversioned => {
                let removed = index.versions.drain(..).collect::<Vec<_>>();
                self.save_index(&bucket, &key_dir, &index)?;
                for version in removed {
                    remove_data(&bucket, &key_dir, Some(version));
                }
                remove_if_empty(&bucket, &key_dir);
                DeleteOutcome {
                    version_id: None,
                    delete_marker: false,
                }
            }
            None => {
                let marker = StoredVersion {
                    version_id: new_version_id(versioning),
                    data: None,
                    etag: String::new(),
                    size: 0,
                    last_modified: now(),
                    content_type: None,
                    cache_control: None,
                    canned_acl: None,
                    kms_key_id: None,
                    metadata: BTreeMap::new(),
                };
                let outcome = DeleteOutcome {
                    version_id: marker.version_id.clone(),
                    delete_marker: true,
                };
                let replaced = insert_version(&mut index, marker);
                self.save_index(&bucket, &key_dir, &index)?;
                remove_data(&bucket, &key_dir, replaced);
                outcome
            }
        };
        Ok(outcome)
    }

    /// The index of every key starting with `prefix`, in no particular order.
    fn indexes(&self, bucket_name: &str, prefix: &str) -> Result<Vec<KeyIndex>> {
        let bucket = self.bucket(bucket_name)?;
        let mut indexes = Vec::new();
        for shard in bucket
            .read_dir("objects")
            .map_err(S3Error::io(bucket_name))?
        {
            let shard = shard.map_err(S3Error::io(bucket_name))?;
            let shard_path = Path::new("objects").join(shard.file_name());
            for key_entry in bucket
                .read_dir(&shard_path)
                .map_err(S3Error::io(bucket_name))?
            {
                let key_entry = key_entry.map_err(S3Error::io(bucket_name))?;
                let key_dir = shard_path.join(key_entry.file_name());
                if let Some(index) = read_index(&bucket, &key_dir.to_string_lossy())?
                    && index.key.starts_with(prefix)
                {
                    indexes.push(index);
                }
            }
        }
        Ok(indexes)
    }

    fn bucket(&self, name: &str) -> Result<Dir> {
        validate_bucket_name(name).map_err(|_| S3Error::NoSuchBucket(name.to_string()))?;
        self.root.open_dir(name).map_err(|e| match e.kind() {
            io::ErrorKind::NotFound => S3Error::NoSuchBucket(name.to_string()),
            _ => S3Error::io(format!("opening bucket {name}"))(e),
        })
    }

    fn save_index(&self, bucket: &Dir, key_dir: &str, index: &KeyIndex) -> Result<()> {
        if index.versions.is_empty() {
            let _ = bucket.remove_file(format!("{key_dir}/index.json"));
            Ok(())
        } else {
            write_json_atomically(bucket, &format!("{key_dir}/index.json"), index)
        }
    }
}

/// S3's bucket naming rules: 3-63 of lowercase letters, digits, `.` and `-`, starting and
/// ending with a letter or digit, not formatted as an IP address.
pub fn validate_bucket_name(name: &str) -> Result<()> {
    let valid_chars = name
        .bytes()
        .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'.' || b == b'-');
    let edges = name
        .bytes()
        .next()
        .zip(name.bytes().last())
        .is_some_and(|(first, last)| first.is_ascii_alphanumeric() && last.is_ascii_alphanumeric());
    let ip_like = name.split('.').count() == 4 && name.split('.').all(|p| p.parse::<u8>().is_ok());
    if (3..=63).contains(&name.len()) && valid_chars && edges && !name.contains("..") && !ip_like {
        Ok(())
    } else {
        Err(S3Error::InvalidBucketName(format!(
            "'{name}' is not a valid bucket name: use 3 to 63 lowercase letters, digits, dots \
             and hyphens, starting and ending with a letter or digit"
        )))
    }
}

pub(super) fn validate_key(key: &str) -> Result<()> {
    if key.is_empty() || key.len() > MAX_KEY_BYTES {
        return Err(S3Error::InvalidArgument(format!(
            "object keys are 1 to {MAX_KEY_BYTES} bytes long"
        )));
    }
    Ok(())
}

/// The current time as S3 reports it.
pub fn now() -> String {
    let now = jiff::Timestamp::now();
    format!("{:.3}", now)
}
