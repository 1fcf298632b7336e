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

fn answer(app: &App, caller: &Caller, action: &str, params: &Params) -> Result<String, AwsError> {
    let iam = app.runner.state().iam();
    let existing = |name: &str| iam.role(name)?.ok_or_else(|| no_role(name));
    match action {
        "CreateRole" => {
            let name = params.required("RoleName")?;
            let policy = params.required("AssumeRolePolicyDocument")?;
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
            let document = params.required("PolicyDocument")?;
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
            let arn = params.required("PolicyArn")?;
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
