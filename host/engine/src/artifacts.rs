//! The artifact store: artifacts live as objects in the pipeline's artifact bucket, under
//! CodePipeline's key layout `<pipeline[:20]>/<artifact[:10]>/<7 characters>`. Output trees are
//! packaged as deterministic zips; an action may instead name one file whose bytes are the
//! artifact (an S3 source's object). Inputs are staged into a sandbox as the stored bytes
//! plus the extracted tree.

use std::io::{self, Read, Seek};
use std::path::Path;
use std::sync::Arc;

use cap_fs_ext::{FollowSymlinks, OpenOptionsFollowExt};
use cap_std::ambient_authority;
use cap_std::fs::{Dir, OpenOptions};
use sandpipe_store::archive::{self, Limits};
use sandpipe_store::{LocalS3, PutOptions};
use sha2::{Digest, Sha256};

use sandpipe_state::record::{ArtifactFormat, ArtifactRecord};

pub struct ArtifactStore {
    s3: Arc<LocalS3>,
    bucket: String,
    limits: Limits,
}

impl ArtifactStore {
    pub fn new(s3: Arc<LocalS3>, bucket: String, limits: Limits) -> Self {
        ArtifactStore { s3, bucket, limits }
    }

    pub fn bucket(&self) -> &str {
        &self.bucket
    }

    /// Where a new artifact of `pipeline` goes: CodePipeline's key layout.
    pub fn new_key(pipeline: &str, artifact: &str) -> String {
        format!(
            "{}/{}/{}",
            truncate(pipeline, 20),
            truncate(artifact, 10),
            &uuid::Uuid::new_v4().simple().to_string()[..7]
        )
    }

    /// Take an object someone else wrote at `key` of the artifact bucket (a job worker's
    /// upload) as output artifact `artifact`: its digest and size, read once.
    pub fn adopt(&self, artifact: &str, key: &str) -> anyhow::Result<ArtifactRecord> {
        let (info, object) = self.s3.open_object(&self.bucket, key, None)?;
        if info.size > self.limits.max_bytes {
            anyhow::bail!("more than {} bytes", self.limits.max_bytes);
        }
        let (sha256, _) = HashingReader::new(object.into_std()).drain()?;
        Ok(ArtifactRecord {
            name: artifact.to_string(),
            bucket: self.bucket.clone(),
            key: key.to_string(),
            sha256,
            size: info.size,
            format: ArtifactFormat::Zip,
            revision: None,
        })
    }

    /// Package output directory `dir` (a zip, or the bytes of `file` inside it) and store it.
    pub fn store_output(
        &self,
        pipeline: &str,
        artifact: &str,
        dir: &Path,
        file: Option<&str>,
        scratch: &Path,
    ) -> anyhow::Result<ArtifactRecord> {
        let root = Dir::open_ambient_dir(dir, ambient_authority())?;
        let (mut blob, format) = match file {
            Some(name) => (
                open_artifact_file(&root, name)?,
                ArtifactFormat::File {
                    name: file_name(name).to_string(),
                },
            ),
            None => {
                let mut zip = tempfile_in(scratch)?;
                archive::pack_dir(&root, &mut zip, &self.limits)?;
                zip.rewind()?;
                (zip, ArtifactFormat::Zip)
            }
        };
        let size = blob.metadata()?.len();
        if size > self.limits.max_bytes {
            anyhow::bail!("more than {} bytes", self.limits.max_bytes);
        }
        let mut hashing = HashingReader::new(&mut blob);
        let key = ArtifactStore::new_key(pipeline, artifact);
        let options = PutOptions {
            content_type: Some("application/zip".into()).filter(|_| format == ArtifactFormat::Zip),
            ..PutOptions::default()
        };
        self.s3.put_object(
            &self.bucket,
            &key,
            &mut hashing,
            options,
            self.limits.max_bytes,
        )?;
        Ok(ArtifactRecord {
            name: artifact.to_string(),
            bucket: self.bucket.clone(),
            key,
            sha256: hashing.finish(),
            size,
            format,
            revision: None,
        })
    }

