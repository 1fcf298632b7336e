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
//! ```
//! `h` is the SHA-256 of the key, so any key (up to 1024 bytes, any characters) maps to a
//! safe path. Data files are immutable and indexes are replaced atomically, so a reader sees
//! either the old or the new state, and a crash leaves at worst an orphaned temporary file.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};
use std::path::{Path, PathBuf};

use cap_std::ambient_authority;
use cap_std::fs::{Dir, File};
use md5::{Digest, Md5};
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
}

#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<String>,
    pub cache_control: Option<String>,
    pub canned_acl: Option<String>,
    pub kms_key_id: Option<String>,
    pub metadata: BTreeMap<String, String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListQuery {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    /// 1..=1000.
    pub max_keys: usize,
    /// Return keys after this one (the previous page's last key or common prefix).
    pub start_after: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct ListPage {
    pub objects: Vec<ObjectInfo>,
    pub common_prefixes: Vec<String>,
    /// Set when the listing was cut at `max_keys`: pass it as `start_after`.
    pub next_start_after: Option<String>,
}

/// What a delete did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeleteOutcome {
    pub version_id: Option<String>,
    pub delete_marker: bool,
}

/// One version of a key as stored in `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
struct StoredVersion {
    version_id: Option<String>,
    /// The data file; `None` for a delete marker.
    data: Option<String>,
    etag: String,
    size: u64,
    last_modified: String,
    #[serde(default)]
    content_type: Option<String>,
    #[serde(default)]
    cache_control: Option<String>,
    #[serde(default)]
    canned_acl: Option<String>,
    #[serde(default)]
    kms_key_id: Option<String>,
    #[serde(default)]
    metadata: BTreeMap<String, String>,
}

impl StoredVersion {
    fn is_delete_marker(&self) -> bool {
        self.data.is_none()
    }

