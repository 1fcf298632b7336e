//! The build's environment, in CodeBuild's order of precedence: the image (runner) defaults,
//! then buildspec `env`, then the project's variables, then the action's
//! `EnvironmentVariables`; then the `CODEBUILD_*` set, which builds cannot override.

use std::collections::{BTreeMap, BTreeSet};

use sandpipe_action_sdk::{Failure, secrets};
use serde::Deserialize;

use crate::buildspec::Env;

/// One variable of a project or of the action's `EnvironmentVariables`.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Variable {
    pub name: String,
    pub value: String,
    #[serde(rename = "type", default = "plaintext")]
    pub kind: String,
}

fn plaintext() -> String {
    "PLAINTEXT".into()
}

/// The action's `EnvironmentVariables` configuration: a JSON list of variables.
pub fn parse_action_variables(json: &str) -> Result<Vec<Variable>, Failure> {
    let deserializer = &mut serde_json::Deserializer::from_str(json);
    serde_path_to_error::deserialize(deserializer).map_err(|e| {
        Failure::configuration(format!(
            "EnvironmentVariables: {}: {} (expected a JSON list of \
             {{\"name\", \"value\", \"type\"}} objects)",
            e.path(),
            e.inner()
        ))
    })
}

/// The environment being built, and which names hold secrets (never exported).
#[derive(Default)]
pub struct Environment {
    pub values: BTreeMap<String, String>,
    pub secret_names: BTreeSet<String>,
}

impl Environment {
    pub fn set(&mut self, name: &str, value: impl Into<String>) {
        self.secret_names.remove(name);
        self.values.insert(name.to_string(), value.into());
    }

    fn set_secret(&mut self, name: &str, value: String) {
        self.values.insert(name.to_string(), value);
        self.secret_names.insert(name.to_string());
    }

    /// buildspec `env.variables`, `env.parameter-store` and `env.secrets-manager`.
    pub fn apply_buildspec(&mut self, env: &Env) -> Result<(), Failure> {
        for (name, value) in &env.variables {
            self.set(name, value.0.clone());
        }
        for (name, parameter) in &env.parameter_store {
            let value = fetch_parameter(parameter, &format!("env.parameter-store.{name}"))?;
            self.set_secret(name, value);
        }
        for (name, reference) in &env.secrets_manager {
            let value = fetch_secret(reference, &format!("env.secrets-manager.{name}"))?;
            self.set_secret(name, value);
        }
        Ok(())
    }

    /// Variables of the project or the action, typed PLAINTEXT, PARAMETER_STORE or
    /// SECRETS_MANAGER.
    pub fn apply_variables(&mut self, variables: &[Variable], origin: &str) -> Result<(), Failure> {
        for variable in variables {
            let place = format!("{origin} variable '{}'", variable.name);
            match variable.kind.as_str() {
                "PLAINTEXT" => self.set(&variable.name, variable.value.clone()),
                "PARAMETER_STORE" => {
                    let value = fetch_parameter(&variable.value, &place)?;
                    self.set_secret(&variable.name, value);
                }
                "SECRETS_MANAGER" => {
                    let value = fetch_secret(&variable.value, &place)?;
                    self.set_secret(&variable.name, value);
                }
                other => {
                    return Err(Failure::configuration(format!(
                        "{place}: type '{other}' is not one of PLAINTEXT, PARAMETER_STORE, \
                         SECRETS_MANAGER"
                    )));
                }
            }
        }
        Ok(())
    }
}

fn fetch_parameter(name: &str, place: &str) -> Result<String, Failure> {
    secrets::parameter(name).map_err(|e| Failure::configuration(format!("{place}: {}", message(e))))
}

fn message(error: secrets::Error) -> String {
    match error {
        secrets::Error::NotFound(m) | secrets::Error::Denied(m) => m,
    }
}

/// A Secrets Manager reference: `secret-id[:json-key[:version-stage[:version-id]]]`, where
/// the secret id may itself be an ARN (with colons).
#[derive(Debug, PartialEq, Eq)]
pub struct SecretReference<'a> {
    pub secret_id: &'a str,
    pub json_key: Option<&'a str>,
    pub version_stage: Option<&'a str>,
    pub version_id: Option<&'a str>,
}

pub fn parse_secret_reference(reference: &str) -> SecretReference<'_> {
    let (secret_id, rest) = if reference.starts_with("arn:") {
        // arn:partition:secretsmanager:region:account:secret:name — seven fields.
        match reference.match_indices(':').nth(6) {
            Some((at, _)) => (&reference[..at], &reference[at + 1..]),
            None => (reference, ""),
        }
    } else {
        match reference.split_once(':') {
            Some((id, rest)) => (id, rest),
            None => (reference, ""),
        }
    };
    let mut fields = rest.split(':').map(|f| Some(f).filter(|f| !f.is_empty()));
    SecretReference {
        secret_id,
        json_key: fields.next().flatten(),
        version_stage: fields.next().flatten(),
        version_id: fields.next().flatten(),
    }
}

fn fetch_secret(reference: &str, place: &str) -> Result<String, Failure> {
    let parsed = parse_secret_reference(reference);
    if parsed.version_id.is_some()
        || parsed
            .version_stage
            .is_some_and(|stage| stage != "AWSCURRENT")
    {
        return Err(Failure::configuration(format!(
            "{place}: the secrets file holds each secret's current value only \
             (AWSCURRENT); '{reference}' asks for another version"
        )));
    }
    let text = secrets::secret(parsed.secret_id)
        .map_err(|e| Failure::configuration(format!("{place}: {}", message(e))))?;
    let Some(key) = parsed.json_key else {
        return Ok(text);
    };
    let json: serde_json::Value = serde_json::from_str(&text).map_err(|_| {
        Failure::configuration(format!(
            "{place}: secret '{}' is not a JSON object, so it has no key '{key}'",
            parsed.secret_id
        ))
    })?;
    match json.get(key) {
        Some(serde_json::Value::String(s)) => Ok(s.clone()),
        Some(other) => Ok(other.to_string()),
        None => Err(Failure::configuration(format!(
            "{place}: secret '{}' has no key '{key}'",
            parsed.secret_id
        ))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_references_split_around_arns() {
        let plain = parse_secret_reference("prod/db:password");
        assert_eq!(plain.secret_id, "prod/db");
        assert_eq!(plain.json_key, Some("password"));
        let arn = parse_secret_reference(
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf:user::v1",
        );
        assert_eq!(
            arn.secret_id,
            "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf"
        );
        assert_eq!(arn.json_key, Some("user"));
        assert_eq!(arn.version_stage, None);
        assert_eq!(arn.version_id, Some("v1"));
        assert_eq!(parse_secret_reference("token").json_key, None);
    }
}
