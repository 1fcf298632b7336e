//! The engine: runs pipelines. A [`PipelineRunner`] per process holds what executions share;
//! each [`ExecutionRequest`] (start, retry or rollback) becomes one execution.
//!
//! The rules an execution follows without running anything (the plan, where it resumes,
//! variables, conditions, default timeouts) are the pure model's (`sandpipe_model`). Here:
//!
//! - [`runner`]: the process-wide runner, and the control operations that wake waiters;
//! - [`preflight`]: everything checked before a run, shared with `validate`;
//! - `launch` and `prepare`: a request checked, stored and made ready, each action's
//!   [`backends`] chosen by kind (wasm component, manual approval, working tree);
//! - `pipeline` → `stage` → `action`: one execution, one stage, one action;
//! - `keeper`: the record keeper every transition goes through (record, store, events);
//! - `control`: stop requests and in-process wake-ups, no timers on the critical path;
//! - [`providers`] and [`plugins`]: which component serves each action type, installed
//!   plugins found by their manifests, and what the operator allows each;
//! - `grants`, `builds`, `sources`: what an action gets from the operator's settings;
//! - [`artifacts`], [`events`], [`watch`], [`recovery`].

mod action;
mod action_log;
pub mod artifacts;
mod backends;
pub mod builds;
mod control;
pub mod events;
mod grants;
mod keeper;
mod launch;
mod pipeline;
pub mod plugins;
pub mod preflight;
mod prepare;
pub mod providers;
pub mod recovery;
pub mod reproduce;
pub mod request;
pub mod runner;
pub mod settings;
pub mod sources;
mod stage;
#[doc(hidden)]
pub mod testing;
pub mod watch;

pub use events::{EventJournal, NoObserver, RunEvent, RunObserver, Tee};
pub use preflight::{Preflight, PreflightReport};
pub use providers::ProviderRegistry;
pub use recovery::recover;
pub use request::{DEFAULT_REGION, ExecutionRequest, ReplaySources, Start};
pub use runner::{EndpointStarter, PipelineRunner, RunError};
pub use sandpipe_state::{ActionStatus, ExecutionRecord, ExecutionStatus, StageStatus, StateStore};
pub use settings::{BuildSettings, DEFAULT_DISK_RESERVE, PipelineFiles, RunnerSettings};
