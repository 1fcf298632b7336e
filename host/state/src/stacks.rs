//! Local CloudFormation stacks: what a `Deploy/AWS/CloudFormation/1` action planned for a
//! stack name (its resolved parameters, resources and outputs, as JSON the engine writes),
//! and the change sets CHANGE_SET_REPLACE made and CHANGE_SET_EXECUTE applies. Nothing here
//! was deployed anywhere; the engine decides what a plan is, the store only keeps it.

use rusqlite::{OptionalExtension, params};

use crate::db::{Database, Result};
use crate::record::now;

pub struct Stacks<'a>(pub(crate) &'a Database);

/// Stack sets are kept beside the stacks, under this prefix: a stack's name (letters,
/// digits, hyphens; an instance's `Set/account/region`) never holds a colon.
const STACK_SET_PREFIX: &str = "stack-set:";

/// A stored stack or change set: its plan (JSON) and when it was stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredPlan {
    pub plan: String,
    pub stored: String,
}

impl Stacks<'_> {
    /// The stack's current plan.
    pub fn get(&self, stack: &str) -> Result<Option<StoredPlan>> {
        if stack.starts_with(STACK_SET_PREFIX) {
            return Ok(None);
        }
        self.stored(stack)
    }

    /// The stack set `name` as the engine stored it (its template and parameters).
    pub fn get_stack_set(&self, name: &str) -> Result<Option<StoredPlan>> {
        self.stored(&format!("{STACK_SET_PREFIX}{name}"))
    }

    /// Keep stack set `name`.
    pub fn put_stack_set(&self, name: &str, set: &str) -> Result<()> {
        self.put(&format!("{STACK_SET_PREFIX}{name}"), set)
    }

    fn stored(&self, key: &str) -> Result<Option<StoredPlan>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    "SELECT plan, updated FROM stacks WHERE name = ?1",
                    [key],
                    |row| {
                        Ok(StoredPlan {
                            plan: row.get(0)?,
                            stored: row.get(1)?,
                        })
                    },
                )
                .optional()
        })
    }

    /// Make `plan` the stack's current plan.
    pub fn put(&self, stack: &str, plan: &str) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO stacks (name, plan, updated) VALUES (?1, ?2, ?3) \
                 ON CONFLICT (name) DO UPDATE SET plan = ?2, updated = ?3",
                params![stack, plan, now()],
            )
            .map(drop)
    }

    /// Forget the stack and its change sets, together; whether there was one.
    pub fn delete(&self, stack: &str) -> Result<bool> {
        self.0.transaction(|transaction| {
            transaction.execute("DELETE FROM change_sets WHERE stack = ?1", [stack])?;
            transaction
                .execute("DELETE FROM stacks WHERE name = ?1", [stack])
                .map(|n| n > 0)
        })
    }

    /// Every stack's name, by name (the stack sets are not stacks).
    pub fn names(&self) -> Result<Vec<String>> {
        self.0.with(|connection| {
            connection
                .prepare(
                    "SELECT name FROM stacks WHERE substr(name, 1, length(?1)) != ?1 \
                     ORDER BY name",
                )?
                .query_map([STACK_SET_PREFIX], |row| row.get(0))?
                .collect()
        })
    }

    /// Keep change set `name` of `stack` (replacing one of that name).
    pub fn put_change_set(&self, stack: &str, name: &str, plan: &str) -> Result<()> {
        self.0
            .execute(
                "INSERT INTO change_sets (stack, name, plan, created) VALUES (?1, ?2, ?3, ?4) \
                 ON CONFLICT (stack, name) DO UPDATE SET plan = ?3, created = ?4",
                params![stack, name, plan, now()],
            )
            .map(drop)
    }

    /// Take change set `name` of `stack` out, to apply it: one taker only, even when two
    /// executions ask at once.
    pub fn take_change_set(&self, stack: &str, name: &str) -> Result<Option<StoredPlan>> {
        self.0.transaction(|transaction| {
            transaction
                .query_row(
                    "DELETE FROM change_sets WHERE stack = ?1 AND name = ?2 RETURNING plan, created",
                    params![stack, name],
                    |row| {
                        Ok(StoredPlan {
                            plan: row.get(0)?,
                            stored: row.get(1)?,
                        })
                    },
                )
                .optional()
        })
    }
}
