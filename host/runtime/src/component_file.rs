//! A component as a file: what it says about itself without being compiled — its top-level
//! imports and exports and the plugin manifest `sandpipe action build` embeds as a custom
//! section — and the one change sandpipe makes to one, embedding that manifest.
//!
//! Reading walks the top-level sections only and seeks past nested core modules and
//! components, so looking at an 18 MB Python plugin reads a few kilobytes of it: discovery
//! looks at every installed plugin on every run.

use std::io::{Read, Seek, SeekFrom};
use std::path::Path;

use anyhow::{Context, bail};
use sha2::{Digest, Sha256};
use wasm_encoder::{ComponentSection, CustomSection};
use wasmparser::{Chunk, Encoding, Parser, Payload};

/// The custom section holding a plugin's manifest (JSON).
pub const MANIFEST_SECTION: &str = "sandpipe:manifest";

/// The largest manifest read or written (a manifest is a few kilobytes).
const MAX_MANIFEST: usize = 1 << 20;
/// The largest component the host will read or compile (untrusted input; compiling is
/// costly).
pub const MAX_COMPONENT_BYTES: usize = 64 << 20;

/// What a component file says about itself.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ComponentSummary {
    /// Top-level import names (`sandpipe:action/log@0.1.0`, `wasi:cli/stdin@0.2.9`).
    pub imports: Vec<String>,
    pub exports: Vec<String>,
    /// The embedded manifest's bytes, if it has one.
    pub manifest: Option<Vec<u8>>,
}

/// A top-level section: where it is, and whether it is the manifest.
struct Section {
    start: u64,
    end: u64,
    manifest: bool,
}

/// Summarize the component in `path`, reading only its top-level sections.
pub fn summarize_file(path: &Path) -> anyhow::Result<ComponentSummary> {
    // Bounded as reading whole is: the walk holds at most one top-level section (nested
    // modules are seeked past), and no section is larger than the file.
    component_file_size(path)?;
    let mut file =
        std::fs::File::open(path).with_context(|| format!("opening {}", path.display()))?;
    let mut magic = [0u8; 4];
    if file.read_exact(&mut magic).is_err() || magic != WASM_MAGIC {
        bail!(not_wasm(path));
    }
    file.seek(SeekFrom::Start(0))?;
    walk(std::io::BufReader::new(file))
        .map(|(summary, _)| summary)
        .with_context(|| format!("{} is not a readable WebAssembly component", path.display()))
}

/// Summarize a component held in memory.
pub fn summarize(component: &[u8]) -> anyhow::Result<ComponentSummary> {
    walk(std::io::Cursor::new(component)).map(|(summary, _)| summary)
}

/// `component` with `manifest` as its manifest section, replacing any it had.
pub fn with_manifest(component: &[u8], manifest: &[u8]) -> anyhow::Result<Vec<u8>> {
    if manifest.len() > MAX_MANIFEST {
        bail!("the manifest is larger than {MAX_MANIFEST} bytes");
    }
    let mut out = Vec::with_capacity(component.len() + manifest.len() + 64);
    for part in without_manifest(component)? {
        out.extend_from_slice(part);
    }
    CustomSection {
        name: MANIFEST_SECTION.into(),
        data: manifest.into(),
    }
    .append_to_component(&mut out);
    Ok(out)
}

/// The SHA-256 of `component` without its manifest section: what compiling it depends on,
/// so a plugin rebuilt with only its manifest changed keeps its compiled code.
pub fn code_digest(component: &[u8]) -> [u8; 32] {
    let Ok(parts) = without_manifest(component) else {
        return Sha256::digest(component).into();
    };
    let mut hasher = Sha256::new();
    for part in parts {
        hasher.update(part);
    }
    hasher.finalize().into()
}

/// The bytes of `component` but its manifest section: its header, then every other
/// top-level section in order.
fn without_manifest(component: &[u8]) -> anyhow::Result<Vec<&[u8]>> {
    let (_, sections) = walk(std::io::Cursor::new(component))?;
    let header = sections.first().map_or(component.len() as u64, |s| s.start);
    let mut parts = vec![&component[..header as usize]];
    parts.extend(
        sections
            .iter()
            .filter(|s| !s.manifest)
            .map(|s| &component[s.start as usize..s.end as usize]),
    );
    Ok(parts)
}

/// Read a component file whole, refusing what is not a regular file or is larger than a
/// component may be (a FIFO or `/dev/zero` named as a plugin must not hang or fill memory).
pub fn read_component_file(path: &Path) -> anyhow::Result<Vec<u8>> {
    let size = component_file_size(path)?;
    let mut bytes = Vec::with_capacity(size as usize);
    std::fs::File::open(path)
        .and_then(|file| {
            file.take(MAX_COMPONENT_BYTES as u64 + 1)
                .read_to_end(&mut bytes)
        })
        .with_context(|| format!("reading {}", path.display()))?;
    if bytes.len() > MAX_COMPONENT_BYTES {
        bail!(
            "{} grew past {MAX_COMPONENT_BYTES} bytes as it was read",
            path.display()
        );
    }
    if !bytes.starts_with(WASM_MAGIC) {
        bail!(not_wasm(path));
    }
    Ok(bytes)
}

/// How every WebAssembly file starts.
const WASM_MAGIC: &[u8] = b"\0asm";

fn not_wasm(path: &Path) -> String {
    format!(
        "{} is not a WebAssembly file (it does not start with \\0asm)",
        path.display()
    )
}

