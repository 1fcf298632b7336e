//! Portable run bundles (`sandpipe export`, `sandpipe replay BUNDLE`): one execution's
//! record, the declaration version it ran, every artifact it stored, the components that
//! are not built in, and the files beside its pipeline that a run reads (projects, doubles,
//! policy) — as a tar compressed with zstd. Deterministic: entries sorted, times, owners and
//! modes fixed, so one execution exports the same bytes every time. Verified on import:
//! every entry is listed in the manifest with its SHA-256 and size, is a plain file on a
//! plain relative path, and matches, before anything is kept (`unpack.rs`).

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{self, BufReader, Read, Write};
use std::path::{Path, PathBuf};

use anyhow::{Context, ensure};
use sandpipe_model::plugin_policy::POLICY_FILE_NAMES;
use sandpipe_state::{ExecutionRecord, ProcessOwner, StateStore};
use sandpipe_store::{LocalS3, PutOptions};
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use crate::artifacts::HashingReader;

pub const BUNDLE_FORMAT: &str = "sandpipe-bundle/1";
pub(super) const MANIFEST: &str = "sandpipe-bundle.json";
const RECORD: &str = "record.json";
const DECLARATION: &str = "declaration.json";
/// zstd's default level: fast, and the same bytes for the same input.
const LEVEL: i32 = 3;
/// The largest manifest, record or declaration read into memory.
pub(super) const MAX_DOCUMENT_BYTES: u64 = 64 << 20;
/// The most entries a bundle may hold.
pub(super) const MAX_ENTRIES: usize = 200_000;
/// The largest artifact or file in a bundle (CodePipeline's artifact limit).
pub(super) const MAX_ENTRY_BYTES: u64 = 5 << 30;

/// What a bundle holds, written first in it.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct BundleManifest {
    pub format: String,
    pub execution: String,
    pub pipeline: String,
    pub pipeline_version: u32,
    /// Every other entry: its SHA-256 and size.
    pub entries: BTreeMap<String, EntryDigest>,
    /// The component file of each action type not built in, by entry path.
    pub components: BTreeMap<String, String>,
    /// Configuration values the stored declaration masks: a replay needs the pipeline
    /// file that holds them (`--declared FILE`).
    pub secrets_needed: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EntryDigest {
    pub sha256: String,
    pub size: u64,
}

/// Where an entry's bytes come from when exporting.
enum Content {
    Bytes(Vec<u8>),
    /// A stored artifact, whose digest and size the record gives: read once, as it is
    /// written, and checked against them then.
    Object {
        bucket: String,
        key: String,
        known: EntryDigest,
    },
    File(PathBuf),
}

/// What to put in a bundle besides the record and its artifacts.
#[derive(Debug, Default)]
pub struct ExportInputs {
    /// Files beside the pipeline a run reads, by the name they had there.
    pub pipeline_files: BTreeMap<String, PathBuf>,
    /// The component files of action types not built in, by action type.
    pub components: BTreeMap<String, PathBuf>,
}

