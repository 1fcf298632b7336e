//! The engine: takes a planned pipeline and runs it, action by action, through the wasm
//! runtime, keeping artifacts in the artifact store and a record of every execution.

pub mod artifacts;
pub mod builds;
pub mod events;
pub mod executor;
pub mod providers;
pub mod sources;
pub mod watch;

pub use builds::BuildSettings;
pub use events::{EventJournal, NoObserver, RunEvent, RunObserver, Tee};
pub use executor::{RunError, RunOptions, Runner, failure_code};
pub use providers::ProviderRegistry;
pub use sandpipe_state::{ActionStatus, ExecutionRecord, ExecutionStatus, StageStatus, StateStore};
pub use sources::{SourceSettings, Start, parse_source_revision};