/// The size of the component file `path`, when it is a regular file no larger than a
/// component may be.
fn component_file_size(path: &Path) -> anyhow::Result<u64> {
    let metadata =
        std::fs::metadata(path).with_context(|| format!("reading {}", path.display()))?;
    if !metadata.is_file() {
        bail!("{} is not a file", path.display());
    }
    if metadata.len() > MAX_COMPONENT_BYTES as u64 {
        bail!(
            "{} is {} bytes; a component may be at most {MAX_COMPONENT_BYTES}",
            path.display(),
            metadata.len()
        );
    }
    Ok(metadata.len())
}

/// Walk the top-level sections of the component `source` holds.
fn walk<R: Read + Seek>(mut source: R) -> anyhow::Result<(ComponentSummary, Vec<Section>)> {
    let mut parser = Parser::new(0);
    let mut summary = ComponentSummary::default();
    let mut sections = Vec::new();
    // Bytes read and not yet parsed; `offset` is where `buffer[0]` is in the file.
    let mut buffer: Vec<u8> = Vec::new();
    let mut offset: u64 = 0;
    let mut eof = false;
    loop {
        let (consumed, skip, manifest) = match parser.parse(&buffer, eof)? {
            Chunk::NeedMoreData(hint) => {
                let want = usize::try_from(hint)
                    .unwrap_or(usize::MAX)
                    .clamp(4096, 1 << 20);
                let start = buffer.len();
                buffer.resize(start + want, 0);
                let read = source.read(&mut buffer[start..])?;
                buffer.truncate(start + read);
                eof = read == 0;
                continue;
            }
            Chunk::Parsed { consumed, payload } => {
                let mut skip = 0u64;
                let mut manifest = false;
                match payload {
                    Payload::Version { encoding, .. } if encoding != Encoding::Component => {
                        bail!(
                            "it is a core WebAssembly module, not a component: build for \
                             wasm32-wasip2, or wrap it with `wasm-tools component new`"
                        );
                    }
                    Payload::ComponentImportSection(reader) => {
                        for import in reader {
                            summary.imports.push(import?.name.name.to_string());
                        }
                    }
                    Payload::ComponentExportSection(reader) => {
                        for export in reader {
                            summary.exports.push(export?.name.name.to_string());
                        }
                    }
                    Payload::CustomSection(reader) if reader.name() == MANIFEST_SECTION => {
                        if summary.manifest.is_some() {
                            bail!("it has two {MANIFEST_SECTION} sections");
                        }
                        if reader.data().len() > MAX_MANIFEST {
                            bail!("its manifest is larger than {MAX_MANIFEST} bytes");
                        }
                        summary.manifest = Some(reader.data().to_vec());
                        manifest = true;
                    }
                    Payload::ModuleSection {
                        unchecked_range, ..
                    }
                    | Payload::ComponentSection {
                        unchecked_range, ..
                    } => skip = unchecked_range.len() as u64,
                    Payload::End(_) => break,
                    _ => {}
                }
                (consumed, skip, manifest)
            }
        };
        let start = offset;
        buffer.drain(..consumed);
        offset += consumed as u64;
        if skip > 0 {
            match usize::try_from(skip).ok().filter(|&n| n <= buffer.len()) {
                Some(n) => {
                    buffer.drain(..n);
                }
                None => {
                    let beyond = skip - buffer.len() as u64;
                    buffer.clear();
                    let to = source.seek(SeekFrom::Current(i64::try_from(beyond)?))?;
                    let length = source.seek(SeekFrom::End(0))?;
                    if to > length {
                        bail!("a nested module runs past the end of the file");
                    }
                    source.seek(SeekFrom::Start(to))?;
                }
            }
            offset += skip;
        }
        // The header (magic and version) is not a section.
        if start > 0 {
            sections.push(Section {
                start,
                end: offset,
                manifest,
            });
        }
    }
    Ok((summary, sections))
}

#[cfg(test)]
mod tests {
    use super::*;

    const COMPONENT: &str = r#"(component
        (import "sandpipe:action/log@0.1.0" (instance))
        (core module (func (export "f")))
        (export "greeting" (core module 0))
    )"#;

    #[test]
    fn a_manifest_is_embedded_replaced_and_read_back() {
        let plain = wat::parse_str(COMPONENT).unwrap();
        let summary = summarize(&plain).unwrap();
        assert_eq!(summary.imports, ["sandpipe:action/log@0.1.0"]);
        assert_eq!(summary.exports, ["greeting"]);
        assert_eq!(summary.manifest, None);

        let first = with_manifest(&plain, b"{\"name\":\"a\"}").unwrap();
        let second = with_manifest(&first, b"{\"name\":\"b\"}").unwrap();
        let read = summarize(&second).unwrap();
        assert_eq!(read.manifest.as_deref(), Some(&b"{\"name\":\"b\"}"[..]));
        assert_eq!(read.imports, summary.imports);
        // Still a component wasmparser validates, and compiled code keyed without it.
        wasmparser::Validator::new().validate_all(&second).unwrap();
        assert_eq!(code_digest(&first), code_digest(&second));
        assert_eq!(code_digest(&plain), code_digest(&second));
    }

    #[test]
    fn a_file_is_read_section_by_section() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("p.wasm");
        let component = with_manifest(&wat::parse_str(COMPONENT).unwrap(), b"{}").unwrap();
        std::fs::write(&path, &component).unwrap();
        assert_eq!(
            summarize_file(&path).unwrap(),
            summarize(&component).unwrap()
        );
    }

    #[test]
    fn modules_and_garbage_are_refused() {
        let module = wat::parse_str("(module)").unwrap();
        assert!(
            summarize(&module)
                .unwrap_err()
                .to_string()
                .contains("core WebAssembly module")
        );
        assert!(summarize(b"not wasm").is_err());
        let mut cut = wat::parse_str(COMPONENT).unwrap();
        cut.truncate(cut.len() - 3);
        assert!(summarize(&cut).is_err());
    }
}
