//! IAM: CreateRole, GetRole, DeleteRole, ListRoles, PutRolePolicy, GetRolePolicy,
//! ListRolePolicies, DeleteRolePolicy, AttachRolePolicy, ListAttachedRolePolicies and
//! DetachRolePolicy. Roles and policies are
//! stored so pipelines can name them and tools can read them back; nothing enforces them.

use axum::body::Body;
use axum::http::Response;

use sandpipe_state::Role;

use crate::App;
use crate::caller::Caller;
use crate::json::AwsError;
use crate::query::{Params, element, percent_encode, respond, respond_error};

const NAMESPACE: &str = "https://iam.amazonaws.com/doc/2010-05-08/";
const INLINE: &str = "inline";
const ATTACHED: &str = "attached";

pub fn handle(app: &App, caller: &Caller, body: &[u8]) -> Response<Body> {
    let params = Params::parse(body);
    let action = params.action().unwrap_or_default().to_string();
    let result = tokio::task::block_in_place(|| answer(app, caller, &action, &params));
    match result {
        Ok(result) => respond(NAMESPACE, &action, &result, caller),
        Err(error) => respond_error(&error, caller),
    }
}

fn no_role(name: &str) -> AwsError {
    AwsError::new(
        "NoSuchEntity",
        format!("The role with name {name} cannot be found."),
    )
}

fn role_xml(role: &Role, caller: &Caller) -> String {
    let arn = format!(
        "arn:aws:iam::{}:role{}{}",
        caller.account, role.path, role.name
    );
    // IAM returns the trust policy URL-encoded.
    let policy = percent_encode(&role.assume_role_policy);
    format!(
        "<Role>{}{}{}{}{}{}{}</Role>",
        element("Path", &role.path),
        element("RoleName", &role.name),
        element("RoleId", &role.role_id),
        element("Arn", &arn),
        element("CreateDate", &role.created),
        element("AssumeRolePolicyDocument", &policy),
        role.description
            .as_deref()
            .map(|d| element("Description", d))
            .unwrap_or_default()
    )
}

fn members(names: &[String]) -> String {
    names.iter().map(|n| element("member", n)).collect()
}

/// A role name as IAM takes one: 1 to 64 of `[\w+=,.@-]`.
fn checked_role_name(name: &str) -> Result<&str, AwsError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || "_+=,.@-".contains(c);
    if (1..=64).contains(&name.len()) && name.chars().all(allowed) {
        return Ok(name);
    }
    Err(AwsError::new(
        "ValidationError",
        format!(
            "1 validation error detected: Value '{name}' at 'roleName' failed to satisfy \
             constraint: Member must have length 1-64 and match regular expression pattern: \
             [\\w+=,.@-]+"
        ),
    ))
}

/// A policy document IAM would store: a JSON object with a Statement. (sandpipe stores
/// policies and does not enforce them; one that is not a policy at all is still refused.)
/// Trailing commas are let through, as LocalStack lets them: the LocalStack tutorial this
/// endpoint runs as written (seed 000) has one in its policy.
fn checked_policy(document: &str) -> Result<&str, AwsError> {
    let parsed: Result<serde_json::Map<String, serde_json::Value>, _> =
        serde_json::from_str(&without_trailing_commas(document));
    match parsed {
        Err(_) => Err(AwsError::new(
            "MalformedPolicyDocument",
            "This policy contains invalid Json",
        )),
        Ok(policy) if !policy.contains_key("Statement") => Err(AwsError::new(
            "MalformedPolicyDocument",
            "Syntax errors in policy: it has no Statement",
        )),
        Ok(_) => Ok(document),
    }
}

/// `text` with each comma that only white space separates from a closing `]` or `}` left
/// out (outside strings).
fn without_trailing_commas(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut in_string = false;
    let mut escaped = false;
    for (at, c) in text.char_indices() {
        if in_string {
            if escaped {
                escaped = false;
            } else if c == '\\' {
                escaped = true;
            } else if c == '"' {
                in_string = false;
            }
            out.push(c);
            continue;
        }
        if c == ',' {
            let next = text[at + 1..].trim_start().chars().next();
            if matches!(next, Some(']' | '}')) {
                continue;
            }
        }
        in_string = c == '"';
        out.push(c);
    }
    out
}

/// A managed policy's ARN: `arn:<partition>:iam::<account or aws>:policy/<path and name>`.
fn checked_policy_arn(arn: &str) -> Result<&str, AwsError> {
    let parts: Vec<&str> = arn.splitn(6, ':').collect();
    let valid = parts.len() == 6
        && parts[0] == "arn"
        && parts[2] == "iam"
        && parts[5]
            .strip_prefix("policy/")
            .is_some_and(|n| !n.is_empty());
    if valid {
        Ok(arn)
    } else {
        Err(AwsError::new(
            "InvalidInput",
            format!("ARN {arn} is not valid."),
        ))
    }
}

