//! Resource limits for one action execution.

use std::time::Duration;

/// What one execution may use. Grants come from the operator (CLI flags, the pipeline), never
/// from the component.
#[derive(Debug, Clone, Copy)]
pub struct ExecutionLimits {
    /// Wall-clock budget for the whole execution, across continuation calls.
    pub timeout: Duration,
    /// Linear memory of all the component's instances together.
    pub memory_bytes: usize,
    /// Bytes of log kept per execution (stdout, stderr and log calls); the rest is dropped
    /// with a marker.
    pub log_bytes: usize,
    /// Largest object the action may read from or write to the object store.
    pub object_bytes: u64,
    /// Bytes the action may add to its writable directories (outputs, `/tmp`, cache),
    /// charged as it writes.
    pub output_bytes: u64,
    /// Files, directories and links it may create there.
    pub output_files: u64,
}

impl Default for ExecutionLimits {
    fn default() -> Self {
        ExecutionLimits {
            // CodePipeline's default action timeout.
            timeout: Duration::from_secs(60 * 60),
            memory_bytes: 512 << 20,
            log_bytes: 8 << 20,
            object_bytes: 5 << 30,
            // Twice the largest artifact CodePipeline takes, for scratch beside it.
            output_bytes: 10 << 30,
            // Twice the files one S3 artifact may hold.
            output_files: 200_000,
        }
    }
}

/// A [`wasmtime::ResourceLimiter`] that budgets memory for the store as a whole; wasmtime's
/// own `StoreLimits` caps each linear memory separately, and a component has several.
pub(crate) struct StoreLimiter {
    budget: usize,
    in_use: usize,
    /// Set once a growth was refused, so a resulting trap can be reported as the limit.
    pub(crate) refused: Option<usize>,
}

impl StoreLimiter {
    pub(crate) fn new(budget: usize) -> Self {
        StoreLimiter {
            budget,
            in_use: 0,
            refused: None,
        }
    }
}

/// Small fixed caps: an action component has a handful of core instances.
const MAX_INSTANCES: usize = 64;
const MAX_TABLES: usize = 64;
const MAX_MEMORIES: usize = 16;
const MAX_TABLE_ELEMENTS: usize = 1_000_000;

impl wasmtime::ResourceLimiter for StoreLimiter {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let in_use = self.in_use - current.min(self.in_use) + desired;
        if in_use > self.budget {
            self.refused = Some(desired);
            return Ok(false);
        }
        self.in_use = in_use;
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }

    fn instances(&self) -> usize {
        MAX_INSTANCES
    }

    fn tables(&self) -> usize {
        MAX_TABLES
    }

    fn memories(&self) -> usize {
        MAX_MEMORIES
    }
}
