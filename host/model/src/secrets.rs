//! The operator's local stand-in for SSM Parameter Store and Secrets Manager: one JSON or
//! YAML file given with `--secrets`.
//!
//! ```yaml
//! parameters:
//!   /app/db/host: db.internal
//! secrets:
//!   prod/api-token: s3cr3t
//!   prod/db: {username: admin, password: hunter2}   # a JSON secret
//! ```

use std::collections::BTreeMap;
use std::path::Path;

use serde::Deserialize;

use crate::load::{LoadError, read_document};

#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct SecretsDocument {
    #[serde(default)]
    parameters: BTreeMap<String, String>,
    #[serde(default)]
    secrets: BTreeMap<String, serde_json::Value>,
}

/// Parameter values and secret strings by name.
#[derive(Debug, Default, Clone, PartialEq, Eq)]
pub struct SecretsFile {
    pub parameters: BTreeMap<String, String>,
    pub secrets: BTreeMap<String, String>,
}

#[derive(Debug, thiserror::Error)]
pub enum SecretsError {
    #[error(transparent)]
    Load(#[from] LoadError),
    #[error("{file}: secrets.{name}: a secret is a string or a JSON object")]
    Value { file: String, name: String },
}

pub fn load_secrets(path: &Path) -> Result<SecretsFile, SecretsError> {
    let document: SecretsDocument = read_document(path)?;
    let mut secrets = BTreeMap::new();
    for (name, value) in document.secrets {
        let text = match value {
            serde_json::Value::String(text) => text,
            serde_json::Value::Object(_) => value.to_string(),
            _ => {
                return Err(SecretsError::Value {
                    file: path.display().to_string(),
                    name,
                });
            }
        };
        secrets.insert(name, text);
    }
    Ok(SecretsFile {
        parameters: document.parameters,
        secrets,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strings_and_json_secrets() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secrets.yml");
        std::fs::write(
            &path,
            "parameters:\n  /p: v\nsecrets:\n  token: abc\n  db: {user: admin, password: pw}\n",
        )
        .unwrap();
        let file = load_secrets(&path).unwrap();
        assert_eq!(file.parameters["/p"], "v");
        assert_eq!(file.secrets["token"], "abc");
        assert_eq!(file.secrets["db"], r#"{"password":"pw","user":"admin"}"#);

        std::fs::write(&path, "secrets:\n  n: [1]\n").unwrap();
        assert!(
            load_secrets(&path)
                .unwrap_err()
                .to_string()
                .ends_with("secrets.n: a secret is a string or a JSON object")
        );
        std::fs::write(&path, "secret:\n  n: x\n").unwrap();
        assert!(
            load_secrets(&path)
                .unwrap_err()
                .to_string()
                .contains("unknown field `secret`")
        );
    }
}
