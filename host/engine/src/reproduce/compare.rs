//! What differs between two executions' artifacts: every output artifact by its SHA-256,
//! and inside one that differs, every file (added, removed, changed, mode) — read from the
//! zips' central directories, never extracted.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::{BufReader, Read, Seek};

use anyhow::Context;
use sandpipe_state::{ArtifactFormat, ArtifactRecord, ExecutionRecord};
use sandpipe_store::LocalS3;
use sandpipe_store::archive::{EntryKind, EntryListing, Limits, ZipEntries};
use serde::Serialize;

/// One output artifact of one action, in either execution or both.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ArtifactComparison {
    pub stage: String,
    pub action: String,
    pub artifact: String,
    /// Its SHA-256 in the first execution, when it made it.
    pub before: Option<String>,
    pub after: Option<String>,
    /// The files that differ, when both made it and the digests differ.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub files: Vec<FileDifference>,
}

impl ArtifactComparison {
    pub fn same(&self) -> bool {
        self.before.is_some() && self.before == self.after
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum FileChange {
    Added,
    Removed,
    /// Different bytes (or a file that became a link or directory).
    Changed,
    /// The same bytes with other permissions.
    Mode,
}

#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FileDifference {
    pub path: String,
    pub change: FileChange,
    /// `100644 → 100755`, `12 → 14 bytes`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub detail: Option<String>,
    /// A unified diff, for a changed text file small enough (when asked for).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub diff: Option<String>,
}

/// How closely differing artifacts are looked at.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Detail {
    /// Which files differ.
    Files,
    /// And a unified diff of each changed text file of at most [`TEXT_DIFF_BYTES`].
    Text,
}

/// The largest file a text diff reads, on either side.
pub const TEXT_DIFF_BYTES: u64 = 64 * 1024;
/// The most lines of one file's diff shown.
const TEXT_DIFF_LINES: usize = 200;

/// Every output artifact of `before` and `after`, matched by stage, action and name.
pub fn compare_artifacts(
    s3: &LocalS3,
    before: &ExecutionRecord,
    after: &ExecutionRecord,
    detail: Detail,
) -> anyhow::Result<Vec<ArtifactComparison>> {
    type Key = (usize, String, String, String);
    let mut found: BTreeMap<Key, (Option<&ArtifactRecord>, Option<&ArtifactRecord>)> =
        BTreeMap::new();
    for (side, record) in [before, after].into_iter().enumerate() {
        for (s, stage) in record.stages.iter().enumerate() {
            for action in &stage.actions {
                for artifact in &action.output_artifacts {
                    let key = (
                        s,
                        stage.name.clone(),
                        action.name.clone(),
                        artifact.name.clone(),
                    );
                    let entry = found.entry(key).or_default();
                    match side {
                        0 => entry.0 = Some(artifact),
                        _ => entry.1 = Some(artifact),
                    }
                }
            }
        }
    }
    let mut comparisons = Vec::new();
    for ((_, stage, action, artifact), (old, new)) in found {
        let files = match (old, new) {
            (Some(old), Some(new)) if old.sha256 != new.sha256 => {
                file_differences(s3, old, new, detail)
                    .with_context(|| format!("comparing the files of artifact '{artifact}'"))?
            }
            _ => Vec::new(),
        };
        comparisons.push(ArtifactComparison {
            stage,
            action,
            artifact,
            before: old.map(|a| a.sha256.clone()),
            after: new.map(|a| a.sha256.clone()),
            files,
        });
    }
    Ok(comparisons)
}

/// A stored artifact's files by path — a zip's, or the one file of a file artifact — and
/// the zip, opened once, to read any of them from.
struct Files {
    by_path: BTreeMap<String, Entry>,
    zip: Option<ZipEntries<BufReader<File>>>,
}

