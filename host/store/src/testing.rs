//! Test helpers other crates' tests share. Not part of the API.

use std::collections::HashSet;
use std::io::{self, Write};

use zip::ZipWriter;
use zip::write::SimpleFileOptions;

/// A zip of `(name, kind)` entries: 'f' file, 'd' directory, 'l' link. The zip crate
/// will not write a name twice, as hostile tools do: a repeated name is written as a
/// placeholder of the same length and patched in the bytes afterwards.
pub fn zip_of(entries: &[(&str, char)]) -> Vec<u8> {
    let mut zip = ZipWriter::new(io::Cursor::new(Vec::new()));
    let options = SimpleFileOptions::default();
    let mut seen = HashSet::new();
    let mut patches = Vec::new();
    for (name, kind) in entries {
        let written = if seen.insert(*name) {
            name.to_string()
        } else {
            let placeholder = format!("{}#", &name[..name.len() - 1]);
            patches.push((placeholder.clone(), name.to_string()));
            placeholder
        };
        match kind {
            'f' => {
                zip.start_file(written.as_str(), options).unwrap();
                zip.write_all(b"contents").unwrap();
            }
            'd' => zip.add_directory(written.as_str(), options).unwrap(),
            _ => zip
                .add_symlink(written.as_str(), "elsewhere", options)
                .unwrap(),
        }
    }
    let mut bytes = zip.finish().unwrap().into_inner();
    for (placeholder, name) in patches {
        let (from, to) = (placeholder.as_bytes(), name.as_bytes());
        let mut at = 0;
        while let Some(found) = bytes[at..].windows(from.len()).position(|w| w == from) {
            bytes[at + found..at + found + to.len()].copy_from_slice(to);
            at += found + to.len();
        }
    }
    bytes
}
