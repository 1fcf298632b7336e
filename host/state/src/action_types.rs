//! Custom action types registered with CreateCustomActionType: their declaration as the API
//! returned it, by `Category/Custom/Provider/Version`, until DeleteCustomActionType.

use rusqlite::{OptionalExtension, params};

use crate::db::{Database, Result};
use crate::record::now;

pub struct ActionTypes<'a>(pub(crate) &'a Database);

impl ActionTypes<'_> {
    /// Register a type; false when it exists already.
    pub fn create(&self, id: &str, declaration: &str) -> Result<bool> {
        self.0
            .execute(
                "INSERT OR IGNORE INTO action_types (id, declaration, created) VALUES (?1, ?2, ?3)",
                params![id, declaration, now()],
            )
            .map(|n| n > 0)
    }

    /// Replace a registered type's declaration (UpdateActionType); false when unknown.
    pub fn update(&self, id: &str, declaration: &str) -> Result<bool> {
        self.0
            .execute(
                "UPDATE action_types SET declaration = ?2 WHERE id = ?1",
                params![id, declaration],
            )
            .map(|n| n > 0)
    }

    pub fn get(&self, id: &str) -> Result<Option<String>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    "SELECT declaration FROM action_types WHERE id = ?1",
                    [id],
                    |row| row.get(0),
                )
                .optional()
        })
    }

    /// Every registered type: (id, declaration), by id.
    pub fn list(&self) -> Result<Vec<(String, String)>> {
        self.0.with(|connection| {
            connection
                .prepare("SELECT id, declaration FROM action_types ORDER BY id")?
                .query_map([], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }

    pub fn delete(&self, id: &str) -> Result<bool> {
        self.0
            .execute("DELETE FROM action_types WHERE id = ?1", [id])
            .map(|n| n > 0)
    }
}