fn files(s3: &LocalS3, artifact: &ArtifactRecord) -> anyhow::Result<Files> {
    if let ArtifactFormat::File { name } = &artifact.format {
        return Ok(Files {
            by_path: BTreeMap::from([(
                name.clone(),
                Entry::Bytes(artifact.sha256.clone(), artifact.size),
            )]),
            zip: None,
        });
    }
    let (_, file) = s3
        .open_object(&artifact.bucket, &artifact.key, None)
        .with_context(|| format!("reading s3://{}/{}", artifact.bucket, artifact.key))?;
    let mut zip = ZipEntries::open(BufReader::new(file.into_std()), &Limits::default())?;
    let by_path = zip
        .list()?
        .into_iter()
        .filter(|entry| entry.kind != EntryKind::Directory)
        .map(|entry| (entry.path.clone(), Entry::Listed(entry)))
        .collect();
    Ok(Files {
        by_path,
        zip: Some(zip),
    })
}

enum Entry {
    Listed(EntryListing),
    /// A file artifact: its digest and size.
    Bytes(String, u64),
}

impl Entry {
    fn size(&self) -> u64 {
        match self {
            Entry::Listed(entry) => entry.size,
            Entry::Bytes(_, size) => *size,
        }
    }
}

fn file_differences(
    s3: &LocalS3,
    old: &ArtifactRecord,
    new: &ArtifactRecord,
    level: Detail,
) -> anyhow::Result<Vec<FileDifference>> {
    let Files {
        by_path: before,
        zip: mut before_zip,
    } = files(s3, old)?;
    let Files {
        by_path: after,
        zip: mut after_zip,
    } = files(s3, new)?;
    let mut differences = Vec::new();
    for (path, entry) in &before {
        let Some(now) = after.get(path) else {
            differences.push(FileDifference {
                path: path.clone(),
                change: FileChange::Removed,
                detail: None,
                diff: None,
            });
            continue;
        };
        let (change, detail) = match (entry, now) {
            (Entry::Listed(a), Entry::Listed(b))
                if a.kind == b.kind && a.size == b.size && a.crc32 == b.crc32 =>
            {
                if a.mode == b.mode {
                    continue;
                }
                let mode = |m: Option<u32>| m.map(|m| format!("{m:o}")).unwrap_or("-".into());
                (
                    FileChange::Mode,
                    Some(format!("{} → {}", mode(a.mode), mode(b.mode))),
                )
            }
            (Entry::Bytes(a, _), Entry::Bytes(b, _)) if a == b => continue,
            _ if entry.size() != now.size() => (
                FileChange::Changed,
                Some(format!("{} → {} bytes", entry.size(), now.size())),
            ),
            _ => (FileChange::Changed, None),
        };
        let diff = match (level, change, &mut before_zip, &mut after_zip) {
            (Detail::Text, FileChange::Changed, Some(a), Some(b)) => text_diff(a, b, path)?,
            _ => None,
        };
        differences.push(FileDifference {
            path: path.clone(),
            change,
            detail,
            diff,
        });
    }
    for path in after.keys().filter(|path| !before.contains_key(*path)) {
        differences.push(FileDifference {
            path: path.clone(),
            change: FileChange::Added,
            detail: None,
            diff: None,
        });
    }
    differences.sort_by(|a, b| a.path.cmp(&b.path));
    Ok(differences)
}

/// A unified diff of file `path` in two zips, when both sides are UTF-8 text of at most
/// [`TEXT_DIFF_BYTES`].
fn text_diff<R: Read + Seek>(
    old: &mut ZipEntries<R>,
    new: &mut ZipEntries<R>,
    path: &str,
) -> anyhow::Result<Option<String>> {
    let text = |zip: &mut ZipEntries<R>| -> anyhow::Result<Option<String>> {
        Ok(zip
            .read(path, TEXT_DIFF_BYTES)?
            .filter(|bytes| !bytes.contains(&0))
            .and_then(|bytes| String::from_utf8(bytes).ok()))
    };
    let (Some(a), Some(b)) = (text(old)?, text(new)?) else {
        return Ok(None);
    };
    let diff = similar::TextDiff::from_lines(&a, &b)
        .unified_diff()
        .context_radius(3)
        .header(&format!("a/{path}"), &format!("b/{path}"))
        .to_string();
    let lines: Vec<&str> = diff.lines().collect();
    Ok(Some(if lines.len() > TEXT_DIFF_LINES {
        format!(
            "{}\n… ({} more lines)\n",
            lines[..TEXT_DIFF_LINES].join("\n"),
            lines.len() - TEXT_DIFF_LINES
        )
    } else {
        diff
    }))
}