/// Write the bundle of execution `execution_id` to `out`.
pub fn export_bundle(
    state: &StateStore,
    s3: &LocalS3,
    execution_id: &str,
    inputs: &ExportInputs,
    out: impl Write,
) -> anyhow::Result<BundleManifest> {
    let record = state.executions().get(execution_id)?;
    let declaration = state
        .executions()
        .declaration(&record.pipeline_name, record.pipeline_version)?;
    let mut contents: BTreeMap<String, Content> = BTreeMap::new();
    contents.insert(
        RECORD.into(),
        Content::Bytes(serde_json::to_vec_pretty(&record)?),
    );
    contents.insert(
        DECLARATION.into(),
        Content::Bytes(declaration.clone().into_bytes()),
    );
    for artifact in record
        .stages
        .iter()
        .flat_map(|stage| &stage.actions)
        .flat_map(|action| &action.output_artifacts)
    {
        contents.insert(
            format!("artifacts/{}", artifact.sha256),
            Content::Object {
                bucket: artifact.bucket.clone(),
                key: artifact.key.clone(),
                known: EntryDigest {
                    sha256: artifact.sha256.clone(),
                    size: artifact.size,
                },
            },
        );
    }
    let mut components = BTreeMap::new();
    for (action_type, file) in &inputs.components {
        let path = format!("components/{}.wasm", digest_of(open_file(file)?)?.sha256);
        components.insert(action_type.clone(), path.clone());
        contents.insert(path, Content::File(file.clone()));
    }
    for (name, file) in &inputs.pipeline_files {
        ensure!(safe_path(name), "'{name}' cannot be a path in a bundle");
        contents.insert(format!("files/{name}"), Content::File(file.clone()));
    }

    let mut entries = BTreeMap::new();
    for (path, content) in &contents {
        let digest = match content {
            Content::Bytes(bytes) => EntryDigest {
                sha256: hex::encode(Sha256::digest(bytes)),
                size: bytes.len() as u64,
            },
            Content::Object { known, .. } => known.clone(),
            Content::File(_) => digest_of(open(s3, content)?)?,
        };
        entries.insert(path.clone(), digest);
    }
    let manifest = BundleManifest {
        format: BUNDLE_FORMAT.into(),
        execution: record.pipeline_execution_id.clone(),
        pipeline: record.pipeline_name.clone(),
        pipeline_version: record.pipeline_version,
        entries,
        components,
        secrets_needed: masked_paths(&serde_json::from_str(&declaration)?),
    };

    let encoder = zstd::stream::write::Encoder::new(out, LEVEL)?;
    let mut tar = tar::Builder::new(encoder);
    let manifest_bytes = serde_json::to_vec_pretty(&manifest)?;
    append(
        &mut tar,
        MANIFEST,
        manifest_bytes.len() as u64,
        &manifest_bytes[..],
    )?;
    for (path, content) in &contents {
        let expected = &manifest.entries[path];
        let mut hashing = HashingReader::new(open(s3, content)?);
        append(&mut tar, path, expected.size, &mut hashing)?;
        let size = hashing.passed();
        let written = EntryDigest {
            sha256: hashing.finish(),
            size,
        };
        // A store object that is not what its record says, or a file changed while it was
        // read, leaves no bundle behind.
        ensure!(
            written == *expected,
            "'{path}' changed or is corrupt: it read as {} bytes with SHA-256 {}, where {} \
             bytes with SHA-256 {} were expected",
            written.size,
            written.sha256,
            expected.size,
            expected.sha256
        );
    }
    tar.into_inner()?.finish()?.flush()?;
    Ok(manifest)
}

fn open(s3: &LocalS3, content: &Content) -> anyhow::Result<Box<dyn Read>> {
    Ok(match content {
        Content::Bytes(bytes) => Box::new(io::Cursor::new(bytes.clone())),
        Content::Object { bucket, key, .. } => {
            let (_, file) = s3
                .open_object(bucket, key, None)
                .with_context(|| format!("reading s3://{bucket}/{key}"))?;
            Box::new(BufReader::new(file.into_std()))
        }
        Content::File(path) => Box::new(open_file(path)?),
    })
}

fn open_file(path: &Path) -> anyhow::Result<BufReader<File>> {
    Ok(BufReader::new(
        File::open(path).with_context(|| format!("reading {}", path.display()))?,
    ))
}

/// One entry with everything but its path and bytes fixed: the same content, the same tar.
fn append<W: Write>(
    tar: &mut tar::Builder<W>,
    path: &str,
    size: u64,
    data: impl Read,
) -> anyhow::Result<()> {
    let mut header = tar::Header::new_ustar();
    header.set_size(size);
    header.set_mode(0o644);
    header.set_mtime(0);
    header.set_uid(0);
    header.set_gid(0);
    header.set_entry_type(tar::EntryType::Regular);
    tar.append_data(&mut header, path, data.take(size))
        .with_context(|| format!("writing '{path}' into the bundle"))?;
    Ok(())
}

/// The digest and size of everything `reader` gives.
fn digest_of(reader: impl Read) -> anyhow::Result<EntryDigest> {
    let (sha256, size) = HashingReader::new(reader).drain()?;
    Ok(EntryDigest { sha256, size })
}

/// The JSON paths of the declaration's masked configuration values.
fn masked_paths(declaration: &serde_json::Value) -> Vec<String> {
    let mut found = Vec::new();
    fn walk(value: &serde_json::Value, path: String, found: &mut Vec<String>) {
        match value {
            serde_json::Value::Object(members) => {
                for (key, member) in members {
                    walk(member, format!("{path}.{key}"), found);
                }
            }
            serde_json::Value::Array(items) => {
                for (i, item) in items.iter().enumerate() {
                    walk(item, format!("{path}[{i}]"), found);
                }
            }
            serde_json::Value::String(text) if text == sandpipe_model::validate::MASKED_SECRET => {
                found.push(path.trim_start_matches('.').to_string());
            }
            _ => {}
        }
    }
    walk(declaration, String::new(), &mut found);
    found
}

