//! Multipart uploads, as S3 does them: an upload is created for a key, its parts are uploaded
//! (in any order, concurrently, each replaceable), then completed into one new version of the
//! key — or aborted.
//!
//! Layout under the bucket:
//! ```text
//! uploads/<upload-id>/upload.json     the key, when it was started, the object's options
//! uploads/<upload-id>/<n>.json        part n: its data file, ETag, size and time
//! uploads/<upload-id>/<n>.<data-id>   part n's bytes
//! ```
//! A part is streamed to `tmp/`, renamed beside its record, then the record is replaced
//! atomically, so a reader sees the old part or the new one and a crash leaves at worst an
//! orphaned data file, removed with the upload. Completing first claims the upload by renaming
//! its directory into `tmp/` (one rename: of two concurrent completes, one wins; a part still
//! arriving fails with NoSuchUpload), checks the parts, and puts it back if they are wrong.

use std::io::{self, Read};

use cap_std::fs::Dir;
use md5::{Digest, Md5};
use serde::{Deserialize, Serialize};

use super::index::{StoredData, read_json, write_json_atomically, write_tmp};
use super::{LocalS3, ObjectInfo, PutOptions, S3Error, listing, now, validate_key};

/// S3's smallest part, except for the last one.
pub const MIN_PART_SIZE: u64 = 5 * 1024 * 1024;
/// Part numbers are 1..=10,000.
pub const MAX_PART_NUMBER: u32 = 10_000;
/// S3's largest object, however it was uploaded.
const MAX_OBJECT_SIZE: u64 = 5 * 1024 * 1024 * 1024 * 1024;

/// A multipart upload's errors, named as S3 names them, beside the store's own.
#[derive(Debug, thiserror::Error)]
pub enum MultipartError {
    #[error(
        "NoSuchUpload: the upload '{0}' does not exist (it may have been completed or aborted)"
    )]
    NoSuchUpload(String),
    #[error("InvalidPart: {0}")]
    InvalidPart(String),
    #[error("InvalidPartOrder: {0}")]
    InvalidPartOrder(String),
    #[error("EntityTooSmall: {0}")]
    EntityTooSmall(String),
    #[error(transparent)]
    Store(#[from] S3Error),
}

type Result<T> = std::result::Result<T, MultipartError>;

/// An upload in progress.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UploadInfo {
    pub upload_id: String,
    pub key: String,
    /// RFC 3339, millisecond precision.
    pub initiated: String,
}

/// One uploaded part.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PartInfo {
    pub part_number: u32,
    /// Quoted hex MD5 of the part.
    pub etag: String,
    pub size: u64,
    pub last_modified: String,
}

/// A part named in CompleteMultipartUpload.
#[derive(Debug, Clone)]
pub struct CompletedPart {
    pub part_number: u32,
    /// Quoted or not: S3 accepts both.
    pub etag: String,
}

