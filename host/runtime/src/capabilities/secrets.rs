//! The `secrets` import: SSM parameters and Secrets Manager secrets from the operator's local
//! secrets file. Every value handed out is masked in the action's log and result.

use std::collections::BTreeMap;
use std::sync::Arc;

use crate::bindings::sandpipe::action::secrets::{self as wit, Error};
use crate::capabilities::log::LogCapture;
use crate::capabilities::{Capability, Grant, Setup, Slots};
use crate::state::ActionState;

/// Read the operator's parameters and secrets.
pub const SECRETS: Capability = Capability::named("secrets");

fn setup(setup: &Setup<'_>, slots: &mut Slots) {
    if let Some(values) = setup.grants.get::<SecretValues>() {
        slots.insert(SecretAccess {
            values,
            log: setup.log.clone(),
        });
    }
}

impl Grant for SecretValues {
    const CAPABILITY: Capability = SECRETS;
}

capability_module!(["sandpipe:action/secrets@0.1"], Some(SECRETS), [wit], setup);

/// Parameter and secret values, by name (the operator's secrets file).
#[derive(Debug, Clone, Default)]
pub struct SecretValues {
    pub parameters: BTreeMap<String, String>,
    /// SecretString by secret name.
    pub secrets: BTreeMap<String, String>,
    /// The file they came from; `None` when the operator gave none.
    pub source: Option<String>,
}

impl SecretValues {
    /// Why `key` (e.g. `parameters./app/db`) has no value.
    fn missing(&self, key: &str) -> String {
        match &self.source {
            Some(file) => format!("{file} has no {key}"),
            None => format!(
                "no secrets file was given; pass --secrets <file> with {key} (the local \
                 stand-in for Parameter Store and Secrets Manager)"
            ),
        }
    }

    /// A secret by name or ARN. An ARN's resource is `secret:<name>-<6 random characters>`;
    /// either form of the name finds it.
    pub fn secret(&self, id: &str) -> Option<&String> {
        if let Some(value) = self.secrets.get(id) {
            return Some(value);
        }
        if !id.starts_with("arn:") {
            return None;
        }
        let name = id.splitn(7, ':').nth(6)?;
        self.secrets.get(name).or_else(|| {
            let (base, suffix) = name.rsplit_once('-')?;
            (suffix.len() == 6)
                .then(|| self.secrets.get(base))
                .flatten()
        })
    }
}

struct SecretAccess {
    values: Arc<SecretValues>,
    log: Arc<LogCapture>,
}

granted_access!(SecretAccess, SECRETS, Error);

impl SecretAccess {
    /// Hand out `value`, masking it (and, for a JSON object, each of its values) from now on.
    fn release(&self, value: &str) -> String {
        self.log.add_mask(value);
        if let Ok(serde_json::Value::Object(fields)) = serde_json::from_str(value) {
            for field in fields.values() {
                match field {
                    serde_json::Value::String(text) => self.log.add_mask(text),
                    serde_json::Value::Number(number) => self.log.add_mask(&number.to_string()),
                    _ => {}
                }
            }
        }
        value.to_string()
    }
}

impl ActionState {
    /// Hand out the value `find` finds among the operator's (`key` names it in messages).
    fn secret_value(
        &mut self,
        key: &str,
        find: impl FnOnce(&SecretValues) -> Option<&String>,
    ) -> Result<String, Error> {
        let access = self.granted::<SecretAccess>()?;
        match find(&access.values) {
            Some(value) => Ok(access.release(value)),
            None => Err(Error::NotFound(access.values.missing(key))),
        }
    }
}

impl wit::Host for ActionState {
    async fn get_parameter(&mut self, name: String) -> wasmtime::Result<Result<String, Error>> {
        let key = format!("parameters.{name}");
        Ok(self.secret_value(&key, |values| values.parameters.get(&name)))
    }

    async fn get_secret(&mut self, secret_id: String) -> wasmtime::Result<Result<String, Error>> {
        let key = format!("secrets.{secret_id}");
        Ok(self.secret_value(&key, |values| values.secret(&secret_id)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_are_found_by_name_or_arn() {
        let values = SecretValues {
            parameters: BTreeMap::new(),
            secrets: BTreeMap::from([("prod/db".to_string(), "s3cret".to_string())]),
            source: None,
        };
        assert_eq!(values.secret("prod/db").unwrap(), "s3cret");
        let arn = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db-AbCdEf";
        assert_eq!(values.secret(arn).unwrap(), "s3cret");
        let exact = "arn:aws:secretsmanager:us-east-1:123456789012:secret:prod/db";
        assert_eq!(values.secret(exact).unwrap(), "s3cret");
        assert!(values.secret("prod/other").is_none());
    }
}