/// A path a bundle may hold: relative, of plain names of letters, digits, `.`, `_`, `-`.
pub(super) fn safe_path(path: &str) -> bool {
    !path.is_empty()
        && path.len() <= 1024
        && path.split('/').all(|part| {
            !part.is_empty()
                && part != "."
                && part != ".."
                && part
                    .chars()
                    .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
        })
}

/// Whether `id` has an execution id's shape (a UUID, or any short run of letters, digits
/// and inner hyphens): nothing that could leave the directory it names.
fn is_execution_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !id.starts_with('-')
}

/// A bundle taken into a state directory.
#[derive(Debug)]
pub struct ImportedBundle {
    pub manifest: BundleManifest,
    /// The execution, as recorded where it ran.
    pub record: ExecutionRecord,
    /// Where the declaration was written, with the pipeline's files beside it.
    pub pipeline_file: PathBuf,
    /// The bundled components, by action type.
    pub components: BTreeMap<String, PathBuf>,
    /// Files the bundle brought that no run reads by themselves (its policy).
    pub set_aside: Vec<PathBuf>,
}

/// What a bundled policy file's name gets, so that no run applies it.
const SET_ASIDE: &str = ".from-bundle";

/// Verify the bundle at `bundle` and take it into the state directory: its artifacts into
/// the store where the record says they were, its declaration version and record into the
/// state, its files under `<state-dir>/bundles/<execution>/`.
pub fn import_bundle(
    state: &StateStore,
    s3: &LocalS3,
    state_dir: &Path,
    bundle: &Path,
) -> anyhow::Result<ImportedBundle> {
    let shown = bundle.display().to_string();
    let unpacking = state_dir
        .join("bundles")
        .join(format!(".unpacking-{}", uuid::Uuid::new_v4()));
    std::fs::create_dir_all(&unpacking)?;
    let verified =
        super::unpack::unpack(bundle, &unpacking).with_context(|| format!("{shown}: refused"));
    let manifest = match verified {
        Ok(manifest) => manifest,
        Err(error) => {
            let _ = std::fs::remove_dir_all(&unpacking);
            return Err(error);
        }
    };
    let kept = keep(state, s3, state_dir, &unpacking, manifest)
        .with_context(|| format!("importing {shown}"));
    let _ = std::fs::remove_dir_all(&unpacking);
    kept
}

fn read_document(path: &Path) -> anyhow::Result<Vec<u8>> {
    let mut bytes = Vec::new();
    File::open(path)?
        .take(MAX_DOCUMENT_BYTES + 1)
        .read_to_end(&mut bytes)?;
    ensure!(
        bytes.len() as u64 <= MAX_DOCUMENT_BYTES,
        "{} is too large",
        path.display()
    );
    Ok(bytes)
}