/// A ListMultipartUploads request.
#[derive(Debug, Clone, Default)]
pub struct UploadQuery {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    /// 1..=1000.
    pub max_uploads: usize,
    pub key_marker: Option<String>,
    pub upload_id_marker: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct UploadPage {
    /// By key, then oldest first.
    pub uploads: Vec<UploadInfo>,
    pub common_prefixes: Vec<String>,
    pub next_key_marker: Option<String>,
    pub next_upload_id_marker: Option<String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredUpload {
    key: String,
    initiated: String,
    content_type: Option<String>,
    cache_control: Option<String>,
    canned_acl: Option<String>,
    kms_key_id: Option<String>,
    metadata: std::collections::BTreeMap<String, String>,
}

#[derive(Debug, Serialize, Deserialize)]
struct StoredPart {
    data: String,
    etag: String,
    size: u64,
    last_modified: String,
}

impl LocalS3 {
    /// Start an upload of `key`; the options are the completed object's.
    pub fn create_multipart_upload(
        &self,
        bucket_name: &str,
        key: &str,
        options: PutOptions,
    ) -> Result<UploadInfo> {
        validate_key(key)?;
        let bucket = self.bucket(bucket_name)?;
        let upload_id = uuid::Uuid::new_v4().simple().to_string();
        let dir = upload_dir(&upload_id);
        bucket
            .create_dir_all(&dir)
            .map_err(S3Error::io(format!("starting an upload of {key}")))?;
        let stored = StoredUpload {
            key: key.to_string(),
            initiated: now(),
            content_type: options.content_type,
            cache_control: options.cache_control,
            canned_acl: options.canned_acl,
            kms_key_id: options.kms_key_id,
            metadata: options.metadata,
        };
        write_json_atomically(&bucket, &format!("{dir}/upload.json"), &stored)?;
        Ok(UploadInfo {
            upload_id,
            key: stored.key,
            initiated: stored.initiated,
        })
    }

    /// Store (or replace) part `part_number`, streaming at most `max_bytes` of `source`.
    pub fn upload_part(
        &self,
        bucket_name: &str,
        key: &str,
        upload_id: &str,
        part_number: u32,
        source: &mut dyn Read,
        max_bytes: u64,
    ) -> Result<PartInfo> {
        check_part_number(part_number)?;
        let bucket = self.bucket(bucket_name)?;
        let dir = upload_dir(upload_id);
        read_upload(&bucket, &dir, key, upload_id)?;
        let (data_id, data) = write_tmp(&bucket, source, max_bytes, key)?;
        let data_name = format!("{part_number}.{data_id}");
        if let Err(error) = bucket.rename(
            format!("tmp/{data_id}"),
            &bucket,
            format!("{dir}/{data_name}"),
        ) {
            let _ = bucket.remove_file(format!("tmp/{data_id}"));
            return Err(match error.kind() {
                // Aborted or completed while the part was arriving.
                io::ErrorKind::NotFound => MultipartError::NoSuchUpload(upload_id.to_string()),
                _ => S3Error::io(format!("storing part {part_number} of {key}"))(error).into(),
            });
        }
        let record = format!("{dir}/{part_number}.json");
        let replaced: Option<StoredPart> = read_json(&bucket, &record)?;
        let part = StoredPart {
            data: data_name,
            etag: data.etag,
            size: data.size,
            last_modified: now(),
        };
        write_json_atomically(&bucket, &record, &part)?;
        if let Some(old) = replaced {
            // Only space is lost if this fails: no record points at it any more.
            let _ = bucket.remove_file(format!("{dir}/{}", old.data));
        }
        Ok(part.info(part_number))
    }

    /// The parts uploaded so far, by part number.
    pub fn list_parts(
        &self,
        bucket_name: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<Vec<PartInfo>> {
        let bucket = self.bucket(bucket_name)?;
        let dir = upload_dir(upload_id);
        read_upload(&bucket, &dir, key, upload_id)?;
        Ok(read_parts(&bucket, &dir)?
            .into_iter()
            .map(|(number, part)| part.info(number))
            .collect())
    }

    /// Drop an upload and its parts.
    pub fn abort_multipart_upload(
        &self,
        bucket_name: &str,
        key: &str,
        upload_id: &str,
    ) -> Result<()> {
        let bucket = self.bucket(bucket_name)?;
        let dir = upload_dir(upload_id);
        read_upload(&bucket, &dir, key, upload_id)?;
        bucket
            .remove_dir_all(&dir)
            .map_err(|error| match error.kind() {
                io::ErrorKind::NotFound => MultipartError::NoSuchUpload(upload_id.to_string()),
                _ => S3Error::io(format!("aborting upload {upload_id}"))(error).into(),
            })
    }

    /// Join the named parts, in order, into a new version of the key (versioning as for any
    /// write). Each part but the last must be at least `MIN_PART_SIZE`; the ETag is S3's:
    /// the MD5 of the parts' binary MD5s, then `-` and the number of parts.
    pub fn complete_multipart_upload(
        &self,
        bucket_name: &str,
        key: &str,
        upload_id: &str,
        parts: &[CompletedPart],
    ) -> Result<ObjectInfo> {
        let bucket = self.bucket(bucket_name)?;
        let dir = upload_dir(upload_id);
        let stored = read_upload(&bucket, &dir, key, upload_id)?;
        let claimed = format!("tmp/complete-{upload_id}");
        bucket
            .rename(&dir, &bucket, &claimed)
            .map_err(|error| match error.kind() {
                io::ErrorKind::NotFound => MultipartError::NoSuchUpload(upload_id.to_string()),
                _ => S3Error::io(format!("completing upload {upload_id}"))(error).into(),
            })?;
        let chosen = match choose_parts(&bucket, &claimed, parts) {
            Ok(chosen) => chosen,
            Err(error) => {
                // The client may fix the list and complete again.
                let _ = bucket.rename(&claimed, &bucket, &dir);
                return Err(error);
            }
        };
        match self.commit_upload(&bucket, bucket_name, key, stored, &claimed, &chosen) {
            Ok(info) => {
                // Only space is lost if this fails: the upload no longer exists by its id.
                let _ = bucket.remove_dir_all(&claimed);
                Ok(info)
            }
            Err(error) => {
                // Say, a full disk: the client may complete again once it is fixed.
                let _ = bucket.rename(&claimed, &bucket, &dir);
                Err(error)
            }
        }
    }

    /// One page of the uploads in progress.
    pub fn list_multipart_uploads(
        &self,
        bucket_name: &str,
        query: &UploadQuery,
    ) -> Result<UploadPage> {
        let bucket = self.bucket(bucket_name)?;
        let prefix = query.prefix.as_deref().unwrap_or("");
        let delimiter = query.delimiter.as_deref();
        let mut all = Vec::new();
        let entries = match bucket.read_dir("uploads") {
            Ok(entries) => entries,
            Err(error) if error.kind() == io::ErrorKind::NotFound => {
                return Ok(UploadPage::default());
            }
            Err(error) => return Err(S3Error::io("listing uploads")(error).into()),
        };
        for entry in entries {
            let entry = entry.map_err(S3Error::io("listing uploads"))?;
            let upload_id = entry.file_name().to_string_lossy().into_owned();
            if !is_upload_id(&upload_id) {
                continue;
            }
            let record = format!("{}/upload.json", upload_dir(&upload_id));
            if let Some(stored) = read_json::<StoredUpload>(&bucket, &record)?
                && stored.key.starts_with(prefix)
            {
                all.push(UploadInfo {
                    upload_id,
                    key: stored.key,
                    initiated: stored.initiated,
                });
            }
        }
        all.sort_by(|a, b| {
            (&a.key, &a.initiated, &a.upload_id).cmp(&(&b.key, &b.initiated, &b.upload_id))
        });

        let start = match (
            query.key_marker.as_deref(),
            query.upload_id_marker.as_deref(),
        ) {
            (None, _) => 0,
            (Some(key), Some(upload_id)) => all
                .iter()
                .position(|u| u.key == key && u.upload_id == upload_id)
                .map(|at| at + 1)
                .unwrap_or_else(|| all.partition_point(|u| u.key.as_str() <= key)),
            (Some(key), None) => {
                let after = listing::resume_after_marker(key, prefix, delimiter);
                all.partition_point(|u| u.key.as_str() <= after.as_str())
            }
        };
        let grouped = listing::group(
            all.into_iter().skip(start),
            |u| &u.key,
            prefix,
            delimiter,
            query.max_uploads.clamp(1, 1000),
        );
        let (next_key_marker, next_upload_id_marker) = match grouped.truncated {
            false => (None, None),
            true if grouped.last_was_prefix => (grouped.common_prefixes.last().cloned(), None),
            true => match grouped.entries.last() {
                Some(last) => (Some(last.key.clone()), Some(last.upload_id.clone())),
                None => (None, None),
            },
        };
        Ok(UploadPage {
            uploads: grouped.entries,
            common_prefixes: grouped.common_prefixes,
            next_key_marker,
            next_upload_id_marker,
        })
    }

    /// Join the chosen parts of the claimed upload into `tmp/`, then commit them as a version.
    fn commit_upload(
        &self,
        bucket: &Dir,
        bucket_name: &str,
        key: &str,
        stored: StoredUpload,
        claimed: &str,
        chosen: &[(u32, StoredPart)],
    ) -> Result<ObjectInfo> {
        let data_id = uuid::Uuid::new_v4().simple().to_string();
        let tmp_name = format!("tmp/{data_id}");
        let joined = join_parts(bucket, claimed, chosen, &tmp_name);
        let data = match joined {
            Ok(data) => data,
            Err(error) => {
                let _ = bucket.remove_file(&tmp_name);
                return Err(error.into());
            }
        };
        let options = PutOptions {
            content_type: stored.content_type,
            cache_control: stored.cache_control,
            canned_acl: stored.canned_acl,
            kms_key_id: stored.kms_key_id,
            metadata: stored.metadata,
        };
        Ok(self.commit_version(bucket, bucket_name, key, &data_id, data, options)?)
    }
}

impl StoredPart {
    fn info(&self, part_number: u32) -> PartInfo {
        PartInfo {
            part_number,
            etag: self.etag.clone(),
            size: self.size,
            last_modified: self.last_modified.clone(),
        }
    }
}

fn upload_dir(upload_id: &str) -> String {
    format!("uploads/{upload_id}")
}

/// Upload ids are ours (a UUID's 32 hex digits), so anything else names no upload and never
/// reaches a path.
fn is_upload_id(upload_id: &str) -> bool {
    upload_id.len() == 32
        && upload_id
            .bytes()
            .all(|b| matches!(b, b'0'..=b'9' | b'a'..=b'f'))
}

fn check_part_number(part_number: u32) -> Result<()> {
    if (1..=MAX_PART_NUMBER).contains(&part_number) {
        Ok(())
    } else {
        Err(S3Error::InvalidArgument(format!(
            "part numbers are 1 to {MAX_PART_NUMBER}, not {part_number}"
        ))
        .into())
    }
}

/// The upload's record, if it exists and is for `key` (S3 answers NoSuchUpload otherwise).
fn read_upload(bucket: &Dir, dir: &str, key: &str, upload_id: &str) -> Result<StoredUpload> {
    validate_key(key)?;
    let no_such_upload = || MultipartError::NoSuchUpload(upload_id.to_string());
    if !is_upload_id(upload_id) {
        return Err(no_such_upload());
    }
    let stored: StoredUpload =
        read_json(bucket, &format!("{dir}/upload.json"))?.ok_or_else(no_such_upload)?;
    if stored.key != key {
        return Err(no_such_upload());
    }
    Ok(stored)
}

/// Every part record of an upload, by part number.
fn read_parts(bucket: &Dir, dir: &str) -> Result<Vec<(u32, StoredPart)>> {
    let entries = bucket
        .read_dir(dir)
        .map_err(S3Error::io(format!("listing the parts in {dir}")))?;
    let mut parts = Vec::new();
    for entry in entries {
        let entry = entry.map_err(S3Error::io(format!("listing the parts in {dir}")))?;
        let name = entry.file_name().to_string_lossy().into_owned();
        let Some(number) = name
            .strip_suffix(".json")
            .and_then(|n| n.parse::<u32>().ok())
        else {
            continue;
        };
        if let Some(part) = read_json::<StoredPart>(bucket, &format!("{dir}/{name}"))? {
            parts.push((number, part));
        }
    }
    parts.sort_by_key(|(number, _)| *number);
    Ok(parts)
}

/// The uploaded parts `wanted` names, checked as S3 checks them.
fn choose_parts(
    bucket: &Dir,
    dir: &str,
    wanted: &[CompletedPart],
) -> Result<Vec<(u32, StoredPart)>> {
    if wanted.is_empty() {
        return Err(MultipartError::InvalidPart(
            "name at least one part to complete an upload".into(),
        ));
    }
    if wanted
        .windows(2)
        .any(|pair| pair[0].part_number >= pair[1].part_number)
    {
        return Err(MultipartError::InvalidPartOrder(
            "the parts must be listed in ascending order of part number, each once".into(),
        ));
    }
    let mut uploaded = read_parts(bucket, dir)?;
    let mut chosen = Vec::with_capacity(wanted.len());
    for (i, part) in wanted.iter().enumerate() {
        let found = uploaded
            .iter()
            .position(|(number, _)| *number == part.part_number)
            .map(|at| uploaded.swap_remove(at));
        let Some((number, stored)) = found else {
            return Err(MultipartError::InvalidPart(format!(
                "part {} was not uploaded",
                part.part_number
            )));
        };
        if unquoted(&stored.etag) != unquoted(&part.etag) {
            return Err(MultipartError::InvalidPart(format!(
                "part {number} has ETag {}, not {}",
                stored.etag, part.etag
            )));
        }
        if i + 1 < wanted.len() && stored.size < MIN_PART_SIZE {
            return Err(MultipartError::EntityTooSmall(format!(
                "part {number} is {} bytes; every part but the last must be at least {MIN_PART_SIZE} bytes",
                stored.size
            )));
        }
        chosen.push((number, stored));
    }
    let total: u64 = chosen.iter().map(|(_, part)| part.size).sum();
    if total > MAX_OBJECT_SIZE {
        return Err(S3Error::EntityTooLarge(format!(
            "the parts add up to {total} bytes, more than the {MAX_OBJECT_SIZE} an object may hold"
        ))
        .into());
    }
    Ok(chosen)
}

/// Concatenate the parts into `target` (synced) and compute the multipart ETag.
fn join_parts(
    bucket: &Dir,
    dir: &str,
    parts: &[(u32, StoredPart)],
    target: &str,
) -> std::result::Result<StoredData, S3Error> {
    let context = || format!("joining the parts into {target}");
    let mut out = bucket
        .create(target)
        .map_err(S3Error::io(context()))?
        .into_std();
    let mut digests = Md5::new();
    let mut size = 0;
    for (number, part) in parts {
        let mut file = bucket
            .open(format!("{dir}/{}", part.data))
            .map_err(S3Error::io(format!("reading part {number}")))?
            .into_std();
        // File to file: the kernel copies (copy_file_range) without passing through here.
        size += io::copy(&mut file, &mut out).map_err(S3Error::io(context()))?;
        let binary = hex::decode(unquoted(&part.etag)).map_err(|e| S3Error::Io {
            context: format!("the ETag of part {number}"),
            error: io::Error::new(io::ErrorKind::InvalidData, e),
        })?;
        digests.update(binary);
    }
    out.sync_all().map_err(S3Error::io(context()))?;
    let etag = format!("\"{}-{}\"", hex::encode(digests.finalize()), parts.len());
    Ok(StoredData { etag, size })
}

fn unquoted(etag: &str) -> &str {
    etag.trim_matches('"')
}