fn answer(app: &App, caller: &Caller, action: &str, params: &Params) -> Result<String, AwsError> {
    let iam = app.runner.state().iam();
    let existing = |name: &str| iam.role(name)?.ok_or_else(|| no_role(name));
    match action {
        "CreateRole" => {
            let name = checked_role_name(params.required("RoleName")?)?;
            let policy = checked_policy(params.required("AssumeRolePolicyDocument")?)?;
            let path = params.get("Path").unwrap_or("/");
            if !path.starts_with('/') || !path.ends_with('/') {
                return Err(AwsError::new(
                    "ValidationError",
                    "Path must begin and end with /",
                ));
            }
            let role = iam
                .create_role(name, path, policy, params.get("Description"))?
                .ok_or_else(|| {
                    AwsError::new(
                        "EntityAlreadyExists",
                        format!("Role with name {name} already exists."),
                    )
                })?;
            Ok(role_xml(&role, caller))
        }
        "GetRole" => Ok(role_xml(&existing(params.required("RoleName")?)?, caller)),
        "DeleteRole" => {
            let role = existing(params.required("RoleName")?)?;
            // IAM refuses to delete a role that still has policies, inline or attached.
            for (kind, what) in [(INLINE, "delete"), (ATTACHED, "detach all")] {
                if !iam.policy_names(&role.name, kind)?.is_empty() {
                    return Err(AwsError::new(
                        "DeleteConflict",
                        format!("Cannot delete entity, must {what} policies first."),
                    ));
                }
            }
            iam.delete_role(&role.name)?;
            Ok(String::new())
        }
        // DeleteRolePolicy names an inline policy, DetachRolePolicy an attached one.
        "DeleteRolePolicy" | "DetachRolePolicy" => {
            let role = existing(params.required("RoleName")?)?;
            let (kind, key) = match action {
                "DeleteRolePolicy" => (INLINE, "PolicyName"),
                _ => (ATTACHED, "PolicyArn"),
            };
            let name = params.required(key)?;
            if !iam.delete_policy(&role.name, kind, name)? {
                let message = match kind {
                    INLINE => format!("The role policy with name {name} cannot be found."),
                    _ => format!("Policy {name} was not attached."),
                };
                return Err(AwsError::new("NoSuchEntity", message));
            }
            Ok(String::new())
        }
        "ListRoles" => {
            if let Some(max) = params.get("MaxItems")
                && !max.parse::<u32>().is_ok_and(|m| (1..=1000).contains(&m))
            {
                return Err(AwsError::new(
                    "ValidationError",
                    format!(
                        "1 validation error detected: Value '{max}' at 'maxItems' failed to \
                         satisfy constraint: Member must have value between 1 and 1000"
                    ),
                ));
            }
            let roles: String = iam
                .roles()?
                .iter()
                .map(|r| {
                    role_xml(r, caller)
                        .replace("<Role>", "<member>")
                        .replace("</Role>", "</member>")
                })
                .collect();
            Ok(format!(
                "<Roles>{roles}</Roles><IsTruncated>false</IsTruncated>"
            ))
        }
        "PutRolePolicy" => {
            let role = existing(params.required("RoleName")?)?;
            let name = params.required("PolicyName")?;
            let document = checked_policy(params.required("PolicyDocument")?)?;
            iam.put_policy(&role.name, INLINE, name, document)?;
            Ok(String::new())
        }
        "GetRolePolicy" => {
            let role = existing(params.required("RoleName")?)?;
            let name = params.required("PolicyName")?;
            let document = iam.policy(&role.name, INLINE, name)?.ok_or_else(|| {
                AwsError::new(
                    "NoSuchEntity",
                    format!("The role policy with name {name} cannot be found."),
                )
            })?;
            let encoded = percent_encode(&document);
            Ok(format!(
                "{}{}{}",
                element("RoleName", &role.name),
                element("PolicyName", name),
                element("PolicyDocument", &encoded)
            ))
        }
        "ListRolePolicies" => {
            let role = existing(params.required("RoleName")?)?;
            let names = iam.policy_names(&role.name, INLINE)?;
            Ok(format!(
                "<PolicyNames>{}</PolicyNames><IsTruncated>false</IsTruncated>",
                members(&names)
            ))
        }
        "AttachRolePolicy" => {
            let role = existing(params.required("RoleName")?)?;
            let arn = checked_policy_arn(params.required("PolicyArn")?)?;
            iam.put_policy(&role.name, ATTACHED, arn, "")?;
            Ok(String::new())
        }
        "ListAttachedRolePolicies" => {
            let role = existing(params.required("RoleName")?)?;
            let arns = iam.policy_names(&role.name, ATTACHED)?;
            let attached: String = arns
                .iter()
                .map(|arn| {
                    let name = arn.rsplit('/').next().unwrap_or(arn);
                    format!(
                        "<member>{}{}</member>",
                        element("PolicyName", name),
                        element("PolicyArn", arn)
                    )
                })
                .collect();
            Ok(format!(
                "<AttachedPolicies>{attached}</AttachedPolicies><IsTruncated>false</IsTruncated>"
            ))
        }
        other => Err(AwsError::new(
            "InvalidAction",
            format!(
                "sandpipe's IAM serves roles and their policies, not '{}'",
                other
            ),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn policies_are_json_with_a_statement_trailing_commas_aside() {
        assert!(checked_policy(r#"{"Statement": [{"Action": ["s3:*",],},]}"#).is_ok());
        assert!(checked_policy(r#"{"Statement": [{"Sid": "a,]\",}"}]}"#).is_ok());
        for bad in ["notjson", "{bad", "[]", r#"{"Version": "2012-10-17"}"#] {
            assert_eq!(
                checked_policy(bad).unwrap_err().code,
                "MalformedPolicyDocument",
                "{bad}"
            );
        }
        assert!(checked_role_name("bad name/").is_err() && checked_role_name("ok_role-1").is_ok());
        assert!(checked_policy_arn("garbage").is_err());
        assert!(checked_policy_arn("arn:aws:iam::aws:policy/AdministratorAccess").is_ok());
    }
}
