//! Listing a bucket a page at a time: the latest objects (ListObjects, ListObjectsV2) and every
//! version (ListObjectVersions), with S3's prefix, delimiter, markers and page size. The
//! roll-up into common prefixes is one helper, `group`, shared with the upload listing.

use super::{LocalS3, ObjectInfo, Result};

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
    /// Set with `next_start_after`: the page's last key or common prefix, as ListObjects'
    /// `NextMarker` names it (given back as `start_after`, it resumes at the same place).
    pub next_marker: Option<String>,
}

/// A ListObjectVersions request.
#[derive(Debug, Clone, Default)]
pub struct VersionQuery {
    pub prefix: Option<String>,
    pub delimiter: Option<String>,
    /// 1..=1000; versions and common prefixes both count.
    pub max_keys: usize,
    /// Start after this key (or, with `version_id_marker`, after that version of it).
    pub key_marker: Option<String>,
    /// `null` names the null version.
    pub version_id_marker: Option<String>,
}

#[derive(Debug, Clone, Default)]
pub struct VersionPage {
    /// Versions and delete markers, by key, newest first within a key.
    pub versions: Vec<ObjectInfo>,
    pub common_prefixes: Vec<String>,
    /// Set when the listing was cut: pass them back as the markers.
    pub next_key_marker: Option<String>,
    pub next_version_id_marker: Option<String>,
}

/// Sorts after any key: no UTF-8 text sorts after U+10FFFF.
const PAST_EVERY_KEY: char = '\u{10FFFF}';

/// What `start_after`/`key_marker` means on S3: the keys after `marker`, except that a marker
/// which is itself a common prefix (as a previous page's `NextMarker` can be) also skips
/// every key rolled up into it.
pub(super) fn resume_after_marker(marker: &str, prefix: &str, delimiter: Option<&str>) -> String {
    let is_common_prefix = delimiter.is_some_and(|delimiter| {
        !delimiter.is_empty()
            && marker.len() > prefix.len()
            && marker.starts_with(prefix)
            && marker[prefix.len()..]
                .find(delimiter)
                .is_some_and(|at| prefix.len() + at + delimiter.len() == marker.len())
    });
    if is_common_prefix {
        format!("{marker}{PAST_EVERY_KEY}")
    } else {
        marker.to_string()
    }
}

/// One page of sorted entries, with keys sharing a common prefix rolled up into it.
pub(super) struct Grouped<T> {
    pub(super) entries: Vec<T>,
    pub(super) common_prefixes: Vec<String>,
    /// Cut at the page size; `last_was_prefix` says whether the page ended on a prefix.
    pub(super) truncated: bool,
    pub(super) last_was_prefix: bool,
}

/// Take up to `max` entries and common prefixes from `sorted` (already filtered to `prefix`
/// and the markers, in key order). Each entry counts toward `max`, each common prefix once.
pub(super) fn group<T>(
    sorted: impl IntoIterator<Item = T>,
    key_of: impl Fn(&T) -> &str,
    prefix: &str,
    delimiter: Option<&str>,
    max: usize,
) -> Grouped<T> {
    let mut page = Grouped {
        entries: Vec::new(),
        common_prefixes: Vec::new(),
        truncated: false,
        last_was_prefix: false,
    };
    for entry in sorted {
        let key = key_of(&entry);
        let common_prefix = delimiter.filter(|d| !d.is_empty()).and_then(|delimiter| {
            key.get(prefix.len()..)?
                .find(delimiter)
                .map(|at| key[..prefix.len() + at + delimiter.len()].to_string())
        });
        if common_prefix.is_some() && page.common_prefixes.last() == common_prefix.as_ref() {
            continue;
        }
        if page.entries.len() + page.common_prefixes.len() == max {
            page.truncated = true;
            break;
        }
        page.last_was_prefix = common_prefix.is_some();
        match common_prefix {
            Some(common) => page.common_prefixes.push(common),
            None => page.entries.push(entry),
        }
    }
    page
}

