//! Reading a bundle back, before any of it is kept: every entry a plain file on a plain
//! relative path, listed in the manifest with its size and SHA-256 and matching them, and
//! the whole read under a byte budget (tar holds a long name or an extended header whole in
//! memory before any entry is seen).

use std::cell::Cell;
use std::fs::File;
use std::io::{self, BufReader, BufWriter, Read, Write};
use std::path::Path;
use std::rc::Rc;

use anyhow::{Context, bail, ensure};

use super::bundle::{
    BUNDLE_FORMAT, BundleManifest, MANIFEST, MAX_DOCUMENT_BYTES, MAX_ENTRIES, MAX_ENTRY_BYTES,
    safe_path,
};
use crate::artifacts::HashingReader;

/// Whether `bundle` begins as a bundle does (zstd's magic), so that what is plainly not one
/// is refused before anything, the state directory included, is made for it.
pub fn check_bundle_header(bundle: &Path) -> anyhow::Result<()> {
    let mut file = File::open(bundle).context("cannot read it")?;
    let mut magic = [0u8; 4];
    let zstd = file.read_exact(&mut magic).is_ok() && magic == [0x28, 0xb5, 0x2f, 0xfd];
    ensure!(
        zstd,
        "not a sandpipe bundle (one is a zstd-compressed tar, as `sandpipe export` writes)"
    );
    Ok(())
}

/// What tar adds around an entry at the most that sandpipe's bundles use: its header, a
/// long-name header and its name, and padding.
const TAR_OVERHEAD: u64 = 8 << 10;

/// A reader that fails past its budget (which may be raised as it goes).
struct Budgeted<R> {
    inner: R,
    read: u64,
    budget: Rc<Cell<u64>>,
}

impl<R: Read> Read for Budgeted<R> {
    fn read(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        let left = self.budget.get().saturating_sub(self.read);
        if left == 0 {
            return Err(io::Error::other(
                "the bundle holds more than its manifest lists",
            ));
        }
        let want = buf.len().min(usize::try_from(left).unwrap_or(usize::MAX));
        let got = self.inner.read(&mut buf[..want])?;
        self.read += got as u64;
        Ok(got)
    }
}

