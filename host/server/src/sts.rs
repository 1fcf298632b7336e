//! STS: GetCallerIdentity (the caller's account, as the endpoint sees it) and AssumeRole
//! (temporary credentials that this endpoint accepts like any other key).

use axum::body::Body;
use axum::http::Response;

use crate::caller::Caller;
use crate::json::AwsError;
use crate::query::{Params, element, respond, respond_error};

const NAMESPACE: &str = "https://sts.amazonaws.com/doc/2011-06-15/";

pub fn handle(caller: &Caller, body: &[u8]) -> Response<Body> {
    let params = Params::parse(body);
    let action = params.action().unwrap_or_default().to_string();
    let result = match action.as_str() {
        "GetCallerIdentity" => Ok(format!(
            "{}{}{}",
            element("Arn", &format!("arn:aws:iam::{}:root", caller.account)),
            element("UserId", &caller.account),
            element("Account", &caller.account)
        )),
        "AssumeRole" => assume_role(caller, &params),
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

fn assume_role(caller: &Caller, params: &Params) -> Result<String, AwsError> {
    let role_arn = params.required("RoleArn")?;
    let session = params.required("RoleSessionName")?;
    let seconds: i64 = params
        .get("DurationSeconds")
        .map(|s| {
            s.parse()
                .map_err(|_| AwsError::new("ValidationError", "DurationSeconds must be a number"))
        })
        .transpose()?
        .unwrap_or(3600);
    let expiration = jiff::Timestamp::now()
        .checked_add(jiff::SignedDuration::from_secs(seconds))
        .map_err(|e| AwsError::new("ValidationError", e.to_string()))?;
    let key: String = uuid::Uuid::new_v4().simple().to_string().to_uppercase();
    let role = role_arn.rsplit('/').next().unwrap_or(role_arn);
    Ok(format!(
        "<Credentials>{}{}{}{}</Credentials><AssumedRoleUser>{}{}</AssumedRoleUser>",
        element("AccessKeyId", &format!("ASIA{}", &key[..16])),
        element(
            "SecretAccessKey",
            &uuid::Uuid::new_v4().simple().to_string()
        ),
        element("SessionToken", &uuid::Uuid::new_v4().simple().to_string()),
        element(
            "Expiration",
            &expiration.strftime("%Y-%m-%dT%H:%M:%SZ").to_string()
        ),
        element("AssumedRoleId", &format!("AROA{}:{session}", &key[16..])),
        element(
            "Arn",
            &format!(
                "arn:aws:sts::{}:assumed-role/{role}/{session}",
                caller.account
            )
        )
    ))
}
