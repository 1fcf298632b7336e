//! SSM parameters and Secrets Manager secrets from the operator's secrets file (the
//! `secrets` import, granted by the operator). The host masks every value it hands out in the
//! action's log and result.

use crate::bindings::sandpipe::action::secrets as host;

pub use host::Error;

pub fn parameter(name: &str) -> Result<String, Error> {
    host::get_parameter(name)
}

/// A secret's SecretString, by name or ARN.
pub fn secret(secret_id: &str) -> Result<String, Error> {
    host::get_secret(secret_id)
}
