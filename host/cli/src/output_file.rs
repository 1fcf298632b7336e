//! Files a command writes for the user (a provenance statement, a bundle, a built plugin):
//! whole or not at all — written under a temporary name beside their place, then renamed, so
//! a reader never sees half of one and a failure leaves none.

use std::fs::File;
use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::Context;

/// Write `file` with `write`, then put it in place; on any error nothing is left.
pub fn write_whole<T>(
    file: &Path,
    write: impl FnOnce(&mut BufWriter<&mut File>) -> anyhow::Result<T>,
) -> anyhow::Result<T> {
    let dir = file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    let mut temporary = tempfile::NamedTempFile::new_in(dir)
        .with_context(|| format!("writing {}", file.display()))?;
    let value = {
        let mut out = BufWriter::new(temporary.as_file_mut());
        let value = write(&mut out)?;
        out.flush()
            .with_context(|| format!("writing {}", file.display()))?;
        value
    };
    temporary
        .persist(file)
        .with_context(|| format!("writing {}", file.display()))?;
    Ok(value)
}