    fn info(&self, key: &str, is_latest: bool) -> ObjectInfo {
        ObjectInfo {
            key: key.to_string(),
            version_id: self.version_id.clone(),
            etag: self.etag.clone(),
            size: self.size,
            last_modified: self.last_modified.clone(),
            content_type: self.content_type.clone(),
            cache_control: self.cache_control.clone(),
            canned_acl: self.canned_acl.clone(),
            kms_key_id: self.kms_key_id.clone(),
            metadata: self.metadata.clone(),
            is_latest,
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
struct KeyIndex {
    key: String,
    /// Newest first; the first entry is the latest version.
    versions: Vec<StoredVersion>,
}

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
        let data_id = uuid::Uuid::new_v4().simple().to_string();
        let tmp_name = format!("tmp/{data_id}");
        let (etag, size) = {
            let mut file = bucket
                .create(&tmp_name)
                .map_err(S3Error::io(format!("uploading {key}")))?;
            let copied = copy_hashing(source, &mut file, max_bytes);
            let (etag, size) = match copied {
                Ok(result) => result,
                Err(error) => {
                    let _ = bucket.remove_file(&tmp_name);
                    return Err(error);
                }
            };
            file.sync_all()
                .map_err(S3Error::io(format!("uploading {key}")))?;
            (etag, size)
        };

        let _lock = lock(&bucket)?;
        let versioning = self.bucket_info(bucket_name)?.versioning;
        let key_dir = key_dir(key);
        bucket
            .create_dir_all(&key_dir)
            .map_err(S3Error::io(format!("storing {key}")))?;
        bucket
            .rename(&tmp_name, &bucket, format!("{key_dir}/{data_id}"))
            .map_err(S3Error::io(format!("storing {key}")))?;
        let mut index = read_index(&bucket, &key_dir)?.unwrap_or(KeyIndex {
            key: key.to_string(),
            versions: Vec::new(),
        });
        let version = StoredVersion {
            version_id: new_version_id(versioning),
            data: Some(data_id),
            etag,
            size,
            last_modified: now(),
            content_type: options.content_type,
            cache_control: options.cache_control,
            canned_acl: options.canned_acl,
            kms_key_id: options.kms_key_id,
            metadata: options.metadata,
        };
        let replaced = insert_version(&mut index, version);
        write_json_atomically(&bucket, &format!("{key_dir}/index.json"), &index)?;
        remove_data(&bucket, &key_dir, replaced);
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

    /// The latest version of every key, in key order (ListObjectsV2).
    pub fn list_objects(&self, bucket_name: &str, query: &ListQuery) -> Result<ListPage> {
        let prefix = query.prefix.as_deref().unwrap_or("");
        let mut latest: Vec<ObjectInfo> = self
            .indexes(bucket_name, prefix)?
            .into_iter()
            .filter_map(|index| {
                let newest = index.versions.first()?;
                let after_start = query
                    .start_after
                    .as_deref()
                    .is_none_or(|after| index.key.as_str() > after);
                (!newest.is_delete_marker() && after_start).then(|| newest.info(&index.key, true))
            })
            .collect();
        latest.sort_by(|a, b| a.key.cmp(&b.key));

        let max_keys = query.max_keys.clamp(1, 1000);
        let mut page = ListPage::default();
        // Where the next page starts: the last key returned, or past every key of the last
        // common prefix returned (no UTF-8 text sorts after U+10FFFF).
        let mut resume_after = None;
        for object in latest {
            let common_prefix = query.delimiter.as_deref().and_then(|delimiter| {
                object.key[prefix.len()..]
                    .find(delimiter)
                    .map(|at| object.key[..prefix.len() + at + delimiter.len()].to_string())
            });
            if common_prefix.is_some() && page.common_prefixes.last() == common_prefix.as_ref() {
                continue;
            }
            if page.objects.len() + page.common_prefixes.len() == max_keys {
                page.next_start_after = resume_after;
                break;
            }
            match common_prefix {
                Some(common) => {
                    resume_after = Some(format!("{common}\u{10FFFF}"));
                    page.common_prefixes.push(common);
                }
                None => {
                    resume_after = Some(object.key.clone());
                    page.objects.push(object);
                }
            }
        }
        Ok(page)
    }

    /// Every version and delete marker of keys under `prefix` (ListObjectVersions).
    pub fn list_versions(&self, bucket_name: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut all: Vec<ObjectInfo> = self
            .indexes(bucket_name, prefix)?
            .into_iter()
            .flat_map(|index| {
                index
                    .versions
                    .iter()
                    .enumerate()
                    .map(|(i, version)| version.info(&index.key, i == 0))
                    .collect::<Vec<_>>()
            })
            .collect();
        all.sort_by(|a, b| {
            a.key
                .cmp(&b.key)
                .then(b.last_modified.cmp(&a.last_modified))
        });
        Ok(all)
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

/// Put `version` first; return the version it replaces (the old `null` version), if any.
fn insert_version(index: &mut KeyIndex, version: StoredVersion) -> Option<StoredVersion> {
    let replaced = match &version.version_id {
        None => index
            .versions
            .iter()
            .position(|v| v.version_id.is_none())
            .map(|i| index.versions.remove(i)),
        Some(_) => None,
    };
    index.versions.insert(0, version);
    replaced
}

fn remove_data(bucket: &Dir, key_dir: &str, version: Option<StoredVersion>) {
    if let Some(data) = version.and_then(|v| v.data) {
        // A leftover data file only wastes space; the index no longer points at it.
        let _ = bucket.remove_file(format!("{key_dir}/{data}"));
    }
}

/// Drop a key's directory (and its shard) once nothing is left in it.
fn remove_if_empty(bucket: &Dir, key_dir: &str) {
    if bucket.remove_dir(key_dir).is_ok()
        && let Some((shard, _)) = key_dir.rsplit_once('/')
    {
        let _ = bucket.remove_dir(shard);
    }
}

fn find_version(
    bucket: &Dir,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(ObjectInfo, String)> {
    validate_key(key)?;
    let no_such_key = || S3Error::NoSuchKey {
        bucket: bucket_name.to_string(),
        key: key.to_string(),
    };
    let index = read_index(bucket, &key_dir(key))?.ok_or_else(no_such_key)?;
    let found = match version {
        None => index.versions.first().map(|v| (0, v)),
        Some(version) => {
            let wanted = (version != "null").then_some(version);
            index
                .versions
                .iter()
                .enumerate()
                .find(|(_, v)| v.version_id.as_deref() == wanted)
        }
    };
    match (found, version) {
        (Some((position, stored)), _) => match &stored.data {
            Some(data) => Ok((stored.info(key, position == 0), data.clone())),
            None => Err(no_such_key()),
        },
        (None, Some(version)) => Err(S3Error::NoSuchVersion {
            key: key.to_string(),
            version: version.to_string(),
        }),
        (None, None) => Err(no_such_key()),
    }
}

fn new_version_id(versioning: Versioning) -> Option<String> {
    (versioning == Versioning::Enabled).then(|| {
        // Sortable by time first, like S3's opaque ids are unique: millis + randomness.
        let millis = jiff::Timestamp::now().as_millisecond();
        format!(
            "{millis:013x}{}",
            &uuid::Uuid::new_v4().simple().to_string()[..19]
        )
    })
}

fn key_dir(key: &str) -> String {
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!("objects/{}/{hash}", &hash[..2])
}

fn read_index(bucket: &Dir, key_dir: &str) -> Result<Option<KeyIndex>> {
    read_json(bucket, &format!("{key_dir}/index.json"))
}

fn read_json<T: serde::de::DeserializeOwned>(dir: &Dir, path: &str) -> Result<Option<T>> {
    match dir.read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes)
            .map(Some)
            .map_err(|e| S3Error::Io {
                context: format!("reading {path}"),
                error: io::Error::new(io::ErrorKind::InvalidData, e),
            }),
        Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(S3Error::io(format!("reading {path}"))(e)),
    }
}

/// Write to a temporary file beside `path`, sync, then rename over it.
fn write_json_atomically<T: Serialize>(dir: &Dir, path: &str, value: &T) -> Result<()> {
    let tmp = format!("{path}.{}.tmp", uuid::Uuid::new_v4().simple());
    let bytes = serde_json::to_vec_pretty(value).expect("index types always serialize");
    let mut file = dir
        .create(&tmp)
        .map_err(S3Error::io(format!("writing {path}")))?;
    file.write_all(&bytes)
        .and_then(|()| file.sync_all())
        .map_err(S3Error::io(format!("writing {path}")))?;
    dir.rename(&tmp, dir, path)
        .map_err(S3Error::io(format!("writing {path}")))
}

/// Hold the bucket's writer lock until dropped.
fn lock(bucket: &Dir) -> Result<File> {
    let file = bucket
        .open_with(
            ".lock",
            cap_std::fs::OpenOptions::new()
                .create(true)
                .truncate(false)
                .write(true),
        )
        .map_err(S3Error::io("locking bucket"))?;
    let file = file.into_std();
    file.lock().map_err(S3Error::io("locking bucket"))?;
    Ok(File::from_std(file))
}

/// Copy at most `max_bytes`, returning the quoted MD5 ETag and the size.
fn copy_hashing(
    source: &mut dyn Read,
    sink: &mut dyn Write,
    max_bytes: u64,
) -> Result<(String, u64)> {
    let mut hasher = Md5::new();
    let mut buffer = vec![0u8; 256 * 1024];
    let mut size = 0u64;
    loop {
        let read = match source.read(&mut buffer) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => continue,
            Err(e) => return Err(S3Error::io("reading upload")(e)),
        };
        size += read as u64;
        if size > max_bytes {
            return Err(S3Error::EntityTooLarge(format!(
                "the object is larger than the limit of {max_bytes} bytes"
            )));
        }
        hasher.update(&buffer[..read]);
        sink.write_all(&buffer[..read])
            .map_err(S3Error::io("writing upload"))?;
    }
    Ok((format!("\"{}\"", hex::encode(hasher.finalize())), size))
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

fn validate_key(key: &str) -> Result<()> {
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

#[cfg(test)]
mod tests {
    use super::*;

    fn store() -> (tempfile::TempDir, LocalS3) {
        let dir = tempfile::tempdir().unwrap();
        let s3 = LocalS3::open(&dir.path().join("s3")).unwrap();
        (dir, s3)
    }

    fn put(s3: &LocalS3, bucket: &str, key: &str, body: &[u8]) -> ObjectInfo {
        s3.put_object(bucket, key, &mut &body[..], PutOptions::default(), u64::MAX)
            .unwrap()
    }

    fn read(s3: &LocalS3, bucket: &str, key: &str, version: Option<&str>) -> Vec<u8> {
        let (_, file) = s3.open_object(bucket, key, version).unwrap();
        let mut body = Vec::new();
        file.into_std().read_to_end(&mut body).unwrap();
        body
    }

    #[test]
    fn versioned_bucket_keeps_every_version() {
        let (_dir, s3) = store();
        s3.create_bucket("src").unwrap();
        s3.set_versioning("src", true).unwrap();
        let first = put(&s3, "src", "dir/file", b"one");
        let second = put(&s3, "src", "dir/file", b"two");
        assert_ne!(first.version_id, second.version_id);
        assert_eq!(first.etag, "\"f97c5d29941bfb1b2fdab0874906ab82\"");
        assert_eq!(read(&s3, "src", "dir/file", None), b"two");
        assert_eq!(
            read(&s3, "src", "dir/file", first.version_id.as_deref()),
            b"one"
        );
        let head = s3
            .head_object("src", "dir/file", first.version_id.as_deref())
            .unwrap();
        assert!(!head.is_latest);

        let deleted = s3.delete_object("src", "dir/file", None).unwrap();
        assert!(deleted.delete_marker);
        assert!(matches!(
            s3.head_object("src", "dir/file", None),
            Err(S3Error::NoSuchKey { .. })
        ));
        assert_eq!(s3.list_versions("src", "").unwrap().len(), 3);
        assert_eq!(
            read(&s3, "src", "dir/file", second.version_id.as_deref()),
            b"two"
        );
    }

    #[test]
    fn unversioned_bucket_replaces_the_null_version() {
        let (dir, s3) = store();
        s3.create_bucket("plain").unwrap();
        put(&s3, "plain", "k", b"one");
        let second = put(&s3, "plain", "k", b"two");
        assert_eq!(second.version_id, None);
        assert_eq!(s3.list_versions("plain", "").unwrap().len(), 1);
        s3.delete_object("plain", "k", None).unwrap();
        assert!(
            s3.list_objects("plain", &ListQuery::default())
                .unwrap()
                .objects
                .is_empty()
        );
        // No data file is left behind.
        let leftovers = walkdir_files(&dir.path().join("s3/plain/objects"));
        assert_eq!(leftovers, Vec::<String>::new());
        s3.delete_bucket("plain").unwrap();
    }

    fn walkdir_files(path: &Path) -> Vec<String> {
        let mut files = Vec::new();
        for entry in std::fs::read_dir(path).unwrap() {
            let entry = entry.unwrap();
            if entry.file_type().unwrap().is_dir() {
                files.extend(walkdir_files(&entry.path()));
            } else {
                files.push(entry.path().display().to_string());
            }
        }
        files
    }

    #[test]
    fn lists_with_prefix_delimiter_and_pages() {
        let (_dir, s3) = store();
        s3.create_bucket("b-1").unwrap();
        for key in ["a/1", "a/2", "b", "c/x/y", "d"] {
            put(&s3, "b-1", key, key.as_bytes());
        }
        let all = s3
            .list_objects(
                "b-1",
                &ListQuery {
                    max_keys: 1000,
                    ..Default::default()
                },
            )
            .unwrap();
        let keys: Vec<_> = all.objects.iter().map(|o| o.key.as_str()).collect();
        assert_eq!(keys, ["a/1", "a/2", "b", "c/x/y", "d"]);

        let grouped = s3
            .list_objects(
                "b-1",
                &ListQuery {
                    delimiter: Some("/".into()),
                    max_keys: 1000,
                    ..Default::default()
                },
            )
            .unwrap();
        assert_eq!(grouped.common_prefixes, ["a/", "c/"]);
        assert_eq!(
            grouped
                .objects
                .iter()
                .map(|o| o.key.as_str())
                .collect::<Vec<_>>(),
            ["b", "d"]
        );

        let mut pages = Vec::new();
        let mut query = ListQuery {
            delimiter: Some("/".into()),
            max_keys: 1,
            ..Default::default()
        };
        loop {
            let page = s3.list_objects("b-1", &query).unwrap();
            pages.extend(page.common_prefixes.clone());
            pages.extend(page.objects.iter().map(|o| o.key.clone()));
            match page.next_start_after {
                Some(after) => query.start_after = Some(after),
                None => break,
            }
        }
        assert_eq!(pages, ["a/", "b", "c/", "d"]);
    }

    #[test]
    fn refuses_bad_names_missing_buckets_and_oversized_uploads() {
        let (_dir, s3) = store();
        assert!(matches!(
            s3.create_bucket("Bad_Name"),
            Err(S3Error::InvalidBucketName(_))
        ));
        assert!(matches!(
            s3.create_bucket("192.168.1.1"),
            Err(S3Error::InvalidBucketName(_))
        ));
        assert!(matches!(
            s3.bucket_info("nope"),
            Err(S3Error::NoSuchBucket(_))
        ));
        assert!(matches!(
            s3.bucket_info("../etc"),
            Err(S3Error::NoSuchBucket(_))
        ));
        s3.create_bucket("small").unwrap();
        assert!(matches!(
            s3.create_bucket("small"),
            Err(S3Error::BucketAlreadyOwnedByYou(_))
        ));
        let result = s3.put_object(
            "small",
            "k",
            &mut &[0u8; 100][..],
            PutOptions::default(),
            10,
        );
        assert!(matches!(result, Err(S3Error::EntityTooLarge(_))));
        assert!(matches!(
            s3.head_object("small", "k", None),
            Err(S3Error::NoSuchKey { .. })
        ));
    }
}