/// Read and check every entry into `dir`; the manifest when all are as it says.
pub(super) fn unpack(bundle: &Path, dir: &Path) -> anyhow::Result<BundleManifest> {
    check_bundle_header(bundle)?;
    let file = File::open(bundle).context("cannot read it")?;
    let decoder = zstd::stream::read::Decoder::new(BufReader::new(file))
        .context("not a zstd-compressed bundle")?;
    // What the archive may decompress to: tar holds a long name or an extended header whole
    // in memory before sandpipe sees the entry, so the bytes read are bounded — by a
    // manifest's worth until the manifest is read, then by what it lists.
    let budget = Rc::new(Cell::new(MAX_DOCUMENT_BYTES + TAR_OVERHEAD));
    let decoder = Budgeted {
        inner: decoder,
        read: 0,
        budget: Rc::clone(&budget),
    };
    let mut archive = tar::Archive::new(decoder);
    let mut manifest: Option<BundleManifest> = None;
    let mut seen = 0usize;
    for entry in archive.entries().context("not a tar archive")? {
        let entry = entry.context("a damaged tar entry")?;
        let path = entry
            .path()
            .ok()
            .and_then(|p| p.to_str().map(str::to_string))
            .unwrap_or_default();
        ensure!(
            entry.header().entry_type() == tar::EntryType::Regular,
            "entry '{}' is not a plain file",
            path.escape_debug()
        );
        ensure!(
            safe_path(&path),
            "entry '{}' is not a plain relative path",
            path.escape_debug()
        );
        seen += 1;
        ensure!(seen <= MAX_ENTRIES, "more than {MAX_ENTRIES} entries");
        let Some(manifest) = &manifest else {
            ensure!(
                path == MANIFEST,
                "the first entry is '{path}', not {MANIFEST}"
            );
            let mut text = Vec::new();
            entry
                .take(MAX_DOCUMENT_BYTES + 1)
                .read_to_end(&mut text)
                .context("reading the manifest")?;
            ensure!(
                text.len() as u64 <= MAX_DOCUMENT_BYTES,
                "the manifest is too large"
            );
            let read: BundleManifest =
                serde_json::from_slice(&text).context("reading the manifest")?;
            ensure!(
                read.format == BUNDLE_FORMAT,
                "format '{}' is not {BUNDLE_FORMAT}",
                read.format
            );
            ensure!(
                read.entries.len() < MAX_ENTRIES,
                "more than {MAX_ENTRIES} entries"
            );
            // Every name the manifest gives is later joined to a directory: each must be
            // the plain relative path its entry has (checked above), and each size bounded.
            let mut total = 0u64;
            for (name, entry) in &read.entries {
                ensure!(
                    safe_path(name),
                    "the manifest names '{}', not a plain relative path",
                    name.escape_debug()
                );
                ensure!(
                    entry.size <= MAX_ENTRY_BYTES,
                    "entry '{name}' is larger than {MAX_ENTRY_BYTES} bytes"
                );
                total = total
                    .checked_add(entry.size)
                    .context("the manifest's sizes add up past what a disk holds")?;
            }
            for (action_type, path) in &read.components {
                ensure!(
                    path.starts_with("components/") && read.entries.contains_key(path),
                    "the component of {action_type} is '{}', not one of the bundle's components",
                    path.escape_debug()
                );
            }
            budget.set(
                total
                    .saturating_add(MAX_DOCUMENT_BYTES)
                    .saturating_add((read.entries.len() as u64 + 1).saturating_mul(TAR_OVERHEAD)),
            );
            // Unpacked, then copied into the store: room for both, and the reserve kept.
            if let Some(free) = sandpipe_runtime::sandbox::free_bytes(dir) {
                let needed = total
                    .saturating_mul(2)
                    .saturating_add(crate::DEFAULT_DISK_RESERVE);
                ensure!(
                    free >= needed,
                    "it holds {total} bytes, and importing it needs {needed} bytes free \
                     (twice that, and the disk reserve); {free} are"
                );
            }
            manifest = Some(read);
            continue;
        };
        let Some(expected) = manifest.entries.get(&path) else {
            bail!("entry '{path}' is not in the manifest");
        };
        ensure!(
            expected.size <= MAX_ENTRY_BYTES,
            "entry '{path}' is larger than {MAX_ENTRY_BYTES} bytes"
        );
        let target = dir.join(&path);
        if target.exists() {
            bail!("entry '{path}' appears twice");
        }
        std::fs::create_dir_all(target.parent().expect("entries are below dir"))?;
        let mut out = BufWriter::new(File::create_new(&target)?);
        // One byte more than listed is enough to know it is longer.
        let mut hashing = HashingReader::new(entry.take(expected.size + 1));
        io::copy(&mut hashing, &mut out)
            .with_context(|| format!("reading entry '{path}' (is the bundle cut short?)"))?;
        out.flush()?;
        let size = hashing.passed();
        ensure!(
            size <= expected.size,
            "entry '{path}' is longer than listed"
        );
        ensure!(
            size == expected.size,
            "entry '{path}' is cut short: {size} of its {} bytes (the bundle is truncated)",
            expected.size
        );
        let digest = hashing.finish();
        ensure!(
            size == expected.size && digest == expected.sha256,
            "entry '{path}' has been altered: its SHA-256 is {digest} ({size} bytes), the \
             manifest says {} ({} bytes)",
            expected.sha256,
            expected.size
        );
    }
    let manifest = manifest.with_context(|| format!("no {MANIFEST}"))?;
    for path in manifest.entries.keys() {
        ensure!(dir.join(path).is_file(), "entry '{path}' is missing");
    }
    Ok(manifest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_long_name_past_the_budget_is_refused_before_it_is_held() {
        // A GNU long-name entry of 80 MiB (compressing to a few kilobytes): tar would hold
        // it whole before sandpipe sees an entry, so the reader under tar stops it.
        let size: u64 = 80 << 20;
        let mut header = tar::Header::new_gnu();
        header.set_entry_type(tar::EntryType::GNULongName);
        header.set_path("././@LongLink").unwrap();
        header.set_size(size);
        header.set_mode(0o644);
        header.set_cksum();
        let dir = tempfile::tempdir().unwrap();
        let bundle = dir.path().join("long.tar.zst");
        let mut encoder =
            zstd::stream::write::Encoder::new(File::create(&bundle).unwrap(), 3).unwrap();
        encoder.write_all(header.as_bytes()).unwrap();
        io::copy(&mut io::repeat(b'a').take(size), &mut encoder).unwrap();
        encoder.write_all(&[0; 1024]).unwrap();
        encoder.finish().unwrap();
        let refused = unpack(&bundle, &dir.path().join("unpacked")).unwrap_err();
        assert!(
            format!("{refused:#}").contains("holds more than its manifest lists"),
            "{refused:#}"
        );
    }
}
