//! Webhooks registered with PutWebhook: their definition, the secret part of the URL
//! `sandpipe serve` answers for them, and when one last started an execution.

use rusqlite::{OptionalExtension, params};

use crate::db::{Database, Result};
use crate::record::now;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Webhook {
    pub name: String,
    /// The WebhookDefinition, as PutWebhook was given it (JSON).
    pub definition: String,
    /// The URL's secret path segment.
    pub token: String,
    pub registered: bool,
    pub last_triggered: Option<String>,
}

pub struct Webhooks<'a>(pub(crate) &'a Database);

const COLUMNS: &str = "name, definition, token, registered, last_triggered";

fn webhook(row: &rusqlite::Row<'_>) -> rusqlite::Result<Webhook> {
    Ok(Webhook {
        name: row.get(0)?,
        definition: row.get(1)?,
        token: row.get(2)?,
        registered: row.get(3)?,
        last_triggered: row.get(4)?,
    })
}

impl Webhooks<'_> {
    /// PutWebhook: create, or replace the definition of, a webhook (its URL stays).
    pub fn put(&self, name: &str, definition: &str) -> Result<Webhook> {
        let token = uuid::Uuid::new_v4().simple().to_string();
        self.0.execute(
            "INSERT INTO webhooks (name, definition, token, registered, created) VALUES (?1, ?2, ?3, 0, ?4) \
             ON CONFLICT (name) DO UPDATE SET definition = excluded.definition",
            params![name, definition, token, now()],
        )?;
        Ok(self.get(name)?.expect("just written"))
    }

    pub fn get(&self, name: &str) -> Result<Option<Webhook>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    &format!("SELECT {COLUMNS} FROM webhooks WHERE name = ?1"),
                    [name],
                    webhook,
                )
                .optional()
        })
    }

    pub fn by_token(&self, token: &str) -> Result<Option<Webhook>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    &format!("SELECT {COLUMNS} FROM webhooks WHERE token = ?1"),
                    [token],
                    webhook,
                )
                .optional()
        })
    }

    pub fn list(&self) -> Result<Vec<Webhook>> {
        self.0.with(|connection| {
            connection
                .prepare(&format!("SELECT {COLUMNS} FROM webhooks ORDER BY name"))?
                .query_map([], webhook)?
                .collect()
        })
    }

    pub fn delete(&self, name: &str) -> Result<bool> {
        self.0
            .execute("DELETE FROM webhooks WHERE name = ?1", [name])
            .map(|n| n > 0)
    }

    /// Register/DeregisterWebhookWithThirdParty; false when there is no such webhook.
    pub fn set_registered(&self, name: &str, registered: bool) -> Result<bool> {
        self.0
            .execute(
                "UPDATE webhooks SET registered = ?2 WHERE name = ?1",
                params![name, registered],
            )
            .map(|n| n > 0)
    }

    pub fn triggered(&self, name: &str) -> Result<()> {
        self.0
            .execute(
                "UPDATE webhooks SET last_triggered = ?2 WHERE name = ?1",
                params![name, now()],
            )
            .map(drop)
    }
}
