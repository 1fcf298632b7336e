//! IAM roles as `sandpipe serve` keeps them: stored so pipelines can name them and tools can
//! read them back, never enforced (actions get what the operator grants, not what a policy
//! says).

use rusqlite::{OptionalExtension, params};

use crate::db::{Database, Result};
use crate::record::now;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Role {
    pub name: String,
    pub role_id: String,
    pub path: String,
    pub assume_role_policy: String,
    pub description: Option<String>,
    pub created: String,
}

pub struct Iam<'a>(pub(crate) &'a Database);

fn role(row: &rusqlite::Row<'_>) -> rusqlite::Result<Role> {
    Ok(Role {
        name: row.get(0)?,
        role_id: row.get(1)?,
        path: row.get(2)?,
        assume_role_policy: row.get(3)?,
        description: row.get(4)?,
        created: row.get(5)?,
    })
}

const ROLE_COLUMNS: &str = "name, role_id, path, assume_role_policy, description, created";

impl Iam<'_> {
    /// CreateRole; None when a role of that name exists.
    pub fn create_role(
        &self,
        name: &str,
        path: &str,
        assume_role_policy: &str,
        description: Option<&str>,
    ) -> Result<Option<Role>> {
        // Role ids are 21 characters starting AROA, as IAM makes them.
        let id: String = uuid::Uuid::new_v4()
            .simple()
            .to_string()
            .to_uppercase()
            .chars()
            .take(17)
            .collect();
        let role = Role {
            name: name.to_string(),
            role_id: format!("AROA{id}"),
            path: path.to_string(),
            assume_role_policy: assume_role_policy.to_string(),
            description: description.map(str::to_string),
            created: now(),
        };
        let inserted = self.0.execute(
            &format!(
                "INSERT OR IGNORE INTO iam_roles ({ROLE_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)"
            ),
            params![
                role.name,
                role.role_id,
                role.path,
                role.assume_role_policy,
                role.description,
                role.created
            ],
        )?;
        Ok((inserted > 0).then_some(role))
    }

    pub fn role(&self, name: &str) -> Result<Option<Role>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    &format!("SELECT {ROLE_COLUMNS} FROM iam_roles WHERE name = ?1"),
                    [name],
                    role,
                )
                .optional()
        })
    }

    pub fn roles(&self) -> Result<Vec<Role>> {
        self.0.with(|connection| {
            connection
                .prepare(&format!(
                    "SELECT {ROLE_COLUMNS} FROM iam_roles ORDER BY name"
                ))?
                .query_map([], role)?
                .collect()
        })
    }

    /// DeleteRole with its policies; whether it existed.
    pub fn delete_role(&self, name: &str) -> Result<bool> {
        self.0.transaction(|transaction| {
            transaction.execute("DELETE FROM iam_role_policies WHERE role = ?1", [name])?;
            Ok(transaction.execute("DELETE FROM iam_roles WHERE name = ?1", [name])? > 0)
        })
    }

    /// PutRolePolicy (inline; replaces one of the same name) or AttachRolePolicy (managed,
    /// `name` is the policy ARN and `document` empty).
    pub fn put_policy(&self, role: &str, kind: &str, name: &str, document: &str) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO iam_role_policies (role, kind, name, document) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (role, kind, name) DO UPDATE SET document = excluded.document",
                params![role, kind, name, document],
            )
            .map(drop)
    }

    /// DeleteRolePolicy or DetachRolePolicy; whether the policy was there.
    pub fn delete_policy(&self, role: &str, kind: &str, name: &str) -> Result<bool> {
        self.0
            .execute(
                "DELETE FROM iam_role_policies WHERE role = ?1 AND kind = ?2 AND name = ?3",
                params![role, kind, name],
            )
            .map(|deleted| deleted > 0)
    }

    pub fn policy(&self, role: &str, kind: &str, name: &str) -> Result<Option<String>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    "SELECT document FROM iam_role_policies WHERE role = ?1 AND kind = ?2 AND name = ?3",
                    params![role, kind, name],
                    |row| row.get(0),
                )
                .optional()
        })
    }

    pub fn policy_names(&self, role: &str, kind: &str) -> Result<Vec<String>> {
        self.0.with(|connection| {
            connection
                .prepare(
                    "SELECT name FROM iam_role_policies WHERE role = ?1 AND kind = ?2 ORDER BY name",
                )?
                .query_map(params![role, kind], |row| row.get(0))?
                .collect()
        })
    }
}
