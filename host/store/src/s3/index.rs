//! How one key's versions are kept on disk: an `index.json` per key (newest version first)
//! beside the data files, written atomically under the bucket's lock.

use std::collections::BTreeMap;
use std::io::{self, Read, Write};

use cap_std::fs::{Dir, File};
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::{ObjectInfo, Result, S3Error, Versioning, validate_key};

/// One version of a key as stored in `index.json`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub(super) struct StoredVersion {
    pub(super) version_id: Option<String>,
    /// The data file; `None` for a delete marker.
    pub(super) data: Option<String>,
    pub(super) etag: String,
    pub(super) size: u64,
    pub(super) last_modified: String,
    #[serde(default)]
    pub(super) content_type: Option<String>,
    #[serde(default)]
    pub(super) cache_control: Option<String>,
    #[serde(default)]
    pub(super) canned_acl: Option<String>,
    #[serde(default)]
    pub(super) kms_key_id: Option<String>,
    #[serde(default)]
    pub(super) metadata: BTreeMap<String, String>,
}

impl StoredVersion {
    pub(super) fn is_delete_marker(&self) -> bool {
        self.data.is_none()
    }

    pub(super) fn info(&self, key: &str, is_latest: bool) -> ObjectInfo {
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
            delete_marker: self.is_delete_marker(),
        }
    }
}

#[derive(Debug, Serialize, Deserialize)]
pub(super) struct KeyIndex {
    pub(super) key: String,
    /// Newest first; the first entry is the latest version.
    pub(super) versions: Vec<StoredVersion>,
}

/// Put `version` first; return the version it replaces (the old `null` version), if any.
pub(super) fn insert_version(
    index: &mut KeyIndex,
    version: StoredVersion,
) -> Option<StoredVersion> {
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

pub(super) fn remove_data(bucket: &Dir, key_dir: &str, version: Option<StoredVersion>) {
    if let Some(data) = version.and_then(|v| v.data) {
        // A leftover data file only wastes space; the index no longer points at it.
        let _ = bucket.remove_file(format!("{key_dir}/{data}"));
    }
}

/// Drop a key's directory (and its shard) once nothing is left in it.
pub(super) fn remove_if_empty(bucket: &Dir, key_dir: &str) {
    if bucket.remove_dir(key_dir).is_ok()
        && let Some((shard, _)) = key_dir.rsplit_once('/')
    {
        let _ = bucket.remove_dir(shard);
    }
}

/// The data file of one version (the latest by default); a delete marker is a missing key.
pub(super) fn find_version(
    bucket: &Dir,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(ObjectInfo, String)> {
    let (index, position) = locate(bucket, bucket_name, key, version)?;
    let stored = &index.versions[position];
    match &stored.data {
        Some(data) => Ok((stored.info(key, position == 0), data.clone())),
        None => Err(no_such_key(bucket_name, key)),
    }
}

/// One version or delete marker (the latest by default).
pub(super) fn find_entry(
    bucket: &Dir,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<ObjectInfo> {
    let (index, position) = locate(bucket, bucket_name, key, version)?;
    Ok(index.versions[position].info(key, position == 0))
}

/// A key's index and the position of the wanted version in it.
fn locate(
    bucket: &Dir,
    bucket_name: &str,
    key: &str,
    version: Option<&str>,
) -> Result<(KeyIndex, usize)> {
    validate_key(key)?;
    let index = read_index(bucket, &key_dir(key))?.ok_or_else(|| no_such_key(bucket_name, key))?;
    let position = match version {
        None => (!index.versions.is_empty()).then_some(0),
        Some(version) => {
            let wanted = (version != "null").then_some(version);
            index
                .versions
                .iter()
                .position(|v| v.version_id.as_deref() == wanted)
        }
    };
    match (position, version) {
        (Some(position), _) => Ok((index, position)),
        (None, Some(version)) => Err(S3Error::NoSuchVersion {
            key: key.to_string(),
            version: version.to_string(),
        }),
        (None, None) => Err(no_such_key(bucket_name, key)),
    }
}

fn no_such_key(bucket: &str, key: &str) -> S3Error {
    S3Error::NoSuchKey {
        bucket: bucket.to_string(),
        key: key.to_string(),
    }
}

pub(super) fn new_version_id(versioning: Versioning) -> Option<String> {
    (versioning == Versioning::Enabled).then(|| {
        // Sortable by time first, like S3's opaque ids are unique: millis + randomness.
        let millis = jiff::Timestamp::now().as_millisecond();
        format!(
            "{millis:013x}{}",
            &uuid::Uuid::new_v4().simple().to_string()[..19]
        )
    })
}

pub(super) fn key_dir(key: &str) -> String {
    let hash = hex::encode(sha2::Sha256::digest(key.as_bytes()));
    format!("objects/{}/{hash}", &hash[..2])
}

pub(super) fn read_index(bucket: &Dir, key_dir: &str) -> Result<Option<KeyIndex>> {
    read_json(bucket, &format!("{key_dir}/index.json"))
}

pub(super) fn read_json<T: serde::de::DeserializeOwned>(
    dir: &Dir,
    path: &str,
) -> Result<Option<T>> {
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
pub(super) fn write_json_atomically<T: Serialize>(dir: &Dir, path: &str, value: &T) -> Result<()> {
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
pub(super) fn lock(bucket: &Dir) -> Result<File> {
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

/// What a data file holds, as its version records it.
pub(super) struct StoredData {
    /// Quoted, as S3 returns it.
    pub(super) etag: String,
    pub(super) size: u64,
}

/// Stream at most `max_bytes` of `source` into a new synced file `tmp/<id>`, returning the id;
/// on failure nothing is left behind.
pub(super) fn write_tmp(
    bucket: &Dir,
    source: &mut dyn Read,
    max_bytes: u64,
    what: &str,
) -> Result<(String, StoredData)> {
    let data_id = uuid::Uuid::new_v4().simple().to_string();
    let tmp_name = format!("tmp/{data_id}");
    let mut file = bucket
        .create(&tmp_name)
        .map_err(S3Error::io(format!("uploading {what}")))?;
    let written = copy_hashing(source, &mut file, max_bytes).and_then(|(etag, size)| {
        file.sync_all()
            .map_err(S3Error::io(format!("uploading {what}")))?;
        Ok(StoredData { etag, size })
    });
    match written {
        Ok(data) => Ok((data_id, data)),
        Err(error) => {
            let _ = bucket.remove_file(&tmp_name);
            Err(error)
        }
    }
}

/// Copy at most `max_bytes`, returning the quoted MD5 ETag and the size.
pub(super) fn copy_hashing(
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
