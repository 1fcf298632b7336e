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