impl LocalS3 {
    /// The latest version of every key, in key order (ListObjectsV2).
    pub fn list_objects(&self, bucket_name: &str, query: &ListQuery) -> Result<ListPage> {
        let prefix = query.prefix.as_deref().unwrap_or("");
        let delimiter = query.delimiter.as_deref();
        let start_after = query
            .start_after
            .as_deref()
            .map(|marker| resume_after_marker(marker, prefix, delimiter));
        let mut latest: Vec<ObjectInfo> = self
            .indexes(bucket_name, prefix)?
            .into_iter()
            .filter_map(|index| {
                let newest = index.versions.first()?;
                let after_start = start_after
                    .as_deref()
                    .is_none_or(|after| index.key.as_str() > after);
                (!newest.is_delete_marker() && after_start).then(|| newest.info(&index.key, true))
            })
            .collect();
        latest.sort_by(|a, b| a.key.cmp(&b.key));

        let grouped = group(
            latest,
            |o| &o.key,
            prefix,
            delimiter,
            query.max_keys.clamp(1, 1000),
        );
        // Where the next page starts: the last key returned, or past every key of the last
        // common prefix returned.
        let next_marker = grouped.truncated.then(|| {
            let last = if grouped.last_was_prefix {
                grouped.common_prefixes.last()
            } else {
                grouped.entries.last().map(|o| &o.key)
            };
            last.cloned().unwrap_or_default()
        });
        // Past every key of the last common prefix returned, or after the last key.
        let next_start_after = next_marker
            .as_deref()
            .map(|marker| resume_after_marker(marker, prefix, delimiter));
        Ok(ListPage {
            objects: grouped.entries,
            common_prefixes: grouped.common_prefixes,
            next_start_after,
            next_marker,
        })
    }

    /// Every version and delete marker of keys under `prefix`, by key, newest first.
    pub fn list_versions(&self, bucket_name: &str, prefix: &str) -> Result<Vec<ObjectInfo>> {
        let mut indexes = self.indexes(bucket_name, prefix)?;
        indexes.sort_by(|a, b| a.key.cmp(&b.key));
        // An index keeps its versions newest first: that order is kept as it is, since two
        // versions written within one millisecond share a `last_modified`.
        Ok(indexes
            .into_iter()
            .flat_map(|index| {
                index
                    .versions
                    .iter()
                    .enumerate()
                    .map(|(i, version)| version.info(&index.key, i == 0))
                    .collect::<Vec<_>>()
            })
            .collect())
    }

    /// One page of ListObjectVersions.
    pub fn list_version_page(
        &self,
        bucket_name: &str,
        query: &VersionQuery,
    ) -> Result<VersionPage> {
        let prefix = query.prefix.as_deref().unwrap_or("");
        let delimiter = query.delimiter.as_deref();
        let all = self.list_versions(bucket_name, prefix)?;
        let version_of = |v: &ObjectInfo| v.version_id.as_deref().unwrap_or("null").to_string();
        // `all` is in key order, so where the page starts is a position in it.
        let start = match (
            query.key_marker.as_deref(),
            query.version_id_marker.as_deref(),
        ) {
            (None, _) => 0,
            // After that version of the marker key: the rest of its versions come first.
            (Some(key), Some(version)) => all
                .iter()
                .position(|v| v.key == key && version_of(v) == version)
                .map(|at| at + 1)
                .unwrap_or_else(|| all.partition_point(|v| v.key.as_str() <= key)),
            (Some(key), None) => {
                let after = resume_after_marker(key, prefix, delimiter);
                all.partition_point(|v| v.key.as_str() <= after.as_str())
            }
        };
        let remaining = all.into_iter().skip(start);

        let grouped = group(
            remaining,
            |v| &v.key,
            prefix,
            delimiter,
            query.max_keys.clamp(1, 1000),
        );
        let (next_key_marker, next_version_id_marker) = match grouped.truncated {
            false => (None, None),
            true if grouped.last_was_prefix => (grouped.common_prefixes.last().cloned(), None),
            true => match grouped.entries.last() {
                Some(last) => (Some(last.key.clone()), Some(version_of(last))),
                None => (None, None),
            },
        };
        Ok(VersionPage {
            versions: grouped.entries,
            common_prefixes: grouped.common_prefixes,
            next_key_marker,
            next_version_id_marker,
        })
    }
}