    /// Put a stored artifact into a sandbox: its bytes at `archive_path`, and its content in
    /// `tree` (extracted when it is a zip, else the one file under its name).
    pub fn stage_input(
        &self,
        record: &ArtifactRecord,
        tree: &Path,
        archive_path: &Path,
    ) -> anyhow::Result<()> {
        let (_, object) = self.s3.open_object(&record.bucket, &record.key, None)?;
        let mut object = object.into_std();
        let mut archive_file = std::fs::File::create_new(archive_path)?;
        let mut hashing = HashingReader::new(&mut object);
        io::copy(&mut hashing, &mut archive_file)?;
        let digest = hashing.finish();
        if digest != record.sha256 {
            anyhow::bail!(
                "artifact '{}' in s3://{}/{} is corrupt: its SHA-256 is {digest}, the record says {}",
                record.name,
                record.bucket,
                record.key,
                record.sha256
            );
        }
        drop(archive_file);
        let tree_dir = Dir::open_ambient_dir(tree, ambient_authority())?;
        let archive_file = std::fs::File::open(archive_path)?;
        match &record.format {
            ArtifactFormat::File { name } if !archive::is_zip(&archive_file) => {
                let mut target = tree_dir.open_with(
                    file_name(name),
                    OpenOptions::new()
                        .write(true)
                        .create_new(true)
                        .follow(FollowSymlinks::No),
                )?;
                io::copy(&mut std::fs::File::open(archive_path)?, &mut target)?;
            }
            _ => {
                archive::extract_zip(archive_file, &tree_dir, &self.limits)?;
            }
        }
        Ok(())
    }
}

/// Open the file an action named as its artifact: a regular file inside the output
/// directory, reached without following any symbolic link.
fn open_artifact_file(root: &Dir, name: &str) -> anyhow::Result<std::fs::File> {
    let path = Path::new(name);
    let plain = path
        .components()
        .all(|c| matches!(c, std::path::Component::Normal(_)));
    if !plain || name.is_empty() {
        anyhow::bail!("'{name}' is not a plain relative path inside the output directory");
    }
    let mut dir = root.try_clone()?;
    let components: Vec<_> = path.components().collect();
    for component in &components[..components.len() - 1] {
        dir = cap_fs_ext::DirExt::open_dir_nofollow(&dir, component.as_os_str())?;
    }
    let leaf = components.last().unwrap().as_os_str();
    let metadata = dir.symlink_metadata(leaf)?;
    if !metadata.is_file() {
        anyhow::bail!("'{name}' is not a regular file");
    }
    let file = dir.open_with(
        leaf,
        OpenOptions::new().read(true).follow(FollowSymlinks::No),
    )?;
    Ok(file.into_std())
}

fn file_name(name: &str) -> &str {
    name.rsplit('/').next().unwrap_or(name)
}

fn truncate(text: &str, max: usize) -> &str {
    match text.char_indices().nth(max) {
        Some((at, _)) => &text[..at],
        None => text,
    }
}

fn tempfile_in(dir: &Path) -> io::Result<std::fs::File> {
    let path = dir.join(format!("pack-{}.zip", uuid::Uuid::new_v4().simple()));
    let file = std::fs::OpenOptions::new()
        .read(true)
        .write(true)
        .create_new(true)
        .open(&path)?;
    // The open handle keeps the data; the name is not needed.
    std::fs::remove_file(&path)?;
    Ok(file)
}

/// Passes bytes through while hashing and counting them.
pub(crate) struct HashingReader<R> {
    inner: R,
    hasher: Sha256,
    bytes: u64,
}

impl<R: Read> HashingReader<R> {
    pub(crate) fn new(inner: R) -> Self {
        HashingReader {
            inner,
            hasher: Sha256::new(),
            bytes: 0,
        }
    }

    /// How many bytes have passed so far.
    pub(crate) fn passed(&self) -> u64 {
        self.bytes
    }

    /// The hex SHA-256 of what passed.
    pub(crate) fn finish(self) -> String {
        hex::encode(self.hasher.finalize())
    }

    /// Read the rest through, and the hex SHA-256 and size of all that passed.
    pub(crate) fn drain(mut self) -> io::Result<(String, u64)> {
        io::copy(&mut self, &mut io::sink())?;
        let bytes = self.bytes;
        Ok((self.finish(), bytes))
    }
}

impl<R: Read> Read for HashingReader<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let read = self.inner.read(buf)?;
        self.hasher.update(&buf[..read]);
        self.bytes += read as u64;
        Ok(read)
    }
}
