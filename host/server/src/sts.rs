//! STS: GetCallerIdentity (the caller's account, as the endpoint sees it) and AssumeRole
//! (temporary credentials that this endpoint accepts like any other key).

use axum::body::Body;
use axum::http::Response;

use crate::caller::Caller;
use crate::json::AwsError;
use crate::keys::Keys;
use crate::query::{Params, element, respond, respond_error};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub fn handle(keys: &Keys, caller: &Caller, body: &[u8]) -> Response<Body> {
    let params = Params::parse(body);
    let action = params.action().unwrap_or_default().to_string();
    let result = match action.as_str() {
        "GetCallerIdentity" => Ok(format!(
            "{}{}{}",
            element("Arn", &format!("arn:aws:iam::{}:root", caller.account)),
            element("UserId", &caller.account),
            element("Account", &caller.account)
        )),
        "AssumeRole" => assume_role(keys, caller, &params),
        other => Err(AwsError::new(
            "InvalidAction",
            format!("sandpipe's STS serves GetCallerIdentity and AssumeRole, not '{other}'"),
        )),
    };
    match result {
        Ok(result) => respond(NAMESPACE, &action, &result, caller),
        Err(error) => respond_error(&error, caller),
    }
}

fn assume_role(keys: &Keys, caller: &Caller, params: &Params) -> Result<String, AwsError> {
    let role_arn = params.required("RoleArn")?;
    // arn:<partition>:iam::<account>:role/<path and name>
    let parts: Vec<&str> = role_arn.splitn(6, ':').collect();
    let role_shaped = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[5]
            .strip_prefix("role/")
            .is_some_and(|n| !n.is_empty());
    if !role_shaped {
        return Err(AwsError::new(
            "ValidationError",
            format!("{role_arn} is invalid: a role ARN is arn:aws:iam::ACCOUNT:role/NAME"),
        ));
    }
    let session = params.required("RoleSessionName")?;
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if !(2..=64).contains(&session.len()) || !session.chars().all(allowed) {
        return Err(AwsError::new(
            "ValidationError",
            format!(
                "1 validation error detected: Value '{session}' at 'roleSessionName' failed to \
                 satisfy constraint: Member must have length 2-64 and match [\\w+=,.@-]*"
            ),
        ));
    }
    let seconds: i64 = match params.get("DurationSeconds") {
        None => 3600,
        Some(text) => text
            .parse()
            .ok()
            .filter(|s| (900..=43_200).contains(s))
            .ok_or_else(|| {
                AwsError::new(
                    "ValidationError",
                    format!(
                        "1 validation error detected: Value '{text}' at 'durationSeconds' failed \
                         to satisfy constraint: Member must have value between 900 and 43200"
                    ),
                )
            })?,
    };
    let issued = keys.issue("ASIA", jiff::SignedDuration::from_secs(seconds));
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    let role_id = &uuid::Uuid::new_v4().simple().to_string()[..17];
    Ok(format!(
        "<Credentials>{}{}{}{}</Credentials><AssumedRoleUser>{}{}</AssumedRoleUser>",
        element("AccessKeyId", &issued.access_key),
        element("SecretAccessKey", &issued.secret),
        element("SessionToken", &issued.session_token),
        element(
            "Expiration",
            &issued.expires.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
        ),
        element(
            "AssumedRoleId",
            &format!("AROA{}:{session}", role_id.to_uppercase())
        ),
        element(
            "Arn",
            &format!(
                "arn:aws:sts::{}:assumed-role/{role}/{session}",
                caller.account
            )
        )
    ))
}
