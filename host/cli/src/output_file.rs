//! Files a command writes for the user (a provenance statement, a bundle, a built plugin):
//! whole or not at all — written under a temporary name beside their place, then renamed, so
//! a reader never sees half of one and a failure leaves none. `-` is standard output, and a
//! device or a named pipe is written into as it is (never replaced by a file: as root,
//! `-o /dev/null` must not delete `/dev/null`).

use std::io::{BufWriter, Write};
use std::path::Path;

use anyhow::{Context, bail};

/// Whether `file` names standard output.
pub fn is_stdout(file: &Path) -> bool {
    file.as_os_str() == "-"
}

/// Write `file` with `write`, then put it in place; on any error nothing is left. The
/// value `write` gave, and how many bytes it wrote.
pub fn write_whole<T>(
    file: &Path,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<(T, u64)> {
    let shown = file.display();
    if is_stdout(file) {
        let stdout = std::io::stdout();
        return write_counted(BufWriter::new(stdout.lock()), write)
            .context("writing to standard output");
    }
    match std::fs::metadata(file) {
        Ok(metadata) if metadata.is_dir() => {
            bail!("{shown} is a directory: name the file to write")
        }
        // A device or a pipe: the reader is on the other side, and it stays what it is.
        Ok(metadata) if !metadata.is_file() => {
            let opened = std::fs::OpenOptions::new()
                .write(true)
                .open(file)
                .with_context(|| format!("opening {shown}"))?;
            return write_counted(BufWriter::new(opened), write)
                .with_context(|| format!("writing {shown}"));
        }
        _ => {}
    }
    let dir = file
        .parent()
        .filter(|dir| !dir.as_os_str().is_empty())
        .unwrap_or(Path::new("."));
    if !dir.is_dir() {
        bail!(
            "cannot write {shown}: the directory {} does not exist",
            dir.display()
        );
    }
    let mut temporary =
        tempfile::NamedTempFile::new_in(dir).with_context(|| format!("writing {shown}"))?;
    let written = write_counted(BufWriter::new(temporary.as_file_mut()), write)
        .with_context(|| format!("writing {shown}"))?;
    temporary
        .persist(file)
        .map_err(|e| e.error)
        .with_context(|| format!("writing {shown}"))?;
    Ok(written)
}

/// Run `write` into `out`, flush it, and count what went through.
fn write_counted<W: Write, T>(
    out: W,
    write: impl FnOnce(&mut dyn Write) -> anyhow::Result<T>,
) -> anyhow::Result<(T, u64)> {
    let mut counted = Counted {
        inner: out,
        bytes: 0,
    };
    let value = write(&mut counted)?;
    counted.flush()?;
    Ok((value, counted.bytes))
}

struct Counted<W> {
    inner: W,
    bytes: u64,
}

impl<W: Write> Write for Counted<W> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let n = self.inner.write(buf)?;
        self.bytes += n as u64;
        Ok(n)
    }

    fn flush(&mut self) -> std::io::Result<()> {
        self.inner.flush()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_device_is_written_into_and_a_missing_directory_named() {
        let (_, bytes) =
            write_whole(Path::new("/dev/null"), |out| Ok(out.write_all(b"gone")?)).unwrap();
        assert_eq!(bytes, 4);
        use std::os::unix::fs::FileTypeExt;
        let kept = std::fs::metadata("/dev/null").unwrap().file_type();
        assert!(kept.is_char_device());

        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("nodir/out.json");
        let error = write_whole(&missing, |out| Ok(out.write_all(b"x")?)).unwrap_err();
        assert!(
            format!("{error:#}").contains("nodir does not exist"),
            "{error:#}"
        );
        let error = write_whole(dir.path(), |out| Ok(out.write_all(b"x")?)).unwrap_err();
        assert!(format!("{error:#}").contains("is a directory"), "{error:#}");

        let file = dir.path().join("out.json");
        let failed = write_whole::<()>(&file, |out| {
            out.write_all(b"half")?;
            anyhow::bail!("stopped")
        });
        assert!(failed.is_err() && !file.exists());
        write_whole(&file, |out| Ok(out.write_all(b"whole")?)).unwrap();
        assert_eq!(std::fs::read(&file).unwrap(), b"whole");
    }
}
