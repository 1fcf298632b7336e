//! Pipelines as resources, as the API sees them: which exist (created through the API or
//! first run from a file — one registry, so the CLI and the server agree), their metadata,
//! deletion, resource tags, and StartPipelineExecution's idempotency tokens.

use rusqlite::{OptionalExtension, params};

use crate::db::{Database, Result};

/// A pipeline's row: its latest version and when it was made and last changed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PipelineMeta {
    pub name: String,
    pub version: u32,
    pub created: String,
    pub updated: String,
}

pub struct Pipelines<'a>(pub(crate) &'a Database);

fn meta(row: &rusqlite::Row<'_>) -> rusqlite::Result<PipelineMeta> {
    Ok(PipelineMeta {
        name: row.get(0)?,
        version: row.get(1)?,
        created: row.get(2)?,
        updated: row.get(3)?,
    })
}

impl Pipelines<'_> {
    pub fn get(&self, name: &str) -> Result<Option<PipelineMeta>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    "SELECT name, version, created, updated FROM pipelines WHERE name = ?1",
                    [name],
                    meta,
                )
                .optional()
        })
    }

    /// Every pipeline, by name, after `after` (a page's last name), at most `limit`.
    pub fn list(&self, after: Option<&str>, limit: usize) -> Result<Vec<PipelineMeta>> {
        self.0.with(|connection| {
            connection
                .prepare(
                    "SELECT name, version, created, updated FROM pipelines \
                     WHERE (?1 IS NULL OR name > ?1) ORDER BY name LIMIT ?2",
                )?
                .query_map(params![after, limit as i64], meta)?
                .collect()
        })
    }

    /// DeletePipeline: the pipeline, its versions, transitions and tokens go; its executions
    /// stay as history (the CLI still lists them). Returns whether it existed.
    pub fn delete(&self, name: &str, arn: &str) -> Result<bool> {
        self.0.transaction(|transaction| {
            let gone = transaction.execute("DELETE FROM pipelines WHERE name = ?1", [name])?;
            transaction.execute("DELETE FROM pipeline_versions WHERE name = ?1", [name])?;
            transaction.execute(
                "DELETE FROM disabled_transitions WHERE pipeline = ?1",
                [name],
            )?;
            transaction.execute("DELETE FROM start_tokens WHERE pipeline = ?1", [name])?;
            transaction.execute("DELETE FROM tags WHERE resource = ?1", [arn])?;
            Ok(gone > 0)
        })
    }

    /// A resource's tags, by key.
    pub fn tags(&self, resource: &str) -> Result<Vec<(String, String)>> {
        self.0.with(|connection| {
            connection
                .prepare("SELECT key, value FROM tags WHERE resource = ?1 ORDER BY key")?
                .query_map([resource], |row| Ok((row.get(0)?, row.get(1)?)))?
                .collect()
        })
    }

    /// Add or replace tags.
    pub fn tag(&self, resource: &str, tags: &[(String, String)]) -> Result<()> {
        self.0.transaction(|transaction| {
            for (key, value) in tags {
                transaction.execute(
                    "INSERT INTO tags (resource, key, value) VALUES (?1, ?2, ?3) \
                     ON CONFLICT (resource, key) DO UPDATE SET value = excluded.value",
                    params![resource, key, value],
                )?;
            }
            Ok(())
        })
    }

    pub fn untag(&self, resource: &str, keys: &[String]) -> Result<()> {
        self.0.transaction(|transaction| {
            for key in keys {
                transaction.execute(
                    "DELETE FROM tags WHERE resource = ?1 AND key = ?2",
                    params![resource, key],
                )?;
            }
            Ok(())
        })
    }

    /// The execution a `clientRequestToken` already started for `pipeline`.
    pub fn started_by_token(&self, pipeline: &str, token: &str) -> Result<Option<String>> {
        self.0.with(|connection| {
            connection
                .query_row(
                    "SELECT execution_id FROM start_tokens WHERE pipeline = ?1 AND token = ?2",
                    params![pipeline, token],
                    |row| row.get(0),
                )
                .optional()
        })
    }

    pub fn remember_token(&self, pipeline: &str, token: &str, execution_id: &str) -> Result<()> {
        self.0
            .execute(
                "INSERT OR IGNORE INTO start_tokens (pipeline, token, execution_id) \
                 VALUES (?1, ?2, ?3)",
                params![pipeline, token, execution_id],
            )
            .map(drop)
    }
}