/// Take a verified bundle's contents into the state.
fn keep(
    state: &StateStore,
    s3: &LocalS3,
    state_dir: &Path,
    unpacked: &Path,
    manifest: BundleManifest,
) -> anyhow::Result<ImportedBundle> {
    let mut record: ExecutionRecord =
        serde_json::from_slice(&read_document(&unpacked.join(RECORD))?)
            .context("reading the record")?;
    ensure!(
        record.pipeline_execution_id == manifest.execution
            && record.pipeline_name == manifest.pipeline
            && record.pipeline_version == manifest.pipeline_version,
        "the record is not the manifest's execution"
    );
    // The id names a directory below the state directory.
    let id = &record.pipeline_execution_id;
    ensure!(
        is_execution_id(id),
        "the execution id '{}' is not an execution id",
        id.escape_debug()
    );
    // Every artifact the record names is one the bundle carries (its digest names the
    // entry), and the action logs stayed behind: the record points at nothing else.
    for action in record
        .stages
        .iter_mut()
        .flat_map(|stage| &mut stage.actions)
    {
        for artifact in &action.output_artifacts {
            let carried = artifact.sha256.len() == 64
                && artifact
                    .sha256
                    .bytes()
                    .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
                && manifest
                    .entries
                    .contains_key(&format!("artifacts/{}", artifact.sha256));
            ensure!(
                carried,
                "the record's artifact {} has digest '{}', which is not one the bundle carries",
                artifact.name,
                artifact.sha256.escape_debug()
            );
        }
        action.log_file = None;
    }
    let declaration = String::from_utf8(read_document(&unpacked.join(DECLARATION))?)
        .context("reading the declaration")?;
    serde_json::from_str::<sandpipe_model::PipelineDeclaration>(&declaration)
        .context("reading the declaration")?;

    // The run's files: the declaration as a pipeline file, the files beside it, components.
    let home = state_dir
        .join("bundles")
        .join(&record.pipeline_execution_id);
    std::fs::create_dir_all(&home)?;
    let pipeline_file = home.join("pipeline.json");
    std::fs::write(&pipeline_file, &declaration)?;
    let mut components = BTreeMap::new();
    let mut set_aside = Vec::new();
    for path in manifest.entries.keys() {
        let kept = if let Some(name) = path.strip_prefix("files/") {
            // What the policy allows is the operator's to say, never a bundle's: its policy
            // is kept under another name, where no run reads it.
            if POLICY_FILE_NAMES.contains(&name) {
                let aside = home.join(format!("{name}{SET_ASIDE}"));
                set_aside.push(aside.clone());
                aside
            } else {
                home.join(name)
            }
        } else if let Some(name) = path.strip_prefix("components/") {
            home.join("components").join(name)
        } else {
            continue;
        };
        std::fs::create_dir_all(kept.parent().expect("below home"))?;
        std::fs::copy(unpacked.join(path), &kept)?;
    }
    for (action_type, path) in &manifest.components {
        let name = path.strip_prefix("components/").unwrap_or(path);
        components.insert(action_type.clone(), home.join("components").join(name));
    }

    // The artifacts, where the record says they are.
    for artifact in record
        .stages
        .iter()
        .flat_map(|stage| &stage.actions)
        .flat_map(|action| &action.output_artifacts)
    {
        if s3.bucket_info(&artifact.bucket).is_err() {
            s3.create_bucket(&artifact.bucket)?;
        }
        let stored = s3
            .head_object(&artifact.bucket, &artifact.key, None)
            .is_ok();
        if !stored {
            let mut file = BufReader::new(File::open(
                unpacked.join(format!("artifacts/{}", artifact.sha256)),
            )?);
            s3.put_object(
                &artifact.bucket,
                &artifact.key,
                &mut file,
                PutOptions::default(),
                MAX_ENTRY_BYTES,
            )?;
        }
    }

    state.executions().import_pipeline_version(
        &record.pipeline_name,
        record.pipeline_version,
        &declaration,
        &pipeline_file.display().to_string(),
    )?;
    // Replays read the pipeline's files beside the declaration kept here.
    record.source_file = pipeline_file.display().to_string();
    match state.executions().get(&record.pipeline_execution_id) {
        Ok(_) => {}
        Err(sandpipe_state::StateError::NoSuchExecution { .. }) => {
            state
                .executions()
                .create(&record, &ProcessOwner::current())?;
        }
        Err(error) => return Err(error.into()),
    }
    Ok(ImportedBundle {
        manifest,
        record,
        pipeline_file,
        components,
        set_aside,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_plain_relative_paths_are_kept() {
        assert!(safe_path("artifacts/ab12"));
        assert!(safe_path("files/codebuild/app.json"));
        for bad in [
            "",
            "/etc/passwd",
            "../x",
            "a/../b",
            "a//b",
            "a/./b",
            "a b",
            "a\\b",
        ] {
            assert!(!safe_path(bad), "{bad}");
        }
    }

    #[test]
    fn an_execution_id_cannot_name_another_directory() {
        assert!(is_execution_id("8f14e45f-ceea-467f-a0e6-1c2b3d4e5f60"));
        for bad in ["", "..", "../x", "a/b", "-rf", "a b", &"x".repeat(65)] {
            assert!(!is_execution_id(bad), "{bad}");
        }
    }

    #[test]
    fn masked_values_are_named_by_path() {
        let declaration = serde_json::json!({"stages": [{"actions": [
            {"configuration": {"OAuthToken": "****", "Owner": "me"}}]}]});
        assert_eq!(
            masked_paths(&declaration),
            ["stages[0].actions[0].configuration.OAuthToken"]
        );
    }
}
