//! The `KEY=VALUE` forms of the command line, parsed once by clap into typed values, each
//! with one error message naming what was expected.

use std::path::PathBuf;

use sandpipe_model::ActionTypeId;
use sandpipe_model::execution::{SourceRevision, parse_source_revision};
use sandpipe_runtime::Capability;

/// `text` split at its first `=`, or an error naming the form expected.
fn split<'a>(text: &'a str, form: &str) -> Result<(&'a str, &'a str), String> {
    text.split_once('=')
        .ok_or_else(|| format!("'{text}': expected {form}"))
}

/// `KEY=VALUE`, split at the first `=`.
#[derive(Debug, Clone)]
pub struct KeyValue {
    pub key: String,
    pub value: String,
}

pub fn key_value(text: &str) -> Result<KeyValue, String> {
    let (key, value) = split(text, "KEY=VALUE")?;
    Ok(KeyValue {
        key: key.to_string(),
        value: value.to_string(),
    })
}

/// `--provider TYPE=FILE`: serve an action type with a component.
#[derive(Debug, Clone)]
pub struct ProviderFlag {
    pub action_type: ActionTypeId,
    pub file: PathBuf,
}

pub fn provider(text: &str) -> Result<ProviderFlag, String> {
    let (action_type, file) = split(text, "TYPE=FILE")?;
    Ok(ProviderFlag {
        action_type: action_type.parse()?,
        file: PathBuf::from(file),
    })
}

/// `--grant TYPE=CAP[,CAP]`: capabilities for an action type's provider.
#[derive(Debug, Clone)]
pub struct GrantFlag {
    pub action_type: ActionTypeId,
    pub capabilities: Vec<Capability>,
}

pub fn grant(text: &str) -> Result<GrantFlag, String> {
    let (action_type, capabilities) = split(text, "TYPE=CAP[,CAP]")?;
    Ok(GrantFlag {
        action_type: action_type.parse()?,
        capabilities: capabilities
            .split(',')
            .map(|c| c.trim().parse())
            .collect::<Result<_, _>>()?,
    })
}

/// `--source ACTION=DIR`: a working tree in place of a source action's output.
#[derive(Debug, Clone)]
pub struct SourceFlag {
    pub action: String,
    /// Absolute, so the record says which directory it was wherever it is read.
    pub dir: PathBuf,
}

pub fn source(text: &str) -> Result<SourceFlag, String> {
    let (action, dir) = split(text, "ACTION=DIR")?;
    Ok(SourceFlag {
        action: action.to_string(),
        dir: std::fs::canonicalize(dir).unwrap_or_else(|_| PathBuf::from(dir)),
    })
}

/// `--source-revision actionName=A,revisionType=T,revisionValue=V`.
#[derive(Debug, Clone)]
pub struct SourceRevisionFlag {
    pub action: String,
    pub revision: SourceRevision,
}

pub fn source_revision(text: &str) -> Result<SourceRevisionFlag, String> {
    let (action, revision) = parse_source_revision(text)?;
    Ok(SourceRevisionFlag { action, revision })
}

/// A size: bytes, or a number with a unit (`512MiB`, `10GiB`, `2G`, `100k`; units are
/// powers of 1024 either way, as `du -h` shows them).
pub fn byte_size(text: &str) -> Result<u64, String> {
    let trimmed = text.trim();
    let split = trimmed
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .unwrap_or(trimmed.len());
    let (number, unit) = trimmed.split_at(split);
    let shift = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 0,
        "k" | "kb" | "kib" => 10,
        "m" | "mb" | "mib" => 20,
        "g" | "gb" | "gib" => 30,
        "t" | "tb" | "tib" => 40,
        _ => return Err(format!("'{text}': expected a size such as 512MiB or 10GiB")),
    };
    let number: f64 = number
        .parse()
        .map_err(|_| format!("'{text}': expected a size such as 512MiB or 10GiB"))?;
    let bytes = number * (1u64 << shift) as f64;
    if !(1.0..=u64::MAX as f64).contains(&bytes) {
        return Err(format!("'{text}': a size must be at least one byte"));
    }
    Ok(bytes as u64)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_or_without_units() {
        assert_eq!(byte_size("4096"), Ok(4096));
        assert_eq!(byte_size("512MiB"), Ok(512 << 20));
        assert_eq!(byte_size("1.5g"), Ok(3 << 29));
        assert_eq!(byte_size("10 GB"), Ok(10 << 30));
        assert!(byte_size("ten").unwrap_err().contains("expected a size"));
        assert!(byte_size("5 parsecs").is_err());
        assert!(byte_size("0").is_err());
    }
}
